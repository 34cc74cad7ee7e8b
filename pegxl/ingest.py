"""Reading one returned workbook: is it ours, for this plan, untampered? What was typed?

`read_return` never raises for a bad file: every problem is a located Finding, and the
values typed by the settore are collected raw (with their cells) for the content checks
of `pegxl.validators.returns`, which run on all files at once.
"""
from __future__ import annotations

import datetime as dt
import functools
import hashlib
import os
import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from .errors import (
    EXIT_UNUSABLE,
    ErrorCode,
    Finding,
    PegxlError,
    finding,
    os_detail,
    show_value,
)
from .plan import Plan, short
from .templates import formulas as G
from .values import is_blank, parse_date, parse_number, parse_typed
from .workbook import contract as C
from .workbook.formulas import Area, active_reason, failing, formula_problem, plain_reference
from .workbook.reader import (
    TESTZIP_MAX_BYTES,
    RawBook,
    Table,
    _col_number,
    cell_ref,
    col_letter,
    column_lists,
    read_table,
    read_values,
    records,
    sniff,
)
from .workbook.scan import BookScan, scan

SPREADSHEET_EXTENSIONS = {".xlsx", ".xlsm", ".ods", ".xls", ".xlsb", ".csv", ".numbers"}
MAX_RETURN_BYTES = 100 * 1024 * 1024

_A1 = re.compile(r"([A-Z]{1,3})([0-9]{1,7})")
TABLE_SPECS = {C.SHEET_OBJECTIVES: C.T_OBJECTIVES, C.SHEET_PHASES: C.T_PHASES,
               C.SHEET_INDICATORS: C.T_INDICATORS}
INPUTS = {C.SHEET_OBJECTIVES: C.T_OBJECTIVES_INPUT, C.SHEET_PHASES: C.T_PHASES_INPUT,
          C.SHEET_INDICATORS: C.T_INDICATORS_INPUT}
# the sheets whose values are read: the hidden readings, the lists and the instructions
# only hold the template's own formulas and texts (the scan looks at those); the readings
# are the largest sheet of a return
# (and the Riepilogo: only computed cells, whose protection the scan tells)
VALUE_SHEETS = (C.SHEET_IDENTITY, C.SHEET_OBJECTIVES, C.SHEET_PHASES, C.SHEET_INDICATORS)
KEYS = {C.SHEET_OBJECTIVES: ("objective",), C.SHEET_PHASES: ("objective", "phase"),
        C.SHEET_INDICATORS: ("objective", "indicator")}


def require_files(paths: list[Path], items: Iterable[str | os.PathLike]) -> list[Path]:
    """`paths` (the returns found in `items`); none is a usage error (U001, exit 2)."""
    if not paths:
        raise PegxlError(finding(ErrorCode.U001, detail="nessun file .xlsx/.ods trovato in "
                                 + ", ".join(str(i) for i in items)), exit_code=EXIT_UNUSABLE)
    return paths


def expand_paths(items: Iterable[str | os.PathLike]) -> list[Path]:
    """Files named, plus the spreadsheet-like files of the folders named (not recursive),
    skipping office lock files. Sorted for a stable order.

    Never opens a file: a FIFO, socket, device or folder named like a spreadsheet is
    listed like the others, and `sniff` refuses it (F011) by its stat, without opening
    it. A folder named on the command line with a spreadsheet's extension (an .xlsx
    unzipped by hand) is such a file, not a folder of returns."""
    out: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir() and p.suffix.lower() not in SPREADSHEET_EXTENSIONS:
            for child in sorted(p.iterdir()):
                if child.name.startswith(("~$", ".~lock", ".")):
                    continue
                if child.suffix.lower() in SPREADSHEET_EXTENSIONS:
                    out.append(child)
        else:
            out.append(p)
    seen, unique = set(), []
    for p in out:
        key = os.path.abspath(p)
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique


@dataclass
class ReturnFile:
    """One returned workbook after identity and integrity checks."""

    path: str
    sector: str | None = None
    identity: dict[str, Any] = field(default_factory=dict)
    sha256: str | None = None
    read_at: dt.datetime | None = None
    modified: dt.datetime | None = None
    application: str | None = None
    kind: str | None = None
    findings: list[Finding] = field(default_factory=list)
    # raw input rows per sheet: dicts with the key fields, the raw inputs, and their cells
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    epoch_1904: bool = False
    readable: bool = False
    # the legacy hash of the input sheets' protection, kept for the copy pegxl writes back
    # (an office that generated its templates with its own password keeps it there)
    password_hash: str | None = None

    @property
    def name(self) -> str:
        return Path(self.path).name

    @property
    def usable(self) -> bool:
        return self.readable and not any(f.is_error for f in self.findings)

    @property
    def template_version(self) -> str | None:
        return self.identity.get("format_version")

    def add(self, code: ErrorCode, **kw: Any) -> None:
        self.findings.append(finding(code, file=self.path, **kw))


def brief(value: Any, limit: int = 200) -> str:
    """A value from a return as a message shows it: no control characters (they cannot
    be written into the Anomalie sheet), at most `limit` characters."""
    text = ILLEGAL_CHARACTERS_RE.sub("", show_value(value))
    return text if len(text) <= limit else text[:limit - 1] + "…"


def sha256_of(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class PlanIndex:
    """The plan's rows of each settore's template, as records, built once for many files
    (Plan.objectives_of and friends filter the whole plan at each call: 1,000 files of a
    large plan spent most of their time there)."""

    def __init__(self, plan: Plan):
        self.sector_codes = set(plan.sector_codes)
        self._objectives = {r["objective"]: r for r in records(plan.objectives)}
        self._assigned: dict[str, list[str]] = {}
        for sector, objective in zip(plan.assignments["sector"], plan.assignments["objective"]):
            self._assigned.setdefault(sector, []).append(objective)
        # records as pandas gives them (to_dict: keys typed Hashable, here the field names),
        # built for the settori asked only (a worker reads a share of the files): the
        # phases and indicators are kept as columns, their positions grouped by objective
        self._rows: dict[tuple[str, str], list[dict[Any, Any]]] = {}
        self._packed: dict[str, bytes] | None = None   # see pack
        self._columns: dict[str, tuple[list[Any], list[list[Any]]]] = {}
        self._by_objective: dict[str, dict[str, list[int]]] = {}
        for sheet, df in ((C.SHEET_PHASES, plan.phases), (C.SHEET_INDICATORS, plan.indicators)):
            keys, columns = self._columns[sheet] = column_lists(df)
            at = len(keys) - 1 - keys[::-1].index("objective")   # as a record keeps the last of a name
            groups: dict[str, list[int]] = {}
            for pos, objective in enumerate(columns[at]):
                groups.setdefault(objective, []).append(pos)
            self._by_objective[sheet] = groups

    def pack(self) -> None:
        """Keep every settore's records pickled, and let go of the columns they are made
        from: for the processes forked to read the returns, each of which unpickles its own
        copy of the settore of the file it reads. Reading the rows this process holds would
        write their reference counts, and so copy, page by page, the plan's rows of every
        settore read into every reader (as Plan.pack_sector_rows does for the copies)."""
        sheets = (C.SHEET_OBJECTIVES, C.SHEET_PHASES, C.SHEET_INDICATORS)
        self._packed = {s: pickle.dumps({sheet: self._values(s, sheet) for sheet in sheets},
                                        pickle.HIGHEST_PROTOCOL)
                        for s in self._assigned}
        self._rows.clear()
        self._objectives, self._columns, self._by_objective = {}, {}, {}

    def rows(self, sector: str | None, sheet: str) -> list[dict[Any, Any]]:
        """Records of `sheet` for `sector`, in the plan's order (as objectives_of,
        phases_of, indicators_of give them)."""
        if sector is None:   # a file no settore could be told for
            return []
        if self._rows and next(iter(self._rows))[0] != sector:
            self._rows.clear()   # one settore at a time (kept for every settore, a worker's memory grew file by file)
        got = self._rows.get((sector, sheet))
        if got is None:   # asked several times a file: built once
            if self._packed is not None:
                blob = self._packed.get(sector)
                for name, (keys, values) in (pickle.loads(blob) if blob is not None else {}).items():
                    self._rows[(sector, name)] = [dict(zip(keys, t)) for t in values]
                got = self._rows.setdefault((sector, sheet), [])
            else:
                keys, values = self._values(sector, sheet)
                got = self._rows[(sector, sheet)] = [dict(zip(keys, t)) for t in values]
        return got

    def _values(self, sector: str, sheet: str) -> tuple[list[Any], list[tuple]]:
        """The records of `sheet` for `sector` as the column names and a tuple per row (the
        names of an objective's record: its own keys, the same for every objective)."""
        codes = [c for c in self._assigned.get(sector, []) if c in self._objectives]
        if sheet == C.SHEET_OBJECTIVES:
            records = [self._objectives[c] for c in codes]
            return (list(records[0]) if records else []), [tuple(r.values()) for r in records]
        groups = self._by_objective[sheet]
        keys, columns = self._columns[sheet]
        positions = sorted(pos for c in dict.fromkeys(codes) for pos in groups.get(c, ()))
        return keys, [tuple(col[pos] for col in columns) for pos in positions]


def read_return(plan: Plan, path: str | os.PathLike, *, fingerprint: str | None = None,
                index: PlanIndex | None = None) -> ReturnFile:
    """Read one returned workbook against the plan: identity, integrity, raw inputs.

    `fingerprint` (`plan.fingerprint()`) and `index` (`PlanIndex(plan)`) are passed by a
    caller that reads many files of one plan, so that they are computed once."""
    rf = ReturnFile(path=str(path), read_at=dt.datetime.now().astimezone())
    p = Path(path)
    # the checksums of the parts are checked by the scan, which reads them all anyway
    problems = sniff(p, max_uncompressed=MAX_RETURN_BYTES, test=False)
    if problems:
        rf.findings.extend(problems)
        return rf
    try:
        rf.sha256 = sha256_of(p)
        st = p.stat()
        rf.modified = dt.datetime.fromtimestamp(st.st_mtime).astimezone()
    except OSError as exc:
        rf.add(ErrorCode.F001, detail=os_detail(exc))
        return rf
    max_rows = max(2000, 10 * max(len(plan.phases), len(plan.indicators), len(plan.objectives)))
    # the package's XML is read once, first: the scan measures the sheets for read_values
    # too (whose findings still come first when both fail)
    scan_error: Exception | None = None
    try:
        sc = scan(str(p), verify=st.st_size < TESTZIP_MAX_BYTES)
    except Exception as exc:  # reported after read_values has had its say
        problems = sniff(p, max_uncompressed=MAX_RETURN_BYTES)   # a damaged zip: said as sniff says it
        if problems:
            rf.sha256 = rf.modified = None
            rf.findings.extend(problems)
            return rf
        sc, scan_error = BookScan(), exc
    bound = {name: s.bound for name, s in sc.sheets.items() if s.bound is not None}
    try:
        book = read_values(p, max_rows=max_rows, sniffed=True, bound=bound, load=VALUE_SHEETS,
                           kind=sc.kind if scan_error is None else None)
    except PegxlError as exc:
        rf.findings.extend(exc.findings)
        return rf
    if scan_error is not None:   # a zip calamine could read but whose XML we cannot
        rf.add(ErrorCode.F002, detail=f"struttura interna non leggibile: {str(scan_error)[:120]}")
        return rf
    rf.kind = sc.kind
    rf.application = sc.application
    obj_scan = next((v for k, v in sc.sheets.items() if C.norm_header(k) == C.norm_header(C.SHEET_OBJECTIVES)), None)
    rf.password_hash = obj_scan.password_hash if obj_scan is not None else None
    rf.epoch_1904 = sc.epoch_1904
    if sc.modified:
        rf.modified = sc.modified
    if sc.external_links:
        rf.add(ErrorCode.F008)
    if not _identity(plan, book, rf, fingerprint or plan.fingerprint()):
        return rf
    rf.readable = True
    index = index or PlanIndex(plan)
    tables: dict[str, tuple[Table, list[int]]] = {}
    for sheet_name, spec in TABLE_SPECS.items():
        read = _read_sheet(index, book, sc, rf, sheet_name, spec)
        if read is not None:
            tables[sheet_name] = read
    _active_content(index, book, sc, rf, tables)
    for sheet_name in (*TABLE_SPECS, C.SHEET_SUMMARY):
        s = sc.sheets.get(sheet_name) or next((v for k, v in sc.sheets.items()
                                               if C.norm_header(k) == C.norm_header(sheet_name)), None)
        if s is not None and not s.protected and (sheet_name == C.SHEET_SUMMARY or book.sheet(sheet_name) is not None):
            rf.add(ErrorCode.T007, sheet=sheet_name)
    return rf


# ------------------------------------------------------------------ identity

def read_identity(book: RawBook) -> dict[str, Any] | None:
    sheet = book.sheet(C.SHEET_IDENTITY)
    if sheet is None:
        return None
    labels = {C.norm_header(label): fld for label, fld in C.IDENTITY_FIELDS}
    out: dict[str, Any] = {}
    for row in sheet.rows:
        if len(row) >= 2 and C.norm_header(row[0]) in labels:
            out[labels[C.norm_header(row[0])]] = row[1]
    return out


def identity_cells(book: RawBook) -> dict[str, str]:
    """field -> A1 of its value (column B) on the identity sheet."""
    sheet = book.sheet(C.SHEET_IDENTITY)
    if sheet is None:
        return {}
    labels = {C.norm_header(label): fld for label, fld in C.IDENTITY_FIELDS}
    out: dict[str, str] = {}
    for r, row in enumerate(sheet.rows, start=1):
        if len(row) >= 2 and C.norm_header(row[0]) in labels:
            out.setdefault(labels[C.norm_header(row[0])], f"B{r}")
    return out


def _identity(plan: Plan, book: RawBook, rf: ReturnFile, plan_fp: str) -> bool:
    ident = read_identity(book)
    if ident is None:
        rf.add(ErrorCode.I001)
        return False
    rf.identity = ident
    sheet = C.SHEET_IDENTITY
    cells = identity_cells(book)
    for label, fld in C.IDENTITY_FIELDS:
        if fld in ("format_version", "ente", "anno", "fase", "sector", "fingerprint") and is_blank(ident.get(fld)):
            rf.add(ErrorCode.I009, sheet=sheet, cell=cells.get(fld), value=label)
            return False
    ok = True
    sector = str(ident["sector"]).strip()
    rf.sector = sector
    version = str(ident["format_version"])
    if version.split(".")[0] != C.FORMAT_VERSION.split(".")[0]:
        rf.add(ErrorCode.I008, sheet=sheet, cell=cells.get("format_version"), found=brief(version),
               expected=C.FORMAT_VERSION)
    if str(ident["ente"]).strip() != plan.ente:
        rf.add(ErrorCode.I004, sheet=sheet, cell=cells.get("ente"), found=brief(ident["ente"]), expected=plan.ente)
        ok = False
    anno = parse_number(ident["anno"]).value
    if anno is None or int(anno) != plan.anno:
        rf.add(ErrorCode.I003, sheet=sheet, cell=cells.get("anno"), found=brief(ident["anno"]),
               expected=plan.anno)
        ok = False
    if str(ident["fase"]).strip() != plan.fase:
        rf.add(ErrorCode.I005, sheet=sheet, cell=cells.get("fase"), found=brief(ident["fase"]), expected=plan.fase)
        ok = False
    if not plan.has_sector(sector):
        rf.add(ErrorCode.I006, sheet=sheet, cell=cells.get("sector"), value=brief(sector), record=brief(sector))
        return False
    fp = str(ident["fingerprint"]).strip()
    if fp != plan_fp:
        where = {"sheet": sheet, "cell": cells.get("fingerprint"), "record": sector,
                 "found": short(fp), "expected": short(plan_fp)}
        if not ok:
            rf.add(ErrorCode.I002, **where)
        elif str(ident.get("sector_fingerprint") or "").strip() == plan.sector_fingerprint(sector):
            rf.add(ErrorCode.I010, **where)
        else:
            rf.add(ErrorCode.I002, **where)
            ok = False
    return ok


# ------------------------------------------------------------- sheets, rows

def _key_of(rec: dict[Any, Any], sheet: str) -> tuple | None:
    code = rec.get("objective")
    if is_blank(code):
        return None
    code = str(code).strip()
    if sheet == C.SHEET_OBJECTIVES:
        return (code,)
    fld = "phase" if sheet == C.SHEET_PHASES else "indicator"
    n = rec.get(fld)
    if type(n) is int:   # as the template writes it (nearly all): no parsing
        return (code, n)
    n = parse_number(n).value
    if n is None or not float(n).is_integer():
        return (code, rec.get(fld))
    return (code, int(n))


def _record_label(key: tuple, sheet: str) -> str:
    if sheet == C.SHEET_OBJECTIVES or len(key) == 1:
        return str(key[0])
    word = "fase" if sheet == C.SHEET_PHASES else "indicatore"
    return f"{key[0]} {word} {show_value(key[1])}"


def _read_sheet(index: PlanIndex, book: RawBook, sc: BookScan, rf: ReturnFile, sheet_name: str,
                spec: C.TableSpec) -> tuple[Table, list[int]] | None:
    """Read the records of one input sheet into rf.rows; returns the table and the Excel
    rows of the plan's records (None when the sheet cannot be read as a table)."""
    sheet = book.sheet(sheet_name)
    if sheet is None:
        rf.add(ErrorCode.T001, sheet=sheet_name)
        rf.rows[sheet_name] = []
        return None
    required = tuple(c.field for c in spec.columns if c.field not in ("score", "computed", "previous_2"))
    table, problems = read_table(sheet, spec, file=rf.path, required_fields=required)
    for pb in problems:  # a missing column in a return is tampering, not a plan problem
        rf.add(ErrorCode.T002, sheet=sheet.name, cell=pb.cell, column=pb.column)
    key_fields = KEYS[sheet_name]
    if any(k not in table.cols for k in key_fields):
        rf.rows[sheet_name] = []
        return None
    plan_by_key = {}
    for rec in index.rows(rf.sector, sheet_name):
        k = (rec["objective"],) if sheet_name == C.SHEET_OBJECTIVES else (rec["objective"], rec[key_fields[1]])
        plan_by_key[k] = rec
    sscan = sc.sheets.get(sheet.name)
    formulas = sscan.formulas if sscan else {}
    errors = sscan.errors if sscan else {}
    percent = sscan.percent_cells if sscan else set()
    seen: dict[tuple, int] = {}
    order: list[tuple] = []
    rows_out: list[dict[str, Any]] = []
    # per input field, once a sheet: its column letters and its keys in a row's record
    inputs = [(fld, col_letter(table.cols[fld]) if fld in table.cols else None,
               f"{fld}_cell", f"{fld}_formula", f"{fld}_error", f"{fld}_percent") for fld in INPUTS[sheet_name]]
    for rec in table.records():
        key = _key_of(rec, sheet_name)
        row = rec["xlrow"]
        if key is None:
            if any(not is_blank(rec.get(f)) for f in INPUTS[sheet_name]):
                rf.add(ErrorCode.T004, sheet=sheet.name, cell=table.cell(row, key_fields[0]), row=row,
                       record="(senza codice)")
            continue
        label = _record_label(key, sheet_name)
        if key in seen:
            rf.add(ErrorCode.T008, sheet=sheet.name, cell=table.cell(row, key_fields[0]), row=row, record=label)
            continue
        seen[key] = row
        if key not in plan_by_key:
            rf.add(ErrorCode.T004, sheet=sheet.name, cell=table.cell(row, key_fields[0]), row=row, record=label)
            continue
        order.append(key)
        planned = plan_by_key[key]
        _compare_locked(rf, table, sheet_name, rec, planned, label)
        out = {"sector": rf.sector, "file": rf.path, "xlrow": row, "record": label,
               "objective": key[0]}
        if len(key) > 1:
            out[key_fields[1]] = key[1]
        neutralised = bool(planned.get("neutralised")) if sheet_name != C.SHEET_OBJECTIVES else False
        out["neutralised"] = neutralised
        out["epoch_1904"] = rf.epoch_1904   # a date typed as a bare day number counts from 1904
        for fld, letters, k_cell, k_formula, k_error, k_percent in inputs:
            cell = f"{letters}{row}" if letters is not None else None
            out[k_cell] = cell
            value = rec.get(fld)
            if cell and cell in formulas:
                out[k_formula] = formulas[cell]
            elif cell and cell in errors:
                out[k_error] = errors[cell]
            out[k_percent] = bool(cell and cell in percent)
            out[fld] = value
        if sheet_name == C.SHEET_INDICATORS:
            out["value_type"] = planned.get("value_type")
            out["kind"] = planned.get("kind")
        rows_out.append(out)
    for key in plan_by_key:
        if key not in seen:
            rf.add(ErrorCode.T003, sheet=sheet.name, record=_record_label(key, sheet_name))
    plan_order = [k for k in plan_by_key if k in seen]
    if order != plan_order:
        rf.add(ErrorCode.T005, sheet=sheet.name)
    rf.rows[sheet_name] = rows_out
    return table, [r["xlrow"] for r in rows_out]


def _norm_text(v: Any) -> str:
    if is_blank(v):
        return ""
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if isinstance(v, (dt.date, dt.datetime)):
        return show_value(v)
    return " ".join(str(v).split())


def _same_number(a: Any, b: Any) -> bool:
    pa_, pb_ = parse_number(a), parse_number(b)
    if pa_.value is None or pb_.value is None:
        return is_blank(a) and is_blank(b)
    return abs(pa_.value - pb_.value) <= 1e-9 * max(1.0, abs(pb_.value))


def _same_date(a: Any, b: Any, epoch_1904: bool) -> bool:
    if is_blank(a) and is_blank(b):
        return True
    pa_ = parse_date(a, epoch_1904=epoch_1904)
    return pa_.ok and pa_.value == (b.date() if isinstance(b, dt.datetime) else b)


def _same_target(found: Any, planned: dict[str, Any], epoch_1904: bool) -> bool:
    vt = planned.get("value_type")
    expected = planned.get("target_value")
    if vt in ("numero", "percentuale"):
        return _same_number(found, expected)
    if vt == "data":
        return _same_date(found, expected, epoch_1904)
    if vt == "sì/no":
        p = parse_typed(found, vt)
        return p.ok and p.value == expected
    return _norm_text(found) == _norm_text(expected)


@functools.lru_cache(maxsize=4096)
def _canonical_cached(value: Any, vocab: tuple[str, ...]) -> str | None:
    return C.canonical(value, vocab)


def _canonical(value: Any, vocab: tuple[str, ...]) -> str | None:
    try:
        return _canonical_cached(value, vocab)
    except TypeError:   # an unhashable value
        return C.canonical(value, vocab)


# the types of a locked value that, equal to the plan's, need no parsing to be the same:
# any for a text compared once normalised; numbers for a weight, dates for a date (an
# equal text that is no number or date is a finding); none where the cell is compared
# with another field of the plan (target) or read through a vocabulary
_SAME_IF_EQUAL: dict[str, tuple[type, ...]] = {
    "weight": (int, float), "planned_start": (dt.date,), "planned_end": (dt.date,), "target": (),
    "kind": (), "value_type": (), "typology": ()}
_TEXT = (str, int, float)
_NUMBER = (int, float)


def _compare_locked(rf: ReturnFile, table: Table, sheet: str, rec: dict[Any, Any],
                    planned: dict[str, Any], label: str) -> None:
    for fld in C.T_LOCKED[sheet]:
        if fld not in table.cols:
            continue
        found = rec.get(fld)
        expected = planned.get(fld)
        if found == expected and type(found) is type(expected) and type(found) in _SAME_IF_EQUAL.get(fld, _TEXT):
            continue   # the cell as the template wrote it (nearly all): no parsing
        if fld == "weight" and found == expected and type(found) in _NUMBER and type(expected) in _NUMBER:
            continue   # 25 read back for the plan's 25.0
        if fld == "weight":
            same = _same_number(found, expected)
        elif fld in ("planned_start", "planned_end"):
            same = _same_date(found, expected, rf.epoch_1904)
        elif fld == "target":
            same = _same_target(found, planned, rf.epoch_1904)
            expected = planned.get("target_value")
        elif fld in ("kind", "value_type", "typology"):
            vocab = {"kind": C.TIPI_INDICATORE, "value_type": C.TIPI_VALORE, "typology": C.TIPOLOGIE}[fld]
            same = _canonical(found, vocab) == expected
        elif fld == "direction":
            same = _norm_text(found) == _norm_text(expected)
        else:
            same = _norm_text(found) == _norm_text(expected)
        if not same:
            spec = TABLE_SPECS[sheet]
            rf.add(ErrorCode.T006, sheet=table.sheet, cell=table.cell(rec["xlrow"], fld), row=rec["xlrow"],
                   column=spec.header(fld), record=label, expected=brief(expected), found=brief(found))


# ------------------------------------------------------------ active content

# The template's own computed cells: these columns of the records' rows, and on Riepilogo
# the columns from Stato on, from the first objective's row to the total's.
COMPUTED = {C.SHEET_OBJECTIVES: ("computed",), C.SHEET_INDICATORS: ("score",)}
_CELL_KEYS = {sheet: tuple(f"{fld}_cell" for fld in fields) for sheet, fields in INPUTS.items()}
SUMMARY_FIRST_COMPUTED = 4
MAX_HYPERLINKS = 20


@dataclass(frozen=True)
class _Layout:
    """Where the template writes formulas, from the generator's constants (read once)."""

    summary_cols: int
    names: frozenset[str]
    readings: str | None                 # the hidden sheet reading every input (_letture)
    reading_blocks: tuple[tuple[str, int, int], ...]   # (input sheet, first column, last column)


@functools.lru_cache(maxsize=1)
def _layout() -> _Layout:
    names = frozenset(v for k, v in vars(G).items() if k.startswith("L_") and isinstance(v, str))
    sheet = getattr(G, "SHEET_READINGS", None)
    first = getattr(G, "READ_FIRST", {})
    steps = getattr(G, "_STEPS", 0)
    block_sheet = {"objectives": C.SHEET_OBJECTIVES, "phases": C.SHEET_PHASES, "indicators": C.SHEET_INDICATORS}
    blocks = tuple((block_sheet[b], col + 1, col + steps) for b, col in first.items() if b in block_sheet)
    return _Layout(len(C.SUMMARY_HEADERS), names, sheet, blocks)


def _area(index: PlanIndex, sector: str | None, layout: _Layout) -> Area:
    """Where the template's formulas may point: its sheets, within the rows and columns
    the template fills for this settore (the Riepilogo down to its total row)."""
    n = {s: len(index.rows(sector, s)) for s in TABLE_SPECS}
    sheets = {C.SHEET_OBJECTIVES: (n[C.SHEET_OBJECTIVES] + 1, len(C.T_OBJECTIVES.columns)),
              C.SHEET_PHASES: (n[C.SHEET_PHASES] + 1, len(C.T_PHASES.columns)),
              C.SHEET_INDICATORS: (n[C.SHEET_INDICATORS] + 1, len(C.T_INDICATORS.columns)),
              C.SHEET_SUMMARY: (n[C.SHEET_OBJECTIVES] + 2, layout.summary_cols),
              C.SHEET_LISTS: (200, 26)}
    if layout.readings:
        sheets[layout.readings] = (max(n.values()) + 1, max((b[2] for b in layout.reading_blocks), default=1))
    return Area(sheets, layout.names)


def _short_formula(text: str) -> str:
    text = text.strip()
    if text.startswith("of:"):
        text = text[3:]
    text = "=" + text.lstrip("=")
    return text if len(text) <= 120 else text[:117] + "..."


def _active_content(index: PlanIndex, book: RawBook, sc: BookScan, rf: ReturnFile,
                    tables: dict[str, tuple[Table, list[int]]]) -> None:
    """Formulas outside the template's computed cells or unlike the template's, defined
    names, DDE links, macros, connections, hyperlinks and merged cells over input cells:
    each a located finding. Nothing of this is ever copied into what pegxl writes (copies
    are rebuilt from the plan), but what a settore's file would do when opened is said."""
    layout = _layout()
    summary_cols = layout.summary_cols
    area = _area(index, rf.sector, layout)
    inputs: dict[str, set[str]] = {}
    for sheet_name, rows in rf.rows.items():
        cells = inputs.setdefault(C.norm_header(sheet_name), set())
        for key in _CELL_KEYS[sheet_name]:
            cells.update([c for r in rows if (c := r.get(key))])
    computed: dict[str, set[str]] = {}
    for sheet_name, fields in COMPUTED.items():
        if sheet_name in tables:
            table, xlrows = tables[sheet_name]
            computed[C.norm_header(sheet_name)] = {c for f in fields for r in xlrows
                                                   if (c := table.cell(r, f)) is not None}
    n_obj = len(index.rows(rf.sector, C.SHEET_OBJECTIVES))
    summary = C.norm_header(C.SHEET_SUMMARY)
    readings = C.norm_header(layout.readings) if layout.readings else None
    # on the readings sheet, each input sheet's block of columns, on its records' rows
    # (column -> last row of a block holding it: one look-up per formula, thousands a file)
    reading_last: dict[int, int] = {}
    for sheet, lo, hi in layout.reading_blocks:
        last = len(index.rows(rf.sector, sheet)) + 1
        for col in range(lo, hi + 1):
            reading_last[col] = max(reading_last.get(col, 0), last)
    kind = sc.kind
    for sname, ss in sc.sheets.items():
        key = C.norm_header(sname)
        own = next((n for n in area.sheets if C.norm_header(n) == key), sname)
        own_inputs, own_computed = inputs.get(key, set()), computed.get(key, set())
        # thousands of formulas a file: the loop keeps to look-ups (a cell's row and
        # column from a cache, the verdict from formula_problem's)
        is_summary, is_readings = key == summary, key == readings
        forms = ss.formulas
        # nearly every file holds the template's formulas only: said by differences of
        # sets; the loop below, in the order of the cells, runs only to say what is not
        outside = forms.keys() - own_inputs - own_computed
        if outside and is_summary:
            outside -= _summary_cells(n_obj, summary_cols)
        if outside and is_readings:
            outside -= _reading_cells(tuple(sorted(reading_last.items())))
        if not outside and not failing(set(forms.values()), own_sheet=own, area=area, kind=kind):
            forms = {}
        for a1, text in forms.items():
            if a1 in own_inputs:
                continue   # V012, with the value it hides
            rc = _RC.get(a1) or _row_col(a1)
            row, col = rc
            allowed = a1 in own_computed or (
                is_summary and 2 <= row <= n_obj + 2 and SUMMARY_FIRST_COMPUTED <= col <= summary_cols) or (
                is_readings and 2 <= row <= reading_last.get(col, 0))
            if not allowed:
                rf.add(ErrorCode.T009, sheet=sname, cell=a1, row=row or None, at=a1,
                       value=_short_formula(text))
                continue
            why = formula_problem(text, own_sheet=own, area=area, kind=kind)
            if why:
                rf.add(ErrorCode.T010, sheet=sname, cell=a1, row=row or None, at=a1,
                       value=_short_formula(text), detail=why)
        links = list(ss.hyperlinks.items())
        for a1, target in links[:MAX_HYPERLINKS]:
            rf.add(ErrorCode.T016, sheet=sname, cell=a1, at=a1, value=target[:200])
        if ss.merged:
            _merged_inputs(book, sname, ss.merged, inputs.get(key, set()), rf)
        for a1, text in ss.rule_formulas:
            why = active_reason(text, sc.kind)
            if why:
                rf.add(ErrorCode.T018, sheet=sname, cell=a1 or None, at=a1 or "?",
                       value=_short_formula(text), detail=why)
    for base, text in sc.validation_formulas:
        why = active_reason(text, sc.kind)
        if why:
            sname, _, a1 = base.replace("$", "").rpartition(".")
            rf.add(ErrorCode.T018, sheet=sname or None, cell=a1 or None, at=a1 or "?",
                   value=_short_formula(text), detail=why)
    for name, text, plain in sc.defined_names:
        why = _name_problem(name, text, plain, sc.kind, area)
        if why == "":
            continue
        if why is None:
            rf.add(ErrorCode.T012, value=name)
        else:
            rf.add(ErrorCode.T011, value=name, detail=why)
    for what in sc.dde:
        rf.add(ErrorCode.T013, detail=what)
    if sc.active:
        rf.add(ErrorCode.T014, detail=", ".join(sc.active))
    if sc.connections:
        rf.add(ErrorCode.T015, detail=", ".join(sc.connections)[:300])


@functools.lru_cache(maxsize=64)
def _summary_cells(n_obj: int, last_col: int) -> frozenset[str]:
    """The Riepilogo's computed cells for a settore of `n_obj` objectives."""
    return frozenset(f"{col_letter(c - 1)}{r}" for c in range(SUMMARY_FIRST_COMPUTED, last_col + 1)
                     for r in range(2, n_obj + 3))


@functools.lru_cache(maxsize=64)
def _reading_cells(last_rows: tuple[tuple[int, int], ...]) -> frozenset[str]:
    """The readings sheet's formula cells: (column, last row) of each column."""
    return frozenset(f"{col_letter(c - 1)}{r}" for c, last in last_rows for r in range(2, last + 1))


_RC: dict[str, tuple[int, int]] = {}   # A1 -> (row, column), 1-based; (0, 0) for a bad reference


def _row_col(a1: str) -> tuple[int, int]:
    m = _A1.fullmatch(a1)
    rc = (int(m.group(2)), _col_number(m.group(1).encode())) if m else (0, 0)
    if len(_RC) < 1 << 16:   # the cells of the templates' sheets: bounded all the same
        _RC[a1] = rc
    return rc


def _name_problem(name: str, text: str, plain: bool, kind: str, area: Area) -> str | None:
    """"" for a name the template has (or a client's built-in print range), None for a
    harmless added name (a plain range: T012), else why it is refused (T011)."""
    is_plain = plain or plain_reference(text, kind)
    if name in area.names:
        lists = C.norm_header(C.SHEET_LISTS)
        if is_plain and lists in C.norm_header(text.replace("'", "").replace("$", "")):
            return ""
        return f"nel modello indica un elenco del foglio {C.SHEET_LISTS}, nel file «{text[:120]}»"
    if name.startswith("_xlnm.") or name.startswith("_xlfn."):
        # print titles and areas, filters (both clients), future-function stubs (Excel)
        if is_plain or text.strip() in ("", "#NAME?", "#REF!") or text.strip().startswith("#REF!"):
            return ""
        return f"contiene una formula ({text[:120]})"
    if is_plain:
        return None
    why = formula_problem(text, own_sheet="", area=area, kind=kind, computed=False)
    if why:
        return why
    return None


def _merged_inputs(book: RawBook, sname: str, merged: list[tuple[int, int, int, int]],
                   inputs: set[str], rf: ReturnFile) -> None:
    """An input cell covered by a merge (not its first cell) keeps a value nobody sees:
    pegxl would read it while the screen shows the first cell's."""
    sheet = book.sheet(sname)
    grid = sheet.rows if sheet is not None else []

    def value(r0: int, c0: int) -> Any:
        return grid[r0][c0] if r0 < len(grid) and c0 < len(grid[r0]) else None
    for a1 in sorted(inputs):
        m = _A1.fullmatch(a1)
        if not m:
            continue
        r0, c0 = int(m.group(2)) - 1, _col_number(m.group(1).encode()) - 1
        for top, left, bottom, right in merged:
            if top <= r0 <= bottom and left <= c0 <= right and (r0, c0) != (top, left):
                span = f"{cell_ref(top, left)}:{cell_ref(bottom, right)}"
                rf.add(ErrorCode.T017, sheet=sname, cell=a1, row=r0 + 1, at=a1, detail=span,
                       value=show_value(value(r0, c0)), shown=show_value(value(top, left)))
                break
