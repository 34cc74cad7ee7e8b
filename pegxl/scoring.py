"""The scores of scoring.md: indicator, phases, objective, settore and ente.

Pure functions on already parsed values and typed tables: no I/O, no rounding (figures are
rounded half-up only when shown, see values.round_half_up).

Every figure is computed exactly, in fractions of the numbers as typed (values.exact), so
that 66.665 is 66.665 and not the binary 66.66499...; the tables hold the float that
stands for each exact figure (values.figure_float), which rounds for display exactly as
the figure does, and every decision on a threshold (Fascia, Soglia minima, Scarto
segnalato, the Tetto) is taken on the exact figure. Whether a missing or odd value is
an error is the validators' business; here it is left out the way scoring.md says, and the
tables record why (status, excluded_reason) so the caller can report it.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from fractions import Fraction
from functools import lru_cache
from typing import Any, Iterable

import numpy as np
import pandas as pd

from .fastpaths import IdMemo, Products, dot, floats, fsum, groups
from .rules import Rules
from .values import exact, figure_float, is_blank, parse_bool
from .workbook.contract import STATI, TIPI_VALORE, canonical, norm_word
from .workbook.memory import gc_paused

# Indicator statuses, as shown in the outputs.
ST_COMPUTED = "calcolato"
ST_CONTEXT = "contesto"
ST_NEUTRALISED = "neutralizzato"
ST_MISSING = "mancante"
ST_NOT_COMPUTABLE = "non calcolabile"

# Why an objective has no Grado.
EX_POSTPONED = "Rinviato"
EX_NOT_ASSESSABLE = "Non valutabile"
EX_NEUTRALISED = "fasi e indicatori neutralizzati"   # Stato shown: Non valutabile
EX_NO_DATA = "nessun dato"
EX_OIV_NOT_ASSESSABLE = "Non valutabile (OIV)"     # the OIV wrote «Non valutabile»

SRC_OIV = "OIV"
SRC_DECLARED = "dichiarato"
SRC_COMPUTED = "calcolato"

_ZERO, _ONE, _HUNDRED = Fraction(0), Fraction(1), Fraction(100)

_Key = tuple[Any, ...]              # a row's key: (sector, objective[, phase or indicator])
_Shares = tuple[tuple[Fraction | None, ...], tuple[Fraction | None, ...]]
_Parts = dict[_Key, tuple[Fraction | None, int, int]]


@dataclass(frozen=True)
class _Exact:
    """The numeric Regole as exact fractions."""
    cap: Fraction
    late_penalty: Fraction
    phases_weight: Fraction
    indicators_weight: Fraction
    deviation_threshold: Fraction
    minimum: Fraction
    phases_share: Fraction = _ZERO          # Peso fasi / (Peso fasi + Peso indicatori)
    indicators_share: Fraction = _ZERO


@lru_cache(maxsize=64)
def _exact_rules(rules: Rules) -> _Exact:
    rx = _Exact(*(exact(getattr(rules, f)) or _ZERO for f in (
        "cap", "late_penalty", "phases_weight", "indicators_weight", "deviation_threshold",
        "minimum")))
    pw, iw = rx.phases_weight, rx.indicators_weight
    if not pw + iw > 0:     # the Regole reader refuses this; equal parts if it slips through
        pw = iw = _ONE
    return replace(rx, phases_share=pw / (pw + iw), indicators_share=iw / (pw + iw))

_DIRECTIONS = {">=": ">=", "≥": ">=", "=>": ">=", ">": ">=",
               "<=": "<=", "≤": "<=", "=<": "<=", "<": "<=",
               "=": "=", "==": "="}


# How an indicator's figure was made (IndicatorDetail.formula).
F_EQUAL = "uguale"
F_RATIO_UP = "rapporto R/A"
F_ZERO_UP = "atteso zero, verso >="
F_NEGATIVE_UP = "atteso negativo, verso >="
F_ZERO_DOWN = "atteso zero, verso <="
F_NEGATIVE_DOWN = "atteso negativo, verso <="
F_DEVIATION_DOWN = "scostamento"
F_RATIO_DOWN = "rapporto A/R"
F_NONPOSITIVE_DOWN = "raggiunto non positivo, verso <="
F_YES_NO = "sì/no"
F_DATE_IN_TIME = "data nei termini"
F_DATE_LATE_ZERO = "data fuori termine, azzera"
F_DATE_LATE_PENALTY = "data fuori termine, penalità"
F_TEXT = "testo"
F_MISSING = "valore mancante"
F_WRONG_KIND = "valore non leggibile"


# --------------------------------------------------------------------------- indicator

def _norm_direction(direction: Any, value_type: str) -> str:
    if is_blank(direction):
        return "<=" if value_type == "data" else ">="
    d = _DIRECTIONS.get(str(direction).strip())
    if d is None:
        raise ValueError(f"verso sconosciuto: {direction!r}")
    return d


def _as_exact(x: Any) -> Fraction | None:
    if isinstance(x, (bool, np.bool_)):
        return None
    return exact(x)


def _as_bool(x: Any) -> bool | None:
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    p = parse_bool(x)
    return p.value if p.ok else None


def _as_date(x: Any) -> dt.date | None:
    if isinstance(x, pd.Timestamp):
        return x.date()
    if isinstance(x, dt.datetime):
        return x.date()
    if isinstance(x, dt.date):
        return x
    return None


def _numeric_raw(direction: str, a: Fraction, r: Fraction, rules: Rules,
                 cap: Fraction) -> tuple[str, Fraction]:
    """(formula used, uncapped and unclamped score) of a number against its target.

    Beyond the target the same formula keeps going (above 100) so that a Tetto indicatore
    above 100 rewards over-achievement. Negative targets (a deficit, a balance) have no
    meaningful ratio, so they use the linear shortfall relative to |A|. The formula is one
    of the F_* names (explain.py says each in words).
    """
    if direction == "=":
        return F_EQUAL, (_HUNDRED if r == a else _ZERO)
    if direction == ">=":
        if a > 0:    # 100 * r / a as one Fraction from ints
            return F_RATIO_UP, Fraction(100 * r.numerator * a.denominator,
                                        r.denominator * a.numerator)
        if a == 0:
            return F_ZERO_UP, (_HUNDRED if r >= 0 else _ZERO)
        return F_NEGATIVE_UP, _HUNDRED * (2 * a - r) / a     # = 100 * (1 - (A - R) / |A|)
    # "<=": less is better
    if a == 0:
        return F_ZERO_DOWN, (_HUNDRED if r <= 0 else _ZERO)
    if a < 0:
        return F_NEGATIVE_DOWN, _HUNDRED * r / a             # = 100 * (1 - (R - A) / |A|)
    if rules.lower_formula == "scostamento":
        return F_DEVIATION_DOWN, _HUNDRED * (2 * a - r) / a
    # rapporto: R <= 0 under a positive ceiling is the limit of A/R, i.e. the cap.
    return (F_RATIO_DOWN, _HUNDRED * a / r) if r > 0 else (F_NONPOSITIVE_DOWN, cap)


def _date_raw(direction: str, a: dt.date, r: dt.date, rules: Rules,
              rx: _Exact) -> tuple[str, Fraction, int]:
    """(formula used, score, days late: after the deadline for «<=», early for «>=»)."""
    if direction == "=":
        return F_EQUAL, (_HUNDRED if r == a else _ZERO), 0
    # "<=": days after the deadline; ">=" ("not before"): days before the start date.
    days = (r - a).days if direction == "<=" else (a - r).days
    if days <= 0:
        return F_DATE_IN_TIME, _HUNDRED, days
    if rules.late_zero:
        return F_DATE_LATE_ZERO, _ZERO, days
    return F_DATE_LATE_PENALTY, _HUNDRED - rx.late_penalty * days, days


def indicator_exact(value_type: str, direction: str | None, target: Any, achieved: Any,
                    rules: Rules) -> Fraction | None:
    """Raggiungimento % of one indicator, exact, in [0, rules.cap]; None when not computable.

    `target` and `achieved` are parsed values (float, bool, datetime.date). None for a
    testo indicator, a missing value, or a value of the wrong kind. Raises ValueError for
    a Tipo valore or Verso outside the vocabulary (the plan validator rejects those).
    """
    return _indicator(value_type, direction, target, achieved, rules, _exact_rules(rules))


@dataclass(frozen=True, slots=True)
class IndicatorDetail:
    """How one indicator's Raggiungimento % is made (explain.py tells it): the values as
    read (exact number, bool or date), the formula (F_*), the figure before the Tetto
    and the 0 floor, and the score. score None: not computable (`formula` says why)."""
    value_type: str
    direction: str | None
    target: Any
    achieved: Any
    formula: str
    raw: Fraction | None = None
    score: Fraction | None = None
    days: int | None = None           # dates: days late (negative: in time)


def indicator_detail(value_type: str, direction: str | None, target: Any, achieved: Any,
                     rules: Rules) -> IndicatorDetail:
    """indicator_exact, with how it was made."""
    return _indicator_detail(value_type, direction, target, achieved, rules, _exact_rules(rules))


def _indicator(value_type: str, direction: str | None, target: Any, achieved: Any,
               rules: Rules, rx: _Exact) -> Fraction | None:
    return _indicator_fields(value_type, direction, target, achieved, rules, rx)[6]


def _indicator_detail(value_type: str, direction: str | None, target: Any, achieved: Any,
                      rules: Rules, rx: _Exact) -> IndicatorDetail:
    return IndicatorDetail(*_indicator_fields(value_type, direction, target, achieved, rules, rx))


_Fields = tuple[str, str | None, Any, Any, str, Fraction | None, Fraction | None, int | None]


def _indicator_fields(value_type: str, direction: str | None, target: Any, achieved: Any,
                      rules: Rules, rx: _Exact) -> _Fields:
    """IndicatorDetail's fields, in order (scoring needs only the score: a frozen
    dataclass costs a setattr per field to build)."""
    vt = value_type if value_type in TIPI_VALORE else canonical(value_type, TIPI_VALORE)
    if vt is None:
        raise ValueError(f"tipo valore sconosciuto: {value_type!r}")
    if vt == "testo":
        return vt, None, target, achieved, F_TEXT, None, None, None
    if is_blank(achieved) or is_blank(target):
        return vt, None, target, achieved, F_MISSING, None, None, None
    d = _norm_direction(direction, vt)
    cap = rx.cap
    days = None
    shown: tuple[Any, Any]
    if vt in ("numero", "percentuale"):
        a, r = _as_exact(target), _as_exact(achieved)
        if a is None or r is None:
            return vt, d, target, achieved, F_WRONG_KIND, None, None, None
        formula, raw = _numeric_raw(d, a, r, rules, cap)
        shown = (a, r)
    elif vt == "sì/no":
        ya, yr = _as_bool(target), _as_bool(achieved)
        if ya is None or yr is None:
            return vt, d, target, achieved, F_WRONG_KIND, None, None, None
        shown = (ya, yr)
        # A = no is a reverse target ("no incidents"): matching it is the hit.
        formula, raw = F_YES_NO, (_HUNDRED if ya == yr else _ZERO)
    else:
        da, dr = _as_date(target), _as_date(achieved)
        if da is None or dr is None:
            return vt, d, target, achieved, F_WRONG_KIND, None, None, None
        shown = (da, dr)
        formula, raw, days = _date_raw(d, da, dr, rules, rx)
    return vt, d, shown[0], shown[1], formula, raw, min(max(raw, _ZERO), cap), days


def score_indicator(value_type: str, direction: str | None, target: Any, achieved: Any,
                    rules: Rules) -> float | None:
    """indicator_exact as the float that stands for it (values.figure_float)."""
    v = indicator_exact(value_type, direction, target, achieved, rules)
    return None if v is None else figure_float(v)


# ------------------------------------------------------------------ weights and means

def _exact_weights(weights: list[Fraction | None], eligible: list[bool],
                   active: list[bool]) -> list[Fraction | None]:
    """Weights of the active items scaled to sum 100; None for the others.

    Equal weights where an eligible item lacks a weight or the active weights sum to 0
    (the plan validator rejects a mix of given and missing pesi; here it falls back).
    """
    return list(_scaled_weights(tuple(weights), tuple(eligible), tuple(active))[0])


def _weights_and_shares(weights: list[Fraction | None], eligible: list[bool], active: list[bool]) -> _Shares:
    """(_exact_weights, the same over 100): a part is the sum of share x value."""
    return _scaled_weights(tuple(weights), tuple(eligible), tuple(active))


@lru_cache(maxsize=4096)
def _scaled_weights(weights: tuple[Fraction | None, ...], eligible: tuple[bool, ...],
                    active: tuple[bool, ...]) -> _Shares:
    # cached: a plan repeats a few patterns of pesi (100; 50, 50; 20 x 5) over many objectives
    if any(w is None for w, e in zip(weights, eligible) if e):
        use = [_ONE if a else None for a in active]
    else:
        use = [(_ONE if w is None else w) if a else None for w, a in zip(weights, active)]
    total = fsum([w for w in use if w is not None])
    if not total > 0:
        use = [_ONE if a else None for a in active]
        total = Fraction(int(sum(active)))
    if not total:
        return (None,) * len(use), (None,) * len(use)
    # w * 100 / total and w / total, each one Fraction from ints (total > 0 here)
    tn, td = total.numerator, total.denominator
    ew = tuple(None if w is None else Fraction(100 * w.numerator * td, w.denominator * tn)
               for w in use)
    return ew, tuple(None if w is None else Fraction(w.numerator * td, w.denominator * tn)
                     for w in use)


def _exact_mean(values: list[Fraction | None], weights: list[Fraction | None]) -> Fraction | None:
    """Weighted mean of the values that are not None (weights as in weighted_mean)."""
    return _mean_and_weights(values, weights)[0]


def _mean_and_weights(values: list[Fraction | None], weights: list[Fraction | None],
                      ) -> tuple[Fraction | None, list[Fraction | None]]:
    """_exact_mean and the weights it used, scaled to 100 (None for the values left out)."""
    keep = [v is not None for v in values]
    if not any(keep):
        return None, [None] * len(values)
    if any(w is None for w in weights) or not sum(w for w in weights if w is not None) > 0:
        weights = [Fraction(1)] * len(values)
    ew = _exact_weights(weights, [True] * len(values), keep)
    return sum(v * w for v, w in zip(values, ew) if v is not None and w is not None) / _HUNDRED, ew


def _exacts(values: Iterable[Any]) -> list[Fraction | None]:
    # a float is never a bool: straight to exact (its cache), the rest through _as_exact
    return [exact(v) if type(v) is float else _as_exact(v) for v in values]


def weighted_mean(values: Iterable[float], weights: Iterable[float]) -> float | None:
    """Weighted mean of the values that are not NaN; None when there are none.

    Equal weights where the weights are missing (all NaN, or NaN for some: the plan
    validator rejects that mix, here it falls back to equal weights) or sum to 0.
    """
    v, w = _exacts(values), _exacts(weights)
    if len(v) != len(w):
        raise ValueError("values and weights differ in length")
    m = _exact_mean(v, w)
    return None if m is None else figure_float(m)


def phase_realisation(weights: Iterable[float], progresses: Iterable[float],
                      neutralised: Iterable[bool] | None = None) -> float | None:
    """Realizzazione fasi %: sum of peso * avanzamento / 100 over the phases that count.

    Neutralised phases are left out and the others' pesi scaled to weigh 100; a missing
    avanzamento (NaN) counts as 0. The pesi are always scaled by their sum, which changes
    nothing when they weigh 100 (the plan validator rejects any other sum). None when no
    phase counts.
    """
    w = _exacts(weights)
    p = [x or _ZERO for x in _exacts(progresses)]
    n = [False] * len(w) if neutralised is None else [bool(x) for x in neutralised]
    active = [not x for x in n]
    if not any(active):
        return None
    ew = _exact_weights(w, [True] * len(w), active)
    return figure_float(sum(e * x for e, x in zip(ew, p) if e is not None) / _HUNDRED)


# ---------------------------------------------------------------------------- compute

@dataclass
class ScoreInput:
    """The typed tables to score: the plan expanded per settore, and what was reported.

    sectors:          sector, sector_name, manager, weight (NaN = none given)
    assignments:      sector, objective, title, weight -- one row per (sector, objective),
                      trasversale objectives already expanded
    phases:           objective, phase, weight, neutralised
    indicators:       objective, indicator, kind, value_type, direction, target, weight,
                      neutralised
    objective_inputs: sector, objective, status, declared, oiv_grade [, oiv_not_assessable]
    phase_inputs:     sector, objective, phase, progress
    indicator_inputs: sector, objective, indicator, achieved [, declared_score]
    neutralised_*:    extra (sector, objective, phase|indicator) neutralised by the OIV
    """

    sectors: pd.DataFrame
    assignments: pd.DataFrame
    phases: pd.DataFrame
    indicators: pd.DataFrame
    objective_inputs: pd.DataFrame
    phase_inputs: pd.DataFrame
    indicator_inputs: pd.DataFrame
    neutralised_phases: frozenset[_Key] = frozenset()
    neutralised_indicators: frozenset[_Key] = frozenset()


@dataclass
class Figures:
    """The exact figures behind the Scores tables, by key: what explain.py shows, so that
    an explanation's numbers are the computed ones, not computed twice. Keys: (sector,
    objective[, phase or indicator]) as in the tables; sectors by code.

    phase_weights, indicator_weights: the effective weights (scaled to 100) of the phases
    and counted indicators; objective_weights: of the counted objectives in their settore's
    mean; sector_weights: of the assessed settori in the ente's mean.
    """

    indicators: dict[_Key, Fraction | None] = field(default_factory=dict)
    indicator_weights: dict[_Key, Fraction] = field(default_factory=dict)
    phase_weights: dict[_Key, Fraction] = field(default_factory=dict)
    phase_contributions: dict[_Key, Fraction] = field(default_factory=dict)
    phases_part: dict[_Key, Fraction | None] = field(default_factory=dict)
    indicators_part: dict[_Key, Fraction | None] = field(default_factory=dict)
    computed: dict[_Key, Fraction | None] = field(default_factory=dict)
    grade: dict[_Key, Fraction | None] = field(default_factory=dict)
    for_mean: dict[_Key, Fraction | None] = field(default_factory=dict)
    objective_weights: dict[_Key, Fraction] = field(default_factory=dict)
    sectors: dict[Any, Fraction | None] = field(default_factory=dict)
    sector_weights: dict[Any, Fraction] = field(default_factory=dict)
    ente: Fraction | None = None


@dataclass
class Scores:
    """Every figure, at full precision, with the rules that made it.

    indicators: sector, objective, indicator, score, counted (in its objective's mean),
                status (calcolato, contesto, neutralizzato, mancante, non calcolabile),
                effective_weight (scaled to 100 among the counted ones), neutralised
    phases:     sector, objective, phase, progress (as reported, NaN if not),
                effective_weight, contribution (NaN if neutralised), neutralised
    objectives: sector, objective, phases_pct, indicators_pct, computed, declared,
                oiv_grade, grade, grade_source, counted, excluded_reason, grade_for_mean,
                weight, deviation_flag, title, status (canonical Stato)
    sectors:    sector, sector_name, manager, n_objectives, n_assessed, percentage, band,
                weight
    ente:       percentage (None if nothing assessed), band, n_sectors, n_assessed_sectors
    """

    indicators: pd.DataFrame
    phases: pd.DataFrame
    objectives: pd.DataFrame
    sectors: pd.DataFrame
    ente: dict[str, Any]
    rules: Rules
    exact: Figures = field(default_factory=Figures)    # the same figures, exact
    input: ScoreInput | None = None                   # what was scored

    @property
    def explained(self) -> bool:
        """Whether what was scored is kept, so that every step can be explained."""
        return self.input is not None


IND_COLUMNS = ["sector", "objective", "indicator", "score", "counted", "status",
               "effective_weight", "neutralised"]
PHASE_COLUMNS = ["sector", "objective", "phase", "progress", "effective_weight",
                 "contribution", "neutralised"]
OBJ_COLUMNS = ["sector", "objective", "phases_pct", "indicators_pct", "computed", "declared",
               "oiv_grade", "grade", "grade_source", "counted", "excluded_reason",
               "grade_for_mean", "weight", "deviation_flag", "title", "status"]
SECTOR_COLUMNS = ["sector", "sector_name", "manager", "n_objectives", "n_assessed",
                  "percentage", "band", "weight"]


def _table(df: pd.DataFrame | None, columns: dict[str, Any], keys: list[str],
           name: str) -> pd.DataFrame:
    """The columns we use (missing optional ones filled), refusing duplicate keys:
    a duplicate would silently multiply rows in the merges."""
    df = pd.DataFrame(columns=list(columns)) if df is None else df
    out: pd.DataFrame = pd.DataFrame(index=df.index)
    for col, default in columns.items():
        out[col] = df[col] if col in df.columns else default
    out = out.reset_index(drop=True)
    if keys and out.duplicated(keys).any():
        dup = out.loc[out.duplicated(keys, keep=False), keys].drop_duplicates()
        raise ValueError(f"{name}: chiavi ripetute {dup.to_dict('records')}")
    return out


def _bool_col(s: pd.Series) -> pd.Series:
    # bool("no") is True: read words the way the plan means them; blank is "not neutralised".
    out: pd.Series = pd.Series([x if type(x) is bool else False if is_blank(x) else bool(_as_bool(x))
                                for x in s],
                               index=s.index, dtype=bool)
    return out


def _float_col(s: pd.Series) -> pd.Series:
    out: pd.Series = pd.to_numeric(s, errors="coerce").astype(float)
    return out


def _in_set(df: pd.DataFrame, cols: list[str], keys: frozenset[_Key]) -> pd.Series:
    if not keys or df.empty:
        none: pd.Series = pd.Series(False, index=df.index)
        return none
    out: pd.Series = pd.Series([t in keys for t in zip(*(df[c] for c in cols))], index=df.index)
    return out


def _obj(values: list[Any], index: pd.Index) -> pd.Series:
    # object dtype keeps None as None (pandas 3 would turn it into NaN in a str column).
    out: pd.Series = pd.Series(values, index=index, dtype=object)
    return out


def _score_phases(asg: pd.DataFrame, inp: ScoreInput, fig: Figures) -> tuple[pd.DataFrame, _Parts]:
    """The phases' table, and per (sector, objective): (exact phases part or None,
    number of phases, number not neutralised)."""
    plan = _table(inp.phases, {"objective": None, "phase": None, "weight": np.nan,
                               "neutralised": False}, ["objective", "phase"], "phases")
    given = _table(inp.phase_inputs, {"sector": None, "objective": None, "phase": None,
                                      "progress": np.nan},
                   ["sector", "objective", "phase"], "phase_inputs")
    ph = asg[["sector", "objective"]].merge(plan, on="objective", how="inner", sort=False)
    ph = ph.merge(given, on=["sector", "objective", "phase"], how="left", sort=False)
    ph["progress"] = _float_col(ph["progress"])
    ph["neutralised"] = (_bool_col(ph["neutralised"])
                         | _in_set(ph, ["sector", "objective", "phase"], inp.neutralised_phases))
    weights = _exacts(ph["weight"])
    # A phase nobody reported on has made no progress.
    progress = [x or _ZERO for x in _exacts(ph["progress"])]
    active = [not x for x in ph["neutralised"]]
    eff: list[Fraction | None] = [None] * len(ph)
    contrib: list[Fraction | None] = [None] * len(ph)
    parts: _Parts = {}
    mul, shares = Products(), IdMemo(_weights_and_shares)
    for key, rows in groups(ph, ["sector", "objective"]).items():
        act = [active[i] for i in rows]
        ew, share = shares([weights[i] for i in rows], [True] * len(rows), act)
        cs: list[Fraction] = []
        for i, w, k in zip(rows, ew, share):
            if w is not None and k is not None:   # a share is None where its weight is
                eff[i] = w
                contrib[i] = c = mul(k, progress[i]) if progress[i] else _ZERO
                cs.append(c)
        parts[key] = (fsum(cs) if cs else None, len(rows), sum(act))
        fig.phases_part[key] = parts[key][0]
    keys = list(zip(ph["sector"], ph["objective"], ph["phase"]))
    fig.phase_weights.update((k, w) for k, w in zip(keys, eff) if w is not None)
    fig.phase_contributions.update((k, c) for k, c in zip(keys, contrib) if c is not None)
    ph["effective_weight"] = floats(eff, ph.index)
    ph["contribution"] = floats(contrib, ph.index)
    return ph[PHASE_COLUMNS], parts


def _score_indicators(asg: pd.DataFrame, inp: ScoreInput, rules: Rules,
                      fig: Figures) -> tuple[pd.DataFrame, _Parts]:
    """The indicators' table, and per (sector, objective): (exact indicators part or None,
    number of scored (not CONTESTO) indicators, number not neutralised)."""
    plan = _table(inp.indicators, {"objective": None, "indicator": None, "kind": None,
                                   "value_type": None, "direction": None, "target": None,
                                   "weight": np.nan, "neutralised": False},
                  ["objective", "indicator"], "indicators")
    given = _table(inp.indicator_inputs, {"sector": None, "objective": None,
                                          "indicator": None, "achieved": None,
                                          "declared_score": np.nan},
                   ["sector", "objective", "indicator"], "indicator_inputs")
    ind = asg[["sector", "objective"]].merge(plan, on="objective", how="inner", sort=False)
    ind = ind.merge(given, on=["sector", "objective", "indicator"], how="left", sort=False)
    context = [k == "CONTESTO" or norm_word(k) == "contesto" for k in ind["kind"]]
    neutral = (_bool_col(ind["neutralised"])
               | _in_set(ind, ["sector", "objective", "indicator"], inp.neutralised_indicators))
    declared = _exacts(_float_col(ind["declared_score"]))
    rx = _exact_rules(rules)
    cap = rx.cap

    scores: list[Fraction | None] = []
    statuses = []
    # the same (type, verso, target, achieved) scores the same: many settori share an indicator
    memo: dict[tuple[Any, ...], Fraction | None] = {}
    for vt, d, a, r, ds, ctx, neu in zip(ind["value_type"], ind["direction"], ind["target"],
                                         ind["achieved"], declared, context, neutral):
        if ctx:
            scores.append(None)
            statuses.append(ST_CONTEXT)
            continue
        try:
            # the types too: 1 == 1.0 == True, and a date equals no datetime
            mkey = (vt, d, type(a), a, type(r), r)
            s = memo[mkey] if mkey in memo else memo.setdefault(
                mkey, _indicator(vt, d, a, r, rules, rx))
        except TypeError:   # an unhashable value
            s = _indicator(vt, d, a, r, rules, rx)
        # A hand assessment stands in only where no figure can be computed (testo):
        # a computable indicator is never overridden by what the settore declares.
        if s is None and ds is not None:
            s = min(max(ds, _ZERO), cap)
        scores.append(s)
        if neu:
            statuses.append(ST_NEUTRALISED)
        elif s is not None:
            statuses.append(ST_COMPUTED)
        elif is_blank(r):
            statuses.append(ST_MISSING)
        else:
            statuses.append(ST_NOT_COMPUTABLE)
    counted = [st == ST_COMPUTED for st in statuses]
    weights = _exacts(ind["weight"])
    eff: list[Fraction | None] = [None] * len(ind)
    parts: _Parts = {}
    shares = IdMemo(_weights_and_shares)
    neutral_at = neutral.tolist()   # .iat is tens of µs a call: thousands of indicators
    for key, rows in groups(ind, ["sector", "objective"]).items():
        ew, share = shares([weights[i] for i in rows], [not context[i] for i in rows],
                           [counted[i] for i in rows])
        pairs: list[tuple[Fraction, Fraction]] = []
        for i, w, k in zip(rows, ew, share):
            s = scores[i]
            if w is not None and k is not None and s is not None:   # counted: weighted and scored
                eff[i] = w
                pairs.append((k, s))
        total = dot(pairs) if pairs else None
        scored = [i for i in rows if not context[i]]
        parts[key] = (total, len(scored), sum(1 for i in scored if not neutral_at[i]))
        fig.indicators_part[key] = total
    keys = list(zip(ind["sector"], ind["objective"], ind["indicator"]))
    fig.indicators.update(zip(keys, scores))
    fig.indicator_weights.update((k, w) for k, w in zip(keys, eff) if w is not None)
    ind["score"] = floats(scores, ind.index)
    ind["status"] = pd.Series(statuses, index=ind.index, dtype=object)
    ind["counted"] = pd.Series(counted, index=ind.index, dtype=bool)
    ind["neutralised"] = neutral.astype(bool)
    ind["effective_weight"] = floats(eff, ind.index)
    return ind, parts


def _computed(fp: Fraction | None, fi: Fraction | None, rx: _Exact) -> Fraction | None:
    """Grado calcolato: Peso fasi x fasi + Peso indicatori x indicatori, over 100; the
    part that exists alone makes 100 %."""
    if fp is None or fi is None:
        return fi if fp is None else fp
    return dot([(rx.phases_share, fp), (rx.indicators_share, fi)])


def compute(inp: ScoreInput, rules: Rules) -> Scores:
    """Score every indicator, phase, objective, settore and the ente (scoring.md)."""
    # Every Fraction is a tracked object: the hundreds of thousands made here (none in a
    # cycle) set off collections walking every live object of the process, a third of the
    # time next to a loaded plan and its returns.
    with gc_paused():
        return _compute(inp, rules)


def _compute(inp: ScoreInput, rules: Rules) -> Scores:
    asg = _table(inp.assignments, {"sector": None, "objective": None, "title": None,
                                   "weight": np.nan}, ["sector", "objective"], "assignments")
    asg["weight"] = _float_col(asg["weight"])
    keys = ["sector", "objective"]
    rx = _exact_rules(rules)

    fig = Figures()
    ph, ph_parts = _score_phases(asg, inp, fig)
    ind, in_parts = _score_indicators(asg, inp, rules, fig)

    given = _table(inp.objective_inputs, {"sector": None, "objective": None, "status": None,
                                          "declared": np.nan, "oiv_grade": np.nan,
                                          "oiv_not_assessable": False},
                   keys, "objective_inputs")
    obj = asg.merge(given, on=keys, how="left", sort=False)
    obj["declared"] = _float_col(obj["declared"])
    obj["oiv_grade"] = _float_col(obj["oiv_grade"])
    none3 = (None, 0, 0)
    fps, fis, comps, all_neutralised = [], [], [], []
    for key in zip(obj["sector"], obj["objective"]):
        fp, n_ph, a_ph = ph_parts.get(key, none3)
        fi, n_in, a_in = in_parts.get(key, none3)
        fps.append(fp)
        fis.append(fi)
        comps.append(_computed(fp, fi, rx))
        # Every phase and every scored indicator neutralised (CONTESTO never counts).
        all_neutralised.append(n_ph + n_in > 0 and a_ph + a_in == 0)
    obj["phases_pct"] = floats(fps, obj.index)
    obj["indicators_pct"] = floats(fis, obj.index)
    obj["computed"] = floats(comps, obj.index)

    # An unknown Stato (the validator reports it) counts as an ordinary one: kept as typed.
    status = [None if is_blank(s) else (canonical(s, STATI) or s) for s in obj["status"]]
    oiv_na = _bool_col(obj["oiv_not_assessable"])
    reasons, grades, sources, for_mean, deviation = [], [], [], [], []
    for i, (st, neu, oiv, dec, comp, na) in enumerate(zip(status, all_neutralised,
                                                          _exacts(obj["oiv_grade"]),
                                                          _exacts(obj["declared"]), comps, oiv_na)):
        if st == EX_POSTPONED:
            reason = EX_POSTPONED
        elif st == EX_NOT_ASSESSABLE:
            reason = EX_NOT_ASSESSABLE
        elif neu:
            # Shown Non valutabile; a declared grade does not count (validate warns).
            reason = EX_NEUTRALISED
            status[i] = EX_NOT_ASSESSABLE
        else:
            reason = None
        grade, source = None, None
        if reason is None and na:
            # the OIV's «Non valutabile»: left out of every average like Stato Non valutabile
            reason, source = EX_OIV_NOT_ASSESSABLE, SRC_OIV
        elif reason is None:
            for value, src in ((oiv, SRC_OIV), (dec, SRC_DECLARED), (comp, SRC_COMPUTED)):
                if value is not None:
                    grade, source = value, src
                    break
            else:
                reason = EX_NO_DATA
        reasons.append(reason)
        grades.append(grade)
        sources.append(source)
        # Soglia minima: a grade below it counts 0 in the averages (it is still shown).
        for_mean.append(None if grade is None else (_ZERO if grade < rx.minimum else grade))
        deviation.append(reason is None and dec is not None and comp is not None
                         and abs(dec - comp) > rx.deviation_threshold)
    okeys = list(zip(obj["sector"], obj["objective"]))
    fig.computed.update(zip(okeys, comps))
    fig.grade.update(zip(okeys, grades))
    fig.for_mean.update(zip(okeys, for_mean))
    obj["status"] = _obj(status, obj.index)
    obj["grade"] = floats(grades, obj.index)
    obj["grade_source"] = _obj(sources, obj.index)
    obj["excluded_reason"] = _obj(reasons, obj.index)
    obj["counted"] = obj["excluded_reason"].isna().astype(bool)
    obj["grade_for_mean"] = floats(for_mean, obj.index)
    obj["deviation_flag"] = pd.Series(deviation, index=obj.index, dtype=bool)
    obj = obj[OBJ_COLUMNS]

    sectors, sec_exact = _score_sectors(obj, for_mean, inp, rules, fig)
    assessed = sectors["percentage"].notna()
    # Settori with nothing assessed drop out, and their Peso with them.
    pct, sec_weights = _mean_and_weights(sec_exact, _exacts(sectors["weight"]))
    fig.sectors.update(zip(sectors["sector"], sec_exact))
    fig.sector_weights.update((c, w) for c, w in zip(sectors["sector"], sec_weights) if w is not None)
    fig.ente = pct
    ente = {"percentage": None if pct is None else figure_float(pct), "band": rules.band(pct),
            "n_sectors": int(len(sectors)), "n_assessed_sectors": int(assessed.sum())}

    ind = ind[IND_COLUMNS].reset_index(drop=True)
    return Scores(indicators=ind, phases=ph.reset_index(drop=True),
                  objectives=obj.reset_index(drop=True), sectors=sectors, ente=ente,
                  rules=rules, exact=fig, input=inp)


def _score_sectors(obj: pd.DataFrame, for_mean: list[Fraction | None], inp: ScoreInput,
                   rules: Rules, fig: Figures) -> tuple[pd.DataFrame, list[Fraction | None]]:
    sec = _table(inp.sectors, {"sector": None, "sector_name": None, "manager": None,
                               "weight": np.nan}, ["sector"], "sectors")
    sec["weight"] = _float_col(sec["weight"])
    # A settore the assignments name but the Settori sheet lacks is kept, not dropped
    # (the plan validator reports it).
    extra = pd.unique(obj.loc[~obj["sector"].isin(sec["sector"]), "sector"])
    if len(extra):
        sec = pd.concat([sec, pd.DataFrame({"sector": extra, "weight": np.nan})],
                        ignore_index=True)

    weights = _exacts(obj["weight"])
    counted = list(obj["counted"])
    okeys = list(zip(obj["sector"], obj["objective"]))
    stats: dict[Any, tuple[int, int, Fraction | None]] = {}
    shares = IdMemo(_weights_and_shares)
    for (sector,), rows in groups(obj, ["sector"]).items():
        ew, share = shares([weights[i] for i in rows], [True] * len(rows),
                           [counted[i] for i in rows])
        fig.objective_weights.update((okeys[i], w) for i, w in zip(rows, ew) if w is not None)
        pairs = [(k, v) for k, v in zip(share, (for_mean[i] for i in rows))
                 if k is not None and v is not None]
        total = dot(pairs) if pairs else None
        stats[sector] = (len(rows), sum(counted[i] for i in rows), total)
    pcts = [stats.get(c, (0, 0, None))[2] for c in sec["sector"]]
    sec["n_objectives"] = pd.Series([stats.get(c, (0,))[0] for c in sec["sector"]],
                                    index=sec.index, dtype=int)
    sec["n_assessed"] = pd.Series([stats.get(c, (0, 0))[1] for c in sec["sector"]],
                                  index=sec.index, dtype=int)
    sec["percentage"] = floats(pcts, sec.index)
    sec["band"] = _obj([rules.band(p) for p in pcts], sec.index)
    return sec[SECTOR_COLUMNS].reset_index(drop=True), pcts
