"""Where a rank is in the global example stream, as a small, exact, resumable state.

Rank r of W visits global examples e = r, r + W, r + 2W, ... (its scan), in order. Packing keeps up to
48 examples in a buffer, so "consumed" means: visited and not still buffered. A checkpoint stores the
next scan position and the buffered indices of every rank; that is all that is needed to continue
exactly (the buffered examples are encoded again — encoding is a pure function of the index).

Changing the world size on resume: pass the states of *all* old ranks. They become a *generation*
that answers "was e already consumed?"; each new rank scans its own progression from the first index
any old rank had not consumed and skips what the generation says was consumed. Nothing is repeated
and nothing skipped. The official loader cannot do this (it warns and changes the order).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from molmo2_data.errors import ConfigError, StateMismatchError

STATE_VERSION = 1


@dataclass
class Generation:
    """What a previous set of ``world_size`` ranks consumed."""

    world_size: int
    next: list[int]  # per old rank: its next scan index (global index)
    buffered: list[list[int]]  # per old rank: indices visited but still buffered
    older: list[Generation] = field(default_factory=list)

    def consumed(self, e: int) -> bool:
        r = e % self.world_size
        if e < self.next[r] and e not in self._buffered_sets[r]:
            return True
        return any(g.consumed(e) for g in self.older)

    def __post_init__(self) -> None:
        self._buffered_sets = [set(b) for b in self.buffered]

    @property
    def first_unconsumed(self) -> int:
        candidates = [n for n in self.next] + [min(b) for b in self.buffered if b]
        first = min(candidates)
        return min([first] + [g.first_unconsumed for g in self.older])

    @property
    def horizon(self) -> int:
        """No index at or past this is consumed by this generation (or an older one)."""
        return max([max(self.next)] + [g.horizon for g in self.older])

    def to_dict(self) -> dict[str, Any]:
        return {"world_size": self.world_size, "next": list(self.next), "buffered": [list(b) for b in self.buffered],
                "older": [g.to_dict() for g in self.older]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Generation:
        return cls(d["world_size"], list(d["next"]), [list(b) for b in d["buffered"]],
                   [cls.from_dict(o) for o in d.get("older", [])])


@dataclass
class RankCursor:
    rank: int
    world_size: int
    next: int  # next global index this rank visits (≡ rank mod world_size)
    buffered: list[int] = field(default_factory=list)
    generations: list[Generation] = field(default_factory=list)

    @classmethod
    def fresh(cls, rank: int, world_size: int) -> RankCursor:
        if not 0 <= rank < world_size:
            raise ConfigError(f"rank {rank} is not in [0, {world_size})")
        return cls(rank=rank, world_size=world_size, next=rank)

    def _skip(self, e: int) -> bool:
        return any(g.consumed(e) for g in self.generations if e < g.horizon)

    def scan(self) -> Iterator[int]:
        """Global indices to encode from here: first the buffered ones, then the scan onwards."""
        yield from list(self.buffered)
        e = self.next
        while True:
            if not self._skip(e):
                yield e
            e += self.world_size

    def advance_past(self, e: int) -> None:
        """Record that the scan reached ``e`` (the next visit is the following index of this rank)."""
        self.next = e + self.world_size

    def state(self, buffered: Sequence[int]) -> dict[str, Any]:
        gens = [g for g in self.generations if g.horizon > self.next]  # older ones can no longer matter
        return {"version": STATE_VERSION, "rank": self.rank, "world_size": self.world_size, "next": self.next,
                "buffered": list(buffered), "generations": [g.to_dict() for g in gens]}

    @classmethod
    def restore(cls, states: dict[str, Any] | Sequence[dict[str, Any]], rank: int, world_size: int) -> RankCursor:
        """Resume from this rank's state (a dict: same rank and world size) or from the states of all
        old ranks (a list: any world size)."""
        single = isinstance(states, dict)
        states = [states] if single else list(states)
        if not states:
            raise ConfigError("no loader state given")
        for s in states:
            _check_state(s)
        if single:
            s = states[0]
            if (s["rank"], s["world_size"]) != (rank, world_size):
                raise StateMismatchError(
                    f"loader state of rank {s['rank']} of {s['world_size']} cannot resume rank {rank} of "
                    f"{world_size}; load this rank's own state, or the list of every old rank's state to "
                    "change the world size")
        old_ws = {s["world_size"] for s in states}
        if len(old_ws) != 1:
            raise StateMismatchError(f"loader states of different world sizes {sorted(old_ws)} cannot be combined")
        old_w = states[0]["world_size"]
        if old_w == world_size:
            mine = [s for s in states if s["rank"] == rank]
            if not mine:
                raise StateMismatchError(f"no saved state for rank {rank}")
            s = mine[0]
            return cls(rank=rank, world_size=world_size, next=s["next"], buffered=list(s["buffered"]),
                       generations=[Generation.from_dict(g) for g in s["generations"]])
        by_rank = {s["rank"]: s for s in states}
        if sorted(by_rank) != list(range(old_w)):
            raise StateMismatchError(f"changing the world size from {old_w} to {world_size} needs the states of "
                                     f"all {old_w} old ranks, got ranks {sorted(by_rank)}")
        older = [Generation.from_dict(g) for g in by_rank[0]["generations"]]
        gen = Generation(old_w, [by_rank[r]["next"] for r in range(old_w)],
                         [list(by_rank[r]["buffered"]) for r in range(old_w)], older)
        start = gen.first_unconsumed
        first = start + ((rank - start) % world_size)
        return cls(rank=rank, world_size=world_size, next=first, buffered=[], generations=[gen])


def _check_state(s: Any) -> None:
    """The fields a state needs, with values a rank can have (``next`` on the rank's progression)."""
    if not isinstance(s, dict):
        raise ConfigError(f"a loader state must be a dict, got {type(s).__name__}")
    if s.get("version") != STATE_VERSION:
        raise ConfigError(f"unsupported loader state version {s.get('version')!r}")
    missing = [k for k in ("rank", "world_size", "next", "buffered", "generations") if k not in s]
    if missing:
        raise ConfigError(f"loader state lacks {', '.join(missing)}")
    r, w, n = s["rank"], s["world_size"], s["next"]
    if not all(isinstance(x, int) and not isinstance(x, bool) for x in (r, w, n)) or not 0 <= r < w or n < 0:
        raise ConfigError(f"loader state has an invalid rank/world_size/next: {r!r}/{w!r}/{n!r}")
    if n % w != r:
        raise StateMismatchError(f"loader state of rank {r} of {w} is at index {n}, which is not on that "
                                 f"rank's progression ({r}, {r + w}, {r + 2 * w}, ...)")
