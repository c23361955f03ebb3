"""Drawing primitives for sample media whose annotations are true by construction.

Objects are flat, saturated shapes on a plain background, kept apart from each other, so a test can
look up the pixel under an annotated point and find the object's colour.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 170, 40),
    "blue": (30, 60, 220),
    "yellow": (240, 210, 20),
    "purple": (140, 40, 180),
    "orange": (245, 130, 20),
    "cyan": (20, 200, 220),
    "pink": (240, 100, 180),
}
SHAPES = ("circle", "square", "triangle", "diamond")
BACKGROUNDS = ((245, 245, 245), (200, 200, 200), (250, 240, 220), (225, 235, 245))


@dataclass
class DrawnObject:
    shape: str
    color: str
    center: tuple[float, float]  # pixels (x, y)
    radius: float

    @property
    def label(self) -> str:
        return f"{self.color} {self.shape}"

    def to_json(self) -> dict:
        return {"shape": self.shape, "color": self.color, "rgb": COLORS[self.color],
                "center": [round(self.center[0], 3), round(self.center[1], 3)], "radius": self.radius}


def font(size: int = 14) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def draw_shape(draw: ImageDraw.ImageDraw, obj: DrawnObject) -> None:
    x, y, r = obj.center[0], obj.center[1], obj.radius
    fill = COLORS[obj.color]
    if obj.shape == "circle":
        draw.ellipse([x - r, y - r, x + r, y + r], fill=fill)
    elif obj.shape == "square":
        draw.rectangle([x - r, y - r, x + r, y + r], fill=fill)
    elif obj.shape == "triangle":
        draw.polygon([(x, y - r), (x + r, y + r), (x - r, y + r)], fill=fill)
    else:
        draw.polygon([(x, y - r), (x + r, y), (x, y + r), (x - r, y)], fill=fill)


def place_objects(rng: np.random.RandomState, width: int, height: int, specs: list[tuple[str, str]],
                  radius: float = 12.0, margin: float = 4.0) -> list[DrawnObject]:
    """Place objects (shape, colour) at random, non-overlapping positions (rejection sampling)."""
    placed: list[DrawnObject] = []
    for shape, color in specs:
        for _ in range(500):
            x = rng.uniform(radius + margin, width - radius - margin)
            y = rng.uniform(radius + margin, height - radius - margin)
            if all((x - o.center[0]) ** 2 + (y - o.center[1]) ** 2 > (2 * radius + margin) ** 2 for o in placed):
                placed.append(DrawnObject(shape, color, (float(x), float(y)), radius))
                break
        else:
            raise RuntimeError("could not place objects; image too small for this many")
    return placed


def render_scene(width: int, height: int, objects: list[DrawnObject],
                 background: tuple[int, int, int] = BACKGROUNDS[0]) -> Image.Image:
    img = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(img)
    for obj in objects:
        draw_shape(draw, obj)
    return img


def random_scene(rng: np.random.RandomState, width: int = 320, height: int = 240, n_min: int = 1,
                 n_max: int = 8, radius: float = 12.0) -> tuple[Image.Image, list[DrawnObject]]:
    """A scene of several groups of identical objects (same shape and colour within a group)."""
    n_groups = rng.randint(1, 4)
    kinds = set()
    specs: list[tuple[str, str]] = []
    while len(kinds) < n_groups:
        kinds.add((SHAPES[rng.randint(len(SHAPES))], list(COLORS)[rng.randint(len(COLORS))]))
    for kind in sorted(kinds):
        specs += [kind] * rng.randint(n_min, n_max + 1)
    objects = place_objects(rng, width, height, specs, radius)
    bg = BACKGROUNDS[rng.randint(len(BACKGROUNDS))]
    return render_scene(width, height, objects, bg), objects


def plural(shape: str, n: int) -> str:
    return shape if n == 1 else shape + "s"


NUMBER_WORDS = ["no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
                "eleven", "twelve"]


def describe_scene(objects: list[DrawnObject], width: int, height: int) -> str:
    """A true caption of a scene: what there is, how many, and where."""
    groups: dict[str, list[DrawnObject]] = {}
    for o in objects:
        groups.setdefault(o.label, []).append(o)
    parts = []
    for label, objs in sorted(groups.items()):
        color, shape = label.split(" ")
        n = len(objs)
        word = NUMBER_WORDS[n] if n < len(NUMBER_WORDS) else str(n)
        cx = np.mean([o.center[0] for o in objs]) / width
        side = "left" if cx < 0.4 else "right" if cx > 0.6 else "middle"
        parts.append(f"{word} {color} {plural(shape, n)}, mostly on the {side} side")
    return (f"The image is a {width} by {height} pixel drawing on a plain background. It shows "
            + "; ".join(parts) + ". Nothing else is in the picture.")


def pixel_color_name(rgb: np.ndarray, tolerance: int = 60) -> str | None:
    """The name of the palette colour closest to ``rgb`` if within ``tolerance`` (per-channel max)."""
    best, best_d = None, 10**9
    for name, c in COLORS.items():
        d = int(np.max(np.abs(np.asarray(rgb, dtype=int) - np.asarray(c))))
        if d < best_d:
            best, best_d = name, d
    return best if best_d <= tolerance else None
