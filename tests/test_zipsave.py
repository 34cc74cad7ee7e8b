"""workbook.zipsave: a write-only workbook saved with its sheets compressed by threads has
openpyxl's own parts, in openpyxl's order, in a zip every reader takes."""
from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from openpyxl.chart import BarChart, Reference
from openpyxl.worksheet.datavalidation import DataValidation

from pegxl.workbook import zipsave
from pegxl.workbook.fastrows import FastWriteOnlyWorkbook


def _build(wb: Workbook) -> Workbook:
    big = wb.create_sheet("Fasi")
    big.append(["Settore", "Descrizione", "Data", "Valore"])
    for i in range(6000):   # several chunks of text: more than one read per file
        big.append([f"S{i % 37:03d}", f"fase {i} — «attività» di verifica " * (1 + i % 5),
                    dt.date(2025, 1, 1) + dt.timedelta(days=i % 300), i * 0.37])
    small = wb.create_sheet("Sintesi")
    small.protection.sheet = True
    dv = DataValidation(type="decimal", operator="between", formula1="0", formula2="100")
    dv.add("B2:B20")
    small.data_validations.append(dv)   # as the consolidated adds them
    small.append(["Settore", "%"])
    for i in range(5):
        small.append([f"S{i}", 80 + i])
    chart = BarChart()
    chart.add_data(Reference(small, min_col=2, min_row=1, max_row=6), titles_from_data=True)
    small.add_chart(chart, "D2")
    wb.create_sheet("Vuoto")
    return wb


def _parts(path: Path) -> tuple[list[str], dict[str, bytes]]:
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None   # every entry's CRC checked
        assert all(i.compress_type == zipfile.ZIP_DEFLATED for i in zf.infolist())
        return zf.namelist(), {n: zf.read(n) for n in zf.namelist()}


@pytest.mark.parametrize("make", [FastWriteOnlyWorkbook, lambda: Workbook(write_only=True)])
@pytest.mark.parametrize("threads", [1, 2, 4])
def test_the_parts_are_openpyxls_own(tmp_path, make, threads):
    plain, threaded = tmp_path / "plain.xlsx", tmp_path / "threaded.xlsx"
    _build(make()).save(plain)
    zipsave.save_threaded(_build(make()), threaded, threads=threads)
    names_a, a = _parts(plain)
    names_b, b = _parts(threaded)
    assert names_a == names_b
    for name in names_a:
        if name != "docProps/core.xml":   # the moment of saving
            assert a[name] == b[name], name
    # as large as openpyxl's: the same level of compression
    assert abs(threaded.stat().st_size - plain.stat().st_size) < 0.01 * plain.stat().st_size
    wb = load_workbook(threaded, read_only=True)
    rows = list(wb["Fasi"].iter_rows(values_only=True))
    assert len(rows) == 6001 and rows[2][0] == "S001" and rows[-1][3] == pytest.approx(5999 * 0.37)


def test_calamine_reads_it(tmp_path):
    from python_calamine import CalamineWorkbook
    path = tmp_path / "t.xlsx"
    zipsave.save_threaded(_build(FastWriteOnlyWorkbook()), path, threads=2)
    data = CalamineWorkbook.from_path(str(path)).get_sheet_by_name("Sintesi").to_python()
    assert data[0] == ["Settore", "%"] and data[5] == ["S4", 84.0]


def test_a_workbook_that_is_not_write_only_is_openpyxls_save(tmp_path):
    wb = Workbook()
    wb.active.append(["a", 1])
    zipsave.save_threaded(wb, tmp_path / "n.xlsx")
    assert load_workbook(tmp_path / "n.xlsx").active["B1"].value == 1


def test_an_empty_write_only_workbook_gets_a_sheet_as_with_save(tmp_path):
    zipsave.save_threaded(Workbook(write_only=True), tmp_path / "e.xlsx")
    assert load_workbook(tmp_path / "e.xlsx").sheetnames == ["Sheet"]


def test_a_sheet_that_cannot_be_read_stops_the_saving(tmp_path, monkeypatch):
    real = zipsave._deflate_file

    def failing(path):
        if Path(path).stat().st_size > 1_000_000:
            raise OSError("disco")
        return real(path)
    monkeypatch.setattr(zipsave, "_deflate_file", failing)
    with pytest.raises(OSError, match="disco"):
        zipsave.save_threaded(_build(FastWriteOnlyWorkbook()), tmp_path / "x.xlsx", threads=2)


def test_zip64_sizes_are_left_to_openpyxl(tmp_path, monkeypatch):
    monkeypatch.setattr(zipsave, "ZIP32_MAX", 10)
    called = []
    monkeypatch.setattr(zipsave, "ExcelWriter", lambda *a: called.append(a))
    zipsave.save_threaded(_build(FastWriteOnlyWorkbook()), tmp_path / "z.xlsx")
    assert not called and _parts(tmp_path / "z.xlsx")[0]


def test_an_entry_beyond_the_zip32_limits_is_refused_clearly():
    """An offset past 4 GiB, or a 65,535th entry, would need zip64: a clear error, not a bad zip."""
    import io

    class Far(io.BytesIO):
        def tell(self) -> int:
            return 0xFFFFFFF0
    with pytest.raises(ValueError, match="zip64"):
        zipsave._Archive(Far(), {}).writestr("xl/x.xml", "<x/>" * 10)
    many = zipsave._Archive(io.BytesIO(), {})
    many.entries = [(b"a", 0, 0, 0, 0, 0)] * 0xFFFF
    with pytest.raises(ValueError, match="zip64"):
        many.writestr("xl/y.xml", "y")
