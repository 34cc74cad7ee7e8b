"""Checking the plan: pandera schemas per sheet, then the checks across sheets.

Every problem is reported at once, located at its cell, with the record's code.
"""
from __future__ import annotations

import datetime as dt
import operator
import os
import re
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa

from ..errors import ERROR, ErrorCode, Finding, PegxlError, finding, show_value
from ..plan import (  # noqa: F401 (load_plan, parse_plan re-exported)
    Plan,
    file_name,
    load_plan,
    parse_plan,
    parse_plan_partial,
    read_plan_book,
    template_name,
    zeros_hint,
)
from ..values import is_blank, safe_code
from ..workbook import contract as C
from ..workbook.memory import gc_paused
from ..workbook.reader import RawBook, Table, cell_ref
from .schema import coded, run_schema

WEIGHT_TOLERANCE = 0.01
_FILE_SAFE = re.compile(r"^[A-Za-z0-9_.\-]+$")


def _positive(code: ErrorCode) -> pa.Check:
    # a non-numeric value is already reported as P016 on its cell: only real numbers are judged
    def ok(s: pd.Series) -> pd.Series:
        n = pd.to_numeric(s, errors="coerce")
        return n.isna() | (n > 0)
    return pa.Check(ok, element_wise=False, error=coded(code))


def _not_negative(code: ErrorCode) -> pa.Check:
    def ok(s: pd.Series) -> pd.Series:
        n = pd.to_numeric(s, errors="coerce")
        return n.isna() | (n >= 0)
    return pa.Check(ok, element_wise=False, error=coded(code))


def _vocab(words: tuple[str, ...]) -> pa.Check:
    return pa.Check.isin(list(words), error=coded(ErrorCode.P013))


SECTORS_SCHEMA = pa.DataFrameSchema({
    "sector": pa.Column(None, nullable=False),
    "sector_name": pa.Column(None, nullable=False),
    "manager": pa.Column(None, nullable=False),
    "weight": pa.Column(None, _positive(ErrorCode.P022), nullable=True),
}, strict=False)

OBJECTIVES_SCHEMA = pa.DataFrameSchema({
    "objective": pa.Column(None, nullable=False),
    "sectors": pa.Column(None, nullable=False),
    "title": pa.Column(None, nullable=False),
    "typology": pa.Column(None, _vocab(C.TIPOLOGIE), nullable=False),
    "weight": pa.Column(None, _positive(ErrorCode.P022), nullable=True),
}, strict=False)

PHASES_SCHEMA = pa.DataFrameSchema({
    "objective": pa.Column(None, nullable=False),
    "phase": pa.Column(None, nullable=False),
    "description": pa.Column(None, nullable=False),
    "planned_end": pa.Column(None, nullable=False),
    "weight": pa.Column(None, _not_negative(ErrorCode.P022), nullable=False),
}, strict=False)

INDICATORS_SCHEMA = pa.DataFrameSchema({
    "objective": pa.Column(None, nullable=False),
    "indicator": pa.Column(None, nullable=False),
    "description": pa.Column(None, nullable=False),
    "kind": pa.Column(None, _vocab(C.TIPI_INDICATORE), nullable=False),
    "value_type": pa.Column(None, _vocab(C.TIPI_VALORE), nullable=False),
    "direction": pa.Column(None, _vocab(C.VERSI), nullable=True),
    "target": pa.Column(None, nullable=False),
    "weight": pa.Column(None, _positive(ErrorCode.P022), nullable=True),
}, strict=False)

ALLOWED = {"typology": C.TIPOLOGIE, "kind": C.TIPI_INDICATORE, "value_type": C.TIPI_VALORE,
           "direction": C.VERSI}


def check_plan(path: str | os.PathLike) -> tuple[Plan | None, list[Finding]]:
    """Read and check a plan workbook: (plan or None, every finding).

    The plan is None when a sheet or required column is missing or the Ente sheet is
    unusable; in the latter case the other sheets are still checked."""
    with gc_paused():
        return check_book(read_plan_book(path))


def check_book(book: RawBook) -> tuple[Plan | None, list[Finding]]:
    plan, findings, complete = parse_plan_partial(book)
    if plan is None:
        return None, _merged_notes(book, findings)
    findings = _dedupe(findings + check_parsed(plan) + _reference_date(plan, book))
    return (plan if complete else None), _merged_notes(book, findings)


def _reference_date(plan: Plan, book: RawBook) -> list[Finding]:
    """The Data di riferimento dates a snapshot (archive/snapshots.py): said when a
    monitoring has none (P041) or when it is outside the plan's year (P012)."""
    if not plan.anno or not plan.fase:
        return []
    d = plan.reference_date
    if d is None:
        if plan.fase != "Monitoraggio intermedio":
            return []
        return [finding(ErrorCode.P041, file=book.path, sheet=C.SHEET_ENTE, anno=plan.anno)]
    if d.year == plan.anno:
        return []
    sheet = book.sheet(C.SHEET_ENTE)
    at = next((r for r, row in enumerate(sheet.rows if sheet else [], start=1)
               if row and C.norm_header(row[0]) == C.norm_header("Data di riferimento")), None)
    return [finding(ErrorCode.P012, file=book.path, sheet=C.SHEET_ENTE, cell=f"B{at}" if at else None,
                    row=at, column="Data di riferimento", value=d, anno=plan.anno)]


_CELL_RE = re.compile(r"^([A-Z]{1,3})([1-9][0-9]*)$")


def _merged_notes(book: RawBook, findings: list[Finding]) -> list[Finding]:
    """A problem at a cell covered by merged cells says so: the user sees the merge's value
    on that row («2024_S01_01» over three phases) while the file holds it in the first cell
    only. A missing header when the header row has merged cells says so too."""
    for f in findings:
        sheet = book.sheet(f.sheet) if f.sheet else None
        if sheet is None or not sheet.merged:
            continue
        note = None
        m = _CELL_RE.match(f.cell or "")
        if m:
            col0 = _col0(m.group(1))
            row0 = int(m.group(2)) - 1
            anchor = sheet.merged_anchor(row0, col0)
            if anchor is not None:
                note = (f" La cella {f.cell} è unita alla cella {_a1(*anchor)}, che sola contiene il valore: "
                        "separare le celle unite e scrivere il valore in ogni riga.")
        elif f.is_(ErrorCode.P002) and any(r0 == 0 for r0, _, _, _ in sheet.merged):
            spans = ", ".join(f"{_a1(r0, c0)}:{_a1(r1, c1)}" for r0, c0, r1, c1 in sheet.merged if r0 == 0)
            note = (f" Nella riga delle intestazioni ci sono celle unite ({spans}): separarle e scrivere "
                    "un'intestazione in ogni colonna.")
        if note and note not in f.message:
            f.message += note
    return findings


def _col0(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + (ord(ch) - 64)
    return n - 1


def _a1(row0: int, col0: int) -> str:
    return cell_ref(row0, col0)


def has_errors(findings: list[Finding]) -> bool:
    return any(f.severity == ERROR for f in findings)


def _dedupe(findings: list[Finding]) -> list[Finding]:
    seen, out = set(), []
    for f in findings:
        key = (f.code, f.sheet, f.cell, f.record, str(f.value))
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out


def _header_fn(spec: C.TableSpec):
    def header(fld: str) -> str:
        try:
            return spec.header(fld)
        except KeyError:
            return fld
    return header


def _view(df: pd.DataFrame, raw_cols: dict[str, str]) -> pd.DataFrame:
    """The frame as validated: an unparseable vocabulary word keeps what the user typed."""
    v = df.copy()
    for fld, raw in raw_cols.items():
        if raw in v.columns:
            v[fld] = [p if p is not None else (None if is_blank(r) else r)
                      for p, r in zip(v[fld], v[raw])]
    return v


def check_parsed(plan: Plan) -> list[Finding]:
    file = plan.path
    t = plan.tables
    out: list[Finding] = []

    def extra(column: str, row: pd.Series, code: ErrorCode) -> dict[str, Any]:
        if column in ALLOWED:
            return {"allowed": ", ".join(ALLOWED[column])}
        return {}

    # -- per sheet: pandera
    out += run_schema(SECTORS_SCHEMA, plan.sectors, file=file, sheet=C.SHEET_SECTORS,
                      cell_of=t[C.SHEET_SECTORS].cell, record_of=lambda r: r["sector"],
                      header_of=_header_fn(C.SECTORS), missing_code=ErrorCode.P003)
    out += run_schema(OBJECTIVES_SCHEMA, _view(plan.objectives, {"typology": "typology_raw"}), file=file,
                      sheet=C.SHEET_OBJECTIVES, cell_of=t[C.SHEET_OBJECTIVES].cell,
                      record_of=lambda r: r["objective"], header_of=_header_fn(C.OBJECTIVES),
                      missing_code=ErrorCode.P003, extra=extra)
    out += run_schema(PHASES_SCHEMA, _typed_as(plan.phases, t[C.SHEET_PHASES], ("phase", "planned_end", "weight")),
                      file=file, sheet=C.SHEET_PHASES, cell_of=t[C.SHEET_PHASES].cell,
                      record_of=lambda r: _rec(plan.phases.loc[r.name], "fase", "phase"),  # type: ignore[call-overload]  # a label of its index
                      header_of=_header_fn(C.PHASES),
                      missing_code=ErrorCode.P003)
    ind_view = _typed_as(_view(plan.indicators, {"kind": "kind_raw", "value_type": "value_type_raw",
                                                 "direction": "direction_raw"}),
                         t[C.SHEET_INDICATORS], ("indicator",))
    out += run_schema(INDICATORS_SCHEMA, ind_view, file=file, sheet=C.SHEET_INDICATORS,
                      cell_of=t[C.SHEET_INDICATORS].cell,
                      record_of=lambda r: _rec(plan.indicators.loc[r.name], "indicatore", "indicator"),  # type: ignore[call-overload]  # a label of its index
                      header_of=_header_fn(C.INDICATORS), missing_code=ErrorCode.P003, extra=extra)

    # -- across sheets
    out += _duplicates(plan.sectors, ["sector"], t[C.SHEET_SECTORS], file, "sector")
    out += _duplicates(plan.objectives, ["objective"], t[C.SHEET_OBJECTIVES], file, "objective")
    out += _duplicates(plan.phases, ["objective", "phase"], t[C.SHEET_PHASES], file, "phase")
    out += _duplicates(plan.indicators, ["objective", "indicator"], t[C.SHEET_INDICATORS], file, "indicator")
    out += _orphans(plan, file)
    out += _phase_weights(plan, file)
    out += _objective_weights(plan, file)
    out += _sector_weights(plan, file)
    out += _indicator_weights(plan, file)
    out += _dates(plan, file)
    out += _targets(plan, file)
    out += _coverage(plan, file)
    out += _codes_for_files(plan, file)
    out += _same_file_names(plan, file)
    return out


def _typed_as(df: pd.DataFrame, table: Table, fields: tuple[str, ...]) -> pd.DataFrame:
    """The frame as validated: a value that was typed but could not be parsed (already
    reported on its cell as P010, P016 or P026) keeps what the user typed, so that it is
    neither reported again as missing (P003) nor hides the other problems of its row."""
    v = df.copy()
    if v.empty:
        return v
    xlrows = v["xlrow"].tolist()
    # the parsed table has the sheet's rows in order: its cells zipped, not looked up per row
    aligned = xlrows == table.data["xlrow"]
    for fld in fields:
        if fld not in v.columns or fld not in table.data:
            continue
        if aligned:
            raws: Any = table.data[fld]
        else:
            raw = _raw_by_row(table, fld)
            raws = [raw.get(x) for x in xlrows]
        v[fld] = [p if type(p) in _SOLID else (r if is_blank(p) and not is_blank(r) else p)
                  for p, r in zip(v[fld].tolist(), raws)]
    return v


# parsed values that are never blank (as is_blank says), tested without a call
_SOLID = frozenset({int, bool, dt.date, dt.datetime})


def _raw_by_row(table: Table, fld: str) -> dict[Any, Any]:
    """Excel row -> the cell of `fld` as typed (one dict per column, not a lookup per row)."""
    return dict(zip(table.data["xlrow"], table.data[fld]))


def _rec(row: Any, word: str, fld: str) -> str | None:
    obj = row["objective"] if isinstance(row, pd.Series) else row.objective
    n = row[fld] if isinstance(row, pd.Series) else getattr(row, fld)
    if obj is None:
        return None
    return f"{obj} {word} {n}" if n is not None else obj


def _duplicates(df: pd.DataFrame, key: list[str], table: Table, file: str | None, what: str) -> list[Finding]:
    out: list[Finding] = []
    if df.empty:
        return out
    valid = df.dropna(subset=key)
    dup = valid[valid.duplicated(key, keep="first")]
    first_row = valid.drop_duplicates(key, keep="first").set_index(key)["xlrow"]
    for r in dup.itertuples():
        k = tuple(getattr(r, k) for k in key)
        other = first_row.loc[k if len(k) > 1 else k[0]]
        value = " ".join(show_value(v) for v in k) if len(k) > 1 else k[0]
        col = key[-1]
        out.append(finding(ErrorCode.P004, file=file, sheet=table.sheet, cell=table.cell(r.xlrow, col),
                           row=r.xlrow, column=_header_fn(_spec_of(table.sheet))(col),
                           record=k[0], value=value, other_row=int(other)))
    return out


def _spec_of(sheet: str) -> C.TableSpec:
    return {s.sheet: s for s in C.PLAN_TABLES}[sheet]


def _orphans(plan: Plan, file: str | None) -> list[Finding]:
    out: list[Finding] = []
    known = set(plan.objectives["objective"].dropna())
    for df, sheet in ((plan.phases, C.SHEET_PHASES), (plan.indicators, C.SHEET_INDICATORS)):
        table = plan.tables[sheet]
        for objective, xlrow in zip(df["objective"].tolist(), df["xlrow"].tolist()):
            if objective is not None and objective not in known:
                out.append(finding(ErrorCode.P006, file=file, sheet=sheet, cell=table.cell(xlrow, "objective"),
                                   row=xlrow, column="Codice obiettivo", record=objective, value=objective,
                                   suggestion=zeros_hint(objective, known, "Obiettivi")))
    return out


def _phase_weights(plan: Plan, file: str | None) -> list[Finding]:
    out: list[Finding] = []
    ph = plan.phases
    if ph.empty:
        return out
    table = plan.tables[C.SHEET_PHASES]
    groups = _groups(ph["objective"], _floats(ph["weight"]), ph["xlrow"])
    for obj, (w, rows) in groups.items():
        if any(x != x for x in w):
            continue  # a missing peso is already reported on its cell
        total = float(np.sum(np.asarray(w, dtype=float)))
        if abs(total - 100) > WEIGHT_TOLERANCE:
            first = int(min(rows))
            out.append(finding(ErrorCode.P007, file=file, sheet=C.SHEET_PHASES, cell=table.cell(first, "weight"),
                               row=first, column="Peso", record=obj, found=show_value(round(total, 4))))
    return out


def _floats(values: pd.Series) -> list[float]:
    """A peso column as floats, NaN where not a number (one conversion per column)."""
    return [float(x) for x in pd.to_numeric(values, errors="coerce").astype(float)]


def _groups(keys: Any, *columns: Any) -> dict[Any, tuple[list[Any], ...]]:
    """key -> one list per column, in first-seen order of the keys and rows (as a
    `groupby(sort=False)` after dropping the rows without a key), in one pass."""
    at: dict[Any, list[int]] = {}
    for i, key in enumerate(keys.tolist() if isinstance(keys, pd.Series) else keys):
        if type(key) is not str and (key is None or (isinstance(key, float) and key != key)):
            continue
        found = at.get(key)
        if found is None:
            at[key] = [i]
        else:
            found.append(i)
    cols = [c.tolist() if isinstance(c, pd.Series) else list(c) for c in columns]
    out: dict[Any, tuple[list[Any], ...]] = {}
    for key, idx in at.items():
        if len(idx) == 1:
            out[key] = tuple([col[idx[0]]] for col in cols)
        else:
            pick = operator.itemgetter(*idx)
            out[key] = tuple(list(pick(col)) for col in cols)
    return out


def _weights_group(w: list[float], rows: list[Any], table: Table, file: str | None, what: str,
                   record: str | None, need_sum: bool, raw: dict[Any, Any] | None,
                   anchor_col: str = "weight") -> list[Finding]:
    """`w`: the pesi of one group (NaN where missing); `rows`: their Excel rows; `raw`:
    Excel row -> the peso cell as typed (`_raw_by_row`), None if the sheet has no such column."""
    given = [x == x for x in w]
    if not any(given):
        return []
    if raw is not None:
        for g, r in zip(given, rows):
            if not g and _known_row(r) and not is_blank(raw.get(int(r))):
                return []  # a peso typed but unreadable is already reported on its cell (P016)
    first = int(min(r for r in rows if _known_row(r)))
    if not all(given):
        missing = given.count(False)
        return [finding(ErrorCode.P008, file=file, sheet=table.sheet, cell=table.cell(first, anchor_col),
                        row=first, column="Peso", record=record, what=what, missing=missing)]
    total = float(np.sum(np.asarray(w, dtype=float)))
    if need_sum and abs(total - 100) > WEIGHT_TOLERANCE:
        return [finding(ErrorCode.P009, file=file, sheet=table.sheet, cell=table.cell(first, anchor_col),
                        row=first, column="Peso", record=record, what=what, found=show_value(round(total, 4)))]
    return []


def _known_row(r: Any) -> bool:
    return r is not None and not (isinstance(r, float) and r != r)


def _weights_raw(table: Table, anchor_col: str = "weight") -> dict[Any, Any] | None:
    return _raw_by_row(table, anchor_col) if anchor_col in table.data else None


def _objective_weights(plan: Plan, file: str | None) -> list[Finding]:
    out: list[Finding] = []
    table = plan.tables[C.SHEET_OBJECTIVES]
    a = plan.assignments
    if a.empty:
        return out
    # a duplicated code (reported as P004) keeps its first row
    rows: dict[Any, Any] = {}
    for o, x in zip(plan.objectives["objective"], plan.objectives["xlrow"]):
        if _known_row(o):
            rows.setdefault(o, x)
    raw = _weights_raw(table)
    groups = _groups(a["sector"], _floats(a["weight"]), [rows.get(o, np.nan) for o in a["objective"]])
    for sector, (w, xlrows) in groups.items():
        out += _weights_group(w, xlrows, table, file, f"degli obiettivi del settore {sector}", sector,
                              need_sum=True, raw=raw)
    return out


def _sector_weights(plan: Plan, file: str | None) -> list[Finding]:
    s = plan.sectors.dropna(subset=["sector"])
    if s.empty:
        return []
    table = plan.tables[C.SHEET_SECTORS]
    return _weights_group(_floats(s["weight"]), list(s["xlrow"]), table, file, "dei settori",
                          None, need_sum=True, raw=_weights_raw(table))


def _indicator_weights(plan: Plan, file: str | None) -> list[Finding]:
    out: list[Finding] = []
    ind = plan.indicators
    if ind.empty:
        return out
    table = plan.tables[C.SHEET_INDICATORS]
    raw = _weights_raw(table)
    scored = [k != "CONTESTO" for k in ind["kind"]]
    keys = [o if s else None for o, s in zip(ind["objective"], scored)]
    for obj, (w, rows) in _groups(keys, _floats(ind["weight"]), ind["xlrow"]).items():
        out += _weights_group(w, rows, table, file, f"degli indicatori dell'obiettivo {obj}", obj,
                              need_sum=False, raw=raw)
    return out


def _dates(plan: Plan, file: str | None) -> list[Finding]:
    out: list[Finding] = []
    table = plan.tables[C.SHEET_PHASES]
    ph = plan.phases
    if ph.empty:
        return out
    anno = plan.anno
    # only the rows with a problem are visited as records
    suspect = [i for i, (a, b) in enumerate(zip(ph["planned_start"].tolist(), ph["planned_end"].tolist()))
               if (a and b and b < a) or (a and anno and a.year != anno) or (b and anno and b.year != anno)]
    r: Any   # a row of cells as typed
    for r in ph.iloc[suspect].itertuples():
        rec = _rec(r, "fase", "phase")
        if r.planned_start and r.planned_end and r.planned_end < r.planned_start:
            out.append(finding(ErrorCode.P011, file=file, sheet=C.SHEET_PHASES, cell=table.cell(r.xlrow, "planned_end"),
                               row=r.xlrow, column="Fine prevista", record=rec,
                               start=show_value(r.planned_start), end=show_value(r.planned_end)))
        for fld, header in (("planned_start", "Inizio previsto"), ("planned_end", "Fine prevista")):
            d = getattr(r, fld)
            if d and plan.anno and d.year != plan.anno:
                out.append(finding(ErrorCode.P012, file=file, sheet=C.SHEET_PHASES, cell=table.cell(r.xlrow, fld),
                                   row=r.xlrow, column=header, record=rec, value=d, anno=plan.anno))
    return out


_TARGET_EXAMPLES = {"numero": "un numero, es. 15 o 78.622,20", "percentuale": "un numero tra 0 e 100",
                    "sì/no": "sì o no", "data": "una data gg/mm/aaaa", "testo": "un testo"}


def _targets(plan: Plan, file: str | None) -> list[Finding]:
    out: list[Finding] = []
    table = plan.tables[C.SHEET_INDICATORS]
    ind = plan.indicators
    if ind.empty:
        return out
    # only the rows with a problem are visited as records: a bad target, a percentuale out
    # of 0-100, a sign before the target against the Verso
    suspect = [i for i, (ok, vt, tv, imp) in enumerate(zip(
        ind["target_ok"].tolist(), ind["value_type"].tolist(), ind["target_value"].tolist(),
        ind["implied_direction"].tolist()))
        if not ok or imp or (vt == "percentuale" and isinstance(tv, float) and not 0 <= tv <= 100)]
    r: Any   # a row of cells as typed
    for r in ind.iloc[suspect].itertuples():
        if r.value_type is None or is_blank(r.target):
            continue
        rec = _rec(r, "indicatore", "indicator")
        cell = table.cell(r.xlrow, "target")
        detail = ""
        bad = not r.target_ok
        if bad:
            detail = f" (serve {_TARGET_EXAMPLES[r.value_type]})"
        elif r.value_type == "percentuale" and isinstance(r.target_value, float) and not 0 <= r.target_value <= 100:
            bad, detail = True, " (una percentuale va da 0 a 100)"
        elif r.implied_direction and r.direction_raw is not None and r.direction and r.implied_direction != r.direction:
            bad, detail = True, f" (il segno «{r.implied_direction}» contraddice il Verso «{r.direction}»)"
        if bad:
            out.append(finding(ErrorCode.P014, file=file, sheet=C.SHEET_INDICATORS, cell=cell, row=r.xlrow,
                               column="Valore atteso", record=rec, value=r.target, value_type=r.value_type,
                               detail=detail))
    return out


def _coverage(plan: Plan, file: str | None) -> list[Finding]:
    out: list[Finding] = []
    if plan.sectors.dropna(subset=["sector"]).empty or plan.objectives.dropna(subset=["objective"]).empty:
        return [finding(ErrorCode.P023, file=file)]
    scored = plan.indicators[(plan.indicators["kind"] != "CONTESTO")]
    has_phase = set(plan.phases["objective"].dropna())
    has_ind = set(scored["objective"].dropna())
    ot = plan.tables[C.SHEET_OBJECTIVES]
    o: Any   # a row of cells as typed
    for o in plan.objectives.itertuples():
        if o.objective and o.objective not in has_phase and o.objective not in has_ind:
            out.append(finding(ErrorCode.P020, file=file, sheet=C.SHEET_OBJECTIVES,
                               cell=ot.cell(o.xlrow, "objective"), row=o.xlrow, record=o.objective))
    assigned = set(plan.assignments["sector"]) if not plan.assignments.empty else set()
    st = plan.tables[C.SHEET_SECTORS]
    s: Any   # a row of cells as typed
    for s in plan.sectors.itertuples():
        if s.sector and s.sector not in assigned:
            out.append(finding(ErrorCode.P021, file=file, sheet=C.SHEET_SECTORS,
                               cell=st.cell(s.xlrow, "sector"), row=s.xlrow, record=s.sector))
    return out


def _codes_for_files(plan: Plan, file: str | None) -> list[Finding]:
    out: list[Finding] = []
    st = plan.tables[C.SHEET_SECTORS]
    s: Any   # a row of cells as typed
    for s in plan.sectors.itertuples():
        if s.sector and not _FILE_SAFE.match(s.sector):
            bad = "".join(sorted({ch for ch in s.sector if not _FILE_SAFE.match(ch)}))
            out.append(finding(ErrorCode.P024, file=file, sheet=C.SHEET_SECTORS, cell=st.cell(s.xlrow, "sector"),
                               row=s.xlrow, record=s.sector, value=s.sector, detail=repr(bad)))
    return out


def _same_file_names(plan: Plan, file: str | None) -> list[Finding]:
    """P029: two settori whose files would have one name. The template's name (anno, code
    made fit for a file name, slug of the name: `template_name`) and every other name pegxl
    derives from the code (the .eml of `send --dry-run`, ...) are compared ignoring case, as
    Windows and macOS do: `S-03` and `S/03`, or `S03` and `s03`, would overwrite each other's
    files and `send` would attach one settore's template to the other's message."""
    out: list[Finding] = []
    st = plan.tables[C.SHEET_SECTORS]
    by_template: dict[str, Any] = {}
    by_code: dict[str, Any] = {}
    # the name of the first row of each code, as template_name finds it
    names: dict[str, Any] = {}
    for code, sector_name in zip(plan.sectors["sector"].tolist(), plan.sectors["sector_name"].tolist()):
        names.setdefault(code, sector_name)
    s: Any   # a row of cells as typed
    for s in plan.sectors.itertuples():
        if not isinstance(s.sector, str) or not s.sector:
            continue
        try:
            name = file_name(plan.anno, s.sector, names[s.sector])
        except Exception:   # a settore the plan cannot describe is reported elsewhere
            continue
        code_part = f"{plan.anno}_{safe_code(s.sector)}"
        first = by_template.get(name.casefold())
        if first is not None:
            detail = f"il modello «{name}»"
        else:
            first = by_code.get(code_part.casefold())
            detail = (f"«{code_part}_…», come i messaggi «{code_part}_invio.eml» di `pegxl send --dry-run`"
                      if first is not None else "")
        if first is not None and first.sector != s.sector:   # the same code twice is P004
            out.append(finding(ErrorCode.P029, file=file, sheet=C.SHEET_SECTORS, cell=st.cell(s.xlrow, "sector"),
                               row=s.xlrow, column=C.SECTORS.header("sector"),
                               record=s.sector, value=s.sector, other=first.sector, other_row=int(first.xlrow),
                               detail=detail))
        by_template.setdefault(name.casefold(), s)
        by_code.setdefault(code_part.casefold(), s)
    return out


def read_plan(path: str | os.PathLike) -> Plan:
    """The plan, checked: raises PegxlError(exit 1) if it has errors."""
    plan, findings = check_plan(path)
    errors = [x for x in findings if x.is_error]
    if errors or plan is None:
        raise PegxlError(errors or findings, exit_code=1)
    return plan
