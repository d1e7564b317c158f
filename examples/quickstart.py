"""Quickstart: one image, routed to the cheapest offer that can take it.

python examples/quickstart.py

With real keys in ZHIPUAI_API_KEY / OPENROUTER_API_KEY this is three lines:

    router = vlmroute.Router.from_config()          # every provider you have a key for
    reply = router.chat([vlmroute.user("What is in this image?", "photo.png")])
    print(reply.answer, reply.reasoning, reply.cost)

Offline, a fake Zhipu server from vlmroute.testing answers instead.
"""

from __future__ import annotations

from pathlib import Path

import vlmroute
from vlmroute.testing import FakeProvider

PHOTO = Path(__file__).parent / "photo.png"


def main() -> None:
    with FakeProvider(
        "zhipu", answer="A sun over a green field.", reasoning="Orange disc..."
    ) as fake:
        config = {"offers": [{"offer": "zhipu-flash", "base_url": fake.base_url}], "ledger": False}
        with vlmroute.Router.from_config(config, api_keys={"zhipu": "example-key"}) as router:
            reply = router.chat([vlmroute.user("What is in this image?", PHOTO)])
    print("answer:   ", reply.answer)
    print("reasoning:", reply.reasoning)
    print("offer:    ", reply.offer, "| model:", reply.model, "| cost:", reply.cost)
    print("tokens:   ", reply.usage.prompt_tokens, "in,", reply.usage.completion_tokens, "out")
    print("exact image tokens GLM-4.1V charges for it:", vlmroute.image_tokens(640, 480))


if __name__ == "__main__":
    main()
