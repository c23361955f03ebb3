"""A video given as a list of frames (seed 002's "Video Dataset": 16 frames from a custom get()):
treated as a video with frame times; a long list under "image" is a clear error, not a silent cut."""

from __future__ import annotations

import json

import numpy as np
import pytest

from molmo2_data import DatasetBase, register_dataset
from molmo2_data.errors import SchemaError
from molmo2_data.example import VideoRef, as_example
from molmo2_data.vision.preprocessor import VisionPreprocessor
from molmo2_data.vision.video import VideoConfig

MESSAGES = [{"role": "user", "content": "What happens in this video?"},
            {"role": "assistant", "content": "The square turns from black to white."}]


def frames(n: int, size: tuple[int, int] = (96, 128)) -> list[np.ndarray]:
    """Frame i is uniformly grey at level 10 * i, so each output frame says which input it came from."""
    return [np.full((*size, 3), 10 * i, dtype=np.uint8) for i in range(n)]


def level(pixels: np.ndarray) -> int:
    """The grey level of one preprocessed uint8 frame (patches of 588 values)."""
    return int(np.median(pixels))


def test_frame_list_is_a_video_with_frame_times() -> None:
    ex = as_example({"video": frames(16), "messages": MESSAGES}, dataset="my-videos")
    assert ex.media_kind == "video" and not ex.images
    assert len(ex.video.frames) == 16 and ex.video.frame_times == tuple(i / 2.0 for i in range(16))
    out = VisionPreprocessor(video=VideoConfig(normalize_on_gpu=True))(ex)
    assert out.pixels.shape == (16, 729, 588) and out.pixels.dtype == np.uint8
    assert out.frame_times.tolist() == [i / 2.0 for i in range(16)]
    assert [level(p) for p in out.pixels] == [10 * i for i in range(16)]
    assert out.token_pooling.shape == (16 * 81, 9)


def test_fps_and_frame_times() -> None:
    ex = as_example({"video": frames(4), "fps": 4, "messages": MESSAGES})
    assert ex.video.frame_times == (0.0, 0.25, 0.5, 0.75)
    ex = as_example({"video": np.stack(frames(3)), "frame_times": [0, 1.5, 4], "messages": MESSAGES})
    assert ex.video.frame_times == (0.0, 1.5, 4.0)
    for bad in ({"frame_times": [0, 0, 1]}, {"frame_times": [0, 1]}, {"fps": 0}, {"frame_times": [0, 1, float("nan")]}):
        with pytest.raises(SchemaError):
            as_example({"video": frames(3), "messages": MESSAGES, **bad})


def test_more_frames_than_max_frames_are_spread_evenly() -> None:
    video = VideoRef.from_frames(frames(25), fps=1)
    out = VisionPreprocessor(video=VideoConfig(max_frames=7, normalize_on_gpu=True))(video)
    kept = [0, 4, 8, 12, 16, 20, 24]  # linspace(0, 24, 7): first and last kept
    assert out.frame_times.tolist() == [float(k) for k in kept]
    assert [level(p) for p in out.pixels] == [10 * k for k in kept]


def test_too_many_images_is_a_clear_error() -> None:
    with pytest.raises(SchemaError, match=r"16 images, more than the 5.*'video': frames"):
        as_example({"image": frames(16), "messages": MESSAGES}, dataset="my-videos")
    assert len(as_example({"image": frames(5), "messages": MESSAGES}).images) == 5


def test_seed_video_dataset_through_the_loader(tmp_path) -> None:
    """Seed 002's video dataset (frames from get(), here returned under "video") feeds the SFT loader."""
    from molmo2_data.loading.loader import get_dataloader

    @register_dataset("test-frame-video", overwrite=True)
    class FrameVideos(DatasetBase):
        def load(self):
            return list(range(6))

        def get(self, idx, rng):
            return {"video": frames(16), "fps": 2, "messages": MESSAGES}

    with get_dataloader("sft", batch_size=1, root=tmp_path, mixture={"test-frame-video": 1.0}, packing=False,
                        sequence_length=4096, framework="numpy") as dl:
        batch = next(iter(dl))
    assert batch["images"].shape[:2] == (1, 16)
    assert [level(p) for p in batch["images"][0]] == [10 * i for i in range(16)]
    assert batch["metadata"][0][0]["dataset"] == "test-frame-video"


def test_stacked_frames_under_image_are_counted_not_cut() -> None:
    """extract_frames may return one (N, H, W, 3) array: under "image" that is N images, and 16 > 5 fails."""
    with pytest.raises(SchemaError, match=r"16 images, more than the 5"):
        as_example({"image": np.stack(frames(16)), "messages": MESSAGES})
    ex = as_example({"image": np.stack(frames(3)), "messages": MESSAGES})
    assert ex.media_kind == "multi_image" and [level(im.load()) for im in ex.images] == [0, 10, 20]


def write_frames(folder, n: int) -> list[str]:
    from PIL import Image

    folder.mkdir()
    names = []
    for i, f in enumerate(frames(n, (48, 64))):
        names.append(f"f{i:02d}.png")
        Image.fromarray(f).save(folder / names[-1])
    return names


def test_custom_config_video_as_frame_paths(tmp_path) -> None:
    """A custom config's video column may list frame images; fps / frame_times columns time them."""
    from molmo2_data.datasets import get_dataset, register_custom_dataset

    names = write_frames(tmp_path / "frames", 6)
    rows = [{"frames": names, "q": "What happens?", "a": "It brightens.", "fps": 4},
            {"frames": names[:3], "q": "And here?", "a": "Dark.", "t": [0.0, 0.5, 2.0]}]
    (tmp_path / "v.json").write_text(json.dumps(rows))
    register_custom_dataset({"name": "test-frame-paths", "source": str(tmp_path / "v.json"), "task": "qa",
                             "video_dir": str(tmp_path / "frames"),
                             "columns": {"video": "frames", "question": "q", "answer": "a", "frame_times": "t"}})
    ds = get_dataset("test-frame-paths")
    first, second = ds[0], ds[1]
    assert first.media_kind == "video" and first.video.frame_times == (0.0, 0.25, 0.5, 0.75, 1.0, 1.25)
    assert second.video.frame_times == (0.0, 0.5, 2.0)
    assert [level(f.load()) for f in first.video.frames] == [0, 10, 20, 30, 40, 50]
    out = VisionPreprocessor(video=VideoConfig(normalize_on_gpu=True))(first)
    assert out.frame_times.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0, 1.25]
    assert [level(p) for p in out.pixels] == [0, 10, 20, 30, 40, 50]


def test_custom_config_more_than_5_images_is_a_clear_error(tmp_path) -> None:
    from molmo2_data.datasets import get_dataset, register_custom_dataset

    names = write_frames(tmp_path / "imgs", 8)
    (tmp_path / "m.json").write_text(json.dumps([{"image": names, "question": "Q?", "answer": "A."}]))
    register_custom_dataset({"name": "test-many-images", "source": str(tmp_path / "m.json"), "task": "qa",
                             "image_dir": str(tmp_path / "imgs")})
    with pytest.raises(SchemaError, match=r"8 images in column 'image', more than the 5 .* map the column to 'video'"):
        get_dataset("test-many-images")[0]
