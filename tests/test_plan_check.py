"""Checking the plan (workbooks.md section 1): each kind of mistake, its code, at its cell.

Every test writes a real piano.xlsx with `pegxl.workbook.planfile` (openpyxl), reads it back
through `check_plan` (calamine) and asserts the exact code, severity, sheet, A1 cell and
record code of the finding. The clean plan is realistic: three settori, an objective shared
by a `S01;S02` list, a trasversale `*` objective, phases with dates and pesi, and indicators
of every Tipo valore.

Column letters used below (the public contract, contract.py):
  Ente        A Voce, B Valore (rows: 2 Ente, 3 Anno, 4 Fase del ciclo, 5 Data di riferimento, ...)
  Regole      A Regola, B Valore, C Descrizione (rows 2.. in RULE_ROWS order)
  Settori     A Codice settore, B Settore, C Responsabile, D Email, E Peso
  Obiettivi   A Codice obiettivo, B Codice settore, C Titolo, D Descrizione, E Tipologia, ... K Peso
  Fasi        A Codice obiettivo, B N. fase, C Descrizione, D Inizio previsto, E Fine prevista, F Peso,
              G Responsabile, H Neutralizzata, I Motivo neutralizzazione
  Indicatori  A Codice obiettivo, B N. indicatore, C Descrizione, D Tipo, E Formula, F Unità di misura,
              G Tipo valore, H Verso, I Valore atteso, J Valore anno precedente, K Peso, ...
"""
from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path

import pytest

from pegxl.errors import ERROR, WARNING, ErrorCode, Finding
from pegxl.rules import RULE_ROWS
from pegxl.validators.plan import check_plan
from pegxl.workbook import contract as C
from pegxl.workbook.planfile import new_plan_workbook

D = dt.date

# ------------------------------------------------------------------------ the clean plan

CLEAN = {
    "Ente": [["Ente", "Comune di Prova"], ["Anno", 2024], ["Fase del ciclo", "Rendicontazione finale"],
             ["Data di riferimento", "2024-12-31"], ["Scadenza consegna", "2025-01-31"],
             ["Ufficio referente", "Controllo di gestione"], ["Email ufficio", "cdg@example.org"]],
    "Settori": [
        {"Codice settore": "S01", "Settore": "Affari generali", "Responsabile": "Rossi Anna",
         "Email": "rossi@example.org", "Peso": 40},
        {"Codice settore": "S02", "Settore": "Servizi sociali", "Responsabile": "Bianchi Luca",
         "Email": "bianchi@example.org", "Peso": 30},
        {"Codice settore": "S03", "Settore": "Lavori pubblici", "Responsabile": "Verdi Marco",
         "Email": "verdi@example.org", "Peso": 30},
    ],
    # objective pesi per settore: S01 = O1 50 + O2 30 + T1 20; S02 = O2 30 + O3 50 + T1 20;
    # S03 = O4 80 + T1 20
    "Obiettivi": [
        {"Codice obiettivo": "O1", "Codice settore": "S01", "Titolo": "Digitalizzare i servizi",
         "Tipologia": "Strategico", "Missione": 1, "Programma": 2, "Peso": 50},
        {"Codice obiettivo": "O2", "Codice settore": "S01;S02", "Titolo": "Sportello unico",
         "Tipologia": "Gestionale", "Peso": 30},
        {"Codice obiettivo": "O3", "Codice settore": "S02", "Titolo": "Assistenza domiciliare",
         "Tipologia": "Esecutivo", "Peso": 50},
        {"Codice obiettivo": "O4", "Codice settore": "S03", "Titolo": "Manutenzione strade",
         "Tipologia": "Qualità", "Peso": 80},
        {"Codice obiettivo": "T1", "Codice settore": "*", "Titolo": "Trasparenza",
         "Tipologia": "PTPCT", "Peso": 20},
    ],
    "Fasi": [
        {"Codice obiettivo": "O1", "N. fase": 1, "Descrizione": "Analisi", "Inizio previsto": "2024-01-15",
         "Fine prevista": "2024-03-31", "Peso": 30},
        {"Codice obiettivo": "O1", "N. fase": 2, "Descrizione": "Sviluppo", "Inizio previsto": "2024-04-01",
         "Fine prevista": "2024-09-30", "Peso": 30},
        {"Codice obiettivo": "O1", "N. fase": 3, "Descrizione": "Avvio", "Inizio previsto": "2024-10-01",
         "Fine prevista": "2024-12-31", "Peso": 40},
        {"Codice obiettivo": "O2", "N. fase": 1, "Descrizione": "Progetto", "Fine prevista": "2024-06-30",
         "Peso": 50},
        {"Codice obiettivo": "O2", "N. fase": 2, "Descrizione": "Apertura", "Fine prevista": "2024-12-31",
         "Peso": 50},
        {"Codice obiettivo": "O3", "N. fase": 1, "Descrizione": "Gara", "Fine prevista": "2024-05-31",
         "Peso": 100},
        {"Codice obiettivo": "O4", "N. fase": 1, "Descrizione": "Rilievo", "Fine prevista": "2024-04-30",
         "Peso": 60},
        {"Codice obiettivo": "O4", "N. fase": 2, "Descrizione": "Lavori", "Fine prevista": "2024-11-30",
         "Peso": 40, "Neutralizzata": "sì", "Motivo neutralizzazione": "Finanziamento revocato"},
        {"Codice obiettivo": "T1", "N. fase": 1, "Descrizione": "Pubblicazioni", "Fine prevista": "2024-12-31",
         "Peso": 100},
    ],
    "Indicatori": [
        {"Codice obiettivo": "O1", "N. indicatore": 1, "Descrizione": "Servizi online", "Tipo": "EFFICACIA",
         "Tipo valore": "numero", "Verso": ">=", "Valore atteso": 15, "Valore anno precedente": 10},
        {"Codice obiettivo": "O1", "N. indicatore": 2, "Descrizione": "Costo per pratica",
         "Tipo": "ECONOMICITÀ", "Unità di misura": "euro", "Tipo valore": "numero", "Verso": "<=",
         "Valore atteso": 78622.2},
        {"Codice obiettivo": "O2", "N. indicatore": 1, "Descrizione": "Pratiche entro 30 giorni",
         "Tipo": "EFFICIENZA", "Tipo valore": "percentuale", "Valore atteso": 80},
        {"Codice obiettivo": "O3", "N. indicatore": 1, "Descrizione": "Aggiudicazione", "Tipo": "TEMPORALE",
         "Tipo valore": "data", "Verso": "<=", "Valore atteso": "2024-09-30"},
        {"Codice obiettivo": "O4", "N. indicatore": 1, "Descrizione": "Relazione finale",
         "Tipo": "QUALITATIVO", "Tipo valore": "testo", "Valore atteso": "Relazione approvata"},
        {"Codice obiettivo": "O4", "N. indicatore": 2, "Descrizione": "Popolazione residente",
         "Tipo": "CONTESTO", "Tipo valore": "numero", "Valore atteso": 5000},
        {"Codice obiettivo": "T1", "N. indicatore": 1, "Descrizione": "Sezione aggiornata", "Tipo": "QUALITÀ",
         "Tipo valore": "sì/no", "Valore atteso": "sì"},
    ],
}

# Excel rows of the clean plan's records (header on row 1)
OBJ_ROW = {"O1": 2, "O2": 3, "O3": 4, "O4": 5, "T1": 6}
SECTOR_ROW = {"S01": 2, "S02": 3, "S03": 4}


@pytest.fixture
def data() -> dict:
    """A fresh deep copy of the clean plan, for a test to spoil."""
    return copy.deepcopy(CLEAN)


def write(tmp_path: Path, data: dict, mutate=None, name: str = "piano.xlsx") -> Path:
    wb = new_plan_workbook(data)
    if mutate is not None:
        mutate(wb)
    path = tmp_path / name
    wb.save(path)
    return path


def check(tmp_path: Path, data: dict, mutate=None):
    return check_plan(write(tmp_path, data, mutate))


def row_of(data: dict, sheet: str, **match) -> int:
    """Excel row of the first record of `sheet` whose fields equal `match`."""
    for i, rec in enumerate(data[sheet], start=2):
        if all(rec.get(k) == v for k, v in match.items()):
            return i
    raise KeyError(match)


def phase(data: dict, obj: str, n: int) -> dict:
    return data["Fasi"][row_of(data, "Fasi", **{"Codice obiettivo": obj, "N. fase": n}) - 2]


def indicator(data: dict, obj: str, n: int) -> dict:
    return data["Indicatori"][row_of(data, "Indicatori", **{"Codice obiettivo": obj, "N. indicatore": n}) - 2]


def objective(data: dict, code: str) -> dict:
    return data["Obiettivi"][OBJ_ROW[code] - 2]


def sector(data: dict, code: str) -> dict:
    return data["Settori"][SECTOR_ROW[code] - 2]


def codes(findings: list[Finding]) -> list[str]:
    return [f.code for f in findings]


def errors(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity == ERROR]


def one(findings: list[Finding], code: str, *, sheet: str, cell: str | None, record=...,
        severity: str | None = None) -> Finding:
    """The one finding `code` at (sheet, cell); its severity is the catalogue's."""
    hits = [f for f in findings if f.code == code and f.sheet == sheet and f.cell == cell]
    assert len(hits) == 1, (f"expected one {code} at {sheet}!{cell}, got:\n  "
                            + "\n  ".join(str(f) for f in findings))
    f = hits[0]
    assert f.severity == (severity or getattr(ErrorCode, code).severity)
    if record is not ...:
        assert f.record == record, str(f)
    assert f.file and f.hint and f.message
    return f


def only_at(findings: list[Finding], sheet: str, cell: str) -> list[str]:
    """Codes of every finding at one cell: a cell's problem is said once, by one code."""
    return [f.code for f in findings if f.sheet == sheet and f.cell == cell]


# ------------------------------------------------------------------------ the clean plan

def test_clean_plan_has_no_findings(tmp_path, data):
    plan, findings = check(tmp_path, data)
    assert findings == [], "\n".join(map(str, findings))
    assert plan is not None
    assert (plan.ente, plan.anno, plan.fase) == ("Comune di Prova", 2024, "Rendicontazione finale")
    assert plan.reference_date == D(2024, 12, 31)
    assert plan.sector_codes == ["S01", "S02", "S03"]
    # S01;S02 list and the * trasversale expand per settore
    a = plan.assignments
    assert sorted(a.loc[a["sector"] == "S01", "objective"]) == ["O1", "O2", "T1"]
    assert sorted(a.loc[a["sector"] == "S02", "objective"]) == ["O2", "O3", "T1"]
    assert sorted(a.loc[a["sector"] == "S03", "objective"]) == ["O4", "T1"]
    assert set(a.loc[a["objective"].isin(["O2", "T1"]), "transversal"]) == {True}
    assert set(a.loc[a["objective"].isin(["O1", "O3", "O4"]), "transversal"]) == {False}
    # typed values: dates are dates, numbers numbers, sì/no booleans, default Verso
    ind = plan.indicators.set_index(["objective", "indicator"])
    assert ind.loc[("O1", 1), "target_value"] == 15
    assert ind.loc[("O1", 2), "target_value"] == pytest.approx(78622.2)
    assert ind.loc[("O2", 1), "direction"] == ">="          # default for numbers
    assert ind.loc[("O3", 1), "target_value"] == D(2024, 9, 30)
    assert ind.loc[("O4", 1), "target_value"] == "Relazione approvata"
    assert ind.loc[("T1", 1), "target_value"] is True
    assert set(plan.indicators["value_type"]) == set(C.TIPI_VALORE)
    ph = plan.phases.set_index(["objective", "phase"])
    assert ph.loc[("O1", 1), "planned_start"] == D(2024, 1, 15)
    assert ph.loc[("O4", 2), "neutralised"] is True
    assert ph.loc[("O4", 1), "neutralised"] is False
    assert plan.rules.cap == 100 and plan.rules.lower_formula == "rapporto"
    # the Excel row of each record is kept, for later findings
    assert dict(zip(plan.objectives["objective"], plan.objectives["xlrow"])) == OBJ_ROW


def test_plan_without_any_weight_is_clean(tmp_path, data):
    """Pesi of settori and objectives are optional: none given means equal weights."""
    for rec in data["Settori"] + data["Obiettivi"]:
        rec.pop("Peso")
    plan, findings = check(tmp_path, data)
    assert findings == [], "\n".join(map(str, findings))
    assert plan.sectors["weight"].isna().all()


def test_every_finding_is_located_and_explained(tmp_path, data):
    """Whatever the problem, a finding has a file, an Italian message and a hint."""
    objective(data, "O1")["Tipologia"] = "Boh"
    phase(data, "O1", 3)["Peso"] = 30
    phase(data, "O2", 1)["Fine prevista"] = "domani"
    indicator(data, "O2", 1)["Valore atteso"] = 150
    data["Settori"].append({"Codice settore": "S 04", "Settore": "Vuoto", "Responsabile": "Nessuno", "Peso": 0})
    _, findings = check(tmp_path, data)
    assert findings
    italian = ("è", "non", "Il", "La", "Manca", "I pesi", "«")
    for f in findings:
        assert f.file and f.file.endswith("piano.xlsx"), str(f)
        assert f.hint, str(f)
        assert f.message and any(w in f.message for w in italian), str(f)
        assert f.sheet, str(f)
        assert f.severity in (ERROR, WARNING)
        assert f.severity == getattr(ErrorCode, f.code).severity
        assert "{" not in f.message and "?" not in f.message.replace("Forse", ""), str(f)


def test_all_problems_reported_at_once(tmp_path, data):
    """Five different defects in five places: five codes, one run."""
    objective(data, "O3")["Tipologia"] = "Boh"                       # P013 Obiettivi!E4
    phase(data, "O1", 3)["Peso"] = 30                                # P007 Fasi!F2
    phase(data, "O2", 1)["Fine prevista"] = "domani"                 # P010 Fasi!E5
    indicator(data, "T1", 1)["Valore atteso"] = "forse"              # P014 Indicatori!I8
    data["Fasi"].append({"Codice obiettivo": "O9", "N. fase": 1, "Descrizione": "x",
                         "Fine prevista": "2024-12-31", "Peso": 100})  # P006 Fasi!A11
    plan, findings = check(tmp_path, data)
    one(findings, "P013", sheet="Obiettivi", cell="E4", record="O3")
    one(findings, "P007", sheet="Fasi", cell="F2", record="O1")
    one(findings, "P010", sheet="Fasi", cell="E5", record="O2 fase 1")
    one(findings, "P014", sheet="Indicatori", cell="I8", record="T1 indicatore 1")
    one(findings, "P006", sheet="Fasi", cell="A11", record="O9")
    assert sorted(codes(findings)) == ["P006", "P007", "P010", "P013", "P014"]


# --------------------------------------------------------------------- sheets and headers

@pytest.mark.parametrize("sheet", ["Ente", "Settori", "Obiettivi", "Fasi", "Indicatori"])
def test_missing_sheet_is_P001(tmp_path, data, sheet):
    plan, findings = check(tmp_path, data, lambda wb: wb.remove(wb[sheet]))
    assert plan is None
    f = one(findings, "P001", sheet=sheet, cell=None)
    assert f"«{sheet}»" in f.message
    assert codes(errors(findings)) == ["P001"]


def test_missing_regole_sheet_takes_the_defaults(tmp_path, data):
    plan, findings = check(tmp_path, data, lambda wb: wb.remove(wb["Regole"]))
    assert findings == []
    assert plan.rules.phases_weight == 50 and plan.rules.bands[0] == ("A", 90.0)


def test_sheet_name_in_another_case_is_found(tmp_path, data):
    def rename(wb):
        ws = wb["Indicatori"]
        ws.title = "tmp"              # openpyxl would make "INDICATORI1" while "Indicatori" exists
        ws.title = "INDICATORI"
    plan, findings = check(tmp_path, data, rename)
    assert findings == []
    assert len(plan.indicators) == 7


def _rename_header(sheet: str, old: str, new: str):
    def mutate(wb):
        ws = wb[sheet]
        for c in ws[1]:
            if c.value == old:
                c.value = new
                return
        raise AssertionError(old)
    return mutate


def test_misspelled_header_is_P002_with_suggestion(tmp_path, data):
    plan, findings = check(tmp_path, data, _rename_header("Obiettivi", "Codice obiettivo", "Codice obietivo"))
    assert plan is None
    f = [x for x in findings if x.code == "P002"]
    assert len(f) == 1, findings
    f = f[0]
    assert (f.severity, f.sheet, f.column) == (ERROR, "Obiettivi", "Codice obiettivo")
    assert f.cell == "A1"                # the misspelled header's own cell
    assert "«Codice obiettivo»" in f.message
    assert "Forse «Codice obietivo»?" in f.message


@pytest.mark.parametrize("sheet,old,new,cell", [
    ("Fasi", "Fine prevista", "Fine prevsita", "E1"),
    ("Indicatori", "Tipo valore", "Tipo di valore", "G1"),
    ("Settori", "Responsabile", "Responsabili", "C1"),
])
def test_misspelled_header_points_at_the_header_cell(tmp_path, data, sheet, old, new, cell):
    _, findings = check(tmp_path, data, _rename_header(sheet, old, new))
    f = one(findings, "P002", sheet=sheet, cell=cell)
    assert f"Forse «{new}»?" in f.message
    assert f.column == old


def test_missing_required_column_without_lookalike_has_no_suggestion(tmp_path, data):
    def drop_title(wb):
        ws = wb["Obiettivi"]
        ws["C1"].value = "Qualcosa di diverso"
    _, findings = check(tmp_path, data, drop_title)
    f = one(findings, "P002", sheet="Obiettivi", cell="1:1")     # no cell to point at: the header row
    assert f.column == "Titolo"
    assert "Forse" not in f.message


def test_headers_under_a_title_row_say_where_they_are(tmp_path, data):
    def title(wb):
        ws = wb["Obiettivi"]
        ws.insert_rows(1)
        ws["A1"].value = "PIANO DELLA PERFORMANCE 2024 - OBIETTIVI"
    _, findings = check(tmp_path, data, title)
    p002 = [f for f in findings if f.code == "P002"]
    assert {f.column for f in p002} == {"Codice obiettivo", "Codice settore", "Titolo", "Tipologia"}
    for f in p002:
        assert (f.sheet, f.cell) == ("Obiettivi", "1:1")
        assert "nella riga 2" in f.message and "riga 1" in f.message, f.message


def test_merged_header_cells_are_named(tmp_path, data):
    def merge(wb):
        ws = wb["Obiettivi"]
        ws.merge_cells("A1:B1")          # Excel keeps «Codice obiettivo» only: B1 is lost
    _, findings = check(tmp_path, data, merge)
    f = one(findings, "P002", sheet="Obiettivi", cell="1:1")
    assert f.column == "Codice settore" and "celle unite (A1:B1)" in f.message


def test_a_code_in_merged_cells_says_the_cells_are_merged(tmp_path, data):
    # O1's three phases under one merged «O1» (rows 2-4), as people lay out a plan by hand
    def merge(wb):
        ws = wb["Fasi"]
        ws["A3"].value = None
        ws["A4"].value = None
        ws.merge_cells("A2:A4")
    _, findings = check(tmp_path, data, merge)
    for cell, anchor in (("A3", "A2"), ("A4", "A2")):
        f = one(findings, "P003", sheet="Fasi", cell=cell)
        assert f"unita alla cella {anchor}" in f.message and "separare" in f.message


def test_missing_optional_column_is_fine(tmp_path, data):
    def drop(wb):
        wb["Obiettivi"]["K1"].value = None          # Peso is optional
        for row in wb["Obiettivi"].iter_rows(min_row=2, min_col=11, max_col=11):
            row[0].value = None
    plan, findings = check(tmp_path, data, drop)
    assert findings == []
    assert plan.objectives["weight"].isna().all()


@pytest.mark.parametrize("header", ["  codice OBIETTIVO ", "CODICE  OBIETTIVO", "codice obiettivo"])
def test_header_with_other_case_and_spaces_is_read(tmp_path, data, header):
    plan, findings = check(tmp_path, data, _rename_header("Fasi", "Codice obiettivo", header))
    assert findings == []
    assert list(plan.phases["objective"]).count("O1") == 3


def test_extra_columns_after_the_contract_are_ignored(tmp_path, data):
    def add(wb):
        ws = wb["Obiettivi"]
        ws.cell(row=1, column=20, value="Note interne")
        ws.cell(row=2, column=20, value="qualcosa")
    _, findings = check(tmp_path, data, add)
    assert findings == []


# ------------------------------------------------------------------ required values

@pytest.mark.parametrize("sheet,where,field,cell", [
    ("Settori", ("S02",), "Responsabile", "C3"),
    ("Settori", ("S01",), "Settore", "B2"),
    ("Obiettivi", ("O3",), "Titolo", "C4"),
    ("Obiettivi", ("O4",), "Tipologia", "E5"),
    ("Obiettivi", ("O1",), "Codice settore", "B2"),
    ("Fasi", ("O2", 2), "Descrizione", "C6"),
    ("Fasi", ("O3", 1), "Fine prevista", "E7"),
    ("Fasi", ("O1", 2), "Peso", "F3"),
    ("Indicatori", ("O1", 2), "Descrizione", "C3"),
    ("Indicatori", ("O2", 1), "Tipo", "D4"),
    ("Indicatori", ("O3", 1), "Tipo valore", "G5"),
    ("Indicatori", ("T1", 1), "Valore atteso", "I8"),
])
def test_missing_required_value_is_P003(tmp_path, data, sheet, where, field, cell):
    if sheet == "Settori":
        rec, record = sector(data, where[0]), where[0]
    elif sheet == "Obiettivi":
        rec, record = objective(data, where[0]), where[0]
    elif sheet == "Fasi":
        rec, record = phase(data, *where), f"{where[0]} fase {where[1]}"
    else:
        rec, record = indicator(data, *where), f"{where[0]} indicatore {where[1]}"
    rec.pop(field)
    _, findings = check(tmp_path, data)
    f = one(findings, "P003", sheet=sheet, cell=cell, record=record)
    assert f"«{field}»" in f.message
    assert f.column == field
    assert only_at(findings, sheet, cell) == ["P003"]


def test_missing_N_fase_is_P003(tmp_path, data):
    phase(data, "O2", 2).pop("N. fase")
    _, findings = check(tmp_path, data)
    f = one(findings, "P003", sheet="Fasi", cell="B6", record="O2")
    assert "«N. fase»" in f.message
    assert only_at(findings, "Fasi", "B6") == ["P003"]


def test_missing_objective_code_is_P003(tmp_path, data):
    objective(data, "O3").pop("Codice obiettivo")
    _, findings = check(tmp_path, data)
    one(findings, "P003", sheet="Obiettivi", cell="A4", record=None)


@pytest.mark.parametrize("value,cell", [(1.5, "B6"), ("due", "B6"), (0, "B6"), (-1, "B6"), ("1,5", "B6")])
def test_non_integer_N_fase_is_P026(tmp_path, data, value, cell):
    phase(data, "O2", 2)["N. fase"] = value
    _, findings = check(tmp_path, data)
    f = one(findings, "P026", sheet="Fasi", cell=cell, record="O2")
    assert "non è un numero intero positivo" in f.message
    assert only_at(findings, "Fasi", cell) == ["P026"], "a bad number is not also a missing one"


def test_non_integer_N_indicatore_is_P026(tmp_path, data):
    indicator(data, "O1", 2)["N. indicatore"] = "secondo"
    _, findings = check(tmp_path, data)
    one(findings, "P026", sheet="Indicatori", cell="B3", record="O1")
    assert only_at(findings, "Indicatori", "B3") == ["P026"]


def test_integer_N_fase_typed_as_text_is_read(tmp_path, data):
    phase(data, "O2", 2)["N. fase"] = "2"
    plan, findings = check(tmp_path, data)
    assert not errors(findings)
    assert ("O2", 2) in set(zip(plan.phases["objective"], plan.phases["phase"]))


# ---------------------------------------------------------------------------- duplicates

def test_duplicated_objective_code_is_P004_naming_the_other_row(tmp_path, data):
    data["Obiettivi"].append({"Codice obiettivo": "O3", "Codice settore": "S03", "Titolo": "Doppione",
                              "Tipologia": "Gestionale", "Peso": 10})
    _, findings = check(tmp_path, data)
    f = one(findings, "P004", sheet="Obiettivi", cell="A7", record="O3")
    assert "«O3»" in f.message and "riga 4" in f.message


def test_duplicated_sector_code_is_P004(tmp_path, data):
    data["Settori"].append({"Codice settore": "S01", "Settore": "Altro", "Responsabile": "X"})
    _, findings = check(tmp_path, data)
    f = one(findings, "P004", sheet="Settori", cell="A5", record="S01")
    assert "riga 2" in f.message


def test_duplicated_phase_number_is_P004_naming_the_other_row(tmp_path, data):
    # O2 gets a second "fase 1" (pesi 50 + 50 + 0 still sum to 100)
    data["Fasi"].append({"Codice obiettivo": "O2", "N. fase": 1, "Descrizione": "Ancora",
                         "Fine prevista": "2024-12-31", "Peso": 0})
    _, findings = check(tmp_path, data)
    f = one(findings, "P004", sheet="Fasi", cell="B11", record="O2")
    assert "riga 5" in f.message
    assert "O2 1" in f.message
    assert codes(errors(findings)) == ["P004"]


def test_duplicated_indicator_number_is_P004(tmp_path, data):
    data["Indicatori"].append({"Codice obiettivo": "O1", "N. indicatore": 2, "Descrizione": "Ancora",
                               "Tipo": "EFFICACIA", "Tipo valore": "numero", "Valore atteso": 3})
    _, findings = check(tmp_path, data)
    f = one(findings, "P004", sheet="Indicatori", cell="B9", record="O1")
    assert "riga 3" in f.message


def test_same_phase_number_in_different_objectives_is_fine(tmp_path, data):
    _, findings = check(tmp_path, data)     # every objective has its own "fase 1"
    assert findings == []


# --------------------------------------------------------------------------- references

@pytest.mark.parametrize("sectors,bad", [("S09", "S09"), ("S01;S09", "S09"), ("S09; S02", "S09"),
                                         ("s01", "s01")])
def test_objective_of_unknown_sector_is_P005(tmp_path, data, sectors, bad):
    objective(data, "O2")["Codice settore"] = sectors
    _, findings = check(tmp_path, data)
    f = one(findings, "P005", sheet="Obiettivi", cell="B3", record="O2")
    assert f.value == bad
    assert f"«{bad}»" in f.message


def test_codes_that_differ_by_leading_zeros_say_so(tmp_path, data):
    # Settori has 01 typed as a number (Excel keeps 1); Obiettivi refers to it as "01" (text);
    # a phase refers to objective "07" while the Obiettivi sheet has 7: nothing is matched in
    # silence, but the message says what Excel did
    sector(data, "S01")["Codice settore"] = 1
    objective(data, "O1")["Codice settore"] = "01"
    objective(data, "O2")["Codice settore"] = "01;S02"
    objective(data, "O3")["Codice obiettivo"] = 7
    for rec in data["Fasi"] + data["Indicatori"]:
        if rec["Codice obiettivo"] == "O3":
            rec["Codice obiettivo"] = "07"
    _, findings = check(tmp_path, data)
    f = one(findings, "P005", sheet="Obiettivi", cell="B2", record="O1")
    assert "c'è «1»" in f.message and "zeri iniziali" in f.message and "'01" in f.message
    p6 = [f for f in findings if f.code == "P006"]
    assert p6 and all("c'è «7»" in f.message for f in p6)
    # a code that is simply unknown gets no such sentence
    objective(data, "O1")["Codice settore"] = "S09"
    (tmp_path / "b").mkdir()
    _, findings = check(tmp_path / "b", data)
    f = one(findings, "P005", sheet="Obiettivi", cell="B2", record="O1")
    assert "zeri" not in f.message and "?" not in f.message


def test_sector_list_with_spaces_is_read(tmp_path, data):
    objective(data, "O2")["Codice settore"] = " S01 ;S02 "
    plan, findings = check(tmp_path, data)
    assert findings == []
    a = plan.assignments
    assert sorted(a.loc[a["objective"] == "O2", "sector"]) == ["S01", "S02"]


@pytest.mark.parametrize("sheet,cell", [("Fasi", "A11"), ("Indicatori", "A9")])
def test_phase_or_indicator_of_unknown_objective_is_P006(tmp_path, data, sheet, cell):
    if sheet == "Fasi":
        data["Fasi"].append({"Codice obiettivo": "O9", "N. fase": 1, "Descrizione": "Orfana",
                             "Fine prevista": "2024-12-31", "Peso": 100})
    else:
        data["Indicatori"].append({"Codice obiettivo": "O9", "N. indicatore": 1, "Descrizione": "Orfano",
                                   "Tipo": "EFFICACIA", "Tipo valore": "numero", "Valore atteso": 1})
    _, findings = check(tmp_path, data)
    f = one(findings, "P006", sheet=sheet, cell=cell, record="O9")
    assert "«O9»" in f.message
    assert codes(errors(findings)) == ["P006"]


# ------------------------------------------------------------------------------- weights

def test_phase_pesi_summing_to_90_is_P007(tmp_path, data):
    phase(data, "O1", 3)["Peso"] = 30
    _, findings = check(tmp_path, data)
    f = one(findings, "P007", sheet="Fasi", cell="F2", record="O1")
    assert "90" in f.message and "«O1»" in f.message
    assert codes(findings) == ["P007"]


def test_phase_pesi_within_tolerance_are_fine(tmp_path, data):
    phase(data, "O1", 1)["Peso"] = 33.33
    phase(data, "O1", 2)["Peso"] = 33.33
    phase(data, "O1", 3)["Peso"] = 33.34
    _, findings = check(tmp_path, data)
    assert findings == []


def test_phase_pesi_sum_reported_with_decimals(tmp_path, data):
    phase(data, "O1", 3)["Peso"] = 39.5
    _, findings = check(tmp_path, data)
    f = one(findings, "P007", sheet="Fasi", cell="F2", record="O1")
    assert "99,5" in f.message


def test_objective_weights_given_for_some_only_is_P008(tmp_path, data):
    objective(data, "O3").pop("Peso")             # S02 = O2 30, O3 -, T1 20
    _, findings = check(tmp_path, data)
    f = one(findings, "P008", sheet="Obiettivi", cell="K3", record="S02")   # first row of S02: O2
    assert "1 senza peso" in f.message
    assert codes(findings) == ["P008"]


def test_objective_weights_summing_to_95_is_P009(tmp_path, data):
    objective(data, "O4")["Peso"] = 75            # S03 = 75 + 20
    _, findings = check(tmp_path, data)
    f = one(findings, "P009", sheet="Obiettivi", cell="K5", record="S03")
    assert "95" in f.message and "S03" in f.message
    assert codes(findings) == ["P009"]


def test_trasversale_weight_counts_in_every_sector(tmp_path, data):
    objective(data, "T1")["Peso"] = 25            # every settore now sums to 105
    _, findings = check(tmp_path, data)
    assert sorted((f.code, f.record) for f in findings) == [("P009", "S01"), ("P009", "S02"), ("P009", "S03")]
    assert all("105" in f.message for f in findings)


def test_sector_weights_given_for_some_only_is_P008(tmp_path, data):
    sector(data, "S02").pop("Peso")
    _, findings = check(tmp_path, data)
    f = one(findings, "P008", sheet="Settori", cell="E2", record=None)
    assert "settori" in f.message
    assert codes(findings) == ["P008"]


def test_sector_weights_summing_to_95_is_P009(tmp_path, data):
    sector(data, "S03")["Peso"] = 25
    _, findings = check(tmp_path, data)
    f = one(findings, "P009", sheet="Settori", cell="E2", record=None)
    assert "95" in f.message and "settori" in f.message
    assert codes(findings) == ["P009"]


@pytest.mark.parametrize("sheet,cell,record", [("Fasi", "F2", "O1 fase 1"), ("Obiettivi", "K2", "O1"),
                                               ("Settori", "E2", "S01"), ("Indicatori", "K2", "O1 indicatore 1")])
def test_negative_peso_is_P022(tmp_path, data, sheet, cell, record):
    if sheet == "Fasi":
        phase(data, "O1", 1)["Peso"] = -10
        phase(data, "O1", 2)["Peso"] = 70         # still sums to 100
    elif sheet == "Obiettivi":
        objective(data, "O1")["Peso"] = -5
    elif sheet == "Settori":
        sector(data, "S01")["Peso"] = -40
    else:
        indicator(data, "O1", 1)["Peso"] = -1
        indicator(data, "O1", 2)["Peso"] = 2
    _, findings = check(tmp_path, data)
    f = one(findings, "P022", sheet=sheet, cell=cell, record=record)
    assert "maggiore di 0" in f.message


def test_zero_peso_of_a_sector_is_P022(tmp_path, data):
    sector(data, "S03")["Peso"] = 0
    sector(data, "S01")["Peso"] = 70
    _, findings = check(tmp_path, data)
    one(findings, "P022", sheet="Settori", cell="E4", record="S03")


@pytest.mark.parametrize("sheet,cell,record", [("Fasi", "F3", "O1 fase 2"), ("Obiettivi", "K4", "O3"),
                                               ("Settori", "E3", "S02")])
def test_non_numeric_peso_is_P016(tmp_path, data, sheet, cell, record):
    if sheet == "Fasi":
        phase(data, "O1", 2)["Peso"] = "trenta"
    elif sheet == "Obiettivi":
        objective(data, "O3")["Peso"] = "tanto"
    else:
        sector(data, "S02")["Peso"] = "n.d."
    _, findings = check(tmp_path, data)
    f = one(findings, "P016", sheet=sheet, cell=cell, record=record)
    assert f.column == "Peso"
    assert "non è un numero valido" in f.message
    assert only_at(findings, sheet, cell) == ["P016"], "a bad peso is not also a missing or negative one"
    # nor a "peso given for some only" (P008) or a wrong sum (P007/P009): it was given, unreadable
    assert codes(findings) == ["P016"], "\n".join(map(str, findings))


# --------------------------------------------------------------------------------- dates

@pytest.mark.parametrize("value", ["domani", "31/02/2024", "2024-13-01", "fine anno", 3.0e7])
def test_non_date_in_fine_prevista_is_P010(tmp_path, data, value):
    phase(data, "O2", 1)["Fine prevista"] = value
    _, findings = check(tmp_path, data)
    f = one(findings, "P010", sheet="Fasi", cell="E5", record="O2 fase 1")
    assert "non è una data valida" in f.message
    assert only_at(findings, "Fasi", "E5") == ["P010"]


def test_bad_value_does_not_hide_the_other_problems_of_its_row(tmp_path, data):
    rec = phase(data, "O2", 1)
    rec["Fine prevista"] = "domani"
    rec["Peso"] = "metà"
    rec["N. fase"] = "primo"
    rec.pop("Descrizione")
    _, findings = check(tmp_path, data)
    one(findings, "P010", sheet="Fasi", cell="E5", record="O2")
    one(findings, "P016", sheet="Fasi", cell="F5", record="O2")
    one(findings, "P026", sheet="Fasi", cell="B5", record="O2")
    one(findings, "P003", sheet="Fasi", cell="C5", record="O2")
    assert sorted(codes(errors(findings))) == ["P003", "P010", "P016", "P026"]


def test_non_date_in_inizio_previsto_is_P010(tmp_path, data):
    phase(data, "O1", 2)["Inizio previsto"] = "aprile"
    _, findings = check(tmp_path, data)
    one(findings, "P010", sheet="Fasi", cell="D3", record="O1 fase 2")


def test_end_before_start_is_P011(tmp_path, data):
    phase(data, "O1", 2)["Inizio previsto"] = "2024-10-01"   # ends 2024-09-30
    _, findings = check(tmp_path, data)
    f = one(findings, "P011", sheet="Fasi", cell="E3", record="O1 fase 2")
    assert "30/09/2024" in f.message and "01/10/2024" in f.message
    assert codes(findings) == ["P011"]


@pytest.mark.parametrize("field,value,cell", [("Fine prevista", "2025-01-31", "E5"),
                                              ("Inizio previsto", "2023-12-01", "D5")])
def test_date_outside_the_year_is_P012_warning(tmp_path, data, field, value, cell):
    phase(data, "O2", 1)[field] = value
    _, findings = check(tmp_path, data)
    f = one(findings, "P012", sheet="Fasi", cell=cell, record="O2 fase 1", severity=WARNING)
    assert "2024" in f.message
    assert not errors(findings)


def test_date_typed_as_text_is_read_with_P015(tmp_path, data):
    phase(data, "O2", 1)["Fine prevista"] = "31/12/2024"
    plan, findings = check(tmp_path, data)
    f = one(findings, "P015", sheet="Fasi", cell="E5", record="O2 fase 1", severity=WARNING)
    assert "31/12/2024" in f.message
    assert codes(findings) == ["P015"]
    ph = plan.phases.set_index(["objective", "phase"])
    assert ph.loc[("O2", 1), "planned_end"] == D(2024, 12, 31)


def test_ente_date_typed_as_text_is_read_with_P015(tmp_path, data):
    data["Ente"][3] = ["Data di riferimento", "30/06/2024"]
    plan, findings = check(tmp_path, data)
    one(findings, "P015", sheet="Ente", cell="B5", severity=WARNING)
    assert plan.reference_date == D(2024, 6, 30)


# -------------------------------------------------------------------------- vocabularies

@pytest.mark.parametrize("sheet,where,field,value,cell", [
    ("Obiettivi", "O1", "Tipologia", "Boh", "E2"),
    ("Indicatori", ("O1", 1), "Tipo", "EFFICACE", "D2"),
    ("Indicatori", ("O2", 1), "Tipo valore", "euro", "G4"),
    ("Indicatori", ("O1", 1), "Verso", "più", "H2"),
    ("Indicatori", ("O1", 2), "Verso", ">>", "H3"),
    ("Fasi", ("O4", 2), "Neutralizzata", "forse", "H9"),
])
def test_value_outside_vocabulary_is_P013(tmp_path, data, sheet, where, field, value, cell):
    if sheet == "Obiettivi":
        rec, record = objective(data, where), where
    elif sheet == "Fasi":
        rec, record = phase(data, *where), f"{where[0]} fase {where[1]}"
    else:
        rec, record = indicator(data, *where), f"{where[0]} indicatore {where[1]}"
    rec[field] = value
    _, findings = check(tmp_path, data)
    f = one(findings, "P013", sheet=sheet, cell=cell, record=record)
    assert f"«{value}»" in f.message and f"«{field}»" in f.message
    assert "Valori ammessi" in f.message
    assert only_at(findings, sheet, cell) == ["P013"]


def test_fase_del_ciclo_outside_vocabulary_is_P013(tmp_path, data):
    data["Ente"][2] = ["Fase del ciclo", "Consuntivo"]
    plan, findings = check(tmp_path, data)
    f = one(findings, "P013", sheet="Ente", cell="B4")
    assert "Rendicontazione finale" in f.message


@pytest.mark.parametrize("field,value,expected", [
    ("Tipologia", "strategico", "Strategico"), ("Tipologia", "QUALITA", "Qualità"),
    ("Tipologia", "qualità", "Qualità"), ("Tipologia", " ptpct ", "PTPCT"),
])
def test_tipologia_variants_are_accepted(tmp_path, data, field, value, expected):
    objective(data, "O4")[field] = value
    plan, findings = check(tmp_path, data)
    assert findings == [], "\n".join(map(str, findings))
    assert plan.objectives.set_index("objective").loc["O4", "typology"] == expected


@pytest.mark.parametrize("field,value,column,expected", [
    ("Tipo", "efficacia", "kind", "EFFICACIA"),
    ("Tipo", "QUALITA", "kind", "QUALITÀ"),
    ("Tipo", "Economicita", "kind", "ECONOMICITÀ"),
    ("Tipo valore", "SI/NO", "value_type", "sì/no"),
    ("Tipo valore", "si/no", "value_type", "sì/no"),
    ("Tipo valore", "Sì/No", "value_type", "sì/no"),
])
def test_indicator_vocabulary_variants_are_accepted(tmp_path, data, field, value, column, expected):
    indicator(data, "T1", 1)[field] = value
    plan, findings = check(tmp_path, data)
    assert findings == [], "\n".join(map(str, findings))
    assert plan.indicators.set_index(["objective", "indicator"]).loc[("T1", 1), column] == expected


@pytest.mark.parametrize("value,expected", [("si", True), ("SI", True), ("Sì", True), ("no", False),
                                            ("NO", False), ("fatto", True)])
def test_si_no_target_variants_are_accepted(tmp_path, data, value, expected):
    indicator(data, "T1", 1)["Valore atteso"] = value
    plan, findings = check(tmp_path, data)
    assert not errors(findings), "\n".join(map(str, findings))
    assert plan.indicators.set_index(["objective", "indicator"]).loc[("T1", 1), "target_value"] is expected


@pytest.mark.parametrize("value,expected", [("si", True), ("SI", True), ("no", False), ("No", False),
                                            ("", False)])
def test_neutralizzata_variants_are_accepted(tmp_path, data, value, expected):
    phase(data, "O4", 2)["Neutralizzata"] = value
    plan, findings = check(tmp_path, data)
    assert findings == [], "\n".join(map(str, findings))
    assert plan.phases.set_index(["objective", "phase"]).loc[("O4", 2), "neutralised"] is expected


def test_fase_del_ciclo_in_lower_case_is_accepted(tmp_path, data):
    data["Ente"][2] = ["Fase del ciclo", "monitoraggio INTERMEDIO"]
    plan, findings = check(tmp_path, data)
    assert findings == []
    assert plan.fase == "Monitoraggio intermedio" and not plan.final


# ------------------------------------------------------------------------ Valore atteso

@pytest.mark.parametrize("ind,value,extra,cell,detail", [
    (("O1", 1), "molti", {}, "I2", "serve un numero"),
    (("O3", 1), "presto", {}, "I5", "serve una data"),
    (("T1", 1), "forse", {}, "I8", "serve sì o no"),
    (("O2", 1), 150, {}, "I4", "una percentuale va da 0 a 100"),
    (("O2", 1), -5, {}, "I4", "una percentuale va da 0 a 100"),
    (("O1", 1), ">15", {"Verso": "<="}, "I2", "contraddice il Verso"),
])
def test_target_not_fitting_tipo_valore_is_P014(tmp_path, data, ind, value, extra, cell, detail):
    rec = indicator(data, *ind)
    rec["Valore atteso"] = value
    rec.update(extra)
    _, findings = check(tmp_path, data)
    f = one(findings, "P014", sheet="Indicatori", cell=cell, record=f"{ind[0]} indicatore {ind[1]}")
    assert detail in f.message
    assert f"«{rec['Tipo valore']}»" in f.message
    assert only_at(findings, "Indicatori", cell) == ["P014"]


@pytest.mark.parametrize("value,direction,target", [(">15", ">=", 15.0), ("<= 3", "<=", 3.0),
                                                    ("≥ 20", ">=", 20.0), ("≤ 0", "<=", 0.0)])
def test_target_with_a_sign_sets_the_verso(tmp_path, data, value, direction, target):
    rec = indicator(data, "O1", 1)
    rec.pop("Verso")
    rec["Valore atteso"] = value
    plan, findings = check(tmp_path, data)
    assert not errors(findings), "\n".join(map(str, findings))
    i = plan.indicators.set_index(["objective", "indicator"]).loc[("O1", 1)]
    assert (i["direction"], i["target_value"]) == (direction, target)


def test_target_sign_agreeing_with_verso_is_fine(tmp_path, data):
    indicator(data, "O1", 2)["Valore atteso"] = "<= 78.622,20"
    plan, findings = check(tmp_path, data)
    assert not errors(findings), "\n".join(map(str, findings))
    assert plan.indicators.set_index(["objective", "indicator"]).loc[("O1", 2), "target_value"] == \
        pytest.approx(78622.2)


@pytest.mark.parametrize("ind,value,parsed,shown", [
    (("O1", 2), "78.622,20", 78622.2, "78622,2"),
    (("O2", 1), "64,52%", 64.52, "64,52"),
    (("O1", 1), "50,00", 50.0, "50"),
    (("O3", 1), "31/12/2024", D(2024, 12, 31), "31/12/2024"),
])
def test_italian_text_target_is_read_with_P015(tmp_path, data, ind, value, parsed, shown):
    indicator(data, *ind)["Valore atteso"] = value
    plan, findings = check(tmp_path, data)
    f = one(findings, "P015", sheet="Indicatori", cell=f"I{row_of(data, 'Indicatori', **{'Codice obiettivo': ind[0], 'N. indicatore': ind[1]})}",
            record=f"{ind[0]} indicatore {ind[1]}", severity=WARNING)
    assert f"«{value}»" in f.message and shown in f.message
    assert codes(findings) == ["P015"]
    got = plan.indicators.set_index(["objective", "indicator"]).loc[ind, "target_value"]
    assert got == (pytest.approx(parsed) if isinstance(parsed, float) else parsed)


@pytest.mark.parametrize("sheet,cell,record,value,parsed", [
    ("Fasi", "F2", "O1 fase 1", "30,00", 30.0),
    ("Settori", "E2", "S01", "40", 40.0),
    ("Obiettivi", "K2", "O1", "50,0", 50.0),
])
def test_peso_typed_as_text_is_read_with_P015(tmp_path, data, sheet, cell, record, value, parsed):
    if sheet == "Fasi":
        phase(data, "O1", 1)["Peso"] = value
    elif sheet == "Settori":
        sector(data, "S01")["Peso"] = value
    else:
        objective(data, "O1")["Peso"] = value
    _, findings = check(tmp_path, data)
    one(findings, "P015", sheet=sheet, cell=cell, record=record, severity=WARNING)
    assert codes(findings) == ["P015"]


# ----------------------------------------------------------------------------- Ente

@pytest.mark.parametrize("voce,row", [("Ente", 2), ("Anno", 3), ("Fase del ciclo", 4)])
def test_missing_ente_voce_is_P017(tmp_path, data, voce, row):
    data["Ente"] = [r for r in data["Ente"] if r[0] != voce]
    plan, findings = check(tmp_path, data)
    f = one(findings, "P017", sheet="Ente", cell=f"B{row}")
    assert f"«{voce}»" in f.message and f"«{voce}»" in f.hint


def test_missing_ente_row_is_P017(tmp_path, data):
    def drop_anno_row(wb):
        wb["Ente"].delete_rows(3)
    plan, findings = check(tmp_path, data, drop_anno_row)
    f = [x for x in findings if x.code == "P017"]
    assert len(f) == 1 and f[0].sheet == "Ente" and "«Anno»" in f[0].message


@pytest.mark.parametrize("spoil", ["no Anno", "no Ente sheet", "bad Fase"])
def test_broken_ente_does_not_hide_the_other_problems(tmp_path, data, spoil):
    mutate = None
    if spoil == "no Anno":
        data["Ente"] = [r for r in data["Ente"] if r[0] != "Anno"]
    elif spoil == "bad Fase":
        data["Ente"][2] = ["Fase del ciclo", "Consuntivo"]
    else:
        def mutate(wb):
            wb.remove(wb["Ente"])
    objective(data, "O1")["Tipologia"] = "Boh"
    phase(data, "O1", 1)["Peso"] = 10
    plan, findings = check(tmp_path, data, mutate)
    assert plan is None                       # no plan to work with, but every problem is said
    assert {"P017", "P001", "P013"} & set(codes(findings))
    one(findings, "P013", sheet="Obiettivi", cell="E2", record="O1")
    one(findings, "P007", sheet="Fasi", cell="F2", record="O1")


@pytest.mark.parametrize("value", ["duemila", 1999, 2024.5])
def test_bad_anno_is_P016(tmp_path, data, value):
    data["Ente"][1] = ["Anno", value]
    _, findings = check(tmp_path, data)
    one(findings, "P016", sheet="Ente", cell="B3")


def test_anno_typed_as_text_is_read(tmp_path, data):
    data["Ente"][1] = ["Anno", "2024"]
    plan, findings = check(tmp_path, data)
    assert not errors(findings)
    assert plan.anno == 2024


# ----------------------------------------------------------------------------- Regole

RULE_ROW = {name: i for i, (name, _, _) in enumerate(RULE_ROWS, start=2)}


@pytest.mark.parametrize("rule,value,detail", [
    ("Tetto indicatore", "tanto", "serve un numero"),
    ("Peso fasi", -10, "serve un numero non negativo"),
    ("Formula verso <=", "media", "rapporto"),
    ("Ritardo azzera", "forse", "serve «sì» o «no»"),
    ("Fascia B", 150, "tra 0 e 100"),
])
def test_bad_rule_value_is_P018(tmp_path, data, rule, value, detail):
    data["Regole"] = [{"Regola": rule, "Valore": value}]
    plan, findings = check(tmp_path, data)
    f = one(findings, "P018", sheet="Regole", cell=f"B{RULE_ROW[rule]}", record=rule)
    assert detail in f.message and f"«{rule}»" in f.message


def test_good_rule_values_are_used(tmp_path, data):
    data["Regole"] = [{"Regola": "Formula verso <=", "Valore": "scostamento"},
                      {"Regola": "Ritardo azzera", "Valore": "no"},
                      {"Regola": "Penalità giorni ritardo", "Valore": "0,5"},
                      {"Regola": "Fascia A", "Valore": 95}]
    plan, findings = check(tmp_path, data)
    assert not errors(findings)
    r = plan.rules
    assert (r.lower_formula, r.late_zero, r.late_penalty) == ("scostamento", False, 0.5)
    assert r.bands[0] == ("A", 95.0)


def test_unknown_rule_is_P019_warning(tmp_path, data):
    def add_rule(wb):
        wb["Regole"].append(["Regola inventata", 5, "?"])
    _, findings = check(tmp_path, data, add_rule)
    row = len(RULE_ROWS) + 2
    f = one(findings, "P019", sheet="Regole", cell=f"A{row}", severity=WARNING)
    assert "«Regola inventata»" in f.message
    assert codes(findings) == ["P019"]


def test_deleted_rule_takes_its_default(tmp_path, data):
    def drop(wb):
        wb["Regole"].delete_rows(RULE_ROW["Peso fasi"])
    plan, findings = check(tmp_path, data, drop)
    assert findings == []
    assert plan.rules.phases_weight == 50


# ------------------------------------------------------------------------ coverage

def test_objective_without_phases_and_indicators_is_P020(tmp_path, data):
    objective(data, "O4")["Peso"] = 60
    data["Obiettivi"].append({"Codice obiettivo": "O5", "Codice settore": "S03", "Titolo": "Vuoto",
                              "Tipologia": "Gestionale", "Peso": 20})
    _, findings = check(tmp_path, data)
    f = one(findings, "P020", sheet="Obiettivi", cell="A7", record="O5", severity=WARNING)
    assert "«O5»" in f.message
    assert codes(findings) == ["P020"]


def test_objective_with_only_a_contesto_indicator_is_P020(tmp_path, data):
    data["Fasi"] = [p for p in data["Fasi"] if p["Codice obiettivo"] != "O4"]
    data["Indicatori"] = [i for i in data["Indicatori"]
                          if not (i["Codice obiettivo"] == "O4" and i["Tipo"] != "CONTESTO")]
    _, findings = check(tmp_path, data)
    one(findings, "P020", sheet="Obiettivi", cell="A5", record="O4")


def test_sector_without_objectives_is_P021(tmp_path, data):
    objective(data, "T1")["Codice settore"] = "S01;S02;S03"
    data["Settori"].append({"Codice settore": "S04", "Settore": "Polizia locale", "Responsabile": "Neri"})
    for rec in data["Settori"]:
        rec.pop("Peso", None)
    _, findings = check(tmp_path, data)
    f = one(findings, "P021", sheet="Settori", cell="A5", record="S04", severity=WARNING)
    assert "«S04»" in f.message
    assert codes(findings) == ["P021"]


def test_trasversale_reaches_a_new_sector(tmp_path, data):
    """With `*`, a settore added later still gets the trasversale objective: no P021."""
    data["Settori"].append({"Codice settore": "S04", "Settore": "Polizia locale", "Responsabile": "Neri"})
    for rec in data["Settori"]:
        rec.pop("Peso", None)
    for rec in data["Obiettivi"]:
        rec.pop("Peso", None)
    plan, findings = check(tmp_path, data)
    assert findings == []
    assert list(plan.objectives_of("S04")["objective"]) == ["T1"]


def test_no_objectives_at_all_is_P023(tmp_path, data):
    data["Obiettivi"] = []
    data["Fasi"] = []
    data["Indicatori"] = []
    _, findings = check(tmp_path, data)
    assert "P023" in codes(findings)


# ------------------------------------------------------------------------- codes

@pytest.mark.parametrize("code,bad", [("S 03", "' '"), ("LL/PP", "'/'"), ("S03*", "'*'")])
def test_sector_code_unsafe_for_file_names_is_P024(tmp_path, data, code, bad):
    sector(data, "S03")["Codice settore"] = code
    objective(data, "O4")["Codice settore"] = code
    _, findings = check(tmp_path, data)
    f = one(findings, "P024", sheet="Settori", cell="A4", record=code, severity=WARNING)
    assert f"«{code}»" in f.message and bad in f.message
    assert codes(findings) == ["P024"]


def test_misspelled_optional_header_is_a_warning_not_a_silent_loss(tmp_path):
    """«Pesso» instead of «Peso» would otherwise make every weight vanish."""
    from openpyxl import load_workbook
    from pegxl.validators.plan import check_plan
    from pegxl.workbook.planfile import write_plan
    path = tmp_path / "piano.xlsx"
    write_plan(path, {
        "Ente": [["Ente", "Comune di Prova"], ["Anno", 2024], ["Fase del ciclo", "Rendicontazione finale"]],
        "Settori": [{"Codice settore": "S01", "Settore": "Affari generali", "Responsabile": "Rossi"}],
        "Obiettivi": [{"Codice obiettivo": "O1", "Codice settore": "S01", "Titolo": "T", "Tipologia": "Gestionale"}],
        "Fasi": [{"Codice obiettivo": "O1", "N. fase": 1, "Descrizione": "a", "Fine prevista": "2024-06-30", "Peso": 100}],
        "Indicatori": [],
    })
    wb = load_workbook(path)
    ws = wb["Obiettivi"]
    col = [c.value for c in ws[1]].index("Peso") + 1
    ws.cell(row=1, column=col, value="Pesso")
    wb.save(path)
    _, findings = check_plan(path)
    hits = [f for f in findings if f.code == "P027"]
    assert len(hits) == 1 and hits[0].severity == "avviso"
    assert hits[0].sheet == "Obiettivi" and hits[0].cell == f"{ws.cell(row=1, column=col).column_letter}1"
    assert "Pesso" in hits[0].message and "Peso" in hits[0].message


def test_a_percent_target_typed_as_80_percent_in_excel_is_read_as_80(tmp_path):
    """Excel stores «80%» as 0.8 in a percent-formatted cell: the target is 80, with a warning."""
    from openpyxl import load_workbook
    from pegxl.validators.plan import check_plan
    from pegxl.workbook.planfile import write_plan
    path = tmp_path / "piano.xlsx"
    write_plan(path, {
        "Ente": [["Ente", "Comune di Prova"], ["Anno", 2024], ["Fase del ciclo", "Rendicontazione finale"]],
        "Settori": [{"Codice settore": "S01", "Settore": "Affari generali", "Responsabile": "Rossi"}],
        "Obiettivi": [{"Codice obiettivo": "O1", "Codice settore": "S01", "Titolo": "T", "Tipologia": "Gestionale"}],
        "Fasi": [{"Codice obiettivo": "O1", "N. fase": 1, "Descrizione": "a", "Fine prevista": "2024-06-30", "Peso": 100}],
        "Indicatori": [
            {"Codice obiettivo": "O1", "N. indicatore": 1, "Descrizione": "Soddisfazione", "Tipo": "QUALITÀ",
             "Tipo valore": "percentuale", "Valore atteso": 0.8},
            {"Codice obiettivo": "O1", "N. indicatore": 2, "Descrizione": "Copertura", "Tipo": "EFFICACIA",
             "Tipo valore": "percentuale", "Valore atteso": 75}],
    })
    wb = load_workbook(path)
    ws = wb["Indicatori"]
    col = [c.value for c in ws[1]].index("Valore atteso") + 1
    ws.cell(row=2, column=col).number_format = "0%"
    wb.save(path)
    plan, findings = check_plan(path)
    assert not [f for f in findings if f.is_error]
    assert list(plan.indicators["target_value"]) == [80.0, 75]
    [w] = [f for f in findings if f.code == "P028"]
    assert w.cell == f"{ws.cell(row=2, column=col).column_letter}2" and "80" in w.message


# ------------------------------------------- Regole: pesi, Tetto, Fasce (scoring.md, issue 10)

def _drop_rules(*names):
    def drop(wb):
        for row in sorted((RULE_ROW[n] for n in names), reverse=True):
            wb["Regole"].delete_rows(row)
    return drop


def test_one_peso_given_takes_100_minus_it_for_the_other(tmp_path, data):
    data["Regole"] = [{"Regola": "Peso fasi", "Valore": 30}]
    plan, findings = check(tmp_path, data, _drop_rules("Peso indicatori"))
    assert findings == []
    assert (plan.rules.phases_weight, plan.rules.indicators_weight) == (30, 70)
    data["Regole"] = [{"Regola": "Peso indicatori", "Valore": "66,6"}]
    plan, findings = check(tmp_path, data, _drop_rules("Peso fasi"))
    assert findings == []
    assert (plan.rules.phases_weight, plan.rules.indicators_weight) == (33.4, 66.6)


def test_peso_pair_not_summing_to_100_is_P035(tmp_path, data):
    data["Regole"] = [{"Regola": "Peso fasi", "Valore": 30}]       # Peso indicatori stays 50
    _, findings = check(tmp_path, data)
    f = one(findings, "P035", sheet="Regole", cell=f"B{RULE_ROW['Peso indicatori']}")
    assert "80" in f.message and f.severity == "errore"
    assert codes(findings) == ["P035"]


def test_tetto_below_100_is_P036(tmp_path, data):
    data["Regole"] = [{"Regola": "Tetto indicatore", "Valore": 90}]
    plan, findings = check(tmp_path, data)
    f = one(findings, "P036", sheet="Regole", cell=f"B{RULE_ROW['Tetto indicatore']}")
    assert "90" in f.message
    assert codes(findings) == ["P036"]
    data["Regole"] = [{"Regola": "Tetto indicatore", "Valore": 120}]
    plan, findings = check(tmp_path, data)
    assert findings == [] and plan.rules.cap == 120


def test_each_fascia_row_defaults_on_its_own(tmp_path, data):
    data["Regole"] = [{"Regola": "Fascia A", "Valore": 95}]
    plan, findings = check(tmp_path, data, _drop_rules("Fascia B", "Fascia C", "Fascia D"))
    assert findings == []
    assert plan.rules.bands == (("A", 95.0), ("B", 75.0), ("C", 60.0), ("D", 0.0))

    def add_e(wb):
        wb["Regole"].append(["Fascia E", 40, "quinta"])
    plan, findings = check(tmp_path, data, add_e)
    assert findings == []
    assert [label for label, _ in plan.rules.bands] == ["A", "B", "C", "E", "D"]
    assert plan.rules.band(45) == "E" and plan.rules.band(39.99) == "D"


def test_bands_above_zero_are_P037_warning_and_nessuna_fascia(tmp_path, data):
    data["Regole"] = [{"Regola": "Fascia D", "Valore": 40}]
    plan, findings = check(tmp_path, data)
    f = one(findings, "P037", sheet="Regole", cell=f"B{RULE_ROW['Fascia D']}", severity=WARNING)
    assert "40" in f.message and "nessuna fascia" in f.message
    assert codes(findings) == ["P037"]
    assert plan is not None and plan.rules.band(39.99) == "nessuna fascia"
    assert plan.rules.band(40) == "D" and plan.rules.band(None) is None
