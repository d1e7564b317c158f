"""Answer a Ray Dataset of chat requests with vlmroute: two actors sharing one account's cap.

python examples/ray_batch.py                          # offline: a fake Zhipu, a redis-server
python examples/ray_batch.py --config router.yaml     # your providers (keys from the env)

Offline: one fake Zhipu provider (``vlmroute.testing``) with a cap of 4 that answers 429
over it, as Zhipu does, and a throwaway ``redis-server`` as the router config's ``store:``,
so both Ray actors take their slots from one account-wide cap. With ``--config``, give the
config a ``store:`` too when you run more than one actor. Each row is a chat-completions
body (a JSON string) and a ``custom_id``; each comes back with ``answer``, ``reasoning``,
``offer``, ``cost``, ``status_code``, ``error`` and ``response`` added. Needs
``pip install 'vlmroute[ray]'`` (and ``'vlmroute[redis]'`` for the store).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import logging
import shutil
from collections import Counter
from typing import Any

from vlmroute.ray import INSTALL_HINT, route_dataset
from vlmroute.testing import FakeProvider, redis_server

ROWS, ACTORS, CAP = 40, 2, 4


def requests(count: int) -> list[dict[str, Any]]:
    """OpenAI Batch-style rows: a custom_id and a chat-completions body as JSON text."""
    return [
        {
            "custom_id": f"photo-{i:03}",
            "body": json.dumps(
                {
                    "model": "glm-4.1v-thinking",
                    "messages": [{"role": "user", "content": f"Describe photo {i} in a line."}],
                    "max_tokens": 256,
                }
            ),
        }
        for i in range(count)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="a router config YAML (default: a fake provider)")
    args = parser.parse_args()
    try:
        import ray
    except ImportError:
        raise SystemExit(f"this example needs Ray: {INSTALL_HINT}") from None
    with contextlib.ExitStack() as stack:
        config: Any = args.config
        keys = None
        fake = None
        if config is None:
            fake = stack.enter_context(FakeProvider("zhipu", latency_s=0.05, cap=CAP))
            offer = {"offer": "zhipu-flash", "base_url": fake.base_url, "cap": CAP}
            config = {"offers": [offer], "ledger": False}
            if shutil.which("redis-server") is not None and importlib.util.find_spec("redis"):
                config["store"] = {"url": stack.enter_context(redis_server()).url}
            else:
                print("no redis-server or redis package: one actor, no store (see --help)")
            keys = {"zhipu": "example-key"}
        actors = ACTORS if args.config is not None or "store" in config else 1
        ray.init(
            num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING
        )
        stack.callback(ray.shutdown)
        dataset = ray.data.from_items(requests(ROWS))
        answered = route_dataset(
            dataset, config, actors=actors, batch_size=10, api_keys=keys, num_cpus=0.5
        )
        rows = sorted(answered.take_all(), key=lambda row: str(row["custom_id"]))
        statuses = Counter(int(row["status_code"]) for row in rows)
        print(f"{len(rows)} rows through {actors} Ray actor(s): status codes {dict(statuses)}")
        for row in rows[:3]:
            print(f"  {row['custom_id']}: {row['answer']!r} via {row['offer']}, cost {row['cost']}")
        failed = [row for row in rows if row["error"] is not None]
        if failed:
            print(f"  first failure: {failed[0]['custom_id']}: {failed[0]['error']}")
        if fake is not None:
            stats = fake.stats
            print(
                f"at the provider: peak in flight {stats.peak_in_flight} (cap {CAP}), "
                f"429s {stats.rejected}"
            )


if __name__ == "__main__":
    main()
