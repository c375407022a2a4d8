"""The tree keeps the project's style settings (setup.cfg [flake8]): pyflakes' checks (unused
imports and names, undefined names) and pycodestyle's, 120 columns. Why a test: CI runs the
README's test command, so a lapse fails where it lands instead of piling up unseen."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_tree_passes_flake8() -> None:
    result = subprocess.run([sys.executable, "-m", "flake8", "edge", "tools", "tests", "benchmarks"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
