"""Slow proofs for issue #12 (media decode, sample writer), too long for the test suite.

    python scripts/media_sample_stress.py sample --trials 4     # concurrent `molmo2-data sample` runs
    python scripts/media_sample_stress.py fuzz --iterations 2000  # mutated media through every reader

``sample``: each trial starts two full ``molmo2-data sample`` processes into one fresh directory at the
same moment; both must exit 0 and the directory must hold exactly the files (byte for byte) of a
single reference run. Before the fix one of the two crashed in 3 of 4 trials (one temp name for all).
``fuzz``: random truncations / bit flips / zeroed runs / spliced bytes of real JPEG, PNG, MP4 and MKV
files through decode_image, image_size, decode_image_draft, probe_video and read_frames_at (plan and
sequential); any outcome other than a result or a MediaError is printed and counted. Exit status 1 on
any failure.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _sample_cmd(out: Path, datasets: str | None) -> list[str]:
    cmd = [sys.executable, "-c", "from molmo2_data.cli.main import main; raise SystemExit(main())",
           "sample", "--out", str(out), "--quiet"]
    return cmd + (["--datasets", datasets] if datasets else [])


def stress_sample(trials: int, datasets: str | None) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        ref = Path(tmp) / "reference"
        subprocess.run(_sample_cmd(ref, datasets), check=True, capture_output=True)
        want = _tree(ref)
        failures = 0
        for trial in range(trials):
            out = Path(tmp) / f"trial{trial}"
            t0 = time.perf_counter()
            procs = [subprocess.Popen(_sample_cmd(out, datasets), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                      text=True) for _ in range(2)]
            codes = [p.wait() for p in procs]
            errs = [p.stderr.read().strip().splitlines()[-1:] for p in procs]
            got = _tree(out)
            diff = sorted(set(got) ^ set(want)) + [k for k in got if k in want and got[k] != want[k]]
            ok = codes == [0, 0] and not diff
            failures += not ok
            print(f"trial {trial}: exit {codes}, {len(got)} files, {len(diff)} differing "
                  f"({time.perf_counter() - t0:.1f} s){'' if ok else f' FAIL {errs} {diff[:3]}'}", flush=True)
        print(f"{trials - failures}/{trials} trials clean")
        return int(failures > 0)


def _video(path: Path) -> bytes:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264" if path.suffix == ".mp4" else "mpeg4", rate=5)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for k in range(8):
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), 25 * k, np.uint8), format="rgb24")
            frame.pts, frame.time_base = k, Fraction(1, 5)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path.read_bytes()


def _mutate(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    kinds = rng.sample(["truncate", "flip", "splice", "zero"], rng.randint(1, 4))
    if "flip" in kinds:
        for _ in range(rng.randint(1, 8)):
            out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    if "zero" in kinds:
        a, n = rng.randrange(len(out)), rng.randint(1, 256)
        out[a:a + n] = bytes(len(out[a:a + n]))
    if "splice" in kinds:
        a = rng.randint(0, len(out))
        out[a:a] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
    if "truncate" in kinds:
        out = out[: rng.randint(0, len(out))]
    return bytes(out)


def fuzz(iterations: int, seed: int) -> int:
    from molmo2_data.errors import MediaError
    from molmo2_data.media import limits
    from molmo2_data.media.image import decode_image, decode_image_draft, encode_jpeg, encode_png, image_size
    from molmo2_data.media.video import probe_video, read_frames_at

    limits.set_max_pixels(2_000_000)
    rng = random.Random(seed)
    bad: Counter = Counter()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        img = np.random.default_rng(seed).integers(0, 255, (24, 32, 3), dtype=np.uint8)
        seeds = {"jpeg": encode_jpeg(img), "png": encode_png(img), "mp4": _video(d / "s.mp4"),
                 "mkv": _video(d / "s.mkv")}
        for _ in range(iterations):
            for fmt, data in seeds.items():
                p = d / f"case.{fmt}"
                p.write_bytes(_mutate(rng, data))
                times = [0.0, 0.7, 1.4]
                calls = ([(probe_video, (p,), {}), (read_frames_at, (p, times), {"timeout_s": 5}),
                          (read_frames_at, (p, times), {"mode": "sequential", "timeout_s": 5})]
                         if fmt in ("mp4", "mkv") else
                         [(decode_image, (p,), {}), (image_size, (p,), {}), (decode_image_draft, (p, (8, 8)), {})])
                for k, (fn, args, kwargs) in enumerate(calls):
                    try:
                        fn(*args, **kwargs)
                    except MediaError:
                        pass
                    except Exception as e:  # noqa: BLE001 - the finding we are looking for
                        key = (fmt, k, type(e).__name__, str(e)[:80])
                        if not bad[key]:
                            print("unexpected:", key, flush=True)
                        bad[key] += 1
    print(f"{iterations * 4} mutated files, {sum(bad.values())} unexpected outcomes")
    return int(bool(bad))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    s = sub.add_parser("sample", help="concurrent sample runs into one directory")
    s.add_argument("--trials", type=int, default=4)
    s.add_argument("--datasets", default=None, help="comma-separated subset (default: all)")
    f = sub.add_parser("fuzz", help="mutated media through every reader")
    f.add_argument("--iterations", type=int, default=2000)
    f.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    return stress_sample(args.trials, args.datasets) if args.what == "sample" else fuzz(args.iterations, args.seed)


if __name__ == "__main__":
    raise SystemExit(main())
