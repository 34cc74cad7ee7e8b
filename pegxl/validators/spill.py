"""A validation's large tables kept on disk, a batch of files at a time, for a merge.

A merge of 1,000 returns holds 150,000 rows of phases and indicators; as Python objects
they were a third of its memory, held from the reading to the last copy. Spilled, each
batch of files is checked, written here (pickled, in an unnamed temporary file that the
system deletes when it is closed or the process ends) and let go; the merge's steps read
the tables back a batch at a time (`chunks`), so what they hold at once is one batch, not
every file. `whole` is there for a caller that wants the table at once (and pays for it).
"""
from __future__ import annotations

import os
import pickle
import tempfile
import threading
import weakref
from typing import Any, Iterable, Iterator, Mapping

import pandas as pd

from ..errors import EXIT_PROBLEMS, ErrorCode, PegxlError, finding
from ..combine import join_figures, join_inputs, only
from ..scoring import Figures, ScoreInput, Scores


class _Blobs:
    """Bytes appended to an unnamed temporary file (the system deletes it when it is closed
    or the process ends) and read back by (offset, length)."""

    def __init__(self) -> None:
        try:
            self._file = tempfile.TemporaryFile(prefix="pegxl-")
        except OSError as exc:
            raise _unwritable(exc) from None
        # closed when the spill goes (a merge's Validation keeps it for its callers), or by
        # close(): the finalizer runs once
        self.close = weakref.finalize(self, self._file.close)
        self._lock = threading.Lock()   # a read is a seek and a read: the merge reads from threads
        self._end = 0

    def _append(self, blobs: Iterable[bytes]) -> list[tuple[int, int]]:
        """Each of `blobs` appended: where it is."""
        where = []
        with self._lock, _located():
            self._file.seek(self._end)
            for blob in blobs:
                self._file.write(blob)
                where.append((self._end, len(blob)))
                self._end += len(blob)
            # nothing left in this process's buffer: a child forked now (workbook.apart)
            # shares the file, and a buffered write would land where the child's reads left it
            self._file.flush()
        return where

    def _blob(self, offset: int, length: int) -> bytes:
        if _PREAD is not None:   # no shared position to move: a forked child reads as well
            with _located():
                return _PREAD(self._file.fileno(), length, offset)
        with self._lock, _located():
            self._file.seek(offset)
            blob: bytes = self._file.read(length)
        return blob


_PREAD = getattr(os, "pread", None)   # not on Windows


class TableSpill(_Blobs):
    """Tables appended a batch at a time, read back a batch at a time, in the order added;
    each column apart, so that a reader pays only for the columns it asks for."""

    def __init__(self) -> None:
        super().__init__()
        # per batch: the files it holds, and per table name, per column, its (offset, length)
        self._batches: list[tuple[frozenset[str], dict[str, dict[str, tuple[int, int]]]]] = []
        self._empty: dict[str, pd.DataFrame] = {}   # per table name: its columns and dtypes, no row

    def add(self, tables: dict[str, pd.DataFrame], files: Iterable[str]) -> None:
        """One batch: `tables` (name -> frame with a "file" column) of the files `files`."""
        at: dict[str, dict[str, tuple[int, int]]] = {}
        for name, df in tables.items():
            self._empty.setdefault(name, df.iloc[:0].copy())
            if df.empty:
                continue
            columns = list(df.columns)
            # a column pickled only as it is written: one column's bytes held at a time
            blobs = (pickle.dumps(df[c].to_numpy(), protocol=pickle.HIGHEST_PROTOCOL) for c in columns)
            at[name] = dict(zip(columns, self._append(blobs)))
        self._batches.append((frozenset(files), at))

    def batches(self, files: Iterable[str] | None = None,
                columns: Mapping[str, Iterable[str]] | None = None,
                ) -> Iterator[tuple[frozenset[str], dict[str, pd.DataFrame]]]:
        """Per batch, in order: its files and its tables (name -> frame; a table without a
        row left out), limited to `files` when given (batches without any left out) and to
        the `columns` of each table named there (the others whole)."""
        keep = set(files) if files is not None else None
        columns = {name: list(cols) for name, cols in columns.items()} if columns is not None else None
        for held, at in self._batches:
            if keep is None or keep & held:
                tables = {}
                for name in at:
                    df = self._read(at[name], held, keep, (columns or {}).get(name))
                    if len(df):
                        tables[name] = df
                yield (held if keep is None else held & keep), tables

    def chunks(self, name: str, files: Iterable[str] | None = None,
               columns: Iterable[str] | None = None) -> Iterator[pd.DataFrame]:
        """Table `name` a batch at a time (no empty one), limited to the rows of `files`
        and to `columns` when given."""
        keep = set(files) if files is not None else None
        columns = list(columns) if columns is not None else None
        for held, at in self._batches:
            if name in at and (keep is None or keep & held):
                df = self._read(at[name], held, keep, columns)
                if len(df):
                    yield df

    def _read(self, at: dict[str, tuple[int, int]], held: frozenset[str], keep: set[str] | None,
              columns: Iterable[str] | None) -> pd.DataFrame:
        names = list(at) if columns is None else [c for c in dict.fromkeys(["file", *columns]) if c in at]
        data = {}
        for column in names:
            offset, length = at[column]
            values = pickle.loads(self._blob(offset, length))
            # a Series of the array's own dtype: a frame would infer pandas' str dtype from texts
            data[column] = pd.Series(values, dtype=values.dtype, copy=False)
        df = pd.DataFrame(data, columns=names)
        if keep is not None and not held <= keep:
            df = df[df["file"].isin(keep)].reset_index(drop=True)
        return df

    def whole(self, name: str) -> pd.DataFrame:
        """Table `name` at once (every batch's rows, in order)."""
        parts = list(self.chunks(name))
        if not parts:
            return self._empty.get(name, pd.DataFrame()).copy()
        return parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)

    def has(self, name: str) -> bool:
        """Whether table `name` was added (with rows or without)."""
        return name in self._empty

    def files(self) -> list[frozenset[str]]:
        """The files of each batch, in order."""
        return [held for held, _ in self._batches]

    @property
    def size(self) -> int:
        """Bytes written."""
        return self._end


class KeyedSpill(_Blobs):
    """Values kept on disk by key, pickled in an unnamed temporary file: `get(key)` gives
    back every value `add`ed under it, in the order added. What stays in memory is where
    each one is."""

    def __init__(self) -> None:
        super().__init__()
        self._at: dict[object, list[tuple[int, int]]] = {}

    def add(self, key: object, value: object) -> None:
        self.add_pickled(key, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))

    def add_pickled(self, key: object, blob: bytes) -> None:
        """`add` of a value already pickled (`blob`), by another process say."""
        (where,) = self._append([blob])
        self._at.setdefault(key, []).append(where)

    def get(self, key: object) -> list[object]:
        return [pickle.loads(self._blob(offset, length)) for offset, length in self._at.get(key, ())]

    def __contains__(self, key: object) -> bool:
        return key in self._at

    def keys(self) -> list[object]:
        """The keys, in the order they were first added."""
        return list(self._at)


class SpilledScores(Scores):
    """Scores made a group of settori at a time (pegxl.combine) whose exact figures and
    inputs (`exact`, `input`: most of their memory, read only to explain a figure) wait on
    disk, a group's under its index in `kept`: `piece` loads those of a few settori,
    `exact` and `input` every group's, joined, at the first access. Pickled (and copied),
    they are plain Scores, with both; so does whatever reads `exact` or `input`
    (dataclasses.replace and asdict, ==), and an == with a plain Scores is False."""

    @classmethod
    def of(cls, scores: Scores, kept: KeyedSpill, groups: list[list[Any]]) -> SpilledScores:
        """`scores`, combine()d, whose exact figures hold only the settori's and the ente's."""
        out = cls(indicators=scores.indicators, phases=scores.phases, objectives=scores.objectives,
                  sectors=scores.sectors, ente=scores.ente, rules=scores.rules, exact=scores.exact)
        out.__dict__.update(_kept=kept, _groups=groups, _waiting=True,
                            _group_of={s: i for i, g in enumerate(groups) for s in g})
        return out

    def _load(self, groups: Iterable[int]) -> tuple[Figures, ScoreInput]:
        """The exact figures (the ente's and the settori's weights in it the whole's) and
        the inputs of `groups`, joined."""
        figures, inputs = [], []
        for i in groups:
            (got,) = self.__dict__["_kept"].get(i)
            figures.append(got[0])
            inputs.append(got[1])
        fig, whole = join_figures(figures), self.__dict__["_exact"]
        fig.sector_weights, fig.ente = whole.sector_weights, whole.ente
        return fig, join_inputs(inputs)

    def piece(self, sectors: Iterable[Any]) -> Scores:
        """The plain Scores of `sectors` alone: their rows, exact figures and inputs (the
        ente's figures the whole's), loading only their groups."""
        keep = list(dict.fromkeys(sectors))
        group_of = self.__dict__["_group_of"]
        fig, given = (self._load(sorted({group_of[s] for s in keep if s in group_of}))
                      if self.__dict__.get("_waiting") else (self.exact, self.input))
        return only(Scores(self.indicators, self.phases, self.objectives, self.sectors, self.ente, self.rules,
                           fig, given), keep)

    def summary(self) -> Scores:
        """Plain Scores with every table, the exact figures of the settori and the ente
        only and no input: enough for the ente's steps (explain.Explainer.ente)."""
        fig = self.__dict__["_exact"]
        return Scores(self.indicators, self.phases, self.objectives, self.sectors, self.ente, self.rules,
                      Figures(sectors=fig.sectors, sector_weights=fig.sector_weights, ente=fig.ente),
                      ScoreInput(*(pd.DataFrame(),) * 7))

    def _get(self, name: str) -> Any:
        if self.__dict__.get("_waiting"):
            self.__dict__["_exact"], self.__dict__["_input"] = self._load(range(len(self.__dict__["_groups"])))
            self.__dict__["_waiting"] = False
        return self.__dict__["_" + name]

    def _set(self, name: str, value: Any) -> None:
        self.__dict__["_" + name] = value

    exact = property(lambda self: self._get("exact"), lambda self, v: self._set("exact", v))
    input = property(lambda self: self._get("input"), lambda self, v: self._set("input", v))

    @property
    def explained(self) -> bool:
        return bool(self.__dict__.get("_waiting")) or self.__dict__.get("_input") is not None

    def __repr__(self) -> str:   # the dataclass's would load every group
        return (f"SpilledScores({len(self.sectors)} settori, {len(self.objectives)} obiettivi, "
                f"{len(self.__dict__.get('_groups', ()))} gruppi su disco)")

    def __reduce__(self) -> tuple[Any, ...]:
        return (Scores, (self.indicators, self.phases, self.objectives, self.sectors, self.ente, self.rules,
                         self.exact, self.input))


class _located:
    """An OSError of the spill's file (disk full, say) as M008, which names the folder."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type | None, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, OSError):
            raise _unwritable(exc) from None


def _unwritable(exc: OSError) -> PegxlError:
    return PegxlError(finding(ErrorCode.M008, value=tempfile.gettempdir(),
                              detail=exc.strerror or str(exc)), exit_code=EXIT_PROBLEMS)
