"""Static HTML galleries: examples of a dataset drawn with their annotations (points, counts, tracks,
multi-image sets, video frame strips with timestamps and subtitles, the formatted conversation), and the
eval report with predictions beside the ground truth. Images are embedded as JPEG data URIs, so a page is
one file that opens from disk."""

from __future__ import annotations

import base64
import html
import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from molmo2_data.errors import Molmo2DataError
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

PALETTE = [(230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240),
           (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128)]
TRUE_COLOR = (40, 220, 40)
PRED_COLOR = (255, 40, 40)
MAX_SIDE = 384  # drawn images are downscaled to this longest side
FRAME_SIDE = 192
MAX_FRAMES = 8
FRAME_TIME_TOL = 0.05  # s: an annotated point is drawn on a decoded frame this close in time

CSS = """
body{font-family:sans-serif;margin:16px;background:#fafafa;color:#222}
.ex{background:#fff;border:1px solid #ddd;border-radius:6px;padding:10px;margin:12px 0}
.media{display:flex;flex-wrap:wrap;gap:8px;align-items:flex-start}
figure{margin:0} figcaption{font-size:12px;color:#555;max-width:384px}
.turn{white-space:pre-wrap;font-family:monospace;font-size:12px;padding:4px 6px;margin:2px 0;border-radius:4px}
.user{background:#eef3ff}.assistant{background:#effaef}.pred{background:#fff0f0}
.meta{font-size:12px;color:#666}.sub{font-size:11px;color:#335;font-style:italic}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}
td:first-child,th:first-child{text-align:left}
.legend span{display:inline-block;padding:0 6px;margin-right:6px;border-radius:3px;color:#fff}
"""


# --------------------------------------------------------------------------------------------
# Drawing
# --------------------------------------------------------------------------------------------


def data_uri(img: Image.Image, fmt: str = "JPEG") -> str:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format=fmt, quality=85) if fmt == "JPEG" else img.save(buf, format=fmt)
    return f"data:image/{fmt.lower()};base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def thumbnail(arr: np.ndarray | Image.Image, side: int = MAX_SIDE) -> Image.Image:
    img = arr if isinstance(arr, Image.Image) else Image.fromarray(np.asarray(arr, dtype=np.uint8))
    img = img.convert("RGB")
    scale = side / max(img.size)
    if scale < 1:
        img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.BILINEAR)
    return img


def draw_points(img: Image.Image, points: np.ndarray, color: tuple[int, int, int], *, cross: bool = False,
                labels: Sequence[str] | None = None) -> Image.Image:
    """Draw [0, 1]-unit points on a copy of ``img``: filled dots (truth) or crosses (predictions)."""
    out = img.copy()
    d = ImageDraw.Draw(out)
    r = max(3, round(max(img.size) / 80))
    for k, (x, y) in enumerate(np.asarray(points, dtype=np.float64).reshape(-1, 2).tolist()):
        px, py = x * img.width, y * img.height
        if cross:
            d.line([(px - r, py - r), (px + r, py + r)], fill=color, width=2)
            d.line([(px - r, py + r), (px + r, py - r)], fill=color, width=2)
        else:
            d.ellipse([px - r - 1, py - r - 1, px + r + 1, py + r + 1], fill=(0, 0, 0))
            d.ellipse([px - r, py - r, px + r, py + r], fill=color, outline=(255, 255, 255))
        if labels is not None and k < len(labels):
            d.text((px + r + 1, py - r - 1), labels[k], fill=color)
    return out


def tint_masks(img: Image.Image, masks: np.ndarray) -> Image.Image:
    """Overlay (K, H, W) bool object masks as translucent colours (the truth pointing is scored on)."""
    out = img.convert("RGBA")
    for k, mask in enumerate(np.asarray(masks, dtype=bool)):
        alpha = Image.fromarray((mask * 90).astype(np.uint8)).resize(img.size, Image.NEAREST)
        layer = Image.new("RGBA", img.size, PALETTE[k % len(PALETTE)] + (0,))
        layer.putalpha(alpha)
        out = Image.alpha_composite(out, layer)
    return out.convert("RGB")


def draw_polyline(img: Image.Image, points: np.ndarray, color: tuple[int, int, int]) -> Image.Image:
    if len(points) < 2:
        return img
    out = img.copy()
    xy = [(x * img.width, y * img.height) for x, y in np.asarray(points).tolist()]
    ImageDraw.Draw(out).line(xy, fill=color, width=1)
    return out


# --------------------------------------------------------------------------------------------
# Ground-truth overlays
# --------------------------------------------------------------------------------------------


def image_points(ann: Pointing, image: int, n_images: int) -> np.ndarray:
    """The annotation's points on one image, in [0, 1] units."""
    if ann.image_index is None:
        return ann.points / np.asarray(ann.scale) if image == 0 else np.zeros((0, 2))
    scales = ann.image_scales or (ann.scale,) * n_images
    return ann.points[ann.image_index == image] / np.asarray(scales[image])


def frame_points(ann: VideoPointing | Track, t: float) -> tuple[np.ndarray, np.ndarray]:
    """([0, 1] points, ids) of a video annotation at clip time ``t`` (visible points only for tracks)."""
    near = np.nonzero(np.abs(ann.timestamps - t) <= FRAME_TIME_TOL)[0]
    sel = np.isin(ann.frame_index, near)
    ids = np.zeros(len(ann.points), dtype=np.int64)
    if isinstance(ann, Track):
        sel &= ~ann.occluded
        ids = ann.object_ids
    return ann.points[sel] / np.asarray(ann.scale), ids[sel]


def frame_times(ex: Example, n: int = 6) -> np.ndarray:
    """Clip-relative times to show: annotated times when there are any (at most MAX_FRAMES, evenly
    picked), else ``n`` times spread over the clip."""
    ts = np.unique(np.concatenate([a.timestamps for a in ex.annotations if isinstance(a, VideoPointing | Track)]
                                  or [np.zeros(0)]))
    if len(ts):
        return ts[np.unique(np.linspace(0, len(ts) - 1, min(MAX_FRAMES, len(ts))).round().astype(int))]
    assert ex.video is not None
    start = ex.video.clip_start or 0.0
    end = ex.video.clip_end if ex.video.clip_end is not None else probe_video(ex.video.path).duration
    span = max(end - start, 1e-3)
    return (np.arange(n) + 0.5) * span / n


# --------------------------------------------------------------------------------------------
# HTML pieces
# --------------------------------------------------------------------------------------------


def _figure(img: Image.Image, caption: str, extra: str = "") -> str:
    return (f'<figure><img src="{data_uri(img)}" width="{img.width}" height="{img.height}" alt="">'
            f'<figcaption>{html.escape(caption)}{extra}</figcaption></figure>')


def render_images(ex: Example, pred: Mapping[int, Sequence] | None = None) -> str:
    """Every image of the example with its pointing annotations (one colour per annotation; predictions
    as red crosses when given)."""
    figs = []
    pointing = [a for a in ex.annotations if isinstance(a, Pointing)]
    for i, ref in enumerate(ex.images):
        try:
            img = thumbnail(ref.load())
        except Molmo2DataError as e:
            figs.append(f"<p>image {i + 1}: {html.escape(str(e))}</p>")
            continue
        notes = []
        masks = ex.metadata.extra.get("masks")
        if i == 0 and isinstance(masks, np.ndarray) and masks.ndim == 3 and len(ex.images) == 1:
            img = tint_masks(img, masks)
            notes.append(f"{len(masks)} masks")
        for k, ann in enumerate(pointing):
            pts = image_points(ann, i, len(ex.images))
            color = TRUE_COLOR if pred is not None else PALETTE[k % len(PALETTE)]
            img = draw_points(img, pts, color)
            if len(pts):
                notes.append(f"{ann.label}: {len(pts)}")
        if pred is not None:
            img = draw_points(img, np.asarray(pred.get(i, pred.get(str(i), [])), dtype=np.float64), PRED_COLOR,
                              cross=True)
        w, h = ref.size()
        caption = f"image {i + 1}/{len(ex.images)} ({w}x{h})" + (f" - {'; '.join(notes)}" if notes else "")
        figs.append(_figure(img, caption))
    return '<div class="media">' + "".join(figs) + "</div>"


def masks_at(video_masks: Sequence[Sequence[Mapping[str, Any]]], t: float, tolerance: float = 0.25,
             ) -> np.ndarray | None:
    """(K, H, W) masks of the objects that have one within ``tolerance`` s of ``t`` (VideoPointEval's
    ``metadata.extra["video_masks"]``), or None."""
    from molmo2_data.eval.metrics import nearest_mask
    from molmo2_data.media import rle

    found = []
    for frames in video_masks:
        near = nearest_mask(frames, t, tolerance)
        if near is not None:
            found.append(rle.decode(frames[near]["rle"]))
    if not found or len({m.shape for m in found}) != 1:
        return None
    return np.stack(found)


def _subtitles_at(ex: Example, t: float) -> str:
    assert ex.video is not None
    abs_t = t + (ex.video.clip_start or 0.0)
    lines = [s.text for s in ex.video.subtitles if s.start - 0.5 <= abs_t <= s.end + 0.5]
    return " / ".join(lines)


def render_video(ex: Example, pred: Mapping[Any, Sequence] | None = None) -> str:
    """A strip of frames with clip time, annotated points / tracks (trajectory lines), subtitles."""
    from molmo2_data.media.video import read_frames_at

    assert ex.video is not None
    times = frame_times(ex)
    start = ex.video.clip_start or 0.0
    try:
        frames, got = read_frames_at(ex.video.path, times + start)
    except (Molmo2DataError, ValueError) as e:
        return f"<p>video {html.escape(ex.video.path)}: {html.escape(str(e))}</p>"
    video_anns = [a for a in ex.annotations if isinstance(a, VideoPointing | Track)]
    pred_frames = {float(k): v for k, v in (pred or {}).items()}
    video_masks = ex.metadata.extra.get("video_masks") if len(ex.annotations) == 1 else None
    figs = []
    for t, frame, shown in zip(times, frames, got, strict=True):
        img = thumbnail(frame, FRAME_SIDE)
        masks = masks_at(video_masks, float(t)) if video_masks else None
        if masks is not None:
            img = tint_masks(img, masks)
        n_pts = 0
        for k, ann in enumerate(video_anns):
            if isinstance(ann, Track):
                for obj in np.unique(ann.object_ids):
                    sel = (ann.object_ids == obj) & ~ann.occluded
                    order = np.argsort(ann.timestamps[ann.frame_index[sel]])
                    img = draw_polyline(img, (ann.points[sel] / np.asarray(ann.scale))[order],
                                        PALETTE[int(obj) % len(PALETTE)])
            pts, ids = frame_points(ann, float(t))
            n_pts += len(pts)
            for obj in np.unique(ids):
                color = TRUE_COLOR if pred is not None else PALETTE[(int(obj) + k) % len(PALETTE)]
                img = draw_points(img, pts[ids == obj], color)
        near = [v for k2, v in pred_frames.items() if abs(k2 - t) <= FRAME_TIME_TOL]
        if near:
            pp = np.asarray([p[:2] for v in near for p in v], dtype=np.float64).reshape(-1, 2)
            img = draw_points(img, pp, PRED_COLOR, cross=True)
        sub = _subtitles_at(ex, float(t))
        extra = f'<div class="sub">{html.escape(sub)}</div>' if sub else ""
        caption = f"t={t:.1f}s (frame at {shown - start:.2f}s)" + (f", {n_pts} pts" if n_pts else "")
        if masks is not None:
            caption += f", {len(masks)} masks"
        figs.append(_figure(img, caption, extra))
    return '<div class="media">' + "".join(figs) + "</div>"


def render_media(ex: Example, pred_overlay: Mapping[str, Any] | None = None) -> str:
    pred_overlay = pred_overlay or {}
    if ex.video is not None:
        return render_video(ex, pred_overlay.get("frames") if pred_overlay else None)
    if ex.images:
        return render_images(ex, pred_overlay.get("images") if pred_overlay else None)
    return '<p class="meta">(text only)</p>'


def render_conversation(ann: Annotation, rng: np.random.RandomState) -> str:
    """The annotation as the model sees it (SFT formatter: templates, prefix, qwen3 wrapping)."""
    from molmo2_data.text.formatter import FormatterConfig, format_turns

    try:
        turns = format_turns(ann, FormatterConfig.sft(), rng)
    except (Molmo2DataError, ValueError, KeyError, IndexError) as e:
        return f'<div class="turn">cannot format: {html.escape(str(e))}</div>'
    return "".join(f'<div class="turn {"assistant" if t.loss else "user"}">{html.escape(t.text)}</div>'
                   for t in turns)


def annotation_note(ann: Annotation) -> str:
    """One line about an annotation's structured values (count, time, choice...)."""
    if isinstance(ann, Count):
        return f"count {ann.label!r} = {ann.count}"
    if isinstance(ann, Pointing):
        return f"{ann.style} {ann.label!r}: {len(ann.points)} points, count {ann.count}, scale {ann.scale}"
    if isinstance(ann, VideoPointing):
        return f"{ann.style} {ann.label!r}: {len(ann.points)} points on {len(ann.timestamps)} frames"
    if isinstance(ann, Track):
        return (f"{ann.style} {ann.label!r}: {len(np.unique(ann.object_ids))} objects, "
                f"{len(ann.timestamps)} frames, fps {ann.fps}")
    if isinstance(ann, ClockTime):
        return f"clock {ann.text} ({ann.hour}:{ann.minute:02d}, seconds {ann.second})"
    if isinstance(ann, MultipleChoice):
        return f"answer {chr(65 + ann.answer_index)} of {len(ann.options)}"
    if isinstance(ann, Caption):
        return f"{ann.style}: {len(ann.text.split())} words"
    if isinstance(ann, Messages):
        return f"{ann.style}: {len(ann.messages)} messages"
    if isinstance(ann, VQA):
        answers = [ann.answers] if isinstance(ann.answers, str) else ann.answers
        return f"{ann.style}: {len(answers)} answers, e.g. {answers[0]!r}" if answers else f"{ann.style}: no answers"
    return ann.kind


def render_example(ex: Example, index: int, seed: int = 0) -> str:
    rng = np.random.RandomState(seed + index)
    parts = [f'<div class="ex" id="ex{index}"><h3>#{index} <span class="meta">{ex.media_kind}; '
             f'{html.escape(str(ex.metadata.source_ids)[:200])}</span></h3>', render_media(ex)]
    for k, ann in enumerate(ex.annotations):
        parts.append(f'<p class="meta">annotation {k}: {html.escape(annotation_note(ann))}</p>')
        parts.append(render_conversation(ann, rng))
    parts.append(render_statements(ex))
    parts.append("</div>")
    return "".join(parts)


def render_statements(ex: Example) -> str:
    """CapEval's atomic statements (what a caption is scored on), with their categories."""
    statements = ex.metadata.extra.get("atomic_statements")
    if not statements:
        return ""
    cats = ex.metadata.extra.get("statement_categories") or [""] * len(statements)
    items = "".join(f"<li>{html.escape(s)}" + (f' <span class="meta">[{html.escape(c)}]</span>' if c else "")
                    + "</li>" for s, c in zip(statements, cats, strict=False))
    return f'<p class="meta">atomic statements ({len(statements)})</p><ul class="statements">{items}</ul>'



def page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>{body}</body></html>")


def gallery_html(dataset: Any, name: str, split: str, n: int = 8, seed: int = 0) -> str:
    """HTML for the first ``n`` examples of a dataset object."""
    body = [f'<p class="meta">{len(dataset)} examples; showing {min(n, len(dataset))}</p>']
    for i in range(min(n, len(dataset))):
        try:
            body.append(render_example(dataset.example(i), i, seed))
        except Molmo2DataError as e:
            body.append(f'<div class="ex">#{i}: {html.escape(str(e))}</div>')
    return page(f"{name} ({split})", "".join(body))


def write_gallery(name: str, split: str | None, out_html: str | os.PathLike, n: int = 8,
                  root: str | os.PathLike | None = None) -> Path:
    """Write a gallery of ``n`` examples of dataset ``name`` (default split when None) to ``out_html``."""
    from molmo2_data.datasets import canonical_name, get_dataset
    from molmo2_data.inspect import default_split

    name = canonical_name(name)
    split = split or default_split(name)
    ds = get_dataset(name, split=split, root=root)
    out = Path(out_html)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(gallery_html(ds, name, split, n), encoding="utf-8")
    return out


# --------------------------------------------------------------------------------------------
# Eval report
# --------------------------------------------------------------------------------------------


def _summary_table(report: Mapping[str, Any]) -> str:
    rows = []
    for group in ("by_style", "by_kind"):
        for key, agg in report[group].items():
            if agg.get("n"):
                metrics = ", ".join(f"{k}={v:.3f}" for k, v in agg["metrics"].items()
                                    if k not in ("tp", "n_pred", "n_true"))
                rows.append(f"<tr><td>{group[3:]}: {html.escape(key)}</td><td>{agg['n']}</td>"
                            f"<td>{agg['score']:.3f}</td><td style='text-align:left'>{html.escape(metrics)}</td></tr>")
    ov = report["overall"]
    if ov.get("n"):
        rows.append(f"<tr><th>overall</th><th>{ov['n']}</th><th>{ov['score']:.3f}</th><th></th></tr>")
    return "<table><tr><th>group</th><th>n</th><th>score</th><th>metrics (means)</th></tr>" + "".join(rows) + \
        "</table>"


def report_html(report: Mapping[str, Any], dataset: Any, max_examples: int = 50) -> str:
    """The eval report: summary table, then per scored prediction the media with ground truth (green
    dots) and prediction (red crosses), the prediction text beside the reference, and its scores."""
    records = report.get("_records", [])
    body = [_summary_table(report), '<p class="legend"><span style="background:rgb(40,220,40)">truth</span>'
            '<span style="background:rgb(255,40,40)">prediction</span></p>']
    if report.get("errors"):
        body.append(f'<p class="meta">skipped: {html.escape(str(report["errors"]))}</p>')
    bad = report.get("malformed") or []
    if bad:
        items = "".join(f"<li>line {x['line']}: {html.escape(str(x['reason']))}</li>" for x in bad[:max_examples])
        more = f"<li>... and {len(bad) - max_examples} more (JSON report)</li>" if len(bad) > max_examples else ""
        body.append(f'<ul class="meta">{items}{more}</ul>')
    for r in records[:max_examples]:
        try:
            ex = dataset.example(r.index)
            media = render_media(_only(ex, r.annotation), r.pred_overlay or {})
        except Molmo2DataError as e:
            media = f"<p>{html.escape(str(e))}</p>"
        scores = ", ".join(f"{k}={v:.3f}" for k, v in r.metrics.items())
        body.append(
            f'<div class="ex"><h3>#{r.index}.{r.annotation} <span class="meta">{html.escape(r.style)} - '
            f'{html.escape(r.primary)} {r.score:.3f}</span></h3>{media}'
            f'<div class="turn pred">prediction: {html.escape(r.prediction)}</div>'
            f'<div class="turn assistant">reference: {html.escape(r.reference)}</div>'
            f'<p class="meta">{html.escape(scores)}</p></div>')
    if len(records) > max_examples:
        body.append(f'<p class="meta">{len(records) - max_examples} more records in the JSON report</p>')
    return page(f"eval {report['dataset']} ({report['split']})", "".join(body))


def _only(ex: Example, k: int) -> Example:
    """The example with just annotation ``k`` (so only its truth is drawn)."""
    import dataclasses

    return dataclasses.replace(ex, annotations=[ex.annotations[k]])


def write_report_html(report: Mapping[str, Any], out_html: str | os.PathLike, root: str | os.PathLike | None = None,
                      max_examples: int = 50) -> Path:
    from molmo2_data.datasets import get_dataset

    ds = get_dataset(report["dataset"], split=report["split"], root=root)
    out = Path(out_html)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report_html(report, ds, max_examples), encoding="utf-8")
    return out
