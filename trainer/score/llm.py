"""The LLM extractor: a judge model names the final number of each answer, as the PLUG paper did
(with gpt-3.5-turbo and a few-shot multilingual prompt), replying `[invalid]` when the answer
gives none; a number rule then reads its reply. It is asked through the judge's own machinery
(`trainer.judge`: backends, retries, cost cap, cache), so a rerun asks nothing again.

The default prompt is ours and zero-shot. `--prompt-file` gives a few-shot one (`PromptFile`,
JSON or YAML): a system message, and one user message holding an instruction, the examples
(each the template filled with its question and response, then its answer) and the template
filled with the item, the layout of the paper's prompt. The number rule (`NUMBER_RULES`) reads
the reply: `careful`, the rules of `numbers`, or `paper`, the paper's last integer.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from plugdata.core.jsonl import read_json_file
from plugdata.core.safe_yaml import safe_yaml_load
from plugdata.errors import PlugdataError
from plugdata.remote.calls import Price
from trainer.judge.base import Judge, Request, request_key, sha
from trainer.judge.run import estimate_cost
from trainer.score.numbers import extract, last_integer

KIND = "extract"
INVALID = "[invalid]"
SYSTEM = (
    "You read worked solutions to math word problems and report the final numeric answer "
    "each solution arrives at. You never solve the problem yourself."
)
TEMPLATE = (
    "Problem:\n{question}\n\nSolution:\n{response}\n\n"
    "Which number does the solution give as its final answer? Reply with that number only, in "
    "digits, without units or thousands separators (for example 1250 or 3.5). If the "
    f"solution gives no final number, reply {INVALID}."
)
REPLY_TOKENS = 8  # a number, for estimates
PAPER_WARNING = (
    "--number-rule paper reads the last integer of each reply, as the PLUG paper did: "
    '"3.5" reads as 5, "1,5" as 5 and "1.234" as 234, so no answer with decimals is correct'
)
_PLACEHOLDER = re.compile(r"\{(question|response)\}")


class Example(BaseModel):
    """One worked example of the few-shot prompt."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(description="The example's problem.")
    response: str = Field(description="A system's worked answer to it.")
    answer: str = Field(
        min_length=1, description=f"What the judge should reply: the number, or {INVALID}."
    )


class PromptFile(BaseModel):
    """A few-shot prompt for the LLM extractor (`--prompt-file`, JSON or YAML)."""

    model_config = ConfigDict(extra="forbid")

    system: str = Field("", description="The system message (none when empty).")
    instruction: str = Field("", description="What the user message says before the examples.")
    template: str = Field(
        min_length=1,
        description="One problem and response: {question} and {response} are replaced; the "
        "examples' answers follow it after a space, the judge's reply follows the item's.",
    )
    examples: list[Example] = Field(default_factory=list, description="The worked examples.")

    @field_validator("template")
    @classmethod
    def _shows_the_response(cls, template: str) -> str:
        if "{response}" not in template:
            raise ValueError("must hold {response}, where each answer goes (and {question})")
        return template


@dataclass(frozen=True)
class Prompt:
    system: str
    template: str
    instruction: str = ""
    examples: tuple[Example, ...] = ()

    @property
    def digest(self) -> str:
        """Every cache key holds this: rewording the prompt asks again."""
        parts = [self.system, self.template]
        if self.instruction or self.examples:
            shots = [e.model_dump() for e in self.examples]
            parts += [self.instruction, json.dumps(shots, sort_keys=True, ensure_ascii=False)]
        return sha("\x1f".join(parts))

    def messages(self, question: str, response: str) -> list[dict[str, str]]:
        """The system message, then one user message: instruction, examples, the item."""
        blocks = [self.instruction] if self.instruction else []
        blocks += [
            f"{self._fill(e.question, e.response).rstrip()} {e.answer}" for e in self.examples
        ]
        blocks.append(self._fill(question, response))
        system = [{"role": "system", "content": self.system}] if self.system else []
        return [*system, {"role": "user", "content": "\n\n".join(blocks)}]

    def _fill(self, question: str, response: str) -> str:
        # One pass, so that braces in the template and placeholder-like text inside an answer
        # are left as they are.
        values = {"question": question, "response": response}
        return _PLACEHOLDER.sub(lambda m: values[m[1]], self.template)


DEFAULT_PROMPT = Prompt(SYSTEM, TEMPLATE)


def load_prompt(file: Path | None) -> Prompt:
    """The default prompt, or a few-shot prompt file (JSON, or YAML by its .yaml/.yml name),
    checked key by key; a refusal is one line naming the file and the key."""
    if file is None:
        return DEFAULT_PROMPT
    file = Path(file)
    if file.suffix.lower() in (".yaml", ".yml"):
        data = safe_yaml_load(file.read_text("utf-8"), str(file))
    else:
        data = read_json_file(file)
    if not isinstance(data, dict):
        raise PlugdataError(
            f"{file}: expected a mapping with template (and system, instruction, examples)"
        )
    try:
        parsed = PromptFile.model_validate(data)
    except ValidationError as err:
        raise PlugdataError(f"{file}: {_problem(err)}") from None
    return Prompt(parsed.system, parsed.template, parsed.instruction, tuple(parsed.examples))


def _problem(err: ValidationError) -> str:
    """The first refusal as `key.path: message`, an unknown key with the keys allowed; an
    unknown key first, since it often explains a missing one (anwser, answer)."""
    first = min(err.errors(), key=lambda e: e["type"] != "extra_forbidden")
    where = ".".join(str(p) for p in first["loc"]) or "(top level)"
    if first["type"] != "extra_forbidden":
        return f"{where}: {first['msg'].removeprefix('Value error, ')}"
    model = Example if len(first["loc"]) > 1 else PromptFile
    close = difflib.get_close_matches(str(first["loc"][-1]), model.model_fields, n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"allowed: {', '.join(model.model_fields)}"
    return f"{where}: unknown key ({hint})"


def requests(
    model: str, backend: Judge, prompt: Prompt, items: list[tuple[str, str, str]]
) -> list[Request]:
    """One request per (id, question, answer), keyed by everything that determines the reply."""
    params = json.dumps(backend.decode_params(), sort_keys=True)
    out = []
    for item, question, answer in items:
        key = request_key(model, prompt.digest, params, KIND, item, sha(question), sha(answer))
        out.append(Request(item, KIND, prompt.messages(question, answer), key))
    return out


def _careful(reply: str, lang: str | None) -> float | None:
    return None if INVALID in reply.lower() else extract(reply, lang).value


def _paper(reply: str, lang: str | None) -> float | None:
    # [invalid] holds no digit: the paper needed no case for it.
    return last_integer(reply)


# How a number is read from a reply: `--number-rule`.
NUMBER_RULES = {"careful": _careful, "paper": _paper}


def read_reply(reply: str, lang: str | None, rule: str = "careful") -> float | None:
    """The number a reply names; None for `[invalid]` or a reply without a number.

    >>> read_reply("42", "en"), read_reply(" [INVALID] ", "en"), read_reply("3,5", "it")
    (42.0, None, 3.5)
    >>> read_reply("3.5", "en", "paper"), read_reply("[invalid]", "en", "paper")
    (5.0, None)
    """
    return NUMBER_RULES[rule](reply, lang)


def estimate(price: Price, requests: list[Request], to_send: list[Request]) -> dict[str, Any]:
    """Tokens and cost of the requests not in the cache."""
    return estimate_cost(price, requests, to_send, REPLY_TOKENS)
