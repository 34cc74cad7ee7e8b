"""The scores of scoring.md: indicator, phases, objective, settore and ente.

Pure functions on already parsed values and typed tables: no I/O, no rounding (figures are
rounded half-up only when shown, see values.round_half_up). Whether a missing or odd value is
an error is the validators' business; here it is left out the way scoring.md says, and the
tables record why (status, excluded_reason) so the caller can report it.
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np
import pandas as pd

from .rules import Rules
from .values import is_blank, parse_bool
from .workbook.contract import STATI, TIPI_VALORE, canonical, norm_word

# Indicator statuses, as shown in the outputs.
ST_COMPUTED = "calcolato"
ST_CONTEXT = "contesto"
ST_NEUTRALISED = "neutralizzato"
ST_MISSING = "mancante"
ST_NOT_COMPUTABLE = "non calcolabile"

# Why an objective has no Grado.
EX_POSTPONED = "Rinviato"
EX_NOT_ASSESSABLE = "Non valutabile"
EX_NEUTRALISED = "neutralizzato"
EX_NO_DATA = "nessun dato"
EX_OIV_NOT_ASSESSABLE = "Non valutabile (OIV)"     # the OIV wrote «Non valutabile»

SRC_OIV = "OIV"
SRC_DECLARED = "dichiarato"
SRC_COMPUTED = "calcolato"

# Float noise (0.07 * 100 = 7.000000000000001) must not turn a hit into a miss or a
# grade exactly on a threshold into one below it.
_EPS = 1e-9

_DIRECTIONS = {">=": ">=", "≥": ">=", "=>": ">=", ">": ">=",
               "<=": "<=", "≤": "<=", "=<": "<=", "<": "<=",
               "=": "=", "==": "="}


# --------------------------------------------------------------------------- indicator

def _norm_direction(direction: Any, value_type: str) -> str:
    if is_blank(direction):
        return "<=" if value_type == "data" else ">="
    d = _DIRECTIONS.get(str(direction).strip())
    if d is None:
        raise ValueError(f"verso sconosciuto: {direction!r}")
    return d


def _as_float(x: Any) -> float | None:
    if isinstance(x, (bool, np.bool_)):
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


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


def _numeric_raw(direction: str, a: float, r: float, rules: Rules) -> float:
    """Uncapped, unclamped score of a number against its target.

    Beyond the target the same formula keeps going (above 100) so that a Tetto indicatore
    above 100 rewards over-achievement. Negative targets (a deficit, a balance) have no
    meaningful ratio, so they use the linear shortfall relative to |A|.
    """
    if direction == "=":
        return 100.0 if math.isclose(r, a, rel_tol=_EPS, abs_tol=_EPS) else 0.0
    if direction == ">=":
        if a > 0:
            return 100.0 * r / a
        if a == 0:
            return 100.0 if r >= 0 else 0.0
        return 100.0 * (2 * a - r) / a          # = 100 * (1 - (A - R) / |A|)
    # "<=": less is better
    if a == 0:
        return 100.0 if r <= 0 else 0.0
    if a < 0:
        return 100.0 * r / a                    # = 100 * (1 - (R - A) / |A|)
    if rules.lower_formula == "scostamento":
        return 100.0 * (2 * a - r) / a
    # rapporto: R <= 0 under a positive ceiling is the limit of A/R, i.e. the cap.
    return 100.0 * a / r if r > 0 else math.inf


def _date_raw(direction: str, a: dt.date, r: dt.date, rules: Rules) -> float:
    if direction == "=":
        return 100.0 if r == a else 0.0
    # "<=": days after the deadline; ">=" ("not before"): days before the start date.
    days = (r - a).days if direction == "<=" else (a - r).days
    if days <= 0:
        return 100.0
    if rules.late_zero:
        return 0.0
    return 100.0 - rules.late_penalty * days


def score_indicator(value_type: str, direction: str | None, target: Any, achieved: Any,
                    rules: Rules) -> float | None:
    """Raggiungimento % of one indicator, in [0, rules.cap]; None when not computable.

    `target` and `achieved` are parsed values (float, bool, datetime.date). None for a
    testo indicator, a missing value, or a value of the wrong kind. Raises ValueError for
    a Tipo valore or Verso outside the vocabulary (the plan validator rejects those).
    """
    vt = value_type if value_type in TIPI_VALORE else canonical(value_type, TIPI_VALORE)
    if vt is None:
        raise ValueError(f"tipo valore sconosciuto: {value_type!r}")
    if vt == "testo" or is_blank(achieved) or is_blank(target):
        return None
    d = _norm_direction(direction, vt)
    if vt in ("numero", "percentuale"):
        a, r = _as_float(target), _as_float(achieved)
        if a is None or r is None:
            return None
        raw = _numeric_raw(d, a, r, rules)
    elif vt == "sì/no":
        a, r = _as_bool(target), _as_bool(achieved)
        if a is None or r is None:
            return None
        # A = no is a reverse target ("no incidents"): matching it is the hit.
        raw = 100.0 if a == r else 0.0
    else:
        a, r = _as_date(target), _as_date(achieved)
        if a is None or r is None:
            return None
        raw = _date_raw(d, a, r, rules)
    return float(min(max(raw, 0.0), rules.cap))


# ------------------------------------------------------------------ weights and means

def _equalise(weights: np.ndarray) -> np.ndarray:
    """Weights as used: equal ones where any weight is missing or none is positive."""
    w = np.asarray(weights, dtype=float)
    if np.isnan(w).any() or not (w.sum() > 0):
        return np.ones(len(w))
    return w


def weighted_mean(values: Iterable[float], weights: Iterable[float]) -> float | None:
    """Weighted mean of the values that are not NaN; None when there are none.

    Equal weights where the weights are missing (all NaN, or NaN for some: the plan
    validator rejects that mix, here it falls back to equal weights) or sum to 0.
    """
    v = np.asarray(list(values), dtype=float)
    w = np.asarray(list(weights), dtype=float)
    if len(v) != len(w):
        raise ValueError("values and weights differ in length")
    keep = ~np.isnan(v)
    if not keep.any():
        return None
    w = _equalise(w)[keep]
    v = v[keep]
    if not (w.sum() > 0):        # only zero-weight values left
        w = np.ones(len(v))
    return float((v * w).sum() / w.sum())


def phase_realisation(weights: Iterable[float], progresses: Iterable[float],
                      neutralised: Iterable[bool] | None = None) -> float | None:
    """Realizzazione fasi %: sum of peso * avanzamento / 100 over the phases that count.

    Neutralised phases are left out and the others' pesi scaled to weigh 100; a missing
    avanzamento (NaN) counts as 0. The pesi are always scaled by their sum, which changes
    nothing when they weigh 100 (the plan validator rejects any other sum). None when no
    phase counts.
    """
    w = np.asarray(list(weights), dtype=float)
    p = np.nan_to_num(np.asarray(list(progresses), dtype=float), nan=0.0)
    n = np.zeros(len(w), bool) if neutralised is None else np.asarray(list(neutralised), bool)
    active = ~n
    if not active.any():
        return None
    w = _equalise(w)[active]
    if not (w.sum() > 0):
        w = np.ones(len(w))
    return float((w * p[active]).sum() / w.sum())


def _effective_weights(df: pd.DataFrame, keys: list[str], weight: str,
                       eligible: pd.Series, active: pd.Series) -> pd.Series:
    """Weights of the active rows scaled to sum 100 within each group; NaN elsewhere.

    Vectorised twin of _equalise: a group falls back to equal weights when any eligible
    row lacks a weight or the active weights sum to 0.
    """
    if df.empty:
        return pd.Series(np.nan, index=df.index, dtype=float)
    w = pd.to_numeric(df[weight], errors="coerce").astype(float)
    grp = [df[k] for k in keys]
    missing = (w.isna() & eligible).groupby(grp, sort=False).transform("any").astype(bool)
    w = w.mask(missing, 1.0).where(active)
    total = w.groupby(grp, sort=False).transform("sum")
    zero = ~(total > 0) & active
    w = w.mask(zero, 1.0).where(active)
    total = w.groupby(grp, sort=False).transform("sum")
    return (w * 100.0 / total).where(active)


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
    neutralised_phases: frozenset = frozenset()
    neutralised_indicators: frozenset = frozenset()


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
    ente: dict
    rules: Rules


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
    out = pd.DataFrame(index=df.index)
    for col, default in columns.items():
        out[col] = df[col] if col in df.columns else default
    out = out.reset_index(drop=True)
    if keys and out.duplicated(keys).any():
        dup = out.loc[out.duplicated(keys, keep=False), keys].drop_duplicates()
        raise ValueError(f"{name}: chiavi ripetute {dup.to_dict('records')}")
    return out


def _bool_col(s: pd.Series) -> pd.Series:
    # bool("no") is True: read words the way the plan means them; blank is "not neutralised".
    return s.map(lambda x: False if is_blank(x) else bool(_as_bool(x))).astype(bool)


def _float_col(s: pd.Series) -> pd.Series:
    return pd.to_numeric(s, errors="coerce").astype(float)


def _in_set(df: pd.DataFrame, cols: list[str], keys: frozenset) -> pd.Series:
    if not keys or df.empty:
        return pd.Series(False, index=df.index)
    return pd.Series([t in keys for t in zip(*(df[c] for c in cols))], index=df.index)


def _obj(values: list, index: pd.Index) -> pd.Series:
    # object dtype keeps None as None (pandas 3 would turn it into NaN in a str column).
    return pd.Series(values, index=index, dtype=object)


def _score_phases(asg: pd.DataFrame, inp: ScoreInput) -> pd.DataFrame:
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
    active = ~ph["neutralised"]
    ph["effective_weight"] = _effective_weights(
        ph, ["sector", "objective"], "weight", pd.Series(True, index=ph.index), active)
    # A phase nobody reported on has made no progress.
    ph["contribution"] = (ph["effective_weight"] * ph["progress"].fillna(0.0) / 100.0).where(active)
    return ph[PHASE_COLUMNS]


def _score_indicators(asg: pd.DataFrame, inp: ScoreInput,
                      rules: Rules) -> tuple[pd.DataFrame, pd.Series]:
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
    context = pd.Series([k == "CONTESTO" or norm_word(k) == "contesto" for k in ind["kind"]],
                        index=ind.index, dtype=bool)
    neutral = (_bool_col(ind["neutralised"])
               | _in_set(ind, ["sector", "objective", "indicator"], inp.neutralised_indicators))
    declared = _float_col(ind["declared_score"])

    scores, statuses = [], []
    for vt, d, a, r, ds, ctx, neu in zip(ind["value_type"], ind["direction"], ind["target"],
                                         ind["achieved"], declared, context, neutral):
        if ctx:
            scores.append(np.nan)
            statuses.append(ST_CONTEXT)
            continue
        s = score_indicator(vt, d, a, r, rules)
        # A hand assessment stands in only where no figure can be computed (testo):
        # a computable indicator is never overridden by what the settore declares.
        if s is None and not math.isnan(ds):
            s = float(min(max(ds, 0.0), rules.cap))
        scores.append(np.nan if s is None else s)
        if neu:
            statuses.append(ST_NEUTRALISED)
        elif s is not None:
            statuses.append(ST_COMPUTED)
        elif is_blank(r):
            statuses.append(ST_MISSING)
        else:
            statuses.append(ST_NOT_COMPUTABLE)
    ind["score"] = pd.Series(scores, index=ind.index, dtype=float)
    ind["status"] = pd.Series(statuses, index=ind.index, dtype=object)
    ind["counted"] = (ind["status"] == ST_COMPUTED).astype(bool)
    ind["neutralised"] = neutral.astype(bool)
    ind["effective_weight"] = _effective_weights(
        ind, ["sector", "objective"], "weight", ~context, ind["counted"])
    return ind, context


def compute(inp: ScoreInput, rules: Rules) -> Scores:
    """Score every indicator, phase, objective, settore and the ente (scoring.md)."""
    asg = _table(inp.assignments, {"sector": None, "objective": None, "title": None,
                                   "weight": np.nan}, ["sector", "objective"], "assignments")
    asg["weight"] = _float_col(asg["weight"])
    keys = ["sector", "objective"]

    ph = _score_phases(asg, inp)
    ind, context = _score_indicators(asg, inp, rules)

    # Per objective: the phases' and indicators' parts, and whether anything is left.
    ph_g = ph.assign(_active=~ph["neutralised"]).groupby(keys, sort=False)
    ph_agg = pd.DataFrame({
        "phases_pct": ph_g["contribution"].sum(min_count=1),
        "_n_items": ph_g.size(),
        "_n_active": ph_g["_active"].sum(),
    })
    scored = ind[~context].assign(
        _part=ind["score"] * ind["effective_weight"] / 100.0,
        _active=~ind["neutralised"])
    in_g = scored.groupby(keys, sort=False)
    in_agg = pd.DataFrame({
        "indicators_pct": in_g["_part"].sum(min_count=1),
        "_n_items": in_g.size(),
        "_n_active": in_g["_active"].sum(),
    })

    given = _table(inp.objective_inputs, {"sector": None, "objective": None, "status": None,
                                          "declared": np.nan, "oiv_grade": np.nan,
                                          "oiv_not_assessable": False},
                   keys, "objective_inputs")
    obj = asg.merge(given, on=keys, how="left", sort=False)
    obj = obj.merge(ph_agg[["phases_pct"]], left_on=keys, right_index=True, how="left")
    obj = obj.merge(in_agg[["indicators_pct"]], left_on=keys, right_index=True, how="left")
    items = ph_agg[["_n_items", "_n_active"]].add(in_agg[["_n_items", "_n_active"]], fill_value=0)
    obj = obj.merge(items, left_on=keys, right_index=True, how="left")
    obj[["_n_items", "_n_active"]] = obj[["_n_items", "_n_active"]].fillna(0)
    all_neutralised = (obj["_n_items"] > 0) & (obj["_n_active"] == 0)

    obj["declared"] = _float_col(obj["declared"])
    obj["oiv_grade"] = _float_col(obj["oiv_grade"])
    pw, iw = float(rules.phases_weight), float(rules.indicators_weight)
    if pw + iw <= 0:        # the Regole reader refuses this; equal parts if it slips through
        pw = iw = 1.0
    fp, fi = obj["phases_pct"], obj["indicators_pct"]
    both = (pw * fp + iw * fi) / (pw + iw)
    # The part that exists alone makes 100 %.
    obj["computed"] = both.where(fp.notna() & fi.notna(), fp.fillna(fi))

    # An unknown Stato (the validator reports it) counts as an ordinary one: kept as typed.
    status = [None if is_blank(s) else (canonical(s, STATI) or s) for s in obj["status"]]
    oiv_na = _bool_col(obj["oiv_not_assessable"])
    reasons, grades, sources = [], [], []
    for st, neu, oiv, dec, comp, na in zip(status, all_neutralised, obj["oiv_grade"],
                                           obj["declared"], obj["computed"], oiv_na):
        if st == EX_POSTPONED:
            reason = EX_POSTPONED
        elif st == EX_NOT_ASSESSABLE:
            reason = EX_NOT_ASSESSABLE
        elif neu:
            reason = EX_NEUTRALISED
        else:
            reason = None
        grade, source = np.nan, None
        if reason is None and na:
            # the OIV's «Non valutabile»: left out of every average like Stato Non valutabile
            reason, source = EX_OIV_NOT_ASSESSABLE, SRC_OIV
        elif reason is None:
            for value, src in ((oiv, SRC_OIV), (dec, SRC_DECLARED), (comp, SRC_COMPUTED)):
                if not math.isnan(value):
                    grade, source = float(value), src
                    break
            else:
                reason = EX_NO_DATA
        reasons.append(reason)
        grades.append(grade)
        sources.append(source)
    obj["status"] = _obj(status, obj.index)
    obj["grade"] = pd.Series(grades, index=obj.index, dtype=float)
    obj["grade_source"] = _obj(sources, obj.index)
    obj["excluded_reason"] = _obj(reasons, obj.index)
    obj["counted"] = obj["excluded_reason"].isna().astype(bool)
    # Soglia minima: a grade below it counts 0 in the averages (it is still shown).
    obj["grade_for_mean"] = obj["grade"].mask(obj["grade"] < rules.minimum - _EPS, 0.0)
    obj["deviation_flag"] = (obj["counted"]
                             & ((obj["declared"] - obj["computed"]).abs()
                                > rules.deviation_threshold + _EPS)).astype(bool)
    obj = obj[OBJ_COLUMNS]

    sectors = _score_sectors(obj, inp, rules)
    assessed = sectors["percentage"].notna()
    # Settori with nothing assessed (NaN) drop out, and their Peso with them.
    pct = weighted_mean(sectors["percentage"], sectors["weight"])
    ente = {"percentage": pct, "band": rules.band(pct), "n_sectors": int(len(sectors)),
            "n_assessed_sectors": int(assessed.sum())}

    ind = ind[IND_COLUMNS].reset_index(drop=True)
    return Scores(indicators=ind, phases=ph.reset_index(drop=True),
                  objectives=obj.reset_index(drop=True), sectors=sectors, ente=ente,
                  rules=rules)


def _score_sectors(obj: pd.DataFrame, inp: ScoreInput, rules: Rules) -> pd.DataFrame:
    sec = _table(inp.sectors, {"sector": None, "sector_name": None, "manager": None,
                               "weight": np.nan}, ["sector"], "sectors")
    sec["weight"] = _float_col(sec["weight"])
    # A settore the assignments name but the Settori sheet lacks is kept, not dropped
    # (the plan validator reports it).
    extra = pd.unique(obj.loc[~obj["sector"].isin(sec["sector"]), "sector"])
    if len(extra):
        sec = pd.concat([sec, pd.DataFrame({"sector": extra, "weight": np.nan})],
                        ignore_index=True)

    ew = _effective_weights(obj, ["sector"], "weight",
                            pd.Series(True, index=obj.index), obj["counted"])
    parts = (obj["grade_for_mean"] * ew / 100.0).where(obj["counted"])
    g = obj.assign(_part=parts).groupby("sector", sort=False)
    agg = pd.DataFrame({"n_objectives": g.size(), "n_assessed": g["counted"].sum(),
                        "percentage": g["_part"].sum(min_count=1)})
    sec = sec.merge(agg, left_on="sector", right_index=True, how="left")
    sec["n_objectives"] = sec["n_objectives"].fillna(0).astype(int)
    sec["n_assessed"] = sec["n_assessed"].fillna(0).astype(int)
    sec["percentage"] = sec["percentage"].astype(float)
    sec["band"] = _obj([rules.band(None if math.isnan(p) else p) for p in sec["percentage"]],
                       sec.index)
    return sec[SECTOR_COLUMNS].reset_index(drop=True)
