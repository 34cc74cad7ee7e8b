"""The audit trail of the archive (schema 4): what each settore typed, compared record by
record; every resubmission's differences; every settore's state with its time.

Tables (created with the schema, or by the upgrade to schema 4):

- resubmissions: one row per return of a settore that replaced an earlier, different one
  (another SHA-256) in a later merge of the same ente, anno and fase: cycle_id (the merge
  that read it), previous_cycle_id, sector, file, sha256, read_at, previous_file,
  previous_sha256, recorded_at, n_changes.
- resubmission_changes: the differences of a resubmission, one per cell: sheet,
  objective, number (N. fase / N. indicatore, NULL on Obiettivi), column (the header),
  old and new (canonical text: ISO date, number, sì/no, text), kind (how to show them).
- sector_states: every state a settore's return went through (inviato, ricevuto, con
  errori, controllato, consolidato, validato dall'OIV) for an ente, anno and fase, with
  its time, the command that caused it, the file and its SHA-256.

Every function here works on an open connection inside the caller's transaction: a merge
records its resubmissions and states in the same all-or-nothing step as the cycle.
"""
from __future__ import annotations

import datetime as dt
import math
import sqlite3
from dataclasses import dataclass
from typing import Any, Iterable

from .rows import value_text

SCHEMA_4 = """
CREATE TABLE IF NOT EXISTS resubmissions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    cycle_id INTEGER NOT NULL REFERENCES cycles(id) ON DELETE CASCADE,
    previous_cycle_id INTEGER,
    sector TEXT NOT NULL,
    file TEXT,
    sha256 TEXT,
    read_at TEXT,
    previous_file TEXT,
    previous_sha256 TEXT,
    recorded_at TEXT NOT NULL,
    n_changes INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS resubmission_changes (
    resubmission_id INTEGER NOT NULL REFERENCES resubmissions(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    sheet TEXT NOT NULL,
    objective TEXT NOT NULL,
    number INTEGER,
    column_name TEXT NOT NULL,
    old TEXT,
    new TEXT,
    kind TEXT,
    PRIMARY KEY (resubmission_id, seq)
);
CREATE TABLE IF NOT EXISTS sector_states (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ente TEXT NOT NULL,
    anno INTEGER NOT NULL,
    fase TEXT NOT NULL,
    sector TEXT NOT NULL,
    state TEXT NOT NULL,
    at TEXT NOT NULL,
    command TEXT NOT NULL,
    file TEXT,
    sha256 TEXT,
    detail TEXT
);
CREATE INDEX IF NOT EXISTS resubmissions_cycle ON resubmissions (cycle_id);
CREATE INDEX IF NOT EXISTS sector_states_key ON sector_states (ente, anno, fase, sector)
"""

# ------------------------------------------------------------------------- the states

SENT = "inviato"
RECEIVED = "ricevuto"
WITH_ERRORS = "con errori"
CHECKED = "controllato"
CONSOLIDATED = "consolidato"
OIV_VALIDATED = "validato dall'OIV"
STATES = (SENT, RECEIVED, WITH_ERRORS, CHECKED, CONSOLIDATED, OIV_VALIDATED)


@dataclass(frozen=True)
class StateEvent:
    """One state of a settore's return, with when it was reached and what caused it."""

    sector: str
    state: str
    at: str                       # ISO 8601 with the offset
    command: str
    file: str | None = None
    sha256: str | None = None
    detail: str | None = None


def stamp(when: dt.datetime | str | None = None) -> str:
    """ISO 8601 to the second with the offset (a naive time is local time), so that the
    states of one settore sort by time as text."""
    if isinstance(when, str):
        try:
            when = dt.datetime.fromisoformat(when)
        except ValueError:
            return str(when)
    moment = when if isinstance(when, dt.datetime) else dt.datetime.now()
    return moment.astimezone().isoformat(timespec="seconds")


def latest_states(conn: sqlite3.Connection, ente: str, anno: int, fase: str) -> dict[str, StateEvent]:
    """sector -> its latest state (by time, then by order of recording)."""
    out: dict[str, StateEvent] = {}
    for r in conn.execute("SELECT sector, state, at, command, file, sha256, detail FROM sector_states "
                          "WHERE ente = ? AND anno = ? AND fase = ? ORDER BY at, id", (ente, int(anno), fase)):
        out[r[0]] = StateEvent(*r)
    return out


def add_states(conn: sqlite3.Connection, ente: str, anno: int, fase: str, events: Iterable[StateEvent]) -> int:
    """Record `events`, leaving out the ones that repeat the settore's latest state for the
    same file (validating the same folder twice records nothing new). Returns how many."""
    latest = latest_states(conn, ente, anno, fase)
    n = 0
    for e in events:
        last = latest.get(e.sector)
        if last is not None and last.state == e.state and last.sha256 == e.sha256:
            continue
        conn.execute("INSERT INTO sector_states (ente, anno, fase, sector, state, at, command, file, sha256, "
                     "detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     (ente, int(anno), fase, e.sector, e.state, e.at, e.command, e.file, e.sha256, e.detail))
        latest[e.sector] = e
        n += 1
    return n


def received_events(conn: sqlite3.Connection, ente: str, anno: int, fase: str, sector: str, *,
                    file: str | None, sha256: str | None, read_at: str, checked_at: str, errors: int,
                    command: str) -> list[StateEvent]:
    """ricevuto then con errori / controllato for a settore's file, unless the archive has
    already seen that file (same SHA-256) checked."""
    seen = conn.execute("SELECT 1 FROM sector_states WHERE ente = ? AND anno = ? AND fase = ? AND sector = ? "
                        "AND sha256 = ? AND state IN (?, ?)",
                        (ente, int(anno), fase, sector, sha256, WITH_ERRORS, CHECKED)).fetchone()
    if seen is not None and sha256 is not None:
        return []
    verdict = WITH_ERRORS if errors else CHECKED
    return [StateEvent(sector, RECEIVED, read_at, command, file, sha256),
            StateEvent(sector, verdict, checked_at, command, file, sha256,
                       f"{errors} {'errore' if errors == 1 else 'errori'}" if errors else None)]


# ---------------------------------------------------------------------- the records

# (table, sheet, column in the archive, header, kind); kind None: the indicator's Tipo valore
FIELDS: tuple[tuple[str, str, str, str, str | None], ...] = (
    ("objectives", "Obiettivi", "status", "Stato", "testo"),
    ("objectives", "Obiettivi", "declared", "Grado dichiarato %", "percento"),
    ("objectives", "Obiettivi", "report", "Relazione", "testo"),
    ("objectives", "Obiettivi", "deviation_reason", "Motivazione scostamento", "testo"),
    ("phases", "Fasi", "progress", "Avanzamento %", "percento"),
    ("phases", "Fasi", "actual_start", "Inizio effettivo", "data"),
    ("phases", "Fasi", "actual_end", "Fine effettiva", "data"),
    ("phases", "Fasi", "notes", "Note", "testo"),
    ("indicators", "Indicatori", "achieved_value", "Valore raggiunto", None),
    ("indicators", "Indicatori", "notes", "Note", "testo"),
)
SHEET_ORDER = {"Obiettivi": 0, "Fasi": 1, "Indicatori": 2}

RecordKey = tuple[str, str, str, "int | None"]          # sector, sheet, objective, number
Records = dict[RecordKey, dict[str, tuple[str | None, str]]]   # -> header -> (canonical text, kind)


def canonical(v: Any) -> str | None:
    """A typed value as the comparison sees it: 45, 45.0 and 0.45 scaled to 45 are one
    text; floats are rounded to 9 decimals (a percent read from 0,45 is 45.00000000000001)."""
    if isinstance(v, float) and math.isfinite(v):
        v = round(v, 9)
    text = value_text(v)
    if isinstance(text, str):
        text = text.strip() or None
    return text


def cycle_records(conn: sqlite3.Connection, cycle_id: int, sector: str | None = None) -> Records:
    """What the settori typed in one archived cycle (all settori, or one)."""
    out: Records = {}
    where = "cycle_id = ?" + (" AND sector = ?" if sector is not None else "")
    params: tuple[Any, ...] = (cycle_id, sector) if sector is not None else (cycle_id,)
    for table, sheet, number in (("objectives", "Obiettivi", None), ("phases", "Fasi", "phase"),
                                 ("indicators", "Indicatori", "indicator")):
        cols = [c for t, _, c, _, _ in FIELDS if t == table]
        extra = ", value_type" if table == "indicators" else ""
        sql = (f"SELECT sector, objective, {number or 'NULL'}, {', '.join(cols)}{extra} "
               f"FROM {table} WHERE {where}")
        for r in conn.execute(sql, params):
            vt = r[3 + len(cols)] if extra else None
            fields = [(h, k) for t, _, _, h, k in FIELDS if t == table]
            out[(r[0], sheet, r[1], r[2])] = {h: (canonical(v), k or vt or "testo")
                                               for (h, k), v in zip(fields, r[3:3 + len(cols)])}
    return out


@dataclass(frozen=True)
class Change:
    """One cell that differs: where (settore, sheet, objective, N.) and old -> new."""

    sector: str
    sheet: str
    objective: str
    number: int | None
    column: str
    old: str | None
    new: str | None
    kind: str


def compare(old: Records, new: Records) -> list[Change]:
    """Every cell whose canonical value differs, in sheet and plan order; a record on one
    side only counts its non-blank cells."""
    out: list[Change] = []
    for key in sorted(set(old) | set(new), key=lambda k: (k[0], SHEET_ORDER.get(k[1], 9), k[2], k[3] or 0)):
        a, b = old.get(key, {}), new.get(key, {})
        for header in dict.fromkeys([*a, *b]):
            va, ka = a.get(header, (None, ""))
            vb, kb = b.get(header, (None, ""))
            if va != vb:
                out.append(Change(key[0], key[1], key[2], key[3], header, va, vb, kb or ka or "testo"))
    return out


# ----------------------------------------------------------------- resubmissions

def record_merge(conn: sqlite3.Connection, cycle_id: int, ente: str, anno: int, fase: str,
                 recorded_at: str, kind: str) -> None:
    """After a cycle is inserted (same transaction): for a merge, every resubmission's
    differences and the states ricevuto / controllato (for files not seen checked before)
    and consolidato; for an OIV cycle, validato dall'OIV for every settore it scored."""
    if kind == "oiv":
        sectors = [r[0] for r in conn.execute("SELECT sector FROM sectors WHERE cycle_id = ?", (cycle_id,))]
        add_states(conn, ente, anno, fase, [StateEvent(s, OIV_VALIDATED, recorded_at, "oiv") for s in sectors])
        return
    used = conn.execute("SELECT file, sector, sha256, read_at FROM provenance WHERE cycle_id = ? AND used = 1 "
                        "AND sector IS NOT NULL", (cycle_id,)).fetchall()
    events: list[StateEvent] = []
    for file, sector, sha, read_at in used:
        _resubmission(conn, cycle_id, ente, anno, fase, recorded_at, file, sector, sha, read_at)
        events += received_events(conn, ente, anno, fase, sector, file=file, sha256=sha,
                                  read_at=stamp(read_at or recorded_at), checked_at=recorded_at, errors=0,
                                  command="merge")
        events.append(StateEvent(sector, CONSOLIDATED, recorded_at, "merge", file, sha))
    add_states(conn, ente, anno, fase, events)


def _resubmission(conn: sqlite3.Connection, cycle_id: int, ente: str, anno: int, fase: str, recorded_at: str,
                  file: str, sector: str, sha: str | None, read_at: str | None) -> None:
    prev = conn.execute(
        "SELECT p.cycle_id, p.file, p.sha256 FROM provenance p JOIN cycles c ON c.id = p.cycle_id "
        "WHERE c.ente = ? AND c.anno = ? AND c.fase = ? AND c.kind = 'merge' AND c.id < ? "
        "AND p.used = 1 AND p.sector = ? ORDER BY c.id DESC LIMIT 1",
        (ente, int(anno), fase, cycle_id, sector)).fetchone()
    if prev is None or prev[2] == sha:
        return      # the first return of the settore, or the same file read again
    changes = compare(cycle_records(conn, prev[0], sector), cycle_records(conn, cycle_id, sector))
    cur = conn.execute("INSERT INTO resubmissions (cycle_id, previous_cycle_id, sector, file, sha256, read_at, "
                       "previous_file, previous_sha256, recorded_at, n_changes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (cycle_id, prev[0], sector, file, sha, read_at, prev[1], prev[2], recorded_at, len(changes)))
    conn.executemany("INSERT INTO resubmission_changes (resubmission_id, seq, sheet, objective, number, "
                     "column_name, old, new, kind) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     [(cur.lastrowid, i, c.sheet, c.objective, c.number, c.column, c.old, c.new, c.kind)
                      for i, c in enumerate(changes, start=1)])
