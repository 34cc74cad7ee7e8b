"""Result sheets written into a workbook: one small interface, two real backends.

`ResultBook` is what the result writers need from a workbook: write a table sheet
(replacing it if present), select a cell, save. Two backends implement it:

- `OpenpyxlBook(path)`: a workbook file, for the CLI (`pegxl plan check --write-back`) and
  for the tests on any system. Saved atomically after a backup copy of the user's file.
- `XlwingsBook(book)`: a workbook open in Microsoft Excel (an `xlwings.Book`), for the
  ribbon actions of `pegxl.macros.actions`. xlwings is never imported here: the object is
  handed in by the caller.

The writers, shared by the CLI and the macros:

- `write_check_sheet(book, findings)` -> sheet «Esito controllo»: a summary line, then one
  row per finding (Codice, Gravità, File, Foglio, Cella, Riferimento, Problema, Come
  correggere), red rows for errors and yellow rows for warnings; the Cella column links to
  the cell itself when the finding is about this same workbook, or to the cell of the
  annotated copy (`pegxl.annotate`) when it is about another file;
- `write_status_sheet(book, report)` -> sheet «Stato consegne»: one row per settore of a
  `pegxl.status.StatusReport`, with the headers of its CSV export.
"""
from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Protocol, Sequence

from openpyxl import load_workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.hyperlink import Hyperlink

from ..errors import (
    ERROR,
    EXIT_UNUSABLE,
    ErrorCode,
    Finding,
    PegxlError,
    count,
    finding,
    os_detail,
)
from ..status import CSV_HEADERS, STATE_OK, STATES
from ..workbook import paper
from ..workbook import style as S
from ..workbook.contract import CHECK_HEADERS, SHEET_CHECK, SHEET_STATUS
from ..workbook.io import atomic_save, backup
from ..workbook.reader import MAX_ROWS, _check_extents, sniff

CHECK_WIDTHS = [8, 9, 24, 14, 9, 18, 70, 50]
CHECK_LINK_COLUMN = CHECK_HEADERS.index("Cella")
NO_PROBLEM = "Nessun problema"

FIRST_DATA_ROW = 3      # row 1: the summary line, row 2: the headers


def _rgb(fill) -> str:
    return str(fill.fgColor.rgb)[-6:].upper()


COLOR_ERROR = _rgb(S.ERROR_FILL)       # red
COLOR_WARNING = _rgb(S.WARNING_FILL)   # yellow
COLOR_OK = _rgb(S.COMPUTED_FILL)       # pale green
COLOR_MISSING = _rgb(S.MISSING_FILL)   # salmon
COLOR_HEADER = _rgb(S.HEADER_FILL)

_A1 = re.compile(r"^\$?([A-Z]{1,3})\$?([1-9][0-9]*)$")
_FORMULA_START = ("=", "+", "-", "@")
DATETIME_FORMAT = "DD/MM/YYYY HH:MM"


@dataclass(frozen=True)
class Link:
    """A hyperlink: `location` ("'Foglio'!A1") inside `target` (another file) or, with no
    target, inside the workbook itself."""

    location: str | None = None
    target: str | None = None


@dataclass(frozen=True)
class SheetResult:
    """What a writer wrote: the sheet, the cell of its first problem (None when clean)."""

    sheet: str
    first: str | None
    errors: int = 0
    warnings: int = 0


class ResultBook(Protocol):
    """The interface the result writers use. Rows and columns of `fills` and `links` are
    0-based indices into `rows` (and its columns); fills colour a whole row."""

    @property
    def path(self) -> Path | None: ...

    def sheet_names(self) -> list[str]: ...

    def write_table(self, sheet_name: str, headers: Sequence[str], rows: Sequence[Sequence[Any]], *,
                    fills: Mapping[int, str] | None = None,
                    links: Mapping[tuple[int, int], Link] | None = None,
                    summary: str | None = None, widths: Sequence[float] | None = None) -> None: ...

    def select(self, sheet_name: str, cell: str) -> None: ...

    def save(self) -> None: ...


def quote_sheet(name: str) -> str:
    return "'" + name.replace("'", "''") + "'"


def location(sheet: str, cell: str) -> str:
    return f"{quote_sheet(sheet)}!{cell}"


def table_cell(row: int, col: int, summary: bool = True) -> str:
    """The A1 address of rows[row][col] as written by write_table."""
    return f"{get_column_letter(col + 1)}{row + (FIRST_DATA_ROW if summary else 2)}"


def _naive(v: Any) -> Any:
    if isinstance(v, dt.datetime) and v.tzinfo is not None:
        return v.astimezone().replace(tzinfo=None)
    return v


# ============================================================================ openpyxl

class OpenpyxlBook:
    """A workbook file opened with openpyxl: the sheet is written, then the file is saved
    atomically (temporary file in the same folder, then os.replace) after a copy of the
    user's file is kept as `<name>.bak-N.xlsx` (`pegxl.workbook.io.backup`).

    The user's other sheets keep their values, formulas, styles, merged cells, column
    widths, defined names and data validations. What openpyxl cannot keep: it drops
    Excel's `x14` extensions on load (data validations whose list is on another sheet, as
    recent Excel writes them, and the newer conditional formats), images, charts, shapes
    and form controls. That is why the backup is made, and why the tool never relies on
    validations surviving in a file it rewrites (spec: excel-pitfalls.md). Only .xlsx and
    .xlsm files can be written (.xlsm keeps its macros)."""

    def __init__(self, path: str | os.PathLike):
        self._path = Path(path)
        suffix = self._path.suffix.lower()
        if not self._path.is_file():
            raise PegxlError(finding(ErrorCode.F001, file=str(self._path), detail="file inesistente"),
                             exit_code=EXIT_UNUSABLE)
        if suffix not in (".xlsx", ".xlsm"):
            raise PegxlError(finding(ErrorCode.U001, file=str(self._path),
                                     detail=f"solo i file .xlsx e .xlsm si possono aggiornare "
                                            f"(questo è {suffix or 'senza estensione'}): salvarlo come "
                                            f".xlsx, o controllarlo senza scriverci l'esito"),
                             exit_code=EXIT_UNUSABLE)
        # the same checks as every reader before openpyxl builds the whole workbook in memory:
        # an encrypted file, a zip bomb, a sheet of a million rows is refused, not loaded
        problems = sniff(self._path)
        if problems:
            raise PegxlError(problems, exit_code=EXIT_UNUSABLE)
        _check_extents(self._path, str(self._path), MAX_ROWS, None)
        try:
            self.wb = load_workbook(self._path, keep_vba=suffix == ".xlsm", rich_text=True,
                                    keep_links=True)
        except Exception as exc:   # a broken zip, an encrypted file, ...
            raise PegxlError(finding(ErrorCode.F002, file=str(self._path), detail=str(exc)[:200]),
                             exit_code=EXIT_UNUSABLE) from exc
        self.backup_path: Path | None = None

    @property
    def path(self) -> Path:
        return self._path

    def sheet_names(self) -> list[str]:
        return list(self.wb.sheetnames)

    def write_table(self, sheet_name, headers, rows, *, fills=None, links=None, summary=None,
                    widths=None) -> None:
        wb = self.wb
        index = None
        if sheet_name in wb.sheetnames:
            index = wb.sheetnames.index(sheet_name)
            del wb[sheet_name]
        ws = wb.create_sheet(sheet_name, index)
        head = 1
        if summary is not None:
            c = ws.cell(row=1, column=1, value=summary)
            c.font = S.TOTAL_FONT
            self._text(c)
            head = 2
        S.set_widths(ws, paper.header_widths(list(headers), widths or [max(10, min(60, len(h) + 4)) for h in headers]))
        S.write_header(ws, list(headers), row=head)
        fills = fills or {}
        links = links or {}
        fill_cache: dict[str, PatternFill] = {}
        for i, row in enumerate(rows):
            r = head + 1 + i
            color = fills.get(i)
            fill = fill_cache.setdefault(color, PatternFill("solid", fgColor=color)) if color else None
            for j, value in enumerate(row):
                c = ws.cell(row=r, column=j + 1, value=None if value == "" else _naive(value))
                if isinstance(value, str):
                    self._text(c)
                elif isinstance(value, dt.datetime):
                    c.number_format = DATETIME_FORMAT
                elif isinstance(value, dt.date):
                    c.number_format = S.DATE_FORMAT
                c.alignment = S.WRAP
                c.border = S.BORDER
                if fill is not None:
                    c.fill = fill
            for j in range(len(row), len(headers)):
                if fill is not None:
                    ws.cell(row=r, column=j + 1).fill = fill
        for (i, j), link in links.items():
            c = ws.cell(row=head + 1 + i, column=j + 1)
            target = self._target(link.target) if link.target else None
            c.hyperlink = Hyperlink(ref=c.coordinate, location=link.location, target=target,
                                    display=str(c.value) if c.value is not None else None)
            c.font = Font(color="0563C1", underline="single")
        ws.freeze_panes = f"A{head + 1}"
        S.fit_rows(ws, head + 1)
        S.print_setup(ws, f"{head}:{head}", S.book_heading(wb, sheet_name))

    @staticmethod
    def _text(c) -> None:
        if isinstance(c.value, str) and c.value.startswith(_FORMULA_START):
            c.data_type = "s"   # typed text, never a formula (excel-pitfalls.md)

    def _target(self, target: str) -> str:
        """A file link relative to this workbook's folder when possible (folders move)."""
        t = Path(target)
        try:
            rel = os.path.relpath(t.resolve(), self._path.resolve().parent)
        except ValueError:   # another drive on Windows
            return t.resolve().as_uri()
        return Path(rel).as_posix()

    def select(self, sheet_name: str, cell: str) -> None:
        ws = self.wb[sheet_name]
        self.wb.active = self.wb.sheetnames.index(sheet_name)
        for other in self.wb.worksheets:
            other.sheet_view.tabSelected = other is ws
        sel = ws.sheet_view.selection[0]
        sel.activeCell = cell
        sel.sqref = cell
        if ws.freeze_panes:
            for s in ws.sheet_view.selection:
                s.activeCell = cell
                s.sqref = cell

    def save(self) -> None:
        if self.backup_path is None:
            try:
                self.backup_path = backup(self._path)
            except OSError as exc:
                raise PegxlError(finding(ErrorCode.F010, file=str(self._path),
                                         detail=f"copia di sicurezza non riuscita: {os_detail(exc)}"),
                                 exit_code=EXIT_UNUSABLE) from exc
        atomic_save(self.wb, self._path)


# ============================================================================= xlwings

class XlwingsBook:
    """A workbook open in Excel, through an `xlwings.Book` handed in by the caller.

    Values go in one block per sheet; a text starting with = + - @ gets Excel's leading
    apostrophe so it stays text; links are HYPERLINK formulas (the same on Windows and
    macOS, unlike the COM/AppleScript hyperlink objects). An existing sheet is cleared and
    reused, so that formulas elsewhere pointing at it do not turn into #RIF!."""

    def __init__(self, book: Any):
        self.book = book

    @property
    def path(self) -> Path | None:
        full = getattr(self.book, "fullname", None)
        return Path(full) if full else None

    def sheet_names(self) -> list[str]:
        return [s.name for s in self.book.sheets]

    def _sheet(self, name: str):
        for s in self.book.sheets:
            if s.name.lower() == name.lower():
                return s
        return None

    def write_table(self, sheet_name, headers, rows, *, fills=None, links=None, summary=None,
                    widths=None) -> None:
        ws = self._sheet(sheet_name)
        if ws is None:
            ws = self.book.sheets.add(sheet_name, after=self.book.sheets[len(self.book.sheets) - 1])
        else:
            ws.clear()
        head = 1
        if summary is not None:
            ws.range((1, 1)).value = self._value(summary)
            ws.range((1, 1)).font.bold = True
            head = 2
        ncols = len(headers)
        hdr = ws.range((head, 1), (head, ncols))
        hdr.value = [list(headers)]
        hdr.color = "#" + COLOR_HEADER
        hdr.font.bold = True
        hdr.font.color = (255, 255, 255)
        if rows:
            block = [[self._value(v) for v in row] + [None] * (ncols - len(row)) for row in rows]
            ws.range((head + 1, 1), (head + len(rows), ncols)).value = block
        for i, color in (fills or {}).items():
            ws.range((head + 1 + i, 1), (head + 1 + i, ncols)).color = "#" + color
        for (i, j), link in (links or {}).items():
            display = rows[i][j] if j < len(rows[i]) else ""
            formula = self._hyperlink(link, "" if display is None else str(display))
            if formula:
                ws.range((head + 1 + i, j + 1)).formula = formula
        for j, w in enumerate(widths or [max(10, min(60, len(h) + 4)) for h in headers], start=1):
            ws.range((1, j)).column_width = w
        if rows:
            ws.range((head + 1, 1), (head + len(rows), ncols)).wrap_text = True

    @staticmethod
    def _value(v: Any) -> Any:
        v = _naive(v)
        if v == "":
            return None
        if isinstance(v, str) and v.startswith(_FORMULA_START):
            return "'" + v
        return v

    def _hyperlink(self, link: Link, display: str) -> str | None:
        where = "#" + link.location if link.location else ""
        address = (str(link.target) if link.target else "") + where
        if not address or len(address) > 255:
            return None
        esc = lambda s: s.replace('"', '""')   # noqa: E731
        return f'=HYPERLINK("{esc(address)}","{esc(display)}")'

    def select(self, sheet_name: str, cell: str) -> None:
        ws = self._sheet(sheet_name)
        if ws is None:
            return
        ws.activate()
        ws.range(cell).select()

    def save(self) -> None:
        self.book.save()


# ============================================================================= writers

def _same_file(a: str | os.PathLike | None, b: str | os.PathLike | None) -> bool:
    if not a or not b:
        return False
    try:
        return os.path.normcase(os.path.abspath(a)) == os.path.normcase(os.path.abspath(b))
    except (TypeError, ValueError):
        return False


def _cell_of(f: Finding) -> str | None:
    """The A1 cell a finding points at: its cell, else column A of its row."""
    if f.cell:
        m = _A1.match(str(f.cell).strip().upper())
        return f"{m.group(1)}{m.group(2)}" if m else None
    if f.row:
        return f"A{int(f.row)}"
    return None


def summary_line(findings: Sequence[Finding], *, title: str | None = None,
                 now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now()
    e, w = count(findings)
    head = f"{title or 'Controllo'} del {now.strftime('%d/%m/%Y %H:%M')}: "
    if not findings:
        return head + "nessun problema."
    parts = [f"{e} error{'e' if e == 1 else 'i'}", f"{w} avvis{'o' if w == 1 else 'i'}"]
    tail = " Fare clic sulla cella per andare al punto da correggere." if any(
        f.sheet and _cell_of(f) for f in findings) else ""
    return head + " e ".join(parts) + "." + tail


def write_check_sheet(book: ResultBook, findings: Iterable[Finding], *,
                      annotated: Mapping[str, str | os.PathLike] | None = None,
                      title: str | None = None, now: dt.datetime | None = None,
                      checked: str | os.PathLike | None = None) -> SheetResult:
    """Write «Esito controllo»: the summary line, then one row per finding (errors first).

    `annotated` maps a checked file to its annotated copy: the Cella of a finding about
    another file links to that cell of the copy. `checked` names the file checked when
    there is no finding (shown on the «Nessun problema» row; default: the book itself)."""
    items = sorted(findings, key=lambda f: f.severity != ERROR)   # stable: errors first
    annotated = {os.path.abspath(k): v for k, v in (annotated or {}).items()}
    own = book.path
    names = set(book.sheet_names()) - {SHEET_CHECK}
    rows: list[list[Any]] = []
    fills: dict[int, str] = {}
    links: dict[tuple[int, int], Link] = {}
    first: str | None = None
    for i, f in enumerate(items):
        cell = _cell_of(f)
        shown_cell = f.cell or (f"riga {f.row}" if f.row else "")
        rows.append([f.code, f.severity, Path(f.file).name if f.file else "", f.sheet or "",
                     shown_cell, f.record or f.column or "", f.message, f.hint])
        fills[i] = COLOR_ERROR if f.severity == ERROR else COLOR_WARNING
        link = None
        if f.sheet and cell and (f.file is None or _same_file(f.file, own)) and f.sheet in names:
            link = Link(location=location(f.sheet, cell))
        elif f.file and os.path.abspath(f.file) in annotated:
            copy = annotated[os.path.abspath(f.file)]
            link = Link(location=location(f.sheet, cell) if f.sheet and cell else None,
                        target=str(copy))
        if link is not None:
            links[(i, CHECK_LINK_COLUMN)] = link
        if first is None:
            first = table_cell(i, CHECK_LINK_COLUMN if link is not None else 0)
    if not items:
        name = Path(checked).name if checked else (own.name if own else "")
        rows.append(["", "", name, "", "", "", NO_PROBLEM, ""])
        fills[0] = COLOR_OK
    book.write_table(SHEET_CHECK, CHECK_HEADERS, rows, fills=fills, links=links,
                     summary=summary_line(items, title=title, now=now), widths=CHECK_WIDTHS)
    e, w = count(items)
    return SheetResult(SHEET_CHECK, first, e, w)


STATUS_COLORS = {"consegnato utilizzabile": COLOR_OK, "con errori": COLOR_ERROR,
                 "mancante": COLOR_MISSING, "più file": COLOR_WARNING}
STATUS_WIDTHS = [12, 28, 22, 26, 34, 24, 8, 8, 16, 10, 18, 16]


def write_status_sheet(book: ResultBook, report: Any, *, now: dt.datetime | None = None) -> SheetResult:
    """Write «Stato consegne»: one row per settore of a StatusReport (the headers of its
    CSV export), coloured by state, the file linked; files no settore can claim follow.
    The first settore to chase is the cell to select."""
    now = now or dt.datetime.now()
    rows: list[list[Any]] = []
    fills: dict[int, str] = {}
    links: dict[tuple[int, int], Link] = {}
    file_col = CSV_HEADERS.index("File")
    chase = {r.sector: r for r in report.chase}
    first_row = None
    for i, r in enumerate(report.rows):
        rows.append([r.sector, r.sector_name, r.manager, r.email, r.file_names or "—", r.state_label,
                     r.errors, r.warnings, _naive(r.saved), r.priority, r.cycle_state,
                     _naive(r.cycle_since)])
        fills[i] = STATUS_COLORS.get(r.state, COLOR_WARNING)
        if r.file:
            links[(i, file_col)] = Link(target=str(r.file))
        if r.sector in chase and chase[r.sector].priority == 1:
            first_row = i
    for u in report.unassigned:
        i = len(rows)
        rows.append(["", "", "", "", Path(u.file).name, f"non attribuito: {u.code} {u.message}".strip(),
                     "", "", "", "", "", ""])
        fills[i] = COLOR_WARNING
        links[(i, file_col)] = Link(target=str(u.file))
    c = report.counts()
    plan = report.plan
    deadline = plan.deadline.strftime("%d/%m/%Y") if getattr(plan, "deadline", None) else "non indicata"
    summary = (f"Stato consegne del {now.strftime('%d/%m/%Y %H:%M')} — {plan.ente} {plan.anno}, {plan.fase} "
               f"(scadenza {deadline}): {len(report.rows)} settori; utilizzabili {c[STATE_OK]}, "
               f"con errori {c[STATES[1]]}, mancanti {c[STATES[2]]}, più file {c[STATES[3]]}.")
    book.write_table(SHEET_STATUS, CSV_HEADERS, rows, fills=fills, links=links, summary=summary,
                     widths=STATUS_WIDTHS)
    return SheetResult(SHEET_STATUS, table_cell(first_row, 0) if first_row is not None else None,
                       c[STATES[1]], c[STATES[2]] + c[STATES[3]])
