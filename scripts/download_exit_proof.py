#!/usr/bin/env python
"""Slow proof for issue #12 (download): many complete multi-process runs in a row all exit 0.

    python scripts/download_exit_proof.py              # 30 runs of 5,000 URLs, 2 processes
    python scripts/download_exit_proof.py --runs 50 --n 2000

Each run is a fresh ``molmo2-data download`` process (``scripts/download_molmo2_data.py``) on an empty
root, fetching N sha256-checked JPEGs from the benchmark's loopback server (benchmarks/bench_download.py)
with ``--procs 2``. Before the fix, workers that had already delivered everything were terminated while
exiting and about one run in eight ended with ``error: 1 download worker process(es) failed (exit codes
[-15])`` after N / N verified. Prints the exit status of every run; exits 1 if any run was not 0 or did
not verify every file.
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO / "benchmarks")]

import pyarrow as pa  # noqa: E402
from bench_download import _serve, make_bases, variant  # noqa: E402

from molmo2_data import paths  # noqa: E402
from molmo2_data.tables import write_table  # noqa: E402

DATASET = "pixmo-ask-model-anything"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--n", type=int, default=5000, help="URLs per run")
    ap.add_argument("--procs", type=int, default=2)
    args = ap.parse_args()

    bases = make_bases(0)
    parent, child = mp.Pipe()
    server = mp.Process(target=_serve, args=(child, 0), daemon=True)
    server.start()
    port = parent.recv()
    urls = [f"http://127.0.0.1:{port}/img/{i}.jpg" for i in range(args.n)]
    shas = [hashlib.sha256(variant(bases, i)).hexdigest() for i in range(args.n)]
    codes: Counter[int] = Counter()
    incomplete = 0
    for run in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="dl_proof_") as tmp:
            root = Path(tmp)
            write_table(pa.table({"image_url": urls, "image_sha256": shas, "question": ["q"] * args.n,
                                  "answer": ["a"] * args.n}), paths.table_path(DATASET, "default", "train", root))
            proc = subprocess.run([sys.executable, str(REPO / "scripts" / "download_molmo2_data.py"), "--root",
                                   str(root), "--datasets", DATASET, "--skip-tables", "--quiet", "--procs",
                                   str(args.procs)], capture_output=True, text=True,
                                  env={**os.environ, "PYTHONPATH": str(REPO / "src")})
            have = sum(1 for _ in paths.image_dir(root).iterdir())
            codes[proc.returncode] += 1
            incomplete += have != args.n
            tail = proc.stderr.strip().splitlines()[-1:] if proc.returncode else []
            print(f"run {run + 1:3d}: exit {proc.returncode}, {have:,} / {args.n:,} files", *tail, flush=True)
    server.terminate()
    print(f"\nexit statuses: {dict(codes)}; runs with missing files: {incomplete}")
    return 0 if set(codes) == {0} and not incomplete else 1


if __name__ == "__main__":
    sys.exit(main())
