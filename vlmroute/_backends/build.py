"""Build a :class:`Backend` for a pricing-table offer: its dialect, URL, model and key.

Everything that can be wrong with the setup fails here, before any request: an unknown
``kind``, a retired model id, a missing key (the message names the environment variable).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from pydantic import SecretStr

from .._pricing import Offer, Region
from ..errors import ConfigurationError
from .backend import Backend
from .dialects import dialect_for
from .http import HttpEdge
from .options import BackendOptions

if TYPE_CHECKING:
    import httpx


__all__ = ["build_backend", "resolve_key"]


def resolve_key(
    offer: Offer,
    api_key: str | SecretStr | None,
    environ: Mapping[str, str] | None = None,
    *,
    required: bool = True,
    key_env: Sequence[str] | None = None,
) -> tuple[SecretStr | None, str | None]:
    """The explicit key, else the first of ``key_env`` (default: the dialect's environment
    variables) that is set; and the variable it came from (None if given or missing).

    ``required=False`` (a dry run) returns no key instead of failing on a missing one."""
    if isinstance(api_key, SecretStr):
        return api_key, None
    if api_key:
        return SecretStr(api_key), None
    env = os.environ if environ is None else environ
    dialect = dialect_for(offer.kind)
    names = tuple(key_env) if key_env is not None else dialect.key_env
    for name in names:
        value = env.get(name, "").strip()
        if value:
            return SecretStr(value), name
    if dialect.key_required and required:
        listed = " or ".join(names) or "an API key"
        raise ConfigurationError(
            f"offer {offer.id!r} needs an API key: set {listed} in the environment, name "
            "another variable with api_key_env: on its entry in the router config, or, in "
            "code, pass the key (api_key= to a client, api_keys= to a router)"
        )
    return None, None


def _region(offer: Offer, name: str | None) -> Region | None:
    if name is None:
        return None
    region = offer.regions.get(name)
    if region is None:
        have = ", ".join(offer.regions) or "none but its base_url"
        raise ConfigurationError(f"offer {offer.id!r} has no region {name!r}: it has {have}")
    return region


def build_backend(
    offer: Offer,
    *,
    http: HttpEdge | httpx.AsyncClient,
    api_key: str | SecretStr | None = None,
    base_url: str | None = None,
    model: str | None = None,
    options: BackendOptions | None = None,
    allow_retired: bool = False,
    environ: Mapping[str, str] | None = None,
    require_key: bool = True,
    region: str | None = None,
) -> Backend:
    """A backend for ``offer``; ``base_url`` and ``model`` override the table's.

    ``region`` picks one of the offer's endpoints (``intl``: z.ai for Zhipu), and looks for
    the key in that region's variables first. Without it, the region is the one whose
    variable held the key (``ZAI_API_KEY``: z.ai), else the table's ``base_url``.

    Raises:
        ConfigurationError: unknown kind or region, missing key, or a retired offer (unless
            ``allow_retired`` or a ``model`` of your own is given).
    """
    dialect = dialect_for(offer.kind)
    chosen = _region(offer, region)
    if not offer.is_live and not allow_retired and model is None:
        retired = offer.lifecycle.retired_on
        raise ConfigurationError(
            f"offer {offer.id!r} ({offer.model}) was retired by {offer.provider} on {retired}; "
            "pick a live offer (vlmroute prices), or pass model= with an id it still serves"
        )
    key_env = None
    if chosen is not None:  # its variables first, then the dialect's
        key_env = tuple(dict.fromkeys((*chosen.key_env, *dialect.key_env)))
    key, source = resolve_key(offer, api_key, environ, required=require_key, key_env=key_env)
    if chosen is None and source is not None:
        chosen = next((r for r in offer.regions.values() if source in r.key_env), None)
    return Backend(
        offer=offer.id,
        provider=offer.provider,
        dialect=dialect,
        base_url=base_url or (chosen.base_url if chosen is not None else offer.base_url),
        model=model or offer.model,
        api_key=key,
        http=http,
        options=options,
    )
