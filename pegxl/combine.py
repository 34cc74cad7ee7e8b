"""Scores made a group of settori at a time, joined as one scoring of them all would give them.

A merge scores each batch of files as it is read (a batch's settori are scored apart from
the others: nothing of a settore depends on another but the ente's mean), so that no
moment holds the scoring of every settore at once; `combine` makes their Scores one. Pure,
like pegxl.scoring: tests/test_scoring.py checks it against compute() over the whole.
"""
from __future__ import annotations

from dataclasses import fields, replace
from typing import Any, Iterable

import numpy as np
import pandas as pd

from .rules import Rules
from .scoring import Figures, ScoreInput, Scores, _exacts, _mean_and_weights
from .values import figure_float


def combine(parts: list[Scores], rules: Rules, assignments: Iterable[tuple[Any, Any]] = (),
            sectors: Iterable[Any] = ()) -> Scores:
    """The Scores of disjoint groups of settori, each compute()d apart, as one compute()
    over them all gives them: the tables in the order of `assignments` ((sector,
    objective), the plan's) and of `sectors` (the plan's codes; what neither names comes
    after, as the parts give it), and the ente's figure, with each settore's weight in it,
    over every settore. The exact figures are joined (join_figures); the inputs are not."""
    if not parts:
        raise ValueError("nessun gruppo di punteggi da unire")
    at = {k: i for i, k in enumerate(assignments)}
    tables = [_joined([p.indicators for p in parts], at), _joined([p.phases for p in parts], at),
              _joined([p.objectives for p in parts], at)]
    where = {c: i for i, c in enumerate(sectors)}
    sec = _joined([p.sectors for p in parts], where, ("sector",))
    fig = join_figures([p.exact for p in parts])
    sec_exact = [fig.sectors.get(c) for c in sec["sector"]]
    pct, sec_weights = _mean_and_weights(sec_exact, _exacts(sec["weight"]))
    fig.sector_weights = {c: w for c, w in zip(sec["sector"], sec_weights) if w is not None}
    fig.ente = pct
    ente = {"percentage": None if pct is None else figure_float(pct), "band": rules.band(pct),
            "n_sectors": int(len(sec)), "n_assessed_sectors": int(sec["percentage"].notna().sum())}
    return Scores(indicators=tables[0], phases=tables[1], objectives=tables[2], sectors=sec, ente=ente,
                  rules=rules, exact=fig)


def join_figures(parts: Iterable[Figures]) -> Figures:
    """The exact figures of disjoint groups of settori in one Figures (each dict in the
    parts' order); the ente's figure and the settori's weights in it are combine()'s."""
    out = Figures()
    for f in parts:
        for name in _FIGURE_DICTS:
            getattr(out, name).update(getattr(f, name))
    return out


# the ente's figure and the settori's weights in it are over every settore: combine() makes them
_FIGURE_DICTS = tuple(f.name for f in fields(Figures) if f.name not in ("sector_weights", "ente"))


def _joined(frames: list[pd.DataFrame], at: dict[Any, int], key: tuple[str, ...] = ("sector", "objective"),
            ) -> pd.DataFrame:
    """`frames` one after the other, then in the order of `at` (a stable sort: the rows of
    one key keep theirs; a key `at` lacks goes last)."""
    df = _concat(frames)
    keys = zip(*(df[c] for c in key)) if len(key) > 1 else df[key[0]]
    pos = np.fromiter((at.get(k, len(at)) for k in keys), dtype=np.int64, count=len(df))
    return df.take(np.argsort(pos, kind="stable")).reset_index(drop=True)


def join_inputs(parts: list[ScoreInput]) -> ScoreInput:
    """The inputs of disjoint groups of settori in one, a group's rows after the other's;
    the plan's phases and indicators of an objective once (a trasversale objective is in
    the inputs of every group it is assigned in)."""
    def cat(name: str, key: list[str] | None = None) -> pd.DataFrame:
        df = _concat([getattr(p, name) for p in parts])
        return df.drop_duplicates(key, ignore_index=True) if key else df
    return ScoreInput(sectors=cat("sectors"), assignments=cat("assignments"),
                      phases=cat("phases", ["objective", "phase"]),
                      indicators=cat("indicators", ["objective", "indicator"]),
                      objective_inputs=cat("objective_inputs"), phase_inputs=cat("phase_inputs"),
                      indicator_inputs=cat("indicator_inputs"),
                      neutralised_phases=frozenset().union(*(p.neutralised_phases for p in parts)),
                      neutralised_indicators=frozenset().union(*(p.neutralised_indicators for p in parts)))


def only(scores: Scores, sectors: Iterable[Any]) -> Scores:
    """`scores` of `sectors` alone: their rows, figures and inputs (the plan's tables
    whole). The ente's figure is left as it was: combine() makes it."""
    keep = set(sectors)

    def rows(df: pd.DataFrame) -> pd.DataFrame:
        return df[df["sector"].isin(keep).to_numpy()].reset_index(drop=True) if "sector" in df.columns else df

    fig = Figures(ente=scores.exact.ente)
    for f in fields(Figures):
        if f.name != "ente":
            by_code = f.name in ("sectors", "sector_weights")
            getattr(fig, f.name).update((k, v) for k, v in getattr(scores.exact, f.name).items()
                                        if (k if by_code else k[0]) in keep)
    given = scores.input
    if given is not None:
        given = replace(given, **{f.name: rows(getattr(given, f.name)) for f in fields(ScoreInput)
                                  if isinstance(getattr(given, f.name), pd.DataFrame)},
                        neutralised_phases=frozenset(k for k in given.neutralised_phases if k[0] in keep),
                        neutralised_indicators=frozenset(k for k in given.neutralised_indicators if k[0] in keep))
    return replace(scores, indicators=rows(scores.indicators), phases=rows(scores.phases),
                   objectives=rows(scores.objectives), sectors=rows(scores.sectors), exact=fig, input=given)


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    full = [f for f in frames if len(f)] or frames[:1]
    return full[0] if len(full) == 1 else pd.concat(full, ignore_index=True)
