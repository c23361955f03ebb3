"""Academic video QA / label / caption sets (VIDEO_ACADEMIC_DATASETS): every set's sample source files
become examples whose answers are true in the decoded frames of the videos (or clips) they name; the
official names resolve; the official filters drop what they should; malformed source files are
SchemaErrors; Hub-hosted annotation files are fetched over a loopback Hub and video needs reported."""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from molmo2_data import paths
from molmo2_data.annotations import Caption, MultipleChoice
from molmo2_data.datasets import get_dataset
from molmo2_data.datasets.registry import variant_of
from molmo2_data.datasets.video_academic import VIDEO_ACADEMIC_SETS
from molmo2_data.errors import SchemaError
from molmo2_data.media.video import read_frames_at
from molmo2_data.sample import load_truth, write_sample
from molmo2_data.sample.draw import COLORS, pixel_color_name
from molmo2_data.sample.video_academic_pool import TRUTH
from molmo2_data.sample.video_sets import DIRECTIONS

NAMES = list(VIDEO_ACADEMIC_SETS)
OFFICIAL = ["tgif", "tvqa_with_sub", "paxion", "llava_video_mc_academic", "llava_video_oe_academic", "perception_test",
            "nextqa_mc", "news_video_qa_filtered", "how2qa", "sutd_trafficqa", "social_iq2", "sportsqa_oe",
            "cinepile_with_sub", "clevrer", "funqa", "star", "intent_qa", "video_localized_narratives",
            "road_text_vqa", "countix_oe", "camerabench_qa", "motionbench_train", "moments_in_time_qa", "kinetics_qa",
            "charades_sta_all_qa", "coin_all_qa", "youcook2_all_qa", "activitynet_all_qa", "ego4d_all",
            "epic_kitchens_qa", "video_localized_narratives_caption", "qv_highlights"]

# (examples, messages) of each set's train split, counted from what the sample writers put in the files:
# 24 videos x 3 facts for most; TGIF adds an open-ended copy of each action / transition question;
# ActivityNet: 28 labelled clips (every video of the v1.3 file, as officially) + 12 videos x 3 QA;
# rows the official loaders drop are not counted.
EXPECTED = {
    "tgif": (24, 24 * 6), "tvqa": (24, 72), "paxion": (32, 32), "llava-video-mc-academic": (30, 90),
    "llava-video-oe-academic": (24, 72), "perception-test": (24, 72), "nextqa": (24, 72), "news-video-qa": (24, 72),
    "how2qa": (24, 72), "sutd-trafficqa": (24, 72), "social-iq2": (24, 72), "sportsqa": (24, 72),
    "cinepile": (24, 72), "clevrer": (24, 48), "funqa": (24, 48), "star": (24, 96), "intent-qa": (24, 144),
    "road-text-vqa": (24, 72), "countix": (24, 24), "camerabench": (24, 72), "motionbench-caption": (24, 24),
    "moments-in-time": (24, 24), "kinetics-710": (24, 24), "charades-sta": (24, 24), "coin": (24, 24),
    "youcook2": (36, 48), "activitynet": (40, 64), "ego4d": (23, 46), "epic-kitchens": (24, 24),
    "video-localized-narratives": (24, 72), "video-localized-narratives-caption": (24, 24), "qv-highlights": (24, 24),
}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    r = tmp_path_factory.mktemp("va")
    write_sample(r, datasets=NAMES, progress=False)
    return r


def test_every_set_is_registered_under_its_official_name() -> None:
    assert len(NAMES) == len(OFFICIAL) == 32
    assert {variant_of(o)[0] for o in OFFICIAL} == set(NAMES)


class Measured:
    """What the decoded frames of one example's video (or clip) show."""

    def __init__(self, path: str, scene: dict, start: float | None, end: float | None):
        self.scene, self.whole = scene, start is None
        start, end = (0.0, scene["duration"]) if start is None else (start, end)
        fps = scene["fps"]
        times = np.array([start + 0.05, (start + end) / 2, end - 0.15])
        frames, _ = read_frames_at(path, times)
        mover = scene["objects"][0]
        k = int(round(times[1] * fps))
        x, y = mover["positions"][k]
        self.color = pixel_color_name(frames[1][int(round(y)), int(round(x))])
        # the direction from where the mover's colour is in the first and last frames of the clip
        (x0, y0), (x1, y1) = (self._centroid(frames[j], COLORS[self.color]) for j in (0, 2))
        dx, dy = x1 - x0, y1 - y0
        self.direction = (DIRECTIONS[0] if dx > 0 else DIRECTIONS[1]) if abs(dx) > abs(dy) else \
            (DIRECTIONS[2] if dy > 0 else DIRECTIONS[3])
        self.path, self.frames = path, frames

    @staticmethod
    def _centroid(frame: np.ndarray, rgb: tuple[int, int, int]) -> tuple[float, float]:
        near = np.abs(frame.astype(int) - np.asarray(rgb)).max(axis=2) < 40
        ys, xs = np.nonzero(near)
        assert len(xs) > 20
        return float(xs.mean()), float(ys.mean())

    def visible_statics(self, t: float) -> int:
        (frame,), _ = read_frames_at(self.path, [t])
        k = min(int(round(t * self.scene["fps"])), self.scene["n_frames"] - 1)
        n = 0
        for o in self.scene["objects"][1:]:
            p = o["positions"][k]
            if p is not None and pixel_color_name(frame[int(round(p[1])), int(round(p[0]))]) == o["color"]:
                n += 1
        return n


def _answer(ann) -> str:
    if isinstance(ann, MultipleChoice):
        return ann.answer
    if isinstance(ann, Caption):
        return ann.text
    answers = ann.answers if isinstance(ann.answers, list) else [ann.answers]
    return Counter(answers).most_common(1)[0][0]


def check(ann, m: Measured) -> str:
    """Assert the annotation's answer is true of the measured frames; return the kind of fact."""
    a = re.sub(r"^[A-E]\. ", "", _answer(ann).strip())
    if a in COLORS:
        assert a == m.color
        return "color"
    if a.startswith("from "):
        assert a == f"from {m.direction}"
        return "direction"
    if a.isdigit():
        assert m.whole, "a count is only true of the whole video"
        assert int(a) == m.visible_statics(m.scene["duration"] - 0.05)
        return "count"
    if a.startswith("Segments: "):
        (lo, hi), = [tuple(map(float, w.split("-"))) for w in re.findall(r"\[([\d.]+-[\d.]+)\]", a)]
        assert m.visible_statics(lo + 0.1) >= 1 and hi == m.scene["duration"]
        if lo >= 0.5:
            assert m.visible_statics(lo - 0.2) == 0
        return "window"
    text = a + " " + (getattr(ann, "subject", None) or "")
    assert f"from {m.direction}" in text and m.color in text.lower(), text
    return "label"


@pytest.mark.parametrize("name", NAMES)
def test_answers_are_true_in_decoded_frames(root: Path, name: str) -> None:
    ds = get_dataset(name, root=root)
    truth = load_truth(TRUTH, root)
    assert len(ds) >= 20 and not ds.skipped, dict(ds.skipped)
    kinds: Counter[str] = Counter()
    n_msgs = 0
    for i in range(len(ds)):
        ex = ds.example(i)
        v = ex.video
        m = Measured(v.path, truth[v.source], v.clip_start, v.clip_end)
        for ann in ex.annotations:
            kinds[check(ann, m)] += 1
            n_msgs += 1
            if isinstance(ann, MultipleChoice):  # the wrong options are wrong
                assert sum(re.sub(r"^[A-E]\. ", "", o) in (m.color, f"from {m.direction}") for o in ann.options) <= 1
    assert (len(ds), n_msgs) == EXPECTED[name]
    assert kinds  # every message was one of the facts


def test_styles_clips_and_subtitles(root: Path) -> None:
    tvqa = get_dataset("tvqa_with_sub", root=root)
    styles = Counter(a.style for i in range(len(tvqa)) for a in tvqa.example(i).annotations)
    assert styles == {"video_multiple_choice_w_subtitle": 36, "video_multiple_choice": 36}  # subs on even videos
    ex = tvqa.example(0)
    assert [s.text for s in ex.video.subtitles] == [f"Look at the {load_truth(TRUTH, root)[ex.video.source]['objects'][0]['color']} "
                                                    f"{load_truth(TRUTH, root)[ex.video.source]['objects'][0]['shape']}!"]
    assert ex.video.subtitles[0].start == 0.5  # relative to the clip (ts start 2.0, subtitle at 2.5)
    star = get_dataset("star", root=root)
    clips = Counter((star.example(i).video.clip_start, star.example(i).video.clip_end) for i in range(len(star)))
    assert clips == {(0.5, 2.5): 12, (2.5, 4.5): 12}
    yc = get_dataset("youcook2_all_qa", root=root)
    styles = Counter(a.style for i in range(len(yc)) for a in yc.example(i).annotations)
    assert styles == {"youcook2_label": 24, "video_clip_short_caption_start_end": 24}
    vln = get_dataset("video_localized_narratives_caption", root=root)
    (cap,) = vln.example(0).annotations
    assert cap.style == "video_object_caption" and cap.subject == cap.subject.lower()


def test_official_filters_drop_what_they_should(root: Path) -> None:
    """Rows the writers planted: TVQA "nan-nan" bounds and a clip in missing_clips.txt, NewsVideoQA's empty
    answer and corrupt clip, CLEVRER's two-correct question, IntentQA's out-of-range answer, Moments in Time's
    child+ label, QVHighlights' six windows, COIN / YouCook2 empty segments, a corrupt Ego4D clip, FunQA's
    timestamp task, a reversed How2QA clip, Charades-STA's reversed segment."""
    from molmo2_data.tables import read_table

    def rows(name: str, split: str = "train") -> int:
        return read_table(paths.table_path(name, "default", split, root)).num_rows

    assert rows("tvqa") == 72 and rows("news-video-qa") == 72 and rows("clevrer") == 48
    assert rows("intent-qa") == 144 and rows("moments-in-time") == 24 and rows("qv-highlights") == 24
    assert rows("coin") == 24 and rows("ego4d") == 46 and rows("funqa") == 48 and rows("how2qa") == 72
    assert rows("charades-sta") == 24


def test_label_questions_are_drawn_per_example(root: Path) -> None:
    ds = get_dataset("kinetics_qa", root=root)
    qs = {ds.example(i).annotations[0].question for i in range(len(ds))}
    assert qs <= set(ds.QUESTIONS) and len(qs) > 1
    assert ds.example(3).annotations[0].question == ds.example(3).annotations[0].question


def test_max_per_video_splits_star_messages(tmp_path: Path) -> None:
    """STAR keeps at most 10 messages per example (official max_per_video=10), split evenly."""
    from molmo2_data.sample.context import SampleContext
    from molmo2_data.sample.video_academic_pool import import_tables, link, manual, pool, write_json

    ctx = SampleContext(tmp_path, 0)
    s = pool(ctx)[0]
    link(ctx, s, "Charades/Charades_v1/X.mp4")
    q = {"video_id": "X", "start": 0.5, "end": 2.5, "question": "What colour is it?", "answer": s.mover.color,
         "choices": [{"choice_id": 0, "choice": s.mover.color}, {"choice_id": 1, "choice": "nope"}]}
    write_json(manual(ctx, "star") / "STAR_train.json", [dict(q, question_id=str(i)) for i in range(12)])
    write_json(manual(ctx, "star") / "STAR_val.json", [])
    import_tables(ctx, "star")
    ds = get_dataset("star", root=tmp_path)
    assert [len(ds.example(i).annotations) for i in range(len(ds))] == [8, 8, 8]  # 24 messages -> 3 x 8


@pytest.mark.parametrize(("name", "file", "content", "needle"), [
    ("tgif", "Train_count_question.csv", "gif_name\tquestion\nx\ty\n", "has no 'answer'"),
    ("tvqa", "tvqa_train.jsonl", '{"q": "a"}\n{not json\n', "line 2 is not valid JSON"),
    ("clevrer", "train.json", '{"questions": []}', "expected a JSON list"),
    ("charades-sta", "charades_sta_train.txt", "AB12 1.0##no end\n", "line 1"),
    ("epic-kitchens", "epic-kitchens-100-annotations/EPIC_100_train.csv",
     "participant_id,video_id,start_timestamp,stop_timestamp,narration\nP01,P01_01,1.5,00:00:02.00,x\n", "HH:MM:SS"),
])
def test_malformed_source_files_are_schema_errors(tmp_path: Path, name: str, file: str, content: str,
                                                  needle: str) -> None:
    from molmo2_data.datasets import dataset_class
    from molmo2_data.download.manual import import_manual

    write_sample(tmp_path, datasets=[name], progress=False)
    target = paths.manual_dir(name, tmp_path) / file
    target.write_text(content)
    cls = dataset_class(name)
    with pytest.raises(SchemaError, match=re.escape(needle)):
        import_manual(name, cls, [("default", s) for s in cls.MANUAL.files], tmp_path, log=lambda _s: None,
                      refresh=True)


def test_hub_annotation_files_then_check_lists_missing_videos(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              capsys) -> None:
    """countix: its two annotation files on a loopback Hub; ``download`` fetches and imports them, and
    ``--check`` lists each Kinetics video the rows name as missing, with where it goes."""
    sys.path.insert(0, str(Path(__file__).parent))
    from test_download import Server, run_cli

    src = tmp_path / "src"
    write_sample(src, datasets=["countix"], progress=False)
    files = {f: (paths.manual_dir("countix", src) / f).read_bytes()
             for f in ("countix_train_mapped.csv", "class_to_question.json")}
    server = Server()
    try:
        server.hub["allenai/Molmo2-Countix"] = {"README.md": b"---\n---\n", **files}
        monkeypatch.setenv("HF_ENDPOINT", f"{server.url}/hub")
        monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        dst = tmp_path / "dst"
        assert run_cli(["--root", str(dst), "--datasets", "countix_oe", "--quiet"]) == 0
        capsys.readouterr()
        for f, data in files.items():
            assert (paths.manual_dir("countix", dst) / f).read_bytes() == data
        assert run_cli(["--root", str(dst), "--check", "--datasets", "countix", "--json"]) == 0
        (report,) = json.loads(capsys.readouterr().out)
        assert (report["rows"], report["needed"], report["ok"]) == (24, 24, 0)
        missing = (dst / "manifests" / "countix.missing-videos.tsv").read_text().splitlines()
        assert len(missing) == 25 and missing[1] == ("kinetics\tkinetics700/train/counting/cx_0000.mp4\t"
                                                     "media/videos/kinetics/kinetics700/train/counting/cx_0000.mp4")
        assert any("Kinetics-700 videos at media/videos/kinetics/kinetics700/" in n for n in report["notes"])
        assert len(get_dataset("countix", root=dst)) == 0
        assert get_dataset("countix", root=dst).skipped == {"video missing locally": 24}
    finally:
        server.close()


def test_eval_scores_validation_answers(root: Path) -> None:
    """STAR validation: the true answer scores 1, a wrong one 0, for both multiple choice (accuracy) and
    short answers (exact match); 2 videos x 2 clips x (2 short answers + 2 multiple choice) = 16 questions."""
    from molmo2_data.eval import evaluate

    ds = get_dataset("star", split="validation", root=root)
    preds = []
    for i in range(len(ds)):
        for k, ann in enumerate(ds.example(i).annotations):
            right = f"{chr(65 + ann.answer_index)}" if isinstance(ann, MultipleChoice) else ann.answers
            wrong = "Z" if isinstance(ann, MultipleChoice) else "nothing"
            preds.append({"index": i, "annotation": k, "prediction": right if k % 2 == 0 else wrong})
    report = evaluate("star", "validation", preds, root=root)
    assert report["scored"] == 16
    by_style = report["by_style"]
    # annotations alternate short answer / multiple choice, and every even one is answered right
    assert by_style["video_short_answer"]["score"] == 1.0 and by_style["video_multiple_choice"]["score"] == 0.0
    assert report["overall"]["score"] == 0.5


def test_gallery_shows_frames_and_answers(root: Path, tmp_path: Path) -> None:
    """`inspect NAME --html`: decoded frames of the clip and every question with its answer."""
    import html as html_lib

    from molmo2_data.eval.gallery import write_gallery

    out = write_gallery("star", "train", tmp_path / "g.html", n=2, root=root)
    page = html_lib.unescape(Path(out).read_text())
    ds = get_dataset("star", root=root)
    assert page.count("<img") >= 2 * 2  # frames of two examples
    for i in range(2):
        for ann in ds.example(i).annotations:
            assert ann.question in page and _answer(ann) in page


def test_prepared_copies_are_read_when_present(tmp_path: Path) -> None:
    """After `prepare videos`, an academic set reads `<id>_2fps.mp4` beside the original."""
    import shutil

    from molmo2_data.sample.context import SampleContext
    from molmo2_data.sample.video_academic_pool import import_tables, link, manual, pool, write_json

    ctx = SampleContext(tmp_path, 0)
    s = pool(ctx)[0]
    link(ctx, s, "Charades/Charades_v1/X.mp4")
    write_json(manual(ctx, "star") / "STAR_train.json", [{"question_id": "1", "video_id": "X", "start": 0.5,
               "end": 2.5, "question": "Q?", "answer": "a", "choices": [{"choice_id": 0, "choice": "a"}]}])
    write_json(manual(ctx, "star") / "STAR_val.json", [])
    import_tables(ctx, "star")
    videos = tmp_path / "media" / "videos" / "Charades" / "Charades_v1"
    assert get_dataset("star", root=tmp_path).example(0).video.path == str(videos / "X.mp4")
    shutil.copy(videos / "X.mp4", videos / "X_2fps.mp4")  # stands in for the prepared copy
    (tmp_path / "manifests").mkdir(exist_ok=True)
    (tmp_path / "manifests" / "prepared-videos.jsonl").write_text("{}\n")  # a prepare run marks the change
    assert get_dataset("star", root=tmp_path).example(0).video.path == str(videos / "X_2fps.mp4")
