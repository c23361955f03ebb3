#!/usr/bin/env python
"""Seed-compatible wrapper: ``python scripts/inspect_molmo2_data.py [NAME] [--num-samples N]``
is ``molmo2-data inspect [NAME] [--num-samples N]``."""

import sys

from molmo2_data.cli.main import main as cli_main


def main(argv: list[str]) -> int:
    return cli_main(["inspect", *argv])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
