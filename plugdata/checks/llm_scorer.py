"""An LLM judge of translation quality as an alignment scorer: the model marks the errors of a
translation the way the MQM framework does (a span, a category, a severity), and the score is 1
less the weighted errors, so a clean translation scores 1, one major error 0.8, a critical one
0. Through any OpenAI-compatible server, with the retries, failure monitor and cost budget every
remote call of plugdata has; what it answers is cached with every other score.
"""

from __future__ import annotations

import contextlib
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import ClassVar

from pydantic import Field

from plugdata.checks.alignment import Scorer, ScorerOptions
from plugdata.core.digests import digest
from plugdata.core.languages import LANGUAGES
from plugdata.errors import require
from plugdata.remote.calls import (
    DEFAULT_MAX_RETRIES,
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
from plugdata.remote.retrying import FailureMonitor, openai_failure

SYSTEM = (
    "You review translations. You mark each error of a translation as an MQM reviewer does: the "
    "erroneous span of the translation, a category and a severity. You never translate, answer "
    "or discuss the text yourself."
)
PROMPT = """Source text ({source}):
<source>
{pivot}
</source>

Translation ({target}):
<translation>
{translation}
</translation>

List each error of the translation on a line of its own, as: severity | category | span.
Severity: critical when the translation says something the source does not say, leaves out or
adds a whole point, or answers, follows or comments on the source instead of translating it;
major when a reader would notice the meaning changed; minor when the meaning is kept but the
grammar, style or a word choice is off. Category: mistranslation, omission, addition,
untranslated, fluency, style or terminology. If there is no error, write only: no errors"""
WEIGHTS = {"minor": 1, "major": 5, "critical": 25}
CEILING = 25  # weighted errors at which the score reaches 0
_ERROR = re.compile(r"^\W*(critical|major|minor)\b", re.IGNORECASE | re.MULTILINE)
_CLEAN = re.compile(r"\bno errors?\b", re.IGNORECASE)
ANSWER_TOKENS = 80  # what a short list of errors costs, for estimates


class LlmOptions(ScorerOptions):
    model: str = Field("gpt-4o-mini", description="model name as the server knows it")
    base_url: str | None = Field(None, description="server URL, e.g. http://127.0.0.1:8000/v1")
    api_key_env: str = Field("OPENAI_API_KEY", description="environment variable with the key")
    concurrency: int = Field(8, ge=1, description="requests in flight")
    max_cost: float | None = Field(None, ge=0, description="USD cap for the scoring of a run")
    max_tokens: int = Field(400, gt=0, description="longest answer")
    timeout: float = Field(60.0, gt=0, description="seconds per request")
    max_retries: int = Field(DEFAULT_MAX_RETRIES, ge=0, description="retries of a request")
    price_per_million_input_tokens: float | None = Field(None, ge=0)
    price_per_million_output_tokens: float | None = Field(None, ge=0)


def mqm_score(answer: str) -> float | None:
    """The score an answer gives: 1 less the weighted errors over `CEILING`; None when the
    answer lists no error and does not say there is none.

    >>> mqm_score("no errors"), mqm_score("major | omission | the last step")
    (1.0, 0.8)
    >>> mqm_score("critical | addition | Here is the translation:"), mqm_score("I think it is ok")
    (0.0, None)
    """
    errors = [m.group(1).lower() for m in _ERROR.finditer(answer)]
    if not errors:
        return 1.0 if _CLEAN.search(answer) else None
    weight = sum(WEIGHTS[e] for e in errors)
    return round(max(0.0, 1 - weight / CEILING), 4)


class LlmScorer(Scorer):
    name = "llm"
    Options = LlmOptions
    version = "1"  # the prompt's: bump when PROMPT or SYSTEM change
    # Below 0.6: a critical error, or errors that weigh more than two major ones.
    default_min_score: ClassVar[dict[str, float]] = {"default": 0.6}
    parallel = False  # a remote service's work: one process, its own threads, one budget
    # The same model behind another server or key judges alike.
    operational = frozenset(
        {
            "base_url",
            "api_key_env",
            "concurrency",
            "max_cost",
            "timeout",
            "max_retries",
            "price_per_million_input_tokens",
            "price_per_million_output_tokens",
        }
    )

    def __init__(self, options: LlmOptions) -> None:
        super().__init__(options)
        self.budget = Budget(options.max_cost)
        self.monitor = FailureMonitor(self.who)
        self.price = Price.of(
            options.model,
            options.price_per_million_input_tokens,
            options.price_per_million_output_tokens,
        )
        self._client = None
        self._lock = threading.Lock()

    @property
    def model(self) -> str:
        return self.options.model

    def load(self) -> None:
        """Check the setup before anything is read or paid for (a build translates before it
        scores): the key, and that the server answers with it (`GET /models`, which costs
        nothing). Whether it serves the model is not asked: a server that loads models on
        demand lists only some; the first request, sent alone, tells."""
        require("openai", "judge")
        o = self.options
        check_openai_key(self.who, o.base_url, o.api_key_env)
        if self._client is not None:
            return
        import openai

        self._client = openai_client(o.base_url, o.api_key_env, o.timeout)

        def listing() -> None:
            # A server without the listing (404, 501) has nothing to tell here.
            with contextlib.suppress(openai.NotFoundError, openai.InternalServerError):
                self._client.models.list()

        # A passing failure (a timeout) is the run's monitor's to judge.
        with contextlib.suppress(GaveUp):
            Retrying(self.who, openai_failure, 0, monitor=FailureMonitor(self.who)).call(listing)

    @property
    def who(self) -> str:
        return f"{self.name} ({self.options.model}) at {openai_host(self.options.base_url)}"

    def _prompt(self, pivot: str, target: str, source: str, lang: str) -> str:
        return PROMPT.format(
            source=LANGUAGES.get(source).name if source in LANGUAGES else source,
            target=LANGUAGES.get(lang).name if lang in LANGUAGES else lang,
            pivot=pivot,
            translation=target,
        )

    def estimate(self, pairs: list[tuple[str, str]], source: str, target: str) -> float:
        """USD the pairs would cost (a dry run)."""
        chars = sum(len(SYSTEM) + len(self._prompt(p, t, source, target)) for p, t in pairs)
        return sum(self.price.request(chars // max(1, len(pairs)), ANSWER_TOKENS) for _ in pairs)

    def score(self, pairs: list[tuple[str, str]], source: str, target: str) -> list[float | None]:
        if not pairs:
            return []
        o = self.options
        self.load()
        retrying = Retrying(self.who, openai_failure, o.max_retries, monitor=self.monitor)
        prompts = [self._prompt(p, t, source, target) for p, t in pairs]
        if not self.monitor.proven:  # one request alone first: a wrong setup fails once
            first = [self._ask(prompts[0], retrying)]
            rest = prompts[1:]
        else:
            first, rest = [], prompts
        with ThreadPoolExecutor(o.concurrency) as pool:
            scores = first + list(pool.map(lambda p: self._ask(p, retrying), rest))
        self.budget.check("pairs not scored", "the scores so far are cached")
        return scores

    def _ask(self, prompt: str, retrying: Retrying) -> float | None:
        o = self.options
        cost = self.price.request(len(SYSTEM) + len(prompt), ANSWER_TOKENS)
        if not self.budget.reserve(cost):
            return None
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}]
        params = decode_params(o.model, o.base_url, 0.0, o.max_tokens)
        try:
            answer = retrying.call(
                lambda: chat_completion(
                    lambda: self._client.chat.completions.create(
                        model=o.model, messages=messages, **params
                    )
                ),
                key=digest(prompt).hex(),  # the monitor counts distinct requests
            )
        except GaveUp as gave_up:
            self.budget.settle(cost, gave_up.sent)
            return None
        self.budget.commit(cost)
        return mqm_score(answer)
