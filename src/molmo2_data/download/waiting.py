"""What a download is waiting on, for the user: the slowest requests in flight and paused hosts.

Why: a few stalled URLs used to freeze the progress bar at 97-99 % with no word of what was left.
The fetcher sends a :class:`WaitStatus` every ``status_interval`` seconds; the command shows it in the
progress bar (or as a log line with ``--quiet``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

SHOWN = 3  # slowest URLs named


@dataclass
class WaitStatus:
    in_flight: int = 0
    slowest: list[tuple[str, float]] = field(default_factory=list)  # (url, seconds since its request began)
    paused: dict[str, float] = field(default_factory=dict)  # host -> wall-clock time its pause ends
    retrying: int = 0  # URLs waiting on a retry timer
    queued_paused: int = 0  # URLs queued behind paused hosts

    @staticmethod
    def merge(parts: Iterable[WaitStatus]) -> WaitStatus:
        """One view over the worker processes."""
        out = WaitStatus()
        for p in parts:
            out.in_flight += p.in_flight
            out.slowest.extend(p.slowest)
            for h, t in p.paused.items():
                out.paused[h] = max(t, out.paused.get(h, 0.0))
            out.retrying += p.retrying
            out.queued_paused += p.queued_paused
        out.slowest = sorted(out.slowest, key=lambda s: -s[1])[:SHOWN]
        return out

    def describe(self, min_age: float) -> str:
        """One line naming what is waited on, or "" when nothing has waited ``min_age`` seconds."""
        parts = []
        slow = [(u, s) for u, s in self.slowest if s >= min_age]
        if slow:
            parts.append(f"{self.in_flight} in flight, slowest: "
                         + ", ".join(f"{u} ({s:.0f} s)" if s >= 10 else f"{u} ({s:.1f} s)" for u, s in slow))
        if self.paused:
            parts.append("paused: " + ", ".join(
                f"{h} until {time.strftime('%H:%M:%S', time.localtime(t))}" for h, t in sorted(self.paused.items()))
                + (f" ({self.queued_paused:,} URLs wait)" if self.queued_paused else ""))
        if self.retrying:
            parts.append(f"{self.retrying:,} waiting to retry")
        return "; ".join(parts)
