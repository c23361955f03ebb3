#!/usr/bin/env python
"""Seed-compatible wrapper: ``python scripts/download_molmo2_data.py --stage all --include-eval`` or
``... --stage pretraining --datasets pixmo-cap`` is ``molmo2-data download`` with the same flags."""

import argparse
import sys

from molmo2_data.cli import download_cmd
from molmo2_data.errors import Molmo2DataError


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="download_molmo2_data.py")
    download_cmd.add_parser(parser.add_subparsers(dest="verb"))
    args = parser.parse_args(["download", *argv])
    try:
        return int(args.run(args) or 0)
    except Molmo2DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted (run again to resume)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
