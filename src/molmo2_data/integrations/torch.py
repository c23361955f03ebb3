"""Plain PyTorch use of :class:`~molmo2_data.owa.VLMDatasetBuilder`:
``DataLoader(vlm_dataset, batch_size=4, collate_fn=collate_fn)``.

A batch is a dict: ``instruction`` (list of B strings), ``encoded_events`` (list of B lists of strings),
``images`` (list of B lists of frames, None where a frame could not be produced), ``metadata`` (list of B
dicts), and ``action_vectors`` / ``state_vectors`` stacked to (B, n, F) float64 tensors when every item
has the same number of rows (a list of B (n_i, F) tensors otherwise). The default collate gives the same batch
(the items' per-item containers are registered with it), so ``DataLoader(vlm_dataset, batch_size=4)``
works too."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from molmo2_data.owa.items import collate_items


def collate_fn(items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """VLMDatasetBuilder items -> one batch (see the module docstring)."""
    return collate_items(items)


__all__ = ["collate_fn"]
