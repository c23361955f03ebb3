"""OWA desktop-recording pipeline: real fixtures (three format generations) and recordings written
here with the ``mcap`` writer and PyAV (known frame colours, known events, and broken inputs)."""

from __future__ import annotations

import fractions
import importlib.util
import json
import shutil
from collections import Counter
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import shared_fixtures

from molmo2_data.errors import ConfigError, MediaError, MediaMissingError
from molmo2_data.owa import (
    EventEncoder,
    EventFormatError,
    VLMDatasetBuilder,
    build_binned_dataset,
    build_event_dataset,
    build_mllm_dataset,
    message_kind,
    parse_rates,
    parse_screen,
    read_recording,
    split_files,
    window_bounds,
)
from molmo2_data.owa.vlm import FrameCache

pytest.importorskip("mcap")

OWA = shared_fixtures() / "owa"
VERSIONS = ("0.3.2", "0.4.2", "0.5.1")
REPO = Path(__file__).resolve().parents[1]
needs_fixtures = pytest.mark.skipif(not (OWA / "0.3.2.mcap").exists(), reason="shared OWA fixtures absent")

# Values documented in fixtures/owa/README.md
TOPIC_COUNTS = {
    "0.3.2": {"window": 6, "keyboard/state": 6, "mouse/state": 6, "screen": 49, "mouse": 578, "keyboard": 24},
    "0.4.2": {"window": 4, "keyboard/state": 4, "mouse/state": 4, "screen": 33, "keyboard": 24, "mouse": 550},
    "0.5.1": {"window": 4, "keyboard/state": 4, "mouse/state": 4, "screen": 17, "keyboard": 20, "mouse": 218},
}
SPANS = {"0.3.2": (1750427723306579000, 1750427728843584200), "0.4.2": (1750433842517597200, 1750433846298708100),
         "0.5.1": (1768131731033103300, 1768131734213743400)}
KEPT = {  # stage 1 with mouse=60 screen=20 (README "derived check"; we also keep each file's last message)
    "0.3.2": {"screen": 26, "mouse": 55, "keyboard": 24},
    "0.4.2": {"screen": 19, "mouse": 40, "keyboard": 24},
    "0.5.1": {"screen": 12, "mouse": 42, "keyboard": 20},
}
BINS = {"0.3.2": (54, 24), "0.4.2": (36, 10), "0.5.1": (30, 7)}  # (bins, bins without actions)
WINDOWS = {"0.3.2": [(0, 31), (16, 47), (32, 53)], "0.4.2": [(0, 31), (16, 35)], "0.5.1": [(0, 29)]}


# ------------------------------------------------------------------------------------------------
# Fixture pipeline, built once
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fixture_pipeline(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    if not (OWA / "0.3.2.mcap").exists():
        pytest.skip("shared OWA fixtures absent")
    out = tmp_path_factory.mktemp("owa_fixtures")
    build_event_dataset(OWA, out / "events", test_percent=0.34, seed=0)
    build_binned_dataset(out / "events", out / "bins", fps=10, keep_topics=["screen", "keyboard", "mouse"])
    build_mllm_dataset(out / "bins", out / "mllm", sequence_length=32, overlap_ratio=0.5)
    return {"events": out / "events", "bins": out / "bins", "mllm": out / "mllm"}


def _load_all(folder: Path):
    from datasets import concatenate_datasets, load_from_disk

    dd = load_from_disk(str(folder))
    return concatenate_datasets([dd[s] for s in sorted(dd)])


def _version(file_path: str) -> str:
    return Path(file_path).stem


def _reference_frames(video: Path) -> dict[int, np.ndarray]:
    """Every frame of a video by pts (ns), decoded sequentially with PyAV (independent of the code)."""
    out = {}
    with av.open(str(video)) as c:
        s = c.streams.video[0]
        for f in c.decode(s):
            out[int(round(f.pts * s.time_base * 1_000_000_000))] = f.to_ndarray(format="rgb24")
    return out


# ------------------------------------------------------------------------------------------------
# Reading
# ------------------------------------------------------------------------------------------------


@needs_fixtures
@pytest.mark.parametrize("version", VERSIONS)
def test_read_fixture_counts_and_span(version: str) -> None:
    rec = read_recording(OWA / f"{version}.mcap")
    assert rec.profile == "owa"
    assert rec.library.startswith(f"mcap-owa-support {version}")
    assert rec.error is None and not rec.skipped
    assert dict(Counter(e.topic for e in rec.events)) == TOPIC_COUNTS[version]
    assert (rec.events[0].timestamp_ns, rec.events[-1].timestamp_ns) == SPANS[version]
    keys = [json.loads(e.msg) for e in rec.events if e.topic == "keyboard"][-2:]
    assert keys == [{"event_type": "press", "vk": 162}, {"event_type": "press", "vk": 67}]
    assert all(message_kind(e.message_type) is not None for e in rec.events)


@needs_fixtures
def test_parse_screen_every_generation() -> None:
    first = {v: next(e for e in read_recording(OWA / f"{v}.mcap").events if e.topic == "screen") for v in VERSIONS}
    s3 = parse_screen(first["0.3.2"].msg, OWA / "0.3.2.mcap")
    assert (s3.uri, s3.pts_ns, s3.utc_ns, s3.width) == (str(OWA.resolve() / "0.3.2.mkv"), 10_000_000,
                                                        1750427723476384500, None)
    s4 = parse_screen(first["0.4.2"].msg, OWA / "0.4.2.mcap")
    assert (s4.uri, s4.pts_ns, s4.width, s4.height) == (str(OWA.resolve() / "0.4.2.mkv"), 20_000_000, 906, 578)
    s5 = parse_screen(first["0.5.1"].msg, OWA / "0.5.1.mcap")
    assert (s5.uri, s5.pts_ns, s5.utc_ns, s5.width, s5.height) == (
        str(OWA.resolve() / "0.5.1.mkv"), 0, 1768131731227929100, 1025, 1017)
    # 0.5.0 tagged union and pass-through URIs
    t = parse_screen({"media_ref": {"type": "external_video", "path": "v.mkv", "pts_ns": 5}}, "/data/r.mcap")
    assert (t.uri, t.pts_ns) == ("/data/v.mkv", 5)
    assert parse_screen({"media_ref": {"uri": "https://x/y.png"}}, "/d/r.mcap").uri == "https://x/y.png"
    with pytest.raises(ValueError):
        parse_screen({"utc_ns": 1}, "/d/r.mcap")


def test_message_kind_all_generations() -> None:
    assert message_kind("owa.env.desktop.msg.KeyboardEvent") == "KeyboardEvent"
    assert message_kind("owa_env_desktop.MouseState") == "MouseState"
    assert message_kind("owa.env.gst.msg.ScreenEmitted") == "ScreenCaptured"
    assert message_kind("desktop/RawMouseEvent") == "RawMouseEvent"
    assert message_kind("desktop/Unknown") is None


# ------------------------------------------------------------------------------------------------
# Stages 1-3 on the fixtures
# ------------------------------------------------------------------------------------------------


@needs_fixtures
def test_stage1_fixture_counts_schema_and_split(fixture_pipeline: dict[str, Path]) -> None:
    from datasets import load_from_disk

    dd = load_from_disk(str(fixture_pipeline["events"]))
    assert sorted(dd) == ["test", "train"]
    feats = dd["train"].features
    assert {k: feats[k].dtype for k in feats} == {"file_path": "string", "topic": "string", "timestamp_ns": "int64",
                                                  "message_type": "string", "msg": "binary"}
    rows = _load_all(fixture_pipeline["events"])
    by_file: dict[str, Counter] = {}
    for f, t in zip(rows["file_path"], rows["topic"], strict=True):
        by_file.setdefault(_version(f), Counter())[t] += 1
    for v in VERSIONS:
        for topic, n in KEPT[v].items():
            assert by_file[v][topic] == n, (v, topic)
        assert by_file[v]["window"] == TOPIC_COUNTS[v]["window"]  # topics without a rate pass untouched
    manifest = json.loads((fixture_pipeline["events"] / "owa_manifest.json").read_text())
    assert manifest["files"][str(OWA.resolve() / "0.3.2.mcap")]["rate_dropped"] == {"mouse": 523, "screen": 23}
    # deterministic split by file, same on a second run
    again = build_event_dataset(OWA, test_percent=0.34, seed=0)
    assert sorted(set(again["test"]["file_path"])) == sorted(set(dd["test"]["file_path"]))
    assert len(set(dd["test"]["file_path"])) == 1 and len(set(dd["train"]["file_path"])) == 2
    # rows are in (file, time) order
    for split in dd.values():
        keys = list(zip(split["file_path"], split["timestamp_ns"], strict=True))
        assert keys == sorted(keys)


@needs_fixtures
def test_stage2_fixture_bins(fixture_pipeline: dict[str, Path]) -> None:
    rows = _load_all(fixture_pipeline["bins"]).to_list()
    per_file: dict[str, list[dict]] = {}
    for r in rows:
        per_file.setdefault(_version(r["file_path"]), []).append(r)
    for v in VERSIONS:
        bins = per_file[v]
        assert (len(bins), sum(r["num_actions"] == 0 for r in bins)) == BINS[v]
        assert [r["bin_idx"] for r in bins] == list(range(len(bins)))
        assert all(b["timestamp_ns"] - a["timestamp_ns"] == 100_000_000 for a, b in zip(bins, bins[1:], strict=False))
        for r in bins:
            actions = json.loads(r["actions"])
            assert len(actions) == r["num_actions"]
            assert all(r["timestamp_ns"] <= a["timestamp_ns"] < r["timestamp_ns"] + 100_000_000 for a in actions)
            assert {a["topic"] for a in actions} <= {"keyboard", "mouse"}
            if r["state"] is not None:  # no look-ahead: state logged before the bin's first action
                limit = actions[0]["timestamp_ns"] if actions else r["timestamp_ns"] + 100_000_000
                assert r["state_timestamp_ns"] <= limit
    # bins start at each file's first kept screen/keyboard/mouse event
    events = _load_all(fixture_pipeline["events"]).to_list()
    for v in VERSIONS:
        first = min(e["timestamp_ns"] for e in events
                    if _version(e["file_path"]) == v and e["topic"] in ("screen", "keyboard", "mouse"))
        assert per_file[v][0]["timestamp_ns"] == first


@needs_fixtures
def test_stage3_fixture_windows_and_events(fixture_pipeline: dict[str, Path]) -> None:
    rows = _load_all(fixture_pipeline["mllm"]).to_list()
    bins = {(_version(r["file_path"]), r["bin_idx"]): r for r in _load_all(fixture_pipeline["bins"]).to_list()}
    got: dict[str, list[tuple[int, int]]] = {}
    enc = EventEncoder()
    for r in rows:
        m = r["metadata"]
        v = _version(m["file_path"])
        got.setdefault(v, []).append((m["start_bin_idx"], m["end_bin_idx"]))
        assert r["instruction"] == "Complete the computer task"
        assert m["is_partial"] == (m["num_bins"] < 32)
        # every image ref carries a resolved path and a real frame; one per bin with a state
        assert len(r["image_refs"]) == m["num_bins"] == m["num_images"]
        assert all(ref["path"] == str(OWA.resolve() / f"{v}.mkv") and ref["error"] is None for ref in r["image_refs"])
        # encoded events decode back to the binned actions, with real topic and time
        expected = [a for b in range(m["start_bin_idx"], m["end_bin_idx"] + 1)
                    for a in json.loads(bins[(v, b)]["actions"])]
        decoded = enc.decode_many(r["encoded_events"], base_ns=m["start_timestamp_ns"])
        assert [(d.topic, d.timestamp_ns, d.payload) for d in decoded] == [
            (a["topic"], a["timestamp_ns"], json.loads(a["msg"])) for a in expected]
        assert len(m["event_bin_offsets"]) == len(decoded)
    assert got == WINDOWS
    first = next(r for r in rows if _version(r["metadata"]["file_path"]) == "0.3.2")
    assert first["encoded_events"][0] == "<EVENT_START>0.102334900 mouse MOUSE move 852 613<EVENT_END>"


def test_window_bounds() -> None:
    assert window_bounds(54, 32, 0.5) == [(0, 32), (16, 48), (32, 54)]
    assert window_bounds(48, 32, 0.5) == [(0, 32), (16, 48)]
    assert window_bounds(30, 32, 0.5) == [(0, 30)]
    assert window_bounds(10, 4, 0.0) == [(0, 4), (4, 8), (8, 10)]
    assert window_bounds(0, 4, 0.5) == []


# ------------------------------------------------------------------------------------------------
# Event encoder
# ------------------------------------------------------------------------------------------------


@needs_fixtures
def test_encoder_roundtrip_every_fixture_message() -> None:
    enc = EventEncoder()
    seen = Counter()
    for v in VERSIONS:
        rec = read_recording(OWA / f"{v}.mcap")
        base = rec.events[0].timestamp_ns
        for e in rec.events:
            text = enc.encode(e.topic, e.timestamp_ns, e.message_type, e.msg, base_ns=base)
            d = enc.decode(text, base_ns=base)
            assert (d.topic, d.timestamp_ns, d.payload) == (e.topic, e.timestamp_ns, json.loads(e.msg))
            assert d.message_type == "desktop/" + message_kind(e.message_type)
            seen[text.split(" ")[2]] += 1
    assert set(seen) == {"KEYBOARD", "MOUSE", "KEYBOARD_STATE", "MOUSE_STATE", "WINDOW", "SCREEN"}


@pytest.mark.parametrize("mtype,payload,text", [
    ("desktop/KeyboardEvent", {"event_type": "release", "vk": 65}, "0.000000005 keyboard KEYBOARD release 65"),
    ("desktop/MouseEvent", {"event_type": "click", "x": -5, "y": 7, "button": "right", "pressed": False},
     "0.000000005 keyboard MOUSE click -5 7 right up"),
    ("desktop/MouseEvent", {"event_type": "scroll", "x": 1, "y": 2, "dx": 0, "dy": -1},
     "0.000000005 keyboard MOUSE scroll 1 2 0 -1"),
    ("desktop/KeyboardState", {"buttons": []}, "0.000000005 keyboard KEYBOARD_STATE -"),
    ("desktop/MouseState", {"x": 3, "y": 4, "buttons": ["left", "x1"]}, "0.000000005 keyboard MOUSE_STATE 3 4 left,x1"),
    ("desktop/KeyboardEvent", {"event_type": "press", "vk": 65, "timestamp": 12},
     '0.000000005 keyboard KEYBOARD json {"event_type":"press","vk":65,"timestamp":12}'),
    ("desktop/RawMouseEvent", {"us_flags": 0, "last_x": -3, "last_y": 15, "button_flags": 1, "button_data": 0,
                               "device_handle": 9, "timestamp": 1},
     '0.000000005 keyboard MOUSE_RAW json {"us_flags":0,"last_x":-3,"last_y":15,"button_flags":1,'
     '"button_data":0,"device_handle":9,"timestamp":1}'),
    ("desktop/WindowInfo", {"title": "a <b> 메모장", "rect": [0, 0, 5, 5], "hWnd": 1},
     '0.000000005 keyboard WINDOW json {"title":"a <b> 메모장","rect":[0,0,5,5],"hWnd":1}'),
    ("custom/Thing", {"v": 1.5}, '0.000000005 keyboard TYPE:custom/Thing json {"v":1.5}'),
])
def test_encoder_forms_and_exact_roundtrip(mtype: str, payload: dict, text: str) -> None:
    enc = EventEncoder()
    s = enc.encode("keyboard", 1_000_000_005, mtype, json.dumps(payload).encode(), base_ns=1_000_000_000)
    assert s == f"<EVENT_START>{text}<EVENT_END>"
    d = enc.decode(s, base_ns=1_000_000_000)
    assert (d.topic, d.timestamp_ns, d.payload) == ("keyboard", 1_000_000_005, payload)
    assert d.message_type == mtype


def test_encoder_negative_time_and_errors() -> None:
    enc = EventEncoder()
    s = enc.encode("mouse", 10, "desktop/MouseEvent", {"event_type": "move", "x": 1, "y": 2}, base_ns=2_000_000_011)
    assert s == "<EVENT_START>-2.000000001 mouse MOUSE move 1 2<EVENT_END>"
    assert enc.decode(s, base_ns=2_000_000_011).timestamp_ns == 10
    for bad in ["<EVENT_START>1.5 mouse MOUSE move 1 2<EVENT_END>", "<EVENT_START>0.000000000 mouse MOUSE hop 1 2<EVENT_END>",
                "<EVENT_START>0.000000000 mouse NOPE x<EVENT_END>", "plain text",
                "<EVENT_START>0.000000000 k KEYBOARD press x<EVENT_END>"]:
        with pytest.raises(EventFormatError):
            enc.decode(bad)
    with pytest.raises(EventFormatError):
        enc.encode("two words", 0, "desktop/KeyboardEvent", {"event_type": "press", "vk": 1})


# ------------------------------------------------------------------------------------------------
# Stage 4 and the adapter on the fixtures
# ------------------------------------------------------------------------------------------------


@needs_fixtures
def test_stage4_frames_match_sequential_decode(fixture_pipeline: dict[str, Path]) -> None:
    builder = VLMDatasetBuilder(str(fixture_pipeline["mllm"]), image_format="numpy", split="train")
    refs_all = {v: _reference_frames(OWA / f"{v}.mkv") for v in ("0.3.2", "0.4.2")}
    checked = Counter()
    for i in range(len(builder)):
        item = builder[i]
        row = builder.dataset[i]
        v = _version(item["metadata"]["file_path"])
        assert item["metadata"]["image_errors"] == []
        assert len(item["images"]) == len(row["image_refs"])
        for ref, img in zip(row["image_refs"], item["images"], strict=True):
            nearest = min(refs_all[v], key=lambda p: abs(p - ref["pts_ns"]))
            assert abs(nearest - ref["pts_ns"]) <= 1_000_000
            np.testing.assert_array_equal(img, refs_all[v][nearest])
            checked[(v, ref["pts_ns"], nearest)] += 1
    stats = builder.get_cache_stats()
    assert stats["frames_decoded"] == stats["misses"] == stats["size"]  # every distinct frame decoded once
    assert stats["hits"] > 0


@needs_fixtures
@pytest.mark.parametrize("version,n_frames,rounded", [("0.3.2", 49, (16_666_666, 17_000_000)),
                                                      ("0.4.2", 33, (33_333_333, 33_000_000)), ("0.5.1", 17, None)])
def test_stage4_every_screen_message_gets_its_frame(version: str, n_frames: int, rounded: tuple | None) -> None:
    """All screen messages of a fixture (not only the rate-limited ones): nearest frame within 1 ms,
    including the millisecond-rounded pts the README lists and 0.3.2's misflagged keyframes."""
    mcap = OWA / f"{version}.mcap"
    refs = []
    for k, e in enumerate(x for x in read_recording(mcap).events if x.topic == "screen"):
        s = parse_screen(e.msg, mcap)
        refs.append({"path": s.uri, "pts_ns": s.pts_ns, "width": s.width, "height": s.height, "bin_idx": k})
    builder = VLMDatasetBuilder(_tiny_mllm(), image_format="numpy", max_cache_size=100)
    frames, errors = builder.load_frames(refs)
    assert errors == [] and len(frames) == n_frames
    reference = _reference_frames(OWA / f"{version}.mkv")
    for ref, frame in zip(refs, frames, strict=True):
        nearest = min(reference, key=lambda p: abs(p - ref["pts_ns"]))
        h, w = (ref["height"], ref["width"]) if ref["width"] else reference[nearest].shape[:2]
        np.testing.assert_array_equal(frame, reference[nearest][:h, :w])
    if rounded:
        k = [r["pts_ns"] for r in refs].index(rounded[0])
        np.testing.assert_array_equal(frames[k], reference[rounded[1]][:frames[k].shape[0], :frames[k].shape[1]])
    assert builder.get_cache_stats()["frames_decoded"] == n_frames


@needs_fixtures
def test_stage4_formats_crop_and_cache(fixture_pipeline: dict[str, Path]) -> None:
    torch = pytest.importorskip("torch")
    pil = VLMDatasetBuilder(str(fixture_pipeline["mllm"]), image_format="pil", split="test", max_cache_size=3)
    assert isinstance(pil, torch.utils.data.Dataset)
    item = pil[0]
    assert item["images"][0].size == (1025, 1017)  # 1026x1018 decoded, cropped to the recorded shape
    ref = _reference_frames(OWA / "0.5.1.mkv")[0]
    np.testing.assert_array_equal(np.asarray(item["images"][0]), ref[:1017, :1025])
    s = pil.get_cache_stats()
    assert (s["size"], s["max_size"]) == (3, 3) and s["evictions"] == s["misses"] - 3
    tensor = VLMDatasetBuilder(str(fixture_pipeline["mllm"]), image_format="tensor", split="test",
                               cache_images=False)
    t = tensor[0]["images"][0]
    assert tuple(t.shape) == (3, 1017, 1025) and t.dtype == torch.float32
    assert float(t.max()) <= 1.0 and abs(float(t[0, 0, 0]) - ref[0, 0, 0] / 255) < 1e-6
    assert tensor.get_cache_stats()["size"] == 0
    # DataLoader with worker processes (each has its own cache)
    from torch.utils.data import DataLoader

    loader = DataLoader(pil, batch_size=1, num_workers=2, collate_fn=lambda b: b)
    got = [b[0]["metadata"]["sequence_idx"] for b in loader]
    assert got == [0]


def test_lru_cache_semantics() -> None:
    c = FrameCache(2)
    a, b, d = (np.full(1, i) for i in range(3))
    c.put(("f", 1), a)
    c.put(("f", 2), b)
    assert c.get(("f", 1)) is a  # refreshes 1
    c.put(("f", 3), d)  # evicts 2, the least recently used
    assert c.get(("f", 2)) is None and c.get(("f", 1)) is a and c.get(("f", 3)) is d
    assert c.stats() == {"hits": 3, "misses": 1, "evictions": 1, "size": 2, "max_size": 2, "hit_ratio": 0.75}


@needs_fixtures
@pytest.mark.parametrize("kwargs", [{"image_format": "jpeg"}, {"max_cache_size": 0}, {"max_cache_size": "9"},
                                    {"cache_images": "yes"}, {"on_missing": "skip"}, {"split": "validation"}])
def test_stage4_invalid_options_fail_at_construction(fixture_pipeline: dict[str, Path], kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        VLMDatasetBuilder(str(fixture_pipeline["mllm"]), **kwargs)


@needs_fixtures
def test_adapter_example_and_registry(fixture_pipeline: dict[str, Path]) -> None:
    from molmo2_data.datasets import get_dataset
    from molmo2_data.owa import register_owa_dataset
    from molmo2_data.owa.adapter import mllm_row_to_example
    from molmo2_data.text.formatter import FormatterConfig, format_turns

    register_owa_dataset("owa-test-fixtures", fixture_pipeline["mllm"])
    ds = get_dataset("owa-test-fixtures", split="test")
    assert len(ds) == 1
    ex = ds[0]
    row = ds.builder.dataset[0]
    msgs = ex.annotations[0].messages
    assert (msgs[0].role, msgs[0].content) == ("user", "Complete the computer task")
    assert msgs[1].content.split("\n") == row["encoded_events"]
    # 30 bins, 17 frames referenced by the 12 kept screen messages -> distinct consecutive frames
    pts = [r["pts_ns"] for r in row["image_refs"]]
    distinct = [p for k, p in enumerate(pts) if k == 0 or p != pts[k - 1]]
    assert len(distinct) == 11
    # the vision stage takes five images: five evenly spaced frames, first and last kept, 6 reported dropped
    assert len(ex.images) == len(ex.metadata.extra["image_bins"]) == 5
    assert ex.metadata.extra["images_dropped"] == 6
    ref = _reference_frames(OWA / "0.5.1.mkv")
    for image, k in zip(ex.images, [0, 2, 5, 8, 10], strict=True):
        np.testing.assert_array_equal(image.load(), ref[distinct[k]][:1017, :1025])
    frames, errors = ds.builder.load_frames(row["image_refs"])
    every = mllm_row_to_example(row, frames, errors, max_images=None)
    assert len(every.images) == len(every.metadata.extra["image_bins"]) == 11
    assert every.metadata.extra["images_dropped"] == 0
    assert ex.metadata.extra["image_bins"] == [every.metadata.extra["image_bins"][k] for k in (0, 2, 5, 8, 10)]
    assert ex.images[-1].data is None and not ex.images[-1].load().flags.writeable  # decoded pixels, shared
    assert ex.metadata.extra["image_errors"] == [] and ex.metadata.source_ids["sequence_idx"] == 0
    turns = format_turns(ex.annotations[0], FormatterConfig(), np.random.RandomState(0))
    assert len(turns) == 2
    # a custom mixture can name the registered desktop dataset
    from molmo2_data.loading.mixtures import custom_mixture

    mix = custom_mixture({"groups": {"desktop": {"rate": 1.0, "members": ["owa-test-fixtures"]}}})
    assert [m.dataset for m in mix.members()] == ["owa-test-fixtures"]
    assert mix.rates({"owa-test-fixtures": len(ds)}) == {"owa-test-fixtures": 1.0}


# ------------------------------------------------------------------------------------------------
# Generated recordings (mcap writer + PyAV), including broken ones
# ------------------------------------------------------------------------------------------------

T0 = 1_700_000_000_000_000_000
FRAME_MS = [20, 100, 250, 400, 700]
COLORS = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255), (0, 0, 0)]
SCHEMA_NAMES = {
    "0.3": {"keyboard": "owa.env.desktop.msg.KeyboardEvent", "mouse": "owa.env.desktop.msg.MouseEvent",
            "screen": "owa.env.gst.msg.ScreenEmitted"},
    "0.4": {"keyboard": "desktop/KeyboardEvent", "mouse": "desktop/MouseEvent", "screen": "desktop/ScreenCaptured"},
    "0.5": {"keyboard": "desktop/KeyboardEvent", "mouse": "desktop/MouseEvent", "screen": "desktop/ScreenCaptured"},
}


def write_video(path: Path, frame_ms: list[int] = FRAME_MS, colors: list = COLORS) -> None:
    """H.264 with one keyframe (long GOP), variable frame rate, 1 ms time base, solid-colour frames."""
    with av.open(str(path), "w", format="matroska") as c:
        s = c.add_stream("libx264", rate=100)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        s.time_base = fractions.Fraction(1, 1000)
        s.codec_context.gop_size = 1000
        for ms, col in zip(frame_ms, colors, strict=True):
            a = np.zeros((48, 64, 3), np.uint8)
            a[:] = col
            fr = av.VideoFrame.from_ndarray(a, format="rgb24")
            fr.pts, fr.time_base = ms, s.time_base
            for p in s.encode(fr):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


def screen_payload(version: str, video: str, pts_ns: int, utc: int) -> dict:
    if version == "0.3":
        return {"path": video, "pts": pts_ns, "utc_ns": utc}
    if version == "0.4":
        return {"utc_ns": utc, "original_shape": [64, 48], "shape": [64, 48], "path": video, "pts": pts_ns}
    return {"utc_ns": utc, "source_shape": [64, 48], "shape": [64, 48], "media_ref": {"uri": video, "pts_ns": pts_ns}}


def recording_events(version: str, video: str, screen_pts_ms: list[int] = FRAME_MS) -> list[tuple]:
    """(topic, schema, t_ns, payload): mouse moves every 4 ms, two clicks and a scroll inside the 60 Hz
    interval, a key press/release, and one screen message per frame (logged 30 ms after its pts)."""
    names = SCHEMA_NAMES[version]
    ev = [("mouse", names["mouse"], T0 + i * 4_000_000, {"event_type": "move", "x": i, "y": 2 * i}) for i in range(250)]
    ev += [("mouse", names["mouse"], T0 + 302_000_000, {"event_type": "click", "x": 5, "y": 6, "button": "left",
                                                         "pressed": True}),
           ("mouse", names["mouse"], T0 + 306_000_000, {"event_type": "click", "x": 5, "y": 6, "button": "left",
                                                         "pressed": False}),
           ("mouse", names["mouse"], T0 + 501_000_000, {"event_type": "scroll", "x": 5, "y": 6, "dx": 0, "dy": -1}),
           ("keyboard", names["keyboard"], T0 + 150_000_000, {"event_type": "press", "vk": 65}),
           ("keyboard", names["keyboard"], T0 + 151_000_000, {"event_type": "release", "vk": 65})]
    ev += [("screen", names["screen"], T0 + (ms + 30) * 1_000_000,
            screen_payload(version, video, ms * 1_000_000, T0 + ms * 1_000_000)) for ms in screen_pts_ms]
    return sorted(ev, key=lambda e: e[2])


def write_mcap(path: Path, events: list[tuple], *, library: str = "mcap-owa-support 0.5.1; mcap 1.3.0",
               chunk_size: int = 1024 * 1024, extra_schemas: dict | None = None) -> None:
    from mcap.writer import Writer

    with open(path, "wb") as f:
        w = Writer(f, chunk_size=chunk_size)
        w.start(profile="owa", library=library)
        channels: dict[str, int] = {}
        for topic, schema, t, payload in events:
            if topic not in channels:
                sid = w.register_schema(name=schema, encoding="jsonschema", data=b"{}")
                channels[topic] = w.register_channel(topic=topic, message_encoding="json", schema_id=sid)
            data = payload if isinstance(payload, bytes) else json.dumps(payload, separators=(",", ":")).encode()
            w.add_message(channels[topic], log_time=t, data=data, publish_time=t)
        w.finish()


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("owa_gen")
    good = root / "good"
    good.mkdir()
    for v in ("0.3", "0.4", "0.5"):
        write_video(good / f"rec{v}.mkv")
        write_mcap(good / f"rec{v}.mcap", recording_events(v, f"rec{v}.mkv"))
    bad = root / "bad"
    bad.mkdir()
    write_video(bad / "ok.mkv")
    write_mcap(bad / "ok.mcap", recording_events("0.5", "ok.mkv"))
    write_mcap(bad / "no_video.mcap", recording_events("0.5", "absent.mkv"))
    write_mcap(bad / "past_end.mcap", recording_events("0.5", "ok.mkv", screen_pts_ms=[20, 5000]))
    unknown = recording_events("0.5", "ok.mkv") + [("weird", "vendor/Weird", T0 + 1, {"a": 1}),
                                                   ("keyboard2", "desktop/KeyboardEvent", T0 + 2, b"{not json")]
    write_mcap(bad / "unknown.mcap", sorted(unknown, key=lambda e: e[2]))
    write_mcap(bad / "empty.mcap", [])
    shuffled = recording_events("0.5", "ok.mkv")
    np.random.RandomState(0).shuffle(shuffled)
    write_mcap(bad / "shuffled.mcap", shuffled, chunk_size=512)
    write_mcap(root / "multi_chunk.mcap", recording_events("0.5", "ok.mkv"), chunk_size=2048)
    data = (root / "multi_chunk.mcap").read_bytes()
    (bad / "truncated.mcap").write_bytes(data[: len(data) // 2])
    (bad / "junk.mcap").write_bytes(b"\x89MCAP0\r\n" + bytes(range(256)) * 4)
    return {"root": root, "good": good, "bad": bad}


def test_generated_roundtrip_all_generations(generated: dict[str, Path], tmp_path: Path) -> None:
    dd = build_event_dataset(generated["good"], tmp_path / "ev", test_percent=0.34, rates=["mouse=60 screen=20"])
    manifest = json.loads((tmp_path / "ev" / "owa_manifest.json").read_text())
    for stats in manifest["files"].values():
        assert stats["status"] == "ok" and stats["messages"] == 260
        assert stats["kept_by_topic"]["keyboard"] == 2 and stats["kept_by_topic"]["screen"] == 5
    rows = [r for s in dd.values() for r in s.to_list()]
    for f in {r["file_path"] for r in rows}:
        mouse = [(r["timestamp_ns"], json.loads(r["msg"])) for r in rows if r["file_path"] == f and r["topic"] == "mouse"]
        assert sum(p["event_type"] != "move" for _, p in mouse) == 3  # clicks and scroll never dropped
        assert all(b[0] - a[0] >= 16_666_666 for a, b in zip(mouse, mouse[1:], strict=False) if b[1]["event_type"] == "move")
    build_binned_dataset(tmp_path / "ev", tmp_path / "bins", fps=10)
    build_mllm_dataset(tmp_path / "bins", tmp_path / "mllm", sequence_length=4, overlap_ratio=0.5)
    for split in ("train", "test"):
        builder = VLMDatasetBuilder(str(tmp_path / "mllm"), image_format="numpy", split=split, max_cache_size=10)
        assert len(builder) > 0
        for i in range(len(builder)):
            item, row = builder[i], builder.dataset[i]
            assert item["metadata"]["image_errors"] == [] and len(item["images"]) == len(row["image_refs"])
            for ref, img in zip(row["image_refs"], item["images"], strict=True):
                colour = COLORS[FRAME_MS.index(ref["pts_ns"] // 1_000_000)]
                assert np.abs(img.reshape(-1, 3).mean(0) - colour).max() < 8, (ref["pts_ns"], colour)
                assert img.shape == (48, 64, 3)
                # no look-ahead: the frame's screen message was logged before the bin's end
                assert ref["screen_timestamp_ns"] < ref["timestamp_ns"] + 100_000_000


def test_bad_inputs_are_counted_not_fatal(generated: dict[str, Path], tmp_path: Path) -> None:
    dd = build_event_dataset(generated["bad"], tmp_path / "ev", test_dir=None, test_percent=0.1, seed=3)
    files = {Path(k).stem: v for k, v in json.loads((tmp_path / "ev" / "owa_manifest.json").read_text())["files"].items()}
    assert files["ok"]["status"] == "ok"
    assert files["empty"]["status"] == "empty" and files["empty"]["kept"] == 0
    assert files["junk"]["status"] == "failed" and "MCAP" in files["junk"]["error"]
    assert files["truncated"]["status"] == "truncated" and 0 < files["truncated"]["kept"] < files["ok"]["kept"]
    assert files["unknown"]["skipped"] == {"bad_json": 1, "unknown_schema:vendor/Weird": 1}
    assert files["shuffled"]["kept"] == files["ok"]["kept"] and files["shuffled"]["notes"]["out_of_order"] > 0
    assert "out_of_order" not in files["ok"]["notes"]
    all_rows = [r for s in dd.values() for r in s.to_list()]
    shuffled = [r["timestamp_ns"] for r in all_rows if Path(r["file_path"]).stem == "shuffled"]
    ok = [r["timestamp_ns"] for r in all_rows if Path(r["file_path"]).stem == "ok"]
    assert shuffled == ok == sorted(ok)
    build_binned_dataset(tmp_path / "ev", tmp_path / "bins")
    mllm = build_mllm_dataset(tmp_path / "bins", tmp_path / "mllm", sequence_length=100)
    rows = {Path(r["metadata"]["file_path"]).stem: r for s in mllm.values() for r in s.to_list()}
    assert "empty" not in rows and "junk" not in rows
    assert {ref["error"] for ref in rows["no_video"]["image_refs"]} == {"missing_video"}
    assert {m["reason"] for m in rows["no_video"]["metadata"]["missing_images"]} == {"missing_video", "no_screen_yet"}
    assert [ref["error"] for ref in rows["past_end"]["image_refs"]][-1] == "pts_past_end"
    # stage 4 keeps alignment: None where a frame is impossible, with the reason in the metadata
    split = next(s for s, d in mllm.items() if any(Path(m["file_path"]).stem == "no_video" for m in d["metadata"]))
    idx = [Path(m["file_path"]).stem for m in mllm[split]["metadata"]].index("no_video")
    builder = VLMDatasetBuilder(str(tmp_path / "mllm"), image_format="numpy", split=split)
    item = builder[idx]
    assert len(item["images"]) == len(rows["no_video"]["image_refs"]) and all(i is None for i in item["images"])
    assert {e["reason"] for e in item["metadata"]["image_errors"]} == {"missing_video"}
    strict = VLMDatasetBuilder(str(tmp_path / "mllm"), image_format="numpy", split=split, on_missing="raise")
    with pytest.raises(MediaError):
        strict[idx]


def test_stage4_detects_pts_without_frame(generated: dict[str, Path]) -> None:
    builder = VLMDatasetBuilder(_tiny_mllm(), image_format="numpy")
    video = str(generated["good"] / "rec0.5.mkv")
    frames, errors = builder.load_frames([{"path": video, "pts_ns": 100_400_000, "bin_idx": 0},
                                          {"path": video, "pts_ns": 180_000_000, "bin_idx": 1},
                                          {"path": video, "pts_ns": 9_000_000_000, "bin_idx": 2}])
    assert frames[0] is not None and np.abs(frames[0].reshape(-1, 3).mean(0) - COLORS[1]).max() < 8
    assert frames[1] is None and frames[2] is None
    assert [e["index"] for e in errors] == [1, 2] and all("no_frame_within_1ms" in e["reason"] for e in errors)
    junk = generated["root"] / "junk.mkv"
    junk.write_bytes(b"\x1aE\xdf\xa3" + bytes(range(256)) * 8)
    frames, errors = builder.load_frames([{"path": str(junk), "pts_ns": 0, "bin_idx": 0}])
    assert frames == [None] and errors[0]["reason"].startswith("decode_error")


def _tiny_mllm():
    from datasets import Dataset

    from molmo2_data.owa.sequences import mllm_features

    return Dataset.from_dict({k: [] for k in mllm_features()}, features=mllm_features())


def test_stage1_errors_and_split_rules(tmp_path: Path) -> None:
    assert parse_rates(["mouse=60 screen=20", "keyboard=5"]) == {"mouse": 60.0, "screen": 20.0, "keyboard": 5.0}
    assert parse_rates(None) == {"mouse": 60.0, "screen": 20.0}
    for bad in (["mouse"], ["mouse=fast"], ["mouse=-1"]):
        with pytest.raises(ConfigError):
            parse_rates(bad)
    assert split_files(["/a/x.mcap"], test_percent=0.5) == {"train": ["/a/x.mcap"], "test": []}
    files = [f"/a/{i}.mcap" for i in range(10)]
    s = split_files(files, test_percent=0.2, seed=1)
    assert len(s["test"]) == 2 and s == split_files(list(reversed(files)), test_percent=0.2, seed=1)
    with pytest.raises(ConfigError):
        split_files(files, test=files[:1])
    with pytest.raises(ConfigError):
        split_files(files, test_percent=1.0)
    with pytest.raises(ConfigError):
        build_event_dataset(tmp_path / "missing")
    (tmp_path / "emptydir").mkdir()
    with pytest.raises(ConfigError):
        build_event_dataset(tmp_path / "emptydir")
    with pytest.raises(MediaMissingError):
        read_recording(tmp_path / "nope.mcap")


def test_cli_and_seed_scripts(generated: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import argparse

    from molmo2_data.cli import owa_cmd

    parser = argparse.ArgumentParser()
    owa_cmd.add_parser(parser.add_subparsers(dest="verb"))

    def run(*argv: str) -> int:
        args = parser.parse_args(list(argv))
        return args.run(args)

    assert run("owa", "events", "--train-dir", str(generated["good"]), "--test-percent", "0.34",
               "--output-dir", str(tmp_path / "ev"), "--rate", "mouse=60", "--rate", "screen=20", "--workers", "2") == 0
    assert run("owa", "bin", "--input-dir", str(tmp_path / "ev"), "--output-dir", str(tmp_path / "bins"),
               "--fps", "10", "--keep-topic", "screen", "--keep-topic", "keyboard", "--keep-topic", "mouse") == 0
    assert run("owa", "sequences", "--input-dir", str(tmp_path / "bins"), "--output-dir", str(tmp_path / "mllm"),
               "--sequence-length", "4", "--instruction", "Do it", "--overlap-ratio", "0.5") == 0
    out = capsys.readouterr().out
    assert "events: 3 files" in out and "sequences:" in out
    # the seed's wrappers and flag spellings give the same datasets
    scripts = {}
    for name in ("01_raw_events_to_event_dataset", "02_event_dataset_to_binned_dataset",
                 "03_binned_dataset_to_mllm_dataset"):
        spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
        scripts[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(scripts[name])
    seed = tmp_path / "seed"
    assert scripts["01_raw_events_to_event_dataset"].main(
        ["--train_dir", str(generated["good"]), "--test_percent", "0.34", "--output_dir", str(seed / "ev"),
         "--rate", "mouse=60", "screen=20", "--num-workers", "1"]) == 0
    assert scripts["02_event_dataset_to_binned_dataset"].main(
        ["--input_dir", str(seed / "ev"), "--output_dir", str(seed / "bins"), "--fps", "10",
         "--keep_topic", "screen", "--keep_topic", "keyboard", "--keep_topic", "mouse"]) == 0
    assert scripts["03_binned_dataset_to_mllm_dataset"].main(
        ["--input_dir", str(seed / "bins"), "--output_dir", str(seed / "mllm"), "--sequence_length", "4",
         "--instruction", "Do it", "--overlap_ratio", "0.5"]) == 0
    a, b = _load_all(tmp_path / "mllm").to_list(), _load_all(seed / "mllm").to_list()
    assert json.dumps(a) == json.dumps(b) and a[0]["instruction"] == "Do it"  # (NaN != NaN in list ==)
    assert scripts["03_binned_dataset_to_mllm_dataset"].main(
        ["--input_dir", str(seed / "bins"), "--output_dir", str(seed / "x"), "--overlap_ratio", "1.0"]) == 2


def test_relative_paths_resolve_against_mcap_folder(generated: dict[str, Path], tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "elsewhere"
    shutil.copytree(generated["good"], copy)
    monkeypatch.chdir(tmp_path)
    rec = read_recording(Path("elsewhere") / "rec0.4.mcap")
    screen = next(e for e in rec.events if e.topic == "screen")
    assert parse_screen(screen.msg, Path("elsewhere") / "rec0.4.mcap").uri == str(copy.resolve() / "rec0.4.mkv")


def test_column_of_lists_image_refs() -> None:
    from molmo2_data.owa.vlm import _as_list_of_dicts

    refs = {"path": ["a.mkv", "b.mkv"], "pts_ns": [1, 2]}
    assert _as_list_of_dicts(refs) == [{"path": "a.mkv", "pts_ns": 1}, {"path": "b.mkv", "pts_ns": 2}]
    assert _as_list_of_dicts(None) == []


def test_official_writer_recording(tmp_path: Path) -> None:
    """A recording written by the official ``mcap-owa-support`` writer (skipped when not installed)."""
    pytest.importorskip("mcap_owa.highlevel")
    from mcap_owa.highlevel import OWAMcapWriter
    from owa.core.message import OWAMessage

    class KeyboardEvent(OWAMessage):
        _type = "desktop/KeyboardEvent"
        event_type: str
        vk: int

    class MediaRef(OWAMessage):
        _type = "desktop/MediaRef"
        uri: str
        pts_ns: int | None = None

    class ScreenCaptured(OWAMessage):
        _type = "desktop/ScreenCaptured"
        utc_ns: int | None = None
        shape: tuple[int, int] | None = None
        media_ref: MediaRef | None = None

    write_video(tmp_path / "off.mkv")
    with OWAMcapWriter(str(tmp_path / "off.mcap")) as w:
        for k, ms in enumerate(FRAME_MS):
            w.write_message(ScreenCaptured(utc_ns=T0 + ms * 1_000_000, shape=(64, 48),
                                           media_ref=MediaRef(uri="off.mkv", pts_ns=ms * 1_000_000)),
                            topic="screen", timestamp=T0 + (ms + 30) * 1_000_000)
            w.write_message(KeyboardEvent(event_type="press", vk=65 + k), topic="keyboard",
                            timestamp=T0 + (ms + 40) * 1_000_000)
    rec = read_recording(tmp_path / "off.mcap")
    assert rec.profile == "owa" and rec.library.startswith("mcap-owa-support") and not rec.skipped
    assert [json.loads(e.msg)["vk"] for e in rec.events if e.topic == "keyboard"] == [65, 66, 67, 68, 69]
    recs = tmp_path / "recs"  # issue #12: an output inside the input folder is refused
    recs.mkdir()
    for name in ("off.mcap", "off.mkv"):
        (tmp_path / name).rename(recs / name)
    build_event_dataset(recs, tmp_path / "ev", rates={})
    build_binned_dataset(tmp_path / "ev", tmp_path / "bins")
    build_mllm_dataset(tmp_path / "bins", tmp_path / "mllm")
    item = VLMDatasetBuilder(str(tmp_path / "mllm"), image_format="numpy")[0]
    assert item["metadata"]["image_errors"] == []
    assert np.abs(item["images"][-1].reshape(-1, 3).mean(0) - COLORS[-1]).max() < 8


@needs_fixtures
def test_desktop_data_mixes_into_get_dataloader(fixture_pipeline: dict[str, Path], sample_root: Path) -> None:
    """A custom mixture names the registered OWA dataset beside image data; batches come out packed."""
    from molmo2_data.loading.loader import get_dataloader
    from molmo2_data.owa.adapter import register_owa_dataset

    register_owa_dataset("owa-fixtures", fixture_pipeline["mllm"])
    dl = get_dataloader("sft", batch_size=1, root=sample_root, sequence_length=16384, framework="numpy",
                        mixture={"owa-fixtures": 0.5, "pixmo-cap": 0.5}, packing_buffer=2, seed=1)
    it = iter(dl)
    members = set()
    for _ in range(3):
        batch = next(it)
        members |= {m["member"] for row in batch["metadata"] for m in row}
    assert "owa-fixtures" in members and dl.report["skipped"] == {}
    assert batch["input_ids"].shape == (1, 16384) and (batch["labels"] != -100).any()


# ------------------------------------------------------------------------------------------------
# Numeric action / state columns
# ------------------------------------------------------------------------------------------------


def test_numeric_vectors_hand_computed() -> None:
    from molmo2_data.owa.encoder import DecodedEvent
    from molmo2_data.owa.numeric import ACTION_FIELDS, STATE_FIELDS, action_vectors, state_vectors

    def ev(t_ns: int, kind: str, payload: dict) -> DecodedEvent:
        topic = {"KeyboardEvent": "keyboard", "MouseEvent": "mouse", "KeyboardState": "keyboard/state",
                 "MouseState": "mouse/state"}[kind]
        return DecodedEvent(topic, t_ns, f"desktop/{kind}", payload)

    events = [ev(10_000_000, "MouseEvent", {"event_type": "move", "x": 5, "y": 7}),  # bin 0
              ev(120_000_000, "KeyboardState", {"buttons": [17]}),  # bin 1: Ctrl held
              ev(150_000_000, "MouseEvent", {"event_type": "click", "x": 6, "y": 8, "button": "right",
                                             "pressed": True}),
              ev(160_000_000, "KeyboardEvent", {"event_type": "press", "vk": 65}),
              ev(330_000_000, "MouseState", {"x": 9, "y": 9, "buttons": ["left"]}),  # bin 3
              ev(340_000_000, "MouseEvent", {"event_type": "scroll", "x": 9, "y": 9, "dx": 0, "dy": -2})]
    bins = [0, 1, 1, 1, 3, 3]
    a = action_vectors(events, bins)
    assert a.shape == (6, len(ACTION_FIELDS))
    nan = np.nan
    np.testing.assert_array_equal(a[2], [0.15, 1, 1, 1, 6, 8, nan, nan, 1, 1, nan])  # right click down
    np.testing.assert_array_equal(a[3], [0.16, 1, 0, 0, nan, nan, nan, nan, nan, 1, 65])  # key A pressed
    np.testing.assert_array_equal(a[5], [0.34, 3, 1, 2, 9, 9, 0, -2, nan, nan, nan])  # scroll
    s = state_vectors(events, bins, 5)
    assert s.shape == (5, len(STATE_FIELDS))
    np.testing.assert_array_equal(s[0], [nan, nan, nan, nan])  # nothing known before the first action
    np.testing.assert_array_equal(s[1], [5, 7, nan, nan])  # bin 1's own actions do not leak into it
    np.testing.assert_array_equal(s[2], [6, 8, nan, 2])  # Ctrl from the snapshot + A; buttons still unknown
    np.testing.assert_array_equal(s[4], [9, 9, 1, 2])  # the mouse snapshot: left held (bit 0)
    with pytest.raises(ValueError, match="non-decreasing"):
        state_vectors(events, [0, 1, 0, 1, 3, 3], 5)


def test_stage3_numeric_columns_match_the_text(fixture_pipeline: dict[str, Path]) -> None:
    from molmo2_data.owa.encoder import EventEncoder
    from molmo2_data.owa.numeric import ACTION_FIELDS, STATE_FIELDS

    mllm = _load_all(fixture_pipeline["mllm"])
    enc = EventEncoder()
    n_keys = n_clicks = 0
    for row in mllm:
        a = np.asarray(row["action_vectors"], dtype=np.float64).reshape(-1, len(ACTION_FIELDS))
        s = np.asarray(row["state_vectors"], dtype=np.float64).reshape(-1, len(STATE_FIELDS))
        meta = row["metadata"]
        assert len(a) == len(row["encoded_events"]) == meta["num_actions"] and len(s) == meta["num_bins"]
        np.testing.assert_array_equal(a[:, 1], meta["event_bin_offsets"])
        for vec, text in zip(a, row["encoded_events"], strict=True):
            e = enc.decode(text)
            assert vec[0] == e.timestamp_ns / 1e9
            if e.message_type.endswith("KeyboardEvent"):
                assert vec[10] == e.payload["vk"] and vec[9] == (e.payload["event_type"] == "press")
                n_keys += 1
            if e.message_type.endswith("MouseEvent") and e.payload.get("event_type") == "click":
                assert (vec[4], vec[5], vec[9]) == (e.payload["x"], e.payload["y"], float(e.payload["pressed"]))
                n_clicks += 1
    assert n_keys > 10 and n_clicks > 0
    from molmo2_data.owa import VLMDatasetBuilder

    item = VLMDatasetBuilder(str(fixture_pipeline["mllm"]), image_format="numpy", split="train")[0]
    assert item["action_vectors"].shape == (len(item["encoded_events"]), len(ACTION_FIELDS))
    assert item["state_vectors"].shape == (item["metadata"]["num_bins"], len(STATE_FIELDS))
