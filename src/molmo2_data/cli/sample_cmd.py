"""``molmo2-data sample``: write the embedded sample data."""

from __future__ import annotations

import argparse
import time

from molmo2_data import paths
from molmo2_data.cli.argtypes import nonnegative_int
from molmo2_data.errors import Molmo2DataError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sample",
        help="write a small, true sample of every dataset (no downloads needed)",
        description="Write a small local copy of every registered dataset in its exact published schema, "
                    "with real media (JPEG/PNG images, H.264 MP4/MKV videos) whose annotations are true, "
                    "plus the ground truth that was drawn. Deterministic for a seed. Every file is written "
                    "atomically (unique temp name + rename), so concurrent runs into one directory and loaders "
                    "reading it meanwhile are safe.",
    )
    p.add_argument("--out", "--root", dest="root", default=None,
                   help="data root to write to (default: $MOLMO_DATA_DIR or ~/.cache/molmo2-data)")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="random seed, an integer >= 0 (default 0)")
    p.add_argument("--datasets", default=None, help="comma-separated dataset names (default: all)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from molmo2_data.sample import write_sample

    root = paths.data_root(args.root)
    names = [n.strip() for n in args.datasets.split(",")] if args.datasets else None
    t0 = time.perf_counter()
    try:
        timings = write_sample(root, seed=args.seed, datasets=names, progress=not args.quiet)
    except OSError as e:  # unwritable root, disk full: one line (exit status 1), not a traceback
        raise Molmo2DataError(f"cannot write sample data to {root}: {e.strerror or e}: {e.filename or ''}") from e
    size = sum(f.stat().st_size for f in root.rglob("*") if f.is_file() and not f.is_symlink())
    print(f"wrote sample data for {len(timings)} datasets to {root} "
          f"({size / 1e6:.1f} MB, {time.perf_counter() - t0:.1f} s)")
    print("next: molmo2-data inspect" + (f" --root {args.root}" if args.root else ""))
    return 0
