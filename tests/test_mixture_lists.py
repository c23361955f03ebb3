"""Mixtures as the seeds write them: a list of {"name", "weight"} (seeds 001 and 002)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from molmo2_data.errors import ConfigError
from molmo2_data.loading.loader import get_dataloader
from molmo2_data.loading.mixtures import custom_mixture

SEED_001 = [  # seed 001, "Multitask with PixMo", verbatim
    {"name": "pixmo_cap", "weight": 0.4},
    {"name": "pixmo_points", "weight": 0.2},
    {"name": "pixmo_count", "weight": 0.15},
    {"name": "pixmo_docs", "weight": 0.15},
    {"name": "pixmo_cap_qa", "weight": 0.1},
]


def test_list_equals_the_dict_form(tmp_path: Path) -> None:
    as_dict = custom_mixture({d["name"]: d["weight"] for d in SEED_001})
    assert custom_mixture(SEED_001) == as_dict
    f = tmp_path / "mix.json"
    f.write_text(json.dumps(SEED_001))
    from_file = custom_mixture(f)
    assert from_file.groups == as_dict.groups and from_file.name == "mix"
    y = tmp_path / "mix.yaml"
    y.write_text("".join(f"- name: {d['name']}\n  weight: {d['weight']}\n" for d in SEED_001))
    assert custom_mixture(y).groups == as_dict.groups
    assert [(g.name, g.rate) for g in as_dict.groups] == [(d["name"], d["weight"]) for d in SEED_001]


@pytest.mark.parametrize(("spec", "message"), [
    ([{"name": "pixmo_cap"}], "entry 0 must be"),
    ([{"name": "pixmo_cap", "weight": 0.5, "rate": 1}], "entry 0 must be"),
    ([{"name": "pixmo_cap", "weight": 0.5}, {"name": "pixmo_cap", "weight": 0.2}], "listed twice"),
    ([{"name": "pixmo_cap", "weight": -1}], "pixmo_cap"),
    ([{"name": "pixmo_cap", "weight": float("nan")}], "pixmo_cap"),
    ([], "empty"),
    (["pixmo_cap"], "entry 0 must be"),
])
def test_bad_lists_are_config_errors(spec: list, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        custom_mixture(spec)


def test_seed_list_drives_the_loader(sample_root: Path) -> None:
    """Seed 001's list, names with underscores, straight into get_dataloader."""
    with get_dataloader("sft", batch_size=2, root=sample_root, mixture=SEED_001, sequence_length=2048,
                        framework="numpy", packing_buffer=8, seed=1) as dl:
        it = iter(dl)
        members = {m["member"] for _ in range(4) for row in next(it)["metadata"] for m in row}
        assert set(dl.report["rates"]) == {d["name"] for d in SEED_001}
    assert members <= {d["name"] for d in SEED_001} and len(members) >= 3
    with pytest.raises(ConfigError, match="listed twice"):
        get_dataloader("sft", root=sample_root, mixture=SEED_001 + SEED_001[:1])


@pytest.mark.parametrize(("spec", "message"), [
    ([{"name": "pixmo_cap", "weight": 0.5}, {"name": "pixmo-cap", "weight": 0.5}],
     r"dataset 'pixmo-cap' is listed twice \(also as 'pixmo_cap'\)"),
    ({"pixmo_cap_qa": 1, "pixmo-cap-qa": 1}, r"'pixmo-cap-qa' is listed twice \(also as 'pixmo_cap_qa'\)"),
    ({"groups": {"a": {"rate": 1, "members": ["pixmo-cap"]}, "b": {"rate": 1, "members": {"Pixmo_Cap": None}}}},
     r"'Pixmo_Cap' is listed twice \(also as 'pixmo-cap'\)"),
    ([{"name": "pixmo_cap", "weight": float("inf")}], r"rate of 'pixmo_cap' must be a finite number >= 0, got inf"),
    ([{"name": "", "weight": 1}], "non-empty strings"),
])
def test_one_dataset_in_two_spellings_is_a_duplicate(spec: object, message: str) -> None:
    """The seeds write pixmo_cap, the catalog pixmo-cap: both name one dataset, which may be listed once."""
    with pytest.raises(ConfigError, match=message):
        custom_mixture(spec)


def test_unknown_name_suggests_close_matches(sample_root: Path) -> None:
    with pytest.raises(ConfigError, match=r"member 'pixmo_cpa': unknown dataset 'pixmo_cpa'; did you mean "
                                          r"'pixmo-cap', 'pixmo-cap-qa'"):
        get_dataloader("sft", root=sample_root, mixture=[{"name": "pixmo_cpa", "weight": 1.0}])


def test_cli_mixture_file_in_the_seed_form(sample_root: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """`molmo2-data loader --mixture seed.yaml` with seed 002's list (its own dataset name swapped for one
    of the sample's), and the same file with a typo: exit status 2 and the close match."""
    from molmo2_data.cli.main import main

    good = tmp_path / "seed.yaml"
    good.write_text("- name: pixmo_cap_qa\n  weight: 0.5\n- name: pixmo_cap\n  weight: 0.5\n")
    assert main(["loader", "--stage", "pretraining", "--mixture", str(good), "--steps", "1", "--framework",
                 "numpy", "--sequence-length", "1024", "--root", str(sample_root)]) == 0
    out = capsys.readouterr().out
    assert "stage pretraining: mixture seed, 2 datasets" in out
    bad = tmp_path / "typo.json"
    bad.write_text(json.dumps([{"name": "pixmo_cap", "weight": 0.5}, {"name": "pixmo_cpa", "weight": 0.5}]))
    assert main(["loader", "--mixture", str(bad), "--root", str(sample_root)]) == 2
    err = capsys.readouterr().err
    assert "unknown dataset 'pixmo_cpa'; did you mean 'pixmo-cap'" in err and "Traceback" not in err
