"""Snapshots (issue 14, point 2): a Monitoraggio intermedio at 30/06 and the Rendicontazione
finale of the same year on the demo ente, through the public API -- the monitoring merged
and archived with its Data di riferimento, the final templates showing its values in locked
reference columns, validate warning when a progress went back or a result worsened, and at
monitoring when a phase is past its Fine prevista."""
from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json
import sqlite3
from collections import Counter
from pathlib import Path

import pytest
from openpyxl import load_workbook

from pegxl import archive as A
from pegxl import flows
from pegxl.archive.snapshots import previous_snapshot, snapshots
from pegxl.demo import demo_data
from pegxl.errors import ErrorCode
from pegxl.synth import monitoring_inputs, plan_at
from pegxl.templates import template_name
from pegxl.templates.fill import fill_return
from pegxl.validators.progress import progress_findings, worsened
from pegxl.workbook.planfile import write_plan

JUNE = dt.date(2024, 6, 30)
DEC = dt.date(2024, 12, 31)
MON, FIN = "Monitoraggio intermedio", "Rendicontazione finale"
S = "S08"
PHASE = ("2024_S08_01", 2)        # ends 31/12: 100 at the end, 50 at 30/06; the final says 40
INDICATOR = ("2024_S08_01", 2)    # numero, >= 6: 10 at 30/06, the final says 4
LATE = ("2024_S02_03", 4)         # Fine prevista 30/04/2024: at 30/06 only 60 done
DUE = ("2024_S02_03", 3)          # Fine prevista 30/06/2024: due that very day, not late


def _fill(plan, templates: list[Path], inputs: dict, outdir: Path) -> list[Path]:
    outdir.mkdir(parents=True, exist_ok=True)
    by_sector = dict(zip(plan.sector_codes, templates))
    return [fill_return(by_sector[s], outdir / template_name(plan, s), inputs[s])
            for s in plan.sector_codes if s in inputs]


def _row(rows: list[dict], key: tuple, n_header: str) -> dict:
    return next(r for r in rows if (r["Codice obiettivo"], r[n_header]) == key)


@pytest.fixture(scope="module")
def cycle(tmp_path_factory):
    """Monitoring at 30/06 merged into the archive; final templates generated from it; the
    final returns (the demo's, with PHASE gone back and INDICATOR fallen) filled."""
    base = tmp_path_factory.mktemp("snapshots")
    data, finals = demo_data()
    db = base / A.DEFAULT_DB_NAME
    mon = flows.checked_plan(write_plan(base / "piano-monitoraggio.xlsx", plan_at(data, MON, JUNE)))
    mon_inputs = monitoring_inputs(data, finals, JUNE)
    _row(mon_inputs["S02"]["Fasi"], LATE, "N. fase")["Avanzamento %"] = 60
    _row(mon_inputs["S02"]["Fasi"], DUE, "N. fase")["Avanzamento %"] = 60
    mon_templates = flows.make_templates(mon, base / "mon" / "modelli", jobs=1)
    _fill(mon, mon_templates, mon_inputs, base / "mon" / "restituiti")
    mon_checked = flows.validate(mon, [base / "mon" / "restituiti"], jobs=1)
    mon_merge = flows.merge_cycle(mon, [base / "mon" / "restituiti"], base / "mon" / "consolidato", jobs=1)

    fin = flows.checked_plan(write_plan(base / "piano.xlsx", plan_at(data, FIN, DEC)))
    fin_templates = flows.make_templates(fin, base / "modelli", jobs=1)
    fin_inputs = copy.deepcopy(finals)
    _row(fin_inputs[S]["Fasi"], PHASE, "N. fase")["Avanzamento %"] = 40
    _row(fin_inputs[S]["Indicatori"], INDICATOR, "N. indicatore")["Valore raggiunto"] = 4
    _fill(fin, fin_templates, fin_inputs, base / "restituiti")
    return {"base": base, "db": db, "mon": mon, "fin": fin, "mon_inputs": mon_inputs,
            "mon_checked": mon_checked, "mon_merge": mon_merge, "fin_templates": fin_templates,
            "fin_inputs": fin_inputs}


def _by_code(findings, code: ErrorCode):
    return [f for f in findings if f.is_(code)]


# ------------------------------------------------------------------ the archive

def test_the_monitoring_is_archived_as_a_snapshot_with_its_reference_date(cycle):
    assert cycle["mon_merge"].archived.reference_date == "2024-06-30"
    snaps = snapshots(cycle["db"], cycle["mon"].ente, 2024)
    assert list(zip(snaps["fase"], snaps["reference_date"])) == [(MON, "2024-06-30")]
    assert previous_snapshot(cycle["db"], cycle["mon"]) is None      # nothing before it
    prev = previous_snapshot(cycle["db"], cycle["fin"])
    assert prev is not None and prev.fase == MON and prev.reference_date == JUNE
    assert prev.phases[(S, *PHASE)] == 50.0 and prev.indicators[(S, *INDICATOR)] == 10.0
    assert prev.indicators[(S, "2024_S08_01", 3)] is True                  # sì/no as read


def _cycle_row(conn, ente, fase, ref, kind="merge", version=1, anno=2024):
    conn.execute("INSERT INTO cycles (ente, anno, fase, kind, version, created_at, plan_fingerprint, "
                 "rules_json, format_version, reference_date) VALUES (?, ?, ?, ?, ?, '2024-01-01', 'x', '[]', "
                 "'1.0', ?)", (ente, anno, fase, kind, version, ref))


def test_snapshots_are_ordered_by_fase_then_reference_date(tmp_path, cycle):
    db = tmp_path / "a.sqlite"
    conn = A.connect(db)
    with conn:
        _cycle_row(conn, "E", FIN, "2024-12-31")
        _cycle_row(conn, "E", MON, "2024-09-30", version=2)
        _cycle_row(conn, "E", MON, "2024-06-30")
        _cycle_row(conn, "E", MON, "2024-06-30", kind="oiv")
        _cycle_row(conn, "E", MON, "2023-06-30", anno=2023)          # another year: never a snapshot of 2024
    conn.close()
    snaps = snapshots(db, "E", 2024)
    assert list(zip(snaps["fase"], snaps["reference_date"], snaps["kind"])) == [
        (MON, "2024-06-30", "merge"), (MON, "2024-09-30", "merge"), (FIN, "2024-12-31", "merge")]

    def plan(fase, ref):
        return dataclasses.replace(cycle["fin"], ente="E", fase=fase, reference_date=ref)
    assert previous_snapshot(db, plan(MON, JUNE)) is None
    assert previous_snapshot(db, plan(MON, dt.date(2024, 9, 30))).reference_date == JUNE
    assert previous_snapshot(db, plan(FIN, DEC)).reference_date == dt.date(2024, 9, 30)
    # the final report comes after every monitoring, whatever their dates
    assert previous_snapshot(db, plan(FIN, dt.date(2024, 9, 1))).reference_date == dt.date(2024, 9, 30)
    # a final report archived without a date (before schema 3) is the same snapshot, not an earlier one
    conn = A.connect(db)
    with conn:
        _cycle_row(conn, "E", FIN, None, version=2)
    conn.close()
    assert previous_snapshot(db, plan(FIN, DEC)).reference_date == dt.date(2024, 9, 30)


def test_an_archive_of_schema_2_is_upgraded_and_keeps_its_cycles(tmp_path, cycle):
    db = tmp_path / "schema2.sqlite"
    schema2 = (A._SCHEMA.replace("    reference_date TEXT,\n", "")
               .replace("CREATE INDEX IF NOT EXISTS cycles_snapshot ON cycles (ente, anno, reference_date);\n", ""))
    assert schema2 != A._SCHEMA
    with sqlite3.connect(db) as conn:
        conn.executescript(schema2)
        conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', '2')")
        conn.execute("INSERT INTO cycles (ente, anno, fase, kind, version, created_at, plan_fingerprint, "
                     "rules_json, format_version) VALUES ('E', 2024, ?, 'merge', 1, '2024-07-10', 'x', '[]', '1.0')",
                     (MON,))
        conn.execute("INSERT INTO phases (cycle_id, sector, objective, phase, progress) VALUES (1, 'S01', 'O1', 1, 70)")
    A.connect(db).close()
    with sqlite3.connect(db) as conn:
        cols = {r[1] for r in conn.execute("PRAGMA table_info(cycles)")}
        version = int(conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0])
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert "reference_date" in cols and version == A.SCHEMA_VERSION >= 3 and "cycles_snapshot" in indexes
    # the old monitoring has no date: still a snapshot, before the final report of its year
    snaps = snapshots(db, "E", 2024)
    assert list(zip(snaps["fase"], snaps["reference_date"])) == [(MON, None)]
    prev = previous_snapshot(db, dataclasses.replace(cycle["fin"], ente="E"))
    assert prev is not None and prev.reference_date is None and prev.phases == {("S01", "O1", 1): 70.0}
    assert prev.when == "monitoraggio" and prev.progress_header == "Avanzamento al monitoraggio"
    assert prev.at == "nel Monitoraggio intermedio precedente"
    # and a new cycle is stored with its date beside it
    conn = A.connect(db)
    with conn:
        _cycle_row(conn, "E", MON, "2024-09-30", version=2)
    conn.close()
    assert list(snapshots(db, "E", 2024)["reference_date"]) == [None, "2024-09-30"]


# ------------------------------------------------------------------ the templates

def _sheet_rows(path: Path, sheet: str) -> tuple[list, list[list], object]:
    ws = load_workbook(path)[sheet]
    rows = [[c for c in r] for r in ws.iter_rows()]
    return [c.value for c in rows[0]], rows[1:], ws


def test_final_templates_show_the_monitoring_values_in_locked_reference_columns(cycle):
    fin = cycle["fin"]
    path = dict(zip(fin.sector_codes, cycle["fin_templates"]))[S]
    head, rows, ws = _sheet_rows(path, "Fasi")
    assert head[-1] == "Avanzamento al 30/06" and head[:-1][-1] == "Note" and ws.protection.sheet
    col = head.index("Avanzamento al 30/06")
    mon_phases = {(f["Codice obiettivo"], f["N. fase"]): f["Avanzamento %"] for f in cycle["mon_inputs"][S]["Fasi"]}
    seen = {(r[0].value, r[1].value): r[col] for r in rows if r[0].value}
    assert seen[PHASE].value == 50 and seen[PHASE].protection.locked
    assert {k: c.value for k, c in seen.items()} == mon_phases     # every phase, as typed at 30/06
    head, rows, ws = _sheet_rows(path, "Indicatori")
    assert head[-1] == "Raggiunto al 30/06"
    col = head.index("Raggiunto al 30/06")
    seen = {(r[0].value, r[1].value): r[col] for r in rows if r[0].value}
    assert seen[INDICATOR].value == 10 and seen[INDICATOR].protection.locked
    assert seen[("2024_S08_01", 3)].value == "sì"          # «fatto» typed, read as sì
    date = seen[("2024_S08_06", 6)]                          # «27/06/2024» typed as text, read as a date
    assert date.value == dt.datetime(2024, 6, 27) and date.number_format == "DD/MM/YYYY" and date.protection.locked
    text = " ".join(str(c.value) for r in load_workbook(path)["Istruzioni"].iter_rows() for c in r if c.value)
    assert "«Avanzamento al 30/06»" in text and "30/06/2024" in text


def test_monitoring_templates_have_no_reference_columns(cycle):
    head, _, _ = _sheet_rows(cycle["base"] / "mon" / "modelli" / template_name(cycle["mon"], S), "Fasi")
    assert head[-1] == "Note"


# ------------------------------------------------------------------ validate

def test_validate_warns_when_a_progress_went_back_and_a_result_fell(cycle):
    fin = cycle["fin"]
    v = flows.validate(fin, [cycle["base"] / "restituiti"], jobs=1, db=cycle["db"]).validation
    back, fell = _by_code(v.findings, ErrorCode.V043), _by_code(v.findings, ErrorCode.V044)
    assert len(back) == 1 and len(fell) == 1, [(f.code, f.record) for f in back + fell]
    b, f = back[0], fell[0]
    assert b.severity == "avviso" and not v.findings[0].is_error
    assert Path(b.file).name == template_name(fin, S) and b.sheet == "Fasi" and b.cell == "G3"
    assert b.record == "2024_S08_01 fase 2"
    assert b.message == ("L'Avanzamento % è 40% al 31/12/2024, ma era 50% al 30/06/2024: "
                         "l'avanzamento è tornato indietro.")
    assert f.sheet == "Indicatori" and f.cell == "I3" and f.record == "2024_S08_01 indicatore 2"
    assert f.message == ("Il Valore raggiunto è 4 al 31/12/2024, ma era 10 al 30/06/2024: il risultato si è "
                         "allontanato dal Valore atteso 6 (Verso >=, più è meglio: il valore è sceso).")
    # a plan without Data di riferimento: the fase says when
    undated = progress_findings(dataclasses.replace(fin, reference_date=None), v.phases, v.indicators,
                                previous_snapshot(cycle["db"], fin))
    assert [x.message for x in undated if x.is_(ErrorCode.V043)] == [
        "L'Avanzamento % è 40% nella Rendicontazione finale, ma era 50% al 30/06/2024: "
        "l'avanzamento è tornato indietro."]
    # without the archive nothing is compared
    alone = flows.validate(fin, [cycle["base"] / "restituiti"], jobs=1, db=None).validation
    assert not _by_code(alone.findings, ErrorCode.V043) and not _by_code(alone.findings, ErrorCode.V044)
    # the reference columns are part of the template: nothing else differs
    assert Counter(x.code for x in v.findings) - Counter(x.code for x in alone.findings) == \
        Counter({"V043": 1, "V044": 1})
    assert not [x for x in v.findings if x.code[0] in "TI"]


def test_at_monitoring_a_phase_past_its_planned_end_and_not_done_is_a_warning(cycle):
    mon = cycle["mon"]
    late = _by_code(cycle["mon_checked"].validation.findings, ErrorCode.V045)
    ends = {(o, int(n)): e for o, n, e in zip(mon.phases["objective"], mon.phases["phase"], mon.phases["planned_end"])}
    expected = {(s, f["Codice obiettivo"], f["N. fase"]) for s, sheets in cycle["mon_inputs"].items()
                for f in sheets["Fasi"] if f["Avanzamento %"] is not None and f["Avanzamento %"] < 100
                and ends[(f["Codice obiettivo"], f["N. fase"])] < JUNE}
    records = {(Path(f.file).name.split("_")[1], *f.record.split(" fase ")) for f in late}
    assert {(s, o, int(n)) for s, o, n in records} == expected
    assert ("S02", *LATE) in expected and ("S02", *DUE) not in expected
    one = next(f for f in late if f.record == "2024_S02_03 fase 4")
    assert one.message == ("La Fine prevista della fase (30/04/2024) è precedente alla data di riferimento "
                           "del monitoraggio (30/06/2024), ma l'Avanzamento % è 60%.")
    assert one.sheet == "Fasi" and one.cell and one.cell.startswith("G")
    # the final report does not say it (a phase late at 31/12 is a grade, not a warning)
    v = flows.validate(cycle["fin"], [cycle["base"] / "restituiti"], jobs=1, db=None).validation
    assert not _by_code(v.findings, ErrorCode.V045)


@pytest.mark.parametrize("value_type, direction, target, before, now, worse", [
    ("numero", ">=", 6, 10, 4, True),
    ("numero", ">=", 6, 10, 8, True),          # still above the target, but lower: more is better
    ("numero", ">=", 6, 4, 10, False),
    ("numero", "<=", 4, 2, 3, True),           # less is better: a rise is the worsening
    ("numero", "<=", 4, 3, 2, False),
    ("numero", "=", 50, 48, 55, True),         # further from the target
    ("numero", "=", 50, 55, 49, False),
    ("percentuale", None, 80, 70, 60, True),   # no Verso: more is better
    ("data", "<=", DEC, dt.date(2024, 5, 1), dt.date(2024, 9, 1), True),   # later
    ("data", "<=", DEC, dt.date(2024, 9, 1), dt.date(2024, 5, 1), False),
    ("sì/no", None, True, True, False, True),
    ("sì/no", None, True, False, True, False),
    ("testo", None, "x", "a", "b", False),
    ("numero", ">=", 6, None, 4, False),       # nothing before: nothing to compare
])
def test_worsened_follows_the_verso(value_type, direction, target, before, now, worse):
    assert (worsened(value_type, direction, target, before, now) is not None) is worse


# ------------------------------------------------------------------ merge

def test_merge_ignores_the_reference_columns_and_keeps_them_in_its_copies(cycle, tmp_path):
    fin = cycle["fin"]
    returned = tmp_path / "restituiti"
    returned.mkdir()
    paths = {}
    for p in (cycle["base"] / "restituiti").glob("*.xlsx"):
        paths[p.name] = (returned / p.name)
        paths[p.name].write_bytes(p.read_bytes())
    db = tmp_path / A.DEFAULT_DB_NAME
    db.write_bytes(cycle["db"].read_bytes())
    plain = flows.merge_cycle(fin, [returned], tmp_path / "uno", db=db, jobs=1)
    # a settore overwrites a reference value: not an input, never read
    name = template_name(fin, S)
    fill_return(returned / name, returned / name,
                {"Fasi": [{"Codice obiettivo": PHASE[0], "N. fase": PHASE[1], "Avanzamento al 30/06": 99}]},
                allow_locked=True)
    changed = flows.merge_cycle(fin, [returned], tmp_path / "due", db=db, jobs=1)
    assert changed.scores.sectors.equals(plain.scores.sectors)
    assert changed.scores.objectives.equals(plain.scores.objectives)
    codes = Counter(f.code for f in changed.validation.findings)
    assert codes["V043"] == 1 and codes["V044"] == 1                 # in Anomalie too
    # a formula there is tampering like anywhere outside the input cells
    wb = load_workbook(returned / name)
    ws = wb["Fasi"]
    col = [c.value for c in ws[1]].index("Avanzamento al 30/06") + 1
    ws.cell(row=3, column=col, value="=1+1")
    wb.save(returned / name)
    v = flows.validate(fin, [returned], jobs=1, db=db).validation
    assert [f.cell for f in v.findings if f.is_(ErrorCode.T009)] == [f"{ws.cell(row=3, column=col).coordinate}"]
    # the copy written by merge is the final template: with the reference columns
    head, rows, _ = _sheet_rows(tmp_path / "uno" / "restituiti" / name, "Fasi")
    col = head.index("Avanzamento al 30/06")
    assert {(r[0].value, r[1].value): r[col].value for r in rows if r[0].value}[PHASE] == 50


# ------------------------------------------------------------------ the CLI

def test_cli_monitoring_then_final(cycle, run, tmp_path):
    """`pegxl templates` then `pegxl validate` on the final plan beside the archive holding
    the 30/06 monitoring: reference columns announced, the warnings in text and JSON."""
    base = cycle["base"]
    res = run("templates", base / "piano.xlsx", "-o", tmp_path / "modelli", "--sector", S, "--jobs", 1)
    assert res.exit_code == 0, res.output
    assert "rilevazione precedente: Monitoraggio intermedio, 30/06/2024" in res.output
    head, _, _ = _sheet_rows(tmp_path / "modelli" / template_name(cycle["fin"], S), "Indicatori")
    assert head[-1] == "Raggiunto al 30/06"
    ret = base / "restituiti" / template_name(cycle["fin"], S)
    res = run("validate", "--plan", base / "piano.xlsx", ret, "--jobs", 1)
    assert res.exit_code == 0, res.output
    assert "V043" in res.output and "V044" in res.output and "era 50% al 30/06/2024" in res.output
    assert "confrontati con la rilevazione precedente: Monitoraggio intermedio, 30/06/2024" in res.output
    res = run("validate", "--plan", base / "piano.xlsx", ret, "--format", "json", "--db", cycle["db"])
    doc = json.loads(res.output)
    assert doc["previous_snapshot"] == {"fase": MON, "reference_date": "2024-06-30"}
    codes = [f["code"] for f in doc["findings"]]
    assert codes.count("V043") == 1 and codes.count("V044") == 1
    back = next(f for f in doc["findings"] if f["code"] == "V043")
    assert (back["sheet"], back["cell"], back["record"]) == ("Fasi", "G3", "2024_S08_01 fase 2")
    res = run("validate", "--plan", base / "piano.xlsx", ret, "--db", tmp_path / "nessuno.sqlite")
    assert res.exit_code == 0 and "V043" not in res.output


def test_the_reference_columns_are_documented():
    doc = (Path(__file__).resolve().parents[1] / "docs" / "contratto.md").read_text(encoding="utf-8")
    from pegxl.workbook import contract as C
    for header in (C.REF_PROGRESS_HEADER, C.REF_ACHIEVED_HEADER):
        assert f"«{header.format(when='gg/mm')}»" in doc


# ------------------------------------------------------------------ the plan's Data di riferimento

def test_plan_check_wants_a_dated_monitoring_in_the_plans_year(tmp_path):
    data, _ = demo_data()
    undated = dict(data, Ente=[[k, MON if k == "Fase del ciclo" else v] for k, v in data["Ente"]
                               if k != "Data di riferimento"])
    plan, findings = flows.check_plan(write_plan(tmp_path / "senza-data.xlsx", undated))
    assert plan is not None and [f.code for f in findings if f.is_(ErrorCode.P041)] == ["P041"]
    assert "30/06/2024" in next(f.hint for f in findings if f.is_(ErrorCode.P041))
    plan, findings = flows.check_plan(write_plan(tmp_path / "altro-anno.xlsx", plan_at(data, MON, dt.date(2023, 6, 30))))
    wrong = [f for f in findings if f.is_(ErrorCode.P012)]
    assert [(f.sheet, f.cell, f.message) for f in wrong] == [
        ("Ente", "B5", "La data 30/06/2023 è fuori dall'anno 2024.")]   # row 1 Voce/Valore, row 5 the 4th voce
    plan, findings = flows.check_plan(write_plan(tmp_path / "giusto.xlsx", plan_at(data, MON, JUNE)))
    assert not [f for f in findings if f.is_(ErrorCode.P041, ErrorCode.P012)]


def test_an_unreadable_archive_only_loses_the_comparison(cycle, run, tmp_path):
    bad = tmp_path / "rotto.sqlite"
    bad.write_bytes(b"non un archivio" * 100)
    ret = cycle["base"] / "restituiti" / template_name(cycle["fin"], S)
    res = run("validate", "--plan", cycle["base"] / "piano.xlsx", ret, "--db", bad, "--format", "json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    lost = [f for f in doc["findings"] if f["code"] == "A007"]
    assert len(lost) == 1 and lost[0]["severity"] == "avviso" and str(bad) in lost[0]["message"]
    assert lost[0]["message"].startswith("I valori non sono confrontati con la rilevazione precedente: Archivio")
    assert doc["previous_snapshot"] is None and not [f for f in doc["findings"] if f["code"] == "V043"]


def test_an_archive_of_schema_4_without_the_reference_date_gets_it(tmp_path):
    db = tmp_path / "schema4.sqlite"
    with sqlite3.connect(db) as conn:
        conn.executescript(A._SCHEMA.replace("    reference_date TEXT,\n", "")
                           .replace("CREATE INDEX IF NOT EXISTS cycles_snapshot ON cycles (ente, anno, reference_date);\n", ""))
        conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', ?)", (str(A.SCHEMA_VERSION),))
    A.connect(db).close()
    with sqlite3.connect(db) as conn:
        assert "reference_date" in {r[1] for r in conn.execute("PRAGMA table_info(cycles)")}
    assert snapshots(db, "E", 2024).empty


def test_monitoring_then_final_warnings_diff_and_states(cycle, run, tmp_path):
    """Issue 14's cycle in one go, through the CLI: the final returns checked against the
    30/06 monitoring (one progress went back, one result fell), merged, then the two
    snapshots compared cell by cell, and every state of the settore recorded in order."""
    import shutil
    base = cycle["base"]
    db = tmp_path / "archivio.sqlite"
    shutil.copyfile(cycle["db"], db)                  # the module's archive stays as it is
    res = run("validate", "--plan", base / "piano.xlsx", base / "restituiti", "--db", db, "--jobs", 1)
    assert res.exit_code == 0, res.output
    assert "V043" in res.output and "V044" in res.output
    res = run("merge", "--plan", base / "piano.xlsx", base / "restituiti", "-o", tmp_path / "consolidato",
              "--db", db, "--jobs", 1)
    assert res.exit_code == 0, res.output

    res = run("diff", "--plan", base / "piano.xlsx", "--snapshot", MON, "--snapshot", FIN, "--sector", S,
              "--db", db, "--format", "json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    changes = doc["changes"]
    text = json.dumps(changes, ensure_ascii=False)
    phase = [c for c in changes if c.get("record") == f"{PHASE[0]} fase {PHASE[1]}"
             and c.get("column") == "Avanzamento %"]
    assert [(c["old_shown"], c["new_shown"]) for c in phase] == [("50%", "40%")], text
    ind = [c for c in changes if c.get("record") == f"{INDICATOR[0]} indicatore {INDICATOR[1]}"
           and c.get("column") == "Valore raggiunto"]
    assert [(c["old_shown"], c["new_shown"]) for c in ind] == [("10", "4")], text

    res = run("history", "--plan", base / "piano.xlsx", "--states", "--sector", S, "--db", db,
              "--format", "json")
    assert res.exit_code == 0, res.output
    states = json.loads(res.output)["rows"]            # the final plan's fase only
    assert [r["Stato"] for r in states] == ["ricevuto", "controllato", "consolidato"], states
    assert all(r["Codice settore"] == S for r in states)
    times = [dt.datetime.fromisoformat(r["Dal"]) for r in states]
    assert times == sorted(times)
