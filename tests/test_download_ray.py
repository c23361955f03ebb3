"""Media download on a real multi-node Ray cluster (3 nodes on 127.0.0.1) against a loopback HTTP server:
every URL fetched exactly once and verified, task manifests merged into the dataset's manifest, one
per-host limit and one 429 pause for the whole cluster, a worker node lost mid-job, a driver killed
mid-job and the job resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import test_download  # noqa: E402
from test_download import Server, jpeg, sha  # noqa: E402

small_sample_fixture = test_download.small_sample  # the fixture `small_sample`, shared with test_download

from molmo2_data import paths  # noqa: E402
from molmo2_data.download.fetch import FetchOptions, MediaItem  # noqa: E402
from molmo2_data.download.manifest import OK, load_records, manifest_files  # noqa: E402
from molmo2_data.download.ray_fetch import fetch_media_ray  # noqa: E402
from molmo2_data.download.verify import SHA256  # noqa: E402


@pytest.fixture()
def server():
    s = Server()
    yield s
    s.close()


def slow_items(server: Server, n: int, prefix: str = "r") -> list[MediaItem]:
    items = []
    for i in range(n):
        name = f"{prefix}{i}"
        server.images[name] = jpeg(i)
        items.append(MediaItem(f"{server.url}/slow/{name}", (sha(server.images[name]),), SHA256))
    return items


def check_store(server: Server, store: Path, items: list[MediaItem]) -> None:
    """Every file there, with the served bytes; no part file left."""
    for it in items:
        assert sha((store / it.key).read_bytes()) == it.expected[0]
    assert not list(store.glob("*.part"))


def test_every_url_once_per_host_limit_and_merged_manifest(server: Server, ray_cluster, tmp_path: Path) -> None:
    server.slow_delay = 0.05
    items = slow_items(server, 60)
    store, root = tmp_path / "images", tmp_path
    opts = FetchOptions(workers=8, per_host=3, attempts=2, backoff_base=0.05)
    seen: list[int] = []
    stats = fetch_media_ray(items, store, root, "ds", opts, {}, address=ray_cluster.address, task_size=10,
                            progress=lambda f, b, x: seen.append(f))
    assert (stats.downloaded, stats.present, sum(stats.failed.values())) == (60, 0, 0)
    assert sum(seen) == 60  # the job's progress reached the driver
    check_store(server, store, items)
    assert all(server.counts[f"/slow/r{i}"] == 1 for i in range(60))
    # six tasks of 10 URLs, three nodes, 8 requests in flight per task: only the cluster gate holds it to 3
    assert server.max_active == 3
    assert [p.name for p in manifest_files(root, "ds")] == ["ds.jsonl"]  # the task manifests were merged
    records = load_records(root, "ds")
    assert len(records) == 60 and {r.status for r in records.values()} == {OK}
    # a second run fetches nothing
    again = fetch_media_ray(items, store, root, "ds", opts, load_records(root, "ds"), address=ray_cluster.address,
                            task_size=10)
    assert (again.present, again.downloaded) == (60, 0) and sum(server.counts.values()) == 60


def test_per_host_limit_below_the_task_count_is_exact(server: Server, ray_cluster, tmp_path: Path) -> None:
    """per_host 2 < 3 tasks at once: every request takes a slot from the cluster gate."""
    server.slow_delay = 0.05
    items = slow_items(server, 24)
    stats = fetch_media_ray(items, tmp_path / "s", tmp_path, "ds", FetchOptions(workers=8, per_host=2), {},
                            address=ray_cluster.address, task_size=4)
    assert stats.downloaded == 24 and server.max_active == 2
    check_store(server, tmp_path / "s", items)


def test_a_429_pauses_the_host_for_every_task(server: Server, ray_cluster, tmp_path: Path) -> None:
    server.slow_delay = 0.1
    items = slow_items(server, 24)
    server.images["p"] = jpeg(99)
    first = MediaItem(f"{server.url}/f/429/p", (sha(server.images["p"]),), SHA256)
    opts = FetchOptions(workers=4, per_host=4, attempts=3, backoff_base=0.05)
    stats = fetch_media_ray([first, *items], tmp_path / "s", tmp_path, "ds", opts, {}, address=ray_cluster.address,
                            task_size=5)
    assert stats.downloaded == 25
    t429 = next(t for t, _, p in server.log if p == "/f/429/p")
    # Retry-After: 1 s from the 429: once every task has read the pause (< 0.45 s: it is read every 0.25 s), no new request to the host
    # started until it ended, whichever task it belonged to
    starts = [t - t429 for t, _, p in server.log if t > t429]
    assert not [s for s in starts if 0.45 < s < 0.95], starts
    check_store(server, tmp_path / "s", [first, *items])


def test_losing_a_worker_node_mid_job(server: Server, ray_cluster, tmp_path: Path) -> None:
    """A worker node dies while its tasks run: Ray reruns them elsewhere; what was verified before is
    not fetched again, every URL ends verified, no partial file is accepted."""
    server.slow_delay = 0.1
    items = slow_items(server, 48)
    store = tmp_path / "images"
    opts = FetchOptions(workers=2, per_host=6, attempts=3, backoff_base=0.05)
    extra = ray_cluster.add_node(num_cpus=1, object_store_memory=80 * 2**20)  # the node to lose
    ray_cluster.wait_for_nodes()
    result: dict = {}
    t = threading.Thread(target=lambda: result.update(stats=fetch_media_ray(
        items, store, tmp_path, "ds", opts, {}, address=ray_cluster.address, task_size=6)))
    t.start()
    deadline = time.monotonic() + 60
    while len([p for p in store.glob("*") if not p.name.endswith(".part")]) < 12 and time.monotonic() < deadline:
        time.sleep(0.05)
    verified_before = {p.name for p in store.glob("*") if not p.name.endswith(".part")}
    ray_cluster.remove_node(extra)
    t.join(120)
    assert not t.is_alive() and "stats" in result
    check_store(server, store, items)
    assert 12 <= len(verified_before) < 48
    by_key = {it.key: it for it in items}
    for key in verified_before:
        assert server.counts[by_key[key].url.replace(server.url, "")] == 1
    assert all(server.counts[f"/slow/r{i}"] >= 1 for i in range(48))
    assert len(load_records(tmp_path, "ds")) == 48


def test_cli_driver_killed_then_resumed(server: Server, ray_cluster, small_sample_fixture: Path, tmp_path: Path) -> None:
    """`molmo2-data download --engine ray` killed (SIGKILL) mid-job; the rerun fetches only the rest and
    leaves one merged manifest."""
    import shutil

    from molmo2_data.sample.context import SAMPLE_URL_BASE
    from molmo2_data.tables import read_table

    small_sample = small_sample_fixture
    root = tmp_path / "root"
    shutil.copytree(paths.data_root(small_sample) / "tables" / "pixmo-cap", root / "tables" / "pixmo-cap")
    server.www = small_sample / "www"
    urls = read_table(paths.table_path("pixmo-cap", "default", "train", root)).column("image_url").to_pylist()
    n = len(set(urls))
    server.slow_delay = 0.0
    cmd = [sys.executable, "-m", "molmo2_data.cli.main", "download", "--root", str(root), "--datasets", "pixmo-cap",
           "--skip-tables", "--engine", "ray", "--address", ray_cluster.address, "--task-size", "4",
           "--per-host", "1", "--url-map", f"{SAMPLE_URL_BASE}={server.url}/slowwww/", "--quiet"]
    # a slow static route: every file takes 0.15 s, one at a time for the whole cluster
    orig = server.handle

    def handle(h, head):
        if h.path.startswith("/slowwww/"):
            time.sleep(0.15)
            h.path = "/www/" + h.path[len("/slowwww/"):]
        return orig(h, head)

    server.handle = handle  # type: ignore[method-assign]
    store = paths.image_dir(root)
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ})
    deadline = time.monotonic() + 90
    while (not store.is_dir() or len([f for f in store.iterdir() if not f.name.endswith(".part")]) < 4) \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL)
    p.wait()
    before = {f.name for f in store.iterdir() if not f.name.endswith(".part")}
    assert 4 <= len(before) < n
    assert any(".task-" in f.name for f in manifest_files(root, "pixmo-cap"))  # left by the killed job
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr
    got = {f.name for f in store.iterdir()}
    assert got == {paths.url_key(u) for u in urls}
    for u in set(urls):
        path = "/www/" + u[len(SAMPLE_URL_BASE):]
        assert (small_sample / "www" / path[len("/www/"):]).read_bytes() == (store / paths.url_key(u)).read_bytes()
        if paths.url_key(u) in before:
            assert server.counts[path] == 1  # verified before the kill: not fetched again
    assert [f.name for f in manifest_files(root, "pixmo-cap")] == ["pixmo-cap.jsonl"]
    lines = [json.loads(x) for x in (root / "manifests" / "pixmo-cap.jsonl").read_text().splitlines()]
    assert {x["status"] for x in lines} == {OK} and len({x["url"] for x in lines}) == n
