"""Video probing and frame access with PyAV (which bundles FFmpeg).

"The frame at time t" is the frame *displayed* at t: the last frame whose presentation time
(relative to the stream's start time) is <= t; times before the first frame give the first frame and
times after the last frame give the last one. This is right for variable frame rate and for streams
whose first pts is not 0.

``read_frames_at`` decodes with a keyframe-aware plan (mode ``"plan"``, the default):

* packets are demuxed (cheap: no decoding) GOP by GOP, starting with a seek to the keyframe before
  the first requested time, so only the span holding the requested times is read;
* a GOP (keyframe .. next keyframe) is decoded only if a requested frame lies in it, and only up to
  the last requested frame in it; GOPs without requested frames are skipped without decoding;
* when the next requested time is several GOPs ahead, the demuxer seeks instead of reading forward;
* only the chosen frames are converted to RGB.

Packet presentation times tell, before decoding, which frame is displayed at each requested time, so
the plan is exact. It relies on closed GOPs (each keyframe starts an independently decodable run, as
libx264 and most encoders write by default); when a stream shows an open GOP (a frame after a keyframe
in decode order but shown before it) or the plan misses a frame, the reader falls back to a
sequential decode of the span, which is always right.
"""

from __future__ import annotations

import itertools
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

import av
import numpy as np

from molmo2_data.errors import ConfigError, MediaDecodeError
from molmo2_data.example import VideoInfo, VideoRef
from molmo2_data.media.limits import check_pixels, require_regular_file
from molmo2_data.media.limits import max_pixels as max_pixels_in_force

ReadMode = Literal["plan", "sequential", "seek_each", "torchcodec"]

READ_STATS: Counter[str] = Counter()
"""Process-wide counters of what the reader did (packets decoded, GOPs skipped, seeks, fallbacks);
for tests and benchmarks."""


def _open(path: str | os.PathLike):
    """Open a container; FIFOs and devices are refused without being opened (a FIFO blocks forever)."""
    require_regular_file(path, "video")
    try:
        return av.open(os.fspath(path))
    except Exception as e:
        raise MediaDecodeError(f"not a decodable video: {path}: {e}", path=str(path)) from e


def _video_stream(container, path: str | os.PathLike, max_pixels: int | None = None):
    """The first video stream, its frame size checked against the pixel limit before any decode."""
    if not container.streams.video:
        container.close()
        raise MediaDecodeError(f"no video stream in {path}", path=str(path))
    stream = container.streams.video[0]
    try:
        if stream.codec_context is None:  # a codec id FFmpeg does not know (e.g. a corrupt header)
            raise MediaDecodeError(f"no decoder for the video stream of {path} (unknown or corrupt codec)",
                                   path=str(path))
        check_pixels(stream.codec_context.width, stream.codec_context.height, path, "video frame", max_pixels)
    except MediaDecodeError:
        container.close()
        raise
    return stream


def probe_video(path: str | os.PathLike, *, max_pixels: int | None = None) -> VideoInfo:
    """Duration, frame rate, frame count and size from the container, without decoding frames
    (falls back to counting packets when the container does not store the frame count). Raises
    MediaMissingError, or MediaDecodeError (undecodable, no video stream, not a regular file, frames
    above the pixel limit of ``media.limits``)."""
    with _open(path) as container:
        stream = _video_stream(container, path, max_pixels)
        rate = stream.average_rate or stream.guessed_rate or Fraction(0)
        duration = None
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:  # matroska: the container's end time, minus its start
            duration = (container.duration - (container.start_time or 0)) / av.time_base
        n = stream.frames
        if not n or duration is None:
            try:
                pts = [p.pts for p in container.demux(stream) if p.pts is not None]
            except av.error.FFmpegError as e:
                raise MediaDecodeError(f"cannot read packets of {path}: {e}", path=str(path)) from e
            n = len(pts)
            if duration is None and pts and stream.time_base is not None:
                step = float(1 / rate) if rate else 0.0
                duration = float((max(pts) - min(pts)) * stream.time_base) + step
        return VideoInfo(
            duration=float(duration or 0.0),
            fps=float(rate),
            num_frames=int(n),
            width=stream.codec_context.width,
            height=stream.codec_context.height,
            codec=stream.codec_context.name,
            container=container.format.name,
        )


def probe_video_ref(video: VideoRef, *, max_pixels: int | None = None) -> VideoInfo:
    """:func:`probe_video` of a video file, or the same facts of a video given as frames (a folder of
    JPEG frames, decoded frames): their count, spacing and the first frame's size, from its header only."""
    if not video.frames:
        return probe_video(video.path, max_pixels=max_pixels)
    times = np.asarray(video.frame_times, dtype=np.float64)
    step = float(np.median(np.diff(times))) if len(times) > 1 else 0.0
    width, height = video.frames[0].size()
    return VideoInfo(duration=float(times[-1] - times[0]) + step, fps=1.0 / step if step > 0 else 0.0,
                     num_frames=len(video.frames), width=width, height=height, codec="frames", container="frames")


class _Fallback(Exception):
    """The plan cannot be trusted for this stream (open GOP, missing frame): decode sequentially."""


@dataclass
class _Request:
    """Requested times in stream pts units, sorted, with the answer slots."""

    tp: np.ndarray  # (n,) float target pts, sorted
    order: np.ndarray  # (n,) indices into the caller's times
    frames: list[np.ndarray | None]
    pts: np.ndarray  # (n,) chosen frame pts (int), -1 = not yet
    transform: Callable[[np.ndarray], np.ndarray] | None = None

    @classmethod
    def make(cls, times: np.ndarray, start_pts: int, time_base: Fraction,
             transform: Callable[[np.ndarray], np.ndarray] | None = None) -> _Request:
        order = np.argsort(times, kind="stable")
        tp = start_pts + times[order] / float(time_base)
        return cls(tp=tp + 1e-3, order=order, frames=[None] * len(times), pts=np.full(len(times), -1),
                   transform=transform)

    def convert(self, frame) -> np.ndarray:
        """RGB of a kept frame (the only colour conversions done), then the caller's transform."""
        rgb = frame.to_ndarray(format="rgb24")
        return rgb if self.transform is None else self.transform(rgb)


class _Deadline:
    def __init__(self, timeout_s: float | None, path: str | os.PathLike):
        self.end = None if timeout_s is None else time.monotonic() + timeout_s
        self.path = path

    def check(self) -> None:
        if self.end is not None and time.monotonic() > self.end:
            raise MediaDecodeError(f"decoding {self.path} took longer than the time limit", path=str(self.path))


def read_frames_at(path: str | os.PathLike, times: np.ndarray | list[float], *, mode: ReadMode = "plan",
                   timeout_s: float | None = None, threads: int = 0,
                   transform: Callable[[np.ndarray], np.ndarray] | None = None,
                   max_pixels: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Decode the frames displayed at ``times`` (seconds from the stream's start).

    Returns (frames (T, H, W, 3) uint8 RGB, frame_times (T,) = the chosen frames' presentation times).
    ``mode``: ``plan`` (keyframe-aware, default), ``sequential`` (decode everything from the start),
    ``seek_each`` (one seek per requested time; for comparison) or ``torchcodec`` (torchcodec's
    ``get_frames_played_at``, same frame rule; needs torchcodec; the time limit is checked only after). ``threads``: decoder threads
    (0 = FFmpeg's choice). ``transform`` is applied to each kept frame right after conversion (e.g. the
    resize to the model's input size, so full-resolution frames are never all held at once). Raises
    MediaMissingError, or MediaDecodeError for unreadable, truncated or empty streams, a non-regular file,
    frames above the pixel limit (``max_pixels``, default ``media.limits.max_pixels()``; checked from the
    stream header before decoding, and on every kept frame) and when ``timeout_s`` is exceeded.
    """
    want = np.asarray(times, dtype=np.float64).reshape(-1)
    if want.size == 0:
        raise ConfigError("no times requested")
    if not np.all(np.isfinite(want)):
        raise ConfigError("times must be finite")
    deadline = _Deadline(timeout_s, path)
    limit = max_pixels_in_force() if max_pixels is None else max_pixels
    if mode == "torchcodec":
        return _read_torchcodec(path, want, threads, transform, limit)
    transform = _guarded(transform, limit, path)
    with _open(path) as container:
        stream = _video_stream(container, path, limit)
        if threads:
            stream.codec_context.thread_count = threads
        stream.thread_type = "AUTO"
        try:
            if mode == "plan" and stream.start_time is not None:
                try:
                    return _read_planned(container, stream, want, deadline, transform)
                except _Fallback:
                    READ_STATS["fallback"] += 1
                    container.seek(0)  # rewind for the sequential pass
                    stream.codec_context.flush_buffers()
            if mode == "seek_each" and stream.start_time is not None:
                return _read_seek_each(container, stream, want, deadline, transform)
            return _read_sequential(container, stream, want, deadline, transform)
        except (av.error.FFmpegError, EOFError) as e:
            raise MediaDecodeError(f"error decoding {path}: {e}", path=str(path)) from e


def _guarded(transform: Callable[[np.ndarray], np.ndarray] | None, limit: int,
             path: str | os.PathLike) -> Callable[[np.ndarray], np.ndarray]:
    """The caller's transform behind a per-frame size check: a stream may change resolution mid-way, or
    its header may not say (0 x 0), so every kept frame is checked before it goes further."""

    def run(rgb: np.ndarray) -> np.ndarray:
        if rgb.shape[0] * rgb.shape[1] > limit:
            check_pixels(rgb.shape[1], rgb.shape[0], path, "video frame", limit)
        return rgb if transform is None else transform(rgb)

    return run


def _finish(req: _Request, start_pts: int, time_base: Fraction, path) -> tuple[np.ndarray, np.ndarray]:
    if any(f is None for f in req.frames):
        raise MediaDecodeError(f"could not decode the requested frames of {path}", path=str(path))
    n = len(req.frames)
    frames: list[np.ndarray] = [None] * n  # type: ignore[list-item]
    out_t = np.zeros(n)
    for k in range(n):
        frames[req.order[k]] = req.frames[k]  # type: ignore[assignment]
        out_t[req.order[k]] = float((int(req.pts[k]) - start_pts) * time_base)
    return np.stack(frames), out_t


def _packets(container, stream, deadline: _Deadline) -> Iterator:
    for pkt in container.demux(stream):
        deadline.check()
        if pkt.size == 0 or pkt.pts is None:
            continue  # the demuxer's final empty packet, or a packet without timing
        yield pkt


def _seek_before(container, stream, tp: float, start: int, deadline: _Deadline) -> Iterator | None:
    """Seek so that demuxing starts at a keyframe shown at or before ``tp``; returns the packet iterator.

    Demuxers may seek by decode time (MP4 with B-frames) and land one GOP late; we then retry from
    earlier points. None when no seek lands early enough (the caller falls back)."""
    tb = float(stream.time_base)
    for back_s in (0.0, 1.0, 4.0, 16.0):
        target = int(tp - back_s / tb)
        if target <= start:
            container.seek(start, backward=True, any_frame=False, stream=stream)
        else:
            container.seek(target, backward=True, any_frame=False, stream=stream)
        READ_STATS["seeks"] += 1
        packets = _packets(container, stream, deadline)
        first = next(packets, None)
        if first is None:
            continue
        if first.pts <= tp or first.pts <= start:
            return itertools.chain([first], packets)
        if target <= start:
            break
    return None


def _read_planned(container, stream, want: np.ndarray, deadline: _Deadline,
                  transform: Callable | None = None) -> tuple[np.ndarray, np.ndarray]:
    tb = stream.time_base
    start = int(stream.start_time)
    req = _Request.make(want, start, tb, transform)
    n = len(want)
    cc = stream.codec_context
    k = 0  # next unresolved target
    gop: list = []
    gop_lengths: list[int] = []  # pts spans of the GOPs seen, to decide when seeking pays off
    seen_first = False  # the GOP we are in starts at the first frame of the stream
    if req.tp[0] - start > 0:
        packets = _seek_before(container, stream, req.tp[0], start, deadline)
        if packets is None:
            raise _Fallback
    else:
        seen_first = True
        packets = _packets(container, stream, deadline)
    first_after_seek = True
    while True:
        pkt = next(packets, None)
        if pkt is not None and first_after_seek:
            first_after_seek = False
            seen_first = seen_first or _at_stream_start(pkt, start)
        if pkt is not None and gop and pkt.pts < gop[0].pts:
            raise _Fallback  # open GOP: a frame shown before its keyframe
        if pkt is None or (pkt.is_keyframe and gop):
            if gop:
                bound = np.inf if pkt is None else pkt.pts
                k = _decode_gop(gop, bound, req, k, cc, seen_first)
                gop_lengths.append((pkt.pts if pkt is not None else gop[-1].pts) - gop[0].pts)
                seen_first = False
            gop = []
            if pkt is None or k >= n:
                break
            gap = req.tp[k] - pkt.pts
            if gop_lengths and gap > 2 * max(gop_lengths[-3:]) and gap * tb > 1.0:
                packets = _seek_before(container, stream, req.tp[k], start, deadline)
                if packets is None:
                    raise _Fallback
                first_after_seek = True
                continue
        if not gop and not pkt.is_keyframe:
            continue  # not decodable on its own; a target shown by it makes the plan fall back
        gop.append(pkt)
    if k < n:
        raise _Fallback
    return _finish(req, start, tb, container.name)


def _at_stream_start(pkt, start: int) -> bool:
    return pkt.pts <= start


def _decode_gop(gop: list, bound: float, req: _Request, k: int, cc, is_first_gop: bool) -> int:
    """Decode the targets k.. whose time is before ``bound`` from this GOP; returns the new k."""
    pts_sorted = np.sort(np.fromiter((p.pts for p in gop), dtype=np.int64, count=len(gop)))
    end = k
    while end < len(req.tp) and req.tp[end] < bound:
        end += 1
    if end == k:
        READ_STATS["gops_skipped"] += 1
        return k  # nothing requested here: skip without decoding
    READ_STATS["gops_decoded"] += 1
    needed: dict[int, list[int]] = {}
    for j in range(k, end):
        pos = int(np.searchsorted(pts_sorted, req.tp[j], side="right")) - 1
        if pos < 0:
            if not is_first_gop:
                raise _Fallback  # the frame shown at this time is in a GOP we did not keep
            pos = 0  # before the first frame: the first frame
        needed.setdefault(int(pts_sorted[pos]), []).append(j)
    remaining = set(needed)
    # Feed packets (decode order) up to the last one carrying a needed frame, then drain: every frame
    # a needed one references comes before it in decode order, so nothing after it is decoded, and the
    # drain releases frames the decoder holds back for reordering (B-frames) without decoding more.
    last = max((i for i, p in enumerate(gop) if p.pts in remaining), default=len(gop) - 1)
    cc.flush_buffers()
    for pkt in [*gop[: last + 1], None]:
        READ_STATS["packets_decoded"] += pkt is not None
        for frame in cc.decode(pkt):
            if frame.pts in remaining:
                rgb = req.convert(frame)
                for j in needed[frame.pts]:
                    req.frames[j], req.pts[j] = rgb, frame.pts
                remaining.discard(frame.pts)
        if not remaining:
            break
    cc.flush_buffers()
    if remaining:
        raise _Fallback
    return end


def _read_sequential(container, stream, want: np.ndarray, deadline: _Deadline,
                     transform: Callable | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Decode from the start, keep the last frame shown at or before each time; convert kept ones."""
    tb = stream.time_base
    start = stream.start_time
    req: _Request | None = None
    n = len(want)
    k = 0
    prev = None  # (frame, rgb or None)
    for frame in container.decode(stream):
        deadline.check()
        if frame.pts is None:
            continue
        if req is None:
            start = frame.pts if start is None else start
            req = _Request.make(want, int(start), tb, transform)
        while k < n and req.tp[k] < frame.pts and prev is not None:
            k = _take(req, k, prev)
        if k >= n:
            break
        prev = [frame, None]
    if req is None:
        raise MediaDecodeError(f"no decodable frames in {container.name}", path=container.name)
    while k < n and prev is not None:
        k = _take(req, k, prev)
    return _finish(req, int(start), tb, container.name)


def _take(req: _Request, k: int, prev: list) -> int:
    if prev[1] is None:
        prev[1] = req.convert(prev[0])
    req.frames[k], req.pts[k] = prev[1], prev[0].pts
    return k + 1


def _read_seek_each(container, stream, want: np.ndarray, deadline: _Deadline,
                    transform: Callable | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One seek per requested time (the naive approach, kept as a benchmark peer)."""
    tb = stream.time_base
    start = int(stream.start_time)
    req = _Request.make(want, start, tb, transform)
    for k in range(len(want)):
        packets = _seek_before(container, stream, max(req.tp[k], start), start, deadline)
        if packets is None:
            raise MediaDecodeError(f"cannot seek to {want[req.order[k]]} s in {container.name}",
                                   path=container.name)
        cc = stream.codec_context
        cc.flush_buffers()
        prev, done = None, False
        for pkt in itertools.chain(packets, [None]):
            for frame in cc.decode(pkt):
                if frame.pts is None:
                    continue
                if frame.pts > req.tp[k] and prev is not None:
                    done = True
                    break
                prev = [frame, None]
            if done:
                break
        if prev is None:
            raise MediaDecodeError(f"no frame at {want[req.order[k]]} s in {container.name}", path=container.name)
        _take(req, k, prev)
    return _finish(req, start, tb, container.name)


def _read_torchcodec(path: str | os.PathLike, want: np.ndarray, threads: int,
                     transform: Callable[[np.ndarray], np.ndarray] | None,
                     limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The optional torchcodec backend: frames played at ``want`` (stream-relative seconds), clamped
    into the stream like the PyAV reader (before the first frame -> first, after the last -> last)."""
    try:
        from torchcodec.decoders import VideoDecoder
    except (ImportError, OSError, RuntimeError) as e:  # absent, or built for another torch (CUDA libs)
        raise ConfigError(f"mode='torchcodec' needs a working torchcodec ({e}); "
                          "the default mode='plan' uses PyAV") from e
    require_regular_file(path, "video")
    try:
        decoder = VideoDecoder(os.fspath(path), dimension_order="NHWC", num_ffmpeg_threads=threads,
                               seek_mode="exact")
        meta = decoder.metadata
        check_pixels(meta.width or 0, meta.height or 0, path, "video frame", limit)
        begin, end = float(meta.begin_stream_seconds), float(meta.end_stream_seconds)
        seconds = np.clip(want + begin, begin, np.nextafter(end, begin))
        batch = decoder.get_frames_played_at(seconds=seconds.tolist())
    except MediaDecodeError:
        raise
    except Exception as e:  # torchcodec raises RuntimeError/ValueError for unreadable input
        raise MediaDecodeError(f"torchcodec could not decode {path}: {e}", path=str(path)) from e
    frames = batch.data.numpy()
    if transform is not None:
        frames = np.stack([transform(f) for f in frames])
    return frames, batch.pts_seconds.numpy().astype(np.float64) - begin
