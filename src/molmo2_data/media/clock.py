"""Analog clock faces rendered from a time, for pixmo-clocks.

The published pixmo-clocks data has no images (they were rendered from facer.io watchfaces that cannot
be downloaded), so a reader needs a renderer. Faces are drawn without anti-aliasing in flat colours, so
a test can find each hand by its exact colour along the angle the annotated time implies.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

RGB = tuple[int, int, int]

FACES: tuple[RGB, ...] = ((250, 250, 245), (235, 240, 250), (250, 238, 215), (225, 245, 230))
BACKGROUNDS: tuple[RGB, ...] = ((60, 60, 70), (120, 90, 60), (200, 200, 200), (30, 80, 60))
RIMS: tuple[RGB, ...] = ((40, 40, 40), (150, 120, 40), (90, 90, 110))
HOUR_HANDS: tuple[RGB, ...] = ((15, 15, 15), (10, 20, 90))
MINUTE_HANDS: tuple[RGB, ...] = ((70, 70, 75), (0, 90, 110))
SECOND_HANDS: tuple[RGB, ...] = ((210, 20, 20), (230, 120, 0))
TICKS: RGB = (130, 130, 130)
NUMERALS: tuple[RGB, ...] = ((100, 100, 100), (120, 80, 60))


@dataclass(frozen=True)
class ClockStyle:
    """Colours and proportions of one face. Lengths are fractions of the face radius."""

    background: RGB = BACKGROUNDS[0]
    face: RGB = FACES[0]
    rim: RGB = RIMS[0]
    hour_hand: RGB = HOUR_HANDS[0]
    minute_hand: RGB = MINUTE_HANDS[0]
    second_hand: RGB = SECOND_HANDS[0]
    numeral: RGB = NUMERALS[0]
    numerals: bool = True
    minute_ticks: bool = True
    hour_length: float = 0.5
    minute_length: float = 0.78
    second_length: float = 0.88
    hour_width: float = 0.07
    minute_width: float = 0.045
    second_width: float = 0.025

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def clock_style(rng: np.random.RandomState | None) -> ClockStyle:
    """A random face style (the default style when ``rng`` is None)."""
    if rng is None:
        return ClockStyle()

    def pick(options: tuple[RGB, ...]) -> RGB:
        return options[rng.randint(len(options))]

    return ClockStyle(
        background=pick(BACKGROUNDS), face=pick(FACES), rim=pick(RIMS), hour_hand=pick(HOUR_HANDS),
        minute_hand=pick(MINUTE_HANDS), second_hand=pick(SECOND_HANDS), numeral=pick(NUMERALS),
        numerals=bool(rng.rand() < 0.6), minute_ticks=bool(rng.rand() < 0.7),
        hour_length=float(rng.uniform(0.45, 0.55)), minute_length=float(rng.uniform(0.72, 0.8)),
        second_length=float(rng.uniform(0.82, 0.9)),
    )


def hand_angles(hour: int, minute: int, second: int | None) -> dict[str, float]:
    """Clockwise angles from 12 o'clock, in degrees, of each hand for a time."""
    s = 0 if second is None else second
    out = {"hour": ((hour % 12) + minute / 60 + s / 3600) * 30.0, "minute": (minute + s / 60) * 6.0}
    if second is not None:
        out["second"] = second * 6.0
    return out


def face_geometry(size: int) -> tuple[float, float, float]:
    """(centre x, centre y, face radius) in pixels for a square image of ``size``."""
    return size / 2.0, size / 2.0, size * 0.45


def polar(cx: float, cy: float, radius: float, angle_deg: float) -> tuple[float, float]:
    """The point at ``radius`` from the centre along a clockwise-from-12 angle (image y points down)."""
    a = math.radians(angle_deg)
    return cx + radius * math.sin(a), cy - radius * math.cos(a)


def _check_time(hour: int, minute: int, second: int | None) -> None:
    if not 0 <= hour <= 23 or not 0 <= minute <= 59 or (second is not None and not 0 <= second <= 59):
        raise ValueError(f"not a time of day: {hour}:{minute}:{second}")


def render_clock(hour: int, minute: int, second: int | None = None, size: int = 256,
                 style_rng: np.random.RandomState | None = None, style: ClockStyle | None = None) -> Image.Image:
    """Draw an analog clock showing hour:minute[:second] (the second hand only when ``second`` is
    given). The look comes from ``style`` or, if absent, from ``clock_style(style_rng)``."""
    _check_time(hour, minute, second)
    st = style if style is not None else clock_style(style_rng)
    img = Image.new("RGB", (size, size), st.background)
    draw = ImageDraw.Draw(img)
    cx, cy, r = face_geometry(size)
    rim = max(2, round(r * 0.05))
    draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=st.rim)
    draw.ellipse([cx - r + rim, cy - r + rim, cx + r - rim, cy + r - rim], fill=st.face)
    _draw_ticks(draw, st, cx, cy, r)
    if st.numerals:
        _draw_numerals(draw, st, cx, cy, r)
    angles = hand_angles(hour, minute, second)
    hands = [("hour", st.hour_hand, st.hour_length, st.hour_width),
             ("minute", st.minute_hand, st.minute_length, st.minute_width)]
    if second is not None:
        hands.append(("second", st.second_hand, st.second_length, st.second_width))
    for name, color, length, width in hands:
        tail = 0.12 if name == "second" else 0.0
        start = polar(cx, cy, -tail * r, angles[name])
        end = polar(cx, cy, length * r, angles[name])
        _draw_bar(draw, start, end, max(4.0, width * r), color)
    hub = max(2.0, r * 0.06)
    draw.ellipse([cx - hub, cy - hub, cx + hub, cy + hub], fill=hands[-1][1])
    return img


def _draw_bar(draw: ImageDraw.ImageDraw, start: tuple[float, float], end: tuple[float, float], width: float,
              color: RGB) -> None:
    """A solid bar of ``width`` pixels (a filled polygon: ``draw.line`` leaves gaps on diagonals)."""
    dx, dy = end[0] - start[0], end[1] - start[1]
    norm = math.hypot(dx, dy) or 1.0
    ox, oy = -dy / norm * width / 2, dx / norm * width / 2
    draw.polygon([(start[0] + ox, start[1] + oy), (end[0] + ox, end[1] + oy), (end[0] - ox, end[1] - oy),
                  (start[0] - ox, start[1] - oy)], fill=color)


def _draw_ticks(draw: ImageDraw.ImageDraw, st: ClockStyle, cx: float, cy: float, r: float) -> None:
    for k in range(60):
        major = k % 5 == 0
        if not major and not st.minute_ticks:
            continue
        inner = 0.84 if major else 0.9
        a, b = polar(cx, cy, inner * r, k * 6.0), polar(cx, cy, 0.93 * r, k * 6.0)
        draw.line([a, b], fill=TICKS, width=max(1, round(r * (0.03 if major else 0.012))))


def _draw_numerals(draw: ImageDraw.ImageDraw, st: ClockStyle, cx: float, cy: float, r: float) -> None:
    font = ImageFont.load_default(size=max(8, round(r * 0.16)))
    for h in range(1, 13):
        x, y = polar(cx, cy, 0.7 * r, h * 30.0)
        draw.text((x, y), str(h), fill=st.numeral, font=font, anchor="mm")


def style_for_watchface(watchface_id: Any) -> ClockStyle:
    """A stable style per watchface id, so every row of one watchface looks alike."""
    import hashlib

    digest = hashlib.sha256(str(watchface_id).encode()).digest()
    return clock_style(np.random.RandomState(int.from_bytes(digest[:4], "little")))


def render_rows(rows: Iterable[Mapping[str, Any]], out_dir: str | os.PathLike, size: int = 256,
                overwrite: bool = False) -> int:
    """Render pixmo-clocks rows (dicts with example_id, watchface_id, hour_visible, minute_visible,
    second_visible) to ``<out_dir>/<example_id>.png`` -- the layout the pixmo-clocks reader expects
    (``paths.clock_dir``). Returns how many images were written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    for row in rows:
        dst = out / f"{row['example_id']}.png"
        if dst.exists() and not overwrite:
            continue
        second = row.get("second_visible")
        second = None if second is None or second < 0 else int(second)
        img = render_clock(int(row["hour_visible"]), int(row["minute_visible"]), second, size=size,
                           style=style_for_watchface(row.get("watchface_id")))
        tmp = dst.with_name(dst.name + ".tmp.png")
        img.save(tmp)
        os.replace(tmp, dst)
        written += 1
    return written
