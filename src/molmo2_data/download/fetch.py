"""Concurrent, verified, resumable download of URL media into the image store.

Why this design (and not the official one, DATASETS.md §6):

* one asyncio event loop with many requests in flight across hosts, at most ``per_host`` per host;
  an item is started only when its host can take a request now (:mod:`.schedule`), so a slow or
  rate-limiting host never holds a worker and never stalls the other hosts;
* bodies are streamed to ``<key>.<pid>.part`` and hashed on the fly; the file gets its final name
  (``media/images/<sha256(url)>``) only after verification, by an atomic rename — so after a
  ``kill -9`` every final-named file is verified and no partial file is ever accepted (:mod:`.store`);
* transient failures (429, 5xx, timeouts, dropped connections, truncated bodies) are retried with
  exponential backoff and jitter, honouring ``Retry-After`` (which pauses that host) up to
  ``max_retry_after`` seconds; a host that asks for longer is given up for this run. Every file has a
  total deadline (``file_deadline``) over all its attempts, so a trickling server cannot hold it;
* permanent failures (404/410 and other 4xx, hash mismatch, not an image, too large, decompression
  bomb) are recorded with their reason in the manifest and skipped on later runs unless
  ``retry_failed``; errors are never written into the image store;
* hashing, writing, verifying and renaming run in worker threads (hashlib and file I/O release the
  GIL), bodies up to ``spill_bytes`` are held in memory until then, larger ones stream to the temp
  file; with ``procs > 1`` the URLs are split over forked processes (:mod:`.procs`).
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing as mp
import os
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiohttp

from molmo2_data.download.manifest import FAILED, OK, TRANSIENT, ManifestWriter, Record
from molmo2_data.download.schedule import Entry, HostSchedule
from molmo2_data.download.store import PART_SUFFIX, clean_stale_parts, part_name, present_keys, unlink_quiet
from molmo2_data.download.transfer import (
    Body,
    PermanentFailure,
    TransientFailure,
    classify_status,
    get_into,
    parse_retry_after,
)
from molmo2_data.download.urlmap import UrlMap
from molmo2_data.download.verify import DECODE, DEFAULT_MAX_PIXELS, VIDEO, Verified, VerifyError, verify_file
from molmo2_data.download.waiting import WaitStatus
from molmo2_data.errors import ConfigError
from molmo2_data.paths import url_key

__all__ = ["PART_SUFFIX", "FetchOptions", "FetchStats", "Fetcher", "MediaItem", "WaitStatus", "classify_status",
           "clean_stale_parts", "fetch_media", "parse_retry_after", "present_keys"]


@dataclass(frozen=True)
class MediaItem:
    """One URL to fetch. ``expected``: acceptable sha256 hex digests of the bytes (a URL may appear
    with several in a table); ``policy``: see :mod:`molmo2_data.download.verify`."""

    url: str
    expected: tuple[str, ...] = ()
    policy: str = DECODE
    name: str = ""  # file name in the store (default: sha256 of the URL, the image-store key)
    record_as: str = ""  # manifest key (default: the URL), e.g. "youtube/<id>" for mapped videos

    @property
    def key(self) -> str:
        return self.name or url_key(self.url)

    @property
    def record_key(self) -> str:
        return self.record_as or self.url


_POSITIVE = ("workers", "per_host", "attempts", "max_bytes", "max_video_bytes", "max_pixels", "verify_threads",
             "procs", "min_items_per_proc", "connect_timeout", "read_timeout", "file_deadline", "status_interval")
_NONNEGATIVE = ("backoff_base", "backoff_max", "max_retry_after", "max_redirects", "spill_bytes")


@dataclass
class FetchOptions:
    workers: int = 64  # requests in flight, all hosts together
    per_host: int = 8  # requests in flight per host
    connect_timeout: float = 10.0
    read_timeout: float = 30.0  # longest silence while reading (stalled servers)
    file_deadline: float = 600.0  # longest time one file may take, all attempts and waits together
    attempts: int = 4  # tries per URL per run before it is recorded as transient
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    max_retry_after: float = 600.0  # longest Retry-After pause honoured; a host asking more is given up
    max_bytes: int = 64 * 2**20  # images
    max_video_bytes: int = 8 * 2**30
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_redirects: int = 5
    retry_failed: bool = False
    url_map: UrlMap = field(default_factory=UrlMap)
    user_agent: str = "molmo2-data/0.1 (dataset download; +https://github.com/allenai/molmo2)"
    verify_threads: int = 4  # threads that write, verify and rename finished bodies
    spill_bytes: int = 1 << 20  # bodies above this stream to the temp file while downloading
    procs: int = 1  # processes (each an event loop); >1 helps when the CPU, not the network, limits
    min_items_per_proc: int = 64  # small batches stay in one process
    status_interval: float = 10.0  # seconds between reports of what is waited on

    def __post_init__(self) -> None:
        """Bad values are a ConfigError now, not a hang or a silent default later."""
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name in _POSITIVE + _NONNEGATIVE:
                if isinstance(v, bool) or not isinstance(v, int | float) or math.isnan(v):
                    raise ConfigError(f"FetchOptions.{f.name} must be a number, got {v!r}")
                if f.name in _POSITIVE and not v > 0:
                    raise ConfigError(f"FetchOptions.{f.name} must be > 0, got {v!r}")
                if v < 0:
                    raise ConfigError(f"FetchOptions.{f.name} must be >= 0, got {v!r}")


@dataclass
class FetchStats:
    total: int = 0  # distinct URLs asked for
    present: int = 0  # already verified in the store before this run
    downloaded: int = 0
    bytes: int = 0
    failed: Counter[str] = field(default_factory=Counter)  # permanent, by reason (this run)
    transient: Counter[str] = field(default_factory=Counter)  # gave up this run, retried next run
    skipped_failed: int = 0  # permanent failures of earlier runs, not retried
    notes: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def ok(self) -> int:
        return self.present + self.downloaded


ProgressFn = Callable[[int, int, int], None]  # (files done, bytes, failures) increments
StatusFn = Callable[[WaitStatus], None]


class HostGate(Protocol):
    """Per-host politeness shared by several downloaders (see :mod:`molmo2_data.download.ray_fetch`):
    ``acquire`` waits for a request slot on ``host`` (and for its pause to end) and returns a lease that
    ``release`` gives back; ``pause`` holds the host until a wall-clock time (a 429's Retry-After)."""

    async def acquire(self, host: str) -> Any: ...

    def release(self, host: str, lease: Any) -> None: ...

    def pause(self, host: str, until: float) -> None: ...


class Fetcher:
    """Runs one batch of media items into ``store`` recording outcomes with ``writer``."""

    def __init__(self, store: Path, writer: ManifestWriter | None, opts: FetchOptions,
                 progress: ProgressFn | None = None, on_start: Callable[[int, int], None] | None = None,
                 on_status: StatusFn | None = None, gate: HostGate | None = None):
        self.gate = gate  # politeness shared with other downloaders (the tasks of a Ray job)
        self.store = Path(store)
        self.writer = writer
        self.opts = opts
        self.progress = progress
        self.on_start = on_start  # (files to fetch, files already done)
        self.on_status = on_status  # what is waited on, every opts.status_interval seconds
        self.stats = FetchStats()
        self._pid = os.getpid()
        self._sink: Callable[[Record], None] | None = None

    # -- public ----------------------------------------------------------------------------------

    def run(self, items: Sequence[MediaItem], previous: dict[str, Record] | None = None) -> FetchStats:
        """Fetch what is not yet verified; return what happened. Blocking (runs its own event loop)."""
        from molmo2_data.download.procs import run_processes

        t0 = time.perf_counter()
        self.store.mkdir(parents=True, exist_ok=True)
        clean_stale_parts(self.store)
        have = present_keys(self.store)
        previous = previous or {}
        todo: list[MediaItem] = []
        self.stats.total = len(items)
        for it in items:
            if it.key in have:
                self.stats.present += 1
            elif not self.opts.retry_failed and (r := previous.get(it.record_key)) is not None and r.status == FAILED:
                self.stats.skipped_failed += 1
            else:
                todo.append(it)
        if self.on_start is not None:
            self.on_start(len(todo), len(items) - len(todo))
        procs = min(self.opts.procs, max(1, len(todo) // self.opts.min_items_per_proc))
        if procs > 1 and "fork" in mp.get_all_start_methods():
            run_processes(self.store, self.opts, todo, procs, self._record, self.on_status)
        elif todo:
            asyncio.run(self._run(todo))
        if self.writer is not None:
            self.writer.flush()
        clean_stale_parts(self.store)  # workers of a killed run may have died only while we ran
        self.stats.seconds = time.perf_counter() - t0
        return self.stats

    # -- event loop: hand out work as hosts can take it --------------------------------------------

    async def _run(self, todo: list[MediaItem]) -> None:
        opts = self.opts
        self._executor = ThreadPoolExecutor(max(1, opts.verify_threads), thread_name_prefix="verify")
        self._sched = sched = HostSchedule(opts.per_host)
        self._running: dict[Entry, float] = {}  # entry -> monotonic start of its current attempt
        self._dropped: dict[str, str] = {}  # host -> why this run gave up on it
        self._blocked_since: dict[str, float] = {}  # host -> first pause since its last success
        now = time.monotonic()
        for it in todo:
            url = opts.url_map(it.url)
            sched.add(Entry(it, url, urlsplit(url).netloc), now)
        wake = asyncio.Event()
        tasks: set[asyncio.Task] = set()
        crashed: list[BaseException] = []

        def finished(t: asyncio.Task) -> None:
            tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                crashed.append(t.exception())  # a bug, not a download failure: stop the run with it
            wake.set()

        connector = aiohttp.TCPConnector(limit=opts.workers, limit_per_host=0, ttl_dns_cache=600,
                                         enable_cleanup_closed=True)
        timeout = aiohttp.ClientTimeout(total=None, connect=opts.connect_timeout, sock_connect=opts.connect_timeout,
                                        sock_read=opts.read_timeout)
        status = asyncio.create_task(self._report_status()) if self.on_status is not None else None
        try:
            async with aiohttp.ClientSession(connector=connector, timeout=timeout, trust_env=_proxy_env(),
                                             headers={"User-Agent": opts.user_agent, "Accept-Encoding": "identity"},
                                             auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar(),
                                             read_bufsize=2**18) as session:
                while True:
                    now = time.monotonic()
                    while len(tasks) < opts.workers and (e := sched.take(now)) is not None:
                        if e.host in self._dropped:
                            sched.finished(e, now)
                            self._finish(Record(e.item.record_key, TRANSIENT, self._dropped[e.host], attempts=e.tries))
                            continue
                        t = asyncio.create_task(self._attempt(session, e))
                        tasks.add(t)
                        t.add_done_callback(finished)
                    if crashed:
                        raise crashed[0]
                    if not tasks and sched.idle():
                        break
                    due = sched.next_due()
                    if len(tasks) >= opts.workers:
                        due = None  # no free slot: only a finished request can let something start
                    wake.clear()
                    try:
                        await asyncio.wait_for(wake.wait(), None if due is None else max(0.0, due - now))
                    except TimeoutError:
                        pass
        finally:
            for t in (*tasks, *((status,) if status else ())):
                t.cancel()
            await asyncio.gather(*tasks, *((status,) if status else ()), return_exceptions=True)
            self._executor.shutdown(wait=True)

    async def _report_status(self) -> None:
        while True:
            await asyncio.sleep(self.opts.status_interval)
            now = time.monotonic()
            oldest = sorted(self._running.items(), key=lambda kv: kv[1])[:3]
            paused = self._sched.paused_hosts(now)
            wall = time.time()
            assert self.on_status is not None
            self.on_status(WaitStatus(
                in_flight=len(self._running), slowest=[(e.url, now - t) for e, t in oldest],
                paused={h: wall + left for h, left in paused.items()}, retrying=self._sched.retrying,
                queued_paused=sum(self._sched.queued_on(h) for h in paused)))

    async def _attempt(self, session: aiohttp.ClientSession, e: Entry) -> None:
        """One request of ``e``, then its outcome: recorded, or scheduled for a retry."""
        lease = None
        if self.gate is not None:  # the cluster-wide per-host limit and pauses, on top of this run's own
            lease = await self.gate.acquire(e.host)
        try:
            await self._attempt_once(session, e)
        finally:
            if self.gate is not None:
                self.gate.release(e.host, lease)

    async def _attempt_once(self, session: aiohttp.ClientSession, e: Entry) -> None:
        opts, sched, item = self.opts, self._sched, e.item
        now = time.monotonic()
        e.started = e.started or now
        self._running[e] = now
        tmp = self.store / part_name(item.key, self._pid)
        try:
            body = Body(tmp, opts.spill_bytes)
            try:
                async with asyncio.timeout(e.started + opts.file_deadline - now) as deadline:
                    ctype = await get_into(session, e.url, body, self._limit(item), opts.max_redirects)
            except TimeoutError:
                if not deadline.expired():
                    raise
                raise TransientFailure(f"file deadline exceeded ({opts.file_deadline:g} s)") from None
            finally:
                body.close()
                del self._running[e]
            verified, digest = await asyncio.get_running_loop().run_in_executor(
                self._executor, self._finalize, body, self.store / item.key, item, ctype)
        except TransientFailure as f:
            unlink_quiet(tmp)
            sched.finished(e, time.monotonic())
            self._retry_or_give_up(e, f)
            return
        except (PermanentFailure, VerifyError) as f:
            unlink_quiet(tmp)
            sched.finished(e, time.monotonic())
            self._blocked_since.pop(e.host, None)  # the host answers: its pauses are over
            self._finish(Record(item.record_key, FAILED, f.reason, attempts=e.tries + 1))
            return
        except BaseException:
            unlink_quiet(tmp)
            raise
        sched.finished(e, time.monotonic())
        self._blocked_since.pop(e.host, None)
        self._finish(Record(item.record_key, OK, verified.note, bytes=body.n, sha256=digest, attempts=e.tries + 1))

    def _retry_or_give_up(self, e: Entry, f: TransientFailure) -> None:
        """Schedule a retry of ``e`` (its host paused on Retry-After), or record why not."""
        opts, now = self.opts, time.monotonic()
        e.tries += 1
        if f.retry_after is None:
            self._blocked_since.pop(e.host, None)
            when = now + min(opts.backoff_max, opts.backoff_base * 2 ** (e.tries - 1)) * random.uniform(0.5, 1.5)
        else:
            since = self._blocked_since.setdefault(e.host, now)
            if now + f.retry_after - since > opts.max_retry_after:
                self._drop_host(e, f"host paused too long (Retry-After {f.retry_after:.0f} s > max-retry-after "
                                   f"{opts.max_retry_after:g} s; {f.reason})")
                return
            self._sched.pause(e.host, now + f.retry_after)
            if self.gate is not None:
                self.gate.pause(e.host, time.time() + f.retry_after)
            when = now + f.retry_after + random.uniform(0, 0.1)
        if e.tries >= opts.attempts or f.reason.startswith("file deadline") or when >= e.started + opts.file_deadline:
            self._finish(Record(e.item.record_key, TRANSIENT, f.reason, attempts=e.tries))
        else:
            self._sched.retry_at(e, when)

    def _drop_host(self, e: Entry, reason: str) -> None:
        """Give up ``e``'s host for this run: its queued URLs and those waiting for a retry are recorded
        as transient with ``reason`` now (retried next run); requests in flight finish as they end."""
        self._dropped[e.host] = reason
        self._finish(Record(e.item.record_key, TRANSIENT, reason, attempts=e.tries))
        for other in self._sched.drain(e.host):
            self._finish(Record(other.item.record_key, TRANSIENT, reason, attempts=other.tries))

    def _finalize(self, body: Body, final: Path, item: MediaItem, ctype: str) -> tuple[Verified, str]:
        """In a worker thread, so hashing and file system calls run beside the event loop (hashlib and
        file writes release the GIL): hash, write, verify, rename."""
        digest = body.flush_to_disk()
        verified = verify_file(str(body.tmp), digest, item.expected, item.policy, body.head, ctype,
                               self.opts.max_pixels)
        os.replace(body.tmp, final)
        return verified, digest

    def _limit(self, item: MediaItem) -> int:
        return self.opts.max_video_bytes if item.policy == VIDEO else self.opts.max_bytes

    # -- records -----------------------------------------------------------------------------------

    def _finish(self, rec: Record) -> None:
        if self._sink is not None:
            self._sink(rec)  # in a worker process: the parent records it
        else:
            self._record(rec)

    def _record(self, rec: Record) -> None:
        """Manifest, statistics and progress of one finished URL (in the process owning the manifest)."""
        assert self.writer is not None
        self.writer.write(rec)
        if rec.status == OK and rec.reason:
            self.stats.notes[rec.reason] += 1
        if rec.status == OK:
            self.stats.downloaded += 1
            self.stats.bytes += rec.bytes
        elif rec.status == FAILED:
            self.stats.failed[rec.reason] += 1
        else:
            self.stats.transient[rec.reason] += 1
        if self.progress is not None:
            self.progress(1, rec.bytes, int(rec.status != OK))


def _proxy_env() -> bool:
    """Honour HTTP(S)_PROXY when set; otherwise skip aiohttp's per-request proxy/netrc lookup (costly)."""
    return any(os.environ.get(k) for k in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                                           "all_proxy", "NETRC"))


def fetch_media(items: Sequence[MediaItem], store: Path, manifest: Path, opts: FetchOptions | None = None,
                previous: dict[str, Record] | None = None, progress: ProgressFn | None = None,
                on_start: Callable[[int, int], None] | None = None, on_status: StatusFn | None = None,
                gate: HostGate | None = None) -> FetchStats:
    """Fetch ``items`` into ``store`` (file name sha256(url)), recording outcomes in ``manifest``;
    ``previous`` (the manifest's records) says which URLs failed permanently before; ``on_status``
    hears every ``opts.status_interval`` seconds what the run is waiting on."""
    with ManifestWriter(manifest) as writer:
        return Fetcher(store, writer, opts or FetchOptions(), progress, on_start, on_status, gate).run(items, previous)
