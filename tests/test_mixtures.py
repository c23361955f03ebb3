"""Mixture rates reproduce the worked numbers of MIXTURES.md §4."""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import pytest

from molmo2_data.errors import ConfigError
from molmo2_data.loading.mixtures import STAGES, Group, Member, Mixture, custom_mixture, molmo2_sft


def test_sqrt_size_inside_a_group() -> None:
    mix = Mixture("t", (Group("g", 0.3, (Member("a"), Member("b"), Member("c"))), Group("h", 0.7, (Member("d"),))))
    r = mix.rates({"a": 400_000, "b": 100_000, "c": 100_000, "d": 5})
    assert [round(r[k], 3) for k in "abc"] == [0.150, 0.075, 0.075]
    assert list(r) == sorted(r)  # alphabetical, as the official probability vector


def test_official_sft_video_pointing_rates() -> None:
    # with every group present the group rates sum to 1.10 and are renormalised
    groups = [Group(n, r, (Member(n),)) for n, r in
              [("demo", 0.15), ("va", 0.20), ("ia", 0.25), ("tr", 0.15), ("ip", 0.10), ("nlp", 0.0995), ("hc", 0.0005)]]
    vp = Group("video_pointing", 0.15, tuple(Member("videopoint", key=k, size=1, multiplier=m) for k, m in
                                             [("p05", 0.4), ("p625", 0.3), ("p2660", 0.1), ("acad", 0.2)]))
    mix = Mixture("sft", (*groups, vp))
    lengths = {g.name: 1000 for g in groups} | {"p05": 10, "p625": 10, "p2660": 10, "acad": 10}
    r = mix.rates(lengths)
    assert [round(r[k], 3) for k in ("p05", "p625", "p2660", "acad")] == [0.055, 0.041, 0.014, 0.027]
    assert round(r["demo"], 3) == 0.136 and abs(sum(r.values()) - 1) < 1e-12


def test_virtual_sizes() -> None:
    assert Member("x", size=100_000).size_term(5) == pytest.approx(316.227766)
    assert Member("x", size=0.25).size_term(400) == pytest.approx(10.0)
    assert Member("x", size=0).size_term(400) == 1.0
    assert Member("x", multiplier=1.5).size_term(100) == 15.0


def test_absent_members_are_renormalised_away() -> None:
    r = molmo2_sft().rates({"pixmo_cap": 10, "tulu4": 10})
    assert set(r) == {"pixmo_cap", "tulu4"}
    assert r["pixmo_cap"] == pytest.approx(0.15 / (0.15 + 0.0995))


def test_custom_mixtures(tmp_path) -> None:
    assert custom_mixture({"a": 3, "b": 1}).rates({"a": 5, "b": 500}) == {"a": 0.75, "b": 0.25}
    (tmp_path / "m.yaml").write_text("groups:\n  g1: {rate: 1, members: {a: null, b: 100}}\n")
    r = custom_mixture(tmp_path / "m.yaml").rates({"a": 400, "b": 10**6})
    assert r["a"] == pytest.approx(20 / 30)
    with pytest.raises(ConfigError, match="rate of 'a'"):
        custom_mixture({"a": -1})


def test_stage_lengths_follow_the_seed_and_official_recipes() -> None:
    assert STAGES["pretraining"].sequence_length == 4096 and STAGES["sft"].sequence_length == 16384
    assert STAGES["long-context"].sequence_length == 36864 and STAGES["long-context"].max_frames == 384
    assert STAGES["molmo2-pretrain"].sequence_length == 2536
    assert STAGES["pretraining"].mixture().rates({n: 10 for n in ["pixmo-cap", "pixmo-points", "pixmo-count",
                                                                   "pixmo-docs", "pixmo-cap-qa"]})["pixmo-cap"] == 0.6


def test_official_sft_image_pointing_uses_high_res_sometimes() -> None:
    from molmo2_data.loading.loader import build_encoder
    from molmo2_data.text.tokenizer import load_tokenizer

    mix = molmo2_sft()
    enc = build_encoder(STAGES["molmo2-sft"], load_tokenizer("qwen3"), 16384, mix, 128)
    assert enc.p_high_res == {"molmo2-multiimagepoint": 0.3, "pixmo-points": 0.3, "pixmo-count": 0.3,
                              "cosyn-point": 0.3}


def video_tokens(frames: int) -> int:
    """Tokens of a video of ``frames`` frames sampled at 2 fps: 81 pooled patches (378 px / 14 px patches,
    pooled 3x3) plus the frame's timestamp tokens, as the SFT stages lay them out."""
    from molmo2_data.text.tokenizer import load_tokenizer
    from molmo2_data.vision.video import VideoConfig, frame_layout, sample_times

    per_frame = (27 // 3) ** 2
    assert per_frame == 81
    times = sample_times(frames / 2.0, VideoConfig().max_fps, frames)
    assert len(times) == frames
    return len(frame_layout(times, per_frame, False, load_tokenizer("qwen3").encode))


def test_stage_lengths_hold_the_stage_frames() -> None:
    """Why SFT is 16,384 and long context 36,864 tokens although seed 000 says 4,096 and "up to 16K": the
    stage's frames (128 / 384 at 2 fps) do not fit the seed's numbers (the counts in mixtures.py's comments)."""
    sft, long = video_tokens(STAGES["sft"].max_frames), video_tokens(STAGES["long-context"].max_frames)
    assert (sft, long) == (11117, 33573)
    assert 4096 < sft <= STAGES["sft"].sequence_length == 16384
    assert 16384 < long <= STAGES["long-context"].sequence_length == 36864
    assert video_tokens(47) <= 4096 < video_tokens(48)  # the seed's SFT length holds 47 frames, not 128
    assert video_tokens(188) <= 16384 < video_tokens(189)  # "up to 16K" holds 188 frames, not 384
    assert STAGES["sft"].sequence_length == STAGES["molmo2-sft"].sequence_length
    assert STAGES["long-context"].sequence_length == STAGES["molmo2-long-context"].sequence_length


SHARED = Path(__file__).resolve().parents[2] / "shared"


def shared_text(pattern: str) -> str:
    files = sorted(SHARED.glob(pattern))
    if not files:
        if os.environ.get("CI"):
            pytest.fail(f"{pattern} not found next to the repository ({SHARED})")
        pytest.skip(f"{pattern} not found next to the repository ({SHARED})")
    return files[0].read_text(encoding="utf-8")


def test_stage_values_are_the_seeds_where_they_fit() -> None:
    """Each seed-stage value the seed gives (and that fits) is seed 000's number, read from the seed."""
    seed = shared_text("seeds/000_*.txt")
    pre, sft, long = STAGES["pretraining"], STAGES["sft"], STAGES["long-context"]
    assert "Sequence length: 4096 tokens" in seed and pre.sequence_length == 4096
    assert "Batch size: 256 (distributed)" in seed and pre.global_batch_size == 256
    assert "Batch size: 128 (distributed)" in seed and sft.global_batch_size == 128
    assert "Frames per video: F=128 (standard), F=384 (long-context)" in seed
    assert (sft.max_frames, long.max_frames) == (128, 384)
    assert "Frame rate: S=2 fps" in seed and sft.max_fps == long.max_fps == 2.0
    assert "Frames per video: N/A (image only)" in seed  # so pretraining frames are the official crop budget
    assert pre.max_frames == STAGES["molmo2-pretrain"].max_frames == 16
    # the crop budget per packed sequence grows with the length: 16 x 4096 / 2536 -> next power of two
    assert pre.packing_max_crops == 2 ** math.ceil(math.log2(16 * 4096 / 2536)) == 32


def test_official_stage_values_are_the_spec_table() -> None:
    """The molmo2-* stages (and the lengths the seed stages keep) are the official numbers of the shared
    spec's stage table (MIXTURES.md §1: launch_scripts/pretrain.py, sft.py and the README command)."""
    spec = shared_text("spec/MIXTURES.md")
    row = next(line for line in spec.splitlines() if line.startswith("| Sequence length |"))
    lengths = [int(x.replace(",", "")) for x in re.findall(r"\b\d{1,2},\d{3}\b", row)]
    assert lengths == [STAGES[s].sequence_length for s in ("molmo2-pretrain", "molmo2-sft", "molmo2-long-context")]
    assert lengths == [2536, 16384, 36864]
    frames = next(line for line in spec.splitlines() if line.startswith("| Video frames |"))
    assert "max_frames=16" in frames and "≤128 frames" in frames and "≤384 frames" in frames
    assert [STAGES[s].max_frames for s in ("molmo2-pretrain", "molmo2-sft", "molmo2-long-context")] == [16, 128, 384]
    seeds = next(line for line in spec.splitlines() if line.startswith("| Data seed / train seed |"))
    assert [STAGES[s].data_seed for s in ("molmo2-pretrain", "molmo2-sft")] == [95818, 50189]
    assert "95818" in seeds and "50189" in seeds


def test_group_shares_official_vs_here() -> None:
    """Official share = group rate / sum of group rates; here = the present members' renormalised rates;
    a group with no member present gets 0 and the others grow."""
    from molmo2_data.loading.mixtures import Group
    from molmo2_data.loading.shares import format_shares, group_shares

    mix = Mixture("t", (Group("a", 0.3, (Member("x"), Member("y"))), Group("b", 0.6, (Member("z"),)),
                        Group("c", 0.1, (Member("w"),))))
    rates = mix.rates({"x": 100, "z": 400})  # y and w absent
    rows = group_shares(mix, rates, {"y": "no local table under /r", "w": "no examples available locally"})
    assert [(r["group"], round(r["official"], 6)) for r in rows] == [("a", 0.3), ("b", 0.6), ("c", 0.1)]
    assert [round(r["here"], 6) for r in rows] == [round(0.3 / 0.9, 6), round(0.6 / 0.9, 6), 0.0]
    assert rows[0]["present"] == ["x"] and rows[2]["absent"] == {"w": "no examples available locally"}
    lines = format_shares(rows, ["SOMETHING (not in the catalog)"])
    assert lines[1] == "a                     30.0%   33.3%  y (not downloaded; size unknown without its table)"
    assert lines[-1] == "  SOMETHING (not in the catalog)"
    # an absent member with a virtual size: the share it would have had is known (0.3 * 30 / (10 + 30))
    mix = Mixture("t", (Group("a", 0.3, (Member("x"), Member("v", size=900))), Group("b", 0.7, (Member("z"),))))
    rates = mix.rates({"x": 100, "z": 400})
    rows = group_shares(mix, rates, {"v": "no local table under /r"}, {"x": 100, "z": 400})
    assert rows[0]["would_have"] == {"v": pytest.approx(0.3 * 30 / 40)}
    assert "v (not downloaded; ~22.5%)" in format_shares(rows, [])[1]


def test_molmo2_sft_image_academic_share_on_the_sample(sample_root) -> None:
    """Every official image-academic member is in the sample data, so the group gets its official
    share (0.25 / 1.10 = 22.7 %); over 2,000 drawn examples it is achieved within 2 points."""
    from molmo2_data.loading.loader import get_dataloader
    from molmo2_data.loading.mixtures import molmo2_sft

    with get_dataloader("molmo2-sft", root=sample_root, framework="numpy") as dl:
        groups = {r["group"]: r for r in dl.report["groups"]}
        source = dl._core.source
        drawn = [source.draw(e)[0].member.name for e in range(2000)]
    ia = groups["image_academic"]
    official = {m.name for g in molmo2_sft().groups if g.name == "image_academic" for m in g.members}
    assert len(official) == 32 and {"coco_2014_vqa_multi", "plot_qa", "cosyn_document"} <= official
    assert abs(ia["official"] - 0.25 / 1.10) < 1e-12
    assert set(ia["present"]) == official and not ia["absent"]
    assert abs(ia["here"] - ia["official"]) < 1e-6
    achieved = sum(n in official for n in drawn) / len(drawn)
    assert abs(achieved - 0.25 / 1.10) < 0.02, achieved

def test_download_sft_stage_covers_every_official_member() -> None:
    """`download --stage sft` (and `--stage all`) fetches every dataset the official SFT mixture uses."""
    from molmo2_data.datasets import canonical_name
    from molmo2_data.download.plan import STAGES as DOWNLOAD_STAGES

    used = {canonical_name(m.dataset) for g in molmo2_sft().groups for m in g.members}
    assert used <= set(DOWNLOAD_STAGES["sft"]), used - set(DOWNLOAD_STAGES["sft"])
    assert {"pixmo-ask-model-anything", "cosyn-point", "molmo2-tulu4", "molmo2-hardcodes"} <= used


def test_videopoint_members_use_the_released_defaults(sample_root: Path) -> None:
    """The released `vixmo_points_minmax_*` members call Molmo2VideoPoint without `oversample` (default
    False) and leave `p_multi_turn` at its default 0.2 (olmo/data/get_dataset.py): the recipe does the same."""
    from molmo2_data.datasets import get_dataset

    vp = [m for g in molmo2_sft().groups if g.name == "video_pointing" for m in g.members
          if m.dataset == "molmo2-videopoint"]
    assert [m.name for m in vp] == ["vixmo_points_minmax_0_5", "vixmo_points_minmax_6_25", "vixmo_points_minmax_26_60"]
    for m in vp:
        ds = get_dataset(m.dataset, root=sample_root, **m.options)
        assert ds.options["oversample"] is False and ds.options["p_multi_turn"] == 0.2
        assert len(ds) > 0  # every count range has sample examples
