"""Fuzzing every parser and loader at vlmroute's edges: only vlmroute errors come out, and
nothing hangs.

Each edge is fed arbitrary input and near-valid input (the right shape with fields of the
wrong type, cut short, tagged, nested): provider answers through a real
:class:`~vlmroute.AsyncClient` over respx (JSON bodies, SSE streams cut at any byte, error
answers), the think/answer/box markup, the SSE decoder, the image header reader, the
pricing, workload and router-config loaders, and the drop-in's wire translation. The rule
is the one :mod:`vlmroute.errors` states: every failure is a :class:`VlmrouteError` (a
:class:`WireError` in the wire layer; for the internal parsers, the shape errors the backend
wraps). Synchronous calls run under a SIGALRM watchdog and async ones under
``asyncio.timeout``, so a hang fails its test instead of stalling the run.

The inputs these tests first found escaping (foreign exceptions, and an alias bomb that ran
for hours) are pinned, one minimal example each, by :func:`test_an_input_that_once_escaped`.
A bug found here next: keep the failing test, mark it ``xfail(strict=True)`` with the bug as
its reason, and fix vlmroute apart.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import json
import os
import signal
import string
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import httpx
import hypothesis
import pytest
import respx
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

import vlmroute
from vlmroute import AsyncClient, AsyncRouter, ChatResponse, RetryPolicy, StreamEnd, Workload
from vlmroute._backends.assemble import StreamAssembler
from vlmroute._backends.backend import SHAPE_ERRORS
from vlmroute._backends.sse import SseDecoder
from vlmroute._cli.estimate_cmd import _read_workload
from vlmroute._pricing.load import default_pricing_path, pricing_from_mapping
from vlmroute._response.markup import (
    BOX_BEGIN,
    BOX_END,
    ThinkSplitter,
    join_deltas,
    parse_boxes,
    split_message,
)
from vlmroute._response.types import Usage
from vlmroute._router.config import RouterConfig, load_router_config
from vlmroute._tokens import ImageSource
from vlmroute._wire import ModelRoutes, WireError, routes_of
from vlmroute._wire.request import parse_body, wire_request
from vlmroute.errors import ImageError, VlmrouteError

_T = TypeVar("_T")
Strategy = st.SearchStrategy[Any]

SYNC_LIMIT_S = 10.0  # far above any honest parse of these small inputs
ASYNC_LIMIT_S = 10.0
BOMB_LIMIT_S = 2.0  # for the alias bomb of a pricing file, which once ran for hours
BASE_URL = "http://fuzz.test/v1"
URL = f"{BASE_URL}/chat/completions"
OFFERS = ("zhipu-flash", "openrouter", "local-gpu")  # one live offer of each dialect
KEYS = {"zhipu": "k", "openrouter": "k"}
PRICING = vlmroute.load_pricing()
NO_RETRY = RetryPolicy(attempts=1)
HELLO = [{"role": "user", "content": "hi"}]
HYPOTHESIS = os.path.dirname(os.path.abspath(hypothesis.__file__)) + os.sep

pytestmark = pytest.mark.usefixtures("no_env_keys")


# ---------------------------------------------------------------- the rule


class Hang(BaseException):
    """A call ran past its watchdog. A BaseException, so that no ``except Exception`` eats
    it and hypothesis stops at once instead of shrinking a hang."""


def _would_be_lost(frame: FrameType | None) -> bool:
    """Whether an exception raised in ``frame`` is lost: hypothesis's GC callback (which
    runs inside any allocation) and ``__del__`` methods report it as unraisable and go on."""
    return frame is not None and (
        frame.f_code.co_filename.startswith(HYPOTHESIS) or frame.f_code.co_name == "__del__"
    )


@contextlib.contextmanager
def watchdog(seconds: float) -> Iterator[None]:
    """Raise :class:`Hang` in this (the main) thread if the block runs over ``seconds``.

    The timer then fires every 50 ms until the block is left, so that a tick landing where
    the exception would be lost is followed by another. The Hang that leaves the block names
    where the code was and has a short traceback: the one the signal cut into may be deep
    (pytest fails to show some of those)."""
    if not hasattr(signal, "setitimer"):  # pragma: no cover - Windows has no SIGALRM
        yield
        return
    armed = True

    def fire(_signum: int, frame: FrameType | None) -> None:
        if armed and not _would_be_lost(frame):
            where = "".join(traceback.format_stack(frame, limit=6))
            raise Hang(f"still running after {seconds:g} s, in:\n{where}")

    previous = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds, 0.05)
    try:
        yield
    except Hang as exc:
        armed = False
        message = str(exc)
    else:
        return
    finally:
        armed = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    raise Hang(message) from None


def only(
    call: Callable[[], _T],
    allowed: tuple[type[BaseException], ...] = (VlmrouteError,),
    *,
    limit_s: float = SYNC_LIMIT_S,
) -> _T | BaseException:
    """``call()``'s result, or the allowed error it raised; anything else fails the test,
    and a hang raises :class:`Hang`."""
    with watchdog(limit_s):
        try:
            return call()
        except allowed as exc:
            return exc


def run_async(make: Callable[[], Awaitable[_T]]) -> _T:
    """``asyncio.run`` under a timeout that raises :class:`Hang`, not a TimeoutError."""

    async def guarded() -> _T:
        scope = asyncio.timeout(ASYNC_LIMIT_S)
        try:
            async with scope:
                return await make()
        except TimeoutError:
            if scope.expired():
                raise Hang(f"still running after {ASYNC_LIMIT_S:g} s") from None
            raise

    return asyncio.run(guarded())


# ---------------------------------------------------------------- strategies

_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(["", "0", "1.5", "-1", "NaN", "inf", "1e999", "[DONE]", "stop"])
)
#: Any JSON value (NaN and the infinities included: Python's json module reads them).
json_values: Strategy = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


#: Values of a wrong type or out of range, for any field.
_ODD_NUMBERS = (True, -1, 2**70, 10**400, float("inf"), float("-inf"), float("nan"), 1e308)
_ODD_TEXTS = ("", "abc", "1e999", "NaN", "-Infinity")
_ODD_SHAPES: tuple[Any, ...] = (None, [], {}, [1], {"a": 1}, [[]])
odd_values = st.sampled_from(_ODD_NUMBERS + _ODD_TEXTS + _ODD_SHAPES)


def near(valid: Strategy) -> Strategy:
    """The valid value a third of the time; else an odd scalar, or any JSON value."""
    return valid | odd_values | json_values


def shape(
    optional: Mapping[str, Strategy], required: Mapping[str, Strategy] | None = None
) -> Strategy:
    """A dict with the ``required`` keys and some of the ``optional`` ones, each value
    near-valid."""
    return st.fixed_dictionaries(
        {key: near(value) for key, value in (required or {}).items()},
        optional={key: near(value) for key, value in optional.items()},
    )


def framed(frame: Mapping[str, Strategy], optional: Mapping[str, Strategy]) -> Strategy:
    """Like :func:`shape`, but the ``frame`` keys are always there and of the right type
    (their insides still near-valid), so that the checks behind them are reached often."""
    return st.fixed_dictionaries(
        dict(frame), optional={key: near(value) for key, value in optional.items()}
    )


def one_of(*values: object) -> Strategy:
    return st.sampled_from(values)


_MARKERS = ("<think>", "</think>", "<answer>", "</answer>", BOX_BEGIN, BOX_END)
_FRAGMENTS = sorted(
    {m[a:b] for m in _MARKERS for a in range(len(m)) for b in range(a + 1, len(m) + 1)}
    | {"[1,2,3,4]", "[[10, 20, 30, 40]]", "(5,6)", "<7, 8>", "-1.5", "9" * 40, "\n", " ", "x"}
)
#: Text made of whole and cut markup tags, box coordinates and anything else.
markup_text = st.lists(
    st.sampled_from(_FRAGMENTS) | st.sampled_from(_MARKERS) | st.text(max_size=4), max_size=16
).map("".join)

_ids = st.text(max_size=10)
_tokens = st.integers(min_value=0, max_value=10**7)
_finish = one_of("stop", "length", "error", "content_filter", None)
_cost = st.floats(min_value=0, max_value=10) | one_of("0.0012", "0")
_details = st.lists(
    shape(
        {"text": markup_text, "summary": markup_text},
        {"type": one_of("reasoning.text", "reasoning.summary")},
    ),
    max_size=3,
)
_reasoning = {
    "reasoning_content": markup_text,
    "reasoning": markup_text,
    "reasoning_details": _details,
}
usages = shape(
    {
        "prompt_tokens": _tokens,
        "completion_tokens": _tokens,
        "total_tokens": _tokens,
        "completion_tokens_details": shape({"reasoning_tokens": _tokens}),
        "prompt_tokens_details": shape({"cached_tokens": _tokens}),
        "cost": _cost,
    }
)
_parts = st.lists(near(shape({}, {"type": st.just("text"), "text": markup_text})), max_size=3)
messages = shape({"role": st.just("assistant"), "content": markup_text | _parts, **_reasoning})
_choices = st.lists(
    near(shape({"index": st.integers(0, 3), "finish_reason": _finish, "message": messages})),
    max_size=2,
)
#: Chat-completion bodies, each field maybe missing or of another type.
completions = shape(
    {"id": _ids, "request_id": _ids, "model": _ids, "usage": usages}, {"choices": _choices}
) | framed({"choices": _choices, "usage": usages}, {"id": _ids, "request_id": _ids, "model": _ids})
deltas = shape({"role": st.just("assistant"), "content": markup_text, **_reasoning})
_delta_choices = st.lists(
    near(shape({"index": st.integers(0, 3), "delta": deltas, "finish_reason": _finish})),
    max_size=2,
)
#: Streamed chunks, likewise.
chunks = shape({"id": _ids, "model": _ids, "choices": _delta_choices, "usage": usages}) | framed(
    {"choices": _delta_choices, "usage": usages}, {"id": _ids, "model": _ids}
)
#: Error bodies of each dialect: Zhipu's string codes, OpenRouter's metadata.error_type.
error_bodies = shape(
    {"code": st.just("1302"), "message": st.text(max_size=8)},
    {
        "error": shape(
            {
                "code": one_of("1113", "1261", "1301", "1302", "1305", "20012", 429, 503),
                "message": one_of("balance", "context length", "busy"),
                "metadata": shape(
                    {"error_type": one_of("rate_limit_exceeded", "moderation", "server")}
                ),
            }
        )
    },
)
_header_text = st.text(alphabet=string.ascii_letters + string.digits + " ,.:-+", max_size=30)
error_headers = st.fixed_dictionaries(
    {},
    optional={
        "retry-after": _header_text | one_of("1", "1e999", "-5", "nan", "0.5"),
        "retry-after-ms": _header_text | one_of("1500", "inf"),
        "x-request-id": _header_text,
        "content-type": one_of("application/json", "text/plain", "text/html"),
    },
)


def json_bytes(value: Any) -> bytes:
    return json.dumps(value).encode()


def _half(value: Any) -> bytes:
    data = json_bytes(value)
    return data[: len(data) // 2]


#: HTTP bodies: near-valid completions, any JSON, JSON cut short, or not JSON at all.
completion_bodies = (
    completions.map(json_bytes)
    | json_values.map(json_bytes)
    | completions.map(_half)
    | st.binary(max_size=40)
)

_sse_line = st.one_of(
    chunks.map(lambda c: f"data: {json.dumps(c)}"),
    json_values.map(lambda v: f"data: {json.dumps(v)}"),
    one_of(
        "",
        ": OPENROUTER PROCESSING",
        ":",
        "data: [DONE]",
        "data:[DONE]",
        "data: {",
        "data: }",
        "event: message",
        "id: 7",
        "retry: 1000",
        "data",
    ),
    st.text(max_size=20).map(lambda t: f": {t}"),
    st.text(max_size=20).map(lambda t: f"data: {t}"),
    st.text(max_size=20),
)


@st.composite
def sse_streams(draw: st.DrawFn) -> list[bytes]:
    """An SSE body as the pieces the server sends: lines, maybe blank lines, maybe [DONE],
    maybe garbage, cut at any byte (inside a line, a CRLF or a UTF-8 character)."""
    lines = draw(st.lists(_sse_line, max_size=8))
    blank_after_data = draw(st.booleans())
    newline = draw(one_of("\n", "\r\n", "\r"))
    text = "".join(
        line + newline + (newline if blank_after_data and line.startswith("data") else "")
        for line in lines
    )
    if draw(st.booleans()):
        text += f"data: [DONE]{newline}{newline}"
    raw = text.encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 9)) == 0:
        raw += draw(st.binary(max_size=8))
    cuts = sorted(set(draw(st.lists(st.integers(0, len(raw)), max_size=6))))
    return [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]


# ---------------------------------------------------------------- 1. provider answers


class Pieces(httpx.AsyncByteStream):
    """A response body sent in the given pieces."""

    def __init__(self, pieces: Sequence[bytes]) -> None:
        self._pieces = pieces

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self._pieces:
            yield piece


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.AsyncClient]:
    """One pool for every client (a TLS context is costly to build); respx answers for it."""
    client = httpx.AsyncClient()
    yield client
    asyncio.run(client.aclose())


async def _chat(client: AsyncClient) -> ChatResponse:
    return await client.chat(HELLO)


async def _stream(client: AsyncClient) -> list[Any]:
    return [event async for event in client.stream(HELLO)]


def ask_raw(
    http: httpx.AsyncClient | None,
    offer: str,
    response: httpx.Response,
    call: Callable[[AsyncClient], Awaitable[_T]],
) -> _T | VlmrouteError:
    """One call of a real client (one attempt) answered by ``response``: its result or its
    vlmroute error; anything else is raised."""

    async def go() -> _T | VlmrouteError:
        client = AsyncClient(
            offer, api_key="k", base_url=BASE_URL, pricing=PRICING, retry=NO_RETRY, http_client=http
        )
        try:
            return await call(client)
        except VlmrouteError as exc:
            return exc
        finally:
            await client.aclose()

    with respx.mock(using="httpx", assert_all_called=False) as mock:
        mock.post(URL).mock(return_value=response)
        return run_async(go)


def ask(
    http: httpx.AsyncClient,
    offer: str,
    response: httpx.Response,
    call: Callable[[AsyncClient], Awaitable[_T]],
) -> _T | BaseException:
    """:func:`ask_raw` under the rule."""
    return only(lambda: ask_raw(http, offer, response, call))


def check_response(result: object) -> None:
    if isinstance(result, BaseException):
        return
    assert isinstance(result, ChatResponse)
    assert isinstance(result.answer, str)
    assert isinstance(result.reasoning, str)
    assert type(result.usage.prompt_tokens) is int


def check_stream(result: object) -> None:
    if isinstance(result, BaseException):
        return
    assert isinstance(result, list)
    assert result
    assert isinstance(result[-1], StreamEnd)
    assert sum(isinstance(e, StreamEnd) for e in result) == 1
    check_response(result[-1].response)


@settings(max_examples=100, deadline=None)
@given(offer=st.sampled_from(OFFERS), body=completion_bodies)
@example(offer="zhipu-flash", body=b'{"choices": 5}')
@example(offer="openrouter", body=b'{"choices": [{"message": "hi"}], "id": [1]}')
@example(offer="openrouter", body=b'{"choices": [], "usage": {"cost": NaN}}')
def test_a_200_answer_of_any_shape_is_a_response_or_a_vlmroute_error(
    http: httpx.AsyncClient, offer: str, body: bytes
) -> None:
    response = httpx.Response(200, content=body, headers={"content-type": "application/json"})
    check_response(ask(http, offer, response, _chat))


@settings(max_examples=100, deadline=None)
@given(offer=st.sampled_from(OFFERS), pieces=sse_streams())
@example(offer="openrouter", pieces=[b'data: {"choices": 5}\n\n'])
@example(offer="local-gpu", pieces=[b"data: {", b'"choices": []}\n', b"\n: keep-alive\r\n"])
@example(offer="zhipu-flash", pieces=[b'data: {"code": "1302", "message": "busy"}\n\n'])
def test_a_stream_of_any_shape_ends_or_is_a_vlmroute_error(
    http: httpx.AsyncClient, offer: str, pieces: list[bytes]
) -> None:
    stream = Pieces(pieces)
    response = httpx.Response(200, stream=stream, headers={"content-type": "text/event-stream"})
    check_stream(ask(http, offer, response, _stream))


@settings(max_examples=80, deadline=None)
@given(
    offer=st.sampled_from(OFFERS),
    answer=st.tuples(
        st.integers(201, 599), error_bodies.map(json_bytes) | completion_bodies, error_headers
    ),
    streamed=st.booleans(),
)
def test_an_error_answer_of_any_shape_is_a_vlmroute_error(
    http: httpx.AsyncClient,
    offer: str,
    answer: tuple[int, bytes, dict[str, str]],
    streamed: bool,
) -> None:
    status, body, headers = answer
    response = httpx.Response(status, content=body, headers=headers)
    assert isinstance(ask(http, offer, response, _stream if streamed else _chat), VlmrouteError)


@settings(max_examples=120, deadline=None)
@given(payload=near(completions), usage=usages)
def test_the_internal_response_parser_raises_only_what_the_backend_wraps(
    payload: Any, usage: dict[str, Any]
) -> None:
    """``Backend.complete`` turns SHAPE_ERRORS into a MalformedResponseError; nothing else
    may come out of the parsers it calls."""
    only(lambda: Usage.from_openai(usage), SHAPE_ERRORS)
    if isinstance(payload, Mapping):
        only(lambda: ChatResponse.from_openai(payload, provider="p"), SHAPE_ERRORS)


@settings(max_examples=60, deadline=None)
@given(stream=st.lists(near(chunks), max_size=5))
def test_the_stream_assembler_raises_only_what_the_backend_wraps(stream: list[Any]) -> None:
    assembler = StreamAssembler(provider="p", image_size=(100, 100))
    for chunk in stream:
        if isinstance(chunk, Mapping):
            only(functools.partial(assembler.feed, chunk), SHAPE_ERRORS)
    only(assembler.close, SHAPE_ERRORS)
    only(lambda: assembler.response(latency_s=0.1, raw_extra={}), SHAPE_ERRORS)


# ---------------------------------------------------------------- 2. markup


def _merged(pieces: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for kind, text in pieces:
        if out and out[-1][0] == kind:
            out[-1] = (kind, out[-1][1] + text)
        else:
            out.append((kind, text))
    return out


def _cut(text: str, cuts: Sequence[int]) -> list[str]:
    points = sorted({c % (len(text) + 1) for c in cuts})
    return [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]


@settings(max_examples=150, deadline=None)
@given(
    text=markup_text,
    reasoning=st.none() | markup_text,
    size=st.none() | st.tuples(st.integers(1, 10**6), st.integers(1, 10**6)),
)
def test_markup_parsers_never_raise_on_any_text(
    text: str, reasoning: str | None, size: tuple[int, int] | None
) -> None:
    with watchdog(SYNC_LIMIT_S):
        message: dict[str, Any] = {"content": text}
        if reasoning is not None:
            message["reasoning_content"] = reasoning
        thought, answer = split_message(message)
        assert isinstance(thought, str)
        assert isinstance(answer, str)
        split_message({"content": [{"type": "text", "text": piece} for piece in text.split("x")]})
        for box in parse_boxes(text, size):
            assert all(len(group) in (2, 3, 4) for group in box.normalized)
            assert (box.pixels is None) == (size is None or not box.normalized)


@settings(max_examples=200, deadline=None)
@given(text=markup_text, cuts=st.lists(st.integers(0, 10**4), max_size=10), inside=st.booleans())
@example(text="<<think>a</thi</think>b", cuts=[1, 2, 13], inside=False)
def test_think_splitter_output_does_not_depend_on_the_chunking(
    text: str, cuts: list[int], inside: bool
) -> None:
    with watchdog(SYNC_LIMIT_S):
        whole = ThinkSplitter(starts_in_reasoning=inside)
        expected = whole.feed(text) + whole.close()
        chunked = ThinkSplitter(starts_in_reasoning=inside)
        got = [d for piece in _cut(text, cuts) for d in chunked.feed(piece)] + chunked.close()
    assert _merged(got) == _merged(expected)
    assert join_deltas(got) == join_deltas(expected)


@settings(max_examples=150, deadline=None)
@given(
    content=markup_text,
    reasoning=st.text(max_size=8),
    cuts=st.lists(st.integers(0, 10**4), max_size=8),
)
def test_stream_assembler_deltas_do_not_depend_on_the_chunking(
    content: str, reasoning: str, cuts: list[int]
) -> None:
    def assemble(pieces: Sequence[str]) -> tuple[list[tuple[str, str]], ChatResponse]:
        assembler = StreamAssembler(provider="p")
        events = []
        for i, piece in enumerate(pieces):
            delta = {"content": piece, "reasoning_content": reasoning if i == 0 else ""}
            events += assembler.feed({"choices": [{"delta": delta}]})
        events += assembler.close()
        response = assembler.response(latency_s=None, raw_extra={})
        return _merged([(e.kind, e.text) for e in events]), response

    with watchdog(SYNC_LIMIT_S):
        one_events, one = assemble([content])
        many_events, many = assemble(_cut(content, cuts))
    assert many_events == one_events
    assert (many.answer, many.reasoning) == (one.answer, one.reasoning)


# ---------------------------------------------------------------- 3. SSE decoder


@settings(max_examples=80, deadline=None)
@given(lines=st.lists(_sse_line | st.text(max_size=30), max_size=20))
def test_sse_decoder_takes_any_line(lines: list[str]) -> None:
    decoder = SseDecoder()
    with watchdog(SYNC_LIMIT_S):
        for line in lines:
            data = decoder.feed(line)
            assert data is None or isinstance(data, str)
        tail = decoder.close()
    assert tail is None or isinstance(tail, str)
    assert decoder.close() is None


@settings(max_examples=30, deadline=None)
@given(payloads=st.lists(chunks.map(json.dumps), max_size=5))
def test_sse_decoder_returns_each_json_data_line_at_once(payloads: list[str]) -> None:
    decoder = SseDecoder()
    assert [decoder.feed(f"data: {p}") for p in payloads] == payloads


# ---------------------------------------------------------------- 4. image headers


def _png(width: int, height: int) -> bytes:
    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + (13).to_bytes(4, "big") + b"IHDR" + ihdr + b"\0" * 4


def _gif(width: int, height: int) -> bytes:
    return (
        b"GIF89a" + (width % 2**16).to_bytes(2, "little") + (height % 2**16).to_bytes(2, "little")
    )


def _riff(chunk: bytes, payload: bytes) -> bytes:
    body = b"WEBP" + chunk + len(payload).to_bytes(4, "little") + payload
    return b"RIFF" + len(body).to_bytes(4, "little") + body


def _webp(kind: int, width: int, height: int) -> bytes:
    w, h = width % 2**14, height % 2**14
    if kind == 0:  # VP8 (lossy)
        frame = b"\x10\x02\x00\x9d\x01\x2a" + w.to_bytes(2, "little") + h.to_bytes(2, "little")
        return _riff(b"VP8 ", frame + b"\0")
    if kind == 1:  # VP8L (lossless)
        return _riff(b"VP8L", b"\x2f" + (w | (h << 14)).to_bytes(4, "little") + b"\0" * 3)
    sizes = (width % 2**24).to_bytes(3, "little") + (height % 2**24).to_bytes(3, "little")
    return _riff(b"VP8X", b"\x10\0\0\0" + sizes)


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + ((len(payload) + 2) % 2**16).to_bytes(2, "big") + payload


def _jpeg(width: int, height: int, exif: int) -> bytes:
    frame = b"\x08" + (height % 2**16).to_bytes(2, "big") + (width % 2**16).to_bytes(2, "big")
    return (
        b"\xff\xd8"
        + _segment(0xE1, b"Exif\0\0" + b"\xff" * exif)
        + b"\xff\xff"  # fill bytes
        + _segment(0xC4, b"\0" * 17)  # DHT: not a frame header
        + b"\xff\x01"  # TEM: no length
        + _segment(0xC0, frame + b"\x03\x01\x22\x00")
        + _segment(0xDA, b"\x01\x01\0\0\x3f\0")
        + b"\xff\xd9"
    )


_side = st.integers(0, 2**32 - 1) | st.integers(0, 70_000)


@st.composite
def image_headers(draw: st.DrawFn) -> bytes:
    """A header of each format with any sides (zero, huge), then maybe bytes overwritten,
    the data cut short, or garbage appended."""
    width, height = draw(_side), draw(_side)
    kind = draw(st.integers(0, 5))
    if kind == 0:
        data = _png(width, height)
    elif kind == 1:
        data = _gif(width, height)
    elif kind <= 4:
        data = _webp(kind - 2, width, height)
    else:
        data = _jpeg(width, height, draw(st.integers(0, 300)))
    mutated = bytearray(data)
    for _ in range(draw(st.integers(0, 3))):
        mutated[draw(st.integers(0, len(mutated) - 1))] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        mutated = mutated[: draw(st.integers(0, len(mutated)))]
    return bytes(mutated) + draw(st.binary(max_size=8))


_signatures = one_of(
    b"",
    b"\x89PNG\r\n\x1a\n",
    b"GIF87a",
    b"GIF89a",
    b"RIFF\0\0\0\0WEBP",
    b"\xff\xd8",
    b"\xff\xd8\xff",
)
image_bytes = (
    image_headers()
    | st.binary(max_size=64)
    | st.tuples(_signatures, st.binary(max_size=48)).map(b"".join)
)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def check_size(result: object) -> None:
    if isinstance(result, BaseException):
        return
    assert isinstance(result, tuple)
    width, height = result
    assert type(width) is int
    assert type(height) is int
    assert width > 0
    assert height > 0


def _measure(source: ImageSource) -> tuple[int, int] | BaseException:
    return only(functools.partial(vlmroute.image_size, source), (ImageError,))


@settings(max_examples=400, deadline=None)
@given(data=image_bytes)
@example(data=_jpeg(1, 1, 0)[:-30])
@example(data=_png(0, 2**32 - 1))
@example(data=b"\xff\xd8" + b"\xff" * 40)
def test_image_size_of_any_bytes_is_a_size_or_an_image_error(data: bytes) -> None:
    sizes = [_measure(source) for source in (data, bytearray(data), memoryview(data))]
    for size in sizes:
        check_size(size)
    ok = [s for s in sizes if not isinstance(s, BaseException)]
    assert len(ok) in (0, 3)
    assert all(s == sizes[0] for s in ok)


@settings(max_examples=100, deadline=None)
@given(data=image_bytes, b64=st.booleans())
def test_image_size_of_any_file_or_data_uri_is_a_size_or_an_image_error(
    scratch: Path, data: bytes, b64: bool
) -> None:
    path = scratch / "image"
    path.write_bytes(data)
    from_file = _measure(path)
    check_size(from_file)
    assert _measure(str(path)) == from_file or isinstance(from_file, BaseException)
    payload = base64.b64encode(data).decode() if b64 else data.decode("latin-1")
    from_uri = _measure(f"data:image/png{';base64' if b64 else ''},{payload}")
    check_size(from_uri)
    if b64 and not isinstance(from_file, BaseException):
        assert from_uri == from_file


@settings(max_examples=150, deadline=None)
@given(text=st.text(max_size=40))
def test_image_size_of_any_data_uri_text_is_a_size_or_an_image_error(text: str) -> None:
    for uri in (f"data:{text}", f"data:image/png;base64,{text}", f"data:,{text}"):
        check_size(_measure(uri))


# ---------------------------------------------------------------- 5. loaders

_SHIPPED = default_pricing_path().read_text(encoding="utf-8")
_YAML_VALUES = (
    *("~", "null", "yes", "off", "0x1F", "0o17", "1_000", ".inf", "-.inf", ".nan", "1e999"),
    *("-1", "0", "2026-02-30", "2026-13-45", "12:30:00", "!!str 5", "!!binary x", "!0 x"),
    *("!!int abc", "!!float x", "!!bool maybe", "!!timestamp x", "!!python/object:os.system x"),
    *("!!python/object/apply:os.system ['true']", "&a x", "*a", "*undefined", "[1, 2", "{a: 1}"),
    *("[]", "{}", "'open", '"\\x"', "|", "? x", "- x", "{? [1]: 2}", "[[[[[[[[[[[[[]]]]]]]]]]]]]"),
)
yaml_scalars = st.sampled_from(_YAML_VALUES) | st.text(max_size=12)


@st.composite
def mutated_yaml(draw: st.DrawFn, original: str) -> str:
    """``original`` with values replaced by odd YAML (tags, dates, anchors, flow), lines
    dropped, doubled (duplicate keys), inserted or re-indented, or the text cut short."""
    lines = original.splitlines()
    for _ in range(draw(st.integers(1, 4))):
        if not lines:
            break
        at = draw(st.integers(0, len(lines) - 1))
        op = draw(st.integers(-3, 5))
        line = lines[at]
        if op <= 0 and ":" in line:
            lines[at] = f"{line.partition(':')[0]}: {draw(yaml_scalars)}"
        elif op == 1:
            del lines[at]
        elif op == 2:
            lines.insert(at, line)
        elif op == 3:
            lines.insert(at, draw(st.text(max_size=20)))
        elif op == 4:
            lines[at] = " " * draw(st.integers(0, 6)) + line.lstrip()
        else:
            lines = lines[:at]
    return "\n".join(lines) + "\n"


def _write(scratch: Path, name: str, text: str | bytes) -> Path:
    path = scratch / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
    return path


@settings(max_examples=20, deadline=None)
@given(
    text=mutated_yaml(_SHIPPED)
    | mutated_yaml(_SHIPPED).map(lambda t: "extends: none\n" + t)
    | st.binary(max_size=40)
    | yaml_scalars
)
@example(text="offers: {zhipu-flash: {input_per_mtok: !!python/object:os.system x}}\n")
@example(text="offers:\n  zhipu-flash: {currency: CNY}\n  zhipu-flash: {currency: USD}\n")
@example(text=b"\xff\xfeo\0f\0")
def test_a_mutated_pricing_file_is_a_table_or_a_pricing_error(
    scratch: Path, text: str | bytes
) -> None:
    path = _write(scratch, "pricing.yaml", text)
    only(lambda: vlmroute.load_pricing(path), (vlmroute.PricingError,))


_overlay_offer = shape(
    {
        "input_per_mtok": _cost,
        "currency": one_of("USD", "CNY", "usd"),
        "context_window": _tokens,
        "lifecycle": st.just({"state": "retired"}),
        "concurrency": st.just({"tiers": {}}),
    }
)


@settings(max_examples=25, deadline=None)
@given(
    data=st.dictionaries(st.text(max_size=8), json_values, max_size=4)
    | shape(
        {
            "schema_version": st.just(1),
            "fx": shape({"rates": st.just({"CNY": 0.14})}),
            "offers": st.dictionaries(
                one_of("zhipu-flash", "openrouter", "mine"), near(_overlay_offer)
            ),
        }
    ),
    extends=st.booleans(),
)
def test_a_pricing_mapping_is_a_table_or_a_pricing_error(
    data: dict[str, Any], extends: bool
) -> None:
    only(lambda: pricing_from_mapping(data, extends=extends), (vlmroute.PricingError,))


_durations = one_of("90", "90s", "15m", "2h", "1.5d", "0", "-1", "1e3", "x", "", 30, 2.5)
_sizes = one_of("1920x1080", "0x0", "1x99999", "x", "1 \u00d7 1") | st.lists(
    st.integers(-2, 5000), max_size=3
)
_video = shape(
    {
        "duration_s": st.floats(0, 600),
        "width": st.integers(0, 4000),
        "height": st.integers(0, 4000),
        "fps": st.floats(0, 60),
    }
)
profiles = shape(
    {
        "share": one_of(1, 0.5, "2", 0),
        "images": st.lists(near(_sizes), max_size=3),
        "video": _video,
        "prompt_tokens": _tokens,
        "output_tokens": _tokens,
        "reasoning_tokens": _tokens,
    }
)
workloads = shape(
    {
        "requests": st.integers(-1, 10**6),
        "mix": st.lists(near(profiles), max_size=3),
        "prompt_tokens": _tokens,
        "output_tokens": _tokens,
        "reasoning_tokens": _tokens,
        "deadline": _durations,
        "deadline_s": _durations | st.floats(),
        "tiers": st.dictionaries(one_of("zhipu", "openrouter"), near(_ids)),
    }
)


@settings(max_examples=100, deadline=None)
@given(data=near(workloads))
@example(data={"requests": 1, "deadline": float("inf")})
def test_any_workload_mapping_is_a_workload_or_a_workload_error(data: Any) -> None:
    result = only(lambda: Workload.from_mapping(data), (vlmroute.WorkloadError,))
    if isinstance(result, Workload):
        assert result.requests >= 1


@settings(max_examples=60, deadline=None)
@given(
    text=workloads.flatmap(lambda w: mutated_yaml(yaml.safe_dump(w)))
    | st.binary(max_size=30)
    | yaml_scalars
)
def test_any_workload_file_is_a_workload_or_a_workload_error(
    scratch: Path, text: str | bytes
) -> None:
    path = _write(scratch, "workload.yaml", text)
    only(lambda: Workload.from_mapping(_read_workload(path)), (vlmroute.WorkloadError,))


_offer_entries = shape(
    {
        "tier": one_of("V0", "V3", "V9"),
        "cap": st.integers(-1, 100),
        "weight": st.floats(-1, 10),
        "base_url": one_of("http://gpu:8000/v1", "ftp://x", "https://"),
        "region": one_of("cn", "intl", "mars"),
        "model": _ids,
        "timeouts": shape({"connect": st.floats(), "total": _tokens}),
        "extra_headers": st.dictionaries(st.text(max_size=5), near(_ids), max_size=2),
        "extra_body": st.dictionaries(st.text(max_size=5), json_values, max_size=2),
        "health_interval_s": st.floats(),
        "allow_retired": st.booleans(),
    },
    {"offer": one_of("zhipu-flash", "openrouter", "local-gpu", "nope", "")},
)
_budgets = shape(
    {"amount": _cost, "currency": one_of("USD", "CNY", "XYZ"), "period": one_of("day", "hour")}
)
#: Router configs, ledger off (a random ledger path would write a file).
router_configs = shape(
    {
        "policy": one_of("cheapest", "fastest", "ordered", "weighted", "best"),
        "overflow": one_of("spill", "wait"),
        "wait_for_best_s": st.floats(),
        "max_wait_s": st.floats(),
        "currency": one_of("USD", "CNY", "EUR", "usd"),
        "expected_output_tokens": _tokens,
        "retry": shape({"attempts": st.integers(0, 30), "faults": st.lists(one_of("server", "x"))}),
        "fail_over_on": st.lists(near(one_of("balance", "auth", "x"))),
        "breaker": shape({"failures": _tokens, "open_s": st.floats()}),
        "budgets": st.lists(near(_budgets), max_size=2),
        "transport": one_of("aiohttp", "httpx", "curl"),
    },
    {"offers": st.lists(near(_offer_entries), max_size=3)},
).map(lambda config: {**config, "ledger": False})


@settings(max_examples=80, deadline=None)
@given(data=router_configs | st.dictionaries(st.text(max_size=8), json_values, max_size=4))
def test_any_router_config_mapping_is_a_config_or_a_configuration_error(
    data: dict[str, Any],
) -> None:
    only(lambda: load_router_config(data), (vlmroute.ConfigurationError,))
    only(lambda: RouterConfig.from_mapping(data), (vlmroute.ConfigurationError,))


_SAMPLE_CONFIG = yaml.safe_dump(
    {
        "currency": "USD",
        "policy": "cheapest",
        "offers": [{"offer": "zhipu-flash", "tier": "V1"}, {"offer": "openrouter", "cap": 20}],
        "budgets": [{"amount": 5, "currency": "USD", "period": "day"}],
        "ledger": False,
        "store": {"url": "redis://:secret@redis-1:6379/0", "workers": 4},
    },
    sort_keys=False,
)


@settings(max_examples=80, deadline=None)
@given(text=mutated_yaml(_SAMPLE_CONFIG) | st.binary(max_size=30) | yaml_scalars)
def test_any_router_config_file_is_a_config_or_a_configuration_error(
    scratch: Path, text: str | bytes
) -> None:
    path = _write(scratch, "router.yaml", text)
    result = only(lambda: load_router_config(path), (vlmroute.ConfigurationError,))
    if isinstance(result, vlmroute.ConfigurationError):
        assert "secret" not in str(result)  # the Redis password is never in a message


@settings(max_examples=20, deadline=None)
@given(data=router_configs)
def test_any_router_config_builds_a_router_or_raises_a_vlmroute_error(
    http: httpx.AsyncClient, data: dict[str, Any]
) -> None:
    def build() -> AsyncRouter:
        return AsyncRouter.from_config(data, api_keys=KEYS, pricing=PRICING, http_client=http)

    router = only(build)
    if isinstance(router, AsyncRouter):
        run_async(router.aclose)


# ---------------------------------------------------------------- 6. the drop-in's wire


@dataclass(frozen=True)
class Wire:
    routes: ModelRoutes
    json_offers: frozenset[str]


@contextlib.contextmanager
def wire_of(offers: Sequence[str]) -> Iterator[Wire]:
    config = {"offers": [{"offer": o} for o in offers], "ledger": False}
    router = AsyncRouter.from_config(config, api_keys=KEYS, pricing=PRICING)
    json_offers = frozenset(n for n, b in router.backends.items() if b.dialect.takes_json_format())
    try:
        yield Wire(routes_of(router), json_offers)
    finally:
        run_async(router.aclose)


@pytest.fixture(scope="module")
def wire() -> Iterator[Wire]:
    with wire_of(["zhipu-flash", "openrouter"]) as made:
        yield made


_url = one_of(
    "https://example.com/cat.png", "data:image/png;base64,AAAA", "/etc/passwd", "file:///x"
)
_media = shape(
    {
        "text": st.text(max_size=8),
        "image_url": shape({"detail": one_of("low", "high", "auto")}, {"url": _url}),
        "video_url": st.just({"url": "https://example.com/a.mp4"}),
    },
    {"type": one_of("text", "image_url", "video_url", "audio")},
)
_wire_message = shape(
    {"content": st.text(max_size=10) | st.lists(near(_media), max_size=3)},
    {"role": one_of("user", "system", "developer", "assistant", "tool")},
)
_hints = shape(
    {
        "providers": st.lists(near(one_of("zhipu-flash", "x"))),
        "exclude": st.lists(one_of("openrouter", "y")),
        "max_cost": one_of("0.01 USD", "1", "x"),
        "deadline_s": st.floats(),
    }
)
_models = one_of("glm-4.1v-thinking", "GLM-4.1V-9B-Thinking", "zhipu-flash", "openrouter", "gpt-4o")
#: OpenAI chat-completions request bodies, near-valid.
_wire_fields: Mapping[str, Strategy] = {
    "stream": st.booleans(),
    "stream_options": st.just({"include_usage": True}),
    "temperature": st.floats(0, 2),
    "top_p": st.floats(0, 1),
    "max_tokens": st.integers(0, 10**6),
    "max_completion_tokens": st.integers(0, 10**6),
    "stop": st.lists(st.text(max_size=3), max_size=2) | st.text(max_size=3),
    "seed": st.integers(),
    "n": st.integers(0, 3),
    "tools": st.just([]),
    "tool_choice": one_of("none", "auto", "required"),
    "logprobs": st.booleans(),
    "modalities": st.just(["text"]),
    "response_format": shape({}, {"type": one_of("text", "json_object", "json_schema", "xml")}),
    "user": _ids,
    "logit_bias": st.dictionaries(st.text(max_size=3), st.integers(-100, 100)),
    "vlmroute": _hints,
}
wire_bodies = (
    shape(_wire_fields, {"model": _models, "messages": st.lists(near(_wire_message), max_size=3)})
    | framed(
        {
            "model": _models,
            "messages": st.just(HELLO) | st.lists(_wire_message, min_size=1, max_size=2),
        },
        _wire_fields,
    )
    | framed(  # the routing hints and the JSON mode, behind a valid model and message
        {"model": _models, "messages": st.just(HELLO), "vlmroute": _hints},
        {"response_format": _wire_fields["response_format"], "stream": st.booleans()},
    )
)
wire_headers = st.fixed_dictionaries(
    {},
    optional={
        "x-vlmroute-providers": _header_text | st.just("zhipu-flash, openrouter"),
        "x-vlmroute-exclude": _header_text,
        "x-vlmroute-max-cost": _header_text,
        "x-vlmroute-deadline-s": _header_text | one_of("30", "0", "-1", "1e999"),
    },
)


@settings(max_examples=200, deadline=None)
@given(
    raw=wire_bodies.map(json_bytes)
    | json_values.map(json_bytes)
    | wire_bodies.map(_half)
    | st.binary(max_size=40),
    headers=wire_headers,
    timeout_s=st.none() | st.floats(0, 600),
)
@example(
    raw=b'{"model": "zhipu-flash", "messages": [{"role": "user"}]}', headers={}, timeout_s=None
)
def test_any_wire_body_is_a_request_or_a_wire_error(
    wire: Wire, raw: bytes, headers: dict[str, str], timeout_s: float | None
) -> None:
    def translate() -> object:
        body = parse_body(raw)
        return wire_request(
            body, wire.routes, json_offers=wire.json_offers, headers=headers, timeout_s=timeout_s
        )

    only(translate, (WireError,))


# ---------------------------------------------------------------- inputs that once escaped


def _deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def _bomb(depth: int) -> str:
    """A billion-laughs file: each level lists the one below ten times (366 bytes at 6)."""
    lines = ["l0: &l0 [x]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, depth + 1)]
    return "\n".join(lines) + "\n"


Case = Callable[[Path], object]


def _pricing_file(text: str) -> Case:
    return lambda scratch: vlmroute.load_pricing(_write(scratch, "once.yaml", text))


def _workload_file(text: str) -> Case:
    return lambda scratch: Workload.from_mapping(_read_workload(_write(scratch, "once.yaml", text)))


def _router_file(text: str) -> Case:
    return lambda scratch: load_router_config(_write(scratch, "once.yaml", text))


def _answer(body: bytes, *, status: int = 200, streamed: bool = False) -> Case:
    def case(_scratch: Path) -> object:
        response = httpx.Response(status, content=body)
        return ask_raw(None, "openrouter", response, _stream if streamed else _chat)

    return case


def _wire(body: Mapping[str, Any]) -> Case:
    def case(_scratch: Path) -> object:
        with wire_of(["zhipu-flash"]) as wire:
            return wire_request(body, wire.routes, json_offers=wire.json_offers)

    return case


_HI = {"model": "zhipu-flash", "messages": HELLO}
_DEEP_YAML = "[" * 800 + "]" * 800  # deeper than PyYAML's composer recurses by far
_VLMROUTE = (VlmrouteError,)
_WIRE = (WireError,)
_STREAMED_INFINITY = (
    b'data: {"choices": [{"delta": {"content": "x"}, "finish_reason": "stop"}], '
    b'"usage": {"completion_tokens": 1e999}}\n\n'
)

#: (id, what escaped before the fix, the minimal input, the errors allowed now).
ONCE_ESCAPED: list[tuple[str, str, Case, tuple[type[BaseException], ...]]] = [
    (
        "usage-infinite-tokens",
        "OverflowError from Usage.from_openai's int(1e999)",
        _answer(b'{"choices": [], "usage": {"prompt_tokens": 1e999}}'),
        _VLMROUTE,
    ),
    (
        "usage-infinite-tokens-streamed",
        "OverflowError from StreamAssembler.response, out of AsyncClient.stream",
        _answer(_STREAMED_INFINITY, streamed=True),
        _VLMROUTE,
    ),
    (
        "usage-cost-not-a-number",
        "decimal.InvalidOperation from Usage.from_openai's Decimal('abc')",
        _answer(b'{"choices": [], "usage": {"cost": "abc"}}'),
        _VLMROUTE,
    ),
    (
        "deep-json-answer",
        "RecursionError from Backend._json",
        _answer(_deep(100_000)),
        _VLMROUTE,
    ),
    (
        "deep-json-stream-chunk",
        "RecursionError from Backend._json, for one SSE data line",
        _answer(b"data: " + _deep(100_000) + b"\n\n", streamed=True),
        _VLMROUTE,
    ),
    (
        "deep-json-error-answer",
        "RecursionError from Backend._error, for a 500",
        _answer(_deep(100_000), status=500),
        _VLMROUTE,
    ),
    (
        "wire-deep-json-body",
        "RecursionError from parse_body (the drop-in answered a 500)",
        lambda _scratch: parse_body(_deep(100_000)),
        _WIRE,
    ),
    (
        "wire-hint-not-a-list",
        "TypeError: 'int' object is not iterable, from _hints",
        _wire({**_HI, "vlmroute": {"providers": 5}}),
        _WIRE,
    ),
    (
        "wire-deadline-huge-int",
        "OverflowError from _seconds' float(10**400)",
        _wire({**_HI, "vlmroute": {"deadline_s": 10**400}}),
        _WIRE,
    ),
    (
        "wire-response-format-type-unhashable",
        "TypeError: unhashable type: 'list', from _asks_json",
        _wire({**_HI, "response_format": {"type": []}}),
        _WIRE,
    ),
    (
        "pricing-no-such-date",
        "ValueError: month must be in 1..12, from PyYAML's constructor in _to_python",
        _pricing_file("as_of: 2026-13-01\n"),
        _VLMROUTE,
    ),
    (
        "pricing-bad-tagged-scalar",
        "KeyError: 'maybe', from PyYAML's bool constructor",
        _pricing_file("x: !!bool maybe\n"),
        _VLMROUTE,
    ),
    (
        "pricing-unhashable-key",
        "TypeError: unhashable type: 'list', from _to_python's `key in out`",
        _pricing_file("? [1, 2]\n: x\n"),
        _VLMROUTE,
    ),
    (
        "pricing-recursive-alias",
        "RecursionError from _to_python, following an alias to itself",
        _pricing_file("a: &a [*a]\n"),
        _VLMROUTE,
    ),
    (
        "pricing-alias-bomb",
        "a hang: _to_python expanded every alias (10**8 values for these 484 bytes)",
        _pricing_file(_bomb(8)),
        _VLMROUTE,
    ),
    (
        "pricing-deep-nesting",
        "RecursionError from PyYAML's composer, out of _read_yaml",
        _pricing_file(_DEEP_YAML),
        _VLMROUTE,
    ),
    (
        "workload-deep-nesting",
        "RecursionError from yaml.safe_load, out of _read_workload",
        _workload_file(_DEEP_YAML),
        _VLMROUTE,
    ),
    (
        "router-config-deep-nesting",
        "RecursionError from yaml.safe_load, out of load_router_config",
        _router_file(_DEEP_YAML),
        _VLMROUTE,
    ),
    (
        "workload-no-such-date",
        "ValueError from yaml.safe_load, out of _read_workload",
        _workload_file("requests: 1\nstart: 2026-13-01\n"),
        _VLMROUTE,
    ),
    (
        "router-config-no-such-date",
        "ValueError from yaml.safe_load, out of load_router_config",
        _router_file("offers: [{offer: zhipu-flash}]\nsince: 2026-13-01\n"),
        _VLMROUTE,
    ),
    (
        "workload-huge-int-duration",
        "OverflowError from parse_duration's float(10**400)",
        lambda _scratch: Workload.from_mapping({"requests": 1, "deadline": 10**400}),
        _VLMROUTE,
    ),
]


@pytest.mark.parametrize(
    ("case", "allowed"),
    [pytest.param(case, allowed, id=name) for name, _escaped, case, allowed in ONCE_ESCAPED],
)
def test_an_input_that_once_escaped(
    scratch: Path, case: Case, allowed: tuple[type[BaseException], ...]
) -> None:
    """What the fuzz tests found, one minimal input each (ONCE_ESCAPED says what escaped)."""
    only(lambda: case(scratch), allowed, limit_s=BOMB_LIMIT_S)


@pytest.mark.parametrize("load", [_workload_file, _router_file], ids=["workload", "router-config"])
def test_an_alias_bomb_does_not_hang_the_safe_load_loaders(
    scratch: Path, load: Callable[[str], Case]
) -> None:
    only(lambda: load(_bomb(9))(scratch), limit_s=BOMB_LIMIT_S)
