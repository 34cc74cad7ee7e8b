"""The archive of past cycles: an embedded SQLite database beside the plan.

`pegxl merge` and `pegxl oiv` store every successful cycle here (default
`<plan dir>/pegxl-archivio.sqlite`, `--db` for another), so that later years can show the
history of an objective, an indicator or a settore, fill "Valore anno precedente", and
feed BI tools (`pegxl export`).

Tables (one row per record per cycle; every table but cycles is keyed by cycle_id):

- cycles: id, ente, anno, fase, kind (merge | oiv), version (1, 2, ... for the same
  ente/anno/fase/kind: a later run is a new version, history reads the latest), created_at,
  plan_fingerprint, plan_path, rules_json (the Regole in force), format_version,
  pegxl_version, ente_percentage, ente_band, ente_json.
- sectors: percentage and fascia of each settore.
- objectives: grades (calcolato, dichiarato, OIV, the one that counts and its source),
  stato, why excluded, the settore's relazione and motivazione.
- phases: planned dates and weight, avanzamento, actual dates, contribution.
- indicators: the plan's target and the achieved value each three ways: as typed
  (`*_raw`, text), as read (`*_value`, text: ISO date, number, sì/no, text) and, for
  numbers, `*_num` (REAL); the score and its status.
- findings: every warning and error of the cycle.
- provenance: every file read (name, settore, SHA-256, when read, template version).
- consolidated_values: what a merge wrote into its consolidated workbook, one row per
  record (sheet, key as JSON, the record as JSON {header: canonical value}, exactly the
  hidden `_pegxl_valori` records plus the `_pegxl` identity and Regole), so that `pegxl oiv`
  checks the OIV's copy against what was really written (cycles.run_id is the identifier
  the workbook carries; cycles.values_sha256 is a digest of all the records).

Schema 2 added run_id, values_sha256 and consolidated_values; 3 cycles.reference_date (the
Data di riferimento: each monitoring and the final report are snapshots, `snapshots.py`); 4
the audit trail and the states (pegxl.archive.trail). Older archives are upgraded when opened.

A cycle is written in ONE transaction: a crash or a kill in the middle leaves the archive
as it was (SQLite's rollback journal). Objective codes that carry their year
("2024_S08_01") are matched across years by that year ("2025_S08_01" is the same
objective one year later), as `pegxl plan next` renames them.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import os
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import pandas as pd

from .. import __version__
from ..errors import EXIT_UNUSABLE, ErrorCode, PegxlError, finding
from ..plan import Plan
from ..values import is_blank
from ..workbook import contract as C
from .rows import TABLES, _cycle_rows, _none, _real, _stored_digest, _usable_paths, cycle_table_rows, value_from_text
from .rows import values_digest as values_digest
from .trail import SCHEMA_4, record_merge
from .upgrade import SCHEMA_3, add_reference_date, upgrade_statement

SCHEMA_VERSION = 4
DEFAULT_DB_NAME = "pegxl-archivio.sqlite"
KINDS = ("merge", "oiv")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT
);
CREATE TABLE IF NOT EXISTS cycles (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ente TEXT NOT NULL,
    anno INTEGER NOT NULL,
    fase TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('merge', 'oiv')),
    version INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    plan_fingerprint TEXT NOT NULL,
    plan_path TEXT,
    rules_json TEXT NOT NULL,
    format_version TEXT NOT NULL,
    pegxl_version TEXT,
    ente_percentage REAL,
    ente_band TEXT,
    ente_json TEXT,
    run_id TEXT,
    values_sha256 TEXT,
    reference_date TEXT,
    UNIQUE (ente, anno, fase, kind, version)
);
CREATE TABLE IF NOT EXISTS sectors (
    cycle_id INTEGER NOT NULL REFERENCES cycles(id) ON DELETE CASCADE,
    sector TEXT NOT NULL,
    sector_name TEXT,
    manager TEXT,
    weight REAL,
    n_objectives INTEGER,
    n_assessed INTEGER,
    percentage REAL,
    band TEXT,
    PRIMARY KEY (cycle_id, sector)
);
CREATE TABLE IF NOT EXISTS objectives (
    cycle_id INTEGER NOT NULL REFERENCES cycles(id) ON DELETE CASCADE,
    sector TEXT NOT NULL,
    objective TEXT NOT NULL,
    title TEXT,
    typology TEXT,
    weight REAL,
    status TEXT,
    phases_pct REAL,
    indicators_pct REAL,
    computed REAL,
    declared REAL,
    oiv_grade REAL,
    grade REAL,
    grade_source TEXT,
    counted INTEGER,
    excluded_reason TEXT,
    grade_for_mean REAL,
    deviation_flag INTEGER,
    report TEXT,
    deviation_reason TEXT,
    PRIMARY KEY (cycle_id, sector, objective)
);
CREATE TABLE IF NOT EXISTS phases (
    cycle_id INTEGER NOT NULL REFERENCES cycles(id) ON DELETE CASCADE,
    sector TEXT NOT NULL,
    objective TEXT NOT NULL,
    phase INTEGER NOT NULL,
    description TEXT,
    planned_start TEXT,
    planned_end TEXT,
    weight REAL,
    progress REAL,
    actual_start TEXT,
    actual_end TEXT,
    effective_weight REAL,
    contribution REAL,
    neutralised INTEGER,
    notes TEXT,
    PRIMARY KEY (cycle_id, sector, objective, phase)
);
CREATE TABLE IF NOT EXISTS indicators (
    cycle_id INTEGER NOT NULL REFERENCES cycles(id) ON DELETE CASCADE,
    sector TEXT NOT NULL,
    objective TEXT NOT NULL,
    indicator INTEGER NOT NULL,
    description TEXT,
    kind TEXT,
    unit TEXT,
    value_type TEXT,
    direction TEXT,
    target_raw TEXT,
    target_value TEXT,
    target_num REAL,
    previous_raw TEXT,
    achieved_raw TEXT,
    achieved_value TEXT,
    achieved_num REAL,
    score REAL,
    status TEXT,
    counted INTEGER,
    effective_weight REAL,
    neutralised INTEGER,
    notes TEXT,
    PRIMARY KEY (cycle_id, sector, objective, indicator)
);
CREATE TABLE IF NOT EXISTS findings (
    cycle_id INTEGER NOT NULL REFERENCES cycles(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    code TEXT NOT NULL,
    severity TEXT NOT NULL,
    message TEXT,
    hint TEXT,
    file TEXT,
    sheet TEXT,
    cell TEXT,
    record TEXT,
    value TEXT,
    PRIMARY KEY (cycle_id, seq)
);
CREATE TABLE IF NOT EXISTS provenance (
    cycle_id INTEGER NOT NULL REFERENCES cycles(id) ON DELETE CASCADE,
    file TEXT NOT NULL,
    sector TEXT,
    sha256 TEXT,
    read_at TEXT,
    modified TEXT,
    template_version TEXT,
    used INTEGER
);
CREATE TABLE IF NOT EXISTS consolidated_values (
    cycle_id INTEGER NOT NULL REFERENCES cycles(id) ON DELETE CASCADE,
    sheet TEXT NOT NULL,
    key TEXT NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (cycle_id, sheet, key)
);
CREATE INDEX IF NOT EXISTS cycles_key ON cycles (ente, anno, fase, kind, version);
CREATE INDEX IF NOT EXISTS cycles_run ON cycles (run_id);
CREATE INDEX IF NOT EXISTS cycles_snapshot ON cycles (ente, anno, reference_date);
CREATE INDEX IF NOT EXISTS objectives_code ON objectives (objective);
CREATE INDEX IF NOT EXISTS indicators_code ON indicators (objective, indicator);
CREATE INDEX IF NOT EXISTS sectors_code ON sectors (sector);
""" + SCHEMA_4

FASE_RANK = {"Rendicontazione finale": 2, "Monitoraggio intermedio": 1}
KIND_RANK = {"oiv": 2, "merge": 1}


@dataclass
class StoredCycle:
    id: int
    ente: str
    anno: int
    fase: str
    kind: str
    version: int
    created_at: str
    db_path: str
    reference_date: str | None = None      # ISO date (Data di riferimento) or None


# ---------------------------------------------------------------------- connecting

def default_db(plan_or_path: Plan | str | os.PathLike | None) -> Path:
    """`<plan dir>/pegxl-archivio.sqlite`."""
    p = plan_or_path.path if isinstance(plan_or_path, Plan) else plan_or_path
    base = Path(p).parent if p else Path.cwd()
    return base / DEFAULT_DB_NAME


def _error(db: Any, exc: BaseException | str) -> PegxlError:
    detail = exc if isinstance(exc, str) else (str(exc) or type(exc).__name__)
    return PegxlError(finding(ErrorCode.A001, file=str(db), value=str(db), detail=detail),
                      exit_code=EXIT_UNUSABLE)


def connect(db_path: str | os.PathLike, *, create: bool = True) -> sqlite3.Connection:
    """An open connection with the schema in place (created when `create`). The
    connection is in autocommit mode: writers open their own transaction."""
    p = Path(db_path)
    if not create and not p.exists():
        raise _error(p, "l'archivio non esiste (nessun consolidamento archiviato)")
    try:
        if create:
            p.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(p), isolation_level=None, timeout=30)
    except (sqlite3.Error, OSError) as exc:
        raise _error(p, exc) from exc
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        found = _schema_version(conn)
        if found is None:
            if not create:
                raise _error(p, "il file non è un archivio pegxl")
            with conn:
                conn.execute("BEGIN IMMEDIATE")
                for stmt in _statements(_SCHEMA):
                    conn.execute(stmt)
                conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
                             (str(SCHEMA_VERSION),))
                conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('created_by', ?)",
                             (f"pegxl {__version__}",))
        elif found > SCHEMA_VERSION:
            raise _error(p, f"archivio di una versione più recente di pegxl (schema {found}); "
                            "aggiornare pegxl")
        elif found < SCHEMA_VERSION:
            _upgrade(conn, found)
        add_reference_date(conn)
    except PegxlError:
        conn.close()
        raise
    except sqlite3.Error as exc:
        conn.close()
        raise _error(p, exc) from exc
    return conn


_UPGRADES = {
    2: ["ALTER TABLE cycles ADD COLUMN run_id TEXT",
        "ALTER TABLE cycles ADD COLUMN values_sha256 TEXT",
        "CREATE TABLE IF NOT EXISTS consolidated_values (cycle_id INTEGER NOT NULL REFERENCES cycles(id) "
        "ON DELETE CASCADE, sheet TEXT NOT NULL, key TEXT NOT NULL, record TEXT NOT NULL, "
        "PRIMARY KEY (cycle_id, sheet, key))",
        "CREATE INDEX IF NOT EXISTS cycles_run ON cycles (run_id)"],
    3: SCHEMA_3,                  # snapshots: the Data di riferimento (pegxl.archive.upgrade)
    4: SCHEMA_4.split(";"),       # the audit trail and the states (pegxl.archive.trail)
}


def _upgrade(conn: sqlite3.Connection, found: int) -> None:
    """Bring an archive of an older schema to SCHEMA_VERSION, in one transaction."""
    with conn:
        conn.execute("BEGIN IMMEDIATE")
        if (_schema_version(conn) or 0) >= SCHEMA_VERSION:      # upgraded meanwhile by another process
            return
        for version in range(found + 1, SCHEMA_VERSION + 1):
            for stmt in _UPGRADES.get(version, []):
                if stmt.strip():
                    upgrade_statement(conn, stmt)
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def _schema_version(conn: sqlite3.Connection) -> int | None:
    row = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone()
    if row is None:
        return None
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row and str(row[0]).isdigit() else None


_INSERTS = {
    "sectors": "INSERT INTO sectors (cycle_id, sector, sector_name, manager, weight, n_objectives, "
               "n_assessed, percentage, band) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "objectives": "INSERT INTO objectives (cycle_id, sector, objective, title, typology, weight, status, "
                  "phases_pct, indicators_pct, computed, declared, oiv_grade, grade, grade_source, counted, "
                  "excluded_reason, grade_for_mean, deviation_flag, report, deviation_reason) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "phases": "INSERT INTO phases (cycle_id, sector, objective, phase, description, planned_start, "
              "planned_end, weight, progress, actual_start, actual_end, effective_weight, contribution, "
              "neutralised, notes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "indicators": "INSERT INTO indicators (cycle_id, sector, objective, indicator, description, kind, unit, "
                  "value_type, direction, target_raw, target_value, target_num, previous_raw, achieved_raw, "
                  "achieved_value, achieved_num, score, status, counted, effective_weight, neutralised, notes) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "findings": "INSERT INTO findings (cycle_id, seq, code, severity, message, hint, file, sheet, cell, "
                "record, value) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "provenance": "INSERT INTO provenance (cycle_id, file, sector, sha256, read_at, modified, "
                  "template_version, used) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
}
_ORDER = TABLES


def _insert(conn: sqlite3.Connection, table: str, cycle_id: int, rows: Iterable[tuple]) -> None:
    conn.executemany(_INSERTS[table], ((cycle_id, *r) for r in rows))


def _jsonable(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if hasattr(v, "item"):
        return v.item()
    return v


def store_cycle(db_path: str | os.PathLike | None, plan: Plan, result: Any, validation: Any = None,
                kind: str = "merge", *, created_at: dt.datetime | None = None, run_id: str | None = None,
                written: Iterable[tuple[str, str, str]] | None = None,
                ready: Callable[[], None] | None = None) -> StoredCycle:
    """Store one merge or oiv cycle in ONE transaction; returns what was stored.

    `run_id` is the identifier of the run (the one its workbook carries); `written`, the
    records (sheet, key json, record json) the run wrote into its consolidated workbook.
    `ready()`, when given, is called in the transaction with everything inserted, just
    before the commit: what it raises rolls the transaction back and passes through (a
    caller that archives while it finishes the files the cycle stands for).

    `result` is a MergeResult-like object (with `.scores` and `.validation`) or a Scores;
    `validation` (a pegxl.validators.returns.Validation) gives the typed values, the findings and the
    provenance. A later cycle of the same (ente, anno, fase, kind) gets the next version.
    """
    if kind not in KINDS:
        raise ValueError(f"kind deve essere uno di {KINDS}: {kind!r}")
    scores = getattr(result, "scores", None) or result
    if validation is None:
        validation = getattr(result, "validation", None)
    if not hasattr(scores, "objectives") or not hasattr(scores, "sectors"):
        raise TypeError("result deve essere un MergeResult o uno Scores")
    db = Path(db_path) if db_path is not None else default_db(plan)
    extra = [] if scores is result else list(getattr(result, "findings", None) or [])
    # an OIV cycle borrows the settori's values from the merge (all its rows made first);
    # a merge makes each table's rows in turn as it stores them (not all of them at once)
    borrow = validation is None or (not getattr(validation, "spilled", False)
                                    and getattr(validation, "indicators", None) is None)
    rows = _cycle_rows(plan, scores, validation, extra) if borrow else None
    usable = _usable_paths(validation)
    rules = getattr(scores, "rules", None) or plan.rules
    rules_json = json.dumps([[n, _jsonable(v)] for n, v in rules.as_rows()], ensure_ascii=False)
    ente = {k: _jsonable(v) for k, v in (getattr(scores, "ente", None) or {}).items()}
    stamp = (created_at or dt.datetime.now().astimezone()).isoformat(timespec="seconds")
    reference = reference_iso(plan)
    conn = connect(db)
    try:
        if rows is not None:
            _borrow_typed_values(conn, plan, rows)
        with conn:   # commit on success; rollback on any exception: the archive stays as it was
            conn.execute("BEGIN IMMEDIATE")
            (version,) = conn.execute(
                "SELECT COALESCE(MAX(version), 0) + 1 FROM cycles "
                "WHERE ente = ? AND anno = ? AND fase = ? AND kind = ?",
                (plan.ente, int(plan.anno), plan.fase, kind)).fetchone()
            cur = conn.execute(
                "INSERT INTO cycles (ente, anno, fase, kind, version, created_at, plan_fingerprint, "
                "plan_path, rules_json, format_version, pegxl_version, ente_percentage, ente_band, ente_json, "
                "run_id, values_sha256, reference_date) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (plan.ente, int(plan.anno), plan.fase, kind, version, stamp, plan.fingerprint(),
                 str(plan.path) if plan.path else None, rules_json, C.FORMAT_VERSION, __version__,
                 _real(ente.get("percentage")), _none(ente.get("band")),
                 json.dumps(ente, ensure_ascii=False, default=str), run_id, None, reference))
            cycle_id = cur.lastrowid
            assert cycle_id is not None   # set by the INSERT
            for table in _ORDER:
                _insert(conn, table, cycle_id, rows[table] if rows is not None else
                        cycle_table_rows(plan, scores, validation, table, extra, usable))
            if written is not None:
                # streamed, and digested as stored (a merge of 1,000 settori writes 100,000)
                conn.executemany("INSERT INTO consolidated_values (cycle_id, sheet, key, record) "
                                 "VALUES (?, ?, ?, ?)", ((cycle_id, *w) for w in written))
                conn.execute("UPDATE cycles SET values_sha256 = ? WHERE id = ?",
                             (_stored_digest(conn, cycle_id), cycle_id))
            record_merge(conn, cycle_id, plan.ente, int(plan.anno), plan.fase, stamp, kind)
            if ready is not None:
                ready()
    except sqlite3.Error as exc:
        raise _error(db, exc) from exc
    finally:
        conn.close()
    return StoredCycle(cycle_id, plan.ente, int(plan.anno), plan.fase, kind, version, stamp, str(db), reference)


def reference_iso(plan: Plan) -> str | None:
    """The plan's Data di riferimento as the archive keeps it (ISO), or None."""
    d = plan.reference_date
    return d.isoformat()[:10] if d is not None else None


def has_run(db_path: str | os.PathLike, run_id: str) -> bool:
    """Whether the archive holds the run `run_id` (False when there is no archive)."""
    return stored_run(db_path, run_id) is not None


def stored_run(db_path: str | os.PathLike, run_id: str) -> StoredCycle | None:
    """The cycle the archive holds for the run `run_id`, as store_cycle returned it, or None."""
    if not run_id or not Path(db_path).exists():
        return None
    found = _query(db_path, "SELECT id, ente, anno, fase, kind, version, created_at, reference_date FROM cycles "
                            "WHERE run_id = ? ORDER BY id DESC LIMIT 1", (run_id,))
    if found.empty:
        return None
    row = found.iloc[0].tolist()
    return StoredCycle(int(row[0]), str(row[1]), int(row[2]), str(row[3]), str(row[4]), int(row[5]),
                       str(row[6]), str(Path(db_path)), row[7])


@dataclass
class ArchivedRun:
    """What a merge run wrote into its consolidated workbook, as archived."""

    cycle_id: int
    version: int
    created_at: str
    run_id: str
    values_sha256: str | None
    records: dict[str, dict[str, dict]]          # sheet -> key json -> {header: canonical value}

    @property
    def label(self) -> str:
        return f"consolidamento del {self.created_at[:19].replace('T', ' ')}, versione {self.version}"


def merge_runs(db_path: str | os.PathLike, ente: str, anno: int, fase: str) -> list[str]:
    """created_at of the merge runs of (ente, anno, fase) archived with what they wrote."""
    conn = _open_existing(db_path)
    try:
        return [r[0] for r in conn.execute(
            "SELECT created_at FROM cycles WHERE ente = ? AND anno = ? AND fase = ? AND kind = 'merge' "
            "AND run_id IS NOT NULL AND values_sha256 IS NOT NULL ORDER BY id", (ente, int(anno), fase))]
    except sqlite3.Error as exc:
        raise _error(db_path, exc) from exc
    finally:
        conn.close()


def consolidated_run(db_path: str | os.PathLike, run_id: str) -> ArchivedRun | None:
    """The archived merge run `run_id` with its written records, or None if not there."""
    conn = _open_existing(db_path)
    try:
        row = conn.execute("SELECT id, version, created_at, values_sha256 FROM cycles "
                           "WHERE run_id = ? AND kind = 'merge' ORDER BY id DESC LIMIT 1", (run_id,)).fetchone()
        if row is None:
            return None
        records: dict[str, dict[str, dict]] = {}
        raw = conn.execute("SELECT sheet, key, record FROM consolidated_values WHERE cycle_id = ?",
                           (row[0],)).fetchall()
        for sheet, key, record in raw:
            try:
                rec = json.loads(record)
            except ValueError:
                rec = {}
            records.setdefault(sheet, {})[key] = rec
    except sqlite3.Error as exc:
        raise _error(db_path, exc) from exc
    finally:
        conn.close()
    run = ArchivedRun(int(row[0]), int(row[1]), str(row[2]), run_id, row[3], records)
    if raw and values_digest(raw) != row[3]:
        # the archive is the reference the OIV's workbook is checked against: it must be intact
        raise PegxlError(finding(ErrorCode.A004, file=str(db_path), value=str(db_path), detail=run.label),
                         exit_code=EXIT_UNUSABLE)
    return run


def _borrow_typed_values(conn: sqlite3.Connection, plan: Plan, rows: dict[str, list[tuple]]) -> None:
    """Without the settori's typed values (an OIV cycle: the OIV changes grades, not what
    the settori typed), take them, and the provenance, from the latest merge of the same
    ente, anno and fase."""
    # the same snapshot: same Data di riferimento (or a merge archived before schema 3, without one)
    got = conn.execute("SELECT id FROM cycles WHERE ente = ? AND anno = ? AND fase = ? AND kind = 'merge' "
                       "AND (reference_date IS ? OR reference_date IS NULL) ORDER BY version DESC LIMIT 1",
                       (plan.ente, int(plan.anno), plan.fase, reference_iso(plan))).fetchone()
    if got is None:
        return
    cid = got[0]
    ind = {(r[0], r[1], r[2]): r[3:] for r in conn.execute(
        "SELECT sector, objective, indicator, achieved_raw, achieved_value, achieved_num, notes "
        "FROM indicators WHERE cycle_id = ?", (cid,))}
    obj = {(r[0], r[1]): r[2:] for r in conn.execute(
        "SELECT sector, objective, report, deviation_reason FROM objectives WHERE cycle_id = ?", (cid,))}
    ph = {(r[0], r[1], r[2]): r[3:] for r in conn.execute(
        "SELECT sector, objective, phase, actual_start, actual_end, notes FROM phases WHERE cycle_id = ?", (cid,))}

    def fill(row: tuple, positions: tuple[int, ...], found: tuple | None) -> tuple:
        if found is None:
            return row
        out = list(row)
        for pos, value in zip(positions, found):
            if out[pos] is None:
                out[pos] = value
        return tuple(out)

    rows["indicators"] = [fill(r, (12, 13, 14, 20), ind.get((r[0], r[1], r[2]))) for r in rows["indicators"]]
    rows["objectives"] = [fill(r, (17, 18), obj.get((r[0], r[1]))) for r in rows["objectives"]]
    rows["phases"] = [fill(r, (8, 9, 13), ph.get((r[0], r[1], r[2]))) for r in rows["phases"]]
    if not rows["provenance"]:
        rows["provenance"] = [tuple(r) for r in conn.execute(
            "SELECT file, sector, sha256, read_at, modified, template_version, used FROM provenance "
            "WHERE cycle_id = ?", (cid,))]


# -------------------------------------------------------------------------- reading

def _open_existing(db: str | os.PathLike) -> sqlite3.Connection:
    return connect(db, create=False)


def _query(db: str | os.PathLike, sql: str, params: Iterable[Any] = ()) -> pd.DataFrame:
    conn = _open_existing(db)
    try:
        cur = conn.execute(sql, tuple(params))
        cols = [c[0] for c in cur.description]
        return pd.DataFrame(cur.fetchall(), columns=cols)
    except sqlite3.Error as exc:
        raise _error(db, exc) from exc
    finally:
        conn.close()


def cycles(db: str | os.PathLike, *, ente: str | None = None) -> pd.DataFrame:
    """Every stored cycle (all versions), oldest first."""
    sql = ("SELECT id, ente, anno, fase, kind, version, created_at, plan_fingerprint, format_version, "
           "ente_percentage, ente_band, reference_date FROM cycles")
    params: list[Any] = []
    if ente is not None:
        sql += " WHERE ente = ?"
        params.append(ente)
    return _query(db, sql + " ORDER BY anno, fase, kind, version", params)


def latest_cycles(db: str | os.PathLike, *, ente: str | None = None, per_year: bool = True) -> pd.DataFrame:
    """The latest version of each snapshot (ente, anno, fase, Data di riferimento) and kind;
    with `per_year`, only the cycle that counts for each (ente, anno): Rendicontazione
    finale before Monitoraggio intermedio (the latest Data di riferimento first), the OIV's
    before the merge."""
    df = cycles(db, ente=ente)
    if df.empty:
        return df
    df = df.assign(_r=df["reference_date"].fillna(""))
    df = df.sort_values("version").drop_duplicates(["ente", "anno", "fase", "_r", "kind"], keep="last")
    if per_year:
        df = df.assign(_f=df["fase"].map(FASE_RANK).fillna(0), _k=df["kind"].map(KIND_RANK).fillna(0))
        df = df.sort_values(["_f", "_r", "_k", "version"]).drop_duplicates(["ente", "anno"], keep="last")
        df = df.drop(columns=["_f", "_k"])
    df = df.drop(columns=["_r"])
    return df.sort_values(["ente", "anno", "fase", "kind"]).reset_index(drop=True)


def latest_cycle(db: str | os.PathLike, plan: Plan, kind: str | None = None) -> int | None:
    """The id of the cycle that counts for the plan's ente, anno and fase (OIV before merge,
    latest version), or None."""
    if not Path(db).exists():
        return None
    df = latest_cycles(db, ente=plan.ente, per_year=False)
    if df.empty:
        return None
    df = df[(df["anno"] == plan.anno) & (df["fase"] == plan.fase)]
    reference = reference_iso(plan)
    if reference is not None:   # the plan's snapshot (cycles archived before schema 3 have no date)
        df = df[df["reference_date"].isna() | (df["reference_date"] == reference)]
    if kind is not None:
        df = df[df["kind"] == kind]
    if df.empty:
        return None
    df = df.assign(_k=df["kind"].map(KIND_RANK).fillna(0)).sort_values(["_k", "version"])
    return int(df.iloc[-1]["id"])


_YEAR = re.compile(r"(?<!\d)(?:19|20)\d\d(?!\d)")


def year_key(code: str, anno: int | None = None) -> str:
    """The code with its year made generic: year_key('2024_S08_01', 2024) == '{anno}_S08_01'.

    Without `anno`, the first four-digit year in the code is taken."""
    if anno is not None:
        return code.replace(str(anno), "{anno}")
    return _YEAR.sub("{anno}", code, count=1)


def _history(db: str | os.PathLike, table: str, cols: str, where: str, params: list[Any], *,
             ente: str | None, all_cycles: bool) -> pd.DataFrame:
    chosen = latest_cycles(db, ente=ente, per_year=not all_cycles)
    head = ["anno", "fase", "kind", "version", "cycle_id"]
    if chosen.empty:
        return pd.DataFrame(columns=head + [c.strip().split(".")[-1] for c in cols.split(",")])
    ids = [int(i) for i in chosen["id"]]
    marks = ",".join("?" * len(ids))
    sql = (f"SELECT c.anno, c.fase, c.kind, c.version, c.id AS cycle_id, {cols} "
           f"FROM {table} t JOIN cycles c ON c.id = t.cycle_id "
           f"WHERE t.cycle_id IN ({marks}) AND ({where}) ORDER BY c.anno, c.fase, c.kind, t.sector")
    return _query(db, sql, ids + params).reset_index(drop=True)


def _code_match(code: str) -> tuple[str, list[Any]]:
    return ("t.objective = ? OR replace(t.objective, CAST(c.anno AS TEXT), '{anno}') = ?",
            [code, year_key(code)])


def history_objective(db: str | os.PathLike, code: str, *, ente: str | None = None,
                      all_cycles: bool = False) -> pd.DataFrame:
    """The grades of one objective across years (one row per settore per year; with
    `all_cycles`, per stored cycle). The code is matched across years by its year."""
    where, params = _code_match(code)
    cols = ("t.sector, t.objective, t.title, t.typology, t.status, t.phases_pct, t.indicators_pct, "
            "t.computed, t.declared, t.oiv_grade, t.grade, t.grade_source, t.counted, t.excluded_reason")
    return _history(db, "objectives", cols, where, params, ente=ente, all_cycles=all_cycles)


def history_indicator(db: str | os.PathLike, code: str, n: int, *, ente: str | None = None,
                      all_cycles: bool = False) -> pd.DataFrame:
    """Indicator `n` of objective `code` across years: target, achieved (as typed and as
    read), score."""
    where, params = _code_match(code)
    cols = ("t.sector, t.objective, t.indicator, t.description, t.value_type, t.direction, "
            "t.target_raw, t.target_value, t.achieved_raw, t.achieved_value, t.achieved_num, "
            "t.score, t.status")
    return _history(db, "indicators", cols, f"({where}) AND t.indicator = ?", params + [int(n)],
                    ente=ente, all_cycles=all_cycles)


def history_sector(db: str | os.PathLike, code: str, *, ente: str | None = None,
                   all_cycles: bool = False) -> pd.DataFrame:
    """A settore's percentage and fascia across years."""
    cols = ("t.sector, t.sector_name, t.manager, t.n_objectives, t.n_assessed, t.percentage, t.band")
    return _history(db, "sectors", cols, "t.sector = ?", [code], ente=ente, all_cycles=all_cycles)


def cycle_tables(db: str | os.PathLike, cycle_id: int) -> dict[str, pd.DataFrame]:
    """Every table of one cycle (sectors, objectives, phases, indicators, findings,
    provenance) and the cycle row itself under 'cycle'."""
    out = {"cycle": _query(db, "SELECT * FROM cycles WHERE id = ?", [cycle_id])}
    for table in _ORDER:
        df = _query(db, f"SELECT * FROM {table} WHERE cycle_id = ?", [cycle_id])
        out[table] = df.drop(columns=["cycle_id"])
    return out


# --------------------------------------------------------------- using the past

PREVIOUS_COLUMNS = ["objective", "indicator", "anno", "achieved", "sector", "fase", "kind", "achieved_text"]


def _year_rows(db: str | os.PathLike, ente: str, years: Iterable[int]) -> pd.DataFrame:
    """Indicator rows of the cycle that counts for each of `years`."""
    chosen = latest_cycles(db, ente=ente, per_year=True)
    chosen = chosen[chosen["anno"].isin(list(years))]
    if chosen.empty:
        return pd.DataFrame(columns=["anno", "fase", "kind", "sector", "objective", "indicator",
                                     "value_type", "achieved_value"])
    ids = [int(i) for i in chosen["id"]]
    sql = ("SELECT c.anno, c.fase, c.kind, t.sector, t.objective, t.indicator, t.value_type, "
           "t.achieved_value FROM indicators t JOIN cycles c ON c.id = t.cycle_id "
           f"WHERE t.cycle_id IN ({','.join('?' * len(ids))}) AND t.achieved_value IS NOT NULL")
    return _query(db, sql, ids)


def previous_values(db: str | os.PathLike, plan: Plan, years: int = 2) -> pd.DataFrame:
    """The values achieved in the `years` years before the plan's, for the plan's
    indicators: objective (the plan's code), indicator, anno, achieved (float, date, 'sì'/'no'
    or text), sector, fase and kind of the cycle, achieved_text. One row per settore: a
    trasversale objective has one value per settore."""
    if db is None or not Path(db).exists():
        return pd.DataFrame(columns=PREVIOUS_COLUMNS)
    wanted = [plan.anno - k for k in range(1, years + 1)]
    found = _year_rows(db, plan.ente, wanted)
    if found.empty or plan.indicators.empty:
        return pd.DataFrame(columns=PREVIOUS_COLUMNS)
    found = found.assign(_key=[year_key(o, a) for o, a in zip(found["objective"], found["anno"])])
    ind = plan.indicators.dropna(subset=["objective", "indicator"])
    mine = pd.DataFrame({"objective": ind["objective"].tolist(),
                         "indicator": [int(i) for i in ind["indicator"]],
                         "_key": [year_key(o, plan.anno) for o in ind["objective"]]})
    out = mine.merge(found.drop(columns=["objective"]), on=["_key", "indicator"], how="inner")
    out["achieved"] = [value_from_text(t, vt) for t, vt in zip(out["achieved_value"], out["value_type"])]
    out = out.rename(columns={"achieved_value": "achieved_text"})
    out["anno"] = out["anno"].astype(int)
    return out[PREVIOUS_COLUMNS].sort_values(["objective", "indicator", "anno", "sector"],
                                             ascending=[True, True, False, True]).reset_index(drop=True)


def _one_value(df: pd.DataFrame) -> Any:
    """The value of a group of settori: the common one, or None when they differ."""
    texts = set(df["achieved_text"])
    if len(texts) != 1:
        return None
    return df["achieved"].iloc[0]


def fill_previous(plan: Plan, db: str | os.PathLike | None) -> Plan:
    """A copy of `plan` whose indicators have `previous` (Valore anno precedente, anno-1)
    filled from the archive where the plan leaves it blank, and a new column `previous_2`
    (anno-2). A trasversale indicator whose settori achieved different values stays blank."""
    ind = plan.indicators.copy()
    prev = previous_values(db, plan) if db is not None else pd.DataFrame(columns=PREVIOUS_COLUMNS)
    values: dict[tuple[str, int, int], Any] = {}
    o: Any   # the group's key: objective, indicator, anno as stored
    i: Any
    a: Any
    for (o, i, a), g in prev.groupby(["objective", "indicator", "anno"], sort=False):
        v = _one_value(g)
        if v is not None:
            values[(o, int(i), int(a))] = v
    p1, p2 = [], []
    for o, i, cur in zip(ind["objective"], ind["indicator"], ind["previous"]):
        try:
            n = int(i)
        except (TypeError, ValueError):
            n = None
        v1 = values.get((o, n, plan.anno - 1)) if n is not None else None
        p1.append(cur if not is_blank(cur) else v1)
        p2.append(values.get((o, n, plan.anno - 2)) if n is not None else None)
    ind["previous"] = pd.Series(p1, index=ind.index, dtype=object)
    ind["previous_2"] = pd.Series(p2, index=ind.index, dtype=object)
    return dataclasses.replace(plan, indicators=ind)


def achieved_in(db: str | os.PathLike, ente: str, anno: int) -> dict[tuple[str, int], Any]:
    """(objective, indicator) -> the value achieved in `anno` (cycle that counts); a
    trasversale indicator only when every settore achieved the same."""
    found = _year_rows(db, ente, [anno])
    out: dict[tuple[str, int], Any] = {}
    if found.empty:
        return out
    found = found.assign(achieved=[value_from_text(t, vt) for t, vt in
                                   zip(found["achieved_value"], found["value_type"])],
                         achieved_text=found["achieved_value"])
    for (o, i), g in found.groupby(["objective", "indicator"], sort=False):
        v = _one_value(g)
        if v is not None:
            out[(o, int(i))] = v
    return out


BESIDE_PLAN = "beside the plan"       # db default of the flows: pegxl-archivio.sqlite beside the plan


def resolve_db(plan: Plan, db: Any) -> Path | None:
    """The archive of a flow: BESIDE_PLAN -> pegxl-archivio.sqlite beside the plan."""
    if db is None:
        return None
    if isinstance(db, str) and db == BESIDE_PLAN:
        return default_db(plan)
    return Path(db)
