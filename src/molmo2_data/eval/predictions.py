"""Reading and checking a predictions file: every malformed line is counted and listed, none is fatal.

Why a module of its own: a predictions file is model output, so anything can be in it (bytes that are not
UTF-8, ``"annotation": null``, a string index, a turn the conversation does not have). Each line is
either a clean prediction ``{"index", "annotation", "turn", "prediction", "_line"}`` or one entry
``{"line": n, "reason": "..."}`` in the problem list, with its reason counted by category.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from molmo2_data.errors import Molmo2DataError

# Reason categories (the keys of ``report["errors"]``; docs/eval.md lists them)
INVALID_JSON = "invalid JSON line"
NOT_UTF8 = "line is not UTF-8"
NO_INDEX_OR_PREDICTION = "line without integer index and string prediction"
BAD_ANNOTATION = "annotation is not an integer"
BAD_TURN = "turn is not an integer"
INDEX_RANGE = "index out of range"
ANNOTATION_RANGE = "annotation index out of range"
TURN_RANGE = "turn out of range"
DUPLICATE = "duplicate prediction (first kept)"
UNREADABLE = "example could not be read or scored"


class PredictionsError(Molmo2DataError, ValueError):
    """The predictions file is missing, or a turn asked of ``score_annotation`` does not exist."""


class Problems:
    """Counts per reason category plus the list of (line, reason) entries, in file order."""

    def __init__(self, counts: Counter | None = None, lines: list[dict[str, Any]] | None = None):
        self.counts: Counter = Counter() if counts is None else counts
        self.lines: list[dict[str, Any]] = [] if lines is None else lines

    def add(self, line: int, category: str, detail: str = "") -> None:
        self.counts[category] += 1
        self.lines.append({"line": line, "reason": f"{category}: {detail}" if detail else category})


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def check_prediction(obj: object, line: int, problems: Problems) -> dict[str, Any] | None:
    """A clean prediction dict, or None after recording why ``obj`` is not one."""
    if not isinstance(obj, Mapping):
        problems.add(line, NO_INDEX_OR_PREDICTION, f"a JSON {type(obj).__name__}, not an object")
        return None
    index, text = obj.get("index"), obj.get("prediction")
    if not _is_int(index) or not isinstance(text, str):
        what = "index" if not _is_int(index) else "prediction"
        problems.add(line, NO_INDEX_OR_PREDICTION, f"{what} is {_shown(obj, what)}")
        return None
    ann, turn = obj.get("annotation", 0), obj.get("turn", 0)
    if not _is_int(ann):
        problems.add(line, BAD_ANNOTATION, f"annotation is {_shown(obj, 'annotation')}")
        return None
    if not _is_int(turn):
        problems.add(line, BAD_TURN, f"turn is {_shown(obj, 'turn')}")
        return None
    return {"index": index, "annotation": ann, "turn": turn, "prediction": text, "_line": line}


def _shown(obj: Mapping, key: str) -> str:
    """'missing', or the JSON type and (the start of) the value, e.g. ``string "abc"``, ``null``."""
    if key not in obj:
        return "missing"
    v = obj[key]
    kind = {type(None): "null", bool: "boolean", str: "string", int: "integer", float: "number",
            list: "array", dict: "object"}.get(type(v), type(v).__name__)
    try:
        shown = json.dumps(v)
    except (TypeError, ValueError):
        shown = repr(v)
    return kind if v is None else f"{kind} {shown[:40]}"


def read_predictions(path: str | os.PathLike, errors: Counter | None = None,
                     problems: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Parse a predictions JSONL. Malformed lines (not UTF-8, invalid JSON, wrong types) are counted in
    ``errors`` by category and listed in ``problems`` as ``{"line": n, "reason": ...}``; not fatal."""
    p = Path(path)
    if not p.is_file():  # checked before opening: a FIFO would block the read forever
        raise PredictionsError(f"predictions file not found: {p}" if not p.exists()
                               else f"predictions path is not a regular file: {p}")
    found = Problems(errors, problems)
    out = []
    with p.open("rb") as f:
        for n, raw in enumerate(f, start=1):
            if n == 1 and raw.startswith(b"\xef\xbb\xbf"):  # a byte-order mark some editors write
                raw = raw[3:]
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                found.add(n, NOT_UTF8, f"byte 0x{raw[e.start]:02x} at column {e.start + 1}")
                continue
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                found.add(n, INVALID_JSON, e.msg + f" at column {e.colno}")
                continue
            except RecursionError:
                found.add(n, INVALID_JSON, "nested too deeply")
                continue
            pred = check_prediction(obj, n, found)
            if pred is not None:
                out.append(pred)
    return out
