"""Downloading the academic sets: Ai2 mirrors that publish one config per split (over a loopback Hub),
image files named by path (``--check`` lists what is missing and where it goes), and hand-fetched
sources (``download`` says what to fetch; once the files are there it imports them)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_download import Server, parquet_bytes, run_cli  # noqa: E402

from molmo2_data import paths  # noqa: E402
from molmo2_data.annotations import VQA  # noqa: E402
from molmo2_data.datasets import get_dataset, register_dataset  # noqa: E402
from molmo2_data.datasets.academic_image import AcademicImageQA  # noqa: E402
from molmo2_data.datasets.base import AnnotationSet  # noqa: E402
from molmo2_data.datasets.local_files import LocalImageDataset  # noqa: E402
from molmo2_data.download.manual import ManualSource, read_json  # noqa: E402
from molmo2_data.errors import SchemaError  # noqa: E402
from molmo2_data.example import Metadata  # noqa: E402
from molmo2_data.sample import write_sample  # noqa: E402
from molmo2_data.tables import is_list, is_string, read_table  # noqa: E402


@pytest.fixture()
def server():
    s = Server()
    yield s
    s.close()


def test_split_as_config_mirror_then_image_files(server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys) -> None:
    src = tmp_path / "src"
    write_sample(src, datasets=["vqa-v2"], progress=False)
    tables = {s: read_table(paths.table_path("vqa-v2", s, "train", src)) for s in ("train", "validation", "test")}
    card = "---\nconfigs:\n" + "".join(
        f"- config_name: {s}\n  data_files:\n  - split: train\n    path: {s}/train-*\n" for s in tables) + "---\n"
    server.hub["allenai/molmo2-vqa2-2014"] = {
        "README.md": card.encode(), **{f"{s}/train-00000-of-00001.parquet": parquet_bytes(t) for s, t in tables.items()}}
    monkeypatch.setenv("HF_ENDPOINT", f"{server.url}/hub")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    dst = tmp_path / "dst"
    assert run_cli(["--root", str(dst), "--datasets", "coco_2014_vqa_multi", "--quiet", "--json"]) == 0
    (report,) = json.loads(capsys.readouterr().out)
    for s, t in tables.items():  # one table per config, each the config's single split "train"
        assert read_table(paths.table_path("vqa-v2", s, "train", dst)).to_pylist() == t.to_pylist()
    n_files = len({p for t in tables.values() for p in t.column("image").to_pylist()})
    assert (report["needed"], report["ok"], report["tables"]) == (n_files, 0, 3)
    missing = (dst / "manifests" / "vqa-v2.missing-files.tsv").read_text().splitlines()
    assert len(missing) == n_files + 1 and missing[1].split("\t")[1].startswith(str(paths.files_dir(dst)))
    assert any("images.cocodataset.org/zips" in note for note in report["notes"])
    assert len(get_dataset("vqa-v2", root=dst)) == 0  # no image file yet: every row counted, none read

    shutil.copytree(paths.files_dir(src), paths.files_dir(dst))  # the user unzips COCO where it says
    assert run_cli(["--root", str(dst), "--check", "--datasets", "vqa-v2", "--json"]) == 0
    (report,) = json.loads(capsys.readouterr().out)
    assert (report["needed"], report["ok"], report["status"]) == (n_files, n_files, "complete")
    assert not (dst / "manifests" / "vqa-v2.missing-files.tsv").exists()
    assert len(get_dataset("vqa-v2", root=dst)) == len(get_dataset("vqa-v2", root=src)) == 20


def _convert(path: Path, split: str) -> pa.Table:
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise SchemaError(f"{path}: expected an object with a 'data' list")
    rows = data["data"]
    return pa.table({"image": pa.array([r["file"] for r in rows], pa.string()),
                     "question": pa.array([r["question"] for r in rows], pa.string()),
                     "answers": pa.array([r.get("answers", []) for r in rows], pa.list_(pa.string()))})


@register_dataset("test-handfetched-qa")
class HandFetchedQA(LocalImageDataset, AcademicImageQA):
    """A hand-fetched set for this test: JSON annotations and image files in manual/<name>/."""

    NAME = "test-handfetched-qa"
    HF_PATH = ""
    FILES_IN_MANUAL = True
    SPLITS = {"train": "train"}
    COLUMNS: ClassVar = {"image": is_string, "question": is_string, "answers": is_list}
    MANUAL = ManualSource(what="Register at example.org (terms of use) and download qa.json and images.zip.",
                          files={"train": "qa.json"}, convert=_convert)

    def base_filter(self, table: pa.Table) -> Any:
        return self.files_filter(table)

    def build_example(self, rows, group, rng):
        row = int(rows[0])
        r = self.row_dicts(rows, ["image", "question", "answers"])[0]
        anns = AnnotationSet()
        anns.add(VQA, r["question"], r["answers"], style="test_qa")
        return anns.example(Metadata(dataset=self.NAME, split=self.split, rows=(row,)),
                            images=(self.local_image(r["image"]),))


def test_hand_fetched_source_instructions_then_import(tmp_path: Path, capsys) -> None:
    from PIL import Image

    root = tmp_path / "r"
    assert run_cli(["--root", str(root), "--datasets", "test-handfetched-qa"]) == 0  # nothing tried: not a failure
    out = capsys.readouterr().out
    where = paths.manual_dir("test-handfetched-qa", root) / "qa.json"
    assert "Register at example.org (terms of use)" in out and str(where) in out
    assert run_cli(["--root", str(root), "--check", "--datasets", "test-handfetched-qa", "--json"]) == 0
    (report,) = json.loads(capsys.readouterr().out)
    assert report["status"] == "fetch by hand" and any(str(where) in n for n in report["notes"])

    where.parent.mkdir(parents=True)
    Image.new("RGB", (8, 6), (255, 0, 0)).save(where.parent / "a.png")
    where.write_text(json.dumps({"data": [{"file": "a.png", "question": "What color?", "answers": ["red"]},
                                          {"file": "b.png", "question": "What color?", "answers": ["blue"]}]}))
    assert run_cli(["--root", str(root), "--datasets", "test-handfetched-qa"]) == 0
    assert "imported 2 rows" in capsys.readouterr().out
    ds = get_dataset("test-handfetched-qa", root=root)
    assert len(ds) == 1 and ds.skipped == {"image file missing": 1}
    assert ds[0].annotations[0].answers == ["red"] and ds[0].images[0].load()[0, 0].tolist() == [255, 0, 0]
    assert run_cli(["--root", str(root), "--datasets", "test-handfetched-qa"]) == 0  # unchanged: not re-imported
    assert "imported" not in capsys.readouterr().out
    where.write_text("{not json")
    assert run_cli(["--root", str(root), "--datasets", "test-handfetched-qa"]) == 1
    assert "qa.json: not valid JSON" in capsys.readouterr().out


def test_unreadable_hand_fetched_files_are_schema_errors(tmp_path: Path) -> None:
    from molmo2_data.datasets import dataset_class
    from molmo2_data.download.manual import import_manual

    where = paths.manual_dir("test-handfetched-qa", tmp_path) / "qa.json"
    where.mkdir(parents=True)  # a folder where the JSON file should be
    with pytest.raises(SchemaError, match="cannot read .*qa.json: IsADirectoryError"):
        import_manual("test-handfetched-qa", HandFetchedQA, [("default", "train")], tmp_path, log=lambda _s: None)
    folder = paths.manual_dir("dv-qa", tmp_path) / "train"
    folder.mkdir(parents=True)
    (folder / "data-00000-of-00001.arrow").write_bytes(b"not an arrow stream")
    with pytest.raises(SchemaError, match="cannot read"):
        import_manual("dv-qa", dataset_class("dv-qa"), [("default", "train")], tmp_path, log=lambda _s: None)
