"""Returns read in worker processes (`--jobs`, issue 12 goal 2): the same report as one process.

The files are spread over a pool and gathered back in input order, so the findings, their
order and every output (text, JSON) must not depend on the number of processes.
"""
from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from test_validate import CLEAN_S01, CLEAN_S02, DROP, Env, make_env, make_return, with_values

import pegxl.validators.returns as V
from pegxl.cli import main


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Env:
    return make_env(tmp_path_factory.mktemp("jobs"))


@pytest.fixture(scope="module")
def corpus(env, tmp_path_factory) -> Path:
    """Returns with errors, warnings, a duplicate settore and a file that is no workbook."""
    d = tmp_path_factory.mktemp("restituiti")
    make_return(env, d / "2024_S02_servizi-sociali.xlsx", sector="S02")
    make_return(env, d / "2024_S01_affari-generali.xlsx",
                with_values(with_values(CLEAN_S01, "Fasi", ("2024_S01_01", 1), avanzamento=120),
                            "Obiettivi", ("2024_S01_02",), stato="Finito"))
    # a number typed as text: a warning (V007)
    make_return(env, d / "b_S02_copia.xlsx",
                with_values(CLEAN_S02, "Indicatori", ("2024_S02_01", 1), raggiunto="86,00"), sector="S02")
    (d / "c_rotto.xlsx").write_text("non è un foglio di calcolo", encoding="utf-8")
    make_return(env, d / "d_S01_bis.xlsx",
                with_values(CLEAN_S01, "Fasi", ("2024_S01_02", 1), fine="2019-01-01"))
    return d


def _run(env: Env, corpus: Path, *extra: str):
    res = CliRunner().invoke(main, ["validate", "--plan", str(env.plan_path), str(corpus), *extra])
    assert "Traceback" not in res.output and res.exception is None or isinstance(res.exception, SystemExit)
    return res


def _timeless(stdout: str) -> str:
    doc = json.loads(stdout)
    if isinstance(doc, dict):
        doc.pop("generated_at", None)
    return json.dumps(doc, ensure_ascii=False, indent=2)


def test_jobs_2_gives_the_same_report_as_jobs_1(env, corpus):
    one = _run(env, corpus, "--jobs", "1", "--format", "json")
    two = _run(env, corpus, "--jobs", "2", "--format", "json")
    assert one.exit_code == two.exit_code == 1
    doc = json.loads(one.stdout)
    codes = {f["code"] for f in doc["findings"]}
    assert {"V001", "V005", "V007", "F002"} <= codes, codes
    assert any(f["severity"] == "avviso" for f in doc["findings"])
    # the same document but for the time it was made
    assert _timeless(one.stdout) == _timeless(two.stdout)
    text_one = _run(env, corpus, "--jobs", "1")
    text_two = _run(env, corpus, "--jobs", "2")
    assert text_one.exit_code == text_two.exit_code == 1
    assert text_one.stdout == text_two.stdout and "F002" in text_one.stdout


def test_status_and_library_default_agree_with_jobs_1(env, corpus):
    one = V.validate_returns(env.plan, [corpus], jobs=1)
    many = V.validate_returns(env.plan, [corpus], jobs=3)
    assert [f.to_dict() for f in one.findings] == [f.to_dict() for f in many.findings]
    assert [rf.path for rf in one.files] == [rf.path for rf in many.files]
    assert one.phases.equals(many.phases) and one.indicators.equals(many.indicators)
    s1 = CliRunner().invoke(main, ["status", "--plan", str(env.plan_path), str(corpus), "--jobs", "1",
                                   "--format", "json"])
    s2 = CliRunner().invoke(main, ["status", "--plan", str(env.plan_path), str(corpus), "--jobs", "2",
                                   "--format", "json"])
    assert s1.exit_code == s2.exit_code and _timeless(s1.stdout) == _timeless(s2.stdout)


def test_jobs_must_be_positive(env, corpus):
    res = CliRunner().invoke(main, ["validate", "--plan", str(env.plan_path), str(corpus), "--jobs", "0"])
    assert res.exit_code == 2


@pytest.mark.skipif(multiprocessing.get_start_method() != "fork",
                    reason="the failure is injected by a patch that only a forked worker inherits")
def test_an_unexpected_failure_in_a_worker_is_that_file_s_f002(env, corpus, monkeypatch):
    real = V.read_return
    parent = os.getpid()

    def flaky(plan_, path, **kw):
        if str(path).endswith("d_S01_bis.xlsx"):
            raise RuntimeError(f"guasto simulato nel processo {'figlio' if os.getpid() != parent else 'padre'}")
        return real(plan_, path, **kw)
    monkeypatch.setattr(V, "read_return", flaky)
    v = V.validate_returns(env.plan, [corpus], jobs=2)
    bad = str(corpus / "d_S01_bis.xlsx")
    mine = v.file_findings(bad)
    assert [f.code for f in mine] == ["F002"]
    assert "guasto simulato nel processo figlio" in mine[0].message
    # the other files are read and checked as usual
    others = {f.code for f in v.file_findings(str(corpus / "2024_S01_affari-generali.xlsx"))}
    assert {"V001", "V005"} <= others and "F002" not in others


def _frames_same(a, b) -> bool:
    """The same columns, dtypes and values (None and NaN told apart, types too)."""
    if list(a.columns) != list(b.columns) or list(a.dtypes) != list(b.dtypes) or not a.index.equals(b.index):
        return False
    for c in a.columns:
        if [(type(x), repr(x)) for x in a[c].tolist()] != [(type(x), repr(x)) for x in b[c].tolist()]:
            return False
    return True


def test_values_checked_in_the_workers_are_those_checked_after_the_reading(env, corpus):
    """A worker checks its file's values (formulas, limits, parsing) and sends back columns,
    not the raw rows; validate_files of the files read with their raw rows says the same."""
    from pegxl.ingest import read_return
    v = V.validate_returns(env.plan, [corpus], jobs=2)
    assert all(rf.rows == {} for rf in v.files)
    files = [read_return(env.plan, p) for p in V.return_paths(env.plan, [corpus])]
    assert any(rf.rows for rf in files)
    here = V.validate_files(env.plan, files)
    assert [f.to_dict() for f in here.findings] == [f.to_dict() for f in v.findings]
    for a, b in ((here.objectives, v.objectives), (here.phases, v.phases), (here.indicators, v.indicators)):
        assert _frames_same(a, b)
    assert v.objectives["file"].dtype == object and v.phases["progress"].dtype == float


def test_a_merge_of_the_same_settori_can_take_the_validation_s_scores(env, tmp_path):
    """Validation scores the settori with one readable file; merge scoring the same settori
    from the same files gets the same figures (Validation.scores_of), not a second scoring."""
    from pegxl.tables import inputs_from_validation, score
    d = tmp_path / "restituiti"
    make_return(env, d / "a_S01.xlsx", with_values(CLEAN_S01, "Fasi", ("2024_S01_01", 1), avanzamento=40))
    make_return(env, d / "b_S02.xlsx", sector="S02")
    v = V.validate_returns(env.plan, [d], jobs=1)
    sectors = v.usable_sectors()
    assert sorted(sectors) == ["S01", "S02"] and v.scores_of(sectors) is v.scores
    again = score(env.plan, inputs_from_validation(v, {rf.path for rf in v.usable_files}), sectors)
    for t in ("objectives", "phases", "indicators", "sectors"):
        assert getattr(again, t).equals(getattr(v.scores, t)), t
    assert again.ente == v.scores.ente
    assert v.scores_of(["S01"]) is None           # another set of settori: scored again
    make_return(env, d / "c_S01_bis.xlsx")         # two files for S01: S01 not scored
    dup = V.validate_returns(env.plan, [d], jobs=1)
    assert dup.scored_sectors == {"S02"} and dup.scores_of(["S01", "S02"]) is None


def test_batches_checked_while_the_workers_read_say_what_one_batch_says(env, tmp_path, monkeypatch):
    """The tables are checked batch by batch as the files come back from the pool: the
    same findings, tables and scores as all at once, a settore whose second file comes
    in a later batch left unscored (I007) like one whose two files come together."""
    d = tmp_path / "restituiti"
    far = with_values(CLEAN_S01, "Obiettivi", ("2024_S01_02",), dichiarato=100, motivazione=DROP)
    far = with_values(far, "Fasi", ("2024_S01_02", 1), avanzamento=50)
    far = with_values(far, "Indicatori", ("2024_S01_02", 1), raggiunto=50000)
    far = with_values(far, "Indicatori", ("2024_S01_02", 2), raggiunto="2024-10-15")
    make_return(env, d / "a_S01.xlsx", far)                                  # V009
    far_s02 = with_values(CLEAN_S02, "Obiettivi", ("2024_S02_01",), dichiarato=5, motivazione=DROP)
    make_return(env, d / "b_S02.xlsx", with_values(far_s02, "Fasi", ("2024_S02_01", 1), avanzamento=120),
                sector="S02")                                                # V009 alone, but S02 is sent twice
    make_return(env, d / "c_S02_bis.xlsx", sector="S02")                     # S02 twice, batches apart
    one = V.validate_returns(env.plan, [d], jobs=1)
    assert "V009" in {f.code for f in one.file_findings(str(d / "a_S01.xlsx"))}
    assert {"V001", "I007"} <= {f.code for f in one.file_findings(str(d / "b_S02.xlsx"))}
    assert "V009" not in {f.code for f in one.findings if f.file != str(d / "a_S01.xlsx")}
    monkeypatch.setattr(V, "BATCH_MIN_FILES", 1)
    monkeypatch.setattr(V, "BATCHES", 100)                                   # a batch a file
    many = V.validate_returns(env.plan, [d], jobs=2)
    assert [f.to_dict() for f in many.findings] == [f.to_dict() for f in one.findings]
    for a, b in ((one.objectives, many.objectives), (one.phases, many.phases), (one.indicators, many.indicators)):
        assert _frames_same(a, b)
    assert one.scored_sectors == many.scored_sectors == {"S01"}
    assert many.scores.objectives.equals(one.scores.objectives)
    # scored once after the reading, the Scores kept (what merge asks for): the same findings
    kept = V.validate_returns(env.plan, [d], jobs=2, keep_scores=True)
    assert kept._scores is not None and kept.scores_of(["S01"]) is kept.scores
    assert [f.to_dict() for f in kept.findings] == [f.to_dict() for f in one.findings]
    assert kept.scores.objectives.equals(one.scores.objectives)


def test_a_spilled_validation_gives_the_same_tables_a_batch_at_a_time(env, corpus, monkeypatch):
    """validate_returns(spill=True), a merge's: the tables go to disk once checked, BATCH_MAX_FILES files at a time; read back whole, a batch at a time, by
    file or by column, they are the tables of a validation held in memory, and the
    findings and scores are the same."""
    held = V.validate_returns(env.plan, [corpus], jobs=1, keep_scores=True)
    for jobs in (1, 2):
        monkeypatch.setattr(V, "BATCH_MAX_FILES", 2)                 # 5 files: 3 batches at least
        monkeypatch.setattr(V, "BATCH_MIN_FILES", 1)
        sp = V.validate_returns(env.plan, [corpus], jobs=jobs, keep_scores=True, spill=True)
        assert sp.spilled and not held.spilled and sp._phases is None
        assert len(sp.spill.files()) >= 3 and all(len(f) <= 2 for f in sp.spill.files()) and sp.spill.size > 0
        assert [f.to_dict() for f in sp.findings] == [f.to_dict() for f in held.findings]
        assert sp.scored_sectors == held.scored_sectors
        for name in ("phases", "indicators"):
            want = V._no_formulas(getattr(held, name))   # formulas and error values: not spilled
            assert _frames_same(getattr(sp, name), want), name
            parts = list(sp.chunks(name))
            assert len(parts) > 1 and sum(len(p) for p in parts) == len(getattr(held, name))
            one = str(corpus / "2024_S01_affari-generali.xlsx")
            mine = [p for p in sp.chunks(name, [one], columns=["objective"])]
            assert len(mine) == 1 and list(mine[0].columns) == ["file", "objective"]
            want = getattr(held, name)
            assert mine[0]["objective"].tolist() == want[want["file"] == one]["objective"].tolist()
        assert sp.phases["progress"].dtype == float and sp.phases["file"].dtype == object
        batches = list(sp.batches())
        assert [sorted(files) for files, _ in batches] == [sorted(f) for f in sp.spill.files()]
        assert sum(len(t.get("objectives", ())) for _, t in batches) == len(sp.objectives)
        # the objectives: on disk whole, in memory only the columns read over every file
        assert list(sp.objectives.columns) == V.OBJECTIVES_HELD
        assert _frames_same(sp.objectives, held.objectives[V.OBJECTIVES_HELD])
        parts = list(sp.chunks("objectives"))
        assert len(parts) > 1
        assert _frames_same(pd.concat(parts, ignore_index=True), V._no_formulas(held.objectives))
        assert _frames_same(pd.concat([t["objectives"] for _, t in batches if "objectives" in t], ignore_index=True),
                            V._no_formulas(held.objectives))


def test_the_spill_keeps_dtypes_and_reads_the_columns_asked(tmp_path):
    import numpy as np
    import pandas as pd

    from pegxl.validators.spill import TableSpill
    spill = TableSpill()
    a = pd.DataFrame({"file": pd.Series(["a", "a", "b"], dtype=object), "x": [1.5, np.nan, 2.0],
                      "t": pd.Series(["sì", None, 3], dtype=object), "ok": np.array([True, False, True])})
    spill.add({"t1": a, "t2": a.iloc[:0]}, ["a", "b"])
    spill.add({"t1": a.assign(file="c")}, ["c"])
    whole = spill.whole("t1")
    assert list(whole.dtypes) == [object, float, object, bool] and len(whole) == 6
    assert whole["t"].tolist()[:3] == ["sì", None, 3] and np.isnan(whole["x"][1])
    assert spill.whole("t2").empty and list(spill.whole("t2").columns) == list(a.columns)
    assert [len(p) for p in spill.chunks("t1", ["b", "c"])] == [1, 3]
    assert list(next(spill.chunks("t1", columns=["x", "nope"])).columns) == ["file", "x"]
    assert [files for files, _ in spill.batches(["c"])] == [frozenset({"c"})]
    spill.close()


def test_the_spill_closes_its_file_when_it_goes_and_refuses_unknown_tables(env, corpus):
    import gc

    from pegxl.validators.spill import TableSpill
    spill = TableSpill()
    f = spill._file
    del spill
    gc.collect()
    assert f.closed
    v = V.validate_returns(env.plan, [corpus], jobs=1, spill=True)
    with pytest.raises(ValueError):
        list(v.chunks("fasi"))
    held = V.validate_returns(env.plan, [corpus], jobs=1)
    held._indicators = None
    assert getattr(held, "indicators", "assente") == "assente"   # AttributeError, not an assertion
    # nothing reads a formula or an error value once the findings are made: not spilled
    assert not [c for c in v.phases.columns if c.endswith(("_formula", "_error"))]
    assert "progress_cell" in v.phases.columns and "xlrow" in v.phases.columns


def test_a_temporary_folder_that_cannot_be_written_is_m008_and_the_merge_changes_nothing(env, corpus, tmp_path,
                                                                                           monkeypatch):
    import tempfile

    from pegxl.errors import ErrorCode, PegxlError
    from pegxl.merge import merge
    from pegxl.validators.spill import TableSpill

    def full(*a, **k):
        raise OSError(28, "No space left on device")
    with monkeypatch.context() as m:
        m.setattr(tempfile, "TemporaryFile", full)
        with pytest.raises(PegxlError) as exc:
            merge(env.plan, [corpus], tmp_path / "out", partial=True)
    assert exc.value.findings[0].is_(ErrorCode.M008) and exc.value.exit_code == 1
    assert "No space left on device" in exc.value.findings[0].message
    assert not (tmp_path / "out").exists()
    spill = TableSpill()

    class Full:
        def seek(self, *a):
            return 0

        def write(self, b):
            raise OSError(28, "No space left on device")
    spill._file = Full()
    import pandas as pd
    with pytest.raises(PegxlError) as exc:
        spill.add({"t": pd.DataFrame({"file": ["a"]})}, ["a"])
    assert exc.value.findings[0].is_(ErrorCode.M008)


def test_lazy_inputs_a_batch_at_a_time_are_the_whole_tables(env, corpus, monkeypatch):
    """LazyInputs.chunks (what the consolidated's sheets read, a batch of files at a time)
    put together are the typed tables made whole, spilled or held."""
    from pegxl.tables import LazyInputs, typed_chunks
    monkeypatch.setattr(V, "BATCH_MAX_FILES", 2)
    monkeypatch.setattr(V, "BATCH_MIN_FILES", 1)
    for spill in (True, False):
        v = V.validate_returns(env.plan, [corpus], jobs=1, spill=spill)
        lazy = LazyInputs(v, [rf.path for rf in v.files if rf.readable])   # errors or not
        for name in ("objectives", "phases", "indicators"):
            parts = list(typed_chunks(lazy, name))
            assert len(parts) >= (2 if spill else 1) and all(len(p) for p in parts), name
            whole = getattr(lazy, name)
            assert len(whole) > 0
            assert _frames_same(pd.concat(parts, ignore_index=True), whole), name
            assert list(whole.dtypes) == list(parts[0].dtypes)


def test_the_keyed_spill_gives_back_every_value_of_a_key_in_order(tmp_path):
    import datetime as dt
    import gc

    from pegxl.validators.spill import KeyedSpill
    spill = KeyedSpill()
    spill.add("S01", [(("S01", "O1"), (1.5, None))])
    spill.add("S02", [])
    spill.add("S01", {"b": dt.date(2024, 3, 1)})
    assert spill.get("S01") == [[(("S01", "O1"), (1.5, None))], {"b": dt.date(2024, 3, 1)}]
    assert spill.get("S02") == [[]] and spill.get("S03") == []
    assert "S02" in spill and "S03" not in spill
    f = spill._file
    del spill
    gc.collect()
    assert f.closed


def test_by_sector_gives_what_a_dict_of_the_whole_table_gives(tmp_path, monkeypatch):
    """consolidated.typed.BySector: a settore at a time, from chunks (a settore in two of
    them, too), the same values as a dict of every row: the last row of a key wins (the
    first with first=True), rows without their number left out, numbers as int."""
    import numpy as np

    from pegxl.consolidated.typed import BySector, by_sector, keyed_rows
    a = pd.DataFrame({"sector": ["S1", "S1", "S2", "S1"], "objective": ["O1", "O1", "O1", "O2"],
                      "phase": [1.0, 2.0, 1.0, np.nan], "notes": ["a", "b", "c", "d"],
                      "progress": [10.0, np.nan, 30.0, 40.0]})
    b = pd.DataFrame({"sector": ["S2", "S1", "S3"], "objective": ["O1", "O1", "O1"],
                      "phase": [1, 1, 2], "notes": ["c2", "a2", "e"], "progress": [31.0, 11.0, None]})
    fields = ("notes", "progress", "absent")
    keys = ("sector", "objective", "phase")
    whole = dict(kv for df in (a, b) for kv in keyed_rows(df, keys, fields))
    first: dict = {}
    for df in (a, b):
        for k, vals in keyed_rows(df, keys, fields):
            first.setdefault(k, vals)
    assert ("S1", "O2", None) not in whole and all(type(k[2]) is int for k in whole)
    for want, flag, held in ((whole, False, 8192), (first, True, 8192), (whole, False, 2), (first, True, 1)):
        monkeypatch.setattr(BySector, "BUFFER", held)   # to disk at the end, or every few rows
        with by_sector(iter([a, b]), keys, fields, first=flag) as by:
            # settori asked out of their order, and asked again
            for s in ("S3", "S1", "S2", "S1", "S9"):
                for k, vals in want.items():
                    if k[0] == s:
                        got = by.get(s, k)
                        assert got[:1] == vals[:1] and got[2] is None, (k, flag)
                        assert (np.isnan(got[1]) and np.isnan(vals[1])) or got[1] == vals[1]
                assert by.get(s, (s, "nessuno", 1), "vuoto") == "vuoto"
    assert whole[("S1", "O1", 1)][0] == "a2" and first[("S1", "O1", 1)][0] == "a"
    objectives = by_sector(iter([a]), ("sector", "objective"), ("notes",), number=False, first=True)
    assert objectives.sectors() == ["S1", "S2"] and list(objectives.of("S1")) == [("S1", "O1"), ("S1", "O2")]
    assert objectives.get("S1", ("S1", "O2")) == ("d",) and objectives.get("S1", ("S1", "O1")) == ("a",)
    objectives.close()
    assert objectives._spill._file.closed


def test_a_packed_plan_index_gives_the_same_records(env, corpus, monkeypatch):
    """PlanIndex.pack (before the readers are forked: each unpickles the settore it reads)
    gives every settore's records as the index built from the columns: same values, same
    types, same order; a settore not in the plan has none. The pool packs it."""
    from pegxl.ingest import PlanIndex
    from pegxl.workbook import contract as C
    plain, packed = PlanIndex(env.plan), PlanIndex(env.plan)
    packed.pack()
    assert packed._packed and not packed._columns
    for sector in [*env.plan.sector_codes, "S99", None, *reversed(env.plan.sector_codes)]:
        for sheet in (C.SHEET_OBJECTIVES, C.SHEET_PHASES, C.SHEET_INDICATORS):
            want, got = plain.rows(sector, sheet), packed.rows(sector, sheet)
            assert [_nan_free(r) for r in got] == [_nan_free(r) for r in want], (sector, sheet)
            assert [[type(v) for v in r.values()] for r in got] == [[type(v) for v in r.values()] for r in want]
            if sector in env.plan.sector_codes:
                assert got
    seen = []
    real = PlanIndex.pack
    monkeypatch.setattr(PlanIndex, "pack", lambda self: (seen.append(self), real(self)))
    two = V.validate_returns(env.plan, [corpus], jobs=2)
    assert len(seen) == 1 and seen[0]._packed
    one = V.validate_returns(env.plan, [corpus], jobs=1)   # one process: nothing forked, nothing packed
    assert len(seen) == 1
    assert [f.to_dict() for f in two.findings] == [f.to_dict() for f in one.findings]


def _nan_free(record: dict) -> list:
    """A record's items with NaN as a word: NaN is unequal to itself (a pickled one is a new object)."""
    return [(k, "NaN" if isinstance(v, float) and v != v else v) for k, v in record.items()]
