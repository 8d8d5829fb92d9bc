"""Failure modes of a misconfigured backend, and of files a run must not overwrite.

Each test gives the input, the one line (and exit code) it must end in, and what must stay as it
was: the source file, the outputs never written, the requests the server never received. The
servers are the loopback ones of `servers.py`; a closed port stands for nothing listening, a
`.invalid` name (RFC 2606) for a host that does not resolve.
"""

import json
import re
import socket
import time

import pytest

from plugdata.errors import ConfigurationError

from .conftest import corpus_rows, one_line_error, translate_args, write_jsonl
from .conftest import invoke as run
from .servers import ChatServer, LibreServer


@pytest.fixture(autouse=True)
def no_keys(monkeypatch):
    for name in ("LIBRE_API_KEY", "DEEPL_API_KEY", "MICROSOFT_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def libre(url, corpus, folder, *extra):
    options = ["provider=libre", f"base_url={url}"]
    return translate_args(corpus, folder, "deep-translator", options, *extra)


def chat(url, corpus, folder, *extra):
    return translate_args(corpus, folder, "openai-chat", [f"base_url={url}/v1", "model=m"], *extra)


def read(path):
    return [json.loads(x) for x in path.read_text("utf-8").splitlines()]


def nothing_written(folder) -> bool:
    return not (folder / "it.jsonl").exists() and not (folder / "it.quarantine.jsonl").exists()


# -- nothing there -------------------------------------------------------------------------------
def test_translate_nothing_listening_is_one_line_within_a_second(corpus, tmp_path):
    port = closed_port()
    started = time.monotonic()
    result = run(*libre(f"http://127.0.0.1:{port}", corpus, tmp_path))
    elapsed = time.monotonic() - started
    line = one_line_error(result)
    assert line == (
        f"Error: deep-translator (libre) at 127.0.0.1:{port}: connection refused (nothing listening)"
    )
    assert elapsed < 1.5 and nothing_written(tmp_path)


def test_translate_host_that_does_not_resolve_is_one_line(corpus, tmp_path):
    result = run(*chat("http://plugdata-test.invalid:8000", corpus, tmp_path))
    line = one_line_error(result)
    assert line == "Error: openai-chat (m) at plugdata-test.invalid:8000: host does not resolve"
    assert nothing_written(tmp_path)


def test_judge_nothing_listening_is_one_line(tmp_path):
    files = judge_files(tmp_path)
    port = closed_port()
    result = judge(f"http://127.0.0.1:{port}", files, tmp_path / "out")
    line = one_line_error(result)
    assert (
        line
        == f"Error: judge (judge-1) at 127.0.0.1:{port}: connection refused (nothing listening)"
    )
    assert not (tmp_path / "out" / "summary.json").exists()


def test_refused_connection_is_not_a_sent_request(tmp_path):
    from plugdata.translate.backends.deep import DeepOptions, DeepTranslatorBackend
    from plugdata.translate.cache import SegmentCache
    from plugdata.translate.runner import Runner

    url = f"http://127.0.0.1:{closed_port()}"
    backend = DeepTranslatorBackend(DeepOptions(provider="libre", base_url=url))
    cache = SegmentCache(tmp_path / "cache.sqlite")
    runner = Runner(backend, cache, ("en", "it"), concurrency=4)
    units = {runner.key(t): t for t in ("One.", "Two.", "Three.")}
    with pytest.raises(ConfigurationError, match="connection refused"):
        runner.run(units)
    assert runner.stats.requests == 0 and runner.stats.chars_sent == 0
    assert cache.get_many(units) == {}


# -- keys, models, and errors on every request ---------------------------------------------------
SETUP_ERRORS = {
    "key refused": (401, {"error": {"message": "bad key"}}, "HTTP 401: the key was refused"),
    "forbidden": (403, {"error": {"message": "no"}}, "HTTP 403: forbidden (key or permissions)"),
    "unknown model": (
        404,
        {"error": {"message": "The model m does not exist", "code": "model_not_found"}},
        "HTTP 404: unknown model",
    ),
    "wrong path": (404, {"detail": "Not Found"}, "HTTP 404: unknown model or wrong base_url"),
}


@pytest.mark.parametrize("status, body, cause", SETUP_ERRORS.values(), ids=list(SETUP_ERRORS))
def test_translate_setup_error_stops_after_the_first_request(corpus, tmp_path, status, body, cause):
    with ChatServer() as server:
        server.script.add(status, body, times=100)
        result = run(*chat(server.url, corpus, tmp_path, "--concurrency", 4))
    line = one_line_error(result)
    assert line == f"Error: openai-chat (m) at {server.url.removeprefix('http://')}: {cause}"
    assert len(server.requests) == 1 and nothing_written(tmp_path)


@pytest.mark.parametrize("key", ["libre-wrong-key-123", None], ids=["wrong-key", "no-key"])
def test_libre_refused_key_stops_the_run(corpus, tmp_path, monkeypatch, key):
    """A server that wants a key refuses a wrong one, or none (a public instance needs no key,
    so none is not a setup error before the first request)."""
    if key:
        monkeypatch.setenv("LIBRE_API_KEY", key)
    else:
        monkeypatch.delenv("LIBRE_API_KEY", raising=False)
    with LibreServer() as server:
        server.script.add(403, {"error": "Invalid API key"}, times=100)
        result = run(*libre(server.url, corpus, tmp_path))
    line = one_line_error(result)
    assert line.endswith("HTTP 403: forbidden (key or permissions)") and "libre-wrong" not in line
    assert len(server.requests) == 1 and nothing_written(tmp_path)


def test_judge_refused_key_stops_after_one_request(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-judge-wrong-key")
    files = judge_files(tmp_path)
    with ChatServer() as server:
        server.script.add(401, {"error": {"message": "invalid key sk-judge-wrong-key"}}, times=100)
        result = judge(server.url, files, tmp_path / "out")
    line = one_line_error(result)
    assert line.endswith(": HTTP 401: the key was refused") and "sk-judge" not in line
    assert line.startswith(f"Error: judge (judge-1) at {server.url.removeprefix('http://')}")
    assert len(server.requests) == 1 and not (tmp_path / "out" / "summary.json").exists()


def test_the_same_error_on_the_first_requests_is_the_setup(corpus, tmp_path):
    with ChatServer() as server:
        server.script.add(400, {"error": {"message": "max_tokens is not supported"}}, times=100)
        result = run(*chat(server.url, corpus, tmp_path, "--concurrency", 1))
    line = one_line_error(result)
    assert line.endswith(": the first 5 requests all failed (HTTP 400)")
    assert len(server.requests) == 5 and nothing_written(tmp_path)


def test_row_errors_between_successes_quarantine_with_the_last_error(corpus, tmp_path):
    with ChatServer() as server:
        for text in ("Why do leaves", "Is the Pacific"):
            server.script.add(400, {"error": {"message": "content filter"}}, when=text, times=10)
        result = run(*chat(server.url, corpus, tmp_path))
    assert result.exit_code == 0, result.output
    assert "kept 6, quarantined 2 (translate-failed 2)" in result.output
    quarantine = read(tmp_path / "it.quarantine.jsonl")
    assert [q["id"] for q in quarantine] == ["en/t004", "en/t005"]
    assert all(q["meta"]["flags"] == ["last-error: openai-chat: HTTP 400"] for q in quarantine)
    kept_flags = [f for r in read(tmp_path / "it.jsonl") for f in r["meta"]["flags"]]
    assert not any(f.startswith("last-error") for f in kept_flags)


def test_last_error_in_meta_is_scrubbed(corpus, tmp_path, monkeypatch):
    from plugdata.core.redact import register_secret
    from plugdata.remote.retrying import ROW, Failure
    from plugdata.translate.backends import TRANSLATORS
    from plugdata.translate.backends.base import RequestFailed, Translator

    register_secret("tok-abcdefgh-secret")

    class Leaky(Translator):  # a backend whose error quotes what it was given
        name = "leaky"
        batch_size = 1

        def translate_batch(self, texts, source, target):
            if "Why do leaves" in texts[0]:
                raise RequestFailed(Failure("refused with key tok-abcdefgh-secret", ROW))
            return [f"[it] {t}" for t in texts]

    monkeypatch.setitem(TRANSLATORS, "leaky", Leaky)
    result = run(*translate_args(corpus, tmp_path, "leaky", []))
    assert result.exit_code == 0, result.output
    assert "tok-abcdefgh-secret" not in (tmp_path / "it.quarantine.jsonl").read_text("utf-8")
    failed = [
        q for q in read(tmp_path / "it.quarantine.jsonl") if q["reason"] == "translate-failed"
    ]
    assert [q["id"] for q in failed] == ["en/t004"]
    assert failed[0]["meta"]["flags"] == ["last-error: leaky: refused with key ***"]


def test_the_recipe_path_gets_the_last_error_on_its_outcomes(tmp_path):
    from plugdata.sources.read import Record
    from plugdata.translate.backends.chat import ChatBackend, ChatOptions
    from plugdata.translate.cache import SegmentCache
    from plugdata.translate.engine import Translation, TranslationSettings

    records = [
        Record(i, f"en.jsonl:{i + 1}", None, r["instruction"], r["output"], {}, [])
        for i, r in enumerate(corpus_rows("en")[:3])
    ]
    with ChatServer() as server:
        server.script.add(503, {"error": {"message": "busy"}}, when="What is 12", times=10)
        backend = ChatBackend(ChatOptions(base_url=f"{server.url}/v1", model="m", max_retries=0))
        cache = SegmentCache(tmp_path / "cache.sqlite")
        settings = TranslationSettings("en", "it", progress=False)
        outcomes, _ = Translation([backend], cache, settings).translate(records)
    assert [o.reason for o in outcomes] == [None, None, "translate-failed"]
    assert [o.error for o in outcomes] == [None, None, "openai-chat: HTTP 503"]
    assert outcomes[2].flags == ["last-error: openai-chat: HTTP 503"]


def test_a_server_that_breaks_after_working_stops_and_a_rerun_continues(corpus, tmp_path):
    args = ["--concurrency", 1, "--option", "max_retries=0"]
    with ChatServer() as server:
        server.script.add(500, {"error": {"message": "overloaded"}}, after=2, times=100)
        result = run(*chat(server.url, corpus, tmp_path, *args))
        line = one_line_error(result)
        assert line.endswith(
            ": 5 requests in a row failed (HTTP 500); stopped. Finished work is cached: "
            "run again to continue"
        )
        assert len(server.requests) == 7 and nothing_written(tmp_path)
        answered = [r["messages"][1]["content"] for r in server.requests[:2]]
        server.script.items.clear()  # the server recovered
        result = run(*chat(server.url, corpus, tmp_path, *args))
        assert result.exit_code == 0, result.output
        resent = [r["messages"][1]["content"] for r in server.requests[7:]]
    assert "kept 8" in result.output
    assert not set(answered) & set(resent), "a finished segment was requested again"


# -- keys that are not set -----------------------------------------------------------------------
MISSING_KEYS = {
    "deepl": (
        "deep-translator",
        ["provider=deepl"],
        "deep-translator (deepl) at api-free.deepl.com: no API key: set $DEEPL_API_KEY",
    ),
    "microsoft": (
        "deep-translator",
        ["provider=microsoft"],
        "deep-translator (microsoft) at api.cognitive.microsofttranslator.com: "
        "no API key: set $MICROSOFT_API_KEY",
    ),
    "openai": (
        "openai-chat",
        ["model=gpt-4o"],
        "openai-chat (gpt-4o) at api.openai.com: no API key: set $OPENAI_API_KEY",
    ),
    "openai url": (
        "openai-chat",
        ["model=gpt-4o", "base_url=https://api.openai.com/v1"],
        "openai-chat (gpt-4o) at api.openai.com: no API key: set $OPENAI_API_KEY",
    ),
}


@pytest.mark.parametrize("backend, options, message", MISSING_KEYS.values(), ids=list(MISSING_KEYS))
def test_a_key_that_is_needed_and_not_set_stops_before_any_request(
    corpus, tmp_path, backend, options, message
):
    line = one_line_error(run(*translate_args(corpus, tmp_path, backend, options)))
    assert line == f"Error: {message}"
    assert nothing_written(tmp_path)
    # A dry run sends nothing, so it may estimate the cost before there is a key.
    dry = run(*translate_args(corpus, tmp_path, backend, options, "--dry-run"))
    assert dry.exit_code == 0 and dry.output.startswith("Plan (dry run, nothing sent)")


def test_judge_openai_without_a_key_stops_before_any_request(tmp_path):
    files = judge_files(tmp_path)
    line = one_line_error(judge(None, files, tmp_path / "out", model="gpt-4o"))
    assert line == "Error: judge (gpt-4o) at api.openai.com: no API key: set $OPENAI_API_KEY"
    dry = judge(None, files, tmp_path / "out", "--dry-run", model="gpt-4o")
    assert dry.exit_code == 0 and "nothing sent" in dry.output


@pytest.mark.parametrize("key", [None, "libre-test-key-1"], ids=["no key", "key"])
def test_libre_sends_a_key_only_when_one_is_set(corpus, tmp_path, monkeypatch, key):
    if key:
        monkeypatch.setenv("LIBRE_API_KEY", key)
    with LibreServer() as server:
        result = run(*libre(server.url, corpus, tmp_path))
    assert result.exit_code == 0, result.output
    assert "kept 8, quarantined 0" in result.output
    assert {r.get("api_key") for r in server.requests} == {key}
    assert f"sent {len(server.requests)} requests (0 retries)" in result.output


def test_sent_requests_are_the_ones_the_server_received(corpus, tmp_path):
    now = {"Retry-After": "0"}  # retried at once: the test needs no real wait
    with ChatServer() as server:
        server.script.add(429, {"error": {"message": "slow down"}}, headers=now)
        server.script.add(500, {"error": {"message": "boom"}}, headers=now)
        server.script.add(400, {"error": {"message": "bad"}}, when="Why do leaves", times=5)
        result = run(*chat(server.url, corpus, tmp_path))
    assert result.exit_code == 0, result.output
    sent = int(re.search(r"sent (\d+) requests \(2 retries\)", result.output).group(1))
    assert sent == len(server.requests)


# -- files a run must not overwrite --------------------------------------------------------------
@pytest.mark.parametrize(
    "source, out, cache, role",
    [
        ("en.jsonl", "en.jsonl", "cache.sqlite", "--out"),
        ("en.quarantine.jsonl", "en.jsonl", "cache.sqlite", "the quarantine of --out"),
        ("en.jsonl", "it.jsonl", "en.jsonl", "the cache"),
    ],
    ids=["out is the input", "quarantine is the input", "cache is the input"],
)
def test_translate_refuses_to_overwrite_its_input(tmp_path, source, out, cache, role):
    source = write_jsonl(tmp_path / source, corpus_rows("en"))
    before = source.read_bytes()
    with LibreServer() as server:
        args = ["translate", source, "--to", "it", "--backend", "deep-translator"]
        args += ["--option", "provider=libre", "--option", f"base_url={server.url}"]
        args += ["--out", tmp_path / out, "--cache", tmp_path / cache, "--quiet"]
        line = one_line_error(run(*args))
    assert line == f"Error: {source}: used as both the input and {role}; give another path"
    assert source.read_bytes() == before and server.requests == []


def test_translate_refuses_an_input_that_is_its_shard_sidecar(corpus, tmp_path):
    sidecar = tmp_path / "it.jsonl.shard.json"
    write_jsonl(sidecar, corpus_rows("en"))
    before = sidecar.read_bytes()
    args = libre("http://127.0.0.1:9", sidecar, tmp_path, "--shard", "0/2")
    line = one_line_error(run(*args))
    assert line.endswith("used as both the input and the shard sidecar of --out; give another path")
    assert sidecar.read_bytes() == before


@pytest.mark.parametrize("target", ["part", "quarantine"])
def test_merge_refuses_to_overwrite_a_part(tmp_path, target):
    parts = [write_jsonl(tmp_path / f"p{i}.jsonl", corpus_rows("en")[i::2]) for i in range(2)]
    quarantine = write_jsonl(tmp_path / "p0.quarantine.jsonl", corpus_rows("en")[:1])
    out = parts[0] if target == "part" else quarantine
    before = {p: p.read_bytes() for p in (*parts, quarantine)}
    line = one_line_error(run("merge", *parts, "--out", out))
    role = "a part" if target == "part" else "the quarantine of a part"
    assert line == f"Error: {out}: used as both {role} and --out; give another path"
    assert {p: p.read_bytes() for p in before} == before


# -- the judge's files ---------------------------------------------------------------------------
def judge_files(folder):
    ids = ["q1", "q2"]
    return (
        write_jsonl(folder / "q.jsonl", [{"id": i, "instruction": f"Question {i}"} for i in ids]),
        write_jsonl(folder / "a.jsonl", [{"id": i, "output": f"sys-{i}"} for i in ids]),
        write_jsonl(folder / "b.jsonl", [{"id": i, "output": f"base-{i}"} for i in ids]),
    )


def judge(url, files, out, *extra, model="judge-1"):
    q, a, b = files
    args = ["judge", "--answers", a, "--baseline", b, "--questions", q, "--judge-model", model]
    args += [*(["--base-url", f"{url}/v1"] if url else []), "--out", out, "--quiet", *extra]
    return run(*args)
