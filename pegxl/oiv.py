"""The way back from the OIV: read its copy of the consolidated workbook, check it, and
write the final figures with the OIV's grades in force.

The consolidated workbook carries everything needed to recompute (the typed inputs are in
its Obiettivi, Fasi and Indicatori sheets), so `pegxl oiv --plan piano.xlsx CONSOLIDATO.xlsx
-o OUTDIR` does not need the returns again:

1. `read_oiv` reads «Valutazione OIV %» and «Note OIV» by header and codes (calamine) and
   checks the rest of the workbook was not changed: the hidden `_pegxl` identity against
   the plan (O001), the rows against the hidden record of what was written (O004), every
   locked cell against that record (O003; Anomalie and Provenienza included, row by row:
   Provenienza's SHA-256 is what `--returns` trusts) and, if those agree, the computed figures
   against a recomputation from the typed inputs in the sheets (O003). The grades must
   be numbers from 0 to 100 or the words «Non valutabile» (O002; «Non valutabile» needs a
   Note OIV, O010); a grade that differs from the settore's Grado % without Note OIV is a
   warning (O005), a grade on an objective already left out (Rinviato, Non valutabile) too
   (O011).
   With an archive (`db`), the workbook is checked against what the merge run it names
   (`_pegxl` «Identificativo elaborazione») really wrote, as archived: every cell outside
   Valutazione OIV % and Note OIV (O006), the rows (O007) and the hidden record itself
   (O008) -- a workbook rebuilt consistently, hidden record included, is refused; the
   archived values are themselves checked against their digest (A004). Without one (none
   found, or the run not in it) the check against itself above is all there is, and O009
   says so -- unless the archive holds merge runs of the same ente, anno and fase: then a
   workbook naming none of them (run id removed or changed) is refused (O012).
2. `apply_oiv` recomputes with the OIV grades in force (scoring.md: Valutazione OIV % comes
   before Grado dichiarato % and Grado calcolato %).
3. `oiv_final` writes `<Anno>_consolidato_OIV_finale.xlsx`: the same sheets with the OIV
   grades in force, a «Percentuale senza OIV» column in Sintesi, and «Differenze OIV»
   (settore, obiettivo, grado settore, valutazione OIV, differenza, Note OIV). With
   `returns_dir`, the inputs are read again from the returns instead, after checking
   they are the very files consolidated (SHA-256 in Provenienza).
"""
from __future__ import annotations

import datetime as dt
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from .archive import consolidated_run, merge_runs
from .archive.trail import CONSOLIDATED, OIV_VALIDATED
from .consolidated.read import ConsolidatedBook, inputs_from_book, plan_mismatch, read_book, table_key
from .consolidated.write import (
    Consolidated,
    consolidated_name,
    finding_row,
    write_consolidated,
)
from .errors import (
    ERROR,
    EXIT_PROBLEMS,
    EXIT_UNUSABLE,
    ErrorCode,
    Finding,
    PegxlError,
    finding,
    show_value,
)
from .ingest import sha256_of
from .merge import staged_run
from .plan import Plan, short
from .scoring import EX_NEUTRALISED, EX_NOT_ASSESSABLE, EX_POSTPONED, Scores
from .staging import new_run_id
from .tables import (
    Inputs,
    canon,
    clean_text,
    inputs_from_validation,
    key_json,
    same,
    score,
    shown,
)
from .validators.returns import Validation, validate_returns
from .values import is_blank, parse_number, round_half_up
from .workbook import contract as C
from .workbook.contract import (
    CS_ANOMALIE,
    CS_PROVENIENZA,
    IDENTITY,
    IDENTITY_RECORD,
    KIND_CONSOLIDATED,
    KIND_FINAL,
    LIST_COUNT_FIELD,
    LIST_COUNT_KEY,
    OIV_NOT_ASSESSABLE,
    SHEET_VALUES,
    TABLES,
    is_not_assessable,
)
from .workbook.reader import col_letter
from .workbook.scan import scan

OIV_COLUMNS = ["sector", "objective", "oiv_grade", "oiv_notes", "grade_before", "cell", "xlrow",
               "oiv_not_assessable"]
# why an objective is already out of the averages, as the O011 warning says it
_ALREADY_OUT = {EX_POSTPONED: "Stato Rinviato", EX_NOT_ASSESSABLE: "Stato Non valutabile",
                EX_NEUTRALISED: "fasi e indicatori tutti neutralizzati"}


@dataclass
class OivRead:
    table: pd.DataFrame
    findings: list[Finding]
    book: ConsolidatedBook | None = None
    inputs: Inputs | None = None
    sectors: list[str] = field(default_factory=list)
    scores_before: Scores | None = None
    archived: Any = None          # archive.ArchivedRun checked against, if any


@dataclass
class OivResult:
    scores: Scores                # with the OIV grades in force
    scores_before: Scores         # the settori's figures, without the OIV
    oiv: pd.DataFrame             # sector, objective, oiv_grade, oiv_notes, grade_before, ...
    findings: list[Finding]       # warnings of the OIV's workbook (O005, O009, O011)
    path: Path                    # the final workbook written
    run_id: str = ""
    archived: Any = None          # archive.StoredCycle of this oiv cycle, if archived
    checked_against: Any = None   # archive.ArchivedRun the workbook was checked against

    @property
    def differences(self) -> pd.DataFrame:
        na = self.oiv["oiv_not_assessable"].fillna(False).astype(bool) if "oiv_not_assessable" in self.oiv \
            else pd.Series(False, index=self.oiv.index)
        t = self.oiv[self.oiv["oiv_grade"].notna() | na].copy()
        t["difference"] = t["oiv_grade"] - t["grade_before"]
        t["oiv_not_assessable"] = na[t.index]
        return t[["sector", "objective", "grade_before", "oiv_grade", "difference", "oiv_notes",
                  "oiv_not_assessable"]]

    @property
    def n_assessed(self) -> int:
        """Objectives with a Valutazione OIV in force (a grade or «Non valutabile»)."""
        return int(len(self.differences))


def _empty() -> pd.DataFrame:
    return pd.DataFrame(columns=OIV_COLUMNS)


def read_oiv(plan: Plan, consolidated_path: str | os.PathLike, *,
             db: str | os.PathLike | None = None) -> tuple[pd.DataFrame, list[Finding]]:
    """The OIV's grades and notes (sector, objective, oiv_grade (NaN where blank or «Non
    valutabile»), oiv_notes, grade_before, cell, xlrow, oiv_not_assessable) and every
    finding about the workbook. With `db`, checked against the archive (module docstring)."""
    r = _read(plan, consolidated_path, db=db)
    return r.table, r.findings


def _read(plan: Plan, path: str | os.PathLike, *, db: str | os.PathLike | None = None,
          unchecked: str | None = None) -> OivRead:
    """`db`: the archive to check against; `unchecked`: without `db`, why there is none
    (an O009 warning), None to say nothing (a library caller's choice)."""
    file = str(path)
    book = read_book(path, plan=plan)     # unreadable or hostile file: PegxlError (F codes)
    out: list[Finding] = []

    def o001(detail: str) -> None:
        out.append(finding(ErrorCode.O001, file=file, sheet=C.SHEET_IDENTITY, detail=detail))

    ident = book.identity
    if not ident:
        o001("manca il foglio nascosto «_pegxl»")
        return OivRead(_empty(), out, book)
    kind = str(ident.get("kind") or "")
    if kind != KIND_CONSOLIDATED:
        o001("è il consolidato finale, già elaborato" if kind == KIND_FINAL
             else f"il file è di tipo «{kind or 'sconosciuto'}»")
    version = str(ident.get("format_version") or "")
    if version.split(".")[0] != C.FORMAT_VERSION.split(".")[0]:
        o001(f"versione di formato {version or '?'} invece di {C.FORMAT_VERSION}")
    if str(ident.get("ente") or "").strip() != plan.ente:
        o001(f"è dell'ente «{ident.get('ente')}», il piano è dell'ente «{plan.ente}»")
    anno = parse_number(ident.get("anno")).value
    if anno is None or int(anno) != plan.anno:
        o001(f"è dell'anno {show_value(ident.get('anno'))}, il piano è dell'anno {plan.anno}")
    if str(ident.get("fase") or "").strip() != plan.fase:
        o001(f"è per la fase «{ident.get('fase')}», il piano è nella fase «{plan.fase}»")
    fp = str(ident.get("fingerprint") or "").strip()
    if fp != plan.fingerprint():
        o001(f"impronta del piano {short(fp) or '?'}, il piano attuale ha impronta {short(plan.fingerprint())}")
    # the figures were computed with the Regole recorded in _pegxl: the plan must still have them
    recorded = {C.norm_word(name): canon(value) for name, value in book.rules}
    changed = [name for name, value in plan.rules.as_rows()
               if not same(recorded.get(C.norm_word(name), "(assente)"), canon(value))]
    if changed:
        o001("le Regole del piano sono cambiate dopo il consolidamento (" + ", ".join(changed) + ")")
    for sheet, headers in book.missing.items():
        if sheet in (C.SHEET_ANOMALIE, C.SHEET_PROVENIENZA) and headers == ["(foglio)"]:
            continue
        if headers == ["(foglio)"]:
            out.append(finding(ErrorCode.O001, file=file, sheet=sheet,
                               detail=f"manca il foglio «{sheet}»"))
        else:
            out.append(finding(ErrorCode.O001, file=file, sheet=sheet,
                               detail=f"mancano le colonne {', '.join('«' + h + '»' for h in headers)} "
                                      f"nel foglio «{sheet}»"))
    if book.mirror is None:
        o001(f"manca il foglio nascosto «{SHEET_VALUES}»")
    sectors = book.sectors
    unknown = [s for s in sectors if s not in set(plan.sector_codes)]
    if unknown:
        o001("settori non presenti nel piano: " + ", ".join(unknown))
    if out:
        return OivRead(_empty(), out, book)

    # rows and locked cells against what was written: as archived, else as the workbook's
    # own hidden record says
    archived = None
    if db is not None:
        archived, why = _archived_run(book, db)
        others = _other_runs(db, plan) if archived is None else []
        if others:
            # the office archives its merges: a workbook that names none of them (run id
            # removed or changed) is not one of them
            out.append(finding(ErrorCode.O012, file=file, sheet=C.SHEET_IDENTITY, value=str(db),
                               detail=f"{why}; l'archivio ha {len(others)} consolidament"
                                      f"{'o' if len(others) == 1 else 'i'} per {plan.ente} {plan.anno} "
                                      f"({plan.fase}), l'ultimo del {others[-1][:19].replace('T', ' ')}"))
            return OivRead(_empty(), out, book)
        if archived is None:
            out.append(finding(ErrorCode.O009, file=file, sheet=C.SHEET_IDENTITY, detail=why))
    elif unchecked:
        out.append(finding(ErrorCode.O009, file=file, sheet=C.SHEET_IDENTITY, detail=unchecked))
    if archived is not None:
        tampered = _check_against_archive(book, archived, file, out)
    else:
        tampered = _check_rows_and_cells(book, file, out)
    inputs = inputs_from_book(plan, book)
    before = score(plan, inputs, sectors)
    if not tampered and archived is None:
        _check_recomputation(book, before, file, out)
    before_obj = before.objectives.set_index(["sector", "objective"])

    # the OIV's columns
    grade_before = {(s, o): g for s, o, g in zip(before.objectives["sector"], before.objectives["objective"],
                                                 before.objectives["grade"])}
    percent, formulas = _scan_oiv_cells(path, book)
    cols = book.cols.get(C.SHEET_OBJECTIVES, {})
    gcol, ncol = cols.get("oiv_grade"), cols.get("oiv_notes")
    rows = []
    for r in book.tables[C.SHEET_OBJECTIVES].to_dict("records"):
        key = table_key(C.SHEET_OBJECTIVES, r)
        if key is None or key[0] not in set(sectors):
            continue
        xlrow = r["xlrow"]
        cell = f"{col_letter(gcol)}{xlrow}" if gcol is not None else None
        ncell = f"{col_letter(ncol)}{xlrow}" if ncol is not None else None
        raw = r.get("oiv_grade")
        notes = clean_text(r.get("oiv_notes"))
        grade = math.nan
        not_assessable = False
        label = f"{key[0]} / {key[1]}"
        if cell in formulas:
            out.append(finding(ErrorCode.O002, file=file, sheet=C.SHEET_OBJECTIVES, cell=cell, row=xlrow,
                               column="Valutazione OIV %", record=label, value="=" + formulas[cell].lstrip("=")))
        elif is_not_assessable(raw):
            not_assessable = True
            if not notes:
                out.append(finding(ErrorCode.O010, file=file, sheet=C.SHEET_OBJECTIVES, cell=ncell, row=xlrow,
                                   column="Note OIV", record=label, value=OIV_NOT_ASSESSABLE))
        elif not is_blank(raw):
            p = parse_number(raw, percent_format=cell in percent)
            if not p.ok or p.value is None or not (0 <= p.value <= 100):
                out.append(finding(ErrorCode.O002, file=file, sheet=C.SHEET_OBJECTIVES, cell=cell, row=xlrow,
                                   column="Valutazione OIV %", record=label,
                                   value=show_value(p.value) if p.ok and p.value is not None else raw))
            else:
                grade = float(p.value)
        g0 = grade_before.get(key)
        g0 = None if g0 is None or (isinstance(g0, float) and math.isnan(g0)) else float(g0)
        if not math.isnan(grade) and g0 is not None and not notes and abs(grade - g0) > 1e-9:
            out.append(finding(ErrorCode.O005, file=file, sheet=C.SHEET_OBJECTIVES, cell=ncell, row=xlrow,
                               column="Note OIV", record=label, value=show_value(grade),
                               expected=show_value(round_half_up(g0, 2))))
        reason = before_obj["excluded_reason"].get(key) if key in before_obj.index else None
        if reason in _ALREADY_OUT and (not math.isnan(grade) or not_assessable):
            out.append(finding(ErrorCode.O011, file=file, sheet=C.SHEET_OBJECTIVES, cell=cell, row=xlrow,
                               column="Valutazione OIV %", record=label,
                               value=OIV_NOT_ASSESSABLE if not_assessable else show_value(grade),
                               detail=_ALREADY_OUT[reason]))
        rows.append({"sector": key[0], "objective": key[1], "oiv_grade": grade, "oiv_notes": notes,
                     "grade_before": math.nan if g0 is None else g0, "cell": cell, "xlrow": xlrow,
                     "oiv_not_assessable": not_assessable})
    table = pd.DataFrame(rows, columns=OIV_COLUMNS)
    table["oiv_not_assessable"] = table["oiv_not_assessable"].astype(bool)
    table["oiv_grade"] = pd.to_numeric(table["oiv_grade"], errors="coerce").astype(float)
    table["grade_before"] = pd.to_numeric(table["grade_before"], errors="coerce").astype(float)
    out.sort(key=lambda f: (f.severity != ERROR, f.sheet or "", f.row or 0, f.cell or ""))
    return OivRead(table, out, book, inputs, sectors, before, archived)


def _scan_oiv_cells(path: str | os.PathLike, book: ConsolidatedBook) -> tuple[set[str], dict[str, str]]:
    """Percent-formatted cells and formulas of the Obiettivi sheet (85 % typed in Excel
    arrives as 0.85 in a percent cell)."""
    try:
        sc = scan(str(path), sheets={C.SHEET_OBJECTIVES})
    except Exception:
        return set(), {}
    s = sc.sheets.get(C.SHEET_OBJECTIVES) or next(
        (v for k, v in sc.sheets.items() if C.norm_header(k) == C.norm_header(C.SHEET_OBJECTIVES)), None)
    if s is None:
        return set(), {}
    return set(s.percent_cells), dict(s.formulas)


def _label(key: tuple) -> str:
    return " / ".join(str(k) for k in key)


class _Against:
    """What the cells are checked against: the workbook's own hidden record (O003, O004)
    or the archive (O006, O007, with `detail` naming the archived run)."""

    def __init__(self, records: dict | None, cell: ErrorCode = ErrorCode.O003,
                 row: ErrorCode = ErrorCode.O004, detail: str | None = None):
        self.records = records or {}
        self.cell, self.row, self.detail = cell, row, detail


def _check_rows_and_cells(book: ConsolidatedBook, file: str, out: list[Finding],
                          against: _Against | None = None) -> bool:
    """O004 (O007) for rows added, removed or repeated; O003 (O006) for each locked cell
    that differs from what was written. True when something was found."""
    against = against or _Against(book.mirror)
    found = False
    for sheet, spec in TABLES.items():
        df = book.tables.get(sheet)
        if df is None:
            continue
        mirror = against.records.get(sheet, {})
        cols = book.cols.get(sheet, {})
        by_header = {c.header: c.field for c in spec.columns}
        seen: set[str] = set()
        for r in df.to_dict("records"):
            key = table_key(sheet, r)
            if key is None:
                if any(not is_blank(v) for k, v in r.items() if k != "xlrow"):
                    out.append(finding(against.row, file=file, sheet=sheet, row=r["xlrow"],
                                       record="(senza codice)", detail=against.detail))
                    found = True
                continue
            kj = key_json(key)
            if kj in seen or kj not in mirror:
                out.append(finding(against.row, file=file, sheet=sheet, row=r["xlrow"],
                                   cell=f"A{r['xlrow']}", record=_label(key), detail=against.detail))
                found = True
                continue
            seen.add(kj)
            for header, want in mirror[kj].items():
                fld = by_header.get(header)
                if fld is None:
                    continue
                have = canon(r.get(fld)) if fld in cols else "(colonna assente)"
                if not same(want, have):
                    col = cols.get(fld)
                    out.append(finding(against.cell, file=file, sheet=sheet, row=r["xlrow"],
                                       cell=f"{col_letter(col)}{r['xlrow']}" if col is not None else None,
                                       column=header, record=_label(key),
                                       expected=shown(want), found=shown(have), detail=against.detail))
                    found = True
        for kj in mirror:
            if kj not in seen:
                try:
                    label = _label(tuple(json.loads(kj)))
                except ValueError:
                    label = kj
                out.append(finding(against.row, file=file, sheet=sheet, record=label, detail=against.detail))
                found = True
    return _check_listed(book, file, out, against) or found


def _check_listed(book: ConsolidatedBook, file: str, out: list[Finding], against: _Against) -> bool:
    """Anomalie and Provenienza, recorded row by row (by position) in _pegxl_valori: O004
    for rows added or removed, O003 for each cell changed. A workbook written before they
    were recorded has no count for them and is not checked here."""
    found = False
    for sheet, spec in ((C.SHEET_ANOMALIE, CS_ANOMALIE), (C.SHEET_PROVENIENZA, CS_PROVENIENZA)):
        mirror = against.records.get(sheet)
        if not mirror or key_json(LIST_COUNT_KEY) not in mirror:
            continue
        want_n = mirror[key_json(LIST_COUNT_KEY)].get(LIST_COUNT_FIELD)
        df = book.tables.get(sheet)
        rows = [] if df is None else df.to_dict("records")
        cols = book.cols.get(sheet, {})
        by_header = {c.header: c.field for c in spec.columns}
        want_n = int(want_n) if isinstance(want_n, (int, float)) else 0
        for i in range(len(rows) + 1, want_n + 1):          # rows removed
            out.append(finding(against.row, file=file, sheet=sheet, record=f"riga {i}", detail=against.detail))
            found = True
        for i, r in enumerate(rows, start=1):
            want = mirror.get(key_json((i,))) if i <= want_n else None
            if want is None:                                 # a row added
                out.append(finding(against.row, file=file, sheet=sheet, row=r["xlrow"],
                                   cell=f"A{r['xlrow']}", record=f"riga {i}", detail=against.detail))
                found = True
                continue
            for header, value in want.items():
                fld = by_header.get(header)
                if fld is None:
                    continue
                have = canon(r.get(fld)) if fld in cols else "(colonna assente)"
                if not same(value, have):
                    col = cols.get(fld)
                    out.append(finding(against.cell, file=file, sheet=sheet, row=r["xlrow"],
                                       cell=f"{col_letter(col)}{r['xlrow']}" if col is not None else None,
                                       column=header, record=f"riga {i}",
                                       expected=shown(value), found=shown(have), detail=against.detail))
                    found = True
    return found


def _archived_run(book: ConsolidatedBook, db: str | os.PathLike) -> tuple[Any, str]:
    """The archived merge run the workbook names, or None and why not (Italian)."""
    if not Path(db).exists():
        return None, f"nessun archivio dei cicli in {db}"
    run_id = str(book.identity.get("run_id") or "").strip()
    if not run_id:
        return None, ("il file non riporta l'identificativo dell'elaborazione «merge» che l'ha scritto "
                      "(consolidato di una versione precedente di pegxl)")
    run = consolidated_run(db, run_id)
    if run is None:
        return None, f"l'elaborazione {run_id[:12]} che ha scritto il file non è nell'archivio {db}"
    if not run.records:
        return None, f"l'archivio {db} non ha i valori scritti dall'elaborazione {run_id[:12]}"
    return run, ""


def _other_runs(db: str | os.PathLike, plan: Plan) -> list[str]:
    """When of the archived merge runs of the plan's ente, anno and fase that recorded what
    they wrote (oldest first)."""
    if not Path(db).exists():
        return []
    return merge_runs(db, plan.ente, plan.anno, plan.fase)


def _check_against_archive(book: ConsolidatedBook, run: Any, file: str, out: list[Finding]) -> bool:
    """Every cell, row and hidden record against what the merge run wrote, as archived.
    True when something differs."""
    detail = run.label
    found = _check_rows_and_cells(book, file, out, _Against(run.records, ErrorCode.O006, ErrorCode.O007, detail))
    # the identity and Regole of _pegxl (the plan check, O001, already compared them to the plan)
    ident = run.records.get(IDENTITY_RECORD, {})
    have = {label: canon(book.identity.get(fld)) for label, fld in IDENTITY}
    rules = {str(name): canon(value) for name, value in book.rules}
    for key, got in ((key_json(("identità",)), have), (key_json(("regole",)), rules)):
        for label, want in (ident.get(key) or {}).items():
            if not same(want, got.get(label)):
                out.append(finding(ErrorCode.O006, file=file, sheet=C.SHEET_IDENTITY, column=label,
                                   record=label, expected=shown(want), found=shown(got.get(label)),
                                   detail=detail))
                found = True
    # the hidden record: a rebuilt workbook carries one consistent with its forged cells
    differ: list[str] = []
    mine = book.mirror or {}
    for sheet in sorted(set(run.records) | set(mine)):
        if sheet == IDENTITY_RECORD:
            continue
        a, b = run.records.get(sheet, {}), mine.get(sheet, {})
        for key in sorted(set(a) | set(b)):
            ra, rb = a.get(key), b.get(key)
            if ra is None or rb is None or set(ra) != set(rb) or not all(same(ra[h], rb[h]) for h in ra):
                differ.append(f"{sheet} {_key_label(key)}")
    if differ:
        more = f" e altre {len(differ) - 1}" if len(differ) > 1 else ""
        out.append(finding(ErrorCode.O008, file=file, sheet=SHEET_VALUES, record=differ[0],
                           value=f"{len(differ)} {'riga diversa' if len(differ) == 1 else 'righe diverse'} "
                                 f"(la prima: {differ[0]}{more})", detail=detail))
        found = True
    return found


def _key_label(kj: str) -> str:
    try:
        return _label(tuple(json.loads(kj)))
    except (TypeError, ValueError):
        return kj


def _check_recomputation(book: ConsolidatedBook, scores: Scores, file: str, out: list[Finding]) -> None:
    """The computed figures in the sheets against a recomputation from the typed inputs."""
    expect: dict[str, dict[tuple, dict[str, Any]]] = {
        C.SHEET_OBJECTIVES: {(r["sector"], r["objective"]): {"computed": r["computed"], "grade": r["grade"]}
                             for r in scores.objectives.to_dict("records")},
        C.SHEET_PHASES: {(r["sector"], r["objective"], int(r["phase"])): {"contribution": r["contribution"]}
                         for r in scores.phases.to_dict("records")},
        C.SHEET_INDICATORS: {(r["sector"], r["objective"], int(r["indicator"])): {"score": r["score"]}
                             for r in scores.indicators.to_dict("records")},
        C.SHEET_SINTESI: {(r["sector"],): {"percentage": r["percentage"]}
                          for r in scores.sectors.to_dict("records")},
    }
    expect[C.SHEET_SINTESI][("Ente",)] = {"percentage": scores.ente.get("percentage")}
    for sheet, figures in expect.items():
        df = book.tables.get(sheet)
        if df is None:
            continue
        spec = TABLES[sheet]
        cols = book.cols.get(sheet, {})
        for r in df.to_dict("records"):
            key = table_key(sheet, r)
            if key not in figures:
                continue
            for fld, value in figures[key].items():
                want, have = canon(value), canon(r.get(fld))
                if not same(want, have):
                    col = cols.get(fld)
                    out.append(finding(ErrorCode.O003, file=file, sheet=sheet, row=r["xlrow"],
                                       cell=f"{col_letter(col)}{r['xlrow']}" if col is not None else None,
                                       column=spec.header(fld), record=_label(key),
                                       expected=shown(want), found=shown(have)))


# ---------------------------------------------------------------------------- apply

def apply_oiv(plan: Plan, source: Any, oiv_table: pd.DataFrame | None, *,
              sectors: Iterable[str] | None = None) -> Scores:
    """Scores with the OIV grades of `oiv_table` in force.

    `source` gives the settori's inputs: a Validation of the returns (its usable files), an
    `Inputs`, or the path of a consolidated workbook (its typed inputs). `sectors`
    defaults to the settori the source holds."""
    if isinstance(source, Validation):
        inputs = inputs_from_validation(source)
        if sectors is None:
            counts: dict[str | None, int] = {}
            for rf in source.usable_files:
                counts[rf.sector] = counts.get(rf.sector, 0) + 1
            sectors = [s for s in plan.sector_codes if counts.get(s) == 1]
    elif isinstance(source, Inputs):
        inputs = source
    elif isinstance(source, (str, os.PathLike)):
        book = read_book(source, plan=plan)
        inputs = inputs_from_book(plan, book)
        if sectors is None:
            sectors = book.sectors
    else:
        raise TypeError(f"fonte non riconosciuta: {type(source).__name__}")
    if sectors is None:
        have = set(inputs.objectives["sector"]) if not inputs.objectives.empty else set()
        sectors = [s for s in plan.sector_codes if s in have]
    return score(plan, inputs, list(sectors), oiv=oiv_table)


def scores_of_book(plan: Plan, path: str | os.PathLike) -> tuple[Scores, ConsolidatedBook]:
    """The figures a consolidated or final workbook shows, recomputed from its typed inputs
    with the Valutazione OIV % it holds in force (`pegxl spiega`). Not the checks of
    `read_oiv`: only that the workbook is of this plan (O001), so that the explanation is
    made by its Regole."""
    book = read_book(path, plan=plan)
    problem = plan_mismatch(book, plan)
    if problem:
        raise PegxlError(finding(ErrorCode.O001, file=str(path), sheet=C.SHEET_IDENTITY, detail=problem),
                         exit_code=EXIT_PROBLEMS)
    rows = []
    for r in book.tables.get(C.SHEET_OBJECTIVES, pd.DataFrame()).to_dict("records"):
        key = table_key(C.SHEET_OBJECTIVES, r)
        raw = r.get("oiv_grade")
        if key is None or is_blank(raw):
            continue
        p = parse_number(raw)
        rows.append({"sector": key[0], "objective": key[1],
                     "oiv_grade": float(p.value) if p.ok and p.value is not None else math.nan,
                     "oiv_not_assessable": is_not_assessable(raw)})
    oiv = pd.DataFrame(rows, columns=["sector", "objective", "oiv_grade", "oiv_not_assessable"])
    return score(plan, inputs_from_book(plan, book), book.sectors, oiv=oiv if rows else None), book


# ---------------------------------------------------------------------------- final

def oiv_final(plan: Plan, consolidated_from_oiv: str | os.PathLike, outdir: str | os.PathLike,
              returns_dir: str | os.PathLike | None = None, *, now: dt.datetime | None = None,
              db: str | os.PathLike | None = None, store: bool = False,
              unchecked: str | None = None) -> OivResult:
    """Read the OIV's workbook, refuse it (PegxlError, exit 1) if it has errors, and write
    OUTDIR/<Anno>_consolidato_OIV_finale.xlsx with the OIV grades in force.

    `db`: the archive the workbook is checked against (see the module docstring) and, with
    `store`, where the oiv cycle is archived, in the same all-or-nothing step as the write
    (pegxl.staging). `unchecked`: without `db`, the O009 warning's reason."""
    src = Path(consolidated_from_oiv)
    r = _read(plan, src, db=db, unchecked=unchecked)
    errors = [f for f in r.findings if f.is_error]
    if errors:
        raise PegxlError(r.findings, exit_code=EXIT_PROBLEMS)
    book = r.book
    inputs, sectors = r.inputs, r.sectors
    assert book is not None and inputs is not None   # read, as there are no errors
    if returns_dir is not None:
        inputs = _inputs_from_returns(plan, book, returns_dir, str(src))
    before = score(plan, inputs, sectors)
    after = score(plan, inputs, sectors, oiv=r.table)
    target = Path(outdir) / consolidated_name(plan, final=True)
    if target.resolve() == src.resolve():
        raise PegxlError(finding(ErrorCode.U001, detail=f"il file {src} verrebbe sovrascritto: indicare un'altra "
                                 "cartella (-o)"), exit_code=EXIT_UNUSABLE)
    anomalies = list(book.anomalies) + [finding_row(f) for f in r.findings]
    read_at = now if now is not None else dt.datetime.now().astimezone().replace(microsecond=0)
    # each settore's file moves on as the archive records it (archive.trail)
    provenance = [dict(row, state=OIV_VALIDATED) if row.get("state") == CONSOLIDATED else row
                  for row in book.provenance] + [{
        "name": src.name, "sector": None, "sha256": sha256_of(src), "read_at": read_at,
        "template_version": str(book.identity.get("format_version") or ""), "used": "sì", "copy": None,
        "note": "consolidato compilato dall'OIV"}]
    excluded = {}
    for row in book.tables.get(C.SHEET_SINTESI, pd.DataFrame()).to_dict("records"):
        state = str(row.get("state") or "")
        code = table_key(C.SHEET_SINTESI, row)
        if code and state.startswith("escluso: "):
            excluded[code[0]] = state[len("escluso: "):]
    run_id = new_run_id()
    data = Consolidated(plan=plan, inputs=inputs, scores=after, sectors=sectors, excluded=excluded,
                        anomalies=anomalies, provenance=provenance, oiv=r.table, scores_before=before,
                        kind=KIND_FINAL, created=now, run_id=run_id)
    result = OivResult(scores=after, scores_before=before, oiv=r.table,
                       findings=[f for f in r.findings if not f.is_error], path=target,
                       run_id=run_id, checked_against=r.archived)

    def write(stage: Any, records: Any, archive: Any) -> None:
        write_consolidated(data, stage.path(target.name, last=True))

    result.archived = staged_run(Path(outdir), run_id, "oiv", write, plan=plan, result=result,
                                 db=db if store else None)
    return result


def _inputs_from_returns(plan: Plan, book: ConsolidatedBook, returns_dir: str | os.PathLike,
                         file: str) -> Inputs:
    """The inputs read again from the returns, which must be the files consolidated."""
    v = validate_returns(plan, [returns_dir])
    want = {str(p.get("sector")): str(p.get("sha256")) for p in book.provenance
            if str(p.get("used") or "") == "sì" and p.get("sector")}
    paths, problems = [], []
    for sector in book.sectors:
        match = [rf for rf in v.files if rf.sector == sector and rf.sha256 == want.get(sector)]
        if not match:
            problems.append(sector)
        else:
            paths.append(match[0].path)
    if problems:
        raise PegxlError(finding(ErrorCode.O001, file=file, detail="i file restituiti dei settori "
                                 + ", ".join(problems) + " non sono quelli consolidati (SHA-256 diverso o assente)"),
                         exit_code=EXIT_PROBLEMS)
    return inputs_from_validation(v, paths)
