"""The record of a source's published schema (see :mod:`.published`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class PublishedSchema:
    hf_path: str
    revision: str
    columns: Mapping[str, str]
    optional: Mapping[str, str] = field(default_factory=dict)
    notes: str = ""
