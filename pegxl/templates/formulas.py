"""The cells and formulas of a template: values as openpyxl wants them, the hidden _letture sheet's reading steps (an input read the way pegxl/values.py reads it), the indicator and objective formulas.

The cells are openpyxl's Cell objects, made here (_cell, _put, _formula) without
Worksheet.cell and Cell.value: the same cells with the same values, data types and number
formats, for a fraction of the time (tests/test_templates_fast.py compares the templates
with those made by openpyxl's own calls)."""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any, Sequence

from openpyxl.cell.cell import ERROR_CODES, ILLEGAL_CHARACTERS_RE, TIME_FORMATS, Cell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.styles.cell_style import StyleArray
from openpyxl.styles.numbers import BUILTIN_FORMATS_REVERSE
from openpyxl.utils import get_column_letter
from openpyxl.utils.exceptions import IllegalCharacterError

from ..plan import table_rows
from ..rules import Rules
from ..values import is_blank, round_half_up
from ..workbook import contract as C
from ..workbook import style as S
from ..workbook.contract import SHEET_READINGS

NEUTRAL_FILL = PatternFill("solid", fgColor="D9D9D9")    # grey: neutralised, not to fill
REFERENCE_FILL = PatternFill("solid", fgColor="DDEBF7")  # pale blue: the previous snapshot, not to fill
# Conditional-format fills are differential styles: Excel paints a solid dxf fill with
# its bgColor, so both colours are set (fgColor alone shows nothing, or black).
_MISSING_RGB = S.MISSING_FILL.fgColor.rgb
CF_MISSING_FILL = PatternFill("solid", fgColor=_MISSING_RGB, bgColor=_MISSING_RGB)

# Defined names of the vocabularies on the hidden _liste sheet.
L_STATO = "L_STATO"
L_SINO = "L_SINO"
L_YES = "L_PAROLE_SI"
L_NO = "L_PAROLE_NO"

MARK = "da verificare"   # a value the formulas cannot read as pegxl will: never a different number
_STEPS = 10              # columns of a reading block after its label: 9 helpers, the reading

SUMMARY_WIDTHS = (16, 40, 8, 15, 10, 13, 13, 12, 12, 10, 8, 10)
_TOP = Alignment(vertical="top")
ITALIC = Font(italic=True)
LEFT_WRAP = Alignment(horizontal="left", vertical="top", wrap_text=True)
_EXCLUDED = tuple(s.lower() for s in C.STATI_ESCLUSI)   # "rinviato", "non valutabile"


def _letters(spec: C.TableSpec) -> dict[str, str]:
    return {c.field: get_column_letter(i) for i, c in enumerate(spec.columns, start=1)}


# Column letters follow the contract's header order (the headers are the contract).
OL, FL, IL = _letters(C.T_OBJECTIVES), _letters(C.T_PHASES), _letters(C.T_INDICATORS)

# _letture: a block of 1 + _STEPS columns per input sheet (a label, the helpers, the reading)
READ_FIRST = {"objectives": 1, "phases": 13, "indicators": 25}
READ_COL = {k: get_column_letter(v + _STEPS) for k, v in READ_FIRST.items()}
READ_DECLARED = f"'{SHEET_READINGS}'!{READ_COL['objectives']}"
READ_PHASE = f"'{SHEET_READINGS}'!{READ_COL['phases']}"
READ_ACHIEVED = f"'{SHEET_READINGS}'!{READ_COL['indicators']}"

# ------------------------------------------------------------------ value helpers

def _py(v: Any) -> Any:
    """A plain Python value for openpyxl: None for blanks, no numpy scalars, dates as dates."""
    if type(v) is str:   # most plan values
        return v if v.strip() else None
    if is_blank(v):
        return None
    if hasattr(v, "to_pydatetime"):
        v = v.to_pydatetime()
    if isinstance(v, dt.datetime) and v.time() == dt.time(0):
        return v.date()
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        v = v.item()
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return int(v)
    return v


_records = table_rows   # a plan table's rows as itertuples gives them


def _num(x: float) -> str:
    """A number as a formula literal (no exponent, no locale)."""
    x = float(x)
    if x.is_integer():
        return str(int(x))
    return format(x, ".12f").rstrip("0").rstrip(".")


def _txt(x: float) -> str:
    """A number in Italian text: decimal comma, at most 2 decimals rounded half-up
    (7.5 -> "7,5"; 100 * 30 / 80 -> "37,5"). Formulas use _num."""
    r = round_half_up(float(x), 2)
    assert r is not None   # a rule's number is finite
    if float(r).is_integer():
        return str(int(r))
    return format(r, ".2f").rstrip("0").rstrip(".").replace(".", ",")


_STYLES: dict[str, dict[str, Any]] = {
    "wrap": {"alignment": S.WRAP},
    "date": {"alignment": S.WRAP, "number_format": S.DATE_FORMAT},
    "date_nowrap": {"number_format": S.DATE_FORMAT},
    "top": {"alignment": None},
    "input": {"fill": S.INPUT_FILL, "protection": S.UNLOCKED, "border": S.BORDER},
    "input_wrap": {"fill": S.INPUT_FILL, "protection": S.UNLOCKED, "border": S.BORDER, "alignment": S.WRAP},
    "input_date": {"fill": S.INPUT_FILL, "protection": S.UNLOCKED, "border": S.BORDER,
                   "number_format": S.DATE_FORMAT},
    "neutral": {"fill": NEUTRAL_FILL, "protection": S.LOCKED, "border": S.BORDER},
    "computed": {"fill": S.COMPUTED_FILL, "alignment": None, "number_format": S.PERCENT_VALUE_FORMAT},
    "computed_text": {"fill": S.COMPUTED_FILL, "alignment": None},
    # the previous snapshot's values (templates/reference.py): locked, never read back
    "reference": {"fill": REFERENCE_FILL, "alignment": S.WRAP, "border": S.BORDER},
    "reference_date": {"fill": REFERENCE_FILL, "alignment": S.WRAP, "border": S.BORDER,
                       "number_format": S.DATE_FORMAT},
}
_LOOKS = "_pegxl_looks"   # the workbook's attribute holding its cache of named styles


def _style(cell, name: str) -> None:
    """Give `cell` a named combination of styles.

    Assigning cell.fill, .alignment... hashes the style objects every time, which was most
    of the generation time; each combination is applied once per workbook and its style
    array (openpyxl's private but stable `_style`) copied to the next cells. The arrays are
    kept on the workbook itself (a look-up per cell, no weak reference)."""
    book = cell.parent._parent
    cache = book.__dict__.get(_LOOKS)
    if cache is None:
        cache = {}
        setattr(book, _LOOKS, cache)
    ids = cache.get(name)
    if ids is not None:
        cell._style = StyleArray(ids)
        return
    for attr, value in _STYLES[name].items():
        setattr(cell, attr, _TOP if value is None else value)
    cache[name] = StyleArray(cell._style)


_RESTYLED = "_pegxl_restyled"   # the workbook's attribute holding _restyle's cache


def _restyle(cell, **styles: Any) -> None:
    """`cell.<name> = value` for each of `styles`, in order: done once per workbook for each
    look a cell starts from, the resulting style array copied to the next ones (the same
    ids: the first cell registered the styles in the same order)."""
    book = cell.parent._parent
    cache = book.__dict__.get(_RESTYLED)
    if cache is None:
        cache = {}
        setattr(book, _RESTYLED, cache)
    start = cell._style.tobytes() if cell._style is not None else None
    # the values are kept with the result: their ids cannot be reused while the book lives
    key = (start, *((name, id(value)) for name, value in styles.items()))
    found = cache.get(key)
    if found is not None:
        cell._style = StyleArray(found[0])
        return
    for name, value in styles.items():
        setattr(cell, name, value)
    cache[key] = (StyleArray(cell._style), tuple(styles.values()))


# Cells are made here without openpyxl's Worksheet.cell and Cell.value: the same Cell
# objects in the same place with the same value and data type (tests/test_templates_fast.py
# compares the saved files), at a fraction of the cost of openpyxl's checks and descriptors.
_new_cell = Cell.__new__


def _cell(ws, row: int, col: int) -> Any:
    """`ws.cell(row, col)`: the cell, made (empty) if the sheet has none there."""
    c: Any = ws._cells.get((row, col))
    if c is None:
        c = _new(ws, row, col)
        if row > ws._current_row:
            ws._current_row = row
    return c


def _new(ws, row: int, col: int) -> Any:
    """An empty cell put on the sheet at (row, col) (the caller keeps ws._current_row)."""
    c: Any = _new_cell(Cell)
    c.parent = ws
    c.row = row
    c.column = col
    c._value = None
    c.data_type = "n"
    c._style = None
    c._hyperlink = None
    c._comment = None
    ws._cells[(row, col)] = c
    return c


def _bind(c: Any, value: Any) -> None:
    """`c.value = value` as openpyxl binds it: text checked for the characters a workbook
    cannot hold, "=..." a formula, "#N/A"... an error; dates and any other type through
    openpyxl itself."""
    t = type(value)
    if t is str:
        value = value[:32767]
        if ILLEGAL_CHARACTERS_RE.search(value):
            raise IllegalCharacterError(f"{value} cannot be used in worksheets.")
        c._value = value
        if len(value) > 1 and value[0] == "=":
            c.data_type = "f"
        else:
            c.data_type = "e" if value in ERROR_CODES else "s"
    elif value is None or t is int or t is float:
        c._value = value
        c.data_type = "n"
    elif t is bool:
        c._value = value
        c.data_type = "b"
    else:
        c.value = value


def _formula(ws, row: int, col: int, text: str) -> Any:
    """A cell holding one of our formulas ("=..." built from cell references and
    constants only: no text of the plan, nothing to check)."""
    c = _cell(ws, row, col)
    c._value = text
    c.data_type = "f"
    return c


def _formulas(ws, row: int, items: Sequence[tuple[int, str]]) -> None:
    """_formula(ws, row, col, text) for each (col, text) of `items`, in one go."""
    cells = ws._cells
    for col, text in items:
        c: Any = cells.get((row, col)) or _new(ws, row, col)
        c._value = text
        c.data_type = "f"
    if items and row > ws._current_row:
        ws._current_row = row


def _put(ws, row: int, col: int, value: Any, *, wrap: bool = True, formula: bool = False):
    """Write a plan value (text that looks like a formula stays text) or, with `formula`,
    one of our formulas."""
    c = _cell(ws, row, col)
    t = type(value)
    if (t is dt.date or t is dt.datetime) and c._style is None:
        # what binding a date does to an unstyled cell: its default date format registered
        # (styles.xml lists it); the cell's own date style replaces it just below
        fmt = TIME_FORMATS[t]
        if fmt not in BUILTIN_FORMATS_REVERSE:
            ws.parent._number_formats.add(fmt)
        c._value = value
        c.data_type = "d"
    else:
        _bind(c, value)
    if not formula and isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        c.data_type = "s"   # plan text, never a formula
    if isinstance(value, (dt.date, dt.datetime)):
        _style(c, "date" if wrap else "date_nowrap")
    elif wrap:
        _style(c, "wrap")
    return c


def _put_row(ws, row: int, items: Sequence[tuple[int, Any]]) -> None:
    """_put(ws, row, col, value) (wrapped, never a formula) for each (col, value) of
    `items`, in one go: text, numbers and blanks here, any other value by _put."""
    cells = ws._cells
    wrap = None
    for col, value in items:
        t = type(value)
        if not (t is str or value is None or t is int or t is float):
            _put(ws, row, col, value)
            continue
        c: Any = cells.get((row, col)) or _new(ws, row, col)
        if t is str:
            text = value[:32767]
            if ILLEGAL_CHARACTERS_RE.search(text):
                raise IllegalCharacterError(f"{text} cannot be used in worksheets.")
            c._value = text
            # plan text, never a formula (what _put leaves of _bind's data types)
            c.data_type = "s" if value[:1] in ("=", "+", "-", "@") or text not in ERROR_CODES else "e"
        else:
            c._value = value
            c.data_type = "n"
        if wrap is None:
            _style(c, "wrap")
            wrap = ws._parent.__dict__[_LOOKS]["wrap"]
        else:
            c._style = StyleArray(wrap)
    if items and row > ws._current_row:
        ws._current_row = row


def _runs(rows: Sequence[int]) -> list[tuple[int, int]]:
    """[2,3,4,7,8] -> [(2,4),(7,8)]: contiguous row runs, for ranges and CF anchors."""
    out: list[tuple[int, int]] = []
    for r in sorted(rows):
        if out and r == out[-1][1] + 1:
            out[-1] = (out[-1][0], r)
        else:
            out.append((r, r))
    return out


def _sqref(letter: str, rows: Sequence[int]) -> str:
    return " ".join(f"{letter}{a}" if a == b else f"{letter}{a}:{letter}{b}" for a, b in _runs(rows))


def _serial(d: dt.date) -> int:
    return (d - dt.date(1899, 12, 30)).days


# ------------------------------------------------------------------ reading inputs
#
# One meaning for every way a value is typed, the same as pegxl.values:
#   a number                       as stored; in a percent cell (45% typed: 0.45 shown
#                                  «45%») a 0-100 figure is 45 (V015), a numero stays 0.45
#   Italian text "45,5" "78.622,20" "64,52%" " 1.500 € "
#                                  read as pegxl reads it (V007); only the forms both can
#                                  read exactly: digits, one decimal comma, dots grouping
#                                  thousands, an optional sign and one trailing %; or
#                                  digits with one point that groups nothing ("12.5")
#   a date, or "31/12/2024" "1-2-24" (day first) and "2024-12-31" as text
#   sì/no words of L_PAROLE_SI / L_PAROLE_NO, matched exactly (no wildcards), TRUE/FALSE, 1/0
# Anything else typed gives MARK ("da verificare"), which the grades and totals pass on.
# CELL("format") is "P0"/"P2"... for percent cells in Excel (MS-OI29500 2.1.896: the
# English category is accepted in every locale) and in LibreOffice; NUMBERVALUE and
# UNICHAR are Excel 2013+ functions, stored with their _xlfn. prefix.

_DIGITS = '{"0","1","2","3","4","5","6","7","8","9"}'


def _no_digits(x: str) -> str:
    for d in "0123456789":
        x = f'SUBSTITUTE({x},"{d}","")'
    return x


def reading_steps(kind: str, x: str, row: int, first: int, *, lo: float | None = None,
                  hi: float | None = None) -> list[str]:
    """The formulas of one reading block on row `row`, its first helper in column `first`:
    _STEPS helpers then the reading (a number, "" for blank, or MARK). `kind` is
    "percent" (a 0-100 figure), "number", "date" or "bool"; `x` the input cell."""
    c = [f"{get_column_letter(first + i)}{row}" for i in range(_STEPS)]
    M = f'"{MARK}"'
    steps: list[str] = [""] * _STEPS
    if kind in ("percent", "number"):
        B, Cc, D, E, F, G, H, I, J = c[:9]  # noqa: E741 - the helper cells, named by their columns
        clean = x
        for ch in ('" "', "_xlfn.UNICHAR(160)", "_xlfn.UNICHAR(8239)", "_xlfn.UNICHAR(8364)", '"$"', '"\'"'):
            clean = f'SUBSTITUTE({clean},{ch},"")'
        steps[0] = f'=IF(ISTEXT({x}),{clean},"")'
        steps[1] = f'=IF(RIGHT({B},1)="%",LEFT({B},LEN({B})-1),{B})'
        steps[2] = f'=IF(OR(LEFT({Cc},1)="-",LEFT({Cc},1)="+"),MID({Cc},2,999),{Cc})'
        steps[3] = "=" + _no_digits(D)
        steps[4] = f'=LEFT({D},FIND(",",{D}&",")-1)'
        steps[5] = f'=LEN({F})-LEN(SUBSTITUTE({F},".",""))'
        groups = ",".join(f'OR({G}<{k},MID({F},MAX(1,LEN({F})-{4 * k - 1}),1)=".")' for k in range(1, 5))
        # 1: the Italian form (dots grouping thousands, a decimal comma); 2: digits and one
        # point that is not a thousands group ("12.5", "0.125"), a decimal point as for pegxl
        italian = (f'AND(LEN({E})<LEN({D}),LEN(SUBSTITUTE(SUBSTITUTE({E},".",""),",",""))=0,'
                   f'LEN({D})-LEN(SUBSTITUTE({D},",",""))<=1,RIGHT({D},1)<>",",'
                   f'LEN({D})-LEN(SUBSTITUTE({D},".",""))={G},'
                   f'OR({G}=0,AND(LEFT({F},1)<>"0",{G}<=4,{G}=INT((LEN({F})-{G}-1)/3),{groups})))')
        steps[6] = f'=IF({italian},1,IF(AND({E}=".",LEN({D})>1),2,0))'
        sign = f'IF(LEFT({Cc},1)="-",-1,1)'
        steps[7] = (f'=IF({H}=1,{sign}*_xlfn.NUMBERVALUE("0"&SUBSTITUTE({D},".",""),",","."),'
                    f'IF({H}=2,{sign}*_xlfn.NUMBERVALUE("0"&{D},".",","),{M}))')
        num = f'IF(LEFT(CELL("format",{x}),1)="P",{x}*100,{x})' if kind == "percent" else x
        steps[8] = f'=IF(ISLOGICAL({x}),{M},IF(ISNUMBER({x}),{num},IF(LEN(TRIM({x}))=0,"",{I})))'
        if lo is None or hi is None:
            steps[9] = f"={J}"
        else:
            steps[9] = f"=IF(ISNUMBER({J}),IF(OR({J}<{_num(lo)},{J}>{_num(hi)}),{M},{J}),{J})"
    elif kind == "date":
        B, Cc, D, E, F, G, H, I, J = c[:9]  # noqa: E741 - the helper cells, named by their columns
        steps[0] = f'=SUBSTITUTE(SUBSTITUTE(TRIM({x}),".","/"),"-","/")'
        steps[1] = f'=LEFT({B},FIND("/",{B}&"/")-1)'
        steps[2] = f'=MID({B},LEN({Cc})+2,999)'
        steps[3] = f'=LEFT({D},FIND("/",{D}&"/")-1)'
        steps[4] = f'=MID({D},LEN({E})+2,999)'
        digits = f"{Cc}&{E}&{F}"
        # day first (31/12/2024, 31.12.24, 1-2-2024), or year first with dashes only (2024-12-31)
        dmy = f"AND(LEN({Cc})<=2,OR(LEN({F})=2,LEN({F})=4))"
        ymd = f'AND(LEN({Cc})=4,LEN({F})<=2,LEN(TRIM({x}))-LEN(SUBSTITUTE(TRIM({x}),"-",""))=2)'
        steps[5] = (f'=AND(LEN({B})-LEN(SUBSTITUTE({B},"/",""))=2,LEN({Cc})>=1,LEN({E})>=1,LEN({E})<=2,'
                    f'LEN({F})>=1,OR({dmy},{ymd}),'
                    f'SUMPRODUCT(LEN({digits})-LEN(SUBSTITUTE({digits},{_DIGITS},"")))=LEN({digits}))')
        steps[6] = (f'=IF({G},IF(LEN({Cc})=4,DATE(--{Cc},--{E},--{F}),'
                    f'DATE(IF(LEN({F})=2,2000,0)+{F},--{E},--{Cc})),{M})')
        steps[7] = (f'=IF(ISNUMBER({H}),IF(AND(DAY({H})=--IF(LEN({Cc})=4,{F},{Cc}),MONTH({H})=--{E}),{H},{M}),{M})')
        steps[8] = f'=IF(ISLOGICAL({x}),{M},IF(ISNUMBER({x}),INT({x}),IF(LEN(TRIM({x}))=0,"",{I})))'
        steps[9] = f"=IF(ISNUMBER({J}),IF(OR({J}<DATE(1900,3,1),{J}>DATE(2100,12,31)),{M},{J}),{J})"
    elif kind == "bool":
        B, Cc, D, E = c[:4]
        J = c[8]
        steps[0] = f"=LOWER(TRIM({x}))"
        ends = ",".join(f"RIGHT({B},1)={q}" for q in ('"."', '"!"', '"\'"', '"`"', "_xlfn.UNICHAR(180)",
                                                      "_xlfn.UNICHAR(8217)"))
        steps[1] = f"=IF(OR({ends}),TRIM(LEFT({B},LEN({B})-1)),{B})"
        steps[2] = f"=SUMPRODUCT(--EXACT({Cc},{L_YES}))"
        steps[3] = f"=SUMPRODUCT(--EXACT({Cc},{L_NO}))"
        steps[8] = (f'=IF(ISLOGICAL({x}),IF({x},1,0),IF(ISNUMBER({x}),IF({x}=1,1,IF({x}=0,0,{M})),'
                    f'IF(LEN(TRIM({x}))=0,"",IF({D}>0,1,IF({E}>0,0,{M})))))')
        steps[9] = f"={J}"
    else:
        raise ValueError(kind)
    reading = f"=IFERROR({steps[9][1:]},{M})"
    return steps[:9] + [reading]


_ROW = "1048577"   # one past Excel's last row: in no formula but as the row of a pattern
_PATTERNS: dict[tuple[Any, ...], list[str]] = {}


_ROW_READINGS: dict[tuple[Any, ...], list[tuple[int, str]]] = {}


def row_readings(kind: str, sheet: str, letter: str, row: int, first: int, *,
                 lo: float | None = None, hi: float | None = None) -> list[tuple[int, str]]:
    """The (column, formula) of the helpers and the reading of row_reading_steps (columns
    from `first`; empty steps left out), kept per row: every template of a plan has them."""
    key = (kind, sheet, letter, row, first, lo, hi)
    found = _ROW_READINGS.get(key)
    if found is None:
        if len(_ROW_READINGS) > 100_000:
            _ROW_READINGS.clear()
        found = _ROW_READINGS[key] = [(col, f) for col, f in enumerate(
            row_reading_steps(kind, sheet, letter, row, first, lo=lo, hi=hi), start=first) if f]
    return found


def row_reading_steps(kind: str, sheet: str, letter: str, row: int, first: int, *,
                      lo: float | None = None, hi: float | None = None) -> list[str]:
    """reading_steps(kind, f"{sheet}!{letter}{row}", row, first, lo=lo, hi=hi), from a
    pattern built once per block and kind with a row no cell can have, then given `row`."""
    key = (kind, sheet, letter, first, lo, hi)
    pattern = _PATTERNS.get(key)
    if pattern is None:
        pattern = _PATTERNS[key] = reading_steps(kind, f"{sheet}!{letter}{_ROW}", int(_ROW), first,
                                                 lo=lo, hi=hi)
    r = str(row)
    return [f.replace(_ROW, r) for f in pattern]


def _flag(col: str, rows: Sequence[int]) -> str | None:
    """True when one of the readings in `col` (rows of _letture) is MARK."""
    if not rows:
        return None
    return "+".join(f'COUNTIF(\'{SHEET_READINGS}\'!{col}{a}:{col}{b},"{MARK}")'
                    for a, b in _runs(rows)) + ">0"


# ------------------------------------------------------------------ formula pieces

def indicator_formula(value_type: str | None, direction: str | None, target: Any, rules: Rules,
                      a_ref: str, r_ref: str) -> str | None:
    """Raggiungimento % of one indicator as a formula (scoring.md), or None when it is not
    computed (testo, unknown target). `a_ref` is the Valore atteso cell, `r_ref` the
    reading of Valore raggiunto on _letture (a number, 1/0 for sì/no, "" or MARK: passed
    on). The branch that depends on the sign of the target is chosen here: the target
    is a locked plan value."""
    cap = _num(rules.cap)
    if value_type in ("numero", "percentuale"):
        if not isinstance(target, (int, float)) or isinstance(target, bool):
            return None
        a = float(target)
        d = direction or ">="
        A, R = a_ref, r_ref
        if d == "=":
            x = f"IF(ABS({R}-{A})<=0.000000001*MAX(1,ABS({R}),ABS({A})),100,0)"
        elif d == ">=":
            if a > 0:
                x = f"100*{R}/{A}"
            elif a == 0:
                x = f"IF({R}>=0,100,0)"
            else:
                x = f"100*(2*{A}-{R})/{A}"
        else:  # "<=": less is better
            if a == 0:
                x = f"IF({R}<=0,100,0)"
            elif a < 0:
                x = f"100*{R}/{A}"
            elif rules.lower_formula == "scostamento":
                x = f"100*(2*{A}-{R})/{A}"
            else:
                # rapporto: R <= 0 under a positive ceiling is the limit of A/R, the cap
                x = f"IF({R}>0,100*{A}/{R},{cap})"
        return f"=IF(ISNUMBER({R}),MIN({cap},MAX(0,{x})),{R})"
    if value_type == "sì/no":
        if not isinstance(target, bool):
            return None
        hit = _num(min(100.0, rules.cap))
        yes_score, no_score = (hit, "0") if target else ("0", hit)
        # the reading is 1 (yes) or 0 (no): the words were matched exactly on _letture
        return f"=IF(ISNUMBER({r_ref}),IF({r_ref}=1,{yes_score},{no_score}),{r_ref})"
    if value_type == "data":
        if not isinstance(target, dt.date):
            return None
        d = direction or "<="
        R, A = f"INT({r_ref})", a_ref
        if d == "=":
            x = f"IF({R}={A},100,0)"
        else:
            on_time = f"{R}<={A}" if d == "<=" else f"{R}>={A}"
            days = f"({R}-{A})" if d == "<=" else f"({A}-{R})"
            late = "0" if rules.late_zero else f"100-{_num(rules.late_penalty)}*{days}"
            x = f"IF({on_time},100,{late})"
        return f"=IF(ISNUMBER({r_ref}),MIN({cap},MAX(0,{x})),{r_ref})"
    return None


_READ_KIND = {"numero": "number", "percentuale": "percent", "data": "date", "sì/no": "bool"}


def _plus(terms: list[str]) -> str:
    return "+".join(terms) if terms else "0"


def _equal_weights(weights: list[float | None], active: list[bool]) -> list[float]:
    """Weights as scoring._equalise uses them: 1 each when any is missing or the active
    ones sum to 0."""
    if any(w is None or (isinstance(w, float) and math.isnan(w)) for w in weights):
        return [1.0] * len(weights)
    given = [float(w) for w in weights if w is not None]   # all of them (checked above)
    if not sum(w for w, a in zip(given, active) if a) > 0:
        return [1.0] * len(weights)
    return given


@dataclass
class _Obj:
    """What the formulas of one objective need, gathered while writing the rows."""
    code: str
    title: str
    weight: float | None
    row: int = 0                                              # row on Obiettivi
    phases: list[tuple[int, float | None, bool]] = field(default_factory=list)  # (row, peso, neutralised)
    indicators: list[tuple[int, float | None, bool, bool, bool]] = field(default_factory=list)
    # (row, peso, eligible: not CONTESTO, scored: has a formula, neutralised)

    def phase_expr(self) -> tuple[str | None, str | None]:
        """(Realizzazione fasi % expression, Somma pesi fasi expression) or (None, None)."""
        active = [(r, w) for r, w, neu in self.phases if not neu]
        if not active:
            return None, None
        total = _plus([f"Fasi!{FL['weight']}{r}" for r, _ in active])
        weights = [w for _, w, _ in self.phases]
        given = all(w is not None for w in weights) and sum(w for _, w in active if w is not None) > 0
        if given:
            # The locked Peso cells, rescaled by the sum of the active ones (neutralised left out)
            num = _plus([f"Fasi!{FL['weight']}{r}*N({READ_PHASE}{r})" for r, _ in active])
            return f"({num})/({total})", total
        num = _plus([f"N({READ_PHASE}{r})" for r, _ in active])
        return f"({num})/{len(active)}", total

    def indicator_parts(self) -> tuple[str, str] | None:
        """(numerator, denominator) of the weighted mean of the scored indicators."""
        eligible = [(r, w, scored) for r, w, elig, scored, _ in self.indicators if elig]
        scored = [(r, w) for r, w, s in eligible if s]
        if not scored:
            return None
        weights = _equal_weights([w for _, w, _ in eligible], [s for _, _, s in eligible])
        wmap = {r: w for (r, _, _), w in zip(eligible, weights)}
        num = _plus([("" if wmap[r] == 1 else f"{_num(wmap[r])}*") + f"N(Indicatori!{IL['score']}{r})"
                     for r, _ in scored])
        den = _plus([f"IF(ISNUMBER(Indicatori!{IL['score']}{r}),{_num(wmap[r])},0)" for r, _ in scored])
        return num, den

    def phase_flag(self) -> str | None:
        """True when an active phase's Avanzamento reads "da verificare"."""
        return _flag(READ_COL["phases"], [r for r, _, neu in self.phases if not neu])

    def indicator_flag(self) -> str | None:
        """True when a scored indicator's Valore raggiunto reads "da verificare"."""
        return _flag(READ_COL["indicators"],
                     [r for r, _, elig, scored, neu in self.indicators if elig and scored and not neu])

    @property
    def all_neutralised(self) -> bool:
        """Every phase and every non-CONTESTO indicator neutralised: Non valutabile."""
        items = [n for _, _, n in self.phases] + [n for _, _, elig, _, n in self.indicators if elig]
        return bool(items) and all(items)
