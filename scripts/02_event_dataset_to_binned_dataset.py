#!/usr/bin/env python
"""Seed-compatible wrapper of OWA stage 2 (event dataset -> binned dataset): ``python scripts/02_event_dataset_to_binned_dataset.py ARGS`` is
``molmo2-data owa bin ARGS`` (the seed's flag spellings are accepted)."""

import sys

from molmo2_data.cli.main import main as cli_main


def main(argv: list[str]) -> int:
    """Exit status as an int: 0 ok, 2 bad arguments or output directory (argparse's exit is caught)."""
    try:
        return cli_main(["owa", "bin", *argv])
    except SystemExit as e:  # argparse rejects a flag value: same status, returned
        return e.code if isinstance(e.code, int) else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
