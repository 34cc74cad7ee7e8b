"""Saving an openpyxl workbook faster, with the same file parts.

openpyxl serialises every cell through lxml (about 25 µs a cell), writes every sheet to a
temporary file on disk before zipping it and compresses at zlib's default level: most of
the time of a template. Here the rows of plain cells (text, number, boolean, formula,
date, styled blank) are written as the very bytes openpyxl writes for them, any other cell
by openpyxl itself, the sheets go to memory and the parts are compressed at level 1 (the
fastest: the files are about a quarter larger, the parts the same). The parts of the file
are byte for byte those of `Workbook.save` (a test compares them); only the zip entries'
timestamps and compressed sizes differ.

openpyxl writes through lxml when it is installed (python-docx requires it); without it
(or with OPENPYXL_LXML=False) this module leaves the saving to openpyxl.
"""
from __future__ import annotations

import datetime as dt
import math
import os
import re
from io import BytesIO
from typing import Any
from zipfile import ZIP_DEFLATED, ZipFile

from openpyxl import LXML
from openpyxl.cell._writer import write_cell
from openpyxl.comments.comment_sheet import CommentRecord
from openpyxl.drawing.spreadsheet_drawing import SpreadsheetDrawing
from openpyxl.utils import get_column_letter
from openpyxl.utils.datetime import to_excel
from openpyxl.workbook.workbook import Workbook
from openpyxl.worksheet._writer import WorksheetWriter
from openpyxl.writer.excel import ExcelWriter
from openpyxl.xml.functions import xmlfile   # lxml's, as the sheets are written with it

COMPRESS_LEVEL = 1
_to_excel: Any = to_excel   # untyped in openpyxl
# what lxml refuses in text (openpyxl's own writer then raises as it would)
_UNFIT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_CONTROL = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20)])   # the same, in ASCII


def _text(s: str) -> str:
    """Text as lxml escapes it (non-ASCII characters become references when encoded)."""
    if "&" in s:
        s = s.replace("&", "&amp;")
    if "<" in s:
        s = s.replace("<", "&lt;")
    if ">" in s:
        s = s.replace(">", "&gt;")
    if "\r" in s:
        s = s.replace("\r", "&#13;")
    return s


def _attr(s: str) -> str:
    """An attribute value as lxml escapes it."""
    s = _text(s)
    for ch, ref in (('"', "&quot;"), ("\n", "&#10;"), ("\t", "&#9;")):
        if ch in s:
            s = s.replace(ch, ref)
    return s


def _number(value: Any) -> str | None:
    """safe_string of a plain number, or None for any other value."""
    t = type(value)
    if t is int or t is bool:
        return "%.16g" % value
    if t is float:
        return "" if math.isnan(value) or math.isinf(value) else "%.16g" % value
    return None


def _cell_xml(cell: Any, coord: str, style: str, epoch: Any) -> str | None:
    """The <c> element openpyxl writes for a plain cell (`style` the s attribute or ""),
    or None for any other cell."""
    kind = cell.data_type
    value = cell._value
    if cell._hyperlink is not None:
        return None
    if kind == "s" or kind == "f":
        head = f'<c r="{coord}"{style} t="inlineStr"' if kind == "s" else f'<c r="{coord}"{style}'
        if value is None:
            return head + "></c>"
        if type(value) is not str:
            return None
        if value == "":
            return head + "></c>"
        if kind == "f":
            return f"{head}><f>{_text(value[1:])}</f><v></v></c>"
        space = ' xml:space="preserve"' if value != value.strip() else ""
        return f"{head}><is><t{space}>{_text(value)}</t></is></c>"
    if kind == "d":
        # a date or datetime without time zone, stored (iso_dates off) as a serial number
        if not isinstance(value, dt.date) or getattr(value, "tzinfo", None) is not None:
            return None
        value, kind = _to_excel(value, epoch), "n"
    if kind not in ("n", "b", "e"):
        return None
    if value is None:
        return f'<c r="{coord}"{style} t="{kind}"></c>'
    text = _number(value)
    if text is None:
        if type(value) is not str:
            return None
        if value == "":
            return f'<c r="{coord}"{style} t="{kind}"></c>'
        text = _text(value)
    return f'<c r="{coord}"{style} t="{kind}"><v>{text}</v></c>'


def _odd_cell_xml(ws: Any, cell: Any, styled: bool) -> str:
    """What openpyxl's own writer writes for `cell` (rich text, array formulas...)."""
    out = BytesIO()
    with xmlfile(out) as xf:
        write_cell(xf, ws, cell, styled)
    return out.getvalue().decode("ascii")


def _row_tag(row: int, dim: Any, tags: dict[Any, str]) -> str:
    """The <row> start tag openpyxl writes (its attributes: the row dimension's own)."""
    if dim is None:
        return f'<row r="{row}">'
    key = None
    if dim._style is None:   # then the attributes depend on these fields only
        key = (dim.ht, dim.hidden, dim.outlineLevel, dim.collapsed, dim.thickBot, dim.thickTop)
        tag = tags.get(key)
        if tag is not None:
            return f'<row r="{row}"{tag}>'
    tag = "".join(f' {k}="{_attr(v)}"' for k, v in dict(dim).items())
    if key is not None:
        tags[key] = tag
    return f'<row r="{row}"{tag}>'


class _SheetWriter(WorksheetWriter):
    """openpyxl's sheet writer with the rows written as text, into memory."""

    def sheet_data(self) -> bytes | None:
        """<sheetData> as openpyxl writes it, or None when a value is one that openpyxl
        refuses to write (then nothing it did is kept)."""
        ws: Any = self.ws
        comments, links = len(ws._comments), len(ws._hyperlinks)
        epoch = ws.parent.epoch
        dims = ws.row_dimensions
        style_ids: dict[bytes, str] = {}   # cell.style_id hashes the style array every time
        letters: dict[int, str] = {}
        parts = ["<sheetData>"]
        add = parts.append
        cell: Any
        tags: dict[Any, str] = {}
        for row_idx, row in self.rows():
            add(_row_tag(row_idx, dims.get(row_idx), tags))
            r = f"{row_idx}"
            for cell in row:
                if cell._comment is not None:
                    ws._comments.append(CommentRecord.from_cell(cell))
                st = cell._style
                sid = ""   # the s attribute, for a cell with a style other than the default
                if st is not None:
                    key = st.tobytes()
                    known = style_ids.get(key)
                    if known is None:
                        known = style_ids[key] = f' s="{cell.style_id}"' if any(st) else ""
                    sid = known
                if cell._value is None and not sid and cell._comment is None:
                    continue
                col = cell.column
                letter = letters.get(col)
                if letter is None:
                    letter = letters[col] = get_column_letter(col)
                text = _cell_xml(cell, letter + r, sid, epoch)
                add(text if text is not None else _odd_cell_xml(ws, cell, bool(sid)))
            add("</row>")
        add("</sheetData>")
        text = "".join(parts)
        if text.isascii():   # most sheets: deleting the control bytes is quicker than searching
            data = text.encode("ascii")
            fit = len(data.translate(None, _CONTROL)) == len(data)
        else:
            fit = _UNFIT.search(text) is None
            data = text.encode("ascii", "xmlcharrefreplace")
        if not fit:
            del ws._comments[comments:], ws._hyperlinks[links:]
            return None
        return data

    def write_rows(self) -> None:
        ws: Any = self.ws
        data = None if ws.parent.iso_dates else self.sheet_data()
        if data is None:
            super().write_rows()
            return
        xf: Any = self.xf.send(True)
        xf.flush()   # what lxml has written so far, then the rows after it
        out: Any = self.out
        out.write(data)
        self.xf.send(None)


class _Writer(ExcelWriter):
    _archive: ZipFile

    def write_worksheet(self, ws: Any) -> None:
        ws._drawing = SpreadsheetDrawing()
        ws._drawing.charts = ws._charts
        ws._drawing.images = ws._images
        out = BytesIO()
        writer: Any = _SheetWriter(ws, out=out)
        writer.write()
        ws._rels = writer._rels
        self._archive.writestr(ws.path[1:], out.getvalue())
        self.manifest.append(ws)


def save(workbook: Workbook, path: str | os.PathLike[str]) -> None:
    """`workbook.save(path)`, faster (see the module docstring)."""
    if not LXML or workbook.write_only:
        workbook.save(path)
        return
    archive = ZipFile(path, "w", ZIP_DEFLATED, allowZip64=True, compresslevel=COMPRESS_LEVEL)
    workbook.properties.modified = dt.datetime.now(tz=dt.timezone.utc).replace(tzinfo=None)
    _Writer(workbook, archive).save()
