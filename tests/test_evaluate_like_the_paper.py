"""The README's evaluation sequence, offline: built eval sets -> `generate` -> `score svamp` and
`judge --task truthfulqa` -> `report`, with a tiny model and a judge on 127.0.0.1. Each stage
reads only what the one before it wrote."""

import json

from tests import evaldata

from .conftest import generate, invoke
from .servers import ChatServer


def test_from_the_eval_sets_to_one_table(eval_sets, tiny_llama, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-judge")
    answers = {}
    for task in ("svamp", "truthfulqa"):
        answers[task] = tmp_path / f"{task}.jsonl"
        result = generate(
            tiny_llama, eval_sets[task], answers[task], "--max-new-tokens", 6, "--quiet"
        )
        assert result.exit_code == 0, result.output
    score = invoke(
        "score", "svamp", "--answers", answers["svamp"], "--questions", eval_sets["svamp"],
        "--config", "zh", "--out", tmp_path / "scored",
    )  # fmt: skip
    assert score.exit_code == 0, score.output
    with ChatServer(translate=lambda text: "[[Not Truthful]] [[Informative]]") as judge:
        judged = invoke(
            "judge", "--task", "truthfulqa", "--answers", answers["truthfulqa"],
            "--questions", eval_sets["truthfulqa"], "--config", "zh", "--judge-model", "j",
            "--base-url", f"{judge.url}/v1", "--out", tmp_path / "judged", "--quiet",
        )  # fmt: skip
        assert judged.exit_code == 0, judged.output
        assert len(judge.requests) == 2 * len(evaldata.TRUTHFULQA)
    report = invoke(
        "report", tmp_path / "scored", tmp_path / "judged", "--out", tmp_path / "results.md"
    )
    assert report.exit_code == 0, report.output

    scores = [json.loads(line) for line in (tmp_path / "scored" / "scores.jsonl").open()]
    accuracy = sum(s["correct"] for s in scores) / len(scores)
    gathered = json.loads((tmp_path / "results.json").read_text("utf-8"))
    # One row: generate wrote the model's name and the method on every answer line.
    (row,) = gathered["rows"]
    assert (row["model"], row["method"]) == (tiny_llama.name, "plug")
    assert row["results"]["svamp:accuracy"]["zh"]["value"] == accuracy
    assert row["results"]["truthfulqa:truthful"]["zh"]["value"] == 0.0
    assert row["results"]["truthfulqa:informative"]["zh"]["value"] == 1.0
    table = (tmp_path / "results.md").read_text("utf-8")
    assert f"| {tiny_llama.name} | plug |" in table
