"""MLLM rows (stage 3) -> the common :class:`~molmo2_data.example.Example`, so desktop recordings are
formatted, tokenized, packed and mixed like image and video data.

An example is: ``images`` = the window's screen frames in time order (consecutive repeats of the same
frame — the carried-forward state — collapsed, unless ``dedupe_frames=False``) as decoded-pixel
:class:`ImageRef` (no PNG round trip); one :class:`Messages` annotation, user = the instruction, assistant = the encoded
events joined by newlines (the :mod:`.encoder` text format); metadata ``extra`` = the row's metadata plus
``image_bins`` (the bin of each image) and ``image_errors`` (every frame that could not be produced,
with its reason — never silently dropped).

A window with no usable frame at all (video missing, not decodable, no screen message yet) is not a
desktop *vision* example: it raises :class:`MediaMissingError`, which the loader counts as a skip
(``report["skipped"]``, e.g. ``"owa-desktop: MediaMissingError"``) and :class:`OwaMllmDataset` counts in
``skipped``. Pass ``allow_text_only=True`` to keep such windows as text-only examples.

To use a converted MLLM dataset in a mixture, register it under a name and name it in a custom mixture::

    register_owa_dataset("owa-desktop", "/data/mllm_dataset")
    custom_mixture({"owa-desktop": 0.1, "pixmo-cap": 0.9})
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from molmo2_data.datasets.base import Dataset
from molmo2_data.errors import ConfigError, MediaMissingError
from molmo2_data.example import Example, ImageRef, Message, Messages, Metadata
from molmo2_data.owa.vlm import VLMDatasetBuilder, _as_list_of_dicts


def mllm_row_to_example(row: Mapping[str, Any], frames: Sequence[np.ndarray | None],
                        errors: Sequence[Mapping[str, Any]] = (), *, dataset: str = "owa",
                        split: str = "train", index: int | None = None, dedupe_frames: bool = True,
                        max_images: int | None = 5, allow_text_only: bool = False) -> Example:
    """Build an Example from one MLLM row and its decoded frames (aligned with ``image_refs``).

    Raises :class:`MediaMissingError` when no frame is usable, unless ``allow_text_only``.

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
    if not images and not allow_text_only:
        raise MediaMissingError(f"desktop window {_where(row)} has no usable screen frame "
                                f"({no_image_reason(refs, errors)}); skipped (allow_text_only=True keeps it "
                                "as text)", path=next((r.get("path") for r in refs if r.get("path")), None))
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


def _where(row: Mapping[str, Any]) -> str:
    meta = row.get("metadata") or {}
    return f"{meta.get('file_path')}#{meta.get('sequence_idx')}"


def no_image_reason(refs: Sequence[Mapping[str, Any]], errors: Sequence[Mapping[str, Any]]) -> str:
    """The most common reason a window has no frame (``no_screen_yet`` when it has no screen state)."""
    reasons = Counter(str(e.get("reason", "?")).split(":")[0] for e in errors)
    if not refs:
        return "no_screen_yet"
    return reasons.most_common(1)[0][0] if reasons else "no_frame"


class OwaMllmDataset(Dataset):
    """A saved MLLM dataset (stage 3) as a common-interface dataset of Examples.

    Windows without a usable frame raise :class:`MediaMissingError` (the loader counts the skip) and
    are counted in ``skipped`` by reason, unless ``allow_text_only=True``."""

    def __init__(self, mllm_dataset: Any, split: str = "train", name: str = "owa",
                 dedupe_frames: bool = True, max_cache_size: int = 256, max_images: int | None = 5,
                 allow_text_only: bool = False):
        if not isinstance(allow_text_only, bool):
            raise ConfigError(f"allow_text_only must be True or False, got {allow_text_only!r}")
        self.name, self.split = name, split
        self.builder = VLMDatasetBuilder(mllm_dataset, image_format="numpy", cache_images=True,
                                         max_cache_size=max_cache_size, split=split)
        self.dedupe_frames = dedupe_frames
        self.max_images = max_images
        self.allow_text_only = allow_text_only
        self.skipped: Counter[str] = Counter()  # "no usable frame: <reason>" -> windows

    def __len__(self) -> int:
        return len(self.builder)

    def get(self, item: int, rng: np.random.RandomState) -> Example:
        row = self.builder.dataset[int(item)]
        frames, errors = self.builder.load_frames(row["image_refs"])
        try:
            return mllm_row_to_example(row, frames, errors, dataset=self.name, split=self.split, index=int(item),
                                       dedupe_frames=self.dedupe_frames, max_images=self.max_images,
                                       allow_text_only=self.allow_text_only)
        except MediaMissingError:
            reason = no_image_reason(_as_list_of_dicts(row["image_refs"]), errors)
            self.skipped[f"no usable frame: {reason}"] += 1
            raise

    def report(self) -> dict[str, Any]:
        """Windows available and skipped so far (for ``inspect``), plus the stage-3 media summary."""
        return {"rows": len(self), "examples": len(self), "skipped": dict(self.skipped),
                "media_summary": self.builder.media_summary}


def register_owa_dataset(name: str, mllm_dataset: str | os.PathLike, **options: Any) -> None:
    """Register a saved MLLM dataset under ``name`` (``get_dataset(name, split=...)`` then works, and
    mixtures can name it)."""
    from molmo2_data.datasets.registry import register_dataset

    path = os.fspath(mllm_dataset)

    def factory(split: str = "train", **_: Any) -> OwaMllmDataset:
        return OwaMllmDataset(path, split=split, name=name, **options)

    register_dataset(name, overwrite=True)(factory)
