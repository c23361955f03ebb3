"""The shared pool of the academic video samples and what is true of it.

Eight synthetic 5 s videos (a mover crossing the frame, one to three identical static shapes appearing
on the 0.5 s grid) are encoded once; every academic video set links them under its own file names in
the official layout (``TGIF/videos/<gif>.mp4``, ``Charades/Charades_v1/<id>.mp4``, ...). Every answer a
writer puts in a source file is one of the *facts* below, so the tests can check it against the decoded
frames: the mover's colour and direction (true in any clip), the number of static shapes at the end, the
window in which the first static shape is visible, and labels / captions naming the mover's colour and
direction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from molmo2_data import paths
from molmo2_data.datasets.registry import dataset_class
from molmo2_data.download.manual import import_manual
from molmo2_data.sample import atomic
from molmo2_data.sample.context import SampleContext
from molmo2_data.sample.draw import COLORS, plural
from molmo2_data.sample.tracking_sets import _hard_link
from molmo2_data.sample.video_sets import DIRECTIONS, Scene, make_scene, write_scene

POOL_SIZE = 8
FPS, SECONDS = 10, 5
CLIPS = ((0.5, 2.5), (2.5, 4.5))  # two clips of every pool video for sets of labelled segments
TRUTH = "video-academic"  # ground-truth file: video path -> the scene drawn in it


def _pool(ctx: SampleContext) -> list[Scene]:
    rng = ctx.rng("video-academic-pool")
    return [write_scene(ctx, make_scene(rng, f"va_{i:02d}", f"academic/_pool/va_{i:02d}.mp4", 160, 128, FPS, SECONDS,
                                        n_static=1 + i % 3)) for i in range(POOL_SIZE)]


def pool(ctx: SampleContext) -> list[Scene]:
    return ctx.shared("video-academic-pool", _pool)


def link(ctx: SampleContext, scene: Scene, rel: str) -> str:
    """Put a pool video at ``media/videos/<rel>`` (a hard link) and record the scene as its truth."""
    videos = paths.data_root(ctx.root) / "media" / "videos"
    _hard_link(videos / scene.rel_path, videos / rel)
    ctx.record_truth(TRUTH, rel, scene.to_json())
    return rel


@dataclass(frozen=True)
class Fact:
    """A question and its true answer, with wrong answers for multiple choice."""

    question: str
    answer: str
    wrong: tuple[str, ...]

    def options(self, slot: int) -> tuple[list[str], int]:
        """The wrong answers with the right one at ``slot`` (mod the number of options)."""
        k = slot % (len(self.wrong) + 1)
        return [*self.wrong[:k], self.answer, *self.wrong[k:]], k


def _others(correct: str, pool_: list[str], n: int, seed: int) -> tuple[str, ...]:
    rest = [p for p in pool_ if p != correct]
    rng = np.random.RandomState(seed)
    return tuple(rest[i] for i in rng.choice(len(rest), min(n, len(rest)), replace=False))


def color_fact(s: Scene, seed: int = 0) -> Fact:
    m = s.mover
    return Fact(f"What colour is the {m.shape} that moves across the video?", m.color,
                _others(m.color, list(COLORS), 3, seed))


def direction_fact(s: Scene, seed: int = 0) -> Fact:
    m = s.mover
    return Fact(f"In which direction does the {m.label} move?", f"from {s.direction}",
                tuple(f"from {d}" for d in _others(s.direction, list(DIRECTIONS), 3, seed)))


def count_fact(s: Scene, seed: int = 0) -> Fact:
    """True of the whole video only (the shapes appear one by one)."""
    k, st = len(s.statics), s.statics[0]
    return Fact(f"How many {st.color} {plural(st.shape, 2)} are visible at the end of the video?", str(k),
                _others(str(k), [str(i) for i in range(1, 7)], 3, seed))


def whole_video_facts(s: Scene, seed: int = 0) -> list[Fact]:
    return [color_fact(s, seed), direction_fact(s, seed), count_fact(s, seed)]


def clip_facts(s: Scene, seed: int = 0) -> list[Fact]:
    return [color_fact(s, seed), direction_fact(s, seed)]


def label(s: Scene) -> str:
    """An action label true of any clip: the mover's colour, shape and direction."""
    return f"{s.mover.label} moving from {s.direction}"


def antonym(s: Scene) -> str:
    """The label with the opposite direction (false of every clip)."""
    opposite = {DIRECTIONS[0]: DIRECTIONS[1], DIRECTIONS[1]: DIRECTIONS[0], DIRECTIONS[2]: DIRECTIONS[3],
                DIRECTIONS[3]: DIRECTIONS[2]}
    return f"{s.mover.label} moving from {opposite[s.direction]}"


def caption(s: Scene) -> str:
    return f"A {s.mover.label} moves steadily from {s.direction}."


def first_static_window(s: Scene) -> tuple[float, float]:
    """When the first static shape is on screen: from its appearance to the end."""
    return s.statics[0].appear, s.duration


# ---------------------------------------------------------------------------------------------
# Writing source files
# ---------------------------------------------------------------------------------------------


def manual(ctx: SampleContext, name: str) -> Path:
    return paths.manual_dir(name, ctx.root)


def write_json(path: Path, obj: object) -> None:
    atomic.write_text(path, json.dumps(obj, indent=1))


def write_jsonl(path: Path, rows: list) -> None:
    atomic.write_text(path, "".join(json.dumps(r) + "\n" for r in rows))


def write_csv(path: Path, header: list[str] | None, rows: list[list], delimiter: str = ",") -> None:
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delimiter, lineterminator="\n")
    if header is not None:
        w.writerow(header)
    w.writerows(rows)
    atomic.write_text(path, buf.getvalue())


def write_parquet(path: Path, rows: list[dict]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    with atomic.atomic_path(path) as tmp:
        pq.write_table(pa.Table.from_pylist(rows), tmp)


def import_tables(ctx: SampleContext, name: str) -> None:
    """Turn the written source files into the set's tables, as ``download`` does."""
    cls = dataset_class(name)
    import_manual(name, cls, [("default", s) for s in cls.MANUAL.files], ctx.root, log=lambda _s: None, refresh=True)
