"""Sample copies of the academic video label, caption and moment sets
(:mod:`molmo2_data.datasets.video_academic_labels`): the sources' own files whose labels and captions
name the mover's colour and direction (true in every clip of a pool video), segments as two clips per
video, and a few rows the official loaders drop."""

from __future__ import annotations

import json

from molmo2_data.sample import atomic, sample_writer
from molmo2_data.sample.context import SampleContext
from molmo2_data.sample.video_academic_pool import (
    CLIPS,
    caption,
    first_static_window,
    import_tables,
    label,
    link,
    manual,
    whole_video_facts,
    write_csv,
    write_json,
    write_jsonl,
)
from molmo2_data.sample.video_academic_qa_sets import N_VIDEOS, videos


@sample_writer("moments-in-time")
def write_moments_in_time(ctx: SampleContext) -> None:
    """<split>.csv (video_path, label); a "+" label is spaced out, a "child+..." one dropped."""
    base = manual(ctx, "moments-in-time")
    for split, n in (("train", N_VIDEOS), ("validation", 4)):
        rows = []
        for i, s in videos(ctx, n):
            lab = label(s).replace(" ", "+") if i % 5 == 0 else label(s)
            rel = f"{label(s).replace(' ', '_')}/mit_{split}_{i:05d}.mp4"
            link(ctx, s, f"moments_in_time/Moments_in_Time_Raw/{split}-videos/{rel}")
            rows.append([rel, lab])
        rows.append([rows[0][0], "child+crying"])
        write_csv(base / f"{split}.csv", ["video_path", "label"], rows)
    import_tables(ctx, "moments-in-time")


@sample_writer("kinetics-710")
def write_kinetics(ctx: SampleContext) -> None:
    """The k710 label map and k600 / k700 video lists: k700 folders keep spaces, k600 use underscores."""
    base = manual(ctx, "kinetics-710") / "kinetics710"
    scenes = [s for _, s in videos(ctx, 8)]
    labels = sorted({label(s) for s in scenes})
    atomic.write_text(base / "k710_label_map.txt", "\n".join(labels) + "\n")
    for split, n in (("train", 12), ("val", 2)):
        for name, top in (("k700", "kinetics700"), ("k600", "kinetics600")):
            lines = []
            for i, s in videos(ctx, n):
                vid = f"{name}_{split}_{i:04d}.mp4"
                folder = label(s) if name == "k700" else label(s).replace(" ", "_")
                link(ctx, s, f"kinetics/{top}/{split}/{folder}/{vid}")
                lines.append(f"{folder}/{vid} {labels.index(label(s))}")
            atomic.write_text(base / f"{name}_{split}_list_videos.txt", "\n".join(lines) + "\n")
    import_tables(ctx, "kinetics-710")


@sample_writer("charades-sta")
def write_charades_sta(ctx: SampleContext) -> None:
    lines = []
    for i, s in videos(ctx, 12):
        vid = f"CS{i:03d}"
        link(ctx, s, f"Charades/Charades_v1/{vid}.mp4")
        lines += [f"{vid} {a} {b}##{label(s)}" for a, b in CLIPS]
    lines.append("CS000 3.0 1.0##reversed segment")
    atomic.write_text(manual(ctx, "charades-sta") / "charades_sta_train.txt", "\n".join(lines) + "\n")
    import_tables(ctx, "charades-sta")


def _database(ctx: SampleContext, prefix: str, folder: str, subset_of: dict[str, int], text_key: str,
              ann_key: str, ext: str = ".mp4") -> dict:
    db = {}
    for subset, n in subset_of.items():
        for i, s in videos(ctx, n):
            vid = f"{prefix}{subset[:2]}{i:03d}"
            link(ctx, s, f"{folder}/{vid}{ext if i % 3 else '.mkv'}")
            anns = [{"segment": [a, b], text_key: label(s) if text_key == "label" else caption(s), "id": k}
                    for k, (a, b) in enumerate(CLIPS)]
            anns.append({"segment": [3.0, 3.0], text_key: "empty segment", "id": 9})
            db[vid] = {"subset": subset, "duration": 5.0, ann_key: anns}
    return db


@sample_writer("coin")
def write_coin(ctx: SampleContext) -> None:
    """COIN.json: steps as labelled segments of training / testing videos (.mp4 and .mkv files)."""
    db = _database(ctx, "coin", "coin/videos", {"training": 12, "testing": 2}, "label", "annotation")
    write_json(manual(ctx, "coin") / "COIN.json", {"database": db})
    import_tables(ctx, "coin")


@sample_writer("youcook2")
def write_youcook2(ctx: SampleContext) -> None:
    db = _database(ctx, "yc", "youcook2/videos", {"training": 12, "validation": 2}, "sentence", "annotations")
    for v in db.values():  # the published sentences have no final full stop
        for a in v["annotations"]:
            a["sentence"] = a["sentence"].rstrip(".")
    write_json(manual(ctx, "youcook2") / "youcookii_annotations_trainval.json", {"database": db})
    import_tables(ctx, "youcook2")


@sample_writer("activitynet")
def write_activitynet(ctx: SampleContext) -> None:
    """activity_net.v1-3.min.json (segments, one label repeated) and ActivityNet-QA question / answer files."""
    base = manual(ctx, "activitynet")
    db = {}
    for split, n in (("train", 12), ("val", 2)):
        qs, ans = [], []
        for i, s in videos(ctx, n):
            vid = f"v_an{split}{i:03d}"
            link(ctx, s, f"ActivityNet/all-videos/{vid}.mp4")
            anns = [{"segment": [a, b], "label": label(s)} for a, b in CLIPS]
            db[vid] = {"subset": "training" if split == "train" else "validation", "duration": 5.0,
                       "annotations": anns + anns[:1]}
            for j, f in enumerate(whole_video_facts(s, i)):
                qid = f"{vid}_{j}"
                qs.append({"question_id": qid, "video_name": vid, "question": f.question.rstrip("?")})
                ans.append({"question_id": qid, "answer": f.answer, "type": j})
        write_json(base / f"{split}_q.json", qs)
        write_json(base / f"{split}_a.json", ans)
    write_json(base / "activity_net.v1-3.min.json", {"version": "VERSION 1.3", "database": db})
    import_tables(ctx, "activitynet")


@sample_writer("ego4d")
def write_ego4d(ctx: SampleContext) -> None:
    """The cached clip list: per clip its messages (a label question and a caption) and a corrupt flag."""
    rows = []
    for i, s in videos(ctx):
        clip = f"{i:08d}-0000-0000-0000-000000000000_{10.0 + i:.3f}_{14.5 + i:.3f}_custom_clip.mp4"
        link(ctx, s, f"ego4d-clips/{clip}")
        rows.append({"clip": clip, "corrupt": i == 5, "message_list": [
            {"question": "What does the camera wearer see moving?", "answer": label(s), "style": "ego4d_label"},
            {"text": caption(s), "style": "video_short_caption"}]})
    write_jsonl(manual(ctx, "ego4d") / "ego4d_cached_train_metadata.jsonl", rows)
    import_tables(ctx, "ego4d")


@sample_writer("epic-kitchens")
def write_epic_kitchens(ctx: SampleContext) -> None:
    """EPIC_100_<split>.csv narrations with HH:MM:SS.ff bounds; the clips cut at those bounds."""
    base = manual(ctx, "epic-kitchens") / "epic-kitchens-100-annotations"
    header = ["narration_id", "participant_id", "video_id", "narration_timestamp", "start_timestamp",
              "stop_timestamp", "start_frame", "stop_frame", "narration", "verb", "verb_class", "noun",
              "noun_class", "all_nouns", "all_noun_classes"]
    for split, n in (("train", N_VIDEOS), ("validation", 4)):
        rows = []
        for i, s in videos(ctx, n):
            pid = f"P{1 + i % 3:02d}"
            vid = f"{pid}_{split[0]}{i:02d}"
            start, stop = 61.25 + i, 64.5 + i
            link(ctx, s, f"epic-kitchens-clips/{pid}/videos/{vid}_{start:.3f}_{stop:.3f}.mp4")
            rows.append([f"{vid}_{i}", pid, vid, "00:01:00.00", f"00:01:{start - 60:05.2f}", f"00:01:{stop - 60:05.2f}",
                         3675, 3870, label(s), "move", 1, s.mover.shape, 2, json.dumps([s.mover.shape]), "[2]"])
        write_csv(base / f"EPIC_100_{split}.csv", header, rows)
    import_tables(ctx, "epic-kitchens")


@sample_writer("video-localized-narratives")
def write_vln_qa(ctx: SampleContext) -> None:
    base = manual(ctx, "video-localized-narratives") / "videoqa" / "text_output"
    for split, n in (("train", N_VIDEOS), ("val", 4)):
        anns = []
        for i, s in videos(ctx, n):
            name = f"{split}/oops_{i:04d}"
            link(ctx, s, f"oops/oops_video/{name}.mp4")
            anns.append({"video_name": name, "qa_pairs": [
                {"question_id": f"{name}_{j}", "raw_question": f.question, "raw_answer": f.answer}
                for j, f in enumerate(whole_video_facts(s, i))]})
        write_json(base / f"oops_{split}" / "qa_text_output.json", {"annotations": anns})
    import_tables(ctx, "video-localized-narratives")


@sample_writer("video-localized-narratives-caption")
def write_vln_caption(ctx: SampleContext) -> None:
    """hf_dataset/: a ``datasets`` save_to_disk folder (one Arrow stream) with captions per actor."""
    import pyarrow as pa

    rows = []
    for i, s in videos(ctx):
        rel = f"oops/oops_video/train/vlnc_{i:04d}.mp4"
        link(ctx, s, rel)
        rows.append({"id": f"vlnc_{i}", "video": rel, "captions": [f"It moves from {s.direction}."],
                     "actor_names": [s.mover.label.capitalize()]})
    table = pa.Table.from_pylist(rows)
    folder = manual(ctx, "video-localized-narratives-caption") / "hf_dataset"
    with atomic.atomic_path(folder / "data-00000-of-00001.arrow") as tmp, pa.OSFile(str(tmp), "wb") as sink, \
            pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    write_json(folder / "state.json", {"_data_files": [{"filename": "data-00000-of-00001.arrow"}], "_split": "train"})
    import_tables(ctx, "video-localized-narratives-caption")


@sample_writer("qv-highlights")
def write_qv_highlights(ctx: SampleContext) -> None:
    """highlight_<split>_release.jsonl: the query names the static shape; its window is from its
    appearance to the end; one query with six windows (dropped: at most five are kept)."""
    base = manual(ctx, "qv-highlights")
    for split, n in (("train", N_VIDEOS), ("val", 4)):
        rows = []
        for i, s in videos(ctx, n):
            vid = f"qvh_{split}_{i:04d}_60.0_210.0"
            link(ctx, s, f"QVHighlights/videos/{vid}.mp4")
            a, b = first_static_window(s)
            rows.append({"qid": 100 + i, "query": f"A {s.statics[0].label} is on screen.", "duration": 150, "vid": vid,
                         "relevant_windows": [[a, b]], "relevant_clip_ids": [int(a // 2)], "saliency_scores": [[4, 4, 4]]})
        rows.append({**rows[0], "qid": 99, "relevant_windows": [[k, k + 0.5] for k in range(6)]})
        write_jsonl(base / f"highlight_{split}_release.jsonl", rows)
    import_tables(ctx, "qv-highlights")
