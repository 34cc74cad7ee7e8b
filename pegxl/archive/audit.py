"""Reading and writing the audit trail of an archive by path: the states of the settori
(recorded by send and validate; merge and oiv record theirs with the cycle), the
resubmissions and their differences, the records of a cycle for `pegxl diff`."""
from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from ..errors import EXIT_UNUSABLE, ErrorCode, PegxlError, finding
from . import _error, _query, connect
from .trail import Records, StateEvent, add_states, cycle_records, latest_states, received_events


def record_states(db: str | os.PathLike, ente: str, anno: int, fase: str, events: Iterable[StateEvent]) -> int:
    """Record `events` in the archive `db` (created if missing) in one transaction."""
    events = list(events)
    if not events:
        return 0
    conn = connect(db)
    try:
        with conn:
            conn.execute("BEGIN IMMEDIATE")
            return add_states(conn, ente, anno, fase, events)
    except sqlite3.Error as exc:
        raise _error(db, exc) from exc
    finally:
        conn.close()


def record_checked(db: str | os.PathLike, ente: str, anno: int, fase: str,
                   files: Iterable[tuple[str, str, str | None, str, int]], checked_at: str) -> int:
    """ricevuto then con errori / controllato for each (sector, file, sha256, read_at,
    errors), in one transaction; files already seen checked are left as they are."""
    files = list(files)
    if not files:
        return 0
    conn = connect(db)
    try:
        with conn:
            conn.execute("BEGIN IMMEDIATE")
            events: list[StateEvent] = []
            for sector, file, sha, read_at, errors in files:
                events += received_events(conn, ente, anno, fase, sector, file=file, sha256=sha, read_at=read_at,
                                          checked_at=checked_at, errors=errors, command="validate")
            return add_states(conn, ente, anno, fase, events)
    except sqlite3.Error as exc:
        raise _error(db, exc) from exc
    finally:
        conn.close()


def current_states(db: str | os.PathLike | None, ente: str, anno: int, fase: str) -> dict[str, StateEvent]:
    """sector -> its latest state; empty without an archive."""
    if db is None or not Path(db).exists():
        return {}
    conn = connect(db, create=False)
    try:
        return latest_states(conn, ente, anno, fase)
    except sqlite3.Error as exc:
        raise _error(db, exc) from exc
    finally:
        conn.close()


def state_log(db: str | os.PathLike, ente: str, anno: int, fase: str, sector: str | None = None) -> pd.DataFrame:
    """Every state recorded for the ente, anno and fase (one settore, or all), oldest first."""
    return _of_cycle(db, "SELECT sector, state, at, command, file, sha256, detail FROM sector_states "
                         "WHERE ente = ? AND anno = ? AND fase = ?", (ente, anno, fase), "sector", sector,
                     "sector, at, id")


def _of_cycle(db: str | os.PathLike, sql: str, key: tuple[str, int, str], column: str, sector: str | None,
              order: str) -> pd.DataFrame:
    """`sql` (filtered by ente, anno, fase) for one settore or all, in `order`."""
    params: list[Any] = [key[0], int(key[1]), key[2]]
    if sector is not None:
        sql += f" AND {column} = ?"
        params.append(sector)
    return _query(db, f"{sql} ORDER BY {order}", params)


def resubmissions(db: str | os.PathLike, ente: str, anno: int, fase: str,
                  sector: str | None = None) -> pd.DataFrame:
    """Every resubmission recorded by a merge with its differences: one row per changed
    cell (a resubmission without differences has one row with blank sheet and column)."""
    sql = ("SELECT r.id AS resubmission, r.recorded_at, r.sector, r.file, r.sha256, r.read_at, r.previous_file, "
           "r.previous_sha256, r.cycle_id, r.previous_cycle_id, r.n_changes, ch.sheet, ch.objective, "
           "ch.number, ch.column_name, ch.old, ch.new, ch.kind "
           "FROM resubmissions r JOIN cycles c ON c.id = r.cycle_id "
           "LEFT JOIN resubmission_changes ch ON ch.resubmission_id = r.id "
           "WHERE c.ente = ? AND c.anno = ? AND c.fase = ?")
    return _of_cycle(db, sql, (ente, anno, fase), "r.sector", sector, "r.id, ch.seq")


def cycle_info(db: str | os.PathLike, ente: str, snapshot: str) -> dict[str, Any]:
    """The archived cycle `snapshot` of `ente`: a cycle id (as `pegxl history --cycles`
    lists them), a run id (the one a consolidated workbook carries), or a Fase del ciclo
    (its latest cycle: the OIV's before the merge). A010 when there is none."""
    cols = "id, ente, anno, fase, kind, version, created_at, run_id"
    conn = connect(db, create=False)
    try:
        row = None
        text = str(snapshot).strip()
        if text.isdigit():
            row = conn.execute(f"SELECT {cols} FROM cycles WHERE id = ? AND ente = ?", (int(text), ente)).fetchone()
        if row is None:
            row = conn.execute(f"SELECT {cols} FROM cycles WHERE run_id = ? AND ente = ? ORDER BY id DESC LIMIT 1",
                               (text, ente)).fetchone()
        if row is None:
            row = conn.execute(f"SELECT {cols} FROM cycles WHERE lower(fase) = lower(?) AND ente = ? "
                               "ORDER BY anno DESC, CASE kind WHEN 'oiv' THEN 2 ELSE 1 END DESC, version DESC "
                               "LIMIT 1", (text, ente)).fetchone()
    except sqlite3.Error as exc:
        raise _error(db, exc) from exc
    finally:
        conn.close()
    if row is None:
        raise PegxlError(finding(ErrorCode.A010, value=text, file=str(db), detail=str(db)), exit_code=EXIT_UNUSABLE)
    return dict(zip(["id", "ente", "anno", "fase", "kind", "version", "created_at", "run_id"], row))


def records_of(db: str | os.PathLike, cycle_id: int) -> Records:
    """What the settori typed in the archived cycle `cycle_id`."""
    conn = connect(db, create=False)
    try:
        return cycle_records(conn, cycle_id)
    except sqlite3.Error as exc:
        raise _error(db, exc) from exc
    finally:
        conn.close()
