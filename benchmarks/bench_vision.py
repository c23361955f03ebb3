"""Vision benchmark: our figure beside the floor and the peers, measured in the same run, one core.

    python benchmarks/bench_vision.py            # images + video (first run encodes the test videos)
    python benchmarks/bench_vision.py --images   # images only
    python benchmarks/bench_vision.py --video    # video only

Images (examples/s, JPEG file -> full multi-crop output, max_crops 8):
  floor      = Pillow full decode + one Pillow bilinear resize to the multi-crop size
  ours       = VisionPreprocessor (bit-exact official SigLIP path)
  ours-fast  = VisionPreprocessor(fast_jpeg_draft=True)
  torch-peer = Pillow full decode + the same algorithm with torch interpolate (the official code path)
Video (requests/s and frames/s, 2 fps uniform_last_frame over a 60 s 1280x720 H.264 file):
  floor      = one sequential PyAV decode of the needed span (convert only the kept frames)
  ours       = read_frames_at(mode="plan")
  seek-each  = one seek per sampled frame
  torchcodec = read_frames_at(mode="torchcodec") where torchcodec works (PyPI's wheel needs CUDA torch)
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

from molmo2_data.example import ImageRef
from molmo2_data.media.image import encode_jpeg
from molmo2_data.media.video import read_frames_at
from molmo2_data.vision.image import ImageConfig, target_size
from molmo2_data.vision.preprocessor import VisionPreprocessor
from molmo2_data.vision.video import sample_times

CACHE = Path(os.environ.get("MOLMO_BENCH_CACHE", Path.home() / ".cache" / "molmo2_bench"))


def timeit(fn, min_time: float = 1.5, min_runs: int = 3, warmup: bool = True) -> float:
    """Median seconds per call."""
    if warmup:
        fn()
    runs: list[float] = []
    start = time.perf_counter()
    while len(runs) < min_runs or time.perf_counter() - start < min_time:
        t = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t)
        if len(runs) >= 50:
            break
    return float(np.median(runs))


# ---- images ----------------------------------------------------------------------------------


def make_jpeg(h: int, w: int) -> Path:
    path = CACHE / f"img_{w}x{h}.jpg"
    if not path.exists():
        rng = np.random.default_rng(0)
        yy, xx = np.mgrid[0:h, 0:w]
        img = np.stack([(xx * 255 // w), (yy * 255 // h), ((xx + yy) % 256)], -1).astype(np.float32)
        img += rng.normal(0, 12, img.shape)
        path.write_bytes(encode_jpeg(np.clip(img, 0, 255).astype(np.uint8), quality=90))
    return path


def pillow_floor(path: Path) -> None:
    with Image.open(path) as im:
        im = im.convert("RGB")
        rh, rw = target_size(im.height, im.width, ImageConfig(), 8)
        np.asarray(im.resize((rw, rh), Image.BILINEAR))


def torch_peer(path: Path) -> None:
    """The official algorithm as written: full decode, uint8 -> float32 tensor, torch interpolate."""
    import torch
    import torch.nn.functional as F

    with Image.open(path) as im:
        arr = np.asarray(im.convert("RGB"))
    cfg = ImageConfig()
    rh, rw = target_size(arr.shape[0], arr.shape[1], cfg, 8)

    def resize(h: int, w: int) -> torch.Tensor:
        t = torch.from_numpy(arr).permute(2, 0, 1).to(torch.float32)[None]
        out = F.interpolate(t, size=(h, w), mode="bilinear", align_corners=False, antialias=False)
        return torch.round(out).clamp(0, 255).to(torch.uint8)[0].permute(1, 2, 0)

    glob = resize(378, 378)
    src = resize(rh, rw)
    crops = [glob]
    for y in range(0, rh - 378 + 1, 266):
        for x in range(0, rw - 378 + 1, 266):
            crops.append(src[y:y + 378, x:x + 378])
    x = torch.stack(crops).to(torch.float32) / 255.0 * 2 - 1
    x.reshape(len(crops), 27, 14, 27, 14, 3).permute(0, 1, 3, 2, 4, 5).reshape(len(crops), 729, 588).numpy()


def bench_images() -> list[tuple[str, ...]]:
    import torch

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", message="The given NumPy array is not writable")  # the peer only reads
    exact, fast = VisionPreprocessor(), VisionPreprocessor(ImageConfig(fast_jpeg_draft=True))
    rows = []
    for h, w in ((480, 640), (1080, 1920), (3024, 4032)):
        path = make_jpeg(h, w)
        ref = ImageRef(path=str(path))
        t_floor = timeit(lambda p=path: pillow_floor(p))
        t_ours = timeit(lambda r=ref: exact(r))
        t_fast = timeit(lambda r=ref: fast(r))
        t_torch = timeit(lambda p=path: torch_peer(p))
        rows.append((f"image {w}x{h}", f"{1 / t_ours:.1f}", f"{1 / t_fast:.1f}", f"{1 / t_floor:.1f}",
                     f"{1 / t_torch:.1f}", f"{t_ours / t_floor:.2f}x", f"{t_torch / t_ours:.2f}x"))
    return rows


# ---- video -----------------------------------------------------------------------------------


def make_video(keyint_s: float, ext: str, seconds: int = 60, fps: int = 30) -> Path:
    path = CACHE / f"video_720p_{seconds}s_k{keyint_s}.{ext}"
    if path.exists():
        return path
    mp4 = CACHE / f"video_720p_{seconds}s_k{keyint_s}.mp4"
    if not mp4.exists():
        with av.open(str(mp4), "w") as out:
            s = out.add_stream("libx264", rate=fps)
            s.width, s.height, s.pix_fmt = 1280, 720, "yuv420p"
            g = str(max(1, int(keyint_s * fps)))
            s.options = {"g": g, "keyint_min": g, "sc_threshold": "0", "preset": "veryfast", "crf": "26",
                         "bf": "2"}
            yy, xx = np.mgrid[0:720, 0:1280].astype(np.uint8)
            texture = np.random.default_rng(0).integers(0, 6, (720, 1280, 3), dtype=np.uint8)
            for i in range(seconds * fps):
                img = np.stack([xx + np.uint8(4 * i % 256), yy + np.uint8(2 * i % 256), (xx >> 3) + (yy >> 3)], -1)
                img += np.roll(texture, 8 * i, axis=1)  # moving detail so P-frames are not empty
                frame = av.VideoFrame.from_ndarray(img, format="rgb24")
                frame.pts, frame.time_base = i, Fraction(1, fps)
                out.mux(s.encode(frame))
            out.mux(s.encode(None))
    if ext == "mkv":  # same packets, other container
        with av.open(str(mp4)) as src, av.open(str(path), "w") as dst:
            ins = src.streams.video[0]
            outs = dst.add_stream_from_template(ins)
            for pkt in src.demux(ins):
                if pkt.dts is None:
                    continue
                pkt.stream = outs
                dst.mux(pkt)
    return path


def sequential_floor(path: Path, times: np.ndarray) -> None:
    """Decode every frame from the start to the last requested time; convert the kept ones and return
    them as one array (what the caller of read_frames_at gets)."""
    kept: list[np.ndarray] = []
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.codec_context.thread_count = 1
        tb, start = float(s.time_base), s.start_time or 0
        k, prev = 0, None
        for frame in c.decode(s):
            t = (frame.pts - start) * tb
            while k < len(times) and times[k] < t and prev is not None:
                kept.append(prev.to_ndarray(format="rgb24"))
                k += 1
            if k >= len(times):
                break
            prev = frame
        while k < len(times) and prev is not None:
            kept.append(prev.to_ndarray(format="rgb24"))
            k += 1
    np.stack(kept)


def _torchcodec_works() -> bool:
    try:
        from torchcodec.decoders import VideoDecoder  # noqa: F401
    except (ImportError, OSError, RuntimeError):
        return False
    return True


def bench_video() -> list[tuple[str, ...]]:
    rows = []
    times = sample_times(60.0 - 1e-3, 2.0, 128)
    for keyint in (10.0, 0.5):
        for ext in ("mp4", "mkv"):
            path = make_video(keyint, ext)
            t_floor = timeit(lambda p=path: sequential_floor(p, times), min_time=0.0, min_runs=2)
            t_ours = timeit(lambda p=path: read_frames_at(p, times, threads=1), min_time=0.0, min_runs=2)
            t_seek = timeit(lambda p=path: read_frames_at(p, times, mode="seek_each", threads=1),
                            min_time=0.0, min_runs=1, warmup=False)
            n = len(times)
            tc = "n/a"
            if _torchcodec_works():
                t_tc = timeit(lambda p=path: read_frames_at(p, times, mode="torchcodec", threads=1),
                              min_time=0.0, min_runs=2)
                tc = f"{n / t_tc:.0f}"
            rows.append((f"video k={keyint}s {ext}", f"{n / t_ours:.0f}", f"{n / t_floor:.0f}", f"{n / t_seek:.0f}",
                         tc, f"{t_ours / t_floor:.2f}x", f"{t_seek / t_ours:.2f}x"))
    return rows


def table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"  # noqa: E731
    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", action="store_true")
    parser.add_argument("--video", action="store_true")
    args = parser.parse_args()
    both = not (args.images or args.video)
    CACHE.mkdir(parents=True, exist_ok=True)
    if args.images or both:
        print(table(("images (examples/s, 1 core)", "ours", "ours-fast", "floor", "torch-peer",
                     "ours/floor", "peer/ours"), bench_images()))
        print()
    if args.video or both:
        print(table(("video (frames/s, 1 core, 121 frames)", "ours", "floor", "seek-each", "torchcodec",
                     "ours/floor", "seek-each/ours"), bench_video()))


if __name__ == "__main__":
    main()
