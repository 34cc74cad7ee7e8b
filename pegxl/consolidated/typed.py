"""What the settori typed, looked up a settore at a time while a table sheet of the
consolidated workbook is written.

The sheets go settore by settore; a lookup of every settore's typed values at once (the
Fasi sheet of 1,000 settori: 80,000 tuples, with the typed table they are made from) was
the highest moment of a merge's memory, and grew with the number of files. Here the typed
table is read a batch of files at a time (tables.typed_chunks), each settore's rows are
kept on disk (validators.spill.KeyedSpill) and only the settore being written is in memory.
"""
from __future__ import annotations

from typing import Any, Iterable, Iterator

import pandas as pd

from ..validators.spill import KeyedSpill


def keyed_rows(df: pd.DataFrame, keys: tuple[str, ...], fields: tuple[str, ...], *,
               number: bool = True) -> Iterator[tuple[tuple, tuple]]:
    """(key, values) of each row of `df`: `fields` by `keys`, columns `df` lacks as None.
    `number`: the last key is a number, given as an int, and rows without it are left out."""
    cols = [df[c].tolist() if c in df.columns else [None] * len(df) for c in (*keys, *fields)]
    k = len(keys)
    for values in zip(*cols):
        if not number:
            yield values[:k], values[k:]
        elif values[k - 1] is not None and values[k - 1] == values[k - 1]:
            yield values[:k - 1] + (int(values[k - 1]),), values[k:]


class BySector:
    """Values by key (the key's first item the settore), for one settore at a time:
    `get(sector, key, default)`, or `of(sector)` all of them. `pairs` are (key, values),
    as keyed_rows gives them (see by_sector). As a dict of the pairs gives, the last
    values of a key win, or the first with `first`. Closed (its file deleted) by `close()`
    or when it goes."""

    BUFFER = 8192   # pairs held before they go to disk, by settore

    def __init__(self, pairs: Iterable[tuple[tuple, tuple]], *, first: bool = False):
        self._spill = KeyedSpill()
        self.close = self._spill.close
        self._first = first
        try:
            by: dict[Any, list[tuple[tuple, tuple]]] = {}
            held = 0
            for key, values in pairs:
                by.setdefault(key[0], []).append((key, values))
                held += 1
                if held >= self.BUFFER:
                    self._flush(by)
                    held = 0
            self._flush(by)
        except BaseException:
            self.close()
            raise
        self._sector: Any = _NOTHING
        self._rows: dict[tuple, tuple] = {}

    def _flush(self, by: dict[Any, list[tuple[tuple, tuple]]]) -> None:
        for sector, rows in by.items():
            self._spill.add(sector, rows)
        by.clear()

    def sectors(self) -> list[Any]:
        """The settori, in the order their first values came."""
        return self._spill.keys()

    def of(self, sector: Any) -> dict[tuple, tuple]:
        """Every key of `sector` with its values, in the order they came."""
        if sector != self._sector:
            rows: dict[tuple, tuple] = {}
            for part in self._spill.get(sector):
                for k, values in part:   # type: ignore[attr-defined]   # the lists added above
                    if self._first:
                        rows.setdefault(k, values)
                    else:
                        rows[k] = values
            self._sector, self._rows = sector, rows
        return self._rows

    def get(self, sector: Any, key: tuple, default: Any = None) -> Any:
        return self.of(sector).get(key, default)

    def __enter__(self) -> BySector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def by_sector(chunks: Iterable[pd.DataFrame], keys: tuple[str, ...], fields: tuple[str, ...], *,
              number: bool = True, first: bool = False) -> BySector:
    """`fields` of a typed table's chunks by `keys` (keyed_rows), a settore at a time."""
    return BySector((pair for df in chunks for pair in keyed_rows(df, keys, fields, number=number)), first=first)


_NOTHING = object()
