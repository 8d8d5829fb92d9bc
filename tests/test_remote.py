"""The one way every client calls a remote service: retries, waits, counts, the failure
monitor, the cost budget and prices."""

import threading
import time

import pytest

from plugdata.errors import ConfigurationError
from plugdata.remote.calls import (
    STOPPED,
    Budget,
    BudgetExceeded,
    GaveUp,
    Price,
    Retrying,
    pause,
)
from plugdata.remote.retrying import ROW, SETUP, TRANSIENT, Failure, FailureMonitor


class Flaky(Exception):
    def __init__(self, failure: Failure):
        self.failure = failure


def classify(exc: Exception) -> Failure | None:
    return exc.failure if isinstance(exc, Flaky) else None


def service(*failures: Failure, answer="ok"):
    """A call that fails with each of `failures` in turn, then answers; counts its tries."""
    tries = []

    def call():
        tries.append(1)
        if len(tries) <= len(failures):
            raise Flaky(failures[len(tries) - 1])
        return answer

    return call, tries


def test_transient_failures_are_retried_with_the_shared_waits_and_counted():
    slept, sent, retried = [], [], []
    call, tries = service(Failure("HTTP 503", TRANSIENT), Failure("HTTP 429", TRANSIENT, True, 2.0))
    retrying = Retrying("svc at h:1", classify, max_retries=2, sleep=slept.append)
    answer = retrying.call(call, on_sent=lambda: sent.append(1), on_retry=lambda: retried.append(1))
    assert answer == "ok" and len(tries) == 3
    assert len(sent) == 3 and len(retried) == 2
    assert 0.25 <= slept[0] <= 0.75 and slept[1] == 2.0  # backoff, then the server's Retry-After


def test_after_the_last_retry_the_failure_is_given_up_and_shown_to_the_monitor():
    monitor = FailureMonitor("svc", streak=1)
    monitor.succeeded()
    call, tries = service(*[Failure("HTTP 500", TRANSIENT)] * 5)
    retrying = Retrying("svc", classify, max_retries=1, monitor=monitor, sleep=lambda s: None)
    with pytest.raises(Exception, match="1 requests in a row failed"):
        retrying.call(call, key="k")
    assert len(tries) == 2


def test_a_row_failure_is_not_retried_and_says_whether_it_was_sent():
    call, tries = service(Failure("HTTP 400", ROW))
    with pytest.raises(GaveUp) as caught:
        Retrying("svc", classify, sleep=lambda s: None).call(call)
    assert caught.value.failure.reason == "HTTP 400" and caught.value.sent and len(tries) == 1
    call, _ = service(Failure("connection refused", TRANSIENT, sent=False))
    with pytest.raises(GaveUp) as caught:
        Retrying("svc", classify, max_retries=0).call(call)
    assert not caught.value.sent


def test_a_setup_failure_before_any_success_stops_at_once():
    call, tries = service(Failure("HTTP 401: the key was refused", SETUP))
    retrying = Retrying("svc at h:1", classify, monitor=FailureMonitor("svc at h:1"))
    with pytest.raises(ConfigurationError, match="svc at h:1: HTTP 401: the key was refused"):
        retrying.call(call)
    assert len(tries) == 1


def test_an_error_that_is_not_a_failed_call_propagates_untouched():
    def call():
        raise KeyError("a bug")

    with pytest.raises(KeyError):
        Retrying("svc", classify).call(call)


def test_a_stopped_run_sends_nothing_and_wakes_its_sleepers():
    stop = threading.Event()
    stop.set()
    call, tries = service()
    with pytest.raises(GaveUp) as caught:
        Retrying("svc", classify, stop=stop).call(call)
    assert caught.value.failure is STOPPED and tries == []
    started = time.monotonic()
    pause(30.0, stop)
    assert time.monotonic() - started < 1


def test_the_budget_reserves_then_commits_or_releases_and_words_the_stop():
    budget = Budget(cap=1.0)
    assert budget.reserve(0.6) and not budget.reserve(0.6, units=3)
    budget.release(0.6)
    assert budget.cost == 0.0 and budget.reserve(0.6) and budget.reserve(0.4)
    budget.commit(0.6)
    budget.settle(0.4, sent=True)
    assert budget.spent == pytest.approx(1.0) and budget.held == pytest.approx(0.0)
    with pytest.raises(BudgetExceeded) as caught:
        budget.check("judgments not requested", "finished ones are cached in the judge cache")
    assert str(caught.value) == (
        "--max-cost 1 USD reached after about 1.0000 USD; 3 judgments not requested; finished "
        "ones are cached in the judge cache: run again with a higher cap to continue"
    )
    Budget().check("segments not sent", "nowhere")  # no cap, nothing skipped: no error


def test_prices_come_from_the_table_unless_given():
    assert Price.of("gpt-4-turbo") == Price.of("anything", 10.0, 30.0) == Price(10.0, 30.0)
    assert not Price.of("anything").known and not Price.of("anything", output=1.0).known
    assert Price.of("gpt-4o", input=0.0).input == 0.0
    assert Price(10.0, 30.0).per_char() == pytest.approx(10e-6)
