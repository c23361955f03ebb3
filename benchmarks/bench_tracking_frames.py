"""Academic tracking, examples/s per core for a track whose video is a JPEG frame folder (as most tracking
benchmarks ship), read through its reader and encoded with the SFT settings, next to the floor measured
in the same run: decoding the sampled frames and the vision preprocessing alone. Prints a table.

    python benchmarks/bench_tracking_frames.py [--n 24]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
from PIL import Image

from molmo2_data import paths
from molmo2_data.datasets import get_dataset
from molmo2_data.datasets.base import rng_for_index
from molmo2_data.loading.loader import build_encoder, stage_config
from molmo2_data.media.video import probe_video, read_frames_at
from molmo2_data.sample import write_sample
from molmo2_data.tables import read_table, write_table
from molmo2_data.text.tokenizer import load_tokenizer

SCALE = 4  # the 176x144 sample frames become 704x576 JPEGs (a DAVIS/YouTube-VOS-like size)


def frame_folder_root() -> Path:
    """The yt-vis sample with every video turned into a folder of upscaled JPEG frames (points scaled)."""
    root = Path(tempfile.mkdtemp())
    write_sample(root, datasets=["yt-vis"], progress=False)
    videos = root / "media" / "videos" / "tracking" / "yt-vis"
    for mp4 in sorted(videos.glob("*.mp4")):
        n = probe_video(mp4).num_frames
        frames, _ = read_frames_at(mp4, np.arange(n) / 6 + 1e-3)
        folder = videos / mp4.stem
        folder.mkdir()
        for i, f in enumerate(frames):
            img = Image.fromarray(f).resize((f.shape[1] * SCALE, f.shape[0] * SCALE), Image.BILINEAR)
            img.save(folder / f"{i:05d}.jpg", quality=90)
        mp4.unlink()
    p = paths.table_path("yt-vis", "track", "train", root)
    rows = read_table(p).to_pylist()
    for r in rows:
        r["width"] *= SCALE
        r["height"] *= SCALE
        for f in r["frame_trajectories"]:
            for q in f["points"]:
                q["point"] = [v * SCALE for v in q["point"]]
    write_table(pa.Table.from_pylist(rows, schema=read_table(p).schema), p)
    return root


def measure(root: Path, n: int) -> tuple[float, float, int]:
    cfg = stage_config("molmo2-sft")
    enc = build_encoder(cfg, load_tokenizer("qwen3"), cfg.sequence_length, cfg.mixture(), cfg.max_frames)
    ds = get_dataset("yt_vis_track", root=root)
    n = min(n, len(ds))

    def floor_pass() -> float:  # decode the sampled frames + vision preprocess, same rng draws
        t = time.perf_counter()
        for i in range(n):
            rng = rng_for_index(i, 0)
            enc.vision(ds.get(i, rng), rng)
        return n / (time.perf_counter() - t)

    def ours_pass() -> float:
        t = time.perf_counter()
        for i in range(n):
            rng = rng_for_index(i, 0)
            enc.encode_or_raise(ds.get(i, rng), rng, {"index": i, "member": "yt_vis_track"})
        return n / (time.perf_counter() - t)

    for i in range(2):
        rng = rng_for_index(i, 0)
        enc.encode_or_raise(ds.get(i, rng), rng, {"index": i, "member": "yt_vis_track"})
    floor, ours = floor_pass(), ours_pass()
    return max(ours, ours_pass()), max(floor, floor_pass()), n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=24)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    root = frame_folder_root()
    ours, floor, n = measure(root, args.n)
    print(f"{n} tracks, one core, SFT encoding; each video a folder of 18 JPEG frames at 6 fps, "
          f"{176 * SCALE}x{144 * SCALE}")
    print(f"{'set':<44}{'ours ex/s':>11}{'floor ex/s':>12}{'ours/floor':>12}")
    print(f"{'yt_vis_track (JPEG frame folders)':<44}{ours:>11.1f}{floor:>12.1f}{ours / floor:>12.2f}")


if __name__ == "__main__":
    main()
