#!/usr/bin/env python
"""Seed-compatible wrapper: ``python scripts/download_data.py NAME|all [--n_proc N] [other download flags]``
is ``molmo2-data download --datasets NAME --workers N`` (``all``: ``--stage all``). NAME may be an
official name (``chart_qa``, ``pixmo_cap``) or a catalog name."""

import sys

from molmo2_data.cli.main import main as cli_main


def translate(argv: list[str]) -> list[str]:
    """The seed's arguments -> ``molmo2-data download`` arguments."""
    if not argv or argv[0].startswith("-"):
        return ["download", *argv]
    target, rest = argv[0], list(argv[1:])
    out = ["download", *(["--stage", "all"] if target == "all" else ["--datasets", target])]
    while rest:
        arg = rest.pop(0)
        if arg == "--n_proc":
            out += ["--workers", rest.pop(0)] if rest else ["--workers"]
        elif arg.startswith("--n_proc="):
            out.append("--workers=" + arg.split("=", 1)[1])
        else:
            out.append(arg)
    return out


def main(argv: list[str]) -> int:
    return cli_main(translate(argv))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
