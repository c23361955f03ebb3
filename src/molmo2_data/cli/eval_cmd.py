"""``molmo2-data eval``: score a predictions JSONL against a dataset split; JSON report, table, HTML."""

from __future__ import annotations

import argparse
from pathlib import Path

from molmo2_data.cli.argtypes import existing_file, nonnegative_int
from molmo2_data.errors import Molmo2DataError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="score model predictions (JSONL) against a dataset's ground truth",
        description="Score a predictions file (one JSON object per line: {\"index\": i, \"prediction\": text}, "
                    "optionally \"annotation\": k for message trees and \"turn\": t for multi-turn messages) "
                    "with the task's metrics. Prints a table per question type (style), task kind and "
                    "dataset; writes the full report as JSON and optionally an HTML page with predictions "
                    "drawn beside the ground truth. Malformed lines (not UTF-8, invalid JSON, wrong types, "
                    "index/annotation/turn out of range, duplicates: the first is kept) are skipped, counted "
                    "and listed with their line numbers, never fatal. Metrics and units: docs/eval.md.",
    )
    p.add_argument("--dataset", required=True, help="dataset name")
    p.add_argument("--split", default=None, help="split (default: train, or the dataset's only split)")
    p.add_argument("--predictions", required=True, type=existing_file, help="predictions JSONL file")
    p.add_argument("--json", dest="json_out", default=None,
                   help="write the JSON report here (default: <predictions>.eval.json)")
    p.add_argument("--html", default=None, help="also write an HTML report here")
    p.add_argument("--html-examples", type=nonnegative_int, default=50,
                   help="records drawn in the HTML report (default 50)")
    p.add_argument("--show-malformed", type=nonnegative_int, default=20, metavar="N",
                   help="print the first N skipped lines with their reasons (default 20; all are in the JSON)")
    p.add_argument("--root", default=None, help="data root (default: $MOLMO_DATA_DIR or ~/.cache/molmo2-data)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from molmo2_data.datasets import canonical_name
    from molmo2_data.eval.gallery import write_report_html
    from molmo2_data.eval.runner import evaluate, format_table, report_json
    from molmo2_data.inspect import default_split

    name = canonical_name(args.dataset)
    split = args.split or default_split(name)
    report = evaluate(name, split, args.predictions, root=args.root)
    print(format_table(report, show_malformed=args.show_malformed))
    out = Path(args.json_out or f"{args.predictions}.eval.json")
    try:
        out.write_text(report_json(report), encoding="utf-8")
        print(f"report: {out}")
        if args.html:
            print(f"html: {write_report_html(report, args.html, root=args.root, max_examples=args.html_examples)}")
    except OSError as e:  # an unwritable or missing output directory: one line (exit 1), not a traceback
        raise Molmo2DataError(f"cannot write the report: {e.filename or out}: {e.strerror or e}") from e
    return 0
