#!/usr/bin/env python
"""Slow proof for issue #12 (too long for the test suite): N damaged copies of the real OWA fixtures
(truncations, bit flips, overwritten ranges, random bytes) through the stage-1 reader. Every outcome
must be events, a partial read with a known reason, or a RecordingError with a known reason; anything
else, or a read taking longer than --time-limit seconds, is printed and makes the exit status 1.

    python scripts/owa_mcap_fuzz.py --runs 5000 [--fixtures ../shared/fixtures/owa] [--seed 0]
"""

from __future__ import annotations

import argparse
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from molmo2_data.owa.mcap_errors import MCAP_MAGIC, REASONS
from molmo2_data.owa.reader import RecordingError, read_recording

KNOWN = set(REASONS) | {"index_unreadable"}


def mutate(rnd: random.Random, fixtures: list[bytes]) -> tuple[str, bytes]:
    kind = rnd.choice(["random", "magic+random", "truncate", "flip", "overwrite"])
    if kind == "random":
        return kind, rnd.randbytes(rnd.randrange(600))
    if kind == "magic+random":
        return kind, MCAP_MAGIC + rnd.randbytes(rnd.randrange(600))
    data = bytearray(rnd.choice(fixtures))
    if kind == "truncate":
        return kind, bytes(data[: rnd.randrange(len(data))])
    if kind == "flip":
        for _ in range(rnd.randrange(1, 9)):
            data[rnd.randrange(len(data))] ^= 1 << rnd.randrange(8)
        return kind, bytes(data)
    start = rnd.randrange(len(data))
    patch = rnd.randbytes(rnd.randrange(1, 65))
    data[start:start + len(patch)] = patch
    return kind, bytes(data)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--time-limit", type=int, default=20)
    ap.add_argument("--fixtures", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "owa")
    args = ap.parse_args(argv)
    fixtures = [p.read_bytes() for p in sorted(args.fixtures.glob("*.mcap"))]
    if not fixtures:
        print(f"no *.mcap in {args.fixtures}", file=sys.stderr)
        return 2

    def hang(signum, frame):  # noqa: ARG001
        raise TimeoutError

    signal.signal(signal.SIGALRM, hang)
    rnd = random.Random(args.seed)
    outcomes: Counter[str] = Counter()
    bad = 0
    slowest = 0.0
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "x.mcap"
        for i in range(args.runs):
            kind, blob = mutate(rnd, fixtures)
            path.write_bytes(blob)
            t = time.perf_counter()
            signal.alarm(args.time_limit)
            try:
                rec = read_recording(path)
                ok = rec.error is None or rec.error_reason in KNOWN
                outcomes[f"{kind}: " + ("events" if rec.error is None else f"partial/{rec.error_reason}")] += 1
            except RecordingError as e:
                ok = e.reason in KNOWN
                outcomes[f"{kind}: error/{e.reason}"] += 1
            except BaseException as e:  # noqa: BLE001 - exactly what this script looks for
                ok = False
                outcomes[f"{kind}: ESCAPED {type(e).__name__}"] += 1
                print(f"run {i} ({kind}): {type(e).__name__}: {e}"[:300])
            finally:
                signal.alarm(0)
            slowest = max(slowest, time.perf_counter() - t)
            bad += not ok
    for k, v in sorted(outcomes.items()):
        print(f"{v:6d}  {k}")
    print(f"{args.runs} runs, {bad} bad outcomes, slowest read {slowest * 1000:.1f} ms")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
