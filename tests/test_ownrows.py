"""The streaming reader of pegxl's own workbooks (workbook.ownrows) gives what calamine
(reader.iter_sheet_rows) gives, or says it cannot (NotOwnXml) and calamine reads the sheet."""
from __future__ import annotations

import datetime as dt
import re
import zipfile

import openpyxl
import pytest

from pegxl.workbook import fastsave, ownrows
from pegxl.workbook.ownrows import NotOwnXml, iter_own_rows
from pegxl.workbook.reader import blank_row, iter_sheet_rows

VALUES = [
    "testo", "x&y<z>", "  spazi davanti", "spazi dietro  ", "a\nb", "a\r\nb", "cr\rx", "é ù € 😀",
    'virgolette " e \'', "&amp; scritto", 0, -3, 1.5, 1e20, -2.5e-7, 123456789012345678, 0.1 + 0.2,
    2.0 ** 53, True, False, dt.date(2024, 2, 29), dt.date(1900, 3, 1), dt.date(2024, 12, 31), "", None,
]


def _book(path, rows, *, formats=None):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Dati"
    for r in rows:
        ws.append(r)
    for (row, col), fmt in (formats or {}).items():
        ws.cell(row, col).number_format = fmt
    fastsave.save(wb, path)   # what pegxl writes: every text an inline string
    return path


def _calamine(path, sheet="Dati"):
    rows = list(iter_sheet_rows(path, sheet))
    return [rows[0], *(r for r in rows[1:] if not blank_row(r))] if rows else []


def _trim(row):
    row = list(row)
    while row and row[-1] is None:
        row.pop()
    return row


def _same(a, b):
    assert [_trim(r) for r in a] == [_trim(r) for r in b]
    assert [[type(x) for x in _trim(r)] for r in a] == [[type(x) for x in _trim(r)] for r in b]


def test_every_value_as_calamine_gives_it(tmp_path):
    header = [f"C{i}" for i in range(len(VALUES))]
    rows = [header, VALUES, list(reversed(VALUES)), [None] * len(VALUES), ["ultima"]]
    path = _book(tmp_path / "v.xlsx", rows, formats={(2, 1): "DD/MM/YYYY", (3, 12): '0.00" %"'})
    own = list(iter_own_rows(path, "Dati", lambda h: range(len(h))))
    _same(own, _calamine(path))
    assert own[1][VALUES.index("cr\rx")] == "cr\nx"   # line ends as an XML parser reads them
    assert own[1][VALUES.index(dt.date(2024, 2, 29))] == dt.date(2024, 2, 29)


def test_only_the_columns_asked_for(tmp_path):
    path = _book(tmp_path / "c.xlsx", [["A", "B", "C", "D"], [1, "x", None, 4], [None, "y", None, None],
                                       [None, None, None, None], [5, None, "z", 6]])
    asked = []

    def columns(header):
        asked.append(header)
        return [0, 3, None]
    own = list(iter_own_rows(path, "Dati", columns))
    assert asked == [["A", "B", "C", "D"]]
    # the header whole; then the rows with a value in A or D, the other columns empty
    assert own == [["A", "B", "C", "D"], [1, None, None, 4], [5, None, None, 6]]


def test_blocks_of_any_size(tmp_path, monkeypatch):
    rows = [[f"C{i}" for i in range(6)], *([i, f"t{i}", i / 7, dt.date(2024, 1, 1 + i % 28), None, "x&y"]
                                           for i in range(200))]
    path = _book(tmp_path / "b.xlsx", rows)
    whole = list(iter_own_rows(path, "Dati", lambda h: range(6)))
    _same(whole, _calamine(path))
    for size in (1, 7, 333):
        monkeypatch.setattr(ownrows, "CHUNK", size)
        assert list(iter_own_rows(path, "Dati", lambda h: range(6))) == whole


@pytest.mark.parametrize("value, fmt", [
    ("a_x000D_b", None),                              # an escape calamine decodes
    (dt.datetime(2024, 5, 6, 10, 30), None),          # a date with its time: calamine rounds it
    (dt.time(10, 30), None),                          # a time of day
    (3.5, "[h]:mm"),                                  # a duration
])
def test_what_it_leaves_to_calamine(tmp_path, value, fmt):
    path = _book(tmp_path / "n.xlsx", [["A", "B"], ["k", value]], formats={(2, 2): fmt} if fmt else None)
    with pytest.raises(NotOwnXml):
        list(iter_own_rows(path, "Dati", lambda h: [0, 1]))


@pytest.mark.parametrize("cell", ['<c r="A2" t="s"><v>0</v></c>',          # a shared string
                                  '<c r="A2"><f>1+1</f><v>2</v></c>',        # a formula
                                  '<c r="A2" t="e"><v>#N/A</v></c>',        # an error value
                                  '<c\nr="A2" t="inlineStr"><is><t>testo</t></is></c>',   # other spacing
                                  '<x:c r="A2" t="inlineStr"><x:is><x:t>testo</x:t></x:is></x:c>'])   # a prefix
def test_other_cell_forms_are_left_to_calamine(tmp_path, cell):
    path = _book(tmp_path / "s.xlsx", [["A"], ["testo"]])
    with zipfile.ZipFile(path) as zf:
        parts = {n: zf.read(n) for n in zf.namelist()}
    sheet = "xl/worksheets/sheet1.xml"
    parts[sheet] = re.sub(rb'<c r="A2".*?</c>', cell.encode(), parts[sheet])
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in parts.items():
            zf.writestr(name, data)
    with pytest.raises(NotOwnXml):
        list(iter_own_rows(path, "Dati", lambda h: [0]))


def test_a_missing_sheet_and_a_sheet_without_row_1(tmp_path):
    path = _book(tmp_path / "m.xlsx", [[None], [None], ["dati", 1]])
    with pytest.raises(NotOwnXml):   # calamine finds the sheets its own way: it says
        list(iter_own_rows(path, "Altro", lambda h: [0]))
    assert list(iter_own_rows(path, "dati", lambda h: [0, 1])) == [[], ["dati", 1]]   # found by its name


def test_iter_records_gives_records_a_slice_at_a_time(monkeypatch):
    """reader.iter_records: the dicts `records` gives, whatever the slice (RECORDS_AT_ONCE),
    of the columns asked for only, and by position when a name repeats."""
    import numpy as np
    import pandas as pd

    from pegxl.workbook import reader
    df = pd.DataFrame({"a": range(10), "b": list("abcdefghij"), "c": np.arange(10) / 3,
                       "d": [dt.date(2024, 1, 1 + i) for i in range(10)]})
    twice = pd.DataFrame([[1, "x"], [3, "y"], [5, "z"]], columns=["k", "k"])
    for size in (1, 3, 10, 8192):
        monkeypatch.setattr(reader, "RECORDS_AT_ONCE", size)
        assert list(reader.iter_records(df)) == reader.records(df)
        assert list(reader.iter_records(df, ["b", "nessuna", "a"])) == [
            {"b": r["b"], "a": r["a"]} for r in reader.records(df)]
        assert list(reader.iter_records(twice)) == reader.records(twice)
        assert list(reader.iter_records(df.iloc[:0])) == []
        assert list(reader.iter_records(df, ["nessuna"])) == [{}] * 10


def test_a_boolean_stays_a_boolean_whatever_its_style(tmp_path):
    path = _book(tmp_path / "b.xlsx", [["A", "B"], [True, False]], formats={(2, 1): "DD/MM/YYYY"})
    own = list(iter_own_rows(path, "Dati", lambda h: [0, 1]))
    _same(own, _calamine(path))
    assert own[1] == [True, False]


@pytest.mark.parametrize("code, kind", [
    ("General", "number"), ('0.00" %"', "number"), ("#,##0.00", "number"), ("0.00E+00", "number"),
    ("DD/MM/YYYY", "date"), ("d-mmm-yy", "date"), ("[$-410]dd/mm/yyyy", "date"),
    # where calamine and openpyxl disagree, or a time: neither, so calamine reads the sheet
    ("DD/MM/YYYY HH:MM:SS", "other"), ("[h]:mm", "other"), ("0*d", "other"), ("a d", "other"),
    ('"a;b"dd/mm/yyyy', "other"), ("A/P", "other"), ("#,##0 ;(#,##0)", "other"), ("@", "other"), (None, "other"),
])
def test_number_formats_read_here_are_plain_dates_or_plain_numbers(code, kind):
    assert ownrows.format_kind(code) == kind


@pytest.mark.parametrize("fmt", ["0*d", "a d", '"a;b"dd/mm/yyyy', "@"])
def test_a_number_in_a_format_calamine_may_read_otherwise_goes_to_calamine(tmp_path, fmt):
    path = _book(tmp_path / "f.xlsx", [["A", "B"], ["k", 45000]], formats={(2, 2): fmt})
    with pytest.raises(NotOwnXml):
        list(iter_own_rows(path, "Dati", lambda h: [0, 1]))
    assert list(iter_own_rows(path, "Dati", lambda h: [0])) == [["A", "B"], ["k"]]   # not read: not asked
