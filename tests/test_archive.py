"""The archive of past cycles (SQLite), history queries, `pegxl plan next` and the values of
the previous years carried into the next year's templates."""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

import around_helpers as H

from pegxl import archive as A
from pegxl.errors import PegxlError
from pegxl.rollover import plan_next, rename_code, shift_date


def dump(db: Path) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def template_values(path: Path, sheet: str, header: str) -> dict[tuple, object]:
    """(Codice obiettivo, N.) -> the value under `header` in a template's sheet."""
    ws = openpyxl.load_workbook(path)[sheet]
    head = [c.value for c in ws[1]]
    col, code, n = head.index(header), head.index("Codice obiettivo"), head.index("N. indicatore")
    return {(r[code], r[n]): r[col] for r in ws.iter_rows(min_row=2, values_only=True) if r[code]}


@pytest.fixture(scope="module")
def two_years(tmp_path_factory):
    """2024 merged and archived -> plan next 2025 -> 2025 templates, returns, merge, archive."""
    base = tmp_path_factory.mktemp("archivio")
    y24 = base / "2024"
    plan_path, plan, templates, returns, result = H.cycle(y24)
    db = base / "archivio.sqlite"
    stored = A.store_cycle(db, plan, result, kind="merge")

    y25 = base / "2025"
    y25.mkdir()
    report = plan_next(plan_path, 2025, y25 / "piano.xlsx", db=db)
    plan25 = H.load(y25 / "piano.xlsx")
    templates25 = H.make_templates(plan25, y25 / "modelli")
    H.fill(plan25, templates25, y25 / "restituiti")
    from pegxl.merge import merge
    result25 = merge(plan25, [y25 / "restituiti"], y25 / "consolidato")
    stored25 = A.store_cycle(db, plan25, result25, kind="merge")
    return dict(base=base, db=db, plan=plan, plan_path=plan_path, result=result, stored=stored,
                report=report, plan25=plan25, templates25=templates25, result25=result25,
                stored25=stored25)


# ---------------------------------------------------------------------- two years

def test_store_records_the_cycle(two_years):
    db, s = two_years["db"], two_years["stored"]
    assert (s.ente, s.anno, s.fase, s.kind, s.version) == ("Comune di Prova", 2024, "Rendicontazione finale",
                                                           "merge", 1)
    t = A.cycle_tables(db, s.id)
    c = t["cycle"].iloc[0]
    assert c["plan_fingerprint"] == two_years["plan"].fingerprint()
    assert ["Tetto indicatore", 100.0] in json.loads(c["rules_json"])
    assert c["format_version"] == "1.0"
    assert c["ente_percentage"] == pytest.approx(two_years["result"].scores.ente["percentage"])
    assert len(t["sectors"]) == 3 and len(t["objectives"]) == 6
    ind = t["indicators"].set_index(["sector", "objective", "indicator"])
    row = ind.loc[("S01", "2024_S01_01", 1)]
    assert (row["achieved_raw"], row["achieved_value"], row["achieved_num"]) == ("366", "366", 366.0)
    assert row["score"] == 100.0 and row["target_num"] == 300.0
    row = ind.loc[("S01", "2024_S01_01", 2)]
    assert row["value_type"] == "data" and row["achieved_value"] == "2024-09-30"
    assert row["target_value"] == "2024-10-31"
    assert ind.loc[("S03", "2024_S03_01", 1)]["achieved_value"] == "sì"
    obj = t["objectives"].set_index(["sector", "objective"])
    assert obj.loc[("S01", "2024_S01_01")]["grade"] == pytest.approx(94.0)
    assert obj.loc[("S01", "2024_S01_01")]["report"] == "Relazione S01"
    prov = t["provenance"]
    assert len(prov) == 3 and prov["sha256"].str.len().eq(64).all() and prov["used"].eq(1).all()
    assert "V016" in set(t["findings"]["code"])


def test_plan_next_rolls_the_year(two_years):
    rep, p = two_years["report"], two_years["plan25"]
    assert p.anno == 2025 and p.fase == "Rendicontazione finale" and p.ente == "Comune di Prova"
    assert rep.renamed == {"2024_S01_01": "2025_S01_01", "2024_S02_01": "2025_S02_01",
                           "2024_S03_01": "2025_S03_01"}
    assert set(p.objectives["objective"]) == {"2025_S01_01", "2025_S02_01", "2025_S03_01", "PTPCT"}
    assert p.deadline == dt.date(2026, 2, 28) and p.reference_date == dt.date(2025, 12, 31)
    ph = p.phases.set_index(["objective", "phase"])
    assert ph.loc[("2025_S01_01", 1), "planned_end"] == dt.date(2025, 2, 28)     # from 29/02/2024
    assert ph.loc[("2025_S01_01", 2), "planned_start"] == dt.date(2025, 3, 1)
    assert rep.feb29 == 1
    ind = p.indicators.set_index(["objective", "indicator"])
    assert ind.loc[("2025_S01_01", 2), "target_value"] == dt.date(2025, 10, 31)
    assert ind.loc[("2025_S01_01", 1), "previous"] == 366
    assert ind.loc[("2025_S02_01", 1), "previous"] == 85.5
    assert ind.loc[("2025_S03_01", 1), "previous"] == "sì"
    assert "2025_S01_01" in rep.to_text() and "29 febbraio" in rep.to_text()


def test_templates_of_next_year_show_last_years_values(two_years):
    tpl = two_years["templates25"]
    values = template_values(tpl["S01"], "Indicatori", "Valore anno precedente")
    assert values[("2025_S01_01", 1)] == 366
    assert values[("2025_S01_01", 2)] in (dt.datetime(2024, 9, 30), dt.date(2024, 9, 30), "30/09/2024")
    assert template_values(tpl["S02"], "Indicatori", "Valore anno precedente")[("2025_S02_01", 1)] == 85.5


def test_history_across_years(two_years):
    db = two_years["db"]
    h = A.history_objective(db, "2025_S01_01")
    assert list(h["anno"]) == [2024, 2025]
    assert list(h["objective"]) == ["2024_S01_01", "2025_S01_01"]
    assert list(h["grade"]) == pytest.approx(list(two_years["result"].scores.objectives.set_index(
        ["sector", "objective"]).loc[[("S01", "2024_S01_01")], "grade"]) + list(
        two_years["result25"].scores.objectives.set_index(["sector", "objective"]).loc[
            [("S01", "2025_S01_01")], "grade"]))
    assert len(A.history_objective(db, "2024_S01_01")) == 2          # either year's code works
    hi = A.history_indicator(db, "2024_S01_01", 1)
    assert list(hi["achieved_num"]) == [366.0, 410.0]
    assert list(hi["anno"]) == [2024, 2025]
    hs = A.history_sector(db, "S02")
    assert list(hs["anno"]) == [2024, 2025] and hs["percentage"].notna().all()
    ptpct = A.history_objective(db, "PTPCT")
    assert len(ptpct) == 6 and set(ptpct["sector"]) == {"S01", "S02", "S03"}
    assert A.history_objective(db, "NON-ESISTE").empty
    assert A.history_sector(db, "S02", ente="Altro ente").empty


def test_previous_values_and_fill_previous(two_years, tmp_path):
    db = two_years["db"]
    path = tmp_path / "piano-2026.xlsx"
    plan_next(two_years["base"] / "2025" / "piano.xlsx", 2026, path)       # no archive: previous blank
    p26 = H.load(path)
    assert p26.indicators["previous"].map(lambda v: v is None).all()
    prev = A.previous_values(db, p26)
    assert list(prev.columns[:4]) == ["objective", "indicator", "anno", "achieved"]
    s01 = prev[(prev["objective"] == "2026_S01_01") & (prev["indicator"] == 1)]
    assert list(s01["anno"]) == [2025, 2024] and list(s01["achieved"]) == [410.0, 366.0]
    d = prev[(prev["objective"] == "2026_S01_01") & (prev["indicator"] == 2)]
    assert list(d["achieved"]) == [dt.date(2025, 11, 15), dt.date(2024, 9, 30)]
    filled = A.fill_previous(p26, db)
    ind = filled.indicators.set_index(["objective", "indicator"])
    assert ind.loc[("2026_S01_01", 1), "previous"] == 410.0
    assert ind.loc[("2026_S01_01", 1), "previous_2"] == 366.0
    assert ind.loc[("2026_S03_01", 1), "previous"] == "no" and ind.loc[("2026_S03_01", 1), "previous_2"] == "sì"
    # a trasversale indicator: the value all settori share (2025), blank where they differ (2024)
    assert ind.loc[("PTPCT", 1), "previous"] == 100.0
    assert ind.loc[("PTPCT", 1), "previous_2"] is None
    assert p26.indicators["previous"].map(lambda v: v is None).all()       # the input is not changed
    # a value the plan already has is kept
    p = dataclasses.replace(p26, indicators=p26.indicators.copy())
    p.indicators.loc[p.indicators["objective"] == "2026_S02_01", "previous"] = 12
    assert A.fill_previous(p, db).indicators.set_index(["objective", "indicator"]).loc[
        ("2026_S02_01", 1), "previous"] == 12


# ------------------------------------------------------------------- versions, kinds

def test_later_cycle_is_a_new_version_and_history_takes_the_latest(tmp_path):
    plan_path, plan, templates, returns, result = H.cycle(tmp_path / "w")
    db = tmp_path / "a.sqlite"
    first = A.store_cycle(db, plan, result)
    scores = result.scores
    obj = scores.objectives.copy()
    mask = (obj["sector"] == "S01") & (obj["objective"] == "2024_S01_01")
    obj.loc[mask, "grade"] = 55.0
    second = A.store_cycle(db, plan, dataclasses.replace(scores, objectives=obj), result.validation)
    assert (first.version, second.version) == (1, 2)
    h = A.history_objective(db, "2024_S01_01")
    assert list(h["grade"]) == [55.0] and list(h["version"]) == [2]
    # an OIV cycle of the same year counts before the merge
    obj.loc[mask, "grade"] = 77.0
    oiv = A.store_cycle(db, plan, dataclasses.replace(scores, objectives=obj), result.validation, kind="oiv")
    assert oiv.version == 1
    assert list(A.history_objective(db, "2024_S01_01")["grade"]) == [77.0]
    every = A.history_objective(db, "2024_S01_01", all_cycles=True)
    assert sorted(zip(every["kind"], every["grade"])) == [("merge", 55.0), ("oiv", 77.0)]
    assert A.latest_cycle(db, plan) == oiv.id
    assert A.latest_cycle(db, plan, kind="merge") == second.id
    assert len(A.cycles(db)) == 3
    with pytest.raises(ValueError):
        A.store_cycle(db, plan, result, kind="altro")


# --------------------------------------------------------------------- atomicity

def test_a_failure_mid_write_leaves_the_archive_as_it_was(tmp_path, monkeypatch):
    plan_path, plan, templates, returns, result = H.cycle(tmp_path / "w")
    db = tmp_path / "a.sqlite"
    A.store_cycle(db, plan, result)
    before = dump(db)
    real = A._insert
    calls = []

    def failing(conn, table, cycle_id, rows):
        calls.append(table)
        if table == "indicators":
            raise RuntimeError("disco pieno (simulato)")
        return real(conn, table, cycle_id, rows)

    monkeypatch.setattr(A, "_insert", failing)
    with pytest.raises(RuntimeError):
        A.store_cycle(db, plan, result)
    assert calls[:4] == ["sectors", "objectives", "phases", "indicators"]     # it failed midway
    assert dump(db) == before
    monkeypatch.setattr(A, "_insert", real)
    again = A.store_cycle(db, plan, result)
    assert again.version == 2           # the failed one took no version


def test_a_process_killed_mid_write_leaves_the_archive_as_it_was(tmp_path):
    plan_path, plan, templates, returns, result = H.cycle(tmp_path / "w")
    db = tmp_path / "a.sqlite"
    A.store_cycle(db, plan, result)
    before = dump(db)
    script = textwrap.dedent(f"""
        import os
        from pegxl import archive as A
        from pegxl.merge import merge
        from pegxl.validators.plan import read_plan
        plan = read_plan({str(plan_path)!r})
        result = merge(plan, [{str(tmp_path / 'w' / 'restituiti')!r}], {str(tmp_path / 'out2')!r})
        real = A._insert
        def killer(conn, table, cycle_id, rows):
            real(conn, table, cycle_id, rows)
            if table == "phases":
                os._exit(9)          # killed with rows already written in the transaction
        A._insert = killer
        A.store_cycle({str(db)!r}, plan, result)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 9, proc.stderr
    assert dump(db) == before
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    assert A.store_cycle(db, plan, result).version == 2


def test_unusable_archive_is_A001(tmp_path, two_years):
    bad = tmp_path / "non-archivio.sqlite"
    bad.write_bytes(b"questo non e' un database sqlite" * 100)
    with pytest.raises(PegxlError) as exc:
        A.store_cycle(bad, two_years["plan"], two_years["result"])
    assert exc.value.findings[0].code == "A001"
    with pytest.raises(PegxlError) as exc:
        A.history_sector(tmp_path / "manca.sqlite", "S01")
    assert exc.value.findings[0].code == "A001"
    assert not (tmp_path / "manca.sqlite").exists()


# ------------------------------------------------------------------------- rollover

def test_rollover_helpers():
    assert shift_date(dt.date(2024, 2, 29), 1) == (dt.date(2025, 2, 28), True)
    assert shift_date(dt.date(2023, 2, 28), 1) == (dt.date(2024, 2, 28), False)
    assert shift_date(dt.date(2024, 2, 29), 4) == (dt.date(2028, 2, 29), False)
    assert rename_code("2024_S08_01", 2024, 2025) == "2025_S08_01"
    assert rename_code("OB-2024-3", 2024, 2025) == "OB-2025-3"
    assert rename_code("S120245", 2024, 2025) == "S120245"
    assert rename_code("PTPCT", 2024, 2025) == "PTPCT"
    assert A.year_key("2024_S08_01", 2024) == "{anno}_S08_01" == A.year_key("2025_S08_01")


def test_plan_next_refuses_bad_requests(two_years, tmp_path):
    src = two_years["plan_path"]
    with pytest.raises(PegxlError) as exc:
        plan_next(src, 2024, tmp_path / "x.xlsx")
    assert exc.value.findings[0].code == "U001"
    with pytest.raises(PegxlError):
        plan_next(src, 2025, src)
    (tmp_path / "esiste.xlsx").write_bytes(b"x")
    with pytest.raises(PegxlError) as exc:
        plan_next(src, 2025, tmp_path / "esiste.xlsx")
    assert exc.value.findings[0].code == "U002"
    plan_next(src, 2025, tmp_path / "esiste.xlsx", force=True)
    assert H.load(tmp_path / "esiste.xlsx").anno == 2025


# ------------------------------------------------------------------------------ CLI

def test_history_cli(two_years, cli, tmp_path):
    import shutil
    runner = CliRunner()
    plan = two_years["base"] / "2025" / "piano.xlsx"
    db = two_years["db"]
    res = runner.invoke(cli, ["history", "--plan", str(plan), "--db", str(db), "--objective", "2025_S01_01"])
    assert res.exit_code == 0, res.output
    assert "2024" in res.output and "2025" in res.output and "94,00%" in res.output
    res = runner.invoke(cli, ["history", "--plan", str(plan), "--db", str(db), "--indicator", "2025_S01_01", "1",
                              "--format", "csv"])
    assert res.exit_code == 0
    lines = res.output.splitlines()
    assert lines[0].startswith("\ufeffAnno;Fase del ciclo;Ciclo;Versione")     # ";" and BOM: Italian Excel
    assert len(lines) == 3
    res = runner.invoke(cli, ["history", "--plan", str(plan), "--db", str(db), "--sector", "S03",
                              "--format", "json"])
    doc = json.loads(res.output)
    assert [r["anno"] for r in doc["rows"]] == [2024, 2025]
    res = runner.invoke(cli, ["history", "--plan", str(plan), "--db", str(db), "--sector", "S99"])
    assert res.exit_code == 1 and "A002" in res.output
    res = runner.invoke(cli, ["history", "--plan", str(plan), "--db", str(db)])
    assert res.exit_code == 2
    # the default archive is the one beside the plan
    shutil.copy(plan, tmp_path / "piano.xlsx")
    shutil.copy(db, tmp_path / A.DEFAULT_DB_NAME)
    res = runner.invoke(cli, ["history", "--plan", str(tmp_path / "piano.xlsx"), "--sector", "S01"])
    assert res.exit_code == 0, res.output


def test_plan_next_cli(two_years, cli, tmp_path):
    runner = CliRunner()
    out = tmp_path / "piano-2025.xlsx"
    args = ["plan", "next", str(two_years["plan_path"]), "--anno", "2025", "-o", str(out),
            "--db", str(two_years["db"])]
    res = runner.invoke(cli, args)
    assert res.exit_code == 0, res.output
    assert "2024_S01_01 → 2025_S01_01" in res.output
    assert H.load(out).indicators.set_index(["objective", "indicator"]).loc[("2025_S01_01", 1), "previous"] == 366
    res = runner.invoke(cli, args)
    assert res.exit_code == 2 and "U002" in res.output
    assert runner.invoke(cli, args + ["--force"]).exit_code == 0


def test_an_oiv_cycle_counts_and_keeps_the_typed_values(tmp_path):
    from pegxl.oiv import oiv_final
    plan_path, plan, templates, returns, result = H.cycle(tmp_path / "w")
    db = tmp_path / "a.sqlite"
    A.store_cycle(db, plan, result, kind="merge")
    wb = openpyxl.load_workbook(result.consolidated)
    ws = wb["Obiettivi"]
    head = {c.value: c.column for c in ws[1] if c.value is not None}
    for r in range(2, ws.max_row + 1):
        if (ws.cell(r, head["Codice settore"]).value, ws.cell(r, head["Codice obiettivo"]).value) == \
                ("S01", "2024_S01_01"):
            ws.cell(r, head["Valutazione OIV %"]).value = 70
            ws.cell(r, head["Note OIV"]).value = "Fase 2 non conclusa"
    wb.save(tmp_path / "dall_oiv.xlsx")
    oiv = oiv_final(plan, tmp_path / "dall_oiv.xlsx", tmp_path / "finale")
    stored = A.store_cycle(db, plan, oiv, kind="oiv")
    assert (stored.kind, stored.version) == ("oiv", 1)
    h = A.history_objective(db, "2024_S01_01")
    assert list(h["kind"]) == ["oiv"] and list(h["oiv_grade"]) == [70.0] and list(h["grade"]) == [70.0]
    # the OIV changes grades, not what the settori typed: those come from the merge
    hi = A.history_indicator(db, "2024_S01_01", 1)
    assert list(hi["kind"]) == ["oiv"] and list(hi["achieved_num"]) == [366.0]
    t = A.cycle_tables(db, stored.id)
    assert len(t["provenance"]) == 3
    assert t["objectives"].set_index(["sector", "objective"]).loc[("S01", "2024_S01_01"), "report"] == "Relazione S01"
    assert A.achieved_in(db, plan.ente, 2024)[("2024_S01_01", 1)] == 366.0


def test_templates_show_the_two_previous_years_from_the_archive():
    """Cinisello's sheets show the values of the two previous years: so do the templates."""
    from pegxl.workbook import contract as C
    headers = C.T_INDICATORS.headers
    assert headers.index("Valore due anni prima") > headers.index("Raggiungimento %")


def test_the_ribbon_makes_templates_with_the_previous_years_like_the_cli(two_years, tmp_path, cli):
    """«Crea modelli» and `pegxl templates` run the same flow: Valore anno precedente (and
    due anni prima) from the archive beside the plan, where the plan leaves them blank."""
    import shutil

    from pegxl.macros import actions as X
    from pegxl.macros.sheets import OpenpyxlBook
    shutil.copy(two_years["db"], tmp_path / A.DEFAULT_DB_NAME)
    plan_path = tmp_path / "piano.xlsx"
    plan_next(two_years["base"] / "2025" / "piano.xlsx", 2026, plan_path)       # previous left blank
    out = X.perform("make_templates", OpenpyxlBook(plan_path), plan_path)
    assert out.ok, out.message
    assert "anni precedenti" in out.message
    res = CliRunner().invoke(cli, ["templates", str(plan_path), "-o", str(tmp_path / "cli")])
    assert res.exit_code == 0, res.output
    ribbon = sorted((tmp_path / "modelli").glob("*.xlsx"))
    assert [p.name for p in ribbon] == sorted(p.name for p in (tmp_path / "cli").glob("*.xlsx"))
    for header in ("Valore anno precedente", "Valore due anni prima"):
        for p in ribbon:
            assert template_values(p, "Indicatori", header) == template_values(tmp_path / "cli" / p.name,
                                                                               "Indicatori", header)
    s01 = next(p for p in ribbon if "_S01_" in p.name)
    assert template_values(s01, "Indicatori", "Valore anno precedente")[("2026_S01_01", 1)] == 410
    assert template_values(s01, "Indicatori", "Valore due anni prima")[("2026_S01_01", 1)] == 366


def test_a_record_spill_keeps_every_record_in_order_across_its_batches(monkeypatch):
    """RecordSpill writes its lines a batch at a time: read before, between and after the
    batches, appended to after a reading, it gives every record once, in order."""
    from pegxl.consolidated.records import RecordSpill
    monkeypatch.setattr(RecordSpill, "BATCH", 3)
    made = [("Fasi", f'["S1","O1",{i}]', '{"Note":"n' + "è" * (i % 3) + '"}') for i in range(10)]
    with RecordSpill() as spill:
        assert list(spill) == [] and len(spill) == 0
        spill.extend(made[:4])                    # one batch written, one line waiting
        assert list(spill) == made[:4]
        spill.extend(made[4:])
        assert len(spill) == 10 and list(spill) == made and list(spill) == made


def test_written_records_digested_as_stored_equal_to_values_digest(two_years, tmp_path):
    """store_cycle streams the records a merge wrote (from a RecordSpill, never all in memory)
    and digests them sorted by SQLite: the digest is values_digest's of the same records,
    whatever their characters (accents, signs beyond the BMP, above U+FFFF and below), and
    consolidated_run finds the archive intact."""
    from pegxl.consolidated.records import RecordSpill
    records = [("Obiettivi", '["S1","O1"]', '{"Titolo":"città"}'), ("Obiettivi", '["S1","O2"]', '{"Titolo":"😀"}'),
               ("Obiettivi", '["S1","O\uff21"]', '{"Titolo":"\uffff"}'), ("Fasi", '["S1","O1",1]', '{"Note":"€ a\\nb"}'),
               ("Obiettivi", '["S1","O1 "]', "{}"), ("Anomalie", "[1]", '{"Messaggio":"tab\\t"}'),
               ("Obiettivi", '["S1","O😀"]', '{"Titolo":"x"}')]
    db = tmp_path / "a.sqlite"
    with RecordSpill() as spill:
        spill.extend(reversed(records))
        assert len(spill) == len(records) and list(spill) == list(reversed(records))
        assert list(spill) == list(reversed(records))      # read again, the same
        stored = A.store_cycle(db, two_years["plan"], two_years["result"], kind="merge", run_id="r-spill",
                               written=spill)
    conn = sqlite3.connect(db)
    (digest,) = conn.execute("SELECT values_sha256 FROM cycles WHERE id = ?", (stored.id,)).fetchone()
    conn.close()
    assert digest == A.values_digest(records)
    run = A.consolidated_run(db, "r-spill")
    assert run is not None and run.records["Obiettivi"]['["S1","O2"]'] == {"Titolo": "😀"}
    # no records: no digest, as before
    empty = A.store_cycle(db, two_years["plan"], two_years["result"], kind="merge", run_id="r-none", written=[])
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT values_sha256 FROM cycles WHERE id = ?", (empty.id,)).fetchone() == (None,)
    conn.close()


def test_stored_values_quick_paths_agree_with_the_general_rule():
    """The archive's value helpers take str, float and int without is_blank: the same
    results as the general path (blank texts and NaN are empty, inf is no number, a bool
    is no number), for those and for the values pandas and numpy hand over."""
    import numpy as np
    import pandas as pd

    from pegxl.archive import rows as R

    values = ["", "  ", "\t\n", "x", " a ", 0, 7, -3, True, False, 0.0, 2.5, float("nan"), float("inf"),
              -float("inf"), np.float64(1.5), np.float64("nan"), np.int64(4), np.bool_(True), pd.NA, pd.NaT,
              dt.date(2024, 3, 1), dt.datetime(2024, 3, 1, 8, 30), pd.Timestamp("2024-03-01"), None, "12,5"]
    for v in values:
        want = None if v is None else R._blank_to_none(v)
        got = R._none(v)
        assert (got is None) == (want is None) and (got is None or got is v), v
        got_r, want_r = R._real(v), R._finite(want)
        assert got_r == want_r and type(got_r) is type(want_r), v
        assert R.raw_text(v) == (v if isinstance(v, str) and want is not None else R.value_text(v)), v
    # the general rule itself: what the quick paths must give
    assert R._blank_to_none("  ") is None and R._blank_to_none(float("nan")) is None
    assert R._blank_to_none(pd.NaT) is None and R._blank_to_none(0) == 0
    assert R._finite(float("inf")) is None and R._finite(True) is None and R._finite(3) == 3.0
    assert R._int(7) == 7 and R._int(7.0) == 7 and R._int("") is None and R._int(float("nan")) is None
