"""The plan (piano.xlsx): read, parse the Italian way, and hold as typed tables.

`load_plan` never raises for content problems: it returns the plan (possibly partial)
and every finding; `pegxl.validators.plan.check_plan` adds the schema and cross-table
checks. A plan with errors makes no templates.
"""
from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import os
import pickle
import re
from collections import namedtuple
from dataclasses import dataclass, field
from typing import AbstractSet, Any, Callable

import pandas as pd

from .errors import ErrorCode, Finding, finding, show_value
from .rules import Rules, rules_from_mapping
from .values import (Parsed, is_blank, parse_bool, parse_date, parse_number, parse_typed, safe_code, slugify,
                     split_direction)
from .workbook import contract as C
from .workbook.memory import gc_paused
from .workbook.reader import RawBook, Table, read_table, read_values
from .workbook.scan import percent_cells


@dataclass
class Plan:
    """The plan as typed tables (internal English field names, see contract.py).

    Every table keeps `xlrow`, the Excel row it came from, so any later finding about a
    record can point at the plan's cell."""

    ente: str
    anno: int
    fase: str
    reference_date: dt.date | None = None
    deadline: dt.date | None = None
    office: str | None = None
    office_email: str | None = None
    rules: Rules = field(default_factory=Rules)
    rules_rows: list[tuple[str, Any, str]] = field(default_factory=list)
    sectors: pd.DataFrame = field(default_factory=pd.DataFrame)
    objectives: pd.DataFrame = field(default_factory=pd.DataFrame)
    assignments: pd.DataFrame = field(default_factory=pd.DataFrame)
    phases: pd.DataFrame = field(default_factory=pd.DataFrame)
    indicators: pd.DataFrame = field(default_factory=pd.DataFrame)
    path: str | None = None
    tables: dict[str, Table] = field(default_factory=dict, repr=False)
    # fingerprints are asked once per returned file: a thousand files must not rehash the plan
    _fp_cache: dict[str, str] = field(default_factory=dict, init=False, repr=False, compare=False)
    _idx: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)
    _packed: tuple[Any, tuple[tuple[str, ...], ...], dict[str, bytes]] | None = field(
        default=None, init=False, repr=False, compare=False)   # see pack_sector_rows

    # ------------------------------------------------------------------ views
    @property
    def sector_codes(self) -> list[str]:
        return list(self.sectors["sector"])

    def has_sector(self, code: str) -> bool:
        """`code in plan.sector_codes`, without listing them (asked once per template)."""
        return isinstance(code, str) and code in self._index("sector_pos")

    def sector(self, code: str) -> dict[str, Any]:
        pos = self._index("sector_pos").get(code) if isinstance(code, str) else None
        if pos is None:
            raise KeyError(code)
        return self.sectors.iloc[pos].to_dict()

    def objectives_of(self, sector: str) -> pd.DataFrame:
        codes = self._index("sectors").get(sector, [])
        return self.objectives.iloc[[self._index("objective_pos")[c] for c in codes]].reset_index(drop=True)

    def phases_of(self, objectives: list[str]) -> pd.DataFrame:
        return self._rows(self.phases, "phases", objectives)

    def indicators_of(self, objectives: list[str]) -> pd.DataFrame:
        return self._rows(self.indicators, "indicators", objectives)

    def sector_rows(self, sector: str) -> tuple[list[Any], list[Any], list[Any]]:
        """The rows of objectives_of(sector), phases_of and indicators_of its objectives, as
        `itertuples(index=False)` gives them: each table converted once for every settore
        (a template per settore no longer filters and converts pandas frames)."""
        packed = self._packed
        if packed is not None and packed[0] == self._frames_key():
            blob = packed[2].get(sector)
            if blob is None:   # not a settore of the plan
                return [], [], []
            return tuple(list(map(_row_type(cols)._make, part))   # type: ignore[return-value]
                         for cols, part in zip(packed[1], pickle.loads(blob)))
        codes = self._index("sectors").get(sector, [])
        opos = self._index("objective_pos")
        objs, phases, inds = self._index("rows")
        return ([objs[opos[c]] for c in codes],
                [phases[p] for p in self._positions_of("phases", codes)],
                [inds[p] for p in self._positions_of("indicators", codes)])

    def pack_sector_rows(self) -> None:
        """Keep every settore's sector_rows pickled (and let the rows go: the pickles take a
        third of their memory), for the processes forked from this one (merge's copies): each
        unpickles the settore it asks for. Reading the rows this process holds would write
        their reference counts, and so copy them into every worker (60 MB a worker at 1,000
        settori)."""
        columns = tuple(tuple(df.columns) for df in (self.objectives, self.phases, self.indicators))
        packed = {s: pickle.dumps(tuple([tuple(r) for r in part] for part in self.sector_rows(s)),
                                  pickle.HIGHEST_PROTOCOL) for s in self.sector_codes}
        self._packed = (self._frames_key(), columns, packed)
        self._idx.pop("rows", None)

    def _frames_key(self) -> tuple[int, ...]:
        return (id(self.assignments), id(self.objectives), id(self.phases), id(self.indicators),
                id(self.sectors))

    def _rows(self, df: pd.DataFrame, name: str, objectives: list[str]) -> pd.DataFrame:
        return df.iloc[self._positions_of(name, objectives)]

    def _index(self, name: str) -> Any:
        """Positions by settore and objective (`name`: objective_pos, sectors, sector_pos,
        phases, indicators), each built once when first asked: a large ente asks for them a
        thousand times (one template, one return per settore), a plan check hardly."""
        key = self._frames_key()
        if self._idx.get("key") != key:
            self._idx.clear()
            self._idx["key"] = key
        if name not in self._idx:
            self._idx[name] = self._build_index(name)
        return self._idx[name]

    def _build_index(self, name: str) -> Any:
        if name == "objective_pos":
            return {c: i for i, c in reversed(list(enumerate(self.objectives["objective"].tolist())))}
        if name == "sectors":
            pos = self._index("objective_pos")
            sectors: dict[str, list[str]] = {}
            for s, o in zip(self.assignments["sector"].tolist(), self.assignments["objective"].tolist()):
                if o in pos:
                    sectors.setdefault(s, []).append(o)
            return sectors
        if name == "fp_rows":
            return self._fp_rows()
        if name == "rows":
            return table_rows(self.objectives), table_rows(self.phases), table_rows(self.indicators)
        if name == "sector_pos":
            # the first row of each code, as a lookup by code would find it
            return {c: i for i, c in reversed(list(enumerate(self.sectors["sector"].tolist())))
                    if isinstance(c, str)}
        return _positions(self.phases if name == "phases" else self.indicators)

    @property
    def final(self) -> bool:
        return self.fase == "Rendicontazione finale"

    # ------------------------------------------------------------ fingerprints
    def fingerprint(self) -> str:
        """SHA-256 of everything a template locks, for every settore (computed once)."""
        if "*" not in self._fp_cache:
            self._fp_cache["*"] = _digest({"ente": self.ente, "anno": self.anno, "fase": self.fase,
                                           "sectors": {s: self.sector_fingerprint(s) for s in self.sector_codes}})
            self._idx.pop("fp_rows", None)   # every settore's is kept: its rows (28 MB at 1,000) no more
        return self._fp_cache["*"]

    def fingerprints(self, made: dict[str, str] | None = None) -> dict[str, str]:
        """Every settore's fingerprint and the plan's ("*"), computed once; `made`: those of
        this same plan made elsewhere (this call in a child forked from here), kept instead."""
        if made is not None:
            self._fp_cache.update(made)
        self.fingerprint()
        return dict(self._fp_cache)

    def sector_fingerprint(self, sector: str) -> str:
        """SHA-256 of what one settore's template locks (its objectives, phases, indicators)."""
        if sector not in self._fp_cache:
            self._fp_cache[sector] = self._sector_fingerprint(sector)
        return self._fp_cache[sector]

    def _sector_fingerprint(self, sector: str) -> str:
        codes = self._index("sectors").get(sector, [])
        opos = self._index("objective_pos")
        objs, phases, inds = self._index("fp_rows")
        payload = {
            "ente": self.ente, "anno": self.anno, "fase": self.fase, "sector": sector,
            "objectives": [objs[opos[c]] for c in codes],
            "phases": [phases[p] for p in self._positions_of("phases", codes)],
            "indicators": [inds[p] for p in self._positions_of("indicators", codes)],
        }
        return _digest(payload)

    def _positions_of(self, name: str, objectives: list[str]) -> list[int]:
        groups = self._index(name)
        return sorted(p for o in objectives for p in groups.get(o, ()))

    def _fp_rows(self) -> tuple[list, list, list]:
        """Every row of objectives, phases and indicators as a settore's fingerprint lists it,
        built once column by column (row by row through pandas: 40 ms a settore)."""
        def rows(df: pd.DataFrame, cols: tuple[str, ...], plain: tuple[str, ...]) -> list:
            if df.empty:
                return []
            # iterating a column gives the values itertuples would (Python scalars, Timestamps)
            columns = [list(df[c]) if c in plain else [_jsonable(v) for v in df[c]] for c in cols]
            return [list(r) for r in zip(*columns)]
        return (rows(self.objectives, ("objective", "title", "typology", "weight"),
                     ("objective", "title", "typology")),
                rows(self.phases, ("objective", "phase", "description", "planned_start", "planned_end", "weight"),
                     ("objective", "phase", "description")),
                rows(self.indicators, ("objective", "indicator", "description", "kind", "value_type",
                                       "direction", "target_value"),
                     ("objective", "indicator", "description", "kind", "value_type", "direction")))


_ROW_TYPES: dict[tuple[str, ...], Any] = {}


def table_rows(df: pd.DataFrame) -> list[Any]:
    """`list(df.itertuples(index=False))` for a plan table, faster: the frame converted to
    Python objects in one go instead of a Series per column, one row type per columns."""
    return list(map(_row_type(tuple(df.columns))._make, df.to_numpy(dtype=object).tolist()))


def _row_type(columns: tuple[str, ...]) -> Any:
    """The row type of a table with `columns` (one per columns, as itertuples names it)."""
    row: Any = _ROW_TYPES.get(columns)
    if row is None:
        row = _ROW_TYPES[columns] = namedtuple("Pandas", columns, rename=True)
    return row


def _positions(df: pd.DataFrame) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    if "objective" in df:
        for i, o in enumerate(df["objective"].tolist()):
            found = out.get(o)
            if found is None:
                out[o] = [i]
            else:
                found.append(i)
    return out


def _jsonable(v: Any) -> Any:
    if v is None or (isinstance(v, float) and v != v):
        return None
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if hasattr(v, "item"):
        return v.item()
    return v


def _digest(obj: Any) -> str:
    blob = json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()


def short(fp: str | None) -> str:
    return (fp or "")[:12]


# ---------------------------------------------------------------------- reading

# The plan is the office's own file: an ente of 1,000 settori has ~100,000 phase rows.
PLAN_MAX_ROWS = 500_000

def load_plan(path: str | os.PathLike) -> tuple[Plan | None, list[Finding]]:
    """Read and parse a plan workbook. Raises PegxlError only if the file is unreadable."""
    with gc_paused():
        return parse_plan(read_plan_book(path))


def read_plan_book(path: str | os.PathLike) -> RawBook:
    """The plan's values, plus the percent-formatted cells of Indicatori (an «80%» target)."""
    book = read_values(path, max_rows=PLAN_MAX_ROWS)
    try:
        found = percent_cells(str(path), {C.SHEET_INDICATORS})
        book.percent_cells = {name: cells for name, cells in found.items() if cells}
    except Exception:  # styles are a refinement: a plan calamine reads is still read
        pass
    return book


def parse_plan(book: RawBook) -> tuple[Plan | None, list[Finding]]:
    plan, f, complete = parse_plan_partial(book)
    return (plan if complete else None), f


def parse_plan_partial(book: RawBook) -> tuple[Plan | None, list[Finding], bool]:
    """(plan, findings, complete). When only the Ente sheet is unusable the tables are still
    parsed into a partial plan (ente, anno, fase may be None), so that a checker can report
    every problem at once; such a plan has `complete` False and must not be used."""
    f: list[Finding] = []
    file = book.path
    partial: dict[str, Any] = {}
    ente = _parse_ente(book, f, into=partial)
    tables: dict[str, Table] = {}
    unreadable = False
    for spec in C.PLAN_TABLES:
        sheet = book.sheet(spec.sheet)
        if sheet is None:
            if spec is C.RULES:
                continue  # every rule takes its default
            f.append(finding(ErrorCode.P001, file=file, sheet=spec.sheet))
            unreadable = True
            continue
        table, problems = read_table(sheet, spec, file=file)
        f.extend(problems)
        unreadable = unreadable or any(x.is_(ErrorCode.P002) for x in problems)
        tables[spec.sheet] = table
    if unreadable:
        return None, f, False
    complete = ente is not None
    ente = ente if ente is not None else partial

    anno = ente.get("anno")
    rules, rules_rows = _parse_rules(tables.get(C.SHEET_RULES), file, f)
    sectors = _parse_sectors(tables[C.SHEET_SECTORS], file, f)
    objectives = _parse_objectives(tables[C.SHEET_OBJECTIVES], file, f)
    phases = _parse_phases(tables[C.SHEET_PHASES], file, f, anno)
    indicators = _parse_indicators(tables[C.SHEET_INDICATORS], file, f, anno,
                                   book.percent_cells.get(tables[C.SHEET_INDICATORS].sheet, set()))
    assignments = _expand_assignments(objectives, sectors, tables[C.SHEET_OBJECTIVES], file, f)
    # a partial plan (complete False, never used) may lack ente, anno and fase
    plan = Plan(ente=ente.get("ente"), anno=anno, fase=ente.get("fase"),  # type: ignore[arg-type]
                reference_date=ente.get("reference_date"), deadline=ente.get("deadline"),
                office=ente.get("office"), office_email=ente.get("office_email"),
                rules=rules, rules_rows=rules_rows, sectors=sectors, objectives=objectives,
                assignments=assignments, phases=phases, indicators=indicators,
                path=file, tables=tables)
    return plan, f, complete


def _text(v: Any) -> str | None:
    if type(v) is str:   # most cells: the same as below, without the blank test
        return " ".join(v.split()) or None
    if is_blank(v):
        return None
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if isinstance(v, (dt.date, dt.datetime)):
        return v.strftime("%d/%m/%Y")
    return " ".join(str(v).split()) if isinstance(v, str) else str(v)


def _code(v: Any) -> str | None:
    t = _text(v)
    return t.strip() if t else None


def _loc(table: Table, row: int, fld: str) -> str | None:
    return table.cell(row, fld)


def _parse_ente(book: RawBook, f: list[Finding], into: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The Ente items, or None if a required one is missing or wrong (then `into`, if
    given, still receives the items that could be read)."""
    out: dict[str, Any] = {} if into is None else into
    file = book.path
    sheet = book.sheet(C.SHEET_ENTE)
    if sheet is None:
        f.append(finding(ErrorCode.P001, file=file, sheet=C.SHEET_ENTE))
        return None
    rows = sheet.rows
    start = 1 if rows and C.norm_header(rows[0][0] if rows[0] else None) == "voce" else 0
    found: dict[str, tuple[Any, int]] = {}
    for r, row in enumerate(rows[start:], start=start + 1):
        if not row or is_blank(row[0]):
            continue
        found[C.norm_header(row[0])] = (row[1] if len(row) > 1 else None, r)
    ok = True
    for voce, (fld, required) in C.ENTE_ITEMS.items():
        raw, at = found.get(C.norm_header(voce), (None, None))
        cell = f"B{at}" if at else None
        if is_blank(raw):
            if required:
                f.append(finding(ErrorCode.P017, file=file, sheet=C.SHEET_ENTE, cell=cell, value=voce))
                ok = False
            continue
        if fld == "anno":
            p = parse_number(raw)
            if not p.ok or p.value is None or not float(p.value).is_integer() or not 2000 <= p.value <= 2100:
                f.append(finding(ErrorCode.P016, file=file, sheet=C.SHEET_ENTE, cell=cell,
                                 column="Anno", value=raw))
                ok = False
                continue
            out[fld] = int(p.value)
        elif fld == "fase":
            word = C.canonical(raw, C.FASI_CICLO)
            if word is None:
                f.append(finding(ErrorCode.P013, file=file, sheet=C.SHEET_ENTE, cell=cell,
                                 column=voce, value=raw, allowed=", ".join(C.FASI_CICLO)))
                ok = False
                continue
            out[fld] = word
        elif fld in ("reference_date", "deadline"):
            p = parse_date(raw)
            if not p.ok:
                f.append(finding(ErrorCode.P010, file=file, sheet=C.SHEET_ENTE, cell=cell,
                                 column=voce, value=raw))
                continue
            if p.from_text:
                f.append(finding(ErrorCode.P015, file=file, sheet=C.SHEET_ENTE, cell=cell,
                                 column=voce, value=raw, parsed=p.value.strftime("%d/%m/%Y")))
            out[fld] = p.value
        else:
            out[fld] = _text(raw)
    return out if ok else None


def _parse_rules(table: Table | None, file: str, f: list[Finding]) -> tuple[Rules, list]:
    if table is None:
        return Rules(), []
    items, rows = [], []
    rec: Any   # a row of cells as typed
    for rec in table.df.itertuples():
        if is_blank(rec.rule):
            continue
        items.append((str(rec.rule).strip(), rec.value))
        rows.append((str(rec.rule).strip(), rec.value, _text(rec.description) or "", rec.xlrow))
    rules, problems = rules_from_mapping(items)
    for idx, kind, name, detail in problems:
        row = rows[idx][3] if idx >= 0 else None
        if kind == "unknown":
            f.append(finding(ErrorCode.P019, file=file, sheet=C.SHEET_RULES, cell=f"A{row}" if row else None,
                             row=row, value=name))
        else:
            # 'invalid' is P018; the rules' own checks (Peso pair, Tetto, Fasce) name their code
            code = kind if isinstance(kind, ErrorCode) else ErrorCode.P018
            value = rows[idx][1] if idx >= 0 else ""
            f.append(finding(code, file=file, sheet=C.SHEET_RULES,
                             cell=table.cell(row, "value") if row else None, row=row, record=name,
                             value=value, detail=show_value(float(detail)) if code is ErrorCode.P035 else detail))
    return rules, [(n, v, d) for n, v, d, _ in rows]


def _cached(fn: Callable[[Any], Parsed]) -> Callable[[Any], Parsed]:
    """`fn` remembering its result by value (and type: 1, 1.0 and True differ): a large
    plan repeats the same pesi, dates and phase numbers thousands of times."""
    cached = functools.lru_cache(maxsize=1 << 16, typed=True)(fn)

    def call(value: Any) -> Parsed:
        try:
            return cached(value)
        except TypeError:   # an unhashable value is parsed each time
            return fn(value)
    return call


_parse_number = _cached(parse_number)
_parse_date = _cached(parse_date)
_parse_bool = _cached(parse_bool)


class _Spaced(dict[str, "str | None"]):
    """text -> the text with its spaces normalised, computed once per distinct text."""

    def __missing__(self, text: str) -> str | None:
        out = self[text] = " ".join(text.split()) or None
        return out


def _texts(values: list[Any]) -> list[str | None]:
    """`_text` of a column: a column repeats its texts (codes, names, words), each
    normalised once."""
    seen = _Spaced()
    return [seen[v] if type(v) is str else _text(v) for v in values]


def _words(values: list[Any], vocabulary: tuple[str, ...]) -> list[str | None]:
    """The vocabulary word of each cell (None for a blank or unknown one), once per distinct cell."""
    seen: dict[Any, str | None] = {}
    out: list[str | None] = []
    for v in values:
        key = (type(v), v)
        try:
            word = seen[key]
        except KeyError:
            word = seen[key] = C.canonical(v, vocabulary) if not is_blank(v) else None
        except TypeError:   # an unhashable cell
            word = C.canonical(v, vocabulary) if not is_blank(v) else None
        out.append(word)
    return out


class _Columns:
    """A table's cells a column at a time, for parsing without a pandas row per record."""

    def __init__(self, table: Table, file: str, f: list[Finding]) -> None:
        self.table, self.file, self.f = table, file, f
        self.rows: list[int] = table.data["xlrow"]
        self.found: list[tuple[int, Finding]] = []   # (row index, finding)

    def frame(self, columns: dict[str, list[Any]]) -> pd.DataFrame:
        """The parsed table; the findings given in row order, as a row-by-row parse gave them."""
        self.found.sort(key=lambda x: x[0])
        self.f.extend(x for _, x in self.found)
        return _frame_of(columns)

    def raw(self, fld: str) -> list[Any]:
        return self.table.data[fld]

    def texts(self, fld: str) -> list[str | None]:
        return _texts(self.raw(fld))

    def _add(self, code: ErrorCode, i: int, fld: str, **kw: Any) -> None:
        t = self.table
        self.found.append((i, finding(code, file=self.file, sheet=t.sheet, cell=t.cell(self.rows[i], fld),
                                      row=self.rows[i], **kw)))

    def numbers(self, fld: str, records: list[str | None], column: str) -> list[Any]:
        return self._typed(fld, records, column, _parse_number, ErrorCode.P016, _fmt_num)

    def dates(self, fld: str, records: list[str | None], column: str) -> list[Any]:
        return self._typed(fld, records, column, _parse_date, ErrorCode.P010,
                           lambda d: d.strftime("%d/%m/%Y"))

    def _typed(self, fld: str, records: list[str | None], column: str, parse: Callable[[Any], Parsed],
               bad: ErrorCode, shown: Callable[[Any], str]) -> list[Any]:
        """The column parsed; `bad` where a cell cannot be, P015 where text was read as a value."""
        out: list[Any] = []
        for i, raw in enumerate(self.raw(fld)):
            p = parse(raw)
            if p.ok and not p.from_text:
                out.append(p.value)
                continue
            if not p.ok:
                self._add(bad, i, fld, column=column, record=records[i], value=raw)
                out.append(None)
                continue
            if p.value is not None:
                self._add(ErrorCode.P015, i, fld, column=column, record=records[i], value=raw,
                          parsed=shown(p.value))
            out.append(p.value)
        return out

    def bools(self, fld: str, records: list[str | None], column: str) -> list[bool]:
        out: list[bool] = []
        for i, raw in enumerate(self.raw(fld)):
            p = _parse_bool(raw)
            if not p.ok:
                self._add(ErrorCode.P013, i, fld, column=column, record=records[i], value=raw,
                          allowed="sì, no")
            out.append(bool(p.value) if p.ok else False)
        return out

    def ints(self, fld: str, records: list[str | None]) -> list[int | None]:
        out: list[int | None] = []
        for i, raw in enumerate(self.raw(fld)):
            if type(raw) is int and raw >= 1:   # the common case, as below
                out.append(raw)
                continue
            if is_blank(raw):
                out.append(None)
                continue
            p = _parse_number(raw)
            if not p.ok or p.value is None or not float(p.value).is_integer() or p.value < 1:
                self._add(ErrorCode.P026, i, fld, record=records[i], value=raw)
                out.append(None)
                continue
            out.append(int(p.value))
        return out


def _fmt_num(x: Any) -> str:   # a number as parsed
    return show_value(float(x))


def _parse_sectors(t: Table, file: str, f: list[Finding]) -> pd.DataFrame:
    c = _Columns(t, file, f)
    codes = [_code(v) for v in c.raw("sector")]
    return c.frame({
        "sector": codes,
        "sector_name": c.texts("sector_name"),
        "manager": c.texts("manager"),
        "email": c.texts("email"),
        "weight": c.numbers("weight", codes, "Peso"),
        "xlrow": c.rows,
    })


def _pad2(v: Any) -> str | None:
    t = _text(v)
    if t and t.isdigit() and len(t) == 1:
        return "0" + t
    return t


def _parse_objectives(t: Table, file: str, f: list[Finding]) -> pd.DataFrame:
    c = _Columns(t, file, f)
    codes = [_code(v) for v in c.raw("objective")]
    typology_raw = c.raw("typology")
    return c.frame({
        "objective": codes,
        "sectors": c.texts("sectors"),
        "title": c.texts("title"),
        "description": c.texts("description"),
        "typology": _words(typology_raw, C.TIPOLOGIE),
        "typology_raw": typology_raw,
        "mission": [_pad2(v) for v in c.raw("mission")],
        "programme": [_pad2(v) for v in c.raw("programme")],
        "dup_objective": c.texts("dup_objective"),
        "public_value": c.texts("public_value"),
        "assessor": c.texts("assessor"),
        "weight": c.numbers("weight", codes, "Peso"),
        "xlrow": c.rows,
    })


def _parse_phases(t: Table, file: str, f: list[Finding], anno: int | None) -> pd.DataFrame:
    c = _Columns(t, file, f)
    codes = [_code(v) for v in c.raw("objective")]
    numbers = c.ints("phase", codes)
    records = [f"{code} fase {n}" if code and n is not None else code for code, n in zip(codes, numbers)]
    return c.frame({
        "objective": codes,
        "phase": numbers,
        "description": c.texts("description"),
        "planned_start": c.dates("planned_start", records, "Inizio previsto"),
        "planned_end": c.dates("planned_end", records, "Fine prevista"),
        "weight": c.numbers("weight", records, "Peso"),
        "manager": c.texts("manager"),
        "neutralised": c.bools("neutralised", records, "Neutralizzata"),
        "neutralised_reason": c.texts("neutralised_reason"),
        "xlrow": c.rows,
    })


@functools.lru_cache(maxsize=1 << 16)
def _target(kind: str, raw: Any, value_type: str, in_percent: bool) -> tuple[str | None, Parsed]:
    """(the sign written before it, the target parsed by its Tipo valore), once per distinct
    cell (`kind`, the name of its type: 1, 1.0 and True differ)."""
    implied, raw_for_parse = None, raw
    if value_type in ("numero", "percentuale", "data"):
        implied, raw_for_parse = split_direction(raw)
    # 80 % typed in Excel is stored as 0.8 in a percent-formatted cell: it means 80
    return implied, parse_typed(raw_for_parse, value_type, percent_format=in_percent)


def _parse_indicators(t: Table, file: str, f: list[Finding], anno: int | None,
                      percent_cells: AbstractSet[str] = frozenset()) -> pd.DataFrame:
    c = _Columns(t, file, f)
    codes = [_code(v) for v in c.raw("objective")]
    numbers = c.ints("indicator", codes)
    records = [f"{code} indicatore {n}" if code and n is not None else code
               for code, n in zip(codes, numbers)]
    kind_raw, value_type_raw = c.raw("kind"), c.raw("value_type")
    value_types = _words(value_type_raw, C.TIPI_VALORE)
    targets = c.raw("target")
    directions, directions_raw = [], []
    target_values, target_oks, implieds = [], [], []
    signs: dict[Any, str | None] = {}
    for i, (direction_cell, value_type, target_raw) in enumerate(zip(c.raw("direction"), value_types, targets)):
        direction = None
        direction_raw = None
        if not is_blank(direction_cell):
            # the whole cell must be one sign: ">>" or ">= 5" is not a Verso (P013)
            key = str(direction_cell).strip()
            if key not in signs:
                d, rest = split_direction(key + " 0")
                signs[key] = d if d in C.VERSI and rest == "0" else None
            direction, direction_raw = signs[key], direction_cell
        target_value, target_ok, target_text = None, True, False
        implied = None
        if value_type and not is_blank(target_raw):
            in_percent = bool(percent_cells) and t.cell(c.rows[i], "target") in percent_cells
            try:
                implied, p = _target(type(target_raw).__name__, target_raw, value_type, in_percent)
            except TypeError:   # an unhashable cell
                implied, p = _target.__wrapped__(type(target_raw).__name__, target_raw, value_type, in_percent)
            target_value, target_ok, target_text = p.value, p.ok, p.from_text and implied is None
            if p.percent_scaled:
                c._add(ErrorCode.P028, i, "target", column="Valore atteso", record=records[i],
                       value=target_raw, parsed=_fmt_num(p.value))
            if implied and not direction_raw:
                direction = implied
        if value_type in ("numero", "percentuale") and direction is None and direction_raw is None:
            direction = ">="
        if value_type == "data" and direction is None and direction_raw is None:
            direction = "<="
        if target_text and target_ok and value_type in ("numero", "percentuale", "data"):
            parsed = target_value.strftime("%d/%m/%Y") if isinstance(target_value, dt.date) else _fmt_num(target_value)
            c._add(ErrorCode.P015, i, "target", column="Valore atteso", record=records[i],
                   value=target_raw, parsed=parsed)
        directions.append(direction)
        directions_raw.append(direction_raw)
        target_values.append(target_value)
        target_oks.append(target_ok)
        implieds.append(implied)
    return c.frame({
        "objective": codes,
        "indicator": numbers,
        "description": c.texts("description"),
        "kind": _words(kind_raw, C.TIPI_INDICATORE),
        "kind_raw": kind_raw,
        "formula": c.texts("formula"),
        "unit": c.texts("unit"),
        "value_type": value_types,
        "value_type_raw": value_type_raw,
        "direction": directions,
        "direction_raw": directions_raw,
        "target": targets,
        "target_value": target_values,
        "target_ok": target_oks,
        "implied_direction": implieds,
        "previous": c.raw("previous"),
        "weight": c.numbers("weight", records, "Peso"),
        "data_source": c.texts("data_source"),
        "neutralised": c.bools("neutralised", records, "Neutralizzato"),
        "neutralised_reason": c.texts("neutralised_reason"),
        "xlrow": c.rows,
    })


_SPLIT = re.compile(r"[;,]")


def zeros_hint(code: str, known: Any, sheet: str) -> str:
    """" C'è «01» nel foglio Settori..." when `code` differs from a known code only by
    leading zeros: Excel drops them from a code typed in a number cell (01 becomes 1)."""
    if not code or not code.isdigit():
        return ""
    same = [k for k in known if isinstance(k, str) and k.isdigit() and k != code and int(k) == int(code)]
    if not same:
        return ""
    padded = max(code, same[0], key=len)
    return (f" Nel foglio {sheet} c'è «{same[0]}»: Excel toglie gli zeri iniziali da un codice scritto "
            f"come numero; scrivere il codice allo stesso modo nei due fogli, come testo ('{padded}).")


def sector_list(raw: str | None, all_codes: list[str]) -> list[str]:
    """'S01;S02' -> ['S01','S02']; '*' -> every settore, in plan order."""
    if raw is None:
        return []
    if raw.strip() == C.ALL_SECTORS:
        return list(all_codes)
    return [p.strip() for p in _SPLIT.split(raw) if p.strip()]


def _expand_assignments(objectives: pd.DataFrame, sectors: pd.DataFrame, t: Table, file: str,
                        f: list[Finding]) -> pd.DataFrame:
    codes = [c for c in sectors["sector"] if c]
    known = set(codes)
    cols: dict[str, list[Any]] = {"sector": [], "objective": [], "title": [], "weight": [], "transversal": []}
    for objective, raw, title, weight, xlrow in zip(*(objectives[c].tolist() for c in (
            "objective", "sectors", "title", "weight", "xlrow"))):
        if not objective:
            continue
        listed = sector_list(raw, codes)
        transversal = (raw or "").strip() == C.ALL_SECTORS or len(listed) > 1
        for s in listed:
            if s not in known:
                f.append(finding(ErrorCode.P005, file=file, sheet=t.sheet, cell=t.cell(xlrow, "sectors"),
                                 row=xlrow, column="Codice settore", record=objective, value=s,
                                 suggestion=zeros_hint(s, codes, "Settori")))
                continue
            for k, v in (("sector", s), ("objective", objective), ("title", title), ("weight", weight),
                         ("transversal", transversal)):
                cols[k].append(v)
    df = _frame_of(cols)
    if len(df):
        order = {c: i for i, c in enumerate(codes)}
        df["_order"] = df["sector"].map(order)
        df = df.sort_values(["_order"], kind="stable").drop(columns="_order").drop_duplicates(
            ["sector", "objective"]).reset_index(drop=True)
    return df


def _frame_of(columns: dict[str, list[Any]]) -> pd.DataFrame:
    """A table from its columns (object dtype, as `_frame`)."""
    df = pd.DataFrame(columns, dtype=object)
    if "weight" in df.columns:
        df["weight"] = pd.to_numeric(df["weight"], errors="coerce").astype(float)
    return df


def _frame(records: list[dict], columns: list[str]) -> pd.DataFrame:
    # object dtype keeps None as None (pandas 3 would infer str and turn None into NaN)
    df = pd.DataFrame(records, columns=columns, dtype=object)
    if "weight" in df.columns:
        df["weight"] = pd.to_numeric(df["weight"], errors="coerce").astype(float)
    return df


def template_name(plan: Plan, sector: str) -> str:
    """`<Anno>_<Codice settore>_<slug>.xlsx`."""
    return file_name(plan.anno, sector, plan.sector(sector).get("sector_name"))


def file_name(anno: Any, sector: str, sector_name: Any) -> str:
    """`template_name` from the settore's code and name."""
    return f"{anno}_{safe_code(sector)}_{slugify(sector_name or sector)}.xlsx"
