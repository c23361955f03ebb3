"""nanoVLM's real ``data/`` modules (../shared/peers/nanovlm, unmodified) made importable here.

Its ``processors.py`` / ``custom_transforms.py`` import torchvision, whose wheels do not import beside
the CPU torch 2.13 build on this machine (peer README), so a stand-in provides the four names they use
(``transforms.Compose``, ``transforms.ToTensor``, ``transforms.functional.resize``, ``InterpolationMode``)
with real image operations: PIL's bicubic resize for PIL images, torch's antialiased interpolation for
tensors, and ToTensor's (C, H, W) float32 / 255."""

from __future__ import annotations

import enum
import sys
import types
from pathlib import Path

import numpy as np

PEER = Path(__file__).resolve().parents[2] / "shared" / "peers" / "nanovlm"
# nanoVLM's default config: its chat template and its extra special tokens (models/config.py)
CHAT_TEMPLATE = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
                 "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}"
                 "{% endif %}")
EXTRA_TOKENS = {"image_token": "<|image|>", "global_image_token": "<|global_image|>",
                **{f"r{i}c{j}": f"<row_{i}_col_{j}>" for i in range(1, 9) for j in range(1, 9)}}


def _torchvision_stand_in() -> None:
    if "torchvision" in sys.modules:
        return
    import importlib.machinery

    import torch
    import transformers  # noqa: F401  imported first: it probes for torchvision once, and finds none
    from PIL import Image

    class InterpolationMode(enum.Enum):
        NEAREST = "nearest"
        BILINEAR = "bilinear"
        BICUBIC = "bicubic"

    def resize(img, size, interpolation=InterpolationMode.BILINEAR, antialias=True):
        h, w = int(size[0]), int(size[1])
        if isinstance(img, Image.Image):
            method = {InterpolationMode.NEAREST: Image.NEAREST, InterpolationMode.BILINEAR: Image.BILINEAR,
                      InterpolationMode.BICUBIC: Image.BICUBIC}[interpolation]
            return img.resize((w, h), method)
        batched = img.ndim == 4
        x = img if batched else img.unsqueeze(0)
        out = torch.nn.functional.interpolate(x, size=(h, w), mode=interpolation.value, align_corners=False,
                                              antialias=antialias and interpolation != InterpolationMode.NEAREST)
        return out if batched else out.squeeze(0)

    class Compose:
        def __init__(self, fns):
            self.fns = fns

        def __call__(self, x):
            for fn in self.fns:
                x = fn(x)
            return x

    class ToTensor:
        def __call__(self, pic):
            arr = np.asarray(pic, dtype=np.uint8)
            return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1))).float().div(255.0)

    tv = types.ModuleType("torchvision")
    transforms = types.ModuleType("torchvision.transforms")
    functional = types.ModuleType("torchvision.transforms.functional")
    functional.resize = resize
    functional.InterpolationMode = InterpolationMode
    transforms.Compose, transforms.ToTensor, transforms.functional = Compose, ToTensor, functional
    transforms.InterpolationMode = InterpolationMode
    tv.transforms = transforms
    for mod in (tv, transforms, functional):
        mod.__spec__ = importlib.machinery.ModuleSpec(mod.__name__, None)
    sys.modules.update({"torchvision": tv, "torchvision.transforms": transforms,
                        "torchvision.transforms.functional": functional})


def nanovlm_modules() -> types.SimpleNamespace:
    """nanoVLM's collators, datasets and processors modules, imported from the peer folder."""
    if not (PEER / "data" / "collators.py").is_file():
        raise FileNotFoundError(f"nanoVLM peer modules not found at {PEER}")
    _torchvision_stand_in()
    if str(PEER) not in sys.path:
        sys.path.insert(0, str(PEER))
    import data.collators as collators
    import data.datasets as datasets
    import data.processors as processors

    return types.SimpleNamespace(collators=collators, datasets=datasets, processors=processors)


def nanovlm_tokenizer():
    """nanoVLM's get_tokenizer on the offline Qwen3 tokenizer folder, with nanoVLM's image tokens."""
    from molmo2_data.text.tokenizer import qwen3_tokenizer_dir

    return nanovlm_modules().processors.get_tokenizer(str(qwen3_tokenizer_dir()), EXTRA_TOKENS, CHAT_TEMPLATE)


class ListIdsTokenizer:
    """nanoVLM's tokenizer as nanoVLM was written for it: ``apply_chat_template(..., tokenize=True)`` returns a
    list of ids unless ``return_dict=True`` (transformers 4). Under transformers 5 it returns a dict by
    default, and nanoVLM's loss mask (``len()`` of that dict, i.e. 2) then masks every label."""

    def __init__(self, tok):
        self._tok = tok

    def __getattr__(self, name):
        return getattr(self._tok, name)

    def apply_chat_template(self, messages, **kw):
        if kw.get("tokenize") and "return_dict" not in kw:
            kw["return_dict"] = False
        return self._tok.apply_chat_template(messages, **kw)
