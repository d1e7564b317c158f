"""Gateway keys: who may call ``vlmroute serve``, checked in constant time (no I/O but env).

::

    # router.yaml
    gateway:
      keys:
        - {name: web-app, key_env: WEB_APP_GATEWAY_KEY, providers: [zhipu],
           budgets: [{amount: 1, currency: USD, period: day}]}

A caller sends its key as OpenAI clients send theirs, ``Authorization: Bearer <key>``
(``OPENAI_API_KEY=<key>``); a browser may send it as the password of HTTP Basic auth (the
status page asks for it so). The key is compared with every configured key through their
SHA-256 digests and :func:`hmac.compare_digest`, so neither which key matched nor how much
of one did shows in the time taken. A key's value is read from its environment variable at
start-up and is never logged, echoed in an error, or kept in a repr.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .._router.config import GatewayConfig
from .._wire import Caller, WireError
from ..errors import ConfigurationError

__all__ = ["MIN_KEY_LENGTH", "GatewayKeys"]

#: Shorter keys are refused at start-up: they can be guessed.
MIN_KEY_LENGTH = 16


@dataclass(frozen=True, slots=True)
class _Key:
    caller: Caller
    digest: bytes = field(repr=False)


class GatewayKeys:
    """The configured keys, as digests, and the caller each one names."""

    def __init__(self, keys: Sequence[_Key]) -> None:
        self._keys = tuple(keys)

    @classmethod
    def from_config(
        cls,
        config: GatewayConfig,
        *,
        offers: Mapping[str, str],
        environ: Mapping[str, str] | None = None,
    ) -> GatewayKeys:
        """Read each key from its environment variable. ``offers`` maps offer ids to their
        providers: a key's ``providers`` may name either. A missing, short or repeated key,
        or an unknown offer, is a ConfigurationError naming the variable (never the value)."""
        env = os.environ if environ is None else environ
        keys: list[_Key] = []
        seen: dict[bytes, str] = {}
        for entry in config.keys:
            value = env.get(entry.key_env, "").strip()
            if not value:
                raise ConfigurationError(
                    f"gateway key {entry.name!r}: ${entry.key_env} is not set; export the key "
                    "its callers send (e.g. python -c 'import secrets; "
                    "print(secrets.token_urlsafe(32))')"
                )
            if len(value) < MIN_KEY_LENGTH:
                raise ConfigurationError(
                    f"gateway key {entry.name!r}: ${entry.key_env} holds {len(value)} "
                    f"characters; use at least {MIN_KEY_LENGTH} (a random one: python -c "
                    "'import secrets; print(secrets.token_urlsafe(32))')"
                )
            digest = _digest(value)
            if digest in seen:
                raise ConfigurationError(
                    f"gateway keys {seen[digest]!r} and {entry.name!r} hold the same key: "
                    "give each caller its own"
                )
            seen[digest] = entry.name
            allowed = None
            if entry.providers is not None:
                allowed = frozenset(_offers_named(entry.name, entry.providers, offers))
            keys.append(_Key(Caller(entry.name, allowed), digest))
        return cls(keys)

    def __bool__(self) -> bool:
        return bool(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def names(self) -> list[str]:
        return [k.caller.name for k in self._keys]

    def caller(self, authorization: str | None) -> Caller:
        """The caller whose key ``authorization`` carries, or a 401 WireError."""
        given = _credential(authorization)
        if given is None:
            raise _unauthorized(
                "no gateway key: send Authorization: Bearer <key> (OPENAI_API_KEY=<key> in "
                "an OpenAI client)"
            )
        digest = _digest(given)
        found: Caller | None = None
        for key in self._keys:  # every key is compared: the time does not say which matched
            if hmac.compare_digest(digest, key.digest):
                found = key.caller
        if found is None:
            raise _unauthorized("the gateway key is not valid: check OPENAI_API_KEY")
        return found

    def __repr__(self) -> str:
        return f"GatewayKeys({self.names()})"


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


def _credential(authorization: str | None) -> str | None:
    """The key in ``Bearer <key>`` or in HTTP Basic's password; None if neither."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer":
        return value or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2] or None
    return None


def _unauthorized(message: str) -> WireError:
    return WireError(
        401,
        message,
        code="invalid_api_key",
        headers={"www-authenticate": 'Bearer realm="vlmroute"'},
    )


def _offers_named(key: str, names: Sequence[str], offers: Mapping[str, str]) -> list[str]:
    chosen = [o for name in names for o, provider in offers.items() if name in (o, provider)]
    unknown = [n for n in names if n not in offers and n not in offers.values()]
    if unknown:
        raise ConfigurationError(
            f"gateway key {key!r}: providers {', '.join(map(repr, unknown))} is not an offer "
            f"or provider of this router ({', '.join(offers)})"
        )
    return chosen
