"""The one exception tree of vlmroute.

Every error vlmroute raises is a :class:`VlmrouteError`. Fields are attributes, never parsed
back out of messages, and every message says what to do next.

::

    VlmrouteError
    ├── ConfigurationError (ValueError)    fix a file, an argument or the environment
    │   └── PricingError                   a bad pricing YAML: .file, .key_path, .expected
    ├── RequestError (ValueError)          fix the request itself; no provider is at fault
    │   ├── ImageError                     an image vlmroute cannot use
    │   │   ├── UnreadableImageError       not a PNG/JPEG/WebP/GIF, or truncated/corrupt
    │   │   └── AspectRatioError           long side / short side > 200 (.width, .height)
    │   ├── VideoError                     a video description that cannot be priced
    │   ├── WorkloadError                  a workload that cannot be estimated
    │   ├── BudgetExceededError            over a spend budget: .budget .spent .limit .currency
    │   ├── ContextTooLongError            prompt + output exceed the offer's context
    │   └── ContentFilteredError           the provider's content filter refused it
    ├── NoRouteError                       no offer could take the request: .reasons
    └── ProviderError                      .provider .status_code .provider_code .request_id
        ├── AuthenticationError            bad or missing API key
        ├── InsufficientBalanceError       out of balance/credits; not retryable
        ├── RateLimitedError               .retry_after; your cap or frequency limit
        ├── OverloadedError                the platform is busy; try elsewhere
        ├── ServerError                    a 5xx, or an answer cut short
        │   └── MalformedResponseError     a 200 that is not JSON or not of the right shape
        ├── ProviderTimeoutError           connect/read/total timeout
        └── ProviderConnectionError        could not reach the provider

Foreign exceptions (httpx, yaml, pydantic) are translated once, at the edge that meets
them, with ``raise ... from exc``. The tree depends on nothing else of vlmroute's: errors
carry plain values (strings, Decimals, datetimes), so every module can raise them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import datetime

__all__ = [
    "AspectRatioError",
    "AuthenticationError",
    "BudgetExceededError",
    "ConfigurationError",
    "ContentFilteredError",
    "ContextTooLongError",
    "ImageError",
    "InsufficientBalanceError",
    "MalformedResponseError",
    "NoRouteError",
    "OverloadedError",
    "PricingError",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderTimeoutError",
    "RateLimitedError",
    "RequestError",
    "ServerError",
    "UnreadableImageError",
    "VideoError",
    "VlmrouteError",
    "WorkloadError",
]


class VlmrouteError(Exception):
    """Base of every error vlmroute raises."""


class ConfigurationError(VlmrouteError, ValueError):
    """A file, argument or environment setting is wrong; the message names which."""


class PricingError(ConfigurationError):
    """A pricing YAML file failed validation.

    ``file`` is the path (or ``"<mapping>"``), ``key_path`` the dotted location inside it
    (``offers.zhipu-flash.input_per_mtok``) and ``expected`` what should have been there.
    """

    def __init__(self, file: str, key_path: str, expected: str) -> None:
        self.file = file
        self.key_path = key_path
        self.expected = expected
        where = f"{file}: {key_path}" if key_path else file
        super().__init__(f"{where}: {expected}")


class RequestError(VlmrouteError, ValueError):
    """The request (or workload) itself is invalid; sending it anywhere would fail."""


class ImageError(RequestError):
    """An image vlmroute cannot measure or send."""


class UnreadableImageError(ImageError):
    """The bytes are not a PNG, JPEG, WebP or GIF image, or the header is cut short."""


class AspectRatioError(ImageError):
    """Long side / short side is over 200; GLM-4.1V's processor rejects such images."""

    def __init__(self, width: int, height: int, ratio: float) -> None:
        self.width = width
        self.height = height
        self.ratio = ratio
        super().__init__(
            f"image {width}x{height} has aspect ratio {ratio:.2f} (after upscaling sides under "
            "28 px); GLM-4.1V rejects ratios over 200: crop or pad the image"
        )


class VideoError(RequestError):
    """A video description (duration, fps, size) that cannot be priced."""


class WorkloadError(RequestError):
    """A workload description that cannot be estimated; the message names the field."""


class BudgetExceededError(RequestError):
    """Sending the request would take a spend budget over its limit.

    ``budget`` describes the budget (``"USD 5 a day across all providers"``) and ``period``
    is its period; ``spent`` is what this period has spent plus what requests in flight have
    reserved, ``limit`` the budget's amount and ``estimated`` this request's estimate, all in
    the budget's ``currency``; ``resets_at`` (UTC) is when the period ends.
    """

    def __init__(
        self,
        budget: str,
        *,
        period: str,
        provider: str,
        currency: str,
        spent: Decimal,
        limit: Decimal,
        estimated: Decimal | None = None,
        resets_at: datetime | None = None,
    ) -> None:
        self.budget = budget
        self.period = period
        self.provider = provider
        self.currency = currency
        self.spent = spent
        self.limit = limit
        self.estimated = estimated
        self.resets_at = resets_at
        text = self._amount
        left = text(max(limit - spent, Decimal(0)), currency)
        request = ""
        if estimated is not None:
            request = f" and this request is estimated at {text(estimated, currency)}"
        resets = f" (it resets at {resets_at:%Y-%m-%d %H:%M} UTC)" if resets_at else ""
        super().__init__(
            f"a request to {provider} would exceed the budget of {budget}: "
            f"{text(spent, currency)} is spent or in flight this {period}, {left} is "
            f"left{request}; raise the budget's amount under budgets: in the router config, "
            f"or wait for the next {period}{resets}"
        )

    @staticmethod
    def _amount(amount: Decimal, currency: str) -> str:
        """``USD 4.98``; under a cent, two significant digits (``USD 0.00042``)."""
        if amount != 0 and abs(amount) * 100 < 1:
            return f"{currency} {amount:.2g}"
        return f"{currency} {amount:,.2f}"


class NoRouteError(VlmrouteError):
    """No configured offer could take the request, or none had a free slot in time.

    ``reasons`` maps each offer left out to why (retired, context too small, over budget,
    cooling down after a rate limit, circuit open, excluded by the request...).
    """

    def __init__(self, message: str, *, reasons: Mapping[str, str] | None = None) -> None:
        self.reasons: dict[str, str] = dict(reasons or {})
        super().__init__(message)

    @classmethod
    def no_candidates(cls, reasons: Mapping[str, str]) -> NoRouteError:
        listed = "; ".join(f"{offer}: {why}" for offer, why in reasons.items())
        return cls(
            f"no offer can take this request ({listed or 'no offers configured'}); "
            "fix the request or add an offer to the router config",
            reasons=reasons,
        )

    @classmethod
    def waited(cls, offers: Sequence[str], seconds: float) -> NoRouteError:
        return cls(
            f"every offer this request may use ({', '.join(offers)}) stayed full for "
            f"{seconds:.1f} s; raise deadline_s / max_wait_s or add capacity",
            reasons=dict.fromkeys(offers, "full"),
        )


class _FromProvider(VlmrouteError):
    """Attributes of an error a provider answered with: who, HTTP status, its own code, id."""

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        status_code: int | None = None,
        provider_code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        self.provider = provider
        self.status_code = status_code
        self.provider_code = provider_code
        self.request_id = request_id
        super().__init__(message)


class ContextTooLongError(_FromProvider, RequestError):
    """Prompt plus requested output exceed the context window of the offer."""


class ContentFilteredError(_FromProvider, RequestError):
    """The provider's content filter refused the input or output (not a provider fault)."""


class ProviderError(_FromProvider):
    """A provider failed to serve a request. Attributes say which and how."""

    provider: str

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        status_code: int | None = None,
        provider_code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(
            message,
            provider=provider,
            status_code=status_code,
            provider_code=provider_code,
            request_id=request_id,
        )


class AuthenticationError(ProviderError):
    """The API key is missing, malformed or rejected: check the provider's key variable."""


class InsufficientBalanceError(ProviderError):
    """The account has no balance or credits left; recharge. Retrying does not help."""


class RateLimitedError(ProviderError):
    """Your account's concurrency or frequency limit was hit; ``retry_after`` in seconds."""

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        status_code: int | None = None,
        provider_code: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(
            message,
            provider=provider,
            status_code=status_code,
            provider_code=provider_code,
            request_id=request_id,
        )
        self.retry_after = retry_after


class OverloadedError(ProviderError):
    """The provider's platform is overloaded; another provider may serve the request."""


class ServerError(ProviderError):
    """The provider answered with a server error or a malformed response."""


class MalformedResponseError(ServerError):
    """The provider answered 200 with a body (or a stream chunk) that is not JSON or not of
    OpenAI's shape. Counted and failed over like a 5xx: another offer may answer properly."""


class ProviderTimeoutError(ProviderError):
    """The provider did not answer within the configured timeout."""


class ProviderConnectionError(ProviderError):
    """The provider could not be reached (DNS, refused, reset)."""
