"""Self-test of the LibreOffice harness (tests/lo/driver.py + tests/lo_helper.py).

Builds a small locked template with openpyxl, lets a real headless LibreOffice
fill it and save it as .xlsx and .ods, and checks what LibreOffice sees and what
survives the round trip. Also records facts about LibreOffice 7.4 that the rest of
the test-suite relies on (see the comments on each assertion).
"""

import datetime as dt

import openpyxl
import pytest
from openpyxl.styles import Protection
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.workbook.protection import WorkbookProtection
from openpyxl.worksheet.datavalidation import DataValidation

from lo_helper import LO_AVAILABLE, lo_convert, lo_fill, lo_inspect, requires_lo, run_job

pytestmark = requires_lo

ERR_IT = "Inserire un numero tra 0 e 100 (percentuale di avanzamento, è così)"


def make_template(path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Fasi"
    ws["A1"] = "Peso"
    ws["B1"] = "Doppio"
    ws["C1"] = "Avanzamento"
    ws["D1"] = "Stato"
    ws["E1"] = "Data fine"
    ws["A2"] = 21
    ws["B2"] = "=A2*2"
    for ref in ("C2", "D2", "E2"):
        ws[ref].protection = Protection(locked=False)
    dv = DataValidation(type="decimal", operator="between", formula1="0", formula2="100",
                        showErrorMessage=True, errorTitle="Valore non valido", error=ERR_IT,
                        showInputMessage=True, promptTitle="Avanzamento",
                        prompt="Percentuale da 0 a 100")
    dv.add("C2")
    ws.add_data_validation(dv)
    dl = DataValidation(type="list", formula1='"Concluso,In corso"', showErrorMessage=True)
    dl.add("D2")
    ws.add_data_validation(dl)
    ws.protection.sheet = True
    ws.protection.password = "pegxl"

    lists = wb.create_sheet("Liste")
    lists["A1"] = "Concluso"
    lists["A2"] = "In corso"
    lists.sheet_state = "hidden"
    wb.defined_names["Stati"] = DefinedName("Stati", attr_text="Liste!$A$1:$A$2")
    wb.security = WorkbookProtection(lockStructure=True)
    wb.save(path)
    return path


@pytest.fixture
def template(tmp_path):
    return make_template(tmp_path / "template.xlsx")


def test_fill_save_and_inspect(template, tmp_path):
    out_xlsx = tmp_path / "out" / "filled.xlsx"
    out_ods = tmp_path / "out" / "filled.ods"
    cells = ["Fasi!A2", "Fasi!B2", "Fasi!C2", "Fasi!D2", "Fasi!E2", "Fasi!A3"]
    res = run_job({
        "open": str(template),
        "edits": [
            {"sheet": "Fasi", "cell": "C2", "value": 75},
            {"sheet": "Fasi", "cell": "D2", "string": "Concluso"},
            {"sheet": "Fasi", "cell": "E2", "date": "2024-03-01"},
            {"sheet": "Fasi", "cell": "A2", "value": 30},  # locked: UNO writes anyway
            {"sheet": "Fasi", "cell": "A3", "formula": "=A2+1"},
        ],
        "inspect": [{"sheet": s, "cell": c} for s, c in (x.split("!") for x in cells)],
        "inspect_sheets": True,
        "inspect_names": True,
        "save": [{"path": str(out_xlsx), "filter": "Calc MS Excel 2007 XML"},
                 {"path": str(out_ods), "filter": "calc8"}],
    })
    c = res["by_ref"]

    # protection as LibreOffice sees it (setValue ignored it, so we check it ourselves)
    assert c["Fasi!C2"]["is_locked"] is False
    assert c["Fasi!A2"]["is_locked"] is True
    assert c["Fasi!A2"]["value"] == 30  # fact: UNO setValue ignores sheet protection
    sheets = {s["name"]: s for s in res["sheets"]}
    assert sheets["Fasi"]["is_protected"] is True
    assert sheets["Liste"]["is_visible"] is False
    assert res["document"]["null_date"] == "1899-12-30"
    # fact: LibreOffice does not import workbook-structure protection from xlsx
    assert res["document"]["is_protected"] is False
    assert {n["name"]: n["content"] for n in res["names"]} == {"Stati": "$Liste.$A$1:$A$2"}

    # validations as LibreOffice imported them from openpyxl's file
    v = c["Fasi!C2"]["validation"]
    assert (v["type"], v["operator"], v["formula1"], v["formula2"]) == (
        "DECIMAL", "BETWEEN", "0", "100")
    assert v["show_error"] is True
    assert v["error_message"] == ERR_IT and v["error_title"] == "Valore non valido"
    assert v["input_message"] == "Percentuale da 0 a 100"
    vl = c["Fasi!D2"]["validation"]
    assert vl["type"] == "LIST"
    assert vl["formula1"] == '"Concluso";"In corso"'  # LibreOffice's own list syntax
    assert c["Fasi!A2"]["validation"]["type"] == "ANY"

    # values, dates, formulas
    assert c["Fasi!C2"]["type"] == "VALUE" and c["Fasi!C2"]["value"] == 75
    assert c["Fasi!D2"]["type"] == "TEXT" and c["Fasi!D2"]["string"] == "Concluso"
    assert c["Fasi!E2"]["value"] == (dt.date(2024, 3, 1) - dt.date(1899, 12, 30)).days
    assert c["Fasi!E2"]["is_date_format"] is True
    assert c["Fasi!E2"]["string"] == "2024-03-01"
    b2 = c["Fasi!B2"]
    assert b2["type"] == "FORMULA" and b2["formula"] == "=A2*2"
    assert b2["result_type"] == "VALUE" and b2["result_value"] == 60 and b2["error_code"] == 0
    assert c["Fasi!A3"]["type"] == "FORMULA" and c["Fasi!A3"]["result_value"] == 31
    assert res["warnings"] == []

    # the saved files
    assert out_ods.stat().st_size > 0
    assert [s["path"] for s in res["saved"]] == [str(out_xlsx), str(out_ods)]
    wb = openpyxl.load_workbook(out_xlsx)
    ws = wb["Fasi"]
    assert ws.protection.sheet is True
    assert ws.protection.password  # the legacy hash is kept
    assert ws["C2"].protection.locked is False and ws["A2"].protection.locked is True
    dvs = {str(d.sqref): d for d in ws.data_validations.dataValidation}
    assert dvs["C2"].type == "decimal" and dvs["C2"].operator == "between"
    assert (dvs["C2"].formula1, dvs["C2"].formula2) == ("0", "100")
    assert dvs["C2"].error == ERR_IT and dvs["C2"].showErrorMessage
    assert dvs["D2"].type == "list" and dvs["D2"].formula1 == '"Concluso,In corso"'
    assert ws["C2"].value == 75 and ws["D2"].value == "Concluso"
    assert ws["E2"].value == dt.datetime(2024, 3, 1)  # date format came along
    assert ws["B2"].value == "=A2*2"
    assert wb["Liste"].sheet_state == "hidden"
    assert wb.defined_names["Stati"].attr_text == "Liste!$A$1:$A$2"
    # fact: structure protection is dropped on save (empty <workbookProtection/>)
    assert not (wb.security and wb.security.lockStructure)
    cached = openpyxl.load_workbook(out_xlsx, data_only=True)["Fasi"]
    assert cached["B2"].value == 60 and cached["A3"].value == 31


def test_ods_round_trip_keeps_protection_and_validation(template, tmp_path):
    ods = tmp_path / "filled.ods"
    lo_fill(template, ods, [{"sheet": "Fasi", "cell": "C2", "value": 40}])
    res = lo_inspect(ods, ["Fasi!C2", ("Fasi", "D2"), {"sheet": "Fasi", "cell": "A2"}])
    c = res["by_ref"]
    assert c["Fasi!C2"]["value"] == 40 and c["Fasi!C2"]["is_locked"] is False
    assert c["Fasi!C2"]["validation"]["type"] == "DECIMAL"
    assert c["Fasi!C2"]["validation"]["error_message"] == ERR_IT
    assert c["Fasi!D2"]["validation"]["type"] == "LIST"
    assert c["Fasi!A2"]["is_locked"] is True
    sheets = {s["name"]: s for s in res["sheets"]}
    assert sheets["Fasi"]["is_protected"] and not sheets["Liste"]["is_visible"]


def test_convert_only_stores_cached_values(template, tmp_path):
    # openpyxl writes formulas without cached values
    assert openpyxl.load_workbook(template, data_only=True)["Fasi"]["B2"].value is None
    out = tmp_path / "converted.xlsx"
    res = lo_convert(template, out)
    assert res["saved"][0]["path"] == str(out)
    assert openpyxl.load_workbook(out, data_only=True)["Fasi"]["B2"].value == 42
    assert openpyxl.load_workbook(out)["Fasi"]["B2"].value == "=A2*2"


def test_job_errors_are_reported(template, tmp_path):
    with pytest.raises(AssertionError, match="no sheet named 'Nope'"):
        lo_fill(template, tmp_path / "x.xlsx", [{"sheet": "Nope", "cell": "A1", "value": 1}])
    assert not (tmp_path / "x.xlsx").exists()


def test_date_on_locked_cell_warns(template, tmp_path):
    # fact: through UNO, attribute changes (number format) on a locked cell of a
    # protected sheet are silently dropped, while the value itself is written
    res = lo_fill(template, tmp_path / "x.ods",
                  [{"sheet": "Fasi", "cell": "A2", "date": "2024-03-01"}],
                  inspect=["Fasi!A2"])
    a2 = res["by_ref"]["Fasi!A2"]
    assert a2["value"] == 45352 and a2["is_date_format"] is False
    assert len(res["warnings"]) == 1 and "A$2" in res["warnings"][0]


def test_availability_flag_is_true_here():
    # this module is skipped entirely when LibreOffice is missing
    assert LO_AVAILABLE
