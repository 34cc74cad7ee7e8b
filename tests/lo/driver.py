#!/usr/bin/python3
"""Drive a private headless LibreOffice through UNO to play "a person using Calc".

Run with Debian's interpreter (the one that has ``uno``), never a venv's::

    /usr/bin/python3 tests/lo/driver.py job.json result.json [--timeout SECONDS]

Each run starts its own soffice with a throw-away profile directory and a unique
pipe name, so parallel runs (pytest-xdist, other engineers) never share an
instance. soffice is always terminated (politely, then by killing its process
group) and the profile directory removed, also on errors, SIGTERM and timeout.

Job (JSON object; every key optional except "open")::

    {"open": "/abs/in.xlsx",
     "edits": [{"sheet": "Fasi", "cell": "G2", "value": 75},
               {"sheet": "Fasi", "cell": "H2", "date": "2024-03-01"},
               {"sheet": "Fasi", "cell": "H3", "datetime": "2024-03-01T10:30:00"},
               {"sheet": "Obiettivi", "cell": "J2", "string": "Concluso"},
               {"sheet": "Obiettivi", "cell": "K2", "formula": "=1+1"},
               {"sheet": "Obiettivi", "cell": "L2", "clear": true}],
     "inspect": [{"sheet": "Fasi", "cell": "G2"}],
     "inspect_sheets": true,
     "inspect_names": true,
     "save": [{"path": "/abs/out.xlsx", "filter": "Calc MS Excel 2007 XML"},
              {"path": "/abs/out.ods", "filter": "calc8"}],
     "convert_only": false,
     "more": [{"open": "/abs/other.xlsx", "edits": [...], "save": [...]}]}

"sheet" may be a name or a 0-based index; "cell" any A1 reference (a range: its
top-left cell). "date"/"datetime" edits write the serial counted from the
document's NullDate and give the cell an ISO date format when it has no date
format yet (override with "number_format": "DD/MM/YYYY"); on any other edit
"number_format" is applied after the content (e.g. "0%" after typing "45%", as the
keyboard does to a General cell). "formula" uses
LibreOffice's API syntax: English function names, ";" between arguments.
``convert_only`` = open, calculateAll, save (edits and inspections are ignored):
the file then carries cached formula values like one saved by Excel.
Edits and inspections happen on the open document; after the edits calculateAll()
runs; saves come last and are moved into place atomically. "more" lists further jobs
(same keys, no "more") run one after the other in the same office; their results are
in the result's "more", in order.

Result (JSON object): {"ok": true, "cells": [...], "sheets": [...], "names": [...],
"document": {"is_protected", "null_date"} (with inspect_sheets), "saved": [...],
"warnings": [...], "timings": {...}}, or {"ok": false, "error": "...",
"traceback": "...", "soffice_log": "..."} with exit status 1 (2 = bad command line).
Each cell: sheet, cell, type (EMPTY/VALUE/TEXT/FORMULA), value, string, formula,
is_locked, is_formula_hidden, number_format, is_date_format, validation {type
(ANY/WHOLE/DECIMAL/DATE/TIME/TEXT_LEN/LIST/CUSTOM), operator (NONE/EQUAL/
NOT_EQUAL/GREATER/GREATER_EQUAL/LESS/LESS_EQUAL/BETWEEN/NOT_BETWEEN/FORMULA),
formula1, formula2, show_error, error_title, error_message, error_style
(STOP/WARNING/INFO/MACRO), show_input, input_title, input_message, ignore_blank,
show_list}; formula cells also result_type (VALUE/STRING/ERROR), error_code,
result_value, result_string. Each sheet: index, name, is_protected, is_visible,
conditional_formats (count). Each name: name, content (workbook-level names only).

Facts this driver relies on (LibreOffice 7.4):
* XCell.setValue/setString/setFormula ignore sheet protection and validation, so a
  test must inspect CellProtection.IsLocked, Sheet.isProtected() and Validation.
* Attribute changes (NumberFormat...) on a locked cell of a protected sheet are
  silently dropped through UNO: a "date" edit there only writes the serial (and
  the result carries a warning).
* Dates are serials counted from the document's NullDate (normally 1899-12-30).
* LibreOffice leaves ".~lock.NAME#" next to what it opens; a stale one makes a
  headless load return None. So the driver always opens a private copy.
* A headless load must be Hidden=True (Hidden=False returns None / crashes); a
  hidden document has no real view, so view settings (freeze panes, active cell)
  are NOT written when saving: never assert them on files saved by this driver.
"""

import datetime as _dt
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import uuid

import uno  # noqa: F401  (Debian's python3-uno)
from com.sun.star.beans import PropertyValue
from com.sun.star.connection import NoConnectException

# com.sun.star.util.NumberFormat constants
NF_DATE = 2
NF_TIME = 4
# com.sun.star.sheet.FormulaResult constants
FORMULA_RESULT = {1: "VALUE", 2: "STRING", 4: "ERROR"}

CONNECT_TIMEOUT = 60.0


class JobError(Exception):
    """A problem with the job itself (bad sheet, bad cell, bad edit...)."""


class _Terminated(BaseException):
    """Raised from the SIGTERM / SIGALRM handlers so that ``finally`` runs."""


_CURRENT = {"pgid": None}


def _on_signal(signum, _frame):
    # A UNO call blocked on a hung office would never return to Python: kill the
    # office first (the blocked call then fails with DisposedException), then unwind.
    pgid = _CURRENT["pgid"]
    if pgid:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except OSError:
            pass
    raise _Terminated("received signal %d (%s)" % (signum, signal.Signals(signum).name))


def _group_alive(pgid):
    """True while a non-zombie process of process group ``pgid`` exists."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        entries = os.listdir("/proc")
    except OSError:
        return True  # no /proc: trust killpg
    for pid in entries:
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % pid, "rb") as f:
                stat = f.read().decode("ascii", "replace")
        except OSError:
            continue
        # "pid (comm) state ppid pgrp ...": comm may contain spaces/parens
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
            return True
    return False


def _props(**kw):
    out = []
    for k, v in kw.items():
        p = PropertyValue()
        p.Name = k
        p.Value = v
        out.append(p)
    return tuple(out)


def _url(path):
    return uno.systemPathToFileUrl(os.path.abspath(path))


def _enum_name(v):
    """UNO enums come back as uno.Enum objects; give their value name."""
    return getattr(v, "value", None) or str(v)


class Office:
    """A private soffice process plus its UNO desktop."""

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="pegxl-lo-")
        self.profile = os.path.join(self.tmp, "profile")
        self.pipe = "pegxl_lo_%d_%s" % (os.getpid(), uuid.uuid4().hex[:12])
        self.log_path = os.path.join(self.tmp, "soffice.log")
        self.proc = None
        self.desktop = None
        self.ctx = None
        self.timings = {}

    # -- lifecycle ---------------------------------------------------------
    def start(self):
        soffice = shutil.which("soffice") or shutil.which("libreoffice")
        if not soffice:
            raise RuntimeError("soffice not found on PATH")
        args = [
            soffice,
            "-env:UserInstallation=" + _url(self.profile),
            "--accept=pipe,name=%s;urp;StarOffice.ComponentContext" % self.pipe,
            "--headless", "--invisible", "--nologo", "--nodefault",
            "--norestore", "--nofirststartwizard", "--nolockcheck",
        ]
        env = dict(os.environ)
        # keep soffice away from anything the caller's venv may have set
        for k in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"):
            env.pop(k, None)
        env.setdefault("SAL_USE_VCLPLUGIN", "svp")
        env["HOME"] = self.tmp  # some code paths still look at $HOME
        t0 = time.monotonic()
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            env=env, start_new_session=True,  # own process group -> killpg
        )
        _CURRENT["pgid"] = self.proc.pid
        local = uno.getComponentContext()
        resolver = local.ServiceManager.createInstanceWithContext(
            "com.sun.star.bridge.UnoUrlResolver", local)
        url = "uno:pipe,name=%s;urp;StarOffice.ComponentContext" % self.pipe
        deadline = t0 + CONNECT_TIMEOUT
        attempts = 0
        while True:
            attempts += 1
            try:
                self.ctx = resolver.resolve(url)
                break
            except NoConnectException:
                rc = self.proc.poll()
                # oosplash re-spawns soffice.bin after first-start; a non-zero exit
                # of the wrapper itself means the office is gone for good.
                if rc is not None:
                    raise RuntimeError("soffice exited with status %s before accepting "
                                       "a connection" % rc) from None
                if time.monotonic() > deadline:
                    raise RuntimeError("could not connect to soffice within %.0f s"
                                       % CONNECT_TIMEOUT) from None
                time.sleep(0.1)
        self.desktop = self.ctx.ServiceManager.createInstanceWithContext(
            "com.sun.star.frame.Desktop", self.ctx)
        self.timings["connect_s"] = round(time.monotonic() - t0, 3)
        self.timings["connect_attempts"] = attempts

    def stop(self):
        t0 = time.monotonic()
        if self.desktop is not None:
            try:
                self.desktop.terminate()
            except Exception:  # the bridge often dies mid-call: expected
                pass
            self.desktop = None
        if self.proc is not None:
            pgid = self.proc.pid
            try:
                self.proc.wait(timeout=10)  # oosplash exits after soffice.bin
            except subprocess.TimeoutExpired:
                pass
            # then make sure nothing of the group (wrapper, oosplash, soffice.bin)
            # is left: SIGTERM, then SIGKILL
            for sig in (signal.SIGTERM, signal.SIGKILL):
                if not _group_alive(pgid):
                    break
                try:
                    os.killpg(pgid, sig)
                except ProcessLookupError:
                    break
                end = time.monotonic() + 5
                while time.monotonic() < end and _group_alive(pgid):
                    if self.proc.poll() is None:
                        try:
                            self.proc.wait(timeout=0.1)
                        except subprocess.TimeoutExpired:
                            pass
                    else:
                        time.sleep(0.1)
            if self.proc.poll() is None:
                try:
                    self.proc.wait(timeout=1)
                except subprocess.TimeoutExpired:
                    pass
        try:
            self._log.close()
        except Exception:
            pass
        _CURRENT["pgid"] = None
        self.timings["stop_s"] = round(time.monotonic() - t0, 3)

    def log_tail(self, n=4000):
        try:
            with open(self.log_path, "rb") as f:
                data = f.read()
            return data[-n:].decode("utf-8", "replace")
        except OSError:
            return ""

    def cleanup(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


# -- document helpers ------------------------------------------------------
def _sheet(doc, ref):
    sheets = doc.Sheets
    if isinstance(ref, int):
        if not 0 <= ref < sheets.Count:
            raise JobError("no sheet with index %d (document has %d)" % (ref, sheets.Count))
        return sheets.getByIndex(ref)
    if not sheets.hasByName(ref):
        raise JobError("no sheet named %r (sheets: %s)" % (ref, list(sheets.ElementNames)))
    return sheets.getByName(ref)


def _cell(doc, spec):
    if "sheet" not in spec or "cell" not in spec:
        raise JobError("cell spec needs 'sheet' and 'cell': %r" % (spec,))
    sh = _sheet(doc, spec["sheet"])
    try:
        rng = sh.getCellRangeByName(spec["cell"])
    except Exception as e:
        raise JobError("bad cell %r on sheet %r: %s" % (spec["cell"], spec["sheet"], e)) from e
    return rng.getCellByPosition(0, 0)


def _null_date(doc):
    nd = doc.NullDate  # com.sun.star.util.Date
    return _dt.datetime(nd.Year, nd.Month, nd.Day)


def _has_date_format(doc, cell):
    fmt = doc.NumberFormats.getByKey(cell.NumberFormat)
    return bool(fmt.Type & (NF_DATE | NF_TIME))


ISO_FORMATS = {"date": "YYYY-MM-DD", "datetime": "YYYY-MM-DD HH:MM:SS"}


def _format_key(doc, code):
    formats = doc.NumberFormats
    loc = doc.CharLocale
    key = formats.queryKey(code, loc, False)
    if key == -1:
        key = formats.addNew(code, loc)
    return key


def _apply_date_format(doc, cell, kind, code=None):
    """Give the cell a date format, as Excel/Calc do when a person types a date.

    Returns a warning string when the format could not be applied: through UNO,
    attribute changes on a *locked* cell of a *protected* sheet are silently
    dropped (content changes are not), so the cell keeps e.g. "General".
    """
    if code is None and _has_date_format(doc, cell):
        return None
    key = _format_key(doc, code or ISO_FORMATS[kind])
    cell.NumberFormat = key
    if cell.NumberFormat != key:
        return ("number format not applied to %s (locked cell on a protected sheet?); "
                "the value is stored as a plain serial" % cell.AbsoluteName)
    return None


def _parse_date(text, key):
    try:
        if key == "date":
            return _dt.datetime.combine(_dt.date.fromisoformat(text), _dt.time())
        return _dt.datetime.fromisoformat(text)
    except (TypeError, ValueError) as e:
        raise JobError("bad %s %r: %s" % (key, text, e)) from e


def apply_edit(doc, edit):
    cell = _cell(doc, edit)
    kinds = [k for k in ("value", "string", "date", "datetime", "formula", "clear")
             if k in edit]
    if len(kinds) != 1:
        raise JobError("edit needs exactly one of value/string/date/datetime/formula/"
                       "clear: %r" % (edit,))
    kind = kinds[0]
    v = edit[kind]
    if kind == "value":
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise JobError("'value' must be a number: %r" % (edit,))
        cell.setValue(float(v))
    elif kind == "string":
        cell.setString(str(v))
    elif kind in ("date", "datetime"):
        d = _parse_date(v, kind)
        serial = (d - _null_date(doc)) / _dt.timedelta(days=1)
        cell.setValue(serial)
        return _apply_date_format(doc, cell, kind, edit.get("number_format"))
    elif kind == "formula":
        cell.setFormula(str(v))
    elif kind == "clear":
        # VALUE|DATETIME|STRING|FORMULA (= 1|2|4|16), keep formatting
        cell.clearContents(1 | 2 | 4 | 16)
    if edit.get("number_format"):
        # the format the keyboard gives a General cell (typing "45%" gives "0%")
        key = _format_key(doc, edit["number_format"])
        cell.NumberFormat = key
        if cell.NumberFormat != key:
            return ("number format not applied to %s (locked cell on a protected sheet?)"
                    % cell.AbsoluteName)
    return None


def _validation(cell):
    v = cell.Validation
    vtype = _enum_name(v.Type)
    return {
        "type": vtype,
        "operator": _enum_name(v.Operator),
        "formula1": v.getFormula1(),
        "formula2": v.getFormula2(),
        "show_error": bool(v.ShowErrorMessage),
        "error_title": v.ErrorTitle,
        "error_message": v.ErrorMessage,
        "error_style": _enum_name(v.ErrorAlertStyle),
        "show_input": bool(v.ShowInputMessage),
        "input_title": v.InputTitle,
        "input_message": v.InputMessage,
        "ignore_blank": bool(v.IgnoreBlankCells),
        "show_list": int(v.ShowList),
    }


def inspect_cell(doc, spec):
    cell = _cell(doc, spec)
    ctype = _enum_name(cell.getType())
    fmt = doc.NumberFormats.getByKey(cell.NumberFormat)
    out = {
        "sheet": spec["sheet"],
        "cell": spec["cell"],
        "type": ctype,
        "value": cell.getValue(),
        "string": cell.getString(),
        "formula": cell.getFormula(),
        "is_locked": bool(cell.CellProtection.IsLocked),
        "is_formula_hidden": bool(cell.CellProtection.IsFormulaHidden),
        "number_format": fmt.FormatString,
        "is_date_format": bool(fmt.Type & (NF_DATE | NF_TIME)),
        "validation": _validation(cell),
    }
    if ctype == "FORMULA":
        rt = cell.FormulaResultType2
        out["result_type"] = FORMULA_RESULT.get(rt, str(rt))
        out["error_code"] = cell.getError()
        out["result_value"] = cell.getValue()
        out["result_string"] = cell.getString()
    return out


def inspect_sheets(doc):
    out = []
    sheets = doc.Sheets
    for i in range(sheets.Count):
        sh = sheets.getByIndex(i)
        try:
            n_cf = sh.ConditionalFormats.Length
        except Exception:
            n_cf = None
        out.append({
            "index": i,
            "name": sh.Name,
            "is_protected": bool(sh.isProtected()),
            "is_visible": bool(sh.IsVisible),
            "conditional_formats": n_cf,
        })
    return out


def inspect_names(doc):
    names = doc.NamedRanges
    out = []
    for n in names.ElementNames:
        nr = names.getByName(n)
        out.append({"name": n, "content": nr.Content})
    return out


def store(office, doc, spec):
    path = spec["path"]
    flt = spec.get("filter")
    if not flt:
        raise JobError("save entry needs a 'filter': %r" % (spec,))
    dest = os.path.abspath(path)
    dest_dir = os.path.dirname(dest)
    os.makedirs(dest_dir, exist_ok=True)
    # store privately, then move into place atomically: no half-written file is
    # ever visible at ``path`` and parallel jobs saving to the same path cannot clash
    private = os.path.join(office.tmp, "output", uuid.uuid4().hex, os.path.basename(dest))
    os.makedirs(os.path.dirname(private))
    doc.storeToURL(_url(private), _props(FilterName=flt, Overwrite=True))
    if not os.path.exists(private):
        raise RuntimeError("storeToURL returned but wrote nothing for %s" % path)
    staging = os.path.join(dest_dir, ".%s.%s.tmp" % (os.path.basename(dest),
                                                      uuid.uuid4().hex[:8]))
    try:
        shutil.copyfile(private, staging)
        os.replace(staging, dest)
    finally:
        if os.path.exists(staging):
            os.unlink(staging)
    return {"path": path, "filter": flt, "size": os.path.getsize(dest)}


def validate_job(job):
    """Cheap checks done before soffice is started."""
    if not isinstance(job, dict):
        raise JobError("job must be a JSON object")
    src = job.get("open")
    if not src or not isinstance(src, str):
        raise JobError("job has no 'open' path")
    if not os.path.isfile(src):
        raise JobError("input file does not exist: %s" % src)
    for key in ("edits", "inspect", "save"):
        if not isinstance(job.get(key, []), list):
            raise JobError("'%s' must be a list" % key)
    for spec in job.get("save", []):
        if not isinstance(spec, dict) or not spec.get("path") or not spec.get("filter"):
            raise JobError("save entries need 'path' and 'filter': %r" % (spec,))
    for spec in job.get("edits", []) + job.get("inspect", []):
        if not isinstance(spec, dict) or "sheet" not in spec or "cell" not in spec:
            raise JobError("edits/inspect entries need 'sheet' and 'cell': %r" % (spec,))


def run_job(office, job):
    result = {"ok": True, "cells": [], "sheets": [], "names": [], "saved": [],
              "warnings": []}
    src = job["open"]
    # Open a private copy: LibreOffice writes a ".~lock.NAME#" file next to what it
    # opens, and a stale one (left by a killed office) makes a headless load fail
    # silently (loadComponentFromURL returns None). A copy also lets parallel jobs
    # open the same input.
    work = os.path.join(office.tmp, "input")
    os.makedirs(work, exist_ok=True)
    local = os.path.join(work, os.path.basename(src))
    shutil.copyfile(src, local)
    t0 = time.monotonic()
    load = {"Hidden": True, "ReadOnly": False}
    if local.lower().endswith(".csv"):
        # pegxl's CSV dialect (";", '"', UTF-8 = 76, from row 1, default column formats,
        # language 1040 = Italian: "," decimals), as Italian Excel reads it
        load.update(FilterName="Text - txt - csv (StarCalc)",
                    FilterOptions=job.get("csv_options", "59,34,76,1,,1040"))
    doc = office.desktop.loadComponentFromURL(_url(local), "_blank", 0, _props(**load))
    if doc is None:
        raise RuntimeError("LibreOffice could not open %s (unsupported, corrupt or "
                           "password-protected file?)" % src)
    office.timings["load_s"] = round(time.monotonic() - t0, 3)
    try:
        if not job.get("convert_only"):
            for e in job.get("edits", []):
                warning = apply_edit(doc, e)
                if warning:
                    result["warnings"].append(warning)
        doc.calculateAll()
        if not job.get("convert_only"):
            for spec in job.get("inspect", []):
                result["cells"].append(inspect_cell(doc, spec))
            if job.get("inspect_sheets"):
                result["sheets"] = inspect_sheets(doc)
                result["document"] = {
                    "is_protected": bool(doc.isProtected()),  # structure protection
                    "null_date": _null_date(doc).date().isoformat(),
                }
            if job.get("inspect_names"):
                result["names"] = inspect_names(doc)
        t1 = time.monotonic()
        for spec in job.get("save", []):
            result["saved"].append(store(office, doc, spec))
        office.timings["save_s"] = round(time.monotonic() - t1, 3)
    finally:
        try:
            doc.close(True)
        except Exception:
            pass
    return result


def main(argv):
    args = argv[1:]
    timeout = None
    if "--timeout" in args:
        i = args.index("--timeout")
        try:
            timeout = int(float(args[i + 1]))
        except (IndexError, ValueError):
            print("--timeout needs a number of seconds", file=sys.stderr)
            return 2
        del args[i:i + 2]
    if len(args) != 2:
        print("\n\n".join(__doc__.split("\n\n")[1:3]), file=sys.stderr)
        return 2
    job_path, result_path = args
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    if timeout:
        signal.signal(signal.SIGALRM, _on_signal)
        signal.alarm(max(1, timeout))

    t0 = time.monotonic()
    office = None
    result = None
    status = 1
    try:
        with open(job_path, encoding="utf-8") as f:
            job = json.load(f)
        validate_job(job)
        for sub in job.get("more", []):
            validate_job(sub)
        office = Office()
        office.start()
        result = run_job(office, job)
        # further documents in the same office: one soffice start for many files
        more = [run_job(office, sub) for sub in job.get("more", [])]
        if more:
            result["more"] = more
        status = 0
    except (Exception, _Terminated) as e:
        result = {"ok": False, "error": "%s: %s" % (type(e).__name__, e),
                  "traceback": traceback.format_exc()}
        if office is not None:
            result["soffice_log"] = office.log_tail()
        print(result["error"], file=sys.stderr)
        print(result["traceback"], file=sys.stderr)
    finally:
        signal.alarm(0)
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGALRM):
            signal.signal(sig, signal.SIG_IGN)  # let the shutdown finish
        if office is not None:
            try:
                office.stop()
            except BaseException as e:  # never leave soffice behind silently
                print("error stopping soffice: %r" % (e,), file=sys.stderr)
            office.cleanup()
    timings = dict(office.timings) if office else {}
    timings["total_s"] = round(time.monotonic() - t0, 3)
    result["timings"] = timings
    tmp = result_path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(result, f, ensure_ascii=False, indent=1, default=str)
    os.replace(tmp, result_path)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
