"""batch_format="molmo2": the official Molmo2 trainer's batch contract (allenai/molmo2
``olmo/train/trainer.py`` ``split_batch`` and ``olmo/preprocessing/multimodal_collator.py``), checked
against the default format of the same examples; and the stage's global batch split over ranks."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from molmo2_data.errors import ConfigError
from molmo2_data.loading.loader import get_dataloader, per_rank_batch_size, stage_config
from molmo2_data.loading.packing import EXAMPLE_SUBSEGMENT_STRIDE
from molmo2_data.text.tokenizer import load_tokenizer

# The official dtype and pad value of every tensor the official collator makes.
OFFICIAL = {"input_ids": (torch.int64, -1), "labels": (torch.int64, -1), "loss_masks": (torch.float32, -1),
            "position_ids": (torch.int64, -1), "subsegment_ids": (torch.int64, -1), "token_pooling": (torch.int64, -1)}
MIX_IMAGES = {"pixmo-cap": 0.5, "pixmo-points": 0.3, "molmo2-tulu4": 0.2}


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer("qwen3")


def split_batch(batch: dict[str, Any], micro: int) -> list[dict[str, Any]]:
    """The official trainer's micro-batch split, as its code states the contract: every tensor is split
    along dim 0, every list in chunks of ``micro``; any other value is an error."""
    size = batch["input_ids"].shape[0]
    parts: dict[str, Any] = {}
    for key, value in batch.items():
        if isinstance(value, torch.Tensor):
            parts[key] = value.split(micro, dim=0)
        elif isinstance(value, list):
            parts[key] = [value[micro * i: micro * (i + 1)] for i in range(math.ceil(size / micro))]
        else:
            raise ValueError(f"unexpected item in batch: '{key}={value}'")
    return [{k: v[i] for k, v in parts.items()} for i in range(len(parts["input_ids"]))]


def pair(root: Path, tok, stage: str, packing: bool, n: int = 2, **kw) -> tuple[list[dict], list[dict]]:
    """The same batches in the default and the molmo2 format (torch tensors)."""
    base = dict(stage=stage, batch_size=3, root=root, tokenizer=tok, seed=7, packing=packing, packing_buffer=6,
                mixture=MIX_IMAGES, sequence_length=1536 if stage == "molmo2-pretrain" else 2048)
    out = []
    for fmt in ("default", "molmo2"):
        with get_dataloader(**base, batch_format=fmt, **(kw if fmt == "molmo2" else {})) as dl:
            it = iter(dl)
            out.append([next(it) for _ in range(n)])
    return out[0], out[1]


@pytest.mark.parametrize(("stage", "packing"), [("molmo2-pretrain", True), ("molmo2-pretrain", False),
                                                 ("molmo2-sft", True), ("molmo2-sft", False)])
def test_official_contract(sample_root: Path, tok, stage: str, packing: bool) -> None:
    defaults, batches = pair(sample_root, tok, stage, packing)
    for ref, b in zip(defaults, batches, strict=True):
        B = b["input_ids"].shape[0]
        assert B == 3
        assert not {"cu_seqlens", "max_seqlen", "document_ids", "loss_weights", "patch_masks"} & set(b)
        for key, value in b.items():  # per-row values only: tensors [B, ...] or lists of B
            assert (value.shape[0] if isinstance(value, torch.Tensor) else len(value)) == B, key
        micro = split_batch(b, 1)
        assert len(micro) == B and all(m["input_ids"].shape == (1, b["input_ids"].shape[1]) for m in micro)
        assert [m["metadata"][0] for m in micro] == b["metadata"]
        valid = ref["input_ids"] >= 0
        for key, (dtype, pad) in OFFICIAL.items():
            assert b[key].dtype == dtype, key
            if key in ("input_ids", "labels", "loss_masks", "position_ids", "subsegment_ids"):
                assert (b[key][~valid] == pad).all(), key
        assert torch.equal(b["input_ids"], ref["input_ids"]) and torch.equal(b["position_ids"], ref["position_ids"])
        assert torch.equal(b["subsegment_ids"], ref["subsegment_ids"])
        # loss masks: the default's weights on real tokens, -1 on padding; labels: the raw targets
        assert torch.equal(b["loss_masks"][valid], ref["loss_weights"][valid])
        has_loss = ref["labels"] != -100
        assert has_loss.any() and torch.equal(b["labels"][has_loss], ref["labels"][has_loss])
        assert (b["labels"][valid] >= 0).all()
        docs = ref["document_ids"]
        assert torch.equal(torch.where(b["subsegment_ids"] >= 0, b["subsegment_ids"] // EXAMPLE_SUBSEGMENT_STRIDE,
                                       -1), docs)
        _check_images(stage, ref, b)


def _check_images(stage: str, ref: dict, b: dict) -> None:
    ref_px = ref["images"].numpy()
    px = b["images"].numpy()
    real = (ref["patch_masks"].numpy() >= 0).all(-1)  # (B, crops): crops that hold pixels
    assert real.any() and px.shape == ref_px.shape
    if stage == "molmo2-pretrain":  # official pretraining normalises on the CPU: float32 in [-1, 1], pad -1
        assert px.dtype == np.float32
        want = ref_px[real].astype(np.float32) / np.float32(255.0) * np.float32(2.0) - np.float32(1.0)
        assert np.array_equal(px[real], want)
        assert (px[~real] == -1).all()
    else:  # SFT: uint8, the model normalises; pad 0 as the official collator pads uint8
        assert px.dtype == np.uint8 and np.array_equal(px, ref_px)
    assert torch.equal(b["token_pooling"], ref["token_pooling"])
    for row in range(px.shape[0]):
        image_bounds = b["cum_image_bounds"][row].numpy()
        pool_bounds = b["cum_token_pooling_bounds"][row].numpy()
        assert image_bounds.dtype == np.int64 and pool_bounds.dtype == np.int64
        n_crops = int(real[row].sum())
        n_pool = int((b["token_pooling"][row] >= 0).any(-1).sum())
        assert (image_bounds[-1] if len(image_bounds) else 0) == n_crops
        assert (pool_bounds[-1] if len(pool_bounds) else 0) == n_pool
        assert len(image_bounds) == len(pool_bounds) and np.all(np.diff(image_bounds) > 0)
        # each example's pooling rows index only its own crops
        start_crop = start_row = 0
        for end_crop, end_row in zip(image_bounds, pool_bounds, strict=True):
            idx = b["token_pooling"][row, start_row:end_row].numpy()
            idx = idx[idx >= 0]
            n_patches = px.shape[2]
            assert idx.min() >= start_crop * n_patches and idx.max() < end_crop * n_patches
            start_crop, start_row = int(end_crop), int(end_row)


def test_images_padded_to_the_stage_crop_budget(sample_root: Path, tok) -> None:
    _, batches = pair(sample_root, tok, "molmo2-pretrain", True, n=3, pad_images_to_max=True)
    assert [tuple(b["images"].shape[:2]) for b in batches] == [(3, 16)] * 3
    assert all(b["images"].dtype == torch.float32 for b in batches)


def test_normalize_override(sample_root: Path, tok) -> None:
    _, batches = pair(sample_root, tok, "molmo2-sft", True, n=1, normalize_images=True)
    assert batches[0]["images"].dtype == torch.float32


@pytest.mark.parametrize("kw", [{"batch_format": "official"}, {"normalize_images": True},
                                {"batch_format": "molmo2", "normalize_images": "yes"}])
def test_bad_format_arguments(sample_root: Path, tok, kw: dict) -> None:
    with pytest.raises(ConfigError):
        get_dataloader("molmo2-sft", root=sample_root, tokenizer=tok, **kw)


def test_stage_global_batch_over_ranks(sample_root: Path, tok) -> None:
    pre, sft = stage_config("pretraining"), stage_config("molmo2-sft")
    assert (pre.global_batch_size, sft.global_batch_size) == (256, 128)
    assert [per_rank_batch_size(pre, w) for w in (1, 2, 4)] == [256, 128, 64]
    assert [per_rank_batch_size(sft, w) for w in (1, 2, 4)] == [128, 64, 32]
    with pytest.raises(ConfigError, match="not divisible by world size 3"):
        per_rank_batch_size(sft, 3)
    with get_dataloader("molmo2-sft", batch_size="stage", rank=1, world_size=64, root=sample_root,
                        tokenizer=tok, framework="numpy") as dl:
        assert dl.sequences_per_batch == 2
    with pytest.raises(ConfigError, match="not divisible"):
        get_dataloader("molmo2-sft", batch_size="stage", rank=0, world_size=3, root=sample_root, tokenizer=tok)


def test_docs_snippet_runs(data_env: Path) -> None:
    """docs/integrations/official-trainer.md: its snippet runs as written on the sample data."""
    text = (Path(__file__).resolve().parents[1] / "docs" / "integrations" / "official-trainer.md").read_text()
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {}
    exec(compile(code, "official-trainer.md", "exec"), namespace)
    assert len(namespace["micro_batches"]) == 2
    assert namespace["batch"]["images"].shape[1] == 16


def test_cli_reports_the_stage_batch(sample_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from molmo2_data.cli.main import main

    assert main(["loader", "--stage", "molmo2-pretrain", "--batch-size", "stage", "--world-size", "64",
                 "--steps", "1", "--batch-format", "molmo2", "--root", str(sample_root)]) == 0
    out = capsys.readouterr().out
    assert "batch: 2 sequences per rank (stage global batch 128 / world size 64)" in out
    assert "'loss_masks': [2, 2536]" in out and "cu_seqlens" not in out
    with pytest.raises(SystemExit) as exit_info:  # argparse: a bad flag is exit status 2
        main(["loader", "--batch-size", "two", "--root", str(sample_root)])
    assert exit_info.value.code == 2
