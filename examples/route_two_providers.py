"""Route 40 requests through two providers and watch the spillover and the cost.

python examples/route_two_providers.py

Offline: two fake providers from ``vlmroute.testing`` stand in for Zhipu Flash (free, 5 in
flight) and OpenRouter (paid), speaking their real wire formats on 127.0.0.1. The router
config is examples/router.yaml with the base URLs pointed at the fakes. With real keys,
drop the fakes and use ``vlmroute.Router.from_config("examples/router.yaml")``.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from decimal import Decimal
from pathlib import Path

import yaml

import vlmroute
from vlmroute.testing import FakeProvider

HERE = Path(__file__).parent


async def main() -> None:
    config = yaml.safe_load((HERE / "router.yaml").read_text(encoding="utf-8"))
    with (
        FakeProvider("zhipu", latency_s=0.2, cap=5) as flash,
        FakeProvider("openrouter", latency_s=0.2, cap=50) as openrouter,
    ):
        config["offers"][0]["base_url"] = flash.base_url
        config["offers"][1]["base_url"] = openrouter.base_url
        keys = {"zhipu": "example-key", "openrouter": "example-key"}
        async with vlmroute.AsyncRouter.from_config(config, api_keys=keys) as router:
            plan = router.plan([vlmroute.user("What is in this image?", HERE / "photo.png")])
            print("Plan for one request (cheapest first):")
            for c in plan.candidates:
                print(f"  {c.offer:12} estimated {c.cost.currency} {c.cost.amount:.6f}")
            question = [vlmroute.user("What is in this image?", HERE / "photo.png")]
            replies = await asyncio.gather(*(router.chat(question) for _ in range(40)))
        served = Counter(r.offer for r in replies)
        spent = sum(
            (r.cost.amount for r in replies if r.cost and r.cost.currency == "USD"), Decimal(0)
        )
        print(
            f"\n40 requests at once: {served['zhipu-flash']} on zhipu-flash (free, cap 5), "
            f"{served['openrouter']} spilled to openrouter"
        )
        print(
            f"peak in flight: zhipu-flash {flash.stats.peak_in_flight} (cap 5), "
            f"429s sent: {flash.stats.rejected + openrouter.stats.rejected}"
        )
        print(
            f"cost: USD {spent:.6f} in all; per request, e.g. {replies[0].offer}: "
            f"{replies[0].cost}, {replies[-1].offer}: {replies[-1].cost}"
        )
        print(f"first answer: {replies[0].answer!r} (reasoning: {replies[0].reasoning!r})")


if __name__ == "__main__":
    asyncio.run(main())
