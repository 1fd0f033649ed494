"""Write docs/config.schema.json and docs/config.md from trussd's config models.

Run: .venv/bin/python scripts/gen_config_docs.py
"""

from __future__ import annotations

from pathlib import Path

from trussd.config.docgen import render_markdown, schema_text

DOCS = Path(__file__).resolve().parent.parent / "docs"


def main() -> None:
    (DOCS / "config.schema.json").write_text(schema_text(), encoding="utf-8")
    (DOCS / "config.md").write_text(render_markdown(), encoding="utf-8")
    print(f"wrote {DOCS / 'config.schema.json'} and {DOCS / 'config.md'}")


if __name__ == "__main__":
    main()
