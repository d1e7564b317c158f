"""vlmroute as a Ray Data stage: each row's chat-completions request, routed, answered in place.

::

    import ray
    from vlmroute.ray import VlmrouteStage

    ds = ray.data.from_items(
        [{"custom_id": "r1", "body": '{"model": "glm-4.1v-thinking", "messages": [...]}'}]
    )
    answered = ds.map_batches(
        VlmrouteStage,
        fn_constructor_kwargs={"config": config},  # a mapping, a YAML path, a RouterConfig
        compute=ray.data.ActorPoolStrategy(size=4),  # four actors (or concurrency=4)
        batch_size=64,
    )
    # or: answered = vlmroute.ray.route_dataset(ds, config, actors=4, batch_size=64)

Each actor holds one router, built from ``config``. Give the config a Redis ``store:`` so that
every actor (on every node) shares the account's caps; without it each actor holds the whole
cap on its own. Within a batch the rows are sent at once, at most ``max_in_flight`` at a time
(default: the sum of the router's caps), so an actor fills its slots; make ``batch_size``
several times that, as a batch ends with its slowest row. Each actor writes the config's
``ledger:`` (one SQLite file is shared by the actors of a host; each host keeps its own).

Batches: Ray's default format (a dict of numpy arrays), ``batch_format="pandas"`` or
``"pyarrow"``; each comes back in the format it came in, every input column kept and these
added (replacing input columns of the same names):

    answer        str: the answer, without think/answer markup (None on failure)
    reasoning     str: the chain of thought ("" when there is none; None on failure)
    offer         str: the offer that answered, e.g. "zhipu-flash" (None on failure)
    cost          str: what the request cost, "0.00022 USD" (None when not known)
    status_code   int: 200, or the OpenAI status of the error
    error         str: None on success, else "code: message" (e.g. "no_route: ...")
    request_id    str: the request's id, as in the ledger and x-request-id
    response      str: the whole chat.completion JSON (None on failure)

(In a pandas batch a missing string may read as NaN, pandas' own missing str: use ``isna()``.)

The body column (``body_column``, default ``"body"``) holds a chat-completions request: a JSON
string (best: a string survives Arrow as it is) or an object. Arrow stores objects as structs,
which give every row every key any row has, as null; those nulls are dropped before sending.
A ``custom_id`` column (``id_column``), where there is one, goes to the ledger as the label.
Each body is sent through the translation ``vlmroute run`` and the gateway use, so a row gets
the answer a ``vlmroute run`` line gets; ``"stream": true`` is refused, as there. A failed row
is a row with ``error`` set, never an exception that stops the job.

Keys come from each provider's usual environment variable on the workers (e.g.
``ray.init(runtime_env={"env_vars": {...}})``) or from ``api_keys``; Ray keeps constructor
arguments in its object store, so the environment is the better place. Neither shows in a
repr or a column.

Nothing here imports Ray: the stage is a plain class, and callable without Ray on a batch.
Only :func:`route_dataset` needs Ray (``pip install 'vlmroute[ray]'``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from ._portal import Portal
from ._router import AsyncRouter, RouterConfig
from ._router.config import load_router_config
from ._wire import Caller, WireApp, close_stream, routes_of

if TYPE_CHECKING:
    from ray.data import Dataset

__all__ = ["INSTALL_HINT", "RESULT_COLUMNS", "VlmrouteStage", "route_dataset"]

INSTALL_HINT = "pip install 'vlmroute[ray]'"
#: The columns a stage adds, in order.
RESULT_COLUMNS = (
    "answer",
    "reasoning",
    "offer",
    "cost",
    "status_code",
    "error",
    "request_id",
    "response",
)
_PATH = "/v1/chat/completions"
ConfigSource = str | os.PathLike[str] | Mapping[str, Any] | RouterConfig


@dataclass(frozen=True, slots=True)
class _Result:
    status_code: int
    answer: str | None = None
    reasoning: str | None = None
    offer: str | None = None
    cost: str | None = None
    error: str | None = None
    request_id: str | None = None
    response: str | None = None


class VlmrouteStage:
    """A Ray Data callable class: one router per actor, a batch of requests in, answered rows
    out (see the module). Call :meth:`close` when done with one outside Ray."""

    def __init__(
        self,
        config: ConfigSource,
        *,
        api_keys: Mapping[str, str | SecretStr] | None = None,
        body_column: str = "body",
        id_column: str = "custom_id",
        max_in_flight: int | None = None,
        caller: str = "vlmroute-ray",
    ) -> None:
        self.body_column = body_column
        self.id_column = id_column
        self._closed = False
        source = config if isinstance(config, RouterConfig) else load_router_config(config)
        keys = {name: SecretStr(str(_secret(key))) for name, key in (api_keys or {}).items()}
        self._portal = Portal("vlmroute-ray")

        async def make() -> AsyncRouter:
            return AsyncRouter(source, api_keys=keys)

        try:
            self._router = self._portal.call(make)
        except BaseException:
            self._portal.close()
            raise
        self._wire = WireApp(self._router, routes_of(self._router))
        self._caller = Caller(caller)
        caps = sum(health.cap for health in self._router.health.values())
        self.max_in_flight = max(1, max_in_flight or caps)

    def __repr__(self) -> str:
        offers = list(self._router.offers)
        shared = "redis" if self._router.config.store is not None else "per actor"
        return (
            f"VlmrouteStage(offers={offers}, caps={shared}, max_in_flight={self.max_in_flight}, "
            f"body_column={self.body_column!r}, id_column={self.id_column!r})"
        )

    # ------------------------------------------------------------------ a batch

    def __call__(self, batch: Any) -> Any:
        """``batch`` (a dict of arrays or lists, a pandas DataFrame or a pyarrow Table) with
        the result columns added, in the same format."""
        bodies = _column(batch, self.body_column)
        if bodies is None:
            raise KeyError(
                f"the batch has no {self.body_column!r} column (the request bodies): it has "
                f"{', '.join(map(str, _names(batch)))}; pass body_column= to name another"
            )
        ids = _column(batch, self.id_column)
        labels = [None] * len(bodies) if ids is None else [_label(value) for value in ids]
        results = self._portal.call(lambda: self._send_all(bodies, labels))
        return _with_results(batch, results)

    async def _send_all(self, bodies: Sequence[Any], labels: Sequence[str | None]) -> list[_Result]:
        gate = asyncio.Semaphore(self.max_in_flight)

        async def one(body: Any, label: str | None) -> _Result:
            async with gate:
                try:
                    return await self._send(body, label)
                except Exception as exc:  # a bug: the row fails, the job goes on
                    return _Result(500, error=f"internal_error: {type(exc).__name__}: {exc}")

        return await asyncio.gather(
            *(one(b, label) for b, label in zip(bodies, labels, strict=True))
        )

    async def _send(self, body: Any, label: str | None) -> _Result:
        raw, problem = _request_bytes(body)
        if problem is not None:
            return _Result(400, error=f"invalid_request: {problem}")
        answer = await self._wire.handle("POST", _PATH, raw, caller=self._caller, label=label)
        request_id = answer.headers.get("x-request-id")
        if answer.stream is not None:  # refused above; never left open
            await close_stream(answer.stream)
            return _Result(400, error="invalid_request: a row is answered whole, not streamed")
        if answer.status == 200 and answer.response is not None:
            routed = answer.response
            cost = routed.cost
            return _Result(
                200,
                answer=routed.answer,
                reasoning=routed.reasoning,
                offer=routed.offer,
                cost=None if cost is None else f"{cost.amount:f} {cost.currency}",
                request_id=request_id,
                response=answer.content.decode(),
            )
        error = json.loads(answer.content).get("error") or {}
        code = error.get("code") or "error"
        return _Result(
            answer.status, error=f"{code}: {error.get('message')}", request_id=request_id
        )

    # ------------------------------------------------------------------ lifetime

    def close(self) -> None:
        """Close the router (its HTTP pool, its Redis connection, its ledger)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._portal.call(self._router.aclose)
        finally:
            self._portal.close()

    def __del__(self) -> None:  # Ray ends an actor without a call to close
        if getattr(self, "_closed", True) or not hasattr(self, "_router"):
            return
        with contextlib.suppress(Exception):
            self.close()


def route_dataset(
    dataset: Dataset,
    config: ConfigSource,
    *,
    actors: int = 1,
    batch_size: int = 64,
    api_keys: Mapping[str, str | SecretStr] | None = None,
    body_column: str = "body",
    id_column: str = "custom_id",
    max_in_flight: int | None = None,
    caller: str = "vlmroute-ray",
    **ray_remote_args: Any,
) -> Dataset:
    """``dataset.map_batches`` through :class:`VlmrouteStage` on ``actors`` actors. The
    config is read here, on the driver (a YAML path need not exist on the workers).
    ``ray_remote_args`` go to ``map_batches`` (e.g. ``num_cpus=0.25``: the stage waits on
    the network)."""
    try:
        import ray.data
    except ImportError:
        raise ImportError(f"vlmroute.ray.route_dataset needs Ray: {INSTALL_HINT}") from None
    parsed = config if isinstance(config, RouterConfig) else load_router_config(config)
    if actors > 1 and parsed.store is None:
        warnings.warn(
            f"{actors} actors and no store: in the router config: each actor holds the "
            "account's whole cap, so providers may answer 429; add store: {url: redis://...}",
            UserWarning,
            stacklevel=2,
        )
    kwargs: dict[str, Any] = {
        "config": parsed,
        "api_keys": api_keys,
        "body_column": body_column,
        "id_column": id_column,
        "max_in_flight": max_in_flight,
        "caller": caller,
    }
    return dataset.map_batches(
        VlmrouteStage,
        fn_constructor_kwargs=kwargs,
        compute=ray.data.ActorPoolStrategy(size=actors),
        batch_size=batch_size,
        **ray_remote_args,
    )


# ---------------------------------------------------------------------- rows


def _secret(key: str | SecretStr) -> str:
    return key.get_secret_value() if isinstance(key, SecretStr) else key


def _label(value: Any) -> str | None:
    if _missing(value):
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _request_bytes(body: Any) -> tuple[bytes, str | None]:
    """The JSON bytes to send for one row's body, or why there are none."""
    if _missing(body):
        return b"", "the row has no body"
    if isinstance(body, bytes | bytearray):
        body = bytes(body).decode("utf-8", errors="replace")
    if isinstance(body, str):
        try:
            parsed = json.loads(body)
        except (ValueError, RecursionError):
            return b"", "the body is not JSON"
    elif isinstance(body, Mapping):
        parsed = _plain(body)  # an Arrow struct: numpy arrays inside, nulls for absent keys
    else:
        return b"", f"the body is a {type(body).__name__}, not a chat-completions object"
    if not isinstance(parsed, dict):
        return b"", f"the body is a JSON {type(parsed).__name__}, not an object"
    if parsed.get("stream"):
        return b"", 'the body has "stream": true; a row is answered whole'
    return json.dumps(parsed, ensure_ascii=False).encode(), None


def _plain(value: Any) -> Any:
    """JSON-ready: mappings without null members, sequences (numpy arrays too) as lists,
    numpy scalars as Python ones."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items() if not _missing(v)}
    if isinstance(value, str | bytes):
        return value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    tolist = getattr(value, "tolist", None)  # numpy arrays and scalars
    if callable(tolist):
        return _plain(tolist())
    return value


# ---------------------------------------------------------------------- batches


def _kind(batch: Any) -> str:
    module = type(batch).__module__
    if module.startswith("pandas"):
        return "pandas"
    if module.startswith("pyarrow"):
        return "pyarrow"
    if isinstance(batch, Mapping):
        return "dict"
    raise TypeError(
        f"a batch is a dict of columns, a pandas DataFrame or a pyarrow Table, not "
        f"{type(batch).__name__}"
    )


def _names(batch: Any) -> list[Any]:
    kind = _kind(batch)
    if kind == "pandas":
        return list(batch.columns)
    if kind == "pyarrow":
        return list(batch.column_names)
    return list(batch)


def _column(batch: Any, name: str) -> list[Any] | None:
    kind = _kind(batch)
    if name not in _names(batch):
        return None
    if kind == "pandas":
        return list(batch[name].tolist())
    if kind == "pyarrow":
        return list(batch.column(name).to_pylist())
    return list(batch[name])


def _values(results: Sequence[_Result], name: str) -> list[Any]:
    return [getattr(result, name) for result in results]


def _with_results(batch: Any, results: Sequence[_Result]) -> Any:
    kind = _kind(batch)
    if kind == "pandas":
        out = batch.copy(deep=False)
        for name in RESULT_COLUMNS:  # pandas' own dtypes: a missing str is None or NaN
            out[name] = _values(results, name)
        return out
    if kind == "pyarrow":
        import pyarrow as pa  # type: ignore[import-untyped]

        table = batch
        for name in RESULT_COLUMNS:
            kind_of = pa.int64() if name == "status_code" else pa.string()
            column = pa.array(_values(results, name), type=kind_of)
            if name in table.column_names:
                table = table.set_column(table.column_names.index(name), name, column)
            else:
                table = table.append_column(name, column)
        return table
    out_dict = dict(batch)
    numpy = any(type(v).__module__ == "numpy" for v in out_dict.values())
    for name in RESULT_COLUMNS:
        values = _values(results, name)
        if numpy:
            import numpy as np

            out_dict[name] = np.array(values, dtype=np.int64 if name == "status_code" else object)
        else:
            out_dict[name] = values
    return out_dict
