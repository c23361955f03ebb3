"""Regenerate docs/datasets.md from the published-schema records (src/molmo2_data/datasets/published.py).

    python scripts/write_datasets_doc.py
"""

from __future__ import annotations

from pathlib import Path

from molmo2_data.datasets.published import PUBLISHED

HEADER = """# Datasets: sources and published schemas

Every built-in reader is checked against its source's published schema, recorded in
`src/molmo2_data/datasets/published.py` (columns and Arrow types from the Hugging Face card's
`dataset_info: features`). `tests/test_published_schemas.py` feeds a table of exactly those columns
through each reader and checks that a renamed or retyped column is a `SchemaError`;
`molmo2-data inspect NAME` prints the source and revision. A new built-in dataset adds its entry there
and regenerates this page with `python scripts/write_datasets_doc.py`.

| dataset | source | revision checked | notes |
|---|---|---|---|
"""


def main() -> None:
    lines = [f"| `{n}` | `{s.hf_path}` | {s.revision} | {s.notes} |" for n, s in sorted(PUBLISHED.items())]
    lines += ["", "## Columns", ""]
    for n, s in sorted(PUBLISHED.items()):
        cols = ", ".join(f"`{c}` {t}" for c, t in s.columns.items())
        other = ("; other revisions: " + ", ".join(f"`{c}` {t}" for c, t in s.optional.items())) if s.optional else ""
        lines.append(f"- **{n}**: {cols}{other}")
    out = Path(__file__).resolve().parents[1] / "docs" / "datasets.md"
    out.write_text(HEADER + "\n".join(lines) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
