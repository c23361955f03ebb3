"""``molmo2-data inspect``: availability of every dataset, or one dataset's schema, samples, stats."""

from __future__ import annotations

import argparse
import json

from rich.console import Console
from rich.table import Table

from molmo2_data.cli.argtypes import existing_dir, nonnegative_int


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "inspect",
        help="list datasets and local availability, or show one dataset's schema, samples and statistics",
        description="Without NAME: every registered dataset with its local availability (rows, examples, "
                    "media missing, invalid rows and dropped annotations among up to 500 examined examples, "
                    "table size) and any broken custom config. With NAME: its Arrow schema, N decoded samples "
                    "and summary statistics; bad media files and invalid rows are listed with their reasons "
                    "and the inspection goes on.",
    )
    p.add_argument("name", nargs="?", help="dataset name (see the list without NAME)")
    p.add_argument("--split", default=None, help="split (default: train, or the dataset's only split)")
    p.add_argument("--num-samples", "-n", type=nonnegative_int, default=3,
                   help="samples to decode and show (default 3)")
    p.add_argument("--root", type=existing_dir, default=None,
                   help="data root (default: $MOLMO_DATA_DIR or ~/.cache/molmo2-data)")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.add_argument("--html", default=None, metavar="FILE",
                   help="with NAME: also write a static HTML gallery of the samples (images with points, "
                        "tracks and counts drawn, video frame strips, the formatted conversations)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from molmo2_data import inspect as insp
    from molmo2_data.datasets import canonical_name

    console = Console(soft_wrap=False)
    if not console.is_terminal:
        console = Console(soft_wrap=False, width=160)  # logs and pipes: do not squash the tables
    if args.name is None:
        return _run_all(args, console)

    from molmo2_data.errors import Molmo2DataError

    root = None if args.root is None else str(args.root)
    insp.load_custom_folder(root)
    name = canonical_name(args.name)
    if args.html:
        from molmo2_data.eval.gallery import write_gallery

        try:
            out = write_gallery(name, args.split, args.html, n=args.num_samples, root=root)
            print(f"wrote gallery {out}")
        except Molmo2DataError as e:  # a bad file must not hide the report below
            console.print(f"gallery not written: {type(e).__name__}: {e}", markup=False)
    problems = insp.Scan()
    samples = insp.sample_examples(name, args.split, args.num_samples, root, problems=problems)
    stats = insp.statistics(name, args.split, root)
    avail = insp.availability(name, root, args.split, scan_limit=0)
    bad_files = _unique_files(problems.bad_files + stats["bad files"])
    published = insp.published_source(name)
    if args.json:
        print(json.dumps({"availability": avail.__dict__, "schema": insp.schema(name, args.split, root),
                          "published": published,
                          "samples": samples, "statistics": stats, "bad files": bad_files,
                          "sample problems": {"invalid": dict(problems.invalid), "errors": problems.examples}},
                         indent=1, default=str))
        return 0
    console.rule(f"{name} ({avail.split})")
    console.print(f"rows {avail.rows:,}  examples {avail.examples:,}  skipped {avail.skipped or 'none'}")
    _print_problems(console, bad_files, problems, stats)
    console.rule("schema")
    if published:
        console.print(f"source {published['hf_path']}  checked against: {published['revision']}"
                      + (f"\n{published['notes']}" if published["notes"] else ""), markup=False)
    console.print(insp.schema(name, args.split, root), markup=False)
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


def _run_all(args: argparse.Namespace, console: Console) -> int:
    """Every registered dataset: availability, skips, invalid rows and dropped annotations; broken configs."""
    from molmo2_data import inspect as insp
    from molmo2_data.paths import data_root

    root = None if args.root is None else str(args.root)
    rows = insp.availability_all(root)
    broken = insp.broken_custom_configs(root)
    if args.json:
        print(json.dumps([r.__dict__ for r in rows] + [{"broken_config": b} for b in broken], indent=1))
        return 0
    table = Table(title=f"datasets under {data_root(root)}")
    for col in ("dataset", "split", "rows", "examples", "media missing", "other skips", "invalid rows",
                "dropped annotations", "table MB", "status"):
        table.add_column(col, justify="right" if col not in ("dataset", "split", "status") else "left")
    for r in rows:
        table.add_row(r.name, r.split or "", f"{r.rows:,}", f"{r.examples:,}", f"{r.media_missing:,}",
                      f"{r.other_skips:,}", f"{r.invalid:,}", f"{r.dropped:,}", f"{r.table_bytes / 1e6:.2f}",
                      r.status)
    console.print(table)
    for r in rows:
        if r.problems:
            console.print(f"{r.name}: among {r.examined:,} examined examples: "
                          + "; ".join(f"{k} x{v}" for k, v in r.problems.items()), markup=False)
    missing = [r.name for r in rows if r.status != "ok"]
    if missing:
        console.print(f"{len(missing)} not available locally: run `molmo2-data sample` (sample data) "
                      "or `molmo2-data download` (real data)")
    for b in broken:
        console.print(f"broken custom config {b['path']} (dataset {b['name']!r} not registered): {b['problem']}",
                      markup=False)
    return 0


def _unique_files(items: list[dict]) -> list[dict]:
    seen, out = set(), []
    for it in items:
        if it.get("path") not in seen:
            seen.add(it.get("path"))
            out.append(it)
    return out


def _print_problems(console: Console, bad_files: list[dict], problems, stats: dict) -> None:
    """Bad media files (count + list with reasons), invalid rows and dropped annotations."""
    if bad_files:
        console.print(f"bad media files: {len(bad_files)}", markup=False)
        for b in bad_files:
            console.print(f"  {b['path']}: {b['error']}: {b['reason']}", markup=False)
    invalid = dict(problems.invalid)
    for k, v in stats.get("invalid examples", {}).items():
        invalid[k] = max(invalid.get(k, 0), v)
    if invalid:
        console.print("invalid rows: " + "; ".join(f"{k} x{v}" for k, v in sorted(invalid.items())), markup=False)
        for line in (problems.examples + stats.get("error examples", []))[:5]:
            console.print(f"  {line}", markup=False)
    if stats.get("dropped annotations"):
        console.print("dropped annotations: " + "; ".join(
            f"{k} x{v}" for k, v in sorted(stats["dropped annotations"].items())), markup=False)
