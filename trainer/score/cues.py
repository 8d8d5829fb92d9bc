"""The words around a worked answer's numbers that tell a reader which one is the answer, per
language: answer phrases beyond the table's, self-corrections, checks and notes that follow the
answer, conclusions, explanations, step labels, years and minus words (`numbers` reads them).

The final-answer phrases of `Language.answer_markers` (`plugdata.core.languages`) stay the one
source of the phrases that training rows and extraction share; `markers` here adds only what
scoring also reads. Every pattern is a regular expression matched in any case, and every
language's cues are tried on every answer: a model answering in Chinese may still write "Check:".
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass


def _starts(words: str) -> tuple[str, ...]:
    """Each word as a pattern of a whole word (month names)."""
    return tuple(rf"\b{w}\b" for w in words.split())


@dataclass(frozen=True)
class Cues:
    # Final-answer phrases (plain text, as `Language.answer_markers`; a ":" matches either colon).
    markers: tuple[str, ...] = ()
    # A self-correction: what comes after it replaces what came before ("Actually, ...").
    corrections: tuple[str, ...] = ()
    # A line that starts so is a check of the answer, a note about it or the start of another
    # turn (a model that goes on writing the next question), not the answer.
    checks: tuple[str, ...] = ()
    # Words that open a conclusion ("So", "所以"): a bold number after them is the answer. Not
    # "in total" (一共, 모두): a restated question says it too ("一共有**5**盒").
    conclusions: tuple[str, ...] = ()
    # A sentence that starts so explains the answer before it ("This is because 9 + 5 ...")
    # and a clause that starts so, after the answer, gives its reasons ("14, because ...").
    reasons: tuple[str, ...] = ()
    because: tuple[str, ...] = ()
    # Words for a step of the working ("Step 2", "(3 steps)"): their numbers count steps.
    steps: tuple[str, ...] = ()
    # Words right before a year ("in 2023", "nel 2023").
    years: tuple[str, ...] = ()
    # Month names: before a year ("March 2023") and around a day ("March 5", "5 de marzo").
    months: tuple[str, ...] = ()
    # Words that make the next number negative ("minus 3", "零下5度", "영하 3도").
    minus: tuple[str, ...] = ()


CUES: dict[str, Cues] = {
    "en": Cues(
        markers=("final answer", "final answer:", "result is", "####"),
        corrections=(
            r"\bactually\b",
            r"\bwait\b",
            r"\boops\b",
            r"\bcorrect(?:ion|ed)\b",
            r"\blet me (?:re-?check|re-?calculate|re-?do|re-?read|reconsider|fix)",
            r"\bi made (?:a|an) (?:mistake|error)",
            r"\bon second thought",
            r"\bre-?reading\b",
        ),
        checks=(
            r"(?:note|notes|n\.b\.|p\.s\.)\s*:",
            r"(?:let'?s |let us |to |we can )?(?:check|checking|verification|verify|"
            r"double-check)\b[^\n]{0,20}?:",
            r"(?:i )?hope (?:this|that|it) helps",
            r"(?:#+ *)?(?:question|instruction|human|user)\s*:",
        ),
        conclusions=(r"\bso\b", r"\btherefore\b", r"\bthus\b", r"\bhence\b"),
        reasons=(r"th(?:is|at) is because", r"that'?s because", r"here'?s why", r"the reason is"),
        because=(r"\bbecause\b", r"\bsince\b"),
        steps=(r"steps?",),
        years=(
            r"\bin",
            r"\bas of",
            r"\bsince",
            r"\byear",
            r"\bof (?:the )?year",
        ),
        months=_starts(
            "january february march april may june july august september october november december"
        ),
        minus=(r"\bminus", r"\bnegative"),
    ),
    "zh": Cues(
        markers=("最终答案", "结果是", "结果为"),
        corrections=(
            r"不对",
            r"等等",
            r"等一下",
            r"更正",
            r"纠正",
            r"算错",
            r"重新(?:计|算)",
            r"抱歉",
        ),
        checks=(r"(?:注|注意|备注|说明|验证|验算|检验|检查|问题)\s*[:：]",),
        conclusions=(r"所以", r"因此", r"因而"),
        reasons=(r"这是因为", r"因为", r"原因是"),
        because=(r"因为",),
        steps=(r"个?步骤", r"步"),
        minus=(r"零下", r"负"),
    ),
    "ko": Cues(
        markers=("최종 답",),
        corrections=(r"잠깐", r"다시 계산", r"잘못 계산", r"정정", r"다시 읽", r"죄송합니다"),
        checks=(r"(?:참고|주의|검산|확인|검증|질문)\s*[:：]",),
        conclusions=(r"따라서", r"그러므로", r"그래서"),
        # Korean gives its reasons before the answer (5개 더 많기 때문에 14개): no `because`.
        reasons=(r"왜냐하면", r"그 이유는"),
        steps=(r"단계",),
        minus=(r"영하", r"마이너스"),
    ),
    "it": Cues(
        markers=("risposta corretta è", "risultato è", "risultato finale è", "risultato:"),
        corrections=(
            r"\baspett[aio]\b",
            r"\bcorrezione\b",
            r"\bricontroll",
            r"\brileggendo\b",
            r"\bin realtà\b",
            r"\bho sbagliato\b",
            r"\bricalcol",
        ),
        checks=(
            r"(?:nota|note|verifica|verifichiamo|controllo|osservazione)\b[^\n]{0,20}?:",
            r"(?:#+ *)?domanda\s*:",
        ),
        conclusions=(r"\bquindi\b", r"\bpertanto\b", r"\bdunque\b", r"\bperciò\b"),
        reasons=(r"questo (?:è )?perché", r"perché", r"infatti"),
        because=(r"\bperché\b", r"\bpoiché\b", r"\bdato che\b", r"\bin quanto\b"),
        steps=(r"pass[io]", r"passaggi", r"fase"),
        years=(
            r"\bnel",
            r"\bdel",
            r"\bdal",
            r"\banno",
        ),
        months=_starts(
            "gennaio febbraio marzo aprile maggio giugno luglio agosto settembre ottobre "
            "novembre dicembre"
        ),
        minus=(r"\bmeno",),
    ),
    "es": Cues(
        markers=("respuesta correcta es", "resultado es", "resultado final es", "resultado:"),
        corrections=(
            r"\bespera\b",
            r"\bcorrecci[oó]n\b",
            r"\brevisemos\b",
            r"\ben realidad\b",
            r"\bme equivoqu[eé]\b",
            r"\brecalcul",
        ),
        checks=(
            r"(?:nota|comprobaci[oó]n|comprobemos|verificaci[oó]n|verifiquemos|observaci[oó]n)"
            r"\b[^\n]{0,20}?:",
            r"(?:#+ *)?pregunta\s*:",
        ),
        reasons=(r"esto (?:es|se debe a) (?:porque|que)", r"porque", r"ya que"),
        because=(r"\bporque\b", r"\bya que\b", r"\bdado que\b", r"\bpuesto que\b"),
        conclusions=(
            r"\bpor lo tanto\b",
            r"\bpor tanto\b",
            r"\bentonces\b",
            r"\basí que\b",
        ),
        steps=(r"pasos?", r"etapa"),
        years=(
            r"\ben",
            r"\ben el año",
            r"\baño",
            r"\bdesde",
            r"\bdel",
        ),
        months=_starts(
            "enero febrero marzo abril mayo junio julio agosto septiembre octubre "
            "noviembre diciembre"
        ),
        minus=(r"\bmenos",),
    ),
}


def _union(field: str) -> str:
    # Longest first, so that an alternation prefers "por lo tanto" to a shorter cue inside it.
    return "|".join(sorted({p for c in CUES.values() for p in getattr(c, field)}, key=len)[::-1])


@functools.cache
def pattern(field: str) -> re.Pattern[str]:
    """Every language's cues of one kind (a field of `Cues`) as one pattern, any case.

    >>> bool(pattern("corrections").search("3 + 9 = 13。等等，应该是11。"))
    True
    """
    return re.compile(f"(?:{_union(field)})", re.IGNORECASE)


def markers() -> tuple[str, ...]:
    """The final-answer phrases that scoring adds to the language table's."""
    return tuple(m for c in CUES.values() for m in c.markers)
