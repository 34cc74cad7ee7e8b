"""The look shared by every workbook pegxl writes (plan, templates, consolidated, reports)."""
from __future__ import annotations

import datetime as dt
from operator import itemgetter
from typing import Any, Iterable

from openpyxl.cell.cell import MergedCell
from openpyxl.workbook.workbook import Workbook
from openpyxl.worksheet.worksheet import Worksheet
from openpyxl.styles import Alignment, Border, Font, PatternFill, Protection, Side
from openpyxl.styles.cell_style import StyleArray
from openpyxl.utils import column_index_from_string, get_column_letter
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.datavalidation import DataValidation

from . import paper
from .contract import SHEET_ENTE, SHEET_IDENTITY, Column

HEADER_FILL = PatternFill("solid", fgColor="1F4E79")
HEADER_FONT = Font(bold=True, color="FFFFFF")
INPUT_FILL = PatternFill("solid", fgColor="FFF2CC")      # pale yellow: "si compila"
COMPUTED_FILL = PatternFill("solid", fgColor="E2EFDA")   # pale green: calcolato
# bgColor too: Excel paints a conditional-format fill with bgColor, cells with fgColor
MISSING_FILL = PatternFill("solid", fgColor="F8CBAD", bgColor="F8CBAD")  # salmon: manca un dato obbligatorio
ERROR_FILL = PatternFill("solid", fgColor="FFC7CE", bgColor="FFC7CE")
WARNING_FILL = PatternFill("solid", fgColor="FFEB9C", bgColor="FFEB9C")
TOTAL_FONT = Font(bold=True)
TITLE_FONT = Font(bold=True, size=14, color="1F4E79")
THIN = Side(style="thin", color="BFBFBF")
BORDER = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
WRAP = Alignment(wrap_text=True, vertical="top")
TOP = Alignment(vertical="top")
CENTER = Alignment(horizontal="center", vertical="top")
HEADER_ALIGN = Alignment(wrap_text=True, vertical="center", horizontal="center")
UNLOCKED = Protection(locked=False)
LOCKED = Protection(locked=True)

DATE_FORMAT = "DD/MM/YYYY"
NUMBER_FORMAT = "#,##0.00"
PERCENT_VALUE_FORMAT = '0.00" %"'   # 0-100 figures shown with a percent sign
PERCENT_FORMAT = "0.00%"            # fractions (0-1) shown as percentages

COLOR_NAMES = {"input": "giallo chiaro", "computed": "verde chiaro", "missing": "salmone"}


def write_header(ws: Worksheet, columns: Iterable[Column | str], row: int = 1) -> None:
    """The header row; a Column's width is widened to its header's longest word, so that
    headers wrap between words, and the row is as tall as the longest header needs."""
    heads: list[str] = []
    widths: list[float] = []
    # a cell's style array before -> after: assigning a style object hashes it every time;
    # kept on the workbook for its other sheets' headers (the same ids: the first header cell
    # registered the styles in the same order)
    looks: dict[bytes | None, StyleArray] = ws.parent.__dict__.setdefault("_pegxl_header_looks", {})
    for i, col in enumerate(columns, start=1):
        header = col.header if isinstance(col, Column) else col
        c: Any = ws.cell(row=row, column=i, value=header)
        key = c._style.tobytes() if c._style is not None else None
        look = looks.get(key)
        if look is not None:
            c._style = StyleArray(look)
        else:
            c.fill = HEADER_FILL
            c.font = HEADER_FONT
            c.alignment = HEADER_ALIGN
            c.border = BORDER
            looks[key] = StyleArray(c._style)
        letter = get_column_letter(i)
        if isinstance(col, Column):
            ws.column_dimensions[letter].width = paper.header_widths([header], [col.width])[0]
        heads.append(header)
        widths.append(ws.column_dimensions[letter].width or DEFAULT_WIDTH)
    ws.row_dimensions[row].height = max(32.0, paper.header_height(heads, widths))


DEFAULT_WIDTH = 13.0   # openpyxl writes no width: the programs show about 8.43 digits


def set_widths(ws: Worksheet, widths: Iterable[float]) -> None:
    for i, w in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = w


def column_widths(ws: Any, last: int | None = None) -> list[float]:
    """The widths of a sheet's columns A.. up to `last` (default: the widest set)."""
    dims = ws.column_dimensions
    if last is None:
        last = max((column_index_from_string(k) for k in dims if dims[k].width), default=0)
        if not getattr(ws.parent, "write_only", False):   # ws.max_column, in C
            last = max(last, max(map(itemgetter(1), ws._cells)) if ws._cells else 1)
    return [(dims[get_column_letter(i)].width if get_column_letter(i) in dims else None) or 8.43
            for i in range(1, last + 1)]


def print_setup(ws: Any, header_rows: str | None = "1:1", heading: paper.Heading | None = None, *,
                widths: list[float] | None = None, landscape: bool | None = None) -> paper.Layout:
    """A4, margins, orientation and scale, header and footer: paper.setup with the sheet's
    own column widths."""
    return paper.setup(ws, widths if widths is not None else column_widths(ws), heading,
                       title_rows=header_rows, landscape=landscape)


def book_heading(wb: Workbook, what: str) -> paper.Heading:
    """The page header of a sheet pegxl adds to a workbook: ente and anno from the book's
    Ente sheet (a plan) or identity sheet (a template), when it has one."""
    found: dict[str, Any] = {}
    for name in (SHEET_ENTE, SHEET_IDENTITY):
        if name in wb.sheetnames and not found:
            ws: Any = wb[name]
            for row in ws.iter_rows(max_col=2, max_row=30, values_only=True):
                if row and isinstance(row[0], str) and row[0].strip() in ("Ente", "Anno") and row[1] is not None:
                    found[row[0].strip()] = row[1]
    return paper.Heading(str(found.get("Ente") or ""), found.get("Anno"), what)


def add_list(wb: Workbook, name: str, values: Iterable[str], sheet_name: str = "_liste") -> str:
    """Put a vocabulary on a hidden sheet and return a defined name for list validations.

    Long inline lists break Excel and LibreOffice (255 characters): we never use them."""
    if sheet_name in wb.sheetnames:
        ws = wb[sheet_name]
    else:
        ws = wb.create_sheet(sheet_name)
        ws.sheet_state = "hidden"
    col = ws.max_column + 1 if ws.max_row > 1 or ws["A1"].value is not None else 1
    values = list(values)
    ws.cell(row=1, column=col, value=name)
    for r, v in enumerate(values, start=2):
        ws.cell(row=r, column=col, value=v)
    letter = get_column_letter(col)
    ref = f"'{sheet_name}'!${letter}$2:${letter}${len(values) + 1}"
    wb.defined_names[name] = DefinedName(name, attr_text=ref)
    return name


def list_validation(list_name: str, *, title: str, prompt: str, error: str, allow_blank: bool = True) -> DataValidation:
    # the file format stores the formula without "=" (Excel repairs "=name" in some versions)
    dv = DataValidation(type="list", formula1=list_name, allow_blank=allow_blank,
                        showDropDown=False, showErrorMessage=True, showInputMessage=True,
                        errorStyle="stop")
    _messages(dv, title, prompt, error)
    return dv


def decimal_validation(lo: float, hi: float, *, title: str, prompt: str, error: str) -> DataValidation:
    dv = DataValidation(type="decimal", operator="between", formula1=str(lo), formula2=str(hi),
                        allow_blank=True, showErrorMessage=True, showInputMessage=True, errorStyle="stop")
    _messages(dv, title, prompt, error)
    return dv


def date_validation(lo_serial: int, hi_serial: int, *, title: str, prompt: str, error: str) -> DataValidation:
    dv = DataValidation(type="date", operator="between", formula1=str(lo_serial), formula2=str(hi_serial),
                        allow_blank=True, showErrorMessage=True, showInputMessage=True, errorStyle="stop")
    _messages(dv, title, prompt, error)
    return dv


def text_validation(max_len: int, *, title: str, prompt: str, error: str) -> DataValidation:
    dv = DataValidation(type="textLength", operator="lessThanOrEqual", formula1=str(max_len),
                        allow_blank=True, showErrorMessage=True, showInputMessage=True, errorStyle="stop")
    _messages(dv, title, prompt, error)
    return dv


def _messages(dv: DataValidation, title: str, prompt: str, error: str) -> None:
    # Excel limits: title 32 characters, prompt and error 255.
    dv.promptTitle = title[:32]
    dv.prompt = prompt[:255]
    dv.errorTitle = title[:32]
    dv.error = error[:255]


# (wraps, font size, bold) of a cell: only a wrapped cell makes its row taller
Look = tuple[bool, float, bool]


class Lines:
    """The lines each value of a sheet takes in its cell (see fit_rows), with what one
    sheet's cells share kept: their looks by style array, the characters that surely fit
    one line of a column, a date's lines per column."""

    def __init__(self, ws: Worksheet | None, memo: dict[tuple[str, float, float, bool], int] | None = None,
                 widths: dict[str, float] | None = None):
        """The lines of `ws`'s cells, or (ws None) of values in columns of `widths`."""
        if ws is not None:
            widths = {k: (v.width or DEFAULT_WIDTH) for k, v in ws.column_dimensions.items()}
            book: Any = ws.parent
            self.alignments, self.fonts = book._alignments, book._fonts
        self.widths = widths or {}
        # style array -> look: c.alignment and c.font build objects per cell
        self.looks: dict[bytes | None, Look] = {}
        # (column, look) -> the characters that surely fit one line: most cells skip line_count
        self.short: dict[tuple[str, Look], int] = {}
        self.dates: dict[tuple[str, Look], int] = {}   # the same for dates' lines
        self.memo = memo

    def look(self, st: Any) -> Look:
        """The look of a cell's style array (None: never styled, id 0)."""
        key = st.tobytes() if st is not None else None
        look = self.looks.get(key)
        if look is None:
            font = self.fonts[st.fontId if st is not None else 0]
            look = self.looks[key] = (bool(self.alignments[st.alignmentId if st is not None else 0].wrap_text),
                                      float(font.sz or paper.DEFAULT_FONT_PT), bool(font.b))
        return look

    def count(self, v: Any, letter: str, look: Look) -> int:
        """The lines of value `v` (not None, not a formula) in a wrapped cell of column `letter`."""
        width = self.widths.get(letter, DEFAULT_WIDTH)
        if not isinstance(v, str) and isinstance(v, (dt.date, dt.datetime)):
            # every dd/mm/yyyy has the same letters' widths (digits are alike): one count
            # per column and look
            n = self.dates.get((letter, look), 0) if 1000 <= v.year else 0
            if not n:
                n = paper.line_count(v.strftime("%d/%m/%Y"), width, look[1], look[2])
                if 1000 <= v.year:
                    self.dates[letter, look] = n
            return n
        text = v if isinstance(v, str) else str(v)
        fits = self.short.get((letter, look))
        if fits is None:
            fits = self.short[letter, look] = paper.one_line_chars(width, look[1], look[2])
        if len(text) <= fits and "\n" not in text:
            return 1
        memo = self.memo
        if memo is None:
            return paper.line_count(text, width, look[1], look[2])
        mkey = (text, width, look[1], look[2])
        n = memo.get(mkey, 0)
        if not n:
            if len(memo) > 10_000:
                memo.clear()
            n = memo[mkey] = paper.line_count(*mkey)
        return n


def _cell_lines(c: Any, letter: str, lines_of: Lines) -> tuple[Look, int] | None:
    """A cell's look, if it wraps, and the lines its value takes (0: none counted, blank
    or a formula, whose result is not known here); None for a cell that never grows its row."""
    if isinstance(c, MergedCell):
        return None
    look = lines_of.look(c._style)
    if not look[0]:
        return None
    v = c._value
    if v is None or (isinstance(v, str) and c.data_type == "f" and v.startswith("=")):
        return look, 0
    return look, lines_of.count(v, letter, look)


def fit_rows(ws: Worksheet, first_row: int = 2, max_height: float = 409.0, *,
             memo: dict[tuple[str, float, float, bool], int] | None = None,
             rows: Iterable[int] | None = None,
             record: dict[int, list[tuple[int, str, Look, int]]] | None = None) -> None:
    """Row heights for wrapped text, estimated from the column widths (paper.row_height).

    LibreOffice does not recompute row heights when it opens an .xlsx written by openpyxl
    (and Excel not always): without this, long descriptions overlap the next row. `memo`
    keeps the line counts of texts a caller writes again and again (the same instructions
    in every template). `rows`: only these rows (from `first_row` on), the others as they are.
    `record`: filled with what wrapped_cells gives of the rows sized (counted once)."""
    lines_of = Lines(ws, memo)
    cells: Any = ws._cells
    # ws.max_row and ws.max_column, in C rather than a generator each
    max_row, max_col = (max(cells)[0], max(map(itemgetter(1), cells))) if cells else (1, 1)
    letters = [get_column_letter(i) for i in range(1, max_col + 1)]
    todo = range(first_row, max_row + 1) if rows is None else sorted(r for r in set(rows) if r >= first_row)
    for r in todo:
        found = []
        for col, letter in enumerate(letters, start=1):
            c = cells.get((r, col))
            if c is None:   # the empty cells iter_rows would make (rows with none are written)
                ws.cell(row=r, column=col)
                continue
            got = _cell_lines(c, letter, lines_of)
            if got is not None:
                if got[1]:
                    found.append((got[0][1], got[1]))
                if record is not None:
                    record.setdefault(r, []).append((col, letter, got[0], got[1]))
        height = fitted_height(found, max_height)
        if height is not None:
            ws.row_dimensions[r].height = height


def fitted_height(found: Iterable[tuple[float, int]], max_height: float = 409.0) -> float | None:
    """The height of a row whose wrapped cells take (font size, lines) each, in the order
    of their columns (of two that need the same height, the first counts); None: one line
    is enough (the row keeps its height)."""
    lines, size = 1, paper.DEFAULT_FONT_PT
    for sz, n in found:
        if n * sz > lines * size:
            lines, size = n, sz
    return min(max_height, paper.lines_height(lines, size)) if lines > 1 else None


def wrapped_cells(ws: Worksheet, rows: Iterable[int]) -> dict[int, list[tuple[int, str, Look, int]]]:
    """What fit_rows counts in `rows` (its `record`), for a caller that sizes them again with
    other values in some cells (pegxl.writeback): per row, in the order of the columns, each
    cell that wraps as (column, letter, look, lines of its value)."""
    lines_of = Lines(ws)
    wanted = set(rows)
    out: dict[int, list[tuple[int, str, Look, int]]] = {r: [] for r in sorted(wanted)}
    cells: Any = ws._cells
    for (r, col) in sorted(k for k in cells if k[0] in wanted):
        letter = get_column_letter(col)
        got = _cell_lines(cells[r, col], letter, lines_of)
        if got is not None:
            out[r].append((col, letter, got[0], got[1]))
    return out
