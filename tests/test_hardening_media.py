"""Issue #12, media decode / sample writer / eval: every bad input gives a typed error or a counted skip,
never a hang. Real files, real FIFOs, real PyAV videos, real subprocesses."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import threading
import zlib
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from molmo2_data.errors import ConfigError, MediaDecodeError, MediaError
from molmo2_data.media import limits
from molmo2_data.media.image import decode_image, decode_image_draft, encode_png, image_size
from molmo2_data.media.video import probe_video, read_frames_at

BOUND_S = 10.0


def write_video(path: Path, w: int = 64, h: int = 48, n: int = 6, fps: int = 5) -> Path:
    """A real H.264 (MP4) or MPEG-4 (MKV) stream of flat frames whose colour encodes the frame index."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264" if path.suffix == ".mp4" else "mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for k in range(n):
            rgb = np.full((h, w, 3), (20 + 40 * k) % 256, np.uint8)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, frame.time_base = k, Fraction(1, fps)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` RGB but whose data is one tiny row: decoding it would
    allocate width*height*3 bytes before finding out, reading the header costs nothing."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + chunk(b"IEND", b""))


def run_bounded(fn, release: Path | None = None):
    """Run ``fn`` in a thread; fail (instead of hanging the suite) when it does not return in BOUND_S. A FIFO
    reader left blocked is released by opening the FIFO for writing."""
    out: dict = {}

    def target():
        try:
            out["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed to the test
            out["error"] = e

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(BOUND_S)
    if t.is_alive():
        if release is not None:
            fd = os.open(release, os.O_WRONLY | os.O_NONBLOCK)
            os.close(fd)
        t.join(2)
        pytest.fail(f"media read still blocked after {BOUND_S} s")
    return out


# ------------------------------------------------------------------------------------------------
# 1. FIFOs and devices are refused without being opened
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("reader", ["decode_image", "image_size", "decode_image_draft"])
def test_fifo_image_is_refused_not_hung(tmp_path, reader):
    fifo = tmp_path / "photo.jpg"
    os.mkfifo(fifo)
    fn = {"decode_image": lambda: decode_image(fifo), "image_size": lambda: image_size(fifo),
          "decode_image_draft": lambda: decode_image_draft(fifo, (8, 8))}[reader]
    out = run_bounded(fn, release=fifo)
    err = out.get("error")
    assert isinstance(err, MediaDecodeError), out
    assert str(err).startswith("not a regular file: fifo")
    assert err.path == str(fifo)


@pytest.mark.parametrize("reader", ["probe_video", "read_frames_at"])
def test_fifo_video_is_refused_not_hung(tmp_path, reader):
    fifo = tmp_path / "clip.mp4"
    os.mkfifo(fifo)
    fn = (lambda: probe_video(fifo)) if reader == "probe_video" else (lambda: read_frames_at(fifo, [0.0]))
    out = run_bounded(fn, release=fifo)
    err = out.get("error")
    assert isinstance(err, MediaDecodeError), out
    assert str(err).startswith("not a regular file: fifo")
    assert err.path == str(fifo)


def test_fifo_through_the_example_api_is_a_media_error(tmp_path):
    from molmo2_data.example import ImageRef, VideoRef
    from molmo2_data.vision import VisionPreprocessor

    fifo = tmp_path / "f.png"
    os.mkfifo(fifo)
    out = run_bounded(lambda: ImageRef(path=str(fifo)).load(), release=fifo)
    assert isinstance(out.get("error"), MediaError) and "fifo" in str(out["error"])
    vfifo = tmp_path / "f.mkv"
    os.mkfifo(vfifo)
    out = run_bounded(lambda: VisionPreprocessor()(VideoRef(path=str(vfifo))), release=vfifo)
    assert isinstance(out.get("error"), MediaError) and "fifo" in str(out["error"])


def test_device_and_directory_are_refused_unopened(tmp_path):
    # /dev/zero never ends: opening and reading it as a video would spin; it is refused from its stat
    with pytest.raises(MediaDecodeError, match=r"^not a regular file: character device: /dev/zero"):
        decode_image("/dev/zero")
    with pytest.raises(MediaDecodeError, match=r"^not a regular file: character device"):
        probe_video("/dev/zero")
    with pytest.raises(MediaDecodeError, match=r"^not a regular file: directory"):
        decode_image(tmp_path)


# ------------------------------------------------------------------------------------------------
# 2. One pixel limit, checked from the header before decoding (images and video frames)
# ------------------------------------------------------------------------------------------------


def test_png_bomb_below_twice_pillows_limit_is_refused_from_the_header(tmp_path):
    # 20000 x 20000 = 400 MP: above our 268 MP default, below 2x Pillow's limit (where it only warned)
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_header_only(20000, 20000))
    with pytest.raises(MediaDecodeError) as info:
        decode_image(bomb)
    msg = str(info.value)
    assert msg.startswith("image too large: 20000 x 20000 = 400000000 pixels > limit 268435456")
    assert "MOLMO2_DATA_MAX_PIXELS" in msg and info.value.path == str(bomb)
    with pytest.raises(MediaDecodeError, match="image too large"):
        decode_image(bomb.read_bytes())
    with pytest.raises(MediaDecodeError, match="image too large"):
        decode_image_draft(bomb, (64, 64))
    assert image_size(bomb) == (20000, 20000)  # the header alone is harmless


def test_bomb_refusal_allocates_nothing(tmp_path):
    """In a fresh process: the peak RSS (VmHWM: ru_maxrss would start from the parent's peak) stays far
    below the 1.2 GB the decode would take."""
    if not Path("/proc/self/status").exists():
        pytest.skip("needs /proc (Linux)")
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_header_only(20000, 20000))
    code = ("import re, sys\n"
            "from molmo2_data.media.image import decode_image\n"
            "from molmo2_data.errors import MediaDecodeError\n"
            "try:\n    decode_image(sys.argv[1])\nexcept MediaDecodeError as e:\n    print('refused', e)\n"
            "hwm = re.search(r'VmHWM:\\s+(\\d+) kB', open('/proc/self/status').read()).group(1)\n"
            "print('maxrss_kb', hwm)\n")
    r = subprocess.run([sys.executable, "-c", code, str(bomb)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "refused image too large" in r.stdout
    maxrss_mb = int(r.stdout.split("maxrss_kb")[1]) / 1024
    assert maxrss_mb < 400, maxrss_mb


def test_pixel_limit_env_function_and_argument(tmp_path, monkeypatch):
    png = tmp_path / "small.png"
    png.write_bytes(encode_png(np.zeros((100, 200, 3), np.uint8)))  # 20000 pixels
    assert decode_image(png).shape == (100, 200, 3)
    monkeypatch.setenv(limits.ENV_VAR, "19999")
    with pytest.raises(MediaDecodeError, match=r"image too large: 200 x 100 = 20000 pixels > limit 19999"):
        decode_image(png)
    assert decode_image(png, max_pixels=20000).shape == (100, 200, 3)  # the argument beats the env
    limits.set_max_pixels(20000)
    try:
        assert decode_image(png).shape == (100, 200, 3)  # the function beats the env
        with pytest.raises(MediaDecodeError, match="> limit 100"):
            decode_image(png, max_pixels=100)
    finally:
        limits.set_max_pixels(None)
    monkeypatch.setenv(limits.ENV_VAR, "lots")
    with pytest.raises(ConfigError, match="MOLMO2_DATA_MAX_PIXELS must be a positive integer"):
        decode_image(png)
    with pytest.raises(ConfigError):
        limits.set_max_pixels(0)


def test_video_frame_size_above_the_limit_is_refused_before_decoding(tmp_path, monkeypatch):
    from molmo2_data.example import VideoRef
    from molmo2_data.vision import VisionPreprocessor

    path = write_video(tmp_path / "v.mp4", w=64, h=48)  # 3072 pixels a frame
    assert probe_video(path).width == 64
    frames, _ = read_frames_at(path, [0.0, 0.5])
    assert frames.shape == (2, 48, 64, 3)
    with pytest.raises(MediaDecodeError, match=r"^video frame too large: 64 x 48 = 3072 pixels > limit 3000"):
        probe_video(path, max_pixels=3000)
    with pytest.raises(MediaDecodeError, match=r"^video frame too large: 64 x 48") as info:
        read_frames_at(path, [0.0], max_pixels=3000)
    assert info.value.path == str(path)
    monkeypatch.setenv(limits.ENV_VAR, "3000")  # the same limit as images, through the preprocessor too
    with pytest.raises(MediaDecodeError, match="video frame too large"):
        VisionPreprocessor()(VideoRef(path=str(path)))
    for mode in ("plan", "sequential", "seek_each"):
        with pytest.raises(MediaDecodeError, match="video frame too large"):
            read_frames_at(path, [0.2], mode=mode)


# ------------------------------------------------------------------------------------------------
# 3. Eval: malformed prediction lines are counted and listed, each (index, annotation, turn) scored once
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def eval_root(tmp_path_factory) -> Path:
    from molmo2_data.sample import write_sample

    root = tmp_path_factory.mktemp("eval_root")
    write_sample(root, datasets=["pixmo-cap-qa", "pixmo-count"], progress=False)
    return root


def _bad_predictions_file(path: Path, answer0: str, answer2: str) -> dict[int, str]:
    """Writes the lines below (line number -> expected reason category); returns that map."""
    lines: list[tuple[bytes, str | None]] = [
        (json.dumps({"index": 0, "prediction": answer0}).encode(), None),                       # 1 scored
        (json.dumps({"index": 0, "annotation": "abc", "prediction": "x"}).encode(), "annotation is not an integer"),
        (json.dumps({"index": 0, "annotation": None, "prediction": "x"}).encode(), "annotation is not an integer"),
        (b'{"index": 1, "prediction": "caf\xe9"}', "line is not UTF-8"),                         # latin-1 byte
        (json.dumps({"index": 0, "turn": 5, "prediction": "x"}).encode(), "turn out of range"),
        (json.dumps({"index": 0, "turn": 9, "prediction": "x"}).encode(), "turn out of range"),
        (json.dumps({"index": 0, "turn": 2, "prediction": answer2}).encode(), None),            # 7 scored
        (json.dumps({"index": 0, "turn": 2, "prediction": "other"}).encode(), "duplicate prediction (first kept)"),
        (json.dumps({"index": "3", "prediction": "x"}).encode(), "line without integer index and string prediction"),
        (json.dumps({"index": 1, "prediction": 5}).encode(), "line without integer index and string prediction"),
        (json.dumps({"index": 1, "turn": "1", "prediction": "x"}).encode(), "turn is not an integer"),
        (json.dumps({"index": 1, "turn": -1, "prediction": "x"}).encode(), "turn out of range"),
        (json.dumps({"index": True, "prediction": "x"}).encode(), "line without integer index and string prediction"),
        (b"", None),
        (b"[1, 2]", "line without integer index and string prediction"),
        (b"[" * 100_000, "invalid JSON line"),
        (json.dumps({"index": 10_000, "prediction": "x"}).encode(), "index out of range"),
        (json.dumps({"index": 0, "annotation": 3, "prediction": "x"}).encode(), "annotation index out of range"),
        (b"{not json", "invalid JSON line"),
    ]
    path.write_bytes(b"\n".join(raw for raw, _ in lines) + b"\n")
    return {n: why for n, (_, why) in enumerate(lines, start=1) if why is not None}


def test_eval_malformed_lines_counted_listed_and_scored_once(eval_root, tmp_path):
    from collections import Counter

    from molmo2_data import get_dataset
    from molmo2_data.eval.runner import evaluate

    ann = get_dataset("pixmo-cap-qa", split="train", root=eval_root).example(0).annotations[0]
    pairs = [m.content for m in ann.messages if m.role != "system"]
    assert len(pairs) == 6  # three question/answer pairs: turns 0, 1, 2
    path = tmp_path / "preds.jsonl"
    expected = _bad_predictions_file(path, pairs[1], pairs[5])
    report = evaluate("pixmo-cap-qa", "train", path, root=eval_root)
    assert [(r["index"], r["reference"]) for r in report["records"]] == [(0, pairs[1]), (0, pairs[5])]
    assert report["scored"] == 2 and report["overall"]["score"] == 1.0
    assert report["errors"] == dict(Counter(expected.values()))
    listed = {x["line"]: x["reason"] for x in report["malformed"]}
    assert sorted(listed) == sorted(expected)
    for n, why in expected.items():
        assert listed[n].startswith(why), (n, listed[n])
    assert listed[2] == 'annotation is not an integer: annotation is string "abc"'
    assert listed[3] == "annotation is not an integer: annotation is null"
    assert listed[4] == "line is not UTF-8: byte 0xe9 at column 32"
    assert listed[6] == "turn out of range: turn 9, annotation 0 of example 0 has 3"
    assert report["predictions"] == 18  # every non-blank line


def test_eval_python_api_checks_dicts_too(eval_root):
    from molmo2_data.eval.predictions import PredictionsError
    from molmo2_data.eval.runner import evaluate, score_annotation

    preds = [{"index": 0, "annotation": None, "prediction": "x"}, {"index": 0, "turn": 7, "prediction": "x"},
             {"index": 0, "prediction": "x"}]
    report = evaluate("pixmo-cap-qa", "train", preds, root=eval_root)
    assert report["scored"] == 1
    assert [x["line"] for x in report["malformed"]] == [1, 2]
    from molmo2_data import get_dataset

    ex = get_dataset("pixmo-cap-qa", split="train", root=eval_root).example(0)
    with pytest.raises(PredictionsError, match="turn 3 out of range: the conversation has 3"):
        score_annotation(ex.annotations[0], "x", ex, turn=3)


def test_eval_cli_prints_malformed_lines_and_validates_flags(eval_root, tmp_path, capsys):
    from molmo2_data.cli.main import main

    path = tmp_path / "preds.jsonl"
    _bad_predictions_file(path, "a", "b")
    assert main(["eval", "--dataset", "pixmo-cap-qa", "--split", "train", "--predictions", str(path),
                 "--root", str(eval_root), "--show-malformed", "3"]) == 0
    out = capsys.readouterr().out
    assert "  line 2: annotation is not an integer: annotation is string \"abc\"\n" in out
    assert "  line 4: line is not UTF-8: byte 0xe9 at column 32\n" in out
    assert "  ... and 13 more (all listed under \"malformed\" in the JSON report)" in out
    saved = json.loads(Path(f"{path}.eval.json").read_text())
    assert len(saved["malformed"]) == 16 and saved["scored"] == 2
    capsys.readouterr()
    assert main(["eval", "--dataset", "pixmo-cap-qa", "--split", "train", "--predictions", str(path),
                 "--root", str(eval_root), "--json", str(tmp_path / "no" / "dir" / "r.json")]) == 1
    assert capsys.readouterr().err.startswith(f"error: cannot write the report: {tmp_path / 'no' / 'dir' / 'r.json'}")
    for argv in (["--predictions", str(tmp_path / "missing.jsonl")],
                 ["--predictions", str(path), "--html-examples", "-1"]):
        with pytest.raises(SystemExit) as info:
            main(["eval", "--dataset", "pixmo-cap-qa", "--root", str(eval_root), *argv])
        assert info.value.code == 2


# ------------------------------------------------------------------------------------------------
# 4. Sample writer: atomic writes, unique temp names, hard links replaced by rename
# ------------------------------------------------------------------------------------------------

SAMPLE_SETS = "pixmo-cap,pixmo-points,pixmo-clocks,molmo2-videotrack"


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def sample_reference(tmp_path_factory) -> dict[str, bytes]:
    from molmo2_data.sample import write_sample

    root = tmp_path_factory.mktemp("sample_ref")
    write_sample(root, seed=3, datasets=SAMPLE_SETS.split(","), progress=False)
    return _tree(root)


def test_two_concurrent_sample_processes_into_one_dir(tmp_path, sample_reference):
    out = tmp_path / "shared"
    cmd = [sys.executable, "-c", "from molmo2_data.cli.main import main; raise SystemExit(main())",
           "sample", "--out", str(out), "--seed", "3", "--datasets", SAMPLE_SETS, "--quiet"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    assert [rc for rc, _ in results] == [0, 0], results
    got = _tree(out)
    assert sorted(got) == sorted(sample_reference)  # complete, and no temp file left behind
    assert [k for k in got if got[k] != sample_reference[k]] == []


def test_concurrent_sample_threads_into_one_dir(tmp_path, sample_reference):
    from molmo2_data.sample import write_sample

    errors: list[BaseException] = []

    def run() -> None:
        try:
            write_sample(tmp_path, seed=3, datasets=SAMPLE_SETS.split(","), progress=False)
        except BaseException as e:  # noqa: BLE001 - collected for the assertion
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == [] and not any(t.is_alive() for t in threads)
    got = _tree(tmp_path)
    assert sorted(got) == sorted(sample_reference)
    assert [k for k in got if got[k] != sample_reference[k]] == []


def test_add_url_file_replaces_a_hard_linked_image_by_rename(tmp_path):
    from molmo2_data import paths
    from molmo2_data.sample.context import SampleContext

    ctx = SampleContext(root=tmp_path, seed=0)
    url = ctx.add_url_file("set/0001.jpg", b"first version")
    store = paths.url_image_path(url, tmp_path)
    www = tmp_path / "www" / "set" / "0001.jpg"
    assert os.stat(store).st_ino == os.stat(www).st_ino  # published as one inode, two names
    with open(store, "rb") as reader:  # a loader holding the file of the previous run
        old_inode = os.fstat(reader.fileno()).st_ino
        ctx.add_url_file("set/0001.jpg", b"second version")
        assert reader.read() == b"first version"  # the open inode was not rewritten in place
    assert os.stat(store).st_ino != old_inode and os.stat(store).st_ino == os.stat(www).st_ino
    assert store.read_bytes() == www.read_bytes() == b"second version"
    assert sorted(p.name for p in www.parent.iterdir()) == ["0001.jpg"]  # no temp file left


def test_sample_cli_bad_arguments_are_one_line_errors(tmp_path, capsys):
    from molmo2_data.cli.main import main

    assert main(["sample", "--out", str(tmp_path / "s"), "--datasets", "pixmo-cpa", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no sample writer for 'pixmo-cpa'; did you mean 'pixmo-cap'")
    afile = tmp_path / "file"
    afile.write_text("x")
    assert main(["sample", "--out", str(afile), "--datasets", "pixmo-cap", "--quiet"]) == 2
    assert "exists and is not a directory" in capsys.readouterr().err
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if not os.access(locked, os.W_OK):  # root ignores permissions
            assert main(["sample", "--out", str(locked), "--datasets", "pixmo-cap", "--quiet"]) == 1
            assert capsys.readouterr().err.startswith(f"error: cannot write sample data to {locked}: Permission denied")
    finally:
        locked.chmod(0o700)
    with pytest.raises(SystemExit) as info:
        main(["sample", "--seed", "-1"])
    assert info.value.code == 2


def test_rle_masks_are_bounded_and_typed(monkeypatch):
    """A tiny RLE can claim a huge mask: the pixel limit applies to masks too; malformed RLEs are
    SchemaErrors (counted by the eval runner), never TypeError / UnicodeDecodeError / MemoryError."""
    from molmo2_data.errors import SchemaError
    from molmo2_data.media import rle

    square = rle.encode(np.ones((100, 100), bool))
    assert rle.decode(square).sum() == 10_000
    monkeypatch.setenv(limits.ENV_VAR, "9999")
    with pytest.raises(rle.RLEError, match=r"^mask too large: 100 x 100 = 10000 pixels > limit 9999"):
        rle.decode(square)
    monkeypatch.delenv(limits.ENV_VAR)
    for bad, why in (({"size": [2, 2], "counts": b"\xff"}, "ascii"), ({"size": [2, 2], "counts": ["a"]}, "int"),
                     ({"size": [2, 2], "counts": None}, "iterable"), ({"size": [-2, -2], "counts": [4]}, "negative"),
                     ({"size": [2, 2], "counts": [float("inf")]}, "infinity")):
        with pytest.raises(SchemaError, match=why):
            rle.decode(bad)


def test_media_errors_name_their_file(tmp_path):
    """Every media error carries ``.path`` (the loader's skip report lists it), also through a symlink."""
    good = write_video(tmp_path / "v.mkv", n=10)
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(good.read_bytes()[:300])
    with pytest.raises(MediaError) as info:
        read_frames_at(cut, [0.0, 1.5])
    assert info.value.path == str(cut)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    link = tmp_path / "link.jpg"
    link.symlink_to(fifo)
    with pytest.raises(MediaDecodeError, match="^not a regular file: fifo") as info:
        decode_image(link)
    assert info.value.path == str(link)
    with pytest.raises(MediaError) as info:
        decode_image(tmp_path / "missing.png")
    assert isinstance(info.value, FileNotFoundError) and info.value.path == str(tmp_path / "missing.png")
