"""get_dataloader: determinism, resume, worker-count and world-size invariance, a training step."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from molmo2_data.loading.loader import get_dataloader
from molmo2_data.text.tokenizer import load_tokenizer

MIX = {"pixmo-cap": 0.4, "pixmo-points": 0.3, "molmo2-tulu4": 0.2, "pixmo-count": 0.1}


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer("qwen3")


def loader(root: Path, tok, **kw):
    base = dict(stage="pretraining", batch_size=2, root=root, sequence_length=768, tokenizer=tok, mixture=MIX,
                packing_buffer=6, seed=3)
    base.update(kw)
    return get_dataloader(**base)


def take(dl, n: int) -> list[dict]:
    it = iter(dl)
    return [next(it) for _ in range(n)]


def same(a: list[dict], b: list[dict]) -> bool:
    def norm(batch):
        return {k: np.asarray(v) for k, v in batch.items() if k != "metadata"}, batch["metadata"]

    for x, y in zip(a, b, strict=True):
        (ax, am), (bx, bm) = norm(x), norm(y)
        if am != bm or ax.keys() != bx.keys() or any(not np.array_equal(ax[k], bx[k]) for k in ax):
            return False
    return True


def indices(batches: list[dict]) -> list[int]:
    return [m["index"] for b in batches for row in b["metadata"] for m in row]


def test_batches_are_well_formed(sample_root: Path, tok) -> None:
    b = take(loader(sample_root, tok, framework="numpy"), 1)[0]
    assert b["input_ids"].shape == (2, 768) and b["labels"].shape == (2, 768)
    valid = b["input_ids"] >= 0
    assert ((b["labels"] != -100) <= valid).all()  # loss only on real tokens
    assert (b["loss_weights"][~valid] == 0).all() and (b["loss_weights"][b["labels"] != -100] == 1).all()
    assert b["cu_seqlens"][0] == 0 and b["cu_seqlens"][-1] == 2 * 768
    assert np.all(np.diff(b["cu_seqlens"]) > 0)
    for row in range(2):
        docs = b["document_ids"][row][valid[row]]
        assert docs[0] == 0 and np.all(np.diff(docs) >= 0)  # contiguous documents
        # positions restart at every document
        starts = np.flatnonzero(np.diff(docs)) + 1
        assert (b["position_ids"][row][starts] == 0).all()
    # every pooled token indexes a real patch of its row
    tp = b["token_pooling"]
    n_patches = b["images"].shape[1] * b["images"].shape[2]
    assert tp.max() < n_patches and tp.min() >= -1


def test_two_runs_identical_and_numpy_equals_torch(sample_root: Path, tok) -> None:
    a = take(loader(sample_root, tok, framework="numpy"), 4)
    b = take(loader(sample_root, tok, framework="numpy"), 4)
    t = take(loader(sample_root, tok, num_workers=0), 4)
    assert same(a, b)
    assert same(a, [{k: (v.numpy() if hasattr(v, "numpy") else v) for k, v in x.items()} for x in t])
    c = take(loader(sample_root, tok, framework="numpy", seed=4), 4)
    assert not same(a, c)


@pytest.mark.parametrize("workers,share", [(1, "1"), (2, "1"), (4, "1"), (2, "0")])
def test_worker_count_does_not_change_the_stream(sample_root: Path, tok, workers: int, share: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Pixels come back from the workers through shared memory (share=1) or pickled (0): same stream."""
    monkeypatch.setenv("MOLMO2_DATA_SHARE_PIXELS", share)
    ref = take(loader(sample_root, tok, framework="numpy"), 3)
    got = take(loader(sample_root, tok, num_workers=workers), 3)
    assert same(ref, [{k: (v.numpy() if hasattr(v, "numpy") else v) for k, v in x.items()} for x in got])


@pytest.mark.parametrize("step", [1, 3])
def test_resume_gives_the_batch_that_would_have_come(sample_root: Path, tok, step: int) -> None:
    full = take(loader(sample_root, tok, framework="numpy"), step + 2)
    first = loader(sample_root, tok, framework="numpy")
    it = iter(first)
    for _ in range(step):
        next(it)
    state = first.state_dict()
    resumed = loader(sample_root, tok, num_workers=2)  # also with another worker count
    resumed.load_state_dict(state)
    rest = take(resumed, 2)
    assert same(full[step:], [{k: (v.numpy() if hasattr(v, "numpy") else v) for k, v in x.items()} for x in rest])


def test_world_size_change_neither_repeats_nor_skips(sample_root: Path, tok) -> None:
    seen: list[int] = []
    states = []
    for rank in range(2):
        dl = loader(sample_root, tok, framework="numpy", rank=rank, world_size=2)
        seen += indices(take(dl, 2))
        states.append(dl.state_dict())
    final_buffered: list[int] = []
    nexts = []
    for rank in range(3):
        dl = loader(sample_root, tok, framework="numpy", rank=rank, world_size=3)
        dl.load_state_dict(states)
        seen += indices(take(dl, 2))
        st = dl.state_dict()
        final_buffered += st["buffered"]
        nexts.append(st["next"])
    assert len(seen) == len(set(seen)), "an example was repeated"
    watermark = min(nexts)
    covered = set(seen) | set(final_buffered)
    assert set(range(watermark)) <= covered, "an example was skipped"
    assert not set(seen) & set(final_buffered)


def test_a_training_step_runs_on_a_batch(sample_root: Path, tok) -> None:
    import torch

    batch = take(loader(sample_root, tok, num_workers=0), 1)[0]
    torch.manual_seed(0)
    vocab, dim = tok.vocab_size, 16
    emb = torch.nn.Embedding(vocab, dim)
    vis = torch.nn.Linear(588, dim)
    head = torch.nn.Linear(dim, vocab)
    ids = batch["input_ids"].clamp(min=0)
    x = emb(ids)
    # pooled image features added at <im_patch> positions, as the model does
    patches = vis(batch["images"].float().flatten(1, 2) / 255.0)  # [B, crops*patches, dim]
    tp = batch["token_pooling"]
    pooled = torch.stack([(patches[b][tp[b].clamp(min=0)] * (tp[b] >= 0)[..., None]).mean(1) for b in range(len(tp))])
    im_patch = batch["input_ids"] == tok.special.im_patch
    for b in range(len(tp)):
        n = int(im_patch[b].sum())
        x[b, im_patch[b]] = x[b, im_patch[b]] + pooled[b, :n]
    # causal attention inside each document only
    doc = batch["document_ids"]
    L = ids.shape[1]
    mask = (doc[:, :, None] == doc[:, None, :]) & torch.ones(L, L, dtype=torch.bool).tril() & (doc[:, :, None] >= 0)
    att = torch.softmax(torch.where(mask, x @ x.transpose(1, 2) / dim**0.5, torch.tensor(-1e9)), -1)
    logits = head(att @ x)
    ce = torch.nn.functional.cross_entropy(logits.flatten(0, 1), batch["labels"].flatten(), ignore_index=-100,
                                           reduction="none")
    w = batch["loss_weights"].flatten()
    loss = (ce * w).sum() / w.sum()
    loss.backward()
    assert torch.isfinite(loss) and 5 < loss.item() < 20  # ~ln(vocab) at initialisation
    assert emb.weight.grad.abs().sum() > 0 and vis.weight.grad.abs().sum() > 0


def test_absent_members_are_reported_and_unknown_stage_fails(tmp_path: Path, sample_root: Path, tok) -> None:
    from molmo2_data.sample import write_sample

    write_sample(tmp_path, datasets=["pixmo-cap"], progress=False)
    with pytest.warns(UserWarning, match=r"1 member\(s\) absent and renormalised away: pixmo-clocks"):
        dl = loader(tmp_path, tok, framework="numpy", mixture={"pixmo-cap": 1, "pixmo-clocks": 1})
    assert dl.report["rates"] == {"pixmo-cap": 1.0} and "pixmo-clocks" in dl.report["absent"]
    assert take(dl, 1)[0]["input_ids"].shape == (2, 768)
    with pytest.raises(ValueError, match="unknown stage 'pretrain'"):
        get_dataloader("pretrain", root=sample_root, tokenizer=tok)


def test_bad_examples_are_counted_and_a_dead_member_stops_the_run(tmp_path: Path, tok) -> None:
    from molmo2_data import paths
    from molmo2_data.errors import Molmo2DataError
    from molmo2_data.sample import write_sample

    write_sample(tmp_path, datasets=["pixmo-cap", "molmo2-tulu4"], progress=False)
    images = sorted(paths.image_dir(tmp_path).iterdir())
    for p in images[:5]:
        p.write_bytes(b"not an image")
    mix = {"pixmo-cap": 0.5, "molmo2-tulu4": 0.5}
    a = loader(tmp_path, tok, framework="numpy", mixture=mix)
    batches = take(a, 3)
    skipped = a.report["skipped"]
    assert skipped["pixmo-cap: MediaDecodeError"] >= 1  # counted per dataset and reason
    assert same(batches, take(loader(tmp_path, tok, framework="numpy", mixture=mix), 3))  # still deterministic
    for p in images:
        p.write_bytes(b"not an image")
    with pytest.raises(Molmo2DataError, match="'pixmo-cap' failed on each of its first 32 examples"):
        take(loader(tmp_path, tok, framework="numpy", mixture={"pixmo-cap": 0.9, "molmo2-tulu4": 0.1}), 50)


def test_cli_main_job_and_batch_preview(sample_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from molmo2_data.cli.main import main

    out_html = tmp_path / "batch.html"
    assert main(["loader", "--root", str(sample_root), "--stage", "sft", "--steps", "2", "--sequence-length", "4096",
                 "--batch-size", "1", "--html", str(out_html)]) == 0
    out = capsys.readouterr().out
    assert "using the embedded sample data" in out and "packing fill" in out and "examples/s" in out
    assert "⟦" in out and "<vision:" in out  # the decoded sequence marks loss spans and vision runs
    page = out_html.read_text()
    assert page.count('class="loss"') >= 1 and page.count("data:image/jpeg;base64") >= 1
    assert page.count('<div class="doc">') == page.count("<p>document ")


# ---- batches made ahead in a thread ------------------------------------------------------------


def test_prefetched_keeps_order_forwards_errors_and_closes_early() -> None:
    import threading
    import time

    from molmo2_data.loading.prefetch import Prefetcher as prefetched

    assert list(prefetched(iter(range(50)), 3)) == list(range(50))
    assert list(prefetched(iter(range(5)), 0)) == list(range(5))

    def failing():
        yield 1
        raise ValueError("bad shard")

    got = []
    with pytest.raises(ValueError, match="bad shard"):
        for x in prefetched(failing(), 2):
            got.append(x)
    assert got == [1]
    closed = threading.Event()

    def endless():
        try:
            k = 0
            while True:
                yield k
                k += 1
        finally:
            closed.set()

    stream = prefetched(endless(), 2)
    assert [next(stream) for _ in range(3)] == [0, 1, 2]
    stream.close()  # the consumer stops: the producer thread stops and closes its source
    deadline = time.monotonic() + 5
    while not closed.is_set() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert closed.is_set()


@pytest.mark.parametrize("framework", ["numpy", "torch"])
def test_prefetching_changes_neither_batches_nor_checkpoints(sample_root: Path, tok, framework: str) -> None:
    ref = take(loader(sample_root, tok, framework="numpy", prefetch_batches=0), 5)
    dl = loader(sample_root, tok, framework=framework, prefetch_batches=3)
    it = iter(dl)
    first = [next(it) for _ in range(2)]
    state = dl.state_dict()  # the thread is ahead; the state is that of the two consumed batches
    del it
    again = take(dl, 2)  # a new iteration continues after the consumed batches, none is lost
    resumed = loader(sample_root, tok, framework="numpy", prefetch_batches=0)
    resumed.load_state_dict(state)

    def as_np(batches):
        return [{k: (v.numpy() if hasattr(v, "numpy") else v) for k, v in b.items()} for b in batches]

    assert same(ref[:2], as_np(first)) and same(ref[2:4], as_np(again))
    assert same(ref[2:4], take(resumed, 2)) and state["batches"] == 2
    with pytest.raises(ValueError, match="prefetch_batches"):
        loader(sample_root, tok, prefetch_batches=-1)


def test_pin_memory_without_cuda_warns_and_changes_nothing(sample_root: Path, tok) -> None:
    import torch

    if torch.cuda.is_available():  # pragma: no cover - a GPU machine: the batches come back pinned
        b = take(loader(sample_root, tok, pin_memory=True), 1)[0]
        assert b["input_ids"].is_pinned()
        return
    with pytest.warns(UserWarning, match="pin_memory=True but CUDA is not available"):
        dl = loader(sample_root, tok, pin_memory=True)
    got = take(dl, 2)
    assert isinstance(got[0]["input_ids"], torch.Tensor)
    ref = take(loader(sample_root, tok, framework="numpy"), 2)
    assert same(ref, [{k: (v.numpy() if hasattr(v, "numpy") else v) for k, v in b.items()} for b in got])
