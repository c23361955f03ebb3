#!/usr/bin/env python
"""Seed-compatible wrapper: ``python scripts/dataset_visualize.py NAME OUT_DIR [--num-samples N] [--split S]``
writes ``OUT_DIR/NAME.html``, the gallery of ``molmo2-data inspect NAME --html`` (images with the
annotations drawn, the formatted conversations)."""

import sys
from pathlib import Path

from molmo2_data.cli.main import main as cli_main


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0].startswith("-") or argv[1].startswith("-"):
        print("usage: dataset_visualize.py NAME OUT_DIR [--num-samples N] [--split S]", file=sys.stderr)
        return 2
    name, out_dir, rest = argv[0], Path(argv[1]), argv[2:]
    out_dir.mkdir(parents=True, exist_ok=True)
    return cli_main(["inspect", name, "--html", str(out_dir / f"{name}.html"), *rest])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
