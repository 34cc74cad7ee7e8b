"""Warnings about how a return moved since the previous snapshot of the year, and about
phases late at a monitoring.

- V043: a phase's Avanzamento % is lower than at the previous snapshot.
- V044: an indicator's Valore raggiunto moved away from its Valore atteso since the
  previous snapshot. «Away» follows the Verso: with `>=` (more is better) the value went
  down, with `<=` (less is better) it went up, with `=` it is further from the target; for
  a date `<=` («entro») a later date, `>=` an earlier one; for sì/no it was the expected
  answer and no longer is. Text values are not compared.
- V045: at a Monitoraggio intermedio, a phase whose Fine prevista is before the Data di
  riferimento and whose Avanzamento % is under 100.

All are warnings: they name both values and both dates and never stop a merge.
"""
from __future__ import annotations

import datetime as dt
from typing import Any, TypeGuard

import pandas as pd

from ..errors import ErrorCode, Finding, finding
from ..plan import Plan
from ..templates.reference import SnapshotValues, snapshot_at
from ..values import is_blank, show
from ..workbook import contract as C
from ..workbook.reader import iter_records
from .returns import Validation, _sorted

_WORSE = {">=": "Verso >=, più è meglio: il valore è sceso", "<=": "Verso <=, meno è meglio: il valore è salito",
          "=": "Verso =: il valore è più lontano dall'atteso"}
_WORSE_DATE = {">=": "Verso >=, non prima: la data è anteriore", "<=": "Verso <=, entro: la data è posteriore",
               "=": "Verso =: la data è più lontana da quella attesa"}


def add_progress_findings(v: Validation, previous: SnapshotValues | None) -> Validation:
    """`v` with the findings of `progress_findings` among its own, in the report's order."""
    if previous is None and not _monitoring(v.plan):
        return v   # nothing to compare: the tables are not read
    # a table a batch of files at a time (a merge's are on disk: Validation.chunks); the
    # checks are row by row, and the sort puts the findings in the report's order
    extra = []
    for ph in v.chunks("phases", columns=_wanted(*_PHASE_FIELDS)):
        extra += progress_findings(v.plan, ph, None, previous)
    for ind in v.chunks("indicators", columns=_wanted(*_INDICATOR_FIELDS)):
        extra += progress_findings(v.plan, None, ind, previous)
    if extra:
        v.findings = _sorted(v.findings + extra, v.files)
    return v


def progress_findings(plan: Plan, phases: pd.DataFrame | None, indicators: pd.DataFrame | None,
                      previous: SnapshotValues | None) -> list[Finding]:
    """V043/V044 against `previous` (None: none) and V045 at a monitoring, for the parsed
    rows of a validation (`Validation.phases`, `.indicators`)."""
    at = snapshot_at(plan.fase, plan.reference_date)
    out: list[Finding] = []
    late = _monitoring(plan)
    if previous is None and not late:
        return out
    live_ph = _live(phases, *_PHASE_FIELDS)
    if previous is not None:
        out += _went_back(live_ph, previous, at)
        out += _fell(plan, _live(indicators, *_INDICATOR_FIELDS), previous, at)
    if late:
        assert plan.reference_date is not None
        out += _late(plan, live_ph, plan.reference_date.strftime("%d/%m/%Y"))
    return out


def _monitoring(plan: Plan) -> bool:
    """A monitoring with its reference date: phases late against it are V045."""
    return not plan.final and plan.reference_date is not None


def _live(df: pd.DataFrame | None, *fields: str) -> list[dict[str, Any]]:
    """The rows not neutralised, with `fields` and what _where and the keys read (a
    thousand files' tables whole, as dicts, take seconds)."""
    if df is None or df.empty:
        return []
    return [r for r in iter_records(df, _wanted(*fields)) if not r.get("neutralised")]


_PHASE_FIELDS = ("phase", "progress")
_INDICATOR_FIELDS = ("indicator", "achieved", "achieved_ok", "value_type")


def _wanted(*fields: str) -> list[str]:
    """The columns the checks read for `fields`: the fields, their cells, what locates a row."""
    return ["file", "sector", "objective", *fields, *(f"{f}_cell" for f in fields), "xlrow", "record",
            "neutralised"]


def _where(r: dict[str, Any], sheet: str, fld: str, column: str) -> dict[str, Any]:
    return {"file": r["file"], "sheet": sheet, "cell": r.get(f"{fld}_cell"), "row": r.get("xlrow"),
            "column": column, "record": r.get("record")}


def _went_back(rows: list[dict[str, Any]], previous: SnapshotValues, at: str) -> list[Finding]:
    out = []
    for r in rows:
        now, before = r.get("progress"), previous.phases.get((r["sector"], r["objective"], int(r["phase"])))
        if not _is_number(now) or not _is_number(before) or not now < before:
            continue
        out.append(finding(ErrorCode.V043, **_where(r, C.SHEET_PHASES, "progress", "Avanzamento %"),
                           value=f"{show(now)}%", previous=f"{show(before)}%", at=at, previous_at=previous.at))
    return out


def _fell(plan: Plan, rows: list[dict[str, Any]], previous: SnapshotValues, at: str) -> list[Finding]:
    ind = plan.indicators
    planned = {(o, int(n)): (d, t) for o, n, d, t in zip(ind["objective"], ind["indicator"],
                                                         ind["direction"], ind["target_value"])
               if not is_blank(n)}
    out = []
    for r in rows:
        key = (r["objective"], int(r["indicator"]))
        direction, target = planned.get(key, (None, None))
        now = r.get("achieved") if r.get("achieved_ok", True) else None
        before = previous.indicators.get((r["sector"], *key))
        why = worsened(r.get("value_type"), direction, target, before, now)
        if why is None:
            continue
        out.append(finding(ErrorCode.V044, **_where(r, C.SHEET_INDICATORS, "achieved", "Valore raggiunto"),
                           value=show(now), previous=show(before), at=at, previous_at=previous.at,
                           target=show(target), detail=why))
    return out


def worsened(value_type: Any, direction: Any, target: Any, before: Any, now: Any) -> str | None:
    """Why `now` is further from `target` than `before` was, following the Verso (the plan's
    `direction`: >=, <= or =; see the module's docstring), or None when it is not (or the
    two cannot be compared)."""
    if is_blank(before) or is_blank(now):
        return None
    if value_type == "sì/no":
        if isinstance(target, bool) and isinstance(before, bool) and isinstance(now, bool) \
                and before == target and now != target:
            return "era la risposta attesa, ora non più"
        return None
    d = direction if direction in C.VERSI else None    # the plan's Verso, normalised; None: the default
    if value_type == "data":
        if not isinstance(before, dt.date) or not isinstance(now, dt.date):
            return None
        d = d or "<="
        words = _WORSE_DATE
        a, b = float(before.toordinal()), float(now.toordinal())
        t = float(target.toordinal()) if isinstance(target, dt.date) else None
    elif value_type in ("numero", "percentuale"):
        if not _is_number(before) or not _is_number(now):
            return None
        d = d or ">="
        words = _WORSE
        a, b = float(before), float(now)
        t = float(target) if _is_number(target) else None
    else:
        return None
    if d == ">=":
        worse = b < a
    elif d == "<=":
        worse = b > a
    else:
        worse = t is not None and abs(b - t) > abs(a - t)
    return words[d] if worse else None


def _late(plan: Plan, rows: list[dict[str, Any]], date: str) -> list[Finding]:
    ref = plan.reference_date
    assert ref is not None
    ends = {(o, int(n)): e for o, n, e in zip(plan.phases["objective"], plan.phases["phase"],
                                              plan.phases["planned_end"]) if not is_blank(n)}
    out = []
    for r in rows:
        end = _date(ends.get((r["objective"], int(r["phase"]))))
        now = r.get("progress")
        if end is None or not end < ref or not _is_number(now) or now >= 100:
            continue
        out.append(finding(ErrorCode.V045, **_where(r, C.SHEET_PHASES, "progress", "Avanzamento %"),
                           value=f"{show(now)}%", planned_end=end.strftime("%d/%m/%Y"), date=date))
    return out


def _date(v: Any) -> dt.date | None:
    if is_blank(v):
        return None
    if hasattr(v, "to_pydatetime"):
        v = v.to_pydatetime()
    if isinstance(v, dt.datetime):
        return v.date()
    return v if isinstance(v, dt.date) else None


def _is_number(v: Any) -> TypeGuard[float]:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v


