"""`pegxl oiv`: the OIV's copy of the consolidated workbook comes back and is read again.

The scenario of test_merge.py (its docstring computes every figure): the OIV writes its
Valutazione OIV % with openpyxl (as Excel would store it), then `oiv_final` recomputes.

With the OIV grades in force (O1 70 with Note OIV, O3 100 without):
  S01 = (70*50 + 90*30 + 100*20) / 100 = 35 + 27 + 20 = 82      -> B
  S02 = 100                                                     -> A
  Ente = (82*60 + 100*40) / 100 = 49.2 + 40 = 89.2              -> B
"""
from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from merge_plan import APPROX, ENTE, NOW, PLAN, S01, build, header_map, oiv_copy, rows_by_key

from pegxl.cli import main
from pegxl.errors import PegxlError
from pegxl.merge import merge
from pegxl.oiv import apply_oiv, oiv_final, read_oiv
from pegxl.validators.plan import read_plan
from pegxl.workbook.planfile import write_plan


S01_OIV, S02_OIV, ENTE_OIV = 82.0, 100.0, 89.2


@pytest.fixture(scope="module")
def consolidated(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("oiv")
    plan, rdir, returns = build(tmp)
    result = merge(plan, [rdir], tmp / "out", now=NOW)
    return plan, result, tmp


def grade_cell(src: Path, key: tuple) -> str:
    ws = openpyxl.load_workbook(src)["Obiettivi"]
    row = rows_by_key(ws, "Codice settore", "Codice obiettivo")[key]["_row"]
    return f"{openpyxl.utils.get_column_letter(header_map(ws)['Valutazione OIV %'])}{row}"


GOOD = {("Obiettivi", ("S01", "O1"), "Valutazione OIV %"): 70,
        ("Obiettivi", ("S01", "O1"), "Note OIV"): "Indicatore 1 sotto il valore atteso",
        ("Obiettivi", ("S02", "O3"), "Valutazione OIV %"): 100}


def test_an_untouched_consolidated_reads_clean(consolidated):
    plan, result, tmp = consolidated
    table, findings = read_oiv(plan, result.consolidated)
    assert findings == []
    assert len(table) == 5 and table["oiv_grade"].isna().all()
    before = table.set_index(["sector", "objective"])["grade_before"]
    assert before[("S01", "O1")] == pytest.approx(78.75, **APPROX)


def test_the_oiv_grades_are_in_force_in_the_final_workbook(consolidated):
    plan, result, tmp = consolidated
    src = oiv_copy(result.consolidated, tmp / "dall_oiv.xlsx", GOOD)
    table, findings = read_oiv(plan, src)
    assert [f.code for f in findings] == ["O005"]        # O3 changed without Note OIV: a warning
    assert findings[0].cell == "J5" and findings[0].record == "S02 / O3"
    t = table.set_index(["sector", "objective"])
    assert t.loc[("S01", "O1"), "oiv_grade"] == 70 and t.loc[("S02", "O3"), "oiv_grade"] == 100
    assert math.isnan(t.loc[("S01", "O2"), "oiv_grade"])

    out = oiv_final(plan, src, tmp / "finale", now=NOW)
    sec = out.scores.sectors.set_index("sector")
    assert sec.loc["S01", "percentage"] == pytest.approx(S01_OIV, **APPROX)
    assert sec.loc["S02", "percentage"] == pytest.approx(S02_OIV, **APPROX)
    assert out.scores.ente["percentage"] == pytest.approx(ENTE_OIV, **APPROX)
    assert (sec.loc["S01", "band"], sec.loc["S02", "band"], out.scores.ente["band"]) == ("B", "A", "B")
    assert out.scores_before.ente["percentage"] == pytest.approx(ENTE, **APPROX)
    assert out.path.name == "2024_consolidato_OIV_finale.xlsx"

    wb = openpyxl.load_workbook(out.path)
    rows = rows_by_key(wb["Sintesi"], "Codice settore")
    pct = "Percentuale di raggiungimento"
    assert rows[("S01",)][pct] == pytest.approx(S01_OIV, **APPROX)
    assert rows[("S02",)][pct] == pytest.approx(S02_OIV, **APPROX)
    assert rows[("Ente",)][pct] == pytest.approx(ENTE_OIV, **APPROX)
    assert rows[("S01",)]["Percentuale senza OIV"] == pytest.approx(S01, **APPROX)
    assert rows[("Ente",)]["Percentuale senza OIV"] == pytest.approx(ENTE, **APPROX)
    ob = rows_by_key(wb["Obiettivi"], "Codice settore", "Codice obiettivo")
    assert ob[("S01", "O1")]["Grado %"] == 70 and ob[("S01", "O1")]["Fonte del grado"] == "OIV"
    assert ob[("S01", "O1")]["Grado calcolato %"] == pytest.approx(78.75, **APPROX)
    assert ob[("S01", "O1")]["Valutazione OIV %"] == 70
    assert ob[("S01", "O1")]["Note"] == "Valutazione OIV in vigore (grado del settore 78,75%)."
    assert ob[("S01", "O2")]["Grado %"] == 90
    diff = rows_by_key(wb["Differenze OIV"], "Codice settore", "Codice obiettivo")
    assert [c.value for c in wb["Differenze OIV"][1]] == [
        "Codice settore", "Codice obiettivo", "Titolo", "Grado settore %", "Valutazione OIV %", "Differenza",
        "Note OIV"]
    assert list(diff) == [("S01", "O1"), ("S02", "O3")]
    d1, d3 = diff[("S01", "O1")], diff[("S02", "O3")]
    assert (d1["Grado settore %"], d1["Valutazione OIV %"]) == (pytest.approx(78.75), 70)
    assert d1["Differenza"] == pytest.approx(-8.75, **APPROX) and d1["Note OIV"].startswith("Indicatore 1")
    assert d3["Differenza"] == pytest.approx(34.375, **APPROX) and d3["Note OIV"] is None
    # the final workbook is locked everywhere and records where it came from
    for r in range(2, 7):
        for c in range(1, 18):
            assert wb["Obiettivi"].cell(row=r, column=c).protection.locked
    pv = rows_by_key(wb["Provenienza"], "Nome file")
    assert ("dall_oiv.xlsx",) in pv and len(pv) == 3
    an = [r for r in wb["Anomalie"].iter_rows(min_row=2, values_only=True) if r[5]]
    assert any(r[5] == "O005" for r in an)
    pairs = {r[0]: r[1] for r in wb["_pegxl"].iter_rows(values_only=True) if r and r[0]}
    assert pairs["Tipo file"] == "consolidato finale OIV"

    # apply_oiv gives the same figures from the returns' validation or from the workbook
    for source in (result.validation, src):
        s = apply_oiv(plan, source, table)
        assert s.ente["percentage"] == pytest.approx(ENTE_OIV, **APPROX)
    # the final workbook is not a consolidated to fill again
    with pytest.raises(PegxlError) as exc:
        oiv_final(plan, out.path, tmp / "ancora")
    assert exc.value.findings[0].code == "O001"


def test_a_percent_typed_the_excel_way_is_read_as_meant(consolidated):
    plan, result, tmp = consolidated
    dst = tmp / "percento.xlsx"
    wb = openpyxl.load_workbook(result.consolidated)
    ws = wb["Obiettivi"]
    cell = ws[grade_cell(result.consolidated, ("S01", "O1"))]
    cell.value, cell.number_format = 0.85, "0%"            # "85%" typed in Excel
    wb.save(dst)
    table, findings = read_oiv(plan, dst)
    assert table.set_index(["sector", "objective"]).loc[("S01", "O1"), "oiv_grade"] == pytest.approx(85)


@pytest.mark.parametrize("value, shown", [(120, "120"), (-5, "-5"), ("molto buono", "molto buono")])
def test_a_grade_out_of_range_is_O002(consolidated, value, shown):
    plan, result, tmp = consolidated
    src = oiv_copy(result.consolidated, tmp / "fuori.xlsx",
                   {("Obiettivi", ("S01", "O2"), "Valutazione OIV %"): value,
                    ("Obiettivi", ("S01", "O2"), "Note OIV"): "nota"})
    table, findings = read_oiv(plan, src)
    assert [f.code for f in findings] == ["O002"]
    f = findings[0]
    assert f.is_error and f.sheet == "Obiettivi" and f.cell == grade_cell(src, ("S01", "O2"))
    assert f"Valutazione OIV {shown} fuori" in f.message
    with pytest.raises(PegxlError) as exc:
        oiv_final(plan, src, tmp / "rifiutato")
    assert exc.value.exit_code == 1
    assert not (tmp / "rifiutato").exists()


@pytest.mark.parametrize("sheet, key, header, value, cell, was", [
    ("Obiettivi", ("S01", "O1"), "Titolo", "Digitalizzare", "C2", "Digitalizzare i servizi"),
    ("Obiettivi", ("S01", "O2"), "Grado dichiarato %", 100, "F3", "90"),
    ("Obiettivi", ("S01", "O1"), "Grado %", 95, "G2", "78,75"),
    ("Fasi", ("S01", "O1", 2), "Avanzamento %", 100, "I3", "50"),
    ("Indicatori", ("S01", "O1", 1), "Valore raggiunto", 200, "K2", "150"),
    ("Sintesi", ("S02",), "Percentuale di raggiungimento", 99, "F10", "65,625"),   # below the title block
])
def test_tampering_with_a_locked_cell_is_O003(consolidated, sheet, key, header, value, cell, was):
    plan, result, tmp = consolidated
    src = oiv_copy(result.consolidated, tmp / "manomesso.xlsx", {(sheet, key, header): value, **GOOD})
    table, findings = read_oiv(plan, src)
    errors = [f for f in findings if f.is_error]
    assert [f.code for f in errors] == ["O003"]
    f = errors[0]
    assert (f.sheet, f.cell, f.column) == (sheet, cell, header)
    assert f"era «{was}»" in f.message
    with pytest.raises(PegxlError) as exc:
        oiv_final(plan, src, tmp / "rifiutato")
    assert exc.value.exit_code == 1 and any(x.code == "O003" for x in exc.value.findings)


def test_a_tampered_input_and_record_is_caught_by_the_recomputation(consolidated):
    """Someone edits Avanzamento and the hidden record alike: the figures no longer add up."""
    plan, result, tmp = consolidated
    dst = tmp / "doppio.xlsx"
    wb = openpyxl.load_workbook(result.consolidated)
    ws = wb["Fasi"]
    row = rows_by_key(ws, "Codice settore", "Codice obiettivo", "N. fase")[("S01", "O1", 2)]["_row"]
    ws.cell(row=row, column=header_map(ws)["Avanzamento %"]).value = 100
    vals = wb["_pegxl_valori"]
    for r in range(2, vals.max_row + 1):
        if vals.cell(row=r, column=1).value == "Fasi" and vals.cell(row=r, column=2).value == '["S01", "O1", 2]':
            rec = json.loads(vals.cell(row=r, column=3).value)
            rec["Avanzamento %"] = 100.0
            vals.cell(row=r, column=3).value = json.dumps(rec, ensure_ascii=False)
    wb.save(dst)
    table, findings = read_oiv(plan, dst)
    bad = {(f.sheet, f.column) for f in findings if f.code == "O003"}
    assert ("Fasi", "Contributo %") in bad and ("Obiettivi", "Grado calcolato %") in bad


def test_provenienza_and_anomalie_are_checked_too(consolidated):
    """Provenienza's SHA-256 is what `--returns` trusts and both sheets are copied into the
    final workbook: a changed cell or an added/removed row must not pass unseen."""
    plan, result, tmp = consolidated
    wb = openpyxl.load_workbook(result.consolidated)
    ws = wb["Provenienza"]
    col = header_map(ws)["SHA-256"]
    was = ws.cell(row=2, column=col).value
    ws.cell(row=2, column=col).value = "0" * 64
    wb.save(tmp / "provenienza.xlsx")
    table, findings = read_oiv(plan, tmp / "provenienza.xlsx")
    errors = [(f.code, f.sheet, f.column) for f in findings if f.is_error]
    assert errors == [("O003", "Provenienza", "SHA-256")]
    assert was in findings[0].message
    with pytest.raises(PegxlError):
        oiv_final(plan, tmp / "provenienza.xlsx", tmp / "rifiutato_prov")

    wb = openpyxl.load_workbook(result.consolidated)
    wb["Anomalie"].append(["altro.xlsx", "S01", "Fasi", "G2", None, "V001", "errore", "aggiunta"])
    wb.save(tmp / "anomalie.xlsx")
    table, findings = read_oiv(plan, tmp / "anomalie.xlsx")
    assert [(f.code, f.sheet) for f in findings if f.is_error] == [("O004", "Anomalie")]

    wb = openpyxl.load_workbook(result.consolidated)
    ws = wb["Provenienza"]
    ws.delete_rows(ws.max_row)
    wb.save(tmp / "provenienza_meno.xlsx")
    table, findings = read_oiv(plan, tmp / "provenienza_meno.xlsx")
    assert [(f.code, f.sheet) for f in findings if f.is_error] == [("O004", "Provenienza")]


def test_rows_added_or_removed_are_O004(consolidated):
    plan, result, tmp = consolidated
    wb = openpyxl.load_workbook(result.consolidated)
    ws = wb["Obiettivi"]
    row = rows_by_key(ws, "Codice settore", "Codice obiettivo")[("S01", "O2")]["_row"]
    ws.delete_rows(row)
    wb.save(tmp / "meno.xlsx")
    table, findings = read_oiv(plan, tmp / "meno.xlsx")
    assert [(f.code, f.sheet, f.record) for f in findings if f.is_error] == [("O004", "Obiettivi", "S01 / O2")]
    assert "nel foglio «Obiettivi»" in findings[0].message

    wb = openpyxl.load_workbook(result.consolidated)
    ws = wb["Fasi"]
    ws.append(["S01", "O1", 9, "Fase aggiunta"])
    wb.save(tmp / "piu.xlsx")
    table, findings = read_oiv(plan, tmp / "piu.xlsx")
    assert [(f.code, f.sheet, f.record) for f in findings if f.is_error] == [("O004", "Fasi", "S01 / O1 / 9")]


def test_a_consolidated_of_another_plan_is_O001(consolidated, tmp_path):
    plan, result, tmp = consolidated
    other = copy.deepcopy(PLAN)
    other["Ente"][0] = ["Ente", "Comune di Altrove"]
    other_plan = read_plan(write_plan(tmp_path / "altro.xlsx", other))
    table, findings = read_oiv(other_plan, result.consolidated)
    assert findings and {f.code for f in findings} == {"O001"}
    assert any("Comune di Altrove" in f.message for f in findings)
    assert table.empty
    # a settore's return is not a consolidated workbook either
    table, findings = read_oiv(plan, result.returned["S01"])
    assert [f.code for f in findings][:1] == ["O001"]


def test_oiv_final_can_read_the_returns_again(consolidated):
    plan, result, tmp = consolidated
    src = oiv_copy(result.consolidated, tmp / "dall_oiv2.xlsx", GOOD)
    out = oiv_final(plan, src, tmp / "finale2", returns_dir=tmp / "ritorni", now=NOW)
    assert out.scores.ente["percentage"] == pytest.approx(ENTE_OIV, **APPROX)


def test_cli_oiv(consolidated):
    plan, result, tmp = consolidated
    src = oiv_copy(result.consolidated, tmp / "cli_oiv.xlsx", GOOD)
    plan_path = tmp / "piano.xlsx"
    res = CliRunner().invoke(main, ["oiv", "--plan", str(plan_path), str(src), "-o", str(tmp / "cli")])
    assert res.exit_code == 0, res.output
    assert "82,00%" in res.output and "89,20%" in res.output and "78,08%" in res.output
    assert "O005" in res.output
    assert (tmp / "cli" / "2024_consolidato_OIV_finale.xlsx").exists()
    bad = oiv_copy(result.consolidated, tmp / "cli_bad.xlsx",
                   {("Obiettivi", ("S01", "O2"), "Valutazione OIV %"): 101})
    res = CliRunner().invoke(main, ["oiv", "--plan", str(plan_path), str(bad), "-o", str(tmp / "cli2")])
    assert res.exit_code == 1 and "O002" in res.output
    res = CliRunner().invoke(main, ["oiv", "--plan", str(plan_path), str(tmp / "nessuno.xlsx"),
                                    "-o", str(tmp / "cli3")])
    assert res.exit_code == 2


def test_cli_oiv_json_records_the_rules_in_force(consolidated):
    plan, result, tmp = consolidated
    src = oiv_copy(result.consolidated, tmp / "cli_oiv_json.xlsx", GOOD)
    res = CliRunner().invoke(main, ["oiv", "--plan", str(tmp / "piano.xlsx"), str(src), "-o", str(tmp / "cli_j"),
                                    "--format", "json", "--no-archive"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["format_version"] == "1.0"
    assert {r["name"]: r["value"] for r in doc["rules"]}["Peso fasi"] == 50


def test_regole_changed_after_the_merge_is_O001(consolidated, tmp_path):
    plan, result, tmp = consolidated
    other = copy.deepcopy(PLAN)
    other["Regole"] = [{"Regola": "Peso fasi", "Valore": 70}, {"Regola": "Peso indicatori", "Valore": 30}]
    other_plan = read_plan(write_plan(tmp_path / "regole.xlsx", other))
    table, findings = read_oiv(other_plan, result.consolidated)
    assert [f.code for f in findings] == ["O001"]
    assert "Regole" in findings[0].message and "Peso fasi" in findings[0].message
