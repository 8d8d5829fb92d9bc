"""The seq2seq backend with a tiny random Marian model built from a config in the test."""

import json

from plugdata.translate.backends.seq2seq import Seq2SeqBackend, Seq2SeqOptions

from .conftest import ITEMS, corpus_rows, invoke, translate_args, write_jsonl


def test_batches_are_length_sorted_and_answers_come_back_in_order(tiny_marian):
    backend = Seq2SeqBackend(Seq2SeqOptions(model=str(tiny_marian), max_new_tokens=6, batch_size=3))
    texts = [item[0] for item in ITEMS]
    forward = backend.translate_batch(texts, "en", "it")
    backward = backend.translate_batch(texts[::-1], "en", "it")
    assert len(forward) == len(texts) and all(isinstance(t, str) for t in forward)
    assert backward[::-1] == forward  # same length-sorted batches whatever the input order
    assert backend.translate_batch(texts, "en", "it") == forward  # greedy: deterministic
    assert backend.devices == ["cpu"] and backend.max_chars == 192  # 64 tokens x 3 chars
    assert backend.model == tiny_marian.name


def test_cli_runs_the_seq2seq_backend_end_to_end(tiny_marian, tmp_path):
    corpus = write_jsonl(tmp_path / "en.jsonl", corpus_rows("en"))
    options = [f"model={tiny_marian}", "max_new_tokens=6"]
    result = invoke(*translate_args(corpus, tmp_path, "seq2seq", options, "--concurrency", 1))
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in (tmp_path / "it.jsonl").read_text().splitlines()]
    lines += [json.loads(x) for x in (tmp_path / "it.quarantine.jsonl").read_text().splitlines()]
    assert len(lines) == len(ITEMS)  # a random model writes gibberish: quarantined, not lost
    made = {x["meta"]["made_by"]["target_response"] for x in lines if x.get("reason") != "empty"}
    assert f"seq2seq:{tiny_marian.name}" in made
    code = "```python\ndef reverse(text):\n    return text[::-1]\n```"
    assert code in next(x for x in lines if x["id"] == "en/t003")["target_response"]


def test_missing_model_is_one_clear_error(tmp_path):
    corpus = write_jsonl(tmp_path / "en.jsonl", corpus_rows("en"))
    result = invoke(*translate_args(corpus, tmp_path, "seq2seq", [f"model={tmp_path / 'nope'}"]))
    assert result.exit_code == 1
    assert "seq2seq model" in result.output and "cannot load" in result.output
