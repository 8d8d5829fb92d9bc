"""Ray, the engine past one machine: connecting to it, and the stages every Ray pipeline of
plugdata reuses (language validation as a Ray Data `map_batches` stage).

`connect()` joins the cluster named by `--ray-address` or `$RAY_ADDRESS` (`auto`: the one this
machine belongs to) and otherwise starts a local Ray with one CPU per core of this machine.
Ray is imported only here and only when called: `import plugdata` stays light, and a missing
`[ray]` extra is one line with the install command.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
from typing import Any

from plugdata.checks.validate import ValidationSettings, Validator, checked_fields, default_workers
from plugdata.core.languages import LANGUAGES, LanguageTable
from plugdata.errors import PlugdataError, require


def connect(address: str | None = None) -> None:
    """Join a Ray cluster, or start a local Ray; a no-op when this process is joined already
    (the first caller's choice holds: a test's or notebook's own `ray.init` included)."""
    require("ray", "ray")
    import ray

    if ray.is_initialized():
        return
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address:
        _check_reachable(address)
    kwargs: dict[str, Any] = {"logging_level": logging.WARNING, "include_dashboard": False}
    if address:
        kwargs["address"] = address
    else:
        kwargs["num_cpus"] = default_workers()
    try:
        ray.init(**kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"--ray-address {address}" if address else "a local Ray"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PlugdataError(f"{where}: cannot start or join Ray ({first})") from None


def _check_reachable(address: str) -> None:
    """A `host:port` where nothing listens: one line now, where Ray would retry for minutes."""
    host, sep, port = address.rpartition(":")
    if "://" in address or not sep or not port.isdigit():
        return  # `auto`, `local`, `ray://...`: Ray itself answers those at once
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise PlugdataError(f"--ray-address {address}: no Ray cluster there ({reason})") from None


def cluster_resources() -> dict[str, float]:
    """CPUs and GPUs of the cluster joined by `connect()`."""
    import ray

    return ray.cluster_resources()


# -- language validation as a Ray Data stage -----------------------------------------------------
# Columns a stage reads (besides the text fields) and adds.
LANG_COLUMNS = ("pivot_lang", "target_lang")
VERDICT_COLUMNS = ("reasons", "flags", "lid")


class LanguageCheck:
    """`Validator.check` over a batch of triples, for `Dataset.map_batches(LanguageCheck,
    fn_constructor_kwargs=..., batch_format="pyarrow")`: Ray builds one instance per worker,
    so the detector loads once per worker, not once per batch. Adds the verdict of every row
    as the columns `reasons`, `flags` and `lid` (the rows of `meta.lid`), exactly what the
    in-process validator returns for the same rows."""

    def __init__(
        self,
        settings: dict | None = None,
        languages: LanguageTable = LANGUAGES,
        responses: bool = True,
    ):
        self.validator = Validator(ValidationSettings(**(settings or {})), languages=languages)
        self.responses = responses

    def __call__(self, batch):
        import pyarrow as pa

        fields = checked_fields(self.responses)
        columns = {name: batch.column(name).to_pylist() for name in fields + LANG_COLUMNS}
        verdicts = [
            self.validator.check(
                {name: values[i] for name, values in columns.items()}, responses=self.responses
            )
            for i in range(batch.num_rows)
        ]
        added = {
            "reasons": [v.reasons for v in verdicts],
            "flags": [v.flags for v in verdicts],
            "lid": [v.lid_rows() for v in verdicts],
        }
        types = _verdict_types()
        for name in VERDICT_COLUMNS:
            batch = batch.append_column(name, pa.array(added[name], types[name]))
        return batch


@functools.cache
def _verdict_types() -> dict[str, Any]:
    import pyarrow as pa

    lid = pa.struct(
        [
            ("field", pa.string()),
            ("expected", pa.string()),
            ("label", pa.string()),
            ("score", pa.float64()),
            ("passed", pa.bool_()),
            ("basis", pa.string()),
        ]
    )
    # Explicit types: a batch whose rows all pass would otherwise infer list<null>, which
    # does not concatenate with the batches that have reasons.
    return {"reasons": pa.list_(pa.string()), "flags": pa.list_(pa.string()), "lid": pa.list_(lid)}


def validate_dataset(
    dataset,
    settings: ValidationSettings | None = None,
    *,
    languages: LanguageTable = LANGUAGES,
    responses: bool = True,
    concurrency: int | None = None,
):
    """`dataset` (a Ray Dataset of triples) with every row's verdict added by `LanguageCheck`
    on `concurrency` workers (default: one per CPU of the cluster)."""
    from ray.data import ActorPoolStrategy

    workers = concurrency or max(1, int(cluster_resources().get("CPU", 1)))
    return dataset.map_batches(
        LanguageCheck,
        fn_constructor_kwargs={
            "settings": (settings or ValidationSettings()).model_dump(),
            "languages": languages,
            "responses": responses,
        },
        batch_format="pyarrow",
        # From one worker up: a small dataset does not wait for the whole cluster's CPUs.
        compute=ActorPoolStrategy(min_size=1, max_size=workers),
    )


BLOCK_ROWS = 1_000  # triples per block of the dataset `check_triples` makes
# Fewer triples than this are not worth a pipeline: starting its actors costs seconds.
PIPELINE_MIN_ROWS = 500


def check_triples(
    triples: list[dict], validator: Validator, *, responses: bool = True
) -> list[tuple[list[str], list[str], list[dict]]]:
    """The verdict of every triple (its reasons, flags and `meta.lid` rows, in order), from
    `validate_dataset` on the Ray joined by `connect()`: what `validator.check` gives here."""
    import pyarrow as pa
    import ray.data

    if not triples:
        return []
    fields = checked_fields(responses) + LANG_COLUMNS
    blocks = [
        pa.table(
            {
                "row": range(start, start + len(part)),
                **{name: [t[name] for t in part] for name in fields},
            }
        )
        for start in range(0, len(triples), BLOCK_ROWS)
        for part in [triples[start : start + BLOCK_ROWS]]
    ]
    checked = validate_dataset(
        ray.data.from_arrow(blocks),
        validator.settings,
        languages=validator.languages,
        responses=responses,
    ).select_columns(["row", *VERDICT_COLUMNS])
    verdicts: list = [None] * len(triples)
    for row in checked.iter_rows():  # in whatever order the workers finish
        verdicts[row["row"]] = (list(row["reasons"]), list(row["flags"]), list(row["lid"]))
    return verdicts


# -- choosing the engine ------------------------------------------------------------------------
ENGINES = ("local", "ray")


def check_engine(engine: str, address: str | None) -> None:
    """`--engine` and `--ray-address` of any command, refused in one line before anything runs."""
    if engine not in ENGINES:
        raise PlugdataError(f"--engine {engine!r}: choose local or ray")
    if address and engine != "ray":
        raise PlugdataError("--ray-address: only with --engine ray")


# -- a build's chunk stages on Ray actors ---------------------------------------------------------
class _StageWorker:
    """A Ray actor with its own validator: the detector loads once per actor, not per task."""

    def __init__(self, settings: ValidationSettings, languages: LanguageTable):
        self.validator = Validator(settings, languages=languages)

    def run(self, job, chunk: list, early: list):
        job.validator = self.validator  # a job travels without one (`ChunkJob.__getstate__`)
        return job.run(chunk, early)


class RayStagePool:
    """The pool of `stages.ChunkRunner` for `build --engine ray`: slices of each chunk (content
    checks, routing, splits, rendering, the tables to write) as tasks of actors, one per CPU of
    the cluster (at most `workers` when given), each `ChunkJob.run` with the actor's own
    validator, so the results are those of the local engine. A few chunks are in flight,
    enough to keep every actor busy with tasks of `task_rows`."""

    def __init__(
        self,
        validator: Validator,
        *,
        address: str | None = None,
        workers: int | None,
        chunk_rows: int,
        task_rows: int,
    ):
        connect(address)
        import ray

        cpus = max(1, int(cluster_resources().get("CPU", 1)))
        size = min(workers, cpus) if workers else cpus
        worker = ray.remote(num_cpus=1)(_StageWorker)
        self._actors = [worker.remote(validator.settings, validator.languages) for _ in range(size)]
        self._next = 0
        self._job: tuple[Any, Any] | None = None  # the last job, and its copy in Ray's store
        # Tasks one chunk makes; one chunk more in flight than it takes to give every actor one.
        self.in_flight = 1 + -(-size * task_rows // chunk_rows)

    def run(self, job, chunk: list, early: list) -> _Pending:
        import ray

        if self._job is None or self._job[0] is not job:
            self._job = (job, ray.put(job))  # once per language, not with every task
        actor = self._actors[self._next % len(self._actors)]
        self._next += 1
        return _Pending(actor.run.remote(self._job[1], chunk, early))

    def close(self) -> None:
        import ray

        for actor in self._actors:
            ray.kill(actor)
        self._actors = []
        self._job = None


class _Pending:
    """A task's result, with the `get()` of a fork pool's result."""

    def __init__(self, ref):
        self.ref = ref

    def get(self):
        import ray
        from ray.exceptions import RayActorError

        try:
            return ray.get(self.ref)
        except RayActorError as exc:
            # Nothing of the build is written yet (its folder is replaced in one step): a rerun
            # starts it again, translations come from the cache.
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else "died"
            raise PlugdataError(
                f"build --engine ray: a Ray worker processing rows stopped mid-run ({first[:200]});"
                " nothing was written: run again"
            ) from None
