"""Academic video sets (issue 14), two figures, each beside its floor or peer measured in the same run:

1. import: a TVQA-like ``tvqa_train.jsonl`` of N questions (with subtitles) turned into the set's message
   table (typed field checks, clip names, subtitle windows, Arrow), against ``pandas.read_json(lines=True)``
   (how the official loader reads it, before any per-row work) and against bare ``json.loads`` per line;
2. examples/s on one core with the SFT encoding for STAR clip questions (read, decode the clip's sampled
   frames, preprocess, format, tokenize), against the floor: decoding the same frames + the vision
   preprocessing alone, same rng.

    python benchmarks/bench_video_academic.py [--rows 200000] [--n 40]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from encode_rates import ours_and_floor  # noqa: E402

from molmo2_data.datasets import get_dataset
from molmo2_data.datasets.video_academic import messages_table
from molmo2_data.datasets.video_academic_hub import TVQA_SHOW_DIRS, parse_tvqa
from molmo2_data.sample import write_sample


def tvqa_file(folder: Path, n: int) -> Path:
    shows = list(TVQA_SHOW_DIRS)
    with open(folder / "tvqa_train.jsonl", "w") as fh:
        for i in range(n):  # ~7 questions per clip, as in TVQA (152.5k questions on 21.8k clips)
            c = i // 7
            start = float(np.random.RandomState(c).randint(0, 60))
            fh.write(json.dumps({"qid": i, "q": f"What does Sheldon hold when he says line {i}?",
                                 **{f"a{k}": f"option {k} of {i}" for k in range(5)}, "answer_idx": i % 5,
                                 "ts": f"{start}-{start + 12.5}", "show_name": shows[c % 6],
                                 "vid_name": f"s{c % 9}e{c % 23:02d}_seg02_clip_{c % 17:02d}"}) + "\n")
    with open(folder / "tvqa_preprocessed_subtitles.jsonl", "w") as fh:
        for v in range(9 * 23 * 17):
            fh.write(json.dumps({"vid_name": f"s{v % 9}e{v % 23:02d}_seg02_clip_{v % 17:02d}",
                                 "sub": [{"start": 2.0 * k, "end": 2.0 * k + 1.5, "text": f"line {k}"}
                                         for k in range(30)]}) + "\n")
    return folder


def import_rates(n: int) -> tuple[float, float, float]:
    import pandas as pd

    folder = tvqa_file(Path(tempfile.mkdtemp()), n)
    t = time.perf_counter()
    table = messages_table(parse_tvqa(folder, "train"))
    ours = table.num_rows / (time.perf_counter() - t)
    t = time.perf_counter()
    df = pd.read_json(folder / "tvqa_train.jsonl", lines=True)
    pandas_rate = len(df) / (time.perf_counter() - t)
    t = time.perf_counter()
    with open(folder / "tvqa_train.jsonl") as fh:
        rows = [json.loads(line) for line in fh]
    raw = len(rows) / (time.perf_counter() - t)
    return ours, pandas_rate, raw


def encode_rates(n: int) -> tuple[float, float, int]:
    root = Path(tempfile.mkdtemp())
    write_sample(root, datasets=["star"], progress=False)
    ds = get_dataset("star", root=root)
    n = min(n, len(ds))
    return (*ours_and_floor(ds, n, "star", warmup=1), n)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--n", type=int, default=40)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    ours, pandas_rate, raw = import_rates(args.rows)
    print(f"import of a TVQA-like tvqa_train.jsonl, {args.rows:,} questions (rows/s, one core)")
    print(f"{'':<48}{'rows/s':>12}")
    print(f"{'ours: messages table (checks, clips, subtitles)':<48}{ours:>12,.0f}")
    print(f"{'peer: pandas.read_json(lines=True) (official)':<48}{pandas_rate:>12,.0f}")
    print(f"{'floor: json.loads per line':<48}{raw:>12,.0f}")
    ours_ex, floor_ex, n = encode_rates(args.n)
    print(f"\n{n} STAR clip examples (4 questions each), one core, SFT encoding")
    print(f"{'set':<44}{'ours ex/s':>11}{'floor ex/s':>12}{'ours/floor':>12}")
    print(f"{'star (clips of 160x128 H.264)':<44}{ours_ex:>11.1f}{floor_ex:>12.1f}{ours_ex / floor_ex:>12.2f}")


if __name__ == "__main__":
    main()
