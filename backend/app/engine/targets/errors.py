"""How a request to a target can fail, classified so the runner knows what to do with each.

auth -> stop the whole scan at once; blocked -> the attempt's outcome is `blocked` (a guardrail answered);
retryable -> try again after a backoff (429, 5xx, timeouts, dropped connections), then `error`;
anything else -> `error` without retrying (a 4xx the same request would get again).
"""

from __future__ import annotations


class TargetError(Exception):
    """A request failed; `status` is the HTTP status when there was one."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class TargetAuthError(TargetError):
    """401/403: the credentials are wrong or lack access. No attempt can succeed; the scan stops."""


class TargetUnreachableError(TargetError):
    """The target cannot be connected to at all (DNS, refused connection)."""


class TargetEgressError(TargetUnreachableError):
    """The platform's egress policy refuses where the target leads (never retried: the answer would not change)."""


class TargetHeaderError(TargetAuthError):
    """A header (usually the one carrying the key) cannot be sent; no request can succeed, so the scan stops.

    The message names the header, never its value."""


class TargetBlockedError(TargetError):
    """A content filter or guardrail answered instead of the model (e.g. HTTP 400 content_filter)."""


class TargetRetryableError(TargetError):
    """A transient failure; `retry_after` is the server's requested wait in seconds, if it gave one."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


CONTENT_FILTER_MARKERS = ("content_filter", "content_policy", "contentfilter", "responsibleaipolicyviolation")


def looks_like_content_filter(body: str) -> bool:
    """True when an error body names a content filter (OpenAI, Azure OpenAI and most gateways say so)."""
    lowered = body.lower().replace(" ", "")
    return any(marker in lowered for marker in CONTENT_FILTER_MARKERS)
