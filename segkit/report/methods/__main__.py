"""``python -m segkit.report.methods [docs/methods.md]``: rewrite the formulas page from its one source."""
import sys
from pathlib import Path

from segkit.report.methods.formulas import docs_markdown

target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/methods.md")
target.write_text(docs_markdown(), encoding="utf-8")
print(f"wrote {target}")
