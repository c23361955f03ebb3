"""Per-task part files of the OWA stages, and the driver's assembly of them into a split.

Each stage is split into tasks (stage 1: one per recording; stages 2 and 3: one per file of a split)
that run on an engine of :mod:`molmo2_data.engine` (``local`` or ``ray``). A task writes its rows to its
own part file, atomically (a temporary name, then ``os.replace``): re-running a task after a crash
rewrites the same file with the same content. The driver then joins the parts of a split in input
order and saves the dataset as before, so the saved files — ``state.json``'s fingerprint included —
are byte for byte those of the one-loop implementation, whichever engine ran the tasks:

* stages 1 and 2 (flat columns): a part is the Arrow table of its rows (:func:`rows_table`); the
  driver concatenates the tables and hands the columns to ``Dataset.from_dict``
  (:func:`dataset_from_tables`), which gives the very buffers — and fingerprint — that converting all
  rows at once gives (columns under 2 GiB; ``tests/test_owa_ray.py`` checks it against the one-loop code);
* stage 3 (nested lists of structs): a part is the Python columns of its windows and the driver
  converts them all at once (:func:`dataset_from_columns`). Converted piecewise, nested columns end up
  with other (unused) buffer sizes, which changes the dataset's fingerprint though not its data.

Parts live in ``<output_dir>/.owa_parts`` while the stage runs (on Ray, the workers write there: a
multi-machine cluster needs the output on a shared file system) and are removed at the end; without an
output directory (in-memory use, local engine only) in a temporary directory.

Stages 2 and 3 read their input split where it is saved (:func:`split_source`: the dataset's Arrow
files, memory-mapped by every task); a task gets the row numbers of its file (:class:`Rows`).
"""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from molmo2_data.engine import check_engine
from molmo2_data.errors import ConfigError

PARTS_DIR = ".owa_parts"


def check_engine_args(engine: str, output_dir: str | os.PathLike | None, address: str | None = None) -> str:
    """Validate the engine options before any work (Ray workers write their parts under ``output_dir``)."""
    engine = check_engine(engine)
    if engine == "ray" and output_dir is None:
        raise ConfigError("engine='ray' needs an output directory (the workers write their parts there)")
    if engine == "local" and address:
        raise ConfigError("--address is for --engine ray (the local engine runs on this machine)")
    return engine


@contextmanager
def parts_dir(output_dir: str | os.PathLike | None) -> Iterator[Path]:
    """An empty directory for the part files of one stage run, removed afterwards (also on error)."""
    if output_dir is None:
        path = Path(tempfile.mkdtemp(prefix="owa_parts_"))
    else:
        path = Path(output_dir).expanduser().resolve() / PARTS_DIR
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def rows_table(cols: dict[str, list[Any]], features: Any) -> Any:
    """Python columns -> Arrow table of the flat ``features`` (the buffers ``Dataset.from_dict`` builds,
    without its per-call fingerprint, a few ms of hashing per part)."""
    import pyarrow as pa

    return pa.Table.from_pydict({k: cols[k] for k in features}, schema=features.arrow_schema)


def write_part(content: Any, path: str | os.PathLike) -> None:
    """Write a part (an Arrow table or a dict of Python columns) at ``path`` atomically, pickled: the
    Arrow buffers come back exactly as built (an IPC stream drops the buffers of zero-length children)."""
    path = str(path)
    tmp = f"{path}.tmp-{uuid.uuid4().hex}"
    try:
        with open(tmp, "wb") as f:
            pickle.dump(content, f, protocol=5)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def read_part(path: str | os.PathLike) -> Any:
    """A part written by :func:`write_part` (only ever a file this stage's own tasks wrote)."""
    with open(path, "rb") as f:
        return pickle.load(f)


def dataset_from_tables(paths: Sequence[str | os.PathLike], features: Any) -> Any:
    """The split made of these Arrow parts, in this order: the table ``Dataset.from_dict`` makes of all
    their rows at once (each column concatenated afresh, also when there is a single part)."""
    import pyarrow as pa
    from datasets import Dataset

    tables = [read_part(p) for p in paths]
    if not tables:
        return Dataset.from_dict({k: [] for k in features}, features=features)
    columns = {}
    for col in features:
        chunks = [chunk for t in tables for chunk in t[col].chunks]
        try:
            columns[col] = pa.concat_arrays(chunks)
        except (pa.ArrowInvalid, pa.ArrowCapacityError):  # over 2 GiB in one column: kept in chunks
            columns[col] = pa.chunked_array(chunks, type=chunks[0].type)
    return Dataset.from_dict(columns, features=features)


def dataset_from_columns(paths: Sequence[str | os.PathLike], features: Any) -> Any:
    """The split made of these parts of Python columns, in this order, converted at once."""
    from datasets import Dataset

    columns: dict[str, list[Any]] = {k: [] for k in features}
    for p in paths:
        part = read_part(p)
        for k in features:
            columns[k].extend(part[k])
    return Dataset.from_dict(columns, features=features)


# ------------------------------------------------------------------------------------------------
# Inputs of stages 2 and 3
# ------------------------------------------------------------------------------------------------


def split_source(ds: Any, work: Path, name: str) -> tuple[str, ...]:
    """Absolute paths of the Arrow files holding split ``ds`` (the saved dataset's own files); a split
    held in memory (restored empty split, in-memory loading) is first written to ``work/<name>``."""
    if ds._indices is None and ds.cache_files:
        return tuple(os.path.abspath(f["filename"]) for f in ds.cache_files)
    import pyarrow as pa

    path = work / name
    table = ds.with_format("arrow")[:]
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return (str(path),)


def read_source(paths: Sequence[str]) -> Any:
    """The table of a split from its Arrow files, memory-mapped (zero copy)."""
    import pyarrow as pa

    tables = []
    for p in paths:
        with pa.memory_map(p, "r") as source:
            tables.append(pa.ipc.open_stream(source).read_all())  # how datasets writes its Arrow files
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables)


@dataclass(frozen=True)
class Rows:
    """Row numbers of one file in a split's table, in processing order: ``lo..hi`` (exclusive), or
    ``index`` when they are not one ascending run."""

    lo: int
    hi: int
    index: np.ndarray | None = None

    @classmethod
    def of(cls, index: np.ndarray) -> Rows:
        index = np.asarray(index, dtype=np.int64)
        lo, hi = int(index[0]), int(index[-1]) + 1
        contiguous = hi - lo == len(index) and bool(np.all(np.diff(index) == 1))
        return cls(lo, hi, None if contiguous else index)

    def take(self, table: Any, columns: Sequence[str] | None = None) -> Any:
        if self.index is None:
            lo, hi = self.lo, self.hi
        else:
            lo, hi = int(self.index.min()), int(self.index.max()) + 1
        part = table.slice(lo, hi - lo)
        if columns is not None:
            part = part.select(list(columns))
        return part if self.index is None else part.take(self.index - lo)


def file_runs(files: list[Any]) -> list[tuple[int, int]]:
    """``[a, b)`` ranges of equal consecutive values (a sorted file-path column -> one range per file)."""
    bounds = [0] + [i for i in range(1, len(files)) if files[i] != files[i - 1]] + [len(files)]
    return [(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=False) if a < b]


@dataclass
class SplitPlan:
    """One split of a stage: its tasks (one per file, in output order) and the driver's own counts."""

    tasks: list[Any] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    idle_files: list[str] = field(default_factory=list)  # files with no row to process
