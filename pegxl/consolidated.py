"""The consolidated workbook for the OIV (workbooks.md section 3): writing and reading it.

Sheets, in order: Sintesi, Obiettivi, Fasi, Indicatori, Anomalie, Provenienza (the public
contract, exact headers; columns of our own only after the contract's ones), then the
hidden `_pegxl` (identity and the Regole in force) and the hidden `_pegxl_valori` (the
locked content as written, one JSON record per row -- by record key on the table sheets,
by position plus a row count on Anomalie and Provenienza -- against which the OIV's copy is
checked when it comes back: see `pegxl.oiv`). The final workbook written after the OIV
(`<Anno>_consolidato_OIV_finale.xlsx`) has the same sheets plus «Differenze OIV».

Design decisions, documented once here:

* Percentages are stored as 0-100 numbers at full precision, displayed with the number
  format ``0.00" %"`` (style.PERCENT_VALUE_FORMAT) -- the same scale as every figure a
  person types in the cycle (Grado dichiarato %, Avanzamento %, Valutazione OIV %), so the
  OIV types 85 for 85 %, formulas and pivot tables see 0-100, and no figure is ever text.
  Rounding (half-up, 2 decimals) happens only in text (the Note column).
* The workbook carries everything needed to recompute: the typed inputs of every
  settore are in Obiettivi (Stato, Grado dichiarato %, Relazione, Motivazione
  scostamento), Fasi (Avanzamento %, Inizio/Fine effettiva, Note) and Indicatori (Valore
  raggiunto exactly as typed, plus «Valore letto», the value as pegxl read it). So the
  OIV's copy can be scored again without the returns.
* Nothing inside a cell depends on the clock except Provenienza's «Letto il», which is
  the `now` given by the caller, else the moment the file was read (ReturnFile.read_at):
  two merges of the same files with the same `now` give identical cell values.
* Text typed by people is always written as text (data_type "s"): a Relazione "=SUM(A1)"
  stays a string. Control characters that a .xlsx cannot hold are dropped.
* Every sheet is protected (password: templates.DEFAULT_PASSWORD; it keeps honest people
  from breaking the layout, it is not security). In the consolidated workbook the only
  unlocked cells are Valutazione OIV % (a number 0-100 or the words «Non valutabile»: custom
  validation) and Note OIV.
* The `_pegxl` identity carries the run id of the merge that wrote the workbook
  («Identificativo elaborazione»); the same records as `_pegxl_valori` (plus the identity)
  are archived under that id (`build_workbook(records=...)`), so that `pegxl oiv` checks
  the OIV's copy against what was really written, not only against itself.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.chart import BarChart, Reference
from openpyxl.utils import get_column_letter
from openpyxl.workbook.protection import WorkbookProtection

from . import __version__
from .errors import ErrorCode, Finding, show_value
from .plan import Plan
from .scoring import (EX_NEUTRALISED, EX_NO_DATA, EX_NOT_ASSESSABLE, EX_OIV_NOT_ASSESSABLE,
                      EX_POSTPONED, SRC_DECLARED, SRC_OIV, Scores, compute)
from .tables import score_input
from .values import format_percent, is_blank, parse_number, parse_typed
from .workbook import contract as C
from .workbook import style as S
from .workbook.contract import Column, TableSpec

KIND_CONSOLIDATED = "consolidato"
KIND_FINAL = "consolidato finale OIV"

SHEET_VALUES = "_pegxl_valori"
# the record of how many rows a sheet without record keys (Anomalie, Provenienza) had
LIST_COUNT_KEY = ("righe",)
LIST_COUNT_FIELD = "righe"
SHEET_DIFF = "Differenze OIV"

DATETIME_FORMAT = "DD/MM/YYYY HH:MM:SS"
PCT = S.PERCENT_VALUE_FORMAT          # 0-100 figures shown as "85,00 %"
RAW_PERCENT = "0.00%"                 # a raw value typed in a percent-formatted cell
WEIGHT_FORMAT = "0.00"                # Peso effettivo: 33.333... shown as 33,33, not 33,3333333333333
TEXT_MAX = 4000
LONG_TEXT = 200                       # longer texts are kept in _pegxl_valori as a digest
ENTE_CODE = "Ente"

# ------------------------------------------------------------------------- the sheets

CS_SINTESI = TableSpec(C.SHEET_SINTESI, C.C_SINTESI.columns + (
    Column("Peso", "weight", False, "number", 8),
    Column("Stato consolidamento", "state", False, "text", 44),
), key=("sector",))
# only in the final workbook
COL_BEFORE_OIV = Column("Percentuale senza OIV", "percentage_before", False, "number", 16)

CS_OBJECTIVES = TableSpec(C.SHEET_OBJECTIVES, C.C_OBJECTIVES.columns + (
    Column("Relazione", "report", False, "text", 50),
    Column("Motivazione scostamento", "deviation_reason", False, "text", 40),
    Column("Peso", "weight", False, "number", 8),
    Column("Realizzazione fasi %", "phases_pct", False, "number", 12),
    Column("Media indicatori %", "indicators_pct", False, "number", 12),
    Column("Fonte del grado", "grade_source", False, "text", 12),
    Column("Conta", "counted", False, "text", 7),
), key=("sector", "objective"))
OIV_FIELDS = ("oiv_grade", "oiv_notes")
# the words the OIV may write in Valutazione OIV % instead of a number (scoring.md)
OIV_NOT_ASSESSABLE = "Non valutabile"
IDENTITY_RECORD = "_pegxl"            # the archived record of the identity and Regole


def is_not_assessable(v: Any) -> bool:
    """The OIV wrote «Non valutabile» (any case, spacing) in Valutazione OIV %."""
    return isinstance(v, str) and C.norm_word(v) == C.norm_word(OIV_NOT_ASSESSABLE)

CS_PHASES = TableSpec(C.SHEET_PHASES, (
    Column("Codice settore", "sector", True, "code", 14),
    Column("Codice obiettivo", "objective", True, "code", 16),
    Column("N. fase", "phase", True, "int", 7),
    Column("Descrizione", "description", True, "text", 45),
    Column("Inizio previsto", "planned_start", False, "date", 12),
    Column("Fine prevista", "planned_end", False, "date", 12),
    Column("Peso", "weight", False, "number", 8),
    Column("Neutralizzata", "neutralised", False, "text", 12),
    Column("Avanzamento %", "progress", True, "number", 13),
    Column("Inizio effettivo", "actual_start", True, "date", 13),
    Column("Fine effettiva", "actual_end", True, "date", 13),
    Column("Note", "notes", True, "text", 40),
    Column("Peso effettivo", "effective_weight", False, "number", 10),
    Column("Contributo %", "contribution", False, "number", 12),
), key=("sector", "objective", "phase"))

CS_INDICATORS = TableSpec(C.SHEET_INDICATORS, (
    Column("Codice settore", "sector", True, "code", 14),
    Column("Codice obiettivo", "objective", True, "code", 16),
    Column("N. indicatore", "indicator", True, "int", 7),
    Column("Descrizione", "description", True, "text", 45),
    Column("Tipo", "kind", False, "text", 14),
    Column("Tipo valore", "value_type", False, "text", 11),
    Column("Verso", "direction", False, "text", 7),
    Column("Valore atteso", "target", False, "text", 13),
    Column("Peso", "weight", False, "number", 8),
    Column("Neutralizzato", "neutralised", False, "text", 12),
    Column("Valore raggiunto", "achieved_raw", True, "text", 14),
    Column("Note", "notes", True, "text", 40),
    Column("Raggiungimento %", "score", True, "number", 13),
    Column("Esito", "status", False, "text", 14),
    Column("Peso effettivo", "effective_weight", False, "number", 10),
    Column("Valore letto", "achieved", True, "text", 14),
), key=("sector", "objective", "indicator"))

CS_ANOMALIE = TableSpec(C.SHEET_ANOMALIE, (
    Column("File", "file", False, "text", 30),
    Column("Codice settore", "sector", False, "code", 12),
    Column("Foglio", "sheet", False, "text", 12),
    Column("Cella", "cell", False, "text", 8),
    Column("Riferimento", "record", False, "text", 22),
    Column("Codice", "code", False, "code", 8),
    Column("Gravità", "severity", False, "text", 9),
    Column("Messaggio", "message", False, "text", 70),
    Column("Come correggere", "hint", False, "text", 50),
))

CS_PROVENIENZA = TableSpec(C.SHEET_PROVENIENZA, (
    Column("Nome file", "name", False, "text", 34),
    Column("Codice settore", "sector", False, "code", 12),
    Column("SHA-256", "sha256", False, "text", 66),
    Column("Letto il", "read_at", False, "date", 19),
    Column("Versione modello", "template_version", False, "text", 10),
    Column("Utilizzato", "used", False, "text", 10),
    Column("Copia restituita", "copy", False, "text", 34),
    Column("Nota", "note", False, "text", 50),
))

CS_DIFF = TableSpec(SHEET_DIFF, (
    Column("Codice settore", "sector", True, "code", 14),
    Column("Codice obiettivo", "objective", True, "code", 16),
    Column("Titolo", "title", False, "text", 40),
    Column("Grado settore %", "grade_before", False, "number", 12),
    Column("Valutazione OIV %", "oiv_grade", False, "number", 13),
    Column("Differenza", "difference", False, "number", 11),
    Column("Note OIV", "oiv_notes", False, "text", 50),
), key=("sector", "objective"))

TABLES = {C.SHEET_SINTESI: CS_SINTESI, C.SHEET_OBJECTIVES: CS_OBJECTIVES,
          C.SHEET_PHASES: CS_PHASES, C.SHEET_INDICATORS: CS_INDICATORS}

# identity rows of _pegxl: (label, field)
IDENTITY = (
    ("Versione formato", "format_version"),
    ("Tipo file", "kind"),
    ("Ente", "ente"),
    ("Anno", "anno"),
    ("Fase del ciclo", "fase"),
    ("Impronta piano", "fingerprint"),
    ("Settori consolidati", "sectors"),
    ("Settori esclusi", "excluded"),
    ("Generato da", "generator"),
    ("Identificativo elaborazione", "run_id"),
)


# ---------------------------------------------------------------- typed inputs, scores

@dataclass
class Inputs:
    """What the settori typed, one row per record, typed (the consolidated's own data).

    objectives: sector, objective, status (canonical Stato), declared (float, NaN),
                report, deviation_reason
    phases:     sector, objective, phase, progress (float, NaN), actual_start, actual_end,
                notes
    indicators: sector, objective, indicator, achieved_raw (as typed), achieved_percent
                (typed in a percent-formatted cell), achieved (parsed by Tipo valore), notes
    """

    objectives: pd.DataFrame
    phases: pd.DataFrame
    indicators: pd.DataFrame


OBJ_IN = ["sector", "objective", "status", "declared", "report", "deviation_reason"]
PH_IN = ["sector", "objective", "phase", "progress", "actual_start", "actual_end", "notes"]
IND_IN = ["sector", "objective", "indicator", "achieved_raw", "achieved_percent", "achieved", "notes"]


def clean_text(v: Any) -> str | None:
    """Text as written into a cell: None for blanks, control characters dropped."""
    if is_blank(v):
        return None
    s = v if isinstance(v, str) else show_value(v)
    return ILLEGAL_CHARACTERS_RE.sub("", s)


def _none(v: Any) -> Any:
    return None if is_blank(v) else v


def _frame(records: list[dict], columns: list[str]) -> pd.DataFrame:
    df = pd.DataFrame(records, columns=columns, dtype=object)
    for c in ("declared", "progress"):
        if c in df.columns:
            df[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
    return df


def inputs_from_validation(validation: Any, paths: Iterable[str] | None = None) -> Inputs:
    """The typed inputs of the returns `paths` (default: every usable file) of a Validation.

    Values typed into a neutralised phase or indicator are kept for display (parsed the
    same way), and left out of the scores by `score`."""
    keep = set(paths) if paths is not None else {rf.path for rf in validation.usable_files}

    def rows(df: pd.DataFrame) -> list[dict]:
        if df.empty:
            return []
        return df[df["file"].isin(keep)].to_dict("records")

    objs = [{"sector": r["sector"], "objective": r["objective"], "status": _none(r["status"]),
             "declared": r["declared"], "report": clean_text(r["report"]),
             "deviation_reason": clean_text(r["deviation_reason"])}
            for r in rows(validation.objectives)]
    phs = []
    for r in rows(validation.phases):
        progress, start, end = r["progress"], r["actual_start"], r["actual_end"]
        if r["neutralised"]:
            from .values import parse_date
            p = parse_number(r["progress_raw"], percent_format=bool(r["progress_percent"]))
            progress = p.value if p.ok else None
            start = parse_date(r["actual_start_raw"]).value if parse_date(r["actual_start_raw"]).ok else None
            end = parse_date(r["actual_end_raw"]).value if parse_date(r["actual_end_raw"]).ok else None
        phs.append({"sector": r["sector"], "objective": r["objective"], "phase": int(r["phase"]),
                    "progress": progress, "actual_start": _none(start), "actual_end": _none(end),
                    "notes": clean_text(r["notes"])})
    inds = []
    for r in rows(validation.indicators):
        raw = _none(r["achieved_raw"])
        achieved = r["achieved"]
        if r["neutralised"] or is_blank(achieved):
            p = parse_typed(raw, r["value_type"] or "testo", percent_format=bool(r["achieved_percent"]))
            achieved = p.value if p.ok else None
        if isinstance(raw, str):
            raw = clean_text(raw)
        if isinstance(achieved, str):
            achieved = clean_text(achieved)
        inds.append({"sector": r["sector"], "objective": r["objective"], "indicator": int(r["indicator"]),
                     "achieved_raw": raw, "achieved_percent": bool(r["achieved_percent"]) and raw is not None,
                     "achieved": _none(achieved), "notes": clean_text(r["notes"])})
    return Inputs(_frame(objs, OBJ_IN), _frame(phs, PH_IN), _frame(inds, IND_IN))


def score(plan: Plan, inputs: Inputs, sectors: Iterable[str], oiv: pd.DataFrame | None = None) -> Scores:
    """Scores of `sectors` from typed inputs (scoring.md), with the OIV grades of `oiv`
    (sector, objective, oiv_grade) in force where given.

    Values typed into neutralised phases/indicators are masked first, so the figures are
    the same whether the inputs come from the returns or from a consolidated workbook."""
    neu_ph = {(o, int(p)) for o, p, n in zip(plan.phases["objective"], plan.phases["phase"],
                                             plan.phases["neutralised"]) if n and p is not None}
    neu_in = {(o, int(i)) for o, i, n in zip(plan.indicators["objective"], plan.indicators["indicator"],
                                             plan.indicators["neutralised"]) if n and i is not None}
    ph = inputs.phases.copy()
    if not ph.empty:
        mask = [(o, p) in neu_ph for o, p in zip(ph["objective"], ph["phase"])]
        ph.loc[mask, "progress"] = np.nan
    ind = inputs.indicators.copy()
    if not ind.empty:
        mask = [(o, i) in neu_in for o, i in zip(ind["objective"], ind["indicator"])]
        ind["achieved"] = [None if m else a for m, a in zip(mask, ind["achieved"])]
    ns = SimpleNamespace(objectives=inputs.objectives, phases=ph, indicators=ind)
    oiv_df = None
    if oiv is not None and not oiv.empty:
        cols = ["sector", "objective", "oiv_grade"] + (["oiv_not_assessable"] if "oiv_not_assessable" in oiv else [])
        oiv_df = oiv[cols].copy()
        oiv_df["oiv_grade"] = pd.to_numeric(oiv_df["oiv_grade"], errors="coerce").astype(float)
    return compute(score_input(plan, ns, sectors=list(sectors), oiv=oiv_df), plan.rules)


# ------------------------------------------------------------------ what is written

@dataclass
class Consolidated:
    """Everything a consolidated workbook shows. `scores` are the figures in force (with
    the OIV grades in the final workbook); `scores_before` the ones without the OIV."""

    plan: Plan
    inputs: Inputs
    scores: Scores
    sectors: list[str]                           # settori consolidated, plan order
    excluded: dict[str, str] = field(default_factory=dict)   # settore -> why (Italian)
    anomalies: list[dict] = field(default_factory=list)       # rows by CS_ANOMALIE field
    provenance: list[dict] = field(default_factory=list)      # rows by CS_PROVENIENZA field
    oiv: pd.DataFrame | None = None              # sector, objective, oiv_grade, oiv_notes
    scores_before: Scores | None = None
    kind: str = KIND_CONSOLIDATED
    created: dt.datetime | None = None           # document property only, never a cell
    run_id: str | None = None                    # the run that writes it (in _pegxl)


def finding_row(f: Finding, sector_of: Mapping[str, str | None] | None = None) -> dict:
    """A Finding as a row of the Anomalie sheet."""
    sector = None
    if f.file and sector_of:
        sector = sector_of.get(f.file)
    if sector is None and f.is_(ErrorCode.M002, ErrorCode.M003):
        sector = f.record
    return {"file": Path(f.file).name if f.file else None, "sector": sector, "sheet": f.sheet,
            "cell": f.cell, "record": f.record, "code": f.code, "severity": f.severity,
            "message": f.message, "hint": f.hint}


def naive(ts: Any) -> dt.datetime | None:
    """A timestamp as a cell can hold it (Excel has no time zones): the wall time given."""
    if ts is None:
        return None
    if isinstance(ts, str):
        try:
            ts = dt.datetime.fromisoformat(ts)
        except ValueError:
            return None
    if isinstance(ts, dt.datetime):
        return ts.replace(tzinfo=None, microsecond=0)
    if isinstance(ts, dt.date):
        return dt.datetime(ts.year, ts.month, ts.day)
    return None


# ------------------------------------------------------------------- canonical values

def canon(v: Any) -> Any:
    """A cell value in the comparable, JSON-able form of _pegxl_valori."""
    if is_blank(v):
        return None
    if isinstance(v, (bool, np.bool_)):
        return "bool:" + ("1" if v else "0")
    if isinstance(v, (int, float, np.integer, np.floating)):
        return float(v)
    if isinstance(v, dt.datetime):
        # nearest second: a serial re-saved by Excel or LibreOffice may come back a hair below
        v = (v.replace(tzinfo=None) + dt.timedelta(microseconds=500_000)).replace(microsecond=0)
        if v.time() == dt.time(0):
            return "date:" + v.date().isoformat()
        return "datetime:" + v.isoformat()
    if isinstance(v, dt.date):
        return "date:" + v.isoformat()
    s = clean_text(v) or ""
    if len(s) > LONG_TEXT:
        return "sha256:" + hashlib.sha256(s.encode("utf-8")).hexdigest()
    return s


def same(a: Any, b: Any) -> bool:
    """Two canonical values mean the same (numbers within float noise)."""
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def shown(v: Any) -> str:
    """A canonical value as a person reads it in a message."""
    if v is None:
        return "(vuota)"
    if isinstance(v, float):
        return show_value(v)
    if isinstance(v, str):
        if v.startswith("date:"):
            return show_value(dt.date.fromisoformat(v[5:]))
        if v.startswith("datetime:"):
            return show_value(dt.datetime.fromisoformat(v[9:]))
        if v.startswith("bool:"):
            return "VERO" if v.endswith("1") else "FALSO"
        if v.startswith("sha256:"):
            return f"testo lungo (impronta {v[7:19]})"
    return str(v)


def key_json(key: Iterable[Any]) -> str:
    return json.dumps([int(k) if isinstance(k, (int, np.integer)) or (isinstance(k, float) and k.is_integer())
                       else str(k) for k in key], ensure_ascii=False)


# ------------------------------------------------------------------------- writing

def _f(x: Any) -> float | None:
    if x is None:
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def _py(v: Any) -> Any:
    """A plain Python value for a cell."""
    if is_blank(v):
        return None
    if isinstance(v, pd.Timestamp):
        v = v.to_pydatetime()
    if isinstance(v, dt.datetime):
        v = v.replace(tzinfo=None)
        return v.date() if v.time() == dt.time(0) else v
    if isinstance(v, (np.bool_,)):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    if isinstance(v, str):
        return clean_text(v)
    return v


def _shown_value(v: Any, value_type: str | None) -> Any:
    """A parsed value as a cell shows it: sì/no for booleans."""
    v = _py(v)
    if isinstance(v, bool):
        return "sì" if v else "no"
    return v


def _print_setup(ws) -> None:
    """style.print_setup for a write-only sheet (which lacks the PAPERSIZE_ constants)."""
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = "9"          # A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = "1:1"
    ws.print_options.gridLines = False


class _Sheet:
    """A write-only sheet written row by row, with its record mirror."""

    def __init__(self, book: "_Writer", spec: TableSpec, *, widths: Iterable[float] | None = None,
                 freeze: str = "A2", mirror: bool = True, headers: list[str] | None = None,
                 extra_cols: tuple[Column, ...] = ()):
        self.book = book
        self.spec = spec
        self.columns = list(spec.columns) + list(extra_cols)
        self.ws = book.wb.create_sheet(spec.sheet)
        self.mirror = mirror
        for i, col in enumerate(self.columns, start=1):
            self.ws.column_dimensions[get_column_letter(i)].width = col.width
        self.ws.freeze_panes = freeze
        _print_setup(self.ws)
        header = []
        for col in self.columns:
            c = WriteOnlyCell(self.ws, value=col.header)
            c.fill, c.font, c.alignment, c.border = S.HEADER_FILL, S.HEADER_FONT, S.HEADER_ALIGN, S.BORDER
            header.append(c)
        self.ws.row_dimensions[1].height = 32
        self.ws.append(header)
        self.rows = 1

    def append(self, values: Mapping[str, Any], *, formats: Mapping[str, str] | None = None,
               key: tuple | None = None, bold: bool = False, unlocked: Iterable[str] = ()) -> int:
        formats = formats or {}
        unlocked = set(unlocked)
        cells = []
        record = {}
        for col in self.columns:
            v = values.get(col.field)
            v = _py(v) if not isinstance(v, bool) else v
            fmt = formats.get(col.field)
            if fmt is None:
                if isinstance(v, dt.datetime):
                    fmt = DATETIME_FORMAT
                elif isinstance(v, dt.date):
                    fmt = S.DATE_FORMAT
            needs_cell = (fmt is not None or bold or col.field in unlocked
                          or (isinstance(v, str) and v[:1] in ("=", "+", "-", "@"))
                          or (isinstance(v, str) and len(v) > 60))
            if needs_cell:
                c = WriteOnlyCell(self.ws, value=v)
                if isinstance(v, str):
                    c.data_type = "s"      # what people typed stays text, never a formula
                if fmt is not None:
                    c.number_format = fmt
                if bold:
                    c.font = S.TOTAL_FONT
                if col.field in unlocked:
                    c.protection = S.UNLOCKED
                    c.fill = S.INPUT_FILL
                    c.border = S.BORDER
                if isinstance(v, str) and len(v) > 60:
                    c.alignment = S.WRAP
                cells.append(c)
            else:
                cells.append(v)
            if col.field not in OIV_FIELDS:
                record[col.header] = canon(v)
        self.ws.append(cells)
        self.rows += 1
        if self.mirror and key is not None:
            self.book.mirror(self.spec.sheet, key, record)
        return self.rows

    def finish(self, *, protect: bool = True) -> None:
        last = get_column_letter(len(self.columns))
        self.ws.auto_filter.ref = f"A1:{last}{max(2, self.rows)}"
        if protect:
            self.book.protect(self.ws)


class _Writer:
    def __init__(self, data: Consolidated, password: str):
        self.data = data
        self.password = password
        self.wb = Workbook(write_only=True)
        self.values_ws = None
        self._mirror: list[tuple[str, str, str]] = []

    def mirror(self, sheet: str, key: tuple, record: dict) -> None:
        self._mirror.append((sheet, key_json(key), _record_json(record)))

    def records(self) -> list[tuple[str, str, str]]:
        """Everything this workbook records as written: the `_pegxl_valori` records and the
        identity and Regole of `_pegxl` (sheet, key json, record json)."""
        return list(self._mirror) + list(getattr(self, "identity_records", []))

    def protect(self, ws) -> None:
        p = ws.protection
        p.sheet = True
        if self.password:
            p.password = self.password
        # openpyxl flags: True = forbidden, False = allowed
        p.selectLockedCells = False
        p.selectUnlockedCells = False
        p.formatColumns = False
        p.formatRows = False
        p.autoFilter = False
        p.sort = True
        p.formatCells = True
        p.insertColumns = True
        p.insertRows = True
        p.deleteColumns = True
        p.deleteRows = True

    # ------------------------------------------------------------------ orchestration
    def build(self) -> Workbook:
        d = self.data
        final = d.kind != KIND_CONSOLIDATED
        self._sintesi(final)
        self._objectives(final)
        self._phases()
        self._indicators()
        if final:
            self._differences()
        self._anomalies()
        self._provenance()
        self._identity()
        if not final:
            self._values()
        self.wb.security = WorkbookProtection(workbookPassword=self.password or None, lockStructure=True)
        if d.created is not None:
            self.wb.properties.created = d.created
            self.wb.properties.modified = d.created
        self.wb.properties.creator = f"pegxl {__version__}"
        self.wb.properties.title = f"{d.plan.ente} {d.plan.anno}: consolidato per l'OIV"
        return self.wb

    # --------------------------------------------------------------------- Sintesi
    def _sintesi(self, final: bool) -> None:
        d, plan = self.data, self.data.plan
        extra = (COL_BEFORE_OIV,) if final else ()
        sh = _Sheet(self, CS_SINTESI, extra_cols=extra, mirror=not final)
        scored = d.scores.sectors.set_index("sector")
        before = d.scores_before.sectors.set_index("sector") if d.scores_before is not None else None
        n_assigned = plan.assignments.groupby("sector").size().to_dict() if len(plan.assignments) else {}
        fmt = {"percentage": PCT, "percentage_before": PCT}
        first = 2
        for s in plan.sectors.itertuples():
            code = s.sector
            row = {"sector": code, "sector_name": s.sector_name, "manager": s.manager,
                   "weight": _f(s.weight)}
            if code in scored.index and code in set(d.sectors):
                r = scored.loc[code]
                pct = _f(r["percentage"])
                row.update(n_objectives=int(r["n_objectives"]), n_assessed=int(r["n_assessed"]),
                           percentage=pct, band=r["band"] if pct is not None else None,
                           state="consolidato" if pct is not None else "consolidato: nessun obiettivo valutato")
                if before is not None and code in before.index:
                    row["percentage_before"] = _f(before.loc[code, "percentage"])
            else:
                row.update(n_objectives=int(n_assigned.get(code, 0)), n_assessed=0,
                           state="escluso: " + d.excluded.get(code, "file mancante"))
            sh.append(row, formats=fmt, key=(code,))
        last = sh.rows
        ente = d.scores.ente
        tot = {"sector": ENTE_CODE, "sector_name": plan.ente,
               "n_objectives": int(sum(int(scored.loc[c, "n_objectives"]) for c in d.sectors if c in scored.index)),
               "n_assessed": int(sum(int(scored.loc[c, "n_assessed"]) for c in d.sectors if c in scored.index)),
               "percentage": _f(ente.get("percentage")), "band": ente.get("band"),
               "state": (f"{len(d.sectors)} {'settore consolidato' if len(d.sectors) == 1 else 'settori consolidati'}"
                         f" su {len(plan.sectors)}")}
        if d.scores_before is not None:
            tot["percentage_before"] = _f(d.scores_before.ente.get("percentage"))
        sh.append(tot, formats=fmt, key=(ENTE_CODE,), bold=True)
        if last >= first:
            chart = BarChart()
            chart.type = "col"
            chart.title = "Percentuale di raggiungimento per settore"
            chart.y_axis.title = "%"
            chart.y_axis.scaling.min = 0
            # a Tetto indicatore above 100 can take a settore beyond 100 %: no bar is cut off
            shown_pcts = [p for p in (_f(scored.loc[c, "percentage"]) for c in d.sectors if c in scored.index)
                          if p is not None]
            chart.y_axis.scaling.max = max(100, 10 * math.ceil(max(shown_pcts, default=0) / 10 - 1e-9))
            chart.x_axis.title = "Settore"
            chart.x_axis.delete = False
            chart.y_axis.delete = False
            chart.legend = None
            pct_col = [c.field for c in sh.columns].index("percentage") + 1
            data = Reference(sh.ws, min_col=pct_col, min_row=1, max_row=last)
            cats = Reference(sh.ws, min_col=1, min_row=first, max_row=last)
            chart.add_data(data, titles_from_data=True)
            chart.set_categories(cats)
            chart.height = 8
            chart.width = max(16, min(40, 1.2 * (last - 1) + 6))
            sh.ws.add_chart(chart, f"A{last + 3}")
        sh.finish()

    # ------------------------------------------------------------------- Obiettivi
    def _objectives(self, final: bool) -> None:
        d, rules = self.data, self.data.plan.rules
        sh = _Sheet(self, CS_OBJECTIVES, freeze="C2", mirror=not final)
        inputs = d.inputs.objectives.set_index(["sector", "objective"]) if not d.inputs.objectives.empty else None
        oiv = {}
        if d.oiv is not None and not d.oiv.empty:
            for r in d.oiv.to_dict("records"):
                oiv[(r["sector"], r["objective"])] = r
        before = None
        if d.scores_before is not None:
            before = d.scores_before.objectives.set_index(["sector", "objective"])
        fmt = {f: PCT for f in ("computed", "declared", "grade", "oiv_grade", "phases_pct", "indicators_pct")}
        unlocked = () if final else OIV_FIELDS
        keep = set(d.sectors)
        o = d.scores.objectives
        o = o[o["sector"].isin(keep)]
        for r in o.to_dict("records"):
            key = (r["sector"], r["objective"])
            typed = inputs.loc[key] if inputs is not None and key in inputs.index else None
            grade_before = _f(before.loc[key, "grade"]) if before is not None and key in before.index else None
            ov = oiv.get(key, {})
            row = {
                "sector": r["sector"], "objective": r["objective"], "title": r["title"],
                "status": r["status"], "computed": _f(r["computed"]), "declared": _f(r["declared"]),
                "grade": _f(r["grade"]), "notes": _note(r, rules, grade_before),
                "oiv_grade": _oiv_shown(ov), "oiv_notes": clean_text(ov.get("oiv_notes")),
                "report": typed["report"] if typed is not None else None,
                "deviation_reason": typed["deviation_reason"] if typed is not None else None,
                "weight": _f(r["weight"]), "phases_pct": _f(r["phases_pct"]),
                "indicators_pct": _f(r["indicators_pct"]), "grade_source": r["grade_source"],
                "counted": "sì" if r["counted"] else "no",
            }
            sh.append(row, formats=fmt, key=key, unlocked=unlocked)
        if not final and sh.rows >= 2:
            cols = [c.field for c in sh.columns]
            g = get_column_letter(cols.index("oiv_grade") + 1)
            n = get_column_letter(cols.index("oiv_notes") + 1)
            dv = _oiv_grade_validation(f"{g}2")
            dv.add(f"{g}2:{g}{sh.rows}")
            sh.ws.data_validations.append(dv)
            tv = S.text_validation(TEXT_MAX, title="Note OIV",
                                   prompt=f"Le note dell'OIV sull'obiettivo (al massimo {TEXT_MAX} caratteri). "
                                          "Da compilare se la valutazione differisce dal Grado %.",
                                   error=f"Il testo supera i {TEXT_MAX} caratteri: accorciarlo.")
            tv.add(f"{n}2:{n}{sh.rows}")
            sh.ws.data_validations.append(tv)
        sh.finish()

    # ------------------------------------------------------------------------ Fasi
    def _phases(self) -> None:
        d, plan = self.data, self.data.plan
        final = d.kind != KIND_CONSOLIDATED
        sh = _Sheet(self, CS_PHASES, freeze="D2", mirror=not final)
        planned = {(p["objective"], p["phase"]): p for p in plan.phases.to_dict("records")}
        typed = {}
        if not d.inputs.phases.empty:
            for r in d.inputs.phases.to_dict("records"):
                typed[(r["sector"], r["objective"], int(r["phase"]))] = r
        fmt = {"progress": PCT, "contribution": PCT, "effective_weight": WEIGHT_FORMAT}
        keep = set(d.sectors)
        for r in d.scores.phases.to_dict("records"):
            if r["sector"] not in keep:
                continue
            n = int(r["phase"])
            p = planned.get((r["objective"], n), {})
            t = typed.get((r["sector"], r["objective"], n), {})
            row = {"sector": r["sector"], "objective": r["objective"], "phase": n,
                   "description": p.get("description"), "planned_start": p.get("planned_start"),
                   "planned_end": p.get("planned_end"), "weight": _f(p.get("weight")),
                   "neutralised": "sì" if r["neutralised"] else None,
                   "progress": _f(t.get("progress")), "actual_start": t.get("actual_start"),
                   "actual_end": t.get("actual_end"), "notes": t.get("notes"),
                   "effective_weight": _f(r["effective_weight"]), "contribution": _f(r["contribution"])}
            sh.append(row, formats=fmt, key=(r["sector"], r["objective"], n))
        sh.finish()

    # ------------------------------------------------------------------- Indicatori
    def _indicators(self) -> None:
        d, plan = self.data, self.data.plan
        final = d.kind != KIND_CONSOLIDATED
        sh = _Sheet(self, CS_INDICATORS, freeze="D2", mirror=not final)
        planned = {(p["objective"], p["indicator"]): p for p in plan.indicators.to_dict("records")}
        typed = {}
        if not d.inputs.indicators.empty:
            for r in d.inputs.indicators.to_dict("records"):
                typed[(r["sector"], r["objective"], int(r["indicator"]))] = r
        keep = set(d.sectors)
        for r in d.scores.indicators.to_dict("records"):
            if r["sector"] not in keep:
                continue
            n = int(r["indicator"])
            p = planned.get((r["objective"], n), {})
            t = typed.get((r["sector"], r["objective"], n), {})
            vt = p.get("value_type")
            target = p.get("target_value")
            if isinstance(target, bool):
                target = "sì" if target else "no"
            elif is_blank(target):
                target = p.get("target")
            fmt = {"score": PCT, "effective_weight": WEIGHT_FORMAT}
            if t.get("achieved_percent"):
                fmt["achieved_raw"] = RAW_PERCENT
            row = {"sector": r["sector"], "objective": r["objective"], "indicator": n,
                   "description": p.get("description"), "kind": p.get("kind"), "value_type": vt,
                   "direction": p.get("direction"), "target": target, "weight": _f(p.get("weight")),
                   "neutralised": "sì" if r["neutralised"] else None,
                   "achieved_raw": t.get("achieved_raw"), "notes": t.get("notes"),
                   "score": _f(r["score"]), "status": r["status"],
                   "effective_weight": _f(r["effective_weight"]),
                   "achieved": _shown_value(t.get("achieved"), vt)}
            sh.append(row, formats=fmt, key=(r["sector"], r["objective"], n))
        sh.finish()

    # ------------------------------------------------------------- Differenze OIV
    def _differences(self) -> None:
        d = self.data
        sh = _Sheet(self, CS_DIFF, freeze="C2", mirror=False)
        if d.oiv is not None and not d.oiv.empty and d.scores_before is not None:
            before = d.scores_before.objectives.set_index(["sector", "objective"])
            fmt = {"grade_before": PCT, "oiv_grade": PCT, "difference": "+0.00;-0.00;0.00"}
            keep = set(d.sectors)
            order = {k: i for i, k in enumerate(zip(before.index.get_level_values(0),
                                                    before.index.get_level_values(1)))}
            rows = [r for r in d.oiv.to_dict("records") if r["sector"] in keep
                    and (_oiv_shown(r) is not None or clean_text(r.get("oiv_notes")))]
            rows.sort(key=lambda r: order.get((r["sector"], r["objective"]), 1 << 30))
            for r in rows:
                key = (r["sector"], r["objective"])
                b = before.loc[key] if key in before.index else None
                g0 = _f(b["grade"]) if b is not None else None
                g1 = _f(r.get("oiv_grade"))
                sh.append({"sector": key[0], "objective": key[1],
                           "title": b["title"] if b is not None else None,
                           "grade_before": g0, "oiv_grade": _oiv_shown(r),
                           "difference": (g1 - g0) if g0 is not None and g1 is not None else None,
                           "oiv_notes": clean_text(r.get("oiv_notes"))}, formats=fmt)
        sh.finish()

    # ------------------------------------------------------- Anomalie, Provenienza
    # Anomalie and Provenienza have no record key: their rows are recorded in _pegxl_valori
    # by position, with the number of rows, so that the OIV's copy cannot change them
    # unseen (Provenienza's SHA-256 is what `pegxl oiv --returns` trusts).
    def _listed_mirror(self, sh: "_Sheet", n: int) -> None:
        if sh.mirror:
            self.mirror(sh.spec.sheet, LIST_COUNT_KEY, {LIST_COUNT_FIELD: n})

    def _anomalies(self) -> None:
        sh = _Sheet(self, CS_ANOMALIE, mirror=self.data.kind == KIND_CONSOLIDATED)
        for i, row in enumerate(self.data.anomalies, start=1):
            sh.append(row, key=(i,))
        self._listed_mirror(sh, len(self.data.anomalies))
        sh.finish()

    def _provenance(self) -> None:
        sh = _Sheet(self, CS_PROVENIENZA, mirror=self.data.kind == KIND_CONSOLIDATED)
        for i, row in enumerate(self.data.provenance, start=1):
            r = dict(row)
            r["read_at"] = naive(r.get("read_at"))
            sh.append(r, formats={"read_at": DATETIME_FORMAT}, key=(i,))
        self._listed_mirror(sh, len(self.data.provenance))
        sh.finish()

    # ------------------------------------------------------------- hidden sheets
    def _identity(self) -> None:
        d, plan = self.data, self.data.plan
        ws = self.wb.create_sheet(C.SHEET_IDENTITY)
        ws.sheet_state = "hidden"
        ws.column_dimensions["A"].width = 28
        ws.column_dimensions["B"].width = 70
        ws.append([C.ENTE_VOCE, C.ENTE_VALORE])
        values = {"format_version": C.FORMAT_VERSION, "kind": d.kind, "ente": plan.ente,
                  "anno": plan.anno, "fase": plan.fase, "fingerprint": plan.fingerprint(),
                  "sectors": ";".join(d.sectors),
                  "excluded": ";".join(s for s in plan.sector_codes if s not in set(d.sectors)),
                  "generator": f"pegxl {__version__}", "run_id": d.run_id}
        ident = {}
        for label, fld in IDENTITY:
            v = values[fld]
            c = WriteOnlyCell(ws, value=v)
            if isinstance(v, str):
                c.data_type = "s"
            ws.append([label, c])
            ident[label] = canon(v)
        ws.append([])
        ws.append(["Regola", "Valore"])
        rules = {}
        for name, value in plan.rules.as_rows():
            ws.append([name, _py(value)])
            rules[name] = canon(_py(value))
        self.protect(ws)
        # archived with the records (never in _pegxl_valori: the workbook's own check reads
        # the identity directly)
        self.identity_records = [(IDENTITY_RECORD, key_json(("identità",)), _record_json(ident)),
                                 (IDENTITY_RECORD, key_json(("regole",)), _record_json(rules))]

    def _values(self) -> None:
        ws = self.wb.create_sheet(SHEET_VALUES)
        ws.sheet_state = "hidden"
        ws.append(["Foglio", "Chiave", "Valori"])
        for sheet, key, rec in self._mirror:
            cells = []
            for v in (sheet, key, rec):
                c = WriteOnlyCell(ws, value=v)
                c.data_type = "s"
                cells.append(c)
            ws.append(cells)
        self.protect(ws)


def _record_json(record: Mapping[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def _oiv_shown(r: Mapping[str, Any]) -> Any:
    """Valutazione OIV % as the final workbook shows it: the number, or «Non valutabile»."""
    if bool(r.get("oiv_not_assessable")) and not is_blank(r.get("oiv_not_assessable")):
        return OIV_NOT_ASSESSABLE
    return _f(r.get("oiv_grade"))


def _oiv_grade_validation(first_cell: str):
    """Valutazione OIV %: a number from 0 to 100, or the words «Non valutabile» (any case).
    A custom formula, relative to the first cell of the range, as Excel and Calc read it."""
    from openpyxl.worksheet.datavalidation import DataValidation
    c = first_cell
    dv = DataValidation(type="custom", allow_blank=True,
                        formula1=f'OR(AND(ISNUMBER({c}),{c}>=0,{c}<=100),LOWER(TRIM({c}))="non valutabile")',
                        showErrorMessage=True, showInputMessage=True, errorStyle="stop")
    dv.promptTitle = "Valutazione OIV %"
    dv.prompt = ("Facoltativa: il grado attribuito dall'OIV, da 0 a 100 (es. 85 o 85,5), oppure "
                 "«Non valutabile» (con le Note OIV). Se compilata sostituisce il Grado % nel calcolo dei totali.")
    dv.errorTitle = "Valutazione OIV %"
    dv.error = ("Scrivere un numero da 0 a 100 (es. 85 o 85,5), oppure «Non valutabile», "
                "o lasciare vuoto.")
    return dv


def _note(r: Mapping[str, Any], rules: Any, grade_before: float | None = None) -> str | None:
    """The tool's note on one objective's grade (figures rounded half-up for display)."""
    reason = r.get("excluded_reason")
    if reason == EX_OIV_NOT_ASSESSABLE:
        return "Non valutabile secondo l'OIV: escluso dalla media."
    if reason == EX_POSTPONED:
        return "Rinviato: escluso dalla media."
    if reason == EX_NOT_ASSESSABLE:
        return "Non valutabile: escluso dalla media."
    if reason == EX_NEUTRALISED:
        declared = _f(r.get("declared"))
        return ("Non valutabile: fasi e indicatori neutralizzati; escluso dalla media"
                + (f" (il grado dichiarato {format_percent(declared)} non conta)." if declared is not None else "."))
    if reason == EX_NO_DATA:
        return "Nessun dato per calcolare il grado: escluso dalla media."
    parts = []
    src = r.get("grade_source")
    computed = _f(r.get("computed"))
    if src == SRC_OIV:
        parts.append("Valutazione OIV in vigore"
                     + (f" (grado del settore {format_percent(grade_before)})." if grade_before is not None else "."))
    elif src == SRC_DECLARED:
        parts.append("Grado dichiarato dal settore"
                     + (f" (calcolato {format_percent(computed)})." if computed is not None else "."))
        if r.get("deviation_flag"):
            parts.append(f"Scostamento oltre {show_value(float(rules.deviation_threshold))} punti.")
    grade = _f(r.get("grade"))
    if grade is not None and grade < float(rules.minimum) - 1e-9:
        parts.append(f"Sotto la soglia minima ({show_value(float(rules.minimum))}): conta 0 nella media.")
    return " ".join(parts) or None


def build_workbook(data: Consolidated, *, password: str | None = None,
                   records: list | None = None) -> Workbook:
    """The consolidated (or final) workbook of `data`, not saved. `records`, when given, is
    extended with what the workbook records as written (see _Writer.records)."""
    if password is None:
        from .templates import DEFAULT_PASSWORD
        password = DEFAULT_PASSWORD
    w = _Writer(data, password)
    wb = w.build()
    if records is not None:
        records.extend(w.records())
    return wb


def write_consolidated(data: Consolidated, path: str | os.PathLike, *,
                       verify: Callable[[Path], None] | None = None, password: str | None = None,
                       records: list | None = None) -> Path:
    """Write the workbook atomically. `verify(tmp_path)` runs on the complete temporary file
    before it replaces `path`; if it raises, nothing is written. `records`: see build_workbook."""
    from .workbook.io import atomic_path
    wb = build_workbook(data, password=password, records=records)
    target = Path(path)
    with atomic_path(target, suffix=".tmp.xlsx") as tmp:
        wb.save(tmp)
        if verify is not None:
            verify(tmp)
    return target


def consolidated_name(plan: Plan, final: bool = False) -> str:
    return f"{plan.anno}_consolidato_OIV{'_finale' if final else ''}.xlsx"


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


def read_book(path: str | os.PathLike, *, plan: Plan | None = None) -> ConsolidatedBook:
    """Read a consolidated workbook by header names. Raises PegxlError if unreadable."""
    from .workbook.reader import read_table, read_values
    book = read_values(path, max_rows=max_rows(plan) if plan is not None else 50_000)
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
        table, problems = read_table(sheet, spec, required_fields=required)
        if problems:
            missing[name] = [p.column for p in problems]
        tables[name] = table.df
        cols[name] = table.cols
    mirror = None
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


def table_key(sheet: str, r: Mapping[str, Any]) -> tuple | None:
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
    from .values import parse_date
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
