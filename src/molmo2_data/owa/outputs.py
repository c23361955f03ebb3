"""Where the OWA stages write: checked before any work, never into an input, never over data by accident.

Every stage calls :func:`prepare_output_dir` first, so a bad output directory fails in milliseconds
with a :class:`ConfigError` naming the path (CLI exit status 2) instead of after the whole conversion:

* the output may not be an input, inside an input, or contain an input (not even with ``overwrite``:
  clearing it would delete the data being read);
* an existing, non-empty output is refused unless ``overwrite=True``, which empties it first (so no
  split of an earlier run — e.g. a stale ``test/`` — survives next to the new data); the filesystem root,
  the home directory and any directory containing the current directory are never emptied;
* the directory is created and a probe file written and removed, so a read-only or otherwise
  unwritable location is reported up front.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from molmo2_data.errors import ConfigError, SchemaError


def _inside(child: Path, parent: Path) -> bool:
    return child == parent or parent in child.parents


def check_not_an_input(output_dir: Path, inputs: Iterable[str | os.PathLike | None]) -> None:
    """Refuse an output that is, is inside, or contains one of ``inputs`` (symlinks resolved)."""
    out = output_dir.resolve()
    for raw in inputs:
        if raw is None:
            continue
        inp = Path(raw).expanduser().resolve()
        if out == inp:
            raise ConfigError(f"output directory {output_dir} is the input directory; choose another --output-dir")
        if _inside(out, inp):
            raise ConfigError(f"output directory {output_dir} is inside the input directory {raw}; "
                              "choose a directory outside it")
        if _inside(inp, out):
            raise ConfigError(f"output directory {output_dir} contains the input directory {raw}; "
                              "writing there would destroy the input, choose another --output-dir")


def prepare_output_dir(output_dir: str | os.PathLike, inputs: Iterable[str | os.PathLike | None] = (),
                       overwrite: bool = False) -> Path:
    """Check, clear (with ``overwrite``) and create ``output_dir``; prove it is writable. Returns it."""
    out = Path(output_dir).expanduser()
    check_not_an_input(out, inputs)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"output path {out} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise ConfigError(f"output directory {out} is not empty; pass --overwrite (overwrite=True) to "
                              "replace its contents, or choose an empty directory")
        _clear(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".owa_write_probe_{uuid.uuid4().hex}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise ConfigError(f"output directory {out} is not writable ({e.strerror or e}); "
                          "choose a writable --output-dir") from e
    return out


def _clear(out: Path) -> None:
    resolved = out.resolve()
    cwd = Path.cwd().resolve()
    if resolved == Path(resolved.anchor) or resolved == Path.home().resolve() or _inside(cwd, resolved):
        raise ConfigError(f"refusing to empty {out} for --overwrite: it is the filesystem root, your home "
                          "or contains the current directory; choose a dedicated output directory")
    try:
        for child in out.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    except OSError as e:
        raise ConfigError(f"cannot clear output directory {out} for --overwrite ({e.strerror or e})") from e


MANIFEST = "owa_manifest.json"


def save_with_manifest(dd: Any, output_dir: str | os.PathLike, manifest: dict[str, Any]) -> None:
    """``save_to_disk`` plus ``owa_manifest.json``. Empty splits are listed in the manifest instead of
    saved (``datasets`` cannot load a saved zero-row split); :func:`load_splits` restores them."""
    import datasets

    out = Path(output_dir)
    nonempty = {k: v for k, v in dd.items() if len(v)}
    manifest["empty_splits"] = sorted(k for k in dd if k not in nonempty)
    if not nonempty:
        out.mkdir(parents=True, exist_ok=True)
        (out / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True, default=str))
        raise ConfigError(f"nothing to save: every split is empty (reasons in {out / MANIFEST})")
    quiet = datasets.is_progress_bar_enabled()
    if quiet:
        datasets.disable_progress_bars()
    try:
        datasets.DatasetDict(nonempty).save_to_disk(str(out))
    finally:
        if quiet:
            datasets.enable_progress_bars()
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True, default=str))


def load_manifest(folder: str | os.PathLike) -> dict[str, Any]:
    p = Path(folder) / MANIFEST
    if not p.exists():
        return {}
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError) as e:
        raise SchemaError(f"unreadable {p}: {e}; re-run the stage that wrote it") from e


def load_splits(input_dir: str | os.PathLike):
    """``load_from_disk`` normalised to a DatasetDict (a plain saved Dataset becomes split "train"),
    with the empty splits recorded in the manifest restored as zero-row datasets."""
    from datasets import Dataset, DatasetDict, load_from_disk

    if not Path(input_dir).is_dir():
        raise ConfigError(f"no dataset at {input_dir} (not a directory)")
    try:
        ds = load_from_disk(str(input_dir))
    except (FileNotFoundError, ValueError, OSError) as e:
        raise ConfigError(f"{input_dir} is not a dataset saved by the previous OWA stage "
                          f"({type(e).__name__}: {str(e)[:160]})") from e
    dd = DatasetDict({"train": ds}) if isinstance(ds, Dataset) else ds
    features = next(iter(dd.values())).features
    for split in load_manifest(input_dir).get("empty_splits", []):
        dd[split] = Dataset.from_dict({k: [] for k in features}, features=features)
    return dd
