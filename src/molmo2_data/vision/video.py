"""Molmo2 video preprocessing (FORMATS §4): frame times, 378x378 frames, 3x3 pooling, token layout,
per-frame timestamp text and the subtitle block."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from molmo2_data.errors import MediaDecodeError
from molmo2_data.example import Subtitle, VideoRef
from molmo2_data.vision import tokens as tk
from molmo2_data.vision.image import ImageConfig, _finish, arange_for_pooling
from molmo2_data.vision.resize import siglip_resize


@dataclass(frozen=True)
class VideoConfig:
    """Video settings; defaults are the Molmo2 SFT launch-script settings."""

    max_fps: float = 2.0
    max_frames: int = 128  # 384 for long-context SFT
    frame_size: int = 378
    patch_size: int = 14
    pooling: tuple[int, int] = (3, 3)
    per_frame_special_token: bool = False  # True: legacy configs / HF processor (FORMATS §7.2)
    subtitle_mode: str = "frame_1"  # keep subtitle lines within N s of some frame
    subtitle_times: Literal["clip", "file"] = "clip"  # clip: subtract the clip start (see docs/vision.md)
    normalize_on_gpu: bool = False
    channels_first: bool = False
    timeout_s: float | None = 120.0  # per-video decode time limit
    reader: Literal["plan", "torchcodec"] = "plan"  # PyAV keyframe-aware reader, or torchcodec if installed

    @classmethod
    def long_context(cls, **kw: object) -> VideoConfig:
        base: dict[str, object] = dict(max_frames=384)
        base.update(kw)
        return cls(**base)  # type: ignore[arg-type]


@dataclass
class VideoInputs:
    tokens: np.ndarray  # (T,) int32: frame layout incl. timestamp text tokens
    pixels: np.ndarray  # (n_frames, 729, 588) or (n_frames, 3, 378, 378)
    token_pooling: np.ndarray  # (n_frames*81, 9) int32
    patch_masks: np.ndarray  # (n_frames, 729) float32
    frame_times: np.ndarray  # (n_frames,) sampled seconds, clip-relative
    decoded_times: np.ndarray  # (n_frames,) presentation time of the frame used, clip-relative
    subtitle_text: str | None = None  # the subtitle block, tokenised by the text stage
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def num_patch_tokens(self) -> int:
        return int(np.count_nonzero(self.tokens == tk.IM_PATCH))


def sample_times(duration: float, max_fps: float = 2.0, max_frames: int = 128) -> np.ndarray:
    """``uniform_last_frame``: every 1/max_fps s from 0 plus the end, or ``max_frames`` evenly spaced
    times including both ends when that would exceed ``max_frames``."""
    if duration < 0:
        raise ValueError(f"negative duration {duration}")
    if (max_frames - 1) / max_fps < duration:
        return np.linspace(0.0, duration, max_frames)
    return np.append(np.arange(0.0, duration, 1.0 / max_fps), duration)


def timestamp_text(t: float, first: bool) -> str:
    """``per-frame-compact``: f'{t:.1f}' preceded by a space except for frame 0, followed by a space."""
    return f"{t:.1f} " if first else f" {t:.1f} "


def frame_layout(times: Sequence[float], tokens_per_frame: int, per_frame_special_token: bool,
                 encode: Callable[[str], list[int]] = tk.encode_simple) -> np.ndarray:
    """Token layout of the sampled frames (FORMATS §4.2)."""
    patches = [tk.IM_PATCH] * tokens_per_frame
    out: list[int] = [] if per_frame_special_token else [tk.FRAME_START]
    for i, t in enumerate(times):
        out += encode(timestamp_text(float(t), i == 0))
        if per_frame_special_token:
            out += [tk.FRAME_START, *patches, tk.FRAME_END]
        else:
            out += patches
    if not per_frame_special_token:
        out.append(tk.FRAME_END)
    return np.asarray(out, dtype=np.int32)


def subtitle_block(subtitles: str | Sequence[Subtitle] | dict[tuple[float, float], str] | None,
                   frame_times: np.ndarray, mode: str = "frame_1", offset: float = 0.0) -> str | None:
    """The text appended after the video tokens: 'subtitle\\n' + the text, or one line
    f'{s:.1f} - {e:.1f} {text}\\n' per entry that lies within N s of some frame (mode frame_N).
    ``offset`` is subtracted from entry times (the clip start when times are file-relative)."""
    if subtitles is None or (not isinstance(subtitles, str) and len(subtitles) == 0):
        return None
    if isinstance(subtitles, str):
        return "subtitle\n" + subtitles
    if not mode.startswith("frame_"):
        raise ValueError(f"unknown subtitle mode {mode!r}")
    n = float(mode.split("_", 1)[1])
    entries = (
        [((s, e), text) for (s, e), text in subtitles.items()] if isinstance(subtitles, dict)
        else [((sub.start, sub.end), sub.text) for sub in subtitles]
    )
    t = np.asarray(frame_times, dtype=np.float64)
    lines = []
    for (s, e), text in entries:
        s, e = s - offset, e - offset
        if np.any(~((e < t - n) | (t + n < s))):
            lines.append(f"{s:.1f} - {e:.1f} {text}\n")
    return "subtitle\n" + "".join(lines)


def frame_pooling(n_frames: int, cfg: VideoConfig) -> np.ndarray:
    cp = cfg.frame_size // cfg.patch_size
    one = arange_for_pooling(np.arange(cp * cp, dtype=np.int32).reshape(cp, cp), *cfg.pooling)
    one = one.reshape(-1, cfg.pooling[0] * cfg.pooling[1])
    offsets = (np.arange(n_frames, dtype=np.int32) * cp * cp)[:, None, None]
    return np.where(one[None] >= 0, one[None] + offsets, -1).reshape(-1, one.shape[-1]).astype(np.int32)


def preprocess_frames(frames: np.ndarray, times: np.ndarray, cfg: VideoConfig,
                      decoded_times: np.ndarray | None = None) -> VideoInputs:
    """Frames (T, H, W, 3) uint8 sampled at ``times`` -> pixels, pooling and layout."""
    if frames.ndim != 4 or frames.shape[0] != len(times):
        raise ValueError(f"need one (H, W, 3) frame per time, got {frames.shape} for {len(times)} times")
    size = cfg.frame_size
    resized = [f if f.shape[:2] == (size, size) else siglip_resize(f, size, size) for f in frames]
    icfg = ImageConfig(base_size=size, patch_size=cfg.patch_size, normalize_on_gpu=cfg.normalize_on_gpu,
                       channels_first=cfg.channels_first)
    cp = size // cfg.patch_size
    pool = frame_pooling(len(times), cfg)
    per_frame = pool.shape[0] // max(len(times), 1)
    return VideoInputs(
        tokens=frame_layout(times, per_frame, cfg.per_frame_special_token),
        pixels=_finish(resized, icfg),
        token_pooling=pool,
        patch_masks=np.ones((len(times), cp * cp), dtype=np.float32),
        frame_times=np.asarray(times, dtype=np.float64),
        decoded_times=np.asarray(times if decoded_times is None else decoded_times, dtype=np.float64),
    )


def clip_bounds(video: VideoRef, duration: float) -> tuple[float, float]:
    """(start, clip duration) in seconds: a clip (s, e) covers [s, min(e, duration)]; s < e and
    s < duration are required."""
    start = float(video.clip_start or 0.0)
    end = duration if video.clip_end is None else min(float(video.clip_end), duration)
    if video.clip_end is not None and not start < float(video.clip_end):
        raise MediaDecodeError(f"empty clip [{start}, {video.clip_end}] in {video.path}")
    if not start < duration:
        raise MediaDecodeError(f"clip start {start} s is past the end ({duration:.3f} s) of {video.path}")
    return start, end - start


def preprocess_frame_video(video: VideoRef, cfg: VideoConfig) -> VideoInputs:
    """A video given as decoded frames: at most ``max_frames`` of them, spread evenly over the list (first
    and last kept), at their own times; frames of any size are resized as decoded ones are."""
    n = len(video.frames)
    keep = np.arange(n) if n <= cfg.max_frames else np.unique(np.linspace(0, n - 1, cfg.max_frames).round().astype(int))
    size = cfg.frame_size
    frames = np.stack([siglip_resize(video.frames[i].load(), size, size) for i in keep])
    return preprocess_frames(frames, np.asarray(video.frame_times, dtype=np.float64)[keep], cfg)


def decode_times(times: np.ndarray, start: float, duration: float) -> np.ndarray:
    """Stream times the loader decodes for clip-relative sample ``times``: ``start + times``, kept 1e-6 s
    inside the stream (the end time ``duration`` would be past the last frame's start)."""
    return np.clip(start + np.asarray(times, dtype=np.float64), 0.0, max(duration - 1e-6, 0.0))


def holds_times(query: np.ndarray, fps: float, duration: float) -> bool:
    """Does a video prepared at ``fps`` (``molmo2-data prepare videos``) hold the exact frames for these
    decode times? It does for multiples of 1/fps and for the end of the stream (``duration - 1e-6``, the
    last frame, which it keeps at its own time); other times would get the grid frame before them."""
    k = query * fps
    on_grid = np.abs(k - np.round(k)) < 1e-6
    at_end = np.abs(query - max(duration - 1e-6, 0.0)) < 1e-9
    return bool(np.all(on_grid | at_end))


def preprocess_video(video: VideoRef, cfg: VideoConfig) -> VideoInputs:
    """Sample, decode and preprocess one video (clip-relative times).

    A prepared copy (``<id>_2fps.mp4``) is read when the sampled times lie on its grid; otherwise (a clip
    starting off the grid, a long video sampled at ``max_frames`` evenly spaced times) the original beside
    it is read instead, so preparing videos never changes which frames an example gets."""
    from molmo2_data.media.video import probe_video, read_frames_at
    from molmo2_data.paths import original_of_prepared, prepared_rate

    if video.frames:
        return preprocess_frame_video(video, cfg)

    info = probe_video(video.path)
    if info.duration <= 0 or info.num_frames <= 0:
        raise MediaDecodeError(f"zero-length video: {video.path}")
    start, dur = clip_bounds(video, info.duration)
    times = sample_times(dur, cfg.max_fps, cfg.max_frames)
    query = decode_times(times, start, info.duration)
    rate = prepared_rate(video.path)
    if rate is not None and not holds_times(query, rate, info.duration):
        original = original_of_prepared(video.path)
        if original is not None:
            return preprocess_video(dataclasses.replace(video, path=original), cfg)
    size = cfg.frame_size
    frames, got = read_frames_at(video.path, query, mode=cfg.reader, timeout_s=cfg.timeout_s,
                                 transform=lambda rgb: siglip_resize(rgb, size, size))
    out = preprocess_frames(frames, times, cfg, decoded_times=got - start)
    offset = start if cfg.subtitle_times == "clip" else 0.0
    out.subtitle_text = subtitle_block(video.subtitles or None, times, cfg.subtitle_mode, offset)
    return out
