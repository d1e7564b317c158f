"""The gateway's status page (``GET /``): one server-rendered HTML page, no script.

What it shows: each offer (state, slots in use against its cap), today's spend (UTC day) per
provider in its own currency and in the display currency, each budget (spent, limit, what is
left), the last errors the gateway saw (newest first), when the page was rendered and the
version. It reloads itself every few seconds (``<meta http-equiv="refresh">``).

Three parts, so the page can be tested without a server: :func:`snapshot_of` reads the
router into a plain :class:`StatusSnapshot`; :func:`render` turns one into HTML (every value
from outside is escaped); :func:`status_handler` is the aiohttp handler over both. The last
errors live in a :class:`RecentErrors` ring buffer that the gateway feeds.
"""

from __future__ import annotations

import html
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from aiohttp import web

import vlmroute

from .._ledger import NullLedger, period_bounds
from .._ledger.record import utc
from .._router import AsyncRouter
from .._router.states import offer_states
from ..money import Money

__all__ = [
    "BudgetLine",
    "OfferLine",
    "RecentError",
    "RecentErrors",
    "SpendLine",
    "StatusSnapshot",
    "render",
    "snapshot_of",
    "status_handler",
]

log = logging.getLogger("vlmroute")

#: How many errors the page keeps and shows.
ERRORS_KEPT = 20
#: How much of an error's message is kept (the rest is cut, with an ellipsis).
MESSAGE_CHARS = 300
#: The page reloads itself this often, in seconds.
REFRESH_S = 5


# ------------------------------------------------------------------ the last errors


@dataclass(frozen=True, slots=True)
class RecentError:
    """One error the gateway answered: when, on which offer (None: refused before any
    offer was tried), its outcome (the error class), the HTTP status and a short message."""

    at: datetime
    offer: str | None
    outcome: str
    status_code: int | None
    message: str


def _short(message: str, limit: int = MESSAGE_CHARS) -> str:
    """One line (whitespace runs collapsed), at most ``limit`` characters."""
    text = " ".join(message.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


class RecentErrors:
    """The last ``capacity`` errors, in memory (one event loop: no lock)."""

    def __init__(self, capacity: int = ERRORS_KEPT) -> None:
        if capacity < 1:
            raise ValueError(f"RecentErrors needs a capacity of at least 1, got {capacity}")
        self._errors: deque[RecentError] = deque(maxlen=capacity)

    @property
    def capacity(self) -> int:
        assert self._errors.maxlen is not None
        return self._errors.maxlen

    def add(
        self,
        at: datetime,
        offer: str | None,
        outcome: str,
        status_code: int | None,
        message: str,
    ) -> None:
        """Keep one error (the oldest goes when the buffer is full); ``at`` must be
        timezone-aware, ``message`` already free of secrets (it is cut to one short line)."""
        self._errors.append(
            RecentError(utc(at, "at"), offer, outcome, status_code, _short(message))
        )

    def snapshot(self) -> tuple[RecentError, ...]:
        """The errors kept, newest first."""
        return tuple(reversed(self._errors))

    def __len__(self) -> int:
        return len(self._errors)


# ------------------------------------------------------------------ the snapshot


@dataclass(frozen=True, slots=True)
class OfferLine:
    """One offer as routing sees it: ``state`` is "ready" or why not; ``configured_cap``
    differs from ``cap`` when a cap was learned from the provider's answers."""

    name: str
    provider: str
    state: str
    in_flight: int
    cap: int
    configured_cap: int

    @property
    def ready(self) -> bool:
        return self.state == "ready"

    @property
    def learned(self) -> bool:
        return self.cap != self.configured_cap


@dataclass(frozen=True, slots=True)
class SpendLine:
    """What one provider cost today, in its own currency and in the display currency."""

    provider: str
    spent: Money
    display: Money


@dataclass(frozen=True, slots=True)
class BudgetLine:
    """One budget: spent this period (from the ledger), its limit, and what is left now
    (the budget book's figure, which also holds back what requests in flight reserved)."""

    description: str
    period: str
    spent: Money
    limit: Money
    remaining: Money
    resets_at: datetime

    @property
    def used(self) -> Decimal:
        """The share of the limit no request can have any more, 0 to 1."""
        if not self.limit.amount:
            return Decimal(1)
        share = (self.limit.amount - self.remaining.amount) / self.limit.amount
        return min(max(share, Decimal(0)), Decimal(1))


@dataclass(frozen=True, slots=True)
class StatusSnapshot:
    """Everything the page shows, read at ``rendered_at``.

    ``spend`` is None when the router keeps no ledger (``ledger: false``: nothing is
    recorded); ``spend_problem`` says why spend could not be read, if it could not.
    """

    rendered_at: datetime
    version: str | None
    currency: str
    offers: tuple[OfferLine, ...]
    spend: tuple[SpendLine, ...] | None
    spend_total: Money
    budgets: tuple[BudgetLine, ...]
    errors: tuple[RecentError, ...]
    errors_kept: int = ERRORS_KEPT
    spend_problem: str | None = None

    @property
    def day(self) -> str:
        return self.rendered_at.date().isoformat()

    def by_currency(self) -> list[Money]:
        """Today's spend summed per currency (each provider's own), zeros included."""
        sums: dict[str, Decimal] = {}
        for line in self.spend or ():
            sums[line.spent.currency] = sums.get(line.spent.currency, Decimal(0)) + (
                line.spent.amount
            )
        return [Money(sums[code], code) for code in sorted(sums)]


def _providers(router: AsyncRouter) -> dict[str, str]:
    """Each provider of the router's offers, with the currency of its first offer."""
    found: dict[str, str] = {}
    for offer in router.offers.values():
        found.setdefault(offer.provider, offer.currency)
    return found


def snapshot_of(
    router: AsyncRouter, errors: RecentErrors, *, now: datetime | None = None
) -> StatusSnapshot:
    """Read ``router`` (offers, today's spend, budgets) and ``errors`` now."""
    now = datetime.now(UTC) if now is None else utc(now, "now")
    states = offer_states(router)
    offers = tuple(
        OfferLine(
            name=name,
            provider=router.offers[name].provider,
            state=state["state"],
            in_flight=state["in_flight"],
            cap=state["cap"],
            configured_cap=state["configured_cap"],
        )
        for name, state in states.items()
    )
    currency = router.config.currency
    ledger, fx = router.ledger, router.fx
    spend: tuple[SpendLine, ...] | None = None
    total = Money.zero(currency)
    budgets: list[BudgetLine] = []
    problem: str | None = None
    try:
        if not isinstance(ledger, NullLedger):
            since, until = period_bounds("day", now)
            lines = []
            for provider, own in _providers(router).items():
                spent = ledger.spent(
                    provider=provider, since=since, until=until, currency=own, fx=fx
                )
                lines.append(SpendLine(provider, spent, fx.convert(spent, currency)))
            spend = tuple(lines)
            total = ledger.spent(since=since, until=until, currency=currency, fx=fx)
        for budget, remaining in router.budgets.remaining():
            start, end = budget.bounds(now)
            spent = ledger.spent(
                provider=budget.provider,
                since=start,
                until=end,
                currency=budget.currency,
                fx=fx,
            )
            budgets.append(
                BudgetLine(budget.describe(), budget.period, spent, budget.limit, remaining, end)
            )
    except Exception as exc:  # a status page shows what it can rather than fail
        log.warning("vlmroute: the status page could not read spend: %s", type(exc).__name__)
        problem = f"spend could not be read from the ledger ({type(exc).__name__})"
    return StatusSnapshot(
        rendered_at=now,
        version=getattr(vlmroute, "__version__", None),
        currency=currency,
        offers=offers,
        spend=spend,
        spend_total=total,
        budgets=tuple(budgets),
        errors=errors.snapshot(),
        errors_kept=errors.capacity,
        spend_problem=problem,
    )


# ------------------------------------------------------------------ the page

_CSS = """
:root { color-scheme: light; --ink: #1f2328; --dim: #656d76; --line: #d8dee4;
  --ok: #1a7f37; --warn: #9a6700; --bad: #cf222e; --bar: #0969da; --bg: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; padding: 24px 32px 40px; font: 14px/1.45 system-ui, -apple-system,
  "Segoe UI", Roboto, "Noto Sans", sans-serif; color: var(--ink); background: #fff; }
header, footer, section { max-width: 1100px; }
header { display: flex; align-items: baseline; gap: 16px; flex-wrap: wrap;
  border-bottom: 1px solid var(--line); padding-bottom: 10px; margin-bottom: 8px; }
h1 { font-size: 20px; margin: 0; }
h2 { font-size: 15px; margin: 22px 0 8px; }
h2 small, .dim { color: var(--dim); font-weight: normal; }
.meta { color: var(--dim); font-size: 13px; }
table { border-collapse: collapse; width: 100%; max-width: 1100px; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line);
  vertical-align: top; }
th { background: var(--bg); font-weight: 600; font-size: 12px; color: var(--dim);
  text-transform: uppercase; letter-spacing: .03em; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.total td { font-weight: 600; border-top: 2px solid var(--line); }
.state { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px;
  font-weight: 600; color: #fff; background: var(--bad); }
.state.ready { background: var(--ok); }
.state.paused { background: var(--warn); }
.bar { width: 160px; height: 10px; background: var(--bg); border: 1px solid var(--line);
  border-radius: 5px; overflow: hidden; margin-top: 4px; }
.bar span { display: block; height: 100%; background: var(--bar); }
.bar.full span { background: var(--bad); }
.bar.high span { background: var(--warn); }
.none { color: var(--dim); font-style: italic; margin: 4px 0; }
.problem { color: var(--bad); }
.msg { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px;
  word-break: break-word; }
.outcome { color: var(--bad); font-weight: 600; }
footer { margin-top: 28px; color: var(--dim); font-size: 12px; }
""".strip()


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _bar(share: Decimal | float, label: str) -> str:
    fraction = min(max(float(share), 0.0), 1.0)
    level = " full" if fraction >= 1 else " high" if fraction >= 0.8 else ""
    return (
        f'<div class="bar{level}" role="img" aria-label="{_e(label)}">'
        f'<span style="width:{fraction * 100:.1f}%"></span></div>'
    )


def _state_kind(state: str) -> str:
    if state == "ready":
        return "ready"
    if state.startswith(("circuit", "cooling")):
        return "paused"
    return "down"


def _offers(offers: Iterable[OfferLine]) -> str:
    rows = []
    for o in offers:
        share = o.in_flight / o.cap if o.cap > 0 else 1.0
        slots = f"{o.in_flight} / {o.cap}"
        note = (
            f' <small class="dim learned">learned; configured {o.configured_cap}</small>'
            if o.learned
            else ""
        )
        rows.append(
            f'<tr class="offer" data-offer="{_e(o.name)}">'
            f'<td class="name"><strong>{_e(o.name)}</strong></td>'
            f'<td class="provider">{_e(o.provider)}</td>'
            f'<td><span class="state {_state_kind(o.state)}">{_e(o.state)}</span></td>'
            f'<td class="slots"><span class="used">{slots}</span>{note}'
            f"{_bar(share, f'{slots} slots in use')}</td></tr>"
        )
    if not rows:
        return '<p class="none">No offers are configured.</p>'
    head = "<tr><th>Offer</th><th>Provider</th><th>State</th><th>Slots in use</th></tr>"
    return f'<table id="offers">{head}{"".join(rows)}</table>'


def _spend(snap: StatusSnapshot) -> str:
    if snap.spend is None:
        return '<p class="none">No ledger (<code>ledger: false</code>): spend is not recorded.</p>'
    rows = [
        f'<tr class="spend" data-provider="{_e(s.provider)}"><td>{_e(s.provider)}</td>'
        f'<td class="num">{_e(s.spent)}</td><td class="num">{_e(s.display)}</td></tr>'
        for s in snap.spend
    ]
    spent = [m for m in snap.by_currency() if m.amount]
    per_currency = " + ".join(_e(m) for m in spent) or "&ndash;"
    rows.append(
        f'<tr class="total"><td>All providers</td><td class="num">{per_currency}</td>'
        f'<td class="num" id="spend-total">{_e(snap.spend_total)}</td></tr>'
    )
    head = (
        '<tr><th>Provider</th><th class="num">Spent</th>'
        f'<th class="num">In {_e(snap.currency)}</th></tr>'
    )
    return f'<table id="spend">{head}{"".join(rows)}</table>'


def _budgets(snap: StatusSnapshot) -> str:
    if not snap.budgets:
        return '<p class="none" id="no-budgets">No budgets are configured: spend is not capped.</p>'
    rows = []
    for b in snap.budgets:
        label = f"{float(b.used) * 100:.0f}% of the limit used"
        rows.append(
            f'<tr class="budget"><td>{_e(b.description)}<br>'
            f'<small class="dim">resets {_e(_when(b.resets_at))}</small></td>'
            f'<td class="num spent">{_e(b.spent)}</td>'
            f'<td class="num limit">{_e(b.limit)}</td>'
            f'<td class="num remaining">{_e(b.remaining)}</td>'
            f"<td>{_bar(b.used, label)}</td></tr>"
        )
    head = (
        '<tr><th>Budget</th><th class="num">Spent this period</th><th class="num">Limit</th>'
        '<th class="num">Remaining</th><th>Used</th></tr>'
    )
    note = (
        '<p class="dim"><small>Remaining also holds back what requests in flight have '
        "reserved.</small></p>"
    )
    return f'<table id="budgets">{head}{"".join(rows)}</table>{note}'


def _errors(snap: StatusSnapshot) -> str:
    if not snap.errors:
        return '<p class="none" id="no-errors">No errors since the gateway started.</p>'
    rows = []
    for err in snap.errors:
        same_day = err.at.date() == snap.rendered_at.date()
        shown = err.at.strftime("%H:%M:%S" if same_day else "%Y-%m-%d %H:%M:%S")
        status = "&ndash;" if err.status_code is None else _e(err.status_code)
        offer = "&ndash;" if err.offer is None else _e(err.offer)
        rows.append(
            f'<tr class="error"><td class="num"><time datetime="{_e(err.at.isoformat())}">'
            f"{_e(shown)}</time></td><td>{offer}</td>"
            f'<td class="outcome">{_e(err.outcome)}</td><td class="num status">{status}</td>'
            f'<td class="msg">{_e(err.message)}</td></tr>'
        )
    head = (
        '<tr><th class="num">Time (UTC)</th><th>Offer</th><th>Error</th>'
        '<th class="num">Status</th><th>Message</th></tr>'
    )
    return f'<table id="errors">{head}{"".join(rows)}</table>'


def render(snapshot: StatusSnapshot, *, refresh_s: int | None = REFRESH_S) -> str:
    """The status page for ``snapshot``, as a whole HTML document."""
    snap = snapshot
    version = f"v{_e(snap.version)} &middot; " if snap.version else ""
    refresh = (
        f'<meta http-equiv="refresh" content="{int(refresh_s)}">' if refresh_s is not None else ""
    )
    reloads = f" &middot; reloads every {int(refresh_s)} s" if refresh_s is not None else ""
    problem = f'<p class="problem">{_e(snap.spend_problem)}</p>' if snap.spend_problem else ""
    ready = sum(o.ready for o in snap.offers)
    rendered = (
        f'<time id="rendered" datetime="{_e(snap.rendered_at.isoformat())}">'
        f"{_e(_when(snap.rendered_at))}</time>"
    )
    day = f"UTC {_e(snap.day)}, display currency {_e(snap.currency)}"
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
{refresh}
<title>vlmroute gateway: {ready} of {len(snap.offers)} offers ready</title>
<style>
{_CSS}
</style>
</head>
<body>
<header><h1>vlmroute gateway</h1>
<span class="meta">{version}rendered {rendered}{reloads}</span></header>
<section><h2>Offers <small>{ready} of {len(snap.offers)} ready</small></h2>
{_offers(snap.offers)}</section>
<section><h2>Spend today <small>{day}</small></h2>
{problem}{_spend(snap)}</section>
<section><h2>Budgets</h2>
{_budgets(snap)}</section>
<section><h2>Recent errors <small>newest first, the last {snap.errors_kept} kept</small></h2>
{_errors(snap)}</section>
<footer>Machine-readable: <a href="ready">/ready</a> &middot; <a href="health">/health</a>\
</footer>
</body>
</html>
"""


# ------------------------------------------------------------------ the handler

Handler = Callable[[web.Request], Awaitable[web.Response]]

_HEADERS = {
    "Cache-Control": "no-store",
    # No script, no frame, nothing loaded from elsewhere: only the inline style.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def status_handler(
    router: AsyncRouter, errors: RecentErrors, *, refresh_s: int | None = REFRESH_S
) -> Handler:
    """``GET /``: the status page of ``router``, with the errors in ``errors``."""

    async def status(_request: web.Request) -> web.Response:
        page = render(snapshot_of(router, errors), refresh_s=refresh_s)
        return web.Response(text=page, content_type="text/html", charset="utf-8", headers=_HEADERS)

    return status
