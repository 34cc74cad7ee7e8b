"""Issue 10 points 2 and 8: the OIV's workbook is checked against what `merge` really wrote
(the archive), `Non valutabile` as a Valutazione OIV %, and all-or-nothing outputs.

The scenario of test_merge.py (S01 86,375 %, S02 65,625 %, Ente 78,075 %), merged with the
flow the CLI and the ribbon run (`merge_cycle`: archived beside the plan).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import errno
import hashlib
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from lo_helper import lo_fill, requires_lo
from merge_plan import APPROX, NOW, S02, build, header_map, oiv_copy, rows_by_key

from pegxl import archive as A
from pegxl import staging
from pegxl.cli import main
from pegxl.consolidated.write import Consolidated, write_consolidated
from pegxl.consolidated.read import inputs_from_book, read_book
from pegxl.tables import key_json, score
from pegxl.errors import PegxlError
from pegxl.flows import merge_cycle, oiv_cycle
from pegxl.merge import merge
from pegxl.oiv import read_oiv


LATER = NOW + dt.timedelta(days=1)
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def cycle(tmp_path_factory):
    """Merged and archived (beside the plan), as `pegxl merge` does."""
    tmp = tmp_path_factory.mktemp("oivtrust")
    plan, rdir, _ = build(tmp)
    result = merge_cycle(plan, [rdir], tmp / "out", now=NOW)
    return plan, result, tmp, tmp / A.DEFAULT_DB_NAME


def snapshot(folder: Path) -> dict[str, str]:
    """Every output file (not our hidden bookkeeping) -> SHA-256."""
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder)
        if p.is_file() and not any(part.startswith(".") for part in rel.parts):
            out[rel.as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def n_cycles(db: Path, kind: str = "merge") -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT COUNT(*) FROM cycles WHERE kind = ?", (kind,)).fetchone()[0]


def run_id_of(path: Path) -> str:
    return str(read_book(path).identity.get("run_id"))


def forge(plan, genuine: Path, dst: Path) -> Path:
    """The attack of issue 10: the consolidated workbook rebuilt with pegxl's own library,
    every phase of S01 at 100, the hidden record rewritten consistently, the run id kept."""
    book = read_book(genuine, plan=plan)
    inputs = inputs_from_book(plan, book)
    ph = inputs.phases.copy()
    ph.loc[ph["sector"] == "S01", "progress"] = 100.0
    inputs = dataclasses.replace(inputs, phases=ph)
    scores = score(plan, inputs, book.sectors)
    data = Consolidated(plan=plan, inputs=inputs, scores=scores, sectors=book.sectors,
                        anomalies=book.anomalies, provenance=book.provenance, created=NOW,
                        run_id=book.identity["run_id"])
    return write_consolidated(data, dst)


# ------------------------------------------------------------------ the archive

def test_merge_archives_every_value_it_wrote_under_the_run_id(cycle):
    plan, result, tmp, db = cycle
    assert result.archived is not None and result.archived.db_path == str(db)
    assert run_id_of(result.consolidated) == result.run_id and len(result.run_id) == 32
    run = A.consolidated_run(db, result.run_id)
    assert run is not None and run.cycle_id == result.archived.id and run.values_sha256
    # the records are the workbook's hidden record, plus its identity and Regole
    book = read_book(result.consolidated, plan=plan)
    assert {s: r for s, r in run.records.items() if s != "_pegxl"} == book.mirror
    assert run.records["_pegxl"][key_json(("identità",))]["Identificativo elaborazione"] == result.run_id
    fase = run.records["Fasi"][key_json(("S01", "O1", 2))]
    assert fase["Avanzamento %"] == 50.0 and "Valutazione OIV %" not in run.records["Obiettivi"][key_json(("S01", "O1"))]


def test_an_archive_of_schema_1_is_upgraded(tmp_path):
    db = tmp_path / "vecchio.sqlite"
    with sqlite3.connect(db) as conn:
        conn.executescript(A._SCHEMA.replace("    run_id TEXT,\n    values_sha256 TEXT,\n", "")
                           .replace("    reference_date TEXT,\n", "")
                           .split("CREATE TABLE IF NOT EXISTS consolidated_values")[0])
        conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', '1')")
    A.connect(db).close()
    with sqlite3.connect(db) as conn:
        cols = {r[1] for r in conn.execute("PRAGMA table_info(cycles)")}
        assert {"run_id", "values_sha256"} <= cols
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == \
            str(A.SCHEMA_VERSION)
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"consolidated_values", "resubmissions", "resubmission_changes", "sector_states"} <= tables


# ------------------------------------------------------------------ forged, legit

def test_a_forged_rebuild_passes_the_self_check_but_not_the_archive(cycle):
    plan, result, tmp, db = cycle
    forged = forge(plan, result.consolidated, tmp / "contraffatto.xlsx")
    # consistent with itself: the workbook's own check cannot see it (what issue 10 found)
    table, findings = read_oiv(plan, forged)
    assert not [f for f in findings if f.is_error]
    # against the archive: refused, located
    table, findings = read_oiv(plan, forged, db=db)
    errors = [f for f in findings if f.is_error]
    assert errors and {f.code for f in errors} <= {"O006", "O008"}
    ws = openpyxl.load_workbook(forged)["Fasi"]
    row = rows_by_key(ws, "Codice settore", "Codice obiettivo", "N. fase")[("S01", "O1", 2)]["_row"]
    cell = f"{openpyxl.utils.get_column_letter(header_map(ws)['Avanzamento %'])}{row}"
    f = next(f for f in errors if f.sheet == "Fasi" and f.column == "Avanzamento %")
    assert (f.code, f.cell, f.record) == ("O006", cell, "S01 / O1 / 2")
    assert "era «50», ora «100»" in f.message and "consolidamento del" in f.message
    sint = next(f for f in errors if f.sheet == "Sintesi" and f.record == "S01")
    assert sint.column == "Percentuale di raggiungimento" and "86,375" in sint.message
    assert any(f.code == "O008" and f.sheet == "_pegxl_valori" for f in errors)

    out = tmp / "finale_contraffatto"
    res = CliRunner().invoke(main, ["oiv", "--plan", str(tmp / "piano.xlsx"), str(forged), "-o", str(out)])
    assert res.exit_code == 1, res.output
    assert "O006" in res.output and f"cella {cell}" in res.output and "S01 / O1 / 2" in res.output
    assert not out.exists()
    assert n_cycles(db, "oiv") == 0


def test_a_forged_run_id_is_refused_when_the_office_archives_its_merges(cycle):
    plan, result, tmp, db = cycle
    forged = forge(plan, result.consolidated, tmp / "contraffatto2.xlsx")
    wb = openpyxl.load_workbook(forged)
    ws = wb["_pegxl"]
    row = next(r for r in ws.iter_rows() if r[0].value == "Identificativo elaborazione")
    row[1].value = "0" * 32
    wb.save(forged)
    table, findings = read_oiv(plan, forged, db=db)
    assert [f.code for f in findings] == ["O012"]
    assert "non è nell'archivio" in findings[0].message


def test_legit_oiv_edits_pass_the_archive_check(cycle):
    plan, result, tmp, db = cycle
    src = oiv_copy(result.consolidated, tmp / "dall_oiv.xlsx",
                   {("Obiettivi", ("S01", "O1"), "Valutazione OIV %"): 70,
                    ("Obiettivi", ("S01", "O1"), "Note OIV"): "Indicatore 1 sotto il valore atteso"})
    out = oiv_cycle(plan, src, tmp / "finale_ok", now=NOW)
    assert out.checked_against is not None and out.checked_against.run_id == result.run_id
    assert [f.code for f in out.findings] == []
    assert out.archived is not None and out.archived.kind == "oiv"
    assert out.scores.sectors.set_index("sector").loc["S01", "percentage"] == pytest.approx(82.0, **APPROX)


@requires_lo
def test_legit_oiv_edits_resaved_by_libreoffice_pass(cycle):
    plan, result, tmp, db = cycle
    ws = openpyxl.load_workbook(result.consolidated)["Obiettivi"]
    h = header_map(ws)
    ob = rows_by_key(ws, "Codice settore", "Codice obiettivo")
    g = openpyxl.utils.get_column_letter(h["Valutazione OIV %"])
    n = openpyxl.utils.get_column_letter(h["Note OIV"])
    oiv_file = tmp / "dall_oiv_calc.xlsx"
    lo_fill(result.consolidated, oiv_file, [
        {"sheet": "Obiettivi", "cell": f"{g}{ob[('S01', 'O1')]['_row']}", "value": 70},
        {"sheet": "Obiettivi", "cell": f"{n}{ob[('S01', 'O1')]['_row']}", "string": "Sotto le attese"},
        {"sheet": "Obiettivi", "cell": f"{g}{ob[('S01', 'O2')]['_row']}", "string": "Non valutabile"},
        {"sheet": "Obiettivi", "cell": f"{n}{ob[('S01', 'O2')]['_row']}", "string": "Sportello chiuso per lavori"},
    ])
    table, findings = read_oiv(plan, oiv_file, db=db)
    assert findings == [], [str(f) for f in findings]
    out = oiv_cycle(plan, oiv_file, tmp / "finale_calc", now=NOW, store=False)
    assert out.checked_against is not None
    # S01 = (70*50 + 100*20) / 70, O2 out of the mean
    assert out.scores.sectors.set_index("sector").loc["S01", "percentage"] == pytest.approx(5500 / 70, **APPROX)


def test_without_an_archive_it_warns_and_says_how(cycle, tmp_path):
    plan, result, tmp, db = cycle
    out = oiv_cycle(plan, result.consolidated, tmp_path / "a", db=tmp_path / "nessuno.sqlite", now=NOW)
    assert [f.code for f in out.findings] == ["O009"]
    assert "solo rispetto a sé stesso" in out.findings[0].message and "--db" in out.findings[0].hint
    assert out.checked_against is None and out.archived is not None    # the oiv cycle is archived there
    out = oiv_cycle(plan, result.consolidated, tmp_path / "b", db=None, now=NOW)
    assert [f.code for f in out.findings] == ["O009"] and out.archived is None
    # the CLI: no archive beside this plan
    plan2, rdir2, _ = build(tmp_path / "altro")
    plain = merge(plan2, [rdir2], tmp_path / "altro" / "out", now=NOW)     # the library, not archived
    res = CliRunner().invoke(main, ["oiv", "--plan", str(tmp_path / "altro" / "piano.xlsx"), str(plain.consolidated),
                                    "-o", str(tmp_path / "c"), "--no-archive"])
    assert res.exit_code == 0, res.output
    assert "O009" in res.output and "--db" in res.output


# ------------------------------------------------------------------ Non valutabile

def test_non_valutabile_with_note_is_left_out_of_every_average(cycle):
    plan, result, tmp, db = cycle
    src = oiv_copy(result.consolidated, tmp / "nv.xlsx",
                   {("Obiettivi", ("S01", "O2"), "Valutazione OIV %"): " non VALUTABILE ",
                    ("Obiettivi", ("S01", "O2"), "Note OIV"): "Sportello chiuso per lavori"})
    table, findings = read_oiv(plan, src, db=db)
    assert findings == []
    t = table.set_index(["sector", "objective"])
    assert bool(t.loc[("S01", "O2"), "oiv_not_assessable"]) and pd_isnan(t.loc[("S01", "O2"), "oiv_grade"])

    out = oiv_cycle(plan, src, tmp / "finale_nv", now=NOW)
    obj = out.scores.objectives.set_index(["sector", "objective"])
    assert obj.loc[("S01", "O2"), "excluded_reason"] == "Non valutabile (OIV)"
    assert obj.loc[("S01", "O2"), "grade_source"] == "OIV" and not obj.loc[("S01", "O2"), "counted"]
    s01 = (78.75 * 50 + 100 * 20) / 70
    assert out.scores.sectors.set_index("sector").loc["S01", "percentage"] == pytest.approx(s01, **APPROX)
    wb = openpyxl.load_workbook(out.path)
    row = rows_by_key(wb["Obiettivi"], "Codice settore", "Codice obiettivo")[("S01", "O2")]
    assert row["Valutazione OIV %"] == "Non valutabile" and row["Grado %"] is None and row["Conta"] == "no"
    assert row["Note"] == "Non valutabile secondo l'OIV: escluso dalla media."
    diff = rows_by_key(wb["Differenze OIV"], "Codice settore", "Codice obiettivo")[("S01", "O2")]
    assert diff["Valutazione OIV %"] == "Non valutabile" and diff["Note OIV"] == "Sportello chiuso per lavori"
    # the archive and the CLI say so too
    stored = A.cycle_tables(db, out.archived.id)["objectives"].set_index(["sector", "objective"])
    assert stored.loc[("S01", "O2"), "excluded_reason"] == "Non valutabile (OIV)"
    res = CliRunner().invoke(main, ["oiv", "--plan", str(tmp / "piano.xlsx"), str(src), "-o", str(tmp / "nv_cli"),
                                    "--no-archive"])
    assert res.exit_code == 0, res.output
    assert "Non valutabili secondo l'OIV (esclusi dalle medie): S01 / O2." in res.output
    assert "Controllato con l'archivio" in res.output


def pd_isnan(x) -> bool:
    return x != x


def test_non_valutabile_without_note_is_O010(cycle):
    plan, result, tmp, db = cycle
    src = oiv_copy(result.consolidated, tmp / "nv_senza.xlsx",
                   {("Obiettivi", ("S01", "O2"), "Valutazione OIV %"): "Non valutabile"})
    table, findings = read_oiv(plan, src, db=db)
    assert [(f.code, f.record, f.column) for f in findings] == [("O010", "S01 / O2", "Note OIV")]
    with pytest.raises(PegxlError) as exc:
        oiv_cycle(plan, src, tmp / "nv_rifiutato", now=NOW)
    assert exc.value.exit_code == 1 and not (tmp / "nv_rifiutato").exists()


@pytest.mark.parametrize("value, shown", [(80, "80"), ("Non valutabile", "Non valutabile")])
def test_a_grade_on_a_rinviato_objective_is_O011(cycle, value, shown):
    plan, result, tmp, db = cycle
    src = oiv_copy(result.consolidated, tmp / f"rinviato_{shown}.xlsx",
                   {("Obiettivi", ("S02", "T1"), "Valutazione OIV %"): value,
                    ("Obiettivi", ("S02", "T1"), "Note OIV"): "Valutato comunque"})
    table, findings = read_oiv(plan, src, db=db)
    assert [(f.code, f.record) for f in findings] == [("O011", "S02 / T1")]
    assert shown in findings[0].message and "Stato Rinviato" in findings[0].message
    out = oiv_cycle(plan, src, tmp / f"finale_rinviato_{shown}", now=NOW, store=False)
    assert out.scores.sectors.set_index("sector").loc["S02", "percentage"] == pytest.approx(S02, **APPROX)


# ------------------------------------------------------------------ all or nothing

@pytest.fixture
def previous(tmp_path):
    """A complete earlier merge in OUTDIR (and in the archive), to be left as it was."""
    plan, rdir, _ = build(tmp_path)
    out = tmp_path / "out"
    first = merge_cycle(plan, [rdir], out, now=NOW)
    return plan, rdir, out, tmp_path / A.DEFAULT_DB_NAME, snapshot(out), first


def test_a_disk_full_after_some_copies_leaves_the_previous_output(previous, monkeypatch):
    plan, rdir, out, db, before, first = previous
    import pegxl.copies as M
    real, calls = M.write_back, []

    def full_disk(*a, **k):
        calls.append(a)
        if len(calls) == 2:              # the consolidated and the first copy are staged
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(*a, **k)

    monkeypatch.setattr(M, "write_back", full_disk)
    with pytest.raises(PegxlError) as exc:
        merge_cycle(plan, [rdir], out, now=LATER)
    assert exc.value.findings[0].code == "M006" and "spazio su disco esaurito" in exc.value.findings[0].message
    assert len(calls) == 2
    assert snapshot(out) == before and n_cycles(db) == 1
    assert not list(out.glob(".pegxl-staging-*")) and not (out / staging.JOURNAL).exists()


def test_a_reconciliation_failing_while_the_archive_fills_stores_nothing(previous, monkeypatch):
    """The archive's transaction fills while the consolidated is saved and reconciled: a
    reconciliation that fails (M005) rolls it back, and the output stays as it was."""
    import pegxl.merge as M
    plan, rdir, out, db, before, first = previous
    from pegxl.tables import LazyInputs
    real, real_start, started = LazyInputs.chunks, M._Archiving.start, []

    def lossy(self, name):
        for chunk in real(self, name):
            if name == "objectives":
                chunk.loc[chunk["objective"] == "O1", "report"] = None
            yield chunk

    def start(self):
        started.append(self)
        real_start(self)

    monkeypatch.setattr(LazyInputs, "chunks", lossy)
    monkeypatch.setattr(M._Archiving, "start", start)
    with pytest.raises(PegxlError) as exc:
        merge_cycle(plan, [rdir], out, now=LATER)
    assert exc.value.findings[0].code == "M005" and len(started) == 1
    assert started[0].stored is None and isinstance(started[0].error, M._Abandoned)
    assert snapshot(out) == before and n_cycles(db) == 1
    assert not list(out.glob(".pegxl-staging-*")) and not (out / staging.JOURNAL).exists()


def test_a_failure_in_the_archive_transaction_leaves_everything_as_it_was(previous, monkeypatch):
    plan, rdir, out, db, before, first = previous
    real = A._insert

    def broken(conn, table, cycle_id, rows):
        if table == "indicators":
            raise sqlite3.OperationalError("disk I/O error")
        return real(conn, table, cycle_id, rows)

    monkeypatch.setattr(A, "_insert", broken)
    with pytest.raises(PegxlError) as exc:
        merge_cycle(plan, [rdir], out, now=LATER)
    assert [f.code for f in exc.value.findings] == ["A003", "A001"] and exc.value.exit_code == 1
    assert snapshot(out) == before and n_cycles(db) == 1
    assert not list(out.glob(".pegxl-staging-*")) and not (out / staging.JOURNAL).exists()
    res = CliRunner().invoke(main, ["merge", "--plan", str(plan.path), str(rdir), "-o", str(out)])
    assert res.exit_code == 1 and "A003" in res.output
    assert snapshot(out) == before


KILLER = """
import datetime as dt, os, signal, sys
from pegxl.validators.plan import read_plan
import pegxl.archive as A, pegxl.copies as CP, pegxl.flows as F, pegxl.merge as M, pegxl.staging as S
where = {where!r}
MAIN = os.getpid()
def die():   # the merge's process (the archive's rows are inserted by a child of it)
    os.kill(MAIN, signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)
if where == "copies":
    real_wb, n = CP.write_back, []
    def wb(*a, **k):
        p = real_wb(*a, **k)
        n.append(p)
        die()
    CP.write_back = wb
elif where == "archive":
    real_ins = A._insert
    def ins(conn, table, cycle_id, rows):
        real_ins(conn, table, cycle_id, rows)
        if table == "phases":
            die()
    A._insert = ins
elif where == "commit":   # everything inserted and the run journaled, not yet committed
    real_ready = M._Archiving._ready
    def ready(self):
        real_ready(self)
        die()
    M._Archiving._ready = ready
elif where == "parent":   # the merge killed while its archive child waits for the decision
    real_ready = M._Archiving._ready
    def ready(self):
        if os.getpid() != MAIN:
            os.kill(MAIN, signal.SIGKILL)
        real_ready(self)
    M._Archiving._ready = ready
elif where == "rename":
    def move(outdir, stage, files):
        os.replace(stage / files[0], outdir / files[0])
        die()
    S._move_all = move
plan = read_plan({plan!r})
F.merge_cycle(plan, [{rdir!r}], {out!r}, now=dt.datetime(2025, 2, 4, 9, 30))
"""


def kill_mid_run(where: str, plan, rdir: Path, out: Path) -> None:
    code = textwrap.dedent(KILLER).format(where=where, plan=str(plan.path),
                                          rdir=str(rdir), out=str(out))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(ROOT))
    assert r.returncode == -signal.SIGKILL, r.stderr


@pytest.mark.parametrize("where", ["copies", "archive", "commit"])
def test_a_merge_killed_before_its_archive_commit_leaves_the_previous_output(previous, where):
    """Killed while the copies are written, while the archive's rows are inserted (the
    files not all staged yet) or with the run journaled and its archive transaction about
    to commit: the previous output and archive stay as they were."""
    plan, rdir, out, db, before, first = previous
    kill_mid_run(where, plan, rdir, out)
    assert snapshot(out) == before
    assert n_cycles(db) == 1                             # SQLite rolled the transaction back
    assert run_id_of(out / first.consolidated.name) == first.run_id
    found = staging.recover(out)                         # what the next run does first
    if where == "commit":
        assert [f.code for f in found] == ["M007"] and "annullata" in found[0].message
    else:                                                # never journaled: the leftovers go quietly
        assert found == []
    assert snapshot(out) == before and not list(out.glob(".pegxl-staging-*"))
    assert not (out / staging.JOURNAL).exists()
    again = merge_cycle(plan, [rdir], out, now=LATER)    # and the next run goes through
    assert n_cycles(db) == 2 and run_id_of(again.consolidated) == again.run_id


def _stores_in(monkeypatch, tmp_path, after=None):
    """merge's store_cycle recording the process it runs in (a file: a child's memory is its own)."""
    import os
    import pegxl.merge as M
    real, where = M.store_cycle, tmp_path / "archived-by"

    def store(*a, **k):
        where.write_text(str(os.getpid()))
        stored = real(*a, **k)
        if after is not None:
            after()
        return stored

    monkeypatch.setattr(M, "store_cycle", store)
    return where


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a forked child only on Linux")
@pytest.mark.parametrize("apart", ["1", "0"])
def test_the_archive_is_filled_by_a_child_process_or_a_thread_alike(previous, tmp_path, monkeypatch, apart):
    """Where the system forks, the archive's transaction is filled by a child (another
    core, no GIL shared with the saving), else by a thread: the same cycle stored."""
    import os
    plan, rdir, out, db, before, first = previous
    monkeypatch.setenv("PEGXL_APART", apart)
    where = _stores_in(monkeypatch, tmp_path)
    again = merge_cycle(plan, [rdir], out, now=LATER)
    assert (int(where.read_text()) != os.getpid()) == (apart == "1")
    assert n_cycles(db) == 2 and again.archived.id == A.cycles(db)["id"].max()
    assert A.stored_run(db, again.run_id) == again.archived
    run = A.consolidated_run(db, again.run_id)
    assert run is not None and run.records and run.cycle_id == again.archived.id
    assert run_id_of(again.consolidated) == again.run_id


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a forked child only on Linux")
def test_an_archive_child_ending_after_its_commit_without_answering_is_found_in_the_archive(
        previous, tmp_path, monkeypatch):
    """Killed between its commit and its answer: the run is in the archive, so the files
    are moved into place as for a commit answered (all or nothing holds)."""
    import os
    plan, rdir, out, db, before, first = previous
    main_pid = os.getpid()

    def vanish():
        if os.getpid() != main_pid:
            os._exit(9)

    _stores_in(monkeypatch, tmp_path, after=vanish)
    again = merge_cycle(plan, [rdir], out, now=LATER)
    assert n_cycles(db) == 2 and again.archived == A.stored_run(db, again.run_id)
    assert snapshot(out) != before and run_id_of(again.consolidated) == again.run_id
    assert not (out / staging.JOURNAL).exists()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a forked child only on Linux")
def test_an_archive_child_whose_merge_is_killed_rolls_back_by_itself(previous, tmp_path):
    """The merge's process killed while its archive child waits for the decision: the
    child sees its parent gone and rolls back (it never holds the archive locked)."""
    plan, rdir, out, db, before, first = previous
    code = textwrap.dedent(KILLER).format(where="parent", plan=str(plan.path), rdir=str(rdir), out=str(out))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(ROOT), timeout=300)
    assert r.returncode == -signal.SIGKILL, r.stderr
    assert n_cycles(db) == 1 and snapshot(out) == before
    again = merge_cycle(plan, [rdir], out, now=LATER)    # the archive is not left locked
    assert n_cycles(db) == 2 and run_id_of(again.consolidated) == again.run_id


def _interrupt_once_committed(monkeypatch) -> list[int]:
    """A KeyboardInterrupt in the merge's process once its archive was told to commit and
    has ended (the first time only); the list says whether it came."""
    import pegxl.merge as M
    real, hits = M._Archiving._joined, []

    def joined(self):
        real(self)
        if self.sent_commit and not hits:
            hits.append(1)
            raise KeyboardInterrupt

    monkeypatch.setattr(M._Archiving, "_joined", joined)
    return hits


@pytest.mark.parametrize("apart", ["1", "0"])
def test_an_interruption_once_the_archive_commits_moves_the_files_into_place(previous, monkeypatch, apart):
    """Ctrl-C while the archive commits: the archive holds the run, so its files are moved
    into place before the interruption goes on (never a cycle archived without its files)."""
    plan, rdir, out, db, before, first = previous
    monkeypatch.setenv("PEGXL_APART", apart)
    hits = _interrupt_once_committed(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        merge_cycle(plan, [rdir], out, now=LATER)
    assert hits and n_cycles(db) == 2
    after, name = snapshot(out), first.consolidated.name   # a copy may be byte for byte the same
    assert set(after) == set(before) and after[name] != before[name]
    run = A.consolidated_run(db, run_id_of(out / first.consolidated.name))
    assert run is not None and run.cycle_id == A.cycles(db)["id"].max()
    assert not list(out.glob(".pegxl-staging-*")) and not (out / staging.JOURNAL).exists()


def test_an_interruption_once_the_archive_commits_is_left_to_recover_if_the_archive_cannot_say(
        previous, monkeypatch):
    """The same, with the archive unreadable at that moment: the staged run stays journaled
    and the next run finishes it (recover asks the archive)."""
    import pegxl.merge as M
    plan, rdir, out, db, before, first = previous
    _interrupt_once_committed(monkeypatch)

    def unreadable(*a, **k):
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(M, "has_run", unreadable)
    with pytest.raises(KeyboardInterrupt):
        merge_cycle(plan, [rdir], out, now=LATER)
    assert n_cycles(db) == 2 and snapshot(out) == before
    assert (out / staging.JOURNAL).exists() and list(out.glob(".pegxl-staging-*"))
    found = staging.recover(out)
    assert [f.code for f in found] == ["M007"] and "completata" in found[0].message
    after, name = snapshot(out), first.consolidated.name
    assert set(after) == set(before) and after[name] != before[name]
    run = A.consolidated_run(db, run_id_of(out / name))
    assert run is not None and run.cycle_id == A.cycles(db)["id"].max()
    assert not list(out.glob(".pegxl-staging-*")) and not (out / staging.JOURNAL).exists()


def test_a_merge_killed_while_moving_into_place_is_finished_by_the_next_run(previous):
    plan, rdir, out, db, before, first = previous
    kill_mid_run("rename", plan, rdir, out)
    assert n_cycles(db) == 2                             # the archive had committed
    mixed = snapshot(out)
    assert mixed != before and (out / staging.JOURNAL).exists()
    assert run_id_of(out / first.consolidated.name) == first.run_id    # the consolidated goes last
    found = staging.recover(out)
    assert [f.code for f in found] == ["M007"] and "completata" in found[0].message
    latest = A.cycles(db)["id"].max()
    run = A.consolidated_run(db, run_id_of(out / first.consolidated.name))
    assert run is not None and run.cycle_id == latest
    after = snapshot(out)
    assert set(after) == set(before) and all(after[k] != before[k] for k in before)   # the new run, whole
    assert not list(out.glob(".pegxl-staging-*")) and not (out / staging.JOURNAL).exists()


def test_the_excel_merge_action_archives_like_the_cli(tmp_path):
    from pegxl.macros import actions as X
    from pegxl.macros.sheets import OpenpyxlBook
    plan, rdir, _ = build(tmp_path)
    rdir.rename(tmp_path / "restituiti")                 # the ribbon's default folders
    out = X.perform("run_merge", OpenpyxlBook(plan.path), plan.path)
    assert out.ok, out.message
    db = tmp_path / A.DEFAULT_DB_NAME
    assert "Ciclo archiviato in" in out.message and n_cycles(db) == 1
    run = A.consolidated_run(db, run_id_of(out.open_path))
    assert run is not None and run.records
    assert out.open_path == tmp_path / "consolidato" / "2024_consolidato_OIV.xlsx"


def test_an_interrupted_oiv_leaves_the_previous_final_workbook(cycle, tmp_path, monkeypatch):
    plan, result, tmp, db = cycle
    src = oiv_copy(result.consolidated, tmp_path / "dall_oiv.xlsx",
                   {("Obiettivi", ("S01", "O1"), "Valutazione OIV %"): 70,
                    ("Obiettivi", ("S01", "O1"), "Note OIV"): "Sotto le attese"})
    first = oiv_cycle(plan, src, tmp_path / "finale", now=NOW)
    before, n = snapshot(tmp_path / "finale"), n_cycles(db, "oiv")
    real = A._insert

    def broken(conn, table, cycle_id, rows):
        if table == "objectives":
            raise sqlite3.OperationalError("database or disk is full")
        return real(conn, table, cycle_id, rows)

    monkeypatch.setattr(A, "_insert", broken)
    with pytest.raises(PegxlError) as exc:
        oiv_cycle(plan, src, tmp_path / "finale", now=LATER)
    assert exc.value.findings[0].code == "A003"
    assert snapshot(tmp_path / "finale") == before and n_cycles(db, "oiv") == n
    assert first.path.is_file() and not list((tmp_path / "finale").glob(".pegxl-staging-*"))


def test_an_archive_whose_written_values_were_altered_is_A004(cycle, tmp_path):
    plan, result, tmp, db = cycle
    altered = tmp_path / "alterato.sqlite"
    altered.write_bytes(db.read_bytes())
    with sqlite3.connect(altered) as conn:
        conn.execute("UPDATE consolidated_values SET record = replace(record, '50.0', '100.0') "
                     "WHERE sheet = 'Fasi'")
    with pytest.raises(PegxlError) as exc:
        read_oiv(plan, result.consolidated, db=altered)
    assert exc.value.findings[0].code == "A004"
