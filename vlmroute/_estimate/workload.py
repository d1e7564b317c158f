"""What a workload is: how many requests, and what each carries.

A workload is a mix of request *profiles* with relative shares. A profile says which images
(sizes) and video a request carries, its prompt text tokens and its output tokens (the
total completion, of which ``reasoning_tokens`` are chain of thought). Fields left unset
on a profile take the workload's defaults. Output and reasoning tokens are a figure, a
``{p50, p95}`` distribution or observed counts, capped by ``max_tokens``: ``spread.py``
says how each becomes a low, expected and high figure.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .._problems import describe
from .._request.request import media_problem
from ..errors import WorkloadError
from .spread import TokenFigure, reasoning_problem

__all__ = ["ImageSize", "RequestProfile", "VideoClip", "Workload", "parse_duration"]

_SIZE = re.compile(r"^\s*(\d+)\s*[xX\u00d7]\s*(\d+)\s*$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d)?\s*$")
_UNIT_SECONDS = {None: 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}
NonNegInt = Annotated[int, Field(ge=0)]
PosInt = Annotated[int, Field(ge=1)]
_T = TypeVar("_T")


def parse_duration(value: str | float | int) -> float:
    """Seconds from ``90``, ``"90s"``, ``"15m"``, ``"2h"`` or ``"1.5d"``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            seconds = float(value)
        except OverflowError:
            raise WorkloadError(
                f"duration of {len(str(value))} digits of seconds is too long to be real"
            ) from None
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise WorkloadError(
                f"duration {value!r} is not a number of seconds or like 90s, 15m, 2h, 1d"
            )
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if not seconds > 0:
        raise WorkloadError(f"duration {value!r} must be positive")
    return seconds


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ImageSize(_Frozen):
    """An image's pixel size. Accepts ``"1920x1080"``, ``[1920, 1080]`` or a mapping."""

    width: Annotated[int, Field(ge=1)]
    height: Annotated[int, Field(ge=1)]

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, data: Any) -> Any:
        if isinstance(data, str):
            match = _SIZE.match(data)
            if not match:
                raise ValueError(f"image size {data!r} is not WIDTHxHEIGHT, e.g. 1920x1080")
            return {"width": int(match.group(1)), "height": int(match.group(2))}
        if isinstance(data, list | tuple) and len(data) == 2:
            return {"width": data[0], "height": data[1]}
        return data

    def __str__(self) -> str:
        return f"{self.width}x{self.height}"


class VideoClip(_Frozen):
    duration_s: Annotated[float, Field(gt=0)]
    width: Annotated[int, Field(ge=1)]
    height: Annotated[int, Field(ge=1)]
    fps: Annotated[float, Field(gt=0)] = 30.0


class RequestProfile(_Frozen):
    """One kind of request in the mix; ``share`` is its relative weight."""

    share: Annotated[Decimal, Field(gt=0)] = Decimal(1)
    images: tuple[ImageSize, ...] = ()
    video: VideoClip | None = None
    prompt_tokens: NonNegInt | None = None
    output_tokens: TokenFigure | None = None
    reasoning_tokens: TokenFigure | None = None
    max_tokens: PosInt | None = None

    @model_validator(mode="after")
    def _media_within_limits(self) -> Self:
        # The same rule, and words, as a request's: what the client refuses is not priced.
        problem = media_problem(len(self.images), 0 if self.video is None else 1)
        if problem is not None:
            raise ValueError(problem)
        return self


class Workload(_Frozen):
    """Requests to estimate. ``deadline_s`` is optional; ``tiers`` maps provider -> tier."""

    requests: Annotated[int, Field(ge=1)]
    mix: tuple[RequestProfile, ...] = (RequestProfile(),)
    prompt_tokens: NonNegInt = 0
    output_tokens: TokenFigure = 0
    reasoning_tokens: TokenFigure | None = None
    #: The cap on each request's output (a request never writes more); see ``spread``.
    max_tokens: PosInt | None = None
    deadline_s: float | None = None
    tiers: dict[str, str] = Field(default_factory=dict)
    #: The fraction of the month a reserved local GPU is busy, for the self-host break-even.
    utilisation: Decimal = Decimal(1)

    @field_validator("utilisation")
    @classmethod
    def _utilisation(cls, value: Decimal) -> Decimal:
        if not (value.is_finite() and 0 < value <= 1):
            raise ValueError(
                "must be above 0 and at most 1: the fraction of the month a reserved GPU is "
                "busy, e.g. 0.6 (--utilisation on the command line)"
            )
        return value

    @field_validator("deadline_s", mode="before")
    @classmethod
    def _deadline(cls, value: Any) -> Any:
        return None if value is None else parse_duration(value)

    @field_validator("mix")
    @classmethod
    def _non_empty(cls, value: tuple[RequestProfile, ...]) -> tuple[RequestProfile, ...]:
        if not value:
            raise ValueError("mix needs at least one request profile")
        return value

    @model_validator(mode="after")
    def _reasoning_within_output(self) -> Self:
        for i, p in enumerate(self.resolved_mix()):
            problem = reasoning_problem(i, p.reasoning_tokens, p.output_tokens, p.max_tokens)
            if problem is not None:
                raise ValueError(problem)
        return self

    def resolved_mix(self) -> tuple[RequestProfile, ...]:
        """The profiles with the workload's defaults filled in."""
        return tuple(
            profile.model_copy(
                update={
                    "prompt_tokens": _first(profile.prompt_tokens, self.prompt_tokens),
                    "output_tokens": _first(profile.output_tokens, self.output_tokens),
                    "reasoning_tokens": _first(profile.reasoning_tokens, self.reasoning_tokens),
                    "max_tokens": _first(profile.max_tokens, self.max_tokens),
                }
            )
            for profile in self.mix
        )

    @classmethod
    def from_mapping(cls, data: Any, *, source: str = "workload") -> Workload:
        """Validate a mapping (e.g. a parsed YAML file); errors name the field to fix."""
        if isinstance(data, dict) and "deadline" in data:
            data = {**data, "deadline_s": data["deadline"]}
            del data["deadline"]
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise WorkloadError(f"{source}: {describe(exc)}") from exc


def _first(value: _T | None, default: _T) -> _T:
    return default if value is None else value
