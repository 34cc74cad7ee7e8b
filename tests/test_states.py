"""The states of each settore's return (inviato -> ricevuto -> con errori / controllato ->
consolidato -> validato dall'OIV), recorded with their time by send, validate, merge and
oiv in the archive beside the plan, shown by `pegxl status` (text, CSV, JSON), `pegxl
history --states` and the consolidated workbook's Provenienza; status at 80 columns."""
from __future__ import annotations

import datetime as dt
import io
import json
import shutil
import sqlite3

import openpyxl
import pandas as pd
import pytest

import around_helpers as H
from merge_plan import rows_by_key
from pegxl.archive import DEFAULT_DB_NAME
from pegxl.status import status
from pegxl.templates import fill_return

pytest.importorskip("aiosmtpd")
from test_mail import Recorder, Server  # noqa: E402  the SMTP test server of the e-mail tests


def _states(db) -> list[tuple[str, str, str, str]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT sector, state, command, at FROM sector_states ORDER BY id").fetchall()
    finally:
        conn.close()


@pytest.fixture
def office(tmp_path):
    """The office's folder: the plan, its templates; the archive goes beside the plan."""
    plan_path, plan = H.make_plan(tmp_path / "ufficio")
    templates = H.make_templates(plan, tmp_path / "ufficio" / "modelli")
    return plan_path, plan, templates, tmp_path / "ufficio" / DEFAULT_DB_NAME


def test_states_across_send_validate_merge_and_oiv(office, run, tmp_path):
    plan_path, plan, templates, db = office
    base = plan_path.parent
    srv = Server(Recorder()).start()
    try:
        res = run("send", "--plan", plan_path, base / "modelli", "--smtp-host", "127.0.0.1", "--smtp-port",
                  srv.port, "--security", "none", "--from", "ufficio@comune.example")
    finally:
        srv.stop()
    assert res.exit_code == 0, res.output
    assert [(s, st, c) for s, st, c, _ in _states(db)] == [(s, "inviato", "send") for s in H.SECTORS]

    # S01 sends a progress of 150 (an error); the others are right
    returns = H.fill(plan, templates, base / "restituiti", bad=("S01",))
    res = run("validate", "--plan", plan_path, base / "restituiti")
    assert res.exit_code == 1
    got = [(s, st, c) for s, st, c, _ in _states(db)][3:]
    assert got == [("S01", "ricevuto", "validate"), ("S01", "con errori", "validate"),
                   ("S02", "ricevuto", "validate"), ("S02", "controllato", "validate"),
                   ("S03", "ricevuto", "validate"), ("S03", "controllato", "validate")]
    # validating the same files again records nothing new
    run("validate", "--plan", plan_path, base / "restituiti")
    assert len(_states(db)) == 9

    rep = status(plan, base / "restituiti", states=_current(db, plan))
    assert rep.row("S01").cycle_state == "con errori" and rep.row("S02").cycle_state == "controllato"

    # S01 corrects its file: received and checked again, then everyone is consolidated
    fill_return(templates["S01"], returns["S01"], H.inputs(plan.anno, "S01"))
    res = run("validate", "--plan", plan_path, base / "restituiti")
    assert res.exit_code == 0, res.output
    assert [(s, st) for s, st, _, _ in _states(db)][9:] == [("S01", "ricevuto"), ("S01", "controllato")]
    res = run("merge", "--plan", plan_path, base / "restituiti", "-o", base / "consolidato")
    assert res.exit_code == 0, res.output
    assert [(s, st, c) for s, st, c, _ in _states(db)][11:] == [(s, "consolidato", "merge") for s in H.SECTORS]

    # the consolidated workbook's Provenienza says it
    book = next((base / "consolidato").glob("*consolidato*.xlsx"))
    wb = openpyxl.load_workbook(book)
    prov = rows_by_key(wb["Provenienza"], "Codice settore")
    assert {k[0]: r["Stato della consegna"] for k, r in prov.items()} == {s: "consolidato" for s in H.SECTORS}
    wb.close()

    res = run("oiv", "--plan", plan_path, book, "-o", base / "finale")
    assert res.exit_code in (0, 1), res.output
    log = _states(db)
    assert [(s, st, c) for s, st, c, _ in log][14:] == [(s, "validato dall'OIV", "oiv") for s in H.SECTORS]
    # and so does the final workbook's Provenienza (the OIV's own file: no settore, no state)
    wb = openpyxl.load_workbook(next((base / "finale").glob("*finale*.xlsx")))
    prov = rows_by_key(wb["Provenienza"], "Codice settore")
    assert {k[0]: r["Stato della consegna"] for k, r in prov.items() if k[0]} == \
        {s: "validato dall'OIV" for s in H.SECTORS}
    wb.close()

    # each settore went through the whole sequence, in order of time
    for sector in H.SECTORS:
        mine = [(st, dt.datetime.fromisoformat(at)) for s, st, _, at in log if s == sector]
        assert [st for st, _ in mine][-4:] == ["ricevuto", "controllato", "consolidato", "validato dall'OIV"]
        assert mine[0][0] == "inviato"
        times = [t for _, t in mine]
        assert times == sorted(times) and all(t.tzinfo is not None for t in times)

    # status shows the state and since when, in every format
    res = run("status", "--plan", plan_path, base / "restituiti", "--format", "json")
    doc = json.loads(res.output)
    by = {s["sector"]: s for s in doc["sectors"]}
    assert by["S02"]["cycle_state"] == "validato dall'OIV"
    since = dt.datetime.fromisoformat(by["S02"]["cycle_since"])
    assert since == dt.datetime.fromisoformat(log[-2][3])
    res = run("status", "--plan", plan_path, base / "restituiti")
    row = next(line for line in res.output.splitlines() if "S02" in line)
    assert "validato dall'OIV" in row and since.strftime("%d/%m/%Y %H:%M") in row.split("validato dall'OIV")[1]
    res = run("status", "--plan", plan_path, base / "restituiti", env={"COLUMNS": "80"})
    assert f"Nel ciclo: validato dall'OIV dal {since.strftime('%d/%m/%Y %H:%M')}" in res.output
    res = run("status", "--plan", plan_path, base / "restituiti", "--format", "csv")
    df = pd.read_csv(io.BytesIO(res.stdout_bytes), sep=";", encoding="utf-8-sig", dtype=str)
    assert list(df["Stato nel ciclo"]) == ["validato dall'OIV"] * 3
    assert list(df["Dal"])[1] == since.strftime("%d/%m/%Y %H:%M")
    res = run("history", "--plan", plan_path, "--states", "--sector", "S01")
    assert res.exit_code == 0, res.output
    assert [line.split(" dal ")[0] for line in res.output.splitlines()[1:]] == [
        "S01: inviato", "S01: ricevuto", "S01: con errori (1 errore)", "S01: ricevuto", "S01: controllato",
        "S01: consolidato", "S01: validato dall'OIV"]


def _current(db, plan):
    from pegxl.archive.audit import current_states
    return current_states(db, plan.ente, plan.anno, plan.fase)


def test_validate_without_an_archive_records_nothing_and_creates_none(office):
    plan_path, plan, templates, db = office
    H.fill(plan, templates, plan_path.parent / "restituiti")
    from pegxl import flows
    flows.validate(plan, [plan_path.parent / "restituiti"], db=flows.BESIDE_PLAN)
    assert not db.exists()
    # with --db the archive is created and the states recorded
    other = plan_path.parent / "altro.sqlite"
    flows.validate(plan, [plan_path.parent / "restituiti"], db=other)
    assert [st for _, st, _, _ in _states(other)] == ["ricevuto", "controllato"] * 3


def test_cli_validate_no_archive(office, run):
    plan_path, plan, templates, db = office
    H.fill(plan, templates, plan_path.parent / "restituiti")
    res = run("validate", "--plan", plan_path, plan_path.parent / "restituiti", "--db", db, "--no-archive")
    assert res.exit_code == 0 and not db.exists()


# ----------------------------------------------------------------- 80 columns, CSV

LONG = "Servizi demografici, elettorali, statistici, cimiteriali e di polizia mortuaria del Comune"


@pytest.fixture
def long_named(tmp_path):
    data = H.plan_data()
    data["Settori"][0]["Settore"] = LONG
    plan_path, plan = H.make_plan(tmp_path, data=data)
    templates = H.make_templates(plan, tmp_path / "modelli")
    H.fill(plan, templates, tmp_path / "restituiti", sectors=("S01", "S02"), bad=("S02",))
    shutil.copy(tmp_path / "restituiti" / templates["S01"].name,
                tmp_path / "restituiti" / ("copia-con-un-nome-molto-lungo-da-non-tagliare-" + templates["S01"].name))
    return plan_path, plan, tmp_path


def test_status_at_80_columns_is_one_block_per_settore(long_named, run, monkeypatch):
    plan_path, plan, tmp = long_named
    monkeypatch.setenv("COLUMNS", "80")
    res = run("status", "--plan", plan_path, tmp / "restituiti")
    lines = res.output.splitlines()
    assert max(len(line) for line in lines) <= 80, res.output
    text = " ".join(line.strip() for line in lines)
    assert LONG in text                                      # wrapped between words, never cut
    assert "S02 — Finanziario" in res.output and "Stato: con errori (1); sollecito n. 2" in res.output
    assert "Stato: mancante; sollecito n. 1" in res.output
    assert "Da sollecitare, nell'ordine" in text
    # every word of every settore is there: no 2-character columns
    for word in ("Anna Rossi", "anna.rossi@comune.example", "più file (2)"):
        assert word in text, word
    # a wide terminal keeps the table
    wide = status(plan, tmp / "restituiti").to_text(width=160)
    assert "┃ Codice" in wide or "│ Codice" in wide or "Codice ┃" in wide


def test_status_csv_has_semicolons_and_bom_and_reads_back_in_pandas(long_named, run, tmp_path):
    plan_path, plan, tmp = long_named
    res = run("status", "--plan", plan_path, tmp / "restituiti", "--format", "csv")
    raw = res.stdout_bytes
    assert raw.startswith(b"\xef\xbb\xbf")
    df = pd.read_csv(io.BytesIO(raw), sep=";", encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert list(df.columns)[:3] == ["Codice settore", "Settore", "Responsabile"]
    assert list(df["Codice settore"]) == ["S01", "S02", "S03"]
    assert df.loc[0, "Settore"] == LONG                      # the commas inside stay in one cell
    assert list(df["Stato"]) == ["più file (2)", "con errori (1)", "mancante"]


def test_history_csv_has_semicolons_and_bom(tmp_path, run):
    plan_path, plan, templates, returns, result = H.cycle(tmp_path)
    from pegxl.archive import store_cycle
    store_cycle(tmp_path / DEFAULT_DB_NAME, plan, result)
    res = run("history", "--plan", plan_path, "--sector", "S01", "--format", "csv")
    assert res.exit_code == 0, res.output
    assert res.stdout_bytes.startswith(b"\xef\xbb\xbf")
    df = pd.read_csv(io.BytesIO(res.stdout_bytes), sep=";", encoding="utf-8-sig")
    assert list(df["Codice settore"]) == ["S01"] and "Percentuale" in df.columns


def test_an_archive_that_refuses_the_states_is_said_not_fatal(office, run, tmp_path):
    plan_path, plan, templates, db = office
    H.fill(plan, templates, plan_path.parent / "restituiti")
    (tmp_path / "un-file").write_text("x")
    bad = tmp_path / "un-file" / "archivio.sqlite"            # under a file: cannot be created
    res = run("validate", "--plan", plan_path, plan_path.parent / "restituiti", "--db", bad)
    assert res.exit_code == 0 and "A011" in res.output, res.output
    srv = Server(Recorder()).start()
    try:
        res = run("send", "--plan", plan_path, plan_path.parent / "modelli", "--smtp-host", "127.0.0.1",
                  "--smtp-port", srv.port, "--security", "none", "--from", "ufficio@comune.example", "--db", bad)
    finally:
        srv.stop()
    assert res.exit_code == 0 and "E008" in res.output and len(srv.handler.messages) == 3, res.output


def test_the_excel_status_sheet_shows_the_state(office, run):
    from pegxl.macros import actions as A
    from pegxl.macros.sheets import OpenpyxlBook
    from pegxl.workbook.contract import SHEET_STATUS
    plan_path, plan, templates, db = office
    H.fill(plan, templates, plan_path.parent / "restituiti", sectors=("S01", "S02"))
    run("validate", "--plan", plan_path, plan_path.parent / "restituiti", "--db", db)
    A.perform("show_status", OpenpyxlBook(plan_path), plan_path)
    ws = openpyxl.load_workbook(plan_path)[SHEET_STATUS]
    heads = [c.value for c in ws[2]]
    rows = {r[0]: r for r in ws.iter_rows(min_row=3, values_only=True)}
    col = heads.index("Stato nel ciclo")
    assert (rows["S01"][col], rows["S02"][col], rows["S03"][col]) == ("controllato", "controllato", None)
    assert isinstance(rows["S01"][heads.index("Dal")], dt.datetime)
