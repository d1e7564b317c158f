"""The drop-in inside four frameworks: langchain-openai, pydantic-ai, instructor, openai-agents.

Each framework is handed a ``vlmroute.OpenAI`` / ``vlmroute.AsyncOpenAI`` where it takes an
openai client, and is used the way its own documentation shows; the offers are real loopback
fake providers (``vlmroute.testing``): Zhipu's free Flash with an in-flight cap, OpenRouter as
the paid fallback and, where a test needs one, a vLLM server as the ``local-gpu`` offer.
Every test checks both ends: the JSON each fake received (the provider's model id, the
messages, images in the provider's own form, the sampling fields its dialect takes) and what
the application got back (the fake's answer, its reasoning where the framework keeps it, the
model that served it). For each framework this proves

1. a plain call (sync where the framework has it) and 2. an async call answer through the
   router from the cheapest offer, with the messages the app sent;
3. streaming yields the fake's answer, delta by delta;
4. a data-URI PNG arrives at Zhipu as raw base64 (its SDKs' form) and at OpenRouter as is;
5. temperature, top_p, max_tokens (and penalties where the framework takes them) are on the
   wire; Zhipu gets no penalties, OpenRouter gets them;
6. a 429 with code 1302 from Flash fails over to OpenRouter (a stream too, before its first
   delta): the app gets the answer, and the serving model where the framework shows it;
7. structured output: prompted JSON (instructor's MD_JSON, pydantic-ai's PromptedOutput with
   a profile that asks for no JSON mode) works on any offer; ``response_format`` JSON
   (instructor's JSON mode, langchain's json_mode / json_schema, pydantic-ai's default
   prompted and native output, openai-agents' output_type) reaches only a vLLM offer, and
   without one fails at once with the drop-in's 400 ``unsupported_parameter`` naming
   ``response_format``; tool-based structured output fails with the 400 naming the tool
   field, since GLM-4.1V has no function calling here. No request reaches a provider then.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import struct
import zlib
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import agents
import instructor
import openai
import pytest
from agents import OpenAIChatCompletionsModel, ReasoningItem, Runner, set_tracing_disabled
from instructor.core.exceptions import InstructorRetryException
from langchain_core.language_models import LanguageModelInput
from langchain_core.messages import AIMessageChunk, HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI
from openai.types.chat import ChatCompletionUserMessageParam
from openai.types.responses import ResponseTextDeltaEvent
from pydantic import BaseModel
from pydantic_ai import Agent, BinaryContent
from pydantic_ai.exceptions import ModelHTTPError
from pydantic_ai.messages import ModelResponse, TextPart, ThinkingPart
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.output import NativeOutput, PromptedOutput
from pydantic_ai.profiles import ModelProfile
from pydantic_ai.providers.openai import OpenAIProvider
from pydantic_ai.settings import ModelSettings

import vlmroute
from vlmroute.testing import FakeProvider, Fault

pytestmark = pytest.mark.usefixtures("no_env_keys")

GLM = "glm-4.1v-thinking"  # the model's own name: every configured offer, cheapest first
FLASH_MODEL = "glm-4.1v-thinking-flash"
OPENROUTER_MODEL = "thudm/glm-4.1v-9b-thinking"
LOCAL_MODEL = "zai-org/GLM-4.1V-9B-Thinking"
KEYS = {"zhipu": "k1", "openrouter": "k2"}
RETRY: dict[str, Any] = {"attempts": 2, "faults": ["server", "connection"], "initial_backoff_s": 0}
CAP = 2
ANSWER = '{"animal": "cat", "count": 1}'
REASONING = "A cat sits on a mat: one animal."
SYSTEM = "Answer briefly."
QUESTION = "What animal is on the mat?"
PENALTIES = ("presence_penalty", "frequency_penalty")


class Animal(BaseModel):
    animal: str
    count: int


EXPECTED = Animal(animal="cat", count=1)


def assert_animal(got: object) -> None:
    """``got`` is the parsed answer (instructor returns a subclass of the response model)."""
    assert isinstance(got, Animal)
    assert got.model_dump() == EXPECTED.model_dump()


def tiny_png(width: int = 2, height: int = 2) -> bytes:
    """A complete, valid RGB PNG (signature, IHDR, IDAT, IEND), all red."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    rows = b"".join(b"\0" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


PNG = tiny_png()
PNG_B64 = base64.b64encode(PNG).decode()
PNG_URI = f"data:image/png;base64,{PNG_B64}"


# ---------------------------------------------------------------- the fake offers


@functools.cache
def pricing() -> vlmroute.PriceTable:
    """The bundled pricing table, read once (each client would read it again)."""
    return vlmroute.load_pricing()


@dataclass(frozen=True, slots=True)
class Offers:
    """The three fake providers of one test, and the router configs that use them."""

    flash: FakeProvider  # zhipu-flash: free, capped
    backup: FakeProvider  # openrouter: paid, the fallback
    local: FakeProvider  # local-gpu: vLLM, the only offer that takes response_format

    def config(self, *, local: bool = False) -> dict[str, Any]:
        offers: list[dict[str, Any]] = [
            {"offer": "zhipu-flash", "base_url": self.flash.base_url, "cap": CAP},
            {"offer": "openrouter", "base_url": self.backup.base_url},
        ]
        if local:
            offers.append({"offer": "local-gpu", "base_url": self.local.base_url})
        return {"offers": offers, "ledger": False, "retry": RETRY}

    def sync_client(self, *, local: bool = False) -> vlmroute.OpenAI:
        return vlmroute.OpenAI(config=self.config(local=local), api_keys=KEYS, pricing=pricing())

    def async_client(self, *, local: bool = False) -> vlmroute.AsyncOpenAI:
        config = self.config(local=local)
        return vlmroute.AsyncOpenAI(config=config, api_keys=KEYS, pricing=pricing())

    def seen(self) -> tuple[int, int, int]:
        """Chat requests each fake received: (flash, backup, local)."""
        flash, backup, local = (f.stats for f in (self.flash, self.backup, self.local))
        return flash.requests_seen, backup.requests_seen, local.requests_seen

    def only_request(self, fake: FakeProvider) -> dict[str, Any]:
        """The one request of the test, which ``fake`` (and no other fake) received."""
        for other in (self.flash, self.backup, self.local):
            if other is not fake:
                assert other.requests == [], f"{other} got a request too"
        assert len(fake.requests) == 1, fake.requests
        body: dict[str, Any] = fake.requests[0].json
        return body

    def assert_failed_over(self) -> dict[str, Any]:
        """Flash answered its injected 1302 and OpenRouter served; OpenRouter's request."""
        flash = self.flash.stats
        assert (flash.requests_seen, flash.faulted, flash.status_counts[429]) == (1, 1, 1)
        assert self.backup.stats.served == 1
        assert self.local.requests == []
        body: dict[str, Any] = self.backup.requests[0].json
        assert body["model"] == OPENROUTER_MODEL
        assert body["messages"] == self.flash.requests[0].json["messages"]
        return body


@pytest.fixture
def offers() -> Iterator[Offers]:
    with (
        FakeProvider("zhipu", cap=CAP, answer=ANSWER, reasoning=REASONING) as flash,
        FakeProvider("openrouter", answer=ANSWER, reasoning=REASONING) as backup,
        FakeProvider("vllm", answer=ANSWER, reasoning=REASONING) as local,
    ):
        yield Offers(flash, backup, local)


@pytest.fixture(scope="module", autouse=True)
def _no_agent_tracing() -> None:
    # openai-agents would otherwise export traces to OpenAI (no key here: a log line).
    set_tracing_disabled(True)


@contextmanager
def own_event_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """The thread's event loop for a framework's ``run_sync``, closed afterwards.

    pydantic-ai's and openai-agents' ``run_sync`` run on the thread's current loop and
    create one, left open, when there is none; a loop of ours is closed when the test ends.
    """
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        yield loop
    finally:
        asyncio.set_event_loop(None)
        loop.close()


def causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception it was raised from or during."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def bad_request_in(exc: BaseException) -> openai.BadRequestError:
    found = [e for e in causes(exc) if isinstance(e, openai.BadRequestError)]
    assert found, f"no openai.BadRequestError behind {exc!r}"
    return found[0]


def assert_refused(error: openai.BadRequestError, param: str) -> None:
    """The drop-in's own 400: ``unsupported_parameter``, naming the field."""
    assert error.status_code == 400
    assert error.code == "unsupported_parameter"
    assert error.param == param
    assert param in error.message


def user_text(body: dict[str, Any]) -> str:
    """The text of the last user message of a request body (a string or text parts)."""
    content = body["messages"][-1]["content"]
    if isinstance(content, str):
        return content
    return "".join(p["text"] for p in content if p["type"] == "text")


def assert_sampling(body: dict[str, Any], offer: str) -> None:
    """What ``SAMPLING`` becomes on the wire of ``offer``."""
    assert body["model"] == {"zhipu-flash": FLASH_MODEL, "openrouter": OPENROUTER_MODEL}[offer]
    assert (body["temperature"], body["top_p"], body["max_tokens"]) == (0.3, 0.9, 120)
    if offer == "openrouter":
        assert (body["presence_penalty"], body["frequency_penalty"]) == (0.5, 0.25)
    else:  # Zhipu's API takes no penalties: they are left out, not refused
        assert not set(PENALTIES) & set(body)


SAMPLING: dict[str, Any] = {
    "temperature": 0.3,
    "top_p": 0.9,
    "max_tokens": 120,
    "presence_penalty": 0.5,
    "frequency_penalty": 0.25,
}
SAMPLED_OFFERS = pytest.mark.parametrize("offer", ["zhipu-flash", "openrouter"])


# ---------------------------------------------------------------- langchain-openai


def chat_openai(
    client: vlmroute.OpenAI, aclient: vlmroute.AsyncOpenAI, model: str = GLM, **settings: Any
) -> ChatOpenAI:
    """langchain's ChatOpenAI on the drop-in clients (sync and async, as it takes them)."""
    return ChatOpenAI(
        model=model,
        client=client.chat.completions,
        root_client=client,
        async_client=aclient.chat.completions,
        root_async_client=aclient,
        **settings,
    )


LangchainClients = tuple[vlmroute.OpenAI, vlmroute.AsyncOpenAI]


def _langchain_clients(offers: Offers, *, local: bool) -> Iterator[LangchainClients]:
    aclient = offers.async_client(local=local)
    with offers.sync_client(local=local) as client:
        yield client, aclient
    asyncio.run(aclient.close())


@pytest.fixture
def lc_clients(offers: Offers) -> Iterator[LangchainClients]:
    """Clients for langchain's sync calls (Flash and OpenRouter; the async one unused)."""
    yield from _langchain_clients(offers, local=False)


@pytest.fixture
def lc_local_clients(offers: Offers) -> Iterator[LangchainClients]:
    """As ``lc_clients``, with the vLLM offer configured too."""
    yield from _langchain_clients(offers, local=True)


LC_MESSAGES = [SystemMessage(SYSTEM), HumanMessage(QUESTION)]
WIRE_MESSAGES = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION}]


def test_langchain_invoke_is_served_by_the_free_offer(
    offers: Offers, lc_clients: LangchainClients
) -> None:
    reply = chat_openai(*lc_clients).invoke(LC_MESSAGES)
    assert reply.content == ANSWER
    assert reply.response_metadata["model_name"] == FLASH_MODEL
    body = offers.only_request(offers.flash)
    assert body["model"] == FLASH_MODEL
    assert body["messages"] == WIRE_MESSAGES
    assert "stream" not in body


def test_langchain_ainvoke(offers: Offers) -> None:
    async def main() -> str | list[Any]:
        async with offers.async_client() as aclient:
            with offers.sync_client() as client:  # ChatOpenAI takes both; this one unused
                reply = await chat_openai(client, aclient).ainvoke(LC_MESSAGES)
        return reply.content

    assert asyncio.run(main()) == ANSWER
    body = offers.only_request(offers.flash)
    assert (body["model"], body["messages"]) == (FLASH_MODEL, WIRE_MESSAGES)


def test_langchain_stream_yields_the_answer_in_deltas(
    offers: Offers, lc_clients: LangchainClients
) -> None:
    chunks = list(chat_openai(*lc_clients).stream(LC_MESSAGES))
    texts = [c.content for c in chunks if c.content]
    assert len(texts) > 1
    assert "".join(map(str, texts)) == ANSWER
    body = offers.only_request(offers.flash)
    assert (body["model"], body["messages"], body["stream"]) == (FLASH_MODEL, WIRE_MESSAGES, True)


def test_langchain_astream_with_usage(offers: Offers) -> None:
    """``stream_usage=True`` asks for OpenAI's usage chunk: the drop-in adds it."""

    async def main() -> AIMessageChunk:
        async with offers.async_client() as aclient:
            with offers.sync_client() as client:
                llm = chat_openai(client, aclient, stream_usage=True)
                total: AIMessageChunk | None = None
                async for chunk in llm.astream(LC_MESSAGES):
                    total = chunk if total is None else total + chunk
        assert total is not None
        return total

    total = asyncio.run(main())
    assert total.content == ANSWER
    assert total.response_metadata["model_name"] == FLASH_MODEL
    assert total.usage_metadata is not None
    assert total.usage_metadata["input_tokens"] > 0
    assert total.usage_metadata["output_tokens"] > 0
    body = offers.only_request(offers.flash)
    assert body["stream"] is True
    assert "stream_options" not in body  # Zhipu sends usage in its last chunk unasked


@pytest.mark.parametrize(
    "image",
    [
        pytest.param({"type": "image_url", "image_url": {"url": PNG_URI}}, id="openai-part"),
        pytest.param(
            {"type": "image", "base64": PNG_B64, "mime_type": "image/png"}, id="standard-block"
        ),
    ],
)
def test_langchain_image_reaches_zhipu_as_raw_base64(
    offers: Offers,
    lc_clients: LangchainClients,
    image: dict[str, Any],
) -> None:
    message = HumanMessage(content=[{"type": "text", "text": QUESTION}, image])
    reply = chat_openai(*lc_clients).invoke([message])
    assert reply.content == ANSWER
    body = offers.only_request(offers.flash)
    assert body["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": QUESTION},
                {"type": "image_url", "image_url": {"url": PNG_B64}},
            ],
        }
    ]


def test_langchain_image_reaches_openrouter_as_a_data_uri(
    offers: Offers, lc_clients: LangchainClients
) -> None:
    # image_url as a bare string: the form older langchain examples use; a {"url": ...} object
    # is what OpenRouter gets.
    message = HumanMessage(
        content=[{"type": "text", "text": QUESTION}, {"type": "image_url", "image_url": PNG_URI}]
    )
    reply = chat_openai(*lc_clients, model="openrouter").invoke([message])
    assert reply.response_metadata["model_name"] == OPENROUTER_MODEL
    part = offers.only_request(offers.backup)["messages"][0]["content"][1]
    assert part == {"type": "image_url", "image_url": {"url": PNG_URI}}


@SAMPLED_OFFERS
def test_langchain_sampling_parameters_on_the_wire(
    offers: Offers, lc_clients: LangchainClients, offer: str
) -> None:
    llm = chat_openai(*lc_clients, model=offer, seed=7, stop=["END"], **SAMPLING)
    assert llm.invoke(QUESTION).content == ANSWER
    body = offers.only_request(offers.flash if offer == "zhipu-flash" else offers.backup)
    assert_sampling(body, offer)
    assert (body["seed"], body["stop"]) == (7, ["END"])


def test_langchain_temperature_zero_and_user_in_zhipus_terms(
    offers: Offers, lc_clients: LangchainClients
) -> None:
    llm = chat_openai(*lc_clients, temperature=0, model_kwargs={"user": "u-42"})
    assert llm.invoke(QUESTION).content == ANSWER
    body = offers.only_request(offers.flash)
    assert body["do_sample"] is False
    assert "temperature" not in body
    assert body["user_id"] == "u-42"
    assert "user" not in body


def test_langchain_falls_over_to_openrouter_on_1302(
    offers: Offers, lc_clients: LangchainClients
) -> None:
    offers.flash.inject(Fault.rate_limit(), times=1)
    reply = chat_openai(*lc_clients).invoke(LC_MESSAGES)
    assert reply.content == ANSWER
    assert reply.response_metadata["model_name"] == OPENROUTER_MODEL
    assert offers.assert_failed_over()["messages"] == WIRE_MESSAGES


def test_langchain_stream_falls_over_before_the_first_delta(
    offers: Offers, lc_clients: LangchainClients
) -> None:
    offers.flash.inject(Fault.rate_limit(), times=1)
    chunks = list(chat_openai(*lc_clients).stream(LC_MESSAGES))
    assert "".join(str(c.content) for c in chunks) == ANSWER
    assert {c.response_metadata.get("model_name") for c in chunks} >= {OPENROUTER_MODEL}
    assert FLASH_MODEL not in {c.response_metadata.get("model_name") for c in chunks}
    assert offers.assert_failed_over()["stream"] is True


def test_langchain_batch_keeps_flash_within_its_cap(
    offers: Offers, lc_clients: LangchainClients
) -> None:
    """Six concurrent calls (langchain's thread pool): Flash never sees more than its cap."""
    prompts: list[LanguageModelInput] = [f"question {i}" for i in range(6)]
    replies = chat_openai(*lc_clients).batch(prompts, config={"max_concurrency": 6})
    assert [r.content for r in replies] == [ANSWER] * 6
    flash = offers.flash.stats
    assert flash.peak_in_flight <= CAP
    assert flash.rejected == 0
    assert flash.served + offers.backup.stats.served == 6
    got = sorted(user_text(r.json) for f in (offers.flash, offers.backup) for r in f.requests)
    assert got == prompts


def test_langchain_json_mode_without_a_vllm_offer_is_a_clear_400(
    offers: Offers, lc_clients: LangchainClients
) -> None:
    llm = chat_openai(*lc_clients).with_structured_output(Animal, method="json_mode")
    # langchain re-raises it as its OpenAIInvalidRequestError, an openai.BadRequestError.
    with pytest.raises(openai.BadRequestError) as refused:
        llm.invoke(QUESTION)
    assert_refused(refused.value, "response_format")
    assert "vLLM" in refused.value.message  # and it says what to do instead
    assert offers.seen() == (0, 0, 0)


@pytest.mark.parametrize(
    ("method", "response_format"),
    [("json_mode", "json_object"), ("json_schema", "json_schema")],
)
def test_langchain_structured_output_pinned_to_vllm(
    offers: Offers,
    lc_local_clients: LangchainClients,
    method: Literal["json_mode", "json_schema"],
    response_format: str,
) -> None:
    llm = chat_openai(*lc_local_clients, model="local-gpu")
    structured = llm.with_structured_output(Animal, method=method)
    assert structured.invoke(f"{QUESTION} Answer in JSON.") == EXPECTED
    body = offers.only_request(offers.local)
    assert body["model"] == LOCAL_MODEL
    assert body["response_format"]["type"] == response_format


def test_langchain_json_mode_on_the_model_name_goes_to_the_vllm_offer(
    offers: Offers, lc_local_clients: LangchainClients
) -> None:
    """With local-gpu configured, a json_object request skips the cheaper Flash."""
    llm = chat_openai(*lc_local_clients)
    structured = llm.with_structured_output(Animal, method="json_mode")
    assert structured.invoke(f"{QUESTION} Answer in JSON.") == EXPECTED
    assert offers.only_request(offers.local)["response_format"] == {"type": "json_object"}


def test_langchain_function_calling_is_a_clear_400(
    offers: Offers, lc_clients: LangchainClients
) -> None:
    structured = chat_openai(*lc_clients).with_structured_output(Animal, method="function_calling")
    with pytest.raises(openai.BadRequestError) as refused:
        structured.invoke(QUESTION)
    assert refused.value.param in ("tools", "tool_choice")
    assert_refused(refused.value, str(refused.value.param))
    assert offers.seen() == (0, 0, 0)


# ---------------------------------------------------------------- pydantic-ai


def pai_model(
    aclient: vlmroute.AsyncOpenAI, profile: ModelProfile | None = None
) -> OpenAIChatModel:
    return OpenAIChatModel(GLM, provider=OpenAIProvider(openai_client=aclient), profile=profile)


def last_response(messages: list[Any]) -> ModelResponse:
    response = messages[-1]
    assert isinstance(response, ModelResponse)
    return response


def thinking(response: ModelResponse) -> str:
    return "".join(p.content for p in response.parts if isinstance(p, ThinkingPart))


def test_pydantic_ai_run_sync(offers: Offers) -> None:
    with own_event_loop() as loop:
        aclient = offers.async_client()
        try:
            agent = Agent(pai_model(aclient), instructions=SYSTEM)
            result = agent.run_sync(QUESTION)
        finally:
            loop.run_until_complete(aclient.close())
    assert result.output == ANSWER
    response = last_response(result.all_messages())
    assert response.model_name == FLASH_MODEL
    assert thinking(response) == REASONING  # reasoning_content became a ThinkingPart
    body = offers.only_request(offers.flash)
    assert (body["model"], body["messages"]) == (FLASH_MODEL, WIRE_MESSAGES)


def test_pydantic_ai_run_async_and_a_second_turn(offers: Offers) -> None:
    async def main() -> tuple[str, str]:
        async with offers.async_client() as aclient:
            agent = Agent(pai_model(aclient), instructions=SYSTEM)
            first = await agent.run(QUESTION)
            second = await agent.run("And how many?", message_history=first.all_messages())
        return first.output, second.output

    assert asyncio.run(main()) == (ANSWER, ANSWER)
    first, second = (r.json for r in offers.flash.requests)
    assert (first["model"], first["messages"]) == (FLASH_MODEL, WIRE_MESSAGES)
    assert second["messages"] == [
        *WIRE_MESSAGES,
        {"role": "assistant", "content": ANSWER},
        {"role": "user", "content": "And how many?"},
    ]


def test_pydantic_ai_run_stream(offers: Offers) -> None:
    async def main() -> tuple[list[str], list[Any]]:
        async with offers.async_client() as aclient:
            agent = Agent(pai_model(aclient), instructions=SYSTEM)
            async with agent.run_stream(QUESTION) as stream:
                deltas = [d async for d in stream.stream_text(delta=True, debounce_by=None)]
            return deltas, stream.all_messages()

    deltas, messages = asyncio.run(main())
    assert len(deltas) > 1
    assert "".join(deltas) == ANSWER
    response = last_response(messages)
    assert thinking(response) == REASONING
    assert [p.content for p in response.parts if isinstance(p, TextPart)] == [ANSWER]
    body = offers.only_request(offers.flash)
    assert (body["messages"], body["stream"]) == (WIRE_MESSAGES, True)


def test_pydantic_ai_image_reaches_zhipu_as_raw_base64(offers: Offers) -> None:
    async def main() -> str:
        async with offers.async_client() as aclient:
            result = await Agent(pai_model(aclient)).run(
                [QUESTION, BinaryContent(data=PNG, media_type="image/png")]
            )
        return result.output

    assert asyncio.run(main()) == ANSWER
    content = offers.only_request(offers.flash)["messages"][0]["content"]
    assert content == [
        {"type": "text", "text": QUESTION},
        {"type": "image_url", "image_url": {"url": PNG_B64}},
    ]


@SAMPLED_OFFERS
def test_pydantic_ai_sampling_parameters_on_the_wire(offers: Offers, offer: str) -> None:
    settings = ModelSettings(
        temperature=0.3, top_p=0.9, max_tokens=120, presence_penalty=0.5, frequency_penalty=0.25
    )

    # The provider's model id pins the offer. Not the offer id: pydantic-ai's OpenAI profile
    # takes any name starting with "o" ("openrouter") for an o-series reasoning model and
    # drops the sampling fields, with a UserWarning.
    name = {"zhipu-flash": FLASH_MODEL, "openrouter": OPENROUTER_MODEL}[offer]

    async def main() -> str:
        async with offers.async_client() as aclient:
            model = OpenAIChatModel(name, provider=OpenAIProvider(openai_client=aclient))
            result = await Agent(model, model_settings=settings).run(QUESTION)
        return result.output

    assert asyncio.run(main()) == ANSWER
    body = offers.only_request(offers.flash if offer == "zhipu-flash" else offers.backup)
    assert_sampling(body, offer)


def test_pydantic_ai_falls_over_to_openrouter_on_1302(offers: Offers) -> None:
    offers.flash.inject(Fault.rate_limit(), times=1)

    async def main() -> tuple[str, ModelResponse]:
        async with offers.async_client() as aclient:
            result = await Agent(pai_model(aclient), instructions=SYSTEM).run(QUESTION)
        return result.output, last_response(result.all_messages())

    output, response = asyncio.run(main())
    assert output == ANSWER
    assert response.model_name == OPENROUTER_MODEL
    assert thinking(response) == REASONING  # OpenRouter's `reasoning`, as reasoning_content
    assert offers.assert_failed_over()["messages"] == WIRE_MESSAGES


def test_pydantic_ai_run_stream_falls_over_before_the_first_delta(offers: Offers) -> None:
    offers.flash.inject(Fault.rate_limit(), times=1)

    async def main() -> str:
        async with offers.async_client() as aclient:
            agent = Agent(pai_model(aclient), instructions=SYSTEM)
            async with agent.run_stream(QUESTION) as stream:
                return "".join([d async for d in stream.stream_text(delta=True)])

    assert asyncio.run(main()) == ANSWER
    assert offers.assert_failed_over()["stream"] is True


def test_pydantic_ai_tool_output_is_a_clear_400(offers: Offers) -> None:
    """``output_type=Model`` is a tool call by default; GLM-4.1V has none here."""

    async def main() -> None:
        async with offers.async_client() as aclient:
            with pytest.raises(ModelHTTPError) as refused:
                await Agent(pai_model(aclient), output_type=Animal).run(QUESTION)
        assert refused.value.status_code == 400
        error = bad_request_in(refused.value)
        assert error.param in ("tools", "tool_choice")
        assert_refused(error, str(error.param))

    asyncio.run(main())
    assert offers.seen() == (0, 0, 0)


def test_pydantic_ai_prompted_output_asks_json_mode_which_needs_vllm(offers: Offers) -> None:
    """pydantic-ai's OpenAI profile sends json_object with PromptedOutput: refused here."""

    async def main() -> None:
        async with offers.async_client() as aclient:
            agent = Agent(pai_model(aclient), output_type=PromptedOutput(Animal))
            with pytest.raises(ModelHTTPError) as refused:
                await agent.run(QUESTION)
        assert refused.value.status_code == 400
        assert_refused(bad_request_in(refused.value), "response_format")

    asyncio.run(main())
    assert offers.seen() == (0, 0, 0)


def assert_prompted_json(body: dict[str, Any]) -> None:
    """No JSON mode and no tools: the schema is in the system prompt, the question as sent."""
    assert "response_format" not in body
    assert "tools" not in body
    system, user = body["messages"]
    assert system["role"] == "system"
    assert '"animal"' in system["content"]
    assert user == {"role": "user", "content": QUESTION}


def test_pydantic_ai_prompted_output_without_json_mode_works_on_any_offer(
    offers: Offers,
) -> None:
    """A profile without JSON mode: the schema goes in the prompt, the answer is parsed."""

    async def main() -> Animal:
        async with offers.async_client() as aclient:
            model = pai_model(aclient, ModelProfile(supports_json_object_output=False))
            result = await Agent(model, output_type=PromptedOutput(Animal)).run(QUESTION)
        return result.output

    assert asyncio.run(main()) == EXPECTED
    assert_prompted_json(offers.only_request(offers.flash))


def test_pydantic_ai_glm_profile_makes_a_plain_output_type_prompted(offers: Offers) -> None:
    """A profile saying what GLM-4.1V lacks lets ``output_type=Model`` work unchanged."""
    glm = ModelProfile(
        supports_tools=False,
        supports_json_object_output=False,
        default_structured_output_mode="prompted",
    )

    async def main() -> Animal:
        async with offers.async_client() as aclient:
            result = await Agent(pai_model(aclient, glm), output_type=Animal).run(QUESTION)
        return result.output

    assert asyncio.run(main()) == EXPECTED
    assert_prompted_json(offers.only_request(offers.flash))


@pytest.mark.parametrize(
    ("output", "response_format"),
    [(PromptedOutput(Animal), "json_object"), (NativeOutput(Animal), "json_schema")],
    ids=["prompted", "native"],
)
def test_pydantic_ai_json_output_goes_to_the_vllm_offer(
    offers: Offers, output: PromptedOutput[Animal] | NativeOutput[Animal], response_format: str
) -> None:
    async def main() -> Animal:
        async with offers.async_client(local=True) as aclient:
            result = await Agent(pai_model(aclient), output_type=output).run(QUESTION)
        return result.output

    assert asyncio.run(main()) == EXPECTED
    body = offers.only_request(offers.local)
    assert body["model"] == LOCAL_MODEL
    assert body["response_format"]["type"] == response_format


# ---------------------------------------------------------------- instructor

INSTRUCTOR_MESSAGES: list[Any] = [
    {"role": "system", "content": SYSTEM},
    {"role": "user", "content": QUESTION},
]


def test_instructor_md_json_sync(offers: Offers) -> None:
    with offers.sync_client() as client:
        ic = instructor.from_openai(client, mode=instructor.Mode.MD_JSON)
        animal, completion = ic.chat.completions.create_with_completion(
            model=GLM, response_model=Animal, messages=INSTRUCTOR_MESSAGES
        )
    assert_animal(animal)
    routing = vlmroute.routing(completion)
    assert routing is not None
    assert (routing["offer"], routing["provider"]) == ("zhipu-flash", "zhipu")
    assert completion.choices[0].message.reasoning_content == REASONING
    body = offers.only_request(offers.flash)
    assert body["model"] == FLASH_MODEL
    assert "response_format" not in body
    system, user = body["messages"]
    assert system["role"] == "system"
    assert SYSTEM in system["content"]
    assert '"animal"' in system["content"]
    assert user["role"] == "user"
    assert user["content"].startswith(QUESTION)
    assert "json" in user["content"]  # MD_JSON's own request for a JSON code block


def test_instructor_md_json_parses_a_fenced_answer() -> None:
    """MD_JSON asks for a ```json block; a model that complies is parsed too."""
    with FakeProvider("zhipu", answer=f"```json\n{ANSWER}\n```") as fenced:
        offer = {"offer": "zhipu-flash", "base_url": fenced.base_url}
        config = {"offers": [offer], "ledger": False}
        with vlmroute.OpenAI(config=config, api_keys=KEYS, pricing=pricing()) as client:
            ic = instructor.from_openai(client, mode=instructor.Mode.MD_JSON)
            animal = ic.chat.completions.create(
                model=GLM, response_model=Animal, messages=INSTRUCTOR_MESSAGES
            )
        assert fenced.stats.served == 1
    assert_animal(animal)


def test_instructor_md_json_async(offers: Offers) -> None:
    async def main() -> Animal:
        async with offers.async_client() as aclient:
            ic = instructor.from_openai(aclient, mode=instructor.Mode.MD_JSON)
            return await ic.chat.completions.create(
                model=GLM, response_model=Animal, messages=INSTRUCTOR_MESSAGES
            )

    assert_animal(asyncio.run(main()))
    assert offers.only_request(offers.flash)["model"] == FLASH_MODEL


def test_instructor_create_partial_streams(offers: Offers) -> None:
    """``create_partial`` streams MD_JSON partial objects, sync and async."""
    with offers.sync_client() as client:
        ic = instructor.from_openai(client, mode=instructor.Mode.MD_JSON)
        partials = list(
            ic.chat.completions.create_partial(
                model=GLM, response_model=Animal, messages=INSTRUCTOR_MESSAGES
            )
        )

    async def main() -> list[Any]:
        async with offers.async_client() as aclient:
            aic = instructor.from_openai(aclient, mode=instructor.Mode.MD_JSON)
            stream: AsyncIterator[Any] = aic.chat.completions.create_partial(
                model=GLM, response_model=Animal, messages=INSTRUCTOR_MESSAGES
            )
            return [p async for p in stream]

    apartials = asyncio.run(main())
    for got in (partials, apartials):
        assert len(got) > 1
        assert got[0].animal is None  # built up piece by piece...
        assert (got[-1].animal, got[-1].count) == ("cat", 1)  # ...to the whole answer
    assert [r.json["stream"] for r in offers.flash.requests] == [True, True]


def test_instructor_image_reaches_zhipu_as_raw_base64(offers: Offers) -> None:
    message: ChatCompletionUserMessageParam = {
        "role": "user",
        "content": [
            {"type": "text", "text": QUESTION},
            {"type": "image_url", "image_url": {"url": PNG_URI}},
        ],
    }
    with offers.sync_client() as client:
        ic = instructor.from_openai(client, mode=instructor.Mode.MD_JSON)
        animal = ic.chat.completions.create(model=GLM, response_model=Animal, messages=[message])
    assert_animal(animal)
    parts = offers.only_request(offers.flash)["messages"][-1]["content"]
    assert {"type": "image_url", "image_url": {"url": PNG_B64}} in parts


@SAMPLED_OFFERS
def test_instructor_sampling_parameters_on_the_wire(offers: Offers, offer: str) -> None:
    with offers.sync_client() as client:
        ic = instructor.from_openai(client, mode=instructor.Mode.MD_JSON)
        animal = ic.chat.completions.create(
            model=offer, response_model=Animal, messages=INSTRUCTOR_MESSAGES, **SAMPLING
        )
    assert_animal(animal)
    assert_sampling(
        offers.only_request(offers.flash if offer == "zhipu-flash" else offers.backup), offer
    )


def test_instructor_falls_over_to_openrouter_on_1302(offers: Offers) -> None:
    offers.flash.inject(Fault.rate_limit(), times=1)
    with offers.sync_client() as client:
        ic = instructor.from_openai(client, mode=instructor.Mode.MD_JSON)
        animal, completion = ic.chat.completions.create_with_completion(
            model=GLM, response_model=Animal, messages=INSTRUCTOR_MESSAGES
        )
    assert_animal(animal)
    routing = vlmroute.routing(completion)
    assert routing is not None
    assert routing["offer"] == "openrouter"
    assert [a["offer"] for a in routing["attempts"]] == ["zhipu-flash", "openrouter"]
    assert routing["attempts"][0]["outcome"] != "ok"
    assert routing["attempts"][-1]["outcome"] == "ok"
    assert completion.model == OPENROUTER_MODEL
    offers.assert_failed_over()


@pytest.mark.parametrize("mode", [instructor.Mode.JSON, instructor.Mode.JSON_SCHEMA])
def test_instructor_json_modes_go_to_the_vllm_offer(offers: Offers, mode: instructor.Mode) -> None:
    with offers.sync_client(local=True) as client:
        ic = instructor.from_openai(client, mode=mode)
        animal, completion = ic.chat.completions.create_with_completion(
            model=GLM, response_model=Animal, messages=INSTRUCTOR_MESSAGES
        )
    assert_animal(animal)
    routing = vlmroute.routing(completion)
    assert routing is not None
    assert routing["offer"] == "local-gpu"
    body = offers.only_request(offers.local)
    assert body["model"] == LOCAL_MODEL
    expected = "json_object" if mode is instructor.Mode.JSON else "json_schema"
    assert body["response_format"]["type"] == expected


def test_instructor_json_mode_without_a_vllm_offer_is_a_clear_400(offers: Offers) -> None:
    with offers.sync_client() as client:
        ic = instructor.from_openai(client, mode=instructor.Mode.JSON)
        with pytest.raises(InstructorRetryException) as failed:
            ic.chat.completions.create(
                model=GLM, response_model=Animal, messages=INSTRUCTOR_MESSAGES
            )
    assert_refused(bad_request_in(failed.value), "response_format")
    assert offers.seen() == (0, 0, 0)


def test_instructor_tools_mode_is_a_clear_400(offers: Offers) -> None:
    """instructor's default mode is function calling, which GLM-4.1V has not here."""
    with offers.sync_client() as client:
        ic = instructor.from_openai(client)
        with pytest.raises(InstructorRetryException) as failed:
            ic.chat.completions.create(
                model=GLM, response_model=Animal, messages=INSTRUCTOR_MESSAGES
            )
    error = bad_request_in(failed.value)
    assert error.param in ("tools", "tool_choice")
    assert_refused(error, str(error.param))
    assert offers.seen() == (0, 0, 0)


# ---------------------------------------------------------------- openai-agents


def oa_agent(
    aclient: vlmroute.AsyncOpenAI,
    model: str = GLM,
    settings: agents.ModelSettings | None = None,
    output_type: type[Any] | None = None,
) -> agents.Agent[Any]:
    return agents.Agent(
        name="describer",
        instructions=SYSTEM,
        model=OpenAIChatCompletionsModel(model=model, openai_client=aclient),
        model_settings=settings or agents.ModelSettings(),
        output_type=output_type,
    )


def reasoning_of(items: list[Any]) -> str:
    return "".join(
        s.text for i in items if isinstance(i, ReasoningItem) for s in i.raw_item.summary
    )


def test_agents_run_sync(offers: Offers) -> None:
    with own_event_loop() as loop:
        aclient = offers.async_client()
        try:
            result = Runner.run_sync(oa_agent(aclient), QUESTION)
        finally:
            loop.run_until_complete(aclient.close())
    assert result.final_output == ANSWER
    assert reasoning_of(result.new_items) == REASONING
    body = offers.only_request(offers.flash)
    assert (body["model"], body["messages"]) == (FLASH_MODEL, WIRE_MESSAGES)


def test_agents_run_async(offers: Offers) -> None:
    async def main() -> Any:
        async with offers.async_client() as aclient:
            result = await Runner.run(oa_agent(aclient), QUESTION)
        return result.final_output

    assert asyncio.run(main()) == ANSWER
    body = offers.only_request(offers.flash)
    assert (body["model"], body["messages"]) == (FLASH_MODEL, WIRE_MESSAGES)
    assert "tools" not in body


def test_agents_run_streamed(offers: Offers) -> None:
    async def main() -> tuple[list[str], Any, int]:
        async with offers.async_client() as aclient:
            settings = agents.ModelSettings(include_usage=True)
            run = Runner.run_streamed(oa_agent(aclient, settings=settings), QUESTION)
            deltas = [
                e.data.delta
                async for e in run.stream_events()
                if e.type == "raw_response_event" and isinstance(e.data, ResponseTextDeltaEvent)
            ]
        return deltas, run.final_output, run.context_wrapper.usage.output_tokens

    deltas, output, output_tokens = asyncio.run(main())
    assert len(deltas) > 1
    assert "".join(deltas) == output == ANSWER
    assert output_tokens > 0  # the usage chunk arrived
    body = offers.only_request(offers.flash)
    assert (body["messages"], body["stream"]) == (WIRE_MESSAGES, True)


def test_agents_image_reaches_zhipu_as_raw_base64(offers: Offers) -> None:
    prompt: list[Any] = [
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": QUESTION},
                {"type": "input_image", "image_url": PNG_URI, "detail": "auto"},
            ],
        }
    ]

    async def main() -> Any:
        async with offers.async_client() as aclient:
            result = await Runner.run(oa_agent(aclient), prompt)
        return result.final_output

    assert asyncio.run(main()) == ANSWER
    user = offers.only_request(offers.flash)["messages"][-1]
    assert user["content"] == [
        {"type": "text", "text": QUESTION},
        {"type": "image_url", "image_url": {"url": PNG_B64, "detail": "auto"}},
    ]


@SAMPLED_OFFERS
def test_agents_sampling_parameters_on_the_wire(offers: Offers, offer: str) -> None:
    settings = agents.ModelSettings(**SAMPLING)

    async def main() -> Any:
        async with offers.async_client() as aclient:
            agent = oa_agent(aclient, model=offer, settings=settings)
            result = await Runner.run(agent, QUESTION)
        return result.final_output

    assert asyncio.run(main()) == ANSWER
    assert_sampling(
        offers.only_request(offers.flash if offer == "zhipu-flash" else offers.backup), offer
    )


def test_agents_falls_over_to_openrouter_on_1302(offers: Offers) -> None:
    offers.flash.inject(Fault.rate_limit(), times=1)

    async def main() -> Any:
        async with offers.async_client() as aclient:
            result = await Runner.run(oa_agent(aclient), QUESTION)
        return result.final_output

    assert asyncio.run(main()) == ANSWER
    # openai-agents keeps no model name of the completion: the fakes tell where it went.
    assert offers.assert_failed_over()["messages"] == WIRE_MESSAGES


def test_agents_output_type_needs_a_vllm_offer(offers: Offers) -> None:
    """A structured ``output_type`` is response_format json_schema: vLLM only."""

    async def main() -> Any:
        async with offers.async_client() as aclient:
            with pytest.raises(openai.BadRequestError) as refused:
                await Runner.run(oa_agent(aclient, output_type=Animal), QUESTION)
            assert_refused(refused.value, "response_format")
        assert offers.seen() == (0, 0, 0)
        async with offers.async_client(local=True) as aclient:
            result = await Runner.run(oa_agent(aclient, output_type=Animal), QUESTION)
        return result.final_output

    assert asyncio.run(main()) == EXPECTED
    body = offers.only_request(offers.local)
    assert body["response_format"]["type"] == "json_schema"
