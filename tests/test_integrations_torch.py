"""Plain PyTorch use of the OWA stage-4 dataset: DataLoader(vlm_dataset, batch_size=4) as seed 003 writes
it (torch's default collate), and the explicit collate_fn; both give the same batch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import shared_fixtures
from torch.utils.data import DataLoader

from molmo2_data.integrations.torch import collate_fn

OWA = shared_fixtures() / "owa"


@pytest.fixture(scope="module")
def vlm_dataset(tmp_path_factory: pytest.TempPathFactory):
    from molmo2_data.owa import VLMDatasetBuilder
    from molmo2_data.owa.binning import build_binned_dataset
    from molmo2_data.owa.events import build_event_dataset
    from molmo2_data.owa.sequences import build_mllm_dataset

    if not (OWA / "0.3.2.mcap").exists():
        pytest.fail(f"shared OWA fixtures absent at {OWA}")
    out = tmp_path_factory.mktemp("owa_torch")
    build_event_dataset(OWA, out / "events", test_percent=0.34, seed=0)
    build_binned_dataset(out / "events", out / "bins", fps=10, keep_topics=["screen", "keyboard", "mouse"])
    build_mllm_dataset(out / "bins", out / "mllm", sequence_length=32, overlap_ratio=0.5)
    builder = VLMDatasetBuilder(str(out / "mllm"), image_format="pil", max_cache_size=64)
    builder.source_path = out / "mllm"  # for the docs snippets, which open it themselves
    return builder


def check_batch(batch: dict, items: list[dict]) -> None:
    assert batch["instruction"] == [it["instruction"] for it in items]
    assert batch["encoded_events"] == [list(it["encoded_events"]) for it in items]
    assert [len(f) for f in batch["images"]] == [len(it["images"]) for it in items]
    for got, it in zip(batch["images"], items, strict=True):
        for a, b in zip(got, it["images"], strict=True):
            assert (a is None and b is None) or np.array_equal(np.asarray(a), np.asarray(b))
    assert [m["file_path"] for m in batch["metadata"]] == [it["metadata"]["file_path"] for it in items]
    assert isinstance(batch["metadata"][0], dict) and type(batch["metadata"][0]) is dict
    for key in ("action_vectors", "state_vectors"):
        want = [np.asarray(it[key]) for it in items]
        got = batch[key]
        if len({w.shape for w in want}) == 1:
            assert isinstance(got, torch.Tensor) and np.array_equal(got.numpy(), np.stack(want), equal_nan=True)
        else:  # rows per window differ: one tensor per item
            assert isinstance(got, list) and all(np.array_equal(g.numpy(), w, equal_nan=True) for g, w in zip(got, want, strict=True))


def test_default_collate_as_the_seed_writes_it(vlm_dataset) -> None:
    loader = DataLoader(vlm_dataset, batch_size=4)  # seed 003, verbatim
    batch = next(iter(loader))
    check_batch(batch, [vlm_dataset[i] for i in range(4)])
    assert sum(len(b["instruction"]) for b in loader) == len(vlm_dataset)


def test_items_keep_their_plain_types(vlm_dataset) -> None:
    item = vlm_dataset[0]
    assert isinstance(item["action_vectors"], np.ndarray) and item["action_vectors"].shape[1] == 11
    assert isinstance(item["images"], list) and isinstance(item["metadata"], dict)
    shapes = {vlm_dataset[i]["action_vectors"].shape[0] for i in range(len(vlm_dataset))}
    assert len(shapes) > 1  # windows hold different numbers of action rows: the case the collate handles


def test_collate_fn_and_workers(vlm_dataset) -> None:
    items = [vlm_dataset[i] for i in range(3)]
    check_batch(collate_fn(items), items)
    loader = DataLoader(vlm_dataset, batch_size=3, collate_fn=collate_fn, num_workers=2)
    batches = list(loader)
    assert sum(len(b["instruction"]) for b in batches) == len(vlm_dataset)
    check_batch(batches[0], items)
    with pytest.raises(ValueError, match="empty batch"):
        collate_fn([])


def _snippet(name: str) -> str:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "integrations" / name).read_text()
    return text.split("```python\n", 1)[1].split("```", 1)[0]


def test_pytorch_docs_snippet_runs(vlm_dataset, monkeypatch) -> None:
    monkeypatch.setenv("MLLM_DATASET", str(vlm_dataset.source_path))
    ns: dict = {}
    exec(compile(_snippet("pytorch.md"), "pytorch.md", "exec"), ns)
    assert len(ns["batch"]["instruction"]) == 4


def test_nanovlm_docs_snippet_runs(vlm_dataset, monkeypatch, data_env) -> None:
    import nanovlm_peer

    from molmo2_data.text.tokenizer import qwen3_tokenizer_dir

    nanovlm_peer.nanovlm_modules()  # nanoVLM's data/ package on sys.path (with the torchvision stand-in)
    monkeypatch.setenv("MLLM_DATASET", str(vlm_dataset.source_path))
    monkeypatch.setenv("NANOVLM_TOKENIZER", str(qwen3_tokenizer_dir()))
    monkeypatch.setenv("NANOVLM_CHAT_TEMPLATE", nanovlm_peer.CHAT_TEMPLATE)
    ns: dict = {}
    exec(compile(_snippet("nanovlm.md"), "nanovlm.md", "exec"), ns)
    assert ns["batch"]["input_ids"].shape[1] == 4096 and ns["pixmo_batch"]["input_ids"].shape == (2, 2048)
    assert (ns["batch"]["labels"] != -100).any()
