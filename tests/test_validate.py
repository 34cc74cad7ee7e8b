"""`pegxl validate` (issue 3): every returned workbook checked, every problem located.

The fixtures go through the public API only: a realistic plan written with `write_plan`,
checked with `check_plan`, templates from `generate_templates`, returns filled with
`fill_return` (the way the demo does). A clean return gives no finding; then each return
of the corpus carries ONE defect, and its test asserts the exact code, severity, sheet
and A1 cell reported (and that nothing else is reported). Defects a settore cannot type
through `fill_return` (a formula, a percent format, tampering with locked cells, sheets,
rows and the hidden identity sheet) are made with openpyxl on the filled file.

The S01 template (columns are the public contract, pegxl/workbook/contract.py):

  Obiettivi  J Stato, K Grado dichiarato %, L Relazione, M Motivazione scostamento (D Peso)
             row 2 2024_S01_01, row 3 2024_S01_02, row 4 2024_T_01 (trasversale, "*")
  Fasi       F Peso, G Avanzamento %, H Inizio effettivo, I Fine effettiva, J Note
             row 2 2024_S01_01/1, row 3 2024_S01_01/2, row 4 2024_S01_02/1, row 5 2024_T_01/1
  Indicatori G Valore atteso, I Valore raggiunto, J Note
             row 2 2024_S01_01/1 numero >= 20, row 3 2024_S01_01/2 sì/no, row 4 2024_S01_02/1
             numero >= 50000, row 5 2024_S01_02/2 data <= 30/09/2024, row 6 2024_T_01/1
             percentuale >= 90
"""
from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import openpyxl
import pytest
from click.testing import CliRunner

from pegxl.cli import main
from pegxl.errors import ERROR, WARNING, ErrorCode, show_value
from pegxl.plan import Plan, short
from pegxl.templates import fill_return, generate_templates, template_name
from pegxl.validators.returns import Validation, validate_returns
from pegxl.validators.plan import check_plan, has_errors
from pegxl.workbook import style as S
from pegxl.workbook.planfile import write_plan

D = dt.date

# ------------------------------------------------------------------------------ the plan

PLAN_DATA: dict[str, Any] = {
    "Ente": [["Ente", "Comune di Prova"], ["Anno", 2024], ["Fase del ciclo", "Rendicontazione finale"],
             ["Data di riferimento", "2024-12-31"], ["Scadenza consegna", "2025-01-31"],
             ["Ufficio referente", "Controllo di gestione"], ["Email ufficio", "cdg@example.org"]],
    "Settori": [
        {"Codice settore": "S01", "Settore": "Affari generali", "Responsabile": "Rossi Anna",
         "Email": "rossi@example.org"},
        {"Codice settore": "S02", "Settore": "Servizi sociali", "Responsabile": "Bianchi Luca",
         "Email": "bianchi@example.org"},
    ],
    "Obiettivi": [
        {"Codice obiettivo": "2024_S01_01", "Codice settore": "S01", "Titolo": "Digitalizzazione dei procedimenti",
         "Tipologia": "Strategico", "Missione": "01", "Programma": "02", "Peso": 60},
        {"Codice obiettivo": "2024_S01_02", "Codice settore": "S01", "Titolo": "Riduzione dei tempi di pagamento",
         "Tipologia": "Gestionale", "Missione": "01", "Programma": "03", "Peso": 30},
        {"Codice obiettivo": "2024_S02_01", "Codice settore": "S02", "Titolo": "Assistenza domiciliare",
         "Tipologia": "Esecutivo", "Missione": "12", "Programma": "03", "Peso": 90},
        {"Codice obiettivo": "2024_T_01", "Codice settore": "*", "Titolo": "Attuazione delle misure del PTPCT",
         "Tipologia": "PTPCT", "Peso": 10},
    ],
    "Fasi": [
        {"Codice obiettivo": "2024_S01_01", "N. fase": 1, "Descrizione": "Analisi dei procedimenti",
         "Inizio previsto": "2024-01-15", "Fine prevista": "2024-04-30", "Peso": 40},
        {"Codice obiettivo": "2024_S01_01", "N. fase": 2, "Descrizione": "Attivazione dei servizi online",
         "Inizio previsto": "2024-05-01", "Fine prevista": "2024-11-30", "Peso": 60},
        {"Codice obiettivo": "2024_S01_02", "N. fase": 1, "Descrizione": "Revisione del flusso delle fatture",
         "Inizio previsto": "2024-02-01", "Fine prevista": "2024-12-31", "Peso": 100},
        {"Codice obiettivo": "2024_S02_01", "N. fase": 1, "Descrizione": "Affidamento del servizio",
         "Inizio previsto": "2024-01-01", "Fine prevista": "2024-06-30", "Peso": 50},
        {"Codice obiettivo": "2024_S02_01", "N. fase": 2, "Descrizione": "Erogazione e monitoraggio",
         "Inizio previsto": "2024-07-01", "Fine prevista": "2024-12-31", "Peso": 50},
        {"Codice obiettivo": "2024_T_01", "N. fase": 1, "Descrizione": "Aggiornamento della mappatura dei rischi",
         "Inizio previsto": "2024-03-01", "Fine prevista": "2024-10-31", "Peso": 100},
    ],
    "Indicatori": [
        {"Codice obiettivo": "2024_S01_01", "N. indicatore": 1, "Descrizione": "N. procedimenti attivati online",
         "Tipo": "EFFICACIA", "Tipo valore": "numero", "Verso": ">=", "Valore atteso": 20, "Unità di misura": "n."},
        {"Codice obiettivo": "2024_S01_01", "N. indicatore": 2, "Descrizione": "Pubblicazione del catalogo dei servizi",
         "Tipo": "QUALITÀ", "Tipo valore": "sì/no", "Valore atteso": "sì"},
        {"Codice obiettivo": "2024_S01_02", "N. indicatore": 1, "Descrizione": "Importo delle fatture pagate nei termini",
         "Tipo": "EFFICIENZA", "Tipo valore": "numero", "Verso": ">=", "Valore atteso": 50000,
         "Unità di misura": "€"},
        {"Codice obiettivo": "2024_S01_02", "N. indicatore": 2, "Descrizione": "Entro la data: approvazione del regolamento",
         "Tipo": "TEMPORALE", "Tipo valore": "data", "Verso": "<=", "Valore atteso": "2024-09-30"},
        {"Codice obiettivo": "2024_S02_01", "N. indicatore": 1, "Descrizione": "% utenti soddisfatti",
         "Tipo": "EFFICACIA", "Tipo valore": "percentuale", "Verso": ">=", "Valore atteso": 80,
         "Unità di misura": "%"},
        {"Codice obiettivo": "2024_S02_01", "N. indicatore": 2, "Descrizione": "Qualità della relazione sul servizio",
         "Tipo": "QUALITATIVO", "Tipo valore": "testo", "Valore atteso": "Relazione approvata dalla Giunta"},
        {"Codice obiettivo": "2024_T_01", "N. indicatore": 1, "Descrizione": "% misure del PTPCT attuate",
         "Tipo": "EFFICACIA", "Tipo valore": "percentuale", "Verso": ">=", "Valore atteso": 90,
         "Unità di misura": "%"},
    ],
}

# What settore S01 types into a clean Rendicontazione finale (fill_return's format).
CLEAN_S01: dict[str, list[dict[str, Any]]] = {
    "Obiettivi": [
        {"Codice obiettivo": "2024_S01_01", "Stato": "Concluso",
         "Relazione": "Attivati 24 procedimenti online; catalogo pubblicato il 15/10/2024."},
        {"Codice obiettivo": "2024_S01_02", "Stato": "In corso", "Grado dichiarato %": 70,
         "Relazione": "Flusso delle fatture rivisto; regolamento approvato a ottobre.",
         "Motivazione scostamento": "Il regolamento è slittato per il parere dei revisori."},
        {"Codice obiettivo": "2024_T_01", "Stato": "Concluso",
         "Relazione": "Mappatura dei rischi aggiornata e approvata."},
    ],
    "Fasi": [
        {"Codice obiettivo": "2024_S01_01", "N. fase": 1, "Avanzamento %": 100, "Inizio effettivo": "2024-01-20",
         "Fine effettiva": "2024-04-26", "Note": "Completata con l'ufficio sistemi informativi."},
        {"Codice obiettivo": "2024_S01_01", "N. fase": 2, "Avanzamento %": 100, "Inizio effettivo": "2024-05-02",
         "Fine effettiva": "2024-11-15"},
        {"Codice obiettivo": "2024_S01_02", "N. fase": 1, "Avanzamento %": 75.5, "Inizio effettivo": "2024-02-05",
         "Note": "In attesa del nuovo gestionale."},
        {"Codice obiettivo": "2024_T_01", "N. fase": 1, "Avanzamento %": 100, "Inizio effettivo": "2024-03-01",
         "Fine effettiva": "2024-10-30"},
    ],
    "Indicatori": [
        {"Codice obiettivo": "2024_S01_01", "N. indicatore": 1, "Valore raggiunto": 24},
        {"Codice obiettivo": "2024_S01_01", "N. indicatore": 2, "Valore raggiunto": "sì",
         "Note": "Pubblicato sul sito istituzionale."},
        {"Codice obiettivo": "2024_S01_02", "N. indicatore": 1, "Valore raggiunto": 78622.2},
        {"Codice obiettivo": "2024_S01_02", "N. indicatore": 2, "Valore raggiunto": "2024-09-15"},
        {"Codice obiettivo": "2024_T_01", "N. indicatore": 1, "Valore raggiunto": 92.5},
    ],
}

CLEAN_S02: dict[str, list[dict[str, Any]]] = {
    "Obiettivi": [
        {"Codice obiettivo": "2024_S02_01", "Stato": "Concluso", "Relazione": "Servizio affidato ed erogato."},
        {"Codice obiettivo": "2024_T_01", "Stato": "Concluso", "Relazione": "Misure attuate."},
    ],
    "Fasi": [
        {"Codice obiettivo": "2024_S02_01", "N. fase": 1, "Avanzamento %": 100, "Inizio effettivo": "2024-01-08",
         "Fine effettiva": "2024-06-20"},
        {"Codice obiettivo": "2024_S02_01", "N. fase": 2, "Avanzamento %": 100, "Inizio effettivo": "2024-07-01",
         "Fine effettiva": "2024-12-20"},
        {"Codice obiettivo": "2024_T_01", "N. fase": 1, "Avanzamento %": 100, "Inizio effettivo": "2024-03-04",
         "Fine effettiva": "2024-10-25"},
    ],
    "Indicatori": [
        {"Codice obiettivo": "2024_S02_01", "N. indicatore": 1, "Valore raggiunto": 86},
        {"Codice obiettivo": "2024_S02_01", "N. indicatore": 2, "Valore raggiunto": "Relazione approvata (DG 112/2024)"},
        {"Codice obiettivo": "2024_T_01", "N. indicatore": 1, "Valore raggiunto": 95},
    ],
}

# Where a header's typed value lands in the validated tables (raw, as typed).
RAW_COLUMN = {
    "Obiettivi": {"Stato": "status_raw", "Grado dichiarato %": "declared_raw", "Relazione": "report",
                  "Motivazione scostamento": "deviation_reason"},
    "Fasi": {"Avanzamento %": "progress_raw", "Inizio effettivo": "actual_start_raw",
             "Fine effettiva": "actual_end_raw", "Note": "notes"},
    "Indicatori": {"Valore raggiunto": "achieved_raw", "Note": "notes"},
}
CELL_COLUMN = {
    "Obiettivi": {"Stato": "status_cell", "Grado dichiarato %": "declared_cell", "Relazione": "report_cell",
                  "Motivazione scostamento": "deviation_reason_cell"},
    "Fasi": {"Avanzamento %": "progress_cell", "Inizio effettivo": "actual_start_cell",
             "Fine effettiva": "actual_end_cell", "Note": "notes_cell"},
    "Indicatori": {"Valore raggiunto": "achieved_cell", "Note": "notes_cell"},
}
KEY_HEADERS = {"Obiettivi": ("Codice obiettivo",), "Fasi": ("Codice obiettivo", "N. fase"),
               "Indicatori": ("Codice obiettivo", "N. indicatore")}
DROP = object()   # with_values: remove the header from the record (the cell stays empty)


def plan_variant(change: Callable[[dict], None] | None = None, **ente: Any) -> dict[str, Any]:
    """A deep copy of PLAN_DATA with Ente rows replaced (ente=, anno=, fase=) and `change` applied."""
    data = copy.deepcopy(PLAN_DATA)
    keys = {"ente": "Ente", "anno": "Anno", "fase": "Fase del ciclo"}
    for k, v in ente.items():
        for row in data["Ente"]:
            if row[0] == keys[k]:
                row[1] = v
    if change:
        change(data)
    return data


def with_values(inputs: dict, sheet: str, key: tuple, **values: Any) -> dict:
    """A copy of `inputs` where the record `key` of `sheet` has `values` (headers with
    spaces and % are passed through the HEADER map below); DROP removes a header."""
    out = copy.deepcopy(inputs)
    for rec in out[sheet]:
        if tuple(rec[h] for h in KEY_HEADERS[sheet]) == key:
            for name, v in values.items():
                header = HEADER[name]
                if v is DROP:
                    rec.pop(header, None)
                else:
                    rec[header] = v
            return out
    raise KeyError((sheet, key))


HEADER = {"stato": "Stato", "dichiarato": "Grado dichiarato %", "relazione": "Relazione",
          "motivazione": "Motivazione scostamento", "avanzamento": "Avanzamento %",
          "inizio": "Inizio effettivo", "fine": "Fine effettiva", "note": "Note",
          "raggiunto": "Valore raggiunto"}


@dataclass
class Env:
    root: Path
    plan_path: Path
    plan: Plan
    templates: dict[str, Path]


def make_env(root: Path, data: dict[str, Any] | None = None) -> Env:
    """Plan file + checked plan + one template per settore, under `root`."""
    root.mkdir(parents=True, exist_ok=True)
    plan_path = write_plan(root / "piano.xlsx", data or PLAN_DATA)
    plan, findings = check_plan(plan_path)
    assert plan is not None and not has_errors(findings), findings
    paths = generate_templates(plan, root / "modelli")
    templates = {s: root / "modelli" / template_name(plan, s) for s in plan.sector_codes}
    assert sorted(map(str, paths)) == sorted(map(str, templates.values()))
    return Env(root, plan_path, plan, templates)


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Env:
    return make_env(tmp_path_factory.mktemp("final"))


@pytest.fixture(scope="module")
def env_monitoring(tmp_path_factory) -> Env:
    return make_env(tmp_path_factory.mktemp("monitoring"), plan_variant(fase="Monitoraggio intermedio"))


def make_return(env: Env, out: Path, inputs: dict | None = None, *, sector: str = "S01",
                edit: Callable[[openpyxl.Workbook], None] | None = None) -> Path:
    """Fill `sector`'s template with `inputs` (fill_return); then apply `edit` with openpyxl."""
    out.parent.mkdir(parents=True, exist_ok=True)
    default = CLEAN_S01 if sector == "S01" else CLEAN_S02
    fill_return(env.templates[sector], out, default if inputs is None else inputs)
    if edit is not None:
        wb = openpyxl.load_workbook(out)
        edit(wb)
        wb.save(out)
    return out


def validate_one(env: Env, tmp_path: Path, inputs: dict | None = None, *,
                 edit: Callable[[openpyxl.Workbook], None] | None = None,
                 plan: Plan | None = None) -> tuple[Validation, Path]:
    path = make_return(env, tmp_path / "restituiti" / template_name(env.plan, "S01"), inputs, edit=edit)
    return validate_returns(plan or env.plan, [path]), path


def codes(v: Validation) -> list[str]:
    return sorted(f.code for f in v.findings)


def only(v: Validation, code: str, *, severity: str, sheet: str | None, cell: str | None,
         file: Path | None = None, record: str | None = None):
    """The one finding with `code`, checked field by field; no other finding in `v`."""
    assert codes(v) == [code], [str(f) for f in v.findings]
    f = v.findings[0]
    assert (f.severity, f.sheet, f.cell) == (severity, sheet, cell), str(f)
    assert f.severity == ErrorCode[code].severity
    if file is not None:
        assert f.file == str(file)
    if record is not None:
        assert f.record == record, f.record
    assert f.message and "{" not in f.message and "?" not in f.message.replace("?»", ""), f.message
    return f


def record(v: Validation, table: str, rec: str) -> dict[str, Any]:
    df = {"Obiettivi": v.objectives, "Fasi": v.phases, "Indicatori": v.indicators}[table]
    rows = df[df["record"] == rec].to_dict("records")
    assert len(rows) == 1, (table, rec, len(rows))
    return rows[0]


def blank(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def typed(value: Any) -> Any:
    """What fill_return stores for a value: ISO date strings become dates."""
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return D.fromisoformat(value)
    return value


# ------------------------------------------------------------------------------ clean

def test_the_fixture_plan_is_clean(env):
    _, findings = check_plan(env.plan_path)
    assert findings == []
    assert env.plan.sector_codes == ["S01", "S02"]


def test_clean_return_has_no_finding(env, tmp_path):
    v, path = validate_one(env, tmp_path)
    assert v.findings == []           # no error, and no warning either
    assert v.all_usable and v.usable(str(path))
    assert [rf.sector for rf in v.usable_files] == ["S01"]
    assert v.missing_sectors() == ["S02"]
    rf = v.files[0]
    assert rf.readable and rf.usable and rf.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert rf.identity["sector"] == "S01" and rf.kind == "xlsx"
    assert (len(v.objectives), len(v.phases), len(v.indicators)) == (3, 4, 5)


def test_every_typed_value_reaches_the_validated_tables_unchanged(env, tmp_path):
    v, path = validate_one(env, tmp_path)
    assert v.findings == []
    tables = {"Obiettivi": v.objectives, "Fasi": v.phases, "Indicatori": v.indicators}
    checked = 0
    for sheet, records in CLEAN_S01.items():
        df = tables[sheet]
        for rec in records:
            key = tuple(rec[h] for h in KEY_HEADERS[sheet])
            mask = df["objective"] == key[0]
            if len(key) > 1:
                mask &= df["phase" if sheet == "Fasi" else "indicator"] == key[1]
            rows = df[mask].to_dict("records")
            assert len(rows) == 1, (sheet, key)
            row = rows[0]
            assert row["file"] == str(path) and row["sector"] == "S01"
            for header, raw_col in RAW_COLUMN[sheet].items():
                if header in rec:
                    expected = typed(rec[header])
                    got = row[raw_col]
                    assert got == expected, (sheet, key, header, got, expected)
                    assert type(got) is type(expected) or {type(got), type(expected)} <= {int, float}, \
                        (sheet, key, header, type(got), type(expected))
                    checked += 1
                else:
                    assert blank(row[raw_col]), (sheet, key, header, row[raw_col])
    assert checked == sum(len(set(r) - set(KEY_HEADERS[s])) for s, rs in CLEAN_S01.items() for r in rs) == 27
    # and the cells they came from
    assert record(v, "Fasi", "2024_S01_02 fase 1")["progress_cell"] == "G4"
    assert record(v, "Indicatori", "2024_S01_02 indicatore 1")["achieved_cell"] == "I4"
    assert record(v, "Obiettivi", "2024_S01_02")["declared_cell"] == "K3"
    # parsed values next to the raw ones
    assert record(v, "Fasi", "2024_S01_02 fase 1")["progress"] == 75.5
    assert record(v, "Indicatori", "2024_S01_01 indicatore 2")["achieved"] is True
    assert record(v, "Indicatori", "2024_S01_02 indicatore 2")["achieved"] == D(2024, 9, 15)
    assert record(v, "Obiettivi", "2024_S01_02")["declared"] == 70.0


def test_demo_returns_have_no_error(tmp_path):
    """The demo ente (pegxl/data/demo) through the same path: no error; the only warnings
    are numbers or dates typed as text (V007) and Concluso with phases not at 100 (V016),
    as in the seed documents."""
    from pegxl.demo import demo_data
    plan_data, returns = demo_data()
    demo = make_env(tmp_path / "demo", plan_data)
    for sector, inputs in returns.items():
        fill_return(demo.templates[sector], tmp_path / "r" / template_name(demo.plan, sector), inputs)
    v = validate_returns(demo.plan, [tmp_path / "r"])
    assert len(v.files) == len(returns) and v.all_usable
    assert [str(f) for f in v.findings if f.is_error] == []
    assert {f.code for f in v.findings} <= {"V007", "V016"}
    for f in v.findings:
        if f.code == "V007":
            assert f.sheet == "Indicatori" and f.cell.startswith("I") and isinstance(f.value, str)


# --------------------------------------------------------------- values typed (V codes)

def test_v001_progress_over_100(env, tmp_path):
    v, path = validate_one(env, tmp_path, with_values(CLEAN_S01, "Fasi", ("2024_S01_01", 1), avanzamento=120))
    f = only(v, "V001", severity=ERROR, sheet="Fasi", cell="G2", file=path, record="2024_S01_01 fase 1")
    assert "120" in f.message and f.column == "Avanzamento %"
    assert not v.usable(str(path))


def test_v002_end_date_not_a_date(env, tmp_path):
    v, _ = validate_one(env, tmp_path, with_values(CLEAN_S01, "Fasi", ("2024_S01_01", 1), fine="ieri"))
    f = only(v, "V002", severity=ERROR, sheet="Fasi", cell="I2", record="2024_S01_01 fase 1")
    assert "«ieri»" in f.message and "Fine effettiva" in f.message


def test_v003_end_before_start(env, tmp_path):
    v, _ = validate_one(env, tmp_path, with_values(CLEAN_S01, "Fasi", ("2024_S01_01", 1),
                                                    inizio="2024-01-20", fine="2024-01-10"))
    f = only(v, "V003", severity=ERROR, sheet="Fasi", cell="I2", record="2024_S01_01 fase 1")
    assert "10/01/2024" in f.message and "20/01/2024" in f.message


def test_v004_date_far_from_the_year(env, tmp_path):
    v, path = validate_one(env, tmp_path, with_values(CLEAN_S01, "Fasi", ("2024_S01_02", 1), fine="2031-05-10"))
    f = only(v, "V004", severity=WARNING, sheet="Fasi", cell="I4", record="2024_S01_02 fase 1")
    assert "10/05/2031" in f.message and "2024" in f.message
    assert v.usable(str(path))


def test_v005_unknown_status(env, tmp_path):
    v, _ = validate_one(env, tmp_path, with_values(CLEAN_S01, "Obiettivi", ("2024_S01_01",), stato="Finito"))
    f = only(v, "V005", severity=ERROR, sheet="Obiettivi", cell="J2", record="2024_S01_01")
    assert "«Finito»" in f.message and "Concluso" in f.message


def test_v006_achieved_not_a_number(env, tmp_path):
    v, _ = validate_one(env, tmp_path, with_values(CLEAN_S01, "Indicatori", ("2024_S01_01", 1), raggiunto="abc"))
    f = only(v, "V006", severity=ERROR, sheet="Indicatori", cell="I2", record="2024_S01_01 indicatore 1")
    assert "«abc»" in f.message and "numero" in f.message


def test_v007_number_typed_as_italian_text(env, tmp_path):
    v, path = validate_one(env, tmp_path, with_values(CLEAN_S01, "Indicatori", ("2024_S01_02", 1),
                                                       raggiunto="78.622,20"))
    f = only(v, "V007", severity=WARNING, sheet="Indicatori", cell="I4", record="2024_S01_02 indicatore 1")
    assert "«78.622,20»" in f.message and "78622,2" in f.message   # the value as parsed
    assert v.usable(str(path))
    row = record(v, "Indicatori", "2024_S01_02 indicatore 1")
    assert row["achieved"] == pytest.approx(78622.2) and row["achieved_raw"] == "78.622,20"


def test_v008_postponed_without_reason(env, tmp_path):
    v, _ = validate_one(env, tmp_path, with_values(CLEAN_S01, "Obiettivi", ("2024_S01_01",), stato="Rinviato"))
    f = only(v, "V008", severity=ERROR, sheet="Obiettivi", cell="M2", record="2024_S01_01")
    assert "Rinviato" in f.message


@pytest.mark.parametrize("other_reason", [None, "Fase conclusa in anticipo."])
def test_v009_declared_far_from_computed_without_reason(env, tmp_path, other_reason):
    # 2024_S01_02: phase 50 %; indicators 100 (50000 reached) and 0 (late): computed 50.
    # Another objective with a Motivazione must not hide it (a text column with some blanks).
    inputs = with_values(CLEAN_S01, "Obiettivi", ("2024_S01_02",), dichiarato=100, motivazione=DROP)
    if other_reason:
        inputs = with_values(inputs, "Obiettivi", ("2024_S01_01",), motivazione=other_reason)
    inputs = with_values(inputs, "Fasi", ("2024_S01_02", 1), avanzamento=50)
    inputs = with_values(inputs, "Indicatori", ("2024_S01_02", 1), raggiunto=50000)
    inputs = with_values(inputs, "Indicatori", ("2024_S01_02", 2), raggiunto="2024-10-15")
    v, path = validate_one(env, tmp_path, inputs)
    f = only(v, "V009", severity=WARNING, sheet="Obiettivi", cell="M3", record="2024_S01_02")
    assert "(100)" in f.message and "(50)" in f.message and "10 punti" in f.message
    o = v.scores.objectives.set_index(["sector", "objective"]).loc[("S01", "2024_S01_02")]
    assert o["computed"] == pytest.approx(50.0) and o["declared"] == 100.0
    assert v.usable(str(path))


@pytest.mark.parametrize("sheet,key,name,cell,header", [
    ("Fasi", ("2024_S01_01", 1), "avanzamento", "G2", "Avanzamento %"),
    ("Indicatori", ("2024_S01_01", 1), "raggiunto", "I2", "Valore raggiunto"),
    ("Obiettivi", ("2024_S01_01",), "stato", "J2", "Stato"),
])
def test_v010_missing_required_input_in_final_report(env, tmp_path, sheet, key, name, cell, header):
    v, path = validate_one(env, tmp_path, with_values(CLEAN_S01, sheet, key, **{name: DROP}))
    f = only(v, "V010", severity=ERROR, sheet=sheet, cell=cell)
    assert f.column == header and f"«{header}»" in f.message
    assert not v.usable(str(path))


@pytest.mark.parametrize("sheet,key,name,cell,header", [
    ("Fasi", ("2024_S01_01", 1), "avanzamento", "G2", "Avanzamento %"),
    ("Indicatori", ("2024_S01_01", 1), "raggiunto", "I2", "Valore raggiunto"),
])
def test_v011_missing_input_in_monitoring_is_a_warning_counted_as_missing(env_monitoring, tmp_path, sheet, key,
                                                                         name, cell, header):
    v, path = validate_one(env_monitoring, tmp_path, with_values(CLEAN_S01, sheet, key, **{name: DROP}))
    f = only(v, "V011", severity=WARNING, sheet=sheet, cell=cell)
    assert f.column == header
    assert v.usable(str(path))
    s = v.scores
    if sheet == "Fasi":
        assert math.isnan(record(v, "Fasi", "2024_S01_01 fase 1")["progress"])
        ph = s.phases.set_index(["sector", "objective", "phase"]).loc[("S01", "2024_S01_01", 1)]
        assert math.isnan(ph["progress"]) and ph["contribution"] == 0   # counts as 0 % done
    else:
        ind = s.indicators.set_index(["sector", "objective", "indicator"]).loc[("S01", "2024_S01_01", 1)]
        assert ind["status"] == "mancante" and not ind["counted"]


def _formula_in(sheet: str, ref: str, formula: str):
    def edit(wb):
        wb[sheet][ref] = formula          # openpyxl stores a leading "=" as a formula
        assert wb[sheet][ref].data_type == "f"
    return edit


def test_v012_formula_typed_into_an_input_cell(env, tmp_path):
    v, path = validate_one(env, tmp_path, edit=_formula_in("Fasi", "G2", "=50+50"))
    f = only(v, "V012", severity=ERROR, sheet="Fasi", cell="G2", record="2024_S01_01 fase 1")
    assert "=50+50" in f.message
    # the formula is not executed, nor its (absent) cached value trusted
    assert blank(record(v, "Fasi", "2024_S01_01 fase 1")["progress"])


def test_v013_declared_grade_over_100(env, tmp_path):
    v, _ = validate_one(env, tmp_path, with_values(CLEAN_S01, "Obiettivi", ("2024_S01_01",), dichiarato=150,
                                                    motivazione="Risultato superiore alle attese."))
    f = only(v, "V013", severity=ERROR, sheet="Obiettivi", cell="K2", record="2024_S01_01")
    assert "150" in f.message


def test_v014_declared_grade_not_a_number(env, tmp_path):
    v, _ = validate_one(env, tmp_path, with_values(CLEAN_S01, "Obiettivi", ("2024_S01_02",), dichiarato="quasi tutto"))
    f = only(v, "V014", severity=ERROR, sheet="Obiettivi", cell="K3", record="2024_S01_02")
    assert "«quasi tutto»" in f.message


def test_v015_percent_formatted_cell_holding_one_reads_100(env, tmp_path):
    def edit(wb):
        c = wb["Fasi"]["G2"]
        c.value = 1.0
        c.number_format = "0%"          # Excel shows 100%
    v, path = validate_one(env, tmp_path, edit=edit)
    f = only(v, "V015", severity=WARNING, sheet="Fasi", cell="G2", record="2024_S01_01 fase 1")
    assert "100" in f.message
    assert record(v, "Fasi", "2024_S01_01 fase 1")["progress"] == 100.0
    assert v.usable(str(path))


@pytest.mark.parametrize("text", ["=SOMMA(A1:A9) da rivedere", "+39 02 1234567", "-nessuna criticità",
                                  "@ufficio.tecnico"])
def test_formula_like_text_stays_text(env, tmp_path, text):
    inputs = with_values(CLEAN_S01, "Fasi", ("2024_S01_01", 1), note=text)
    inputs = with_values(inputs, "Indicatori", ("2024_S01_01", 2), note=text)
    inputs = with_values(inputs, "Obiettivi", ("2024_S01_01",), relazione=text)
    v, path = validate_one(env, tmp_path, inputs)
    assert [f for f in v.findings if f.is_error] == []
    assert "V012" not in codes(v)
    assert record(v, "Fasi", "2024_S01_01 fase 1")["notes"] == text
    assert record(v, "Indicatori", "2024_S01_01 indicatore 2")["notes"] == text
    assert record(v, "Obiettivi", "2024_S01_01")["report"] == text
    wb = openpyxl.load_workbook(path)     # stored as text, not as a formula
    assert wb["Fasi"]["J2"].data_type == "s" and wb["Fasi"]["J2"].value == text


# ----------------------------------------------------------------- tampering (T codes)

def test_t006_locked_weight_changed(env, tmp_path):
    def edit(wb):
        wb["Obiettivi"]["D2"] = 100
    v, path = validate_one(env, tmp_path, edit=edit)
    f = only(v, "T006", severity=ERROR, sheet="Obiettivi", cell="D2", record="2024_S01_01")
    assert f.column == "Peso" and "«60»" in f.message and "«100»" in f.message
    assert not v.usable(str(path))


def test_t006_phase_weight_changed(env, tmp_path):
    def edit(wb):
        wb["Fasi"]["F3"] = 55
    v, _ = validate_one(env, tmp_path, edit=edit)
    f = only(v, "T006", severity=ERROR, sheet="Fasi", cell="F3", record="2024_S01_01 fase 2")
    assert "«60»" in f.message and "«55»" in f.message


def test_t006_target_changed(env, tmp_path):
    def edit(wb):
        wb["Indicatori"]["G2"] = 10
    v, _ = validate_one(env, tmp_path, edit=edit)
    f = only(v, "T006", severity=ERROR, sheet="Indicatori", cell="G2", record="2024_S01_01 indicatore 1")
    assert f.column == "Valore atteso" and "«20»" in f.message and "«10»" in f.message


def test_t003_row_deleted(env, tmp_path):
    def edit(wb):
        wb["Fasi"].delete_rows(3)
    v, path = validate_one(env, tmp_path, edit=edit)
    f = only(v, "T003", severity=ERROR, sheet="Fasi", cell=None, record="2024_S01_01 fase 2")
    assert "2024_S01_01 fase 2" in f.message
    assert not v.usable(str(path))


def _append_row(sheet: str, values: list[Any]):
    def edit(wb):
        wb[sheet].append(values)
    return edit


def test_t004_row_added_with_unknown_code(env, tmp_path):
    v, _ = validate_one(env, tmp_path, edit=_append_row(
        "Fasi", ["2024_S01_09", 1, "Fase aggiunta dal settore", D(2024, 1, 1), D(2024, 12, 31), 10, 100]))
    f = only(v, "T004", severity=ERROR, sheet="Fasi", cell="A6", record="2024_S01_09 fase 1")
    assert "2024_S01_09 fase 1" in f.message


def test_t005_rows_reordered_is_a_warning_and_usable(env, tmp_path):
    def edit(wb):
        ws = wb["Fasi"]
        for col in range(1, ws.max_column + 1):
            a, b = ws.cell(row=2, column=col), ws.cell(row=3, column=col)
            a.value, b.value = b.value, a.value
    v, path = validate_one(env, tmp_path, edit=edit)
    only(v, "T005", severity=WARNING, sheet="Fasi", cell=None)
    assert v.usable(str(path))
    # rows are read by code: each value still belongs to its record, at its new cell
    r = record(v, "Fasi", "2024_S01_01 fase 2")
    assert (r["xlrow"], r["progress_cell"], r["actual_start_raw"]) == (2, "G2", D(2024, 5, 2))
    r = record(v, "Fasi", "2024_S01_01 fase 1")
    assert (r["xlrow"], r["actual_end_raw"]) == (3, D(2024, 4, 26))


def test_t001_sheet_renamed(env, tmp_path):
    def edit(wb):
        wb["Fasi"].title = "Fasi lavori"
    v, path = validate_one(env, tmp_path, edit=edit)
    f = only(v, "T001", severity=ERROR, sheet="Fasi", cell=None)
    assert "«Fasi»" in f.message
    assert not v.usable(str(path))


def test_t002_header_renamed(env, tmp_path):
    def edit(wb):
        wb["Fasi"]["G1"] = "Avanzamento"
    v, path = validate_one(env, tmp_path, edit=edit)
    f = only(v, "T002", severity=ERROR, sheet="Fasi", cell="G1")
    assert f.column == "Avanzamento %" and "«Avanzamento %»" in f.message
    assert not v.usable(str(path))


def test_t007_protection_removed_is_a_warning(env, tmp_path):
    def edit(wb):
        wb["Fasi"].protection.sheet = False
    v, path = validate_one(env, tmp_path, edit=edit)
    only(v, "T007", severity=WARNING, sheet="Fasi", cell=None)
    assert v.usable(str(path))


def test_t008_duplicated_row(env, tmp_path):
    def edit(wb):
        ws = wb["Fasi"]
        ws.append([ws.cell(row=2, column=c).value for c in range(1, ws.max_column + 1)])
    v, _ = validate_one(env, tmp_path, edit=edit)
    only(v, "T008", severity=ERROR, sheet="Fasi", cell="A6", record="2024_S01_01 fase 1")


# ------------------------------------------------------------------- identity (I codes)

def test_i001_identity_sheet_deleted(env, tmp_path):
    def edit(wb):
        del wb["_pegxl"]
    v, path = validate_one(env, tmp_path, edit=edit)
    f = only(v, "I001", severity=ERROR, sheet=None, cell=None, file=path)
    assert "_pegxl" in f.message
    assert not v.usable(str(path)) and not v.files[0].readable
    assert v.objectives.empty and v.phases.empty and v.indicators.empty


def _other_env(tmp_path: Path, **kw: Any) -> Env:
    return make_env(tmp_path / "altro", plan_variant(**kw))


def test_i002_file_of_another_plan_names_both_fingerprints(env, tmp_path):
    def retitle(data):   # an earlier version of the plan: S01's objective had another title
        data["Obiettivi"][0]["Titolo"] = "Digitalizzazione"
    other = _other_env(tmp_path, change=retitle)
    path = make_return(other, tmp_path / "r" / "old.xlsx")
    v = validate_returns(env.plan, [path])
    f = only(v, "I002", severity=ERROR, sheet="_pegxl", cell="B7", file=path)
    assert short(other.plan.fingerprint()) in f.message and short(env.plan.fingerprint()) in f.message
    assert short(other.plan.fingerprint()) != short(env.plan.fingerprint())
    assert not v.usable(str(path))


@pytest.mark.parametrize("kw,code,cell,found,expected", [
    ({"anno": 2023}, "I003", "B4", "2023", "2024"),
    ({"ente": "Comune di Altrove"}, "I004", "B3", "Comune di Altrove", "Comune di Prova"),
    ({"fase": "Monitoraggio intermedio"}, "I005", "B5", "Monitoraggio intermedio", "Rendicontazione finale"),
])
def test_i003_i004_i005_file_of_another_year_ente_fase(env, tmp_path, kw, code, cell, found, expected):
    other = _other_env(tmp_path, **kw)
    path = make_return(other, tmp_path / "r" / "other.xlsx")
    v = validate_returns(env.plan, [path])
    # the plan it came from is another one too: its fingerprint differs (I002)
    assert codes(v) == sorted([code, "I002"]), [str(f) for f in v.findings]
    f = next(x for x in v.findings if x.code == code)
    assert (f.severity, f.sheet, f.cell) == (ERROR, "_pegxl", cell)
    assert found in f.message and expected in f.message
    assert not v.usable(str(path))


def test_i006_unknown_sector(env, tmp_path):
    def add_s03(data):
        data["Settori"].append({"Codice settore": "S03", "Settore": "Polizia locale", "Responsabile": "Verdi Marco"})
        data["Obiettivi"].append({"Codice obiettivo": "2024_S03_01", "Codice settore": "S03",
                                  "Titolo": "Controlli sul territorio", "Tipologia": "Gestionale", "Peso": 90})
        data["Fasi"].append({"Codice obiettivo": "2024_S03_01", "N. fase": 1, "Descrizione": "Pattugliamento",
                             "Fine prevista": "2024-12-31", "Peso": 100})
    other = _other_env(tmp_path, change=add_s03)
    path = tmp_path / "r" / "s03.xlsx"
    path.parent.mkdir(parents=True)
    fill_return(other.templates["S03"], path, {"Obiettivi": [{"Codice obiettivo": "2024_S03_01", "Stato": "Concluso"}]})
    v = validate_returns(env.plan, [path])
    f = only(v, "I006", severity=ERROR, sheet="_pegxl", cell="B6", record="S03")
    assert "«S03»" in f.message


def test_i007_two_files_for_the_same_sector_neither_chosen(env, tmp_path):
    d = tmp_path / "restituiti"
    a = make_return(env, d / "2024_S01_affari-generali.xlsx")
    b = make_return(env, d / "2024_S01_affari-generali (1).xlsx",
                    with_values(CLEAN_S01, "Fasi", ("2024_S01_02", 1), avanzamento=90))
    s02 = make_return(env, d / "2024_S02_servizi-sociali.xlsx", sector="S02")
    v = validate_returns(env.plan, [d])
    i7 = [f for f in v.findings if f.code == "I007"]
    assert codes(v) == ["I007", "I007"]
    assert {f.file for f in i7} == {str(a), str(b)}
    for f in i7:
        assert (f.severity, f.record) == (ERROR, "S01")
        assert a.name in f.message and b.name in f.message
        assert len(re.findall(r"salvato il \d{2}/\d{2}/\d{4}", f.message)) == 2, f.message
    assert not v.usable(str(a)) and not v.usable(str(b)) and v.usable(str(s02))
    assert v.usable_sectors() == ["S02"]                         # neither S01 file chosen
    assert set(v.scores.objectives["sector"]) == {"S02"}


def test_i010_plan_changed_elsewhere_only_is_a_warning(env, tmp_path):
    def change_s02(data):   # the plan now: only S02's part changed since S01's template was made
        for p in data["Fasi"]:
            if p["Codice obiettivo"] == "2024_S02_01" and p["N. fase"] == 2:
                p["Descrizione"] = "Erogazione, monitoraggio e customer satisfaction"
    now = _other_env(tmp_path, change=change_s02)
    assert now.plan.fingerprint() != env.plan.fingerprint()
    assert now.plan.sector_fingerprint("S01") == env.plan.sector_fingerprint("S01")
    path = make_return(env, tmp_path / "r" / "s01.xlsx")     # from the earlier plan's template
    v = validate_returns(now.plan, [path])
    f = only(v, "I010", severity=WARNING, sheet="_pegxl", cell="B7", file=path)
    assert short(env.plan.fingerprint()) in f.message and short(now.plan.fingerprint()) in f.message
    assert v.usable(str(path)) and len(v.phases) == 4


# ------------------------------------------------------------------- CLI: JSON and exits

def _runner() -> CliRunner:
    return CliRunner()


def _corpus(env: Env, d: Path) -> tuple[Path, Path]:
    good = make_return(env, d / "2024_S02_servizi-sociali.xlsx", sector="S02")
    bad = make_return(env, d / "2024_S01_affari-generali.xlsx",
                      with_values(with_values(CLEAN_S01, "Fasi", ("2024_S01_01", 1), avanzamento=120),
                                  "Obiettivi", ("2024_S01_02",), stato="Finito"))
    return good, bad


def test_cli_json_report(env, tmp_path):
    good, bad = _corpus(env, tmp_path / "restituiti")
    res = _runner().invoke(main, ["validate", "--plan", str(env.plan_path), str(tmp_path / "restituiti"),
                                  "--format", "json"])
    assert res.exit_code == 1, res.output
    assert "Traceback" not in res.output
    doc = json.loads(res.stdout)
    assert doc["schema"] == "pegxl-report" and doc["version"] == "1" and doc["command"] == "validate"
    files = {Path(r["file"]).name: r for r in doc["files"]}
    assert files[good.name]["usable"] is True and files[good.name]["errors"] == 0
    assert files[bad.name]["usable"] is False and files[bad.name]["errors"] == 2
    assert files[good.name]["sector"] == "S02" and files[bad.name]["sector"] == "S01"
    assert files[bad.name]["sha256"] == hashlib.sha256(bad.read_bytes()).hexdigest()
    got = {(f["code"], f["sheet"], f["cell"], Path(f["file"]).name) for f in doc["findings"]}
    assert got == {("V001", "Fasi", "G2", bad.name), ("V005", "Obiettivi", "J3", bad.name)}
    assert all(f["severity"] == "errore" and f["message"] and f["hint"] for f in doc["findings"])
    assert doc["summary"] == {"files": 2, "errors": 2, "warnings": 0, "usable": 1}
    assert doc["missing_sectors"] == []


def test_cli_exit_0_when_every_file_is_usable(env, tmp_path):
    make_return(env, tmp_path / "r" / "2024_S01_affari-generali.xlsx")
    res = _runner().invoke(main, ["validate", "--plan", str(env.plan_path), str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    assert "utilizzabile" in res.output and "S02" in res.output   # the settore still missing is named
    res = _runner().invoke(main, ["validate", "--plan", str(env.plan_path), str(tmp_path / "r"), "--format", "json"])
    assert res.exit_code == 0
    doc = json.loads(res.stdout)
    assert doc["findings"] == [] and [r["usable"] for r in doc["files"]] == [True]
    assert doc["missing_sectors"] == ["S02"]


def test_cli_exit_1_with_problems_text(env, tmp_path):
    good, bad = _corpus(env, tmp_path / "r")
    res = _runner().invoke(main, ["validate", "--plan", str(env.plan_path), str(tmp_path / "r")])
    assert res.exit_code == 1
    assert "V001" in res.output and "cella G2" in res.output and "DA CORREGGERE" in res.output
    assert "Traceback" not in res.output


def test_cli_exit_2_for_a_bad_plan_or_no_files(env, tmp_path):
    def bad_weights(data):
        data["Fasi"][0]["Peso"] = 30          # 2024_S01_01's phases weigh 90
    bad_plan = write_plan(tmp_path / "piano_errato.xlsx", plan_variant(change=bad_weights))
    make_return(env, tmp_path / "r" / "2024_S01_affari-generali.xlsx")
    res = _runner().invoke(main, ["validate", "--plan", str(bad_plan), str(tmp_path / "r")])
    assert res.exit_code == 2 and "P007" in res.output and "Traceback" not in res.output
    (tmp_path / "vuota").mkdir()
    res = _runner().invoke(main, ["validate", "--plan", str(env.plan_path), str(tmp_path / "vuota")])
    assert res.exit_code == 2 and "U001" in res.output


# ---------------------------------------------------------------------------- annotate

def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_cli_annotate_writes_copies_and_never_touches_originals(env, tmp_path):
    d = tmp_path / "restituiti"
    good = make_return(env, d / "2024_S02_servizi-sociali.xlsx", sector="S02")
    bad = make_return(env, d / "2024_S01_affari-generali.xlsx",
                      with_values(with_values(CLEAN_S01, "Fasi", ("2024_S01_01", 1), avanzamento=120),
                                  "Obiettivi", ("2024_S01_02",), stato="Finito"),
                      edit=lambda wb: setattr(wb["Fasi"].protection, "sheet", False))
    before = {p: (_sha(p), p.stat().st_mtime_ns) for p in (good, bad)}
    out = tmp_path / "annotati"
    res = _runner().invoke(main, ["validate", "--plan", str(env.plan_path), str(d), "--annotate", str(out)])
    assert res.exit_code == 1, res.output
    assert {p: (_sha(p), p.stat().st_mtime_ns) for p in (good, bad)} == before
    assert sorted(p.name for p in d.iterdir()) == sorted([good.name, bad.name])
    # one copy per file with findings
    assert sorted(p.name for p in out.iterdir()) == [f"{bad.stem}_errori.xlsx"]

    v = validate_returns(env.plan, [d])
    copy_ = out / f"{bad.stem}_errori.xlsx"
    wb = openpyxl.load_workbook(copy_)
    assert wb.sheetnames[0] == "Errori" and wb.active.title == "Errori"
    for f in v.file_findings(str(bad)):
        if f.sheet and f.cell:
            c = wb[f.sheet][f.cell]
            want = S.ERROR_FILL if f.severity == ERROR else S.WARNING_FILL
            assert c.fill.fgColor.rgb.endswith(want.fgColor.rgb[-6:]), (f.code, f.cell, c.fill.fgColor.rgb)
            assert c.comment is not None and f.code in c.comment.text and f.message in c.comment.text
    for cell in ("G2",):
        assert wb["Fasi"][cell].comment is not None and "V001" in wb["Fasi"][cell].comment.text
    assert "V005" in wb["Obiettivi"]["J3"].comment.text
    # the Errori sheet: one row per finding, hyperlinks to existing cells
    ws = wb["Errori"]
    header = [c.value for c in ws[1]]
    assert header[:4] == ["Codice", "Gravità", "Foglio", "Cella"]
    rows = [r for r in ws.iter_rows(min_row=2) if r[0].value and re.fullmatch(r"[A-Z]\d{3}", str(r[0].value))]
    assert sorted(r[0].value for r in rows) == sorted(f.code for f in v.file_findings(str(bad)))
    links = [r[3].hyperlink for r in rows if r[3].hyperlink is not None]
    assert links, "no hyperlink in Errori"
    for link in links:
        m = re.fullmatch(r"'([^']+)'!([A-Z]+[0-9]+)", link.location)
        assert m, link.location
        sheet, ref = m.groups()
        assert sheet in wb.sheetnames
        target = wb[sheet][ref]
        assert target.comment is not None and target.comment.author == "pegxl"
    # the copy is still a return pegxl can read (sheets, identity): only the Errori sheet added
    assert set(wb.sheetnames) - {"Errori"} == set(openpyxl.load_workbook(bad).sheetnames)


def test_a_postponed_objective_needs_no_progress_and_context_values_only_warn(tmp_path):
    """Rinviato / Non valutabile objectives have no grade: blank phases and indicators are
    fine; a blank CONTESTO value (never scored) is a warning even in the final report."""
    from pegxl.templates import fill_return, generate_templates, template_name
    from pegxl.validators.returns import validate_returns
    from pegxl.validators.plan import check_plan
    from pegxl.workbook.planfile import write_plan
    plan_path = write_plan(tmp_path / "piano.xlsx", {
        "Ente": [["Ente", "Comune di Prova"], ["Anno", 2024], ["Fase del ciclo", "Rendicontazione finale"]],
        "Settori": [{"Codice settore": "S01", "Settore": "Affari generali", "Responsabile": "Rossi"}],
        "Obiettivi": [{"Codice obiettivo": "O1", "Codice settore": "S01", "Titolo": "Gemellaggi", "Tipologia": "Gestionale"},
                      {"Codice obiettivo": "O2", "Codice settore": "S01", "Titolo": "Anagrafe", "Tipologia": "Gestionale"}],
        "Fasi": [{"Codice obiettivo": "O1", "N. fase": 1, "Descrizione": "Visita", "Fine prevista": "2024-06-30", "Peso": 100},
                 {"Codice obiettivo": "O2", "N. fase": 1, "Descrizione": "Pratiche", "Fine prevista": "2024-06-30", "Peso": 100}],
        "Indicatori": [
            {"Codice obiettivo": "O1", "N. indicatore": 1, "Descrizione": "Incontri", "Tipo": "EFFICACIA",
             "Tipo valore": "numero", "Valore atteso": 2},
            {"Codice obiettivo": "O2", "N. indicatore": 1, "Descrizione": "Residenti", "Tipo": "CONTESTO",
             "Tipo valore": "numero", "Valore atteso": 30000},
            {"Codice obiettivo": "O2", "N. indicatore": 2, "Descrizione": "Pratiche evase", "Tipo": "EFFICIENZA",
             "Tipo valore": "numero", "Valore atteso": 100}],
    })
    plan, findings = check_plan(plan_path)
    assert not [f for f in findings if f.is_error]
    [template] = generate_templates(plan, tmp_path / "modelli")
    out = tmp_path / "ritorni" / template_name(plan, "S01")
    fill_return(template, out, {
        "Obiettivi": [{"Codice obiettivo": "O1", "Stato": "Rinviato",
                       "Motivazione scostamento": "Visita annullata dal comune gemellato"},
                      {"Codice obiettivo": "O2", "Stato": "Concluso"}],
        "Fasi": [{"Codice obiettivo": "O2", "N. fase": 1, "Avanzamento %": 100}],
        "Indicatori": [{"Codice obiettivo": "O2", "N. indicatore": 2, "Valore raggiunto": 120}],
    })
    v = validate_returns(plan, [out])
    assert v.usable(str(out))
    assert [(f.code, f.record) for f in v.findings] == [("V011", "O2 indicatore 1")]


def test_i007_only_duplicated_sectors_is_reported_not_a_crash(env, tmp_path):
    # a settore that sends both its .xlsx and a copy (or the .ods): every settore of the
    # folder has two files, so nothing is scored, and each file still gets its I007
    d = tmp_path / "restituiti"
    a = make_return(env, d / "2024_S01_affari-generali.xlsx")
    b = make_return(env, d / "2024_S01_affari-generali (copia).xlsx")
    v = validate_returns(env.plan, [d])
    assert codes(v) == ["I007", "I007"]
    assert {f.file for f in v.findings} == {str(a), str(b)}
    assert v.usable_sectors() == []
    r = CliRunner().invoke(main, ["validate", "--plan", str(env.plan_path), str(d)])
    assert r.exit_code == 1, r.output
    assert "I007" in r.output and "imprevisto" not in r.output


# ---------------------------------------------------------- annotated copies: review fixes

def _formulas_in(path: Path) -> list[tuple[str, str, str]]:
    wb = openpyxl.load_workbook(path)
    return [(ws.title, c.coordinate, c.value) for ws in wb for row in ws.iter_rows() for c in row
            if c.data_type == "f"]


def test_annotated_copies_of_files_with_the_same_name_never_overwrite_each_other(env, tmp_path):
    # the same settore's file saved twice with one name in two folders (or as .xlsx and
    # .xlsm): two copies, each with its own file's findings
    a = make_return(env, tmp_path / "posta" / "2024_S01_affari-generali.xlsx",
                    with_values(CLEAN_S01, "Fasi", ("2024_S01_01", 1), avanzamento=120))
    b = make_return(env, tmp_path / "pec" / "2024_S01_affari-generali.xlsx")
    c = tmp_path / "pec" / "2024_S01_affari-generali.xlsm"
    c.write_bytes(b.read_bytes())
    out = tmp_path / "annotati"
    res = _runner().invoke(main, ["validate", "--plan", str(env.plan_path), str(a), str(b), str(c),
                                  "--annotate", str(out)])
    assert res.exit_code == 1, res.output
    written = sorted(p.name for p in out.iterdir())
    assert len(written) == 3, written
    assert "2024_S01_affari-generali_xlsm_errori.xlsx" in written
    texts = {}
    for p in out.iterdir():
        ws = openpyxl.load_workbook(p)["Errori"]
        texts[p.name] = [r[0].value for r in ws.iter_rows(min_row=2)
                         if r[0].value and re.fullmatch(r"[A-Z]\d{3}", str(r[0].value))]
    assert sorted(tuple(sorted(v_)) for v_ in texts.values() if "V001" in v_) == [("I007", "V001")]


def test_annotated_copy_writes_codes_typed_by_a_settore_as_text_not_formulas(env, tmp_path):
    def add_row(wb):
        ws = wb["Indicatori"]
        r = ws.max_row + 1
        ws.cell(row=r, column=1, value='=HYPERLINK("http://evil.example","clicca")').data_type = "s"
        ws.cell(row=r, column=2, value=1)
        ws.cell(row=r, column=9, value=5)
    bad = make_return(env, tmp_path / "r" / "2024_S01_affari-generali.xlsx", edit=add_row)
    v = validate_returns(env.plan, [bad])
    assert "T004" in codes(v)
    from pegxl.annotate import annotate_files
    (copy_,) = annotate_files(v.findings, tmp_path / "annotati")
    errori = [f for f in _formulas_in(copy_) if f[0] == "Errori"]
    assert errori == []
    ws = openpyxl.load_workbook(copy_)["Errori"]
    assert any(str(r[4].value).startswith("=HYPERLINK") for r in ws.iter_rows(min_row=2))


def _minimal_ods(path: Path, sheets: dict[str, list[list[Any]]]) -> Path:
    """A bare .ods (content.xml only), as another spreadsheet program might write it."""
    import zipfile
    from xml.sax.saxutils import escape
    body = []
    for name, rows in sheets.items():
        body.append(f'<table:table table:name="{escape(name)}">')
        for row in rows:
            body.append("<table:table-row>")
            for v in row:
                if v is None:
                    body.append("<table:table-cell/>")
                elif isinstance(v, (int, float)):
                    body.append(f'<table:table-cell office:value-type="float" office:value="{v}">'
                                f"<text:p>{v}</text:p></table:table-cell>")
                else:
                    body.append(f'<table:table-cell office:value-type="string"><text:p>{escape(v)}</text:p>'
                                "</table:table-cell>")
            body.append("</table:table-row>")
        body.append("</table:table>")
    content = ('<?xml version="1.0" encoding="UTF-8"?><office:document-content '
               'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
               'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
               'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
               "<office:body><office:spreadsheet>" + "".join(body)
               + "</office:spreadsheet></office:body></office:document-content>")
    manifest = ('<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
                'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
                '<manifest:file-entry manifest:full-path="/" '
                'manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
                '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
                "</manifest:manifest>")
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet", compress_type=zipfile.ZIP_STORED)
        z.writestr("META-INF/manifest.xml", manifest, compress_type=zipfile.ZIP_DEFLATED)
        z.writestr("content.xml", content, compress_type=zipfile.ZIP_DEFLATED)
    return path


def test_annotated_copy_of_an_ods_keeps_formula_like_text_as_text(tmp_path):
    from pegxl.annotate import annotate_file
    from pegxl.errors import finding
    ods = _minimal_ods(tmp_path / "2024_S01.ods", {"Obiettivi": [
        ["Codice obiettivo", "Relazione"], ["O1", '=HYPERLINK("http://evil.example","clicca")'], ["O2", 5]]})
    f = finding(ErrorCode.V005, file=str(ods), sheet="Obiettivi", cell="B3", value="x", allowed="a")
    out = annotate_file(ods, [f], tmp_path / "annotati" / "2024_S01_errori.xlsx")
    assert _formulas_in(out) == []
    ws = openpyxl.load_workbook(out)["Obiettivi"]
    assert ws["B2"].value == '=HYPERLINK("http://evil.example","clicca")' and ws["B3"].value == 5


def test_annotated_copy_of_a_macro_workbook_is_an_xlsx_excel_can_open(env, tmp_path):
    import zipfile
    src = make_return(env, tmp_path / "r" / "x.xlsx", with_values(CLEAN_S01, "Fasi", ("2024_S01_01", 1),
                                                                    avanzamento=120))
    xlsm = tmp_path / "r" / "2024_S01_affari-generali.xlsm"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(xlsm, "w", zipfile.ZIP_DEFLATED) as zo:
        for it in zin.infolist():
            data = zin.read(it.filename)
            if it.filename == "[Content_Types].xml":
                data = data.replace(b"spreadsheetml.sheet.main+xml", b"PLACEHOLDER").replace(
                    b"application/vnd.openxmlformats-officedocument.PLACEHOLDER",
                    b"application/vnd.ms-excel.sheet.macroEnabled.main+xml")
                data = data.replace(b"</Types>", b'<Default Extension="bin" '
                                    b'ContentType="application/vnd.ms-office.vbaProject"/></Types>')
            if it.filename == "xl/_rels/workbook.xml.rels":
                data = data.replace(b"</Relationships>", b'<Relationship Id="rIdVBA" Type="http://schemas.'
                                    b'microsoft.com/office/2006/relationships/vbaProject" '
                                    b'Target="vbaProject.bin"/></Relationships>')
            zo.writestr(it, data)
        zo.writestr("xl/vbaProject.bin", b"\xd0\xcf\x11\xe0" + b"\0" * 1000)
    src.unlink()
    v = validate_returns(env.plan, [xlsm])
    assert "V001" in codes(v)
    from pegxl.annotate import annotate_files
    (copy_,) = annotate_files(v.findings, tmp_path / "annotati")
    assert copy_.suffix == ".xlsx"
    with zipfile.ZipFile(copy_) as z:
        assert not [n for n in z.namelist() if "vba" in n.lower()]
        assert b"macroEnabled" not in z.read("[Content_Types].xml")


# ------------------------------------------------------- dates as bare day numbers, 1904

def _bare_numbers(epoch_1904: bool):
    """Fasi I2 (Fine effettiva, 2024_S01_01 fase 1) and Indicatori I5 (data indicator) hold
    the day numbers of 26/04/2024 and 15/09/2024 in a cell with no date format, as after a
    paste of values; with epoch_1904 the workbook counts days from 1904 (Excel for Mac)."""
    from openpyxl.utils.datetime import CALENDAR_MAC_1904
    base = D(1904, 1, 1) if epoch_1904 else D(1899, 12, 30)

    def edit(wb):
        if epoch_1904:
            wb.epoch = CALENDAR_MAC_1904   # every real date cell is rewritten in the 1904 system
        for sheet, ref, day in (("Fasi", "I2", D(2024, 4, 26)), ("Indicatori", "I5", D(2024, 9, 15))):
            c = wb[sheet][ref]
            c.value = (day - base).days
            c.number_format = "General"
    return edit


@pytest.mark.parametrize("epoch_1904", [False, True])
def test_v017_date_typed_as_a_day_number_is_read_in_the_workbook_date_system(env, tmp_path, epoch_1904):
    v, path = validate_one(env, tmp_path, edit=_bare_numbers(epoch_1904))
    assert v.files[0].epoch_1904 is epoch_1904
    assert codes(v) == ["V017", "V017"], [str(f) for f in v.findings]
    by_cell = {(f.sheet, f.cell): f for f in v.findings}
    assert "26/04/2024" in by_cell[("Fasi", "I2")].message
    assert "15/09/2024" in by_cell[("Indicatori", "I5")].message
    assert "numero senza formato data" in by_cell[("Fasi", "I2")].message
    assert record(v, "Fasi", "2024_S01_01 fase 1")["actual_end"] == D(2024, 4, 26)
    assert record(v, "Indicatori", "2024_S01_02 indicatore 2")["achieved"] == D(2024, 9, 15)
    # the real date cells of a 1904 workbook (Inizio effettivo, the locked Fine prevista) are right
    assert record(v, "Fasi", "2024_S01_01 fase 1")["actual_start"] == D(2024, 1, 20)
    assert v.usable(str(path))


def test_v018_percent_formatted_number_for_a_numero_indicator_is_kept_but_warned(env, tmp_path):
    def edit(wb):
        c = wb["Indicatori"]["I2"]      # 2024_S01_01 indicatore 1: numero >= 20
        c.value = 0.95
        c.number_format = "0%"          # Excel shows 95%
    v, path = validate_one(env, tmp_path, edit=edit)
    f = only(v, "V018", severity=WARNING, sheet="Indicatori", cell="I2", record="2024_S01_01 indicatore 1")
    assert "«95%»" in f.message and "0,95" in f.message and "95" in f.hint
    assert record(v, "Indicatori", "2024_S01_01 indicatore 1")["achieved"] == pytest.approx(0.95)
    assert v.usable(str(path))


def test_v016_concluded_with_a_phase_behind_names_the_lowest_phase(env, tmp_path):
    v, path = validate_one(env, tmp_path, with_values(CLEAN_S01, "Obiettivi", ("2024_S01_02",), stato="Concluso"))
    f = only(v, "V016", severity=WARNING, sheet="Obiettivi", cell="J3", record="2024_S01_02")
    assert "una fase" in f.message and "75,5%" in f.message   # the lowest phase, not "the phases"


def test_a_number_typed_as_text_that_overflows_is_v006_not_a_crash(env, tmp_path):
    v, path = validate_one(env, tmp_path, with_values(CLEAN_S01, "Indicatori", ("2024_S01_02", 1),
                                                       raggiunto="1e400"))
    only(v, "V006", severity=ERROR, sheet="Indicatori", cell="I4", record="2024_S01_02 indicatore 1")
    r = _runner().invoke(main, ["validate", "--plan", str(env.plan_path), str(path)])
    assert r.exit_code == 1 and "V006" in r.output and "imprevisto" not in r.output, r.output


def test_cli_json_when_the_command_stops_is_still_json_on_stdout(env, tmp_path):
    # a script that asked for --format json must not get Italian text on stderr and
    # nothing on stdout when the plan has errors or no file is found (as plan check does)
    def bad_weights(data):
        data["Fasi"][0]["Peso"] = 30
    bad_plan = write_plan(tmp_path / "piano_errato.xlsx", plan_variant(change=bad_weights))
    make_return(env, tmp_path / "r" / "2024_S01_affari-generali.xlsx")
    (tmp_path / "vuota").mkdir()
    for args, code in ((["--plan", str(bad_plan), str(tmp_path / "r")], "P007"),
                       (["--plan", str(env.plan_path), str(tmp_path / "vuota")], "U001")):
        res = _runner().invoke(main, ["validate", *args, "--format", "json"])
        assert res.exit_code == 2, res.output
        doc = json.loads(res.stdout)
        assert doc["schema"] == "pegxl-report" and doc["command"] == "validate"
        assert code in {f["code"] for f in doc["findings"]} and doc["summary"]["errors"] >= 1


def test_the_plan_kept_in_the_returns_folder_is_not_a_return(env, tmp_path):
    import shutil
    d = tmp_path / "ciclo"
    s01 = make_return(env, d / "2024_S01_affari-generali.xlsx")
    plan_copy = Path(shutil.copy(env.plan_path, d / "piano.xlsx"))
    from pegxl.validators.plan import check_plan as _check
    plan, _ = _check(plan_copy)
    v = validate_returns(plan, [d])
    assert [rf.path for rf in v.files] == [str(s01)]
    assert "I001" not in codes(v)
    res = _runner().invoke(main, ["validate", "--plan", str(plan_copy), str(d)])
    assert res.exit_code == 0 and "piano.xlsx" not in res.output and "I001" not in res.output, res.output


def test_a_closed_pipe_is_not_an_unexpected_error(env, tmp_path, monkeypatch):
    # `pegxl validate ... | head`: head goes away while the report is written
    import pegxl.cli as cli_mod
    path = make_return(env, tmp_path / "r" / "2024_S01_affari-generali.xlsx")

    def closed(*a, **k):
        raise BrokenPipeError(32, "Broken pipe")
    monkeypatch.setattr(cli_mod, "echo", closed)
    res = _runner().invoke(main, ["validate", "--plan", str(env.plan_path), str(path)])
    assert res.exit_code == 141 and "imprevisto" not in res.output and "Traceback" not in res.output


@pytest.mark.parametrize("sheet,key,header,cell,value", [
    ("Fasi", ("2024_S01_01", 1), "avanzamento", "G2", 0.5),
    ("Obiettivi", ("2024_S01_02",), "dichiarato", "K3", 0.7),
    ("Indicatori", ("2024_T_01", 1), "raggiunto", "I6", 0.925),     # percentuale, target 90
])
def test_v019_a_fraction_in_a_percent_figure_is_kept_but_warned(env, tmp_path, sheet, key, header, cell, value):
    v, path = validate_one(env, tmp_path, with_values(CLEAN_S01, sheet, key, **{header: value}))
    f = [x for x in v.findings if x.code == "V019"]
    assert len(f) == 1 and (f[0].sheet, f[0].cell) == (sheet, cell), [str(x) for x in v.findings]
    assert show_value(value * 100) in f[0].message
    assert not any(x.is_error for x in v.findings)
    column = {"Fasi": "progress", "Obiettivi": "declared", "Indicatori": "achieved"}[sheet]
    table = {"Fasi": v.phases, "Obiettivi": v.objectives, "Indicatori": v.indicators}[sheet]
    rec = table[table["record"] == f[0].record].iloc[0]
    assert rec[column] == pytest.approx(value)           # never changed in silence, nor at all


def test_v020_an_error_value_pasted_into_a_cell_is_not_called_missing(env, tmp_path):
    # «Incolla valori» of a formula that failed leaves #DIV/0! in the cell: the settore sees
    # it, so "Manca «Valore raggiunto»" (V010) would be wrong
    def edit(wb):
        wb["Indicatori"]["I2"] = "#DIV/0!"        # openpyxl stores an error value (t="e")
        wb["Fasi"]["G2"] = "#N/A"
    v, path = validate_one(env, tmp_path, edit=edit)
    assert codes(v) == ["V020", "V020"], [str(f) for f in v.findings]
    by_cell = {(f.sheet, f.cell): f for f in v.findings}
    assert "#DIV/0!" in by_cell[("Indicatori", "I2")].message
    assert "#N/A" in by_cell[("Fasi", "G2")].message
    assert not v.usable(str(path))


# ------------------------------------- objectives the averages leave out (scoring.md, issue 10)

def _text_only_objective(data: dict) -> None:
    """S01 gets a third objective whose only indicator is testo: nothing computable."""
    for o in data["Obiettivi"]:
        if o["Codice obiettivo"] == "2024_S01_02":
            o["Peso"] = 20
    data["Obiettivi"].insert(2, {"Codice obiettivo": "2024_S01_03", "Codice settore": "S01",
                                 "Titolo": "Carta dei servizi", "Tipologia": "Gestionale", "Peso": 10})
    data["Indicatori"].append({"Codice obiettivo": "2024_S01_03", "N. indicatore": 1,
                               "Descrizione": "Qualità della carta dei servizi", "Tipo": "QUALITATIVO",
                               "Tipo valore": "testo", "Valore atteso": "Carta approvata"})


def _text_only_inputs(declared: Any = None) -> dict:
    inputs = copy.deepcopy(CLEAN_S01)
    obj = {"Codice obiettivo": "2024_S01_03", "Stato": "Concluso", "Relazione": "Carta approvata."}
    if declared is not None:
        obj["Grado dichiarato %"] = declared
    inputs["Obiettivi"].insert(2, obj)
    inputs["Indicatori"].append({"Codice obiettivo": "2024_S01_03", "N. indicatore": 1,
                                 "Valore raggiunto": "Carta approvata con DG 45/2024"})
    return inputs


@pytest.mark.parametrize("fase, code, severity", [("Rendicontazione finale", "V040", ERROR),
                                                  ("Monitoraggio intermedio", "V041", WARNING)])
def test_v040_v041_nothing_computable_and_no_declared_grade(tmp_path, fase, code, severity):
    env = make_env(tmp_path / "env", plan_variant(_text_only_objective, fase=fase))
    v, _ = validate_one(env, tmp_path, _text_only_inputs())
    cell = record(v, "Obiettivi", "2024_S01_03")["declared_cell"]
    f = only(v, code, severity=severity, sheet="Obiettivi", cell=cell)
    assert "2024_S01_03" in (f.record or "") and "testo" in f.message
    # the merge figures show it, with its reason, left out of the averages
    o = v.scores.objectives.set_index("objective").loc["2024_S01_03"]
    assert o["excluded_reason"] == "nessun dato" and not o["counted"]
    # declaring the grade is the fix
    v, _ = validate_one(env, tmp_path / "ok", _text_only_inputs(declared=80))
    assert code not in codes(v)


def _neutralise_s01_02(data: dict) -> None:
    for sheet, col in (("Fasi", "Neutralizzata"), ("Indicatori", "Neutralizzato")):
        for r in data[sheet]:
            if r["Codice obiettivo"] == "2024_S01_02":
                r[col] = "sì"
                r["Motivo neutralizzazione"] = "Causa esterna al settore"


def test_v042_declared_grade_of_a_fully_neutralised_objective(tmp_path):
    env = make_env(tmp_path / "env", plan_variant(_neutralise_s01_02))
    v, _ = validate_one(env, tmp_path, CLEAN_S01)     # 2024_S01_02 declares 70
    cell = record(v, "Obiettivi", "2024_S01_02")["declared_cell"]
    f = [f for f in v.findings if f.code == "V042"]
    assert len(f) == 1 and (f[0].sheet, f[0].cell, f[0].severity) == ("Obiettivi", cell, WARNING), \
        [str(x) for x in v.findings]
    assert "70" in f[0].message
    o = v.scores.objectives.set_index("objective").loc["2024_S01_02"]
    assert o["status"] == "Non valutabile" and o["excluded_reason"] == "fasi e indicatori neutralizzati"
    assert not o["counted"]


def test_t007_protection_removed_from_the_riepilogo(env, tmp_path):
    """The Riepilogo's values are not read (only computed cells): its protection is
    told by the scan all the same."""
    def edit(wb):
        wb["Riepilogo"].protection.sheet = False
    v, path = validate_one(env, tmp_path, edit=edit)
    only(v, "T007", severity=WARNING, sheet="Riepilogo", cell=None)
    assert v.usable(str(path))
