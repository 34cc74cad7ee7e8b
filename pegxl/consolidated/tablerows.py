"""The rows of the consolidated workbook: a row's cells with their style keys, its height and
its record (compose), and the Fasi and Indicatori sheets' rows written as the sheet's XML
text (RowMaker) a part at a time, in the process that writes the workbook or in merge's
worker processes (pegxl.copies), which then only writes their text.

Those two sheets are three quarters of the workbook's rows (80,000 phases and 60,000
indicators at 1,000 settori). A RowMaker carries everything their rows need besides the
values (columns, widths, the style id of each style key, registered by the sheet before
any row: `ROW_STYLES`), so that the text it makes anywhere is the text the sheet would
write for the same cells (a test compares the workbooks).
"""
from __future__ import annotations

import datetime as dt
import functools
import json
import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from ..tables import canon, clean_text, key_json
from ..values import as_float, is_blank
from ..workbook import paper
from ..workbook import style as S
from ..workbook.contract import OIV_FIELDS
from ..workbook.fastrows import SHORT_TEXT, plain_text, row_start

DATETIME_FORMAT = "DD/MM/YYYY HH:MM:SS"
PCT = S.PERCENT_VALUE_FORMAT          # 0-100 figures shown as "85,00 %"
RAW_PERCENT = "0.00%"                 # a raw value typed in a percent-formatted cell
WEIGHT_FORMAT = "0.00"                # Peso effettivo: 33.333... shown as 33,33, not 33,3333333333333

# a cell's style: (number format, bold, unlocked, alignment: None, "wrap", "center", "top")
StyleKey = tuple[str | None, bool, bool, str | None]
# every style a Fasi or Indicatori row can take (no bold, no unlocked cell, no centred band),
# registered in this order by the sheet before its rows
ROW_STYLES: tuple[StyleKey, ...] = tuple(
    (fmt, False, False, align)
    for fmt in (None, PCT, WEIGHT_FORMAT, RAW_PERCENT, S.DATE_FORMAT, DATETIME_FORMAT)
    for align in (None, "wrap", "top"))

PART_ROWS = 2000   # rows of a part: the text of one is a few megabytes

# a row of a table sheet as its maker takes it: the scores' fields, the plan's, the settore's
TableRow = tuple[tuple, tuple, tuple]


def py_value(v: Any) -> Any:
    """A plain Python value for a cell."""
    kind = type(v)   # the plain values first: half a million cells
    if kind is str:
        return clean_text(v)
    if kind is float:
        return None if math.isnan(v) else v
    if kind is int or kind is bool:
        return v
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


def shown_value(v: Any) -> Any:
    """A parsed value as a cell shows it: sì/no for booleans."""
    v = py_value(v)
    if isinstance(v, bool):
        return "sì" if v else "no"
    return v


def too_wide(text: str, room: float, bold: bool = False) -> bool:
    """Whether `text` needs more than one line in a column with `room` digits for text."""
    if "\n" in text:
        return True
    if len(text) * 2.1 <= room:   # no character is wider than 2.1 digits (bold, with the margin)
        return False
    return paper.text_width(text, bold=bold) > room


@functools.lru_cache(maxsize=1 << 13)
def _short_text(v: str) -> tuple[str | None, Any]:
    """(cell text, canon) of a short text."""
    text = clean_text(v)
    return text, None if text is None else canon(text)


def compose(columns: Sequence[tuple[str, str]], widths: Sequence[float], room: Sequence[float],
            values: Mapping[str, Any], formats: Mapping[str, str], bold: bool = False,
            unlocked: frozenset[str] | set[str] = frozenset()
            ) -> tuple[list[tuple[Any, StyleKey]], float | None, dict[str, Any]]:
    """A row of `columns` (field, header): its cells (value, style key), its height (None:
    the default) and its record (header -> canon value, the OIV's fields left out)."""
    row: list[tuple[Any, StyleKey]] = []
    record = {}
    wrapped: list[tuple[str, float]] = []
    get, format_of = values.get, formats.get
    for i, (fld, header) in enumerate(columns):
        v: Any = get(fld)
        kind = type(v)
        # the plain values first (half a million cells): what py_value and canon give them
        if kind is str:
            if len(v) <= SHORT_TEXT:
                v, shown = _short_text(v)
            else:
                v = clean_text(v)
                shown = None if v is None else canon(v)
        elif kind is float:
            if v != v:   # NaN
                v = None
            shown = v
        elif v is None:
            shown = None
        elif kind is int:
            shown = float(v)
        elif kind is dt.date:
            shown = "date:" + v.isoformat()
        else:
            if kind is not bool:
                v = py_value(v)
            shown = canon(v)
        fmt = format_of(fld)
        if fmt is None and v is not None and type(v) is not str:
            if isinstance(v, dt.datetime):
                fmt = DATETIME_FORMAT
            elif isinstance(v, dt.date):
                fmt = S.DATE_FORMAT
        if type(v) is str and too_wide(v, room[i], bold):
            wrapped.append((v, widths[i]))
            align: str | None = "wrap"
        else:
            align = "center" if fld == "band" else None
        row.append((v, (fmt, bold, fld in unlocked, align)))
        if fld not in OIV_FIELDS:
            record[header] = shown
    height = paper.row_height(wrapped, bold=bold) if wrapped else None
    if height is not None:   # neither Excel nor LibreOffice computes it on opening
        # a tall row reads from its top line (an empty plain cell shows nothing anywhere)
        row = [(v, (st[0], st[1], st[2], "top")) if st[3] is None and (v is not None or any(st[:3]))
               else (v, st) for v, st in row]
    return row, height, record


_RECORD_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))   # json.dumps's, made once


def record_json(record: Mapping[str, Any]) -> str:
    return _RECORD_JSON.encode(record)


# ------------------------------------------------------------------ Fasi, Indicatori

PHASE_SCORES = ("sector", "objective", "phase", "neutralised", "effective_weight", "contribution")
PHASE_PLANNED = ("description", "planned_start", "planned_end", "weight")
PHASE_TYPED = ("progress", "actual_start", "actual_end", "notes")
PHASE_FORMATS = {"progress": PCT, "contribution": PCT, "effective_weight": WEIGHT_FORMAT}
INDICATOR_SCORES = ("sector", "objective", "indicator", "neutralised", "score", "status", "effective_weight")
INDICATOR_PLANNED = ("description", "kind", "value_type", "direction", "target_value", "target", "weight")
INDICATOR_TYPED = ("achieved_raw", "notes", "achieved_percent", "achieved")


def phase_row(r: tuple, planned: tuple, typed: tuple) -> tuple[dict, Mapping[str, str], tuple]:
    """A Fasi row: (values by field, formats, record key) of a phase's scores (PHASE_SCORES,
    its number an int), plan (PHASE_PLANNED) and typed values (PHASE_TYPED)."""
    sector, objective, n, neutralised, effective_weight, contribution = r
    description, planned_start, planned_end, weight = planned
    progress, actual_start, actual_end, notes = typed
    return ({"sector": sector, "objective": objective, "phase": n,
             "description": description, "planned_start": planned_start,
             "planned_end": planned_end, "weight": as_float(weight),
             "neutralised": "sì" if neutralised else None,
             "progress": as_float(progress), "actual_start": actual_start,
             "actual_end": actual_end, "notes": notes,
             "effective_weight": as_float(effective_weight), "contribution": as_float(contribution)},
            PHASE_FORMATS, (sector, objective, n))


def indicator_row(r: tuple, planned: tuple, typed: tuple) -> tuple[dict, Mapping[str, str], tuple]:
    """An Indicatori row (see phase_row): INDICATOR_SCORES, INDICATOR_PLANNED, INDICATOR_TYPED."""
    sector, objective, n, neutralised, score, status, effective_weight = r
    description, kind, vt, direction, target, target_text, weight = planned
    achieved_raw, notes, achieved_percent, achieved = typed
    if isinstance(target, bool):
        target = "sì" if target else "no"
    elif is_blank(target):
        target = target_text
    fmt = {"score": PCT, "effective_weight": WEIGHT_FORMAT}
    if achieved_percent:
        fmt["achieved_raw"] = RAW_PERCENT
    return ({"sector": sector, "objective": objective, "indicator": n,
             "description": description, "kind": kind, "value_type": vt,
             "direction": direction, "target": target, "weight": as_float(weight),
             "neutralised": "sì" if neutralised else None,
             "achieved_raw": achieved_raw, "notes": notes,
             "score": as_float(score), "status": status,
             "effective_weight": as_float(effective_weight),
             "achieved": shown_value(achieved)},
            fmt, (sector, objective, n))


ROW_MAKERS: dict[str, Callable[[tuple, tuple, tuple], tuple[dict, Mapping[str, str], tuple]]] = {
    "phases": phase_row, "indicators": indicator_row}


@dataclass(frozen=True)
class RowMaker:
    """What a table sheet's rows need besides their values: `text` makes them as the
    sheet writes them (see the module docstring). Picklable, small."""

    kind: str                                   # "phases" or "indicators" (ROW_MAKERS)
    sheet: str                                  # the records' sheet
    columns: tuple[tuple[str, str], ...]        # (field, header)
    widths: tuple[float, ...]
    room: tuple[float, ...]
    style_ids: Mapping[StyleKey, str | None]    # ROW_STYLES as the sheet registered them
    epoch: dt.datetime
    mirror: bool                                # the records kept (_pegxl_valori)

    def text(self, rows: Iterable[TableRow], first: int) -> tuple[str, int, list[tuple[str, str, str]]]:
        """The rows as the sheet's text, numbered from `first`; how many; their records."""
        make = ROW_MAKERS[self.kind]
        sids, letters, tags = self.style_ids, [], {}   # type: ignore[var-annotated]
        parts: list[str] = []
        records: list[tuple[str, str, str]] = []
        idx = first
        for r, planned, typed in rows:
            values, formats, key = make(r, planned, typed)
            cells, height, record = compose(self.columns, self.widths, self.room, values, formats)
            parts.append(row_start(idx, height, tags))
            parts.append(plain_text([(v, sids[st]) for v, st in cells], idx, letters, self.epoch))
            parts.append("</row>")
            if self.mirror:
                records.append((self.sheet, key_json(key), record_json(record)))
            idx += 1
        return "".join(parts), idx - first, records


# (maker, parts as (first row, rows)) -> (text, rows, records) of each part, in order
TableRows = Callable[[RowMaker, Iterable[tuple[int, list[TableRow]]]],
                     Iterable[tuple[str, int, list[tuple[str, str, str]]]]]


def table_rows_here(maker: RowMaker, parts: Iterable[tuple[int, list[TableRow]]]
                    ) -> Iterator[tuple[str, int, list[tuple[str, str, str]]]]:
    """Each part's text made in this process."""
    for first, rows in parts:
        yield maker.text(rows, first)


def in_parts(rows: Iterable[TableRow], first: int, size: int | None = None) -> Iterator[tuple[int, list[TableRow]]]:
    """`rows` a part of `size` (PART_ROWS) at a time, each with the number of its first row."""
    size = size or PART_ROWS
    part: list[TableRow] = []
    for row in rows:
        part.append(row)
        if len(part) >= size:
            yield first, part
            first += len(part)
            part = []
    if part:
        yield first, part
