"""The one retry policy: Retry-After in both forms, and backoff bounds."""

import time
from email.utils import formatdate

from plugdata.remote.retrying import backoff, parse_retry_after


def test_retry_after_as_seconds_or_http_date():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("-1") == 0.0
    assert 8 <= parse_retry_after(formatdate(time.time() + 10, usegmt=True)) <= 10
    assert parse_retry_after(formatdate(time.time() - 60, usegmt=True)) == 0.0
    assert parse_retry_after("in a while") is None


def test_backoff_honours_the_server_then_grows_with_jitter_under_the_cap():
    assert backoff(5, retry_after=0.25) == 0.25
    first = [backoff(1) for _ in range(200)]
    assert min(first) >= 0.25 and max(first) <= 0.75 and len(set(first)) > 100
    assert all(backoff(20, cap=8.0) <= 12.0 for _ in range(50))
    assert max(backoff(4) for _ in range(200)) > max(first)


def test_which_openai_errors_are_worth_another_try():
    import openai

    try:  # the HTTP client the openai SDK is built on: httpx2 from openai 3, httpx before
        import httpx2 as httpx
    except ImportError:
        import httpx

    from plugdata.remote.retrying import Failure, openai_failure

    request = httpx.Request("POST", "http://127.0.0.1/v1/chat/completions")

    def status(code, **headers):
        response = httpx.Response(code, request=request, headers=headers)
        return openai.APIStatusError("failed", response=response, body=None)

    assert openai_failure(status(408)) == Failure("HTTP 408", "transient")
    assert openai_failure(status(429, **{"retry-after": "2"})) == Failure(
        "HTTP 429", "transient", retry_after=2.0
    )
    assert openai_failure(status(503)) == Failure("HTTP 503", "transient")
    assert openai_failure(status(401)) == Failure("HTTP 401: the key was refused", "setup")
    assert openai_failure(openai.APITimeoutError(request)) == Failure(
        "APITimeoutError", "transient"
    )
    assert openai_failure(openai.APIConnectionError(request=request)).kind == "transient"
