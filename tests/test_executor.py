"""The executors behind the pipeline: where a job's parts run changes nothing in what they make,
and a run's configuration is one typed, validated object."""

import pytest

from plugdata.checks.validate import Validator
from plugdata.core.options import OptionsError, parse_options
from plugdata.pipeline.config import RunConfig
from plugdata.pipeline.executor import EXECUTORS, make_executor
from plugdata.pipeline.executor.local import LocalExecutor
from plugdata.pipeline.layout import Layout
from plugdata.pipeline.recipe import load_recipe
from plugdata.pipeline.stages import ChunkJob
from plugdata.pipeline.triples import TargetRow
from plugdata.sources.read import Record

from .conftest import DEMO_RECIPE, ITEMS


def chunk_of_items() -> list[TargetRow]:
    """The test items aligned to Chinese, and again to Italian in the Chinese fields (wrong)."""
    return [
        TargetRow(
            Record(i, f"en.jsonl:{i + 1}", None, item[0], item[1]),
            f"t{i}-{col}",
            [],
            Record(i, f"zh.jsonl:{i + 1}", None, item[col], item[col + 1]),
            "aligned:zh.jsonl",
            [],
            [],
        )
        for i, item in enumerate(ITEMS)
        for col in (2, 4)
    ]


def test_the_local_executor_s_worker_processes_make_the_rows_this_process_makes():
    recipe = load_recipe(DEMO_RECIPE)
    job = ChunkJob(recipe, Layout.of(recipe, "zh"), Validator())
    chunk = chunk_of_items()
    early = [[] for _ in chunk]
    here = job.run(chunk, early)
    with make_executor(RunConfig(workers=2, inline_rows=0)) as executor:
        assert not executor.runs_here(len(chunk))
        pool = executor.pool(job)
        try:
            parts = [pool.submit(chunk[i : i + 5], early[i : i + 5]) for i in range(0, 16, 5)]
            there = [part.get() for part in parts]
        finally:
            pool.close()
    assert sum(r.ledger.rows_in for r in there) == here.ledger.rows_in == len(chunk)
    assert [q for r in there for q in r.quarantine.to_pylist()] == here.quarantine.to_pylist()
    assert here.quarantine.num_rows == len(ITEMS)  # every Italian one: wrong language
    assert lid_rows(there) == lid_rows([here]) != {}


def lid_rows(results) -> dict:
    """The language-ID verdicts of every kept triple, by id."""
    return {
        row["id"]: row["meta"]["lid"]
        for result in results
        for rows in result.rows.get("zh", {}).values()
        for row in rows.table.to_pylist()
    }


def test_small_chunks_and_one_worker_are_done_in_this_process():
    assert LocalExecutor(RunConfig(workers=1)).runs_here(10_000)
    assert LocalExecutor(RunConfig(workers=2)).runs_here(RunConfig().inline_rows - 1)
    assert not LocalExecutor(RunConfig(workers=2)).runs_here(RunConfig().inline_rows)


def test_executors_are_picked_by_name():
    assert set(EXECUTORS) == {"local", "ray"}
    for name, executor in EXECUTORS.items():
        assert isinstance(make_executor(RunConfig(executor=name)), executor)


def test_a_run_configuration_refuses_what_does_not_fit_in_one_line():
    with pytest.raises(OptionsError, match=r"^--ray-address: only with --executor ray$"):
        parse_options(RunConfig, {"ray_address": "auto"})
    with pytest.raises(OptionsError, match=r"^--chunk-rows 0: must be greater than or equal to 1$"):
        parse_options(RunConfig, {"chunk_rows": 0})
    with pytest.raises(
        OptionsError, match=r"^--chunk-size: unknown option \(did you mean --chunk-rows\?\)$"
    ):
        parse_options(RunConfig, {"chunk_size": 10})
