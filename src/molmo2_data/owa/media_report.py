"""How many rows of each OWA stage lack their screen media, and why.

A recording whose ``.mkv`` is missing still yields events, bins and windows: without these counts the
run would look healthy and the trainer would get desktop examples with no image. Each stage therefore
records a ``media_summary`` in its manifest and the CLI prints it; stage 4 warns with
:class:`OwaMediaWarning`.

Reasons (stable codes, also in ``docs/owa.md``): ``missing_video`` (the referenced file does not exist),
``bad_screen_payload`` (the screen message names no media), ``no_screen_yet`` (a bin before the first
screen message), and from stage 3 on ``not_a_video`` / ``pts_past_end`` (file exists but cannot give
the frame).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping
from typing import Any

from molmo2_data.owa.reader import parse_screen


class OwaMediaWarning(UserWarning):
    """Some windows of an MLLM dataset have no usable screen frame (see ``media_summary``)."""


class ScreenMediaCheck:
    """Reason a screen payload cannot give a frame (existence only; decoding is checked in stage 3),
    with one ``os.path.exists`` per distinct video."""

    def __init__(self) -> None:
        self._exists: dict[str, bool] = {}

    def reason(self, payload: bytes | str | None, mcap_path: str) -> str | None:
        if payload is None:
            return "no_screen_yet"
        try:
            uri = parse_screen(payload, mcap_path).uri
        except (ValueError, TypeError, AttributeError):
            return "bad_screen_payload"
        if "://" in uri or uri.startswith("data:"):
            return None
        if uri not in self._exists:
            self._exists[uri] = os.path.isfile(uri)
        return None if self._exists[uri] else "missing_video"


def add_counts(total: Counter[str], part: Mapping[str, int]) -> None:
    for k, v in part.items():
        total[k] += int(v)


def format_reasons(reasons: Mapping[str, int]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(reasons.items()))


def media_lines(stage: str, summary: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Human-readable lines of a stage's ``media_summary`` (printed by the CLI); one line per split
    with rows lacking media, or one line saying every row has media."""
    unit = {"events": "screen rows", "bins": "bins", "sequences": "windows"}[stage]
    lines = []
    for split, s in sorted(summary.items()):
        reasons = s.get("without_media", {})
        if stage == "sequences":
            n_bad, total = s.get("windows_without_images", 0), s.get("windows", 0)
            extra = f"; frames unavailable: {format_reasons(reasons)}" if reasons else ""
            if n_bad or set(reasons) - {"no_screen_yet"}:
                lines.append(f"  media ({split}): {n_bad} of {total} {unit} have no usable screen frame{extra}")
        else:
            n_bad, total = sum(reasons.values()), s.get("rows", 0)
            if n_bad:
                lines.append(f"  media ({split}): {n_bad} of {total} {unit} lack a usable screen "
                             f"({format_reasons(reasons)})")
    if not lines:
        lines.append(f"  media: every {unit[:-1]} has its screen media")
    return lines


def mllm_media_summary(ds: Any) -> dict[str, Any]:
    """``{"windows", "windows_without_images", "without_media": {reason: bins}}`` of one MLLM split,
    read from its ``metadata`` column (no decoding); ``no_screen_yet`` bins are counted too."""
    windows, without = 0, 0
    reasons: Counter[str] = Counter()
    if ds is None or not hasattr(ds, "column_names") or "metadata" not in ds.column_names:
        return {"windows": len(ds) if ds is not None else 0, "windows_without_images": 0, "without_media": {}}
    table = ds.select_columns(["metadata"]).with_format("arrow")[:]
    for meta in table.column("metadata").to_pylist():
        windows += 1
        if not meta.get("num_images"):
            without += 1
        missing = meta.get("missing_images") or []
        if isinstance(missing, Mapping):  # column-of-lists form
            missing = [{"reason": r} for r in missing.get("reason", [])]
        for m in missing:
            reasons[str(m.get("reason"))] += 1
    return {"windows": windows, "windows_without_images": without, "without_media": dict(sorted(reasons.items()))}
