"""Is a formula found in a returned workbook one the template could have written?

Excel and LibreOffice rewrite formula text on save (separators, `$`, quoting, prefixes,
`[$Fasi.G2]` in .ods for `Fasi!G2`), so a formula is never compared with the template's
text: it is judged by rules that any honest round trip keeps and a forgery breaks --
only pure functions (no WEBSERVICE, HYPERLINK, INDIRECT, DDE, ...), no reference to
another file, only the template's sheets and names, references inside the area the
template fills, and at least one reference (a constant such as `=100` is a forged figure).
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any

# Pure worksheet functions: arithmetic, logic, text, dates, lookups within the book. What
# is not here is refused, notably what reaches outside the cell grid (WEBSERVICE,
# FILTERXML, HYPERLINK, RTD, DDE, CALL, REGISTER, INFO, IMAGE, CUBE*) or builds
# references from text (INDIRECT, OFFSET), which would defeat the reference checks.
# CELL stays: the template reads CELL("format") to see a percent cell, and what it tells
# (a format, at worst the file's own path) never leaves the workbook.
SAFE_FUNCTIONS = frozenset("""
ABS ACOS AND AVERAGE AVERAGEA AVERAGEIF AVERAGEIFS CEILING CEILING.MATH CHAR CHOOSE CLEAN CODE
CONCAT CONCATENATE COS COUNT COUNTA COUNTBLANK COUNTIF COUNTIFS DATE DATEDIF DATEVALUE DAY DAYS
EDATE EOMONTH EXACT EXP FALSE FIND FIXED FLOOR FLOOR.MATH HLOOKUP HOUR IF IFERROR IFNA IFS INDEX
INT ISBLANK ISERR ISERROR ISEVEN ISLOGICAL ISNA ISNONTEXT ISNUMBER ISODD ISTEXT LARGE LEFT LEN LN
LOG LOG10 LOOKUP LOWER MATCH MAX MAXA MAXIFS MEDIAN MID MIN MINA MINIFS MINUTE MOD MONTH N NA
NETWORKDAYS NOT NOW NUMBERVALUE OR PI POWER PRODUCT PROPER QUOTIENT REPLACE REPT RIGHT ROUND
ROUNDDOWN ROUNDUP SEARCH SECOND SIGN SIN SMALL SQRT SUBSTITUTE SUM SUMIF SUMIFS SUMPRODUCT
SWITCH T TAN TEXT TEXTJOIN TIME TODAY TRIM TRUE TRUNC UPPER VALUE VLOOKUP WEEKDAY WORKDAY XOR
XLOOKUP YEAR ISREF ISFORMULA ROW COLUMN ROWS COLUMNS SINGLE ANCHORARRAY UNICHAR UNICODE CELL
""".split())

# prefixes the two clients put before newer or foreign function names
_PREFIXES = ("_XLFN._XLWS.", "_XLFN.", "_XLWS.", "COM.MICROSOFT.", "ORG.OPENOFFICE.",
             "ORG.LIBREOFFICE.")

_STRING = re.compile(r'"(?:[^"]|"")*"')
_FUNC = re.compile(r"([A-Za-z_][A-Za-z0-9_.]*)\s*\(")
# xlsx: Sheet!A1, 'Sheet name'!$A$1:$B$2, [1]Sheet!A1 (another file)
_XLSX_SHEET = re.compile(r"(?:'((?:[^']|'')+)'|([A-Za-z_À-ÿ][\w.À-ÿ]*))!")
_XLSX_QUALIFIED = re.compile(
    r"(?:'((?:[^']|'')+)'|([A-Za-z_À-ÿ][\w.À-ÿ]*))!\$?([A-Z]{1,3})\$?([0-9]{1,7})"
    r"(?::\$?([A-Z]{1,3})\$?([0-9]{1,7}))?")
_ERROR_LITERAL = re.compile(r"#(?:N/A|NULL!|DIV/0!|VALUE!|REF!|NAME\?|NUM!|GETTING_DATA)", re.I)
_CELL = re.compile(r"(?<![A-Za-z0-9_.])\$?([A-Z]{1,3})\$?([0-9]{1,7})(?![A-Za-z0-9_(])")
_IDENT = re.compile(r"(?<![A-Za-z0-9_.$!'])([A-Za-z_\\][A-Za-z0-9_.]*)(?![A-Za-z0-9_.(!'])")
# ods: [.A1], [$Fasi.G2], [.L2:.L3], [$'Sheet name'.A1], ['file:///x.ods'#$S.A1]
_ODS_OPERATOR = re.compile(r"(?<![A-Za-z0-9_.])(?:[A-Za-z]+(?:-[A-Za-z]+)+|between)\s*\(", re.I)
_ODS_REF = re.compile(r"\[([^\]]*)\]")
_ODS_PART = re.compile(r"(?:\$?(?:'((?:[^']|'')+)'|([^.\[\]':$]+)))?\.\$?([A-Z]{1,3})\$?([0-9]{1,7})")


@dataclass
class Area:
    """What a formula may refer to: the template's sheets, each with its last row and
    column (1-based), and the template's defined names."""

    sheets: dict[str, tuple[int, int]] = field(default_factory=dict)
    names: frozenset[str] = frozenset()

    def sheet(self, name: str) -> tuple[int, int] | None:
        key = name.casefold()
        for n, lim in self.sheets.items():
            if n.casefold() == key:
                return lim
        return None

    @functools.cached_property
    def _folded(self) -> dict[str, tuple[int, int]]:
        # the first sheet of each folded name, as `sheet` finds it
        out: dict[str, tuple[int, int]] = {}
        for n, lim in self.sheets.items():
            out.setdefault(n.casefold(), lim)
        return out

    @functools.cached_property
    def _upper_names(self) -> frozenset[str]:
        return frozenset(n.upper() for n in self.names)

    @functools.cached_property
    def _shape(self) -> int:
        """A number for these sheets, limits and names: files of settori of the same size
        share their verdicts."""
        return _AREA_SHAPES.setdefault((tuple(self.sheets.items()), self.names), len(_AREA_SHAPES))


_AREA_SHAPES: dict[tuple[Any, ...], int] = {}
_VERDICTS: dict[tuple[Any, ...], str | None] = {}
# the caches of formula_problem, failing and _parsed are bounded low: a return's formulas
# embed its own pesi, so every file brings texts no other file has (a dozen in a thousand),
# and a reader process that kept them would grow with every file it reads
_VERDICTS_MAX = 1 << 12


@functools.lru_cache(maxsize=1024)
def function_name(name: str) -> str:
    up = name.upper()
    for p in _PREFIXES:
        if up.startswith(p):
            return up[len(p):]
    return up


def _unsafe_call(bare: str) -> str | None:
    """Why a formula body (strings blanked) calls outside the workbook: a DDE link or a
    function outside the whitelist; None when it does neither."""
    if "|" in bare:
        return "collegamento DDE a un altro programma"
    for name in dict.fromkeys(_FUNC.findall(bare)):   # a name once, in the order of the text
        fn = function_name(name)
        if fn not in SAFE_FUNCTIONS:
            return f"funzione {fn} non ammessa"
    return None


def _col(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n


def formula_problem(text: str, *, own_sheet: str, area: Area, kind: str = "xlsx",
                    computed: bool = True) -> str | None:
    """Why `text` (a formula as stored, with or without `=` / `of:=`) is not one the
    template writes, in Italian; None when it passes. `computed`: the formula sits in a
    computed cell, so it must read some cell (a constant there is a forged figure).

    The text is parsed once (`_parsed`, cached: a thousand returns of one plan repeat the
    same formulas row by row); only its references are then checked against `area`, once
    for every area of the same shape."""
    key = (text, own_sheet, kind, computed, area._shape)
    if key in _VERDICTS:
        return _VERDICTS[key]
    why = _verdict(text, own_sheet, area, kind, computed)
    if len(_VERDICTS) >= _VERDICTS_MAX:
        _VERDICTS.clear()
    _VERDICTS[key] = why
    return why


_PASSED: dict[tuple[Any, ...], set[str]] = {}
_PASSED_MAX = 1 << 11   # texts kept for one sheet, kind and shape beyond those of the last file
_PASSED_ALL = 1 << 13   # for every sheet, kind and shape together (settori of many sizes)


def failing(texts: set[str], *, own_sheet: str, area: Area, kind: str = "xlsx",
            computed: bool = True) -> set[str]:
    """The texts of `texts` that `formula_problem` refuses. The texts that pass are
    remembered for this sheet, kind and shape of area, so that a file whose formulas
    are all the template's (nearly all: thousands a file) is checked by one difference
    of sets. Past _PASSED_MAX texts, those of this file only are kept: the template's,
    which the next file has too, stay; those of the files before go. Past _PASSED_ALL,
    those of the other sheets, kinds and shapes go."""
    key = (own_sheet, kind, computed, area._shape)
    passed = _PASSED.setdefault(key, set())
    todo = texts - passed
    bad: set[str] = set()
    if not todo:
        return bad
    if len(passed) + len(todo) > _PASSED_MAX:
        passed &= texts
    if sum(len(v) for v in _PASSED.values()) + len(todo) > _PASSED_ALL:
        for other in [k for k in _PASSED if k != key]:
            del _PASSED[other]
    for text in todo:
        if formula_problem(text, own_sheet=own_sheet, area=area, kind=kind, computed=computed):
            bad.add(text)
        else:
            passed.add(text)
    return bad


def _verdict(text: str, own_sheet: str, area: Area, kind: str, computed: bool) -> str | None:
    parsed = _parsed(text, own_sheet, kind)
    if parsed is None or isinstance(parsed, str):
        return parsed
    checks, names = parsed
    refs = 0
    for sheet, letters, row, counts in checks:
        lim = area._folded.get(sheet.casefold())
        if lim is None:
            return f"riferimento al foglio «{sheet}», che non è del modello"
        if letters is not None and (row > lim[0] or _col(letters) > lim[1]):
            return f"riferimento alla cella {letters}{row} del foglio «{sheet}», fuori dalla tabella"
        refs += counts
    for word in names:
        if word in area.names or word.upper() in area._upper_names:
            refs += 1
            continue
        return f"nome «{word}», che non è del modello"
    if computed and not refs:
        return "un valore fisso al posto del calcolo"
    return None


# a check of `_parsed`: (sheet, column letters, row, references it counts for) of a cell;
# letters None for a whole row or column of a sheet; a range's end counts for none
_Check = tuple[str, "str | None", int, int]


@functools.lru_cache(maxsize=1 << 11)
def _parsed(text: str, own_sheet: str, kind: str) -> str | tuple[tuple[_Check, ...], tuple[str, ...]] | None:
    """What `formula_problem` checks of `text` whatever the area: None when nothing is
    to check, why it is refused outright (a function outside the whitelist, DDE, another
    file), or the references in the order they are checked and the names it uses (TRUE
    and FALSE left out)."""
    body = text.strip()
    if body.startswith("of:"):
        body = body[3:]
    body = body.lstrip("=").strip()
    if not body:
        return None     # a shared formula's child: its master is checked where it is
    bare = _STRING.sub('""', body)
    unsafe = _unsafe_call(bare)
    if unsafe:
        return unsafe
    checks: list[_Check] = []
    if kind == "ods":
        for m in _ODS_REF.finditer(bare):
            inner = m.group(1)
            if "#" in inner or "file:" in inner.lower() or "://" in inner:
                return "riferimento a un altro file"
            sheet_now = own_sheet
            for pm in _ODS_PART.finditer(inner):
                sheet_now = (pm.group(1) or "").replace("''", "'") or pm.group(2) or sheet_now
                checks.append((sheet_now, pm.group(3), int(pm.group(4)), 1))
        rest = _ODS_REF.sub(" ", bare)
    else:
        if "[" in bare:
            return "riferimento a un altro file"
        # each pattern splits the text once: its matches' groups and, joined by blanks,
        # the text left for the next (what finditer and then sub(" ") give, in one pass)
        rest = bare
        if "!" in bare:   # the patterns of a sheet's name try every letter: only where one can be
            parts = _XLSX_QUALIFIED.split(bare)
            for quoted, plain, col, row, col2, row2, _ in zip(*[iter(parts[1:])] * 7):
                sheet = (quoted or "").replace("''", "'") or plain
                checks.append((sheet, col, int(row), 1))
                if col2:   # a range is one reference: its end is checked, not counted
                    checks.append((sheet, col2, int(row2), 0))
            rest = " ".join(parts[::7])
            if "!" in rest:
                parts = _XLSX_SHEET.split(rest)
                for quoted, plain, _ in zip(*[iter(parts[1:])] * 3):   # whole rows or columns of a sheet
                    checks.append(((quoted or "").replace("''", "'") or plain, None, 0, 1))
                rest = " ".join(parts[::3])
        parts = _CELL.split(rest)
        for col, row, _ in zip(*[iter(parts[1:])] * 3):
            checks.append((own_sheet, col, int(row), 1))
        rest = " ".join(parts[::3])
    rest = _ERROR_LITERAL.sub(" ", rest)
    names = tuple(w for m in _IDENT.finditer(rest) if function_name(w := m.group(1)) not in ("TRUE", "FALSE"))
    return tuple(checks), names


_PLAIN_REF = re.compile(
    r"^(?:(?:'(?:[^']|'')+'|[\w.À-ÿ]+)!\$?[A-Z]{0,3}\$?[0-9]{0,7}(?::\$?[A-Z]{0,3}\$?[0-9]{0,7})?,?)+$")
_PLAIN_ODS = re.compile(r"^(?:\$?(?:'(?:[^']|'')+'|[^.\[\]' ]+)?\.\$?[A-Z]{0,3}\$?[0-9]{0,7}(?::)?[ ;]?)+$")


def plain_reference(text: str, kind: str = "xlsx") -> bool:
    """True for a defined name that is only a reference (Sheet!$A$1:$B$2), no formula."""
    t = text.strip().lstrip("=")
    if kind == "ods":
        return bool(_PLAIN_ODS.match(t)) and "#" not in t
    return bool(_PLAIN_REF.match(t)) and "[" not in t


def active_reason(text: str, kind: str = "xlsx") -> str | None:
    """Why a formula reaches outside the cell grid (a function outside SAFE_FUNCTIONS,
    another file, DDE), whatever cell it is in; None when it does not. For formulas
    whose place is not known: conditional formats, validations, annotated copies."""
    body = text.strip()
    if body.startswith("of:"):
        body = body[3:]
    bare = _STRING.sub('""', body.lstrip("="))
    if kind == "ods":
        # the operators of an ods condition: formula-is(...), cell-content-is-in-list(...), between(...)
        bare = _ODS_OPERATOR.sub("(", bare)
    unsafe = _unsafe_call(bare)
    if unsafe:
        return unsafe
    if kind == "ods":
        for m in _ODS_REF.finditer(bare):
            inner = m.group(1)
            if "#" in inner or "file:" in inner.lower() or "://" in inner:
                return "riferimento a un altro file"
    elif "[" in bare:
        return "riferimento a un altro file"
    return None
