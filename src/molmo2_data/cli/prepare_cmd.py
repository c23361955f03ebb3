"""``molmo2-data prepare``: optional offline steps that make training read less, one subverb per kind of
media (``videos``)."""

from __future__ import annotations

import argparse

from molmo2_data.cli.argtypes import positive_float
from molmo2_data.errors import ConfigError

EXIT_FAILED = 3  # the run finished, but some videos could not be prepared (the loader reads their originals)

VIDEOS_DESCRIPTION = """\
Re-encode each video of the selected datasets once, keeping only the frames the loader samples: at most
2 frames per second (0, 0.5, 1, ... s, and the last frame). Why: the loader decodes every frame of a
video to pick those, so a 30 fps source costs ~15 decoded frames per frame used; with a prepared copy it
decodes only the frames it uses.

The copy goes beside the original as <id>_2fps.mp4 (the official 2 fps name), which the dataset readers
prefer. It is frame-exact: at every sampled time the loader gets the same frame (same time, same pixels:
lossless H.264 by default, so batches do not change), and the loader reads the original instead for times
off the 2 fps grid (clips starting between grid points, long videos sampled at max_frames evenly spaced
times). Keep the originals; re-run after replacing one (its prepared copy is then redone).

Each video gets a line in $root/manifests/prepared-videos.jsonl (source path, size and mtime, output
path and sha256, fps, frames, status ok / unneeded / failed with a reason). A rerun skips videos whose
output still matches its record; a corrupt source is a counted failure, not a crash.
"""

EPILOG = """\
Examples:
  molmo2-data prepare videos
  molmo2-data prepare videos --datasets molmo2-cap,molmo2-videocapqa
  molmo2-data prepare videos --engine ray --address ray://head:10001   # root on a shared file system

Exit status: 0 every selected video is prepared, up to date or not needed; 2 bad arguments;
3 some videos failed (listed with their reasons; the loader reads their originals)."""


def crf_value(text: str) -> int:
    """An x264 constant rate factor, 0..51 (0 = lossless)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer 0..51, got {text!r}") from None
    if not 0 <= value <= 51:
        raise argparse.ArgumentTypeError(f"must be an integer 0..51 (0 = lossless), got {text!r}")
    return value


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("prepare", help="optional offline steps that speed up training (videos: 2 fps copies)",
                       description="Optional offline preparation of media for training (docs/prepare.md).")
    kinds = p.add_subparsers(dest="prepare_kind", metavar="KIND")
    v = kinds.add_parser("videos", help="re-encode videos at 2 fps, frame-exact, for faster loading",
                         description=VIDEOS_DESCRIPTION, epilog=EPILOG,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    v.add_argument("--root", default=None, help="data root (default: $MOLMO_DATA_DIR or ~/.cache/molmo2-data)")
    v.add_argument("--datasets", default=None, metavar="A,B",
                   help="comma-separated dataset names (default: every training video dataset with a local table)")
    v.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="local: one video after another in this process (default); ray: one task per video "
                        "on a Ray cluster (pip install 'molmo2-data[ray]')")
    v.add_argument("--address", default=None,
                   help="Ray cluster address (default: $RAY_ADDRESS, else a local Ray started for the job); "
                        "workers must see the data root at the same path")
    v.add_argument("--fps", type=positive_float, default=2.0,
                   help="frames per second kept (default 2, the stages' sampling rate; the copy is named "
                        "<id>_<fps>fps.mp4)")
    v.add_argument("--crf", type=crf_value, default=0,
                   help="0 (default): lossless, the frames decode bit for bit as the original's; 1..51: "
                        "lossy x264 crf, smaller files whose pixels differ slightly (see docs/prepare.md)")
    v.add_argument("--force", action="store_true",
                   help="redo every video, and replace an existing <id>_2fps.mp4 this tool did not write")
    v.add_argument("--quiet", action="store_true", help="no progress bar")
    v.set_defaults(run=run_videos)
    p.set_defaults(run=lambda args: (p.print_help(), 2)[1])


def run_videos(args: argparse.Namespace) -> int:
    from molmo2_data.prepare.job import prepare_videos, summary_lines

    names = [n.strip() for n in args.datasets.split(",") if n.strip()] if args.datasets is not None else None
    if names == []:
        raise ConfigError(f"--datasets names no dataset: {args.datasets!r}")
    report = prepare_videos(args.root, names, engine=args.engine, address=args.address, fps=args.fps,
                            crf=args.crf, force=args.force, progress=not args.quiet)
    print("\n".join(summary_lines(report)))
    return EXIT_FAILED if report.failed else 0
