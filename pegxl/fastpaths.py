"""Fast paths of pegxl.scoring (issue 12): exact sums and products of Fractions on their
integers, memos keyed by object identity for one compute, the float of each figure, and
rows grouped by key. Same results as the plain Fraction arithmetic, to the last bit
(tests/test_scoring_fast.py): only fewer normalisations, hashes and temporary objects.

A Fraction operation normalises its result with a gcd and dispatches through several
Python calls, and a Fraction's hash costs a modular inverse; scoring makes hundreds of
thousands of them on a large plan. The memos key by id(): each keeps its operands alive
in its values, so an id cannot be reused by another object while the memo lives.
"""
from __future__ import annotations

import math
from fractions import Fraction
from typing import Any, Callable, Generic, TypeVar

import numpy as np
import pandas as pd

from .values import figure_float

_ZERO = Fraction(0)
T = TypeVar("T")


def fsum(xs: list[Fraction]) -> Fraction:
    """sum(xs) over one common denominator: one normalisation instead of one per term."""
    if len(xs) < 2:
        return xs[0] if xs else _ZERO
    dens = [x.denominator for x in xs]
    d = math.lcm(*dens)
    return Fraction(sum(x.numerator * (d // k) for x, k in zip(xs, dens)), d)


def dot(pairs: list[tuple[Fraction, Fraction]]) -> Fraction:
    """sum(a * b) over one common denominator, without a Fraction per product."""
    if len(pairs) == 1:
        a, b = pairs[0]
        return Fraction(a.numerator * b.numerator, a.denominator * b.denominator)
    if not pairs:
        return _ZERO
    nums = [a.numerator * b.numerator for a, b in pairs]
    dens = [a.denominator * b.denominator for a, b in pairs]
    d = math.lcm(*dens)
    return Fraction(sum(n * (d // k) for n, k in zip(nums, dens)), d)


class Products:
    """a * b memoised by the operands' identities: scoring's shares come from a cache and
    its values from exact's, so the same pairs come back often."""

    def __init__(self) -> None:
        self._memo: dict[tuple[int, int], tuple[Fraction, Fraction, Fraction]] = {}

    def __call__(self, a: Fraction, b: Fraction) -> Fraction:
        key = (id(a), id(b))
        hit = self._memo.get(key)
        if hit is None:     # the operands kept in the value: their ids stay theirs
            hit = self._memo[key] = (a, b, a * b)
        return hit[2]


class IdMemo(Generic[T]):
    """f(items, *flags) memoised by the identities of `items` (Fractions from a cache,
    whose hashes would cost more than the call) and the values of the flag lists."""

    def __init__(self, f: Callable[..., T]) -> None:
        self._f = f
        self._memo: dict[tuple[Any, ...], tuple[list[Any], T]] = {}

    def __call__(self, items: list[Any], *flags: list[bool]) -> T:
        key = (tuple(map(id, items)), *map(tuple, flags))
        hit = self._memo.get(key)
        if hit is None:     # the items kept in the value: their ids stay theirs
            hit = self._memo[key] = (items, self._f(items, *flags))
        return hit[1]


def floats(values: list[Fraction | None], index: pd.Index) -> pd.Series:
    """values.figure_float of each value, as a float column."""
    # the same objects come back often (0, 100, memoised products and weights): converted
    # once each; `values` keeps them alive, so their ids are not reused meanwhile
    seen: dict[int, float] = {}
    out_values: list[float] = []
    for v in values:
        f = seen.get(id(v))
        if f is None:
            f = seen[id(v)] = figure_float(v)
        out_values.append(f)
    out: pd.Series = pd.Series(out_values, index=index, dtype=float)
    return out


def groups(df: pd.DataFrame, keys: list[str]) -> dict[tuple[Any, ...], list[int]]:
    """Row positions of each group, in order of first appearance."""
    if df.empty:
        return {}
    cols = [df[k].to_numpy(dtype=object) for k in keys]
    if any(pd.isna(c).any() for c in cols):
        # NaN != NaN as a dict key; pandas puts all of a column's missing values in one group
        return _groups_na(df, keys, cols)
    out: dict[tuple[Any, ...], list[int]] = {}
    for i, key in enumerate(zip(*cols)):
        rows = out.get(key)
        if rows is None:
            out[key] = [i]
        else:
            rows.append(i)
    return out


def _groups_na(df: pd.DataFrame, keys: list[str], cols: list[Any]) -> dict[tuple[Any, ...], list[int]]:
    codes = df.groupby(keys, sort=False, dropna=False).ngroup().to_numpy()
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    out: dict[tuple[Any, ...], list[int]] = {}
    for rows in np.split(order, bounds):
        first = rows[0]
        out[tuple(c[first] for c in cols)] = rows.tolist()
    return out

