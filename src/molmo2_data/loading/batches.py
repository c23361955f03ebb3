"""Encoded examples in index order -> packed sequences -> batches, with exact state and a lifecycle.

``BatchIterator`` is the framework-free core: it consumes (index, encoded example) pairs in scan
order, counts skips (``SkipLog``), packs and collates. ``_ConsumedState`` adds what a trainer sees:
batches made ahead in a thread, the state of the *consumed* batches, and ``close()`` / ``with`` /
an exit hook that stop the thread and the workers (``lifecycle.py``).
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from molmo2_data.errors import ConfigError, Molmo2DataError, StateMismatchError
from molmo2_data.loading.collate import collate
from molmo2_data.loading.cursor import RankCursor
from molmo2_data.loading.encode import EncodedExample, EncodeFailure
from molmo2_data.loading.lifecycle import track_loader, untrack
from molmo2_data.loading.packing import Packer, PackingConfig, pack
from molmo2_data.loading.prefetch import Prefetcher
from molmo2_data.loading.skips import SkipLog
from molmo2_data.loading.source import StageSource
from molmo2_data.loading.validate import fingerprint_differences

DISABLE_AFTER = 32  # a member failing on this many examples and succeeding on none stops the run

SkipSink = Callable[[dict[str, Any]], None]


class BatchIterator:
    """Framework-free core: encoded examples in index order -> packed sequences -> numpy batches."""

    def __init__(self, source: StageSource, cursor: RankCursor, batch_size: int, sequence_length: int,
                 packing: PackingConfig | None, pad_to: str = "max", fingerprint: dict[str, Any] | None = None,
                 collate_fn: Callable[..., dict[str, Any]] = collate):
        self.source = source
        self.collate_fn = collate_fn  # (sequences, sequence_length, pad_to) -> batch: the batch format
        self.cursor = cursor
        self.batch_size = batch_size
        self.sequence_length = sequence_length
        self.packing = packing
        self.pad_to = pad_to
        self.fingerprint = fingerprint
        self.log = SkipLog()
        self.on_skip: SkipSink | None = None  # called with every skip record as it is counted
        self.batches = 0
        self._buffered: list[int] = list(cursor.buffered)

    @property
    def skipped(self) -> dict[str, int]:
        return self.log.counts()

    def state_dict(self) -> dict[str, Any]:
        state = self.cursor.state(self._buffered)
        state["batches"] = self.batches
        state["skipped"] = self.log.counts()
        state["skips"] = self.log.to_state()
        if self.fingerprint is not None:
            state["fingerprint"] = dict(self.fingerprint)
        return state

    def load_state_dict(self, state: dict[str, Any] | list[dict[str, Any]], strict: bool = True) -> None:
        """This rank's state (same world size), or the states of every old rank (another world size).
        A state saved under another stage, mixture, seed, length, packing or tokenizer is a
        :class:`StateMismatchError` unless ``strict=False`` (then a warning)."""
        states = [state] if isinstance(state, dict) else list(state) if isinstance(state, list | tuple) else None
        if not states or not all(isinstance(s, dict) for s in states):
            raise ConfigError(f"a loader state must be a dict or a list of dicts, got {type(state).__name__}")
        self._check_fingerprints(states, strict)
        self._restore(state)

    def _check_fingerprints(self, states: list[dict[str, Any]], strict: bool) -> None:
        if self.fingerprint is None:
            return
        missing = [s for s in states if "fingerprint" not in s]
        if missing:
            warnings.warn("loader state has no fingerprint (saved by an older version): cannot check that it "
                          "belongs to this stage, mixture, seed and tokenizer", UserWarning, stacklevel=4)
        for s in states:
            if "fingerprint" not in s:
                continue
            diff = fingerprint_differences(s["fingerprint"], self.fingerprint)
            if not diff:
                continue
            msg = ("loader state does not belong to this loader (saved -> this loader): " + "; ".join(diff))
            if strict:
                raise StateMismatchError(msg + "; pass strict=False to load it anyway")
            warnings.warn(msg + " (loaded anyway: strict=False)", UserWarning, stacklevel=4)
            return

    def _restore(self, state: dict[str, Any] | list[dict[str, Any]]) -> None:
        """Load a state without checks (the loader's own consumed state, or after the checks)."""
        rank, world = self.cursor.rank, self.cursor.world_size
        self.cursor = RankCursor.restore(state, rank, world)
        self._buffered = list(self.cursor.buffered)
        states = [state] if isinstance(state, dict) else list(state)
        same_world = [s for s in states if s.get("world_size") == world and s.get("rank") == rank]
        if same_world:  # this rank's own state: its counts continue
            mine = same_world[0]
            self.batches = int(mine.get("batches", 0))
            self.log = _log_of(mine)
        else:  # a new world size: rank 0 carries the old ranks' totals, so global sums stay right
            self.batches = 0
            self.log = SkipLog.merged(_log_of(s).to_state() for s in states) if rank == 0 else SkipLog()

    @property
    def report(self) -> dict[str, Any]:
        return report_of(self.source, self.log)

    def batches_with_state(self, encoded: Iterator[tuple[int, EncodedExample | EncodeFailure]],
                           ) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        """(batch, the state right after it): what a prefetching consumer checkpoints."""
        for batch in self.run(encoded):
            yield batch, self.state_dict()

    def run(self, encoded: Iterator[tuple[int, EncodedExample | EncodeFailure]]) -> Iterator[dict[str, Any]]:
        """Consume (index, encoded) pairs in scan order (buffered replays first) and yield batches.

        Counts are taken once per global index: a replayed (buffered) example was counted when the
        cursor first passed it, so it is not counted again."""
        packer = Packer(self.packing) if self.packing is not None else None
        replay = set(self.cursor.buffered)
        pending = []
        for e, enc in encoded:
            replayed = e in replay
            if replayed:
                replay.discard(e)
            else:
                self.cursor.advance_past(e)
            member = enc.metadata.get("member", "?")
            if isinstance(enc, EncodeFailure):
                record = enc.record()
                failed = self.log.add_skip(record)
                if self.on_skip is not None:
                    self.on_skip(record)
                if failed >= DISABLE_AFTER and self.log.ok[member] == 0:
                    raise Molmo2DataError(
                        f"mixture member {member!r} failed on each of its first {failed} examples "
                        f"(last: {enc.reason[:300]}); fix its data or leave it out of the mixture")
                continue
            if not replayed:
                self.log.add_ok(member, enc.metadata.get("dropped"))
            if packer is None:
                seq = pack([enc])
            else:
                seq = packer.push(enc)
                self._buffered = [b.metadata["index"] for b in packer.buffer]
            if seq is None:
                continue
            pending.append(seq)
            if len(pending) == self.batch_size:
                self.batches += 1
                yield self.collate_fn(pending, self.sequence_length, self.pad_to)
                pending = []


def _log_of(state: dict[str, Any]) -> SkipLog:
    """The skip log of a state; states of older versions have only ``skipped`` counts."""
    if "skips" in state:
        return SkipLog.from_state(state["skips"])
    log = SkipLog()
    for key, n in (state.get("skipped") or {}).items():
        member, _, kind = str(key).partition(": ")
        log.reasons.setdefault(member, {})[kind or "Error"] = {"count": int(n), "error_type": kind or "Error",
                                                                "examples": []}
    return log


def report_of(source: StageSource, log: SkipLog) -> dict[str, Any]:
    """``report``: the mixture, rates, absent members, and skips / dropped annotations so far."""
    return {**source.report(), "skipped": log.counts(), "skips": log.to_state()["reasons"],
            "dropped": log.dropped_totals(), "examples": dict(log.ok)}


def _until(items: Iterator[Any], stop: threading.Event) -> Iterator[Any]:
    """``items`` until ``stop`` is set: a closing loader stops the producer between two examples."""
    it = iter(items)
    while not stop.is_set():
        try:
            x = next(it)
        except StopIteration:
            return
        yield x


class _ConsumedState:
    """The state of the last batch handed to the user, and the loader's lifecycle.

    Batches are made ahead (``Prefetcher``), so the core's own state runs ahead of what was consumed;
    checkpoints, reports and new iterations use the consumed state. ``close()`` (also ``with``, and
    at interpreter exit for loaders still open) stops the thread and releases the workers."""

    def __init__(self, core: BatchIterator):
        self._core = core
        self._consumed: dict[str, Any] | None = None
        self._active: Prefetcher | None = None
        self._lifecycle_lock = threading.RLock()
        track_loader(self)

    @property
    def sequences_per_batch(self) -> int:
        """Packed sequences per batch on this rank (``batch_size="stage"``: the stage's global batch / world
        size). Named apart from ``DataLoader.batch_size``, which is None here (batches are made by the core)."""
        return self._core.batch_size

    @property
    def on_skip(self) -> SkipSink | None:
        """Called (in the batch thread) with every skip record as it is counted."""
        return self._core.on_skip

    @on_skip.setter
    def on_skip(self, sink: SkipSink | None) -> None:
        self._core.on_skip = sink

    def _stop_active(self, timeout: float | None = None) -> None:
        """Stop the previous iteration's thread and wait for it (it shares the core), then its workers."""
        with self._lifecycle_lock:
            if self._active is not None:
                self._active.close(timeout)
                if self._active.alive:
                    warnings.warn(f"the batch prefetch thread did not stop within {timeout} s", RuntimeWarning,
                                  stacklevel=3)
                self._active = None
            self._release_workers()

    def _release_workers(self) -> None:
        """Shut down worker processes (torch loaders with workers)."""

    def _rewind(self) -> None:
        """A new iteration starts after the last consumed batch, not after the last prefetched one."""
        self._stop_active()
        track_loader(self)
        if self._consumed is not None:
            self._core._restore(self._consumed)

    def _batches(self, encoded: Iterator[tuple[int, Any]], depth: int,
                 convert: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> Iterator[dict[str, Any]]:
        """Batches with their states, made ahead; ``convert`` (e.g. to pinned torch tensors) runs in
        the prefetch thread too."""
        if self._consumed is None:
            self._consumed = self._core.state_dict()  # nothing consumed yet: the start is the state
        stop = threading.Event()
        made = self._core.batches_with_state(_until(encoded, stop))
        if convert is not None:
            made = ((convert(batch), state) for batch, state in made)
        self._active = stream = Prefetcher(made, depth, stop=stop)
        try:
            for batch, state in stream:
                self._consumed = state
                yield batch
        finally:
            stream.close(timeout=0)  # stop it; the next iteration (``_rewind``) or ``close`` waits for it

    def close(self, timeout: float | None = None) -> None:
        """Stop the batch thread (waiting ``timeout`` s at most) and shut the worker processes down.
        The consumed state is kept: ``state_dict()`` still works, and a new ``iter()`` continues."""
        self._stop_active(timeout)
        untrack(self)

    def __enter__(self) -> _ConsumedState:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def state_dict(self) -> dict[str, Any]:
        return dict(self._consumed) if self._consumed is not None else self._core.state_dict()

    def load_state_dict(self, state: dict[str, Any] | list[dict[str, Any]], strict: bool = True) -> None:
        """Resume from ``state`` (see :meth:`BatchIterator.load_state_dict`)."""
        self._stop_active()
        self._core.load_state_dict(state, strict=strict)
        self._consumed = None

    @property
    def report(self) -> dict[str, Any]:
        """Mixture, rates, absent members; skips (per member and reason, with examples) and dropped
        annotations of the consumed batches."""
        return report_of(self._core.source, _log_of(self.state_dict()))


class NumpyBatches(_ConsumedState):
    """The same stream without torch: ``for batch in get_dataloader(..., framework="numpy")``."""

    def __init__(self, core: BatchIterator, prefetch_batches: int = 2):
        super().__init__(core)
        self._prefetch_batches = prefetch_batches

    def __iter__(self) -> Iterator[dict[str, Any]]:
        self._rewind()
        src = self._core.source
        return self._batches(((e, src.encode(e)) for e in self._core.cursor.scan()), self._prefetch_batches)
