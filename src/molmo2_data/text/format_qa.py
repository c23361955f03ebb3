"""Question-answer annotations -> conversations: multiple choice, captions, clocks, literal messages and
VQA (with the official choice of the training answer among annotator answers)."""

from __future__ import annotations

import string
from collections import Counter
from collections.abc import Sequence

import numpy as np

from molmo2_data.errors import ConfigError
from molmo2_data.example import VQA, Caption, ClockTime, Messages, MultipleChoice
from molmo2_data.text.format_base import MC_INSTRUCTION, Conversation, FormatterConfig, choose_template, fill

# styles whose question the official formatter puts in a ``video_short_answer`` template (one rng draw)
VIDEO_SHORT_ANSWER_STYLES = ("video_short_answer", "video_short_answer_count_without_pointing")


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
        question = fill(template, question=ann.question, options=option_text)
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
    template (one draw; other VQA styles keep the question as it is, their style prefix says what is
    wanted), then the training answer is chosen (``select_vqa_answer``: one draw for an answer list)."""
    question = ann.question
    if ann.style in VIDEO_SHORT_ANSWER_STYLES and cfg.prompt_templates != "none":
        question = fill(choose_template(cfg, "video_short_answer", rng), question=question)
    return Conversation([question, select_vqa_answer(ann.answers, rng)], ann.style)
