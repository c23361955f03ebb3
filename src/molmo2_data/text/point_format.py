"""Points, counts and tracks as text (FORMATS.md §2): Molmo2 html-v2 / html-v1 and Molmo v1.

All functions take numbers (float arrays + a scale) and return the exact strings the official
``UnifiedPointFormatter`` (and Molmo v1 ``points_to_text``) print.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from molmo2_data.errors import ConfigError

PointFormat = Literal["html-v2", "html-v1", "molmo-v1"]
POINT_FORMATS: tuple[str, ...] = ("html-v2", "html-v1", "molmo-v1")
NONE_ANSWER = "There are none."
NO_TRACKS_ANSWER = "No tracks available."
Clamp = Literal["both", "official"]


def frame_separator(fmt: str) -> str:
    """html-v1 separates frames/images with a tab, html-v2 with ';' (their only difference)."""
    if fmt == "html-v2":
        return ";"
    if fmt == "html-v1":
        return "\t"
    raise ConfigError(f"point format {fmt!r} has no frame separator (html-v1/html-v2 only)")


def scale_points(points: np.ndarray, scale: Sequence[float], clamp: Clamp = "both") -> np.ndarray:
    """(N, 2) float points -> (N, 2) int64 in [0, 1000]: ``round(1000 * x / scale_x)`` half-to-even.

    ``clamp="both"`` clips x and y to [0, 1] first. ``clamp="official"`` reproduces quirk §7.4: the
    official ``_scale_point`` clips only when x is out of range while y is in range, so an
    out-of-range y is printed as is (negative or > 1000).
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    norm = pts / np.asarray(scale, dtype=np.float64).reshape(1, 2)
    if clamp == "both":
        norm = np.clip(norm, 0.0, 1.0)
    elif clamp == "official":
        x_out = (norm[:, 0] < 0) | (norm[:, 0] > 1)
        y_in = (norm[:, 1] >= 0) & (norm[:, 1] <= 1)
        fix = x_out & y_in
        norm[fix] = np.clip(norm[fix], 0.0, 1.0)
    else:
        raise ConfigError(f"unknown clamp mode {clamp!r}")
    return np.rint(norm * 1000.0).astype(np.int64)


def sort_points(xy: np.ndarray) -> np.ndarray:
    """Indices ordering integer points by the (x, y) tuple."""
    return np.lexsort((xy[:, 1], xy[:, 0])) if len(xy) else np.zeros(0, dtype=np.int64)


_COORDS = [f"{v:03d}" for v in range(1001)]


def _coord(v: int) -> str:
    return _COORDS[v] if 0 <= v <= 1000 else f"{v:03d}"


def _rows(ids: list[int], xy: np.ndarray) -> list[str]:
    """``'id x y'`` strings (the hot loop of every points answer)."""
    c = _COORDS
    out = []
    for i, (x, y) in zip(ids, xy.tolist(), strict=True):
        if 0 <= x <= 1000 and 0 <= y <= 1000:
            out.append(f"{i} {c[x]} {c[y]}")
        else:
            out.append(f"{i} {_coord(x)} {_coord(y)}")
    return out


def points_string(xy: np.ndarray, first_id: int = 1) -> str:
    """``'id x y'`` for integer points already in order, ids from ``first_id``."""
    return " ".join(_rows(list(range(first_id, first_id + len(xy))), xy))


def time_string(t: float) -> str:
    """Seconds as the official ``str(round(t, 1))``, which keeps the source's type: an integer
    timestamp prints as ``10``, a float one as ``10.0``."""
    if isinstance(t, int | np.integer) and not isinstance(t, bool):
        return str(int(t))
    return str(round(float(t), 1))


def html_tag(coords: str, label: str, tag: str = "points", alt_text: str | None = None) -> str:
    """html-v1/v2 (the same in both): ``<points coords="…">label</points>``; with alternative text
    ``<points alt="…" coords="…">label</points>`` (``alt`` first, printed whenever it is not None, even
    when it equals the label; nothing is escaped). An empty ``coords`` gives ``''`` (nothing to show)."""
    if not coords:
        return ""
    alt = "" if alt_text is None else f' alt="{alt_text}"'
    return f'<{tag}{alt} coords="{coords}">{label}</{tag}>'


def tab_sep_tag(coords: str, label: str, alt_text: str | None = None, replace_tabs: bool = False) -> str:
    """The tab-separated tag of the official ``tab_sep`` string format (points and tracks alike):
    ``<points {label}\t{alt}\t{coords}/>``, ``alt`` = ``-`` when it is None or equals the label.
    ``replace_tabs``: the legacy compact formats first turn tabs inside the label and alt into spaces
    (the label before the comparison). An empty ``coords`` gives ``''``."""
    if not coords:
        return ""
    if replace_tabs:
        label = label.replace("\t", " ")
    alt = "-" if alt_text is None or alt_text == label else alt_text
    if replace_tabs:
        alt = alt.replace("\t", " ")
    return f"<points {label}\t{alt}\t{coords}/>"


def image_coords(points: np.ndarray, scale: Sequence[float], clamp: Clamp = "both") -> str:
    """Single image: ``'1 ' + 'id x y ...'`` (leading image index 1)."""
    xy = scale_points(points, scale, clamp)
    return "1 " + points_string(xy[sort_points(xy)])


def grouped_coords(keys: Sequence[str], groups: Sequence[np.ndarray], sep: str) -> str:
    """Frames or images: ``'{key} {points}'`` joined by ``sep``; point ids continue across groups.
    ``groups`` hold integer points (unsorted)."""
    sizes = [len(g) for g in groups]
    if not sum(sizes):
        return sep.join(f"{k} " for k in keys)
    xy = np.concatenate([np.asarray(g, dtype=np.int64).reshape(-1, 2) for g in groups])
    gid = np.repeat(np.arange(len(groups)), sizes)
    xy = xy[np.lexsort((xy[:, 1], xy[:, 0], gid))]
    rows = _rows(list(range(1, len(xy) + 1)), xy)
    parts, start = [], 0
    for key, n in zip(keys, sizes, strict=True):
        parts.append(f"{key} " + " ".join(rows[start:start + n]))
        start += n
    return sep.join(parts)


def video_coords(timestamps: np.ndarray, points: np.ndarray, frame_index: np.ndarray,
                 scale: Sequence[float], fmt: str, clamp: Clamp = "both") -> str:
    """Video points: every listed frame as ``'{t} {points}'`` (an empty frame prints ``'{t} '``)."""
    xy = scale_points(points, scale, clamp)
    fi = np.asarray(frame_index, dtype=np.int64)
    order = np.argsort(fi, kind="stable")
    groups = np.split(xy[order], np.cumsum(np.bincount(fi, minlength=len(timestamps)))[:-1])
    return grouped_coords([time_string(t) for t in timestamps], groups, frame_separator(fmt))


def multi_image_coords(points: np.ndarray, image_index: np.ndarray, scales: Sequence[Sequence[float]],
                       fmt: str, clamp: Clamp = "both") -> str:
    """Multi-image points: ``'{i} {points}'`` for each image (1-based) that has points."""
    ii = np.asarray(image_index, dtype=np.int64)
    keys, groups = [], []
    for img in np.unique(ii).tolist():
        sel = ii == img
        scale = scales[img] if len(scales) > img else scales[-1]
        keys.append(str(img + 1))
        groups.append(scale_points(np.asarray(points)[sel], scale, clamp))
    return grouped_coords(keys, groups, frame_separator(fmt))


def molmo_v1_points(points: np.ndarray, scale: Sequence[float], label: str, alt_text: str | None = None
                    ) -> str:
    """Molmo v1 ``points_to_text``: percent coordinates rounded to 1 decimal, sorted by (x, y).
    ``alt`` is ``alt_text`` when given (Molmo v1 passes the annotation's alt text for inline points),
    else the label (Molmo v1 passes the label twice for pointing)."""
    alt = label if alt_text is None else alt_text
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2) * (100.0 / np.asarray(scale, dtype=np.float64))
    rounded = sorted((round(float(x), 1), round(float(y), 1)) for x, y in pts)
    if len(rounded) == 1:
        x, y = rounded[0]
        return f'<point x="{x}" y="{y}" alt="{alt}">{label}</point>'
    attrs = " ".join(f'x{i}="{x}" y{i}="{y}"' for i, (x, y) in enumerate(rounded, start=1))
    return f'<points {attrs} alt="{alt}">{label}</points>'


def point_answer(tag: str | None, count: int, mode: str | None) -> str:
    """Official ``build_point_output``: wrap a points tag according to the answer mode."""
    if count == 0:
        return NONE_ANSWER
    if mode in ("point_then_count", "point_count"):
        return f"Counting the {tag} shows a total of {count}."
    if mode in ("count_then_point", "count_point"):
        return f"There are {count} {tag}."
    if mode == "count":
        return str(count)
    if mode in (None, "point", "pointing"):
        if tag is None:
            raise ConfigError("pointing answer needs points")
        return tag
    raise ConfigError(f"unknown point answer mode {mode!r}")


# --------------------------------------------------------------------------------------------
# Tracks
# --------------------------------------------------------------------------------------------


def track_coords(timestamps: np.ndarray, points: np.ndarray, frame_index: np.ndarray, object_ids: np.ndarray,
                 keep: np.ndarray, scale: Sequence[float], fmt: str, clamp: Clamp = "both") -> str:
    """Official ``build_video_track_coordinates``: frames in time order; in each frame points sorted by
    rounded (x, y); object ids mapped to 1-based track ids on first appearance and listed by track
    id. ``keep`` selects the points to print (visible, sampled frames); empty frames are omitted."""
    sel = np.flatnonzero(keep)
    if not len(sel):
        return ""
    raw = timestamps.tolist() if isinstance(timestamps, np.ndarray) else list(timestamps)  # printed as stored
    ts = np.asarray(raw, dtype=np.float64)
    rank = np.empty(len(ts), dtype=np.int64)
    rank[np.argsort(ts, kind="stable")] = np.arange(len(ts))
    xy = scale_points(np.asarray(points)[sel], scale, clamp)
    fr = rank[np.asarray(frame_index, dtype=np.int64)[sel]]
    order = np.lexsort((xy[:, 1], xy[:, 0], fr))  # time, then rounded (x, y)
    xy, fr = xy[order], fr[order]
    track_id: dict[int, int] = {}
    tids = np.asarray([track_id.setdefault(o, len(track_id) + 1)
                       for o in np.asarray(object_ids)[sel][order].tolist()], dtype=np.int64)
    order = np.lexsort((xy[:, 1], xy[:, 0], tids, fr))  # within a frame: by track id
    xy, fr, tids = xy[order], fr[order], tids[order]
    rows = _rows(tids.tolist(), xy)
    bounds = np.flatnonzero(np.diff(fr)) + 1
    starts = [0, *bounds.tolist()]
    ends = [*bounds.tolist(), len(fr)]
    frames = np.argsort(ts, kind="stable")
    parts = [f"{time_string(raw[frames[fr[s]]])} " + " ".join(rows[s:e]) for s, e in zip(starts, ends, strict=True)]
    return frame_separator(fmt).join(parts)


def frames_matching(annotation_times: np.ndarray, frame_times: np.ndarray | None, tol: float = 0.01
                    ) -> np.ndarray:
    """Mask of annotation frames within ``tol`` seconds of a loaded video frame (all when unknown)."""
    ts = np.asarray(annotation_times, dtype=np.float64)
    if frame_times is None:
        return np.ones(len(ts), dtype=bool)
    ft = np.asarray(frame_times, dtype=np.float64)
    if not len(ft):
        return np.zeros(len(ts), dtype=bool)
    return np.abs(ts[:, None] - ft[None, :]).min(axis=1) <= tol


def frames_on_grid(annotation_times: np.ndarray, fps: float, tol: float = 0.01) -> np.ndarray:
    """Mask of annotation frames lying on the ``1/fps`` grid (within ``tol`` seconds)."""
    ts = np.asarray(annotation_times, dtype=np.float64)
    k = np.rint(ts * fps)
    return np.abs(ts - k / fps) <= tol


def ground_start_end(frame_index: np.ndarray, object_ids: np.ndarray, timestamps: np.ndarray) -> np.ndarray:
    """Mask of each object's first and last annotated point (occluded ones count, quirk §7.5)."""
    fi = np.asarray(frame_index, dtype=np.int64)
    oid = np.asarray(object_ids, dtype=np.int64)
    t = np.asarray(timestamps, dtype=np.float64)[fi] if len(fi) else np.zeros(0)
    keep = np.zeros(len(fi), dtype=bool)
    for o in np.unique(oid).tolist():
        idx = np.flatnonzero(oid == o)
        order = idx[np.argsort(t[idx], kind="stable")]
        keep[order[0]] = True
        keep[order[-1]] = True
    return keep
