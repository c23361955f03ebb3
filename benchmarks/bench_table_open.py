"""Open a generated 1M-row pixmo-points table and read 10k random examples.

Reports open time (cold: index built; warm: cached index) and RSS growth, beside the same work done
with Hugging Face ``datasets`` (``Dataset.from_file`` + ``ds[i]``) on the same Arrow file, measured in
the same run. Targets (issue 2): open < 1 s, RSS growth < 200 MB.

    python benchmarks/bench_table_open.py [--rows 1000000] [--images 200000] [--reads 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa


def rss_mb(kind: str = "RssAnon") -> float:
    """Resident memory in MB: ``RssAnon`` is the process's own heap; ``RssFile`` counts pages of
    memory-mapped files, which the kernel shares and can drop at any time."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(kind + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def build(root: Path, rows: int, images: int) -> None:
    from molmo2_data import paths
    from molmo2_data.media.image import encode_jpeg
    from molmo2_data.sample.draw import random_scene
    from molmo2_data.tables import write_table

    rng = np.random.RandomState(0)
    seeds = []
    for i in range(16):
        img, _ = random_scene(np.random.RandomState(i), 320, 240)
        seeds.append(encode_jpeg(img))
    src_dir = root / "seed_images"
    src_dir.mkdir(parents=True, exist_ok=True)
    for i, b in enumerate(seeds):
        (src_dir / f"{i}.jpg").write_bytes(b)
    urls = [f"https://example.org/img/{i:07d}.jpg" for i in range(images)]
    img_dir = paths.image_dir(root)
    img_dir.mkdir(parents=True, exist_ok=True)
    for i, u in enumerate(urls):
        dst = paths.url_image_path(u, root)
        if not dst.exists():
            os.link(src_dir / f"{i % 16}.jpg", dst)
    url_idx = rng.randint(0, images, size=rows)
    url_idx[:images] = np.arange(images)  # every image used
    n_pts = rng.randint(0, 8, size=rows)
    offsets = np.zeros(rows + 1, dtype=np.int32)
    np.cumsum(n_pts, out=offsets[1:])
    xy = rng.uniform(0, 100, size=(offsets[-1], 2))
    points = pa.ListArray.from_arrays(pa.array(offsets), pa.StructArray.from_arrays(
        [pa.array(xy[:, 0]), pa.array(xy[:, 1])], names=["x", "y"]))
    labels = np.array(["red circle", "blue square", "green triangle", "cat", "dog"])[rng.randint(0, 5, size=rows)]
    table = pa.table({
        "image_url": pa.array(np.array(urls, dtype=object)[url_idx]),
        "image_sha256": pa.array([f"{i:064x}" for i in url_idx]),
        "points": points,
        "count": pa.array(n_pts.astype(np.int64)),
        "label": pa.array(labels),
        "collection_method": pa.array(np.where(rng.rand(rows) < 0.8, "pointing", "counting")),
    })
    write_table(table, paths.table_path("pixmo-points", "default", "train", root))


def child(mode: str, root: str, reads: int) -> dict:
    """Run in a fresh process so RSS is measured from a clean start."""
    import molmo2_data.datasets  # noqa: F401  (import cost is not part of 'open')
    from molmo2_data import paths

    rng = np.random.RandomState(1)
    rss0, file0 = rss_mb(), rss_mb("RssFile")
    t0 = time.perf_counter()
    if mode == "ours":
        from molmo2_data.datasets import get_dataset

        ds = get_dataset("pixmo-points", root=root)
        n = len(ds)
        t_open = time.perf_counter() - t0
        rss_open = rss_mb()
        idx = rng.randint(0, n, size=reads)
        t1 = time.perf_counter()
        for i in idx:
            ds.get(int(i), np.random.RandomState(int(i)))
    else:
        import datasets

        datasets.disable_progress_bars()
        ds = datasets.Dataset.from_file(str(paths.table_path("pixmo-points", "default", "train", root)))
        n = len(ds)
        t_open = time.perf_counter() - t0
        rss_open = rss_mb()
        idx = rng.randint(0, n, size=reads)
        t1 = time.perf_counter()
        for i in idx:
            ds[int(i)]
    t_read = time.perf_counter() - t1
    return {"examples": n, "open_s": t_open, "read_s": t_read, "rss_open_mb": rss_open - rss0,
            "rss_total_mb": rss_mb() - rss0, "file_total_mb": rss_mb("RssFile") - file0}


def run_child(mode: str, root: Path, reads: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", mode, "--root", str(root), "--reads", str(reads)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--images", type=int, default=200_000)
    ap.add_argument("--reads", type=int, default=10_000)
    ap.add_argument("--root", default=None, help="reuse a generated root (default: a temp dir)")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.root, args.reads)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.root or tmp)
        t0 = time.perf_counter()
        if not (root / "tables" / "pixmo-points").exists():
            build(root, args.rows, args.images)
        t_build = time.perf_counter() - t0
        cold = run_child("ours", root, args.reads)  # builds and caches the index
        warm = run_child("ours", root, args.reads)
        peer = run_child("hf", root, args.reads)
    print(f"1M-row table benchmark: {args.rows:,} rows, {args.images:,} images, {args.reads:,} random reads "
          f"(data generated in {t_build:.1f} s); {os.cpu_count()} cores")
    print(f"{'metric':<34}{'ours (cold index)':>18}{'ours (warm)':>14}{'HF datasets':>14}{'target':>10}")
    print(f"{'examples':<34}{cold['examples']:>18,}{warm['examples']:>14,}{peer['examples']:>14,}{'':>10}")
    print(f"{'open time (s)':<34}{cold['open_s']:>18.3f}{warm['open_s']:>14.3f}{peer['open_s']:>14.3f}{'< 1':>10}")
    print(f"{'heap RSS growth after open (MB)':<34}{cold['rss_open_mb']:>18.1f}{warm['rss_open_mb']:>14.1f}"
          f"{peer['rss_open_mb']:>14.1f}{'':>10}")
    print(f"{'read 10k random examples (s)':<34}{cold['read_s']:>18.3f}{warm['read_s']:>14.3f}{peer['read_s']:>14.3f}{'':>10}")
    print(f"{'heap RSS growth after reads (MB)':<34}{cold['rss_total_mb']:>18.1f}{warm['rss_total_mb']:>14.1f}"
          f"{peer['rss_total_mb']:>14.1f}{'< 200':>10}")
    print(f"{'mapped-file RSS growth (MB)':<34}{cold['file_total_mb']:>18.1f}{warm['file_total_mb']:>14.1f}"
          f"{peer['file_total_mb']:>14.1f}{'':>10}")
    print("(ours = grouped per image with filters and media check -> Example objects; "
          "HF = raw rows as dicts, no grouping)")


if __name__ == "__main__":
    main()
