"""Per-item containers for VLMDatasetBuilder items, so that ``DataLoader(vlm_dataset, batch_size=4)`` (the
seed's call, torch's default collate) batches them: a window's frames and events vary in number and
frames are PIL images, which the default collate would transpose or reject. ``PerItem`` (a list) and
``PerItemDict`` (a dict) are registered with torch's default collate to batch as one entry per item.

``collate_items`` is the same batching without torch's machinery (``molmo2_data.integrations.torch``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


class PerItem(list):
    """A list that belongs to one item (its frames, its encoded events): batched as a list of lists."""


class PerItemDict(dict):
    """A mapping that belongs to one item (its metadata): batched as a list of dicts."""


class PerItemArray(np.ndarray):
    """A numeric array of one item whose first dimension varies between items (action / state vectors,
    one row per event or bin): batched as a (B, ...) tensor when the shapes agree, else a list of tensors.
    Otherwise a plain ndarray."""

    @classmethod
    def of(cls, array: np.ndarray) -> PerItemArray:
        return np.asarray(array).view(cls)


def _batch_lists(batch: Sequence[Any], *, collate_fn_map: Any = None) -> list[list[Any]]:
    return [list(x) for x in batch]


def _batch_dicts(batch: Sequence[Any], *, collate_fn_map: Any = None) -> list[dict[str, Any]]:
    return [dict(x) for x in batch]


def _batch_arrays(batch: Sequence[Any], *, collate_fn_map: Any = None) -> Any:
    return _stack([np.asarray(a) for a in batch])


def register_default_collate() -> bool:
    """Teach torch's default collate the per-item types (once; False without torch)."""
    try:
        from torch.utils.data._utils.collate import default_collate_fn_map
    except ImportError:  # pragma: no cover - depends on the environment
        return False
    default_collate_fn_map.setdefault(PerItem, _batch_lists)
    default_collate_fn_map.setdefault(PerItemDict, _batch_dicts)
    default_collate_fn_map.setdefault(PerItemArray, _batch_arrays)
    return True


def collate_items(items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Items -> a batch: per-item lists and dicts stay one entry per item, strings a list; numeric arrays
    are stacked into one (B, ...) tensor when their shapes agree (a list of tensors otherwise)."""
    if not items:
        raise ValueError("cannot collate an empty batch")
    out: dict[str, Any] = {}
    for key in items[0]:
        values = [it[key] for it in items]
        first = values[0]
        if isinstance(first, np.ndarray) and first.dtype != object:
            out[key] = _stack([np.asarray(v) for v in values])
        elif isinstance(first, PerItemDict | dict):
            out[key] = [dict(v) for v in values]
        elif isinstance(first, PerItem | list | tuple):
            out[key] = [list(v) for v in values]
        else:
            out[key] = list(values)
    return out


def _stack(arrays: list[np.ndarray]) -> Any:
    try:
        import torch
    except ImportError:  # pragma: no cover
        return np.stack(arrays) if len({a.shape for a in arrays}) == 1 else arrays
    tensors = [torch.from_numpy(np.ascontiguousarray(a).view(np.ndarray)) for a in arrays]
    return torch.stack(tensors) if len({a.shape for a in arrays}) == 1 else tensors
