"""The dataset interface (as in the seed "Creating Custom Datasets") and the table-backed reader.

``Dataset``: ``__len__`` and ``get(item, rng)``; all randomness comes from ``rng`` so an example is a
pure function of (index, rng state). ``dataset[i]`` derives the rng from ``i``.

``TableDataset`` is the base of every PixMo / Molmo2 reader: it opens the local Arrow table(s)
memory-mapped, builds (and caches) an index of row groups — one group per example, e.g. all rows of
one image URL — applies the official filters, drops groups whose media are missing (counting why), and
turns a group into an :class:`~molmo2_data.example.Example` on ``get``.
"""

from __future__ import annotations

import difflib
import inspect
import os
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np
import pyarrow as pa

from molmo2_data import paths
from molmo2_data.errors import (
    AnnotationError,
    ConfigError,
    DatasetNotAvailableError,
    SchemaError,
    UnknownSplitError,
)
from molmo2_data.example import Annotation, Example, Metadata, as_example
from molmo2_data.tables import IndexCache, file_fingerprint, read_table, require_columns, row_dict

A = TypeVar("A")


def drop_reason(err: AnnotationError) -> str:
    """The key an invalid annotation is counted under ("pointing: non-finite point", ...)."""
    return str(getattr(err, "reason", None) or err)


class AnnotationSet:
    """The one way readers build an example's annotations: each is built through :meth:`add`, which
    drops an invalid one (:class:`AnnotationError`) and counts it by reason; :meth:`example` records the
    counts in ``Metadata.dropped`` and raises :class:`~molmo2_data.errors.EmptyExampleError` when
    nothing valid is left (the loader and ``inspect`` count that row group as a skip)."""

    def __init__(self) -> None:
        self.annotations: list[Annotation] = []
        self.dropped: Counter[str] = Counter()

    def add(self, build: Callable[..., A], *args: Any, **kwargs: Any) -> A | None:
        """``build(*args, **kwargs)``, kept when valid; None (and counted) when it raises AnnotationError."""
        try:
            ann = build(*args, **kwargs)
        except AnnotationError as e:
            self.dropped[drop_reason(e)] += 1
            return None
        self.annotations.append(ann)  # type: ignore[arg-type]
        return ann

    def drop(self, reason: str, n: int = 1) -> None:
        """Count something the reader left out itself (e.g. a subtitle line with a NaN time)."""
        self.dropped[reason] += n

    def example(self, metadata: Metadata, **kwargs: Any) -> Example:
        for k, v in self.dropped.items():
            metadata.dropped[k] = metadata.dropped.get(k, 0) + v
        return Example(annotations=list(self.annotations), metadata=metadata, **kwargs)


def rng_for_index(item: int, epoch: int = 0) -> np.random.RandomState:
    """The rng ``dataset[item]`` uses: a function of (index, epoch) only, identical in every process.
    Built as the official loader builds it: ``RandomState(MT19937(SeedSequence(item, spawn_key=(epoch,))))``."""
    return np.random.RandomState(np.random.MT19937(np.random.SeedSequence(int(item), spawn_key=(int(epoch),))))


class Dataset:
    """A map-style dataset of examples with explicit randomness."""

    name: str = "dataset"
    split: str = "train"

    def __len__(self) -> int:
        raise NotImplementedError

    def get(self, item: int, rng: np.random.RandomState) -> Example | Mapping[str, Any]:
        raise NotImplementedError

    def __getitem__(self, item: int) -> Example | Mapping[str, Any]:
        n = len(self)
        if not -n <= item < n:
            raise IndexError(f"{self.name}: index {item} out of range for {n} examples")
        item = item % n
        return self.get(item, rng_for_index(item))

    def example(self, item: int, rng: np.random.RandomState | None = None) -> Example:
        """``get`` normalised to an :class:`Example` (hand-written datasets may return dicts)."""
        rng = rng_for_index(item) if rng is None else rng
        return as_example(self.get(item, rng), dataset=self.name, split=self.split, row=item)

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __repr__(self) -> str:
        try:
            n = len(self)
        except Exception:
            n = "?"
        return f"{type(self).__name__}(name={self.name!r}, split={self.split!r}, examples={n})"


class DatasetBase(Dataset):
    """A dataset whose data is produced once by ``load()`` and kept as ``self.data``."""

    def __init__(self, split: str | None = None):
        if split is not None:
            self.split = split
        self.data = self.load()

    def load(self) -> Any:
        raise NotImplementedError

    def __len__(self) -> int:
        return len(self.data)


class HfDataset(DatasetBase):
    """A dataset read with Hugging Face ``datasets`` from ``PATH`` (Hub id or local path)."""

    PATH: ClassVar[str] = ""

    @classmethod
    def download(cls, n_procs: int | None = None) -> None:
        from datasets import load_dataset

        load_dataset(cls.PATH, num_proc=n_procs)

    def load(self) -> Any:
        from datasets import load_dataset

        return load_dataset(self.PATH, split=self.split)


# ---------------------------------------------------------------------------------------------
# Table-backed readers
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HeldOut:
    """A split carved out of another split by a fixed-seed permutation of the groups, as the
    official download step does (``train_test_split(test_size=n, seed=seed)``). With fewer than
    ``10 * n`` groups (sample data) a tenth of the groups is held out instead."""

    source: str = "train"
    n: int = 2048
    seed: int = 96817

    def size(self, num_groups: int) -> int:
        return min(self.n, max(1, num_groups // 10)) if num_groups > 1 else 0


SplitSpec = str | HeldOut


class TableDataset(DatasetBase):
    """Base class of the readers of published tables. Subclasses set the class attributes and
    implement :meth:`build_index` (vectorised over the table) and :meth:`build_example`."""

    NAME: ClassVar[str] = ""
    HF_PATH: ClassVar[str] = ""
    CONFIGS: ClassVar[tuple[str, ...]] = ("default",)
    SPLITS: ClassVar[Mapping[str, SplitSpec]] = {"train": "train"}
    COLUMNS: ClassVar[Mapping[str, Any]] = {}  # column -> type predicate (None = any type)
    MEDIA: ClassVar[str] = "none"  # none | url_image | embedded_image | local_image | video | rendered
    SPLIT_IS_CONFIG: ClassVar[bool] = False  # Hub repos whose configs are the splits (each one split "train")
    VERSION: ClassVar[int] = 1  # bump to invalidate cached indexes when build_index changes

    def __init__(self, split: str = "train", config: str | Sequence[str] | None = None,
                 root: str | os.PathLike | None = None, **options: Any):
        if split not in self.SPLITS:
            raise UnknownSplitError(_unknown(f"{self.NAME}: unknown split", split, list(self.SPLITS)))
        if isinstance(config, str):
            config = [config]
        for c in config or ():
            if c not in self.CONFIGS:
                raise UnknownSplitError(_unknown(f"{self.NAME}: unknown config", c, list(self.CONFIGS)))
        unknown = sorted(set(options) - self.option_names())
        if unknown:  # a misspelt option must not silently fall back to the default
            raise ConfigError(_unknown(f"{self.NAME}: unknown option", unknown[0], sorted(self.option_names()))
                              if self.option_names() else f"{self.NAME}: unknown option {unknown[0]!r} (it takes none)")
        self.name = self.NAME
        self.root = paths.data_root(root)
        self.options = options
        self.requested_configs = tuple(config) if config else None
        self.skipped: Counter[str] = Counter()
        super().__init__(split)

    @classmethod
    def option_names(cls) -> set[str]:
        """The keyword options the reader takes: the named parameters of the constructors in its MRO."""
        names: set[str] = set()
        for klass in cls.__mro__:
            init = klass.__dict__.get("__init__")
            if init is None or klass in (TableDataset, DatasetBase, Dataset, object):
                continue
            for p in inspect.signature(init).parameters.values():
                if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
                    names.add(p.name)
        return names - {"self", "split", "config", "root"}

    # -- hooks --------------------------------------------------------------------------------

    def check_layout(self, table: pa.Table, where: str) -> None:
        """Hook before the column check: a reader that accepts several published layouts (revisions) picks
        its columns here, or raises a SchemaError naming the revision it needs."""

    def build_index(self, table: pa.Table) -> dict[str, np.ndarray]:
        """Return at least ``order`` and ``offsets`` (rows of group g are
        ``order[offsets[g]:offsets[g+1]]``). Count skipped groups in ``self.skipped``."""
        raise NotImplementedError

    def build_example(self, rows: np.ndarray, group: int, rng: np.random.RandomState) -> Example:
        raise NotImplementedError

    def media_fingerprint(self) -> Any:
        """Part of the index cache key that changes when media files appear or disappear."""
        d = {"url_image": paths.image_dir(self.root), "rendered": paths.clock_dir(self.root),
             "local_image": paths.files_dir(self.root),
             "video": self.root / "media" / "videos"}.get(self.MEDIA)
        if d is None:
            return None
        try:
            stamp = [os.stat(d).st_mtime_ns]
            if self.MEDIA == "video":  # one folder per source below; image stores are flat (no scan)
                stamp += sorted(os.stat(e.path).st_mtime_ns for e in os.scandir(d) if e.is_dir())
                # prepared copies may land in nested folders: a prepare run's manifest marks the change
                prepared = paths.prepared_manifest_path(self.root)
                stamp.append(os.stat(prepared).st_mtime_ns if prepared.exists() else 0)
            return stamp
        except OSError:
            return "absent"

    # -- loading ------------------------------------------------------------------------------

    @classmethod
    def source_tables(cls, source_split: str, configs: Sequence[str] | None = None) -> list[tuple[str, str]]:
        """(config, split) of the published tables behind one source split. Most repos: every config
        has the split; ``SPLIT_IS_CONFIG`` repos (allenai/molmo2-vqa2-2014, ...) publish one config per
        split, each with the single split "train"."""
        if cls.SPLIT_IS_CONFIG:
            return [(source_split, "train")]
        return [(c, source_split) for c in (configs or cls.CONFIGS)]

    def table_files(self) -> list[Path]:
        spec = self.SPLITS[self.split]
        source_split = spec.source if isinstance(spec, HeldOut) else spec
        files = [paths.table_path(self.NAME, c, s, self.root)
                 for c, s in self.source_tables(source_split, self.requested_configs)]
        present = [f for f in files if f.exists()]
        if self.requested_configs and len(present) < len(files):
            missing = [str(f) for f in files if not f.exists()]
            raise DatasetNotAvailableError(f"{self.NAME}: no local table {missing[0]}; {_how_to_get(self.NAME)}")
        if not present:
            raise DatasetNotAvailableError(
                f"{self.NAME} ({self.split}): no local table under {self.root / 'tables' / self.NAME}; "
                f"{_how_to_get(self.NAME)}")
        return present

    def load(self) -> pa.Table:
        files = self.table_files()
        tables = [read_table(f) for f in files]
        table = tables[0] if len(tables) == 1 else pa.concat_tables(tables, promote_options="permissive")
        where = f"{self.NAME} ({', '.join(str(f) for f in files)})"
        self.check_layout(table, where)
        require_columns(table, self.COLUMNS, where)
        self.configs_loaded = tuple(f.parent.name for f in files)
        self.table_paths = tuple(str(f) for f in files)
        self.table_starts = np.cumsum([0] + [len(t) for t in tables])
        self.config_of_table = np.repeat(np.arange(len(tables)), [len(t) for t in tables])
        spec = self.SPLITS[self.split]
        key = {"reader": f"{type(self).__module__}.{type(self).__qualname__}", "version": self.VERSION,
               "files": [(str(f), file_fingerprint(f)) for f in files], "options": self.options,
               "split": self.split, "media": self.media_fingerprint()}
        cache = IndexCache(paths.index_path(self.NAME, "+".join(self.configs_loaded), self.split, self.root), key)
        index = cache.load()
        if index is None:
            self.skipped.clear()
            index = self.build_index(table)
            if isinstance(spec, HeldOut):
                index = self._hold_out(index, spec)
            index["skip_reasons"] = np.array(sorted(self.skipped), dtype=str)
            index["skip_counts"] = np.array([self.skipped[k] for k in sorted(self.skipped)], dtype=np.int64)
            cache.save(index)
        self.skipped = Counter(dict(zip(index["skip_reasons"].tolist(), index["skip_counts"].tolist(), strict=True)))
        self.index = index
        self.order = index["order"]
        self.offsets = index["offsets"]
        return table

    def _hold_out(self, index: dict[str, np.ndarray], spec: HeldOut) -> dict[str, np.ndarray]:
        n_groups = len(index["offsets"]) - 1
        perm = np.random.RandomState(spec.seed).permutation(n_groups)
        n_val = spec.size(n_groups)
        keep = np.sort(perm[:n_val] if self.split != spec.source else perm[n_val:])
        return select_groups(index, keep)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def rows(self, item: int) -> np.ndarray:
        return self.order[self.offsets[item]:self.offsets[item + 1]]

    def get(self, item: int, rng: np.random.RandomState) -> Example:
        if not 0 <= item < len(self):
            raise IndexError(f"{self.NAME}: index {item} out of range for {len(self)} examples")
        return self.build_example(self.rows(item), item, rng)

    # -- helpers for subclasses ---------------------------------------------------------------

    # Row access goes through one-row slices: ``Table.take`` on a memory-mapped table of many chunks
    # costs tens of milliseconds per call (it gathers across every chunk of every column), while a
    # one-row slice is zero-copy, so reading an example stays well under a millisecond.

    def column(self, name: str, rows: np.ndarray) -> list[Any]:
        """Python values of one column at the given rows."""
        col = self.data.column(name)
        return [col.slice(int(r), 1).to_pylist()[0] for r in rows]

    def row_dicts(self, rows: np.ndarray, columns: Sequence[str] | None = None) -> list[dict[str, Any]]:
        sub = self.data if columns is None else self.data.select([c for c in columns if c in self.data.column_names])
        return [row_dict(sub, r) for r in rows]

    def where(self, row: int) -> str:
        """'<table file> row <r>' of a row of the (concatenated) table, for error messages."""
        k = int(np.searchsorted(self.table_starts, row, side="right")) - 1
        return f"{self.NAME} table {self.table_paths[k]} row {int(row) - int(self.table_starts[k])}"

    def required(self, column: str, row: int, value: Any = None) -> Any:
        """The value of a column the reader needs at ``row``; a null raises a per-row SchemaError naming
        column, file and row (the loader and ``inspect`` count it as one skip)."""
        if value is None:
            value = self.data.column(column)[int(row)].as_py()
        if value is None:
            raise SchemaError(f"{self.where(row)}: null {column!r}; the row is skipped (fix or re-download the table)")
        return value

    def availability(self) -> dict[str, Any]:
        """Examples available locally and what was skipped, for ``inspect``."""
        return {"rows": self.data.num_rows, "examples": len(self), "skipped": dict(self.skipped)}


def index_from_mask(order: np.ndarray, offsets: np.ndarray, keep_rows: np.ndarray | None = None,
                    keep_groups: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Drop rows (``keep_rows`` bool per table row) and/or groups (``keep_groups`` bool per group),
    then drop groups left empty. Vectorised."""
    sizes = np.diff(offsets)
    group_of = np.repeat(np.arange(len(sizes)), sizes)
    mask = np.ones(len(order), dtype=bool)
    if keep_rows is not None:
        mask &= keep_rows[order]
    if keep_groups is not None:
        mask &= keep_groups[group_of]
    new_order = order[mask]
    new_sizes = np.bincount(group_of[mask], minlength=len(sizes))
    new_sizes = new_sizes[new_sizes > 0]
    new_offsets = np.zeros(len(new_sizes) + 1, dtype=np.int64)
    np.cumsum(new_sizes, out=new_offsets[1:])
    return {"order": new_order, "offsets": new_offsets}


def select_groups(index: dict[str, np.ndarray], groups: np.ndarray) -> dict[str, np.ndarray]:
    """Keep the given groups (in the given order); per-group arrays (length G) follow along."""
    offsets = index["offsets"]
    n_groups = len(offsets) - 1
    sizes = np.diff(offsets)[groups]
    starts = offsets[:-1][groups]
    new_offsets = np.zeros(len(groups) + 1, dtype=np.int64)
    np.cumsum(sizes, out=new_offsets[1:])
    take = np.repeat(starts - new_offsets[:-1], sizes) + np.arange(new_offsets[-1])
    out = {"order": index["order"][take], "offsets": new_offsets}
    for k, v in index.items():
        if k not in out and isinstance(v, np.ndarray) and v.ndim >= 1 and len(v) == n_groups:
            out[k] = v[groups]
    return out


def _unknown(prefix: str, got: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(got, valid, n=3, cutoff=0.4)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return f"{prefix} {got!r}{hint} (valid: {', '.join(valid)})"


def _how_to_get(name: str) -> str:
    return f"run `molmo2-data download --datasets {name}` or `molmo2-data sample` for sample data"
