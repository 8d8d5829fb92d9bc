"""How a run of the pipeline does its work, whatever it makes: where its parallel work runs, how
much of it runs at once, and the sizes of the pieces it streams.

One `RunConfig` is built per run, from the command line or from Python, and passed down; every
tunable of the pipeline is a field here (and so a flag of `plugdata build` and `plugdata
translate`), not a module constant. Kinds of parallelism have one word each, in code, flags and
docs: **workers** are the processes (or Ray actors) that run the chunk stages; **concurrency**
is the number of requests a translation backend has in flight (a recipe's `concurrency:`, the
`--concurrency` of `plugdata translate`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from plugdata.core.options import Quiet

_HIDDEN = {"hidden": True}  # tunables for tests and experiments, kept out of `--help`


class RunConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    executor: Literal["local", "ray"] = Field(
        "local",
        description="Where the chunk stages and a run's translation requests run: this "
        "machine's processes and threads, or Ray actors (needs plugdata[ray]).",
    )
    ray_address: str | None = Field(
        None,
        description="With --executor ray: the cluster to join (auto: this machine's; default "
        "$RAY_ADDRESS, else a local Ray).",
        json_schema_extra={"metavar": "ADDR"},
    )
    workers: int | None = Field(
        None,
        ge=1,
        description="Processes (with --executor ray: Ray actors) that make, check and route "
        "the rows of each chunk (default: one per core, or per CPU of the Ray cluster).",
    )
    chunk_rows: int = Field(
        8_192,
        ge=1,
        description="Source rows read, checked and written at a time: a run holds a few chunks, "
        "so memory grows with this, not with the corpus.",
    )
    window_rows: int = Field(
        20_000,
        ge=1,
        description="Source rows translated at a time; the cost cap, the cache and the "
        "failure monitors span the windows.",
    )
    task_rows: int = Field(
        1_024,
        ge=1,
        description="Rows of a chunk per task of a worker.",
        json_schema_extra=_HIDDEN,
    )
    # Measured on 2 cores: a second process checks 2,000 triples no faster than this one
    # (0.24 s either way: what it saves, sending the rows and verdicts costs), while a build of
    # 52,000 rows is 1.22x faster with two workers than with one.
    inline_rows: int = Field(
        2_048,
        ge=0,
        description="A chunk with fewer rows to check than this is done in this process.",
        json_schema_extra=_HIDDEN,
    )
    read_rows: int = Field(
        1_000,
        ge=1,
        description="Source rows checked for duplicates and joined at a time.",
        json_schema_extra=_HIDDEN,
    )
    offline: bool = Field(
        False,
        description="Translate from the cache alone: stop before anything is sent, naming the "
        "first segment the cache lacks.",
    )
    retry_rejected: bool = Field(
        False,
        description="Ask the backend again for cached answers that the content checks "
        "rejected (an echo of the source, the wrong language), instead of reusing them.",
    )
    quiet: Quiet = False

    @model_validator(mode="after")
    def _address_needs_ray(self) -> RunConfig:
        if self.ray_address and self.executor != "ray":
            raise ValueError("--ray-address: only with --executor ray")
        return self

    @property
    def progress(self) -> bool:
        return not self.quiet
