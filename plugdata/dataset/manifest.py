"""`manifest.json`, typed: what a dataset folder holds and how each config was made.

The manifest is read by build, staging, publish, the card and the trainer; these models are the
one description of its fields. Reading validates it (`folder.parse_manifest`): a file that lacks a
field a build writes, or holds a key these models do not know, is not a plugdata manifest, and is
refused in one line naming the field. Writing gives back every field (those of a method config
only for method configs).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ConfigType = Literal["triples", "eval", "method"]
# What a method config records beyond any config, and only a method config. `example` may be
# None (a config without a row to show), and so may `system_prompt` (rows without a system
# turn), which is written all the same: its absence would not say which.
METHOD_FIELDS = ("method", "pivot_rows", "kinds", "example", "system_prompt")


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


class Counts(_Entry):
    """Every row read is kept or quarantined with a reason (the ledger, as written)."""

    rows_in: int = Field(alias="in")
    kept: int
    quarantined: dict[str, int]
    flagged: dict[str, int]
    unused_target_rows: int | None  # target rows matching no pivot row (None: not counted)


class LidInfo(_Entry):
    detector: str
    thresholds: dict[str, float]
    min_letters: int
    short_text: str
    script_share: float


class ConfigEntry(_Entry):
    """One config (`<lang>` or `<lang>-<method>`): its files and how it was made."""

    language: str
    splits: dict[str, int]
    files: dict[str, str]  # {relative path: sha256}
    type: ConfigType
    pivot: str
    sha256: dict[str, str]  # content hash per split
    bytes: dict[str, int]  # parquet bytes per split (what a download costs)
    # Per split, the in-memory Arrow size of its rows as written (`SplitWriter.arrow_bytes`):
    # what `datasets` records as `SplitInfo.num_bytes`, within the few bytes by which the
    # buffers of the tables it reads back differ from those written.
    arrow_bytes: dict[str, int]
    # The columns in `datasets`' YAML form (`features:` of the card's `dataset_info`).
    features: list[dict[str, Any]]
    recipe: dict[str, str]  # file name and sha256 of the recipe
    source: dict[str, Any]  # the pivot corpus (file or Hub)
    target_source: dict[str, Any]  # aligned corpus or backend
    made_by: str
    lid: LidInfo
    validation: dict[str, Any]
    counts: Counts
    on_check_failure: str
    # The evaluation sets the rows were checked against: name, kind, where from, texts.
    decontamination: list[dict[str, Any]] = Field(default_factory=list)
    # The alignment scorer, its thresholds, and the scores' distribution per target field
    # (None: the check was off).
    alignment: dict[str, Any] | None = None
    method: str | None = None
    pivot_rows: bool | None = None  # the paper's pivot rows mixed in
    kinds: dict[str, int] | None = None  # rows per kind
    example: dict[str, Any] | None = None  # one row for the card
    system_prompt: str | None = None  # the text of every row's system turn (None: none)

    @model_validator(mode="after")
    def _method_fields(self) -> ConfigEntry:
        if self.type == "method":
            lacking = [f for f in ("method", "pivot_rows", "kinds") if getattr(self, f) is None]
            lacking += [] if "system_prompt" in self.model_fields_set else ["system_prompt"]
            if lacking:
                raise ValueError(f"has no `{lacking[0]}`, which every method config has")
        else:
            stray = [f for f in METHOD_FIELDS if getattr(self, f) is not None]
            if stray:
                raise ValueError(f"has `{stray[0]}`, which only a method config has")
        return self

    def to_json(self) -> dict[str, Any]:
        exclude = None if self.type == "method" else set(METHOD_FIELDS)
        return self.model_dump(mode="json", by_alias=True, exclude=exclude)


class QuarantineEntry(_Entry):
    file: str
    sha256: str
    rows: int


class Manifest(_Entry):
    """The whole folder. A manifest file holds every field, and a quarantine entry for each
    language (`folder.parse_manifest` refuses one that lacks any); the defaults make the empty
    manifest of a folder or repo that plugdata has not written to yet."""

    name: str = ""
    recipe: str = ""  # the recipe file's name
    kind: Literal["train", "eval"] | None = None  # None: the empty manifest
    pretty_name: str = ""
    license: str = ""
    description: str = ""
    source_datasets: list[str] = Field(default_factory=list)
    libraries: dict[str, str] = Field(default_factory=dict)
    # code -> English name of every language the folder holds, so that the card can be rendered
    # from the manifest alone, for languages a recipe declared too.
    language_names: dict[str, str] = Field(default_factory=dict)
    # The config `load_dataset(folder)` loads when given no config name ("": no config yet).
    default_config: str = ""
    configs: dict[str, ConfigEntry] = Field(default_factory=dict)
    quarantine: dict[str, QuarantineEntry] = Field(default_factory=dict)

    def configs_of(self, lang: str) -> dict[str, ConfigEntry]:
        return {name: info for name, info in self.configs.items() if info.language == lang}

    def languages(self) -> list[str]:
        return sorted({info.language for info in self.configs.values()})

    def choose_default(self, *preferred: str) -> str:
        """The default config: the first of `preferred` that the manifest holds (the one chosen
        before comes first, so building or publishing another language never moves it), else
        the first `plug` config, else the first config.

        >>> Manifest().choose_default("zh-plug")
        ''
        """
        for name in preferred:
            if name in self.configs:
                return name
        names = sorted(self.configs)
        plug = [name for name in names if self.configs[name].method == "plug"]
        return (plug or names or [""])[0]

    def to_json(self) -> dict[str, Any]:
        data = super().to_json()
        data["configs"] = {name: info.to_json() for name, info in sorted(self.configs.items())}
        return data
