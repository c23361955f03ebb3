"""Read a small YAML or JSON config file (custom datasets, custom mixtures): one rule for both."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def read_config_file(path: str | os.PathLike) -> Any:
    """The parsed content of ``path``: YAML for ``.yaml`` / ``.yml``, JSON otherwise."""
    path = Path(path)
    text = path.read_text()
    if path.suffix in (".yaml", ".yml"):
        import yaml

        return yaml.safe_load(text)
    return json.loads(text)
