"""``molmo2-data inspect``: availability of every dataset, or one dataset's schema, samples, stats."""

from __future__ import annotations

import argparse
import json

from rich.console import Console
from rich.table import Table


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "inspect",
        help="list datasets and local availability, or show one dataset's schema, samples and statistics",
        description="Without NAME: every registered dataset with its local availability (rows, examples, "
                    "media missing, table size). With NAME: its Arrow schema, N decoded samples and summary "
                    "statistics.",
    )
    p.add_argument("name", nargs="?", help="dataset name (see the list without NAME)")
    p.add_argument("--split", default=None, help="split (default: train, or the dataset's only split)")
    p.add_argument("--num-samples", "-n", type=int, default=3, help="samples to decode and show (default 3)")
    p.add_argument("--root", default=None, help="data root (default: $MOLMO_DATA_DIR or ~/.cache/molmo2-data)")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.add_argument("--html", default=None, metavar="FILE",
                   help="with NAME: also write a static HTML gallery of the samples (images with points, "
                        "tracks and counts drawn, video frame strips, the formatted conversations)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from molmo2_data import inspect as insp
    from molmo2_data.datasets import canonical_name
    from molmo2_data.paths import data_root

    console = Console(soft_wrap=False)
    if not console.is_terminal:
        console = Console(soft_wrap=False, width=160)  # logs and pipes: do not squash the tables
    if args.name is None:
        rows = insp.availability_all(args.root)
        if args.json:
            print(json.dumps([r.__dict__ for r in rows], indent=1))
            return 0
        table = Table(title=f"datasets under {data_root(args.root)}")
        for col in ("dataset", "split", "rows", "examples", "media missing", "other skips", "table MB", "status"):
            table.add_column(col, justify="right" if col not in ("dataset", "split", "status") else "left")
        for r in rows:
            table.add_row(r.name, r.split or "", f"{r.rows:,}", f"{r.examples:,}", f"{r.media_missing:,}",
                          f"{r.other_skips:,}", f"{r.table_bytes / 1e6:.2f}", r.status)
        console.print(table)
        missing = [r.name for r in rows if r.status != "ok"]
        if missing:
            console.print(f"{len(missing)} not available locally: run `molmo2-data sample` (sample data) "
                          "or `molmo2-data download` (real data)")
        return 0

    name = canonical_name(args.name)
    if args.html:
        from molmo2_data.eval.gallery import write_gallery

        out = write_gallery(name, args.split, args.html, n=args.num_samples, root=args.root)
        print(f"wrote gallery {out}")
    samples = insp.sample_examples(name, args.split, args.num_samples, args.root)
    stats = insp.statistics(name, args.split, args.root)
    avail = insp.availability(name, args.root, args.split)
    if args.json:
        print(json.dumps({"availability": avail.__dict__, "schema": insp.schema(name, args.split, args.root),
                          "samples": samples, "statistics": stats}, indent=1, default=str))
        return 0
    console.rule(f"{name} ({avail.split})")
    console.print(f"rows {avail.rows:,}  examples {avail.examples:,}  skipped {avail.skipped or 'none'}")
    console.rule("schema")
    console.print(insp.schema(name, args.split, args.root), markup=False)
    for s in samples:
        console.rule(f"sample {s['index']}")
        console.print(json.dumps(s, indent=1, default=str), markup=False)
    console.rule("statistics")
    console.print(f"examined {stats['examined']} of {stats['examples']} examples; media {stats['media']}; "
                  f"annotation kinds {stats['annotation kinds']}")
    table = Table()
    for col in ("value", "mean", "min", "max", "n"):
        table.add_column(col, justify="left" if col == "value" else "right")
    for k, v in stats["values"].items():
        table.add_row(k, f"{v['mean']:.2f}", f"{v['min']:g}", f"{v['max']:g}", str(v["n"]))
    console.print(table)
    return 0
