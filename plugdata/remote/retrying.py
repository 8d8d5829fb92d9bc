"""When a remote call is worth another try, how long to wait first, and when failures mean the
setup is wrong rather than a row: one policy for every client (translation backends, the judge,
the Hub).

A failed request is described once, as a `Failure` of one of three kinds: `setup` (the backend
cannot work as configured: key refused, unknown model, nothing listening, a host that does not
resolve), `transient` (worth another try: 429, 5xx, timeouts) or `row` (something about this
request). `FailureMonitor` turns a run of failures into one line that stops the run;
`wait_before_retry` bounds and announces the waits between tries. `plugdata.remote.calls` makes the
calls with this policy.
"""

from __future__ import annotations

import random
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Literal
from urllib.parse import urlparse

from plugdata.core.console import say
from plugdata.core.env import seconds_from_env
from plugdata.errors import ConfigurationError, PlugdataError

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
# Statuses that say the configuration is wrong, whatever the request carried.
_SETUP_STATUS = {
    401: "the key was refused",
    402: "the account cannot pay",
    403: "forbidden (key or permissions)",
    404: "unknown model or wrong base_url",
}
MAX_RETRY_AFTER_ENV = "PLUGDATA_MAX_RETRY_AFTER"
DEFAULT_MAX_RETRY_AFTER = 120.0
ANNOUNCE_WAITS_OVER = 5.0  # seconds; shorter waits pass silently
BACKOFF_CAP = 30.0  # seconds; the longest wait between tries that the server did not ask for
STREAK = 5  # failures in a row, the same way, that stop a run

Kind = Literal["setup", "transient", "row"]
SETUP: Kind = "setup"
TRANSIENT: Kind = "transient"
ROW: Kind = "row"


@dataclass(frozen=True)
class Failure:
    """One failed request: a short reason, its kind, whether the request left this process (a
    refused connection did not), and the server's Retry-After in seconds."""

    reason: str
    kind: Kind
    sent: bool = True
    retry_after: float | None = None
    # The server answered, and the answer is of no use (empty, no verdict): such failures count
    # towards a streak even after a success, so that a service that keeps answering uselessly
    # is not paid for every request.
    answered: bool = False


class ServiceFailing(PlugdataError):
    """A backend that kept failing the same way: the run stopped, finished work is cached."""


class WaitTooLong(PlugdataError):
    """The server asked for a wait longer than the cap."""


class WrongShape(Exception):
    """A successful (2xx) answer that is not what the protocol promises: an HTML page, JSON of
    another shape, JSON cut short. `what` says which, for the one line."""

    def __init__(self, what: str):
        super().__init__(what)
        self.what = what


def shape_failure(exc: WrongShape, expected: str) -> Failure:
    """A wrong-shaped answer is the setup's fault until a request has succeeded (a base_url
    that points at a web page or another API): not retried, and one line before more is sent.
    After a success the monitor counts it like any other failure of the server."""
    return Failure(f"the answer is not {expected} ({exc.what})", SETUP)


def describe_body(text: str) -> str:
    """What a body that should have been JSON looks like, for `WrongShape`.

    >>> describe_body("<!DOCTYPE html><html>"), describe_body('{"a": '), describe_body("ok")
    ('an HTML page', 'truncated or invalid JSON', 'text, not JSON')
    """
    head = text.lstrip()[:200].lower()
    if head.startswith("<"):
        return "an HTML page" if "html" in head else "markup, not JSON"
    if head.startswith(("{", "[")):
        return "truncated or invalid JSON"
    return "text, not JSON" if head else "an empty body"


# -- describing failures -------------------------------------------------------------------------
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


def http_failure(status: int, retry_after: float | None = None) -> Failure:
    """The kind of an HTTP error status.

    >>> failure = http_failure(401)
    >>> failure.reason, failure.kind, failure.sent, failure.retry_after, failure.answered
    ('HTTP 401: the key was refused', 'setup', True, None, False)
    >>> http_failure(503).kind, http_failure(400).kind
    ('transient', 'row')
    """
    if status in _SETUP_STATUS:
        return Failure(f"HTTP {status}: {_SETUP_STATUS[status]}", SETUP)
    kind = TRANSIENT if status in RETRYABLE_STATUS else ROW
    return Failure(f"HTTP {status}", kind, retry_after=retry_after)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and every exception it wraps: requests, urllib3, httpx and openai keep the socket
    error as a cause or context, urllib3 also as `reason`."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        wrapped = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        wrapped += list(current.args)
        todo.extend(e for e in wrapped if isinstance(e, BaseException))


def connection_failure(exc: BaseException) -> Failure | None:
    """A failure to reach the server at all, found anywhere in `exc`'s chain; None otherwise.
    Nothing was sent, and nothing will change by trying again at once."""
    for cause in _chain(exc):
        if isinstance(cause, ConnectionRefusedError):
            return Failure("connection refused (nothing listening)", SETUP, sent=False)
        if isinstance(cause, socket.gaierror):
            return Failure("host does not resolve", SETUP, sent=False)
        if isinstance(cause, ssl.SSLCertVerificationError):
            return Failure("TLS certificate not trusted", SETUP, sent=False)
        if isinstance(cause, ssl.SSLError):
            return Failure(f"TLS handshake failed ({cause.reason or cause})", SETUP, sent=False)
    return None


# Libraries huggingface_hub and the translators have used for HTTP, and their base class for
# "no answer came back" (refused, reset, DNS, timeout), as opposed to an error status.
_TRANSPORT_ERRORS = (
    ("httpx2", "TransportError"),
    ("httpx", "TransportError"),
    ("requests", "ConnectionError"),
    ("requests", "Timeout"),
)


def is_transport_error(exc: BaseException) -> bool:
    """A failure to get any answer, from whichever HTTP library raised it (only libraries
    already imported are looked at: the one that raised is among them)."""
    if isinstance(exc, OSError):  # TimeoutError and requests' errors among them
        return True
    for module, name in _TRANSPORT_ERRORS:
        base = getattr(sys.modules.get(module), name, None)
        if isinstance(base, type) and isinstance(exc, base):
            return True
    return False


def openai_failure(exc: Exception) -> Failure:
    """A `Failure` for an error raised by the openai SDK."""
    import openai

    if isinstance(exc, WrongShape):
        return shape_failure(exc, "a chat completion")
    if isinstance(exc, openai.APITimeoutError):
        return Failure(type(exc).__name__, TRANSIENT)
    if isinstance(exc, openai.APIConnectionError):
        return connection_failure(exc) or Failure(type(exc).__name__, TRANSIENT)
    if isinstance(exc, openai.APIStatusError):
        if getattr(exc, "code", None) == "model_not_found":
            return Failure(f"HTTP {exc.status_code}: unknown model", SETUP)
        headers = exc.response.headers if exc.response is not None else {}
        return http_failure(exc.status_code, parse_retry_after(headers.get("retry-after")))
    return Failure(type(exc).__name__, ROW)


def host_of(url: str | None, default: str) -> str:
    """Where requests go, for messages: host and port of `url` (never its credentials).

    >>> host_of("http://user:pw@127.0.0.1:8000/v1", "api.openai.com")
    '127.0.0.1:8000'
    >>> host_of(None, "api.openai.com")
    'api.openai.com'
    """
    if not url:
        return default
    parsed = urlparse(url)
    if not parsed.hostname:
        from plugdata.core.redact import scrub

        return scrub(url)
    return parsed.hostname + (f":{parsed.port}" if parsed.port else "")


# -- deciding when to stop -----------------------------------------------------------------------
class FailureMonitor:
    """Watches one backend's requests and stops the run, with one line, when the failures say
    the setup is wrong or the server is down, so that rows are never quarantined for either:

    - a setup failure before any request succeeded stops at once (`ConfigurationError`);
    - the same failure `streak` times in a row before any success stops too: every request
      failing the same way is the setup's fault, whatever the status says;
    - after a success, `streak` requests in a row that fail the same way after their retries
      (or with a setup failure: the server went away) stop with `ServiceFailing`; finished
      work is cached, so a rerun continues.

    - answers that came back useless (`Failure.answered`: empty, no verdict) count the same
      way after a success: `streak` of them in a row stop with `ServiceFailing`.

    A failure that varies, or that successes interrupt, is a problem of its row. A request
    that fails again (another strategy for the same text) is counted once.
    """

    def __init__(self, who: str, streak: int = STREAK):
        self.who = who
        self.streak = streak
        self.proven = False  # a request succeeded: the setup works
        self._reason: str | None = None
        self._keys: set[str] = set()
        self._lock = threading.Lock()

    def succeeded(self) -> None:
        with self._lock:
            self.proven = True
            self._reason, self._keys = None, set()

    def failed(self, failure: Failure, key: str) -> None:
        """Count a request that failed for good; raise when the run must stop."""
        with self._lock:
            if failure.kind == SETUP and not self.proven:
                raise ConfigurationError(f"{self.who}: {failure.reason}")
            if failure.kind == ROW and self.proven and not failure.answered:
                self._reason, self._keys = None, set()
                return
            if failure.reason != self._reason:
                self._reason, self._keys = failure.reason, set()
            self._keys.add(key)
            if len(self._keys) < self.streak:
                return
            if not self.proven and failure.kind == ROW:
                raise ConfigurationError(
                    f"{self.who}: the first {self.streak} requests all failed ({failure.reason})"
                )
            if failure.answered:
                raise ServiceFailing(
                    f"{self.who}: {self.streak} answers in a row failed ({failure.reason}); "
                    "stopped. Finished work is cached: run again to continue"
                )
            raise ServiceFailing(
                f"{self.who}: {self.streak} requests in a row failed ({failure.reason}); "
                "stopped. Finished work is cached: run again to continue"
            )


# -- waiting -------------------------------------------------------------------------------------
def backoff(attempt: int, retry_after: float | None = None, cap: float = BACKOFF_CAP) -> float:
    """Seconds before retry number `attempt` (1 for the first): what the server asked for,
    else exponential from half a second, capped, with jitter so that threads spread out."""
    if retry_after is not None:
        return retry_after
    return min(cap, 0.5 * 2 ** (attempt - 1)) * (0.5 + random.random())


def max_retry_after() -> float:
    """The longest Retry-After plugdata honours: `$PLUGDATA_MAX_RETRY_AFTER` seconds, else 120."""
    return seconds_from_env(MAX_RETRY_AFTER_ENV, DEFAULT_MAX_RETRY_AFTER)


def wait_before_retry(
    who: str,
    attempt: int,
    retry_after: float | None = None,
    *,
    sleep: Callable[[float], object] = time.sleep,
    cap: float | None = None,
    backoff_cap: float = BACKOFF_CAP,
    say: Callable[[str], None] = say,
) -> float:
    """Wait before retry number `attempt` of a request to `who`, and return the seconds waited.

    The server's Retry-After is honoured up to `cap` (default: `max_retry_after()`); a longer
    demand raises `WaitTooLong` instead of sleeping. Waits over five seconds are announced
    through `say` (stderr, above progress bars), naming who asked and how long.
    """
    cap = max_retry_after() if cap is None else cap
    if retry_after is not None and retry_after > cap:
        raise WaitTooLong(
            f"{who}: the server asks to wait {retry_after:.0f} s; try again later "
            f"(plugdata waits up to {cap:.0f} s: ${MAX_RETRY_AFTER_ENV})"
        )
    delay = backoff(attempt, retry_after, backoff_cap)
    if delay > ANNOUNCE_WAITS_OVER:
        why = "the server asked (Retry-After)" if retry_after is not None else "backing off"
        say(f"{who}: waiting {delay:.0f} s before try {attempt + 1}: {why}")
    sleep(delay)
    return delay
