"""Fuzzing every parser and loader at vlmroute's edges: only vlmroute errors come out, and
nothing hangs.

Each edge is fed arbitrary input and near-valid input (the right shape with fields of the
wrong type, cut short, tagged, nested): provider answers through a real
:class:`~vlmroute.AsyncClient` over respx (JSON bodies and SSE streams split anywhere, error
answers), the think/answer/box markup, the SSE decoder, the image header reader, the
pricing, workload and router-config loaders, and the drop-in's wire translation. The rule
is the one :mod:`vlmroute.errors` states: every failure is a :class:`VlmrouteError` (a
:class:`WireError` in the wire layer; the few shape errors the backend wraps, for the
internal parsers). Synchronous calls run under a SIGALRM watchdog and async ones under
``asyncio.timeout``, so a hang fails the test instead of the run.

Bugs these tests found are listed in :data:`KNOWN` and pinned, one minimal example each, by
the strict-xfail :func:`test_known_bug`. The fuzz tests tolerate exactly those escapes (the
exception type *and* the vlmroute function it escapes from), so that they keep guarding
everything else; fixing a bug turns its xfail into a failing XPASS: then delete its entry.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import decimal
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
from vlmroute._wire import ModelRoutes, WireError, routes_of
from vlmroute._wire.request import parse_body, wire_request
from vlmroute.errors import ImageError, VlmrouteError

_T = TypeVar("_T")

SYNC_LIMIT_S = 10.0  # far above any honest parse of these small inputs
ASYNC_LIMIT_S = 10.0
BOMB_LIMIT_S = 2.0  # what the known-bug cases may take; the alias bomb would take hours
BASE_URL = "http://fuzz.test/v1"
URL = f"{BASE_URL}/chat/completions"
OFFERS = ("zhipu-flash", "openrouter", "local-gpu")  # the three dialects that are live
PRICING = vlmroute.load_pricing()
NO_RETRY = RetryPolicy(attempts=1)
HELLO = [{"role": "user", "content": "hi"}]
PACKAGE = os.path.dirname(os.path.abspath(vlmroute.__file__)) + os.sep

pytestmark = pytest.mark.usefixtures("no_env_keys")


# ---------------------------------------------------------------- the rule, and known bugs


class Hang(BaseException):
    """A call ran past its watchdog. A BaseException, so no ``except Exception`` eats it."""


@contextlib.contextmanager
def watchdog(seconds: float) -> Iterator[None]:
    """Raise :class:`Hang` in this (the main) thread if the block runs over ``seconds``."""
    if not hasattr(signal, "setitimer"):  # pragma: no cover - not on Windows
        yield
        return

    def fire(_signum: int, _frame: FrameType | None) -> None:
        raise Hang(f"still running after {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def escapes_from(exc: BaseException) -> str:
    """``path:function`` of the innermost vlmroute frame ``exc`` passed through."""
    where = ""
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename.startswith(PACKAGE):
            where = f"{frame.filename[len(PACKAGE) :].replace(os.sep, '/')}:{frame.name}"
    return where


@dataclass(frozen=True)
class Bug:
    """A foreign exception vlmroute lets out: its types and the functions it escapes from."""

    types: tuple[type[BaseException], ...]
    functions: tuple[str, ...]

    def matches(self, exc: BaseException) -> bool:
        return isinstance(exc, self.types) and escapes_from(exc) in self.functions


_YAML_SCALAR_ERRORS = (ValueError, KeyError, AttributeError, TypeError)

#: Every bug found, by name; each is pinned by a case of test_known_bug below.
KNOWN: Mapping[str, Bug] = {
    "usage-infinite-tokens": Bug((OverflowError,), ("_response/types.py:from_openai",)),
    "usage-cost-not-a-number": Bug(
        (decimal.InvalidOperation,), ("_response/types.py:from_openai",)
    ),
    "deep-json-answer": Bug(
        (RecursionError,), ("_backends/backend.py:_json", "_backends/backend.py:_error")
    ),
    "wire-deep-json-body": Bug((RecursionError,), ("_wire/request.py:parse_body",)),
    "wire-hint-not-a-list": Bug((TypeError,), ("_wire/request.py:_hints",)),
    "wire-deadline-huge-int": Bug((OverflowError,), ("_wire/request.py:_seconds",)),
    "wire-response-format-unhashable-type": Bug((TypeError,), ("_wire/request.py:_asks_json",)),
    "pricing-yaml-scalar": Bug(_YAML_SCALAR_ERRORS, ("_pricing/load.py:_to_python",)),
    "pricing-recursive-alias": Bug((RecursionError,), ("_pricing/load.py:_to_python",)),
    "yaml-deep-nesting": Bug(
        (RecursionError,),
        (
            "_pricing/load.py:_read_yaml",
            "_cli/estimate_cmd.py:_read_workload",
            "_router/config.py:load_router_config",
        ),
    ),
    "safe-load-yaml-scalar": Bug(
        _YAML_SCALAR_ERRORS,
        ("_cli/estimate_cmd.py:_read_workload", "_router/config.py:load_router_config"),
    ),
    "workload-huge-int-duration": Bug((OverflowError,), ("_estimate/workload.py:parse_duration",)),
}


def known_bug(exc: BaseException) -> str | None:
    return next((name for name, bug in KNOWN.items() if bug.matches(exc)), None)


def only(
    call: Callable[[], _T],
    allowed: tuple[type[BaseException], ...] = (VlmrouteError,),
    *,
    tolerate_known: bool = True,
    limit_s: float = SYNC_LIMIT_S,
) -> _T | BaseException:
    """``call()``'s result, or the allowed error it raised; anything else fails the test
    (a known bug only when ``tolerate_known`` is off). A hang raises :class:`Hang`."""
    with watchdog(limit_s):
        try:
            return call()
        except allowed as exc:
            return exc
        except Exception as exc:
            if tolerate_known and known_bug(exc) is not None:
                return exc
            raise


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
#: Any JSON value (NaN and infinities included: Python's json module reads them).
json_values: st.SearchStrategy[Any] = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def near(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """The valid value about half the time, any JSON value otherwise."""
    return valid | json_values


_MARKERS = ("<think>", "</think>", "<answer>", "</answer>", BOX_BEGIN, BOX_END)
_FRAGMENTS = sorted(
    {m[a:b] for m in _MARKERS for a in range(len(m)) for b in range(a + 1, len(m) + 1)}
    | {"[1,2,3,4]", "[[10, 20, 30, 40]]", "(5,6)", "<7, 8>", "-1.5", "9" * 40, "\n", " ", "x"}
)
#: Text built from whole and cut markup tags, box coordinates and anything else.
markup_text = st.lists(
    st.sampled_from(_FRAGMENTS) | st.sampled_from(_MARKERS) | st.text(max_size=4), max_size=16
).map("".join)

_tokens = st.integers(min_value=0, max_value=10**7)
_finish = st.sampled_from(["stop", "length", "error", "content_filter", "tool_calls"]) | st.none()
_cost = st.floats(min_value=0, max_value=10, allow_nan=False) | st.sampled_from(["0.0012", "0"])
_details = st.lists(
    st.fixed_dictionaries(
        {"type": near(st.sampled_from(["reasoning.text", "reasoning.summary"]))},
        optional={"text": near(st.text(max_size=8)), "summary": near(st.text(max_size=8))},
    ),
    max_size=3,
)
_parts = st.lists(
    near(st.fixed_dictionaries({"type": near(st.just("text")), "text": near(markup_text)})),
    max_size=3,
)
usages = st.fixed_dictionaries(
    {},
    optional={
        "prompt_tokens": near(_tokens),
        "completion_tokens": near(_tokens),
        "total_tokens": near(_tokens),
        "completion_tokens_details": near(
            st.fixed_dictionaries({}, optional={"reasoning_tokens": near(_tokens)})
        ),
        "prompt_tokens_details": near(
            st.fixed_dictionaries({}, optional={"cached_tokens": near(_tokens)})
        ),
        "cost": near(_cost),
    },
)
messages = st.fixed_dictionaries(
    {},
    optional={
        "role": near(st.just("assistant")),
        "content": near(markup_text | _parts),
        "reasoning_content": near(markup_text),
        "reasoning": near(markup_text),
        "reasoning_details": near(_details),
    },
)
_ids = st.text(max_size=10)
completions = st.fixed_dictionaries(
    {
        "choices": near(
            st.lists(
                near(
                    st.fixed_dictionaries(
                        {},
                        optional={
                            "index": near(st.integers(0, 3)),
                            "finish_reason": near(_finish),
                            "message": near(messages),
                        },
                    )
                ),
                max_size=2,
            )
        )
    },
    optional={
        "id": near(_ids),
        "request_id": near(_ids),
        "model": near(_ids),
        "object": near(st.just("chat.completion")),
        "usage": near(usages),
    },
)
deltas = st.fixed_dictionaries(
    {},
    optional={
        "role": near(st.just("assistant")),
        "content": near(markup_text),
        "reasoning_content": near(markup_text),
        "reasoning": near(markup_text),
        "reasoning_details": near(_details),
    },
)
chunks = st.fixed_dictionaries(
    {},
    optional={
        "id": near(_ids),
        "model": near(_ids),
        "choices": near(
            st.lists(
                near(
                    st.fixed_dictionaries(
                        {},
                        optional={
                            "index": near(st.integers(0, 3)),
                            "delta": near(deltas),
                            "finish_reason": near(_finish),
                        },
                    )
                ),
                max_size=2,
            )
        ),
        "usage": near(usages),
    },
)
error_bodies = st.fixed_dictionaries(
    {
        "error": near(
            st.fixed_dictionaries(
                {},
                optional={
                    "code": near(
                        st.sampled_from(["1113", "1261", "1301", "1302", "1305", "20012", 429])
                    ),
                    "message": near(st.sampled_from(["balance", "context length", "busy"])),
                    "type": near(st.text(max_size=8)),
                    "metadata": near(
                        st.fixed_dictionaries(
                            {},
                            optional={
                                "error_type": near(
                                    st.sampled_from(["rate_limit_exceeded", "moderation", "server"])
                                )
                            },
                        )
                    ),
                },
            )
        )
    },
    optional={"code": near(st.just("1302")), "message": near(st.text(max_size=8))},
)
_header_text = st.text(alphabet=string.ascii_letters + string.digits + " ,.:-+", max_size=30)
error_headers = st.fixed_dictionaries(
    {},
    optional={
        "retry-after": _header_text | st.sampled_from(["1", "1e999", "-5", "nan", "0.5"]),
        "retry-after-ms": _header_text | st.sampled_from(["1500", "inf"]),
        "x-request-id": _header_text,
        "content-type": st.sampled_from(["application/json", "text/plain", "text/html"]),
    },
)


def json_bytes(value: Any) -> bytes:
    return json.dumps(value).encode()


#: HTTP bodies: near-valid completions, any JSON, or bytes that may not be JSON at all.
completion_bodies = (
    completions.map(json_bytes)
    | json_values.map(json_bytes)
    | st.binary(max_size=40)
    | completions.map(lambda c: json_bytes(c)[: len(json_bytes(c)) // 2])
)

_sse_line = st.one_of(
    chunks.map(lambda c: f"data: {json.dumps(c)}"),
    json_values.map(lambda v: f"data: {json.dumps(v)}"),
    st.sampled_from(
        [
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
        ]
    ),
    st.text(max_size=20).map(lambda t: f": {t}"),
    st.text(max_size=20).map(lambda t: f"data: {t}"),
    st.text(max_size=20),
)


@st.composite
def sse_streams(draw: st.DrawFn) -> list[bytes]:
    """An SSE body as the byte pieces the server sends: lines, maybe [DONE], maybe garbage,
    cut at any byte (inside a line, a CRLF or a UTF-8 character)."""
    lines = draw(st.lists(_sse_line, max_size=8))
    blank_after_data = draw(st.booleans())
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
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
    """One pool for every client (its TLS context is costly to build); respx answers for it."""
    client = httpx.AsyncClient()
    yield client
    asyncio.run(client.aclose())


async def _chat(client: AsyncClient) -> ChatResponse:
    return await client.chat(HELLO)


async def _stream(client: AsyncClient) -> list[Any]:
    return [event async for event in client.stream(HELLO)]


def ask(
    http: httpx.AsyncClient,
    offer: str,
    response: httpx.Response,
    call: Callable[[AsyncClient], Awaitable[_T]],
) -> _T | BaseException:
    """One call of a real client against ``response``: its result or its vlmroute error."""

    async def go() -> _T | BaseException:
        client = AsyncClient(
            offer,
            api_key="k",
            base_url=BASE_URL,
            pricing=PRICING,
            retry=NO_RETRY,
            http_client=http,
        )
        try:
            return await call(client)
        except VlmrouteError as exc:
            return exc
        finally:
            await client.aclose()

    def send() -> _T | BaseException:
        with respx.mock(using="httpx", assert_all_called=False) as mock:
            mock.post(URL).mock(return_value=response)
            return run_async(go)

    return only(send)


def check_response(result: object) -> None:
    if isinstance(result, BaseException):
        return
    assert isinstance(result, ChatResponse)
    assert isinstance(result.answer, str)
    assert isinstance(result.reasoning, str)
    assert result.usage.prompt_tokens == int(result.usage.prompt_tokens)


def check_stream(result: object) -> None:
    if isinstance(result, BaseException):
        return
    assert isinstance(result, list)
    assert result
    assert isinstance(result[-1], StreamEnd)
    assert sum(isinstance(e, StreamEnd) for e in result) == 1
    check_response(result[-1].response)


@settings(max_examples=150, deadline=None)
@given(offer=st.sampled_from(OFFERS), body=completion_bodies)
@example(offer="openrouter", body=b'{"choices": [], "usage": {"prompt_tokens": 1e999}}')
@example(offer="zhipu-flash", body=b'{"choices": 5}')
@example(offer="openrouter", body=b'{"choices": [{"message": "hi"}], "id": [1]}')
def test_a_200_answer_of_any_shape_is_a_response_or_a_vlmroute_error(
    http: httpx.AsyncClient, offer: str, body: bytes
) -> None:
    response = httpx.Response(200, content=body, headers={"content-type": "application/json"})
    check_response(ask(http, offer, response, _chat))


@settings(max_examples=150, deadline=None)
@given(offer=st.sampled_from(OFFERS), pieces=sse_streams())
@example(offer="openrouter", pieces=[b'data: {"choices": 5}\n\n'])
@example(offer="local-gpu", pieces=[b"data: {", b'"choices": []}\n', b"\n: keep-alive\r\n"])
def test_a_stream_of_any_shape_ends_or_is_a_vlmroute_error(
    http: httpx.AsyncClient, offer: str, pieces: list[bytes]
) -> None:
    response = httpx.Response(
        200, stream=Pieces(pieces), headers={"content-type": "text/event-stream"}
    )
    check_stream(ask(http, offer, response, _stream))


@settings(max_examples=100, deadline=None)
@given(
    offer=st.sampled_from(OFFERS),
    status=st.integers(201, 599),
    body=error_bodies.map(json_bytes) | completion_bodies,
    headers=error_headers,
    streamed=st.booleans(),
)
def test_an_error_answer_of_any_shape_is_a_vlmroute_error(
    http: httpx.AsyncClient,
    offer: str,
    status: int,
    body: bytes,
    headers: dict[str, str],
    streamed: bool,
) -> None:
    response = httpx.Response(status, content=body, headers=headers)
    result = ask(http, offer, response, _stream if streamed else _chat)
    assert isinstance(result, BaseException)


@settings(max_examples=300, deadline=None)
@given(payload=near(completions))
def test_the_internal_response_parser_raises_only_what_the_backend_wraps(payload: Any) -> None:
    """``Backend.complete`` turns SHAPE_ERRORS into MalformedResponseError; nothing else may
    come out of the parser it calls."""
    if not isinstance(payload, Mapping):
        return
    only(
        lambda: ChatResponse.from_openai(payload, provider="p", image_size=(640, 480)), SHAPE_ERRORS
    )
    only(lambda: Usage.from_openai(payload.get("usage")), SHAPE_ERRORS)


@settings(max_examples=200, deadline=None)
@given(stream=st.lists(near(chunks), max_size=5))
def test_the_stream_assembler_raises_only_what_the_backend_wraps(stream: list[Any]) -> None:
    assembler = StreamAssembler(provider="p", image_size=(100, 100))
    for chunk in stream:
        if isinstance(chunk, Mapping):
            only(lambda chunk=chunk: assembler.feed(chunk), SHAPE_ERRORS)
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


@settings(max_examples=300, deadline=None)
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
        parts = {"content": [{"type": "text", "text": piece} for piece in text.split("x")]}
        split_message(parts)
        for box in parse_boxes(text, size):
            assert all(len(group) in (2, 3, 4) for group in box.normalized)
            if size is None:
                assert box.pixels is None


@settings(max_examples=300, deadline=None)
@given(
    text=markup_text,
    cuts=st.lists(st.integers(0, 10**4), max_size=10),
    inside=st.booleans(),
)
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
    markers_gone = "".join(t for _, t in expected)
    assert len(markers_gone) <= len(text)


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
        return _merged([(e.kind, e.text) for e in events]), assembler.response(
            latency_s=None, raw_extra={}
        )

    with watchdog(SYNC_LIMIT_S):
        one_events, one = assemble([content])
        many_events, many = assemble(_cut(content, cuts))
    assert many_events == one_events
    assert (many.answer, many.reasoning) == (one.answer, one.reasoning)


# ---------------------------------------------------------------- 3. SSE decoder


@settings(max_examples=300, deadline=None)
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


@settings(max_examples=100, deadline=None)
@given(payloads=st.lists(chunks.map(json.dumps), max_size=5))
def test_sse_decoder_returns_each_data_line_it_was_sent(payloads: list[str]) -> None:
    decoder = SseDecoder()
    got = [decoder.feed(f"data: {p}") for p in payloads]
    assert got == payloads


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
    if kind == 0:
        frame = b"\x10\x02\x00\x9d\x01\x2a" + w.to_bytes(2, "little") + h.to_bytes(2, "little")
        return _riff(b"VP8 ", frame + b"\0")
    if kind == 1:
        bits = w | (h << 14)
        return _riff(b"VP8L", b"\x2f" + bits.to_bytes(4, "little") + b"\0" * 3)
    sizes = (width % 2**24).to_bytes(3, "little") + (height % 2**24).to_bytes(3, "little")
    return _riff(b"VP8X", b"\x10\0\0\0" + sizes)


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + ((len(payload) + 2) % 2**16).to_bytes(2, "big") + payload


def _jpeg(width: int, height: int, exif: int) -> bytes:
    frame = b"\x08" + (height % 2**16).to_bytes(2, "big") + (width % 2**16).to_bytes(2, "big")
    return (
        b"\xff\xd8"
        + _segment(0xE1, b"Exif\0\0" + b"\xff" * exif)
        + b"\xff\xff"
        + _segment(0xC4, b"\0" * 17)
        + b"\xff\x01"
        + _segment(0xC0, frame + b"\x03\x01\x22\x00")
        + _segment(0xDA, b"\x01\x01\0\0\x3f\0")
        + b"\xff\xd9"
    )


_dimension = st.integers(0, 2**32 - 1) | st.integers(0, 70_000)


@st.composite
def image_headers(draw: st.DrawFn) -> bytes:
    """A valid header of each format, with huge or zero sides, then maybe cut short, bytes
    flipped or overwritten, or garbage appended."""
    width, height = draw(_dimension), draw(_dimension)
    kind = draw(st.integers(0, 5))
    if kind == 0:
        data = _png(width, height)
    elif kind == 1:
        data = _gif(width, height)
    elif kind in (2, 3, 4):
        data = _webp(kind - 2, width, height)
    else:
        data = _jpeg(width, height, draw(st.integers(0, 300)))
    mutated = bytearray(data)
    for _ in range(draw(st.integers(0, 3))):
        if not mutated:
            break
        at = draw(st.integers(0, len(mutated) - 1))
        mutated[at] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        mutated = mutated[: draw(st.integers(0, len(mutated)))]
    return bytes(mutated) + draw(st.binary(max_size=8))


_signatures = st.sampled_from(
    [
        b"",
        b"\x89PNG\r\n\x1a\n",
        b"GIF87a",
        b"GIF89a",
        b"RIFF\0\0\0\0WEBP",
        b"\xff\xd8",
        b"\xff\xd8\xff",
    ]
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


@settings(max_examples=400, deadline=None)
@given(data=image_bytes)
@example(data=_jpeg(1, 1, 0)[:-30])
@example(data=_png(0, 2**32 - 1))
@example(data=b"\xff\xd8" + b"\xff" * 40)
def test_image_size_of_any_bytes_is_a_size_or_an_image_error(data: bytes) -> None:
    sizes = [
        only(lambda source=source: vlmroute.image_size(source), (ImageError,))
        for source in (data, bytearray(data), memoryview(data))
    ]
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
    from_file = only(lambda: vlmroute.image_size(path), (ImageError,))
    check_size(from_file)
    check_size(only(lambda: vlmroute.image_size(str(path)), (ImageError,)))
    payload = base64.b64encode(data).decode() if b64 else data.decode("latin-1")
    uri = f"data:image/png{';base64' if b64 else ''},{payload}"
    from_uri = only(lambda: vlmroute.image_size(uri), (ImageError,))
    check_size(from_uri)
    if b64 and not isinstance(from_file, BaseException):
        assert from_uri == from_file


@settings(max_examples=150, deadline=None)
@given(text=st.text(max_size=40))
def test_image_size_of_any_data_uri_text_is_a_size_or_an_image_error(text: str) -> None:
    for uri in (f"data:{text}", f"data:image/png;base64,{text}", f"data:,{text}"):
        check_size(only(lambda uri=uri: vlmroute.image_size(uri), (ImageError,)))


# ---------------------------------------------------------------- 5. loaders

_SHIPPED = default_pricing_path().read_text(encoding="utf-8")
_YAML_VALUES = [
    "~",
    "null",
    "yes",
    "off",
    "0x1F",
    "0o17",
    "1_000",
    ".inf",
    "-.inf",
    ".nan",
    "1e999",
    "-1",
    "0",
    "2026-02-30",
    "2026-13-45",
    "12:30:00",
    "!!int abc",
    "!!float x",
    "!!bool maybe",
    "!!timestamp x",
    "!!str 5",
    "!!binary x",
    "!!python/object:os.system x",
    "!!python/object/apply:os.system ['true']",
    "!0 x",
    "&a x",
    "*a",
    "*undefined",
    "[1, 2",
    "{a: 1}",
    "[]",
    "{}",
    "'open",
    '"\\x"',
    "|",
    "? x",
    "- x",
    "{? [1]: 2}",
]
yaml_scalars = st.sampled_from(_YAML_VALUES) | st.text(max_size=12)


@st.composite
def mutated_yaml(draw: st.DrawFn, original: str) -> str:
    """``original`` with values replaced by odd YAML, lines dropped, doubled (duplicate
    keys) or inserted, re-indented, or the text cut short."""
    lines = original.splitlines()
    for _ in range(draw(st.integers(1, 4))):
        if not lines:
            break
        at = draw(st.integers(0, len(lines) - 1))
        op = draw(st.integers(0, 5))
        line = lines[at]
        if op == 0 and ":" in line:
            key, _, _ = line.partition(":")
            lines[at] = f"{key}: {draw(yaml_scalars)}"
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


@settings(max_examples=40, deadline=None)
@given(
    text=mutated_yaml(_SHIPPED)
    | st.binary(max_size=40)
    | st.sampled_from(_YAML_VALUES)
    | st.text(max_size=40)
    | mutated_yaml(_SHIPPED).map(lambda t: "extends: none\n" + t),
)
@example(text="offers: {zhipu-flash: {input_per_mtok: !!python/object:os.system x}}\n")
@example(text=b"\xff\xfeo\0f\0")
def test_a_mutated_pricing_file_is_a_table_or_a_pricing_error(
    scratch: Path, text: str | bytes
) -> None:
    path = _write(scratch, "pricing.yaml", text)
    only(lambda: vlmroute.load_pricing(path), (vlmroute.PricingError,))


@settings(max_examples=40, deadline=None)
@given(
    data=st.dictionaries(st.text(max_size=8), json_values, max_size=4)
    | st.fixed_dictionaries(
        {},
        optional={
            "schema_version": near(st.just(1)),
            "fx": near(st.fixed_dictionaries({"rates": near(st.just({"CNY": 0.14}))})),
            "offers": near(
                st.dictionaries(
                    st.sampled_from(["zhipu-flash", "openrouter", "mine"]),
                    near(
                        st.fixed_dictionaries(
                            {},
                            optional={
                                "input_per_mtok": near(_cost),
                                "currency": near(st.sampled_from(["USD", "CNY", "usd"])),
                                "context_window": near(_tokens),
                                "lifecycle": near(st.just({"state": "retired"})),
                                "concurrency": near(st.just({"tiers": {}})),
                            },
                        )
                    ),
                    max_size=2,
                )
            ),
        },
    ),
    extends=st.booleans(),
)
def test_a_pricing_mapping_is_a_table_or_a_pricing_error(
    data: dict[str, Any], extends: bool
) -> None:
    only(lambda: pricing_from_mapping(data, extends=extends), (vlmroute.PricingError,))


_durations = st.sampled_from(["90", "90s", "15m", "2h", "1.5d", "0", "-1", "1e3", "x", ""])
_sizes = st.sampled_from(["1920x1080", "0x0", "1x99999", "x", "1 × 1"]) | st.lists(
    st.integers(-2, 5000), max_size=3
)
profiles = st.fixed_dictionaries(
    {},
    optional={
        "share": near(st.sampled_from([1, 0.5, "2", 0])),
        "images": near(st.lists(near(_sizes), max_size=3)),
        "video": near(
            st.fixed_dictionaries(
                {},
                optional={
                    "duration_s": near(st.floats(0, 600)),
                    "width": near(st.integers(0, 4000)),
                    "height": near(st.integers(0, 4000)),
                    "fps": near(st.floats(0, 60)),
                },
            )
        ),
        "prompt_tokens": near(_tokens),
        "output_tokens": near(_tokens),
        "reasoning_tokens": near(_tokens),
    },
)
workloads = st.fixed_dictionaries(
    {},
    optional={
        "requests": near(st.integers(-1, 10**6)),
        "mix": near(st.lists(near(profiles), max_size=3)),
        "prompt_tokens": near(_tokens),
        "output_tokens": near(_tokens),
        "reasoning_tokens": near(_tokens),
        "deadline": near(_durations),
        "deadline_s": near(_durations | st.floats()),
        "tiers": near(st.dictionaries(st.sampled_from(["zhipu", "openrouter"]), near(_ids))),
    },
)


@settings(max_examples=300, deadline=None)
@given(data=near(workloads))
@example(data={"requests": 1, "deadline": float("inf")})
def test_any_workload_mapping_is_a_workload_or_a_workload_error(data: Any) -> None:
    result = only(lambda: Workload.from_mapping(data), (vlmroute.WorkloadError,))
    if not isinstance(result, BaseException):
        assert result.requests >= 1


@settings(max_examples=60, deadline=None)
@given(
    text=workloads.flatmap(lambda w: mutated_yaml(yaml.safe_dump(w)))
    | st.binary(max_size=30)
    | st.sampled_from(_YAML_VALUES)
)
def test_any_workload_file_is_a_workload_or_a_workload_error(
    scratch: Path, text: str | bytes
) -> None:
    path = _write(scratch, "workload.yaml", text)
    only(lambda: Workload.from_mapping(_read_workload(path)), (vlmroute.WorkloadError,))


_offer_entries = st.fixed_dictionaries(
    {"offer": near(st.sampled_from(["zhipu-flash", "openrouter", "local-gpu", "nope", ""]))},
    optional={
        "tier": near(st.sampled_from(["V0", "V3", "V9"])),
        "cap": near(st.integers(-1, 100)),
        "weight": near(st.floats(-1, 10)),
        "base_url": near(st.sampled_from(["http://gpu:8000/v1", "ftp://x", "https://"])),
        "region": near(st.sampled_from(["cn", "intl", "mars"])),
        "model": near(_ids),
        "timeouts": near(
            st.fixed_dictionaries(
                {}, optional={"connect": near(st.floats()), "total": near(_tokens)}
            )
        ),
        "extra_headers": near(st.dictionaries(st.text(max_size=5), near(_ids), max_size=2)),
        "extra_body": near(st.dictionaries(st.text(max_size=5), json_values, max_size=2)),
        "health_interval_s": near(st.floats()),
        "allow_retired": near(st.booleans()),
    },
)
router_configs = st.fixed_dictionaries(
    {"offers": near(st.lists(near(_offer_entries), max_size=3)), "ledger": st.just(False)},
    optional={
        "policy": near(st.sampled_from(["cheapest", "fastest", "ordered", "weighted", "best"])),
        "overflow": near(st.sampled_from(["spill", "wait"])),
        "wait_for_best_s": near(st.floats()),
        "max_wait_s": near(st.floats()),
        "currency": near(st.sampled_from(["USD", "CNY", "EUR", "usd"])),
        "expected_output_tokens": near(_tokens),
        "retry": near(
            st.fixed_dictionaries(
                {},
                optional={
                    "attempts": near(st.integers(0, 30)),
                    "faults": near(st.lists(st.sampled_from(["server", "rate_limited", "x"]))),
                },
            )
        ),
        "fail_over_on": near(st.lists(near(st.sampled_from(["balance", "auth", "x"])))),
        "breaker": near(st.fixed_dictionaries({}, optional={"failures": near(_tokens)})),
        "budgets": near(
            st.lists(
                near(
                    st.fixed_dictionaries(
                        {},
                        optional={
                            "amount": near(_cost),
                            "currency": near(st.sampled_from(["USD", "CNY", "XYZ"])),
                            "period": near(st.sampled_from(["day", "month", "week", "hour"])),
                        },
                    )
                ),
                max_size=2,
            )
        ),
        "transport": near(st.sampled_from(["aiohttp", "httpx", "curl"])),
    },
)


@settings(max_examples=300, deadline=None)
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
@given(text=mutated_yaml(_SAMPLE_CONFIG) | st.binary(max_size=30) | st.sampled_from(_YAML_VALUES))
def test_any_router_config_file_is_a_config_or_a_configuration_error(
    scratch: Path, text: str | bytes
) -> None:
    path = _write(scratch, "router.yaml", text)
    result = only(lambda: load_router_config(path), (vlmroute.ConfigurationError,))
    if isinstance(result, vlmroute.ConfigurationError):
        assert "secret" not in str(result)


@settings(max_examples=20, deadline=None)
@given(data=router_configs)
def test_any_router_config_builds_a_router_or_raises_a_vlmroute_error(
    http: httpx.AsyncClient, data: dict[str, Any]
) -> None:
    def build() -> AsyncRouter:
        return AsyncRouter.from_config(
            data, api_keys={"zhipu": "k", "openrouter": "k"}, pricing=PRICING, http_client=http
        )

    router = only(build)
    if isinstance(router, AsyncRouter):
        run_async(router.aclose)


# ---------------------------------------------------------------- 6. the drop-in's wire


@dataclass(frozen=True)
class Wire:
    routes: ModelRoutes
    json_offers: frozenset[str]


@pytest.fixture(scope="module")
def wire() -> Iterator[Wire]:
    router = AsyncRouter.from_config(
        {"offers": [{"offer": "zhipu-flash"}, {"offer": "openrouter"}], "ledger": False},
        api_keys={"zhipu": "k", "openrouter": "k"},
        pricing=PRICING,
    )
    json_offers = frozenset(
        name for name, backend in router.backends.items() if backend.dialect.takes_json_format()
    )
    yield Wire(routes_of(router), json_offers)
    asyncio.run(router.aclose())


_models = st.sampled_from(
    ["glm-4.1v-thinking", "GLM-4.1V-9B-Thinking", "zhipu-flash", "openrouter", "gpt-4o", ""]
)
_media = st.fixed_dictionaries(
    {"type": near(st.sampled_from(["text", "image_url", "video_url", "audio"]))},
    optional={
        "text": near(st.text(max_size=8)),
        "image_url": near(
            st.fixed_dictionaries(
                {
                    "url": near(
                        st.sampled_from(
                            [
                                "https://example.com/cat.png",
                                "data:image/png;base64,AAAA",
                                "/etc/passwd",
                                "file:///etc/passwd",
                            ]
                        )
                    )
                },
                optional={"detail": near(st.sampled_from(["low", "high", "auto"]))},
            )
        ),
        "video_url": near(st.just({"url": "https://example.com/a.mp4"})),
    },
)
_wire_messages = st.lists(
    near(
        st.fixed_dictionaries(
            {"role": near(st.sampled_from(["user", "system", "developer", "assistant", "tool"]))},
            optional={"content": near(st.text(max_size=10) | st.lists(near(_media), max_size=3))},
        )
    ),
    max_size=3,
)
wire_bodies = st.fixed_dictionaries(
    {"model": near(_models), "messages": near(_wire_messages)},
    optional={
        "stream": near(st.booleans()),
        "stream_options": near(st.just({"include_usage": True})),
        "temperature": near(st.floats(0, 2)),
        "top_p": near(st.floats(0, 1)),
        "max_tokens": near(st.integers(0, 10**6)),
        "max_completion_tokens": near(st.integers(0, 10**6)),
        "stop": near(st.lists(st.text(max_size=3), max_size=2) | st.text(max_size=3)),
        "seed": near(st.integers()),
        "n": near(st.integers(0, 3)),
        "tools": near(st.just([])),
        "tool_choice": near(st.sampled_from(["none", "auto", "required"])),
        "logprobs": near(st.booleans()),
        "modalities": near(st.just(["text"])),
        "response_format": near(
            st.fixed_dictionaries(
                {"type": near(st.sampled_from(["text", "json_object", "json_schema", "xml"]))}
            )
        ),
        "user": near(_ids),
        "logit_bias": near(st.dictionaries(st.text(max_size=3), st.integers(-100, 100))),
        "vlmroute": near(
            st.fixed_dictionaries(
                {},
                optional={
                    "providers": near(st.lists(near(st.sampled_from(["zhipu-flash", "x"])))),
                    "exclude": near(st.lists(st.sampled_from(["openrouter", "y"]))),
                    "max_cost": near(st.sampled_from(["0.01 USD", "1", "x"])),
                    "deadline_s": near(st.floats()),
                },
            )
        ),
    },
)
wire_headers = st.fixed_dictionaries(
    {},
    optional={
        "x-vlmroute-providers": _header_text | st.just("zhipu-flash, openrouter"),
        "x-vlmroute-exclude": _header_text,
        "x-vlmroute-max-cost": _header_text,
        "x-vlmroute-deadline-s": _header_text | st.sampled_from(["30", "0", "-1", "1e999"]),
    },
)


@settings(max_examples=400, deadline=None)
@given(
    raw=wire_bodies.map(json_bytes)
    | json_values.map(json_bytes)
    | st.binary(max_size=40)
    | wire_bodies.map(lambda b: json_bytes(b)[:-1]),
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


# ---------------------------------------------------------------- the bugs, one case each


def _deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def _pricing_file(text: str) -> Callable[[Path], object]:
    return lambda scratch: vlmroute.load_pricing(_write(scratch, "bug.yaml", text))


def _workload_file(text: str) -> Callable[[Path], object]:
    return lambda scratch: Workload.from_mapping(_read_workload(_write(scratch, "bug.yaml", text)))


def _router_file(text: str) -> Callable[[Path], object]:
    return lambda scratch: load_router_config(_write(scratch, "bug.yaml", text))


def _answer(body: bytes, *, status: int = 200, streamed: bool = False) -> Callable[[Path], object]:
    def call(_scratch: Path) -> object:
        async def go() -> object:
            async with AsyncClient(
                "openrouter", api_key="k", base_url=BASE_URL, pricing=PRICING, retry=NO_RETRY
            ) as client:
                return await (_stream(client) if streamed else _chat(client))

        with respx.mock(using="httpx", assert_all_called=False) as mock:
            mock.post(URL).respond(status, content=body)
            return run_async(go)

    return call


def _wire(body: Mapping[str, Any]) -> Callable[[Path], object]:
    def call(_scratch: Path) -> object:
        router = AsyncRouter.from_config(
            {"offers": [{"offer": "zhipu-flash"}], "ledger": False},
            api_keys={"zhipu": "k"},
            pricing=PRICING,
        )
        try:
            return wire_request(body, routes_of(router), json_offers=())
        finally:
            run_async(router.aclose)

    return call


def _bomb(depth: int) -> str:
    """A billion-laughs file: each level lists the one below it ten times (366 bytes at 6)."""
    lines = ["l0: &l0 [x]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, depth + 1)]
    return "\n".join(lines) + "\n"


_HI = {"model": "zhipu-flash", "messages": HELLO}
#: (id, the bug, a minimal example, what it raises today); a hang is cut at BOMB_LIMIT_S.
_BUGS: list[tuple[str, str, Callable[[Path], object], type[BaseException]]] = [
    (
        "usage-infinite-tokens",
        "Usage.from_openai calls int() on a float token count: a 200 with usage.prompt_tokens "
        "1e999 (or Infinity) lets OverflowError out of AsyncClient.chat",
        _answer(b'{"choices": [], "usage": {"prompt_tokens": 1e999}}'),
        OverflowError,
    ),
    (
        "usage-infinite-tokens-streamed",
        "the same in a stream: a usage chunk with completion_tokens 1e999 lets OverflowError "
        "out of AsyncClient.stream (StreamAssembler.response)",
        _answer(
            b'data: {"choices": [{"delta": {"content": "x"}, "finish_reason": "stop"}], '
            b'"usage": {"completion_tokens": 1e999}}\n\n',
            streamed=True,
        ),
        OverflowError,
    ),
    (
        "usage-cost-not-a-number",
        "Usage.from_openai builds Decimal(str(cost)): usage.cost 'abc' raises "
        "decimal.InvalidOperation, an ArithmeticError that SHAPE_ERRORS does not catch",
        _answer(b'{"choices": [], "usage": {"cost": "abc"}}'),
        decimal.InvalidOperation,
    ),
    (
        "deep-json-answer",
        "Backend._json catches ValueError only: json.loads of a deeply nested 200 body raises "
        "RecursionError",
        _answer(_deep(100_000)),
        RecursionError,
    ),
    (
        "deep-json-stream-chunk",
        "the same for one SSE data line",
        _answer(b"data: " + _deep(100_000) + b"\n\n", streamed=True),
        RecursionError,
    ),
    (
        "deep-json-error-answer",
        "Backend._error catches ValueError only: a deeply nested 500 body raises RecursionError",
        _answer(_deep(100_000), status=500),
        RecursionError,
    ),
    (
        "wire-deep-json-body",
        "parse_body catches ValueError and UnicodeDecodeError: a deeply nested request body "
        "raises RecursionError (WireApp answers it with a 500, not a 400)",
        lambda _scratch: parse_body(_deep(100_000)),
        RecursionError,
    ),
    (
        "wire-hint-not-a-list",
        "_hints iterates vlmroute.providers/exclude before checking they are lists: "
        "{'vlmroute': {'providers': 5}} raises TypeError: 'int' object is not iterable",
        _wire({**_HI, "vlmroute": {"providers": 5}}),
        TypeError,
    ),
    (
        "wire-deadline-huge-int",
        "_seconds catches TypeError/ValueError around float(): vlmroute.deadline_s 10**400 "
        "(a JSON integer) raises OverflowError",
        _wire({**_HI, "vlmroute": {"deadline_s": 10**400}}),
        OverflowError,
    ),
    (
        "wire-response-format-unhashable-type",
        "_asks_json tests `kind not in JSON_FORMATS` (a frozenset): response_format "
        "{'type': []} raises TypeError: unhashable type: 'list'",
        _wire({**_HI, "response_format": {"type": []}}),
        TypeError,
    ),
    (
        "pricing-bad-timestamp",
        "_to_python lets PyYAML's constructor errors out: a plain date that is no date "
        "(as_of: 2026-13-01) raises ValueError: month must be in 1..12",
        _pricing_file("as_of: 2026-13-01\n"),
        ValueError,
    ),
    (
        "pricing-bad-bool-tag",
        "the same for a tagged scalar: x: !!bool maybe raises KeyError: 'maybe' (and !!int abc "
        "ValueError, !!timestamp x AttributeError)",
        _pricing_file("x: !!bool maybe\n"),
        KeyError,
    ),
    (
        "pricing-unhashable-key",
        "_to_python tests `key in out` with a key built from a sequence node: "
        "'? [1, 2]\\n: x' raises TypeError: unhashable type: 'list'",
        _pricing_file("? [1, 2]\n: x\n"),
        TypeError,
    ),
    (
        "pricing-recursive-alias",
        "_to_python follows aliases with no memory: 'a: &a [*a]' recurses until RecursionError",
        _pricing_file("a: &a [*a]\n"),
        RecursionError,
    ),
    (
        "pricing-alias-bomb",
        "_to_python expands every alias again: a 10-per-level alias bomb takes 10**depth "
        "steps (366 bytes at depth 6: about 3 s; this one, 484 bytes, hours)",
        _pricing_file(_bomb(8)),
        Hang,
    ),
    (
        "pricing-deep-nesting",
        "PyYAML's composer recurses per nesting level; _read_yaml catches YAMLError only, so "
        "5000 '[' raise RecursionError",
        _pricing_file("[" * 5000 + "]" * 5000),
        RecursionError,
    ),
    (
        "workload-deep-nesting",
        "the same in _read_workload (yaml.safe_load)",
        _workload_file("[" * 5000 + "]" * 5000),
        RecursionError,
    ),
    (
        "router-config-deep-nesting",
        "the same in load_router_config (yaml.safe_load)",
        _router_file("[" * 5000 + "]" * 5000),
        RecursionError,
    ),
    (
        "workload-bad-timestamp",
        "_read_workload catches YAMLError only, and yaml.safe_load raises ValueError for "
        "'a: 2026-13-01' (KeyError for !!bool maybe, AttributeError for !!timestamp x)",
        _workload_file("requests: 1\nstart: 2026-13-01\n"),
        ValueError,
    ),
    (
        "router-config-bad-timestamp",
        "the same in load_router_config: 'a: 2026-13-01' raises ValueError",
        _router_file("offers: [{offer: zhipu-flash}]\nsince: 2026-13-01\n"),
        ValueError,
    ),
    (
        "workload-huge-int-duration",
        "parse_duration calls float() on an int: Workload.from_mapping({'requests': 1, "
        "'deadline': 10**400}) raises OverflowError (a 401-digit deadline in a YAML workload)",
        lambda _scratch: Workload.from_mapping({"requests": 1, "deadline": 10**400}),
        OverflowError,
    ),
]


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(call, id=name, marks=pytest.mark.xfail(strict=True, reason=why, raises=raises))
        for name, why, call, raises in _BUGS
    ],
)
def test_known_bug(scratch: Path, case: Callable[[Path], object]) -> None:
    """Each case lets a foreign exception out today (the xfail); fixed, it passes strictly
    (XPASS fails the run): delete the case and its KNOWN entry."""
    only(lambda: case(scratch), tolerate_known=False, limit_s=BOMB_LIMIT_S)


@pytest.mark.parametrize(
    "load",
    [
        pytest.param(_workload_file, id="workload"),
        pytest.param(_router_file, id="router-config"),
    ],
)
def test_alias_bombs_do_not_hang_the_safe_load_loaders(
    scratch: Path, load: Callable[[str], Callable[[Path], object]]
) -> None:
    only(lambda: load(_bomb(9))(scratch))
