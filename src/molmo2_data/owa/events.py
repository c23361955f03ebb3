"""Stage 1: OWAMcap recordings -> event dataset (Hugging Face ``DatasetDict`` saved to disk).

Columns (the seed's schema): ``file_path`` (absolute path of the ``.mcap``), ``topic``, ``timestamp_ns``
(int64 log time), ``message_type`` (schema name as written), ``msg`` (binary raw JSON payload).

Differences from the original pipeline, on purpose (spec/OWA.md §6 "Known defects"):

* the split is by file and deterministic, and made *after* reading: only recordings that gave rows are
  assigned (an unreadable or empty file is reported, never counted as a train or test file); with
  ``test_percent`` the test files are those with the smallest ``sha1(seed:name)``; one usable file goes
  to train (never an empty train);
* ``*.mcap`` is matched case-insensitively (``.MCAP`` files are read like the others);
* rows are in (sorted file, log time) order whatever the engine or number of workers (one task per
  recording, :mod:`.parts`);
* every message is read, including the last one (inclusive end);
* rate limiting (``--rate topic=Hz``, exact topic names) drops only *droppable* messages — mouse
  moves, screen frames, state snapshots, window info, raw mouse motion without buttons/wheel. Key
  presses/releases, clicks and scrolls are always kept (and count as a kept message for the limiter);
* per-file reasons for every skipped message or file go into ``owa_manifest.json`` next to the data,
  with readable reasons for damaged files (:mod:`.mcap_errors`) and how many screen rows point to no
  usable media (:mod:`.media_report`).
"""

from __future__ import annotations

import hashlib
import math
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from molmo2_data.engine import map_tasks
from molmo2_data.errors import ConfigError, Molmo2DataError
from molmo2_data.owa.media_report import ScreenMediaCheck, add_counts
from molmo2_data.owa.outputs import (  # noqa: F401 - re-exported (older imports)
    MANIFEST,
    load_manifest,
    load_splits,
    prepare_output_dir,
    save_with_manifest,
)
from molmo2_data.owa.parts import check_engine_args, dataset_from_tables, parts_dir, rows_table, write_part
from molmo2_data.owa.reader import Event, RecordingError, message_kind, read_recording

DEFAULT_RATES: dict[str, float] = {"mouse": 60.0, "screen": 20.0}


def event_features():
    from datasets import Features, Value

    return Features({"file_path": Value("string"), "topic": Value("string"), "timestamp_ns": Value("int64"),
                     "message_type": Value("string"), "msg": Value("binary")})


def parse_rates(specs: Sequence[str] | Mapping[str, float] | None) -> dict[str, float]:
    """``["mouse=60", "screen=20"]`` (also ``"mouse=60 screen=20"`` in one string) -> {topic: Hz}.
    ``topic=0`` disables limiting for that topic."""
    if specs is None:
        return dict(DEFAULT_RATES)
    if isinstance(specs, Mapping):
        items = [(str(k), v) for k, v in specs.items()]
    else:
        items = []
        for spec in specs:
            for part in str(spec).replace(",", " ").split():
                topic, sep, hz = part.partition("=")
                if not sep or not topic:
                    raise ConfigError(f"--rate expects topic=Hz, got {part!r}")
                items.append((topic, hz))
    rates: dict[str, float] = {}
    for topic, hz in items:
        try:
            value = float(hz)
        except (TypeError, ValueError):
            raise ConfigError(f"--rate {topic}={hz}: Hz must be a number") from None
        if not math.isfinite(value) or value < 0:
            raise ConfigError(f"--rate {topic}={hz}: Hz must be a finite number >= 0 (0 = no limit)")
        rates[topic] = value
    return rates


def is_droppable(ev: Event) -> bool:
    """Whether rate limiting may drop this message: movement and snapshots only, never a key, button
    or wheel event (decided once when the recording is read)."""
    return ev.droppable


class RateLimiter:
    """Drop-only per-topic limiter: keep a droppable message iff at least ``1e9/Hz`` ns passed since
    the last kept message of its topic (the first one always passes)."""

    def __init__(self, rates: Mapping[str, float]):
        self.min_interval = {t: int(1e9 / hz) for t, hz in rates.items() if hz > 0}
        self.last: dict[str, int] = {}

    def keep(self, ev: Event) -> bool:
        interval = self.min_interval.get(ev.topic)
        if interval is None:
            return True
        last = self.last.get(ev.topic)
        if last is not None and ev.timestamp_ns - last < interval and is_droppable(ev):
            return False
        self.last[ev.topic] = ev.timestamp_ns
        return True


@dataclass
class FileResult:
    """Kept rows of one file plus its accounting (goes into the manifest)."""

    path: str
    rows: list[Event] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)


def process_file(path: str, rates: Mapping[str, float]) -> FileResult:
    """Read one recording and rate-limit it. Never raises for bad input: the reason is in ``stats``."""
    res = FileResult(path=path)
    try:
        rec = read_recording(path)
    except (RecordingError, Molmo2DataError, OSError) as e:
        reason = getattr(e, "reason", "unreadable_file")
        text = str(e).removeprefix(f"{path}: ")  # the manifest entry is keyed by the path already
        res.stats = {"status": "failed", "reason": reason, "error": text[:300], "messages": 0, "kept": 0}
        return res
    limiter = RateLimiter(rates)
    dropped: Counter[str] = Counter()
    kept_by_topic: Counter[str] = Counter()
    media = ScreenMediaCheck()
    screen_rows, without_media = 0, Counter()
    for ev in rec.events:
        if limiter.keep(ev):
            res.rows.append(ev)
            kept_by_topic[ev.topic] += 1
            if message_kind(ev.message_type) == "ScreenCaptured":
                screen_rows += 1
                why = media.reason(ev.msg, path)
                if why:
                    without_media[why] += 1
        else:
            dropped[ev.topic] += 1
    status = "ok"
    if rec.error is not None:
        status = "truncated" if rec.events else "failed"
    elif not rec.events:
        status = "empty"
    res.stats = {
        "status": status, "reason": rec.error_reason, "error": rec.error, "library": rec.library,
        "messages": rec.total_messages, "kept": len(res.rows), "kept_by_topic": dict(sorted(kept_by_topic.items())),
        "rate_dropped": dict(sorted(dropped.items())), "skipped": dict(sorted(rec.skipped.items())),
        "notes": dict(sorted(rec.notes.items())),
        "media": {"screen_rows": screen_rows, "without_media": dict(sorted(without_media.items()))},
    }
    return res


def list_recordings(folder: str | os.PathLike) -> list[str]:
    """``*.mcap`` directly inside ``folder`` (not recursive, extension case-insensitive: ``.MCAP`` is read
    too), sorted, as absolute paths."""
    d = Path(folder)
    if not d.is_dir():
        raise ConfigError(f"not a directory: {folder}")
    return sorted(str(p.resolve()) for p in d.iterdir() if p.suffix.lower() == ".mcap" and p.is_file())


def split_files(train: list[str], test: list[str] | None = None, test_percent: float = 0.2,
                seed: int = 0) -> dict[str, list[str]]:
    """Deterministic split by file. With ``test`` given, those files are the test split (overlap with
    train is an error); else the ``max(1, int(n * p))`` files with the smallest ``sha1(seed:name)``
    are test — unless there is only one file, which stays in train."""
    if test is not None:
        overlap = sorted(set(train) & set(test))
        if overlap:
            raise ConfigError(f"files in both train and test: {overlap[:3]}")
        return {"train": sorted(train), "test": sorted(test)}
    if not 0 < test_percent < 1:
        raise ConfigError(f"--test-percent must be in (0, 1), got {test_percent}")
    files = sorted(train)
    n_test = max(1, int(len(files) * test_percent)) if len(files) > 1 else 0
    ranked = sorted(files, key=lambda f: hashlib.sha1(f"{seed}:{Path(f).name}".encode()).hexdigest())
    test_set = set(ranked[:n_test])
    return {"train": [f for f in files if f not in test_set], "test": [f for f in files if f in test_set]}


def _rows_table(res: FileResult):
    cols: dict[str, list[Any]] = {"file_path": [res.path] * len(res.rows), "topic": [], "timestamp_ns": [],
                                  "message_type": [], "msg": []}
    for ev in res.rows:
        cols["topic"].append(ev.topic)
        cols["timestamp_ns"].append(ev.timestamp_ns)
        cols["message_type"].append(ev.message_type)
        cols["msg"].append(ev.msg)
    return rows_table(cols, event_features())


@dataclass(frozen=True)
class EventTask:
    """Stage-1 task: one recording, its kept rows written to ``part`` (nothing when it gave none)."""

    path: str
    rates: dict[str, float]
    part: str


def run_event_task(task: EventTask) -> dict[str, Any]:
    """Read, rate-limit and write one recording's rows (a part file); returns its manifest entry.
    Never raises for a bad recording (the reason is in the entry); running it again rewrites the part."""
    res = process_file(task.path, task.rates)
    if res.rows:
        write_part(_rows_table(res), task.part)
    return res.stats


def _run_event_tasks(tasks: list[EventTask], engine: str, address: str | None, workers: int) -> list[dict[str, Any]]:
    if engine == "local" and workers > 1 and len(tasks) > 1:
        from tqdm import tqdm

        with ProcessPoolExecutor(max_workers=min(workers, len(tasks))) as pool:
            return list(tqdm(pool.map(run_event_task, tasks), total=len(tasks), desc="owa events", unit="file"))
    return map_tasks(run_event_task, tasks, engine=engine, address=address, desc="owa events")  # type: ignore[arg-type]


def build_event_dataset(train_dir: str | os.PathLike, output_dir: str | os.PathLike | None = None, *,
                        test_dir: str | os.PathLike | None = None, test_percent: float = 0.2,
                        rates: Sequence[str] | Mapping[str, float] | None = None, workers: int = 1,
                        seed: int = 0, overwrite: bool = False, engine: str = "local", address: str | None = None):
    """Build (and, with ``output_dir``, save) the stage-1 ``DatasetDict`` with splits train and test.

    Every argument and the output directory are checked before any file is read (:mod:`.outputs`);
    files are read first (one task per recording on ``engine``: ``local`` here — in ``workers``
    processes when > 1 —, or ``ray`` at ``address``) and only those that gave rows are split."""
    from datasets import DatasetDict

    rate_map = parse_rates(rates)
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 0:
        raise ConfigError(f"--workers must be an integer >= 0, got {workers!r}")
    engine = check_engine_args(engine, output_dir, address)
    if engine == "ray" and workers > 1:
        raise ConfigError("--workers is for the local engine; with --engine ray the cluster's CPUs run the files")
    train = list_recordings(train_dir)
    test = list_recordings(test_dir) if test_dir is not None else None
    if not train and not test:
        raise ConfigError(f"no *.mcap files in {train_dir}" + (f" or {test_dir}" if test_dir else ""))
    split_files(train, test, test_percent, seed)  # argument errors before any work
    if output_dir is not None:
        prepare_output_dir(output_dir, [train_dir, test_dir], overwrite)
    order = sorted(set(train) | set(test or []))
    with parts_dir(output_dir) as work:
        tasks = [EventTask(f, rate_map, str(work / f"{i:06d}.part")) for i, f in enumerate(order)]
        stats = dict(zip(order, _run_event_tasks(tasks, engine, address, workers), strict=True))
        part_of = {t.path: t.part for t in tasks}
        usable = {f for f, st in stats.items() if st["kept"]}
        splits = split_files([f for f in train if f in usable],
                             None if test is None else [f for f in test if f in usable], test_percent, seed)
        split_of = {f: s for s, files in splits.items() for f in files}
        for f, st in stats.items():
            st["split"] = split_of.get(f)
        dd = DatasetDict({s: dataset_from_tables([part_of[f] for f in files], event_features())
                          for s, files in splits.items()})
    unassigned = {f: st.get("error") or "no messages" for f, st in stats.items() if not st["kept"]}
    manifest = {"stage": "events", "rates": rate_map, "seed": seed, "test_percent": test_percent,
                "splits": splits, "unassigned": unassigned, "files": stats,
                "media_summary": _media_summary(stats, splits)}
    dd.manifest = manifest  # type: ignore[attr-defined]
    if output_dir is not None:
        save_with_manifest(dd, output_dir, manifest)
    return dd


def _media_summary(stats: dict[str, dict[str, Any]], splits: dict[str, list[str]]) -> dict[str, Any]:
    """Per split: screen rows, and how many of them point to no usable media, by reason."""
    out: dict[str, Any] = {}
    for split, files in splits.items():
        rows, reasons = 0, Counter()
        for f in files:
            media = stats[f].get("media", {})
            rows += media.get("screen_rows", 0)
            add_counts(reasons, media.get("without_media", {}))
        out[split] = {"rows": rows, "without_media": dict(sorted(reasons.items()))}
    return out
