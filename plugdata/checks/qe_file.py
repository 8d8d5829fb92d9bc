"""`plugdata qe`: cross-lingual agreement of every pair of texts in a file, as a build scores
its triples: the same scorers, thresholds and cache, a summary, one JSON line per pair with
`--report`, and a histogram of the scores as an SVG picture.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field
from tqdm.auto import tqdm

from plugdata.checks.alignment import (
    DEFAULT_SCORER,
    AlignmentCache,
    AlignmentSettings,
    cached_scores,
)
from plugdata.checks.scorers import make_scorer
from plugdata.checks.validate import ValidationSettings, has_words
from plugdata.core.languages import LANGUAGES
from plugdata.core.outputs import refuse_overwrite
from plugdata.core.textproc import has_letters, strip_code_and_urls
from plugdata.errors import SourceError
from plugdata.sources.corpus import Corpus
from plugdata.sources.read import raw_rows

BATCH = 256  # pairs scored, and cached, at a time


class QeOptions(BaseModel):
    """Which pairs of which file to score, and how: the argument and flags of `plugdata qe`."""

    model_config = ConfigDict(extra="forbid")

    file: Path = Field(
        description="A file of pairs (json, jsonl, csv, parquet).",
        json_schema_extra={
            "argument": True,
            "path": "file",
            "exists": True,
            "io": "read",
            "role": "the input",
        },
    )
    pivot_field: str = Field(description="Column of the pivot (source) texts.")
    target_field: str = Field(description="Column of the target (translated) texts.")
    pivot_lang: str = Field("en", description="Language of the pivot texts.")
    target_lang: str = Field(description="Language of the target texts.")
    scorer: str = Field(
        DEFAULT_SCORER, description="The scorer (use-m3, sentence-transformers, llm, round-trip)."
    )
    min_score: float | None = Field(
        None, description="Least score of a pair that agrees (default: the scorer's own)."
    )
    options: list[str] = Field(
        default_factory=list,
        description="A scorer option, e.g. model=... (repeatable).",
        json_schema_extra={"flag": "--option", "metavar": "KEY=VALUE"},
    )
    report: Path | None = Field(
        None,
        description="Write one JSON line per row (score, pass) to this file.",
        json_schema_extra={"path": "file", "io": "write"},
    )
    histogram: Path | None = Field(
        None,
        description="The histogram of the scores, as SVG (default: qe-<FILE stem>.svg here).",
        json_schema_extra={"path": "file", "io": "write"},
    )
    dry_run: bool = Field(False, description="Count the pairs (and the cost of an API scorer).")


@dataclass
class QeReport:
    file: Path
    threshold: float
    scorer: str
    rows: int = 0
    short: int = 0  # too short to judge: not scored
    skipped: list[str] = field(default_factory=list)  # rows without two texts
    unscored: int = 0  # the scorer could not score them
    scores: list[float] = field(default_factory=list)
    histogram: Path | None = None
    cost: float | None = None  # a dry run's estimate, for an API scorer

    def summary(self) -> str:
        below = sum(1 for s in self.scores if s < self.threshold)
        lines = [
            f"{self.file}: {self.rows} pairs, scorer {self.scorer}",
            f"scored {len(self.scores)}, too short to judge {self.short}, "
            f"not scored {self.unscored}, without two texts {len(self.skipped)}",
        ]
        if self.cost is not None:
            lines.append(f"estimated cost {self.cost:.4f} USD (dry run, nothing sent)")
        if self.scores:
            import numpy as np

            q = np.quantile(self.scores, [0.01, 0.05, 0.25, 0.5, 0.75, 0.95])
            lines.append(
                "quantiles p1 {:.3f}, p5 {:.3f}, p25 {:.3f}, median {:.3f}, p75 {:.3f}, "
                "p95 {:.3f}".format(*q)
            )
            lines.append(
                f"below {self.threshold:g}: {below} of {len(self.scores)} "
                f"({below / len(self.scores):.2%})"
            )
        if self.histogram is not None:
            lines.append(f"histogram: {self.histogram}")
        return "\n".join(lines)


def qe_file(options: QeOptions) -> QeReport:
    """Score the pairs of `options.file` (see the module doc)."""
    from plugdata.translate.backends import parse_options

    for code in (options.pivot_lang, options.target_lang):
        LANGUAGES.get(code)  # an unknown code: one line now
    picture = options.histogram or Path(f"qe-{options.file.stem}.svg")
    writes = [("--histogram", picture)] + ([("--report", options.report)] if options.report else [])
    refuse_overwrite(reads=[("the input", options.file)], writes=writes)
    min_score = {} if options.min_score is None else {"default": options.min_score}
    settings = AlignmentSettings(
        scorer=options.scorer, min_score=min_score, options=parse_options(options.options)
    )
    cache = AlignmentCache()
    scorer = make_scorer(settings.scorer, settings.options, "--option", cache)
    report = QeReport(options.file, settings.threshold(options.target_lang, scorer), scorer.label)
    pairs = _pairs(options, report)
    if options.dry_run:
        estimate = getattr(scorer, "estimate", None)
        if estimate is not None:
            report.cost = estimate([p for _, p in pairs], options.pivot_lang, options.target_lang)
        return report
    out = options.report.open("w", encoding="utf-8") if options.report else None
    try:
        _score(scorer, cache, options, pairs, report, out)
    finally:
        if out:
            out.close()
        scorer.close()
        cache.close()
    report.histogram = write_histogram(picture, report.scores, report.threshold, scorer.label)
    return report


def _pairs(options: QeOptions, report: QeReport) -> list[tuple[int, tuple[str, str]]]:
    """(row, (pivot, target)) of every row holding two texts; too short ones are counted."""
    pairs = []
    names = (options.pivot_field, options.target_field)
    for i, (where, row) in enumerate(raw_rows(Corpus(path=str(options.file)), Path.cwd())):
        if i == 0:
            missing = [n for n in names if n not in row]
            if missing:
                raise SourceError(f"{where}: no column {missing[0]!r}; available: {', '.join(row)}")
        report.rows += 1
        pivot, target = row.get(names[0]), row.get(names[1])
        if not (isinstance(pivot, str) and isinstance(target, str) and target.strip()):
            report.skipped.append(where)
        elif not _judgeable(strip_code_and_urls(pivot)):
            report.short += 1
        else:
            pairs.append((i, (pivot, target)))
    return pairs


def _judgeable(prose: str) -> bool:
    """Enough prose to judge, by a build's rule (`ValidationSettings` min_letters, min_words)."""
    settings = ValidationSettings()
    return has_letters(prose, settings.min_letters) and has_words(prose, settings.min_words)


def _score(scorer, cache, options, pairs, report, out) -> None:
    bar = tqdm(total=len(pairs), desc="qe", unit="pair", disable=None, leave=False)
    for start in range(0, len(pairs), BATCH):
        batch = pairs[start : start + BATCH]
        texts = [pair for _, pair in batch]
        scores = cached_scores(scorer, cache, texts, options.pivot_lang, options.target_lang)
        for (row, _), score in zip(batch, scores, strict=True):
            if score is None:
                report.unscored += 1
            else:
                report.scores.append(score)
            if out:
                passed = None if score is None else score >= report.threshold
                out.write(json.dumps({"row": row, "score": score, "pass": passed}) + "\n")
        bar.update(len(batch))
    bar.close()


def write_histogram(path: Path, scores: list[float], threshold: float, title: str) -> Path:
    """The scores' histogram in 40 bins over [min(0, lowest), 1], the threshold marked, as a
    small SVG (no plotting library needed)."""
    low = min([0.0, *scores])
    bins, width, height = 40, 640, 240
    counts = [0] * bins
    for s in scores:
        counts[min(bins - 1, int((s - low) / (1 - low) * bins))] += 1
    top = max(counts) or 1
    bar = (width - 40) / bins
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 40}">',
        f'<text x="20" y="16" font-size="12">{_xml(title)}: {len(scores)} pairs</text>',
    ]
    for i, n in enumerate(counts):
        h = n / top * height
        parts.append(
            f'<rect x="{20 + i * bar:.1f}" y="{20 + height - h:.1f}" width="{bar - 1:.1f}" '
            f'height="{h:.1f}" fill="#4c78a8"><title>{n}</title></rect>'
        )
    x = 20 + (threshold - low) / (1 - low) * (width - 40)
    parts.append(
        f'<line x1="{x:.1f}" y1="20" x2="{x:.1f}" y2="{20 + height}" stroke="#e45756" '
        f'stroke-width="2"/><text x="{x + 4:.1f}" y="34" font-size="11">min {threshold:g}</text>'
    )
    parts.append(
        f'<text x="20" y="{height + 36}" font-size="11">{low:g}</text>'
        f'<text x="{width - 30}" y="{height + 36}" font-size="11">1</text></svg>'
    )
    path.write_text("\n".join(parts) + "\n", encoding="utf-8")
    return path


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
