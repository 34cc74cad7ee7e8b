"""Writing the consolidated workbook (see the package docstring for the design)."""
from __future__ import annotations

import datetime as dt
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

import pandas as pd
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.chart import BarChart, Reference
from openpyxl.chart.text import RichText
from openpyxl.drawing.text import CharacterProperties, Paragraph, ParagraphProperties
from openpyxl.utils import column_index_from_string, get_column_letter
from openpyxl.workbook.protection import WorkbookProtection
from openpyxl.worksheet.datavalidation import DataValidation

from .. import __version__
from ..errors import ErrorCode, Finding, show_value
from ..explain import reasons_of
from ..plan import Plan
from ..scoring import (
    EX_NEUTRALISED,
    EX_NO_DATA,
    EX_NOT_ASSESSABLE,
    EX_OIV_NOT_ASSESSABLE,
    EX_POSTPONED,
    SRC_DECLARED,
    SRC_OIV,
    Scores,
)
from ..tables import (
    Inputs,
    LazyInputs,
    canon,
    clean_text,
    key_json,
    typed_chunks,
)
from ..templates import DEFAULT_PASSWORD
from ..values import as_float, format_percent, is_blank
from ..workbook import contract as C
from ..workbook import paper
from ..workbook import style as S
from ..workbook.fastrows import FastWriteOnlyWorkbook, FastWriteOnlyWorksheet, append_plain, plain_text, set_height
from ..workbook.contract import (
    COL_BEFORE_OIV,
    CS_ANOMALIE,
    CS_CALCOLO,
    CS_DIFF,
    CS_INDICATORS,
    CS_OBJECTIVES,
    CS_PHASES,
    CS_PROVENIENZA,
    CS_SINTESI,
    ENTE_CODE,
    IDENTITY,
    IDENTITY_RECORD,
    KIND_CONSOLIDATED,
    LIST_COUNT_FIELD,
    LIST_COUNT_KEY,
    OIV_FIELDS,
    OIV_NOT_ASSESSABLE,
    SHEET_VALUES,
    Column,
    TableSpec,
)
from ..workbook.io import atomic_path
from ..workbook.reader import iter_records
from ..workbook.zipsave import save_threaded
from .calcolo import CALCOLO_WIDTHS, CalcoloRows, CalcoloTexts, calcolo_cells, calcolo_table, calcolo_wrapped, \
    numbered, texts_of
from .calcolo import EPOCH as CALCOLO_EPOCH
from .records import RecordSpill
from .tablerows import (
    DATETIME_FORMAT,
    INDICATOR_PLANNED,
    INDICATOR_SCORES,
    INDICATOR_TYPED,
    PCT,
    PHASE_PLANNED,
    PHASE_SCORES,
    PART_ROWS,
    PHASE_TYPED,
    ROW_MAKERS,
    ROW_STYLES,
    RowMaker,
    StyleKey,
    TableRow,
    TableRows,
    compose,
    in_parts,
    py_value,
    record_json,
    table_rows_here,
)
from .typed import BySector, by_sector, keyed_rows

TEXT_MAX = 4000
# Sintesi one landscape A4 page wide (text wraps): narrower than the contract's widths
SINTESI_WIDTHS = {"sector": 10, "sector_name": 26, "manager": 18, "state": 24}


# ------------------------------------------------------------------ what is written

@dataclass
class Consolidated:
    """Everything a consolidated workbook shows. `scores` are the figures in force (with
    the OIV grades in the final workbook); `scores_before` the ones without the OIV."""

    plan: Plan
    inputs: Inputs | LazyInputs   # lazy: each table made when its sheet is written
    scores: Scores
    sectors: list[str]                           # settori consolidated, plan order
    excluded: dict[str, str] = field(default_factory=dict)   # settore -> why (Italian)
    anomalies: list[dict] = field(default_factory=list)       # rows by CS_ANOMALIE field
    provenance: list[dict] = field(default_factory=list)      # rows by CS_PROVENIENZA field
    oiv: pd.DataFrame | None = None              # sector, objective, oiv_grade, oiv_notes
    scores_before: Scores | None = None
    kind: str = KIND_CONSOLIDATED
    created: dt.datetime | None = None           # when made (document property, Sintesi's title); None: now
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


# ------------------------------------------------------------------------- writing

class _Sheet:
    """A write-only sheet written row by row, with its record mirror."""

    def __init__(self, book: _Writer, spec: TableSpec, *, widths: Mapping[str, float] | None = None,
                 freeze: str = "A2", mirror: bool = True, headers: list[str] | None = None,
                 extra_cols: tuple[Column, ...] = (), title: list[str] | None = None):
        self.book = book
        self.spec = spec
        self.columns = list(spec.columns) + list(extra_cols)
        self.fields = [(col.field, col.header) for col in self.columns]
        self.ws = book.wb.create_sheet(spec.sheet)
        self.mirror = mirror
        heads = [col.header for col in self.columns]
        narrow = widths or {}
        self.widths = paper.header_widths(heads, [narrow.get(col.field, col.width) for col in self.columns])
        for i, w in enumerate(self.widths, start=1):
            self.ws.column_dimensions[get_column_letter(i)].width = w
        # a cell's text wraps when it is wider than its column: the room, in digits
        self._room = [w - 1.0 for w in self.widths]
        # a title block (documents.md) puts the header row below it
        self.head = len(title) + 2 if title else 1
        if title:
            freeze = freeze.rstrip("0123456789") + str(self.head + 1)
        self.ws.freeze_panes = freeze
        # the key columns left of the frozen pane repeat on the pages across
        keys = column_index_from_string(freeze.rstrip("0123456789")) - 1
        paper.setup(self.ws, self.widths, book.heading, title_rows=f"{self.head}:{self.head}",
                    title_cols=f"A:{get_column_letter(keys)}" if keys > 0 else None)
        for i, line in enumerate(title or []):
            c = WriteOnlyCell(self.ws, value=line)
            c.data_type = "s"
            c.font = S.TITLE_FONT if i == 0 else S.TOTAL_FONT
            if i == 0:
                self.ws.row_dimensions[1].height = paper.lines_height(1, 14)   # S.TITLE_FONT
            self.ws.append([c])
        if title:
            self.ws.append([])
        header = []
        for col in self.columns:
            c = WriteOnlyCell(self.ws, value=col.header)
            c.fill, c.font, c.alignment, c.border = S.HEADER_FILL, S.HEADER_FONT, S.HEADER_ALIGN, S.BORDER
            header.append(c)
        self._styles: dict[tuple, Any] = {}
        self.ws.row_dimensions[self.head].height = max(32.0, paper.header_height(heads, self.widths))
        self.ws.append(header)
        self.rows = self.head

    def append(self, values: Mapping[str, Any], *, formats: Mapping[str, str] | None = None,
               key: tuple | None = None, bold: bool = False, unlocked: Iterable[str] = ()) -> int:
        row, height, record = compose(self.fields, self.widths, self._room, values, formats or {}, bold,
                                      set(unlocked))
        if height is not None:   # neither Excel nor LibreOffice computes it on opening
            set_height(self.ws, self.rows + 1, height)
        append_plain(self.ws, [(v, self._style(*st) if any(st) else None) for v, st in row])
        self.rows += 1
        if self.mirror and key is not None:
            self.book.mirror(self.spec.sheet, key, record)
        return self.rows

    def fixed_styles(self, keys: Iterable[StyleKey]) -> dict[StyleKey, str | None]:
        """Register the styles of `keys` in the workbook, in order, before any row uses
        them: their ids, as the rows' text gives them (see tablerows.RowMaker)."""
        wb: Any = self.book.wb
        return {k: f"{wb._cell_styles.add(self._style(*k))}" if any(k) else None for k in keys}

    def row_maker(self, kind: str, style_ids: Mapping[StyleKey, str | None]) -> RowMaker:
        return RowMaker(kind, self.spec.sheet, tuple(self.fields), tuple(self.widths), tuple(self._room),
                        dict(style_ids), self.book.wb.epoch, self.mirror)

    @property
    def as_text(self) -> bool:
        """Whether rows made as text (RowMaker) can be appended to this sheet."""
        return isinstance(self.ws, FastWriteOnlyWorksheet) and self.ws.fast

    def _style(self, fmt: str | None, bold: bool, unlocked: bool, align: str | None) -> Any:
        """The style array of a cell so formatted, made once per sheet by the same setters
        in the same order (so the workbook's style lists are the same as cell by cell):
        setting a style attribute hashes it, about 20 µs, for every cell otherwise."""
        key = (fmt, bold, unlocked, align)
        style = self._styles.get(key)
        if style is None:
            c: Any = WriteOnlyCell(self.ws)
            if fmt is not None:
                c.number_format = fmt
            if bold:
                c.font = S.TOTAL_FONT
            if unlocked:
                c.protection, c.fill, c.border = S.UNLOCKED, S.INPUT_FILL, S.BORDER
            if align is not None:
                c.alignment = {"wrap": S.WRAP, "center": S.CENTER, "top": S.TOP}[align]
            style = self._styles[key] = c._style
        return style

    def finish(self, *, protect: bool = True) -> None:
        last = get_column_letter(len(self.columns))
        self.ws.auto_filter.ref = f"A{self.head}:{last}{max(self.head + 1, self.rows)}"
        if protect:
            self.book.protect(self.ws)


class _Writer:
    def __init__(self, data: Consolidated, password: str, calcolo: CalcoloRows | None = None,
                 mirror: RecordSpill | None = None, table_rows: TableRows | None = None,
                 calcolo_text: CalcoloTexts | None = None):
        self.data = data
        self.table_rows = table_rows
        self.calcolo_text = calcolo_text
        self.password = password
        self.calcolo = calcolo
        self.wb = FastWriteOnlyWorkbook()   # write-only, its rows written as text
        self.values_ws = None
        what = "Consolidato per l'OIV" if data.kind == KIND_CONSOLIDATED else "Consolidato finale dopo l'OIV"
        self.heading = paper.Heading(data.plan.ente, data.plan.anno, what)
        # a row per record: in a file until _pegxl_valori is written (the caller's, when given)
        self._mirror = mirror if mirror is not None else RecordSpill()
        self.identity_records: list[tuple[str, str, str]] = []

    def mirror(self, sheet: str, key: tuple, record: dict) -> None:
        self._mirror.append((sheet, key_json(key), record_json(record)))

    def records(self) -> Iterator[tuple[str, str, str]]:
        """Everything this workbook records as written: the `_pegxl_valori` records and the
        identity and Regole of `_pegxl` (sheet, key json, record json)."""
        yield from self._mirror
        yield from self.identity_records

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
        self._calcolo()
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
    def _title_block(self, final: bool) -> list[str]:
        """The lines above Sintesi's table: what the workbook is, ente, anno, fase, data di
        riferimento, when it was made (documents.md, "The printed page")."""
        d, plan = self.data, self.data.plan
        what = ("Consolidato finale dopo la valutazione dell'OIV" if final
                else "Consolidato per l'OIV")
        ref = plan.reference_date
        lines = [f"{what} – {plan.ente} – anno {plan.anno}", f"Ente: {plan.ente}",
                 f"Anno: {plan.anno}", f"Fase del ciclo: {plan.fase}",
                 f"Data di riferimento: {ref.strftime('%d/%m/%Y') if ref else 'non indicata'}"]
        made = naive(d.created) or dt.datetime.now().replace(microsecond=0)
        lines.append(f"Generato il: {made.strftime('%d/%m/%Y alle %H:%M')}")
        return lines

    def _sintesi(self, final: bool) -> None:
        d, plan = self.data, self.data.plan
        extra = (COL_BEFORE_OIV,) if final else ()
        sh = _Sheet(self, CS_SINTESI, extra_cols=extra, mirror=not final, widths=SINTESI_WIDTHS,
                    title=self._title_block(final))
        scored = d.scores.sectors.set_index("sector")
        before = d.scores_before.sectors.set_index("sector") if d.scores_before is not None else None
        n_assigned = plan.assignments.groupby("sector").size().to_dict() if len(plan.assignments) else {}
        fmt = {"percentage": PCT, "percentage_before": PCT}
        first = sh.head + 1
        consolidated = set(d.sectors)
        s: Any   # a row of cells as typed
        for s in plan.sectors.itertuples():
            code = s.sector
            row = {"sector": code, "sector_name": s.sector_name, "manager": s.manager,
                   "weight": as_float(s.weight)}
            if code in scored.index and code in consolidated:
                r = scored.loc[code]
                pct = as_float(r["percentage"])
                row.update(n_objectives=int(r["n_objectives"]), n_assessed=int(r["n_assessed"]),
                           percentage=pct, band=r["band"] if pct is not None else None,
                           state="consolidato" if pct is not None else "consolidato: nessun obiettivo valutato")
                if before is not None and code in before.index:
                    row["percentage_before"] = as_float(before.loc[code, "percentage"])
            else:
                row.update(n_objectives=int(n_assigned.get(code, 0)), n_assessed=0,
                           state="escluso: " + d.excluded.get(code, "file mancante"))
            sh.append(row, formats=fmt, key=(code,))
        last = sh.rows
        ente = d.scores.ente
        tot = {"sector": ENTE_CODE, "sector_name": plan.ente,
               "n_objectives": int(sum(int(scored.loc[c, "n_objectives"]) for c in d.sectors if c in scored.index)),
               "n_assessed": int(sum(int(scored.loc[c, "n_assessed"]) for c in d.sectors if c in scored.index)),
               "percentage": as_float(ente.get("percentage")), "band": ente.get("band"),
               "state": (f"{len(d.sectors)} {'settore consolidato' if len(d.sectors) == 1 else 'settori consolidati'}"
                         f" su {len(plan.sectors)}")}
        if d.scores_before is not None:
            tot["percentage_before"] = as_float(d.scores_before.ente.get("percentage"))
        sh.append(tot, formats=fmt, key=(ENTE_CODE,), bold=True)
        if last >= first:
            chart = BarChart()
            chart.type = "col"
            chart.title = "Percentuale di raggiungimento per settore"
            chart.y_axis.scaling.min = 0
            # a Tetto indicatore above 100 can take a settore beyond 100 %: no bar is cut off
            shown_pcts = [p for p in (as_float(scored.loc[c, "percentage"]) for c in d.sectors if c in scored.index)
                          if p is not None]
            chart.y_axis.scaling.max = max(100, 10 * math.ceil(max(shown_pcts, default=0) / 10 - 1e-9))
            chart.x_axis.title = "Settore"
            chart.x_axis.delete = False
            chart.y_axis.delete = False
            chart.legend = None
            for axis in (chart.x_axis, chart.y_axis):   # 11 pt: 8 pt on paper at the smallest scale
                axis.txPr = _chart_text(1100)
            x_title: Any = chart.x_axis.title
            for para in x_title.tx.rich.p:
                para.pPr = ParagraphProperties(defRPr=CharacterProperties(sz=1100, b=True))
            pct_col = [c.field for c in sh.columns].index("percentage") + 1
            data = Reference(sh.ws, min_col=pct_col, min_row=sh.head, max_row=last)
            cats = Reference(sh.ws, min_col=1, min_row=first, max_row=last)
            chart.add_data(data, titles_from_data=True)
            chart.set_categories(cats)
            chart.height = 8
            chart.width = max(16, min(40, 1.2 * (last - 1) + 6))  # type: ignore[assignment]  # cm: a float (stubs say int)
            sh.ws.add_chart(chart, f"A{last + 3}")
        sh.finish()

    # ------------------------------------------------------------------- Obiettivi
    def _objectives(self, final: bool) -> None:
        d, rules = self.data, self.data.plan.rules
        sh = _Sheet(self, CS_OBJECTIVES, freeze="C2", mirror=not final)
        # what the settori typed, a settore at a time (of 1,000 settori at once: tens of megabytes)
        typed = by_sector(typed_chunks(d.inputs, "objectives"), ("sector", "objective"),
                         ("report", "deviation_reason"), number=False, first=True)
        oiv = {}
        r: Any   # a row as its table gives it
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
        for r in iter_records(o):   # a row at a time: 20,000 objectives of 1,000 settori
            key = (r["sector"], r["objective"])
            report, deviation_reason = typed.get(r["sector"], key, _NONE4[:2])
            grade_before = as_float(before.loc[key, "grade"]) if before is not None and key in before.index else None
            ov = oiv.get(key, {})
            row = {
                "sector": r["sector"], "objective": r["objective"], "title": r["title"],
                "status": r["status"], "computed": as_float(r["computed"]), "declared": as_float(r["declared"]),
                "grade": as_float(r["grade"]), "notes": _note(r, rules, grade_before),
                "oiv_grade": _oiv_shown(ov), "oiv_notes": clean_text(ov.get("oiv_notes")),
                "report": report, "deviation_reason": deviation_reason,
                "weight": as_float(r["weight"]), "phases_pct": as_float(r["phases_pct"]),
                "indicators_pct": as_float(r["indicators_pct"]), "grade_source": r["grade_source"],
                "counted": "sì" if r["counted"] else "no",
            }
            sh.append(row, formats=fmt, key=key, unlocked=unlocked)
        typed.close()
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
        # the fields shown only, as tuples, and the scores a row at a time: the tables of
        # 1,000 settori as dicts of every field are hundreds of megabytes, and as dicts of the
        # fields shown the highest moment of this sheet (70 MB)
        planned = _shown(plan.phases, ("objective", "phase"), PHASE_PLANNED)
        typed = by_sector(typed_chunks(d.inputs, "phases"), ("sector", "objective", "phase"), PHASE_TYPED)
        self._table(CS_PHASES, "phases", d.scores.phases, PHASE_SCORES, planned, typed)

    # ------------------------------------------------------------------- Indicatori
    def _indicators(self) -> None:
        d, plan = self.data, self.data.plan
        planned = _shown(plan.indicators, ("objective", "indicator"), INDICATOR_PLANNED)
        typed = by_sector(typed_chunks(d.inputs, "indicators"), ("sector", "objective", "indicator"),
                          INDICATOR_TYPED)
        self._table(CS_INDICATORS, "indicators", d.scores.indicators, INDICATOR_SCORES, planned, typed)

    def _table(self, spec: TableSpec, kind: str, scored: pd.DataFrame, fields: tuple[str, ...],
               planned: dict[tuple, tuple], typed: BySector) -> None:
        """Fasi or Indicatori: a row per scored phase or indicator of the settori consolidated,
        with the plan's fields and what the settore typed (tablerows.ROW_MAKERS)."""
        sh = _Sheet(self, spec, freeze="D2", mirror=self.data.kind == KIND_CONSOLIDATED)
        style_ids = sh.fixed_styles(ROW_STYLES)   # the same ids however the rows are made
        keep = set(self.data.sectors)
        n_planned = len(PHASE_PLANNED if kind == "phases" else INDICATOR_PLANNED)
        none_planned, none_typed = (None,) * n_planned, _NONE4

        def rows() -> Iterator[TableRow]:
            for r in iter_records(scored, fields):
                sector = r["sector"]
                if sector not in keep:
                    continue
                values = tuple(r[f] for f in fields)
                n = int(values[2])
                values = values[:2] + (n,) + values[3:]
                yield (values, planned.get((values[1], n), none_planned),
                       typed.get(sector, (sector, values[1], n), none_typed))
        try:
            if sh.as_text:   # made a part at a time, here or by merge's workers: their text written
                maker = sh.row_maker(kind, style_ids)
                for text, n, records in (self.table_rows or table_rows_here)(maker, in_parts(rows(), sh.rows + 1)):
                    sh.ws.append_text(text, sh.rows + 1, n)
                    sh.rows += n
                    self._mirror.extend(records)
            else:
                make = ROW_MAKERS[kind]
                for r, p, t in rows():
                    values, formats, key = make(r, p, t)
                    sh.append(values, formats=formats, key=key)
        finally:
            typed.close()
        sh.finish()

    # ------------------------------------------------------------- Differenze OIV
    def _differences(self) -> None:
        d = self.data
        sh = _Sheet(self, CS_DIFF, freeze="C2", mirror=False, widths={"oiv_notes": 40})
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
                g0 = as_float(b["grade"]) if b is not None else None
                g1 = as_float(r.get("oiv_grade"))
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
    def _listed_mirror(self, sh: _Sheet, n: int) -> None:
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

    def _calcolo(self) -> None:
        """Calcolo: every figure with its steps (pegxl.explain), one row per figure. Derived
        text, locked but not recorded in _pegxl_valori: pegxl oiv never reads it, it
        recomputes the figures from the inputs (see docs/contratto.md)."""
        d = self.data
        # one landscape A4 page wide, the texts wrapping (CALCOLO_WIDTHS)
        sh = _Sheet(self, CS_CALCOLO, freeze="C2", mirror=False, widths=CALCOLO_WIDTHS)
        wrapped = calcolo_wrapped(sh.widths)
        keys = {"wrap": (None, False, False, "wrap"), "top": (None, False, False, "top"),
                "value": (PCT, False, False, "top")}
        ids = sh.fixed_styles(keys.values())   # the same ids however the rows are made
        if d.scores.explained:
            args = (d.scores, d.sectors, reasons_of(d.plan.phases, d.plan.indicators), wrapped)
            # straight to the sheet (one row per figure, thousands): no record to keep
            if sh.as_text and self.wb.epoch == CALCOLO_EPOCH:   # rows made as text, here or by the workers
                style_ids = {k: str(ids[key]) for k, key in keys.items()}
                texts = self.calcolo_text(*args) if self.calcolo_text is not None else \
                    texts_of((self.calcolo or calcolo_table)(*args), wrapped)
                for rows in texts:
                    sh.ws.append_text(numbered(rows, sh.rows + 1, style_ids), sh.rows + 1, len(rows))
                    sh.rows += len(rows)
            else:
                styles = {k: sh._style(*key) for k, key in keys.items()}
                for row, height in (self.calcolo or calcolo_table)(*args):
                    if height is not None:   # the steps go to a new line each: rows as tall as they are
                        set_height(sh.ws, sh.rows + 1, height)
                    append_plain(sh.ws, [(v, styles[k] if k else None) for v, k in calcolo_cells(row, wrapped)])
                    sh.rows += 1
        sh.finish()

    # ------------------------------------------------------------- hidden sheets
    def _identity(self) -> None:
        d, plan = self.data, self.data.plan
        ws = self.wb.create_sheet(C.SHEET_IDENTITY)
        ws.sheet_state = "hidden"
        ws.column_dimensions["A"].width = 28
        ws.column_dimensions["B"].width = 70
        ws.append([C.ENTE_VOCE, C.ENTE_VALORE])
        consolidated = set(d.sectors)
        values: dict[str, Any] = {"format_version": C.FORMAT_VERSION, "kind": d.kind, "ente": plan.ente,
                  "anno": plan.anno, "fase": plan.fase, "fingerprint": plan.fingerprint(),
                  "sectors": ";".join(d.sectors),
                  "excluded": ";".join(s for s in plan.sector_codes if s not in consolidated),
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
            ws.append([name, py_value(value)])
            rules[name] = canon(py_value(value))
        self.protect(ws)
        # archived with the records (never in _pegxl_valori: the workbook's own check reads
        # the identity directly)
        self.identity_records = [(IDENTITY_RECORD, key_json(("identità",)), record_json(ident)),
                                 (IDENTITY_RECORD, key_json(("regole",)), record_json(rules))]

    def _values(self) -> None:
        ws = self.wb.create_sheet(SHEET_VALUES)
        ws.sheet_state = "hidden"
        ws.append(["Foglio", "Chiave", "Valori"])
        if isinstance(ws, FastWriteOnlyWorksheet) and ws.fast:   # 100,000 rows: as text, in parts
            first, rows, letters = 2, list[str](), list[str]()
            for sheet, key, rec in self._mirror:
                idx = first + len(rows)
                rows.append(f'<row r="{idx}">' + plain_text([(sheet, None), (key, None), (rec, None)], idx, letters,
                                                            self.wb.epoch) + "</row>")
                if len(rows) >= PART_ROWS:
                    ws.append_text("".join(rows), first, len(rows))
                    first, rows = first + len(rows), []
            if rows:
                ws.append_text("".join(rows), first, len(rows))
        else:
            for sheet, key, rec in self._mirror:
                append_plain(ws, [(sheet, None), (key, None), (rec, None)])
        self.protect(ws)


_NONE4 = (None, None, None, None)


def _shown(df: pd.DataFrame, keys: tuple[str, ...], fields: tuple[str, ...]) -> dict[tuple, tuple]:
    """`fields` of each row of `df` as a tuple, by its `keys` (the last one a number, as an
    int; rows without it left out); the last row of a key wins, as a dict of the rows gives."""
    return dict(keyed_rows(df, keys, fields))


def _chart_text(size: int) -> RichText:
    """Chart text of `size` hundredths of a point."""
    cp = CharacterProperties(sz=size)
    return RichText(p=[Paragraph(pPr=ParagraphProperties(defRPr=cp), endParaRPr=cp)])


def _oiv_shown(r: Mapping[Any, Any]) -> Any:
    """Valutazione OIV % as the final workbook shows it: the number, or «Non valutabile»."""
    if bool(r.get("oiv_not_assessable")) and not is_blank(r.get("oiv_not_assessable")):
        return OIV_NOT_ASSESSABLE
    return as_float(r.get("oiv_grade"))


def _oiv_grade_validation(first_cell: str):
    """Valutazione OIV %: a number from 0 to 100, or the words «Non valutabile» (any case).
    A custom formula, relative to the first cell of the range, as Excel and Calc read it."""
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
        declared = as_float(r.get("declared"))
        return ("Non valutabile: fasi e indicatori neutralizzati; escluso dalla media"
                + (f" (il grado dichiarato {format_percent(declared)} non conta)." if declared is not None else "."))
    if reason == EX_NO_DATA:
        return "Nessun dato per calcolare il grado: escluso dalla media."
    parts = []
    src = r.get("grade_source")
    computed = as_float(r.get("computed"))
    if src == SRC_OIV:
        parts.append("Valutazione OIV in vigore"
                     + (f" (grado del settore {format_percent(grade_before)})." if grade_before is not None else "."))
    elif src == SRC_DECLARED:
        parts.append("Grado dichiarato dal settore"
                     + (f" (calcolato {format_percent(computed)})." if computed is not None else "."))
        if r.get("deviation_flag"):
            parts.append(f"Scostamento oltre {show_value(float(rules.deviation_threshold))} punti.")
    grade = as_float(r.get("grade"))
    if grade is not None and grade < float(rules.minimum) - 1e-9:
        parts.append(f"Sotto la soglia minima ({show_value(float(rules.minimum))}): conta 0 nella media.")
    return " ".join(parts) or None


def build_workbook(data: Consolidated, *, password: str | None = None,
                   records: list | RecordSpill | None = None, calcolo: CalcoloRows | None = None,
                   table_rows: TableRows | None = None, calcolo_text: CalcoloTexts | None = None) -> Workbook:
    """The consolidated (or final) workbook of `data`, not saved. `records`, when given, is
    extended with what the workbook records as written (see _Writer.records). `calcolo`
    makes the Calcolo sheet's rows (default calcolo_table, in this process), or
    `calcolo_text` their text (calcolo.calcolo_texts), `table_rows` the text of the Fasi and
    Indicatori sheets' rows (default tablerows.table_rows_here)."""
    if password is None:
        password = DEFAULT_PASSWORD
    # an empty spill takes the records as they are made: not copied from another afterwards
    spill = records if isinstance(records, RecordSpill) and len(records) == 0 else None
    w = _Writer(data, password, calcolo, mirror=spill, table_rows=table_rows, calcolo_text=calcolo_text)
    try:
        wb = w.build()
        if records is not None:
            records.extend(w.identity_records if spill is not None else w.records())
    finally:
        if spill is None:
            w._mirror.close()
    return wb


def write_consolidated(data: Consolidated, path: str | os.PathLike, *,
                       verify: Callable[[Path], None] | None = None, password: str | None = None,
                       records: list | RecordSpill | None = None, calcolo: CalcoloRows | None = None,
                       table_rows: TableRows | None = None, calcolo_text: CalcoloTexts | None = None,
                       built: Callable[[], None] | None = None) -> Path:
    """Write the workbook atomically. `verify(tmp_path)` runs on the complete temporary file
    before it replaces `path`; if it raises, nothing is written. `records`, `calcolo`,
    `table_rows`, `calcolo_text`: see build_workbook; `built()` is called once they are complete, before the saving."""
    wb = build_workbook(data, password=password, records=records, calcolo=calcolo, table_rows=table_rows,
                        calcolo_text=calcolo_text)
    if built is not None:
        built()
    target = Path(path)
    with atomic_path(target, suffix=".tmp.xlsx") as tmp:
        save_threaded(wb, tmp)   # the sheets compressed by threads: see workbook.zipsave
        if verify is not None:
            verify(tmp)
    return target


def consolidated_name(plan: Plan, final: bool = False) -> str:
    return f"{plan.anno}_consolidato_OIV{'_finale' if final else ''}.xlsx"


