"""One script, any provider: switch only the offer name, get the same typed response.

python examples/every_provider.py                 # every provider, each against a fake
python examples/every_provider.py openrouter      # just one

Each offer of the pricing table is served here by a fake provider from
``vlmroute.testing`` speaking that provider's own wire format (Zhipu's raw base64 images
and reasoning_content, OpenRouter's reasoning and usage.cost, SiliconFlow, a vLLM server
with inline <think> tags). Against the real thing, drop ``base_url=`` and set the key.
"""

from __future__ import annotations

import sys
from pathlib import Path

import vlmroute
from vlmroute.testing import FakeProvider

PHOTO = Path(__file__).parent / "photo.png"
#: offer id -> (fake dialect, where that fake puts the reasoning)
OFFERS = {
    "zhipu-flash": ("zhipu", None),
    "zhipu-flashx": ("zhipu", None),
    "openrouter": ("openrouter", None),
    "siliconflow": ("siliconflow", None),
    "local-gpu": ("vllm", "inline"),
}


def ask(offer: str) -> None:
    dialect, reasoning_field = OFFERS[offer]
    with FakeProvider(dialect, reasoning_field=reasoning_field) as fake:  # type: ignore[arg-type]
        client = vlmroute.Client(
            offer,
            api_key="example-key",
            base_url=fake.base_url,
            # SiliconFlow retired its GLM-4.1V ids; the wire format still serves others.
            allow_retired=True,
        )
        with client:
            question = [vlmroute.user("What is in this image?", PHOTO)]
            reply = client.chat(question, max_tokens=2000)
            print(f"{offer:13} answer={reply.answer!r} reasoning={reply.reasoning!r}")
            print(
                f"{'':13} usage={reply.usage.prompt_tokens}+{reply.usage.completion_tokens} "
                f"tokens, cost {reply.cost}, model {reply.model}"
            )
            streamed = "".join(
                e.text for e in client.stream(question) if isinstance(e, vlmroute.AnswerDelta)
            )
            print(f"{'':13} streamed answer={streamed!r}")


def main() -> None:
    for offer in sys.argv[1:] or list(OFFERS):
        ask(offer)


if __name__ == "__main__":
    main()
