"""Tables from the Hugging Face Hub: the parquet files of the wanted configs and splits, converted to
local Arrow IPC stream tables (``tables/<name>/<config>/<split>.arrow``) in the published schema.

Everything goes through ``huggingface_hub`` (``hf_hub_download`` for the card, ``snapshot_download``
with ``allow_patterns`` for the parquet files), so the Hub cache, ``HF_ENDPOINT``, ``HF_TOKEN``,
``HF_HOME`` / ``HF_HUB_CACHE`` and ``HF_HUB_OFFLINE`` behave as everywhere else. The settings are read
from the environment at call time (huggingface_hub reads some of them once, at import).

Which files belong to a (config, split) comes from the ``configs:`` section of the dataset card
(README front matter), else from the Hub's default file-name conventions.
"""

from __future__ import annotations

import fnmatch
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from molmo2_data import paths
from molmo2_data.errors import DatasetNotAvailableError, SchemaError

TRUTHY = {"1", "true", "yes", "on"}


@dataclass
class TableResult:
    config: str
    split: str
    path: Path | None
    rows: int = 0
    status: str = "ok"  # ok | cached | missing
    detail: str = ""


def hub_settings() -> dict:
    """huggingface_hub arguments from the environment, read now (not at import)."""
    cache = os.environ.get("HF_HUB_CACHE")
    if not cache and os.environ.get("HF_HOME"):
        cache = os.path.join(os.path.expanduser(os.environ["HF_HOME"]), "hub")
    return {
        "endpoint": (os.environ.get("HF_ENDPOINT") or "").rstrip("/") or None,
        "token": os.environ.get("HF_TOKEN") or None,
        "cache_dir": cache or None,
        "local_files_only": os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in TRUTHY,
    }


def parse_card_configs(readme: str) -> dict[str, dict[str, list[str]]]:
    """``configs:`` of a dataset card -> {config: {split: [glob patterns]}}. Empty if none."""
    if not readme.startswith("---"):
        return {}
    end = readme.find("\n---", 3)
    if end < 0:
        return {}
    try:
        meta = yaml.safe_load(readme[3:end]) or {}
    except yaml.YAMLError:
        return {}
    out: dict[str, dict[str, list[str]]] = {}
    for cfg in meta.get("configs") or []:
        if not isinstance(cfg, dict):
            continue
        name = str(cfg.get("config_name", "default"))
        files = cfg.get("data_files")
        splits: dict[str, list[str]] = {}
        if isinstance(files, str):
            splits["train"] = [files]
        elif isinstance(files, list):
            for entry in files:
                if isinstance(entry, str):
                    splits.setdefault("train", []).append(entry)
                elif isinstance(entry, dict) and "split" in entry:
                    p = entry.get("path", [])
                    splits.setdefault(str(entry["split"]), []).extend([p] if isinstance(p, str) else list(p))
        elif isinstance(files, dict):
            for split, p in files.items():
                splits[str(split)] = [p] if isinstance(p, str) else list(p)
        out[name] = splits
    return out


def default_patterns(config: str, split: str) -> list[str]:
    """The Hub's file-name conventions when the card declares no configs."""
    if config == "default":
        return [f"data/{split}-*", f"data/{split}/*", f"data/{split}.parquet", f"{split}-*", f"{split}/*",
                f"{split}.parquet", f"default/{split}/*"]
    return [f"{config}/{split}-*", f"{config}/{split}/*", f"{config}/{split}.parquet", f"data/{config}/{split}-*",
            f"data/{config}/{split}/*", f"data/{config}-{split}-*"]


def patterns_for(layout: dict[str, dict[str, list[str]]], config: str, split: str) -> list[str] | None:
    """Glob patterns of (config, split); None when the card declares configs but not this split."""
    if not layout:
        return default_patterns(config, split)
    cfg = layout.get(config)
    if cfg is None and config == "default" and len(layout) == 1:
        cfg = next(iter(layout.values()))
    if cfg is None:
        return None
    return cfg.get(split)


def match_files(folder: Path, patterns: list[str]) -> list[Path]:
    """Parquet files under ``folder`` whose repo-relative path matches a pattern (sorted)."""
    found = []
    for dirpath, _dirs, files in os.walk(folder):
        for fn in files:
            if not fn.endswith(".parquet"):
                continue
            rel = os.path.relpath(os.path.join(dirpath, fn), folder).replace(os.sep, "/")
            if any(fnmatch.fnmatchcase(rel, p) or fnmatch.fnmatchcase(rel, p.replace("**/", "")) for p in patterns):
                found.append(Path(dirpath) / fn)
    return sorted(found)


def parquet_to_table(files: list[Path], dest: Path) -> int:
    """Stream parquet files into one Arrow IPC stream table (temp file + rename); returns rows.

    A file that is not parquet (or is truncated), or shards whose schemas cannot be unified, raise
    SchemaError naming the file: the dataset is reported and the other datasets of the run go on."""
    current = files[0] if files else None
    try:
        schemas = []
        for current in files:
            schemas.append(pq.read_schema(current))
        current = None
        schema = schemas[0] if len(schemas) == 1 else pa.unify_schemas(schemas, promote_options="permissive")
    except (pa.ArrowException, OSError) as e:
        what = f"parquet file {current.name} is unreadable" if current is not None else "parquet shards do not agree"
        raise SchemaError(f"{dest.parent.parent.name}: {what}: {e}") from e
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + f".tmp{os.getpid()}")
    rows = 0
    try:
        with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
            for current in files:
                for batch in pq.ParquetFile(current).iter_batches(batch_size=10_000):
                    if not batch.schema.equals(schema):
                        batch = pa.Table.from_batches([batch]).cast(schema).combine_chunks().to_batches()[0]
                    writer.write_batch(batch)
                    rows += batch.num_rows
        os.replace(tmp, dest)
    except pa.ArrowException as e:
        raise SchemaError(f"{dest.parent.parent.name}: parquet file {current.name} cannot be read into the "
                          f"table: {e}") from e
    finally:
        if tmp.exists():
            tmp.unlink()
    return rows


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".source.json")


def fetch_tables(name: str, repo: str, configs: list[str], splits: list[str], root: Path,
                 revision: str | None = None, refresh: bool = False, quiet: bool = False,
                 pairs: list[tuple[str, str]] | None = None) -> list[TableResult]:
    """Download the parquet files of every (config, split) - or of exactly ``pairs`` - and write local
    tables. A table whose sidecar names the same repo commit is kept as is (re-runs cost one API call)."""
    from huggingface_hub import hf_hub_download, snapshot_download
    from huggingface_hub.utils import disable_progress_bars, enable_progress_bars

    hs = hub_settings()
    common = {"repo_type": "dataset", "revision": revision, "endpoint": hs["endpoint"], "token": hs["token"],
              "cache_dir": hs["cache_dir"], "local_files_only": hs["local_files_only"]}
    if quiet:
        disable_progress_bars()
    try:
        try:
            readme = Path(hf_hub_download(repo, "README.md", **common)).read_text(encoding="utf-8", errors="replace")
        except Exception as e:  # no card, or offline without a cached card: fall back to conventions
            if _is_auth_or_missing_repo(e):
                raise DatasetNotAvailableError(f"{name}: cannot read {repo} from the Hub: {e}") from e
            readme = ""
        layout = parse_card_configs(readme)
        pairs = pairs if pairs is not None else [(c, s) for c in configs for s in splits]
        wanted = [(c, s, patterns_for(layout, c, s)) for c, s in pairs]
        allow = sorted({p for _c, _s, pats in wanted for p in (pats or [])})
        results: list[TableResult] = []
        if not allow:
            return [TableResult(c, s, None, status="missing", detail="not in the dataset card") for c, s, _ in wanted]
        try:
            folder = Path(snapshot_download(repo, allow_patterns=allow, **common))
        except Exception as e:
            offline = " (HF_HUB_OFFLINE is set and the files are not in the Hub cache)" if hs["local_files_only"] else ""
            raise DatasetNotAvailableError(f"{name}: cannot download {repo}{offline}: {type(e).__name__}: {e}") from e
    finally:
        if quiet:
            enable_progress_bars()
    commit = folder.name
    for config, split, pats in wanted:
        dest = paths.table_path(name, config, split, root)
        if pats is None:
            results.append(TableResult(config, split, None, status="missing", detail="split not in the dataset card"))
            continue
        files = match_files(folder, pats)
        if not files:
            results.append(TableResult(config, split, None, status="missing", detail=f"no parquet file matches {pats}"))
            continue
        source = {"repo": repo, "commit": commit, "files": [str(f.relative_to(folder)) for f in files]}
        side = _sidecar(dest)
        if not refresh and dest.exists() and side.exists():
            try:
                old = json.loads(side.read_text())
                if {k: old.get(k) for k in source} == source:
                    results.append(TableResult(config, split, dest, int(old.get("rows", 0)), status="cached"))
                    continue
            except ValueError:
                pass
        rows = parquet_to_table(files, dest)
        side.write_text(json.dumps({**source, "rows": rows}, indent=1))
        results.append(TableResult(config, split, dest, rows))
    return results


def fetch_files(name: str, repo: str, patterns: tuple[str, ...], dest: Path, revision: str | None = None,
                quiet: bool = False, log: Callable[[str], None] = print) -> Path:
    """Download the files of a Hub dataset repo matching ``patterns`` (all when empty) into ``dest`` (a
    set's ``manual/`` folder: annotation files published as files, not tables). Files already there with
    the same content are not fetched again (huggingface_hub's local-dir metadata)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.utils import disable_progress_bars, enable_progress_bars

    hs = hub_settings()
    if quiet:
        disable_progress_bars()
    try:
        folder = snapshot_download(repo, repo_type="dataset", revision=revision, endpoint=hs["endpoint"],
                                   token=hs["token"], local_dir=str(dest), allow_patterns=list(patterns) or None,
                                   local_files_only=hs["local_files_only"])
    except Exception as e:
        offline = " (HF_HUB_OFFLINE is set and the files are not here yet)" if hs["local_files_only"] else ""
        raise DatasetNotAvailableError(f"{name}: cannot download {repo}{offline}: {type(e).__name__}: {e}") from e
    finally:
        if quiet:
            enable_progress_bars()
    if not quiet:
        log(f"{name}: annotation files of {repo} in {dest}")
    return Path(folder)


def _is_auth_or_missing_repo(e: Exception) -> bool:
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    return isinstance(e, RepositoryNotFoundError | GatedRepoError)
