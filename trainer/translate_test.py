"""The translate-test baseline of the PLUG paper: the target-language question machine-translated
into the pivot language, answered by the model as a pivot-language model (the `pivot-only`
prompt), and the answer machine-translated back.

Each direction is one batch through the library's translation engine (`plugdata.translate`:
its backends, segment cache, code protection, retries and fallbacks), so a rerun replays from
the cache. The backend is checked, and the questions translated, before the model is loaded:
a misconfigured or unreachable translator costs nothing. A question or answer the engine
cannot translate safely still gets its line, with the reason as its `extraction`.
"""

from __future__ import annotations

from plugdata.translate import TextTranslator, Translation, parse_options
from trainer.answers import GenerateResult, decode, pending, write_line
from trainer.options import GenerateOptions

# The prompt of a pivot-language model: the plain pivot instruction, no system turn.
PIVOT_METHOD = "pivot-only"


def answer_through_translation(options: GenerateOptions) -> GenerateResult:
    assert options.translator  # the options model requires it with translate-test
    with TextTranslator(
        options.translator,
        parse_options(options.translator_option),
        cache_path=options.cache,
        max_cost=options.max_cost,
    ) as translator:
        todo, result = pending(options)
        if todo:
            _answer(options, translator, todo, result)
            result.notes.append(
                f"translated with {translator.label}: {translator.requests} requests (the "
                "rest from the cache)"
            )
    return result


def _answer(
    options: GenerateOptions, translator: TextTranslator, todo: list[dict], result: GenerateResult
) -> None:
    progress = not options.quiet
    questions = _translate(
        translator,
        [(q["target_instruction"], q["target_lang"], q["pivot_lang"]) for q in todo],
        "instruction",
        progress,
    )
    asked = [i for i, t in enumerate(questions) if not t.reason]
    rows = [{**todo[i], "pivot_instruction": questions[i].text} for i in asked]
    pivot = [""] * len(todo)
    budget: dict[int, dict] = {}  # what the token budget did to each pivot answer
    for batch in decode(options, PIVOT_METHOD, rows, result):
        for answer in batch:
            pivot[asked[answer.index]] = answer.raw
            budget[asked[answer.index]] = answer.fields()
    # An empty answer is not sent: the line says `empty`, as generation's extractor would.
    answered = [i for i in asked if pivot[i].strip()]
    back = dict(
        zip(
            answered,
            _translate(
                translator,
                [(pivot[i], todo[i]["pivot_lang"], todo[i]["target_lang"]) for i in answered],
                "response",
                progress,
            ),
            strict=True,
        )
    )
    options.out.parent.mkdir(parents=True, exist_ok=True)
    with options.out.open("a", encoding="utf-8") as fh:
        for i, q in enumerate(todo):
            answer = back.get(i, Translation())
            line = {
                "pivot_instruction": questions[i].text,
                "pivot_output": pivot[i],
                "output": answer.text,
                "raw_output": pivot[i],
                "extraction": "ok" if answer.text else "empty",
                "translator": translator.label,
                **budget.get(i, {}),
            }
            for step, got in (("question", questions[i]), ("answer", answer)):
                if got.reason:
                    line |= {"extraction": got.reason, "translation_failed": step}
                    line |= {"translation_error": got.error} if got.error else {}
                    break
            write_line(fh, options, q, result, **line)


def _translate(
    translator: TextTranslator, items: list[tuple[str, str, str]], kind: str, progress: bool
) -> list[Translation]:
    """(text, source, target) each, in one batch per language pair (one for an eval config)."""
    pairs: dict[tuple[str, str], list[int]] = {}
    for i, (_, source, target) in enumerate(items):
        pairs.setdefault((source, target), []).append(i)
    out: list[Translation] = [Translation()] * len(items)
    for (source, target), indices in pairs.items():
        texts = [items[i][0] for i in indices]
        got = translator.translate(texts, source, target, kind=kind, progress=progress)
        for i, t in zip(indices, got, strict=True):
            out[i] = t
    return out
