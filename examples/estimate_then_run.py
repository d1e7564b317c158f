"""Estimate a batch, then run it through the router and compare estimate and spend.

python examples/estimate_then_run.py

200 requests with examples/photo.png: the estimator prices them on every offer from the
exact image token count; the router then sends them (free Flash first, OpenRouter for the
overflow) and writes one ledger row per request, which ``vlmroute spend`` reads back. The
providers are fakes from vlmroute.testing; the ledger is a temporary SQLite file.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import vlmroute
from vlmroute._cli.main import main as cli
from vlmroute.testing import FakeProvider

PHOTO = Path(__file__).parent / "photo.png"
REQUESTS = 200


def estimate() -> None:
    width, height = vlmroute.image_size(PHOTO)
    work = vlmroute.Workload.from_mapping(
        {
            "requests": REQUESTS,
            "mix": [{"images": [f"{width}x{height}"]}],
            "prompt_tokens": 10,
            "output_tokens": 60,
        }
    )
    result = vlmroute.estimate(work, currency="USD")
    print(f"Estimate for {REQUESTS} requests of a {width}x{height} image:")
    for row in result.offers:
        if row.eligible:
            print(f"  {row.offer_id:13} {row.cost}")


async def run(ledger: Path) -> None:
    with (
        FakeProvider("zhipu", latency_s=0.05, cap=5, completion_tokens=60) as flash,
        FakeProvider("openrouter", latency_s=0.05, completion_tokens=60) as paid,
    ):
        config = {
            "offers": [
                {"offer": "zhipu-flash", "base_url": flash.base_url},
                {"offer": "openrouter", "base_url": paid.base_url},
            ],
            "ledger": str(ledger),
        }
        keys = {"zhipu": "example-key", "openrouter": "example-key"}
        question = [vlmroute.user("Describe it in one line.", PHOTO)]
        async with vlmroute.AsyncRouter.from_config(config, api_keys=keys) as router:
            await asyncio.gather(*(router.chat(question, max_tokens=60) for _ in range(REQUESTS)))


def main() -> None:
    estimate()
    with tempfile.TemporaryDirectory() as folder:
        ledger = Path(folder) / "spend.sqlite3"
        asyncio.run(run(ledger))
        print("\nWhat was spent (vlmroute spend):")
        cli(["spend", "--ledger", str(ledger), "--by", "provider"])


if __name__ == "__main__":
    main()
