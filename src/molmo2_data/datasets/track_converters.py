"""Converters from the raw annotation formats of the academic tracking sources to point tracks.

The Ai2 mirrors (:mod:`~molmo2_data.datasets.academic_tracking`) already hold converted point tracks;
these convert raw downloads of the sources (an unmirrored set or release, or a check of a mirror)
into the same :class:`~molmo2_data.annotations.Track`:

* masks (YouTube-VIS, BURST, LV-VIS, MeViS, Ref-YouTube-VOS; COCO RLE) -> the innermost point;
* single-object boxes (LaSOT, GOT-10k, TrackingNet ``groundtruth.txt``) -> box centres;
* MOTChallenge text (MOT17, MOT20, DanceTrack, SportsMOT ``gt.txt``) -> box centres per identity.

An absent object has no point on that frame and gaps are never interpolated: points are only where
the source puts the object. Malformed input raises :class:`~molmo2_data.errors.SchemaError` naming
the line (text) or the field (RLE).
"""

from __future__ import annotations

import math
import os
from collections.abc import Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from molmo2_data.annotations import Track
from molmo2_data.errors import SchemaError

Source = str | bytes | os.PathLike[str]
"""A text file: a path-like, a one-line string naming an existing file, or the file's content."""
MaskLike = np.ndarray | Mapping[str, Any] | None
"""One object's mask on one frame: a 2-D array (non-zero = object), a COCO RLE mapping, or None."""

MIN_VISIBILITY = 0.25
"""MOT rows with a smaller visible fraction of the box are occluded: below a quarter the box centre
mostly lies on the occluder rather than on the person."""

# --- Masks -> points


def _as_mask(mask: Any) -> np.ndarray:
    m = np.asarray(mask)
    if m.ndim != 2:
        raise SchemaError(f"a mask must be 2-D (height, width), got shape {m.shape}")
    return m if m.dtype == bool else m != 0


def _envelope_min(f: np.ndarray) -> np.ndarray:
    """Per row, ``min over c' of (c - c')**2 + f[:, c']`` for int64 ``f`` (H, n): the lower envelope of
    parabolas (Felzenszwalb & Huttenlocher 2012) for all rows at once, a Python loop over the n columns
    of vector steps over the H rows. The intersections are float64 ratios of integers < ~1e7 with
    denominators <= 2n, so their comparisons are exact at image sizes; the result is integer."""
    h, n = f.shape
    rows = np.arange(h)
    key = f + np.arange(n, dtype=np.int64) ** 2  # f(c') + c'^2: the parabolas' intersection numerators
    v = np.zeros((h, n), dtype=np.int64)  # apex column of each envelope parabola
    z = np.full((h, n + 1), np.inf)  # where each one starts to be the lowest
    z[:, 0] = -np.inf
    k = np.zeros(h, dtype=np.int64)  # index of the last parabola, per row
    for q in range(1, n):
        while True:
            vk = v[rows, k]
            s = (key[:, q] - key[rows, vk]) / (2.0 * (q - vk))
            pop = s <= z[rows, k]  # parabola q hides the last one from where that one started
            if not pop.any():
                break
            k -= pop
        k += 1
        v[rows, k], z[rows, k], z[rows, k + 1] = q, s, np.inf
    out = np.empty((h, n), dtype=np.int64)
    k[:] = 0
    for q in range(n):
        while (adv := z[rows, k + 1] < q).any():
            k += adv
        vk = v[rows, k]
        out[:, q] = (q - vk) ** 2 + f[rows, vk]
    return out


def distance_transform_sq(mask: np.ndarray) -> np.ndarray:
    """Squared Euclidean distance (int64 (H, W), 0 outside the mask) from each mask pixel's centre to
    the nearest centre of a pixel outside the mask, the image being surrounded by outside pixels: an
    object cut by the frame edge goes on beyond it, so its innermost visible point should keep away
    from that edge too. Equals ``scipy.ndimage.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]**2``
    (scipy is only a test dependency).

    Exact, two passes: per column the distance to the nearest outside pixel above or below (cumulative
    max / min), then per row :func:`_envelope_min`, transposed so the Python loop runs over the shorter
    side. Cost O(H*W) in 2*min(H, W) vector steps: ~0.2 s for a full 1280x720 mask."""
    m = _as_mask(mask)
    if m.shape[1] > m.shape[0]:
        return distance_transform_sq(m.T).T
    h, w = m.shape
    if m.size == 0:
        return np.zeros((h, w), dtype=np.int64)
    r = np.arange(h)[:, None]
    above = np.maximum.accumulate(np.where(m, -1, r), axis=0)  # last outside row at or above; -1: border
    below = np.minimum.accumulate(np.where(m, h, r)[::-1], axis=0)[::-1]  # first at or below; h: border
    g = np.minimum(r - above, below - r).astype(np.int64)
    f = np.zeros((h, w + 2), dtype=np.int64)  # columns -1 and w: the border, outside on every row
    f[:, 1:-1] = g * g
    return _envelope_min(f)[:, 1:-1]


def mask_point(mask: np.ndarray) -> tuple[float, float] | None:
    """The mask pixel farthest from the mask's boundary (:func:`distance_transform_sq`, the image border
    counting as boundary) as pixel-centre coordinates ``(col + 0.5, row + 0.5)``; None for an empty
    mask (the object is not visible). Unlike the centroid it lies on the object even for thin, concave
    or ring-shaped masks. Ties go to the smallest (row, col), so the result is deterministic.

    Only the bounding box is transformed: the ring around it is all outside pixels (or the border)
    and is nearer to every pixel inside than anything beyond it, so this is exact."""
    m = _as_mask(mask)
    rows, cols = np.flatnonzero(m.any(axis=1)), np.flatnonzero(m.any(axis=0))
    if not rows.size:
        return None
    r0, c0 = int(rows[0]), int(cols[0])
    d = distance_transform_sq(m[r0:rows[-1] + 1, c0:cols[-1] + 1])
    y, x = divmod(int(np.argmax(d)), d.shape[1])
    return (c0 + x + 0.5, r0 + y + 0.5)


def _rle_string_counts(s: str) -> list[int]:
    """The run lengths of a compressed COCO RLE string: 5-bit groups, low first, as characters offset
    by 48; bit 0x20 = another group follows, bit 0x10 of the last = sign; from the fourth number on,
    each is the difference to the number two places before."""
    counts: list[int] = []
    x = shift = 0
    for i, ch in enumerate(s):
        c = ord(ch) - 48
        if not 0 <= c < 64:
            raise SchemaError(f"RLE counts: character {ch!r} at position {i} is not a COCO RLE character")
        x |= (c & 0x1F) << shift
        shift += 5
        if c & 0x20:
            continue
        if c & 0x10:
            x -= 1 << shift  # sign extension: the bits above the last group are all ones
        counts.append(x + (counts[-2] if len(counts) > 2 else 0))
        x = shift = 0
    if shift:
        raise SchemaError("RLE counts: the string ends inside a number")
    return counts


def rle_to_mask(rle: Mapping[str, Any], size: tuple[int, int] | None = None) -> np.ndarray:
    """The bool (height, width) mask of a COCO run-length encoding: ``size`` ``[height, width]`` and
    ``counts``, run lengths alternating background / object (background first, possibly 0) over the
    pixels in column-major order, as the uncompressed list of YouTube-VIS 2019 or the compressed string
    of BURST, LV-VIS and later YouTube-VIS. BURST keeps the string under ``"rle"`` and the image size
    apart: pass it as ``size``. Runs not covering the image exactly mean a corrupt or mismatched mask."""
    counts = rle.get("counts", rle.get("rle"))
    hw = rle.get("size", size)
    try:
        h, w = (int(v) for v in hw)  # type: ignore[union-attr]
    except (TypeError, ValueError) as e:
        raise SchemaError(f"RLE size must be [height, width], got {hw!r}") from e
    if h <= 0 or w <= 0:
        raise SchemaError(f"RLE size must be positive, got {hw!r}")
    if isinstance(counts, bytes):
        counts = counts.decode("ascii", errors="replace")
    if isinstance(counts, str):
        runs = np.asarray(_rle_string_counts(counts), dtype=np.int64)
    else:
        raw = np.asarray(counts if counts is not None else [], dtype=object).reshape(-1)
        if not all(isinstance(c, int | np.integer) and not isinstance(c, bool) for c in raw):
            raise SchemaError("RLE counts must be a string or a list of integers")
        runs = raw.astype(np.int64)
    if (runs < 0).any():
        raise SchemaError(f"RLE counts: negative run {int(runs.min())}")
    if int(runs.sum()) != h * w:
        raise SchemaError(f"RLE counts sum to {int(runs.sum())}, not {h} x {w} = {h * w} pixels")
    values = np.arange(len(runs)) % 2 == 1
    return np.ascontiguousarray(np.repeat(values, runs).reshape((w, h)).T)


def masks_to_track(frames: Sequence[Mapping[Hashable, MaskLike]], times: Sequence[float] | np.ndarray | None,
                   label: str, fps: float, *, scale: tuple[float, float] | None = None,
                   style: str = "video_point_track_per_frame", question: str | None = None) -> Track:
    """The Track of per-frame masks: ``frames[t]`` maps object keys to their mask on frame t (array,
    COCO RLE mapping or None) at ``times[t]`` seconds (default ``t / fps``). Every frame is listed; a
    non-empty mask gives its :func:`mask_point`, an empty or missing one no point (not visible).
    Object ids are 0..K-1 by first appearance (first frame with a non-empty mask, then mapping order).
    ``scale`` defaults to the masks' (width, height); all masks must have that size."""
    times_arr = _times(times, len(frames), fps)
    oid: dict[Hashable, int] = {}
    pts, fidx, oids = [], [], []
    shape = None if scale is None else (int(scale[1]), int(scale[0]))
    for t, objects in enumerate(frames):
        for key, value in objects.items():
            if value is None:
                continue
            m = _as_mask(rle_to_mask(value, shape) if isinstance(value, Mapping) else value)
            if shape is None:
                shape = m.shape
            elif m.shape != shape:
                raise SchemaError(f"frame {t}, object {key!r}: mask of shape {m.shape}, expected {shape}")
            p = mask_point(m)
            if p is not None:
                pts.append(p)
                fidx.append(t)
                oids.append(oid.setdefault(key, len(oid)))
    if scale is None:
        if shape is None:
            raise SchemaError("no mask to take the frame size from: pass scale=(width, height)")
        scale = (float(shape[1]), float(shape[0]))
    return _track(times_arr, pts, fidx, oids, [False] * len(pts), label, fps, scale, style, question)


# --- Shared: text files, Track assembly


def _read_text(source: Source) -> tuple[str, str]:
    """(text, name for messages): a path-like or a one-line string naming an existing file is read;
    any other string (or bytes) is the content."""
    if isinstance(source, bytes):
        return source.decode("utf-8-sig", errors="replace"), "<text>"
    if isinstance(source, os.PathLike) or ("\n" not in source and os.path.isfile(source)):
        path = os.fspath(source)
        try:
            with open(path, encoding="utf-8-sig") as fh:
                return fh.read(), path
        except (OSError, UnicodeDecodeError) as e:
            raise SchemaError(f"{path}: cannot read ({e})") from e
    return source, "<text>"


def _numbers(line: str, name: str, lineno: int) -> list[float]:
    """The numbers of one line, separated by commas or else by tabs / spaces; NaN passes (some formats
    mean "absent" by it), empty fields, non-numbers and infinities do not."""
    fields = [f.strip() for f in (line.split(",") if "," in line else line.split())]
    try:
        out = [float(f) for f in fields]
    except ValueError:
        raise SchemaError(f"{name} line {lineno}: not a list of numbers: {line.strip()!r}") from None
    if any(math.isinf(v) for v in out):
        raise SchemaError(f"{name} line {lineno}: infinite value: {line.strip()!r}")
    return out


def _times(times: Sequence[float] | np.ndarray | None, n: int, fps: float) -> np.ndarray:
    if not (isinstance(fps, int | float | np.number) and math.isfinite(fps) and fps > 0):
        raise SchemaError(f"fps must be a positive number, got {fps!r}")
    if times is None:
        return np.arange(n) / fps
    arr = np.asarray(times, dtype=np.float64).reshape(-1)
    if len(arr) != n:
        raise SchemaError(f"{len(arr)} times for {n} frames")
    return arr


def _track(times: np.ndarray, pts: npt.ArrayLike, fidx: npt.ArrayLike, oids: npt.ArrayLike, occ: npt.ArrayLike,
           label: str, fps: float, scale: tuple[float, float], style: str, question: str | None) -> Track:
    """The Track with points sorted by (frame, object)."""
    f, o = np.asarray(fidx, dtype=np.int64), np.asarray(oids, dtype=np.int64)
    order = np.lexsort((o, f))
    return Track(label=label, timestamps=times, points=np.asarray(pts, dtype=np.float64).reshape(-1, 2)[order],
                 frame_index=f[order], object_ids=o[order], occluded=np.asarray(occ, dtype=bool)[order],
                 scale=(float(scale[0]), float(scale[1])), fps=float(fps), style=style, question=question)


def _inside(x: np.ndarray, y: np.ndarray, scale: tuple[float, float]) -> np.ndarray:
    """Centres on the image (a centre off the frame is not a visible position of the object)."""
    return (x >= 0) & (x <= scale[0]) & (y >= 0) & (y <= scale[1])


# --- Boxes -> points (single-object tracking benchmarks)


def box_point(x: float, y: float, w: float, h: float) -> tuple[float, float] | None:
    """The centre ``(x + w/2, y + h/2)`` of an x, y, w, h box, or None when the box marks the object as
    absent: w <= 0 or h <= 0 (LaSOT's and GOT-10k's 0,0,0,0) or NaN (UAV123-style)."""
    if not all(math.isfinite(v) for v in (x, y, w, h)) or w <= 0 or h <= 0:
        return None
    return (x + w / 2, y + h / 2)


def read_box_file(source: Source) -> np.ndarray:
    """The (T, 4) x, y, w, h boxes of a ``groundtruth.txt``, one line per frame, comma (LaSOT, GOT-10k,
    TrackingNet), tab or space separated; NaN kept (absent). Trailing blank lines are ignored; any other
    malformed line, an inner blank one included (it would shift the frames), is a SchemaError."""
    text, name = _read_text(source)
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    out = np.empty((len(lines), 4), dtype=np.float64)
    for i, line in enumerate(lines, 1):
        if not line.strip():
            raise SchemaError(f"{name} line {i}: empty line among the boxes")
        vals = _numbers(line, name, i)
        if len(vals) != 4:
            raise SchemaError(f"{name} line {i}: expected 4 numbers x,y,w,h, got {len(vals)}: "
                              f"{line.strip()!r}")
        out[i - 1] = vals
    return out


def read_flag_file(source: Source) -> np.ndarray:
    """Per-frame 0/1 flags as bools, in the layout of a LaSOT ``full_occlusion.txt`` /
    ``out_of_view.txt`` (one comma-separated row) or a GOT-10k ``absence.label`` (one per line)."""
    text, name = _read_text(source)
    flags: list[bool] = []
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        vals = _numbers(line, name, i)
        if any(v not in (0.0, 1.0) for v in vals):
            raise SchemaError(f"{name} line {i}: flags must be 0 or 1: {line.strip()!r}")
        flags += [v == 1.0 for v in vals]
    return np.asarray(flags, dtype=bool)


def _flags(value: np.ndarray | Sequence[Any] | None, n: int, what: str) -> np.ndarray:
    if value is None:
        return np.zeros(n, dtype=bool)
    arr = np.asarray(value).reshape(-1)
    if len(arr) != n:
        raise SchemaError(f"{len(arr)} {what} flags for {n} boxes")
    return arr.astype(bool)


def boxes_to_track(boxes: np.ndarray, times: Sequence[float] | np.ndarray | None, label: str, fps: float,
                   absent: np.ndarray | Sequence[Any] | None = None, occluded: np.ndarray | Sequence[Any] | None = None,
                   *, scale: tuple[float, float], style: str = "video_single_point_track_per_frame",
                   question: str | None = None) -> Track:
    """The single-object Track (object 0) of (T, 4) x, y, w, h boxes, every frame listed at ``times``
    (default ``t / fps``). A frame gives the box centre unless the box is absent (:func:`box_point`),
    ``absent[t]`` is set or the centre is off the ``scale`` = (width, height) image; ``occluded[t]``
    flags the point. LaSOT: ``absent`` = out_of_view, ``occluded`` = full_occlusion (those frames mostly
    carry 0,0,0,0 anyway); GOT-10k: ``absent`` = absence.label."""
    b = np.asarray(boxes, dtype=np.float64)
    if b.ndim != 2 or b.shape[1] != 4:
        raise SchemaError(f"boxes must have shape (T, 4), got {b.shape}")
    gone, occ = _flags(absent, len(b), "absent"), _flags(occluded, len(b), "occluded")
    pts = [None if gone[t] else box_point(*b[t]) for t in range(len(b))]
    fidx = [t for t, p in enumerate(pts) if p is not None and _inside(np.float64(p[0]), np.float64(p[1]), scale)]
    return _track(_times(times, len(b), fps), [pts[t] for t in fidx], fidx, [0] * len(fidx), occ[fidx], label, fps,
                  scale, style, question)


# --- MOTChallenge text -> multi-object tracks


@dataclass(frozen=True)
class MotRows:
    """The rows of a MOTChallenge text file, in file order. ``cls`` is -1 and ``visibility`` is NaN
    where the file does not give them. ``line`` holds the 1-based line numbers, for messages."""

    frame: np.ndarray  # (N,) int64, 1-based
    track_id: np.ndarray  # (N,) int64
    boxes: np.ndarray  # (N, 4) float64 x, y, w, h
    conf: np.ndarray  # (N,) float64; 0 = "not to be considered"
    cls: np.ndarray  # (N,) int64
    visibility: np.ndarray  # (N,) float64 in [0, 1], or NaN
    line: np.ndarray  # (N,) int64


def read_mot_file(source: Source) -> MotRows:
    """The rows of a MOTChallenge ``gt.txt``: ``frame, id, x, y, w, h[, conf/flag[, class[, visibility]]]``.

    Sets differ in trailing columns: MOT17/MOT20 give nine, DanceTrack/SportsMOT nine with constant
    values; six or seven mean conf 1 and unknown class / visibility; ten or more are MOT15's layout,
    whose columns 8-10 are world coordinates (-1), so class and visibility stay unknown (as does a
    negative visibility). Blank lines are skipped. A malformed line, a frame not an integer >= 1, an id
    not an integer >= 0, or a second row for a (frame, id) is a SchemaError naming the line."""
    text, name = _read_text(source)
    rows: list[tuple[int, int, float, float, float, float, float, int, float, int]] = []
    seen: dict[tuple[int, int], int] = {}
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        v = _numbers(line, name, i)
        if len(v) < 6:
            raise SchemaError(f"{name} line {i}: expected at least 6 columns frame,id,x,y,w,h, got {len(v)}")
        if any(math.isnan(x) for x in v[:9]):
            raise SchemaError(f"{name} line {i}: NaN value: {line.strip()!r}")
        if not (v[0].is_integer() and v[0] >= 1 and v[1].is_integer() and v[1] >= 0):
            raise SchemaError(f"{name} line {i}: frame must be an integer >= 1 and id an integer >= 0: "
                              f"{line.strip()!r}")
        frame, tid = int(v[0]), int(v[1])
        if (frame, tid) in seen:
            raise SchemaError(f"{name} line {i}: second row for frame {frame}, id {tid} "
                              f"(first on line {seen[frame, tid]})")
        seen[frame, tid] = i
        nine = len(v) < 10
        cls = int(v[7]) if nine and len(v) >= 8 and v[7].is_integer() else -1
        vis = v[8] if nine and len(v) >= 9 and v[8] >= 0 else math.nan
        rows.append((frame, tid, v[2], v[3], v[4], v[5], v[6] if len(v) >= 7 else 1.0, cls, vis, i))
    cols = list(zip(*rows, strict=True)) if rows else [()] * 10
    return MotRows(frame=np.asarray(cols[0], dtype=np.int64), track_id=np.asarray(cols[1], dtype=np.int64),
                   boxes=np.asarray(cols[2:6], dtype=np.float64).T.reshape(-1, 4),
                   conf=np.asarray(cols[6], dtype=np.float64), cls=np.asarray(cols[7], dtype=np.int64),
                   visibility=np.asarray(cols[8], dtype=np.float64), line=np.asarray(cols[9], dtype=np.int64))


def mot_to_track(source: MotRows | Source, label: str, fps: float, *, scale: tuple[float, float],
                 num_frames: int | None = None, classes: Collection[int] | None = None,
                 min_visibility: float = MIN_VISIBILITY, style: str = "video_point_track_per_frame",
                 question: str | None = None) -> Track:
    """The multi-object Track of a MOTChallenge file; points are box centres.

    * Frames: the ground truth is dense, so frames 1..F are all listed at ``(frame - 1) / fps``, F being
      ``num_frames`` (seqinfo.ini ``seqLength``) or the last frame in the file.
    * Left out: flag/conf 0 rows ("not to be considered"), classes not in ``classes`` (``{1}``: MOT17/20
      pedestrians; None keeps all), boxes with w or h <= 0, centres off the image.
    * A frame without a row for an id is a gap: no point, no interpolation.
    * Visibility below ``min_visibility`` (:data:`MIN_VISIBILITY`) marks the point occluded.
    * Object ids are 0..K-1 by first appearance (frame, then source id). An id after a gap keeps its
      object; a new source id is a new object even where it continues an ended one (an id switch)."""
    rows = source if isinstance(source, MotRows) else read_mot_file(source)
    last = int(rows.frame.max()) if len(rows.frame) else 0
    if num_frames is not None:
        if last > num_frames:
            raise SchemaError(f"line {int(rows.line[np.argmax(rows.frame)])}: frame {last} beyond the "
                              f"{num_frames} frames of the sequence")
        last = int(num_frames)
    times = _times(None, last, fps)
    x, y, w, h = rows.boxes.T
    cx, cy = x + w / 2, y + h / 2
    keep = (rows.conf != 0) & (w > 0) & (h > 0) & _inside(cx, cy, scale)
    if classes is not None:
        keep &= np.isin(rows.cls, np.asarray(sorted(classes), dtype=np.int64))
    sel = np.lexsort((rows.track_id, rows.frame))
    sel = sel[keep[sel]]
    ids = rows.track_id[sel]
    uniq, first = np.unique(ids, return_index=True)
    rank = np.empty(len(uniq), dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(uniq))
    oids = rank[np.searchsorted(uniq, ids)]
    occ = rows.visibility[sel] < min_visibility  # NaN (unknown) compares False: visible
    return _track(times, np.stack([cx[sel], cy[sel]], axis=1), rows.frame[sel] - 1, oids, occ, label, fps, scale,
                  style, question)
