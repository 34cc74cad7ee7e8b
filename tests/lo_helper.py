"""Run real LibreOffice jobs from pytest (which runs under the project venv).

The venv has no ``uno``; Debian's ``/usr/bin/python3`` has (package python3-uno).
So every job runs ``/usr/bin/python3 tests/lo/driver.py job.json result.json`` in a
subprocess with a clean environment; the driver starts its own private headless
soffice and always shuts it down. See tests/lo/driver.py for the job format.

Usage::

    from lo_helper import requires_lo, lo_fill, lo_inspect, lo_convert

    @requires_lo
    def test_something(tmp_path):
        res = lo_fill(template, tmp_path / "filled.xlsx",
                      [{"sheet": "Fasi", "cell": "G2", "value": 75}],
                      inspect=[("Fasi", "G2")])
        assert res["by_ref"]["Fasi!G2"]["is_locked"] is False

    pytestmark = requires_lo          # or for a whole module

Environment:
    PEGXL_LO_PYTHON   interpreter with ``uno`` (default /usr/bin/python3)
    PEGXL_SKIP_LO=1   skip LibreOffice tests even if LibreOffice is installed
    PEGXL_REQUIRE_LO=1  never skip: a missing LibreOffice makes the tests fail (CI)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Iterable

import pytest

LO_PYTHON = os.environ.get("PEGXL_LO_PYTHON", "/usr/bin/python3")
DRIVER = Path(__file__).resolve().parent / "lo" / "driver.py"

FILTERS = {
    ".xlsx": "Calc MS Excel 2007 XML",
    ".ods": "calc8",
    ".xls": "MS Excel 97",
    ".csv": "Text - txt - csv (StarCalc)",
}

_DROP_ENV = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP",
             "PYTHONNOUSERSITE", "__PYVENV_LAUNCHER__")


def _clean_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in _DROP_ENV}
    # the venv's bin dir first on PATH would not matter for /usr/bin/python3 itself,
    # but soffice is looked up on PATH by the driver: keep the system dirs in it
    path = env.get("PATH", "")
    venv = os.environ.get("VIRTUAL_ENV")
    parts = [p for p in path.split(os.pathsep)
             if p and not (venv and p.startswith(venv))]
    for p in ("/usr/local/bin", "/usr/bin", "/bin"):
        if p not in parts:
            parts.append(p)
    env["PATH"] = os.pathsep.join(parts)
    return env


def _probe() -> tuple[bool, str]:
    if os.environ.get("PEGXL_SKIP_LO") == "1":
        return False, "PEGXL_SKIP_LO=1"
    if not (shutil.which("soffice") or shutil.which("soffice", path=_clean_env()["PATH"])):
        return False, ("soffice not on PATH (run scripts/install-test-deps.sh as root: "
                       "libreoffice-calc-nogui python3-uno)")
    if not os.access(LO_PYTHON, os.X_OK):
        return False, "%s not found (needs Debian's python3 with python3-uno)" % LO_PYTHON
    try:
        r = subprocess.run([LO_PYTHON, "-c", "import uno"], env=_clean_env(),
                           capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, "cannot run %s: %s" % (LO_PYTHON, e)
    if r.returncode != 0:
        return False, ("%s cannot import uno (apt-get install python3-uno): %s"
                       % (LO_PYTHON, r.stderr.decode(errors="replace").strip()[-300:]))
    return True, ""


LO_AVAILABLE, LO_UNAVAILABLE_REASON = _probe()
LO_REQUIRED = os.environ.get("PEGXL_REQUIRE_LO") == "1"


class _Marks(list):
    """A list of marks that is also a decorator.

    ``@requires_lo`` on a test or class, ``pytestmark = requires_lo`` on a module,
    ``pytest.param(..., marks=requires_lo)`` all work.
    """

    def __call__(self, obj):
        for m in reversed(self):
            obj = m(obj)
        return obj


requires_lo = _Marks([
    pytest.mark.libreoffice,
    pytest.mark.skipif(not LO_AVAILABLE and not LO_REQUIRED,
                       reason="LibreOffice not available: %s" % LO_UNAVAILABLE_REASON),
])


def _jsonable(o):
    if isinstance(o, os.PathLike):
        return os.fspath(o)
    raise TypeError("not JSON serialisable: %r" % (o,))


def _fmt_failure(msg: str, result: dict | None, stdout: str, stderr: str) -> str:
    parts = [msg]
    if result:
        if result.get("error"):
            parts.append("error: %s" % result["error"])
        if result.get("traceback"):
            parts.append("driver traceback:\n%s" % result["traceback"])
        if result.get("soffice_log"):
            parts.append("soffice log (tail):\n%s" % result["soffice_log"])
    if stderr.strip():
        parts.append("driver stderr:\n%s" % stderr.strip()[-4000:])
    if stdout.strip():
        parts.append("driver stdout:\n%s" % stdout.strip()[-2000:])
    return "\n".join(parts)


def run_job(job: dict, timeout: float = 180) -> dict:
    """Run one driver job; return its result dict or raise AssertionError.

    The result gets an extra ``by_ref`` mapping "Sheet!A1" -> inspected cell.
    """
    if not LO_AVAILABLE:
        raise AssertionError("LibreOffice not available: %s" % LO_UNAVAILABLE_REASON)
    work = tempfile.mkdtemp(prefix="pegxl-lojob-")
    try:
        job_path = os.path.join(work, "job.json")
        result_path = os.path.join(work, "result.json")
        with open(job_path, "w", encoding="utf-8") as f:
            json.dump(job, f, ensure_ascii=False, default=_jsonable)
        # the driver aborts itself (and kills its soffice) a bit before our deadline
        inner = max(10, int(timeout) - 15)
        proc = subprocess.Popen(
            [LO_PYTHON, str(DRIVER), job_path, result_path, "--timeout", str(inner)],
            env=_clean_env(), cwd=work, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.terminate()  # SIGTERM: the driver kills soffice's process group
            try:
                out, err = proc.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, err = proc.communicate()
            raise AssertionError(_fmt_failure(
                "LibreOffice job timed out after %ss: %s" % (timeout, _summary(job)),
                _read(result_path), out.decode(errors="replace"),
                err.decode(errors="replace"))) from None
        stdout, stderr = out.decode(errors="replace"), err.decode(errors="replace")
        result = _read(result_path)
        if proc.returncode != 0 or not result or not result.get("ok"):
            raise AssertionError(_fmt_failure(
                "LibreOffice job failed (exit %s): %s" % (proc.returncode, _summary(job)),
                result, stdout, stderr))
        result["by_ref"] = {"%s!%s" % (c["sheet"], c["cell"]): c
                            for c in result.get("cells", [])}
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _read(path: str) -> dict | None:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _summary(job: dict) -> str:
    keys = {k: v for k, v in job.items() if k in ("open", "convert_only")}
    keys["save"] = [s.get("path") for s in job.get("save", [])]
    return json.dumps(keys, default=_jsonable, ensure_ascii=False)


def guess_filter(path: str | os.PathLike) -> str:
    ext = Path(path).suffix.lower()
    try:
        return FILTERS[ext]
    except KeyError:
        raise ValueError("no LibreOffice filter known for %r; pass filter=" % ext) from None


def _cells(cells: Iterable[Any]) -> list[dict]:
    """Accept {"sheet":..,"cell":..}, ("Sheet", "A1") or "Sheet!A1"."""
    out = []
    for c in cells:
        if isinstance(c, dict):
            out.append(c)
        elif isinstance(c, str):
            sheet, _, ref = c.rpartition("!")
            if not sheet:
                raise ValueError("cell %r needs a sheet: 'Sheet!A1'" % c)
            out.append({"sheet": sheet.strip("'"), "cell": ref})
        else:
            sheet, ref = c
            out.append({"sheet": sheet, "cell": ref})
    return out


def lo_fill(src, dst, edits: list[dict], filter: str | None = None, *,
            inspect: Iterable[Any] = (), sheets: bool = False,
            timeout: float = 180) -> dict:
    """Open ``src`` in LibreOffice, apply ``edits`` like a person typing, save as ``dst``.

    ``inspect``/``sheets`` are evaluated after the edits and recalculation, on the
    document as LibreOffice holds it (before it is written to ``dst``).
    """
    job = {"open": os.fspath(src), "edits": list(edits),
           "inspect": _cells(inspect), "inspect_sheets": sheets,
           "save": [{"path": os.fspath(dst), "filter": filter or guess_filter(dst)}]}
    return run_job(job, timeout=timeout)


def lo_inspect(path, cells: Iterable[Any], sheets: bool = True, *,
               names: bool = False, timeout: float = 180) -> dict:
    """Open ``path`` in LibreOffice and report cells (and sheets, defined names)."""
    job = {"open": os.fspath(path), "inspect": _cells(cells),
           "inspect_sheets": sheets, "inspect_names": names}
    return run_job(job, timeout=timeout)


def lo_convert(src, dst, filter: str | None = None, *, timeout: float = 180) -> dict:
    """Open, recalculate, save: ``dst`` then holds cached formula values (as after
    Excel opened and saved it), readable with openpyxl ``data_only=True``."""
    job = {"open": os.fspath(src), "convert_only": True,
           "save": [{"path": os.fspath(dst), "filter": filter or guess_filter(dst)}]}
    return run_job(job, timeout=timeout)
