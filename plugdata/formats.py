"""Training formats: triples -> TRL conversational prompt-completion rows, and back.

`render(method, triple)` builds the rows of one method; `extract(text, method, target)` pulls
the target-language answer out of a generation. Both take their markers and language names from a
`LanguageTable` (a recipe's own, or the built-in one), so what a model is trained to write is
exactly what is parsed later.

PLUG completion layout (blocks separated by one blank line; a header sits on its own line):

    English instruction:
    <pivot instruction>

    English response:
    <pivot response>

    中文回复：
    <target response>
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from plugdata.languages import LANGUAGES, LanguageTable, header_pattern

Message = dict[str, str]
Row = dict[str, object]  # id, kind, prompt (list of messages), completion (one-message list)
Status = Literal["ok", "marker-missing", "empty"]

# System prompts are templates over language names so that any pivot/target pair works.
PLUG_SYSTEM_PROMPT = (
    "You are a helpful assistant. First restate the user's instruction in {pivot}, then answer "
    "it in {pivot}, and finally give the answer in {target}."
)
PLUG_PRO_SYSTEM_PROMPT = (
    "You are a helpful assistant. First answer the user's instruction in {pivot}, "
    "then give the answer in {target}."
)
MONO_SYSTEM_PROMPT = "You are a helpful assistant. Always respond in {target}."


def _row(triple: dict, kind: str, user: str, answer: str, system: str | None = None) -> Row:
    prompt: list[Message] = [{"role": "system", "content": system}] if system else []
    prompt.append({"role": "user", "content": user})
    return {
        "id": triple["id"],
        "kind": kind,
        "prompt": prompt,
        "completion": [{"role": "assistant", "content": answer}],
    }


def _block(header: str, text: str) -> str:
    return f"{header}\n{text}"


def plug_completion(
    triple: dict, languages: LanguageTable = LANGUAGES, *, with_instruction: bool = True
) -> str:
    pivot, target = languages.get(triple["pivot_lang"]), languages.get(triple["target_lang"])
    blocks = (
        [_block(pivot.instruction_header, triple["pivot_instruction"])] if with_instruction else []
    )
    blocks.append(_block(pivot.response_header, triple["pivot_response"]))
    blocks.append(_block(target.response_header, triple["target_response"]))
    return "\n\n".join(blocks)


def prompt_messages(
    method: str, triple: dict, languages: LanguageTable = LANGUAGES
) -> list[Message]:
    """The prompt a model trained with `method` sees for a target-language instruction.

    Used for training rows and for generation alike, so the two cannot differ.
    """
    system = {
        "plug": PLUG_SYSTEM_PROMPT,
        "plug-pro": PLUG_PRO_SYSTEM_PROMPT,
        "mono": MONO_SYSTEM_PROMPT,
    }.get(method)
    messages: list[Message] = []
    if system:
        pivot, target = languages.get(triple["pivot_lang"]), languages.get(triple["target_lang"])
        content = system.format(pivot=pivot.name, target=target.name)
        messages.append({"role": "system", "content": content})
    user = triple["pivot_instruction"] if method == "pivot-only" else triple["target_instruction"]
    messages.append({"role": "user", "content": user})
    return messages


def _pivot_row(triple: dict) -> Row:
    return _row(triple, "pivot", triple["pivot_instruction"], triple["pivot_response"])


def _render_plug(triple: dict, languages: LanguageTable) -> list[Row]:
    (system, user) = prompt_messages("plug", triple, languages)
    completion = plug_completion(triple, languages)
    return [_row(triple, "plug", user["content"], completion, system["content"])]


def _render_plug_pro(triple: dict, languages: LanguageTable) -> list[Row]:
    (system, user) = prompt_messages("plug-pro", triple, languages)
    completion = plug_completion(triple, languages, with_instruction=False)
    return [_row(triple, "plug-pro", user["content"], completion, system["content"])]


def _render_mono(triple: dict, languages: LanguageTable) -> list[Row]:
    (system, user) = prompt_messages("mono", triple, languages)
    return [_row(triple, "mono", user["content"], triple["target_response"], system["content"])]


def _render_pivot_only(triple: dict, languages: LanguageTable) -> list[Row]:
    return [_pivot_row(triple)]


def _render_code_switch(triple: dict, languages: LanguageTable) -> list[Row]:
    return [
        _row(triple, "code-switch-t2p", triple["target_instruction"], triple["pivot_response"]),
        _row(triple, "code-switch-p2t", triple["pivot_instruction"], triple["target_response"]),
    ]


@dataclass(frozen=True)
class Method:
    name: str
    render: Callable[[dict, LanguageTable], list[Row]]
    pivot_rows: bool  # the paper's mixture adds pivot monolingual rows (kind "pivot")
    has_target_header: bool  # generations carry a target-response header to extract after


METHODS: dict[str, Method] = {
    m.name: m
    for m in [
        Method("plug", _render_plug, pivot_rows=True, has_target_header=True),
        Method("plug-pro", _render_plug_pro, pivot_rows=True, has_target_header=True),
        Method("mono", _render_mono, pivot_rows=False, has_target_header=False),
        Method("pivot-only", _render_pivot_only, pivot_rows=False, has_target_header=False),
        Method("code-switch", _render_code_switch, pivot_rows=False, has_target_header=False),
    ]
}


def render(
    method: str,
    triple: dict,
    *,
    pivot_rows: bool | None = None,
    languages: LanguageTable = LANGUAGES,
) -> list[Row]:
    """All training rows that one triple contributes to a method's config.

    >>> t = {"id": "x/1", "pivot_lang": "en", "target_lang": "it",
    ...      "pivot_instruction": "Hi?", "pivot_response": "Hello.",
    ...      "target_instruction": "Ciao?", "target_response": "Salve."}
    >>> [r["kind"] for r in render("plug", t)]
    ['plug', 'pivot']
    >>> render("plug", t)[0]["completion"][0]["content"].splitlines()[-2:]
    ['Risposta in italiano:', 'Salve.']
    """
    spec = METHODS[method]
    rows = spec.render(triple, languages)
    if spec.pivot_rows if pivot_rows is None else pivot_rows:
        rows.append(_pivot_row(triple))
    return rows


@dataclass(frozen=True)
class Extraction:
    output: str
    status: Status


def extract(
    text: str, method: str, target_lang: str, languages: LanguageTable = LANGUAGES
) -> Extraction:
    """The target-language answer inside a generation, with a status.

    For PLUG-style methods the answer follows the last target-response header (either colon
    style accepted); other methods answer directly.

    >>> extract("English response:\\nHi.\\n\\n中文回复：\\n你好。", "plug", "zh")
    Extraction(output='你好。', status='ok')
    >>> extract("Hi.", "plug", "zh").status
    'marker-missing'
    """
    if not METHODS[method].has_target_header:
        answer = text.strip()
        return Extraction(answer, "ok" if answer else "empty")
    pattern = header_pattern(languages.get(target_lang).response_header)
    last = None
    for last in pattern.finditer(text):  # noqa: B007 - we want the final match
        pass
    if last is None:
        return Extraction("", "marker-missing")
    answer = text[last.end() :].strip()
    return Extraction(answer, "ok" if answer else "empty")
