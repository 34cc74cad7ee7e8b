"""The quick read paths of issue 12 (plan read + check, one pass per returned file) give
what the slower ones gave."""
from __future__ import annotations

import datetime as dt
import gc
import zipfile

import openpyxl
import pandas as pd
import os
import sys

import pytest
from around_helpers import make_plan, plan_data

from pegxl.validators.plan import check_plan
from pegxl.workbook import contract as C
from pegxl.workbook.planfile import write_plan
from pegxl.workbook.memory import gc_paused
from pegxl.workbook.reader import MAX_CELLS, read_values, records, sheet_bound, xlsx_extents
from pegxl.workbook.scan import percent_cells, scan


def test_gc_paused_restores_the_collector_and_nests():
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()   # the outer pause still holds
    assert gc.isenabled()
    with pytest.raises(RuntimeError):
        with gc_paused():
            raise RuntimeError("x")
    assert gc.isenabled()


def test_records_are_those_of_pandas():
    df = pd.DataFrame({"a": ["x", None, "z"], "n": [1.5, float("nan"), 3.0], "xlrow": [2, 3, 4],
                       "d": [dt.date(2024, 1, 2), None, dt.date(2024, 3, 4)]})
    df["a"] = df["a"].astype(object)
    mine, theirs = records(df), df.to_dict("records")
    assert repr(mine) == repr(theirs)
    assert [type(v) for r in mine for v in r.values()] == [type(v) for r in theirs for v in r.values()]
    assert records(df.iloc[0:0]) == []


def one_sheet(path, cells: dict[str, object]):
    """A workbook of one sheet, Fasi, holding `cells` (A1 -> value)."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Fasi"
    for a1, value in cells.items():
        ws[a1] = value
    wb.save(path)
    return path


def test_sheet_bound_is_above_the_exact_extents(tmp_path):
    path = one_sheet(tmp_path / "b.xlsx", {"A1": "x", "AC12345": 5, "C7": "y"})
    exact = xlsx_extents(path)["Fasi"]
    assert exact == (12345, 29)
    with zipfile.ZipFile(path) as zf:
        data = zf.read("xl/worksheets/sheet1.xml")
    rows, cols = sheet_bound(data)
    assert rows >= exact[0] and cols >= exact[1]
    small = data.replace(b'r="AC12345"', b'r="B5"').replace(b'r="12345"', b'r="5"')
    assert sheet_bound(small) == (999, 26)   # the floor: nothing beyond it
    # the scan of a workbook gives the same bound, so read_values needs not measure again
    assert scan(str(path)).sheets["Fasi"].bound == (rows, cols)


def test_a_bound_over_the_limit_is_measured_exactly_before_reading(tmp_path):
    # 16,384 columns x 900 rows: past MAX_CELLS
    path = one_sheet(tmp_path / "largo.xlsx", {"A1": "x", "XFD900": 1})
    bound = scan(str(path)).sheets["Fasi"].bound
    assert bound is not None and bound[0] * bound[1] > MAX_CELLS
    from pegxl.errors import PegxlError
    with pytest.raises(PegxlError) as exc:
        read_values(path, bound={"Fasi": bound})
    assert exc.value.findings[0].code == "F006"


def test_percent_cells_read_only_where_a_percent_style_exists(tmp_path):
    path, _ = make_plan(tmp_path)
    assert percent_cells(str(path), {C.SHEET_INDICATORS}) == {}
    wb = openpyxl.load_workbook(path)
    ws = wb[C.SHEET_INDICATORS]
    ws["I2"].number_format = "0%"
    wb.save(path)
    found = percent_cells(str(path), {C.SHEET_INDICATORS})
    assert found == {C.SHEET_INDICATORS: scan(str(path), sheets={C.SHEET_INDICATORS}).sheets[
        C.SHEET_INDICATORS].percent_cells}
    assert "I2" in found[C.SHEET_INDICATORS]


def test_plan_findings_come_in_row_order_as_a_row_by_row_parse_gave_them(tmp_path):
    data = plan_data()
    phases = data["Fasi"]
    # row 2: a bad phase number and a bad date; row 3: a text date and a bad peso
    phases[0]["N. fase"] = "uno"
    phases[0]["Fine prevista"] = "31/02/2024"
    phases[1]["Inizio previsto"] = "01/03/2024"
    phases[1]["Peso"] = "tanto"
    path = write_plan(tmp_path / "piano.xlsx", data)
    _, findings = check_plan(path)
    on_phases = [(f.row, f.code) for f in findings
                 if f.sheet == C.SHEET_PHASES and f.code in ("P010", "P015", "P016", "P026")]
    assert on_phases == sorted(on_phases, key=lambda x: x[0])
    assert (2, "P026") in on_phases and (2, "P010") in on_phases
    assert (3, "P015") in on_phases and (3, "P016") in on_phases
    # within a row, the columns' order: the phase number before the dates
    row2 = [c for r, c in on_phases if r == 2]
    assert row2.index("P026") < row2.index("P010")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="malloc_trim: glibc")
def test_release_memory_gives_back_what_was_freed_in_the_middle_of_the_heap():
    """merge calls it after reading the returns: freed memory the allocator keeps (a heap
    with holes that free() alone cannot give back) leaves the process's resident size."""
    from pegxl.workbook.memory import release_memory

    def rss_kb() -> int:
        return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
    kept, freed = [], []
    for i in range(120_000):   # 600 bytes each: past pymalloc, from malloc's heap
        (kept if i % 64 == 0 else freed).append(bytes(600) + i.to_bytes(4, "little"))
    del freed
    before = rss_kb()
    assert release_memory() is True
    assert rss_kb() < before - 20_000   # most of the 60 MB freed between the kept ones
    assert len(kept) == 1_875


_MAPPED_APART = """
import ctypes, sys
from pegxl.workbook.memory import bound_heap

class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                "fsmblks", "uordblks", "fordblks", "keepcost")]
info = ctypes.CDLL(None).mallinfo2
info.restype = MallInfo2
if sys.argv[1] == "bound":
    assert bound_heap() is True
x = b"x" * (8 << 20)
del x   # glibc alone maps apart only blocks larger than this one from now on
big = [b"x" * (1 << 20) for _ in range(60)]
print(info().hblkhd >> 20)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt: glibc")
def test_bound_heap_keeps_large_blocks_apart_to_give_them_back_when_freed():
    """merge calls it first: the parts of text it builds, a megabyte each, are mapped apart
    (and so given back as soon as freed) even after a larger block was freed, where glibc
    alone would put them in its heap among live objects. A process-wide setting: each
    case in a process of its own."""
    import subprocess
    mapped = {how: int(subprocess.run([sys.executable, "-c", _MAPPED_APART, how], check=True,
                                      capture_output=True, text=True).stdout)
              for how in ("bound", "glibc")}
    assert mapped["bound"] >= 55 and mapped["glibc"] < 10, mapped
