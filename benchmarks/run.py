"""Benchmarks for the pure core, each printed as a ratio against a baseline run in the same
process (these machines are noisy; absolute times are shown for scale only).

    python benchmarks/run.py            # full run
    python benchmarks/run.py --quick    # a smoke run (used by the test suite)

1. image_tokens: the exact processor algorithm vs the bare ``round(h/28)*round(w/28)``.
2. estimate(): 1,000,000 requests with 20 image sizes vs 1,000 requests with the same mix
   (the estimator works per request profile, so its cost must not grow with the count),
   and against a baseline of the token math alone for the same 20 profiles.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable

from tabulate import tabulate

import vlmroute
from vlmroute import Workload, estimate, image_tokens, load_pricing


def best_of(fn: Callable[[], object], repeat: int, number: int) -> float:
    """Best mean seconds per call over ``repeat`` runs of ``number`` calls."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - start) / number)
    return best


def sizes(count: int, seed: int = 7) -> list[tuple[int, int]]:
    rng = random.Random(seed)
    return [(rng.randint(200, 4000), rng.randint(200, 4000)) for _ in range(count)]


def bench_image_tokens(quick: bool) -> list[tuple[str, float, float, str]]:
    pairs = sizes(2000)

    def exact() -> None:
        for w, h in pairs:
            image_tokens(w, h)

    def naive() -> None:
        for w, h in pairs:
            round(h / 28) * round(w / 28)

    reps, number = (1, 1) if quick else (7, 20)
    t_exact = best_of(exact, reps, number) / len(pairs)
    t_naive = best_of(naive, reps, number) / len(pairs)
    return [
        ("image_tokens, one image", t_exact, t_exact / t_naive, "baseline: round(h/28)*round(w/28)")
    ]


def bench_estimate(quick: bool) -> list[tuple[str, float, float, str]]:
    pricing = load_pricing()
    mix = [{"images": [f"{w}x{h}"], "share": i + 1} for i, (w, h) in enumerate(sizes(20))]

    def work(n: int) -> Workload:
        return Workload.from_mapping(
            {
                "requests": n,
                "mix": mix,
                "prompt_tokens": 200,
                "output_tokens": 1500,
                "deadline": "6h",
            }
        )

    big, small = work(1_000_000), work(1_000)
    reps, number = (1, 1) if quick else (5, 5)
    t_big = best_of(lambda: estimate(big, pricing), reps, number)
    t_small = best_of(lambda: estimate(small, pricing), reps, number)
    t_tokens = best_of(lambda: [image_tokens(w, h) for w, h in sizes(20)], reps, number * 20)
    return [
        (
            "estimate(), 1,000,000 requests, 20 sizes",
            t_big,
            t_big / t_small,
            "baseline: the same mix with 1,000 requests",
        ),
        (
            "estimate(), 1,000,000 requests, 20 sizes",
            t_big,
            t_big / t_tokens,
            "baseline: token math alone for the 20 sizes",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one short pass (smoke test)")
    args = parser.parse_args()
    rows = bench_image_tokens(args.quick) + bench_estimate(args.quick)
    print(f"vlmroute {vlmroute.__version__} benchmarks{' (quick)' if args.quick else ''}")
    print(
        tabulate(
            [
                (name, f"{secs * 1e6:,.1f} us", f"{ratio:,.2f}x", base)
                for name, secs, ratio, base in rows
            ],
            headers=["what", "time per call", "ratio", "against"],
            disable_numparse=True,
        )
    )


if __name__ == "__main__":
    main()
