"""Which URL to request next: per-host limits and pauses that never hold a worker.

Why: when a worker takes an item and then waits for its host (a per-host limit, a ``Retry-After``
pause), every worker soon holds an item of that host and the healthy hosts starve (one 429 with
``Retry-After: 3600`` kept another host's files waiting for 600 s). Here an item is handed out only
when its host can take a request *now*; items of a full or paused host stay in that host's queue, and
items waiting for a retry sit on a timer heap. Hosts with work are served round robin.

Everything is synchronous and O(1) per item (amortised); the event loop in
:mod:`molmo2_data.download.fetch` asks :meth:`HostSchedule.take` for work and sleeps until
:meth:`HostSchedule.next_due` or until a request finishes.
"""

from __future__ import annotations

import heapq
import itertools
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Any


@dataclass(eq=False)
class Entry:
    """One URL on its way: the item, the URL actually requested, its host and its attempts so far."""

    item: Any  # a MediaItem
    url: str
    host: str
    tries: int = 0
    started: float = 0.0  # monotonic time of the first attempt (start of the file deadline); 0: none yet


class HostSchedule:
    """Queues per host; at most ``per_host`` requests in flight per host; paused hosts are skipped."""

    def __init__(self, per_host: int):
        self.per_host = per_host
        self._queues: dict[str, deque[Entry]] = {}
        self._ready: deque[str] = deque()  # hosts that can start a request now (each listed once)
        self._listed: set[str] = set()
        self.in_flight: defaultdict[str, int] = defaultdict(int)
        self.paused: dict[str, float] = {}  # host -> monotonic time its pause ends
        self._timers: list[tuple[float, int, Entry | None, str]] = []  # (due, seq, entry | None = resume, host)
        self._seq = itertools.count()
        self.queued = 0  # entries in host queues
        self.retrying = 0  # entries waiting on a retry timer

    # -- feeding -----------------------------------------------------------------------------------

    def add(self, entry: Entry, now: float, front: bool = False) -> None:
        q = self._queues.get(entry.host)
        if q is None:
            q = self._queues[entry.host] = deque()
        if front:
            q.appendleft(entry)
        else:
            q.append(entry)
        self.queued += 1
        self._list(entry.host, now)

    def retry_at(self, entry: Entry, when: float) -> None:
        """Put ``entry`` back in its host queue at ``when`` (a retry after a backoff)."""
        heapq.heappush(self._timers, (when, next(self._seq), entry, entry.host))
        self.retrying += 1

    def pause(self, host: str, until: float) -> None:
        """Start no request to ``host`` before ``until`` (Retry-After); other hosts are unaffected."""
        if until > self.paused.get(host, 0.0):
            self.paused[host] = until
            heapq.heappush(self._timers, (until, next(self._seq), None, host))

    def drain(self, host: str) -> list[Entry]:
        """Remove and return every entry of ``host``, queued or waiting for a retry (the run gives up
        on it)."""
        q = self._queues.pop(host, deque())
        self.queued -= len(q)
        out = list(q)
        keep = []
        for t in self._timers:
            if t[2] is not None and t[3] == host:
                out.append(t[2])
                self.retrying -= 1
            else:
                keep.append(t)
        if len(keep) != len(self._timers):
            heapq.heapify(keep)
            self._timers = keep
        return out

    # -- handing out -------------------------------------------------------------------------------

    def take(self, now: float) -> Entry | None:
        """An entry whose host can take a request now (counted in flight), or None."""
        self._fire(now)
        while self._ready:
            host = self._ready.popleft()
            self._listed.discard(host)
            if not self._can_start(host, now):
                continue
            q = self._queues[host]
            entry = q.popleft()
            self.queued -= 1
            if not q:
                del self._queues[host]
            self.in_flight[host] += 1
            self._list(host, now)  # back of the line: hosts take turns
            return entry
        return None

    def finished(self, entry: Entry, now: float) -> None:
        """A request of ``entry`` ended (whatever the outcome): its host has a free slot."""
        n = self.in_flight[entry.host] - 1
        if n:
            self.in_flight[entry.host] = n
        else:
            del self.in_flight[entry.host]
        self._list(entry.host, now)

    def next_due(self) -> float | None:
        """Monotonic time of the next retry or pause end, or None."""
        return self._timers[0][0] if self._timers else None

    def idle(self) -> bool:
        """Nothing queued, waiting for a retry or in flight: the run is over (a pause alone does not
        keep it going)."""
        return not self.queued and not self.retrying and not self.in_flight

    def paused_hosts(self, now: float) -> dict[str, float]:
        """Hosts still paused at ``now`` -> seconds left, for the user's view of what is waited on."""
        return {h: t - now for h, t in self.paused.items() if t > now}

    def queued_on(self, host: str) -> int:
        return len(self._queues.get(host, ()))

    # -- internals ---------------------------------------------------------------------------------

    def _can_start(self, host: str, now: float) -> bool:
        return (bool(self._queues.get(host)) and self.in_flight.get(host, 0) < self.per_host
                and self.paused.get(host, 0.0) <= now)

    def _list(self, host: str, now: float) -> None:
        if host not in self._listed and self._can_start(host, now):
            self._listed.add(host)
            self._ready.append(host)

    def _fire(self, now: float) -> None:
        while self._timers and self._timers[0][0] <= now:
            _, _, entry, host = heapq.heappop(self._timers)
            if entry is None:  # a pause ended (unless a later one replaced it)
                if self.paused.get(host, 0.0) <= now:
                    self.paused.pop(host, None)
                    self._list(host, now)
            else:
                self.retrying -= 1
                self.add(entry, now, front=True)  # its deadline runs: before the host's new items
