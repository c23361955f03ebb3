"""Example -> token arrays: FORMATS.md §1.1, §3.5, §4.2-4.3, §5.1, §5.2 with the real Qwen3 tokenizer.

Vision layouts are built from the §3.3 / §4.2 token rules (the vision preprocessing produces the same
arrays); the tokenizer is real.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from molmo2_data.errors import ConfigError
from molmo2_data.example import (
    VQA,
    Caption,
    Count,
    Example,
    ImageRef,
    Message,
    Messages,
    Metadata,
    Pointing,
    Subtitle,
    Track,
    VideoRef,
)
from molmo2_data.text.formatter import FormatterConfig
from molmo2_data.text.tokenize import LossWeight, TokenizeConfig, tokenize_example
from molmo2_data.text.tokenizer import load_tokenizer

CATS = [(320, 240), (10.4, 470), (600, 20)]
ONLY_SHOW = {"pointing": ["show me all visible {label}"]}


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer()


def image_layout(tok, hp: int = 23, wp: int = 23) -> np.ndarray:
    """§3.3: global crop + high-res grid (480x640 -> 2x2 tiling, 23x23 pooled tokens)."""
    s = tok.special
    ids = [s.low_res_im_start] + [s.im_patch] * 196 + [s.im_end, s.im_start]
    ids += ([s.im_patch] * wp + [s.im_col]) * hp + [s.im_end]
    return np.asarray(ids, dtype=np.int64)


def video_layout(tok, times) -> np.ndarray:
    """§4.2, SFT config: one <frame_start> ... <frame_end> around all frames."""
    s = tok.special
    ids = [s.frame_start]
    for i, t in enumerate(times):
        ids += tok.encode(("" if i == 0 else " ") + f"{t:.1f} ") + [s.im_patch] * 81
    return np.asarray(ids + [s.frame_end], dtype=np.int64)


def meta(name: str = "test") -> Metadata:
    return Metadata(dataset=name, split="train")


def test_text_only_multi_turn_1_1(tok):
    ex = Example([Messages([Message("user", "What is 2+2?"), Message("assistant", "4"), Message("user", "And 3+3?"),
                            Message("assistant", "6")], style="text_sft")], meta())
    out = tokenize_example(ex, tok)
    assert out.ids.tolist() == [
        151645, 151644, 872, 198, 3838, 374, 220, 17, 10, 17, 30, 151645, 198, 151644, 77091, 198, 19, 151645,
        151645, 198, 151644, 872, 198, 3036, 220, 18, 10, 18, 30, 151645, 198, 151644, 77091, 198, 21, 151645]
    assert tok.decode(out.ids) == (
        "<|im_end|><|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n4<|im_end|><|im_end|>\n"
        "<|im_start|>user\nAnd 3+3?<|im_end|>\n<|im_start|>assistant\n6<|im_end|>")
    assert out.target_ids[out.loss_mask].tolist() == [19, 151645, 21, 151645]
    np.testing.assert_allclose(out.loss_weights[out.loss_mask], 2 / math.sqrt(4), rtol=1e-6)
    assert np.flatnonzero(out.loss_mask).tolist() == [15, 16, 33, 34]
    assert out.input_ids.tolist() == out.ids[:-1].tolist()
    assert out.position_ids.tolist() == list(range(35))
    assert out.subsegment_ids is None and out.n_vision_tokens == 0


def test_image_pointing_layout_3_5(tok):
    ex = Example([Pointing("Cats", CATS, (640, 480))], meta(), images=(ImageRef(path="x.jpg"),))
    cfg = TokenizeConfig(formatter=FormatterConfig(templates=ONLY_SHOW))
    layout = image_layout(tok)
    assert len(layout) == 752
    out = tokenize_example(ex, tok, cfg, vision=layout)
    assert len(out.ids) == 807 and len(out.input_ids) == 806
    assert out.ids[0] == 151645 and out.ids[1] == 151940
    assert out.ids[1:753].tolist() == layout.tolist()
    assert tok.decode(out.ids[753:]) == (
        '<|im_start|>user\nshow me all visible cats<|im_end|>\n<|im_start|>assistant\n<points coords="1 1 016 979 '
        '2 500 500 3 938 042">cats</points><|im_end|>')
    assert int(out.loss_mask.sum()) == 41  # 40 answer tokens + EOS
    np.testing.assert_allclose(out.loss_weights[out.loss_mask], 0.31235, atol=5e-6)  # §5.2: 2/sqrt(41)
    assert not out.loss_mask[:752].any()
    sft = tokenize_example(ex, tok, TokenizeConfig.sft(formatter=cfg.formatter), vision=layout)
    np.testing.assert_allclose(sft.loss_weights[sft.loss_mask], 0.2)  # flat pointing weight in SFT


def _two_annotations(tok):
    return Example([Messages([Message("user", "How many cats?"), Message("assistant", "three")], style="vqa2"),
                    Pointing("cats", [(320, 240)], (640, 480))], meta(), images=(ImageRef(path="x.jpg"),))


def test_message_tree_5_1_and_weights_5_2(tok):
    cfg = TokenizeConfig(formatter=FormatterConfig(templates=ONLY_SHOW))
    seed = next(s for s in range(20) if tokenize_example(_two_annotations(tok), tok, cfg, np.random.RandomState(s),
                                 image_layout(tok)).annotation_order == (1, 0))
    out = tokenize_example(_two_annotations(tok), tok, cfg, np.random.RandomState(seed), image_layout(tok))
    sub, pos = out.subsegment_ids, out.position_ids
    assert (sub[:753] == 10000).all() and pos[:753].tolist() == list(range(753))
    # subsegment 0 = pointing (after the shuffle), 1 = vqa2: 17 input tokens at positions 753-769 (§5.1);
    # the final EOS is only a target
    n0 = len(out.input_ids) - 753 - 17
    assert n0 == 33  # 13 prompt tokens ('show me all visible cats' + scaffolding) + 20 answer tokens
    assert sub[753:753 + n0].tolist() == [0] * n0
    assert pos[753:753 + n0].tolist() == list(range(753, 753 + n0))
    assert sub[753 + n0:].tolist() == [1] * 17
    assert pos[753 + n0:].tolist() == list(range(753, 770))
    assert tok.decode(out.ids[753 + n0:]) == (
        "<|im_start|>user\nvqa2: How many cats?<|im_end|>\n<|im_start|>assistant\nthree<|im_end|>")
    assert tok.decode(out.ids[753:753 + n0]).endswith("</points>")  # no EOS after the first annotation
    # each annotation's last target is EOS
    assert out.target_ids[753 + n0 - 1] == tok.special.eos and out.target_ids[-1] == tok.special.eos
    w = out.loss_weights
    np.testing.assert_allclose(w[753 + n0:][w[753 + n0:] > 0], 2 / math.sqrt(1) / math.sqrt(2), rtol=1e-6)
    assert int((w[753 + n0:] > 0).sum()) == 2  # 'three' + EOS -> 1.41421
    np.testing.assert_allclose(w[:753 + n0][w[:753 + n0] > 0], 0.31623, atol=5e-6)  # 2/sqrt(20)/sqrt(2)
    assert int((w[:753 + n0] > 0).sum()) == 21  # 20 answer tokens + the EOS target


def test_shuffle_is_deterministic_and_uses_rng(tok):
    cfg = TokenizeConfig(formatter=FormatterConfig(templates=ONLY_SHOW))
    orders = set()
    for s in range(8):
        a = tokenize_example(_two_annotations(tok), tok, cfg, np.random.RandomState(s), image_layout(tok))
        b = tokenize_example(_two_annotations(tok), tok, cfg, np.random.RandomState(s), image_layout(tok))
        assert a.ids.tolist() == b.ids.tolist() and a.annotation_order == b.annotation_order
        orders.add(a.annotation_order)
    assert orders == {(0, 1), (1, 0)}
    fixed = TokenizeConfig(formatter=cfg.formatter, shuffle_annotations=False)
    assert tokenize_example(_two_annotations(tok), tok, fixed, np.random.RandomState(3)).annotation_order == (0, 1)


def test_truncation_drops_whole_annotations(tok):
    qa = [Messages([Message("user", f"Question {i}?"), Message("assistant", f"Answer {i}.")], style="vqa2")
          for i in range(3)]
    ex = Example(qa, meta(), images=(ImageRef(path="x.jpg"),))
    cfg = TokenizeConfig(max_sequence_length=753 + 25, shuffle_annotations=False)
    out = tokenize_example(ex, tok, cfg, vision=image_layout(tok))
    # annotation 0 has 20 text tokens; annotation 1's first loss token is at index 16: 753+20+16 >= 778
    assert len(tok.encode("<|im_start|>user\nvqa2: Question 0?<|im_end|>\n<|im_start|>assistant\n")) == 16
    assert len(tok.encode("<|im_start|>user\nvqa2: Question 0?<|im_end|>\n<|im_start|>assistant\nAnswer 0.")) == 20
    assert out.annotation_order == (0,) and out.n_dropped == 2
    assert len(out.ids) == 753 + 20 + 1
    # 'Answer 0.' = 4 loss tokens (EOS not counted in multi-annotation mode), K = 1 kept annotation
    np.testing.assert_allclose(out.loss_weights[out.loss_mask], 2 / math.sqrt(4), rtol=1e-6)
    assert int(out.loss_mask.sum()) == 5
    at = TokenizeConfig(max_sequence_length=753 + 20 + 16, shuffle_annotations=False)
    assert tokenize_example(ex, tok, at, vision=image_layout(tok)).annotation_order == (0,)
    above = TokenizeConfig(max_sequence_length=753 + 20 + 17, shuffle_annotations=False)
    assert tokenize_example(ex, tok, above, vision=image_layout(tok)).annotation_order == (0, 1)
    big = tokenize_example(ex, tok, TokenizeConfig(shuffle_annotations=False), vision=image_layout(tok))
    assert big.annotation_order == (0, 1, 2) and big.n_dropped == 0
    assert sorted(set(big.subsegment_ids.tolist())) == [0, 1, 2, 10000]


def test_video_with_subtitles(tok):
    times = np.array([0.0, 0.5, 1.0])
    layout = video_layout(tok, times)
    assert len(layout) == 259  # §4.2: 1 s video
    video = VideoRef(path="v.mp4", subtitles=(Subtitle(0.2, 0.9, "Hello there"), Subtitle(5.0, 6.0, "far away")))
    ex = Example([Caption("A dog runs.", style="video_short_caption")], meta(), video=video)
    cfg = TokenizeConfig(formatter=FormatterConfig(templates={"video_short_caption": ["Caption this video."]}))
    out = tokenize_example(ex, tok, cfg, vision=layout, frame_times=times)
    assert out.ids[1:260].tolist() == layout.tolist()
    assert tok.decode(out.ids[1:6]) == "<frame_start>0.0 "
    sub_ids = tok.encode("subtitle\n0.2 - 0.9 Hello there\n")
    assert out.ids[260:260 + len(sub_ids)].tolist() == sub_ids
    assert tok.decode(out.ids[260:]) == (
        "subtitle\n0.2 - 0.9 Hello there\n<|im_start|>user\nCaption this video.<|im_end|>\n"
        "<|im_start|>assistant\nA dog runs.<|im_end|>")
    assert out.n_vision_tokens == 259
    given = tokenize_example(ex, tok, cfg, vision=layout, frame_times=times, subtitle_text="subtitle\nHi")
    assert tok.decode(given.ids[260:]).startswith("subtitle\nHi<|im_start|>user\n")


def test_multi_image_labels(tok):
    ex = Example([Messages([Message("user", "Compare."), Message("assistant", "Same.")], style="multi_image_qa")],
                 meta(), images=(ImageRef(path="a.jpg"), ImageRef(path="b.jpg")))
    a, b = image_layout(tok, 14, 14), image_layout(tok, 10, 20)
    out = tokenize_example(ex, tok, vision=[a, b])
    ids = out.ids.tolist()
    assert ids[:4] == [151645, 1906, 220, 16]
    assert ids[4:4 + len(a)] == a.tolist()
    assert ids[4 + len(a):7 + len(a)] == [1906, 220, 17]
    assert tok.decode(out.ids[7 + len(a) + len(b):]).startswith("<|im_start|>user\nmulti_image_qa: Compare.")
    plain = tokenize_example(ex, tok, TokenizeConfig(image_labels=False), vision=[a, b])
    assert plain.ids[1:1 + len(a)].tolist() == a.tolist()


def test_image_markers_are_replaced(tok):
    ex = Example([Messages([Message("user", "Look: <|image|> What is it?"), Message("assistant", "A cat.")])],
                 meta(), images=(ImageRef(path="a.jpg"),))
    layout = image_layout(tok, 2, 2)
    out = tokenize_example(ex, tok, vision=layout)
    ids = out.ids.tolist()
    start = ids.index(tok.special.low_res_im_start)
    assert ids[1] == 151644 and ids[start:start + len(layout)] == layout.tolist()
    assert tok.special.image_prompt not in ids
    assert tok.decode(out.ids[:start]) == "<|im_end|><|im_start|>user\nLook: "
    assert not out.loss_mask[:start + len(layout)].any()
    with pytest.raises(ConfigError):
        tokenize_example(ex, tok, vision=[layout, layout])


def test_weights_overrides(tok):
    # official: a dataset's MessageWeight overwrites the example's own weight (item["weight"] = weighting)
    ex = Example([Messages([Message("user", "Hi"), Message("assistant", "Hello there")])], meta("special"),
                 weight=0.5)
    cfg = TokenizeConfig(dataset_weights={"special": LossWeight(0.1, root_length=False, root_subsegments=False)})
    out = tokenize_example(ex, tok, cfg)
    assert (out.loss_weights[out.loss_mask] == np.float32(0.1)).all()
    # the official SFT caption weight is flat: MessageWeight(weight=0.1, root_length=False, root_subsegments=False)
    ex2 = Example(ex.annotations, meta("vixmo3_top_level_captions_min_3"))
    out2 = tokenize_example(ex2, tok)
    assert (out2.loss_weights[out2.loss_mask] == np.float32(0.1)).all()
    # without an override the example's float weight replaces the default weight: 2/sqrt(n) x 0.5 in float32
    out3 = tokenize_example(Example(ex.annotations, meta("plain"), weight=0.5), tok)
    n = int(out3.loss_mask.sum())
    assert n == 3  # 'Hello there' (2 tokens) + EOS
    want = np.float32(np.float32(2) / np.sqrt(np.float32(3))) * np.float32(0.5)
    assert (out3.loss_weights[out3.loss_mask] == want).all() and f"{want:.9f}" == "0.577350259"


def test_tracking_and_counting_examples(tok):
    times = np.array([0.0, 0.5, 1.0, 1.5])
    track = Track("dog", times, [(100, 50), (110, 55), (120, 60), (20, 300), (25, 310), (30, 320)],
                  [0, 1, 2, 1, 2, 3], [0, 0, 0, 1, 1, 1], [0, 0, 1, 0, 0, 0], (200, 400), fps=2)
    ex = Example([track], meta(), video=VideoRef(path="v.mp4"))
    layout = video_layout(tok, times)
    cfg = TokenizeConfig(formatter=FormatterConfig(track_fps_free_prob=0.0))
    out = tokenize_example(ex, tok, cfg, vision=layout, frame_times=times)
    answer = '<tracks coords="0.0 1 500 125;0.5 1 550 138 2 100 750;1.0 2 125 775;1.5 2 150 800">dog</tracks>'
    assert tok.decode(out.ids[1 + len(layout):]) == (
        f"<|im_start|>user\nTrack dog in 2 FPS.<|im_end|>\n<|im_start|>assistant\n{answer}<|im_end|>")
    n = len(tok.encode(answer)) + 1
    assert int(out.loss_mask.sum()) == n
    assert out.target_ids[out.loss_mask].tolist() == tok.encode(answer) + [tok.special.eos]
    count = Example([Count("cats", 3)], meta(), images=(ImageRef(path="x.jpg"),))
    c = tokenize_example(count, tok, TokenizeConfig(formatter=FormatterConfig(templates={"only_count": [
        "How many {label} are there?"]})), vision=image_layout(tok))
    assert tok.decode(c.ids[753:]) == (
        "<|im_start|>user\nHow many cats are there?<|im_end|>\n<|im_start|>assistant\n3<|im_end|>")
    assert c.target_ids[c.loss_mask].tolist() == [18, tok.special.eos]


def test_official_example_rng():
    from molmo2_data.text.tokenize import official_example_rng

    a, b = official_example_rng(5, 1), official_example_rng(5, 1)
    assert a.randint(0, 1 << 30, size=4).tolist() == b.randint(0, 1 << 30, size=4).tolist()
    ref = np.random.RandomState(np.random.MT19937(np.random.SeedSequence(5, spawn_key=(1,)))).random()
    assert official_example_rng(5, 1).random() == ref
    assert official_example_rng(5, 0).random() != ref


def test_with_vision_stage_layout(tok):
    """§3.5 [ran]: 480x640 pointing -> 807 ids, 725 <im_patch> = token_pooling rows (real vision stage)."""
    vision = pytest.importorskip("molmo2_data.vision.preprocessor")
    inputs = vision.VisionPreprocessor().images([np.zeros((480, 640, 3), np.uint8)], np.random.RandomState(0),
                                                p_high_res=0.0)
    ex = Example([Pointing("Cats", CATS, (640, 480))], meta(), images=(ImageRef(path="x.jpg"),))
    out = tokenize_example(ex, tok, TokenizeConfig(formatter=FormatterConfig(templates=ONLY_SHOW)),
                           vision=inputs.tokens)
    assert len(out.ids) == 807 and len(out.input_ids) == 806
    assert out.ids[1:753].tolist() == image_layout(tok).tolist()
    assert int((out.input_ids == tok.special.im_patch).sum()) == inputs.token_pooling.shape[0] == 725


def test_chat_layout_is_one_multi_turn_conversation(tok):
    """layout="chat": the annotations' turns form one conversation, tokenized exactly like a single
    Messages annotation holding all of them (EOS after every answer, one loss weight, no subsegments)."""
    qa = [("What colour is the sky?", "Blue."), ("And the grass?", "Green."), ("How many suns?", "One.")]
    anns = [Messages([Message("user", q), Message("assistant", a)]) for q, a in qa]
    cfg = TokenizeConfig(shuffle_annotations=False)
    chat = tokenize_example(Example(annotations=anns, metadata=meta(), layout="chat"), tok, cfg,
                            np.random.RandomState(0))
    flat = Messages([m for a in anns for m in a.messages])
    one = tokenize_example(Example(annotations=[flat], metadata=meta()), tok, cfg, np.random.RandomState(0))
    assert chat.ids.tolist() == one.ids.tolist() and chat.subsegment_ids is None
    np.testing.assert_array_equal(chat.loss_weights, one.loss_weights)
    learned = (chat.loss_weights > 0).astype(int)
    assert int(np.sum(np.diff(np.concatenate([[0], learned])) == 1)) == 3  # three answers, each + EOS
    tree = tokenize_example(Example(annotations=anns, metadata=meta()), tok, cfg, np.random.RandomState(0))
    assert set(tree.subsegment_ids.tolist()) == {0, 1, 2, 10000}  # the tree: three branches + shared prefix
    shuffled = {tokenize_example(Example(annotations=anns, metadata=meta(), layout="chat"), tok, TokenizeConfig(),
                                 np.random.RandomState(s)).annotation_order for s in range(10)}
    assert len(shuffled) > 1  # the turn order comes from the example rng
    with pytest.raises(ValueError, match="layout"):
        Example(annotations=anns, metadata=meta(), layout="list")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Inference prompts (issue 15 §5): the official for_inference path
# --------------------------------------------------------------------------------------------

ASSISTANT_START = [151644, 77091, 198]  # '<|im_start|>' 'assistant' '\n' in Qwen3
VQA_ANN = VQA("What is it?", ["A cat.", "A cat.", "A dog."], style="vqa2")


def _answer_start(train) -> int:
    """Index in ``train.ids`` of the first token of the last learned run (the final answer)."""
    learned = np.concatenate([[False], train.loss_weights > 0])  # aligned with ids (weights are per target)
    starts = np.flatnonzero(learned[1:] & ~learned[:-1]) + 1
    return int(starts[-1])


def test_inference_prompt_single_turn_with_image(tok):
    ex = Example([Pointing("Cats", CATS, (640, 480))], meta(), images=(ImageRef(path="x.jpg"),))
    cfg = TokenizeConfig(formatter=FormatterConfig(templates=ONLY_SHOW, training=False))
    train = tokenize_example(ex, tok, cfg, np.random.RandomState(2), image_layout(tok))
    prompt = tokenize_example(ex, tok, cfg, np.random.RandomState(2), image_layout(tok), for_inference=True)
    p = len(prompt)
    assert p == _answer_start(train) and prompt.ids.tolist() == train.ids[:p].tolist()
    assert prompt.ids[-3:].tolist() == ASSISTANT_START and prompt.ids[0] == tok.special.bos
    assert prompt.ids[1:753].tolist() == image_layout(tok).tolist()  # vision right after BOS, as in training
    assert prompt.n_vision_tokens == 752 and prompt.annotation == 0
    assert prompt.answer == '<points coords="1 1 016 979 2 500 500 3 938 042">cats</points>'
    assert tok.decode(train.ids[p:].tolist()) == prompt.answer + "<|im_end|>"
    assert not hasattr(prompt, "loss_weights") and prompt.position_ids.tolist() == list(range(p))
    assert prompt.input_ids is prompt.ids  # the inference input is not shifted


def test_inference_prompt_multi_turn_targets_the_last_answer(tok):
    msgs = Messages([Message("user", "Hi"), Message("assistant", "Hello."), Message("user", "Colour?"),
                     Message("assistant", "Blue.")])
    ex = Example([msgs], meta())
    train = tokenize_example(ex, tok)
    prompt = tokenize_example(ex, tok, for_inference=True)
    p = len(prompt)
    assert p == _answer_start(train) and prompt.ids.tolist() == train.ids[:p].tolist()
    assert tok.decode(prompt.ids.tolist()) == (
        "<|im_end|><|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello.<|im_end|>"
        "<|im_end|>\n<|im_start|>user\nColour?<|im_end|>\n<|im_start|>assistant\n")
    assert prompt.answer == "Blue."


def test_inference_prompt_chat_layout_and_message_tree(tok):
    qa = [("What colour is the sky?", "Blue."), ("And the grass?", "Green."), ("How many suns?", "One.")]
    anns = [Messages([Message("user", q), Message("assistant", a)]) for q, a in qa]
    cfg = TokenizeConfig(shuffle_annotations=False)
    chat = Example(annotations=anns, metadata=meta(), layout="chat")
    train = tokenize_example(chat, tok, cfg, np.random.RandomState(0))
    prompt = tokenize_example(chat, tok, cfg, np.random.RandomState(0), for_inference=True)
    # chat: the whole conversation up to the last user turn; earlier answers are context
    assert prompt.annotation == 2 and prompt.answer == "One."
    assert len(prompt) == _answer_start(train) and prompt.ids.tolist() == train.ids[:len(prompt)].tolist()
    first = tokenize_example(chat, tok, cfg, np.random.RandomState(0), for_inference=True, annotation=0)
    assert first.answer == "Blue." and tok.decode(first.ids.tolist()).endswith(
        "What colour is the sky?<|im_end|>\n<|im_start|>assistant\n")
    # message tree: one annotation alone, as that annotation's own example would be prompted
    tree = Example(annotations=anns, metadata=meta(), images=(ImageRef(path="x.jpg"),))
    second = tokenize_example(tree, tok, cfg, np.random.RandomState(0), image_layout(tok, 2, 2),
                              for_inference=True, annotation=1)
    alone = tokenize_example(Example([anns[1]], meta(), images=(ImageRef(path="x.jpg"),)), tok, cfg,
                             np.random.RandomState(0), image_layout(tok, 2, 2))
    assert second.answer == "Green." and second.ids.tolist() == alone.ids[:len(second)].tolist()
    assert len(second) == _answer_start(alone) and second.ids[-3:].tolist() == ASSISTANT_START
    with pytest.raises(ConfigError, match="out of range"):
        tokenize_example(tree, tok, for_inference=True, annotation=3)
    with pytest.raises(ConfigError, match="for_inference"):
        tokenize_example(tree, tok, annotation=1)


def test_inference_prompt_splices_markers_and_role_format(tok):
    ex = Example([Messages([Message("user", "Look: <|image|> What is it?"), Message("assistant", "A cat.")])],
                 meta(), images=(ImageRef(path="a.jpg"),))
    layout = image_layout(tok, 2, 2)
    train = tokenize_example(ex, tok, vision=layout)
    prompt = tokenize_example(ex, tok, vision=layout, for_inference=True)
    start = prompt.ids.tolist().index(tok.special.low_res_im_start)
    assert prompt.ids[start:start + len(layout)].tolist() == layout.tolist()
    assert tok.special.image_prompt not in prompt.ids.tolist()
    assert prompt.ids.tolist() == train.ids[:len(prompt)].tolist() and len(prompt) == _answer_start(train)
    v1 = TokenizeConfig(formatter=FormatterConfig.molmo_v1(training=False))
    role = tokenize_example(Example([VQA_ANN], meta()), tok, v1, for_inference=True)
    assert tok.decode(role.ids.tolist()) == "<|im_end|> User: vqa2: What is it? Assistant:"
    assert role.ids[-2:].tolist() == [21388, 25] and role.answer == "A cat."
