"""Stage 1: OWAMcap recordings -> event dataset (Hugging Face ``DatasetDict`` saved to disk).

Columns (the seed's schema): ``file_path`` (absolute path of the ``.mcap``), ``topic``, ``timestamp_ns``
(int64 log time), ``message_type`` (schema name as written), ``msg`` (binary raw JSON payload).

Differences from the original pipeline, on purpose (spec/OWA.md §6 "Known defects"):

* the split is by file and deterministic: files are sorted, and with ``test_percent`` the test files are
  those with the smallest ``sha1(seed:name)``; one input file goes to train (never an empty train);
* rows are in (sorted file, log time) order whatever the number of workers;
* every message is read, including the last one (inclusive end);
* rate limiting (``--rate topic=Hz``, exact topic names) drops only *droppable* messages — mouse
  moves, screen frames, state snapshots, window info, raw mouse motion without buttons/wheel. Key
  presses/releases, clicks and scrolls are always kept (and count as a kept message for the limiter);
* per-file reasons for every skipped message or file go into ``owa_manifest.json`` next to the data.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from molmo2_data.errors import ConfigError, Molmo2DataError
from molmo2_data.owa.reader import Event, RecordingError, read_recording

DEFAULT_RATES: dict[str, float] = {"mouse": 60.0, "screen": 20.0}
MANIFEST = "owa_manifest.json"


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
        except ValueError:
            raise ConfigError(f"--rate {topic}={hz}: Hz must be a number") from None
        if value < 0:
            raise ConfigError(f"--rate {topic}={hz}: Hz must be >= 0")
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
        res.stats = {"status": "failed", "error": str(e)[:300], "messages": 0, "kept": 0}
        return res
    limiter = RateLimiter(rates)
    dropped: Counter[str] = Counter()
    kept_by_topic: Counter[str] = Counter()
    for ev in rec.events:
        if limiter.keep(ev):
            res.rows.append(ev)
            kept_by_topic[ev.topic] += 1
        else:
            dropped[ev.topic] += 1
    status = "ok"
    if rec.error is not None:
        status = "truncated" if rec.events else "failed"
    elif not rec.events:
        status = "empty"
    res.stats = {
        "status": status, "error": rec.error, "library": rec.library, "messages": rec.total_messages,
        "kept": len(res.rows), "kept_by_topic": dict(sorted(kept_by_topic.items())),
        "rate_dropped": dict(sorted(dropped.items())), "skipped": dict(sorted(rec.skipped.items())),
        "notes": dict(sorted(rec.notes.items())),
    }
    return res


def list_recordings(folder: str | os.PathLike) -> list[str]:
    """``*.mcap`` directly inside ``folder`` (not recursive), sorted, as absolute paths."""
    d = Path(folder)
    if not d.is_dir():
        raise ConfigError(f"not a directory: {folder}")
    return sorted(str(p.resolve()) for p in d.glob("*.mcap") if p.is_file())


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


def _rows_to_dataset(results: list[FileResult]):
    from datasets import Dataset

    cols: dict[str, list[Any]] = {"file_path": [], "topic": [], "timestamp_ns": [], "message_type": [], "msg": []}
    for res in results:
        for ev in res.rows:
            cols["file_path"].append(res.path)
            cols["topic"].append(ev.topic)
            cols["timestamp_ns"].append(ev.timestamp_ns)
            cols["message_type"].append(ev.message_type)
            cols["msg"].append(ev.msg)
    return Dataset.from_dict(cols, features=event_features())


def build_event_dataset(train_dir: str | os.PathLike, output_dir: str | os.PathLike | None = None, *,
                        test_dir: str | os.PathLike | None = None, test_percent: float = 0.2,
                        rates: Sequence[str] | Mapping[str, float] | None = None, workers: int = 1,
                        seed: int = 0):
    """Build (and, with ``output_dir``, save) the stage-1 ``DatasetDict`` with splits train and test."""
    from datasets import DatasetDict

    rate_map = parse_rates(rates)
    train = list_recordings(train_dir)
    test = list_recordings(test_dir) if test_dir is not None else None
    if not train and not test:
        raise ConfigError(f"no *.mcap files in {train_dir}" + (f" or {test_dir}" if test_dir else ""))
    splits = split_files(train, test, test_percent, seed)
    order = [f for s in ("train", "test") for f in splits[s]]
    if workers > 1 and len(order) > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(process_file, order, [rate_map] * len(order)))
    else:
        results = [process_file(f, rate_map) for f in order]
    by_path = {r.path: r for r in results}
    dd = DatasetDict({s: _rows_to_dataset([by_path[f] for f in files]) for s, files in splits.items()})
    manifest = {"stage": "events", "rates": rate_map, "seed": seed, "test_percent": test_percent,
                "splits": splits, "files": {r.path: r.stats for r in results}}
    dd.manifest = manifest  # type: ignore[attr-defined]
    if output_dir is not None:
        save_with_manifest(dd, output_dir, manifest)
    return dd


def save_with_manifest(dd: Any, output_dir: str | os.PathLike, manifest: dict[str, Any]) -> None:
    """``save_to_disk`` plus ``owa_manifest.json``. Empty splits are listed in the manifest instead of
    saved (``datasets`` cannot load a saved zero-row split); :func:`load_splits` restores them."""
    import datasets

    out = Path(output_dir)
    nonempty = {k: v for k, v in dd.items() if len(v)}
    manifest["empty_splits"] = sorted(k for k in dd if k not in nonempty)
    if not nonempty:
        out.mkdir(parents=True, exist_ok=True)
        (out / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True, default=str))
        raise ConfigError(f"nothing to save: every split is empty (reasons in {out / MANIFEST})")
    quiet = datasets.is_progress_bar_enabled()
    if quiet:
        datasets.disable_progress_bars()
    try:
        datasets.DatasetDict(nonempty).save_to_disk(str(out))
    finally:
        if quiet:
            datasets.enable_progress_bars()
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True, default=str))


def load_manifest(folder: str | os.PathLike) -> dict[str, Any]:
    p = Path(folder) / MANIFEST
    return json.loads(p.read_text()) if p.exists() else {}


def load_splits(input_dir: str | os.PathLike):
    """``load_from_disk`` normalised to a DatasetDict (a plain saved Dataset becomes split "train"),
    with the empty splits recorded in the manifest restored as zero-row datasets."""
    from datasets import Dataset, DatasetDict, load_from_disk

    if not Path(input_dir).exists():
        raise ConfigError(f"no dataset at {input_dir}")
    ds = load_from_disk(str(input_dir))
    dd = DatasetDict({"train": ds}) if isinstance(ds, Dataset) else ds
    features = next(iter(dd.values())).features
    for split in load_manifest(input_dir).get("empty_splits", []):
        dd[split] = Dataset.from_dict({k: [] for k in features}, features=features)
    return dd
