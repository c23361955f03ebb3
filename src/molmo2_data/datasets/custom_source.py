"""Read the records of a custom dataset's source: JSON / JSONL / parquet files, a folder of
``<split>.*`` files, a local Hugging Face dataset folder, or a Hub id.

Columns are the union over all records (a first record without an image must not make every
example text-only); a bad line or record names the file and line.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa

from molmo2_data.datasets.base import _unknown
from molmo2_data.errors import ConfigError, DatasetNotAvailableError, UnknownSplitError


def _read_records(path: Path) -> pa.Table:
    """A table of every record in a JSON / JSONL / parquet file. The columns are the union over ALL
    records (not the first one's keys); a bad line names file and line."""
    if path.suffix == ".jsonl":
        rows = []
        for n, line in enumerate(_read_text(path).splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise ConfigError(f"{path}, line {n}: invalid JSON ({e.msg}, column {e.colno})") from e
            if not isinstance(rows[-1], Mapping):
                raise ConfigError(f"{path}, line {n}: a record must be a JSON object, got {type(rows[-1]).__name__}")
    elif path.suffix == ".json":
        try:
            rows = json.loads(_read_text(path))
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path}, line {e.lineno}: invalid JSON ({e.msg}, column {e.colno})") from e
        if isinstance(rows, Mapping):
            rows = rows.get("data", rows.get("annotations"))
        if not isinstance(rows, list):
            raise ConfigError(f"{path}: expected a JSON list of records (or {{'data': [...]}})")
        bad = next((i for i, r in enumerate(rows) if not isinstance(r, Mapping)), None)
        if bad is not None:
            raise ConfigError(f"{path}: record {bad} is not a JSON object")
    elif path.suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            return pq.read_table(path, memory_map=True)
        except (pa.ArrowException, OSError) as e:
            raise DatasetNotAvailableError(f"{path}: cannot read the parquet file ({e})") from e
    else:
        raise ConfigError(f"{path}: unsupported annotation file (use .json, .jsonl or .parquet)")
    return _records_table(rows, path)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise DatasetNotAvailableError(f"{path}: no such annotation file") from e
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read the annotation file ({e})") from e


def _records_table(rows: list[Mapping[str, Any]], path: Path) -> pa.Table:
    """Columns = keys of all records in order of first appearance; a record without a key has null there."""
    keys: dict[str, None] = {}
    for r in rows:
        keys.update(dict.fromkeys(r))
    columns = {}
    for k in keys:
        values = [r.get(k) for r in rows]
        try:
            columns[k] = pa.array(values)
        except (pa.ArrowException, TypeError, ValueError) as e:
            if all(v is None or isinstance(v, str | int | float | bool) for v in values):
                # text mixed with numbers (answers "red" and 3): the numbers' JSON text, not a dead dataset
                columns[k] = pa.array([v if v is None or isinstance(v, str) else json.dumps(v) for v in values],
                                      type=pa.string())
                continue
            first = next(i for i, v in enumerate(values) if type(v) is not type(values[0]) and v is not None)
            raise ConfigError(f"{path}: column {k!r} mixes value types across records (record {first}: {e})") from e
    return pa.table(columns) if columns else pa.table({})


def load_source(cfg: Any, split: str) -> pa.Table:
    """The ``split`` table of a :class:`~molmo2_data.datasets.custom.CustomDatasetConfig` (typed ``Any``:
    custom imports this module, not the other way round)."""
    if isinstance(cfg.source, Mapping):
        if split not in cfg.source:
            raise UnknownSplitError(_unknown(f"{cfg.name}: unknown split", split, list(cfg.source)))
        return _read_records(cfg.resolve(cfg.source[split]))
    src = cfg.resolve(cfg.source)
    if src.is_file():
        if split != "train":
            raise UnknownSplitError(f"{cfg.name}: unknown split {split!r} (a single file is the 'train' split)")
        return _read_records(src)
    if src.is_dir():
        for ext in (".jsonl", ".json", ".parquet"):
            if (src / f"{split}{ext}").exists():
                return _read_records(src / f"{split}{ext}")
        if (src / "dataset_dict.json").exists() or (src / "dataset_info.json").exists():
            from datasets import load_from_disk

            ds = load_from_disk(str(src))
            if hasattr(ds, "keys"):
                if split not in ds:
                    raise UnknownSplitError(_unknown(f"{cfg.name}: unknown split", split, list(ds.keys())))
                ds = ds[split]
            return ds.data.table
        raise DatasetNotAvailableError(f"{cfg.name}: no {split}.jsonl/.json/.parquet in {src}")
    if str(cfg.source).count("/") == 1 and not str(cfg.source).startswith((".", "/", "~")):
        from datasets import load_dataset  # a Hub id (honours HF_ENDPOINT, HF_TOKEN, offline mode)

        return load_dataset(str(cfg.source), split=split).data.table
    raise DatasetNotAvailableError(f"{cfg.name}: source {src} does not exist")
