"""Stage 3: binned dataset -> MLLM dataset (overlapping windows of bins).

Per file (bins sorted by ``bin_idx``; one task per file on the chosen engine, :mod:`.parts`), windows of ``sequence_length`` bins start every
``step = max(1, int(L * (1 - overlap_ratio)))`` bins while a full window fits; the bins after the last
full window are kept as one final, shorter window (``metadata.is_partial``); a file with fewer than
``L`` bins gives one partial window.

Columns: ``instruction``; ``encoded_events`` (every action of the window, :mod:`.encoder` format, with
its real topic and its time relative to the window start); ``image_refs`` (one per bin that has a
screen state: resolved video ``path``, ``pts_ns``, ``utc_ns``, bin ``timestamp_ns`` and ``bin_idx``,
``screen_timestamp_ns``, ``width``/``height`` as recorded, and ``error`` — null, or why the frame
cannot be produced: ``missing_video``, ``pts_past_end``, ``bad_screen_payload``, ``not_a_video``);
``action_vectors`` / ``state_vectors`` (numeric twins of the events and the per-bin state,
:mod:`.numeric`); ``metadata`` (file, window bounds, counts, ``event_bin_offsets`` = the window-relative bin of each
encoded event, ``skipped_events`` = actions that could not be encoded, ``missing_images`` = ``{bin_idx, reason}`` for every bin without a usable frame,
including ``no_screen_yet`` before the first screen message).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from molmo2_data.engine import map_tasks
from molmo2_data.errors import ConfigError, SchemaError
from molmo2_data.owa.encoder import EventEncoder, EventFormatError
from molmo2_data.owa.media_report import mllm_media_summary
from molmo2_data.owa.numeric import window_vectors
from molmo2_data.owa.outputs import load_manifest, load_splits, prepare_output_dir, save_with_manifest
from molmo2_data.owa.parts import (
    Rows,
    SplitPlan,
    check_engine_args,
    dataset_from_columns,
    file_runs,
    parts_dir,
    read_source,
    split_source,
    write_part,
)
from molmo2_data.owa.reader import parse_screen

DEFAULT_INSTRUCTION = "Complete the computer task"


def mllm_features():
    from datasets import Features, Value

    try:
        from datasets import List
    except ImportError:  # datasets < 4: Sequence (lists of structs then read back as dicts of lists)
        from datasets import Sequence as List

    ref = {"path": Value("string"), "pts_ns": Value("int64"), "utc_ns": Value("int64"),
           "timestamp_ns": Value("int64"), "bin_idx": Value("int32"), "screen_timestamp_ns": Value("int64"),
           "width": Value("int32"), "height": Value("int32"), "error": Value("string")}
    meta = {"file_path": Value("string"), "sequence_idx": Value("int32"), "start_bin_idx": Value("int32"),
            "end_bin_idx": Value("int32"), "start_timestamp_ns": Value("int64"),
            "end_timestamp_ns": Value("int64"), "bin_width_ns": Value("int64"), "num_bins": Value("int32"),
            "num_images": Value("int32"), "num_actions": Value("int32"), "is_partial": Value("bool"),
            "event_bin_offsets": List(Value("int32")), "skipped_events": Value("int32"),
            "missing_images": List({"bin_idx": Value("int32"), "reason": Value("string")})}
    return Features({"instruction": Value("string"), "encoded_events": List(Value("string")),
                     "image_refs": List(ref), "metadata": meta,
                     "action_vectors": List(List(Value("float64"))), "state_vectors": List(List(Value("float64")))})


def window_bounds(n: int, length: int, overlap_ratio: float) -> list[tuple[int, int]]:
    """[start, end) bin ranges: full overlapping windows, then the trailing bins as a final window."""
    if n <= 0:
        return []
    if n < length:
        return [(0, n)]
    step = max(1, int(length * (1 - overlap_ratio)))
    bounds = [(s, s + length) for s in range(0, n - length + 1, step)]
    if bounds[-1][1] < n:
        bounds.append((bounds[-1][0] + step, n))
    return bounds


class _MediaCheck:
    """Per-video existence / duration check, cached (one probe per file)."""

    def __init__(self) -> None:
        self.duration: dict[str, float | str] = {}

    def error(self, path: str, pts_ns: int | None) -> str | None:
        if "://" in path or path.startswith("data:"):
            return None  # remote or embedded: checked when loaded
        if path not in self.duration:
            self.duration[path] = self._probe(path)
        d = self.duration[path]
        if isinstance(d, str):
            return d
        if pts_ns is not None and pts_ns > d * 1e9 + 1_000_000:  # d = start + duration
            return "pts_past_end"
        return None

    @staticmethod
    def _probe(path: str) -> float | str:
        from molmo2_data.media.video import probe_video
        from molmo2_data.owa.frames import stream_start_seconds

        if not os.path.exists(path):
            return "missing_video"
        if Path(path).suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp", ".webp"):
            return float("inf")
        try:
            end = stream_start_seconds(path) + probe_video(path).duration
        except Exception:  # noqa: BLE001 - av.error.* (InvalidDataError...), OSError, no video stream: all mean
            return "not_a_video"  # "this file cannot give frames", recorded per bin, never a crash
        return end if math.isfinite(end) else "not_a_video"


def _image_ref(row: dict[str, Any], media: _MediaCheck) -> dict[str, Any]:
    ref: dict[str, Any] = {"path": None, "pts_ns": None, "utc_ns": None, "timestamp_ns": row["timestamp_ns"],
                           "bin_idx": row["bin_idx"], "screen_timestamp_ns": row.get("state_timestamp_ns"),
                           "width": None, "height": None, "error": None}
    try:
        s = parse_screen(row["state"], row["file_path"])
    except (ValueError, TypeError, AttributeError):
        ref["error"] = "bad_screen_payload"
        return ref
    ref.update(path=s.uri, pts_ns=s.pts_ns, utc_ns=s.utc_ns, width=s.width, height=s.height)
    ref["error"] = media.error(s.uri, s.pts_ns)
    return ref


def window_row(bins: list[dict[str, Any]], sequence_idx: int, instruction: str, is_partial: bool,
               width_ns: int, encoder: EventEncoder, media: _MediaCheck) -> dict[str, Any]:
    """One MLLM row from consecutive bins of one file."""
    base = bins[0]["timestamp_ns"]
    events: list[str] = []
    offsets: list[int] = []
    refs: list[dict[str, Any]] = []
    missing: list[dict[str, Any]] = []
    bad_events = 0
    for k, b in enumerate(bins):
        if b["state"] is None:
            missing.append({"bin_idx": b["bin_idx"], "reason": "no_screen_yet"})
        else:
            ref = _image_ref(b, media)
            refs.append(ref)
            if ref["error"]:
                missing.append({"bin_idx": b["bin_idx"], "reason": ref["error"]})
        try:
            actions = json.loads(b["actions"] or b"[]")
            if not isinstance(actions, list):
                raise ValueError("actions is not a JSON list")
        except ValueError:  # also UnicodeDecodeError: the bin's actions are unreadable, counted as skipped
            bad_events += int(b.get("num_actions") or 1)
            actions = []
        for a in actions:
            try:
                events.append(encoder.encode(a["topic"], a["timestamp_ns"], a["message_type"], a["msg"], base))
            except (EventFormatError, ValueError, KeyError, TypeError):
                bad_events += 1
                continue
            offsets.append(k)
    meta = {"file_path": bins[0]["file_path"], "sequence_idx": sequence_idx,
            "start_bin_idx": bins[0]["bin_idx"], "end_bin_idx": bins[-1]["bin_idx"],
            "start_timestamp_ns": base, "end_timestamp_ns": bins[-1]["timestamp_ns"], "bin_width_ns": width_ns,
            "num_bins": len(bins), "num_images": sum(1 for r in refs if not r["error"]),
            "num_actions": len(events), "is_partial": is_partial, "event_bin_offsets": offsets,
            "missing_images": missing, "skipped_events": bad_events}
    actions, states = window_vectors(events, offsets, len(bins), encoder)
    return {"instruction": instruction, "encoded_events": events, "image_refs": refs, "metadata": meta,
            "action_vectors": actions.tolist(), "state_vectors": states.tolist()}


@dataclass(frozen=True)
class SequenceTask:
    """Stage-3 task: the windows of one file, from its bins (``rows`` of the split's table at
    ``source``, in ``bin_idx`` order), written to ``part``."""

    source: tuple[str, ...]
    rows: Rows
    sequence_length: int
    overlap_ratio: float
    instruction: str
    width_ns: int
    part: str


def run_sequence_task(task: SequenceTask) -> int:
    """Cut one file's bins into windows and write them (a part file); returns the number of windows."""
    file_bins = task.rows.take(read_source(task.source)).to_pylist()
    encoder, media = EventEncoder(), _MediaCheck()
    L = task.sequence_length
    out = [window_row(file_bins[a:b], seq_idx, task.instruction, b - a < L, task.width_ns, encoder, media)
           for seq_idx, (a, b) in enumerate(window_bounds(len(file_bins), L, task.overlap_ratio))]
    write_part({k: [r[k] for r in out] for k in mllm_features()}, task.part)
    return len(out)


def plan_sequences(ds: Any, sequence_length: int, overlap_ratio: float, instruction: str, width_ns: int,
                   work: Path, tag: str) -> SplitPlan:
    """The tasks of one split (an HF Dataset of bins): its rows grouped by file, sorted by ``bin_idx``."""
    import pyarrow.compute as pc

    plan = SplitPlan()
    source = split_source(ds, work, f"input-{tag}.arrow")
    table = read_source(source)
    for col in ("file_path", "bin_idx", "timestamp_ns", "state", "actions"):
        if col not in table.column_names:
            raise SchemaError(f"binned dataset lacks column {col!r}")
    keys = table.select(["file_path", "bin_idx"])
    order = pc.sort_indices(keys, [("file_path", "ascending"), ("bin_idx", "ascending")])
    files = keys["file_path"].take(order).to_pylist()
    index = order.to_numpy()
    for k, (a, b) in enumerate(file_runs(files)):
        plan.files.append(files[a])
        plan.tasks.append(SequenceTask(source, Rows.of(index[a:b]), sequence_length, overlap_ratio, instruction,
                                       width_ns, str(work / f"mllm-{tag}-{k:06d}.part")))
    return plan


def build_mllm_dataset(input_dir: str | os.PathLike, output_dir: str | os.PathLike | None = None, *,
                       sequence_length: int = 32, overlap_ratio: float = 0.5,
                       instruction: str = DEFAULT_INSTRUCTION, overwrite: bool = False, engine: str = "local",
                       address: str | None = None):
    """Stage 3 over every split of a saved binned dataset (arguments and output checked first); one
    task per file of a split on ``engine`` (``local`` or ``ray`` at ``address``)."""
    from datasets import DatasetDict

    if not isinstance(sequence_length, int) or isinstance(sequence_length, bool) or sequence_length < 1:
        raise ConfigError(f"--sequence-length must be an integer >= 1, got {sequence_length!r}")
    if isinstance(overlap_ratio, bool) or not isinstance(overlap_ratio, int | float) \
            or not 0 <= overlap_ratio < 1:
        raise ConfigError(f"--overlap-ratio must be in [0, 1), got {overlap_ratio!r}")
    if not isinstance(instruction, str) or not instruction.strip():
        raise ConfigError(f"--instruction must be non-empty text, got {instruction!r}")
    engine = check_engine_args(engine, output_dir, address)
    bins = load_splits(input_dir)
    if output_dir is not None:
        prepare_output_dir(output_dir, [input_dir], overwrite)
    bins_manifest = load_manifest(input_dir)
    width = int(bins_manifest.get("bin_width_ns") or 0)
    if not width:
        width = _infer_width(bins)
    with parts_dir(output_dir) as work:
        plans = {s: plan_sequences(ds, sequence_length, overlap_ratio, instruction, width, work, str(i))
                 for i, (s, ds) in enumerate(bins.items())}
        map_tasks(run_sequence_task, [t for p in plans.values() for t in p.tasks], engine=engine, address=address,
                  desc="owa sequences")
        dd = DatasetDict({s: dataset_from_columns([t.part for t in p.tasks], mllm_features()) for s, p in plans.items()})
    manifest = {"stage": "sequences", "sequence_length": sequence_length, "overlap_ratio": overlap_ratio,
                "instruction": instruction, "bins_manifest": bins_manifest,
                "rows": {s: len(d) for s, d in dd.items()},
                "media_summary": {s: mllm_media_summary(d) for s, d in dd.items()}}
    dd.manifest = manifest  # type: ignore[attr-defined]
    if output_dir is not None:
        save_with_manifest(dd, output_dir, manifest)
    return dd


def _infer_width(bins: Any) -> int:
    for ds in bins.values():
        if len(ds) >= 2:
            t = ds.select(range(2))["timestamp_ns"]
            return int(t[1] - t[0])
    return 0
