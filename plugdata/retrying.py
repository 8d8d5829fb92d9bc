"""When a remote call is worth another try and how long to wait first: one policy for every
client (translation backends, the judge, the Hub)."""

from __future__ import annotations

import random
import time
from email.utils import parsedate_to_datetime

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header, in either of its forms (seconds or an HTTP date).

    >>> parse_retry_after("1.5"), parse_retry_after(None), parse_retry_after("soon")
    (1.5, None, None)
    """
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def backoff(attempt: int, retry_after: float | None = None, cap: float = 30.0) -> float:
    """Seconds before retry number `attempt` (1 for the first): what the server asked for,
    else exponential from half a second, capped, with jitter so that workers spread out."""
    if retry_after is not None:
        return retry_after
    return min(cap, 0.5 * 2 ** (attempt - 1)) * (0.5 + random.random())


def openai_failure(exc: Exception) -> tuple[str, bool, float | None]:
    """(reason, worth retrying, Retry-After seconds) for an error raised by the openai SDK."""
    import openai

    if isinstance(exc, openai.APITimeoutError | openai.APIConnectionError):
        return type(exc).__name__, True, None
    if isinstance(exc, openai.APIStatusError):
        headers = exc.response.headers if exc.response is not None else {}
        retry_after = parse_retry_after(headers.get("retry-after"))
        return f"HTTP {exc.status_code}", exc.status_code in RETRYABLE_STATUS, retry_after
    return type(exc).__name__, False, None
