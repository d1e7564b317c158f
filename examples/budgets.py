"""Budgets: a daily cap on a paid provider holds across restarts; ``vlmroute spend`` shows it.

python examples/budgets.py

OpenRouter (a fake here, charging USD 0.001 a request in usage.cost) gets a USD 0.0025
daily budget. The router reserves each request's estimate before sending: a request whose
estimate does not fit what is left is refused with BudgetExceededError before it is sent
(here the fake charges far more than the table's rates, so the day ends a little over).
A new router over the same SQLite ledger (a restart) still knows what today cost.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import vlmroute
from vlmroute._cli.main import main as cli
from vlmroute.testing import FakeProvider

KEYS = {"openrouter": "example-key"}
HELLO = [{"role": "user", "content": "hi"}]


def router(base_url: str, ledger: Path) -> vlmroute.Router:
    config = {
        "offers": [{"offer": "openrouter", "base_url": base_url}],
        "budgets": [
            {"provider": "openrouter", "amount": "0.0025", "currency": "USD", "period": "day"}
        ],
        "ledger": str(ledger),
    }
    return vlmroute.Router.from_config(config, api_keys=KEYS)


def main() -> None:
    with FakeProvider("openrouter", cost_usd=0.001) as fake, tempfile.TemporaryDirectory() as d:
        ledger = Path(d) / "spend.sqlite3"
        with router(fake.base_url, ledger) as first:
            for _ in range(2):
                print("sent:", first.chat(HELLO).cost)
        with router(fake.base_url, ledger) as restarted:  # a new process, the same ledger
            print("after a restart:", restarted.chat(HELLO).cost)
            try:
                restarted.chat(HELLO)
            except vlmroute.BudgetExceededError as exc:
                print(f"refused before sending: {exc}")
        print(f"\nthe provider saw {fake.stats.served} requests\n")
        cli(["spend", "--ledger", str(ledger)])


if __name__ == "__main__":
    main()
