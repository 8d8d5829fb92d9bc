"""What every evaluation reads: the questions of an eval set (a built folder or Hub id with a
config, or a JSON/JSONL file), answer files keyed by id, and who wrote the answers. Generation,
the pairwise judge, the TruthfulQA judge and the SVAMP scorer share these, so an eval set, an
answer file and an error message look the same to all of them."""

from __future__ import annotations

from pathlib import Path

from plugdata.core.jsonl import read_json_file, read_json_lines
from plugdata.core.textproc import has_lone_surrogate
from plugdata.errors import PlugdataError
from plugdata.remote.locations import check_dataset
from trainer.summary import System

# The columns of a triples or eval config that generation and every evaluation need.
EVAL_COLUMNS = ("id", "pivot_lang", "target_lang", "pivot_instruction", "target_instruction")


def load_eval_rows(
    dataset: str, config: str, split: str | None = None, flag: str = "--dataset"
) -> list[dict]:
    """The rows of a triples or eval config: the given split, else test, validation, train;
    errors name `flag`, the option that gave `dataset` (`--questions` to judge and score)."""
    from trainer.common import load_config_split

    splits = [split] if split else ["test", "validation", "train"]
    data = None
    for name in splits:
        try:
            data = load_config_split(dataset, config, name, flag)
            break
        except PlugdataError:
            if name == splits[-1]:
                raise
    missing = set(EVAL_COLUMNS) - set(data.column_names)
    if missing:
        raise PlugdataError(
            f"{flag} {dataset} --config {config}: not a triples or eval config (missing "
            f"{', '.join(sorted(missing))}); use e.g. {config.split('-')[0]}"
        )
    return data.to_list()


def read_rows(path: Path, need: tuple[str, ...]) -> dict[str, dict]:
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
            # Text sent to a judge and written to a summary must be encodable.
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


def load_questions(
    questions: str,
    config: str | None,
    need: tuple[str, ...] = (),
    optional: tuple[str, ...] = (),
) -> dict[str, dict]:
    """id -> {instruction, lang, dataset, *need, *optional}: the target-language question of
    each item and the fields the evaluation needs (reference answers, a gold number), from a
    file with `id`, `instruction` and `need`, or from a built eval config whose rows carry them;
    an `optional` field is None where a row lacks it."""
    check_dataset(questions, "--questions", files=True)
    path = Path(questions)
    if path.is_file():
        rows = read_rows(path, ("id", "instruction", *need))
        return {
            k: {
                "instruction": r["instruction"],
                "lang": r.get("lang"),
                "dataset": r.get("dataset"),
                **{f: r[f] for f in need},
                **{f: r.get(f) for f in optional},
            }
            for k, r in rows.items()
        }
    if not config:
        raise PlugdataError(f"--questions {questions}: a dataset needs --config")
    data = load_eval_rows(questions, config, flag="--questions")
    missing = [f for f in need if data and f not in data[0]]
    if missing:
        raise PlugdataError(
            f"--questions {questions} --config {config}: no {missing[0]!r} column; this "
            f"evaluation needs {', '.join(need)} (build the eval set from its recipe, e.g. "
            "recipes/x-truthfulqa.yaml or recipes/x-svamp.yaml)"
        )
    return {
        str(q["id"]): {
            "instruction": q["target_instruction"],
            "lang": q["target_lang"],
            "dataset": q.get("dataset") or q.get("source"),
            **{f: q[f] for f in need},
            **{f: q.get(f) for f in optional},
        }
        for q in data
    }


def answered_by(rows: dict[str, dict], path: Path) -> System:
    """Who wrote an answer file: the `generator` and `method` that `plugdata generate` records
    on every line (the file's name when a line has none). The report groups runs by these."""
    first = next(iter(rows.values()), {})
    return System(
        generator=str(first.get("generator") or path.stem),
        method=str(first.get("method") or "-"),
    )
