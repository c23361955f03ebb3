"""FormatterConfig.from_official: template lists parsed from a checkout of allenai/molmo2 (never imported),
and the rng draws the official order implies, hand-computed. The official sentences are not in the
project: these tests use a file of our own in the official layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from molmo2_data.errors import ConfigError
from molmo2_data.example import VQA, Caption, MultipleChoice, Pointing
from molmo2_data.text.formatter import FormatterConfig, format_annotation, format_conversation
from molmo2_data.text.official_templates import parse_official_templates
from molmo2_data.text.templates import OFFICIAL_TEMPLATE_COUNTS

FAKE = '''
import re

GENERAL_PROMPTS_V1 = {
    "short_answer": [
        "About the image: {question}",
        "Q1 {question} (short)",
        "Briefly, from the picture: " "{question}",
    ],
    "pointing": ["P0 {label}", "P1 {label}", "P2 {label}", "P3 {label}"],
    "multiple_choice": ["M0 {question} {options}", "M1 {question}\\n{options}"],
    "long_caption": ["C0 the image", "C1 the picture", "C2 the photo"],
}

GENERAL_PROMPTS_V1["video_short_answer"] = [prompt.replace("image", "video") for prompt in GENERAL_PROMPTS_V1["short_answer"]]
GENERAL_PROMPTS_V1["video_long_caption"] = [p.replace("image", "video").replace("picture", "video") for p in GENERAL_PROMPTS_V1["long_caption"]]
GENERAL_PROMPTS_V1["video_multiple_choice"] = GENERAL_PROMPTS_V1["multiple_choice"]
GENERAL_PROMPTS_V1["video_point_track_per_frame"] = ["T0 {label} at {fps}", "T1 {label} at {fps}"]
OTHER = {"not": "read"}
'''


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    f = tmp_path / "olmo" / "preprocessing" / "data_formatter.py"
    f.parent.mkdir(parents=True)
    f.write_text(FAKE)
    return tmp_path


def test_lists_parsed_in_the_official_layout(checkout: Path) -> None:
    lists = parse_official_templates(checkout)
    assert lists["short_answer"][2] == "Briefly, from the picture: {question}"  # implicit concatenation
    assert lists["video_short_answer"] == ["About the video: {question}", "Q1 {question} (short)",
                                           "Briefly, from the picture: {question}"]
    assert lists["video_long_caption"] == ["C0 the video", "C1 the video", "C2 the photo"]
    assert lists["video_multiple_choice"] == lists["multiple_choice"]
    assert "OTHER" not in lists and len(lists) == 8
    assert parse_official_templates(checkout / "olmo" / "preprocessing" / "data_formatter.py") == lists


def draws(seed: int, *bounds: int) -> list[int]:
    """The successive ``randint(0, n)`` results of a fresh RandomState(seed)."""
    rng = np.random.RandomState(seed)
    return [int(rng.randint(0, n)) for n in bounds]


def test_pointing_template_draw(checkout: Path) -> None:
    cfg = FormatterConfig.from_official(checkout, system_prompt="none")
    for seed in range(8):
        rng = np.random.RandomState(seed)
        conv = format_annotation(Pointing("Red Car", np.array([[50.0, 50.0]]), (100, 100)), cfg, rng)
        (i,) = draws(seed, 4)
        assert conv.messages[0] == f"P{i} red car"
        ref = np.random.RandomState(seed)
        ref.randint(0, 4)
        assert rng.randint(0, 10**6) == ref.randint(0, 10**6)  # exactly one draw spent


def test_video_short_answer_template_then_answer_draw(checkout: Path) -> None:
    """A short-answer video question: the template draw first, then the answer draw among the tied
    answers, then the style prefix (demo_or_style_v2: 'video_short_answer:', no draw)."""
    cfg = FormatterConfig.from_official(checkout)
    templates = ["About the video: {question}", "Q1 {question} (short)", "Briefly, from the picture: {question}"]
    for seed in range(8):
        rng = np.random.RandomState(seed)
        conv = format_conversation(VQA("What moves?", ["a dog", "a cat", "a cat", "a dog"], style="video_short_answer"),
                                   cfg, rng)
        t, a = draws(seed, 3, 2)
        assert conv.messages == ["video_short_answer: " + templates[t].replace("{question}", "What moves?"),
                                 ["a dog", "a cat"][a]]
        ref = np.random.RandomState(seed)
        ref.randint(0, 3), ref.randint(0, 2)
        assert rng.randint(0, 10**6) == ref.randint(0, 10**6)


def test_image_vqa_keeps_the_question(checkout: Path) -> None:
    cfg = FormatterConfig.from_official(checkout)
    rng = np.random.RandomState(0)
    conv = format_conversation(VQA("What colour?", "red", style="vqa2"), cfg, rng)
    assert conv.messages == ["vqa2: What colour?", "red"]
    assert rng.randint(0, 10**6) == np.random.RandomState(0).randint(0, 10**6)  # no draw at all


def test_multiple_choice_and_caption_draws(checkout: Path) -> None:
    cfg = FormatterConfig.from_official(checkout, system_prompt="none")
    mc = MultipleChoice("Which?", ["x", "y"], 1, style="video_multiple_choice")
    for seed in range(12):
        rng = np.random.RandomState(seed)
        conv = format_annotation(mc, cfg, rng)
        ref = np.random.RandomState(seed)
        if ref.random() < 0.1:  # the fixed lettered form, 10 % of training
            assert conv.messages[0] == "Which?\nOnly return the correct answer option.\nA. x\nB. y"
        else:
            i = ref.randint(0, 2)
            assert conv.messages[0] == ["M0 Which? A. x\nB. y", "M1 Which?\nA. x\nB. y"][i]
        assert conv.messages[1] == "B. y"
    cap = format_annotation(Caption("A dog runs.", style="long_caption"), cfg, np.random.RandomState(4))
    assert cap.messages == [f"C{draws(4, 3)[0]} the " + ["image", "picture", "photo"][draws(4, 3)[0]], "A dog runs."]


@pytest.mark.parametrize(("text", "message"), [
    ("GENERAL_PROMPTS_V1 = build()\n", "not a dict literal"),
    ('GENERAL_PROMPTS_V1 = {"a": [f"{x}"]}\n', "list of string literals"),
    ('GENERAL_PROMPTS_V1 = {"a": ["x"]}\nGENERAL_PROMPTS_V1["b"] = [p.upper() for p in GENERAL_PROMPTS_V1["a"]]\n',
     "replace"),
    ('GENERAL_PROMPTS_V1 = {"a": ["x"]}\nGENERAL_PROMPTS_V1["b"] = GENERAL_PROMPTS_V1["zzz"]\n', "not defined"),
    ("PROMPTS = {}\n", "no GENERAL_PROMPTS_V1"),
    ("def broken(:\n", "not parseable"),
])
def test_unknown_layouts_fail_clearly(tmp_path: Path, text: str, message: str) -> None:
    f = tmp_path / "data_formatter.py"
    f.write_text(text)
    with pytest.raises(ConfigError, match=message):
        FormatterConfig.from_official(f)
    with pytest.raises(ConfigError, match="not found"):
        FormatterConfig.from_official(tmp_path / "nowhere")


OFFICIAL_CHECKOUT = Path("/work/official")


@pytest.mark.skipif(not (OFFICIAL_CHECKOUT / "olmo").is_dir(), reason="no allenai/molmo2 checkout on this machine")
def test_a_real_checkout_gives_the_official_counts() -> None:
    lists = parse_official_templates(OFFICIAL_CHECKOUT)
    assert {k: len(lists[k]) for k in OFFICIAL_TEMPLATE_COUNTS} == OFFICIAL_TEMPLATE_COUNTS
