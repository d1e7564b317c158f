"""``vlmroute serve``: the router behind an OpenAI-compatible HTTP API (aiohttp.web)."""

from .server import DEFAULT_BODY_LIMIT, make_app

__all__ = ["DEFAULT_BODY_LIMIT", "make_app"]
