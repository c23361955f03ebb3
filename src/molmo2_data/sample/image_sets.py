"""Sample writers of the PixMo image sets and CoSyn-point."""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa
from PIL import Image

from molmo2_data import paths
from molmo2_data.media.clock import clock_style, render_clock
from molmo2_data.media.image import encode_jpeg, encode_png
from molmo2_data.sample import atomic, sample_writer
from molmo2_data.sample.context import SampleContext
from molmo2_data.sample.draw import (
    BACKGROUNDS,
    COLORS,
    SHAPES,
    DrawnObject,
    describe_scene,
    object_mask,
    place_objects,
    plural,
    random_scene,
    render_bar_chart,
    render_diagram,
    render_document,
    render_scene,
    render_table,
)


@sample_writer("pixmo-cap")
def write_pixmo_cap(ctx: SampleContext, n_images: int = 40) -> None:
    rng = ctx.rng("pixmo-cap")
    rows: dict[str, list] = {"image_url": [], "caption": [], "transcripts": []}
    for i in range(n_images):
        w, h = int(rng.choice([320, 384, 256])), int(rng.choice([240, 256, 320]))
        img, objects = random_scene(rng, w, h)
        url = ctx.add_url_file(f"pixmo-cap/{i:05d}.jpg", encode_jpeg(img))
        caption = describe_scene(objects, w, h)
        transcripts = [f"Okay so this picture has {len(objects)} shapes in it.",
                       f"I see a {objects[0].label} and some other things."]
        rows["image_url"].append(url)
        rows["caption"].append(caption)
        rows["transcripts"].append(transcripts)
        ctx.record_truth("pixmo-cap", url, {"objects": [o.to_json() for o in objects], "size": [w, h]})
    schema = pa.schema([("image_url", pa.string()), ("caption", pa.string()),
                        ("transcripts", pa.list_(pa.string()))])
    ctx.write_table("pixmo-cap", "train", pa.table(rows, schema=schema))


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _scene_truth(objects: list[DrawnObject], width: int, height: int) -> dict:
    return {"objects": [o.to_json() for o in objects], "size": [width, height]}


def _by_label(objects: list[DrawnObject]) -> dict[str, list[DrawnObject]]:
    groups: dict[str, list[DrawnObject]] = {}
    for o in objects:
        groups.setdefault(o.label, []).append(o)
    return dict(sorted(groups.items()))


def _absent_label(rng: np.random.RandomState, objects: list[DrawnObject]) -> str:
    """A shape/colour combination that is not in the scene (a negative query)."""
    present = {o.label for o in objects}
    while True:
        label = f"{list(COLORS)[rng.randint(len(COLORS))]} {SHAPES[rng.randint(len(SHAPES))]}"
        if label not in present:
            return label


def _percent(objs: list[DrawnObject], width: int, height: int) -> tuple[list[float], list[float]]:
    xs = [round(o.center[0] / width * 100, 3) for o in objs]
    ys = [round(o.center[1] / height * 100, 3) for o in objs]
    return xs, ys


def _image_struct(datas: list[bytes], names: list[str]) -> pa.StructArray:
    """The HF ``Image`` feature layout: struct<bytes: binary, path: string>."""
    return pa.StructArray.from_arrays([pa.array(datas, pa.binary()), pa.array(names, pa.string())],
                                      names=["bytes", "path"])


def _masks_column(masks: list[np.ndarray]) -> pa.ListArray:
    """list<list<list<bool>>> from (K, H, W) bool arrays, built from offsets (no per-pixel objects)."""
    flat = np.concatenate([m.reshape(-1) for m in masks]) if masks else np.zeros(0, bool)
    values = pa.array(flat, pa.bool_())
    row_offsets, mask_offsets, list_offsets = [0], [0], [0]
    for m in masks:
        k, h, w = m.shape if m.size else (0, 0, 0)
        for _ in range(k * h):
            row_offsets.append(row_offsets[-1] + w)
        for _ in range(k):
            mask_offsets.append(mask_offsets[-1] + h)
        list_offsets.append(list_offsets[-1] + k)
    rows = pa.ListArray.from_arrays(pa.array(row_offsets, pa.int32()), values)
    per_mask = pa.ListArray.from_arrays(pa.array(mask_offsets, pa.int32()), rows)
    return pa.ListArray.from_arrays(pa.array(list_offsets, pa.int32()), per_mask)


XY_LIST = pa.list_(pa.struct([("x", pa.float64()), ("y", pa.float64())]))


def _xy_dicts(xs: list[float], ys: list[float]) -> list[dict[str, float]]:
    return [{"x": x, "y": y} for x, y in zip(xs, ys, strict=True)]


# ---------------------------------------------------------------------------------------------
# Pointing and counting
# ---------------------------------------------------------------------------------------------


def _points_eval_scenes(ctx: SampleContext, n: int = 24) -> list[dict]:
    """Images of pixmo-points-eval; pixmo-points also lists a few of them (the reader must drop those)."""
    rng = ctx.rng("pixmo-points-eval")
    scenes = []
    for i in range(n):
        w, h = 288, 224
        img, objects = random_scene(rng, w, h, n_max=4, radius=11)
        data = encode_jpeg(img)
        url = ctx.add_url_file(f"pixmo-points-eval/{i:05d}.jpg", data)
        scenes.append({"url": url, "sha": _sha256(data), "objects": objects, "size": (w, h)})
    return scenes


@sample_writer("pixmo-points-eval")
def write_pixmo_points_eval(ctx: SampleContext) -> None:
    rng = ctx.rng("pixmo-points-eval:rows")
    rows: dict[str, list] = {"image_url": [], "image_sha256": [], "label": [], "points": []}
    masks: list[np.ndarray] = []
    for scene in ctx.shared("pixmo-points-eval", _points_eval_scenes):
        groups = _by_label(scene["objects"])
        label = list(groups)[rng.randint(len(groups))]
        w, h = scene["size"]
        xs, ys = _percent(groups[label], w, h)
        rows["image_url"].append(scene["url"])
        rows["image_sha256"].append(scene["sha"])
        rows["label"].append(label)
        rows["points"].append(_xy_dicts(xs, ys))
        masks.append(np.stack([object_mask(o, w, h) for o in groups[label]]))
        ctx.record_truth("pixmo-points-eval", scene["url"], {**_scene_truth(scene["objects"], w, h), "label": label})
    schema = pa.schema([("image_url", pa.string()), ("image_sha256", pa.string()), ("label", pa.string()),
                        ("points", XY_LIST)])
    table = pa.table(rows, schema=schema).append_column("masks", _masks_column(masks))
    ctx.write_table("pixmo-points-eval", "test", table)


def _points_rows(rows: dict[str, list], url: str, sha: str, label: str, xs: list[float], ys: list[float],
                 method: str) -> None:
    rows["image_url"].append(url)
    rows["image_sha256"].append(sha)
    rows["points"].append(_xy_dicts(xs, ys))
    rows["count"].append(len(xs))
    rows["label"].append(label)
    rows["collection_method"].append(method)


def _counting_scene(rng: np.random.RandomState, sizes: list[int], width: int = 384,
                    height: int = 288) -> tuple[Image.Image, list[DrawnObject]]:
    """Many small objects: one group of ``sizes[k]`` identical objects per label."""
    kinds: list[tuple[str, str]] = []
    while len(kinds) < len(sizes):
        kind = (SHAPES[rng.randint(len(SHAPES))], list(COLORS)[rng.randint(len(COLORS))])
        if kind not in kinds:
            kinds.append(kind)
    specs = [kind for kind, n in zip(kinds, sizes, strict=True) for _ in range(n)]
    objects = place_objects(rng, width, height, specs, radius=5.0, margin=3.0)
    return render_scene(width, height, objects, BACKGROUNDS[rng.randint(len(BACKGROUNDS))]), objects


@sample_writer("pixmo-points")
def write_pixmo_points(ctx: SampleContext, n_pointing: int = 18) -> None:
    rng = ctx.rng("pixmo-points")
    rows: dict[str, list] = {k: [] for k in ("image_url", "image_sha256", "points", "count", "label",
                                              "collection_method")}
    truth: dict[str, dict] = {}
    for i in range(n_pointing):  # "basic" subset: a few objects per label, plus one negative label
        w, h = 320, 240
        img, objects = random_scene(rng, w, h, n_max=5)
        edge = None
        if i == 0:  # an object cut by the left edge, annotated slightly outside the image (clipped)
            edge = DrawnObject("circle", "cyan", (0.0, h / 2), 14.0)
            objects = [o for o in objects if o.label != edge.label]
            img = render_scene(w, h, objects + [edge], BACKGROUNDS[0])
        data = encode_jpeg(img)
        url = ctx.add_url_file(f"pixmo-points/pointing/{i:05d}.jpg", data)
        for label, objs in _by_label(objects).items():
            _points_rows(rows, url, _sha256(data), label, *_percent(objs, w, h), "pointing")
        if edge is not None:
            _points_rows(rows, url, _sha256(data), edge.label, [-0.4], [50.0], "pointing")
            objects = objects + [edge]
        _points_rows(rows, url, _sha256(data), _absent_label(rng, objects), [], [], "pointing")
        truth[url] = _scene_truth(objects, w, h)
    # "high-frequency" subset: many points per label; one label over 60 points (dropped) and one image
    # whose labels total more than 60 points (split into two examples).
    layouts = [[64, 12], [35, 30], [20], [25, 8], [18], [30], [22, 10], [16]]
    for i, sizes in enumerate(layouts):
        img, objects = _counting_scene(rng, sizes)
        w, h = img.size
        data = encode_jpeg(img)
        url = ctx.add_url_file(f"pixmo-points/counting/{i:05d}.jpg", data)
        for label, objs in _by_label(objects).items():
            _points_rows(rows, url, _sha256(data), label, *_percent(objs, w, h), "counting")
        truth[url] = _scene_truth(objects, w, h)
    for scene in ctx.shared("pixmo-points-eval", _points_eval_scenes)[:3]:  # removed by the reader
        label, objs = next(iter(_by_label(scene["objects"]).items()))
        _points_rows(rows, scene["url"], scene["sha"], label, *_percent(objs, *scene["size"]), "pointing")
    for url, value in truth.items():
        ctx.record_truth("pixmo-points", url, value)
    schema = pa.schema([("image_url", pa.string()), ("image_sha256", pa.string()), ("points", XY_LIST),
                        ("count", pa.int64()), ("label", pa.string()), ("collection_method", pa.string())])
    ctx.write_table("pixmo-points", "train", pa.table(rows, schema=schema))


@sample_writer("pixmo-count")
def write_pixmo_count(ctx: SampleContext) -> None:
    rng = ctx.rng("pixmo-count")
    xy = pa.struct([("x", pa.list_(pa.float32())), ("y", pa.list_(pa.float32()))])
    schema = pa.schema([("image_url", pa.string()), ("image_sha256", pa.string()), ("count", pa.int32()),
                        ("points", xy), ("label", pa.string())])
    for split, n, (lo, hi) in (("train", 24, (0, 12)), ("validation", 10, (2, 10)), ("test", 10, (2, 10))):
        rows: dict[str, list] = {k: [] for k in schema.names}
        for i in range(n):
            w, h = int(rng.choice([320, 288])), int(rng.choice([240, 224]))
            target = (SHAPES[rng.randint(len(SHAPES))], list(COLORS)[rng.randint(len(COLORS))])
            other = (SHAPES[(SHAPES.index(target[0]) + 1) % len(SHAPES)], target[1])  # same colour: a distractor
            k = int(rng.randint(lo, hi + 1))
            objects = place_objects(rng, w, h, [target] * k + [other] * int(rng.randint(1, 4)), radius=10.0)
            img = render_scene(w, h, objects, BACKGROUNDS[rng.randint(len(BACKGROUNDS))])
            data = encode_jpeg(img)
            url = ctx.add_url_file(f"pixmo-count/{split}/{i:05d}.jpg", data)
            label = f"{target[1]} {target[0]}"
            mine = [o for o in objects if o.label == label]
            pts = {"x": [o.center[0] for o in mine], "y": [o.center[1] for o in mine]} if split == "train" \
                else {"x": [], "y": []}
            for key, value in (("image_url", url), ("image_sha256", _sha256(data)), ("count", k),
                               ("points", pts), ("label", label)):
                rows[key].append(value)
            ctx.record_truth("pixmo-count", url, {**_scene_truth(objects, w, h), "label": label, "split": split})
        ctx.write_table("pixmo-count", split, pa.table(rows, schema=schema))


# ---------------------------------------------------------------------------------------------
# QA about scenes
# ---------------------------------------------------------------------------------------------


def _scene_qa(rng: np.random.RandomState, objects: list[DrawnObject]) -> list[tuple[str, str]]:
    """True question/answer pairs about a scene of shapes."""
    groups = _by_label(objects)
    qa: list[tuple[str, str]] = []
    for label, objs in groups.items():
        color, shape = label.split(" ")
        qa.append((f"How many {color} {plural(shape, 2)} are there?", str(len(objs))))
    shapes = [lab.split(" ")[1] for lab in groups]
    for label, objs in groups.items():
        color, shape = label.split(" ")
        if shapes.count(shape) == 1:  # only one colour of this shape: the question has one answer
            if len(objs) == 1:
                qa.append((f"What color is the {shape}?", f"The {shape} is {color}."))
            else:
                qa.append((f"What color are the {plural(shape, 2)}?", f"The {plural(shape, 2)} are {color}."))
    absent = _absent_label(rng, objects)
    qa.append((f"Is there a {absent} in the picture?", "No."))
    qa.append((f"Is there a {objects[0].label} in the picture?", "Yes."))
    order = rng.permutation(len(qa))
    return [qa[i] for i in order]


@sample_writer("pixmo-ask-model-anything")
def write_pixmo_ask_model_anything(ctx: SampleContext, n_images: int = 30) -> None:
    rng = ctx.rng("pixmo-ask-model-anything")
    rows: dict[str, list] = {"image_url": [], "image_sha256": [], "question": [], "answer": []}
    for i in range(n_images):
        w, h = 320, 240
        img, objects = random_scene(rng, w, h, n_max=5)
        data = encode_jpeg(img)
        url = ctx.add_url_file(f"pixmo-ask-model-anything/{i:05d}.jpg", data)
        qa = _scene_qa(rng, objects)[: rng.randint(1, 4)]
        for q, a in qa:
            rows["image_url"].append(url)
            rows["image_sha256"].append(_sha256(data))
            rows["question"].append(q)
            rows["answer"].append(a)
        ctx.record_truth("pixmo-ask-model-anything", url, {**_scene_truth(objects, w, h), "qa": qa})
    schema = pa.schema([(k, pa.string()) for k in rows])
    ctx.write_table("pixmo-ask-model-anything", "train", pa.table(rows, schema=schema))


@sample_writer("pixmo-cap-qa")
def write_pixmo_cap_qa(ctx: SampleContext, n_images: int = 30) -> None:
    rng = ctx.rng("pixmo-cap-qa")
    rows: dict[str, list] = {"image_url": [], "question": [], "answer": [], "messages": []}
    for i in range(n_images):
        w, h = 320, 240
        img, objects = random_scene(rng, w, h, n_max=5)
        url = ctx.add_url_file(f"pixmo-cap-qa/{i:05d}.jpg", encode_jpeg(img))
        qa = _scene_qa(rng, objects)
        conversations = []
        for n_turns in ([1, 2] if i % 2 else [3]):  # odd images: a single QA and a 2-turn chat
            turns, qa = qa[:n_turns], qa[n_turns:] or qa
            flat = [t for pair in turns for t in pair]
            question = flat[0] if n_turns == 1 else " ".join(
                f"[{'USER' if k % 2 == 0 else 'ASSISTANT'}] {t}" for k, t in enumerate(flat[:-1]))
            rows["image_url"].append(url)
            rows["question"].append(question)
            rows["answer"].append(flat[-1])
            rows["messages"].append(flat)
            conversations.append(flat)
        ctx.record_truth("pixmo-cap-qa", url, {**_scene_truth(objects, w, h), "conversations": conversations})
    schema = pa.schema([("image_url", pa.string()), ("question", pa.string()), ("answer", pa.string()),
                        ("messages", pa.list_(pa.string()))])
    ctx.write_table("pixmo-cap-qa", "train", pa.table(rows, schema=schema))


# ---------------------------------------------------------------------------------------------
# Documents (embedded images)
# ---------------------------------------------------------------------------------------------


def _chart_qa(t: dict) -> list[tuple[str, str]]:
    bars = t["bars"]
    qa = [(f"What is the value for {b['label']}?", str(b["value"])) for b in bars]
    values = [b["value"] for b in bars]
    if values.count(max(values)) == 1:
        qa.append(("Which fruit has the highest value?", bars[values.index(max(values))]["label"]))
    qa.append(("How many bars are in the chart?", str(len(bars))))
    return qa


def _table_qa(t: dict) -> list[tuple[str, str]]:
    qa = []
    for name, price, stock in t["rows"]:
        qa.append((f"What is the price of the {name.lower()}?", price))
        qa.append((f"How many units of {name.lower()} are in stock?", stock))
    qa.append(("How many items are listed in the table?", str(len(t["rows"]))))
    return qa


def _diagram_qa(t: dict) -> list[tuple[str, str]]:
    steps = t["steps"]
    qa = [(f"Which step comes after {a}?", b) for a, b in zip(steps, steps[1:], strict=False)]
    return qa + [("What is the first step?", steps[0]), ("How many steps are shown?", str(len(steps)))]


def _document_qa(t: dict) -> list[tuple[str, str]]:
    f = t["fields"]
    return [("What is the invoice number?", f["Invoice number"]), ("What is the invoice date?", f["Date"]),
            ("Who is the customer?", f["Customer"]), ("What is the total amount?", f["Total"])]


DOC_KINDS = {"charts": (render_bar_chart, _chart_qa), "tables": (render_table, _table_qa),
             "diagrams": (render_diagram, _diagram_qa), "other": (render_document, _document_qa)}


@sample_writer("pixmo-docs")
def write_pixmo_docs(ctx: SampleContext) -> None:
    rng = ctx.rng("pixmo-docs")
    qa_type = pa.struct([("question", pa.list_(pa.string())), ("answer", pa.list_(pa.string()))])
    image_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    schema = pa.schema([("image", image_type), ("image_id", pa.string()), ("questions", qa_type)])
    for config, (render, make_qa) in DOC_KINDS.items():
        for split, n in (("train", 8), ("validation", 3)):
            datas, names, ids, qas = [], [], [], []
            for i in range(n):
                img, truth = render(rng)
                image_id = f"{config}-{split}-{i:04d}"
                qa = make_qa(truth)
                datas.append(encode_png(img))
                names.append(f"{image_id}.png")
                ids.append(image_id)
                qas.append({"question": [q for q, _ in qa], "answer": [a for _, a in qa]})
                ctx.record_truth("pixmo-docs", image_id, {**truth, "qa": qa})
            table = pa.Table.from_arrays([_image_struct(datas, names), pa.array(ids, pa.string()),
                                          pa.array(qas, qa_type)], schema=schema)
            ctx.write_table("pixmo-docs", split, table, config=config)


@sample_writer("cosyn-point")
def write_cosyn_point(ctx: SampleContext) -> None:
    """The train split in the published layout (card revision 008ee8a: no ``names`` column, labels come
    from the questions); the validation split with ``names``, the layout the official loader reads."""
    rng = ctx.rng("cosyn-point")
    xy = pa.struct([("x", pa.list_(pa.float64())), ("y", pa.list_(pa.float64()))])
    schema = pa.schema([("id", pa.string()), ("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
                        ("questions", pa.list_(pa.string())), ("answer_points", pa.list_(xy)),
                        ("names", pa.list_(pa.string()))])
    for split, n in (("train", 24), ("validation", 6)):
        cols: dict[str, list] = {k: [] for k in ("id", "questions", "answer_points", "names")}
        datas, paths_ = [], []
        for i in range(n):
            w, h = 320, 240
            img, objects = random_scene(rng, w, h, n_max=5)
            ex_id = f"cosyn-point-{split}-{i:05d}"
            questions, answers, names = [], [], []
            for label, objs in _by_label(objects).items():
                color, shape = label.split(" ")
                xs, ys = _percent(objs, w, h)
                questions.append(f"Point to every {color} {shape} in the figure.")
                answers.append({"x": xs, "y": ys})
                names.append(label)
            datas.append(encode_png(img))
            paths_.append(f"{ex_id}.png")
            for key, value in (("id", ex_id), ("questions", questions), ("answer_points", answers), ("names", names)):
                cols[key].append(value)
            ctx.record_truth("cosyn-point", ex_id, _scene_truth(objects, w, h))
        table = pa.Table.from_arrays([pa.array(cols["id"], pa.string()), _image_struct(datas, paths_),
                                      pa.array(cols["questions"], schema.field("questions").type),
                                      pa.array(cols["answer_points"], schema.field("answer_points").type),
                                      pa.array(cols["names"], schema.field("names").type)], schema=schema)
        if split == "train":
            table = table.drop_columns(["names"])
        ctx.write_table("cosyn-point", split, table)


# ---------------------------------------------------------------------------------------------
# Clocks (rendered media)
# ---------------------------------------------------------------------------------------------

TIME_FORMATS = ("Without AM/PM", "With AM/PM", "24 hour")


def _clock_text(hour: int, minute: int, second: int | None, time_format: str) -> tuple[int, str]:
    """(hour shown, answer text) for a 24-h time in one of the sample's time formats."""
    h12 = hour % 12 or 12
    sec = "" if second is None else f":{second:02d}"
    if time_format == "24 hour":
        return hour, f"{hour}:{minute:02d}{sec}"
    if time_format == "With AM/PM":
        return h12, f"{h12}:{minute:02d}{sec} {'AM' if hour < 12 else 'PM'}"
    return h12, f"{h12}:{minute:02d}{sec}"


@sample_writer("pixmo-clocks")
def write_pixmo_clocks(ctx: SampleContext, size: int = 192) -> None:
    rng = ctx.rng("pixmo-clocks")
    schema = pa.schema([("example_id", pa.string()), ("watchface_id", pa.string()),
                        ("watchface_name", pa.string()), ("watch_time", pa.string()), ("time_format", pa.string()),
                        ("shows_seconds", pa.bool_()), ("hour_visible", pa.int32()), ("minute_visible", pa.int32()),
                        ("second_visible", pa.int32()), ("text", pa.string())])
    faces = [clock_style(rng) for _ in range(6)]
    out_dir = paths.clock_dir(ctx.root)
    out_dir.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", 28), ("validation", 8)):
        rows: dict[str, list] = {k: [] for k in schema.names}
        for i in range(n):
            face = int(rng.randint(len(faces)))
            hour, minute = int(rng.randint(24)), int(rng.randint(60))
            shows_seconds = bool(rng.rand() < 0.7)
            second = int(rng.randint(60)) if shows_seconds else None
            time_format = TIME_FORMATS[rng.randint(len(TIME_FORMATS))]
            hour_shown, text = _clock_text(hour, minute, second, time_format)
            example_id = f"{split}-{i:06d}"
            with atomic.atomic_path(out_dir / f"{example_id}.png") as tmp:
                render_clock(hour_shown, minute, second, size=size, style=faces[face]).save(tmp, format="PNG")
            values = {"example_id": example_id, "watchface_id": f"face-{face:03d}",
                      "watchface_name": f"Sample face {face}", "watch_time": f"{hour:02d}:{minute:02d}:{second or 0:02d}",
                      "time_format": time_format, "shows_seconds": shows_seconds, "hour_visible": hour_shown,
                      "minute_visible": minute, "second_visible": -1 if second is None else second, "text": text}
            for k, v in values.items():
                rows[k].append(v)
            ctx.record_truth("pixmo-clocks", example_id, {"hour": hour, "minute": minute, "second": second,
                                                          "size": size, "style": faces[face].to_json()})
        ctx.write_table("pixmo-clocks", split, pa.table(rows, schema=schema))
