"""Academic video sets of action labels, clip captions and moments (``VIDEO_ACADEMIC_DATASETS``, MIXTURES.md
§3): Moments in Time, Kinetics-710, Charades-STA, COIN, YouCook2, ActivityNet, Ego4D, EPIC-KITCHENS-100,
Video Localized Narratives (QA and object captions) and QVHighlights.

The official ``*_qa`` variants ask for a clip's label with a question drawn from a short list; the lists
here are our own wording (the draw is the example rng's). A labelled segment of a long video is a *clip*
(``VideoRef.clip_start`` / ``clip_end``): frames are sampled inside it, as the official
``clip_start_time`` / ``clip_end_time`` metadata does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from molmo2_data.datasets.video_academic import (
    Records,
    csv_records,
    json_mapping,
    json_records,
    jsonl_records,
    message,
    video_set,
)
from molmo2_data.errors import SchemaError

ACTION_QUESTIONS = ("What action is shown in this video?", "Which activity takes place in the video?",
                    "Name the action being performed.")
STEP_QUESTIONS = ("Which step of the task is shown in this clip?", "What is being done in this clip?",
                  "Describe the step shown in this clip.")
NARRATION_QUESTIONS = ("What is the camera wearer doing?", "Describe the action in this clip.",
                       "What happens in this clip?")
MOMENT_QUESTIONS = ("What happens in this video clip?", "Describe the event in this clip briefly.",
                    "Which event does this clip show?")


def _segment(recs: Records, i: int, r: dict[str, Any], key: str = "segment") -> tuple[float, float] | None:
    seg = r.get(key)
    if not isinstance(seg, list | tuple) or len(seg) != 2:
        return None
    try:
        start, end = float(seg[0]), float(seg[1])
    except (TypeError, ValueError):
        return None
    return (start, end) if end > start else None


def _database(path: Path) -> dict[str, Any]:
    db = json_mapping(path, key="database")
    for vid, v in db.items():
        if not isinstance(v, dict):
            raise SchemaError(f"{path}: database[{vid!r}] is not an object")
    return db


def parse_moments_in_time(folder: Path, split: str) -> list[dict[str, Any]]:
    recs = csv_records(folder / f"{split}.csv")
    out = []
    for i, r in recs:
        label = recs.get(i, r, "label")
        if "+" in label:
            label = label.replace("+", " ")
            if label.startswith(("child ", "adult ")):
                continue  # the official loader leaves these compound labels out
        out.append(message(f"moments_in_time/Moments_in_Time_Raw/{split}-videos/{recs.get(i, r, 'video_path')}",
                           "label", "moments_in_time_label", answer=label, source_id=i))
    return out


video_set("moments-in-time", "moments_in_time_qa", parse_moments_in_time,
          "Moments in Time (http://moments.csail.mit.edu/, after its form): Moments_in_Time_Raw/<split>.csv with "
          "video_path and label columns, and the videos at media/videos/moments_in_time/Moments_in_Time_Raw/<split>-videos/.",
          splits={"train": "train", "validation": "validation"},
          files={"train": "train.csv", "validation": "validation.csv"}, questions=ACTION_QUESTIONS)


def parse_kinetics(folder: Path, split: str) -> list[dict[str, Any]]:
    """Kinetics-710 labels: k600 / k700 video lists (``<path> <k710 label id>``) and the k710 label map;
    k700 videos under ``kinetics700/<split>/<label>/``, k600 under ``kinetics600/<split>/<label_with_underscores>/``."""
    labels_file = folder / "kinetics710" / "k710_label_map.txt"
    if not labels_file.is_file():
        raise SchemaError(f"{labels_file}: missing")
    labels = labels_file.read_text(encoding="utf-8").splitlines()
    corrupt: set[str] = set()
    if (folder / "kinetics_corrupt.parquet").is_file():
        import pyarrow.parquet as pq

        corrupt = set(pq.read_table(folder / "kinetics_corrupt.parquet", columns=["video"]).column("video").to_pylist())
    out = []
    for name, top, sub in (("k700", "kinetics700", lambda s: s), ("k600", "kinetics600", lambda s: s.replace(" ", "_"))):
        path = folder / "kinetics710" / f"{name}_{split}_list_videos.txt"
        if not path.is_file():
            raise SchemaError(f"{path}: missing")
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            parts = line.strip().rsplit(" ", 1)  # the video's path (only its file name is used), the label id
            if len(parts) != 2 or not parts[1].isdigit() or int(parts[1]) >= len(labels):
                raise SchemaError(f"{path}: line {n}: expected '<video> <label id below {len(labels)}>', got {line!r}")
            label = labels[int(parts[1])]
            rel = f"{top}/{split}/{sub(label)}/{parts[0].split('/')[-1]}"
            if rel in corrupt:
                continue
            out.append(message(f"kinetics/{rel}", "label", "kinetics_label", answer=label, source_id=f"{name}:{n}"))
    return out


video_set("kinetics-710", "kinetics_qa", parse_kinetics,
          "Kinetics-600/700 videos (https://github.com/cvdfoundation/kinetics-dataset) at media/videos/kinetics/"
          "kinetics<600|700>/<split>/<label>/<id>.mp4 and the Kinetics-710 lists (kinetics710/k710_label_map.txt, "
          "k600_/k700_<split>_list_videos.txt, from https://github.com/OpenGVLab/UniFormerV2); optional "
          "kinetics_corrupt.parquet (https://storage.googleapis.com/molmo-datasets/kinetics_corrupt.parquet).",
          splits={"train": "train", "validation": "val", "val": "val"},
          files={"train": "kinetics710/k700_train_list_videos.txt", "val": "kinetics710/k700_val_list_videos.txt"},
          questions=ACTION_QUESTIONS, aliases=("kinetics",))


def parse_charades_sta(folder: Path, split: str) -> list[dict[str, Any]]:
    path = folder / "charades_sta_train.txt"
    if not path.is_file():
        raise SchemaError(f"{path}: missing")
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        rest, sep, caption = line.strip().partition("##")
        parts = rest.split(" ")
        if not sep or len(parts) != 3:
            raise SchemaError(f"{path}: line {n}: expected '<video> <start> <end>##<sentence>'")
        try:
            start, end = float(parts[1]), float(parts[2])
        except ValueError as e:
            raise SchemaError(f"{path}: line {n}: start / end are not numbers") from e
        if end <= start:
            continue
        out.append(message(f"Charades/Charades_v1/{parts[0]}.mp4", "label", "charades_sta", answer=caption,
                           clip=(start, end), source_id=n))
    return out


video_set("charades-sta", "charades_sta_all_qa", parse_charades_sta,
          "Charades-STA sentences (charades_sta_train.txt, https://github.com/jiyanggao/TALL) and the Charades "
          "videos (https://prior.allenai.org/projects/charades) at media/videos/Charades/Charades_v1/<id>.mp4.",
          files={"train": "charades_sta_train.txt"}, questions=MOMENT_QUESTIONS)


def parse_coin(folder: Path, split: str) -> list[dict[str, Any]]:
    db = _database(folder / "COIN.json")
    out = []
    for vid, v in db.items():
        if split not in str(v.get("subset", "")):
            continue
        recs = Records(folder / "COIN.json", v.get("annotation") or [], lambda i, vid=vid: f"{vid}.annotation[{i}]")
        for i, a in recs:
            seg = _segment(recs, i, a)
            if seg is not None:
                out.append(message(f"coin/videos/{vid}.mp4", "label", "coin_label", answer=recs.get(i, a, "label"),
                                   clip=seg, source_id=f"{vid}:{i}"))
    return out


video_set("coin", "coin_all_qa", parse_coin,
          "COIN annotations (COIN.json, https://github.com/coin-dataset/annotations) and the videos (YouTube) at "
          "media/videos/coin/videos/<id>.<mp4|mkv|webm>.",
          splits={"train": "train", "test": "test"}, files={"train": "COIN.json", "test": "COIN.json"},
          questions=STEP_QUESTIONS)

YOUCOOK2_CORRUPT = {("UB1_MNpdvgs", 595.0, 613.0), ("UB1_MNpdvgs", 624.0, 635.0)}


def parse_youcook2(folder: Path, split: str) -> list[dict[str, Any]]:
    """Task "all" in QA format: each segment's sentence asked about its clip (``youcook2_label``) and, on
    the whole video, as a ``video_clip_short_caption_start_end`` caption."""
    db = _database(folder / "youcookii_annotations_trainval.json")
    out = []
    for vid, v in db.items():
        if split not in str(v.get("subset", "")):
            continue
        video = f"youcook2/videos/{vid}.mp4"
        recs = Records(folder / "youcookii_annotations_trainval.json", v.get("annotations") or [],
                       lambda i, vid=vid: f"{vid}.annotations[{i}]")
        for i, a in recs:
            seg = _segment(recs, i, a)
            if seg is None:
                continue
            sentence = recs.get(i, a, "sentence")
            sentence = sentence if sentence.endswith(".") else sentence + "."
            if (vid, *seg) not in YOUCOOK2_CORRUPT:
                out.append(message(video, "label", "youcook2_label", answer=sentence, clip=seg, source_id=f"{vid}:{i}"))
            out.append(message(video, "caption", "video_clip_short_caption_start_end", answer=sentence,
                               source_id=f"{vid}:{i}:{seg[0]}-{seg[1]}"))
    return out


video_set("youcook2", "youcook2_all_qa", parse_youcook2,
          "YouCook2 annotations (youcookii_annotations_trainval.json, http://youcook2.eecs.umich.edu/) and the "
          "videos (YouTube) at media/videos/youcook2/videos/<id>.<mp4|mkv|webm>.",
          splits={"train": "training", "validation": "validation"},
          files={"training": "youcookii_annotations_trainval.json", "validation": "youcookii_annotations_trainval.json"},
          questions=STEP_QUESTIONS)


def parse_activitynet(folder: Path, split: str) -> list[dict[str, Any]]:
    """Task "all": every labelled segment of activity_net.v1-3.min.json (all videos, as the official loader
    reads them; duplicate labels of one segment once) plus ActivityNet-QA's <split>_q / <split>_a pairs."""
    db = _database(folder / "activity_net.v1-3.min.json")
    out = []
    for vid, v in db.items():
        recs = Records(folder / "activity_net.v1-3.min.json", v.get("annotations") or [],
                       lambda i, vid=vid: f"{vid}.annotations[{i}]")
        seen = set()
        for i, a in recs:
            seg = _segment(recs, i, a)
            label = recs.get(i, a, "label")
            if seg is None or (seg, label) in seen:
                continue
            seen.add((seg, label))
            out.append(message(f"ActivityNet/all-videos/{vid}.mp4", "label", "activitynet_label", answer=label,
                               clip=seg, source_id=f"{vid}:{i}"))
    qs, ans = json_records(folder / f"{split}_q.json"), json_records(folder / f"{split}_a.json")
    answers = {ans.get(i, r, "question_id", (str, int)): ans.get(i, r, "answer", (str, int, float)) for i, r in ans}
    for i, r in qs:
        qid = qs.get(i, r, "question_id", (str, int))
        if qid not in answers:
            continue
        q = qs.get(i, r, "question").strip()
        out.append(message(f"ActivityNet/all-videos/{qs.get(i, r, 'video_name')}.mp4", "qa", "video_short_answer",
                           question=q if q.endswith("?") else q + "?", answer=answers[qid], source_id=qid))
    return out


video_set("activitynet", "activitynet_all_qa", parse_activitynet,
          "ActivityNet v1.3 (activity_net.v1-3.min.json, http://activity-net.org/download.html) with ActivityNet-QA "
          "(train_q.json, train_a.json, val_q.json, val_a.json, https://github.com/MILVLG/activitynet-qa) and the "
          "videos (YouTube) at media/videos/ActivityNet/all-videos/<id>.mp4.",
          splits={"train": "train", "validation": "val", "val": "val"},
          files={"train": "train_q.json", "val": "val_q.json"}, questions=ACTION_QUESTIONS)


def parse_ego4d(folder: Path, split: str) -> list[dict[str, Any]]:
    """The official cached clip metadata: per clip file, its ``message_list`` (question / answer / style,
    or a text and style) and a ``corrupt`` flag."""
    recs = jsonl_records(folder / "ego4d_cached_train_metadata.jsonl")
    out = []
    for i, r in recs:
        if r.get("corrupt"):
            continue
        video = f"ego4d-clips/{recs.get(i, r, 'clip')}"
        msgs = Records(recs.path, recs.get(i, r, "message_list", list), lambda j, i=i: f"line {i + 1} message {j}")
        for j, m in msgs:
            style = msgs.get(j, m, "style")
            if "question" in m:
                out.append(message(video, "qa", style, question=msgs.get(j, m, "question"),
                                   answer=msgs.get(j, m, "answer", (str, int, float)), source_id=f"{i}:{j}"))
            else:
                out.append(message(video, "caption", style, answer=msgs.get(j, m, "text"), source_id=f"{i}:{j}"))
    return out


video_set("ego4d", "ego4d_all", parse_ego4d,
          "Ego4D (https://ego4d-data.org/, after its license): the official cached clip list "
          "(ego4d_cached_train_metadata.jsonl, with message_list and corrupt per clip; the parquet form is at "
          "https://storage.googleapis.com/molmo-datasets/ego4d_cached_train_metadata.parquet) and the clips at "
          "media/videos/ego4d-clips/<uid>_<start>_<end>_custom_clip.mp4.",
          files={"train": "ego4d_cached_train_metadata.jsonl"})


def _hms(text: str) -> float:
    h, m, s = text.split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


def parse_epic_kitchens(folder: Path, split: str) -> list[dict[str, Any]]:
    recs = csv_records(folder / "epic-kitchens-100-annotations" / f"EPIC_100_{split}.csv")
    out = []
    for i, r in recs:
        try:
            start, stop = _hms(recs.get(i, r, "start_timestamp")), _hms(recs.get(i, r, "stop_timestamp"))
        except ValueError as e:
            raise SchemaError(f"{recs.path}: row {i + 2}: timestamps are not HH:MM:SS.ff") from e
        pid, vid = recs.get(i, r, "participant_id"), recs.get(i, r, "video_id")
        out.append(message(f"epic-kitchens-clips/{pid}/videos/{vid}_{start:.3f}_{stop:.3f}.mp4", "label",
                           "epic_kitchens_label", answer=recs.get(i, r, "narration"), source_id=r.get("narration_id", i)))
    return out


video_set("epic-kitchens", "epic_kitchens_qa", parse_epic_kitchens,
          "EPIC-KITCHENS-100 annotations (epic-kitchens-100-annotations/EPIC_100_<split>.csv, "
          "https://github.com/epic-kitchens/epic-kitchens-100-annotations) and the action clips cut from its videos "
          "(https://epic-kitchens.github.io/) at media/videos/epic-kitchens-clips/<participant>/videos/"
          "<video>_<start>_<stop>.mp4 (times in seconds, 3 decimals).",
          splits={"train": "train", "validation": "validation"},
          files={"train": "epic-kitchens-100-annotations/EPIC_100_train.csv",
                 "validation": "epic-kitchens-100-annotations/EPIC_100_validation.csv"},
          questions=NARRATION_QUESTIONS)


def parse_vln_qa(folder: Path, split: str) -> list[dict[str, Any]]:
    recs = json_records(folder / "videoqa" / "text_output" / f"oops_{split}" / "qa_text_output.json", key="annotations")
    out = []
    for i, ex in recs:
        video = f"oops/oops_video/{recs.get(i, ex, 'video_name')}.mp4"
        pairs = Records(recs.path, recs.get(i, ex, "qa_pairs", list), lambda j, i=i: f"annotations[{i}].qa_pairs[{j}]")
        for j, q in pairs:
            out.append(message(video, "qa", "video_short_answer", question=pairs.get(j, q, "raw_question"),
                               answer=pairs.get(j, q, "raw_answer", (str, int, float)),
                               source_id=q.get("question_id", f"{i}:{j}")))
    return out


video_set("video-localized-narratives", "video_localized_narratives", parse_vln_qa,
          "Video Localized Narratives VideoQA (https://storage.googleapis.com/video-localized-narratives/videoqa.zip, "
          "unzipped here) and the Oops videos at media/videos/oops/oops_video/<video_name>.mp4.",
          splits={"train": "train", "validation": "val", "val": "val"},
          files={"train": "videoqa/text_output/oops_train/qa_text_output.json",
                 "val": "videoqa/text_output/oops_val/qa_text_output.json"})


def parse_vln_caption(folder: Path, split: str) -> list[dict[str, Any]]:
    from molmo2_data.download.manual import read_builder_output

    rows = read_builder_output(folder / "hf_dataset", split).to_pylist()
    recs = Records(folder / "hf_dataset", rows)
    out = []
    for i, r in recs:
        caps, actors = recs.get(i, r, "captions", list), recs.get(i, r, "actor_names", list)
        if len(caps) != len(actors):
            raise SchemaError(f"{recs.path}: row {i}: {len(caps)} captions for {len(actors)} actor names")
        for c, a in zip(caps, actors, strict=True):
            out.append(message(recs.get(i, r, "video"), "caption", "video_object_caption", answer=c,
                               subject=str(a).lower(), source_id=recs.get(i, r, "id", (str, int))))
    return out


video_set("video-localized-narratives-caption", "video_localized_narratives_caption", parse_vln_caption,
          "Video Localized Narratives object captions from the Hub (allenai/Molmo2-VideoLocalizedNarrativesCaptionHf, "
          "hf_dataset/); videos under media/videos/ at the rows' paths (oops/oops_video/train, "
          "kinetics/kinetics700/train, UVO/uvo_videos_sparse, UVO/uvo_videos_dense, OVIS/train_mp4_5fps).",
          files={"train": "hf_dataset"}, hub="allenai/Molmo2-VideoLocalizedNarrativesCaptionHf",
          hub_files=("hf_dataset/*",))

QVH_MAX_WINDOWS = 5


def qvh_question(query: str) -> str:
    return f'Which parts of the video match the description "{query.rstrip(".")}"? List every segment in seconds.'


def qvh_answer(windows: list[list[float]]) -> str:
    return "Segments: " + ", ".join(f"[{s}-{e}]" for s, e in windows)


def parse_qv_highlights(folder: Path, split: str) -> list[dict[str, Any]]:
    recs = jsonl_records(folder / f"highlight_{split}_release.jsonl")
    out = []
    for i, r in recs:
        windows = recs.get(i, r, "relevant_windows", list)
        if len(windows) > QVH_MAX_WINDOWS:
            continue  # the official loader keeps queries with at most 5 windows
        out.append(message(f"QVHighlights/videos/{recs.get(i, r, 'vid')}.mp4", "qa", "video_short_answer",
                           question=qvh_question(recs.get(i, r, "query")), answer=qvh_answer(windows),
                           source_id=recs.get(i, r, "qid", (str, int))))
    return out


video_set("qv-highlights", "qv_highlights", parse_qv_highlights,
          "QVHighlights (highlight_<split>_release.jsonl from https://github.com/jayleicn/moment_detr/tree/main/data "
          "and the videos from https://nlp.cs.unc.edu/data/jielei/qvh/qvhilights_videos.tar.gz) at "
          "media/videos/QVHighlights/videos/<vid>.mp4.",
          splits={"train": "train", "validation": "val", "val": "val"},
          files={"train": "highlight_train_release.jsonl", "val": "highlight_val_release.jsonl"})
