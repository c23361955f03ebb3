"""``molmo2-data owa``: the desktop-recording (OWAMcap) pipeline, one subverb per stage.

Both spellings of every flag work (``--train-dir`` and the seed's ``--train_dir``), and ``--rate`` takes
one or more ``topic=Hz`` values and may be repeated (``--rate mouse=60 screen=20`` as in the seed).
"""

from __future__ import annotations

import argparse
import json


def _flag(p: argparse.ArgumentParser, name: str, **kw) -> None:
    dashed, under = f"--{name}", f"--{name.replace('-', '_')}"
    p.add_argument(*([dashed, under] if dashed != under else [dashed]), **kw)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("owa", help="desktop recordings (OWAMcap .mcap + .mkv) -> event / binned / MLLM datasets",
                       description="The OWA desktop-recording pipeline (docs/owa.md): events, then bins, then "
                                   "sequences; stage 4 is the Python class molmo2_data.owa.VLMDatasetBuilder.")
    stages = p.add_subparsers(dest="owa_stage", metavar="STAGE")

    ev = stages.add_parser("events", help="stage 1: .mcap files -> event dataset (split by file)")
    _flag(ev, "train-dir", required=True, help="folder with *.mcap files (not recursive)")
    split = ev.add_mutually_exclusive_group()
    _flag(split, "test-dir", default=None, help="folder with the test *.mcap files")
    _flag(split, "test-percent", type=float, default=0.2,
          help="fraction of files held out as test when --test-dir is absent (default 0.2)")
    _flag(ev, "output-dir", required=True, help="where to save the DatasetDict")
    ev.add_argument("--rate", action="append", nargs="+", default=None, metavar="TOPIC=HZ",
                    help="per-topic rate limit (repeatable; default mouse=60 screen=20; 0 = no limit)")
    ev.add_argument("--workers", "--num-workers", "--num_workers", dest="workers", type=int, default=1,
                    help="processes reading files in parallel (output order does not depend on it)")
    ev.add_argument("--seed", type=int, default=0, help="seed of the file split (default 0)")
    ev.set_defaults(run=run_events)

    b = stages.add_parser("bin", help="stage 2: event dataset -> fixed-rate bins (state + actions)")
    _flag(b, "input-dir", required=True)
    _flag(b, "output-dir", required=True)
    b.add_argument("--fps", type=float, default=10.0, help="bins per second (default 10)")
    _flag(b, "keep-topic", action="append", default=None, dest="keep_topic",
          help="topic to keep (repeatable, exact name; default: screen, keyboard, mouse)")
    b.set_defaults(run=run_bin)

    s = stages.add_parser("sequences", help="stage 3: binned dataset -> MLLM dataset (overlapping windows)")
    _flag(s, "input-dir", required=True)
    _flag(s, "output-dir", required=True)
    _flag(s, "sequence-length", type=int, default=32, help="bins per window (default 32)")
    _flag(s, "overlap-ratio", type=float, default=0.5, help="window overlap in [0, 1) (default 0.5)")
    s.add_argument("--instruction", default="Complete the computer task")
    s.set_defaults(run=run_sequences)
    p.set_defaults(run=lambda args: (p.print_help(), 2)[1])


def _summary(dd) -> str:
    return ", ".join(f"{split}: {len(ds)} rows" for split, ds in dd.items())


def run_events(args: argparse.Namespace) -> int:
    from molmo2_data.owa.events import build_event_dataset

    rates = [r for group in args.rate for r in group] if args.rate else None
    dd = build_event_dataset(args.train_dir, args.output_dir, test_dir=args.test_dir,
                             test_percent=args.test_percent, rates=rates, workers=args.workers, seed=args.seed)
    files = dd.manifest["files"]
    bad = {f: s["status"] for f, s in files.items() if s["status"] != "ok"}
    print(f"events: {len(files)} files -> {args.output_dir} ({_summary(dd)})")
    if bad:
        print("files with problems (details in owa_manifest.json): " + json.dumps(bad))
    return 0


def run_bin(args: argparse.Namespace) -> int:
    from molmo2_data.owa.binning import build_binned_dataset

    dd = build_binned_dataset(args.input_dir, args.output_dir, fps=args.fps, keep_topics=args.keep_topic)
    print(f"bins: {args.input_dir} -> {args.output_dir} ({_summary(dd)})")
    return 0


def run_sequences(args: argparse.Namespace) -> int:
    from molmo2_data.owa.sequences import build_mllm_dataset

    dd = build_mllm_dataset(args.input_dir, args.output_dir, sequence_length=args.sequence_length,
                            overlap_ratio=args.overlap_ratio, instruction=args.instruction)
    print(f"sequences: {args.input_dir} -> {args.output_dir} ({_summary(dd)})")
    return 0
