"""OpenAI's wire format over a router, in one place (pure but for the router call).

:class:`WireApp` takes an OpenAI chat-completions request (method, path, JSON bytes) and
answers it as OpenAI would (JSON, or server-sent events), routing through an
:class:`~vlmroute.AsyncRouter`. The drop-in's transport and the gateway are thin shells
around it. :data:`FIELDS` decides every request field.
"""

from .app import Caller, WireApp, WireResponse, close_stream, routes_of
from .errors import WireError, error_of
from .fields import FIELDS
from .routes import ModelRoutes

__all__ = [
    "FIELDS",
    "Caller",
    "ModelRoutes",
    "WireApp",
    "WireError",
    "WireResponse",
    "close_stream",
    "error_of",
    "routes_of",
]
