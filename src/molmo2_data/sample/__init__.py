"""Embedded sample data: a small, true, local copy of every registered dataset.

Each writer produces its dataset's tables in the exact published schema plus real media (JPEG/PNG
images, H.264 MP4/MKV videos) whose annotations are true, and records what it drew as ground truth.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from molmo2_data import paths
from molmo2_data.errors import ConfigError
from molmo2_data.sample import atomic
from molmo2_data.sample.context import SAMPLE_URL_BASE, SampleContext, load_truth

SampleWriter = Callable[[SampleContext], None]


class UnknownSampleDatasetError(ConfigError, KeyError):
    """A dataset name without a sample writer (a bad ``--datasets`` value: CLI exit status 2)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])

SAMPLE_WRITERS: dict[str, SampleWriter] = {}

__all__ = ["SAMPLE_URL_BASE", "SAMPLE_WRITERS", "SampleContext", "UnknownSampleDatasetError", "load_truth",
           "sample_writer", "write_sample"]


def sample_writer(name: str) -> Callable[[SampleWriter], SampleWriter]:
    def decorate(fn: SampleWriter) -> SampleWriter:
        SAMPLE_WRITERS[name] = fn
        return fn

    return decorate


def _load_writers() -> None:
    from molmo2_data.sample import (  # noqa: F401  (importing registers the writers)
        academic_ai2_sets,
        academic_built_sets,
        academic_hub_sets,
        academic_image_sets,
        academic_point_sets,
        academic_rrc_sets,
        image_sets,
        multi_image_sets,
        tracking_sets,
        video_academic_label_sets,
        video_academic_qa_sets,
        video_point_sets,
        video_sets,
    )


def write_sample(root: str | os.PathLike | None = None, seed: int = 0, datasets: Iterable[str] | None = None,
                 progress: bool = True) -> dict[str, float]:
    """Write sample data for ``datasets`` (default: all) under ``root``; returns seconds per dataset."""
    _load_writers()
    root = paths.data_root(root)
    names = list(datasets) if datasets is not None else sorted(SAMPLE_WRITERS)
    unknown = [n for n in names if n not in SAMPLE_WRITERS]
    if unknown:
        from molmo2_data.datasets.base import _unknown

        raise UnknownSampleDatasetError(_unknown("no sample writer for", unknown[0], sorted(SAMPLE_WRITERS)))
    if root.exists() and not root.is_dir():
        raise ConfigError(f"cannot write sample data to {root}: it exists and is not a directory")
    ctx = SampleContext(root=Path(root), seed=seed)
    timings: dict[str, float] = {}
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(names), desc="sample data", unit="dataset")
    for name in names:
        t0 = time.perf_counter()
        if bar is not None:
            bar.set_postfix_str(name)
        SAMPLE_WRITERS[name](ctx)
        timings[name] = time.perf_counter() - t0
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    ctx.flush_truth()
    atomic.write_text(root / "SAMPLE_DATA", f"seed={seed}\n")
    return timings
