"""Read a small YAML or JSON config file (custom datasets, custom mixtures): one rule for both.

Every failure is a :class:`~molmo2_data.errors.ConfigError` that names the file and, for a syntax
error, the line (PyYAML's and json's marks), so a user can fix the config without a traceback.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from molmo2_data.errors import ConfigError


def read_config_file(path: str | os.PathLike) -> Any:
    """The parsed content of ``path``: YAML for ``.yaml`` / ``.yml``, JSON otherwise."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise ConfigError(f"{path}: no such config file") from e
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read the config file ({e})") from e
    if path.suffix in (".yaml", ".yml"):
        import yaml

        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}, {_yaml_where(e)}: invalid YAML: {_yaml_problem(e)}") from e
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}, line {e.lineno} column {e.colno}: invalid JSON: {e.msg}") from e


def _yaml_where(e: Exception) -> str:
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    if mark is None:
        return "line ?"
    return f"line {mark.line + 1} column {mark.column + 1}"


def _yaml_problem(e: Exception) -> str:
    parts = [getattr(e, "context", None), getattr(e, "problem", None)]
    text = ", ".join(str(p) for p in parts if p)
    return text or str(e).splitlines()[0]
