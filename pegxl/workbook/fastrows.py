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

from inspect import isgenerator
from typing import Any, Generator, Iterable
from xml.etree.ElementTree import _escape_attrib  # type: ignore[attr-defined]  # what et_xmlfile uses

from openpyxl import LXML, Workbook
from openpyxl.cell import Cell, WriteOnlyCell
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from .fastsave import write_row   # plain cells as the text openpyxl writes for them


class FastWriteOnlyWorksheet(WriteOnlyWorksheet):
    """A write-only sheet whose `append` writes the row's text (see the module docstring)."""

    def __init__(self, parent: Any, title: str | None):
        super().__init__(parent, title)
        self._next_row = 1
        self._style_ids: dict[bytes, str | None] = {}   # see fastsave.write_row

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
                    idx = self._next_row
                    self._next_row += 1
                    attrs = {"r": f"{idx}"}
                    attrs.update(ws.row_dimensions.get(idx, {}))
                    start = "".join(["<row", *(f' {k}="{_escape_attrib(v)}"' for k, v in attrs.items()), ">"])
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
