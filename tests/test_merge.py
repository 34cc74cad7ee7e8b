"""`pegxl merge` (issue: merge, score, write back, the consolidated workbook for the OIV).

The plan, the typed returns and the figures computed by hand are in tests/merge_plan.py.
"""
from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import re
import zipfile
from pathlib import Path

import openpyxl
from openpyxl.utils import get_column_letter
import pytest
from click.testing import CliRunner

from merge_plan import (APPROX, COMPUTED, ENTE, GRADES, INPUTS, NOW, PLAN, RELAZIONE, S01, S02, TYPED,
                        build, header_map, header_row, rows_by_key)

from pegxl.cli import main
from pegxl.errors import PegxlError
from pegxl.merge import merge
from pegxl.workbook import contract as C
from pegxl.workbook import paper


# ------------------------------------------------------------------------- helpers


def all_values(path: Path) -> dict[str, list[tuple]]:
    wb = openpyxl.load_workbook(path)
    return {ws.title: [tuple(row) for row in ws.iter_rows(values_only=True)] for ws in wb.worksheets}


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def merged(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("merge")
    plan, rdir, returns = build(tmp)
    hashes = {s: sha(p) for s, p in returns.items()}
    result = merge(plan, [rdir], tmp / "out", now=NOW)
    return plan, rdir, returns, hashes, result, tmp


# ------------------------------------------------------------- the consolidated

def test_a_merge_holds_no_table_of_the_returns_once_scored(merged):
    """A merge's validation keeps its tables on disk: once scored, the objectives held for
    the scoring go too, and every table is read back whole (every column but formulas and
    error values) or a batch at a time."""
    from pegxl.validators.returns import OBJECTIVES_HELD, validate_returns
    plan, rdir, *_, result, _ = merged
    v = result.validation
    assert v.spilled and v._objectives is None and v._phases is None and v._indicators is None
    held = validate_returns(plan, [rdir])
    for name in ("objectives", "phases", "indicators"):
        got, want = getattr(v, name), getattr(held, name)
        want = want[[c for c in want.columns if not c.endswith(("_formula", "_error"))]]
        assert list(got.columns) == list(want.columns) and len(got) == len(want) > 0, name
        assert got["objective"].tolist() == want["objective"].tolist()
    assert set(OBJECTIVES_HELD) < set(v.objectives.columns)



def test_scores_match_the_hand_computed_figures(merged):
    plan, _, _, _, result, _ = merged
    obj = result.scores.objectives.set_index(["sector", "objective"])
    for key, grade in GRADES.items():
        got = obj.loc[key, "grade"]
        assert (got != got) if grade is None else got == pytest.approx(grade, **APPROX), key
    sec = result.scores.sectors.set_index("sector")
    assert sec.loc["S01", "percentage"] == pytest.approx(S01, **APPROX)
    assert sec.loc["S02", "percentage"] == pytest.approx(S02, **APPROX)
    assert result.scores.ente["percentage"] == pytest.approx(ENTE, **APPROX)
    assert (sec.loc["S01", "band"], sec.loc["S02", "band"], result.scores.ente["band"]) == ("B", "C", "B")
    assert result.sectors == ["S01", "S02"] and result.excluded == {} and result.missing == []


def test_consolidated_sheets_and_exact_headers(merged):
    *_, result, _ = merged
    assert result.consolidated.name == "2024_consolidato_OIV.xlsx"
    wb = openpyxl.load_workbook(result.consolidated)
    assert wb.sheetnames[:6] == ["Sintesi", "Obiettivi", "Fasi", "Indicatori", "Anomalie", "Provenienza"]
    assert wb["_pegxl"].sheet_state == "hidden"
    # issue 13: Sintesi opens with a title block (ente, anno, fase, data di riferimento,
    # when it was made), then its table
    head = header_row(wb["Sintesi"])
    assert head > 1
    block = "\n".join(str(wb["Sintesi"].cell(row=r, column=1).value or "") for r in range(1, head))
    for needle in ("Consolidato per l'OIV", "Ente: ", "Anno: 2024", "Fase del ciclo: ", "Data di riferimento: ",
                   "Generato il: "):
        assert needle in block, needle
    sintesi = [c.value for c in wb["Sintesi"][head]]
    assert sintesi[:7] == C.C_SINTESI.headers
    obiettivi = [c.value for c in wb["Obiettivi"][1]]
    assert obiettivi[:10] == C.C_OBJECTIVES.headers
    assert obiettivi[10:12] == ["Relazione", "Motivazione scostamento"]   # after the contract's
    for name in ("Sintesi", "Obiettivi", "Fasi", "Indicatori", "Anomalie", "Provenienza"):
        ws = wb[name]
        assert ws.freeze_panes is not None, name
        assert ws.protection.sheet, name
        assert ws.column_dimensions["A"].width > 5, name
        assert ws.page_setup.orientation == "landscape", name


def test_sintesi_is_read_below_its_title_block_and_without_it(merged, tmp_path):
    """Issue 13 moved Sintesi's headers below a title block: the reader finds them there,
    and still on row 1 in a workbook written before."""
    from pegxl.consolidated.read import read_book
    *_, result, _ = merged
    book = read_book(result.consolidated)
    sint = book.tables["Sintesi"]
    assert set(sint["sector"]) >= {"S01", "S02", "Ente"} and not book.missing
    head = header_row(openpyxl.load_workbook(result.consolidated)["Sintesi"])
    assert list(sint["xlrow"])[0] == head + 1
    wb = openpyxl.load_workbook(result.consolidated)
    wb["Sintesi"].delete_rows(1, head - 1)   # the layout before the title block
    old = tmp_path / "vecchio.xlsx"
    wb.save(old)
    again = read_book(old).tables["Sintesi"]
    assert list(again["sector"]) == list(sint["sector"]) and list(again["xlrow"])[0] == 2


def test_sintesi_figure_by_figure(merged):
    *_, result, _ = merged
    wb = openpyxl.load_workbook(result.consolidated)
    ws = wb["Sintesi"]
    rows = rows_by_key(ws, "Codice settore")
    pct = "Percentuale di raggiungimento"
    assert rows[("S01",)][pct] == pytest.approx(S01, **APPROX)
    assert rows[("S02",)][pct] == pytest.approx(S02, **APPROX)
    assert rows[("Ente",)][pct] == pytest.approx(ENTE, **APPROX)
    assert (rows[("S01",)]["N. obiettivi"], rows[("S01",)]["N. valutati"]) == (3, 3)
    assert (rows[("S02",)]["N. obiettivi"], rows[("S02",)]["N. valutati"]) == (2, 1)
    assert (rows[("Ente",)]["N. obiettivi"], rows[("Ente",)]["N. valutati"]) == (5, 4)
    assert [rows[(k,)]["Fascia"] for k in ("S01", "S02", "Ente")] == ["B", "C", "B"]
    assert rows[("S01",)]["Settore"] == "Affari generali" and rows[("S01",)]["Responsabile"] == "Rossi Anna"
    # the Ente row comes last, in bold; percentages are numbers with a percent display
    ente_row = rows[("Ente",)]["_row"]
    assert ente_row == max(r["_row"] for r in rows.values())
    assert ws.cell(row=ente_row, column=1).font.b
    h = header_map(ws)
    for key in (("S01",), ("Ente",)):
        cell = ws.cell(row=rows[key]["_row"], column=h[pct])
        assert cell.data_type == "n" and cell.number_format == '0.00" %"'
    # a native bar chart of the settori's percentages
    with zipfile.ZipFile(result.consolidated) as zf:
        charts = [n for n in zf.namelist() if n.startswith("xl/charts/chart")]
        assert charts
        xml = zf.read(charts[0]).decode()
    first = header_row(ws) + 1
    assert "barChart" in xml and f"Sintesi!$F${first}:$F$" in xml.replace("'", "")


def test_obiettivi_figure_by_figure(merged):
    *_, result, _ = merged
    ws = openpyxl.load_workbook(result.consolidated)["Obiettivi"]
    rows = rows_by_key(ws, "Codice settore", "Codice obiettivo")
    assert list(rows) == [("S01", "O1"), ("S01", "O2"), ("S01", "T1"), ("S02", "O3"), ("S02", "T1")]
    for key, grade in GRADES.items():
        r = rows[key]
        assert r["Grado calcolato %"] == pytest.approx(COMPUTED[key], **APPROX), key
        if grade is None:
            assert r["Grado %"] is None
        else:
            assert r["Grado %"] == pytest.approx(grade, **APPROX), key
            assert r["Grado calcolato %"] == pytest.approx(COMPUTED[key], **APPROX), key
    o2 = rows[("S01", "O2")]
    assert o2["Grado dichiarato %"] == 90 and o2["Fonte del grado"] == "dichiarato"
    assert o2["Note"] == "Grado dichiarato dal settore (calcolato 60,00%). Scostamento oltre 10 punti."
    assert o2["Motivazione scostamento"].startswith("Ritardo del fornitore")
    assert rows[("S02", "T1")]["Stato"] == "Rinviato"
    assert rows[("S02", "T1")]["Note"] == "Rinviato: escluso dalla media."
    assert rows[("S02", "T1")]["Conta"] == "no"
    assert rows[("S01", "O1")]["Titolo"] == "Digitalizzare i servizi"
    assert rows[("S01", "O1")]["Realizzazione fasi %"] == pytest.approx(70, **APPROX)
    assert rows[("S01", "O1")]["Media indicatori %"] == pytest.approx(87.5, **APPROX)
    for r in rows.values():
        assert r["Valutazione OIV %"] is None and r["Note OIV"] is None


def test_only_the_oiv_cells_are_unlocked_with_a_0_100_validation(merged):
    *_, result, _ = merged
    ws = openpyxl.load_workbook(result.consolidated)["Obiettivi"]
    h = header_map(ws)
    for r in range(2, 7):
        for name, col in h.items():
            locked = ws.cell(row=r, column=col).protection.locked
            assert locked == (name not in ("Valutazione OIV %", "Note OIV")), (name, r)
    g = openpyxl.utils.get_column_letter(h["Valutazione OIV %"])
    dvs = [dv for dv in ws.data_validations.dataValidation if str(dv.sqref) == f"{g}2:{g}6"]
    assert len(dvs) == 1
    dv = dvs[0]
    # a number 0-100 or the words «Non valutabile» (scoring.md): a custom formula from the first cell
    assert dv.type == "custom" and dv.allow_blank
    assert dv.formula1 == f'OR(AND(ISNUMBER({g}2),{g}2>=0,{g}2<=100),LOWER(TRIM({g}2))="non valutabile")'
    assert dv.showErrorMessage and "da 0 a 100" in dv.error and "Non valutabile" in dv.error
    assert dv.errorStyle == "stop"
    assert ws.cell(row=2, column=h["Valutazione OIV %"]).number_format == '0.00" %"'


def test_fasi_and_indicatori_figure_by_figure(merged):
    *_, result, _ = merged
    wb = openpyxl.load_workbook(result.consolidated)
    fasi = rows_by_key(wb["Fasi"], "Codice settore", "Codice obiettivo", "N. fase")
    assert len(fasi) == 4 + 4   # S01: O1 x2, O2, T1; S02: O3 x3, T1
    f = fasi[("S01", "O1", 1)]
    assert (f["Avanzamento %"], f["Contributo %"], f["Peso effettivo"]) == (100, 40, 40)
    assert f["Inizio effettivo"] == dt.datetime(2024, 1, 20) and f["Note"] == "+ fatto in anticipo"
    assert fasi[("S01", "O1", 2)]["Contributo %"] == pytest.approx(30, **APPROX)
    assert fasi[("S02", "O3", 1)]["Peso effettivo"] == pytest.approx(62.5, **APPROX)
    assert fasi[("S02", "O3", 2)]["Contributo %"] == pytest.approx(18.75, **APPROX)
    neutral = fasi[("S02", "O3", 3)]
    assert neutral["Neutralizzata"] == "sì" and neutral["Contributo %"] is None
    ind = rows_by_key(wb["Indicatori"], "Codice settore", "Codice obiettivo", "N. indicatore")
    assert ind[("S01", "O1", 1)]["Raggiungimento %"] == pytest.approx(75, **APPROX)
    assert ind[("S01", "O1", 2)]["Raggiungimento %"] == 100
    assert ind[("S01", "O1", 2)]["Valore raggiunto"] == "sì"
    assert ind[("S02", "O3", 1)]["Raggiungimento %"] == 0
    assert ind[("S02", "O3", 1)]["Valore raggiunto"] == dt.datetime(2024, 7, 10)
    # typed as text: kept as typed, read as 95 (Valore letto)
    assert ind[("S02", "O3", 2)]["Valore raggiunto"] == "95%"
    assert ind[("S02", "O3", 2)]["Valore letto"] == 95
    assert ind[("S02", "O3", 2)]["Raggiungimento %"] == 100
    assert ind[("S01", "T1", 1)]["Raggiungimento %"] is None       # testo: not computed
    assert ind[("S01", "T1", 2)]["Esito"] == "contesto"
    assert ind[("S01", "T1", 2)]["Raggiungimento %"] is None


def test_effective_weights_are_shown_with_two_decimals(merged):
    """O3's phases 50/30 scaled to 100 weigh 62.5/37.5; a third would show 15 digits."""
    *_, result, _ = merged
    wb = openpyxl.load_workbook(result.consolidated)
    for sheet, keys in (("Fasi", ("Codice settore", "Codice obiettivo", "N. fase")),
                        ("Indicatori", ("Codice settore", "Codice obiettivo", "N. indicatore"))):
        ws = wb[sheet]
        col = header_map(ws)["Peso effettivo"]
        for key, row in rows_by_key(ws, *keys).items():
            cell = ws.cell(row=row["_row"], column=col)
            if cell.value is not None:
                assert cell.number_format == "0.00", (sheet, key, cell.number_format)


def test_a_relazione_starting_with_equals_stays_text(merged):
    *_, result, _ = merged
    ws = openpyxl.load_workbook(result.consolidated)["Obiettivi"]
    rows = rows_by_key(ws, "Codice settore", "Codice obiettivo")
    cell = ws.cell(row=rows[("S01", "O1")]["_row"], column=header_map(ws)["Relazione"])
    assert cell.value == RELAZIONE and cell.data_type == "s"
    with zipfile.ZipFile(result.consolidated) as zf:
        for name in zf.namelist():
            if name.startswith("xl/worksheets/sheet"):
                assert b"<f>" not in zf.read(name), name      # no formula anywhere


def test_anomalie_and_provenienza(merged):
    plan, rdir, returns, hashes, result, _ = merged
    wb = openpyxl.load_workbook(result.consolidated)
    an = [dict(zip([c.value for c in wb["Anomalie"][1]], row))
          for row in wb["Anomalie"].iter_rows(min_row=2, values_only=True) if row[0] or row[5]]
    assert {a["Codice"] for a in an} == {f.code for f in result.validation.findings}
    v007 = next(a for a in an if a["Codice"] == "V007")
    assert (v007["File"], v007["Foglio"], v007["Codice settore"]) == (returns["S02"].name, "Indicatori", "S02")
    assert v007["Cella"] == "I3" and "95%" in v007["Messaggio"]
    pv = rows_by_key(wb["Provenienza"], "Nome file")
    assert set(pv) == {(p.name,) for p in returns.values()}
    for sector, p in returns.items():
        r = pv[(p.name,)]
        assert r["Codice settore"] == sector and r["SHA-256"] == hashes[sector]
        assert r["Letto il"] == NOW and r["Versione modello"] == C.FORMAT_VERSION
        assert r["Utilizzato"] == "sì" and r["Copia restituita"] == p.name


def test_identity_sheet_records_the_rules_in_force(merged):
    plan, *_ , result, _ = merged
    ws = openpyxl.load_workbook(result.consolidated)["_pegxl"]
    pairs = {r[0]: r[1] for r in ws.iter_rows(values_only=True) if r and r[0]}
    assert pairs["Tipo file"] == "consolidato" and pairs["Versione formato"] == C.FORMAT_VERSION
    assert pairs["Ente"] == "Comune di Prova" and pairs["Anno"] == 2024
    assert pairs["Fase del ciclo"] == "Rendicontazione finale"
    assert pairs["Impronta piano"] == plan.fingerprint()
    for name, _value in plan.rules.as_rows():
        assert name in pairs, name
    assert pairs["Peso fasi"] == 50 and pairs["Tetto indicatore"] == 100


# ------------------------------------------------------------- reconciliation

def test_reconciliation_counts_every_typed_value(merged):
    *_, result, _ = merged
    rec = result.reconciliation
    assert rec.ok and rec.typed == TYPED and rec.reported == TYPED
    assert rec.line() == f"Riconciliazione: {TYPED} valori inseriti, {TYPED} riportati"
    assert rec.by_sheet == {"Obiettivi": (9, 9), "Fasi": (9, 9), "Indicatori": (8, 8)}


def test_the_reconciliation_names_each_value_changed_lost_or_without_a_source(merged, tmp_path):
    """reconcile against a consolidated changed after it was written: a typed value shown
    otherwise, a row gone, a row no return has, each named by sheet and key."""
    from pegxl.merge import reconcile
    from pegxl.workbook.contract import CS_PHASES
    *_, result, _ = merged
    v = result.validation
    used = {rf.path for rf in v.files if rf.sector in result.sectors}
    assert reconcile(v, used, result.consolidated).ok
    wb = openpyxl.load_workbook(result.consolidated)
    ws = wb[C.SHEET_PHASES]
    head = [c.value for c in ws[1]]
    col = {f: head.index(CS_PHASES.header(f)) for f in ("sector", "objective", "phase", "progress", "notes")}
    rows = [r for r in ws.iter_rows(min_row=2) if r[col["sector"]].value]
    typed = [r for r in rows if isinstance(r[col["progress"]].value, (int, float))]
    changed, gone = typed[0], typed[-1]
    label = lambda r: " / ".join(str(r[col[f]].value) for f in ("sector", "objective", "phase"))  # noqa: E731
    changed_label, gone_label, was = label(changed), label(gone), changed[col["progress"]].value
    changed[col["progress"]].value = was + 7
    extra = [c.value for c in rows[-1]]
    extra[col["phase"]], extra[col["notes"]] = 99, "nota di nessuno"
    ws.delete_rows(gone[0].row)
    ws.append(extra)
    wb.save(tmp_path / "cambiato.xlsx")
    rec = reconcile(v, used, tmp_path / "cambiato.xlsx")
    assert not rec.ok and rec.reported == rec.typed - 2
    problems = "\n".join(rec.problems)
    assert f"Fasi {changed_label} «{CS_PHASES.header('progress')}»: inserito" in problems
    assert f"Fasi {gone_label}: riga mancante" in problems
    assert f"{label(rows[-1]).rsplit(' / ', 1)[0]} / 99: valori senza un file di origine" in problems
    assert len(rec.problems) == 3   # the row gone had one typed value, its Avanzamento


def test_a_value_lost_on_the_way_fails_the_reconciliation_and_writes_nothing(tmp_path, monkeypatch):
    plan, rdir, _ = build(tmp_path)
    from pegxl.tables import LazyInputs
    real = LazyInputs.chunks

    def lossy(self, name):
        for chunk in real(self, name):
            if name == "objectives":
                chunk.loc[chunk["objective"] == "O1", "report"] = None
            yield chunk

    monkeypatch.setattr(LazyInputs, "chunks", lossy)
    with pytest.raises(PegxlError) as exc:
        merge(plan, [rdir], tmp_path / "out", now=NOW)
    assert exc.value.exit_code == 1
    assert exc.value.findings[0].code == "M005"
    assert "25 riportati" in exc.value.findings[0].message
    assert not (tmp_path / "out" / "2024_consolidato_OIV.xlsx").exists()
    assert not list((tmp_path / "out").glob("*.xlsx")) if (tmp_path / "out").exists() else True


# ------------------------------------------------------------ determinism, originals

def test_two_merges_give_identical_cell_values(merged):
    plan, rdir, _, _, result, tmp = merged
    again = merge(plan, [rdir], tmp / "out2", now=NOW)
    assert all_values(result.consolidated) == all_values(again.consolidated)
    for s in result.returned:
        assert all_values(result.returned[s]) == all_values(again.returned[s])


def test_a_merge_reading_its_tables_a_file_at_a_time_writes_the_same(merged, tmp_path, monkeypatch):
    """A merge keeps the returns' phases and indicators on disk once checked and reads
    them back a batch of files at a time (TableSpill): with a batch per file, the
    consolidated, the copies, the reconciliation and the archive's rows are those of one
    batch of all files."""
    import pegxl.validators.returns as V
    from pegxl.archive.rows import cycle_table_rows
    plan, rdir, _, _, result, _ = merged
    assert result.validation.spilled and len(result.validation.spill.files()) == 1
    monkeypatch.setattr(V, "BATCH_MAX_FILES", 1)
    apart = merge(plan, [rdir], tmp_path / "out", now=NOW, jobs=1)
    assert len(apart.validation.spill.files()) == len(apart.validation.files) > 1
    assert all_values(apart.consolidated) == all_values(result.consolidated)
    assert sorted(apart.returned) == sorted(result.returned)
    for s in result.returned:
        assert all_values(apart.returned[s]) == all_values(result.returned[s])
    assert apart.reconciliation.to_dict() == result.reconciliation.to_dict()
    for table in ("objectives", "phases", "indicators"):
        assert list(cycle_table_rows(plan, apart.scores, apart.validation, table)) == \
            list(cycle_table_rows(plan, result.scores, result.validation, table))


def test_without_now_when_read_is_the_files_read_time(tmp_path):
    plan, rdir, returns = build(tmp_path)
    result = merge(plan, [rdir], tmp_path / "out")
    ws = openpyxl.load_workbook(result.consolidated)["Provenienza"]
    pv = rows_by_key(ws, "Nome file")
    for rf in result.validation.files:
        assert pv[(rf.name,)]["Letto il"] == rf.read_at.replace(tzinfo=None, microsecond=0)


def test_originals_are_never_modified(merged):
    plan, rdir, returns, hashes, result, tmp = merged
    for sector, p in returns.items():
        assert sha(p) == hashes[sector]
    assert sorted(x.name for x in rdir.iterdir()) == sorted(p.name for p in returns.values())
    # writing the outputs among the returns is refused
    with pytest.raises(PegxlError) as exc:
        merge(plan, [rdir], rdir)
    assert exc.value.exit_code == 2 and exc.value.findings[0].code == "U001"
    for sector, p in returns.items():
        assert sha(p) == hashes[sector]


# ------------------------------------------------------------------- write-back

def test_write_back_puts_the_computed_values_into_a_copy(merged):
    plan, rdir, returns, hashes, result, tmp = merged
    assert set(result.returned) == {"S01", "S02"}
    for sector, path in result.returned.items():
        assert path.parent == tmp / "out" / "restituiti" and path.name == returns[sector].name
    wb = openpyxl.load_workbook(result.returned["S01"])
    orig = openpyxl.load_workbook(returns["S01"])
    ob = rows_by_key(wb["Obiettivi"], "Codice obiettivo")
    for (sector, code), value in COMPUTED.items():
        if sector != "S01":
            continue
        cell = wb["Obiettivi"].cell(row=ob[(code,)]["_row"], column=header_map(wb["Obiettivi"])["Grado calcolato %"])
        assert cell.data_type == "n" and cell.value == pytest.approx(value, **APPROX)   # a value, not a formula
    ind = rows_by_key(wb["Indicatori"], "Codice obiettivo", "N. indicatore")
    assert ind[("O1", 1)]["Raggiungimento %"] == pytest.approx(75, **APPROX)
    assert ind[("O1", 2)]["Raggiungimento %"] == 100
    assert ind[("T1", 1)]["Raggiungimento %"] is None and ind[("T1", 2)]["Raggiungimento %"] is None
    # Riepilogo keeps its live formulas; the inputs and their formatting are the settore's
    riep = wb["Riepilogo"]
    formulas = [c.value for row in riep.iter_rows() for c in row if isinstance(c.value, str) and c.value.startswith("=")]
    orig_formulas = [c.value for row in orig["Riepilogo"].iter_rows() for c in row
                     if isinstance(c.value, str) and c.value.startswith("=")]
    assert formulas and formulas == orig_formulas
    for sheet in ("Obiettivi", "Fasi", "Indicatori"):
        h = header_map(orig[sheet])
        computed = {"Grado calcolato %", "Raggiungimento %"}
        for row in range(1, orig[sheet].max_row + 1):
            for name, col in h.items():
                a, b = orig[sheet].cell(row=row, column=col), wb[sheet].cell(row=row, column=col)
                assert (a.fill.patternType, a.fill.fgColor.rgb) == (b.fill.patternType, b.fill.fgColor.rgb)
                assert a.protection.locked == b.protection.locked and a.font.b == b.font.b
                assert a.number_format == b.number_format
                if name not in computed or row == 1:
                    assert a.value == b.value, (sheet, row, name)
    rel = wb["Obiettivi"].cell(row=ob[("O1",)]["_row"], column=header_map(wb["Obiettivi"])["Relazione"])
    assert rel.value == RELAZIONE and rel.data_type == "s"
    assert wb["Obiettivi"].protection.sheet and wb["_pegxl"].sheet_state == "hidden"
    # issue 13: a row is as tall as the text the settore typed needs (the template's heights
    # knew only the plan's texts): O2's Motivazione scostamento takes two lines
    ws = wb["Obiettivi"]
    col = get_column_letter(header_map(ws)["Motivazione scostamento"])
    text = ob[("O2",)]["Motivazione scostamento"]
    need = paper.row_height([(text, ws.column_dimensions[col].width)])
    assert need is not None and (ws.row_dimensions[ob[("O2",)]["_row"]].height or 15) >= need


def test_the_chart_shows_a_settore_beyond_100(tmp_path):
    """Tetto indicatore 150: O1 = (100 + (150 + 100) / 2) / 2 = 112.5, S01 = 56.25 + 27 + 20
    = 103.25 %. The chart's axis must reach it (it was fixed at 100, cutting the bar)."""
    data = copy.deepcopy(PLAN)
    data["Regole"] = [{"Regola": "Tetto indicatore", "Valore": 150}]
    inputs = copy.deepcopy(INPUTS)
    inputs["S01"]["Fasi"][1]["Avanzamento %"] = 100
    inputs["S01"]["Indicatori"][0]["Valore raggiunto"] = 400
    plan, rdir, _ = build(tmp_path, inputs, data)
    result = merge(plan, [rdir], tmp_path / "out", now=NOW)
    pct = result.scores.sectors.set_index("sector").loc["S01", "percentage"]
    assert pct == pytest.approx(103.25, **APPROX)
    with zipfile.ZipFile(result.consolidated) as zf:
        xml = zf.read(next(n for n in zf.namelist() if n.startswith("xl/charts/chart"))).decode()
    top = float(re.search(r'<(?:c:)?max val="([0-9.]+)"', xml).group(1))
    assert top >= pct and top == 110


def test_write_back_with_all_digit_codes(tmp_path):
    """Codes such as «101» (common in real plans) are found again in the copy: the
    computed figures replace the live formulas there too."""
    ren = {"O1": "101", "O2": "102", "O3": "103", "T1": "900"}
    data = copy.deepcopy(PLAN)
    for sheet in ("Obiettivi", "Fasi", "Indicatori"):
        for r in data[sheet]:
            r["Codice obiettivo"] = ren[r["Codice obiettivo"]]
    inputs = copy.deepcopy(INPUTS)
    for typed in inputs.values():
        for records in typed.values():
            for r in records:
                r["Codice obiettivo"] = ren[r["Codice obiettivo"]]
    plan, rdir, returns = build(tmp_path, inputs, data)
    result = merge(plan, [rdir], tmp_path / "out", now=NOW)
    wb = openpyxl.load_workbook(result.returned["S01"])
    ob = rows_by_key(wb["Obiettivi"], "Codice obiettivo")
    for (sector, code), value in COMPUTED.items():
        if sector == "S01":
            got = ob[(ren[code],)]["Grado calcolato %"]
            assert got == pytest.approx(value, **APPROX), (code, got)
    ind = rows_by_key(wb["Indicatori"], "Codice obiettivo", "N. indicatore")
    assert ind[("101", 1)]["Raggiungimento %"] == pytest.approx(75, **APPROX)
    assert ind[("101", 2)]["Raggiungimento %"] == 100


# -------------------------------------------------------------- refusal, partial

def broken_inputs() -> dict:
    data = copy.deepcopy(INPUTS)
    data["S02"]["Fasi"][0]["Avanzamento %"] = 150         # V001: out of range
    return data


def test_a_file_with_errors_refuses_the_merge(tmp_path):
    plan, rdir, returns = build(tmp_path, broken_inputs())
    with pytest.raises(PegxlError) as exc:
        merge(plan, [rdir], tmp_path / "out", now=NOW)
    assert exc.value.exit_code == 1
    head = exc.value.findings[0]
    assert head.code == "M001" and "1 file con errori" in head.message
    assert head.record == returns["S02"].name
    assert any(f.code == "V001" and f.file == str(returns["S02"]) for f in exc.value.findings)
    assert not (tmp_path / "out").exists()


def test_the_copy_writers_started_before_the_reading_are_stopped_when_the_merge_is_refused(tmp_path):
    """merge forks its copy writers before it reads the returns (they share the plan and
    nothing the reading makes): a refused merge leaves no process behind."""
    import multiprocessing

    import pegxl.merge as M
    plan, rdir, returns = build(tmp_path, broken_inputs())
    started = []
    real = M.CopyWriters.__init__

    def spy(self, *a, **kw):
        real(self, *a, **kw)
        started.append(self.pool is not None)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(M.CopyWriters, "__init__", spy)
        with pytest.raises(PegxlError) as exc:
            merge(plan, [rdir], tmp_path / "out", now=NOW, jobs=2)
    assert exc.value.findings[0].code == "M001" and started == [True]
    assert multiprocessing.active_children() == []


def test_partial_leaves_out_the_settore_with_errors_and_says_so(tmp_path):
    plan, rdir, returns = build(tmp_path, broken_inputs())
    result = merge(plan, [rdir], tmp_path / "out", partial=True, now=NOW)
    assert result.sectors == ["S01"] and set(result.excluded) == {"S02"}
    assert [f.code for f in result.findings] == ["M002"]
    assert "errori" in result.excluded["S02"] and returns["S02"].name in result.excluded["S02"]
    # the figures are S01's alone, and so is the ente's
    assert result.scores.ente["percentage"] == pytest.approx(S01, **APPROX)
    wb = openpyxl.load_workbook(result.consolidated)
    rows = rows_by_key(wb["Sintesi"], "Codice settore")
    assert rows[("S02",)]["Percentuale di raggiungimento"] is None
    assert rows[("S02",)]["Stato consolidamento"].startswith("escluso: file con errori")
    assert rows[("Ente",)]["Percentuale di raggiungimento"] == pytest.approx(S01, **APPROX)
    assert {k[0] for k in rows_by_key(wb["Obiettivi"], "Codice settore", "Codice obiettivo")} == {"S01"}
    an = [row for row in wb["Anomalie"].iter_rows(min_row=2, values_only=True)]
    assert any(r[5] == "M002" and r[1] == "S02" for r in an)
    assert any(r[5] == "V001" and r[0] == returns["S02"].name for r in an)
    pv = rows_by_key(wb["Provenienza"], "Nome file")
    assert pv[(returns["S02"].name,)]["Utilizzato"] == "no"
    assert set(result.returned) == {"S01"}
    assert result.reconciliation.ok and result.reconciliation.typed == 16


def test_a_missing_settore_is_reported_and_left_out(tmp_path):
    plan, rdir, returns = build(tmp_path, {"S01": INPUTS["S01"]})
    result = merge(plan, [rdir], tmp_path / "out", now=NOW)
    assert result.missing == ["S02"] and [f.code for f in result.findings] == ["M003"]
    wb = openpyxl.load_workbook(result.consolidated)
    rows = rows_by_key(wb["Sintesi"], "Codice settore")
    assert rows[("S02",)]["Stato consolidamento"] == "escluso: file mancante"
    assert any(r[5] == "M003" for r in wb["Anomalie"].iter_rows(min_row=2, values_only=True))


# ------------------------------------------------------------------------- CLI

def test_cli_merge_prints_the_table_the_reconciliation_and_the_paths(merged, tmp_path):
    plan, rdir, *_ = merged
    plan_path = rdir.parent / "piano.xlsx"
    res = CliRunner().invoke(main, ["merge", "--plan", str(plan_path), str(rdir), "-o", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    out = res.output
    assert "86,38%" in out and "65,63%" in out and "78,08%" in out     # half-up, Italian comma
    assert f"Riconciliazione: {TYPED} valori inseriti, {TYPED} riportati" in out
    assert str(tmp_path / "o" / "2024_consolidato_OIV.xlsx") in out
    assert "restituiti" in out
    res = CliRunner().invoke(main, ["merge", "--plan", str(plan_path), str(rdir), "-o", str(tmp_path / "j"),
                                    "--format", "json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["reconciliation"]["typed"] == TYPED and doc["reconciliation"]["ok"]
    assert doc["ente_result"]["percentage"] == pytest.approx(ENTE, **APPROX)


def test_cli_merge_records_the_rules_in_force(merged, tmp_path):
    """scoring.md: every output that shows a figure records the Regole and the format version."""
    plan, rdir, *_ = merged
    plan_path = rdir.parent / "piano.xlsx"
    res = CliRunner().invoke(main, ["merge", "--plan", str(plan_path), str(rdir), "-o", str(tmp_path / "j"),
                                    "--format", "json", "--no-archive"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["format_version"] == C.FORMAT_VERSION
    assert [(r["name"], r["value"]) for r in doc["rules"]] == [tuple(r) for r in plan.rules.as_rows()]
    res = CliRunner().invoke(main, ["merge", "--plan", str(plan_path), str(rdir), "-o", str(tmp_path / "t"),
                                    "--no-archive"])
    assert res.exit_code == 0, res.output
    assert "Regole in vigore: Tetto indicatore 100 · Formula verso <= rapporto" in res.output


def test_cli_merge_exit_status(tmp_path):
    plan, rdir, returns = build(tmp_path, broken_inputs())
    plan_path = tmp_path / "piano.xlsx"
    res = CliRunner().invoke(main, ["merge", "--plan", str(plan_path), str(rdir), "-o", str(tmp_path / "o")])
    assert res.exit_code == 1 and "M001" in res.output
    res = CliRunner().invoke(main, ["merge", "--plan", str(plan_path), str(rdir), "-o", str(tmp_path / "o"),
                                    "--format", "json"])
    assert res.exit_code == 1 and json.loads(res.output)["findings"][0]["code"] == "M001"
    res = CliRunner().invoke(main, ["merge", "--plan", str(plan_path), str(rdir), "-o", str(tmp_path / "o"),
                                    "--partial"])
    assert res.exit_code == 0 and "M002" in res.output and "escluso" in res.output
    res = CliRunner().invoke(main, ["merge", "--plan", str(tmp_path / "nessuno.xlsx"), str(rdir),
                                    "-o", str(tmp_path / "o")])
    assert res.exit_code == 2
    empty = tmp_path / "vuota"
    empty.mkdir()
    res = CliRunner().invoke(main, ["merge", "--plan", str(plan_path), str(empty), "-o", str(tmp_path / "o")])
    assert res.exit_code == 2 and "U001" in res.output


def test_validations_lost_in_the_return_are_recreated_in_the_copy(tmp_path):
    """openpyxl drops Excel's x14 validations on load: the copy gets the plan's back."""
    plan, rdir, returns = build(tmp_path)
    wb = openpyxl.load_workbook(returns["S01"])
    template_dvs = {s: len(wb[s].data_validations.dataValidation) for s in ("Obiettivi", "Fasi", "Indicatori")}
    for s in template_dvs:
        wb[s].data_validations.dataValidation = []
    wb.save(returns["S01"])
    result = merge(plan, [rdir], tmp_path / "out", now=NOW)
    back = openpyxl.load_workbook(result.returned["S01"])
    for s, n in template_dvs.items():
        assert n > 0 and len(back[s].data_validations.dataValidation) == n, s


def test_two_files_for_one_settore_exclude_it_with_partial(tmp_path):
    plan, rdir, returns = build(tmp_path)
    twin = rdir / ("copia_" + returns["S02"].name)
    twin.write_bytes(returns["S02"].read_bytes())
    with pytest.raises(PegxlError) as exc:
        merge(plan, [rdir], tmp_path / "out", now=NOW)
    assert exc.value.findings[0].code == "M001" and "2 file con errori" in exc.value.findings[0].message
    result = merge(plan, [rdir], tmp_path / "out", partial=True, now=NOW)
    assert result.sectors == ["S01"]
    assert result.excluded["S02"].startswith("più file per lo stesso settore")
    assert result.scores.ente["percentage"] == pytest.approx(S01, **APPROX)


def test_a_copy_that_fails_in_a_worker_process_refuses_the_merge_and_writes_nothing(tmp_path, monkeypatch):
    """With worker processes (--jobs 2) the copies are taken a few at a time: one that cannot
    be written (a full disk) stops the rest, the merge is refused (M006) and OUTDIR is left
    as it was; the workers are stopped."""
    import errno
    import multiprocessing

    import pegxl.copies as M
    plan, rdir, returns = build(tmp_path)
    real = M.write_back

    def full_disk(plan, job, *a, **kw):
        if job.sector == "S02":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(plan, job, *a, **kw)
    monkeypatch.setattr(M, "write_back", full_disk)   # before the workers are forked: theirs too
    with pytest.raises(PegxlError) as exc:
        merge(plan, [rdir], tmp_path / "out", now=NOW, jobs=2)
    assert exc.value.findings[0].code == "M006"
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.xlsx"))
    assert multiprocessing.active_children() == []


def test_the_reconciliation_reads_the_rows_as_read_values_does(merged):
    """reconcile reads the consolidated's tables a row at a time (reader.iter_sheet_rows):
    the same rows, typed the same, as read_values's grid, for every sheet."""
    from pegxl.workbook.reader import iter_sheet_rows, read_values
    result = merged[4]
    path = result.consolidated
    book = read_values(path)
    assert book.sheets
    for name, sheet in book.sheets.items():
        got = list(iter_sheet_rows(path, name))
        assert got == sheet.rows and [list(map(type, r)) for r in got] == [list(map(type, r)) for r in sheet.rows]
    assert list(iter_sheet_rows(path, "Nessun foglio")) == []


def test_the_reconciliation_reads_its_own_consolidated_whatever_its_size(merged, monkeypatch):
    """The limit on how far a file may inflate guards against files from outside; the
    consolidated a merge has just written is read back for the reconciliation without it
    (1,000 settori of 80 fasi and 60 indicatori inflate past 200 MB: the merge failed F006)."""
    from pegxl import merge as M
    from pegxl.workbook import reader
    path = merged[4].consolidated
    with pytest.raises(PegxlError) as exc:
        next(reader.iter_sheet_rows(path, "Obiettivi", max_uncompressed=1000))
    assert exc.value.findings[0].code == "F006"
    from pegxl.workbook import ownrows
    with pytest.raises(PegxlError) as exc:
        next(ownrows.iter_own_rows(path, "Obiettivi", lambda h: [0], max_uncompressed=1000))
    assert exc.value.findings[0].code == "F006"
    asked = _spy_keyword(monkeypatch, M, "iter_own_rows", "max_uncompressed")
    plan, rdir = merged[0], merged[1]
    out = merged[5] / "again"
    merge(plan, [rdir], out, now=NOW, jobs=1)
    assert len(asked) == 3 and all(a is not None and a >= M.OWN_FILE_MAX_BYTES for a in asked)
    # and the same when calamine reads a sheet the streaming reader leaves to it
    asked_calamine = _spy_keyword(monkeypatch, M, "iter_sheet_rows", "max_uncompressed")
    monkeypatch.setattr(ownrows, "CHUNK", 1)
    monkeypatch.setattr(ownrows, "_CELL", re.compile(rb"(?!)()()()()()()"))   # no cell of a known form
    merge(plan, [rdir], merged[5] / "again2", now=NOW, jobs=1)
    assert len(asked_calamine) == 3 and all(a is not None and a >= M.OWN_FILE_MAX_BYTES for a in asked_calamine)


def test_a_consolidated_is_read_with_a_size_limit_scaled_to_its_plan(merged, monkeypatch):
    """The consolidated of a large plan inflates past the 200 MB allowed a return (1,000
    settori of 80 fasi and 60 indicatori: 301 MB), and the OIV's copy of it must still be
    read: the limit grows with the records the plan can have, never below 200 MB."""
    from pegxl.consolidated import read as R
    from pegxl.workbook.reader import MAX_UNCOMPRESSED
    plan, result = merged[0], merged[4]
    asked = _spy_keyword(monkeypatch, R, "read_values", "max_uncompressed")
    R.read_book(result.consolidated, plan=plan)
    assert asked[-1] == MAX_UNCOMPRESSED            # a small plan: the usual limit
    monkeypatch.setattr(R, "max_rows", lambda plan: 322_000)   # the large plan's records, doubled
    R.read_book(result.consolidated, plan=plan)
    assert asked[-1] == 322_000 * R.CONSOLIDATED_BYTES_PER_ROW > 301 * 1024 * 1024


def _spy_keyword(monkeypatch, module, name: str, keyword: str) -> list:
    """The values of `keyword` in every call of `module.name` from now on."""
    asked: list = []
    real = getattr(module, name)

    def spy(*a, **kw):
        asked.append(kw.get(keyword))
        return real(*a, **kw)
    monkeypatch.setattr(module, name, spy)
    return asked


def test_a_merge_scoring_a_few_settori_at_a_time_writes_the_same(merged, tmp_path, monkeypatch):
    """A merge scores its settori a group at a time (their exact figures and inputs on
    disk, pegxl.combine joining the tables) and makes the Calcolo sheet's parts a few
    settori at a time in a child process: with a group and a part per settore, every sheet
    and copy is the one of a single scoring, and so are the scores themselves."""
    import pickle

    import pandas as pd

    import pegxl.copies as CP
    import pegxl.validators.returns as V
    from pegxl.scoring import Scores
    from pegxl.tables import LazyInputs, score
    plan, rdir, _, _, result, _ = merged
    monkeypatch.setattr(V, "SECTORS_SCORED_AT_ONCE", 1)
    monkeypatch.setattr(CP, "SECTORS_AT_ONCE", 1)
    real, mark = CP._parts, tmp_path / "parts"

    def parts(scores, *a):   # in the child process: what it was given, written down
        mark.write_text(type(scores).__name__)
        return real(scores, *a)
    monkeypatch.setattr(CP, "_parts", parts)
    apart = merge(plan, [rdir], tmp_path / "out", now=NOW, jobs=2)
    assert mark.read_text() == "SpilledScores" and apart.scores.__dict__["_groups"] == [["S01"], ["S02"]]
    assert all_values(apart.consolidated) == all_values(result.consolidated)
    for s in result.returned:
        assert all_values(apart.returned[s]) == all_values(result.returned[s])
    assert apart.scores.__dict__["_waiting"]   # the merge loaded no group's exact figures
    whole = score(plan, LazyInputs(apart.validation), apart.sectors)
    # the Calcolo sheet's rows made here (no worker) a piece at a time: those of one Explainer
    from pegxl.consolidated.calcolo import calcolo_table, calcolo_wrapped
    from pegxl.explain import reasons_of
    reasons, wrapped = reasons_of(plan.phases, plan.indicators), calcolo_wrapped()
    assert list(CP._calcolo_here(apart.scores, apart.sectors, reasons, wrapped)) == \
        list(calcolo_table(whole, apart.sectors, reasons, wrapped))
    assert apart.scores.__dict__["_waiting"]
    for name in ("indicators", "phases", "objectives", "sectors"):
        pd.testing.assert_frame_equal(getattr(apart.scores, name), getattr(whole, name))
    assert apart.scores.ente == whole.ente
    plain = pickle.loads(pickle.dumps(apart.scores))   # on disk no more: every figure with it
    assert type(plain) is Scores and plain.exact == whole.exact
    assert apart.scores.piece(["S02"]).exact.sectors == {"S02": whole.exact.sectors["S02"]}
    # joined in the plan's order whatever the groups' (a trasversale objective interleaves them)
    from pegxl.combine import combine, only
    back = combine([only(whole, ["S02"]), only(whole, ["S01"])], plan.rules,
                   zip(plan.assignments["sector"], plan.assignments["objective"]), plan.sector_codes)
    for name in ("indicators", "phases", "objectives", "sectors"):
        pd.testing.assert_frame_equal(getattr(back, name), getattr(whole, name))
    assert back.ente == whole.ente and back.exact.sector_weights == whole.exact.sector_weights


def test_a_merges_settori_are_scored_by_its_workers(merged, tmp_path, monkeypatch):
    """The settori's groups are scored by the copy workers (CopyWriters.share; here every
    group, none taken back by this process): the same figures, findings and workbook."""
    import os
    import uuid
    from concurrent.futures import Future

    import pandas as pd

    import pegxl.validators.returns as V
    import pegxl.validators.scored as S
    plan, rdir, _, _, result, _ = merged
    monkeypatch.setattr(V, "SECTORS_SCORED_AT_ONCE", 1)
    monkeypatch.setattr(Future, "cancel", lambda self: False)
    marks, real = tmp_path / "gruppi", S.score_input
    marks.mkdir()

    def score_input(part, rows, sectors):   # which process scored which group (the workers are
        # forked), with how many of the plan's settori: the group's alone were sent (plan_part)
        (marks / f"{os.getpid()}-{len(part.sectors)}-{uuid.uuid4().hex}").touch()
        return real(part, rows, sectors=sectors)
    monkeypatch.setattr(S, "score_input", score_input)
    again = merge(plan, [rdir], tmp_path / "out", now=NOW, jobs=2)
    pids = [int(p.name.split("-")[0]) for p in marks.iterdir()]
    assert len(pids) == 2 and os.getpid() not in pids
    assert {p.name.split("-")[1] for p in marks.iterdir()} == {"1"}
    assert all_values(again.consolidated) == all_values(result.consolidated)
    assert [(f.code, f.file, f.cell, f.message) for f in again.validation.findings] == \
        [(f.code, f.file, f.cell, f.message) for f in result.validation.findings]
    for name in ("indicators", "phases", "objectives", "sectors"):
        pd.testing.assert_frame_equal(getattr(again.scores, name), getattr(result.scores, name))
    assert again.scores.ente == result.scores.ente and again.scores.exact == result.scores.exact


def test_the_workers_reconcile_as_this_process_does_and_find_what_is_lost(tmp_path, monkeypatch):
    """With workers, the reconciliation's sheets are read back by them (here all three,
    none taken back by this process): the same counts as in one process, and a value lost
    on the way to the Fasi sheet is found there, the merge failing (M005)."""
    import os
    from concurrent.futures import Future

    import pegxl.merge as M
    from pegxl.tables import LazyInputs
    plan, rdir, _ = build(tmp_path)
    alone = merge(plan, [rdir], tmp_path / "uno", now=NOW, jobs=1)
    monkeypatch.setattr(Future, "cancel", lambda self: False)
    marks, real = tmp_path / "fogli", M.reconcile_sheet
    marks.mkdir()

    def sheet(*args):   # which process read back which sheet (the workers are forked)
        (marks / f"{os.getpid()}-{args[1]}").touch()
        return real(*args)
    monkeypatch.setattr(M, "reconcile_sheet", sheet)
    shared = merge(plan, [rdir], tmp_path / "due", now=NOW, jobs=2)
    assert shared.reconciliation.to_dict() == alone.reconciliation.to_dict() and shared.reconciliation.ok
    made = [p.name.split("-", 1) for p in marks.iterdir()]
    assert sorted(s for _, s in made) == sorted([C.SHEET_OBJECTIVES, C.SHEET_PHASES, C.SHEET_INDICATORS])
    assert all(int(pid) != os.getpid() for pid, _ in made)
    chunks = LazyInputs.chunks

    def lossy(self, name):
        for chunk in chunks(self, name):
            if name == "phases":
                chunk.loc[chunk["objective"] == "O1", "progress"] = None
            yield chunk
    monkeypatch.setattr(LazyInputs, "chunks", lossy)
    with pytest.raises(PegxlError) as exc:
        merge(plan, [rdir], tmp_path / "tre", now=NOW, jobs=2)
    assert exc.value.findings[0].code == "M005" and "Fasi" in exc.value.findings[0].message
    assert not (tmp_path / "tre" / "2024_consolidato_OIV.xlsx").exists()
