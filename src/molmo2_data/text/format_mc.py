"""Multiple-choice questions -> conversations, with the official draw order (``template_options`` and
``template_mc_question`` of allenai/molmo2).

Under ``uber_model_v2`` every multiple-choice question in training is templated: 10 % (and always at
eval) in the fixed lettered form, otherwise with randomly chosen option labels (letters, numbers,
numerals), markers, separators, instruction and layout. The sentences come from the ``mc_*`` lists of
the template mapping (ours by default, the official ones with ``FormatterConfig.from_official``);
the sequence of ``rng`` calls is the official one, so with the official lists the text and every
later draw of the example agree with Molmo2.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence

import numpy as np

from molmo2_data.errors import ConfigError
from molmo2_data.example import MultipleChoice
from molmo2_data.text.format_base import MC_INSTRUCTION, Conversation, FormatterConfig

# option naming schemes and what they are called in instructions (the official order and sets)
OPTION_NAMES: tuple[tuple[Sequence[str], str], ...] = (
    (string.ascii_uppercase, "letter"),
    (string.ascii_lowercase, "letter"),
    (tuple(str(i) for i in range(1, 21)), "number"),
    (("i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x"), "numeral"),
)
INLINE_SEPARATORS = (";", " ||| ")


def _pick(options: Sequence[str], rng: np.random.RandomState, key: str) -> str:
    if not options:
        raise ConfigError(f"no multiple-choice templates for {key!r}")
    return options[rng.randint(0, len(options))]


def template_mc(question: str, options: Sequence[str], rng: np.random.RandomState,
                lists: Mapping[str, Sequence[str]], p_label_options: float = 0.8, p_inline: float = 0.1,
                p_instruction: float = 0.5, p_label_only: float = 0.25) -> tuple[str, list[str], list[str]]:
    """(prompt, option names, accepted outputs) for labelled options, drawing in the official order:
    label-only output, labelled options, inline, instruction template, marker (common 80 %), naming
    scheme, separator, option-type wording, instruction, template."""
    options = [str(o) for o in options]
    label_only = rng.random() < p_label_only
    labelled = label_only or rng.random() < p_label_options
    inline = rng.random() < p_inline
    use_instruction = rng.random() < p_instruction
    marker, option_type = "", None
    if labelled:
        key = "mc_common_markers" if rng.random() > 0.2 else "mc_weird_markers"
        marker = _pick(lists.get(key, ()), rng, key)
        names, option_type = OPTION_NAMES[rng.randint(0, len(OPTION_NAMES))]
        texts = [marker % n + o for n, o in zip(names, options, strict=False)]
        outputs = list(names[:len(options)]) if label_only else texts
        option_names = list(names[:len(texts)])
    else:
        texts, outputs, option_names = options, options, options

    seps = [s for s in INLINE_SEPARATORS if s not in marker.strip() and not any(o.endswith(s) for o in options)]
    if labelled:
        seps.append("")
    if inline and seps:
        sep = seps[rng.randint(0, len(seps))]
        option_string = " ".join(t if i == len(texts) - 1 or t.endswith(sep) else t + sep
                                 for i, t in enumerate(texts))
    elif not labelled and rng.random() < 0.5:
        bullet = "\n" + _pick(lists.get("mc_bullets", ()), rng, "mc_bullets") + " "
        option_string = bullet.lstrip() + bullet.join(texts)
    else:
        option_string = "\n".join(texts)

    if labelled:
        r = rng.random()
        option_type = option_type if r < 0.6 else "identifier" if r < 0.8 else "label"
    values = dict(question=question, options=option_string, option_type=str(option_type))
    if use_instruction:
        if label_only:
            instructions = list(lists.get("mc_option_name_instructions", ()))
        else:
            instructions = list(lists.get("mc_option_instructions", ()))
            if option_type is not None:
                instructions += list(lists.get("mc_option_instructions_typed", ()))
        instruction = _pick(instructions, rng, "mc_option_instructions").format(**values)
        key = "mc_option_templates"
        values["instruction"] = instruction
    else:
        key = "mc_option_name_templates" if label_only else "mc_instruction_templates"
    prompt = _pick(lists.get(key, ()), rng, key).format(**values)
    return prompt, option_names, outputs[:len(texts)]


def _fixed_form(ann: MultipleChoice) -> tuple[str, list[str]]:
    letters = string.ascii_uppercase
    if len(ann.options) > len(letters):
        raise ConfigError("more than 26 options")
    outputs = [f"{p}. {o}" for p, o in zip(letters, ann.options, strict=False)]
    return "\n".join(outputs), outputs


def format_multiple_choice(ann: MultipleChoice, cfg: FormatterConfig, rng: np.random.RandomState
                           ) -> Conversation:
    """Official ``template_options`` (``uber_model_v2``): the fixed lettered form at eval and 10 % of
    training, else :func:`template_mc` (options always labelled when the answer option is blank).
    ``prompt_templates='none'``: question, lettered options, no draw (official ``format_options``)."""
    if not 0 <= ann.answer_index < len(ann.options):
        raise ConfigError(f"answer_index {ann.answer_index} out of range for {len(ann.options)} options")
    option_text, outputs = _fixed_form(ann)
    if cfg.prompt_templates == "none":
        return Conversation([ann.question + "\n" + option_text + "\n", outputs[ann.answer_index]], ann.style)
    if not cfg.training or rng.random() < 0.1:
        return Conversation([ann.question + MC_INSTRUCTION + option_text, outputs[ann.answer_index]], ann.style)
    p_label = 0.8 if str(ann.options[ann.answer_index]).strip() else 1.0
    prompt, names, outputs = template_mc(ann.question, ann.options, rng, cfg.templates, p_label_options=p_label)
    if ann.answer_index >= len(names):
        raise ConfigError(f"answer_index {ann.answer_index}: the drawn option names ({len(names)}) do not reach it")
    return Conversation([prompt, outputs[ann.answer_index]], ann.style)
