"""`pegxl spiega` and the Calcolo sheet: every step's number computed by hand below.

The unit plan (Regole: Tetto indicatore 120, Ritardo azzera no, Penalità giorni ritardo 2,
Soglia minima 60; settori S1 Peso 3, S2 Peso 1):

  O1  S1  peso 60  fasi 20, 20, 20, 20, 10 (the 10 neutralised: the others weigh 80 -> 25
                   each); avanzamento 100, 50, 80, 0 -> 25 + 12,5 + 20 + 0 = 57,5
                   ind. 1 numero <= A 50, R 40: rapporto 100 x 50 / 40 = 125 -> Tetto 120
                   ind. 2 numero >= A 80, R 60: 100 x 60 / 80 = 75
                   indicatori (120 + 75) / 2 = 97,5; grado (57,5 + 97,5) / 2 = 77,5
  O2  S1  peso 30  ind. sì/no atteso sì, raggiunto sì -> 100; dichiarato 80 replaces it
                   (scarto 20 > 10: flagged)
  O3  S1  peso 10  Rinviato: left out, its Peso too -> O1 66,67, O2 33,33
                   S1 = 77,5 x 60/90 + 80 x 30/90 = 51,666.. + 26,666.. = 235/3 = 78,33 -> B
  O4  S2           ind. data <= 30/06/2024, raggiunto 10/07/2024: 10 days late,
                   100 - 2 x 10 = 80; Valutazione OIV 70 replaces it
  O5  S2           fase 100 at 50 -> 50, below the Soglia minima 60: counts 0
                   S2 = (70 + 0) / 2 = 35 -> D
  Ente = (235/3 x 3 + 35 x 1) / 4 = (235 + 35) / 4 = 67,5 -> C
"""
from __future__ import annotations

import datetime as dt
import json
from fractions import Fraction as Fr

import openpyxl
import pytest
from click.testing import CliRunner
from merge_plan import build, header_map, rows_by_key
from test_scoring import NAN, make_input

from pegxl import flows
from pegxl.cli import main
from pegxl.errors import ErrorCode, PegxlError
from pegxl.explain import Explainer, calcolo_rows, figure_rows, part_rows, render_text
from pegxl.oiv import scores_of_book
from pegxl.rules import Rules
from pegxl.scoring import compute
from pegxl.values import figure_float

D = dt.date
RULES = Rules(cap=120, late_zero=False, late_penalty=2, minimum=60)


def unit_scores():
    inp = make_input(
        [("S1", "O1", 60), ("S1", "O2", 30), ("S1", "O3", 10), ("S2", "O4", NAN), ("S2", "O5", NAN)],
        phases=[("O1", 1, 20), ("O1", 2, 20), ("O1", 3, 20), ("O1", 4, 20), ("O1", 5, 10, True), ("O5", 1, 100)],
        indicators=[("O1", 1, "RISULTATO", "numero", "<=", 50, NAN),
                    ("O1", 2, "RISULTATO", "numero", ">=", 80, NAN),
                    ("O2", 1, "RISULTATO", "sì/no", None, True, NAN),
                    ("O4", 1, "TEMPORALE", "data", "<=", D(2024, 6, 30), NAN)],
        objective_inputs=[("S1", "O2", None, 80, NAN), ("S1", "O3", "Rinviato", NAN, NAN),
                          ("S2", "O4", None, NAN, 70)],
        phase_inputs=[("S1", "O1", 1, 100), ("S1", "O1", 2, 50), ("S1", "O1", 3, 80), ("S1", "O1", 4, 0),
                      ("S2", "O5", 1, 50)],
        indicator_inputs=[("S1", "O1", 1, 40), ("S1", "O1", 2, 60), ("S1", "O2", 1, True),
                          ("S2", "O4", 1, D(2024, 7, 10))],
        sectors=[("S1", 3), ("S2", 1)])
    return compute(inp, RULES)


def trace(steps):
    return [(s.code, s.step, s.value) for s in steps]


def test_indicator_verso_decrescente_beyond_the_tetto():
    _, steps = Explainer(unit_scores()).explain("O1:1")
    assert trace(steps) == [
        ("O1:1", "Valore atteso", 50), ("O1:1", "Valore raggiunto", 40), ("O1:1", "Verso", "<="),
        ("O1:1", "Formula", 125),                # rapporto: 100 x 50 / 40
        ("O1:1", "Raggiungimento %", 120),       # capped at the Tetto indicatore 120
        ("O1:1", "Peso effettivo", 50)]          # two indicators without Peso: equal
    assert steps[3].text == "Formula rapporto: 100 × A / R = 100 × 50 / 40 = 125,00."
    assert steps[3].rule == "Formula verso <= rapporto"
    assert steps[4].text == "125,00 supera il Tetto indicatore (120): Raggiungimento % = 120,00%."
    assert steps[4].rule == "Tetto indicatore 120"


def test_date_late_with_penalty_per_day():
    _, steps = Explainer(unit_scores()).explain("O4:1")
    assert trace(steps) == [
        ("O4:1", "Valore atteso", D(2024, 6, 30)), ("O4:1", "Valore raggiunto", D(2024, 7, 10)),
        ("O4:1", "Verso", "<="), ("O4:1", "Formula", 80), ("O4:1", "Raggiungimento %", 80),
        ("O4:1", "Peso effettivo", 100)]
    assert steps[3].text == "10 giorni di ritardo: 100 − 2 × 10 = 80,00."
    assert steps[3].rule == "Ritardo azzera no; Penalità giorni ritardo 2"


def test_objective_phases_neutralised_and_rescaled_then_combined():
    kind, steps = Explainer(unit_scores()).explain("O1")
    assert kind == "obiettivo"
    own = [s for s in steps if s.code == "O1"]
    assert trace(own) == [
        ("O1", "Fasi neutralizzate", 80),        # the 4 phases left weigh 80
        ("O1", "Fase 1", 25),                    # 25 x 100 / 100
        ("O1", "Fase 2", Fr(25, 2)),             # 25 x 50 / 100
        ("O1", "Fase 3", 20),                    # 25 x 80 / 100
        ("O1", "Fase 4", 0),
        ("O1", "Realizzazione fasi %", Fr(115, 2)),     # 57,5
        ("O1", "Media indicatori %", Fr(195, 2)),       # (120 + 75) / 2
        ("O1", "Grado calcolato %", Fr(155, 2)),        # (50 x 57,5 + 50 x 97,5) / 100
        ("O1", "Grado %", Fr(155, 2)),
        ("O1", "Valore nella media", Fr(155, 2))]
    assert own[1].text == "Peso 20 (effettivo 25,00) × avanzamento 100,00% / 100 = 25,00."
    assert own[7].text == ("(Peso fasi 50 × fasi 57,50% + Peso indicatori 50 × indicatori 97,50%) / 100 "
                           "= 77,50%.")
    assert own[7].rule == "Peso fasi 50; Peso indicatori 50"
    assert own[9].rule == "Soglia minima 60"
    # its indicators come first, then its phases
    assert [s.code for s in steps[:12]] == ["O1:1"] * 6 + ["O1:2"] * 6


def test_declared_and_oiv_grades_replace_the_computed_one():
    e = Explainer(unit_scores())
    o2 = {s.step: s for s in e.objective("S1", "O2", deep=False)}
    assert (o2["Grado calcolato %"].value, o2["Grado %"].value, o2["Valore nella media"].value) == (100, 80, 80)
    assert o2["Grado %"].text == ("Il settore ha dichiarato 80,00%, che sostituisce il calcolato (100,00%); "
                                  "lo scarto supera 10 punti (da motivare): Grado % = 80,00%.")
    assert o2["Grado %"].rule == "Scarto segnalato 10"
    o4 = {s.step: s for s in e.objective("S2", "O4", deep=False)}
    assert (o4["Grado calcolato %"].value, o4["Grado %"].value) == (80, 70)
    assert "La Valutazione OIV % (70,00%) sostituisce" in o4["Grado %"].text
    o5 = {s.step: s for s in e.objective("S2", "O5", deep=False)}
    assert (o5["Grado %"].value, o5["Valore nella media"].value) == (50, 0)       # below Soglia 60
    assert "sotto la Soglia minima (60)" in o5["Valore nella media"].text


def test_settore_leaves_the_rinviato_out_and_says_why():
    _, steps = Explainer(unit_scores()).explain("S1")
    assert trace(steps) == [
        ("S1", "Obiettivo O1", Fr(155, 3)),      # 77,5 x 66,67 / 100 = 51,67
        ("S1", "Obiettivo O2", Fr(80, 3)),       # 80 x 33,33 / 100 = 26,67
        ("S1", "Obiettivo O3", None),
        ("S1", "Percentuale di raggiungimento", Fr(235, 3)),   # 78,33
        ("S1", "Fascia", "B")]
    assert steps[0].text == "Grado nella media 77,50% × peso effettivo 66,67 / 100 = 51,67."
    assert steps[2].text == "Escluso dalla media (Stato Rinviato)."
    assert steps[3].text == "Media pesata dei 2 obiettivi valutati su 3: 78,33%."
    assert steps[4].rule == "Fascia A 90; Fascia B 75; Fascia C 60; Fascia D 0"


def test_ente_and_its_fascia():
    _, steps = Explainer(unit_scores()).explain("ente")
    assert trace(steps) == [
        ("ente", "Settore S1", Fr(235, 4)),      # 78,33 x 75 / 100 = 58,75
        ("ente", "Settore S2", Fr(35, 4)),       # 35 x 25 / 100 = 8,75
        ("ente", "Percentuale dell'ente", Fr(135, 2)),   # 67,5
        ("ente", "Fascia", "C")]
    assert steps[3].text == "67,50% raggiunge il limite della Fascia C (60), la più alta raggiunta: Fascia C."


def test_every_number_is_the_one_scoring_computed():
    s = unit_scores()
    e = Explainer(s)
    for r in s.objectives.to_dict("records"):
        steps = {x.step: x for x in e.objective(r["sector"], r["objective"], deep=False)}
        if r["counted"]:
            assert steps["Grado %"].number == r["grade"]
            assert steps["Grado calcolato %"].number == r["computed"]
    for r in s.sectors.to_dict("records"):
        steps = {x.step: x for x in e.sector(r["sector"])}
        assert steps["Percentuale di raggiungimento"].number == r["percentage"]
        assert steps["Fascia"].value == r["band"]
    ente = {x.step: x for x in e.ente()}
    assert ente["Percentuale dell'ente"].number == s.ente["percentage"]
    # the settore's terms add up to its percentage, exactly
    terms = [x.value for x in e.sector("S1") if x.step.startswith("Obiettivo") and x.value is not None]
    assert sum(terms) == s.exact.sectors["S1"]


def trasversale_scores():
    inp = make_input([("S1", "T", NAN), ("S2", "T", NAN)],
                     indicators=[("T", 1, "RISULTATO", "numero", ">=", 10, NAN)],
                     indicator_inputs=[("S1", "T", 1, 5), ("S2", "T", 1, 10)])
    return compute(inp, Rules())


def test_codes_trasversale_unknown_and_excluded():
    e = Explainer(trasversale_scores())
    kind, steps = e.explain("S1:T")
    assert kind == "obiettivo" and steps[-1].code == "S1:T" and steps[-1].value == 50
    kind, steps = e.explain("S2:T:1")
    assert kind == "indicatore" and [s.value for s in steps if s.step == "Raggiungimento %"] == [100]
    cases = [("T", ErrorCode.U007, "S1, S2"), ("S1:T:4", ErrorCode.U006, "indicatori: 1"),
             ("S9", ErrorCode.U005, "Forse «S2» o «S1»?"), ("S3", ErrorCode.U008, "non è nel consolidato")]
    for code, err, text in cases:
        with pytest.raises(PegxlError) as exc:
            e.explain(code, file="cons.xlsx", excluded={"S3": "escluso dal consolidamento"})
        f = exc.value.findings[0]
        assert f.is_(err) and text in f.message and f.file == "cons.xlsx" and f.record == code
    with pytest.raises(PegxlError) as exc:
        e.explain("T")
    assert "S1:T" in exc.value.findings[0].hint


@pytest.mark.parametrize("make", [unit_scores, trasversale_scores])
@pytest.mark.parametrize("size", [1, 2, 50])
def test_parts_explained_apart_give_the_calcolo_rows(make, size):
    """The Calcolo sheet's rows made a Part at a time in another process (pickled there and
    back: merge's workers) are the rows made at once, the ente's last: a trasversale
    objective keeps its settore's code in a part without its other settori, a neutralised
    phase its reason."""
    import pickle
    s = make()
    reasons = {("fasi", "O1", 5): "Fase sospesa dal Sindaco"}
    e = Explainer(s, reasons)
    parts = [pickle.loads(pickle.dumps(p)) for p in e.parts(size=size)]
    assert [x for p in parts for x in p.sectors] == list(e.sectors)
    apart = [r for p in parts for r in part_rows(p)] + list(figure_rows(e.ente()))
    whole = list(calcolo_rows(s, reasons=reasons))
    assert apart == whole
    codes = {r["code"] for r in whole}
    assert ("S1:T" in codes and "S2:T" in codes) if make is trasversale_scores else \
        any("Fase sospesa dal Sindaco" in r["text"] for r in whole)
    # a settore asked for alone, as the consolidated asks for the ones it holds
    only = [r for p in e.parts(["S2"], size=size) for r in part_rows(p)]
    assert only == [r for r in whole if r["sector"] == "S2"]


@pytest.mark.parametrize("make", [unit_scores, trasversale_scores])
def test_a_worker_keeps_no_figures_of_the_parts_it_has_made(make):
    """A merge's worker makes the Calcolo rows a Part at a time and then forgets the
    figures it cached for them (a process would otherwise grow with every settore's
    figures, up to the caches' bound): its rows are those made here, and afterwards the
    caches are empty; figures made again are the same."""
    import pickle
    import zlib

    from pegxl import explain, values
    from pegxl.consolidated.calcolo import calcolo_height, calcolo_texts, calcolo_wrapped
    from pegxl.copies import _calcolo_in_worker
    s = make()
    e = Explainer(s, {})
    wrapped = calcolo_wrapped()
    for part in e.parts(size=1):
        want = calcolo_texts([(r, calcolo_height(r, wrapped)) for r in part_rows(part)], wrapped)
        assert values._FIGURE_CACHE and explain._two_of.cache_info().currsize   # filled by the rows above
        got = pickle.loads(zlib.decompress(_calcolo_in_worker(part, wrapped)))
        assert got == want
        assert not values._FIGURE_CACHE and not values._EXACT_CACHE
        assert explain._two_of.cache_info().currsize == 0 == explain._percent_of.cache_info().currsize
    again = [r for p in e.parts(size=1) for r in part_rows(p)]
    assert again == list(calcolo_rows(s, reasons={}))[:len(again)]


def test_text_fits_80_columns():
    s = unit_scores()
    text = render_text(Explainer(s).everything())
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "Obiettivo O1 (settore S1)" in text and "    Regola: Tetto indicatore 120" in text


# ------------------------------------------------------- end to end: merge, oiv, spiega

@pytest.fixture(scope="module")
def cycle(tmp_path_factory):
    """The merge test plan (tests/merge_plan.py, figures by hand there) through the CLI:
    merge (archived beside the plan), the OIV's copy with a grade and an edited Calcolo
    sheet, oiv."""
    tmp = tmp_path_factory.mktemp("spiega")
    plan, rdir, _ = build(tmp)
    run = CliRunner()
    res = run.invoke(main, ["merge", "--plan", str(tmp / "piano.xlsx"), str(rdir), "-o", str(tmp / "cons")])
    assert res.exit_code == 0, res.output
    cons = tmp / "cons" / "2024_consolidato_OIV.xlsx"
    wb = openpyxl.load_workbook(cons)
    ob = wb["Obiettivi"]
    row = rows_by_key(ob, "Codice settore", "Codice obiettivo")[("S01", "O1")]["_row"]
    ob.cell(row=row, column=header_map(ob)["Valutazione OIV %"]).value = 70
    ob.cell(row=row, column=header_map(ob)["Note OIV"]).value = "Indicatore 1 sotto il valore atteso"
    wb["Calcolo"]["E2"].value = "testo cambiato dall'OIV"      # derived text: it does not matter
    wb["Calcolo"]["F3"].value = 12
    oiv_in = tmp / "dall_oiv.xlsx"
    wb.save(oiv_in)
    res = run.invoke(main, ["oiv", "--plan", str(tmp / "piano.xlsx"), str(oiv_in), "-o", str(tmp / "fin")])
    assert res.exit_code == 0, res.output
    assert "O009" not in res.output and "O006" not in res.output     # checked against the archive
    return tmp, cons, tmp / "fin" / "2024_consolidato_OIV_finale.xlsx"


def calcolo(path):
    """The Calcolo sheet by (Codice, Livello): one row per figure."""
    ws = openpyxl.load_workbook(path)["Calcolo"]
    assert [c.value for c in ws[1]] == ["Codice settore", "Codice", "Livello", "Cifra", "Spiegazione",
                                        "Valore", "Regola"]
    assert ws.protection.sheet
    rows = {(r[1], r[2]): r for r in ws.iter_rows(min_row=2, values_only=True)}
    assert len(rows) == ws.max_row - 1
    return rows


def test_calcolo_sheet_read_back(cycle):
    tmp, cons, final = cycle
    rows = calcolo(cons)
    # S01: O1 (2 indicators, phases), O2 (phases), T1 (2 indicators, phases); S02: O3, T1;
    # each objective and each phases' part is a figure, then the settori and the ente
    assert [(r[1], r[2]) for r in rows.values()][:10] == [
        ("O1:1", "indicatore"), ("O1:2", "indicatore"), ("O1", "fasi"), ("O1", "obiettivo"),
        ("O2", "fasi"), ("O2", "obiettivo"), ("S01:T1:1", "indicatore"), ("S01:T1:2", "indicatore"),
        ("S01:T1", "fasi"), ("S01:T1", "obiettivo")]
    assert len(rows) == 10 + 1 + 8 + 1 + 1    # S01 and its row; S02: O3 and T1 (2 ind., fasi, obj. each) and its row; ente
    value = {k: r[5] for k, r in rows.items()}
    # O1: indicators 100 x 150 / 200 = 75 and sì = 100; fasi 40 x 100 + 60 x 50 = 70; grado 78,75
    o11 = rows[("O1:1", "indicatore")]
    assert (o11[3], o11[5], o11[6]) == ("Raggiungimento %", 75, "Tetto indicatore 100")
    assert o11[4].split("\n") == [
        "Valore atteso: Indicatore 1 (numero): valore atteso A = 200.",
        "Valore raggiunto: Valore raggiunto R = 150.",
        "Verso: Verso «>=»: più è meglio.",
        "Formula: 100 × R / A = 100 × 150 / 200 = 75,00.",
        "Raggiungimento %: 75,00 è entro il Tetto indicatore (100): Raggiungimento % = 75,00%.",
        "Peso effettivo: Conta nella media degli indicatori dell'obiettivo con peso effettivo 50,00 su 100 "
        "(peso del piano: non indicato)."]
    assert value[("O1:2", "indicatore")] == 100 and value[("O1", "fasi")] == 70
    assert rows[("O1", "obiettivo")][3] == "Grado %" and value[("O1", "obiettivo")] == 78.75
    assert "= 87,50%." in rows[("O1", "obiettivo")][4]          # (75 + 100) / 2
    assert rows[("O1", "obiettivo")][6] == "Peso fasi 50; Peso indicatori 50; Soglia minima 0"
    # O3: phase 3 neutralised, the others 62,5 / 37,5 -> 62,5 + 18,75 = 81,25
    o3 = rows[("O3", "fasi")]
    assert o3[5] == 81.25 and "Fasi neutralizzate: 3 (Attività eliminata)" in o3[4]
    assert "Peso 50 (effettivo 62,50) × avanzamento 100,00% / 100 = 62,50." in o3[4]
    assert "Peso 30 (effettivo 37,50) × avanzamento 50,00% / 100 = 18,75." in o3[4]
    assert value[("O3:1", "indicatore")] == 0            # 10 days late, Ritardo azzera sì
    assert "10 giorni di ritardo: con Ritardo azzera sì vale 0." in rows[("O3:1", "indicatore")][4]
    # T1 is trasversale: its code carries the settore; Rinviato in S02, out of S02's mean
    assert value[("S01:T1", "obiettivo")] == 100 and value[("S02:T1", "obiettivo")] is None
    assert value[("S01:T1:2", "indicatore")] is None      # CONTESTO
    assert "Obiettivo S02:T1: Escluso dalla media (Stato Rinviato)." in rows[("S02", "settore")][4]
    assert value[("S01", "settore")] == 86.375 and value[("S02", "settore")] == 65.625
    assert value[("ente", "ente")] == 78.075 and rows[("ente", "ente")][4].endswith("Fascia B.")
    assert rows[("ente", "ente")][6] == "Fascia A 90; Fascia B 75; Fascia C 60; Fascia D 0"
    # the final workbook's sheet has the OIV grade in force, and the edited text is gone
    fin = calcolo(final)
    assert fin[("O1", "obiettivo")][5] == 70 and "La Valutazione OIV % (70,00%)" in fin[("O1", "obiettivo")][4]
    assert fin[("S01", "settore")][5] == pytest.approx(82.0, abs=1e-12)
    assert "testo cambiato dall'OIV" not in {r[4] for r in fin.values()}


def test_calcolo_is_not_a_record_the_oiv_check_reads(cycle):
    tmp, cons, _ = cycle
    values = openpyxl.load_workbook(cons)["_pegxl_valori"]
    assert "Calcolo" not in {r[0] for r in values.iter_rows(min_row=2, values_only=True)}


def test_cli_spiega_text_and_json(cycle):
    tmp, cons, final = cycle
    plan = str(tmp / "piano.xlsx")
    run = CliRunner()
    res = run.invoke(main, ["spiega", "--plan", plan, str(final), "O1"])
    assert res.exit_code == 0, res.output
    assert max(len(line) for line in res.output.splitlines()) <= 80
    assert "100 × R / A = 100 × 150 / 200 = 75,00." in res.output
    assert "La Valutazione OIV % (70,00%) sostituisce il grado del settore" in res.output
    res = run.invoke(main, ["spiega", "--plan", plan, str(cons), "S02", "--format", "json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert (doc["code"], doc["kind"], doc["value"], doc["shown"]) == ("S02", "settore", 65.625, "65,63")
    assert set(doc) == {"code", "kind", "ente", "anno", "workbook", "value", "shown", "steps"}
    assert doc["ente"] == "Comune di Prova" and doc["anno"] == 2024
    step = doc["steps"][0]
    assert set(step) == {"sector", "code", "level", "step", "text", "value", "shown", "rule"}
    assert (step["sector"], step["code"], step["level"], step["step"], step["value"]) == (
        "S02", "S02", "settore", "Obiettivo O3", 65.625)
    assert doc["steps"][-1]["value"] == "C"
    res = run.invoke(main, ["spiega", "--plan", plan, str(cons), "S01:T1:2", "--format", "json"])
    doc = json.loads(res.output)      # CONTESTO: explained, no figure
    assert (doc["kind"], doc["value"], doc["steps"][0]["step"]) == ("indicatore", None, "Contesto")
    res = run.invoke(main, ["spiega", "--plan", plan, str(cons), "O1:1", "--format", "json"])
    assert json.loads(res.output)["value"] == 75       # the Raggiungimento %, not the last step's Peso
    res = run.invoke(main, ["spiega", "--plan", plan, str(cons), "T1"])
    assert res.exit_code == 2 and "U007" in res.output and "S01:T1" in res.output
    res = run.invoke(main, ["spiega", "--plan", plan, str(cons), "O4", "--format", "json"])
    assert res.exit_code == 2 and json.loads(res.output)["findings"][0]["code"] == "U005"


def test_flows_explain_matches_the_workbook(cycle):
    tmp, cons, _ = cycle
    plan = flows.checked_plan(tmp / "piano.xlsx")
    ex = flows.explain(plan, cons, "ente")
    assert ex.figure is not None and ex.figure.number == 78.075
    assert figure_float(ex.steps[0].value) == 86.375 * 60 / 100
    rows = list(calcolo_rows(scores_of_book(plan, cons)[0]))
    assert (rows[-1]["code"], rows[-1]["value"]) == ("ente", 78.075)
