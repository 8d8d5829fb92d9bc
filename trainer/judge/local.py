"""A judge model run in this process with transformers, for judging without a server: the
judge's own chat template, greedy decoding, batches of similar length."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from plugdata.locations import check_model


class LocalJudge:
    def __init__(self, model: str, batch_size: int, max_tokens: int):
        check_model(model, "--judge-model")  # before any judgment is planned, not at loading
        self.model_name = model
        self.batch_size = batch_size
        self.max_tokens = max_tokens

    def decode_params(self) -> dict[str, Any]:
        # The backend is part of the cache key: a served model may decode slightly differently.
        return {"backend": "transformers", "temperature": 0.0, "max_tokens": self.max_tokens}

    def answer_all(self, requests: list, record: Callable[[Any, str], None]) -> Iterable[int]:
        """Judge every request, calling record(request, raw) as each batch finishes; yields
        the size of each finished batch (for progress). The model loads only when needed."""
        from trainer.common import generate_batches, load_for_generation, require_train

        require_train()
        tokenizer, model = load_for_generation(self.model_name)
        prompts = [_chat_prompt(tokenizer, r.messages) for r in requests]
        for batch in generate_batches(
            tokenizer, model, prompts, batch_size=self.batch_size, max_new_tokens=self.max_tokens
        ):
            for i, raw in batch:
                record(requests[i], raw)
            yield len(batch)


def _chat_prompt(tokenizer, messages: list[dict]) -> str:
    """The chat template's prompt; a template without a system role (Gemma's, for one) gets
    the system text at the top of the user turn instead."""
    from jinja2.exceptions import TemplateError

    try:
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    except TemplateError:
        system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
        rest = [dict(m) for m in messages if m["role"] != "system"]
        rest[0]["content"] = f"{system}\n\n{rest[0]['content']}"
        return tokenizer.apply_chat_template(rest, tokenize=False, add_generation_prompt=True)
