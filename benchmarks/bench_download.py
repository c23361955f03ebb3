#!/usr/bin/env python
"""Media download throughput: ``molmo2-data download`` vs img2dataset on the same loopback URLs.

    python benchmarks/bench_download.py                 # 10,000 JPEGs of 50-500 KB, both tools
    python benchmarks/bench_download.py --n 2000 --skip-img2dataset

A server process (asyncio, HTTP/1.1 keep-alive) on 127.0.0.1 serves N distinct JPEGs of 50-500 KB:
64 random-noise base images whose variants differ by a JPEG comment segment (valid JPEGs, distinct
bytes and sha256). Both tools get the same URL list and verify sha256 against it: ours through a
pixmo-ask-model-anything table (``image_sha256`` column, policy sha256), img2dataset with
``--compute_hash sha256 --verify_hash [sha256, sha256]``, no resize, no re-encoding. Each run is a fresh
process timed wall-clock (start-up included); afterwards every file ours wrote is re-hashed.

img2dataset runs from its own venv (``python -m venv /tmp/i2d && /tmp/i2d/bin/pip install img2dataset``);
pass ``--i2d /path/to/img2dataset`` if it lives elsewhere.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import multiprocessing as mp
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
N_BASES = 64


# -- data ----------------------------------------------------------------------------------------


def make_bases(seed: int = 0, lo_kb: int = 50, hi_kb: int = 500) -> list[bytes]:
    """JPEGs of random noise whose sizes spread over [lo_kb, hi_kb] KB."""
    rng = np.random.RandomState(seed)
    targets = np.linspace(lo_kb * 1024 * 1.02, hi_kb * 1024 * 0.96, N_BASES)
    out = []
    for t in targets:
        side = int((t / 0.6) ** 0.5)  # noise at quality 75 takes ~0.6 bytes per pixel; refined below
        for _ in range(6):
            arr = rng.randint(0, 256, (side, side, 3), dtype=np.uint8)
            buf = io.BytesIO()
            Image.fromarray(arr).save(buf, "JPEG", quality=75)
            b = buf.getvalue()
            if abs(len(b) - t) < 0.02 * t:
                break
            side = int(side * (t / len(b)) ** 0.5)
        assert lo_kb * 1024 <= len(b) + 64 <= hi_kb * 1024, len(b)
        out.append(b)
    return out


def variant(bases: list[bytes], i: int) -> bytes:
    """Base image i % 64 with a comment segment naming i: a valid, distinct JPEG."""
    base = bases[i % len(bases)]
    payload = f"molmo2-bench-{i:08d}".encode()
    return base[:2] + b"\xff\xfe" + (len(payload) + 2).to_bytes(2, "big") + payload + base[2:]


# -- server (own process; a thread per connection, zero-copy sends; HTTP/1.1 keep-alive) ----------


def _handle(conn: socket.socket, bases: list[bytes]) -> None:
    views = [memoryview(b) for b in bases]
    buf = b""
    try:
        while True:
            while b"\r\n\r\n" not in buf:
                data = conn.recv(65536)
                if not data:
                    return
                buf += data
            head, buf = buf.split(b"\r\n\r\n", 1)
            lines = head.split(b"\r\n")
            parts = lines[0].split(b" ")
            path, version = (parts[1], parts[2]) if len(parts) == 3 else (b"", b"HTTP/1.0")
            conn_hdr = b""
            for ln in lines[1:]:
                k, _, v = ln.partition(b":")
                if k.strip().lower() == b"connection":
                    conn_hdr = v.strip().lower()
            close = conn_hdr == b"close" or (version == b"HTTP/1.0" and conn_hdr != b"keep-alive")
            name = path.rsplit(b"/", 1)[-1]
            tail = b"\r\nConnection: close\r\n\r\n" if close else b"\r\n\r\n"
            if path.startswith(b"/img/") and name.endswith(b".jpg") and name[:-4].isdigit():
                i = int(name[:-4])
                base = views[i % len(views)]
                payload = f"molmo2-bench-{i:08d}".encode()
                prefix = b"\xff\xd8\xff\xfe" + (len(payload) + 2).to_bytes(2, "big") + payload
                n = len(prefix) + len(base) - 2
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: "
                             + str(n).encode() + tail + prefix)
                conn.sendall(base[2:])  # no copy of the image bytes
            else:
                conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0" + tail)
            if close:
                return
    except OSError:
        return
    finally:
        conn.close()


def _serve(pipe, seed: int) -> None:
    bases = make_bases(seed)
    srv = socket.create_server(("127.0.0.1", 0), backlog=2048)
    pipe.send(srv.getsockname()[1])
    while True:
        conn, _ = srv.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=_handle, args=(conn, bases), daemon=True).start()


# -- runs ----------------------------------------------------------------------------------------


def run_ours(urls: list[str], shas: list[str], work: Path, workers: int) -> dict:
    sys.path.insert(0, str(REPO / "src"))
    from molmo2_data import paths
    from molmo2_data.tables import write_table

    root = work / "ours"
    n = len(urls)
    write_table(pa.table({"image_url": urls, "image_sha256": shas, "question": ["q"] * n, "answer": ["a"] * n}),
                paths.table_path("pixmo-ask-model-anything", "default", "train", root))
    cmd = [sys.executable, str(REPO / "scripts" / "download_molmo2_data.py"), "--root", str(root), "--datasets",
           "pixmo-ask-model-anything", "--skip-tables", "--quiet", "--workers", str(workers), "--per-host", str(workers),
           "--allow-partial"]  # a failed URL is counted below (not verified), not a crash of the benchmark
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    secs = time.perf_counter() - t0
    store = paths.image_dir(root)
    want = {paths.url_key(u): s for u, s in zip(urls, shas, strict=True)}
    ok = nbytes = 0
    for key, digest in want.items():  # re-verify everything outside the timed run
        p = store / key
        if p.exists():
            data = p.read_bytes()
            ok += hashlib.sha256(data).hexdigest() == digest
            nbytes += len(data)
    shutil.rmtree(root)
    return {"tool": f"molmo2-data download (workers={workers})", "ok": ok, "seconds": secs, "bytes": nbytes}


def run_img2dataset(exe: str, urls: list[str], shas: list[str], work: Path, procs: int, threads: int) -> dict:
    src = work / "urls.parquet"
    pq.write_table(pa.table({"url": urls, "sha256": shas}), src)
    out = work / "i2d"
    cmd = [exe, "--url_list", str(src), "--input_format", "parquet", "--url_col", "url", "--output_folder", str(out),
           "--output_format", "files", "--resize_mode", "no", "--disable_all_reencoding", "True",
           "--compute_hash", "sha256", "--verify_hash", '["sha256","sha256"]', "--processes_count", str(procs),
           "--thread_count", str(threads), "--timeout", "30", "--retries", "0", "--number_sample_per_shard", "1000",
           "--enable_wandb", "False", "--distributor", "multiprocessing"]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env={**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1"})
    secs = time.perf_counter() - t0
    ok = 0
    for stats in out.glob("*_stats.json"):
        ok += json.loads(stats.read_text()).get("successes", 0)
    nbytes = sum(p.stat().st_size for p in out.rglob("*.jpg"))
    shutil.rmtree(out)
    return {"tool": f"img2dataset (processes={procs}, threads={threads})", "ok": ok, "seconds": secs, "bytes": nbytes}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10_000, help="number of URLs (default 10,000)")
    ap.add_argument("--workers", type=int, default=64, help="our requests in flight")
    ap.add_argument("--i2d", default="/tmp/i2d/bin/img2dataset", help="img2dataset executable (own venv)")
    ap.add_argument("--i2d-processes", type=int, default=2)
    ap.add_argument("--i2d-threads", type=int, default=32)
    ap.add_argument("--skip-img2dataset", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    bases = make_bases(args.seed)
    sizes = [len(variant(bases, i)) for i in range(len(bases))]
    parent, child = mp.Pipe()
    server = mp.Process(target=_serve, args=(child, args.seed), daemon=True)
    server.start()
    port = parent.recv()
    urls = [f"http://127.0.0.1:{port}/img/{i}.jpg" for i in range(args.n)]
    shas = [hashlib.sha256(variant(bases, i)).hexdigest() for i in range(args.n)]
    total_mb = sum(len(variant(bases, i)) for i in range(args.n)) / 1e6
    print(f"{args.n:,} JPEGs, {min(sizes) / 1024:.0f}-{max(sizes) / 1024:.0f} KB, {total_mb:,.0f} MB total, "
          f"server 127.0.0.1:{port}, {os.cpu_count()} CPUs")
    results = []
    with tempfile.TemporaryDirectory(prefix="bench_dl_") as tmp:
        work = Path(tmp)
        results.append(run_ours(urls, shas, work, args.workers))
        if not args.skip_img2dataset:
            if not Path(args.i2d).exists():
                print(f"img2dataset not found at {args.i2d}; see the module docstring", file=sys.stderr)
            else:
                results.append(run_img2dataset(args.i2d, urls, shas, work, args.i2d_processes, args.i2d_threads))
    server.terminate()
    print(f"\n| tool | verified / {args.n:,} | seconds | images/s | MB/s |\n|---|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['tool']} | {r['ok']:,} | {r['seconds']:.1f} | {r['ok'] / r['seconds']:,.0f} | "
              f"{r['bytes'] / 1e6 / r['seconds']:,.1f} |")
    if len(results) == 2 and results[1]["ok"]:
        ratio = (results[0]["ok"] / results[0]["seconds"]) / (results[1]["ok"] / results[1]["seconds"])
        print(f"\nimages/s ratio (ours / img2dataset): {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
