"""Take a secret out of text a provider sent back, whole or in part (pure).

Providers echo keys in error messages, sometimes cut ("Insufficient credits on key
sk-or-v1-8f3a...", 30 of its 32 characters). Any run of :data:`MIN_RUN` or more characters
that also occurs in the secret is replaced by ``***``: shorter runs are too common in ordinary
text to mean anything, and 8 characters of a key are already too many to show.
"""

from __future__ import annotations

__all__ = ["MIN_RUN", "scrub"]

MIN_RUN = 8


def scrub(text: str, secret: str | None) -> str:
    """``text`` with the secret, and every run of it of MIN_RUN or more characters, as ***."""
    if not secret or not text:
        return text
    if len(secret) < MIN_RUN:
        return text.replace(secret, "***")
    grams = {secret[i : i + MIN_RUN] for i in range(len(secret) - MIN_RUN + 1)}
    covered = bytearray(len(text))
    for i in range(len(text) - MIN_RUN + 1):
        if text[i : i + MIN_RUN] in grams:
            covered[i : i + MIN_RUN] = b"\x01" * MIN_RUN
    if not any(covered):
        return text
    out: list[str] = []
    i = 0
    while i < len(text):
        if covered[i]:
            while i < len(text) and covered[i]:
                i += 1
            out.append("***")
        else:
            out.append(text[i])
            i += 1
    return "".join(out)
