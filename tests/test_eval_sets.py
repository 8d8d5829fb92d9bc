"""The paper's other eval sets as recipes: X-TruthfulQA keeps each language's reference answers
(lists), X-SVAMP the gold answer (a number); the built configs load with `datasets` with those
types, and a value of the wrong kind is quarantined with its reason, never written as text."""

import json

import datasets
import pytest

from plugdata.errors import PlugdataError
from plugdata.pipeline.build import build
from plugdata.pipeline.config import RunConfig
from plugdata.pipeline.recipe import load_recipe
from tests import evaldata
from tests.conftest import DEMO_RECIPE
from trainer.evalsets import load_questions

RECIPES = DEMO_RECIPE.parent


def test_truthfulqa_configs_carry_the_target_language_references(eval_sets):
    root = eval_sets["truthfulqa"]
    for lang in ("zh", "ko", "it", "es"):
        ds = datasets.load_dataset(str(root), lang, split="test")
        assert ds.num_rows == len(evaldata.TRUTHFULQA)
        assert ds.features["correct_answers"] == datasets.Sequence(datasets.Value("string")) or (
            ds.features["correct_answers"] == datasets.List(datasets.Value("string"))
        )
        assert ds.features["best_answer"] == datasets.Value("string")
        row = ds[0]
        question, best, correct, incorrect = evaldata.TRUTHFULQA[1][lang]
        assert row["target_instruction"] == question
        assert row["pivot_instruction"] == evaldata.TRUTHFULQA[1]["en"][0]
        assert (row["best_answer"], row["correct_answers"], row["incorrect_answers"]) == (
            best,
            correct,
            incorrect,
        )
    manifest = json.loads((root / "manifest.json").read_text("utf-8"))
    assert {manifest["configs"][k]["type"] for k in ("zh", "ko", "it", "es")} == {"eval"}


def test_svamp_configs_carry_the_gold_answer_as_a_number(eval_sets):
    ds = datasets.load_dataset(str(eval_sets["svamp"]), "ko", split="test")
    assert ds.features["answer"] == datasets.Value("float64")
    assert {r["id"]: r["answer"] for r in ds} == {
        f"x-svamp/{i}": float(gold) for i, (gold, _) in evaldata.SVAMP.items()
    }


def test_every_evaluation_reads_its_fields_from_a_built_eval_set(eval_sets):
    questions = load_questions(str(eval_sets["svamp"]), "it", need=("answer",))
    assert questions["x-svamp/2"] == {
        "instruction": evaldata.SVAMP[2][1]["it"],
        "lang": "it",
        "dataset": "x-svamp",
        "answer": 145.0,
    }
    refs = load_questions(str(eval_sets["truthfulqa"]), "zh", need=("correct_answers",))
    assert refs["x-truthfulqa/3"]["correct_answers"] == evaldata.TRUTHFULQA[3]["zh"][2]
    with pytest.raises(PlugdataError, match=r"no 'answer' column; .*recipes/x-svamp.yaml"):
        load_questions(str(eval_sets["truthfulqa"]), "zh", need=("answer",))


def _build(tmp_path, recipe: str, rows_of):
    files = evaldata.write_files(tmp_path / "files", rows_of)
    loaded = load_recipe(RECIPES / recipe, {k: str(v) for k, v in files.items()})
    return build(loaded, tmp_path / "out", langs=["zh", "es"], config=RunConfig(quiet=True))


def test_a_gold_answer_that_is_not_a_number_is_quarantined_not_written(tmp_path):
    def rows(lang):
        data = evaldata.svamp_rows(lang)
        data[1]["answer"] = "one hundred forty-five" if lang == "en" else data[1]["answer"]
        data[2]["answer"] = "3" if lang == "en" else data[2]["answer"]  # a number as text is one
        return data

    report = _build(tmp_path, "x-svamp.yaml", rows)
    for lang in ("zh", "es"):
        ledger = report.ledgers[lang]
        assert ledger.kept == 2 and dict(ledger.quarantined) == {"not-a-number:pivot_answer": 1}
    ds = datasets.load_dataset(str(tmp_path / "out" / "x-svamp"), "es", split="test")
    assert sorted(ds["answer"]) == [3.0, 5.0]


def test_files_without_best_answer_build_and_are_judged_on_the_correct_answers(tmp_path):
    """`best_answer: text?`: the paper's script reads only the two lists, so files without the
    field build, with a null best answer, and the judge shows the correct answers alone."""
    from trainer.judge.truthfulqa import TruthfulQATask
    from trainer.options import JudgeOptions

    def rows(lang):
        data = evaldata.truthfulqa_rows(lang)
        for row in data:
            del row["best_answer"]
        return data

    report = _build(tmp_path, "x-truthfulqa.yaml", rows)
    assert report.ledgers["zh"].kept == len(evaldata.TRUTHFULQA)
    folder = tmp_path / "out" / "x-truthfulqa"
    ds = datasets.load_dataset(str(folder), "zh", split="test")
    assert ds["best_answer"] == [None] * len(evaldata.TRUTHFULQA)
    assert ds["correct_answers"][0] == evaldata.TRUTHFULQA[1]["zh"][2]
    answers = tmp_path / "a.jsonl"
    answers.write_text(
        "".join(json.dumps({"id": i, "output": "答"}) + "\n" for i in ds["id"]), "utf-8"
    )
    options = JudgeOptions(
        task="truthfulqa", answers=answers, questions=str(folder), config="zh",
        judge_model="m", out=tmp_path / "judged",
    )  # fmt: skip
    truth = TruthfulQATask(options).requests("m", "{}")[0].messages[1]["content"]
    _, _, correct, _ = evaldata.TRUTHFULQA[1]["zh"]
    assert f"Correct reference answers:\n- {correct[0]}\n- {correct[1]}\n\n" in truth


def test_references_that_are_not_a_list_of_texts_are_quarantined(tmp_path):
    def rows(lang):
        data = evaldata.truthfulqa_rows(lang)
        if lang == "zh":
            data[0]["correct_answers"] = "什么也不会发生"  # a string where a list belongs
            data[1]["incorrect_answers"] = [1, 2]
        return data

    report = _build(tmp_path, "x-truthfulqa.yaml", rows)
    assert dict(report.ledgers["zh"].quarantined) == {
        "not-a-list-of-texts:target_correct_answers": 1,
        "not-a-list-of-texts:target_incorrect_answers": 1,
    }
    assert report.ledgers["es"].kept == 3


@pytest.mark.parametrize(
    ("keep", "message"),
    [
        (
            "{answer: integer}",
            "source.keep.answer: Input should be .text., .number., .texts., .text\\?., "
            ".number\\?. or .texts\\?.",
        ),
        ("{id: number}", "'id' is a column plugdata writes itself"),
    ],
)
def test_keep_kinds_are_checked_with_the_recipe(tmp_path, keep, message):
    (tmp_path / "r.yaml").write_text(
        f"name: ev\nkind: eval\nsource: {{name: ev, path: en.json, keep: {keep}}}\n"
        "targets: {it: {align: {path: it.json}}}\ncard: {pretty_name: Ev, license: mit}\n",
        "utf-8",
    )
    with pytest.raises(PlugdataError, match=message):
        load_recipe(tmp_path / "r.yaml")


def test_a_column_kept_from_both_sides_is_refused(tmp_path):
    (tmp_path / "r.yaml").write_text(
        "name: ev\nkind: eval\nsource: {name: ev, path: en.json, keep: {answer: number}}\n"
        "targets: {it: {align: {path: it.json, keep: [answer]}}}\n"
        "card: {pretty_name: Ev, license: mit}\n",
        "utf-8",
    )
    with pytest.raises(PlugdataError, match=r"targets.it.align.keep: 'answer' is kept from the"):
        load_recipe(tmp_path / "r.yaml")
