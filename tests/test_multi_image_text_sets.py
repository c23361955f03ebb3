"""Multi-image sets (Molmo2-MultiImageQA, -SynMultiImageQA, -MultiImagePoint), the Tulu-4 text data
and the hardcodes: examples checked against the sample generator's truth and the decoded pixels."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from molmo2_data import paths
from molmo2_data.datasets import get_dataset
from molmo2_data.errors import SchemaError
from molmo2_data.example import Example, Messages, Pointing
from molmo2_data.sample import load_truth
from molmo2_data.sample.draw import COLORS, pixel_color_name
from molmo2_data.sample.multi_image_sets import HARDCODE_QA, MIQA_TRAIN_SIZES, text_drawn
from molmo2_data.tables import read_table, write_table

N_CHECK = 20

# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


def color_mask(pixels: np.ndarray, color: str, tol: int = 30) -> np.ndarray:
    rgb = np.asarray(COLORS[color], dtype=int)
    return np.max(np.abs(pixels.astype(int) - rgb), axis=-1) <= tol


def count_blobs(mask: np.ndarray, min_pixels: int = 20) -> int:
    """Connected components (4-neighbourhood) of at least ``min_pixels`` pixels."""
    seen = np.zeros_like(mask, dtype=bool)
    h, w = mask.shape
    n = 0
    for y0, x0 in zip(*np.nonzero(mask), strict=True):
        if seen[y0, x0]:
            continue
        stack, size = [(y0, x0)], 0
        seen[y0, x0] = True
        while stack:
            y, x = stack.pop()
            size += 1
            for yy, xx in ((y + 1, x), (y - 1, x), (y, x + 1), (y, x - 1)):
                if 0 <= yy < h and 0 <= xx < w and mask[yy, xx] and not seen[yy, xx]:
                    seen[yy, xx] = True
                    stack.append((yy, xx))
        n += size >= min_pixels
    return n


def check_scene_pixels(pixels: np.ndarray, objects: list[dict]) -> None:
    """Every drawn object is at its centre in its colour, and the number of blobs of each colour
    equals the number of objects of that colour."""
    for o in objects:
        x, y = o["center"]
        assert pixel_color_name(pixels[int(round(y)), int(round(x))]) == o["color"]
    for color, n in Counter(o["color"] for o in objects).items():
        assert count_blobs(color_mask(pixels, color)) == n, color


def qa_pairs(ex: Example) -> list[tuple[str, str]]:
    out = []
    for ann in ex.annotations:
        assert isinstance(ann, Messages)
        assert [m.role for m in ann.messages] == ["user", "assistant"]
        out.append((ann.messages[0].content, ann.messages[1].content))
    return out


def fingerprint(ex: Example) -> str:
    def norm(v: Any) -> Any:
        if isinstance(v, np.ndarray):
            return v.tolist()
        if dataclasses.is_dataclass(v):
            return {k: norm(x) for k, x in dataclasses.asdict(v).items()}
        if isinstance(v, list | tuple):
            return [norm(x) for x in v]
        if isinstance(v, dict):
            return {k: norm(x) for k, x in v.items()}
        if isinstance(v, bytes):
            return hashlib.sha256(v).hexdigest()
        return v

    return json.dumps({
        "annotations": [norm(a) for a in ex.annotations],
        "images": [im.path or hashlib.sha256(im.data or b"").hexdigest() for im in ex.images],
        "video": ex.video.path if ex.video else None,
        "metadata": norm(ex.metadata),
    }, sort_keys=True, default=str)


def copy_table(src_root: Path, dst_root: Path, name: str, split: str = "train", config: str = "default",
               drop: str | None = None, table: pa.Table | None = None) -> None:
    t = table if table is not None else read_table(paths.table_path(name, config, split, src_root))
    if drop is not None:
        t = t.drop_columns([drop])
    write_table(t, paths.table_path(name, config, split, dst_root))


def link_images(src_root: Path, dst_root: Path, urls: list[str]) -> None:
    for u in urls:
        dst = paths.url_image_path(u, dst_root)
        dst.parent.mkdir(parents=True, exist_ok=True)
        if not dst.exists():
            dst.write_bytes(paths.url_image_path(u, src_root).read_bytes())


# ---------------------------------------------------------------------------------------------
# Molmo2-MultiImageQA
# ---------------------------------------------------------------------------------------------


def test_multiimageqa_examples_are_true(sample_root: Path) -> None:
    ds = get_dataset("molmo2-multiimageqa", root=sample_root)
    assert len(ds) == sum(2 <= n <= 5 for n in MIQA_TRAIN_SIZES) == 30
    assert dict(ds.skipped) == {"image count outside 2-5": 2}
    truth = load_truth("molmo2-multiimageqa", sample_root)
    for i in range(N_CHECK):
        ex = ds.get(i, np.random.RandomState(i))
        row = ex.metadata.rows[0]
        t = truth[f"train/{row}"]
        scenes = t["scenes"]
        assert 2 <= len(ex.images) <= 5 and ex.media_kind == "multi_image"
        assert [im.source for im in ex.images] == [s["url"] for s in scenes]
        decoded = [im.load() for im in ex.images]
        for px, s in zip(decoded, scenes, strict=True):
            assert px.shape == (s["size"][1], s["size"][0], 3)
            check_scene_pixels(px, s["objects"])
        assert qa_pairs(ex) == [(q["question"], q["answer"]) for q in t["qa"]]
        assert all(a.style == "correction_qa" for a in ex.annotations)
        for q in t["qa"]:  # recompute every answer from the drawn objects
            counts = [sum(f"{o['color']} {o['shape']}" == q["label"] for o in s["objects"]) for s in scenes]
            if q["kind"] == "count_in_image":
                assert q["answer"] == str(counts[q["image"]])
                assert f"Image {q['image'] + 1}" in q["question"]
            elif q["kind"] == "total":
                assert q["answer"] == str(sum(counts))
            else:
                assert q["answer"].startswith(f"Image {int(np.argmax(counts)) + 1} ")
                assert sorted(counts)[-1] > sorted(counts)[-2]


def test_multiimageqa_image_range_option_and_validation(sample_root: Path) -> None:
    everything = get_dataset("molmo2-multiimageqa", root=sample_root, min_images=1, max_images=None)
    assert len(everything) == len(MIQA_TRAIN_SIZES)
    assert sorted(len(everything.get(i, np.random.RandomState(0)).images) for i in range(len(everything)))[::31] \
        == [1, 6]
    val = get_dataset("molmo2-multiimageqa", split="validation", root=sample_root)
    assert len(val) == 6 and val.get(0, np.random.RandomState(0)).metadata.split == "validation"


def test_multiimageqa_missing_image_is_counted(sample_root: Path, tmp_path: Path) -> None:
    copy_table(sample_root, tmp_path, "molmo2-multiimageqa")
    table = read_table(paths.table_path("molmo2-multiimageqa", "default", "train", sample_root))
    urls = table.column("image_urls").to_pylist()
    all_urls = sorted({u for row in urls for u in row})
    link_images(sample_root, tmp_path, all_urls[1:])  # one image not downloaded
    affected = [i for i, row in enumerate(urls) if all_urls[0] in row and 2 <= len(row) <= 5]
    ds = get_dataset("molmo2-multiimageqa", root=tmp_path)
    assert ds.skipped["image missing locally"] == len(affected) > 0
    assert len(ds) == 30 - len(affected)


# ---------------------------------------------------------------------------------------------
# Molmo2-SynMultiImageQA
# ---------------------------------------------------------------------------------------------


def measured_bar_values(pixels: np.ndarray, info: dict) -> list[float]:
    """Bar heights read from the pixels (bar-colour pixels in the bar's centre column)."""
    rgb = np.asarray(info["rgb"], dtype=int)
    out = []
    for bar in info["bars"]:
        x0, _y0, x1, base = bar["box"]
        col = pixels[: base + 1, (x0 + x1) // 2].astype(int)
        height = int((np.max(np.abs(col - rgb), axis=-1) <= 10).sum())
        out.append(height / info["px_per_unit"])
    return out


def test_synmultiimageqa_examples_are_true(sample_root: Path) -> None:
    ds = get_dataset("molmo2-synmultiimageqa", root=sample_root)
    assert len(ds) == 32
    assert dict(ds.skipped) == {"metadata.num_images > 5": 1}
    truth = load_truth("molmo2-synmultiimageqa", sample_root)
    kinds = Counter()
    for i in range(len(ds)):
        ex = ds.get(i, np.random.RandomState(i))
        t = truth[ex.metadata.source_ids["id"]]
        assert ex.metadata.source_ids["config"] == t["config"]
        assert 2 <= len(ex.images) <= 5 and all(im.data is not None for im in ex.images)
        assert qa_pairs(ex) == [(q["question"], q["answer"]) for q in t["qa"]]
        assert ex.metadata.extra["explanations"] == [q["explanation"] for q in t["qa"]]
        decoded = [im.load() for im in ex.images]
        values: list[dict[str, float]] = []
        for px, info in zip(decoded, t["images"], strict=True):
            kinds[info["kind"]] += 1
            if info["kind"] == "bars":
                measured = measured_bar_values(px, info)
                assert np.allclose(measured, [b["value"] for b in info["bars"]], atol=0.5)
                values.append({b["category"]: round(m) for b, m in zip(info["bars"], measured, strict=True)})
            elif info["kind"] == "table":
                assert all(text_drawn(px, item) for item in info["texts"])
                cells = {it["text"]: None for it in info["texts"]}
                assert all(c in cells and str(v) in cells for c, v in info["cells"])
                values.append({c: v for c, v in info["cells"]})
            else:
                check_scene_pixels(px, info["objects"])
        for q in t["qa"]:
            if q["kind"] == "total":  # charts and tables: recomputed from what the pixels show
                assert q["answer"] == str(sum(v[q["category"]] for v in values))
            elif q["kind"] == "difference":
                a, b = q["images"]
                assert q["answer"] == str(values[a][q["category"]] - values[b][q["category"]]) != ""
                assert int(q["answer"]) >= 0
            elif q["kind"] == "argmax":
                vals = [v[q["category"]] for v in values]
                assert q["answer"] == t["images"][int(np.argmax(vals))]["title"]
            elif q["kind"] == "total_objects":
                n = sum(f"{o['color']} {o['shape']}" == q["label"] for info in t["images"] for o in info["objects"])
                assert q["answer"] == str(n)
            else:
                assert q["answer"] == str(len(t["images"][q["image"]]["objects"]))
    assert set(kinds) == {"bars", "table", "shapes"}


def test_synmultiimageqa_configs_and_explanations(sample_root: Path) -> None:
    table_only = get_dataset("molmo2-synmultiimageqa", root=sample_root, config="table")
    assert len(table_only) == 4
    assert {table_only.get(i, np.random.RandomState(0)).metadata.source_ids["config"] for i in range(4)} == {"table"}
    exp = get_dataset("molmo2-synmultiimageqa", root=sample_root, config=["chart"], with_explanation=True)
    ex = exp.get(0, np.random.RandomState(0))
    truth = load_truth("molmo2-synmultiimageqa", sample_root)[ex.metadata.source_ids["id"]]
    for ann, q in zip(ex.annotations, truth["qa"], strict=True):
        assert ann.style == "cosyn_chart_exp"  # the official cosyn_multidoc_chart_exp
        assert ann.messages[1].content == f"{q['explanation']} Answer: {q['answer']}"
    plain = get_dataset("molmo2-synmultiimageqa", root=sample_root, config=["chart"]).get(0, np.random.RandomState(0))
    assert {a.style for a in plain.annotations} == {"cosyn_chart"}
    more = get_dataset("molmo2-synmultiimageqa", root=sample_root, config="chart", max_images=6)
    assert len(more) == 5 and not more.skipped


def test_synmultiimageqa_image_without_bytes_is_counted(sample_root: Path, tmp_path: Path) -> None:
    t = read_table(paths.table_path("molmo2-synmultiimageqa", "doc", "train", sample_root))
    images = t.column("images").to_pylist()
    images[1][0]["bytes"] = None
    t = t.set_column(t.schema.get_field_index("images"), "images", pa.array(images, t.schema.field("images").type))
    copy_table(sample_root, tmp_path, "molmo2-synmultiimageqa", config="doc", table=t)
    ds = get_dataset("molmo2-synmultiimageqa", root=tmp_path)
    assert dict(ds.skipped) == {"image bytes missing": 1} and len(ds) == 3


# ---------------------------------------------------------------------------------------------
# Molmo2-MultiImagePoint
# ---------------------------------------------------------------------------------------------


def test_multiimagepoint_points_lie_on_the_objects(sample_root: Path) -> None:
    ds = get_dataset("molmo2-multiimagepoint", root=sample_root)
    assert len(ds) == 30 and not ds.skipped
    truth = load_truth("molmo2-multiimagepoint", sample_root)
    styles = Counter()
    for i in range(N_CHECK + 5):
        ex = ds.get(i, np.random.RandomState(i))
        t = truth[f"train/{ex.metadata.rows[0]}"]
        (ann,) = ex.annotations
        assert isinstance(ann, Pointing)
        styles[ann.style] += 1
        assert ann.mode == {"multi_image_pointing": "point", "multi_image_point_then_count": "point_count"}[ann.style]
        n = len(t["scenes"])
        assert len(ex.images) == n and ann.image_scales == ((100.0, 100.0),) * n and ann.scale == (100.0, 100.0)
        # image_sha256s = sha256 of the URL string = the local cache file name
        for im, sha in zip(ex.images, ex.metadata.source_ids["image_sha256s"], strict=True):
            assert sha == hashlib.sha256(im.source.encode()).hexdigest() == Path(im.path).name
        color, shape = t["label"].split(" ")
        assert ann.label == f"{color} {shape}s"
        per_image = np.bincount(ann.image_index, minlength=n).tolist()
        assert per_image == t["counts"] == ex.metadata.extra["counts"] and ann.count == sum(t["counts"])
        for k, (im, scene) in enumerate(zip(ex.images, t["scenes"], strict=True)):
            px = im.load()
            h, w = px.shape[:2]
            for x, y in ann.points[ann.image_index == k]:
                assert pixel_color_name(px[int(round(y / 100 * h)), int(round(x / 100 * w))]) == color
            targets = [o for o in scene["objects"] if o["color"] == color and o["shape"] == shape]
            assert len(targets) == t["counts"][k]
            check_scene_pixels(px, scene["objects"])
    assert set(styles) == {"multi_image_pointing", "multi_image_point_then_count"}


def test_multiimagepoint_missing_image_and_bad_lists(sample_root: Path, tmp_path: Path) -> None:
    t = read_table(paths.table_path("molmo2-multiimagepoint", "default", "train", sample_root))
    counts = t.column("counts").to_pylist()
    counts[0] = counts[0][:-1]  # one entry short: the per-image lists disagree
    t = t.set_column(t.schema.get_field_index("counts"), "counts", pa.array(counts, pa.list_(pa.int64())))
    copy_table(sample_root, tmp_path, "molmo2-multiimagepoint", table=t)
    urls = t.column("image_urls").to_pylist()
    missing = urls[5][0]
    link_images(sample_root, tmp_path, sorted({u for row in urls for u in row} - {missing}))
    affected = {i for i, row in enumerate(urls) if missing in row} - {0}
    ds = get_dataset("molmo2-multiimagepoint", root=tmp_path)
    assert dict(ds.skipped) == {"per-image lists of unequal length": 1, "image missing locally": len(affected)}
    assert len(ds) == 30 - 1 - len(affected)


# ---------------------------------------------------------------------------------------------
# Tulu-4 text data
# ---------------------------------------------------------------------------------------------

TULU_SKIPS = {"category code": 1, "category non-english": 1, "empty messages": 1, "first message > 4096 tokens": 1,
              "hardcode source": 2, "malformed turns": 4, "puzzle source": 1, "special token": 1,
              "system message with a newline": 1, "verifiable-reasoning source": 1}


def test_tulu4_filters_and_turns(sample_root: Path) -> None:
    ds = get_dataset("molmo2-tulu4-classified", root=sample_root)
    assert type(ds).__name__ == "Molmo2Tulu4" and ds.name == "molmo2-tulu4"
    assert dict(ds.skipped) == TULU_SKIPS
    truth = load_truth("molmo2-tulu4", sample_root)
    kept = {k for k, v in truth.items() if v["expect"] in ("keep", "keep_4096_only")}
    assert len(ds) == len(kept) == 27
    seen = set()
    for i in range(len(ds)):
        ex = ds.get(i, np.random.RandomState(i))
        assert ex.media_kind == "none"
        (ann,) = ex.annotations
        assert ann.style == "text_sft"
        assert [m.role for m in ann.messages] == ["user", "assistant"] * (len(ann.messages) // 2)
        rid = ex.metadata.source_ids["id"]
        seen.add(rid)
        raw = truth[rid]["messages"]
        if raw[0]["role"] == "system":
            assert ann.messages[0].content == f"System: {raw[0]['content']}\n{raw[1]['content']}"
            assert len(ann.messages) == len(raw) - 1
        else:
            assert [m.content for m in ann.messages] == [m["content"] for m in raw]
        answers = [m.content for m in ann.messages if m.role == "assistant"]
        assert len(answers) == len(truth[rid]["facts"])
        for text, (a, b, c) in zip(answers, truth[rid]["facts"], strict=True):
            assert text == f"{a} plus {b} is {c}." and a + b == c
        questions = [m.content for m in ann.messages if m.role == "user"]
        for q, (a, b, _c) in zip(questions, truth[rid]["facts"], strict=True):
            assert re.search(rf"What is {a} plus {b}\?$", q)
    assert seen == kept


def test_tulu4_pretraining_limit_and_use_options(sample_root: Path) -> None:
    short = get_dataset("molmo2-tulu4", root=sample_root, max_first_message_tokens=2304)
    assert len(short) == 26 and short.skipped["first message > 2304 tokens"] == 2
    loose = get_dataset("molmo2-tulu4", root=sample_root, use_code=True, use_non_english=True, use_puzzles=True,
                        use_reasoning=True, max_first_message_tokens=None)
    assert len(loose) == 27 + 1 + 1 + 1 + 1 + 1
    assert dict(loose.skipped) == {"empty messages": 1, "hardcode source": 2, "malformed turns": 4,
                                   "special token": 1, "system message with a newline": 1}


def test_tulu4_missing_column_is_a_schema_error(sample_root: Path, tmp_path: Path) -> None:
    copy_table(sample_root, tmp_path, "molmo2-tulu4", drop="first_message_qwen3_tokens")
    with pytest.raises(SchemaError, match="first_message_qwen3_tokens"):
        get_dataset("molmo2-tulu4", root=tmp_path)


# ---------------------------------------------------------------------------------------------
# Hardcodes
# ---------------------------------------------------------------------------------------------


def test_hardcodes_questions_and_media(sample_root: Path) -> None:
    ds = get_dataset("molmo2-hardcodes", root=sample_root)
    n_expected = sum(len(qs) for qs, _ in HARDCODE_QA) + 1  # row 9: one question x two own images
    assert len(ds) == n_expected == 26 and not ds.skipped
    truth = load_truth("molmo2-hardcodes", sample_root)
    answers = {q: r for qs, r in HARDCODE_QA for q in qs}
    image_dir = paths.image_dir(sample_root)
    video_dir = sample_root / "media" / "videos"
    media = Counter()
    for i in range(len(ds)):
        for seed in range(6):
            ex = ds.get(i, np.random.RandomState(seed))
            ((q, a),) = qa_pairs(ex)
            assert answers[q] == a
            kind = ex.metadata.extra["media"]
            media[kind] += 1
            if kind == "own image":  # the row's embedded image, one of those the writer drew for it
                (im,) = ex.images
                px = im.load()
                drawn = [v["objects"] for k, v in truth.items() if k.startswith(f"image/{ex.metadata.rows[0]}/")]
                assert any(all(pixel_color_name(px[int(round(o["center"][1])), int(round(o["center"][0]))])
                               == o["color"] for o in objects) for objects in drawn)
            elif kind == "image":
                assert len(ex.images) == 1 and Path(ex.images[0].path).parent == image_dir
            elif kind == "multi-image":
                assert 2 <= len(ex.images) <= 5 and all(Path(im.path).parent == image_dir for im in ex.images)
            elif kind == "video":  # the sample data has videos, so the draw finds one
                assert ex.video is not None and not ex.images
                assert Path(ex.video.path).is_relative_to(video_dir) and Path(ex.video.path).is_file()
            else:
                assert kind == "none" and not ex.images and ex.video is None
    assert media["own image"] == 3 * 6
    assert set(media) == {"own image", "image", "multi-image", "video", "none"}


def test_hardcodes_pools_skip_non_images(sample_root: Path, tmp_path: Path) -> None:
    copy_table(sample_root, tmp_path, "molmo2-hardcodes")
    store = paths.image_dir(tmp_path)
    store.mkdir(parents=True)
    (store / ("0" * 64)).write_text("HTTPError: 404 Not Found")  # a cached download error
    src = paths.image_dir(sample_root)
    good = sorted(p.name for p in src.iterdir())[0]
    (store / good).write_bytes((src / good).read_bytes())
    ds = get_dataset("molmo2-hardcodes", root=tmp_path)
    for i in range(len(ds)):
        for seed in range(4):
            ex = ds.get(i, np.random.RandomState(seed))
            assert all(Path(im.path).name == good for im in ex.images if im.path is not None)
            assert ex.video is None


# ---------------------------------------------------------------------------------------------
# all five: determinism, schema errors
# ---------------------------------------------------------------------------------------------

NAMES = ["molmo2-multiimageqa", "molmo2-synmultiimageqa", "molmo2-multiimagepoint", "molmo2-tulu4",
         "molmo2-hardcodes"]


@pytest.mark.parametrize("name", NAMES)
def test_get_is_deterministic(sample_root: Path, name: str) -> None:
    ds = get_dataset(name, root=sample_root)
    for i in range(0, len(ds), 3):
        for seed in (0, 7):
            assert fingerprint(ds.get(i, np.random.RandomState(seed))) == \
                fingerprint(ds.get(i, np.random.RandomState(seed)))
    again = get_dataset(name, root=sample_root)
    assert [fingerprint(again[i]) for i in range(len(ds))] == [fingerprint(ds[i]) for i in range(len(ds))]


def test_get_is_identical_in_another_process(sample_root: Path) -> None:
    code = (
        "import sys, numpy as np\n"
        "sys.path.insert(0, sys.argv[2])\n"
        "from test_multi_image_text_sets import fingerprint\n"
        "from molmo2_data.datasets import get_dataset\n"
        "out = []\n"
        "for n in ('molmo2-hardcodes', 'molmo2-multiimagepoint'):\n"
        "    ds = get_dataset(n, root=sys.argv[1])\n"
        "    out += [fingerprint(ds.get(i, np.random.RandomState(5))) for i in range(len(ds))]\n"
        "print('\\n'.join(out))\n"
    )
    res = subprocess.run([sys.executable, "-c", code, str(sample_root), str(Path(__file__).parent)],
                         capture_output=True, text=True, check=True)
    here = []
    for n in ("molmo2-hardcodes", "molmo2-multiimagepoint"):
        ds = get_dataset(n, root=sample_root)
        here += [fingerprint(ds.get(i, np.random.RandomState(5))) for i in range(len(ds))]
    assert res.stdout.splitlines() == here


@pytest.mark.parametrize("name,config,column", [
    ("molmo2-multiimageqa", "default", "qa_pairs"),
    ("molmo2-synmultiimageqa", "chart", "metadata"),
    ("molmo2-multiimagepoint", "default", "collection_method"),
    ("molmo2-hardcodes", "default", "questions"),
])
def test_missing_column_is_a_schema_error(sample_root: Path, tmp_path: Path, name: str, config: str,
                                          column: str) -> None:
    copy_table(sample_root, tmp_path, name, config=config, drop=column)
    with pytest.raises(SchemaError, match=column):
        get_dataset(name, root=tmp_path)


def test_wrong_nested_type_is_a_schema_error(sample_root: Path, tmp_path: Path) -> None:
    t = read_table(paths.table_path("molmo2-multiimagepoint", "default", "train", sample_root))
    flat = [[[[p["x"], p["y"]] for p in img] for img in row] for row in t.column("points").to_pylist()]
    t = t.set_column(t.schema.get_field_index("points"), "points", pa.array(flat))  # [x, y] lists, not {x, y}
    copy_table(sample_root, tmp_path, "molmo2-multiimagepoint", table=t)
    with pytest.raises(SchemaError, match="points"):
        get_dataset("molmo2-multiimagepoint", root=tmp_path)


def test_embedded_image_tables_open_with_hf_datasets(sample_root: Path) -> None:
    """The sample tables carry the published HF features: ``images`` decodes as a list of images."""
    import datasets

    ds = datasets.Dataset.from_file(str(paths.table_path("molmo2-synmultiimageqa", "music", "train", sample_root)))
    assert ds.features["images"] == datasets.List(datasets.Image())
    row = ds[0]
    assert len(row["images"]) == row["metadata"]["num_images"] >= 2
    assert row["images"][0].size == (288, 216)
    hard = datasets.Dataset.from_file(str(paths.table_path("molmo2-hardcodes", "default", "train", sample_root)))
    assert hard.num_rows == 15 and [len(x) for x in hard["images"]].count(0) == 13


def test_multiimageqa_empty_pair_is_dropped_and_counted(sample_root: Path, tmp_path: Path) -> None:
    t = read_table(paths.table_path("molmo2-multiimageqa", "default", "train", sample_root))
    qa = t.column("qa_pairs").to_pylist()
    qa[0]["answer"][0] = "  "  # row 0 (2 images) keeps its other pairs
    qa[1] = {"question": qa[1]["question"], "answer": qa[1]["answer"][:-1]}  # lists of unequal length
    t = t.set_column(t.schema.get_field_index("qa_pairs"), "qa_pairs", pa.array(qa, t.schema.field("qa_pairs").type))
    copy_table(sample_root, tmp_path, "molmo2-multiimageqa", table=t)
    link_images(sample_root, tmp_path, sorted({u for row in t.column("image_urls").to_pylist() for u in row}))
    ds = get_dataset("molmo2-multiimageqa", root=tmp_path)
    assert dict(ds.skipped) == {"image count outside 2-5": 2, "empty QA pair (dropped from its row)": 1,
                                "malformed qa_pairs": 1}
    ex = ds.get(0, np.random.RandomState(0))
    assert ex.metadata.rows == (0,)
    assert qa_pairs(ex) == list(zip(qa[0]["question"][1:], qa[0]["answer"][1:], strict=True))
