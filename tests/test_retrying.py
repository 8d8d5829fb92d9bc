"""The one retry policy: Retry-After in both forms, and backoff bounds."""

import time
from email.utils import formatdate

from plugdata.retrying import backoff, parse_retry_after


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
