"""Reading a consolidated workbook back (the OIV's copy)."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Mapping

import pandas as pd

from ..plan import Plan, short
from ..tables import (
    IND_IN,
    OBJ_IN,
    PH_IN,
    Inputs,
    _frame,
    _none,
    clean_text,
)
from ..values import is_blank, parse_date, parse_number, parse_typed
from ..workbook import contract as C
from ..workbook.contract import (
    CS_ANOMALIE,
    CS_PROVENIENZA,
    IDENTITY,
    SHEET_VALUES,
    TABLES,
    TableSpec,
)
from ..workbook.reader import MAX_UNCOMPRESSED, read_table, read_values

# -------------------------------------------------------------------------- reading

@dataclass
class ConsolidatedBook:
    """A consolidated workbook as read back (calamine): identity, tables by field name
    (with `xlrow`), the mirror of the locked content and the sheets' column letters."""

    path: str
    identity: dict[str, Any]
    rules: list[tuple[str, Any]]
    tables: dict[str, pd.DataFrame]
    cols: dict[str, dict[str, int]]
    missing: dict[str, list[str]]                  # sheet -> required headers not found
    mirror: dict[str, dict[str, dict]] | None      # sheet -> key json -> {header: canon}
    anomalies: list[dict]
    provenance: list[dict]
    raw: Any = None

    @property
    def sectors(self) -> list[str]:
        return [s for s in str(self.identity.get("sectors") or "").split(";") if s]


CONSOLIDATED_BYTES_PER_ROW = 2048   # inflated bytes of a record, all sheets together: 1.9 KB measured


def max_rows(plan: Plan) -> int:
    """The most rows a consolidated workbook of `plan` can have on one sheet (the hidden
    record has one per row of Sintesi, Obiettivi, Fasi and Indicatori), with room to spare:
    the reader refuses anything longer (F007) before parsing it."""
    a = plan.assignments
    if a.empty:
        return 50_000
    per_obj_ph = plan.phases.groupby("objective").size()
    per_obj_in = plan.indicators.groupby("objective").size()
    n = (len(a) + int(a["objective"].map(per_obj_ph).fillna(0).sum())
         + int(a["objective"].map(per_obj_in).fillna(0).sum()) + len(plan.sectors) + 10)
    return max(50_000, 2 * n)


def plan_mismatch(book: ConsolidatedBook, plan: Plan,
                  kinds: tuple[str, ...] = (C.KIND_CONSOLIDATED, C.KIND_FINAL)) -> str | None:
    """Why `book` is not a pegxl workbook of one of `kinds` made from `plan` (None: it is)."""
    ident = book.identity
    if not ident:
        return f"manca il foglio nascosto «{C.SHEET_IDENTITY}»"
    kind = str(ident.get("kind") or "")
    if kind not in kinds:
        return f"il file è di tipo «{kind or 'sconosciuto'}»"
    fp = str(ident.get("fingerprint") or "").strip()
    if fp != plan.fingerprint():
        return f"impronta del piano {short(fp) or '?'}, il piano attuale ha impronta {short(plan.fingerprint())}"
    return None


def read_book(path: str | os.PathLike, *, plan: Plan | None = None) -> ConsolidatedBook:
    """Read a consolidated workbook by header names. Raises PegxlError if unreadable."""
    limit = max_rows(plan) if plan is not None else 50_000
    # the zip-bomb guard scaled to the plan: the consolidated of 1,000 settori of 80 fasi
    # and 60 indicatori each (161,000 records) inflates to 301 MB, past the 200 MB of a return
    book = read_values(path, max_rows=limit,
                       max_uncompressed=max(MAX_UNCOMPRESSED, limit * CONSOLIDATED_BYTES_PER_ROW))
    identity: dict[str, Any] = {}
    rules: list[tuple[str, Any]] = []
    ident = book.sheet(C.SHEET_IDENTITY)
    if ident is not None:
        labels = {C.norm_header(lbl): fld for lbl, fld in IDENTITY}
        in_rules = False
        for row in ident.rows:
            a = row[0] if row else None
            b = row[1] if len(row) > 1 else None
            if C.norm_header(a) == "regola":
                in_rules = True
                continue
            if in_rules and not is_blank(a):
                rules.append((str(a), b))
            elif C.norm_header(a) in labels:
                identity[labels[C.norm_header(a)]] = b
    tables: dict[str, pd.DataFrame] = {}
    cols: dict[str, dict[str, int]] = {}
    missing: dict[str, list[str]] = {}
    for name, spec in list(TABLES.items()) + [(C.SHEET_ANOMALIE, CS_ANOMALIE),
                                              (C.SHEET_PROVENIENZA, CS_PROVENIENZA)]:
        sheet = book.sheet(name)
        if sheet is None:
            missing[name] = ["(foglio)"]
            continue
        required = tuple(c.field for c in spec.columns if c.required)
        table, problems = read_table(sheet, spec, required_fields=required,
                                     header_row=header_row(sheet.rows, spec))
        if problems:
            missing[name] = [p.column for p in problems if p.column]   # each names its header
        tables[name] = table.df
        cols[name] = table.cols
    mirror: dict[str, dict[str, Any]] | None = None
    values = book.sheet(SHEET_VALUES)
    if values is not None:
        mirror = {}
        for row in values.rows[1:]:
            if len(row) < 3 or is_blank(row[0]):
                continue
            try:
                rec = json.loads(row[2])
            except (TypeError, ValueError):
                rec = {}
            mirror.setdefault(str(row[0]), {})[str(row[1])] = rec
    anomalies = [_row_dict(r, CS_ANOMALIE) for r in tables.get(C.SHEET_ANOMALIE, pd.DataFrame()).to_dict("records")]
    provenance = [_row_dict(r, CS_PROVENIENZA) for r in tables.get(C.SHEET_PROVENIENZA, pd.DataFrame()).to_dict("records")]
    return ConsolidatedBook(str(path), identity, rules, tables, cols, missing, mirror, anomalies,
                            provenance, book)


def header_row(rows: list[list[Any]], spec: TableSpec, look: int = 20) -> int:
    """The 0-based row of a sheet's headers: Sintesi opens with a title block (documents.md),
    the other sheets with their headers. The first row among the first `look` whose first
    cell is the first header (any case), else the first row."""
    first = C.norm_header(spec.columns[0].header)
    for i, row in enumerate(rows[:look]):
        if row and C.norm_header(row[0]) == first:
            return i
    return 0


def _row_dict(r: Mapping[str, Any], spec: TableSpec) -> dict:
    return {c.field: _none(r.get(c.field)) for c in spec.columns}


def _code(v: Any) -> str | None:
    if is_blank(v):
        return None
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return str(v).strip()


def _int(v: Any) -> Any:
    p = parse_number(v)
    if p.ok and p.value is not None and float(p.value).is_integer():
        return int(p.value)
    return v


def table_key(sheet: str, r: Mapping[Any, Any]) -> tuple | None:
    """The record key of a row read from one of the consolidated's table sheets."""
    sector = _code(r.get("sector"))
    if sector is None:
        return None
    if sheet == C.SHEET_SINTESI:
        return (sector,)
    obj = _code(r.get("objective"))
    if obj is None:
        return None
    if sheet == C.SHEET_OBJECTIVES:
        return (sector, obj)
    return (sector, obj, _int(r.get("phase" if sheet == C.SHEET_PHASES else "indicator")))


def inputs_from_book(plan: Plan, book: ConsolidatedBook) -> Inputs:
    """The typed inputs as the consolidated workbook carries them (the way back)."""
    vt_of = {(i["objective"], i["indicator"]): i["value_type"] for i in plan.indicators.to_dict("records")}
    objs, phs, inds = [], [], []
    for r in book.tables.get(C.SHEET_OBJECTIVES, pd.DataFrame()).to_dict("records"):
        k = table_key(C.SHEET_OBJECTIVES, r)
        if k is None:
            continue
        status = C.canonical(r.get("status"), C.STATI) if not is_blank(r.get("status")) else None
        declared = parse_number(r.get("declared"))
        objs.append({"sector": k[0], "objective": k[1], "status": status or _none(r.get("status")),
                     "declared": declared.value if declared.ok else None,
                     "report": clean_text(r.get("report")),
                     "deviation_reason": clean_text(r.get("deviation_reason"))})
    for r in book.tables.get(C.SHEET_PHASES, pd.DataFrame()).to_dict("records"):
        k = table_key(C.SHEET_PHASES, r)
        if k is None or not isinstance(k[2], int):
            continue
        progress = parse_number(r.get("progress"))
        ds, de = parse_date(r.get("actual_start")), parse_date(r.get("actual_end"))
        phs.append({"sector": k[0], "objective": k[1], "phase": k[2],
                    "progress": progress.value if progress.ok else None,
                    "actual_start": ds.value if ds.ok else None, "actual_end": de.value if de.ok else None,
                    "notes": clean_text(r.get("notes"))})
    for r in book.tables.get(C.SHEET_INDICATORS, pd.DataFrame()).to_dict("records"):
        k = table_key(C.SHEET_INDICATORS, r)
        if k is None or not isinstance(k[2], int):
            continue
        vt = vt_of.get((k[1], k[2])) or "testo"
        p = parse_typed(r.get("achieved"), vt)
        raw = _none(r.get("achieved_raw"))
        inds.append({"sector": k[0], "objective": k[1], "indicator": k[2], "achieved_raw": raw,
                     "achieved_percent": False, "achieved": p.value if p.ok else None,
                     "notes": clean_text(r.get("notes"))})
    return Inputs(_frame(objs, OBJ_IN), _frame(phs, PH_IN), _frame(inds, IND_IN))
