"""The fast template path writes the same templates as openpyxl's own save, one by one.

Two speed-ups of `pegxl templates` (issue 12): the sheets written by pegxl.workbook.fastsave
instead of `Workbook.save`, and the settori spread over worker processes (`jobs`). Neither
may change a template: the parts of the files are compared byte for byte (only the
timestamps of docProps/core.xml may differ), for the odd plan of test_templates (neutralised
phases and indicators, dates, every value type, formula-looking text, comments) and for a
workbook with the cells the fast writer leaves to openpyxl. The cells themselves are made
without openpyxl's Worksheet.cell and Cell.value (templates/formulas.py): the templates are
compared with those built through openpyxl's own calls and saved by openpyxl.
"""
from __future__ import annotations

import datetime as dt
import math
import sys
import zipfile
from pathlib import Path

import pytest
from openpyxl import Workbook
from openpyxl.cell.rich_text import CellRichText, TextBlock
from openpyxl.cell.text import InlineFont
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.worksheet.formula import ArrayFormula

from pegxl.synth import synthetic_plan
from pegxl.templates import build_template, generate_templates
from pegxl.templates import formulas as F
from pegxl.validators.plan import read_plan
from pegxl.workbook import fastsave
from pegxl.workbook.planfile import write_plan
from test_templates import GENERATED_AT, PLAN

TIMESTAMPS = "docProps/core.xml"   # created/modified: the clock, not the content


def parts(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist() if n != TIMESTAMPS}


def same_parts(a: Path, b: Path) -> None:
    with zipfile.ZipFile(a) as za, zipfile.ZipFile(b) as zb:
        assert za.namelist() == zb.namelist()   # no part written twice either
    pa, pb = parts(a), parts(b)
    assert list(pa) == list(pb)
    for name in pa:
        assert pa[name] == pb[name], name


@pytest.fixture(scope="module")
def plan(tmp_path_factory):
    base = tmp_path_factory.mktemp("fastplan")
    write_plan(base / "piano.xlsx", PLAN)
    return read_plan(base / "piano.xlsx")


def test_fast_save_writes_the_parts_openpyxl_writes(plan, tmp_path):
    for code in plan.sector_codes:
        slow, fast = tmp_path / f"{code}-openpyxl.xlsx", tmp_path / f"{code}-fast.xlsx"
        build_template(plan, code, generated_at=GENERATED_AT).save(slow)
        fastsave.save(build_template(plan, code, generated_at=GENERATED_AT), fast)
        same_parts(slow, fast)
        assert b"<c " in parts(fast)["xl/worksheets/sheet2.xml"]   # the cells are there


def test_fast_save_odd_cells_as_openpyxl(tmp_path):
    def book() -> Workbook:
        wb = Workbook()
        ws = wb.active
        ws["A1"] = "  spazi attorno  "
        ws["A2"] = "   "
        ws["A3"] = "a < b & c > d \"virgolette\" 'apici'"
        ws["A4"] = "=SUM(B1:B3)"
        ws["A5"] = "=testo"
        ws["A5"].data_type = "s"   # plan text that looks like a formula
        ws["B1"] = 1.5
        ws["B2"] = 10**15 + 0.25
        ws["B3"] = True
        ws["B4"] = dt.date(2024, 12, 31)
        ws["B5"] = dt.datetime(2024, 12, 31, 13, 45)
        ws["B6"] = dt.time(8, 30)
        ws["C1"] = CellRichText(["un ", TextBlock(InlineFont(b=True), "grassetto")])
        ws["C2"] = ArrayFormula("C2:C3", "=B1:B2*2")
        ws["C4"].fill = PatternFill("solid", fgColor="FFF2CC")   # styled, empty
        ws["C5"] = "con commento"
        ws["C5"].comment = Comment("nota", "pegxl")
        ws["C6"] = "collegamento"
        ws["C6"].hyperlink = "https://example.org"
        ws["D1"].font = Font(bold=True)
        ws["D1"].alignment = Alignment(wrap_text=True)
        ws["D1"] = "riga\nseconda"
        ws["E1"] = "accenti èàù € «» \u00a0 \U0001F600 e\r\nritorno\ttab"
        ws["E2"] = "#N/A"
        ws["E3"] = ""
        ws["E4"] = float("nan")
        ws["E5"] = float("inf")
        ws["E6"] = 2**70
        ws["E7"] = False
        ws["E8"] = "=IF(A1<>\"\",\"<&>\",'x')"
        ws["F1"] = "-0.5"
        ws["F2"] = -0.0
        ws["F3"] = 1e-7
        ws["F4"] = dt.datetime(2024, 2, 29)
        ws["F5"].number_format = "0.00%"
        ws["F6"] = "\u00a0 spazio unicode"
        ws["F7"] = "=x"
        ws["F7"]._value = "="   # a formula with nothing after "="
        ws.row_dimensions[3].height = 40
        ws.row_dimensions[9].height = 20   # a row with no cells
        ws.row_dimensions[12].hidden = True
        wb.create_sheet("Altro")["A1"] = "x"
        return wb

    def book_with_properties() -> Workbook:
        from openpyxl.packaging.custom import StringProperty
        wb = book()
        wb.custom_doc_props.append(StringProperty(name="pegxl", value="1"))
        return wb

    book_with_properties().save(tmp_path / "openpyxl-props.xlsx")
    fastsave.save(book_with_properties(), tmp_path / "fast-props.xlsx")
    same_parts(tmp_path / "openpyxl-props.xlsx", tmp_path / "fast-props.xlsx")

    book().save(tmp_path / "openpyxl.xlsx")
    fastsave.save(book(), tmp_path / "fast.xlsx")
    same_parts(tmp_path / "openpyxl.xlsx", tmp_path / "fast.xlsx")


# openpyxl's own ways of making the cells, as generate.py and formulas.py made them before
# the fast ones: the reference the templates are compared with
def _slow_cell(ws, row, col):
    return ws.cell(row=row, column=col)


def _slow_formula(ws, row, col, text):
    return ws.cell(row=row, column=col, value=text)


def _slow_formulas(ws, row, items):
    for col, text in items:
        ws.cell(row=row, column=col, value=text)


def _slow_put_row(ws, row, items):
    for col, value in items:
        _slow_put(ws, row, col, value)


def _slow_put(ws, row, col, value, *, wrap=True, formula=False):
    c = ws.cell(row=row, column=col)
    c.value = value
    if not formula and isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        c.data_type = "s"
    if isinstance(value, (dt.date, dt.datetime)):
        F._style(c, "date" if wrap else "date_nowrap")
    elif wrap:
        F._style(c, "wrap")
    return c


def _slow_records(df):
    return list(df.itertuples(index=False))


@pytest.fixture
def slow_cells(monkeypatch):
    """Every module of pegxl.templates makes its cells through openpyxl's own calls."""
    slow = {"_cell": _slow_cell, "_formula": _slow_formula, "_formulas": _slow_formulas, "_put": _slow_put,
            "_put_row": _slow_put_row, "_records": _slow_records}

    def use() -> None:
        for name, module in list(sys.modules.items()):
            if name.startswith("pegxl.templates"):
                for attr, fn in slow.items():
                    if hasattr(module, attr):
                        monkeypatch.setattr(module, attr, fn)
    return use


def _same_plain_values(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def test_records_are_itertuples(plan):
    frames = [plan.objectives, plan.phases, plan.indicators, plan.sectors]
    for code in plan.sector_codes:
        objectives = plan.objectives_of(code)
        codes = list(objectives["objective"])
        frames += [objectives, plan.phases_of(codes), plan.indicators_of(codes), plan.phases_of([])]
    for df in frames:
        fast, slow = F._records(df), _slow_records(df)
        assert [r._fields for r in fast] == [r._fields for r in slow]
        assert len(fast) == len(slow)
        for a, b in zip(fast, slow):
            assert all(_same_plain_values(x, y) for x, y in zip(a, b)), (a, b)


def test_sector_rows_are_the_filtered_tables(plan):
    """Plan.sector_rows (the tables converted once) gives a settore's rows as itertuples
    gives them from objectives_of, phases_of and indicators_of."""
    for code in [*plan.sector_codes, "NESSUNO"]:
        objectives = plan.objectives_of(code)
        codes = list(objectives["objective"])
        frames = (objectives, plan.phases_of(codes), plan.indicators_of(codes))
        for fast, df in zip(plan.sector_rows(code), frames):
            slow = _slow_records(df)
            assert [r._fields for r in fast] == [r._fields for r in slow]
            assert len(fast) == len(slow) and (code == "NESSUNO" or slow)
            for a, b in zip(fast, slow):
                assert all(_same_plain_values(x, y) for x, y in zip(a, b)), (a, b)


@pytest.mark.parametrize("packed", [False, True])
def test_sector_rows_packed_for_the_workers_are_the_same(plan, packed):
    """pack_sector_rows (merge's copy workers unpickle their own rows): the same rows,
    types and values, for every settore; a table replaced afterwards is read, not the
    rows packed before it."""
    import copy
    plan = copy.copy(plan)
    plan._idx, plan._packed = {}, None
    before = {code: plan.sector_rows(code) for code in plan.sector_codes}
    if packed:
        plan.pack_sector_rows()
        assert plan._packed is not None
    for code, rows in before.items():
        for fast, slow in zip(plan.sector_rows(code), rows):
            assert [type(r) for r in fast] == [type(r) for r in slow]
            for a, b in zip(fast, slow):
                assert all(_same_plain_values(x, y) for x, y in zip(a, b)), (a, b)
    if packed:
        assert "rows" not in plan._idx and plan.sector_rows("NESSUNO") == ([], [], [])
        assert "rows" not in plan._idx   # an unknown code does not bring the rows back
    code = plan.sector_codes[0]
    plan.phases = plan.phases.assign(description="cambiata")
    assert {r.description for r in plan.sector_rows(code)[1]} <= {"cambiata"}


def _fast_and_slow(plan, tmp_path, slow_cells, codes):
    fast = generate_templates(plan, tmp_path / "veloci", generated_at=GENERATED_AT, sectors=codes, jobs=1)
    slow_cells()
    for code, path in zip(codes, fast):
        ref = tmp_path / f"{code}-openpyxl.xlsx"
        build_template(plan, code, generated_at=GENERATED_AT).save(ref)
        same_parts(ref, path)


def test_cells_made_as_openpyxl_makes_them(plan, tmp_path, slow_cells):
    """The odd plan's templates, cells made by formulas.py and saved by fastsave, are
    those of openpyxl's Worksheet.cell, Cell.value and Workbook.save."""
    _fast_and_slow(plan, tmp_path, slow_cells, plan.sector_codes)


def test_synthetic_templates_made_as_openpyxl_makes_them(tmp_path, slow_cells):
    write_plan(tmp_path / "piano.xlsx", synthetic_plan(n_sectors=3, n_objectives=6, n_phases=3, n_indicators=3))
    plan = read_plan(tmp_path / "piano.xlsx")
    _fast_and_slow(plan, tmp_path, slow_cells, plan.sector_codes)


def test_reference_columns_made_as_openpyxl_makes_them(plan, tmp_path, slow_cells):
    """A later snapshot's templates (locked reference columns: numbers, dates, sì/no, text,
    blanks) are those of openpyxl's own cells and save too."""
    from pegxl.templates.reference import SnapshotValues
    phases, indicators = {}, {}
    for k, code in enumerate(plan.sector_codes):
        objectives = plan.objectives_of(code)
        codes = list(objectives["objective"])
        for i, (o, n) in enumerate(zip(*[list(plan.phases_of(codes)[c]) for c in ("objective", "phase")])):
            phases[(code, o, int(n))] = [70.0, None, 12.5, 0.0][(i + k) % 4]
        for i, (o, n) in enumerate(zip(*[list(plan.indicators_of(codes)[c]) for c in ("objective", "indicator")])):
            indicators[(code, o, int(n))] = [3.0, dt.date(2024, 6, 30), True, False, "=in testo", None][(i + k) % 6]
    ref = SnapshotValues("Monitoraggio intermedio", dt.date(2024, 6, 30), 1, phases, indicators)
    fast = generate_templates(plan, tmp_path / "veloci", generated_at=GENERATED_AT, jobs=1, reference=ref)
    slow_cells()
    for code, path in zip(plan.sector_codes, fast):
        slow = tmp_path / f"{code}-openpyxl.xlsx"
        build_template(plan, code, generated_at=GENERATED_AT, reference=ref).save(slow)
        same_parts(slow, path)
        assert b"al 30/06" in parts(path)["xl/worksheets/sheet3.xml"]   # the reference column is there


def test_put_binds_as_openpyxl(tmp_path):
    """_put, cell by cell, against Cell.value: data type, value, style, the number formats
    the workbook lists; and the characters a workbook cannot hold are refused alike."""
    from openpyxl.utils.exceptions import IllegalCharacterError
    values = ["testo", "  spazi ", "=SUM(A1:A2)", "=", "+39 333", "-5", "@x", "#N/A", "#DIV/0!", "",
              0, -3, 2.5, float("nan"), True, False, None, dt.date(2024, 1, 31),
              dt.datetime(2024, 1, 31, 8, 5), dt.datetime(2024, 1, 31), "x" * 40000]
    for wrap in (True, False):
        for formula in (True, False):
            fast, slow = Workbook(), Workbook()
            for i, v in enumerate(values, start=1):
                a = F._put(fast.active, i, 1, v, wrap=wrap, formula=formula)
                b = _slow_put(slow.active, i, 1, v, wrap=wrap, formula=formula)
                assert (a.data_type, a.coordinate) == (b.data_type, b.coordinate), v
                assert _same_plain_values(a.value, b.value), v
                assert list(a._style or []) == list(b._style or []), v
            assert list(fast._number_formats) == list(slow._number_formats)
            assert fast.active._current_row == slow.active._current_row
    fast, slow = Workbook(), Workbook()
    for i, v in enumerate(values, start=1):   # a row at a time, as _put_row writes them
        F._put_row(fast.active, i, [(1, v), (2, v), (3, "testo")])
        _slow_put_row(slow.active, i, [(1, v), (2, v), (3, "testo")])
    for a, b in zip(fast.active.iter_rows(), slow.active.iter_rows()):
        for x, y in zip(a, b):
            assert (x.data_type, x.coordinate, list(x._style or [])) == (y.data_type, y.coordinate, list(y._style or []))
            assert _same_plain_values(x.value, y.value), x.value
    assert list(fast._number_formats) == list(slow._number_formats)
    assert fast.active._current_row == slow.active._current_row
    with pytest.raises(IllegalCharacterError):
        F._put_row(Workbook().active, 1, [(1, "a\x01b")])
    with pytest.raises(IllegalCharacterError):
        F._put(Workbook().active, 1, 1, "a\x01b")
    with pytest.raises(IllegalCharacterError):
        _slow_put(Workbook().active, 1, 1, "a\x01b")


def test_jobs_write_the_same_templates(plan, tmp_path):
    one = generate_templates(plan, tmp_path / "uno", generated_at=GENERATED_AT, jobs=1)
    two = generate_templates(plan, tmp_path / "due", generated_at=GENERATED_AT, jobs=2)
    assert [p.name for p in one] == [p.name for p in two]   # plan order either way
    for a, b in zip(one, two):
        same_parts(a, b)


def test_generated_templates_match_openpyxl_save(plan, tmp_path):
    """What `pegxl templates` writes is what build_template + Workbook.save writes."""
    paths = generate_templates(plan, tmp_path / "modelli", generated_at=GENERATED_AT, jobs=2)
    for code, path in zip(plan.sector_codes, paths):
        ref = tmp_path / f"{code}-ref.xlsx"
        build_template(plan, code, generated_at=GENERATED_AT).save(ref)
        same_parts(ref, path)


def _fit_rows_reference(ws, first_row: int = 2, max_height: float = 409.0) -> None:
    """fit_rows the slow way (a style object per cell), with paper's estimate of the lines
    (issue 13: the estimate changed, the quick path must still give what this gives)."""
    from openpyxl.cell.cell import MergedCell

    from pegxl.workbook import paper
    widths = {k: (v.width or 13) for k, v in ws.column_dimensions.items()}
    for r, row in enumerate(ws.iter_rows(min_row=first_row, max_row=ws.max_row), start=first_row):
        lines, size = 1, paper.DEFAULT_FONT_PT
        for c in row:
            v = c.value
            if v is None or isinstance(c, MergedCell) or not (c.alignment and c.alignment.wrap_text) or (
                    isinstance(v, str) and v.startswith("=") and c.data_type == "f"):
                continue
            text = v.strftime("%d/%m/%Y") if isinstance(v, (dt.date, dt.datetime)) else str(v)
            sz = float(c.font.sz or paper.DEFAULT_FONT_PT)
            n = paper.line_count(text, widths.get(c.column_letter, 13), sz, bool(c.font.b))
            if n * sz > lines * size:
                lines, size = n, sz
        if lines > 1:
            ws.row_dimensions[r].height = min(max_height, paper.lines_height(lines, size))


def test_fit_rows_gives_the_heights_it_gave(plan):
    from pegxl.workbook import style as S
    tall = 0
    for code in plan.sector_codes:
        wb = build_template(plan, code, generated_at=GENERATED_AT)
        for ws in wb.worksheets:
            first = 1 if ws.title == "Istruzioni" else 2
            for dim in ws.row_dimensions.values():
                dim.height = None
            ws.cell(row=first, column=1).alignment = Alignment(wrap_text=True)   # a wrapped title too
            S.fit_rows(ws, first_row=first)
            fast = {r: d.height for r, d in ws.row_dimensions.items() if d.height}
            for dim in ws.row_dimensions.values():
                dim.height = None
            _fit_rows_reference(ws, first_row=first)
            assert fast == {r: d.height for r, d in ws.row_dimensions.items() if d.height}, ws.title
            tall += len(fast)
    assert tall > 0   # some rows were made taller: the comparison can fail


@pytest.mark.parametrize("kind", ["percent", "number", "date", "bool"])
def test_reading_steps_from_a_pattern_are_reading_steps(kind):
    """The _letture formulas made from a pattern per block are reading_steps' own, row by row
    (rows with the pattern's digits in them too)."""
    bounds = [{}, {"lo": 0, "hi": 100}] if kind in ("percent", "number") else [{}]
    rows = [*range(1, 1200), 10485, 48577, 104857, 1048576]
    for sheet, letter, first in (("Fasi", "G", 14), ("Indicatori", "K", 26), ("Obiettivi", "M", 2)):
        for kw in bounds:
            for row in rows:
                assert F.row_reading_steps(kind, sheet, letter, row, first, **kw) == \
                    F.reading_steps(kind, f"{sheet}!{letter}{row}", row, first, **kw)


def test_write_header_styles_as_each_cell_styled_alone():
    """write_header copies the first header cell's styles to the others: the cells and the
    workbook's style lists are those of styling each cell (pre-styled cells keep the rest)."""
    from pegxl.workbook import style as S

    def header(ws, heads):
        for i, h in enumerate(heads, start=1):
            c = ws.cell(row=1, column=i, value=h)
            c.fill, c.font, c.alignment, c.border = S.HEADER_FILL, S.HEADER_FONT, S.HEADER_ALIGN, S.BORDER

    heads = ["Codice", "Descrizione lunga di una colonna", "Peso %", "Note"]
    fast, slow = Workbook(), Workbook()
    for wb, write in ((fast, S.write_header), (slow, header)):
        ws = wb.active
        ws["C1"].number_format = "0.00%"    # a header cell styled before
        ws["D1"].protection = S.UNLOCKED
        write(ws, heads)
        write(wb.create_sheet("Altro"), heads[:2])
    for a, b in zip(fast.worksheets, slow.worksheets):
        assert [list(c._style) for c in a[1]] == [list(c._style) for c in b[1]]
    for attr in ("_fonts", "_fills", "_borders", "_alignments", "_protections", "_number_formats"):
        assert list(getattr(fast, attr)) == list(getattr(slow, attr)), attr


@pytest.mark.parametrize("bad", ["a\x01b", "accentata è e \x0b", "surrogato \ud800", "non carattere \uffff"])
def test_fast_save_writes_odd_characters_as_openpyxl(tmp_path, bad):
    """A value past Cell.value's check (control characters, a lone surrogate) is written as
    openpyxl writes it, or refused alike."""
    def book() -> Workbook:
        wb = Workbook()
        wb.active["A1"] = "prima"
        wb.active["A2"].comment = Comment("nota", "pegxl")
        c = wb.active["B2"]
        c._value, c.data_type = bad, "s"
        return wb

    try:
        book().save(tmp_path / "openpyxl.xlsx")
    except ValueError as refused:
        with pytest.raises(type(refused)):
            fastsave.save(book(), tmp_path / "fast.xlsx")
        return
    fastsave.save(book(), tmp_path / "fast.xlsx")
    same_parts(tmp_path / "openpyxl.xlsx", tmp_path / "fast.xlsx")


def test_fast_save_comments_as_openpyxl(tmp_path):
    """The comments' boxes (VML) written from one box's text are openpyxl's own, for many
    comments of any size on several sheets."""
    def book() -> Workbook:
        wb = Workbook()
        for s, ws in enumerate([wb.active, wb.create_sheet("Altro"), wb.create_sheet("Senza")]):
            for i in range(0 if s == 2 else 30):
                c = ws.cell(row=1 + i * 7 % 41, column=1 + i % 28, value=f"v{i}")
                cm = Comment(f"nota {i} <&>", "pegxl" if i % 3 else "altro")
                cm.width, cm.height = (260, 80) if i % 2 else (144 + i, 79.5)
                c.comment = cm
        return wb

    book().save(tmp_path / "openpyxl.xlsx")
    fastsave.save(book(), tmp_path / "fast.xlsx")
    same_parts(tmp_path / "openpyxl.xlsx", tmp_path / "fast.xlsx")
    assert b"_x0000_s1055" in parts(tmp_path / "fast.xlsx")["xl/drawings/commentsDrawing2.vml"]


def test_fast_save_styles_of_each_workbook(tmp_path):
    """styles.xml is kept by the workbook's styles: books that differ in one style, or in a
    style object changed in place after a save, each get their own."""
    bold = Font(bold=True)

    def book(font, fill="FFF2CC") -> Workbook:
        wb = Workbook()
        c = wb.active["A1"]
        c.value, c.font, c.fill = "x", font, PatternFill("solid", fgColor=fill)
        return wb

    for i, make in enumerate([lambda: book(bold), lambda: book(Font(italic=True)), lambda: book(bold, "E2EFDA"),
                              lambda: book(bold)]):
        make().save(tmp_path / f"openpyxl{i}.xlsx")
        fastsave.save(make(), tmp_path / f"fast{i}.xlsx")
        same_parts(tmp_path / f"openpyxl{i}.xlsx", tmp_path / f"fast{i}.xlsx")
    bold.size = 20   # the same object, changed
    book(bold).save(tmp_path / "openpyxl.xlsx")
    fastsave.save(book(bold), tmp_path / "fast.xlsx")
    same_parts(tmp_path / "openpyxl.xlsx", tmp_path / "fast.xlsx")
    assert b'sz val="20"' in parts(tmp_path / "fast.xlsx")["xl/styles.xml"]


def test_fast_save_sheet_settings_of_each_sheet(tmp_path):
    """The sheets' settings (views, page, header, protection, properties) kept as text are
    each sheet's own, in books saved one after the other."""
    def book(k: int) -> Workbook:
        wb = Workbook()
        ws = wb.active
        ws["A1"] = "x"
        ws.freeze_panes = ["B2", "C3", None][k % 3]
        ws.oddHeader.center.text = f"Ente {k % 2} & «settore»"
        ws.oddFooter.right.text = "Pagina &P di &N"
        ws.oddHeader.left.size = 8 + k % 2
        ws.page_setup.orientation = ["portrait", "landscape"][k % 2]
        ws.page_setup.fitToWidth = k % 2
        ws.sheet_properties.pageSetUpPr.fitToPage = bool(k % 2)
        ws.sheet_properties.tabColor = ["1F4E79", "FFF2CC", None][k % 3]
        ws.page_margins.left = 0.4 + k / 10
        ws.print_options.horizontalCentered = bool(k % 2)
        ws.protection.sheet = bool(k % 3)
        ws.protection.password = f"p{k % 2}"
        ws.sheet_view.zoomScale = [100, 85, None][k % 3]
        other = wb.create_sheet("Altro")
        other["B2"] = 1
        other.sheet_view.selection[0].activeCell = ["B2", "A1"][k % 2]
        return wb

    for k in range(6):
        book(k).save(tmp_path / f"openpyxl{k}.xlsx")
        fastsave.save(book(k), tmp_path / f"fast{k}.xlsx")
        same_parts(tmp_path / f"openpyxl{k}.xlsx", tmp_path / f"fast{k}.xlsx")


def test_a_part_of_the_plan_holds_the_rows_of_its_settori_alone(plan):
    """plan_part (what a merge's worker is sent to score a group of settori): the rows of
    those settori, the same as the whole plan's, nobody else's, the same rules and phase."""
    from pegxl.validators.scored import plan_part
    codes = plan.sector_codes[1:3]
    part = plan_part(plan, codes)
    assert part.sector_codes == codes and part.tables == {} and part._packed is None
    assert (part.rules, part.final, part.anno, part.ente) == (plan.rules, plan.final, plan.anno, plan.ente)
    for code in plan.sector_codes:
        mine = part.sector_rows(code)
        if code not in codes:
            assert mine == ([], [], [])
            continue
        for fast, slow in zip(mine, plan.sector_rows(code)):
            assert len(fast) == len(slow) > 0
            for a, b in zip(fast, slow):
                assert all(_same_plain_values(x, y) for x, y in zip(a, b)), (a, b)
    objectives = set(plan.assignments[plan.assignments["sector"].isin(codes)]["objective"])
    assert set(part.objectives["objective"]) == objectives
    assert set(part.phases["objective"]) | set(part.indicators["objective"]) <= objectives
    assert len(part.phases) == len(plan.phases[plan.phases["objective"].isin(objectives)])


def test_the_fingerprints_rows_are_let_go_once_every_settore_has_its_own(plan):
    """Plan.fingerprint hashes every settore from rows built once for it (28 MB at 1,000
    settori) and lets them go: the settori's fingerprints stay, the same."""
    import copy
    plan = copy.copy(plan)
    plan._idx, plan._fp_cache = {}, {}
    one = plan.sector_fingerprint(plan.sector_codes[0])
    assert "fp_rows" in plan._idx
    whole = plan.fingerprint()
    assert "fp_rows" not in plan._idx
    assert plan.sector_fingerprint(plan.sector_codes[0]) == one and plan.fingerprint() == whole
    assert "fp_rows" not in plan._idx


@pytest.mark.parametrize("fork", ["1", "0"])
def test_the_fingerprints_made_beside_the_packing_are_the_plans_own(plan, monkeypatch, fork):
    """copies.beside: the settori's fingerprints made by a forked child while this process
    packs the rows of the templates (PEGXL_APART=0: one after the other, here) are those
    the plan makes itself; with the child, the rows they are made of are never built here."""
    import copy

    from pegxl.copies import beside
    from pegxl.writeback import _Fingerprint
    monkeypatch.setenv("PEGXL_APART", fork)
    fresh = copy.copy(plan)
    fresh._idx, fresh._fp_cache = {}, {}
    packed, built = [], []   # built: the fingerprints' rows made in this process
    real = type(fresh)._fp_rows
    monkeypatch.setattr(type(fresh), "_fp_rows", lambda self: built.append(1) or real(self))
    got = beside(_Fingerprint(fresh), lambda: packed.append(fresh.pack_sector_rows()))
    assert len(built) == (0 if fork == "1" else 1)
    mine = copy.copy(plan)
    mine._idx, mine._fp_cache = {}, {}
    assert got == mine.fingerprint() and packed == [None] and fresh._packed is not None
    assert {s: fresh.sector_fingerprint(s) for s in fresh.sector_codes} == \
        {s: mine.sector_fingerprint(s) for s in mine.sector_codes}
    assert ("fp_rows" not in fresh._idx) and (fork == "0" or fresh._fp_cache.keys() == mine._fp_cache.keys())


def test_a_failure_making_the_fingerprints_beside_is_raised_here(plan, monkeypatch):
    import copy

    from pegxl.copies import beside
    from pegxl.writeback import _Fingerprint
    fresh = copy.copy(plan)
    fresh._idx, fresh._fp_cache = {}, {}
    # a settore's fingerprint that cannot be made: in the child, then here, raised here
    monkeypatch.setattr(type(fresh), "_sector_fingerprint", lambda self, sector: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        beside(_Fingerprint(fresh), lambda: None)


def test_a_fingerprints_child_that_dies_leaves_them_to_this_process(plan, monkeypatch):
    """The child forked for the fingerprints killed (for memory, say): they are made here."""
    import copy
    import os

    from pegxl.copies import beside
    from pegxl.workbook.apart import forks
    from pegxl.writeback import _Fingerprint
    if not forks():
        pytest.skip("apart does not fork here")
    parent = os.getpid()
    fresh = copy.copy(plan)
    fresh._idx, fresh._fp_cache = {}, {}
    real = type(fresh).fingerprints
    monkeypatch.setattr(type(fresh), "fingerprints",
                        lambda self, made=None: os._exit(9) if os.getpid() != parent else real(self, made))
    mine = copy.copy(plan)
    mine._idx, mine._fp_cache = {}, {}
    assert beside(_Fingerprint(fresh), lambda: None) == mine.fingerprint()
