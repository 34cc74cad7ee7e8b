"""What some cells of the consolidated workbook say and how they are checked: the tool's
note on a grade, the OIV's column and its validation, the chart's text (pegxl.consolidated.write)."""
from __future__ import annotations

import json
from typing import Any, Mapping

from openpyxl.chart.text import RichText
from openpyxl.drawing.text import CharacterProperties, Paragraph, ParagraphProperties
from openpyxl.worksheet.datavalidation import DataValidation

from ..errors import show_value
from ..scoring import (
    EX_NEUTRALISED,
    EX_NO_DATA,
    EX_NOT_ASSESSABLE,
    EX_OIV_NOT_ASSESSABLE,
    EX_POSTPONED,
    SRC_DECLARED,
    SRC_OIV,
)
from ..values import as_float, format_percent, is_blank
from ..workbook import paper
from ..workbook.contract import OIV_NOT_ASSESSABLE


def _chart_text(size: int) -> RichText:
    """Chart text of `size` hundredths of a point."""
    cp = CharacterProperties(sz=size)
    return RichText(p=[Paragraph(pPr=ParagraphProperties(defRPr=cp), endParaRPr=cp)])


def _too_wide(text: str, room: float, bold: bool = False) -> bool:
    """Whether `text` needs more than one line in a column with `room` digits for text."""
    if "\n" in text:
        return True
    if len(text) * 2.1 <= room:   # no character is wider than 2.1 digits (bold, with the margin)
        return False
    return paper.text_width(text, bold=bold) > room


def _record_json(record: Mapping[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


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
