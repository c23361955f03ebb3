"""Example -> token arrays: ids, loss weights, positions, subsegments (FORMATS.md §1.1, §3.5, §4.3, §5).

Vision token layouts come from the vision preprocessing as int arrays (one per image, or one for the
video) and are passed in. They go right after BOS (the normal training case), or replace
``<|image|>`` / ``<|video|>`` markers if the text holds them (single-annotation examples).

Single annotation (``tokenize_message``): BOS, vision, [subtitles], then each message; EOS after every
assistant message. An example with ``layout="chat"`` is tokenized the same way, its annotations' turns
(shuffled) forming one multi-turn conversation. Several annotations (``tokenize_message_list``): formatted separately, shuffled by
the example rng, BOS + vision shared (subsegment 10000), each annotation restarts its positions, no EOS
after an annotation's last answer but one final EOS, and after the shift each annotation's last target
becomes EOS so every annotation learns to stop.

Inference (``tokenize_example(..., for_inference=True)`` / ``tokenize_prompt``): one conversation's prompt,
ending where the model starts to answer, and its reference answer; see ``InferencePrompt``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, overload

import numpy as np

from molmo2_data.errors import ConfigError
from molmo2_data.example import Example
from molmo2_data.text.formatter import (
    Conversation,
    FormatContext,
    FormatterConfig,
    Turn,
    format_conversation,
    format_subtitles,
    render_turns,
)
from molmo2_data.text.tokenizer import Molmo2Tokenizer

SHARED_SUBSEGMENT = 10000


@dataclass(frozen=True)
class LossWeight:
    """Official ``MessageWeight``: ``weight`` x (2/sqrt(n) if root_length, n = loss tokens of the
    conversation) x (1/sqrt(K) if root_subsegments, K = kept annotations)."""

    weight: float = 1.0
    root_length: bool = True
    root_subsegments: bool = True

    def value(self, n_loss_tokens: int, n_annotations: int, scale: float = 1.0) -> np.float32:
        """The weight, computed as the official tokenizer does, step by step in float32: ``2 / sqrt(n)``
        (n summed in float32, sqrt in float32), times the weight, then divided by ``sqrt(K)`` rounded to
        float32 (numpy casts the Python scalars to the array's float32). Rounding once from float64
        differs by one float32 step for about 30 % of token counts (n = 61: 0.2560737431, not
        0.2560737729). The order is the official one for both paths: a single conversation
        (``tokenize_message``: root length, then weight) and a message tree, where each annotation's
        mask is divided by ``sqrt(K)`` afterwards (``tokenize_message_list``). ``scale``: an extra factor
        folded into the weight before it is rounded to float32 (``tokenize_example`` sets an example's
        own weight as ``weight`` instead, see ``_weights_for``)."""
        w = np.float32(1.0)
        if self.root_length and n_loss_tokens > 0:
            w = w * (np.float32(2.0) / np.sqrt(np.float32(n_loss_tokens)))
        if self.weight * scale != 1.0:
            w = w * np.float32(self.weight * scale)
        if self.root_subsegments:
            w = w / np.float32(math.sqrt(n_annotations))
        return np.float32(w)


FLAT_POINTING_WEIGHT = LossWeight(0.2, root_length=False, root_subsegments=False)
FLAT_CAPTION_WEIGHT = LossWeight(0.1, root_length=False, root_subsegments=False)
# SFT overrides (launch_scripts/sft.py): tracking, video-pointing and image-pointing sets get a flat 0.2.
# The official table is keyed by dataset; here the same sets are recognised by annotation kind.
SFT_KIND_WEIGHTS: Mapping[str, LossWeight] = {
    "pointing": FLAT_POINTING_WEIGHT, "video_pointing": FLAT_POINTING_WEIGHT, "track": FLAT_POINTING_WEIGHT,
}
# the official caption weight is flat too (no 2/sqrt(n), no 1/sqrt(K))
SFT_DATASET_WEIGHTS: Mapping[str, LossWeight] = {"vixmo3_top_level_captions_min_3": FLAT_CAPTION_WEIGHT}


@dataclass(frozen=True)
class TokenizeConfig:
    formatter: FormatterConfig = field(default_factory=FormatterConfig)
    max_sequence_length: int | None = 16384  # drop rule for annotations k >= 1
    loss_weight: LossWeight = LossWeight()
    dataset_weights: Mapping[str, LossWeight] = field(default_factory=lambda: dict(SFT_DATASET_WEIGHTS))
    kind_weights: Mapping[str, LossWeight] = field(default_factory=dict)  # sft() sets SFT_KIND_WEIGHTS
    image_labels: bool = True  # 'Image k' before each image's tokens when there are several images
    shuffle_annotations: bool = True

    @classmethod
    def sft(cls, **kw: object) -> TokenizeConfig:
        """SFT launch-script weights: flat 0.2 for pointing/tracking annotations."""
        base: dict[str, object] = dict(kind_weights=dict(SFT_KIND_WEIGHTS))
        base.update(kw)
        return cls(**base)  # type: ignore[arg-type]

    @classmethod
    def pretrain(cls, **kw: object) -> TokenizeConfig:
        base: dict[str, object] = dict(formatter=FormatterConfig.pretrain(), max_sequence_length=2536,
                                       dataset_weights={}, kind_weights={})
        base.update(kw)
        return cls(**base)  # type: ignore[arg-type]


@dataclass
class TokenizedExample:
    """Token arrays of one example. ``ids`` is the whole sequence; the per-position arrays are aligned
    with ``input_ids = ids[:-1]`` and ``target_ids`` (``ids[1:]``, with each annotation's last target
    set to EOS). ``loss_weights`` is 0 where no loss is taken."""

    ids: np.ndarray
    input_ids: np.ndarray
    target_ids: np.ndarray
    loss_weights: np.ndarray
    position_ids: np.ndarray
    subsegment_ids: np.ndarray | None
    n_vision_tokens: int
    annotation_order: tuple[int, ...]
    n_dropped: int = 0

    @property
    def loss_mask(self) -> np.ndarray:
        return self.loss_weights > 0

    def __len__(self) -> int:
        return len(self.input_ids)


def official_example_rng(index: int, epoch: int = 0) -> np.random.RandomState:
    """The official per-example rng (FORMATS §7.9): ``RandomState(MT19937(SeedSequence(index,
    spawn_key=(epoch,))))``; the loader seed is not part of it."""
    return np.random.RandomState(np.random.MT19937(np.random.SeedSequence(index, spawn_key=(epoch,))))


def _vision_arrays(vision: np.ndarray | Sequence[np.ndarray] | None) -> list[np.ndarray]:
    if vision is None:
        return []
    if isinstance(vision, np.ndarray):
        return [vision.astype(np.int64).reshape(-1)] if vision.size else []
    return [np.asarray(v, dtype=np.int64).reshape(-1) for v in vision]


def _vision_ids(tok: Molmo2Tokenizer, arrays: list[np.ndarray], labels: bool) -> np.ndarray:
    """Concatenated layouts; with several images each is preceded by the tokens of 'Image k'."""
    if not arrays:
        return np.zeros(0, dtype=np.int64)
    if labels and len(arrays) > 1:
        parts = []
        for k, arr in enumerate(arrays, start=1):
            parts.append(np.asarray(tok.encode_cached(f"Image {k}"), dtype=np.int64))
            parts.append(arr)
        return np.concatenate(parts)
    return np.concatenate(arrays)


def _weights_for(example: Example, cfg: TokenizeConfig) -> list[LossWeight]:
    """Per annotation: the dataset's override, else its kind's override, else the default with the
    example's own weight (``Example.weight``) as its ``weight``. As in the official loader, an override
    replaces the example's weight (the official dataset wrapper overwrites ``item["weight"]``) and the
    example's float weight replaces the default's (``MessageWeight.with_overrides``)."""
    lw = cfg.dataset_weights.get(example.metadata.dataset)
    if lw is not None:
        return [lw] * len(example.annotations)
    default = cfg.loss_weight
    if example.weight is not None:
        default = dataclasses.replace(default, weight=float(example.weight))
    return [cfg.kind_weights.get(a.kind, default) for a in example.annotations]


def _encode_turns(tok: Molmo2Tokenizer, conversations: list[list[Turn]], extra: str
                  ) -> tuple[list[list[list[int]]], list[int]]:
    """Encode every turn of every conversation (each text separately, as the official code does) in
    one batch call."""
    texts = [t.text for conv in conversations for t in conv]
    if extra:
        texts.append(extra)
    encoded = tok.encode_batch(texts)
    out, i = [], 0
    for conv in conversations:
        out.append(encoded[i:i + len(conv)])
        i += len(conv)
    return out, (encoded[-1] if extra else [])


def _conversation_tokens(turns: list[Turn], encoded: list[list[int]], eos: int, eos_after_last: bool
                         ) -> tuple[list[int], list[bool]]:
    ids: list[int] = []
    loss: list[bool] = []
    for j, (turn, tids) in enumerate(zip(turns, encoded, strict=True)):
        ids.extend(tids)
        loss.extend([turn.loss] * len(tids))
        if turn.loss and (eos_after_last or j < len(turns) - 1):
            ids.append(eos)
            loss.append(True)
    return ids, loss


@overload
def tokenize_example(example: Example, tokenizer: Molmo2Tokenizer, config: TokenizeConfig | None = None,
                     rng: np.random.RandomState | None = None,
                     vision: np.ndarray | Sequence[np.ndarray] | None = None,
                     frame_times: np.ndarray | None = None, subtitle_text: str | None = None, *,
                     for_inference: Literal[False] = False, annotation: int | None = None) -> TokenizedExample: ...


@overload
def tokenize_example(example: Example, tokenizer: Molmo2Tokenizer, config: TokenizeConfig | None = None,
                     rng: np.random.RandomState | None = None,
                     vision: np.ndarray | Sequence[np.ndarray] | None = None,
                     frame_times: np.ndarray | None = None, subtitle_text: str | None = None, *,
                     for_inference: Literal[True], annotation: int | None = None) -> InferencePrompt: ...


def tokenize_example(example: Example, tokenizer: Molmo2Tokenizer, config: TokenizeConfig | None = None,
                     rng: np.random.RandomState | None = None,
                     vision: np.ndarray | Sequence[np.ndarray] | None = None,
                     frame_times: np.ndarray | None = None, subtitle_text: str | None = None, *,
                     for_inference: bool = False, annotation: int | None = None
                     ) -> TokenizedExample | InferencePrompt:
    """Format, shuffle, tokenize and lay out one example.

    ``vision``: the vision token layout(s), one int array per image or one for the video (None for
    text-only). ``frame_times``: clip-relative times of the sampled video frames (tracking answers and
    subtitles use them; None = unknown). ``subtitle_text``: a ready subtitle block (e.g. the vision
    stage's ``VideoInputs.subtitle_text``) used instead of formatting ``example.video.subtitles``.
    ``for_inference``: return the prompt of one conversation and its reference answer instead
    (:func:`tokenize_prompt`; ``annotation`` picks the conversation; ``config=None`` then means the
    evaluation formatter).
    """
    if for_inference:
        return tokenize_prompt(example, tokenizer, config, rng, vision, frame_times, subtitle_text, annotation)
    if annotation is not None:
        raise ConfigError("annotation= selects the inference target; it needs for_inference=True")
    cfg = config or TokenizeConfig()
    rng = rng if rng is not None else np.random.RandomState(0)
    video = example.video
    ctx = FormatContext(frame_times=frame_times, clip_start=float(video.clip_start or 0.0) if video else 0.0)
    formatted = [format_conversation(a, cfg.formatter, rng, ctx) for a in example.annotations]
    order = list(range(len(formatted)))
    if len(order) > 1 and cfg.shuffle_annotations:
        rng.shuffle(order)
    chat = example.layout == "chat" and len(order) > 1
    if chat:  # one multi-turn conversation: the annotations' messages one after another, wrapped once
        first = formatted[order[0]]
        merged = Conversation([m for i in order for m in formatted[i].messages], first.style, first.system)
        conversations = [render_turns(merged, cfg.formatter)]
    else:
        conversations = [render_turns(c, cfg.formatter) for c in formatted]
    subtitles = subtitle_text or ""
    if subtitle_text is None and video is not None and video.subtitles:
        subtitles = format_subtitles(video.subtitles, frame_times, cfg.formatter.subtitle_window, ctx.clip_start)
    encoded, subtitle_ids = _encode_turns(tokenizer, conversations if chat else [conversations[i] for i in order],
                                          subtitles)
    arrays = _vision_arrays(vision)
    weights = _weights_for(example, cfg)
    sp = tokenizer.special
    if len(order) == 1 or chat:
        out = _single(conversations[0], encoded[0], arrays, subtitle_ids, tokenizer, cfg, weights[order[0]])
        out.annotation_order = tuple(order)
        return out
    prefix = np.concatenate([[sp.bos], _vision_ids(tokenizer, arrays, cfg.image_labels), subtitle_ids]
                            ).astype(np.int64)
    n_vision = int(sum(len(a) for a in arrays))
    return _multi([conversations[i] for i in order], encoded, order, prefix, n_vision, sp.eos, cfg,
                  [weights[i] for i in order],
                  (sp.image_prompt, sp.video_prompt))


@dataclass
class InferencePrompt:
    """What a model is given at evaluation (the official ``for_inference`` path): the prompt tokens (BOS,
    vision layout(s) spliced exactly as in training, subtitles, the turns up to and including the header
    of the answer turn, where the model starts writing) and the reference text of that answer, for
    scoring. No targets and no loss weights: nothing is learned from a prompt."""

    ids: np.ndarray
    answer: str | None  # None when the conversation already ends with a user turn
    n_vision_tokens: int
    annotation: int  # the annotation whose last answer is the target

    @property
    def input_ids(self) -> np.ndarray:
        """The model input: every prompt token (the official inference input is not shifted)."""
        return self.ids

    @property
    def position_ids(self) -> np.ndarray:
        return np.arange(len(self.ids), dtype=np.int64)

    def __len__(self) -> int:
        return len(self.ids)


def _prompt_conversation(example: Example, cfg: TokenizeConfig, rng: np.random.RandomState, ctx: FormatContext,
                         annotation: int | None) -> tuple[Conversation, str | None, int]:
    """The conversation of the prompt, its target answer and the target annotation.

    Single annotation or message tree: annotation ``annotation`` (default 0) alone, as its own
    conversation (the official code has no inference form for message trees). ``layout="chat"``: the
    annotations 0..``annotation`` (default: the last) in stored order as one conversation, so earlier
    answers are context. Either way the last assistant message is left out: the prompt ends with the
    last user turn, as the official inference prompt does."""
    n = len(example.annotations)
    chat = example.layout == "chat" and n > 1
    a = (n - 1 if chat else 0) if annotation is None else annotation
    if not 0 <= a < n:
        raise ConfigError(f"annotation {a} out of range: the example has {n}")
    convs = [format_conversation(example.annotations[i], cfg.formatter, rng, ctx) for i in (range(a + 1) if chat
                                                                                          else (a,))]
    messages = [m for c in convs for m in c.messages]
    if len(messages) % 2 == 0:  # ends with an answer: the target
        return Conversation(messages[:-1], convs[0].style, convs[0].system), messages[-1], a
    return Conversation(messages, convs[0].style, convs[0].system), None, a


def tokenize_prompt(example: Example, tokenizer: Molmo2Tokenizer, config: TokenizeConfig | None = None,
                    rng: np.random.RandomState | None = None,
                    vision: np.ndarray | Sequence[np.ndarray] | None = None, frame_times: np.ndarray | None = None,
                    subtitle_text: str | None = None, annotation: int | None = None) -> InferencePrompt:
    """Inference mode of :func:`tokenize_example` (``tokenize_example(..., for_inference=True)``).

    The target is the last answer of the chosen conversation (see ``_prompt_conversation``: one
    annotation, default the first; with ``layout="chat"`` the conversation up to ``annotation``, default
    the last). The prompt tokens equal the training tokens of the same conversation up to where that
    answer starts: for qwen3 they end with ``<|im_start|>assistant\n``, for the role format with
    ``Assistant:``. The default configuration formats as the official evaluation does
    (``FormatterConfig(training=False)``: fixed multiple-choice form, first start point, the default
    length hint)."""
    cfg = config or TokenizeConfig(formatter=FormatterConfig(training=False))
    rng = rng if rng is not None else np.random.RandomState(0)
    video = example.video
    ctx = FormatContext(frame_times=frame_times, clip_start=float(video.clip_start or 0.0) if video else 0.0)
    conv, answer, a = _prompt_conversation(example, cfg, rng, ctx, annotation)
    prompt = render_turns(conv, cfg.formatter)
    subtitles = subtitle_text or ""
    if subtitle_text is None and video is not None and video.subtitles:
        subtitles = format_subtitles(video.subtitles, frame_times, cfg.formatter.subtitle_window, ctx.clip_start)
    encoded, subtitle_ids = _encode_turns(tokenizer, [prompt], subtitles)
    out = _single(prompt, encoded[0], _vision_arrays(vision), subtitle_ids, tokenizer, cfg, LossWeight())
    return InferencePrompt(ids=out.ids, answer=answer, n_vision_tokens=out.n_vision_tokens, annotation=a)


def _single(turns: list[Turn], encoded: list[list[int]], arrays: list[np.ndarray], subtitle_ids: list[int],
            tok: Molmo2Tokenizer, cfg: TokenizeConfig, weight: LossWeight) -> TokenizedExample:
    sp = tok.special
    text_ids, text_loss = _conversation_tokens(turns, encoded, sp.eos, eos_after_last=True)
    has_markers = sp.image_prompt in text_ids or sp.video_prompt in text_ids
    if has_markers:
        ids = np.asarray(text_ids, dtype=np.int64)
        markers = np.flatnonzero((ids == sp.image_prompt) | (ids == sp.video_prompt))
        ids, loss = _splice(ids, np.asarray(text_loss, dtype=bool), markers, arrays, tok, cfg)
        head = np.asarray([sp.bos, *subtitle_ids], dtype=np.int64)
    else:
        vis = _vision_ids(tok, arrays, cfg.image_labels)
        head = np.concatenate([[sp.bos], vis, subtitle_ids]).astype(np.int64)
        ids = np.asarray(text_ids, dtype=np.int64)
        loss = np.asarray(text_loss, dtype=bool)
    ids = np.concatenate([head, ids])
    n_loss = int(loss.sum())
    weights = np.zeros(len(ids), dtype=np.float32)
    weights[len(head):][loss] = weight.value(n_loss, 1)
    n = len(ids) - 1
    # per-position arrays are views of ``ids`` / ``weights`` (no copies on the hot path)
    return TokenizedExample(ids=ids, input_ids=ids[:-1], target_ids=ids[1:],
                            loss_weights=weights[1:], position_ids=np.arange(n, dtype=np.int64),
                            subsegment_ids=None, n_vision_tokens=int(sum(len(a) for a in arrays)),
                            annotation_order=(0,))


def _splice(ids: np.ndarray, loss: np.ndarray, markers: np.ndarray, arrays: list[np.ndarray],
            tok: Molmo2Tokenizer, cfg: TokenizeConfig) -> tuple[np.ndarray, np.ndarray]:
    """Replace the k-th ``<|image|>``/``<|video|>`` marker by the k-th layout."""
    if len(markers) != len(arrays):
        raise ConfigError(f"text has {len(markers)} image/video markers but {len(arrays)} vision layouts")
    labelled = cfg.image_labels and len(arrays) > 1
    pieces, lpieces, start = [], [], 0
    for k, (m, arr) in enumerate(zip(markers.tolist(), arrays, strict=True), start=1):
        pieces.append(ids[start:m])
        lpieces.append(loss[start:m])
        block = arr
        if labelled:
            block = np.concatenate([np.asarray(tok.encode_cached(f"Image {k}"), dtype=np.int64), arr])
        pieces.append(block)
        lpieces.append(np.zeros(len(block), dtype=bool))
        start = m + 1
    pieces.append(ids[start:])
    lpieces.append(loss[start:])
    return np.concatenate(pieces), np.concatenate(lpieces)


def _multi(convs: list[list[Turn]], encoded: list[list[list[int]]], order: list[int], prefix: np.ndarray,
           n_vision: int, eos: int, cfg: TokenizeConfig, weights: list[LossWeight],
           marker_ids: tuple[int, int]) -> TokenizedExample:
    P = len(prefix)
    texts: list[list[int]] = []
    losses: list[list[bool]] = []
    used = 0
    for k, (turns, enc) in enumerate(zip(convs, encoded, strict=True)):
        ids_k, loss_k = _conversation_tokens(turns, enc, eos, eos_after_last=False)
        if marker_ids[0] in ids_k or marker_ids[1] in ids_k:
            raise ConfigError("image/video markers are not supported in multi-annotation examples")
        first_loss = loss_k.index(True) if True in loss_k else len(loss_k)
        if k >= 1 and cfg.max_sequence_length is not None and P + used + first_loss >= cfg.max_sequence_length:
            break
        texts.append(ids_k)
        losses.append(loss_k)
        used += len(ids_k)
    K = len(texts)
    lengths = [len(t) for t in texts]
    ids = np.concatenate([prefix, np.fromiter((i for t in texts for i in t), dtype=np.int64, count=used), [eos]])
    loss = np.fromiter((b for lk in losses for b in lk), dtype=bool, count=used)
    ann_w = np.asarray([weights[k].value(sum(lk), K) for k, lk in enumerate(losses)], dtype=np.float32)
    seg = np.repeat(np.arange(K), lengths)
    ends = P + np.cumsum(lengths)
    starts = ends - np.asarray(lengths)
    sub = np.concatenate([np.full(P, SHARED_SUBSEGMENT, dtype=np.int64), seg, [K - 1]])
    pos = np.concatenate([np.arange(P), P + np.arange(used) - np.repeat(starts - P, lengths), [P + lengths[-1]]])
    w_full = np.zeros(len(ids), dtype=np.float32)
    w_full[P:P + used] = np.where(loss, ann_w[seg], 0.0)
    target = ids[1:].copy()
    target_w = w_full[1:]
    target[ends - 1] = eos  # input index end-1 = each annotation's last token: learn to stop
    target_w[ends - 1] = ann_w
    return TokenizedExample(ids=ids, input_ids=ids[:-1], target_ids=target, loss_weights=target_w,
                            position_ids=pos[:-1], subsegment_ids=sub[:-1],
                            n_vision_tokens=n_vision, annotation_order=tuple(order[:K]), n_dropped=len(order) - K)
