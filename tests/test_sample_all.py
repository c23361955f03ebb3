"""The sample data covers every catalog dataset, is small, deterministic, and readable end to end."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from molmo2_data.datasets import get_dataset, list_datasets
from molmo2_data.inspect import availability_all, default_split
from molmo2_data.media.video import probe_video
from molmo2_data.sample import SAMPLE_WRITERS, write_sample

BUILTIN = [n for n in list_datasets() if not n.startswith("test-")]


def test_every_dataset_has_a_sample_writer() -> None:
    from molmo2_data.sample import _load_writers

    _load_writers()
    assert sorted(BUILTIN) == sorted(SAMPLE_WRITERS)
    assert len(BUILTIN) >= 20


def test_inspect_lists_every_dataset_with_rows(sample_root: Path) -> None:
    rows = {a.name: a for a in availability_all(sample_root)}
    for name in BUILTIN:
        a = rows[name]
        assert a.status == "ok", (name, a.status)
        assert a.rows > 0 and a.examples >= 20, (name, a.rows, a.examples)
        assert a.media_missing == 0, (name, a.skipped)


@pytest.mark.parametrize("name", BUILTIN)
def test_examples_are_valid_and_media_decode(sample_root: Path, name: str) -> None:
    ds = get_dataset(name, split=default_split(name), root=sample_root)
    assert len(ds) >= 20
    for i in range(20):
        ex = ds.get(i, np.random.RandomState(i))
        assert ex.annotations and ex.metadata.dataset == name
        if i < 3:
            for im in ex.images:
                arr = im.load()
                assert arr.ndim == 3 and arr.shape[2] == 3 and arr.dtype == np.uint8
            if ex.video is not None:
                info = probe_video(ex.video.path)
                assert info.duration > 0 and info.num_frames > 0 and info.codec == "h264"


def test_sample_is_small(sample_root: Path) -> None:
    seen, total = set(), 0
    for dirpath, _, files in os.walk(sample_root):
        for f in files:
            st = os.stat(os.path.join(dirpath, f))
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    assert total < 50e6


def _digest_tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and "index" not in p.parts}


def test_sample_is_deterministic_for_a_seed(tmp_path: Path) -> None:
    names = ["pixmo-points", "molmo2-videotrack", "molmo2-synmultiimageqa"]
    write_sample(tmp_path / "a", seed=11, datasets=names, progress=False)
    write_sample(tmp_path / "b", seed=11, datasets=names, progress=False)
    write_sample(tmp_path / "c", seed=12, datasets=names, progress=False)
    a, b, c = (_digest_tree(tmp_path / x) for x in "abc")
    assert a == b
    assert a.keys() & c.keys() and a != c
