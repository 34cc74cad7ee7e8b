"""The Calcolo sheet's rows (explain.calcolo_rows) with their heights, as the consolidated
workbook writes them: made in the process that writes it (calcolo_table), or elsewhere
(merge's worker processes) and handed to it as the same pairs, or as the text of the
sheet's rows (calcolo_texts), their numbers and style ids marked, since those are known
only where the sheet is written (numbered)."""
from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator, Mapping

from openpyxl.utils.datetime import CALENDAR_WINDOWS_1900

from ..explain import calcolo_rows
from ..scoring import Scores
from ..workbook import paper
from ..workbook.contract import CS_CALCOLO
from ..workbook.fastrows import plain_text, row_start

CALCOLO_WIDTHS = {"code": 16, "step": 20, "text": 56, "rule": 24}
WRAPPED = ("step", "text", "rule")   # the columns whose texts wrap

# what makes the Calcolo sheet's rows: (scores, settori, reasons, wrapped column -> width)
# -> (row, height) pairs in order; calcolo_table, or the same rows made elsewhere
CalcoloRows = Callable[[Scores, list, Mapping, Mapping[str, float]], Iterable[tuple[dict, float | None]]]
# the same rows as calcolo_texts gives them, a list at a time
CalcoloTexts = Callable[[Scores, list, Mapping, Mapping[str, float]], Iterable[list[str]]]

FIELDS = tuple(c.field for c in CS_CALCOLO.columns)
EPOCH = CALENDAR_WINDOWS_1900   # the dates' epoch of the rows' text (a write-only workbook's)
# in a row's text: its number, and the style ids of the cells (none of them a character a
# cell's text can hold: plain_text drops them)
ROW_MARK = "\x00"
STYLE_MARKS = {"wrap": "\x01", "top": "\x02", "value": "\x03"}


def calcolo_wrapped(widths: list[float] | None = None) -> dict[str, float]:
    """The wrapped columns of the Calcolo sheet and their widths: of its columns' `widths`
    (default: as the consolidated sizes them, CALCOLO_WIDTHS widened to hold its headers)."""
    cols = list(CS_CALCOLO.columns)
    if widths is None:
        widths = paper.header_widths([c.header for c in cols], [CALCOLO_WIDTHS.get(c.field, c.width) for c in cols])
    fields = [c.field for c in cols]
    return {f: widths[fields.index(f)] for f in WRAPPED}


def calcolo_table(scores: Scores, sectors: list, reasons: Mapping,
                  wrapped: Mapping[str, float]) -> Iterator[tuple[dict, float | None]]:
    """The Calcolo sheet's rows (explain.calcolo_rows), each with its height."""
    for row in calcolo_rows(scores, sectors, reasons):
        yield row, calcolo_height(row, wrapped)


def calcolo_height(row: Mapping[str, Any], wrapped: Mapping[str, float]) -> float | None:
    """A Calcolo row's height: the steps go to a new line each, rows as tall as they are."""
    return paper.row_height([(row[f], w) for f, w in wrapped.items() if isinstance(row[f], str)])


def calcolo_cells(row: Mapping[str, Any], wrapped: Mapping[str, float]) -> list[tuple[Any, str | None]]:
    """A Calcolo row's cells: (value, style: "wrap", "top", "value" (a figure, on its first
    line) or None)."""
    cells: list[tuple[Any, str | None]] = []
    for f in FIELDS:
        v = row[f]
        if f == "value":
            cells.append((v, "value"))
        elif f == "text" or f in wrapped and isinstance(v, str):
            cells.append((v, "wrap"))
        else:   # the codes beside a tall row: on its first line
            cells.append((v, "top" if v is not None else None))
    return cells


def calcolo_texts(pairs: Iterable[tuple[Mapping[str, Any], float | None]], wrapped: Mapping[str, float]) -> list[str]:
    """The text of each (row, height), its number and style ids marked (see numbered)."""
    letters: list[str] = []
    tags: dict[float, str] = {}
    return [row_start(ROW_MARK, height, tags)
            + plain_text([(v, STYLE_MARKS[k] if k else None) for v, k in calcolo_cells(row, wrapped)],
                         ROW_MARK, letters, EPOCH) + "</row>"
            for row, height in pairs]


def numbered(texts: list[str], first: int, style_ids: Mapping[str, str]) -> str:
    """calcolo_texts's rows numbered from `first`, with the sheet's ids of their styles."""
    text = "".join(str(first + i).join(t.split(ROW_MARK)) for i, t in enumerate(texts))
    for k, mark in STYLE_MARKS.items():   # not str.translate: 40 times slower on a text with ×, —
        text = text.replace(mark, style_ids[k])
    return text


def texts_of(pairs: Iterable[tuple[Mapping[str, Any], float | None]], wrapped: Mapping[str, float],
             size: int = 2000) -> Iterator[list[str]]:
    """calcolo_texts of `pairs`, `size` rows at a time."""
    chunk: list[tuple[Mapping[str, Any], float | None]] = []
    for pair in pairs:
        chunk.append(pair)
        if len(chunk) >= size:
            yield calcolo_texts(chunk, wrapped)
            chunk = []
    if chunk:
        yield calcolo_texts(chunk, wrapped)
