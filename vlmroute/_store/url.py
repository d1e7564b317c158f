"""Redis URLs as they may be shown: without the password (no redis import here)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

__all__ = ["redact_url"]


def redact_url(url: str) -> str:
    """``url`` without its password: ``redis://:secret@host`` -> ``redis://:***@host``, and
    ``?password=secret`` -> ``?password=***``."""
    parts = urlsplit(url)
    if parts.password is not None:
        user, _, host = parts.netloc.rpartition("@")
        name = user.partition(":")[0]
        parts = parts._replace(netloc=f"{name}:***@{host}")
    return re.sub(r"(?i)(password=)[^&]*", r"\1***", urlunsplit(parts))
