"""Media download on a Ray cluster: the same fetcher, verification and manifests as the local path,
spread over tasks.

The driver plans what is still to fetch (verified files in the store and permanent failures in the
manifests are skipped, exactly as locally), splits it into tasks of ``task_size`` URLs and runs each
task with :func:`~molmo2_data.download.fetch.fetch_media` on some worker. A task writes its own
manifest, ``manifests/<dataset>.task-<k>-of-<n>.jsonl`` (append-only: readers merge every manifest of
a dataset), and each file reaches its final name in the store only after verification, so:

* a task whose worker or node dies is run again by Ray and fetches only what is not yet verified;
* a killed driver leaves the task manifests behind; the next run reads them and resumes;
* at the end the driver merges the task manifests into ``manifests/<dataset>.jsonl``.

Politeness holds across the cluster: at most ``per_host`` requests in flight per host for the whole job,
and a 429's Retry-After pauses the host for every task. When ``per_host`` is at least the number of tasks
that run at once (the cluster's CPUs), each task gets its share of it; below that, one
:class:`HostGateActor` (pinned to the driver's node) grants every request a slot; a lease not given back
(its node died mid-request) expires after the file deadline. The same actor holds the pauses and counts
progress, which the driver shows as one bar for the job. ``workers`` (requests in flight over all hosts)
is per task. Nodes added while the job runs raise the number of tasks at once above the share computed
at its start.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from molmo2_data.download.fetch import FetchOptions, FetchStats, MediaItem, fetch_media
from molmo2_data.download.manifest import FAILED, Record, manifest_dir, manifest_files
from molmo2_data.download.store import clean_stale_parts, present_keys
from molmo2_data.engine import chunks, map_tasks, ray_session

DEFAULT_TASK_SIZE = 2000  # URLs per task: large enough to amortise a task's start, small enough to retry


class HostGateActor:
    """Ray actor (async): cluster-wide per-host request slots and pauses, plus job progress counters."""

    def __init__(self, per_host: int, lease_seconds: float):
        self.per_host, self.lease_seconds = per_host, lease_seconds
        self.leases: dict[str, dict[str, float]] = {}  # host -> lease id -> wall time it was granted
        self.paused_until: dict[str, float] = {}
        self.cond = asyncio.Condition()
        self.totals = [0, 0, 0]  # files done, bytes, failures
        self.max_in_flight: Counter[str] = Counter()  # for the tests: the most leases a host ever had

    async def acquire(self, host: str) -> str:
        async with self.cond:
            while True:
                now = time.time()
                held = self.leases.setdefault(host, {})
                for lid in [k for k, t in held.items() if now - t > self.lease_seconds]:
                    del held[lid]  # its holder died mid-request (a lost node)
                until = self.paused_until.get(host, 0.0)
                if len(held) < self.per_host and now >= until:
                    lid = uuid.uuid4().hex
                    held[lid] = now
                    self.max_in_flight[host] = max(self.max_in_flight[host], len(held))
                    return lid
                wait = until - now if until > now else 1.0
                try:
                    await asyncio.wait_for(self.cond.wait(), timeout=max(0.01, wait))
                except TimeoutError:
                    pass

    async def release(self, host: str, lease: str) -> None:
        async with self.cond:
            self.leases.get(host, {}).pop(lease, None)
            self.cond.notify_all()

    async def pause(self, host: str, until: float) -> None:
        async with self.cond:
            self.paused_until[host] = max(self.paused_until.get(host, 0.0), until)

    def add_progress(self, files: int, nbytes: int, failures: int) -> None:
        self.totals[0] += files
        self.totals[1] += nbytes
        self.totals[2] += failures

    def pauses(self) -> dict[str, float]:
        return dict(self.paused_until)

    def state(self) -> dict[str, Any]:
        return {"totals": list(self.totals), "max_in_flight": dict(self.max_in_flight),
                "paused_until": dict(self.paused_until)}


class RayHostGate:
    """The fetcher's :class:`~molmo2_data.download.fetch.HostGate` backed by the job's actor (inside a
    task). ``strict``: every request takes a slot from the actor (exact, one round trip per request: used
    when the per-host limit is below the number of tasks running at once). Otherwise each task already
    runs with its share of the limit and the gate only spreads pauses: it reads the actor's pauses at most
    every ``PAUSE_REFRESH`` seconds and waits out the host's. Progress goes out at most twice a second."""

    PAUSE_REFRESH = 0.25

    def __init__(self, actor: Any, strict: bool):
        self.actor, self.strict = actor, strict
        self._pending = [0, 0, 0]
        self._sent = time.monotonic()
        self._pauses: dict[str, float] = {}
        self._read = 0.0

    async def acquire(self, host: str) -> str | None:
        if self.strict:
            return await self.actor.acquire.remote(host)
        while True:
            if time.monotonic() - self._read > self.PAUSE_REFRESH:
                self._read = time.monotonic()
                self._pauses.update(await self.actor.pauses.remote())
            wait = self._pauses.get(host, 0.0) - time.time()
            if wait <= 0:
                return None
            await asyncio.sleep(min(wait, self.PAUSE_REFRESH))

    def release(self, host: str, lease: Any) -> None:
        if lease is not None:
            self.actor.release.remote(host, lease)

    def pause(self, host: str, until: float) -> None:
        self._pauses[host] = max(self._pauses.get(host, 0.0), until)
        self.actor.pause.remote(host, until)

    def progress(self, files: int, nbytes: int, failures: int) -> None:
        p = self._pending
        p[0], p[1], p[2] = p[0] + files, p[1] + nbytes, p[2] + failures
        if time.monotonic() - self._sent > 0.5:
            self.flush()

    def flush(self) -> None:
        if any(self._pending):
            self.actor.add_progress.remote(*self._pending)
            self._pending = [0, 0, 0]
        self._sent = time.monotonic()


@dataclass(frozen=True)
class FetchTask:
    """One task's share of a job (picklable: it travels to the worker)."""

    items: tuple[MediaItem, ...]
    store: str
    manifest: str
    opts: FetchOptions
    gate: Any
    strict: bool  # every request takes a cluster slot (see RayHostGate)


def run_fetch_task(task: FetchTask) -> FetchStats:
    """A task on a worker: the local fetcher over its URLs, its own manifest, the shared gate. Run again
    after a lost worker, it skips what the first try verified (the store says so)."""
    gate = RayHostGate(task.gate, task.strict)
    try:
        return fetch_media(list(task.items), Path(task.store), Path(task.manifest), task.opts,
                           previous=None, progress=gate.progress, gate=gate)
    finally:
        gate.flush()


def plan_todo(items: Sequence[MediaItem], store: Path, previous: dict[str, Record],
              retry_failed: bool) -> tuple[list[MediaItem], int, int]:
    """(items still to fetch, already verified, permanent failures skipped), as the local fetcher counts."""
    have = present_keys(store)
    todo, present, skipped = [], 0, 0
    for it in items:
        if it.key in have:
            present += 1
        elif not retry_failed and (r := previous.get(it.record_key)) is not None and r.status == FAILED:
            skipped += 1
        else:
            todo.append(it)
    return todo, present, skipped


def merge_task_manifests(root: Path, dataset: str) -> int:
    """Append every task manifest of ``dataset`` to ``manifests/<dataset>.jsonl`` and delete them (a
    torn last line of a killed task is dropped); returns the lines merged. Safe to repeat after a kill:
    a line merged twice is the same record, and readers keep the latest per URL."""
    main = manifest_dir(root) / f"{dataset}.jsonl"
    tasks = [p for p in manifest_files(root, dataset) if ".task-" in p.name]
    n = 0
    with open(main, "a", encoding="utf-8") as out:
        for p in tasks:
            for line in p.read_text(encoding="utf-8", errors="replace").splitlines():
                if line.endswith("}"):
                    out.write(line + "\n")
                    n += 1
        out.flush()
        os.fsync(out.fileno())
    for p in tasks:
        p.unlink()
    return n


def fetch_media_ray(items: Sequence[MediaItem], store: Path, root: Path, dataset: str, opts: FetchOptions,
                    previous: dict[str, Record], address: str | None = None, task_size: int = DEFAULT_TASK_SIZE,
                    progress: Any = None, on_start: Any = None, max_retries: int = 3) -> FetchStats:
    """Fetch ``items`` on a Ray cluster (see the module docstring); the job's statistics."""
    t0 = time.perf_counter()
    store.mkdir(parents=True, exist_ok=True)
    clean_stale_parts(store)
    todo, present, skipped = plan_todo(items, store, previous, opts.retry_failed)
    if on_start is not None:
        on_start(len(todo), len(items) - len(todo))
    stats = FetchStats(total=len(items), present=present, skipped_failed=skipped)
    if todo:
        with ray_session(address) as ray:
            from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

            here = ray.get_runtime_context().get_node_id()
            actor_cls = ray.remote(num_cpus=0, max_restarts=-1)(HostGateActor)
            gate = actor_cls.options(scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=False)).remote(
                opts.per_host, opts.file_deadline)
            parts = chunks(todo, max(1, min(task_size, math.ceil(len(todo) / 2))))
            n = len(parts)
            # tasks running at once: the per-host limit is shared out among them when it is large enough,
            # else every request takes a slot from the gate
            at_once = max(1, min(n, int(ray.cluster_resources().get("CPU", 1))))
            strict = opts.per_host < at_once
            task_opts = replace(opts, procs=1, per_host=opts.per_host if strict else opts.per_host // at_once)
            tasks = [FetchTask(tuple(p), str(store), str(manifest_dir(root) / f"{dataset}.task-{k}-of-{n}.jsonl"),
                               task_opts, gate, strict) for k, p in enumerate(parts)]
            seen = [0, 0, 0]

            def poll() -> None:
                if progress is None:
                    return
                totals = ray.get(gate.state.remote())["totals"]
                progress(*(t - s for t, s in zip(totals, seen, strict=True)))
                seen[:] = totals

            results = map_tasks(run_fetch_task, tasks, engine="ray", desc=f"{dataset} tasks", progress=False,
                                max_retries=max_retries, poll=poll)
            poll()
            for r in results:
                stats.downloaded += r.downloaded
                stats.bytes += r.bytes
                stats.failed.update(r.failed)
                stats.transient.update(r.transient)
                stats.notes.update(r.notes)
                stats.present += r.present  # verified by an earlier try of a retried task
            ray.kill(gate)
    merge_task_manifests(root, dataset)
    record_verified(items, store, root, dataset)  # also those an earlier, killed job verified
    stats.seconds = time.perf_counter() - t0
    return stats


def record_verified(items: Sequence[MediaItem], store: Path, root: Path, dataset: str) -> int:
    """Manifest lines for files that are verified in the store but have no "ok" record: a worker killed
    between the final rename and the manifest write (its buffered lines die with it). The store is the
    truth; this keeps the manifest complete. Returns how many were recorded."""
    import hashlib

    from molmo2_data.download.manifest import OK, ManifestWriter, load_records

    records = load_records(root, dataset)
    have = present_keys(store)
    missing = [it for it in items if it.key in have and
               ((r := records.get(it.record_key)) is None or r.status != OK)]
    if not missing:
        return 0
    with ManifestWriter(manifest_dir(root) / f"{dataset}.jsonl") as w:
        for it in missing:
            data = (store / it.key).read_bytes()
            w.write(Record(it.record_key, OK, "", bytes=len(data), sha256=hashlib.sha256(data).hexdigest()))
    return len(missing)
