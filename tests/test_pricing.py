"""The pricing table: the shipped figures, user overlays, load errors, and the wheel's copy."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pydantic
import pytest
import yaml

from vlmroute import ConfigurationError, PricingError
from vlmroute._pricing import (
    PriceTable,
    default_pricing_path,
    load_pricing,
    pricing_from_mapping,
)
from vlmroute._pricing.models import FIGURES

REPO_ROOT = Path(__file__).resolve().parents[1]
SHIPPED_YAML = REPO_ROOT / "pricing" / "glm-4.1v.yaml"
SOURCE = {"source": "test", "as_of": date(2026, 1, 1), "confidence": "assumption"}


@pytest.fixture(scope="module")
def table() -> PriceTable:
    return load_pricing()


def write(tmp_path: Path, text: str, name: str = "mine.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def complete_offer(**changes: Any) -> dict[str, Any]:
    """A complete, valid API offer for files that do not extend the shipped table."""
    offer: dict[str, Any] = {
        "provider": "acme",
        "kind": "openai-compatible",
        "model": "acme/glm-4.1v",
        "base_url": "https://acme.example/v1",
        "currency": "USD",
        "input_per_mtok": "0.01",
        "output_per_mtok": "0.02",
        "context_window": 8192,
        "max_output_tokens": 4096,
        "concurrency": {"tiers": {"basic": 4}, "default_tier": "basic"},
        "lifecycle": {"state": "live"},
        "latency": {"ttft_s": 1.0, "output_tokens_per_s": 40},
        "sources": {name: dict(SOURCE) for name in FIGURES},
    }
    offer.update(changes)
    return offer


def standalone_table(**offer_changes: Any) -> dict[str, Any]:
    return {
        "extends": "none",
        "schema_version": 1,
        "as_of": date(2026, 1, 1),
        "fx": {"base": "USD", "as_of": date(2026, 1, 1), "source": "test", "rates": {"USD": 1}},
        "offers": {"acme": complete_offer(**offer_changes)},
    }


def dump(tmp_path: Path, data: Mapping[str, Any]) -> Path:
    return write(tmp_path, yaml.safe_dump(dict(data), sort_keys=False))


def hand_rates(
    hour_price: str, prefill_per_s: str, decode_per_s: str, streams: int
) -> tuple[Decimal, Decimal]:
    """The local rates computed by hand from the documented formulas (not rounded)."""
    hour = Decimal(hour_price)
    input_rate = hour * (Decimal(1_000_000) / Decimal(prefill_per_s)) / 3600
    output_rate = hour * Decimal(1_000_000) / (Decimal(decode_per_s) * streams) / 3600
    return input_rate, output_rate


def assert_close(actual: Decimal, exact: Decimal) -> None:
    """Equal up to the half-millionth the table may round a derived rate to."""
    assert isinstance(actual, Decimal)
    assert abs(actual - exact) <= Decimal("0.0000005"), (actual, exact)


# --- the shipped table ----------------------------------------------------------------------


def test_shipped_table_loads_from_the_repository_copy(table: PriceTable) -> None:
    assert default_pricing_path().read_bytes() == SHIPPED_YAML.read_bytes()
    assert table.schema_version == 1
    assert set(table.offers) == {
        "zhipu-flash",
        "zhipu-flashx",
        "openrouter",
        "siliconflow",
        "siliconflow-pro",
        "local-gpu",
    }
    for key, offer in table.offers.items():
        assert offer.id == key


def test_zhipu_concurrency_tiers_match_the_model_page(table: PriceTable) -> None:
    # seeds/zhipu-glm-4.1v-thinking-model-page.txt, "User Concurrency Rights"
    flash = table.offer("zhipu-flash").concurrency
    flashx = table.offer("zhipu-flashx").concurrency
    assert flash.tiers == {"V0": 5, "V1": 10, "V2": 15, "V3": 20}
    assert flashx.tiers == {"V0": 30, "V1": 50, "V2": 80, "V3": 100}
    assert flash.default_tier == "V0"
    assert table.offer("zhipu-flash").cap() == 5
    assert table.offer("zhipu-flash").cap("V3") == 20
    assert table.offer("zhipu-flashx").cap("V2") == 80


def test_zhipu_prices(table: PriceTable) -> None:
    flash = table.offer("zhipu-flash")
    flashx = table.offer("zhipu-flashx")
    assert (flash.currency, flash.input_per_mtok, flash.output_per_mtok) == (
        "CNY",
        Decimal(0),
        Decimal(0),
    )
    assert flash.is_free
    assert flash.model == "glm-4.1v-thinking-flash"
    assert (flashx.currency, flashx.input_per_mtok, flashx.output_per_mtok) == (
        "CNY",
        Decimal(2),
        Decimal(2),
    )
    assert not flashx.is_free
    assert flashx.model == "glm-4.1v-thinking-flashx"
    assert flashx.cost(1_000_000, 1_000_000).amount == Decimal(4)


def test_openrouter_offer(table: PriceTable) -> None:
    offer = table.offer("openrouter")
    assert offer.model == "thudm/glm-4.1v-9b-thinking"
    assert offer.currency == "USD"
    assert offer.input_per_mtok == Decimal("0.035")
    assert offer.output_per_mtok == Decimal("0.138")
    assert offer.context_window == 65_536
    assert offer.is_live


def test_prices_are_exact_decimals(table: PriceTable) -> None:
    offer = table.offer("openrouter")
    assert isinstance(offer.input_per_mtok, Decimal)
    assert str(offer.input_per_mtok) == "0.035"
    assert str(offer.output_per_mtok) == "0.138"
    assert offer.input_per_mtok.as_tuple() == (0, (3, 5), -3)  # digits 35, exponent -3
    assert str(table.fx.rates["CNY"]) == "0.1408"
    assert str(table.offer("siliconflow-pro").input_per_mtok) == "0.25"
    cost = offer.cost(28_990_000, 15_000_000)
    assert cost.amount == Decimal("3.08465")  # 28.99 * 0.035 + 15 * 0.138
    assert cost.currency == "USD"


def test_siliconflow_offers_are_retired_on_their_dates(table: PriceTable) -> None:
    free = table.offer("siliconflow")
    pro = table.offer("siliconflow-pro")
    assert free.model == "THUDM/GLM-4.1V-9B-Thinking"
    assert pro.model == "Pro/THUDM/GLM-4.1V-9B-Thinking"
    assert free.lifecycle.state == "retired"
    assert free.lifecycle.retired_on == date(2026, 5, 15)
    assert pro.lifecycle.state == "retired"
    assert pro.lifecycle.retired_on == date(2026, 2, 9)
    assert not free.is_live
    assert not pro.is_live
    live = {o.id for o in table.live_offers()}
    assert "siliconflow" not in live
    assert "siliconflow-pro" not in live
    assert {"zhipu-flash", "zhipu-flashx", "openrouter", "local-gpu"} <= live


def test_local_offer_rates_derive_from_hour_price_and_throughput(table: PriceTable) -> None:
    offer = table.offer("local-gpu")
    gpu = offer.local_gpu
    assert gpu is not None
    assert offer.is_local
    assert offer.currency == gpu.currency == "USD"
    assert gpu.hour_price == Decimal("1.50")
    exact_in, exact_out = hand_rates(
        str(gpu.hour_price),
        str(gpu.prefill_tokens_per_s),
        str(gpu.decode_tokens_per_s_per_stream),
        gpu.streams,
    )
    # 1.50 USD/h, 5000 tok/s prefill: 200 s per M tokens -> 1.5 * 200 / 3600 = 0.08333...
    assert exact_in == Decimal("1.5") * 200 / 3600
    assert_close(offer.input_per_mtok, exact_in)
    # 65 tok/s x 16 streams = 1040 tok/s -> 1.5 * 1e6 / 1040 / 3600 = 0.40064...
    assert_close(offer.output_per_mtok, exact_out)
    assert gpu.monthly_cost().amount == Decimal("1.50") * 730


def test_every_offer_names_a_source_for_every_figure(table: PriceTable) -> None:
    for offer in table.offers.values():
        needed = set(FIGURES) | ({"local_gpu"} if offer.is_local else set())
        assert needed <= set(offer.sources), offer.id
        for name, source in offer.sources.items():
            assert source.source.strip(), (offer.id, name)
            assert isinstance(source.as_of, date), (offer.id, name)
            assert source.as_of <= table.as_of, (offer.id, name)
            assert source.confidence in {"confirmed", "likely", "assumption", "unknown"}


def test_zhipu_offers_have_a_region_per_site_with_its_key_variable(table: PriceTable) -> None:
    for offer_id in ("zhipu-flash", "zhipu-flashx"):
        regions = table.offer(offer_id).regions
        assert regions["cn"].base_url == table.offer(offer_id).base_url
        assert regions["cn"].key_env == ("ZHIPUAI_API_KEY",)
        assert regions["intl"].base_url == "https://api.z.ai/api/paas/v4"
        assert regions["intl"].key_env == ("ZAI_API_KEY",)
        assert "regions" in table.offer(offer_id).sources


def test_offers_with_rate_limits_name_their_source(table: PriceTable) -> None:
    limited = [o for o in table.offers.values() if o.rate_limits.rpm or o.rate_limits.tpm]
    assert limited
    for offer in limited:
        assert "rate_limits" in offer.sources, offer.id


def test_fx_rates_are_dated_and_based_on_usd(table: PriceTable) -> None:
    fx = table.fx_table()
    assert fx.base == "USD"
    assert fx.as_of == table.fx.as_of
    assert fx.rates["USD"] == 1
    assert fx.rates["CNY"] == Decimal("0.1408")
    assert table.fx.source


def test_table_is_frozen(table: PriceTable) -> None:
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        table.as_of = date(2030, 1, 1)  # type: ignore[misc]
    offer = table.offer("openrouter")
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        offer.input_per_mtok = Decimal(0)  # type: ignore[misc]
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        offer.concurrency.default_tier = "x"  # type: ignore[misc]
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        table.fx.base = "CNY"  # type: ignore[misc]


def test_table_mappings_are_read_only() -> None:
    table = load_pricing()
    tiers: Any = table.offer("zhipu-flash").concurrency.tiers
    with pytest.raises(TypeError):
        tiers["V0"] = 1000


def test_unknown_offer_lists_the_known_ones(table: PriceTable) -> None:
    with pytest.raises(ConfigurationError) as info:
        table.offer("nope")
    message = str(info.value)
    assert "'nope'" in message
    for key in table.offers:
        assert key in message


def test_providers(table: PriceTable) -> None:
    assert table.providers() == frozenset({"zhipu", "openrouter", "siliconflow", "local"})


# --- a user's file layered over the shipped one ------------------------------------------------


def test_override_one_field_of_the_local_gpu_changes_its_derived_rates(tmp_path: Path) -> None:
    path = write(tmp_path, "offers:\n  local-gpu:\n    local_gpu:\n      hour_price: 0.5\n")
    shipped = load_pricing().offer("local-gpu")
    offer = load_pricing(path).offer("local-gpu")
    assert offer.local_gpu is not None
    assert offer.local_gpu.hour_price == Decimal("0.5")
    assert offer.local_gpu.gpu == "A100 80GB"  # the rest of the block is kept
    assert offer.local_gpu.streams == 16
    exact_in, exact_out = hand_rates("0.5", "5000", "65", 16)
    assert_close(offer.input_per_mtok, exact_in)
    assert_close(offer.output_per_mtok, exact_out)
    assert offer.input_per_mtok < shipped.input_per_mtok
    assert offer.sources == shipped.sources


def test_local_rates_derive_exactly_from_round_figures(tmp_path: Path) -> None:
    # 0.36/h, 1000 tok/s prefill and 50 x 20 = 1000 tok/s decode: both 0.36 * 1000 / 3600 = 0.1
    path = write(
        tmp_path,
        "offers:\n  local-gpu:\n    local_gpu:\n      hour_price: 0.36\n"
        "      prefill_tokens_per_s: 1000\n      decode_tokens_per_s_per_stream: 50\n"
        "      streams: 20\n",
    )
    offer = load_pricing(path).offer("local-gpu")
    assert offer.input_per_mtok == Decimal("0.1")
    assert offer.output_per_mtok == Decimal("0.1")


def test_override_a_price_keeps_the_other_offers(tmp_path: Path, table: PriceTable) -> None:
    path = write(tmp_path, "offers:\n  openrouter:\n    output_per_mtok: 0.2\n")
    mine = load_pricing(path)
    assert mine.offer("openrouter").output_per_mtok == Decimal("0.2")
    assert mine.offer("openrouter").input_per_mtok == Decimal("0.035")
    assert mine.offers.keys() == table.offers.keys()
    assert mine.offer("zhipu-flashx") == table.offer("zhipu-flashx")


def test_add_a_complete_offer(tmp_path: Path, table: PriceTable) -> None:
    path = dump(tmp_path, {"offers": {"acme": complete_offer()}})
    mine = load_pricing(path)
    assert set(mine.offers) == set(table.offers) | {"acme"}
    acme = mine.offer("acme")
    assert acme.id == "acme"
    assert acme.input_per_mtok == Decimal("0.01")
    assert acme.cap() == 4
    assert "acme" in mine.providers()


def test_override_and_add_fx_rates(tmp_path: Path) -> None:
    # floats in the dump are written as plain YAML floats (0.14), read back as exact Decimals
    path = dump(
        tmp_path,
        {
            "fx": {"rates": {"CNY": 0.14, "EUR": 1.08}},
            "offers": {"acme-eu": complete_offer(currency="EUR")},
        },
    )
    mine = load_pricing(path)
    fx = mine.fx_table()
    assert fx.rates["CNY"] == Decimal("0.14")
    assert fx.rates["EUR"] == Decimal("1.08")
    assert fx.rates["USD"] == 1
    assert mine.fx.source == load_pricing().fx.source  # untouched fields stay
    assert mine.offer("acme-eu").currency == "EUR"
    flashx_usd = mine.offer("zhipu-flashx").cost(1_000_000, 0).to("USD", fx)
    assert flashx_usd.amount == Decimal("0.28")


def test_extends_none_replaces_the_shipped_table(tmp_path: Path) -> None:
    mine = load_pricing(dump(tmp_path, standalone_table()))
    assert set(mine.offers) == {"acme"}
    assert set(mine.fx_table().rates) == {"USD"}


def test_explicit_extends_default_layers(tmp_path: Path, table: PriceTable) -> None:
    path = write(tmp_path, "extends: default\noffers:\n  openrouter:\n    input_per_mtok: 0.04\n")
    mine = load_pricing(path)
    assert mine.offer("openrouter").input_per_mtok == Decimal("0.04")
    assert mine.offers.keys() == table.offers.keys()


def test_empty_user_file_is_the_shipped_table(tmp_path: Path, table: PriceTable) -> None:
    assert load_pricing(write(tmp_path, "")) == table
    assert load_pricing(str(write(tmp_path, "# nothing\n", "c.yaml"))) == table


def test_pricing_from_mapping_layers_like_a_file() -> None:
    mine = pricing_from_mapping(
        {
            "fx": {"rates": {"CNY": Decimal("0.14")}},
            "offers": {
                "local-gpu": {"local_gpu": {"hour_price": Decimal("0.5")}},
                "acme": complete_offer(),
            },
        }
    )
    exact_in, exact_out = hand_rates("0.5", "5000", "65", 16)
    assert_close(mine.offer("local-gpu").input_per_mtok, exact_in)
    assert_close(mine.offer("local-gpu").output_per_mtok, exact_out)
    assert mine.offer("acme").output_per_mtok == Decimal("0.02")
    assert mine.fx.rates["CNY"] == Decimal("0.14")
    assert "zhipu-flash" in mine.offers


def test_pricing_from_mapping_without_extends_replaces() -> None:
    data = standalone_table()
    del data["extends"]
    mine = pricing_from_mapping(data, extends=False)
    assert set(mine.offers) == {"acme"}


def test_pricing_from_mapping_errors_name_the_mapping() -> None:
    with pytest.raises(PricingError) as info:
        pricing_from_mapping({"offers": {"openrouter": {"input_per_mtok": -1}}})
    assert info.value.file == "<mapping>"
    assert info.value.key_path == "offers.openrouter.input_per_mtok"
    assert info.value.expected == "must be at least 0 (got -1)"  # plain words, not pydantic's


def test_pricing_from_mapping_does_not_mutate_its_input() -> None:
    data: dict[str, Any] = {"offers": {"openrouter": {"input_per_mtok": Decimal("0.04")}}}
    pricing_from_mapping(data)
    assert data == {"offers": {"openrouter": {"input_per_mtok": Decimal("0.04")}}}


# --- PriceTable.with_local_gpu ------------------------------------------------------------------


def test_with_local_gpu_derives_rates_and_caps_again(table: PriceTable) -> None:
    mine = table.with_local_gpu(
        hour_price=Decimal("0.36"),
        prefill_tokens_per_s=1000,
        decode_tokens_per_s_per_stream=50,
        streams=20,
    )
    offer = mine.offer("local-gpu")
    assert offer.local_gpu is not None
    assert offer.local_gpu.hour_price == Decimal("0.36")
    assert offer.local_gpu.gpu == "A100 80GB"
    assert offer.input_per_mtok == Decimal("0.1")  # 0.36 * (1e6 / 1000) / 3600
    assert offer.output_per_mtok == Decimal("0.1")  # 0.36 * 1e6 / (50 * 20) / 3600
    assert offer.currency == "USD"
    assert offer.concurrency.tiers == {"default": 20}
    assert offer.sources == table.offer("local-gpu").sources
    for key in table.offers.keys() - {"local-gpu"}:
        assert mine.offer(key) == table.offer(key)
    # the original table is untouched
    assert table.offer("local-gpu").local_gpu == load_pricing().offer("local-gpu").local_gpu


def test_with_local_gpu_one_figure_keeps_the_others(table: PriceTable) -> None:
    mine = table.with_local_gpu(hour_price=Decimal("3.00"))
    offer = mine.offer("local-gpu")
    shipped = table.offer("local-gpu")
    exact_in, exact_out = hand_rates("3.00", "5000", "65", 16)
    assert_close(offer.input_per_mtok, exact_in)
    assert_close(offer.output_per_mtok, exact_out)
    assert offer.input_per_mtok > shipped.input_per_mtok
    assert offer.concurrency == shipped.concurrency


def test_with_local_gpu_without_changes_or_local_offers(tmp_path: Path, table: PriceTable) -> None:
    assert table.with_local_gpu() == table
    no_local = load_pricing(dump(tmp_path, standalone_table()))
    assert no_local.with_local_gpu(hour_price=Decimal(1), streams=2) == no_local


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"hour_price": Decimal(-1)}, "hour_price"),
        ({"streams": 0}, "streams"),
        ({"decode_tokens_per_s_per_stream": 0.0}, "decode_tokens_per_s_per_stream"),
    ],
)
def test_with_local_gpu_rejects_bad_figures(
    table: PriceTable, changes: dict[str, Any], field: str
) -> None:
    with pytest.raises(PricingError) as info:
        table.with_local_gpu(**changes)
    assert field in str(info.value)
    assert "local-gpu" in str(info.value)


def test_with_local_gpu_speeds_change_the_request_time(table: PriceTable) -> None:
    shipped = table.offer("local-gpu").latency
    fast = table.with_local_gpu(
        decode_tokens_per_s_per_stream=260, prefill_tokens_per_s=20_000
    ).offer("local-gpu")
    assert fast.latency.request_seconds(3000, 1500) < shipped.request_seconds(3000, 1500)


# --- bad files --------------------------------------------------------------------------------


def layered(text: str) -> Any:
    return lambda tmp_path: write(tmp_path, text)


def replacing(**offer_changes: Any) -> Any:
    return lambda tmp_path: dump(tmp_path, standalone_table(**offer_changes))


def without_source(name: str) -> Any:
    def make(tmp_path: Path) -> Path:
        data = standalone_table()
        del data["offers"]["acme"]["sources"][name]
        return dump(tmp_path, data)

    return make


BAD_FILES = [
    pytest.param(
        layered("offers:\n  openrouter:\n    input_per_mtok: -0.5\n"),
        "offers.openrouter.input_per_mtok",
        "must be at least 0",
        id="negative-price",
    ),
    pytest.param(
        layered("offers:\n  openrouter:\n    currency: US\n"),
        "offers.openrouter.currency",
        "3-letter ISO code",
        id="malformed-currency",
    ),
    pytest.param(
        layered("offers:\n  openrouter:\n    currency: EUR\n"),
        "offers.openrouter.currency",
        "EUR has no rate in fx.rates",
        id="currency-without-fx-rate",
    ),
    pytest.param(
        layered("fx:\n  rates:\n    EURO: 1.1\n"),
        "fx.rates",
        "3-letter ISO code",
        id="malformed-fx-currency",
    ),
    pytest.param(
        layered("fx:\n  rates:\n    CNY: 0\n"),
        "fx.rates.CNY",
        "must be above 0",
        id="zero-fx-rate",
    ),
    pytest.param(
        layered("offers:\n  openrouter:\n    concurrency:\n      default_tier: V7\n"),
        "offers.openrouter.concurrency",
        "default_tier 'V7' is not one of the tiers",
        id="default-tier-missing",
    ),
    pytest.param(
        replacing(concurrency={"tiers": {}, "default_tier": "basic"}),
        "offers.acme.concurrency.tiers",
        "at least 1 item",
        id="empty-tiers",
    ),
    pytest.param(
        replacing(concurrency={"tiers": {"basic": 0}, "default_tier": "basic"}),
        "offers.acme.concurrency.tiers.basic",
        "must be above 0",
        id="zero-concurrency",
    ),
    pytest.param(
        layered("offers:\n  openrouter:\n    input_per_mtok: 0.04\n    input_per_mtok: 0.05\n"),
        "offers.openrouter.input_per_mtok",
        "appears again on line 4",
        id="duplicate-field",
    ),
    pytest.param(
        layered(
            "offers:\n  acme:\n    provider: acme\n  openrouter:\n    input_per_mtok: 1\n"
            "  acme:\n    provider: acme\n"
        ),
        "offers.acme",
        "appears again on line 6",
        id="duplicate-offer",
    ),
    pytest.param(
        without_source("latency"),
        "offers.acme",
        "sources is missing an entry for: latency",
        id="missing-source",
    ),
    pytest.param(
        layered(
            "offers:\n  openrouter:\n    regions:\n"
            "      eu: {base_url: 'https://eu.openrouter.ai/api/v1'}\n"
        ),
        "offers.openrouter",
        "sources is missing an entry for: regions",
        id="region-without-source",
    ),
    pytest.param(
        layered("offers:\n  zhipu-flash:\n    regions:\n      intl: {base_url: 'api.z.ai'}\n"),
        "offers.zhipu-flash.regions.intl.base_url",
        "should match pattern",
        id="region-url",
    ),
    pytest.param(
        layered("offers:\n  local-gpu:\n    sources:\n      local_gpu:\n        source: ''\n"),
        "offers.local-gpu.sources.local_gpu.source",
        "at least 1 character",
        id="empty-source",
    ),
    pytest.param(
        layered("offers:\n  openrouter:\n    sources:\n      latency:\n        confidence: sure\n"),
        "offers.openrouter.sources.latency.confidence",
        "'confirmed', 'likely', 'assumption' or 'unknown'",
        id="bad-confidence",
    ),
    pytest.param(
        layered("offers:\n  openrouter:\n    lifecycle: {state: retired}\n"),
        "offers.openrouter.lifecycle",
        "retired_on",
        id="retired-without-date",
    ),
    pytest.param(
        layered("offers:\n  openrouter:\n    colour: blue\n"),
        "offers.openrouter.colour",
        "is not a key this file takes",
        id="extra-field",
    ),
    pytest.param(
        layered("colour: blue\n"),
        "colour",
        "is not a key this file takes",
        id="extra-top-level-field",
    ),
    pytest.param(
        layered("offers:\n  openrouter:\n    max_output_tokens: 70000\n"),
        "offers.openrouter",
        "max_output_tokens cannot exceed context_window",
        id="max-output-over-context",
    ),
    pytest.param(
        layered("offers:\n  openrouter:\n    base_url: openrouter.ai/api/v1\n"),
        "offers.openrouter.base_url",
        "https?://",
        id="base-url-without-scheme",
    ),
    pytest.param(
        layered("offers:\n  local-gpu:\n    local_gpu:\n      streams: 0\n"),
        "offers.local-gpu.local_gpu.streams",
        "must be above 0",
        id="zero-streams",
    ),
    pytest.param(
        layered("offers:\n  openrouter:\n    input_per_mtok: .nan\n"),
        "offers.openrouter.input_per_mtok",
        "finite",
        id="nan-price",
    ),
    pytest.param(
        layered("offers:\n  openrouter:\n    output_per_mtok: .Inf\n"),
        "offers.openrouter.output_per_mtok",
        "finite",
        id="inf-price",
    ),
    pytest.param(
        layered("schema_version: 2\n"),
        "schema_version",
        "1",
        id="schema-version",
    ),
    pytest.param(
        layered("offers: [unclosed\n"),
        "",
        "valid YAML",
        id="invalid-yaml",
    ),
    pytest.param(
        layered("- zhipu-flash\n- openrouter\n"),
        "",
        "a mapping at the top level",
        id="top-level-list",
    ),
    pytest.param(
        layered("extends: parent.yaml\n"),
        "extends",
        "'default' (layer over the shipped table) or 'none'",
        id="bad-extends",
    ),
    pytest.param(
        lambda tmp_path: tmp_path / "does-not-exist.yaml",
        "",
        "a readable YAML file",
        id="missing-file",
    ),
]


@pytest.mark.parametrize(("make", "key_path", "expected"), BAD_FILES)
def test_bad_file_names_file_key_path_and_expectation(
    tmp_path: Path, make: Any, key_path: str, expected: str
) -> None:
    path: Path = make(tmp_path)
    with pytest.raises(PricingError) as info:
        load_pricing(path)
    err = info.value
    assert err.file == str(path)
    assert err.key_path == key_path
    assert expected in err.expected
    message = str(err)
    assert str(path) in message
    assert key_path in message
    assert err.expected in message
    assert isinstance(err, ConfigurationError)


def test_currency_without_fx_rate_is_a_pricing_error_naming_it(tmp_path: Path) -> None:
    path = write(tmp_path, "offers:\n  openrouter:\n    currency: EUR\n")
    with pytest.raises(PricingError) as info:
        load_pricing(path)
    assert info.value.file == str(path)
    assert "offers.openrouter.currency" in str(info.value)
    assert "EUR has no rate in fx.rates (known: CNY, USD)" in str(info.value)


def test_every_problem_is_listed(tmp_path: Path) -> None:
    path = write(
        tmp_path, "offers:\n  openrouter:\n    input_per_mtok: -1\n    output_per_mtok: -1\n"
    )
    with pytest.raises(
        PricingError, match=r"; also offers\.openrouter\.output_per_mtok: must be at least 0"
    ):
        load_pricing(path)


def test_error_chains_the_foreign_exception(tmp_path: Path) -> None:
    path = write(tmp_path, "offers:\n  openrouter:\n    input_per_mtok: -1\n")
    with pytest.raises(PricingError) as info:
        load_pricing(path)
    assert isinstance(info.value.__cause__, pydantic.ValidationError)
    bad_yaml = write(tmp_path, "a: [\n", "bad.yaml")
    with pytest.raises(PricingError) as info:
        load_pricing(bad_yaml)
    assert isinstance(info.value.__cause__, yaml.YAMLError)


# --- batch APIs -------------------------------------------------------------------------------


def test_every_offer_records_its_batch_api_with_a_source(table: PriceTable) -> None:
    for offer in table.offers.values():
        assert offer.batch.recorded, offer.id
        assert offer.batch.api in (True, False, "unknown"), offer.id
        assert offer.batch.available in (True, False, "unknown"), offer.id
        assert offer.sources["batch"].source.strip(), offer.id


def test_zhipu_records_no_glm_41v_batch_discount(table: PriceTable) -> None:
    for offer_id in ("zhipu-flash", "zhipu-flashx"):
        offer = table.offer(offer_id)
        batch = offer.batch
        assert batch.api is True  # Zhipu has a batch API ...
        assert batch.discount == Decimal("0.5")  # ... at half price, as published ...
        assert batch.available is not True  # ... but GLM-4.1V is not shown to be in it
        assert batch.available == "unknown"
        assert batch.models_seen == ("GLM-4V", "GLM-4V-Plus-0111")
        assert not any("4.1v" in model.lower() for model in batch.models_seen)
        assert offer.batch_discount() is None
        source = offer.sources["batch"]
        assert "docs.bigmodel.cn/cn/faq/batch-api-issues" in source.source
        assert source.confidence == "confirmed"


def test_other_offers_have_no_batch_discount(table: PriceTable) -> None:
    for offer_id in ("openrouter", "local-gpu"):
        batch = table.offer(offer_id).batch
        assert (batch.api, batch.available, batch.discount) == (False, False, None), offer_id
    for offer_id in ("siliconflow", "siliconflow-pro"):  # retired; a batch API: not in facts
        batch = table.offer(offer_id).batch
        assert (batch.api, batch.available, batch.discount) == ("unknown", False, None)
    assert all(o.batch_discount() is None for o in table.offers.values())


@pytest.mark.parametrize(
    ("batch", "expected"),
    [
        ({"available": True}, Decimal("0.5")),  # shown available, discount recorded
        ({"available": True, "discount": None}, None),  # available, no discount recorded
        ({"available": "unknown"}, None),
        ({"available": False}, None),
        ({"available": True, "discount": 0}, Decimal(0)),
    ],
)
def test_batch_discount_only_when_available_and_recorded(
    batch: dict[str, Any], expected: Decimal | None
) -> None:
    table = pricing_from_mapping({"offers": {"zhipu-flashx": {"batch": batch}}})
    assert table.offer("zhipu-flashx").batch_discount() == expected
    assert table.offer("zhipu-flash").batch_discount() is None  # the other offer untouched


def test_an_offer_without_batch_records_nothing_and_needs_no_source(tmp_path: Path) -> None:
    table = load_pricing(dump(tmp_path, standalone_table()))
    offer = table.offer("acme")
    assert offer.batch.api == offer.batch.available == "unknown"
    assert offer.batch.discount is None
    assert not offer.batch.recorded
    assert "batch" not in offer.sources
    assert offer.batch_discount() is None


def test_batch_survives_with_local_gpu(table: PriceTable) -> None:
    faster = table.with_local_gpu(streams=32)
    assert faster.offer("local-gpu").batch == table.offer("local-gpu").batch
    assert faster.offer("zhipu-flashx").batch == table.offer("zhipu-flashx").batch


def without_batch_source(tmp_path: Path) -> Path:
    batch = {"api": True, "available": True, "discount": "0.5"}
    return dump(tmp_path, standalone_table(batch=batch))


BAD_BATCH = [
    pytest.param(
        layered("offers:\n  openrouter:\n    batch: {available: maybe}\n"),
        "offers.openrouter.batch.available",
        "must be true, false or unknown",
        id="available-not-tristate",
    ),
    pytest.param(
        layered("offers:\n  zhipu-flash:\n    batch: {api: 1}\n"),
        "offers.zhipu-flash.batch.api",
        "must be true, false or unknown",
        id="api-a-number",
    ),
    pytest.param(
        layered("offers:\n  zhipu-flash:\n    batch: {discount: 1.5}\n"),
        "offers.zhipu-flash.batch.discount",
        "must be below 1",
        id="discount-not-a-fraction",
    ),
    pytest.param(
        layered("offers:\n  zhipu-flash:\n    batch: {discount: -0.1}\n"),
        "offers.zhipu-flash.batch.discount",
        "must be at least 0",
        id="negative-discount",
    ),
    pytest.param(
        layered("offers:\n  zhipu-flash:\n    batch: {discont: 0.5}\n"),
        "offers.zhipu-flash.batch.discont",
        "is not a key this file takes",
        id="typo-key",
    ),
    pytest.param(
        layered("offers:\n  openrouter:\n    batch: yes\n"),
        "offers.openrouter.batch",
        "must be a mapping",
        id="not-a-mapping",
    ),
    pytest.param(
        layered("offers:\n  openrouter:\n    batch: {discount: 0.5}\n"),
        "offers.openrouter.batch",
        "api: false (no batch API) needs available: false, no discount",
        id="discount-without-api",
    ),
    pytest.param(
        layered("offers:\n  siliconflow:\n    batch: {available: true}\n"),
        "offers.siliconflow.batch",
        "available: true needs api: true",
        id="available-without-api",
    ),
    pytest.param(
        without_batch_source,
        "offers.acme",
        "sources is missing an entry for: batch",
        id="no-source",
    ),
]


@pytest.mark.parametrize(("make", "key_path", "expected"), BAD_BATCH)
def test_malformed_batch_is_refused_naming_its_key_path(
    tmp_path: Path, make: Any, key_path: str, expected: str
) -> None:
    path: Path = make(tmp_path)
    with pytest.raises(PricingError) as info:
        load_pricing(path)
    err = info.value
    assert (err.file, err.key_path) == (str(path), key_path)
    assert expected in err.expected
    assert f"{key_path}" in str(err)


# --- the wheel --------------------------------------------------------------------------------


@pytest.mark.slow
def test_wheel_ships_the_pricing_table(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--quiet",
            "-w",
            str(wheels),
            str(REPO_ROOT),
        ],
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    (wheel,) = wheels.glob("vlmroute-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        assert "vlmroute/_pricing_data/glm-4.1v.yaml" in names
        assert archive.read("vlmroute/_pricing_data/glm-4.1v.yaml") == SHIPPED_YAML.read_bytes()
        assert "vlmroute/py.typed" in names
        site = tmp_path / "site"
        archive.extractall(site)

    work = tmp_path / "elsewhere"
    work.mkdir()
    script = (
        "import vlmroute\n"
        "print(vlmroute.__file__)\n"
        "print(vlmroute.default_pricing_path())\n"
        "print(sorted(vlmroute.load_pricing().offers))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = subprocess.run(
        [sys.executable, "-c", script],
        check=True,
        capture_output=True,
        text=True,
        cwd=work,
        env=env,
    ).stdout.splitlines()
    module_file, pricing_path, offers = out
    assert Path(module_file).resolve().is_relative_to(site.resolve())
    assert (
        Path(pricing_path).resolve()
        == (site / "vlmroute" / "_pricing_data" / "glm-4.1v.yaml").resolve()
    )
    assert "'openrouter'" in offers
    assert "'zhipu-flash'" in offers
