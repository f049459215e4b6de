"""The code's form is checked with the tests, so that the README's one test
command (and so CI) runs them: ``ruff check`` and ``ruff format --check`` on
the sources, tests and benchmarks, and ``mypy`` on ``src/frivolous``, each
with the settings in pyproject.toml. Each is one subprocess; its output is
the failure message."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TREES = ["src", "tests", "benchmarks"]


@pytest.mark.parametrize(
    "command",
    [["ruff", "check", *TREES], ["ruff", "format", "--check", *TREES], ["mypy"]],
    ids=["ruff check", "ruff format", "mypy"],
)
def test_the_code_passes(command: list[str]) -> None:
    done = subprocess.run([sys.executable, "-m", *command], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
