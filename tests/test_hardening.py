"""Issue 12, part 2: configuration and input errors are typed and say what to fix.

Each case used to escape as a foreign exception (KeyError, yaml's ConstructorError,
UnicodeDecodeError) or to be priced and sent when it could never be served.
"""

from __future__ import annotations

import base64
import struct
from pathlib import Path

import pytest
import respx

import vlmroute
from vlmroute import errors as vr
from vlmroute._pricing.load import default_pricing_path

UTF16_YAML = "offers: []\n".encode("utf-16")
PNG_HEADER = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR"


def png(width: int, height: int) -> bytes:
    return PNG_HEADER + struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0) + b"\0" * 4


def test_an_unknown_tier_names_the_tiers_there_are() -> None:
    with pytest.raises(vr.ConfigurationError) as info:
        vlmroute.Router.from_config(
            {"offers": [{"offer": "zhipu-flash", "tier": "V9"}], "ledger": False},
            api_keys={"zhipu": "k"},
        )
    assert str(info.value) == "offer zhipu-flash: no tier 'V9' (tiers: V0, V1, V2, V3)"


@pytest.mark.parametrize("tag", ["!0", "!!python/object/apply:os.system ['true']"])
def test_a_yaml_tag_in_a_pricing_file_is_a_pricing_error(tmp_path: Path, tag: str) -> None:
    text = default_pricing_path().read_text(encoding="utf-8")
    bad = tmp_path / "prices.yaml"
    bad.write_text(text.replace("schema_version: 1", f"schema_version: {tag}", 1), "utf-8")
    assert bad.read_text("utf-8") != text
    with pytest.raises(vr.PricingError) as info:
        vlmroute.load_pricing(bad)
    assert info.value.file == str(bad)
    assert "tagged" in str(info.value)
    assert "line " in str(info.value)


@pytest.mark.parametrize(
    ("content", "what"),
    [(UTF16_YAML, "UTF-16 text"), (png(4, 4), "a PNG image")],
    ids=["utf16", "png"],
)
def test_a_file_that_is_not_utf8_is_named_for_what_it_is(
    tmp_path: Path, content: bytes, what: str
) -> None:
    path = tmp_path / "file.yaml"
    path.write_bytes(content)
    with pytest.raises(vr.PricingError, match=what):
        vlmroute.load_pricing(path)
    with pytest.raises(vr.ConfigurationError, match=what):
        vlmroute.Router.from_config(path)
    with pytest.raises(vr.ConfigurationError, match=what) as info:
        vlmroute.AsyncRouter.from_config(path)
    assert info.value.__context__ is None  # the file's bytes are not chained along


def test_a_decompression_bomb_is_refused_before_sending() -> None:
    uri = "data:image/png;base64," + base64.b64encode(png(100_000, 100_000)).decode()
    message = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": uri}}]}]
    config = {"offers": [{"offer": "zhipu-flash"}], "ledger": False}
    with (
        respx.mock(using="httpx") as mock,
        vlmroute.Router.from_config(config, api_keys={"zhipu": "k"}) as router,
        pytest.raises(vr.ImageError, match="178,956,970"),
    ):
        router.chat(message)
    assert not mock.calls
    with pytest.raises(vr.ImageError, match="decompression bomb"):
        vlmroute.image_tokens(100_000, 100_000)
    assert vlmroute.image_tokens(13_000, 13_000) > 0  # 169 Mpx: under the limit


def test_the_estimator_refuses_images_with_a_video_as_the_client_does() -> None:
    mix = [{"images": ["640x480"], "video": {"duration_s": 5, "width": 640, "height": 480}}]
    with pytest.raises(vr.WorkloadError) as estimated:
        vlmroute.Workload.from_mapping({"requests": 1, "output_tokens": 1, "mix": mix})
    with pytest.raises(vr.RequestError) as sent:
        vlmroute.ChatRequest.create(
            [
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": "https://x/a.png"}},
                        {"type": "video_url", "video_url": {"url": "https://x/a.mp4"}},
                    ],
                }
            ]
        )
    assert str(sent.value) in str(estimated.value)


def test_a_refused_connection_is_not_called_a_timeout() -> None:
    """httpx_aiohttp reports a refused connection as a ConnectTimeout; it is a connection
    error, said at once, not "no connection within 10 s"."""
    import socket

    with socket.socket() as probe:  # a loopback port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with (
        vlmroute.Client("zhipu-flash", api_key="k", base_url=f"http://127.0.0.1:{port}/v4") as c,
        pytest.raises(vr.ProviderConnectionError) as info,
    ):
        c.chat([{"role": "user", "content": "hi"}])
    assert "cannot connect" in str(info.value)
    assert "timeouts.connect" not in str(info.value)


def test_every_problem_of_a_workload_is_listed_in_plain_words() -> None:
    with pytest.raises(vr.WorkloadError) as info:
        vlmroute.Workload.from_mapping({"requests": 0, "output_tokens": -5, "colour": "blue"})
    text = str(info.value)
    assert "requests: must be at least 1 (got 0)" in text
    assert "output_tokens: must be at least 0 (got -5)" in text
    assert "colour: is not a key this file takes" in text
    assert "Input should be" not in text


def test_a_router_config_problem_lists_every_key_but_no_value() -> None:
    with pytest.raises(vr.ConfigurationError) as info:
        vlmroute.RouterConfig.from_mapping(
            {"offers": [{"offer": "zhipu-flash", "cap": 0}], "store": {"url": 5, "x": "pw-123"}}
        )
    text = str(info.value)
    assert "offers.0.cap: must be at least 1" in text
    assert "store" in text
    assert "pw-123" not in text
