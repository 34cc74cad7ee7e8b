"""The quick paths of the plan read (issue 12) give what the slow ones gave."""
from __future__ import annotations

import openpyxl
import pytest
from openpyxl.styles import Font

from around_helpers import make_plan

from pegxl.values import is_blank
from pegxl.workbook import contract as C
from pegxl.workbook.reader import MAX_CELLS, read_values, xlsx_extents


def test_styled_empty_cells_far_away_pass_the_bound_and_are_measured_exactly(tmp_path):
    # XFD1000 styled but empty: the quick bound (16,384 columns x 1,000 rows) is over the
    # limit, the exact measure (one cell) is not, and the file is read
    path = tmp_path / "largo.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Fasi"
    ws["A1"] = "Codice obiettivo"
    ws["B2"] = 3
    ws["XFD1000"].font = Font(bold=True)
    wb.save(path)
    bound = xlsx_extents(path, bound=True)["Fasi"]
    exact = xlsx_extents(path)["Fasi"]
    assert exact == (2, 2)
    assert bound[0] >= exact[0] and bound[1] >= exact[1]
    assert bound[0] * bound[1] > MAX_CELLS
    book = read_values(path)
    assert book.sheets["Fasi"].rows == [["Codice obiettivo", None], [None, 3]]


@pytest.mark.parametrize("raw, word", [("qualita", "QUALITÀ"), ("  Qualità ", "QUALITÀ"),
                                       ("QUALITÀ", "QUALITÀ"), ("efficacia", "EFFICACIA"),
                                       ("qualità?", None), (5, None), (None, None)])
def test_canonical_words_asked_again_and_again(raw, word):
    for _ in range(3):   # the answer remembered is the answer computed
        assert C.canonical(raw, C.TIPI_INDICATORE) == word
    assert C.canonical(raw, list(C.TIPI_INDICATORE)) == word


@pytest.mark.parametrize("value, blank", [(None, True), ("", True), ("  \t", True), (" x ", False),
                                          (0, False), (False, False), (0.0, False),
                                          (float("nan"), True), ("0", False)])
def test_is_blank(value, blank):
    assert is_blank(value) is blank


def test_sector_lookup_by_code(tmp_path):
    _, plan = make_plan(tmp_path)
    first = plan.sector_codes[0]
    assert plan.sector(first)["sector"] == first
    # repr: a blank peso is NaN, never equal to itself
    assert repr(plan.sector(first)) == repr(plan.sectors[plan.sectors["sector"] == first].iloc[0].to_dict())
    with pytest.raises(KeyError):
        plan.sector("NON-ESISTE")
    with pytest.raises(KeyError):
        plan.sector(None)  # type: ignore[arg-type]
