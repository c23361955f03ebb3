"""One entry point from an Example's media to model inputs: ``VisionPreprocessor``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from molmo2_data.example import Example, ImageRef, VideoRef
from molmo2_data.vision.image import (
    ImageConfig,
    ImageInputs,
    choose_max_crops,
    combine,
    preprocess_image,
    target_size,
)
from molmo2_data.vision.video import VideoConfig, VideoInputs, preprocess_video

Media = Example | ImageRef | np.ndarray | Sequence[ImageRef | np.ndarray] | VideoRef | None


@dataclass
class VisionPreprocessor:
    """Turns media into pixels, pooling indices, patch masks and the token layout.

    ``p_high_res`` may be overridden per call (the SFT mixture sets it per dataset). All randomness
    comes from the ``rng`` passed in (the example's rng).
    """

    image: ImageConfig = field(default_factory=ImageConfig)
    video: VideoConfig = field(default_factory=VideoConfig)

    def __call__(self, media: Media, rng: np.random.RandomState | None = None,
                 p_high_res: float | None = None) -> ImageInputs | VideoInputs | None:
        if isinstance(media, Example):
            media = media.video if media.video is not None else (list(media.images) or None)
        if media is None:
            return None
        if isinstance(media, VideoRef):
            return preprocess_video(media, self.video)
        items = [media] if isinstance(media, ImageRef | np.ndarray) else list(media)
        if not items:
            return None
        return self.images(items, rng, p_high_res)

    def images(self, items: Sequence[ImageRef | np.ndarray], rng: np.random.RandomState | None = None,
               p_high_res: float | None = None) -> ImageInputs:
        cfg = self.image if p_high_res is None else replace(self.image, p_high_res=p_high_res)
        items = list(items)[: cfg.max_images]
        max_crops, high_res = choose_max_crops(cfg, len(items), rng)
        parts = [self._one(item, cfg, max_crops) for item in items]
        out = combine(parts, with_prefix=len(parts) > 1, patches_per_crop=cfg.crop_patches ** 2)
        return replace(out, high_res=high_res)

    def _one(self, item: ImageRef | np.ndarray, cfg: ImageConfig, max_crops: int) -> ImageInputs:
        if isinstance(item, np.ndarray):
            return preprocess_image(item, cfg, max_crops)
        if not cfg.fast_jpeg_draft or item.array is not None:
            return preprocess_image(item.load(), cfg, max_crops)
        from molmo2_data.media.image import decode_image_draft

        arr, full = decode_image_draft(item.path if item.path is not None else item.data,
                                       lambda h, w: _needed_size(h, w, cfg, max_crops))
        return preprocess_image(arr, cfg, max_crops, source_size=full)


def _needed_size(h: int, w: int, cfg: ImageConfig, max_crops: int) -> tuple[int, int]:
    """Smallest decode size that keeps the resizes downscaling at least 2x (draft only pays off then;
    a smaller decode would upscale and visibly blur)."""
    if cfg.crop_mode == "resize":
        th, tw = cfg.base_size, cfg.base_size
    else:
        th, tw = target_size(h, w, cfg, max_crops)
        th, tw = max(th, cfg.base_size), max(tw, cfg.base_size)
    return min(h, 2 * th), min(w, 2 * tw)
