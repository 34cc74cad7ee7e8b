"""Issue 13: the printed page (pegxl/workbook/paper.py): row heights that fit wrapped text,
headers that wrap between words, never under 8 pt on paper, A4 with header and footer on
normal and write-only sheets alike. LibreOffice checks the result on paper in
tests/test_print_lo.py."""
from __future__ import annotations

import math
import random
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


def _line_count_loop(text: str, width: float, size: float, bold: bool) -> int:
    """line_count without its shortcuts: the word-by-word loop alone (the reference)."""
    room = max(1.0, width - paper._CELL_PAD_DIGITS)
    scale = (size / paper.DEFAULT_FONT_PT) * (paper._BOLD if bold else 1.0) * paper._SAFETY
    space = paper._TABLE[" "] * scale
    lines = 0
    for paragraph in text.split("\n"):
        lines += 1
        used = 0.0
        for word in paragraph.split(" "):
            w = paper._digits(word) * scale
            if used and used + space + w <= room:
                used += space + w
                continue
            if used:
                lines += 1
            if w > room:
                extra = math.ceil(w / room) - 1
                lines += extra
                w -= extra * room
            used = w
    return lines


def test_line_count_shortcuts_count_as_the_loop():
    """The shortcuts of line_count (a short text, a text or paragraph whose whole width
    fits) and one_line_chars give the loop's own count, at the boundaries too (issue 12)."""
    rng = random.Random(12)
    letters = "aeioumwlI MW.,0123456789/è€«"
    widest = max(paper._TABLE, key=paper._TABLE.__getitem__)
    checked = 0
    seen = []
    for width in [1.0, 2.5, 6, 8.43, 10, 12.75, 13, 20, 26, 40, 72]:
        for size, bold in [(11.0, False), (11.0, True), (14.0, True), (9.0, False)]:
            fits = paper.one_line_chars(width, size, bold)
            assert paper.line_count(widest * fits, width, size, bold) == 1 or fits == 0
            assert _line_count_loop(widest * (fits + 1), width, size, bold) > 1
            for _ in range(150):
                n = rng.randrange(1, 90)
                text = "".join(rng.choice(letters) for _ in range(n))
                if rng.random() < 0.1:
                    text = text.replace(" ", "\n", 1)
                elif rng.random() < 0.3:   # paragraphs, some that fit and some that do not
                    text = "\n".join([text, text[: n // 3], "", text[n // 2:] * 2])
                expected = _line_count_loop(text, width, size, bold)
                assert paper.line_count(text, width, size, bold) == expected, (text, width, size, bold)
                seen.append((text, width, size, bold, expected))
                checked += 1
    assert checked > 1000
    # counted again, in another order: the paragraphs' counts kept once made are the same
    for text, width, size, bold, expected in reversed(seen):
        assert paper.line_count(text, width, size, bold) == expected, (text, width, size, bold)


def test_a_characters_width_is_kept_once_met_and_counts_the_same(monkeypatch):
    """_digits keeps the width of a character it has not met before (×, — and ≥ in every
    step of the Calcolo sheet), the same as computed each time; past its bound it still
    counts, without keeping."""
    text = "Peso fasi 60 × fasi 87,50 % — ≥ 3 ☃"
    slow = sum(paper._char_width(ch) for ch in text)
    monkeypatch.setattr(paper, "_TABLE", dict(paper._TABLE))
    for ch in "×—≥☃":
        paper._TABLE.pop(ch, None)
    monkeypatch.setattr(paper, "_TABLE_MAX", len(paper._TABLE))
    assert paper._digits(text) == slow and "☃" not in paper._TABLE
    monkeypatch.setattr(paper, "_TABLE_MAX", 1 << 12)
    assert paper._digits(text) == slow and "☃" in paper._TABLE and paper._digits(text) == slow
