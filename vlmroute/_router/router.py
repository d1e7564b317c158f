"""The router's async engine: choose an offer, take a slot, send, fail over, account.

Per request: the pure decision (:mod:`.decide`) ranks the configured offers for this
request's token mix and says why any is left out; the slot store (:mod:`.slots`) gives the
best-ranked offer with a free slot, or the first slot freed anywhere; the retry policy
retries that offer for transient faults; any other failure that may fail over sends the
request to the next offer. Every try is in the response's ``attempts``; its ``cost`` is
the provider's reported charge or reported usage priced from the table; one ledger record
is written per request, whatever happened.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NoReturn, TypedDict, TypeVar

from pydantic import SecretStr

from .._backends import Backend, BackendOptions, build_backend, edge_of, make_edge, probe
from .._client import MessagesLike, to_request
from .._cost import actual_cost
from .._ledger import (
    BudgetBook,
    Ledger,
    MemoryLedger,
    NullLedger,
    SpendRecord,
    SqliteLedger,
    default_ledger_path,
)
from .._pricing import Lifecycle, Offer, PriceTable, load_pricing
from .._request import ChatRequest, VideoPart
from .._response import Attempt, ChatResponse, StreamEnd, StreamEvent
from .._retry import attempt_of, fault_kind, outcome_name, run_with_retries
from .._store.local import LocalSlots
from .._store.protocol import Lease, Pause, SlotStore, SlotTimeout
from .._tokens import text_tokens
from ..errors import (
    AuthenticationError,
    BudgetExceededError,
    ConfigurationError,
    ContentFilteredError,
    InsufficientBalanceError,
    NoRouteError,
    ProviderTimeoutError,
    RateLimitedError,
    RequestError,
    VlmrouteError,
)
from ..money import Money, parse_amount
from .config import OfferConfig, RouterConfig, config_from_env, load_router_config
from .decide import OfferView, Quote, RequestShape, RoutePlan, decide, quote, shape_of
from .events import Listener, RequestDone
from .health import Breaker, OfferHealth

if TYPE_CHECKING:
    import httpx


log = logging.getLogger("vlmroute")

__all__ = ["AsyncRouter"]

_T = TypeVar("_T")
_DEFAULT_WAIT_S = 300.0


class _Measured(TypedDict):
    """The :class:`SpendRecord` fields calibration reads (see ``_Run._measured``)."""

    ttft_s: float | None
    expected_prompt_tokens: int
    media_tokens: int
    images: int
    videos: int


class AsyncRouter:
    """Routes chat requests across offers. Build it with :meth:`from_config`."""

    def __init__(
        self,
        config: RouterConfig,
        *,
        pricing: PriceTable | None = None,
        api_keys: Mapping[str, str | SecretStr] | None = None,
        http_client: httpx.AsyncClient | None = None,
        ledger: Ledger | None = None,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        dry_run: bool = False,
    ) -> None:
        self.config = config
        self._dry_run = dry_run
        self.pricing = pricing or load_pricing(config.pricing)
        self.fx = self.pricing.fx_table()
        self._clock = clock
        self._rng = rng or random.Random()
        self._http = (
            make_edge(transport=config.transport) if http_client is None else edge_of(http_client)
        )
        keys = dict(api_keys or {})
        self._entries = {e.offer: e for e in config.offers}
        self.offers: dict[str, Offer] = {e.offer: self._offer(e) for e in config.offers}
        self.backends: dict[str, Backend] = {
            e.offer: self._backend(e, keys, environ) for e in config.offers
        }
        self.health: dict[str, OfferHealth] = {
            e.offer: OfferHealth(
                cap=e.cap or self.offers[e.offer].cap(e.tier),
                breaker=Breaker(config.breaker),
                limits=config.rate_limits,
            )
            for e in config.offers
        }
        self.ledger = ledger or (MemoryLedger() if dry_run else _ledger(config))
        self._records = not isinstance(self.ledger, NullLedger)
        self._listeners: list[Listener] = []
        #: Requests waiting for a slot now (the queue's depth).
        self.waiting = 0
        self.budgets = BudgetBook(self.ledger, config.all_budgets, self.fx)
        self.slots: SlotStore = self._slot_store(clock)
        #: What providers= and exclude= may name: offer ids and their providers.
        self._names = frozenset(self.offers) | {o.provider for o in self.offers.values()}
        self._probes: list[asyncio.Task[None]] = []
        #: Prices per (offer, prompt tokens, output tokens): requests repeat their shapes.
        self._quotes: dict[tuple[str, int, int], Quote] = {}

    @classmethod
    def from_config(
        cls,
        source: str | os.PathLike[str] | Mapping[str, Any] | RouterConfig | None = None,
        *,
        api_keys: Mapping[str, str | SecretStr] | None = None,
        pricing: PriceTable | None = None,
        http_client: httpx.AsyncClient | None = None,
        ledger: Ledger | None = None,
        dry_run: bool = False,
    ) -> AsyncRouter:
        """A router from a YAML file path, a mapping, or a :class:`RouterConfig`; with none,
        every live offer whose provider has a key in the environment. ``dry_run``: one that
        plans and prices but never sends."""
        if source is None:
            config = config_from_env(pricing or load_pricing())
        elif isinstance(source, RouterConfig):
            config = source
        else:
            config = load_router_config(source)
        return cls(
            config,
            pricing=pricing,
            api_keys=api_keys,
            http_client=http_client,
            ledger=ledger,
            dry_run=dry_run,
        )

    def _offer(self, entry: OfferConfig) -> Offer:
        """The table's offer; one you pinned to your own model id, or allowed although
        retired, counts as live (SiliconFlow serves other ids over the same wire)."""
        offer = self.pricing.offer(entry.offer)
        if entry.processor is not None:
            offer = offer.model_copy(update={"processor": entry.processor})
        if offer.is_live or not (entry.allow_retired or entry.model):
            return offer
        return offer.model_copy(update={"lifecycle": Lifecycle(state="live")})

    def _backend(
        self, entry: OfferConfig, keys: Mapping[str, str | SecretStr], environ: Any
    ) -> Backend:
        offer = self.offers[entry.offer]
        env = dict(environ) if environ is not None else None
        key = keys.get(entry.offer) or keys.get(offer.provider)
        if key is None and entry.api_key_env is not None:
            key = (env if env is not None else os.environ).get(entry.api_key_env) or None
        options = BackendOptions(
            timeouts=entry.timeouts or BackendOptions().timeouts,
            extra_headers=entry.extra_headers,
            extra_body=entry.extra_body,
            app_url=entry.app_url,
            app_title=entry.app_title,
        )
        return build_backend(
            offer,
            http=self._http,
            api_key=key,
            base_url=entry.base_url,
            model=entry.model,
            options=options,
            allow_retired=entry.allow_retired or self._dry_run,
            environ=env,
            require_key=not self._dry_run,
            region=entry.region,
        )

    def _slot_store(self, clock: Callable[[], float]) -> SlotStore:
        """Slots in this process, or in Redis when ``store:`` is set (caps per account)."""
        offers = list(self.offers)

        def on_take(name: str) -> None:
            self.health[name].breaker.dispatched(self._clock())

        rpm = {k: o.rate_limits.rpm for k, o in self.offers.items() if o.rate_limits.rpm}
        tpm = {k: o.rate_limits.tpm for k, o in self.offers.items() if o.rate_limits.tpm}
        store = self.config.store
        if store is None or self._dry_run:  # a dry run sends nothing: no Redis to reach
            return LocalSlots(
                offers, capacity=self._capacity, on_take=on_take, rpm=rpm, tpm=tpm, clock=clock
            )
        try:
            from .._store.redis_slots import RedisSlots  # redis is an optional dependency
        except ModuleNotFoundError as exc:
            if exc.name is None or exc.name.partition(".")[0] != "redis":
                raise
            raise ConfigurationError(
                "store: needs the redis package: pip install 'vlmroute[redis]'"
            ) from None
        return RedisSlots(
            offers,
            url=store.url,
            on_pause=self._adopt,
            spend_keys=self.budgets.shared_keys,
            on_spend=self.budgets.observe_total,
            scopes={name: backend.account_scope() for name, backend in self.backends.items()},
            capacity=self._capacity,
            on_take=on_take,
            rpm=rpm,
            tpm=tpm,
            namespace=store.namespace,
            lease_ttl_s=store.lease_ttl_s,
            on_unreachable=store.on_unreachable,
            workers=store.workers,
            clock=clock,
        )

    # ------------------------------------------------------------------ decision (no I/O)

    def _capacity(self, name: str) -> int:
        health = self.health[name]
        now = self._clock()
        if health.blocked(now) is not None or health.paused(now) is not None:
            return 0
        return health.effective_cap()

    def _views(self) -> list[OfferView]:
        now = self._clock()
        return [
            OfferView(
                offer=self.offers[name],
                order=index,
                weight=self._entries[name].weight,
                cap=self.health[name].effective_cap(),
                in_flight=self.slots.in_flight(name),
                blocked=self.health[name].blocked(now),
                paused=self.health[name].paused(now),
                latency_s=self.health[name].latency_s,
                configured_cap=self.health[name].cap if self.health[name].learned.learned else None,
            )
            for index, name in enumerate(self.offers)
        ]

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(done)`` with a :class:`~vlmroute.RequestDone` as each request ends
        (see :mod:`vlmroute._router.events`)."""
        self._listeners.append(listener)
        self._records = True  # the rows are built for listeners even without a ledger

    def remove_listener(self, listener: Listener) -> None:
        self._listeners.remove(listener)

    def _tell(self, done: RequestDone) -> None:
        for listener in self._listeners:
            try:
                listener(done)
            except Exception:
                log.exception("vlmroute: a request listener raised; the request is unaffected")

    def _budget_check(self, caller: str | None) -> Callable[[Offer, Money], str | None] | None:
        """Why an offer's estimate would break a budget (None: no budget applies)."""
        book = self.budgets
        if not book.budgets:
            return None

        def reason(offer: Offer, cost: Money) -> str | None:
            budget = book.check(offer.provider, cost, caller)
            return None if budget is None else f"would exceed the budget of {budget.describe()}"

        return reason

    def plan(
        self,
        messages: MessagesLike,
        *,
        max_tokens: int | None = None,
        max_cost: Money | Decimal | float | str | None = None,
        providers: Sequence[str] | None = None,
        exclude: Sequence[str] = (),
    ) -> RoutePlan:
        """The dry run, with no I/O: the offers that would be tried, best first, each with
        its estimated cost, and every offer left out with the reason."""
        request = to_request(messages, max_tokens=max_tokens)
        return self._plan(request, max_cost=max_cost, providers=providers, exclude=exclude)

    def _plan(
        self,
        request: ChatRequest,
        *,
        max_cost: Money | Decimal | float | str | None,
        providers: Sequence[str] | None,
        exclude: Sequence[str],
        caller: str | None = None,
    ) -> RoutePlan:
        cap_cost = None
        if max_cost is not None:
            cap = parse_amount(max_cost, currency=self.config.currency)
            cap_cost = self.fx.convert(cap, self.config.currency)
        self._check_names(providers, "providers")
        self._check_names(exclude, "exclude")
        return decide(
            shape_of(request, self.config.expected_output_tokens),
            self._views(),
            policy=self.config.policy,
            fx=self.fx,
            currency=self.config.currency,
            allow=providers,
            deny=exclude,
            max_cost=cap_cost,
            budget=self._budget_check(caller),
            rng=self._rng,
            quoted=self._quoted,
        )

    def _quoted(self, offer: Offer, shape: RequestShape) -> Quote:
        key = (offer.id, shape.prompt_on(offer), shape.output_tokens)
        found = self._quotes.get(key)
        if found is None:
            if len(self._quotes) >= 4096:  # many distinct shapes: start afresh
                self._quotes.clear()
            found = self._quotes[key] = quote(offer, shape, self.fx, self.config.currency)
        return found

    def _check_names(self, names: Sequence[str] | None, what: str) -> None:
        """A RequestError naming any name that is neither an offer nor a provider here
        (a typo would otherwise leave every offer out, or none)."""
        unknown = [n for n in names or () if n not in self._names]
        if unknown:
            raise RequestError(
                f"{what}: {', '.join(map(repr, unknown))} is not an offer or provider of this "
                f"router (offers: {', '.join(self.offers)})"
            )

    # ------------------------------------------------------------------ sending

    async def chat(
        self,
        messages: MessagesLike,
        *,
        temperature: float | None = None,
        top_p: float | None = None,
        max_tokens: int | None = None,
        stop: str | Sequence[str] | None = None,
        seed: int | None = None,
        extra_body: Mapping[str, Any] | None = None,
        deadline_s: float | None = None,
        max_cost: Money | Decimal | float | str | None = None,
        providers: Sequence[str] | None = None,
        exclude: Sequence[str] = (),
        caller: str | None = None,
        label: str | None = None,
    ) -> ChatResponse:
        """Route one request; the response says which offer served it, its attempts and cost.

        ``caller`` names who sent it (the gateway passes its key's name): it is recorded in
        the ledger, and the budgets with that ``caller`` apply to it as well as the rest.
        ``label`` is the caller's own name for it (``vlmroute run`` passes the line's
        ``custom_id``), recorded in the ledger.

        Raises:
            RequestError: the request is invalid (before anything is sent).
            NoRouteError: no offer can take it (``reasons`` says why, per offer), or no slot
                freed before ``deadline_s``.
            ProviderError: the last offer's error when every candidate failed.
        """
        request = to_request(
            messages,
            temperature=temperature,
            top_p=top_p,
            max_tokens=max_tokens,
            stop=stop,
            seed=seed,
            extra_body=extra_body,
        )
        plan = self._plan(
            request, max_cost=max_cost, providers=providers, exclude=exclude, caller=caller
        )
        run = self._run(request, plan, deadline_s, caller, label)
        try:
            return await run.complete()
        except VlmrouteError as exc:
            run.record_refusal(exc)
            raise
        except asyncio.CancelledError:  # the caller gave up on it
            run.record_abandoned()
            raise
        finally:
            await run.close()

    async def stream(
        self,
        messages: MessagesLike,
        *,
        temperature: float | None = None,
        top_p: float | None = None,
        max_tokens: int | None = None,
        stop: str | Sequence[str] | None = None,
        seed: int | None = None,
        extra_body: Mapping[str, Any] | None = None,
        deadline_s: float | None = None,
        max_cost: Money | Decimal | float | str | None = None,
        providers: Sequence[str] | None = None,
        exclude: Sequence[str] = (),
        caller: str | None = None,
        label: str | None = None,
    ) -> AsyncIterator[StreamEvent]:
        """Route one streamed request; failover happens only before the first delta."""
        request = to_request(
            messages,
            temperature=temperature,
            top_p=top_p,
            max_tokens=max_tokens,
            stop=stop,
            seed=seed,
            extra_body=extra_body,
        )
        plan = self._plan(
            request, max_cost=max_cost, providers=providers, exclude=exclude, caller=caller
        )
        run = self._run(request, plan, deadline_s, caller, label)
        try:
            async for event in run.stream():
                yield event
        except VlmrouteError as exc:
            run.record_refusal(exc)
            raise
        except (GeneratorExit, asyncio.CancelledError):  # the reader left before the end
            run.record_abandoned()
            raise
        finally:
            await run.close()

    def _run(
        self,
        request: ChatRequest,
        plan: RoutePlan,
        deadline_s: float | None,
        caller: str | None,
        label: str | None = None,
    ) -> _Run:
        if self._dry_run:
            raise ConfigurationError("this router was built for dry runs (plan) and cannot send")
        return _Run(self, request, plan, deadline_s, caller=caller, label=label)

    # ------------------------------------------------------------------ bookkeeping

    def _fails_over(self, exc: VlmrouteError) -> bool:
        kinds = self.config.fail_over_on
        kind: str | None = fault_kind(exc)
        if isinstance(exc, InsufficientBalanceError):
            kind = "balance"
        elif isinstance(exc, AuthenticationError):
            kind = "auth"
        elif isinstance(exc, ContentFilteredError):
            kind = "content_filter"
        return kind is not None and kind in kinds

    def _on_failure(self, name: str, exc: VlmrouteError) -> None:
        now = self._clock()
        health = self.health[name]
        if isinstance(exc, RateLimitedError):
            health.rate_limited(now, self.slots.account_in_flight(name), exc.retry_after)
            rest = health.cooldown_until - now
            self._poke_at(rest)
            health.breaker.released()
            self.slots.share(name, Pause("cooldown", rest, cap=health.effective_cap()))
        elif isinstance(exc, InsufficientBalanceError | AuthenticationError):
            reason = (
                "out of balance or credits"
                if isinstance(exc, InsufficientBalanceError)
                else "the API key was rejected"
            )
            health.disable(now, self.config.balance_reset_s, reason)
            health.breaker.released()
            self.slots.share(name, Pause("disabled", self.config.balance_reset_s, reason=reason))
        elif fault_kind(exc) is not None:
            health.breaker.failed(now)
            if health.breaker.opened_at == now:  # it opened (or reopened) just now
                self._poke_at(self.config.breaker.open_s)
                self.slots.share(name, Pause("circuit", self.config.breaker.open_s))
        else:
            health.breaker.released()

    def _on_crowded(self, name: str) -> None:
        """A "too many in flight" 429 while others were in flight: learn the cap from what
        else is in flight, before this request's slot is handed on."""
        health, now = self.health[name], self._clock()
        health.breaker.released()
        others = self.slots.account_in_flight(name) - 1
        learned = health.learned.too_many(now, others)
        if learned is not None:
            log.info("%s: the account takes %d in flight (learned from a 429)", name, learned)
            self.slots.share(name, Pause("cap", 0.0, cap=learned))

    def _adopt(self, name: str, pause: Pause) -> None:
        """Another process on the account hit a rate limit, learned its cap, or found it
        out of balance."""
        health, now = self.health[name], self._clock()
        if pause.kind == "cap":
            health.adopt(now, pause)
            self.slots.poke()  # the cap may have grown
            return
        was = health.blocked(now) or health.paused(now)
        health.adopt(now, pause)
        if was is None:  # one line when the offer stops, not one per message
            log.info("%s: %s for %.0f s, as another process found", name, pause.kind, pause.seconds)
        if pause.kind != "disabled":
            self._poke_at(pause.seconds)

    def _on_success(self, name: str, latency_s: float | None) -> None:
        """After the request's slot is released: ``busy`` counts it back in."""
        health = self.health[name]
        health.breaker.succeeded()
        if latency_s is not None:
            health.observe_latency(latency_s)
        if health.learned.learned:
            busy = self.slots.account_in_flight(name) + 1
            grown = health.learned.succeeded(self._clock(), busy)
            if grown is not None:
                self.slots.share(name, Pause("cap", 0.0, cap=grown))
                self.slots.poke()

    def _poke_at(self, delay: float) -> None:
        if delay > 0:
            asyncio.get_running_loop().call_later(delay, self.slots.poke)

    def _start_probes(self) -> None:
        if self._probes:
            return
        for name, entry in self._entries.items():
            if entry.health_interval_s is not None:
                task = asyncio.get_running_loop().create_task(
                    self._probe_loop(name, entry.health_interval_s)
                )
                self._probes.append(task)

    async def _probe_loop(self, name: str, interval: float) -> None:
        backend = self.backends[name]
        while True:
            result = await probe(self._http, backend.base_url, headers=backend.headers())
            health = self.health[name]
            was_healthy = health.healthy
            health.healthy = result.ok
            health.health_error = result.error or ""
            if result.ok and not was_healthy:
                self.slots.poke()
            await asyncio.sleep(interval)

    async def aclose(self) -> None:
        await self.close_connections()
        self.ledger.close()

    async def close_connections(self) -> None:
        """Stop health probes and close the HTTP pool and the slot store; the ledger stays
        open (for a router left behind on an event loop that has closed)."""
        for task in self._probes:
            task.cancel()
        self._probes.clear()
        await self.slots.aclose()
        await self._http.aclose()  # closes only an edge it made (not your http_client)

    async def __aenter__(self) -> AsyncRouter:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()


def _ledger(config: RouterConfig) -> Ledger:
    if config.ledger is False:
        return MemoryLedger() if config.all_budgets else NullLedger()
    return SqliteLedger(config.ledger or default_ledger_path())


class _DeadlineReached(ProviderTimeoutError):
    """The request's own deadline_s ran out while an offer worked on it: not the offer's
    fault (no circuit-breaker count) and no time left to fail over."""


class _Crowded(Exception):
    """A "too many in flight" 429 (no Retry-After, others in flight on the account): the
    request gives its slot back and waits for one again; no retry is counted, no rest."""

    def __init__(self, error: RateLimitedError, latency_s: float) -> None:
        super().__init__(str(error))
        self.error = error
        self.latency_s = latency_s


#: Rate-limit codes that say "too frequent", not "too many at once": no cap to learn there.
_FREQUENCY_CODES = frozenset({"1303"})  # Zhipu: request frequency (1302 is concurrency)


def _says_crowded(exc: RateLimitedError) -> bool:
    """Whether a 429 means "too many in flight now": Zhipu's 1302, or any 429 without
    Retry-After that does not name a frequency limit (what a provider without codes says
    when its concurrency is full)."""
    return exc.retry_after is None and exc.provider_code not in _FREQUENCY_CODES


#: The ledger outcome of a stream whose reader left before its end.
ABANDONED = "abandoned"

#: How many "too many in flight" answers one request takes before it gives up (its wait
#: deadline usually ends it first).
_MAX_REQUEUES = 32


class _Run:
    """One routed request: its slot, its reservations, its attempts and its one record."""

    def __init__(
        self,
        router: AsyncRouter,
        request: ChatRequest,
        plan: RoutePlan,
        deadline_s: float | None,
        *,
        caller: str | None = None,
        label: str | None = None,
    ) -> None:
        self.router = router
        self.caller = caller
        self.label = label
        self.request = request
        self.plan = plan
        self.id = os.urandom(16).hex()  # as random as uuid4().hex, without its import
        self.attempts: list[Attempt] = []
        self.tried: set[str] = set()
        config = router.config
        wait = config.max_wait_s if config.max_wait_s is not None else _DEFAULT_WAIT_S
        if deadline_s is not None:
            wait = min(wait, deadline_s)
        self.started = router._clock()
        self.deadline = self.started + wait
        # deadline_s also bounds the sending (to the first delta, for a stream).
        self.hard_deadline = None if deadline_s is None else self.started + deadline_s
        self.slot: Lease | None = None
        self.reservation: Any = None
        self.recorded = False
        self.requeues = 0
        self.last_offer: str | None = None  # the offer of the slot taken last
        self.record: SpendRecord | None = None
        self.first_at: float | None = None  # when a stream's first delta came
        self.sent_at: float | None = None  # when the last try was sent (a stream's ttft_s)
        self.streamed = False
        self.streamed_text: list[str] = []  # a stream's deltas so far, priced if it is cut

    def _remaining(self) -> list[str]:
        return [c.offer for c in self.plan.candidates if c.offer not in self.tried]

    async def _take(self) -> Lease:
        offers = self._remaining()
        if not offers:
            self._refuse()
        slots = self.router.slots
        tokens = self.plan.shape.prompt_tokens + self.plan.shape.output_tokens
        self.router.waiting += 1
        try:
            if self.router.config.overflow == "wait" and len(offers) > 1:
                patience = self.router._clock() + self.router.config.wait_for_best_s
                try:
                    return await slots.acquire(
                        offers[:1], tokens=tokens, deadline=min(self.deadline, patience)
                    )
                except SlotTimeout:
                    pass
            return await slots.acquire(offers, tokens=tokens, deadline=self.deadline)
        except SlotTimeout:
            raise NoRouteError.waited(offers, self.router._clock() - self.started) from None
        finally:
            self.router.waiting -= 1

    def _refuse(self) -> NoReturn:
        """Nothing left to try: a budget refusal if budgets alone stood in the way."""
        skipped = self.plan.skipped
        considered = [s for s in skipped if s.kind != "pinned"]  # the request left them out
        if considered and not self.plan.candidates and all(s.kind == "budget" for s in considered):
            offer = self.router.offers[considered[0].offer]
            shape = self.plan.shape
            estimate = self.router.fx.convert(
                offer.cost(shape.prompt_on(offer), shape.output_tokens),
                self.router.config.currency,
            )
            held = self.router.budgets.reserve(  # raises
                self.id, offer.provider, estimate, self.caller
            )
            self.router.budgets.settle(held, None)  # the budget freed up meanwhile
        raise NoRouteError.no_candidates(self.plan.reasons)

    def _begin(self, lease: Lease) -> None:
        self.slot = lease
        self.last_offer = lease.offer
        name = lease.offer
        if not self.router.budgets.budgets:
            return
        candidate = next(c for c in self.plan.candidates if c.offer == name)
        self.reservation = self.router.budgets.reserve(
            self.id, self.router.offers[name].provider, candidate.cost, self.caller
        )

    async def _end_slot(self) -> None:
        if self.slot is not None:
            lease, self.slot = self.slot, None
            await self.router.slots.release(lease)  # stores make this cancellation-safe

    async def _attempt(self, call: Callable[[Backend], Awaitable[_T]]) -> tuple[str, _T]:
        """Try offers in turn until one answers; fail over per policy."""
        router = self.router
        router._start_probes()
        while True:
            lease = await self._take()
            name = lease.offer
            try:
                self._begin(lease)
            except BudgetExceededError:
                await self._end_slot()  # spent meanwhile by requests in flight
                self.tried.add(name)
                if self._remaining():
                    continue
                raise
            backend = router.backends[name]
            try:
                result = await self._bounded(
                    name,
                    run_with_retries(
                        router.config.retry,
                        self._watched(name, functools.partial(call, backend)),
                        offer=name,
                        attempts=self.attempts,
                    ),
                )
            except _Crowded as crowded:
                self.attempts.append(attempt_of(name, crowded.error, crowded.latency_s))
                router._on_crowded(name)  # learn before the slot is handed on
                self._settle(None)
                await self._end_slot()
                self.requeues += 1
                if self.requeues < _MAX_REQUEUES:
                    continue
                self._record_failure(name, crowded.error)
                raise crowded.error from None
            except _DeadlineReached as exc:
                self.attempts.append(attempt_of(name, exc, 0.0))
                self._settle(None)
                await self._end_slot()
                self._record_failure(name, exc)
                raise
            except VlmrouteError as exc:
                router._on_failure(name, exc)
                self._settle(None)
                await self._end_slot()
                self.tried.add(name)
                if router._fails_over(exc) and self._remaining():
                    continue
                self._record_failure(name, exc)
                raise
            except BaseException:
                self._settle(None)
                await self._end_slot()
                raise
            return name, result

    def _watched(self, name: str, call: Callable[[], Awaitable[_T]]) -> Callable[[], Awaitable[_T]]:
        """``call``, with a "too many in flight" 429 turned into :class:`_Crowded`."""
        router = self.router

        async def once() -> _T:
            started = self.sent_at = router._clock()
            try:
                return await call()
            except RateLimitedError as exc:
                if _says_crowded(exc) and router.slots.account_in_flight(name) > 1:
                    raise _Crowded(exc, router._clock() - started) from None
                raise

        return once

    async def _bounded(self, name: str, call: Awaitable[_T]) -> _T:
        """``call`` within the request's deadline_s, if it has one."""
        if self.hard_deadline is None:
            return await call
        left = self.hard_deadline - self.router._clock()
        timer = asyncio.timeout(max(left, 0.0))
        try:
            async with timer:
                return await call
        except TimeoutError:
            if not timer.expired():
                raise
            self.attempts.append(
                attempt_of(name, None, 0.0).model_copy(
                    update={"outcome": "ProviderTimeoutError", "message": "deadline_s reached"}
                )
            )
            raise ProviderTimeoutError(
                f"{name}: no answer within the request's deadline_s "
                f"({self.hard_deadline - self.started:g} s)",
                provider=name,
            ) from None

    async def complete(self) -> ChatResponse:
        name, response = await self._attempt(lambda b: b.complete(self.request))
        await self._end_slot()
        return self._finish(name, response)

    async def stream(self) -> AsyncIterator[StreamEvent]:
        self.streamed = True
        name, (first, events) = await self._attempt(lambda b: b.open_stream(self.request))
        try:
            event: StreamEvent | None = first
            while event is not None:
                if self.first_at is None:
                    self.first_at = self.router._clock()
                if isinstance(event, StreamEnd):
                    await self._end_slot()
                    event = StreamEnd(response=self._finish(name, event.response))
                else:
                    self.streamed_text.append(event.text)
                yield event
                event = await anext(events, None)
        except VlmrouteError as exc:
            self.router._on_failure(name, exc)
            self._record_failure(name, exc)
            raise
        finally:
            await events.aclose()

    def _finish(self, name: str, response: ChatResponse) -> ChatResponse:
        router = self.router
        router._on_success(name, response.latency_s)
        cost = actual_cost(router.offers[name], response.usage)
        response = response.model_copy(update={"cost": cost, "attempts": tuple(self.attempts)})
        if router._records:
            self._settle(self._spend(name, response, cost, outcome="ok"))
        return response

    def _record_failure(self, name: str | None, exc: VlmrouteError) -> None:
        """The row of a request that ended in ``exc`` on offer ``name`` (None: refused
        before any offer was tried), with nothing spent."""
        self._record_end(name, outcome_name(exc))

    def _record_end(self, name: str | None, outcome: str) -> None:
        if not self.router._records:
            return
        offer = None if name is None else self.router.offers[name]
        display = self.router.config.currency
        self._write(
            SpendRecord(
                request_id=self.id,
                at=datetime.now(UTC),
                provider=None if offer is None else offer.provider,
                offer=name,
                model=None if name is None else self.router.backends[name].model,
                prompt_tokens=0,
                completion_tokens=0,
                reasoning_tokens=None,
                cost=Money.zero(display if offer is None else offer.currency),
                display_cost=Money.zero(display),
                estimated_cost=None,
                latency_s=self.router._clock() - self.started,
                outcome=outcome,
                attempts=len(self.attempts),
                caller=self.caller,
                label=self.label,
                **self._measured(offer),
            )
        )

    def record_abandoned(self) -> None:
        """One row for a stream its reader left, or a call its task cancelled, before the
        end, if it has none yet: ``outcome`` is ``abandoned``, on the offer last tried.

        A provider reports no usage for a cut stream, yet it has read the prompt and charges
        for what it generated: a request that held a slot is priced from vlmroute's own count
        of its prompt and of the text streamed so far, and counted against the budgets (one
        abandoned while waiting for a slot cost nothing)."""
        if self.recorded or not self.router._records:
            return
        name = self.slot.offer if self.slot is not None else None
        if name is None:
            self._record_end(self.last_offer, ABANDONED)
            return
        router = self.router
        offer = router.offers[name]
        prompt = self.plan.shape.prompt_on(offer)
        completion = text_tokens("".join(self.streamed_text)) if self.streamed_text else 0
        cost = offer.cost(prompt, completion)
        candidate = next(c for c in self.plan.candidates if c.offer == name)
        self._settle(
            SpendRecord(
                request_id=self.id,
                at=datetime.now(UTC),
                provider=offer.provider,
                offer=name,
                model=router.backends[name].model,
                prompt_tokens=prompt,
                completion_tokens=completion,
                reasoning_tokens=None,
                cost=cost,
                display_cost=router.fx.convert(cost, router.config.currency),
                estimated_cost=candidate.cost,
                latency_s=router._clock() - self.started,
                outcome=ABANDONED,
                attempts=len(self.attempts),
                caller=self.caller,
                label=self.label,
                **self._measured(offer),
            )
        )

    def record_refusal(self, exc: VlmrouteError) -> None:
        """One row for a request that ended in ``exc`` and has none yet: refused before any
        offer was tried, or while waiting for a slot after one failed (no-op otherwise)."""
        if not self.recorded:
            self._record_failure(self.attempts[-1].offer if self.attempts else None, exc)

    def _spend(self, name: str, response: ChatResponse, cost: Money, outcome: str) -> SpendRecord:
        router = self.router
        candidate = next(c for c in self.plan.candidates if c.offer == name)
        usage = response.usage
        return SpendRecord(
            request_id=self.id,
            at=datetime.now(UTC),
            provider=router.offers[name].provider,
            offer=name,
            model=response.model or router.backends[name].model,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            reasoning_tokens=usage.reasoning_tokens,
            cost=cost,
            display_cost=router.fx.convert(cost, router.config.currency),
            estimated_cost=candidate.cost,
            latency_s=response.latency_s,
            outcome=outcome,
            attempts=len(self.attempts),
            provider_request_id=response.request_id,
            caller=self.caller,
            label=self.label,
            **self._measured(router.offers[name]),
        )

    def _measured(self, offer: Offer | None) -> _Measured:
        """What calibration compares with the provider's answer: the stream's time to its
        first delta, and vlmroute's own count of the prompt as sent, with its media (as the
        serving offer counts images, where it declares its own ``processor:``)."""
        counted = self.request.prompt_tokens()  # counted once per request, then cached
        ttft = None
        if self.first_at is not None and self.sent_at is not None:
            ttft = max(self.first_at - self.sent_at, 0.0)
        total = counted.total if offer is None else self.plan.shape.prompt_on(offer)
        return _Measured(
            ttft_s=ttft,
            expected_prompt_tokens=total,
            media_tokens=total - counted.text - counted.template,
            images=self.plan.shape.images,
            videos=sum(isinstance(p, VideoPart) for p in self.request.parts()),
        )

    def _settle(self, record: SpendRecord | None) -> None:
        if self.reservation is not None:
            reservation, self.reservation = self.reservation, None
            book = self.router.budgets
            if book.settle(reservation, record) and record is not None:
                self.router.slots.add_spend(book.shares(record))  # other processes' budgets
            if record is not None:
                self.recorded, self.record = True, record
        elif record is not None:
            self._write(record)

    def _write(self, record: SpendRecord) -> None:
        if not self.recorded:
            self.router.ledger.record(record)
            self.recorded, self.record = True, record

    async def close(self) -> None:
        self._settle(None)
        await self._end_slot()
        if self.router._listeners:
            self.router._tell(self._done())

    def _done(self) -> RequestDone:
        record = self.record
        candidates = self.plan.candidates
        return RequestDone(
            request_id=self.id,
            outcome=record.outcome if record is not None else ABANDONED,
            offer=record.offer if record is not None else self.last_offer,
            best=candidates[0].offer if candidates else None,
            attempts=tuple(self.attempts),
            record=record,
            prompt=self.request.prompt_tokens(),
            latency_s=self.router._clock() - self.started,
            ttft_s=None if self.first_at is None else self.first_at - self.started,
            stream=self.streamed,
            caller=self.caller,
        )
