"""The torch face of the loader: a ``torch.utils.data.DataLoader`` whose workers encode examples by
global index, whose main process packs and collates them, and whose worker processes are shut down
on ``close()``, at interpreter exit, and when the parent process dies (see ``lifecycle.py``)."""

from __future__ import annotations

import dataclasses
import functools
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from molmo2_data.loading.collate import to_torch
from molmo2_data.loading.encode import EncodedExample
from molmo2_data.loading.lifecycle import worker_init
from molmo2_data.loading.source import StageSource


class _EncodeByIndex:
    """Map-style dataset for torch: index -> (index, encoded example).

    In a worker process the pixels leave as a torch tensor: torch's pickler moves its storage to
    shared memory, so the main process maps it instead of unpickling a copy (a 128-frame video is
    55 MB of uint8; as a numpy array the main process spent ~0.1 s per such example just receiving
    it). ``_pixels_to_numpy`` turns it back into a numpy view on arrival."""

    def __init__(self, source: StageSource):
        self.source = source
        self.share_pixels = _shared_memory_is_ample()

    def __getitem__(self, e: int) -> tuple[int, Any]:
        out = self.source.encode(int(e))
        if self.share_pixels and isinstance(out, EncodedExample) and out.pixels is not None:
            import torch.utils.data as tud

            if tud.get_worker_info() is not None:
                import torch

                pixels = out.pixels if out.pixels.flags.writeable else out.pixels.copy()
                out = dataclasses.replace(out, pixels=torch.from_numpy(pixels))
        return e, out

    def __len__(self) -> int:  # the stream is infinite; DataLoader never asks with a sampler
        return 2**62


def _identity(x: Any) -> Any:
    return x


def _shared_memory_is_ample(min_free: int = 2 << 30) -> bool:
    """Share pixels through /dev/shm only when it has room (containers often mount 64 MB there, where
    torch's shared tensors fail); ``MOLMO2_DATA_SHARE_PIXELS=0/1`` overrides."""
    forced = os.environ.get("MOLMO2_DATA_SHARE_PIXELS")
    if forced is not None:
        return forced != "0"
    try:
        st = os.statvfs("/dev/shm")
    except OSError:
        return False
    return st.f_bavail * st.f_frsize >= min_free


def _pixels_to_numpy(items: Iterator[tuple[int, Any]]) -> Iterator[tuple[int, Any]]:
    """Pixels that arrived from a worker as a shared-memory tensor -> a numpy view of it."""
    for e, out in items:
        if isinstance(out, EncodedExample) and out.pixels is not None and not isinstance(out.pixels, np.ndarray):
            out = dataclasses.replace(out, pixels=out.pixels.numpy())
        yield e, out


def _torch_batch(pin_memory: bool) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """numpy batch -> torch tensors (zero copy), pinned in page-locked memory when asked, so the
    trainer's ``.to("cuda", non_blocking=True)`` overlaps the copy with compute."""

    def convert(batch: dict[str, Any]) -> dict[str, Any]:
        out = to_torch(batch)
        if pin_memory:
            out = {k: v.pin_memory() if hasattr(v, "pin_memory") else v for k, v in out.items()}
        return out

    return convert


def _is_ours(fn: Any) -> bool:
    return isinstance(fn, functools.partial) and fn.func is worker_init


@functools.cache
def make_torch_loader_class() -> type:
    import torch.utils.data as tud

    from molmo2_data.loading.batches import BatchIterator, _ConsumedState

    class _Scan(tud.Sampler):
        def __init__(self, owner: Molmo2DataLoader):
            self.owner = owner

        def __iter__(self):
            return self.owner._core.cursor.scan()

    class Molmo2DataLoader(_ConsumedState, tud.DataLoader):
        """A ``torch.utils.data.DataLoader`` of packed, collated batches with ``state_dict()`` /
        ``load_state_dict()`` for exact resumption, and ``close()`` / ``with`` for a clean end."""

        def __init__(self, core: BatchIterator, num_workers: int, prefetch_factor: int | None, as_torch: bool,
                     prefetch_batches: int = 2, pin_memory: bool = False,
                     worker_init_fn: Callable[[int], Any] | None = None):
            kw: dict[str, Any] = {}
            if num_workers > 0:
                kw.update(prefetch_factor=4 if prefetch_factor is None else prefetch_factor,
                          persistent_workers=False)
            tud.DataLoader.__init__(self, _EncodeByIndex(core.source), batch_size=None, sampler=_Scan(self),
                                    num_workers=num_workers, collate_fn=_identity,
                                    worker_init_fn=worker_init_fn, **kw)
            _ConsumedState.__init__(self, core)
            self._as_torch = as_torch
            self._prefetch_batches = prefetch_batches
            self._pin_memory = pin_memory
            self._workers: Any = None

        def __iter__(self):
            self._rewind()
            user_fn = self.worker_init_fn
            user_fn = user_fn.args[2] if _is_ours(user_fn) else user_fn
            # Workers die with this process (PR_SET_PDEATHSIG only when started from the main thread:
            # the signal follows the forking thread) and check on it from a watchdog thread.
            self.worker_init_fn = functools.partial(
                worker_init, os.getpid(), threading.current_thread() is threading.main_thread(), user_fn)
            self._workers = workers = tud.DataLoader.__iter__(self)  # workers start here, in this thread
            yield from self._batches(_pixels_to_numpy(workers), self._prefetch_batches,
                                     _torch_batch(self._pin_memory) if self._as_torch else None)

        def _release_workers(self) -> None:
            """Shut the worker processes of the last iteration down (its thread is stopped by now)."""
            workers, self._workers = self._workers, None
            shutdown = getattr(workers, "_shutdown_workers", None)
            if shutdown is not None:
                shutdown()

        def worker_pids(self) -> list[int]:
            """Process ids of the current iteration's workers (empty without workers)."""
            return [w.pid for w in getattr(self._workers, "_workers", []) if w.pid is not None]

        def __len__(self) -> int:
            raise TypeError("the stage stream is infinite")

    return Molmo2DataLoader
