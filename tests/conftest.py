"""Fixtures shared by every test module: the CLI (the `pegxl` group, a runner) and the small
plan of around_helpers with its templates.

Helper modules, importable by name from any test (pyproject.toml: pythonpath = ["tests"]):
  around_helpers  the small three-settori plan, its templates, returns filled as a settore
                  would, a whole cycle (status, mail, archive, export, hygiene)
  merge_plan      the merge plan, its typed returns and the figures computed by hand (merge,
                  OIV, OIV trust, the LibreOffice end-to-end run)
  lo_helper       jobs run by a real headless LibreOffice
  pdfcheck        a PDF as printed (pdfinfo, pdftotext -bbox): A4, text size, overlapping
                  lines, page numbers (workbooks and documents printed by LibreOffice)
Timings are not asserted here: bench/ prints them.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import click
import pytest
from click.testing import CliRunner, Result

import around_helpers as H


@pytest.fixture
def cli() -> click.Group:
    """The `pegxl` command group, with every command registered (as the console script has it)."""
    from pegxl.cli import main
    return main


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def run(cli: click.Group, runner: CliRunner) -> Callable[..., Result]:
    """run("validate", "--plan", path, ...): the CLI invoked in-process, arguments as text."""
    def invoke(*args: Any, **kwargs: Any) -> Result:
        return runner.invoke(cli, [str(a) for a in args], **kwargs)
    return invoke


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Any, dict[str, Path]]:
    """The small plan of around_helpers and its templates, made once per test module:
    (base folder, plan path, plan, {settore: template})."""
    base = tmp_path_factory.mktemp("world")
    plan_path, plan = H.make_plan(base)
    templates = H.make_templates(plan, base / "modelli")
    return base, plan_path, plan, templates


@pytest.fixture(scope="session", autouse=True)
def _session_template_cache(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The templates kept by the fixtures of a module or of the session (see
    _own_template_cache): in a folder of the session, never the user's."""
    import os
    before = os.environ.get("PEGXL_CACHE_DIR")
    os.environ["PEGXL_CACHE_DIR"] = str(tmp_path_factory.mktemp("modelli-cache-sessione"))
    yield
    if before is None:
        os.environ.pop("PEGXL_CACHE_DIR", None)
    else:
        os.environ["PEGXL_CACHE_DIR"] = before


@pytest.fixture(autouse=True)
def _own_template_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test keeps its templates (pegxl.templates.cache) in a folder of its own: never
    the user's, never another test's."""
    monkeypatch.setenv("PEGXL_CACHE_DIR", str(tmp_path_factory.mktemp("modelli-cache")))
