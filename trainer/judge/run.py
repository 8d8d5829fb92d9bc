"""`plugdata judge`: judge a system's answers against a baseline's, both orders, and report.

Top to bottom: questions and answers -> items (bad answers counted and handled by policy) ->
two judgments per item (cache first, then the judge model: through the openai SDK with bounded
concurrency, retries that honour Retry-After, timeouts and a cost cap, or in this process with
transformers, see `local`) -> the paper's and
FastChat's aggregation per language and per source dataset -> judgments.jsonl, summary.json,
summary.md and a chart.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from plugdata.errors import PlugdataError, require
from plugdata.locations import check_dataset
from plugdata.remote import (
    CHARS_PER_TOKEN,
    PRICES,
    check_openai_key,
    decode_params,
    openai_client,
    openai_host,
)
from plugdata.retrying import TRANSIENT, FailureMonitor, openai_failure, wait_before_retry
from plugdata.sources import has_lone_surrogate, read_json_file, read_json_lines
from plugdata.store import Store
from trainer.judge import stats
from trainer.judge.local import LocalJudge
from trainer.judge.verdicts import JudgePrompt, load_prompt, parse_verdict
from trainer.options import JudgeOptions

EXPECTED_OUTPUT_TOKENS = 300  # explanation plus verdict, for estimates


# -- inputs --------------------------------------------------------------------------------------
def _read_jsonl(path: Path, need: tuple[str, ...]) -> dict[str, dict]:
    """id -> row from a jsonl file (or a .json list); errors name the file, line and field."""
    if not path.exists():
        raise PlugdataError(f"{path}: file not found")
    if path.suffix == ".json":
        items = read_json_file(path)
        if not isinstance(items, list):
            raise PlugdataError(f"{path}: expected a JSON list of objects (or JSON Lines)")
        numbered = list(enumerate(items, 1))
    else:
        numbered = list(read_json_lines(path))
    rows: dict[str, dict] = {}
    for i, row in numbered:
        if not isinstance(row, dict):
            raise PlugdataError(f"{path}:{i}: expected an object, got {type(row).__name__}")
        missing = [k for k in need if k not in row]
        if missing:
            raise PlugdataError(f"{path}:{i}: no {missing[0]!r} field; have {', '.join(row)}")
        for name, value in row.items():
            # Text sent to the judge and written to the summary must be encodable.
            if isinstance(value, str) and has_lone_surrogate(value):
                raise PlugdataError(
                    f"{path}:{i}: field {name!r} holds a lone surrogate (an escape such as "
                    "\\ud800 that is half of a character); fix the text"
                )
        key = str(row["id"])
        if key in rows:
            raise PlugdataError(f"{path}:{i}: id {key!r} appears twice")
        rows[key] = row
    return rows


def load_questions(options: JudgeOptions) -> dict[str, dict]:
    """id -> {instruction, lang, dataset}."""
    check_dataset(options.questions, "--questions", files=True)
    path = Path(options.questions)
    if path.is_file():
        rows = _read_jsonl(path, ("id", "instruction"))
        return {
            k: {"instruction": r["instruction"], "lang": r.get("lang"), "dataset": r.get("dataset")}
            for k, r in rows.items()
        }
    if not options.config:
        raise PlugdataError(f"--questions {options.questions}: a dataset needs --config")
    from trainer.generate import load_eval_rows

    data = load_eval_rows(options.questions, options.config)
    return {
        q["id"]: {
            "instruction": q["target_instruction"],
            "lang": q["target_lang"],
            "dataset": q.get("dataset") or q.get("source"),
        }
        for q in data
    }


# -- cache ---------------------------------------------------------------------------------------
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


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# -- the judge model -----------------------------------------------------------------------------
@dataclass
class Request:
    item: str
    order: str  # "AB": system is A; "BA": system is B
    messages: list[dict]
    key: str

    @property
    def chars(self) -> int:
        return sum(len(m["content"]) for m in self.messages)


@dataclass
class Counters:
    requests: int = 0
    retries: int = 0
    cost: float = 0.0
    skipped_for_cost: int = 0
    cached: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, requests: int = 0, retries: int = 0) -> None:
        """Count from any worker thread."""
        with self.lock:
            self.requests += requests
            self.retries += retries


class JudgeClient:
    """The judge behind an OpenAI-compatible API. Every request goes through `ask`: retries
    with the shared wait policy, and a failure monitor that stops the run with one line when
    the setup (key, URL, model) is wrong or the server keeps failing."""

    def __init__(self, options: JudgeOptions, sleep: Callable[[float], object] | None = None):
        require("openai", "judge")
        self.options = options
        self.who = f"judge ({options.judge_model}) at {openai_host(options.base_url)}"
        self._client = openai_client(options.base_url, options.api_key_env, options.timeout)
        self.monitor = FailureMonitor(self.who)
        self.stop = threading.Event()  # set when the run stops: nothing more is sent
        self._sleep = sleep or self.stop.wait

    def check_setup(self) -> None:
        """Before the first request, never in a dry run."""
        check_openai_key(self.who, self.options.base_url, self.options.api_key_env)

    def decode_params(self) -> dict[str, Any]:
        o = self.options
        return decode_params(o.judge_model, o.base_url, 0.0, o.max_tokens)

    def ask(self, request: Request, counters: Counters) -> tuple[str | None, str | None]:
        """(raw answer, None) or (None, error reason) after retries."""
        import openai

        attempt = 0
        while not self.stop.is_set():
            try:
                reply = self._client.chat.completions.create(
                    model=self.options.judge_model,
                    messages=request.messages,
                    **self.decode_params(),
                )
            except openai.OpenAIError as exc:
                failure = openai_failure(exc)
            else:
                counters.add(requests=1)
                self.monitor.succeeded()
                content = reply.choices[0].message.content if reply.choices else None
                return (content or "", None)
            if failure.sent:
                counters.add(requests=1)
            if failure.kind == TRANSIENT and attempt < self.options.max_retries:
                attempt += 1
                counters.add(retries=1)
                wait_before_retry(self.who, attempt, failure.retry_after, sleep=self._sleep)
                continue
            self.monitor.failed(failure, key=request.key)
            return None, failure.reason
        return None, "stopped"


def price_per_request(options: JudgeOptions, prompt_chars: int) -> float:
    known_in, known_out = PRICES.get(options.judge_model, (0.0, 0.0))
    p_in = known_in if options.price_in is None else options.price_in
    p_out = known_out if options.price_out is None else options.price_out
    return (prompt_chars / CHARS_PER_TOKEN * p_in + EXPECTED_OUTPUT_TOKENS * p_out) / 1e6


# -- the job -------------------------------------------------------------------------------------
@dataclass
class JudgeReport:
    out: Path
    summary: dict[str, Any]
    counters: Counters
    dry_run: bool = False
    estimate: dict[str, Any] = field(default_factory=dict)

    def text(self) -> str:
        if self.dry_run:
            e = self.estimate
            return (
                f"Plan (dry run, nothing sent): {e['items']} items, {e['judgments']} "
                f"judgments, {e['cached']} cached, {e['to_send']} to send, about "
                f"{e['tokens']:,} tokens, estimated cost {e['cost']:.4f} USD"
                + (
                    ""
                    if e["priced"]
                    else f" (no price known for {e['model']}: give --price-in and --price-out)"
                )
            )
        return markdown(self.summary) + (
            f"\n\n{self.counters.requests} requests ({self.counters.retries} retries, "
            f"{self.counters.cached} judgments from the cache) -> {self.out}"
        )


def judge(options: JudgeOptions) -> JudgeReport:
    if options.judge_backend == "transformers" and options.base_url:
        raise PlugdataError(
            "--base-url names a judge server; --judge-backend transformers runs the model here"
        )
    prompt = load_prompt(options.prompt_file, options.prompt_name)
    questions, system, baseline, items = _inputs(options)
    from plugdata.validate import Validator

    validator = Validator()
    bad = {
        side: _bad_answers(validator, rows, questions, items)
        for side, rows in (("system", system), ("baseline", baseline))
    }
    client = (
        LocalJudge(options.judge_model, options.concurrency, options.max_tokens)
        if options.judge_backend == "transformers"
        else JudgeClient(options)
    )
    cache = JudgmentCache(options.cache or options.out / "judge_cache.sqlite")
    counters = Counters()
    try:
        requests = _requests(options, prompt, client, questions, system, baseline, items, bad)
        raw: dict[str, str | None] = {r.key: cache.get(r.key) for r in requests}
        to_send = [r for r in requests if raw[r.key] is None]
        counters.cached = len(requests) - len(to_send)
        if options.dry_run:
            return _dry_run(options, len(items), requests, to_send, counters)
        errors = _ask(options, client, cache, to_send, counters, raw)
        summary = _summarise(
            options, prompt, questions, system, baseline, items, bad, requests, raw, errors
        )
    finally:
        cache.close()
    _write_outputs(options.out, summary)
    return JudgeReport(options.out, summary["summary"], counters)


def _inputs(options: JudgeOptions) -> tuple[dict, dict, dict, list[str]]:
    """Questions, the system's and the baseline's answers, and the ids all three have."""
    questions = load_questions(options)
    system = _read_jsonl(options.answers, ("id", "output"))
    baseline = _read_jsonl(options.baseline, ("id", "output"))
    items = [i for i in questions if i in system and i in baseline]
    if not items:

        def sample(rows) -> str:
            return ", ".join(repr(k) for k in list(rows)[:2]) or "none"

        raise PlugdataError(
            "no item has a question, an answer and a baseline answer: the ids differ (questions "
            f"{sample(questions)}; answers {sample(system)}; baseline {sample(baseline)})"
        )
    return questions, system, baseline, items


def _dry_run(
    options: JudgeOptions,
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
        "priced": options.judge_backend == "transformers"
        or options.judge_model in PRICES
        or (options.price_in is not None and options.price_out is not None),
        "tokens": int(chars / CHARS_PER_TOKEN + EXPECTED_OUTPUT_TOKENS * len(to_send)),
        "cost": sum(price_per_request(options, r.chars) for r in to_send),
    }
    return JudgeReport(options.out, {}, counters, True, estimate)


def _ask(
    options: JudgeOptions,
    client: JudgeClient | LocalJudge,
    cache: JudgmentCache,
    to_send: list[Request],
    counters: Counters,
    raw: dict[str, str | None],
) -> dict[str, str]:
    """Ask the judge for every request in `to_send`: answers go to the cache and `raw`; returns
    the errors by request key. Stops cleanly (everything finished cached) at `--max-cost`."""
    errors: dict[str, str] = {}

    def record(request: Request, answer: str | None, error: str | None = None) -> None:
        if error is None:
            cache.put(request.key, answer)
            raw[request.key] = answer
        else:
            errors[request.key] = error

    def work(request: Request) -> None:
        cost = price_per_request(options, request.chars)
        with counters.lock:
            if options.max_cost is not None and counters.cost + cost > options.max_cost:
                counters.skipped_for_cost += 1
                return
            counters.cost += cost
        record(request, *client.ask(request, counters))

    from tqdm.auto import tqdm

    # disable=None: a bar on a terminal, silence in logs and pipes.
    with tqdm(total=len(to_send), desc="judging", unit="req", disable=options.quiet or None) as bar:
        if isinstance(client, LocalJudge):
            counters.requests = len(to_send)  # one generation each, nothing to pay for
            for done in client.answer_all(to_send, record):
                bar.update(done)
        elif to_send:
            client.check_setup()
            # The first request alone: a misconfigured judge fails once, not once per worker.
            work(to_send[0])
            bar.update(1)
            _ask_all(client, work, to_send[1:], options.concurrency, bar)
    if counters.skipped_for_cost:
        raise PlugdataError(
            f"--max-cost {options.max_cost:g} USD reached after about {counters.cost:.4f} USD;"
            f" {counters.skipped_for_cost} judgments not requested; finished ones are cached "
            "in the judge cache: run again with a higher cap to continue"
        )
    return errors


def _ask_all(client: JudgeClient, work, requests: list[Request], concurrency: int, bar) -> None:
    """`work` on every request from `concurrency` threads; the first error stops the others
    (they send nothing more, and their waits end) and is raised."""

    def guarded(request: Request) -> None:
        try:
            work(request)
        except BaseException:
            client.stop.set()  # at once: a worker may pick up the next request before we learn
            raise

    with ThreadPoolExecutor(concurrency) as pool:
        futures = [pool.submit(guarded, r) for r in requests]
        try:
            for future in as_completed(futures):
                future.result()
                bar.update(1)
        except BaseException:
            client.stop.set()
            pool.shutdown(cancel_futures=True)
            raise


def _bad_answers(validator, rows: dict[str, dict], questions: dict, items: list[str]) -> set[str]:
    """Answers whose extraction failed, or that are not in the question's language."""
    bad = set()
    for i in items:
        row, lang = rows[i], questions[i].get("lang") or rows[i].get("lang")
        text = str(row["output"])
        failed = row.get("extraction", "ok") != "ok" or not text.strip()
        if failed or (lang and not validator.check_language(text, lang).passed):
            bad.add(i)
    return bad


def _requests(
    options,
    prompt: JudgePrompt,
    client: JudgeClient | LocalJudge,
    questions,
    system,
    baseline,
    items,
    bad,
) -> list[Request]:
    params = json.dumps(client.decode_params(), sort_keys=True)
    out = []
    for i in items:
        if options.bad_answers == "lose" and (i in bad["system"] or i in bad["baseline"]):
            continue
        q = questions[i]["instruction"]
        s, b = str(system[i]["output"]), str(baseline[i]["output"])
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


def _point_of_view(order: str, winner: str) -> str:
    if winner in ("tie", "error"):
        return winner
    system_letter = "A" if order == "AB" else "B"
    return "win" if winner == system_letter else "loss"


def _summarise(options, prompt, questions, system, baseline, items, bad, requests, raw, errors):
    judgments, per_item = _judgments(requests, raw, errors)
    rows = [_item_row(i, per_item[i], bad, questions, system, baseline) for i in items]
    summary = {
        "judge_model": options.judge_model,
        "judge_backend": options.judge_backend,
        "prompt": prompt.name,
        "prompt_sha": prompt.digest,
        "items": len(items),
        # Questions left out because a side has no answer for them: reported, never hidden.
        "unanswered": {
            "system": sum(i not in system for i in questions),
            "baseline": sum(i not in baseline for i in questions),
        },
        "bad_answers": {k: len(v) for k, v in bad.items()},
        "bad_answer_ids": {k: sorted(v) for k, v in bad.items()},
        "bad_answer_policy": options.bad_answers,
        "groups": _groups(rows),
        **stats.position_stats([r["pair"] for r in rows], [j["verdict"] for j in judgments]),
        "length_win_correlation": stats.length_correlation(
            [r["length_diff"] for r in rows], [r["paper"] for r in rows]
        ),
        "ambiguous_judgments": sum(j["ambiguous"] for j in judgments),
        "errors": sum(j["verdict"] == "error" for j in judgments),
        "error_reasons": dict(Counter(j["error"] for j in judgments if j["error"])),
    }
    return {"summary": summary, "judgments": judgments, "items": rows}


def _judgments(requests, raw, errors) -> tuple[list[dict], dict[str, dict[str, str]]]:
    """One record per judgment (raw text, verdict, outcome for the system, error), and each
    item's outcomes by order."""
    judgments = []
    per_item: dict[str, dict[str, str]] = defaultdict(dict)
    for r in requests:
        text = raw.get(r.key)
        verdict = parse_verdict(text) if text is not None else None
        winner = verdict.winner if verdict else "error"
        outcome = _point_of_view(r.order, winner)
        per_item[r.item][r.order] = outcome
        judgments.append(
            {
                "id": r.item,
                "order": r.order,
                "raw": text,
                "verdict": winner,
                "ambiguous": bool(verdict and verdict.ambiguous),
                "outcome": outcome,
                "error": errors.get(r.key) or ("no verdict" if winner == "error" else None),
            }
        )
    return judgments, per_item


def _item_row(item, outcomes, bad, questions, system, baseline) -> dict[str, Any]:
    """An item's pair of outcomes under both rules; an item never asked about (a bad answer
    under --bad-answers lose) is decided by which side was bad."""
    if not outcomes:
        s_bad, b_bad = item in bad["system"], item in bad["baseline"]
        auto = "tie" if s_bad and b_bad else "loss" if s_bad else "win"
        pair = (auto, auto)
    else:
        pair = (outcomes.get("AB", "error"), outcomes.get("BA", "error"))
    return {
        "id": item,
        "lang": questions[item].get("lang") or "-",
        "dataset": questions[item].get("dataset") or "-",
        "pair": pair,
        "paper": stats.paper_rule(*pair),
        "strict": stats.strict_rule(*pair),
        "length_diff": len(str(system[item]["output"])) - len(str(baseline[item]["output"])),
    }


def _groups(rows: list[dict]) -> dict[str, dict]:
    """Both rules' tables, overall and per language and source dataset (when any is named)."""

    def block(selected):
        paper = [r["paper"] for r in selected]
        strict = [r["strict"] for r in selected]
        return {
            "paper": {**stats.table(paper), "ci95": stats.bootstrap_ci(paper)},
            "strict": {**stats.table(strict), "ci95": stats.bootstrap_ci([s for s in strict if s])},
        }

    by = {"all": block(rows)}
    for key in ("lang", "dataset"):
        values = sorted({r[key] for r in rows})
        if values == ["-"]:  # not given for any item: the group would repeat "all"
            continue
        for value in values:
            by[f"{key}={value}"] = block([r for r in rows if r[key] == value])
    return by


# -- outputs -------------------------------------------------------------------------------------
def markdown(summary: dict[str, Any]) -> str:
    missing = summary["unanswered"]
    lines = [
        f"Judge {summary['judge_model']} ({summary['prompt']}), {summary['items']} items; "
        f"bad answers: system {summary['bad_answers']['system']}, baseline "
        f"{summary['bad_answers']['baseline']} (policy: {summary['bad_answer_policy']})"
        + (
            f"; questions without an answer, not judged: system {missing['system']}, "
            f"baseline {missing['baseline']}"
            if any(missing.values())
            else ""
        ),
        "",
        "| group | rule | W | T | L | E | N | (W-L)/N | 95% CI |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for group, rules in summary["groups"].items():
        for rule in ("paper", "strict"):
            r = rules[rule]
            lo, hi = r["ci95"]
            lines.append(
                f"| {group} | {rule} | {r['win']} | {r['tie']} | {r['loss']} | "
                f"{r['error']} | {r['n']} | {r['diff']:+.3f} | [{lo:+.3f}, {hi:+.3f}] |"
            )
    corr = summary["length_win_correlation"]
    lines += [
        "",
        f"position consistency {summary['position_consistency']:.1%}, first-position "
        f"preference {summary['first_position_preference']:.1%}, length-win correlation "
        f"{'n/a' if corr is None else f'{corr:+.2f}'}, ambiguous judgments "
        f"{summary['ambiguous_judgments']}, errors {summary['errors']}"
        + "".join(f"; {n} {reason}" for reason, n in summary["error_reasons"].items()),
    ]
    return "\n".join(lines)


def _write_outputs(out: Path, result: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with (out / "judgments.jsonl").open("w", encoding="utf-8") as fh:
        for j in result["judgments"]:
            fh.write(json.dumps(j, ensure_ascii=False) + "\n")
    (out / "summary.json").write_text(json.dumps(result["summary"], indent=2) + "\n", "utf-8")
    (out / "summary.md").write_text(markdown(result["summary"]) + "\n", "utf-8")
    _chart(out / "winrate.png", result["summary"])


def _chart(path: Path, summary: dict[str, Any]) -> None:
    """Stacked win/tie/loss bars per language (paper's rule), like the paper's figures."""
    require("matplotlib", "judge")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = {
        k.split("=", 1)[1]: v["paper"]
        for k, v in summary["groups"].items()
        if k.startswith("lang=")
    } or {"all": summary["groups"]["all"]["paper"]}
    names = list(groups)
    fig, ax = plt.subplots(figsize=(6, 0.6 * len(names) + 1.2))
    left = [0.0] * len(names)
    for outcome, colour in (
        ("win", "#4c9a2a"),
        ("tie", "#bbbbbb"),
        ("loss", "#c0392b"),
        ("error", "#555555"),
    ):
        share = [groups[n][outcome] / groups[n]["n"] * 100 if groups[n]["n"] else 0 for n in names]
        ax.barh(names, share, left=left, color=colour, label=outcome)
        left = [a + b for a, b in zip(left, share, strict=True)]
    ax.set_xlim(0, 100)
    ax.set_xlabel("% of items (paper's rule)")
    ax.legend(ncol=4, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
