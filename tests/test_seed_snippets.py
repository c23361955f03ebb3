"""The seed documents' Python snippets run against the sample data, adapted only in import paths and
data paths (the SEED_IMPORTS map below, also in the README's "Seed snippets" table)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"

# import path in the seeds -> ours; nothing else in a snippet changes except data paths
SEED_IMPORTS = {
    "from olmo.data.pixmo_datasets import": "from molmo2_data.datasets.pixmo_datasets import",
    "from olmo.data.dataset import": "from molmo2_data import",
    "from olmo.data.get_dataset import": "from molmo2_data.datasets import",
    "from data.loaders import": "from molmo2_data.loaders import",
}


def blocks(seed: str) -> list[str]:
    files = sorted(SEEDS.glob(f"{seed}_*.txt"))
    if not files:
        if os.environ.get("CI"):
            pytest.fail(f"seed documents not found next to the repository ({SEEDS})")
        pytest.skip(f"seed documents not found next to the repository ({SEEDS})")
    return re.findall(r"```python\n(.*?)```", files[0].read_text(), flags=re.S)


def block(seed: str, contains: str) -> str:
    (code,) = [b for b in blocks(seed) if contains in b]
    for theirs, ours in SEED_IMPORTS.items():
        code = code.replace(theirs, ours)
    return code


def run(code: str, namespace: dict | None = None) -> dict:
    ns = {"__name__": "seed_snippet"} if namespace is None else namespace
    exec(compile(code, "seed", "exec"), ns)
    return ns


@pytest.mark.parametrize(("contains", "keys"), [
    ("PixMoCap(split=", ("caption", "image")),
    ("PixMoPoints(split=", ("query", "points")),
    ("PixMoCount(split=", ("query", "count")),
    ("PixMoDocs(split=", ("questions", "answers")),
])
def test_seed_001_usage(data_env: Path, capsys: pytest.CaptureFixture[str], contains: str, keys: tuple) -> None:
    ns = run(block("001", contains))
    ex = ns["example"]
    out = capsys.readouterr().out
    for key in keys:
        assert key in ex
        value = ex[key]
        assert value is not None
    if "PixMoCap" in contains:
        assert ex["image"].shape == ex.images[0].load().shape and ex["caption"] == ex.annotations[0].text
        assert f"Image shape: {ex['image'].shape}" in out
    if "PixMoCount" in contains:
        assert ex["count"] == ex.annotations[0].count and f"Count: {ex['count']}" in out
    if "PixMoDocs" in contains:
        assert ex["questions"] == [m.content for a in ex.annotations for m in a.messages if m.role == "user"]
        assert len(ex["questions"]) == len(ex["answers"]) >= 1


def test_seed_001_mixture_list(data_env: Path) -> None:
    from molmo2_data.loading.loader import get_dataloader

    ns = run(block("001", '{"name": "pixmo_cap", "weight": 0.4}'))
    with get_dataloader("pretraining", batch_size=1, mixture=ns["datasets"], framework="numpy",
                        sequence_length=1024, packing_buffer=4) as dl:
        assert set(dl.report["rates"]) == {d["name"] for d in ns["datasets"]}


def test_seed_000_get_dataloader(data_env: Path) -> None:
    ns = run(block("000", "train_loader = get_dataloader("))
    for name in ("train_loader", "sft_loader"):
        dl = ns[name]
        assert dl.num_workers == 4
        dl.close()
    assert ns["train_loader"].sequences_per_batch == 32 and ns["sft_loader"].sequences_per_batch == 16


def test_seed_002_custom_dataset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from PIL import Image

    (tmp_path / "images").mkdir()
    Image.new("RGB", (40, 30), (200, 10, 10)).save(tmp_path / "images" / "a.png")
    (tmp_path / "train.json").write_text(json.dumps([{"image_filename": "a.png", "question": "Colour?",
                                                      "answer": "red", "id": "a"}]))
    ns = {"__name__": "seed_snippet"}
    run("from typing import Any, Dict\n", ns)  # the seed's annotations use them without importing
    run(block("002", "class MySimpleDataset(DatasetBase)"), ns)
    run(block("002", 'dataset = MySimpleDataset(split="train", data_dir="/path/to/data")')
        .replace("/path/to/data", str(tmp_path)), ns)
    out = capsys.readouterr().out
    assert "Question: Colour?" in out and "Answer: red" in out and "Image shape: (30, 40, 3)" in out
    test_code = block("002", "def test_dataset():").replace('split="train")', f'split="train", data_dir="{tmp_path}")')
    run(test_code.replace('if __name__ == "__main__":', "if True:"), ns)
    assert "Dataset tests passed" in capsys.readouterr().out
    ex = ns["dataset"].example(0)  # and as an Example, through the same dict view
    assert "image" in ex and ex["messages"][1]["content"] == "red"
    assert np.array_equal(ex["image"][0, 0], [200, 10, 10])
