"""Structured annotations -> chat turns, as Molmo2's ``DataFormatter`` renders them (FORMATS.md §1, §2).

One annotation becomes one :class:`Conversation` (user/assistant texts). Then the style prefix is
prepended to the first user text and the message format (``qwen3`` or legacy ``role``) wraps each
text into a :class:`Turn` whose ``loss`` flag says whether the model learns it. All randomness comes
from the example's ``numpy.random.RandomState``, in the official order: prompt template first, then
the style prefix.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from molmo2_data.errors import ConfigError
from molmo2_data.example import (
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
from molmo2_data.text.templates import (
    DEFAULT_TEMPLATES,
    DEMO_STYLES,
    IMAGE_MC_STYLES,
    POINTING_LENGTH_FREE,
    VIDEO_MC_STYLES,
    canonical_style,
)

MessageFormat = Literal["qwen3", "role"]
SystemPrompt = Literal["demo_or_style_v2", "demo_or_style", "style_and_length_v2", "style", "none", "no_style"]
PromptTemplates = Literal["uber_model_v2", "none"]
MC_INSTRUCTION = "\nOnly return the correct answer option.\n"


@dataclass(frozen=True)
class FormatterConfig:
    """Every choice of the text format. Defaults = the Molmo2 SFT launch script (``sft()``);
    ``pretrain()`` gives the pretraining settings. Quirk switches are documented in docs/text.md."""

    message_format: MessageFormat = "qwen3"
    system_prompt: SystemPrompt = "demo_or_style_v2"
    prompt_templates: PromptTemplates = "uber_model_v2"
    point_format: pf.PointFormat = "html-v2"
    always_start_with_space: bool = False  # role format only (Molmo v1 default True)
    training: bool = True  # False = eval: fixed MC form, first start point, ' 65:' length hint
    templates: Mapping[str, Sequence[str]] = field(default_factory=lambda: DEFAULT_TEMPLATES)
    separate_count_without_pointing: bool = False
    default_fps: float = 2.0  # tracking question fps when the annotation has none (SFT max_fps)
    subtitle_window: float = 1.0  # mode frame_N, N = 1
    # quirks (FORMATS §7): True = reproduce the official token stream
    double_im_end: bool = True  # §7.1
    clamp: pf.Clamp = "both"  # §7.4: "official" leaves out-of-range y unclamped (invalid data)
    ground_counts_occluded: bool = True  # §7.5
    initial_point_any_object: bool = True  # §7.6
    empty_video_frames: bool = True  # §7.7: listed frames without points print '{t} '
    track_fps_free_prob: float = 0.5  # per-frame tracking at fps 2 uses a no-fps template this often

    @classmethod
    def sft(cls, **kw: object) -> FormatterConfig:
        return cls(**kw)  # type: ignore[arg-type]

    @classmethod
    def pretrain(cls, **kw: object) -> FormatterConfig:
        base = dict(system_prompt="style_and_length_v2", prompt_templates="none", point_format="html-v1")
        base.update(kw)
        return cls(**base)  # type: ignore[arg-type]

    @classmethod
    def molmo_v1(cls, **kw: object) -> FormatterConfig:
        base = dict(message_format="role", system_prompt="style", point_format="molmo-v1",
                    always_start_with_space=True)
        base.update(kw)
        return cls(**base)  # type: ignore[arg-type]

    def replace(self, **kw: object) -> FormatterConfig:
        return replace(self, **kw)  # type: ignore[arg-type]


@dataclass
class Conversation:
    """Alternating user/assistant texts (user first) of one annotation, before prefix and wrapping."""

    messages: list[str]
    style: str
    system: str | None = None


@dataclass(frozen=True)
class Turn:
    text: str
    loss: bool  # assistant text: learned, followed by EOS


@dataclass
class FormatContext:
    """What the formatter needs to know about the media: sampled video frame times (clip-relative
    seconds; None = unknown, every annotated frame counts as loaded) and the clip start."""

    frame_times: np.ndarray | None = None
    clip_start: float = 0.0


# --------------------------------------------------------------------------------------------
# Templates and prefixes
# --------------------------------------------------------------------------------------------


def choose_template(cfg: FormatterConfig, key: str, rng: np.random.RandomState) -> str:
    """Uniform draw ``rng.randint(0, len(list))`` (FORMATS §1.4)."""
    options = cfg.templates.get(key)
    if not options:
        raise ConfigError(f"no prompt templates for {key!r}")
    return options[rng.randint(0, len(options))]


def style_prefix(style: str | None, cfg: FormatterConfig, rng: np.random.RandomState, answer: str = "") -> str:
    """The official ``get_system_prompt``; '' means no prefix."""
    mode = cfg.system_prompt
    if mode in ("none", "no_style"):
        return ""
    if style is None:
        raise ConfigError(f"system_prompt={mode!r} needs a style (official code crashes, §7.11)")
    style = canonical_style(style, cfg.separate_count_without_pointing)
    if mode == "style":
        return style + ":"
    if mode == "demo_or_style_v2":
        return "" if style in DEMO_STYLES or style in VIDEO_MC_STYLES or style in IMAGE_MC_STYLES else style + ":"
    if mode == "demo_or_style":
        if style in ("android_control", "demo"):
            return ""
        if style in DEMO_STYLES:
            return "" if rng.random() > 0.1 else style + ":"
        return style + ":"
    if mode == "style_and_length_v2":
        if style in POINTING_LENGTH_FREE:
            return style + ":"
        if not cfg.training:
            return style + " 65:"
        if rng.random() > 0.1:
            n = (len(answer) + int(rng.normal(scale=25))) // 15
            return f"{style} {n}:"
        return style + ":"
    raise ConfigError(f"unknown system_prompt {mode!r}")


def with_prefix(prefix: str, text: str) -> str:
    if not prefix:
        return text
    return prefix + " " + text if text else prefix


# --------------------------------------------------------------------------------------------
# Message formats
# --------------------------------------------------------------------------------------------


def render_turns(conv: Conversation, cfg: FormatterConfig) -> list[Turn]:
    """Wrap user/assistant texts in the message format. The tokenizer appends EOS after loss turns."""
    turns: list[Turn] = []
    if cfg.message_format == "qwen3":
        for i, text in enumerate(conv.messages):
            if i % 2:
                turns.append(Turn(text, True))
                continue
            head = "<|im_start|>user\n"
            if i == 0 and conv.system is not None:
                head = f"<|im_start|>system\n{conv.system}<|im_end|>\n" + head
            if i > 0:
                head = ("<|im_end|>\n" if cfg.double_im_end else "\n") + head
            turns.append(Turn(head + text + "<|im_end|>\n<|im_start|>assistant\n", False))
        return turns
    if cfg.message_format == "role":
        for i, text in enumerate(conv.messages):
            if i == 0 and conv.system is not None:
                text = conv.system + " " + text
            out = text if i % 2 else "User: " + text + " Assistant:"
            if i > 0 or cfg.always_start_with_space:
                out = " " + out
            turns.append(Turn(out, bool(i % 2)))
        return turns
    raise ConfigError(f"unknown message_format {cfg.message_format!r}")


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
                    rng: np.random.RandomState) -> str:
    if question is not None:
        return question
    if cfg.prompt_templates == "none":
        return label.lower()
    return choose_template(cfg, key, rng).format(label=label.lower())


def format_pointing(ann: Pointing, cfg: FormatterConfig, rng: np.random.RandomState) -> Conversation:
    multi = ann.image_index is not None
    mode = _point_mode(ann.mode, ann.style)
    question = _label_question(cfg, _pointing_template_key(mode, multi), ann.label, ann.question, rng)
    count = len(ann.points) if ann.count is None else int(ann.count)
    label = ann.label.lower()
    tag = None
    if len(ann.points):
        if cfg.point_format == "molmo-v1":
            if multi:
                raise ConfigError("Molmo v1 point format has no multi-image form")
            tag = pf.molmo_v1_points(ann.points, ann.scale, label)
        elif multi:
            scales = ann.image_scales if ann.image_scales is not None else (ann.scale,)
            tag = pf.html_tag(pf.multi_image_coords(ann.points, ann.image_index, scales, cfg.point_format,
                                                    cfg.clamp), label)
        else:
            tag = pf.html_tag(pf.image_coords(ann.points, ann.scale, cfg.clamp), label)
    elif mode not in ("count",):
        count = 0
    return Conversation([question, pf.point_answer(tag, count, mode)], ann.style)


def format_count(ann: Count, cfg: FormatterConfig, rng: np.random.RandomState) -> Conversation:
    key = "video_count" if ann.style.startswith("video_") else "only_count"
    question = _label_question(cfg, key, ann.label, ann.question, rng)
    return Conversation([question, pf.point_answer(None, int(ann.count), "count")], ann.style)


def _video_mode(style: str, mode: str | None) -> str | None:
    return style[len("video_"):] if style.startswith("video_") else mode


def format_video_pointing(ann: VideoPointing, cfg: FormatterConfig, rng: np.random.RandomState
                          ) -> Conversation:
    mode = _video_mode(ann.style, ann.mode)
    key = {"point": "video_point", "pointing": "video_point", "point_count": "video_point_count",
           "count_point": "video_count_point", "count_then_point": "video_count_point",
           "count": "video_count"}.get(mode or "point", "video_point")
    question = _label_question(cfg, key, ann.label, ann.question, rng)
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
        tag = pf.html_tag(pf.video_coords(ts, pts, fi, ann.scale, cfg.point_format, cfg.clamp), ann.label.lower())
    elif mode != "count":
        count = 0
    return Conversation([question, pf.point_answer(tag, count, mode)], ann.style)


def _track_keep(ann: Track, cfg: FormatterConfig, ctx: FormatContext, fps: float) -> np.ndarray:
    """Points a tracking answer prints: on loaded frames, on the fps grid (per-frame styles), visible,
    and for ground start/end only each object's first/last sighting."""
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
    return keep & ~ann.occluded


def _initial_point(ann: Track, keep: np.ndarray, cfg: FormatterConfig, rng: np.random.RandomState) -> int | None:
    """Index of the start point of single-point tracking: the first visible point in time, or (training,
    20 %) a random visible point; of any object (quirk §7.6) or of the first object."""
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
    label = ann.label.lower()
    keep = _track_keep(ann, cfg, ctx, fps_value)
    style = ann.style
    if "single_point" in style:
        start = _initial_point(ann, keep, cfg, rng)
        if start is None:
            question_label = label
            keep = keep & False
        else:
            t0 = ann.timestamps[ann.frame_index[start]]
            coords = pf.grouped_coords([pf.time_string(t0)],
                                       [pf.scale_points(ann.points[start:start + 1], ann.scale, cfg.clamp)],
                                       pf.frame_separator(cfg.point_format))
            question_label = pf.html_tag(coords, label)
            keep = keep & (ann.timestamps[ann.frame_index] > t0)
        key = "video_single_point_track_per_frame"
    else:
        question_label = label
        key = style if cfg.templates.get(style) else "video_point_track_per_frame"
        if "per_frame" in style and fps == "2" and rng.random() < cfg.track_fps_free_prob:
            key = "video_point_track_per_frame_default_fps"
    if ann.question is not None:
        question = ann.question
    elif cfg.prompt_templates == "none":
        question = label
    else:
        question = choose_template(cfg, key, rng).format(label=question_label, fps=fps)
    if not len(ann.points):
        answer = pf.NONE_ANSWER
    elif not keep.any():
        answer = pf.NO_TRACKS_ANSWER  # quirk §7.13
    else:
        coords = pf.track_coords(ann.timestamps, ann.points, ann.frame_index, ann.object_ids, keep, ann.scale,
                                 cfg.point_format, cfg.clamp)
        answer = pf.html_tag(coords, label, "tracks")
    return Conversation([question, answer], style)


def format_multiple_choice(ann: MultipleChoice, cfg: FormatterConfig, rng: np.random.RandomState
                           ) -> Conversation:
    """Official ``template_options``: the fixed lettered form at eval and 10 % of training; otherwise
    a ``multiple_choice`` template (our default list holds only the fixed form, see templates.py)."""
    if not 0 <= ann.answer_index < len(ann.options):
        raise ConfigError(f"answer_index {ann.answer_index} out of range for {len(ann.options)} options")
    letters = string.ascii_uppercase
    if len(ann.options) > len(letters):
        raise ConfigError("more than 26 options")
    option_text = "\n".join(f"{p}. {o}" for p, o in zip(letters, ann.options, strict=False))
    outputs = [f"{p}. {o}" for p, o in zip(letters, ann.options, strict=False)]
    if not cfg.training or rng.random() < 0.1 or not cfg.templates.get("multiple_choice"):
        question = ann.question + MC_INSTRUCTION + option_text
    else:
        template = choose_template(cfg, "multiple_choice", rng)
        question = template.format(question=ann.question, options=option_text)
    return Conversation([question, outputs[ann.answer_index]], ann.style)


def format_caption(ann: Caption, cfg: FormatterConfig, rng: np.random.RandomState) -> Conversation:
    question = ""
    if cfg.prompt_templates != "none" and cfg.templates.get(ann.style):
        question = choose_template(cfg, ann.style, rng)
    return Conversation([question, ann.text], ann.style)


def format_clock(ann: ClockTime, cfg: FormatterConfig, rng: np.random.RandomState) -> Conversation:
    question = ann.question
    if question is None:
        question = choose_template(cfg, "clocks", rng) if cfg.prompt_templates != "none" else ""
    return Conversation([question, ann.text], ann.style)


def format_messages(ann: Messages, cfg: FormatterConfig) -> Conversation:
    system = None
    texts: list[str] = []
    for m in ann.messages:
        if m.role == "system":
            system = m.content if system is None else system + "\n" + m.content
            continue
        expected = "user" if len(texts) % 2 == 0 else "assistant"
        if m.role != expected:
            raise ConfigError(f"messages must alternate user/assistant starting with user; got {m.role!r}")
        texts.append(m.content)
    if not texts or len(texts) % 2:
        raise ConfigError("messages must hold complete user/assistant pairs")
    return Conversation(texts, ann.style, system)


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
    raise ConfigError(f"cannot format annotation of type {type(ann).__name__}")


def format_conversation(ann: Annotation, cfg: FormatterConfig, rng: np.random.RandomState,
                        ctx: FormatContext | None = None) -> Conversation:
    """Template, then style prefix on the first user text (not yet wrapped in the message format)."""
    conv = format_annotation(ann, cfg, rng, ctx)
    prefix = style_prefix(conv.style, cfg, rng, answer=conv.messages[1])
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
