"""Schema 3 of the archive (snapshots) and upgrade statements that can run twice.

Schema 3 added cycles.reference_date, the plan's Data di riferimento: each Monitoraggio
intermedio and the Rendicontazione finale of a year are separate snapshots
(pegxl.archive.snapshots). Cycles archived before it keep NULL (unknown), which
snapshots.py orders before every dated snapshot of the same fase.
"""
from __future__ import annotations

import re
import sqlite3

SCHEMA_3 = ["ALTER TABLE cycles ADD COLUMN reference_date TEXT",
            "CREATE INDEX IF NOT EXISTS cycles_snapshot ON cycles (ente, anno, reference_date)"]

_ADD_COLUMN = re.compile(r"\s*ALTER TABLE (\w+) ADD COLUMN (\w+)", re.I)


def has_column(conn: sqlite3.Connection, table: str, column: str) -> bool:
    return any(r[1] == column for r in conn.execute(f"PRAGMA table_info({table})"))


def upgrade_statement(conn: sqlite3.Connection, stmt: str) -> None:
    """One upgrade statement; a column already there is not added twice (the schema
    number of an archive can be behind its columns: see add_reference_date)."""
    m = _ADD_COLUMN.match(stmt)
    if m is None or not has_column(conn, m.group(1), m.group(2)):
        conn.execute(stmt)


def add_reference_date(conn: sqlite3.Connection) -> None:
    """Schema 3's column in an archive of schema 4 that lacks it (written by a pegxl that
    had the audit trail but not yet the snapshots): added, NULL like any older cycle."""
    if not has_column(conn, "cycles", "reference_date"):
        with conn:
            conn.execute("BEGIN IMMEDIATE")
            for stmt in SCHEMA_3:
                upgrade_statement(conn, stmt)
