"""Build a :class:`Backend` for a pricing-table offer: its dialect, URL, model and key.

Everything that can be wrong with the setup fails here, before any request: an unknown
``kind``, a retired model id, a missing key (the message names the environment variable).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import httpx
from pydantic import SecretStr

from .._pricing import Offer
from ..errors import ConfigurationError
from .backend import Backend
from .dialects import dialect_for
from .options import BackendOptions

__all__ = ["build_backend", "resolve_key"]


def resolve_key(
    offer: Offer,
    api_key: str | SecretStr | None,
    environ: Mapping[str, str] | None = None,
    *,
    required: bool = True,
) -> SecretStr | None:
    """The explicit key, else the first of the dialect's environment variables that is set.

    ``required=False`` (a dry run) returns None instead of failing on a missing key."""
    if isinstance(api_key, SecretStr):
        return api_key
    if api_key:
        return SecretStr(api_key)
    env = os.environ if environ is None else environ
    dialect = dialect_for(offer.kind)
    for name in dialect.key_env:
        value = env.get(name, "").strip()
        if value:
            return SecretStr(value)
    if dialect.key_required and required:
        names = " or ".join(dialect.key_env) or "an API key"
        raise ConfigurationError(
            f"offer {offer.id!r} needs an API key: set {names} in the environment, or pass api_key="
        )
    return None


def build_backend(
    offer: Offer,
    *,
    http: httpx.AsyncClient,
    api_key: str | SecretStr | None = None,
    base_url: str | None = None,
    model: str | None = None,
    options: BackendOptions | None = None,
    allow_retired: bool = False,
    environ: Mapping[str, str] | None = None,
    require_key: bool = True,
) -> Backend:
    """A backend for ``offer``; ``base_url`` and ``model`` override the table's.

    Raises:
        ConfigurationError: unknown kind, missing key, or a retired offer (unless
            ``allow_retired`` or a ``model`` of your own is given).
    """
    dialect = dialect_for(offer.kind)
    if not offer.is_live and not allow_retired and model is None:
        retired = offer.lifecycle.retired_on
        raise ConfigurationError(
            f"offer {offer.id!r} ({offer.model}) was retired by {offer.provider} on {retired}; "
            "pick a live offer (vlmroute prices), or pass model= with an id it still serves"
        )
    return Backend(
        offer=offer.id,
        provider=offer.provider,
        dialect=dialect,
        base_url=base_url or offer.base_url,
        model=model or offer.model,
        api_key=resolve_key(offer, api_key, environ, required=require_key),
        http=http,
        options=options,
    )
