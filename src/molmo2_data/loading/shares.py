"""What a stage's mixture becomes on the local data: per group, the official share (its rate over the sum
of the group rates), the share it gets here after absent members are renormalised away, and which of
its members are absent (with why), plus the official members the catalog does not have at all."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from molmo2_data.loading.mixtures import OFFICIAL_ABSENT, Mixture


def group_shares(mixture: Mixture, rates: Mapping[str, float], absent: Mapping[str, str]) -> list[dict[str, Any]]:
    """One row per group: ``official`` share, ``here`` (the summed rates of its present members),
    ``present`` and ``absent`` member names (absent with its reason)."""
    total = sum(g.rate for g in mixture.groups) or 1.0
    rows = []
    for g in mixture.groups:
        names = [m.name for m in g.members]
        rows.append({"group": g.name, "official": g.rate / total,
                     "here": sum(rates.get(n, 0.0) for n in names),
                     "present": [n for n in names if n in rates],
                     "absent": {n: absent[n] for n in names if n in absent}})
    return rows


def catalog_absent(mixture: Mixture) -> list[str]:
    """Official members of this stage that no catalog dataset provides yet."""
    return list(OFFICIAL_ABSENT.get(mixture.name, []))


def _short(reason: str) -> str:
    return "not downloaded" if "no local table" in reason else reason.split(";")[0][:60]


def format_shares(rows: list[dict[str, Any]], missing: list[str]) -> list[str]:
    """The loader's printed table (one line per group) and the catalog's missing official members."""
    out = [f"{'group':<18}{'official':>9}{'here':>8}  absent members"]
    for r in rows:
        absent = ", ".join(f"{n} ({_short(why)})" for n, why in r["absent"].items()) or "-"
        out.append(f"{r['group']:<18}{r['official']:>9.1%}{r['here']:>8.1%}  {absent}")
    if missing:
        out.append("official members not in the catalog (their groups are renormalised over the members above):")
        out += [f"  {m}" for m in missing]
    return out
