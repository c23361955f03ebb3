"""``get_dataloader(stage, ...)``: the main job.

Work split: DataLoader workers do the expensive, order-free part (draw -> read -> decode ->
preprocess -> tokenize one global example index); the main process receives encoded examples *in
index order* (a map-style dataset with an ordered sampler), packs them and collates batches. Packing
decisions need only lengths, so they are cheap — and because they happen in one place in a fixed
order, the batches are the same whatever ``num_workers`` is, and a checkpoint (the rank cursor plus
the packer's buffered indices) resumes exactly.

Every argument is checked before any work starts (``validate.py``); the loader has an explicit
lifecycle (``close()``, ``with``, an exit hook, workers that die with their parent: ``lifecycle.py``).
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Callable
from typing import Any

from molmo2_data.errors import ConfigError
from molmo2_data.loading.batches import DISABLE_AFTER, BatchIterator, NumpyBatches
from molmo2_data.loading.collate import collate
from molmo2_data.loading.cursor import RankCursor
from molmo2_data.loading.encode import ExampleEncoder
from molmo2_data.loading.mixtures import STAGES, Mixture, StageConfig, custom_mixture
from molmo2_data.loading.molmo2_batch import Molmo2Format, check_batch_format, molmo2_collate
from molmo2_data.loading.packing import PackingConfig
from molmo2_data.loading.source import StageSource
from molmo2_data.loading.validate import check_arguments, check_mixture, fingerprint, tokenizer_identity
from molmo2_data.text.tokenize import LossWeight, TokenizeConfig
from molmo2_data.text.tokenizer import Molmo2Tokenizer, load_tokenizer
from molmo2_data.vision.image import ImageConfig
from molmo2_data.vision.preprocessor import VisionPreprocessor
from molmo2_data.vision.video import VideoConfig

PRETRAIN_STAGES = ("pretraining", "molmo2-pretrain")


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
    rank, world = (0 if rank is None else rank), (1 if world_size is None else world_size)
    if not 0 <= rank < world:
        raise ConfigError(f"rank must be in [0, world_size), got rank={rank} with world_size={world}")
    return rank, world


def stage_config(stage: str | StageConfig) -> StageConfig:
    if isinstance(stage, StageConfig):
        return stage
    if stage not in STAGES:
        from molmo2_data.datasets.base import _unknown

        raise ConfigError(_unknown("unknown stage", stage, list(STAGES)))
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


def per_rank_batch_size(cfg: StageConfig, world_size: int) -> int:
    """The stage's global batch (``StageConfig.global_batch_size``: packed sequences per optimizer step over
    all ranks) split over ``world_size`` ranks; it must divide evenly, as in the official trainer."""
    if cfg.global_batch_size % world_size:
        raise ConfigError(f"stage {cfg.name!r}: global batch size {cfg.global_batch_size} is not divisible by "
                          f"world size {world_size}; pass batch_size=<per-rank sequences> instead")
    return cfg.global_batch_size // world_size


def get_dataloader(stage: str | StageConfig = "pretraining", batch_size: int | str = 8, num_workers: int = 0,
                   seed: int | None = None, rank: int | None = None, world_size: int | None = None,
                   tokenizer: str | Molmo2Tokenizer = "qwen3", sequence_length: int | None = None,
                   split: str = "train", root: str | os.PathLike | None = None, packing: bool | None = None,
                   mixture: Mixture | dict | list | str | os.PathLike | None = None, max_frames: int | None = None,
                   pad_to: str = "max", framework: str = "torch", prefetch_factor: int | None = None,
                   packing_buffer: int = 48, packing_solver: str | None = None, prefetch_batches: int = 2,
                   pin_memory: bool = False, worker_init_fn: Callable[[int], Any] | None = None,
                   batch_format: str = "default", normalize_images: bool | None = None,
                   pad_images_to_max: bool = False):
    """A DataLoader for a training stage.

    ``stage``: pretraining / sft / long-context (the seed's recipes) or molmo2-pretrain / molmo2-sft /
    molmo2-long-context (the official ones). ``batch_size``: packed sequences per rank and step, or
    ``"stage"``: the stage's global batch (``StageConfig.global_batch_size``) divided by the world size
    (the loader's ``batch_size`` attribute reports it).
    ``batch_format``: "default" (``collate.py``) or "molmo2", the official trainer's batch (``loss_masks``
    padded -1, per-row tensors only, ``cum_image_bounds`` / ``cum_token_pooling_bounds``; see
    ``molmo2_batch.py``). ``normalize_images`` (molmo2 format): float32 normalised images padded -1
    instead of uint8; None = the recipe's (pretraining stages normalise on the CPU, as the official
    pretraining's ``normalize_on_gpu=False``; SFT stages hand out uint8). ``pad_images_to_max`` (molmo2
    format): pad images to the stage's crop budget per sequence (16 / 128 / 384) for constant shapes.
    ``mixture``: a custom mixture (dict, the seeds' list of ``{"name", "weight"}``, YAML/JSON path or
    :class:`Mixture`) replacing the stage's.
    ``framework="numpy"``: a framework-free iterator of numpy batches (no torch needed).
    ``packing_buffer``: examples the packer chooses from (official 48). ``packing_solver``: "knapsack"
    (the official exact 2-D DP; default of the molmo2-* stages), "fill" (fullest text by exact subset
    sum, repaired for the crop budget; default of the seed stages) or "greedy".
    ``prefetch_batches``: batches packed and collated ahead in a background thread (0: on demand), so
    the trainer does not wait for them; ``state_dict()`` still describes the consumed batches.
    ``pin_memory``: hand out batches in page-locked memory (pinned in that thread) when CUDA is
    available; without CUDA it warns and does nothing. ``worker_init_fn``: called in each worker
    after the loader's own set-up (workers exit when this process dies).
    Rank and world size come from ``torch.distributed`` when not given.

    Every argument is checked first: a bad one is a :class:`ConfigError` (a ``ValueError``) naming it.
    Close the loader when done (``dl.close()`` or ``with get_dataloader(...) as dl:``); loaders still
    open at interpreter exit are closed by an exit hook.
    """
    stage_batch = batch_size == "stage"
    check_arguments(stage=stage, batch_size=1 if stage_batch else batch_size, num_workers=num_workers, seed=seed, rank=rank,
                    world_size=world_size, tokenizer=tokenizer, sequence_length=sequence_length, split=split,
                    root=root, packing=packing, mixture=mixture, max_frames=max_frames, pad_to=pad_to,
                    framework=framework, prefetch_factor=prefetch_factor, packing_buffer=packing_buffer,
                    packing_solver=packing_solver, prefetch_batches=prefetch_batches, pin_memory=pin_memory)
    if worker_init_fn is not None and not callable(worker_init_fn):
        raise ConfigError(f"worker_init_fn must be callable or None, got {worker_init_fn!r}")
    check_batch_format(batch_format)
    for flag, value in (("normalize_images", normalize_images), ("pad_images_to_max", pad_images_to_max)):
        if value is not None and not isinstance(value, bool):
            raise ConfigError(f"{flag} must be True or False, got {value!r}")
    if batch_format != "molmo2" and (normalize_images is not None or pad_images_to_max):
        raise ConfigError("normalize_images and pad_images_to_max apply to batch_format='molmo2' only")
    cfg = stage_config(stage)
    if mixture is not None:
        mixture = mixture if isinstance(mixture, Mixture) else custom_mixture(mixture)
    else:
        mixture = cfg.mixture()
    check_mixture(mixture)
    rank, world = _dist_rank_world(rank, world_size)
    if stage_batch:
        batch_size = per_rank_batch_size(cfg, world)
    L = cfg.sequence_length if sequence_length is None else sequence_length
    frames = cfg.max_frames if max_frames is None else max_frames
    data_seed = cfg.data_seed if seed is None else int(seed)
    tok = tokenizer if isinstance(tokenizer, Molmo2Tokenizer) else load_tokenizer(tokenizer)
    encoder = build_encoder(cfg, tok, L, mixture, frames)
    source = StageSource(mixture, encoder, seed=data_seed, split=split, root=root)
    use_packing = cfg.packing if packing is None else packing
    max_crops = cfg.packing_max_crops
    if max_crops is None:
        max_crops = max(frames, 16) if cfg.name not in PRETRAIN_STAGES else 16
    pack_cfg = PackingConfig(sequence_length=L, max_crops=max_crops, buffer_size=packing_buffer,
                             solver=cfg.packing_solver if packing_solver is None else packing_solver,
                             image_weight=1.0 if cfg.name in PRETRAIN_STAGES else 30.0) if use_packing else None
    packing_id = None if pack_cfg is None else {
        "buffer": pack_cfg.buffer_size, "solver": pack_cfg.solver, "max_crops": pack_cfg.max_crops,
        "image_weight": pack_cfg.image_weight}
    fp = fingerprint(stage=cfg.name, rates=source.rates, seed=data_seed, sequence_length=L, packing=packing_id,
                     tokenizer=tokenizer_identity(tok), max_frames=frames, split=split)
    collate_fn = collate
    if batch_format == "molmo2":
        normalize = cfg.name in PRETRAIN_STAGES if normalize_images is None else normalize_images
        fmt = Molmo2Format(normalize="siglip" if normalize else None,
                           pad_crops_to=(max_crops if use_packing else max(max_crops, frames)) if pad_images_to_max
                           else None)
        collate_fn = functools.partial(molmo2_collate, fmt=fmt)
    core = BatchIterator(source, RankCursor.fresh(rank, world), int(batch_size), L, pack_cfg, pad_to,
                         fingerprint=fp, collate_fn=collate_fn)
    if framework == "numpy":
        return NumpyBatches(core, prefetch_batches)
    if pin_memory:
        import torch

        if not torch.cuda.is_available():
            warnings.warn("pin_memory=True but CUDA is not available: batches are not pinned", stacklevel=2)
            pin_memory = False
    from molmo2_data.loading.torch_loader import make_torch_loader_class

    return make_torch_loader_class()(core, num_workers, prefetch_factor, as_torch=True,
                                     prefetch_batches=prefetch_batches, pin_memory=pin_memory,
                                     worker_init_fn=worker_init_fn)


__all__ = ["DISABLE_AFTER", "BatchIterator", "NumpyBatches", "get_dataloader", "per_rank_batch_size", "stage_config"]
