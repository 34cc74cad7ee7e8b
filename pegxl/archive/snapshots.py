"""Snapshots: the archived states of one year's plan, in order.

A snapshot is what a merge archived for (ente, anno, Fase del ciclo, Data di riferimento):
a Monitoraggio intermedio at 30/06, another at 30/09 and the Rendicontazione finale of the
same year are three snapshots. They are ordered by fase (every Monitoraggio intermedio
before the Rendicontazione finale) and, within a fase, by Data di riferimento; a cycle
archived before schema 3 has no date and comes before the dated ones of its fase (the
Rendicontazione finale is one a year: its previous snapshot is always a monitoring). Several
runs of one snapshot (versions, the OIV's cycle) are one snapshot: its values are the
settori's, taken from its latest merge.
"""
from __future__ import annotations

import datetime as dt
import os
import sqlite3
from pathlib import Path
from typing import Any

import pandas as pd

from ..plan import Plan
from ..templates.reference import SnapshotValues
from . import FASE_RANK, _error, _open_existing, _query, reference_iso
from .rows import value_from_text

SNAPSHOT_COLUMNS = ["fase", "reference_date", "cycle_id", "kind", "version", "created_at"]


def snapshot_key(fase: str, reference: str | None) -> tuple[int, str]:
    """The order of a snapshot within its year: (fase, Data di riferimento ISO or '')."""
    return (FASE_RANK.get(fase, 0), reference or "")


def snapshots(db: str | os.PathLike, ente: str, anno: int) -> pd.DataFrame:
    """The snapshots of `ente`'s year `anno`, oldest first: fase, reference_date (ISO or
    None), and the cycle whose values stand for it (the latest merge; the latest OIV cycle
    when no merge is left)."""
    if db is None or not Path(db).exists():
        return pd.DataFrame(columns=SNAPSHOT_COLUMNS)
    df = _query(db, "SELECT id AS cycle_id, fase, reference_date, kind, version, created_at FROM cycles "
                    "WHERE ente = ? AND anno = ?", [ente, int(anno)])
    if df.empty:
        return pd.DataFrame(columns=SNAPSHOT_COLUMNS)
    df = df.assign(_r=df["reference_date"].fillna(""), _m=(df["kind"] == "merge").astype(int))
    df = df.sort_values(["_m", "version"]).drop_duplicates(["fase", "_r"], keep="last")
    df = df.assign(_o=[snapshot_key(f, r) for f, r in zip(df["fase"], df["_r"])]).sort_values("_o")
    df = df[SNAPSHOT_COLUMNS].reset_index(drop=True)
    # None, not NaN, for a cycle archived before schema 3: the date is compared as text
    df["reference_date"] = pd.Series([None if pd.isna(r) else r for r in df["reference_date"]], dtype=object)
    return df


def previous_snapshot(db: str | os.PathLike | None, plan: Plan) -> SnapshotValues | None:
    """The snapshot before the plan's in the same ente and anno (an earlier Data di
    riferimento of the same fase, or a Monitoraggio intermedio before the Rendicontazione
    finale) with its values per settore, or None when the archive holds none."""
    if db is None:
        return None
    found = snapshots(db, plan.ente, plan.anno)
    mine = snapshot_key(plan.fase, reference_iso(plan))
    # one Rendicontazione finale a year: another run of it (even one archived without a
    # date) is the same snapshot, never the previous one
    earlier = [r for r in found.to_dict("records")
               if snapshot_key(r["fase"], r["reference_date"]) < mine
               and (r["fase"] != plan.fase or not plan.final)]
    if not earlier:
        return None
    return snapshot_values(db, {str(k): v for k, v in earlier[-1].items()})


def snapshot_values(db: str | os.PathLike, row: dict[str, Any]) -> SnapshotValues:
    """The values of the snapshot `row` (a row of `snapshots`)."""
    cid = int(row["cycle_id"])
    conn = _open_existing(db)
    try:
        phases = {(s, o, int(n)): (None if p is None else float(p)) for s, o, n, p in conn.execute(
            "SELECT sector, objective, phase, progress FROM phases WHERE cycle_id = ?", (cid,))}
        indicators = {(s, o, int(n)): _typed(v, vt) for s, o, n, vt, v in conn.execute(
            "SELECT sector, objective, indicator, value_type, achieved_value FROM indicators "
            "WHERE cycle_id = ?", (cid,))}
    except sqlite3.Error as exc:
        raise _error(db, exc) from exc
    finally:
        conn.close()
    ref = row.get("reference_date")
    return SnapshotValues(str(row["fase"]), dt.date.fromisoformat(ref) if ref else None, cid, phases, indicators)


def _typed(text: Any, value_type: str | None) -> Any:
    """An archived value as validation reads one: sì/no as True/False."""
    v = value_from_text(text, value_type)
    if value_type == "sì/no" and isinstance(v, str):
        return {"sì": True, "no": False}.get(v, v)
    return v
