"""`manifest.json`, typed: what a dataset folder holds and how each config was made.

The manifest is read by build, staging, publish, the card and the trainer; these models are the
one description of its fields. Reading validates it (a file that is not a plugdata manifest is a
one-line FolderError in `folder.read_manifest`), and writing gives back exactly the keys that
were set, so that a manifest from an older plugdata, or a field a newer one added, passes through
a build or a publish unchanged.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

ConfigType = Literal["triples", "eval", "method"]


class _Entry(BaseModel):
    # Unknown keys are kept: a newer plugdata's manifest must survive an older one's publish.
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


class Counts(_Entry):
    """Every row read is kept or quarantined with a reason (the ledger, as written)."""

    rows_in: int = Field(alias="in")
    kept: int
    quarantined: dict[str, int] = Field(default_factory=dict)
    flagged: dict[str, int] = Field(default_factory=dict)
    unused_target_rows: int | None = None


class LidInfo(_Entry):
    detector: str
    thresholds: dict[str, float] = Field(default_factory=dict)
    min_letters: int | None = None
    short_text: str | None = None
    script_share: float | None = None


class ConfigEntry(_Entry):
    """One config (`<lang>` or `<lang>-<method>`): its files and how it was made."""

    language: str
    splits: dict[str, int]
    # {relative path: sha256}; an older plugdata listed paths only (no hash: None).
    files: dict[str, str | None] = Field(default_factory=dict)
    type: ConfigType = "triples"
    pivot: str = "en"
    method: str | None = None
    sha256: dict[str, str] = Field(default_factory=dict)  # content hash per split
    bytes: dict[str, int] = Field(default_factory=dict)
    recipe: dict[str, str] | None = None  # file name and sha256 of the recipe
    source: dict[str, Any] = Field(default_factory=dict)  # the pivot corpus (file or Hub)
    target_source: dict[str, Any] = Field(default_factory=dict)  # aligned corpus or backend
    made_by: str = ""
    lid: LidInfo | None = None
    validation: dict[str, Any] = Field(default_factory=dict)
    counts: Counts | None = None
    on_check_failure: str | None = None
    pivot_rows: bool | None = None  # method configs: the paper's pivot rows mixed in
    kinds: dict[str, int] | None = None  # method configs: rows per kind
    example: dict[str, Any] | None = None  # method configs: one row for the card

    @field_validator("files", mode="before")
    @classmethod
    def _listed_paths(cls, value: Any) -> Any:
        return dict.fromkeys(value) if isinstance(value, list) else value


class QuarantineEntry(_Entry):
    file: str
    sha256: str | None = None
    rows: int = 0


class Manifest(_Entry):
    name: str = ""
    recipe: str | None = None  # the recipe file's name
    kind: Literal["train", "eval"] | None = None
    pretty_name: str = ""
    license: str = ""
    description: str = ""
    source_datasets: list[str] = Field(default_factory=list)
    libraries: dict[str, str] = Field(default_factory=dict)
    # code -> English name of every language the folder holds, so that the card can be rendered
    # from the manifest alone, for languages a recipe declared too.
    language_names: dict[str, str] = Field(default_factory=dict)
    configs: dict[str, ConfigEntry] = Field(default_factory=dict)
    # Absent in manifests of an older plugdata, which did not list their quarantine tables.
    quarantine: dict[str, QuarantineEntry] | None = None

    def configs_of(self, lang: str) -> dict[str, ConfigEntry]:
        return {name: info for name, info in self.configs.items() if info.language == lang}

    def languages(self) -> list[str]:
        return sorted({info.language for info in self.configs.values()})

    def to_json(self) -> dict[str, Any]:
        data = super().to_json()
        data["configs"] = {name: info.to_json() for name, info in sorted(self.configs.items())}
        return data
