"""Backends: provider wire formats (the HTTP edge). Pure helpers live beside them."""

from .backend import Backend
from .build import build_backend, resolve_key
from .dialects import DIALECTS, Dialect, dialect_for
from .http import HttpAnswer, HttpEdge, edge_of, make_edge
from .local import ServerHealth, ServerLoad, parse_metrics, probe
from .options import BackendOptions, Timeouts

__all__ = [
    "DIALECTS",
    "Backend",
    "BackendOptions",
    "Dialect",
    "HttpAnswer",
    "HttpEdge",
    "ServerHealth",
    "ServerLoad",
    "Timeouts",
    "build_backend",
    "dialect_for",
    "edge_of",
    "make_edge",
    "parse_metrics",
    "probe",
    "resolve_key",
]
