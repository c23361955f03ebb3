"""Stage 2: event dataset -> binned dataset (fixed-rate bins with a screen state and actions).

Per split and file (sorted; one task per file on the chosen engine, :mod:`.parts`), keeping only ``keep_topics`` (exact names; default screen, keyboard,
mouse): bins of width ``int(1e9/fps)`` start at the first kept event, ``[t0 + i*w, t0 + (i+1)*w)``,
for every i while the bin start is <= the last event (empty bins are emitted).

Columns (the seed's, plus three): ``file_path``, ``bin_idx`` int32, ``timestamp_ns`` (bin start),
``state`` (binary: raw payload of the screen message, or null before the first screen), ``actions``
(binary: UTF-8 JSON list of ``{"topic", "timestamp_ns", "message_type", "msg"}`` objects, ``msg``
being the payload text), ``state_timestamp_ns`` (log time of the state's screen message or null),
``state_topic`` and ``num_actions``.

State has no look-ahead: it is the latest screen message logged *at or before the bin's first
action* (at or before the bin end for a bin without actions), carried forward across bins. A screen
message logged after the first action of a bin becomes the state of the next bin. Actions are the
messages of topics starting with ``keyboard`` or ``mouse``; other kept topics only count as events.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from molmo2_data.engine import map_tasks
from molmo2_data.errors import ConfigError, SchemaError
from molmo2_data.owa.media_report import ScreenMediaCheck, add_counts
from molmo2_data.owa.outputs import load_manifest, load_splits, prepare_output_dir, save_with_manifest
from molmo2_data.owa.parts import (
    Rows,
    SplitPlan,
    check_engine_args,
    dataset_from_tables,
    file_runs,
    parts_dir,
    read_source,
    rows_table,
    split_source,
    write_part,
)

DEFAULT_KEEP = ("screen", "keyboard", "mouse")


def bin_features():
    from datasets import Features, Value

    return Features({"file_path": Value("string"), "bin_idx": Value("int32"), "timestamp_ns": Value("int64"),
                     "state": Value("binary"), "actions": Value("binary"),
                     "state_timestamp_ns": Value("int64"), "state_topic": Value("string"),
                     "num_actions": Value("int32")})


def _is_action(topic: str) -> bool:
    return topic.startswith("keyboard") or topic.startswith("mouse")


def bin_file(file_path: str, topics: list[str], times: np.ndarray, types: list[str], msgs: list[bytes],
             width_ns: int, skipped: Counter[str] | None = None) -> list[dict[str, Any]]:
    """Bins of one file; inputs are its kept events sorted by time. Actions whose payload is not UTF-8
    are left out and counted in ``skipped["bad_utf8_msg"]``."""
    if len(times) == 0:
        return []
    t0, t_last = int(times[0]), int(times[-1])
    n_bins = (t_last - t0) // width_ns + 1
    bin_of = (times - t0) // width_ns
    starts = np.searchsorted(bin_of, np.arange(n_bins + 1), side="left")
    rows = []
    state: tuple[bytes, int, str] | None = None
    pending: tuple[bytes, int, str] | None = None  # screen seen after a bin's first action
    for b in range(n_bins):
        actions: list[dict[str, Any]] = []
        if pending is not None:
            state, pending = pending, None
        for i in range(starts[b], starts[b + 1]):
            topic = topics[i]
            if topic.startswith("screen"):
                if actions:
                    pending = (msgs[i], int(times[i]), topic)
                else:
                    state = (msgs[i], int(times[i]), topic)
            elif _is_action(topic):
                try:
                    text = msgs[i].decode("utf-8")
                except UnicodeDecodeError:
                    if skipped is not None:
                        skipped["bad_utf8_msg"] += 1
                    continue
                actions.append({"topic": topic, "timestamp_ns": int(times[i]), "message_type": types[i],
                                "msg": text})
        rows.append({"file_path": file_path, "bin_idx": b, "timestamp_ns": t0 + b * width_ns,
                     "state": None if state is None else state[0],
                     "actions": json.dumps(actions, separators=(",", ":"), ensure_ascii=False).encode(),
                     "state_timestamp_ns": None if state is None else state[1],
                     "state_topic": None if state is None else state[2], "num_actions": len(actions)})
    return rows


@dataclass(frozen=True)
class BinTask:
    """Stage-2 task: the bins of one file, from its kept events (``rows`` of the split's table at
    ``source``, in time order), written to ``part``."""

    source: tuple[str, ...]
    rows: Rows
    width_ns: int
    part: str


def run_bin_task(task: BinTask) -> tuple[dict[str, Any], dict[str, int]]:
    """Bin one file and write its rows (a part file); returns (its manifest entry, skipped counts)."""
    t = task.rows.take(read_source(task.source), ["file_path", "topic", "timestamp_ns", "message_type", "msg"])
    skipped: Counter[str] = Counter()
    file_path = t["file_path"][0].as_py()
    file_rows = bin_file(file_path, t["topic"].to_pylist(), t["timestamp_ns"].to_numpy(),
                         t["message_type"].to_pylist(), t["msg"].to_pylist(), task.width_ns, skipped)
    write_part(rows_table({k: [r[k] for r in file_rows] for k in bin_features()}, bin_features()), task.part)
    stats = {"events": len(t), "bins": len(file_rows),
             "empty_bins": sum(1 for r in file_rows if r["num_actions"] == 0),
             "bins_without_state": sum(1 for r in file_rows if r["state"] is None),
             "media": _bins_media(file_rows, ScreenMediaCheck())}
    return stats, dict(skipped)


def plan_bins(ds: Any, keep_topics: Sequence[str], width_ns: int, work: Path, tag: str) -> SplitPlan:
    """The tasks of one split (an HF Dataset of events). Rows with a null ``file_path`` / ``topic`` /
    ``timestamp_ns`` / ``msg`` are left out and counted in ``skipped["null_<column>"]``; the other rows
    of the ``keep_topics`` are grouped by file and sorted by time."""
    import pyarrow as pa
    import pyarrow.compute as pc

    plan = SplitPlan()
    source = split_source(ds, work, f"input-{tag}.arrow")
    table = read_source(source)
    for col in ("file_path", "topic", "timestamp_ns", "message_type", "msg"):
        if col not in table.column_names:
            raise SchemaError(f"event dataset lacks column {col!r}")
    mask = pa.array(np.ones(len(table), dtype=bool))
    for col in ("file_path", "topic", "timestamp_ns", "msg"):
        valid = pc.is_valid(table[col])
        n_null = pc.sum(pc.and_(mask, pc.invert(valid))).as_py() or 0
        if n_null:
            plan.skipped[f"null_{col}"] += n_null
        mask = pc.and_(mask, valid)
    all_files = set(pc.filter(table["file_path"], mask).unique().to_pylist())
    mask = pc.and_(mask, pc.is_in(table["topic"], value_set=_pa_strings(keep_topics)))
    index = pc.indices_nonzero(mask)
    keys = table.select(["file_path", "timestamp_ns"]).take(index)
    order = pc.sort_indices(keys, [("file_path", "ascending"), ("timestamp_ns", "ascending")])
    index = index.take(order).to_numpy()
    files = keys["file_path"].take(order).to_pylist()
    for k, (a, b) in enumerate(file_runs(files)):
        plan.files.append(files[a])
        plan.tasks.append(BinTask(source, Rows.of(index[a:b]), width_ns, str(work / f"bins-{tag}-{k:06d}.part")))
    plan.idle_files = sorted(all_files - set(plan.files))
    return plan


def _bins_media(file_rows: list[dict[str, Any]], media: ScreenMediaCheck) -> dict[str, Any]:
    """How many bins of one file lack a usable screen, by reason (one payload parse per distinct state)."""
    reasons: Counter[str] = Counter()
    seen: dict[bytes | None, str | None] = {}
    for r in file_rows:
        state = r["state"]
        if state not in seen:
            seen[state] = media.reason(state, r["file_path"])
        if seen[state]:
            reasons[seen[state]] += 1
    return {"bins": len(file_rows), "without_media": dict(sorted(reasons.items()))}


def _split_media(stats: dict[str, Any]) -> dict[str, Any]:
    rows, reasons = 0, Counter()
    for st in stats.values():
        m = st.get("media", {})
        rows += m.get("bins", 0)
        add_counts(reasons, m.get("without_media", {}))
    return {"rows": rows, "without_media": dict(sorted(reasons.items()))}


def _pa_strings(values: Sequence[str]):
    import pyarrow as pa

    return pa.array(list(values), type=pa.string())


def build_binned_dataset(input_dir: str | os.PathLike, output_dir: str | os.PathLike | None = None, *,
                         fps: float = 10.0, keep_topics: Sequence[str] | None = None, overwrite: bool = False,
                         engine: str = "local", address: str | None = None):
    """Stage 2 over every split of a saved event dataset (arguments and output checked first); one
    task per file of a split on ``engine`` (``local`` or ``ray`` at ``address``)."""
    from datasets import DatasetDict

    if isinstance(fps, bool) or not isinstance(fps, int | float) or not math.isfinite(fps) or not 0 < fps <= 1e9:
        raise ConfigError(f"--fps must be a finite number in (0, 1e9], got {fps!r}")
    if keep_topics is not None and (isinstance(keep_topics, str)
                                    or not all(isinstance(t, str) and t.strip() for t in keep_topics)):
        raise ConfigError(f"--keep-topic must be non-empty topic names, got {keep_topics!r}")
    keep = tuple(keep_topics) if keep_topics else DEFAULT_KEEP
    engine = check_engine_args(engine, output_dir, address)
    events = load_splits(input_dir)
    if output_dir is not None:
        prepare_output_dir(output_dir, [input_dir], overwrite)
    width = int(1e9 / fps)
    with parts_dir(output_dir) as work:
        plans = {split: plan_bins(ds, keep, width, work, str(i)) for i, (split, ds) in enumerate(events.items())}
        results = map_tasks(run_bin_task, [t for p in plans.values() for t in p.tasks], engine=engine,
                            address=address, desc="owa bin")
        out, stats, skipped = {}, {}, {}
        for split, plan in plans.items():
            skipped[split] = plan.skipped
            stats[split] = {}
            for f, (st, sk) in zip(plan.files, results[:len(plan.tasks)], strict=True):
                stats[split][f] = st
                add_counts(skipped[split], sk)
            results = results[len(plan.tasks):]
            for f in plan.idle_files:
                stats[split][f] = {"events": 0, "bins": 0, "skipped": "no_events_of_kept_topics"}
            out[split] = dataset_from_tables([t.part for t in plan.tasks], bin_features())
    dd = DatasetDict(out)
    manifest = {"stage": "bins", "fps": fps, "bin_width_ns": int(1e9 / fps), "keep_topics": list(keep),
                "files": stats, "events_manifest": load_manifest(input_dir),
                "skipped_rows": {split: dict(sorted(c.items())) for split, c in skipped.items() if c},
                "media_summary": {split: _split_media(st) for split, st in stats.items()}}
    dd.manifest = manifest  # type: ignore[attr-defined]
    if output_dir is not None:
        save_with_manifest(dd, output_dir, manifest)
    return dd
