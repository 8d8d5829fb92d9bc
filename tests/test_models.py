"""`--model` from anywhere: a Hub id, a transformers folder, or a GGUF file dequantised on load,
through the one loader in `trainer.common` that train, generate and the in-process judge use."""

import json
import re

import pytest

from plugdata.errors import PlugdataError
from plugdata.remote.locations import check_model

from .conftest import generate, one_line_error


def test_check_model_accepts_a_gguf_file(tmp_path):
    """A file is a model only as GGUF (the loader dequantises it): the same bytes under another
    name, or a GGUF name with no file, are refused."""
    model = tmp_path / "m.Q4_1.gguf"
    model.write_bytes(b"GGUF")
    assert check_model(str(model)) is None
    other = tmp_path / "m.Q4_1.bin"
    other.write_bytes(b"GGUF")
    with pytest.raises(PlugdataError, match=r"m\.Q4_1\.bin: a file, not a directory or a \.gguf"):
        check_model(str(other))
    with pytest.raises(PlugdataError, match=r"absent\.gguf: no such file$"):
        check_model(str(tmp_path / "absent.gguf"))


def test_a_model_file_that_is_not_gguf_is_a_one_line_error(demo, tmp_path):
    model = tmp_path / "model.safetensors"
    model.write_bytes(b"\0")
    error = one_line_error(generate(model, demo, tmp_path / "a.jsonl"))
    assert error == f"Error: --model {model}: a file, not a directory or a .gguf file"


def test_a_damaged_gguf_file_is_a_one_line_error(demo, tmp_path):
    model = tmp_path / "broken.gguf"
    model.write_bytes(b"not a gguf file at all")
    result = generate(model, demo, tmp_path / "a.jsonl")
    # After datasets' own progress lines for the questions, read before the model.
    error = one_line_error(result, after="Error: ")
    assert error.startswith(f"Error: --model {model}: cannot load the GGUF file (")
    assert "not a GGUF file" in error


def test_generate_reports_rows_and_tokens_per_second(demo, tiny_llama, tmp_path):
    answers = tmp_path / "a.jsonl"
    extra = ["--limit", 3, "--max-new-tokens", 5, "--batch-size", 2, "--quiet"]
    result = generate(tiny_llama, demo, answers, *extra, method="mono")
    assert result.exit_code == 0, result.output
    summary = result.output.strip().splitlines()[-2]  # the budget's line comes last
    got = re.search(
        r"generated 3 answers in [\d.]+ s, ([\d,]+) tokens at ([\d.]+) tokens/s \(", summary
    )
    assert got, summary
    assert 0 < int(got.group(1)) <= 15 and float(got.group(2)) > 0
    assert "generating" not in result.output  # --quiet: no bar


@pytest.mark.slow
def test_generate_from_a_gguf_file(demo, smollm2_gguf, tmp_path):
    answers = tmp_path / "a.jsonl"
    result = generate(
        smollm2_gguf, demo, answers, "--limit", 2, "--max-new-tokens", 8, method="mono"
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(x) for x in answers.read_text().splitlines()]
    assert len(rows) == 2 and all(r["raw_output"] for r in rows)
    assert rows[0]["generator"] == smollm2_gguf.name
