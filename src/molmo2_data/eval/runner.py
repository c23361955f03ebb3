"""Score a predictions JSONL against a dataset's ground truth: per-record scores, aggregates per dataset,
per question type (style) and per task kind, as a JSON-friendly report and a readable table.

Predictions: one JSON object per line, ``{"index": i, "prediction": "model text"}``, optionally
``"annotation": k`` (which annotation of a message tree; default 0) and ``"turn": t`` (which assistant
turn of a literal-messages annotation; default 0).
"""

from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from molmo2_data.errors import Molmo2DataError
from molmo2_data.eval import metrics as m
from molmo2_data.eval import predictions as pr
from molmo2_data.eval.predictions import PredictionsError, read_predictions
from molmo2_data.eval.style_metrics import DATASET_METRIC
from molmo2_data.example import (
    VQA,
    Annotation,
    Caption,
    ClockTime,
    Count,
    Example,
    Messages,
    MultipleChoice,
    Pointing,
    Track,
    VideoPointing,
)
from molmo2_data.media.video import probe_video
from molmo2_data.text import parse

__all__ = ["PredictionsError", "Scored", "aggregate", "build_report", "evaluate", "evaluate_predictions",
           "format_table", "read_predictions", "report_json", "score_annotation"]


Overlay = dict[str, Any]
"""Points to draw: ``{"images": {image_index: [[x, y], ...]}, "frames": {time_s: [[x, y, id], ...]}}``
in [0, 1] units (frames: ``id`` = track/object id or 0)."""


@dataclass
class Scored:
    """One scored prediction."""

    index: int
    annotation: int
    kind: str
    style: str
    prediction: str
    reference: str  # the ground truth as readable text
    metrics: dict[str, float]
    primary: str  # name of the headline metric in ``metrics``
    pred_overlay: Overlay = field(default_factory=dict)
    counts: m.PointScore | None = None  # for micro-averaged point P/R/F1

    @property
    def score(self) -> float:
        return self.metrics.get(self.primary, 0.0)

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "annotation": self.annotation, "kind": self.kind, "style": self.style,
                "prediction": self.prediction, "reference": self.reference, "primary": self.primary,
                "score": self.score, "metrics": self.metrics}


# --------------------------------------------------------------------------------------------
# Per-annotation scoring
# --------------------------------------------------------------------------------------------


def _count_metrics(text: str, true: int) -> dict[str, float]:
    return {f"count_{k}": v for k, v in m.count_scores(parse.parse_count(text), true).items()}


def _score_pointing(ann: Pointing, text: str, ex: Example, masks: np.ndarray | None) -> tuple[dict, str, Overlay,
                                                                                               m.PointScore]:
    tags = [t for t in parse.parse_point_tags(text) if t.tag != "tracks"]
    true_n = m.normalise(ann.points, ann.scale) if ann.image_index is None else None
    overlay: dict[int, list] = defaultdict(list)
    if ann.image_index is None or len(ex.images) <= 1:
        pred = np.concatenate([t.points() for t in tags]) if tags else np.zeros((0, 2))
        size = ex.images[0].size() if ex.images else (1000, 1000)
        total = m.point_score(pred, true_n if true_n is not None else m.normalise(ann.points, ann.scale),
                              size, masks)
        overlay[0] = pred.round(4).tolist()
    else:
        total = m.PointScore(0, 0, 0)
        pred_img = np.concatenate([t.image_index for t in tags]) if tags else np.zeros(0, dtype=np.int64)
        pred = np.concatenate([t.points() for t in tags]) if tags else np.zeros((0, 2))
        scales = ann.image_scales or (ann.scale,) * len(ex.images)
        for i, ref in enumerate(ex.images):
            true_i = m.normalise(ann.points[ann.image_index == i], scales[i])
            total += m.point_score(pred[pred_img == i], true_i, ref.size())
            overlay[i] = pred[pred_img == i].round(4).tolist()
        stray = int(np.sum((pred_img < 0) | (pred_img >= len(ex.images))))
        total += m.PointScore(0, stray, 0)
    metrics = {"precision": total.precision, "recall": total.recall, "f1": total.f1}
    if ann.mode != "point":
        true_count = ann.count if ann.count is not None else len(ann.points)
        metrics.update(_count_metrics(text, true_count))
    return metrics, "f1", {"images": dict(overlay)}, total


def _video_size(ex: Example) -> tuple[int, int]:
    info = probe_video(ex.video.path) if ex.video is not None else None
    return (info.width, info.height) if info else (1000, 1000)


def _frames_overlay(times: np.ndarray, pts: np.ndarray, frame: np.ndarray, ids: np.ndarray | None) -> Overlay:
    frames: dict[float, list] = defaultdict(list)
    for k, (x, y) in enumerate(pts.tolist()):
        t = round(float(times[frame[k]]), 3)
        frames[t].append([round(x, 4), round(y, 4), int(ids[k]) if ids is not None else 0])
    return {"frames": dict(frames)}


def _score_video_pointing(ann: VideoPointing, text: str, ex: Example) -> tuple[dict, str, Overlay, m.PointScore]:
    p = parse.parse_video_points(text, scale=(1.0, 1.0))
    masks = ex.metadata.extra.get("video_masks") if len(ex.annotations) == 1 else None
    if masks is not None and len(masks) == len(ann.points):  # VideoPointEval: hits are inside masks
        s = m.video_point_mask_score(p.timestamps, p.points, p.frame_index, masks)
    else:
        true = m.normalise(ann.points, ann.scale)
        s = m.video_point_score(p.timestamps, p.points, p.frame_index, ann.timestamps, true, ann.frame_index,
                                _video_size(ex))
    metrics = {"precision": s.precision, "recall": s.recall, "f1": s.f1}
    if "count" in ann.mode or "count" in ann.style:
        metrics.update(_count_metrics(text, ann.count if ann.count is not None else len(ann.points)))
    return metrics, "f1", _frames_overlay(p.timestamps, p.points, p.frame_index, None), s


def expected_track_points(ann: Track, default_fps: float = 2.0) -> np.ndarray:
    """Mask of the points a correct answer lists (as the formatter prints them): visible; per-frame
    styles only on the 1/fps grid the question asks for; start/end styles only each object's first and
    last annotated frame; single-point tracking only after the given start point."""
    from molmo2_data.text import point_format as pf

    keep = ~ann.occluded
    if not len(keep):
        return keep
    if "per_frame" in ann.style:
        fps = float(ann.fps) if ann.fps is not None else default_fps
        keep &= pf.frames_on_grid(ann.timestamps, fps)[ann.frame_index]
    if "start_end" in ann.style:
        keep &= pf.ground_start_end(ann.frame_index, ann.object_ids, ann.timestamps)
    if "single_point" in ann.style and keep.any():
        t = ann.timestamps[ann.frame_index]
        keep &= t > t[keep].min()
    return keep


def _score_track(ann: Track, text: str, ex: Example) -> tuple[dict, str, Overlay, m.PointScore]:
    p = parse.parse_tracks(text, scale=(1.0, 1.0))
    vis = expected_track_points(ann)
    true = m.normalise(ann.points[vis], ann.scale)
    out = m.track_scores(p.timestamps, p.points, p.frame_index, p.track_ids, ann.timestamps, true,
                         ann.frame_index[vis], ann.object_ids[vis], _video_size(ex))
    counts = m.PointScore(int(out["tp"]), int(out["n_pred"]), int(out["n_true"]))
    metrics = {k: out[k] for k in ("precision", "recall", "f1", "id_consistency")}
    return metrics, "f1", _frames_overlay(p.timestamps, p.points, p.frame_index, p.track_ids), counts


def _qa_pairs(ann: Messages) -> list[tuple[str, str]]:
    msgs = [x for x in ann.messages if x.role != "system"]
    return [(msgs[i].content, msgs[i + 1].content) for i in range(0, len(msgs) - 1, 2)]


def n_turns(ann: Annotation) -> int:
    """How many ``turn`` values an annotation has: its user/assistant pairs for literal messages, else 1."""
    return len(_qa_pairs(ann)) if isinstance(ann, Messages) else 1


def _assistant_turn(ann: Messages, turn: int) -> tuple[str, str]:
    """(question, answer) of the ``turn``-th user/assistant pair. An out-of-range turn is an error, never
    clamped: clamping scored one pair several times."""
    pairs = _qa_pairs(ann)
    if not 0 <= turn < len(pairs):
        raise PredictionsError(f"turn {turn} out of range: the conversation has {len(pairs)} question/answer "
                               "pairs")
    return pairs[turn]


def messages_primary(style: str) -> str:
    """Headline metric of a short-answer style (:mod:`.style_metrics`)."""
    from molmo2_data.eval.style_metrics import primary_metric

    return primary_metric(style)


def _score_messages(ann: Messages, text: str, turn: int) -> tuple[dict, str, str]:
    _, answer = _assistant_turn(ann, turn)
    metrics = {"vqa": m.vqa_score(text, [answer]), "anls": m.anls(text, [answer]),
               "relaxed": m.relaxed_correctness(text, answer), "exact": m.exact_match(text, answer)}
    return metrics, messages_primary(ann.style), answer


def score_annotation(ann: Annotation, text: str, ex: Example, *, index: int = 0, annotation: int = 0,
                     turn: int = 0, judge: Callable[[str, str], bool] | None = None) -> Scored:
    """Score one prediction against one annotation of an example."""
    overlay: Overlay = {}
    counts = None
    if isinstance(ann, Pointing):
        masks = ex.metadata.extra.get("masks") if len(ex.annotations) == 1 else None
        metrics, primary, overlay, counts = _score_pointing(ann, text, ex, masks)
        reference = f"{len(ann.points)} points of {ann.label!r}" + (" (scored against masks)" if masks is not None
                                                                     else "")
    elif isinstance(ann, Count):
        metrics, primary, reference = _count_metrics(text, ann.count), "count_exact", f"{ann.count} {ann.label}"
    elif isinstance(ann, VideoPointing):
        metrics, primary, overlay, counts = _score_video_pointing(ann, text, ex)
        reference = f"{len(ann.points)} points of {ann.label!r} on {len(ann.timestamps)} frames"
    elif isinstance(ann, Track):
        metrics, primary, overlay, counts = _score_track(ann, text, ex)
        reference = f"{len(set(ann.object_ids.tolist()))} tracks of {ann.label!r} on {len(ann.timestamps)} frames"
    elif isinstance(ann, ClockTime):
        metrics = m.clock_scores(parse.parse_clock(text), ann.hour, ann.minute, ann.second)
        primary, reference = "exact", ann.text
    elif isinstance(ann, MultipleChoice):
        metrics = m.choice_scores(parse.parse_choice(text, ann.options), ann.answer_index)
        primary, reference = "accuracy", f"{chr(65 + ann.answer_index)}. {ann.answer}"
    elif isinstance(ann, Messages):
        metrics, primary, reference = _score_messages(ann, text, turn)
    elif isinstance(ann, VQA):  # every annotator answer counts (VQA score over the list)
        answers = [ann.answers] if isinstance(ann.answers, str) else list(ann.answers)
        metrics = {"vqa": m.vqa_score(text, answers), "anls": m.anls(text, answers),
                   "relaxed": max(m.relaxed_correctness(text, a) for a in answers),
                   "exact": max(m.exact_match(text, a) for a in answers),
                   "a_okvqa": m.a_okvqa_score(text, answers)}
        primary, reference = messages_primary(ann.style), " | ".join(answers)
        if DATASET_METRIC.get(ex.metadata.dataset) == "mmmu":
            metrics["mmmu"] = m.mmmu_open_score(text, answers)
            primary = "mmmu"
    elif isinstance(ann, Caption):
        metrics, primary, reference = m.caption_scores(text, ann.text), "coverage", ann.text
        statements = ex.metadata.extra.get("atomic_statements")
        if statements:  # CapEval: the headline is the share of atomic statements covered
            metrics.update(m.statement_recall(text, statements, ex.metadata.extra.get("statement_categories"),
                                              judge or m.lexical_judge))
            primary = "statement_recall"
    else:  # pragma: no cover - every Annotation type is handled above
        raise TypeError(f"cannot score {type(ann).__name__}")
    return Scored(index, annotation, ann.kind, ann.style, text, reference, metrics, primary, overlay, counts)


# --------------------------------------------------------------------------------------------
# Aggregation
# --------------------------------------------------------------------------------------------


def aggregate(records: Sequence[Scored]) -> dict[str, Any]:
    """Mean of every metric (over the records that have it), n, the mean headline score and, for point
    tasks, micro-averaged precision/recall/F1 over all points."""
    if not records:
        return {"n": 0, "score": None, "metrics": {}}
    sums: dict[str, list[float]] = defaultdict(list)
    for r in records:
        for k, v in r.metrics.items():
            sums[k].append(v)
    out: dict[str, Any] = {"n": len(records), "score": float(np.mean([r.score for r in records])),
                           "metrics": {k: float(np.mean(v)) for k, v in sorted(sums.items())}}
    counts = [r.counts for r in records if r.counts is not None]
    if counts:
        tot = sum(counts[1:], counts[0])
        out["micro"] = tot.as_dict()
    return out


def build_report(name: str, split: str, records: Sequence[Scored], errors: Mapping[str, int],
                 n_predictions: int, n_examples: int,
                 malformed: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """The report dict; ``errors`` counts skipped lines per reason, ``malformed`` lists them (line, reason)."""
    by_style: dict[str, list[Scored]] = defaultdict(list)
    by_kind: dict[str, list[Scored]] = defaultdict(list)
    for r in records:
        by_style[r.style].append(r)
        by_kind[r.kind].append(r)
    return {
        "dataset": name, "split": split, "examples": n_examples, "predictions": n_predictions,
        "scored": len(records), "errors": dict(errors),
        "malformed": sorted((dict(x) for x in malformed), key=lambda x: x["line"]),
        "overall": aggregate(records),
        "by_style": {k: aggregate(v) for k, v in sorted(by_style.items())},
        "by_kind": {k: aggregate(v) for k, v in sorted(by_kind.items())},
        "records": [r.as_dict() for r in records],
    }


def evaluate_predictions(dataset: Any, predictions: Iterable[Mapping[str, Any]],
                         errors: Counter | None = None, judge: Callable[[str, str], bool] | None = None,
                         malformed: list[dict[str, Any]] | None = None) -> tuple[list[Scored], Counter]:
    """Score prediction dicts against a dataset object. A prediction with wrong types, an index,
    annotation or turn out of range, or an (index, annotation, turn) already scored (the first one wins) is
    counted in ``errors`` and listed in ``malformed`` (``line`` = the file line, or the 1-based position in
    ``predictions``); an example that cannot be read is counted the same way. None of these is fatal."""
    problems = pr.Problems(errors, malformed)
    n = len(dataset)
    cache: dict[int, Example] = {}
    records: list[Scored] = []
    seen: set[tuple[int, int, int]] = set()
    for pos, raw in enumerate(predictions, start=1):
        pred = pr.check_prediction(raw, int(raw.get("_line", pos)) if isinstance(raw, Mapping) else pos, problems)
        if pred is None:
            continue
        line, i, k, t = pred["_line"], pred["index"], pred["annotation"], pred["turn"]
        if not 0 <= i < n:
            problems.add(line, pr.INDEX_RANGE, f"index {i}, the split has {n} examples")
            continue
        try:
            if i not in cache:
                cache.clear()
                cache[i] = dataset.example(i)
            ex = cache[i]
        except Molmo2DataError as e:
            problems.add(line, pr.UNREADABLE, f"example {i}: {e}")
            continue
        if not 0 <= k < len(ex.annotations):
            problems.add(line, pr.ANNOTATION_RANGE, f"annotation {k}, example {i} has {len(ex.annotations)}")
            continue
        turns = n_turns(ex.annotations[k])
        if not 0 <= t < turns:
            problems.add(line, pr.TURN_RANGE, f"turn {t}, annotation {k} of example {i} has {turns}")
            continue
        if (i, k, t) in seen:
            problems.add(line, pr.DUPLICATE, f"index {i}, annotation {k}, turn {t}")
            continue
        seen.add((i, k, t))
        try:
            records.append(score_annotation(ex.annotations[k], pred["prediction"], ex, index=i, annotation=k,
                                            turn=t, judge=judge))
        except Molmo2DataError as e:  # e.g. the video of a track cannot be probed for its size
            problems.add(line, pr.UNREADABLE, f"example {i}: {e}")
    return records, problems.counts


def evaluate(name: str, split: str, predictions: str | os.PathLike | Iterable[Mapping[str, Any]],
             root: str | os.PathLike | None = None,
             judge: Callable[[str, str], bool] | None = None) -> dict[str, Any]:
    """The Python API of ``molmo2-data eval``: a report dict (see :func:`build_report`). ``judge``
    (statement, caption) -> covered replaces the lexical proxy of caption statement recall."""
    from molmo2_data.datasets import canonical_name, get_dataset

    name = canonical_name(name)
    errors: Counter = Counter()
    malformed: list[dict[str, Any]] = []
    if isinstance(predictions, str | os.PathLike):
        preds = read_predictions(predictions, errors, malformed)
        n_lines = len(preds) + len(malformed)
    else:
        preds = list(predictions)
        n_lines = len(preds)
    ds = get_dataset(name, split=split, root=root)
    records, errors = evaluate_predictions(ds, preds, errors, judge, malformed)
    report = build_report(name, split, records, errors, n_lines, len(ds), malformed)
    report["_records"] = records  # objects for the HTML report; dropped by report_json
    return report


def report_json(report: Mapping[str, Any]) -> str:
    return json.dumps({k: v for k, v in report.items() if not k.startswith("_")}, indent=1, default=float)


def format_table(report: Mapping[str, Any], show_malformed: int = 20) -> str:
    """A plain-text table: one row per question type (style), then per task kind, then overall; then the
    first ``show_malformed`` skipped lines (``line N: reason``)."""
    rows: list[tuple[str, str, int, str, str]] = []

    def add(group: str, key: str, agg: Mapping[str, Any]) -> None:
        if not agg.get("n"):
            return
        shown = ", ".join(f"{k}={v:.3f}" for k, v in agg["metrics"].items() if k not in ("tp", "n_pred", "n_true"))
        if "micro" in agg:
            shown += f", micro_f1={agg['micro']['f1']:.3f}"
        rows.append((group, key, agg["n"], f"{agg['score']:.3f}", shown))

    for k, v in report["by_style"].items():
        add("style", k, v)
    for k, v in report["by_kind"].items():
        add("kind", k, v)
    add("dataset", f"{report['dataset']} ({report['split']})", report["overall"])
    head = ("group", "name", "n", "score", "metrics (means)")
    widths = [max(len(str(r[c])) for r in [head, *rows]) for c in range(4)]
    lines = ["  ".join(str(x).ljust(w) for x, w in zip(head[:4], widths, strict=True)) + "  " + head[4]]
    for r in rows:
        lines.append("  ".join(str(x).ljust(w) for x, w in zip(r[:4], widths, strict=True)) + "  " + r[4])
    summary = f"{report['scored']} scored of {report['predictions']} predictions ({report['examples']} examples)"
    if report["errors"]:
        summary += "; skipped: " + ", ".join(f"{k} {v}" for k, v in report["errors"].items())
    return "\n".join([*lines, summary, *format_malformed(report, show_malformed)])


def format_malformed(report: Mapping[str, Any], limit: int = 20) -> list[str]:
    """The first ``limit`` skipped lines as ``line N: reason`` (all of them are in the JSON report)."""
    bad = report.get("malformed") or []
    out = [f"  line {x['line']}: {x['reason']}" for x in bad[:limit]]
    if len(bad) > limit:
        out.append(f"  ... and {len(bad) - limit} more (all listed under \"malformed\" in the JSON report)")
    return out
