"""Width and height of an image, read from its header without decoding it.

The token cost of an image depends only on its size, so vlmroute reads the size from the
first bytes of a PNG, GIF, WebP or JPEG and never needs Pillow. A file is read in small
pieces: a JPEG whose frame header sits behind a large EXIF block is walked segment by
segment with seeks, not read whole. URLs are not fetched: pass the size as ``WxH``.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import sys
import urllib.parse
from collections.abc import Callable
from typing import TYPE_CHECKING, BinaryIO, TypeAlias

from vlmroute.errors import ImageError, UnreadableImageError

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

__all__ = ["ImageSource", "image_size", "parse_size"]

ImageSource: TypeAlias = "str | os.PathLike[str] | bytes | bytearray | memoryview | PILImage"
"""A path, a ``data:`` URI, the encoded bytes, or a PIL image (if you have Pillow)."""

_Read = Callable[[int, int], bytes]  # (offset, size) -> at most size bytes, fewer at the end

_HEAD = 32  # enough for PNG, GIF and WebP headers and the JPEG SOI marker
_SIZE_RE = re.compile(r"\s*([0-9]+)\s*[xX\u00d7]\s*([0-9]+)\s*", re.ASCII)
_NAME_LIMIT = 60


def _short(text: str, *, keep_end: bool = False) -> str:
    """``text`` cut to about 60 characters for messages (a path keeps its file name)."""
    if len(text) <= _NAME_LIMIT:
        return text
    if keep_end:
        return "..." + text[3 - _NAME_LIMIT :]
    return text[: _NAME_LIMIT - 3] + "..."


def parse_size(text: str) -> tuple[int, int]:
    """``(width, height)`` from ``"1920x1080"`` (also ``X`` or ``\u00d7``, spaces allowed).

    Raises:
        ImageError: the text is not two whole numbers of at least 1 joined by an x.
    """
    match = _SIZE_RE.fullmatch(text) if isinstance(text, str) else None
    if match is None or int(match[1]) < 1 or int(match[2]) < 1:
        shown = _short(text) if isinstance(text, str) else type(text).__name__
        raise ImageError(f"image size {shown!r} is not WIDTHxHEIGHT, e.g. 1920x1080")
    return int(match[1]), int(match[2])


def _u16be(data: bytes, at: int) -> int:
    return int.from_bytes(data[at : at + 2], "big")


def _u16le(data: bytes, at: int) -> int:
    return int.from_bytes(data[at : at + 2], "little")


def _png(head: bytes) -> tuple[int, int]:
    """IHDR is the first chunk: width and height are big-endian u32 at offsets 16 and 20."""
    if len(head) < 24 or head[12:16] != b"IHDR":
        raise ValueError("PNG header is cut short or has no IHDR chunk")
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def _gif(head: bytes) -> tuple[int, int]:
    """The logical screen: little-endian u16 width and height after the 6-byte signature."""
    if len(head) < 10:
        raise ValueError("GIF header is cut short")
    return _u16le(head, 6), _u16le(head, 8)


def _webp(head: bytes) -> tuple[int, int]:
    """The first chunk after ``RIFF....WEBP``: VP8 (lossy), VP8L (lossless) or VP8X."""
    kind = head[12:16]
    if kind == b"VP8 " and len(head) >= 30:
        if head[23:26] != b"\x9d\x01\x2a":
            raise ValueError("WebP VP8 frame has no start code")
        return _u16le(head, 26) & 0x3FFF, _u16le(head, 28) & 0x3FFF
    if kind == b"VP8L" and len(head) >= 25:
        if head[20] != 0x2F:
            raise ValueError("WebP VP8L stream has no signature byte")
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if kind == b"VP8X" and len(head) >= 30:
        width = int.from_bytes(head[24:27], "little") + 1
        return width, int.from_bytes(head[27:30], "little") + 1
    raise ValueError("WebP header is cut short or has an unknown first chunk")


def _is_sof(marker: int) -> bool:
    """SOF0..SOF15 carry the frame size; C4 (DHT), C8 (JPG) and CC (DAC) do not."""
    return 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC)


def _jpeg(read: _Read) -> tuple[int, int]:
    """Walk the segments after SOI to the first SOFn, skipping each by its length."""
    offset = 2
    while True:
        if read(offset, 1) != b"\xff":
            raise ValueError("JPEG segment does not start with a marker")
        while (byte := read(offset + 1, 1)) == b"\xff":  # fill bytes before a marker
            offset += 1
        if not byte:
            break
        marker = byte[0]
        offset += 2
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # TEM, RSTn, SOI: no length field
            continue
        if marker in (0xD9, 0xDA, 0x00):
            raise ValueError("JPEG has no frame header before its image data")
        segment = read(offset, 7)
        if len(segment) < 2 or _u16be(segment, 0) < 2:
            break
        if _is_sof(marker):
            if len(segment) < 7:
                break
            return _u16be(segment, 5), _u16be(segment, 3)
        offset += _u16be(segment, 0)
    raise ValueError("JPEG is cut short before its frame header")


def _dimensions(read: _Read) -> tuple[int, int]:
    """``(width, height)`` from the header behind ``read``; ``ValueError`` says why not."""
    head = read(0, _HEAD)
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        size = _png(head)
    elif head[:6] in (b"GIF87a", b"GIF89a"):
        size = _gif(head)
    elif head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        size = _webp(head)
    elif head[:2] == b"\xff\xd8":
        size = _jpeg(read)
    else:
        raise ValueError("not a PNG, JPEG, WebP or GIF image" if head else "it is empty")
    if size[0] < 1 or size[1] < 1:
        raise ValueError(f"header says {size[0]}x{size[1]}")
    return size


def _from_bytes(data: bytes | bytearray | memoryview) -> tuple[int, int]:
    if type(data) is bytes:
        return _dimensions(lambda at, size: data[at : at + size])
    view = memoryview(data)
    view = (view if view.c_contiguous else memoryview(view.tobytes())).cast("B")
    return _dimensions(lambda at, size: bytes(view[at : at + size]))


def _file_reader(handle: BinaryIO) -> _Read:
    def read(at: int, size: int) -> bytes:
        handle.seek(at)
        return handle.read(size)

    return read


def _from_file(path: str) -> tuple[int, int]:
    try:
        with open(path, "rb") as handle:
            return _dimensions(_file_reader(handle))
    except FileNotFoundError:
        raise ImageError(f"no such image file: {_short(path, keep_end=True)}") from None
    except OSError as exc:
        name = _short(path, keep_end=True)
        raise ImageError(f"cannot read image file {name}: {exc.strerror}") from None
    except ValueError as exc:  # open() refuses e.g. a path with a NUL character in it
        if "null" not in str(exc):
            raise
        raise ImageError(f"not a usable file path: {_short(repr(path))}") from None


def _data_uri_bytes(uri: str) -> bytes:
    """The payload of ``data:[type][;base64],payload`` (``ValueError`` if malformed)."""
    header, comma, payload = uri.partition(",")
    if not comma:
        raise ValueError("data URI has no comma before its payload")
    if header.lower().endswith(";base64"):
        try:  # strict base64 decodes to what the check below would: one pass, no copy
            return binascii.a2b_base64(payload, strict_mode=True)
        except (binascii.Error, ValueError):  # whitespace, or a stray character: look closer
            pass
        try:
            # Strict: a stray character would otherwise be skipped here and sent as is.
            return base64.b64decode("".join(payload.split()), validate=True)
        except binascii.Error:
            raise ValueError("data URI payload is not valid base64") from None
    return urllib.parse.unquote_to_bytes(payload)


def _pil_size(source: object) -> tuple[int, int] | None:
    """``source.size`` if Pillow is already imported and ``source`` is a PIL image."""
    module = sys.modules.get("PIL.Image")
    image_class = getattr(module, "Image", None)
    if not isinstance(image_class, type) or not isinstance(source, image_class):
        return None
    width, height = getattr(source, "size", (0, 0))
    if type(width) is not int or type(height) is not int or width < 1 or height < 1:
        raise UnreadableImageError(f"PIL image has size {width}x{height}")
    return width, height


def _measure(source: object, name: str) -> tuple[int, int]:
    if isinstance(source, bytes | bytearray | memoryview):
        return _from_bytes(source)
    if isinstance(source, str) and source[:5].lower() == "data:":
        return _from_bytes(_data_uri_bytes(source))
    if isinstance(source, str | os.PathLike):
        path = os.fspath(source)
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        return _from_file(path)
    raise ImageError(
        f"cannot measure an image given as {name}: pass a path, bytes, a data URI "
        "or a PIL image, or the size as WxH"
    )


def _source_name(source: object) -> str:
    """A short name for ``source`` in messages; never the bytes or the whole base64."""
    if isinstance(source, bytes | bytearray | memoryview):
        return f"<{memoryview(source).nbytes} bytes>"
    if isinstance(source, str) and source[:5].lower() in ("data:", "http:", "https"):
        return _short(source)
    if isinstance(source, str | os.PathLike):
        return _short(str(os.fspath(source)), keep_end=True)
    return f"<{type(source).__name__}>"


def image_size(source: ImageSource) -> tuple[int, int]:
    """``(width, height)`` of an image file, data URI, bytes or PIL image.

    Only the header is read (PNG, JPEG, WebP, GIF); nothing is decoded and Pillow is not
    needed. A PIL image is accepted if the caller has Pillow; its ``.size`` is used.

    Raises:
        ImageError: an http(s) URL (vlmroute does not fetch URLs to measure them), a missing
            or unreadable file, or a type it cannot measure.
        UnreadableImageError: not a PNG/JPEG/WebP/GIF, cut short, or a zero size.
    """
    if type(source) is str and source[:5].lower() == "data:":  # the commonest, first
        try:
            return _from_bytes(_data_uri_bytes(source))
        except ValueError as exc:
            raise UnreadableImageError(
                f"cannot read the size of image {_source_name(source)}: {exc}"
            ) from None
    pil = _pil_size(source)
    if pil is not None:
        return pil
    name = _source_name(source)
    if isinstance(source, str) and source[:8].lower().startswith(("http://", "https://")):
        raise ImageError(
            f"vlmroute does not fetch URLs to measure them ({name}): "
            "pass the image size as WxH instead, e.g. 1920x1080"
        )
    try:
        return _measure(source, name)
    except ImageError:
        raise
    except ValueError as exc:  # the header parsers' reason, translated once, here
        raise UnreadableImageError(f"cannot read the size of image {name}: {exc}") from None
