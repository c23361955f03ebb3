"""Proof that loader runs exit cleanly (issue #12): N consecutive runs of

* ``molmo2-data loader --stage sft --steps 3 --num-workers 2`` and
* the seed snippet ``get_dataloader(stage="pretraining", batch_size=32, num_workers=4)``, ``next(iter(...))``,
  then interpreter exit without closing the loader,

counting how many exited with status 0 (before the fix: status 134, "terminate called without an
active exception", in about 1 of 4 CLI runs and 2 of 2 seed-snippet runs). Not part of the test run:
``python scripts/loader_exit_runs.py [-n 50] [--root DIR]`` (sample data is written to a temporary
root when none is given).
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import tempfile
import time

SEED_SNIPPET = """
from molmo2_data.loaders import get_dataloader
loader = get_dataloader(stage="pretraining", batch_size=32, num_workers=4)
batch = next(iter(loader))
print("batch", tuple(batch["input_ids"].shape))
"""


def _runs(name: str, cmd: list[str], n: int, env: dict[str, str], timeout: float) -> collections.Counter[str]:
    outcomes: collections.Counter[str] = collections.Counter()
    t0 = time.monotonic()
    for i in range(n):
        try:
            run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
            key = f"exit {run.returncode}" + (" (terminate called)" if "terminate called" in run.stderr else "")
            if run.returncode != 0:
                print(f"  {name} run {i + 1}: {key}: {run.stderr.strip().splitlines()[-1:]} ", file=sys.stderr)
        except subprocess.TimeoutExpired:
            key = f"timeout after {timeout:.0f} s"
        outcomes[key] += 1
        print(f"\r{name}: {i + 1}/{n} runs, {outcomes['exit 0']} exited 0", end="", flush=True)
    print(f"\r{name}: {outcomes['exit 0']} of {n} runs exited 0 ({dict(outcomes)}; "
          f"{time.monotonic() - t0:.0f} s)")
    return outcomes


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-n", "--runs", type=int, default=50, help="runs of each kind (default 50)")
    p.add_argument("--root", default=None, help="data root (default: sample data in a temporary folder)")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per run before it counts as hung")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="loader-exit-runs-") as tmp:
        root = args.root
        if root is None:
            from molmo2_data.sample import write_sample

            root = tmp
            write_sample(root, seed=0, progress=False)
        env = {**os.environ, "MOLMO_DATA_DIR": str(root), "PYTHONWARNINGS": "ignore"}
        cli = [sys.executable, "-m", "molmo2_data.cli.main", "loader", "--stage", "sft", "--steps", "3",
               "--num-workers", "2", "--root", str(root)]
        a = _runs("molmo2-data loader --stage sft --steps 3 --num-workers 2", cli, args.runs, env, args.timeout)
        b = _runs("seed snippet (pretraining, batch 32, 4 workers, no close)", [sys.executable, "-c", SEED_SNIPPET],
                  args.runs, env, args.timeout)
    return 0 if a["exit 0"] == b["exit 0"] == args.runs else 1


if __name__ == "__main__":
    sys.exit(main())
