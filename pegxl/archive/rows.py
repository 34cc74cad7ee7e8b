"""A cycle as the archive's rows: values as SQLite keeps them (value_text, raw_text, value_from_text) and the rows of every table from the plan, the scores and the validation."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import operator
import sqlite3
from typing import Any, Callable, Iterable, Iterator

import pandas as pd

from ..plan import Plan
from ..values import is_blank
from ..workbook.reader import iter_records, table_chunks

# --------------------------------------------------------------------- value helpers

def _none(v: Any) -> Any:
    if v is None:
        return None
    # the common values first, as is_blank tells them (_blank_to_none, the general rule): a
    # cycle of 1,000 settori stores millions of values
    kind = type(v)
    if kind is str:
        return v if v.strip() else None
    if kind is float:
        return None if v != v else v
    if kind is int or kind is bool:
        return v
    return _blank_to_none(v)


def _blank_to_none(v: Any) -> Any:
    try:
        if is_blank(v):
            return None
    except Exception:
        pass
    return v


def _real(v: Any) -> float | None:
    kind = type(v)
    if kind is float:
        return v if math.isfinite(v) else None
    if kind is int:
        return float(v)
    return _finite(_none(v))


def _finite(v: Any) -> float | None:
    """A number as a finite float (the general rule of _real), else None."""
    if v is None or isinstance(v, bool):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _int(v: Any) -> int | None:
    if type(v) is int:
        return v
    v = _none(v)
    if v is None:
        return None
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def _flag(v: Any) -> int | None:
    v = _none(v)
    if v is None:
        return None
    return 1 if bool(v) else 0


def _iso(v: Any) -> str | None:
    v = _none(v)
    if v is None:
        return None
    if isinstance(v, pd.Timestamp):
        v = v.to_pydatetime()
    if isinstance(v, dt.datetime):
        return v.date().isoformat() if v.time() == dt.time(0) else v.isoformat()
    if isinstance(v, dt.date):
        return v.isoformat()
    return str(v)


def value_text(v: Any) -> str | None:
    """A parsed value as text, reversible by `value_from_text`: ISO date, number, sì/no, text."""
    v = _none(v)
    if v is None:
        return None
    if isinstance(v, bool) or type(v).__name__ == "bool_":
        return "sì" if bool(v) else "no"
    if isinstance(v, (dt.date, dt.datetime, pd.Timestamp)):
        return _iso(v)
    if isinstance(v, (int, float)) or hasattr(v, "item"):
        f = float(v)
        return str(int(f)) if f.is_integer() and abs(f) < 1e15 else repr(f)
    return str(v)


def raw_text(v: Any) -> str | None:
    """A value as the settore typed it (strings kept, numbers and dates shown)."""
    if type(v) is str:
        return v if v.strip() else None
    v = _none(v)
    if v is None:
        return None
    if isinstance(v, str):
        return v
    return value_text(v)


def value_from_text(text: Any, value_type: str | None) -> Any:
    """The inverse of `value_text` for a Tipo valore: float, date, 'sì'/'no' or text."""
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return None
    if value_type in ("numero", "percentuale"):
        try:
            return float(text)
        except (TypeError, ValueError):
            return text
    if value_type == "data":
        try:
            return dt.date.fromisoformat(str(text)[:10])
        except ValueError:
            return text
    return text


def _num_of(v: Any, value_type: str | None) -> float | None:
    if value_type in ("numero", "percentuale"):
        return _real(v)
    return None


# ------------------------------------------------------------------ cycle content

def _usable_paths(validation: Any) -> set[str] | None:
    if validation is None:
        return None
    try:
        return {rf.path for rf in validation.usable_files}
    except Exception:
        return None


def _numbered(df: pd.DataFrame, number: str, cols: list[str]) -> _Rows:
    """A plan table of phases or indicators by (objective, `number` as an int)."""
    df = df.dropna(subset=["objective", number])
    return _by_key(df.assign(**{number: df[number].astype(int)}), ["objective", number], cols)


class _Rows:
    """The first row of each key, its columns as a tuple: a dict per row of a cycle of
    1,000 settori is tens of megabytes, held while the archive fills its tables."""

    __slots__ = ("at", "rows")

    def __init__(self, cols: list[str], rows: dict[Any, tuple]):
        self.at = {c: i for i, c in enumerate(cols)}
        self.rows = rows


def _picker(table: _Rows | None, *cols: str) -> Callable[[Any], tuple]:
    """key -> the values of `cols` in the row of `key` (None where there is no row or no
    such column): one look-up per row of a cycle, not one per value."""
    blank = (None,) * len(cols)
    if table is None:
        return lambda key: blank
    rows, at = table.rows, [table.at.get(c) for c in cols]
    if None not in at:
        get = operator.itemgetter(*at)
        if len(cols) == 1:
            return lambda key: (get(row),) if (row := rows.get(key)) is not None else blank
        return lambda key: get(row) if (row := rows.get(key)) is not None else blank

    def pick(key: Any) -> tuple:
        row = rows.get(key)
        return blank if row is None else tuple(None if i is None else row[i] for i in at)
    return pick


def _by_key(df: pd.DataFrame, keys: list[str], cols: list[str]) -> _Rows:
    """The first row of each key (a value for one key column, else a tuple), its `cols`
    only: a look-up per value (df.at) costs tens of µs, a table of 1,000 settori has
    hundreds of thousands."""
    df = df.drop_duplicates(keys, keep="first")
    cols = [c for c in cols if c in df.columns]
    ids = df[keys[0]].tolist() if len(keys) == 1 else list(zip(*(df[k].tolist() for k in keys)))
    values = zip(*(df[c].tolist() for c in cols)) if cols else (() for _ in ids)
    return _Rows(cols, dict(zip(ids, values)))


def _inputs(validation: Any, name: str, keys: list[str], usable: set[str] | None,
            cols: list[str]) -> _Rows | None:
    """The settori's rows of table `name` from usable files only, one per key (the first).
    A table a batch of files at a time when the validation has it on disk (a merge's)."""
    if validation is None:
        return None
    out: _Rows | None = None
    for df in table_chunks(validation, name, usable, [*keys, *cols]):
        if not set(keys) <= set(df.columns):
            return None
        part = _by_key(df, keys, cols)
        if out is None:
            out = part
        else:
            for k, row in part.rows.items():
                out.rows.setdefault(k, row)
    return out


TABLES = ("sectors", "objectives", "phases", "indicators", "findings", "provenance")


def _cycle_rows(plan: Plan, scores: Any, validation: Any,
                extra_findings: Iterable[Any] = ()) -> dict[str, list[tuple]]:
    """The rows of every table of a cycle (see cycle_table_rows)."""
    usable = _usable_paths(validation)
    return {t: list(cycle_table_rows(plan, scores, validation, t, extra_findings, usable)) for t in TABLES}


def cycle_table_rows(plan: Plan, scores: Any, validation: Any, table: str,
                     extra_findings: Iterable[Any] = (), usable: Any = ...) -> Iterator[tuple]:
    """The rows of one table of a cycle, one at a time as they are stored: the rows and the
    look-ups of a cycle of 1,000 settori (100,000 rows) are never all held at once."""
    if usable is ...:
        usable = _usable_paths(validation)
    if table == "sectors":
        for r in scores.sectors.to_dict("records"):
            yield (r["sector"], _none(r.get("sector_name")), _none(r.get("manager")), _real(r.get("weight")),
                   _int(r.get("n_objectives")), _int(r.get("n_assessed")), _real(r.get("percentage")),
                   _none(r.get("band")))
        return
    if table == "objectives":
        v_obj = _inputs(validation, "objectives", ["sector", "objective"], usable,
                        ["report", "deviation_reason"])
        typology = _picker(_by_key(plan.objectives, ["objective"], ["typology"]), "typology")
        typed = _picker(v_obj, "report", "deviation_reason")
        for r in iter_records(scores.objectives):
            report, reason = typed((r["sector"], r["objective"]))
            yield ((
                r["sector"], r["objective"], _none(r.get("title")),
                _none(typology(r["objective"])[0]), _real(r.get("weight")),
                _none(r.get("status")), _real(r.get("phases_pct")), _real(r.get("indicators_pct")),
                _real(r.get("computed")), _real(r.get("declared")), _real(r.get("oiv_grade")),
                _real(r.get("grade")), _none(r.get("grade_source")), _flag(r.get("counted")),
                _none(r.get("excluded_reason")), _real(r.get("grade_for_mean")), _flag(r.get("deviation_flag")),
                raw_text(report), raw_text(reason)))
        return
    if table == "phases":
        v_ph = _inputs(validation, "phases", ["sector", "objective", "phase"], usable,
                       ["actual_start", "actual_end", "notes"])
        planned = _picker(_numbered(plan.phases, "phase", ["description", "planned_start", "planned_end", "weight"]),
                          "description", "planned_start", "planned_end", "weight")
        typed = _picker(v_ph, "actual_start", "actual_end", "notes")
        for r in iter_records(scores.phases):
            n = _int(r.get("phase"))
            description, start, end, weight = planned((r["objective"], n))
            actual_start, actual_end, notes = typed((r["sector"], r["objective"], n))
            yield ((
                r["sector"], r["objective"], n, _none(description), _iso(start), _iso(end),
                _real(weight), _real(r.get("progress")), _iso(actual_start), _iso(actual_end),
                _real(r.get("effective_weight")), _real(r.get("contribution")), _flag(r.get("neutralised")),
                raw_text(notes)))
        return
    if table == "indicators":
        v_ind = _inputs(validation, "indicators", ["sector", "objective", "indicator"], usable,
                        ["achieved", "achieved_raw", "notes"])
        fields = ["value_type", "target_value", "description", "kind", "unit", "direction", "target", "previous"]
        planned = _picker(_numbered(plan.indicators, "indicator", fields), *fields)
        typed = _picker(v_ind, "achieved", "achieved_raw", "notes")
        for r in iter_records(scores.indicators):
            n = _int(r.get("indicator"))
            vt, target_value, description, kind, unit, direction, target, previous = planned((r["objective"], n))
            vt = _none(vt)
            achieved, achieved_raw, notes = typed((r["sector"], r["objective"], n))
            if achieved_raw is None and achieved is not None:
                achieved_raw = achieved
            yield ((
                r["sector"], r["objective"], n, _none(description), _none(kind), _none(unit), vt,
                _none(direction), raw_text(target), value_text(target_value), _num_of(target_value, vt),
                raw_text(previous), raw_text(achieved_raw), value_text(achieved), _num_of(achieved, vt),
                _real(r.get("score")), _none(r.get("status")), _flag(r.get("counted")),
                _real(r.get("effective_weight")), _flag(r.get("neutralised")), raw_text(notes)))
        return
    if table == "findings":
        findings = list(getattr(validation, "findings", None) or []) + list(extra_findings)
        for i, f in enumerate(findings, start=1):
            yield (i, f.code, f.severity, f.message, f.hint, f.file, f.sheet, f.cell, f.record, raw_text(f.value))
        return
    if table == "provenance":
        for rf in getattr(validation, "files", None) or []:
            yield ((
                str(rf.path), getattr(rf, "sector", None), getattr(rf, "sha256", None),
                _iso(getattr(rf, "read_at", None)), _iso(getattr(rf, "modified", None)),
                _none(getattr(rf, "template_version", None)),
                1 if usable is None or rf.path in usable else 0))
        return
    raise ValueError(f"tabella sconosciuta: {table!r}")


# ------------------------------------------------------------------ written records

def values_digest(written: Iterable[tuple[str, str, str]]) -> str:
    """SHA-256 of the records a merge wrote (order-independent)."""
    h = hashlib.sha256()
    for sheet, key, record in sorted(written):
        h.update(json.dumps([sheet, key, record], ensure_ascii=False).encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()


def _stored_digest(conn: sqlite3.Connection, cycle_id: int) -> str | None:
    """values_digest of the records stored for `cycle_id` (None without any), sorted by
    SQLite: text compared byte by byte in UTF-8 orders as Python orders the same strings."""
    rows = conn.execute("SELECT sheet, key, record FROM consolidated_values WHERE cycle_id = ? "
                        "ORDER BY sheet, key, record", (cycle_id,))
    h = hashlib.sha256()
    n = 0
    for sheet, key, record in rows:
        h.update(json.dumps([sheet, key, record], ensure_ascii=False).encode("utf-8"))
        h.update(b"\n")
        n += 1
    return h.hexdigest() if n else None
