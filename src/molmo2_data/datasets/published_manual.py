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
}
