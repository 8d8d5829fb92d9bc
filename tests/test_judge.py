"""plugdata judge against a scripted OpenAI-compatible judge on 127.0.0.1."""

import json
import os
import random
import re
from pathlib import Path

import pytest

from plugdata.pipeline.config import RunConfig
from trainer.judge import stats
from trainer.judge.reading import VERDICT_RULES
from trainer.judge.verdicts import Verdict, parse_verdict

from .conftest import corpus_rows, invoke, write_jsonl
from .servers import ChatServer

# Raw judge output per item, for (system in position A, system in position B).
SCRIPT = {
    "q1": ("A is better. [[A]]", "B is better. [[B]]"),  # win, win
    "q2": ("[[A]]", "Equal. [[C]]"),  # win, tie
    "q3": ("[[A]]", "[[A]]"),  # position bias: win, loss
    "q4": ("[[C]]", "[[C]]"),  # tie, tie
    "q5": ("No verdict here.", "[[B]]"),  # error, win
    "q6": ("[[B]]", "[[A]]"),  # loss, loss
    "q7": ("[[A]] hmm, no: [[B]]", "[[A]]"),  # loss (ambiguous), loss
    "q8": ("[[B]]", "[[tie]]"),  # loss, tie
}


def scripted_judge(text):
    item = re.search(r"Question (q\d+)", text).group(1)
    system_first = text.index("sys-") < text.index("base-")
    return SCRIPT[item][0 if system_first else 1]


@pytest.fixture
def files(tmp_path):
    ids = list(SCRIPT)
    q = write_jsonl(
        tmp_path / "q.jsonl",
        [
            {"id": i, "instruction": f"Question {i}", "dataset": "koala" if i < "q5" else "oasst"}
            for i in ids
        ],
    )
    a = write_jsonl(tmp_path / "a.jsonl", [{"id": i, "output": f"sys-{i} answer"} for i in ids])
    b = write_jsonl(tmp_path / "b.jsonl", [{"id": i, "output": f"base-{i} reply!"} for i in ids])
    return q, a, b


@pytest.fixture(autouse=True)
def key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-judge-secret-key")


def run(url, files, out, *extra, model="judge-1"):
    q, a, b = files
    args = ["judge", "--answers", a, "--baseline", b, "--questions", q, "--judge-model", model]
    args += [*(["--base-url", f"{url}/v1"] if url else []), "--out", out, "--concurrency", 4]
    args += extra
    return invoke(*args)


def test_every_cell_of_both_rules_matches_the_hand_computed_table(files, tmp_path):
    with ChatServer(translate=scripted_judge) as server:
        result = run(server.url, files, tmp_path / "out")
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["task"] == "pairwise"
    assert summary["system"] == {"generator": "a", "method": "-"}  # no generator: the file
    assert summary["baseline"] == {"generator": "b", "method": "-"}
    paper, strict = summary["groups"]["all"]["paper"], summary["groups"]["all"]["strict"]
    assert {k: paper[k] for k in ("win", "tie", "loss", "error", "n")} == {
        "win": 2,
        "tie": 2,
        "loss": 3,
        "error": 1,
        "n": 8,
    }
    assert paper["diff"] == pytest.approx(-1 / 8)
    assert {k: strict[k] for k in ("win", "tie", "loss", "error", "n")} == {
        "win": 1,
        "tie": 4,
        "loss": 2,
        "error": 0,
        "n": 7,
    }
    assert strict["diff"] == pytest.approx(-1 / 7)
    assert summary["position_consistency"] == pytest.approx(4 / 7)
    assert summary["first_position_preference"] == pytest.approx(6 / 11)
    assert summary["ambiguous_judgments"] == 1 and summary["errors"] == 1
    assert summary["error_reasons"] == {"no verdict": 1}
    assert not any(group.startswith("lang=") for group in summary["groups"])  # none given
    koala = summary["groups"]["dataset=koala"]["paper"]
    assert (koala["win"], koala["tie"], koala["loss"]) == (2, 2, 0)
    judgments = (tmp_path / "out" / "judgments.jsonl").read_text().splitlines()
    assert len(judgments) == 16 and json.loads(judgments[0])["raw"]
    assert (tmp_path / "out" / "winrate.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| all | paper | 2 | 2 | 3 | 1 | 8 | -0.125 |" in result.output
    first = server.requests[0]
    assert first["temperature"] == 0 and first["max_tokens"] == 1024 and "top_p" not in first


def test_second_run_makes_zero_requests(files, tmp_path):
    with ChatServer(translate=scripted_judge) as server:
        assert run(server.url, files, tmp_path / "out").exit_code == 0
        n = len(server.requests)
        first = (tmp_path / "out" / "summary.json").read_text()
        result = run(server.url, files, tmp_path / "out")
        assert len(server.requests) == n
    assert "16 judgments from the cache" in result.output
    assert (tmp_path / "out" / "summary.json").read_text() == first


def test_judging_into_another_folder_makes_zero_requests(files, tmp_path):
    """The cache lives in the user cache directory ($PLUGDATA_CACHE_DIR here), not in OUT."""
    with ChatServer(translate=scripted_judge) as server:
        assert run(server.url, files, tmp_path / "out").exit_code == 0
        n = len(server.requests)
        result = run(server.url, files, tmp_path / "elsewhere")
        assert len(server.requests) == n == 16
    assert result.exit_code == 0, result.output
    assert "0 requests" in result.output and "16 judgments from the cache" in result.output
    assert not any(p.suffix == ".sqlite" for p in (tmp_path / "out").iterdir())
    assert (Path(os.environ["PLUGDATA_CACHE_DIR"]) / "judgments.sqlite").is_file()


def test_cache_option_overrides_the_default_place(files, tmp_path):
    cache = tmp_path / "mine.sqlite"
    with ChatServer(translate=scripted_judge) as server:
        assert run(server.url, files, tmp_path / "out", "--cache", cache).exit_code == 0
        result = run(server.url, files, tmp_path / "out")  # the default cache is still empty
        assert len(server.requests) == 32
    assert result.exit_code == 0 and cache.is_file()


def test_paper_verdict_rule_takes_a_then_b_then_c_and_no_tie_token(files, tmp_path):
    """FastChat's rule: [[A]] anywhere beats [[B]], which beats [[C]]; [[tie]] is no verdict.
    Switching rules re-reads the cached judgments: no request."""
    with ChatServer(translate=scripted_judge) as server:
        assert run(server.url, files, tmp_path / "last").exit_code == 0
        result = run(server.url, files, tmp_path / "paper", "--verdict-rule", "paper")
        assert len(server.requests) == 16
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "paper" / "summary.json").read_text())
    assert summary["verdict_rule"] == "paper"
    paper, strict = summary["groups"]["all"]["paper"], summary["groups"]["all"]["strict"]
    # q7 ([[A]] ... [[B]]) now reads A: win, loss -> tie; q8's [[tie]] is an error.
    assert [paper[k] for k in ("win", "tie", "loss", "error", "n")] == [2, 3, 1, 2, 8]
    assert [strict[k] for k in ("win", "tie", "loss", "error", "n")] == [1, 4, 1, 0, 6]
    assert summary["error_reasons"] == {"no verdict": 2}
    assert "verdict rule paper" in (tmp_path / "paper" / "summary.md").read_text()
    last = json.loads((tmp_path / "last" / "summary.json").read_text())
    assert last["verdict_rule"] == "last"


@pytest.mark.parametrize(
    ("text", "last", "paper"),
    [
        ("[[B]] then [[A]]", "A", "A"),
        ("[[A]] then [[B]]", "B", "A"),
        ("[[C]] then [[B]]", "B", "B"),
        ("[[B]] then [[C]]", "tie", "B"),
        ("[[tie]]", "tie", "error"),
        ("[[Tie]] then [[C]]", "tie", "tie"),
        ("[[D]] or [A]", "A", "error"),  # single brackets: a verdict to the default rule only
        ("[[D]]", "error", "error"),
    ],
)
def test_verdict_rules_read_the_same_text_differently(text, last, paper):
    assert (parse_verdict(text, "last").winner, parse_verdict(text, "paper").winner) == (
        last,
        paper,
    )


# Each kind of verdict a judge writes that a first-token or exact-token reading gets wrong, with
# what the default rule reads and what the paper's rule (FastChat's substring checks) reads.
@pytest.mark.parametrize(
    ("text", "last", "ambiguous", "paper"),
    [
        ('[[B]] (format: "[[A]]", "[[B]]" or "[[C]]")', "B", False, "A"),  # quoted restatement
        ("Format: [[A]], [[B]] or [[C]].\nB is clearer. Final verdict: [[B]]", "B", False, "A"),
        # the format restated with each token's condition
        ("Say [[A]] if A is better, [[B]] if B is, [[C]] for a tie. ... [[C]]", "tie", False, "A"),
        ("Final verdict: `[[B]]`", "B", False, "B"),
        ("Final verdict: **[[B]]**", "B", False, "B"),
        ("[[**B**]]", "B", False, "error"),
        ("Verdict: [[B]].", "B", False, "B"),
        ("Final verdict: [B]", "B", False, "error"),
        ("Final verdict: [[b]]", "B", False, "error"),
        ("Final verdict: [[ B ]]", "B", False, "error"),
        ("Final verdict: [[TIE]]", "tie", False, "error"),
        ("最终裁决：【【B】】", "B", False, "error"),
        ("最终裁决：【B】", "B", False, "error"),
        ("最终裁决：［［Ｂ］］", "B", False, "error"),  # full-width brackets and letter
        ("It is not [[A]] but [[B]].", "B", False, "A"),
        ("[[B]], not [[A]]", "B", False, "A"),
        ("[[B]] rather than [[A]]", "B", False, "A"),
        ("I prefer [[B]] over [[A]].", "B", False, "A"),
        ("B is better than [[A]]: [[B]]", "B", False, "A"),
        ("是[[B]]而不是[[A]]", "B", False, "A"),
        ("First I thought [[A]]. On reflection, [[B]]", "B", True, "A"),  # a change of mind
        ('Either "[[A]]" or "[[B]]", I cannot decide.', "error", False, "A"),
        ("[The Start of Assistant A's Answer] is long.", "error", False, "error"),
    ],
)
def test_default_rule_reads_what_the_judge_meant(text, last, ambiguous, paper):
    assert parse_verdict(text) == Verdict(last, ambiguous)
    assert parse_verdict(text, "paper").winner == paper


# Prose without brackets, for judgments that end with one clean verdict token.
PROSE = (
    "Assistant A B answer response is more helpful accurate detailed relevant fluent natural "
    "grammatical both are good the first second one misses a step tie equally 回答 更 流畅 "
    "respuesta risposta 답변 . , ; : ( ) - \n"
)
WORDS = PROSE.split(" ")
CLEAN_ENDINGS = ("\n\n{}", "\nFinal verdict: {}", " {}", "\n**Verdict:** {}", "\n`{}`", " {}.")


def clean_judgment(rng: random.Random, token: str) -> str:
    """An explanation that names no verdict token, then `token` once at the end."""
    words = rng.choices(WORDS, k=rng.randint(0, 40))
    return " ".join(words) + rng.choice(CLEAN_ENDINGS).format(token)


def test_every_rule_reads_a_clean_judgment_alike():
    rng = random.Random(7)
    for _ in range(600):
        token, winner = rng.choice([("[[A]]", "A"), ("[[B]]", "B"), ("[[C]]", "tie")])
        text = clean_judgment(rng, token)
        for rule in VERDICT_RULES:
            assert parse_verdict(text, rule) == Verdict(winner, False), (rule, text)


def summaries_by_rule(run, server, files, out) -> dict[str, dict]:
    """Each verdict rule's summary.json, one `run` per rule against `server` (into `out/RULE`),
    its `verdict_rule` checked and left out so that the summaries can be compared."""
    summaries = {}
    for rule in VERDICT_RULES:
        result = run(server.url, files, out / rule, "--verdict-rule", rule)
        assert result.exit_code == 0, result.output
        summaries[rule] = json.loads((out / rule / "summary.json").read_text())
        assert summaries[rule].pop("verdict_rule") == rule
    return summaries


def test_every_rule_gives_the_same_numbers_on_clean_judgments(tmp_path):
    rng = random.Random(11)
    ids = [f"q{n}" for n in range(40)]
    files = (
        write_jsonl(tmp_path / "q.jsonl", [{"id": i, "instruction": f"Question {i}"} for i in ids]),
        write_jsonl(tmp_path / "a.jsonl", [{"id": i, "output": f"sys-{i}"} for i in ids]),
        write_jsonl(tmp_path / "b.jsonl", [{"id": i, "output": f"base-{i}"} for i in ids]),
    )
    script = {
        (i, first): clean_judgment(rng, rng.choice(["[[A]]", "[[B]]", "[[C]]"]))
        for i in ids
        for first in (True, False)
    }

    def judge(text):
        item = re.search(r"Question (q\d+)", text).group(1)
        return script[(item, text.index("sys-") < text.index("base-"))]

    with ChatServer(translate=judge) as server:
        summaries = summaries_by_rule(run, server, files, tmp_path)
        assert len(server.requests) == 80  # the second rule re-read the cache
    last = summaries["last"]
    assert last == summaries["paper"]
    paper = last["groups"]["all"]["paper"]
    assert paper["error"] == 0 and paper["win"] and paper["loss"] and paper["tie"]


def test_verdict_rule_choices_are_the_rules_that_exist():
    from typing import get_args

    from trainer.options import JudgeOptions

    rules = get_args(JudgeOptions.model_fields["verdict_rule"].annotation)
    assert set(rules) == set(VERDICT_RULES) == {"last", "paper"}


def test_position_consistency_is_na_when_no_item_has_two_verdicts(files, tmp_path):
    # One order of each item has a verdict, a tie: a judge that never gives one is stopped, and
    # answers in order keep a verdict between any two without.
    def judge(text):
        return "[[C]]" if "Answer]\nsys-" in text.split("Assistant B")[0] else "I cannot decide."

    with ChatServer(translate=judge) as server:
        result = run(server.url, files, tmp_path / "out", "--concurrency", 1)
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["position_consistency"] is None
    assert summary["first_position_preference"] is None
    assert "position consistency n/a, first-position preference n/a" in result.output


def test_a_judge_named_by_a_local_path_is_written_by_its_name(files, tmp_path):
    model = str(tmp_path / "models" / "judge.gguf")
    with ChatServer(translate=scripted_judge) as server:
        result = run(server.url, files, tmp_path / "out", model=model)
    assert result.exit_code == 0, result.output
    assert (
        json.loads((tmp_path / "out" / "summary.json").read_text())["judge_model"] == "judge.gguf"
    )
    for path in (tmp_path / "out").iterdir():
        if path.suffix in (".json", ".jsonl", ".md"):
            assert str(tmp_path) not in path.read_text()


def test_retries_timeouts_and_no_key_in_outputs(files, tmp_path, waits):
    with ChatServer(translate=scripted_judge) as server:
        server.script.add(429, {"error": {"message": "slow"}}, headers={"Retry-After": "0.2"})
        server.script.add(500, {"error": {"message": "boom"}})
        server.script.add(200, "hang", when="Question q4", times=10)
        result = run(server.url, files, tmp_path / "out", "--timeout", "0.5", "--max-retries", 1)
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["groups"]["all"]["paper"]["error"] >= 2  # q4 timed out (and q5 unparseable)
    assert summary["error_reasons"]["APITimeoutError"] >= 1
    assert "retries" in result.output and 0.2 in waits  # the server's Retry-After
    for path in (tmp_path / "out").iterdir():
        if path.suffix in (".json", ".jsonl", ".md"):
            assert "sk-judge-secret-key" not in path.read_text()
    assert "sk-judge-secret-key" not in result.output
    with ChatServer(translate=scripted_judge) as server:  # failures were not cached
        run(server.url, files, tmp_path / "out")
        assert len(server.requests) >= 2


def test_max_retries_zero_sends_each_judgment_once(files, tmp_path):
    with ChatServer(translate=scripted_judge) as server:
        server.script.add(500, {"error": {"message": "boom"}})
        result = run(server.url, files, tmp_path / "out", "--max-retries", 0)
        assert len(server.requests) == 16
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["error_reasons"]["HTTP 500"] == 1 and "(0 retries" in result.output


def plan_then_cap(run, server, files, out, judgments: int) -> int:
    """A dry run plans `judgments` and sends nothing; half its estimate as --max-cost then stops
    the real run partway, in one line. Returns how many requests were sent."""
    plan = run(server.url, files, out, "--dry-run", model="gpt-4")
    assert plan.exit_code == 0 and server.requests == []
    assert f"{judgments} judgments, 0 cached, {judgments} to send" in plan.output
    cost = float(re.search(r"estimated cost ([\d.]+) USD", plan.output).group(1))
    assert cost > 0
    capped = run(server.url, files, out, "--max-cost", cost / 2, "--concurrency", 1, model="gpt-4")
    assert capped.exit_code == 1 and "--max-cost" in capped.output
    sent = len(server.requests)
    assert 0 < sent < judgments
    return sent


def test_dry_run_and_max_cost(files, tmp_path):
    with ChatServer(translate=scripted_judge) as server:
        plan_then_cap(run, server, files, tmp_path / "out", 16)


def test_bad_answers_lose_without_asking_the_judge(files, tmp_path):
    a = files[1]
    rows = [json.loads(x) for x in a.read_text().splitlines()]
    rows[0]["extraction"] = "marker-missing"
    write_jsonl(a, rows)
    with ChatServer(translate=scripted_judge) as server:
        result = run(server.url, files, tmp_path / "out", "--bad-answers", "lose")
        assert not any(
            "Question q1" in m["content"] for r in server.requests for m in r["messages"]
        )
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["bad_answers"]["system"] == 1 and summary["bad_answer_ids"]["system"] == ["q1"]
    assert summary["groups"]["all"]["paper"]["loss"] == 4  # q1 now lost automatically


def test_fastchat_prompt_file_is_used(files, tmp_path):
    prompts = write_jsonl(
        tmp_path / "judge_prompts.jsonl",
        [
            {
                "name": "pair-test",
                "type": "pairwise",
                "system_prompt": "Judge carefully. Say [[A]].",
                "prompt_template": "Q: {question}\nA: {answer_a}\nB: {answer_b}",
                "output_format": "[[A]]",
            }
        ],
    )
    with ChatServer(translate=scripted_judge) as server:
        result = run(
            server.url,
            files,
            tmp_path / "out",
            "--prompt-file",
            prompts,
            "--prompt-name",
            "pair-test",
        )
        assert server.requests[0]["messages"][0]["content"] == "Judge carefully. Say [[A]]."
    assert result.exit_code == 0, result.output
    bad = run(server.url, files, tmp_path / "o2", "--prompt-file", prompts, "--prompt-name", "nope")
    assert bad.exit_code == 1 and "no prompt named 'nope'" in bad.output


def test_bootstrap_interval_on_known_cases():
    assert stats.bootstrap_ci(["win"] * 50) == (1.0, 1.0)
    lo, hi = stats.bootstrap_ci(["win"] * 60 + ["loss"] * 40)
    assert lo < 0.2 < hi and lo > -0.05 and hi < 0.45
    assert stats.length_correlation([10, 20, -5, -10], ["win", "win", "loss", "loss"]) > 0.9


def judge_twice_with_smollm2(url, smollm2, tmp_path, *extra):
    """A 135M model rarely writes a verdict token: the run must finish, keep every raw
    judgment and count what it could not parse as errors; the second run is all cache."""
    qa = [
        ("r1", "Name a fruit that is red.", "An apple is red.", "Bananas are yellow."),
        ("r2", "What is 2 + 2?", "2 + 2 is 4.", "The answer is five."),
    ]
    files = (
        write_jsonl(tmp_path / "q.jsonl", [{"id": i, "instruction": q} for i, q, _, _ in qa]),
        write_jsonl(tmp_path / "a.jsonl", [{"id": i, "output": a} for i, _, a, _ in qa]),
        write_jsonl(tmp_path / "b.jsonl", [{"id": i, "output": b} for i, _, _, b in qa]),
    )
    # Short judgments keep the CPU run to seconds; without a cap a small model can ramble to
    # the default 1,024 tokens.
    extra = ["--max-tokens", 16, "--concurrency", 2, *extra]
    result = run(url, files, tmp_path / "out", *extra, model=smollm2)
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    judgments = [
        json.loads(x) for x in (tmp_path / "out" / "judgments.jsonl").read_text().splitlines()
    ]
    assert len(judgments) == 4 and all(j["raw"] for j in judgments)
    assert summary["errors"] == sum(j["verdict"] == "error" for j in judgments)
    assert sum(summary["error_reasons"].values()) == summary["errors"]
    paper = summary["groups"]["all"]["paper"]
    assert paper["win"] + paper["tie"] + paper["loss"] + paper["error"] == paper["n"] == 2
    again = run(url, files, tmp_path / "out", *extra, model=smollm2)
    assert "4 judgments from the cache" in again.output and "0 requests" in again.output
    return summary


@pytest.mark.slow
def test_smollm2_judge_through_transformers_serve(server, smollm2, tmp_path):
    judge_twice_with_smollm2(server, smollm2, tmp_path, "--timeout", 120, "--max-retries", 1)


@pytest.mark.slow
def test_smollm2_judge_in_process_from_the_gguf_file(smollm2_gguf, tmp_path):
    """The in-process judge loads through the trainer's loader: a .gguf file works as a
    folder does (the served test above uses the folder)."""
    summary = judge_twice_with_smollm2(
        None, smollm2_gguf, tmp_path, "--judge-backend", "transformers"
    )
    assert summary["judge_backend"] == "transformers"


def test_questions_from_a_built_folder_and_wrong_language_baseline(tiny, tmp_path):
    import datasets

    from plugdata.pipeline.build import build
    from plugdata.pipeline.recipe import load_recipe

    build(load_recipe(tiny), tmp_path / "build", config=RunConfig(quiet=True))
    folder = next(p for p in (tmp_path / "build").iterdir() if p.is_dir())
    # Triples configs have no test split, so the judge reads validation, like `generate`.
    questions = datasets.load_dataset(str(folder), "zh", split="validation")
    system = {f"tiny/{r['id']}": r["output"] for r in corpus_rows("zh")}
    baseline = {f"tiny/{r['id']}": r["output"] for r in corpus_rows("en")}
    right = questions[0]
    baseline[right["id"]] = system[right["id"]]  # one baseline answer in the right language
    wrong = [q["id"] for q in questions if q["id"] != right["id"]]
    files = (
        folder,
        write_jsonl(tmp_path / "a.jsonl", [{"id": k, "output": v} for k, v in system.items()]),
        write_jsonl(tmp_path / "b.jsonl", [{"id": k, "output": v} for k, v in baseline.items()]),
    )
    with ChatServer(translate=lambda text: "Equally good. [[C]]") as server:
        result = run(server.url, files, tmp_path / "out", "--config", "zh", "--bad-answers", "lose")
        sent = [m["content"] for r in server.requests for m in r["messages"]]
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["items"] == len(questions)
    assert summary["bad_answers"] == {"system": 0, "baseline": len(wrong)}
    paper = summary["groups"]["lang=zh"]["paper"]
    assert (paper["win"], paper["tie"]) == (len(wrong), len(questions) - len(wrong))
    assert len(server.requests) == 2 * (len(questions) - len(wrong))
    assert any(right["target_instruction"] in text for text in sent)


def test_missing_answers_are_reported_and_bad_files_are_one_line_errors(files, tmp_path):
    _, a, b = files
    rows = [json.loads(x) for x in a.read_text().splitlines()]
    write_jsonl(a, [r for r in rows if r["id"] != "q3"])
    with ChatServer(translate=scripted_judge) as server:
        result = run(server.url, files, tmp_path / "out")
        summary = json.loads((tmp_path / "out" / "summary.json").read_text())
        assert summary["items"] == 7 and summary["unanswered"] == {"system": 1, "baseline": 0}
        assert "questions without an answer, not judged: system 1, baseline 0" in result.output
        with a.open("a") as fh:
            fh.write('{"id": "q9", "output": \n')
        broken = run(server.url, files, tmp_path / "out")
        assert broken.exit_code == 1 and f"{a}:8: invalid JSON" in broken.output
        write_jsonl(
            b,
            [*[json.loads(x) for x in b.read_text().splitlines()], {"id": "q1", "output": "again"}],
        )
        write_jsonl(a, rows)
        twice = run(server.url, files, tmp_path / "out")
        assert twice.exit_code == 1 and f"{b}:9: id 'q1' appears twice" in twice.output


def test_prices_can_be_given_for_models_outside_the_table(files, tmp_path):
    def estimate(*extra, model="judge-1"):
        result = run(
            "http://127.0.0.1:9", files, tmp_path / "out", "--dry-run", *extra, model=model
        )
        assert result.exit_code == 0, result.output
        assert ("no price known" in result.output) == (model == "judge-1" and not extra)
        return float(re.search(r"estimated cost ([\d.]+) USD", result.output).group(1))

    assert estimate() == 0.0  # unknown model, no price given: nothing to estimate
    assert estimate("--price-in", 10, "--price-out", 30) == estimate(model="gpt-4-turbo") > 0


def test_a_local_judge_takes_no_server_url(files, tmp_path):
    result = run("http://127.0.0.1:9", files, tmp_path / "out", "--judge-backend", "transformers")
    assert result.exit_code == 1 and "--base-url" in result.output


def test_ids_that_do_not_match_are_shown(files, tmp_path):
    write_jsonl(files[0], [{"id": n, "instruction": "Question"} for n in (1, 2)])
    result = run("http://127.0.0.1:9", files, tmp_path / "out")
    assert result.exit_code == 1
    assert "questions '1', '2'; answers 'q1', 'q2'; baseline 'q1', 'q2'" in result.output


def test_a_file_that_is_not_a_cache_is_a_one_line_error(files, tmp_path):
    junk = tmp_path / "judge.sqlite"
    junk.write_text("not a database, just text " * 100)
    result = run("http://127.0.0.1:9", files, tmp_path / "out", "--cache", junk)
    assert result.exit_code == 1 and f"{junk}: not a usable plugdata cache" in result.output
