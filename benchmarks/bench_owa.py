"""OWA pipeline throughput, measured against the raw ``mcap`` reader in the same run.

Stage 1: messages/s of (a) the raw ``mcap`` iteration (``make_reader`` + ``iter_messages(log_time_order=True)``,
touching every payload; also shown in file order, ``log_time_order=False``), (b) stage 1 per file (read + classify + JSON check + rate limit) and (c) the whole
stage 1 including the Hugging Face dataset, on the same files: the three real fixtures and a synthetic
recording (``--synthetic N`` messages). Target (issue 7): (b) >= 50% of (a).

Stage 4: frames/s of ``VLMDatasetBuilder`` over the fixtures' MLLM dataset with the cache cold (new builder,
every distinct frame decoded) and warm (second pass, served from the LRU cache).

    python benchmarks/bench_owa.py [--fixtures ../shared/fixtures/owa] [--synthetic 50000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def write_synthetic(path: Path, n: int) -> None:
    """A 0.5-style recording: 60% mouse moves (1 ms apart), 30% keyboard, 10% screen messages."""
    from mcap.writer import Writer

    with open(path, "wb") as f:
        w = Writer(f)
        w.start(profile="owa", library="mcap-owa-support 0.5.1; mcap 1.3.0")
        ids = {}
        for topic, schema in (("mouse", "desktop/MouseEvent"), ("keyboard", "desktop/KeyboardEvent"),
                              ("screen", "desktop/ScreenCaptured")):
            sid = w.register_schema(name=schema, encoding="jsonschema", data=b"{}")
            ids[topic] = w.register_channel(topic=topic, message_encoding="json", schema_id=sid)
        t0 = 1_700_000_000_000_000_000
        for i in range(n):
            t = t0 + i * 1_000_000
            k = i % 10
            if k < 6:
                topic, msg = "mouse", {"event_type": "move", "x": i % 1920, "y": i % 1080}
            elif k < 9:
                topic, msg = "keyboard", {"event_type": "press" if k == 6 else "release", "vk": 65 + i % 26}
            else:
                topic, msg = "screen", {"utc_ns": t, "source_shape": [64, 48], "shape": [64, 48],
                                        "media_ref": {"uri": "synthetic.mkv", "pts_ns": i * 1_000_000}}
            w.add_message(ids[topic], log_time=t, publish_time=t, data=json.dumps(msg).encode())
        w.finish()


def raw_iteration(files: list[Path], log_time_order: bool = True) -> int:
    from mcap.reader import make_reader

    n = 0
    for p in files:
        with open(p, "rb") as f:
            for _schema, _channel, message in make_reader(f).iter_messages(log_time_order=log_time_order):
                n += len(message.data) >= 0
    return n


def raw_file_order(files: list[Path]) -> int:
    return raw_iteration(files, log_time_order=False)


def stage1_files(files: list[Path]) -> int:
    from molmo2_data.owa.events import DEFAULT_RATES, process_file

    return sum(process_file(str(p), DEFAULT_RATES).stats["messages"] for p in files)


def best_rate(fn, files: list[Path], repeat: int) -> tuple[float, int]:
    best = float("inf")
    n = 0
    for _ in range(repeat):
        t = time.perf_counter()
        n = fn(files)
        best = min(best, time.perf_counter() - t)
    return n / best, n


def bench_stage1(folder: Path, repeat: int) -> list[tuple[str, float, float, float, float]]:
    from molmo2_data.owa.events import build_event_dataset

    files = sorted(folder.glob("*.mcap"))
    raw, n = best_rate(raw_iteration, files, repeat)
    raw_unordered, _ = best_rate(raw_file_order, files, repeat)
    ours, _ = best_rate(stage1_files, files, repeat)
    full = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        build_event_dataset(folder, test_percent=0.5)
        full = min(full, time.perf_counter() - t)
    return [(f"{folder.name} ({len(files)} files, {n} msgs)", raw, raw_unordered, ours, n / full)]


def bench_stage4(fixtures: Path, work: Path) -> list[tuple[str, float, int, dict]]:
    from molmo2_data.owa import (
        VLMDatasetBuilder,
        build_binned_dataset,
        build_event_dataset,
        build_mllm_dataset,
    )

    build_event_dataset(fixtures, work / "ev", test_percent=0.34)
    build_binned_dataset(work / "ev", work / "bins")
    build_mllm_dataset(work / "bins", work / "mllm")
    rows = []
    builder = VLMDatasetBuilder(str(work / "mllm"), image_format="numpy", split="train")
    for label in ("cold", "warm"):
        t = time.perf_counter()
        frames = sum(len(builder[i]["images"]) for i in range(len(builder)))
        dt = time.perf_counter() - t
        rows.append((label, frames / dt, frames, dict(builder.get_cache_stats())))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fixtures", default=str(REPO.parent / "shared" / "fixtures" / "owa"))
    ap.add_argument("--synthetic", type=int, default=50_000, help="messages in the synthetic recording")
    ap.add_argument("--repeat", type=int, default=3, help="runs per measurement (best is reported)")
    args = ap.parse_args()
    fixtures = Path(args.fixtures)
    work = Path(tempfile.mkdtemp(prefix="bench_owa_"))
    try:
        fix = work / "fixtures"
        fix.mkdir()
        for p in fixtures.glob("*.mcap"):
            shutil.copy(p, fix / p.name)
            shutil.copy(p.with_suffix(".mkv"), fix / p.with_suffix(".mkv").name)
        syn = work / "synthetic"
        syn.mkdir()
        write_synthetic(syn / "synthetic.mcap", args.synthetic)
        print(f"Stage 1: messages/s (best of {args.repeat})")
        print(f"{'files':<34} {'raw (time order)':>16} {'raw (file order)':>16} {'stage 1':>10} {'ratio':>6} "
              f"{'stage1+HF':>10}")
        for label, raw, raw_fo, ours, full in bench_stage1(fix, args.repeat) + bench_stage1(syn, args.repeat):
            print(f"{label:<34} {raw:>16,.0f} {raw_fo:>16,.0f} {ours:>10,.0f} {ours / raw:>6.0%} {full:>10,.0f}")
        print("ratio = stage 1 / raw mcap iteration in log-time order (what stage 1 must deliver)")
        print("\nStage 4: VLMDatasetBuilder frames/s on the fixtures' train split (numpy, cache 1000)")
        print(f"{'cache':<6} {'frames/s':>10} {'frames':>7} {'hits':>6} {'misses':>7} {'decoded':>8}")
        for label, rate, frames, s in bench_stage4(fixtures, work):
            print(f"{label:<6} {rate:>10,.0f} {frames:>7} {s['hits']:>6} {s['misses']:>7} {s['frames_decoded']:>8}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
