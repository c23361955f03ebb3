"""Issue #12, data side: bad values never reach the training text, custom datasets and configs fail
clearly, null / truncated tables give typed errors, ``inspect`` reports bad input and goes on, and
the data modules import without cycles. Real sample tables (edited copies), real files, the real
formatter and tokenizer."""

from __future__ import annotations

import ast
import json
import math
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from molmo2_data import paths
from molmo2_data.datasets import get_dataset, register_custom_dataset
from molmo2_data.datasets.custom import CustomDatasetConfig, register_configs_in
from molmo2_data.errors import (
    AnnotationError,
    ConfigError,
    DatasetNotAvailableError,
    EmptyExampleError,
    SchemaError,
)
from molmo2_data.example import Example, Pointing, VideoPointing
from molmo2_data.tables import read_table, write_table
from molmo2_data.text.tokenize import tokenize_example
from molmo2_data.text.tokenizer import load_tokenizer

FORBIDDEN = ("-9223372036854775808", "nan", "inf", "None", "99999")


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer("qwen3")


def text_of(ex: Example, tok) -> str:
    """The example through the real formatter and tokenizer, decoded back to text."""
    out = tokenize_example(ex, tok, rng=np.random.RandomState(0))
    return tok.decode(out.ids)


def assert_clean(text: str) -> None:
    for bad in FORBIDDEN:
        assert bad not in text, (bad, text)


def root_with(sample_root: Path, tmp_path: Path, datasets: list[str]) -> Path:
    """A data root sharing the sample media (symlink) with private copies of some datasets' tables."""
    root = tmp_path / "root"
    root.mkdir()
    (root / "media").symlink_to(sample_root / "media")
    for name in datasets:
        shutil.copytree(sample_root / "tables" / name, root / "tables" / name)
    return root


def edit_rows(path: Path, edit: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]) -> None:
    table = read_table(path)
    rows = edit(table.to_pylist())
    write_table(pa.Table.from_pylist(rows, schema=table.schema), path)


def rows_of_group(ds: Any, row: int) -> int:
    """The example index whose rows include table row ``row``."""
    for g in range(len(ds.offsets) - 1):
        if row in ds.rows(g).tolist():
            return g
    raise AssertionError(f"row {row} is in no example")


# ---------------------------------------------------------------------------------------------
# 1. bad values never reach the text: dropped and counted by reason
# ---------------------------------------------------------------------------------------------


def _second_row_of_an_image(rows: list[dict[str, Any]]) -> int:
    seen: dict[tuple, int] = {}
    for i, r in enumerate(rows):
        key = (r["collection_method"], r["image_url"])
        if key in seen and r["points"]:
            return i
        seen.setdefault(key, i)
    raise AssertionError("no image with two labels in the sample")


@pytest.mark.parametrize("bad", ["nan_point", "negative_count"])
def test_pixmo_points_nan_point_and_negative_count_are_dropped_and_counted(sample_root, tmp_path, tok, bad):
    root = root_with(sample_root, tmp_path, ["pixmo-points"])
    path = paths.table_path("pixmo-points", "default", "train", root)
    target = {}

    def edit(rows):
        i = _second_row_of_an_image(rows)
        target["row"], target["label"] = i, rows[i]["label"]
        if bad == "nan_point":
            rows[i]["points"][0]["x"] = float("nan")
        else:
            rows[i]["count"] = -5
        return rows

    edit_rows(path, edit)
    ds = get_dataset("pixmo-points", root=root, counting=True)
    g = rows_of_group(ds, target["row"])
    ex = ds[g]
    reason = "pointing: non-finite point" if bad == "nan_point" else "pointing: negative count"
    assert ex.metadata.dropped == {reason: 1}
    assert len(ex.annotations) == len(ds.rows(g)) - 1  # only the bad label left out
    text = text_of(ex, tok)
    assert_clean(text)
    assert "total of -5" not in text


def _videopoint_root(sample_root, tmp_path, set_times: Callable[[list], list]) -> tuple[Path, int]:
    """VideoPoint 'animal' with row 0 (a whole 4 s video) duplicated; the original row gets ``set_times``."""
    root = root_with(sample_root, tmp_path, ["molmo2-videopoint"])
    path = paths.table_path("molmo2-videopoint", "animal", "train", root)

    def edit(rows):
        assert rows[0]["video_duration"] == 4.0 and rows[0]["clip_start"] is None
        good = json.loads(json.dumps(rows[0]))
        rows[0]["two_fps_timestamps"] = set_times(rows[0]["two_fps_timestamps"])
        return rows + [good]  # same video, same clip: one example of two queries

    edit_rows(path, edit)
    return root, 0


@pytest.mark.parametrize("times, reason", [
    (lambda t: [float("nan")] + t[1:], "video_pointing: non-finite timestamp"),
    (lambda t: t[:-1] + [99999.0], "video_pointing: timestamp beyond the clip"),
])
def test_videopoint_nan_or_far_timestamp_is_dropped_and_counted(sample_root, tmp_path, tok, times, reason):
    root, row = _videopoint_root(sample_root, tmp_path, times)
    ds = get_dataset("molmo2-videopoint", root=root, config="animal", p_multi_turn=0.0)
    ex = ds[rows_of_group(ds, row)]
    assert ex.metadata.dropped == {reason: 1}
    assert len(ex.annotations) == 1 and isinstance(ex.annotations[0], VideoPointing)
    assert ex.annotations[0].timestamps.max() <= 4.0
    assert_clean(text_of(ex, tok))


def test_videopoint_example_with_only_bad_queries_is_an_empty_example(sample_root, tmp_path):
    root = root_with(sample_root, tmp_path, ["molmo2-videopoint"])
    path = paths.table_path("molmo2-videopoint", "animal", "train", root)

    def edit(rows):
        rows[0]["two_fps_timestamps"] = [float("nan")] * len(rows[0]["two_fps_timestamps"])
        return rows

    edit_rows(path, edit)
    ds = get_dataset("molmo2-videopoint", root=root, config="animal")
    with pytest.raises(EmptyExampleError, match="video_pointing: non-finite timestamp"):
        ds[rows_of_group(ds, 0)]


@pytest.fixture()
def custom_images(tmp_path: Path) -> Path:
    from PIL import Image

    d = tmp_path / "imgs"
    d.mkdir()
    Image.new("RGB", (20, 10), (200, 0, 0)).save(d / "a.png")
    return d


def _jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_custom_null_answer_and_null_question_never_print_none(tmp_path, custom_images, tok):
    src = _jsonl(tmp_path / "qa.jsonl", [
        {"image": "a.png", "q": "What colour?", "a": "red"},
        {"image": "a.png", "q": "Why?", "a": None},
        {"image": "a.png", "q": None, "a": "because"},
        {"image": "a.png", "q": "How many?", "a": 1},  # a number is an answer: printed as 1
    ])
    register_custom_dataset({"name": "h12-null-qa", "source": str(src), "image_dir": str(custom_images),
                             "task": "qa", "columns": {"question": "q", "answer": "a"}, "group_by": "image"})
    ex = get_dataset("h12-null-qa")[0]
    assert ex.metadata.dropped == {"messages: answer is missing": 1, "messages: question is missing": 1}
    assert [a.messages[1].content for a in ex.annotations] == ["red", "1"]
    assert_clean(text_of(ex, tok))


def test_custom_messages_with_null_content_are_dropped(tmp_path, tok):
    src = _jsonl(tmp_path / "m.jsonl", [
        {"id": 1, "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": None}]},
        {"id": 2, "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]},
        {"id": 1, "messages": [{"role": "user", "content": "again"}, {"role": "assistant", "content": "yes"}]},
    ])
    register_custom_dataset({"name": "h12-msgs", "source": str(src), "task": "messages", "group_by": "id"})
    ds = get_dataset("h12-msgs")
    ex = ds[0]  # rows 0 and 2: the null one dropped
    assert ex.metadata.dropped == {"messages: content is missing": 1}
    assert [m.content for m in ex.annotations[0].messages] == ["again", "yes"]
    assert_clean(text_of(ex, tok))
    src2 = _jsonl(tmp_path / "m2.jsonl", [{"messages": [{"role": "user", "content": None},
                                                        {"role": "assistant", "content": "x"}]}])
    register_custom_dataset({"name": "h12-msgs-empty", "source": str(src2), "task": "messages"})
    with pytest.raises(EmptyExampleError, match="content is missing"):
        get_dataset("h12-msgs-empty")[0]


def test_annotation_classes_reject_bad_values_themselves():
    with pytest.raises(AnnotationError, match="non-finite point"):
        Pointing(label="x", points=[[math.nan, 1.0]], scale=(100, 100))
    with pytest.raises(AnnotationError, match="negative count"):
        Pointing(label="x", points=[[1.0, 1.0]], scale=(100, 100), count=-5)
    with pytest.raises(AnnotationError, match="point outside its scale"):
        Pointing(label="x", points=[[1e30, 1.0]], scale=(100, 100))
    with pytest.raises(AnnotationError, match="label is missing"):
        Pointing(label=None, points=[], scale=(100, 100))  # type: ignore[arg-type]
    with pytest.raises(AnnotationError, match="label is not text"):
        Pointing(label=5, points=[], scale=(100, 100))  # type: ignore[arg-type]
    with pytest.raises(AnnotationError, match="timestamp beyond the clip"):
        VideoPointing(label="x", timestamps=[99999.0], points=[[1.0, 1.0]], frame_index=[0], scale=(100, 100),
                      duration=4.0)


# ---------------------------------------------------------------------------------------------
# 2. custom datasets: schema of all rows, media columns, point_scale, shadowing, bad lines
# ---------------------------------------------------------------------------------------------


def test_custom_columns_come_from_all_rows_not_the_first(tmp_path, custom_images):
    src = _jsonl(tmp_path / "c.jsonl", [{"caption": "no picture"}, {"image": "a.png", "caption": "a red image"}])
    register_custom_dataset({"name": "h12-all-rows", "source": str(src), "image_dir": str(custom_images),
                             "task": "caption"})
    ds = get_dataset("h12-all-rows")
    assert [ds[i].media_kind for i in range(len(ds))] == ["none", "image"]


def test_custom_image_column_that_does_not_exist_is_a_config_error(tmp_path, custom_images):
    src = _jsonl(tmp_path / "c.jsonl", [{"file": "a.png", "caption": "red"}])
    register_custom_dataset({"name": "h12-no-col", "source": str(src), "image_dir": str(custom_images),
                             "task": "caption", "columns": {"image": "picture"}})
    with pytest.raises(ConfigError, match=r"h12-no-col.*columns\.image names column 'picture'.*columns: file, caption"):
        get_dataset("h12-no-col")


@pytest.mark.parametrize("scale", [0, -2, float("nan"), float("inf"), "huge", True, None])
def test_custom_point_scale_must_be_positive_and_finite(scale):
    with pytest.raises(ConfigError, match="h12-scale.*point_scale"):
        CustomDatasetConfig(name="h12-scale", source="a.jsonl", task="pointing", point_scale=scale)


def test_custom_config_may_not_shadow_a_builtin_without_override(tmp_path, data_env):
    from molmo2_data.datasets import custom, registry

    src = _jsonl(tmp_path / "c.jsonl", [{"caption": "mine"}])
    cfg = {"name": "pixmo-cap", "source": str(src), "task": "caption"}
    with pytest.raises(ConfigError, match="'pixmo-cap' is the name of a built-in dataset.*override: true"):
        register_custom_dataset(cfg)
    assert type(get_dataset("pixmo-cap")).__name__ == "PixMoCap"
    saved = registry._REGISTRY["pixmo-cap"]
    try:
        register_custom_dataset({**cfg, "override": True})
        assert type(get_dataset("pixmo-cap")).__name__ == "CustomDataset"
    finally:
        registry._REGISTRY["pixmo-cap"] = saved
        custom._CUSTOM_NAMES.discard("pixmo-cap")


def test_custom_bad_jsonl_line_names_file_and_line(tmp_path):
    src = tmp_path / "bad.jsonl"
    src.write_text('{"caption": "ok"}\n{"caption": "broken\n')
    register_custom_dataset({"name": "h12-bad-line", "source": str(src), "task": "caption"})
    with pytest.raises(ConfigError, match=r"bad\.jsonl, line 2: invalid JSON"):
        get_dataset("h12-bad-line")


# ---------------------------------------------------------------------------------------------
# 3. one malformed YAML in custom/ breaks nothing else
# ---------------------------------------------------------------------------------------------


def test_malformed_yaml_in_custom_folder_is_reported_and_the_rest_loads(tmp_path, sample_root, capsys):
    from molmo2_data.cli.main import main

    root = root_with(sample_root, tmp_path, ["pixmo-cap"])
    custom = root / "custom"
    custom.mkdir()
    (custom / "a-broken.yaml").write_text("name: h12-broken\nsource: x.jsonl\ntask: [qa\n")
    _jsonl(custom / "z.jsonl", [{"caption": "fine"}])
    (custom / "z-good.yaml").write_text("name: h12-good\nsource: z.jsonl\ntask: caption\n")
    with pytest.warns(UserWarning, match=r"a-broken\.yaml, line 4 column 1: invalid YAML"):
        assert register_configs_in(custom) == ["h12-good"]
    assert len(get_dataset("h12-good")) == 1
    assert len(get_dataset("pixmo-cap", root=root)) > 0
    for name in ("h12-broken", "a-broken"):  # its declared name and its file stem
        with pytest.raises(ConfigError, match=rf"custom dataset '{name}' is not available: .*a-broken\.yaml, line 4"):
            get_dataset(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["inspect", "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "broken custom config" in out and "a-broken.yaml, line 4" in out


def test_config_file_errors_name_file_and_line(tmp_path):
    from molmo2_data.config_file import read_config_file

    bad = tmp_path / "m.json"
    bad.write_text('{\n  "a": 1,\n  "b": \n}\n')
    with pytest.raises(ConfigError, match=r"m\.json, line 4 column 1: invalid JSON"):
        read_config_file(bad)
    with pytest.raises(ConfigError, match="no such config file"):
        read_config_file(tmp_path / "absent.yaml")


# ---------------------------------------------------------------------------------------------
# 4. tables: null media reference -> per-row SchemaError; truncated file -> DatasetNotAvailableError
# ---------------------------------------------------------------------------------------------


def test_null_image_url_is_one_per_row_schema_error(sample_root, tmp_path):
    root = root_with(sample_root, tmp_path, ["pixmo-cap"])
    path = paths.table_path("pixmo-cap", "default", "train", root)

    def edit(rows):
        rows[3]["image_url"] = None
        return rows

    edit_rows(path, edit)
    ds = get_dataset("pixmo-cap", root=root)
    g = rows_of_group(ds, 3)
    with pytest.raises(SchemaError, match=r"pixmo-cap table .*train\.arrow row 3: null 'image_url'"):
        ds[g]
    good = [i for i in range(len(ds)) if i != g]
    assert all(ds[i].images for i in good)


def test_truncated_table_is_dataset_not_available_naming_the_file(sample_root, tmp_path):
    root = root_with(sample_root, tmp_path, ["pixmo-docs"])
    path = sorted((root / "tables" / "pixmo-docs").glob("*/train.arrow"))[0]
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(DatasetNotAvailableError, match=rf"{path.name}.*truncated.*download it again"):
        read_table(path)
    with pytest.raises(DatasetNotAvailableError, match="truncated"):
        get_dataset("pixmo-docs", root=root, config=path.parent.name)


# ---------------------------------------------------------------------------------------------
# 5. inspect reports bad files and invalid rows and goes on
# ---------------------------------------------------------------------------------------------


def test_inspect_name_lists_bad_media_files_and_goes_on(sample_root, tmp_path, capsys):
    from molmo2_data.cli.main import main

    root = tmp_path / "root"
    shutil.copytree(sample_root / "tables" / "pixmo-cap", root / "tables" / "pixmo-cap")
    shutil.copytree(sample_root / "media" / "images", root / "media" / "images")
    ds = get_dataset("pixmo-cap", root=root)
    bad = Path(ds[0].images[0].path)
    bad.write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    assert main(["inspect", "pixmo-cap", "--root", str(root), "-n", "2"]) == 0
    out = capsys.readouterr().out
    assert "bad media files: 1" in out and bad.name in out and "MediaDecodeError" in out
    assert "sample 1" in out and "sample 2" in out  # the next examples are shown instead


def test_inspect_all_counts_invalid_rows_and_dropped_annotations(sample_root, tmp_path, capsys):
    from molmo2_data.cli.main import main

    root = root_with(sample_root, tmp_path, ["pixmo-cap", "pixmo-points"])
    edit_rows(paths.table_path("pixmo-cap", "default", "train", root),
              lambda rows: [{**r, "image_url": None} if i == 3 else r for i, r in enumerate(rows)])

    def nan_point(rows):
        rows[_second_row_of_an_image(rows)]["points"][0]["y"] = float("nan")
        return rows

    edit_rows(paths.table_path("pixmo-points", "default", "train", root), nan_point)
    assert main(["inspect", "--root", str(root), "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out) if "name" in r}
    assert rows["pixmo-cap"]["invalid"] == 1 and rows["pixmo-cap"]["problems"] == {"invalid row: SchemaError": 1}
    assert rows["pixmo-points"]["dropped"] == 1
    assert rows["pixmo-points"]["problems"] == {"dropped annotation: pointing: non-finite point": 1}


# ---------------------------------------------------------------------------------------------
# 6. no import cycles among the data modules
# ---------------------------------------------------------------------------------------------

SRC = Path(__file__).resolve().parents[1] / "src"


def _imports(module: str) -> set[str]:
    """Every molmo2_data module ``module`` imports, at module level or inside functions."""
    path = SRC / (module.replace(".", "/") + ".py")
    if not path.exists():
        path = SRC / module.replace(".", "/") / "__init__.py"
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}
    return {m for m in out if m.startswith("molmo2_data") and (SRC / (m.replace(".", "/") + ".py")).exists()}


def test_no_import_cycles_between_readers_registry_example_and_media():
    modules = ["molmo2_data.example", "molmo2_data.annotations", "molmo2_data.media.video",
               "molmo2_data.media.image", "molmo2_data.tables", "molmo2_data.config_file", "molmo2_data.inspect"]
    modules += [f"molmo2_data.datasets.{p.stem}" for p in sorted((SRC / "molmo2_data" / "datasets").glob("*.py"))
                if p.stem != "__init__"]
    graph = {m: _imports(m) for m in modules}
    assert "molmo2_data.media.video" not in graph["molmo2_data.example"]
    assert not any(m.startswith("molmo2_data.datasets") for m in graph["molmo2_data.example"])
    assert "molmo2_data.datasets.custom" not in graph["molmo2_data.datasets.registry"]

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in graph.get(start, _imports(start)):
            if nxt == goal:
                return True
            if nxt not in seen:
                seen.add(nxt)
                if reaches(nxt, goal, seen):
                    return True
        return False

    for m in modules:
        assert not reaches(m, m, set()), f"{m} imports itself through a cycle"


def test_misspelt_reader_option_is_a_config_error_not_a_silent_default(data_env):
    with pytest.raises(ConfigError, match="pixmo-cap: unknown option 'moed'; did you mean 'mode'"):
        get_dataset("pixmo-cap", moed="transcripts")
    with pytest.raises(ConfigError, match="molmo2-videopoint: p_multi_turn must be in"):
        get_dataset("molmo2-videopoint", p_multi_turn=2.0)
    assert get_dataset("pixmo-cap", mode="transcripts").mode == "transcripts"


def test_seed_style_dict_with_a_null_turn_is_counted_not_printed():
    from molmo2_data.datasets.base import Dataset

    class Seed(Dataset):
        name = "h12-seed"

        def __len__(self) -> int:
            return 2

        def get(self, item, rng):
            content = None if item == 0 else "fine"
            return {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": content}]}

    with pytest.raises(EmptyExampleError, match="messages: content is missing"):
        Seed().example(0)
    assert Seed().example(1).annotations[0].messages[1].content == "fine"
