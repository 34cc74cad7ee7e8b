"""`pegxl status`: one row per settore, the state of its return, and whom to chase first."""
from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import openpyxl
from click.testing import CliRunner

import around_helpers as H

from pegxl.status import (STATE_ERRORS, STATE_MISSING, STATE_MULTIPLE, STATE_OK, status)


def _bad_inputs(plan, sector: str, n_bad: int) -> dict:
    """Inputs with `n_bad` values out of range (each one error)."""
    data = H.inputs(plan.anno, sector)
    for i, ph in enumerate(data["Fasi"]):
        if i < n_bad:
            ph["Avanzamento %"] = 150 + i
    return data


def test_all_in_and_usable(world, tmp_path):
    base, plan_path, plan, templates = world
    H.fill(plan, templates, tmp_path / "ritorni")
    rep = status(plan, tmp_path / "ritorni")
    assert [r.sector for r in rep.rows] == ["S01", "S02", "S03"]
    assert all(r.state == STATE_OK for r in rep.rows)
    assert rep.all_in and rep.exit_code == 0
    assert rep.chase == []
    r = rep.row("S01")
    assert r.sector_name == "Affari generali" and r.manager == "Anna Rossi"
    assert r.email == "anna.rossi@comune.example"
    assert r.file and Path(r.file).name == templates["S01"].name
    assert r.saved is not None
    assert "Tutti i settori hanno consegnato" in rep.to_text()


def test_missing_errors_multiple_and_chase_order(world, tmp_path):
    from pegxl.templates import fill_return
    base, plan_path, plan, templates = world
    d = tmp_path / "ritorni"
    d.mkdir()
    # S01 missing; S02 one error; S03 three errors... then a fourth settore state: più file
    fill_return(templates["S02"], d / templates["S02"].name, _bad_inputs(plan, "S02", 1))
    fill_return(templates["S03"], d / templates["S03"].name, _bad_inputs(plan, "S03", 2))
    # a file that is no pegxl template: listed apart, not attributed
    wb = openpyxl.Workbook()
    wb.active["A1"] = "appunti"
    wb.save(d / "appunti.xlsx")
    rep = status(plan, d)
    assert rep.row("S01").state == STATE_MISSING
    assert rep.row("S02").state == STATE_ERRORS and rep.row("S02").errors == 1
    assert rep.row("S03").state == STATE_ERRORS and rep.row("S03").errors == 2
    assert rep.row("S03").state_label == "con errori (2)"
    # missing first, then most errors first
    assert [r.sector for r in rep.chase] == ["S01", "S03", "S02"]
    assert [r.priority for r in rep.chase] == [1, 2, 3]
    assert rep.exit_code == 1 and not rep.all_in
    assert [Path(u.file).name for u in rep.unassigned] == ["appunti.xlsx"]
    assert rep.unassigned[0].code == "I001"

    # two files for S02: più file, chased after the settori with errors
    shutil.copy(d / templates["S02"].name, d / "copia_S02.xlsx")
    rep = status(plan, d)
    assert rep.row("S02").state == STATE_MULTIPLE
    assert len(rep.row("S02").files) == 2
    assert [r.sector for r in rep.chase] == ["S01", "S03", "S02"]


def test_renderers(world, tmp_path):
    base, plan_path, plan, templates = world
    H.fill(plan, templates, tmp_path / "r", sectors=("S01", "S02"), bad=("S02",))
    rep = status(plan, tmp_path / "r")
    text = rep.to_text()
    for word in ("S01", "Affari generali", "consegnato utilizzabile", "con errori (1)", "mancante",
                 "Da sollecitare", "28/02/2025"):
        assert word in text, word
    doc = json.loads(rep.to_json())
    assert doc["schema"] == "pegxl-status" and doc["all_in"] is False
    assert doc["chase"] == ["S03", "S02"]
    by = {s["sector"]: s for s in doc["sectors"]}
    assert by["S03"]["state"] == "mancante" and by["S03"]["files"] == []
    assert by["S02"]["errors"] == 1 and by["S01"]["saved"]
    assert rep.to_csv().startswith("\ufeff")                     # BOM: Italian Excel reads the accents
    rows = list(csv.reader(io.StringIO(rep.to_csv()[1:]), delimiter=";"))
    assert rows[0][:6] == ["Codice settore", "Settore", "Responsabile", "Email", "File", "Stato"]
    assert [r[0] for r in rows[1:]] == ["S01", "S02", "S03"]
    assert rows[3][5] == "mancante" and rows[3][9] == "1"


def test_empty_folder_means_everyone_missing(world, tmp_path):
    base, plan_path, plan, templates = world
    (tmp_path / "vuota").mkdir()
    rep = status(plan, tmp_path / "vuota")
    assert [r.state for r in rep.rows] == [STATE_MISSING] * 3
    assert [r.sector for r in rep.chase] == ["S01", "S02", "S03"]


def test_cli_exit_status_and_formats(world, tmp_path, cli):
    base, plan_path, plan, templates = world
    runner = CliRunner()
    H.fill(plan, templates, tmp_path / "tutti")
    res = runner.invoke(cli, ["status", "--plan", str(plan_path), str(tmp_path / "tutti")])
    assert res.exit_code == 0, res.output
    assert "consegnato utilizzabile" in res.output

    H.fill(plan, templates, tmp_path / "parziali", sectors=("S01",))
    res = runner.invoke(cli, ["status", "--plan", str(plan_path), str(tmp_path / "parziali"),
                              "--format", "json"])
    assert res.exit_code == 1
    doc = json.loads(res.output)
    assert doc["chase"] == ["S02", "S03"]
    res = runner.invoke(cli, ["status", "--plan", str(plan_path), str(tmp_path / "parziali"),
                              "--format", "csv"])
    assert res.exit_code == 1
    assert res.output.splitlines()[0].startswith("\ufeffCodice settore;Settore")

    res = runner.invoke(cli, ["status", "--plan", str(plan_path), str(tmp_path / "non-esiste")])
    assert res.exit_code == 2


def test_a_stale_or_foreign_file_beside_the_good_one_does_not_make_it_more_than_one(world, tmp_path):
    """Status means what merge will accept: S01 sent last year's template too (I003) and a
    file of another ente sits in the folder (I004). S01 is delivered and usable (its good
    file is the one merge takes), and the other two files are listed apart."""
    base, plan_path, plan, templates = world
    d = tmp_path / "ritorni"
    H.fill(plan, templates, d)
    other_path, other = H.make_plan(tmp_path / "2023", anno=2023)
    old_templates = H.make_templates(other, tmp_path / "2023" / "modelli")
    stale = H.fill(other, old_templates, tmp_path / "2023" / "ritorni", sectors=("S01",))["S01"]
    shutil.copy(stale, d / "2023_S01_vecchio.xlsx")
    data = H.plan_data()
    data["Ente"][0] = ["Ente", "Comune di Altrove"]
    foreign_path, foreign = H.make_plan(tmp_path / "altrove", data=data)
    f_templates = H.make_templates(foreign, tmp_path / "altrove" / "modelli")
    f_file = H.fill(foreign, f_templates, tmp_path / "altrove" / "ritorni", sectors=("S02",))["S02"]
    shutil.copy(f_file, d / "altrove_S02.xlsx")

    rep = status(plan, d)
    assert rep.row("S01").state == STATE_OK and Path(rep.row("S01").file).name == templates["S01"].name
    assert rep.row("S02").state == STATE_OK and Path(rep.row("S02").file).name == templates["S02"].name
    assert {Path(u.file).name: u.code for u in rep.unassigned} == {"2023_S01_vecchio.xlsx": "I003",
                                                                   "altrove_S02.xlsx": "I004"}
    assert rep.all_in


def test_a_settore_that_sent_only_a_stale_file_has_errors(world, tmp_path):
    base, plan_path, plan, templates = world
    d = tmp_path / "ritorni"
    H.fill(plan, templates, d, sectors=("S02", "S03"))
    other_path, other = H.make_plan(tmp_path / "2023", anno=2023)
    old_templates = H.make_templates(other, tmp_path / "2023" / "modelli")
    stale = H.fill(other, old_templates, tmp_path / "2023" / "ritorni", sectors=("S01",))["S01"]
    shutil.copy(stale, d / "2023_S01_vecchio.xlsx")
    rep = status(plan, d)
    assert rep.row("S01").state == STATE_ERRORS and rep.unassigned == []
