"""Question-answer annotations -> conversations: captions, clocks, literal messages and
VQA (with the official choice of the training answer among annotator answers)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from molmo2_data.errors import ConfigError
from molmo2_data.example import VQA, Caption, ClockTime, Messages
from molmo2_data.text.format_base import Conversation, FormatterConfig, choose_template, fill

# styles whose question the official formatter puts in a ``video_short_answer`` template (one rng draw)
VIDEO_SHORT_ANSWER_STYLES = ("video_short_answer", "video_short_answer_count_without_pointing")


# caption styles the official formatter templates (any other caption style gets an empty prompt)
CAPTION_TEMPLATE_STYLES = ("long_caption", "short_caption", "video_long_caption", "video_short_caption",
                           "video_transcript", "video_motion_caption", "video_object_caption")


def format_caption(ann: Caption, cfg: FormatterConfig, rng: np.random.RandomState) -> Conversation:
    """A template of the caption style (one draw) for the official caption styles, else no prompt."""
    question = ""
    if cfg.prompt_templates != "none" and ann.style in CAPTION_TEMPLATE_STYLES and cfg.templates.get(ann.style):
        question = choose_template(cfg, ann.style, rng)
        if ann.style == "video_object_caption":
            question = fill(question, object=ann.subject or "object")
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


def select_vqa_answer(answers: str | Sequence[str], rng: np.random.RandomState) -> str:
    """The official ``select_vqa_answer`` ("best"): one answer as it is; of a list, the most frequent
    answer, ties broken by one ``rng.randint`` over the tied answers in order of first occurrence (one
    draw only when the answers are a list)."""
    if isinstance(answers, str):
        return answers
    counts = Counter(answers)
    top = max(counts.values())
    tied = [a for a, n in counts.items() if n == top]
    return tied[rng.randint(0, len(tied))]


def format_vqa(ann: VQA, cfg: FormatterConfig, rng: np.random.RandomState) -> Conversation:
    """The official order of draws: a short-answer video question goes into a ``video_short_answer``
    template and a ``*_exp`` question into a ``chain_of_thought`` template (one draw each; other VQA
    styles keep the question as it is, their style prefix says what is wanted), then the training
    answer is chosen (``select_vqa_answer``: one draw for an answer list)."""
    question = ann.question
    if cfg.prompt_templates != "none":
        if ann.style in VIDEO_SHORT_ANSWER_STYLES:
            key = ann.style if cfg.templates.get(ann.style) else "video_short_answer"
            question = fill(choose_template(cfg, key, rng), question=question)
        elif "_exp" in ann.style:
            question = fill(choose_template(cfg, "chain_of_thought", rng), question=question)
    return Conversation([question, select_vqa_answer(ann.answers, rng)], ann.style)
