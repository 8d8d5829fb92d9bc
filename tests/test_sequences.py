"""How sequences start and end (`trainer.sequences`): one BOS at the head of every training row,
transformers prompt and vLLM prompt where the tokenizer adds one (as the paper's
`tokenizer(text)`), never two, none where it adds none; the generation budget; answers cut at
the budget decoded without half a character. The tokenizers are built here: a Llama-style one
(byte fallback, `<s>` added before every text), the same with a chat template that writes its
own BOS, and a Qwen2-style one (no BOS at all), over one character-level vocabulary, so that
one tiny Llama serves all three."""

from __future__ import annotations

import json
import shutil

import pytest

from .conftest import generate, invoke

BYTES = [f"<0x{b:02X}>" for b in range(256)]
# The fallback template's markers and the demo's English, character by character; Chinese
# characters are not in the vocabulary, so they are spelt in byte-fallback tokens.
CHARS = sorted(
    set(" \n!\"#$%&'()*+,-./0123456789:;<=>?@[\\]^_`{|}~")
    | set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
)
OWN_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}{{ '<|' + message['role'] + '|>\n' }}"
    "{% if message['role'] == 'assistant' %}{% generation %}{{ message['content'] + eos_token }}"
    "{% endgeneration %}{% else %}{{ message['content'] }}{% endif %}{{ '\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)
KINDS = ("llama", "own-template", "no-bos")


def _tokenizer(kind: str):
    from tokenizers import Tokenizer, decoders, models, normalizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(["<unk>", "<s>", "</s>", *BYTES, "▁", *CHARS])}
    bpe = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>", byte_fallback=True))
    bpe.add_special_tokens(["<unk>", "<s>", "</s>"])
    # Llama-2's tokenizer.json: "▁" for spaces and before the text, bytes for unknown characters.
    bpe.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    bpe.decoder = decoders.Sequence(
        [
            decoders.Replace("▁", " "),
            decoders.ByteFallback(),
            decoders.Fuse(),
            decoders.Strip(" ", 1, 0),
        ]
    )
    special = {"eos_token": "</s>", "unk_token": "<unk>"}
    if kind != "no-bos":
        bpe.post_processor = processors.TemplateProcessing(
            single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", 1)]
        )
        special["bos_token"] = "<s>"
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, model_max_length=4096, **special)
    if kind == "own-template":
        tokenizer.chat_template = OWN_TEMPLATE
    return tokenizer


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, object]:
    """A folder per kind of tokenizer, each with the same tiny Llama."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(_tokenizer("llama")),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        bos_token_id=1,
        eos_token_id=2,
    )
    root = tmp_path_factory.mktemp("sequences")
    first = root / KINDS[0]
    LlamaForCausalLM(config).save_pretrained(first)
    folders = {}
    for kind in KINDS:
        folder = root / kind
        if kind != KINDS[0]:
            shutil.copytree(first, folder)
        _tokenizer(kind).save_pretrained(folder)
        folders[kind] = folder
    return folders


def _paper_ids(tokenizer, rendered: str) -> list[int]:
    """The paper's tokenization of a rendered row: `tokenizer(text)`, special tokens added."""
    from trainer.sequences import special_prefix

    start = tokenizer.decode(special_prefix(tokenizer))
    return tokenizer(rendered.removeprefix(start))["input_ids"]


@pytest.mark.parametrize("kind", KINDS)
def test_training_generation_and_vllm_start_as_the_paper_with_one_bos_at_most(
    kind, models, demo, tmp_path
):
    import datasets

    from trainer.answers import encode_prompts, prompt_texts, vllm_requests
    from trainer.common import load_tokenizer
    from trainer.options import GenerateOptions, TrainOptions
    from trainer.sequences import Budget
    from trainer.train import build_trainer

    bos_count = 0 if kind == "no-bos" else 1
    options = TrainOptions(
        dataset=str(demo),
        config="zh-plug",
        model=str(models[kind]),
        output_dir=tmp_path,
        preset="quick",
        max_steps=1,
        evaluate=False,
    )
    setup = build_trainer(options)
    tokenizer, raw = setup.tokenizer, setup.train_data
    batch = setup.trainer.data_collator([setup.trainer.train_dataset[i] for i in range(4)])
    for i, (ids, mask) in enumerate(zip(batch["input_ids"], batch["attention_mask"], strict=True)):
        ids = ids[mask.bool()].tolist()
        assert ids.count(1) == bos_count and (ids[0] == 1) == bool(bos_count), ids[:4]
        rendered = tokenizer.apply_chat_template(
            raw[i]["prompt"] + raw[i]["completion"], tokenize=False
        )
        # Both cut at the same length (--max-length in training, max_seq_length in the paper).
        assert ids == _paper_ids(tokenizer, rendered)[: setup.hyperparameters["max_length"]]

    generating, _ = load_tokenizer(str(models[kind]), for_training=False)
    rows = datasets.load_dataset(str(demo), "zh", split="train").select(range(3))
    budget = Budget()
    texts = prompt_texts(generating, "plug", list(rows))
    prompts = encode_prompts(generating, texts, budget)
    answer = GenerateOptions(
        model="m", dataset="d", config="zh", method="plug", out=tmp_path / "a.jsonl"
    )
    requests, params = vllm_requests(answer, prompts, budget)
    for text, prompt, request, param in zip(texts, prompts, requests, params, strict=True):
        for ids in (prompt.ids, request["prompt_token_ids"]):
            assert ids.count(1) == bos_count and (ids[0] == 1) == bool(bos_count), ids[:4]
        assert prompt.ids == _paper_ids(generating, text) and not prompt.cut
        assert param["max_tokens"] == 4096 - len(prompt.ids) and param["detokenize"] is False
        assert param["temperature"] == 0.0 and param["top_p"] == 1.0


def test_bos_is_written_into_the_template_once_and_only_where_the_tokenizer_adds_one(
    models, tmp_path
):
    from trainer.common import TULU_TEMPLATE, load_tokenizer

    own, _ = load_tokenizer(str(models["own-template"]))
    assert own.chat_template == OWN_TEMPLATE
    added, _ = load_tokenizer(str(models["llama"]))
    assert added.chat_template == "{{ bos_token }}" + TULU_TEMPLATE
    added.save_pretrained(tmp_path)  # as training saves it beside the model
    assert load_tokenizer(str(tmp_path))[0].chat_template == added.chat_template
    none, _ = load_tokenizer(str(models["no-bos"]))
    assert none.chat_template == TULU_TEMPLATE


@pytest.mark.parametrize("kind", ["llama", "byte-level"])
def test_a_cut_inside_a_character_never_leaves_half_of_it(kind, tiny_llama):
    """Characters outside the vocabulary are three byte tokens each, in the Llama-style
    vocabulary here (byte fallback) as in the tiny Llama's byte-level BPE (GPT-2's way): every
    cut decodes to a prefix of the text, never to U+FFFD."""
    from transformers import AutoTokenizer

    from trainer.sequences import REPLACEMENT, decode_answer

    tokenizer = (
        _tokenizer("llama") if kind == "llama" else AutoTokenizer.from_pretrained(tiny_llama)
    )
    text = "Yes: 龘靐"  # characters no test corpus holds: spelt in bytes by both tokenizers
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    halves = 0
    for cut in range(len(ids) + 1):
        plain = tokenizer.decode(ids[:cut], skip_special_tokens=True)
        halves += plain.endswith(REPLACEMENT)
        decoded = decode_answer(tokenizer, ids[:cut])
        assert REPLACEMENT not in decoded and text.startswith(decoded), (cut, decoded)
    assert decode_answer(tokenizer, ids) == text
    assert halves >= 2  # the cuts did fall inside characters


def test_generate_counts_the_answers_the_budget_cut_and_records_each(models, demo, tmp_path):
    answers = tmp_path / "a.jsonl"
    budget = ["--max-length", 48, "--max-prompt-length", 40, "--limit", 3, "--quiet"]
    result = generate(models["llama"], demo, answers, *budget)
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in answers.read_text().splitlines()]
    assert len(lines) == 3
    for line in lines:
        assert line["prompt_cut"] is True and line["prompt_tokens"] == 40
        assert 1 <= line["answer_tokens"] <= 8 and line["finish"] in ("stop", "length")
        assert line["finish"] == "stop" or line["answer_tokens"] == 8
        assert not line["raw_output"].endswith("\ufffd")
    cut = sum(line["finish"] == "length" for line in lines)
    assert (
        f"budget (48 tokens of prompt and answer, prompts cut at 40): {cut} of 3 plug answers "
        "cut at the budget, 3 prompts cut"
    ) in result.output


def test_a_prompt_length_that_leaves_no_room_is_a_one_line_error(demo, tmp_path):
    from .conftest import one_line_error

    args = ["--model", tmp_path, "--dataset", demo, "--config", "zh", "--method", "plug"]
    result = invoke("generate", *args, "--out", tmp_path / "a.jsonl", "--max-prompt-length", 4096)
    assert one_line_error(result) == (
        "Error: --max-prompt-length 4096: must be below --max-length (4096), to leave room for "
        "an answer"
    )
