"""What a stage's mixture becomes on the local data: per group, the official share (its rate over the sum
of the group rates), the share it gets here after absent members are renormalised away, and which of
its members are absent (with why), plus the official members the catalog does not have at all."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from molmo2_data.loading.mixtures import OFFICIAL_ABSENT, Mixture


def group_shares(mixture: Mixture, rates: Mapping[str, float], absent: Mapping[str, str],
                 lengths: Mapping[str, int] | None = None) -> list[dict[str, Any]]:
    """One row per group: ``official`` share, ``here`` (the summed rates of its present members),
    ``present`` and ``absent`` member names (absent with its reason), and ``would_have``: the share of
    all samples each absent member would have had with the group complete - known when its size term
    does not need its table (a virtual size or a flat rate), else None."""
    total = sum(g.rate for g in mixture.groups) or 1.0
    rows = []
    for g in mixture.groups:
        names = [m.name for m in g.members]
        known = {m.name: m.size_term(0) for m in g.members if m.name in absent and m.size is not None and
                 (m.size >= 1 or m.size == 0)}
        present_terms = sum(m.size_term(lengths[m.name]) for m in g.members
                            if lengths is not None and m.name in rates and m.name in lengths)
        denom = present_terms + sum(known.values())
        would = {n: (g.rate / total * known[n] / denom if n in known and denom else None)
                 for n in names if n in absent}
        rows.append({"group": g.name, "official": g.rate / total,
                     "here": sum(rates.get(n, 0.0) for n in names),
                     "present": [n for n in names if n in rates],
                     "absent": {n: absent[n] for n in names if n in absent},
                     "would_have": would})
    return rows


def catalog_absent(mixture: Mixture) -> list[str]:
    """Official members of this stage that no catalog dataset provides yet."""
    return list(OFFICIAL_ABSENT.get(mixture.name, []))


def _short(reason: str) -> str:
    return "not downloaded" if "no local table" in reason else reason.split(";")[0][:60]


def _had(share: float | None) -> str:
    return f"~{share:.1%}" if share is not None else "size unknown without its table"


def format_shares(rows: list[dict[str, Any]], missing: list[str]) -> list[str]:
    """The loader's printed table (one line per group) and the catalog's missing official members."""
    out = [f"{'group':<18}{'official':>9}{'here':>8}  absent members (share each would have had)"]
    for r in rows:
        would = r.get("would_have", {})

        absent = ", ".join(f"{n} ({_short(why)}; {_had(would.get(n))})" for n, why in r["absent"].items()) or "-"
        out.append(f"{r['group']:<18}{r['official']:>9.1%}{r['here']:>8.1%}  {absent}")
    if any(r["absent"] for r in rows):
        out.append("'here' = the shares after renormalising over the present members")
    if missing:
        out.append("official members not in the catalog (their groups are renormalised over the members above):")
        out += [f"  {m}" for m in missing]
    return out
