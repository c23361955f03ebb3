"""Stage 2: event dataset -> binned dataset (fixed-rate bins with a screen state and actions).

Per split and file (sorted), keeping only ``keep_topics`` (exact names; default screen, keyboard,
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
from typing import Any

import numpy as np

from molmo2_data.errors import ConfigError
from molmo2_data.owa.media_report import ScreenMediaCheck, add_counts
from molmo2_data.owa.outputs import load_manifest, load_splits, prepare_output_dir, save_with_manifest

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


def bin_split(ds: Any, fps: float, keep_topics: Sequence[str],
              skipped: Counter[str] | None = None) -> tuple[Any, dict[str, Any]]:
    """Bin one split (an HF Dataset of events); returns (binned Dataset, per-file stats). Rows with a
    null ``file_path`` / ``topic`` / ``timestamp_ns`` / ``msg`` are left out and counted in
    ``skipped["null_<column>"]``."""
    import pyarrow.compute as pc
    from datasets import Dataset

    width = int(1e9 / fps)
    table = ds.with_format("arrow")[:]
    for col in ("file_path", "topic", "timestamp_ns", "message_type", "msg"):
        if col not in table.column_names:
            from molmo2_data.errors import SchemaError

            raise SchemaError(f"event dataset lacks column {col!r}")
    skipped = Counter() if skipped is None else skipped
    for col in ("file_path", "topic", "timestamp_ns", "msg"):
        valid = pc.is_valid(table[col])
        n_null = len(table) - pc.sum(valid).as_py() if len(table) else 0
        if n_null:
            skipped[f"null_{col}"] += n_null
            table = table.filter(valid)
    all_files = set(table["file_path"].unique().to_pylist())
    table = table.filter(pc.is_in(table["topic"], value_set=_pa_strings(keep_topics)))
    table = table.take(pc.sort_indices(table, [("file_path", "ascending"), ("timestamp_ns", "ascending")]))
    files = table["file_path"].to_pylist()
    rows: list[dict[str, Any]] = []
    stats: dict[str, Any] = {}
    bounds = [0] + [i for i in range(1, len(files)) if files[i] != files[i - 1]] + [len(files)]
    topics_all = table["topic"].to_pylist()
    types_all = table["message_type"].to_pylist()
    msgs_all = table["msg"].to_pylist()
    times_all = table["timestamp_ns"].to_numpy()
    media = ScreenMediaCheck()
    for a, b in zip(bounds[:-1], bounds[1:], strict=False):
        if a == b:
            continue
        file_rows = bin_file(files[a], topics_all[a:b], times_all[a:b], types_all[a:b], msgs_all[a:b], width,
                             skipped)
        stats[files[a]] = {"events": b - a, "bins": len(file_rows),
                           "empty_bins": sum(1 for r in file_rows if r["num_actions"] == 0),
                           "bins_without_state": sum(1 for r in file_rows if r["state"] is None),
                           "media": _bins_media(file_rows, media)}
        rows.extend(file_rows)
    for f in sorted(all_files - set(stats)):
        stats[f] = {"events": 0, "bins": 0, "skipped": "no_events_of_kept_topics"}
    cols = {k: [r[k] for r in rows] for k in bin_features()}
    return Dataset.from_dict(cols, features=bin_features()), stats


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
                         fps: float = 10.0, keep_topics: Sequence[str] | None = None, overwrite: bool = False):
    """Stage 2 over every split of a saved event dataset (arguments and output checked first)."""
    from datasets import DatasetDict

    if isinstance(fps, bool) or not isinstance(fps, int | float) or not math.isfinite(fps) or not 0 < fps <= 1e9:
        raise ConfigError(f"--fps must be a finite number in (0, 1e9], got {fps!r}")
    if keep_topics is not None and (isinstance(keep_topics, str)
                                    or not all(isinstance(t, str) and t.strip() for t in keep_topics)):
        raise ConfigError(f"--keep-topic must be non-empty topic names, got {keep_topics!r}")
    keep = tuple(keep_topics) if keep_topics else DEFAULT_KEEP
    events = load_splits(input_dir)
    if output_dir is not None:
        prepare_output_dir(output_dir, [input_dir], overwrite)
    out, stats, skipped = {}, {}, {}
    for split, ds in events.items():
        skipped[split] = Counter()
        out[split], stats[split] = bin_split(ds, fps, keep, skipped[split])
    dd = DatasetDict(out)
    manifest = {"stage": "bins", "fps": fps, "bin_width_ns": int(1e9 / fps), "keep_topics": list(keep),
                "files": stats, "events_manifest": load_manifest(input_dir),
                "skipped_rows": {split: dict(sorted(c.items())) for split, c in skipped.items() if c},
                "media_summary": {split: _split_media(st) for split, st in stats.items()}}
    dd.manifest = manifest  # type: ignore[attr-defined]
    if output_dir is not None:
        save_with_manifest(dd, output_dir, manifest)
    return dd
