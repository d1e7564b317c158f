"""A local GPU server (vLLM) as one offer: its health, load, and an answer with reasoning.

python examples/local_gpu.py                                   # against a fake vLLM
python examples/local_gpu.py http://127.0.0.1:8000/v1          # against your server

Start the real server with GLM-V's own command (up to 32 images per prompt):

    vllm serve zai-org/GLM-4.1V-9B-Thinking --limit-mm-per-prompt '{"image":32}' \\
        --allowed-local-media-path /

Without a reasoning parser vLLM returns <think>...</think><answer>...</answer> inline;
vlmroute sends skip_special_tokens=false so those tags survive, and splits them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import vlmroute
from vlmroute.testing import FakeProvider

PHOTO = Path(__file__).parent / "photo.png"


def run(base_url: str) -> None:
    with vlmroute.Client("local-gpu", base_url=base_url) as client:  # no key needed
        health = client.health()
        print(f"server up: {health.ok}; serves {', '.join(health.models) or '?'}")
        if health.load is not None:
            print(f"load: {health.load.running} running, {health.load.waiting} waiting")
        reply = client.chat([vlmroute.user("What is in this image?", PHOTO)], max_tokens=4000)
        print("reasoning:", reply.reasoning)
        print("answer:   ", reply.answer)
        print(f"cost at the table's GPU-hour price: {reply.cost}")


def main() -> None:
    if len(sys.argv) > 1:
        run(sys.argv[1])
        return
    with FakeProvider("vllm", reasoning_field="inline") as fake:
        run(fake.base_url)


if __name__ == "__main__":
    main()
