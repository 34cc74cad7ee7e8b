"""Issue 13: the workbooks pegxl writes print well. Real LibreOffice turns the demo's
template, consolidated workbook, final workbook, plan and annotated copy into PDF; the PDF
itself (pdfinfo, `pdftotext -bbox`, see pdfcheck.py) must show A4 pages, no word under
7.5 pt, no text line drawn over another, and on every page the header (ente, anno) and
"Pagina N di M". A workbook printed the old way (no row heights, shrunk to fit) fails the
same checks: they can fail.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import Workbook
from openpyxl.styles import Alignment

from lo_helper import lo_convert, requires_lo
from pdfcheck import Pdf, page_numbers_ok, read_pdf, requires_poppler, summary
from pegxl.cli import main

pytestmark = [*requires_lo, requires_poppler]

PDF = "calc_pdf_Export"
ENTE = "Comune di Cinisello Balsamo (demo)"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("stampa") / "demo"
    res = CliRunner().invoke(main, ["demo", str(d)])
    assert res.exit_code == 0, res.output
    return d


def _pdf(src: Path, out: Path) -> Pdf:
    pdf = out / (src.stem + ".pdf")
    lo_convert(src, pdf, filter=PDF, timeout=400)
    return read_pdf(pdf)


def _prints_well(doc: Pdf, what: str) -> None:
    assert doc.pages > 0
    assert doc.all_a4(), doc.page_sizes[:5]
    small = doc.small_words(7.5)
    assert not small, f"{summary(doc)}: " + "; ".join(str(w) for w in small[:10])
    over = doc.overlaps()
    assert not over, f"{summary(doc)}: " + "; ".join(f"{a} / {b}" for a, b in over[:10])
    assert page_numbers_ok(doc) == [], summary(doc)
    for page in range(1, doc.pages + 1):
        text = doc.page_text(page)
        assert ENTE in text and "Anno 2024" in text and what in text, (page, text[:300])


@pytest.mark.slow
@pytest.mark.parametrize("relative, what", [
    ("modelli/2024_S01_affari-generali.xlsx", "S01 Affari generali"),
    ("consolidato/2024_consolidato_OIV.xlsx", "Consolidato per l'OIV"),
    ("finale/2024_consolidato_OIV_finale.xlsx", "Consolidato finale dopo l'OIV"),
    ("piano.xlsx", "Piano della performance"),
    ("controllo/2024_S01_affari-generali_errori.xlsx", "S01 Affari generali"),
])
def test_workbook_prints_on_a4_readable_without_overlaps(demo, tmp_path, relative, what):
    doc = _pdf(demo / relative, tmp_path)
    if relative.startswith("controllo/"):
        # the Errori sheet pegxl adds says what it checked; the template's sheets, their settore
        what = ""
    _prints_well(doc, what)


@pytest.mark.slow
def test_sintesi_opens_with_its_title_block_and_fascia_apart(demo, tmp_path):
    doc = _pdf(demo / "consolidato/2024_consolidato_OIV.xlsx", tmp_path)
    first = doc.page_text(1)
    for needle in ("Consolidato per l'OIV", "Fase del ciclo:", "Data di riferimento:", "Generato il:",
                   "Fascia", "Percentuale di raggiungimento"):
        assert needle in first, needle
    # the Fascia letter is a word of its own, not glued to the percentage
    words = [w.text for w in doc.words if w.page == 1]
    assert not any(w.endswith("%A") or w.endswith("%B") for w in words)


@pytest.mark.slow
def test_the_checks_catch_a_workbook_printed_the_old_way(tmp_path):
    """Wrapped text without row heights and a sheet shrunk to one page wide: overlapping
    lines, words far under 7.5 pt, no page numbers."""
    wb = Workbook()
    ws = wb.active
    text = "Una descrizione lunga che va a capo su più righe dentro una colonna stretta " * 3
    for c in range(1, 30):
        ws.column_dimensions[ws.cell(row=1, column=c).column_letter].width = 14
    for r in range(1, 30):
        for c in (1, 2):
            ws.cell(row=r, column=c, value=text).alignment = Alignment(wrap_text=True)
        ws.cell(row=r, column=29, value="fine")
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    src = tmp_path / "vecchio.xlsx"
    wb.save(src)
    doc = _pdf(src, tmp_path)
    assert doc.overlaps()
    assert doc.small_words(7.5)
    assert page_numbers_ok(doc)
