"""Issue #12, property: random annotation values (NaN, inf, negative, huge, empty, None, wrong types,
unicode) fed through EVERY annotation type, the reader's drop-and-count helper, the real formatter
and the real Qwen3 tokenizer. The only outcomes allowed: a valid example whose text holds no ``nan``,
``inf``, ``None``, ``-9223372036854775808`` or negative count, or a typed AnnotationError /
EmptyExampleError that is counted.

Each case draws a valid annotation, then replaces 0-2 of its fields with hostile values, so both
outcomes are exercised (about a third of the cases stay valid and go through the tokenizer)."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from molmo2_data.datasets.base import AnnotationSet
from molmo2_data.errors import EmptyExampleError
from molmo2_data.example import (
    Caption,
    ClockTime,
    Count,
    Messages,
    Metadata,
    MultipleChoice,
    Pointing,
    Track,
    VideoPointing,
)
from molmo2_data.text.tokenize import tokenize_example
from molmo2_data.text.tokenizer import load_tokenizer

BAD_TEXT = re.compile(r"\b(nan|NaN|inf|Infinity|None)\b|-9223372036854775808|total of -\d|There are -\d|^-\d",
                      re.M)
PROFILE = settings(max_examples=150, deadline=None, derandomize=True,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

WORDS = st.text(st.characters(categories=["L", "Nd", "Zs", "P", "So"]), min_size=1, max_size=12).filter(
    lambda s: s.strip() and not re.search(r"nan|inf|none|-\d", s, re.I))  # such words are legit labels
HOSTILE = st.one_of(
    st.none(), st.just(float("nan")), st.just(float("inf")), st.just(-float("inf")), st.just(-5), st.just(-0.5),
    st.just(10**15), st.just(1e300), st.just(99999.0), st.just(""), st.just("   "), st.booleans(), st.just("3"),
    st.just([1, 2]), st.just({"x": 1}), st.just([[float("nan"), 1.0]]), st.just([[1.0, 2.0, 3.0]]),
    st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**6, 10**20), WORDS)
OPTIONAL_TEXT = st.one_of(st.none(), WORDS)


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer("qwen3")


def corrupt(data: st.DataObject, kwargs: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    """Replace 0-2 fields (often none) with hostile values."""
    chosen = data.draw(st.one_of(st.just([]), st.lists(st.sampled_from(fields), min_size=1, max_size=2,
                                                       unique=True)))
    return {**kwargs, **{f: data.draw(HOSTILE, label=f) for f in chosen}}


def check(tok: Any, build: Any, kwargs: dict[str, Any]) -> None:
    """Build one annotation through the drop-and-count helper; a valid one must format and tokenize
    to clean text, an invalid one must be counted and make the example an EmptyExampleError."""
    anns = AnnotationSet()
    anns.add(build, **kwargs)
    meta = Metadata(dataset="property", split="train")
    event("valid" if anns.annotations else "dropped")
    if not anns.annotations:
        assert sum(anns.dropped.values()) == 1 and all(":" in k for k in anns.dropped)
        with pytest.raises(EmptyExampleError):
            anns.example(meta)
        return
    ex = anns.example(meta)
    assert ex.metadata.dropped == {}
    out = tokenize_example(ex, tok, rng=np.random.RandomState(0))
    text = tok.decode(out.ids)
    assert not BAD_TEXT.search(text), text


@st.composite
def scaled_points(draw: Any, n_max: int = 5) -> tuple[tuple[float, float], list[list[float]]]:
    scale = draw(st.one_of(st.just((100.0, 100.0)), st.tuples(st.integers(1, 2000), st.integers(1, 2000))))
    frac = draw(st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), max_size=n_max))
    return (float(scale[0]), float(scale[1])), [[fx * scale[0], fy * scale[1]] for fx, fy in frac]


@PROFILE
@given(data=st.data(), text=WORDS, style=st.sampled_from(["long_caption", "transcript", "video_long_caption"]))
def test_caption(tok, data, text, style):
    check(tok, Caption, corrupt(data, {"text": text, "style": style}, ["text", "style"]))


@PROFILE
@given(data=st.data(), pairs=st.lists(st.tuples(WORDS, WORDS), min_size=1, max_size=3), system=OPTIONAL_TEXT)
def test_messages(tok, data, pairs, system):
    items: list[Any] = [{"role": "system", "content": system}] if system else []
    for q, a in pairs:
        items += [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
    k = data.draw(st.integers(0, len(items) - 1))
    field = data.draw(st.sampled_from(["none", "role", "content", "item", "list"]))
    if field == "role":
        items[k] = {**items[k], "role": data.draw(st.one_of(HOSTILE, st.sampled_from(["user", "assistant"])))}
    elif field == "content":
        items[k] = {**items[k], "content": data.draw(HOSTILE)}
    elif field == "item":
        items[k] = data.draw(HOSTILE)
    check(tok, Messages.from_dicts, {"items": data.draw(HOSTILE) if field == "list" else items})


@PROFILE
@given(data=st.data(), label=WORDS, sp=scaled_points(), count=st.one_of(st.none(), st.integers(0, 500)),
       question=OPTIONAL_TEXT, mode=st.sampled_from(["point", "point_count", "count_then_point", "count"]))
def test_pointing(tok, data, label, sp, count, question, mode):
    scale, points = sp
    kw = {"label": label, "points": points, "scale": scale, "count": count, "question": question, "mode": mode,
          "style": "point_count" if mode == "point_count" else "pointing"}
    check(tok, Pointing, corrupt(data, kw, ["label", "points", "scale", "count", "question", "mode", "style"]))


@PROFILE
@given(data=st.data(), label=WORDS, n_images=st.integers(1, 3), count=st.one_of(st.none(), st.integers(0, 50)),
       mode=st.sampled_from(["point", "point_count", "count"]))
def test_multi_image_pointing(tok, data, label, n_images, count, mode):
    scales = [(100.0, 100.0)] * n_images
    points = data.draw(st.lists(st.tuples(st.floats(0, 100), st.floats(0, 100)), max_size=5))
    index = data.draw(st.lists(st.integers(0, n_images - 1), min_size=len(points), max_size=len(points)))
    style = {"point": "multi_image_pointing", "point_count": "multi_image_point_then_count",
             "count": "multi_image_counting"}[mode]
    kw = {"label": label, "points": [list(p) for p in points], "scale": (100.0, 100.0), "count": count,
          "mode": mode, "style": style, "image_index": index, "image_scales": tuple(scales)}
    check(tok, Pointing, corrupt(data, kw, ["points", "count", "image_index", "image_scales"]))


@PROFILE
@given(data=st.data(), label=WORDS, count=st.integers(0, 10**6), question=OPTIONAL_TEXT,
       style=st.sampled_from(["point_count", "video_count"]))
def test_count(tok, data, label, count, question, style):
    kw = {"label": label, "count": count, "question": question, "style": style}
    check(tok, Count, corrupt(data, kw, ["label", "count", "question"]))


@PROFILE
@given(data=st.data(), label=WORDS, sp=scaled_points(), question=OPTIONAL_TEXT,
       style=st.sampled_from(["video_point", "video_point_count", "video_count"]),
       duration=st.one_of(st.none(), st.floats(0.5, 60)))
def test_video_pointing(tok, data, label, sp, question, style, duration):
    scale, points = sp
    limit = 30.0 if duration is None else duration
    times = sorted(set(data.draw(st.lists(st.floats(0, limit), min_size=1 if points else 0, max_size=4))))
    index = [data.draw(st.integers(0, len(times) - 1)) for _ in points]
    kw = {"label": label, "timestamps": times, "points": points, "frame_index": index, "scale": scale,
          "count": data.draw(st.one_of(st.none(), st.integers(0, 50))), "question": question,
          "mode": style[len("video_"):], "style": style, "duration": duration}
    check(tok, VideoPointing, corrupt(data, kw, ["label", "timestamps", "points", "frame_index", "scale", "count",
                                                 "duration"]))


@PROFILE
@given(data=st.data(), label=WORDS, sp=scaled_points(), fps=st.one_of(st.none(), st.sampled_from([1.0, 2.0, 6.0])),
       style=st.sampled_from(["video_point_track_per_frame", "video_single_point_track_per_frame",
                              "video_point_ground_start_end"]), duration=st.one_of(st.none(), st.floats(1, 20)))
def test_track(tok, data, label, sp, fps, style, duration):
    scale, points = sp
    n_frames = data.draw(st.integers(1, 6))
    step = 1.0 / (fps or 2.0)
    times = [i * step for i in range(n_frames)]
    if duration is not None:
        times = [t for t in times if t <= duration] or [0.0]
    kw = {"label": label, "timestamps": times, "points": points,
          "frame_index": [data.draw(st.integers(0, len(times) - 1)) for _ in points],
          "object_ids": [data.draw(st.integers(0, 3)) for _ in points],
          "occluded": [data.draw(st.booleans()) for _ in points], "scale": scale, "fps": fps, "style": style,
          "duration": duration}
    check(tok, Track, corrupt(data, kw, ["label", "timestamps", "points", "frame_index", "object_ids", "occluded",
                                         "scale", "fps", "duration"]))


@PROFILE
@given(data=st.data(), hour=st.integers(0, 23), minute=st.integers(0, 59), second=st.one_of(st.none(), st.integers(0, 59)),
       question=OPTIONAL_TEXT)
def test_clock_time(tok, data, hour, minute, second, question):
    kw = {"hour": hour, "minute": minute, "second": second, "text": f"{hour}:{minute:02d}", "question": question}
    check(tok, ClockTime, corrupt(data, kw, ["hour", "minute", "second", "text", "time_format", "question"]))


@PROFILE
@given(data=st.data(), question=WORDS, options=st.lists(WORDS, min_size=1, max_size=6), category=OPTIONAL_TEXT)
def test_multiple_choice(tok, data, question, options, category):
    kw = {"question": question, "options": options, "answer_index": data.draw(st.integers(0, len(options) - 1)),
          "category": category}
    check(tok, MultipleChoice, corrupt(data, kw, ["question", "options", "answer_index", "category"]))
