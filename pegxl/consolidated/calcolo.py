"""The Calcolo sheet's rows (explain.calcolo_rows) with their heights, as the consolidated
workbook writes them: made in the process that writes it (calcolo_table), or elsewhere
(merge's worker processes) and handed to it as the same pairs."""
from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator, Mapping

from ..explain import calcolo_rows
from ..scoring import Scores
from ..workbook import paper
from ..workbook.contract import CS_CALCOLO

CALCOLO_WIDTHS = {"code": 16, "step": 20, "text": 56, "rule": 24}
WRAPPED = ("step", "text", "rule")   # the columns whose texts wrap

# what makes the Calcolo sheet's rows: (scores, settori, reasons, wrapped column -> width)
# -> (row, height) pairs in order; calcolo_table, or the same rows made elsewhere
CalcoloRows = Callable[[Scores, list, Mapping, Mapping[str, float]], Iterable[tuple[dict, float | None]]]


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
