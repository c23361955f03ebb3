"""Readers of the PixMo image datasets (allenai/pixmo-*), in their published schemas.

URL-based sets have one row per annotation; rows are grouped by ``image_url`` into one example per
image (a message tree), as the official download step does. Images come from the local image store
(``media/images/<sha256(url)>``); groups whose image is missing are skipped and counted.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from molmo2_data.datasets.base import HeldOut, TableDataset, index_from_mask
from molmo2_data.datasets.media_store import url_image_file, url_images_present
from molmo2_data.datasets.registry import register_dataset
from molmo2_data.example import Caption, Example, ImageRef, Metadata
from molmo2_data.tables import group_rows, is_list, is_string


class UrlImageDataset(TableDataset):
    """Shared index building of URL-image sets: group by URL, drop groups without a local image."""

    MEDIA: ClassVar[str] = "url_image"
    URL_COLUMN: ClassVar[str] = "image_url"

    def row_filter(self, table: pa.Table) -> np.ndarray | None:
        """Per-row keep mask for the dataset's official filters (None = keep all). Subclasses count
        what they drop in ``self.skipped``."""
        return None

    def build_index(self, table: pa.Table) -> dict[str, np.ndarray]:
        urls = table.column(self.URL_COLUMN)
        order, offsets, _ = group_rows(urls)
        keep = self.row_filter(table)
        present = url_images_present(urls, self.root)
        first = order[offsets[:-1]]
        group_present = present[first]
        n_missing = int((~group_present).sum())
        if n_missing:
            self.skipped["image missing locally"] += n_missing
        return index_from_mask(order, offsets, keep_rows=keep, keep_groups=group_present)

    def image(self, rows: np.ndarray) -> ImageRef:
        url = self.data.column(self.URL_COLUMN)[int(rows[0])].as_py()
        return ImageRef(path=url_image_file(url, self.root), source=url)

    def metadata(self, rows: np.ndarray, **source_ids: Any) -> Metadata:
        url = self.data.column(self.URL_COLUMN)[int(rows[0])].as_py()
        return Metadata(dataset=self.NAME, split=self.split, rows=tuple(int(r) for r in rows),
                        source_ids={"image_url": url, **source_ids})


def nonempty_strings(table: pa.Table, column: str) -> np.ndarray:
    col = table.column(column)
    ok = pc.fill_null(pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(col)), 0), False)
    return ok.to_numpy(zero_copy_only=False)


@register_dataset("pixmo-cap")
class PixMoCap(UrlImageDataset):
    """Dense captions (allenai/pixmo-cap). ``mode="caption"`` (SFT: the caption only) or
    ``mode="transcripts"`` (pre-training: caption + one transcript drawn with the example rng, a
    two-annotation tree). ``validation`` is the official 2,048-image hold-out (seed 96817)."""

    NAME = "pixmo-cap"
    HF_PATH = "allenai/pixmo-cap"
    SPLITS = {"train": HeldOut(), "validation": HeldOut()}
    COLUMNS = {"image_url": is_string, "caption": is_string, "transcripts": is_list}

    def __init__(self, split: str = "train", mode: str = "caption", **kw: Any):
        if mode not in ("caption", "transcripts"):
            raise ValueError(f"pixmo-cap: mode must be 'caption' or 'transcripts', got {mode!r}")
        self.mode = mode
        super().__init__(split, **kw)

    def row_filter(self, table: pa.Table) -> np.ndarray:
        keep = nonempty_strings(table, "caption")
        if (~keep).any():
            self.skipped["empty caption"] += int((~keep).sum())
        return keep

    def build_example(self, rows: np.ndarray, group: int, rng: np.random.RandomState) -> Example:
        anns: list[Any] = []
        for row in self.row_dicts(rows, ["caption", "transcripts"]):
            anns.append(Caption(row["caption"], style="long_caption"))
            transcripts = [t for t in (row["transcripts"] or []) if t and t.strip()]
            if self.mode == "transcripts" and transcripts:
                anns.append(Caption(transcripts[rng.randint(len(transcripts))], style="transcript"))
        return Example(annotations=anns, metadata=self.metadata(rows), images=(self.image(rows),))
