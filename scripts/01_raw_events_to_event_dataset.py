#!/usr/bin/env python
"""Seed-compatible wrapper of OWA stage 1 (.mcap files -> event dataset): ``python scripts/01_raw_events_to_event_dataset.py ARGS`` is
``molmo2-data owa events ARGS`` (the seed's flag spellings are accepted)."""

import sys

from molmo2_data.cli.main import main as cli_main


def main(argv: list[str]) -> int:
    """Exit status as an int: 0 ok, 2 bad arguments or output directory (argparse's exit is caught)."""
    try:
        return cli_main(["owa", "events", *argv])
    except SystemExit as e:  # argparse rejects a flag value: same status, returned
        return e.code if isinstance(e.code, int) else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
