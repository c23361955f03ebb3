"""Stage 4: MLLM dataset -> training items with lazily decoded screen frames.

``VLMDatasetBuilder(mllm_dataset, image_format="pil"|"tensor"|"numpy", cache_images=True,
max_cache_size=1000)`` is a ``torch.utils.data.Dataset`` when torch is importable (a plain sequence
otherwise). ``item = builder[i]`` holds ``instruction``, ``encoded_events``, ``images`` and
``metadata``.

* ``images`` is aligned with the row's ``image_refs``: entry k is the frame of ref k, or ``None`` when it
  cannot be produced; every ``None`` has its reason in ``metadata["image_errors"]`` (``index``,
  ``bin_idx``, ``reason``). With ``on_missing="raise"`` a missing frame raises ``MediaError`` instead.
* Frames are decoded through :mod:`molmo2_data.media.video` (``read_frames_at``), once per video per
  item for all frames the item still needs, and matched by *nearest pts within 1 ms* (OWA pts are ns,
  Matroska stores ms). Frames larger than the recorded ``shape`` (odd sizes padded to even) are cropped.
* The cache is a true LRU keyed by (resolved path, pts_ns): a hit refreshes the entry, inserting into a
  full cache evicts the least recently used one; ``get_cache_stats()`` reports real hit/miss counts and
  ``bytes`` held. Every frame is an array owning its memory (a copy out of the decoder's stacked
  batch), so one cached frame never pins the whole decoded batch.
* At construction the builder reads the rows' metadata (no decoding) into ``media_summary`` and warns
  (:class:`~molmo2_data.owa.media_report.OwaMediaWarning`) when windows have no usable screen frame.
  Each DataLoader worker has its own cache (no shared state, no open file handles between items),
  so the builder is safe to use with ``num_workers > 0``.
* Formats: ``pil`` RGB ``PIL.Image``; ``numpy`` (H, W, 3) uint8 RGB (read-only when cached);
  ``tensor`` float32 (3, H, W) in [0, 1].
* Batching: ``images``, ``encoded_events`` and ``metadata`` are per-item containers (:mod:`.items`), so
  torch's default collate (``DataLoader(vlm_dataset, batch_size=4)``) gives lists with one entry per item,
  and ``action_vectors`` / ``state_vectors`` as one (B, n, F) tensor when their row counts agree (a list
  of tensors otherwise); ``molmo2_data.integrations.torch.collate_fn`` does
  the same explicitly.
"""

from __future__ import annotations

import base64
import os
import warnings
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import numpy as np

from molmo2_data.errors import ConfigError, MediaError, SchemaError
from molmo2_data.owa.frames import stream_start_seconds
from molmo2_data.owa.items import PerItem, PerItemArray, PerItemDict, register_default_collate
from molmo2_data.owa.media_report import OwaMediaWarning, format_reasons, mllm_media_summary
from molmo2_data.owa.numeric import ACTION_FIELDS, STATE_FIELDS

try:  # a torch Dataset when torch is there; the builder itself needs nothing from torch
    from torch.utils.data import Dataset as _Base
except ImportError:  # pragma: no cover - depends on the environment
    _Base = object  # type: ignore[assignment,misc]

IMAGE_FORMATS = ("pil", "tensor", "numpy")
register_default_collate()  # DataLoader(vlm_dataset, batch_size=4) batches items as the seed writes it
TOLERANCE_NS = 1_000_000
REQUIRED_COLUMNS = ("instruction", "encoded_events", "image_refs", "metadata")


class FrameCache:
    """A bounded least-recently-used map with hit/miss/eviction counters."""

    def __init__(self, max_size: int):
        self.max_size = max_size
        self.entries: OrderedDict[tuple[str, int | None], np.ndarray] = OrderedDict()
        self.hits = self.misses = self.evictions = 0
        self.nbytes = 0  # bytes held by the cached arrays (each owns its memory, see put)

    def get(self, key: tuple[str, int | None]) -> np.ndarray | None:
        value = self.entries.get(key)
        if value is None:
            self.misses += 1
            return None
        self.hits += 1
        self.entries.move_to_end(key)
        return value

    def put(self, key: tuple[str, int | None], value: np.ndarray) -> np.ndarray:
        """Cache ``value`` (copied first when it is a view into a larger array, so the entry holds only
        its own bytes); returns the array actually cached."""
        if self.max_size <= 0:
            return value
        value = owned(value)
        old = self.entries.pop(key, None)
        if old is not None:
            self.nbytes -= old.nbytes
        self.entries[key] = value
        self.nbytes += value.nbytes
        while len(self.entries) > self.max_size:
            _, evicted = self.entries.popitem(last=False)
            self.nbytes -= evicted.nbytes
            self.evictions += 1
        return value

    def stats(self) -> dict[str, Any]:
        total = self.hits + self.misses
        return {"hits": self.hits, "misses": self.misses, "evictions": self.evictions,
                "size": len(self.entries), "max_size": self.max_size,
                "hit_ratio": self.hits / total if total else 0.0}


def _load_dataset(mllm_dataset: Any, split: str) -> Any:
    from datasets import Dataset, DatasetDict, load_from_disk

    ds = mllm_dataset
    if isinstance(ds, str | os.PathLike):
        try:
            ds = load_from_disk(os.fspath(ds))
        except (FileNotFoundError, ValueError, OSError) as e:
            raise ConfigError(f"{os.fspath(mllm_dataset)} is not an MLLM dataset saved by `owa sequences` "
                              f"({type(e).__name__}: {str(e)[:160]})") from e
    if isinstance(ds, DatasetDict):
        if split not in ds:
            raise ConfigError(f"MLLM dataset has no split {split!r} (has {sorted(ds)})")
        ds = ds[split]
    if isinstance(ds, Dataset):
        missing = [c for c in REQUIRED_COLUMNS if c not in ds.column_names]
        if missing:
            raise SchemaError(f"not an MLLM dataset: missing columns {missing}")
    return ds


class VLMDatasetBuilder(_Base):
    """Lazy-image view of an MLLM dataset (stage 3 output); see the module docstring."""

    def __init__(self, mllm_dataset: Any, image_format: str = "pil", cache_images: bool = True,
                 max_cache_size: int = 1000, on_missing: str = "mark", split: str = "train"):
        if image_format not in IMAGE_FORMATS:
            raise ConfigError(f"image_format must be one of {IMAGE_FORMATS}, got {image_format!r}")
        if image_format == "tensor" and _Base is object:
            raise ConfigError("image_format='tensor' needs torch (pip install torch)")
        if not isinstance(cache_images, bool):
            raise ConfigError(f"cache_images must be True or False, got {cache_images!r}")
        if not isinstance(max_cache_size, int) or isinstance(max_cache_size, bool) or max_cache_size < 1:
            raise ConfigError(f"max_cache_size must be an int >= 1, got {max_cache_size!r}")
        if on_missing not in ("mark", "raise"):
            raise ConfigError(f"on_missing must be 'mark' or 'raise', got {on_missing!r}")
        self.dataset = _load_dataset(mllm_dataset, split)
        self.image_format = image_format
        self.cache_images = cache_images
        self.on_missing = on_missing
        self.cache = FrameCache(max_cache_size if cache_images else 0)
        self._starts: dict[str, float] = {}
        self.frames_decoded = 0
        self.media_summary = mllm_media_summary(self.dataset)
        _warn_missing_media(self.media_summary, split)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} rows")
        row = self.dataset[int(index) % len(self)]
        frames, errors = self.load_frames(row["image_refs"])
        metadata = dict(row["metadata"])
        metadata["image_errors"] = errors
        out = {"instruction": row["instruction"], "encoded_events": PerItem(row["encoded_events"]),
               "images": PerItem(None if f is None else self._convert(f) for f in frames),
               "metadata": PerItemDict(metadata)}
        for col, width in (("action_vectors", len(ACTION_FIELDS)), ("state_vectors", len(STATE_FIELDS))):
            if col in row:  # MLLM datasets written before the numeric columns existed lack them
                out[col] = PerItemArray.of(np.asarray(row[col], dtype=np.float64).reshape(-1, width))
        return out

    # -- frames ---------------------------------------------------------------------------------

    def load_frames(self, refs: Any) -> tuple[list[np.ndarray | None], list[dict[str, Any]]]:
        """RGB arrays aligned with ``refs`` (None where impossible) and the reasons for each None."""
        refs = _as_list_of_dicts(refs)
        out: list[np.ndarray | None] = [None] * len(refs)
        reasons: dict[int, str] = {}
        todo: dict[str, dict[int | None, list[int]]] = {}
        seen: dict[tuple[str, int | None], np.ndarray | None] = {}
        for k, ref in enumerate(refs):
            if ref.get("error"):
                reasons[k] = ref["error"]
                continue
            if not ref.get("path"):
                reasons[k] = "no_media_path"
                continue
            key = (ref["path"], ref.get("pts_ns"))
            if key not in seen:  # one cache lookup per distinct frame of the item
                seen[key] = self.cache.get(key) if self.cache_images else None
            if seen[key] is not None:
                out[k] = seen[key]
            else:
                todo.setdefault(ref["path"], {}).setdefault(ref.get("pts_ns"), []).append(k)
        for path, by_pts in todo.items():
            for pts, (frame, reason) in self._decode(path, list(by_pts)).items():
                if frame is not None:
                    frame = owned(_crop(frame, refs[by_pts[pts][0]]))  # never a view into the decoded batch
                    if self.cache_images:
                        frame.setflags(write=False)
                        frame = self.cache.put((path, pts), frame)
                for k in by_pts[pts]:
                    out[k] = frame
                    if reason:
                        reasons[k] = reason
        errors = [{"index": k, "bin_idx": refs[k].get("bin_idx"), "reason": r} for k, r in sorted(reasons.items())]
        if errors and self.on_missing == "raise":
            raise MediaError(f"{len(errors)} frame(s) unavailable, first: {errors[0]}")
        return out, errors

    def _decode(self, path: str, pts_list: list[int | None]) -> dict[int | None, tuple[np.ndarray | None, str | None]]:
        """Decode the frames nearest to each pts (within 1 ms) with one pass over the video."""
        from molmo2_data.media.video import read_frames_at

        result: dict[int | None, tuple[np.ndarray | None, str | None]] = {}
        if None in pts_list:  # a still image (external_image / embedded)
            result[None] = _still_image(path)
            pts_list = [p for p in pts_list if p is not None]
        if not pts_list:
            return result
        if not os.path.exists(path):
            return {**result, **{p: (None, "missing_video") for p in pts_list}}
        try:
            if path not in self._starts:
                self._starts[path] = stream_start_seconds(path)
            start = self._starts[path]
            want = np.array([p / 1e9 - start + TOLERANCE_NS / 1e9 for p in pts_list])
            frames, times = read_frames_at(path, want)
        except Exception as e:  # noqa: BLE001 - any decoder failure becomes a recorded reason, not a crash
            return {**result, **{p: (None, f"decode_error: {e}"[:200]) for p in pts_list}}
        for k, p in enumerate(pts_list):
            got_ns = round((times[k] + start) * 1e9)
            if abs(got_ns - p) <= TOLERANCE_NS + 1000:
                result[p] = (frames[k], None)
                self.frames_decoded += 1
            else:
                result[p] = (None, f"no_frame_within_1ms (nearest earlier frame at {got_ns} ns)")
        return result

    def _convert(self, frame: np.ndarray) -> Any:
        if self.image_format == "numpy":
            return frame
        if self.image_format == "pil":
            from PIL import Image

            return Image.fromarray(np.ascontiguousarray(frame), "RGB")
        import torch

        return torch.from_numpy(np.array(frame, dtype=np.float32).transpose(2, 0, 1) / 255.0)

    # -- cache ----------------------------------------------------------------------------------

    def get_cache_stats(self) -> dict[str, Any]:
        """Counters plus ``bytes``: the memory the cached frames hold (their own pixels only)."""
        return {**self.cache.stats(), "bytes": self.cache.nbytes, "enabled": self.cache_images,
                "frames_decoded": self.frames_decoded}

    def clear_cache(self) -> None:
        self.cache = FrameCache(self.cache.max_size)


def owned(frame: np.ndarray) -> np.ndarray:
    """``frame`` itself when it owns its memory, else a compact copy (a view would keep its whole base
    array alive: one 1.3 MiB frame pinned the 41 MiB decoded batch it came from)."""
    return frame if frame.base is None else np.array(frame, copy=True, order="C")


def _warn_missing_media(summary: Mapping[str, Any], split: str) -> None:
    n_bad, total = summary.get("windows_without_images", 0), summary.get("windows", 0)
    reasons = {k: v for k, v in summary.get("without_media", {}).items() if k != "no_screen_yet"}
    if n_bad or reasons:
        warnings.warn(f"MLLM split {split!r}: {n_bad} of {total} windows have no usable screen frame"
                      + (f"; frames unavailable: {format_reasons(reasons)}" if reasons else "")
                      + " (details: builder.media_summary, metadata.missing_images)", OwaMediaWarning, stacklevel=3)


def _as_list_of_dicts(refs: Any) -> list[dict[str, Any]]:
    """Accept a list of dicts or HF's column-of-lists form ``{"path": [...], ...}``."""
    if isinstance(refs, Mapping):
        keys = list(refs)
        n = len(refs[keys[0]]) if keys else 0
        return [{k: refs[k][i] for k in keys} for i in range(n)]
    return list(refs or [])


def _crop(frame: np.ndarray, ref: Mapping[str, Any]) -> np.ndarray:
    w, h = ref.get("width"), ref.get("height")
    if w and h and frame.shape[0] >= h and frame.shape[1] >= w and (frame.shape[0], frame.shape[1]) != (h, w):
        return np.ascontiguousarray(frame[:h, :w])
    return frame


def _still_image(uri: str) -> tuple[np.ndarray | None, str | None]:
    from molmo2_data.media.image import decode_image

    try:
        if uri.startswith("data:"):
            return decode_image(base64.b64decode(uri.split(",", 1)[1])), None
        if "://" in uri:
            return None, "remote_media_not_fetched"
        return decode_image(uri), None
    except (MediaError, ValueError) as e:
        return None, f"image_error: {e}"[:200]
