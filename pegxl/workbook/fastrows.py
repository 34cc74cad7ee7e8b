"""A write-only workbook whose rows are written as text: the same bytes, several times faster.

openpyxl's write-only sheets serialise every appended cell through an ElementTree element
(et_xmlfile), about 30 µs a cell: a consolidated workbook of 1,000 settori has half a
million cells. `FastWriteOnlyWorkbook` is `Workbook(write_only=True)` whose sheets write
each plain cell (text, number, boolean, formula, date, styled blank) as the very text
openpyxl writes for it (pegxl.workbook.fastsave's serialiser), and hand any other cell
(rich text, a hyperlink, a comment) to openpyxl itself. The values are bound to cells by
openpyxl exactly as `append` does (types, formulas, error codes, truncation), style ids
are openpyxl's: the parts of the saved file are byte for byte those of a plain write-only
workbook (a test compares them). With lxml installed openpyxl writes through lxml, and the
sheets leave the writing to it.
"""
from __future__ import annotations

import datetime as dt
import functools
import math
from copy import copy
from inspect import isgenerator
from typing import Any, Generator, Iterable, Sequence
from xml.etree.ElementTree import _escape_attrib  # type: ignore[attr-defined]  # what et_xmlfile uses

from openpyxl import LXML, Workbook
from openpyxl.cell import Cell, WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from openpyxl.worksheet.dimensions import RowDimension

# plain cells as the text openpyxl writes for them
from .fastsave import _to_excel, legal_text, number_body, style_id, text_body, write_row

# A plain row: (value, style array or None) per column, the value a str, int, float, bool,
# date, datetime or None (see append_plain).
PlainRow = Sequence[tuple[Any, Any]]
MAX_TEXT = 32767     # what a cell holds: openpyxl cuts longer text there


class _Plain:
    """A plain row sent to the sheet's row writer."""
    __slots__ = ("cells",)

    def __init__(self, cells: PlainRow):
        self.cells = cells


def plain_cells(ws: Any, row: PlainRow) -> list[Any]:
    """The WriteOnlyCells of a plain row, as openpyxl's own `append` takes them: the style set
    before the value (a date keeps its format), text always text (never a formula or an
    error code), control characters dropped."""
    cells: list[Any] = []
    for value, style in row:
        if value is None and style is None:
            cells.append(None)
            continue
        c: Any = WriteOnlyCell(ws)
        if style is not None:
            c._style = copy(style)
        if isinstance(value, str):
            c.value = ILLEGAL_CHARACTERS_RE.sub("", value)
            c.data_type = "s"
        else:
            c.value = value
        cells.append(c)
    return cells


def set_height(ws: Any, row: int, height: float) -> None:
    """Set a row's height on a write-only sheet, before the row is appended (on a
    FastWriteOnlyWorksheet without making a RowDimension for it)."""
    if isinstance(ws, FastWriteOnlyWorksheet) and not LXML:
        ws._heights[row] = height
    else:
        ws.row_dimensions[row].height = height


def append_plain(ws: Any, row: PlainRow) -> None:
    """Append a plain row to a write-only sheet: as text on a FastWriteOnlyWorksheet, through
    openpyxl's cells on any other."""
    if isinstance(ws, FastWriteOnlyWorksheet):
        ws.append_plain(row)
    else:
        ws.append(plain_cells(ws, row))


class _Text:
    """Rows already written as text, sent to the sheet's row writer (append_text)."""
    __slots__ = ("text", "first", "n")

    def __init__(self, text: str, first: int, n: int):
        self.text, self.first, self.n = text, first, n


def row_start(idx: int | str, height: float | None, tags: dict[float, str]) -> str:
    """The <row> start tag of row `idx` (or a mark in its place) with only its height set, or
    none (as openpyxl writes it); `tags` keeps the attributes of each height."""
    if height is None:
        return f'<row r="{idx}">'
    tag = tags.get(height)
    if tag is None:
        dim = RowDimension(None, index=0, ht=height)  # type: ignore[arg-type]  # its sheet is not written
        tag = tags[height] = "".join(f' {k}="{_escape_attrib(v)}"' for k, v in dict(dim).items() if k != "r")
    return f'<row r="{idx}"{tag}>'


SHORT_TEXT = 48   # texts up to this long are kept once met (_short_cell here, tablerows' canon): codes, kinds


def _text_cell(value: str) -> str:
    """What follows a text cell's `<c r=.. s=..`, as openpyxl writes it."""
    value = legal_text(value)[:MAX_TEXT]
    return ' t="inlineStr" />' if not value else ' t="inlineStr"' + text_body(value)


_short_cell = functools.lru_cache(maxsize=1 << 13)(_text_cell)
_serial = functools.lru_cache(maxsize=1 << 12)(_to_excel)   # (date, epoch): dates repeat in a sheet


def plain_text(row: Sequence[tuple[Any, str | None]], idx: int | str, letters: list[str], epoch: Any) -> str:
    """The <c> elements of a plain row whose style ids are known (value, style id or None),
    as openpyxl writes them: what FastWriteOnlyWorksheet writes, made anywhere. `letters`
    (the column letters) grows as needed; `idx` the row's number, or a mark in its place."""
    while len(letters) < len(row):
        letters.append(get_column_letter(len(letters) + 1))
    parts = []
    for i, (value, sid) in enumerate(row):
        if value is None and sid is None:
            continue
        head = f'<c r="{letters[i]}{idx}" s="{sid}"' if sid is not None else f'<c r="{letters[i]}{idx}"'
        kind = type(value)
        if kind is str:
            parts.append(head + (_short_cell(value) if len(value) <= SHORT_TEXT else _text_cell(value)))
            continue
        if kind is float or kind is int:
            # number_body's text: safe_string's "%.16g", nothing in it to escape
            parts.append(f'{head} t="n"><v>{"%.16g" % value}</v></c>' if math.isfinite(value)
                         else head + ' t="n"><v /></c>')
            continue
        if value is None:
            parts.append(head + ' t="n" />')
            continue
        if kind is bool:
            parts.append(f'{head} t="b"><v>{1 if value else 0}</v></c>')
            continue
        if kind is dt.datetime or kind is dt.date:
            if getattr(value, "tzinfo", None) is not None:
                raise TypeError("una data con fuso orario non va in una cella")
            value = _serial(value, epoch)
        elif kind is not int and kind is not float:
            raise TypeError(f"valore non semplice per una cella: {value!r}")
        parts.append(head + ' t="n"' + number_body(value))
    return "".join(parts)


class FastWriteOnlyWorksheet(WriteOnlyWorksheet):
    """A write-only sheet whose `append` writes the row's text (see the module docstring)."""

    def __init__(self, parent: Any, title: str | None):
        super().__init__(parent, title)
        self._next_row = 1
        self._style_ids: dict[bytes, str | None] = {}   # see fastsave.write_row
        self._letters: list[str] = []
        self._heights: dict[int, float] = {}     # set_height: row -> height
        self._height_tags: dict[float, str] = {}

    def append_plain(self, row: PlainRow) -> None:
        """Append a plain row (see PlainRow): the bytes openpyxl writes for `plain_cells(row)`,
        without making a cell object per value."""
        ws: Any = self
        if LXML or ws.parent.iso_dates:
            super().append(plain_cells(self, row))
            return
        ws._get_writer()
        if ws._rows is None:
            ws._rows = self._text_rows()
            next(ws._rows)
        ws._rows.send(_Plain(row))

    def _plain_text(self, row: PlainRow, idx: int, epoch: Any) -> str:
        """The <c> elements of a plain row (fastsave._cell_xml's text for the same cells)."""
        ids, book = self._style_ids, self.parent
        return plain_text([(value, style_id(book, style, ids) if style is not None else None)
                           for value, style in row], idx, self._letters, epoch)

    @property
    def fast(self) -> bool:
        """Whether its rows are written as text here (not by lxml, not with ISO dates)."""
        ws: Any = self
        return not LXML and not ws.parent.iso_dates

    def append_text(self, text: str, first: int, n: int) -> None:
        """Append `n` rows already written as text (plain_text within row_start and
        `</row>`), numbered from `first`, which must be the next row: the rows of a sheet
        made elsewhere (another process) with this sheet's style ids (see fast)."""
        ws: Any = self
        if not self.fast:
            raise RuntimeError("righe in testo solo su un foglio scritto come testo")
        ws._get_writer()
        if ws._rows is None:
            ws._rows = self._text_rows()
            next(ws._rows)
        ws._rows.send(_Text(text, first, n))

    def append(self, row: Iterable[Any]) -> None:
        ws: Any = self   # openpyxl's attributes are untyped
        if LXML or ws.parent.iso_dates:
            super().append(row)
            return
        if not isgenerator(row) and not isinstance(row, (list, tuple, range)):
            ws._invalid_row(row)
        ws._get_writer()
        if ws._rows is None:
            ws._rows = self._text_rows()
            next(ws._rows)
        ws._rows.send(row)

    def _text_rows(self) -> Generator[None, Iterable[Any], None]:
        """WriteOnlyWorksheet._write_rows, with the plain cells written as text."""
        ws: Any = self   # openpyxl's attributes are untyped
        try:
            xf: Any = ws._writer.xf.send(True)
        except StopIteration:
            ws._already_saved()
        epoch = ws.parent.epoch
        with xf.element("sheetData"):
            try:
                while True:
                    values = yield
                    if isinstance(values, _Text):
                        if values.first != self._next_row or any(
                                r in ws.row_dimensions or r in self._heights
                                for r in range(values.first, values.first + values.n)):
                            raise ValueError(f"righe in testo da {values.first}: attesa la riga {self._next_row}")
                        xf._file(values.text)
                        self._next_row += values.n
                        continue
                    idx = self._next_row
                    self._next_row += 1
                    height = self._heights.pop(idx, None)
                    if height is not None and idx not in ws.row_dimensions:
                        start = row_start(idx, height, self._height_tags)
                    else:
                        attrs = {"r": f"{idx}"}
                        if height is not None:
                            ws.row_dimensions[idx].height = height
                        attrs.update(ws.row_dimensions.get(idx, {}))
                        start = "".join(["<row", *(f' {k}="{_escape_attrib(v)}"' for k, v in attrs.items()), ">"])
                    if isinstance(values, _Plain):
                        xf._file(start + self._plain_text(values.cells, idx, epoch) + "</row>")
                    else:
                        write_row(xf, ws, start, self._bound(values, idx), self._style_ids, epoch)
            except GeneratorExit:
                pass
        ws._writer.xf.send(None)

    def _bound(self, values: Iterable[Any], row_idx: int) -> Iterable[Any]:
        """WriteOnlyWorksheet._values_to_row: the same binding of values to cells."""
        cell = WriteOnlyCell(self)
        for col_idx, value in enumerate(values, 1):
            if value is None:
                continue
            if isinstance(value, Cell):
                # openpyxl tries to bind it as a value first and takes it on the ValueError
                # (raised before anything is bound): an exception per styled cell
                cell = value
            else:
                cell.value = value
            cell.column = col_idx
            cell.row = row_idx
            if cell.hyperlink is not None:
                cell.hyperlink.ref = cell.coordinate
            yield cell
            if cell.has_style or cell.hyperlink:
                cell = WriteOnlyCell(self)


class FastWriteOnlyWorkbook(Workbook):
    """`Workbook(write_only=True)` whose sheets are FastWriteOnlyWorksheet."""

    def __init__(self) -> None:
        super().__init__(write_only=True)

    def create_sheet(self, title: Any = None, index: int | None = None) -> Any:
        ws = FastWriteOnlyWorksheet(parent=self, title=title)
        book: Any = self
        book._add_sheet(sheet=ws, index=index)
        return ws
