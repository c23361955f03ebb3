"""Several forked processes (one event loop each) sharing the URLs of one fetch.

The parent alone writes the manifest: workers stream their records through a pipe, then a ``done``
message, then exit. Why the care at the end: a worker that sent ``done`` has delivered everything;
it may still be tearing down (threads, finalizers) when the parent reads the end of its pipe, and
terminating it then turned a complete run into "worker failed (exit code -15)". So after a normal
end the parent *waits* for each worker; only one that does not exit within ``JOIN_TIMEOUT`` after
``done`` is stopped (and still counts as a success). Workers are terminated only when the parent
itself stops abnormally (an exception, Ctrl-C); a worker that never sent ``done`` is a failure.
"""

from __future__ import annotations

import asyncio
import dataclasses
import multiprocessing as mp
import multiprocessing.connection as mp_connection
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from molmo2_data.download.manifest import Record
from molmo2_data.download.waiting import WaitStatus
from molmo2_data.errors import Molmo2DataError

JOIN_TIMEOUT = 30.0  # seconds a worker may take to exit after it sent "done"


def run_processes(store: Path, opts: Any, todo: list, procs: int, record: Callable[[Record], None],
                  on_status: Callable[[WaitStatus], None] | None) -> None:
    """Fetch ``todo`` in ``procs`` forked workers; ``record`` is called in this process for every
    finished URL. Raises Molmo2DataError when a worker died before finishing its share."""
    ctx = mp.get_context("fork")
    sub = dataclasses.replace(opts, workers=-(-opts.workers // procs), per_host=-(-opts.per_host // procs), procs=1)
    conns: dict[Any, int] = {}
    workers: list[Any] = []
    done: set[int] = set()
    statuses: dict[int, WaitStatus] = {}
    for k in range(procs):
        recv, send = ctx.Pipe(duplex=False)
        w = ctx.Process(target=_worker_main, args=(store, sub, todo[k::procs], send, os.getpid(),
                                                   on_status is not None), daemon=True)
        w.start()
        send.close()
        conns[recv] = k
        workers.append(w)
    normal = False
    try:
        while conns:
            for c in mp_connection.wait(list(conns)):
                k = conns[c]
                try:
                    kind, payload = c.recv()
                except EOFError:  # the worker closed its end (after "done", or it died)
                    del conns[c]
                    c.close()
                    continue
                if kind == "records":
                    for rec in payload:
                        record(Record(*rec))
                elif kind == "status" and on_status is not None:
                    statuses[k] = payload
                    on_status(WaitStatus.merge(statuses.values()))
                elif kind == "done":
                    done.add(k)
        normal = True
    finally:
        _reap(workers, done, normal)
    failed = [w.exitcode for k, w in enumerate(workers) if k not in done]
    if failed:
        raise Molmo2DataError(f"{len(failed)} download worker process(es) died before finishing "
                              f"(exit codes {failed}); run again to resume")


def _reap(workers: list[Any], done: set[int], normal: bool) -> None:
    """Wait for finished workers; stop the others (and any that hangs after "done")."""
    for k, w in enumerate(workers):
        if normal or k in done:
            w.join(JOIN_TIMEOUT if k in done else 5.0)
        if w.is_alive():
            w.terminate()
            w.join(5.0)
        if w.is_alive():
            w.kill()
            w.join()


def _worker_main(store: Path, opts: Any, items: list, conn: Any, parent: int, want_status: bool) -> None:
    """Body of a forked worker process: fetch ``items``, stream records to the parent in batches."""
    from molmo2_data.download.fetch import Fetcher

    _die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the parent stops the workers
    fetcher = Fetcher(store, None, opts)
    batch: list[tuple] = []
    last = time.monotonic()

    def sink(rec: Record) -> None:
        nonlocal last
        batch.append(dataclasses.astuple(rec))
        if len(batch) >= 64 or time.monotonic() - last > 0.2:
            conn.send(("records", batch[:]))
            batch.clear()
            last = time.monotonic()

    fetcher._sink = sink
    if want_status:
        fetcher.on_status = lambda st: conn.send(("status", st))
    try:
        asyncio.run(fetcher._run(items))
        if batch:
            conn.send(("records", batch))
        conn.send(("done", None))
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
