#!/usr/bin/env python
"""Seed-compatible wrapper of OWA stage 1 (.mcap files -> event dataset):
``python scripts/01_raw_events_to_event_dataset.py ARGS`` is ``molmo2-data owa events ARGS`` (seed flag spellings accepted)."""

import argparse
import sys

from molmo2_data.cli import owa_cmd
from molmo2_data.errors import Molmo2DataError


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="01_raw_events_to_event_dataset.py")
    owa_cmd.add_parser(parser.add_subparsers(dest="verb"))
    args = parser.parse_args(["owa", "events", *argv])
    try:
        return int(args.run(args) or 0)
    except Molmo2DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
