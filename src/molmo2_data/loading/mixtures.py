"""Stage mixtures: which datasets, at which rates, with which options.

A mixture is a list of groups with fixed rates; inside a group each member's share is proportional to
its *size term* (MIXTURES.md §4): √len by default, √N for a virtual size N ≥ 1, √(len·N) for 0 < N < 1,
1 for N = 0, times an optional multiplier (flat rates: N = 1, multiplier = rate). Group shares are then
normalised over all members (the official SFT group rates sum to 1.10, so this matters), and members are
ordered alphabetically by name as the official probability vector is.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Real
from pathlib import Path
from typing import Any

from molmo2_data.config_file import read_config_file
from molmo2_data.errors import ConfigError


@dataclass(frozen=True)
class Member:
    """One dataset of a mixture. ``key`` names it uniquely inside the mixture (a dataset may appear
    several times with different options, e.g. VideoPoint by count range)."""

    dataset: str
    options: Mapping[str, Any] = field(default_factory=dict)
    size: float | None = None  # virtual size (see module docstring); None = real length
    multiplier: float = 1.0
    loss_weight: float | None = None  # flat per-token loss weight override (0.2 pointing, 0.1 captions)
    key: str = ""
    p_high_res: float | None = None  # chance of the 24-crop high-res tiling (official image pointing: 0.3)

    @property
    def name(self) -> str:
        return self.key or self.dataset

    def size_term(self, length: int) -> float:
        if self.size is None:
            base = math.sqrt(length)
        elif self.size == 0:
            base = 1.0
        elif self.size >= 1:
            base = math.sqrt(self.size)
        else:
            base = math.sqrt(length * self.size)
        return base * self.multiplier


@dataclass(frozen=True)
class Group:
    name: str
    rate: float
    members: tuple[Member, ...]


@dataclass(frozen=True)
class Mixture:
    name: str
    groups: tuple[Group, ...]
    note: str = ""

    def members(self) -> list[Member]:
        return [m for g in self.groups for m in g.members]

    def rates(self, lengths: Mapping[str, int]) -> dict[str, float]:
        """Normalised rate per member key, for the members present in ``lengths`` (others are absent
        and the rest is renormalised). Alphabetical order, as the official vector."""
        raw: dict[str, float] = {}
        for g in self.groups:
            present = [m for m in g.members if lengths.get(m.name, 0) > 0]
            terms = {m.name: m.size_term(lengths[m.name]) for m in present}
            total = sum(terms.values())
            for k, t in terms.items():
                raw[k] = g.rate * t / total  # a later duplicate replaces an earlier one, as officially
        s = sum(raw.values())
        if s <= 0:
            raise ConfigError(f"mixture {self.name!r}: no member has examples")
        return {k: raw[k] / s for k in sorted(raw)}


def _m(dataset: str, key: str = "", **kw: Any) -> Member:
    opts = kw.pop("options", {})
    return Member(dataset=dataset, options=opts, key=key, **kw)


def molmo2_pretrain() -> Mixture:
    """Official pre-training (MIXTURES.md §2): captions 0.6 / pointing 0.3 / text 0.1."""
    return Mixture("molmo2-pretrain", (
        Group("captions", 0.6, (_m("pixmo-cap", "pixmo_cap_with_transcripts", options={"mode": "transcripts"}),)),
        Group("pointing", 0.3, (
            _m("pixmo-points", "pixmo_points_train", options={"subset": "pointing", "counting": "both"}),
            _m("pixmo-count", "pixmo_count_train", options={"counting": "both"}),
            _m("pixmo-points", "pixmo_points_high_freq_train", options={"subset": "counting", "counting": "both"}),
            _m("cosyn-point", "cosyn_point"),
        )),
        Group("text", 0.1, (_m("molmo2-tulu4", "tulu4_max_2304", options={"max_first_message_tokens": 2304}),)),
    ))


def molmo2_sft() -> Mixture:
    """Official SFT mixture ``molmo2`` (MIXTURES.md §3): every group with the official members, under the
    official names, as catalog datasets."""
    return Mixture("molmo2-sft", (
        Group("demo", 0.15, (
            _m("pixmo-ask-model-anything", "pixmo_ask_model_anything"),
            _m("pixmo-cap", "pixmo_cap", size=100000),
            _m("pixmo-cap-qa", "pixmo_cap_qa_as_user_qa"),
            _m("molmo2-multiimageqa", "pixmo_multi_image_qa_multi_only_max5"),
            _m("molmo2-askmodelanything", "molmo2_human_qa"),
            _m("molmo2-cap", "vixmo3_top_level_captions_min_3", multiplier=1.5, loss_weight=0.1),
        )),
        Group("video_academic", 0.20, (*video_academic_members(),
            _m("molmo2-videocapqa", "vixmo_syn_video_capqa_v2"),
            _m("molmo2-videosubtitleqa", "vixmo_syn_video_capqa_with_sub_v2"),
        )),
        Group("image_academic", 0.25, (
            _m("vqa-v2", "coco_2014_vqa_multi"),
            _m("text-vqa", "text_vqa"),
            _m("ok-vqa", "okvqa"),
            _m("chart-qa", "chart_qa_weighted", options={"weighted": True}),
            _m("doc-qa", "doc_qa"),
            _m("info-qa", "info_qa"),
            _m("ai2d", "ai2_diagram_v2_mix_transparent", options={"boxes": "both"}),
            _m("a-okvqa", "a_okvqa_mc", options={"direct_answer": False}),
            _m("a-okvqa", "a_okvqa_da", options={"direct_answer": True}),
            _m("science-qa-img", "science_qa_img"),
            _m("tabmwp", "tabwmp_da"),
            _m("st-qa", "st_qa"),
            _m("tally-qa", "tally_qa"),
            _m("mantis-llava-665k-multi", "mantis_instruct_llava_665k_multi_multi_only",
               options={"multi_image_only": True}),
            _m("mantis-nlvr2", "mantis_instruct_nlvr2_multi_only", options={"multi_image_only": True}),
            _m("mantis-spot-the-diff", "mantis_instruct_spot-the-diff_multi_only", options={"multi_image_only": True}),
            _m("dv-qa", "dv_qa", size=10000),
            _m("figure-qa", "figure_qa", size=10000),
            _m("plot-qa", "plot_qa", size=20000),
            *(_m("cosyn-400k", f"cosyn_{t}_exp", options={"config": t, "with_explanation": True})
              for t in ("chart", "chemical", "diagram", "math", "music", "table")),
            _m("cosyn-400k", "cosyn_document", options={"config": "document", "with_explanation": False}),
            *(_m("molmo2-synmultiimageqa", f"cosyn_multidoc_{t}_exp", options={"config": t, "with_explanation": True})
              for t in ("chart", "chemical", "diagram", "doc", "music", "table")),
        )),
        Group("tracking", 0.15, tracking_members()),
        Group("video_pointing", 0.15, (
            _m("molmo2-videopoint", "vixmo_points_minmax_0_5", size=1, multiplier=0.4, loss_weight=0.2,
               options={"min_count": 0, "max_count": 5}),
            _m("molmo2-videopoint", "vixmo_points_minmax_6_25", size=1, multiplier=0.3, loss_weight=0.2,
               options={"min_count": 6, "max_count": 25}),
            _m("molmo2-videopoint", "vixmo_points_minmax_26_60", size=1, multiplier=0.1, loss_weight=0.2,
               options={"min_count": 26, "max_count": 60}),
            _m("molmo2-academic-video-points", "academic_points_clip_63s_2fps", size=1, multiplier=0.2,
               loss_weight=0.2, options=_variant_options("academic_points_clip_63s_2fps")),
        )),
        Group("image_pointing", 0.10, (
            _m("molmo2-multiimagepoint", "pixmo_multi_points", size=200000, loss_weight=0.2, p_high_res=0.3),
            _m("pixmo-points", "pixmo_points_train", loss_weight=0.2, p_high_res=0.3, options={"subset": "pointing", "counting": "both"}),
            _m("pixmo-count", "pixmo_count_train", loss_weight=0.2, p_high_res=0.3, options={"counting": "both"}),
            _m("pixmo-points", "pixmo_points_high_freq_train", loss_weight=0.2, p_high_res=0.3,
               options={"subset": "counting", "counting": "both"}),
            _m("cosyn-point", "cosyn_point", loss_weight=0.2, p_high_res=0.3),
        )),
        Group("nlp", 0.0995, (_m("molmo2-tulu4", "tulu4", options={"max_first_message_tokens": 4096}),)),
        Group("hardcodes", 0.0005, (_m("molmo2-hardcodes", "molmo2_hardcodes"),)),
    ))


# VIDEO_ACADEMIC_DATASETS (MIXTURES.md §3) in the official order; (name, N) = virtual size N.
VIDEO_ACADEMIC: tuple[Any, ...] = (
    ("tgif", 60000), ("tvqa_with_sub", 60000), ("paxion", 60000), "llava_video_mc_academic",
    "llava_video_oe_academic", "perception_test", "nextqa_mc", "news_video_qa_filtered", "how2qa",
    "sutd_trafficqa", "social_iq2", "sportsqa_oe", "cinepile_with_sub", "clevrer", "funqa", "star", "intent_qa",
    "video_localized_narratives", "road_text_vqa", "countix_oe", "camerabench_qa", "motionbench_train",
    ("moments_in_time_qa", 60000), ("kinetics_qa", 60000), "charades_sta_all_qa", "coin_all_qa", "youcook2_all_qa",
    "activitynet_all_qa", "ego4d_all", "epic_kitchens_qa", "video_localized_narratives_caption", "qv_highlights",
)


def video_academic_members() -> tuple[Member, ...]:
    """The official academic video members, each its catalog dataset under the official name (√size
    weights inside the group, virtual sizes kept)."""
    from molmo2_data.datasets.registry import variant_of

    out = []
    for item in VIDEO_ACADEMIC:
        name, size = (item, None) if isinstance(item, str) else item
        found = variant_of(name)
        assert found is not None, name
        dataset, options = found
        out.append(_m(dataset, name, size=size, options=options))
    return tuple(out)


# Official members that the catalog does not have (reported by ``absent_official_members``).
OFFICIAL_ABSENT = {
    "molmo2-sft": [],
    "molmo2-pretrain": [],
}
OFFICIAL_ABSENT["molmo2-long-context"] = OFFICIAL_ABSENT["molmo2-sft"]


# TRACKING_MIXTURE (MIXTURES.md §3): sub-group weight w -> members; (name, N) = virtual size N. Member
# weight = sqrt(size) * w / 1.11 (1.11 = the sum of the sub-group weights), normalised over the group.
TRACKING_SUBGROUPS: tuple[tuple[str, float, tuple[Any, ...]], ...] = (
    ("track", 0.40, ("mevis_track", "ref_yt_vos_track", "lv_vis_track", ("vicas_track", 30000), "revos_track",
                     "molmo2_video_track")),
    ("track_dist_tail", 0.05, ("burst_track", "ref_davis17_track", "yt_vis_track", "moca_track")),
    ("ground", 0.20, ("mevis_ground", "lv_vis_ground", ("vicas_ground", 30000), "revos_ground",
                      "molmo2_video_track_ground")),
    ("ground_dist_tail", 0.01, ("burst_ground", "moca_ground")),
    ("single_point_track", 0.15, ("mevis_single_point_track", "lv_vis_single_point_track",
                                  "revos_single_point_track", ("vicas_single_point_track", 30000),
                                  "molmo2_video_single_point_track")),
    ("sot_from_bbox", 0.20, tuple(f"{n}_single_point_track" for n in ("webuav", "got10k", "vasttrack", "trackingnet"))),
    ("sot_from_bbox_dist_tail", 0.10, tuple(f"{n}_single_point_track" for n in (
        "burst", "lvosv1", "lvosv2", "lasot", "uwcot", "webuot", "latot", "tnl2k", "tnllt"))),
)
TRACKING_WEIGHT_SUM = 1.11


def _variant_options(name: str) -> dict[str, Any]:
    """The options of a registered official variant name (its catalog dataset's reader options)."""
    from molmo2_data.datasets.registry import variant_of

    variant = variant_of(name)
    if variant is None:  # pragma: no cover - registered by the reader module
        raise ConfigError(f"mixture: {name!r} is not a registered official name")
    return dict(variant[1])


def tracking_members() -> tuple[Member, ...]:
    """The official tracking sub-mixture as flat members: each member's multiplier is its sub-group
    weight / 1.11, virtual sizes kept; flat loss weight 0.2 (the official tracking message weight)."""
    from molmo2_data.datasets.registry import variant_of

    out = []
    for _group, w, names in TRACKING_SUBGROUPS:
        for entry in names:
            name, size = entry if isinstance(entry, tuple) else (entry, None)
            variant = variant_of(name)
            if variant is None:  # pragma: no cover - every official tracking name is registered
                raise ConfigError(f"tracking mixture: {name!r} is not a registered official name")
            dataset, options = variant
            out.append(_m(dataset, name, size=size, multiplier=w / TRACKING_WEIGHT_SUM, loss_weight=0.2,
                          options=dict(options)))
    return tuple(out)


def seed_pretraining() -> Mixture:
    """The seed document's pre-training mixture: fixed percentages."""
    flat = [("pixmo-cap", 0.60), ("pixmo-points", 0.25), ("pixmo-count", 0.05), ("pixmo-docs", 0.05),
            ("pixmo-cap-qa", 0.05)]
    return Mixture("pretraining", tuple(Group(n, r, (_m(n, size=1),)) for n, r in flat))


SEED_SFT_DATASETS = ("molmo2-cap", "molmo2-videocapqa", "molmo2-videosubtitleqa", "molmo2-askmodelanything",
                     "molmo2-videopoint", "molmo2-videotrack", "molmo2-multiimageqa", "molmo2-synmultiimageqa",
                     "molmo2-multiimagepoint")


def seed_sft(name: str = "sft") -> Mixture:
    """The seed's SFT list (no rates given there): one group, √size inside it."""
    return Mixture(name, (Group("sft", 1.0, tuple(_m(n) for n in SEED_SFT_DATASETS)),))


def check_rate(what: str, value: Any) -> float:
    """A finite real number >= 0 (not a string, not a bool), as a float."""
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(float(value)) or value < 0:
        raise ConfigError(f"{what} must be a finite number >= 0, got {value!r}")
    return float(value)


def _member_name(mixture: str, name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"mixture {mixture!r}: dataset names must be non-empty strings, got {name!r}")
    return name


def spelling(name: str) -> str:
    """The spelling-free form of a dataset name: the seeds write ``pixmo_cap``, the catalog ``pixmo-cap``;
    both resolve to one dataset (``canonical_name``), so both may not be listed in one mixture."""
    return name.strip().lower().replace("_", "-")


def _check_unique(mixture: str, names: Sequence[str]) -> None:
    """One dataset listed twice (in any spelling) would be sampled twice as often: a ConfigError."""
    seen: dict[str, str] = {}
    for n in names:
        other = seen.get(spelling(n))
        if other is not None:
            also = "" if other == n else f" (also as {other!r})"
            raise ConfigError(f"mixture {mixture!r}: dataset {n!r} is listed twice{also}")
        seen[spelling(n)] = n


def weights_from_list(items: Sequence[Any], name: str = "custom") -> dict[str, Any]:
    """The seeds' mixture list ``[{"name": "pixmo_cap", "weight": 0.4}, ...]`` -> ``{name: weight}``; a
    missing key, an unknown key or a name given twice is a ConfigError (weights are checked later)."""
    if not items:
        raise ConfigError(f"mixture {name!r}: the list of datasets is empty")
    out: dict[str, Any] = {}
    for i, item in enumerate(items):
        if not isinstance(item, Mapping) or set(item) != {"name", "weight"}:
            got = sorted(item) if isinstance(item, Mapping) else type(item).__name__
            raise ConfigError(f"mixture {name!r}: entry {i} must be {{'name': dataset, 'weight': number}}, got {got}")
        member = _member_name(name, item["name"])
        _check_unique(name, [*out, member])
        out[member] = item["weight"]
    return out


def custom_mixture(spec: Mapping[str, Any] | Sequence[Mapping[str, Any]] | str | os.PathLike,
                   name: str = "custom") -> Mixture:
    """A mixture from a dict or a YAML/JSON file: either ``{dataset: rate, ...}`` (rates used as given) or
    ``{"groups": {group: {"rate": r, "members": {dataset: size_or_null}}}}`` (√size inside a group,
    sizes as virtual-size caps). Rates and sizes must be finite numbers >= 0 with at least one rate > 0;
    anything else is a :class:`ConfigError` naming the member (and the file). The seeds' list form
    ``[{"name": dataset, "weight": w}, ...]`` is accepted as ``{dataset: w, ...}``."""
    where = ""
    if isinstance(spec, list | tuple):
        spec = weights_from_list(spec, name)
    if not isinstance(spec, Mapping):
        if not isinstance(spec, str | os.PathLike):
            raise ConfigError(f"a mixture must be a mapping or a YAML/JSON file path, got {type(spec).__name__}")
        p = Path(spec)
        if not p.is_file():
            raise ConfigError(f"{p}: no such mixture file" if not p.exists() else f"{p}: not a regular file")
        spec = read_config_file(p)  # ConfigError naming the file (and line) when unparsable
        name, where = p.stem, f"{p}: "
        if isinstance(spec, list):
            try:
                spec = weights_from_list(spec, name)
            except ConfigError as e:
                raise ConfigError(f"{where}{e}") from None
    if not isinstance(spec, Mapping) or not spec:
        raise ConfigError(f"{where}a mixture must be a non-empty mapping, got {type(spec).__name__}")
    try:
        mix = _parse_mixture(spec, name)
    except ConfigError as e:
        raise ConfigError(f"{where}{e}") from None
    return mix


def _parse_mixture(spec: Mapping[str, Any], name: str) -> Mixture:
    if "groups" in spec:
        if not isinstance(spec["groups"], Mapping) or not spec["groups"]:
            raise ConfigError(f"mixture {name!r}: 'groups' must be a non-empty mapping")
        groups = []
        for gname, g in spec["groups"].items():
            if not isinstance(g, Mapping) or "rate" not in g or "members" not in g:
                raise ConfigError(f"mixture group {gname!r} needs 'rate' and 'members'")
            rate = check_rate(f"mixture {name!r}: rate of group {gname!r}", g["rate"])
            members = g["members"]
            if isinstance(members, Sequence) and not isinstance(members, str):
                members = {m: None for m in members}
            if not isinstance(members, Mapping) or not members:
                raise ConfigError(f"mixture {name!r}: group {gname!r} needs a non-empty list or mapping of members")
            group = []
            for ds, sz in members.items():
                ds = _member_name(name, ds)
                size = None if sz is None else check_rate(f"mixture {name!r}: size of member {ds!r}", sz)
                group.append(_m(ds, size=size))
            groups.append(Group(str(gname), rate, tuple(group)))
        mix = Mixture(name, tuple(groups))
        _check_unique(name, [m.dataset for m in mix.members()])
    else:
        _check_unique(name, [_member_name(name, ds) for ds in spec])
        rates = {_member_name(name, ds): check_rate(f"mixture {name!r}: rate of {ds!r}", r) for ds, r in spec.items()}
        mix = Mixture(name, tuple(Group(ds, r, (_m(ds, size=1),)) for ds, r in rates.items()))
    if not any(g.rate > 0 for g in mix.groups):
        raise ConfigError(f"mixture {name!r}: every rate is 0; at least one must be > 0")
    return mix


@dataclass(frozen=True)
class StageConfig:
    """Everything a stage fixes besides the mixture."""

    name: str
    mixture: Callable[[], Mixture]
    sequence_length: int
    max_frames: int = 128
    max_fps: float = 2.0
    global_batch_size: int = 128
    packing: bool = True
    loss_weighting: str = "none"  # none | root_subsegments_root_tokens
    pointing_format: str = "html-v2"
    system_prompt: str = "demo_or_style_v2"
    prompt_templates: str = "uber_model_v2"
    max_crops: int = 8
    data_seed: int = 50189
    packing_max_crops: int | None = None  # crops per packed sequence (default: max(frames, 16))
    # The official stages keep the official exact knapsack; the seed stages use "fill" (fuller, ~100x
    # faster decisions; see benchmarks/README.md).
    packing_solver: str = "knapsack"


# Where each stage value comes from (docs/loader.md "Stages" has the same table; tests/test_mixtures.py
# pins the checkable ones). "seed 000" = the seed document's "Training Stages"; "official" = allenai/molmo2
# launch_scripts (pretrain.py, sft.py, README's long-context command), as in ../shared/spec/MIXTURES.md §1.
# Values not given here are the StageConfig defaults: max_fps 2.0 (seed 000 "S=2 fps"; official
# max_fps=[2]), max_crops 8 (official SigLIP2 max_crops=8, kept by SFT), global_batch_size 128 (seed 000
# SFT "128"; official global batch of every stage), data_seed 50189 (official SFT), html-v2 pointing,
# demo_or_style_v2 system prompt and uber_model_v2 templates (official sft.py get_model).
STAGES: dict[str, StageConfig] = {
    # The seed document's stages: its dataset lists and percentages.
    "pretraining": StageConfig(
        "pretraining", seed_pretraining,
        sequence_length=4096,  # seed 000 "Sequence length: 4096 tokens" (image-only, so no frame budget to hold)
        max_frames=16,  # seed 000 "N/A (image only)"; official pretrain.py max_frames=16, which only sets the crop budget
        global_batch_size=256,  # seed 000 "Batch size: 256 (distributed)" (official pretraining: 128)
        pointing_format="html-v1", system_prompt="style_and_length_v2",  # official pretrain.py DataFormatter
        prompt_templates="none",  # official pretraining has no SFT templates
        data_seed=95818,  # official pretrain.py data seed
        packing_max_crops=32,  # ours: official 16 crops x 4,096 / 2,536 tokens = 26, rounded up to 32
        packing_solver="fill"),  # ours: >= 97 % fill at ~100x the knapsack's speed (benchmarks/README.md)
    "sft": StageConfig(
        "sft", seed_sft,
        # seed 000 says 4,096 tokens *and* 128 frames: they contradict each other. 128 frames at 2 fps take
        # 11,117 tokens (81 pooled patches + a timestamp each; 4,096 holds 47 frames), so the official
        # sft.py --seq_len default 16,384 (LLM max length 4096*4, "good enough for 128 frames") is kept.
        sequence_length=16384,
        max_frames=128,  # seed 000 "F=128 (standard)"; official sft.py max_frames=128
        loss_weighting="root_subsegments_root_tokens",  # official sft.py loss_token_weighting
        packing_solver="fill"),  # ours, as pretraining
    "long-context": StageConfig(
        "long-context", lambda: seed_sft("long-context"),
        # seed 000 says "up to 16K tokens", but its own 384 frames take 33,573 tokens (16,384 holds 188
        # frames), so the official long-context --seq_len=36864 (README command) is kept.
        sequence_length=36864,
        max_frames=384,  # seed 000 "F=384"; official README --model.mm_preprocessor.video.max_frames=384
        loss_weighting="root_subsegments_root_tokens",  # official: the same sft.py
        packing_solver="fill"),  # ours, as pretraining
    # The official recipes over the catalog's datasets: every value is the official one.
    "molmo2-pretrain": StageConfig(
        "molmo2-pretrain", molmo2_pretrain,
        sequence_length=2536,  # official pretrain.py --seq_len default
        max_frames=16,  # official pretrain.py VideoPreprocessorConfig(max_frames=16): 16 crops per sequence
        pointing_format="html-v1", system_prompt="style_and_length_v2", prompt_templates="none",
        data_seed=95818),  # official pretrain.py
    "molmo2-sft": StageConfig(
        "molmo2-sft", molmo2_sft,
        sequence_length=16384,  # official sft.py --seq_len default
        max_frames=128,  # official sft.py get_model max_frames=128
        loss_weighting="root_subsegments_root_tokens"),  # official sft.py
    "molmo2-long-context": StageConfig(
        "molmo2-long-context", molmo2_sft,
        sequence_length=36864,  # official README long-context command --seq_len=36864
        max_frames=384,  # official README --model.mm_preprocessor.video.max_frames=384
        loss_weighting="root_subsegments_root_tokens"),  # official: the same sft.py
}
