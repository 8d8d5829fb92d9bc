"""`plugdata generate`: answer an evaluation set with a (fine-tuned) model and extract the
target-language answer.

Top to bottom: the questions not answered yet -> prompts as the model was trained -> decoding
(`answers`) -> extraction with the shared extractor -> one JSON line per item. The translate-test
baseline (`translate_test`) answers through machine translation instead, with the same decoding
and the same lines.
"""

from __future__ import annotations

from plugdata.core.formats import extract
from plugdata.core.options import refuse_overwrite_of
from plugdata.remote.locations import check_dataset, check_model
from trainer.answers import Answer, GenerateResult, decode, pending, write_line
from trainer.common import require_train
from trainer.options import TRANSLATE_TEST, GenerateOptions
from trainer.translate_test import answer_through_translation


def generate(options: GenerateOptions) -> GenerateResult:
    require_train()
    refuse_overwrite_of(options)  # as the command does: called from Python too
    check_dataset(options.dataset)
    check_model(options.model)
    if options.method == TRANSLATE_TEST:
        return answer_through_translation(options)
    todo, result = pending(options)
    if not todo:
        return result
    options.out.parent.mkdir(parents=True, exist_ok=True)
    with options.out.open("a", encoding="utf-8") as fh:
        for batch in decode(options, options.method, todo, result):
            for answer in batch:
                _write_answer(fh, options, todo[answer.index], answer, result)
    return result


def _write_answer(fh, options: GenerateOptions, q: dict, answer: Answer, result: GenerateResult):
    got = extract(answer.raw, options.method, q["target_lang"])
    write_line(
        fh,
        options,
        q,
        result,
        raw_output=answer.raw,
        output=got.output,
        extraction=got.status,
        **answer.fields(),
    )
