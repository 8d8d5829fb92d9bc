"""A judge model run in this process with transformers, for judging without a server: the
judge's own chat template, greedy decoding, batches of similar length. It implements the
`base.Judge` protocol, like the API judge of `backends`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from plugdata.errors import PlugdataError
from plugdata.remote.calls import Price
from plugdata.remote.locations import check_model
from trainer.judge.base import Record, Request
from trainer.options import JudgeModelOptions


class LocalJudge:
    price = Price()  # nothing to pay for

    def __init__(self, options: JudgeModelOptions):
        if options.base_url:
            raise PlugdataError(
                "--base-url names a judge server; --judge-backend transformers runs the model here"
            )
        check_model(options.judge_model, "--judge-model")  # before any judgment is planned
        self.model_name = options.judge_model
        self.batch_size = options.concurrency
        self.max_tokens = options.max_tokens

    def decode_params(self) -> dict[str, Any]:
        # The backend is part of the cache key: a served model may decode slightly differently.
        return {"backend": "transformers", "temperature": 0.0, "max_tokens": self.max_tokens}

    def judge_all(self, requests, record, counters, progress) -> None:  # see base.Judge
        # A request's own parameters (the paper's top_p 0, one answer, no stop) change nothing
        # in greedy decoding here.
        counters.requests = len(requests)  # one generation each
        if requests:  # the model loads only when there is something to judge
            for done in self._answer_all(requests, record):
                progress(done)

    def _answer_all(self, requests: list[Request], record: Record) -> Iterable[int]:
        """Judge every request, calling record(request, raw, None) as each batch finishes;
        yields the size of each finished batch."""
        from trainer.common import generate_batches, load_for_generation, require_train

        require_train()
        tokenizer, model = load_for_generation(self.model_name, "--judge-model")
        prompts = [_chat_prompt(tokenizer, r.messages) for r in requests]
        for batch in generate_batches(
            tokenizer, model, prompts, batch_size=self.batch_size, max_new_tokens=self.max_tokens
        ):
            for i, raw, _ in batch:
                record(requests[i], raw, None)
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
