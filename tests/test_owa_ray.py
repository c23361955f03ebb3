"""OWA stages 1-3 on Ray (issue 16): ``--engine ray`` on a real 3-node local cluster writes the very
files ``--engine local`` writes (every byte, same file list), a corrupt recording is reported the same
way by both, the restructured (task + driver) stages give what the one-loop stages gave, and a task can
run twice without harm."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import shared_fixtures

from molmo2_data.cli.main import main as cli_main
from molmo2_data.errors import ConfigError
from molmo2_data.owa import build_event_dataset
from molmo2_data.owa.parts import PARTS_DIR

pytest.importorskip("mcap")

OWA = shared_fixtures() / "owa"
needs_fixtures = pytest.mark.skipif(not (OWA / "0.3.2.mcap").exists(), reason="shared OWA fixtures absent")


def cli(argv: list[str]) -> int:
    try:
        return cli_main([str(a) for a in argv])
    except SystemExit as e:  # argparse
        return int(e.code)


def run_stages(src: Path, out: Path, *engine: str) -> None:
    assert cli(["owa", "events", "--train-dir", src, "--test-percent", "0.34", "--output-dir", out / "events",
                *engine]) == 0
    assert cli(["owa", "bin", "--input-dir", out / "events", "--output-dir", out / "bins", "--fps", "10",
                *engine]) == 0
    assert cli(["owa", "sequences", "--input-dir", out / "bins", "--output-dir", out / "mllm",
                "--sequence-length", "8", "--overlap-ratio", "0.5", *engine]) == 0


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def local_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (OWA / "0.3.2.mcap").exists():
        pytest.skip("shared OWA fixtures absent")
    out = tmp_path_factory.mktemp("owa_local")
    run_stages(OWA, out)
    return out


@needs_fixtures
def test_ray_writes_the_same_bytes_as_local(local_run: Path, ray_cluster, tmp_path: Path) -> None:
    run_stages(OWA, tmp_path, "--engine", "ray", "--address", ray_cluster.address)
    local, remote = tree(local_run), tree(tmp_path)
    assert sorted(remote) == sorted(local)
    assert {name for name in local if name.endswith(".arrow")} == {
        f"{stage}/{split}/data-00000-of-00001.arrow" for stage in ("events", "bins", "mllm") for split in ("train", "test")}
    assert all(remote[name] == local[name] for name in local), [n for n in local if remote[n] != local[n]]
    assert not any(PARTS_DIR in name for name in remote)  # the parts are gone
    manifest = json.loads(local["events/owa_manifest.json"])
    assert sorted(Path(f).name for f in manifest["files"]) == ["0.3.2.mcap", "0.4.2.mcap", "0.5.1.mcap"]


@needs_fixtures
def test_corrupt_recording_reported_the_same_on_both_engines(ray_cluster, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name in ("0.5.1.mcap", "0.5.1.mkv", "0.4.2.mkv"):
        shutil.copy(OWA / name, src / name)
    data = (OWA / "0.4.2.mcap").read_bytes()
    (src / "0.4.2.mcap").write_bytes(data[: len(data) // 2])  # truncated: its first messages are kept
    (src / "junk.mcap").write_bytes(b"this is not an mcap file at all" * 4)
    outputs = {}
    for engine in ("local", "ray"):
        out = tmp_path / engine
        extra = ["--address", ray_cluster.address] if engine == "ray" else []
        capsys.readouterr()
        assert cli(["owa", "events", "--train-dir", src, "--test-percent", "0.5", "--output-dir", out,
                    "--engine", engine, *extra]) == 0
        outputs[engine] = capsys.readouterr().out.replace(str(out), "OUT"), tree(out)
    assert outputs["local"] == outputs["ray"]
    printed, files = outputs["ray"]
    junk = str((src / "junk.mcap").resolve())
    assert f"not in any split: {junk}: not an MCAP file (bad magic)" in printed
    stats = json.loads(files["owa_manifest.json"])["files"]
    assert stats[junk]["reason"] == "not_mcap" and stats[junk]["split"] is None
    assert stats[str((src / "0.4.2.mcap").resolve())]["status"] == "truncated"


# ------------------------------------------------------------------------------------------------
# The one-loop stages (before the split into tasks), as a reference
# ------------------------------------------------------------------------------------------------


def old_events(manifest: dict) -> dict:
    from datasets import Dataset

    from molmo2_data.owa.events import event_features, process_file

    out = {}
    for split, files in manifest["splits"].items():
        cols: dict[str, list] = {k: [] for k in event_features()}
        for f in files:
            for ev in process_file(f, manifest["rates"]).rows:
                for k, v in zip(cols, (f, ev.topic, ev.timestamp_ns, ev.message_type, ev.msg), strict=True):
                    cols[k].append(v)
        out[split] = Dataset.from_dict(cols, features=event_features())
    return out


def _file_runs(files: list) -> list[tuple[int, int]]:
    cuts = [0] + [i for i in range(1, len(files)) if files[i] != files[i - 1]] + [len(files)]
    return list(zip(cuts[:-1], cuts[1:], strict=False))


def old_bins(events: dict, fps: float) -> dict:
    import pyarrow as pa
    import pyarrow.compute as pc
    from datasets import Dataset

    from molmo2_data.owa.binning import DEFAULT_KEEP, bin_features, bin_file

    out = {}
    for split, ds in events.items():
        t = ds.with_format("arrow")[:]
        t = t.filter(pc.is_in(t["topic"], value_set=pa.array(list(DEFAULT_KEEP))))
        t = t.take(pc.sort_indices(t, [("file_path", "ascending"), ("timestamp_ns", "ascending")]))
        files, topics, types, msgs = (t[c].to_pylist() for c in ("file_path", "topic", "message_type", "msg"))
        times = t["timestamp_ns"].to_numpy()
        rows = [r for a, b in _file_runs(files)
                for r in bin_file(files[a], topics[a:b], times[a:b], types[a:b], msgs[a:b], int(1e9 / fps))]
        out[split] = Dataset.from_dict({k: [r[k] for r in rows] for k in bin_features()}, features=bin_features())
    return out


def old_sequences(bins: dict, length: int, overlap: float, width: int) -> dict:
    import pyarrow.compute as pc
    from datasets import Dataset

    from molmo2_data.owa.encoder import EventEncoder
    from molmo2_data.owa.sequences import (
        DEFAULT_INSTRUCTION,
        _MediaCheck,
        mllm_features,
        window_bounds,
        window_row,
    )

    out = {}
    for split, ds in bins.items():
        t = ds.with_format("arrow")[:]
        rows = t.take(pc.sort_indices(t, [("file_path", "ascending"), ("bin_idx", "ascending")])).to_pylist()
        enc, media, windows = EventEncoder(), _MediaCheck(), []
        for a, b in _file_runs([r["file_path"] for r in rows]):
            windows += [window_row(rows[a:b][s:e], i, DEFAULT_INSTRUCTION, e - s < length, width, enc, media)
                        for i, (s, e) in enumerate(window_bounds(b - a, length, overlap))]
        feats = mllm_features()
        out[split] = Dataset.from_dict({k: [r[k] for r in windows] for k in feats}, features=feats)
    return out


@needs_fixtures
def test_tasks_and_driver_write_what_the_one_loop_stages_wrote(local_run: Path, tmp_path: Path) -> None:
    """Every split file (data, state.json with its fingerprint, dataset_info.json) of each stage equals
    the one-loop conversion of the same inputs saved the same way."""
    from datasets import DatasetDict, load_from_disk

    manifest = json.loads((local_run / "events" / "owa_manifest.json").read_text())
    stages = {"events": old_events(manifest)}
    stages["bins"] = old_bins({s: load_from_disk(str(local_run / "events" / s)) for s in stages["events"]}, 10)
    stages["mllm"] = old_sequences({s: load_from_disk(str(local_run / "bins" / s)) for s in stages["bins"]},
                                   8, 0.5, 100_000_000)
    for stage, splits in stages.items():
        DatasetDict(splits).save_to_disk(str(tmp_path / stage))
        for split in splits:
            assert tree(tmp_path / stage / split) == tree(local_run / stage / split), (stage, split)


# ------------------------------------------------------------------------------------------------
# Tasks and options
# ------------------------------------------------------------------------------------------------


@needs_fixtures
def test_a_task_run_twice_rewrites_the_same_part(tmp_path: Path) -> None:
    from molmo2_data.owa.events import DEFAULT_RATES, EventTask, run_event_task

    task = EventTask(str((OWA / "0.5.1.mcap").resolve()), DEFAULT_RATES, str(tmp_path / "000000.part"))
    first = run_event_task(task), (tmp_path / "000000.part").read_bytes()
    assert (run_event_task(task), (tmp_path / "000000.part").read_bytes()) == first
    assert first[0]["status"] == "ok" and first[0]["kept"] == 86 and sorted(p.name for p in tmp_path.iterdir()) == ["000000.part"]


def test_engine_options_are_checked_before_any_work(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "recs").mkdir()
    (tmp_path / "recs" / "a.mcap").write_bytes(b"x")
    with pytest.raises(ConfigError, match="needs an output directory"):
        build_event_dataset(tmp_path / "recs", engine="ray")
    with pytest.raises(ConfigError, match="--workers is for the local engine"):
        build_event_dataset(tmp_path / "recs", tmp_path / "out", engine="ray", workers=2)
    with pytest.raises(ConfigError, match="engine must be one of local, ray"):
        build_event_dataset(tmp_path / "recs", tmp_path / "out", engine="spark")
    assert cli(["owa", "events", "--train-dir", tmp_path / "recs", "--output-dir", tmp_path / "out",
                "--address", "127.0.0.1:1"]) == 2
    assert "--address is for --engine ray" in capsys.readouterr().err
    assert cli(["owa", "bin", "--input-dir", tmp_path / "recs", "--output-dir", tmp_path / "out",
                "--engine", "spark"]) == 2
    assert not (tmp_path / "out").exists()
