"""From the plan and the validated returns to the scoring engine's typed tables, and back.

`score_input` builds the ScoreInput of validated returns; `inputs_from_validation` keeps
what the settori typed as the consolidated workbook's `Inputs`, and `score` scores them
(with the OIV grades when given); `canon`, `same`, `shown`, `key_json` are the canonical
values the consolidated workbook is written and checked with (merge, oiv)."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Callable, Iterable, Iterator, Protocol

import numpy as np
import pandas as pd

from .errors import show_value
from .plan import Plan
from .scoring import (
    ScoreInput,
    Scores,
    compute,
)
from .values import is_blank, parse_date, parse_number, parse_typed
from .workbook.fastsave import legal_text
from .workbook.reader import iter_records, table_chunks


class Rows(Protocol):
    """The typed rows of validated returns (a validators.returns.Validation)."""
    objectives: pd.DataFrame
    phases: pd.DataFrame
    indicators: pd.DataFrame


def score_input(plan: Plan, validation: Rows, *, sectors: Iterable[str] | None = None,
                oiv: pd.DataFrame | None = None) -> ScoreInput:
    """The ScoreInput of `validation`'s rows (limited to `sectors` when given).

    `oiv`, when given, has sector, objective, oiv_grade (NaN where the OIV wrote none)."""
    keep = set(sectors) if sectors is not None else None

    def only(df: pd.DataFrame) -> pd.DataFrame:
        if keep is None or df.empty:
            return df
        return df[df["sector"].isin(keep)]

    obj = only(validation.objectives)
    ph = only(validation.phases)
    ind = only(validation.indicators)
    assignments = plan.assignments if keep is None else plan.assignments[plan.assignments["sector"].isin(keep)]
    sectors_df = plan.sectors if keep is None else plan.sectors[plan.sectors["sector"].isin(keep)]
    objective_inputs = pd.DataFrame({
        "sector": obj["sector"].tolist() if not obj.empty else [],
        "objective": obj["objective"].tolist() if not obj.empty else [],
        "status": obj["status"].tolist() if not obj.empty else [],
        "declared": obj["declared"].astype(float).tolist() if not obj.empty else [],
    })
    if oiv is not None and not oiv.empty and not objective_inputs.empty:
        extra = ["oiv_not_assessable"] if "oiv_not_assessable" in oiv.columns else []
        objective_inputs = objective_inputs.merge(oiv[["sector", "objective", "oiv_grade", *extra]],
                                                  on=["sector", "objective"], how="left")
    else:
        objective_inputs["oiv_grade"] = float("nan")
    plan_phases, plan_indicators = plan.phases, plan.indicators
    if keep is not None:   # the objectives of these settori only (a batch of a large plan)
        objectives = set(assignments["objective"])
        plan_phases = plan_phases[plan_phases["objective"].isin(objectives)]
        plan_indicators = plan_indicators[plan_indicators["objective"].isin(objectives)]
    return ScoreInput(
        sectors=sectors_df[["sector", "sector_name", "manager", "weight"]].reset_index(drop=True),
        assignments=assignments[["sector", "objective", "title", "weight"]].reset_index(drop=True),
        phases=plan_phases[["objective", "phase", "weight", "neutralised"]].reset_index(drop=True),
        indicators=plan_indicators[
            ["objective", "indicator", "kind", "value_type", "direction", "target_value", "weight", "neutralised"]
        ].rename(columns={"target_value": "target"}).reset_index(drop=True),
        objective_inputs=objective_inputs,
        phase_inputs=(ph[["sector", "objective", "phase", "progress"]].reset_index(drop=True)
                      if not ph.empty else pd.DataFrame(columns=["sector", "objective", "phase", "progress"])),
        indicator_inputs=(ind[["sector", "objective", "indicator", "achieved"]].reset_index(drop=True)
                          if not ind.empty else pd.DataFrame(columns=["sector", "objective", "indicator", "achieved"])),
    )


LONG_TEXT = 200                       # longer texts are kept in _pegxl_valori as a digest

# ---------------------------------------------------------------- typed inputs, scores

@dataclass
class Inputs:
    """What the settori typed, one row per record, typed (the consolidated's own data).

    objectives: sector, objective, status (canonical Stato), declared (float, NaN),
                report, deviation_reason
    phases:     sector, objective, phase, progress (float, NaN), actual_start, actual_end,
                notes
    indicators: sector, objective, indicator, achieved_raw (as typed), achieved_percent
                (typed in a percent-formatted cell), achieved (parsed by Tipo valore), notes
    """

    objectives: pd.DataFrame
    phases: pd.DataFrame
    indicators: pd.DataFrame


OBJ_IN = ["sector", "objective", "status", "declared", "report", "deviation_reason"]
PH_IN = ["sector", "objective", "phase", "progress", "actual_start", "actual_end", "notes"]
IND_IN = ["sector", "objective", "indicator", "achieved_raw", "achieved_percent", "achieved", "notes"]


def clean_text(v: Any) -> str | None:
    """Text as written into a cell: None for blanks, control characters dropped."""
    if is_blank(v):
        return None
    s = v if isinstance(v, str) else show_value(v)
    return legal_text(s)


def _none(v: Any) -> Any:
    return None if is_blank(v) else v


def _frame(rows: list[Any], columns: list[str]) -> pd.DataFrame:
    """A table of `rows`, each a dict or a tuple of `columns` (a tuple: a dict per row of
    1,000 settori's phases is three times the memory, at the merge's highest moment)."""
    df = pd.DataFrame(rows, columns=columns, dtype=object)
    for c in ("declared", "progress"):
        if c in df.columns:
            df[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
    return df


def inputs_from_validation(validation: Any, paths: Iterable[str] | None = None) -> Inputs:
    """The typed inputs of the returns `paths` (default: every usable file) of a Validation.

    Values typed into a neutralised phase or indicator are kept for display (parsed the
    same way), and left out of the scores by `score`."""
    lazy = LazyInputs(validation, paths)
    return Inputs(lazy.objectives, lazy.phases, lazy.indicators)


class LazyInputs:
    """inputs_from_validation's tables, each made when asked (afresh at every access) and
    held by nobody here: a merge's consolidated workbook writes one table's sheet at a
    time, and three tables of 1,000 settori held together are tens of megabytes."""

    def __init__(self, validation: Any, paths: Iterable[str] | None = None):
        self.validation = validation
        self.keep = set(paths) if paths is not None else {rf.path for rf in validation.usable_files}

    def chunks(self, name: str) -> Iterator[pd.DataFrame]:
        """Typed table `name` a batch of files at a time (one chunk of the validation each,
        no empty one): what a reader that goes settore by settore needs, without the whole."""
        for rows in self._made(name):
            yield _frame(rows, _COLUMNS[name])

    def _whole(self, name: str) -> pd.DataFrame:
        return _frame([t for rows in self._made(name) for t in rows], _COLUMNS[name])

    def _made(self, name: str) -> Iterator[list[tuple]]:
        # the columns read here only: the tables' every column as dicts take seconds; a
        # spilled table (Validation.chunks) a batch of files at a time
        columns, make = _MADE[name]
        wanted = ["sector", "objective", *columns]
        for df in table_chunks(self.validation, name, self.keep, wanted):
            yield make(iter_records(df, wanted))

    @property
    def objectives(self) -> pd.DataFrame:
        return self._whole("objectives")

    @property
    def phases(self) -> pd.DataFrame:
        return self._whole("phases")

    @property
    def indicators(self) -> pd.DataFrame:
        return self._whole("indicators")


def _objective_rows(rows: Iterable[dict]) -> list[tuple]:
    return [(r["sector"], r["objective"], _none(r["status"]), r["declared"], clean_text(r["report"]),
             clean_text(r["deviation_reason"])) for r in rows]


def _phase_rows(rows: Iterable[dict]) -> list[tuple]:
    phs = []
    for r in rows:
        progress, start, end = r["progress"], r["actual_start"], r["actual_end"]
        if r["neutralised"]:
            p = parse_number(r["progress_raw"], percent_format=bool(r["progress_percent"]))
            progress = p.value if p.ok else None
            start = parse_date(r["actual_start_raw"]).value if parse_date(r["actual_start_raw"]).ok else None
            end = parse_date(r["actual_end_raw"]).value if parse_date(r["actual_end_raw"]).ok else None
        phs.append((r["sector"], r["objective"], int(r["phase"]), progress, _none(start), _none(end),
                    clean_text(r["notes"])))
    return phs


def _indicator_rows(rows: Iterable[dict]) -> list[tuple]:
    inds = []
    for r in rows:
        raw = _none(r["achieved_raw"])
        achieved = r["achieved"]
        if r["neutralised"] or is_blank(achieved):
            p = parse_typed(raw, r["value_type"] or "testo", percent_format=bool(r["achieved_percent"]))
            achieved = p.value if p.ok else None
        if isinstance(raw, str):
            raw = clean_text(raw)
        if isinstance(achieved, str):
            achieved = clean_text(achieved)
        inds.append((r["sector"], r["objective"], int(r["indicator"]), raw,
                     bool(r["achieved_percent"]) and raw is not None, _none(achieved), clean_text(r["notes"])))
    return inds


# per table: the validation's columns it reads (besides sector and objective), and its rows made
_MADE: dict[str, tuple[tuple[str, ...], Callable[[Iterable[dict]], list[tuple]]]] = {
    "objectives": (("status", "declared", "report", "deviation_reason"), _objective_rows),
    "phases": (("phase", "progress", "actual_start", "actual_end", "neutralised", "progress_raw",
                "progress_percent", "actual_start_raw", "actual_end_raw", "notes"), _phase_rows),
    "indicators": (("indicator", "achieved_raw", "achieved", "neutralised", "value_type",
                    "achieved_percent", "notes"), _indicator_rows),
}
_COLUMNS = {"objectives": OBJ_IN, "phases": PH_IN, "indicators": IND_IN}


def typed_chunks(inputs: Inputs | LazyInputs, name: str) -> Iterator[pd.DataFrame]:
    """Typed table `name` of `inputs`: a batch of files at a time when they are a merge's
    LazyInputs, else whole (no empty one)."""
    if isinstance(inputs, LazyInputs):
        return inputs.chunks(name)
    df = getattr(inputs, name)
    return iter([df] if len(df) else [])


def score(plan: Plan, inputs: Inputs | LazyInputs, sectors: Iterable[str], oiv: pd.DataFrame | None = None) -> Scores:
    """Scores of `sectors` from typed inputs (scoring.md), with the OIV grades of `oiv`
    (sector, objective, oiv_grade) in force where given.

    Values typed into neutralised phases/indicators are masked first, so the figures are
    the same whether the inputs come from the returns or from a consolidated workbook."""
    neu_ph = {(o, int(p)) for o, p, n in zip(plan.phases["objective"], plan.phases["phase"],
                                             plan.phases["neutralised"]) if n and p is not None}
    neu_in = {(o, int(i)) for o, i, n in zip(plan.indicators["objective"], plan.indicators["indicator"],
                                             plan.indicators["neutralised"]) if n and i is not None}
    ph = inputs.phases.copy()
    if not ph.empty:
        mask = [(o, p) in neu_ph for o, p in zip(ph["objective"], ph["phase"])]
        ph.loc[mask, "progress"] = np.nan
    ind = inputs.indicators.copy()
    if not ind.empty:
        mask = [(o, i) in neu_in for o, i in zip(ind["objective"], ind["indicator"])]
        ind["achieved"] = [None if m else a for m, a in zip(mask, ind["achieved"])]
    ns = SimpleNamespace(objectives=inputs.objectives, phases=ph, indicators=ind)
    oiv_df = None
    if oiv is not None and not oiv.empty:
        cols = ["sector", "objective", "oiv_grade"] + (["oiv_not_assessable"] if "oiv_not_assessable" in oiv else [])
        oiv_df = oiv[cols].copy()
        oiv_df["oiv_grade"] = pd.to_numeric(oiv_df["oiv_grade"], errors="coerce").astype(float)
    return compute(score_input(plan, ns, sectors=list(sectors), oiv=oiv_df), plan.rules)


# ------------------------------------------------------------------- canonical values

def canon(v: Any) -> Any:
    """A cell value in the comparable, JSON-able form of _pegxl_valori."""
    kind = type(v)   # the plain cells first: a consolidated workbook has half a million
    if kind is float:
        return None if math.isnan(v) else v
    if kind is int:
        return float(v)
    if kind is str:   # clean_text's, without its blank test again
        return _text_canon(legal_text(v)) if v.strip() else None
    if is_blank(v):
        return None
    if isinstance(v, (bool, np.bool_)):
        return "bool:" + ("1" if v else "0")
    if isinstance(v, (int, float, np.integer, np.floating)):
        return float(v)
    if isinstance(v, dt.datetime):
        # nearest second: a serial re-saved by Excel or LibreOffice may come back a hair below
        v = (v.replace(tzinfo=None) + dt.timedelta(microseconds=500_000)).replace(microsecond=0)
        if v.time() == dt.time(0):
            return "date:" + v.date().isoformat()
        return "datetime:" + v.isoformat()
    if isinstance(v, dt.date):
        return "date:" + v.isoformat()
    return _text_canon(clean_text(v) or "")


def _text_canon(s: str) -> str:
    """A text in _pegxl_valori: itself, or the digest of a long one."""
    return "sha256:" + hashlib.sha256(s.encode("utf-8")).hexdigest() if len(s) > LONG_TEXT else s


def same(a: Any, b: Any) -> bool:
    """Two canonical values mean the same (numbers within float noise)."""
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def shown(v: Any) -> str:
    """A canonical value as a person reads it in a message."""
    if v is None:
        return "(vuota)"
    if isinstance(v, float):
        return show_value(v)
    if isinstance(v, str):
        if v.startswith("date:"):
            return show_value(dt.date.fromisoformat(v[5:]))
        if v.startswith("datetime:"):
            return show_value(dt.datetime.fromisoformat(v[9:]))
        if v.startswith("bool:"):
            return "VERO" if v.endswith("1") else "FALSO"
        if v.startswith("sha256:"):
            return f"testo lungo (impronta {v[7:19]})"
    return str(v)


_JSON_STR: Any = json.encoder.encode_basestring   # a str as json.dumps(ensure_ascii=False) writes it


def key_json(key: Iterable[Any]) -> str:
    """A record's key as _pegxl_valori and the archive hold it: the JSON list of its parts,
    whole numbers as numbers, the rest as text (json.dumps's very text, made directly: a
    consolidated workbook keys 100,000 records)."""
    parts = []
    for k in key:
        if type(k) is str:
            parts.append(_JSON_STR(k))
        elif isinstance(k, (int, np.integer)) or (isinstance(k, float) and k.is_integer()):
            parts.append(repr(int(k)))
        else:
            parts.append(_JSON_STR(str(k)))
    return "[" + ", ".join(parts) + "]"


