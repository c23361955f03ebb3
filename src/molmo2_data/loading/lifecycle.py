"""Loader lifecycle: threads stopped and workers shut down before the interpreter tears down, and
DataLoader workers that die with their parent.

Why: the batch-prefetch thread runs torch code; left running when Python finalises, it is killed in
the middle of C++ code and the process aborts (``terminate called without an active exception``,
exit status 134). So every live loader and prefetcher is kept in a weak registry, and an ``atexit``
hook — registered after torch's own, so it runs first, while torch can still shut its workers down —
stops the threads (joining them) and shuts the worker processes down.

A worker whose parent is SIGKILLed would otherwise stay alive (blocked writing into a result pipe the
other workers keep open) holding its memory. :func:`worker_init` makes the kernel kill it when the
parent dies (Linux ``prctl(PR_SET_PDEATHSIG, SIGKILL)``) and starts a watchdog thread that exits the
worker when the parent is gone (any OS), then calls the user's ``worker_init_fn``.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import ctypes.util
import os
import signal
import sys
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, Protocol

from molmo2_data.processes import process_alive

EXIT_JOIN_TIMEOUT = 30.0  # seconds the atexit hook waits for each prefetch thread
WATCHDOG_INTERVAL = 0.5  # seconds between parent checks in a worker
_PR_SET_PDEATHSIG = 1


class Closable(Protocol):
    def close(self, timeout: float | None = None) -> None: ...


_prefetchers: weakref.WeakSet[Any] = weakref.WeakSet()
_loaders: weakref.WeakSet[Any] = weakref.WeakSet()
_hook_lock = threading.Lock()
_hook_registered = 0  # len(sys.modules) at the last registration


def _register_hook() -> None:
    """(Re-)register the exit hook so it runs before torch's and multiprocessing's exit handlers:
    atexit runs hooks last-in first-out, and torch may have been imported after an earlier loader."""
    global _hook_registered
    with _hook_lock:
        if _hook_registered == len(sys.modules):
            return  # nothing imported since the last registration: still the latest hook
        if "torch" in sys.modules:
            with contextlib.suppress(ImportError):
                import torch.utils.data  # noqa: F401 - its exit flag hook must be registered before ours
        atexit.unregister(close_all)
        atexit.register(close_all)
        _hook_registered = len(sys.modules)


def track_prefetcher(obj: Closable) -> None:
    """Join ``obj``'s thread at exit (unless closed before)."""
    _register_hook()
    _prefetchers.add(obj)


def track_loader(obj: Closable) -> None:
    """Close ``obj`` (threads, then worker processes) at exit (unless closed before)."""
    _register_hook()
    _loaders.add(obj)


def untrack(obj: Any) -> None:
    _prefetchers.discard(obj)
    _loaders.discard(obj)


def close_all(timeout: float = EXIT_JOIN_TIMEOUT) -> None:
    """Stop every live prefetch thread, then close every live loader. Never raises."""
    for group in (_prefetchers, _loaders):
        for obj in list(group):
            try:
                obj.close(timeout=timeout)
            except Exception as e:  # noqa: BLE001 - at exit, report and go on with the others
                print(f"molmo2-data: closing {type(obj).__name__} at exit failed: {e!r}", file=sys.stderr)


def live_prefetch_threads() -> list[threading.Thread]:
    """Prefetch threads still running (tests and diagnostics)."""
    return [t for t in threading.enumerate() if t.name == "molmo2-batch-prefetch" and t.is_alive()]


# ---- worker side ---------------------------------------------------------------------------------


def _set_parent_death_signal() -> bool:
    """Linux: the kernel SIGKILLs this process when the thread that forked it exits."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(main_pid: int, ppid: int, interval: float) -> None:
    while True:
        time.sleep(interval)
        if os.getppid() != ppid or not process_alive(main_pid):
            os._exit(1)  # the parent is gone: nobody will read what this worker makes


def worker_init(main_pid: int, pdeathsig: bool, user_fn: Callable[[int], Any] | None, worker_id: int) -> None:
    """``worker_init_fn`` of the loader's DataLoader (bind the first three with ``functools.partial``).

    ``pdeathsig`` only when the workers are started from the main thread: the Linux signal fires when
    the *forking thread* ends, which for the main thread means the process."""
    ppid = os.getppid()
    if pdeathsig:
        _set_parent_death_signal()
        import multiprocessing

        forked = multiprocessing.get_start_method(allow_none=True) in (None, "fork")
        if forked and os.getppid() != main_pid:  # the parent died before the signal was armed
            os._exit(1)
    if not process_alive(main_pid):
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(main_pid, ppid, WATCHDOG_INTERVAL),
                     name="molmo2-parent-watchdog", daemon=True).start()
    if user_fn is not None:
        user_fn(worker_id)
