"""The published schema of every built-in dataset: the columns and Arrow types of its source as the
Hugging Face dataset card gives them (``dataset_info: features``), and the revision the reader was checked
against. One record, shared by the sample writers' tests and ``tests/test_published_schemas.py`` (which
feeds a table of exactly these columns through each reader), shown by ``inspect NAME`` and in
docs/datasets.md. A new built-in dataset must add its entry here (the test fails otherwise).

Types are Arrow type strings (``str(pa.DataType)``); ``optional`` lists columns of other revisions that the
reader also reads."""

from __future__ import annotations

from molmo2_data.datasets.published_ai2 import PUBLISHED_AI2
from molmo2_data.datasets.published_manual import PUBLISHED_MANUAL
from molmo2_data.datasets.schema_record import PublishedSchema

__all__ = ["PUBLISHED", "PublishedSchema", "published_schema"]


PUBLISHED: dict[str, PublishedSchema] = {
    "science-qa-img": PublishedSchema(
        "derek-thomas/ScienceQA", "columns as the lmms-lab/ScienceQA mirror card (7d5be0f) lists them",
        {"image": "struct<bytes: binary, path: string>",
         "question": "string",
         "choices": "list<item: string>",
         "answer": "int8",
         "hint": "string",
         "task": "string",
         "grade": "string",
         "subject": "string",
         "topic": "string",
         "category": "string",
         "skill": "string",
         "lecture": "string",
         "solution": "string"},
        notes="rows without an image are text-only questions and are left out, as the official loader does",
    ),
    "doc-qa": PublishedSchema(
        "lmms-lab/DocVQA", "59fed3c (card, config DocVQA: train / validation / test)",
        {"questionId": "string",
         "question": "string",
         "question_types": "list<item: string>",
         "image": "struct<bytes: binary, path: string>",
         "docId": "int64",
         "ucsf_document_id": "string",
         "ucsf_document_page_no": "string",
         "answers": "list<item: string>",
         "data_split": "string"},
        notes="the official loader reads the DocVQA challenge download (manual); test answers are empty",
    ),
    "chart-qa": PublishedSchema(
        "HuggingFaceM4/ChartQA", "b605b6e (card: splits train / val / test)",
        {"image": "struct<bytes: binary, path: string>",
         "query": "string",
         "label": "list<item: string>",
         "human_or_machine": "int64"},
        notes="human_or_machine is a class label (0 human, 1 machine), stored as int64",
    ),
    "cosyn-400k": PublishedSchema(
        "allenai/CoSyn-400K", "8ec3c56 (card; configs chart, chemical, circuit, diagram, document, graphic, math, "
        "music, nutrition, table; splits train / validation)",
        {"id": "string",
         "image": "struct<bytes: binary, path: string>",
         "qa_pairs": "struct<question: list<item: string>, explanation: list<item: string>, "
                     "answer: list<item: string>>",
         "metadata": "struct<figure_type: string, persona: string, topic: string>",
         "data": "string",
         "code": "string"},
        notes="licence ODC-BY; qa_pairs is a `sequence` of {question, explanation, answer} in the card "
              "(a struct of lists in Arrow); the reader needs id, image and qa_pairs",
    ),
    "mmmu": PublishedSchema(
        "MMMU/MMMU", "features of every subject config as the cards list them (merged copy lmms-lab/MMMU 364f2e2; "
        "revision not pinned)",
        {"id": "string",
         "question": "string",
         "options": "string",
         "explanation": "string",
         **{f"image_{i}": "struct<bytes: binary, path: string>" for i in range(1, 8)},
         "img_type": "string",
         "answer": "string",
         "topic_difficulty": "string",
         "question_type": "string",
         "subfield": "string"},
        notes="30 subject configs; splits dev (150) / validation (900) / test (10,500, answers hidden); "
              "licence Apache-2.0 (as the MMMU org's MMMU_Pro card; not read on this card); `options` is a Python "
              "list literal in a string",
    ),
    "cosyn-point": PublishedSchema(
        "allenai/CoSyn-point", "008ee8a (card)",
        {"id": "string",
         "image": "struct<bytes: binary, path: string>",
         "questions": "list<item: string>",
         "answer_points": "list<item: struct<x: list<item: double>, y: list<item: double>>>"},
        optional={"names": "list<item: string>"},
        notes="no `names` column in the card; labels come from the questions; a table with `names` "
              "(the layout the official loader reads) also reads",
    ),
    "molmo2-askmodelanything": PublishedSchema(
        "allenai/Molmo2-AskModelAnything", "card as summarised in the project spec (revision not pinned)",
        {"video_id": "string",
         "question": "string",
         "answer": "string"},
    ),
    "molmo2-cap": PublishedSchema(
        "allenai/Molmo2-Cap", "card as summarised in the project spec (revision not pinned)",
        {"video_id": "string",
         "video_caption": "string",
         "merged_caption": "string",
         "video_frame_merged_caption": "string",
         "annotation_score": "int64"},
    ),
    "molmo2-capeval": PublishedSchema(
        "allenai/Molmo2-CapEval", "card as summarised in the project spec (revision not pinned)",
        {"video_id": "string",
         "source": "string",
         "video_start": "double",
         "video_end": "double",
         "duration": "double",
         "atomic_statements": "list<item: string>",
         "statement_categories": "list<item: string>",
         "aggregated_caption": "string"},
    ),
    "molmo2-hardcodes": PublishedSchema(
        "allenai/molmo2-hardcodes", "card as summarised in the project spec (revision not pinned)",
        {"questions": "list<item: string>",
         "response": "string",
         "images": "list<item: struct<bytes: binary, path: string>>"},
    ),
    "molmo2-multiimagepoint": PublishedSchema(
        "allenai/Molmo2-MultiImagePoint", "card as summarised in the project spec (revision not pinned)",
        {"image_urls": "list<item: string>",
         "image_sha256s": "list<item: string>",
         "points": "list<item: list<item: struct<x: float, y: float>>>",
         "counts": "list<item: int64>",
         "labels": "list<item: string>",
         "collection_method": "list<item: string>"},
    ),
    "molmo2-multiimageqa": PublishedSchema(
        "allenai/Molmo2-MultiImageQA", "card as summarised in the project spec (revision not pinned)",
        {"image_urls": "list<item: string>",
         "qa_pairs": "struct<question: list<item: string>, answer: list<item: string>>"},
    ),
    "molmo2-synmultiimageqa": PublishedSchema(
        "allenai/Molmo2-SynMultiImageQA", "card as summarised in the project spec (revision not pinned)",
        {"id": "string",
         "images": "list<item: struct<bytes: binary, path: string>>",
         "qa_pairs": "struct<question: list<item: string>, explanation: list<item: string>, answer: list<item: string>>",
         "metadata": "struct<num_images: int64, overall_description: string>"},
    ),
    "molmo2-tulu4": PublishedSchema(
        "allenai/molmo2-tulu4-classified", "card as summarised in the project spec (revision not pinned)",
        {"id": "string",
         "source": "string",
         "messages": "list<item: struct<role: string, content: string>>",
         "category": "string",
         "first_message_qwen3_tokens": "int64",
         "empty_messages": "bool",
         "has_special_token": "bool"},
    ),
    "molmo2-videocapqa": PublishedSchema(
        "allenai/Molmo2-VideoCapQA", "card as summarised in the project spec (revision not pinned)",
        {"video_id": "string",
         "Question": "string",
         "Answer": "string",
         "NegativeAnswers": "list<item: string>",
         "Category": "string"},
    ),
    "molmo2-videocounteval": PublishedSchema(
        "allenai/Molmo2-VideoCountEval", "card as summarised in the project spec (revision not pinned)",
        {"video_id": "string",
         "video_source": "string",
         "clip_start": "double",
         "clip_end": "double",
         "count": "int64",
         "label": "string",
         "category": "string",
         "question": "string",
         "video_duration": "double"},
    ),
    "molmo2-videopoint": PublishedSchema(
        "allenai/Molmo2-VideoPoint", "card as summarised in the project spec (revision not pinned)",
        {"video_id": "string",
         "video_source": "string",
         "label": "string",
         "question": "string",
         "count": "int64",
         "category": "string",
         "two_fps_timestamps": "list<item: double>",
         "points": "list<item: list<item: struct<x: double, y: double>>>",
         "clip_start": "double",
         "clip_end": "double",
         "video_duration": "double",
         "annotator_unsure": "bool",
         "raw_frames": "list<item: int64>",
         "raw_timestamps": "list<item: double>"},
    ),
    "molmo2-videopointeval": PublishedSchema(
        "allenai/Molmo2-VideoPointEval", "card as summarised in the project spec (revision not pinned)",
        {"video_id": "string",
         "video_source": "string",
         "width": "int64",
         "height": "int64",
         "video_duration": "double",
         "two_fps_timestamps": "list<item: double>",
         "points": "list<item: struct<x: double, y: double>>",
         "masks": "list<item: list<item: struct<frame_id: int64, rle: struct<size: list<item: int64>, counts: string>>>>",
         "label": "string"},
    ),
    "molmo2-videosubtitleqa": PublishedSchema(
        "allenai/Molmo2-VideoSubtitleQA", "card as summarised in the project spec (revision not pinned)",
        {"video_id": "string",
         "Question": "string",
         "Answer": "string",
         "NegativeAnswers": "list<item: string>",
         "Category": "string",
         "AlignmentType": "string",
         "subtitle": "list<item: struct<start: double, end: double, text: string>>"},
    ),
    "molmo2-videotrack": PublishedSchema(
        "allenai/Molmo2-VideoTrack", "card as summarised in the project spec (revision not pinned)",
        {"id": "string",
         "video": "string",
         "clip": "string",
         "video_dataset": "string",
         "video_source": "string",
         "exp": "string",
         "obj_id": "list<item: int64>",
         "mask_id": "list<item: string>",
         "points": "list<item: struct<object_id: string, points: list<item: list<item: double>>>>",
         "segments": "list<item: list<item: int64>>",
         "start_frame": "int64",
         "end_frame": "int64",
         "w": "int64",
         "h": "int64",
         "n_frames": "int64",
         "fps": "double"},
        notes="`object_id` keys into `mask_id`; `clip` has no extension (file `<clip>.mp4`); `video_dataset` lower case",
    ),
    "pixmo-ask-model-anything": PublishedSchema(
        "allenai/pixmo-ask-model-anything", "card as summarised in the project spec (revision not pinned)",
        {"image_url": "string",
         "image_sha256": "string",
         "question": "string",
         "answer": "string"},
    ),
    "pixmo-cap": PublishedSchema(
        "allenai/pixmo-cap", "card as summarised in the project spec (revision not pinned)",
        {"image_url": "string",
         "caption": "string",
         "transcripts": "list<item: string>"},
    ),
    "pixmo-cap-qa": PublishedSchema(
        "allenai/pixmo-cap-qa", "card: image_url, question, answer; the Dec-2024 data adds messages",
        {"image_url": "string",
         "question": "string",
         "answer": "string"},
        optional={"messages": "list<item: string>"},
        notes="`source='messages'` reads `messages` when present, else derives the same turns from "
              "question/answer",
    ),
    "pixmo-clocks": PublishedSchema(
        "allenai/pixmo-clocks", "80b094a (card, main); ad2996a (no watchface_name) also reads",
        {"example_id": "string",
         "watchface_id": "string",
         "watchface_name": "string",
         "watch_time": "string",
         "time_format": "string",
         "shows_seconds": "bool",
         "hour_visible": "int32",
         "minute_visible": "int32",
         "second_visible": "int32",
         "text": "string"},
        notes="the first revision (1ee1d94: hour, minute, second) lacks the answer text: "
              "a SchemaError names the revision needed",
    ),
    "pixmo-count": PublishedSchema(
        "allenai/pixmo-count", "card as summarised in the project spec (revision not pinned)",
        {"image_url": "string",
         "image_sha256": "string",
         "count": "int32",
         "points": "struct<x: list<item: float>, y: list<item: float>>",
         "label": "string"},
    ),
    "pixmo-docs": PublishedSchema(
        "allenai/pixmo-docs", "card as summarised in the project spec (revision not pinned)",
        {"image": "struct<bytes: binary, path: string>",
         "image_id": "string",
         "questions": "struct<question: list<item: string>, answer: list<item: string>>"},
    ),
    "pixmo-points": PublishedSchema(
        "allenai/pixmo-points", "card as summarised in the project spec (revision not pinned)",
        {"image_url": "string",
         "image_sha256": "string",
         "points": "list<item: struct<x: double, y: double>>",
         "count": "int64",
         "label": "string",
         "collection_method": "string"},
    ),
    "pixmo-points-eval": PublishedSchema(
        "allenai/pixmo-points-eval", "card as summarised in the project spec (revision not pinned)",
        {"image_url": "string",
         "image_sha256": "string",
         "label": "string",
         "points": "list<item: struct<x: double, y: double>>",
         "masks": "list<item: list<item: list<item: bool>>>"},
    ),
}


# Records kept in one module per source family, so adding a set stays local.
PUBLISHED.update(PUBLISHED_AI2)
PUBLISHED.update(PUBLISHED_MANUAL)


def published_tracking() -> dict[str, PublishedSchema]:
    """The tracking records (built from the reader table, so imported on first use)."""
    from molmo2_data.datasets.published_tracking import _records

    return _records()


PUBLISHED.update(published_tracking())


def published_schema(name: str) -> PublishedSchema | None:
    """The published schema record of a built-in dataset (None for custom datasets)."""
    return PUBLISHED.get(name)
