"""How a model answers an evaluation set, for `generate` and its translate-test baseline
(`translate_test`): the questions not answered yet (an interrupted run resumes where it
stopped), the prompts (the same `prompt_messages` and chat template as training, the same token
ids on every path), length-sorted, left-padded batches decoded greedily (sampling optional; vLLM
where it is installed on a GPU) within the token budget, and one JSON line per answer, counted
on the run's result.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from plugdata.core.formats import prompt_messages
from plugdata.core.jsonl import append_json_line, resume_json_lines
from trainer.common import (
    generate_ids,
    load_for_generation,
    load_tokenizer,
    model_source,
    trained_system_prompts,
)
from trainer.evalsets import load_eval_rows
from trainer.options import GenerateOptions
from trainer.sequences import Budget, Prompt, decode_answer, encode_prompts


@dataclass
class Answer:
    """One decoded answer and what the budget did to it, as its line records."""

    index: int  # into the rows asked
    raw: str
    finish: str  # "stop": the model ended the answer; "length": the token budget did
    prompt_tokens: int
    answer_tokens: int  # the stop token included
    prompt_cut: bool  # the prompt was longer than --max-prompt-length; its end is missing

    def fields(self) -> dict:
        return {
            "finish": self.finish,
            "prompt_tokens": self.prompt_tokens,
            "answer_tokens": self.answer_tokens,
            "prompt_cut": self.prompt_cut,
        }


@dataclass
class GenerateResult:
    out: Path
    method: str = ""
    budget: Budget = field(default_factory=Budget)
    written: int = 0
    skipped: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    tokens: int = 0  # generated, over all answers
    seconds: float = 0.0  # decoding time, model loading excluded
    decoded: int = 0  # answers the model wrote in this run
    hit_budget: int = 0  # ... of which the budget ended (finish "length")
    prompts_cut: int = 0
    notes: list[str] = field(default_factory=list)  # more summary lines (translate-test's)

    def count(self, answer: Answer) -> None:
        self.decoded += 1
        self.tokens += answer.answer_tokens
        self.hit_budget += answer.finish == "length"
        self.prompts_cut += answer.prompt_cut

    def summary(self) -> str:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(self.statuses.items())) or "-"
        speed = (
            f" in {self.seconds:.1f} s, {self.tokens:,} tokens at "
            f"{self.tokens / self.seconds:.1f} tokens/s"
            if self.seconds
            else ""
        )
        head = (
            f"generated {self.written} answers{speed} ({self.skipped} already in {self.out}); "
            f"extraction: {counts}"
        )
        lines = [head]
        if self.decoded:
            lines.append(
                f"budget ({self.budget.describe()}): {self.hit_budget} of {self.decoded} "
                f"{self.method} answers cut at the budget, {self.prompts_cut} prompts cut"
            )
        return "\n".join([*lines, *self.notes])


def budget_of(options: GenerateOptions) -> Budget:
    return Budget(options.max_length, options.max_prompt_length, options.max_new_tokens)


def load_questions(options: GenerateOptions) -> list[dict]:
    rows = load_eval_rows(options.dataset, options.config, options.split)
    return rows[: options.limit] if options.limit else rows


def prompt_text(tokenizer, method: str, row: dict, system_prompts: dict | None = None) -> str:
    """Exactly the training prefix: the chat template over the same messages (the system turn
    the model was trained with, `trained_system_prompts`), with the generation prompt that
    opens the assistant turn."""
    return tokenizer.apply_chat_template(
        prompt_messages(method, row, system_prompts=system_prompts),
        tokenize=False,
        add_generation_prompt=True,
    )


def pending(options: GenerateOptions) -> tuple[list[dict], GenerateResult]:
    """The questions not answered in the output file yet, and a result counting the others."""
    questions = load_questions(options)
    done = _done_ids(options.out)
    todo = [q for q in questions if q["id"] not in done]
    result = GenerateResult(
        options.out, options.method, budget_of(options), skipped=len(questions) - len(todo)
    )
    return todo, result


def decode(
    options: GenerateOptions, method: str, rows: list[dict], result: GenerateResult
) -> Iterator[list[Answer]]:
    """The model's answers to `rows` prompted as `method`, batch by batch as they come.
    Counts tokens, budget hits and decoding time on `result`."""
    import torch

    budget = budget_of(options)
    system = trained_system_prompts(options.model, method)
    if _use_vllm():
        tokenizer, _ = load_tokenizer(options.model, for_training=False)
        prompts = encode_prompts(tokenizer, prompt_texts(tokenizer, method, rows, system), budget)
        answers = _decode_vllm(options, tokenizer, prompts, budget, result)
        for answer in answers:
            result.count(answer)
        yield answers
        return
    tokenizer, model = load_for_generation(options.model)
    torch.manual_seed(options.seed)
    prompts = encode_prompts(tokenizer, prompt_texts(tokenizer, method, rows, system), budget)
    batches = generate_ids(
        tokenizer,
        model,
        [p.ids for p in prompts],
        [budget.allowance(len(p.ids)) for p in prompts],
        batch_size=options.batch_size,
        temperature=options.temperature,
        top_p=options.top_p,
    )
    from tqdm.auto import tqdm

    # disable=None: a bar on a terminal, silence in logs and pipes.
    bar = tqdm(total=len(rows), desc="generating", unit="row", disable=options.quiet or None)
    start = time.monotonic()
    with bar:
        for batch in batches:
            answers = [
                Answer(g.index, g.text, g.finish, len(p.ids), g.tokens, p.cut)
                for g, p in ((g, prompts[g.index]) for g in batch)
            ]
            for answer in answers:
                result.count(answer)
            yield answers
            result.seconds = time.monotonic() - start
            bar.set_postfix_str(f"{result.tokens / result.seconds:.1f} tokens/s", refresh=False)
            bar.update(len(batch))


def prompt_texts(
    tokenizer, method: str, rows: list[dict], system_prompts: dict | None = None
) -> list[str]:
    return [prompt_text(tokenizer, method, q, system_prompts) for q in rows]


def _use_vllm() -> bool:
    import importlib.util

    import torch

    return importlib.util.find_spec("vllm") is not None and torch.cuda.is_available()


def vllm_requests(
    options: GenerateOptions, prompts: list[Prompt], budget: Budget
) -> tuple[list[dict], list[dict]]:
    """What `_decode_vllm` sends: each prompt as token ids (a text prompt would be tokenized
    again by vLLM, which adds BOS by default: with the one the template writes, two), and the
    keyword arguments of each prompt's `SamplingParams`: its own share of the budget, and no
    detokenizing, since the answers are decoded here as on the transformers path."""
    sampling = options.temperature > 0
    requests = [{"prompt_token_ids": p.ids} for p in prompts]
    params = [
        {
            "temperature": options.temperature,
            "top_p": options.top_p if sampling else 1.0,
            "max_tokens": budget.allowance(len(p.ids)),
            "seed": options.seed,
            "detokenize": False,
        }
        for p in prompts
    ]
    return requests, params


def _decode_vllm(
    options: GenerateOptions,
    tokenizer,
    prompts: list[Prompt],
    budget: Budget,
    result: GenerateResult,
) -> list[Answer]:
    """The same prompt ids through vLLM when it is installed (GPU machines); greedy unless a
    temperature is set. Not exercised by the CPU test suite: `vllm_requests` is."""
    from vllm import LLM, SamplingParams

    source = model_source(options.model)  # vLLM reads a folder; a GGUF file is converted once
    llm = LLM(model=source, tokenizer=source, seed=options.seed)
    requests, params = vllm_requests(options, prompts, budget)
    start = time.monotonic()
    outputs = llm.generate(requests, [SamplingParams(**p) for p in params])
    result.seconds = time.monotonic() - start
    answers = []
    for i, (prompt, output) in enumerate(zip(prompts, outputs, strict=True)):
        completion = output.outputs[0]
        ids = list(completion.token_ids)
        finish = "length" if completion.finish_reason == "length" else "stop"
        text = decode_answer(tokenizer, ids)
        answers.append(Answer(i, text, finish, len(prompt.ids), len(ids), prompt.cut))
    return answers


def write_line(fh, options: GenerateOptions, q: dict, result: GenerateResult, **answer) -> None:
    """One answer line: who answered which question how, `answer`'s fields (`output` and
    `extraction` among them) in between; counted on `result`."""
    line = {"id": q["id"], "instruction": q["target_instruction"], **answer}
    line |= {
        "generator": Path(options.model).name or options.model,
        "lang": q["target_lang"],
        "method": options.method,
    }
    for extra in ("dataset", "source"):
        if extra in q:
            line[extra] = q[extra]
    append_json_line(fh, line)
    result.written += 1
    status = answer["extraction"]
    result.statuses[status] = result.statuses.get(status, 0) + 1


def _done_ids(path: Path) -> set[str]:
    """Ids already answered; a last line cut by a crash is dropped so the item runs again."""
    return {row["id"] for row in resume_json_lines(path) if isinstance(row.get("id"), str)}
