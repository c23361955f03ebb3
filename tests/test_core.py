"""The dataset interface, registry, table layer and bad-input handling."""

from __future__ import annotations

import os
import pickle
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from molmo2_data import paths
from molmo2_data.datasets import DatasetBase, get_dataset, list_datasets, register_dataset, rng_for_index
from molmo2_data.errors import (
    DatasetNotAvailableError,
    MediaDecodeError,
    MediaMissingError,
    SchemaError,
    UnknownDatasetError,
    UnknownSplitError,
)
from molmo2_data.example import Caption, Example, ImageRef, Metadata, Pointing, VideoRef
from molmo2_data.sample import load_truth, write_sample
from molmo2_data.sample.draw import NUMBER_WORDS, plural
from molmo2_data.tables import group_rows, read_table, write_table


@pytest.fixture(scope="module")
def cap_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cap")
    write_sample(root, seed=3, datasets=["pixmo-cap"], progress=False)
    return root


def test_example_validates_its_parts() -> None:
    meta = Metadata(dataset="x", split="train")
    with pytest.raises(ValueError, match="at least one annotation"):
        Example(annotations=[], metadata=meta)
    with pytest.raises(ValueError, match="images or a video"):
        Example(annotations=[Caption("c")], metadata=meta, images=(ImageRef(path="a"),), video=VideoRef("v.mp4"))
    with pytest.raises(ValueError, match=r"shape \(N, 2\)"):
        Pointing(label="cat", points=np.zeros((3, 3)), scale=(100, 100))
    with pytest.raises(ValueError, match="exactly one"):
        ImageRef()
    p = Pointing(label="cat", points=[[1, 2], [3, 4]], scale=(100, 100))
    assert p.points.dtype == np.float64 and p.points.shape == (2, 2)


def test_image_ref_of_decoded_pixels_is_shared_read_only() -> None:
    pixels = np.arange(2 * 5 * 3, dtype=np.uint8).reshape(2, 5, 3)
    ref = ImageRef(array=pixels, source="frame#7")
    assert ref.size() == (5, 2) and "5x2 decoded pixels" in repr(ref)
    out = ref.load()
    assert np.shares_memory(out, pixels) and not out.flags.writeable and pixels.flags.writeable
    with pytest.raises(ValueError, match="exactly one"):
        ImageRef(path="a.jpg", array=pixels)
    with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8"):
        ImageRef(array=pixels.astype(np.float32))
    with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8"):
        ImageRef(array=np.zeros((0, 4, 3), np.uint8))


def test_group_rows_keeps_first_appearance_order() -> None:
    order, offsets, first = group_rows(pa.array(["b", "a", "b", "c", "a", "b"]))
    groups = [order[offsets[g]:offsets[g + 1]].tolist() for g in range(len(offsets) - 1)]
    assert groups == [[0, 2, 5], [1, 4], [3]]
    assert first.tolist() == [0, 1, 3]


def test_table_roundtrip_is_memory_mapped(tmp_path: Path) -> None:
    t = pa.table({"a": list(range(1000)), "s": [str(i) for i in range(1000)]})
    p = write_table(t, tmp_path / "t.arrow")
    back = read_table(p)
    assert back.equals(t)
    # zero-copy: the buffers of a memory-mapped table are not owned by the Python heap
    assert pa.total_allocated_bytes() < 1_000_000


def test_unknown_names_suggest_close_matches(cap_root: Path) -> None:
    with pytest.raises(UnknownDatasetError, match=r"unknown dataset 'pixmo-capp'; did you mean 'pixmo-cap'"):
        get_dataset("pixmo-capp", root=cap_root)
    with pytest.raises(UnknownSplitError, match=r"unknown split 'valid'; did you mean 'validation'"):
        get_dataset("pixmo-cap", split="valid", root=cap_root)
    # the official internal spelling resolves too
    assert len(get_dataset("pixmo_cap", root=cap_root)) > 0


def test_missing_table_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotAvailableError, match="molmo2-data sample"):
        get_dataset("pixmo-cap", root=tmp_path)


def test_pixmo_cap_examples_are_true_and_split(cap_root: Path) -> None:
    truth = load_truth("pixmo-cap", cap_root)
    train = get_dataset("pixmo-cap", root=cap_root)
    val = get_dataset("pixmo-cap", split="validation", root=cap_root)
    assert len(train) + len(val) == len(truth) == 40
    assert len(val) == 4  # a tenth of the images when there are fewer than 10 x 2048
    urls = {train[i].metadata.source_ids["image_url"] for i in range(len(train))}
    assert urls.isdisjoint(val[i].metadata.source_ids["image_url"] for i in range(len(val)))
    for i in range(len(train)):
        ex = train[i]
        t = truth[ex.metadata.source_ids["image_url"]]
        img = ex["image"]
        assert img.shape == (t["size"][1], t["size"][0], 3)
        counts: dict[str, int] = {}
        for o in t["objects"]:
            counts[f"{o['color']} {o['shape']}"] = counts.get(f"{o['color']} {o['shape']}", 0) + 1
        caption = ex["caption"]
        for label, n in counts.items():
            color, shape = label.split()
            cx = np.mean([o["center"][0] for o in t["objects"] if f"{o['color']} {o['shape']}" == label]) / t["size"][0]
            where = "on the left" if cx < 0.4 else "on the right" if cx > 0.6 else "in the middle"
            assert f"{NUMBER_WORDS[n]} {color} {plural(shape, n)}, mostly {where}" in caption


def test_transcripts_mode_makes_a_two_annotation_tree(cap_root: Path) -> None:
    ds = get_dataset("pixmo-cap", root=cap_root, mode="transcripts")
    ex = ds.get(0, np.random.RandomState(1))
    assert [a.style for a in ex.annotations] == ["long_caption", "transcript"]
    with pytest.raises(ValueError, match="mode must be"):
        get_dataset("pixmo-cap", root=cap_root, mode="both")


def _fingerprint(ex: Example) -> bytes:
    return pickle.dumps(([(a.kind, a.text) for a in ex.annotations], [im.path for im in ex.images],
                         ex.metadata.rows))


def test_get_is_deterministic_across_calls_and_processes(cap_root: Path) -> None:
    ds = get_dataset("pixmo-cap", root=cap_root, mode="transcripts")
    here = [_fingerprint(ds.get(i, np.random.RandomState(7))) for i in range(len(ds))]
    again = [_fingerprint(ds.get(i, np.random.RandomState(7))) for i in range(len(ds))]
    assert here == again
    assert _fingerprint(ds[3]) == _fingerprint(ds.get(3, rng_for_index(3)))
    code = (
        "import pickle,sys,numpy as np\n"
        "from molmo2_data import get_dataset\n"
        "sys.path.insert(0, sys.argv[2])\n"
        "from test_core import _fingerprint\n"
        "ds = get_dataset('pixmo-cap', root=sys.argv[1], mode='transcripts')\n"
        "sys.stdout.buffer.write(pickle.dumps([_fingerprint(ds.get(i, np.random.RandomState(7))) for i in range(len(ds))]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(cap_root), str(Path(__file__).parent)],
                         capture_output=True, check=True, env={**os.environ, "PYTHONHASHSEED": "123"})
    assert pickle.loads(out.stdout) == here


def test_missing_media_is_skipped_and_counted(tmp_path: Path) -> None:
    write_sample(tmp_path, seed=1, datasets=["pixmo-cap"], progress=False)
    n_before = len(get_dataset("pixmo-cap", root=tmp_path)) + len(get_dataset("pixmo-cap", "validation", root=tmp_path))
    table = read_table(paths.table_path("pixmo-cap", "default", "train", tmp_path))
    for url in table.column("image_url").to_pylist()[:3]:
        paths.url_image_path(url, tmp_path).unlink()
    train = get_dataset("pixmo-cap", root=tmp_path)
    val = get_dataset("pixmo-cap", "validation", root=tmp_path)
    assert len(train) + len(val) == n_before - 3
    assert train.skipped["image missing locally"] + val.skipped["image missing locally"] == 6  # 3 per split index


def test_missing_column_and_wrong_type_are_schema_errors(tmp_path: Path) -> None:
    write_table(pa.table({"image_url": ["u"], "text": ["c"]}), paths.table_path("pixmo-cap", "default", "train", tmp_path))
    with pytest.raises(SchemaError, match="missing column 'caption'"):
        get_dataset("pixmo-cap", root=tmp_path)
    write_table(pa.table({"image_url": ["u"], "caption": [3], "transcripts": [["t"]]}),
                paths.table_path("pixmo-cap", "default", "train", tmp_path))
    with pytest.raises(SchemaError, match="column 'caption' has unexpected type int64"):
        get_dataset("pixmo-cap", root=tmp_path)


def test_corrupt_table_file_is_a_schema_error(tmp_path: Path) -> None:
    p = paths.table_path("pixmo-cap", "default", "train", tmp_path)
    p.parent.mkdir(parents=True)
    p.write_bytes(b"this is not arrow")
    with pytest.raises(SchemaError, match="not an Arrow IPC stream"):
        get_dataset("pixmo-cap", root=tmp_path)


def test_corrupt_and_missing_images_raise_typed_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    with pytest.raises(MediaDecodeError, match="not a decodable image"):
        ImageRef(path=str(bad)).load()
    with pytest.raises(MediaMissingError, match="not found"):
        ImageRef(path=str(tmp_path / "nope.jpg")).load()


def test_image_decode_handles_modes_and_exif(tmp_path: Path) -> None:
    from PIL import Image

    rgba = Image.new("RGBA", (4, 2), (255, 0, 0, 0))
    rgba.putpixel((0, 0), (0, 0, 255, 255))
    rgba.save(tmp_path / "a.png")
    arr = ImageRef(path=str(tmp_path / "a.png")).load()
    assert arr.shape == (2, 4, 3) and arr[0, 0].tolist() == [0, 0, 255] and arr[1, 1].tolist() == [255, 255, 255]
    g16 = Image.fromarray(np.array([[0, 65535]], dtype=np.uint16))
    g16.save(tmp_path / "g.png")
    assert ImageRef(path=str(tmp_path / "g.png")).load()[0, :, 0].tolist() == [0, 255]
    img = Image.new("RGB", (6, 3), (0, 200, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    img.save(tmp_path / "r.jpg", exif=exif)
    ref = ImageRef(path=str(tmp_path / "r.jpg"))
    assert ref.size() == (3, 6) and ref.load().shape == (6, 3, 3)
    cmyk = Image.new("CMYK", (2, 2), (0, 255, 255, 0))
    cmyk.save(tmp_path / "c.jpg")
    px = ImageRef(path=str(tmp_path / "c.jpg")).load()[0, 0]
    assert px[0] > 200 and px[1] < 60 and px[2] < 60


def test_seed_style_subclass_with_dict_examples(tmp_path: Path) -> None:
    from PIL import Image

    Image.new("RGB", (8, 6), (10, 20, 30)).save(tmp_path / "x.png")

    @register_dataset("test-seed-style", overwrite=True)
    class MySimpleDataset(DatasetBase):
        def __init__(self, split: str = "train", data_dir: str = str(tmp_path)):
            self.split = split
            self.data_dir = Path(data_dir)
            super().__init__(split)

        def load(self):
            return [{"image_filename": "x.png", "question": "What colour?", "answer": "dark blue"}]

        def get(self, idx, rng):
            item = self.data[idx]
            image = np.array(Image.open(self.data_dir / item["image_filename"]).convert("RGB"))
            return {"image": image, "messages": [{"role": "user", "content": item["question"]},
                                                 {"role": "assistant", "content": item["answer"]}],
                    "metadata": {"id": idx, "source": "my_dataset"}}

    ds = get_dataset("test-seed-style")
    assert "test-seed-style" in list_datasets()
    raw = ds[0]
    assert raw["messages"][1]["content"] == "dark blue"
    ex = ds.example(0)
    assert ex.media_kind == "image" and ex.images[0].load()[0, 0].tolist() == [10, 20, 30]
    assert ex["messages"] == raw["messages"] and ex.metadata.source_ids["source"] == "my_dataset"


def test_cli_sample_and_inspect(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from molmo2_data.cli.main import main

    assert main(["sample", "--out", str(tmp_path), "--datasets", "pixmo-cap", "--quiet"]) == 0
    assert main(["inspect", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if "pixmo-cap" in line)
    assert re.search(r"\b40\b", row) and "ok" in row  # 40 rows in the sample table
    assert main(["inspect", "pixmo-cap", "--root", str(tmp_path), "-n", "2"]) == 0
    out = capsys.readouterr().out
    assert "image_url: string" in out and "caption words" in out and "sample 1" in out
    assert main(["inspect", "nope", "--root", str(tmp_path)]) == 1
    assert "unknown dataset 'nope'" in capsys.readouterr().err


def test_inspect_statistics_report_video_durations(sample_root: Path) -> None:
    import av

    from molmo2_data.inspect import statistics

    stats = statistics("molmo2-videocapqa", root=sample_root)
    ds = get_dataset("molmo2-videocapqa", root=sample_root)
    durations = {}
    for i in range(len(ds)):
        path = ds[i].video.path
        with av.open(path) as c:  # independent: count decoded frames / frame rate
            s = c.streams.video[0]
            durations[path] = sum(1 for _ in c.decode(s)) / float(s.average_rate)
    got = stats["values"]["video duration (s)"]
    assert got["n"] == len(durations)
    assert got["mean"] == pytest.approx(np.mean(list(durations.values())), abs=1e-3)
    assert got["max"] == pytest.approx(max(durations.values()), abs=1e-3)
