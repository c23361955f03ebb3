"""OWA pipeline throughput, measured against the raw ``mcap`` reader in the same run.

Stage 1: messages/s of (a) the raw ``mcap`` iteration (``make_reader`` + ``iter_messages(log_time_order=True)``,
touching every payload; also shown in file order, ``log_time_order=False``), (b) stage 1 per file (read + classify + JSON check + rate limit) and (c) the whole
stage 1 including the Hugging Face dataset, on the same files: the three real fixtures and a synthetic
recording (``--synthetic N`` messages). Target (issue 7): (b) >= 50% of (a).

Stage 4: frames/s of ``VLMDatasetBuilder`` over the fixtures' MLLM dataset with the cache cold (new builder,
every distinct frame decoded) and warm (second pass, served from the LRU cache).

Engines (issue 16): one stage-1 job over ``--engine-copies`` copies of each fixture recording, once per
engine: ``local`` (one core: recordings/s per core), ``ray`` as the CLI runs it (a local Ray instance
started and stopped by the job; or the cluster at ``--ray-address``), and ``ray`` on an instance that is
already up with warm workers (the job run a second time in the same session). The difference to the
local time is Ray's overhead on one machine; the outputs are checked to be byte-identical.

    python benchmarks/bench_owa.py [--fixtures ../shared/fixtures/owa] [--synthetic 50000] [--repeat 3]
                                   [--engine-copies 16] [--ray-address ADDR] [--no-ray]
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


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def bench_engines(fixtures: Path, work: Path, copies: int, address: str | None,
                  with_ray: bool) -> tuple[int, int, list[tuple[str, float, int]]]:
    """Stage 1 over ``copies`` copies of each fixture on each engine, one run each: (recordings, messages,
    [(label, seconds, cpus)])."""
    import os

    from molmo2_data.owa.events import build_event_dataset

    recs = work / "engine_recs"
    recs.mkdir()
    for p in sorted(fixtures.glob("*.mcap")):
        shutil.copy(p.with_suffix(".mkv"), recs / p.with_suffix(".mkv").name)  # screen payloads name it
        for k in range(copies):
            shutil.copy(p, recs / f"{p.stem}_{k:03d}.mcap")
    n = len(list(recs.glob("*.mcap")))

    def job(engine: str, out: str, **kw) -> float:
        t = time.perf_counter()
        dd = build_event_dataset(recs, work / out, test_percent=0.2, engine=engine, **kw)
        job.messages = sum(st["messages"] for st in dd.manifest["files"].values())
        return time.perf_counter() - t

    rows = [("local (1 core)", job("local", "ev_local"), 1)]
    if with_ray:
        import ray

        from molmo2_data.engine import ray_session

        rows.append(("ray, instance started by the job", job("ray", "ev_ray_cold", address=address), 0))
        with ray_session(address):
            job("ray", "ev_ray_warmup")  # starts the workers of this session
            rows.append(("ray, instance up, workers warm", job("ray", "ev_ray_warm"), 0))
            cpus = int(ray.cluster_resources().get("CPU", os.cpu_count() or 1))
        rows = [(label, sec, c or cpus) for label, sec, c in rows]
        local = _tree(work / "ev_local")
        for out in ("ev_ray_cold", "ev_ray_warm"):
            if _tree(work / out) != local:
                raise SystemExit(f"engine outputs differ: {out} vs ev_local")
    return n, job.messages, rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fixtures", default=str(REPO.parent / "shared" / "fixtures" / "owa"))
    ap.add_argument("--synthetic", type=int, default=50_000, help="messages in the synthetic recording")
    ap.add_argument("--repeat", type=int, default=3, help="runs per measurement (best is reported)")
    ap.add_argument("--engine-copies", type=int, default=16, help="copies of each fixture in the engine job")
    ap.add_argument("--ray-address", default=None, help="Ray cluster for the engine job (default: a local one)")
    ap.add_argument("--no-ray", action="store_true", help="engine job on the local engine only")
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
        n, msgs, rows = bench_engines(fixtures, work, args.engine_copies, args.ray_address, not args.no_ray)
        print(f"\nStage 1 job on the task engines: {n} recordings ({msgs:,} msgs), one run each")
        print(f"{'engine':<34} {'seconds':>8} {'recordings/s':>13} {'CPUs':>5} {'per CPU':>8} {'vs local':>9}")
        local = rows[0][1]
        for label, sec, cpus in rows:
            print(f"{label:<34} {sec:>8.2f} {n / sec:>13,.1f} {cpus:>5} {n / sec / cpus:>8,.1f} {sec - local:>+8.2f}s")
        if len(rows) > 1:
            _, warm, cpus = rows[-1]
            print(f"Ray cost per task on warm workers: {(warm * cpus - local) / n * 1000:.1f} CPU-ms "
                  f"((warm seconds x CPUs - local seconds) / recordings); outputs of every engine byte-identical")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
