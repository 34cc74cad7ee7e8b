"""One returned workbook's typed values, checked where the file is read (a worker process).

`check_file` takes a ReturnFile's raw rows: a formula or an error value over an input
(V012, V020), a value beyond Excel's limits (V030-V033), each input parsed by its field's
type (V002, V006, V007, V014, V015, V017-V019). It gives back the findings and compact
columns of parsed values (no row dicts); `frames` joins the columns of many files, in
file order, into the tables the checks across files run on (`pegxl.validators.returns`).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from itertools import chain
from sys import intern
from typing import Any

import numpy as np
import pandas as pd
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from ..errors import ErrorCode, Finding, finding, show_value
from ..ingest import ReturnFile
from ..plan import Plan
from ..values import is_blank, parse_date, parse_number, parse_typed
from ..workbook import contract as C

_EXAMPLES = {"numero": "un numero, es. 15 o 78.622,20", "percentuale": "un numero tra 0 e 100, es. 75",
             "sì/no": "sì o no", "data": "una data gg/mm/aaaa", "testo": "un testo"}

SPECS = {C.SHEET_OBJECTIVES: C.T_OBJECTIVES, C.SHEET_PHASES: C.T_PHASES, C.SHEET_INDICATORS: C.T_INDICATORS}
_BASE = {C.SHEET_OBJECTIVES: ["sector", "file", "xlrow", "record", "objective", "neutralised"],
         C.SHEET_PHASES: ["sector", "file", "xlrow", "record", "objective", "phase", "neutralised",
                          "epoch_1904"],
         C.SHEET_INDICATORS: ["sector", "file", "xlrow", "record", "objective", "indicator", "neutralised",
                              "value_type", "kind", "epoch_1904"]}
INPUTS = {C.SHEET_OBJECTIVES: C.T_OBJECTIVES_INPUT, C.SHEET_PHASES: C.T_PHASES_INPUT,
          C.SHEET_INDICATORS: C.T_INDICATORS_INPUT}
# a row as read: the base fields, then per input its value, cell, formula, percent format, error
RAW_COLUMNS = {sheet: base + [c for fld in INPUTS[sheet]
                              for c in (fld, f"{fld}_cell", f"{fld}_formula", f"{fld}_percent", f"{fld}_error")]
               for sheet, base in _BASE.items()}
# the columns the parsing adds after those, as the tables have them
COLUMNS = {C.SHEET_OBJECTIVES: RAW_COLUMNS[C.SHEET_OBJECTIVES] + ["status_raw", "declared_raw"],
           C.SHEET_PHASES: RAW_COLUMNS[C.SHEET_PHASES] + ["progress_raw", "actual_start_raw", "actual_end_raw"],
           C.SHEET_INDICATORS: RAW_COLUMNS[C.SHEET_INDICATORS] + ["achieved_raw", "achieved_ok"]}
_FLOAT_COLUMNS = {"declared", "progress"}
_BOOL_COLUMNS = {"achieved_ok"}
_NAN = float("nan")   # a field a row does not have, as a frame of records gives it


@dataclass
class FileContent:
    """What checking one file's values gives: its findings, in the order the checks make
    them, and sheet -> column -> parsed values of its records (COLUMNS)."""

    findings: list[Finding] = field(default_factory=list)
    columns: dict[str, dict[str, list[Any]]] = field(default_factory=dict)


def indicator_targets(plan: Plan) -> dict[tuple[Any, Any], Any]:
    """(objective, indicator) -> the plan's typed target: what tells a fraction (V019)."""
    return {(o, n): t for o, n, t in zip(plan.indicators["objective"], plan.indicators["indicator"],
                                         plan.indicators["target_value"])}


def check_file(rf: ReturnFile, targets: dict[tuple[Any, Any], Any]) -> FileContent:
    """The findings and parsed columns of one readable file's raw rows (`rf.rows`)."""
    content = FileContent()
    if not rf.readable:
        return content
    out = content.findings
    rows = {sheet: [{c: r.get(c, _NAN) for c in cols} for r in rf.rows.get(sheet, [])]
            for sheet, cols in RAW_COLUMNS.items()}
    for sheet, spec in SPECS.items():
        _formulas(rows[sheet], spec, INPUTS[sheet], out)
    for sheet, spec in SPECS.items():
        _limits(rows[sheet], spec, INPUTS[sheet], out)
    content.columns[C.SHEET_OBJECTIVES] = _parse_objectives(rows[C.SHEET_OBJECTIVES], out)
    content.columns[C.SHEET_PHASES] = _parse_phases(rows[C.SHEET_PHASES], out)
    content.columns[C.SHEET_INDICATORS] = _parse_indicators(rows[C.SHEET_INDICATORS], targets, out)
    return content


def frames(contents: list[FileContent]) -> dict[str, pd.DataFrame]:
    """sheet -> one table of every file's rows, in the order of `contents`."""
    out = {}
    for sheet, cols in COLUMNS.items():
        parts = [ct.columns[sheet] for ct in contents if sheet in ct.columns]
        data: dict[str, Any] = {}
        for c in cols:
            values = list(chain.from_iterable(p[c] for p in parts))
            if c == "objective":   # one text per code, not one per row (172,000 at 1,000 returns)
                values = [intern(v) if type(v) is str else v for v in values]
            if c in _FLOAT_COLUMNS:
                data[c] = np.array(values, dtype=float)
            elif c in _BOOL_COLUMNS:
                data[c] = np.array(values, dtype=bool)
            else:
                arr = np.empty(len(values), dtype=object)
                arr[:] = values
                # a Series: the frame would infer pandas' str dtype from an array of texts
                data[c] = pd.Series(arr, dtype=object, copy=False)
        out[sheet] = pd.DataFrame(data, columns=cols)
    return out


def _present(v: Any) -> bool:
    """A formula or error value found in the cell (a missing one is None or NaN)."""
    return v is not None and v == v


def _formulas(rows: list[dict[str, Any]], spec: C.TableSpec, inputs: tuple[str, ...],
              out: list[Finding]) -> None:
    for fld in inputs:
        col, cell = f"{fld}_formula", f"{fld}_cell"
        for r in rows:
            if _present(r[col]):
                out.append(finding(ErrorCode.V012, file=r["file"], sheet=spec.sheet, cell=r[cell],
                                   row=r["xlrow"], column=spec.header(fld), record=r["record"],
                                   value="=" + str(r[col]).lstrip("=")))
                r[fld] = None  # a formula's cached value is never trusted as input
        col = f"{fld}_error"
        for r in rows:
            if _present(r[col]):
                out.append(finding(ErrorCode.V020, file=r["file"], sheet=spec.sheet, cell=r[cell],
                                   row=r["xlrow"], column=spec.header(fld), record=r["record"], value=r[col]))
                r[fld] = None


# Limits of what pegxl writes (excel-pitfalls.md): a value beyond them would be cut,
# dropped or refuse to save in the consolidated workbook or the copies, after the other
# settori were read -- so it is refused here, at its cell, and the file alone is left out.
EXCEL_TEXT_MAX = 32_767
EXCEL_NUMBER_MAX = 9.99999999999999e307
EXCEL_DATE_MIN = dt.date(1900, 1, 1)
_DATE_FIELDS = {"actual_start", "actual_end"}      # parsed as dates: V002 says it there


def _limits(rows: list[dict[str, Any]], spec: C.TableSpec, inputs: tuple[str, ...], out: list[Finding]) -> None:
    for fld in inputs:
        for r in rows:
            v = r[fld]
            if v is None or isinstance(v, (bool, int)):
                continue
            code: ErrorCode | None = None
            extra: dict[str, str] = {}
            if isinstance(v, str):
                if len(v) > EXCEL_TEXT_MAX:
                    code, extra = ErrorCode.V030, dict(value=v[:40] + "…", detail=f"{len(v):,}".replace(",", "."))
                elif ILLEGAL_CHARACTERS_RE.search(v):
                    chars = ", ".join(f"U+{ord(ch):04X}" for ch in dict.fromkeys(ILLEGAL_CHARACTERS_RE.findall(v)))
                    code, extra = ErrorCode.V031, dict(value=ILLEGAL_CHARACTERS_RE.sub("", v)[:60], detail=chars[:60])
            elif isinstance(v, float):
                if v != v or abs(v) > EXCEL_NUMBER_MAX:
                    code, extra = ErrorCode.V032, dict(value=str(v))
            elif isinstance(v, (dt.date, dt.datetime)):
                d = v.date() if isinstance(v, dt.datetime) else v
                if d >= EXCEL_DATE_MIN:
                    continue
                date_typed = fld in _DATE_FIELDS or (fld == "achieved" and r.get("value_type") == "data")
                if not date_typed:
                    code, extra = ErrorCode.V033, dict(value=d.isoformat())
            if code is None:
                continue
            out.append(finding(code, file=r["file"], sheet=spec.sheet, cell=r.get(f"{fld}_cell"),
                               row=r["xlrow"], column=spec.header(fld), record=r["record"], **extra))


# ------------------------------------------------------------------- parsing

def _f(code: ErrorCode, r: Any, spec: C.TableSpec, fld: str, **kw: Any) -> Finding:
    return finding(code, file=r["file"], sheet=spec.sheet, cell=r[f"{fld}_cell"], row=r["xlrow"],
                   column=spec.header(fld), record=r["record"], **kw)


def _text(v: Any) -> str | None:
    if is_blank(v):
        return None
    if isinstance(v, str):
        return v
    return show_value(v)


def _columns(rows: list[dict[str, Any]], sheet: str) -> dict[str, list[Any]]:
    return {c: [r[c] for r in rows] for c in RAW_COLUMNS[sheet]}


def _parse_objectives(rows: list[dict[str, Any]], out: list[Finding]) -> dict[str, list[Any]]:
    spec = C.T_OBJECTIVES
    status, status_raw, declared = [], [], []
    for r in rows:
        raw = r["status"]
        status_raw.append(raw)
        status.append(C.canonical(raw, C.STATI) if not is_blank(raw) else None)
        declared.append(_percent_figure(r, spec, "declared", out))
    cols = _columns(rows, C.SHEET_OBJECTIVES)
    cols["status_raw"] = status_raw
    cols["status"] = status
    cols["declared_raw"] = cols["declared"]
    cols["declared"] = declared
    for fld in ("report", "deviation_reason"):
        cols[fld] = [_text(v) for v in cols[fld]]
    return cols


def _percent_figure(r: dict, spec: C.TableSpec, fld: str, out: list[Finding]) -> float | None:
    """A 0-100 figure typed by a settore (Grado dichiarato %, Avanzamento %), read as meant:
    text the Italian way (V007), a percent-formatted cell (V015), a likely fraction (V019)."""
    raw = r[fld]
    p = parse_number(raw, percent_format=bool(r[f"{fld}_percent"]))
    if not p.ok:
        out.append(_f(ErrorCode.V014, r, spec, fld, value=raw))
    elif p.from_text:
        out.append(_f(ErrorCode.V007, r, spec, fld, value=raw, parsed=show_value(p.value)))
    elif p.percent_scaled:
        out.append(_f(ErrorCode.V015, r, spec, fld, value=raw, parsed=show_value(p.value)))
    elif _tiny_percent(p):
        out.append(_f(ErrorCode.V019, r, spec, fld, value=show_value(p.value), alt=show_value(p.value * 100)))
    return p.value if p.ok else None


def _parse_phases(rows: list[dict[str, Any]], out: list[Finding]) -> dict[str, list[Any]]:
    spec = C.T_PHASES
    progress: list[Any] = []
    starts: list[Any] = []
    ends: list[Any] = []
    for r in rows:
        if r["neutralised"]:
            progress.append(None)
            starts.append(None)
            ends.append(None)
            continue
        progress.append(_percent_figure(r, spec, "progress", out))
        for fld, bucket in (("actual_start", starts), ("actual_end", ends)):
            d = parse_date(r[fld], epoch_1904=r.get("epoch_1904") is True)
            if not d.ok:
                out.append(_f(ErrorCode.V002, r, spec, fld, value=r[fld]))
            elif d.serial:
                out.append(_f(ErrorCode.V017, r, spec, fld, value=r[fld], parsed=show_value(d.value)))
            elif d.from_text:
                out.append(_f(ErrorCode.V007, r, spec, fld, value=r[fld], parsed=show_value(d.value)))
            bucket.append(d.value if d.ok else None)
    cols = _columns(rows, C.SHEET_PHASES)
    for fld in ("progress", "actual_start", "actual_end"):
        cols[f"{fld}_raw"] = cols[fld]
    cols["progress"] = progress
    cols["actual_start"] = starts
    cols["actual_end"] = ends
    cols["notes"] = [_text(v) for v in cols["notes"]]
    return cols


def _tiny_percent(p: Any) -> bool:
    """A 0-100 figure strictly between 0 and 1, typed as a plain number: 0,85 is far more
    often 85% typed as a fraction than 0,85%. Kept as typed, but said (V019)."""
    return (p.ok and not p.percent_scaled and isinstance(p.value, float) and 0 < p.value < 1)


def _parse_indicators(rows: list[dict[str, Any]], targets: dict[tuple[Any, Any], Any],
                      out: list[Finding]) -> dict[str, list[Any]]:
    spec = C.T_INDICATORS
    values: list[Any] = []
    ok: list[bool] = []
    for r in rows:
        vt = r["value_type"] or "testo"
        raw = r["achieved"]
        if r["neutralised"]:
            values.append(None)
            ok.append(True)
            continue
        p = parse_typed(raw, vt, percent_format=bool(r["achieved_percent"]),
                        epoch_1904=r.get("epoch_1904") is True)
        if not p.ok:
            out.append(_f(ErrorCode.V006, r, spec, "achieved", value=raw, value_type=vt, example=_EXAMPLES[vt]))
        elif p.serial:
            out.append(_f(ErrorCode.V017, r, spec, "achieved", value=raw, parsed=show_value(p.value)))
        elif p.from_text and vt != "testo" and not _plain_yes_no(raw, vt):
            out.append(_f(ErrorCode.V007, r, spec, "achieved", value=raw, parsed=show_value(p.value)))
        elif p.percent_scaled:
            out.append(_f(ErrorCode.V015, r, spec, "achieved", value=raw, parsed=show_value(p.value)))
        elif vt == "numero" and r["achieved_percent"] is True and isinstance(p.value, float):
            # Excel shows 0,95 as «95%»: kept as the number stored, but never in silence
            alt = show_value(p.value * 100)
            out.append(_f(ErrorCode.V018, r, spec, "achieved", value=raw, shown=f"{alt}%",
                          parsed=show_value(p.value), alt=alt))
        elif vt == "percentuale" and _tiny_percent(p) and _over_one(targets.get((r["objective"], r["indicator"]))):
            out.append(_f(ErrorCode.V019, r, spec, "achieved", value=show_value(p.value),
                          alt=show_value(p.value * 100)))
        values.append(p.value if p.ok else None)
        ok.append(p.ok)
    cols = _columns(rows, C.SHEET_INDICATORS)
    cols["achieved_raw"] = cols["achieved"]
    cols["achieved"] = values
    cols["achieved_ok"] = ok
    cols["notes"] = [_text(v) for v in cols["notes"]]
    return cols


def _over_one(target: Any) -> bool:
    return isinstance(target, (int, float)) and not isinstance(target, bool) and target > 1


_YES_NO_WORDS = {"si", "no", "fatto", "non fatto", "realizzato", "non realizzato"}


def _plain_yes_no(raw: Any, value_type: str) -> bool:
    """A sì/no answer typed as one of its usual words is not ambiguous: no warning."""
    return value_type == "sì/no" and isinstance(raw, str) and C.norm_word(raw).strip(" .") in _YES_NO_WORDS
