"""One video's preparation: the task function that ``prepare videos`` runs on the local or Ray engine.

What the prepared file holds, and why it is exact. The loader samples a whole video at the times
``0, 1/fps, 2/fps, ... < duration`` plus the end (``sample_times``), decoding at each the frame displayed
then (``read_frames_at``: the last frame whose time is <= t). This task picks, by the same rule and from
the source's packet times, the source frame displayed at each of those times, and writes each picked
frame once: at the first grid time k/fps it is shown, and the last frame (the one shown at the end) at its
own time. The prepared stream lasts exactly as long as the source. So the loader, reading the prepared
file, computes the same sample times and gets the same source frame at each; ``holds_times`` in
``vision/video.py`` names the times this holds for (others are read from the original).

Pixels: the decoded YUV frames go to the encoder untouched (no colour conversion), with the source's
colour tags. The default is lossless H.264 (``qp 0``): the prepared frames decode to the source frames
bit for bit, so preparing never changes a training batch. ``crf > 0`` trades that for smaller files
(a lossy second generation; see docs/prepare.md for measured PSNR).

Determinism: one encoder thread and ``fflags +bitexact``, so the bytes depend only on the source and the
settings, whichever node encodes. Lossless x264 gave the same bytes with and without its assembly; lossy
x264 did not, so lossy encodes run without assembly (``asm=0``, as ``sample/video_sets.encode_video``).

Crash safety: the output is written under a temp name and renamed (``sample.atomic``), so a reader sees
the old file or the complete new one; a task run again after a crash rewrites the same bytes. Every
output carries a tag (container comment) naming its source stamp and settings, so a complete output whose
manifest line was lost in a crash is recognised and kept, and a file this tool did not write is never
overwritten without ``force``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av
import numpy as np

from molmo2_data.media.video import probe_video
from molmo2_data.sample.atomic import atomic_path
from molmo2_data.vision.video import decode_times, sample_times

TOOL = "molmo2-data prepare videos v1"
KEYFRAME_SECONDS = 5.0  # a keyframe every 5 s of prepared video: cheap seeks for clips, little size cost
X264_FORMATS = frozenset({"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12", "nv16",
                          "nv21", "yuv420p10le", "yuv422p10le", "yuv444p10le", "gray", "gray10le"})


@dataclass(frozen=True)
class VideoTask:
    """One source video to prepare. Paths are relative to ``root`` (every worker sees the root at the same
    path); ``previous`` is the manifest's latest record of this source, if any."""

    root: str
    source: str
    output: str
    fps: float = 2.0
    crf: int = 0
    force: bool = False
    previous: dict[str, Any] | None = None


class Failed(Exception):
    """A video that cannot be prepared; the message is its manifest reason ("kind: detail")."""


@dataclass
class FramePlan:
    """Which source frames go where: ``picks`` = (source pts, output tick) in order; output ticks are in
    units of 1/``rate`` s. ``expected[i]`` = output tick of the frame the loader must get at ``queries[i]``."""

    duration: float
    source_frames: int
    picks: list[tuple[int, int]]
    rate: int
    duration_ticks: int
    queries: np.ndarray
    expected: np.ndarray


def prepare_video(task: VideoTask) -> dict[str, Any]:
    """Prepare one video; never raises for a bad source. Returns its manifest record: ``status`` ok /
    unneeded (the source has no more frames than the prepared copy would) / failed (``reason``), and
    ``unchanged`` True when the manifest already holds this very record (nothing was done)."""
    t0 = time.perf_counter()
    src, out = os.path.join(task.root, task.source), os.path.join(task.root, task.output)
    rec: dict[str, Any] = {"source": task.source, "output": task.output, "fps": task.fps, "crf": task.crf,
                           "source_size": 0, "source_mtime_ns": 0}
    try:
        st = os.stat(src)
    except OSError as e:
        return _done(rec, t0, "failed", f"source unreadable: {e.strerror or e}")
    rec.update(source_size=st.st_size, source_mtime_ns=st.st_mtime_ns)
    tag = _tag(rec)
    try:
        reused = None if task.force else _reuse(task, rec, tag, t0)
        if reused is not None:
            return reused
        plan = plan_frames(src, task.fps)
        if len(plan.picks) >= plan.source_frames:
            _drop_ours(out)
            return _done(rec, t0, "unneeded", f"the source has {plan.source_frames} frames, no more than "
                         f"a {task.fps:g} fps copy would", frames=plan.source_frames, duration=plan.duration)
        with atomic_path(out) as tmp:
            encode(src, str(tmp), plan, task.fps, task.crf, tag)
            check_output(str(tmp), plan)  # before the rename: a wrong file never gets the final name
        return _finish(rec, t0, out, plan)
    except Failed as e:
        reason = str(e)
    except Exception as e:  # noqa: BLE001 - a corrupt or odd source is a counted failure, never a crash
        reason = f"cannot decode or encode: {type(e).__name__}: {e}"
    if not reason.startswith("output exists"):
        _drop_ours(out, keep=tag)  # a stale copy of ours would give the loader frames of an old source
    return _done(rec, t0, "failed", reason)


def _reuse(task: VideoTask, rec: dict[str, Any], tag: dict[str, Any], t0: float) -> dict[str, Any] | None:
    """The record to return without encoding, or None to (re)encode. Raises Failed for an output that
    someone else wrote."""
    src, out = os.path.join(task.root, task.source), os.path.join(task.root, task.output)
    prev = task.previous if _matches(task.previous, rec) else None
    if prev is not None and (prev["status"] == "unneeded" or
                             (os.path.isfile(out) and sha256_file(out) == prev["sha256"])):
        return {**prev, "unchanged": True}
    if prev is not None or not os.path.isfile(out):
        return None  # nothing there, or ours by the record but changed since: (re)encode
    found = read_tag(out)
    if found is None or found.get("tool") != TOOL:
        raise Failed(f"output exists and was not written by prepare videos: {task.output} (--force replaces it)")
    if found != tag:
        return None  # ours, for an older source or other settings
    plan = plan_frames(src, task.fps)  # ours and complete (renamed), its manifest line lost in a crash
    try:
        check_output(out, plan)
    except Failed:
        return None
    return _finish(rec, t0, out, plan)


def _matches(prev: dict[str, Any] | None, rec: dict[str, Any]) -> bool:
    """Does the previous record describe this source (same size and mtime) with these settings?"""
    return prev is not None and prev.get("status") in ("ok", "unneeded") and all(
        prev.get(k) == rec[k] for k in ("source", "output", "fps", "crf", "source_size", "source_mtime_ns"))


def _finish(rec: dict[str, Any], t0: float, out: str, plan: FramePlan) -> dict[str, Any]:
    return _done(rec, t0, "ok", "", sha256=sha256_file(out), bytes=os.path.getsize(out), frames=len(plan.picks),
                 duration=plan.duration, source_frames=plan.source_frames)


def _done(rec: dict[str, Any], t0: float, status: str, reason: str, **extra: Any) -> dict[str, Any]:
    return {**rec, "status": status, "reason": reason, "sha256": "", "bytes": 0, **extra,
            "seconds": round(time.perf_counter() - t0, 3), "time": time.time(), "unchanged": False}


def _tag(rec: dict[str, Any]) -> dict[str, Any]:
    return {"tool": TOOL, "source": os.path.basename(rec["source"]), "source_size": rec["source_size"],
            "source_mtime_ns": rec["source_mtime_ns"], "fps": rec["fps"], "crf": rec["crf"]}


def read_tag(path: str) -> dict[str, Any] | None:
    """The tag a prepared file carries (None for a file without one or not readable)."""
    try:
        with av.open(path) as c:
            comment = c.metadata.get("comment", "")
    except Exception:  # noqa: BLE001 - unreadable: not ours as far as we can tell
        return None
    try:
        tag = json.loads(comment)
    except ValueError:
        return None
    return tag if isinstance(tag, dict) else None


def _drop_ours(out: str, keep: dict[str, Any] | None = None) -> None:
    """Remove an output this tool wrote (unless it carries tag ``keep``); other files are left alone."""
    if os.path.isfile(out):
        tag = read_tag(out)
        if tag is not None and tag.get("tool") == TOOL and tag != keep:
            os.unlink(out)


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def pick_rule(pts: np.ndarray, start: int, time_base: Fraction, queries: np.ndarray) -> np.ndarray:
    """Pts of the frame displayed at each query time (seconds from ``start``), by the reader's rule
    (``media.video._Request``: the last pts <= start + t / time_base + 1e-3, the first frame before it)."""
    tp = start + queries / float(time_base) + 1e-3
    pos = np.searchsorted(pts, tp, side="right") - 1
    return pts[np.maximum(pos, 0)]


def _stream_pts(path: str) -> tuple[np.ndarray, int, Fraction]:
    """Sorted distinct packet pts of the first video stream, its start and time base (demux only)."""
    with av.open(path) as c:
        stream = c.streams.video[0]
        pts = np.unique(np.fromiter((p.pts for p in c.demux(stream) if p.size and p.pts is not None),
                                    dtype=np.int64))
        start = stream.start_time
        tb = stream.time_base
    if not len(pts) or tb is None:
        raise Failed(f"no video packets with times in {os.path.basename(path)}")
    return pts, int(pts[0] if start is None else start), Fraction(tb)


def plan_frames(src: str, fps: float) -> FramePlan:
    """The loader's sample times for the whole video, the source frame shown at each, and the ticks they
    get in the prepared file."""
    try:
        info = probe_video(src)
    except Exception as e:  # noqa: BLE001
        raise Failed(f"corrupt source: {e}") from None
    if info.duration <= 0 or info.num_frames <= 0:
        raise Failed("corrupt source: zero-length video")
    times = sample_times(info.duration, fps, max_frames=2**62)  # the grid, then the end
    queries = decode_times(times, 0.0, info.duration)
    try:
        pts, start, tb = _stream_pts(src)
    except (av.error.FFmpegError, IndexError) as e:
        raise Failed(f"corrupt source: {e}") from None
    chosen = pick_rule(pts, start, tb, queries)
    period = 1 / Fraction(fps).limit_denominator(1000)
    rate = math.lcm(period.denominator, tb.denominator)
    if round(info.duration * rate) / rate != info.duration:  # not on this clock, e.g. a Matroska duration in µs
        rate = math.lcm(rate, 1_000_000)
    ticks: dict[int, int] = {}
    for i, c in enumerate(chosen.tolist()):
        if c in ticks:
            continue
        if i < len(times) - 1:  # a grid time k / fps
            ticks[c] = int(i * period * rate)
        else:  # the end: the last frame, at its own time
            ticks[c] = int((c - start) * tb * rate)
    expected = np.array([ticks[c] for c in chosen.tolist()], dtype=np.int64)
    duration_ticks = round(info.duration * rate)
    if expected[-1] >= duration_ticks or np.any(np.diff(expected) < 0):
        raise Failed(f"odd frame times: cannot place the frames of {os.path.basename(src)} in its duration")
    return FramePlan(info.duration, len(pts), sorted(ticks.items()), rate, duration_ticks, queries, expected)


def x264_options(fps: float, crf: int) -> dict[str, str]:
    """Encoder settings: lossless (``qp 0``, CAVLC: lossless CABAC decodes ~3x slower) or ``crf``; no
    B-frames (packets in display order, closed GOPs for the reader's plan); one thread."""
    keyint = max(1, round(KEYFRAME_SECONDS * fps))
    # x264's own names: the wrapper has no "bframes" option (FFmpeg's is "bf"; unknown ones are ignored)
    params = f"bframes=0:keyint={keyint}:min-keyint={keyint}:scenecut=0"
    common = {"preset": "veryfast", "threads": "1"}
    if crf == 0:
        return {**common, "qp": "0", "x264-params": params + ":cabac=0"}
    return {**common, "crf": str(crf), "x264-params": params + ":asm=0"}


def encode(src: str, dst: str, plan: FramePlan, fps: float, crf: int, tag: dict[str, Any]) -> None:
    """Decode the source once and encode the picked frames (as decoded, YUV) at their output ticks."""
    wanted = dict(plan.picks)
    tb = Fraction(1, plan.rate)
    with av.open(src) as inp, av.open(dst, "w", format="mp4", container_options={"fflags": "+bitexact"},
                                      options={"use_editlist": "0"}) as out:
        ist = inp.streams.video[0]
        ist.codec_context.thread_count = 1
        out.metadata["comment"] = json.dumps(tag, sort_keys=True, separators=(",", ":"))
        ost = None
        held: list[Any] = []  # the last packet, muxed once the next one gives its duration

        def mux(packets: list) -> None:
            for pkt in packets:
                if held:
                    held[0].duration = pkt.pts - held[0].pts
                    out.mux(held.pop())
                held.append(pkt)

        for frame in inp.decode(ist):
            if frame.pts is None or frame.pts not in wanted:
                continue
            if ost is None:
                ost = _open_stream(out, frame, fps, crf, tb)
            frame.pts, frame.time_base = wanted.pop(frame.pts), tb
            frame.pict_type = av.video.frame.PictureType.NONE  # keyframes where we choose, not the source's
            mux(ost.encode(frame))
            if not wanted:
                break
        if wanted:
            first = min(wanted)
            raise Failed(f"corrupt source: {len(wanted)} sampled frames could not be decoded "
                         f"(first at pts {first})")
        assert ost is not None
        mux(ost.encode(None))
        if held:
            held[0].duration = plan.duration_ticks - held[0].pts
            out.mux(held.pop())


def _open_stream(out: Any, frame: Any, fps: float, crf: int, tb: Fraction) -> Any:
    fmt = frame.format.name
    if fmt not in X264_FORMATS:
        raise Failed(f"unsupported pixel format: {fmt} (H.264 cannot store it as decoded)")
    ost = out.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
    ost.width, ost.height, ost.pix_fmt = frame.width, frame.height, fmt
    cc = ost.codec_context
    cc.time_base, ost.time_base = tb, tb
    # the colour tags decide the YUV -> RGB conversion of the decoded frames: keep the source's
    cc.color_range, cc.colorspace = frame.color_range, frame.colorspace
    cc.color_primaries, cc.color_trc = frame.color_primaries, frame.color_trc
    cc.thread_count = 1
    ost.options = x264_options(fps, crf)
    return ost


def check_output(path: str, plan: FramePlan) -> None:
    """The written file, read back without decoding: same duration (so the same sample times), and at
    each sample time the reader's rule picks the frame meant for it."""
    info = probe_video(path)
    if info.duration != plan.duration:
        raise Failed(f"internal: prepared duration {info.duration!r} s != source {plan.duration!r} s")
    pts, start, tb = _stream_pts(path)
    got = pick_rule(pts, start, tb, plan.queries)
    got_ticks = np.array([int((p - start) * tb * plan.rate) for p in got.tolist()], dtype=np.int64)
    if not np.array_equal(got_ticks, plan.expected) or len(pts) != len(plan.picks):
        raise Failed("internal: the prepared frame times do not reproduce the sampled frames")
