"""Prompt templates and style sets (FORMATS.md §1.3, §1.4).

FORMATS.md gives the *number* of official templates per list but only a few of their texts. The lists
below hold exactly the texts the spec quotes (marked ``official``) and, for lists the spec quotes no
text of, one template of ours (marked in :data:`PLACEHOLDER_LISTS`). The full official lists are not
reproduced, so a template draw ``rng.randint(0, len(list))`` picks among fewer prompts than Molmo2
did; pass ``templates=`` to :class:`~molmo2_data.text.formatter.FormatterConfig` to use other lists.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

# Official template counts (FORMATS.md §1.4), for documentation and tests.
OFFICIAL_TEMPLATE_COUNTS: dict[str, int] = {
    "pointing": 43, "point_count": 60, "count_then_point": 6, "only_count": 6, "long_caption": 23,
    "short_caption": 11, "video_point": 43, "video_point_count": 60, "video_count": 6,
    "video_count_point": 6, "video_point_track_per_frame": 10, "video_point_track_per_frame_default_fps": 8,
    "video_single_point_track_per_frame": 12, "video_point_ground_start_end": 7,
    "multi_image_pointing": 11, "multi_image_point_then_count": 14, "multi_image_counting": 9,
    "multi_image_count_then_point": 9, "refexp_pointing": 14, "multiple_choice": 11,
}

_IMAGE_LISTS: dict[str, list[str]] = {
    # official texts quoted by FORMATS.md §1.4
    "pointing": [
        "Point to {label}\nPlease say 'There are none.' if it is not in the image.",
        "show me all visible {label}",
    ],
    "point_count": ["How many {label} are there?"],
    "count_then_point": ["Count the {label} in the image, then point to them."],
    "long_caption": ["Describe this image."],
    # ours (no official text in the spec)
    "only_count": ["How many {label} are in the image?"],
    "short_caption": ["Write a short caption for this image."],
    "refexp_pointing": ["Point to {label}"],
    # multi-image keywords as the official: {selected_label}, {selected_images} ("all images", "image_1, ...")
    "multi_image_pointing": ["Mark every {selected_label} you can find in {selected_images}."],
    "multi_image_point_then_count": ["Point out each {selected_label} in {selected_images} and say how many."],
    "multi_image_counting": ["What is the number of {selected_label} across {selected_images}?"],
    "multi_image_count_then_point": ["Give the number of {selected_label} in {selected_images}, then mark them."],
    "chain_of_thought": ["{question} Think it through step by step, then state the short answer."],
    "clocks": ["What time is being shown?"],
    "short_answer": ["{question} Answer in a few words.", "Reply briefly: {question}"],
}

_TRACK_LISTS: dict[str, list[str]] = {
    # official texts quoted by FORMATS.md §2.2 / §2.3
    "video_point_track_per_frame": ["Track {label} in {fps} FPS."],
    "video_point_track_per_frame_default_fps": ["Track {label}."],
    "video_single_point_track_per_frame": ["Track {input_points} in {fps} FPS."],  # {input_points}: the start point
    # ours
    "video_point_ground_start_end": ["For each {label}, point to where it first and last appears."],
    "video_long_caption": ["Describe this video."],
    "video_short_caption": ["Write a short caption for this video."],
    "video_transcript": ["Transcribe what is said in this video."],
    "video_motion_caption": ["Describe how things move in this video."],
    "video_object_caption": ["In a sentence or two, say what the {object} does in this video."],
}

# Multiple choice (official ``multiple_choice_templates.py``): ``str.format`` strings with the fields
# question / options / instruction / option_type; markers are ``%``-patterns for the option name.
_MC_LISTS: dict[str, list[str]] = {
    "mc_option_name_instructions": ["Reply with the {option_type} of the right option only.",
                                    "Give just the {option_type} of your choice."],
    "mc_option_instructions": ["Pick the option that answers the question.", "Reply with the right option."],
    "mc_option_instructions_typed": ["Reply with the option's {option_type} followed by its text."],
    "mc_option_templates": ["{question}\n{options}\n{instruction}",
                            "{instruction}\n\nQ: {question}\nChoices:\n{options}"],
    "mc_option_name_templates": ["{question}\nChoices:\n{options}\nGive the {option_type} of the right choice.",
                                 "Which {option_type} answers this? {question}\n{options}"],
    "mc_instruction_templates": ["{question}\nChoices:\n{options}\nPick the right choice.",
                                 "Choose from the list below.\n{question}\n{options}"],
    "mc_common_markers": ["%s. ", "(%s) "],
    "mc_weird_markers": ["%s - ", "%s] "],
    "mc_bullets": ["\u2022", "-"],
}

PLACEHOLDER_LISTS: frozenset[str] = frozenset({
    "video_motion_caption", "video_object_caption", "short_answer", "video_short_answer", "only_count", "short_caption", "refexp_pointing", "multi_image_pointing", "multi_image_point_then_count",
    "multi_image_counting", "multi_image_count_then_point", "clocks", "video_point_ground_start_end", "chain_of_thought",
    "video_long_caption", "video_short_caption", "video_transcript", "video_count", *_MC_LISTS,
})

_VIDEO_WORDS = re.compile(r"\b(image|picture|photo)\b")


def videoize(template: str) -> str:
    """The official video lists are the image lists with image/picture/photo -> video."""
    return _VIDEO_WORDS.sub("video", template)


def default_templates() -> dict[str, list[str]]:
    out = {k: list(v) for k, v in _IMAGE_LISTS.items()}
    out.update({k: list(v) for k, v in _TRACK_LISTS.items()})
    out.update({k: list(v) for k, v in _MC_LISTS.items()})
    for video, image in (("video_point", "pointing"), ("video_point_count", "point_count"),
                         ("video_count", "only_count"), ("video_count_point", "count_then_point"),
                         ("video_short_answer", "short_answer")):
        out[video] = [videoize(t) for t in out[image]]
    return out


DEFAULT_TEMPLATES: Mapping[str, list[str]] = default_templates()

# --------------------------------------------------------------------------------------------
# Style sets (FORMATS.md §1.3)
# --------------------------------------------------------------------------------------------

DEMO_STYLES: frozenset[str] = frozenset({
    "point_count", "pointing", "cosyn_point", "user_qa", "long_caption", "short_caption",
    "video_long_caption", "video_short_caption", "video_point_track_per_frame", "video_point_track_start_end",
    "video_single_point_track_start_end", "video_transcript", "video_clip_caption_start_end",
    "video_clip_caption_start_end_in_seconds", "video_clip_transcript_start_end",
    "video_clip_transcript_start_end_in_seconds", "video_frame_caption_timestamp",
    "video_frame_caption_timestamp_in_seconds", "correction_qa", "text_sft", "video_point",
    "video_point_count", "video_count", "video_count_point", "multi_image_pointing", "multi_image_counting",
    "multi_image_point_then_count", "multi_image_count_then_point",
})
VIDEO_MC_STYLES: frozenset[str] = frozenset({
    "video_multiple_choice", "video_multiple_choice_count_without_pointing",
    "video_multiple_choice_multiple_correct", "video_multiple_choice_w_subtitle",
})
IMAGE_MC_STYLES: frozenset[str] = frozenset({
    "a_okvqa_mc", "ai2_diagram_no_letter", "ai2_diagram", "science_qa", "eval_multiple_choice",
    "multi_image_mc", "multi_image_mc_exp", "mantis_instruct_mc", "eval_multi_image_mc",
})
POINTING_LENGTH_FREE: frozenset[str] = frozenset({"pointing", "point_count", "cosyn_point"})

_EVAL_REMAP: dict[str, str] = {
    "eval_short_answer": "vqa2",
    "eval_multiple_choice": "a_okvqa_mc",
    "video_eval_short_answer": "video_short_answer",
    "video_eval_multiple_choice": "video_multiple_choice",
    "video_eval_multiple_choice_w_subtitle": "video_multiple_choice_w_subtitle",
}


_COUNT_WITHOUT_POINTING = ("video_short_answer_count_without_pointing", "video_multiple_choice_count_without_pointing")


def canonical_style(style: str, separate_count_without_pointing: bool = False, training: bool = True) -> str:
    """Official remapping applied before choosing a prefix: the two ``*_count_without_pointing`` video
    styles to their base style (at eval always, in training unless kept separate), then eval styles to
    their training styles."""
    if style in _COUNT_WITHOUT_POINTING and (not training or not separate_count_without_pointing):
        style = style[: -len("_count_without_pointing")]
    style = _EVAL_REMAP.get(style, style)
    if style.startswith("eval_multi_image_"):
        style = "multi_image_" + style[len("eval_multi_image_"):]
    return style
