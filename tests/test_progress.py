"""Progress on stderr (issue 12 goal 6): shown on a terminal for the long steps (plan
reading, templates, validate, status), never with --format json, where a script reads
the output. The commands run in a real pseudo-terminal: progress is drawn only there."""
from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import pytest
from around_helpers import fill, make_plan, make_templates

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> tuple[Path, Path, Path]:
    base = tmp_path_factory.mktemp("progress")
    plan_path, plan = make_plan(base / "piano")
    templates = make_templates(plan, base / "modelli")
    returns = base / "restituiti"
    fill(plan, templates, returns)
    return base, plan_path, returns


def in_terminal(*args: str, cwd: Path) -> tuple[int, str, str]:
    """(exit code, stdout, what reached the terminal on stderr) of `pegxl args`."""
    master, slave = pty.openpty()
    env = {**os.environ, "TERM": "xterm", "COLUMNS": "100"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen([sys.executable, "-m", "pegxl", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL)
    os.close(slave)
    seen = bytearray()
    while True:   # read the terminal while the command runs: a full one would block it
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:   # the other end closed (Linux)
                break
            if not chunk:
                break
            seen += chunk
        elif proc.poll() is not None:
            break
    out = proc.stdout.read().decode("utf-8") if proc.stdout else ""
    proc.wait(timeout=120)
    os.close(master)
    return proc.returncode, out, seen.decode("utf-8", "replace")


def test_plan_check_shows_a_spinner_on_a_terminal_and_nothing_with_json(world):
    base, plan_path, _ = world
    rc, out, term = in_terminal("plan", "check", str(plan_path), cwd=base)
    assert rc == 0, out + term
    assert "Lettura e controllo del piano" in term
    rc, out, term = in_terminal("plan", "check", str(plan_path), "--format", "json", cwd=base)
    assert rc == 0
    assert term == ""
    assert json.loads(out)["command"] == "plan check"


def test_validate_shows_progress_on_a_terminal_and_nothing_with_json(world):
    base, plan_path, returns = world
    rc, out, term = in_terminal("validate", "--plan", str(plan_path), str(returns), "--jobs", "1", cwd=base)
    assert "Controllo dei file" in term, out + term
    rc, out, term = in_terminal("validate", "--plan", str(plan_path), str(returns), "--jobs", "1",
                                "--format", "json", cwd=base)
    assert term == ""
    assert json.loads(out)["command"] == "validate"


def test_status_prints_no_progress_with_json(world):
    base, plan_path, returns = world
    rc, out, term = in_terminal("status", "--plan", str(plan_path), str(returns), "--format", "json", cwd=base)
    assert term == "", term
    json.loads(out)


def test_templates_show_progress_on_a_terminal(world, tmp_path):
    base, plan_path, _ = world
    rc, out, term = in_terminal("templates", str(plan_path), "-o", str(tmp_path / "m"), "--jobs", "1", cwd=base)
    assert rc == 0, out + term
    assert "Modelli" in term
    assert len(list((tmp_path / "m").glob("*.xlsx"))) >= 2
