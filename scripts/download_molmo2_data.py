#!/usr/bin/env python
"""Seed-compatible wrapper of the seed's download command (e.g. --stage all --include-eval): ``python scripts/download_molmo2_data.py ARGS`` is
``molmo2-data download ARGS`` (the seed's flag spellings are accepted)."""

import sys

from molmo2_data.cli.main import main as cli_main


def main(argv: list[str]) -> int:
    return cli_main(["download", *argv])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
