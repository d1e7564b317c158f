"""A chat request: messages and sampling parameters, validated before anything is sent.

:meth:`ChatRequest.create` takes messages the way the openai SDK does (``image_url`` and
``video_url`` parts, a plain string as content) plus two shortcuts, ``{"type": "image",
"image": <path | bytes | PIL image>}`` and ``{"type": "video", "video": ..., "duration_s":
...}``. A bad field fails with a :class:`~vlmroute.RequestError` naming where it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .._pricing.models import ReadOnlyMap
from .._tokens import text_tokens
from ..errors import RequestError
from .parts import ImagePart, Part, TextPart, VideoPart

__all__ = [
    "MAX_IMAGES",
    "ChatRequest",
    "Message",
    "PromptTokens",
    "media_problem",
    "system",
    "user",
]

#: GLM-4.1V takes at most 300 images, or one video, and never both (GLM-V README).
MAX_IMAGES = 300
_TURN_TOKENS = 2  # <|user|>\n, <|system|>\n, <|assistant|>\n
_CONVERSATION_TOKENS = 2 + _TURN_TOKENS  # [gMASK]<sop> and the generation prompt


def media_problem(images: int, videos: int) -> str | None:
    """What breaks GLM-4.1V's media limits (at most 300 images, or one video, never both);
    None when nothing does. The request and the estimator's workload both ask it."""
    if videos > 1:
        return f"GLM-4.1V takes one video per request; this one has {videos}"
    if videos and images:
        return "GLM-4.1V cannot take images and a video in one request: send them apart"
    if images > MAX_IMAGES:
        return f"GLM-4.1V takes at most {MAX_IMAGES} images; got {images}"
    return None


class Message(BaseModel):
    """One turn: a role and either a string or a tuple of parts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    role: Literal["system", "user", "assistant"]
    content: str | tuple[Part, ...]

    def parts(self) -> tuple[TextPart | ImagePart | VideoPart, ...]:
        if isinstance(self.content, str):
            return (TextPart.model_construct(text=self.content),)  # already validated
        return self.content


@dataclass(frozen=True, slots=True)
class PromptTokens:
    """Prompt tokens of a request: images and video exact (given sizes), text estimated."""

    images: int
    video: int
    text: int
    template: int

    @property
    def total(self) -> int:
        return self.images + self.video + self.text + self.template


class ChatRequest(BaseModel):
    """Messages plus sampling parameters; ``extra_body`` is merged into the JSON sent.

    ``params`` holds optional OpenAI request fields that only some providers take
    (``frequency_penalty``, ``logit_bias``, ``user``, ``response_format``...): each
    offer's dialect sends those it takes, under its own name, and leaves out the rest
    (see ``Dialect.openai_params``). ``extra_body`` goes to every offer as it is.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    messages: tuple[Message, ...] = Field(min_length=1)
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    top_p: Annotated[float, Field(gt=0, le=1)] | None = None
    max_tokens: Annotated[int, Field(gt=0)] | None = None
    stop: tuple[str, ...] | None = None
    seed: int | None = None
    extra_body: ReadOnlyMap[Any] = Field(default_factory=dict)
    params: ReadOnlyMap[Any] = Field(default_factory=dict)

    @classmethod
    def create(
        cls,
        messages: Iterable[Message | Mapping[str, Any]],
        *,
        temperature: float | None = None,
        top_p: float | None = None,
        max_tokens: int | None = None,
        stop: str | Sequence[str] | None = None,
        seed: int | None = None,
        extra_body: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> ChatRequest:
        """Validate openai-style messages and parameters into a request.

        Raises:
            RequestError: a field is wrong (the message names it), too many images, or
                images and a video together.
            ImageError: an image cannot be read or has an aspect ratio over 200.
        """
        parsed = tuple(_message(m, i) for i, m in enumerate(messages))
        stops = (stop,) if isinstance(stop, str) else (tuple(stop) if stop is not None else None)
        try:
            request = cls(
                messages=parsed,
                temperature=temperature,
                top_p=top_p,
                max_tokens=max_tokens,
                stop=stops,
                seed=seed,
                extra_body=dict(extra_body or {}),
                params=dict(params or {}),
            )
        except ValidationError as exc:
            raise _request_error(exc) from None
        request.check_media()
        return request

    def check_media(self) -> None:
        """GLM-4.1V's limits: at most 300 images, or one video, never both."""
        images = sum(isinstance(p, ImagePart) for p in self.parts())
        videos = sum(isinstance(p, VideoPart) for p in self.parts())
        problem = media_problem(images, videos)
        if problem is not None:
            raise RequestError(problem)

    def parts(self) -> tuple[TextPart | ImagePart | VideoPart, ...]:
        return self._parts

    @cached_property
    def _parts(self) -> tuple[TextPart | ImagePart | VideoPart, ...]:
        return tuple(part for message in self.messages for part in message.parts())

    def images(self) -> tuple[ImagePart, ...]:
        return tuple(p for p in self.parts() if isinstance(p, ImagePart))

    def has_video(self) -> bool:
        return any(isinstance(p, VideoPart) for p in self.parts())

    def prompt_tokens(self) -> PromptTokens:
        """Prompt tokens by kind; text uses :func:`vlmroute.text_tokens` (an estimate).

        Counted once per request (a request never changes)."""
        return self._prompt_tokens

    @cached_property
    def _prompt_tokens(self) -> PromptTokens:
        images = video = text = 0
        for part in self.parts():
            if isinstance(part, ImagePart):
                images += part.prompt_tokens()
            elif isinstance(part, VideoPart):
                video += part.prompt_tokens()
            else:
                text += text_tokens(part.text)
        template = _CONVERSATION_TOKENS + _TURN_TOKENS * len(self.messages)
        return PromptTokens(images=images, video=video, text=text, template=template)

    def first_image_size(self) -> tuple[int, int] | None:
        """The size of the first image: what grounding boxes are relative to."""
        for part in self.images():
            return part.size
        return None


def _request_error(exc: ValidationError) -> RequestError:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return RequestError(f"request field {where}: {first['msg']}{more}")


#: Message keys taken and not sent. ``name`` (openai's participant name) and an earlier
#: answer's reasoning: GLM-4.1V's chat template renders neither (it drops past thinking), and
#: whether Zhipu's API accepts ``name`` is not documented. The rest are fields of the openai
#: SDK's assistant message, ignored when empty so that a reply can be appended to the history.
_NOT_SENT = frozenset({"name", "reasoning_content", "reasoning", "reasoning_details"})
_EMPTY_OK = frozenset({"refusal", "annotations", "audio", "function_call", "tool_calls"})


def _message(raw: Message | Mapping[str, Any], index: int) -> Message:
    if isinstance(raw, Message):
        return raw
    if not isinstance(raw, Mapping):
        raise RequestError(f"messages.{index} is a {type(raw).__name__}, not a mapping")
    unknown = sorted(
        str(key)
        for key, value in raw.items()
        if key not in {"role", "content"}
        and key not in _NOT_SENT
        and not (key in _EMPTY_OK and not value)
    )
    if unknown:
        raise RequestError(
            f"messages.{index} has {', '.join(unknown)}: GLM-4.1V-Thinking takes a role and "
            "content (text, image_url and video_url parts) only; remove the other keys"
        )
    content = raw.get("content")
    role = raw.get("role")
    if isinstance(content, str):
        parts: str | tuple[Any, ...] = content
    elif isinstance(content, Iterable) and not isinstance(content, bytes | Mapping):
        parts = tuple(_part(p, f"messages.{index}.content.{i}") for i, p in enumerate(content))
    else:
        raise RequestError(f"messages.{index}.content must be a string or a list of parts")
    try:
        return Message(role=role, content=parts)
    except ValidationError as exc:
        err = _request_error(exc)
        raise RequestError(f"messages.{index}: {err}") from None


def _url_field(raw: Mapping[str, Any], key: str, where: str) -> tuple[str, Mapping[str, Any]]:
    value = raw.get(key)
    if isinstance(value, str):
        return value, {}
    if isinstance(value, Mapping) and isinstance(value.get("url"), str):
        return value["url"], value
    raise RequestError(f"{where}.{key} must be {{'url': ...}} or a string")


def _part(raw: Any, where: str) -> TextPart | ImagePart | VideoPart:
    if isinstance(raw, TextPart | ImagePart | VideoPart):
        return raw
    if not isinstance(raw, Mapping):
        raise RequestError(f"{where} is a {type(raw).__name__}, not a content part mapping")
    kind = raw.get("type")
    try:
        if kind == "text":
            return TextPart(text=raw.get("text"))
        if kind in ("image_url", "image"):
            if kind == "image":
                source, options = raw.get("image"), raw
            else:
                source, options = _url_field(raw, "image_url", where)
                _check_url(source, f"{where}.image_url.url")
            size = options.get("size")
            return ImagePart.from_source(
                source, size=_size(size, where) if size else None, detail=options.get("detail")
            )
        if kind in ("video_url", "video"):
            if kind == "video":
                source, options = raw.get("video"), raw
            else:
                source, options = _url_field(raw, "video_url", where)
                _check_url(source, f"{where}.video_url.url")
            return VideoPart.from_source(
                source,
                duration_s=options.get("duration_s"),
                fps=options.get("fps", 30.0),
                width=options.get("width"),
                height=options.get("height"),
            )
    except ValidationError as exc:
        raise RequestError(f"{where}: {_request_error(exc)}") from None
    raise RequestError(
        f"{where} has type {kind!r}; expected text, image_url, video_url, image or video"
    )


def _check_url(url: str, where: str) -> None:
    """An ``image_url``/``video_url`` is a URL, never a local path: a message from an
    untrusted source must not make vlmroute read and send a file from this machine. (Local
    files go in through the ``{"type": "image", "image": path}`` shortcut.)"""
    if not url[:8].lower().startswith(("http://", "https://", "data:")):
        raise RequestError(
            f"{where} must be an http(s) URL or a data: URI, not {url[:40]!r}; "
            "pass a local file as {'type': 'image', 'image': path}"
        )


def _size(value: Any, where: str) -> tuple[int, int]:
    from .._tokens import parse_size

    if isinstance(value, str):
        return parse_size(value)
    if isinstance(value, Sequence) and len(value) == 2:
        return int(value[0]), int(value[1])
    raise RequestError(f"{where}.size must be 'WxH' or [width, height]")


def user(text: str, *images: Any, video: Any | None = None) -> Message:
    """A user message: text, then images (paths, bytes, URLs, data URIs, PIL images) or a
    video (a path, URL or :class:`VideoPart` with its duration for exact token counts)."""
    parts: list[TextPart | ImagePart | VideoPart] = [ImagePart.from_source(i) for i in images]
    if video is not None:
        parts.append(VideoPart.from_source(video))
    parts.append(TextPart(text=text))
    message = Message(role="user", content=tuple(parts))
    ChatRequest(messages=(message,)).check_media()
    return message


def system(text: str) -> Message:
    """A system message."""
    return Message(role="system", content=text)
