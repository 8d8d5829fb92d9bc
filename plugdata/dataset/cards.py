"""The dataset card (README.md with YAML header), regenerated from the merged manifest.

Rendered with huggingface_hub's `DatasetCard.from_template` so the header validates as the Hub
expects; the template lives in `datasets_cards/`. What each method means comes from the method
table (`formats.METHODS`), language names from the manifest's `language_names`.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any

from plugdata.checks.alignment import least_scores
from plugdata.core.formats import METHODS
from plugdata.core.languages import LANGUAGES
from plugdata.dataset.folder import config_entries, dataset_info_entries
from plugdata.dataset.manifest import ConfigEntry, Manifest

TEMPLATE = "plug_dataset.md"


def _size_category(rows: int) -> str:
    for limit, label in [
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
        (10_000_000, "1M<n<10M"),
    ]:
        if rows < limit:
            return label
    return "n>10M"


def _what(info: ConfigEntry) -> str:
    if info.type == "triples":
        return f"{info.pivot}→{info.language} triples"
    if info.type == "eval":
        return f"{info.language} evaluation instructions (with {info.pivot})"
    return f"`{info.method}` training rows ({info.language})"


def _name(manifest: Manifest, code: str) -> str:
    """A language's English name: the manifest's, else the table's. A build records the names
    of its recipe's languages; one it keeps from an earlier build, of a recipe that has since
    dropped it, has none there."""
    if code in manifest.language_names:
        return manifest.language_names[code]
    return LANGUAGES.get(code).name if code in LANGUAGES else code


def _methods(configs: dict[str, ConfigEntry]) -> list[dict[str, Any]]:
    """One entry per method present, with an example from the first config that has one."""
    out = []
    for method in METHODS.values():
        names = [n for n, i in configs.items() if i.method == method.name]
        if names:
            example = next((configs[n].example for n in names if configs[n].example), None)
            config = next((n for n in names if configs[n].example), names[0])
            out.append(
                {"name": method.name, "about": method.about, "example": example, "config": config}
            )
    return out


def _system_prompts(configs: dict[str, ConfigEntry]) -> list[dict[str, str]]:
    """Each method config's system turn, as a markdown table cell (None: none)."""
    return [
        {
            "config": name,
            "text": (info.system_prompt or "(none)").replace("|", "\\|").replace("\n", "<br>"),
        }
        for name, info in configs.items()
        if info.type == "method"
    ]


def _decontamination(configs: dict[str, ConfigEntry]) -> list[dict[str, Any]]:
    """The evaluation sets the data was checked against, with the rows each took out."""
    sets: dict[str, dict[str, Any]] = {}
    for info in configs.values():
        if info.type == "method":
            continue
        for entry in info.decontamination:
            found = sets.setdefault(entry["name"], {**entry, "rows": 0})
            found["rows"] += info.counts.quarantined.get(f"contaminated:{entry['name']}", 0)
    return list(sets.values())


def _alignment(configs: dict[str, ConfigEntry]) -> dict[str, Any] | None:
    """The alignment scorer, its thresholds, and each language's scores per field."""
    scored = [(n, i) for n, i in configs.items() if i.type != "method" and i.alignment]
    if not scored:
        return None
    rows = [
        {"language": name, "field": field, **stats, **stats["quantiles"]}
        for name, info in scored
        for field, stats in info.alignment["fields"].items()
    ]
    first = scored[0][1].alignment
    least = least_scores(first["min_score"])
    return {"scorer": first["scorer"], "min_score": least, "rows": rows}


def render_card(manifest: Manifest, repo_hint: str) -> str:
    """The card of a folder or repo, from its manifest alone."""
    from huggingface_hub import DatasetCard, DatasetCardData

    configs = manifest.configs
    langs = sorted({c.language for c in configs.values()} | {c.pivot for c in configs.values()})
    largest = max((sum(c.splits.values()) for c in configs.values()), default=0)
    data = DatasetCardData(
        language=langs,
        license=manifest.license,
        pretty_name=manifest.pretty_name,
        task_categories=["text-generation"],
        size_categories=[_size_category(largest)],
        source_datasets=manifest.source_datasets or None,
        configs=config_entries(manifest),
        dataset_info=dataset_info_entries(manifest),
    )
    language_rows = [
        {
            "code": name,
            "rows_in": info.counts.rows_in,
            "kept": info.counts.kept,
            "quarantined": sum(info.counts.quarantined.values()),
            "reasons": ", ".join(f"{r} {n}" for r, n in info.counts.quarantined.items()) or "-",
            "made_by": info.made_by,
        }
        for name, info in configs.items()
        if info.type in ("triples", "eval")
    ]
    first = next(iter(configs.values()), None)
    lid = first.lid if first else None
    example = next((n for n, i in configs.items() if i.type != "method"), "")
    template = Path(str(files("datasets_cards") / TEMPLATE))
    card = DatasetCard.from_template(
        data,
        template_path=str(template),
        pretty_name=manifest.pretty_name,
        description=manifest.description,
        pivot_name=_name(manifest, first.pivot) if first else "English",
        default_config=manifest.default_config,
        configs=[
            {
                "name": n,
                "default": n == manifest.default_config,
                "what": _what(i),
                "splits": ", ".join(f"{s}: {k}" for s, k in i.splits.items()),
            }
            for n, i in configs.items()
        ],
        languages=language_rows,
        detector=lid.detector if lid else "",
        thresholds=lid.thresholds if lid else {},
        repo_hint=repo_hint,
        example_config=example,
        example_split=next(iter(configs[example].splits), "train") if example else "train",
        example_method_config=next((n for n, i in configs.items() if i.type == "method"), ""),
        methods=_methods(configs),
        system_prompts=_system_prompts(configs),
        min_letters=lid.min_letters if lid else "",
        decontamination=_decontamination(configs),
        alignment=_alignment(configs),
    )
    return str(card)
