"""Issue 13: the printed page (pegxl/workbook/paper.py): row heights that fit wrapped text,
headers that wrap between words, never under 8 pt on paper, A4 with header and footer on
normal and write-only sheets alike. LibreOffice checks the result on paper in
tests/test_print_lo.py."""
from __future__ import annotations

import zipfile

import pytest
from openpyxl import Workbook, load_workbook

from pegxl.workbook import paper


def test_lines_break_between_words_and_long_words_are_cut():
    assert paper.line_count("Programma", 40) == 1
    assert paper.line_count("uno due tre quattro cinque sei sette otto nove dieci", 12) >= 4
    assert paper.line_count("riga uno\nriga due", 40) == 2
    assert paper.line_count("x" * 100, 11) >= 10          # one word longer than the line
    assert paper.line_count("", 10) == 1


def test_row_height_grows_with_the_lines_and_is_none_for_one():
    short = paper.row_height([("Concluso", 14)])
    assert short is None
    two = paper.row_height([("Gestione delle risorse umane: fabbisogno, reclutamento", 20)])
    four = paper.row_height([("Gestione delle risorse umane: fabbisogno, reclutamento " * 2, 20)])
    assert two is not None and four is not None and four > two > 15
    assert paper.row_height([("parola " * 2000, 10)]) == 409.0   # Excel's tallest row


@pytest.mark.parametrize("header", ["Programma", "Raggiungimento %", "Grado dichiarato %",
                                    "Motivazione scostamento"])
def test_headers_wrap_between_words(header):
    width = paper.header_widths([header], [8])[0]
    for word in header.split():
        assert paper.line_count(word, width, bold=True) == 1, word


def test_never_under_8_pt_on_paper():
    for n in (1, 5, 10, 17, 30, 60):
        for size in (9.0, 11.0, 14.0):
            layout = paper.plan_layout([14] * n, size)
            if layout.fit_width:   # the program picks the scale: even in wider columns, >= 8 pt
                fit = paper.printable_points(layout.landscape) / sum(paper.column_points(w) for w in [14] * n)
                assert min(1.0, fit) / 1.3 * size >= paper.MIN_PAPER_PT - 1e-9
            else:
                assert layout.smallest_pt(size) >= paper.MIN_PAPER_PT
    narrow = paper.plan_layout([10, 20])
    assert not narrow.landscape and narrow.fit_width
    wide = paper.plan_layout([14] * 40)
    assert wide.landscape and not wide.fit_width and wide.scale == 73   # 11 pt -> 8 pt


@pytest.mark.parametrize("write_only", [False, True])
def test_setup_on_normal_and_write_only_sheets(tmp_path, write_only):
    wb = Workbook(write_only=write_only)
    ws = wb.create_sheet("Dati") if write_only else wb.active
    if not write_only:
        ws.title = "Dati"
    layout = paper.setup(ws, [14] * 40, paper.Heading("Comune di Ponte & Valle", 2024, "S01 R&D"),
                         title_cols="A:B")
    ws.append(["a"] * 40)
    ws.append(["b"] * 40)
    path = tmp_path / "p.xlsx"
    wb.save(path)
    back = load_workbook(path)["Dati"]
    assert int(back.page_setup.paperSize) == 9 and back.page_setup.orientation == "landscape"
    assert int(back.page_setup.scale) == layout.scale >= 73
    assert back.print_title_rows == "$1:$1" and back.print_title_cols == "$A:$B"
    assert back.page_margins.left == pytest.approx(paper.MARGIN_IN)
    with zipfile.ZipFile(path) as z:
        xml = z.read("xl/worksheets/sheet1.xml").decode()
    # "&" of the names escaped as "&&" (one "&" printed), page numbers as fields
    assert "Ponte &amp;&amp; Valle" in xml and "S01 R&amp;&amp;D" in xml
    assert "Pagina &amp;P di &amp;N" in xml and "Anno 2024" in xml
