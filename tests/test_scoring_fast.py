"""The fast paths of scoring.compute (issue 12) against straightforward references: sums
over a common denominator, memoised products/shares/indicators, grouping by dict, and
figure_float on the ints; and compute's exact figures against a naive recomputation with
plain Fraction arithmetic on random plans (the same figures to the last bit)."""
from __future__ import annotations

import gc
import math
from fractions import Fraction

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from test_scoring import SLOW, any_rules, make_input, plans

from pegxl.rules import Rules
from pegxl.fastpaths import IdMemo, Products, dot, fsum, groups
from pegxl.scoring import _scaled_weights, _weights_and_shares, compute, indicator_exact
from pegxl.values import _half_up, exact, figure_float

fractions = st.fractions(min_value=-10**6, max_value=10**6, max_denominator=10**6)
positive = st.fractions(min_value=Fraction(1, 1000), max_value=1000, max_denominator=1000)


@given(st.lists(fractions, max_size=8))
def test_fsum_is_sum(xs):
    assert fsum(xs) == sum(xs, Fraction(0))


@given(st.lists(st.tuples(fractions, fractions), max_size=6))
def test_dot_is_sum_of_products(pairs):
    got = dot(pairs)
    assert type(got) is Fraction and got == sum((a * b for a, b in pairs), Fraction(0))


@given(st.lists(st.one_of(st.none(), positive), min_size=1, max_size=6), st.data())
def test_scaled_weights_are_the_plain_scaling(weights, data):
    n = len(weights)
    eligible = data.draw(st.lists(st.booleans(), min_size=n, max_size=n))
    active = data.draw(st.lists(st.booleans(), min_size=n, max_size=n))
    ew, share = _scaled_weights(tuple(weights), tuple(eligible), tuple(active))
    if any(w is None for w, e in zip(weights, eligible) if e):
        use = [Fraction(1) if a else None for a in active]
    else:
        use = [(w or Fraction(1)) if a else None for w, a in zip(weights, active)]
    total = sum(w for w in use if w is not None)
    if not total > 0:
        use = [Fraction(1) if a else None for a in active]
        total = sum(active)
    for w, e, k in zip(use, ew, share):
        if w is None or not total:
            assert e is None and k is None
        else:
            assert e == w * 100 / total and k == w / total


def test_memos_give_the_direct_results():
    mul, shares = Products(), IdMemo(_weights_and_shares)
    a, b = Fraction(1, 3), Fraction(7, 2)
    assert mul(a, b) == a * b and mul(a, b) is mul(a, b)
    ws = [Fraction(20), Fraction(80), None]
    assert shares(ws, [True, True, True], [True, False, True]) == _scaled_weights(
        tuple(ws), (True, True, True), (True, False, True))
    # same weights, another pattern: not the memoised one
    assert shares(ws, [True, True, False], [True, True, False])[0] == (Fraction(20), Fraction(80), None)


@given(st.lists(st.tuples(st.sampled_from(["S1", "S2", None]),
                          st.sampled_from(["O1", "O2", np.nan])), max_size=12))
def test_groups_are_pandas_groups(rows):
    df = pd.DataFrame(rows, columns=["sector", "objective"], dtype=object)
    got = groups(df, ["sector", "objective"])
    want = list(df.groupby(["sector", "objective"], sort=False, dropna=False).indices.values())
    assert sorted(map(list, want)) == sorted(got.values())
    # in order of first appearance
    assert [rows[0] for rows in got.values()] == sorted(rows[0] for rows in got.values())


def _figure_reference(v: Fraction) -> float:
    """figure_float as it was: float(v) through numbers.Rational, then the half-cent check."""
    f = float(v)
    want = _half_up(v, 2)
    for _ in range(4):
        got = _half_up(Fraction(repr(f)), 2)
        if got == want:
            return f
        f = math.nextafter(f, -math.inf if got > want else math.inf)
    raise AssertionError(v)


@given(st.one_of(fractions, st.fractions(min_value=-10**12, max_value=10**12),
                 st.integers(-10**6, 10**6).map(lambda n: Fraction(2 * n + 1, 200))))
def test_figure_float_as_the_reference(v):
    got = figure_float(v)
    assert got == _figure_reference(v) and figure_float(v) == got   # cached: the same


# ------------------------------------------------ compute against a naive recomputation

def _naive_scaled(weights, active):
    """Weights of the active items scaled to 100, as scoring.md says (None elsewhere)."""
    use = [w if a else None for w, a in zip(weights, active)]
    if any(w is None for w, a in zip(weights, active) if a) or not sum(w for w in use if w) > 0:
        use = [Fraction(1) if a else None for a in active]
    total = sum(w for w in use if w is not None)
    return [None if w is None or not total else w * 100 / total for w in use]


def _check(inp, rules, s):
    fig = s.exact
    cap = exact(rules.cap)
    # indicators: one by one, as indicator_exact scores them
    ind = inp.indicators.merge(inp.indicator_inputs, on=["objective", "indicator"])
    for r in ind.itertuples():
        key = (r.sector, r.objective, r.indicator)
        if r.kind == "CONTESTO":
            assert fig.indicators[key] is None
            continue
        want = indicator_exact(r.value_type, r.direction, r.target, r.achieved, rules)
        if want is None and exact(r.declared_score) is not None:
            want = min(max(exact(r.declared_score), Fraction(0)), cap)
        assert fig.indicators[key] == want, key
    for (sector, objective), part in fig.indicators_part.items():
        keys = [k for k in fig.indicator_weights if k[:2] == (sector, objective)]
        want = sum((fig.indicator_weights[k] / 100 * fig.indicators[k] for k in keys), Fraction(0))
        assert part == (want if keys else None)
    # phases: weights scaled among the active ones, contribution = weight x progress / 100
    ph = inp.phases.merge(inp.phase_inputs, on=["objective", "phase"])
    for (sector, objective), rows in ph.groupby(["sector", "objective"], sort=False):
        active = [not n for n in rows["neutralised"]]
        eff = _naive_scaled([exact(w) for w in rows["weight"]], active)
        contribs = []
        for p, w, prog in zip(rows["phase"], eff, rows["progress"]):
            key = (sector, objective, p)
            assert fig.phase_weights.get(key) == w
            if w is not None:
                c = w * (exact(prog) or 0) / 100
                assert fig.phase_contributions[key] == c
                contribs.append(c)
        assert fig.phases_part[(sector, objective)] == (sum(contribs, Fraction(0)) if contribs else None)
    # objectives: the computed grade, then the settori and the ente
    pw, iw = exact(rules.phases_weight), exact(rules.indicators_weight)
    for key, comp in fig.computed.items():
        fp, fi = fig.phases_part.get(key), fig.indicators_part.get(key)
        want = fi if fp is None else fp if fi is None else (pw * fp + iw * fi) / (pw + iw)
        assert comp == want, key
    for sector, pct in fig.sectors.items():
        keys = [k for k in fig.objective_weights if k[0] == sector]
        want = sum((fig.objective_weights[k] / 100 * fig.for_mean[k] for k in keys
                    if fig.for_mean[k] is not None), Fraction(0))
        assert pct == (want if keys else None), sector
    # every float column is the figure_float of its exact figure
    for r in s.indicators.itertuples():
        v = fig.indicators[(r.sector, r.objective, r.indicator)]
        assert (math.isnan(r.score) and v is None) or r.score == _figure_reference(v)
    for r in s.objectives.itertuples():
        for col, d in (("computed", fig.computed), ("grade", fig.grade), ("grade_for_mean", fig.for_mean)):
            v, f = d[(r.sector, r.objective)], getattr(r, col)
            assert (v is None and math.isnan(f)) or f == _figure_reference(v), col
    for r in s.sectors.itertuples():
        v = fig.sectors.get(r.sector)
        assert (v is None and math.isnan(r.percentage)) or r.percentage == _figure_reference(v)


@SLOW
@given(plans(), any_rules)
def test_property_compute_is_the_naive_reference(inp, rules):
    _check(inp, rules, compute(inp, rules))


@settings(max_examples=20, deadline=None)
@given(plans())
def test_property_compute_twice_is_the_same(inp):
    """The memos live for one call: a second call (warm caches) gives the same figures."""
    a, b = compute(inp, Rules()), compute(inp, Rules())
    assert a.exact == b.exact
    pd.testing.assert_frame_equal(a.objectives, b.objectives)
    pd.testing.assert_frame_equal(a.indicators, b.indicators)


def test_compute_leaves_the_garbage_collector_as_it_was():
    inp = make_input([("S1", "O1", 1.0)], phases=[("O1", 1, 100.0)],
                     phase_inputs=[("S1", "O1", 1, 50.0)])
    assert gc.isenabled()
    assert compute(inp, Rules()).exact.phases_part[("S1", "O1")] == Fraction(1, 2) * 100
    assert gc.isenabled()
    gc.disable()
    try:
        compute(inp, Rules())
        assert not gc.isenabled()      # not switched on behind the caller's back
    finally:
        gc.enable()
