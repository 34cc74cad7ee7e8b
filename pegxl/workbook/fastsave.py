"""Saving an openpyxl workbook faster, with the same file parts.

openpyxl serialises every cell through an ElementTree element (about 30 µs a cell), writes
every sheet to a temporary file on disk before zipping it and compresses at zlib's default
level: most of the time of a template. Here the plain cells (text, number, boolean,
formula, date, styled blank) are written as the very bytes openpyxl writes for them, every
other cell by openpyxl itself, the sheets go to memory and the parts are compressed at
level 1 (the fastest: files about a fifth larger, the same parts). The parts of the file
are byte for byte those of `Workbook.save` (a test compares them); only the zip entries'
timestamps and compressed bytes differ. With lxml in use (OPENPYXL_LXML=True, see
pegxl/__init__.py) openpyxl writes through lxml, and this module leaves the saving to it.
"""
from __future__ import annotations

import datetime as dt
import os
from copy import copy
from io import BytesIO
from operator import itemgetter
from typing import Any, Iterable
from xml.etree.ElementTree import (  # type: ignore[attr-defined]  # what et_xmlfile uses
    _escape_attrib,
    _escape_cdata,
)
from zipfile import ZIP_DEFLATED, ZipFile

from openpyxl import LXML
from openpyxl.cell._writer import write_cell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.comments.comment_sheet import CommentRecord, CommentSheet
from openpyxl.comments import shape_writer
from openpyxl.compat import safe_string
from openpyxl.drawing.spreadsheet_drawing import SpreadsheetDrawing
from openpyxl.packaging.extended import ExtendedProperties
from openpyxl.packaging.relationship import Relationship
from openpyxl.utils import coordinate_to_tuple, get_column_letter
from openpyxl.utils.datetime import to_excel
from openpyxl.workbook.workbook import Workbook
from openpyxl.worksheet._writer import WorksheetWriter
from openpyxl.descriptors.serialisable import Serialisable
from openpyxl.worksheet.dimensions import SheetDimension, SheetFormatProperties
from openpyxl.styles.colors import Color
from openpyxl.worksheet.header_footer import HeaderFooter, HeaderFooterItem
from openpyxl.worksheet.page import PageMargins, PrintOptions, PrintPageSetup
from openpyxl.worksheet.properties import Outline, PageSetupProperties, WorksheetProperties
from openpyxl.worksheet.views import Pane, Selection, SheetView, SheetViewList
from openpyxl.worksheet.protection import SheetProtection
from openpyxl.worksheet.worksheet import Worksheet
from openpyxl.styles.stylesheet import write_stylesheet
from openpyxl.workbook._writer import WorkbookWriter
from openpyxl.writer.excel import ExcelWriter
from openpyxl.writer.theme import theme_xml
from openpyxl.xml.constants import ARC_APP, ARC_CORE, ARC_ROOT_RELS, ARC_STYLE, ARC_THEME, ARC_WORKBOOK, ARC_WORKBOOK_RELS
from openpyxl.xml import functions as xml


COMPRESS_LEVEL = 1
_to_excel: Any = to_excel   # untyped in openpyxl
_CommentSheet: Any = CommentSheet
_shapes: Any = shape_writer   # ShapeWriter and its private _shape_factory
_tostring: Any = xml.tostring   # bytes (the stubs say str)


def _cell_xml(cell: Any, style_id: str | None, epoch: Any) -> str | None:
    """The <c> element openpyxl writes for a plain cell, or None for any other cell."""
    kind = cell.data_type
    value = cell._value
    if kind not in ("s", "n", "f", "b", "d") or cell.hyperlink:
        return None
    if kind == "d":
        # a date or datetime without time zone, stored (iso_dates off) as a serial number
        if not isinstance(value, dt.date) or getattr(value, "tzinfo", None) is not None:
            return None
        value, kind = _to_excel(value, epoch), "n"
    elif value is not None and not isinstance(value, (str, int, float)):
        return None   # rich text, array formulas, numpy scalars...: openpyxl's own writer
    head = f'<c r="{cell.coordinate}"'
    if style_id is not None:
        head += f' s="{style_id}"'
    if kind == "s":
        head += ' t="inlineStr"'
    elif kind != "f":
        head += f' t="{kind}"'
    if value is None or value == "":
        return head + " />"
    if kind == "f":
        if not isinstance(value, str):
            return None
        body = _escape_cdata(value[1:])
        return f"{head}><f>{body}</f><v /></c>" if body else f"{head}><f /><v /></c>"
    if kind == "s":
        if not isinstance(value, str):
            return None
        return head + text_body(value)
    return head + number_body(value)


def legal_text(text: str) -> str:
    """`text` without the control characters a cell cannot hold, dropped as openpyxl drops
    them (ILLEGAL_CHARACTERS_RE); a str with none (isprintable: most) is not scanned again. Always
    a str, as the regex gives it (never a subclass such as numpy's str_)."""
    return text if type(text) is str and text.isprintable() else ILLEGAL_CHARACTERS_RE.sub("", text)


def text_body(value: str) -> str:
    """What follows `<c r=.. s=.. t="inlineStr"` for a non-empty text, as openpyxl writes it."""
    stripped = value.strip()
    space = ' xml:space="preserve"' if stripped and value != stripped else ""
    return f"><is><t{space}>{_escape_cdata(value)}</t></is></c>"


def number_body(value: Any) -> str:
    """What follows `<c r=.. s=.. t="n"` for a number, as openpyxl writes it."""
    text = _escape_cdata(safe_string(value))   # "" for NaN and infinities: an empty element
    return f"><v>{text}</v></c>" if text else "><v /></c>"


def style_id(book: Any, style: Any, ids: dict[bytes, str | None]) -> str | None:
    """The id of a cell's style array in `book` (None: the default style), kept in `ids` by
    its bytes: cell.style_id hashes the array every time."""
    key = style.tobytes()
    if key in ids:
        return ids[key]
    sid = ids[key] = f"{book._cell_styles.add(style)}" if any(style) else None
    return sid


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
    tag = "".join(f' {k}="{_escape_attrib(v)}"' for k, v in dict(dim).items())
    if key is not None:
        tags[key] = tag
    return f'<row r="{row}"{tag}>'


class _SheetWriter(WorksheetWriter):
    """openpyxl's sheet writer with the rows of plain cells written as text, into memory."""

    _keys: list[tuple[int, int]] | None = None   # the cells' keys in order (write_dimensions)

    def rows(self) -> list[tuple[int, list[Any]]]:
        """WorksheetWriter.rows: the cells by row, in order (the keys sorted alone, without
        their cells, and rows of only a row dimension too)."""
        ws: Any = self.ws
        cells = ws._cells
        keys = self._keys
        if keys is None or len(keys) != len(cells):
            keys = sorted(cells)
        rows: dict[int, list[Any]] = {}
        for key in keys:
            r = key[0]
            if r in rows:
                rows[r].append(cells[key])
            else:
                rows[r] = [cells[key]]
        extra = ws.row_dimensions.keys() - rows.keys()
        if not extra:
            return list(rows.items())   # already in row order
        for r in extra:
            rows[r] = []
        return sorted(rows.items())

    # The sheet's settings (protection, page, views...) are the same in many sheets: an
    # element of these classes is its class, its attributes and its children's own, so its
    # text is kept by that key and written again as it is.
    @property
    def sheet(self) -> Any:   # the sheet, untyped (openpyxl's attributes are)
        return self.ws

    def write_properties(self) -> None:
        self._cached(self.sheet.sheet_properties, always=True)

    def write_views(self) -> None:
        self._cached(self.sheet.views, always=True)

    def write_format(self) -> None:
        self.sheet.sheet_format.outlineLevelCol = self.sheet.column_dimensions.max_outline
        self._cached(self.sheet.sheet_format, always=True)

    def write_protection(self) -> None:
        self._cached(self.sheet.protection)

    def write_print(self) -> None:
        self._cached(self.sheet.print_options)

    def write_margins(self) -> None:
        self._cached(self.sheet.page_margins)

    def write_page(self) -> None:
        self._cached(self.sheet.page_setup)

    def write_header(self) -> None:
        self._cached(self.sheet.HeaderFooter)

    def _cached(self, obj: Any, always: bool = False) -> None:
        """`if obj: self.xf.send(obj.to_tree())` (always: without the test), the text of
        each distinct element written once."""
        if not (always or obj):
            return
        key = _tree_key(obj)
        if key is None:
            self.xf.send(obj.to_tree())
            return
        text = _SETTINGS_XML.get(key)
        xf: Any = self.xf.send(True)
        if text is None:
            parts: list[str] = []
            raw, xf._file = xf._file, parts.append
            try:
                xf.write(obj.to_tree())
            finally:
                xf._file = raw
            text = "".join(parts)
            if len(_SETTINGS_XML) > 10_000:
                _SETTINGS_XML.clear()
            _SETTINGS_XML[key] = text
        xf._file(text)
        self.xf.send(None)

    def write_dimensions(self) -> None:
        """WorksheetWriter.write_dimensions with Worksheet.calculate_dimension's range
        computed in one pass over the cells' keys."""
        ws: Any = self.ws
        cells = ws._cells
        if not cells or type(ws).calculate_dimension is not Worksheet.calculate_dimension:
            super().write_dimensions()
            return
        keys = self._keys = sorted(cells)   # rows() takes them in this order too
        cols = list(map(itemgetter(1), keys))
        ref = f"{get_column_letter(min(cols))}{keys[0][0]}:{get_column_letter(max(cols))}{keys[-1][0]}"
        self.xf.send(SheetDimension(ref).to_tree())

    def write_rows(self) -> None:
        ws: Any = self.ws
        if ws.parent.iso_dates:   # not ours: every cell through openpyxl
            super().write_rows()
            return
        xf: Any = self.xf.send(True)
        epoch = ws.parent.epoch
        dims = ws.row_dimensions
        # a style array -> its id, None for the default: cell.style_id hashes it every time
        style_ids: dict[bytes, str | None] = {}
        tags: dict[Any, str] = {}
        with xf.element("sheetData"):
            for row_idx, row in self.rows():
                write_row(xf, ws, _row_tag(row_idx, dims.get(row_idx), tags), row, style_ids, epoch)
        self.xf.send(None)


def write_row(xf: Any, ws: Any, start_tag: str, cells: Iterable[Any], style_ids: dict[bytes, str | None],
              epoch: Any) -> None:
    """One <row> of `ws` into et_xmlfile's writer `xf`: plain cells as text, any other cell by
    openpyxl itself. `style_ids` caches a style array's id (None: the default style), since
    cell.style_id hashes it every time."""
    raw = xf._file   # et_xmlfile's writer of already serialised text
    parts = [start_tag]
    add = parts.append
    row = ""
    letters = _LETTERS
    for cell in cells:
        comment = cell._comment
        if comment is not None:
            ws._comments.append(CommentRecord.from_cell(cell))
        st = cell._style
        sid = None
        if st is not None:   # style_id's look-up, inline on this hot path (its miss: style_id)
            key = st.tobytes()
            sid = style_ids[key] if key in style_ids else style_id(ws.parent, st, style_ids)
        value = cell._value
        if value is None and sid is None and not comment:
            continue
        # the commonest cells (text, our formulas, numbers) here; the others by _cell_xml
        kind = cell.data_type
        t = type(value)
        if cell._hyperlink is None and ((t is str and (kind == "s" or kind == "f")) or
                                        ((t is int or t is float or value is None) and kind == "n")):
            if not row:
                row = f"{cell.row}"
            if kind == "s":
                attrs = _S_ATTRS.get(sid)
                if attrs is None:
                    attrs = _S_ATTRS[sid] = f' s="{sid}" t="inlineStr"'
                head = f'<c r="{letters.get(cell.column) or _letter(cell.column)}{row}"{attrs}'
                if value == "":
                    add(head + " />")
                    continue
                stripped = value.strip()
                space = ' xml:space="preserve"' if stripped and value != stripped else ""
                if "&" in value or "<" in value or ">" in value:   # _escape_cdata's own tests
                    value = _escape_cdata(value)
                add(f"{head}><is><t{space}>{value}</t></is></c>")
                continue
            if kind == "f" and len(value) > 1:
                attrs = _F_ATTRS.get(sid)
                if attrs is None:
                    attrs = _F_ATTRS[sid] = f' s="{sid}"'
                head = f'<c r="{letters.get(cell.column) or _letter(cell.column)}{row}"{attrs}'
                value = value[1:]
                if "&" in value or "<" in value or ">" in value:
                    value = _escape_cdata(value)
                add(f"{head}><f>{value}</f><v /></c>")
                continue
            if kind == "n":
                attrs = _N_ATTRS.get(sid)
                if attrs is None:
                    attrs = _N_ATTRS[sid] = f' s="{sid}" t="n"'
                head = f'<c r="{letters.get(cell.column) or _letter(cell.column)}{row}"{attrs}'
                if value is None:   # a styled blank (an input cell)
                    add(head + " />")
                    continue
                text = _escape_cdata(safe_string(value))
                add(f"{head}><v>{text}</v></c>" if text else f"{head}><v /></c>")
                continue
        text = _cell_xml(cell, sid, epoch)
        if text is None:   # flush, then openpyxl writes this cell itself
            raw("".join(parts))
            parts = []
            add = parts.append
            write_cell(xf, ws, cell, sid is not None)
        else:
            add(text)
    add("</row>")
    raw("".join(parts))


# classes written by openpyxl's generic to_tree from their attributes (their own __iter__)
# and their children alone: no nested values, no namespaced attributes, no text
_TREES = frozenset(c for c in (
    SheetProtection, PrintOptions, PageMargins, PrintPageSetup, SheetFormatProperties, SheetViewList,
    SheetView, Pane, Selection, WorksheetProperties, Outline, PageSetupProperties, Color, HeaderFooter)
    if c.to_tree is Serialisable.to_tree and not c.__nested__ and not c.__namespaced__
    and "attr_text" not in c.__attrs__)
_SETTINGS_XML: dict[Any, str] = {}


def _tree_key(obj: Any) -> Any:
    """What `obj.to_tree()` is made of (None: a class not known to be written that way)."""
    cls = type(obj)
    if cls is HeaderFooterItem:   # its text: the parts' own
        return (cls, *((p.text, p.font, p.size, p.color) for p in (obj.left, obj.center, obj.right)))
    if cls not in _TREES or getattr(obj, "namespace", None) is not None:
        return None
    children: list[Any] = []
    for name in cls.__elements__:
        value = getattr(obj, name)
        if isinstance(value, (list, tuple)):
            key: Any = tuple(map(_tree_key, value))
            if None in key:
                return None
        elif value is None:
            key = ()
        else:
            key = _tree_key(value)
            if key is None:
                return None
        children.append(key)
    return (cls, tuple(obj), tuple(children))


# a cell's attributes after r="..." by style id, for text, formula and number cells
_S_ATTRS: dict[str | None, str] = {None: ' t="inlineStr"'}
_F_ATTRS: dict[str | None, str] = {None: ""}
_N_ATTRS: dict[str | None, str] = {None: ' t="n"'}
_LETTERS: dict[int, str] = {}


def _letter(col: int) -> str:
    letter = _LETTERS.get(col)
    if letter is None:
        letter = _LETTERS[col] = get_column_letter(col)
    return letter


class _Writer(ExcelWriter):
    _archive: ZipFile
    _comments: list[Any]

    def write_data(self) -> None:
        """ExcelWriter.write_data, with docProps/app.xml (always the same) and xl/styles.xml
        (the same for workbooks with the same styles: every template) kept once written."""
        archive = self._archive
        book: Any = self.workbook
        if len(book.custom_doc_props) >= 1:   # openpyxl's own path
            super().write_data()
            return
        if not _APP_XML:
            _APP_XML.append(_tostring(ExtendedProperties().to_tree()))
        archive.writestr(ARC_APP, _APP_XML[0])
        archive.writestr(ARC_CORE, _tostring(book.properties.to_tree()))
        archive.writestr(ARC_THEME, book.loaded_theme if book.loaded_theme else theme_xml)
        me: Any = self   # openpyxl's private methods are untyped
        me._write_worksheets()
        me._write_chartsheets()
        me._write_images()
        me._write_charts()
        me._write_external_links()
        archive.writestr(ARC_STYLE, _styles_xml(book))
        writer: Any = WorkbookWriter(book)
        archive.writestr(ARC_ROOT_RELS, writer.write_root_rels())
        archive.writestr(ARC_WORKBOOK, writer.write())
        archive.writestr(ARC_WORKBOOK_RELS, writer.write_rels())
        me._merge_vba()
        me.manifest._write(archive, book)

    def _write_comment(self, ws: Any) -> None:
        """ExcelWriter._write_comment, with the VML of the comments' boxes written from the
        text openpyxl writes for one box (see _vml) rather than an element tree per box."""
        cs: Any = _CommentSheet.from_comments(ws._comments)
        self._comments.append(cs)
        cs._id = len(self._comments)
        self._archive.writestr(cs.path[1:], _tostring(cs.to_tree()))
        self.manifest.append(cs)
        book: Any = self.workbook
        if ws.legacy_drawing is None or book.vba_archive is None:
            ws.legacy_drawing = f"xl/drawings/commentsDrawing{cs._id}.vml"
            vml = _vml(cs.commentList)
        else:
            vml = cs.write_shapes(xml.fromstring(book.vba_archive.read(ws.legacy_drawing)))
        self._archive.writestr(ws.legacy_drawing, vml)
        self.vba_modified.add(ws.legacy_drawing)
        ws._rels.append(Relationship(Id="comments", type=cs._rel_type, Target=cs.path))

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


_APP_XML: list[bytes] = []
_STYLES_XML: dict[Any, bytes] = {}


def _styles_xml(book: Any) -> bytes:
    """tostring(write_stylesheet(book)), kept by what it is written from: the style lists
    (their objects compare by value, as openpyxl's own lists of styles do), the cells' style
    arrays, the named styles' arrays and settings, the palette."""
    if book._table_styles.tableStyle:
        written: bytes = _tostring(write_stylesheet(book))
        return written
    key = _styles_key(book, lambda x: x)
    text = _STYLES_XML.get(key)
    if text is None:
        text = _tostring(write_stylesheet(book))
        if len(_STYLES_XML) > 100:
            _STYLES_XML.clear()
        # kept with copies of the style objects: one changed later in place cannot match
        _STYLES_XML[_styles_key(book, copy)] = text
    return text


def _styles_key(book: Any, keep: Any) -> Any:
    named = tuple((tuple(ns), ns.as_tuple().tobytes(), keep(ns.alignment), keep(ns.protection))
                  for ns in book._named_styles)
    return (tuple(map(keep, book._fonts)), tuple(map(keep, book._fills)), tuple(map(keep, book._borders)),
            tuple(map(keep, book._alignments)), tuple(map(keep, book._protections)),
            tuple(book._number_formats), tuple(st.tobytes() for st in book._cell_styles),
            tuple(map(keep, book._differential_styles.styles)), named,
            None if book._colors is None else tuple(book._colors), tuple(book._table_styles))


# sentinels for a box's id, row, column, height and width: numbers no VML text holds
_VML_SENTINELS = (7777, 88888, 99999, 55555, 66666)
_VML_PARTS: list[Any] = []


def _vml_parts() -> tuple[bytes, bytes, bytes] | None:
    """(document start, one box with the sentinels, document end) of the VML openpyxl
    writes for comments, cut out of its own output for one and for two boxes."""
    if not _VML_PARTS:
        idx, row, col, height, width = _VML_SENTINELS

        def doc(n: int) -> bytes:
            root = xml.Element("xml")
            _shapes.ShapeWriter(()).add_comment_shapetype(root)
            for _ in range(n):
                shape = _shapes._shape_factory(row, col, height, width)
                shape.set("id", "_x0000_s%04d" % idx)
                root.append(shape)
            out: bytes = _tostring(root)
            return out

        one, two = doc(1), doc(2)
        end = b"</xml>"
        body = one[: -len(end)]
        box = two[len(body): -len(end)]
        ok = (one.endswith(end) and two.startswith(body) and two == body + box + end
              and body.endswith(box) and all(box.count(str(v).encode()) == 1 for v in _VML_SENTINELS))
        _VML_PARTS.append((body[: -len(box)], box, end) if ok else None)
    found: tuple[bytes, bytes, bytes] | None = _VML_PARTS[0]
    return found


def _vml(records: list[Any]) -> bytes:
    """ShapeWriter(...).write(None): the VML of the comments' boxes."""
    parts = _vml_parts()
    if parts is None:   # openpyxl wrote something unexpected: its own writer
        written: bytes = _shapes.ShapeWriter([(c.ref, c) for c in records]).write(None)
        return written
    start, box, end = parts
    idx_s, row_s, col_s, height_s, width_s = (str(v).encode() for v in _VML_SENTINELS)
    out = [start]
    for idx, c in enumerate(records, 1026):
        row, col = coordinate_to_tuple(c.ref)
        out.append(box.replace(idx_s, b"%04d" % idx).replace(row_s, str(row - 1).encode())
                   .replace(col_s, str(col - 1).encode()).replace(height_s, f"{c.height}".encode())
                   .replace(width_s, f"{c.width}".encode()))
    out.append(end)
    return b"".join(out)


def save(workbook: Workbook, path: str | os.PathLike[str]) -> None:
    """`workbook.save(path)`, faster (see the module docstring)."""
    if LXML or workbook.write_only:
        workbook.save(path)
        return
    archive = ZipFile(path, "w", ZIP_DEFLATED, allowZip64=True, compresslevel=COMPRESS_LEVEL)
    workbook.properties.modified = dt.datetime.now(tz=dt.timezone.utc).replace(tzinfo=None)
    _Writer(workbook, archive).save()


def release(workbook: Any) -> None:
    """Take a written workbook apart: its cells, sheets and parts refer to each other, so
    dropped whole they wait for the cyclic collector; taken apart they are freed at once
    (a worker writing hundreds of workbooks keeps its memory flat)."""
    for ws in workbook.worksheets:
        ws._cells.clear()
        ws.__dict__.clear()
    workbook.__dict__.clear()
