"""Secrets and local paths never leave the machine: credentials inside URLs, keys in query
strings and the values of key variables are scrubbed from the manifest, the card, the quarantine,
error lines and what publish pushes; files are named as the recipe names them."""

from __future__ import annotations

import pyarrow.parquet as pq

from plugdata.core.redact import public_path, scrub

from .conftest import invoke, translated
from .servers import ChatServer

SECRET = "sk-abcdef0123456789secret"


def every_byte(folder) -> str:
    return "\n".join(
        p.read_bytes().decode("utf-8", "replace") for p in sorted(folder.rglob("*")) if p.is_file()
    )


def test_a_credential_in_a_recipe_url_reaches_nothing_written_or_pushed(tiny, tmp_path, hub):
    with ChatServer() as server:
        server.script.add(400, {"error": {"message": "filter"}}, when="Why do leaves", times=20)
        url = server.url.replace("http://", f"http://user:{SECRET}@") + f"/v1?api_key={SECRET}"
        chat = {"backend": "openai-chat", "model": "m", "base_url": url, "max_retries": 0}
        translated(tiny, "it", tmp_path / "cache.sqlite", **chat)
        result = invoke("build", tiny, "--out", tmp_path / "out", "--quiet")
        assert result.exit_code == 0, result.output
    root = tmp_path / "out" / "tiny"
    written = every_byte(root)
    assert SECRET not in written and "user:" not in written
    assert "http://***@127.0.0.1" in written  # the host stays: it is provenance
    assert str(tmp_path) not in written  # neither the cache's nor any corpus's local path
    quarantine = pq.read_table(root / "quarantine" / "it.parquet").to_pylist()
    failed = [q for q in quarantine if q["reason"] == "translate-failed"]
    assert [q["where"] for q in failed] == ["en.jsonl:5"]
    assert failed[0]["meta"]["flags"] == ["last-error: openai-chat: HTTP 400"]
    assert invoke("publish", root, "--repo-id", "plug-org/tiny").exit_code == 0
    pushed = "\n".join(b.decode("utf-8", "replace") for b in hub.files("plug-org/tiny").values())
    assert SECRET not in pushed and str(tmp_path) not in pushed


def test_error_lines_never_quote_a_key(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    url = f"http://user:{SECRET}@127.0.0.1:9/v1?api_key={SECRET}"
    chat = {"backend": "openai-chat", "model": "m", "base_url": url}
    translated(tiny, "it", tmp_path / "c.sqlite", **chat)
    result = invoke("build", tiny, "--out", tmp_path / "out", "--quiet")
    assert result.exit_code == 1 and "127.0.0.1:9" in result.output
    assert SECRET not in result.output and "user:" not in result.output


def test_scrub_and_public_path():
    assert scrub(f"GET https://h/v1?key={SECRET}&q=1 Bearer {SECRET}") == (
        "GET https://h/v1?key=***&q=1 Bearer ***"
    )
    assert public_path("~/corpora/zh.jsonl") == "zh.jsonl"
