"""The official multiple-choice template lists, parsed (never imported) from a checkout of allenai/molmo2:
``olmo/preprocessing/multiple_choice_templates.py``.

Under ``uber_model_v2`` the official formatter templates every multiple-choice question with
``template_mc_question`` of that file, whose sentences are f-string lists returned by five builder
functions, two marker constants and a bullet list. They become entries of our template mapping
(keys :data:`MC_KEYS`), as ``str.format`` strings whose fields are named by role (``question``,
``options``, ``instruction``, ``option_type``) whatever the official parameter names are. Any other
shape is a :class:`ConfigError` naming the file and what was expected.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

from molmo2_data.errors import ConfigError

MC_FILE = Path("olmo") / "preprocessing" / "multiple_choice_templates.py"

# official builder function -> (our key, the role of each positional parameter)
_BUILDERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "build_option_name_instructions": ("mc_option_name_instructions", ("option_type",)),
    "build_option_instructions": ("mc_option_instructions", ("option_type",)),
    "build_option_templates": ("mc_option_templates", ("question", "options", "instruction")),
    "build_option_name_templates": ("mc_option_name_templates", ("question", "options", "option_type")),
    "build_instruction_templates": ("mc_instruction_templates", ("question", "options", "option_type")),
}
_CONSTANTS = {"COMMON_MARKERS": "mc_common_markers", "WEIRD_MARKERS": "mc_weird_markers"}
_TEMPLATER = "template_mc_question"
_BULLETS = "seps"  # the bullet list assigned inside template_mc_question

MC_KEYS: tuple[str, ...] = (*(k for k, _ in _BUILDERS.values()), "mc_option_instructions_typed",
                            *_CONSTANTS.values(), "mc_bullets")


def mc_source(path: str | os.PathLike) -> Path:
    """``path`` itself if it is the MC file, else ``olmo/preprocessing/multiple_choice_templates.py`` under
    a checkout, or next to a given ``data_formatter.py``."""
    p = Path(path)
    if p.is_file() and p.name == MC_FILE.name:
        return p
    p = p.parent / MC_FILE.name if p.is_file() else p / MC_FILE
    if not p.is_file():
        raise ConfigError(f"{p}: not found; the multiple-choice templates of allenai/molmo2 live in {MC_FILE}")
    return p


def _format_string(node: ast.AST, roles: dict[str, str], where: str) -> str:
    """An f-string (or plain string) -> a ``str.format`` string with role-named fields."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value.replace("{", "{{").replace("}", "}}")
    if not isinstance(node, ast.JoinedStr):
        raise ConfigError(f"{where}: expected a list of f-strings")
    out = []
    for part in node.values:
        if isinstance(part, ast.Constant) and isinstance(part.value, str):
            out.append(part.value.replace("{", "{{").replace("}", "}}"))
        elif (isinstance(part, ast.FormattedValue) and isinstance(part.value, ast.Name) and part.conversion == -1
              and part.format_spec is None and part.value.id in roles):
            out.append("{" + roles[part.value.id] + "}")
        else:
            raise ConfigError(f"{where}: an f-string field other than a plain parameter name")
    return "".join(out)


def _format_list(node: ast.AST, roles: dict[str, str], where: str) -> list[str]:
    if not isinstance(node, ast.List):
        raise ConfigError(f"{where}: expected a list literal of f-strings")
    return [_format_string(e, roles, where) for e in node.elts]


def _builder(fn: ast.FunctionDef, src: Path, key: str, role_names: tuple[str, ...]) -> dict[str, list[str]]:
    """``return [f"...", ...]`` or (option instructions) ``out = [...]; if <type> is not None: out += [...];
    return out``: the second list is the entries added when the option type is known."""
    where = f"{src}:{fn.lineno} ({fn.name})"
    params = [a.arg for a in fn.args.args]
    if len(params) != len(role_names):
        raise ConfigError(f"{where}: expected {len(role_names)} parameters ({', '.join(role_names)})")
    roles = dict(zip(params, role_names, strict=True))
    body = [s for s in fn.body if not isinstance(s, ast.Assert | ast.Expr)]  # asserts, docstrings
    if len(body) == 1 and isinstance(body[0], ast.Return) and body[0].value is not None:
        return {key: _format_list(body[0].value, roles, where)}
    if (key == "mc_option_instructions" and len(body) == 3 and isinstance(body[0], ast.Assign)
            and isinstance(body[1], ast.If) and len(body[1].body) == 1 and isinstance(body[1].body[0], ast.AugAssign)
            and isinstance(body[2], ast.Return)):
        return {key: _format_list(body[0].value, roles, where),
                "mc_option_instructions_typed": _format_list(body[1].body[0].value, roles, where)}
    raise ConfigError(f"{where}: expected 'return [f-strings]' (or a list extended when the option type is known)")


def _constant(node: ast.AST, env: dict[str, list[str]], where: str) -> list[str]:
    """A string list: a literal, or ``sorted(set(A + [x.strip() for x in B + C if x.strip() != "s"]))``
    built from earlier constants (the official WEIRD_MARKERS)."""
    def ev(n: ast.AST, var: dict[str, str]) -> object:
        if isinstance(n, ast.Constant) and isinstance(n.value, str):
            return n.value
        if isinstance(n, ast.List):
            return [ev(e, var) for e in n.elts]
        if isinstance(n, ast.Name) and n.id in var:
            return var[n.id]
        if isinstance(n, ast.Name) and n.id in env:
            return list(env[n.id])
        if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Add):
            return ev(n.left, var) + ev(n.right, var)  # type: ignore[operator]
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in ("sorted", "set", "list") \
                and len(n.args) == 1 and not n.keywords:
            return {"sorted": sorted, "set": set, "list": list}[n.func.id](ev(n.args[0], var))  # type: ignore[arg-type]
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "strip" \
                and not n.args and not n.keywords:
            return str(ev(n.func.value, var)).strip()
        if isinstance(n, ast.Compare) and len(n.ops) == 1 and isinstance(n.ops[0], ast.NotEq | ast.Eq):
            left, right = ev(n.left, var), ev(n.comparators[0], var)
            return (left != right) if isinstance(n.ops[0], ast.NotEq) else (left == right)
        if isinstance(n, ast.ListComp) and len(n.generators) == 1 and isinstance(n.generators[0].target, ast.Name):
            g, name = n.generators[0], n.generators[0].target.id
            return [ev(n.elt, {**var, name: x}) for x in ev(g.iter, var)  # type: ignore[union-attr]
                    if all(ev(c, {**var, name: x}) for c in g.ifs)]
        raise ConfigError(f"{where}: not a string list this reader understands ({ast.dump(n)[:80]})")

    value = ev(node, {})
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: expected a list of strings")
    return value


def _bullets(fn: ast.FunctionDef, src: Path) -> list[str]:
    for node in ast.walk(fn):
        if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id == _BULLETS):
            return _constant(node.value, {}, f"{src}:{node.lineno} ({_TEMPLATER}.{_BULLETS})")
    raise ConfigError(f"{src}:{fn.lineno}: no '{_BULLETS} = [...]' bullet list in {_TEMPLATER}")


def parse_official_mc_templates(path: str | os.PathLike) -> dict[str, list[str]]:
    """Every list of :data:`MC_KEYS` from the official multiple-choice template file."""
    src = mc_source(path)
    try:
        tree = ast.parse(src.read_text(encoding="utf-8"), filename=str(src))
    except SyntaxError as e:
        raise ConfigError(f"{src}: not parseable Python ({e.msg}, line {e.lineno})") from None
    out: dict[str, list[str]] = {}
    env: dict[str, list[str]] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.FunctionDef) and stmt.name in _BUILDERS:
            key, roles = _BUILDERS[stmt.name]
            out.update(_builder(stmt, src, key, roles))
        elif isinstance(stmt, ast.FunctionDef) and stmt.name == _TEMPLATER:
            out["mc_bullets"] = _bullets(stmt, src)
        elif (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)
              and stmt.targets[0].id in _CONSTANTS):
            name = stmt.targets[0].id
            env[name] = _constant(stmt.value, env, f"{src}:{stmt.lineno} ({name})")
            out[_CONSTANTS[name]] = env[name]
    out.setdefault("mc_option_instructions_typed", [])
    missing = [k for k in MC_KEYS if k not in out]
    if missing:
        raise ConfigError(f"{src}: the layout is not the one this reader knows; missing {', '.join(missing)} "
                          f"(expected functions {', '.join(_BUILDERS)}, {_TEMPLATER} and constants "
                          f"{', '.join(_CONSTANTS)})")
    return out
