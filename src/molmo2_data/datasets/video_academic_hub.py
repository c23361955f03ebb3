"""Academic video sets (``VIDEO_ACADEMIC_DATASETS``, MIXTURES.md §3) whose annotation files are on the
Hugging Face Hub: TGIF-QA, TVQA, Paxion, LLaVA-Video-178K (academic subsets), NewsVideoQA, Social-IQ 2,
CinePile, FunQA, Countix, CameraBench and MotionBench captions. ``download`` fetches the named files into
``manual/<name>/`` and imports them; the videos come from the sources (see each declaration).

Facts (files, fields, filters, styles) are those of the official loaders in allenai/molmo2
``olmo/data/academic_video_datasets.py``; where those draw with an unseeded ``random`` at load time, the
draw here is fixed per record (:func:`~.video_academic.fixed_draw`) or is the example's rng.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path
from typing import Any

import numpy as np

from molmo2_data.datasets.video_academic import (
    Records,
    answer_index_of,
    csv_records,
    fixed_draw,
    insert_answer,
    json_mapping,
    json_records,
    jsonl_records,
    message,
    options_of,
    parquet_split_rows,
    require_file,
    video_set,
)
from molmo2_data.errors import SchemaError

MC, SA = "video_multiple_choice", "video_short_answer"


# ---------------------------------------------------------------------------------------------
# TGIF-QA (allenai/Molmo2-TGIF): <Split>_<subset>_question.csv, tab separated
# ---------------------------------------------------------------------------------------------


def parse_tgif(folder: Path, split: str) -> list[dict[str, Any]]:
    out = []
    for subset in ("action", "count", "transition", "frameqa"):
        recs = csv_records(folder / f"{split.capitalize()}_{subset}_question.csv", delimiter="\t")
        for i, r in recs:
            video = f"TGIF/videos/{recs.get(i, r, 'gif_name')}.mp4"
            q = recs.get(i, r, "question")
            if subset in ("action", "transition"):
                options = options_of(recs, i, r, [f"a{k}" for k in range(1, 6)])
                k = answer_index_of(recs, i, r, "answer", len(options))
                if k is None:
                    raise SchemaError(f"{recs.path}: row {i + 2}: answer index out of range")
                out.append(message(video, "mc", MC, question=q, options=options, answer_index=k, source_id=f"{subset}:{i}"))
                out.append(message(video, "qa", SA, question=q, answer=options[k], source_id=f"{subset}:{i}"))
            else:
                out.append(message(video, "qa", SA, question=q, answer=recs.get(i, r, "answer", (str, int)),
                                   source_id=f"{subset}:{i}"))
    return out


video_set("tgif", "tgif", parse_tgif, "TGIF-QA annotations from the Hub (allenai/Molmo2-TGIF); the GIFs from "
          "https://github.com/raingo/TGIF-Release converted to MP4 at media/videos/TGIF/videos/<gif_name>.mp4.",
          splits={"train": "train", "test": "test"}, files={"train": "Train_action_question.csv",
                                                            "test": "Test_action_question.csv"},
          hub="allenai/Molmo2-TGIF", hub_files=("*.csv",), aliases=("tgif-qa",))


# ---------------------------------------------------------------------------------------------
# TVQA (allenai/Molmo2-TVQA): tvqa_<split>.jsonl + subtitles; 3 fps frame clips built by the official code
# ---------------------------------------------------------------------------------------------

TVQA_SHOW_DIRS = {"Grey's Anatomy": "grey_frames", "How I Met You Mother": "met_frames",
                  "The Big Bang Theory": "bbt_frames", "House M.D.": "house_frames", "Castle": "castle_frames",
                  "Friends": "friends_frames"}
TVQA_CORRUPT = {"grey_s03e15_seg02_clip_05/video_00001_00051.mp4", "castle_s08e08_seg02_clip_14/video_00001_00019.mp4"}


def tvqa_clip(show_dir: str, vid_name: str, start: float, end: float, fps: int = 3) -> str:
    """The clip the official loader builds from the 3 fps frames: ``video_<first>_<last>.mp4`` in the
    episode's frame folder (first frame int(start*3)+1, last int(end*3))."""
    return f"TVQA/video-frames/frames_hq/{show_dir}/{vid_name}/video_{int(start * fps) + 1:05d}_{int(end * fps):05d}.mp4"


def parse_tvqa(folder: Path, split: str, with_subtitle: bool = True) -> list[dict[str, Any]]:
    recs = jsonl_records(folder / f"tvqa_{split}.jsonl")
    subs: dict[str, tuple[np.ndarray, np.ndarray, list[str]]] = {}
    if with_subtitle and (folder / "tvqa_preprocessed_subtitles.jsonl").exists():
        srecs = jsonl_records(folder / "tvqa_preprocessed_subtitles.jsonl")
        subs = {srecs.get(i, r, "vid_name"): _subtitle_arrays(r.get("sub") or []) for i, r in srecs}
    missing = set()
    if (folder / "missing_clips.txt").exists():
        missing = {x.strip() for x in (folder / "missing_clips.txt").read_text().splitlines() if x.strip()}
    out = []
    clip_cache: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for i, r in recs:
        ts = recs.get(i, r, "ts")
        try:
            start, end = (float(t) for t in ts.split("-"))
        except ValueError:
            continue  # "nan-nan": no clip bounds (the official loader skips these rows)
        if not (np.isfinite(start) and np.isfinite(end)):
            continue
        show, vid = recs.get(i, r, "show_name"), recs.get(i, r, "vid_name")
        if show not in TVQA_SHOW_DIRS:
            raise SchemaError(f"{recs.path}: line {i + 1}: unknown show_name {show!r}")
        video = tvqa_clip(TVQA_SHOW_DIRS[show], vid, start, end)
        if f"{TVQA_SHOW_DIRS[show]}/{vid}:{ts}" in missing or "/".join(video.split("/")[-2:]) in TVQA_CORRUPT:
            continue
        options = options_of(recs, i, r, [f"a{k}" for k in range(5)])
        k = answer_index_of(recs, i, r, "answer_idx", 5)
        clip_subs = clip_cache.get((vid, ts))  # a clip's questions share its subtitles (~7 per clip)
        if clip_subs is None:  # the lines overlapping the clip, in clip time (as the official loader keeps them)
            clip_subs = []
            if vid in subs:
                s0, s1, texts = subs[vid]
                clip_subs = [{"start": float(s0[j]) - start, "end": float(s1[j]) - start, "text": texts[j]}
                             for j in np.nonzero((s1 > start) & (s0 < end))[0]]
            clip_cache[(vid, ts)] = clip_subs
        style = "video_multiple_choice_w_subtitle" if clip_subs else MC
        out.append(message(video, "mc", style, question=recs.get(i, r, "q"), options=options, answer_index=k,
                           subtitles=clip_subs or None, source_id=r.get("qid", i)))
    return out


def _subtitle_arrays(lines: list[Any]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Starts, ends and texts of a video's subtitle lines (a line without numeric bounds or text is left
    out, as the official loader skips it)."""
    keep = []
    for s in lines:
        try:
            s0, s1 = float(s["start"]), float(s["end"])
        except (KeyError, TypeError, ValueError):
            continue
        if s.get("text"):
            keep.append((s0, s1, str(s["text"])))
    return (np.array([k[0] for k in keep], dtype=np.float64), np.array([k[1] for k in keep], dtype=np.float64),
            [k[2] for k in keep])


video_set("tvqa", ["tvqa_with_sub"], parse_tvqa,
          "TVQA annotations and subtitles from the Hub (allenai/Molmo2-TVQA); the 3 fps frames from "
          "https://nlp.cs.unc.edu/data/jielei/tvqa/tvqa_public_html/download_tvqa.html, each question's clip "
          "encoded as media/videos/TVQA/video-frames/frames_hq/<show>_frames/<vid_name>/video_<first>_<last>.mp4 "
          "(3 fps, frames int(start*3)+1 .. int(end*3)).",
          splits={"train": "train", "validation": "val", "val": "val"},
          files={"train": "tvqa_train.jsonl", "val": "tvqa_val.jsonl"}, hub="allenai/Molmo2-TVQA",
          hub_files=("tvqa_train.jsonl", "tvqa_val.jsonl", "tvqa_preprocessed_subtitles.jsonl", "missing_clips.txt"))


# ---------------------------------------------------------------------------------------------
# Paxion (allenai/Molmo2-Paxion): action antonyms on Something-Something v2 and Ego4D clips
# ---------------------------------------------------------------------------------------------

PAXION_QUESTIONS = ("Which action is shown in the video?", "What is the person doing in this video?",
                    "Pick the description that matches what happens in the video.")
PAXION_NOT_SURE = "Not sure"
PAXION_CORRUPT_VIDEOS = {"703d550a-0a84-4bcf-9b45-e25c864ade70"}


def _paxion_label(text: str) -> str:
    """The official clean-up of Ego4D narrations: a leading ``#X`` tag dropped, first letter capitalised."""
    if text.startswith("#") and len(text) > 1 and not text[1].isspace():
        text = text[2:].lstrip()
    return text[:1].upper() + text[1:] if text and not text[0].isupper() else text


def parse_paxion(folder: Path, split: str) -> list[dict[str, Any]]:
    rng = np.random.RandomState(42)
    out = []
    ssv2 = json_records(folder / "ssv2" / "antonyms" / f"{split}_with_rel_path.json")
    for i, r in ssv2:
        label, anti = ssv2.get(i, r, "label"), ssv2.get(i, r, "label_action_antonym_clip_text")
        options = [label, anti, PAXION_NOT_SURE]
        perm = rng.permutation(3)
        options = [options[j] for j in perm]
        out.append(message(f"sth-sth-v2/videos/{ssv2.get(i, r, 'rel_vid_path')}", "mc", MC,
                           question=PAXION_QUESTIONS[int(rng.randint(len(PAXION_QUESTIONS)))], options=options,
                           answer_index=options.index(label), source_id=f"ssv2:{i}"))
    ego = jsonl_records(folder / "ego4d" / "egoclip_subset_action_antonyms_train_val_test_split" / f"{split}.jsonl")
    for i, r in ego:
        start, end = ego.get(i, r, "clip_start", float), ego.get(i, r, "clip_end", float)
        uid = ego.get(i, r, "video_uid")
        if start >= end or uid in PAXION_CORRUPT_VIDEOS:
            continue
        label = _paxion_label(ego.get(i, r, "clip_text"))
        options = [label, _paxion_label(ego.get(i, r, "action_antonym_clip_text")), PAXION_NOT_SURE]
        perm = rng.permutation(3)
        options = [options[j] for j in perm]
        out.append(message(f"paxion-ego4d-clips/{uid}_{start:.3f}_{end:.3f}.mp4", "mc", MC,
                           question=PAXION_QUESTIONS[int(rng.randint(len(PAXION_QUESTIONS)))], options=options,
                           answer_index=options.index(label), source_id=f"ego4d:{i}"))
    return out


video_set("paxion", "paxion", parse_paxion,
          "Paxion annotations from the Hub (allenai/Molmo2-Paxion); Something-Something v2 videos "
          "(https://developer.qualcomm.com/software/ai-datasets/something-something) at media/videos/sth-sth-v2/videos/, "
          "Ego4D clips cut to the rows' bounds at media/videos/paxion-ego4d-clips/<uid>_<start>_<end>.mp4.",
          splits={"train": "train", "validation": "val", "val": "val"},
          files={"train": "ssv2/antonyms/train_with_rel_path.json", "val": "ssv2/antonyms/val_with_rel_path.json"},
          hub="allenai/Molmo2-Paxion")


# ---------------------------------------------------------------------------------------------
# LLaVA-Video-178K academic subsets (lmms-lab/LLaVA-Video-178K)
# ---------------------------------------------------------------------------------------------

LLAVA_ACADEMIC = {  # config -> answer types it has (the official list: the card's is wrong for activitynet)
    "0_30_s_activitynetqa": ("oe",), "0_30_s_perceptiontest": ("mc",), "0_30_s_nextqa": ("oe", "mc"),
    "30_60_s_activitynetqa": ("oe",), "30_60_s_perceptiontest": ("mc",), "30_60_s_nextqa": ("oe", "mc"),
    "1_2_m_activitynetqa": ("oe",), "1_2_m_nextqa": ("oe", "mc"), "2_3_m_activitynetqa": ("oe",),
    "2_3_m_nextqa": ("oe", "mc"),
}


def parse_llava_video(folder: Path, split: str, answer_type: str) -> list[dict[str, Any]]:
    """The first ``*<oe|mc>*.json`` file of each academic config (as the official loader reads), every
    conversation turn pair a message; rows of one (id, source, video) are one example."""
    style = SA if answer_type == "oe" else MC
    out = []
    for config, kinds in LLAVA_ACADEMIC.items():
        if answer_type not in kinds:
            continue
        files = sorted((folder / config).glob(f"*{answer_type}*.json"))
        if not files:
            raise SchemaError(f"{folder / config}: no *{answer_type}*.json annotation file")
        recs = json_records(files[0])
        for i, r in recs:
            src, vid = recs.get(i, r, "data_source"), recs.get(i, r, "video")
            conv = recs.get(i, r, "conversations", list)
            for t in range(0, len(conv) - 1, 2):
                q, a = conv[t].get("value"), conv[t + 1].get("value")
                if not isinstance(q, str) or not isinstance(a, str):
                    raise SchemaError(f"{files[0]}: record {i}: conversation turn {t} has no text value")
                q = q[len("<image>\n"):] if q.startswith("<image>\n") else q
                # multiple choice turns carry their options in the question text, as published
                out.append(message(f"LLaVA-Video-178K/{src}/{vid}", "qa", style, question=q, answer=a.strip(),
                                   source_id=f"{recs.get(i, r, 'id', (str, int))}:{config}"))
    return out


for _kind, _name in (("mc", "llava_video_mc_academic"), ("oe", "llava_video_oe_academic")):
    video_set(f"llava-video-{_kind}-academic", _name,
              functools.partial(parse_llava_video, answer_type=_kind),
              "LLaVA-Video-178K academic subsets from the Hub (lmms-lab/LLaVA-Video-178K: the activitynetqa, "
              "nextqa and perceptiontest configs); the videos are in the same repo's tar.gz files, extracted to "
              "media/videos/LLaVA-Video-178K/<data_source>/<video>.",
              files={"train": "0_30_s_nextqa"}, hub="lmms-lab/LLaVA-Video-178K",
              hub_files=tuple(f"{c}/*{k}*.json" for c, ks in LLAVA_ACADEMIC.items() for k in ks))


NEWS_CORRUPT = {"389x18", "76x16", "254x17", "254x21", "389x15", "254x20", "389x17"}


def parse_news_video_qa(folder: Path, split: str) -> list[dict[str, Any]]:
    recs = json_records(folder / "json_files" / "raw_files" / f"new_{split}.json")
    out = []
    for i, r in recs:
        cid = str(recs.get(i, r, "uni_clipped_id", (str, int)))
        answer = recs.get(i, r, "answer", (str, int, float))
        if cid in NEWS_CORRUPT or not str(answer).strip():  # filter_empty_answers=True (news_video_qa_filtered)
            continue
        out.append(message(f"NewsVideoQA/final_data_feb_16/videos/{split}/{cid}.mp4", "qa", SA,
                           question=recs.get(i, r, "question"), answer=answer, source_id=i))
    return out


video_set("news-video-qa", "news_video_qa_filtered", parse_news_video_qa,
          "NewsVideoQA annotations from the Hub (allenai/Molmo2-NewsVideoQA); the clips from "
          "https://cvit.iiit.ac.in/research/projects/cvit-projects/videoqa at "
          "media/videos/NewsVideoQA/final_data_feb_16/videos/<split>/<uni_clipped_id>.mp4.",
          splits={"train": "train", "validation": "val", "val": "val"},
          files={"train": "json_files/raw_files/new_train.json", "val": "json_files/raw_files/new_val.json"},
          hub="allenai/Molmo2-NewsVideoQA", hub_files=("json_files/raw_files/*.json",))



def parse_social_iq2(folder: Path, split: str) -> list[dict[str, Any]]:
    recs = Records(folder, parquet_split_rows(folder, split))
    out = []
    for i, r in recs:
        options = options_of(recs, i, r, [f"a{k}" for k in range(4)])
        k = answer_index_of(recs, i, r, "answer_idx", 4)
        if k is None:
            continue
        out.append(message(f"social-iq2/video/{recs.get(i, r, 'vid_name')}.mp4", "mc", MC, question=recs.get(i, r, "q"),
                           options=options, answer_index=k, source_id=r.get("qid", i)))
    return out


video_set("social-iq2", "social_iq2", parse_social_iq2,
          "Social-IQ 2.0 questions from the Hub (PediaMedAI/Social-IQ-Video); the videos at "
          "media/videos/social-iq2/video/<vid_name>.mp4 (https://github.com/abwilf/Social-IQ-2.0-Challenge).",
          splits={"train": "train", "validation": "validation"}, files={"train": "data", "validation": "data"},
          hub="PediaMedAI/Social-IQ-Video", hub_files=("data/*.parquet", "*.parquet"))


def parse_cinepile(folder: Path, split: str) -> list[dict[str, Any]]:
    recs = Records(folder, parquet_split_rows(folder, split))
    out = []
    for i, r in recs:
        vid = recs.get(i, r, "video_id")
        sub = (r.get("subtitles") or "").replace("<subtitle> ", "").strip()
        style = "video_multiple_choice_w_subtitle" if sub else MC
        subs = [{"start": 0.0, "end": 0.0, "text": sub}] if sub else None  # one block, no times (as published)
        for j, q in enumerate(recs.get(i, r, "examples", list)):
            options = [str(o) for o in q.get("choices") or []]
            k = q.get("answer_key_position")
            if not isinstance(k, int) or not 0 <= k < len(options):
                raise SchemaError(f"{folder}: row {i}: examples[{j}].answer_key_position out of range")
            out.append(message(f"cinepile/videos/{vid}/{vid}.mp4", "mc", style, question=q.get("question"),
                               options=options, answer_index=k, subtitles=subs, source_id=f"{vid}:{j}"))
    return out


video_set("cinepile", "cinepile_with_sub", parse_cinepile,
          "CinePile questions and subtitles from the Hub (allenai/Molmo2-cinepile); the movie clips (YouTube) at "
          "media/videos/cinepile/videos/<video_id>/<video_id>.mp4.",
          splits={"train": "train", "test": "test"}, files={"train": "data", "test": "data"},
          hub="allenai/Molmo2-cinepile", hub_files=("data/*.parquet", "*.parquet"))


FUNQA_TIMESTAMP_TASKS = {"H1", "C1", "M1", "C4", "C5"}
FUNQA_DIRS = {"H": "humor", "C": "creative", "M": "magic"}


def parse_funqa(folder: Path, split: str) -> list[dict[str, Any]]:
    out = []
    oe = json_records(folder / f"FunQA_{split}.json")
    in_split = {ex.get("visual_input") for _, ex in oe}  # the MC file covers every split: keep this split's videos
    for i, ex in oe:
        task = oe.get(i, ex, "task")
        if task in FUNQA_TIMESTAMP_TASKS:
            continue  # answers are timestamps
        if task[:1] not in FUNQA_DIRS:
            raise SchemaError(f"{oe.path}: record {i}: unknown task {task!r}")
        out.append(message(f"FunQA/{split}/{split}_{FUNQA_DIRS[task[0]]}/{oe.get(i, ex, 'visual_input')}", "qa", SA,
                           question=oe.get(i, ex, "instruction"), answer=oe.get(i, ex, "output"), source_id=f"oe:{i}"))
    mc = json_records(folder / "Funqa_mcqa_v1.json")
    for i, ex in mc:
        vis = mc.get(i, ex, "visual_input")
        if vis[:1] not in FUNQA_DIRS or vis not in in_split:
            continue
        lines = mc.get(i, ex, "instruction").split("\n")
        try:
            options = ast.literal_eval(lines[-1].replace(" The Options are: ", ""))
            gt = int(ex.get("gt"))
        except (ValueError, SyntaxError, TypeError):
            continue
        if not isinstance(options, list) or not 1 <= gt <= len(options):
            continue
        options = [str(o).replace(f"Options {j + 1}: ", "").strip() for j, o in enumerate(options)]
        out.append(message(f"FunQA/{split}/{split}_{FUNQA_DIRS[vis[0]]}/{vis}", "mc", MC,
                           question=lines[-2].replace("The Question is:", "").strip(), options=options,
                           answer_index=gt - 1, source_id=f"mc:{i}"))
    return out


video_set("funqa", "funqa", parse_funqa,
          "FunQA annotations and videos from the Hub (fesvhtr/FunQA: FunQA_<split>.json, Funqa_mcqa_v1.json, "
          "<split>.zip unzipped to media/videos/FunQA/<split>/<split>_<humor|creative|magic>/).",
          splits={"train": "train", "validation": "val", "val": "val"},
          files={"train": "FunQA_train.json", "val": "FunQA_val.json"},
          hub="fesvhtr/FunQA", hub_files=("FunQA_*.json", "Funqa_mcqa_v1.json"))


def parse_countix(folder: Path, split: str) -> list[dict[str, Any]]:
    recs = csv_records(folder / "countix_train_mapped.csv")
    questions = json_mapping(folder / "class_to_question.json")
    out = []
    for i, r in recs:
        cls = recs.get(i, r, "class")
        qs = questions.get(cls)
        if not isinstance(qs, list) or not qs:
            raise SchemaError(f"{folder / 'class_to_question.json'}: no questions for class {cls!r}")
        count = recs.get(i, r, "count", int)
        # the official loader draws one of the class's questions per load; a fixed draw per row here
        q = qs[fixed_draw(f"{cls}:{i}", len(qs))]
        out.append(message(f"kinetics/kinetics700/{recs.get(i, r, 'video_path')}", "qa", SA, question=q,
                           answer=str(count), source_id=i))
    return out


video_set("countix", "countix_oe", parse_countix,
          "Countix annotations from the Hub (allenai/Molmo2-Countix: countix_train_mapped.csv, "
          "class_to_question.json); Kinetics-700 videos at media/videos/kinetics/kinetics700/.",
          files={"train": "countix_train_mapped.csv"}, hub="allenai/Molmo2-Countix",
          hub_files=("countix_train_mapped.csv", "class_to_question.json"))


def parse_camerabench(folder: Path, split: str) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    recs = Records(folder / "camerabench_qa.parquet", pq.read_table(require_file(folder / "camerabench_qa.parquet")).to_pylist())
    out = []
    for i, r in recs:
        video = f"CameraBench/train/{recs.get(i, r, 'video_path')}"
        for j, q in enumerate(recs.get(i, r, "mc_qa_list", list)):
            options, k = insert_answer(q["Answer"], [str(n) for n in q.get("NegativeAnswers") or []], f"{video}:{j}")
            out.append(message(video, "mc", MC, question=q["Question"], options=options, answer_index=k,
                               source_id=f"{i}:{j}"))
    return out



video_set("camerabench", "camerabench_qa", parse_camerabench,
          "CameraBench training QA from the Hub (allenai/Molmo2-CameraBenchTrain: camerabench_qa.parquet); the "
          "videos at media/videos/CameraBench/train/.", files={"train": "camerabench_qa.parquet"},
          hub="allenai/Molmo2-CameraBenchTrain", hub_files=("camerabench_qa.parquet",))


def parse_motionbench(folder: Path, split: str) -> list[dict[str, Any]]:
    recs = jsonl_records(folder / "MotionBenchCaption-train" / "train.jsonl")
    return [message(f"MotionBench/MotionBenchCaption-train/videos/{recs.get(i, r, 'video_path')}", "caption",
                    "video_motion_caption", answer=recs.get(i, r, "motion_caption"), source_id=i) for i, r in recs]


video_set("motionbench-caption", ["motionbench_train", "motionbench_caption"], parse_motionbench,
          "MotionBench caption training data from the Hub (zai-org/MotionBench: MotionBenchCaption-train/train.jsonl "
          "and its videos, at media/videos/MotionBench/MotionBenchCaption-train/videos/).",
          files={"train": "MotionBenchCaption-train/train.jsonl"}, hub="zai-org/MotionBench",
          hub_files=("MotionBenchCaption-train/train.jsonl",))


