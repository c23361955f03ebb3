"""Sets fetched by hand: what to fetch, where to put it, and turning it into local tables.

Some official sources cannot be downloaded by a program: InfographicVQA and ST-VQA need an account
and acceptance of terms at the Robust Reading Competition site, and AI2D, DVQA, FigureQA, PlotQA and
TabMWP are built by the official code from raw archives (its ``dataset_builders``). A reader that names a
:class:`ManualSource` is handled here: ``download`` imports what is present into the standard table
layout (once per change of the hand-fetched files) and says exactly what is missing; ``download
--check`` reports the same without importing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from molmo2_data import paths
from molmo2_data.errors import SchemaError
from molmo2_data.sample import atomic
from molmo2_data.tables import write_table

Converter = Callable[[Path, str], pa.Table]  # (the hand-fetched file or folder, source split) -> table


@dataclass(frozen=True)
class ManualSource:
    """``files`` maps each source split to a file or folder under ``manual/<dataset>/``; ``convert``
    turns it into the reader's table; ``what`` says what to fetch (URLs, terms of use)."""

    what: str
    files: Mapping[str, str]
    convert: Converter
    hub: str | None = None  # a Hub dataset repo that holds the files: ``download`` fetches them
    hub_files: tuple[str, ...] = ()  # the files (glob patterns) to fetch from ``hub`` (default: all)
    watch_folder: bool = False  # re-import when any file under manual/<dataset>/ changes, not only ``files``


def manual_of(cls: Any) -> ManualSource | None:
    return getattr(cls, "MANUAL", None)


def _stamp(p: Path, recursive: bool = False) -> str:
    """Change marker of a file or of a folder's files (names, sizes, mtimes; with ``recursive``, of every
    file below it)."""
    if p.is_file():
        st = p.stat()
        return f"{st.st_size}:{st.st_mtime_ns}"
    if recursive:
        parts = sorted((str(f.relative_to(p)), f.stat().st_size, f.stat().st_mtime_ns)
                       for f in p.rglob("*") if f.is_file() and not f.name.startswith("."))
    else:
        parts = sorted((e.name, e.stat().st_size, e.stat().st_mtime_ns) for e in os.scandir(p) if e.is_file())
    return json.dumps(parts)


def import_manual(name: str, cls: Any, tables: list[tuple[str, str]], root: Path,
                  log: Callable[[str], None] = print, refresh: bool = False) -> dict[tuple[str, str], str]:
    """Import every (config, split) whose hand-fetched file is present; returns per pair "imported",
    "cached" or "missing: <where>"."""
    src = manual_of(cls)
    assert src is not None
    base = paths.manual_dir(name, root)
    out: dict[tuple[str, str], str] = {}
    for config, split in tables:
        rel = src.files.get(split)
        if rel is None:
            continue
        f = base / rel
        if not f.exists():
            out[(config, split)] = f"missing: {f}"
            continue
        dest = paths.table_path(name, config, split, root)
        side = dest.with_suffix(".manual.json")
        stamp = _stamp(base if src.watch_folder else f, recursive=src.watch_folder)
        if not refresh and dest.exists() and side.exists() and json.loads(side.read_text()).get("stamp") == stamp:
            out[(config, split)] = "cached"
            continue
        try:
            table = src.convert(f, split)
        except (OSError, pa.ArrowException) as e:  # unreadable, or not the format the source uses
            raise SchemaError(f"{name}: cannot read {f}: {type(e).__name__}: {e}") from e
        with atomic.atomic_path(dest) as tmp:
            write_table(table, tmp)
        side.write_text(json.dumps({"source": str(f), "stamp": stamp, "rows": table.num_rows}))
        log(f"{name}: imported {table.num_rows:,} rows from {f}")
        out[(config, split)] = "imported"
    return out


def instructions(name: str, cls: Any, root: Path) -> str:
    src = manual_of(cls)
    assert src is not None
    base = paths.manual_dir(name, root)
    want = ", ".join(f"{s}: {base / r}" for s, r in src.files.items())
    return f"{name} is fetched by hand: {src.what} Put the files at {want}, then run `molmo2-data download " \
           f"--datasets {name}` to import them."


# ---------------------------------------------------------------------------------------------
# Converters shared by several sets
# ---------------------------------------------------------------------------------------------


def read_builder_output(folder: Path, split: str) -> pa.Table:
    """A Hugging Face ``datasets`` table written by a builder: the ``save_to_disk`` folder of one split
    (``data-*.arrow``, Arrow IPC streams) or parquet files (``*.parquet``)."""
    arrows = sorted(folder.glob("*.arrow")) if folder.is_dir() else ([folder] if folder.suffix == ".arrow" else [])
    parquets = sorted(folder.glob("*.parquet")) if folder.is_dir() else ([folder] if folder.suffix == ".parquet" else [])
    tables = []
    for f in arrows:
        with pa.memory_map(str(f)) as src:
            try:
                tables.append(pa.ipc.open_stream(src).read_all())
            except pa.ArrowInvalid:
                src.seek(0)
                tables.append(pa.ipc.open_file(src).read_all())
    tables += [pq.read_table(f) for f in parquets]
    if not tables:
        raise SchemaError(f"{folder}: no .arrow or .parquet files of split {split!r} (expected a builder's "
                          "save_to_disk output)")
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables, promote_options="permissive")


def read_json(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except ValueError as e:
        raise SchemaError(f"{path}: not valid JSON ({e})") from e
