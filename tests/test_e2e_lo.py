"""End to end with a real LibreOffice: plan -> templates -> returns typed in Calc (one saved
as .xlsx, one as .ods) -> merge -> the consolidated checked figure by figure -> the OIV
column typed in Calc -> oiv -> the final figures checked.

The scenario and its hand-computed figures are those of test_merge.py and test_oiv.py.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pytest

from lo_helper import lo_fill, requires_lo
from merge_plan import (APPROX, COMPUTED, ENTE, GRADES, INPUTS, NOW, PLAN, S01, S02, TYPED,
                        header_map, rows_by_key)

from pegxl.merge import merge
from pegxl.oiv import oiv_final, read_oiv
from pegxl.validators.plan import read_plan
from pegxl.templates import generate_templates
from pegxl.workbook.planfile import write_plan

pytestmark = requires_lo

KEYS = {"Obiettivi": ("Codice obiettivo",), "Fasi": ("Codice obiettivo", "N. fase"),
        "Indicatori": ("Codice obiettivo", "N. indicatore")}
DATE_HEADERS = {"Inizio effettivo", "Fine effettiva"}


def _is_iso_date(v) -> bool:
    return isinstance(v, str) and len(v) == 10 and v[4] == "-" and v[7] == "-"


def edits_for(template: Path, typed: dict) -> list[dict]:
    """What a person types, as LibreOffice edits at the cells found by header and codes."""
    wb = openpyxl.load_workbook(template)
    out = []
    for sheet, records in typed.items():
        ws = wb[sheet]
        h = header_map(ws)
        rows = rows_by_key(ws, *KEYS[sheet])
        for rec in records:
            key = tuple(rec[k] for k in KEYS[sheet])
            row = rows[key]["_row"]
            for header, value in rec.items():
                if header in KEYS[sheet]:
                    continue
                cell = f"{openpyxl.utils.get_column_letter(h[header])}{row}"
                if _is_iso_date(value):
                    out.append({"sheet": sheet, "cell": cell, "date": value, "number_format": "DD/MM/YYYY"})
                elif isinstance(value, (int, float)):
                    out.append({"sheet": sheet, "cell": cell, "value": value})
                else:
                    out.append({"sheet": sheet, "cell": cell, "string": value})
    return out


def test_returns_typed_in_libreoffice_merge_and_come_back_from_the_oiv(tmp_path):
    plan = read_plan(write_plan(tmp_path / "piano.xlsx", PLAN))
    templates = {p.name.split("_")[1]: p for p in generate_templates(plan, tmp_path / "modelli")}
    rdir = tmp_path / "ritorni"
    rdir.mkdir()
    s01 = rdir / templates["S01"].name                       # saved by Calc as .xlsx
    s02 = rdir / (templates["S02"].stem + ".ods")            # saved by Calc as .ods
    lo_fill(templates["S01"], s01, edits_for(templates["S01"], INPUTS["S01"]))
    lo_fill(templates["S02"], s02, edits_for(templates["S02"], INPUTS["S02"]))

    result = merge(plan, [rdir], tmp_path / "out", now=NOW)
    assert [f.code for f in result.validation.findings if f.is_error] == []
    assert result.sectors == ["S01", "S02"]
    assert result.reconciliation.ok and result.reconciliation.typed == TYPED
    assert any(".ods" in n for n in result.notes)

    wb = openpyxl.load_workbook(result.consolidated)
    sint = rows_by_key(wb["Sintesi"], "Codice settore")
    pct = "Percentuale di raggiungimento"
    assert sint[("S01",)][pct] == pytest.approx(S01, **APPROX)
    assert sint[("S02",)][pct] == pytest.approx(S02, **APPROX)
    assert sint[("Ente",)][pct] == pytest.approx(ENTE, **APPROX)
    ob = rows_by_key(wb["Obiettivi"], "Codice settore", "Codice obiettivo")
    for key, grade in GRADES.items():
        assert ob[key]["Grado calcolato %"] == pytest.approx(COMPUTED[key], **APPROX), key
        if grade is None:
            assert ob[key]["Grado %"] is None
        else:
            assert ob[key]["Grado %"] == pytest.approx(grade, **APPROX), key
    assert ob[("S01", "O1")]["Relazione"] == "=SUM(A1)"
    ind = rows_by_key(wb["Indicatori"], "Codice settore", "Codice obiettivo", "N. indicatore")
    assert ind[("S02", "O3", 2)]["Valore raggiunto"] == "95%"
    assert ind[("S02", "O3", 1)]["Raggiungimento %"] == 0

    # the copies written back: the .xlsx kept, the .ods rebuilt as .xlsx; both carry the figures
    assert result.returned["S01"].name == s01.name
    assert result.returned["S02"].name == templates["S02"].stem + ".xlsx"
    for sector in ("S01", "S02"):
        back = openpyxl.load_workbook(result.returned[sector])
        rows = rows_by_key(back["Obiettivi"], "Codice obiettivo")
        for (s, code), value in COMPUTED.items():
            if s == sector:
                assert rows[(code,)]["Grado calcolato %"] == pytest.approx(value, **APPROX), (sector, code)
    back = openpyxl.load_workbook(result.returned["S02"])
    fasi = rows_by_key(back["Fasi"], "Codice obiettivo", "N. fase")
    assert fasi[("O3", 2)]["Avanzamento %"] == 50
    ind2 = rows_by_key(back["Indicatori"], "Codice obiettivo", "N. indicatore")
    assert ind2[("O3", 1)]["Valore raggiunto"] == dt.datetime(2024, 7, 10)
    assert ind2[("O3", 2)]["Raggiungimento %"] == 100

    # the OIV types its grades in Calc and saves as .xlsx
    ws = wb["Obiettivi"]
    h = header_map(ws)
    g = openpyxl.utils.get_column_letter(h["Valutazione OIV %"])
    n = openpyxl.utils.get_column_letter(h["Note OIV"])
    oiv_file = tmp_path / "dall_oiv.xlsx"
    res = lo_fill(result.consolidated, oiv_file, [
        {"sheet": "Obiettivi", "cell": f"{g}{ob[('S01', 'O1')]['_row']}", "value": 70},
        {"sheet": "Obiettivi", "cell": f"{n}{ob[('S01', 'O1')]['_row']}", "string": "Indicatore 1 sotto il valore atteso"},
        {"sheet": "Obiettivi", "cell": f"{g}{ob[('S02', 'O3')]['_row']}", "value": 100},
    ], inspect=[("Obiettivi", f"{g}2"), ("Obiettivi", "A2")], sheets=True)
    assert res["by_ref"][f"Obiettivi!{g}2"]["is_locked"] is False
    assert res["by_ref"]["Obiettivi!A2"]["is_locked"] is True
    assert next(s for s in res["sheets"] if s["name"] == "Obiettivi")["is_protected"]

    table, findings = read_oiv(plan, oiv_file)
    assert [f.code for f in findings] == ["O005"], [str(f) for f in findings]
    out = oiv_final(plan, oiv_file, tmp_path / "finale", now=NOW)
    sec = out.scores.sectors.set_index("sector")
    assert sec.loc["S01", "percentage"] == pytest.approx(82.0, **APPROX)
    assert sec.loc["S02", "percentage"] == pytest.approx(100.0, **APPROX)
    assert out.scores.ente["percentage"] == pytest.approx(89.2, **APPROX)
    fin = openpyxl.load_workbook(out.path)
    sint = rows_by_key(fin["Sintesi"], "Codice settore")
    assert sint[("Ente",)][pct] == pytest.approx(89.2, **APPROX)
    assert sint[("Ente",)]["Percentuale senza OIV"] == pytest.approx(ENTE, **APPROX)
    diff = rows_by_key(fin["Differenze OIV"], "Codice settore", "Codice obiettivo")
    assert diff[("S01", "O1")]["Differenza"] == pytest.approx(-8.75, **APPROX)

    # tampering in Calc is caught too
    bad = tmp_path / "manomesso.xlsx"
    lo_fill(result.consolidated, bad, [
        {"sheet": "Fasi", "cell": "I3", "value": 100},            # S01 / O1 / fase 2: Avanzamento %
    ])
    table, findings = read_oiv(plan, bad)
    assert [(f.code, f.sheet, f.cell) for f in findings if f.is_error] == [("O003", "Fasi", "I3")]
