"""The printed page of every sheet pegxl writes (documents.md, "The printed page").

A4 set explicitly, margins about 1 cm, landscape where the sheet is wide; header and footer
with ente, anno, what the sheet is and "Pagina N di M"; title rows repeated; never less than
8 pt on paper (a sheet too wide spills to a second page across instead of shrinking); row
heights that fit wrapped text and column widths that let headers wrap between words.

Neither Excel nor LibreOffice recomputes the height of a row written by a library when the
file is opened, so the heights are estimated here. Widths are measured in the unit of column
widths (the width of a digit of the default font): the widths below are those of DejaVu Sans
(what LibreOffice draws for Calibri on a machine without it, the widest of the two) and of
Calibri, whichever is wider, so a row is never too short in either program.

Pure layout over openpyxl's page objects: works on normal and write-only worksheets alike.
"""
from __future__ import annotations

import functools
import math
import unicodedata
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

MIN_PAPER_PT = 8.0          # smallest text size on paper (documents.md)
DEFAULT_FONT_PT = 11.0      # Calibri 11, openpyxl's default font
A4 = "9"                    # ST_PaperSize: A4 210 x 297 mm
MARGIN_IN = 0.4             # about 1 cm (openpyxl takes inches)
TOP_MARGIN_IN = 0.6         # room for the header text above the table
HEADER_MARGIN_IN = 0.2
_A4_SHORT_PT = 595.28
_A4_LONG_PT = 841.89
# Column width w (in digits) to points at 100 %: Excel draws w * 7 px + 5 px at 96 dpi
# for Calibri 11; LibreOffice draws the same columns wider when it substitutes a wider font,
# hence the margin when deciding whether fit-to-width would keep 8 pt.
_PX_PER_DIGIT = 7.0
_PAD_PX = 5.0
_SUBSTITUTE_SLACK = 1.3     # measured: LibreOffice with DejaVu draws them 1.24-1.33 times as wide
_CELL_PAD_DIGITS = 1.0      # a cell's inner margins, in digits, both sides together
_LINE_EM = 1.3              # line height / font size (DejaVu 1.16, Calibri 1.22, plus leading)
_ROW_PAD_PT = 2.5
_BOLD = 1.1                 # bold text is about 10 % wider
_SAFETY = 1.05

# Advance widths in digits (the larger of DejaVu Sans and Calibri), for what is not 1.0.
_WIDTHS: dict[str, float] = {
    " ": 0.50, "a": 0.96, "c": 0.86, "e": 0.98, "f": 0.60, "i": 0.46, "j": 0.46, "k": 0.91,
    "l": 0.46, "m": 1.58, "n": 1.04, "o": 1.04, "r": 0.68, "s": 0.84, "t": 0.66, "v": 0.93,
    "w": 1.40, "x": 0.93, "y": 0.93, "z": 0.84,
    "A": 1.14, "B": 1.10, "C": 1.10, "D": 1.24, "E": 1.00, "F": 0.93, "G": 1.24, "H": 1.20,
    "I": 0.50, "J": 0.50, "K": 1.06, "L": 0.90, "M": 1.72, "N": 1.24, "O": 1.30, "P": 1.00,
    "Q": 1.30, "R": 1.10, "S": 1.00, "T": 1.00, "U": 1.24, "V": 1.10, "W": 1.76, "X": 1.10,
    "Y": 1.00, "Z": 1.08,
    ".": 0.52, ",": 0.52, ":": 0.55, ";": 0.55, "'": 0.45, '"': 0.75, "!": 0.62, "|": 0.52,
    "-": 0.60, "(": 0.64, ")": 0.64, "[": 0.64, "]": 0.64, "/": 0.60, "\\": 0.60,
    "%": 1.52, "&": 1.30, "+": 1.32, "=": 1.32, "<": 1.32, ">": 1.32, "_": 0.80, "°": 0.62,
    "«": 0.90, "»": 0.90, "€": 1.05, "@": 1.75, "#": 1.32, "*": 0.80, "?": 0.85,
}


def _char_width(ch: str) -> float:
    w = _WIDTHS.get(ch)
    if w is not None:
        return w
    if ch.isascii():
        return 1.0
    base = unicodedata.normalize("NFD", ch)[:1]   # è -> e
    if base and base != ch and base.isascii():
        return _WIDTHS.get(base, 1.0)
    return 1.7 if unicodedata.east_asian_width(ch) in ("W", "F") else 1.2


# every printable ASCII character and the accented letters of Italian, looked up at once
_TABLE: dict[str, float] = {ch: _char_width(ch) for ch in map(chr, range(32, 127))}
_TABLE.update({ch: _char_width(ch) for ch in "àèéìíòóùúÀÈÉÌÒÙ«»°€’‘“”–—"})
_WIDEST = max(_TABLE.values())


_TABLE_MAX = 1 << 12   # characters whose width is kept once met (×, —, ≥ in the Calcolo sheet)


def _digits(text: str) -> float:
    try:
        return sum(map(_TABLE.__getitem__, text))
    except KeyError:   # a character met for the first time
        if len(_TABLE) < _TABLE_MAX:
            for ch in set(text).difference(_TABLE):
                _TABLE[ch] = _char_width(ch)
            return sum(map(_TABLE.__getitem__, text))
        return sum(_char_width(ch) for ch in text)


_WORD_DIGITS: dict[str, float] = {}   # words come back thousands of times in a workbook


def _word_digits(word: str) -> float:
    w = _WORD_DIGITS.get(word)
    if w is None:
        if len(_WORD_DIGITS) >= 1 << 17:   # bounded: a long run never grows it without end
            _WORD_DIGITS.clear()
        w = _WORD_DIGITS[word] = _digits(word)
    return w


def text_width(text: str, size: float = DEFAULT_FONT_PT, bold: bool = False) -> float:
    """Width of one line of text, in digits of the default font (the unit of column widths)."""
    return _digits(text) * (size / DEFAULT_FONT_PT) * (_BOLD if bold else 1.0) * _SAFETY


def line_count(text: str, width: float, size: float = DEFAULT_FONT_PT, bold: bool = False) -> int:
    """Lines a wrapped cell of `width` (column width) takes, breaking between words.

    Only spaces are counted as break points (the programs may break after "-" or "/" too,
    which only gives fewer lines): the count errs on the tall side."""
    room = max(1.0, width - _CELL_PAD_DIGITS)
    scale = (size / DEFAULT_FONT_PT) * (_BOLD if bold else 1.0) * _SAFETY
    if "\n" not in text and len(text) * _WIDEST * scale <= room:
        return 1   # short enough whatever its letters: most cells
    lines = 0
    for paragraph in text.split("\n"):
        # a paragraph that fits whole is one line, as above (the Calcolo sheet's steps)
        if len(paragraph) * _WIDEST * scale <= room:
            lines += 1
            continue
        lines += _paragraph_lines(paragraph, room, scale)
    return lines


# kept once counted: the same steps come back in every settore's rows (the Calcolo sheet)
@functools.lru_cache(maxsize=1 << 14)
def _paragraph_lines(paragraph: str, room: float, scale: float) -> int:
    """line_count of one paragraph (no line break), `room` and `scale` as it makes them."""
    # the whole paragraph fits (with a margin far above the rounding of the sums below, which
    # add the same widths word by word): one line, as the loop would find
    if _digits(paragraph) * scale <= room - 1e-6:
        return 1
    space = _TABLE[" "] * scale
    lines = 1
    used = 0.0
    for word in paragraph.split(" "):
        w = _word_digits(word) * scale
        if used and used + space + w <= room:
            used += space + w
            continue
        if used:   # the word goes to the next line
            lines += 1
        if w > room:   # a word longer than the line is cut where it reaches the edge
            extra = math.ceil(w / room) - 1
            lines += extra
            w -= extra * room
        used = w
    return lines


def one_line_chars(width: float, size: float = DEFAULT_FONT_PT, bold: bool = False) -> int:
    """The longest text (in characters, without a line break) that line_count puts on one
    line whatever its letters: a caller with many short cells skips line_count for them."""
    room = max(1.0, width - _CELL_PAD_DIGITS)
    scale = (size / DEFAULT_FONT_PT) * (_BOLD if bold else 1.0) * _SAFETY
    n = int(room / (_WIDEST * scale))
    # line_count's own test, evaluated alike, decides the boundary
    while (n + 1) * _WIDEST * scale <= room:
        n += 1
    while n > 0 and n * _WIDEST * scale > room:
        n -= 1
    return n


def lines_height(lines: int, size: float = DEFAULT_FONT_PT) -> float:
    """Row height in points for `lines` lines of text at `size` points."""
    return round(lines * size * _LINE_EM + _ROW_PAD_PT, 1)


def row_height(cells: Iterable[tuple[str, float]], size: float = DEFAULT_FONT_PT,
               bold: bool = False, max_height: float = 409.0) -> float | None:
    """The height that fits every (text, column width) of a row with wrapped text, or None
    when one line is enough (the default height)."""
    lines = max((line_count(t, w, size, bold) for t, w in cells if t), default=1)
    if lines <= 1:
        return None
    return min(max_height, lines_height(lines, size))   # 409 pt: Excel's largest row


def word_width(text: str, size: float = DEFAULT_FONT_PT, bold: bool = True) -> float:
    """The column width that holds the longest word of `text` on one line."""
    longest = max((text_width(w, size, bold) for w in text.split()), default=0.0)
    return math.ceil((longest + _CELL_PAD_DIGITS) * 4) / 4


def header_widths(headers: Sequence[str], widths: Sequence[float],
                  size: float = DEFAULT_FONT_PT, bold: bool = True) -> list[float]:
    """Column widths at least as wide as each header's longest word, so that headers wrap
    between words ("Raggiungimento %", never "Raggiungime|nto %")."""
    return list(_header_widths(tuple(headers), tuple(widths), size, bold))


def header_height(headers: Sequence[str], widths: Sequence[float],
                  size: float = DEFAULT_FONT_PT, bold: bool = True) -> float:
    """The height of a header row whose headers wrap at `widths` (at least two lines)."""
    return _header_height(tuple(headers), tuple(widths), size, bold)


# the same few headers in every workbook of a kind (a thousand templates): measured once
@functools.lru_cache(maxsize=4096)
def _header_widths(headers: tuple[str, ...], widths: tuple[float, ...], size: float,
                   bold: bool) -> tuple[float, ...]:
    return tuple(max(w, word_width(h, size, bold)) for h, w in zip(headers, widths))


@functools.lru_cache(maxsize=4096)
def _header_height(headers: tuple[str, ...], widths: tuple[float, ...], size: float, bold: bool) -> float:
    lines = max((line_count(h, w, size, bold) for h, w in zip(headers, widths)), default=1)
    return lines_height(max(2, lines), size)


def column_points(width: float) -> float:
    """Width in points of a column `width` digits wide, at 100 %."""
    return (width * _PX_PER_DIGIT + _PAD_PX) * 0.75


@dataclass(frozen=True)
class Layout:
    """How a sheet goes on paper: orientation, and either fit to one page wide or a scale."""
    landscape: bool
    fit_width: bool      # one page wide, the program picks the scale (always >= min_scale)
    scale: int           # percent, used when not fit_width

    def smallest_pt(self, font_size: float = DEFAULT_FONT_PT) -> float:
        return font_size * self.scale / 100


def printable_points(landscape: bool) -> float:
    return (_A4_LONG_PT if landscape else _A4_SHORT_PT) - 2 * MARGIN_IN * 72


def plan_layout(widths: Sequence[float], font_size: float = DEFAULT_FONT_PT,
                landscape: bool | None = None) -> Layout:
    """Orientation and scale for columns of `widths` whose smallest text is `font_size`.

    Portrait if the columns fit across a portrait page at 100 %, else landscape; fit to one
    page wide while the scale keeps the text at 8 pt or more even in LibreOffice's wider
    columns, otherwise the scale that fits (never under 8 pt) and more pages across."""
    total = sum(column_points(w) for w in widths)
    if landscape is None:
        landscape = total > printable_points(False)
    room = printable_points(landscape)
    min_scale = MIN_PAPER_PT / font_size
    fit = room / max(total, 1.0)
    # fit to width also when the columns fit at 100 %: the same columns are wider where
    # LibreOffice draws Calibri with a wider font, and would spill to a second page
    if min(1.0, fit) / _SUBSTITUTE_SLACK >= min_scale:
        return Layout(landscape, fit_width=True, scale=100)
    scale = max(math.ceil(min_scale * 100), min(100, math.floor(fit * 100)))
    return Layout(landscape, fit_width=False, scale=scale)


def escape(text: str) -> str:
    """Text for a header or footer: "&" starts a field code there, "&&" prints one."""
    return text.replace("&", "&&")


@dataclass(frozen=True)
class Heading:
    """What the header and footer of every page say."""
    ente: str
    anno: int | str | None
    what: str            # the settore, "Consolidato per l'OIV", "Piano"...

    def header_left(self) -> str:
        return escape(self.ente)

    def header_right(self) -> str:
        """What the sheet is and the year, on the right: a centre field would collide with
        a long ente name on a portrait page."""
        year = f"Anno {self.anno}" if self.anno not in (None, "") else ""
        return escape(" – ".join(p for p in (self.what, year) if p))


PAGE_OF = "Pagina &P di &N"
SHEET_NAME = "&A"
# header and footer text, points: it shrinks with the sheet's scale in LibreOffice (which
# ignores scaleWithDoc), and the smallest scale keeps 11 pt at 8 pt
_HEADER_SIZE = DEFAULT_FONT_PT


def _put(item: Any, text: str) -> None:
    item.text = text
    item.size = _HEADER_SIZE


def setup(ws: Any, widths: Sequence[float], heading: Heading | None, *,
          title_rows: str | None = "1:1", title_cols: str | None = None,
          font_size: float = DEFAULT_FONT_PT, landscape: bool | None = None,
          print_area: str | None = None) -> Layout:
    """Page setup of a normal or write-only worksheet (call it before the first row of a
    write-only one): A4, margins, orientation and scale from `plan_layout`, header and footer,
    title rows and columns repeated on every page."""
    layout = plan_layout(widths, font_size, landscape)
    ps = ws.page_setup
    ps.paperSize = A4
    ps.orientation = "landscape" if layout.landscape else "portrait"
    pr = ws.sheet_properties.pageSetUpPr
    if layout.fit_width:
        ps.fitToWidth = 1
        ps.fitToHeight = 0
        ps.scale = None
        if pr is not None:
            pr.fitToPage = True
    else:
        ps.fitToWidth = None
        ps.fitToHeight = None
        ps.scale = layout.scale
        if pr is not None:
            pr.fitToPage = False
    m = ws.page_margins
    m.left = m.right = MARGIN_IN
    m.top = m.bottom = TOP_MARGIN_IN
    m.header = m.footer = HEADER_MARGIN_IN
    ws.print_options.gridLines = False
    if title_rows:
        ws.print_title_rows = title_rows
    if title_cols:
        ws.print_title_cols = title_cols
    if print_area:
        ws.print_area = print_area
    if heading is not None:
        _put(ws.oddHeader.left, heading.header_left())
        _put(ws.oddHeader.right, heading.header_right())
    _put(ws.oddFooter.left, SHEET_NAME)
    _put(ws.oddFooter.right, PAGE_OF)
    ws.HeaderFooter.scaleWithDoc = False   # Excel: the header keeps its size on a scaled page
    return layout
