"""Download against a real HTTP server on 127.0.0.1 that injects faults, and a local Hub emulation.

No mocks of the network layer: the fetcher talks HTTP to a threaded ``http.server``; the table
download runs huggingface_hub's own code against ``HF_ENDPOINT`` pointed at the same server.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from molmo2_data import paths
from molmo2_data.download.fetch import FetchOptions, MediaItem, fetch_media
from molmo2_data.download.manifest import FAILED, OK, TRANSIENT, load_records, manifest_path
from molmo2_data.download.urlmap import UrlMap
from molmo2_data.download.verify import DECODE, SHA256
from molmo2_data.tables import read_table, write_table

REPO_ROOT = Path(__file__).resolve().parents[1]
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def jpeg(seed: int, size: tuple[int, int] = (48, 40)) -> bytes:
    rng = np.random.RandomState(seed)
    arr = rng.randint(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=80)
    return buf.getvalue()


def png(size: tuple[int, int], mode: str = "1") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size).save(buf, "PNG")
    return buf.getvalue()


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


class Server:
    """Threaded HTTP server: ``/f/<kind>/<name>`` fault routes, ``/www/<path>`` static files,
    ``/slow/<name>`` images with a delay, ``/hub/...`` a minimal Hugging Face Hub."""

    def __init__(self) -> None:
        self.images: dict[str, bytes] = {}
        self.www: Path | None = None
        self.videos: Path | None = None
        self.hub: dict[str, dict[str, bytes]] = {}  # repo -> {path: bytes}
        self.log: list[tuple[float, str, str]] = []  # (time, method, path)
        self.counts: Counter[str] = Counter()
        self.slow_delay = 0.0
        self.active = self.max_active = 0  # /slow/ requests being served now / at most at once
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_HEAD(self) -> None:
                server.handle(self, head=True)

            def do_GET(self) -> None:
                server.handle(self, head=False)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.handle_error = lambda *a: None  # clients hanging up early (too large, timeouts) are expected
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def requests_for(self, path: str) -> int:
        with self.lock:
            return sum(1 for _, _, p in self.log if p == path)

    # -- routing ---------------------------------------------------------------------------------

    def handle(self, h: BaseHTTPRequestHandler, head: bool) -> None:
        path = urlsplit(h.path).path
        with self.lock:
            self.log.append((time.monotonic(), h.command, path))
            self.counts[path] += 1
            n = self.counts[path]
        if path.startswith("/hub/"):
            return self.hub_route(h, path[len("/hub"):], head)
        if path.startswith("/www/") and self.www is not None:
            f = self.www / path[len("/www/"):]
            return self.send(h, f.read_bytes()) if f.is_file() else self.send(h, b"", 404)
        if path.startswith("/vid/") and self.videos is not None:
            f = self.videos / path[len("/vid/"):]
            return self.send(h, f.read_bytes(), headers={"Content-Type": "video/mp4"}) if f.is_file() else \
                self.send(h, b"", 404)
        if path.startswith("/slow/"):
            data = self.images[path.rsplit("/", 1)[1]]
            with self.lock:
                self.active += 1
                self.max_active = max(self.max_active, self.active)
            try:
                time.sleep(self.slow_delay)
                return self.send(h, data, chunks=2, pause=self.slow_delay)
            finally:
                with self.lock:
                    self.active -= 1
        parts = path.split("/")  # ['', 'f', kind, name]
        if len(parts) != 4 or parts[1] != "f":
            return self.send(h, b"", 404)
        kind, name = parts[2], parts[3]
        data = self.images.get(name, b"")
        if kind == "ok":
            return self.send(h, data)
        if kind in ("404", "410"):
            return self.send(h, b"gone", int(kind))
        if kind == "429":
            return self.send(h, b"slow down", 429, {"Retry-After": "1"}) if n == 1 else self.send(h, data)
        if kind == "500":
            return self.send(h, b"oops", 500) if n <= 2 else self.send(h, data)
        if kind == "503":
            return self.send(h, b"down", 503)
        if kind == "stall":
            h.send_response(200)
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.flush()
            time.sleep(2.0)
            return None
        if kind == "slowbody":
            return self.send(h, data, chunks=5, pause=0.05)
        if kind == "trunc":
            h.send_response(200)
            h.send_header("Content-Type", "image/jpeg")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data[: len(data) // 2])
            h.wfile.flush()
            h.close_connection = True
            return None
        if kind == "wrong":
            return self.send(h, self.images["other"])
        if kind == "html":
            return self.send(h, b"<!DOCTYPE html><html><body>Not found</body></html>", 200,
                             {"Content-Type": "text/html"})
        if kind == "redirect":
            return self.send(h, b"", 302, {"Location": f"/f/ok/{name}"})
        if kind == "loop":
            return self.send(h, b"", 302, {"Location": f"/f/loop/{name}"})
        return self.send(h, b"", 404)

    def send(self, h: BaseHTTPRequestHandler, body: bytes, status: int = 200, headers: dict | None = None,
             head: bool = False, chunks: int = 1, pause: float = 0.0) -> None:
        h.send_response(status)
        headers = {"Content-Type": "image/jpeg", **(headers or {})}
        for k, v in headers.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if head:
            return
        step = max(1, len(body) // chunks)
        for i in range(0, len(body), step):
            h.wfile.write(body[i:i + step])
            h.wfile.flush()
            if pause and i + step < len(body):
                time.sleep(pause)

    # -- a minimal Hub: repo info, tree listing, resolve (HEAD + GET) ------------------------------

    def hub_route(self, h: BaseHTTPRequestHandler, path: str, head: bool) -> None:
        parts = path.strip("/").split("/")
        if parts[:2] == ["api", "datasets"] and len(parts) >= 6:
            repo = "/".join(parts[2:4])
            files = self.hub.get(repo)
            if files is None:
                return self.send(h, b'{"error":"Repository not found"}', 404, {"X-Error-Code": "RepoNotFound"})
            if parts[4] == "revision":
                info = {"id": repo, "sha": COMMIT, "private": False, "siblings": [{"rfilename": f} for f in files]}
                return self.send(h, json.dumps(info).encode(), headers={"Content-Type": "application/json"})
            if parts[4] == "tree":
                tree = [{"type": "file", "path": f, "size": len(b), "oid": hashlib.sha1(b).hexdigest()}
                        for f, b in sorted(files.items())]
                return self.send(h, json.dumps(tree).encode(), headers={"Content-Type": "application/json"})
        if parts[0] == "datasets" and len(parts) >= 6 and parts[3] == "resolve":
            repo, fname = "/".join(parts[1:3]), "/".join(parts[5:])
            body = self.hub.get(repo, {}).get(fname)
            if body is None:
                return self.send(h, b"Entry not found", 404, {"X-Error-Code": "EntryNotFound"})
            return self.send(h, body, headers={"X-Repo-Commit": COMMIT, "ETag": f'"{sha(body)}"',
                                               "Content-Type": "application/octet-stream"}, head=head)
        return self.send(h, b"", 404)


@pytest.fixture()
def server():
    s = Server()
    yield s
    s.close()


FAULTS = {  # kind -> (status, reason) expected after one run
    "ok": (OK, ""), "redirect": (OK, ""), "429": (OK, ""), "500": (OK, ""), "slowbody": (OK, ""),
    "404": (FAILED, "http 404"), "410": (FAILED, "http 410"), "wrong": (FAILED, "sha256 mismatch"),
    "html": (FAILED, "not an image"), "loop": (FAILED, "too many redirects"),
    "503": (TRANSIENT, "http 503"), "stall": (TRANSIENT, "timeout"), "trunc": (TRANSIENT, "truncated body"),
}


def fault_opts(**kw) -> FetchOptions:
    base = dict(workers=16, per_host=16, read_timeout=0.4, connect_timeout=2.0, attempts=3, backoff_base=0.05,
                backoff_max=0.2)
    return FetchOptions(**{**base, **kw})


def test_faults_are_classified_and_good_urls_verified(server: Server, tmp_path: Path) -> None:
    server.images["other"] = jpeg(999)
    items = []
    for i, kind in enumerate(FAULTS):
        server.images[f"img{i}"] = jpeg(i)
        items.append(MediaItem(f"{server.url}/f/{kind}/img{i}", (sha(server.images[f"img{i}"]),), SHA256))
    # decode policy (no hash in the table): HTML, a truncated JPEG served whole, a bomb, a too-large file
    server.images["cut"] = jpeg(7, (256, 256))[:1500]
    server.images["bomb"] = png((3000, 3000))
    server.images["big"] = jpeg(8, (1024, 1024)) * 8
    server.images["plain"] = jpeg(9)
    decode_cases = {"html/plain": (FAILED, "not an image"), "ok/cut": (FAILED, "corrupt image"),
                    "ok/bomb": (FAILED, "decompression bomb"), "ok/big": (FAILED, "too large"),
                    "ok/plain": (OK, "")}
    items += [MediaItem(f"{server.url}/f/{k}", (), DECODE) for k in decode_cases]
    store, manifest = tmp_path / "images", tmp_path / "m.jsonl"
    opts = fault_opts(max_pixels=4_000_000, max_bytes=200_000)
    stats = fetch_media(items, store, manifest, opts)

    records = {r.url: r for r in json_records(manifest)}
    for i, (kind, (status, reason)) in enumerate(FAULTS.items()):
        url = f"{server.url}/f/{kind}/img{i}"
        assert (records[url].status, records[url].reason) == (status, reason), kind
        f = store / paths.url_key(url)
        if status == OK:
            assert sha(f.read_bytes()) == sha(server.images[f"img{i}"]), kind
        else:
            assert not f.exists(), kind
    for k, (status, reason) in decode_cases.items():
        url = f"{server.url}/f/{k}"
        assert (records[url].status, records[url].reason) == (status, reason), k
        assert (store / paths.url_key(url)).exists() == (status == OK)
    assert stats.downloaded == 6 and stats.failed["http 404"] == 1 and stats.transient["timeout"] == 1
    assert list(store.glob("*.part")) == []
    # 429: the retry came no earlier than Retry-After (1 s); 500: two failures then success
    t429 = [t for t, _, p in server.log if p == "/f/429/img2"]
    assert len(t429) == 2 and t429[1] - t429[0] >= 0.95
    assert server.requests_for("/f/500/img3") == 3
    assert server.requests_for("/f/503/img10") == 3  # attempts per run

    # Second run: verified files and permanent failures are not requested again; transient ones are.
    before = Counter(server.counts)
    stats2 = fetch_media(items, store, manifest, opts, previous=load_records_file(manifest))
    after = server.counts
    assert stats2.present == 6 and stats2.skipped_failed == 9 and stats2.downloaded == 0
    assert after["/f/ok/img0"] == before["/f/ok/img0"] and after["/f/404/img5"] == before["/f/404/img5"]
    assert after["/f/503/img10"] == before["/f/503/img10"] + 3
    # --retry-failed asks again for permanent failures
    fetch_media(items, store, manifest, fault_opts(retry_failed=True, max_pixels=4_000_000, max_bytes=200_000),
                previous=load_records_file(manifest))
    assert server.counts["/f/404/img5"] == before["/f/404/img5"] + 1


def json_records(path: Path):
    from molmo2_data.download.manifest import Record

    return [Record(**json.loads(line)) for line in path.read_text().splitlines()]


def load_records_file(path: Path):
    out = {}
    for r in json_records(path):
        out[r.url] = r
    return out


def test_url_map_and_retry_after_parsing() -> None:
    from molmo2_data.download.fetch import parse_retry_after

    m = UrlMap(["http://a.invalid/=http://127.0.0.1:9/x/", "http://a.invalid/deep/=http://m/"])
    assert m("http://a.invalid/deep/1.jpg") == "http://m/1.jpg"
    assert m("http://a.invalid/2.jpg") == "http://127.0.0.1:9/x/2.jpg"
    assert m("http://b.invalid/3.jpg") == "http://b.invalid/3.jpg"
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert parse_retry_after("soon") is None


# ---------------------------------------------------------------------------------------------
# Tables through the Hub emulation, then media, end to end through the CLI
# ---------------------------------------------------------------------------------------------


def parquet_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


@pytest.fixture(scope="module")
def small_sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from molmo2_data.sample import write_sample

    root = tmp_path_factory.mktemp("dl_sample")
    write_sample(root, seed=0, datasets=["pixmo-cap", "pixmo-count", "molmo2-multiimagepoint", "molmo2-videocapqa"],
                 progress=False)
    return root


def run_cli(argv: list[str]) -> int:
    from molmo2_data.cli import download_cmd

    parser = argparse.ArgumentParser()
    download_cmd.add_parser(parser.add_subparsers())
    args = parser.parse_args(["download", *argv])
    return args.run(args)


def test_tables_from_hub_and_media_end_to_end(server: Server, small_sample: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from molmo2_data.datasets import get_dataset
    from molmo2_data.sample.context import SAMPLE_URL_BASE

    src = small_sample
    cap = read_table(paths.table_path("pixmo-cap", "default", "train", src))
    count = {s: read_table(paths.table_path("pixmo-count", "default", s, src)) for s in ("train", "validation", "test")}
    mip = read_table(paths.table_path("molmo2-multiimagepoint", "default", "train", src))
    # pixmo-cap: no configs in the card (file-name conventions); pixmo-count: configs in the card, 2 shards
    server.hub["allenai/pixmo-cap"] = {"README.md": b"# pixmo-cap\n",
                                       "data/train-00000-of-00001.parquet": parquet_bytes(cap)}
    card = ("---\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n    path: data/train-*\n"
            "  - split: validation\n    path: data/validation-*\n  - split: test\n    path: data/test-*\n---\n")
    half = count["train"].num_rows // 2
    server.hub["allenai/pixmo-count"] = {
        "README.md": card.encode(),
        "data/train-00000-of-00002.parquet": parquet_bytes(count["train"].slice(0, half)),
        "data/train-00001-of-00002.parquet": parquet_bytes(count["train"].slice(half)),
        "data/validation-00000-of-00001.parquet": parquet_bytes(count["validation"]),
        "data/test-00000-of-00001.parquet": parquet_bytes(count["test"]),
        "data/unrelated-00000-of-00001.parquet": b"not parquet, must not be downloaded"}
    server.hub["allenai/Molmo2-MultiImagePoint"] = {"data/train-00000-of-00001.parquet": parquet_bytes(mip)}
    server.www = src / "www"
    dst = tmp_path / "root"
    monkeypatch.setenv("HF_ENDPOINT", f"{server.url}/hub")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("MOLMO2_URL_MAP", f"{SAMPLE_URL_BASE}={server.url}/www/")
    rc = run_cli(["--root", str(dst), "--datasets", "pixmo-cap,pixmo-count,molmo2-multiimagepoint", "--quiet",
                  "--json"])
    assert rc == 0
    report = {r["dataset"]: r for r in json.loads(capsys.readouterr().out)}

    # tables: same schema and values as the published (here: sample) tables
    assert read_table(paths.table_path("pixmo-cap", "default", "train", dst)).equals(cap)
    got_train = read_table(paths.table_path("pixmo-count", "default", "train", dst))
    assert got_train.schema.equals(count["train"].schema) and got_train.to_pylist() == count["train"].to_pylist()
    assert read_table(paths.table_path("pixmo-count", "default", "test", dst)).equals(count["test"])
    assert not any("unrelated" in p.name for p in (tmp_path / "hf").rglob("*.parquet"))
    # media: every URL fetched, byte-identical to what the server published
    n_cap_urls = len(set(cap.column("image_url").to_pylist()))
    assert report["pixmo-cap"]["ok"] == report["pixmo-cap"]["needed"] == n_cap_urls
    assert report["pixmo-count"]["missing"] == 0 and report["molmo2-multiimagepoint"]["missing"] == 0
    for url in cap.column("image_url").to_pylist():
        rel = url[len(SAMPLE_URL_BASE):]
        assert paths.url_image_path(url, dst).read_bytes() == (src / "www" / rel).read_bytes()
    # the download built the readers' indexes (every split), so the first open needs no scan
    for split in ("train", "validation", "test"):
        assert paths.index_path("pixmo-count", "default", split, dst).exists()
    assert paths.index_path("pixmo-cap", "default", "validation", dst).exists()
    # readers see the same examples as on the sample root
    assert len(get_dataset("pixmo-cap", split="train", root=dst)) == len(get_dataset("pixmo-cap", split="train", root=src))
    assert len(get_dataset("pixmo-count", split="test", root=dst)) == len(get_dataset("pixmo-count", split="test", root=src))

    # re-run: tables cached (same commit), media present: no media request, no parquet download
    n_www = sum(1 for _, _, p in server.log if p.startswith("/www/"))
    n_resolve_parquet = sum(1 for _, m, p in server.log if "/resolve/" in p and p.endswith(".parquet") and m == "GET")
    assert run_cli(["--root", str(dst), "--datasets", "pixmo-cap,pixmo-count", "--quiet"]) == 0
    assert sum(1 for _, _, p in server.log if p.startswith("/www/")) == n_www
    assert sum(1 for _, m, p in server.log if "/resolve/" in p and p.endswith(".parquet") and m == "GET") == n_resolve_parquet

    # offline mode: served from the Hub cache without any request
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    n_before = len(server.log)
    assert run_cli(["--root", str(tmp_path / "root2"), "--datasets", "pixmo-cap", "--tables-only", "--quiet"]) == 0
    assert len(server.log) == n_before
    assert read_table(paths.table_path("pixmo-cap", "default", "train", tmp_path / "root2")).equals(cap)


def test_missing_media_reported_with_reasons_and_shards_disjoint(server: Server, tmp_path: Path, capsys) -> None:
    urls = [f"{server.url}/f/ok/a{i}" for i in range(12)] + [f"{server.url}/f/404/gone{i}" for i in range(3)]
    for i in range(12):
        server.images[f"a{i}"] = jpeg(100 + i)
    table = pa.table({"image_url": urls, "image_sha256": [sha(server.images.get(u.rsplit("/", 1)[1], b"")) for u in urls],
                      "question": ["q"] * 15, "answer": ["a"] * 15})
    root = tmp_path / "r"
    write_table(table, paths.table_path("pixmo-ask-model-anything", "default", "train", root))
    base = ["--root", str(root), "--datasets", "pixmo-ask-model-anything", "--skip-tables", "--quiet", "--json"]
    # a shard with a 404 finished with failures: exit status 3 (issue #12; was 0)
    in_shard = [{u for u in urls if int(paths.url_key(u)[:8], 16) % 2 == k} for k in (0, 1)]
    expect = [3 if any("/404/" in u for u in in_shard[k]) else 0 for k in (0, 1)]
    assert run_cli(base + ["--shard", "0/2"]) == expect[0]
    capsys.readouterr()
    assert run_cli(base + ["--shard", "1/2"]) == expect[1]
    capsys.readouterr()
    shard_files = sorted(p.name for p in (root / "manifests").glob("*.jsonl"))
    assert shard_files == ["pixmo-ask-model-anything.0-of-2.jsonl", "pixmo-ask-model-anything.1-of-2.jsonl"]
    assert all(server.counts[f"/f/ok/a{i}"] == 1 for i in range(12))  # disjoint: each URL fetched once
    assert run_cli(["--root", str(root), "--datasets", "pixmo-ask-model-anything", "--check", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)[0]
    assert (rep["rows"], rep["needed"], rep["ok"], rep["missing"]) == (15, 15, 12, 3)
    assert rep["failed"] == {"http 404": 3}
    assert rep["availability"] == "pixmo-ask-model-anything: 12 / 15 images (80.0%)"
    assert rep["bytes"] == sum(len(server.images[f"a{i}"]) for i in range(12))
    from molmo2_data.download.plan import resolve_targets
    from molmo2_data.download.runner import DownloadOptions, dry_run_plan

    target = resolve_targets(None, ["pixmo-ask-model-anything"], False)[0]
    assert dry_run_plan(target, DownloadOptions(root=root)) == {
        "tables_present": 1, "tables_wanted": 1, "urls": 15, "present": 12, "skip_failed": 3, "to_fetch": 0}
    assert run_cli(["--root", str(root), "--datasets", "pixmo-ask-model-anything", "--dry-run"]) == 0
    assert "pixmo-ask-model-anything" in capsys.readouterr().out


def test_videos_from_mapping_file_and_manual_list(server: Server, small_sample: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from molmo2_data.datasets import get_dataset

    src_videos = paths.video_dir("youtube", small_sample)
    files = {p.stem: p.name for p in sorted(src_videos.iterdir())}
    table = read_table(paths.table_path("molmo2-videocapqa", "default", "CapQA", small_sample))
    ids = sorted(set(table.column("video_id").to_pylist()))
    assert len(ids) >= 6 and all(v in files for v in ids)
    gone, html, unmapped = ids[0], ids[1], ids[2]
    mapping = {v: {"youtube_url": f"https://www.youtube.com/watch?v={v}", "gcs_url": f"{server.url}/vid/{files[v]}"}
               for v in ids if v != unmapped}
    mapping[gone]["gcs_url"] = f"{server.url}/vid/nope.mp4"
    mapping[html] = [f"https://youtu.be/{html}", f"{server.url}/f/html/x"]
    server.videos = src_videos
    server.hub["allenai/Molmo2-VideoCapQA"] = {"CapQA/data-00000.parquet": parquet_bytes(table),
                                               "README.md": b"---\nconfigs:\n- config_name: default\n  data_files:\n"
                                                            b"  - split: CapQA\n    path: CapQA/*\n---\n",
                                               "youtube_id_to_urls_mapping.json": json.dumps(mapping).encode()}
    monkeypatch.setenv("HF_ENDPOINT", f"{server.url}/hub")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    dst = tmp_path / "root"
    # a 404 and an HTML page among the mapped videos: finished with failures, exit 3 (issue #12; was 0)
    assert run_cli(["--root", str(dst), "--datasets", "molmo2-videocapqa", "--quiet", "--json"]) == 3
    rep = json.loads(capsys.readouterr().out)[0]
    assert (rep["needed"], rep["ok"], rep["missing"]) == (len(ids), len(ids) - 3, 3)
    assert rep["failed"] == {"http 404": 1, "not a video": 1}
    for v in ids[3:]:
        assert (paths.video_dir("youtube", dst) / files[v]).read_bytes() == (src_videos / files[v]).read_bytes()
    lines = Path(rep["missing_list"]).read_text().splitlines()
    assert lines[0] == "source\tvideo_id\tput_it_at"
    assert sorted(lines[1:]) == sorted(f"youtube\t{v}\tmedia/videos/youtube/{v}.mp4" for v in (gone, html, unmapped))
    ds = get_dataset("molmo2-videocapqa", split="CapQA", root=dst)
    assert len(ds) == len(ids) - 3 and ds.skipped["video missing locally"] == 3
    # a manual download into the listed place completes the set; --check sees it
    for v in (gone, html, unmapped):
        shutil.copyfile(src_videos / files[v], paths.video_dir("youtube", dst) / f"{v}.mp4")
    assert run_cli(["--root", str(dst), "--datasets", "molmo2-videocapqa", "--check", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)[0]
    assert (rep["ok"], rep["missing"], rep["status"]) == (len(ids), 0, "complete")
    assert rep["missing_list"] is None
    assert not (dst / "manifests" / "molmo2-videocapqa.missing-videos.tsv").exists()


def test_mapped_urls_shapes() -> None:
    from molmo2_data.download.plan import mapped_urls

    assert mapped_urls("gs://bucket/a/b.mp4") == ["https://storage.googleapis.com/bucket/a/b.mp4"]
    assert mapped_urls({"yt": "https://www.youtube.com/watch?v=x", "m": ["http://m/x.mp4",
                        "https://storage.googleapis.com/b/x.mp4"]}) == ["https://storage.googleapis.com/b/x.mp4",
                                                                         "http://m/x.mp4"]
    assert mapped_urls(["https://youtu.be/x"]) == []


# ---------------------------------------------------------------------------------------------
# kill -9 in the middle of a run, then resume
# ---------------------------------------------------------------------------------------------


def test_kill9_then_resume_loses_nothing_and_refetches_nothing(server: Server, tmp_path: Path) -> None:
    n = 160
    for i in range(n):
        server.images[f"k{i}"] = jpeg(1000 + i, (64, 64))
    server.slow_delay = 0.02
    urls = [f"{server.url}/slow/k{i}" for i in range(n)]
    table = pa.table({"image_url": urls, "image_sha256": [sha(server.images[f"k{i}"]) for i in range(n)],
                      "question": ["q"] * n, "answer": ["a"] * n})
    root = tmp_path / "r"
    write_table(table, paths.table_path("pixmo-ask-model-anything", "default", "train", root))
    store = paths.image_dir(root)
    cmd = [sys.executable, str(REPO_ROOT / "scripts" / "download_molmo2_data.py"), "--root", str(root),
           "--datasets", "pixmo-ask-model-anything", "--skip-tables", "--quiet", "--workers", "6", "--procs", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(REPO_ROOT / "src")})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len([p for p in store.glob("*") if "." not in p.name]) < 40:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    t_kill = time.monotonic()
    expected = {paths.url_key(u): sha(server.images[u.rsplit("/", 1)[1]]) for u in urls}
    done = {p.name for p in store.iterdir() if "." not in p.name}
    assert 40 <= len(done) < n, "the kill must land mid-run"
    for key in done:  # nothing half-written was accepted
        assert sha((store / key).read_bytes()) == expected[key]

    from molmo2_data.download.plan import resolve_targets
    from molmo2_data.download.runner import DownloadOptions, download

    server.slow_delay = 0.0
    outcomes = download(resolve_targets(None, ["pixmo-ask-model-anything"], False),
                        DownloadOptions(root=root, tables=False, quiet=True), log=lambda m: None)
    stats = outcomes[0].fetch
    assert stats is not None and stats.present == len(done) and stats.downloaded == n - len(done)
    refetched = {p.rsplit("/", 1)[1] for t, _, p in server.log if t > t_kill}
    assert not refetched & {u.rsplit("/", 1)[1] for u in urls if paths.url_key(u) in done}
    assert {p.name for p in store.iterdir()} == set(expected)  # no .part left, every file there
    for key, digest in expected.items():
        assert sha((store / key).read_bytes()) == digest
    assert outcomes[0].report is not None and outcomes[0].report.availability() == \
        f"pixmo-ask-model-anything: {n} / {n} images (100.0%)"
    recs = load_records(root, "pixmo-ask-model-anything")
    assert manifest_path(root, "pixmo-ask-model-anything").exists() and all(r.status == OK for r in recs.values())


def test_bad_arguments_are_typed_errors(tmp_path: Path) -> None:
    from molmo2_data.cli.download_cmd import parse_shard
    from molmo2_data.download.plan import resolve_targets
    from molmo2_data.errors import ConfigError, UnknownDatasetError

    with pytest.raises(ConfigError):
        parse_shard("3/2")
    with pytest.raises(ConfigError):
        UrlMap(["no-equals-sign"])
    with pytest.raises(UnknownDatasetError):
        resolve_targets(None, ["pixmo-nope"], False)
    names = [t.name for t in resolve_targets("pretraining", None, True)]
    assert names == ["pixmo-cap", "pixmo-points", "pixmo-count", "pixmo-docs", "pixmo-cap-qa", "pixmo-points-eval",
                     "molmo2-videocounteval", "molmo2-videopointeval", "molmo2-capeval", "mmmu"]
    shutil.rmtree(tmp_path, ignore_errors=True)
