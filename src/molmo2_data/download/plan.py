"""What to download for a stage, what media a local table needs, and what is present.

Dataset knowledge comes from the reader classes (``HF_PATH``, ``CONFIGS``, ``SPLITS``, ``MEDIA``) and
the local tables themselves (URL / hash / video columns), so a reader added later is downloadable
without touching this module; only the verification exceptions of DATASETS.md §1/§5 are listed here.
"""

from __future__ import annotations

import inspect
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.compute as pc

from molmo2_data import paths
from molmo2_data.datasets.base import HeldOut
from molmo2_data.datasets.media_store import VideoFinder, list_names
from molmo2_data.download.fetch import MediaItem
from molmo2_data.download.manifest import OK, TRANSIENT, Record
from molmo2_data.download.verify import DECODE, SHA256, SHA256_SOFT, VIDEO
from molmo2_data.errors import ConfigError, SchemaError
from molmo2_data.tables import read_table

PRETRAINING = ("pixmo-cap", "pixmo-points", "pixmo-count", "pixmo-docs", "pixmo-cap-qa")
SFT = ("molmo2-cap", "molmo2-videocapqa", "molmo2-videosubtitleqa", "molmo2-askmodelanything",
       "molmo2-videopoint", "molmo2-videotrack", "molmo2-multiimageqa", "molmo2-synmultiimageqa",
       "molmo2-multiimagepoint", "molmo2-academic-video-points",
       # the rest of the official SFT mixture (MIXTURES.md §3): demo, image pointing, text, hardcodes
       "pixmo-ask-model-anything", "pixmo-cap", "pixmo-cap-qa", "pixmo-points", "pixmo-count", "cosyn-point",
       "molmo2-tulu4", "molmo2-hardcodes",
       # image academic (IMAGE_ACADEMIC_DATASETS)
       "vqa-v2", "text-vqa", "ok-vqa", "chart-qa", "doc-qa", "info-qa", "ai2d", "a-okvqa", "science-qa-img",
       "tabmwp", "st-qa", "tally-qa", "mantis-llava-665k-multi", "mantis-nlvr2", "mantis-spot-the-diff", "dv-qa",
       "figure-qa", "plot-qa", "cosyn-400k",
       # academic tracking (TRACKING_MIXTURE)
       "mevis", "ref-yt-vos", "ref-davis17", "burst", "lv-vis", "yt-vis", "vicas", "revos", "moca", "lvosv1", "lvosv2",
       "lasot", "uwcot", "webuot", "latot", "tnl2k", "tnllt", "webuav", "got10k", "vasttrack", "trackingnet",
       "molmo2-track-instruction",
       # academic video QA, labels and captions (VIDEO_ACADEMIC_DATASETS): annotation files, videos by hand
       "tgif", "tvqa", "paxion", "llava-video-mc-academic", "llava-video-oe-academic", "perception-test", "nextqa",
       "news-video-qa", "how2qa", "sutd-trafficqa", "social-iq2", "sportsqa", "cinepile", "clevrer", "funqa", "star",
       "intent-qa", "road-text-vqa", "countix", "camerabench", "motionbench-caption", "moments-in-time",
       "kinetics-710", "charades-sta", "coin", "youcook2", "activitynet", "ego4d", "epic-kitchens",
       "video-localized-narratives", "video-localized-narratives-caption", "qv-highlights")
STAGES: dict[str, tuple[str, ...]] = {
    "pretraining": PRETRAINING,
    "sft": SFT,
    "long-context": SFT,  # the long-context stage trains on the SFT mixture (MIXTURES.md §1)
}
# Evaluation data: dataset -> our split names (None = all splits).
EVAL: dict[str, tuple[str, ...] | None] = {"pixmo-points-eval": None, "pixmo-count": ("validation", "test"),
                                           "molmo2-videocounteval": None, "molmo2-videopointeval": None,
                                           "molmo2-capeval": None, "mmmu": ("validation",)}

# Verification exceptions (DATASETS.md §1, §5). Others: byte hash column -> sha256, else decode.
POLICY_OVERRIDES = {
    "pixmo-count": SHA256_SOFT,  # has image_sha256 but the official download disables the check
    "molmo2-multiimagepoint": DECODE,  # image_sha256s holds sha256 of the URL string, not of bytes
}
URL_HASH_COLUMNS = {"molmo2-multiimagepoint": "image_sha256s"}


@dataclass
class Target:
    name: str
    cls: Any
    splits: tuple[str, ...] | None = None  # our split names; None = all

    @property
    def media(self) -> str:
        return getattr(self.cls, "MEDIA", "none")

    def source_splits(self) -> list[str]:
        out: list[str] = []
        for s, spec in self.cls.SPLITS.items():
            if self.splits is not None and s not in self.splits:
                continue
            src = spec.source if isinstance(spec, HeldOut) else spec
            if src not in out:
                out.append(src)
        return out

    def tables(self) -> list[tuple[str, str]]:
        """(config, split) of every published table this target wants."""
        layout = getattr(self.cls, "source_tables", None)
        return [pair for s in self.source_splits()
                for pair in (layout(s) if layout else [(c, s) for c in self.cls.CONFIGS])]

    def table_files(self, root: Path) -> list[Path]:
        return [p for c, s in self.tables() if (p := paths.table_path(self.name, c, s, root)).exists()]


def resolve_targets(stage: str | None, datasets: list[str] | None, include_eval: bool) -> list[Target]:
    """Datasets named explicitly win over the stage; eval sets are added with ``include_eval``."""
    from molmo2_data.datasets import canonical_name, dataset_class

    if stage not in (None, "all", *STAGES):
        raise ConfigError(f"unknown stage {stage!r} (valid: {', '.join([*STAGES, 'all'])})")
    chosen: dict[str, tuple[str, ...] | None] = {}
    if datasets:
        for d in datasets:
            chosen[canonical_name(d)] = None
    else:
        for s in (STAGES if stage in (None, "all") else {stage: STAGES[stage]}).values():
            for d in s:
                chosen[d] = None
    if include_eval:
        for d, splits in EVAL.items():
            if d in chosen and chosen[d] is None:
                continue  # already all splits
            chosen[d] = splits
    return [Target(n, dataset_class(n), sp) for n, sp in chosen.items()]


# ---------------------------------------------------------------------------------------------
# URL media
# ---------------------------------------------------------------------------------------------


def url_columns(table: pa.Table) -> tuple[str, str | None, bool] | None:
    """(URL column, hash column or None, is list column) of a table, or None if it names no URLs."""
    cols = table.column_names
    if "image_url" in cols:
        return "image_url", ("image_sha256" if "image_sha256" in cols else None), False
    if "image_urls" in cols:
        return "image_urls", ("image_sha256s" if "image_sha256s" in cols else None), True
    return None


def url_hash_pairs(table: pa.Table) -> pa.Table | None:
    """Distinct (url, sha) pairs of a table, flattening list columns; computed in Arrow, not Python."""
    spec = url_columns(table)
    if spec is None:
        return None
    ucol, hcol, is_list = spec
    url = table.column(ucol)
    sha = table.column(hcol) if hcol else None
    if is_list:
        url = pc.list_flatten(url)
        if sha is not None:
            sha = pc.list_flatten(sha)
            if len(sha) != len(url):
                sha = None  # ragged lists: hashes cannot be paired with URLs
    return distinct_pairs(url, sha, "url", "sha")


def _url_pairs_of(path: Path) -> pa.Table | None:
    """``url_hash_pairs`` of a local table; a URL or hash column of the wrong type is a SchemaError
    naming the table and column (not an Arrow error from deep inside)."""
    table = read_table(path)
    spec = url_columns(table)
    if spec is not None:
        for col in spec[:2]:
            if col is None:
                continue
            t = table.schema.field(col).type
            is_list = pa.types.is_list(t) or pa.types.is_large_list(t)
            inner = t.value_type if is_list else t
            if is_list != spec[2] or not (pa.types.is_string(inner) or pa.types.is_large_string(inner)):
                want = "lists of strings" if spec[2] else "strings"
                raise SchemaError(f"{path}: column {col!r} must hold {want}, has {t}")
    return url_hash_pairs(table)


def distinct_pairs(a: pa.Array | pa.ChunkedArray, b: pa.Array | pa.ChunkedArray | None, name_a: str,
                   name_b: str) -> pa.Table:
    """Distinct (a, b) string pairs with ``a`` not null (``b`` null -> null), without Acero."""
    b = pa.nulls(len(a), pa.string()) if b is None else b
    joined = pc.binary_join_element_wise(a, pc.fill_null(b, "\x00"), "\x1f")
    parts = pc.split_pattern(pc.unique(pc.drop_null(joined)), "\x1f", max_splits=1)
    first = pc.list_element(parts, 0)
    second = pc.list_element(parts, 1)
    second = pc.if_else(pc.equal(second, "\x00"), pa.scalar(None, pa.string()), second)
    return pa.table({name_a: first, name_b: second})


def media_items(target: Target, root: Path, shard: tuple[int, int] | None = None) -> tuple[list[MediaItem], Counter[str]]:
    """The URL media the local tables of ``target`` name, with their verification policy, sorted by
    cache key (a fixed pseudo-random order that mixes hosts), restricted to one shard."""
    notes: Counter[str] = Counter()
    by_url: dict[str, set[str]] = {}
    has_hash_col = False
    for f in target.table_files(root):
        pairs = _url_pairs_of(f)
        if pairs is None:
            continue
        urls = pairs.column("url").to_pylist()
        shas = pairs.column("sha").to_pylist()
        has_hash_col |= pairs.column("sha").null_count < len(pairs)
        for u, h in zip(urls, shas, strict=True):
            s = by_url.setdefault(u, set())
            if h:
                s.add(h.lower())
    policy = POLICY_OVERRIDES.get(target.name, SHA256 if has_hash_col else DECODE)
    url_hash = target.name in URL_HASH_COLUMNS
    items = []
    for u, hashes in by_url.items():
        key = paths.url_key(u)
        if shard and shard[1] > 1 and int(key[:8], 16) % shard[1] != shard[0]:
            continue
        if url_hash:
            if hashes and key not in hashes:
                notes["table hash is not sha256(url)"] += 1
            items.append(MediaItem(u, (), DECODE))
        else:
            items.append(MediaItem(u, tuple(sorted(hashes)), policy if hashes else DECODE))
        if len(hashes) > 1 and not url_hash:
            notes["URL listed with several hashes (any accepted)"] += 1
    items.sort(key=lambda it: paths.url_key(it.url))
    return items, notes


# ---------------------------------------------------------------------------------------------
# Videos
# ---------------------------------------------------------------------------------------------

VIDEO_HOWTO = {
    "youtube": "YouTube videos by id (https://www.youtube.com/watch?v=<id>, e.g. with yt-dlp); the card's "
               "youtube_id_to_urls_mapping.json lists mirrors for some sets",
    "generated": "the generated_videos/ folder of the Hugging Face repo allenai/Molmo2-VideoPoint",
    "MammalNet": "MammalNet trimmed videos (manual download from the MammalNet project), re-encoded at 2 fps",
    "tracking": "frames/videos of the source tracking dataset (MOSE, SA-V, SportsMOT, ...; several need an "
                "agreement), encoded to mp4",
    "academic-points": "the 2 fps videos of LV-VIS / OVIS / TAO-Amodal (BURST) / Ref-DAVIS17 / MeViS / "
                       "Ref-YouTube-VOS (official videos-2fps folders; each source's terms), by subset and split",
    "vimeo": "vimeo_videos.zip in the Hugging Face repo allenai/Molmo2-CapEval, unzipped here",
    "bdd100k": "BDD100K videos (manual download under the BDD100K license)",
    "ego4d": "Ego4D clips (manual download under the Ego4D license), cut to the row's bounds and named "
             "<id>_bounded_decimal_2_<start>_<end>.mp4",
}


def video_needs(target: Target, table: pa.Table, split: str | None = None) -> list[tuple[str, str]]:
    """(source directory under media/videos, video id) pairs a video table (of source split ``split``)
    needs, distinct."""
    hook = getattr(target.cls, "video_needs", None)
    if hook is not None:  # a reader whose file names are not plain ids (Molmo2-CapEval)
        if split is not None and "split" in inspect.signature(hook).parameters:
            return list(hook(table, split=split))  # paths that depend on the split (academic video points)
        return list(hook(table))
    cols = table.column_names
    if "video_dataset" in cols and "video" in cols:  # tracking: media/videos/tracking/<dataset>/<video>
        ids = pc.binary_join_element_wise(pc.fill_null(table.column("video_dataset"), ""),
                                          table.column("video"), "/")
        return [("tracking", v) for v in pc.unique(ids.combine_chunks()).to_pylist() if v]
    if "video_source" in cols and "video_id" in cols:
        pairs = distinct_pairs(table.column("video_id"), table.column("video_source"), "v", "s")
        return [(s, v) for s, v in zip(pairs.column("s").to_pylist(), pairs.column("v").to_pylist(), strict=True)
                if s and v]
    if "video_id" in cols:
        source = getattr(target.cls, "VIDEO_SOURCE", "youtube")
        return [(source, v) for v in pc.unique(table.column("video_id").combine_chunks()).to_pylist() if v]
    return []


MAPPING_FILE = "youtube_id_to_urls_mapping.json"  # in the Hub repos of the YouTube-based sets


def mapped_urls(value: Any) -> list[str]:
    """Downloadable (non-YouTube) http(s) URLs in one mapping entry, whatever its shape (a string, a
    list, or a dict of named URLs); ``gs://bucket/path`` becomes its public HTTPS form. Mirrors on
    storage.googleapis.com first."""
    found: list[str] = []
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            if v.startswith("gs://"):
                v = "https://storage.googleapis.com/" + v[len("gs://"):]
            host = urlsplit(v).netloc.lower()
            if v.startswith(("http://", "https://")) and "youtube.com" not in host and "youtu.be" not in host:
                found.append(v)
        elif isinstance(v, dict):
            stack.extend(reversed(list(v.values())))
        elif isinstance(v, list | tuple):
            stack.extend(reversed(v))
    return sorted(found, key=lambda u: "storage.googleapis.com" not in u)


def video_items(target: Target, root: Path, mapping: dict[str, Any]) -> list[MediaItem]:
    """Missing YouTube videos of ``target`` that the mapping file gives a downloadable URL for; each
    lands at media/videos/youtube/<id>.<ext>, checked by decoding its first frame."""
    needs: set[tuple[str, str]] = set()
    for f in target.table_files(root):
        needs.update(video_needs(target, read_table(f), f.stem))
    finder = VideoFinder(["youtube"], root)
    items = []
    for source, vid in sorted(needs):
        if source != "youtube" or finder.find(vid) is not None or vid not in mapping:
            continue
        urls = mapped_urls(mapping[vid])
        if not urls:
            continue
        ext = os.path.splitext(urlsplit(urls[0]).path)[1].lower()
        name = vid + (ext if ext in paths.VIDEO_EXTENSIONS else ".mp4")
        items.append(MediaItem(urls[0], (), VIDEO, name=name, record_as=f"youtube/{vid}"))
    return items


# ---------------------------------------------------------------------------------------------
# Reports (--check and the final summary)
# ---------------------------------------------------------------------------------------------


@dataclass
class Report:
    name: str
    media: str
    rows: int = 0
    tables: int = 0
    needed: int = 0  # distinct media files the tables name
    ok: int = 0
    failed: Counter[str] = field(default_factory=Counter)  # permanent, by reason
    transient: Counter[str] = field(default_factory=Counter)
    bytes: int = 0
    notes: Counter[str] = field(default_factory=Counter)
    missing_list: Path | None = None  # file listing what to fetch by hand
    status: str = "ok"

    @property
    def missing(self) -> int:
        return self.needed - self.ok

    def availability(self) -> str:
        unit = {"url_image": "images", "video": "videos", "local_image": "image files"}.get(self.media, "files")
        if not self.tables:
            return f"{self.name}: no local table"
        if self.media not in ("url_image", "video", "local_image"):
            return f"{self.name}: {self.rows:,} rows ({self.media} media)"
        pct = 100.0 * self.ok / self.needed if self.needed else 0.0
        return f"{self.name}: {self.ok:,} / {self.needed:,} {unit} ({pct:.1f}%)"


def check(target: Target, root: Path, records: dict[str, Record] | None = None, stat_bytes: bool = True,
          shard: tuple[int, int] | None = None) -> Report:
    """What is on disk for ``target``: rows, media present / failed (with reasons) / missing, bytes."""
    rep = Report(target.name, target.media)
    files = target.table_files(root)
    rep.tables = len(files)
    manual = getattr(target.cls, "MANUAL", None)
    if manual is not None:
        _note_manual(target, root, rep)
    if not files:
        rep.status = "no table" if manual is None else "fetch by hand"
        return rep
    for f in files:
        rep.rows += _rows(f)
        if target.media not in ("url_image", "video"):
            rep.bytes += f.stat().st_size
    if target.media == "url_image":
        _check_urls(target, root, rep, records or {}, stat_bytes, shard)
    elif target.media == "video":
        _check_videos(target, root, rep, records or {}, stat_bytes)
    elif target.media == "local_image":
        _check_files(target, root, rep, stat_bytes)
    rep.status = "complete" if rep.missing == 0 else "partial"
    return rep


def _rows(path: Path) -> int:
    return read_table(path).num_rows


def _check_urls(target: Target, root: Path, rep: Report, records: dict[str, Record], stat_bytes: bool,
                shard: tuple[int, int] | None) -> None:
    items, notes = media_items(target, root, shard)
    rep.notes.update(notes)
    store = paths.image_dir(root)
    have = list_names(store)
    rep.needed = len(items)
    for it in items:
        key = paths.url_key(it.url)
        if key in have:
            rep.ok += 1
            if stat_bytes:
                try:
                    rep.bytes += os.stat(store / key).st_size
                except OSError:
                    pass
            continue
        r = records.get(it.url)
        if r is None or r.status == OK:
            continue
        (rep.transient if r.status == TRANSIENT else rep.failed)[r.reason] += 1


def _check_videos(target: Target, root: Path, rep: Report, records: dict[str, Record], stat_bytes: bool) -> None:
    needs: list[tuple[str, str]] = []
    for f in target.table_files(root):
        needs.extend(video_needs(target, read_table(f), f.stem))
    needs = sorted(set(needs))
    finders: dict[str, VideoFinder] = {}
    missing: list[tuple[str, str]] = []
    for source, vid in needs:
        finder = finders.get(source) or finders.setdefault(source, VideoFinder([source], root))
        found = finder.find(vid) or _frame_folder(root, source, vid)
        if found is None:
            missing.append((source, vid))
            r = records.get(f"{source}/{vid}")  # a mapped download that failed
            if r is not None and r.status != OK:
                (rep.transient if r.status == TRANSIENT else rep.failed)[r.reason] += 1
            continue
        rep.ok += 1
        if stat_bytes:
            rep.bytes += _size(found)
    rep.needed = len(needs)
    out = root / "manifests" / f"{target.name}.missing-videos.tsv"
    if missing:
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(out, "w", encoding="utf-8") as fh:
            fh.write("source\tvideo_id\tput_it_at\n")
            for source, vid in missing:
                name = vid if os.path.splitext(vid)[1].lower() in paths.VIDEO_EXTENSIONS else f"{vid}.mp4"
                fh.write(f"{source}\t{vid}\tmedia/videos/{source}/{name}\n")
        rep.missing_list = out
        for source, n in Counter(s for s, _ in missing).items():
            manual = getattr(target.cls, "MANUAL", None)
            howto = VIDEO_HOWTO.get(source) or (manual.what if manual is not None else "manual download")
            rep.notes[f"missing {source} videos: {howto}"] = n
    elif out.exists():
        out.unlink()


def _frame_folder(root: Path, source: str, vid: str) -> str | None:
    """A video stored as a folder of frames (media/videos/<source>/<id>/*.jpg) counts as present."""
    from molmo2_data.example import frame_folder_names

    folder = paths.video_dir(source, root) / vid
    return str(folder) if frame_folder_names(folder) else None


def _size(path: str) -> int:
    """Bytes of a video file, or of the files of a frame folder."""
    if os.path.isdir(path):
        with os.scandir(path) as it:
            return sum(e.stat().st_size for e in it if e.is_file())
    return os.path.getsize(path)


# ---------------------------------------------------------------------------------------------
# Hand-fetched sources and image files named by relative path
# ---------------------------------------------------------------------------------------------


def _note_manual(target: Target, root: Path, rep: Report) -> None:
    """Which hand-fetched files are missing (the report says what to fetch and where)."""
    src = target.cls.MANUAL
    base = paths.manual_dir(target.name, root)
    missing = [s for s in target.source_splits() if s in src.files and not (base / src.files[s]).exists()]
    if missing:
        rep.notes[f"hand-fetched files missing ({', '.join(missing)}): {src.what} Put them at "
                  + ", ".join(str(base / src.files[s]) for s in missing)
                  + f", then run `molmo2-data download --datasets {target.name}`"] = len(missing)


def _check_files(target: Target, root: Path, rep: Report, stat_bytes: bool) -> None:
    """Image files a table names by relative path: present, or listed (with where they go) in
    manifests/<name>.missing-files.tsv."""
    from molmo2_data.datasets.local_files import present_paths

    column = getattr(target.cls, "IMAGE_COLUMN", "image")
    base = target.cls.files_base_for(root)
    wanted: set[str] = set()
    for f in target.table_files(root):
        col = read_table(f).column(column).combine_chunks()
        if pa.types.is_list(col.type) or pa.types.is_large_list(col.type):
            col = pc.list_flatten(col)
        wanted.update(v for v in pc.unique(col).to_pylist() if v)
    names = sorted(wanted)
    ok = present_paths(pa.array(names, pa.string()), base) if names else []
    rep.needed = len(names)
    rep.ok = int(sum(ok))
    if stat_bytes:
        rep.bytes += sum(os.path.getsize(base / n) for n, present in zip(names, ok, strict=True) if present)
    out = root / "manifests" / f"{target.name}.missing-files.tsv"
    missing = [n for n, present in zip(names, ok, strict=True) if not present]
    if missing:
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(out, "w", encoding="utf-8") as fh:
            fh.write("path\tput_it_at\n")
            for n in missing:
                fh.write(f"{n}\t{base / n}\n")
        rep.missing_list = out
        rep.notes[f"image files missing: {getattr(target.cls, 'FILES_HOWTO', '') or 'fetch by hand'}"] = len(missing)
    elif out.exists():
        out.unlink()
