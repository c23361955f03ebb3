"""Batches made ahead in a background thread, so packing and collation overlap the training step.

The main process packs and collates (the order-dependent part of the loader); without prefetching the
trainer waits for that on every ``next()``. A thread runs the batch iterator ``depth`` batches ahead;
the large copies of collation release the GIL, and a training step spends its time in C++ kernels, so
the two overlap. Each batch travels with the loader state *after* it, so a checkpoint taken after
consuming batch k resumes at batch k + 1 however far the thread has run.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Generic, TypeVar

from molmo2_data.loading.lifecycle import track_prefetcher, untrack

T = TypeVar("T")

_END = object()


class _Raised:
    def __init__(self, error: BaseException):
        self.error = error


class Prefetcher(Generic[T]):
    """Iterate ``items`` computed up to ``depth`` ahead in a daemon thread (``depth`` 0: inline).

    Exceptions of the producer are re-raised in the consumer. :meth:`close` (also on garbage
    collection) stops the thread after the item it is on, waits for it, and closes ``items``: whoever
    shares state with ``items`` may use that state again once ``close`` returns."""

    def __init__(self, items: Iterator[T], depth: int, stop: threading.Event | None = None):
        """``stop``: an event the producer's source may watch too, to stop between items of its own."""
        self._items = items
        self._depth = depth
        self._stop = stop if stop is not None else threading.Event()
        self._queue: queue.Queue = queue.Queue(maxsize=max(depth, 1))
        self._thread: threading.Thread | None = None
        self._done = False
        if depth > 0:
            self._thread = threading.Thread(target=self._produce, name="molmo2-batch-prefetch", daemon=True)
            self._thread.start()
            track_prefetcher(self)  # joined at interpreter exit, before torch tears down

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self) -> None:
        try:
            for item in self._items:
                if not self._put(item):
                    break
            else:
                self._put(_END)
        except BaseException as e:  # noqa: BLE001 - handed to the consumer, which re-raises it
            self._put(_Raised(e))
        finally:
            close = getattr(self._items, "close", None)
            if close is not None:
                close()

    def __iter__(self) -> Prefetcher[T]:
        return self

    def __next__(self) -> T:
        if self._done:
            raise StopIteration
        if self._thread is None:
            try:
                return next(self._items)
            except StopIteration:
                self._done = True
                raise
        while True:
            try:
                item = self._queue.get(timeout=0.5)
                break
            except queue.Empty:
                if not self._thread.is_alive() and self._queue.empty():  # died without a word
                    self._done = True
                    raise RuntimeError("the batch prefetch thread ended unexpectedly") from None
        if item is _END:
            self._done = True
            raise StopIteration
        if isinstance(item, _Raised):
            self._done = True
            raise item.error
        return item

    def close(self, timeout: float | None = None) -> None:
        """Stop the producer and wait for it (``timeout`` seconds at most; None: as long as it takes)."""
        self._done = True
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
            if not self._thread.is_alive():
                untrack(self)
        elif self._thread is None:
            close = getattr(self._items, "close", None)
            if close is not None:
                close()

    def __del__(self) -> None:
        self._done = True
        self._stop.set()  # no join here: a finaliser must not block

    @property
    def alive(self) -> bool:
        """Whether the producer thread is still running."""
        return self._thread is not None and self._thread.is_alive()
