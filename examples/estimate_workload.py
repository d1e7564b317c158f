"""Estimate the same workload as examples/workload.yaml from Python, offline, no API key.

python examples/estimate_workload.py
"""

from __future__ import annotations

import vlmroute
from vlmroute import RequestProfile, Workload


def main() -> None:
    workload = Workload(
        requests=50_000,
        prompt_tokens=200,
        output_tokens=1500,
        reasoning_tokens=1200,
        deadline_s=8 * 3600,
        tiers={"zhipu": "V1"},
        mix=(
            RequestProfile.model_validate({"share": 6, "images": ["1170x2532"]}),
            RequestProfile.model_validate(
                {
                    "share": 3,
                    "images": ["1920x1080", "1920x1080"],
                    "output_tokens": 2500,
                    "reasoning_tokens": 2000,
                }
            ),
            RequestProfile.model_validate(
                {"share": "0.2", "video": {"duration_s": 10, "width": 1280, "height": 720}}
            ),
        ),
    )
    result = vlmroute.estimate(workload, currency="USD")

    print(
        f"{result.requests:,} requests: {result.input_tokens:,} input tokens, "
        f"{result.output_tokens:,} output tokens"
    )
    planned = {step.offer_id for step in result.plan.steps}
    for offer in sorted(result.offers, key=lambda o: o.cost.amount):
        if offer.eligible:
            status = ""
        elif offer.offer_id in planned:  # the plan gives it the requests it can take
            status = f"  (some of it: {offer.skip_reason})"
        else:
            status = f"  (skipped: {offer.skip_reason})"
        print(
            f"  {offer.offer_id:16} {offer.cost}  finishes in {offer.makespan_s / 3600:5.1f} h"
            f"{status}"
        )
    plan = result.plan
    verdict = "meets" if plan.meets_deadline else f"misses ({plan.unassigned:,} left over)"
    print(
        f"Cheapest plan: {plan.total_cost}, done in {plan.makespan_s / 3600:.1f} h, "
        f"{verdict} the 8 h deadline"
    )
    for step in plan.steps:
        print(f"  {step.offer_id:16} {step.requests:>7,} requests  {step.cost}")
    if result.break_even:
        print(f"Self-host: {result.break_even.reason}")


if __name__ == "__main__":
    main()
