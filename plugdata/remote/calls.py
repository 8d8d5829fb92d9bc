"""Calls to remote services, written once for every client (the translation backends, the judge,
the Hub): the OpenAI-compatible client and its decoding parameters, what a model costs, a cost
budget, and the one retry loop.

What a failure means and how long to wait before the next try is `plugdata.remote.retrying`'s; this
module makes the calls. Every client retries the same way:

- `DEFAULT_MAX_RETRIES` = 4 retries after the first try (5 tries in all): the number the judge
  and the Hub already used (translation backends used 5). A backend's `max_retries` option and
  the judge's `--max-retries` change it for one run; the Hub always takes the default;
- backoff from half a second, doubling, with jitter, capped at `retrying.BACKOFF_CAP` (30 s);
- a server's Retry-After honoured up to `retrying.max_retry_after()` (120 s,
  `$PLUGDATA_MAX_RETRY_AFTER`); a longer demand stops with one line;
- waits end early when the run stops (another thread failed): nothing more is sent.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlparse

from plugdata.core.redact import secret_from_env
from plugdata.errors import ConfigurationError, PlugdataError
from plugdata.remote.retrying import (
    TRANSIENT,
    Failure,
    FailureMonitor,
    WrongShape,
    describe_body,
    host_of,
    wait_before_retry,
)

DEFAULT_MAX_RETRIES = 4
T = TypeVar("T")

# -- OpenAI-compatible servers -------------------------------------------------------------------
OPENAI_HOST = "api.openai.com"
_REASONING_MODEL = re.compile(r"^(o\d|gpt-5)")


def is_openai_api(base_url: str | None) -> bool:
    """OpenAI's own API (the SDK's default when no base_url is given), not a compatible server."""
    return base_url is None or urlparse(base_url).hostname == OPENAI_HOST


def openai_host(base_url: str | None) -> str:
    return host_of(base_url, OPENAI_HOST)


def openai_client(base_url: str | None, api_key_env: str, timeout: float):
    """The SDK client for the translator and the judge. Its own retries are off: ours honour
    Retry-After with a cap and say when they wait. A server of your own may need no key."""
    from openai import OpenAI

    return OpenAI(
        base_url=base_url,
        api_key=secret_from_env(api_key_env) or "no-key",
        max_retries=0,
        timeout=timeout,
    )


def chat_completion(create: Callable[[], Any]) -> str:
    """The text of the first choice of the chat completion `create()` returns ('' when it
    holds none). An answer of another shape (an HTML page, other JSON, JSON cut short, which
    the SDK hands back as text or a half-built object, or fails to decode) raises `WrongShape`:
    `retrying.openai_failure` makes it one line naming the backend and host."""
    try:
        reply = create()
    except json.JSONDecodeError:
        raise WrongShape("truncated or invalid JSON") from None
    if isinstance(reply, str):
        raise WrongShape(describe_body(reply))
    choices = getattr(reply, "choices", None)
    if not isinstance(choices, list):
        raise WrongShape("JSON without choices" if hasattr(reply, "choices") else "other JSON")
    if not choices:
        return ""
    message = getattr(choices[0], "message", None)
    content = getattr(message, "content", None)
    if content is not None and not isinstance(content, str):
        raise WrongShape("a message content that is not text")
    return content or ""


def check_openai_key(who: str, base_url: str | None, api_key_env: str) -> None:
    """OpenAI's own API refuses every request without a key: say so before sending any."""
    if is_openai_api(base_url) and not secret_from_env(api_key_env):
        raise ConfigurationError(f"{who}: no API key: set ${api_key_env}")


def decode_params(
    model: str, base_url: str | None, temperature: float, max_tokens: int | None
) -> dict[str, float | int]:
    """Decoding parameters each server accepts. OpenAI's own API names the output cap
    `max_completion_tokens` and lets its reasoning models keep only their default temperature;
    other servers (vLLM, TGI, llama.cpp, `transformers serve`) take `max_tokens`. `top_p` is
    never sent: vLLM rejects top_p=0, and greedy decoding does not need it.

    >>> decode_params("gpt-4o", None, 0.0, 512)
    {'temperature': 0.0, 'max_completion_tokens': 512}
    >>> decode_params("o3-mini", "https://api.openai.com/v1", 0.0, None)
    {}
    >>> decode_params("o3-mini", "http://127.0.0.1:8000/v1", 0.0, 512)
    {'temperature': 0.0, 'max_tokens': 512}
    """
    official = is_openai_api(base_url)
    params: dict[str, float | int] = {}
    if not (official and _REASONING_MODEL.match(model)):
        params["temperature"] = temperature
    if max_tokens is not None:
        params["max_completion_tokens" if official else "max_tokens"] = max_tokens
    return params


# -- prices --------------------------------------------------------------------------------------
# USD per million tokens (input, output), for estimates; the options override them.
PRICES = {
    "gpt-4-turbo": (10.0, 30.0),
    "gpt-4o": (2.5, 10.0),
    "gpt-4o-mini": (0.15, 0.6),
    "gpt-4.1": (2.0, 8.0),
    "gpt-4.1-mini": (0.4, 1.6),
    "gpt-3.5-turbo": (0.5, 1.5),
    "gpt-4": (30.0, 60.0),
}
CHARS_PER_TOKEN = 4.0  # rough, for estimates only


@dataclass(frozen=True)
class Price:
    """USD per million input and output tokens; `known`: from the table or given in full."""

    input: float = 0.0
    output: float = 0.0
    known: bool = True

    @classmethod
    def of(cls, model: str, input: float | None = None, output: float | None = None) -> Price:
        """The table's price for `model`, with either side overridden.

        >>> Price.of("gpt-4o"), Price.of("mine", 1.0).known
        (Price(input=2.5, output=10.0, known=True), False)
        """
        listed = PRICES.get(model)
        base_in, base_out = listed or (0.0, 0.0)
        return cls(
            base_in if input is None else input,
            base_out if output is None else output,
            known=listed is not None or (input is not None and output is not None),
        )

    def per_char(self) -> float:
        """USD per source character when the output is about as long as the input (a
        translation): both sides counted from source characters.

        >>> round(Price(2.0, 6.0).per_char() * 1_000_000, 6)
        2.0
        """
        return (self.input + self.output) / CHARS_PER_TOKEN / 1_000_000

    def request(self, prompt_chars: int, output_tokens: int) -> float:
        """USD for one request of `prompt_chars` characters that answers `output_tokens` tokens.

        >>> Price(10.0, 30.0).request(4_000, 100)
        0.013
        """
        return (prompt_chars / CHARS_PER_TOKEN * self.input + output_tokens * self.output) / 1e6


class BudgetExceeded(PlugdataError):
    """--max-cost reached: the run stopped cleanly, everything answered so far is cached."""


class Budget:
    """A spending cap that sending threads share. A request's estimated cost is reserved before
    it is sent (refused, and counted as skipped, when it would pass the cap, so that threads
    cannot overshoot together), then committed once the request has left this process, or
    released when it never did.
    """

    def __init__(self, cap: float | None = None):
        self.cap = cap  # USD; None: no cap
        self.spent = 0.0
        self.held = 0.0  # reserved by requests in flight
        self.skipped = 0
        self._lock = threading.Lock()

    @property
    def cost(self) -> float:
        """Spent and reserved so far, USD."""
        return self.spent + self.held

    def reserve(self, cost: float, units: int = 1) -> bool:
        """Hold `cost` for `units` to be sent; False (the units are skipped) past the cap."""
        with self._lock:
            if self.cap is not None and self.cost + cost > self.cap:
                self.skipped += units
                return False
            self.held += cost
            return True

    def commit(self, cost: float) -> None:
        with self._lock:
            self.held -= cost
            self.spent += cost

    def release(self, cost: float) -> None:
        with self._lock:
            self.held -= cost

    def settle(self, cost: float, sent: bool) -> None:
        """Commit `cost` if the request left this process, release it if it never did."""
        (self.commit if sent else self.release)(cost)

    def check(self, not_done: str, kept: str) -> None:
        """Raise `BudgetExceeded` when the cap left anything out: how many `not_done` (e.g.
        "judgments not requested") and where finished work is `kept`."""
        if self.skipped:
            raise BudgetExceeded(
                f"--max-cost {self.cap:g} USD reached after about {self.cost:.4f} USD; "
                f"{self.skipped} {not_done}; {kept}: run again with a higher cap to continue"
            )


# -- calling with retries ------------------------------------------------------------------------
class GaveUp(Exception):
    """The last try failed (or the run stopped before another): `failure` says how, `sent`
    whether any try left this process."""

    def __init__(self, failure: Failure, sent: bool):
        super().__init__(failure.reason)
        self.failure = failure
        self.sent = sent


STOPPED = Failure("stopped", TRANSIENT, sent=False)


def pause(seconds: float, stop: threading.Event | None = None) -> None:
    """Sleep `seconds`; a stopped run (`stop` set) wakes its sleepers at once."""
    if stop is None:
        time.sleep(seconds)
    else:
        stop.wait(seconds)


@dataclass
class Retrying:
    """How one client calls its service: who it is (for messages), what its errors mean
    (`classify`: an exception to a `Failure`, None for one that is not a failed call and
    propagates; it may also raise an error of its own), how many retries, the run's `stop`
    event, and the monitor that decides when failures stop the run. `sleep` replaces `pause`
    (tests record the waits instead of waiting)."""

    who: str
    classify: Callable[[Exception], Failure | None]
    max_retries: int = DEFAULT_MAX_RETRIES
    stop: threading.Event | None = None
    monitor: FailureMonitor | None = None
    sleep: Callable[[float], object] | None = field(default=None, repr=False)

    def call(
        self,
        request: Callable[[], T],
        *,
        key: str = "",
        on_sent: Callable[[], object] | None = None,
        on_retry: Callable[[], object] | None = None,
        check: Callable[[T], Failure | None] | None = None,
    ) -> T:
        """`request()`'s answer, after transient failures are retried with the shared waits.
        `on_sent` is called for every try that left this process, `on_retry` for every retry;
        a failure that stays is given to the monitor (`key` names the request) and raised as
        `GaveUp`, as is a stop before the next try. `check` finds an answer of no use (empty,
        no verdict): it is returned all the same (the caller keeps it as the outcome of its
        request) and not retried, but the monitor counts it as a failure, so that a service
        that answers only such stops the run instead of being paid for every request."""
        attempt, sent = 0, False
        while self.stop is None or not self.stop.is_set():
            try:
                answer = request()
            except Exception as exc:
                failure = self.classify(exc)
                if failure is None:
                    raise
            else:
                _notify(on_sent)
                useless = check(answer) if check is not None else None
                if self.monitor is not None:
                    if useless is None:
                        self.monitor.succeeded()
                    else:
                        self.monitor.failed(useless, key=key)
                return answer
            if failure.sent:
                sent = True
                _notify(on_sent)
            if failure.kind == TRANSIENT and attempt < self.max_retries:
                attempt += 1
                _notify(on_retry)
                wait_before_retry(self.who, attempt, failure.retry_after, sleep=self._sleep)
                continue
            if self.monitor is not None:
                self.monitor.failed(failure, key=key)
            raise GaveUp(failure, sent)
        raise GaveUp(STOPPED, sent)

    def _sleep(self, seconds: float) -> None:
        if self.sleep is not None:
            self.sleep(seconds)
        else:
            pause(seconds, self.stop)


def _notify(callback: Callable[[], object] | None) -> None:
    if callback is not None:
        callback()
