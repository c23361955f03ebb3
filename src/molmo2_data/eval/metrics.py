"""Scores for every task, with units made explicit.

Points: every function takes points **normalised to [0, 1]** of the image (x / width, y / height; use
:func:`normalise` with an annotation's ``scale``) plus the image size in pixels, and measures distances
in **pixels of that image**. That avoids the official code's mix of 0-100 and pixel coordinates.

Conventions for empty sets (documented in docs/eval.md): precision is 1 when nothing is predicted and
nothing is true, 0 when something is true but nothing predicted; recall mirrors it; F1 is the harmonic
mean (0 when both are 0).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from molmo2_data.eval.assign import linear_sum_assignment
from molmo2_data.eval.textnorm import normalize_vqa_answer

DEFAULT_REL_THRESHOLD = 0.05  # hit radius without masks: 5 % of the image diagonal


def normalise(points: np.ndarray, scale: Sequence[float]) -> np.ndarray:
    """Points in ``scale`` units (e.g. (100, 100) percent, (w, h) pixels) -> [0, 1] units."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return pts / np.asarray(scale, dtype=np.float64).reshape(1, 2)


# --------------------------------------------------------------------------------------------
# Pointing
# --------------------------------------------------------------------------------------------


@dataclass
class PointScore:
    """One-to-one matching result: ``tp`` hits among ``n_pred`` predicted and ``n_true`` true objects."""

    tp: int
    n_pred: int
    n_true: int

    @property
    def precision(self) -> float:
        if self.n_pred == 0:
            return 1.0 if self.n_true == 0 else 0.0
        return self.tp / self.n_pred

    @property
    def recall(self) -> float:
        if self.n_true == 0:
            return 1.0 if self.n_pred == 0 else 0.0
        return self.tp / self.n_true

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 0.0 if p + r == 0 else 2 * p * r / (p + r)

    def __add__(self, other: PointScore) -> PointScore:
        return PointScore(self.tp + other.tp, self.n_pred + other.n_pred, self.n_true + other.n_true)

    def as_dict(self) -> dict[str, float]:
        return {**asdict(self), "precision": self.precision, "recall": self.recall, "f1": self.f1}


def hit_matrix(pred: np.ndarray, true: np.ndarray, size: tuple[int, int], masks: np.ndarray | None = None,
               threshold_px: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(hits (N, K) bool, distance (N, K) pixels) between predicted points and true objects.

    ``pred``/``true`` are [0, 1] units, ``size`` = image (width, height). With ``masks`` (K, H, W) the true
    objects are the masks and a hit is a point inside the mask (looked up at the mask's own resolution);
    the distance is then to the true point when one per mask is given, else to the mask's centroid.
    Without masks a hit is a distance <= ``threshold_px`` (default 5 % of the image diagonal).
    """
    pred = np.asarray(pred, dtype=np.float64).reshape(-1, 2)
    true = np.asarray(true, dtype=np.float64).reshape(-1, 2)
    wh = np.asarray(size, dtype=np.float64).reshape(1, 2)
    if masks is not None:
        masks = np.asarray(masks, dtype=bool)
        k, mh, mw = masks.shape
        if len(true) != k:
            true = _mask_centroids(masks)
        cols = np.clip(np.floor(pred[:, 0] * mw).astype(np.int64), 0, mw - 1)
        rows = np.clip(np.floor(pred[:, 1] * mh).astype(np.int64), 0, mh - 1)
        inside = (pred[:, 0] >= 0) & (pred[:, 0] <= 1) & (pred[:, 1] >= 0) & (pred[:, 1] <= 1)
        hits = masks[:, rows, cols].T & inside[:, None] if len(pred) else np.zeros((0, k), dtype=bool)
    dist = np.linalg.norm((pred * wh)[:, None, :] - (true * wh)[None, :, :], axis=-1).reshape(len(pred), len(true))
    if masks is None:
        if threshold_px is None:
            threshold_px = DEFAULT_REL_THRESHOLD * float(np.hypot(*size))
        hits = dist <= threshold_px
    return hits, dist


def _mask_centroids(masks: np.ndarray) -> np.ndarray:
    out = np.full((len(masks), 2), 0.5)
    for i, m in enumerate(masks):
        ys, xs = np.nonzero(m)
        if len(xs):
            out[i] = ((xs.mean() + 0.5) / m.shape[1], (ys.mean() + 0.5) / m.shape[0])
    return out


def match_points(pred: np.ndarray, true: np.ndarray, size: tuple[int, int], masks: np.ndarray | None = None,
                 threshold_px: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one matching that maximises the number of hits, ties broken by total pixel distance.
    Returns matched (pred index, true index) pairs that are hits."""
    hits, dist = hit_matrix(pred, true, size, masks, threshold_px)
    if hits.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    # A hit is worth more than any total distance: scale distances into (0, 1) per pair / pairs.
    pairs = min(hits.shape)
    tie = dist / (dist.max() + 1.0) / (pairs + 1)
    rows, cols = linear_sum_assignment(np.where(hits, -1.0, 0.0) + tie)
    ok = hits[rows, cols]
    return rows[ok], cols[ok]


def point_score(pred: np.ndarray, true: np.ndarray, size: tuple[int, int], masks: np.ndarray | None = None,
                threshold_px: float | None = None) -> PointScore:
    """Precision/recall/F1 counts of one image. ``pred``/``true`` in [0, 1] units; see :func:`hit_matrix`."""
    pred = np.asarray(pred, dtype=np.float64).reshape(-1, 2)
    n_true = len(masks) if masks is not None else len(np.asarray(true).reshape(-1, 2))
    rows, _ = match_points(pred, true, size, masks, threshold_px)
    return PointScore(len(rows), len(pred), n_true)


# --------------------------------------------------------------------------------------------
# Counting
# --------------------------------------------------------------------------------------------


def count_scores(pred: int | None, true: int) -> dict[str, float]:
    """exact / within_one / valid (a count could be read) / abs_error (None when invalid)."""
    if pred is None:
        return {"exact": 0.0, "within_one": 0.0, "valid": 0.0}
    return {"exact": float(pred == true), "within_one": float(abs(pred - true) <= 1), "valid": 1.0,
            "abs_error": float(abs(pred - true))}


# --------------------------------------------------------------------------------------------
# Short answers
# --------------------------------------------------------------------------------------------


def vqa_score(pred: str, answers: Sequence[str]) -> float:
    """VQA v2 accuracy: mean over each leave-one-out subset of min(1, matches / 3) after the VQA answer
    normalisation. With a single reference answer this is exact match after normalisation."""
    if not answers:
        return 0.0
    p = normalize_vqa_answer(pred)
    gts = [normalize_vqa_answer(a) for a in answers]
    if len(gts) == 1:
        return float(p == gts[0])
    accs = []
    for i in range(len(gts)):
        others = gts[:i] + gts[i + 1:]
        accs.append(min(1.0, sum(g == p for g in others) / 3.0))
    return float(np.mean(accs))


def a_okvqa_score(pred: str, answers: Sequence[str]) -> float:
    """A-OKVQA direct-answer accuracy: min(1, matches / 3) over the annotator answers, compared
    lower-cased and stripped (no VQA normalisation, no leave-one-out), as the A-OKVQA script scores."""
    p = pred.lower().strip()
    return min(sum(a.lower().strip() == p for a in answers) / 3.0, 1.0)


_KEY_INDICATORS = ("could be ", "so ", "is ", "thus ", "therefore ", "final ", "answer ", "result ")
_NUMBER = re.compile(r"-?\b\d{1,3}(?:,\d{3})+\b|-?\d+(?:\.\d+)?[eE][+-]?\d+|-?(?:\d+\.\d+|\.\d+|\d+\b)(?![eE][+-]?\d+)(?![,\d])")


def _mmmu_norm(text: str) -> list[str | float]:
    """MMMU normalisation: a number becomes a float rounded to 2 places; text is lower-cased, and a single
    character is padded with a space on one side (so it never matches inside a word)."""
    t = text.strip()
    try:
        return [round(float(t.replace(",", "")), 2)]
    except ValueError:
        t = t.lower()
        return [" " + t, t + " "] if len(t) == 1 else [t]


def mmmu_open_candidates(response: str) -> list[str | float]:
    """The MMMU rule for an open answer: per line, the shortest tail after an answer indicator ("is ",
    "so ", "therefore ", ...; "=" on the last line), or the whole response when there is none; plus
    every number in those tails; all normalised."""
    lines = re.split(r"\.\s(?=[A-Z])|\n", response.strip().strip(".").lower())
    keys = []
    for i, line in enumerate(lines):
        indicators = _KEY_INDICATORS + (("=",) if i == len(lines) - 1 else ())
        tails = [line.split(ind)[-1].strip() for ind in indicators if ind in line]
        if tails:
            tail = min(tails, key=len)
            if tail not in (":", ",", ".", "!", "?", ";", "'"):
                keys.append(tail)
    if not keys:
        keys = [response.strip().strip(".").lower()]
    found = keys + [n for k in keys for n in _NUMBER.findall(k)]
    return list({v for f in found for v in _mmmu_norm(f)})


def mmmu_open_score(pred: str, answers: Sequence[str]) -> float:
    """MMMU open-question accuracy: a text answer counts when it occurs inside a candidate, a number
    when a candidate equals it (after rounding to 2 places)."""
    gold = [g for a in answers for g in _mmmu_norm(a)]
    for c in mmmu_open_candidates(pred):
        if isinstance(c, str):
            if any(isinstance(g, str) and g in c for g in gold):
                return 1.0
        elif c in gold:
            return 1.0
    return 0.0


def levenshtein(a: str, b: str) -> int:
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def anls(pred: str, answers: Sequence[str], threshold: float = 0.5) -> float:
    """Average Normalised Levenshtein Similarity (DocVQA): best over answers of 1 - NL, 0 if NL >= 0.5.
    Compared lower-cased with surrounding and repeated whitespace removed."""
    p = " ".join(pred.lower().split())
    best = 0.0
    for a in answers:
        g = " ".join(a.lower().split())
        if not p and not g:
            return 1.0
        nl = levenshtein(p, g) / max(len(p), len(g))
        best = max(best, 0.0 if nl >= threshold else 1.0 - nl)
    return best


def _to_number(text: str) -> float | None:
    t = text.strip().rstrip(".").replace(",", "").replace("$", "")
    percent = t.endswith("%")
    t = t.rstrip("%").strip()
    try:
        v = float(t)
    except ValueError:
        return None
    return v / 100.0 if percent else v


def relaxed_correctness(pred: str, answer: str, tolerance: float = 0.05) -> float:
    """ChartQA relaxed accuracy: numbers within ``tolerance`` relative error (exact when the answer is 0;
    '45%' equals 0.45), otherwise case-insensitive exact match."""
    p, g = _to_number(pred), _to_number(answer)
    if p is not None and g is not None:
        if g == 0:
            return float(p == 0)
        return float(abs(p - g) / abs(g) <= tolerance)
    return float(pred.strip().lower().rstrip(".") == answer.strip().lower().rstrip("."))


def exact_match(pred: str, answer: str) -> float:
    return float(" ".join(pred.lower().split()).rstrip(".") == " ".join(answer.lower().split()).rstrip("."))


# --------------------------------------------------------------------------------------------
# Multiple choice and clocks
# --------------------------------------------------------------------------------------------


def choice_scores(pred_index: int | None, answer_index: int) -> dict[str, float]:
    return {"accuracy": float(pred_index == answer_index), "valid": float(pred_index is not None)}


def clock_scores(pred: tuple[int, int, int | None] | None, hour: int, minute: int,
                 second: int | None) -> dict[str, float]:
    """Clock reading on a 12-hour dial: exact (hour, minute and - when the truth has them - seconds),
    hour and minute accuracy, circular minute error (max 360) and within-one-minute."""
    if pred is None:
        return {"exact": 0.0, "hour": 0.0, "minute": 0.0, "within_1min": 0.0, "valid": 0.0}
    ph, pm, ps = pred
    hour_ok = (ph % 12) == (hour % 12)
    minute_ok = pm == minute
    second_ok = second is None or ps == second
    diff = abs(((ph % 12) * 60 + pm) - ((hour % 12) * 60 + minute)) % 720
    err = float(min(diff, 720 - diff))
    return {"exact": float(hour_ok and minute_ok and second_ok), "hour": float(hour_ok),
            "minute": float(minute_ok), "within_1min": float(err <= 1), "valid": 1.0, "minute_error": err}


# --------------------------------------------------------------------------------------------
# Video pointing and tracking
# --------------------------------------------------------------------------------------------


def match_times(pred_t: np.ndarray, true_t: np.ndarray, tolerance: float) -> dict[int, int]:
    """One-to-one map true frame -> predicted frame with |dt| <= tolerance seconds (closest first)."""
    pred_t = np.asarray(pred_t, dtype=np.float64).reshape(-1)
    true_t = np.asarray(true_t, dtype=np.float64).reshape(-1)
    if not len(pred_t) or not len(true_t):
        return {}
    d = np.abs(true_t[:, None] - pred_t[None, :])
    rows, cols = linear_sum_assignment(np.where(d <= tolerance, d, 1e6))
    return {int(r): int(c) for r, c in zip(rows, cols, strict=True) if d[r, c] <= tolerance}


def video_point_score(pred_t: np.ndarray, pred_pts: np.ndarray, pred_frame: np.ndarray, true_t: np.ndarray,
                      true_pts: np.ndarray, true_frame: np.ndarray, size: tuple[int, int],
                      time_tolerance: float = 0.25, threshold_px: float | None = None) -> PointScore:
    """Points matched per timestamp: each true frame is paired with the nearest predicted frame within
    ``time_tolerance`` s; points are matched one-to-one inside paired frames; predicted points on unpaired
    frames are false positives and true points on unpaired frames are misses. Points in [0, 1] units."""
    pairs = match_times(pred_t, true_t, time_tolerance)
    pred_pts = np.asarray(pred_pts, dtype=np.float64).reshape(-1, 2)
    true_pts = np.asarray(true_pts, dtype=np.float64).reshape(-1, 2)
    tp = 0
    for ti, pi in pairs.items():
        rows, _ = match_points(pred_pts[pred_frame == pi], true_pts[true_frame == ti], size, None, threshold_px)
        tp += len(rows)
    return PointScore(tp, len(pred_pts), len(true_pts))


def nearest_mask(frames: Sequence[Mapping[str, Any]], t: float, tolerance: float = 0.25) -> int | None:
    """Index of the mask frame (``{"time", "rle"}``) nearest to ``t`` if within ``tolerance`` s."""
    if not frames:
        return None
    times = np.asarray([f["time"] for f in frames], dtype=np.float64)
    near = int(np.argmin(np.abs(times - t)))
    return near if abs(times[near] - t) <= tolerance else None


def video_point_mask_score(pred_t: np.ndarray, pred_pts: np.ndarray, pred_frame: np.ndarray,
                           objects: Sequence[Sequence[Mapping[str, Any]]], time_tolerance: float = 0.25,
                           ) -> PointScore:
    """Video points against object masks (Molmo2-VideoPointEval): ``objects[k]`` lists object k's masks
    as ``{"time": s, "rle": COCO RLE}``. A predicted point (time t, [0, 1] units) hits object k when
    k's mask nearest to t (within ``time_tolerance`` s) contains it; predictions and objects are then
    matched one to one (most hits), so pointing at one object twice scores once. Masks are decoded
    only when some prediction falls near their time."""
    from molmo2_data.media import rle

    pred_t = np.asarray(pred_t, dtype=np.float64).reshape(-1)
    pred_pts = np.asarray(pred_pts, dtype=np.float64).reshape(-1, 2)
    when = pred_t[np.asarray(pred_frame, dtype=np.int64)] if len(pred_pts) else np.zeros(0)
    hits = np.zeros((len(pred_pts), len(objects)), dtype=bool)
    decoded: dict[tuple[int, int], np.ndarray] = {}
    for k, frames in enumerate(objects):
        for j, (t, (x, y)) in enumerate(zip(when, pred_pts, strict=True)):
            near = nearest_mask(frames, float(t), time_tolerance)
            if near is None or not (0 <= x <= 1 and 0 <= y <= 1):
                continue
            if (k, near) not in decoded:
                decoded[(k, near)] = rle.decode(frames[near]["rle"])
            mask = decoded[(k, near)]
            h, w = mask.shape
            hits[j, k] = mask[min(int(y * h), h - 1), min(int(x * w), w - 1)]
    tp = 0
    if hits.any():
        rows, cols = linear_sum_assignment(np.where(hits, -1.0, 0.0))
        tp = int(hits[rows, cols].sum())
    return PointScore(tp, len(pred_pts), len(objects))


def track_scores(pred_t: np.ndarray, pred_pts: np.ndarray, pred_frame: np.ndarray, pred_ids: np.ndarray,
                 true_t: np.ndarray, true_pts: np.ndarray, true_frame: np.ndarray, true_ids: np.ndarray,
                 size: tuple[int, int], time_tolerance: float = 0.05,
                 threshold_px: float | None = None) -> dict[str, float]:
    """Tracking: per-frame point P/R/F1 as :func:`video_point_score` (pass visible true points only), plus
    ``id_consistency`` = share of matched points whose predicted track id maps to the true object under
    the best one-to-one track-to-object assignment (1 when nothing matched)."""
    pairs = match_times(pred_t, true_t, time_tolerance)
    pred_pts = np.asarray(pred_pts, dtype=np.float64).reshape(-1, 2)
    true_pts = np.asarray(true_pts, dtype=np.float64).reshape(-1, 2)
    matched: list[tuple[int, int]] = []
    for ti, pi in pairs.items():
        p_idx = np.nonzero(pred_frame == pi)[0]
        t_idx = np.nonzero(true_frame == ti)[0]
        rows, cols = match_points(pred_pts[p_idx], true_pts[t_idx], size, None, threshold_px)
        matched += [(int(pred_ids[p_idx[r]]), int(true_ids[t_idx[c]])) for r, c in zip(rows, cols, strict=True)]
    score = PointScore(len(matched), len(pred_pts), len(true_pts))
    out = score.as_dict()
    if matched:
        pids = sorted({p for p, _ in matched})
        tids = sorted({t for _, t in matched})
        co = np.zeros((len(pids), len(tids)))
        for p, t in matched:
            co[pids.index(p), tids.index(t)] += 1
        r, c = linear_sum_assignment(-co)
        out["id_consistency"] = float(co[r, c].sum() / len(matched))
    else:
        out["id_consistency"] = 1.0
    return out


# --------------------------------------------------------------------------------------------
# Captions
# --------------------------------------------------------------------------------------------

_STOPWORDS = frozenset(
    "a an the and or but of to in on at by for with from is are was were be been being it its this that "
    "these those there here as into onto over under than then so such very can could has have had do does "
    "did not no yes which who whom what when where while also some any each all both their his her they "
    "them he she we you i my our your".split())
_WORD = re.compile(r"[a-z0-9]+")


def content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOPWORDS}


def caption_scores(pred: str, reference: str) -> dict[str, float]:
    """Length and word-coverage statistics (no model judge): words and characters of the prediction,
    length ratio to the reference, and recall / precision of the reference's content words."""
    pw, rw = content_words(pred), content_words(reference)
    n_words = len(pred.split())
    ref_words = len(reference.split())
    return {
        "words": float(n_words),
        "chars": float(len(pred)),
        "length_ratio": float(n_words / ref_words) if ref_words else 0.0,
        "coverage": float(len(pw & rw) / len(rw)) if rw else 1.0,
        "word_precision": float(len(pw & rw) / len(pw)) if pw else 0.0,
    }


# --------------------------------------------------------------------------------------------
# Caption statements (Molmo2-CapEval)
# --------------------------------------------------------------------------------------------


def lexical_judge(statement: str, caption: str, threshold: float = 0.5) -> bool:
    """Is ``statement`` covered by ``caption``? A lexical proxy for the official model judge: at least
    ``threshold`` of the statement's content words appear in the caption."""
    words = content_words(statement)
    if not words:
        return True
    return len(words & content_words(caption)) / len(words) >= threshold


def statement_recall(pred: str, statements: Sequence[str], categories: Sequence[str] | None = None,
                     judge: Callable[[str, str], bool] = lexical_judge) -> dict[str, float]:
    """Share of the reference's atomic statements the prediction covers (``statement_recall``), also
    per statement category (``statement_recall/<category>``). ``judge(statement, caption)`` decides
    coverage: plug in a model to reproduce the official (LLM-judged) CapEval score."""
    covered = [bool(judge(s, pred)) for s in statements]
    out = {"statement_recall": float(np.mean(covered)) if covered else 1.0}
    if categories is not None and len(categories) == len(statements):
        for cat in sorted(set(categories)):
            sel = [c for c, k in zip(covered, categories, strict=True) if k == cat]
            out[f"statement_recall/{cat}"] = float(np.mean(sel))
    return out
