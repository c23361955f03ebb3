"""``get_dataloader(stage, ...)``: the main job.

Work split: DataLoader workers do the expensive, order-free part (draw -> read -> decode ->
preprocess -> tokenize one global example index); the main process receives encoded examples *in
index order* (a map-style dataset with an ordered sampler), packs them and collates batches. Packing
decisions need only lengths, so they are cheap — and because they happen in one place in a fixed
order, the batches are the same whatever ``num_workers`` is, and a checkpoint (the rank cursor plus
the packer's buffered indices) resumes exactly.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from molmo2_data.errors import Molmo2DataError
from molmo2_data.loading.collate import collate, to_torch
from molmo2_data.loading.cursor import RankCursor
from molmo2_data.loading.encode import EncodedExample, EncodeFailure, ExampleEncoder
from molmo2_data.loading.mixtures import STAGES, Mixture, StageConfig, custom_mixture
from molmo2_data.loading.packing import Packer, PackingConfig, pack
from molmo2_data.loading.prefetch import Prefetcher
from molmo2_data.loading.source import StageSource
from molmo2_data.text.tokenize import LossWeight, TokenizeConfig
from molmo2_data.text.tokenizer import Molmo2Tokenizer, load_tokenizer
from molmo2_data.vision.image import ImageConfig
from molmo2_data.vision.preprocessor import VisionPreprocessor
from molmo2_data.vision.video import VideoConfig

PRETRAIN_STAGES = ("pretraining", "molmo2-pretrain")
DISABLE_AFTER = 32  # a member failing on this many examples and succeeding on none stops the run


class BatchIterator:
    """Framework-free core: encoded examples in index order -> packed sequences -> numpy batches."""

    def __init__(self, source: StageSource, cursor: RankCursor, batch_size: int, sequence_length: int,
                 packing: PackingConfig | None, pad_to: str = "max"):
        self.source = source
        self.cursor = cursor
        self.batch_size = batch_size
        self.sequence_length = sequence_length
        self.packing = packing
        self.pad_to = pad_to
        self.skipped: Counter[str] = Counter()  # "member: reason" -> count
        self.ok: Counter[str] = Counter()  # member -> encoded examples
        self.batches = 0
        self._buffered: list[int] = list(cursor.buffered)

    def state_dict(self) -> dict[str, Any]:
        state = self.cursor.state(self._buffered)
        state["batches"] = self.batches
        state["skipped"] = dict(self.skipped)
        return state

    def load_state_dict(self, state: dict[str, Any] | list[dict[str, Any]]) -> None:
        """This rank's state (same world size), or the states of every old rank (another world size)."""
        self.cursor = RankCursor.restore(state, self.cursor.rank, self.cursor.world_size)
        self._buffered = list(self.cursor.buffered)
        if isinstance(state, dict):
            self.batches = state.get("batches", 0)

    @property
    def report(self) -> dict[str, Any]:
        return {**self.source.report(), "skipped": dict(self.skipped)}

    def batches_with_state(self, encoded: Iterator[tuple[int, EncodedExample | EncodeFailure]],
                           ) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        """(batch, the state right after it): what a prefetching consumer checkpoints."""
        for batch in self.run(encoded):
            yield batch, self.state_dict()


    def run(self, encoded: Iterator[tuple[int, EncodedExample | EncodeFailure]]) -> Iterator[dict[str, Any]]:
        """Consume (index, encoded) pairs in scan order (buffered replays first) and yield batches."""
        packer = Packer(self.packing) if self.packing is not None else None
        replay = set(self.cursor.buffered)
        pending = []
        for e, enc in encoded:
            if e in replay:
                replay.discard(e)
            else:
                self.cursor.advance_past(e)
            member = enc.metadata.get("member", "?")
            if isinstance(enc, EncodeFailure):
                self.skipped[f"{member}: {enc.reason.split(':')[0]}"] += 1
                failed = sum(v for k, v in self.skipped.items() if k.startswith(member + ":"))
                if failed >= DISABLE_AFTER and self.ok[member] == 0:
                    raise Molmo2DataError(
                        f"mixture member {member!r} failed on each of its first {failed} examples "
                        f"(last: {enc.reason}); fix its data or leave it out of the mixture")
                continue
            self.ok[member] += 1
            if packer is None:
                seq = pack([enc])
            else:
                seq = packer.push(enc)
                self._buffered = [b.metadata["index"] for b in packer.buffer]
            if seq is None:
                continue
            pending.append(seq)
            if len(pending) == self.batch_size:
                self.batches += 1
                yield collate(pending, self.sequence_length, self.pad_to)
                pending = []


class _ConsumedState:
    """The state of the last batch handed to the user. Batches are made ahead (``Prefetcher``), so
    the core's own state runs ahead of what was consumed; checkpoints and new iterations use this."""

    def __init__(self, core: BatchIterator):
        self._core = core
        self._consumed: dict[str, Any] | None = None
        self._active: Prefetcher | None = None

    def _stop_active(self) -> None:
        """Stop the previous iteration's thread and wait for it: it shares the core."""
        if self._active is not None:
            self._active.close()
            self._active = None

    def _rewind(self) -> None:
        """A new iteration starts after the last consumed batch, not after the last prefetched one."""
        self._stop_active()
        if self._consumed is not None:
            self._core.load_state_dict(self._consumed)

    def _batches(self, encoded: Iterator[tuple[int, Any]], depth: int,
                 convert: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> Iterator[dict[str, Any]]:
        """Batches with their states, made ahead; ``convert`` (e.g. to pinned torch tensors) runs in
        the prefetch thread too."""
        made = self._core.batches_with_state(encoded)
        if convert is not None:
            made = ((convert(batch), state) for batch, state in made)
        self._active = stream = Prefetcher(made, depth)
        try:
            for batch, state in stream:
                self._consumed = state
                yield batch
        finally:
            stream.close(timeout=0)  # stop it; the next iteration (``_rewind``) waits for it

    def state_dict(self) -> dict[str, Any]:
        return dict(self._consumed) if self._consumed is not None else self._core.state_dict()

    def load_state_dict(self, state: dict[str, Any] | list[dict[str, Any]]) -> None:
        self._stop_active()
        self._core.load_state_dict(state)
        self._consumed = None


class _EncodeByIndex:
    """Map-style dataset for torch: index -> (index, encoded example).

    In a worker process the pixels leave as a torch tensor: torch's pickler moves its storage to
    shared memory, so the main process maps it instead of unpickling a copy (a 128-frame video is
    55 MB of uint8; as a numpy array the main process spent ~0.1 s per such example just receiving
    it). ``_pixels_to_numpy`` turns it back into a numpy view on arrival."""

    def __init__(self, source: StageSource):
        self.source = source
        self.share_pixels = _shared_memory_is_ample()

    def __getitem__(self, e: int) -> tuple[int, Any]:
        out = self.source.encode(int(e))
        if self.share_pixels and isinstance(out, EncodedExample) and out.pixels is not None:
            import torch.utils.data as tud

            if tud.get_worker_info() is not None:
                import torch

                pixels = out.pixels if out.pixels.flags.writeable else out.pixels.copy()
                out = dataclasses.replace(out, pixels=torch.from_numpy(pixels))
        return e, out

    def __len__(self) -> int:  # the stream is infinite; DataLoader never asks with a sampler
        return 2**62


def _identity(x: Any) -> Any:
    return x


def _shared_memory_is_ample(min_free: int = 2 << 30) -> bool:
    """Share pixels through /dev/shm only when it has room (containers often mount 64 MB there, where
    torch's shared tensors fail); ``MOLMO2_DATA_SHARE_PIXELS=0/1`` overrides."""
    forced = os.environ.get("MOLMO2_DATA_SHARE_PIXELS")
    if forced is not None:
        return forced != "0"
    try:
        st = os.statvfs("/dev/shm")
    except OSError:
        return False
    return st.f_bavail * st.f_frsize >= min_free


def _pixels_to_numpy(items: Iterator[tuple[int, Any]]) -> Iterator[tuple[int, Any]]:
    """Pixels that arrived from a worker as a shared-memory tensor -> a numpy view of it."""
    for e, out in items:
        if isinstance(out, EncodedExample) and out.pixels is not None and not isinstance(out.pixels, np.ndarray):
            out = dataclasses.replace(out, pixels=out.pixels.numpy())
        yield e, out


def _torch_batch(pin_memory: bool) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """numpy batch -> torch tensors (zero copy), pinned in page-locked memory when asked, so the
    trainer's ``.to("cuda", non_blocking=True)`` overlaps the copy with compute."""

    def convert(batch: dict[str, Any]) -> dict[str, Any]:
        out = to_torch(batch)
        if pin_memory:
            out = {k: v.pin_memory() if hasattr(v, "pin_memory") else v for k, v in out.items()}
        return out

    return convert


def _make_torch_loader_class():
    import torch.utils.data as tud

    class _Scan(tud.Sampler):
        def __init__(self, owner: Molmo2DataLoader):
            self.owner = owner

        def __iter__(self):
            return self.owner._core.cursor.scan()

    class Molmo2DataLoader(_ConsumedState, tud.DataLoader):
        """A ``torch.utils.data.DataLoader`` of packed, collated batches with ``state_dict()`` /
        ``load_state_dict()`` for exact resumption."""

        def __init__(self, core: BatchIterator, num_workers: int, prefetch_factor: int | None, as_torch: bool,
                     prefetch_batches: int = 2, pin_memory: bool = False):
            _ConsumedState.__init__(self, core)
            self._as_torch = as_torch
            self._prefetch_batches = prefetch_batches
            self._pin_memory = pin_memory
            kw: dict[str, Any] = {}
            if num_workers > 0:
                kw.update(prefetch_factor=prefetch_factor or 4, persistent_workers=False)
            tud.DataLoader.__init__(self, _EncodeByIndex(core.source), batch_size=None, sampler=_Scan(self),
                                    num_workers=num_workers, collate_fn=_identity, **kw)

        def __iter__(self):
            self._rewind()
            encoded = _pixels_to_numpy(tud.DataLoader.__iter__(self))  # workers start here, in this thread
            yield from self._batches(encoded, self._prefetch_batches,
                                     _torch_batch(self._pin_memory) if self._as_torch else None)

        def __len__(self) -> int:
            raise TypeError("the stage stream is infinite")

        @property
        def report(self) -> dict[str, Any]:
            return self._core.report

    return Molmo2DataLoader


class NumpyBatches(_ConsumedState):
    """The same stream without torch: ``for batch in get_dataloader(..., framework="numpy")``."""

    def __init__(self, core: BatchIterator, prefetch_batches: int = 2):
        super().__init__(core)
        self._prefetch_batches = prefetch_batches

    def __iter__(self) -> Iterator[dict[str, Any]]:
        self._rewind()
        src = self._core.source
        return self._batches(((e, src.encode(e)) for e in self._core.cursor.scan()), self._prefetch_batches)

    @property
    def report(self) -> dict[str, Any]:
        return self._core.report


def _dist_rank_world(rank: int | None, world_size: int | None) -> tuple[int, int]:
    if rank is not None and world_size is not None:
        return rank, world_size
    try:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            return (dist.get_rank() if rank is None else rank,
                    dist.get_world_size() if world_size is None else world_size)
    except ImportError:
        pass
    return (rank or 0), (world_size or 1)


def stage_config(stage: str | StageConfig) -> StageConfig:
    if isinstance(stage, StageConfig):
        return stage
    if stage not in STAGES:
        from molmo2_data.datasets.base import _unknown

        raise ValueError(_unknown("unknown stage", stage, list(STAGES)))
    return STAGES[stage]


def build_encoder(cfg: StageConfig, tokenizer: Molmo2Tokenizer, sequence_length: int, mixture: Mixture,
                  max_frames: int) -> ExampleEncoder:
    if cfg.name in PRETRAIN_STAGES:
        tok_cfg = TokenizeConfig.pretrain(max_sequence_length=sequence_length,
                                          loss_weight=LossWeight(1.0, root_length=False, root_subsegments=False))
    else:
        flat = {m.dataset: LossWeight(m.loss_weight, root_length=False, root_subsegments=False)
                for m in mixture.members() if m.loss_weight is not None}
        tok_cfg = TokenizeConfig.sft(max_sequence_length=sequence_length, dataset_weights=flat)
    vision = VisionPreprocessor(image=ImageConfig(normalize_on_gpu=True, max_crops=cfg.max_crops),
                                video=VideoConfig(max_frames=max_frames, max_fps=cfg.max_fps, normalize_on_gpu=True))
    p_high_res = {m.dataset: m.p_high_res for m in mixture.members() if m.p_high_res is not None}
    return ExampleEncoder(tokenizer, tok_cfg, vision, sequence_length, p_high_res=p_high_res)


def get_dataloader(stage: str | StageConfig = "pretraining", batch_size: int = 8, num_workers: int = 0,
                   seed: int | None = None, rank: int | None = None, world_size: int | None = None,
                   tokenizer: str | Molmo2Tokenizer = "qwen3", sequence_length: int | None = None,
                   split: str = "train", root: str | os.PathLike | None = None, packing: bool | None = None,
                   mixture: Mixture | dict | str | os.PathLike | None = None, max_frames: int | None = None,
                   pad_to: str = "max", framework: str = "torch", prefetch_factor: int | None = None,
                   packing_buffer: int = 48, packing_solver: str | None = None, prefetch_batches: int = 2,
                   pin_memory: bool = False):
    """A DataLoader for a training stage.

    ``stage``: pretraining / sft / long-context (the seed's recipes) or molmo2-pretrain / molmo2-sft /
    molmo2-long-context (the official ones). ``batch_size``: packed sequences per rank and step.
    ``mixture``: a custom mixture (dict, YAML/JSON path or :class:`Mixture`) replacing the stage's.
    ``framework="numpy"``: a framework-free iterator of numpy batches (no torch needed).
    ``packing_buffer``: examples the packer chooses from (official 48). ``packing_solver``: "knapsack"
    (the official exact 2-D DP; default of the molmo2-* stages), "fill" (fullest text by exact subset
    sum, repaired for the crop budget; default of the seed stages) or "greedy".
    ``prefetch_batches``: batches packed and collated ahead in a background thread (0: on demand), so
    the trainer does not wait for them; ``state_dict()`` still describes the consumed batches.
    ``pin_memory``: hand out batches in page-locked memory (pinned in that thread) when CUDA is
    available; without CUDA it warns and does nothing.
    Rank and world size come from ``torch.distributed`` when not given.
    """
    cfg = stage_config(stage)
    if mixture is not None:
        mixture = mixture if isinstance(mixture, Mixture) else custom_mixture(mixture)
    else:
        mixture = cfg.mixture()
    L = sequence_length or cfg.sequence_length
    frames = max_frames or cfg.max_frames
    tok = tokenizer if isinstance(tokenizer, Molmo2Tokenizer) else load_tokenizer(tokenizer)
    encoder = build_encoder(cfg, tok, L, mixture, frames)
    source = StageSource(mixture, encoder, seed=cfg.data_seed if seed is None else seed, split=split, root=root)
    rank, world = _dist_rank_world(rank, world_size)
    use_packing = cfg.packing if packing is None else packing
    max_crops = cfg.packing_max_crops or (max(frames, 16) if cfg.name not in PRETRAIN_STAGES else 16)
    pack_cfg = PackingConfig(sequence_length=L, max_crops=max_crops, buffer_size=packing_buffer,
                             solver=packing_solver or cfg.packing_solver,
                             image_weight=1.0 if cfg.name in PRETRAIN_STAGES else 30.0) if use_packing else None
    core = BatchIterator(source, RankCursor.fresh(rank, world), batch_size, L, pack_cfg, pad_to)
    if prefetch_batches < 0:
        raise ValueError(f"prefetch_batches must be >= 0, got {prefetch_batches}")
    if framework == "numpy":
        return NumpyBatches(core, prefetch_batches)
    if framework != "torch":
        raise ValueError("framework must be 'torch' or 'numpy'")
    if pin_memory:
        import torch

        if not torch.cuda.is_available():
            warnings.warn("pin_memory=True but CUDA is not available: batches are not pinned", stacklevel=2)
            pin_memory = False
    return _make_torch_loader_class()(core, num_workers, prefetch_factor, as_torch=True,
                                      prefetch_batches=prefetch_batches, pin_memory=pin_memory)


__all__ = ["BatchIterator", "NumpyBatches", "get_dataloader", "stage_config"]
