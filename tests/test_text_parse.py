"""Parser: model output -> structures; parse(render(x)) == x at the format's precision (hypothesis)."""

from __future__ import annotations

import string

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from molmo2_data.example import MultipleChoice, Pointing, Track, VideoPointing
from molmo2_data.text import point_format as pf
from molmo2_data.text.formatter import FormatterConfig, format_annotation, format_input_timestamp
from molmo2_data.text.parse import (
    parse_choice,
    parse_clock,
    parse_count,
    parse_point_tags,
    parse_points,
    parse_timestamp,
    parse_tracks,
    parse_video_points,
)

EVAL = FormatterConfig(training=False)
SETTINGS = settings(max_examples=60, deadline=None, database=None)  # no .hypothesis/ in the repo
coord = st.floats(min_value=0, max_value=1, allow_nan=False)
points_st = st.lists(st.tuples(coord, coord), min_size=1, max_size=12)
size_st = st.tuples(st.integers(8, 4000), st.integers(8, 4000))
label_st = st.text(alphabet=string.ascii_lowercase + " ", min_size=1, max_size=12).map(str.strip).filter(bool)


def _rows(xy: np.ndarray) -> list[tuple[int, int]]:
    return sorted(map(tuple, np.rint(np.asarray(xy)).astype(int).tolist()))


def test_worked_examples_parse():
    text = 'Counting the <points coords="1 1 016 979 2 500 500 3 938 042">cats</points> shows a total of 3.'
    (p,) = parse_point_tags(text)
    assert (p.tag, p.label, p.keys, p.ids.tolist()) == ("points", "cats", [1.0], [1, 2, 3])
    assert p.xy.tolist() == [[16, 979], [500, 500], [938, 42]]
    np.testing.assert_allclose(p.points((640, 480)), [[10.24, 469.92], [320, 240], [600.32, 20.16]])
    assert parse_count(text) == 3
    vp = parse_video_points('<points coords="0.5 1 123 800 2 500 500;2.0 ;63.5 3 1000 000">birds</points>')
    assert vp.timestamps.tolist() == [0.5, 2.0, 63.5] and vp.frame_index.tolist() == [0, 0, 2]
    np.testing.assert_allclose(vp.points, [[12.3, 80], [50, 50], [100, 0]])
    tr = parse_tracks('<tracks coords="0.0 1 100 200 2 500 600\t0.5 2 520 610">person</tracks>')
    assert tr.track_ids.tolist() == [1, 2, 2] and tr.frame_index.tolist() == [0, 0, 1]
    v1 = parse_points('<points x1="1.6" y1="97.9" x2="50.0" y2="50.0" alt="cat">cat</points>', (100, 100))
    assert v1.tolist() == [[1.6, 97.9], [50.0, 50.0]]
    assert parse_points('<point x="50.0" y="25.0" alt="cat">cat</point>', (640, 480)).tolist() == [[320, 120]]


def test_malformed_outputs():
    assert parse_point_tags("") == []
    assert parse_points("no points here").shape == (0, 2)
    truncated = parse_point_tags('<points coords="1 1 016 979 2 500 50')
    assert truncated[0].xy.tolist() == [[16, 979]]  # the cut point is dropped
    junk = parse_point_tags('<points coords="1 1 016 979 x 5 5 2 abc 7;zz 1 2 3">a</points>')
    assert junk[0].xy.tolist() == [[16, 979]] and junk[0].keys == [1.0]
    assert parse_count("There are none.") == 0
    assert parse_count("There are 12 <points coords=\"1 1 1 1\">x</points>.") == 12
    assert parse_count("seven") == 7 and parse_count("I see 4 dogs") == 4 and parse_count("no idea") is None
    assert parse_count('<points coords="1 1 100 100 2 200 200">a</points>') == 2
    assert parse_clock("The time is 8:15:30.") == (8, 15, 30)
    assert parse_clock("It is 12:05") == (12, 5, None)
    assert parse_clock("8:75") is None and parse_clock("nothing") is None
    assert parse_choice("B. sun", ["moon", "sun"]) == 1
    assert parse_choice("(A)", ["moon", "sun"]) == 0
    assert parse_choice("the sun", ["moon", "sun"]) == 1
    assert parse_choice("Z", ["moon", "sun"]) is None
    assert parse_timestamp("00:01:03.5") == 63.5 and parse_timestamp("12.5") == 12.5
    assert parse_timestamp("junk") is None


@given(st.text(max_size=200))
@SETTINGS
def test_parsers_never_raise(text):
    parse_point_tags(text)
    parse_points(text)
    parse_tracks(text)
    parse_count(text)
    parse_clock(text)
    parse_choice(text, ["a", "b"])
    parse_timestamp(text)


@given(points_st, size_st, label_st, st.sampled_from(["html-v2", "html-v1"]),
       st.sampled_from(["point", "point_count", "count_then_point"]))
@SETTINGS
def test_image_points_round_trip(norm, size, label, fmt, mode):
    pts = np.asarray(norm) * np.asarray(size)
    ans = format_annotation(Pointing(label, pts, size, mode=mode), EVAL.replace(point_format=fmt),
                            np.random.RandomState(0)).messages[1]
    (p,) = parse_point_tags(ans)
    assert p.label == label.lower() and p.keys == [1.0]
    assert _rows(p.xy) == _rows(pf.scale_points(pts, size))
    assert p.ids.tolist() == list(range(1, len(pts) + 1))
    assert parse_count(ans) == len(pts)
    order = pf.sort_points(pf.scale_points(pts, size))  # printed order
    np.testing.assert_allclose(p.points(size), pts[order], atol=0.5005 * max(size) / 1000)


@given(points_st, size_st, label_st)
@SETTINGS
def test_molmo_v1_round_trip(norm, size, label):
    pts = np.asarray(norm) * np.asarray(size)
    ans = format_annotation(Pointing(label, pts, size), FormatterConfig.molmo_v1(), np.random.RandomState(0)).messages[1]
    got = sorted(map(tuple, parse_point_tags(ans)[0].xy.tolist()))  # percent, as printed
    want = sorted((round(float(x), 1), round(float(y), 1)) for x, y in pts * (100.0 / np.asarray(size)))
    assert got == want


@given(st.lists(st.tuples(st.integers(0, 600), points_st), min_size=1, max_size=6, unique_by=lambda t: t[0]),
       st.sampled_from(["html-v2", "html-v1"]))
@SETTINGS
def test_video_points_round_trip(frames, fmt):
    frames = sorted(frames)
    times = np.asarray([t * 0.5 for t, _ in frames])
    pts = np.concatenate([np.asarray(p) * 100 for _, p in frames])
    fi = np.concatenate([[i] * len(p) for i, (_, p) in enumerate(frames)])
    ann = VideoPointing("birds", times, pts, fi, (100, 100))
    ans = format_annotation(ann, EVAL.replace(point_format=fmt), np.random.RandomState(0)).messages[1]
    got = parse_video_points(ans, (100, 100))
    assert got.timestamps.tolist() == [round(t, 1) for t in times]
    xy = pf.scale_points(pts, (100, 100))
    for f in range(len(frames)):
        assert _rows(got.points[got.frame_index == f] * 10) == _rows(xy[fi == f])
    assert parse_count(ans) == len(pts)


@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 40), coord, coord, st.booleans()), min_size=1,
                max_size=25, unique_by=lambda r: (r[0], r[1])))
@SETTINGS
def test_tracks_round_trip(rows):
    """Printed tracks are the visible points; track ids are a consistent relabelling of object ids."""
    times = np.arange(41) * 0.5
    obj = np.asarray([r[0] for r in rows])
    fi = np.asarray([r[1] for r in rows])
    pts = np.asarray([(r[2] * 100, r[3] * 100) for r in rows])
    occ = np.asarray([r[4] for r in rows])
    ann = Track("cars", times, pts, fi, obj, occ, (100, 100), fps=2, style="video_point_track_all_frames")
    ans = format_annotation(ann, EVAL, np.random.RandomState(0)).messages[1]
    if occ.all():  # frames, every point occluded: the official answer is empty (issue 15 §5)
        assert ans == ""
        return
    got = parse_tracks(ans, (100, 100))
    xy = pf.scale_points(pts, (100, 100))
    vis = ~occ
    want = sorted((round(times[f], 1), int(x), int(y)) for f, (x, y) in zip(fi[vis], xy[vis], strict=True))
    have = sorted((got.timestamps[f], int(round(x * 10)), int(round(y * 10)))
                  for f, (x, y) in zip(got.frame_index, got.points, strict=True))
    assert have == want
    # track ids are 1..K, one per visible object, numbered in order of first appearance
    assert sorted(set(got.track_ids.tolist())) == list(range(1, len(set(obj[vis].tolist())) + 1))
    first = [int(t) for t in dict.fromkeys(got.track_ids.tolist())]
    assert first == sorted(first)


@given(st.lists(st.text(alphabet=string.ascii_letters + " ", min_size=1, max_size=10).map(str.strip).filter(bool),
                min_size=2, max_size=8, unique_by=str.lower), st.data())
@SETTINGS
def test_choice_round_trip(options, data):
    idx = data.draw(st.integers(0, len(options) - 1))
    answer = format_annotation(MultipleChoice("Which?", options, idx), EVAL, np.random.RandomState(0)).messages[1]
    assert parse_choice(answer, options) == idx


@given(st.integers(0, 23), st.integers(0, 59), st.one_of(st.none(), st.integers(0, 59)))
@SETTINGS
def test_clock_round_trip(h, m, s):
    text = f"{h}:{m:02d}" + ("" if s is None else f":{s:02d}")
    assert parse_clock(text) == (h, m, s)


@given(st.integers(0, 36000 * 10), st.booleans())
@SETTINGS
def test_timestamp_round_trip(tenths, in_seconds):
    t = tenths / 10
    assert abs(parse_timestamp(format_input_timestamp(t, in_seconds)) - t) < 1e-6


@given(st.integers(0, 500), st.sampled_from(["point_count", "count_then_point", "count"]))
@SETTINGS
def test_count_round_trip(n, mode):
    tag = pf.html_tag("1 1 500 500", "x") if mode != "count" else None
    assert parse_count(pf.point_answer(tag, n, mode)) == n
