"""plugdata translate against real protocol servers on 127.0.0.1 (deep-translator's
LibreTranslator and the openai SDK are the real client code)."""

import json
import re
import subprocess
import sys

import pytest

from plugdata.pipeline.config import RunConfig

from .conftest import ITEMS, corpus_rows, translate_args, write_jsonl
from .conftest import invoke as run
from .servers import ChatServer, LibreServer, drop_tokens, phrase_book, translator


@pytest.fixture(autouse=True)
def keys(monkeypatch):
    monkeypatch.setenv("LIBRE_API_KEY", "libre-test-key")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-never-print-me")


def libre_args(server, corpus, tmp_path, *extra):
    options = ["provider=libre", f"base_url={server.url}"]
    return translate_args(corpus, tmp_path, "deep-translator", options, *extra)


def read(path):
    return [json.loads(x) for x in path.read_text("utf-8").splitlines()]


def expected_italian():
    return [(item[4], item[5]) for item in ITEMS]


def test_libre_translates_every_row_and_keeps_code_byte_identical(corpus, tmp_path):
    with LibreServer() as server:
        result = run(*libre_args(server, corpus, tmp_path))
    assert result.exit_code == 0, result.output
    rows = read(tmp_path / "it.jsonl")
    assert [(r["target_instruction"], r["target_response"]) for r in rows] == expected_italian()
    assert (
        rows[3]["target_response"].count(
            "```python\ndef reverse(text):\n    return text[::-1]\n```"
        )
        == 1
    )
    assert rows[1]["target_response"].startswith("La funzione predefinita `len()`")
    assert {r["meta"]["made_by"]["target_response"] for r in rows} == {"deep-translator:libre"}
    assert rows[0]["id"] == "en/t000" and rows[0]["pivot_lang"] == "en"
    sent = [r["q"] for r in server.requests]
    assert not any("`" in q or "def reverse" in q for q in sent)  # code never left the machine
    assert "kept 8, quarantined 0" in result.output


def test_second_run_is_served_from_cache_with_identical_output(corpus, tmp_path):
    with LibreServer() as server:
        assert run(*libre_args(server, corpus, tmp_path)).exit_code == 0
        first = (tmp_path / "it.jsonl").read_bytes()
        n = len(server.requests)
        result = run(*libre_args(server, corpus, tmp_path))
        assert result.exit_code == 0, result.output
        assert len(server.requests) == n
    assert (tmp_path / "it.jsonl").read_bytes() == first
    assert "to send 0" in result.output


def test_429_and_500_are_retried(corpus, tmp_path, waits):
    with LibreServer() as server:
        server.script.add(429, {"error": "slow down"})
        server.script.add(500, {"error": "boom"})
        result = run(*libre_args(server, corpus, tmp_path))
    assert result.exit_code == 0, result.output
    assert "(2 retries)" in result.output and len(waits) == 2
    assert len(read(tmp_path / "it.jsonl")) == 8


def test_lost_tokens_fall_back_to_splitting_at_tokens(corpus, tmp_path):
    book = phrase_book() | {  # the pieces around `len()` that the fallback sends on their own
        "Explain what the Python function": "Spiega che cosa restituisce la funzione Python",
        "returns.": "come risultato.",
        "The built-in function": "La funzione predefinita",
        "returns the number of items in a container, such as the characters of a string or "
        "the elements of a list.": "restituisce il numero di elementi di un contenitore, come "
        "i caratteri di una stringa o gli elementi di una lista.",
    }
    translate = translator(book)
    with LibreServer(translate=lambda t: drop_tokens(translate(t))) as server:
        result = run(*libre_args(server, corpus, tmp_path))
        sent = [r["q"] for r in server.requests]
    assert result.exit_code == 0, result.output
    row = read(tmp_path / "it.jsonl")[1]
    assert "`len()`" in row["target_instruction"] and "`len()`" in row["target_response"]
    assert any("⟦" in q for q in sent) and any(
        q == "Explain what the Python function" for q in sent
    )


def test_permanent_failure_quarantines_and_is_not_cached(corpus, tmp_path):
    with LibreServer() as server:
        server.script.add(403, {"error": "bad key"}, when="Why do leaves", times=5)
        result = run(*libre_args(server, corpus, tmp_path))
        assert result.exit_code == 0, result.output
        assert "quarantined 1 (translate-failed 1)" in result.output
        quarantine = read(tmp_path / "it.quarantine.jsonl")
        assert quarantine[0]["id"] == "en/t004" and quarantine[0]["reason"] == "translate-failed"
        server.script.items.clear()  # the server recovered
        result = run(*libre_args(server, corpus, tmp_path))
    assert "kept 8, quarantined 0" in result.output


def test_dry_run_sends_nothing_and_estimates(corpus, tmp_path):
    with LibreServer() as server:
        result = run(
            *libre_args(
                server,
                corpus,
                tmp_path,
                "--dry-run",
                "--option",
                "price_per_million_chars=20",
                "--option",
                "requests_per_second=0.1",
            )
        )
        assert server.requests == []
    assert result.exit_code == 0, result.output
    assert "Plan (dry run, nothing sent)" in result.output
    chars = int(re.search(r"\(([\d,]+) characters", result.output).group(1).replace(",", ""))
    assert chars > 500
    assert f"estimated cost {chars * 20 / 1e6:.4f} USD" in result.output
    requests = int(re.search(r"(\d+) requests\)", result.output).group(1))
    assert f"time at the configured rates {requests / 0.1 / 60:.1f} min" in result.output
    assert not (tmp_path / "it.jsonl").exists()


def test_offline_lists_missing_then_replays(corpus, tmp_path):
    result = run(*libre_args(_Nowhere(), corpus, tmp_path, "--offline"))
    assert result.exit_code == 1 and "--offline:" in result.output and "are not in" in result.output
    with LibreServer() as server:
        assert run(*libre_args(server, corpus, tmp_path)).exit_code == 0
    first = (tmp_path / "it.jsonl").read_bytes()
    result = run(*libre_args(_Nowhere(), corpus, tmp_path, "--offline"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "it.jsonl").read_bytes() == first


class _Nowhere:
    url = "http://127.0.0.1:9"  # discard port: nothing listens


def test_max_cost_stops_cleanly_and_a_rerun_finishes(corpus, tmp_path):
    args = ["--option", "price_per_million_chars=10000", "--concurrency", "1"]
    with LibreServer() as server:
        result = run(*libre_args(server, corpus, tmp_path, "--max-cost", "0.5", *args))
        assert result.exit_code == 1
        assert "--max-cost 0.5 USD reached" in result.output and "run again" in result.output
        assert not (tmp_path / "it.jsonl").exists()
        done = len(server.requests)
        assert done > 0
        result = run(*libre_args(server, corpus, tmp_path, *args))
        assert result.exit_code == 0, result.output
        sent_twice = len(server.requests) - done
    texts = [r["q"] for r in server.requests]
    assert len(texts) == len(set(texts)), "a finished segment was requested again"
    assert sent_twice > 0


def test_cache_export_import_rebuilds_without_requests(corpus, tmp_path):
    with LibreServer() as server:
        assert run(*libre_args(server, corpus, tmp_path)).exit_code == 0
    first = (tmp_path / "it.jsonl").read_bytes()
    result = run(
        "cache", "export", tmp_path / "cache.parquet", "--cache", tmp_path / "cache.sqlite"
    )
    assert result.exit_code == 0 and "exported" in result.output
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    result = run("cache", "import", tmp_path / "cache.parquet", "--cache", fresh / "c.sqlite")
    assert result.exit_code == 0, result.output
    args = libre_args(_Nowhere(), corpus, tmp_path, "--offline")
    args[args.index(tmp_path / "cache.sqlite")] = fresh / "c.sqlite"
    args[args.index(tmp_path / "it.jsonl")] = fresh / "it.jsonl"
    assert run(*args).exit_code == 0
    assert (fresh / "it.jsonl").read_bytes() == first


def test_shards_merge_to_the_unsharded_output(corpus, tmp_path):
    with LibreServer() as server:
        assert run(*libre_args(server, corpus, tmp_path)).exit_code == 0
        whole = read(tmp_path / "it.jsonl")
        parts = []
        for i in range(3):
            args = libre_args(server, corpus, tmp_path, "--shard", f"{i}/3")
            args[args.index(tmp_path / "it.jsonl")] = tmp_path / f"part{i}.jsonl"
            assert run(*args).exit_code == 0
            parts.append(tmp_path / f"part{i}.jsonl")
    result = run("merge", parts[2], parts[0], parts[1], "--out", tmp_path / "merged.jsonl")
    assert result.exit_code == 0, result.output
    assert read(tmp_path / "merged.jsonl") == whole
    result = run("merge", parts[0], parts[2], "--out", tmp_path / "bad.jsonl")
    assert result.exit_code == 1 and "shards do not cover one input" in result.output


def test_unknown_option_names_the_valid_ones(corpus, tmp_path):
    with LibreServer() as server:
        result = run(*libre_args(server, corpus, tmp_path, "--option", "provder=x"))
    assert result.exit_code == 1
    assert "option 'provder': Extra inputs are not permitted" in result.output
    assert "provider" in result.output


# -- OpenAI-compatible chat backend ----------------------------------------------------------------
def chat_args(server, corpus, tmp_path, *extra):
    options = [f"base_url={server.url}/v1", "model=test-model"]
    return translate_args(corpus, tmp_path, "openai-chat", options, *extra)


def test_a_chat_translator_s_preambles_and_notes_are_quarantined_as_commentary(corpus, tmp_path):
    """A chat model that wraps some translations in chatter: those rows are quarantined with
    `commentary:<field>`, the others kept as they came."""
    book = translator(phrase_book())
    chatty = {
        ITEMS[4][0]: "Ecco la traduzione:\n\n{}",
        ITEMS[7][1]: "{}\n\nNota: tradotto alla lettera.",
    }

    def translate(text: str) -> str:
        return chatty.get(text, "{}").format(book(text))

    with ChatServer(translate=translate) as server:
        result = run(*chat_args(server, corpus, tmp_path))
    assert result.exit_code == 0, result.output
    quarantined = {q["id"]: q["reasons"] for q in read(tmp_path / "it.quarantine.jsonl")}
    assert quarantined == {
        "en/t004": ["commentary:target_instruction"],
        "en/t007": ["commentary:target_response"],
    }
    kept = read(tmp_path / "it.jsonl")
    assert len(kept) == len(ITEMS) - 2 and not any("Ecco" in r["target_instruction"] for r in kept)


def test_chat_backend_per_field(corpus, tmp_path):
    with ChatServer() as server:
        result = run(*chat_args(server, corpus, tmp_path))
    assert result.exit_code == 0, result.output
    rows = read(tmp_path / "it.jsonl")
    assert [(r["target_instruction"], r["target_response"]) for r in rows] == expected_italian()
    assert rows[0]["meta"]["made_by"]["target_response"] == "openai-chat:test-model"
    assert server.requests[0]["temperature"] == 0
    assert "Italian" in server.requests[0]["messages"][0]["content"]
    assert server.requests[0]["auth"] == "Bearer sk-secret-never-print-me"


def test_chat_joint_mode_sends_one_request_per_row(corpus, tmp_path):
    with ChatServer() as server:
        result = run(*chat_args(server, corpus, tmp_path, "--option", "mode=joint"))
    assert result.exit_code == 0, result.output
    assert len(server.requests) == len(ITEMS)
    rows = read(tmp_path / "it.jsonl")
    assert [(r["target_instruction"], r["target_response"]) for r in rows] == expected_italian()


def test_chat_joint_mode_lost_markers_fall_back_to_segments(corpus, tmp_path):
    translate = translator(phrase_book())

    def lossy(text):
        answer = translate(text)
        return answer.replace("<response>", "") if "Why do leaves" in text else answer

    with ChatServer(translate=lossy) as server:
        result = run(*chat_args(server, corpus, tmp_path, "--option", "mode=joint"))
    assert result.exit_code == 0, result.output
    assert len(server.requests) > len(ITEMS)
    assert read(tmp_path / "it.jsonl")[4]["target_instruction"] == ITEMS[4][4]


def test_chat_retry_after_is_honoured(corpus, tmp_path, waits):
    with ChatServer() as server:
        server.script.add(429, {"error": {"message": "rate"}}, headers={"Retry-After": "0.6"})
        result = run(*chat_args(server, corpus, tmp_path, "--concurrency", "1"))
    assert result.exit_code == 0, result.output
    assert waits == [0.6] and "(1 retries)" in result.output


def test_chat_timeout_then_quarantine_and_no_key_in_output(corpus, tmp_path):
    with ChatServer() as server:
        server.script.add(200, "hang", when="Why do leaves", times=10)
        result = run(
            *chat_args(
                server, corpus, tmp_path, "--option", "timeout=0.5", "--option", "max_retries=0"
            )
        )
    assert result.exit_code == 0, result.output
    assert "translate-failed" in result.output
    assert "sk-secret" not in result.output


def test_chat_auth_error_is_one_line_without_the_key(corpus, tmp_path):
    with ChatServer() as server:
        server.script.add(
            401, {"error": {"message": "invalid key sk-secret-never-print-me"}}, times=100
        )
        result = run(*chat_args(server, corpus, tmp_path))
    assert "sk-secret" not in result.output
    # A refused key is the setup's fault: the run stops after one request, no row is quarantined.
    assert result.exit_code == 1
    assert result.output.strip().endswith("HTTP 401: the key was refused")
    assert len(server.requests) == 1 and not (tmp_path / "it.quarantine.jsonl").exists()


def test_recipe_with_translate_target_builds(tmp_path):
    from plugdata.pipeline.build import build
    from plugdata.pipeline.recipe import load_recipe

    write_jsonl(tmp_path / "en.jsonl", corpus_rows("en"))
    with LibreServer() as server:
        (tmp_path / "r.yaml").write_text(
            f"""name: mt
source: {{name: mt, path: en.jsonl}}
targets:
  it:
    translate: {{backend: deep-translator, provider: libre, base_url: "{server.url}",
                 cache: cache.sqlite, concurrency: 4}}
card: {{pretty_name: MT, license: cc-by-4.0}}
""",
            "utf-8",
        )
        report = build(
            load_recipe(tmp_path / "r.yaml"), tmp_path / "out", config=RunConfig(quiet=True)
        )
    assert report.ledgers["it"].kept == 8
    manifest = json.loads((tmp_path / "out" / "mt" / "manifest.json").read_text())
    assert manifest["configs"]["it"]["made_by"] == "deep-translator:libre"
    assert manifest["configs"]["it"]["target_source"]["translate"] == "deep-translator"
    assert "libre-test-key" not in json.dumps(manifest)


def test_sigkill_then_rerun_requests_no_finished_segment_again(corpus, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    with LibreServer(delay=0.05) as server:
        args = [str(a) for a in libre_args(server, corpus, tmp_path, "--concurrency", "1")]
        env = {**os.environ, "LIBRE_API_KEY": "k"}
        proc = subprocess.Popen(
            [sys.executable, "-m", "plugdata.cli", *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while len(server.requests) < 6 and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        before = len(server.requests)
        assert 6 <= before < 18, "the kill should land mid-run"
        assert not (tmp_path / "it.jsonl").exists()
        result = run(*libre_args(server, corpus, tmp_path))
        assert result.exit_code == 0, result.output
        texts = [r["q"] for r in server.requests]
    repeated = len(texts) - len(set(texts))
    # At most the one request in flight when the process died, and the one answer before it
    # if the cache's writer had not committed it yet (one thread: never more pending).
    assert repeated <= 2
    with LibreServer() as clean:
        fresh = tmp_path / "clean"
        args = libre_args(clean, corpus, fresh)
        assert run(*args).exit_code == 0
    assert (fresh / "it.jsonl").read_bytes() == (tmp_path / "it.jsonl").read_bytes()


def test_merged_lines_fall_back_to_one_request_per_segment(corpus, tmp_path):
    translate = translator(phrase_book())

    def merging(text):  # a translator that joins the lines of a multi-line request
        return translate(text).replace("\n", " ")

    with LibreServer(translate=merging) as server:
        result = run(*libre_args(server, corpus, tmp_path))
        sent = [r["q"] for r in server.requests]
    assert result.exit_code == 0, result.output
    rows = read(tmp_path / "it.jsonl")
    assert [(r["target_instruction"], r["target_response"]) for r in rows] == expected_italian()
    assert any("\n" in q for q in sent) and "Put your phone in another room." in sent


def test_one_request_per_field_when_lines_survive(corpus, tmp_path):
    with LibreServer() as server:
        assert run(*libre_args(server, corpus, tmp_path)).exit_code == 0
    fields_with_prose = sum(
        1 for item in ITEMS for text in item[:2] if any(c.isalpha() for c in text)
    )
    assert len(server.requests) == fields_with_prose


def test_chat_500_is_retried(corpus, tmp_path, waits):
    with ChatServer() as server:
        server.script.add(500, {"error": {"message": "overloaded"}})
        result = run(*chat_args(server, corpus, tmp_path, "--concurrency", "1"))
    assert result.exit_code == 0, result.output
    assert "(1 retries)" in result.output and "kept 8" in result.output and len(waits) == 1


def test_a_file_that_is_not_a_cache_is_a_one_line_error(tmp_path):
    from plugdata.errors import PlugdataError
    from plugdata.translate.cache import SegmentCache

    junk = tmp_path / "segments.sqlite"
    junk.write_text("not a database, just text " * 100)
    with pytest.raises(PlugdataError, match="not a usable plugdata cache"):
        SegmentCache(junk)


def test_a_shard_outside_its_range_is_refused_even_under_python_O():
    shards = ["2/2", "1", "a/3", "-1/3", "0/0", "1/2/3"]
    code = (
        "from plugdata.pipeline.translate_file import shard_bounds\n"
        f"for shard in {shards!r}:\n"
        "    try:\n        shard_bounds(0, shard)\n    except Exception as e:\n        print(e)\n"
    )
    out = subprocess.run([sys.executable, "-O", "-c", code], capture_output=True, text=True)
    assert out.stdout.splitlines() == [f"--shard {s!r}: use i/N with 0 <= i < N" for s in shards]
