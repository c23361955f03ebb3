"""The ``prepare videos`` job: which videos, the manifest, and the engine that runs one task per video.

Which videos: the distinct original files that the selected datasets' local tables name (the same
``(source, video id)`` needs as ``download --check``), each prepared once however many datasets share it.
A video found only as a prepared copy (an official ``_2fps`` download) has nothing to prepare.

The manifest ``$root/manifests/prepared-videos.jsonl`` gets one JSON line per video a run prepared,
found unneeded or failed on; the latest line of a source wins. A rerun skips a video whose record says
ok for the same source stamp (size, mtime) and settings and whose output still has the recorded sha256;
a failed one is tried again. Only the driver writes the manifest (workers return their records), so
concurrent appends from many nodes never interleave. Appending also changes the manifest's mtime, which
is part of the video datasets' index cache key: the next loader open resolves ids to the prepared files.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from molmo2_data import paths
from molmo2_data.engine import Engine, check_engine, map_tasks
from molmo2_data.errors import ConfigError, UnknownDatasetError
from molmo2_data.prepare.videos import VideoTask, prepare_video


@dataclass
class PrepareReport:
    """What a run found and did (counts are distinct source videos)."""

    root: Path
    manifest: Path
    datasets: list[str] = field(default_factory=list)
    no_table: list[str] = field(default_factory=list)  # selected datasets without a local table
    videos: int = 0  # original files to prepare
    missing: int = 0  # named by a table, not on disk as a video file
    only_prepared: int = 0  # on disk only as a prepared copy (nothing to prepare from)
    prepared: int = 0  # written this run
    unchanged: int = 0  # up to date from an earlier run
    unneeded: int = 0  # no more frames than the prepared copy would have
    failed: Counter[str] = field(default_factory=Counter)  # by kind of reason
    failures: list[tuple[str, str]] = field(default_factory=list)  # (source, reason)
    source_bytes: int = 0  # of the videos that have a prepared copy
    output_bytes: int = 0
    work_seconds: float = 0.0  # summed over the tasks that did work
    seconds: float = 0.0  # wall clock of the run

    @property
    def ok(self) -> int:
        return self.prepared + self.unchanged


def select_videos(root: str | os.PathLike, datasets: list[str] | None = None
                  ) -> tuple[list[str], list[str], list[str], int, int]:
    """(video datasets selected, of them those without a local table, original files relative to
    ``root`` in sorted order, ids missing on disk, ids found only as a prepared copy).
    ``datasets`` None: every training video dataset with a local table."""
    from molmo2_data.datasets.media_store import VideoFinder
    from molmo2_data.download.plan import resolve_targets, video_needs
    from molmo2_data.tables import read_table

    root = Path(root)
    try:
        targets = resolve_targets(None if datasets else "all", datasets, False)
    except UnknownDatasetError as e:  # a bad argument (exit status 2), not a failed job
        raise ConfigError(f"--datasets: {e}") from e
    if datasets:
        bad = [t.name for t in targets if t.media != "video"]
        if bad:
            raise ConfigError(f"not a video dataset: {', '.join(bad)} (prepare videos takes datasets whose media "
                              "are video files)")
    else:
        targets = [t for t in targets if t.media == "video"]
    chosen, no_table = [], []
    needs: set[tuple[str, str]] = set()
    for t in targets:
        files = t.table_files(root)
        if not files:
            if datasets:
                no_table.append(t.name)
            continue
        chosen.append(t.name)
        for f in files:
            needs.update(video_needs(t, read_table(f), f.stem))
    finders: dict[str, VideoFinder] = {}
    found: set[str] = set()
    missing = only_prepared = 0
    for source, vid in sorted(needs):
        finder = finders.get(source) or finders.setdefault(source, VideoFinder([source], root))
        original = finder.find_original(vid)
        if original is not None:
            found.add(os.path.relpath(original, root))
        elif finder.find(vid) is not None:
            only_prepared += 1
        else:
            missing += 1
    return chosen, no_table, sorted(found), missing, only_prepared


def output_for(source: str, fps: float) -> str:
    """The prepared copy's path (relative, like ``source``): ``<same folder>/<stem>_<fps>fps.mp4``."""
    folder, name = os.path.split(source)
    return os.path.join(folder, paths.prepared_video_name(os.path.splitext(name)[0], fps))


def load_manifest(path: Path) -> dict[str, dict[str, Any]]:
    """Latest record per source (later lines win; a torn last line after a kill is ignored)."""
    latest: dict[str, dict[str, Any]] = {}
    if not path.exists():
        return latest
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict) and isinstance(rec.get("source"), str):
                latest[rec["source"]] = rec
    return latest


class _Appender:
    """The manifest, opened on the first line (a run that changes nothing leaves it, and its mtime, alone);
    each line is flushed, so a killed run keeps every record it finished."""

    def __init__(self, path: Path):
        self.path = path
        self._f: IO[str] | None = None

    def write(self, rec: dict[str, Any]) -> None:
        if self._f is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._f = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
        self._f.write(json.dumps({k: v for k, v in rec.items() if k != "unchanged"}, separators=(",", ":")) + "\n")
        self._f.flush()

    def close(self) -> None:
        if self._f is not None:
            self._f.close()


def prepare_videos(root: str | os.PathLike | None = None, datasets: list[str] | None = None, *,
                   engine: Engine = "local", address: str | None = None, fps: float = 2.0, crf: int = 0,
                   force: bool = False, progress: bool = True) -> PrepareReport:
    """Prepare every video of ``datasets`` (default: all training video datasets with local tables) on
    ``engine``; see the module docstring and docs/prepare.md."""
    check_engine(engine)
    if not (fps > 0 and fps == fps and fps != float("inf")):
        raise ConfigError(f"fps must be a finite number > 0, got {fps!r}")
    if not 0 <= crf <= 51:
        raise ConfigError(f"crf must be in 0..51 (0 = lossless), got {crf!r}")
    t0 = time.perf_counter()
    root = paths.data_root(root)
    if root.exists() and not root.is_dir():
        raise ConfigError(f"data root is not a directory: {root}")
    manifest = paths.prepared_manifest_path(root)
    report = PrepareReport(root=root, manifest=manifest)
    report.datasets, report.no_table, sources, report.missing, report.only_prepared = select_videos(root, datasets)
    report.videos = len(sources)
    previous = load_manifest(manifest)
    outputs = [output_for(s, fps) for s in sources]
    tasks = [VideoTask(str(root), s, o, fps, crf, force, previous.get(s)) for s, o in zip(sources, outputs, strict=True)]
    appender = _Appender(manifest)

    def on_result(_i: int, rec: dict[str, Any]) -> None:
        if not rec.get("unchanged"):
            appender.write(rec)
            report.work_seconds += float(rec.get("seconds", 0.0))
        _tally(report, rec)

    try:
        map_tasks(prepare_video, tasks, engine=engine, address=address, desc="prepare videos", progress=progress,
                  on_result=on_result)
    finally:
        appender.close()
    report.seconds = time.perf_counter() - t0
    return report


def _tally(report: PrepareReport, rec: dict[str, Any]) -> None:
    status = rec.get("status")
    if status == "ok":
        if rec.get("unchanged"):
            report.unchanged += 1
        else:
            report.prepared += 1
        report.source_bytes += int(rec.get("source_size", 0))
        report.output_bytes += int(rec.get("bytes", 0))
    elif status == "unneeded":
        report.unneeded += 1
    else:
        reason = str(rec.get("reason", "unknown"))
        report.failed[reason.split(":", 1)[0]] += 1
        report.failures.append((str(rec.get("source")), reason))


def summary_lines(report: PrepareReport, limit: int = 10) -> list[str]:
    """The report as the CLI prints it."""
    r = report
    lines = [f"prepare videos: {r.videos} videos of {len(r.datasets)} datasets under {r.root}"]
    if r.no_table:
        lines.append(f"  no local table (download it first): {', '.join(r.no_table)}")
    lines.append(f"  prepared {r.prepared}, up to date {r.unchanged}, not needed {r.unneeded}, "
                 f"failed {sum(r.failed.values())}" + (f"; not on disk {r.missing}" if r.missing else "")
                 + (f"; only a prepared copy {r.only_prepared}" if r.only_prepared else ""))
    if r.ok:
        ratio = r.output_bytes / r.source_bytes if r.source_bytes else 0.0
        lines.append(f"  bytes: sources {r.source_bytes / 1e6:,.1f} MB -> prepared {r.output_bytes / 1e6:,.1f} MB "
                     f"({ratio:.2f}x)")
    done = r.prepared + r.unneeded + sum(r.failed.values())
    if done and r.work_seconds > 0:
        lines.append(f"  {r.seconds:.1f} s wall, {r.work_seconds / done:.2f} s of one core per video")
    for kind, n in sorted(r.failed.items()):
        lines.append(f"  failed ({kind}): {n}")
    for source, reason in r.failures[:limit]:
        lines.append(f"    {source}: {reason}")
    if len(r.failures) > limit:
        lines.append(f"    ... {len(r.failures) - limit} more in {r.manifest}")
    lines.append(f"  manifest: {r.manifest}")
    return lines
