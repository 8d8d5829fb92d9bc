"""How a sequence starts and ends, the same in training and in every way of decoding.

It starts as the PLUG paper's `tokenizer(text)` started it: with the special tokens the tokenizer
puts before a text (Llama's `<s>`; nothing for Qwen2 or SmolLM2), written at the head of the chat
template, because TRL and the generation prompt tokenize a rendered template without adding any.
A prompt keeps its first `max_prompt_length` tokens, and prompt and answer together fit the
generation budget (the paper: 3,072 and 4,096 tokens). An answer the budget cut is decoded
without the half of a character that byte-fallback or byte-level tokens leave at a cut.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

# What a tokenizer's lossy decoding writes for bytes that are not (yet) a whole character.
REPLACEMENT = "\ufffd"


def special_prefix(tokenizer) -> list[int]:
    """The ids the tokenizer writes before a text it encodes with its special tokens: `[bos]`
    for a Llama tokenizer, `[]` for Qwen2's or a GPT-2-style one."""
    special = set(tokenizer.all_special_ids)
    prefix = []
    for token in tokenizer("a")["input_ids"]:
        if token not in special:
            break
        prefix.append(token)
    return prefix


def start_like_the_tokenizer(tokenizer) -> None:
    """Put `special_prefix` at the head of the chat template, unless the template writes it
    already (Llama-2-chat's and Mistral's do): one BOS where the tokenizer adds one, never two."""
    template = tokenizer.chat_template
    prefix = special_prefix(tokenizer)
    if not prefix or not isinstance(template, str):
        return
    text = tokenizer.decode(prefix)
    probe = [{"role": "user", "content": "a"}]
    rendered = tokenizer.apply_chat_template(probe, tokenize=False, add_generation_prompt=True)
    if rendered.startswith(text):
        return
    # `bos_token` keeps the saved template readable; other prefixes go in as a literal.
    head = (
        "{{ bos_token }}" if prefix == [tokenizer.bos_token_id] else f"{{{{ {json.dumps(text)} }}}}"
    )
    tokenizer.chat_template = head + template


@dataclass(frozen=True)
class Budget:
    """The tokens one generation may use: prompt and answer together at most `max_length`, the
    prompt cut to its first `max_prompt_length` tokens, the answer optionally capped on its own.

    >>> budget = Budget(max_length=4096, max_prompt_length=3072)
    >>> budget.allowance(100), budget.allowance(3072), Budget(4096, 3072, 512).allowance(100)
    (3996, 1024, 512)
    """

    max_length: int = 4096
    max_prompt_length: int = 3072
    max_new_tokens: int | None = None

    def cut(self, ids: list[int]) -> tuple[list[int], bool]:
        """The prompt's first `max_prompt_length` ids (the paper cut the end off, as a tokenizer
        truncating on the right does), and whether anything was cut."""
        return ids[: self.max_prompt_length], len(ids) > self.max_prompt_length

    def allowance(self, prompt_length: int) -> int:
        """The most new tokens an answer to a prompt of this length may have."""
        room = self.max_length - prompt_length
        return room if self.max_new_tokens is None else min(room, self.max_new_tokens)

    def describe(self) -> str:
        cap = f", answers at most {self.max_new_tokens:,}" if self.max_new_tokens else ""
        return (
            f"{self.max_length:,} tokens of prompt and answer, prompts cut at "
            f"{self.max_prompt_length:,}{cap}"
        )


@dataclass(frozen=True)
class Prompt:
    ids: list[int]
    cut: bool  # longer than the budget's prompt length: its end is missing


def encode_prompts(tokenizer, texts: list[str], budget: Budget) -> list[Prompt]:
    """The ids of rendered chat-template prompts, as training tokenizes them (the template
    holds the special prefix, so none is added), each cut to the budget."""
    encoded = tokenizer(texts, add_special_tokens=False)["input_ids"]
    return [Prompt(*budget.cut(list(ids))) for ids in encoded]


def decode_answer(tokenizer, ids: list[int]) -> str:
    """The answer's text without special tokens and without an unfinished character at its end.

    A budget can stop an answer inside a character that takes several byte tokens (byte
    fallback in Llama's tokenizer, byte-level BPE in GPT-2's); decoding them writes U+FFFD for
    the bytes of the unfinished character, which are dropped. Complete characters before them
    decode as they are.
    """
    return tokenizer.decode(ids, skip_special_tokens=True).rstrip(REPLACEMENT)


def until_stop(ids: list[int], stop: set[int], allowance: int) -> tuple[list[int], str]:
    """A generated row up to its first stop token (kept) within `allowance` tokens, and how it
    ended: `stop` (the model ended it) or `length` (the budget did).

    >>> until_stop([5, 6, 2, 0, 0], {2}, 4), until_stop([5, 6, 7, 8], {2}, 3)
    (([5, 6, 2], 'stop'), ([5, 6, 7], 'length'))
    """
    for i, token in enumerate(ids[:allowance]):
        if token in stop:
            return ids[: i + 1], "stop"
    kept = ids[:allowance]
    return kept, "length" if len(kept) >= allowance else "stop"


def stop_ids(tokenizer, model) -> set[int]:
    """The tokens that end an answer: the tokenizer's eos and the model's generation eos."""
    configured = getattr(model.generation_config, "eos_token_id", None)
    ids = set(configured if isinstance(configured, list) else [configured])
    ids.add(tokenizer.eos_token_id)
    return {i for i in ids if i is not None}
