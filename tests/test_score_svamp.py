"""plugdata score svamp: the rules that read a final number, in five languages; the command end
to end on JSON Lines files; and the LLM extractor against an OpenAI-compatible server on
127.0.0.1 (the judge tests' server)."""

import json
import subprocess
import sys

import pytest

from trainer.score.numbers import extract, numbers, parse_number, same

from .conftest import invoke, one_line_error, write_jsonl
from .servers import ChatServer

# (lang, chain-of-thought answer, the number, the rule that finds it)
CASES = [
    # an explicit final-answer phrase, in each language
    ("en", "Jack had 8 pens and gave away 3, so 8 - 3 = 5 are left. The answer is 5.", 5, "marker"),
    ("zh", "小红有12个苹果，吃掉了4个，所以还剩12 - 4 = 8个。答案是：8个。", 8, "marker"),
    (
        "ko",
        "민수는 사과 7개가 있었고 5개를 더 샀습니다. 7 + 5 = 12. 정답은 12개입니다.",
        12,
        "marker",
    ),
    (
        "it",
        "Maria ha 15 mele e ne regala 5. Quindi 15 - 5 = 10. La risposta è 10 mele.",
        10,
        "marker",
    ),
    (
        "es",
        "Pedro tenía 20 canicas y perdió 6. Entonces 20 - 6 = 14. La respuesta es 14.",
        14,
        "marker",
    ),
    ("es", "La respuesta es: 5 + 7 = 12.", 12, "marker"),  # the number after the last =
    ("en", "Answer: Let's think. Tom has 4 bags of 6 apples, 4 x 6 = 24.", 24, "last-number"),
    # thousands separators
    (
        "en",
        "1,250 red and 750 blue: 1,250 + 750 = 2,000 marbles. The answer is 2,000.",
        2000,
        "marker",
    ),
    (
        "zh",
        "工厂第一天生产了1,200个零件，第二天生产了1,350个，一共生产了2,550个零件。",
        2550,
        "last-number",
    ),
    (
        "es",
        "Juan tiene 1.500 pesos y gasta 250; le quedan 1.500 - 250 = 1.250 pesos.",
        1250,
        "last-number",
    ),
    (
        "it",
        "Lo stadio ha 12.000 posti e ne sono occupati 9.500, quindi ne restano 2.500.",
        2500,
        "last-number",
    ),
    (
        "ko",
        "도서관에는 책이 2,400권 있고 600권을 새로 샀습니다. 모두 3,000권입니다.",
        3000,
        "last-number",
    ),
    ("en", "The town has 12\u202f345 people.", 12345, "last-number"),  # a narrow no-break space
    ("es", "Vendió 3,500 boletos.", 3500, "last-number"),  # comma before three digits: thousands
    # decimals, and the decimal comma where the language writes one
    ("en", "Each pen costs 2.5 dollars, so 3 pens cost 3 x 2.5 = 7.5 dollars.", 7.5, "last-number"),
    (
        "it",
        "Il prezzo è 2,5 euro al chilo: 3 chili costano 3 × 2,5 = 7,5 euro.",
        7.5,
        "last-number",
    ),
    (
        "es",
        "Cada botella tiene 1,5 litros; 4 botellas tienen 4 × 1,5 = 6 litros.",
        6,
        "last-number",
    ),
    ("es", "La respuesta es 0,25 kg.", 0.25, "marker"),
    ("zh", "每瓶1.5升，2瓶一共3.0升。", 3, "last-number"),
    ("en", "So the two numbers are 3,5.", 5, "last-number"),  # no decimal comma in English
    # negatives (a hyphen or subtraction is not a sign)
    ("en", "It was 3 degrees and fell by 10: 3 - 10 = -7. The answer is -7 degrees.", -7, "marker"),
    ("ko", "온도는 -3도에서 5도 내려가 -8도가 되었습니다.", -8, "last-number"),
    ("it", "Il saldo era 20 e ha speso 25: 20-25 = −5 euro.", -5, "last-number"),
    ("zh", "10-3=7，所以是7。", 7, "last-number"),
    # \boxed{} wins over every other number, LaTeX included
    (
        "en",
        "Step 1: 3 + 4 = 7. Step 2: 7 × 2 = 14. So $\\boxed{14}$. Check: 14 / 2 = 7.",
        14,
        "boxed",
    ),
    ("zh", "答案是 15。验证：\\boxed{16}，因为 8 × 2 = 16。", 16, "boxed"),
    ("ko", "각 사람은 피자의 \\boxed{\\frac{3}{4}}를 먹습니다. 4명이면 3판입니다.", 0.75, "boxed"),
    ("it", "In totale ci sono \\boxed{1{,}234} biglie e 5 scatole.", 1234, "boxed"),
    ("es", "Total: \\boxed{12 \\text{ manzanas}} y sobran 2.", 12, "boxed"),
    # bold, like an answer phrase; a bold heading is not an answer
    ("ko", "철수는 3권, 영희는 4권을 읽었습니다. 3 + 4 = 7\n\n**7권**", 7, "bold"),
    ("es", "Hay 15 manzanas en total.\n\nRespuesta final: **15 manzanas**", 15, "bold"),
    ("en", "The answer is 9, wait, recount: 4 + 6 = 10 so **10** apples.", 10, "bold"),
    ("it", "**Passo 1:** 4 + 4 = 8\n**Passo 2:** 8 / 2 = 4 mele", 4, "last-number"),
    ("zh", "**第1步：** 5 × 4 = 20\n所以一共**20个**。", 20, "bold"),
    # counter words and units glued to the number
    ("zh", "每盒6支铅笔，5盒共有6 × 5 = 30支。", 30, "last-number"),
    ("ko", "사탕을 3명에게 4개씩 주면 12개가 필요합니다", 12, "last-number"),
    ("es", "Ana compró 15manzanas", 15, "last-number"),
    ("it", "Ha comprato 5 mele e 2 pere; ora ha 7 frutti", 7, "last-number"),
    ("en", "The discount is 25%", 25, "last-number"),
    # full-width digits
    ("zh", "共有４２个学生，答案是４２。", 42, "marker"),
    ("ko", "정답은 ３５개입니다.", 35, "marker"),
    ("it", "Risposta: ７ mele", 7, "marker"),
    ("es", "La respuesta es １２０.", 120, "marker"),
    ("en", "The answer is ９.", 9, "marker"),
    # fractions, and nothing at all
    ("en", "She ate 3/4 of the pizza.", 0.75, "last-number"),
    ("it", "Ha mangiato 1/2 della torta.", 0.5, "last-number"),
    ("zh", "我无法确定答案。", None, "none"),
    ("es", "No se puede saber.", None, "none"),
]


@pytest.mark.parametrize(("lang", "text", "value", "how"), CASES)
def test_rules_read_the_final_number(lang, text, value, how):
    found = extract(text, lang)
    assert (found.value, found.how) == (value, how)


def test_every_rule_is_tried_in_five_languages():
    langs_by_rule: dict[str, set] = {}
    for lang, _, _, how in CASES:
        langs_by_rule.setdefault(how, set()).add(lang)
    assert all(
        langs_by_rule[h] >= {"en", "zh", "ko", "it", "es"}
        for h in ("marker", "boxed", "last-number")
    )


def test_numbers_depend_on_the_language_only_for_commas_and_dots():
    assert [n[0] for n in numbers("1.234 e 2,5", "it")] == [1234, 2.5]
    assert [n[0] for n in numbers("1.234 and 2,5", "en")] == [1.234, 2, 5]
    assert [n[0] for n in numbers("1,234.5 y 0.125", "es")] == [1234.5, 0.125]


@pytest.mark.parametrize(
    ("gold", "text", "lang", "correct"),
    [
        (12, "The answer is 12.0.", "en", True),
        (12.0, "答案是12。", "zh", True),
        (3.5, "La risposta è 3,5.", "it", True),
        (3.5, "The answer is 3.50", "en", True),
        (0.3, "0.1 + 0.2 = \\boxed{0.30000000000000004}", "en", True),  # within rel_tol
        (1 / 3, "\\boxed{\\frac{1}{3}}", "ko", True),
        (10 / 3, "The answer is 3.33", "en", False),  # rounded is not equal
        (0, "La respuesta es 0.", "es", True),
        (12, "The answer is 13.", "en", False),
        (1250, "La respuesta es 1.250", "es", True),
        (1250, "The answer is 1.250", "en", False),  # 1.25 in English
    ],
)
def test_gold_comparison(gold, text, lang, correct):
    assert same(extract(text, lang).value, gold) is correct


def test_parse_number_accepts_one_number_only():
    assert parse_number("7") == 7 and parse_number("-2.5") == -2.5 and parse_number("1,000") == 1000
    assert parse_number("7 apples") is None and parse_number("") is None


# -- the command ----------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def score_command(monkeypatch):
    """`score` as the installed entry point adds it, for a checkout that is not reinstalled."""
    from plugdata.cli import cli
    from trainer.cli import score

    monkeypatch.setitem(cli.commands, "score", score)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-score-secret-key")


QUESTIONS = [
    ("e1", "en", "Tom has 3 apples and buys 4. How many apples?", "7"),
    ("e2", "en", "A box holds 1,000 nails; 250 are used. How many are left?", 750),
    ("z1", "zh", "小明有5支笔，又买了3支。他有几支笔？", "8.0"),
    ("z2", "zh", "一本书12元，买3本要多少元？", 36),
    ("k1", "ko", "사과 10개 중 4개를 먹었습니다. 몇 개 남았습니까?", 6),
    ("i1", "it", "Un litro costa 1,5 euro. Quanto costano 3 litri?", 4.5),
    ("s1", "es", "Hay 9 gatos y se van 2. ¿Cuántos quedan?", 7),
]
ANSWERS = {
    "e1": "3 + 4 = 7. The answer is \\boxed{7}.",
    "e2": "1,000 - 250 = 750. **750 nails**",
    "z1": "5 + 3 = 8，答案是：8支。",
    "z2": "12 × 3 = 35元。",  # a wrong answer
    "k1": "모르겠습니다.",  # no number: invalid
    "i1": "3 × 1,5 = 4,5. La risposta è 4,5 euro.",
    # s1 unanswered
    "x9": "An answer to no question: 1.",
}


def files(tmp_path, answers=ANSWERS, questions=QUESTIONS):
    q = write_jsonl(
        tmp_path / "q.jsonl",
        [
            {"id": i, "lang": lang, "instruction": text, "answer": gold}
            for i, lang, text, gold in questions
        ],
    )
    a = write_jsonl(
        tmp_path / "sys.jsonl",
        [
            {"id": i, "output": out, "generator": "tiny-plug", "method": "plug"}
            for i, out in answers.items()
        ],
    )
    return q, a


def score(q, a, out, *extra):
    return invoke("score", "svamp", "--answers", a, "--questions", q, "--out", out, *extra)


def read(out):
    summary = json.loads((out / "summary.json").read_text("utf-8"))
    rows = [json.loads(line) for line in (out / "scores.jsonl").read_text("utf-8").splitlines()]
    return summary, {r["id"]: r for r in rows}


def test_score_end_to_end_with_jsonl_questions(tmp_path):
    q, a = files(tmp_path)
    result = score(q, a, tmp_path / "out")
    assert result.exit_code == 0, result.output
    summary, rows = read(tmp_path / "out")
    assert list(rows) == [i for i, *_ in QUESTIONS]  # every question, none of the stray answers
    assert {i: r["correct"] for i, r in rows.items()} == {
        "e1": True,
        "e2": True,
        "z1": True,
        "z2": False,
        "k1": False,
        "i1": True,
        "s1": False,
    }
    assert rows["e1"] == {
        "id": "e1",
        "lang": "en",
        "extracted": 7,
        "gold": 7,
        "correct": True,
        "how": "boxed",
    }
    assert (rows["e2"]["how"], rows["z1"]["how"], rows["z2"]["extracted"]) == ("bold", "marker", 35)
    assert rows["k1"]["extracted"] is None and rows["k1"]["how"] == "none"
    assert rows["s1"] == {
        "id": "s1",
        "lang": "es",
        "extracted": None,
        "gold": 7,
        "correct": False,
        "how": "unanswered",
    }
    assert summary["task"] == "svamp" and summary["system"] == {
        "generator": "tiny-plug",
        "method": "plug",
    }
    assert summary["items"] == 7 and summary["unanswered"] == 1 and summary["invalid"] == 1
    assert summary["unanswered_counted_as"] == "incorrect"
    assert summary["extracted_by"] == {"boxed": 1, "bold": 1, "marker": 2, "last-number": 1}
    assert summary["answers_without_question"] == 1 and summary["answer_ids_without_question"] == [
        "x9"
    ]
    assert summary["extractor"] == "rules" and "judge_model" not in summary
    groups = summary["groups"]
    assert set(groups) == {"all", "lang=en", "lang=zh", "lang=ko", "lang=it", "lang=es"}
    assert (
        groups["all"]["accuracy"]["rate"] == pytest.approx(4 / 7)
        and groups["all"]["accuracy"]["n"] == 7
    )
    assert groups["lang=zh"]["accuracy"]["rate"] == 0.5 and groups["lang=en"]["accuracy"][
        "ci95"
    ] == [1.0, 1.0]
    assert (
        groups["lang=es"]["accuracy"]["rate"] == 0.0
        and groups["lang=es"]["extracted"]["rate"] == 0.0
    )
    for metrics in groups.values():
        for metric in metrics.values():
            assert set(metric) == {"rate", "ci95", "n"} and 0 <= metric["rate"] <= 1
    assert (
        "| all | 57.1% |" in result.output
        and "1 unanswered (counted as incorrect)" in result.output
    )
    assert "| lang=ko | 0.0% |" in (tmp_path / "out" / "summary.md").read_text("utf-8")
    assert str(tmp_path) not in (tmp_path / "out" / "summary.json").read_text("utf-8")


def test_a_gold_answer_that_is_not_a_number_is_a_one_line_error(tmp_path):
    q, a = files(tmp_path, questions=[*QUESTIONS[:2], ("e3", "en", "How many?", "seven")])
    line = one_line_error(score(q, a, tmp_path / "out"))
    assert (
        line
        == f"Error: {q}: id 'e3': field 'answer' is not a number: 'seven'; X-SVAMP gold answers are numbers"
    )
    assert not (tmp_path / "out").exists()


def test_questions_without_the_answer_field_name_the_line(tmp_path):
    q = write_jsonl(tmp_path / "q.jsonl", [{"id": "a", "instruction": "How many?"}])
    a = write_jsonl(tmp_path / "a.jsonl", [{"id": "a", "output": "3"}])
    line = one_line_error(score(q, a, tmp_path / "out"))
    assert line.startswith(f"Error: {q}:1: no 'answer' field")


@pytest.mark.parametrize(("right", "total", "lo_hi"), [(10, 10, (1.0, 1.0)), (60, 100, None)])
def test_accuracy_interval_on_known_cases(tmp_path, right, total, lo_hi):
    questions = [(f"q{i}", "it", f"Domanda {i}", i) for i in range(total)]
    answers = {f"q{i}": f"La risposta è {i if i < right else i + 1}." for i in range(total)}
    q, a = files(tmp_path, answers, questions)
    assert score(q, a, tmp_path / "out").exit_code == 0
    accuracy = read(tmp_path / "out")[0]["groups"]["lang=it"]["accuracy"]
    assert accuracy["rate"] == right / total and accuracy["n"] == total
    lo, hi = accuracy["ci95"]
    if lo_hi:
        assert (lo, hi) == lo_hi
    else:
        assert 0.45 < lo < 0.6 < hi < 0.75


def test_llm_extractor_needs_a_model(tmp_path):
    q, a = files(tmp_path)
    result = score(q, a, tmp_path / "out", "--extractor", "llm")
    assert "--extractor llm needs --judge-model" in one_line_error(result)


# -- the LLM extractor ----------------------------------------------------------------------------
REPLIES = {
    "e1": "7",
    "e2": "750",
    "z1": "The final answer is 8.",
    "z2": "35",
    "k1": "[invalid]",
    "i1": "4.5",
}


def scripted(text):
    """The judge's reply for the question in the prompt."""
    item = next(i for i, _, question, _ in QUESTIONS if question in text)
    return REPLIES[item]


def test_llm_extractor_caches_and_reads_invalid(tmp_path):
    q, a = files(tmp_path)
    args = ["--extractor", "llm", "--judge-model", "extractor-1", "--concurrency", 2]
    with ChatServer(translate=scripted) as server:
        result = score(q, a, tmp_path / "out", *args, "--base-url", f"{server.url}/v1")
        assert result.exit_code == 0, result.output
        assert len(server.requests) == 6  # one per answered question
        first = read(tmp_path / "out")
        again = score(q, a, tmp_path / "out", *args, "--base-url", f"{server.url}/v1")
        assert len(server.requests) == 6  # all from the cache
    assert again.exit_code == 0 and "0 requests (0 retries, 6 from the cache)" in again.output
    assert read(tmp_path / "out") == first
    summary, rows = first
    assert rows["z1"]["extracted"] == 8 and rows["z1"]["reply"] == "The final answer is 8."
    assert rows["k1"] == {
        "id": "k1",
        "lang": "ko",
        "extracted": None,
        "gold": 6,
        "correct": False,
        "how": "llm",
        "reply": "[invalid]",
        "error": None,
    }
    assert rows["s1"]["how"] == "unanswered"
    assert summary["extractor"] == "llm" and summary["judge_model"] == "extractor-1"
    assert (
        summary["invalid"] == 1
        and summary["extracted_by"] == {"llm": 5}
        and summary["errors"] == {}
    )
    assert summary["groups"]["all"]["accuracy"]["rate"] == pytest.approx(4 / 7)
    sent = server.requests[0]
    assert sent["temperature"] == 0 and "[invalid]" in sent["messages"][1]["content"]
    assert any(
        "3 + 4 = 7. The answer is \\boxed{7}." in r["messages"][1]["content"]
        for r in server.requests
    )
    for path in (tmp_path / "out").iterdir():
        assert "sk-score-secret-key" not in path.read_text("utf-8")


def test_llm_request_failures_are_counted_not_cached(tmp_path, waits):
    q, a = files(tmp_path)
    args = ["--extractor", "llm", "--judge-model", "extractor-1", "--max-retries", 0]
    with ChatServer(translate=scripted) as server:
        server.script.add(200, "7")  # the first request alone: the judge works
        server.script.add(500, {"error": {"message": "boom"}}, when="1,000 nails")
        result = score(q, a, tmp_path / "out", *args, "--base-url", f"{server.url}/v1")
        assert result.exit_code == 0, result.output
        summary, rows = read(tmp_path / "out")
        assert summary["errors"] == {"HTTP 500": 1} and rows["e2"]["error"] == "HTTP 500"
        assert rows["e2"]["extracted"] is None and summary["invalid"] == 1  # k1 only
        n = len(server.requests)
        score(q, a, tmp_path / "out", *args, "--base-url", f"{server.url}/v1")
        assert len(server.requests) == n + 1  # only the failed one is asked again
    assert read(tmp_path / "out")[1]["e2"]["correct"] is True


def test_dry_run_sends_nothing_and_writes_nothing(tmp_path):
    q, a = files(tmp_path)
    with ChatServer(translate=scripted) as server:
        result = score(
            q,
            a,
            tmp_path / "out",
            "--extractor",
            "llm",
            "--judge-model",
            "gpt-4",
            "--base-url",
            f"{server.url}/v1",
            "--dry-run",
        )
        assert server.requests == []
    assert result.exit_code == 0, result.output
    assert "7 items, 6 requests, 0 cached, 6 to send" in result.output
    assert float(result.output.split("estimated cost ")[1].split()[0]) > 0
    assert not (tmp_path / "out").exists()


def test_importing_plugdata_and_the_rules_does_not_import_math_verify():
    code = (
        "import sys, plugdata, plugdata.cli, trainer.score.numbers; "
        "print('math_verify' in sys.modules, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
