"""Prompt template lists read from a user's checkout of allenai/molmo2, by parsing its source (never
importing it): ``FormatterConfig.from_official(path)``.

The official lists live in ``olmo/preprocessing/data_formatter.py`` as ``GENERAL_PROMPTS_V1``: a dict
literal of lists of strings, then module-level assignments ``GENERAL_PROMPTS_V1["key"] = …`` whose value
is a list of strings, another entry (an alias), or a list comprehension applying a chain of
``.replace(a, b)`` to another entry (the video lists). Exactly these forms are understood; anything
else in an assignment to ``GENERAL_PROMPTS_V1`` is a :class:`ConfigError` naming the file and line, so
a changed layout fails loudly instead of yielding partial lists.

The project does not ship the official sentences; with them loaded, the formatter's template draws
pick the same prompts as the official code for the same rng.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

from molmo2_data.errors import ConfigError

VARIABLE = "GENERAL_PROMPTS_V1"
FORMATTER_FILE = Path("olmo") / "preprocessing" / "data_formatter.py"


def formatter_source(path: str | os.PathLike) -> Path:
    """The formatter file: ``path`` itself, or ``olmo/preprocessing/data_formatter.py`` under a checkout."""
    p = Path(path)
    if p.is_dir():
        p = p / FORMATTER_FILE
    if not p.is_file():
        raise ConfigError(f"{p}: not found; pass a checkout of allenai/molmo2 or its {FORMATTER_FILE}")
    return p


def _strings(node: ast.AST, where: str) -> list[str]:
    if not isinstance(node, ast.List | ast.Tuple) or not all(
            isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts):
        raise ConfigError(f"{where}: expected a list of string literals")
    return [e.value for e in node.elts]  # type: ignore[attr-defined]


def _entry_key(node: ast.AST, where: str) -> str | None:
    """``GENERAL_PROMPTS_V1["key"]`` -> "key"; None for anything that is not a subscript of the variable."""
    if (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == VARIABLE):
        if isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
            return node.slice.value
        raise ConfigError(f"{where}: {VARIABLE}[...] with a key that is not a string literal")
    return None


def _replaced(comp: ast.ListComp, lists: dict[str, list[str]], where: str) -> list[str]:
    """``[p.replace(a, b).replace(c, d) for p in GENERAL_PROMPTS_V1["src"]]``."""
    if len(comp.generators) != 1 or comp.generators[0].ifs or not isinstance(comp.generators[0].target, ast.Name):
        raise ConfigError(f"{where}: unsupported list comprehension")
    var = comp.generators[0].target.id
    src = _entry_key(comp.generators[0].iter, where)
    if src is None or src not in lists:
        raise ConfigError(f"{where}: the comprehension must iterate over an earlier {VARIABLE} entry")
    steps: list[tuple[str, str]] = []
    node = comp.elt
    while not (isinstance(node, ast.Name) and node.id == var):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "replace"
                and len(node.args) == 2 and not node.keywords
                and all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in node.args)):
            raise ConfigError(f"{where}: only chains of .replace('a', 'b') are understood")
        steps.append((node.args[0].value, node.args[1].value))  # type: ignore[attr-defined]
        node = node.func.value
    out = []
    for text in lists[src]:
        for old, new in reversed(steps):  # innermost call first
            text = text.replace(old, new)
        out.append(text)
    return out


def parse_official_templates(path: str | os.PathLike) -> dict[str, list[str]]:
    """Every template list of the official formatter, by key, in the official order."""
    src = formatter_source(path)
    try:
        tree = ast.parse(src.read_text(encoding="utf-8"), filename=str(src))
    except SyntaxError as e:
        raise ConfigError(f"{src}: not parseable Python ({e.msg}, line {e.lineno})") from None
    lists: dict[str, list[str]] | None = None
    for stmt in tree.body:
        if not isinstance(stmt, ast.Assign) or len(stmt.targets) != 1:
            continue
        target, where = stmt.targets[0], f"{src}:{stmt.lineno}"
        if isinstance(target, ast.Name) and target.id == VARIABLE:
            if not isinstance(stmt.value, ast.Dict):
                raise ConfigError(f"{where}: {VARIABLE} is not a dict literal")
            lists = {}
            for k, v in zip(stmt.value.keys, stmt.value.values, strict=True):
                if not (isinstance(k, ast.Constant) and isinstance(k.value, str)):
                    raise ConfigError(f"{where}: a {VARIABLE} key is not a string literal")
                lists[k.value] = _strings(v, f"{src}:{v.lineno} ({k.value!r})")
            continue
        key = _entry_key(target, where)
        if key is None:
            continue
        if lists is None:
            raise ConfigError(f"{where}: {VARIABLE}[{key!r}] assigned before {VARIABLE} is defined")
        value = stmt.value
        alias = _entry_key(value, where)
        if alias is not None:
            if alias not in lists:
                raise ConfigError(f"{where}: {VARIABLE}[{alias!r}] is not defined yet")
            lists[key] = list(lists[alias])
        elif isinstance(value, ast.ListComp):
            lists[key] = _replaced(value, lists, where)
        else:
            lists[key] = _strings(value, f"{where} ({key!r})")
    if not lists:
        raise ConfigError(f"{src}: no {VARIABLE} dict found; the file's layout is not the one this reader knows")
    return lists
