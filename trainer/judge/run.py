"""`plugdata judge`: judge a system's answers against a baseline's, both orders, and report.

Top to bottom: questions and answers (`inputs`; bad answers counted and handled by policy) ->
two judgment requests per item -> the cache first, then the judge model for the rest (`backends`:
through an OpenAI-compatible API with bounded concurrency, retries that honour Retry-After,
timeouts and a cost cap, or in this process with transformers, see `local`) -> the paper's and
FastChat's aggregation per language and per source dataset, written as judgments.jsonl,
summary.json, summary.md and a chart (`report`).
"""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

from plugdata.remote import CHARS_PER_TOKEN, Price
from plugdata.store import Store, cache_dir
from trainer.judge.backends import EXPECTED_OUTPUT_TOKENS, JUDGES, Counters, Judge, Request
from trainer.judge.inputs import Inputs, load_inputs
from trainer.judge.report import Judged, JudgeReport, summarise, write_outputs
from trainer.judge.verdicts import JudgePrompt, load_prompt
from trainer.options import JudgeModelOptions, JudgeOptions

__all__ = ["JudgeOptions", "JudgeReport", "judge"]


class JudgmentCache:
    """SQLite (WAL): judgment key -> raw judge output. Only successful answers are stored."""

    def __init__(self, path: Path):
        self._db = Store(
            path, "CREATE TABLE IF NOT EXISTS judgments (key TEXT PRIMARY KEY, raw TEXT)"
        )
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        with self._lock:
            rows = self._db.query("SELECT raw FROM judgments WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def put(self, key: str, raw: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO judgments VALUES (?, ?)", (key, raw))

    def close(self) -> None:
        self._db.close()


def default_cache_path() -> Path:
    """judgments.sqlite in `plugdata.store.cache_dir()` ($PLUGDATA_CACHE_DIR, else
    $XDG_CACHE_HOME/plugdata, else ~/.cache/plugdata)."""
    return cache_dir() / "judgments.sqlite"


def judge(options: JudgeOptions) -> JudgeReport:
    backend = JUDGES[options.judge_backend](options)
    prompt = load_prompt(options.prompt_file, options.prompt_name)
    inputs = load_inputs(options)
    # Beside the translation cache, not in OUT: the same pairs judged into another folder cost
    # nothing again.
    cache = JudgmentCache(options.cache or default_cache_path())
    counters = Counters()
    try:
        requests = _requests(options, prompt, backend, inputs)
        raw: dict[str, str | None] = {r.key: cache.get(r.key) for r in requests}
        to_send = [r for r in requests if raw[r.key] is None]
        counters.cached = len(requests) - len(to_send)
        if options.dry_run:
            return _dry_run(options, backend.price, len(inputs.items), requests, to_send, counters)
        errors = ask_all(options, backend, cache, to_send, counters, raw)
        summary = summarise(Judged(options, prompt, inputs, requests, raw, errors))
    finally:
        cache.close()
    write_outputs(options.out, summary)
    return JudgeReport(options.out, summary["summary"], counters)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _requests(
    options: JudgeOptions, prompt: JudgePrompt, backend: Judge, inputs: Inputs
) -> list[Request]:
    """Both orders of every item (but those a bad answer decides under --bad-answers lose),
    each keyed by everything that determines the judgment."""
    params = json.dumps(backend.decode_params(), sort_keys=True)
    out = []
    for i in inputs.items:
        if options.bad_answers == "lose" and (
            i in inputs.bad["system"] or i in inputs.bad["baseline"]
        ):
            continue
        q = inputs.questions[i]["instruction"]
        s, b = str(inputs.system[i]["output"]), str(inputs.baseline[i]["output"])
        for order, (a, bb) in (("AB", (s, b)), ("BA", (b, s))):
            key = _sha(
                "\x1f".join(
                    [options.judge_model, prompt.digest, params, i, _sha(s), _sha(b), order]
                )
            )
            messages = [
                {"role": "system", "content": prompt.system},
                {"role": "user", "content": prompt.render(q, a, bb)},
            ]
            out.append(Request(i, order, messages, key))
    return out


def _dry_run(
    options: JudgeOptions,
    price: Price,
    items: int,
    requests: list[Request],
    to_send: list[Request],
    counters: Counters,
) -> JudgeReport:
    """Tokens and cost of the judgments not in the cache; nothing is sent."""
    chars = sum(r.chars for r in to_send)
    estimate = {
        "items": items,
        "judgments": len(requests),
        "cached": counters.cached,
        "to_send": len(to_send),
        "model": options.judge_model,
        "priced": price.known,
        "tokens": int(chars / CHARS_PER_TOKEN + EXPECTED_OUTPUT_TOKENS * len(to_send)),
        "cost": sum(price.request(r.chars, EXPECTED_OUTPUT_TOKENS) for r in to_send),
    }
    return JudgeReport(options.out, {}, counters, True, estimate)


def ask_all(
    options: JudgeModelOptions,
    backend: Judge,
    cache: JudgmentCache,
    to_send: list[Request],
    counters: Counters,
    raw: dict[str, str | None],
) -> dict[str, str]:
    """Ask the judge for every request in `to_send`: answers go to the cache and `raw`; returns
    the errors by request key."""
    errors: dict[str, str] = {}

    def record(request: Request, answer: str | None, error: str | None) -> None:
        if error is None:
            cache.put(request.key, answer)
            raw[request.key] = answer
        else:
            errors[request.key] = error

    from tqdm.auto import tqdm

    # disable=None: a bar on a terminal, silence in logs and pipes.
    with tqdm(total=len(to_send), desc="judging", unit="req", disable=options.quiet or None) as bar:
        backend.judge_all(to_send, record, counters, bar.update)
    return errors
