"""Training formats: triples -> TRL conversational prompt-completion rows, and back.

`METHODS` is the one table of training methods: each entry's renderer, system prompt, user turn,
mixture and card description. `render(method, triple)` builds the rows of one method;
`extract(text, method, target)` pulls the target-language answer out of a generation. Both take
their markers and language names from a `LanguageTable` (a recipe's own, or the built-in one), so
what a model is trained to write is exactly what is parsed later.

PLUG completion layout (blocks separated by one blank line; a header sits on its own line):

    English instruction:
    <pivot instruction>

    English response:
    <pivot response>

    中文回复：
    <target response>
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from plugdata.core.languages import HEADER_COLON, LANGUAGES, LanguageTable, header_text
from plugdata.core.schema import Message, MethodRow, Triple

Row = MethodRow
PIVOT_KIND = "pivot"  # the kind of a pivot-language row (the paper's mixture, and `pivot-only`)
Status = Literal["ok", "marker-missing", "empty"]
# Renders one triple's own rows of a method, given its prompt (see `prompt_messages`).
Renderer = Callable[[Triple, list[Message], LanguageTable], list[Row]]


def _row(triple: Triple, kind: str, prompt: list[Message], answer: str) -> Row:
    return {
        "id": triple["id"],
        "kind": kind,
        "prompt": prompt,
        "completion": [{"role": "assistant", "content": answer}],
    }


def _block(header: str, text: str) -> str:
    return f"{header}\n{text}"


def plug_completion(
    triple: Triple, languages: LanguageTable = LANGUAGES, *, with_instruction: bool = True
) -> str:
    pivot, target = languages.get(triple["pivot_lang"]), languages.get(triple["target_lang"])
    blocks = (
        [_block(pivot.instruction_header, triple["pivot_instruction"])] if with_instruction else []
    )
    blocks.append(_block(pivot.response_header, triple["pivot_response"]))
    blocks.append(_block(target.response_header, triple["target_response"]))
    return "\n\n".join(blocks)


def _pivot_row(triple: Triple) -> Row:
    user = {"role": "user", "content": triple["pivot_instruction"]}
    return _row(triple, PIVOT_KIND, [user], triple["pivot_response"])


def _render_plug(triple: Triple, prompt: list[Message], languages: LanguageTable) -> list[Row]:
    return [_row(triple, "plug", prompt, plug_completion(triple, languages))]


def _render_plug_pro(triple: Triple, prompt: list[Message], languages: LanguageTable) -> list[Row]:
    completion = plug_completion(triple, languages, with_instruction=False)
    return [_row(triple, "plug-pro", prompt, completion)]


def _render_mono(triple: Triple, prompt: list[Message], languages: LanguageTable) -> list[Row]:
    return [_row(triple, "mono", prompt, triple["target_response"])]


def _render_pivot_only(
    triple: Triple, prompt: list[Message], languages: LanguageTable
) -> list[Row]:
    return [_row(triple, PIVOT_KIND, prompt, triple["pivot_response"])]


def _render_code_switch(
    triple: Triple, prompt: list[Message], languages: LanguageTable
) -> list[Row]:
    p2t = [{"role": "user", "content": triple["pivot_instruction"]}]
    return [
        _row(triple, "code-switch-t2p", prompt, triple["pivot_response"]),
        _row(triple, "code-switch-p2t", p2t, triple["target_response"]),
    ]


@dataclass(frozen=True)
class Method:
    """One training method: everything the build, generation and the card know about it."""

    name: str
    render: Renderer
    # System prompt over the languages' names, {pivot} and {target}; None: no system turn.
    # plugdata's own wording, not the paper's; a recipe sets its own per method and language
    # (`system_prompts:`), and the manifest records the text each config was rendered with.
    system_prompt: str | None
    user_field: str  # the triple field the user turn holds, in training and in generation
    pivot_rows: bool  # the paper's mixture adds pivot monolingual rows (kind "pivot")
    has_target_header: bool  # generations carry a target-response header to extract after
    about: str  # what a config of this method holds, for the dataset card


METHODS: dict[str, Method] = {
    m.name: m
    for m in [
        Method(
            "plug",
            _render_plug,
            system_prompt="You are a helpful assistant. First restate the user's instruction in "
            "{pivot}, then answer it in {pivot}, and finally give the answer in {target}.",
            user_field="target_instruction",
            pivot_rows=True,
            has_target_header=True,
            about="The paper's method. The user turn is the target-language instruction (with a "
            "system prompt); the assistant restates the instruction in the pivot language, "
            "answers in the pivot language, then answers in the target language, each block "
            "after its header. The config also holds the pivot-language rows of the paper's "
            "mixture (`kind: pivot`).",
        ),
        Method(
            "plug-pro",
            _render_plug_pro,
            system_prompt="You are a helpful assistant. First answer the user's instruction in "
            "{pivot}, then give the answer in {target}.",
            user_field="target_instruction",
            pivot_rows=True,
            has_target_header=True,
            about="Like `plug` without the restated instruction: pivot-language answer, then "
            "target-language answer. Pivot-language rows included.",
        ),
        Method(
            "mono",
            _render_mono,
            system_prompt="You are a helpful assistant. Always respond in {target}.",
            user_field="target_instruction",
            pivot_rows=False,
            has_target_header=False,
            about="Target-language instruction and target-language answer only (the paper's "
            "monolingual baseline).",
        ),
        Method(
            "pivot-only",
            _render_pivot_only,
            system_prompt=None,
            user_field="pivot_instruction",
            pivot_rows=False,
            has_target_header=False,
            about="Pivot-language instruction and answer only (the paper's pivot-only baseline).",
        ),
        Method(
            "code-switch",
            _render_code_switch,
            system_prompt=None,
            user_field="target_instruction",
            pivot_rows=False,
            has_target_header=False,
            about="Target instruction with pivot answer, and pivot instruction with target "
            "answer: two rows per item.",
        ),
    ]
}


# A method's system prompt as a build resolved it for one language pair (see `system_prompt`):
# the text itself, or None for no system turn. A method it lacks uses the method table's.
SystemPrompts = Mapping[str, str | None]
PLACEHOLDERS = ("pivot", "target")  # what a system prompt template may name


def placeholders(template: str) -> list[str]:
    """The `{names}` a template fills in (a doubled brace is a brace); ValueError for a lone
    brace.

    >>> placeholders("Answer in {target}, not {{braces}}.")
    ['target']
    """
    return [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]


def system_prompt(
    method: str,
    pivot: str,
    target: str,
    languages: LanguageTable = LANGUAGES,
    template: str | None = None,
) -> str | None:
    """The text of `method`'s system turn for one language pair: `template` (a recipe's) or
    else the method table's, with `{pivot}` and `{target}` filled in with the languages' names;
    None when the method has no system turn.

    >>> system_prompt("mono", "en", "it")
    'You are a helpful assistant. Always respond in Italian.'
    >>> system_prompt("plug", "en", "zh", template="Respond in {pivot}, then in {target}.")
    'Respond in English, then in Chinese.'
    """
    template = template if template is not None else METHODS[method].system_prompt
    if template is None:
        return None
    return template.format(pivot=languages.get(pivot).name, target=languages.get(target).name)


def prompt_messages(
    method: str,
    triple: Triple,
    languages: LanguageTable = LANGUAGES,
    system_prompts: SystemPrompts | None = None,
) -> list[Message]:
    """The prompt a model trained with `method` sees for a target-language instruction.

    Used for training rows and for generation alike, so the two cannot differ: give generation
    the `system_prompts` the training rows were rendered with (a method config's
    `system_prompt` in `manifest.json`).

    >>> t = {"pivot_lang": "en", "target_lang": "it", "target_instruction": "Ciao?"}
    >>> [m["content"] for m in prompt_messages("mono", t)]
    ['You are a helpful assistant. Always respond in Italian.', 'Ciao?']
    >>> prompt_messages("mono", t, system_prompts={"mono": None})
    [{'role': 'user', 'content': 'Ciao?'}]
    """
    spec = METHODS[method]
    if system_prompts is not None and method in system_prompts:
        system = system_prompts[method]
    else:
        system = system_prompt(method, triple["pivot_lang"], triple["target_lang"], languages)
    messages: list[Message] = []
    if system:
        messages.append({"role": "system", "content": system})
    messages.append({"role": "user", "content": triple[spec.user_field]})
    return messages


def render(
    method: str,
    triple: Triple,
    *,
    pivot_rows: bool | None = None,
    languages: LanguageTable = LANGUAGES,
    system_prompts: SystemPrompts | None = None,
) -> list[Row]:
    """All training rows that one triple contributes to a method's config (`system_prompts`
    as for `prompt_messages`).

    >>> t = {"id": "x/1", "pivot_lang": "en", "target_lang": "it",
    ...      "pivot_instruction": "Hi?", "pivot_response": "Hello.",
    ...      "target_instruction": "Ciao?", "target_response": "Salve."}
    >>> [r["kind"] for r in render("plug", t)]
    ['plug', 'pivot']
    >>> render("plug", t)[0]["completion"][0]["content"].splitlines()[-2:]
    ['Risposta in italiano:', 'Salve.']
    """
    spec = METHODS[method]
    prompt = prompt_messages(method, triple, languages, system_prompts)
    rows = spec.render(triple, prompt, languages)
    if spec.pivot_rows if pivot_rows is None else pivot_rows:
        rows.append(_pivot_row(triple))
    return rows


@dataclass(frozen=True)
class Extraction:
    output: str
    status: Status


def answer_header_pattern(header: str) -> re.Pattern[str]:
    """Where a generation's answer starts: the header at the start of a line, in any letter
    case, either colon style, optionally in markdown bold (`**中文回复：**`, `**中文回复**：`).

    A header inside a line is a quotation, not the start of the answer.

    >>> bool(answer_header_pattern("Risposta in italiano:").search("x\\n**risposta in italiano**:"))
    True
    >>> bool(answer_header_pattern("Risposta in italiano:").search("La 'Risposta in italiano:'"))
    False
    """
    # The header's text and colon, with room for the bold markers around the colon.
    bold = rf"{header_text(header)}(?:\*\*)?{HEADER_COLON}(?:\*\*)?"
    return re.compile(rf"^[ \t]*(?:\*\*)?{bold}", re.MULTILINE | re.IGNORECASE)


def extract(
    text: str, method: str, target_lang: str, languages: LanguageTable = LANGUAGES
) -> Extraction:
    """The target-language answer inside a generation, with a status.

    For PLUG-style methods the answer follows the last target-response header that starts a
    line (see `answer_header_pattern`); other methods answer directly.

    >>> extract("English response:\\nHi.\\n\\n中文回复：\\n你好。", "plug", "zh")
    Extraction(output='你好。', status='ok')
    >>> extract("Hi.", "plug", "zh").status
    'marker-missing'
    """
    if not METHODS[method].has_target_header:
        answer = text.strip()
        return Extraction(answer, "ok" if answer else "empty")
    pattern = answer_header_pattern(languages.get(target_lang).response_header)
    last = None
    for last in pattern.finditer(text):  # noqa: B007 - we want the final match
        pass
    if last is None:
        return Extraction("", "marker-missing")
    answer = text[last.end() :].strip()
    return Extraction(answer, "ok" if answer else "empty")
