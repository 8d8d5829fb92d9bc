"""The recipes under recipes/ load, and the offline ones build."""

import json
from pathlib import Path

import datasets
import pytest

from plugdata.pipeline.build import build
from plugdata.pipeline.config import RunConfig
from plugdata.pipeline.recipe import METHOD_NAMES, load_recipe
from plugdata.sources.read import resolve_path

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


@pytest.mark.parametrize("path", sorted(RECIPES.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_recipe_validates(path):
    recipe = load_recipe(path)
    assert set(recipe.targets) >= {"zh", "ko", "it", "es"}


def test_demo_corpus_meets_its_brief():
    recipe = load_recipe(RECIPES / "demo.yaml")
    files = {"en": recipe.source.path} | {k: t.align.path for k, t in recipe.targets.items()}
    rows = {
        lang: [
            json.loads(x) for x in resolve_path(p, recipe.base_dir).read_text("utf-8").splitlines()
        ]
        for lang, p in files.items()
    }
    ids = [r["id"] for r in rows["en"]]
    assert len(ids) >= 40 and len(set(ids)) == len(ids)
    assert all([r["id"] for r in data] == ids for data in rows.values())
    outputs = [r["output"] for r in rows["en"]]
    assert sum("```" in o for o in outputs) >= 3
    assert sum("`" in o.replace("```", "") for o in outputs) >= 3
    assert (
        sum(o.lstrip().startswith(("1.", "-", "*")) or "\n1." in o or "\n- " in o for o in outputs)
        >= 3
    )
    assert sum(any(ch.isdigit() for ch in o) for o in outputs) >= 5
    assert sum(len(o) < 20 for o in outputs) >= 3


def test_demo_build_is_clean_and_every_config_loads(tmp_path):
    report = build(load_recipe(RECIPES / "demo.yaml"), tmp_path, config=RunConfig(quiet=True))
    assert set(report.ledgers) == {"zh", "ko", "it", "es"}
    for lang, ledger in report.ledgers.items():
        assert ledger.rows_in == ledger.kept, (lang, dict(ledger.quarantined))
    root = tmp_path / "plug-demo"
    for lang in ("zh", "ko", "it", "es"):
        for config in [lang] + [f"{lang}-{m}" for m in METHOD_NAMES]:
            loaded = datasets.load_dataset(str(root), config)
            assert set(loaded) == {"train", "validation"}
            assert loaded["train"].num_rows == report.configs[config]["train"]


X_ITEMS = [
    (
        1,
        "helpful_base",
        "What are some good board games for a family evening?",
        "有哪些适合家庭晚上玩的桌游？",
        "Quali sono dei buoni giochi da tavolo per una serata in famiglia?",
    ),
    (
        2,
        "vicuna",
        "Write a short poem about the first snow of winter.",
        "写一首关于冬天第一场雪的短诗。",
        "Scrivi una breve poesia sulla prima neve dell'inverno.",
    ),
    (
        3,
        "koala",
        "How do I remove a coffee stain from a white shirt?",
        "怎样去除白衬衫上的咖啡渍？",
        "Come si toglie una macchia di caffè da una camicia bianca?",
    ),
]


def test_x_alpacaeval_recipe_builds_eval_configs_from_local_files(tmp_path):
    from click.testing import CliRunner

    from plugdata.cli import cli

    files = {}
    for lang, col in (("en", 2), ("zh", 3), ("it", 4), ("ko", 3), ("es", 4)):
        data = [
            {"id": i, "dataset": d, "instruction": item[col]}
            for i, d, *_ in X_ITEMS
            for item in [next(x for x in X_ITEMS if x[0] == i)]
        ]
        files[lang] = tmp_path / f"{lang}.json"
        files[lang].write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    args = [
        "build",
        str(RECIPES / "x-alpacaeval.yaml"),
        "--out",
        str(tmp_path / "out"),
        "--quiet",
        "--lang",
        "zh",
        "--lang",
        "it",
    ]
    for lang in ("en", "zh", "it"):
        args += ["--corpus", f"{lang}={files[lang]}"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    ds = datasets.load_dataset(str(tmp_path / "out" / "x-alpacaeval"), "zh", split="test")
    assert ds.num_rows == 3
    assert set(ds.column_names) == {
        "id",
        "source",
        "pivot_lang",
        "target_lang",
        "pivot_instruction",
        "target_instruction",
        "dataset",
        "meta",
    }
    assert ds[0]["id"] == "x-alpacaeval/1" and ds[0]["dataset"] == "helpful_base"
    assert ds[2]["target_instruction"] == "怎样去除白衬衫上的咖啡渍？"
    manifest = json.loads((tmp_path / "out" / "x-alpacaeval" / "manifest.json").read_text())
    assert manifest["configs"]["zh"]["type"] == "eval"
    assert str(tmp_path) not in manifest["configs"]["zh"]["made_by"]


def test_eval_sets_flag_rather_than_drop_failed_checks(tmp_path):
    rows_en = [
        {"id": i, "instruction": t}
        for i, t in enumerate(
            [
                "Name three rivers in Europe and the countries they cross.",
                "Explain how a rainbow forms after the rain.",
            ]
        )
    ]
    rows_it = [
        {"id": 0, "instruction": "Nombra tres ríos de Europa y los países que cruzan."},
        {"id": 1, "instruction": "Spiega come si forma un arcobaleno dopo la pioggia."},
    ]
    for name, rows in (("en", rows_en), ("it", rows_it)):
        (tmp_path / f"{name}.json").write_text(json.dumps(rows, ensure_ascii=False), "utf-8")
    (tmp_path / "r.yaml").write_text(
        "name: ev\nkind: eval\nsource: {name: ev, path: en.json}\n"
        "targets: {it: {align: {path: it.json}}}\ncard: {pretty_name: Ev, license: mit}\n",
        "utf-8",
    )
    report = build(load_recipe(tmp_path / "r.yaml"), tmp_path / "out", config=RunConfig(quiet=True))
    ledger = report.ledgers["it"]
    assert ledger.kept == 2 and ledger.flagged == {"wrong-language:target_instruction": 1}
    ds = datasets.load_dataset(str(tmp_path / "out" / "ev"), "it", split="test")
    assert "failed:wrong-language:target_instruction" in ds[0]["meta"]["flags"]


def test_hub_source_goes_through_datasets_load_dataset(tmp_path):
    """A `hub:` corpus is read with datasets.load_dataset; a local repo folder stands in for the
    Hub here (publishing tests run a real Hub-protocol server)."""
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "english.json").write_text(
        json.dumps([{"id": i, "dataset": d, "instruction": en} for i, d, en, *_ in X_ITEMS]),
        "utf-8",
    )
    (repo / "chinese.json").write_text(
        json.dumps(
            [{"id": i, "dataset": d, "instruction": zh} for i, d, _, zh, _ in X_ITEMS],
            ensure_ascii=False,
        ),
        "utf-8",
    )
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        f"""name: hubbed
kind: eval
source:
  name: hubbed
  hub: {{repo: {repo}, data_files: english.json}}
targets:
  zh: {{align: {{hub: {{repo: {repo}, data_files: chinese.json}}, join: id}}}}
card: {{pretty_name: Hubbed, license: mit}}
""",
        "utf-8",
    )
    report = build(load_recipe(recipe), tmp_path / "out", config=RunConfig(quiet=True))
    assert report.ledgers["zh"].kept == 3
    manifest = json.loads((tmp_path / "out" / "hubbed" / "manifest.json").read_text())
    assert manifest["configs"]["zh"]["source"]["revision"] == "main"


TRANSLATING = [p for p in sorted(RECIPES.glob("*.yaml")) if "translate:" in p.read_text()]


@pytest.mark.parametrize("path", TRANSLATING, ids=lambda p: p.name)
def test_shipped_translate_targets_have_valid_backend_options(path):
    """Every backend of a shipped recipe takes the options it is given, each as written (a key
    a backend does not know is refused when the recipe loads)."""
    from plugdata.translate.backends import backend_options

    recipe = load_recipe(path)
    specs = [
        spec
        for target in recipe.targets.values()
        if target.translate is not None
        for spec in [target.translate, *target.translate.fallback]
    ]
    assert specs
    for spec in specs:
        parsed = backend_options(spec.backend, spec.options, path.name)
        assert {key: getattr(parsed, key) for key in spec.options} == spec.options


def test_some_shipped_recipes_translate():
    assert len(TRANSLATING) >= 2
