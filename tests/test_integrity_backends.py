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
from .servers import WRONG_SHAPES, ChatServer, LibreServer


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
def judge_files(folder, items=2):
    ids = [f"q{i + 1}" for i in range(items)]
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


# -- services that answer badly ------------------------------------------------------------------
def host(server) -> str:
    return server.url.removeprefix("http://")


SHAPE_CAUSES = {
    "html page": "an HTML page",
    "other json": "JSON without choices",
    "truncated json": "truncated or invalid JSON",
}
LIBRE_SHAPE_CAUSES = {**SHAPE_CAUSES, "other json": "JSON without translatedText"}


@pytest.mark.parametrize("shape", list(WRONG_SHAPES))
def test_translate_chat_answer_of_the_wrong_shape_is_one_line(corpus, tmp_path, shape):
    body, headers = WRONG_SHAPES[shape]
    with ChatServer() as server:
        server.script.add(200, body, headers=headers, times=100)
        result = run(*chat(server.url, corpus, tmp_path, "--concurrency", 4))
    line = one_line_error(result)
    assert line == (
        f"Error: openai-chat (m) at {host(server)}: "
        f"the answer is not a chat completion ({SHAPE_CAUSES[shape]})"
    )
    assert len(server.requests) == 1 and nothing_written(tmp_path)


@pytest.mark.parametrize("shape", list(WRONG_SHAPES))
def test_translate_libre_answer_of_the_wrong_shape_is_one_line(corpus, tmp_path, shape):
    body, headers = WRONG_SHAPES[shape]
    with LibreServer() as server:
        server.script.add(200, body, headers=headers, times=100)
        result = run(*libre(server.url, corpus, tmp_path))
    line = one_line_error(result)
    assert line == (
        f"Error: deep-translator (libre) at {host(server)}: "
        f"the answer is not a libre translation ({LIBRE_SHAPE_CAUSES[shape]})"
    )
    assert len(server.requests) == 1 and nothing_written(tmp_path)


def test_wrong_shapes_after_a_success_are_counted_by_the_failure_monitor(corpus, tmp_path):
    body, headers = WRONG_SHAPES["html page"]
    with ChatServer() as server:
        server.script.add(200, body, headers=headers, after=2, times=100)
        result = run(*chat(server.url, corpus, tmp_path, "--concurrency", 1))
    line = one_line_error(result)
    assert line == (
        f"Error: openai-chat (m) at {host(server)}: 5 requests in a row failed (the answer is "
        "not a chat completion (an HTML page)); stopped. Finished work is cached: run again to "
        "continue"
    )
    assert len(server.requests) == 7 and nothing_written(tmp_path)


@pytest.mark.parametrize("shape", list(WRONG_SHAPES))
def test_judge_answer_of_the_wrong_shape_is_one_line(tmp_path, shape):
    body, headers = WRONG_SHAPES[shape]
    files = judge_files(tmp_path)
    with ChatServer() as server:
        server.script.add(200, body, headers=headers, times=100)
        result = judge(server.url, files, tmp_path / "out")
    line = one_line_error(result)
    assert line == (
        f"Error: judge (judge-1) at {host(server)}: "
        f"the answer is not a chat completion ({SHAPE_CAUSES[shape]})"
    )
    assert len(server.requests) == 1 and not (tmp_path / "out" / "summary.json").exists()


@pytest.mark.parametrize(
    "answer, cause", [("", "empty answer"), ("Both answers are fine.", "no verdict")]
)
def test_judge_that_never_gives_a_verdict_stops_after_five_requests(tmp_path, answer, cause):
    files = judge_files(tmp_path, items=8)  # 16 judgments
    with ChatServer(translate=lambda text: answer) as server:
        result = judge(server.url, files, tmp_path / "out", "--concurrency", 1)
    line = one_line_error(result)
    assert (
        line
        == f"Error: judge (judge-1) at {host(server)}: the first 5 requests all failed ({cause})"
    )
    assert len(server.requests) == 5 and not (tmp_path / "out" / "summary.json").exists()


def test_judge_that_stops_giving_verdicts_stops_after_five_in_a_row(tmp_path):
    files = judge_files(tmp_path, items=8)
    answers = iter(["[[A]]", "[[B]]"])
    with ChatServer(translate=lambda text: next(answers, "No idea.")) as server:
        result = judge(server.url, files, tmp_path / "out", "--concurrency", 1)
        line = one_line_error(result)
        assert line == (
            f"Error: judge (judge-1) at {host(server)}: 5 answers in a row failed (no verdict); "
            "stopped. Finished work is cached: run again to continue"
        )
        assert len(server.requests) == 7
        server.translate = lambda text: "[[C]]"  # the judge recovered
        result = judge(server.url, files, tmp_path / "out", "--concurrency", 1)
    assert result.exit_code == 0, result.output
    # The two judgments with a verdict and four kept without one (the fifth stopped the run)
    # are not asked again.
    assert len(server.requests) == 7 + 16 - 6


# -- Retry-After ---------------------------------------------------------------------------------
def _libre_backend(url):
    from plugdata.translate.backends.deep import DeepOptions, DeepTranslatorBackend

    return DeepTranslatorBackend(DeepOptions(provider="libre", base_url=url))


def _chat_backend(url):
    from plugdata.translate.backends.chat import ChatBackend, ChatOptions

    return ChatBackend(ChatOptions(base_url=f"{url}/v1", model="m"))


@pytest.mark.parametrize(
    "server_type, make",
    [(LibreServer, _libre_backend), (ChatServer, _chat_backend)],
    ids=["libre", "openai-chat"],
)
@pytest.mark.parametrize("status", [429, 503])
def test_every_backend_passes_retry_after_to_the_shared_retries(server_type, make, status):
    from plugdata.translate.backends.base import RequestFailed

    with server_type() as server:
        server.script.add(status, {"error": "slow down"}, headers={"Retry-After": "7"})
        backend = make(server.url)
        with pytest.raises(RequestFailed) as failed:
            backend.translate_batch(["One."], "en", "it")
    assert failed.value.failure.kind == "transient"
    assert failed.value.failure.retry_after == 7.0


WAIT_TOO_LONG = (
    "the server asks to wait 100000 s; try again later "
    "(plugdata waits up to 120 s: $PLUGDATA_MAX_RETRY_AFTER)"
)


@pytest.mark.parametrize("kind", ["libre", "openai-chat", "judge"])
def test_a_retry_after_past_the_cap_stops_every_client_with_one_line(corpus, tmp_path, kind):
    server_type = LibreServer if kind == "libre" else ChatServer
    with server_type() as server:
        server.script.add(429, {"error": "later"}, headers={"Retry-After": "100000"}, times=100)
        if kind == "judge":
            result = judge(server.url, judge_files(tmp_path), tmp_path / "out")
            who = f"judge (judge-1) at {host(server)}"
        elif kind == "libre":
            result = run(*libre(server.url, corpus, tmp_path))
            who = f"deep-translator (libre) at {host(server)}"
        else:
            result = run(*chat(server.url, corpus, tmp_path))
            who = f"openai-chat (m) at {host(server)}"
    assert one_line_error(result) == f"Error: {who}: {WAIT_TOO_LONG}"
    assert len(server.requests) == 1


# -- answers the checks reject -------------------------------------------------------------------
def test_a_translator_that_echoes_the_source_stops_after_the_first_rows(corpus, tmp_path):
    with LibreServer(translate=lambda text: text) as server:
        result = run(*libre(server.url, corpus, tmp_path))
    line = one_line_error(result)
    assert line.startswith(
        f"Error: deep-translator (libre) at {host(server)}: the first 8 rows translated were "
        "all rejected by the checks (untranslated:target_instruction); stopped"
    )
    assert nothing_written(tmp_path)


def test_an_echo_stops_before_the_rest_is_paid_for(tmp_path):
    rows = [
        {
            **row,
            "id": f"{row['id']}-{k}",
            "instruction": f"{row['instruction']} Variant {k}.",
            "output": f"{row['output']} Variant {k}.",
        }
        for k in range(3)
        for row in corpus_rows("en")
    ]
    source = write_jsonl(tmp_path / "en.jsonl", rows)
    with LibreServer(translate=lambda text: text) as server:
        line = one_line_error(run(*libre(server.url, source, tmp_path)))
    assert "the first 8 rows translated were all rejected by the checks" in line
    assert server.requests and not any(
        "Variant 1" in r["q"] or "Variant 2" in r["q"] for r in server.requests
    )


def test_rejected_answers_are_counted_and_asked_again_only_when_told(corpus, tmp_path):
    from .servers import phrase_book, translator

    with LibreServer(translate=lambda text: text) as server:
        assert run(*libre(server.url, corpus, tmp_path)).exit_code == 1
        paid = len(server.requests)
        server.translate = translator(phrase_book())  # the service is fixed
        replay = run(*libre(server.url, corpus, tmp_path))
        assert replay.exit_code == 0, replay.output
        assert len(server.requests) == paid  # nothing asked again unless told
        assert "kept 0, quarantined 8" in replay.output
        assert (
            "8 rows came from cached answers that the checks reject: --retry-rejected asks "
            "the backend for them again" in replay.output
        )
        retried = run(*libre(server.url, corpus, tmp_path, "--retry-rejected"))
        assert retried.exit_code == 0, retried.output
        assert len(server.requests) > paid
    assert "kept 8, quarantined 0" in retried.output
    assert "--retry-rejected asks" not in retried.output


@pytest.mark.parametrize("shape", list(WRONG_SHAPES))
def test_llm_alignment_scorer_answer_of_the_wrong_shape_is_one_line(shape):
    from plugdata.checks.scorers import make_scorer

    body, headers = WRONG_SHAPES[shape]
    with ChatServer() as server:
        server.script.add(200, body, headers=headers, times=100)
        scorer = make_scorer("llm", {"base_url": f"{server.url}/v1", "model": "judge"})
        with pytest.raises(ConfigurationError) as stopped:
            scorer.score([("Hello there, friend.", "Ciao, amico.")] * 3, "en", "it")
    assert str(stopped.value) == (
        f"llm (judge) at {host(server)}: the answer is not a chat completion "
        f"({SHAPE_CAUSES[shape]})"
    )
    assert len(server.requests) == 1


def test_svamp_llm_extractor_judge_that_answers_nothing_stops(tmp_path):
    """The scorer's LLM extractor asks through the judge backend with no verdict to look for:
    an empty answer is still no answer, and a judge that gives only those stops."""
    from trainer.judge.backends import ApiJudge
    from trainer.judge.base import Counters, Request
    from trainer.options import JudgeModelOptions

    with ChatServer(translate=lambda text: "") as server:
        options = JudgeModelOptions(
            judge_model="extractor-1", base_url=f"{server.url}/v1", concurrency=1
        )
        requests = [
            Request(f"e{i}", "extract", [{"role": "user", "content": f"{i}"}], f"k{i}")
            for i in range(12)
        ]
        recorded = []
        with pytest.raises(ConfigurationError) as stopped:
            ApiJudge(options).judge_all(
                requests, lambda *r: recorded.append(r), Counters(), lambda n: None
            )
    assert str(stopped.value) == (
        f"judge (extractor-1) at {host(server)}: the first 5 requests all failed (empty answer)"
    )
    assert len(server.requests) == 5
    assert [answer for _, answer, error in recorded if error is None] == [""] * 4


def test_a_build_stops_on_an_echo_and_retries_rejected_answers_when_told(corpus, tmp_path):
    from .servers import phrase_book, translator

    def build(server, *extra):
        recipe = {
            "name": "echo",
            "source": {"name": "en", "path": corpus.name},
            "targets": {
                "it": {
                    "translate": {
                        "backend": "deep-translator",
                        "provider": "libre",
                        "base_url": server.url,
                        "cache": "cache.sqlite",
                    }
                }
            },
            "card": {"pretty_name": "Echo", "license": "cc-by-4.0"},
        }
        path = tmp_path / "echo.yaml"
        path.write_text(json.dumps(recipe), "utf-8")  # JSON is YAML
        return run("build", path, "--out", tmp_path / "out", "--quiet", *extra)

    with LibreServer(translate=lambda text: text) as server:
        line = one_line_error(build(server))
        assert "the first 8 rows translated were all rejected by the checks" in line
        assert not (tmp_path / "out" / "manifest.json").exists()
        server.translate = translator(phrase_book())
        paid = len(server.requests)
        replay = build(server)
        assert len(server.requests) == paid
        retried = build(server, "--retry-rejected")
    # Every row quarantined: the build keeps nothing, and says where the rows came from.
    assert one_line_error(replay).endswith(
        "; 8 rows came from cached answers the checks reject: --retry-rejected asks the "
        "backend again"
    )
    assert retried.exit_code == 0, retried.output
    assert "--retry-rejected" not in retried.output
