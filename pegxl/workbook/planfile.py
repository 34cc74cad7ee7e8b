"""Writing a plan workbook (`pegxl init`, the demo, tests): workbooks.md section 1."""
from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any, Mapping

from openpyxl import Workbook
from openpyxl.worksheet.worksheet import Worksheet

from ..errors import ErrorCode, PegxlError, finding
from . import contract as C
from . import paper
from . import style as S
from .contract import RULE_ROWS
from .io import atomic_save

PLAN_ROWS = 2000  # rows covered by the plan's dropdowns

INSTRUCTIONS = [
    "Piano della performance: istruzioni",
    "",
    "Questa cartella è il piano dell'ente, tenuto dall'ufficio controllo di gestione.",
    "Da qui pegxl genera un modello per ogni settore (pegxl templates piano.xlsx -o modelli).",
    "",
    "Fogli:",
    "• Ente: nome, anno, fase del ciclo (Monitoraggio intermedio o Rendicontazione finale), date e referenti.",
    "• Regole: i parametri di calcolo; una regola cancellata prende il valore predefinito; Peso fasi e Peso indicatori sommano a 100 (indicandone uno solo, l'altro è 100 meno quello).",
    "• Settori: un settore per riga, con il suo codice (usato nel nome dei file), responsabile ed e-mail.",
    "• Obiettivi: Codice settore è un codice, un elenco separato da «;» o «*» per un obiettivo trasversale a tutti i settori.",
    "• Fasi: i pesi delle fasi di un obiettivo sommano a 100.",
    "• Indicatori: Tipo valore dice come leggere Valore atteso e Valore raggiunto (numero, percentuale, sì/no, data, testo).",
    "",
    "I pesi degli obiettivi e dei settori si indicano per tutti o per nessuno (pesi uguali).",
    "Le date si scrivono come date (gg/mm/aaaa), i numeri come numeri.",
    "Controllare il piano con: pegxl plan check piano.xlsx",
]


def new_plan_workbook(data: Mapping[str, Any] | None = None) -> Workbook:
    """A plan workbook with every sheet, header, dropdown and the Regole defaults.

    `data` maps sheet names to rows ({header: value} dicts; for Ente, [voce, valore]
    pairs). ISO date strings in date columns become real dates."""
    data = data or {}
    wb = Workbook()
    ws = wb.active
    assert isinstance(ws, Worksheet)   # a new workbook has one worksheet
    ws.title = C.SHEET_INSTRUCTIONS
    ws.column_dimensions["A"].width = 100   # one portrait A4 page wide at 100 %
    for r, line in enumerate(INSTRUCTIONS, start=1):
        c = ws.cell(row=r, column=1, value=line)
        c.alignment = S.WRAP
        if r == 1:
            c.font = S.TITLE_FONT

    S.add_list(wb, "L_FASE_CICLO", C.FASI_CICLO)
    S.add_list(wb, "L_TIPOLOGIA", C.TIPOLOGIE)
    S.add_list(wb, "L_TIPO", C.TIPI_INDICATORE)
    S.add_list(wb, "L_TIPO_VALORE", C.TIPI_VALORE)
    S.add_list(wb, "L_VERSO", C.VERSI)
    S.add_list(wb, "L_SINO", C.SI_NO)

    _ente_sheet(wb, data.get(C.SHEET_ENTE))
    _rules_sheet(wb, data.get(C.SHEET_RULES))
    for spec in (C.SECTORS, C.OBJECTIVES, C.PHASES, C.INDICATORS):
        _table_sheet(wb, spec, data.get(spec.sheet) or [])
    wb.move_sheet("_liste", offset=len(wb.sheetnames))
    S.fit_rows(ws, first_row=1)
    S.fit_rows(wb[C.SHEET_RULES])
    ente = {C.norm_header(k): v for k, v in (data.get(C.SHEET_ENTE) or [])}
    heading = paper.Heading(str(ente.get("ente") or ""), ente.get("anno"), "Piano della performance")
    for sheet in wb.worksheets:
        if sheet.sheet_state == "visible":
            S.print_setup(sheet, None if sheet is ws else "1:1", heading)
    return wb


def write_plan(path: str | os.PathLike[str], data: Mapping[str, Any] | None = None) -> Path:
    """Write a plan workbook atomically (see new_plan_workbook)."""
    return atomic_save(new_plan_workbook(data), path)


def _ente_sheet(wb: Workbook, rows: Any) -> None:
    ws = wb.create_sheet(C.SHEET_ENTE)
    S.write_header(ws, [C.ENTE_VOCE, C.ENTE_VALORE])
    S.set_widths(ws, [26, 50])
    given = {C.norm_header(k): v for k, v in (rows or [])}
    r = 2
    for voce in C.ENTE_ITEMS:
        ws.cell(row=r, column=1, value=voce).font = S.TOTAL_FONT
        value = _typed(given.get(C.norm_header(voce)), "date" if voce in ("Data di riferimento", "Scadenza consegna") else "text")
        c = ws.cell(row=r, column=2, value=value)
        if isinstance(value, dt.date):
            c.number_format = S.DATE_FORMAT
        c.fill = S.INPUT_FILL
        if voce == "Fase del ciclo":
            dv = S.list_validation("L_FASE_CICLO", title="Fase del ciclo",
                                   prompt="Monitoraggio intermedio o Rendicontazione finale.",
                                   error="Scegliere la fase dall'elenco.", allow_blank=False)
            ws.add_data_validation(dv)
            dv.add(c.coordinate)
        r += 1
    ws.freeze_panes = "A2"


def _rules_sheet(wb: Workbook, rows: Any) -> None:
    ws = wb.create_sheet(C.SHEET_RULES)
    S.write_header(ws, C.RULES.columns)
    given = {}
    for row in rows or []:
        if isinstance(row, Mapping):
            given[C.norm_word(row.get("Regola"))] = row.get("Valore")
    for r, (name, default, description) in enumerate(RULE_ROWS, start=2):
        ws.cell(row=r, column=1, value=name)
        ws.cell(row=r, column=2, value=given.get(C.norm_word(name), default)).fill = S.INPUT_FILL
        ws.cell(row=r, column=3, value=description).alignment = S.WRAP
    ws.freeze_panes = "A2"


_DROPDOWNS = {
    "typology": ("L_TIPOLOGIA", "Tipologia", "Strategico, Gestionale, Trasversale, Esecutivo, PTPCT o Qualità."),
    "kind": ("L_TIPO", "Tipo indicatore", "EFFICACIA, EFFICIENZA, QUALITÀ, ... CONTESTO (non valutato)."),
    "value_type": ("L_TIPO_VALORE", "Tipo valore", "Come leggere i valori: numero, percentuale, sì/no, data, testo."),
    "direction": ("L_VERSO", "Verso", ">= più è meglio; <= meno è meglio (per le date: entro); = uguale."),
    "neutralised": ("L_SINO", "Neutralizzazione", "sì se la fase o l'indicatore è neutralizzato."),
}


def _table_sheet(wb: Workbook, spec: C.TableSpec, rows: list[Mapping[str, Any]]) -> None:
    ws = wb.create_sheet(spec.sheet)
    S.write_header(ws, spec.columns)
    for r, row in enumerate(rows, start=2):
        lookup = {C.norm_header(k): v for k, v in row.items()}
        for i, col in enumerate(spec.columns, start=1):
            value = _typed(lookup.get(C.norm_header(col.header)), col.kind)
            c = ws.cell(row=r, column=i, value=value)
            if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
                c.data_type = "s"   # typed text, never a formula
            if isinstance(value, dt.date):
                c.number_format = S.DATE_FORMAT
            c.alignment = S.WRAP
    last = max(PLAN_ROWS, len(rows) + 1)
    for i, col in enumerate(spec.columns, start=1):
        if col.field in _DROPDOWNS:
            name, title, prompt = _DROPDOWNS[col.field]
            dv = S.list_validation(name, title=title, prompt=prompt,
                                   error=f"Valore non ammesso per {col.header}: sceglierlo dall'elenco.")
            ws.add_data_validation(dv)
            letter = ws.cell(row=1, column=i).column_letter
            dv.add(f"{letter}2:{letter}{last}")
        if col.kind == "date":
            letter = ws.cell(row=1, column=i).column_letter
            for r in range(2, len(rows) + 2):
                ws[f"{letter}{r}"].number_format = S.DATE_FORMAT
    S.fit_rows(ws)
    ws.freeze_panes = "B2" if spec.sheet != C.SHEET_SECTORS else "A2"
    ws.auto_filter.ref = f"A1:{ws.cell(row=1, column=len(spec.columns)).column_letter}{max(2, len(rows) + 1)}"


def _typed(value: Any, kind: str) -> Any:
    if isinstance(value, str) and kind in ("date", "text"):
        try:
            if len(value) == 10 and value[4] == "-" and value[7] == "-":
                return dt.date.fromisoformat(value)
        except ValueError:
            pass
    return value


def init_plan(directory: str | os.PathLike[str], *, force: bool = False) -> Path:
    """`pegxl init`: a blank piano.xlsx in `directory` (never overwritten unless force)."""
    path = Path(directory) / "piano.xlsx"
    if path.exists() and not force:
        raise PegxlError(finding(ErrorCode.U002, file=str(path), value=str(path)), exit_code=2)
    return write_plan(path, {C.SHEET_ENTE: [["Anno", dt.date.today().year],
                                             ["Fase del ciclo", "Rendicontazione finale"]]})
