"""FormatterConfig.from_official: template lists parsed from a checkout of allenai/molmo2 (never imported),
and the rng draws the official order implies, hand-computed. The official sentences are not in the
project: these tests use a file of our own in the official layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from molmo2_data.errors import ConfigError
from molmo2_data.example import VQA, Caption, Count, Message, Messages, MultipleChoice, Pointing, Track
from molmo2_data.text.format_mc import template_mc
from molmo2_data.text.formatter import FormatterConfig, format_annotation, format_conversation, style_prefix
from molmo2_data.text.official_mc_templates import MC_KEYS, parse_official_mc_templates
from molmo2_data.text.official_templates import parse_official_templates
from molmo2_data.text.templates import DEFAULT_TEMPLATES, OFFICIAL_TEMPLATE_COUNTS, canonical_style

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
GENERAL_PROMPTS_V1["video_single_point_track_per_frame"] = [
    "S0 {input_points} at {fps}", "S1 follow {input_points} ({fps})", "S2 {input_points}",
]
GENERAL_PROMPTS_V1["multi_image_pointing"] = ["MI0 {selected_label} / {selected_images}",
                                              "MI1 {selected_label} / {selected_images}"]
GENERAL_PROMPTS_V1["chain_of_thought"] = ["W0 {question} why?", "W1 {question} reasons?"]
OTHER = {"not": "read"}
'''

# the official multiple_choice_templates.py layout: builders returning f-string lists, marker constants
# (the second WEIRD_MARKERS built from the first), the bullet list inside template_mc_question
FAKE_MC = '''
import string


def build_option_name_instructions(option_type):
    assert option_type is not None
    return [
        f"N0 give the {option_type}",
        f"N1 only the {option_type}",
    ]


def build_option_instructions(option_type):
    out = [
        f"I0 pick one",
        "I1 choose",
    ]
    if option_type is not None:
        out += [
            f"I2 {option_type} and text",
        ]
    return out


def build_option_templates(q, opts, instr):
    return [
        f"OT0 {q}|{opts}|{instr}",
        f"OT1 {{{instr}}} {q} {opts}",
        f"OT2 {q}\\n{opts}\\n{instr}",
    ]


def build_option_name_templates(question: str, options: str, option_type) -> str:
    return [
        f"NT0 {question}|{options}|{option_type}",
        f"NT1 {option_type}? {question} {options}",
    ]


def build_instruction_templates(question: str, options: str, option_type) -> str:
    return [
        f"IT0 {question}|{options}",
        f"IT1 {options}|{question}",
        f"IT2 {question}/{options}",
    ]


COMMON_MARKERS = ["%s. ", "%s) "]
WEIRD_MARKERS = ["%s; ", "[%s] "]
WEIRD_MARKERS = sorted(set(WEIRD_MARKERS + [
    x.strip() for x in COMMON_MARKERS + WEIRD_MARKERS if x.strip() != "%s"]))


def template_mc_question(question, options, rng):
    if rng.random() < 0.5:
        seps = ["*", "+", "~"]
    return question
'''


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    f = tmp_path / "olmo" / "preprocessing" / "data_formatter.py"
    f.parent.mkdir(parents=True)
    f.write_text(FAKE)
    (f.parent / "multiple_choice_templates.py").write_text(FAKE_MC)
    return tmp_path


def test_lists_parsed_in_the_official_layout(checkout: Path) -> None:
    lists = parse_official_templates(checkout)
    assert lists["short_answer"][2] == "Briefly, from the picture: {question}"  # implicit concatenation
    assert lists["video_short_answer"] == ["About the video: {question}", "Q1 {question} (short)",
                                           "Briefly, from the picture: {question}"]
    assert lists["video_long_caption"] == ["C0 the video", "C1 the video", "C2 the photo"]
    assert lists["video_multiple_choice"] == lists["multiple_choice"]
    assert "OTHER" not in lists and len(lists) == 11
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


def test_mc_lists_parsed_in_the_official_layout(checkout: Path) -> None:
    lists = parse_official_mc_templates(checkout)
    assert set(lists) == set(MC_KEYS)
    # f-string fields named by role whatever the parameter names; literal braces escaped for str.format
    assert lists["mc_option_templates"][:2] == ["OT0 {question}|{options}|{instruction}",
                                                "OT1 {{{instruction}}} {question} {options}"]
    assert lists["mc_option_instructions"] == ["I0 pick one", "I1 choose"]
    assert lists["mc_option_instructions_typed"] == ["I2 {option_type} and text"]
    assert lists["mc_weird_markers"] == ["%s)", "%s.", "%s;", "%s; ", "[%s]", "[%s] "]  # sorted(set(...))
    assert lists["mc_bullets"] == ["*", "+", "~"]


def test_caption_draw(checkout: Path) -> None:
    cfg = FormatterConfig.from_official(checkout, system_prompt="none")
    (i,) = draws(4, 3)
    cap = format_annotation(Caption("A dog runs.", style="long_caption"), cfg, np.random.RandomState(4))
    assert cap.messages == [f"C{i} the " + ["image", "picture", "photo"][i], "A dog runs."]
    # the official templates only its caption styles: an image transcript has no prompt and no draw
    # (even with a "transcript" list loaded); the style prefix then says what is wanted
    cfg = cfg.replace(templates={**cfg.templates, "transcript": ["R0", "R1"]}, system_prompt="demo_or_style_v2")
    rng = np.random.RandomState(4)
    assert format_conversation(Caption("Um, a dog.", style="transcript"), cfg, rng).messages == [
        "transcript:", "Um, a dog."]
    assert rng.randint(0, 10**6) == np.random.RandomState(4).randint(0, 10**6)


MC = MultipleChoice("Q?", ["x", "y", "z"], 2, style="video_multiple_choice")


def test_mc_label_only_answer_with_an_instruction(checkout: Path) -> None:
    """Seed 2, every draw of the official template_options / template_mc_question in order."""
    cfg = FormatterConfig.from_official(checkout, system_prompt="none")
    ref = np.random.RandomState(2)
    assert ref.random() >= 0.1  # not the fixed lettered form
    assert ref.random() < 0.25  # label-only answer: options labelled, no second draw
    assert ref.random() >= 0.1  # not inline
    assert ref.random() < 0.5  # instruction template
    assert ref.random() > 0.2  # a common marker ...
    assert ref.randint(0, 2) == 0  # ... '%s. '
    assert ref.randint(0, 4) == 1  # lower-case letters
    assert ref.random() < 0.6  # the option type stays 'letter'
    assert ref.randint(0, 2) == 1  # name instruction N1
    assert ref.randint(0, 3) == 2  # option template OT2
    rng = np.random.RandomState(2)
    assert format_annotation(MC, cfg, rng).messages == ["OT2 Q?\na. x\nb. y\nc. z\nN1 only the letter", "c"]
    assert rng.randint(0, 10**6) == ref.randint(0, 10**6)


def test_mc_unlabelled_bullets(checkout: Path) -> None:
    cfg = FormatterConfig.from_official(checkout, system_prompt="none")
    ref = np.random.RandomState(4)
    assert ref.random() >= 0.1 and ref.random() >= 0.25  # templated; not label-only
    assert ref.random() >= 0.8  # options unlabelled
    assert ref.random() >= 0.1 and ref.random() >= 0.5  # not inline; no instruction template
    assert ref.random() < 0.5 and ref.randint(0, 3) == 1  # bullets, '+'
    assert ref.randint(0, 3) == 2  # instruction template IT2 (no option-type draw: unlabelled)
    rng = np.random.RandomState(4)
    assert format_annotation(MC, cfg, rng).messages == ["IT2 Q?/+ x\n+ y\n+ z", "z"]
    assert rng.randint(0, 10**6) == ref.randint(0, 10**6)


def test_mc_inline_and_fixed_forms(checkout: Path) -> None:
    cfg = FormatterConfig.from_official(checkout, system_prompt="none")
    ref = np.random.RandomState(17)
    assert ref.random() >= 0.1 and ref.random() >= 0.25 and ref.random() < 0.8  # labelled, full answer
    assert ref.random() < 0.1 and ref.random() >= 0.5  # inline, no instruction template
    assert ref.random() > 0.2 and ref.randint(0, 2) == 0 and ref.randint(0, 4) == 0  # '%s. ', A B C
    assert ref.randint(0, 3) == 1  # separator ' ||| ' of [';', ' ||| ', '']
    assert ref.random() < 0.6 and ref.randint(0, 3) == 1  # type 'letter'; IT1
    rng = np.random.RandomState(17)
    assert format_annotation(MC, cfg, rng).messages == ["IT1 A. x |||  B. y |||  C. z|Q?", "C. z"]
    assert rng.randint(0, 10**6) == ref.randint(0, 10**6)
    # seed 7: random() < 0.1, the fixed form; at eval always, with no draw
    assert np.random.RandomState(7).random() < 0.1
    fixed = ["Q?\nOnly return the correct answer option.\nA. x\nB. y\nC. z", "C. z"]
    assert format_annotation(MC, cfg, np.random.RandomState(7)).messages == fixed
    rng = np.random.RandomState(2)
    assert format_annotation(MC, cfg.replace(training=False), rng).messages == fixed
    assert rng.randint(0, 10**6) == np.random.RandomState(2).randint(0, 10**6)


def test_mc_label_probability_one(checkout: Path) -> None:
    """p_label_options=1.0 (the official value when the answer option is blank; our annotations reject
    blank options, so only template_mc sees it): seed 4, unlabelled above, labels here."""
    lists = FormatterConfig.from_official(checkout).templates
    ref = np.random.RandomState(4)
    ref.random()  # the fixed-form draw of template_options, spent by the caller
    rng = np.random.RandomState(4)
    rng.random()
    prompt, names, outputs = template_mc("Q?", ["x", "y", "z"], rng, lists, p_label_options=1.0)
    assert ref.random() >= 0.25 and ref.random() < 1.0  # not label-only; labelled (the draw is spent)
    assert names in (list("ABC"), list("abc"), ["1", "2", "3"], ["i", "ii", "iii"])
    assert outputs[2].endswith("z") and outputs[2] != "z"


def test_default_mc_lists_have_the_official_structure() -> None:
    assert set(MC_KEYS) <= set(DEFAULT_TEMPLATES)
    for seed in range(40):  # every path renders with our own sentences
        prompt, names, outputs = template_mc("Why?", ["a", "b"], np.random.RandomState(seed), DEFAULT_TEMPLATES)
        assert "Why?" in prompt and "None" not in prompt and len(names) == len(outputs) == 2


def test_single_point_track_spends_only_the_template_draw(checkout: Path) -> None:
    """The official start point comes from Python's random: the example's rng pays only the template
    draw; {label} and {input_points} are filled separately."""
    cfg = FormatterConfig.from_official(checkout, system_prompt="none")
    track = Track("Dog", [0.0, 0.5, 1.0], [(50, 50), (60, 60), (70, 70)], [0, 1, 2], [0, 0, 0],
                  [False, False, False], (100, 100), fps=2, style="video_single_point_track_per_frame")
    starts = set()
    for seed in range(30):
        rng = np.random.RandomState(seed)
        question, _ = format_annotation(track, cfg, rng).messages
        (i,) = draws(seed, 3)
        start = question.split("<points coords=")[1].split(">")[0]
        starts.add(start)
        points = f'<points coords={start}>Dog</points>'
        assert question == ["S0 {p} at 2", "S1 follow {p} (2)", "S2 {p}"][i].format(p=points)
        ref = np.random.RandomState(seed)
        ref.randint(0, 3)
        assert rng.randint(0, 10**6) == ref.randint(0, 10**6)
    assert '"0.0 1 500 500"' in starts and len(starts) > 1  # the first point, sometimes a random one


def test_empty_track_has_no_fps_free_draw(checkout: Path) -> None:
    cfg = FormatterConfig.from_official(checkout, system_prompt="none")
    empty = Track("dog", [0.0], np.zeros((0, 2)), [], [], [], (1, 1), fps=2)
    for seed in range(6):
        rng = np.random.RandomState(seed)
        (i,) = draws(seed, 2)
        assert format_annotation(empty, cfg, rng).messages == [f"T{i} dog at 2", "There are none."]
        ref = np.random.RandomState(seed)
        ref.randint(0, 2)
        assert rng.randint(0, 10**6) == ref.randint(0, 10**6)


def test_multi_image_pointing_spends_no_draw(checkout: Path) -> None:
    cfg = FormatterConfig.from_official(checkout, system_prompt="none")
    ann = Pointing("Red Dogs", [(10, 10), (20, 20)], (100, 100), image_index=[0, 1], style="multi_image_pointing")
    seen = set()
    for seed in range(12):
        rng = np.random.RandomState(seed)
        question, answer = format_annotation(ann, cfg, rng).messages
        seen.add(question.split(" ")[0])
        assert question in ("MI0 Red Dogs / all images", "MI1 Red Dogs / all images",
                            "P0 Red Dogs", "P1 Red Dogs", "P2 Red Dogs", "P3 Red Dogs")
        assert answer.endswith(">Red Dogs</points>")  # the official keeps the label's case here
        assert rng.randint(0, 10**6) == np.random.RandomState(seed).randint(0, 10**6)
    assert {"MI0", "MI1"} & seen and {"P0", "P1", "P2", "P3"} & seen


def test_exp_question_chain_of_thought_then_answer(checkout: Path) -> None:
    cfg = FormatterConfig.from_official(checkout, system_prompt="none")
    for seed in range(6):
        rng = np.random.RandomState(seed)
        conv = format_annotation(VQA("Why?", ["a", "b"], style="cosyn_chart_exp"), cfg, rng)
        t, a = draws(seed, 2, 2)
        assert conv.messages == [["W0 Why? why?", "W1 Why? reasons?"][t], ["a", "b"][a]]


def test_video_count_keeps_the_label_case() -> None:
    cfg = FormatterConfig(templates={"video_count": ["N {label}"], "only_count": ["C {label}"]}, system_prompt="none")
    assert format_annotation(Count("Red Cars", 2, style="video_count"), cfg, np.random.RandomState(0)).messages[0] \
        == "N Red Cars"
    assert format_annotation(Count("Red Cars", 2, style="point_count"), cfg, np.random.RandomState(0)).messages[0] \
        == "C red cars"


def test_official_style_remapping_and_length_hint() -> None:
    assert canonical_style("x_count_without_pointing") == "x_count_without_pointing"  # only two styles remap
    assert canonical_style("video_short_answer_count_without_pointing", True) == \
        "video_short_answer_count_without_pointing"
    assert canonical_style("video_short_answer_count_without_pointing", True, training=False) == "video_short_answer"
    # style_and_length_v2: the length of the LAST message (official messages[-1]), seed 44 as in
    # test_text_formatter: int(normal(scale=25)) == 7 -> (30 + 7) // 15 = 2
    cfg = FormatterConfig.pretrain()
    msgs = Messages([Message("user", "q1"), Message("assistant", "x" * 150), Message("user", "q2"),
                     Message("assistant", "y" * 30)], style="long_caption")
    conv = format_conversation(msgs, cfg, np.random.RandomState(44))
    assert conv.messages[0] == "long_caption 2: q1"
    assert style_prefix("long_caption", cfg, np.random.RandomState(44), answer="y" * 30) == "long_caption 2:"


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


@pytest.mark.parametrize(("text", "message"), [
    ("def build_option_templates(q):\n    return []\n", "expected 3 parameters"),
    ("def build_option_templates(q, o, i):\n    return [f'{q!r}']\n", "plain parameter name"),
    ("def build_option_templates(q, o, i):\n    return make(q)\n", "list literal"),
    ("COMMON_MARKERS = load()\n", "not a string list"),
    ("X = 1\n", "missing mc_option_name_instructions"),
])
def test_unknown_mc_layouts_fail_clearly(checkout: Path, text: str, message: str) -> None:
    mc = checkout / "olmo" / "preprocessing" / "multiple_choice_templates.py"
    mc.write_text(text)
    with pytest.raises(ConfigError, match=message) as err:
        FormatterConfig.from_official(checkout)
    assert "multiple_choice_templates.py" in str(err.value)
    mc.unlink()
    with pytest.raises(ConfigError, match="multiple_choice_templates.py: not found"):
        FormatterConfig.from_official(checkout)


OFFICIAL_CHECKOUT = Path("/work/official")


@pytest.mark.skipif(not (OFFICIAL_CHECKOUT / "olmo").is_dir(), reason="no allenai/molmo2 checkout on this machine")
def test_a_real_checkout_gives_the_official_counts() -> None:
    lists = parse_official_templates(OFFICIAL_CHECKOUT)
    assert {k: len(lists[k]) for k in OFFICIAL_TEMPLATE_COUNTS} == OFFICIAL_TEMPLATE_COUNTS
    mc = parse_official_mc_templates(OFFICIAL_CHECKOUT)
    assert {k: len(v) for k, v in mc.items()} == {
        "mc_option_name_instructions": 16, "mc_option_instructions": 14, "mc_option_instructions_typed": 2,
        "mc_option_templates": 15, "mc_option_name_templates": 9, "mc_instruction_templates": 19,
        "mc_common_markers": 4, "mc_weird_markers": 19, "mc_bullets": 10}


@pytest.mark.skipif(not (OFFICIAL_CHECKOUT / "olmo").is_dir(), reason="no allenai/molmo2 checkout on this machine")
def test_a_real_checkout_mc_equals_the_official_function() -> None:
    """multiple_choice_templates.py needs only numpy: load that one file and compare text, names,
    outputs and the rng state after, over many seeds and option lists (separators inside options too)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "official_mc", OFFICIAL_CHECKOUT / "olmo" / "preprocessing" / "multiple_choice_templates.py")
    assert spec is not None and spec.loader is not None
    official = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(official)
    lists = FormatterConfig.from_official(OFFICIAL_CHECKOUT).templates
    option_sets = [["red", "blue", "green"], ["a;", "b", "c", "d"], [str(i) for i in range(12)], ["x ||| y", "z"]]
    for seed in range(400):
        for p_label in (0.8, 1.0):
            r1, r2 = np.random.RandomState(seed), np.random.RandomState(seed)
            text, names, outputs = official.template_mc_question("Q?", option_sets[seed % 4], r1,
                                                                 p_label_options=p_label)
            assert template_mc("Q?", option_sets[seed % 4], r2, lists, p_label_options=p_label) == (
                text, list(names), list(outputs))
            assert r1.randint(0, 2**31) == r2.randint(0, 2**31)
