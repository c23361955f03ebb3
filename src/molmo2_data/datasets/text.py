"""Readers of the text-only instruction data of the mixtures (allenai/molmo2-tulu4-classified) and of
the identity hardcodes (allenai/molmo2-hardcodes)."""

from __future__ import annotations

import os
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from molmo2_data import paths
from molmo2_data.annotations import check_text
from molmo2_data.datasets.base import AnnotationSet, TableDataset
from molmo2_data.datasets.multi_image import (
    RowFilter,
    chunkwise,
    embedded_image_refs,
    is_image_list,
    is_null,
    list_lengths,
    list_of,
    list_parents,
    nonempty_text,
    per_row_count,
    struct_with,
    to_numpy,
)
from molmo2_data.datasets.registry import register_dataset
from molmo2_data.example import Example, ImageRef, Message, Messages, Metadata, VideoRef
from molmo2_data.paths import VIDEO_EXTENSIONS
from molmo2_data.tables import is_bool, is_integer, is_string, row_dict

# ---------------------------------------------------------------------------------------------
# molmo2-tulu4-classified
# ---------------------------------------------------------------------------------------------

HARDCODE_SOURCES = ("allenai/dino-hardcodes", "allenai/hardcoded-olmo")
PUZZLE_SOURCES = ("allenai/puzzle_data_160k-ngram-filtered",)
REASONING_SOURCES = ("faezeb/verifiable-reasoning-v3-o4-mini-length-filtered-verified",
                     "allenai/verifiable-reasoning-filtered-o4-mini-filtered")

_ROLE_CODES = {"user": 0, "assistant": 1, "system": 2}


def _bool_column(table: pa.Table, name: str) -> np.ndarray:
    """A bool column as numpy; null counts as False."""
    return to_numpy(pc.fill_null(table.column(name), False), bool)


def _isin(table: pa.Table, name: str, values: tuple[str, ...]) -> np.ndarray:
    return to_numpy(pc.fill_null(pc.is_in(table.column(name), pa.array(values, pa.string())), False), bool)


def malformed_turns(messages: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``messages``: (malformed, system message with a newline); see :func:`_turns_chunk`."""
    return chunkwise(messages, _turns_chunk)


def _turns_chunk(messages: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``messages`` list<{role, content}>: (malformed, system with newline).

    Well-formed (the rule of the official ``Tulu4Filtered.format_messages``): an optional leading
    system message followed by a user turn, then user and assistant turns alternating, at least two
    turns after merging the system message into the first user turn. Roles other than user /
    assistant / leading system are malformed. The official loader asserts that the system message has
    no newline; such rows are reported separately. Vectorised over the flattened messages.
    """
    n = len(messages)
    lengths = list_lengths(messages)
    flat = pc.list_flatten(messages)
    parents = list_parents(messages)
    roles = pc.struct_field(flat, "role")
    codes = np.full(len(flat), 3, dtype=np.int64)
    for role, code in _ROLE_CODES.items():
        codes[to_numpy(pc.fill_null(pc.equal(roles, role), False), bool)] = code
    starts = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=starts[1:])
    pos = np.arange(len(flat), dtype=np.int64) - starts[parents]
    first_code = np.full(n, -1, dtype=np.int64)
    first_code[parents[pos == 0]] = codes[pos == 0]
    has_system = first_code == 2
    eff = pos - has_system[parents]  # position after dropping the leading system message
    expected = eff % 2  # user (0) at even positions, assistant (1) at odd ones
    wrong = (eff >= 0) & (codes != expected)
    wrong_per_row = per_row_count(wrong, parents, n)
    n_turns = lengths - has_system
    malformed = (wrong_per_row > 0) | (n_turns < 2) | is_null(messages)
    sys_at = np.flatnonzero((pos == 0) & (codes == 2))  # only leading system messages are scanned
    sys_text = pc.struct_field(flat, "content").take(pa.array(sys_at, type=pa.int64()))
    newline = to_numpy(pc.fill_null(pc.match_substring(sys_text, "\n"), False), bool)
    sys_newline = np.zeros(n, dtype=bool)
    sys_newline[parents[sys_at[newline]]] = True
    return malformed, sys_newline & ~malformed


def merge_system(messages: list[dict[str, str]]) -> list[Message]:
    """Merge a leading system message into the first user turn as ``System: <sys>\\n<user>``."""
    if messages and messages[0]["role"] == "system" and len(messages) > 1:
        sys_msg, first = messages[0], messages[1]
        sys_text = check_text("messages", "content", sys_msg["content"])
        user_text = check_text("messages", "content", first["content"])
        messages = [{"role": "user", "content": f"System: {sys_text}\n{user_text}"}] + messages[2:]
    return [Message(m["role"], m["content"]) for m in messages]


@register_dataset("molmo2-tulu4", aliases=("molmo2-tulu4-classified",))
class Molmo2Tulu4(TableDataset):
    """Tulu-4-derived text instruction data (allenai/molmo2-tulu4-classified), filtered like the
    official ``Tulu4Filtered``: drop rows with ``empty_messages`` or ``has_special_token``, the
    hardcode sources, the puzzle source (``use_puzzles``), the two verifiable-reasoning sources
    (``use_reasoning``), ``category == "code"`` (``use_code``) and ``"non-english"``
    (``use_non_english``), and rows whose ``first_message_qwen3_tokens`` exceeds
    ``max_first_message_tokens`` (4096 for SFT ``tulu4``; 2304 for pre-training ``tulu4_max_2304``;
    None or 0 = no limit).

    A leading system message is merged into the first user turn (``System: ...\\n...``); turns must
    then alternate user/assistant. The official loader only notices malformed rows when ``get``
    fails; here they are skipped and counted when the index is built. One example per row, no media,
    one :class:`Messages` annotation of style ``text_sft``.
    """

    NAME = "molmo2-tulu4"
    HF_PATH = "allenai/molmo2-tulu4-classified"
    SPLITS = {"train": "train"}
    COLUMNS = {"id": is_string, "source": is_string,
               "messages": list_of(struct_with({"role": is_string, "content": is_string})),
               "category": is_string, "first_message_qwen3_tokens": is_integer,
               "empty_messages": is_bool, "has_special_token": is_bool}
    MEDIA = "none"

    def __init__(self, split: str = "train", max_first_message_tokens: int | None = 4096, use_code: bool = False,
                 use_puzzles: bool = False, use_reasoning: bool = False, use_non_english: bool = False,
                 **kw: Any):
        self.max_first_message_tokens = max_first_message_tokens or None
        self.use = {"code": use_code, "puzzles": use_puzzles, "reasoning": use_reasoning,
                    "non_english": use_non_english}
        super().__init__(split, max_first_message_tokens=self.max_first_message_tokens, **self._use_options(), **kw)

    def _use_options(self) -> dict[str, bool]:
        return {f"use_{k}": v for k, v in self.use.items()}

    def build_index(self, table: pa.Table) -> dict[str, np.ndarray]:
        f = RowFilter(table.num_rows, self.skipped)
        f.drop(_bool_column(table, "empty_messages"), "empty messages")
        f.drop(_bool_column(table, "has_special_token"), "special token")
        f.drop(_isin(table, "source", HARDCODE_SOURCES), "hardcode source")
        if not self.use["puzzles"]:
            f.drop(_isin(table, "source", PUZZLE_SOURCES), "puzzle source")
        if not self.use["reasoning"]:
            f.drop(_isin(table, "source", REASONING_SOURCES), "verifiable-reasoning source")
        if not self.use["code"]:
            f.drop(_isin(table, "category", ("code",)), "category code")
        if not self.use["non_english"]:
            f.drop(_isin(table, "category", ("non-english",)), "category non-english")
        if self.max_first_message_tokens:
            tokens = table.column("first_message_qwen3_tokens")
            over = pc.fill_null(pc.greater(tokens, self.max_first_message_tokens), False)
            f.drop(to_numpy(over, bool),
                   f"first message > {self.max_first_message_tokens} tokens")
        malformed, sys_newline = malformed_turns(table.column("messages"))
        f.drop(malformed, "malformed turns")
        f.drop(sys_newline, "system message with a newline")
        return f.index()

    def build_example(self, rows: np.ndarray, group: int, rng: np.random.RandomState) -> Example:
        row = row_dict(self.data, rows[0], ["id", "source", "messages", "category"])
        meta = Metadata(dataset=self.NAME, split=self.split, rows=(int(rows[0]),),
                        source_ids={"id": row["id"], "source": row["source"]}, extra={"category": row["category"]})
        anns = AnnotationSet()
        anns.add(lambda m: Messages(merge_system(m), style="text_sft"), row["messages"])
        return anns.example(meta)


# ---------------------------------------------------------------------------------------------
# molmo2-hardcodes
# ---------------------------------------------------------------------------------------------

_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG", b"GIF8", b"RIFF", b"BM")


def looks_like_image(path: str) -> bool:
    """Cheap header check: the official image cache also holds error texts under image names."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(12)
    except OSError:
        return False
    return head.startswith(_IMAGE_MAGIC) and (not head.startswith(b"RIFF") or head[8:12] == b"WEBP")


@register_dataset("molmo2-hardcodes")
class Molmo2HardCodes(TableDataset):
    """Identity answers ("I am Molmo ...", allenai/molmo2-hardcodes: questions list<str>, response
    str, images list<Image>; 15 rows).

    As the official loader: every question becomes one example answered by ``response``; a row
    with its own images gives one example per (question, image). Examples without their own image get
    media drawn with the example rng: one random local PixMo-store image, a video, 2-5 images (drawn
    with replacement) or nothing, with weights ``image 0.25 / video p_video (0.25) / multi-image
    0.15 / none 0.35`` (normalised; order and weights of the official ``Molmo2HardCodes``).
    DATASETS.md lists the same four numbers as image / 2-5 images / video / none. The pools are the
    files of ``media/images`` (files that are not images, e.g. cached download errors, are redrawn)
    and the videos under ``media/videos``; with an empty pool that draw attaches nothing.
    """

    NAME = "molmo2-hardcodes"
    HF_PATH = "allenai/molmo2-hardcodes"
    SPLITS = {"train": "train"}
    COLUMNS = {"questions": list_of(is_string), "response": is_string, "images": is_image_list}
    MEDIA = "embedded_image"
    OPTIONS: ClassVar[tuple[str, ...]] = ("image", "video", "multi-image", "none")
    MAX_REDRAWS = 8

    def __init__(self, split: str = "train", p_video: float = 0.25, **kw: Any):
        probs = np.array([0.25, p_video, 0.15, 0.35], dtype=np.float64)
        self.probs = probs / probs.sum()
        self._image_pool: list[str] | None = None
        self._video_pool: list[str] | None = None
        super().__init__(split, **kw)

    def build_index(self, table: pa.Table) -> dict[str, np.ndarray]:
        n = table.num_rows
        f = RowFilter(n, self.skipped)
        f.drop(~nonempty_text(table.column("response")), "empty response")
        questions = table.column("questions").combine_chunks()  # a few short strings per row
        q_ok = nonempty_text(pc.list_flatten(questions))
        q_parents = list_parents(questions)
        q_pos = np.arange(len(q_ok), dtype=np.int64) - np.repeat(
            np.concatenate([[0], np.cumsum(list_lengths(questions))[:-1]]), list_lengths(questions))
        empty_q = int((~q_ok & f.keep[q_parents]).sum())
        if empty_q:
            self.skipped["empty question"] += empty_q
        f.drop(per_row_count(q_ok, q_parents, n) == 0, "no question")
        n_img = list_lengths(table.column("images"))
        # one example per (question, own image), or per question when the row has no images
        keep_q = q_ok & f.keep[q_parents]
        ex_row = np.repeat(q_parents[keep_q], np.maximum(n_img[q_parents[keep_q]], 1))
        ex_question = np.repeat(q_pos[keep_q], np.maximum(n_img[q_parents[keep_q]], 1))
        per_q = np.maximum(n_img[q_parents[keep_q]], 1)
        within = np.arange(per_q.sum(), dtype=np.int64) - np.repeat(np.cumsum(per_q) - per_q, per_q)
        ex_image = np.where(n_img[ex_row] > 0, within, -1)
        return {"order": ex_row.astype(np.int64), "offsets": np.arange(len(ex_row) + 1, dtype=np.int64),
                "question_index": ex_question.astype(np.int64), "image_index": ex_image.astype(np.int64)}

    # -- media pools (listed once per process, lazily: only examples without own images need them)

    def image_pool(self) -> list[str]:
        if self._image_pool is None:
            d = paths.image_dir(self.root)
            try:
                names = sorted(e.name for e in os.scandir(d) if e.is_file() and ".tmp" not in e.name)
            except FileNotFoundError:
                names = []
            self._image_pool = [str(d / nm) for nm in names]
        return self._image_pool

    def video_pool(self) -> list[str]:
        if self._video_pool is None:
            base = self.root / "media" / "videos"
            found = []
            for dirpath, _dirs, files in os.walk(base):
                found += [os.path.join(dirpath, fn) for fn in files if fn.lower().endswith(VIDEO_EXTENSIONS)]
            self._video_pool = sorted(found)
        return self._video_pool

    def _draw_image(self, rng: np.random.RandomState) -> ImageRef | None:
        pool = self.image_pool()
        if not pool:
            return None
        for _ in range(self.MAX_REDRAWS):
            path = pool[rng.randint(len(pool))]
            if looks_like_image(path):
                return ImageRef(path=path)
        return None

    def random_media(self, rng: np.random.RandomState) -> tuple[tuple[ImageRef, ...], VideoRef | None, str]:
        kind = str(rng.choice(self.OPTIONS, p=self.probs))
        if kind == "image":
            im = self._draw_image(rng)
            return ((im,) if im else ()), None, kind
        if kind == "multi-image":
            n = rng.randint(2, 6)
            ims = [self._draw_image(rng) for _ in range(n)]
            return tuple(im for im in ims if im is not None), None, kind
        if kind == "video":
            pool = self.video_pool()
            return (), (VideoRef(path=pool[rng.randint(len(pool))]) if pool else None), kind
        return (), None, kind

    def build_example(self, rows: np.ndarray, group: int, rng: np.random.RandomState) -> Example:
        row_i = int(rows[0])
        q_i, im_i = int(self.index["question_index"][group]), int(self.index["image_index"][group])
        row = row_dict(self.data, row_i, ["questions", "response"])
        anns = AnnotationSet()
        question = row["questions"][q_i]
        anns.add(Messages.qa, question.strip() if isinstance(question, str) else question, row["response"], "user_qa")
        if im_i >= 0:
            own = row_dict(self.data, row_i, ["images"])["images"]
            images, video, media = embedded_image_refs([own[im_i]]), None, "own image"
        else:
            images, video, media = self.random_media(rng)
        meta = Metadata(dataset=self.NAME, split=self.split, rows=(row_i,),
                        source_ids={"row": row_i, "question_index": q_i}, extra={"media": media})
        return anns.example(meta, images=images, video=video)
