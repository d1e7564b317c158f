"""Output lengths as ranges: a figure, a ``{p50, p95}`` distribution, or observed counts.

A thinking model's output (chain of thought + answer) is most of its bill and varies
widely from one request to the next, so ``output_tokens`` and ``reasoning_tokens`` take
any of three forms, and ``max_tokens`` caps them (a request never produces more):

- a figure, ``1500``: every request writes that many; low = expected = high.
- a distribution, ``{p50: 500, p95: 2000}``: a **lognormal** through those two quantiles,
  ``mu = ln p50`` and ``sigma = ln(p95 / p50) / z95`` (``z95 = 1.6449``). Lognormal because
  output lengths are positive and right-skewed (a long tail of long thoughts), and because
  two quantiles fix it exactly, with no numerical fitting. Its p5 is then ``p50**2 / p95``.
- observed counts, ``[310, 420, 1900]`` (or ``{observed: [...]}``): the sample itself.

From any form come three figures per request, each after truncation at ``max_tokens``:

- **low**: the 5th percentile, ``min(p5, max_tokens)``;
- **expected**: the mean of the truncated distribution, ``E[min(X, max_tokens)]`` (for the
  lognormal, ``e^(mu + sigma^2/2) Phi((ln m - mu - sigma^2)/sigma) + m (1 - Phi((ln m -
  mu)/sigma))``; for a sample, the mean of ``min(x, m)``);
- **high**: the 95th percentile, ``min(p95, max_tokens)``.

A sample's percentiles interpolate linearly between order statistics (numpy's default;
``statistics.quantiles(method="inclusive")``), so low and high mean the same thing whichever
form is given. Each figure is rounded half up to a whole token per request, so the integer
token fields of an estimate and its costs agree. The mean, not the median, is the expected
figure because a bill is a sum: many requests add up to about the mean times their count.

Low and high are therefore *scenarios* (every request as short as p5, every one as long as
p95), not a confidence interval of the total: many independent requests land close to the
expected total. The range answers "what if my outputs run like the short or the long end",
which is how wrong a length assumption can make the bill.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import TYPE_CHECKING, Annotated, Any, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, model_validator

if TYPE_CHECKING:
    from .workload import RequestProfile

__all__ = [
    "Observed",
    "Quantiles",
    "Spread",
    "TokenFigure",
    "reasoning_problem",
    "spread",
    "token_fields",
]

#: The standard normal's 95th percentile: how many sigmas p95 lies above the median.
Z95 = NormalDist().inv_cdf(0.95)
_NORMAL = NormalDist()


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Quantiles(_Frozen):
    """Output length as a median and a 95th percentile (a lognormal through both)."""

    p50: int
    p95: int

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        parse_token_figure({"p50": self.p50, "p95": self.p95})  # the same rules and words
        return self


class Observed(_Frozen):
    """Output lengths seen in practice, one count per request."""

    observed: tuple[int, ...]

    @model_validator(mode="after")
    def _counts(self) -> Self:
        parse_token_figure(list(self.observed))
        return self


def _count(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{what} must be a whole number of tokens (got {value!r})")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"{what} must be at least 0 (got {value})")
        return value
    try:
        number = float(value)
        whole = int(number)
    except (ValueError, OverflowError):
        raise ValueError(f"{what} must be a whole number of tokens (got {value!r})") from None
    if whole != number:
        raise ValueError(f"{what} must be a whole number of tokens (got {value!r})")
    if whole < 0:
        raise ValueError(f"{what} must be at least 0 (got {whole})")
    return whole


_FORMS = "a whole number, {p50: N, p95: M} or a list of observed counts"
#: Counts of a distribution stay below this, so that its float arithmetic cannot overflow.
_LONGEST = 10**9


def _length(value: Any, what: str) -> int:
    count = _count(value, what)
    if count > _LONGEST:
        raise ValueError(f"{what} must be at most {_LONGEST:,} tokens (got {count:,})")
    return count


def parse_token_figure(value: Any) -> int | Quantiles | Observed:
    """One of the three forms, checked here so that errors name the field, not a union
    branch: ``mix.0.output_tokens: p95 (300) is below p50 (500)``."""
    if isinstance(value, Quantiles | Observed):
        return value
    if isinstance(value, Mapping):
        keys = set(value)
        if keys == {"observed"} and isinstance(value["observed"], list | tuple):
            return parse_token_figure(value["observed"])
        if keys != {"p50", "p95"}:
            got = ", ".join(sorted(map(str, keys))) or "none"
            raise ValueError(f"expected {_FORMS}; a mapping takes p50 and p95 (got keys: {got})")
        p50, p95 = _length(value["p50"], "p50"), _length(value["p95"], "p95")
        if p50 < 1:
            raise ValueError("p50 must be at least 1 (give 0 as a plain number)")
        if p95 < p50:
            raise ValueError(f"p95 ({p95}) is below p50 ({p50})")
        return Quantiles.model_construct(p50=p50, p95=p95)
    if isinstance(value, list | tuple):
        if not value:
            raise ValueError("a list of observed counts needs at least one count")
        counts = (_length(v, f"observed[{i}]") for i, v in enumerate(value))
        return Observed.model_construct(observed=tuple(counts))
    # A scalar: the error report adds "(got ...)" itself.
    if isinstance(value, int) and not isinstance(value, bool) and value < 0:
        raise ValueError("must be at least 0")
    try:
        return _count(value, "a token count")
    except ValueError:
        raise ValueError(f"expected {_FORMS}") from None


#: ``output_tokens`` and ``reasoning_tokens``: an int stays an int (and dumps as one).
TokenFigure = Annotated[int | Quantiles | Observed, BeforeValidator(parse_token_figure)]


@dataclass(frozen=True, slots=True)
class Spread:
    """Tokens per request at the low, expected and high ends (see the module docstring)."""

    low: float
    expected: float
    high: float

    def rounded(self) -> tuple[int, int, int]:
        return _whole(self.low), _whole(self.expected), _whole(self.high)


def _whole(value: float) -> int:
    if isinstance(value, int):  # a plain figure stays exact, however large
        return value
    return math.floor(value + 0.5)


def spread(figure: int | Quantiles | Observed | None, max_tokens: int | None = None) -> Spread:
    """Low, expected and high tokens per request of ``figure``, truncated at ``max_tokens``."""
    cap = math.inf if max_tokens is None else float(max_tokens)
    if figure is None:
        return Spread(0.0, 0.0, 0.0)
    if isinstance(figure, int):
        point = figure if max_tokens is None else min(figure, max_tokens)
        return Spread(point, point, point)
    if isinstance(figure, Quantiles):
        return _lognormal(figure.p50, figure.p95, cap)
    values = sorted(min(float(v), cap) for v in figure.observed)
    return Spread(_percentile(values, 0.05), sum(values) / len(values), _percentile(values, 0.95))


def _lognormal(p50: int, p95: int, cap: float) -> Spread:
    mu = math.log(p50)
    sigma = math.log(p95 / p50) / Z95
    p5 = p50 * p50 / p95
    if sigma == 0:
        value = min(float(p50), cap)
        return Spread(value, value, value)
    mean = math.exp(mu + sigma * sigma / 2)
    if math.isinf(cap):
        expected = mean
    else:
        log_cap = math.log(cap)
        below = mean * _NORMAL.cdf((log_cap - mu - sigma * sigma) / sigma)
        expected = below + cap * (1 - _NORMAL.cdf((log_cap - mu) / sigma))
    return Spread(min(p5, cap), expected, min(float(p95), cap))


def _percentile(ordered: Sequence[float], q: float) -> float:
    position = (len(ordered) - 1) * q
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


_ENDS = (("low", "p5"), ("expected", "mean"), ("high", "p95"))


def reasoning_problem(
    index: int,
    reasoning: int | Quantiles | Observed | None,
    output: int | Quantiles | Observed | None,
    max_tokens: int | None,
) -> str | None:
    """Why a profile's reasoning cannot be part of its output, or None if it can: compared
    at the expected figure, and at p5 and p95 too where both are distributions."""
    if reasoning is None:
        return None
    if isinstance(reasoning, int) and isinstance(output, int | None):
        if reasoning > (output or 0):
            return (
                f"mix.{index}: reasoning_tokens ({reasoning}) is part of "
                f"output_tokens ({output}) and cannot exceed it"
            )
        return None
    # A plain figure beside a distribution is read as its expected figure (reasoning of
    # 1200 next to output of {p50: 1500, p95: 4000} is fine though p5 is 563); two
    # distributions must also nest at p5 and p95.
    ends = _ENDS if not isinstance(reasoning, int) and not isinstance(output, int) else _ENDS[1:2]
    ours, theirs = spread(reasoning, max_tokens), spread(output, max_tokens)
    for end, label in ends:
        mine, total = getattr(ours, end), getattr(theirs, end)
        if mine > total + 1e-9:
            return (
                f"mix.{index}: reasoning_tokens is part of output_tokens and cannot exceed "
                f"it: its {label} ({mine:,.0f}) is above output_tokens' ({total:,.0f})"
            )
    return None


def token_fields(profile: RequestProfile) -> dict[str, Any]:
    """The output fields of a profile's :class:`ProfileTokens`: expected, low, high."""
    low, expected, high = spread(profile.output_tokens, profile.max_tokens).rounded()
    reasoning = (
        None
        if profile.reasoning_tokens is None
        else spread(profile.reasoning_tokens, profile.max_tokens).rounded()[1]
    )
    return {
        "output_tokens": expected,
        "output_tokens_low": low,
        "output_tokens_high": high,
        "reasoning_tokens": reasoning,
        "max_tokens": profile.max_tokens,
    }
