"""Academic tracking, examples/s per core for a track whose video is a JPEG frame folder (as most tracking
benchmarks ship), read through its reader and encoded with the SFT settings, next to the floor measured
in the same run: decoding the sampled frames and the vision preprocessing alone. Prints a table.

    python benchmarks/bench_tracking_frames.py [--n 24]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from encode_rates import ours_and_floor  # noqa: E402

from molmo2_data import paths
from molmo2_data.datasets import get_dataset
from molmo2_data.media.video import probe_video, read_frames_at
from molmo2_data.sample import write_sample
from molmo2_data.tables import read_table, write_table

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
    ds = get_dataset("yt_vis_track", root=root)
    n = min(n, len(ds))
    return (*ours_and_floor(ds, n, "yt_vis_track"), n)


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
