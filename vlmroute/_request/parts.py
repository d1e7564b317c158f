"""Content parts of a chat message: text, image, video (validated before any network call).

An image can be given as a file path, bytes, an http(s) URL, a ``data:`` URI or a PIL image
(if you have Pillow). Everything but a URL is turned into a ``data:`` URI at once and its
size read from the header, so a missing file, a corrupt image or an aspect ratio GLM-4.1V
rejects fails here, with a typed :class:`~vlmroute.ImageError`, not at the provider. Each
backend then sends the form its provider wants (raw base64 for Zhipu, a data URI for the
others).
"""

from __future__ import annotations

import base64
import io
import os
import sys
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .._tokens import MAX_IMAGE_TOKENS, image_prompt_tokens, image_size, video_tokens
from .._tokens.video import MAX_VIDEO_TOKENS, VIDEO_WRAPPER_TOKENS
from ..errors import ImageError, UnreadableImageError, VideoError

__all__ = [
    "UNKNOWN_IMAGE_TOKENS",
    "UNKNOWN_VIDEO_TOKENS",
    "ImagePart",
    "Part",
    "TextPart",
    "VideoPart",
]

#: Prompt tokens assumed for an image of unknown size (a URL): the most any image costs,
#: 6,144 plus its 2 wrapper tokens, so a context-window check never lets too much through.
UNKNOWN_IMAGE_TOKENS = MAX_IMAGE_TOKENS + 2

#: Prompt tokens assumed for a video whose duration or size is not given: the 30,000-token
#: visual budget, the 2 video wrappers and, for its at most 300 frame pairs, 2 wrappers and
#: up to 2 timestamp tokens each.
UNKNOWN_VIDEO_TOKENS = MAX_VIDEO_TOKENS + VIDEO_WRAPPER_TOKENS + 300 * 4

_MIME_BY_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TextPart(_Part):
    """Plain text."""

    type: Literal["text"] = "text"
    text: str


def _image_mime(data: bytes) -> str:
    for magic, mime in _MIME_BY_MAGIC:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    raise UnreadableImageError("image bytes are not a PNG, JPEG, WebP or GIF image")


def _data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _pil_bytes(source: object) -> bytes | None:
    module = sys.modules.get("PIL.Image")
    image_class = getattr(module, "Image", None)
    if not isinstance(image_class, type) or not isinstance(source, image_class):
        return None
    buffer = io.BytesIO()
    source.save(buffer, format="PNG")  # type: ignore[attr-defined]
    return buffer.getvalue()


def _read_file(path: str, what: str, error: type[ImageError] | type[VideoError]) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        raise error(f"no such {what} file: {path}") from None
    except OSError as exc:
        raise error(f"cannot read {what} file {path}: {exc.strerror}") from None


def _is_url(text: str) -> bool:
    return text[:8].lower().startswith(("http://", "https://"))


class ImagePart(_Part):
    """An image: ``url`` is an http(s) URL or a ``data:`` URI; ``size`` when known.

    Build one with :meth:`from_source`. ``size`` drives the exact token count; an image of
    unknown size (a URL without ``size=``) is charged the maximum, 6,146 prompt tokens.
    """

    type: Literal["image"] = "image"
    url: str = Field(min_length=1)
    size: tuple[Annotated[int, Field(ge=1)], Annotated[int, Field(ge=1)]] | None = None
    detail: Literal["low", "high", "auto"] | None = None

    @classmethod
    def from_source(
        cls,
        source: Any,
        *,
        size: tuple[int, int] | None = None,
        detail: Literal["low", "high", "auto"] | None = None,
    ) -> ImagePart:
        """An image from a path, bytes, URL, data URI or PIL image.

        Raises:
            ImageError: a missing file or a type vlmroute cannot send.
            UnreadableImageError: not a PNG/JPEG/WebP/GIF, or cut short.
            AspectRatioError: long side over 200 times the short side.
        """
        if isinstance(source, ImagePart):
            return source
        if isinstance(source, str) and _is_url(source):
            part = cls(url=source, size=size, detail=detail)
        else:
            url = cls._data_uri_of(source)
            part = cls(url=url, size=size or image_size(url), detail=detail)
        part.prompt_tokens()  # an aspect ratio over 200 fails here, before any request
        return part

    @staticmethod
    def _data_uri_of(source: Any) -> str:
        if isinstance(source, str) and source[:5].lower() == "data:":
            return source
        data = _pil_bytes(source)
        if data is None and isinstance(source, bytes | bytearray | memoryview):
            data = bytes(source)
        if data is None and isinstance(source, str | os.PathLike):
            path = os.fsdecode(os.fspath(source)).removeprefix("file://")
            data = _read_file(path, "image", ImageError)
        if data is None:
            raise ImageError(
                f"cannot send an image given as {type(source).__name__}: pass a path, bytes, "
                "an http(s) URL, a data URI or a PIL image"
            )
        return _data_uri(data, _image_mime(data))

    def prompt_tokens(self) -> int:
        """Exact prompt tokens of this image (plus wrappers); the maximum if size unknown."""
        if self.size is None:
            return UNKNOWN_IMAGE_TOKENS
        return image_prompt_tokens(*self.size)

    @property
    def base64_payload(self) -> str | None:
        """The raw base64 of a ``data:`` URI (what Zhipu's SDKs send); None for a URL."""
        if self.url[:5].lower() != "data:":
            return None
        return self.url.partition(",")[2]

    def __repr_args__(self) -> Any:
        shown = self.url if len(self.url) <= 48 else f"{self.url[:40]}...({len(self.url)} chars)"
        yield "url", shown
        yield "size", self.size
        if self.detail is not None:
            yield "detail", self.detail


class VideoPart(_Part):
    """A video: ``url`` is an http(s) URL or a ``data:`` URI.

    Give ``duration_s``, ``width`` and ``height`` (and ``fps``) to have its tokens counted
    exactly; otherwise the most a video can cost is assumed (about 31,200 tokens).
    """

    type: Literal["video"] = "video"
    url: str = Field(min_length=1)
    duration_s: Annotated[float, Field(gt=0)] | None = None
    fps: Annotated[float, Field(gt=0)] = 30.0
    width: Annotated[int, Field(ge=1)] | None = None
    height: Annotated[int, Field(ge=1)] | None = None

    @classmethod
    def from_source(
        cls,
        source: Any,
        *,
        duration_s: float | None = None,
        fps: float = 30.0,
        width: int | None = None,
        height: int | None = None,
    ) -> VideoPart:
        """A video from a path, bytes, URL or data URI (sent as-is; not decoded here)."""
        if isinstance(source, VideoPart):
            return source
        if isinstance(source, str) and (_is_url(source) or source[:5].lower() == "data:"):
            url = source
        elif isinstance(source, bytes | bytearray | memoryview):
            url = _data_uri(bytes(source), "video/mp4")
        elif isinstance(source, str | os.PathLike):
            path = os.fsdecode(os.fspath(source)).removeprefix("file://")
            url = _data_uri(_read_file(path, "video", VideoError), "video/mp4")
        else:
            raise VideoError(
                f"cannot send a video given as {type(source).__name__}: pass a path, bytes, "
                "an http(s) URL or a data URI"
            )
        part = cls(url=url, duration_s=duration_s, fps=fps, width=width, height=height)
        part.prompt_tokens()
        return part

    def prompt_tokens(self) -> int:
        """Prompt tokens of this clip (exact but for timestamps); the maximum if unknown."""
        if self.duration_s is None or self.width is None or self.height is None:
            return UNKNOWN_VIDEO_TOKENS
        clip = video_tokens(self.duration_s, self.width, self.height, src_fps=self.fps)
        return clip.prompt_tokens

    def __repr_args__(self) -> Any:
        shown = self.url if len(self.url) <= 48 else f"{self.url[:40]}...({len(self.url)} chars)"
        yield "url", shown
        yield "duration_s", self.duration_s


Part = Annotated[TextPart | ImagePart | VideoPart, Field(discriminator="type")]
