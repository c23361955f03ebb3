"""Every built-in reader reads a table in its source's published schema (datasets/published.py), and a
drifted schema (a column the reader needs renamed or retyped) is a clear SchemaError.

For each dataset the sample table is cut to exactly the published columns (optional columns of other
revisions dropped) and read from a root that shares the sample media; the examples must be the same as
from the full sample table, whose annotations the per-family tests check against the ground truth."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from molmo2_data.datasets import get_dataset, list_datasets
from molmo2_data.datasets.published import PUBLISHED
from molmo2_data.datasets.registry import dataset_class
from molmo2_data.errors import EmptyExampleError, SchemaError
from molmo2_data.tables import read_table, write_table

BUILTIN = sorted(n for n in list_datasets() if dataset_class(n).__module__.startswith("molmo2_data.datasets.")
                 and getattr(dataset_class(n), "HF_PATH", ""))


def test_every_builtin_dataset_has_a_published_schema() -> None:
    assert len(BUILTIN) >= 23
    assert [n for n in BUILTIN if n not in PUBLISHED] == []
    for name in BUILTIN:
        assert PUBLISHED[name].hf_path == dataset_class(name).HF_PATH, name


def _tables(root: Path, name: str) -> list[Path]:
    return sorted((root / "tables" / name).rglob("*.arrow"))


def _shadow_root(sample_root: Path, tmp_path: Path, name: str) -> Path:
    """A data root sharing the sample media (symlinks) with its own copy of one dataset's tables."""
    root = tmp_path / "root"
    root.mkdir(parents=True)
    for entry in sample_root.iterdir():
        if entry.name not in ("tables", "index"):
            os.symlink(entry, root / entry.name)
    (root / "tables").mkdir()
    for entry in (sample_root / "tables").iterdir():  # other sets' tables (held-out splits look at them)
        if entry.name != name:
            os.symlink(entry, root / "tables" / entry.name)
    return root


def _split_and_config(table_file: Path) -> tuple[str, str]:
    return table_file.parent.name, table_file.stem


def _first_split(name: str, files: list[Path]) -> tuple[str, str | None]:
    cls = dataset_class(name)
    for ours, spec in cls.SPLITS.items():  # the reader's first split with a table (train before test)
        for f in files:
            config, split = _split_and_config(f)
            if spec == split or ours == split:
                return ours, (config if config != "default" else None)
    return next(iter(cls.SPLITS)), None


def _fingerprints(ds) -> list[bytes]:
    out = []
    for i in range(len(ds)):
        ex = ds.get(i, np.random.RandomState(i))
        out.append(pickle.dumps(([repr(a) for a in ex.annotations], ex.metadata.rows)))
    return out


@pytest.mark.parametrize("name", BUILTIN)
def test_reader_reads_the_published_schema(sample_root: Path, tmp_path: Path, name: str) -> None:
    spec = PUBLISHED[name]
    files = _tables(sample_root, name)
    assert files, f"{name}: no sample table"
    root = _shadow_root(sample_root, tmp_path, name)
    for f in files:
        table = read_table(f)
        types = {fld.name: str(fld.type) for fld in table.schema}
        extra = sorted(set(types) - set(spec.columns) - set(spec.optional))
        assert extra == [], f"{name} {f.name}: columns the card does not list: {extra}"
        for col, ty in spec.columns.items():  # the sample writes the published layout
            assert types.get(col) == ty, f"{name} {f.parent.name}/{f.name}: {col} is {types.get(col)}, card {ty}"
        for col, ty in spec.optional.items():
            assert types.get(col, ty) == ty
        published = table.select(list(spec.columns))
        dst = root / f.relative_to(sample_root)
        dst.parent.mkdir(parents=True, exist_ok=True)
        write_table(published, dst)
    split, config = _first_split(name, files)
    kwargs = {"config": config} if config else {}
    full = get_dataset(name, split=split, root=sample_root, **kwargs)
    only_published = get_dataset(name, split=split, root=root, **kwargs)
    assert len(only_published) == len(full) > 0
    assert _fingerprints(only_published) == _fingerprints(full)


@pytest.mark.parametrize("name", BUILTIN)
def test_schema_drift_is_a_schema_error(sample_root: Path, tmp_path: Path, name: str) -> None:
    """Renaming the first column the reader needs (or giving it another type) fails with a SchemaError
    naming the column, at open time, not an exception deep in the loader."""
    cls = dataset_class(name)
    needed = [c for c in cls.COLUMNS if c in PUBLISHED[name].columns]
    assert needed, f"{name}: the reader declares no published column it needs"
    col = needed[0]
    files = _tables(sample_root, name)
    split, config = _first_split(name, files)
    kwargs = {"config": config} if config else {}
    for change, message in ((lambda t: t.rename_columns([c + "_renamed" if c == col else c for c in t.column_names]),
                             f"missing column '{col}'"),
                            (lambda t: t.set_column(t.column_names.index(col), col,
                                                    pa.array([{"a": 1}] * t.num_rows)), f"column '{col}'")):
        root = _shadow_root(sample_root, tmp_path / message[:8].replace(" ", "_"), name)
        for f in files:
            dst = root / f.relative_to(sample_root)
            dst.parent.mkdir(parents=True, exist_ok=True)
            write_table(change(read_table(f)), dst)
        if cls.COLUMNS[col] is None and "missing" not in message:
            continue  # the reader accepts any type for this column
        with pytest.raises(SchemaError, match=message):
            get_dataset(name, split=split, root=root, **kwargs)


def test_videotrack_object_ids_key_into_mask_id(sample_root: Path, tmp_path: Path) -> None:
    """Published Molmo2-VideoTrack: a point list's object_id is a string key of the row's mask_id; the Track's
    object ids are positions in mask_id; an object_id that is not a key drops that annotation (counted)."""
    name = "molmo2-videotrack"
    ds = get_dataset(name, root=sample_root)
    ex = ds[0]
    row = read_table(_tables(sample_root, name)[0]).slice(ex.metadata.rows[0], 1).to_pylist()[0]
    assert row["clip"] is None or not row["clip"].endswith((".mp4", ".mkv"))
    assert row["video_dataset"] == row["video_dataset"].lower()
    assert [p["object_id"] for p in row["points"]] == row["mask_id"]
    (track,) = ex.annotations
    assert sorted(set(track.object_ids.tolist())) == list(range(len(row["mask_id"])))
    root = _shadow_root(sample_root, tmp_path, name)
    f = _tables(sample_root, name)[0]
    rows = read_table(f).to_pylist()
    target = ex.metadata.rows[0]
    rows[target]["points"][0]["object_id"] = "not-a-mask-id"
    dst = root / f.relative_to(sample_root)
    dst.parent.mkdir(parents=True)
    write_table(pa.Table.from_pylist(rows, schema=read_table(f).schema), dst)
    broken = get_dataset(name, root=root)  # same rows, same order: example 0 is the changed row
    with pytest.raises(EmptyExampleError, match="mask_id"):
        broken.get(0, np.random.RandomState(0))
    assert repr(broken.get(1, np.random.RandomState(1)).annotations) == repr(ds.get(1, np.random.RandomState(1)).annotations)


def test_docs_list_every_source_and_revision() -> None:
    text = (Path(__file__).resolve().parents[1] / "docs" / "datasets.md").read_text()
    for name, spec in PUBLISHED.items():
        assert f"| `{name}` | `{spec.hf_path}` | {spec.revision} |" in text, name
