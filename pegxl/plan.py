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
import re
from dataclasses import dataclass, field
from typing import AbstractSet, Any, Callable

import pandas as pd

from .errors import ErrorCode, Finding, finding, show_value
from .rules import Rules, rules_from_mapping
from .values import (
    Parsed,
    is_blank,
    parse_bool,
    parse_date,
    parse_number,
    parse_typed,
    safe_code,
    slugify,
    split_direction,
)
from .workbook import contract as C
from .workbook.reader import RawBook, Table, read_table, read_values
from .workbook.scan import scan


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

    # ------------------------------------------------------------------ views
    @property
    def sector_codes(self) -> list[str]:
        return list(self.sectors["sector"])

    def sector(self, code: str) -> dict[str, Any]:
        pos = self._index()["sector_pos"].get(code) if isinstance(code, str) else None
        if pos is None:
            raise KeyError(code)
        return self.sectors.iloc[pos].to_dict()

    def objectives_of(self, sector: str) -> pd.DataFrame:
        codes = self._index()["sectors"].get(sector, [])
        return self.objectives.iloc[[self._index()["objective_pos"][c] for c in codes]].reset_index(drop=True)

    def phases_of(self, objectives: list[str]) -> pd.DataFrame:
        return self._rows(self.phases, "phases", objectives)

    def indicators_of(self, objectives: list[str]) -> pd.DataFrame:
        return self._rows(self.indicators, "indicators", objectives)

    def _rows(self, df: pd.DataFrame, name: str, objectives: list[str]) -> pd.DataFrame:
        groups = self._index()[name]
        pos = sorted(p for o in objectives for p in groups.get(o, ()))
        return df.iloc[pos]

    def _index(self) -> dict[str, Any]:
        """Positions by settore and objective, built once: a large ente asks for them a
        thousand times (one template, one return per settore)."""
        key = (id(self.assignments), id(self.objectives), id(self.phases), id(self.indicators),
               id(self.sectors))
        if self._idx.get("key") != key:
            pos = {c: i for i, c in reversed(list(enumerate(self.objectives["objective"])))}
            sectors: dict[str, list[str]] = {}
            for s, o in zip(self.assignments["sector"], self.assignments["objective"]):
                if o in pos:
                    sectors.setdefault(s, []).append(o)
            self._idx.clear()
            # the first row of each code, as a lookup by code would find it
            sector_pos = {c: i for i, c in reversed(list(enumerate(self.sectors["sector"])))
                          if isinstance(c, str)}
            self._idx.update(key=key, objective_pos=pos, sectors=sectors, sector_pos=sector_pos,
                             phases=_positions(self.phases), indicators=_positions(self.indicators))
        return self._idx

    @property
    def final(self) -> bool:
        return self.fase == "Rendicontazione finale"

    # ------------------------------------------------------------ fingerprints
    def fingerprint(self) -> str:
        """SHA-256 of everything a template locks, for every settore (computed once)."""
        if "*" not in self._fp_cache:
            self._fp_cache["*"] = _digest({"ente": self.ente, "anno": self.anno, "fase": self.fase,
                                           "sectors": {s: self.sector_fingerprint(s) for s in self.sector_codes}})
        return self._fp_cache["*"]

    def sector_fingerprint(self, sector: str) -> str:
        """SHA-256 of what one settore's template locks (its objectives, phases, indicators)."""
        if sector not in self._fp_cache:
            self._fp_cache[sector] = self._sector_fingerprint(sector)
        return self._fp_cache[sector]

    def _sector_fingerprint(self, sector: str) -> str:
        objs = self.objectives_of(sector)
        codes = list(objs["objective"])
        payload = {
            "ente": self.ente, "anno": self.anno, "fase": self.fase, "sector": sector,
            "objectives": [[o.objective, o.title, o.typology, _jsonable(o.weight)]
                           for o in objs.itertuples()],
            "phases": [[p.objective, p.phase, p.description, _jsonable(p.planned_start),
                        _jsonable(p.planned_end), _jsonable(p.weight)]
                       for p in self.phases_of(codes).itertuples()],
            "indicators": [[i.objective, i.indicator, i.description, i.kind, i.value_type,
                            i.direction, _jsonable(i.target_value)]
                           for i in self.indicators_of(codes).itertuples()],
        }
        return _digest(payload)


def _positions(df: pd.DataFrame) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    if "objective" in df:
        for i, o in enumerate(df["objective"]):
            out.setdefault(o, []).append(i)
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
    return parse_plan(read_plan_book(path))


def read_plan_book(path: str | os.PathLike) -> RawBook:
    """The plan's values, plus the percent-formatted cells of Indicatori (an «80%» target)."""
    book = read_values(path, max_rows=PLAN_MAX_ROWS)
    try:
        sc = scan(str(path), sheets={C.SHEET_INDICATORS})
        book.percent_cells = {name: s.percent_cells for name, s in sc.sheets.items() if s.percent_cells}
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


def _number(table: Table, rec: Any, fld: str, file: str, f: list[Finding], record: str | None,
            column: str) -> float | None:
    raw = getattr(rec, fld)
    p = _parse_number(raw)
    if p.ok and not p.from_text:
        return p.value
    cell = table.cell(rec.xlrow, fld)
    if not p.ok:
        f.append(finding(ErrorCode.P016, file=file, sheet=table.sheet, cell=cell, row=rec.xlrow,
                         column=column, record=record, value=raw))
        return None
    if p.from_text:
        f.append(finding(ErrorCode.P015, file=file, sheet=table.sheet, cell=cell, row=rec.xlrow,
                         column=column, record=record, value=raw, parsed=_fmt_num(p.value)))
    return p.value


def _fmt_num(x: Any) -> str:   # a number as parsed
    return show_value(float(x))


def _date(table: Table, rec: Any, fld: str, file: str, f: list[Finding], record: str | None,
          column: str) -> dt.date | None:
    raw = getattr(rec, fld)
    p = _parse_date(raw)
    if p.ok and not p.from_text:
        return p.value
    cell = table.cell(rec.xlrow, fld)
    if not p.ok:
        f.append(finding(ErrorCode.P010, file=file, sheet=table.sheet, cell=cell, row=rec.xlrow,
                         column=column, record=record, value=raw))
        return None
    if p.from_text and p.value is not None:
        f.append(finding(ErrorCode.P015, file=file, sheet=table.sheet, cell=cell, row=rec.xlrow,
                         column=column, record=record, value=raw,
                         parsed=p.value.strftime("%d/%m/%Y")))
    return p.value


def _bool(table: Table, rec: Any, fld: str, file: str, f: list[Finding], record: str | None,
          column: str) -> bool:
    raw = getattr(rec, fld)
    p = _parse_bool(raw)
    if not p.ok:
        f.append(finding(ErrorCode.P013, file=file, sheet=table.sheet, cell=table.cell(rec.xlrow, fld),
                         row=rec.xlrow, column=column, record=record, value=raw, allowed="sì, no"))
        return False
    return bool(p.value)


def _int(table: Table, rec: Any, fld: str, file: str, f: list[Finding], record: str | None) -> int | None:
    raw = getattr(rec, fld)
    if is_blank(raw):
        return None
    p = _parse_number(raw)
    if not p.ok or p.value is None or not float(p.value).is_integer() or p.value < 1:
        f.append(finding(ErrorCode.P026, file=file, sheet=table.sheet, cell=table.cell(rec.xlrow, fld),
                         row=rec.xlrow, record=record, value=raw))
        return None
    return int(p.value)


def _parse_sectors(t: Table, file: str, f: list[Finding]) -> pd.DataFrame:
    out = []
    for rec in t.df.itertuples():
        code = _code(rec.sector)
        out.append({
            "sector": code,
            "sector_name": _text(rec.sector_name),
            "manager": _text(rec.manager),
            "email": _text(rec.email),
            "weight": _number(t, rec, "weight", file, f, code, "Peso"),
            "xlrow": rec.xlrow,
        })
    return _frame(out, ["sector", "sector_name", "manager", "email", "weight", "xlrow"])


def _pad2(v: Any) -> str | None:
    t = _text(v)
    if t and t.isdigit() and len(t) == 1:
        return "0" + t
    return t


def _parse_objectives(t: Table, file: str, f: list[Finding]) -> pd.DataFrame:
    out = []
    for rec in t.df.itertuples():
        code = _code(rec.objective)
        raw_sectors = _text(rec.sectors)
        typology = C.canonical(rec.typology, C.TIPOLOGIE) if not is_blank(rec.typology) else None
        out.append({
            "objective": code,
            "sectors": raw_sectors,
            "title": _text(rec.title),
            "description": _text(rec.description),
            "typology": typology,
            "typology_raw": rec.typology,
            "mission": _pad2(rec.mission),
            "programme": _pad2(rec.programme),
            "dup_objective": _text(rec.dup_objective),
            "public_value": _text(rec.public_value),
            "assessor": _text(rec.assessor),
            "weight": _number(t, rec, "weight", file, f, code, "Peso"),
            "xlrow": rec.xlrow,
        })
    return _frame(out, ["objective", "sectors", "title", "description", "typology", "typology_raw",
                        "mission", "programme", "dup_objective", "public_value", "assessor",
                        "weight", "xlrow"])


def _parse_phases(t: Table, file: str, f: list[Finding], anno: int | None) -> pd.DataFrame:
    out = []
    for rec in t.df.itertuples():
        code = _code(rec.objective)
        n = _int(t, rec, "phase", file, f, code)
        record = f"{code} fase {n}" if code and n is not None else code
        out.append({
            "objective": code,
            "phase": n,
            "description": _text(rec.description),
            "planned_start": _date(t, rec, "planned_start", file, f, record, "Inizio previsto"),
            "planned_end": _date(t, rec, "planned_end", file, f, record, "Fine prevista"),
            "weight": _number(t, rec, "weight", file, f, record, "Peso"),
            "manager": _text(rec.manager),
            "neutralised": _bool(t, rec, "neutralised", file, f, record, "Neutralizzata"),
            "neutralised_reason": _text(rec.neutralised_reason),
            "xlrow": rec.xlrow,
        })
    return _frame(out, ["objective", "phase", "description", "planned_start", "planned_end", "weight",
                        "manager", "neutralised", "neutralised_reason", "xlrow"])


def _parse_indicators(t: Table, file: str, f: list[Finding], anno: int | None,
                      percent_cells: AbstractSet[str] = frozenset()) -> pd.DataFrame:
    out = []
    rec: Any   # a row of cells as typed
    for rec in t.df.itertuples():
        code = _code(rec.objective)
        n = _int(t, rec, "indicator", file, f, code)
        record = f"{code} indicatore {n}" if code and n is not None else code
        kind = C.canonical(rec.kind, C.TIPI_INDICATORE) if not is_blank(rec.kind) else None
        value_type = C.canonical(rec.value_type, C.TIPI_VALORE) if not is_blank(rec.value_type) else None
        direction = None
        if not is_blank(rec.direction):
            # the whole cell must be one sign: ">>" or ">= 5" is not a Verso (P013)
            d, rest = split_direction(str(rec.direction).strip() + " 0")
            direction = d if d in C.VERSI and rest == "0" else None
            direction_raw = rec.direction
        else:
            direction_raw = None
        target_raw = rec.target
        target_value, target_ok, target_text = None, True, False
        implied = None
        if value_type and not is_blank(target_raw):
            raw_for_parse = target_raw
            if value_type in ("numero", "percentuale", "data"):
                implied, raw_for_parse = split_direction(target_raw)
            # 80 % typed in Excel is stored as 0.8 in a percent-formatted cell: it means 80
            in_percent = t.cell(rec.xlrow, "target") in percent_cells
            p = parse_typed(raw_for_parse, value_type, percent_format=in_percent)
            target_value, target_ok, target_text = p.value, p.ok, p.from_text and implied is None
            if p.percent_scaled:
                f.append(finding(ErrorCode.P028, file=file, sheet=t.sheet, cell=t.cell(rec.xlrow, "target"),
                                 row=rec.xlrow, column="Valore atteso", record=record, value=target_raw,
                                 parsed=_fmt_num(p.value)))
            if implied and not direction_raw:
                direction = implied
        if value_type in ("numero", "percentuale") and direction is None and direction_raw is None:
            direction = ">="
        if value_type == "data" and direction is None and direction_raw is None:
            direction = "<="
        if target_text and target_ok and value_type in ("numero", "percentuale", "data"):
            parsed = target_value.strftime("%d/%m/%Y") if isinstance(target_value, dt.date) else _fmt_num(target_value)
            f.append(finding(ErrorCode.P015, file=file, sheet=t.sheet, cell=t.cell(rec.xlrow, "target"),
                             row=rec.xlrow, column="Valore atteso", record=record, value=target_raw,
                             parsed=parsed))
        out.append({
            "objective": code,
            "indicator": n,
            "description": _text(rec.description),
            "kind": kind,
            "kind_raw": rec.kind,
            "formula": _text(rec.formula),
            "unit": _text(rec.unit),
            "value_type": value_type,
            "value_type_raw": rec.value_type,
            "direction": direction,
            "direction_raw": direction_raw,
            "target": target_raw,
            "target_value": target_value,
            "target_ok": target_ok,
            "implied_direction": implied,
            "previous": rec.previous,
            "weight": _number(t, rec, "weight", file, f, record, "Peso"),
            "data_source": _text(rec.data_source),
            "neutralised": _bool(t, rec, "neutralised", file, f, record, "Neutralizzato"),
            "neutralised_reason": _text(rec.neutralised_reason),
            "xlrow": rec.xlrow,
        })
    return _frame(out, ["objective", "indicator", "description", "kind", "kind_raw", "formula", "unit",
                        "value_type", "value_type_raw", "direction", "direction_raw", "target",
                        "target_value", "target_ok", "implied_direction", "previous", "weight",
                        "data_source", "neutralised", "neutralised_reason", "xlrow"])


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
    rows = []
    o: Any   # a row of cells as typed
    for o in objectives.itertuples():
        if not o.objective:
            continue
        for s in sector_list(o.sectors, codes):
            if s not in known:
                f.append(finding(ErrorCode.P005, file=file, sheet=t.sheet, cell=t.cell(o.xlrow, "sectors"),
                                 row=o.xlrow, column="Codice settore", record=o.objective, value=s,
                                 suggestion=zeros_hint(s, codes, "Settori")))
                continue
            rows.append({"sector": s, "objective": o.objective, "title": o.title, "weight": o.weight,
                         "transversal": (o.sectors or "").strip() == C.ALL_SECTORS or len(sector_list(o.sectors, codes)) > 1})
    df = _frame(rows, ["sector", "objective", "title", "weight", "transversal"])
    if len(df):
        order = {c: i for i, c in enumerate(codes)}
        df["_order"] = df["sector"].map(order)
        df = df.sort_values(["_order"], kind="stable").drop(columns="_order").drop_duplicates(
            ["sector", "objective"]).reset_index(drop=True)
    return df


def _frame(records: list[dict], columns: list[str]) -> pd.DataFrame:
    # object dtype keeps None as None (pandas 3 would infer str and turn None into NaN)
    df = pd.DataFrame(records, columns=columns, dtype=object)
    if "weight" in df.columns:
        df["weight"] = pd.to_numeric(df["weight"], errors="coerce").astype(float)
    return df


def template_name(plan: Plan, sector: str) -> str:
    """`<Anno>_<Codice settore>_<slug>.xlsx`."""
    info = plan.sector(sector)
    return f"{plan.anno}_{safe_code(sector)}_{slugify(info.get('sector_name') or sector)}.xlsx"
