#!/usr/bin/env python
"""Download scale-out: the same job (N sha256-verified JPEGs of 50-500 KB from a loopback server) on the
local engine (one process = one core; two processes) and on a local Ray cluster of 1, 2 and 3 nodes (one
CPU each), in one run. Prints images/s and MB/s, and the Ray engine's overhead against the local path
on one core.

    python benchmarks/bench_scale.py [--n 4000] [--task-size 500]

The server is bench_download.py's (its own process, HTTP/1.1 keep-alive, zero-copy sends). On a 2-core
machine the server, the driver and the nodes share the cores, so the 3-node figure shows the engine's
behaviour, not more hardware; docs/scale.md turns the per-core figures into a cluster plan.
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing as mp
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_download import _serve, make_bases, variant  # noqa: E402

from molmo2_data.download.fetch import FetchOptions, MediaItem, fetch_media  # noqa: E402
from molmo2_data.download.ray_fetch import fetch_media_ray  # noqa: E402
from molmo2_data.download.verify import DECODE, SHA256  # noqa: E402


def verified(items: list[MediaItem], store: Path) -> tuple[int, int]:
    ok = nbytes = 0
    for it in items:
        p = store / it.key
        if p.exists():
            data = p.read_bytes()
            ok += hashlib.sha256(data).hexdigest() == it.expected[0]
            nbytes += len(data)
    return ok, nbytes


def run_local(items: list[MediaItem], work: Path, procs: int) -> dict:
    store = work / f"local{procs}"
    opts = FetchOptions(workers=64, per_host=64, procs=procs, min_items_per_proc=1)
    t0 = time.perf_counter()
    fetch_media(items, store, work / f"local{procs}.jsonl", opts)
    secs = time.perf_counter() - t0
    ok, nbytes = verified(items, store)
    shutil.rmtree(store)
    return {"engine": f"local, {procs} process{'es' if procs > 1 else ''}", "cores": procs, "ok": ok,
            "seconds": secs, "bytes": nbytes}


def run_ray(items: list[MediaItem], work: Path, nodes: int, task_size: int) -> dict:
    import ray
    from ray.cluster_utils import Cluster

    args = {"num_cpus": 1, "object_store_memory": 100 * 2**20}
    cluster = Cluster(initialize_head=True, head_node_args={**args, "include_dashboard": False})
    for _ in range(nodes - 1):
        cluster.add_node(**args)
    cluster.wait_for_nodes()
    root = work / f"ray{nodes}"
    store = root / "images"
    opts = FetchOptions(workers=64, per_host=64)
    try:
        ray.init(address=cluster.address, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
        t0 = time.perf_counter()
        fetch_media_ray(items, store, root, "bench", opts, {}, task_size=task_size)
        secs = time.perf_counter() - t0
    finally:
        ray.shutdown()
        cluster.shutdown()
    ok, nbytes = verified(items, store)
    shutil.rmtree(root)
    return {"engine": f"ray, {nodes} node{'s' if nodes > 1 else ''} x 1 CPU", "cores": nodes, "ok": ok,
            "seconds": secs, "bytes": nbytes}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=4000)
    ap.add_argument("--task-size", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--policy", choices=["sha256", "decode"], default="sha256",
                    help="verification: sha256 against the table's hash, or a full decode (sets without a hash)")
    ap.add_argument("--local-only", action="store_true", help="skip the Ray runs")
    args = ap.parse_args()
    bases = make_bases(args.seed)
    parent, child = mp.Pipe()
    server = mp.Process(target=_serve, args=(child, args.seed), daemon=True)
    server.start()
    port = parent.recv()
    items = [MediaItem(f"http://127.0.0.1:{port}/img/{i}.jpg", (hashlib.sha256(variant(bases, i)).hexdigest(),),
                       SHA256 if args.policy == "sha256" else DECODE) for i in range(args.n)]
    mb = sum(len(variant(bases, i)) for i in range(args.n)) / 1e6
    print(f"{args.n:,} JPEGs ({mb:,.0f} MB), {args.policy}-verified, loopback server, Ray tasks of {args.task_size} URLs")
    results = []
    with tempfile.TemporaryDirectory(prefix="bench_scale_") as tmp:
        work = Path(tmp)
        results.append(run_local(items, work, 1))
        results.append(run_local(items, work, 2))
        for nodes in () if args.local_only else (1, 2, 3):
            results.append(run_ray(items, work, nodes, args.task_size))
    server.terminate()
    print(f"\n| engine | verified / {args.n:,} | seconds | images/s | MB/s | images/s per engine CPU |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in results:
        rate = r["ok"] / r["seconds"]
        print(f"| {r['engine']} | {r['ok']:,} | {r['seconds']:.1f} | {rate:,.0f} | "
              f"{r['bytes'] / 1e6 / r['seconds']:,.1f} | {rate / r['cores']:,.0f} |")
    if args.local_only:
        return 0
    local1 = results[0]["ok"] / results[0]["seconds"]
    ray1 = results[2]["ok"] / results[2]["seconds"]
    print(f"\nRay engine on one CPU vs the local path on one core: {ray1 / local1:.2f}x "
          "(cluster start excluded; the driver's planning, task start-up and the gate included)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
