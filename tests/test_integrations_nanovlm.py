"""The nanoVLM integration, driven through nanoVLM's own data modules (../shared/peers/nanovlm): our
items equal what nanoVLM's VQADataset makes from the same images and chat, and its VQACollator batches
them; desktop (OWA) windows and PixMo examples alike."""

from __future__ import annotations

from pathlib import Path

import nanovlm_peer  # tests/nanovlm_peer.py: nanoVLM's real modules
import numpy as np
import pytest
import torch
from conftest import shared_fixtures

from molmo2_data.integrations.nanovlm import NanoVLMDataset, OWADataset

OWA = shared_fixtures() / "owa"
MP_TOKENS = 16  # tokens per image split (nanoVLM's mp_image_token_length; 64 in its default config)


@pytest.fixture(scope="module")
def nano():
    mods = nanovlm_peer.nanovlm_modules()
    tok = nanovlm_peer.nanovlm_tokenizer()
    proc = mods.processors.get_image_processor(512, 256)
    return mods, tok, proc


@pytest.fixture(scope="module")
def vlm_dataset(tmp_path_factory: pytest.TempPathFactory):
    from molmo2_data.owa import VLMDatasetBuilder
    from molmo2_data.owa.binning import build_binned_dataset
    from molmo2_data.owa.events import build_event_dataset
    from molmo2_data.owa.sequences import build_mllm_dataset

    out = tmp_path_factory.mktemp("owa_nanovlm")
    build_event_dataset(OWA, out / "events", test_percent=0.34, seed=0)
    build_binned_dataset(out / "events", out / "bins", fps=10, keep_topics=["screen", "keyboard", "mouse"])
    build_mllm_dataset(out / "bins", out / "mllm", sequence_length=32, overlap_ratio=0.5)
    return VLMDatasetBuilder(str(out / "mllm"), image_format="pil")


def nanovlm_reference(mods, tok, proc, images, turns):
    """nanoVLM's own VQADataset on the same images and chat (its HF-style item layout)."""
    item = {"images": list(images), "texts": [{"user": u, "assistant": a} for u, a in turns]}
    return mods.datasets.VQADataset([item], nanovlm_peer.ListIdsTokenizer(tok), proc, MP_TOKENS)[0]


def test_nanovlm_loss_mask_needs_list_ids_under_transformers_5(nano) -> None:
    """Why the reference wraps the tokenizer: unwrapped, nanoVLM's own dataset learns nothing here."""
    from PIL import Image

    mods, tok, proc = nano
    item = {"images": [Image.new("RGB", (64, 64))], "texts": [{"user": "Colour?", "assistant": "black"}]}
    unwrapped = mods.datasets.VQADataset([item], tok, proc, MP_TOKENS)[0]
    wrapped = mods.datasets.VQADataset([item], nanovlm_peer.ListIdsTokenizer(tok), proc, MP_TOKENS)[0]
    assert (unwrapped["labels"] == -100).all()
    assert learned_text(tok, wrapped) == "black<|im_end|>\n"


def assert_same_item(ours, ref) -> None:
    assert torch.equal(ours["input_ids"], ref["input_ids"])
    assert torch.equal(ours["attention_mask"], ref["attention_mask"])
    assert torch.equal(ours["labels"], ref["labels"])
    assert len(ours["images"]) == len(ref["images"])
    for a, b in zip(ours["images"], ref["images"], strict=True):
        assert torch.equal(a, b)


def learned_text(tok, item) -> str:
    labels = item["labels"]
    return tok.decode(labels[labels != -100].tolist())


def image_token_count(tok, proc, images) -> int:
    n = 0
    for im in images:
        _, (n_h, n_w) = proc(im)
        n += MP_TOKENS * (1 if (n_h, n_w) == (1, 1) else 1 + n_h * n_w)  # global view + one per split
    return n


def test_owa_items_equal_nanovlm_and_collate(nano, vlm_dataset) -> None:
    mods, tok, proc = nano
    ds = OWADataset(vlm_dataset, tok, proc, MP_TOKENS)
    items = [ds[i] for i in range(len(ds))]
    made = [(i, it) for i, it in enumerate(items) if it is not None]
    assert len(made) >= 4 and ds.skipped["no usable screen frame"] == len(items) - len(made)
    for i, item in made[:4]:
        raw = vlm_dataset[i]
        frames = ds.frames(raw)
        assert 1 <= len(frames) <= 5
        events = "\n".join(raw["encoded_events"])
        assert_same_item(item, nanovlm_reference(mods, tok, proc, frames, [(raw["instruction"], events)]))
        assert learned_text(tok, item) == events + "<|im_end|>\n"  # the assistant turn, ending its turn
        n_image = int((item["input_ids"] == tok.convert_tokens_to_ids(tok.image_token)).sum())
        assert n_image == image_token_count(tok, proc, frames)
    collator = mods.collators.VQACollator(tok, max_length=4096)
    batch = collator([it for _, it in made[:3]] + [None])  # nanoVLM drops the None rows
    longest = max(len(it["input_ids"]) for _, it in made[:3])
    assert batch["input_ids"].shape == (3, 4096) and batch["labels"].shape == (3, 4096)
    assert (batch["labels"][:, : 4096 - longest] == -100).all()  # left padding carries no loss
    assert len(batch["images"]) == 3


def test_dataloader_with_nanovlm_collator(nano, vlm_dataset) -> None:
    from torch.utils.data import DataLoader

    mods, tok, proc = nano
    ds = OWADataset(vlm_dataset, tok, proc, MP_TOKENS)
    loader = DataLoader(ds, batch_size=4, collate_fn=mods.collators.VQACollator(tok, max_length=4096))
    batches = list(loader)
    assert sum(b["input_ids"].shape[0] for b in batches if len(b["input_ids"])) == \
        sum(ds[i] is not None for i in range(len(ds)))


def assistant_positions(tok, ids: torch.Tensor) -> list[int]:
    """Positions of the assistant turns' tokens (text, then <|im_end|> and the newline), found by scanning
    for the template's headers: what the labels must learn, everything else being prompt."""
    start, end = tok.convert_tokens_to_ids("<|im_start|>"), tok.convert_tokens_to_ids("<|im_end|>")
    header = tok.encode("assistant\n")
    ids = ids.tolist()
    out, t = [], 0
    while t < len(ids):
        if ids[t] == start and ids[t + 1: t + 1 + len(header)] == header:
            t += 1 + len(header)
            while ids[t] != end:
                out.append(t)
                t += 1
            out += [t, t + 1]  # <|im_end|> and the newline after it
        t += 1
    return out


@pytest.mark.parametrize("name", ["pixmo-points", "pixmo-cap", "molmo2-multiimageqa"])
def test_catalog_dataset_as_nanovlm_items(nano, sample_root: Path, name: str) -> None:
    from PIL import Image

    from molmo2_data import get_dataset
    from molmo2_data.text.formatter import FormatterConfig, format_conversation

    mods, tok, proc = nano
    source = get_dataset(name, root=sample_root)
    ds = NanoVLMDataset(source, tok, proc, MP_TOKENS)
    for idx in range(2):
        item = ds[idx]
        rng = np.random.RandomState(idx)  # NanoVLMDataset's rng for index idx with seed 0
        ex = source.get(idx, rng)
        turns = []
        for ann in ex.annotations:
            msgs = format_conversation(ann, FormatterConfig(system_prompt="none"), rng).messages
            turns += list(zip(msgs[0::2], msgs[1::2], strict=True))
        images = [Image.fromarray(im.load()) for im in ex.images]
        assert_same_item(item, nanovlm_reference(mods, tok, proc, images, turns))
        # the learned text is exactly our formatter's answers, each ending its turn
        assert learned_text(tok, item) == "".join(a + "<|im_end|>\n" for _, a in turns)
        # labels are -100 exactly over the prompt: label t learns token t + 1 of an assistant turn
        learned = (item["labels"] != -100).nonzero().flatten().tolist()
        assert [t + 1 for t in learned] == assistant_positions(tok, item["input_ids"])
        ids = item["input_ids"]
        assert int((ids == tok.convert_tokens_to_ids(tok.image_token)).sum()) == image_token_count(tok, proc, images)
        markers = tok.decode(ids.tolist()).count("<image: ")
        assert markers == (len(images) if len(images) > 1 else 0)
        for got, im in zip(item["images"], images, strict=True):  # nanoVLM's processor: global view + splits
            n_h, n_w = proc(im)[1]
            assert tuple(got.shape) == (1 + n_h * n_w, 3, 256, 256)
    assert len(ds[0]["images"]) == {"pixmo-points": 1, "pixmo-cap": 1, "molmo2-multiimageqa": 2}[name]
    batch = mods.collators.VQACollator(tok, max_length=2048)([ds[i] for i in range(3)])
    assert batch["input_ids"].shape == (3, 2048) and len(batch["images"]) == 3


def test_video_examples_are_counted_not_passed(nano, sample_root: Path) -> None:
    from molmo2_data import get_dataset

    _, tok, proc = nano
    ds = NanoVLMDataset(get_dataset("molmo2-cap", root=sample_root), tok, proc, MP_TOKENS)
    assert ds[0] is None and ds.skipped == {"video (nanoVLM takes images)": 1}
