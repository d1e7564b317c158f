"""Per-backend settings: timeouts, extra headers and body fields, OpenRouter attribution."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from .._pricing.models import ReadOnlyMap

__all__ = ["BackendOptions", "Timeouts"]


class Timeouts(BaseModel):
    """Seconds. ``read`` is the longest silence between bytes: a non-streamed answer sends
    nothing until the model has finished thinking, so it must cover a whole generation
    (GLM-4.1V may think for 10,000+ tokens). ``total`` bounds the whole call, retries apart.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    connect: Annotated[float, Field(gt=0)] = 10.0
    read: Annotated[float, Field(gt=0)] = 300.0
    total: Annotated[float, Field(gt=0)] = 900.0


class BackendOptions(BaseModel):
    """What a user may set per backend besides its URL, model and key."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    timeouts: Timeouts = Timeouts()
    extra_headers: ReadOnlyMap[str] = Field(default_factory=dict)
    extra_body: ReadOnlyMap[Any] = Field(default_factory=dict)
    app_url: str | None = None  # OpenRouter: HTTP-Referer
    app_title: str | None = None  # OpenRouter: X-OpenRouter-Title
