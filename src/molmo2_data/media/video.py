"""Video probing and simple frame access with PyAV (which bundles FFmpeg).

"The frame at time t" is the frame *displayed* at t: the last frame whose presentation time
(relative to the stream's first frame) is <= t. This is right for variable frame rate and for
streams whose first pts is not 0.
"""

from __future__ import annotations

import os
from fractions import Fraction

import av
import numpy as np

from molmo2_data.errors import MediaDecodeError, MediaMissingError
from molmo2_data.example import VideoInfo


def _open(path: str | os.PathLike):
    if not os.path.exists(path):
        raise MediaMissingError(f"video file not found: {path}")
    try:
        return av.open(os.fspath(path))
    except Exception as e:
        raise MediaDecodeError(f"not a decodable video: {path}: {e}") from e


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Duration, frame rate, frame count and size from the container, without decoding frames
    (falls back to counting packets when the container does not store the frame count)."""
    with _open(path) as container:
        if not container.streams.video:
            raise MediaDecodeError(f"no video stream in {path}")
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or Fraction(0)
        duration = None
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / av.time_base
        n = stream.frames
        if not n or duration is None:
            pts = [p.pts for p in container.demux(stream) if p.pts is not None]
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


def read_frames_at(path: str | os.PathLike, times: np.ndarray | list[float]) -> tuple[np.ndarray, np.ndarray]:
    """Decode the frames displayed at ``times`` (seconds from the first frame).

    Returns (frames (T, H, W, 3) uint8, frame_times (T,)). A simple forward decode of the whole
    stream; the vision stage has the keyframe-aware reader for long videos.
    """
    want = np.asarray(times, dtype=np.float64)
    order = np.argsort(want, kind="stable")
    out: list[np.ndarray | None] = [None] * len(want)
    out_t = np.zeros(len(want))

    def rgb(entry: tuple) -> np.ndarray:  # convert a kept frame once, skip the rest
        if not entry[2]:
            entry[2].append(entry[1].to_ndarray(format="rgb24"))
        return entry[2][0]

    with _open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        first_pts = None
        prev = None
        k = 0
        for frame in container.decode(stream):
            if frame.pts is None:
                continue
            if first_pts is None:
                first_pts = frame.pts
            t = float((frame.pts - first_pts) * stream.time_base)
            while k < len(order) and want[order[k]] < t and prev is not None:
                out[order[k]], out_t[order[k]] = rgb(prev), prev[0]
                k += 1
            if k >= len(order):
                break
            prev = (t, frame, [])
        while k < len(order) and prev is not None:
            out[order[k]], out_t[order[k]] = rgb(prev), prev[0]
            k += 1
    if any(o is None for o in out):
        raise MediaDecodeError(f"could not decode frames from {path}")
    return np.stack(out), out_t  # type: ignore[arg-type]
