"""How a model answers an evaluation set, for `generate` and its translate-test baseline
(`translate_test`): the questions not answered yet (an interrupted run resumes where it
stopped), the prompts (the same `prompt_messages` and chat template as training), length-sorted,
left-padded batches decoded greedily (sampling optional; vLLM where it is installed on a GPU),
and one JSON line per answer, counted on the run's result.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from plugdata.core.formats import prompt_messages
from plugdata.core.jsonl import append_json_line, resume_json_lines
from trainer.common import generate_batches, load_for_generation, load_tokenizer, model_source
from trainer.evalsets import load_eval_rows
from trainer.options import GenerateOptions


@dataclass
class GenerateResult:
    out: Path
    written: int = 0
    skipped: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    tokens: int = 0  # generated, over all answers (counted on the transformers path)
    seconds: float = 0.0  # decoding time, model loading excluded
    notes: list[str] = field(default_factory=list)  # more summary lines (translate-test's)

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
        return "\n".join([head, *self.notes])


def load_questions(options: GenerateOptions) -> list[dict]:
    rows = load_eval_rows(options.dataset, options.config, options.split)
    return rows[: options.limit] if options.limit else rows


def prompt_text(tokenizer, method: str, row: dict) -> str:
    """Exactly the training prefix: the chat template over the same messages, with the
    generation prompt that opens the assistant turn."""
    return tokenizer.apply_chat_template(
        prompt_messages(method, row), tokenize=False, add_generation_prompt=True
    )


def pending(options: GenerateOptions) -> tuple[list[dict], GenerateResult]:
    """The questions not answered in the output file yet, and a result counting the others."""
    questions = load_questions(options)
    done = _done_ids(options.out)
    todo = [q for q in questions if q["id"] not in done]
    return todo, GenerateResult(options.out, skipped=len(questions) - len(todo))


def decode(
    options: GenerateOptions, method: str, rows: list[dict], result: GenerateResult
) -> Iterator[list[tuple[int, str]]]:
    """The model's answers to `rows` prompted as `method`, batch by batch as they come:
    (index in `rows`, raw text). Counts tokens and decoding time on `result`."""
    import torch

    if _use_vllm():
        tokenizer, _ = load_tokenizer(options.model, for_training=False)
        yield _decode_vllm(options, tokenizer, method, rows)
        return
    tokenizer, model = load_for_generation(options.model)
    torch.manual_seed(options.seed)
    prompts = [prompt_text(tokenizer, method, q) for q in rows]
    batches = generate_batches(
        tokenizer,
        model,
        prompts,
        batch_size=options.batch_size,
        max_new_tokens=options.max_new_tokens,
        temperature=options.temperature,
        top_p=options.top_p,
    )
    from tqdm.auto import tqdm

    # disable=None: a bar on a terminal, silence in logs and pipes.
    bar = tqdm(total=len(rows), desc="generating", unit="row", disable=options.quiet or None)
    start = time.monotonic()
    with bar:
        for batch in batches:
            yield [(i, raw) for i, raw, _ in batch]
            result.tokens += sum(tokens for _, _, tokens in batch)
            result.seconds = time.monotonic() - start
            bar.set_postfix_str(f"{result.tokens / result.seconds:.1f} tokens/s", refresh=False)
            bar.update(len(batch))


def _use_vllm() -> bool:
    import importlib.util

    import torch

    return importlib.util.find_spec("vllm") is not None and torch.cuda.is_available()


def _decode_vllm(
    options: GenerateOptions, tokenizer, method: str, rows: list[dict]
) -> list[tuple[int, str]]:
    """The same prompts through vLLM when it is installed (GPU machines); greedy unless a
    temperature is set. Not exercised by the CPU test suite."""
    from vllm import LLM, SamplingParams

    source = model_source(options.model)  # vLLM reads a folder; a GGUF file is converted once
    llm = LLM(model=source, tokenizer=source, seed=options.seed)
    params = SamplingParams(
        temperature=options.temperature,
        top_p=options.top_p if options.temperature > 0 else 1.0,
        max_tokens=options.max_new_tokens,
        seed=options.seed,
    )
    prompts = [prompt_text(tokenizer, method, q) for q in rows]
    outputs = llm.generate(prompts, params)
    return [(i, output.outputs[0].text) for i, output in enumerate(outputs)]


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
