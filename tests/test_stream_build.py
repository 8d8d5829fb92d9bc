"""The streamed build: the demo's content hashes as before streaming, splits written as several
shards that load and hash like one, multi-shard publish and verify, and memory that holds
digests and one chunk, not the corpus."""

import hashlib
import json
import random
import tracemalloc
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq

from plugdata.core.digests import DigestSet, digest
from plugdata.dataset import folder, shards
from plugdata.pipeline.build import build
from plugdata.pipeline.config import RunConfig
from plugdata.pipeline.recipe import load_recipe
from plugdata.pipeline.run import PivotChecker
from plugdata.sources.align import TargetIndex
from plugdata.sources.corpus import Align
from plugdata.sources.read import Record

from .conftest import invoke, write_garden

DEMO = Path(__file__).parents[1] / "recipes" / "demo.yaml"
# Content hashes of recipes/demo.yaml: the method configs' as built before the build streamed
# (main at 18d5016); the triples' since they carry their alignment scores (`meta.alignment`).
DEMO_HASHES = {
    "es": {
        "train": "858d70216ea9b3a9d9f4541f346304a8b21311512a6ac6ef48d078a3d40379a3",
        "validation": "ff6f5dac5ab64479fcda4e1aa25d9b16aeb07277da93256a675b8228ffe8c4c0",
    },
    "es-code-switch": {
        "train": "bdd7964b6f1477b12b29271d77661eaf49b2566bbd5a59cef959ab181a2e373b",
        "validation": "6e339b26ea970dda5de8a8dd58891d0e255a4a0c9f1ae061e225e76363467771",
    },
    "es-mono": {
        "train": "d88e738ba6d992d586612f6f23a85ff73c59d2548ef4df4c9c251227b78c8f8b",
        "validation": "12ff91c9081f2dd194f3c327d87d78544374e4f1671ddb71494047795159d4a3",
    },
    "es-pivot-only": {
        "train": "16741745aa16b821f8bd35aaa0c592c3af4c88bdf49e317195d8a028557d6cc7",
        "validation": "41c5736532fd75196d80683abc9779a99003617d01f4a348d56b5a8b0e640bc5",
    },
    "es-plug": {
        "train": "49bcf04cbeeb7bb588c095072a4875c5539596654575c96526ba44b2109dcedb",
        "validation": "e2f4613ee7f7d9eb6678d6425855a48f79d4d028bf28c5e5ff6d2728638f8e1f",
    },
    "es-plug-pro": {
        "train": "691f15fe463cf05c72a2844d33c7ded60497865bd23d6d6a56fc81037b7b8f64",
        "validation": "1fae7ac58f04ae455c4db9874acbdd0b613098b0e317d1d3116884428a7f35c6",
    },
    "it": {
        "train": "25ba40177a7d4cd6faad4f1131f12d925ca41c6cf15e7994e4629743ce2dec57",
        "validation": "bd3fb34b27b59fe1d635a8e3e68281776789953fa97592f59f83de21014b96a4",
    },
    "it-code-switch": {
        "train": "800a7c7ec6d85d2962eacf086000f238939cc57d3eecc3223eb02aafcd35c5d5",
        "validation": "e9bc8ed3fe92d7d35f35425d0158304c9696dc2c951db5e3339883399daebf4c",
    },
    "it-mono": {
        "train": "73110cb673f076fdf5cf85fb45e98c44c14aa68fc4cf975ff59fdda6a0dcaeac",
        "validation": "db2b65e22e3a9b5666451ee8c66124a240fab25a39e67bbe745c679b4dafcc86",
    },
    "it-pivot-only": {
        "train": "16741745aa16b821f8bd35aaa0c592c3af4c88bdf49e317195d8a028557d6cc7",
        "validation": "41c5736532fd75196d80683abc9779a99003617d01f4a348d56b5a8b0e640bc5",
    },
    "it-plug": {
        "train": "9acd18e00ed54cd3798b95aa7f284d6c96fe9b0dd3b69ed9e994c40bbffed4ba",
        "validation": "707db658f86872cb9378d43b2e83cc28c69536450de6b2c3f8d1338a71192c5d",
    },
    "it-plug-pro": {
        "train": "2727809cae6d960a630a571d2c3dfe86668c2994f699c00224e9b80a247a58fb",
        "validation": "a95c37235c733bfb99b253b8140043356ad2d62daa97f6ccd254340c372573bf",
    },
    "ko": {
        "train": "723d5892b9d96a5abe861b6b56e5deb0e0cb908e1ac964d1016518cded413c35",
        "validation": "dda80afb91ff1790b10ebecb875a41dccac93ef8b0bbfbedbc04d81e5585eae2",
    },
    "ko-code-switch": {
        "train": "b8c063c305e4a86d6f54e619e437058c4e65ac5e2d5652bfca07591655536293",
        "validation": "c2703bf3bc74de93eec6cb7d852c6e391d3e18489cd39e973e9287a5a82132fd",
    },
    "ko-mono": {
        "train": "908e7486d05358fc300f136763250adf2e6d9b2b19dc44bf82779d73f64255a2",
        "validation": "e7a780b6d8ea9bcd9ead31adeb652f18f5487b56bf2da893e051e5460dd30ac4",
    },
    "ko-pivot-only": {
        "train": "16741745aa16b821f8bd35aaa0c592c3af4c88bdf49e317195d8a028557d6cc7",
        "validation": "41c5736532fd75196d80683abc9779a99003617d01f4a348d56b5a8b0e640bc5",
    },
    "ko-plug": {
        "train": "fe1693e101f3e6f84946f3c83a74619919f1e8a61004086e31a386b9d57fce06",
        "validation": "7fdad554d3f2b27d8130197a2757b946cbf7e65799817db8d62ef0e3a2f49486",
    },
    "ko-plug-pro": {
        "train": "6a726adf41ca824ca63a46dc9699fc6dcae614aac3af4a2d2701ae9d3afa16c1",
        "validation": "bff709d5f901e239cb0e96956964825872350298c892cf37cea524c3dee4e98e",
    },
    "zh": {
        "train": "81391fbe7c1d1133cc5dcb9a00d6e7afde9fac8d577e73f4c5252ee693fc8bb5",
        "validation": "20f6ae5321b1dfbaef24dd311337fc2950bfbf1bf44665d1bda9330e13c0e6f1",
    },
    "zh-code-switch": {
        "train": "9a94161c024e22e416e4a7cadf8d50cb3ac250b325c5678484a1f34c3593b836",
        "validation": "fad391b8d8d598cee20474e3958c87d331d3b844b7c30412454b46fc0919e981",
    },
    "zh-mono": {
        "train": "36e6edeaf89b22555374e2f44340ed748d5b8aa3279e5daf3375a5b6c9fe9c7c",
        "validation": "93e2259b83ee5af5ff50abde013d111c6eb5bdb896211d836060201e501542a6",
    },
    "zh-pivot-only": {
        "train": "16741745aa16b821f8bd35aaa0c592c3af4c88bdf49e317195d8a028557d6cc7",
        "validation": "41c5736532fd75196d80683abc9779a99003617d01f4a348d56b5a8b0e640bc5",
    },
    "zh-plug": {
        "train": "eb42727186d6d618e2b2f19dcff76fd39bc460a4983ada5259a4269dbb0bc929",
        "validation": "f169d44ad82e26253dddcd48ae1a26b7da94c34e71b93a1fd839d5a3afebeb5d",
    },
    "zh-plug-pro": {
        "train": "38b8318328c93d0818ba8266706d10a24f61f7975c0c920f7156f3ef18585c01",
        "validation": "1e3b7cb9023de12abecdf12da518828dd50fe627496b412061c176d18df2fe95",
    },
}


def manifest_hashes(root: Path) -> dict[str, dict[str, str]]:
    return {name: info.sha256 for name, info in folder.read_manifest(root).configs.items()}


def test_streamed_demo_build_keeps_the_content_hashes_it_had(tmp_path):
    build(load_recipe(DEMO), tmp_path, config=RunConfig(quiet=True))
    assert manifest_hashes(tmp_path / "plug-demo") == DEMO_HASHES


# Chunks of 7 rows, shards of 4, and chunks sent to 2 worker processes however small, in slices
# of 3 rows (joined again before they are written).
SMALL_PIECES = RunConfig(chunk_rows=7, task_rows=3, inline_rows=0, workers=2, quiet=True)


def test_many_shards_load_and_hash_like_one(tmp_path, demo):
    build(load_recipe(DEMO), tmp_path, langs=["zh"], config=SMALL_PIECES, shard_rows=4)
    root = tmp_path / "plug-demo"
    manifest = folder.read_manifest(root)
    assert manifest_hashes(root) == {c: h for c, h in DEMO_HASHES.items() if c.startswith("zh")}
    plug = manifest.configs["zh-plug"]
    names = sorted(Path(f).name for f in plug.files)
    shards_of_train = -(-plug.splits["train"] // 4)
    assert shards_of_train > 2
    assert [n for n in names if n.startswith("train-")] == [
        f"train-{i:05d}-of-{shards_of_train:05d}.parquet" for i in range(shards_of_train)
    ]
    assert not list(root.rglob(".*part*"))  # no shard left under its scratch name
    folder.check_folder(root, manifest)
    quarantined = folder.quarantine_file("zh")
    assert pq.read_table(root / quarantined) == pq.read_table(demo / quarantined)
    assert manifest.quarantine == folder.read_manifest(demo).quarantine
    for config in ("zh", "zh-plug", "zh-code-switch"):
        sharded = datasets.load_dataset(str(root), config)
        single = datasets.load_dataset(str(demo), config)
        for split, rows in sharded.items():
            assert rows.to_list() == single[split].to_list(), (config, split)
            assert shards.table_hash(rows.data.table) == manifest.configs[config].sha256[split]
    assert (
        manifest.configs["zh-plug"].example == folder.read_manifest(demo).configs["zh-plug"].example
    )


def test_chunks_cut_into_slices_for_the_workers_write_what_one_piece_does(tmp_path):
    """Slices of a chunk, processed apart and joined again, give the rows, hashes, ledger and
    quarantine (rows in order, with their reasons) of a build in one piece."""
    recipe = load_recipe(write_garden(tmp_path, 3_000))
    build(recipe, tmp_path / "whole", config=RunConfig(workers=1, quiet=True))
    sliced = RunConfig(chunk_rows=700, task_rows=45, inline_rows=0, workers=2, quiet=True)
    build(recipe, tmp_path / "sliced", config=sliced)
    whole, sliced = (
        folder.read_manifest(tmp_path / name / "garden") for name in ("whole", "sliced")
    )
    assert {c: e.sha256 for c, e in sliced.configs.items()} == {
        c: e.sha256 for c, e in whole.configs.items()
    }
    assert sliced.configs["zh"].counts == whole.configs["zh"].counts
    quarantined = [
        pq.read_table(tmp_path / name / "garden" / folder.quarantine_file("zh"))
        for name in ("whole", "sliced")
    ]
    assert quarantined[1].num_rows == quarantined[0].num_rows >= 4
    assert quarantined[1].to_pylist() == quarantined[0].to_pylist()


def test_publish_and_verify_take_multi_shard_splits(hub, tmp_path, tiny):
    build(
        load_recipe(tiny),
        tmp_path / "out",
        langs=["zh"],
        config=RunConfig(quiet=True),
        shard_rows=2,
    )
    root = tmp_path / "out" / "tiny"
    result = invoke("publish", root, "--repo-id", "plug-org/tiny", "--lang", "zh")
    assert result.exit_code == 0, result.output
    files = hub.files("plug-org/tiny")
    train = sorted(f for f in files if f.startswith("data/zh-plug/train-"))
    assert len(train) > 1 and train[-1].endswith(f"-of-{len(train):05d}.parquet")
    configs = folder.read_manifest(root).configs
    assert result.output.count(" same") == sum(len(i.splits) for i in configs.values())
    loaded = datasets.load_dataset("plug-org/tiny", "zh-plug", split="train")
    assert loaded.num_rows == configs["zh-plug"].splits["train"]
    assert shards.table_hash(loaded.data.table) == configs["zh-plug"].sha256["train"]


def test_row_hasher_fed_in_any_pieces_hashes_like_json_of_whole_steps(monkeypatch):
    monkeypatch.setattr(shards, "HASH_STEP", 4)
    rows = [
        {"id": f"r{i}", "text": "é" * i, "meta": {"b": None, "a": 1.5 * i}, "tags": ["x"] * i}
        for i in range(11)
    ]
    expected = hashlib.sha256()
    for start in range(0, len(rows), 4):  # what the hash has meant since it was written
        step = rows[start : start + 4]
        expected.update(json.dumps(step, sort_keys=True, ensure_ascii=False).encode())
    for cuts in ([11], [1, 3, 7], [5, 0, 6], [1] * 11):
        hasher, start = shards.RowHasher(), 0
        for n in cuts:
            hasher.update(rows[start : start + n])
            start += n
        assert hasher.hexdigest() == expected.hexdigest(), cuts
    assert shards.table_hash(pa.Table.from_pylist(rows)) == expected.hexdigest()


def long_records(n: int, *, offset: int = 0) -> list[Record]:
    return [
        Record(i, f"t.jsonl:{i + 1}", f"{i + offset}", f"instruction {i} " * 60, "x" * 1500)
        for i in range(n)
    ]


def test_the_target_side_waits_on_disk_not_in_memory():
    spec = Align(path="t.jsonl", join="id")
    records = long_records(1_500) + long_records(20)  # the last 20 repeat ids: duplicates
    tracemalloc.start()
    index = TargetIndex(iter(records), spec, "t.jsonl")
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    try:
        assert held < 300_000  # the texts alone are 3 MB
        assert index.rows == 1_520 and index.duplicates == 20
        pivot = long_records(10, offset=1_495)  # ids 1495..1504: five have a partner
        found = index.matches(pivot)
        assert [r.raw_id if r else None for r in found] == [
            *(str(i) for i in range(1_495, 1_500)),
            *[None] * 5,
        ]
        assert found[0] == records[1_495]
        assert index.orphans == 1_500 - 5
    finally:
        index.close()


def test_duplicate_checks_hold_digests_not_texts():
    recipe = load_recipe(DEMO)
    checker = PivotChecker(recipe)
    records = long_records(2_000)
    tracemalloc.start()
    problems = []
    for start in range(0, 2_000, 700):  # batches, then three repeats after them
        batch = records[start : start + 700]
        problems += checker.problems(batch, [f"demo/{r.raw_id}" for r in batch])
    problems += checker.problems(records[:3], ["demo/0", "demo/1", "demo/2"])
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert problems[-3:] == [["duplicate-id"]] * 3 and not any(problems[:2_000])
    assert checker.counts["duplicate ids"] == 3
    assert [len(s) for s in (checker._ids, checker._content, checker._instructions)] == [2_000] * 3
    assert held < 2_000 * 3 * 40  # three digests a row; the texts are 2.4 KB a row


def test_digest_set_says_what_came_before_across_and_within_batches():
    digests = DigestSet()
    a, b, c = digest("a"), digest("b"), digest("a", "")
    assert digests.seen([a, b, a]) == [False, False, True]
    assert digests.seen([b, c, c, a]) == [True, False, True, True]
    assert digests.seen([]) == [] and len(digests) == 3


def test_digest_set_agrees_with_a_set_over_many_batches_of_repeats():
    """Hundreds of batches, many digests coming back: the runs the set keeps are merged
    and searched as one set would be."""
    rng = random.Random(7)
    pool = [digest(str(i)) for i in range(3_000)]
    digests, model = DigestSet(), set()
    for _ in range(400):
        batch = [rng.choice(pool) for _ in range(rng.randint(0, 30))]
        want = []
        for key in batch:
            want.append(key in model)
            model.add(key)
        assert digests.seen(batch) == want
    assert len(digests) == len(model) > 2_500
    assert len(digests._runs) <= 12  # a few runs, not one per batch


def test_rows_travel_to_the_workers_as_they_are():
    """A chunk's slice is pickled as plain tuples (`PackedRows`) and comes back as the same
    rows: records with and without a target, extras, problems and flags."""
    import pickle

    from plugdata.pipeline.triples import PackedRows, TargetRow

    pivot = Record(3, "en.jsonl:4", "7", "Hi?", None, {"answer": 1.5}, ["not-a-string:response"])
    target = Record(9, "zh.jsonl:10", None, "你好？", "好", {"tags": ["a", "b"]}, [])
    rows = [
        TargetRow(pivot, "demo/7", ["duplicate"], target, "aligned:zh.jsonl", ["x"], ["f"]),
        TargetRow(pivot, "demo/8", [], None, "aligned:zh.jsonl", [], []),
    ]
    back = pickle.loads(pickle.dumps(PackedRows(rows), pickle.HIGHEST_PROTOCOL))
    assert back == rows
    assert all(isinstance(row, TargetRow) for row in back)
    assert isinstance(back[0].target, Record) and back[1].target is None
