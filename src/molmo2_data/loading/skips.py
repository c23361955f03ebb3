"""The skip log: every example the loader could not use, by member and reason, as part of the state.

Why structured: one error type covers many causes (a ``MediaDecodeError`` may be a truncated JPEG, an
empty file or an unknown codec), so a reason is the error type plus its message with paths, numbers
and hashes stripped — similar causes group, different ones do not — each with a count and the first
few examples (index, rows, media) to look at. Readers also drop single invalid annotations
(``Example.metadata.dropped``); those are totalled per member here too.

The log is part of the loader state (``state_dict()["skips"]``): each global index is counted once,
when the cursor first passes it, so a resumed run reports the same totals as an uninterrupted one and
a second iteration of a loader does not count again.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

EXAMPLES_PER_REASON = 3

_PATH = re.compile(r"(?:[A-Za-z]:)?(?:~|\.{1,2})?(?:[/\\][\w.\-+@%=~]+)+[/\\]?")
_HEX = re.compile(r"\b(?:0x[0-9a-fA-F]+|[0-9a-fA-F]{12,})\b")
_NUM = re.compile(r"(?<![A-Za-z_])[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?")
_SPACE = re.compile(r"\s+")


def normalise(message: str, limit: int = 160) -> str:
    """A message with paths, long hex strings and numbers replaced, so similar causes group."""
    s = _PATH.sub("<path>", message)
    s = _HEX.sub("<hex>", s)
    s = _NUM.sub("N", s)
    s = _SPACE.sub(" ", s).strip()
    return s[:limit]


def reason_of(error_type: str, message: str) -> str:
    return f"{error_type}: {normalise(message)}" if message else error_type


class SkipLog:
    """Per member: counts of skipped examples per reason (with a few examples), examples used, and
    annotations dropped by the readers per reason."""

    def __init__(self) -> None:
        self.reasons: dict[str, dict[str, dict[str, Any]]] = {}  # member -> reason -> {count, type, examples}
        self.ok: Counter[str] = Counter()  # member -> examples encoded
        self.dropped: dict[str, Counter[str]] = {}  # member -> annotation reason -> count

    # ---- recording -----------------------------------------------------------------------------

    def add_skip(self, record: Mapping[str, Any]) -> int:
        """Count one skipped example (a :meth:`EncodeFailure.record`); returns the member's failures."""
        member = str(record.get("member", "?"))
        reason = reason_of(str(record.get("error_type", "Error")), str(record.get("message", "")))
        slot = self.reasons.setdefault(member, {}).setdefault(
            reason, {"count": 0, "error_type": record.get("error_type", "Error"), "examples": []})
        slot["count"] += 1
        if len(slot["examples"]) < EXAMPLES_PER_REASON:
            slot["examples"].append({k: record.get(k) for k in ("index", "dataset", "rows", "media", "message")})
        return self.failed(member)

    def add_ok(self, member: str, dropped: Mapping[str, int] | None = None) -> None:
        self.ok[member] += 1
        if dropped:
            self.dropped.setdefault(member, Counter()).update({str(k): int(v) for k, v in dropped.items()})

    def failed(self, member: str) -> int:
        return sum(slot["count"] for slot in self.reasons.get(member, {}).values())

    # ---- views ---------------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """``"member: ErrorType" -> count`` (the short form of ``report["skipped"]``)."""
        out: Counter[str] = Counter()
        for member, reasons in self.reasons.items():
            for slot in reasons.values():
                out[f"{member}: {slot['error_type']}"] += slot["count"]
        return dict(out)

    def total(self) -> int:
        return sum(self.counts().values())

    def top(self, n: int = 10) -> list[tuple[str, str, int, list[dict[str, Any]]]]:
        """The ``n`` most frequent (member, reason, count, examples), most frequent first."""
        rows = [(m, r, slot["count"], slot["examples"]) for m, rs in self.reasons.items() for r, slot in rs.items()]
        rows.sort(key=lambda x: (-x[2], x[0], x[1]))
        return rows[:n]

    def dropped_totals(self) -> dict[str, dict[str, int]]:
        return {m: dict(sorted(c.items())) for m, c in sorted(self.dropped.items()) if c}

    # ---- state ---------------------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        return {"reasons": {m: {r: {"count": s["count"], "error_type": s["error_type"],
                                    "examples": [dict(x) for x in s["examples"]]} for r, s in rs.items()}
                            for m, rs in self.reasons.items()},
                "ok": dict(self.ok), "dropped": {m: dict(c) for m, c in self.dropped.items()}}

    @classmethod
    def from_state(cls, state: Mapping[str, Any] | None) -> SkipLog:
        log = cls()
        if not state:
            return log
        log.merge_state(state)
        return log

    def merge_state(self, state: Mapping[str, Any]) -> None:
        """Add the counts of another log's state (the old ranks' logs on a world-size change)."""
        for member, reasons in (state.get("reasons") or {}).items():
            for reason, s in reasons.items():
                slot = self.reasons.setdefault(member, {}).setdefault(
                    reason, {"count": 0, "error_type": s.get("error_type", "Error"), "examples": []})
                slot["count"] += int(s["count"])
                room = EXAMPLES_PER_REASON - len(slot["examples"])
                slot["examples"].extend(dict(x) for x in list(s.get("examples", []))[:max(room, 0)])
        self.ok.update({m: int(v) for m, v in (state.get("ok") or {}).items()})
        for member, c in (state.get("dropped") or {}).items():
            self.dropped.setdefault(member, Counter()).update({k: int(v) for k, v in c.items()})

    @classmethod
    def merged(cls, states: Iterable[Mapping[str, Any] | None]) -> SkipLog:
        log = cls()
        for s in states:
            if s:
                log.merge_state(s)
        return log
