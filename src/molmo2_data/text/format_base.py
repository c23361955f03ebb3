"""The formatter's settings and shared steps: :class:`FormatterConfig`, the conversation types, template
choice, the style prefix (the official ``get_system_prompt``) and the message formats."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from molmo2_data.errors import ConfigError
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

    @classmethod
    def from_official(cls, path: str | os.PathLike, **kw: object) -> FormatterConfig:
        """The SFT settings with the official prompt template lists, read from a checkout of allenai/molmo2
        (``path``: the checkout or its ``olmo/preprocessing/data_formatter.py``, next to which
        ``multiple_choice_templates.py`` must be; parsed, not imported). Official lists replace ours key
        by key; ours remain for keys the official files lack."""
        from molmo2_data.text.official_mc_templates import parse_official_mc_templates
        from molmo2_data.text.official_templates import parse_official_templates

        templates = {k: list(v) for k, v in DEFAULT_TEMPLATES.items()}
        templates.update(parse_official_templates(path))
        templates.update(parse_official_mc_templates(path))
        base: dict[str, object] = dict(templates=templates)
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


_KEYWORD = re.compile(r"{([^{}]+)}")


def fill(template: str, **values: str) -> str:
    """The official ``apply_keywords``: every ``{keyword}`` of the template (sorted) replaced by its value,
    by splitting at the keyword (so other braces in a template are left alone). A keyword without a
    value is a ConfigError; values for keywords the template lacks are ignored (template lists differ
    in which they use, e.g. single-point tracking: ``{label}`` here, ``{input_points}`` officially)."""
    for keyword in sorted(_KEYWORD.findall(template)):
        if keyword not in values:
            raise ConfigError(f"template needs {{{keyword}}}, which this annotation does not give: {template!r}")
        parts = template.split("{" + keyword + "}", 2)
        template = parts[0] + values[keyword] + (parts[1] if len(parts) > 1 else "")
    return template


def choose_template(cfg: FormatterConfig, key: str, rng: np.random.RandomState) -> str:
    """Uniform draw ``rng.randint(0, len(list))`` (FORMATS §1.4)."""
    options = cfg.templates.get(key)
    if not options:
        raise ConfigError(f"no prompt templates for {key!r}")
    return options[rng.randint(0, len(options))]


def side_rng(rng: np.random.RandomState) -> np.random.RandomState:
    """A generator seeded from ``rng``'s state without advancing it. Where the official code draws from
    an unseeded source (Python's ``random``: the single-point tracking start point, multi-image
    pointing questions), we draw from this instead, so the example's own draws stay the official ones
    and our output stays reproducible."""
    _, key, pos, _, _ = rng.get_state()
    return np.random.RandomState((int(key[pos % len(key)]) ^ (int(pos) * 2654435761)) & 0xFFFFFFFF)


def style_prefix(style: str | None, cfg: FormatterConfig, rng: np.random.RandomState, answer: str = "") -> str:
    """The official ``get_system_prompt``; '' means no prefix."""
    mode = cfg.system_prompt
    if mode in ("none", "no_style"):
        return ""
    if style is None:
        raise ConfigError(f"system_prompt={mode!r} needs a style (official code crashes, §7.11)")
    style = canonical_style(style, cfg.separate_count_without_pointing, cfg.training)
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
