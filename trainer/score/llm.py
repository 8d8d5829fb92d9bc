"""The LLM extractor: a judge model names the final number of each answer, as the PLUG paper did
(with gpt-3.5-turbo; the prompt wording here is ours), replying `[invalid]` when the answer
gives none; the rules of `numbers` then read its reply. It is asked through the judge's own
machinery (`trainer.judge`: backends, retries, cost cap, cache), so a rerun asks nothing again.
"""

from __future__ import annotations

import json
from typing import Any

from plugdata.remote.calls import Price
from trainer.judge.base import Judge, Request, request_key, sha
from trainer.judge.run import estimate_cost
from trainer.score.numbers import extract

KIND = "extract"
INVALID = "[invalid]"
SYSTEM = (
    "You read worked solutions to math word problems and report the final numeric answer "
    "each solution arrives at. You never solve the problem yourself."
)
TEMPLATE = (
    "Problem:\n{question}\n\nSolution:\n{answer}\n\n"
    "Which number does the solution give as its final answer? Reply with that number only, in "
    "digits, without units or thousands separators (for example 1250 or 3.5). If the "
    f"solution gives no final number, reply {INVALID}."
)
# Every cache key holds this: rewording the prompt asks again.
PROMPT_DIGEST = sha(f"{SYSTEM}\x1f{TEMPLATE}")
REPLY_TOKENS = 8  # a number, for estimates


def requests(model: str, backend: Judge, items: list[tuple[str, str, str]]) -> list[Request]:
    """One request per (id, question, answer), keyed by everything that determines the reply."""
    params = json.dumps(backend.decode_params(), sort_keys=True)
    out = []
    for item, question, answer in items:
        key = request_key(model, PROMPT_DIGEST, params, KIND, item, sha(question), sha(answer))
        messages = [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": TEMPLATE.format(question=question, answer=answer)},
        ]
        out.append(Request(item, KIND, messages, key))
    return out


def read_reply(reply: str, lang: str | None) -> float | None:
    """The number a reply names; None for `[invalid]` or a reply without a number.

    >>> read_reply("42", "en"), read_reply(" [INVALID] ", "en"), read_reply("3,5", "it")
    (42.0, None, 3.5)
    """
    if INVALID in reply.lower():
        return None
    return extract(reply, lang).value


def estimate(price: Price, requests: list[Request], to_send: list[Request]) -> dict[str, Any]:
    """Tokens and cost of the requests not in the cache."""
    return estimate_cost(price, requests, to_send, REPLY_TOKENS)
