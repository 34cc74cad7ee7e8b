"""Reading workbooks safely and fast: the file checks, then values by header name.

Values come from python-calamine (xlsx, xlsm, ods; no styles, an order of magnitude
faster than openpyxl). Every hostile or broken file becomes a coded finding, never a
traceback: see `sniff`.
"""
from __future__ import annotations

import datetime as dt
import difflib
import functools
import os
import re
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator
from xml.etree import ElementTree as ET

import pandas as pd

from ..errors import ErrorCode, Finding, PegxlError, finding, os_detail
from .contract import TableSpec, norm_header
from .parts import sheet_parts

# A filled template is a few hundred KB; a plan for a large ente a few MB.
MAX_UNCOMPRESSED = 200 * 1024 * 1024
MAX_RATIO = 200
MAX_ROWS = 50_000
TESTZIP_MAX_BYTES = 5 * 1024 * 1024   # the checksum of every part is tested below this size

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"
SPREADSHEET_SUFFIXES = (".xlsx", ".xlsm", ".ods")


def col_letter(index: int) -> str:
    """0-based column index -> Excel letters."""
    s = ""
    index += 1
    while index:
        index, r = divmod(index - 1, 26)
        s = chr(65 + r) + s
    return s


def cell_ref(row0: int, col0: int) -> str:
    return f"{col_letter(col0)}{row0 + 1}"


def sniff(path: str | os.PathLike[str], *, max_uncompressed: int = MAX_UNCOMPRESSED,
          test: bool = True) -> list[Finding]:
    """Check a file is a spreadsheet we may open: exists, not empty, not .xls, not
    encrypted, a sound zip (or ods) that does not inflate past `max_uncompressed`.
    Returns blocking findings (empty list: go ahead). `test=False` leaves out the
    check of every part's checksum, for a caller that reads every part anyway (and
    calls sniff again, with it, when a part cannot be read)."""
    p = Path(path)
    name = str(path)
    try:
        st = os.stat(p)
        special = special_kind(st.st_mode)
        if special:
            # a FIFO or a device blocks (or does something) when opened: never opened
            return [finding(ErrorCode.F011, file=name, value=p.name, detail=special)]
        size = st.st_size
        head = _read_head(p)
    except _NotRegular as exc:
        return [finding(ErrorCode.F011, file=name, value=p.name, detail=str(exc))]
    except OSError as exc:
        return [finding(ErrorCode.F001, file=name, detail=os_detail(exc))]
    if size == 0:
        return [finding(ErrorCode.F009, file=name)]
    if head.startswith(OLE_MAGIC):
        if _is_encrypted_ole(p):
            return [finding(ErrorCode.F004, file=name)]
        return [finding(ErrorCode.F005, file=name)]
    if not head.startswith(ZIP_MAGIC):
        suffix = p.suffix.lower()
        if head.startswith(b"%PDF") or head[:5].lower() in (b"<html", b"<!doc") or _looks_like_text(head):
            # a PDF, web page or text file renamed .xlsx is not a damaged workbook: say what it is
            return [finding(ErrorCode.F002, file=name, detail=_describe(head, suffix))]
        if suffix in SPREADSHEET_SUFFIXES:
            return [finding(ErrorCode.F003, file=name)]
        return [finding(ErrorCode.F002, file=name, detail=_describe(head, suffix))]
    try:
        with zipfile.ZipFile(p) as zf:
            infos = zf.infolist()
            total = sum(i.file_size for i in infos)
            names = {i.filename for i in infos}
            if total > max_uncompressed or (size and total / size > MAX_RATIO and total > 20 * 1024 * 1024):
                return [finding(ErrorCode.F006, file=name,
                                detail=f"{max_uncompressed // (1024 * 1024)} MB")]
            bad = zf.testzip() if test and size < TESTZIP_MAX_BYTES else None
            if bad:
                return [finding(ErrorCode.F003, file=name)]
    except zipfile.BadZipFile:
        return [finding(ErrorCode.F003, file=name)]
    except (OSError, RuntimeError, NotImplementedError) as exc:
        return [finding(ErrorCode.F003, file=name, detail=str(exc))]
    if "xl/workbook.xml" not in names and "content.xml" not in names:
        if "xl/workbook.bin" in names:
            return [finding(ErrorCode.F002, file=name, detail="è una cartella di lavoro binaria di Excel, .xlsb")]
        if "word/document.xml" in names or "ppt/presentation.xml" in names:
            what = "Word" if "word/document.xml" in names else "PowerPoint"
            return [finding(ErrorCode.F002, file=name, detail=f"è un documento {what}")]
        return [finding(ErrorCode.F002, file=name, detail="archivio zip senza fogli di calcolo")]
    return []


class _NotRegular(OSError):
    pass


def special_kind(mode: int) -> str | None:
    """What a file that is not a regular file is, in Italian (None for a regular file)."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "è una cartella"
    if stat.S_ISFIFO(mode):
        return "è una pipe FIFO"
    if stat.S_ISSOCK(mode):
        return "è un socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "è un dispositivo"
    return "non è un file ordinario"


def _read_head(p: Path) -> bytes:
    """The first bytes of a file checked regular by stat; opened without blocking and
    checked again on the descriptor, in case it was swapped for a FIFO in between."""
    fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        kind = special_kind(os.fstat(fd).st_mode)
        if kind:
            raise _NotRegular(kind)
        with os.fdopen(fd, "rb", closefd=False) as fh:
            return fh.read(2048)
    finally:
        os.close(fd)


def external_links(path: str | os.PathLike[str]) -> bool:
    """True when an xlsx carries external links (which we never follow)."""
    try:
        with zipfile.ZipFile(path) as zf:
            return any(n.startswith("xl/externalLinks/") for n in zf.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def _is_encrypted_ole(p: Path) -> bool:
    try:
        import msoffcrypto
        with open(p, "rb") as fh:
            return bool(msoffcrypto.OfficeFile(fh).is_encrypted())
    except Exception:  # an OLE that msoffcrypto cannot parse is an old .xls at best
        try:
            with open(p, "rb") as fh:
                data = fh.read(1 << 20)
            return b"E\x00n\x00c\x00r\x00y\x00p\x00t\x00e\x00d\x00P\x00a\x00c\x00k\x00a\x00g\x00e" in data
        except OSError:
            return False


def _looks_like_text(head: bytes) -> bool:
    """True for a sample of plain text (UTF-8 or Latin-1, no NUL, printable)."""
    if not head or b"\x00" in head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # a multi-byte character cut at the end of the sample is still UTF-8 text
        text = head[:exc.start].decode("utf-8") if exc.start >= len(head) - 3 else head.decode("latin-1")
    printable = sum(1 for ch in text if ch.isprintable() or ch in "\r\n\t")
    return printable >= 0.95 * len(text)


def _describe(head: bytes, suffix: str) -> str:
    if head.startswith(b"%PDF"):
        return "è un PDF"
    if head[:5].lower() in (b"<html", b"<!doc"):
        return "è una pagina HTML"
    if suffix in (".csv", ".txt") or _looks_like_text(head):
        return "è un file di testo"
    return f"formato non riconosciuto ({suffix or 'senza estensione'})"


@dataclass
class Sheet:
    """Values of one sheet as a grid of Python values (None for empty), 0-based."""

    name: str
    rows: list[list[Any]]
    visible: bool = True
    merged: list[tuple[int, int, int, int]] = field(default_factory=list)  # (row0, col0, row1, col1)

    def merged_anchor(self, row0: int, col0: int) -> tuple[int, int] | None:
        """(row0, col0) of the top-left cell of the merge that covers this cell (not its
        anchor itself), or None: Excel keeps the value of a merge in its first cell only."""
        for r0, c0, r1, c1 in self.merged:
            if r0 <= row0 <= r1 and c0 <= col0 <= c1 and (row0, col0) != (r0, c0):
                return r0, c0
        return None

    @property
    def nrows(self) -> int:
        return len(self.rows)


@dataclass
class RawBook:
    path: str
    sheets: dict[str, Sheet] = field(default_factory=dict)
    # A1 cells with a real percent format, by sheet (filled where styles matter: the plan)
    percent_cells: dict[str, set[str]] = field(default_factory=dict)

    def sheet(self, name: str) -> Sheet | None:
        """Sheet by name, case-insensitively."""
        if name in self.sheets:
            return self.sheets[name]
        key = norm_header(name)
        for n, s in self.sheets.items():
            if norm_header(n) == key:
                return s
        return None


# calamine builds a dense grid from A1 to the last cell: a lone cell at XFD1048576 asks
# for half a terabyte and aborts the process. Sheets are measured in the XML first.
MAX_CELLS = 5_000_000
# A cell counts when it holds something: a value, a formula or inline text. Rows and
# styled empty cells do not -- LibreOffice writes an empty <row r="1048576"/> after a row
# is inserted and deleted, and a column formatted to its end gives <c r="XFD5" s="3"/>.
# The reference (letters, digits) of every cell with content, for one findall per chunk:
# not self-closing, its first child a value, formula or inline text.
_FILLED_REF_RE = re.compile(
    rb'<(?:\w+:)?c\b[^>]*?\br="([A-Z]{1,3})([0-9]{1,9})"[^>]*?(?<!/)>\s*<(?:\w+:)?(?:v|f|is)\b')
_A1_PARTS = re.compile(rb"([A-Z]{0,3})([0-9]{1,9})")


@functools.lru_cache(maxsize=8)
def _big_ref_re(row_digits: int) -> re.Pattern[bytes]:
    """Every reference (cell or row, filled or not, and any attribute ending in r that
    looks like one) past column Z or with `row_digits` digits or more: in a sheet of
    ordinary size none, so a bound above the extents is found without a match per cell."""
    return re.compile(rb'r="([A-Z]{2,3}[0-9]{1,9}|[A-Z]{0,3}[0-9]{%d,9})"' % row_digits)


def sheet_bound(data: bytes, row_digits: int = 4) -> tuple[int, int]:
    """A bound above the (last row, last column) of a worksheet's XML, as
    `xlsx_extents(bound=True)` finds it, for XML already in memory: at least
    (10**(row_digits-1) - 1, 26), the references beyond those measured."""
    max_row, max_col = 10 ** (row_digits - 1) - 1, 26
    refs = [m.groups() for m in map(_A1_PARTS.fullmatch, _big_ref_re(row_digits).findall(data)) if m]
    if refs:
        max_row = max(max_row, max(map(int, {r for _, r in refs})))
        max_col = max(max_col, max(map(_col_number, {c for c, _ in refs})))
    return max_row, max_col


def xlsx_extents(path: str | os.PathLike[str], *, bound: bool = False,
                 max_rows: int = MAX_ROWS) -> dict[str, tuple[int, int]]:
    """Sheet name -> (last row, last column) holding content, 1-based, from the cells of
    the worksheet XML (streamed; not the <dimension> element, which a file may leave out
    or get wrong, nor empty rows and styled empty cells). Empty for a file that is not an
    xlsx. `bound`: a quicker bound above them from every reference: at least column Z and
    the largest number of fewer digits than `max_rows` (9,999 for 50,000), which pass the
    limits; the references beyond those are measured."""
    row_digits = len(str(max(max_rows, 10)))
    floor = (10 ** (row_digits - 1) - 1, 26)
    pattern = _big_ref_re(row_digits) if bound else _FILLED_REF_RE
    out: dict[str, tuple[int, int]] = {}
    with zipfile.ZipFile(path) as zf:
        for sheet_name, part in sheet_parts(zf).items():
            max_row, max_col = floor if bound else (0, 0)
            tail = b""
            with zf.open(part) as fh:
                while True:
                    chunk = fh.read(1 << 20)
                    data = tail + chunk
                    # a cell cut at the chunk's end is read again with the next chunk: cut
                    # after the last complete row, or before the last cell of a long row
                    cut = len(data) if not chunk else _safe_cut(data)
                    refs = pattern.findall(data, 0, cut)
                    if refs and bound:
                        refs = [m.groups() for m in map(_A1_PARTS.fullmatch, refs) if m]
                    if refs:
                        # one pass per chunk: the largest row number, the columns seen once each
                        max_row = max(max_row, max(map(int, {r for _, r in refs})))
                        max_col = max(max_col, max(map(_col_number, {c for c, _ in refs})))
                    if not chunk:
                        break
                    tail = data[cut:]
            out[sheet_name] = (max_row, max_col)
    return out


_ROW_END = re.compile(rb"</(?:\w+:)?row>")
_CELL_START = re.compile(rb"<(?:\w+:)?c\b")


def _safe_cut(data: bytes) -> int:
    end = data.rfind(b"row>")
    if end >= 0 and _ROW_END.match(data, data.rfind(b"</", 0, end + 4)):
        return end + 4
    last = None
    for m in _CELL_START.finditer(data, max(0, len(data) - (1 << 16))):
        last = m
    return last.start() if last else len(data)


_ODS_TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
_ODS_OFFICE = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"


def ods_extents(path: str | os.PathLike[str]) -> dict[str, tuple[int, int]]:
    """Sheet name -> (last row, last column) holding content, 1-based, of an .ods, counting
    the `number-rows-repeated` / `number-columns-repeated` of cells with content: a few KB
    of content.xml can repeat one value over a hundred million cells, which calamine would
    build in memory. Streamed; empty for a file that is not an .ods."""
    out: dict[str, tuple[int, int]] = {}
    tq, oq = _ODS_TABLE, _ODS_OFFICE
    with zipfile.ZipFile(path) as zf:
        if "content.xml" not in zf.namelist():
            return out
        name, row, col, row_last_col = None, 0, 0, 0
        max_row = max_col = 0
        with zf.open("content.xml") as fh:
            for event, el in ET.iterparse(fh, events=("start", "end")):
                tag = el.tag
                if event == "start":
                    if tag == tq + "table":
                        name, row, max_row, max_col = el.get(tq + "name", ""), 0, 0, 0
                    elif tag == tq + "table-row":
                        col, row_last_col = 0, 0
                    continue
                if tag in (tq + "table-cell", tq + "covered-table-cell"):
                    rep = _repeat(el.get(tq + "number-columns-repeated"))
                    if el.get(oq + "value-type") or el.get(tq + "formula") or len(el):
                        row_last_col = col + rep
                    col += rep
                elif tag == tq + "table-row":
                    rep = _repeat(el.get(tq + "number-rows-repeated"))
                    if row_last_col:
                        max_row, max_col = row + rep, max(max_col, row_last_col)
                    row += rep
                    el.clear()
                elif tag == tq + "table":
                    if name is not None:
                        out[name] = (max_row, max_col)
                    name = None
                    el.clear()
    return out


def _repeat(value: str | None) -> int:
    try:
        return max(1, int(value)) if value else 1
    except ValueError:
        return 1


def _col_number(letters: bytes) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + (ch - 64)
    return n


def _check_extents(path: str | os.PathLike[str], name: str, max_rows: int,
                   sheets: list[str] | None, bound: dict[str, tuple[int, int]] | None = None) -> None:
    try:
        # the quick bound first (given by a caller that measured the sheets' XML already):
        # only a sheet that may be too large is measured exactly
        if not bound:
            bound = xlsx_extents(path, bound=True, max_rows=max_rows)
        if bound and _too_large(bound, name, max_rows, sheets) is None:
            return
        extents = (xlsx_extents(path) if bound else None) or ods_extents(path)
    except (zipfile.BadZipFile, OSError, RuntimeError, ValueError, SyntaxError) as exc:
        raise PegxlError(finding(ErrorCode.F002, file=name, detail=f"struttura interna non leggibile: {str(exc)[:120]}")) from exc
    problem = _too_large(extents, name, max_rows, sheets)
    if problem is not None:
        raise PegxlError(problem)


def _too_large(extents: dict[str, tuple[int, int]], name: str, max_rows: int,
               sheets: list[str] | None) -> Finding | None:
    wanted = {norm_header(s) for s in sheets} if sheets is not None else None
    for sname, (rows, cols) in extents.items():
        if wanted is not None and norm_header(sname) not in wanted:
            continue
        if rows > max_rows:
            return finding(ErrorCode.F007, file=name, sheet=sname, detail=rows)
        if rows * max(cols, 1) > MAX_CELLS:
            return finding(ErrorCode.F006, file=name, sheet=sname,
                           detail=f"{MAX_CELLS:,} celle (il foglio «{sname}» arriva alla "
                                  f"cella {col_letter(cols - 1)}{rows})".replace(",", "."))
    return None


def read_values(path: str | os.PathLike[str], *, sheets: list[str] | None = None,
                max_rows: int = MAX_ROWS, sniffed: bool = False,
                bound: dict[str, tuple[int, int]] | None = None,
                load: Iterable[str] | None = None, kind: str | None = None,
                max_uncompressed: int = MAX_UNCOMPRESSED) -> RawBook:
    """Values of a workbook (xlsx, xlsm, ods), after `sniff` (skipped when the caller
    already did it: `sniffed`). Raises PegxlError on a bad file. A caller that has read
    the sheets' XML already gives their `bound` (`sheet_bound`): they are not read again
    to be measured. `load`: the only sheets whose values are read; unlike `sheets`, the
    others are still measured (a sheet too large is refused all the same). `kind`: "xlsx"
    or "ods" when the caller has looked inside the package already. `max_uncompressed`:
    sniff's limit (larger for a workbook expected large, the consolidated of a large plan)."""
    if not sniffed:
        problems = sniff(path, max_uncompressed=max_uncompressed)
        if problems:
            raise PegxlError(problems)
    name = str(path)
    _check_extents(path, name, max_rows, sheets, bound)
    wb = _open_book(path, kind)
    book = RawBook(name)
    try:
        meta = {m.name: m for m in wb.sheets_metadata}
        loaded = {norm_header(s) for s in load} if load is not None else None
        for sname in wb.sheet_names:
            if sheets is not None and norm_header(sname) not in {norm_header(s) for s in sheets}:
                continue
            if loaded is not None and norm_header(sname) not in loaded:
                continue
            ws = _sheet_of(wb, name, sname, max_rows)
            rows: list[list[Any]] = ws.to_python(skip_empty_area=False, nrows=max_rows + 1)
            for i, row in enumerate(rows):   # a row replacing the other: never two copies of a large sheet
                rows[i] = _typed(row)
            visible = True
            m = meta.get(sname)
            if m is not None and "Visible" not in str(m.visible):
                visible = False
            merged = []
            try:
                for (r0, c0), (r1, c1) in (ws.merged_cell_ranges or []):
                    merged.append((int(r0), int(c0), int(r1), int(c1)))
            except Exception:   # not every format reports merges (ods): nothing to add
                merged = []
            book.sheets[sname] = Sheet(sname, rows, visible, merged)
    finally:
        try:
            wb.close()
        except Exception:
            pass
    return book


def _open_book(path: str | os.PathLike[str], kind: str | None = None) -> Any:
    """The calamine workbook of `path` (`kind`: see read_values); PegxlError F002 when it
    cannot be opened."""
    from python_calamine import CalamineWorkbook
    try:
        if (kind or _content_kind(path)) != _suffix_kind(path):
            # an .xlsx saved or renamed as .ods (or the reverse), as mail clients and hurried
            # renames do: calamine picks its reader by the extension, so it is given the
            # bytes and picks by the content
            with open(path, "rb") as fh:
                return CalamineWorkbook.from_filelike(fh)
        return CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine raises several types for broken content
        raise PegxlError(finding(ErrorCode.F002, file=str(path), detail=str(exc)[:200])) from exc


def _sheet_of(wb: Any, name: str, sheet: str, max_rows: int) -> Any:
    """Sheet `sheet` of calamine workbook `wb` (of file `name`); PegxlError F002 when its
    XML is broken, F007 when it has more than `max_rows` rows."""
    try:
        ws = wb.get_sheet_by_name(sheet)
    except Exception as exc:  # broken sheet XML: a coded finding, never a traceback
        raise PegxlError(finding(ErrorCode.F002, file=name, sheet=sheet,
                                 detail=f"foglio «{sheet}» non leggibile: {str(exc)[:160]}")) from exc
    n_rows = (ws.end[0] + 1) if ws.end else 0
    if n_rows > max_rows:
        raise PegxlError(finding(ErrorCode.F007, file=name, sheet=sheet, detail=n_rows))
    return ws


def _typed(row: list[Any]) -> list[Any]:
    """A row's cells as read_values gives them: text, dates and numbers (nearly every cell)
    typed without a call per cell."""
    return [(v or None) if (t := type(v)) is str else v if t is _DATE
            else (int(v) if v.is_integer() and -_EXACT < v < _EXACT else v) if t is float
            else _clean(v) for v in row]


def iter_sheet_rows(path: str | os.PathLike[str], sheet: str, *, max_rows: int = MAX_ROWS,
                    bound: dict[str, tuple[int, int]] | None = None,
                    max_uncompressed: int = MAX_UNCOMPRESSED) -> Iterator[list[Any]]:
    """The rows of one sheet of `path` from A1, as read_values gives them, one at a time:
    a caller that keeps a few columns of a large sheet never holds all of it in Python
    (calamine still reads its cells at once). Nothing when the sheet is not there;
    PegxlError as read_values. `max_uncompressed`: sniff's limit (a file pegxl has just
    written itself may be larger than one that came from outside)."""
    problems = sniff(path, max_uncompressed=max_uncompressed)
    if problems:
        raise PegxlError(problems)
    name = str(path)
    _check_extents(path, name, max_rows, [sheet], bound)
    wb = _open_book(path)
    try:
        found = next((s for s in wb.sheet_names if norm_header(s) == norm_header(sheet)), None)
        if found is None:
            return
        ws = _sheet_of(wb, name, found, max_rows)
        if tuple(ws.start or (0, 0)) != (0, 0):   # not from A1: read_values's grid is
            yield from (_typed(r) for r in ws.to_python(skip_empty_area=False, nrows=max_rows + 1))
            return
        for r in ws.iter_rows():
            yield _typed(r)
    finally:
        try:
            wb.close()
        except Exception:
            pass


def _content_kind(path: str | os.PathLike[str]) -> str | None:
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
    except (zipfile.BadZipFile, OSError):
        return None
    if "xl/workbook.xml" in names:
        return "xlsx"
    if "content.xml" in names:
        return "ods"
    return None


def _suffix_kind(path: str | os.PathLike[str]) -> str | None:
    return {".xlsx": "xlsx", ".xlsm": "xlsx", ".ods": "ods"}.get(Path(path).suffix.lower())


_DATE = dt.date
_EXACT = 2.0 ** 53   # a float larger than this is not an exact integer: kept as it is


def _clean(v: Any) -> Any:
    if v == "":
        return None
    if isinstance(v, float) and v.is_integer() and abs(v) < 2**53:
        return int(v)
    if isinstance(v, dt.datetime) and v.time() == dt.time(0):
        return v.date()
    return v


def _lookalike(wanted: str, header: list[Any], known: set[str]) -> int | None:
    """0-based index of the unknown header that looks most like `wanted` (did you mean?)."""
    candidates = [(i, str(h)) for i, h in enumerate(header)
                  if h is not None and norm_header(h) and norm_header(h) not in known]
    if not candidates:
        return None
    names = [h for _, h in candidates]
    close = difflib.get_close_matches(wanted, names, n=1, cutoff=0.6)
    if close:
        return candidates[names.index(close[0])][0]
    lowered = [norm_header(h) for h in names]
    close = difflib.get_close_matches(norm_header(wanted), lowered, n=1, cutoff=0.6)
    if close:
        return candidates[lowered.index(close[0])][0]
    return None


def _header_row_below(rows: list[list[Any]], known: set[str], look: int = 5) -> int | None:
    """1-based row (2..look+1) holding most of the headers, when row 1 holds few of them."""
    def hits(row: list[Any]) -> int:
        return len({norm_header(h) for h in row if h is not None} & known)
    if not rows or not known or hits(rows[0]) * 2 >= len(known):
        return None
    for r, row in enumerate(rows[1:look + 1], start=2):
        if hits(row) * 2 >= len(known):
            return r
    return None


def blank_row(row: list[Any]) -> bool:
    """A row with nothing in it (None or blank text in every cell), as tables drop them."""
    first = row[0] if row else None
    # most rows have a code in their first cell: not blank without looking further
    return (first is None or (type(first) is str and not first.strip())) and all(
        v is None or (isinstance(v, str) and not v.strip()) for v in row)


def records(df: pd.DataFrame) -> list[dict[Any, Any]]:
    """`df.to_dict("records")` built a column at a time (values as Python objects, as
    pandas gives them): several times quicker on the thousands of rows of many files."""
    return list(iter_records(df))


def table_chunks(source: Any, name: str, files: Iterable[str] | None = None,
                 columns: Iterable[str] | None = None) -> Iterator[pd.DataFrame]:
    """Table `name` of `source`, only the rows of `files`, no empty one: by `source.chunks`
    (a merge's Validation, from disk a batch of files at a time) or its attribute whole."""
    if hasattr(source, "chunks"):
        return iter(source.chunks(name, files, columns))
    df = getattr(source, name, None)
    if not isinstance(df, pd.DataFrame) or df.empty:
        return iter(())
    if files is not None and "file" in df.columns:
        df = df[df["file"].isin(set(files))]
    return iter([df] if len(df) else [])


def iter_records(df: pd.DataFrame, columns: Iterable[str] | None = None) -> Iterator[dict[Any, Any]]:
    """`records(df)` one dict at a time, of `columns` only (those `df` has) when given: a
    table of 1,000 settori's rows as dicts all at once is hundreds of megabytes, and its
    columns as lists tens (they are taken RECORDS_AT_ONCE rows at a time)."""
    by_position = columns is None and not df.columns.is_unique
    keys = list(df.columns) if columns is None else [c for c in dict.fromkeys(columns) if c in df.columns]
    if not keys:
        return iter([{} for _ in range(len(df))])
    return _records(df, keys, by_position)


RECORDS_AT_ONCE = 8192


def _records(df: pd.DataFrame, keys: list[Any], by_position: bool) -> Iterator[dict[Any, Any]]:
    for start in range(0, len(df), RECORDS_AT_ONCE):
        part = df.iloc[start:start + RECORDS_AT_ONCE]
        lists = ([part.iloc[:, i].tolist() for i in range(len(keys))] if by_position
                 else [part[k].tolist() for k in keys])
        yield from (dict(zip(keys, values)) for values in zip(*lists))


def column_lists(df: pd.DataFrame) -> tuple[list[Any], list[list[Any]]]:
    """The column names of `df` and each column as a list of Python objects: what
    `records` builds its dicts from (a caller that needs few of the rows builds those)."""
    keys = list(df.columns)
    if df.columns.is_unique:   # a column by its name: quicker than by position
        return keys, [df[k].tolist() for k in keys]
    return keys, [df.iloc[:, i].tolist() for i in range(len(keys))]


@dataclass
class Table:
    """A sheet read as a table: `data` has one list of cells per known field plus `xlrow`
    (1-based Excel row), `df` the same as a frame (built when first asked: many readers
    need the lists only); `cols` maps field -> 0-based column index; `extra` lists unknown
    headers."""

    sheet: str
    data: dict[str, list[Any]]
    cols: dict[str, int]
    header_row: int = 0
    extra: list[str] = field(default_factory=list)

    @functools.cached_property
    def df(self) -> pd.DataFrame:
        frame: pd.DataFrame = pd.DataFrame(self.data, columns=list(self.data), dtype=object)
        return frame

    def records(self) -> list[dict[str, Any]]:
        """One dict per row (as `df.to_dict("records")`), straight from the lists."""
        keys = list(self.data)
        return [dict(zip(keys, values)) for values in zip(*self.data.values())]

    def cell(self, excel_row: int, field_name: str) -> str | None:
        c = self.cols.get(field_name)
        if c is None:
            return None
        return f"{col_letter(c)}{excel_row}"


def read_table(sheet: Sheet, spec: TableSpec, *, file: str | None = None,
               required_fields: tuple[str, ...] | None = None,
               header_row: int = 0) -> tuple[Table, list[Finding]]:
    """Find the headers of `spec` on the first row (by name, any case), or on row
    `header_row` + 1 below a title block, and return a Table.

    Missing required columns are findings P002 with a did-you-mean suggestion. Rows that
    are entirely empty are dropped."""
    findings: list[Finding] = []
    rows = sheet.rows[header_row:]
    header = rows[0] if rows else []
    by_norm: dict[str, int] = {}
    for i, h in enumerate(header):
        key = norm_header(h)
        if key and key not in by_norm:
            by_norm[key] = i
    cols: dict[str, int] = {}
    known = {norm_header(c.header) for c in spec.columns}
    required = required_fields if required_fields is not None else tuple(
        c.field for c in spec.columns if c.required)
    for col in spec.columns:
        idx = by_norm.get(norm_header(col.header))
        if idx is not None:
            cols[col.field] = idx
        elif col.field not in required:
            pick = _lookalike(col.header, header, known)
            if pick is not None:  # a misspelled optional column would vanish in silence
                findings.append(finding(ErrorCode.P027, file=file, sheet=sheet.name,
                                        cell=f"{col_letter(pick)}1", row=1, column=col.header,
                                        value=str(header[pick])))
        elif col.field in required:
            pick = _lookalike(col.header, header, known)
            lower = _header_row_below(rows, known)
            if lower is not None:
                # a title above the headers: say where they are, not only that they are missing
                suggestion = (f" Le intestazioni sono nella riga {lower}: devono stare nella riga 1 "
                              f"(cancellare le righe sopra).")
                cell = "1:1"
            elif pick is not None:
                # the misspelled header itself is where the user looks and fixes
                suggestion, cell = f" Forse «{header[pick]}»?", f"{col_letter(pick)}1"
            else:
                suggestion, cell = "", "1:1"
            findings.append(finding(ErrorCode.P002, file=file, sheet=sheet.name, cell=cell,
                                    column=col.header, suggestion=suggestion, row=1))
    extra = [str(h) for h in header if h is not None and norm_header(h) not in known]
    kept: list[list[Any]] = []
    xlrows: list[int] = []
    for r, row in enumerate(rows[1:], start=header_row + 2):
        if blank_row(row):
            continue
        kept.append(row)
        xlrows.append(r)
    # built a column at a time: a plan of 1,000 settori has ~160,000 rows
    width = min(map(len, kept), default=0)
    columns = list(zip(*kept)) if width else []   # the grid transposed (as far as the shortest row)
    data: dict[str, list[Any]] = {}
    for col in spec.columns:
        at = cols.get(col.field)
        data[col.field] = ([None] * len(kept) if at is None
                           else list(columns[at]) if at < width
                           else [row[at] if at < len(row) else None for row in kept])
    data["xlrow"] = xlrows
    return Table(sheet.name, data, cols, header_row, extra), findings
