"""`pegxl diff`: two returns of a settore compared by meaning; two archived cycles compared;
the audit trail a merge records for every resubmission, shown by `pegxl history`."""
from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

import around_helpers as H
from lo_helper import FILTERS, requires_lo, run_job
from pegxl import flows
from pegxl.diff import diff_returns
from pegxl.errors import PegxlError
from pegxl.templates import fill_return


def _resubmitted(plan, templates, outdir: Path, sector: str = "S01") -> Path:
    """The settore's return again: phase 2 at 90 (was 80), a note on phase 1, and phase
    1's 100 typed as the text «100%» (the same value, typed another way)."""
    data = H.inputs(plan.anno, sector)
    for ph in data["Fasi"]:
        if ph["N. fase"] == 2:
            ph["Avanzamento %"] = 90
        if ph["N. fase"] == 1 and ph["Codice obiettivo"] != "PTPCT":
            ph["Avanzamento %"] = "100%"
            ph["Note"] = "Analisi conclusa in anticipo"
    outdir.mkdir(parents=True, exist_ok=True)
    target = outdir / templates[sector].name
    fill_return(templates[sector], target, data)
    return target


@pytest.fixture(scope="module")
def two_returns(world, tmp_path_factory):
    base, plan_path, plan, templates = world
    tmp = tmp_path_factory.mktemp("diff")
    first = H.fill(plan, templates, tmp / "prima", sectors=("S01",))["S01"]
    second = _resubmitted(plan, templates, tmp / "dopo")
    return plan_path, plan, templates, first, second


def test_diff_of_two_returns_names_sheet_record_column_and_values_the_italian_way(two_returns):
    _, plan, _, first, second = two_returns
    report = diff_returns(plan, first, second)
    got = [(c.sheet, c.objective, c.number, c.column, c.old, c.new) for c in report.changes]
    # «100%» typed as text is 100: not a difference; 80 -> 90 and the note are
    assert got == [("Fasi", "2024_S01_01", 1, "Note", None, "Analisi conclusa in anticipo"),
                   ("Fasi", "2024_S01_01", 2, "Avanzamento %", "80", "90")]
    text = report.to_text()
    assert "Fasi, 2024_S01_01 fase 2, «Avanzamento %»: 80% → 90%" in text
    assert "Fasi, 2024_S01_01 fase 1, «Note»: (vuoto) → Analisi conclusa in anticipo" in text
    assert "settore S01" in text


def test_diff_of_a_return_with_itself_has_no_difference(two_returns):
    _, plan, _, first, _ = two_returns
    assert diff_returns(plan, first, first).changes == []


def test_diff_refuses_returns_of_different_settori(world, two_returns, tmp_path):
    _, plan, templates, first, _ = two_returns
    other = H.fill(plan, templates, tmp_path, sectors=("S02",))["S02"]
    with pytest.raises(PegxlError) as exc:
        diff_returns(plan, first, other)
    f = exc.value.findings[0]
    assert f.code == "U009" and "settore «S01» e «S02»" in f.message
    assert exc.value.exit_code == 2


def test_diff_refuses_a_file_that_is_not_a_return(two_returns, tmp_path):
    _, plan, _, first, _ = two_returns
    junk = tmp_path / "appunti.xlsx"
    junk.write_bytes(b"non una cartella")
    with pytest.raises(PegxlError) as exc:
        diff_returns(plan, first, junk)
    assert exc.value.findings[0].code == "U010"


def test_cli_diff_text_and_json(run, two_returns):
    plan_path, _, _, first, second = two_returns
    res = run("diff", "--plan", plan_path, first, second)
    assert res.exit_code == 0, res.output
    assert "80% → 90%" in res.output
    res = run("diff", "--plan", plan_path, first, second, "--format", "json")
    doc = json.loads(res.output)
    assert doc["schema"] == "pegxl-diff" and doc["sector"] == "S01"
    assert [(c["record"], c["column"], c["old_shown"], c["new_shown"]) for c in doc["changes"]] == [
        ("2024_S01_01 fase 1", "Note", "(vuoto)", "Analisi conclusa in anticipo"),
        ("2024_S01_01 fase 2", "Avanzamento %", "80%", "90%")]
    bad = run("diff", "--plan", plan_path, first)
    assert bad.exit_code == 2 and "U001" in bad.output


@requires_lo
def test_diff_of_an_xlsx_and_the_ods_of_the_same_content_is_empty(two_returns, tmp_path):
    _, plan, _, first, _ = two_returns
    ods = tmp_path / (first.stem + ".ods")
    run_job({"open": str(first), "convert_only": True, "save": [{"path": str(ods), "filter": FILTERS[".ods"]}]},
            timeout=240)
    assert ods.exists()
    report = diff_returns(plan, first, ods)
    assert report.changes == [], report.to_text()


# ------------------------------------------------------------ archive: audit trail

@pytest.fixture
def resubmitted_cycle(tmp_path):
    """A merge of the three settori, then a merge with S01's corrected file."""
    plan_path, plan = H.make_plan(tmp_path)
    templates = H.make_templates(plan, tmp_path / "modelli")
    returns = H.fill(plan, templates, tmp_path / "restituiti")
    db = tmp_path / "archivio.sqlite"
    first = flows.merge_cycle(plan, [tmp_path / "restituiti"], tmp_path / "c1", db=db)
    shutil.copy(_resubmitted(plan, templates, tmp_path / "nuovo"), returns["S01"])
    second = flows.merge_cycle(plan, [tmp_path / "restituiti"], tmp_path / "c2", db=db)
    return plan_path, plan, db, first, second, returns


def test_merge_records_the_differences_of_a_resubmission(resubmitted_cycle):
    _, plan, db, first, second, returns = resubmitted_cycle
    conn = sqlite3.connect(db)
    rows = conn.execute("SELECT sector, file, sha256, previous_sha256, cycle_id, previous_cycle_id, n_changes "
                        "FROM resubmissions").fetchall()
    changes = conn.execute("SELECT sheet, objective, number, column_name, old, new FROM resubmission_changes "
                           "ORDER BY seq").fetchall()
    conn.close()
    # only S01 sent another file; S02 and S03 were read again unchanged
    assert len(rows) == 1
    sector, file, sha, prev_sha, cid, prev_cid, n = rows[0]
    assert (sector, file, cid, prev_cid, n) == ("S01", str(returns["S01"]), second.archived.id,
                                                first.archived.id, 2)
    assert sha != prev_sha and len(sha) == 64
    assert changes == [("Fasi", "2024_S01_01", 1, "Note", None, "Analisi conclusa in anticipo"),
                       ("Fasi", "2024_S01_01", 2, "Avanzamento %", "80", "90")]


def test_history_shows_the_resubmissions(run, resubmitted_cycle):
    plan_path, _, db, _, second, returns = resubmitted_cycle
    res = run("history", "--plan", plan_path, "--db", db, "--resubmissions")
    assert res.exit_code == 0, res.output
    assert f"S01: {returns['S01'].name} consolidato il" in res.output
    assert f"(ciclo {second.archived.id})" in res.output
    assert "Fasi, 2024_S01_01 fase 2, «Avanzamento %»: 80% → 90%" in res.output
    res = run("history", "--plan", plan_path, "--db", db, "--resubmissions", "--sector", "S02")
    assert res.exit_code == 1 and "A002" in res.output
    res = run("history", "--plan", plan_path, "--db", db, "--resubmissions", "--format", "json")
    doc = json.loads(res.output)
    assert [(r["Codice"], r["Prima"], r["Dopo"]) for r in doc["rows"]] == [
        ("2024_S01_01 fase 1", "(vuoto)", "Analisi conclusa in anticipo"), ("2024_S01_01 fase 2", "80%", "90%")]


def test_diff_of_two_archived_cycles(run, resubmitted_cycle):
    plan_path, plan, db, first, second, _ = resubmitted_cycle
    report = flows.diff_snapshots(plan, str(first.archived.id), str(second.archived.id), db=db)
    assert [(c.sector, c.sheet, c.number, c.column, c.old, c.new) for c in report.changes] == [
        ("S01", "Fasi", 1, "Note", None, "Analisi conclusa in anticipo"),
        ("S01", "Fasi", 2, "Avanzamento %", "80", "90")]
    # by run id too, and through the CLI
    res = run("diff", "--plan", plan_path, "--db", db, "--snapshot", first.run_id, "--snapshot",
              str(second.archived.id))
    assert res.exit_code == 0, res.output
    assert "S01: Fasi, 2024_S01_01 fase 2, «Avanzamento %»: 80% → 90%" in res.output
    res = run("diff", "--plan", plan_path, "--db", db, "--snapshot", first.run_id, "--snapshot",
              str(second.archived.id), "--sector", "S02")
    assert "nessuna differenza" in res.output
    res = run("history", "--plan", plan_path, "--db", db, "--cycles")
    assert f"{second.archived.id}: Comune di Prova 2024, Rendicontazione finale, consolidamento versione 2" \
        in res.output
    missing = run("diff", "--plan", plan_path, "--db", db, "--snapshot", "999", "--snapshot", "1")
    assert missing.exit_code == 2 and "A010" in missing.output


def test_cli_diff_with_relative_paths(run, two_returns, monkeypatch):
    plan_path, _, _, first, second = two_returns
    monkeypatch.chdir(first.parent.parent)
    res = run("diff", "--plan", plan_path, Path(first.parent.name) / first.name,
              Path(second.parent.name) / second.name)
    assert res.exit_code == 0, res.output
    assert "2 celle" in res.output


def test_an_archive_of_schema_2_is_upgraded_and_its_cycles_feed_the_trail(tmp_path):
    """A cycle archived before schema 4 is the previous return of a later resubmission."""
    plan_path, plan = H.make_plan(tmp_path)
    templates = H.make_templates(plan, tmp_path / "modelli")
    returns = H.fill(plan, templates, tmp_path / "restituiti")
    db = tmp_path / "archivio.sqlite"
    flows.merge_cycle(plan, [tmp_path / "restituiti"], tmp_path / "c1", db=db)
    with sqlite3.connect(db) as conn:                         # as pegxl of schema 2 left it
        for table in ("resubmission_changes", "resubmissions", "sector_states"):
            conn.execute(f"DROP TABLE {table}")
        conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    shutil.copy(_resubmitted(plan, templates, tmp_path / "nuovo"), returns["S01"])
    flows.merge_cycle(plan, [tmp_path / "restituiti"], tmp_path / "c2", db=db)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == "4"
        assert conn.execute("SELECT sector, n_changes FROM resubmissions").fetchall() == [("S01", 2)]
        assert {r[0] for r in conn.execute("SELECT state FROM sector_states")} == {"ricevuto", "controllato",
                                                                                    "consolidato"}
