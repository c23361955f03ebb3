"""Local tables: Arrow IPC stream files, memory-mapped, in the exact published schema.

The Arrow IPC *stream* format is what Hugging Face ``datasets`` writes to its cache, so a table here
can also be opened with ``datasets.Dataset.from_file``. Reading maps the file: opening a
million-row table costs no per-row Python objects and almost no resident memory.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from molmo2_data.errors import DatasetNotAvailableError, SchemaError


def write_table(table: pa.Table, path: str | os.PathLike) -> Path:
    """Write atomically (temp file + rename): a reader never sees half a table."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=10_000)
    os.replace(tmp, path)
    return path


def read_table(path: str | os.PathLike) -> pa.Table:
    """Open a table memory-mapped (zero-copy). A file that is not an Arrow IPC stream raises SchemaError; a
    stream cut off mid-table (an interrupted copy) :class:`DatasetNotAvailableError`: both name the file."""
    try:
        source = pa.memory_map(str(path), "r")
    except FileNotFoundError as e:
        raise DatasetNotAvailableError(f"{path}: no such table file") from e
    except OSError as e:
        raise DatasetNotAvailableError(f"{path}: cannot open the table ({e})") from e
    redo = "delete it and download it again (`molmo2-data download --datasets NAME`, or `molmo2-data sample`)"
    try:
        reader = pa.ipc.open_stream(source)
    except (pa.ArrowException, OSError) as e:
        raise SchemaError(f"{path} is not an Arrow IPC stream table: {e}; {redo}") from e
    try:
        return reader.read_all()
    except (pa.ArrowException, OSError) as e:  # OSError / ArrowInvalid: a body cut off mid-batch
        raise DatasetNotAvailableError(f"{path}: the table is truncated or corrupt ({e}); {redo}") from e


def require_columns(table: pa.Table, required: Mapping[str, Callable[[pa.DataType], bool] | None],
                    where: str) -> None:
    """Fail with one clear line when a column the reader needs is missing or has the wrong type."""
    for name, check in required.items():
        if name not in table.column_names:
            raise SchemaError(f"{where}: missing column {name!r} (has {', '.join(table.column_names)})")
        if check is not None and not check(table.schema.field(name).type):
            raise SchemaError(f"{where}: column {name!r} has unexpected type {table.schema.field(name).type}")


# Type predicates for ``require_columns``.
def is_string(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def is_integer(t: pa.DataType) -> bool:
    return pa.types.is_integer(t)


def is_number(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t)


def is_list(t: pa.DataType) -> bool:
    return pa.types.is_list(t) or pa.types.is_large_list(t)


def is_struct(t: pa.DataType) -> bool:
    return pa.types.is_struct(t)


def is_bool(t: pa.DataType) -> bool:
    return pa.types.is_boolean(t)


def row_dict(table: pa.Table, row: int, columns: Sequence[str] | None = None) -> dict[str, Any]:
    """One row as Python values via a zero-copy one-row slice. (``Table.take`` gathers across every
    chunk of every column first, which costs milliseconds per row on large memory-mapped tables.)"""
    if columns is not None:
        table = table.select([c for c in columns if c in table.column_names])
    return table.slice(int(row), 1).to_pylist()[0]


def group_rows(keys: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Group row indices by key, in order of first appearance.

    Returns (order, offsets, first_row): rows of group g are ``order[offsets[g]:offsets[g+1]]``
    (ascending), and ``first_row[g]`` is the first row of group g. Vectorised: no Python per row.
    Rows whose key is null are one-row groups each (listed last): the reader reports them per row.
    """
    if isinstance(keys, pa.ChunkedArray):
        keys = keys.combine_chunks()
    indices = pc.dictionary_encode(keys).indices
    codes = pc.fill_null(indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    null = codes < 0
    if null.any():  # a null key groups with nothing: each such row is a group of its own, after the others
        codes[null] = codes.max(initial=-1) + 1 + np.arange(int(null.sum()))
    # Dictionary codes are assigned in order of first appearance, so sorting by code keeps that order.
    order = np.argsort(codes, kind="stable")
    counts = np.bincount(codes)
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    first_row = order[offsets[:-1]]
    return order, offsets, first_row


def file_fingerprint(path: str | os.PathLike) -> str:
    st = os.stat(path)
    return f"{st.st_size}:{st.st_mtime_ns}"


class IndexCache:
    """A small ``.npz`` cache of numpy arrays derived from a table, keyed by a fingerprint of
    everything they depend on (table files, reader version, options, media listing)."""

    def __init__(self, path: Path, key: Mapping[str, Any]):
        self.path = path
        self.digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()

    def load(self) -> dict[str, np.ndarray] | None:
        try:
            with np.load(self.path, allow_pickle=False) as f:
                if str(f["__key__"]) != self.digest:
                    return None
                return {k: f[k] for k in f.files if k != "__key__"}
        except (OSError, KeyError, ValueError):
            return None

    def save(self, arrays: Mapping[str, np.ndarray]) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(self.path.name + f".tmp{os.getpid()}.npz")
            np.savez(tmp, __key__=np.array(self.digest), **arrays)
            os.replace(tmp, self.path)
        except OSError:
            pass  # a read-only data root still works, just without the cache
