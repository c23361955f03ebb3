"""MLLM rows (stage 3) -> the common :class:`~molmo2_data.example.Example`, so desktop recordings are
formatted, tokenized, packed and mixed like image and video data.

An example is: ``images`` = the window's screen frames in time order (consecutive repeats of the same
frame — the carried-forward state — collapsed, unless ``dedupe_frames=False``) as decoded-pixel
:class:`ImageRef` (no PNG round trip); one :class:`Messages` annotation, user = the instruction, assistant = the encoded
events joined by newlines (the :mod:`.encoder` text format); metadata ``extra`` = the row's metadata plus
``image_bins`` (the bin of each image) and ``image_errors`` (every frame that could not be produced,
with its reason — never silently dropped).

To use a converted MLLM dataset in a mixture, register it under a name and name it in a custom mixture::

    register_owa_dataset("owa-desktop", "/data/mllm_dataset")
    custom_mixture({"owa-desktop": 0.1, "pixmo-cap": 0.9})
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from molmo2_data.datasets.base import Dataset
from molmo2_data.example import Example, ImageRef, Message, Messages, Metadata
from molmo2_data.owa.vlm import VLMDatasetBuilder, _as_list_of_dicts


def mllm_row_to_example(row: Mapping[str, Any], frames: Sequence[np.ndarray | None],
                        errors: Sequence[Mapping[str, Any]] = (), *, dataset: str = "owa",
                        split: str = "train", index: int | None = None, dedupe_frames: bool = True,
                        max_images: int | None = 5) -> Example:
    """Build an Example from one MLLM row and its decoded frames (aligned with ``image_refs``).

    ``max_images`` (default 5, the vision stage's multi-image limit, which would otherwise keep only the
    first five) keeps that many frames evenly spaced over the window, first and last included; how many
    were left out is recorded in ``extra["images_dropped"]``. None keeps all."""
    refs = _as_list_of_dicts(row["image_refs"])
    images: list[ImageRef] = []
    image_bins: list[int] = []
    last_key = None
    for ref, frame in zip(refs, frames, strict=True):
        if frame is None:
            continue
        key = (ref.get("path"), ref.get("pts_ns"))
        if dedupe_frames and key == last_key:
            continue
        last_key = key
        images.append(ImageRef(array=np.asarray(frame), source=f"{ref.get('path')}#pts_ns={ref.get('pts_ns')}"))
        image_bins.append(int(ref["bin_idx"]))
    dropped = 0
    if max_images is not None and len(images) > max_images:
        keep = np.unique(np.round(np.linspace(0, len(images) - 1, max(max_images, 1))).astype(int))
        if max_images == 1:
            keep = np.array([len(images) - 1])  # one frame: the latest state
        dropped = len(images) - len(keep)
        images = [images[k] for k in keep]
        image_bins = [image_bins[k] for k in keep]
    meta = dict(row["metadata"])
    events = list(row["encoded_events"])
    messages = Messages([Message("user", row["instruction"]), Message("assistant", "\n".join(events))],
                        style="owa_desktop_actions")
    extra = {**meta, "image_bins": image_bins, "image_errors": [dict(e) for e in errors],
             "images_dropped": dropped}
    return Example(
        annotations=[messages],
        metadata=Metadata(dataset=dataset, split=split, rows=() if index is None else (index,),
                          source_ids={"file_path": meta.get("file_path"), "sequence_idx": meta.get("sequence_idx")},
                          extra=extra),
        images=tuple(images),
    )


class OwaMllmDataset(Dataset):
    """A saved MLLM dataset (stage 3) as a common-interface dataset of Examples."""

    def __init__(self, mllm_dataset: Any, split: str = "train", name: str = "owa",
                 dedupe_frames: bool = True, max_cache_size: int = 256, max_images: int | None = 5):
        self.name, self.split = name, split
        self.builder = VLMDatasetBuilder(mllm_dataset, image_format="numpy", cache_images=True,
                                         max_cache_size=max_cache_size, split=split)
        self.dedupe_frames = dedupe_frames
        self.max_images = max_images

    def __len__(self) -> int:
        return len(self.builder)

    def get(self, item: int, rng: np.random.RandomState) -> Example:
        row = self.builder.dataset[int(item)]
        frames, errors = self.builder.load_frames(row["image_refs"])
        return mllm_row_to_example(row, frames, errors, dataset=self.name, split=self.split, index=int(item),
                                   dedupe_frames=self.dedupe_frames, max_images=self.max_images)


def register_owa_dataset(name: str, mllm_dataset: str | os.PathLike, **options: Any) -> None:
    """Register a saved MLLM dataset under ``name`` (``get_dataset(name, split=...)`` then works, and
    mixtures can name it)."""
    from molmo2_data.datasets.registry import register_dataset

    path = os.fspath(mllm_dataset)

    def factory(split: str = "train", **_: Any) -> OwaMllmDataset:
        return OwaMllmDataset(path, split=split, name=name, **options)

    register_dataset(name, overwrite=True)(factory)
