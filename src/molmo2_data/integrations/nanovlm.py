"""nanoVLM's item format from molmo2-data datasets (seed 003: desktop data straight into nanoVLM).

nanoVLM (huggingface/nanoVLM, ``data/datasets.py``) trains on items ``{"images", "input_ids",
"attention_mask", "labels"}`` that its ``VQACollator`` pads and stacks:

* ``images``: one tensor per image, as nanoVLM's image processor returns it (its splits, plus a global
  view when the tokenizer has a global image token);
* the chat: the first user turn starts with the image string (per image: ``<image: k>`` when there are
  several, the global token and/or one ``r{i}c{j}`` token per split, each followed by
  ``mp_image_token_length`` image tokens), tokenised with the tokenizer's chat template;
* ``labels``: the tokens of the assistant turns (without each turn's role header), shifted left by one,
  -100 elsewhere.

:class:`NanoVLMDataset` builds these items from any molmo2-data dataset (images + the conversation our
formatter renders: captions, QA, points as text...); :class:`OWADataset` from the OWA stage-4
``VLMDatasetBuilder`` (user: the instruction, assistant: the encoded events, one per line, as in
:func:`molmo2_data.owa.adapter.mllm_row_to_example`). Examples nanoVLM cannot take (video, no media
nor text) give None, which nanoVLM's collator drops; they are counted in ``skipped``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from molmo2_data.errors import ConfigError

try:  # a torch Dataset when torch is there
    from torch.utils.data import Dataset as _Base
except ImportError:  # pragma: no cover - depends on the environment
    _Base = object  # type: ignore[assignment,misc]


def image_string(tokenizer: Any, grids: Sequence[tuple[int, int]], mp_image_token_length: int) -> str:
    """The text that stands for the images in nanoVLM's prompt (see the module docstring)."""
    parts: list[str] = []
    has_global = hasattr(tokenizer, "global_image_token")
    tokens = tokenizer.image_token * mp_image_token_length
    for k, (n_h, n_w) in enumerate(grids):
        if len(grids) > 1:
            parts.append(f"<image: {k}>")
        if has_global:
            parts.append(tokenizer.global_image_token + tokens)
            if (n_h, n_w) == (1, 1):  # one split: the global view is the image
                continue
        parts.extend(getattr(tokenizer, f"r{i + 1}c{j + 1}") + tokens for i in range(n_h) for j in range(n_w))
    return "".join(parts)


def _to_pil(image: Any) -> Any:
    from PIL import Image

    if isinstance(image, Image.Image):
        return image if image.mode == "RGB" else image.convert("RGB")
    if hasattr(image, "numpy") and not isinstance(image, np.ndarray):  # a (3, H, W) float tensor in [0, 1]
        arr = image.detach().cpu().numpy()
        image = np.clip(np.rint(np.moveaxis(arr, 0, -1) * 255.0), 0, 255).astype(np.uint8)
    arr = np.asarray(image)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        raise ConfigError(f"an image must be RGB (H, W, 3) uint8, a PIL image or a (3, H, W) tensor; got {arr.shape} "
                          f"{arr.dtype}")
    return Image.fromarray(arr, "RGB")


class NanoVLMItems:
    """Images + chat turns -> one nanoVLM item, with nanoVLM's tokenizer and image processor."""

    def __init__(self, tokenizer: Any, image_processor: Any, mp_image_token_length: int):
        if not isinstance(mp_image_token_length, int) or mp_image_token_length < 1:
            raise ConfigError(f"mp_image_token_length must be a positive int, got {mp_image_token_length!r}")
        for attr in ("image_token", "apply_chat_template"):
            if not hasattr(tokenizer, attr):
                raise ConfigError(f"the tokenizer has no {attr!r}: use nanoVLM's get_tokenizer(...) (it adds the image "
                                  "tokens as extra special tokens)")
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        self.mp_image_token_length = mp_image_token_length
        self.header_len = self._assistant_header_len()

    def _assistant_header_len(self) -> int:
        """Tokens the chat template puts before an assistant turn's text (not learned)."""
        probe = "xzyvd"
        text = self.tokenizer.apply_chat_template([{"role": "assistant", "content": probe}], tokenize=False,
                                                  add_special_tokens=False)
        return len(self.tokenizer.encode(text[: text.find(probe)]))

    def images(self, images: Sequence[Any]) -> tuple[list[Any], list[tuple[int, int]]]:
        processed, grids = [], []
        for image in images:
            out, grid = self.image_processor(_to_pil(image))
            n_h, n_w = int(grid[0]), int(grid[1])
            if not hasattr(self.tokenizer, "global_image_token") and n_h * n_w == len(out) - 1:
                out = out[1:]  # no global token to stand for the global view: leave it out
            processed.append(out)
            grids.append((n_h, n_w))
        return processed, grids

    def item(self, images: Sequence[Any], turns: Sequence[tuple[str, str]]) -> dict[str, Any] | None:
        """``turns``: (user, assistant) pairs. None when there is no turn."""
        import torch

        if not turns:
            return None
        processed, grids = self.images(images)
        token = self.tokenizer.image_token
        messages: list[dict[str, str]] = []
        for user, assistant in turns:  # image tokens in the data would break the image alignment
            messages.append({"role": "user", "content": user.replace(token, "")})
            messages.append({"role": "assistant", "content": assistant.replace(token, "")})
        if grids:
            messages[0]["content"] = image_string(self.tokenizer, grids, self.mp_image_token_length) + messages[0]["content"]
        enc = self.tokenizer.apply_chat_template(messages, tokenize=True, add_special_tokens=False, return_dict=True)
        ids = torch.tensor(enc["input_ids"])
        learn = torch.zeros(len(ids), dtype=torch.bool)
        at = 0
        for msg in messages:  # each turn's span in the conversation, from the template applied to it alone
            n = len(self.tokenizer.apply_chat_template([msg], tokenize=True, add_special_tokens=False,
                                                       return_dict=False))  # a list of ids (transformers 5: a dict by default)
            if msg["role"] == "assistant":
                learn[at + self.header_len: at + n] = True
            at += n
        labels = ids.masked_fill(~learn, -100).roll(-1)
        labels[-1] = -100
        return {"images": processed, "input_ids": ids, "attention_mask": torch.tensor(enc["attention_mask"]),
                "labels": labels}


class NanoVLMDataset(_Base):
    """Any molmo2-data dataset (``get_dataset(...)``) as nanoVLM items: the example's images and the
    conversation our formatter renders for each annotation of its message tree, as one multi-turn chat
    (``formatter``: a :class:`~molmo2_data.text.formatter.FormatterConfig`; default: the stages' SFT
    settings without system prompts). Use with nanoVLM's ``VQACollator``."""

    def __init__(self, dataset: Any, tokenizer: Any, image_processor: Any, mp_image_token_length: int,
                 formatter: Any = None, seed: int = 0):
        from molmo2_data.text.formatter import FormatterConfig

        self.dataset = dataset
        self.items = NanoVLMItems(tokenizer, image_processor, mp_image_token_length)
        self.formatter = formatter if formatter is not None else FormatterConfig(system_prompt="none")
        self.seed = seed
        self.skipped: Counter[str] = Counter()

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, idx: int) -> dict[str, Any] | None:
        from molmo2_data.text.formatter import format_conversation

        rng = np.random.RandomState((self.seed * 1_000_003 + int(idx)) % 2**32)
        ex = self.dataset.get(int(idx), rng)
        if ex.video is not None:
            self.skipped["video (nanoVLM takes images)"] += 1
            return None
        turns: list[tuple[str, str]] = []
        for ann in ex.annotations:
            msgs = format_conversation(ann, self.formatter, rng).messages
            turns.extend(zip(msgs[0::2], msgs[1::2], strict=True))
        return self.items.item([im.load() for im in ex.images], turns)


class OWADataset(_Base):
    """OWA stage-4 items (``VLMDatasetBuilder``) as nanoVLM items: the window's frames (missing ones left
    out, consecutive repeats of the same frame collapsed, at most ``max_images`` evenly spaced), user = the
    instruction, assistant = the encoded events one per line. A window without any frame gives None
    (counted in ``skipped``) unless ``allow_text_only``."""

    def __init__(self, vlm_dataset: Any, tokenizer: Any, image_processor: Any, mp_image_token_length: int,
                 max_images: int | None = 5, allow_text_only: bool = False):
        if max_images is not None and (not isinstance(max_images, int) or max_images < 1):
            raise ConfigError(f"max_images must be a positive int or None, got {max_images!r}")
        self.vlm_dataset = vlm_dataset
        self.items = NanoVLMItems(tokenizer, image_processor, mp_image_token_length)
        self.max_images = max_images
        self.allow_text_only = allow_text_only
        self.skipped: Counter[str] = Counter()

    def __len__(self) -> int:
        return len(self.vlm_dataset)

    def frames(self, item: dict[str, Any]) -> list[Any]:
        frames: list[Any] = []
        last: Any = None
        for f in item["images"]:
            if f is None:
                continue
            if last is not None and _same_frame(f, last):
                continue
            frames.append(f)
            last = f
        if self.max_images is not None and len(frames) > self.max_images:
            keep = np.unique(np.round(np.linspace(0, len(frames) - 1, self.max_images)).astype(int))
            frames = [frames[k] for k in keep]
        return frames

    def __getitem__(self, idx: int) -> dict[str, Any] | None:
        item = self.vlm_dataset[int(idx)]
        frames = self.frames(item)
        if not frames and not self.allow_text_only:
            self.skipped["no usable screen frame"] += 1
            return None
        return self.items.item(frames, [(item["instruction"], "\n".join(item["encoded_events"]))])


def _same_frame(a: Any, b: Any) -> bool:
    if a is b:
        return True
    return np.array_equal(np.asarray(a), np.asarray(b))


__all__ = ["NanoVLMDataset", "NanoVLMItems", "OWADataset", "image_string"]
