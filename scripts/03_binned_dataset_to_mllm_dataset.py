#!/usr/bin/env python
"""Seed-compatible wrapper of OWA stage 3 (binned dataset -> MLLM dataset):
``python scripts/03_binned_dataset_to_mllm_dataset.py ARGS`` is ``molmo2-data owa sequences ARGS`` (seed flag spellings accepted)."""

import argparse
import sys

from molmo2_data.cli import owa_cmd
from molmo2_data.errors import Molmo2DataError


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="03_binned_dataset_to_mllm_dataset.py")
    owa_cmd.add_parser(parser.add_subparsers(dest="verb"))
    args = parser.parse_args(["owa", "sequences", *argv])
    try:
        return int(args.run(args) or 0)
    except Molmo2DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
