"""Example -> token arrays + vision arrays: the one place the text and vision stages meet.

Knows nothing of mixtures or packing: it encodes one example with its rng, or says why it cannot
(a counted skip, never an exception that kills a worker).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from molmo2_data.errors import Molmo2DataError
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


@dataclass
class EncodeFailure:
    reason: str
    metadata: dict[str, Any]


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
        meta = {"dataset": example.metadata.dataset, "rows": list(example.metadata.rows), **(metadata or {})}
        try:
            vis = self.vision(example, rng, p_high_res=self.p_high_res.get(example.metadata.dataset))
            if isinstance(vis, VideoInputs):
                tok = tokenize_example(example, self.tokenizer, self.config, rng, vision=vis.tokens,
                                       frame_times=vis.frame_times, subtitle_text=vis.subtitle_text)
            else:
                tok = tokenize_example(example, self.tokenizer, self.config, rng,
                                       vision=None if vis is None else vis.tokens)
        except (Molmo2DataError, OSError, ValueError) as e:
            return EncodeFailure(f"{type(e).__name__}: {str(e)[:200]}", meta)
        n = len(tok.input_ids)
        if n > self.sequence_length:
            keep = self.sequence_length
            if tok.n_vision_tokens + 1 > keep or not (tok.loss_weights[:keep] > 0).any():
                return EncodeFailure(f"too long: {n} tokens > {keep} (would cut vision or all loss tokens)", meta)
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
