"""ForkedRows: a sheet's rows made as text by a forked process are the rows this process
would have written (pegxl.consolidated's Calcolo sheet, see docs/architettura.md)."""
from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import zipfile
from pathlib import Path

import pytest

from pegxl.workbook.fastrows import FastWriteOnlyWorkbook, append_plain, set_height
from pegxl.workbook.forked import ForkedRows

pytestmark = pytest.mark.skipif(not ForkedRows.possible(FastWriteOnlyWorkbook()),
                                reason="serve il metodo fork (Linux) e openpyxl senza lxml")


def _book():
    """A book with a sheet before and its three styles (as the consolidated's Sintesi)."""
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font
    wb = FastWriteOnlyWorkbook()
    first = wb.create_sheet("Prima")
    first.append(["titolo", 1])
    styles = []
    for fmt, wrap, bold in (("0.00", False, False), (None, True, False), ("DD/MM/YYYY", False, True)):
        c = WriteOnlyCell(first)
        if fmt:
            c.number_format = fmt
        if wrap:
            c.alignment = Alignment(wrap_text=True, vertical="top")
        if bold:
            c.font = Font(bold=True)
        styles.append(c._style)
    return wb, tuple(styles)


def _rows(styles):
    num, wrap, date = styles
    for i in range(300):
        text = f"riga {i} & <testo> «accentato» è" + (" parola" * (i % 7) * 9)
        height = 15.0 * (1 + i % 3) if i % 3 else None
        yield [(f"S{i:03}", None), (text, wrap), (i / 7, num), (dt.date(2025, 1, 1 + i % 28), date),
               (None, None), (i % 2 == 0, None), ("", wrap)], height


def _parts(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist() if n != "docProps/core.xml"}   # its time of saving


def test_rows_made_by_a_forked_process_are_the_rows_written_here(tmp_path):
    from pegxl.workbook.fastsave import style_id
    here, styles = _book()
    for style in styles:   # as ForkedRows puts them in the book: the same ids
        style_id(here, style, {})
    ws = here.create_sheet("Righe")
    ws.append(["Codice", "Testo"])
    for r, (cells, height) in enumerate(_rows(styles), start=2):
        if height is not None:
            set_height(ws, r, height)
        append_plain(ws, cells)
    ws.append(["dopo"])
    here.save(tmp_path / "qui.xlsx")

    there, styles = _book()
    forked = ForkedRows(there, styles, _rows, 2)
    try:
        ws = there.create_sheet("Righe")
        ws.append(["Codice", "Testo"])
        path, n = forked.result()
        assert n == 300 and forked.proc.exitcode == 0
        ws.append_text(path, n, 2)
        ws.append(["dopo"])
    finally:
        forked.close()
    there.save(tmp_path / "altrove.xlsx")
    assert not os.path.exists(forked.path) and not os.path.exists(forked.outcome)
    a, b = _parts(tmp_path / "qui.xlsx"), _parts(tmp_path / "altrove.xlsx")
    assert a.keys() == b.keys() and all(a[k] == b[k] for k in a)
    assert b"riga 299" in b["xl/worksheets/sheet2.xml"]


def test_text_rows_must_be_the_sheets_next_rows():
    wb, styles = _book()
    ws = wb.create_sheet("Righe")
    ws.append(["Codice"])
    with pytest.raises(RuntimeError, match="dalla riga 5"):
        ws.append_text("/nessun/file", 3, 5)


def _boom(styles):
    yield [("una", None)], None
    raise ValueError("cifra impossibile nel settore S07")


def _dies(styles):
    yield [("una", None)], None
    os._exit(3)


def test_the_forked_process_failure_is_raised_here_and_nothing_is_left(tmp_path):
    wb, styles = _book()
    forked = ForkedRows(wb, styles, _boom, 2)
    try:
        with pytest.raises(ValueError, match="settore S07"):
            forked.result()
    finally:
        forked.close()
    assert not os.path.exists(forked.path) and not os.path.exists(forked.outcome)
    forked = ForkedRows(wb, styles, _dies, 2)
    try:
        with pytest.raises(RuntimeError, match="codice di uscita 3"):
            forked.result()
    finally:
        forked.close()
    assert multiprocessing.active_children() == []
    wb.save(tmp_path / "ancora.xlsx")   # the book itself untouched by its forked copies
