"""`plugdata generate --method translate-test`: questions machine-translated into English through a
LibreTranslate-API server on 127.0.0.1 (deep-translator is the real client), answered by a tiny
Llama, answers translated back through the same server."""

import json

import pytest

from plugdata.translate import protect

from .conftest import generate, one_line_error
from .servers import LibreServer

ROWS = 4  # questions answered per run
ARGS = ["--split", "train", "--max-new-tokens", 12, "--batch-size", 4, "--quiet"]
BACK = "译"  # what the server puts before each line it translates into Chinese


@pytest.fixture(scope="module")
def demo_rows(demo):
    import datasets

    return datasets.load_dataset(str(demo), "zh", split="train").to_list()


@pytest.fixture(scope="module")
def server(demo_rows):
    """Chinese questions -> their English from the demo build, segment by segment (the units
    the engine sends); anything else (the model's English answers) -> Chinese, marked."""
    book = {}
    for row in demo_rows:
        zh = protect.parse(row["target_instruction"]).segments
        en = protect.parse(row["pivot_instruction"]).segments
        book.update({a.text: b.text for a, b in zip(zh, en, strict=True)})

    def translate(text: str) -> str:
        return "\n".join(book.get(line) or f"{BACK}{line}" for line in text.split("\n"))

    with LibreServer(translate=translate) as running:
        yield running


@pytest.fixture(autouse=True)
def fresh(server):
    server.requests.clear()
    server.script.items.clear()


def run(model, demo, out, url, *extra, limit=ROWS, cache=None):
    options = ["--option", "provider=libre", "--option", f"base_url={url}"]
    cache = cache or out.parent / "cache.sqlite"
    return generate(
        model,
        demo,
        out,
        "--translator",
        "deep-translator",
        *options,
        "--cache",
        cache,
        "--limit",
        limit,
        *ARGS,
        *extra,
        method="translate-test",
    )


def read(path):
    return [json.loads(x) for x in path.read_text("utf-8").splitlines()]


def directions(server) -> set[tuple[str, str]]:
    return {(r["source"], r["target"]) for r in server.requests}


def test_both_directions_every_field_and_a_rerun_from_the_cache(
    server, demo, demo_rows, tiny_llama, tmp_path
):
    out = tmp_path / "a.jsonl"
    result = run(tiny_llama, demo, out, server.url)
    assert result.exit_code == 0, result.output
    assert f"generated {ROWS} answers" in result.output
    assert "translated with deep-translator:libre" in result.output
    lines = read(out)
    questions = {r["id"]: r for r in demo_rows}
    assert [x["id"] for x in lines] == [r["id"] for r in demo_rows[:ROWS]]
    for x in lines:
        q = questions[x["id"]]
        assert x["instruction"] == q["target_instruction"]
        assert x["pivot_instruction"] == q["pivot_instruction"]  # the server's English
        assert x["raw_output"] == x["pivot_output"]
        assert x["method"] == "translate-test" and x["lang"] == "zh"
        assert x["generator"] == tiny_llama.name and x["translator"] == "deep-translator:libre"
        if x["pivot_output"].strip():
            assert x["extraction"] == "ok", x
            assert BACK in x["output"] and x["output"] != x["pivot_output"]
        else:
            assert (x["extraction"], x["output"]) == ("empty", "")
        assert "translation_failed" not in x
    assert any(x["extraction"] == "ok" for x in lines)
    # Chinese to English for the questions, then English to Chinese for the answers.
    asked = [r for r in server.requests if r["target"].startswith("en")]
    answered = [r for r in server.requests if r["source"].startswith("en")]
    assert len(directions(server)) == 2 and asked and answered
    assert server.requests.index(answered[0]) > server.requests.index(asked[-1])
    assert all(r["q"] in "\n".join(x["instruction"] for x in lines) for r in asked)
    assert all(
        any(part in x["pivot_output"] for x in lines for part in r["q"].split("\n"))
        for r in answered
    )
    sent = len(server.requests)
    again = run(tiny_llama, demo, tmp_path / "b.jsonl", server.url)
    assert again.exit_code == 0, again.output
    assert len(server.requests) == sent, "a cached segment was sent again"
    assert "deep-translator:libre: 0 requests" in again.output
    assert read(tmp_path / "b.jsonl") == lines


def test_a_question_the_server_fails_on_is_marked_and_kept_and_runs_resume(
    server, demo, demo_rows, tiny_llama, tmp_path
):
    bad = demo_rows[1]
    server.script.add(400, {"error": "cannot"}, when=bad["target_instruction"][:6], times=20)
    out = tmp_path / "a.jsonl"
    result = run(tiny_llama, demo, out, server.url, limit=2)
    assert result.exit_code == 0, result.output
    assert "translate-failed 1" in result.output
    first = read(out)
    assert [x["id"] for x in first] == [r["id"] for r in demo_rows[:2]]
    failed = first[1]
    assert failed["extraction"] == "translate-failed" and failed["translation_failed"] == "question"
    assert failed["output"] == failed["pivot_output"] == failed["pivot_instruction"] == ""
    assert "HTTP 400" in failed["translation_error"]
    assert first[0]["pivot_instruction"] == demo_rows[0]["pivot_instruction"]
    # Resuming: only the two questions not in the file yet are asked and answered.
    server.requests.clear()
    result = run(tiny_llama, demo, out, server.url, limit=ROWS)
    assert result.exit_code == 0, result.output
    assert "generated 2 answers" in result.output and "(2 already in" in result.output
    lines = read(out)
    assert [x["id"] for x in lines] == [r["id"] for r in demo_rows[:ROWS]]
    assert lines[:2] == first
    asked = "\n".join(r["q"] for r in server.requests if r["target"].startswith("en"))
    for row in demo_rows[:2]:
        assert row["target_instruction"][:6] not in asked
    for row in demo_rows[2:ROWS]:
        assert row["target_instruction"][:6] in asked


def test_misconfigured_translation_stops_before_the_model_is_loaded(
    server, demo, tiny_llama, tmp_path
):
    """An empty folder as the model: a run that got as far as loading it would fail on that."""
    empty = tmp_path / "not-a-model"
    empty.mkdir()
    out = tmp_path / "a.jsonl"
    nowhere = run(empty, demo, out, "http://127.0.0.1:9")
    assert "connection refused" in one_line_error(nowhere)
    unknown = generate(empty, demo, out, "--translator", "babel", method="translate-test")
    assert "unknown backend 'babel'" in one_line_error(unknown)
    bad_option = run(empty, demo, out, server.url, "--option", "colour=blue")
    assert "option 'colour'" in one_line_error(bad_option)
    not_a_pair = run(empty, demo, out, server.url, "--option", "provider")
    assert "use KEY=VALUE" in one_line_error(not_a_pair)
    assert server.requests == [] and not out.exists()
    # The translation flags belong to translate-test, and it needs a backend.
    missing = generate(tiny_llama, demo, out, method="translate-test")
    assert "--translator: required with --method" in one_line_error(missing)
    elsewhere = generate(tiny_llama, demo, out, "--translator", "deep-translator", method="mono")
    assert "only with --method translate-test" in one_line_error(elsewhere)
    assert not out.exists()


def test_the_public_api_translates_one_field_with_a_joint_mode_backend(monkeypatch, tmp_path):
    """A chat backend in joint mode pairs instruction and response; texts of one kind alone go
    field by field instead, through the same engine and cache."""
    from plugdata.translate import TextTranslator

    from .conftest import ITEMS
    from .servers import ChatServer

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key-never-printed")
    english = [item[0] for item in ITEMS[:3]]
    options = {"model": "test-model", "mode": "joint"}
    with (
        ChatServer() as chat,
        TextTranslator(
            "openai-chat",
            {**options, "base_url": f"{chat.url}/v1"},
            cache_path=tmp_path / "c.sqlite",
        ) as translator,
    ):
        got = translator.translate(english, "en", "it", kind="instruction", progress=False)
        assert [t.text for t in got] == [item[4] for item in ITEMS[:3]]
        assert translator.label == "openai-chat:test-model" and translator.requests == 3
        again = translator.translate(english, "en", "it", progress=False)
    assert again == got and translator.requests == 3  # the second time from the cache
