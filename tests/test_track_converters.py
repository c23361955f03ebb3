"""Raw tracking annotations -> point Tracks: masks (innermost point, COCO RLE), single-object boxes
(LaSOT / GOT-10k text and flags), MOTChallenge gt.txt. Every expected value is worked out by hand in
the comments; scipy (a test dependency) is an independent check of the distance transform."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from molmo2_data.annotations import Track
from molmo2_data.datasets.track_converters import (
    box_point,
    boxes_to_track,
    distance_transform_sq,
    mask_point,
    masks_to_track,
    mot_to_track,
    read_box_file,
    read_flag_file,
    read_mot_file,
    rle_to_mask,
)
from molmo2_data.errors import SchemaError

eq = np.testing.assert_array_equal

# ------------------------------------------------------------------------------------------------
# masks -> points
# ------------------------------------------------------------------------------------------------


def test_distance_transform_and_mask_point_by_hand() -> None:
    # 5 x 7 mask, all set except row 1, col 2. The outside pixels are that hole and the ring around the
    # image (rows -1 and 5, cols -1 and 7). Nearest ring pixel, squared: min(r+1, 5-r, c+1, 7-c)**2.
    # Nearest hole pixel: (r-1)**2 + (c-2)**2. Each entry is the smaller of the two, e.g.
    #   (2,4): ring min(3, 3, 5, 3)**2 = 9, hole 1 + 4 = 5      -> 5 (diagonal, beats the ring)
    #   (2,3): ring 9, hole 1 + 1 = 2                           -> 2
    #   (3,2): ring min(4, 2, 3, 5)**2 = 4, hole 4 + 0 = 4      -> 4
    #   (1,4): ring min(2, 4, 5, 3)**2 = 4, hole 0 + 4 = 4      -> 4
    mask = np.ones((5, 7), dtype=bool)
    mask[1, 2] = False
    expected = np.array([[1, 1, 1, 1, 1, 1, 1],
                         [1, 1, 0, 1, 4, 4, 1],
                         [1, 2, 1, 2, 5, 4, 1],
                         [1, 4, 4, 4, 4, 4, 1],
                         [1, 1, 1, 1, 1, 1, 1]])
    eq(distance_transform_sq(mask), expected)
    # the unique maximum 5 (distance sqrt 5 ~ 2.24) is at row 2, col 4 -> pixel centre (4.5, 2.5).
    # A city-block transform would give 3 there and a chessboard one 2, tied with many pixels.
    assert mask_point(mask) == (4.5, 2.5)
    assert mask_point(mask.astype(np.uint8)) == (4.5, 2.5)  # 0/1 masks as well as bool


def test_mask_point_ties_and_border() -> None:
    # full 5 x 7 frame: only the border is boundary, so d^2 = min(r+1, 5-r, c+1, 7-c)^2
    full = np.ones((5, 7), dtype=bool)
    eq(distance_transform_sq(full), [[1, 1, 1, 1, 1, 1, 1],
                                     [1, 4, 4, 4, 4, 4, 1],
                                     [1, 4, 9, 9, 9, 4, 1],
                                     [1, 4, 4, 4, 4, 4, 1],
                                     [1, 1, 1, 1, 1, 1, 1]])
    # the maximum 9 is tied at (2,2), (2,3), (2,4); the smallest (y, x) wins -> (2 + .5, 2 + .5)
    assert mask_point(full) == (2.5, 2.5)
    # a 1-pixel object at row 3, col 1 -> (1.5, 3.5); an empty mask -> None (not visible)
    one = np.zeros((5, 7), dtype=bool)
    one[3, 1] = True
    assert mask_point(one) == (1.5, 3.5)
    assert mask_point(np.zeros((5, 7), dtype=bool)) is None
    # a 3 x 5 block in rows 1-3, cols 2-6 of a 5 x 7 frame, touching the right edge. Its d^2 is
    # 1 on its rim and 4 at (2,3), (2,4), (2,5), because the border at col 7 counts as boundary.
    # Without that, (2,6) would be 4 as well. Ties resolve to (2,3) -> (3.5, 2.5).
    edge = np.zeros((5, 7), dtype=bool)
    edge[1:4, 2:7] = True
    eq(distance_transform_sq(edge)[2], [0, 0, 1, 4, 4, 4, 1])
    assert mask_point(edge) == (3.5, 2.5)


def test_distance_transform_matches_scipy() -> None:
    ndimage = pytest.importorskip("scipy.ndimage")
    rng = np.random.default_rng(7)
    for _ in range(60):
        h, w = (int(v) for v in rng.integers(1, 30, 2))
        m = rng.random((h, w)) < rng.random()
        ref = np.rint(ndimage.distance_transform_edt(np.pad(m, 1))[1:-1, 1:-1] ** 2).astype(np.int64)
        eq(distance_transform_sq(m), ref)
        if m.any():  # mask_point crops to the bounding box; the full-image argmax must agree
            y, x = divmod(int(np.argmax(ref)), w)
            assert mask_point(m) == (x + 0.5, y + 0.5)


def test_rle_decoding_by_hand() -> None:
    # 3 x 4 mask; column-major order reads col0 = 0,0,1, col1 = 1,1,1, col2 = 1,0,0, col3 = 0,0,0
    # -> 2 zeros, 5 ones, 5 zeros: counts [2, 5, 5] (sum 12 = 3 * 4)
    eq(rle_to_mask({"size": [3, 4], "counts": [2, 5, 5]}), [[0, 1, 1, 0], [0, 1, 0, 0], [1, 1, 0, 0]])
    # 8 x 8 mask, counts [0, 3, 40, 2, 19]: ones at flat (column-major) 0-2 = col 0 rows 0-2 and
    # 43-44 = col 5 (43 // 8) rows 3-4 (43 % 8, 44 % 8). Compressed string, 5 bits per character + 48:
    #   0 -> '0'; 3 -> '3'; 40 = 8 + 1*32 -> (8 | 0x20 continuation) + 48 = 'X', then 1 + 48 = '1';
    #   from the 4th number on, differences to the one two before: 2 - 3 = -1 -> 31 (sign bit 0x10) -> 'O';
    #   19 - 40 = -21 -> low group 11 | 0x20 = 43 -> '[', then -1 -> 31 -> 'O'.
    # (pycocotools' encoder gives the same string.)
    want = [[0, 0], [1, 0], [2, 0], [3, 5], [4, 5]]
    for counts in ("03X1O[O", b"03X1O[O", [0, 3, 40, 2, 19]):
        m = rle_to_mask({"size": [8, 8], "counts": counts})
        assert m.dtype == bool and m.shape == (8, 8)
        eq(np.argwhere(m), want)
    eq(np.argwhere(rle_to_mask({"rle": "03X1O[O"}, size=(8, 8))), want)  # BURST: size given apart


@pytest.mark.parametrize(("rle", "message"), [
    ({"size": [3, 4], "counts": [2, 5, 4]}, "sum to 11, not 3 x 4 = 12"),
    ({"size": [3, 4], "counts": [2, -5, 15]}, "negative run -5"),
    ({"size": [3, 4], "counts": "2 5"}, "character ' ' at position 1"),
    ({"size": [8, 8], "counts": "03X"}, "ends inside a number"),
    ({"size": [3], "counts": [12]}, "size must be [height, width]"),
    ({"size": [3, 4], "counts": [2.5, 9.5]}, "list of integers"),
])
def test_rle_errors(rle: dict, message: str) -> None:
    with pytest.raises(SchemaError, match=f".*{message.replace('[', '.').replace(']', '.')}"):
        rle_to_mask(rle)


def test_masks_to_track() -> None:
    a = np.zeros((4, 6), dtype=bool)
    a[1:3, 1:3] = True  # 2 x 2 block: all d^2 = 1, smallest (y, x) = (1, 1) -> (1.5, 1.5)
    b = np.zeros((4, 6), dtype=bool)
    b[2, 4] = True  # single pixel -> (4.5, 2.5)
    # "car" first appears on frame 1 -> object 1; "dog" on frame 0 -> object 0. On frame 1 "car" comes
    # first in the mapping but keeps the later id. Frame 2: dog's mask is empty, car's is missing (None),
    # so the frame is listed without points. The RLE of frame 3 is b: column-major flat index
    # 4 * 4 + 2 = 18 -> counts [18, 1, 5] (sum 24 = 4 * 6).
    frames = [{"dog": a}, {"car": b, "dog": a}, {"dog": np.zeros((4, 6)), "car": None},
              {"car": {"size": [4, 6], "counts": [18, 1, 5]}}]
    tr = masks_to_track(frames, None, "dog and car", fps=2.0)
    assert isinstance(tr, Track) and tr.scale == (6.0, 4.0) and tr.fps == 2.0
    eq(tr.timestamps, [0.0, 0.5, 1.0, 1.5])
    eq(tr.points, [[1.5, 1.5], [1.5, 1.5], [4.5, 2.5], [4.5, 2.5]])
    eq(tr.frame_index, [0, 1, 1, 3])
    eq(tr.object_ids, [0, 0, 1, 1])
    eq(tr.occluded, [False] * 4)
    with pytest.raises(SchemaError, match=r"frame 1, object 'car': mask of shape \(3, 6\), expected \(4, 6\)"):
        masks_to_track([{"dog": a}, {"car": np.ones((3, 6))}], [0.0, 0.5], "x", fps=2.0)


# ------------------------------------------------------------------------------------------------
# boxes -> points
# ------------------------------------------------------------------------------------------------

LASOT = "10,20,30,40\n0,0,0,0\n12,22,30,40\n14,24,30,40\n16,26,30,40\n\n"


def test_box_point() -> None:
    assert box_point(10, 20, 30, 40) == (25.0, 40.0)  # (10 + 30/2, 20 + 40/2)
    assert box_point(0, 0, 0, 0) is None
    assert box_point(5, 5, -1, 3) is None
    assert box_point(float("nan"), 1, 2, 3) is None


def test_read_box_and_flag_files(tmp_path: Path) -> None:
    want = [[10, 20, 30, 40], [0, 0, 0, 0], [12, 22, 30, 40], [14, 24, 30, 40], [16, 26, 30, 40]]
    eq(read_box_file(LASOT), want)  # trailing blank line ignored
    f = tmp_path / "groundtruth.txt"
    f.write_text(LASOT.replace(",", "\t"))  # OTB-style tabs, read from a path
    eq(read_box_file(f), want)
    eq(read_box_file(str(f)), want)
    b = read_box_file("1 2 3 4\nNaN,NaN,NaN,NaN\n")
    eq(b[0], [1, 2, 3, 4])
    assert np.isnan(b[1]).all()
    eq(read_flag_file("0,0,1,0,0\n"), [False, False, True, False, False])  # LaSOT: one row
    eq(read_flag_file("0\n1\n0\n"), [False, True, False])  # GOT-10k absence.label: one per line


@pytest.mark.parametrize(("text", "message"), [
    ("1,2,3,4\n1,2,3\n", "line 2: expected 4 numbers x,y,w,h, got 3"),
    ("1,2,3,4\n5,6,7,8\n1,2,x,4\n", "line 3: not a list of numbers"),
    ("1,2,3,4\n\n1,2,3,4\n", "line 2: empty line among the boxes"),
    ("1,2,,4\n", "line 1: not a list of numbers"),
    ("1,2,inf,4\n", "line 1: infinite value"),
])
def test_read_box_file_errors(text: str, message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        read_box_file(text)


def test_read_flag_file_errors() -> None:
    with pytest.raises(SchemaError, match="line 2: flags must be 0 or 1"):
        read_flag_file("0\n2\n")


def test_boxes_to_track_lasot() -> None:
    boxes = read_box_file(LASOT)
    occ = read_flag_file("0,0,1,0,0")  # full_occlusion: frame 2
    oov = read_flag_file("0,1,0,0,1")  # out_of_view: frames 1 and 4 (frame 4 still has a box)
    tr = boxes_to_track(boxes, None, "the bear", 30.0, absent=oov, occluded=occ, scale=(100, 100))
    eq(tr.timestamps, [0.0, 1 / 30, 2 / 30, 3 / 30, 4 / 30])  # every frame listed, t / fps
    # frame 0: (10 + 15, 20 + 20); frame 1: 0,0,0,0 -> none; frame 2: (12 + 15, 22 + 20), occluded;
    # frame 3: (14 + 15, 24 + 20); frame 4: out of view -> none
    eq(tr.points, [[25, 40], [27, 42], [29, 44]])
    eq(tr.frame_index, [0, 2, 3])
    eq(tr.object_ids, [0, 0, 0])
    eq(tr.occluded, [False, True, False])
    assert tr.style == "video_single_point_track_per_frame" and tr.scale == (100.0, 100.0)
    # GOT-10k: absence.label alone; explicit times; a centre off the 100 x 100 frame (95 + 10 = 105) is dropped
    got = boxes_to_track(np.array([[1, 1, 2, 2], [3, 3, 2, 2], [95, 10, 20, 10]]), [0.0, 0.1, 0.2], "cup", 10.0,
                         absent=read_flag_file("0\n1\n0\n"), scale=(100, 100))
    eq(got.points, [[2, 2]])
    eq(got.frame_index, [0])
    eq(got.timestamps, [0.0, 0.1, 0.2])
    with pytest.raises(SchemaError, match="4 absent flags for 5 boxes"):
        boxes_to_track(boxes, None, "x", 30.0, absent=[0, 0, 0, 0], scale=(100, 100))


# ------------------------------------------------------------------------------------------------
# MOTChallenge
# ------------------------------------------------------------------------------------------------

MOT = """\
1,1,10,20,4,6,1,1,1.0
1,2,50,50,10,10,1,1,0.9
2,1,12,20,4,6,1,1,1.0
2,2,52,50,10,10,1,1,0.1
3,2,54,50,10,10,1,1,0.5
3,3,80,80,6,6,0,1,1.0
4,5,56,50,10,10,1,1,1.0
5,1,18,20,4,6,1,1,1.0
5,5,58,50,10,10,1,1,0.25
"""


def test_mot_to_track() -> None:
    rows = read_mot_file(MOT)
    eq(rows.frame, [1, 1, 2, 2, 3, 3, 4, 5, 5])
    eq(rows.track_id, [1, 2, 1, 2, 2, 3, 5, 1, 5])
    eq(rows.line, range(1, 10))
    tr = mot_to_track(rows, "people", 10.0, scale=(100, 100))
    # frames 1..5 at (frame - 1) / 10 s
    eq(tr.timestamps, [0.0, 0.1, 0.2, 0.3, 0.4])
    # object ids by first appearance: id 1 -> 0, id 2 -> 1, id 5 -> 2 (id 3 only has a conf-0 row -> none).
    # id 2 ends on frame 3 and id 5 starts on frame 4 where id 2 would be: an id switch, two objects.
    # id 1 is missing on frames 3-4 (a gap, no points) and comes back on frame 5 as object 0.
    # centres: id 1: (10 + 2, 20 + 3), (12 + 2, 23), (18 + 2, 23); id 2: (50 + 5, 50 + 5), (57, 55),
    # (59, 55); id 5: (61, 55), (63, 55)
    eq(tr.points, [[12, 23], [55, 55], [14, 23], [57, 55], [59, 55], [61, 55], [20, 23], [63, 55]])
    eq(tr.frame_index, [0, 0, 1, 1, 2, 3, 4, 4])
    eq(tr.object_ids, [0, 1, 0, 1, 1, 2, 0, 2])
    # visibility 0.1 < 0.25 is occluded; 0.25 itself is not (the threshold is strict)
    eq(tr.occluded, [False, False, False, True, False, False, False, False])
    assert tr.fps == 10.0 and tr.style == "video_point_track_per_frame"
    # the sequence is longer than its last row: frame 6 listed without points
    eq(mot_to_track(MOT, "people", 10.0, scale=(100, 100), num_frames=6).timestamps, [0.0, 0.1, 0.2, 0.3, 0.4, 0.5])
    # a class filter: only class 7 rows (none here) -> all frames listed, no points
    empty = mot_to_track(MOT, "people", 10.0, scale=(100, 100), classes={7})
    assert len(empty.timestamps) == 5 and empty.points.shape == (0, 2)


def test_mot_column_variants() -> None:
    # 6 columns: conf 1, class and visibility unknown. 10 columns (MOT15): columns 8-10 are world
    # coordinates, not class / visibility
    rows = read_mot_file("1,4,0,0,2,2\n1,7,5,5,2,2,0,-1,-1,-1\n2, 4, 1, 1, 2, 2, 1, 3, 0.0\n")
    eq(rows.conf, [1.0, 0.0, 1.0])
    eq(rows.cls, [-1, -1, 3])
    eq(rows.visibility, [np.nan, np.nan, 0.0])
    eq(rows.boxes, [[0, 0, 2, 2], [5, 5, 2, 2], [1, 1, 2, 2]])
    tr = mot_to_track(rows, "x", 25.0, scale=(10, 10))
    eq(tr.points, [[1, 1], [2, 2]])
    eq(tr.occluded, [False, True])  # unknown visibility -> visible; 0.0 -> occluded
    eq(tr.timestamps, [0.0, 0.04])


@pytest.mark.parametrize(("text", "message"), [
    ("1,1,1,1,2,2,1,1,1\n1,1,3,3,2,2,1,1,1\n", "line 2: second row for frame 1, id 1 \\(first on line 1\\)"),
    ("1,1,1,1,2,2\n\n2,1,1,1,2,2\n2,2,1,x,2,2\n", "line 4: not a list of numbers"),
    ("1,1,1,1,2\n", "line 1: expected at least 6 columns"),
    ("0,1,1,1,2,2\n", "line 1: frame must be an integer >= 1"),
    ("1,1.5,1,1,2,2\n", "line 1: frame must be an integer >= 1 and id an integer >= 0"),
    ("1,1,nan,1,2,2\n", "line 1: NaN value"),
])
def test_read_mot_file_errors(text: str, message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        read_mot_file(text)


def test_mot_frames_beyond_sequence() -> None:
    with pytest.raises(SchemaError, match="line 8: frame 5 beyond the 4 frames"):
        mot_to_track(MOT, "people", 10.0, scale=(100, 100), num_frames=4)
