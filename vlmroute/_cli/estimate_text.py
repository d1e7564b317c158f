"""What ``vlmroute estimate`` prints: the workload, each offer, the plan, the frontier and
the break-even, as text that fits the terminal."""

from __future__ import annotations

from .._estimate import BreakEven, Estimate
from . import ranges_text, render

__all__ = ["format_estimate", "plan_text"]


def format_estimate(
    result: Estimate, fx_source: str, fx_confidence: str, *, frontier: str = ""
) -> str:
    """The estimate's tables; ``frontier`` (the cost-against-deadline table) after the plan."""
    out = [_summary(result), "", "Cost and time on each offer", _offers_table(result)]
    out += [ranges_text.time_note(result), ""]
    out += [
        "Cheapest plan"
        + (
            f" (deadline {render.duration(result.plan.deadline_s)})"
            if result.plan.deadline_s
            else ""
        ),
        plan_text(result),
        "",
    ]
    if frontier:
        out += [frontier, ""]
    if result.break_even:
        out += [_break_even_text(result), ""]
    out.append(
        f"FX as of {result.fx_as_of} ({fx_confidence}): {fx_source}. Times use the "
        "latency figures in the pricing table, which are assumptions: see the table's sources."
    )
    return "\n".join(out)


def _summary(r: Estimate) -> str:
    lines = [
        f"Workload: {render.plural(r.requests, 'request')}, "
        f"{render.tokens(r.input_tokens)} input and "
        f"{render.tokens(r.output_tokens)} output tokens in all"
    ]
    rows = [
        (
            f"{p.requests:,}",
            render.tokens(p.image_tokens),
            render.tokens(p.video_tokens),
            render.tokens(p.text_tokens),
            p.template_tokens,
            render.tokens(p.input_tokens),
            ranges_text.tokens_range(p.output_tokens, p.output_tokens_low, p.output_tokens_high),
        )
        for p in r.profiles
    ]
    lines.append(
        render.table(
            rows,
            [
                "requests",
                "image tok",
                "video tok",
                "text tok",
                "template",
                "input/request",
                "output/request",
            ],
        )
    )
    return "\n".join(lines)


def _offers_table(r: Estimate) -> str:
    rows = []
    planned = {s.offer_id for s in r.plan.steps}
    for o in sorted(r.offers, key=lambda o: (not o.eligible, o.cost.amount, o.makespan_s)):
        if o.eligible:
            status = "ok"
        elif o.offer_id in planned:  # not the whole workload, but the plan's other kinds
            status = f"some of it: {o.skip_reason} (see the plan)"
        else:
            status = f"skipped: {o.skip_reason}"
        rows.append(
            (
                o.offer_id,
                o.model,
                f"{o.tier}: {o.concurrency}",
                ranges_text.money_range(o.cost, o.cost_low, o.cost_high),
                render.money(o.cost_per_request * 1000),
                ranges_text.time_range(o.makespan_s, o.makespan_low_s, o.makespan_high_s),
                status,
            )
        )
    return render.table(
        rows,
        [
            "offer",
            "model",
            "tier: in flight",
            "cost",
            "per 1k requests",
            "time to finish",
            "status",
        ],
    )


def plan_text(r: Estimate) -> str:
    plan = r.plan
    rows: list[tuple[str, ...]] = [
        (
            s.offer_id,
            f"{s.requests:,}",
            ranges_text.money_range(s.cost, s.cost_low, s.cost_high),
            ranges_text.time_range(s.makespan_s, s.makespan_low_s, s.makespan_high_s),
        )
        for s in plan.steps
    ]
    headers = ["offer", "requests", "cost", "finishes in"]
    if len(r.profiles) > 1:  # a mix: which kinds each offer takes
        labels = kind_labels(r)
        rows = [
            (*row, _of_which(step.profile_requests, labels))
            for row, step in zip(rows, plan.steps, strict=True)
        ]
        headers.append("of which")
    lines = [render.table(rows, headers)] if rows else []
    if not plan.steps:
        lines.append(f"Nothing can serve these requests: {plan.note}.")
        return "\n".join(lines + [f"  {why}." for why in plan.left_out])
    verdict = "meets the deadline" if plan.meets_deadline else "DOES NOT meet the deadline"
    if plan.total_cost is not None:
        total = f"Total {ranges_text.money_range(plan.total_cost, plan.cost_low, plan.cost_high)}"
    else:
        placed = r.requests - plan.unassigned
        total = (
            f"INCOMPLETE: {plan.unassigned:,} of {r.requests:,} requests have no place; the "
            f"{placed:,} placed cost {render.money(plan.placed_cost)}"
        )
    finish = ranges_text.time_range(plan.makespan_s, plan.makespan_low_s, plan.makespan_high_s)
    lines.append(f"{total}, finishes in {finish}; {verdict if plan.deadline_s else 'no deadline'}.")
    if ranges_text.deadline_risk(plan):
        lines.append(ranges_text.deadline_risk(plan))
    lines.append(
        f"{plan.note}. Fastest possible with every eligible offer: "
        f"{render.duration(plan.fastest_makespan_s)}."
    )
    if plan.fastest_steps and plan.fastest_cost is not None:
        shares = ", ".join(f"{s.offer_id} {s.requests:,}" for s in plan.fastest_steps)
        lines.append(
            f"The fastest plan places every request in "
            f"{render.duration(plan.fastest_makespan_s)} for {render.money(plan.fastest_cost)} "
            f"({shares})."
        )
    lines += [f"{why}." for why in plan.left_out]
    return "\n".join(lines)


def _break_even_text(r: Estimate) -> str:
    b = r.break_even
    assert b is not None
    lines = [
        f"Self-host break-even ({b.gpu} at {render.money(b.gpu_monthly_cost)} a month, "
        f"about {b.gpu_requests_per_month:,} of these requests a month per GPU"
        f"{'' if b.utilisation == 1 else f' busy {b.utilisation:f} of the month'}):",
    ]
    if b.requests_per_month is not None and b.gpus_needed is not None:
        gpus = f"{b.gpus_needed} GPU{'s' if b.gpus_needed > 1 else ''}"
        if b.capacity_bound:
            plain = (
                f"the APIs cost less at every volume they can serve; past about "
                f"{b.requests_per_month:,} of these requests a month they cannot serve it, "
                f"and {gpus} of your own would"
            )
        else:
            plain = (
                f"below about {b.requests_per_month:,} of these requests a month the APIs "
                f"cost less; from there, {gpus} of your own cost less"
            )
        lines.append(f"  In plain words: {plain}.")
    lines.append(f"  {b.reason[:1].upper()}{b.reason[1:]}.")
    if b.hour_price_to_match is not None:
        lines.append(
            f"  A GPU-hour under {render.money(b.hour_price_to_match, 2)} at this "
            "throughput would beat the cheapest paid API per request."
        )
    return "\n".join(lines + _hybrid_lines(b))


def _hybrid_lines(b: BreakEven) -> list[str]:
    """Free tier, then your GPUs, then paid APIs: from when it pays, and the three costs."""
    gpus = f"{b.hybrid_gpus} GPU{'s' if b.hybrid_gpus > 1 else ''}"
    lines = [f"  Free tier first, then {gpus}, then paid APIs, in plain words: {b.plain_words}."]
    if b.monthly_volume is not None:
        api, local, hybrid = (
            "cannot serve it" if v is None else render.money(v)
            for v in (b.all_api_monthly_cost, b.all_local_monthly_cost, b.hybrid_monthly_cost)
        )
        if b.all_local_gpus is not None:
            local += f" ({b.all_local_gpus:,} GPU{'s' if b.all_local_gpus > 1 else ''})"
        lines.append(
            f"  At {b.monthly_volume:,} requests a month: all-API {api}; all-local {local}; "
            f"hybrid {hybrid}."
        )
    return lines


def kind_labels(r: Estimate) -> list[str]:
    """A short name for each profile of the mix, in the order of the workload table above:
    what it carries, numbered where two carry the same kind."""
    kinds = [
        "video" if p.video_tokens else "image" if p.image_tokens else "text" for p in r.profiles
    ]
    return [f"{kind} #{i + 1}" if kinds.count(kind) > 1 else kind for i, kind in enumerate(kinds)]


def _of_which(counts: tuple[int, ...], labels: list[str]) -> str:
    return ", ".join(f"{n:,} {label}" for n, label in zip(counts, labels, strict=False) if n)
