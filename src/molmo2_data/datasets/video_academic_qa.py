"""Academic video question answering sets (``VIDEO_ACADEMIC_DATASETS``, MIXTURES.md §3) whose annotation
files are fetched by hand (perception_test, nextqa_mc, how2qa, sutd_trafficqa, sportsqa_oe, clevrer, star,
intent_qa, road_text_vqa): one declaration each of where the files come from and how a source record
becomes messages. The sets whose annotations are on the Hub are in :mod:`.video_academic_hub`.

Videos live under ``media/videos/`` in the official ``VIDEO_DATA_HOME`` layout (``NeXTQA/...``,
``Charades/Charades_v1/<id>.mp4``, ...), so a tree laid out for the official code can be linked there as is.
Facts (files, fields, filters, styles) are those of the official loaders in allenai/molmo2
``olmo/data/academic_video_datasets.py``; where those draw with an unseeded ``random`` at load time, the
draw here is fixed per record (:func:`~.video_academic.fixed_draw`) so every import gives the same table.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from molmo2_data.datasets.video_academic import (
    Records,
    answer_index_of,
    csv_records,
    insert_answer,
    json_mapping,
    json_records,
    jsonl_records,
    message,
    options_of,
    require_file,
    video_set,
)
from molmo2_data.errors import SchemaError

MC, SA = "video_multiple_choice", "video_short_answer"



def parse_perception_test(folder: Path, split: str) -> list[dict[str, Any]]:
    doc = json_mapping(folder / "all_train.json")
    out = []
    for vid, ann in doc.items():
        qs = ann.get("mc_question") if isinstance(ann, dict) else None
        if not isinstance(qs, list):
            raise SchemaError(f"{folder / 'all_train.json'}: {vid}: no mc_question list")
        recs = Records(folder / "all_train.json", qs, lambda i, v=vid: f"{v}.mc_question[{i}]")
        for i, q in recs:
            options = [str(o) for o in recs.get(i, q, "options", list)]
            out.append(message(f"perception_test/train_videos/{vid}.mp4", "mc", MC, question=recs.get(i, q, "question"),
                               options=options, answer_index=answer_index_of(recs, i, q, "answer_id", len(options)),
                               source_id=q.get("id", f"{vid}:{i}")))
    return out


video_set("perception-test", "perception_test", parse_perception_test,
          "Perception Test training annotations (all_train.json, https://github.com/google-deepmind/perception_test) "
          "and its train videos at media/videos/perception_test/train_videos/<video>.mp4.",
          files={"train": "all_train.json"})


def parse_nextqa(folder: Path, split: str) -> list[dict[str, Any]]:
    recs = csv_records(folder / f"{split}.csv")
    ids = json_mapping(folder / "map_vid_vidorID.json")
    out = []
    for i, r in recs:
        vid = str(recs.get(i, r, "video", (str, int)))
        if vid not in ids:
            raise SchemaError(f"{folder / 'map_vid_vidorID.json'}: no entry for video {vid}")
        options = options_of(recs, i, r, [f"a{k}" for k in range(5)])
        out.append(message(f"NeXTQA/NExTVideo-all-videos/{ids[vid]}.mp4", "mc", MC, question=recs.get(i, r, "question"),
                           options=options, answer_index=answer_index_of(recs, i, r, "answer", 5), source_id=r.get("qid", i)))
    return out


video_set("nextqa", "nextqa_mc", parse_nextqa,
          "NExT-QA multiple-choice annotations (train.csv, val.csv, map_vid_vidorID.json from "
          "https://github.com/doc-doc/NExT-QA/tree/main/dataset/nextqa) and the VidOR videos at "
          "media/videos/NeXTQA/NExTVideo-all-videos/<vidorID>.mp4.",
          splits={"train": "train", "validation": "val", "val": "val"},
          files={"train": "train.csv", "val": "val.csv"}, aliases=("next-qa",))

HOW2QA_CORRUPT_VIDEOS, HOW2QA_CORRUPT_CLIPS = {"Z1NEMNKgR9U"}, {"onGTfd-EKrs_89.15_89.44", "bkl7eK8B6ig_147.73_149.83"}


def parse_how2qa(folder: Path, split: str) -> list[dict[str, Any]]:
    """how2QA_<split>_release.csv has no header: video id, "start:end", three wrong answers, question,
    answer. Clips are files ``<vid>_<start>_<end>.<ext>`` (times rounded to 2 decimals, as Python prints)."""
    path = require_file(folder / f"how2QA_{split}_release.csv")
    out = []
    with open(path, encoding="utf-8", newline="") as fh:
        for n, row in enumerate(csv.reader(fh), 1):
            if len(row) < 7:
                raise SchemaError(f"{path}: row {n} has {len(row)} columns, expected 7")
            try:
                start, end = (float(x) for x in row[1].split(":"))
            except ValueError as e:
                raise SchemaError(f"{path}: row {n}: clip bounds {row[1]!r} are not 'start:end'") from e
            if start >= end or row[0] in HOW2QA_CORRUPT_VIDEOS:
                continue
            stem = f"{row[0]}_{round(start, 2)}_{round(end, 2)}"
            if stem in HOW2QA_CORRUPT_CLIPS:
                continue
            options, k = insert_answer(row[6], list(row[2:5]), f"{stem}:{row[5]}")
            out.append(message(f"how2QA/video-clips/{stem}.mp4", "mc", MC, question=row[5], options=options,
                               answer_index=k, source_id=n))
    return out


video_set("how2qa", "how2qa", parse_how2qa,
          "How2QA annotations (how2QA_<split>_release.csv from https://github.com/ych133/How2R-and-How2QA) and "
          "the How2 clips at media/videos/how2QA/video-clips/<vid>_<start>_<end>.<mp4|mkv|webm>.",
          splits={"train": "train", "validation": "val", "val": "val"},
          files={"train": "how2QA_train_release.csv", "val": "how2QA_val_release.csv"})


def parse_sutd(folder: Path, split: str) -> list[dict[str, Any]]:
    """R2_<split>.jsonl: the first line is the header (a list of column names), each other line a list."""
    recs = jsonl_records(folder / f"R2_{split}.jsonl")
    if not recs.records or not isinstance(recs.records[0], list):
        raise SchemaError(f"{recs.path}: line 1 is not the list of column names")
    cols = recs.records[0]
    rows = Records(recs.path, [dict(zip(cols, v, strict=False)) if isinstance(v, list) else v
                               for v in recs.records[1:]], lambda i: f"line {i + 2}")
    out = []
    for i, r in rows:
        options = options_of(rows, i, r, [f"option{k}" for k in range(4)])
        k = answer_index_of(rows, i, r, "answer", 4)
        if k is None:
            continue
        answer = options[k]
        options = [o for o in options if o]
        out.append(message(f"SUTD-TrafficQA/compressed_videos/{rows.get(i, r, 'vid_filename')}", "mc", MC,
                           question=rows.get(i, r, "q_body"), options=options, answer_index=options.index(answer),
                           source_id=r.get("record_id", i)))
    return out


video_set("sutd-trafficqa", "sutd_trafficqa", parse_sutd,
          "SUTD-TrafficQA (R2_train.jsonl, R2_test.jsonl and compressed_videos/ from "
          "https://sutdcv.github.io/SUTD-TrafficQA/#/download, after its agreement); videos at "
          "media/videos/SUTD-TrafficQA/compressed_videos/.",
          splits={"train": "train", "test": "test"}, files={"train": "R2_train.jsonl", "test": "R2_test.jsonl"})


def parse_sportsqa(folder: Path, split: str) -> list[dict[str, Any]]:
    recs = json_records(folder / "meta-data" / f"{split}.json")
    return [message(f"SportsQA/{recs.get(i, r, 'video')}.mp4", "qa", SA, question=recs.get(i, r, "question"),
                    answer=recs.get(i, r, "answer", (str, int, float)), source_id=i) for i, r in recs]


video_set("sportsqa", "sportsqa_oe", parse_sportsqa,
          "Sports-QA annotations (meta-data/<split>.json, https://ndownloader.figshare.com/files/57448480) and "
          "videos (https://huggingface.co/datasets/HopLeeTop/Sports-QA) at media/videos/SportsQA/<video>.<avi|mp4|webm>.",
          splits={"train": "train", "validation": "val", "val": "val"},
          files={"train": "meta-data/train.json", "val": "meta-data/val.json"})


def parse_clevrer(folder: Path, split: str) -> list[dict[str, Any]]:
    recs = json_records(folder / f"{split}.json")
    out = []
    for i, ex in recs:
        name = recs.get(i, ex, "video_filename")
        k = int(name.split(".")[0].replace("video_", "")) // 1000
        video = f"CLEVRER/video_{k * 1000:05d}-{(k + 1) * 1000:05d}/{name}"
        for q in recs.get(i, ex, "questions", list):
            if "answer" in q:
                out.append(message(video, "qa", SA, question=q["question"], answer=q["answer"], source_id=q.get("question_id")))
            elif "choices" in q:
                correct = [j for j, c in enumerate(q["choices"]) if c.get("answer") == "correct"]
                if len(correct) != 1:  # several correct choices (or none): left out, as the official loader does
                    continue
                out.append(message(video, "mc", MC, question=q["question"], options=[c["choice"] for c in q["choices"]],
                                   answer_index=correct[0], source_id=q.get("question_id")))
    return out


video_set("clevrer", "clevrer", parse_clevrer,
          "CLEVRER questions (http://data.csail.mit.edu/clevrer/questions/<split>.json) and videos "
          "(http://data.csail.mit.edu/clevrer/videos/<split>/video_<split>.zip, unzipped to media/videos/CLEVRER/).",
          splits={"train": "train", "validation": "validation"},
          files={"train": "train.json", "validation": "validation.json"})

def parse_star(folder: Path, split: str) -> list[dict[str, Any]]:
    path = folder / f"STAR_{split}_qa.json"
    recs = json_records(path if path.exists() else folder / f"STAR_{split}.json")
    out = []
    for i, ex in recs:
        vid = recs.get(i, ex, "video_id")
        clip = (recs.get(i, ex, "start", float), recs.get(i, ex, "end", float))
        video = f"Charades/Charades_v1/{vid}.mp4"
        q, a = recs.get(i, ex, "question"), recs.get(i, ex, "answer")
        out.append(message(video, "qa", SA, question=q, answer=a, clip=clip, source_id=ex.get("question_id", i)))
        choices = [c.get("choice") for c in recs.get(i, ex, "choices", list)]
        if a in choices:
            out.append(message(video, "mc", MC, question=q, options=choices, answer_index=choices.index(a), clip=clip,
                               source_id=ex.get("question_id", i)))
    return out


video_set("star", "star", parse_star,
          "STAR questions (STAR_<split>.json from https://bobbywu.com/STAR/) and the Charades videos "
          "(https://prior.allenai.org/projects/charades) at media/videos/Charades/Charades_v1/<id>.mp4.",
          splits={"train": "train", "validation": "val", "val": "val"},
          files={"train": "STAR_train.json", "val": "STAR_val.json"}, max_per_video=10)


def parse_intent_qa(folder: Path, split: str) -> list[dict[str, Any]]:
    recs = csv_records(folder / f"{split}.csv")
    out = []
    for i, r in recs:
        video = f"IntentQA/videos/{recs.get(i, r, 'video_id', (str, int))}.mp4"
        options = options_of(recs, i, r, [f"a{k}" for k in range(5)])
        k = answer_index_of(recs, i, r, "answer", 5)
        if k is None:
            continue
        q = recs.get(i, r, "question")
        out.append(message(video, "qa", SA, question=q, answer=options[k], source_id=r.get("qid", i)))
        out.append(message(video, "mc", MC, question=q, options=options, answer_index=k, source_id=r.get("qid", i)))
    return out


video_set("intent-qa", "intent_qa", parse_intent_qa,
          "IntentQA annotations (<split>.csv from https://github.com/JoseponLee/IntentQA) and its NExT-QA videos at "
          "media/videos/IntentQA/videos/<video_id>.mp4.",
          splits={"train": "train", "validation": "val", "val": "val"}, files={"train": "train.csv", "val": "val.csv"})


def parse_road_text_vqa(folder: Path, split: str) -> list[dict[str, Any]]:
    recs = json_records(folder / f"{split}.json", key="data")
    out = []
    for i, ex in recs:
        answers = recs.get(i, ex, "answer", list)
        if not answers:
            continue
        # several answers: the official loader picks one at random per load; here the formatter's
        # select_vqa_answer picks the most frequent (one draw of the example rng on ties)
        out.append(message(f"RoadTextVQA/videos/{recs.get(i, ex, 'video')}", "qa", SA, question=recs.get(i, ex, "question"),
                           answer=answers[0], answers=[str(a) for a in answers] if len(answers) > 1 else None,
                           source_id=ex.get("questionId", i)))
    return out


video_set("road-text-vqa", "road_text_vqa", parse_road_text_vqa,
          "RoadTextVQA annotations (http://cvit.iiit.ac.in/images/datasets/RoadTextVQA/<split>.json) and videos "
          "(https://github.com/georg3tom/RoadtextVQA) at media/videos/RoadTextVQA/videos/.",
          splits={"train": "train", "validation": "val", "val": "val"}, files={"train": "train.json", "val": "val.json"})


