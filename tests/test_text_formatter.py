"""Formatter: FORMATS.md §1 and §2 worked examples, exactly."""

from __future__ import annotations

import numpy as np
import pytest

from molmo2_data.errors import AnnotationError, ConfigError
from molmo2_data.example import (
    Caption,
    ClockTime,
    Count,
    Message,
    Messages,
    MultipleChoice,
    Pointing,
    Subtitle,
    Track,
    VideoPointing,
)
from molmo2_data.text import point_format as pf
from molmo2_data.text.formatter import (
    Conversation,
    FormatContext,
    FormatterConfig,
    format_annotation,
    format_input_timestamp,
    format_subtitles,
    format_turns,
    render_turns,
    seconds_to_timestamp,
    style_prefix,
)
from molmo2_data.text.templates import DEFAULT_TEMPLATES, OFFICIAL_TEMPLATE_COUNTS, canonical_style

SFT = FormatterConfig.sft()
CATS = [(320, 240), (10.4, 470), (600, 20)]
TAG = '<points coords="1 1 016 979 2 500 500 3 938 042">cats</points>'


def rng(seed: int = 0) -> np.random.RandomState:
    return np.random.RandomState(seed)


def answer(ann, cfg=SFT, seed=0, ctx=None) -> str:
    return format_annotation(ann, cfg, rng(seed), ctx).messages[1]


# §2.3 examples 1-4
@pytest.mark.parametrize(("mode", "expected"), [
    ("point", TAG),
    ("point_count", f"Counting the {TAG} shows a total of 3."),
    ("count_then_point", f"There are 3 {TAG}."),
    ("count", "3"),
])
def test_image_pointing_answers(mode, expected):
    assert answer(Pointing("Cats", CATS, (640, 480), mode=mode)) == expected


def test_empty_points_say_none():
    for mode in ("point", "point_count"):
        assert answer(Pointing("Cats", [], (640, 480), mode=mode)) == "There are none."
    assert answer(Count("cats", 0)) == "There are none."
    assert answer(Count("cats", 7)) == "7"


def test_scaling_rounds_half_to_even_and_pads():
    assert pf.scale_points(np.array([[0.0, 16.0], [1000.0, 137.5]]), (1000, 1000)).tolist() == [[0, 16], [1000, 138]]
    assert pf.scale_points(np.array([[0.0125, 0.0]]), (1, 1)).tolist() == [[12, 0]]  # 12.5 -> 12
    assert pf.points_string(np.array([[0, 16], [1000, 5]])) == "1 000 016 2 1000 005"


def test_video_point_count_example_5():
    ann = VideoPointing("birds", [0.5, 2.0, 63.5], [(50, 50), (12.34, 80), (99.96, 0.04)], [0, 0, 2], (100, 100))
    assert answer(ann) == ('Counting the <points coords="0.5 1 123 800 2 500 500;2.0 ;63.5 3 1000 000">birds'
                           '</points> shows a total of 3.')
    v1 = answer(ann, SFT.replace(point_format="html-v1"))
    assert 'coords="0.5 1 123 800 2 500 500\t2.0 \t63.5 3 1000 000"' in v1
    no_empty = answer(ann, SFT.replace(empty_video_frames=False))
    assert 'coords="0.5 1 123 800 2 500 500;63.5 3 1000 000"' in no_empty


def test_multi_image_example_6():
    ann = Pointing("dogs", [(100, 50), (20, 30), (5, 5)], (1, 1), mode="point_count", image_index=[0, 0, 2],
                   image_scales=((200, 100), (1, 1), (10, 10)))
    assert answer(ann) == ('Counting the <points coords="1 1 100 300 2 500 500;3 3 500 500">dogs</points> '
                           'shows a total of 3.')


def _track7(style="video_point_track_all"):
    return Track("person", [0.0, 0.5, 1.0], [(10, 20), (50, 60), (52, 61), (0, 0), (5, 6), (12, 22), (90, 90)],
                 [0, 0, 1, 1, 2, 2, 2], [3, 7, 7, 3, 7, 3, 9], [0, 0, 0, 1, 0, 0, 0], (100, 100), style=style)


def test_tracks_example_7():
    t = _track7()
    keep = ~t.occluded
    v2 = pf.track_coords(t.timestamps, t.points, t.frame_index, t.object_ids, keep, t.scale, "html-v2")
    assert pf.html_tag(v2, "person", "tracks") == (
        '<tracks coords="0.0 1 100 200 2 500 600;0.5 2 520 610;1.0 1 120 220 2 050 060 3 900 900">person</tracks>')
    v1 = pf.track_coords(t.timestamps, t.points, t.frame_index, t.object_ids, keep, t.scale, "html-v1")
    assert v1 == v2.replace(";", "\t")


def _dog8(fps, style="video_point_track_per_frame", only_obj0=False):
    pts = [(100, 50), (110, 55), (120, 60), (20, 300), (25, 310), (30, 320)]
    fi, obj, occ = [0, 1, 2, 1, 2, 3], [0, 0, 0, 1, 1, 1], [0, 0, 1, 0, 0, 0]
    if only_obj0:
        pts, fi, obj, occ = pts[:3], fi[:3], obj[:3], occ[:3]
    return Track("dog", [0.0, 0.5, 1.0, 1.5], pts, fi, obj, occ, (200, 400), fps=fps, style=style)


def test_per_frame_track_example_8():
    # seed 0: rng.random() >= 0.5 -> the fps template
    q, a = format_annotation(_dog8(2), SFT, rng(0)).messages
    assert q == "Track dog in 2 FPS."
    assert a == '<tracks coords="0.0 1 500 125;0.5 1 550 138 2 100 750;1.0 2 125 775;1.5 2 150 800">dog</tracks>'
    q1, a1 = format_annotation(_dog8(1), SFT, rng(0)).messages
    assert (q1, a1) == ("Track dog in 1 FPS.", '<tracks coords="0.0 1 500 125;1.0 2 125 775">dog</tracks>')
    # rng.random() < 0.5 at fps 2 -> a template without fps
    seed = next(s for s in range(50) if np.random.RandomState(s).random() < 0.5)
    assert format_annotation(_dog8(2), SFT, rng(seed)).messages[0] == "Track dog."


def test_single_point_track_example_9():
    ann = _dog8(2, style="video_single_point_track_per_frame", only_obj0=True)
    eval_cfg = SFT.replace(training=False)
    q, a = format_annotation(ann, eval_cfg, rng(0)).messages
    assert q == 'Track <points coords="0.0 1 500 125">dog</points> in 2 FPS.'
    assert a == '<tracks coords="0.5 1 550 138">dog</tracks>'


def test_ground_start_end_quirk_5_and_12():
    ann = _dog8(2, style="video_point_ground_start_end")
    turns = format_turns(ann, SFT, rng(0))
    # quirk 12: the style is not in DEMO_STYLES, so it gets a prefix under demo_or_style_v2
    assert turns[0].text.startswith("<|im_start|>user\nvideo_point_ground_start_end: For each dog")
    # quirk 5: obj0's last sighting (1.0) is occluded, so obj0 has no end point
    assert turns[1].text == '<tracks coords="0.0 1 500 125;0.5 2 100 750;1.5 2 150 800">dog</tracks>'
    fixed = format_annotation(ann, SFT.replace(ground_counts_occluded=False), rng(0)).messages[1]
    assert fixed == '<tracks coords="0.0 1 500 125;0.5 1 550 138 2 100 750;1.5 2 150 800">dog</tracks>'


def test_tracks_without_loaded_frames_quirk_13():
    ctx = FormatContext(frame_times=np.array([0.25, 0.75]))
    assert answer(_dog8(2), ctx=ctx) == "No tracks available."
    empty = Track("dog", [0.0], np.zeros((0, 2)), [], [], [], (1, 1), fps=2)
    assert answer(empty) == "There are none."
    ctx2 = FormatContext(frame_times=np.array([0.0, 0.5, 1.005]))
    assert answer(_dog8(2), ctx=ctx2) == (
        '<tracks coords="0.0 1 500 125;0.5 1 550 138 2 100 750;1.0 2 125 775">dog</tracks>')


def test_molmo_v1_points_example_10():
    cfg = FormatterConfig.molmo_v1()
    assert answer(Pointing("cat", [(320, 240)], (640, 480)), cfg) == (
        '<point x="50.0" y="50.0" alt="cat">cat</point>')
    many = '<points x1="1.6" y1="97.9" x2="50.0" y2="50.0" x3="93.8" y3="4.2" alt="cat">cat</points>'
    assert answer(Pointing("cat", CATS, (640, 480)), cfg) == many
    assert answer(Pointing("cat", CATS, (640, 480), mode="point_count"), cfg) == (
        f"Counting the {many} shows a total of 3.")
    with pytest.raises(ConfigError):
        answer(_dog8(2), cfg)


def test_clamp_quirk_4():
    pts = np.array([[120.0, 50.0], [50.0, 120.0], [-10.0, -5.0]])
    assert pf.scale_points(pts, (100, 100)).tolist() == [[1000, 500], [500, 1000], [0, 0]]
    assert pf.scale_points(pts, (100, 100), clamp="official").tolist() == [[1000, 500], [500, 1200], [-100, -50]]


# §1.1 / §1.2 message formats
def test_qwen3_turns():
    msgs = Messages([Message("user", "What is 2+2?"), Message("assistant", "4"), Message("user", "And 3+3?"),
                     Message("assistant", "6")], style="text_sft")
    turns = format_turns(msgs, SFT, rng())
    assert [t.text for t in turns] == [
        "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n", "4",
        "<|im_end|>\n<|im_start|>user\nAnd 3+3?<|im_end|>\n<|im_start|>assistant\n", "6"]
    assert [t.loss for t in turns] == [False, True, False, True]
    single = format_turns(msgs, SFT.replace(double_im_end=False), rng())
    assert single[2].text == "\n<|im_start|>user\nAnd 3+3?<|im_end|>\n<|im_start|>assistant\n"


def test_role_format_molmo_v1():
    cfg = FormatterConfig.molmo_v1()
    conv = Conversation(["Q1", "A1", "Q2", "A2"], "user_qa")
    assert [t.text for t in render_turns(conv, cfg)] == [" User: Q1 Assistant:", " A1", " User: Q2 Assistant:", " A2"]
    assert render_turns(conv, cfg.replace(always_start_with_space=False))[0].text == "User: Q1 Assistant:"
    turns = format_turns(Pointing("cat", [(1, 1), (2, 2)], (10, 10), mode="point_count", style="point_count"),
                         cfg.replace(prompt_templates="uber_model_v2"), rng())
    assert turns[0].text == " User: point_count: How many cat are there? Assistant:"


# §1.3 prefixes
def test_demo_or_style_v2():
    assert style_prefix("vqa2", SFT, rng()) == "vqa2:"
    qa = Messages([Message("user", "How many cats?"), Message("assistant", "3")], style="vqa2")
    assert format_turns(qa, SFT, rng())[0].text == "<|im_start|>user\nvqa2: How many cats?<|im_end|>\n<|im_start|>assistant\n"
    for style in ("pointing", "user_qa", "video_multiple_choice", "a_okvqa_mc", "text_sft"):
        assert style_prefix(style, SFT, rng()) == ""
    assert style_prefix("eval_short_answer", SFT, rng()) == "vqa2:"
    assert style_prefix("video_eval_short_answer", SFT, rng()) == "video_short_answer:"
    assert canonical_style("eval_multi_image_mc") == "multi_image_mc"
    assert canonical_style("video_multiple_choice_count_without_pointing") == "video_multiple_choice"
    assert canonical_style("x_count_without_pointing", True) == "x_count_without_pointing"
    with pytest.raises(ConfigError):
        style_prefix(None, SFT, rng())
    assert style_prefix(None, SFT.replace(system_prompt="none"), rng()) == ""


def test_style_and_length_v2():
    cfg = FormatterConfig.pretrain()
    caption = "x" * 150
    # seed 44: random() > 0.1 and int(normal(scale=25)) == 7 -> (150 + 7) // 15 = 10
    assert style_prefix("long_caption", cfg, rng(44), answer=caption) == "long_caption 10:"
    assert style_prefix("long_caption", cfg, rng(7), answer=caption) == "long_caption:"  # random() <= 0.1
    assert style_prefix("pointing", cfg, rng(44)) == "pointing:"
    assert style_prefix("long_caption", cfg.replace(training=False), rng(0)) == "long_caption 65:"
    turns = format_turns(Caption(caption), cfg, rng(44))
    assert turns[0].text == "<|im_start|>user\nlong_caption 10:<|im_end|>\n<|im_start|>assistant\n"
    # prompt_templates="none": pointing prompt is the lower-cased label
    assert format_turns(Pointing("Cats", CATS, (640, 480)), cfg, rng(0))[0].text == (
        "<|im_start|>user\npointing: cats<|im_end|>\n<|im_start|>assistant\n")


def test_demo_or_style_random():
    cfg = SFT.replace(system_prompt="demo_or_style", prompt_templates="uber_model_v2")
    assert style_prefix("pointing", cfg, rng(44)) == ""
    assert style_prefix("pointing", cfg, rng(7)) == "pointing:"
    assert style_prefix("demo", cfg, rng(7)) == ""
    assert style_prefix("vqa2", cfg, rng(44)) == "vqa2:"


# §1.4 templates
def test_templates_drawn_by_rng():
    seen = {format_annotation(Pointing("Cats", CATS, (640, 480)), SFT, rng(s)).messages[0] for s in range(20)}
    assert seen == {"Point to cats\nPlease say 'There are none.' if it is not in the image.", "show me all visible cats"}
    assert DEFAULT_TEMPLATES["video_point"][0] == (
        "Point to {label}\nPlease say 'There are none.' if it is not in the video.")
    assert format_annotation(Caption("A cat."), SFT, rng()).messages == ["Describe this image.", "A cat."]
    assert all(len(DEFAULT_TEMPLATES[k]) <= n for k, n in OFFICIAL_TEMPLATE_COUNTS.items() if k in DEFAULT_TEMPLATES)
    custom = SFT.replace(templates={"pointing": ["Where is the {label}?"]})
    assert format_annotation(Pointing("Cat", [(1, 1)], (2, 2)), custom, rng()).messages[0] == "Where is the cat?"
    with_q = Pointing("Cat", [(1, 1)], (2, 2), question="Find the cat")
    assert format_annotation(with_q, SFT, rng()).messages[0] == "Find the cat"


def test_multiple_choice():
    mc = MultipleChoice("What is X?", ["moon", "sun"], 1)
    eval_cfg = SFT.replace(training=False)
    assert format_annotation(mc, eval_cfg, rng()).messages == [
        "What is X?\nOnly return the correct answer option.\nA. moon\nB. sun", "B. sun"]
    assert format_turns(mc, SFT, rng())[0].text.startswith("<|im_start|>user\nWhat is X?\n")  # no prefix (MC style)
    with pytest.raises(AnnotationError):  # issue #12: rejected when built, before the formatter
        format_annotation(MultipleChoice("q", ["a"], 3), SFT, rng())


def test_clock_and_messages():
    clock = ClockTime(8, 15, 30, "8:15:30", question="What time is it?")
    assert format_annotation(clock, SFT, rng()).messages == ["What time is it?", "8:15:30"]
    sysmsg = Messages([Message("system", "Be brief."), Message("user", "Hi"), Message("assistant", "Hello")])
    assert format_turns(sysmsg, SFT, rng())[0].text == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
    with pytest.raises(AnnotationError):  # issue #12: rejected when built, before the formatter
        format_annotation(Messages([Message("assistant", "x")]), SFT, rng())


# §2.4 timestamps, §4.3 subtitles
def test_timestamps():
    assert [format_input_timestamp(t, True) for t in (5.0, 63.45, 3725.25)] == ["5.0", "63.5", "3725.2"]
    assert [format_input_timestamp(t, False) for t in (5.0, 63.45, 3725.25)] == [
        "00:00:05.0", "00:01:03.5", "01:02:05.2"]
    assert seconds_to_timestamp(59.96) == "00:00:60.0"  # '%04.1f' of the seconds, as the official code


def test_subtitles():
    subs = (Subtitle(0.2, 0.9, "Hello there"), Subtitle(5.0, 6.0, "far away"))
    assert format_subtitles(subs, np.array([0.0, 0.5, 1.0])) == "subtitle\n0.2 - 0.9 Hello there\n"
    assert format_subtitles(subs, None) == "subtitle\n0.2 - 0.9 Hello there\n5.0 - 6.0 far away\n"
    assert format_subtitles(subs, np.array([4.0]), window=1.0) == "subtitle\n5.0 - 6.0 far away\n"
    assert format_subtitles("plain text", None) == "subtitle\nplain text"
    assert format_subtitles(subs, np.array([0.0]), clip_start=5.0) == "subtitle\n0.0 - 1.0 far away\n"
    assert format_subtitles(subs, np.array([30.0])) == "subtitle\n"  # header kept, as the vision stage
    assert format_subtitles((), None) == ""
