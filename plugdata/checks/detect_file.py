"""`plugdata detect`: language identification over one field of any corpus file.

`DetectOptions` is what the command is asked to do; its flags are derived from that model
(`plugdata.core.options`).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from tqdm.auto import tqdm

from plugdata.checks.detect import DEFAULT_DETECTOR, DETECTORS
from plugdata.checks.validate import ValidationSettings, Validator
from plugdata.core.languages import LANGUAGES
from plugdata.core.options import refuse_overwrite_of
from plugdata.core.schema import LidResult
from plugdata.errors import SourceError
from plugdata.sources.corpus import Corpus
from plugdata.sources.read import lone_surrogate_free, raw_rows

EMPTY = "(empty)"  # the label of an empty or whitespace-only text


class DetectOptions(BaseModel):
    """Which field of which file to check, and how: the argument and flags of `plugdata detect`."""

    model_config = ConfigDict(extra="forbid")

    file: Path = Field(
        description="The corpus file (json, jsonl, csv, parquet).",
        json_schema_extra={"argument": True, "path": "file", "io": "read", "role": "the input"},
    )
    field_name: str = Field(
        description="Column holding the text to check.", json_schema_extra={"flag": "--field"}
    )
    expect: str | None = Field(
        None,
        description="Expected language; adds pass/fail and accuracy.",
        json_schema_extra={"metavar": "LANG"},
    )
    detector: Literal[tuple(DETECTORS)] = Field(
        DEFAULT_DETECTOR, description="Language identifier."
    )
    report: Path | None = Field(
        None,
        description="Write one JSON line per row (label, score, pass) to this file.",
        json_schema_extra={"path": "file", "io": "write"},
    )


@dataclass
class DetectReport:
    file: Path
    field: str
    expect: str | None
    rows: int = 0
    labels: Counter = field(default_factory=Counter)
    passed: int = 0
    skipped: list[str] = field(default_factory=list)
    invalid_text: list[str] = field(default_factory=list)  # lone surrogates, replaced

    def summary(self) -> str:
        top = ", ".join(f"{label or '(too short)'} {n}" for label, n in self.labels.most_common(6))
        lines = [f"{self.file}: {self.rows} rows, field {self.field!r}", f"labels: {top or '-'}"]
        if self.expect:
            share = self.passed / self.rows if self.rows else 0.0
            lines.append(
                f"expected {self.expect}: {self.passed}/{self.rows} pass (accuracy {share:.2%})"
            )
        if self.skipped:
            lines.append(
                f"{len(self.skipped)} rows without a string in {self.field!r} "
                f"(first: {self.skipped[0]})"
            )
        if self.invalid_text:
            lines.append(
                f"{len(self.invalid_text)} rows hold invalid text (lone surrogates, read as "
                f"U+FFFD; first: {self.invalid_text[0]})"
            )
        return "\n".join(lines)


def detect_file(options: DetectOptions) -> DetectReport:
    """Identify the language of `options.field_name` in every row of `options.file`."""
    refuse_overwrite_of(options)  # as the command does: called from Python too
    path, field_name, expect = options.file, options.field_name, options.expect
    if expect:
        LANGUAGES.get(expect)  # an unknown code: one line now, before any row is read
    validator = Validator(ValidationSettings(detector=options.detector))
    result = DetectReport(path, field_name, expect)
    out = options.report.open("w", encoding="utf-8") if options.report else None
    try:
        rows = raw_rows(Corpus(path=str(path)), Path.cwd())
        for i, (where, row) in enumerate(
            tqdm(rows, desc="detect", disable=None, unit="row", leave=False)
        ):
            if i == 0 and field_name not in row:
                raise SourceError(f"{where}: no column {field_name!r}; available: {', '.join(row)}")
            value = row.get(field_name)
            if not isinstance(value, str):
                result.skipped.append(where)
                continue
            problems: list[str] = []
            value = lone_surrogate_free(value, field_name, problems)
            if problems:
                result.invalid_text.append(where)
            label, lid = _identify(validator, value, expect, field_name)
            passed = lid.passed if expect else None
            result.rows += 1
            result.labels[label] += 1
            result.passed += bool(passed)
            if out:
                record = {"row": i, "label": label, "score": lid.score, "basis": lid.basis}
                record["pass"] = passed
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
    finally:
        if out:
            out.close()
    return result


def _identify(
    validator: Validator, text: str, expect: str | None, field_name: str
) -> tuple[str, LidResult]:
    """The label to count for `text`, and the check's result against `expect`."""
    if not text.strip():  # nothing to identify: never a pass, whatever the too-short policy says
        return EMPTY, LidResult(field_name, expect or "en", EMPTY, 0.0, False, "empty")
    lid = validator.check_language(text, expect or "en", field_name)
    return (lid.label if lid.basis == "detector" else _label(validator, text)), lid


def _label(validator: Validator, text: str) -> str:
    """Best guess for texts the check settled without the detector (short or script-based)."""
    from plugdata.core.textproc import strip_code_and_urls

    prose = strip_code_and_urls(text)
    dist = (
        validator.detector.detect(prose, validator.languages)
        if validator.detector and prose
        else {}
    )
    return max(dist, key=dist.get, default="")
