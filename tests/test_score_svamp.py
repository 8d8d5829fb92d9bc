"""plugdata score svamp: the rules that read a final number, in five languages, class by class
and on a set of realistic answers with a careful reader's numbers (tests/data/
svamp_answers.jsonl); the command end to end on JSON Lines files; and the LLM extractor against
an OpenAI-compatible server on 127.0.0.1 (the judge tests' server), with a few-shot prompt file
and the paper's reading of the reply, checked against a reference written here."""

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trainer.score.llm import PAPER_WARNING, read_reply
from trainer.score.numbers import extract, last_integer, numbers, parse_number, same

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


# -- what a careful reader reads, class by class ---------------------------------------------------
CLASSES = {
    "bold quantities of the question are not the answer": [
        ("en", "There are **3** groups with **5** students each. 3 x 5 = 15", 15),
        ("ko", "**12개**의 사과 중 4개를 먹었으므로 8개가 남습니다.", 8),
        ("zh", "1. 每盒有**12**支铅笔，一共有**5**盒。\n2. 12 × 5 = 60（支）", 60),
        ("it", "- Scatole: **5**\n- Matite per scatola: **7**\n\n5 × 7 = 35", 35),
        ("es", "Quedan **20** pesos.", 20),  # a bold number that concludes is still the answer
        ("en", "So Sarah has **21 stickers** now, 5 more than before.", 21),
    ],
    "a self-correction replaces what came before": [
        ("en", "The answer is 12. Actually, there are 4 rows of 4: 4 x 4 = 16", 16),
        ("zh", "答案是12。不对，重新算：4 × 4 = 16。", 16),
        ("ko", "정답은 12입니다. 잠깐, 4 × 4 = 16입니다.", 16),
        ("it", "La risposta è 12. Aspetta: 4 × 4 = 16.", 16),
        ("es", "La respuesta es 12. Espera, 4 × 4 = 16.", 16),
        ("en", "Answer:\nStep 1: 5 × 3 = 15\nStep 2: 15 + 2 = 17", 17),  # a phrase as a heading
        ("en", "The answer is 12.\n\nExplanation: 3 boxes of 4, and 3 × 4 = 12.", 12),
    ],
    "checks and notes after the answer": [
        ("en", "x + 5 = 12, so x = 7.\n\nCheck: 7 + 5 = 12 ✓", 7),
        ("en", "So she has 24 sweets. To verify: 24 ÷ 4 = 6 each.", 24),
        ("zh", "一共有20个。\n\n验证：20 - 8 = 12，正确。", 20),
        ("ko", "정답: 24개\n\n검산: 24 ÷ 4 = 6", 24),
        ("it", "In tutto 240 km.\n\nNota: 1 km = 1.000 metri.", 240),
        ("es", "Respuesta: 24.\n\nComprobación: 24 ÷ 3 = 8.", 24),
        ("en", "There are 12 apples. Hope this helps! 1 more question?", 12),
    ],
    "explanations after the answer, and the model's next turn": [
        ("en", "Jake has 14 apples. This is because Steven has 9 and Jake 5 more than him.", 14),
        ("en", "Jake has 14 apples, because Steven has 9 and Jake has 5 more.", 14),
        ("en", "Since Steven has 9 apples and Jake has 5 more, Jake has 14 apples.", 14),
        ("zh", "小明有14个苹果。因为小红有9个苹果，小明比小红多5个。", 14),
        ("zh", "因为小红有9个，小明多5个，所以小明有14个苹果。", 14),
        (
            "ko",
            "제이크는 14개를 가지고 있습니다. 왜냐하면 스티븐이 9개, 제이크가 5개 더 많기 때문입니다.",
            14,
        ),
        ("ko", "제이크는 5개 더 많기 때문에 14개를 가지고 있습니다.", 14),
        ("it", "Jake ha 14 mele, perché Steven ne ha 9 e Jake ne ha 5 in più.", 14),
        ("es", "Jake tiene 14 manzanas porque Steven tiene 9 y Jake tiene 5 más.", 14),
        (
            "en",
            "The answer is 5.\n\n### Instruction:\nJohn has 7 pens and buys 5. The answer is 12.",
            5,
        ),
        ("es", "Jake tiene 14 manzanas.\n\nPregunta: ¿Cuántas tiene Steven? 9", 14),
    ],
    "numbers the conclusion restates from the working": [
        ("en", "Distance = 60 × 2 = 120 km\n\nSo the train travels 120 km in 2 hours.", 120),
        ("zh", "5 + 9 - 3 = 11（只）。现在池塘里有11只鸭子，比开始的5只多。", 11),
        ("it", "5 + 9 - 3 = 11. Ora ci sono 11 anatre, rispetto alle 5 iniziali.", 11),
        ("es", "3 × 4 = 12 minutos cada uno, así que los 5 tardan 60 minutos.", 60),
        ("en", "First, 3 × 4 = 12 boxes. With 12 boxes of 5, he has 60 pencils.", 60),
        ("zh", "妈妈买了二十个鸡蛋，用掉了8个，那么一开始一共有二十个鸡蛋。", 20),
    ],
    "magnitude words": [
        ("zh", "这个城市有12万人。", 120000),
        ("zh", "一台电脑1.5万元。", 15000),
        ("zh", "一共3万5千元。", 35000),
        ("zh", "共1千个。", 1000),
        ("zh", "一共五百万元。", 5000000),
        ("ko", "남은 돈은 3만 원입니다.", 30000),
        ("ko", "책값은 2만 5천 원입니다.", 25000),
        ("ko", "모두 5천만 원입니다.", 50000000),
        ("it", "Restano 2 milioni di persone.", 2000000),
        ("it", "Vendute 3 mila magliette.", 3000),
        ("es", "Costó 1,5 millones de euros.", 1500000),
        ("es", "Vendió 2 mil camisetas.", 2000),
        ("en", "About 2.5 million people remain.", 2500000),
        ("en", "That leaves 12 thousand eggs.", 12000),
        ("zh", "他走了5千米。", 5),  # 千米 is a kilometre
        ("ko", "철수는 영희보다 5만큼 더 많다.", 5),  # 만큼: as much as
    ],
    "Chinese numerals": [
        ("zh", "还剩七个。", 7),
        ("zh", "他有十二支铅笔。", 12),
        ("zh", "一共一百零五页。", 105),
        ("zh", "一共三千五百箱。", 3500),
        ("zh", "还剩两个。", 2),
        ("zh", "一共一百〇八位。", 108),
        ("zh", "女生有二十五个，一共有很多人。", 25),
        ("zh", "小明吃了四分之三。", 0.75),
        ("zh", "占全班的百分之二十。", 20),
        ("zh", "工厂生产了1,500个零件。", 1500),  # 零件: parts, not zero
        ("zh", "第二天卖了8本，我们一起算一下。", 8),  # 第二, 一起, 一下: words
    ],
    "Korean numerals": [
        ("ko", "다섯 개가 남았습니다.", 5),
        ("ko", "연필은 열두 자루입니다.", 12),
        ("ko", "학생은 스무 명입니다.", 20),
        ("ko", "공책은 모두 서른두 권입니다.", 32),
        ("ko", "쿠키가 둘 남았습니다.", 2),
        ("ko", "세계에는 대륙이 7개 있습니다.", 7),  # 세계: the world
        ("ko", "따라서 12개입니다. 한 번 더 확인하면 맞습니다.", 12),  # 한 번 더: once more
        ("ko", "전체의 4분의 3을 먹었습니다.", 0.75),
    ],
    "numbers spelled out": [
        ("en", "She read twelve pages in total.", 12),
        ("en", "They have twenty-five flowers.", 25),
        ("en", "The book has one hundred and five pages.", 105),
        ("en", "Each one gets 5 cards.", 5),  # each one: a pronoun
        ("it", "Ora ne ha sette.", 7),
        ("it", "Ci sono venticinque studenti.", 25),
        ("it", "Il libro ha centocinque pagine.", 105),
        ("it", "Hanno venduto tremila biglietti.", 3000),
        ("it", "Ne ricevono 5 ciascuno, una per giorno.", 5),  # una: an article
        ("es", "Le quedan siete canicas.", 7),
        ("es", "Hay treinta y dos libros.", 32),
        ("es", "El libro tiene ciento cinco páginas.", 105),
        ("es", "Reciben 5 cromos cada uno.", 5),  # cada uno: a pronoun
        ("es", "El 25 por ciento de 40 es 10.", 10),  # por ciento: percent
    ],
    "digits: full width, separators, decimals, signs": [
        ("zh", "共有１２０个。", 120),
        ("ko", "모두 ６５그루입니다.", 65),
        ("en", "The total is 1,234 dollars.", 1234),
        ("it", "Il totale è di 1.234 euro.", 1234),
        ("es", "Son 12.500 euros.", 12500),
        ("en", "That is 1.250 kg.", 1.25),
        ("it", "Costa 1,5 euro.", 1.5),
        ("es", "Cada uno paga 7,5 dólares.", 7.5),
        ("it", "Ogni persona paga 3.75 euro.", 3.75),  # models write English decimals too
        ("en", "The temperature is -7°C.", -7),
        ("en", "The temperature is now minus 5 degrees.", -5),
        ("en", "10 minus 3 is 7.", 7),  # a subtraction, not a sign
        ("zh", "现在的气温是零下5度。", -5),
        ("ko", "현재 기온은 영하 3도입니다.", -3),
        ("zh", "结果是负3。", -3),
    ],
    "fractions, percentages, currency, units": [
        ("en", "She ate 3/4.", 0.75),
        ("en", "The answer is \\frac{5}{2}.", 2.5),
        ("en", "The discount is 10 ÷ 40 × 100 = 25%.", 25),
        ("en", "It costs $1,250.50.", 1250.5),
        ("it", "Il totale è € 12.", 12),
        ("zh", "一共¥120。", 120),
        ("ko", "모두 1,500원입니다.", 1500),
        ("en", "The bags weigh 15kg.", 15),
        ("en", "Speed = 90 / 2 = 45 mph.", 45),
    ],
    "final equations and LaTeX": [
        ("en", "Weekly pay = $15 × 40 = $600", 600),
        ("en", "750 − 600 = 150 pencils are left, which is 20% of the order.", 150),
        ("en", "\\[\n4 \\times 3 = 12\n\\]", 12),
        ("en", "So Tom has \\( 8 \\) apples left.", 8),
        ("es", "$$\\boxed{25}$$", 25),
        ("it", "La risposta è \\(40\\).", 40),
        ("en", "So we have $3 \\times 4 = 12$.", 12),
    ],
    "final-answer phrases in every language": [
        ("en", "Final answer: 42", 42),
        ("en", "Total legs: 18 × 4\n\n#### 72", 72),
        ("zh", "最终答案：7", 7),
        ("zh", "**答案**：12", 12),
        ("zh", "计算结果是18。", 18),
        ("ko", "최종 답: 13", 13),
        ("ko", "따라서 답은 열두 자루입니다.", 12),
        ("it", "La risposta corretta è 8.", 8),
        ("it", "Il risultato è 4.", 4),
        ("es", "La respuesta correcta es 8 manzanas.", 8),
        ("es", "El resultado es 4.", 4),
    ],
    "steps, list items, years and dates": [
        ("en", "Step 1: 5 × 4 = 20\nStep 2: 20 + 5 = 25\nStep 3: Done", 25),
        ("zh", "第1步：5 × 4 = 20\n第2步：20 + 5 = 25\n第3步：完成", 25),
        ("ko", "1단계: 5 × 4 = 20\n2단계: 20 + 5 = 25\n3단계: 끝", 25),
        ("en", "1. Add 3 and 4 to get 7.\n2. Multiply 7 by 2 to get 14.\n3. Done.", 14),
        ("zh", "所以一共有5个苹果。（共3个步骤）", 5),
        ("ko", "7일이 걸립니다. (총 2단계)", 7),
        ("it", "Gli restano 14 euro. (3 passaggi)", 14),
        ("es", "La escuela tiene 515 alumnos.\n\nAño 2023", 515),
        ("es", "La escuela tiene 515 alumnos en el año 2024.", 515),
        ("it", "La scuola aveva 450 studenti nel 2023.", 450),
        ("zh", "这个学校一共有480名学生（2023年数据）。", 480),
        ("ko", "학생 수는 2023년 기준으로 350명입니다.", 350),
        ("en", "The museum had 230 visitors in March 2023.", 230),
        ("en", "Tom had 12 apples by March 5.", 12),
        ("es", "Tenía 12 manzanas el 5 de marzo.", 12),
        ("zh", "小明有12个苹果，截止3月5日。", 12),
        ("ko", "3월 5일까지 12개를 모았습니다.", 12),
        ("ko", "12개를 모으는 데 5일이 걸립니다.", 5),  # 5일 alone: five days
    ],
}


@pytest.mark.parametrize(
    ("lang", "text", "value"),
    [case for cases in CLASSES.values() for case in cases],
    ids=[f"{name}-{i}" for name, cases in CLASSES.items() for i in range(len(cases))],
)
def test_rules_read_like_a_careful_reader(lang, text, value):
    assert same(extract(text, lang).value, value)


def test_numbers_restated_from_the_question_are_passed_over():
    question = "Tom has 5 apples and buys 3 more. How many apples does he have?"
    answer = "So Tom has 8 apples after buying 3 more."
    assert extract(answer, "en").value == 3  # without the question, the last number
    assert extract(answer, "en", question).value == 8
    # without it, a number of the working that the answer restates
    assert extract("5 + 3 = 8 in the bag. So Tom has 8 after buying 3 more.", "en").value == 8
    restated = "Tom has 8 apples.\nHe had 5 apples and bought 3 more."
    assert (extract(restated, "en").value, extract(restated, "en", question).value) == (3, 8)
    # a result that equals a number of the question is still the answer
    answer = "He had 10 apples.\nHe gave away 5, so he has 5 left."
    assert extract(answer, "en", "He had 10 and gave 5. How many are left?").value == 5


def test_score_passes_the_question_to_the_rules(tmp_path):
    questions = [("t1", "en", "Tom has 5 apples and buys 3 more. How many apples?", 8)]
    answers = {"t1": "So Tom has 8 apples after buying 3 more."}
    q, a = files(tmp_path, answers, questions)
    assert score(q, a, tmp_path / "out").exit_code == 0
    assert read(tmp_path / "out")[1]["t1"]["correct"] is True


# The answers a careful reader read, and their numbers: the rules must agree on 95% of them.
# Each line: id, part, lang, output, and gold (null where the answer gives no number). The
# held-out parts were written before the rule changes they measure; dev-2 was held out too,
# until its failures led to the last change (numbers the conclusion restates).
PARTS = ("dev", "held-out", "held-out-2", "dev-2", "held-out-3")
ANSWER_SET = [
    json.loads(line)
    for line in (Path(__file__).parent / "data" / "svamp_answers.jsonl")
    .read_text("utf-8")
    .splitlines()
]


def read_as_the_reader(row: dict) -> bool:
    found = extract(row["output"], row["lang"]).value
    return found is None if row["gold"] is None else same(found, row["gold"])


def test_the_answer_set_is_realistic_in_size_and_languages():
    per_lang = Counter(r["lang"] for r in ANSWER_SET)
    assert len(ANSWER_SET) >= 250 and set(per_lang) == {"en", "zh", "ko", "it", "es"}
    assert min(per_lang.values()) >= 50
    assert {r["part"] for r in ANSWER_SET} == set(PARTS)


@pytest.mark.parametrize("part", PARTS)
def test_rules_agree_with_the_careful_reader_on_95_percent(part):
    rows = [r for r in ANSWER_SET if r["part"] == part]
    wrong = [r["id"] for r in rows if not read_as_the_reader(r)]
    assert 1 - len(wrong) / len(rows) >= 0.95, wrong


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


# -- the paper's path: a few-shot prompt file, and the paper's reading of the reply ----------------
def paper_reading(reply: str) -> float | None:
    """The reading of the PLUG paper's evaluate_svamp.py, redone by hand as a reference: the
    last maximal run of an optional "-", decimal digits (of any script), then groups of "," and
    exactly three digits, commas dropped."""
    last, i = None, 0
    while i < len(reply):
        j = i + 1 if reply[i] == "-" else i
        if j >= len(reply) or not reply[j].isdecimal():
            i += 1
            continue
        while j < len(reply) and reply[j].isdecimal():
            j += 1
        while (
            reply[j : j + 1] == ","
            and len(reply[j + 1 : j + 4]) == 3
            and reply[j + 1 : j + 4].isdecimal()
        ):
            j += 4
        last, i = reply[i:j], j
    return None if last is None else float(last.replace(",", ""))


TRICKY_REPLIES = [
    "3.5",
    "-2",
    "1,000",
    "",
    "[invalid]",
    "1,0000",
    "12,34",
    "3-2",
    "−5",
    "４２",
    "1,234.56",
    "The answer is 8.",
    "about 7 or 8",
    "--5",
    "1,000,000",
    "x-1",
    "0.25",
    "2,5 litri",
    "-0",
]


@pytest.mark.parametrize("reply", TRICKY_REPLIES)
def test_paper_number_rule_agrees_with_the_papers_reading(reply):
    assert read_reply(reply, "it", "paper") == paper_reading(reply)
    assert last_integer(reply) == paper_reading(reply)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789,.-− x４", max_size=24))
def test_paper_number_rule_agrees_with_the_papers_reading_on_any_text(reply):
    assert last_integer(reply) == paper_reading(reply)


def test_paper_reading_reference_on_known_cases():
    # the reference itself, against what the paper's regular expression gives by hand
    assert [paper_reading(r) for r in ("3.5", "-2", "1,000", "no number")] == [5, -2, 1000, None]


PAPER_REPLIES = {
    "e1": "7",
    "e2": "1,000",  # thousands: both rules read 1000
    "z1": "3.5",  # the paper reads 5
    "z2": "-2",
    "k1": "[invalid]",
    "i1": "4,5",  # the paper reads 5; careful, in Italian, 4.5
}


def paper_scripted(text):
    item = next(i for i, _, question, _ in QUESTIONS if question in text)
    return PAPER_REPLIES[item]


FEW_SHOT = """\
system: You read worked answers and name their final number.
instruction: Name the final number of each model response, or [invalid] when there is none.
template: "Question: {question}\\n\\nModel response: {response}\\n\\nExtracted answer:"
examples:
  - question: Ana tiene 3 cajas con 4 lápices. ¿Cuántos lápices tiene?
    response: 3 × 4 = 12, así que tiene 12 lápices.
    answer: "12"
  - question: 小明有几本书？
    response: 题目没有给出足够的信息。
    answer: "[invalid]"
"""


def test_llm_extractor_with_a_few_shot_prompt_and_the_papers_number_rule(tmp_path):
    q, a = files(tmp_path)
    prompt = tmp_path / "svamp-extract.yaml"
    prompt.write_text(FEW_SHOT, "utf-8")
    args = ["--extractor", "llm", "--judge-model", "extractor-1", "--prompt-file", prompt]
    with ChatServer(translate=paper_scripted) as server:
        url = f"{server.url}/v1"
        result = score(q, a, tmp_path / "paper", *args, "--number-rule", "paper", "--base-url", url)
        assert result.exit_code == 0, result.output
        assert len(server.requests) == 6
        careful = score(q, a, tmp_path / "careful", *args, "--base-url", url)
        assert len(server.requests) == 6  # the same replies, from the cache, read again
    warning = f"Warning: {PAPER_WARNING}"
    assert result.stderr.strip() == warning and warning not in result.stdout
    assert careful.stderr == ""
    summary, rows = read(tmp_path / "paper")
    assert {i: rows[i]["extracted"] for i in PAPER_REPLIES} == {
        i: paper_reading(reply) for i, reply in PAPER_REPLIES.items()
    }
    assert (rows["z1"]["extracted"], rows["i1"]["extracted"], rows["k1"]["extracted"]) == (
        5,
        5,
        None,
    )
    assert summary["number_rule"] == "paper" and summary["warnings"] == [PAPER_WARNING]
    assert warning in (tmp_path / "paper" / "summary.md").read_text("utf-8")
    careful_rows = read(tmp_path / "careful")[1]
    assert (careful_rows["z1"]["extracted"], careful_rows["i1"]["extracted"]) == (3.5, 4.5)
    assert read(tmp_path / "careful")[0]["warnings"] == []
    sent = server.requests[0]["messages"]
    assert sent[0] == {
        "role": "system",
        "content": "You read worked answers and name their final number.",
    }
    assert len(sent) == 2 and sent[1]["role"] == "user"
    assert sent[1]["content"] == (
        "Name the final number of each model response, or [invalid] when there is none.\n\n"
        "Question: Ana tiene 3 cajas con 4 lápices. ¿Cuántos lápices tiene?\n\n"
        "Model response: 3 × 4 = 12, así que tiene 12 lápices.\n\nExtracted answer: 12\n\n"
        "Question: 小明有几本书？\n\nModel response: 题目没有给出足够的信息。\n\n"
        "Extracted answer: [invalid]\n\n"
        "Question: Tom has 3 apples and buys 4. How many apples?\n\n"
        "Model response: 3 + 4 = 7. The answer is \\boxed{7}.\n\nExtracted answer:"
    )


def test_a_prompt_file_is_part_of_the_cache_key(tmp_path):
    q, a = files(tmp_path)
    prompt = tmp_path / "fewshot.json"
    layout = {"template": "Q: {question}\nA: {response}\nNumber:", "examples": []}
    prompt.write_text(json.dumps(layout), "utf-8")
    args = ["--extractor", "llm", "--judge-model", "extractor-1"]
    with ChatServer(translate=scripted) as server:
        url = f"{server.url}/v1"
        assert score(q, a, tmp_path / "default", *args, "--base-url", url).exit_code == 0
        assert len(server.requests) == 6
        result = score(q, a, tmp_path / "file", *args, "--prompt-file", prompt, "--base-url", url)
        assert result.exit_code == 0, result.output
        assert len(server.requests) == 12  # another prompt: asked again
    assert server.requests[-1]["messages"][0]["role"] == "user"  # no system message
    default, mine = (read(tmp_path / d)[0]["prompt_sha"] for d in ("default", "file"))
    assert default != mine


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            'template: "{question} {response}"\nexamples:\n  - {question: q, response: r, anwser: "1"}\n',
            "examples.0.anwser: unknown key (did you mean 'answer'?)",
        ),
        (
            'template: "{question} {response}"\nsytem: hi\n',
            "sytem: unknown key (did you mean 'system'?)",
        ),
        ("system: hi\n", "template: Field required"),
        (
            'template: "Question: {question}"\n',
            "template: must hold {response}, where each answer goes (and {question})",
        ),
        ("- template\n", "expected a mapping with template (and system, instruction, examples)"),
    ],
)
def test_a_bad_prompt_file_is_one_line_naming_file_and_key(tmp_path, content, message):
    q, a = files(tmp_path)
    prompt = tmp_path / "bad.yaml"
    prompt.write_text(content, "utf-8")
    result = score(
        q, a, tmp_path / "out", "--extractor", "llm", "--judge-model", "m", "--prompt-file", prompt
    )
    assert one_line_error(result) == f"Error: {prompt}: {message}"
    assert not (tmp_path / "out").exists()


def test_prompt_file_needs_the_llm_extractor(tmp_path):
    q, a = files(tmp_path)
    prompt = tmp_path / "p.yaml"
    prompt.write_text('template: "{response}"\n', "utf-8")
    line = one_line_error(score(q, a, tmp_path / "out", "--prompt-file", prompt))
    assert line == "Error: --prompt-file applies to --extractor llm only (the judge's prompt)"


def test_paper_number_rule_with_the_rules_reads_the_answers_last_integer(tmp_path):
    q, a = files(tmp_path)
    result = score(q, a, tmp_path / "out", "--number-rule", "paper")
    assert result.exit_code == 0, result.output
    assert result.stderr.strip() == f"Warning: {PAPER_WARNING}"
    summary, rows = read(tmp_path / "out")
    assert {i: rows[i]["extracted"] for i in ANSWERS if i in rows} == {
        i: paper_reading(text) for i, text in ANSWERS.items() if i in rows
    }
    assert rows["i1"]["extracted"] == 5 and rows["i1"]["how"] == "last-integer"  # 4,5 euro
    assert rows["k1"]["how"] == "none" and summary["number_rule"] == "paper"
