"""Point text as the official point formatter prints it (issue 15 §5): alternative text in every format and
timestamps printed with the source's type. Expected strings are derived by hand from the official rules:

* html-v1/v2 (``build_point_str_from_coord_str``, coord_str form): ``alt="…"`` goes before ``coords``
  whenever the alt text is not None (even when it equals the label); the tag is ``points`` or ``tracks``.
* tab-separated form: ``<points {label}\\t{alt}\\t{coords}/>``, alt ``-`` when None or equal to the label;
  the legacy compact formats first replace tabs in label and alt by spaces.
* Molmo v1 (``points_to_text``, default form): ``alt`` attribute = the given alt text (the label when none).
* times: ``str(round(t, 1))`` - an int stays an int (``10``), a float prints one decimal at least (``10.0``).
"""

from __future__ import annotations

import numpy as np

from molmo2_data.example import Track, VideoPointing
from molmo2_data.text import point_format as pf
from molmo2_data.text.formatter import FormatterConfig, format_annotation
from molmo2_data.text.parse import parse_point_tags

PTS = np.array([[50.0, 50.0], [25.0, 75.0]])  # on a 100 x 100 image: (500, 500) and (250, 750)
PLAIN = FormatterConfig(prompt_templates="none", system_prompt="none", training=False)


def test_html_alt_text_in_both_html_formats() -> None:
    coords = pf.image_coords(PTS, (100, 100))
    assert coords == "1 1 250 750 2 500 500"  # sorted by (x, y)
    assert pf.html_tag(coords, "car") == '<points coords="1 1 250 750 2 500 500">car</points>'
    assert pf.html_tag(coords, "car", alt_text="the red car") == (
        '<points alt="the red car" coords="1 1 250 750 2 500 500">car</points>')
    # alt equal to the label is still printed (only the tab form collapses it)
    assert pf.html_tag(coords, "car", alt_text="car") == '<points alt="car" coords="1 1 250 750 2 500 500">car</points>'
    assert pf.html_tag(coords, "car", alt_text="") == '<points alt="" coords="1 1 250 750 2 500 500">car</points>'
    assert pf.html_tag("", "car", alt_text="x") == ""  # nothing to show
    # tracks and frame separators: v2 ';', v1 tab; the alt text the same in both
    for fmt, sep in (("html-v2", ";"), ("html-v1", "\t")):
        c = pf.track_coords([0.5, 1.0], PTS, np.array([0, 1]), np.array([7, 7]), np.array([True, True]),
                            (100, 100), fmt)
        assert c == f"0.5 1 500 500{sep}1.0 1 250 750"
        assert pf.html_tag(c, "Dog", "tracks", alt_text="a dog") == (
            f'<tracks alt="a dog" coords="0.5 1 500 500{sep}1.0 1 250 750">Dog</tracks>')


def test_alt_text_tag_inside_the_answer_modes() -> None:
    tag = pf.html_tag(pf.image_coords(PTS, (100, 100)), "cars", alt_text="two cars")
    assert pf.point_answer(tag, 2, "point_count") == (
        'Counting the <points alt="two cars" coords="1 1 250 750 2 500 500">cars</points> shows a total of 2.')
    assert pf.point_answer(tag, 2, "count_then_point") == (
        'There are 2 <points alt="two cars" coords="1 1 250 750 2 500 500">cars</points>.')


def test_tab_separated_alt_text() -> None:
    coords = "1 1 250 750 2 500 500"
    assert pf.tab_sep_tag(coords, "car") == "<points car\t-\t1 1 250 750 2 500 500/>"
    assert pf.tab_sep_tag(coords, "car", alt_text="car") == "<points car\t-\t1 1 250 750 2 500 500/>"
    assert pf.tab_sep_tag(coords, "car", alt_text="red car") == "<points car\tred car\t1 1 250 750 2 500 500/>"
    assert pf.tab_sep_tag("", "car", alt_text="red car") == ""
    # the unified tab form compares the raw label; the legacy compact form replaces tabs first
    assert pf.tab_sep_tag("1 1 5 5", "a\tb", alt_text="a b") == "<points a\tb\ta b\t1 1 5 5/>"
    assert pf.tab_sep_tag("1 1 5 5", "a\tb", alt_text="a b", replace_tabs=True) == "<points a b\t-\t1 1 5 5/>"
    assert pf.tab_sep_tag("1 1 5 5", "a", alt_text="x\ty", replace_tabs=True) == "<points a\tx y\t1 1 5 5/>"


def test_molmo_v1_alt_text() -> None:
    one = np.array([[50.0, 50.0]])
    assert pf.molmo_v1_points(one, (100, 100), "cat") == '<point x="50.0" y="50.0" alt="cat">cat</point>'
    assert pf.molmo_v1_points(one, (100, 100), "cat", alt_text="a tabby cat") == (
        '<point x="50.0" y="50.0" alt="a tabby cat">cat</point>')
    assert pf.molmo_v1_points(PTS, (200, 100), "cats", alt_text="two cats") == (
        '<points x1="12.5" y1="75.0" x2="25.0" y2="50.0" alt="two cats">cats</points>')


def test_time_strings_keep_the_source_type() -> None:
    assert [pf.time_string(t) for t in (10, np.int64(10), 0, np.int32(7))] == ["10", "10", "0", "7"]
    assert [pf.time_string(t) for t in (10.0, np.float64(10.0), 2.5, 1.25, 0.15, 63.45, 3.0000001)] == [
        "10.0", "10.0", "2.5", "1.2", "0.1", "63.5", "3.0"]  # Python's correctly rounded round(t, 1)


def test_video_and_track_coords_print_integer_times() -> None:
    ints = np.array([10, 12], dtype=np.int64)
    fi = np.array([0, 1])
    assert pf.video_coords(ints, PTS, fi, (100, 100), "html-v2") == "10 1 500 500;12 2 250 750"
    assert pf.video_coords(ints.astype(np.float64), PTS, fi, (100, 100), "html-v1") == (
        "10.0 1 500 500\t12.0 2 250 750")
    # a Python list keeps each element's own type, as the official str(round(t, 1)) does
    assert pf.video_coords([2, 2.5], PTS, fi, (100, 100), "html-v2") == "2 1 500 500;2.5 2 250 750"
    keep = np.array([True, True])
    assert pf.track_coords(ints, PTS, fi, np.array([3, 3]), keep, (100, 100), "html-v2") == (
        "10 1 500 500;12 1 250 750")
    # frames are printed in time order with their own stored value
    assert pf.track_coords([12.5, 10], PTS, fi, np.array([3, 3]), keep, (100, 100), "html-v2") == (
        "10 1 250 750;12.5 1 500 500")


def test_annotations_keep_integer_times_through_the_formatter() -> None:
    vp = VideoPointing("Dog", [4, 6], PTS, np.array([0, 1]), (100, 100), mode="point", style="video_point",
                       alt_text="a brown dog")
    assert vp.timestamps.dtype == np.int64
    answer = format_annotation(vp, PLAIN, np.random.RandomState(0)).messages[1]
    assert answer == '<points alt="a brown dog" coords="4 1 500 500;6 2 250 750">Dog</points>'
    tr = Track("Dog", [4, 6], PTS, np.array([0, 1]), np.array([0, 0]), np.array([False, False]), (100, 100),
               fps=2, style="video_point_track_all_frames")
    assert tr.timestamps.dtype == np.int64
    assert format_annotation(tr, PLAIN, np.random.RandomState(0)).messages[1] == (
        '<tracks coords="4 1 500 500;6 1 250 750">Dog</tracks>')


def test_alt_text_parsed_back() -> None:
    (p,) = parse_point_tags('<points alt="the red car" coords="1 1 250 750 2 500 500">car</points>')
    assert (p.label, p.alt_text, p.xy.tolist()) == ("car", "the red car", [[250.0, 750.0], [500.0, 500.0]])
    (t,) = parse_point_tags('x <tracks alt="a dog" coords="4 1 500 500;6 1 250 750">Dog</tracks> y')
    assert (t.tag, t.alt_text, t.keys, t.ids.tolist()) == ("tracks", "a dog", [4.0, 6.0], [1, 1])
    (a, b) = parse_point_tags("<points car\t-\t1 1 250 750/> and <points cars\ttwo cars\t1 1 100 200 2 300 400/>")
    assert (a.label, a.alt_text, a.xy.tolist()) == ("car", None, [[250.0, 750.0]])
    assert (b.label, b.alt_text, b.ids.tolist()) == ("cars", "two cars", [1, 2])
    (v,) = parse_point_tags('<point x="50.0" y="50.0" alt="a tabby cat">cat</point>')
    assert (v.label, v.alt_text, v.xy.tolist()) == ("cat", "a tabby cat", [[50.0, 50.0]])
