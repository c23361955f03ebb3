"""``molmo2-data``: one command, a verb per job."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from molmo2_data.errors import ConfigError, Molmo2DataError

DESCRIPTION = """\
molmo2-data — the data system for training Molmo2-style vision-language models.

Data root: --root, else $MOLMO_DATA_DIR, else ~/.cache/molmo2-data.
Try it with no downloads:  molmo2-data sample && molmo2-data inspect
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="molmo2-data", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="verb", metavar="VERB")

    from molmo2_data.cli import (
        download_cmd,
        eval_cmd,
        inspect_cmd,
        loader_cmd,
        owa_cmd,
        prepare_cmd,
        sample_cmd,
    )

    sample_cmd.add_parser(sub)
    download_cmd.add_parser(sub)
    inspect_cmd.add_parser(sub)
    loader_cmd.add_parser(sub)
    owa_cmd.add_parser(sub)
    prepare_cmd.add_parser(sub)
    eval_cmd.add_parser(sub)
    return parser


def _version() -> str:
    from molmo2_data import __version__

    return f"molmo2-data {__version__}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except ConfigError as e:  # bad arguments, configs or states: a usage error
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Molmo2DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
