"""Sample writers of the PixMo image sets and CoSyn-point."""

from __future__ import annotations

import pyarrow as pa

from molmo2_data.media.image import encode_jpeg
from molmo2_data.sample.context import SampleContext
from molmo2_data.sample.draw import describe_scene, random_scene
from molmo2_data.sample import sample_writer


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
