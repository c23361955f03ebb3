"""Concurrent, verified, resumable download of URL media into the image store.

Why this design (and not the official one, DATASETS.md §6):

* one asyncio event loop with many requests in flight across hosts, at most ``per_host`` per host,
  so a slow or rate-limiting host does not stall the rest;
* bodies are streamed to ``<key>.<pid>.part`` and hashed on the fly; the file gets its final name
  (``media/images/<sha256(url)>``) only after verification, by an atomic rename — so after a
  ``kill -9`` every final-named file is verified and no partial file is ever accepted;
* transient failures (429, 5xx, timeouts, dropped connections, truncated bodies) are retried with
  exponential backoff and jitter, honouring ``Retry-After`` (which also pauses that host); retries
  wait in a timer, not in a worker, so they cost no concurrency;
* permanent failures (404/410 and other 4xx, hash mismatch, not an image, too large, decompression
  bomb) are recorded with their reason in the manifest and skipped on later runs unless
  ``retry_failed``; errors are never written into the image store;
* hashing, writing, verifying and renaming run in worker threads (hashlib and file I/O release the
  GIL), bodies up to ``spill_bytes`` are held in memory until then, larger ones stream to the temp
  file; with ``procs > 1`` the URLs are split over forked processes (one event loop each) that send
  their records to the parent, which alone writes the manifest.
"""

from __future__ import annotations

import asyncio
import dataclasses
import email.utils
import hashlib
import multiprocessing as mp
import multiprocessing.connection as mp_connection
import os
import random
import signal
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import aiohttp

from molmo2_data.download.manifest import FAILED, OK, TRANSIENT, ManifestWriter, Record
from molmo2_data.download.urlmap import UrlMap
from molmo2_data.download.verify import DECODE, DEFAULT_MAX_PIXELS, VIDEO, Verified, VerifyError, verify_file
from molmo2_data.errors import Molmo2DataError
from molmo2_data.paths import url_key

PART_SUFFIX = ".part"
PERMANENT_HTTP_TRANSIENT = frozenset({408, 425, 429})


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


@dataclass
class FetchOptions:
    workers: int = 64  # requests in flight, all hosts together
    per_host: int = 8  # requests in flight per host
    connect_timeout: float = 10.0
    read_timeout: float = 30.0  # longest silence while reading (stalled servers)
    total_timeout: float = 300.0
    attempts: int = 4  # tries per URL per run before it is recorded as transient
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    retry_after_max: float = 600.0
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


class _Transient(Exception):
    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class _Permanent(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None if absent/invalid."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def classify_status(status: int, retry_after: str | None) -> Exception:
    if status in PERMANENT_HTTP_TRANSIENT or status >= 500:
        return _Transient(f"http {status}", parse_retry_after(retry_after))
    return _Permanent(f"http {status}")


def clean_stale_parts(store: Path) -> int:
    """Delete ``.part`` files of processes that are gone (a killed run); keep live writers' files."""
    removed = 0
    try:
        entries = list(os.scandir(store))
    except FileNotFoundError:
        return 0
    for e in entries:
        if not e.name.endswith(PART_SUFFIX):
            continue
        try:
            pid = int(e.name[: -len(PART_SUFFIX)].rsplit(".", 1)[1])
        except (IndexError, ValueError):
            pid = None
        if pid is not None and pid != os.getpid() and _process_alive(pid):
            continue  # another live downloader
        try:
            os.unlink(e.path)
            removed += 1
        except FileNotFoundError:
            pass
    return removed


def _process_alive(pid: int) -> bool:
    """True for a running process; False for a gone one and for a zombie (a killed worker not yet
    reaped still answers ``kill(pid, 0)``)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (OSError, IndexError):
        return True


def present_keys(store: Path) -> set[str]:
    try:
        with os.scandir(store) as it:
            return {e.name for e in it if not e.name.endswith(PART_SUFFIX)}
    except FileNotFoundError:
        return set()


ProgressFn = Callable[[int, int, int], None]  # (files done, bytes, failures) increments


class Fetcher:
    """Runs one batch of media items into ``store`` recording outcomes with ``writer``."""

    def __init__(self, store: Path, writer: ManifestWriter | None, opts: FetchOptions,
                 progress: ProgressFn | None = None, on_start: Callable[[int, int], None] | None = None):
        self.store = Path(store)
        self.writer = writer
        self.opts = opts
        self.progress = progress
        self.on_start = on_start  # (files to fetch, files already done)
        self.stats = FetchStats()
        self._pid = os.getpid()
        self._sink: Callable[[Record], None] | None = None

    # -- several processes (CPU-bound fetching on fast links: the event loop is one core) ------------

    def _run_processes(self, todo: list[MediaItem], procs: int) -> None:
        """Split ``todo`` over ``procs`` forked processes, each with its own event loop and a share
        of the concurrency limits; they send finished records back and this process writes the
        manifest. Workers die with this process (PR_SET_PDEATHSIG), so a killed run leaves none."""
        ctx = mp.get_context("fork")
        sub = dataclasses.replace(self.opts, workers=-(-self.opts.workers // procs),
                                  per_host=-(-self.opts.per_host // procs), procs=1)
        conns, workers = [], []
        for k in range(procs):
            recv, send = ctx.Pipe(duplex=False)
            w = ctx.Process(target=_worker_main, args=(self.store, sub, todo[k::procs], send, os.getpid()),
                            daemon=True)
            w.start()
            send.close()
            conns.append(recv)
            workers.append(w)
        try:
            while conns:
                for c in mp_connection.wait(conns):
                    try:
                        batch = c.recv()
                    except EOFError:
                        batch = None
                    if batch is None:
                        conns.remove(c)
                        continue
                    for rec in batch:
                        self._record(Record(*rec))
        finally:
            for w in workers:
                if w.is_alive():
                    w.terminate()
                w.join()
        dead = [w.exitcode for w in workers if w.exitcode]
        if dead:
            raise Molmo2DataError(f"{len(dead)} download worker process(es) failed (exit codes {dead}); "
                                  "run again to resume")

    # -- public ----------------------------------------------------------------------------------

    def run(self, items: Sequence[MediaItem], previous: dict[str, Record] | None = None) -> FetchStats:
        """Fetch what is not yet verified; return what happened. Blocking (runs its own event loop)."""
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
            self._run_processes(todo, procs)
        elif todo:
            asyncio.run(self._run(todo))
        self.writer.flush()
        clean_stale_parts(self.store)  # workers of a killed run may have died only while we ran
        self.stats.seconds = time.perf_counter() - t0
        return self.stats

    # -- event loop ------------------------------------------------------------------------------

    async def _run(self, todo: list[MediaItem]) -> None:
        opts = self.opts
        loop = asyncio.get_running_loop()
        self._executor = ThreadPoolExecutor(max(1, opts.verify_threads), thread_name_prefix="verify")
        self._host_sem: dict[str, asyncio.Semaphore] = defaultdict(lambda: asyncio.Semaphore(opts.per_host))
        self._host_not_before: dict[str, float] = defaultdict(float)
        ready: deque[tuple[MediaItem, int]] = deque()
        source = iter(todo)
        waiting = 0
        wake = asyncio.Event()

        def requeue(entry: tuple[MediaItem, int]) -> None:
            nonlocal waiting
            waiting -= 1
            ready.append(entry)
            wake.set()

        async def worker(session: aiohttp.ClientSession) -> None:
            nonlocal waiting
            while True:
                if ready:
                    item, tries = ready.popleft()
                else:
                    nxt = next(source, None)
                    if nxt is None:
                        if waiting == 0:
                            wake.set()  # let idle workers see there is nothing left
                            return
                        wake.clear()
                        await wake.wait()
                        continue
                    item, tries = nxt, 0
                delay = await self._one(session, item, tries)
                if delay is not None:
                    waiting += 1
                    loop.call_later(delay, requeue, (item, tries + 1))

        connector = aiohttp.TCPConnector(limit=opts.workers, limit_per_host=0, ttl_dns_cache=600,
                                         enable_cleanup_closed=True)
        timeout = aiohttp.ClientTimeout(total=opts.total_timeout, connect=opts.connect_timeout,
                                        sock_connect=opts.connect_timeout, sock_read=opts.read_timeout)
        try:
            async with aiohttp.ClientSession(connector=connector, timeout=timeout, trust_env=_proxy_env(),
                                             headers={"User-Agent": opts.user_agent},
                                             cookie_jar=aiohttp.DummyCookieJar(),
                                             read_bufsize=2**18) as session:
                await asyncio.gather(*(worker(session) for _ in range(max(1, opts.workers))))
        finally:
            self._executor.shutdown(wait=True)

    async def _one(self, session: aiohttp.ClientSession, item: MediaItem, tries: int) -> float | None:
        """One attempt. Returns a delay to retry after, or None when the item is finished."""
        opts = self.opts
        url = opts.url_map(item.url)
        host = urlsplit(url).netloc
        key = item.key
        tmp = self.store / f"{key}.{self._pid}{PART_SUFFIX}"
        try:
            async with self._host_sem[host]:
                wait = self._host_not_before[host] - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                body = _Body(tmp, opts.spill_bytes)
                try:
                    ctype = await self._download(session, url, body, self._limit(item))
                finally:
                    body.close()
            nbytes = body.n
            verified, digest = await asyncio.get_running_loop().run_in_executor(
                self._executor, self._finalize, body, self.store / key, item, ctype)
        except _Transient as e:
            _unlink(tmp)
            if e.retry_after is not None:
                pause = min(e.retry_after, opts.retry_after_max)
                self._host_not_before[host] = max(self._host_not_before[host], time.monotonic() + pause)
            if tries + 1 < opts.attempts:
                return self._delay(tries, e.retry_after)
            self._finish(Record(item.record_key, TRANSIENT, e.reason, attempts=tries + 1))
            return None
        except (_Permanent, VerifyError) as e:
            _unlink(tmp)
            self._finish(Record(item.record_key, FAILED, e.reason, attempts=tries + 1))
            return None
        except BaseException:
            _unlink(tmp)
            raise
        self._finish(Record(item.record_key, OK, verified.note, bytes=nbytes, sha256=digest, attempts=tries + 1))
        return None

    def _finalize(self, body: _Body, final: Path, item: MediaItem, ctype: str) -> tuple[Verified, str]:
        """In a worker thread, so hashing and file system calls run beside the event loop (hashlib and
        file writes release the GIL): hash, write, verify, rename."""
        digest = body.flush_to_disk()
        verified = verify_file(str(body.tmp), digest, item.expected, item.policy, body.head, ctype,
                               self.opts.max_pixels)
        os.replace(body.tmp, final)
        return verified, digest

    def _delay(self, tries: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.opts.retry_after_max) + random.uniform(0, 0.1)
        base = min(self.opts.backoff_max, self.opts.backoff_base * (2 ** tries))
        return base * random.uniform(0.5, 1.5)  # full jitter around the exponential step

    def _limit(self, item: MediaItem) -> int:
        return self.opts.max_video_bytes if item.policy == VIDEO else self.opts.max_bytes

    async def _download(self, session: aiohttp.ClientSession, url: str, body: _Body, limit: int) -> str:
        """GET ``url`` into ``body``; returns the Content-Type. Raises _Transient / _Permanent."""
        opts = self.opts
        try:
            async with session.get(url, allow_redirects=True, max_redirects=opts.max_redirects) as resp:
                if resp.status != 200:
                    raise classify_status(resp.status, resp.headers.get("Retry-After"))
                length = resp.content_length
                if length is not None and length > limit:
                    raise _Permanent("too large")
                async for chunk in resp.content.iter_any():
                    if body.n + len(chunk) > limit:
                        raise _Permanent("too large")
                    body.add(chunk)
                if length is not None and body.n != length:
                    raise _Transient("truncated body")
                return resp.headers.get("Content-Type", "")
        except (_Transient, _Permanent):
            raise
        except aiohttp.TooManyRedirects as e:
            raise _Permanent("too many redirects") from e
        except (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError) as e:
            raise _Permanent("invalid url") from e
        except aiohttp.ClientConnectorDNSError as e:
            raise _Permanent("host not found") from e
        except (TimeoutError, aiohttp.ServerTimeoutError) as e:
            raise _Transient("timeout") from e
        except aiohttp.ClientPayloadError as e:
            raise _Transient("truncated body") from e
        except (aiohttp.ClientConnectionError, ConnectionError) as e:
            raise _Transient("connection error") from e
        except aiohttp.ClientError as e:
            raise _Transient(f"client error ({type(e).__name__})") from e

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


class _Body:
    """A response body: kept in memory up to ``spill`` bytes (typical images: written later in one
    call by a worker thread), beyond that streamed to the temp file as it arrives."""

    def __init__(self, tmp: Path, spill: int):
        self.tmp = tmp
        self.spill = spill
        self.chunks: list[bytes] = []
        self.n = 0
        self.head = b""  # first bytes, to tell an HTML error page from an image
        self._f: BinaryIO | None = None
        self._hash = hashlib.sha256()  # only fed while spilling (large bodies)

    def add(self, chunk: bytes) -> None:
        self.n += len(chunk)
        if len(self.head) < 1024:
            self.head += chunk[:1024]
        if self._f is None and self.n > self.spill:
            self._f = open(self.tmp, "wb")  # noqa: SIM115 - closed in close()
            for c in self.chunks:
                self._hash.update(c)
            self._f.writelines(self.chunks)
            self.chunks = []
        if self._f is not None:
            self._hash.update(chunk)
            self._f.write(chunk)
        else:
            self.chunks.append(chunk)

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None

    def flush_to_disk(self) -> str:
        """Make the temp file hold the whole body (closed); return its sha256 hex digest."""
        if self.chunks or not self.tmp.exists():
            for c in self.chunks:
                self._hash.update(c)
            with open(self.tmp, "wb") as f:
                f.writelines(self.chunks)
            self.chunks = []
        return self._hash.hexdigest()


def _worker_main(store: Path, opts: FetchOptions, items: list[MediaItem], conn: Any, parent: int) -> None:
    """Body of a forked worker process: fetch ``items``, stream records to the parent in batches."""
    _die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the parent stops the workers
    fetcher = Fetcher(store, None, opts)
    batch: list[tuple] = []
    last = time.monotonic()

    def sink(rec: Record) -> None:
        nonlocal last
        batch.append(dataclasses.astuple(rec))
        if len(batch) >= 64 or time.monotonic() - last > 0.2:
            conn.send(batch[:])
            batch.clear()
            last = time.monotonic()

    fetcher._sink = sink
    try:
        asyncio.run(fetcher._run(items))
        if batch:
            conn.send(batch)
        conn.send(None)
    finally:
        conn.close()


def _die_with_parent(parent: int) -> None:
    """Linux: get SIGKILL when the parent dies (a ``kill -9`` of the run must not leave workers
    fetching); elsewhere, check the parent is still there at start."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:
        os._exit(1)


def _proxy_env() -> bool:
    """Honour HTTP(S)_PROXY when set; otherwise skip aiohttp's per-request proxy/netrc lookup (costly)."""
    return any(os.environ.get(k) for k in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                                           "all_proxy", "NETRC"))


def _unlink(p: Path) -> None:
    try:
        os.unlink(p)
    except FileNotFoundError:
        pass


def fetch_media(items: Sequence[MediaItem], store: Path, manifest: Path, opts: FetchOptions | None = None,
                previous: dict[str, Record] | None = None, progress: ProgressFn | None = None,
                on_start: Callable[[int, int], None] | None = None) -> FetchStats:
    """Fetch ``items`` into ``store`` (file name sha256(url)), recording outcomes in ``manifest``;
    ``previous`` (the manifest's records) says which URLs failed permanently before."""
    with ManifestWriter(manifest) as writer:
        return Fetcher(store, writer, opts or FetchOptions(), progress, on_start).run(items, previous)
