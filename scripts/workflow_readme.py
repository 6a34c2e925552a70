"""Paste the workflow's diagram and action table, drawn from cases/workflow.py, into README.md
between its ``<!-- workflow:start -->`` and ``<!-- workflow:end -->`` markers.

    .venv/bin/python scripts/workflow_readme.py
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cases.workflow import readme_block  # noqa: E402


def main() -> None:
    readme = ROOT / "README.md"
    source = readme.read_text(encoding="utf-8")
    pattern = re.compile(r"(<!-- workflow:start -->\n).*?(<!-- workflow:end -->)", re.S)
    if not pattern.search(source):
        raise SystemExit("README.md has no <!-- workflow:start --> ... <!-- workflow:end --> "
                         "markers")
    readme.write_text(pattern.sub(lambda m: m.group(1) + readme_block() + m.group(2), source),
                      encoding="utf-8")


if __name__ == "__main__":
    main()
