"""What a file is, when it should have been UTF-8 text and is not (pure: reads no file).

Used by every loader that reads a text file a user names (pricing, workload, router config),
so that a UTF-16 YAML as PowerShell writes it, or an image passed by mistake, is named as
such rather than ending in a ``UnicodeDecodeError``.
"""

from __future__ import annotations

import os

__all__ = ["not_utf8"]

_MAGIC = (
    (b"\xff\xfe", "UTF-16 text (as Windows PowerShell writes it); save it as UTF-8"),
    (b"\xfe\xff", "UTF-16 text; save it as UTF-8"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image, not a text file"),
    (b"\xff\xd8\xff", "a JPEG image, not a text file"),
    (b"GIF8", "a GIF image, not a text file"),
    (b"%PDF", "a PDF document, not a text file"),
    (b"PK\x03\x04", "a ZIP archive (or an Office document), not a text file"),
)


def not_utf8(path: str | os.PathLike[str], exc: UnicodeDecodeError) -> str:
    """A sentence naming what ``path`` holds and what was expected."""
    data = bytes(exc.object[:16])
    for magic, what in _MAGIC:
        if data.startswith(magic):
            return f"{os.fspath(path)} is {what}"
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return f"{os.fspath(path)} is a WebP image, not a text file"
    return (
        f"{os.fspath(path)} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset "
        f"{exc.start}); save it as UTF-8"
    )
