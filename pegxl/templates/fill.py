"""Filling a template the way a settore would, from Python (the demo and the tests).

Rows are found by their codes through the header names, never by coordinates, so this
keeps working if columns are added after the contract's ones. Everything else in the
workbook (protection, validations, formulas, hidden sheets) is kept as it is.
"""
from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import openpyxl

from ..values import key_part
from ..workbook import contract as C
from ..workbook import style as S
from ..workbook.io import atomic_save

_SPECS = {C.SHEET_OBJECTIVES: C.T_OBJECTIVES, C.SHEET_PHASES: C.T_PHASES,
          C.SHEET_INDICATORS: C.T_INDICATORS}
_INPUTS = {C.SHEET_OBJECTIVES: C.T_OBJECTIVES_INPUT, C.SHEET_PHASES: C.T_PHASES_INPUT,
           C.SHEET_INDICATORS: C.T_INDICATORS_INPUT}
_KEYS = {C.SHEET_OBJECTIVES: ("objective",), C.SHEET_PHASES: ("objective", "phase"),
         C.SHEET_INDICATORS: ("objective", "indicator")}
_DATE_FIELDS = {"actual_start", "actual_end"}


@dataclass(frozen=True)
class Formatted:
    """A value with the number format the keyboard gives its cell: what Excel and
    LibreOffice store for «45%» typed into a General cell is Formatted(0.45, "0%")."""
    value: Any
    number_format: str


def _iso_date(v: Any) -> Any:
    if isinstance(v, str) and len(v) == 10 and v[4] == "-" and v[7] == "-":
        try:
            return dt.date.fromisoformat(v)
        except ValueError:
            return v
    return v


def fill_return(template_path: str | os.PathLike, out_path: str | os.PathLike,
                inputs: Mapping[str, Sequence[Mapping[str, Any]]], *,
                allow_locked: bool = False) -> Path:
    """Write `inputs` into a copy of the template and save it atomically as `out_path`.

    `inputs` maps a sheet (Obiettivi, Fasi, Indicatori) to records keyed by their code
    headers ("Codice obiettivo", plus "N. fase" / "N. indicatore") and holding values by
    header. ISO date strings become dates in date columns (and in Valore raggiunto of a
    `data` indicator); text starting with = + - @ is stored as text, never a formula;
    a Formatted value also gets its number format (45% typed: Formatted(0.45, "0%")).
    A code or header not in the template raises ValueError naming it; a locked column
    too, unless `allow_locked` (tests that simulate tampering).
    """
    wb = openpyxl.load_workbook(template_path)
    for sheet, records in inputs.items():
        spec = _SPECS.get(sheet)
        if spec is None or sheet not in wb.sheetnames:
            raise ValueError(f"foglio sconosciuto: {sheet!r}")
        ws = wb[sheet]
        cols = {C.norm_header(c.value): c.column for c in ws[1] if c.value is not None}
        field_of = {C.norm_header(c.header): c.field for c in spec.columns}
        key_headers = [spec.header(f) for f in _KEYS[sheet]]
        for h in key_headers:
            if C.norm_header(h) not in cols:
                raise ValueError(f"colonna «{h}» assente nel foglio {sheet}")
        key_cols = [cols[C.norm_header(h)] for h in key_headers]
        index: dict[tuple, int] = {}
        for r in range(2, ws.max_row + 1):
            key = tuple(key_part(ws.cell(row=r, column=c).value) for c in key_cols)
            if key[0] is not None:
                index.setdefault(key, r)
        vt_col = cols.get(C.norm_header(C.T_INDICATORS.header("value_type")))
        for rec in records:
            norm = {C.norm_header(k): v for k, v in rec.items()}
            key = tuple(key_part(norm.get(C.norm_header(h))) for h in key_headers)
            row = index.get(key)
            if row is None:
                label = " ".join(str(k) for k in key)
                raise ValueError(f"codice sconosciuto nel foglio {sheet}: {label}")
            for header, value in rec.items():
                h = C.norm_header(header)
                if h in {C.norm_header(k) for k in key_headers}:
                    continue
                if h not in cols:
                    raise ValueError(f"colonna sconosciuta nel foglio {sheet}: {header!r}")
                fld = field_of.get(h)
                if fld not in _INPUTS[sheet] and not allow_locked:
                    raise ValueError(f"la colonna «{header}» del foglio {sheet} non si compila")
                cell = ws.cell(row=row, column=cols[h])
                number_format = None
                if isinstance(value, Formatted):
                    value, number_format = value.value, value.number_format
                is_date = fld in _DATE_FIELDS
                if fld == "achieved" and vt_col:
                    vt = C.canonical(ws.cell(row=row, column=vt_col).value, C.TIPI_VALORE)
                    is_date = vt == "data"
                    if vt == "sì/no" and isinstance(value, bool):
                        value = "sì" if value else "no"
                if is_date:
                    value = _iso_date(value)
                cell.value = value
                if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
                    cell.data_type = "s"   # what a person typed is text, never a formula
                if isinstance(value, (dt.date, dt.datetime)):
                    cell.number_format = S.DATE_FORMAT
                if number_format:
                    cell.number_format = number_format
    return atomic_save(wb, out_path)
