"""The judge backends by `--judge-backend` name (`JUDGES`), behind the one protocol of `base`:
the judge model behind an OpenAI-compatible API (here), or run in this process with transformers
(`local`). The run asks a backend for its decoding parameters (part of every cache key), its
price, and to judge a list of requests; how it gets there (threads, retries and a cost cap, or
batched generation) is the backend's business.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

from plugdata.errors import require
from plugdata.remote.calls import (
    Budget,
    GaveUp,
    Price,
    Retrying,
    chat_completion,
    check_openai_key,
    decode_params,
    openai_client,
    openai_host,
)
from plugdata.remote.retrying import ROW, Failure, FailureMonitor, WrongShape, openai_failure
from trainer.judge.base import Counters, Judge, Record, Request
from trainer.judge.local import LocalJudge
from trainer.options import JudgeModelOptions

EXPECTED_OUTPUT_TOKENS = 300  # explanation plus verdict, for estimates

# Why a judge's answer is of no use (`no verdict`), or None. The run sets the task's own.
Usable = Callable[[Request, str], str | None]


def _any_text(request: Request, answer: str) -> str | None:
    return None


class ApiJudge:
    """The judge behind an OpenAI-compatible API: `--concurrency` requests in flight, the
    shared retries, a failure monitor that stops the run with one line when the setup (key,
    URL, model) is wrong or the server keeps failing, and the `--max-cost` budget."""

    def __init__(self, options: JudgeModelOptions, usable: Usable = _any_text):
        require("openai", "judge")
        self.options = options
        # An empty answer or one without a verdict is kept (the task counts it as an error),
        # and the failure monitor counts it: a judge that only answers such stops after a few.
        self.usable = usable
        self.who = f"judge ({options.judge_model}) at {openai_host(options.base_url)}"
        self.price = Price.of(options.judge_model, options.price_in, options.price_out)
        self.budget = Budget(options.max_cost)
        self.stop = threading.Event()  # set when the run stops: nothing more is sent
        self.retrying = Retrying(
            self.who,
            _openai_failure,
            options.max_retries,
            stop=self.stop,
            monitor=FailureMonitor(self.who),
        )
        # Built at the first request: a run whose judgments are all cached imports no SDK.
        self._client: Any = None
        self._client_lock = threading.Lock()

    def _connect(self) -> Any:
        """The SDK client, built once."""
        with self._client_lock:
            if self._client is None:
                o = self.options
                self._client = openai_client(o.base_url, o.api_key_env, o.timeout)
            return self._client

    def decode_params(self) -> dict[str, Any]:
        o = self.options
        return decode_params(o.judge_model, o.base_url, 0.0, o.max_tokens)

    def judge_all(self, requests, record, counters, progress) -> None:  # see base.Judge
        """Stops cleanly (everything finished is cached) at `--max-cost`."""
        if requests:
            check_openai_key(self.who, self.options.base_url, self.options.api_key_env)
            self._connect()  # here, not inside a try that the retries would classify
            # The first request alone: a misconfigured judge fails once, not once per thread.
            self._work(requests[0], record, counters)
            progress(1)
            self._work_all(requests[1:], record, counters, progress)
        self.budget.check("judgments not requested", "finished ones are cached in the judge cache")

    def ask(
        self, request: Request, counters: Counters, cost: float = 0.0
    ) -> tuple[str | None, str | None]:
        """(raw answer, None) or (None, error reason) after retries. `cost`, reserved for this
        request, is spent once a try was sent."""

        body = {
            "model": self.options.judge_model,
            "messages": request.messages,
            **self.decode_params(),
            **request.params,
        }

        def create() -> str:
            return chat_completion(lambda: self._post(body))

        def useless(answer: str) -> Failure | None:
            why = "empty answer" if not answer.strip() else self.usable(request, answer)
            return None if why is None else Failure(why, ROW, answered=True)

        try:
            answer = self.retrying.call(
                create,
                key=request.key,
                on_sent=functools.partial(counters.add, requests=1),
                on_retry=functools.partial(counters.add, retries=1),
                check=useless,
            )
        except GaveUp as gave_up:
            self.budget.settle(cost, gave_up.sent)
            return None, gave_up.failure.reason
        self.budget.commit(cost)
        return answer, None

    def _post(self, body: dict[str, Any]) -> Any:
        """`chat.completions.create(**body)` without its pass over the arguments against the
        SDK's typed-dict declarations, which renames nothing in a body of plain text messages
        and was over a quarter of the SDK's time per request: the same POST, the same parsed
        `ChatCompletion` (or the text of an answer of another shape), the same errors."""
        from openai.types.chat import ChatCompletion

        client = self._client or self._connect()
        return client.post("/chat/completions", body=body, cast_to=ChatCompletion)

    def _work(self, request: Request, record: Record, counters: Counters) -> None:
        cost = self.price.request(request.chars, EXPECTED_OUTPUT_TOKENS)
        if self.budget.reserve(cost):
            record(request, *self.ask(request, counters, cost))

    def _work_all(self, requests: list[Request], record, counters, progress) -> None:
        """`_work` on every request from `--concurrency` threads; the first error stops the
        others (they send nothing more, and their waits end) and is raised."""

        def guarded(request: Request) -> None:
            try:
                self._work(request, record, counters)
            except BaseException:
                self.stop.set()  # at once: another thread may take the next request first
                raise

        with ThreadPoolExecutor(self.options.concurrency) as pool:
            futures = [pool.submit(guarded, r) for r in requests]
            try:
                for future in as_completed(futures):
                    future.result()
                    progress(1)
            except BaseException:
                self.stop.set()
                pool.shutdown(cancel_futures=True)
                raise


def _openai_failure(exc: Exception) -> Failure | None:
    """The SDK's errors are failed requests; anything else is a bug."""
    import openai

    return openai_failure(exc) if isinstance(exc, openai.OpenAIError | WrongShape) else None


# The backends by `--judge-backend` name.
JUDGES: dict[str, Callable[[JudgeModelOptions], Judge]] = {
    "openai": ApiJudge,
    "transformers": LocalJudge,
}
