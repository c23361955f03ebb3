"""The download of a list of datasets: tables, then media, then an honest report."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from molmo2_data import paths
from molmo2_data.download.fetch import FetchOptions, FetchStats, fetch_media
from molmo2_data.download.hub import TableResult, fetch_tables, hub_settings
from molmo2_data.download.manifest import FAILED, load_records, manifest_path
from molmo2_data.download.plan import MAPPING_FILE, Report, Target, check, media_items, video_items
from molmo2_data.download.waiting import WaitStatus
from molmo2_data.errors import Molmo2DataError

Log = Callable[[str], None]


@dataclass
class DownloadOptions:
    root: Path
    fetch: FetchOptions = field(default_factory=FetchOptions)
    shard: tuple[int, int] | None = None
    tables: bool = True
    media: bool = True
    refresh_tables: bool = False
    revision: str | None = None
    dry_run: bool = False
    quiet: bool = False
    engine: str = "local"  # local | ray (molmo2_data.download.ray_fetch)
    address: str | None = None  # Ray cluster address
    task_size: int = 2000  # URLs per Ray task


@dataclass
class DatasetOutcome:
    target: Target
    tables: list[TableResult] = field(default_factory=list)
    fetch: FetchStats | None = None
    report: Report | None = None
    error: str = ""
    plan: dict[str, int] = field(default_factory=dict)  # dry run: what would be done


def download(targets: list[Target], opts: DownloadOptions, log: Log = print) -> list[DatasetOutcome]:
    """Download every target; a failure of one dataset (e.g. no access to its Hub repo) is reported
    and the others continue."""
    outcomes = []
    for t in targets:
        out = DatasetOutcome(t)
        try:
            if opts.dry_run:
                out.plan = dry_run_plan(t, opts)
            else:
                _download_one(t, opts, out, log)
        except Molmo2DataError as e:
            out.error = str(e)
            log(f"error: {e}")
        if not opts.dry_run:
            try:
                out.report = check(t, opts.root, load_records(opts.root, t.name), shard=opts.shard)
            except Molmo2DataError as e:  # e.g. a malformed local table: said once, the others go on
                if not out.error:
                    out.error = str(e)
                    log(f"error: {e}")
            if out.report is not None and out.report.tables and opts.shard is None:
                build_indexes(t, opts.root, log)
        outcomes.append(out)
    return outcomes


def has_failures(outcomes: list[DatasetOutcome]) -> bool:
    """True when a dataset of the run ended incomplete through failures: URLs that failed (now or in
    an earlier run, permanent or transient) or a table not found on the Hub. Videos to be fetched by
    hand are not failures (nothing was tried); they are listed in the report."""
    for o in outcomes:
        if any(t.status == "missing" for t in o.tables):
            return True
        if o.report is not None and (o.report.failed or o.report.transient):
            return True
    return False


def build_indexes(t: Target, root: Path | str | None, log: Log) -> None:
    """Build (and cache) the reader's index of every split now, so the first training run opens the
    dataset in well under a second and sees only rows whose media exist."""
    from molmo2_data.datasets import get_dataset

    for split in getattr(t.cls, "SPLITS", {"train": "train"}):
        try:
            get_dataset(t.name, split=split, root=root)
        except Molmo2DataError as e:
            log(f"{t.name} ({split}): index not built: {e}")


def _download_one(t: Target, opts: DownloadOptions, out: DatasetOutcome, log: Log) -> None:
    hf_path = getattr(t.cls, "HF_PATH", "")
    if getattr(t.cls, "MANUAL", None) is not None:  # fetched by hand: import what is there, say the rest
        from molmo2_data.download.manual import import_manual, instructions

        if opts.tables and t.cls.MANUAL.hub:
            from molmo2_data.download.hub import fetch_files

            fetch_files(t.name, t.cls.MANUAL.hub, t.cls.MANUAL.hub_files, paths.manual_dir(t.name, opts.root),
                        revision=opts.revision, quiet=opts.quiet, log=log)
        if opts.tables:
            done = import_manual(t.name, t.cls, t.tables(), opts.root, log, refresh=opts.refresh_tables)
            if any(v.startswith("missing") for v in done.values()):
                log(instructions(t.name, t.cls, opts.root))
        return
    if opts.tables and hf_path:
        t0 = time.perf_counter()
        out.tables = fetch_tables(t.name, hf_path, list(t.cls.CONFIGS), t.source_splits(), opts.root,
                                  revision=opts.revision, refresh=opts.refresh_tables, quiet=opts.quiet,
                                  pairs=t.tables())
        for r in out.tables:
            if r.status == "missing":
                log(f"{t.name}: table {r.config}/{r.split} not found on the Hub ({r.detail})")
        done = [r for r in out.tables if r.path is not None]
        if not opts.quiet:
            log(f"{t.name}: {len(done)} table(s), {sum(r.rows for r in done):,} rows from {hf_path} "
                f"({time.perf_counter() - t0:.1f} s)")
    if opts.media and t.media == "url_image":
        out.fetch = fetch_urls(t, opts, log)
    elif opts.media and t.media == "video" and hf_path and opts.tables:
        out.fetch = fetch_mapped_videos(t, hf_path, opts, log)


def fetch_mapped_videos(t: Target, hf_path: str, opts: DownloadOptions, log: Log) -> FetchStats | None:
    """Videos the repo's YouTube-id mapping file gives a downloadable URL for (the rest is listed as
    a manual download by the report)."""
    mapping = load_mapping(hf_path, opts.revision, log)
    if mapping is None:
        return None
    items = video_items(t, opts.root, mapping)
    if opts.shard and opts.shard[1] > 1:
        items = [i for i in items if int(paths.url_key(i.record_key)[:8], 16) % opts.shard[1] == opts.shard[0]]
    if not items:
        return None
    bar = _Bar(f"{t.name} videos", opts.quiet, log, opts.fetch.status_interval)
    stats = _fetch(t, items, paths.video_dir("youtube", opts.root), opts, bar)
    bar.close()
    log(f"{t.name}: {stats.downloaded:,} videos downloaded from {MAPPING_FILE} URLs "
        f"({stats.bytes / 1e9:,.2f} GB), {sum(stats.failed.values()):,} failed, "
        f"{sum(stats.transient.values()):,} to retry")
    return stats


def load_mapping(repo: str, revision: str | None, log: Log | None = None) -> dict | None:
    """The repo's youtube_id_to_urls_mapping.json, or None when it has none; one that is there but is
    not a JSON object is said in ``log`` (its videos are then listed as manual downloads)."""
    from huggingface_hub import hf_hub_download

    hs = hub_settings()
    try:
        path = hf_hub_download(repo, MAPPING_FILE, repo_type="dataset", revision=revision, **hs)
    except Exception:  # not in this repo (EntryNotFound), offline and not cached, ...
        return None
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except ValueError as e:
        data = e
    if not isinstance(data, dict):
        if log is not None:
            log(f"{repo}: {MAPPING_FILE} is not a JSON object ({data if isinstance(data, ValueError) else type(data).__name__}); "
                "its videos are listed as manual downloads")
        return None
    return data


def fetch_urls(t: Target, opts: DownloadOptions, log: Log) -> FetchStats:
    items, notes = media_items(t, opts.root, opts.shard)
    for note, n in notes.items():
        log(f"{t.name}: {n:,} × {note}")
    bar = _Bar(t.name, opts.quiet, log, opts.fetch.status_interval)
    stats = _fetch(t, items, paths.image_dir(opts.root), opts, bar)
    bar.close()
    if not opts.quiet or stats.failed or stats.transient:
        log(f"{t.name}: {stats.downloaded:,} downloaded ({stats.bytes / 1e6:,.1f} MB, {stats.seconds:.1f} s), "
            f"{stats.present:,} already present, {sum(stats.failed.values()):,} failed, "
            f"{sum(stats.transient.values()):,} to retry, {stats.skipped_failed:,} earlier failures skipped")
    return stats


def _fetch(t: Target, items: list, store: Path, opts: DownloadOptions, bar: _Bar) -> FetchStats:
    """The media of one dataset into ``store``, here or as tasks on a Ray cluster (same manifests)."""
    records = load_records(opts.root, t.name)
    if opts.engine == "ray":
        from molmo2_data.download.ray_fetch import fetch_media_ray

        return fetch_media_ray(items, store, opts.root, t.name, opts.fetch, records, address=opts.address,
                               task_size=opts.task_size, progress=bar.update, on_start=bar.start)
    return fetch_media(items, store, manifest_path(opts.root, t.name, opts.shard), opts.fetch, previous=records,
                       progress=bar.update, on_start=bar.start, on_status=bar.status)


def dry_run_plan(t: Target, opts: DownloadOptions) -> dict[str, int]:
    """What a run would do, from local state only (no network)."""
    plan = {"tables_present": len(t.table_files(opts.root)),
            "tables_wanted": len(t.tables())}
    if t.media == "url_image" and plan["tables_present"]:
        items, _ = media_items(t, opts.root, opts.shard)
        have = _present(opts.root)
        records = load_records(opts.root, t.name)
        present = sum(paths.url_key(i.url) in have for i in items)
        failed = sum(1 for i in items if paths.url_key(i.url) not in have
                     and (r := records.get(i.url)) is not None and r.status == FAILED)
        plan.update(urls=len(items), present=present, skip_failed=0 if opts.fetch.retry_failed else failed,
                    to_fetch=len(items) - present - (0 if opts.fetch.retry_failed else failed))
    return plan


def _present(root: Path) -> set[str]:
    from molmo2_data.datasets.media_store import list_names

    return list_names(paths.image_dir(root))


class _Bar:
    """Per-dataset progress: files, bytes, rate, failures (tqdm), and what the run is waiting on (the
    slowest requests, paused hosts) in the bar's postfix — or, with ``quiet``, as a log line."""

    def __init__(self, name: str, quiet: bool, log: Log = print, interval: float = 10.0):
        self.name, self.quiet, self.log = name, quiet, log
        self.interval = interval  # a request this old, or a paused host, is worth naming
        self.bar = None
        self.bytes = 0
        self.failures = 0
        self.waiting = ""
        self.t0 = time.perf_counter()
        self._last = 0.0
        self._last_log = -1e9

    def start(self, todo: int, done: int) -> None:
        if self.quiet or todo == 0:
            return
        from tqdm import tqdm

        self.bar = tqdm(total=todo, desc=self.name, unit="img", dynamic_ncols=True, mininterval=0.5)
        self.t0 = time.perf_counter()

    def update(self, files: int, nbytes: int, failures: int) -> None:
        self.bytes += nbytes
        self.failures += failures
        if self.bar is None:
            return
        self.bar.update(files)
        now = time.perf_counter()
        if now - self._last > 0.5:
            self._last = now
            self._postfix(now)

    def status(self, st: WaitStatus) -> None:
        """What is waited on (from the fetcher, every ``interval`` seconds)."""
        self.waiting = st.describe(self.interval)
        if self.bar is not None:
            self._postfix(time.perf_counter())
            self.bar.refresh()
        elif self.quiet and self.waiting and time.perf_counter() - self._last_log >= 0.9 * self.interval:
            self._last_log = time.perf_counter()  # several worker processes report: one line per interval
            self.log(f"{self.name}: waiting: {self.waiting}")

    def _postfix(self, now: float) -> None:
        assert self.bar is not None
        rate = self.bytes / max(now - self.t0, 1e-6) / 1e6
        text = f"{self.bytes / 1e6:,.0f} MB, {rate:,.1f} MB/s, {self.failures:,} failed"
        self.bar.set_postfix_str(text + (f"; waiting: {self.waiting}" if self.waiting else ""), refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
