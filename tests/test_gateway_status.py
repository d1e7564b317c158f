"""The gateway's status page (``GET /``, vlmroute/_gateway/status.py): what it shows, that
every value from outside is escaped, and that a real browser (headless Chromium) renders it
from a real server over a router that has served requests."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

import vlmroute
from vlmroute._gateway.status import (
    BudgetLine,
    OfferLine,
    RecentErrors,
    SpendLine,
    StatusSnapshot,
    render,
    snapshot_of,
    status_handler,
)
from vlmroute._ledger import MemoryLedger, SpendRecord
from vlmroute._retry import outcome_name
from vlmroute.errors import VlmrouteError
from vlmroute.money import Money
from vlmroute.testing import FakeProvider, Fault

HELLO: list[Any] = [{"role": "user", "content": "hi"}]
KEYS = {"zhipu": "sk-status-page-secret", "openrouter": "sk-or-status-page-secret"}
NOW = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)
CHROMIUM_TIMEOUT_S = 60.0


class Page(HTMLParser):
    """The tags of a page, and the text of each table row by its class."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.rows: dict[str, list[list[str]]] = {}
        self.attrs: list[dict[str, str | None]] = []
        self.text: list[str] = []
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.append(dict(attrs))
        if tag == "tr":
            self._row = []
            self.rows.setdefault(dict(attrs).get("class") or "", []).append(self._row)
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "br" and self._cell is not None:
            self._cell.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._row is not None and self._cell is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr":
            self._row = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)

    @property
    def all_text(self) -> str:
        return " ".join(" ".join(self.text).split())


def snapshot(**changes: Any) -> StatusSnapshot:
    base: dict[str, Any] = {
        "rendered_at": NOW,
        "version": "1.2.3",
        "currency": "USD",
        "offers": (
            OfferLine("zhipu-flash", "zhipu", "ready", 3, 30, 30),
            OfferLine("openrouter", "openrouter", "circuit open after 5 failures", 0, 50, 50),
        ),
        "spend": (
            SpendLine("zhipu", Money(Decimal("2.5"), "CNY"), Money(Decimal("0.352"), "USD")),
            SpendLine("openrouter", Money(Decimal("0.1"), "USD"), Money(Decimal("0.1"), "USD")),
        ),
        "spend_total": Money(Decimal("0.452"), "USD"),
        "budgets": (),
        "errors": (),
    }
    return StatusSnapshot(**{**base, **changes})


# ------------------------------------------------------------------ render, no server


def test_every_value_from_outside_is_escaped() -> None:
    evil = '<script>alert("x")</script>'
    errors = RecentErrors()
    errors.add(NOW, evil, "<b>Boom</b>", 500, 'said <img src=x onerror="alert(1)"> & left')
    page = render(
        snapshot(
            offers=(OfferLine(evil, "p&q", '"><i>why</i>', 1, 2, 2),),
            spend=(SpendLine("<u>p</u>", Money.zero("USD"), Money.zero("USD")),),
            errors=errors.snapshot(),
            version="<s>1</s>",
            spend_problem="<em>no</em>",
        )
    )
    parsed = Page(page)
    for tag in ("script", "img", "i", "b", "u", "s", "em"):
        assert tag not in parsed.tags, tag
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "p&amp;q" in page
    assert "said &lt;img src=x onerror=&quot;alert(1)&quot;&gt; &amp; left" in page
    assert [a.get("data-offer") for a in parsed.attrs if "data-offer" in a] == [evil]
    [error] = parsed.rows["error"]
    assert error[1:] == [evil, "<b>Boom</b>", "500", 'said <img src=x onerror="alert(1)"> & left']


def test_offers_show_state_slots_and_a_learned_cap() -> None:
    page = render(
        snapshot(
            offers=(
                OfferLine("zhipu-flash", "zhipu", "ready", 2, 2, 30),
                OfferLine("openrouter", "openrouter", "cooling down for 1.0 s", 0, 50, 50),
            )
        )
    )
    parsed = Page(page)
    learned, plain = parsed.rows["offer"]
    assert learned == ["zhipu-flash", "zhipu", "ready", "2 / 2 learned; configured 30"]
    assert plain == ["openrouter", "openrouter", "cooling down for 1.0 s", "0 / 50"]
    assert 'class="state ready"' in page
    assert 'class="state paused"' in page
    assert "width:100.0%" in page  # the full one's bar
    assert "1 of 2 ready" in parsed.all_text
    assert "v1.2.3" in parsed.all_text
    assert "rendered 2026-11-21 09:30:00 UTC" in parsed.all_text
    assert '<meta http-equiv="refresh" content="5">' in page
    assert "refresh" not in render(snapshot(), refresh_s=None)


def test_spend_per_provider_per_currency_and_in_the_display_currency() -> None:
    parsed = Page(render(snapshot()))
    assert parsed.rows["spend"] == [
        ["zhipu", "CNY 2.50", "USD 0.35"],
        ["openrouter", "USD 0.10", "USD 0.10"],
    ]
    assert parsed.rows["total"] == [["All providers", "CNY 2.50 + USD 0.10", "USD 0.45"]]
    assert "UTC 2026-11-21" in parsed.all_text
    unkept = Page(render(snapshot(spend=None)))
    assert "spend is not recorded" in unkept.all_text
    assert "spend" not in unkept.rows


def test_budgets_or_a_line_saying_there_are_none() -> None:
    none = Page(render(snapshot()))
    assert "No budgets are configured" in none.all_text
    assert "budget" not in none.rows
    budget = BudgetLine(
        "USD 5 a day across all providers",
        "day",
        spent=Money(Decimal("4.5"), "USD"),
        limit=Money(Decimal(5), "USD"),
        remaining=Money(Decimal("0.25"), "USD"),  # 0.25 reserved by a request in flight
        resets_at=NOW.replace(hour=0, minute=0) + timedelta(days=1),
    )
    assert budget.used == Decimal("0.95")
    page = render(snapshot(budgets=(budget,)))
    parsed = Page(page)
    assert "No budgets" not in parsed.all_text
    [row] = parsed.rows["budget"]
    assert row[:4] == [
        "USD 5 a day across all providers resets 2026-11-22 00:00:00 UTC",
        "USD 4.50",
        "USD 5.00",
        "USD 0.25",
    ]
    assert 'class="bar high"' in page
    assert 'aria-label="95% of the limit used"' in page


def test_errors_newest_first_the_last_twenty_cut_to_one_line() -> None:
    errors = RecentErrors()
    assert Page(render(snapshot(errors=errors.snapshot()))).all_text.count("No errors") == 1
    for i in range(25):
        errors.add(NOW + timedelta(seconds=i), f"offer-{i}", "ServerError", 500 + i, f"n{i}")
    errors.add(NOW - timedelta(days=1), None, "NoRouteError", None, "line one\n  line two " * 50)
    kept = errors.snapshot()
    assert len(kept) == len(errors) == errors.capacity == 20
    assert [e.offer for e in kept[:3]] == [None, "offer-24", "offer-23"]
    assert kept[-1].offer == "offer-6"  # 0..5 fell out of the ring
    assert len(kept[0].message) == 300
    assert kept[0].message.endswith("…")
    assert "\n" not in kept[0].message
    rows = Page(render(snapshot(errors=kept))).rows["error"]
    dash = "\N{EN DASH}"
    assert rows[0][:4] == ["2026-11-20 09:30:00", dash, "NoRouteError", dash]  # another day
    assert rows[1] == ["09:30:24", "offer-24", "ServerError", "524", "n24"]
    with pytest.raises(ValueError, match="timezone-aware"):
        errors.add(datetime(2026, 1, 1), "x", "ServerError", 500, "naive")


# ------------------------------------------------------------------ snapshot_of a router


def _record(rid: str, at: datetime, provider: str, offer: str, cost: Money) -> SpendRecord:
    return SpendRecord(
        request_id=rid,
        at=at,
        provider=provider,
        offer=offer,
        model="m",
        prompt_tokens=1,
        completion_tokens=1,
        reasoning_tokens=None,
        cost=cost,
        display_cost=cost,
        estimated_cost=None,
        latency_s=1.0,
        outcome="ok",
    )


def test_a_router_s_snapshot_reads_today_s_spend_and_its_budgets() -> None:
    now = datetime.now(UTC)
    ledger = MemoryLedger()
    cny, usd = Money(Decimal(10), "CNY"), Money(Decimal("0.5"), "USD")
    ledger.record(_record("a", now, "zhipu", "zhipu-flashx", cny))
    ledger.record(_record("b", now, "openrouter", "openrouter", usd))
    ledger.record(_record("c", now - timedelta(days=40), "zhipu", "zhipu-flashx", cny))
    config = {
        "offers": [{"offer": "zhipu-flashx", "cap": 7}, {"offer": "openrouter"}],
        "budgets": [
            {"amount": 5, "currency": "USD", "period": "day"},
            {"amount": 100, "currency": "CNY", "period": "month", "provider": "zhipu"},
        ],
    }

    async def go() -> StatusSnapshot:
        async with vlmroute.AsyncRouter.from_config(config, api_keys=KEYS, ledger=ledger) as r:
            return snapshot_of(r, RecentErrors(), now=now)

    snap = asyncio.run(go())
    rate = vlmroute.load_pricing().fx_table().rate("CNY", "USD")
    assert [(o.name, o.provider, o.state, o.in_flight, o.cap) for o in snap.offers] == [
        ("zhipu-flashx", "zhipu", "ready", 0, 7),
        ("openrouter", "openrouter", "ready", 0, 50),
    ]
    assert snap.spend == (
        SpendLine("zhipu", cny, Money(10 * rate, "USD")),
        SpendLine("openrouter", usd, usd),
    )
    assert snap.spend_total == Money(10 * rate + Decimal("0.5"), "USD")
    assert snap.by_currency() == [cny, usd]
    day, month = snap.budgets
    assert day.spent == snap.spend_total
    assert day.remaining == Money(Decimal(5) - snap.spend_total.amount, "USD")
    # 40 days ago is in another month: not this month's spend
    assert (month.description, month.spent) == ("CNY 100 a month on zhipu", cny)
    assert month.remaining == Money(Decimal(90), "CNY")
    assert snap.version == vlmroute.__version__
    for secret in KEYS.values():
        assert secret not in render(snap)


def test_with_no_ledger_the_page_says_spend_is_not_recorded() -> None:
    config = {"offers": [{"offer": "zhipu-flash"}], "ledger": False}

    async def go() -> StatusSnapshot:
        async with vlmroute.AsyncRouter.from_config(config, api_keys=KEYS) as router:
            return snapshot_of(router, RecentErrors(), now=NOW)

    snap = asyncio.run(go())
    assert snap.spend is None
    assert snap.budgets == ()
    text = Page(render(snap)).all_text
    assert "spend is not recorded" in text
    assert "No budgets are configured" in text


def test_a_ledger_that_fails_leaves_the_rest_of_the_page() -> None:
    class Broken(MemoryLedger):
        def spent(self, **_kwargs: Any) -> Money:
            raise OSError("disk gone at /secret/path")

    config = {"offers": [{"offer": "zhipu-flash"}]}

    async def go() -> StatusSnapshot:
        async with vlmroute.AsyncRouter.from_config(
            config, api_keys=KEYS, ledger=Broken()
        ) as router:
            return snapshot_of(router, RecentErrors(), now=NOW)

    snap = asyncio.run(go())
    assert snap.spend_problem == "spend could not be read from the ledger (OSError)"
    page = render(snap)
    assert "/secret/path" not in page
    assert Page(page).rows["offer"][0][:3] == ["zhipu-flash", "zhipu", "ready"]


# ------------------------------------------------------------------ served, and in a browser


async def _serve(router: vlmroute.AsyncRouter, errors: RecentErrors) -> web.AppRunner:
    app = web.Application()
    app.router.add_get("/", status_handler(router, errors))
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner


def _url(runner: web.AppRunner) -> str:
    host, port = runner.addresses[0][:2]
    return f"http://{host}:{port}/"


def test_the_handler_serves_html_with_strict_headers() -> None:
    config = {"offers": [{"offer": "zhipu-flash"}], "ledger": False}

    async def go() -> tuple[int, dict[str, str], str]:
        async with vlmroute.AsyncRouter.from_config(config, api_keys=KEYS) as router:
            runner = await _serve(router, RecentErrors())
            try:
                async with (
                    aiohttp.ClientSession() as http,
                    http.get(_url(runner)) as response,
                ):
                    return response.status, dict(response.headers), await response.text()
            finally:
                await runner.cleanup()

    status, headers, text = asyncio.run(go())
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["Cache-Control"] == "no-store"
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert text.startswith("<!doctype html>")
    assert "zhipu-flash" in text


def _chromium() -> str:
    """Chromium's path; where it is missing a skip, but in CI (which installs it) a failure."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("CI"):
        pytest.fail(
            "chromium is not on PATH: CI must install it (Debian: apt-get install chromium)"
        )
    pytest.skip("chromium is not on PATH (Debian: apt-get install chromium); CI runs this test")


async def _browse(chromium: str, profile: Path, *args: str) -> str:
    """Run headless Chromium once; its stdout. Killed (its whole group) after 60 s."""
    process = await asyncio.create_subprocess_exec(
        chromium,
        "--headless",
        "--no-sandbox",  # root, in a container
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), CHROMIUM_TIMEOUT_S)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
        pytest.fail(f"chromium {' '.join(args)} did not finish in {CHROMIUM_TIMEOUT_S:.0f} s")
    assert process.returncode == 0, err.decode(errors="replace")[-3000:]
    return out.decode()


async def _until(check: Any, what: str, timeout_s: float = 30.0) -> None:
    for _ in range(int(timeout_s / 0.02)):
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


class Browsed:
    """What the browser saw of the page, and the figures to expect on it."""

    def __init__(self, dom: str, html_text: str, spent: Money, error: VlmrouteError) -> None:
        self.dom = dom
        self.html_text = html_text  # the page as rendered right after, from Python
        self.spent = spent
        self.error = error


AT_WORK: dict[str, Any] = {
    "ledger": False,  # a memory ledger: there are budgets
    "retry": {"attempts": 1},
    "breaker": {"failures": 1, "open_s": 600},
    "budgets": [
        {"amount": 5, "currency": "USD", "period": "day"},
        {"amount": 50, "currency": "CNY", "period": "month", "provider": "zhipu"},
    ],
}


async def _failed(router: vlmroute.AsyncRouter, errors: RecentErrors) -> VlmrouteError:
    """One request that fails on openrouter (told to answer 502), fed to ``errors``."""
    try:
        await router.chat(HELLO, providers=["openrouter"])
    except VlmrouteError as exc:
        errors.add(
            datetime.now(UTC),
            "openrouter",
            outcome_name(exc),
            getattr(exc, "status_code", None),
            str(exc),
        )
        return exc
    raise AssertionError("the 502 did not fail the request")


async def _router_at_work(chromium: str, tmp_path: Path, shot: Path) -> Browsed:
    with (
        FakeProvider("zhipu", latency_s=0.05, cap=2, completion_tokens=200_000) as zhipu,
        FakeProvider("openrouter") as openrouter,
    ):
        offers = [
            {"offer": "zhipu-flashx", "base_url": zhipu.base_url, "cap": 4},
            {"offer": "openrouter", "base_url": openrouter.base_url},
        ]
        errors = RecentErrors()
        config = {"offers": offers, **AT_WORK}
        async with vlmroute.AsyncRouter.from_config(config, api_keys=KEYS) as router:
            replies = await asyncio.gather(
                *(router.chat(HELLO, providers=["zhipu"]) for _ in range(6))
            )
            spent = Money.zero("CNY")
            for reply in replies:
                assert reply.cost is not None
                spent += reply.cost
            openrouter.inject(Fault.server_error(502))
            error = await _failed(router, errors)
            zhipu.inject(Fault.hang(120))
            hung = asyncio.create_task(router.chat(HELLO, providers=["zhipu"]))
            await _until(lambda: router.slots.in_flight("zhipu-flashx") == 1, "a slot")
            runner = await _serve(router, errors)
            try:
                dom = await _browse(chromium, tmp_path / "profile-1", "--dump-dom", _url(runner))
                await _browse(
                    chromium,
                    tmp_path / "profile-2",
                    f"--screenshot={shot}",
                    "--window-size=1200,900",
                    _url(runner),
                )
                html_text = render(snapshot_of(router, errors))
            finally:
                hung.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await hung
                await runner.cleanup()
    return Browsed(dom, html_text, spent, error)


def test_a_real_browser_renders_the_page_of_a_router_at_work(tmp_path: Path) -> None:
    """A router over two fake providers: six requests to a zhipu offer configured for 4 in
    flight whose account takes 2 (it learns 2), one more still in flight; one 502 from
    openrouter, which opens its circuit; two budgets. Headless Chromium loads the page from
    a real server: its DOM and a screenshot."""
    chromium = _chromium()
    shot = tmp_path / "status.png"
    seen = asyncio.run(_router_at_work(chromium, tmp_path, shot))
    page = Page(seen.dom)
    assert seen.spent.amount > 0
    zhipu_row, openrouter_row = page.rows["offer"]
    assert zhipu_row == ["zhipu-flashx", "zhipu", "ready", "1 / 2 learned; configured 4"]
    assert openrouter_row[:2] == ["openrouter", "openrouter"]
    assert openrouter_row[2].startswith("circuit open after 1 failures in a row")
    assert openrouter_row[3] == "0 / 50"
    display = seen.spent.to("USD", vlmroute.load_pricing().fx_table())
    assert page.rows["spend"] == [
        ["zhipu", str(seen.spent), str(display)],
        ["openrouter", "USD 0.00", "USD 0.00"],
    ]
    assert page.rows["total"] == [["All providers", str(seen.spent), str(display)]]
    day, month = page.rows["budget"]
    assert day[0].startswith("USD 5 a day across all providers resets ")
    assert day[1:3] == [str(display), "USD 5.00"]
    assert month[0].startswith("CNY 50 a month on zhipu resets ")
    assert month[1:3] == [str(seen.spent), "CNY 50.00"]
    # what is left, less the estimate the request in flight holds
    left = Money(50 - seen.spent.amount, "CNY")
    assert Decimal(month[3].removeprefix("CNY ")) <= left.rounded(2).amount
    [error_row] = page.rows["error"]
    assert error_row[1:4] == ["openrouter", outcome_name(seen.error), "502"]
    assert error_row[4]
    assert f"v{vlmroute.__version__}" in page.all_text
    for secret in KEYS.values():
        assert secret not in seen.dom
        assert secret not in seen.html_text
    assert shot.stat().st_size > 10_000  # a PNG with something on it
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    keep = os.environ.get("VLMROUTE_STATUS_SCREENSHOT")
    if keep:  # to look at it: VLMROUTE_STATUS_SCREENSHOT=/tmp/status.png pytest ...
        shutil.copyfile(shot, keep)
