"""Lint runs with the tests (and so in CI): ruff, with the rules and the explained exceptions of
pyproject.toml's [tool.ruff]."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ruff_finds_nothing() -> None:
    ran = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", str(ROOT)],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
