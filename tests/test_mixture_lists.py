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
