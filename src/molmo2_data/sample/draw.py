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


def draw_shape(draw: ImageDraw.ImageDraw, obj: DrawnObject, fill: tuple[int, ...] | int | None = None) -> None:
    """Paint an object in its colour (or ``fill``, e.g. 255 on a mask canvas)."""
    x, y, r = obj.center[0], obj.center[1], obj.radius
    fill = COLORS[obj.color] if fill is None else fill
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
        where = "on the left" if cx < 0.4 else "on the right" if cx > 0.6 else "in the middle"
        parts.append(f"{word} {color} {plural(shape, n)}, mostly {where}")
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


# ---------------------------------------------------------------------------------------------
# Documents: charts, tables, diagrams and text pages whose QA answers are true by construction.
# Every text is drawn in flat colours at a recorded position, so a test can re-draw it and compare.
# ---------------------------------------------------------------------------------------------

INK = (20, 20, 20)
PAPER = (255, 255, 255)


@dataclass
class TextItem:
    """A string drawn at a known place (top-left anchor ``xy``) with the default font."""

    text: str
    xy: tuple[int, int]
    size: int
    fill: tuple[int, int, int] = INK
    background: tuple[int, int, int] = PAPER

    def to_json(self) -> dict:
        return {"text": self.text, "xy": list(self.xy), "size": self.size, "fill": list(self.fill),
                "background": list(self.background)}


def draw_text(draw: ImageDraw.ImageDraw, item: TextItem) -> None:
    draw.text(item.xy, item.text, fill=item.fill, font=font(item.size))


def text_box(item: TextItem) -> tuple[int, int, int, int]:
    """Pixel box (x0, y0, x1, y1) the text covers."""
    x0, y0, x1, y1 = font(item.size).getbbox(item.text)
    return item.xy[0] + x0, item.xy[1] + y0, item.xy[0] + x1, item.xy[1] + y1


def text_matches(pixels: np.ndarray, item: dict | TextItem) -> bool:
    """Does ``pixels`` (H, W, 3) show exactly this text at its recorded place? Re-draws it on its
    background and compares the covered box pixel by pixel (same font, same renderer)."""
    if isinstance(item, dict):
        item = TextItem(item["text"], tuple(item["xy"]), item["size"], tuple(item["fill"]),
                        tuple(item["background"]))
    x0, y0, x1, y1 = text_box(item)
    canvas = Image.new("RGB", (pixels.shape[1], pixels.shape[0]), item.background)
    draw_text(ImageDraw.Draw(canvas), item)
    ref = np.asarray(canvas)[y0:y1, x0:x1]
    got = pixels[y0:y1, x0:x1]
    return ref.shape == got.shape and ref.size > 0 and bool(np.array_equal(ref, got))


def render_bar_chart(rng: np.random.RandomState, width: int = 320, height: int = 240) -> tuple[Image.Image, dict]:
    """A labelled bar chart. Truth: per bar its label, value, colour and pixel box; bar height is
    ``value * px_per_unit`` exactly."""
    n = rng.randint(3, 6)
    labels = [str(x) for x in rng.choice(["Apples", "Pears", "Plums", "Kiwis", "Limes", "Figs", "Dates"],
                                         n, replace=False)]
    values = [int(v) for v in rng.randint(1, 21, size=n)]
    colors = [list(COLORS)[i] for i in rng.choice(len(COLORS), n, replace=False)]
    img = Image.new("RGB", (width, height), PAPER)
    draw = ImageDraw.Draw(img)
    title = TextItem("Fruit sold", (8, 4), 14)
    draw_text(draw, title)
    top, baseline = 40, height - 30
    px_per_unit = (baseline - top) // 20
    slot = (width - 20) // n
    bars = []
    draw.line([(10, baseline), (width - 10, baseline)], fill=INK, width=1)
    for i, (label, value, color) in enumerate(zip(labels, values, colors, strict=True)):
        x0 = 10 + i * slot + slot // 4
        x1 = x0 + slot // 2
        y0 = baseline - value * px_per_unit
        draw.rectangle([x0, y0, x1, baseline - 1], fill=COLORS[color])
        value_text = TextItem(str(value), (x0, y0 - 14), 11)
        label_text = TextItem(label, (10 + i * slot + 2, baseline + 6), 11)
        draw_text(draw, value_text)
        draw_text(draw, label_text)
        bars.append({"label": label, "value": value, "color": color, "box": [x0, y0, x1, baseline - 1],
                     "value_text": value_text.to_json(), "label_text": label_text.to_json()})
    truth = {"kind": "bar_chart", "title": title.to_json(), "bars": bars, "baseline": baseline,
             "px_per_unit": px_per_unit, "size": [width, height]}
    return img, truth


def render_table(rng: np.random.RandomState, width: int = 320, height: int = 200) -> tuple[Image.Image, dict]:
    """A grid table with a shaded header. Truth: every cell's text item."""
    columns = ["Name", "Price", "Stock"]
    names = [str(x) for x in rng.choice(["Lamp", "Chair", "Desk", "Shelf", "Sofa", "Stool", "Rug"],
                                        rng.randint(3, 6), replace=False)]
    rows = [[name, f"${int(rng.randint(5, 300))}", str(int(rng.randint(0, 50)))] for name in names]
    header_bg = (210, 225, 240)
    img = Image.new("RGB", (width, height), PAPER)
    draw = ImageDraw.Draw(img)
    col_w, row_h, x_left, y_top = (width - 20) // 3, min(28, (height - 20) // (len(rows) + 1)), 10, 10
    cells: list[list[dict]] = []
    for r, values in enumerate([columns] + rows):
        bg = header_bg if r == 0 else PAPER
        line = []
        for c, value in enumerate(values):
            x, y = x_left + c * col_w, y_top + r * row_h
            draw.rectangle([x, y, x + col_w, y + row_h], fill=bg, outline=INK)
            item = TextItem(value, (x + 5, y + 7), 12, INK, bg)
            draw_text(draw, item)
            line.append(item.to_json())
        cells.append(line)
    return img, {"kind": "table", "columns": columns, "rows": rows, "cells": cells, "size": [width, height]}


def render_diagram(rng: np.random.RandomState, width: int = 320, height: int = 160) -> tuple[Image.Image, dict]:
    """A left-to-right flow diagram of labelled boxes joined by arrows. Truth: box order, boxes."""
    steps = [str(x) for x in rng.choice(["Plan", "Build", "Test", "Ship", "Review", "Design", "Fix"],
                                        rng.randint(3, 5), replace=False)]
    fill = COLORS[list(COLORS)[rng.randint(len(COLORS))]]
    box_fill = tuple(int(255 - (255 - c) * 0.35) for c in fill)  # a light tint keeps text readable
    img = Image.new("RGB", (width, height), PAPER)
    draw = ImageDraw.Draw(img)
    n = len(steps)
    slot = (width - 10) // n
    bw, bh, y0 = slot - 16, 40, height // 2 - 20
    boxes = []
    for i, step in enumerate(steps):
        x0 = 5 + i * slot
        draw.rectangle([x0, y0, x0 + bw, y0 + bh], fill=box_fill, outline=INK)
        item = TextItem(step, (x0 + 5, y0 + 13), 12, INK, box_fill)
        draw_text(draw, item)
        boxes.append({"label": step, "box": [x0, y0, x0 + bw, y0 + bh], "text": item.to_json()})
        if i + 1 < n:
            ax0, ax1, ay = x0 + bw + 1, 5 + (i + 1) * slot - 1, y0 + bh // 2
            draw.line([(ax0, ay), (ax1, ay)], fill=INK, width=2)
            draw.polygon([(ax1, ay), (ax1 - 5, ay - 4), (ax1 - 5, ay + 4)], fill=INK)
    return img, {"kind": "diagram", "steps": steps, "boxes": boxes, "box_fill": list(box_fill),
                 "size": [width, height]}


def render_document(rng: np.random.RandomState, width: int = 300, height: int = 220) -> tuple[Image.Image, dict]:
    """A short invoice-like page of ``field: value`` lines. Truth: each field's value text item."""
    number = f"INV-{int(rng.randint(1000, 9999))}"
    date = f"2024-{int(rng.randint(1, 13)):02d}-{int(rng.randint(1, 29)):02d}"
    customer = str(rng.choice(["Ada Park", "Ben Ortiz", "Chen Li", "Dana Wolf", "Eli Ross"]))
    total = f"${int(rng.randint(10, 999))}.{int(rng.randint(0, 100)):02d}"
    fields = {"Invoice number": number, "Date": date, "Customer": customer, "Total": total}
    img = Image.new("RGB", (width, height), PAPER)
    draw = ImageDraw.Draw(img)
    title = TextItem("INVOICE", (10, 8), 18)
    draw_text(draw, title)
    items = {}
    for i, (name, value) in enumerate(fields.items()):
        y = 48 + i * 30
        draw_text(draw, TextItem(f"{name}:", (10, y), 13))
        item = TextItem(value, (140, y), 13)
        draw_text(draw, item)
        items[name] = item.to_json()
    return img, {"kind": "document", "fields": fields, "values": items, "title": title.to_json(),
                 "size": [width, height]}


def object_mask(obj: DrawnObject, width: int, height: int) -> np.ndarray:
    """(H, W) bool mask of one drawn object (the pixels ``draw_shape`` paints)."""
    canvas = Image.new("L", (width, height), 0)
    draw_shape(ImageDraw.Draw(canvas), obj, fill=255)
    return np.asarray(canvas) > 0
