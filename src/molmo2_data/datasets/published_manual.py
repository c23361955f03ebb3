"""Published-schema records of the hand-fetched academic sets (see :mod:`.published`): the fields of the
challenge's own files, as the official loaders read them, and the columns our import writes."""

from __future__ import annotations

from molmo2_data.datasets.schema_record import PublishedSchema

PUBLISHED_MANUAL: dict[str, PublishedSchema] = {
    "info-qa": PublishedSchema(
        "rrc.cvc.uab.es/?ch=17 task 3 (by hand)",
        "infographicsVQA_{train,val_withQT,test}_v1.0.json: data[] of questionId, question, answers, "
        "image_local_name (+ image_url, ocr_output_file, ...)",
        {"questionId": "int64", "question": "string", "image_local_name": "string", "image": "string",
         "answers": "list<item: string>"},
        notes="registration and the challenge's terms of use; images/ next to the JSON files; test without answers"),
    "st-qa": PublishedSchema(
        "rrc.cvc.uab.es/?ch=11 task 3 (by hand)",
        "{train,test}_task_3.json: data[] of question_id, question, file_path, answers (+ dataset, file_name)",
        {"question_id": "int64", "question": "string", "file_path": "string", "image": "string",
         "answers": "list<item: string>"},
        notes="registration and terms of use; validation = 1,024 train questions held out as the official "
              "loader does (sorted by id, RandomState(63069) shuffle)"),
    "ai2d": PublishedSchema(
        "official Ai2dDatasetBuilder over ai2d-all.zip (by hand)", "the builder's features",
        {"image": "struct<bytes: binary, path: string>", "question": "string", "image_id": "int32",
         "option_is_abc": "list<item: bool>", "image_name": "string", "question_id": "string", "abc_label": "bool",
         "answer_texts": "list<item: string>", "correct_answer": "int32", "has_transparent_box": "bool"},
        notes="AI2D: CC BY-SA (Allen Institute); letter boxes rendered by the builder"),
    "dv-qa": PublishedSchema(
        "official DvQaBuilder over the DVQA Google-Drive files (by hand)", "the builder's features",
        {"image": "struct<bytes: binary, path: string>", "image_id": "string",
         "questions": "struct<question: list<item: string>, answer: list<item: string>>"},
        notes="licence: see the DVQA release (unknown here)"),
    "figure-qa": PublishedSchema(
        "official FigureQaBuilder over the Microsoft FigureQA tarballs (by hand)", "the builder's features",
        {"image": "struct<bytes: binary, path: string>", "image_index": "int64",
         "questions": "struct<question: list<item: string>, answer: list<item: int32>>"},
        notes="FigureQA licence terms of the Microsoft download"),
    "plot-qa": PublishedSchema(
        "official PlotQaBuilder over the PlotQA Google-Drive files (by hand)", "the builder's features",
        {"image": "struct<bytes: binary, path: string>", "image_index": "int64",
         "questions": "struct<question: list<item: string>, answer: list<item: string>, "
                      "question_id: list<item: int64>>"},
        notes="Image(decode=False) in the builder; PlotQA: CC BY 4.0"),
    "tabmwp": PublishedSchema(
        "official TabMwpBuilder over lupantech/PromptPG (by hand)", "the builder's features",
        {"image": "struct<bytes: binary, path: string>", "question": "string", "answer": "string",
         "choices": "list<item: string>", "table_title": "string", "table": "string", "column_num": "int64",
         "row_num": "int64", "solution": "string", "ques_type": "string", "ans_type": "string", "unit": "string",
         "grade": "int32", "example_id": "int64"},
        notes="TabMWP: CC BY-NC-SA 4.0; splits train / dev / test"),
}
