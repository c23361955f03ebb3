"""Example -> token arrays + vision arrays: the one place the text and vision stages meet.

Knows nothing of mixtures or packing: it encodes one example with its rng, or says why it cannot.
:func:`to_failure` is the one place an exception raised while reading or encoding one example becomes
a counted skip (an :class:`EncodeFailure` with its type, message, dataset, member, rows, index and
media paths), never an exception that kills a worker. Only ``KeyboardInterrupt``, ``SystemExit`` and
``MemoryError`` propagate: they are about the process, not the example.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from molmo2_data.errors import MediaError, Molmo2DataError
from molmo2_data.example import Example
from molmo2_data.text.tokenize import TokenizeConfig, tokenize_example
from molmo2_data.text.tokenizer import Molmo2Tokenizer
from molmo2_data.vision.preprocessor import VisionPreprocessor
from molmo2_data.vision.video import VideoInputs


@dataclass
class EncodedExample:
    """One example as arrays. Per-position arrays are aligned with ``input_ids`` (targets shifted)."""

    input_ids: np.ndarray  # (T,) int64
    target_ids: np.ndarray  # (T,) int64
    loss_weights: np.ndarray  # (T,) float32, 0 = no loss
    position_ids: np.ndarray  # (T,) int64
    subsegment_ids: np.ndarray | None  # (T,) int64 for message trees, else None
    pixels: np.ndarray | None = None  # (n_crops, n_patches, 588) uint8/float32
    token_pooling: np.ndarray | None = None  # (n_pooled_tokens, pool) int, -1 = pad; indexes own patches
    patch_masks: np.ndarray | None = None  # (n_crops, n_patches) float32
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def n_tokens(self) -> int:
        return len(self.input_ids)

    @property
    def n_crops(self) -> int:
        return 0 if self.pixels is None else len(self.pixels)


class SequenceTooLongError(Molmo2DataError):
    """The example cannot fit the sequence without cutting vision tokens or all of its loss tokens."""


@dataclass
class EncodeFailure:
    """Why one example was skipped. ``metadata``: index, member, dataset, item, epoch, rows, media."""

    error_type: str
    message: str
    metadata: dict[str, Any]

    @property
    def reason(self) -> str:
        return f"{self.error_type}: {self.message}"

    def record(self) -> dict[str, Any]:
        """One skip as a flat JSON-able dict (a line of ``--skips-jsonl``)."""
        m = self.metadata
        return {"index": m.get("index"), "member": m.get("member"), "dataset": m.get("dataset"),
                "item": m.get("item"), "epoch": m.get("epoch"), "rows": list(m.get("rows") or []),
                "media": list(m.get("media") or []), "error_type": self.error_type, "message": self.message}


def media_paths(example: Example | None) -> list[str]:
    """The files (or source URLs) an example's media come from, for skip reports."""
    if example is None:
        return []
    out = [str(im.path or im.source) for im in example.images if (im.path or im.source)]
    if example.video is not None:
        out.append(str(example.video.path))
    return out


def to_failure(error: Exception, metadata: dict[str, Any], example: Example | None = None) -> EncodeFailure:
    """The one place an exception about one example becomes a counted skip."""
    if isinstance(error, MemoryError):  # about the process, not the example
        raise error
    meta = dict(metadata)
    if example is not None:
        meta.setdefault("dataset", example.metadata.dataset)
        meta.setdefault("rows", [int(r) for r in example.metadata.rows])
    path = getattr(error, "path", None) if isinstance(error, MediaError) else None
    media = [str(path)] if path else media_paths(example)
    if media:
        meta["media"] = media
    message = str(error) or repr(error)
    return EncodeFailure(type(error).__name__, message[:500], meta)


class ExampleEncoder:
    """Formats, tokenizes and preprocesses media of one example."""

    def __init__(self, tokenizer: Molmo2Tokenizer, tokenize_config: TokenizeConfig,
                 vision: VisionPreprocessor, sequence_length: int,
                 p_high_res: dict[str, float] | None = None):
        self.tokenizer = tokenizer
        self.config = tokenize_config
        self.vision = vision
        self.sequence_length = sequence_length
        self.p_high_res = p_high_res or {}

    def encode(self, example: Example, rng: np.random.RandomState,
               metadata: dict[str, Any] | None = None) -> EncodedExample | EncodeFailure:
        """The encoded example, or why it was skipped."""
        try:
            return self.encode_or_raise(example, rng, metadata)
        except Exception as e:  # noqa: BLE001 - every example-level error is a counted skip
            return to_failure(e, dict(metadata or {}), example)

    def encode_or_raise(self, example: Example, rng: np.random.RandomState,
                        metadata: dict[str, Any] | None = None) -> EncodedExample:
        """The encoded example; raises whatever went wrong (see :func:`to_failure`)."""
        meta = {"dataset": example.metadata.dataset, "rows": [int(r) for r in example.metadata.rows],
                **(metadata or {})}
        dropped = getattr(example.metadata, "dropped", None) or {}
        if dropped:
            meta["dropped"] = {str(k): int(v) for k, v in dropped.items()}
        vis = self.vision(example, rng, p_high_res=self.p_high_res.get(example.metadata.dataset))
        if isinstance(vis, VideoInputs):
            tok = tokenize_example(example, self.tokenizer, self.config, rng, vision=vis.tokens,
                                   frame_times=vis.frame_times, subtitle_text=vis.subtitle_text)
        else:
            tok = tokenize_example(example, self.tokenizer, self.config, rng,
                                   vision=None if vis is None else vis.tokens)
        n = len(tok.input_ids)
        if n > self.sequence_length:
            keep = self.sequence_length
            if tok.n_vision_tokens + 1 > keep or not (tok.loss_weights[:keep] > 0).any():
                raise SequenceTooLongError(f"{n} tokens > sequence length {keep} (would cut vision or all loss "
                                           "tokens); raise the sequence length or lower max_frames")
            meta["truncated_from"] = n
        else:
            keep = n
        sub = None if tok.subsegment_ids is None else np.asarray(tok.subsegment_ids[:keep], dtype=np.int64)
        return EncodedExample(
            input_ids=np.asarray(tok.input_ids[:keep], dtype=np.int64),
            target_ids=np.asarray(tok.target_ids[:keep], dtype=np.int64),
            loss_weights=np.asarray(tok.loss_weights[:keep], dtype=np.float32),
            position_ids=np.asarray(tok.position_ids[:keep], dtype=np.int64),
            subsegment_ids=sub,
            pixels=None if vis is None else vis.pixels,
            token_pooling=None if vis is None else vis.token_pooling,
            patch_masks=None if vis is None else vis.patch_masks,
            metadata=meta,
        )
