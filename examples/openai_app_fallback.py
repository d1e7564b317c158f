"""An app written against the openai SDK gains routing and failover with a one-line change.

python examples/openai_app_fallback.py

``describe()`` is ordinary openai-SDK code. Before, the app built
``openai.OpenAI(base_url="https://open.bigmodel.cn/api/paas/v4", api_key=...)`` and got a
RateLimitError whenever Zhipu's free tier was busy. After, it builds ``vlmroute.OpenAI``
from a router config: the free offer first, OpenRouter when it is full or failing; the
app's code, its ``except openai.RateLimitError`` included, stays as it was. Offline, fake
providers stand in for both (the first answers 429 twice, as a busy Flash does).
"""

from __future__ import annotations

import base64
from pathlib import Path

import openai

import vlmroute
from vlmroute.testing import FakeProvider, Fault

PHOTO = Path(__file__).parent / "photo.png"


def describe(client: openai.OpenAI, image: Path) -> str:
    """Unchanged application code: the openai SDK's API and nothing else."""
    data = base64.b64encode(image.read_bytes()).decode()
    try:
        response = client.chat.completions.create(
            model="glm-4.1v-thinking-flash",
            messages=[
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "image_url",
                            "image_url": {"url": f"data:image/png;base64,{data}"},
                        },
                        {"type": "text", "text": "What is in this image?"},
                    ],
                }
            ],
            max_tokens=2000,
        )
    except openai.RateLimitError:
        return "busy, try later"
    return response.choices[0].message.content or ""


def main() -> None:
    with FakeProvider("zhipu") as flash, FakeProvider("openrouter") as backup:
        flash.inject(Fault.rate_limit(), times=2)
        before = openai.OpenAI(base_url=flash.base_url, api_key="example-key", max_retries=0)
        print("openai.OpenAI:  ", describe(before, PHOTO))
        before.close()

        # The one-line change: the same app, routed. A provider's own model id pins that
        # provider, and the app asks for Flash by name: let that name mean "Flash, then
        # OpenRouter" (model="glm-4.1v-thinking" means every configured offer).
        config = {
            "offers": [
                {"offer": "zhipu-flash", "base_url": flash.base_url},
                {"offer": "openrouter", "base_url": backup.base_url},
            ],
            "ledger": False,
        }
        keys = {"zhipu": "example-key", "openrouter": "example-key"}
        aliases = {"glm-4.1v-thinking-flash": ["zhipu-flash", "openrouter"]}
        after = vlmroute.OpenAI(config=config, api_keys=keys, models=aliases)
        print("vlmroute.OpenAI:", describe(after, PHOTO))
        completion = after.chat.completions.create(
            model="glm-4.1v-thinking", messages=[{"role": "user", "content": "hi"}]
        )
        routed = vlmroute.routing(completion)  # completion.vlmroute, typed
        assert routed is not None
        tries = ", ".join(f"{a['offer']} {a['outcome']}" for a in routed["attempts"])
        cost = routed["cost"] or {"currency": "?", "amount": "?"}
        print(
            f"next request: {routed['offer']} (Flash rests after its 429), "
            f"cost {cost['currency']} {cost['amount']}"
        )
        print(f"tries: {tries}")
        after.close()


if __name__ == "__main__":
    main()
