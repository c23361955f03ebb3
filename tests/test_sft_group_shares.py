"""The official SFT mixture on the sample data (issue 14's acceptance check): the loader reports no absent
member in any of the 8 groups, and over 3,000 packed examples each group's achieved share is within 2
points of the official effective share (the group rates sum to 1.10 and are normalised)."""

from __future__ import annotations

import re
from pathlib import Path

from molmo2_data.cli.main import main

OFFICIAL = {"demo": 0.15, "video_academic": 0.20, "image_academic": 0.25, "tracking": 0.15,
            "video_pointing": 0.15, "image_pointing": 0.10, "nlp": 0.0995, "hardcodes": 0.0005}


def test_molmo2_sft_groups_complete_and_shares_within_two_points(sample_root: Path, capsys) -> None:
    assert main(["loader", "--stage", "molmo2-sft", "--root", str(sample_root), "--examples", "3000"]) == 0
    out = capsys.readouterr().out
    assert "(absent: none)" in out and "not in the catalog" not in out
    # the planned shares: every group complete ('here' = official, no absent member listed)
    planned = {m[1]: (float(m[2]), float(m[3]), m[4].strip()) for m in
               re.finditer(r"^  (\w+) +([\d.]+)% +([\d.]+)%  (.*)$", out, flags=re.M)}
    planned = {g: v for g, v in planned.items() if g in OFFICIAL}
    assert set(planned) == set(OFFICIAL)
    for g, (official, here, absent) in planned.items():
        assert abs(official / 100 - OFFICIAL[g] / 1.10) < 0.0006 and here == official and absent == "-", g
    # the achieved shares, printed after the run
    table = out[out.index("group                                     official"):]
    achieved = {m[1]: (float(m[2]) / 100, float(m[3]) / 100, int(m[4])) for m in
                re.finditer(r"^(\w+) +([\d.]+)% +([\d.]+)% +(\d+)$", table, flags=re.M)}
    assert set(achieved) == set(OFFICIAL)
    total = sum(n for _, _, n in achieved.values())
    assert total >= 3000
    for g, (_official, share, n) in achieved.items():
        assert abs(share - n / total) < 0.0006  # the printed share is the group's count over all examples
        assert abs(share - OFFICIAL[g] / 1.10) <= 0.02, (g, share, OFFICIAL[g] / 1.10)
