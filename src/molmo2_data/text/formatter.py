"""Structured annotations -> chat turns, as Molmo2's ``DataFormatter`` renders them (FORMATS.md §1, §2).

One annotation becomes one :class:`Conversation` (user/assistant texts). Then the style prefix is
prepended to the first user text and the message format (``qwen3`` or legacy ``role``) wraps each
text into a :class:`Turn` whose ``loss`` flag says whether the model learns it. All randomness comes
from the example's ``numpy.random.RandomState``, in the official order: prompt template first, then
the style prefix.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from molmo2_data.errors import ConfigError
from molmo2_data.example import (
    VQA,
    Annotation,
    Caption,
    ClockTime,
    Count,
    Messages,
    MultipleChoice,
    Pointing,
    Subtitle,
    Track,
    VideoPointing,
)
from molmo2_data.text import point_format as pf
from molmo2_data.text.format_base import (  # noqa: F401  re-exported: the formatter's public names
    MC_INSTRUCTION,
    Conversation,
    FormatContext,
    FormatterConfig,
    MessageFormat,
    PromptTemplates,
    SystemPrompt,
    Turn,
    choose_template,
    fill,
    render_turns,
    side_rng,
    style_prefix,
    with_prefix,
)
from molmo2_data.text.format_mc import format_multiple_choice, template_mc  # noqa: F401  re-exported
from molmo2_data.text.format_qa import (  # noqa: F401  re-exported
    format_caption,
    format_clock,
    format_messages,
    format_vqa,
    select_vqa_answer,
)

# --------------------------------------------------------------------------------------------
# Annotation renderers: each returns (user question, assistant answer) lists
# --------------------------------------------------------------------------------------------


def _point_mode(mode: str | None, style: str) -> str | None:
    if style == "cosyn_point":
        return "point"
    return mode


def _pointing_template_key(mode: str | None, multi_image: bool) -> str:
    mode = mode or "point"
    if multi_image:
        return {"point": "multi_image_pointing", "pointing": "multi_image_pointing",
                "point_count": "multi_image_point_then_count", "point_then_count": "multi_image_point_then_count",
                "count_then_point": "multi_image_count_then_point", "count_point": "multi_image_count_then_point",
                "count": "multi_image_counting"}[mode]
    return {"point": "pointing", "pointing": "pointing", "point_count": "point_count",
            "point_then_count": "point_count", "count_then_point": "count_then_point",
            "count_point": "count_then_point", "count": "only_count"}[mode]


def _label_question(cfg: FormatterConfig, key: str, label: str, question: str | None,
                    rng: np.random.RandomState, lower: bool = True) -> str:
    """The question, else the label (lower-cased for image pointing and counting, as the official
    formatter does; video points and tracks keep the label as it is) in a template."""
    if question is not None:
        return question
    label = label.lower() if lower else label
    if cfg.prompt_templates == "none":
        return label
    return fill(choose_template(cfg, key, rng), label=label)


def _multi_image_question(ann: Pointing, cfg: FormatterConfig, rng: np.random.RandomState, mode: str | None
                          ) -> str:
    """The official multi-image question comes from an unseeded generator, so it spends none of the
    example's draws: ours comes from :func:`side_rng`. We ask about all images (our answer covers them
    all); for plain pointing, half the time in a single-image ``pointing`` template, as the official
    does for all images. The label keeps its case (the official human-readable label)."""
    if ann.question is not None:
        return ann.question
    if cfg.prompt_templates == "none":
        return ann.label
    side = side_rng(rng)
    key = _pointing_template_key(mode, True)
    if key == "multi_image_pointing" and side.random() < 0.5:
        return fill(choose_template(cfg, "pointing", side), label=ann.label)
    return fill(choose_template(cfg, key, side), selected_label=ann.label, selected_images="all images",
                label=ann.label)


def format_pointing(ann: Pointing, cfg: FormatterConfig, rng: np.random.RandomState) -> Conversation:
    multi = ann.image_index is not None
    mode = _point_mode(ann.mode, ann.style)
    if multi:
        question = _multi_image_question(ann, cfg, rng, mode)
    else:
        question = _label_question(cfg, _pointing_template_key(mode, False), ann.label, ann.question, rng)
    count = len(ann.points) if ann.count is None else int(ann.count)
    label = ann.label if multi else ann.label.lower()
    tag = None
    if len(ann.points):
        if cfg.point_format == "molmo-v1":
            if multi:
                raise ConfigError("Molmo v1 point format has no multi-image form")
            tag = pf.molmo_v1_points(ann.points, ann.scale, label, alt_text=ann.alt_text)
        elif multi:
            scales = ann.image_scales if ann.image_scales is not None else (ann.scale,)
            tag = pf.html_tag(pf.multi_image_coords(ann.points, ann.image_index, scales, cfg.point_format,
                                                    cfg.clamp), label, alt_text=ann.alt_text)
        else:
            tag = pf.html_tag(pf.image_coords(ann.points, ann.scale, cfg.clamp), label, alt_text=ann.alt_text)
    elif mode not in ("count",):
        count = 0
    return Conversation([question, pf.point_answer(tag, count, mode)], ann.style)


def format_count(ann: Count, cfg: FormatterConfig, rng: np.random.RandomState) -> Conversation:
    video = ann.style.startswith("video_")  # video labels keep their case, as the official video path
    question = _label_question(cfg, "video_count" if video else "only_count", ann.label, ann.question, rng,
                               lower=not video)
    return Conversation([question, pf.point_answer(None, int(ann.count), "count")], ann.style)


def _video_mode(style: str, mode: str | None) -> str | None:
    return style[len("video_"):] if style.startswith("video_") else mode


def format_video_pointing(ann: VideoPointing, cfg: FormatterConfig, rng: np.random.RandomState
                          ) -> Conversation:
    mode = _video_mode(ann.style, ann.mode)
    key = {"point": "video_point", "pointing": "video_point", "point_count": "video_point_count",
           "count_point": "video_count_point", "count_then_point": "video_count_point",
           "count": "video_count"}.get(mode or "point", "video_point")
    question = _label_question(cfg, key, ann.label, ann.question, rng, lower=False)
    count = len(ann.points) if ann.count is None else int(ann.count)
    if cfg.point_format == "molmo-v1":
        raise ConfigError("Molmo v1 point format has no video form")
    tag = None
    if len(ann.points):
        ts, pts, fi = ann.timestamps, ann.points, ann.frame_index
        if not cfg.empty_video_frames:
            used = np.unique(fi)
            remap = -np.ones(len(ts), dtype=np.int64)
            remap[used] = np.arange(len(used))
            ts, fi = ts[used], remap[fi]
        tag = pf.html_tag(pf.video_coords(ts, pts, fi, ann.scale, cfg.point_format, cfg.clamp), ann.label,
                          alt_text=ann.alt_text)
    elif mode != "count":
        count = 0
    return Conversation([question, pf.point_answer(tag, count, mode)], ann.style)


def _track_keep(ann: Track, cfg: FormatterConfig, ctx: FormatContext, fps: float) -> np.ndarray:
    """Points of the frames a tracking answer covers: on loaded frames, on the fps grid (per-frame
    styles), and for ground start/end only each object's first/last sighting. Occluded points are among
    them (the caller leaves them out of the coordinates): a frame whose every point is occluded still
    counts as a frame, as in the official track list."""
    frame_ok = pf.frames_matching(ann.timestamps, ctx.frame_times)
    if "per_frame" in ann.style:
        frame_ok &= pf.frames_on_grid(ann.timestamps, fps)
    keep = frame_ok[ann.frame_index] if len(ann.frame_index) else np.zeros(0, dtype=bool)
    if "start_end" in ann.style:
        if cfg.ground_counts_occluded:
            keep &= pf.ground_start_end(ann.frame_index, ann.object_ids, ann.timestamps)
        else:
            vis = np.flatnonzero(~ann.occluded)
            ends = np.zeros(len(keep), dtype=bool)
            ends[vis] = pf.ground_start_end(ann.frame_index[vis], ann.object_ids[vis], ann.timestamps)
            keep &= ends
    return keep


def _initial_point(ann: Track, keep: np.ndarray, cfg: FormatterConfig, rng: np.random.RandomState) -> int | None:
    """Index of the start point of single-point tracking: the first visible point in time, or (training,
    20 %) a random visible point; of any object (quirk §7.6) or of the first object. ``rng`` is a
    :func:`side_rng`: the official draws these from Python's ``random``, not the example's rng."""
    cand = np.flatnonzero(keep)
    if not len(cand):
        return None
    times = ann.timestamps[ann.frame_index[cand]]
    cand = cand[np.argsort(times, kind="stable")]
    if not cfg.initial_point_any_object:
        cand = cand[ann.object_ids[cand] == ann.object_ids[cand[0]]]
    if cfg.training and rng.random() < 0.2:
        return int(cand[rng.randint(0, len(cand))])
    return int(cand[0])


def format_track(ann: Track, cfg: FormatterConfig, rng: np.random.RandomState, ctx: FormatContext
                 ) -> Conversation:
    if cfg.point_format == "molmo-v1":
        raise ConfigError("Molmo v1 point format has no track form")
    fps_value = float(ann.fps) if ann.fps is not None else cfg.default_fps
    fps = str(int(fps_value))
    label = ann.label  # as it is: the official formatter does not lower-case track labels
    frames = _track_keep(ann, cfg, ctx, fps_value)
    keep = frames & ~ann.occluded
    style = ann.style
    if "single_point" in style:
        side = side_rng(rng)
        start = _initial_point(ann, keep, cfg, side)
        if start is None:  # none visible on the loaded frames: the official samples from all annotated frames
            start = _initial_point(ann, ~ann.occluded, cfg, side)
        if start is None:
            question_label = label
            keep = keep & False
            frames = frames & False
        else:
            t0 = ann.timestamps[ann.frame_index[start]]
            coords = pf.grouped_coords([pf.time_string(t0)],
                                       [pf.scale_points(ann.points[start:start + 1], ann.scale, cfg.clamp)],
                                       pf.frame_separator(cfg.point_format))
            question_label = pf.html_tag(coords, label)
            later = ann.timestamps[ann.frame_index] > t0
            keep, frames = keep & later, frames & later
        key = "video_single_point_track_per_frame"
    else:
        question_label = label
        key = style if cfg.templates.get(style) else "video_point_track_per_frame"
        # the no-fps variant is considered only when there are points (official: not for an empty track)
        if len(ann.points) and "per_frame" in style and fps == "2" and rng.random() < cfg.track_fps_free_prob:
            key = "video_point_track_per_frame_default_fps"
    if ann.question is not None:
        question = ann.question
    elif cfg.prompt_templates == "none":
        question = label
    else:
        question = fill(choose_template(cfg, key, rng), label=label, input_points=question_label, fps=fps)
    if not len(ann.points):
        answer = pf.NONE_ANSWER
    elif not frames.any():
        answer = pf.NO_TRACKS_ANSWER  # quirk §7.13: no frame left to answer about
    elif not keep.any():
        answer = ""  # frames, but every point on them occluded: the official coordinates are empty
    else:
        coords = pf.track_coords(ann.timestamps, ann.points, ann.frame_index, ann.object_ids, keep, ann.scale,
                                 cfg.point_format, cfg.clamp)
        answer = pf.html_tag(coords, label, "tracks", alt_text=ann.alt_text)
    return Conversation([question, answer], style)


def format_annotation(ann: Annotation, cfg: FormatterConfig, rng: np.random.RandomState,
                      ctx: FormatContext | None = None) -> Conversation:
    """One annotation -> its conversation (no prefix yet)."""
    ctx = ctx or FormatContext()
    if isinstance(ann, Messages):
        return format_messages(ann, cfg)
    if isinstance(ann, Pointing):
        return format_pointing(ann, cfg, rng)
    if isinstance(ann, Count):
        return format_count(ann, cfg, rng)
    if isinstance(ann, VideoPointing):
        return format_video_pointing(ann, cfg, rng)
    if isinstance(ann, Track):
        return format_track(ann, cfg, rng, ctx)
    if isinstance(ann, MultipleChoice):
        return format_multiple_choice(ann, cfg, rng)
    if isinstance(ann, Caption):
        return format_caption(ann, cfg, rng)
    if isinstance(ann, ClockTime):
        return format_clock(ann, cfg, rng)
    if isinstance(ann, VQA):
        return format_vqa(ann, cfg, rng)
    raise ConfigError(f"cannot format annotation of type {type(ann).__name__}")


def format_conversation(ann: Annotation, cfg: FormatterConfig, rng: np.random.RandomState,
                        ctx: FormatContext | None = None) -> Conversation:
    """Template, then style prefix on the first user text (not yet wrapped in the message format)."""
    conv = format_annotation(ann, cfg, rng, ctx)
    prefix = style_prefix(conv.style, cfg, rng, answer=conv.messages[-1])  # official: the last message
    conv.messages[0] = with_prefix(prefix, conv.messages[0])
    return conv


def format_turns(ann: Annotation, cfg: FormatterConfig, rng: np.random.RandomState,
                 ctx: FormatContext | None = None) -> list[Turn]:
    """Template, then style prefix on the first user text, then message format."""
    return render_turns(format_conversation(ann, cfg, rng, ctx), cfg)


# --------------------------------------------------------------------------------------------
# Timestamps and subtitles
# --------------------------------------------------------------------------------------------


def seconds_to_timestamp(t: float, decimals: int = 1) -> str:
    """``HH:MM:SS.s`` with the seconds printed as ``'%0{3+d}.{d}f'`` (official ``seconds_to_timestamp``)."""
    hours = int(t // 3600)
    minutes = int((t % 3600) // 60)
    secs = t - hours * 3600 - minutes * 60
    width = 3 + decimals if decimals else 2
    return f"{hours:02d}:{minutes:02d}:{secs:0{width}.{decimals}f}"


def format_input_timestamp(t: float, in_seconds: bool) -> str:
    """A question timestamp: seconds ``str(round(t, 1))`` or ``HH:MM:SS.s``."""
    return pf.time_string(t) if in_seconds else seconds_to_timestamp(t, 1)


def choose_timestamp_mode(rng: np.random.RandomState) -> bool:
    """Mode ``50-percent-seconds``: True (seconds, ``*_in_seconds`` templates) if ``rng.random() > 0.5``."""
    return bool(rng.random() > 0.5)


def format_subtitles(subtitles: Sequence[Subtitle] | str | None, frame_times: np.ndarray | None,
                     window: float = 1.0, clip_start: float = 0.0) -> str:
    """Subtitle block after the video tokens (FORMATS §4.3): kept lines are those near some frame time
    (mode ``frame_N``); times are made clip-relative by subtracting ``clip_start``. The header is kept
    even when no line is near a frame (as the vision stage's ``subtitle_block``)."""
    if subtitles is None:
        return ""
    if isinstance(subtitles, str):
        return "subtitle\n" + subtitles
    lines = []
    ft = None if frame_times is None else np.asarray(frame_times, dtype=np.float64)
    for sub in subtitles:
        s, e = sub.start - clip_start, sub.end - clip_start
        if ft is not None and not np.any(~((e < ft - window) | (ft + window < s))):
            continue
        lines.append(f"{s:.1f} - {e:.1f} {sub.text}\n")
    return "subtitle\n" + "".join(lines) if subtitles else ""
