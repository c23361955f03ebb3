"""nanoVLM items from molmo2-data (NanoVLMDataset over the pixmo-points sample) vs nanoVLM's own
VQADataset on the same, already decoded images and already formatted chats (its floor: tokenizing and
image processing only), measured in the same run on one core. Prints a table.

    python benchmarks/bench_nanovlm.py [--root DIR] [--n 48]

Needs the nanoVLM peer modules next to the repository (../shared/peers/nanovlm) and writes the sample
data to a temporary root unless --root is given.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from nanovlm_peer import ListIdsTokenizer, nanovlm_modules, nanovlm_tokenizer  # noqa: E402

from molmo2_data import get_dataset  # noqa: E402
from molmo2_data.integrations.nanovlm import NanoVLMDataset  # noqa: E402
from molmo2_data.text.formatter import FormatterConfig, format_conversation  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", default=None)
    ap.add_argument("--n", type=int, default=48)
    args = ap.parse_args()
    import torch
    from PIL import Image

    torch.set_num_threads(1)
    root = args.root
    if root is None:
        from molmo2_data.sample import write_sample

        root = tempfile.mkdtemp()
        write_sample(root, datasets=["pixmo-points"], progress=False)
    mods, tok = nanovlm_modules(), nanovlm_tokenizer()
    proc = mods.processors.get_image_processor(512, 256)
    source = get_dataset("pixmo-points", root=root)
    ours = NanoVLMDataset(source, tok, proc, 64)
    n = min(args.n, len(source))
    cfg = FormatterConfig(system_prompt="none")
    prepared = []  # what nanoVLM's VQADataset starts from: decoded images, formatted turns
    for i in range(n):
        rng = np.random.RandomState(i)
        ex = source.get(i, rng)
        turns = [m for a in ex.annotations for m in [format_conversation(a, cfg, rng).messages]]
        prepared.append({"images": [Image.fromarray(im.load()) for im in ex.images],
                         "texts": [{"user": t[0], "assistant": t[1]} for t in turns]})
    theirs = mods.datasets.VQADataset(prepared, ListIdsTokenizer(tok), proc, 64)
    rows = []
    for name, ds in (("nanoVLM VQADataset (decoded images, formatted text)", theirs),
                     ("molmo2-data NanoVLMDataset (read, decode, format)", ours)):
        t = time.perf_counter()
        for i in range(n):
            ds[i]
        dt = time.perf_counter() - t
        rows.append((name, n / dt))
    print(f"{n} pixmo-points examples, one core")
    print(f"{'case':<56}{'items/s':>10}")
    for name, rate in rows:
        print(f"{name:<56}{rate:>10.1f}")


if __name__ == "__main__":
    main()
