"""Router configuration: which offers, at which tier, under which policy (frozen pydantic).

::

    # router.yaml
    currency: USD              # the display currency of costs and budgets
    policy: cheapest           # cheapest | fastest | ordered | weighted
    overflow: spill            # spill: take the best offer with a free slot now;
                               # wait: wait up to wait_for_best_s for the best, then spill
    max_wait_s: 300            # how long a request may wait when every offer is full
    offers:
      - offer: zhipu-flash     # an id from the pricing table (vlmroute prices)
        tier: V1               # the account tier: the in-flight cap comes from the table
      - offer: openrouter
        cap: 20                # override the cap
      - offer: local-gpu
        base_url: http://gpu-1:8000/v1
    budgets:
      - {amount: 5, currency: USD, period: day}
    ledger: ~/.local/state/vlmroute/spend.sqlite3   # or false
    store:                     # share caps across processes and hosts: Redis
      url: redis://redis-1:6379/0
      workers: 4               # processes on the account: each takes cap // 4 if Redis is down
    gateway:                   # vlmroute serve: who may call it, and what each caller may spend
      keys:
        - name: web-app        # recorded in the ledger as the caller
          key_env: WEB_APP_GATEWAY_KEY   # the env var holding the key the app sends
          providers: [zhipu]   # offers or providers this key may use (default: all)
          budgets:
            - {amount: 1, currency: USD, period: day}

Keys are never in this file: they come from each provider's usual environment variable
(``api_key_env`` names another) or from ``Router.from_config(..., api_keys={...})``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .._backends import Timeouts
from .._ledger import Budget
from .._pricing import PriceTable, Processor
from .._problems import describe
from .._retry import FaultKind, RetryPolicy
from .._store import redact_url
from .._text_files import not_utf8
from ..errors import ConfigurationError

__all__ = [
    "BreakerPolicy",
    "GatewayConfig",
    "GatewayKey",
    "OfferConfig",
    "RateLimitPolicy",
    "RouterConfig",
    "StoreConfig",
    "config_from_env",
    "load_router_config",
]

Policy = Literal["cheapest", "fastest", "ordered", "weighted"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class OfferConfig(_Frozen):
    """One offer the router may use, with this account's settings for it."""

    offer: str = Field(min_length=1)
    tier: str | None = None
    cap: Annotated[int, Field(ge=1)] | None = None
    weight: Annotated[float, Field(gt=0)] = 1.0
    base_url: str | None = Field(default=None, pattern=r"^https?://")
    region: str | None = None  # one of the offer's regions (intl: z.ai), see the table
    model: str | None = None
    api_key_env: str | None = None
    timeouts: Timeouts | None = None
    app_url: str | None = None
    app_title: str | None = None
    extra_body: dict[str, Any] = Field(default_factory=dict)
    extra_headers: dict[str, str] = Field(default_factory=dict)
    health_interval_s: Annotated[float, Field(gt=0)] | None = None
    allow_retired: bool = False
    #: The server's image pixel budget, when it is not GLM-4.1V's published one (a vLLM
    #: started with its own ``max_pixels``): image tokens on this offer are counted so.
    processor: Processor | None = None


class BreakerPolicy(_Frozen):
    """A circuit breaker per offer: ``failures`` faults in a row open it for ``open_s``;
    then one probe request may pass (half-open), and its success closes it."""

    failures: Annotated[int, Field(ge=1)] = 5
    open_s: Annotated[float, Field(gt=0)] = 30.0


class RateLimitPolicy(_Frozen):
    """What a 429 does to an offer's cap (see ``vlmroute/_router/learned.py``).

    "Too many in flight" (a 429 without Retry-After while other requests are in flight):
    the cap drops at once to what else is in flight and the request waits for a slot again
    (no rest, no retry counted). Any other 429: the cap drops the same way and the offer
    rests for Retry-After (or ``cooldown_s``). Either way the cap grows back one slot per
    ``recover_s`` in which a request succeeded with the offer at its cap.
    """

    cooldown_s: Annotated[float, Field(ge=0)] = 1.0
    recover_s: Annotated[float, Field(gt=0)] = 10.0


class StoreConfig(_Frozen):
    """Where concurrency slots live when several processes or hosts share an account: Redis.

    Slots are leases that live ``lease_ttl_s`` unless renewed, so a killed process frees its
    slots within that time. If Redis stops answering, ``on_unreachable: local`` goes on with
    per-process caps of ``cap // workers`` (at least 1) until it answers again; ``refuse``
    fails requests with NoRouteError. The URL's password never appears in a repr or an error.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    url: str = Field(pattern=r"^(redis|rediss|unix)://")
    lease_ttl_s: Annotated[float, Field(gt=0)] = 30.0
    on_unreachable: Literal["local", "refuse"] = "local"
    workers: Annotated[int, Field(ge=1)] = 1
    namespace: str = Field(default="vlmroute", pattern=r"^\S+$")  # Redis key prefix

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            yield name, redact_url(value) if name == "url" else value


class GatewayKey(_Frozen):
    """One caller of ``vlmroute serve``: the key it sends (read from ``key_env``, never from
    this file), the offers it may use, and its own budgets, on top of the router's."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    key_env: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    providers: tuple[str, ...] | None = Field(default=None, min_length=1)
    budgets: tuple[Budget, ...] = ()

    @model_validator(mode="after")
    def _own_budgets(self) -> Self:
        if any(b.caller not in (None, self.name) for b in self.budgets):
            raise ValueError(f"key {self.name!r}: its budgets are its own: leave caller out")
        return self

    def own_budgets(self) -> tuple[Budget, ...]:
        """The key's budgets, each counting only this key's requests."""
        return tuple(b.model_copy(update={"caller": self.name}) for b in self.budgets)


class GatewayConfig(_Frozen):
    """``vlmroute serve``'s callers. No keys: it serves loopback only, unless
    ``--insecure-no-auth``."""

    keys: tuple[GatewayKey, ...] = ()

    @model_validator(mode="after")
    def _unique_keys(self) -> Self:
        for what in ("name", "key_env"):
            values = [getattr(k, what) for k in self.keys]
            twice = sorted({v for v in values if values.count(v) > 1})
            if twice:
                raise ValueError(f"gateway keys: {what} {', '.join(twice)} is used twice")
        return self


class RouterConfig(_Frozen):
    """Everything a router needs but keys. Build from YAML with :func:`load_router_config`."""

    # Validation errors name the path, never the value: store.url may hold a password.
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    offers: tuple[OfferConfig, ...] = Field(min_length=1)
    policy: Policy = "cheapest"
    overflow: Literal["spill", "wait"] = "spill"
    wait_for_best_s: Annotated[float, Field(ge=0)] = 30.0
    max_wait_s: Annotated[float, Field(ge=0)] | None = None
    currency: str = "USD"
    pricing: str | None = None
    expected_output_tokens: Annotated[int, Field(ge=0)] = 1500
    retry: RetryPolicy = RetryPolicy(attempts=2, faults=frozenset({"server", "connection"}))
    fail_over_on: frozenset[FaultKind | Literal["balance", "auth", "content_filter"]] = frozenset(
        {"rate_limited", "overloaded", "server", "timeout", "connection", "balance", "auth"}
    )
    breaker: BreakerPolicy = BreakerPolicy()
    rate_limits: RateLimitPolicy = RateLimitPolicy()
    balance_reset_s: Annotated[float, Field(gt=0)] = 3600.0
    budgets: tuple[Budget, ...] = ()
    ledger: str | Literal[False] | None = None
    transport: Literal["aiohttp", "httpx"] = "aiohttp"
    store: StoreConfig | None = None
    gateway: GatewayConfig = GatewayConfig()

    @property
    def all_budgets(self) -> tuple[Budget, ...]:
        """The router's budgets, then each gateway key's own."""
        return self.budgets + tuple(b for k in self.gateway.keys for b in k.own_budgets())

    @model_validator(mode="after")
    def _unique_offers(self) -> Self:
        seen: set[str] = set()
        for entry in self.offers:
            if entry.offer in seen:
                raise ValueError(f"offer {entry.offer!r} is listed twice")
            seen.add(entry.offer)
        return self

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, source: str = "<mapping>") -> RouterConfig:
        """Validate a mapping; errors name ``source``, the key path and what was expected."""
        try:
            return cls.model_validate(dict(data))
        except ValidationError as exc:
            # Every problem, in plain words, and no value: one may be a Redis password.
            problem = f"{source}: {describe(exc, show_input=False)}"
        # Raised outside the handler, unchained: the ValidationError keeps each bad value (a
        # Redis password maybe), in its cause or its context.
        raise ConfigurationError(problem)


def load_router_config(source: str | os.PathLike[str] | Mapping[str, Any]) -> RouterConfig:
    """A config from a YAML file path or a mapping."""
    if isinstance(source, Mapping):
        return RouterConfig.from_mapping(source)
    path = Path(source)
    bad_yaml: str | None = None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(f"cannot read router config {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        bad_yaml = f"router config: expected a UTF-8 YAML file; {not_utf8(path, exc)}"
    except yaml.YAMLError as exc:
        # Where and what, never PyYAML's quote of the line: it may hold a Redis password.
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "cannot be parsed"
        bad_yaml = f"{path}: not valid YAML{where}: {problem}"
    except RecursionError:
        bad_yaml = f"{path}: YAML nested too deeply"
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError):
        # PyYAML's constructors on a value such as 2026-13-01 or !!bool maybe; the value is
        # not quoted (it may be a password)
        bad_yaml = f"{path}: a value YAML cannot construct (a date that does not exist, or "
        bad_yaml += "a !!tag that does not fit its value)"
    if bad_yaml is not None:  # raised here, not in the handler: no __context__ to leak through
        raise ConfigurationError(bad_yaml)
    if not isinstance(data, Mapping):
        raise ConfigurationError(f"{path}: expected a mapping with offers: at the top level")
    return RouterConfig.from_mapping(data, source=str(path))


def config_from_env(pricing: PriceTable, environ: Mapping[str, str] | None = None) -> RouterConfig:
    """Every live offer whose provider has a key in the environment, cheapest first.

    A local server joins when ``VLMROUTE_LOCAL_BASE_URL`` names it (e.g.
    ``http://127.0.0.1:8000/v1``). The ledger and policy take their defaults.
    """
    from .._backends import dialect_for

    env = os.environ if environ is None else environ
    local_url = env.get("VLMROUTE_LOCAL_BASE_URL", "").strip()
    entries: list[dict[str, Any]] = []
    for offer in pricing.live_offers():
        dialect = dialect_for(offer.kind)
        if offer.is_local:
            if local_url:
                entries.append({"offer": offer.id, "base_url": local_url})
        elif any(env.get(name, "").strip() for name in dialect.key_env):
            entries.append({"offer": offer.id})
    if not entries:
        raise ConfigurationError(
            "no provider is configured: set ZHIPUAI_API_KEY, OPENROUTER_API_KEY or "
            "VLMROUTE_LOCAL_BASE_URL, or pass a router config (see README, 'The router')"
        )
    return RouterConfig.from_mapping({"offers": entries}, source="<environment>")
