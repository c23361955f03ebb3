"""Issue #12, download: every bad input gets a clear error or a counted skip; every run exits cleanly.

Real HTTP over 127.0.0.1 (the threaded server of ``test_download``, with extra routes: gzip and
deflate bodies, redirect chains, a trickling server, rate-limited hosts), real forked worker
processes, the real CLI parser.
"""

from __future__ import annotations

import gzip
import json
import multiprocessing.util as mp_util
import sys
import time
import zlib
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow as pa
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_download import Server, jpeg, run_cli, sha  # noqa: E402

from molmo2_data import paths  # noqa: E402
from molmo2_data.download.fetch import Fetcher, FetchOptions, MediaItem, fetch_media  # noqa: E402
from molmo2_data.download.manifest import FAILED, OK, TRANSIENT, ManifestWriter, load_records  # noqa: E402
from molmo2_data.download.verify import DECODE, SHA256  # noqa: E402
from molmo2_data.errors import ConfigError  # noqa: E402
from molmo2_data.tables import write_table  # noqa: E402

DATASET = "pixmo-ask-model-anything"  # a URL dataset whose table has a byte sha256 column


class FaultServer(Server):
    """``test_download.Server`` plus the routes of issue #12."""

    KINDS = frozenset({"gz", "deflate", "gzbomb", "gzcut", "chain", "limited", "busy", "trickle"})

    def __init__(self) -> None:
        super().__init__()
        self.httpd.socket.listen(128)  # a burst of connections must not hit a full accept queue (1 s SYN retry)
        self.headers_seen: dict[str, dict[str, str]] = {}
        self.retry_after = "3600"
        self.pause_until_served: Server | None = None  # /busy/: 429 until every file of that host was served
        self.trickle_pause = 0.1

    def handle(self, h: BaseHTTPRequestHandler, head: bool) -> None:
        path = urlsplit(h.path).path
        parts = path.split("/")
        with self.lock:
            self.headers_seen[path] = dict(h.headers.items())
        if len(parts) < 3 or parts[1] not in self.KINDS:
            return super().handle(h, head)
        with self.lock:
            self.log.append((time.monotonic(), h.command, path))
            self.counts[path] += 1
        kind, name = parts[1], parts[-1]
        data = self.images.get(name, b"")
        if kind == "gz":  # compressed whatever the client asked (pre-gzipped files on a CDN)
            return self.send(h, gzip.compress(data), headers={"Content-Encoding": "gzip"})
        if kind == "deflate":
            return self.send(h, zlib.compress(data), headers={"Content-Encoding": "deflate"})
        if kind == "gzbomb":
            return self.send(h, gzip.compress(b"\0" * (8 << 20)), headers={"Content-Encoding": "gzip"})
        if kind == "gzcut":  # a gzip stream cut short, with a Content-Length that matches the cut
            return self.send(h, gzip.compress(data)[:-12], headers={"Content-Encoding": "gzip"})
        if kind == "chain":  # /chain/<k>/<name>: k redirects, then the file
            k = int(parts[2])
            if k == 0:
                return self.send(h, data)
            return self.send(h, b"", 302, {"Location": f"/chain/{k - 1}/{name}"})
        if kind == "limited":
            return self.send(h, b"slow down", 429, {"Retry-After": self.retry_after})
        if kind == "busy":
            other = self.pause_until_served
            served = other is not None and all(other.counts[f"/f/ok/{n}"] for n in other.images)
            if not served:
                return self.send(h, b"slow down", 429, {"Retry-After": self.retry_after})
            return self.send(h, data)
        if kind == "trickle":  # the headers at once, then one byte every trickle_pause seconds
            h.send_response(200)
            h.send_header("Content-Type", "image/jpeg")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            try:
                for i in range(len(data)):
                    h.wfile.write(data[i:i + 1])
                    h.wfile.flush()
                    time.sleep(self.trickle_pause)
            except OSError:
                pass
            return None
        return self.send(h, b"", 404)


@pytest.fixture()
def srv():
    s = FaultServer()
    yield s
    s.close()


@pytest.fixture()
def srv2():
    s = FaultServer()
    yield s
    s.close()


def opts(**kw) -> FetchOptions:
    base = dict(workers=8, per_host=8, read_timeout=2.0, connect_timeout=2.0, attempts=3, backoff_base=0.05,
                backoff_max=0.2, procs=1)
    return FetchOptions(**{**base, **kw})


def records(manifest: Path) -> dict:
    from molmo2_data.download.manifest import Record

    out = {}
    for line in manifest.read_text().splitlines():
        r = Record(**json.loads(line))
        out[r.url] = r
    return out


def add_images(s: Server, prefix: str, n: int, seed: int) -> list[str]:
    names = []
    for i in range(n):
        s.images[f"{prefix}{i}"] = jpeg(seed + i)
        names.append(f"{prefix}{i}")
    return names


# -- 1. a complete multi-process run exits cleanly ------------------------------------------------


def test_workers_that_finished_are_waited_for_not_terminated(srv: FaultServer, tmp_path: Path) -> None:
    """A worker still tearing down after it delivered everything (here: a 1 s exit finalizer, like
    threads or buffers being released) is a success; it used to be terminated (exit code -15) and the
    complete run reported as failed."""
    names = add_images(srv, "p", 16, 300)
    items = [MediaItem(f"{srv.url}/f/ok/{n}", (sha(srv.images[n]),), SHA256) for n in names]

    class SlowExit:
        pass

    hook = SlowExit()  # lives as long as this test: register_after_fork holds it weakly
    mp_util.register_after_fork(hook, lambda _: mp_util.Finalize(None, time.sleep, args=(1.0,), exitpriority=10))
    store, manifest = tmp_path / "s", tmp_path / "m.jsonl"
    try:
        with ManifestWriter(manifest) as w:
            stats = Fetcher(store, w, opts(procs=2, min_items_per_proc=4)).run(items)
    finally:
        del hook
    assert (stats.downloaded, sum(stats.failed.values()), sum(stats.transient.values())) == (16, 0, 0)
    assert {r.status for r in records(manifest).values()} == {OK}
    for it in items:
        assert sha((store / it.key).read_bytes()) == it.expected[0]


# -- 2. compressed responses ---------------------------------------------------------------------


def test_compressed_bodies_are_decoded_and_counted_on_the_wire(srv: FaultServer, tmp_path: Path) -> None:
    srv.images["g"], srv.images["d"], srv.images["c"] = jpeg(11, (300, 200)), jpeg(12), jpeg(13, (300, 200))
    cases = {f"{srv.url}/gz/g": (OK, "", "g"), f"{srv.url}/deflate/d": (OK, "", "d"),
             f"{srv.url}/gzcut/c": (TRANSIENT, "truncated body", "c"),
             f"{srv.url}/gzbomb/b": (FAILED, "too large", None)}
    items = [MediaItem(u, (sha(srv.images[n]),) if n else (), SHA256 if n else DECODE) for u, (_, _, n) in cases.items()]
    store, manifest = tmp_path / "s", tmp_path / "m.jsonl"
    stats = fetch_media(items, store, manifest, opts(max_bytes=1 << 20))
    recs = records(manifest)
    for url, (status, reason, name) in cases.items():
        assert (recs[url].status, recs[url].reason) == (status, reason), url
        f = store / paths.url_key(url)
        if status == OK:  # the decoded file: the real image's bytes, size and hash
            assert f.read_bytes() == srv.images[name]
            assert recs[url].sha256 == sha(srv.images[name]) and recs[url].bytes == len(srv.images[name])
        else:
            assert not f.exists()
    assert stats.downloaded == 2 and list(store.glob("*.part")) == []
    assert srv.headers_seen["/gz/g"]["Accept-Encoding"] == "identity"  # images are compressed already


# -- 3. a rate-limiting host does not stall the others --------------------------------------------


def test_host_asking_for_a_long_pause_is_given_up_while_others_complete(srv: FaultServer, srv2: FaultServer,
                                                                         tmp_path: Path) -> None:
    """Host A answers 429 with Retry-After: 3600 (beyond --max-retry-after): its files are recorded as
    to-retry with the reason at once, without further requests; host B's files all complete."""
    a_names = add_images(srv, "a", 8, 400)
    b_names = add_images(srv2, "b", 8, 500)
    items = []
    for an, bn in zip(a_names, b_names, strict=True):  # interleaved: every other item is A's
        items.append(MediaItem(f"{srv.url}/limited/{an}", (sha(srv.images[an]),), SHA256))
        items.append(MediaItem(f"{srv2.url}/f/ok/{bn}", (sha(srv2.images[bn]),), SHA256))
    store, manifest = tmp_path / "s", tmp_path / "m.jsonl"
    stats = fetch_media(items, store, manifest, opts(workers=4, per_host=1, max_retry_after=1.0))
    recs = records(manifest)
    reason = "host paused too long (Retry-After 3600 s > max-retry-after 1 s; http 429)"
    assert stats.downloaded == 8 and stats.transient == {reason: 8}
    for bn in b_names:
        assert (store / paths.url_key(f"{srv2.url}/f/ok/{bn}")).read_bytes() == srv2.images[bn]
    for an in a_names:
        assert (recs[f"{srv.url}/limited/{an}"].status, recs[f"{srv.url}/limited/{an}"].reason) == (TRANSIENT, reason)
    assert sum(n for p, n in srv.counts.items() if p.startswith("/limited/")) == 1  # one request, then given up


def test_paused_host_waits_on_a_timer_not_in_the_workers(srv: FaultServer, srv2: FaultServer,
                                                          tmp_path: Path) -> None:
    """Host A answers 429 (Retry-After: 2) until host B's files have all been served. A pause that
    held workers would starve B and keep A refusing; here B completes during A's pause and A's files
    then succeed on their second request."""
    a_names = add_images(srv, "a", 6, 600)
    b_names = add_images(srv2, "b", 12, 700)
    srv.retry_after, srv.pause_until_served = "2", srv2
    items = [MediaItem(f"{srv.url}/busy/{n}", (sha(srv.images[n]),), SHA256) for n in a_names]
    items += [MediaItem(f"{srv2.url}/f/ok/{n}", (sha(srv2.images[n]),), SHA256) for n in b_names]
    store, manifest = tmp_path / "s", tmp_path / "m.jsonl"
    stats = fetch_media(items, store, manifest, opts(workers=3, per_host=3, attempts=2, max_retry_after=30))
    recs = records(manifest)
    assert stats.downloaded == 18 and not stats.transient and not stats.failed
    assert {recs[f"{srv2.url}/f/ok/{n}"].attempts for n in b_names} == {1}
    assert all(recs[f"{srv.url}/busy/{n}"].attempts <= 2 for n in a_names)
    a_times: dict[str, list[float]] = {}
    for t, _, p in srv.log:
        if p.startswith("/busy/"):
            a_times.setdefault(p, []).append(t)
    a_retries = [ts[1] for ts in a_times.values() if len(ts) > 1]
    assert a_retries, "A's first requests were refused and retried"
    last_b = max(t for t, _, p in srv2.log if p.startswith("/f/ok/"))
    assert last_b < min(a_retries)  # every B file was served during A's pause


# -- 4. a total deadline per file -----------------------------------------------------------------


def test_trickling_server_is_cut_by_the_file_deadline(srv: FaultServer, tmp_path: Path) -> None:
    """One byte every 0.1 s never trips the silence timeout; the per-file deadline ends it, once (the
    deadline covers every attempt, so there is no retry)."""
    srv.images["t"] = jpeg(21)
    srv.images["ok"] = jpeg(22)
    items = [MediaItem(f"{srv.url}/trickle/t", (sha(srv.images["t"]),), SHA256),
             MediaItem(f"{srv.url}/f/ok/ok", (sha(srv.images["ok"]),), SHA256)]
    store, manifest = tmp_path / "s", tmp_path / "m.jsonl"
    stats = fetch_media(items, store, manifest, opts(read_timeout=5.0, file_deadline=2.0, attempts=4))
    rec = records(manifest)[f"{srv.url}/trickle/t"]
    assert (rec.status, rec.reason, rec.attempts) == (TRANSIENT, "file deadline exceeded (2 s)", 1)
    assert srv.requests_for("/trickle/t") == 1 and stats.downloaded == 1
    assert not (store / paths.url_key(f"{srv.url}/trickle/t")).exists() and list(store.glob("*.part")) == []


# -- 5. redirects --------------------------------------------------------------------------------


def test_five_redirects_are_followed_six_are_too_many(srv: FaultServer, tmp_path: Path) -> None:
    srv.images["r"] = jpeg(31)
    five, six = f"{srv.url}/chain/5/r", f"{srv.url}/chain/6/r"
    items = [MediaItem(five, (sha(srv.images["r"]),), SHA256), MediaItem(six, (sha(srv.images["r"]),), SHA256)]
    store, manifest = tmp_path / "s", tmp_path / "m.jsonl"
    fetch_media(items, store, manifest, opts())
    recs = records(manifest)
    assert recs[five].status == OK and (store / paths.url_key(five)).read_bytes() == srv.images["r"]
    assert (recs[six].status, recs[six].reason) == (FAILED, "too many redirects")
    assert srv.requests_for("/chain/0/r") == 1  # the 5-hop chain reached the file, the 6-hop one did not


# -- 6. the user's view: exit status, every reason, the manifest, what is waited on ---------------


def write_url_table(root: Path, urls: list[str], shas: list[str]) -> None:
    n = len(urls)
    write_table(pa.table({"image_url": urls, "image_sha256": shas, "question": ["q"] * n, "answer": ["a"] * n}),
                paths.table_path(DATASET, "default", "train", root))


def test_failures_exit_3_list_every_reason_and_the_manifest(srv: FaultServer, tmp_path: Path, capsys) -> None:
    names = add_images(srv, "k", 3, 800)
    srv.images["other"] = jpeg(899)
    srv.images["slow"] = jpeg(898)
    urls = [f"{srv.url}/f/ok/{n}" for n in names] + [
        f"{srv.url}/f/404/x1", f"{srv.url}/f/404/x2", f"{srv.url}/f/410/x3", f"{srv.url}/f/html/x4",
        f"{srv.url}/f/wrong/k0", f"{srv.url}/f/503/x5", f"{srv.url}/trickle/slow"]
    shas = [sha(srv.images[n]) for n in names] + [sha(b"x")] * 4 + [sha(srv.images["k0"]), sha(b"y"),
                                                                      sha(srv.images["slow"])]
    root = tmp_path / "r"
    write_url_table(root, urls, shas)
    argv = ["--root", str(root), "--datasets", DATASET, "--skip-tables", "--quiet", "--attempts", "1",
            "--file-deadline", "2", "--max-retry-after", "0", "--procs", "1"]
    assert run_cli(argv) == 3
    out, err = capsys.readouterr()
    for reason in ("http 404 × 2", "http 410 × 1", "not an image × 1", "sha256 mismatch × 1",  # 4 permanent
                   "http 503 × 1", "file deadline exceeded (2 s) × 1"):  # 2 to retry
        assert reason in out, out
    assert f"URLs and reasons: {root / 'manifests' / (DATASET + '.jsonl')}" in out
    assert "finished with failures (exit status 3" in err
    assert run_cli([*argv, "--allow-partial"]) == 0  # the same partial result, accepted
    capsys.readouterr()
    assert load_records(root, DATASET)[f"{srv.url}/f/503/x5"].status == TRANSIENT


def test_what_is_waited_on_is_shown(srv: FaultServer, srv2: FaultServer, tmp_path: Path) -> None:
    """A slow URL and a paused host are named while the run waits on them (a log line with --quiet;
    the progress bar's postfix otherwise)."""
    from molmo2_data.download.plan import resolve_targets
    from molmo2_data.download.runner import DownloadOptions, _Bar, download
    from molmo2_data.download.waiting import WaitStatus

    srv.images["t"] = jpeg(41)
    srv2.images["p"] = jpeg(42)
    srv.trickle_pause = 0.002  # ~1.5 s for the whole file
    srv2.retry_after = "1"
    slow, paused = f"{srv.url}/trickle/t", f"{srv2.url}/limited/p"
    root = tmp_path / "r"
    write_url_table(root, [slow, paused], [sha(srv.images["t"]), sha(srv2.images["p"])])
    lines: list[str] = []
    fetch = opts(status_interval=0.2, attempts=2, max_retry_after=5)
    outcomes = download(resolve_targets(None, [DATASET], False),
                        DownloadOptions(root=root, tables=False, quiet=True, fetch=fetch), log=lines.append)
    waiting = [ln for ln in lines if ln.startswith(f"{DATASET}: waiting: ")]
    assert any(f"slowest: {slow} (" in ln for ln in waiting), lines
    host = urlsplit(paused).netloc
    assert any(f"paused: {host} until " in ln for ln in waiting), lines
    assert outcomes[0].fetch is not None and outcomes[0].fetch.downloaded == 1
    assert outcomes[0].fetch.transient == {"http 429": 1}

    bar = _Bar("ds", quiet=False)  # the same words in the progress bar
    bar.start(5, 0)
    bar.status(WaitStatus(in_flight=1, slowest=[("http://h/x.jpg", 42.0)]))
    assert "waiting: 1 in flight, slowest: http://h/x.jpg (42 s)" in str(bar.bar.postfix)
    bar.close()


# -- flags and options are validated --------------------------------------------------------------


@pytest.mark.parametrize("flag,value,message", [
    ("--workers", "0", "must be a positive integer, got '0'"),
    ("--workers", "-1", "must be a positive integer, got '-1'"),
    ("--per-host", "0", "must be a positive integer"),
    ("--procs", "0", "must be a positive integer"),
    ("--attempts", "0", "must be a positive integer"),
    ("--max-pixels", "-5", "must be a positive integer"),
    ("--timeout", "0", "must be a finite number > 0, got '0'"),
    ("--connect-timeout", "inf", "must be a finite number > 0"),
    ("--file-deadline", "nan", "must be a finite number > 0"),
    ("--backoff", "-1", "must be a finite number > 0"),
    ("--max-mb", "0", "must be a finite number > 0"),
    ("--max-retry-after", "-1", "must be a finite number >= 0, got '-1'"),
    ("--shard", "3/2", "need 0 <= I < N, got '3/2'"),
    ("--shard", "x", "must be I/N (e.g. 0/4), got 'x'"),
    ("--url-map", "no-equals", "url map rule must be PREFIX=REPLACEMENT, got 'no-equals'"),
])
def test_bad_flags_exit_2_with_one_line(flag: str, value: str, message: str, tmp_path: Path, capsys) -> None:
    from molmo2_data.cli.main import main

    with pytest.raises(SystemExit) as exc:
        main(["download", "--root", str(tmp_path), "--datasets", DATASET, "--skip-tables", flag, value])
    assert exc.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith(f"molmo2-data download: error: argument {flag}: {message}")


def test_bad_python_options_are_config_errors() -> None:
    for kw in ({"workers": 0}, {"per_host": -1}, {"file_deadline": 0}, {"max_retry_after": -1.0},
               {"read_timeout": float("nan")}, {"attempts": 0}):
        with pytest.raises(ConfigError, match=next(iter(kw))):
            FetchOptions(**kw)
    assert FetchOptions(max_retry_after=0).max_retry_after == 0


# -- tables: a corrupt parquet file on the Hub is a clear error for that dataset only -------------


def test_unreadable_parquet_is_a_schema_error_and_the_run_goes_on(srv: FaultServer, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    import io

    import pyarrow.parquet as pq

    from molmo2_data.tables import read_table

    srv.images["ok"] = jpeg(51)
    good = pa.table({"image_url": [f"{srv.url}/f/ok/ok"], "image_sha256": [sha(srv.images["ok"])],
                     "question": ["q"], "answer": ["a"]})
    buf = io.BytesIO()
    pq.write_table(good, buf)
    srv.hub["allenai/pixmo-cap"] = {"data/train-00000-of-00001.parquet": b"<html>not parquet</html>"}
    srv.hub[f"allenai/{DATASET}"] = {"data/train-00000-of-00001.parquet": buf.getvalue()}
    monkeypatch.setenv("HF_ENDPOINT", f"{srv.url}/hub")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    root = tmp_path / "r"
    assert run_cli(["--root", str(root), "--datasets", f"pixmo-cap,{DATASET}", "--quiet"]) == 1
    out = capsys.readouterr().out
    assert "error: pixmo-cap: parquet file train-00000-of-00001.parquet is unreadable" in out
    assert not paths.table_path("pixmo-cap", "default", "train", root).exists()  # no half table
    assert read_table(paths.table_path(DATASET, "default", "train", root)).equals(good)  # the next one went on
    assert (root / "media" / "images").is_dir() and paths.url_image_path(f"{srv.url}/f/ok/ok", root).exists()


def test_schedule_hands_out_only_what_a_host_can_take_now() -> None:
    """The scheduler behind case 3: a full or paused host's items stay queued while other hosts' items
    are handed out; a retry comes back at its time, before the host's newer items."""
    from molmo2_data.download.schedule import Entry, HostSchedule

    s = HostSchedule(per_host=2)
    a = [Entry(f"a{i}", f"http://a/{i}", "a") for i in range(4)]
    b = [Entry(f"b{i}", f"http://b/{i}", "b") for i in range(2)]
    for e in a + b:
        s.add(e, 0.0)
    got = [s.take(0.0) for _ in range(5)]
    assert [e.item if e else None for e in got] == ["a0", "b0", "a1", "b1", None]  # a is at its limit of 2
    s.pause("a", 10.0)
    s.finished(got[0], 1.0)
    assert s.take(1.0) is None  # a has a free slot but is paused
    s.retry_at(got[0], 5.0)
    assert s.next_due() == 5.0 and not s.idle()
    assert s.take(9.9) is None  # the retry is back in a's queue, a still paused
    assert s.take(10.0).item == "a0" and s.take(10.0) is None  # retried first; a full again (a0, a1)
    assert [e.item for e in s.drain("a")] == ["a2", "a3"] and s.queued == 0


@pytest.mark.parametrize("argv,message", [
    (["--datasets", "pixmo-nope"], "error: --datasets: unknown dataset 'pixmo-nope'; did you mean"),
    (["--datasets", " , "], "error: --datasets names no dataset: ' , '"),
    (["--datasets", DATASET, "--root", "FILE"], "error: --root FILE is not a directory"),
])
def test_bad_dataset_names_and_root_exit_2(argv: list[str], message: str, tmp_path: Path, capsys) -> None:
    from molmo2_data.cli.main import main

    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    argv = [str(a_file) if a == "FILE" else a for a in argv]
    assert main(["download", "--check", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(message.replace("FILE", str(a_file)))


def test_url_column_of_the_wrong_type_is_a_schema_error(tmp_path: Path, capsys) -> None:
    """A local table whose image_url column holds numbers: a SchemaError naming table and column for
    that dataset (exit 1), not an Arrow traceback."""
    root = tmp_path / "r"
    write_table(pa.table({"image_url": [1, 2], "image_sha256": ["a", "b"], "question": ["q", "q"],
                          "answer": ["a", "a"]}), paths.table_path(DATASET, "default", "train", root))
    assert run_cli(["--root", str(root), "--datasets", DATASET, "--skip-tables", "--quiet"]) == 1
    out = capsys.readouterr().out
    assert f"error: {paths.table_path(DATASET, 'default', 'train', root)}: column 'image_url' must hold strings, " \
           "has int64" in out


def test_wait_status_of_worker_processes_is_merged() -> None:
    """With --procs N each worker reports what it waits on; the user sees one view."""
    from molmo2_data.download.waiting import WaitStatus

    a = WaitStatus(in_flight=2, slowest=[("http://a/1", 30.0), ("http://a/2", 2.0)], paused={"h:1": 100.0},
                   retrying=1, queued_paused=5)
    b = WaitStatus(in_flight=3, slowest=[("http://b/1", 50.0), ("http://b/2", 12.0), ("http://b/3", 1.0)],
                   paused={"h:1": 160.0, "g:2": 50.0}, retrying=2, queued_paused=7)
    m = WaitStatus.merge([a, b])
    assert (m.in_flight, m.retrying, m.queued_paused) == (5, 3, 12)
    assert m.slowest == [("http://b/1", 50.0), ("http://a/1", 30.0), ("http://b/2", 12.0)]
    assert m.paused == {"h:1": 160.0, "g:2": 50.0}
    text = m.describe(min_age=20.0)
    assert text.startswith("5 in flight, slowest: http://b/1 (50 s), http://a/1 (30 s); paused: g:2 until ")
    assert text.endswith("(12 URLs wait); 3 waiting to retry")
    assert WaitStatus(in_flight=4, slowest=[("http://x", 1.0)]).describe(min_age=10.0) == ""
