"""The fake providers checked against the providers' own SDKs (issue 12, part 5).

Our fakes agree with our client by construction; here the official clients read them:
OpenRouter's ``openrouter`` SDK and Zhipu's ``zai-sdk`` parse every fake answer, streamed
and not, with their own response models.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any, cast

import httpx
import openrouter
import pytest
from zai import ZhipuAiClient
from zai.types.chat import Completion

from vlmroute._fake.config import ReasoningField
from vlmroute.testing import FakeProvider

HELLO = [{"role": "user", "content": "hi"}]


@pytest.fixture(autouse=True)
def _collect_here() -> Iterator[None]:
    """These SDKs close what they leave open in GC finalizers: collect here, so that a leak
    of theirs shows against these tests (a full collection per test is too slow for all)."""
    yield
    gc.collect()


@pytest.mark.parametrize("reasoning_field", ["reasoning", None])
def test_openrouter_s_sdk_reads_the_openrouter_fake(reasoning_field: ReasoningField | None) -> None:
    model, messages = "thudm/glm-4.1v-9b-thinking", cast(Any, HELLO)
    # The SDK as a context manager: its clients close here, not in a GC finalizer that
    # runs an event loop of its own in whichever test the collector next runs.
    with (
        FakeProvider("openrouter", reasoning_field=reasoning_field) as fake,
        openrouter.OpenRouter(api_key="k", server_url=fake.base_url) as client,
    ):
        answer = client.chat.send(model=model, messages=messages)
        chunks = list(client.chat.send(model=model, messages=messages, stream=True))
    assert answer.choices[0].message.content == "The cat is on the mat."
    assert answer.system_fingerprint is None
    text = "".join(
        c.choices[0].delta.content or "" for c in chunks if c.choices and c.choices[0].delta
    )
    assert "The cat is on the mat." in text


def test_zhipu_s_sdk_reads_the_zhipu_fake() -> None:
    # Our own HTTP client, closed here: the SDK's own is closed only by its __del__.
    with FakeProvider("zhipu") as fake, httpx.Client() as http:
        client = ZhipuAiClient(api_key="id.secret", base_url=fake.base_url, http_client=http)
        answer = client.chat.completions.create(model="glm-4.1v-thinking-flash", messages=HELLO)
        assert isinstance(answer, Completion)
        stream = client.chat.completions.create(
            model="glm-4.1v-thinking-flash", messages=HELLO, stream=True
        )
        pieces = [c.choices[0].delta for c in stream if c.choices]
    message = answer.choices[0].message
    assert message.content == "The cat is on the mat."
    assert message.reasoning_content == "Let me look at the image."
    assert answer.usage is not None
    assert answer.usage.prompt_tokens > 0
    assert "".join(p.content or "" for p in pieces) == "The cat is on the mat."
    assert "".join(getattr(p, "reasoning_content", None) or "" for p in pieces) == (
        "Let me look at the image."
    )
