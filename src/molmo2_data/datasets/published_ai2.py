"""Published-schema records of the Ai2-mirror academic sets (``allenai/molmo2-*``; see
:mod:`.published`). Their cards are not readable from here: the columns are those the official loaders
read (allenai/molmo2 ``olmo/data/academic_image_datasets.py`` and ``academic_multi_image_datasets.py``),
with the types they imply; the revision is not pinned."""

from __future__ import annotations

from molmo2_data.datasets.schema_record import PublishedSchema

OFFICIAL = "columns the official loader reads (card not readable here; revision not pinned)"
MESSAGE_VQA = "list<item: struct<question: string, answers: list<item: string>, question_id: int64>>"
IMAGES_NOTE = "images are files under the official data home ({}), which this project keeps in media/files"


def _vqa(repo: str, images: str, splits: str) -> PublishedSchema:
    return PublishedSchema(repo, f"{OFFICIAL}; one config per split ({splits}), each with split train",
                           {"image": "string", "message_list": MESSAGE_VQA},
                           optional={"metadata/image_id": "int64"}, notes=IMAGES_NOTE.format(images))


def _mantis(subset: str, splits: str) -> PublishedSchema:
    return PublishedSchema(
        f"allenai/molmo2-mantis-instruct-{subset}", f"{OFFICIAL}; splits {splits}",
        {"subset": "string", "example_id": "string", "images": "list<item: string>",
         "mc_question": "list<item: string>", "oe_question": "list<item: string>",
         "direct_answer": "list<item: string>", "choices": "list<item: list<item: string>>",
         "correct_choice_idx": "list<item: int64>"},
        notes=IMAGES_NOTE.format(f"TIGER-Lab/Mantis-Instruct {subset}/*_images.zip") +
        "; licence: that of the Mantis-Instruct source subset")


PUBLISHED_AI2: dict[str, PublishedSchema] = {
    "vqa-v2": _vqa("allenai/molmo2-vqa2-2014", "COCO 2014; CC BY 4.0 annotations", "train / validation / test"),
    "text-vqa": _vqa("allenai/molmo2-text-vqa", "TextVQA train_val / test zips; CC BY 4.0", "train / validation / test"),
    "tally-qa": _vqa("allenai/molmo2-tally-qa", "COCO 2014 and Visual Genome", "train / test"),
    "ok-vqa": PublishedSchema(
        "allenai/molmo2-okvqa", f"{OFFICIAL}; configs train / val, each with split train",
        {"image": "string", "image_id": "int64",
         "qas": "list<item: struct<question: string, question_id: int64, answers: list<item: struct<raw_answer: "
                "string, answer_confidence: string>>>>"},
        notes=IMAGES_NOTE.format("COCO 2014") + "; the official mixture flattens it to one question per example"),
    "a-okvqa": PublishedSchema(
        "allenai/molmo2-a-ok-vqa", f"{OFFICIAL}; configs train / val / test, each with split train",
        {"image": "string",
         "message_list": "list<item: struct<question: string, question_id: string, choices: list<item: string>, "
                         "answer_idx: int64, direct_answers: list<item: string>, difficult_direct_answer: bool>>"},
        notes=IMAGES_NOTE.format("COCO 2017") + "; Apache-2.0 annotations"),
    "mantis-llava-665k-multi": _mantis("llava_665k_multi", "train"),
    "mantis-nlvr2": _mantis("nlvr2", "train / validation"),
    "mantis-spot-the-diff": _mantis("spot-the-diff", "train"),
}
