"""`plugdata translate` is a one-target run of the build's pipeline: the same rows, translated by
the same backend, come out with the same target texts, and the same rows are quarantined for
the same reasons, as in a recipe build, against a LibreTranslate-API server on 127.0.0.1."""

import json

import pyarrow.parquet as pq

from .conftest import corpus_rows, invoke, translate_args, write_jsonl
from .servers import LibreServer, phrase_book, translator

REFUSED = "Why do leaves"  # the server refuses it: translate-failed
ECHOED = "What is 12"  # the server sends it back as it came: untranslated


def corpus(folder):
    """The test items, a duplicate of the second, a row whose response is not text, and a row
    with the id of the first: every kind of quarantine that depends on earlier rows or on the
    row itself, besides the server's failures."""
    rows = corpus_rows("en")
    rows += [
        dict(rows[1], id="again"),
        {"id": "listed", "instruction": "Count the vowels of banana.", "input": "", "output": [1]},
        dict(rows[2], id=rows[0]["id"], instruction="Name a river in Germany."),
    ]
    return write_jsonl(folder / "en.jsonl", rows)


def serve() -> LibreServer:
    book = translator(phrase_book())
    server = LibreServer(translate=lambda q: q if ECHOED in q else book(q))
    server.script.add(403, {"error": "refused"}, when=REFUSED, times=100)
    return server


def recipe(folder, server) -> str:
    text = {
        "name": "same",
        "source": {"name": "en", "path": "en.jsonl"},
        "targets": {
            "it": {
                "translate": {
                    "backend": "deep-translator",
                    "provider": "libre",
                    "base_url": server.url,
                    "cache": "build-cache.sqlite",
                }
            }
        },
        "splits": {"validation": 0.25},
        "card": {"pretty_name": "Same", "license": "cc-by-4.0"},
    }
    path = folder / "same.yaml"
    path.write_text(json.dumps(text), "utf-8")  # JSON is YAML
    return path


def test_translate_and_a_recipe_build_make_the_same_rows_and_quarantine_the_same(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("LIBRE_API_KEY", "libre-test-key")
    source = corpus(tmp_path)
    options = ["provider=libre"]
    with serve() as server:
        translated = invoke(
            *translate_args(
                source, tmp_path, "deep-translator", [*options, f"base_url={server.url}"]
            ),
            "--dedupe",
        )
        assert translated.exit_code == 0, translated.output
        built = invoke("build", recipe(tmp_path, server), "--out", tmp_path / "out", "--quiet")
        assert built.exit_code == 0, built.output

    lines = (tmp_path / "it.jsonl").read_text("utf-8").splitlines()
    kept_by_translate = {row["id"]: row for row in map(json.loads, lines)}
    root = tmp_path / "out" / "same"
    kept_by_build = {
        row["id"]: row
        for split in sorted((root / "data" / "it").iterdir())
        for row in pq.read_table(split).to_pylist()
    }
    assert kept_by_translate.keys() == kept_by_build.keys() and len(kept_by_build) == 6
    for id_, row in kept_by_build.items():
        for field in ("target_instruction", "target_response"):
            assert kept_by_translate[id_][field] == row[field], (id_, field)

    quarantine = (tmp_path / "it.quarantine.jsonl").read_text("utf-8").splitlines()
    quarantined_by_translate = {q["id"]: q["reasons"] for q in map(json.loads, quarantine)}
    quarantined_by_build = {
        q["id"]: q["reasons"] for q in pq.read_table(root / "quarantine" / "it.parquet").to_pylist()
    }
    assert quarantined_by_translate == quarantined_by_build
    assert {reasons[0] for reasons in quarantined_by_build.values()} == {
        "translate-failed",
        "untranslated:target_instruction",
        "duplicate",
        "not-a-string:pivot_response",
        "duplicate-id",
    }
