"""Sample copies of the academic video QA sets (:mod:`molmo2_data.datasets.video_academic_qa`): each set's
own annotation files, in its own layout, whose answers are facts of the pool videos they name
(:mod:`.video_academic_pool`), imported into tables as ``download`` does. Each set gets 24 videos (links
of the 8 pool videos under the set's file names), so every set has at least 20 examples; a few rows the
official loaders drop are included (corrupt ids, empty answers, out-of-range indices)."""

from __future__ import annotations

from typing import Any

from molmo2_data.datasets.video_academic_hub import LLAVA_ACADEMIC, TVQA_SHOW_DIRS, tvqa_clip
from molmo2_data.sample import sample_writer
from molmo2_data.sample.context import SampleContext
from molmo2_data.sample.video_academic_pool import (
    CLIPS,
    caption,
    clip_facts,
    count_fact,
    direction_fact,
    import_tables,
    link,
    manual,
    pool,
    whole_video_facts,
    write_csv,
    write_json,
    write_jsonl,
    write_parquet,
)
from molmo2_data.sample.video_sets import Scene

N_VIDEOS = 24


def videos(ctx: SampleContext, n: int = N_VIDEOS) -> list[tuple[int, Scene]]:
    scenes = pool(ctx)
    return [(i, scenes[i % len(scenes)]) for i in range(n)]


@sample_writer("tgif")
def write_tgif(ctx: SampleContext) -> None:
    """<Split>_{action,transition,count,frameqa}_question.csv, tab separated, five options a1..a5."""
    base = manual(ctx, "tgif")
    for split, n in (("Train", N_VIDEOS), ("Test", 4)):
        rows: dict[str, list[list[Any]]] = {"action": [], "transition": [], "count": [], "frameqa": []}
        for i, s in videos(ctx, n):
            gif = f"tumblr_{split.lower()}{i:03d}"
            link(ctx, s, f"TGIF/videos/{gif}.mp4")
            d, c = direction_fact(s, i), count_fact(s, i)
            for subset, fact in (("action", d), ("transition", direction_fact(s, i + 7))):
                opts, k = fact.options(i)
                opts += ["from nowhere"] * (5 - len(opts))
                rows[subset].append([gif, fact.question, *opts, k, i])
            rows["count"].append([gif, c.question, c.answer, i])
            rows["frameqa"].append([gif, whole_video_facts(s)[0].question, s.mover.color, i])
        for subset, r in rows.items():
            header = (["gif_name", "question", "a1", "a2", "a3", "a4", "a5", "answer", "vid_id"]
                      if subset in ("action", "transition") else ["gif_name", "question", "answer", "vid_id"])
            write_csv(base / f"{split}_{subset}_question.csv", header, r, delimiter="\t")
    import_tables(ctx, "tgif")


@sample_writer("tvqa")
def write_tvqa(ctx: SampleContext) -> None:
    """tvqa_<split>.jsonl with subtitles: clip files named by the 3 fps frame range of ``ts``; one row
    with "nan-nan" bounds and one listed in missing_clips.txt (both dropped)."""
    base = manual(ctx, "tvqa")
    shows = list(TVQA_SHOW_DIRS)
    subs, missing = [], []
    for split, n in (("train", N_VIDEOS), ("val", 4)):
        rows = []
        for i, s in videos(ctx, n):
            show = shows[i % len(shows)]
            vid = f"{TVQA_SHOW_DIRS[show].split('_')[0]}_s01e{i:02d}_seg01_clip_{i % 10:02d}_{split}"
            start, end = 2.0 + i, 7.0 + i
            link(ctx, s, tvqa_clip(TVQA_SHOW_DIRS[show], vid, start, end))
            for j, fact in enumerate(whole_video_facts(s, i)):
                opts, k = fact.options(i + j)
                opts += ["none of these"] * (5 - len(opts))
                rows.append({"qid": 1000 * i + j, "q": fact.question, **{f"a{m}": o for m, o in enumerate(opts)},
                             "answer_idx": k, "ts": f"{start}-{end}", "show_name": show, "vid_name": vid})
            if i % 2 == 0:
                subs.append({"vid_name": vid, "sub": [{"start": start + 0.5, "end": start + 1.5,
                                                       "text": f"Look at the {s.mover.label}!"},
                                                      {"start": 0.0, "end": 1.0, "text": "Before the clip."}]})
        rows.append({**rows[0], "qid": 999999, "ts": "nan-nan"})
        rows.append({**rows[0], "qid": 999998, "ts": "90.0-95.0"})
        missing.append(f"{TVQA_SHOW_DIRS[rows[0]['show_name']]}/{rows[0]['vid_name']}:90.0-95.0")
        write_jsonl(base / f"tvqa_{split}.jsonl", rows)
    write_jsonl(base / "tvqa_preprocessed_subtitles.jsonl", subs)
    (base / "missing_clips.txt").write_text("\n".join(missing) + "\n")
    import_tables(ctx, "tvqa")


@sample_writer("paxion")
def write_paxion(ctx: SampleContext) -> None:
    """ssv2 antonyms (label vs. the opposite direction) and Ego4D narrations ("#C" tags) with clip bounds."""
    from molmo2_data.sample.video_academic_pool import antonym, label

    base = manual(ctx, "paxion")
    for split, n in (("train", 16), ("val", 4)):
        ssv2, ego = [], []
        for i, s in videos(ctx, n):
            rel = f"{200000 + i}.webm"
            link(ctx, s, f"sth-sth-v2/videos/{rel}")
            ssv2.append({"rel_vid_path": rel, "label": label(s), "label_action_antonym_clip_text": antonym(s)})
            uid = f"00000000-0000-0000-0000-{split}{i:07d}"
            link(ctx, s, f"paxion-ego4d-clips/{uid}_{1.0:.3f}_{3.5:.3f}.mp4")
            ego.append({"video_uid": uid, "clip_start": 1.0, "clip_end": 3.5, "clip_text": "#C " + label(s),
                        "action_antonym_clip_text": "#C " + antonym(s)})
        ego.append({**ego[0], "clip_start": 4.0, "clip_end": 4.0})  # empty clip: dropped
        write_json(base / "ssv2" / "antonyms" / f"{split}_with_rel_path.json", ssv2)
        write_jsonl(base / "ego4d" / "egoclip_subset_action_antonyms_train_val_test_split" / f"{split}.jsonl", ego)
    import_tables(ctx, "paxion")


def _llava(ctx: SampleContext, kind: str) -> None:
    """One ``*_<kind>_*.json`` per academic config; multiple choice turns list lettered options in the
    question and answer with the letter and the text."""
    name = f"llava-video-{kind}-academic"
    base = manual(ctx, name)
    scenes = pool(ctx)
    n = 0
    for config, kinds in LLAVA_ACADEMIC.items():
        if kind not in kinds:
            continue
        src = config.rsplit("_", 1)[-1]  # activitynetqa, nextqa, perceptiontest
        rows = []
        for j in range(3 if kind == "oe" else 5):
            s = scenes[n % len(scenes)]
            vid = f"{src}/v_{config}_{kind}{j}.mp4"
            link(ctx, s, f"LLaVA-Video-178K/{src}/{vid}")
            conv = []
            for f in whole_video_facts(s, n):
                if kind == "mc":
                    opts, k = f.options(n)
                    q = f.question + "\n" + "\n".join(f"{chr(65 + m)}. {o}" for m, o in enumerate(opts))
                    conv += [{"from": "human", "value": "<image>\n" + q}, {"from": "gpt", "value": f"{chr(65 + k)}. {opts[k]}"}]
                else:
                    conv += [{"from": "human", "value": "<image>\n" + f.question}, {"from": "gpt", "value": " " + f.answer}]
            rows.append({"id": f"{config}_{j}", "data_source": src, "video": vid, "conversations": conv})
            n += 1
        write_json(base / config / f"{config}_{kind}_v0_1.json", rows)
    import_tables(ctx, name)


@sample_writer("llava-video-mc-academic")
def write_llava_mc(ctx: SampleContext) -> None:
    _llava(ctx, "mc")


@sample_writer("llava-video-oe-academic")
def write_llava_oe(ctx: SampleContext) -> None:
    _llava(ctx, "oe")


@sample_writer("perception-test")
def write_perception_test(ctx: SampleContext) -> None:
    doc = {}
    for i, s in videos(ctx):
        vid = f"video_{10000 + i}"
        link(ctx, s, f"perception_test/train_videos/{vid}.mp4")
        qs = []
        for j, f in enumerate(whole_video_facts(s, i)):
            opts, k = f.options(i + j)
            qs.append({"id": j, "question": f.question, "options": opts[:3] if k < 3 else opts, "answer_id": k})
        doc[vid] = {"metadata": {"video_id": vid}, "mc_question": qs}
    write_json(manual(ctx, "perception-test") / "all_train.json", doc)
    import_tables(ctx, "perception-test")


def _mc5(f: Any, slot: int) -> tuple[list[str], int]:
    opts, k = f.options(slot)
    return opts + ["none of the above"] * (5 - len(opts)), k


@sample_writer("nextqa")
def write_nextqa(ctx: SampleContext) -> None:
    base = manual(ctx, "nextqa")
    ids = {}
    for split, n in (("train", N_VIDEOS), ("val", 4)):
        rows = []
        for i, s in videos(ctx, n):
            video = 4000000000 + 100 * i + (split == "val")
            ids[str(video)] = f"10{i:02d}/{video}"
            link(ctx, s, f"NeXTQA/NExTVideo-all-videos/{ids[str(video)]}.mp4")
            for j, f in enumerate(whole_video_facts(s, i)):
                opts, k = _mc5(f, i + j)
                rows.append([video, 50, 160, 128, f.question, k, j, "CW", *opts])
        write_csv(base / f"{split}.csv", ["video", "frame_count", "width", "height", "question", "answer", "qid",
                                          "type", "a0", "a1", "a2", "a3", "a4"], rows)
    write_json(base / "map_vid_vidorID.json", ids)
    import_tables(ctx, "nextqa")


@sample_writer("news-video-qa")
def write_news_video_qa(ctx: SampleContext) -> None:
    """new_<split>.json: short answers; one empty answer and one corrupt clip id (both dropped)."""
    base = manual(ctx, "news-video-qa") / "json_files" / "raw_files"
    for split, n in (("train", N_VIDEOS), ("val", 4)):
        rows = []
        for i, s in videos(ctx, n):
            cid = f"{500 + i}x{i % 7}"
            link(ctx, s, f"NewsVideoQA/final_data_feb_16/videos/{split}/{cid}.mp4")
            rows += [{"uni_clipped_id": cid, "question": f.question, "answer": f.answer} for f in whole_video_facts(s, i)]
        rows += [{**rows[0], "answer": "  "}, {**rows[0], "uni_clipped_id": "389x18"}]
        write_json(base / f"new_{split}.json", rows)
    import_tables(ctx, "news-video-qa")


@sample_writer("how2qa")
def write_how2qa(ctx: SampleContext) -> None:
    """how2QA_<split>_release.csv without header; clips named <vid>_<start>_<end>; one reversed clip."""
    base = manual(ctx, "how2qa")
    for split, n in (("train", N_VIDEOS), ("val", 4)):
        rows = []
        for i, s in videos(ctx, n):
            vid, start, end = f"h2_{split}{i:03d}", 10.25 + i, 40.5 + i
            link(ctx, s, f"how2QA/video-clips/{vid}_{round(start, 2)}_{round(end, 2)}.mp4")
            for f in whole_video_facts(s, i):
                rows.append([vid, f"{start}:{end}", *f.wrong[:3], f.question, f.answer])
        rows.append([rows[0][0], "50.0:20.0", *rows[0][2:]])
        write_csv(base / f"how2QA_{split}_release.csv", None, rows)
    import_tables(ctx, "how2qa")


@sample_writer("sutd-trafficqa")
def write_sutd(ctx: SampleContext) -> None:
    """R2_<split>.jsonl: a header line of column names, then one list per question (an empty option is
    left out of the options, as the official loader does)."""
    base = manual(ctx, "sutd-trafficqa")
    header = ["record_id", "vid_id", "vid_filename", "perspective", "q_body", "q_type", "option0", "option1",
              "option2", "option3", "answer"]
    for split, n in (("train", N_VIDEOS), ("test", 4)):
        rows: list[Any] = [header]
        for i, s in videos(ctx, n):
            fn = f"b_{split}_{i:04d}.mp4"
            link(ctx, s, f"SUTD-TrafficQA/compressed_videos/{fn}")
            for j, f in enumerate(whole_video_facts(s, i)):
                opts, k = f.options(i + j)
                if j == 0:
                    opts = [*opts[:3], ""] if k < 3 else opts
                rows.append([100 * i + j, i, fn, 1, f.question, "U", *(opts + [""] * (4 - len(opts))), k])
        write_jsonl(base / f"R2_{split}.jsonl", rows)
    import_tables(ctx, "sutd-trafficqa")


@sample_writer("social-iq2")
def write_social_iq2(ctx: SampleContext) -> None:
    base = manual(ctx, "social-iq2") / "data"
    for split, n in (("train", N_VIDEOS), ("validation", 4)):
        rows = []
        for i, s in videos(ctx, n):
            vid = f"siq_{split}_{i:03d}"
            link(ctx, s, f"social-iq2/video/{vid}.mp4")
            for j, f in enumerate(whole_video_facts(s, i)):
                opts, k = f.options(i + j)
                rows.append({"vid_name": vid, "qid": f"{vid}_{j}", "q": f.question,
                             **{f"a{m}": o for m, o in enumerate(opts)}, "answer_idx": k})
        write_parquet(base / f"{split}-00000-of-00001.parquet", rows)
    import_tables(ctx, "social-iq2")


@sample_writer("sportsqa")
def write_sportsqa(ctx: SampleContext) -> None:
    base = manual(ctx, "sportsqa") / "meta-data"
    for split, n in (("train", N_VIDEOS), ("val", 4)):
        rows = []
        for i, s in videos(ctx, n):
            vid = f"{('basketball', 'gym', 'football')[i % 3]}/{split}_{i:04d}"
            link(ctx, s, f"SportsQA/{vid}.mp4")
            rows += [{"video": vid, "question": f.question, "answer": f.answer} for f in whole_video_facts(s, i)]
        write_json(base / f"{split}.json", rows)
    import_tables(ctx, "sportsqa")


@sample_writer("cinepile")
def write_cinepile(ctx: SampleContext) -> None:
    """One row per movie clip with its questions in ``examples``; every other clip has subtitles."""
    base = manual(ctx, "cinepile") / "data"
    for split, n in (("train", N_VIDEOS), ("test", 4)):
        rows = []
        for i, s in videos(ctx, n):
            vid = f"cp{split}{i:04d}"
            link(ctx, s, f"cinepile/videos/{vid}/{vid}.mp4")
            ex = []
            for j, f in enumerate(whole_video_facts(s, i)):
                opts, k = f.options(i + j)
                ex.append({"question": f.question, "choices": opts, "answer_key_position": k})
            rows.append({"video_id": vid, "movie_name": f"Movie {i}", "examples": ex,
                         "subtitles": f"<subtitle> Watch the {s.mover.label}." if i % 2 else ""})
        write_parquet(base / f"{split}-00000-of-00001.parquet", rows)
    import_tables(ctx, "cinepile")


@sample_writer("clevrer")
def write_clevrer(ctx: SampleContext) -> None:
    """Descriptive questions with an answer and multiple-choice questions with correct / wrong choices;
    one question with two correct choices (dropped)."""
    base = manual(ctx, "clevrer")
    for split, n, first in (("train", N_VIDEOS, 0), ("validation", 4, 10000)):
        rows = []
        for i, s in videos(ctx, n):
            name = f"video_{first + i:05d}.mp4"
            k = (first + i) // 1000
            link(ctx, s, f"CLEVRER/video_{k * 1000:05d}-{(k + 1) * 1000:05d}/{name}")
            qs: list[dict[str, Any]] = [{"question_id": 0, "question": whole_video_facts(s)[0].question,
                                         "answer": s.mover.color}]
            d = direction_fact(s, i)
            opts, slot = d.options(i)
            qs.append({"question_id": 1, "question": d.question, "choices": [
                {"choice_id": m, "choice": o, "answer": "correct" if m == slot else "wrong"} for m, o in enumerate(opts)]})
            qs.append({"question_id": 2, "question": "Which shapes appear?", "choices": [
                {"choice_id": 0, "choice": "a", "answer": "correct"}, {"choice_id": 1, "choice": "b", "answer": "correct"}]})
            rows.append({"scene_index": first + i, "video_filename": name, "questions": qs})
        write_json(base / f"{split}.json", rows)
    import_tables(ctx, "clevrer")


@sample_writer("funqa")
def write_funqa(ctx: SampleContext) -> None:
    """FunQA_<split>.json open-ended tasks (a timestamp task, dropped) and Funqa_mcqa_v1.json questions
    whose options are a Python list literal in the instruction."""
    base = manual(ctx, "funqa")
    mc = []
    for split, n in (("train", N_VIDEOS), ("val", 4)):
        oe = []
        for i, s in videos(ctx, n):
            kind = "HCM"[i % 3]
            vis = f"{kind}_{split}_{i:03d}.mp4"
            folder = {"H": "humor", "C": "creative", "M": "magic"}[kind]
            link(ctx, s, f"FunQA/{split}/{split}_{folder}/{vis}")
            c = whole_video_facts(s, i)[0]
            oe.append({"task": f"{kind}2", "visual_input": vis, "instruction": c.question, "output": c.answer})
            oe.append({"task": f"{kind}1", "visual_input": vis, "instruction": "When is it funny?", "output": "1-2"})
            d = direction_fact(s, i)
            opts, k = d.options(i)
            mc.append({"visual_input": vis, "gt": str(k + 1), "instruction": "Watch the video.\nThe Question is: "
                       + d.question + "\n The Options are: " + repr([f"Options {m + 1}: {o}" for m, o in enumerate(opts)])})
        write_json(base / f"FunQA_{split}.json", oe)
    write_json(base / "Funqa_mcqa_v1.json", mc)
    import_tables(ctx, "funqa")


@sample_writer("star")
def write_star(ctx: SampleContext) -> None:
    """STAR_<split>.json: questions about a clip of a Charades video (two clips per video)."""
    base = manual(ctx, "star")
    for split, n in (("train", 12), ("val", 2)):
        rows = []
        for i, s in videos(ctx, n):
            vid = f"S{split[0].upper()}{i:03d}"
            link(ctx, s, f"Charades/Charades_v1/{vid}.mp4")
            for c, (start, end) in enumerate(CLIPS):
                for j, f in enumerate(clip_facts(s, i + c)):
                    opts, k = f.options(i + j)
                    rows.append({"question_id": f"{vid}_{c}_{j}", "video_id": vid, "start": start, "end": end,
                                 "question": f.question, "answer": f.answer,
                                 "choices": [{"choice_id": m, "choice": o} for m, o in enumerate(opts)]})
        write_json(base / f"STAR_{split}.json", rows)
    import_tables(ctx, "star")


@sample_writer("intent-qa")
def write_intent_qa(ctx: SampleContext) -> None:
    base = manual(ctx, "intent-qa")
    for split, n in (("train", N_VIDEOS), ("val", 4)):
        rows = []
        for i, s in videos(ctx, n):
            vid = 7000000000 + 100 * i + (split == "val")
            link(ctx, s, f"IntentQA/videos/{vid}.mp4")
            for j, f in enumerate(whole_video_facts(s, i)):
                opts, k = _mc5(f, i + j)
                rows.append([vid, 50, 160, 128, f.question, k, j, "CW", *opts])
        rows.append([*rows[0][:5], 7, *rows[0][6:]])  # answer index out of range: dropped
        write_csv(base / f"{split}.csv", ["video_id", "frame_count", "width", "height", "question", "answer", "qid",
                                          "type", "a0", "a1", "a2", "a3", "a4"], rows)
    import_tables(ctx, "intent-qa")


@sample_writer("road-text-vqa")
def write_road_text_vqa(ctx: SampleContext) -> None:
    base = manual(ctx, "road-text-vqa")
    for split, n in (("train", N_VIDEOS), ("val", 4)):
        data = []
        for i, s in videos(ctx, n):
            video = f"rt_{split}_{i:04d}.mp4"
            link(ctx, s, f"RoadTextVQA/videos/{video}")
            for j, f in enumerate(whole_video_facts(s, i)):
                answers = [f.answer] if j else [f.answer, f.answer, f.wrong[0]]  # annotators disagree
                data.append({"questionId": 100 * i + j, "video": video, "question": f.question, "answer": answers})
        write_json(base / f"{split}.json", {"dataset_name": "RoadTextVQA", "data": data})
    import_tables(ctx, "road-text-vqa")


@sample_writer("countix")
def write_countix(ctx: SampleContext) -> None:
    """countix_train_mapped.csv + class_to_question.json: one class per kind of static shape, its
    question asking how many there are at the end."""
    base = manual(ctx, "countix")
    rows, questions = [], {}
    for i, s in videos(ctx):
        rel = f"train/counting/cx_{i:04d}.mp4"
        link(ctx, s, f"kinetics/kinetics700/{rel}")
        c = count_fact(s)
        cls = f"{s.statics[0].color} {s.statics[0].shape}"
        questions[cls] = [c.question]
        rows.append([rel, cls, int(c.answer), i])
    write_csv(base / "countix_train_mapped.csv", ["video_path", "class", "count", "video_id"], rows)
    write_json(base / "class_to_question.json", questions)
    import_tables(ctx, "countix")


@sample_writer("camerabench")
def write_camerabench(ctx: SampleContext) -> None:
    rows = []
    for i, s in videos(ctx):
        rel = f"cb_{i:04d}.mp4"
        link(ctx, s, f"CameraBench/train/{rel}")
        rows.append({"video_path": rel, "mc_qa_list": [{"Question": f.question, "Answer": f.answer,
                                                        "NegativeAnswers": list(f.wrong)} for f in whole_video_facts(s, i)]})
    write_parquet(manual(ctx, "camerabench") / "camerabench_qa.parquet", rows)
    import_tables(ctx, "camerabench")


@sample_writer("motionbench-caption")
def write_motionbench(ctx: SampleContext) -> None:
    rows = []
    for i, s in videos(ctx):
        rel = f"mb_{i:04d}.mp4"
        link(ctx, s, f"MotionBench/MotionBenchCaption-train/videos/{rel}")
        rows.append({"video_path": rel, "motion_caption": caption(s)})
    write_jsonl(manual(ctx, "motionbench-caption") / "MotionBenchCaption-train" / "train.jsonl", rows)
    import_tables(ctx, "motionbench-caption")
