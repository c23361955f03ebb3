"""Custom datasets from a config: JSON/JSONL + image folder, local HF datasets, video, points, counts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from molmo2_data.datasets import CustomDatasetConfig, get_dataset, register_custom_dataset
from molmo2_data.errors import ConfigError
from molmo2_data.example import Count, Messages, Pointing
from molmo2_data.media.video import probe_video
from molmo2_data.sample.draw import pixel_color_name, place_objects, render_scene


@pytest.fixture()
def shapes_dir(tmp_path: Path) -> tuple[Path, list]:
    rng = np.random.RandomState(0)
    (tmp_path / "images").mkdir()
    records = []
    for i in range(3):
        objs = place_objects(rng, 200, 100, [("circle", "red")] * (i + 1))
        render_scene(200, 100, objs).save(tmp_path / "images" / f"{i}.png")
        records.append({"file": f"{i}.png", "object": "red circle", "xy": [list(o.center) for o in objs],
                        "n": len(objs), "q": f"How many? {i}", "a": str(len(objs))})
    records.append({"file": "missing.png", "object": "x", "xy": [], "n": 0, "q": "?", "a": "?"})
    (tmp_path / "ann.jsonl").write_text("\n".join(json.dumps(r) for r in records))
    return tmp_path, records


def test_jsonl_pointing_with_pixel_scale(shapes_dir: tuple[Path, list]) -> None:
    d, records = shapes_dir
    register_custom_dataset({"name": "test-shapes-points", "source": str(d / "ann.jsonl"), "image_dir": str(d / "images"),
                             "task": "pointing", "columns": {"image": "file", "label": "object", "points": "xy"}})
    ds = get_dataset("test-shapes-points")
    assert len(ds) == 3 and ds.skipped["media missing locally"] == 1
    for i in range(3):
        ex = ds[i]
        ann = ex.annotations[0]
        assert isinstance(ann, Pointing) and ann.scale == (200.0, 100.0) and ann.count == i + 1
        img = ex.images[0].load()
        for x, y in ann.points:
            assert pixel_color_name(img[int(y), int(x)]) == "red"


def test_yaml_qa_and_counting_and_grouping(shapes_dir: tuple[Path, list], tmp_path: Path) -> None:
    d, _ = shapes_dir
    cfg = tmp_path / "qa.yaml"
    cfg.write_text("name: test-shapes-qa\nsource: ann.jsonl\nimage_dir: images\ntask: qa\n"
                   "columns: {image: file, question: q, answer: a}\ngroup_by: object\n")
    register_custom_dataset(cfg)
    ds = get_dataset("test-shapes-qa")
    assert len(ds) == 1  # three rows of one label grouped into one tree (the 4th row's image is missing)
    ex = ds[0]
    assert [a.messages[1].content for a in ex.annotations] == ["1", "2", "3"]
    assert all(isinstance(a, Messages) for a in ex.annotations)
    register_custom_dataset({"name": "test-shapes-count", "source": str(d / "ann.jsonl"),
                             "image_dir": str(d / "images"), "task": "counting",
                             "columns": {"image": "file", "label": "object", "count": "n", "points": "nope"}})
    c = get_dataset("test-shapes-count")[2].annotations[0]
    assert isinstance(c, Count) and c.count == 3


def test_local_hf_dataset_with_column_mapping_and_multi_image(tmp_path: Path) -> None:
    import datasets

    imgs = [Image.new("RGB", (10 + i, 5), (i * 40, 0, 0)) for i in range(3)]
    ds = datasets.Dataset.from_dict({"pics": [[imgs[0], imgs[1]], [imgs[2]]], "prompt": ["compare", "one"],
                                     "reply": ["left is darker", "ok"]},
                                    features=datasets.Features({"pics": datasets.Sequence(datasets.Image()),
                                                                "prompt": datasets.Value("string"),
                                                                "reply": datasets.Value("string")}))
    datasets.DatasetDict({"train": ds, "validation": ds.select([1])}).save_to_disk(str(tmp_path / "hf"))
    register_custom_dataset({"name": "test-hf-multi", "source": str(tmp_path / "hf"), "task": "qa",
                             "columns": {"image": "pics", "question": "prompt", "answer": "reply"}})
    train = get_dataset("test-hf-multi")
    ex = train[0]
    assert ex.media_kind == "multi_image" and [im.size() for im in ex.images] == [(10, 5), (11, 5)]
    assert ex.images[1].load()[0, 0].tolist() == [40, 0, 0]
    assert len(get_dataset("test-hf-multi", split="validation")) == 1


def test_video_custom_dataset(tmp_path: Path) -> None:
    import av

    path = tmp_path / "v.mp4"
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=5)
        s.width, s.height, s.pix_fmt = 32, 32, "yuv420p"
        for i in range(10):
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), i * 20, np.uint8), format="rgb24")
            for p in s.encode(frame):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    (tmp_path / "v.json").write_text(json.dumps([{"video": "v.mp4", "caption": "grey fades in", "clip_start": 0.4,
                                                  "clip_end": 1.6}]))
    register_custom_dataset({"name": "test-video", "source": str(tmp_path / "v.json"), "task": "caption",
                             "video_dir": str(tmp_path)})
    ex = get_dataset("test-video")[0]
    assert ex.video.clip_start == 0.4 and ex.video.clip_end == 1.6
    info = probe_video(ex.video.path)
    assert info.num_frames == 10 and abs(info.duration - 2.0) < 1e-6 and info.width == 32


def test_bad_configs_fail_with_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown task 'pointin'; did you mean 'pointing'"):
        CustomDatasetConfig(name="x", source="a.jsonl", task="pointin")
    with pytest.raises(ConfigError, match="unknown keys"):
        CustomDatasetConfig.from_mapping({"name": "x", "source": "a", "colums": {}})
    (tmp_path / "a.jsonl").write_text(json.dumps({"q": "hi"}))
    register_custom_dataset({"name": "test-bad-cols", "source": str(tmp_path / "a.jsonl"), "task": "qa"})
    with pytest.raises(ConfigError, match=r"lacks column\(s\) \['question', 'answer'\]"):
        get_dataset("test-bad-cols")


def test_a_broken_config_in_the_custom_folder_is_skipped_with_a_warning(tmp_path: Path) -> None:
    from molmo2_data.datasets.custom import register_configs_in

    (tmp_path / "bad.yaml").write_text("name: x\nsource: a.jsonl\ntask: nonsense\n")
    (tmp_path / "good.json").write_text(json.dumps({"name": "test-good-cfg", "source": "a.jsonl"}))
    with pytest.warns(UserWarning, match="skipping custom dataset config .*bad.yaml: .*unknown task 'nonsense'"):
        assert register_configs_in(tmp_path) == ["test-good-cfg"]
