"""The documents' PDF made by a real headless LibreOffice (`--pdf`), checked from the PDF:
A4 pages, no text under 7.5 pt, no line drawn over another, "Pagina N di M" on every
page, the chart drawn with the settori's figures written the Italian way."""
from __future__ import annotations

import re

import pytest

from doccheck_docx import italian
from lo_helper import requires_lo
from pdfcheck import read_pdf, requires_poppler
from pegxl.demo import run_demo

pytestmark = [*requires_lo, requires_poppler, pytest.mark.slow]


@pytest.fixture(scope="module")
def pdfs(tmp_path_factory):
    """The demo with its documents' PDF, and the Relazione before the OIV as a PDF too."""
    from click.testing import CliRunner

    from pegxl.cli import main
    d = tmp_path_factory.mktemp("demo") / "demo"
    res = run_demo(d, pdf=True)
    draft = d / "bozza"
    out = CliRunner().invoke(main, ["relazione", "--plan", str(res.plan_path), str(res.merge.consolidated),
                                    "-o", str(draft), "--pdf"])
    assert out.exit_code == 0, out.output
    docs = d / "documenti"
    return res, {"schede": docs / "2024_schede_obiettivo.pdf",
                 "relazione": docs / "2024_relazione_performance.pdf",
                 "bozza": draft / "2024_relazione_performance_non_validata.pdf"}


@pytest.mark.parametrize("which", ["schede", "relazione", "bozza"])
def test_the_pdf_is_a4_readable_and_nothing_overlaps(pdfs, which):
    doc = read_pdf(pdfs[1][which])
    assert doc.pages > 5 and len(doc.page_sizes) == doc.pages
    assert doc.all_a4(), doc.page_sizes[:3]
    small = doc.small_words(7.5)
    assert not small, [str(w) for w in small[:10]]
    overlaps = doc.overlaps()
    assert not overlaps, [f"{a} / {b}" for a, b in overlaps[:10]]
    for page in range(1, doc.pages + 1):
        assert re.search(rf"Pagina {page} di {doc.pages}\b", doc.page_text(page)), page


def test_the_draft_says_so_on_every_page(pdfs):
    doc = read_pdf(pdfs[1]["bozza"])
    for page in range(1, doc.pages + 1):
        assert "NON ANCORA VALIDATA DALL'OIV" in doc.page_text(page), page
    assert "VALIDATA" not in " ".join(w.text for w in read_pdf(pdfs[1]["relazione"]).words)


def test_the_chart_is_drawn_with_italian_figures(pdfs):
    from openpyxl import load_workbook
    res, paths = pdfs
    doc = read_pdf(paths["relazione"])
    page = next(p for p in range(1, doc.pages + 1) if "Percentuale di raggiungimento per settore"
                in doc.page_text(p))
    text = doc.page_text(page)
    ws = load_workbook(res.oiv.path, read_only=True)["Sintesi"]
    rows = list(ws.iter_rows(values_only=True))
    head = next(i for i, r in enumerate(rows) if "Percentuale di raggiungimento" in r)   # below the title
    col = list(rows[head]).index("Percentuale di raggiungimento")
    for r in rows[head + 1:]:
        if r[0] and isinstance(r[col], float):
            # the table and the chart's label: the figure twice on the page, with a decimal comma
            assert text.count(italian(r[col])) >= 2, (r[0], italian(r[col]))
