"""Cross-lingual agreement: every target field scored against its pivot field, in `build` and in
`translate`, by the bundled scorer (real weights, on the CPU), an LLM judge behind an
OpenAI-compatible server, round-trip chrF behind a LibreTranslate-API server, and a
sentence-transformers model built in the test; scores cached, and a pivot encoded once."""

import json
from collections import Counter

import numpy as np
import pyarrow.parquet as pq
import pytest

from plugdata.checks.agreement import AlignmentCheck
from plugdata.checks.alignment import AlignmentCache, AlignmentSettings, cached_scores
from plugdata.checks.scorers import SCORERS, UseScorer, make_scorer
from plugdata.checks.validate import ValidationSettings, Validator
from plugdata.dataset.folder import read_manifest
from plugdata.errors import PlugdataError

from .conftest import ITEMS, corpus_rows, invoke, one_line_error, translate_args, write_jsonl
from .servers import ChatServer, LibreServer, phrase_book, translator

EN = [item[0] for item in ITEMS]
IT = [item[4] for item in ITEMS]
ZH = [item[2] for item in ITEMS]


def test_the_bundled_scorer_tells_translations_from_unrelated_texts():
    scorer = UseScorer(UseScorer.Options())
    for target in (ZH, IT):
        true = scorer.score(list(zip(EN, target, strict=True)), "en", "xx")
        shifted = scorer.score(list(zip(EN, target[1:] + target[:1], strict=True)), "en", "xx")
        assert min(true) > 0.5 > max(shifted), (true, shifted)


def test_scorers_are_picked_by_name_with_their_options_checked():
    assert set(SCORERS) == {"use-m3", "sentence-transformers", "llm", "round-trip"}
    with pytest.raises(
        PlugdataError, match=r"options\.modle: unknown key \(did you mean 'model'\?\)"
    ):
        make_scorer("llm", {"modle": "x"})
    with pytest.raises(PlugdataError, match=r"unknown scorer 'labse'"):
        make_scorer("labse", {})


@pytest.mark.parametrize(
    ("validation", "message"),
    [
        ("{alignment: {scorer: use-m4}}", "alignment: unknown scorer 'use-m4'; did you mean"),
        (
            "{alignment: {options: {thread: 2}}}",
            "options.thread: unknown key (did you mean 'threads",
        ),
        ("{alignment: {min_score: {it: high}}}", "validation.alignment.min_score.it: Input"),
        ("{alignment: on}", "validation.alignment: a mapping {scorer, min_score, options}, or off"),
    ],
)
def test_a_wrong_alignment_setting_stops_a_dry_run_in_one_line(tmp_path, tiny, validation, message):
    (tiny.parent / "r.yaml").write_text(tiny.read_text("utf-8") + f"validation: {validation}\n")
    result = invoke("build", tiny.parent / "r.yaml", "--out", tmp_path / "out", "--dry-run")
    assert message in one_line_error(result)


def test_a_recipe_turns_the_check_off_with_a_bare_off(tmp_path, tiny):
    (tiny.parent / "r.yaml").write_text(tiny.read_text("utf-8") + "validation: {alignment: off}\n")
    result = invoke("build", tiny.parent / "r.yaml", "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "agreement:" not in result.output
    triples = pq.read_table(tmp_path / "out" / "tiny" / "data" / "it").to_pylist()
    assert all(t["meta"]["alignment"] == [] for t in triples)
    assert read_manifest(tmp_path / "out" / "tiny").configs["it"].alignment is None


def test_translate_refuses_an_unknown_scorer_before_sending_anything(tmp_path):
    corpus = write_jsonl(tmp_path / "en.jsonl", corpus_rows("en"))
    with LibreServer(translate=translator(phrase_book())) as server:
        options = ["provider=libre", f"base_url={server.url}"]
        args = translate_args(corpus, tmp_path, "deep-translator", options)
        result = invoke(*args, "--alignment", "use-m4")
        assert "unknown scorer 'use-m4'; did you mean 'use-m3'?" in one_line_error(result)
        assert server.requests == []
    assert not list(tmp_path.glob("it*.jsonl"))


def test_cache_keys_hold_what_changes_a_score_and_nothing_else(tmp_path):
    def fingerprint(name, **options):
        return make_scorer(name, options).fingerprint

    assert fingerprint("use-m3", threads=2) == fingerprint("use-m3")
    assert fingerprint("use-m3", max_chars=500) != fingerprint("use-m3")
    assert fingerprint("llm", base_url="http://a/v1") == fingerprint("llm", concurrency=2)
    assert fingerprint("llm", model="judge-2") != fingerprint("llm")
    cache = AlignmentCache(tmp_path / "a.sqlite")
    pairs = list(zip(EN[:3], IT[:3], strict=True))
    first = cached_scores(make_scorer("use-m3", {}, cache=cache), cache, pairs, "en", "it")
    assert all(s is not None for s in first)
    other = make_scorer("use-m3", {"threads": 2}, cache=cache)
    other.score = None  # any call to score now fails: every score must come from the cache
    assert cached_scores(other, cache, pairs, "en", "it") == first


def test_both_sides_of_a_pair_are_cut_at_the_same_place_in_their_content():
    scorer = UseScorer(UseScorer.Options(max_chars=100))
    long_en, long_zh = " ".join([EN[0]] * 20), "".join([ZH[0]] * 20)
    assert len(long_en) > 100 and len(long_zh) > 32
    same = np.array_equal
    assert same(scorer.embed([long_en], "en"), scorer.embed([long_en[:100]], "en"))
    assert same(scorer.embed([long_zh], "zh"), scorer.embed([long_zh[:32]], "zh"))  # 100 x 0.32
    assert not same(scorer.embed([long_zh], "en"), scorer.embed([long_zh], "zh"))


def test_thresholds_come_from_the_settings_then_the_scorer(tmp_path):
    scorer = UseScorer(UseScorer.Options())
    assert AlignmentSettings().threshold("ko", scorer) == 0.35
    assert AlignmentSettings().threshold("it", scorer) == 0.5
    assert AlignmentSettings(min_score={"default": 0.6}).threshold("ko", scorer) == 0.6
    assert AlignmentSettings(min_score={"it": 0.7}).threshold("it", scorer) == 0.7
    # What the manifest records is what the checks use: a default given overrides the scorer's
    # own per-language scores.
    check = AlignmentCheck(AlignmentSettings(min_score={"default": 0.6, "it": 0.7}), bool)
    assert check.describe()["min_score"] == {"default": 0.6, "it": 0.7}
    assert AlignmentCheck(AlignmentSettings(), bool).thresholds() == {"default": 0.5, "ko": 0.35}


def triple(pivot_i, pivot_r, target_i, target_r, lang="it"):
    return {
        "id": "t",
        "pivot_lang": "en",
        "target_lang": lang,
        "pivot_instruction": pivot_i,
        "pivot_response": pivot_r,
        "target_instruction": target_i,
        "target_response": target_r,
    }


def test_an_answer_in_place_of_a_translation_is_misaligned(tmp_path):
    """The Italian "instruction" answers the question instead of translating it."""
    validator = Validator(alignment_cache=tmp_path / "a.sqlite")
    en_i, en_r, _, _, it_i, it_r = ITEMS[4]
    good = triple(en_i, en_r, it_i, it_r)
    answered = triple(en_i, en_r, it_r.split(".")[0] + ".", it_r)
    verdicts = validator.check_batch([good, answered])
    assert verdicts[0].reasons == [] and [r.field for r in verdicts[0].alignment] == [
        "target_instruction",
        "target_response",
    ]
    assert verdicts[1].reasons == ["misaligned:target_instruction"]
    assert all(0 < r.score <= 1 for v in verdicts for r in v.alignment)


def test_short_fields_are_not_scored_but_flagged(tmp_path):
    validator = Validator(alignment_cache=tmp_path / "a.sqlite")
    en_i, _, _, _, it_i, _ = ITEMS[5]  # "Yes." / "Sì."
    (verdict,) = validator.check_batch([triple(en_i, "Yes.", it_i, "Sì.")])
    assert verdict.reasons == [] and "alignment-short:target_response" in verdict.flags
    assert [r.field for r in verdict.alignment] == ["target_instruction"]


def test_off_scores_nothing(tmp_path):
    validator = Validator(ValidationSettings(alignment="off"))
    (verdict,) = validator.check_batch([triple(EN[0], ITEMS[0][1], IT[3], ITEMS[3][5])])
    assert verdict.alignment == [] and verdict.reasons == []


def unrelated_corpus(folder):
    """The eight test items with their Italian side shifted by one row: unrelated pairs."""
    en, it = corpus_rows("en"), corpus_rows("it")
    shifted = [{**row, "id": en_row["id"]} for en_row, row in zip(en, it[1:] + it[:1], strict=True)]
    write_jsonl(folder / "en.jsonl", en)
    write_jsonl(folder / "it.jsonl", shifted)
    recipe = folder / "shifted.yaml"
    recipe.write_text(
        "name: shifted\nsource: {name: s, path: en.jsonl}\n"
        "targets: {it: {align: {path: it.jsonl, join: id}}}\n"
        "card: {pretty_name: Shifted, license: cc-by-4.0}\n",
        "utf-8",
    )
    return recipe


def test_a_build_of_unrelated_pairs_keeps_none_and_records_the_scores(tmp_path):
    recipe = unrelated_corpus(tmp_path)
    result = invoke("build", recipe, "--out", tmp_path / "out", "--quiet")
    assert "it: no row kept of 8 (misaligned:target_instruction" in one_line_error(result)
    rejected = pq.read_table(tmp_path / "out" / "shifted.rejected" / "it.parquet").to_pylist()
    assert len(rejected) == 8
    # Two have responses of lengths out of proportion: refused before they are scored.
    scored = [r for r in rejected if not r["reason"].startswith("length-ratio")]
    assert len(scored) == 6
    assert all(r["reason"] == "misaligned:target_instruction" for r in scored)
    assert all(r["meta"]["alignment"][0]["score"] < 0.5 for r in scored)


def test_the_manifest_and_card_record_the_scorer_thresholds_and_distribution(tmp_path, tiny):
    result = invoke("build", tiny, "--out", tmp_path / "out", "--quiet")
    assert result.exit_code == 0, result.output
    root = tmp_path / "out" / "tiny"
    entry = read_manifest(root).configs["it"].alignment
    assert entry["scorer"].startswith("use-m3:universal-sentence-encoder-multilingual-3@")
    assert entry["min_score"] == {"default": 0.5, "ko": 0.35}
    stats = entry["fields"]["target_instruction"]
    assert stats["scored"] == 8 and stats["misaligned"] == 0
    assert 0.5 < stats["quantiles"]["p01"] <= stats["quantiles"]["p50"] <= 1
    triples = pq.read_table(root / "data" / "it").to_pylist()
    assert all(t["meta"]["alignment"] for t in triples)
    card = (root / "README.md").read_text("utf-8")
    assert "## Cross-lingual agreement" in card and "| it | target_instruction | 8 | 0 |" in card
    languages = [c for c in read_manifest(root).configs.values() if c.type != "method"]
    total = sum(f["scored"] for c in languages for f in c.alignment["fields"].values())
    summary = invoke("build", tiny, "--out", tmp_path / "out").output
    assert (
        f"agreement: use-m3 (least score default 0.5, ko 0.35): {total} pairs scored, 0 " in summary
    )
    assert "least score (default 0.5, ko 0.35)" in card


def test_a_rebuild_scores_nothing_again_and_a_pivot_is_encoded_once(tmp_path, tiny, monkeypatch):
    encoded: Counter = Counter()
    embed = UseScorer.embed

    def counting(self, texts, lang):
        encoded.update(texts)
        return embed(self, texts, lang)

    monkeypatch.setattr(UseScorer, "embed", counting)
    assert invoke("build", tiny, "--out", tmp_path / "a", "--quiet").exit_code == 0
    pivots = [r["instruction"] for r in corpus_rows("en")]
    assert all(encoded[p] == 1 for p in pivots), encoded  # for both zh and it: once
    assert encoded[ZH[0]] == 1 and encoded[IT[0]] == 1
    encoded.clear()
    assert invoke("build", tiny, "--out", tmp_path / "b", "--quiet").exit_code == 0
    assert encoded == Counter()  # every score from the cache


def test_translate_scores_its_rows_and_can_turn_it_off(tmp_path, monkeypatch):
    """A translator that answers one instruction instead of translating it: misaligned; with
    `--alignment off` the row is kept, and a strict `--min-score` refuses more."""
    monkeypatch.setenv("LIBRE_API_KEY", "libre-test-key")
    book = translator(phrase_book())
    answer = ITEMS[4][5].split(".")[0] + "."

    def answering(text: str) -> str:
        return answer if text == ITEMS[4][0] else book(text)

    corpus = write_jsonl(tmp_path / "en.jsonl", corpus_rows("en"))
    outputs = {}
    with LibreServer(translate=answering) as server:
        options = ["provider=libre", f"base_url={server.url}"]
        for name, extra in (
            ("on", []),
            ("off", ["--alignment", "off"]),
            ("strict", ["--min-score", "0.99"]),
        ):
            folder = tmp_path / name
            result = invoke(*translate_args(corpus, folder, "deep-translator", options), *extra)
            assert result.exit_code == 0, result.output
            outputs[name] = [
                (q["id"], q["reason"])
                for q in map(
                    json.loads, (folder / "it.quarantine.jsonl").read_text("utf-8").splitlines()
                )
            ]
    assert outputs["on"] == [("en/t004", "misaligned:target_instruction")]
    assert outputs["off"] == []
    assert len(outputs["strict"]) > 1


# -- the LLM judge -------------------------------------------------------------------------------
def mqm(prompt: str) -> str:
    """A judge that finds a critical error in a translation holding "PASTA"."""
    return "critical | addition | PASTA" if "PASTA" in prompt else "no errors"


def test_the_llm_scorer_asks_once_per_pair_and_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key")
    with ChatServer(translate=mqm) as server:
        settings = AlignmentSettings(
            scorer="llm", options={"base_url": f"{server.url}/v1", "model": "judge"}
        )
        validator = Validator(
            ValidationSettings(alignment=settings), alignment_cache=tmp_path / "a.sqlite"
        )
        assert not validator.parallel  # a remote service: one process, one budget
        batch = [
            triple(EN[4], ITEMS[4][1], IT[4], ITEMS[4][5]),
            triple(EN[6], ITEMS[6][1], IT[6] + " Con la PASTA.", ITEMS[6][5]),
        ]
        first = validator.check_batch(batch)
        asked = len(server.requests)
        again = validator.check_batch(batch)
        assert len(server.requests) == asked == 4  # two fields of two rows, then none
        assert server.listings == 1  # the setup checked once, before anything was scored
    assert [v.reasons for v in first] == [[], ["misaligned:target_instruction"]]
    assert [r.score for r in first[0].alignment] == [1.0, 1.0]
    assert again[0].alignment == first[0].alignment
    prompt = server.requests[0]["messages"][-1]["content"]
    assert EN[4] in prompt and IT[4] in prompt and "severity | category | span" in prompt


def test_the_llm_scorer_keeps_its_cost_cap_and_stops_on_a_broken_server(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key")
    with ChatServer(translate=mqm) as server:
        capped = make_scorer(
            "llm",
            {
                "base_url": f"{server.url}/v1",
                "model": "judge",
                "max_cost": 0.0,
                "price_per_million_input_tokens": 1.0,
                "price_per_million_output_tokens": 1.0,
            },
        )
        with pytest.raises(PlugdataError, match="--max-cost 0 USD reached"):
            capped.score([(EN[0], IT[0])], "en", "it")
        assert server.requests == []
        server.script.add(500, {"error": {"message": "down"}}, times=100)
        broken = make_scorer(
            "llm", {"base_url": f"{server.url}/v1", "model": "judge", "max_retries": 0}
        )
        with pytest.raises(PlugdataError, match=r"llm \(judge\) at 127.0.0.1"):
            broken.score(list(zip(EN[:6], IT[:6], strict=True)), "en", "it")


def test_a_missing_scorer_key_stops_a_run_before_anything_is_translated(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    corpus = write_jsonl(tmp_path / "en.jsonl", corpus_rows("en"))
    with LibreServer(translate=translator(phrase_book())) as server:
        options = ["provider=libre", f"base_url={server.url}"]
        args = translate_args(corpus, tmp_path, "deep-translator", options)
        result = invoke(*args, "--alignment", "llm")  # api.openai.com: a key is needed
        assert "OPENAI_API_KEY" in one_line_error(result)
        dead = ["--alignment-option", "base_url=http://127.0.0.1:9/v1"]  # nothing listens
        result = invoke(*args, "--alignment", "llm", *dead)
        assert "at 127.0.0.1:9: connection refused" in one_line_error(result)
        assert server.requests == []


# -- round trip and sentence-transformers --------------------------------------------------------
def test_round_trip_chrf_scores_a_faithful_pair_above_an_unrelated_one(tmp_path, monkeypatch):
    monkeypatch.setenv("LIBRE_API_KEY", "libre-test-key")
    back = {it: en for en, it in phrase_book().items()}
    with LibreServer(translate=translator(back)) as server:
        scorer = make_scorer(
            "round-trip",
            {
                "backend": "deep-translator",
                "cache": str(tmp_path / "c.sqlite"),
                "backend_options": {"provider": "libre", "base_url": server.url},
            },
        )
        faithful, unrelated = scorer.score([(EN[6], IT[6]), (EN[6], IT[7])], "en", "it")
        scorer.close()
    assert faithful == 1.0 and unrelated < 0.35


def test_a_sentence_transformers_model_scores_through_the_same_protocol(tmp_path):
    """A tiny random BERT with mean pooling, built and saved here: the scorer runs it as it
    would LaBSE; random weights say nothing of meaning, so only the form is checked."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer import modules as models
    from tokenizers import Tokenizer, pre_tokenizers, trainers
    from tokenizers import models as tok_models
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    folder = tmp_path / "tiny-st"
    tokenizer = Tokenizer(tok_models.WordLevel(unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
    tokenizer.train_from_iterator(EN + IT, trainers.WordLevelTrainer(special_tokens=special))
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
    )
    config = BertConfig(
        vocab_size=tokenizer.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
    )
    BertModel(config).save_pretrained(folder / "bert")
    fast.save_pretrained(folder / "bert")
    word = models.Transformer(str(folder / "bert"))
    SentenceTransformer(modules=[word, models.Pooling(32)]).save(str(folder / "st"))
    scorer = make_scorer("sentence-transformers", {"model": str(folder / "st"), "device": "cpu"})
    scorer.cache = AlignmentCache(tmp_path / "a.sqlite")
    scores = scorer.score([(EN[0], IT[0]), (EN[1], IT[1])], "en", "it")
    assert len(scores) == 2 and all(-1.0001 <= s <= 1.0001 for s in scores)
    assert scorer.label == f"sentence-transformers:{folder / 'st'}"


# -- plugdata qe ---------------------------------------------------------------------------------
def test_qe_scores_a_file_of_pairs_with_a_summary_a_report_and_a_histogram(tmp_path):
    rows = [{"en": en, "it": it} for en, it in zip(EN, IT, strict=True)]
    rows.append({"en": EN[0], "it": IT[3]})  # unrelated
    rows.append({"en": "Yes.", "it": "Sì."})  # too short to judge
    pairs = write_jsonl(tmp_path / "pairs.jsonl", rows)
    report, picture = tmp_path / "r.jsonl", tmp_path / "h.svg"
    fields = ("--pivot-field", "en", "--target-field", "it", "--target-lang", "it")
    result = invoke("qe", pairs, *fields, "--report", report, "--histogram", picture)
    assert result.exit_code == 0, result.output
    assert "10 pairs" in result.output and "scored 9, too short to judge 1" in result.output
    assert "below 0.5: 1 of 9" in result.output
    lines = [json.loads(x) for x in report.read_text("utf-8").splitlines()]
    assert [x["pass"] for x in lines] == [True] * 8 + [False]
    svg = picture.read_text("utf-8")
    assert svg.startswith("<svg") and svg.count("<rect") == 40 and "min 0.5" in svg
    same = invoke("qe", pairs, *fields, "--histogram", pairs)
    assert "used as both the input and --histogram" in one_line_error(same)
