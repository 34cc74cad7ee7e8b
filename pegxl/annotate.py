"""Annotated copies of returned workbooks: the file the office sends back to the settore.

Every problem cell is highlighted and carries a comment with the message; an `Errori`
sheet lists every finding with a hyperlink to its cell. The original is never touched:
the copy is written atomically into another folder.

The copy is the settore's own file (so that it can be corrected and sent again), but it
never carries anything active that the template does not have: formulas found as
tampering (T009, T010) or typed into input cells (V012), and any formula calling a
function outside the template's pure ones or another file, are turned into text showing
what was there; defined names that are not plain ranges, external links, hyperlinks to
outside addresses and macros are dropped. A refused file (unreadable, hostile, special)
is never opened: its copy is the Errori sheet alone.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterable

from openpyxl import Workbook, load_workbook
from openpyxl.comments import Comment
from openpyxl.formatting.formatting import ConditionalFormattingList
from openpyxl.styles import Font
from openpyxl.worksheet.hyperlink import Hyperlink

from .errors import ERROR, ErrorCode, Finding
from .report import escape_text
from .workbook import paper
from .workbook import style as S
from .workbook.contract import ERRORS_HEADERS, SHEET_ERRORS
from .workbook.formulas import active_reason, plain_reference
from .workbook.io import atomic_save
from .workbook.reader import read_values

_A1 = re.compile(r"^[A-Z]{1,3}[1-9][0-9]*$")
def annotated_name(path: str | Path) -> str:
    p = Path(path)
    return f"{p.stem}_errori.xlsx"


def annotated_names(paths: Iterable[str | Path]) -> dict[str, str]:
    """File -> name of its annotated copy: `<stem>_errori.xlsx`, unless two files of the
    same run would get the same name (a settore's .xlsx and .ods, or two folders): then
    `<stem>_<ext>_errori.xlsx`, and a counter if that still clashes. One copy never
    overwrites another."""
    files = list(dict.fromkeys(str(p) for p in paths))
    plain: dict[str, list[str]] = {}
    for f in files:
        plain.setdefault(annotated_name(f).casefold(), []).append(f)
    out: dict[str, str] = {}
    taken: set[str] = set()
    for f in files:
        p = Path(f)
        name = annotated_name(f)
        if len(plain[name.casefold()]) > 1:
            ext = p.suffix.lstrip(".").lower() or "file"
            name = f"{p.stem}_{ext}_errori.xlsx"
        base, n = name[:-len("_errori.xlsx")], 2
        while name.casefold() in taken:
            name = f"{base}_{n}_errori.xlsx"
            n += 1
        taken.add(name.casefold())
        out[f] = name
    return out


def annotate_files(findings: Iterable[Finding], outdir: str | os.PathLike[str]) -> list[Path]:
    """One annotated copy per file that has findings; returns the paths written."""
    by_file: dict[str, list[Finding]] = {}
    for f in findings:
        if f.file:
            by_file.setdefault(f.file, []).append(f)
    out = []
    outdir = Path(outdir)
    if Path(outdir).resolve() in {Path(f).resolve().parent for f in by_file}:
        outdir = outdir / "annotati"   # never beside the originals, where a later run would read it
    names = annotated_names(by_file)
    for path, items in by_file.items():
        out.append(annotate_file(path, items, outdir / names[path]))
    return out


def _as_text(cell) -> None:
    """A string written into the copy stays text: one starting with «=» (typed by a
    settore as text, or a code it typed) would otherwise become a live formula."""
    if isinstance(cell.value, str) and cell.value.startswith("="):
        cell.data_type = "s"


# A file refused as unreadable or hostile (not a spreadsheet, damaged, encrypted, .xls,
# inflating past the limit, too many rows, empty) is never opened again to annotate it:
# its copy is the Errori sheet alone.
_REFUSED = {c.code for c in (ErrorCode.F001, ErrorCode.F002, ErrorCode.F003, ErrorCode.F004, ErrorCode.F005,
                             ErrorCode.F006, ErrorCode.F007, ErrorCode.F009, ErrorCode.F011)}


def annotate_file(path: str | Path, findings: list[Finding], target: str | Path) -> Path:
    """Write the annotated copy of `path` to `target`."""
    if any(f.code in _REFUSED for f in findings):
        wb = Workbook()
        wb.remove(wb.worksheets[0])
    else:
        wb = _load_copy(path, findings)
    for f in findings:
        if not (f.sheet and f.cell and _A1.match(f.cell)) or f.sheet not in wb.sheetnames:
            continue
        ws = wb[f.sheet]
        c = ws[f.cell]
        c.fill = S.ERROR_FILL if f.severity == ERROR else S.WARNING_FILL
        text = f"{f.code} {f.severity}: {escape_text(f.message)}\n→ {escape_text(f.hint)}"
        if c.comment is not None and c.comment.author == "pegxl":
            text = c.comment.text + "\n\n" + text
        comment = Comment(text, "pegxl")
        comment.width, comment.height = 320, 160
        c.comment = comment
    _errors_sheet(wb, path, findings)
    return atomic_save(wb, target)


# formulas turned into text in the copy, whatever their function: what the return was
# refused for
_NEUTRALISE = {c.code for c in (ErrorCode.T009, ErrorCode.T010, ErrorCode.V012)}


def _text_formula(value) -> str | None:
    """The text of a formula cell value (plain or array formula), else None."""
    if isinstance(value, str) and value.startswith("="):
        return value
    text = getattr(value, "text", None)      # ArrayFormula
    if isinstance(text, str):
        return text if text.startswith("=") else "=" + text
    return None


def _active_formula(text: str) -> bool:
    """A formula that reaches outside the cell grid: a function the template never uses,
    another file, a DDE link."""
    return active_reason(text) is not None


def _defuse(wb: Workbook, findings: list[Finding]) -> None:
    """Nothing active beyond the template's own formulas stays live in the copy."""
    flagged = {(f.sheet, f.cell) for f in findings if f.code in _NEUTRALISE and f.sheet and f.cell}
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                if c.hyperlink is not None and (c.hyperlink.target or "").strip():
                    c.hyperlink = None        # an outside address: never a click away in our copy
                text = _text_formula(c.value)
                if text is None:
                    continue
                if (ws.title, c.coordinate) in flagged or _active_formula(text):
                    c.value = text
                    c.data_type = "s"
    for ws in wb.worksheets:
        # conditional formats and validations whose formulas reach outside: dropped
        kept = [dv for dv in ws.data_validations.dataValidation
                if not any(_active_formula(str(f)) for f in (dv.formula1, dv.formula2) if f)]
        ws.data_validations.dataValidation = kept
        cf_new = ConditionalFormattingList()
        for cf in ws.conditional_formatting:
            for rule in cf.rules:
                if not any(_active_formula(str(f)) for f in (rule.formula or [])):
                    cf_new.add(str(cf.sqref), rule)
        ws.conditional_formatting = cf_new
    for name in list(wb.defined_names):
        dn = wb.defined_names[name]
        if not plain_reference(dn.attr_text or ""):
            del wb.defined_names[name]
    for ws in wb.worksheets:
        for name in list(ws.defined_names):
            if not plain_reference(ws.defined_names[name].attr_text or ""):
                del ws.defined_names[name]
    wb._external_links = []  # type: ignore[attr-defined]  # openpyxl keeps them in a private list


def _load_copy(path: str | Path, findings: list[Finding] | None = None) -> Workbook:
    p = Path(path)
    if p.suffix.lower() in (".xlsx", ".xlsm"):
        try:
            # never keep_vba: the copy is an .xlsx, and an .xlsx carrying a VBA project is a
            # file Excel refuses to open (nor should a settore's macros travel in our copy);
            # never keep_links: another file's cached values are not the settore's
            wb = load_workbook(p, keep_links=False)
            _defuse(wb, findings or [])
            return wb
        except Exception:
            pass  # unreadable by openpyxl: rebuild from values below, or an Errori-only workbook
    wb = Workbook()
    wb.remove(wb.worksheets[0])
    try:
        book = read_values(p)
        for name, sheet in book.sheets.items():
            ws = wb.create_sheet(name[:31])
            for row in sheet.rows:
                ws.append([v for v in row])
                for c in ws[ws.max_row]:
                    _as_text(c)
            if not sheet.visible:
                ws.sheet_state = "hidden"
    except Exception:  # a sheet name or value Excel cannot hold: the Errori sheet alone
        wb = Workbook()
        wb.remove(wb.worksheets[0])
    return wb


def _errors_sheet(wb: Workbook, path: str | Path, findings: list[Finding]) -> None:
    if SHEET_ERRORS in wb.sheetnames:
        del wb[SHEET_ERRORS]
    ws = wb.create_sheet(SHEET_ERRORS, 0)
    ws.sheet_state = "visible"
    # narrow enough for one landscape A4 page wide without going under 8 pt
    S.set_widths(ws, paper.header_widths(ERRORS_HEADERS, [8, 9, 14, 9, 20, 48, 38]))
    S.write_header(ws, ERRORS_HEADERS)
    for f in sorted(findings, key=lambda x: (x.severity != ERROR, x.sheet or "", x.row or 0)):
        # names and texts from the return, escaped: a control character is no cell content
        # (openpyxl refuses it) and a bidi override would disguise the message
        ws.append([f.code, f.severity, escape_text(f.sheet), f.cell or "", escape_text(f.record),
                   escape_text(f.message), escape_text(f.hint)])
        r = ws.max_row
        for col in range(1, 8):
            ws.cell(row=r, column=col).alignment = S.WRAP
            _as_text(ws.cell(row=r, column=col))
        ws.cell(row=r, column=2).fill = S.ERROR_FILL if f.severity == ERROR else S.WARNING_FILL
        if (f.sheet and f.cell and _A1.match(f.cell) and f.sheet in wb.sheetnames
                and wb[f.sheet].sheet_state == "visible"):   # a link to a hidden sheet goes nowhere
            link = ws.cell(row=r, column=4)
            link.hyperlink = Hyperlink(ref=link.coordinate, location=f"'{f.sheet}'!{f.cell}",
                                       display=f.cell)
            link.font = Font(color="0563C1", underline="single")
    ws.freeze_panes = "A2"
    note = ws.cell(row=ws.max_row + 2, column=1,
                   value=f"File controllato: {escape_text(Path(path).name)}. Correggere le celle evidenziate nel file "
                         f"originale (o in questa copia) e rimandarlo all'ufficio.")
    note.font = S.TOTAL_FONT
    wb.active = 0
    for other in wb.worksheets[1:]:
        other.sheet_view.tabSelected = False
    S.fit_rows(ws)
    S.print_setup(ws, "1:1", S.book_heading(wb, f"Controllo di {escape_text(Path(path).name)}"))

