"""Issue 11: the types are checked (mypy, configured in pyproject.toml) and the code is linted
(ruff): both run with the test suite, so a type error or a lint finding fails it like a
broken test, with the tool's own report."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(module: str, *args: str) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.fail(f"{module} is not installed: install the test extra (pip install -e '.[test]')")
    proc = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, f"{module} {' '.join(args)} reports:\n{proc.stdout}{proc.stderr}"


def test_mypy_is_clean():
    _run("mypy", "pegxl")


def test_ruff_is_clean():
    _run("ruff", "check", "pegxl", "tests", "bench")
