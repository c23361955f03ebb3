"""``molmo2-data owa``: the desktop-recording (OWAMcap) pipeline, one subverb per stage.

Both spellings of every flag work (``--train-dir`` and the seed's ``--train_dir``), and ``--rate`` takes
one or more ``topic=Hz`` values and may be repeated (``--rate mouse=60 screen=20`` as in the seed).
Every flag is validated before any work (a bad value exits with status 2 and a one-line message); the
output directory must be new or empty (``--overwrite`` empties it first) and may not overlap an input.
"""

from __future__ import annotations

import argparse
import json
import math

from molmo2_data.cli.argtypes import (
    existing_dir,
    finite_float,
    nonempty_text,
    nonnegative_int,
    positive_float,
    positive_int,
)


def _flag(p: argparse.ArgumentParser, name: str, **kw) -> None:
    dashed, under = f"--{name}", f"--{name.replace('-', '_')}"
    p.add_argument(*([dashed, under] if dashed != under else [dashed]), **kw)


def open_fraction(text: str) -> float:
    """A number strictly between 0 and 1 (``--test-percent``: a fraction, 0.2 = 20 %)."""
    value = finite_float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be a fraction strictly between 0 and 1 (0.2 = 20%), got {text!r}")
    return value


def overlap_fraction(text: str) -> float:
    """A number in [0, 1) (``--overlap-ratio``)."""
    value = finite_float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text!r}")
    return value


def bin_rate(text: str) -> float:
    """Bins per second: finite, > 0 and at most 1e9 (a bin is at least 1 ns)."""
    value = positive_float(text)
    if value > 1e9:
        raise argparse.ArgumentTypeError(f"must be at most 1e9 bins per second, got {text!r}")
    return value


def rate_spec(text: str) -> str:
    """One ``topic=Hz`` (or several separated by commas); Hz finite and >= 0 (0 = no limit)."""
    for part in text.replace(",", " ").split():
        topic, sep, hz = part.partition("=")
        if not sep or not topic:
            raise argparse.ArgumentTypeError(f"expects topic=Hz (e.g. mouse=60), got {part!r}")
        try:
            value = float(hz)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{part!r}: Hz must be a number") from None
        if not math.isfinite(value) or value < 0:
            raise argparse.ArgumentTypeError(f"{part!r}: Hz must be a finite number >= 0 (0 = no limit)")
    return text


def _engine_flags(p: argparse.ArgumentParser, unit: str) -> None:
    p.add_argument("--engine", choices=("local", "ray"), default="local",
                   help=f"where the tasks (one per {unit}) run: local (default, this machine) or ray (a Ray "
                        "cluster; pip install 'molmo2-data[ray]'); the outputs are the same byte for byte")
    p.add_argument("--address", default=None,
                   help="Ray cluster address for --engine ray (default: RAY_ADDRESS, else a local Ray started "
                        "for the job); the workers write under --output-dir, so it must be shared")


_OVERWRITE = "replace the contents of a non-empty --output-dir (it is emptied first); never allowed " \
             "when the output overlaps an input"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("owa", help="desktop recordings (OWAMcap .mcap + .mkv) -> event / binned / MLLM datasets",
                       description="The OWA desktop-recording pipeline (docs/owa.md): events, then bins, then "
                                   "sequences; stage 4 is the Python class molmo2_data.owa.VLMDatasetBuilder.")
    stages = p.add_subparsers(dest="owa_stage", metavar="STAGE")

    ev = stages.add_parser("events", help="stage 1: .mcap files -> event dataset (split by file)")
    _flag(ev, "train-dir", required=True, type=existing_dir,
          help="folder with *.mcap files (not recursive; .MCAP is read too)")
    split = ev.add_mutually_exclusive_group()
    _flag(split, "test-dir", default=None, type=existing_dir, help="folder with the test *.mcap files")
    _flag(split, "test-percent", type=open_fraction, default=0.2,
          help="fraction in (0, 1) of the readable files held out as test when --test-dir is absent (default 0.2)")
    _flag(ev, "output-dir", required=True, help="where to save the DatasetDict (new or empty, see --overwrite)")
    ev.add_argument("--rate", action="append", nargs="+", default=None, metavar="TOPIC=HZ", type=rate_spec,
                    help="per-topic rate limit (repeatable; default mouse=60 screen=20; 0 = no limit)")
    ev.add_argument("--workers", "--num-workers", "--num_workers", dest="workers", type=nonnegative_int, default=1,
                    help="processes reading files in parallel with --engine local (0 or 1 = in this process; "
                         "output order does not depend on it)")
    ev.add_argument("--seed", type=nonnegative_int, default=0, help="seed of the file split (default 0)")
    ev.add_argument("--overwrite", action="store_true", help=_OVERWRITE)
    _engine_flags(ev, "recording")
    ev.set_defaults(run=run_events)

    b = stages.add_parser("bin", help="stage 2: event dataset -> fixed-rate bins (state + actions)")
    _flag(b, "input-dir", required=True, type=existing_dir, help="event dataset (output of owa events)")
    _flag(b, "output-dir", required=True, help="where to save the binned dataset (new or empty, see --overwrite)")
    b.add_argument("--fps", type=bin_rate, default=10.0, help="bins per second, > 0 (default 10)")
    _flag(b, "keep-topic", action="append", default=None, dest="keep_topic", type=nonempty_text,
          help="topic to keep (repeatable, exact name; default: screen, keyboard, mouse)")
    b.add_argument("--overwrite", action="store_true", help=_OVERWRITE)
    _engine_flags(b, "file of a split")
    b.set_defaults(run=run_bin)

    s = stages.add_parser("sequences", help="stage 3: binned dataset -> MLLM dataset (overlapping windows)")
    _flag(s, "input-dir", required=True, type=existing_dir, help="binned dataset (output of owa bin)")
    _flag(s, "output-dir", required=True, help="where to save the MLLM dataset (new or empty, see --overwrite)")
    _flag(s, "sequence-length", type=positive_int, default=32, help="bins per window, >= 1 (default 32)")
    _flag(s, "overlap-ratio", type=overlap_fraction, default=0.5, help="window overlap in [0, 1) (default 0.5)")
    s.add_argument("--instruction", default="Complete the computer task", type=nonempty_text)
    s.add_argument("--overwrite", action="store_true", help=_OVERWRITE)
    _engine_flags(s, "file of a split")
    s.set_defaults(run=run_sequences)
    p.set_defaults(run=lambda args: (p.print_help(), 2)[1])


def _summary(dd) -> str:
    return ", ".join(f"{split}: {len(ds)} rows" for split, ds in dd.items())


def run_events(args: argparse.Namespace) -> int:
    from molmo2_data.owa.events import build_event_dataset
    from molmo2_data.owa.media_report import media_lines

    rates = [r for group in args.rate for r in group] if args.rate else None
    dd = build_event_dataset(args.train_dir, args.output_dir, test_dir=args.test_dir,
                             test_percent=args.test_percent, rates=rates, workers=args.workers, seed=args.seed,
                             overwrite=args.overwrite, engine=args.engine, address=args.address)
    manifest = dd.manifest
    files = manifest["files"]
    print(f"events: {len(files)} files -> {args.output_dir} ({_summary(dd)})")
    bad = {f: s for f, s in files.items() if s["status"] != "ok"}
    if bad:
        print(f"files with problems (details in {args.output_dir}/owa_manifest.json): "
              + json.dumps({f: s["status"] for f, s in bad.items()}))
    for path, st in sorted(bad.items()):
        if st.get("split"):
            print(f"  {st['status']} (in {st['split']}, {st['kept']} messages kept): {path}: {st.get('error')}")
    for path, why in sorted(manifest["unassigned"].items()):
        print(f"  not in any split: {path}: {why}")
    print("\n".join(media_lines("events", manifest["media_summary"])))
    return 0


def run_bin(args: argparse.Namespace) -> int:
    from molmo2_data.owa.binning import build_binned_dataset
    from molmo2_data.owa.media_report import media_lines

    dd = build_binned_dataset(args.input_dir, args.output_dir, fps=args.fps, keep_topics=args.keep_topic,
                              overwrite=args.overwrite, engine=args.engine, address=args.address)
    print(f"bins: {args.input_dir} -> {args.output_dir} ({_summary(dd)})")
    for split, reasons in sorted(dd.manifest["skipped_rows"].items()):
        print(f"  event rows left out ({split}): " + ", ".join(f"{k}: {v}" for k, v in sorted(reasons.items())))
    print("\n".join(media_lines("bins", dd.manifest["media_summary"])))
    return 0


def run_sequences(args: argparse.Namespace) -> int:
    from molmo2_data.owa.media_report import media_lines
    from molmo2_data.owa.sequences import build_mllm_dataset

    dd = build_mllm_dataset(args.input_dir, args.output_dir, sequence_length=args.sequence_length,
                            overlap_ratio=args.overlap_ratio, instruction=args.instruction, overwrite=args.overwrite,
                            engine=args.engine, address=args.address)
    print(f"sequences: {args.input_dir} -> {args.output_dir} ({_summary(dd)})")
    print("\n".join(media_lines("sequences", dd.manifest["media_summary"])))
    return 0
