"""Formatter parity with the official code (issue 15 §5): tracks, label case, alternative text, integer
timestamps, VQA answer choice, inference prompts. Expected strings are derived by hand from the
official point formatter's rules (FORMATS.md §2)."""

from __future__ import annotations

import numpy as np
import pytest

from molmo2_data.example import VQA, Example, ImageRef, Metadata, Pointing, Track, VideoPointing
from molmo2_data.text import load_tokenizer
from molmo2_data.text.formatter import FormatterConfig, format_annotation, select_vqa_answer
from molmo2_data.text.parse import parse_points
from molmo2_data.text.tokenize import TokenizeConfig, tokenize_example, tokenize_prompt

PLAIN = FormatterConfig(prompt_templates="none", system_prompt="none", training=False)


def answer(ann, cfg=PLAIN, seed=0) -> str:
    return format_annotation(ann, cfg, np.random.RandomState(seed)).messages[1]


def test_all_occluded_track_is_an_empty_answer() -> None:
    times = np.array([0.0, 0.5, 1.0])
    track = Track("Red Car", times, np.array([[10.0, 10.0], [20.0, 20.0]]), np.array([0, 1]), np.array([0, 0]),
                  np.array([True, True]), (100, 100), fps=2, style="video_point_track_all_frames")
    assert answer(track) == ""
    seen = Track("Red Car", times, np.array([[10.0, 10.0], [20.0, 20.0]]), np.array([0, 1]), np.array([0, 0]),
                 np.array([False, True]), (100, 100), fps=2, style="video_point_track_all_frames")
    assert answer(seen) == '<tracks coords="0.0 1 100 100">Red Car</tracks>'  # the label's case kept


def test_label_case() -> None:
    pts = np.array([[50.0, 50.0]])
    assert answer(Pointing("Red Car", pts, (100, 100))) == '<points coords="1 1 500 500">red car</points>'
    vp = VideoPointing("Red Car", np.array([1.5]), pts, np.array([0]), (100, 100), mode="point", style="video_point")
    assert answer(vp) == '<points coords="1.5 1 500 500">Red Car</points>'
    assert format_annotation(vp, PLAIN, np.random.RandomState(0)).messages[0] == "Red Car"


def test_alternative_text() -> None:
    pts = np.array([[50.0, 50.0], [25.0, 75.0]])
    tag = answer(Pointing("car", pts, (100, 100), alt_text="the red car"))
    assert tag == '<points alt="the red car" coords="1 1 250 750 2 500 500">car</points>'
    assert parse_points(tag, (100, 100)).tolist() == [[25.0, 75.0], [50.0, 50.0]]
    vp = VideoPointing("car", np.array([2.0]), pts[:1], np.array([0]), (100, 100), mode="point",
                       style="video_point", alt_text="a car")
    assert answer(vp) == '<points alt="a car" coords="2.0 1 500 500">car</points>'
    tr = Track("car", np.array([0.0]), pts[:1], np.array([0]), np.array([0]), np.array([False]), (100, 100),
               fps=2, style="video_point_track_all_frames", alt_text="a car")
    assert answer(tr) == '<tracks alt="a car" coords="0.0 1 500 500">car</tracks>'


def test_integer_timestamps_print_as_integers() -> None:
    pts = np.array([[50.0, 50.0], [10.0, 10.0]])
    as_int = VideoPointing("dog", [10, 12], pts, np.array([0, 1]), (100, 100), mode="point", style="video_point")
    as_float = VideoPointing("dog", [10.0, 12.0], pts, np.array([0, 1]), (100, 100), mode="point",
                             style="video_point")
    assert as_int.timestamps.dtype == np.int64 and as_float.timestamps.dtype == np.float64
    assert answer(as_int) == '<points coords="10 1 500 500;12 2 100 100">dog</points>'
    assert answer(as_float) == '<points coords="10.0 1 500 500;12.0 2 100 100">dog</points>'


def test_vqa_answer_choice_and_rng_draws() -> None:
    # most frequent wins, but a list always spends one draw (the official randint over the candidates)
    rng, ref = np.random.RandomState(3), np.random.RandomState(3)
    assert select_vqa_answer(["yes", "no", "yes"], rng) == "yes"
    ref.randint(0, 1)
    assert rng.randint(0, 1000) == ref.randint(0, 1000)
    # a tie: candidates in order of first occurrence, index drawn by randint(0, 2)
    for seed in range(6):
        want = ["red", "blue"][np.random.RandomState(seed).randint(0, 2)]
        assert select_vqa_answer(["red", "blue", "blue", "red", "green"], np.random.RandomState(seed)) == want
    # a single answer string spends no draw
    rng, ref = np.random.RandomState(5), np.random.RandomState(5)
    assert select_vqa_answer("42", rng) == "42" and rng.randint(0, 1000) == ref.randint(0, 1000)
    conv = format_annotation(VQA("What colour?", ["red", "red", "blue"], style="vqa2"), PLAIN, np.random.RandomState(0))
    assert conv.messages == ["What colour?", "red"]


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer("qwen3")


def test_inference_prompt_is_the_training_prefix(tok) -> None:
    ex = Example([VQA("What colour is the square?", ["red", "red", "blue"], style="vqa2")],
                 Metadata(dataset="t", split="validation"), images=(ImageRef(array=np.zeros((8, 8, 3), np.uint8)),))
    cfg = TokenizeConfig(formatter=FormatterConfig(training=False))
    vision = np.full(5, tok.encode("<im_patch>")[0], np.int64)  # a 5-patch vision layout
    train = tokenize_example(ex, tok, cfg, np.random.RandomState(1), vision=[vision])
    prompt = tokenize_prompt(ex, tok, cfg, np.random.RandomState(1), vision=[vision])
    p = len(prompt.ids)
    assert np.array_equal(prompt.ids, train.ids[:p])
    first_loss = int(np.flatnonzero(train.loss_weights > 0)[0])
    assert first_loss == p - 1  # the first learned target is the first token after the prompt
    assert tok.decode(prompt.ids[-3:].tolist()) == "<|im_start|>assistant\n"
    assert prompt.answer == "red" and prompt.n_vision_tokens == 5
    assert tok.decode(train.ids[p:].tolist()).startswith("red")
    with pytest.raises(ValueError, match="out of range"):
        tokenize_prompt(ex, tok, annotation=1)
