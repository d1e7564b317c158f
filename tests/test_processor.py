"""An offer whose server runs its own image pixel budget (``processor:``) is counted as that
server counts: in the token math, the estimate, the router's quote and the ledger."""

from __future__ import annotations

import asyncio
import base64
import struct
import zlib
from decimal import Decimal
from typing import Any

import pytest
import respx

from tests.builders import offer, table
from vlmroute import AsyncRouter, MemoryLedger, RouterConfig, Workload, estimate, image_tokens
from vlmroute.errors import ConfigurationError, PricingError

#: A budget of 1,024 tokens: 28 x 28 pixels a token, over the 2 temporal frames.
SMALL = 28 * 28 * 2 * 1024
OPENROUTER = "https://openrouter.ai/api/v1/chat/completions"


def png_uri(width: int, height: int) -> str:
    """A data URI holding only a PNG's signature and IHDR: what vlmroute reads a size from."""
    data = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    ihdr = struct.pack(">I", 13) + b"IHDR" + data + struct.pack(">I", zlib.crc32(b"IHDR" + data))
    return "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n" + ihdr).decode()


def test_image_tokens_on_a_smaller_budget_by_hand() -> None:
    # 1920x1080 rounds to 1932x1092; 2 * 1932 * 1092 = 4,219,488 > 1,605,632, so
    # beta = sqrt(2 * 1920 * 1080 / 1,605,632) = 1.6071...; 1080 / beta / 28 = 24.0 and
    # 1920 / beta / 28 = 42.67, floored: 24 x 42 tokens.
    assert image_tokens(1920, 1080, max_pixels=SMALL) == 24 * 42
    assert image_tokens(1920, 1080) == 2691  # the published budget, unchanged
    # A raised floor lifts a small image: 100x100 up to 16 x 16 = 256 tokens.
    assert image_tokens(100, 100, min_pixels=28 * 28 * 2 * 256) == 256


def test_a_table_offer_with_a_processor_is_priced_on_its_own_count() -> None:
    priced = table(
        {
            "stock": offer(input_per_mtok=1),
            "small": {**offer(input_per_mtok=1), "processor": {"max_pixels": SMALL}},
        }
    )
    work = Workload.from_mapping({"requests": 10, "mix": [{"images": ["1920x1080"]}]})
    rows = {o.offer_id: o for o in estimate(work, priced).offers}
    # 2691 + 2 wrapper + 6 template = 2699 input tokens a request, against 1008 + 2 + 6.
    assert rows["stock"].input_tokens == 10 * 2699
    assert rows["small"].input_tokens == 10 * 1016
    assert rows["small"].cost.amount == Decimal(10 * 1016) / 1_000_000
    # The plan takes the cheaper count: everything on "small".
    assert [s.offer_id for s in estimate(work, priced).plan.steps] == ["small"]


@pytest.mark.parametrize(
    ("processor", "needle"),
    [
        ({"min_pixels": 10, "max_pixels": 5}, "cannot exceed max_pixels"),
        ({"max_pixels": 0}, "max_pixels"),
    ],
)
def test_a_bad_processor_is_refused_at_load(processor: dict[str, int], needle: str) -> None:
    with pytest.raises(PricingError, match=needle):
        table({"bad": {**offer(), "processor": processor}})


def _router(processor: dict[str, int] | None, ledger: MemoryLedger | None = None) -> AsyncRouter:
    entry: dict[str, Any] = {"offer": "openrouter"}
    if processor is not None:
        entry["processor"] = processor
    config = RouterConfig.from_mapping({"offers": [entry], "ledger": False, "transport": "httpx"})
    return AsyncRouter(config, api_keys={"openrouter": "ok"}, ledger=ledger)


def _image_message() -> list[dict[str, Any]]:
    image = {"type": "image_url", "image_url": {"url": png_uri(1920, 1080)}}
    return [{"role": "user", "content": [image, {"type": "text", "text": "hi"}]}]


def test_the_router_quotes_an_offer_on_its_processor() -> None:
    stock = _router(None).plan(_image_message()).candidates[0]
    small = _router({"max_pixels": SMALL}).plan(_image_message()).candidates[0]
    # 2691 - 1008 = 1,683 fewer input tokens at OpenRouter's USD 0.035 a million.
    assert stock.native_cost.amount - small.native_cost.amount == Decimal(1683) * Decimal(
        "0.035"
    ) / Decimal(1_000_000)


def test_a_router_config_processor_must_be_ordered() -> None:
    with pytest.raises(ConfigurationError, match="cannot exceed max_pixels"):
        _router({"min_pixels": SMALL, "max_pixels": 28})


def test_the_ledger_expects_the_offers_own_count() -> None:
    """What calibration's drift check compares: with the processor declared, vlmroute's
    expected prompt is the server's count, so the drift is gone."""

    async def send(processor: dict[str, int] | None) -> int | None:
        ledger = MemoryLedger()
        async with _router(processor, ledger) as router:
            await router.chat(_image_message())
        (record,) = ledger.rows()
        return record.expected_prompt_tokens

    with respx.mock(using="httpx") as mock:
        reply = {
            "id": "x",
            "model": "m",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"content": "ok"}}],
            "usage": {"prompt_tokens": 1019, "completion_tokens": 5},
        }
        mock.post(OPENROUTER).respond(200, json=reply)
        stock, small = asyncio.run(send(None)), asyncio.run(send({"max_pixels": SMALL}))
    assert stock is not None
    assert small is not None
    assert stock - small == 2691 - 1008
