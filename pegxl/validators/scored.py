"""What the scores of returned workbooks say about them (V009, V040-V042), and the
scoring of a group of settori as a merge's worker processes do it (score_group,
score_packed)."""
from __future__ import annotations

import math
import pickle
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import pandas as pd

from ..errors import ErrorCode, Finding, finding, show_value
from ..plan import Plan
from ..scoring import EX_NEUTRALISED, EX_NO_DATA, Figures, Scores, compute
from ..tables import score_input
from ..values import is_blank, round_half_up
from ..workbook import contract as C
from ..workbook.reader import records


def plan_part(plan: Plan, sectors: list[str]) -> Plan:
    """`plan` with the rows of `sectors` (and of their objectives) alone, without the
    sheets it was read from: small enough to send to a process (pack_group)."""
    keep = set(sectors)
    assignments = plan.assignments[plan.assignments["sector"].isin(keep)]
    mine = set(assignments["objective"])
    return replace(plan, sectors=plan.sectors[plan.sectors["sector"].isin(keep)], assignments=assignments,
                   objectives=plan.objectives[plan.objectives["objective"].isin(mine)],
                   phases=plan.phases[plan.phases["objective"].isin(mine)],
                   indicators=plan.indicators[plan.indicators["objective"].isin(mine)], tables={})


def pack_group(plan: Plan, ns: SimpleNamespace, group: list[str]) -> bytes:
    """What score_packed needs to score `group`, pickled: the plan's rows of those settori
    alone (plan_part) and their rows of `ns`. A worker process that filtered the plan it
    shares with this one would write the reference counts of its rows, and so copy them,
    page by page, group after group (about 50 MB a worker at 1,000 settori)."""
    keep = set(group)
    rows = SimpleNamespace(**{name: df[df["sector"].isin(keep)] if "sector" in df else df
                              for name, df in vars(ns).items()})
    return pickle.dumps((plan_part(plan, group), rows, group), pickle.HIGHEST_PROTOCOL)


def score_packed(_plan: Plan, packed: bytes) -> tuple[Scores, bytes, list[Finding]]:
    """score_group of a pack_group (the process's own plan not read: see pack_group)."""
    part, rows, group = pickle.loads(packed)
    return score_group(part, rows, group)


def score_group(plan: Plan, ns: SimpleNamespace, group: list[str]) -> tuple[Scores, bytes, list[Finding]]:
    """The Scores of `group` (the objectives, phases and indicators of `ns`) without their
    exact figures and inputs, those pickled (read only to explain a figure: they wait on
    disk), and the group's V009, V040-V042 (see returns._Checker._whole)."""
    scores = compute(score_input(plan, ns, sectors=group), plan.rules)
    found = score_findings(plan, ns.objectives, scores)
    exact = pickle.dumps((scores.exact, scores.input), protocol=pickle.HIGHEST_PROTOCOL)
    return replace(scores, exact=Figures(sectors=scores.exact.sectors), input=None), exact, found



def score_findings(plan: Plan, objectives: pd.DataFrame, scores: Any) -> list[Finding]:
    """What the scores say about the returned objectives: V009, then V040-V042."""
    return deviation_findings(plan, objectives, scores) + ungraded_findings(plan, objectives, scores)


def deviation_findings(plan: Plan, objectives: pd.DataFrame, scores: Any) -> list[Finding]:
    """Declared grade far from the computed one without a Motivazione (V009)."""
    o = scores.objectives
    if "deviation_flag" not in o:
        return []
    flagged = o[o["deviation_flag"].astype(bool)]
    if flagged.empty:
        return []
    rows = objectives.set_index(["sector", "objective"])
    out = []
    thr = plan.rules.deviation_threshold
    for r in records(flagged):
        key = (r["sector"], r["objective"])
        if key not in rows.index:
            continue
        src = rows.loc[key]
        if isinstance(src, pd.DataFrame):
            src = src.iloc[0]
        if not is_blank(src["deviation_reason"]) or src["status"] in C.STATI_ESCLUSI:
            continue
        out.append(finding(ErrorCode.V009, file=src["file"], sheet=C.SHEET_OBJECTIVES,
                           cell=src["deviation_reason_cell"], row=src["xlrow"], column="Motivazione scostamento",
                           record=src["record"], declared=show_value(round_half_up(r["declared"])),
                           computed=show_value(round_half_up(r["computed"])), threshold=show_value(thr)))
    return out


def ungraded_findings(plan: Plan, objectives: pd.DataFrame, scores: Any) -> list[Finding]:
    """Objectives the averages leave out for want of a grade, never silently (scoring.md):
    nothing computable and no Grado dichiarato % (V040 in a Rendicontazione finale, V041 in
    a Monitoraggio intermedio); fasi e indicatori all neutralised with a declared grade,
    which does not count (V042). Located at the objective's Grado dichiarato % cell."""

    o = scores.objectives
    o = o[o["excluded_reason"].isin([EX_NO_DATA, EX_NEUTRALISED])]
    if o.empty:
        return []
    rows = objectives.drop_duplicates(["sector", "objective"]).set_index(["sector", "objective"])
    ind = scores.indicators
    ph = scores.phases
    out = []
    for r in records(o):
        key = (r["sector"], r["objective"])
        if key not in rows.index:
            continue
        src = rows.loc[key]
        where = dict(file=src["file"], sheet=C.SHEET_OBJECTIVES, cell=src["declared_cell"], row=src["xlrow"],
                     column="Grado dichiarato %", record=src["record"])
        if r["excluded_reason"] == EX_NEUTRALISED:
            if not math.isnan(r["declared"]):
                out.append(finding(ErrorCode.V042, value=show_value(round_half_up(r["declared"])), **where))
            continue
        code = ErrorCode.V040 if plan.final else ErrorCode.V041
        out.append(finding(code, detail=_why_nothing(ph, ind, key), **where))
    return out


_WHY = {"mancante": ("indicatore senza valore raggiunto", "indicatori senza valore raggiunto"),
        "non calcolabile": ("indicatore di tipo testo o non calcolabile",
                            "indicatori di tipo testo o non calcolabili"),
        "neutralizzato": ("indicatore neutralizzato", "indicatori neutralizzati")}


def _why_nothing(ph: pd.DataFrame, ind: pd.DataFrame, key: tuple) -> str:
    """«nessuna fase; 2 indicatori senza valore raggiunto» for V040/V041."""
    mine = ph[(ph["sector"] == key[0]) & (ph["objective"] == key[1])]
    parts = ["nessuna fase" if mine.empty else "fasi tutte neutralizzate"]
    mine = ind[(ind["sector"] == key[0]) & (ind["objective"] == key[1]) & (ind["status"] != "contesto")]
    if mine.empty:
        parts.append("nessun indicatore valutabile")
    for status, n in mine["status"].value_counts(sort=False).items():
        one, many = _WHY.get(status, (f"indicatore {status}", f"indicatori {status}"))
        parts.append(f"1 {one}" if n == 1 else f"{n} {many}")
    return "; ".join(parts)
