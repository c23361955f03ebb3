"""What ``molmo2-data prepare videos`` buys: loader seconds per video example before and after preparing,
bytes on disk, and videos/s per core for preparing, on one realistic file generated here with PyAV (60 s,
1280x720, 30 fps H.264 with B-frames and a keyframe every 10 s; a textured background panning under
moving shapes, with sensor-like noise). Prints a table. Everything runs on one core (the process is pinned
to one CPU, so FFmpeg and torch use one thread), as in one DataLoader worker.

    python benchmarks/bench_prepare_videos.py [--seconds 60] [--reps 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageFilter

from molmo2_data.annotations import Caption
from molmo2_data.example import Example, Metadata, VideoRef
from molmo2_data.loading.loader import build_encoder, stage_config
from molmo2_data.media.video import READ_STATS, probe_video, read_frames_at
from molmo2_data.prepare import VideoTask, prepare_video
from molmo2_data.text.tokenizer import load_tokenizer
from molmo2_data.vision.video import decode_times, sample_times

W, H, FPS = 1280, 720, 30


def make_source(path: Path, seconds: int) -> None:
    """The realistic source: pan over a detailed texture, two moving shapes, per-frame noise; x264 crf 21."""
    rng = np.random.default_rng(0)
    coarse = rng.integers(0, 256, (H // 8 + 100, W // 8 + 400, 3), dtype=np.uint8)
    texture = np.asarray(Image.fromarray(coarse).resize((coarse.shape[1] * 8, coarse.shape[0] * 8), Image.BICUBIC)
                         .filter(ImageFilter.GaussianBlur(1.5)))
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=FPS)
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        s.options = {"crf": "21", "preset": "veryfast",
                     "x264-params": f"keyint={10 * FPS}:min-keyint={10 * FPS}:scenecut=0"}
        for k in range(FPS * seconds):
            ox, oy = (2 * k) % (texture.shape[1] - W), int(350 + 300 * np.sin(k / 50))
            f = texture[oy:oy + H, ox:ox + W].astype(np.int16)
            cx, cy = int(W / 2 + 400 * np.sin(k / 40)), int(H / 2 + 250 * np.cos(k / 33))
            f[max(cy - 60, 0):cy + 60, max(cx - 60, 0):cx + 60] = (255, 40, 40)
            x2 = (7 * k) % W
            f[300:380, max(x2 - 40, 0):x2 + 40] = (30, 200, 60)
            f += rng.integers(-8, 9, f.shape, dtype=np.int16)
            frame = av.VideoFrame.from_ndarray(np.clip(f, 0, 255).astype(np.uint8), format="rgb24")
            frame.pts, frame.time_base = k, Fraction(1, FPS)
            out.mux(s.encode(frame))
        out.mux(s.encode(None))


def loader_seconds(path: Path, reps: int) -> tuple[float, int, object]:
    """Median seconds to encode one SFT video example (sample, decode, preprocess, tokenize), the packets
    decoded per example, and the last encoded example."""
    cfg = stage_config("molmo2-sft")
    enc = build_encoder(cfg, load_tokenizer("qwen3"), cfg.sequence_length, cfg.mixture(), cfg.max_frames)
    ex = Example([Caption("A red square and a green bar move over a panning texture.", style="video_long_caption")],
                 Metadata("molmo2-cap", "train"), video=VideoRef(str(path)))
    rng = np.random.RandomState(0)
    enc.encode_or_raise(ex, rng)  # warm-up (compiled kernels, tokenizer)
    times, out = [], None
    for _ in range(reps):
        READ_STATS.clear()
        t = time.perf_counter()
        out = enc.encode_or_raise(ex, np.random.RandomState(0))
        times.append(time.perf_counter() - t)
    return statistics.median(times), READ_STATS["packets_decoded"], out


def fidelity(src: Path, prepared: Path) -> tuple[int, float]:
    """Max abs difference and PSNR of the full-resolution RGB frames at every sampled time."""
    q = decode_times(sample_times(probe_video(src).duration, 2.0, 10**9), 0.0, probe_video(src).duration)
    worst, se, n = 0, 0.0, 0
    for chunk in np.array_split(q, max(1, len(q) // 16)):
        a, _ = read_frames_at(src, chunk)
        b, _ = read_frames_at(prepared, chunk)
        d = a.astype(np.int16) - b
        worst, se, n = max(worst, int(np.abs(d).max())), se + float((d.astype(np.float64) ** 2).sum()), n + d.size
    return worst, (float("inf") if se == 0 else 10 * np.log10(255**2 / (se / n)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core: FFmpeg's auto threads = 1
    import torch

    torch.set_num_threads(1)
    root = Path(tempfile.mkdtemp())
    src = root / "media" / "videos" / "bench" / "src.mp4"
    src.parent.mkdir(parents=True)
    t = time.perf_counter()
    make_source(src, args.seconds)
    info = probe_video(src)
    print(f"source: {args.seconds} s, {W}x{H}, {FPS} fps H.264, keyframe every 10 s, "
          f"{src.stat().st_size * 8 / args.seconds / 1e6:.2f} Mbit/s (generated in {time.perf_counter() - t:.0f} s)")
    rows = [("source (not prepared)", src, None, None)]
    for label, crf in (("prepared, lossless (default)", 0), ("prepared, --crf 18", 18)):
        out = src.with_name(f"src_2fps_crf{crf}.mp4")
        secs = []
        for _ in range(args.reps):
            rec = prepare_video(VideoTask(str(root), os.path.relpath(src, root), os.path.relpath(out, root), crf=crf,
                                          force=True))
            assert rec["status"] == "ok", rec
            secs.append(rec["seconds"])
        rows.append((label, out, statistics.median(secs), fidelity(src, out)))
    base, ref = None, None
    header = ("| file | loader s / example | speed-up | packets decoded | MB on disk | prepare s / video "
              "| videos/s per core | max abs diff | PSNR (dB) |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, path, prep_s, fid in rows:
        sec, packets, out = loader_seconds(path, args.reps)
        if base is None:  # the first row is the source: the baseline
            base, ref = sec, out
            print(f"{info.num_frames} source frames; the SFT loader samples {len(ref.pixels)} frames per example\n")
            print(header)
        same = np.array_equal(out.input_ids, ref.input_ids)
        prep = "" if prep_s is None else f"{prep_s:.2f} | {1 / prep_s:.2f}"
        fid_s = "" if fid is None else f"{fid[0]} | {fid[1]:.1f}"
        print(f"| {label}{'' if same else ' (TOKENS DIFFER)'} | {sec:.2f} | {base / sec:.2f}x | {packets} "
              f"| {path.stat().st_size / 1e6:.1f} | {prep or ' | '} | {fid_s or ' | '} |")


if __name__ == "__main__":
    main()
