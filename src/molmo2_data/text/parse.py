"""Model output text -> structured points, counts, tracks, clock times and choices.

Inverse of :mod:`molmo2_data.text.point_format` and the formatter, for every format (html-v2, html-v1,
Molmo v1, the tab-separated tag); a tag's alternative text (``alt="…"``, or the tab form's second
field) is kept in ``ParsedPoints.alt_text``. Tolerant of malformed output: unclosed tags, missing fields, junk triples and truncated
generations yield what can be read; nothing here raises on model text.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

# html-v1/v2 tags, optionally with the official alternative text before the coordinates
_HTML_TAG = re.compile(r'<(points|tracks)\s+(?:alt\s*=\s*"([^"<>]*)"\s+)?coords\s*=\s*"([^"<>]*)("?)\s*>?([^<]*)'
                       r'(?:</\s*(?:points|tracks)\s*>)?')
# the official tab-separated form: <points {label}\t{alt or '-'}\t{coords}/>
_TAB_TAG = re.compile(r'<(?:points|tracks)[ \t]([^\t<>]*)\t([^\t<>]*)\t([0-9.;:, \t]*?)\s*/?>')
_V1_ONE = re.compile(r'<point\s+([^>]*?)>([^<]*)(?:</point>)?')
_V1_MANY = re.compile(r'<points(?![ \t][^\t<>]*\t[^\t<>]*\t)\s+(?!coords)(?!alt\s*=\s*"[^"<>]*"\s+coords)([^>]*?)>([^<]*)(?:</points>)?')
_V1_XY = re.compile(r'\b([xy])(\d*)\s*=\s*"\s*(-?[\d.]+)\s*"')
_ALT = re.compile(r'\balt\s*=\s*"([^"]*)"')
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


@dataclass
class ParsedPoints:
    """One points/tracks tag. ``keys`` are the group keys (image index for images, seconds for video);
    each point has its group (``group``), its printed id (``ids``) and integer coordinates ``xy`` in
    the 0-1000 units of html formats (Molmo v1: percent floats)."""

    tag: str  # "points", "tracks" or "v1"
    label: str
    keys: list[float] = field(default_factory=list)
    group: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    xy: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), dtype=np.float64))
    units: float = 1000.0  # xy / units * scale = coordinates in ``scale`` units
    alt_text: str | None = None  # the tag's alternative text (None when absent or '-')

    def points(self, scale: Sequence[float] = (1.0, 1.0)) -> np.ndarray:
        """(N, 2) float points in the units of ``scale`` (e.g. (width, height) for pixels)."""
        return self.xy / self.units * np.asarray(scale, dtype=np.float64).reshape(1, 2)

    @property
    def timestamps(self) -> np.ndarray:
        """Group keys as seconds (video) - one per group, in printed order."""
        return np.asarray(self.keys, dtype=np.float64)

    @property
    def image_index(self) -> np.ndarray:
        """0-based image of each point (multi-image)."""
        return np.asarray([int(self.keys[g]) - 1 for g in self.group.tolist()], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.xy)


def _to_float(s: str) -> float | None:
    try:
        v = float(s)
    except ValueError:
        return None
    return v if np.isfinite(v) else None


def _to_int(s: str) -> int | None:
    return int(s) if re.fullmatch(r"-?\d+", s) else None


def _parse_coords(coords: str, tag: str, label: str) -> ParsedPoints:
    keys: list[float] = []
    group: list[int] = []
    ids: list[int] = []
    xy: list[tuple[int, int]] = []
    for part in re.split(r"[;\t]", coords):
        toks = part.split()
        if not toks:
            continue
        key = _to_float(toks[0])
        if key is None:
            continue
        g = len(keys)
        keys.append(key)
        for i in range(1, len(toks) - 2, 3):
            vals = [_to_int(t) for t in toks[i:i + 3]]
            if any(v is None for v in vals):
                continue
            group.append(g)
            ids.append(vals[0])  # type: ignore[arg-type]
            xy.append((vals[1], vals[2]))  # type: ignore[arg-type]
    return ParsedPoints(tag, label.strip(), keys, np.asarray(group, dtype=np.int64), np.asarray(ids, dtype=np.int64),
                        np.asarray(xy, dtype=np.float64).reshape(-1, 2))


def _parse_v1(attrs: str, label: str) -> ParsedPoints:
    xs: dict[str, float] = {}
    ys: dict[str, float] = {}
    for axis, idx, val in _V1_XY.findall(attrs):
        v = _to_float(val)
        if v is not None:
            (xs if axis == "x" else ys)[idx] = v
    keys = sorted(set(xs) & set(ys), key=lambda k: int(k) if k else 0)
    xy = np.asarray([(xs[k], ys[k]) for k in keys], dtype=np.float64).reshape(-1, 2)
    alt = _ALT.search(attrs)
    lab = label.strip() or (alt.group(1) if alt else "")
    n = len(xy)
    return ParsedPoints("v1", lab, [1.0], np.zeros(n, dtype=np.int64), np.arange(1, n + 1, dtype=np.int64), xy,
                        units=100.0, alt_text=alt.group(1) if alt else None)


def parse_point_tags(text: str) -> list[ParsedPoints]:
    """Every points/tracks tag in ``text`` (html-v1/v2 and Molmo v1), in order of appearance."""
    found: list[tuple[int, ParsedPoints]] = []
    for m in _HTML_TAG.finditer(text):
        coords = m.group(3)
        if not m.group(4):  # truncated inside the coordinates: the last number may be cut
            coords = coords.rsplit(" ", 1)[0] if " " in coords else ""
        parsed = _parse_coords(coords, m.group(1), m.group(5))
        parsed.alt_text = m.group(2)
        found.append((m.start(), parsed))
    for m in _TAB_TAG.finditer(text):
        parsed = _parse_coords(m.group(3), "points", m.group(1))
        parsed.alt_text = None if m.group(2) in ("", "-") else m.group(2)
        found.append((m.start(), parsed))
    for m in _V1_ONE.finditer(text):
        found.append((m.start(), _parse_v1(m.group(1), m.group(2))))
    for m in _V1_MANY.finditer(text):
        found.append((m.start(), _parse_v1(m.group(1), m.group(2))))
    return [p for _, p in sorted(found, key=lambda t: t[0])]


def parse_points(text: str, scale: Sequence[float] = (1.0, 1.0)) -> np.ndarray:
    """All points of all tags, (N, 2) in ``scale`` units (``(w, h)`` for pixels, (100, 100) percent)."""
    tags = [p for p in parse_point_tags(text) if p.tag != "tracks"]
    if not tags:
        return np.zeros((0, 2), dtype=np.float64)
    return np.concatenate([p.points(scale) for p in tags])


@dataclass
class ParsedVideoPoints:
    timestamps: np.ndarray  # (T,) seconds of the printed frames
    points: np.ndarray  # (N, 2) in the requested scale
    frame_index: np.ndarray  # (N,) into timestamps


def parse_video_points(text: str, scale: Sequence[float] = (100.0, 100.0)) -> ParsedVideoPoints:
    tags = [p for p in parse_point_tags(text) if p.tag == "points"]
    if not tags:
        return ParsedVideoPoints(np.zeros(0), np.zeros((0, 2)), np.zeros(0, dtype=np.int64))
    p = tags[0]
    return ParsedVideoPoints(p.timestamps, p.points(scale), p.group.copy())


@dataclass
class ParsedTracks:
    timestamps: np.ndarray  # (T,) seconds of the printed frames
    points: np.ndarray  # (N, 2) in the requested scale
    frame_index: np.ndarray  # (N,) into timestamps
    track_ids: np.ndarray  # (N,) 1-based track ids as printed


def parse_tracks(text: str, scale: Sequence[float] = (100.0, 100.0)) -> ParsedTracks:
    tags = [p for p in parse_point_tags(text) if p.tag == "tracks"]
    if not tags:
        return ParsedTracks(np.zeros(0), np.zeros((0, 2)), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
    p = tags[0]
    return ParsedTracks(p.timestamps, p.points(scale), p.group.copy(), p.ids.copy())


_COUNT_PATTERNS = (
    re.compile(r"shows a total of\s+(\d+)"),
    re.compile(r"\bThere (?:are|is)\s+(\d+)\b"),
    re.compile(r"^\s*(\d+)\s*\.?\s*$"),
)
_NUMBER_WORDS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split())}


def parse_count(text: str) -> int | None:
    """The count an answer states: 'There are none.' -> 0, '... shows a total of N.', 'There are N ...',
    a bare number or number word; else the number of points printed; else None."""
    if re.search(r"\bThere are none\b", text, re.I):
        return 0
    for pat in _COUNT_PATTERNS:
        m = pat.search(text)
        if m:
            return int(m.group(1))
    word = text.strip().strip(".").lower()
    if word in _NUMBER_WORDS:
        return _NUMBER_WORDS[word]
    tags = parse_point_tags(text)
    if tags:
        return sum(len(t) for t in tags)
    m = re.search(r"\b(\d+)\b", text)
    return int(m.group(1)) if m else None


_CLOCK = re.compile(r"\b(\d{1,2})\s*:\s*(\d{2})(?:\s*:\s*(\d{2}))?")


def parse_clock(text: str) -> tuple[int, int, int | None] | None:
    """(hour, minute, second or None) of the first H:MM[:SS] in the text."""
    m = _CLOCK.search(text)
    if not m:
        return None
    h, mi = int(m.group(1)), int(m.group(2))
    s = int(m.group(3)) if m.group(3) else None
    if mi > 59 or (s is not None and s > 59):
        return None
    return h, mi, s


def parse_choice(text: str, options: Sequence[str]) -> int | None:
    """Index of the chosen option: a leading letter ('B', 'B.', '(B)'), else an option's text."""
    t = text.strip()
    m = re.match(r"^\(?([A-Z])(?:[.):]|\s|$)", t)
    if m:
        idx = string.ascii_uppercase.index(m.group(1))
        if idx < len(options):
            return idx
    low = t.lower().rstrip(".")
    for i, opt in enumerate(options):
        if low == opt.strip().lower().rstrip("."):
            return i
    hits = [i for i, opt in enumerate(options) if opt.strip() and opt.strip().lower() in low]
    if len(hits) == 1:
        return hits[0]
    return None


_HMS = re.compile(r"^\s*(\d+):(\d{1,2}):(\d{1,2}(?:\.\d+)?)\s*$")


def parse_timestamp(text: str) -> float | None:
    """Seconds from '63.5' or '00:01:03.5'."""
    m = _HMS.match(text)
    if m:
        return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))
    return _to_float(text.strip())
