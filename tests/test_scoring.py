"""Scoring (scoring.md): every figure hand-computed in the comments."""
from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pegxl.rules import Rules
from pegxl.scoring import (ScoreInput, Scores, compute, phase_realisation, score_indicator,
                           weighted_mean)
from pegxl.values import round_half_up

R = Rules()
D = dt.date
NAN = float("nan")


# ------------------------------------------------------------------ builders

def make_input(assignments, phases=(), indicators=(), objective_inputs=(), phase_inputs=(),
               indicator_inputs=(), sectors=None, **extra) -> ScoreInput:
    """Tables from tuples; sectors default to those the assignments name, without Peso.

    assignments: (sector, objective, weight)
    phases: (objective, phase, weight[, neutralised])
    indicators: (objective, indicator, kind, value_type, direction, target, weight[, neutralised])
    objective_inputs: (sector, objective, status, declared, oiv_grade)
    phase_inputs: (sector, objective, phase, progress)
    indicator_inputs: (sector, objective, indicator, achieved[, declared_score])
    """
    asg = pd.DataFrame([(s, o, f"Titolo {o}", w) for s, o, w in assignments],
                       columns=["sector", "objective", "title", "weight"])
    if sectors is None:
        codes = list(dict.fromkeys(asg["sector"]))
        sectors = [(c, NAN) for c in codes]
    sec = pd.DataFrame([(c, f"Settore {c}", "Rossi", w) for c, w in sectors],
                       columns=["sector", "sector_name", "manager", "weight"])
    ph = pd.DataFrame([tuple(p) + (False,) * (4 - len(p)) for p in phases],
                      columns=["objective", "phase", "weight", "neutralised"])
    ind = pd.DataFrame([tuple(i) + (False,) * (8 - len(i)) for i in indicators],
                       columns=["objective", "indicator", "kind", "value_type", "direction",
                                "target", "weight", "neutralised"])
    oi = pd.DataFrame(list(objective_inputs),
                      columns=["sector", "objective", "status", "declared", "oiv_grade"])
    pi = pd.DataFrame(list(phase_inputs), columns=["sector", "objective", "phase", "progress"])
    ii = pd.DataFrame([tuple(i) + (NAN,) * (5 - len(i)) for i in indicator_inputs],
                      columns=["sector", "objective", "indicator", "achieved", "declared_score"])
    return ScoreInput(sectors=sec, assignments=asg, phases=ph, indicators=ind,
                      objective_inputs=oi, phase_inputs=pi, indicator_inputs=ii, **extra)


def row(df: pd.DataFrame, **keys) -> pd.Series:
    mask = np.ones(len(df), bool)
    for k, v in keys.items():
        mask &= (df[k] == v).to_numpy()
    assert mask.sum() == 1, (keys, mask.sum())
    return df[mask].iloc[0]


def sector_pct(scores: Scores, sector: str) -> float:
    return row(scores.sectors, sector=sector)["percentage"]


# ------------------------------------------------------------- indicators: numbers

@pytest.mark.parametrize("target, achieved, expected", [
    (100, 120, 100),        # beyond target: 120 capped at Tetto 100
    (100, 100, 100),
    (100, 80, 80),          # 100 * 80 / 100
    (40, 30, 75),           # 100 * 30 / 40
    (100, -5, 0),           # never below 0
    (0, 0, 100),            # A = 0 gives 100 when R >= 0
    (0, 7, 100),
    (0, -1, 0),
    (-5, -7, 60),           # negative target: 100 * (1 - (A - R) / |A|) = 100 * (1 - 2/5)
    (-5, -5, 100),
    (-5, -12, 0),
])
def test_numero_greater_is_better(target, achieved, expected):
    assert score_indicator("numero", ">=", float(target), float(achieved), R) == pytest.approx(expected)


@pytest.mark.parametrize("direction", [None, "", ">=", "≥", ">"])
def test_numbers_default_and_spelled_directions(direction):
    # 100 * 15 / 20 = 75 whatever way >= is written; no Verso means >= for numbers
    assert score_indicator("numero", direction, 20.0, 15.0, R) == pytest.approx(75)


def test_percentuale_same_as_numero():
    assert score_indicator("percentuale", ">=", 80.0, 64.52, R) == pytest.approx(80.65)  # 6452/80


def test_cap_above_100_rewards_overachievement():
    rules = Rules(cap=120)
    assert score_indicator("numero", ">=", 100.0, 110.0, rules) == pytest.approx(110)
    assert score_indicator("numero", ">=", 100.0, 130.0, rules) == pytest.approx(120)
    # A = 0: the spec's flat 100, there is no ratio to reward
    assert score_indicator("numero", ">=", 0.0, 5.0, rules) == pytest.approx(100)
    # <= rapporto: 100 * 10 / 9 = 111.11...
    assert score_indicator("numero", "<=", 10.0, 9.0, rules) == pytest.approx(1000 / 9)


def test_cap_below_100():
    assert score_indicator("numero", ">=", 10.0, 10.0, Rules(cap=80)) == pytest.approx(80)


@pytest.mark.parametrize("target, achieved, expected", [
    (10, 8, 100),           # met
    (10, 10, 100),
    (10, 20, 50),           # rapporto 100 * 10 / 20
    (10, 40, 25),           # 100 * 10 / 40
    (10, 0, 100),           # 0 under a positive ceiling: met (capped)
    (0, 0, 100),
    (0, 3, 0),              # A = 0 and R > 0 gives 0
    (-5, -3, 60),           # negative ceiling: 100 * (1 - (R - A) / |A|) = 100 * (1 - 2/5)
    (-5, 1, 0),
])
def test_numero_less_is_better_rapporto(target, achieved, expected):
    assert score_indicator("numero", "<=", float(target), float(achieved), R) == pytest.approx(expected)


@pytest.mark.parametrize("target, achieved, expected", [
    (10, 8, 100),
    (10, 12, 80),           # 100 * (2*10 - 12) / 10: 20 % over costs 20 points
    (10, 11, 90),
    (10, 20, 0),            # 100 % over: 0
    (10, 25, 0),            # never below 0
    (0, 0, 100),
    (0, 1, 0),
    (-5, -3, 60),
])
def test_numero_less_is_better_scostamento(target, achieved, expected):
    rules = Rules(lower_formula="scostamento")
    assert score_indicator("numero", "≤", float(target), float(achieved), rules) == pytest.approx(expected)


def test_numero_equal():
    assert score_indicator("numero", "=", 5.0, 5.0, R) == 100
    assert score_indicator("numero", "=", 5.0, 5.1, R) == 0
    assert score_indicator("numero", "=", 5.0, 4.9, R) == 0
    # 0.07 read from a percent cell is 7.000000000000001: still a hit
    assert score_indicator("percentuale", "=", 7.0, 0.07 * 100, R) == 100


# ------------------------------------------------------------------ sì/no, dates, testo

@pytest.mark.parametrize("target, achieved, expected", [
    (True, True, 100),
    (True, False, 0),
    (False, False, 100),    # reverse target: "no" wanted, "no" got
    (False, True, 0),
    (True, "SI", 100),      # words the way an office writes them
    (True, "fatto", 100),
    (True, "non fatto", 0),
    (True, "boh", None),    # not a yes/no word: not computable
])
def test_si_no(target, achieved, expected):
    assert score_indicator("sì/no", None, target, achieved, R) == expected
    assert score_indicator("si/no", "=", target, achieved, R) == expected   # no accent


DEADLINE = D(2024, 12, 31)


@pytest.mark.parametrize("achieved, rules, expected", [
    (D(2024, 9, 27), R, 100),                                          # early
    (D(2024, 12, 31), R, 100),                                         # on the day
    (D(2025, 1, 1), R, 0),                                             # 1 day late, Ritardo azzera
    (D(2025, 1, 10), Rules(late_zero=False, late_penalty=2), 80),       # 10 days * 2 points
    (D(2025, 3, 1), Rules(late_zero=False, late_penalty=2), 0),         # 60 days: never below 0
    (D(2025, 1, 10), Rules(late_zero=False, late_penalty=0), 100),      # no penalty set
    (D(2025, 1, 3), Rules(late_zero=False, late_penalty=0.5), 98.5),    # 3 days * 0.5
    (dt.datetime(2024, 12, 31, 0, 0), R, 100),                         # a datetime cell
    (pd.Timestamp("2025-01-02"), R, 0),
])
def test_dates(achieved, rules, expected):
    assert score_indicator("data", None, DEADLINE, achieved, rules) == pytest.approx(expected)
    assert score_indicator("data", "<=", DEADLINE, achieved, rules) == pytest.approx(expected)


def test_dates_other_directions():
    start = D(2024, 6, 1)
    assert score_indicator("data", ">=", start, D(2024, 6, 3), R) == 100
    assert score_indicator("data", ">=", start, D(2024, 5, 31), R) == 0
    # not before 1/6, done 4 days early, 5 points a day: 100 - 20
    assert score_indicator("data", ">=", start, D(2024, 5, 28),
                           Rules(late_zero=False, late_penalty=5)) == 80
    assert score_indicator("data", "=", start, start, R) == 100
    assert score_indicator("data", "=", start, D(2024, 6, 2), R) == 0


@pytest.mark.parametrize("value_type, target, achieved", [
    ("testo", "Relazione", "Fatta"),     # testo is never computed
    ("numero", 10.0, None),              # nothing reported
    ("numero", 10.0, NAN),
    ("numero", None, 5.0),               # no target
    ("numero", 10.0, "dieci"),           # not a number
    ("data", DEADLINE, "presto"),
    ("data", DEADLINE, None),
])
def test_not_computable(value_type, target, achieved):
    assert score_indicator(value_type, None, target, achieved, R) is None


def test_unknown_vocabulary_is_a_programming_error():
    with pytest.raises(ValueError):
        score_indicator("valuta", None, 1.0, 1.0, R)
    with pytest.raises(ValueError):
        score_indicator("numero", "circa", 1.0, 1.0, R)


# --------------------------------------------------------------- means and phases

def test_weighted_mean():
    assert weighted_mean([100, 50], [3, 1]) == pytest.approx(87.5)       # (300 + 50) / 4
    assert weighted_mean([100, 50], [NAN, NAN]) == pytest.approx(75)     # equal weights
    assert weighted_mean([100, 50], [3, NAN]) == pytest.approx(75)       # mixed: equal weights
    assert weighted_mean([100, NAN], [1, 3]) == pytest.approx(100)       # NaN value left out
    assert weighted_mean([100, 50], [0, 0]) == pytest.approx(75)         # all zero: equal
    assert weighted_mean([], []) is None
    assert weighted_mean([NAN], [1]) is None


def test_phase_realisation_plain():
    # 60 * 100 / 100 + 40 * 50 / 100 = 80
    assert phase_realisation([60, 40], [100, 50]) == pytest.approx(80)


def test_phase_realisation_missing_progress_is_zero():
    # 60 * 100 / 100 + 40 * 0 = 60
    assert phase_realisation([60, 40], [100, NAN]) == pytest.approx(60)


def test_phase_realisation_neutralised_scales_to_100():
    # 20, 20, 20, 20, 10 with the 10 neutralised: 25 each;
    # 25 * (100 + 50 + 100 + 50) / 100 = 75 (the neutralised phase's 0 does not count)
    assert phase_realisation([20, 20, 20, 20, 10], [100, 50, 100, 50, 0],
                             [False, False, False, False, True]) == pytest.approx(75)


def test_phase_realisation_cinisello_remaining_weigh_90():
    # 2024_S08_03: an activity (peso 10) eliminated, the rest weigh 20*4 + 10 = 90.
    # (20*100*4 + 10*50) / 90 = 8500 / 90 = 94.444...
    weights = [20, 20, 20, 20, 10, 10]
    progress = [100, 100, 100, 100, 50, 0]
    assert phase_realisation(weights, progress, [False] * 5 + [True]) == pytest.approx(8500 / 90)
    # The same figure if the dropped phase were deleted and the plan let 90 through.
    assert phase_realisation(weights[:5], progress[:5]) == pytest.approx(8500 / 90)


def test_phase_realisation_all_neutralised():
    assert phase_realisation([50, 50], [100, 100], [True, True]) is None
    assert phase_realisation([], []) is None


# --------------------------------------------------------------- objectives

def _objective_with_parts(rules=R, **extra):
    """O1: phases 60/40 at 100/50 -> 80; indicators 90 (peso 1) and 100 (peso 3) -> 97.5."""
    inp = make_input(
        assignments=[("S1", "O1", NAN)],
        phases=[("O1", 1, 60.0), ("O1", 2, 40.0)],
        indicators=[("O1", 1, "EFFICACIA", "numero", ">=", 100.0, 1.0),
                    ("O1", 2, "QUALITATIVO", "sì/no", None, True, 3.0)],
        phase_inputs=[("S1", "O1", 1, 100.0), ("S1", "O1", 2, 50.0)],
        indicator_inputs=[("S1", "O1", 1, 90.0), ("S1", "O1", 2, True)],
        **extra)
    return compute(inp, rules)


def test_objective_computed_grade():
    s = _objective_with_parts()
    o = row(s.objectives, objective="O1")
    assert o["phases_pct"] == pytest.approx(80)
    assert o["indicators_pct"] == pytest.approx(97.5)          # (90*1 + 100*3) / 4
    assert o["computed"] == pytest.approx(88.75)               # (50*80 + 50*97.5) / 100
    assert o["grade"] == pytest.approx(88.75)
    assert o["grade_source"] == "calcolato"
    assert o["counted"] and o["excluded_reason"] is None
    assert list(s.indicators["effective_weight"]) == pytest.approx([25, 75])
    assert list(s.phases["contribution"]) == pytest.approx([60, 20])
    assert set(s.indicators["status"]) == {"calcolato"}


def test_objective_peso_fasi_indicatori():
    s = _objective_with_parts(Rules(phases_weight=30, indicators_weight=70))
    # (30*80 + 70*97.5) / 100 = 24 + 68.25 = 92.25
    assert row(s.objectives, objective="O1")["computed"] == pytest.approx(92.25)


def test_objective_only_phases_or_only_indicators():
    inp = make_input(
        assignments=[("S1", "F", NAN), ("S1", "I", NAN), ("S1", "M", NAN)],
        phases=[("F", 1, 100.0), ("M", 1, 100.0)],
        indicators=[("I", 1, "EFFICACIA", "numero", ">=", 10.0, NAN),
                    ("M", 1, "EFFICACIA", "numero", ">=", 10.0, NAN)],
        phase_inputs=[("S1", "F", 1, 70.0), ("S1", "M", 1, 40.0)],
        indicator_inputs=[("S1", "I", 1, 6.0)])
    s = compute(inp, R)
    assert row(s.objectives, objective="F")["computed"] == pytest.approx(70)   # phases alone
    assert row(s.objectives, objective="I")["computed"] == pytest.approx(60)   # 100 * 6 / 10
    # M's indicator is missing (mid-year): left out, the phases alone make 100 %
    assert row(s.objectives, objective="M")["computed"] == pytest.approx(40)
    m = row(s.indicators, objective="M")
    assert m["status"] == "mancante" and not m["counted"] and math.isnan(m["score"])


def test_missing_progress_counts_zero_and_missing_inputs_row():
    # No input at all for O1: its phases made no progress; computed 0 is a grade, not "nessun dato".
    inp = make_input(assignments=[("S1", "O1", NAN)], phases=[("O1", 1, 50.0), ("O1", 2, 50.0)],
                     phase_inputs=[("S1", "O1", 1, 80.0)])
    s = compute(inp, R)
    o = row(s.objectives, objective="O1")
    assert o["computed"] == pytest.approx(40)                  # 50 * 80 / 100 + 50 * 0
    assert o["counted"]
    assert math.isnan(row(s.phases, phase=2)["progress"])


def test_contesto_never_scored_nor_counted():
    inp = make_input(
        assignments=[("S1", "O1", NAN)],
        indicators=[("O1", 1, "EFFICACIA", "numero", ">=", 10.0, 75.0),
                    ("O1", 2, "EFFICIENZA", "numero", "<=", 10.0, 25.0),
                    ("O1", 3, "contesto", "numero", None, 1000.0, NAN)],   # no Peso, any case
        indicator_inputs=[("S1", "O1", 1, 10.0), ("S1", "O1", 2, 40.0), ("S1", "O1", 3, 5.0)])
    s = compute(inp, R)
    c = row(s.indicators, indicator=3)
    assert c["status"] == "contesto" and not c["counted"] and math.isnan(c["score"])
    # 75 * 100 + 25 * 25 (rapporto 10/40) = 81.25; CONTESTO's missing Peso does not equalise
    assert row(s.objectives, objective="O1")["indicators_pct"] == pytest.approx(81.25)


def test_testo_indicator_declared_score():
    inp = make_input(
        assignments=[("S1", "O1", NAN)],
        indicators=[("O1", 1, "QUALITATIVO", "testo", None, "Regolamento approvato", NAN),
                    ("O1", 2, "QUALITATIVO", "testo", None, "Relazione", NAN),
                    ("O1", 3, "EFFICACIA", "numero", ">=", 10.0, NAN),
                    ("O1", 4, "QUALITATIVO", "testo", None, "Altro", NAN)],
        indicator_inputs=[("S1", "O1", 1, "Approvato con DCC 12", 80.0),
                          ("S1", "O1", 2, "In bozza"),            # no hand score
                          ("S1", "O1", 3, 5.0, 100.0)])           # computable: 50, not 100
    s = compute(inp, R)
    st_ = dict(zip(s.indicators["indicator"], s.indicators["status"]))
    assert st_ == {1: "calcolato", 2: "non calcolabile", 3: "calcolato", 4: "mancante"}
    assert row(s.indicators, indicator=3)["score"] == pytest.approx(50)
    assert row(s.objectives, objective="O1")["indicators_pct"] == pytest.approx(65)  # (80 + 50) / 2


def test_neutralised_indicators_plan_and_oiv():
    inp = make_input(
        assignments=[("S1", "O1", NAN), ("S2", "O1", NAN)],
        indicators=[("O1", 1, "EFFICACIA", "numero", ">=", 10.0, 50.0),
                    ("O1", 2, "EFFICACIA", "numero", ">=", 10.0, 30.0, True),   # sterilizzato
                    ("O1", 3, "EFFICACIA", "numero", ">=", 10.0, 20.0)],
        indicator_inputs=[("S1", "O1", 1, 10.0), ("S1", "O1", 2, 0.0), ("S1", "O1", 3, 5.0),
                          ("S2", "O1", 1, 10.0), ("S2", "O1", 2, 0.0), ("S2", "O1", 3, 5.0)],
        neutralised_indicators=frozenset({("S2", "O1", 3)}))
    s = compute(inp, R)
    n = row(s.indicators, sector="S1", indicator=2)
    assert n["status"] == "neutralizzato" and not n["counted"] and n["neutralised"]
    assert n["score"] == 0                                   # still shown
    # S1: 50 and 20 scaled to 71.43 and 28.57: (50*100 + 20*50) / 70 = 85.714...
    assert row(s.objectives, sector="S1")["indicators_pct"] == pytest.approx(6000 / 70)
    # S2: the OIV neutralised 3 too, only indicator 1 (100) is left
    assert row(s.objectives, sector="S2")["indicators_pct"] == pytest.approx(100)
    assert row(s.indicators, sector="S2", indicator=1)["effective_weight"] == pytest.approx(100)


def test_neutralised_phases_in_compute():
    inp = make_input(
        assignments=[("S1", "C", NAN), ("S1", "X", NAN)],
        phases=[("C", i, w) for i, w in enumerate([20.0, 20.0, 20.0, 20.0, 10.0], 1)]
        + [("C", 6, 10.0, True)]
        + [("X", i, w) for i, w in enumerate([20.0, 20.0, 20.0, 20.0, 10.0], 1)],
        phase_inputs=[("S1", "C", i, p) for i, p in enumerate([100, 100, 100, 100, 50, 0], 1)]
        + [("S1", "X", i, p) for i, p in enumerate([100, 50, 100, 50, 0], 1)],
        neutralised_phases=frozenset({("S1", "X", 5)}))
    s = compute(inp, R)
    # Cinisello-style C: remaining 90 -> 8500 / 90
    assert row(s.objectives, objective="C")["phases_pct"] == pytest.approx(8500 / 90)
    c = s.phases[s.phases["objective"] == "C"]
    assert list(c["effective_weight"][:5]) == pytest.approx([2000 / 90] * 4 + [1000 / 90])
    assert math.isnan(c["effective_weight"].iloc[5]) and math.isnan(c["contribution"].iloc[5])
    # X: the OIV neutralised the 10: 25 each -> 75
    x = s.phases[s.phases["objective"] == "X"]
    assert list(x["effective_weight"][:4]) == pytest.approx([25] * 4)
    assert row(s.objectives, objective="X")["phases_pct"] == pytest.approx(75)


def test_everything_neutralised_is_non_valutabile():
    inp = make_input(
        assignments=[("S1", "O1", NAN), ("S1", "O2", NAN)],
        phases=[("O1", 1, 100.0, True), ("O2", 1, 100.0)],
        indicators=[("O1", 1, "EFFICACIA", "numero", ">=", 10.0, NAN, True),
                    ("O1", 2, "CONTESTO", "numero", None, 10.0, NAN)],   # context does not save it
        objective_inputs=[("S1", "O1", "Concluso", 100.0, NAN)],
        phase_inputs=[("S1", "O1", 1, 100.0), ("S1", "O2", 1, 60.0)],
        indicator_inputs=[("S1", "O1", 1, 10.0)])
    s = compute(inp, R)
    o = row(s.objectives, objective="O1")
    # scoring.md (changed): shown Non valutabile with its reason, the declared 100 left out
    assert o["excluded_reason"] == "fasi e indicatori neutralizzati" and not o["counted"]
    assert o["status"] == "Non valutabile" and o["declared"] == 100
    assert math.isnan(o["grade"]) and o["grade_source"] is None and math.isnan(o["grade_for_mean"])
    assert sector_pct(s, "S1") == pytest.approx(60)          # only O2 counts
    assert row(s.sectors, sector="S1")["n_assessed"] == 1


def test_grade_precedence():
    inp = make_input(
        assignments=[("S1", o, NAN) for o in ("A", "B", "C")],
        phases=[(o, 1, 100.0) for o in ("A", "B", "C")],
        phase_inputs=[("S1", o, 1, 50.0) for o in ("A", "B", "C")],
        objective_inputs=[("S1", "A", "Concluso", 70.0, 95.0),   # OIV wins
                          ("S1", "B", "Concluso", 70.0, NAN),    # dichiarato
                          ("S1", "C", "In corso", NAN, NAN)])    # calcolato
    s = compute(inp, R)
    got = {r.objective: (r.grade, r.grade_source) for r in s.objectives.itertuples()}
    assert got == {"A": (95.0, "OIV"), "B": (70.0, "dichiarato"), "C": (50.0, "calcolato")}
    # 70 vs computed 50: 20 > 10 points -> flagged; A too (the OIV grade does not hide it)
    assert list(s.objectives["deviation_flag"]) == [True, True, False]


def test_deviation_threshold_is_strict():
    inp = make_input(
        assignments=[("S1", "A", NAN), ("S1", "B", NAN)],
        phases=[("A", 1, 100.0), ("B", 1, 100.0)],
        phase_inputs=[("S1", "A", 1, 80.0), ("S1", "B", 1, 80.0)],
        objective_inputs=[("S1", "A", "Concluso", 90.0, NAN),      # exactly 10: no warning
                          ("S1", "B", "Concluso", 90.01, NAN)])    # 10.01: warning
    s = compute(inp, R)
    assert list(s.objectives["deviation_flag"]) == [False, True]
    s5 = compute(inp, Rules(deviation_threshold=5))
    assert list(s5.objectives["deviation_flag"]) == [True, True]


def test_exclusions():
    inp = make_input(
        assignments=[("S1", o, NAN) for o in ("R", "N", "E", "OK")],
        objective_inputs=[("S1", "R", "RINVIATO", 100.0, NAN),           # any case
                          ("S1", "N", "non valutabile", NAN, 100.0),     # even with an OIV grade
                          ("S1", "E", "In corso", NAN, NAN),             # nothing to grade
                          ("S1", "OK", "Concluso", 60.0, NAN)])
    s = compute(inp, R)
    ex = dict(zip(s.objectives["objective"], s.objectives["excluded_reason"]))
    assert ex == {"R": "Rinviato", "N": "Non valutabile", "E": "nessun dato", "OK": None}
    assert list(s.objectives["status"]) == ["Rinviato", "Non valutabile", "In corso", "Concluso"]
    assert list(s.objectives["counted"]) == [False, False, False, True]
    assert s.objectives["grade"].isna().tolist() == [True, True, True, False]
    sec = row(s.sectors, sector="S1")
    assert (sec["n_objectives"], sec["n_assessed"]) == (4, 1)
    assert sec["percentage"] == pytest.approx(60)


def test_soglia_minima():
    inp = make_input(
        assignments=[("S1", "A", NAN), ("S1", "B", NAN), ("S1", "C", NAN)],
        objective_inputs=[("S1", "A", "Concluso", 50.0, NAN),
                          ("S1", "B", "Concluso", 100.0, NAN),
                          ("S1", "C", "Concluso", 60.0, NAN)])
    s = compute(inp, Rules(minimum=60))
    o = s.objectives
    assert list(o["grade"]) == [50, 100, 60]                  # shown as it is
    assert list(o["grade_for_mean"]) == [0, 100, 60]          # 50 < 60 counts 0; 60 is not below
    assert sector_pct(s, "S1") == pytest.approx(160 / 3)
    assert sector_pct(compute(inp, R), "S1") == pytest.approx(70)   # soglia 0: (50+100+60)/3


# --------------------------------------------------------------- settori and ente

def _two_objectives(w1, w2, sectors=None):
    return make_input(
        assignments=[("S1", "A", w1), ("S1", "B", w2)],
        objective_inputs=[("S1", "A", "Concluso", 100.0, NAN), ("S1", "B", "Concluso", 50.0, NAN)],
        sectors=sectors)


@pytest.mark.parametrize("w1, w2, expected", [
    (60.0, 40.0, 80.0),      # (60*100 + 40*50) / 100
    (NAN, NAN, 75.0),        # equal weights
    (60.0, NAN, 75.0),       # mixed (the validator rejects it): equal weights
    (0.0, 0.0, 75.0),        # nothing to weigh by: equal weights
    (0.0, 10.0, 50.0),       # a zero-weight objective does not move the mean
])
def test_settore_weighted_mean(w1, w2, expected):
    assert sector_pct(compute(_two_objectives(w1, w2), R), "S1") == pytest.approx(expected)


def test_trasversale_graded_per_settore():
    inp = make_input(
        assignments=[("S1", "T", NAN), ("S2", "T", NAN)],
        phases=[("T", 1, 100.0)],
        phase_inputs=[("S1", "T", 1, 100.0), ("S2", "T", 1, 30.0)])
    s = compute(inp, R)
    assert sector_pct(s, "S1") == pytest.approx(100)
    assert sector_pct(s, "S2") == pytest.approx(30)


def _ente(weights):
    inp = make_input(
        assignments=[("S1", "A", NAN), ("S2", "B", NAN), ("S3", "C", NAN)],
        objective_inputs=[("S1", "A", "Concluso", 90.0, NAN), ("S2", "B", "Concluso", 60.0, NAN),
                          ("S3", "C", "Rinviato", NAN, NAN)],
        sectors=list(zip(["S1", "S2", "S3"], weights)))
    return compute(inp, R)


def test_ente_weighted_mean_skips_unassessed():
    s = _ente([2.0, 1.0, 5.0])
    # S3 has nothing assessed: skipped, and its Peso with it. (2*90 + 1*60) / 3 = 80
    assert s.ente["percentage"] == pytest.approx(80)
    assert s.ente["band"] == "B"
    assert (s.ente["n_sectors"], s.ente["n_assessed_sectors"]) == (3, 2)
    s3 = row(s.sectors, sector="S3")
    assert math.isnan(s3["percentage"]) and s3["band"] is None and s3["n_assessed"] == 0
    assert list(s.sectors["band"][:2]) == ["A", "C"]        # 90 reaches A, 60 reaches C


def test_ente_equal_weights():
    assert _ente([NAN, NAN, NAN]).ente["percentage"] == pytest.approx(75)   # (90 + 60) / 2


def test_ente_nothing_assessed():
    inp = make_input(assignments=[("S1", "A", NAN)],
                     objective_inputs=[("S1", "A", "Rinviato", NAN, NAN)])
    s = compute(inp, R)
    assert s.ente == {"percentage": None, "band": None, "n_sectors": 1, "n_assessed_sectors": 0}


@pytest.mark.parametrize("pct, band", [
    (100, "A"), (90, "A"), (89.99, "B"), (75, "B"), (74.999, "C"), (60, "C"), (59.99, "D"), (0, "D"),
])
def test_default_bands(pct, band):
    assert R.band(pct) == band


def test_bands_in_sectors_and_custom_bands():
    rules = Rules(bands=(("Ottimo", 95.0), ("Buono", 70.0), ("Insufficiente", 0.0)))
    s = compute(_two_objectives(60.0, 40.0), rules)            # 80
    assert row(s.sectors, sector="S1")["band"] == "Buono"
    assert row(compute(_two_objectives(60.0, 40.0), R).sectors, sector="S1")["band"] == "B"


# ------------------------------------------------------------ the worked example

def test_bellusco_mezzago_2020_affari_generali():
    """scoring.md: 14 objectives, one RINVIATO; 100 x5 (trasversali), 98, 90, 100 x6.

    1288 / 13 = 99.0769..., printed 99,08 %."""
    trasversali = [f"T{i}" for i in range(1, 6)]
    own = [f"AG{i}" for i in range(1, 10)]                       # AG9 is the rinviato one
    grades = dict.fromkeys(trasversali, 100.0)
    grades.update(zip(own[:8], [98.0, 90.0] + [100.0] * 6))
    objective_inputs = [("AG", o, "Concluso", g, NAN) for o, g in grades.items()]
    objective_inputs.append(("AG", "AG9", "RINVIATO", NAN, NAN))
    # The trasversali are graded in another settore too, with its own grades.
    objective_inputs += [("RAG", t, "Concluso", 50.0, NAN) for t in trasversali]
    inp = make_input(
        assignments=[("AG", o, NAN) for o in trasversali + own] + [("RAG", t, NAN) for t in trasversali],
        phases=[(o, 1, 100.0) for o in trasversali + own],
        phase_inputs=[("AG", o, 1, 100.0) for o in trasversali + own],
        objective_inputs=objective_inputs,
        sectors=[("AG", NAN), ("RAG", NAN)])
    s = compute(inp, R)
    ag = row(s.sectors, sector="AG")
    assert (ag["n_objectives"], ag["n_assessed"]) == (14, 13)
    assert ag["percentage"] == pytest.approx(1288 / 13)
    assert round_half_up(ag["percentage"]) == 99.08
    assert ag["band"] == "A"
    assert sector_pct(s, "RAG") == pytest.approx(50)
    assert row(s.objectives, sector="AG", objective="AG9")["excluded_reason"] == "Rinviato"
    ag_obj = s.objectives[s.objectives["sector"] == "AG"]
    # Declared 90 against a computed 100: exactly 10 points, no warning
    assert not ag_obj["deviation_flag"].any()
    # RAG reported no progress (computed 0) but declared 50: flagged
    assert s.objectives.loc[s.objectives["sector"] == "RAG", "deviation_flag"].all()
    assert set(s.objectives.loc[s.objectives["counted"], "grade_source"]) == {"dichiarato"}


# ------------------------------------------------------------------ interface

def test_output_columns():
    s = _objective_with_parts()
    assert list(s.indicators.columns[:7]) == ["sector", "objective", "indicator", "score",
                                              "counted", "status", "effective_weight"]
    assert list(s.phases.columns) == ["sector", "objective", "phase", "progress",
                                      "effective_weight", "contribution", "neutralised"]
    assert list(s.objectives.columns[:14]) == [
        "sector", "objective", "phases_pct", "indicators_pct", "computed", "declared",
        "oiv_grade", "grade", "grade_source", "counted", "excluded_reason", "grade_for_mean",
        "weight", "deviation_flag"]
    assert list(s.sectors.columns[:7]) == ["sector", "sector_name", "manager", "n_objectives",
                                           "n_assessed", "percentage", "band"]
    assert set(s.ente) == {"percentage", "band", "n_sectors", "n_assessed_sectors"}
    assert s.rules is R


def test_empty_plan_parts():
    inp = make_input(assignments=[("S1", "A", NAN)],
                     objective_inputs=[("S1", "A", "Concluso", 80.0, NAN)])
    s = compute(inp, R)
    assert s.phases.empty and s.indicators.empty
    assert sector_pct(s, "S1") == pytest.approx(80)
    empty = compute(make_input(assignments=[], sectors=[("S1", NAN)]), R)
    assert empty.objectives.empty and empty.ente["percentage"] is None
    assert row(empty.sectors, sector="S1")["n_objectives"] == 0


def test_duplicate_keys_are_refused():
    inp = make_input(assignments=[("S1", "A", NAN)],
                     phases=[("A", 1, 50.0), ("A", 1, 50.0)])
    with pytest.raises(ValueError, match="phases"):
        compute(inp, R)


def test_neutralised_words_are_read():
    # bool("no") would be True: a plan column holding words must be read as words.
    inp = make_input(assignments=[("S1", "A", NAN)],
                     phases=[("A", 1, 50.0, "no"), ("A", 2, 50.0, "sì")],
                     phase_inputs=[("S1", "A", 1, 100.0), ("S1", "A", 2, 0.0)])
    s = compute(inp, R)
    assert list(s.phases["neutralised"]) == [False, True]
    assert row(s.objectives, objective="A")["phases_pct"] == pytest.approx(100)


def _big_input(n_sectors=40, n_obj=20):
    rng = np.random.default_rng(1)
    sectors = [(f"S{i:02d}", float(rng.integers(1, 5))) for i in range(n_sectors)]
    assignments, phases, indicators, oi, pi, ii = [], [], [], [], [], []
    for s, _ in sectors:
        for j in range(n_obj):
            o = f"{s}_O{j:02d}"
            assignments.append((s, o, float(rng.integers(1, 10))))
            for k, w in enumerate([20.0, 20.0, 20.0, 20.0, 20.0], 1):
                phases.append((o, k, w))
                pi.append((s, o, k, float(rng.integers(0, 101))))
            indicators += [(o, 1, "EFFICACIA", "numero", ">=", 100.0, 1.0),
                           (o, 2, "EFFICIENZA", "numero", "<=", 10.0, 1.0),
                           (o, 3, "TEMPORALE", "data", None, D(2024, 12, 31), 1.0)]
            ii += [(s, o, 1, float(rng.integers(0, 150))), (s, o, 2, float(rng.integers(1, 20))),
                   (s, o, 3, D(2024, 12, int(rng.integers(1, 31))))]
            oi.append((s, o, "Concluso", NAN, NAN))
    return make_input(assignments, phases, indicators, oi, pi, ii, sectors=sectors)


def test_40_settori_are_scored_whole():
    """Every row of a large ente is scored (the seconds: bench/bench_guards.py)."""
    s = compute(_big_input(), R)
    assert len(s.objectives) == 800 and len(s.phases) == 4000 and len(s.indicators) == 2400


# ------------------------------------------------------------------ properties

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
dates = st.dates(min_value=D(2000, 1, 1), max_value=D(2100, 12, 31))
any_rules = st.builds(Rules, lower_formula=st.sampled_from(["rapporto", "scostamento"]),
                      late_zero=st.booleans(),
                      late_penalty=st.floats(min_value=0, max_value=100, allow_nan=False))


@st.composite
def indicator_case(draw):
    vt = draw(st.sampled_from(["numero", "percentuale", "sì/no", "data", "testo"]))
    direction = draw(st.sampled_from([None, ">=", "<=", "="]))
    if vt in ("numero", "percentuale"):
        values = finite
    elif vt == "sì/no":
        values = st.booleans()
    elif vt == "data":
        values = dates
    else:
        values = st.text(max_size=5)
    return vt, direction, draw(values), draw(st.one_of(st.none(), values))


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(indicator_case(), any_rules)
def test_property_indicator_score_in_range(case, rules):
    vt, direction, target, achieved = case
    s = score_indicator(vt, direction, target, achieved, rules)
    if vt == "testo" or achieved is None:
        assert s is None
    else:
        assert s is not None and 0 <= s <= 100


pct = st.floats(min_value=0, max_value=100, allow_nan=False)
opt_pct = st.one_of(st.just(NAN), pct)
weight = st.floats(min_value=0.5, max_value=100, allow_nan=False)


@st.composite
def plans(draw):
    """A random small plan with inputs; weights all given or all missing per level."""
    n_sectors = draw(st.integers(1, 3))
    sec_weighted = draw(st.booleans())
    sectors = [(f"S{i}", draw(weight) if sec_weighted else NAN) for i in range(n_sectors)]
    assignments, phases, indicators, oi, pi, ii = [], [], [], [], [], []
    for s, _ in sectors:
        obj_weighted = draw(st.booleans())
        for j in range(draw(st.integers(1, 4))):
            o = f"{s}O{j}"
            assignments.append((s, o, draw(weight) if obj_weighted else NAN))
            for k in range(1, draw(st.integers(0, 3)) + 1):
                phases.append((o, k, draw(weight), draw(st.booleans())))
                pi.append((s, o, k, draw(opt_pct)))
            ind_weighted = draw(st.booleans())
            for k in range(1, draw(st.integers(0, 3)) + 1):
                vt, direction, target, achieved = draw(indicator_case())
                kind = draw(st.sampled_from(["EFFICACIA", "EFFICACIA", "CONTESTO"]))
                w = draw(weight) if ind_weighted else NAN
                indicators.append((o, k, kind, vt, direction, target, w, draw(st.booleans())))
                ii.append((s, o, k, achieved, draw(opt_pct)))
            status = draw(st.sampled_from([None, "In corso", "Concluso", "Rinviato", "Non valutabile"]))
            oi.append((s, o, status, draw(opt_pct), draw(opt_pct)))
    return make_input(assignments, phases, indicators, oi, pi, ii, sectors=sectors)


SLOW = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _in_range(series):
    v = series.dropna()
    return bool(((v >= -1e-9) & (v <= 100 + 1e-9)).all())


@SLOW
@given(plans(), any_rules)
def test_property_every_score_in_range(inp, rules):
    s = compute(inp, rules)
    assert _in_range(s.indicators["score"])
    for col in ("phases_pct", "indicators_pct", "computed", "grade", "grade_for_mean"):
        assert _in_range(s.objectives[col]), col
    assert _in_range(s.sectors["percentage"])
    p = s.ente["percentage"]
    assert p is None or -1e-9 <= p <= 100 + 1e-9
    # Counted indicators' effective weights make 100 per objective.
    counted = s.indicators[s.indicators["counted"]]
    for total in counted.groupby(["sector", "objective"])["effective_weight"].sum():
        assert total == pytest.approx(100)


def _scaled(inp: ScoreInput, table: str, c: float) -> ScoreInput:
    df = getattr(inp, table).copy()
    df["weight"] = df["weight"] * c
    return ScoreInput(**{**inp.__dict__, table: df})


def _same_figures(a: Scores, b: Scores):
    assert list(a.sectors["percentage"].fillna(-1)) == pytest.approx(list(b.sectors["percentage"].fillna(-1)))
    assert list(a.objectives["computed"].fillna(-1)) == pytest.approx(list(b.objectives["computed"].fillna(-1)))
    if a.ente["percentage"] is None:
        assert b.ente["percentage"] is None
    else:
        assert a.ente["percentage"] == pytest.approx(b.ente["percentage"])


@SLOW
@given(plans(), st.sampled_from(["assignments", "sectors", "indicators", "phases"]),
       st.floats(min_value=0.01, max_value=1000, allow_nan=False))
def test_property_scale_invariance(inp, table, c):
    _same_figures(compute(inp, R), compute(_scaled(inp, table, c), R))


# ------------------------------------------------ exact figures (scoring.md, issue 10)

from decimal import Decimal  # noqa: E402
from fractions import Fraction  # noqa: E402

from pegxl.values import figure_float, format_percent  # noqa: E402


def _half_up_ref(v: Fraction) -> Decimal:
    """Reference display rounding of an exact value, independent of pegxl.values."""
    n = (abs(v) * 100 + Fraction(1, 2)).__floor__()
    return Decimal(n if v >= 0 else -n).scaleb(-2)


def test_half_cent_figures_show_rounded_up():
    # phases 50/50 at 33,33 and 100: 66,665 exactly; binary floats give 66.66499999...
    assert 0.5 * 33.33 + 0.5 * 100 < 66.665
    inp = make_input([("S1", "O1", NAN)], phases=[("O1", 1, 50.0), ("O1", 2, 50.0)],
                     phase_inputs=[("S1", "O1", 1, 33.33), ("S1", "O1", 2, 100.0)])
    s = compute(inp, R)
    o = row(s.objectives, objective="O1")
    assert format_percent(o["phases_pct"]) == "66,67%" and round_half_up(o["grade"]) == 66.67
    assert format_percent(sector_pct(s, "S1")) == "66,67%"
    assert format_percent(s.ente["percentage"]) == "66,67%"
    # 100 x 21,59 / 40 = 53,975 exactly
    assert format_percent(score_indicator("numero", ">=", 40.0, 21.59, R)) == "53,98%"


def test_band_at_full_precision_89_995_is_B():
    # two objectives 89,99 and 90 (declared): the settore's 89,995 shows 90,00 but is in B
    inp = make_input([("S1", "O1", NAN), ("S1", "O2", NAN)],
                     phases=[("O1", 1, 100.0), ("O2", 1, 100.0)],
                     objective_inputs=[("S1", "O1", None, 89.99, NAN), ("S1", "O2", None, 90.0, NAN)])
    s = compute(inp, R)
    sec = row(s.sectors, sector="S1")
    assert format_percent(sec["percentage"]) == "90,00%" and sec["band"] == "B"
    assert s.ente["band"] == "B"


def test_settore_below_every_band_is_nessuna_fascia():
    rules = Rules(bands=(("A", 90.0), ("B", 50.0)))
    inp = make_input([("S1", "O1", NAN)], phases=[("O1", 1, 100.0)],
                     phase_inputs=[("S1", "O1", 1, 40.0)])
    s = compute(inp, rules)
    assert row(s.sectors, sector="S1")["band"] == "nessuna fascia"
    assert s.ente["band"] == "nessuna fascia"


def test_figure_float_rounds_like_the_exact_value():
    just_below = Fraction(13333, 200) - Fraction(1, 10 ** 18)   # 66.66499...9, not a half-cent
    assert float(just_below) == float(Fraction(13333, 200))     # the same nearest float
    assert round_half_up(figure_float(just_below)) == 66.66
    assert round_half_up(figure_float(Fraction(13333, 200))) == 66.67
    assert round_half_up(figure_float(-just_below)) == -66.66


decimals = st.decimals(min_value=0, max_value=100, places=3, allow_nan=False, allow_infinity=False)
pesi = st.decimals(min_value=Decimal("0.5"), max_value=100, places=2, allow_nan=False,
                   allow_infinity=False)


@SLOW
@given(st.lists(st.tuples(pesi, decimals), min_size=1, max_size=5),
       st.lists(st.tuples(pesi, decimals, st.decimals(min_value=1, max_value=500, places=2,
                                                       allow_nan=False, allow_infinity=False)),
                min_size=0, max_size=4),
       st.sampled_from([(50, 50), (30, 70), (100, 0)]))
def test_property_shown_figures_equal_exact_reference(phases, indicators, pair):
    """Every shown figure is the exact one (from the decimals as typed) rounded half-up."""
    inp = make_input(
        [("S1", "O1", NAN)],
        phases=[("O1", k, float(w)) for k, (w, _) in enumerate(phases, 1)],
        indicators=[("O1", k, "EFFICACIA", "numero", ">=", float(a), float(w))
                    for k, (w, _, a) in enumerate(indicators, 1)],
        phase_inputs=[("S1", "O1", k, float(p)) for k, (_, p) in enumerate(phases, 1)],
        indicator_inputs=[("S1", "O1", k, float(r)) for k, (_, r, _) in enumerate(indicators, 1)])
    rules = Rules(phases_weight=pair[0], indicators_weight=pair[1])
    s = compute(inp, rules)
    F = Fraction
    fp = sum(F(w) * F(p) for w, p in phases) / sum(F(w) for w, _ in phases)
    expected = fp
    if indicators:
        scores = [min(F(100) * F(r) / F(a), F(100)) for _, r, a in indicators]
        fi = sum(F(w) * sc for (w, _, _), sc in zip(indicators, scores)) / sum(F(w) for w, _, _ in indicators)
        expected = (F(pair[0]) * fp + F(pair[1]) * fi) / 100
        for k, sc in enumerate(scores, 1):
            shown = round_half_up(row(s.indicators, indicator=k)["score"])
            assert Decimal(str(shown)) == _half_up_ref(sc)
    o = row(s.objectives, objective="O1")
    assert Decimal(str(round_half_up(o["phases_pct"]))) == _half_up_ref(fp)
    assert Decimal(str(round_half_up(o["grade"]))) == _half_up_ref(expected)
    assert format_percent(sector_pct(s, "S1")) == f"{_half_up_ref(expected):.2f}".replace(".", ",") + "%"
    assert s.ente["band"] == rules.band(expected)


# ------------------------------------------------------------------ combine

def _group_input(inp: ScoreInput, group) -> ScoreInput:
    """`inp` of the settori `group` alone, as score_input gives a group of them."""
    from dataclasses import replace as _replace
    keep = set(group)

    def rows(df):
        return df[df["sector"].isin(keep)].reset_index(drop=True)
    objectives = set(rows(inp.assignments)["objective"])
    return _replace(inp, sectors=rows(inp.sectors), assignments=rows(inp.assignments),
                    phases=inp.phases[inp.phases["objective"].isin(objectives)].reset_index(drop=True),
                    indicators=inp.indicators[inp.indicators["objective"].isin(objectives)].reset_index(drop=True),
                    objective_inputs=rows(inp.objective_inputs), phase_inputs=rows(inp.phase_inputs),
                    indicator_inputs=rows(inp.indicator_inputs))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_settori_scored_in_groups_and_combined_are_one_scoring_of_all(seed):
    """pegxl.combine: settori scored in random groups, joined, give every table (rows in the
    plan's order, though a trasversale objective of every settore interleaves the groups),
    every exact figure and the ente's figure of one compute() of them all; a settore that
    only the assignments name (not the Settori sheet) comes after the others, as there."""
    from pegxl.combine import combine, join_figures, join_inputs
    rng = np.random.default_rng(seed)
    codes = [f"S{i}" for i in range(7)]
    assignments, phases, indicators, oi, pi, ii = [], [], [], [], [], []
    for o in ["T1", *[f"O{c}" for c in codes + ["X9"]], "T2"]:
        phases += [(o, 1, 40.0), (o, 2, 60.0)]
        indicators.append((o, 1, "EFFICACIA", "numero", ">=", 100.0, 1.0))
    for c in [*codes, "X9"]:
        for o in ("T1", f"O{c}", "T2"):
            assignments.append((c, o, float(rng.integers(1, 5))))
            pi += [(c, o, 1, float(rng.integers(0, 101))), (c, o, 2, float(rng.integers(0, 101)))]
            ii.append((c, o, 1, float(rng.integers(0, 150))))
            oi.append((c, o, rng.choice(["Concluso", "In corso", "Rinviato"]), NAN, NAN))
    # the plan's assignments objective by objective: the trasversale ones interleave the settori
    assignments.sort(key=lambda a: ["T1", *[f"O{c}" for c in codes + ["X9"]], "T2"].index(a[1]))
    inp = make_input(assignments, phases, indicators, oi, pi, ii,
                     sectors=[(c, float(rng.integers(1, 4))) for c in codes])
    whole = compute(inp, R)
    everyone = [*codes, "X9"]
    shuffled = list(rng.permutation(everyone))
    groups = [shuffled[i:i + 3] for i in range(0, len(shuffled), 3)]
    parts = [compute(_group_input(inp, g), R) for g in groups]
    joined = combine(parts, R, zip(inp.assignments["sector"], inp.assignments["objective"]), everyone)
    for name in ("indicators", "phases", "objectives", "sectors"):
        pd.testing.assert_frame_equal(getattr(joined, name), getattr(whole, name))
    assert joined.ente == whole.ente
    assert joined.exact == whole.exact
    assert join_figures(p.exact for p in parts).grade == whole.exact.grade
    given = join_inputs([p.input for p in parts])
    assert sorted(map(tuple, given.phases.to_numpy().tolist())) == sorted(map(tuple, whole.input.phases.to_numpy().tolist()))
