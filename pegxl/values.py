"""Reading values as an Italian office means them: "78.622,20", "SI", "31/12/2024", "≤ 0".

Every parser returns a Parsed: the value, whether it could be read, and whether it came
from text (a warning for the caller, who knows the cell).
"""
from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

import pandas as pd

from .errors import show_value
from .workbook.contract import norm_word

YES_WORDS = frozenset({"si", "sì", "s", "fatto", "realizzato", "raggiunto", "x", "true", "vero",
                       "yes", "y", "ok", "on", "1", "concluso", "completato", "effettuato"})
NO_WORDS = frozenset({"no", "n", "non fatto", "non realizzato", "non raggiunto", "false", "falso",
                      "off", "0", "non effettuato", "non completato"})

EXCEL_EPOCH_1900 = dt.datetime(1899, 12, 30)
EXCEL_EPOCH_1904 = dt.datetime(1904, 1, 1)
MIN_DATE = dt.date(1900, 1, 1)
MAX_DATE = dt.date(2100, 12, 31)


@dataclass(frozen=True)
class Parsed:
    value: Any = None
    ok: bool = True
    from_text: bool = False      # typed as text and interpreted: warn
    percent_scaled: bool = False  # 1.0 with a percent format read as 100
    blank: bool = False
    serial: bool = False         # a date given as a bare day number (no date format): warn

    @property
    def missing(self) -> bool:
        return self.blank


BLANK = Parsed(None, True, False, False, True)
BAD = Parsed(None, False)


def is_blank(value: Any) -> bool:
    if value is None:
        return True
    kind = type(value)
    # the common cells first: a plan of 1,000 settori asks this millions of times
    if kind is str:
        return not value.strip()
    if kind is int or kind is bool or kind is dt.date or kind is dt.datetime:
        return False
    if isinstance(value, float) and math.isnan(value):
        return True
    if isinstance(value, str) and not value.strip():
        return True
    try:
        if value is pd.NaT or (not isinstance(value, (str, bytes)) and pd.isna(value) is True):
            return True
    except (TypeError, ValueError, ImportError):
        pass
    return False


_NUM_CLEAN = re.compile(r"[€$\s\u00a0\u202f']")
# a thousands group never starts with 0: "0.125" is a decimal, "1.500" fifteen hundred
_IT_THOUSANDS = re.compile(r"^[+-]?[1-9]\d{0,2}(\.\d{3})+(,\d+)?$")
_IT_DECIMAL = re.compile(r"^[+-]?\d*,\d+$|^[+-]?\d+,?$")
_PLAIN = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_EN_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")


def _number_from_text(text: str) -> float | None:
    s = _NUM_CLEAN.sub("", text.strip())
    if not s:
        return None
    if _IT_THOUSANDS.match(s):
        return float(s.replace(".", "").replace(",", "."))
    if _IT_DECIMAL.match(s):
        return float(s.replace(",", ".").rstrip("."))
    if _EN_THOUSANDS.match(s) and s.count(",") >= 1 and "." in s:
        return float(s.replace(",", ""))
    if _PLAIN.match(s):
        # "1.500" is fifteen hundred to an Italian reader, "1.5" one and a half.
        if re.match(r"^[+-]?[1-9]\d{0,2}\.\d{3}$", s):
            return float(s.replace(".", ""))
        return float(s)
    return None


def parse_number(value: Any, *, percent_format: bool = False) -> Parsed:
    """A number: real numbers pass; "78.622,20", "20.000,00 €", "64,52%" are read with from_text."""
    if is_blank(value):
        return BLANK
    if isinstance(value, bool):
        return BAD
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        v = float(value)
        if math.isinf(v) or math.isnan(v):
            return BAD
        if percent_format:
            return Parsed(v * 100, True, False, True)
        return Parsed(v, True)
    if isinstance(value, Decimal):
        return Parsed(float(value), True)
    if isinstance(value, str):
        # spaces, € and $ first, then one trailing %: the templates' formulas read text
        # the same way (templates.formulas.reading_steps), so "45 % €" is 45 in both
        text = _NUM_CLEAN.sub("", value.strip())
        if text.endswith("%"):
            text = text[:-1]
        n = _number_from_text(text)
        if n is None or not math.isfinite(n):   # "1e400" overflows to infinity: not a number typed
            return BAD
        return Parsed(n, True, True)
    return BAD


def parse_percent(value: Any, *, percent_format: bool = False) -> Parsed:
    """A 0-100 figure. A cell with a percent format holding 0.75 means 75."""
    return parse_number(value, percent_format=percent_format)


def parse_bool(value: Any) -> Parsed:
    if is_blank(value):
        return BLANK
    if isinstance(value, bool):
        return Parsed(value, True)
    if isinstance(value, (int, float)):
        if value in (0, 1):
            return Parsed(bool(value), True, True)
        return BAD
    if isinstance(value, str):
        # "si'" is how "sì" is typed without the accented key: the apostrophe is the accent
        key = norm_word(value).strip(" .!").rstrip("'`\u00b4\u2019").strip()
        if key in {norm_word(w) for w in YES_WORDS}:
            return Parsed(True, True, key not in ("si", "no"))
        if key in {norm_word(w) for w in NO_WORDS}:
            return Parsed(False, True, key not in ("si", "no"))
    return BAD


_DATE_PATTERNS = (
    (re.compile(r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})$"), "dmy"),
    (re.compile(r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{2})$"), "dmy2"),
    (re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]00:00(?::00)?)?$"), "ymd"),
)

_MONTHS = {m: i for i, m in enumerate(
    ["gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno", "luglio", "agosto",
     "settembre", "ottobre", "novembre", "dicembre"], start=1)}
_LONG_DATE = re.compile(r"^(?:entro\s+(?:il\s+)?)?(\d{1,2})\s+([a-z]+)\s+(\d{4})$")


def parse_date(value: Any, *, epoch_1904: bool = False) -> Parsed:
    """A date: date cells pass; "31/12/2024", "2024-12-31", "31 dicembre 2024" and serials read."""
    if is_blank(value):
        return BLANK
    if isinstance(value, dt.datetime):
        return _date_ok(value.date(), False)
    if isinstance(value, dt.date):
        return _date_ok(value, False)
    if hasattr(value, "to_pydatetime"):
        return _date_ok(value.to_pydatetime().date(), False)
    if isinstance(value, bool):
        return BAD
    if isinstance(value, (int, float)):
        if not (1 <= value < 2958466):
            return BAD
        base = EXCEL_EPOCH_1904 if epoch_1904 else EXCEL_EPOCH_1900
        return _date_ok((base + dt.timedelta(days=int(value))).date(), True, serial=True)
    if isinstance(value, str):
        s = value.strip()
        for pattern, kind in _DATE_PATTERNS:
            m = pattern.match(s)
            if not m:
                continue
            a, b, c = (int(x) for x in m.groups())
            try:
                if kind == "ymd":
                    d = dt.date(a, b, c)
                elif kind == "dmy":
                    d = dt.date(c, b, a)
                else:
                    d = dt.date(2000 + c, b, a)
            except ValueError:
                return BAD
            return _date_ok(d, True)
        m = _LONG_DATE.match(norm_word(s))
        if m and m.group(2) in _MONTHS:
            try:
                return _date_ok(dt.date(int(m.group(3)), _MONTHS[m.group(2)], int(m.group(1))), True)
            except ValueError:
                return BAD
    return BAD


def _date_ok(d: dt.date, from_text: bool, serial: bool = False) -> Parsed:
    if not (MIN_DATE <= d <= MAX_DATE):
        return BAD
    return Parsed(d, True, from_text, serial=serial)


_TARGET_DIRECTION = re.compile(r"^\s*(>=|<=|≥|≤|=>|=<|>|<|=)\s*(.+)$")


def split_direction(text: Any) -> tuple[str | None, Any]:
    """'>15' -> ('>=', '15'); '≤ 0' -> ('<=', '0'); anything else -> (None, text)."""
    if not isinstance(text, str):
        return None, text
    m = _TARGET_DIRECTION.match(text)
    if not m:
        return None, text
    op = {"≥": ">=", "=>": ">=", ">": ">=", "≤": "<=", "=<": "<=", "<": "<="}.get(m.group(1), m.group(1))
    return op, m.group(2).strip()


def parse_typed(value: Any, value_type: str, *, epoch_1904: bool = False,
                percent_format: bool = False) -> Parsed:
    """A value read by its plan Tipo valore (numero, percentuale, sì/no, data, testo)."""
    if value_type in ("numero", "percentuale"):
        p = parse_number(value, percent_format=percent_format and value_type == "percentuale")
        return p
    if value_type == "sì/no":
        return parse_bool(value)
    if value_type == "data":
        return parse_date(value, epoch_1904=epoch_1904)
    if is_blank(value):
        return BLANK
    return Parsed(value if isinstance(value, str) else show(value), True)


def exact(x: Any) -> Fraction | None:
    """The exact value of a number as it was typed: 66.665 -> 13333/200, not the binary
    66.66499999... a float holds. None for a blank, a non-number or a non-finite float.

    A float is read through its 15 significant digits: no cell holds more (Excel keeps 15
    digits of what is typed), and any decimal of up to 15 digits comes back from its float
    unchanged; float noise from reading (0.07 * 100 = 7.000000000000001) goes with them.
    """
    if type(x) is float:        # the common case first: a cell's number
        r = _EXACT_CACHE.get(x)
        if r is not None:
            return r
        if x != x:              # NaN: a blank cell read by pandas
            return None
    if x is None or isinstance(x, bool):
        return None
    if isinstance(x, Fraction):
        return x
    if isinstance(x, int):
        return Fraction(x)
    if isinstance(x, Decimal):
        return Fraction(x) if x.is_finite() else None
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(f):
        return None
    r = _EXACT_CACHE.get(f)
    if r is None:
        r = Fraction(int(f)) if f.is_integer() and abs(f) < 1e15 else Fraction(format(f, ".15g"))
        if len(_EXACT_CACHE) < 100_000:
            _EXACT_CACHE[f] = r
    return r


_EXACT_CACHE: dict[float, Fraction] = {}


def _half_up(v: Fraction, places: int) -> Fraction:
    scale = 10 ** places
    n = math.floor(abs(v) * scale + Fraction(1, 2))
    return Fraction(n if v >= 0 else -n, scale)


def round_half_up(x: Any, places: int = 2) -> float | None:
    """Display rounding, half-up (away from zero) on the exact value: 99.0769... -> 99.08,
    0.125 -> 0.13, 66.665 -> 66.67 (not banker's, not the binary 66.66499...).

    A Fraction or Decimal is rounded exactly. A float is taken as the shortest decimal
    that gives it back (its repr): for the figures of pegxl.scoring (see figure_float)
    that is the rounding of the exact figure, a guarantee.
    """
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return None
    if isinstance(x, (Fraction, Decimal, int)) and not isinstance(x, bool):
        v = Fraction(x)
    else:
        f = float(x)
        if not math.isfinite(f):
            return None
        try:   # the same exact rounding of the same decimal, a tenth of the time (C's decimal)
            return float(Decimal(repr(f)).quantize(_QUANTUM[places], context=_ROUNDING)) + 0.0   # no -0.0
        except (InvalidOperation, KeyError):   # too many digits for the context; other places
            v = Fraction(repr(f))
    return float(_half_up(v, places))


# half-up rounding of a float's decimal form (round_half_up): a context of its own, whatever
# the thread's (its precision, its traps), that refuses only what it cannot hold exactly
_ROUNDING = Context(prec=40, rounding=ROUND_HALF_UP, traps=[InvalidOperation])
_QUANTUM = {p: Decimal(1).scaleb(-p) for p in range(7)}


def figure_float(v: Fraction | None) -> float:
    """The float that stands for an exact figure: the nearest one, unless its decimal
    form would round to 2 decimals differently from the exact value (a figure within a
    hair of a half-cent, not on it), then the next float toward the right rounding. So
    round_half_up(figure_float(v)) == round_half_up(v) always, within 2 ulp of v.
    NaN for None.
    """
    if v is None:
        return math.nan
    n, d = v.numerator, v.denominator
    key = (n, d)    # not v: a Fraction's hash costs a modular inverse
    f = _FIGURE_CACHE.get(key)
    if f is not None:
        return f
    f = _figure_float(v, n, d)
    if len(_FIGURE_CACHE) < 100_000:
        _FIGURE_CACHE[key] = f
    return f


_FIGURE_CACHE: dict[tuple[int, int], float] = {}


def forget_figures() -> None:
    """Empty the caches of exact() and figure_float(): a process that has made its part of
    the work (a worker's piece of the Calcolo sheet) keeps them no longer, and they would
    otherwise fill up to their bound with the figures of every settore it has seen."""
    _EXACT_CACHE.clear()
    _FIGURE_CACHE.clear()


def _figure_float(v: Fraction, n: int, d: int) -> float:
    # int / int is correctly rounded: the same float as float(v) (numbers.Rational.__float__)
    f = n / d
    t = abs(f) * 100.0
    # far from a half-cent (the float is within 1e-12 of v at these sizes): nothing to check
    if abs(t - math.floor(t) - 0.5) > 1e-6 and abs(f) < 1e9:
        return f
    want = _half_up(v, 2)
    for _ in range(4):
        got = _half_up(Fraction(repr(f)), 2)
        if got == want:
            return f
        f = math.nextafter(f, -math.inf if got > want else math.inf)
    raise AssertionError(f"no float rounds like {v}")   # pragma: no cover


def as_float(x: Any) -> float | None:
    """`x` as a float for a cell; None for None, NaN and what is not a number."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def format_percent(x: float | None, places: int = 2) -> str:
    """'99,08%' the way the seeds print it."""
    r = round_half_up(x, places)
    if r is None:
        return ""
    return f"{r:.{places}f}".replace(".", ",") + "%"


def format_number(x: float | None, places: int = 2) -> str:
    r = round_half_up(x, places)
    if r is None:
        return ""
    s = f"{r:,.{places}f}"
    return s.replace(",", "\u0000").replace(".", ",").replace("\u0000", ".")


def show(value: Any) -> str:
    return show_value(value)


def key_part(v: Any) -> Any:
    """A code cell as a row key: 3.0 and " 3" are 3, text is trimmed (Excel retypes codes)."""
    if v is None:
        return None
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str):
        s = v.strip()
        return int(s) if s.isdigit() else s
    return v


SLUG_MAX = 40


def slugify(text: Any, max_len: int = SLUG_MAX) -> str:
    """'Servizi Sociali & Welfare' -> 'servizi-sociali-welfare' (ASCII, for file names)."""
    raw = unicodedata.normalize("NFKD", str(text or "")).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", raw.lower()).strip("-")
    if len(slug) > max_len:
        cut = slug[:max_len]
        # cut at a word boundary when one is not too far back
        slug = cut.rsplit("-", 1)[0] if "-" in cut[max_len // 2:] else cut
    return slug.strip("-") or "settore"


def safe_code(code: str) -> str:
    # P024 only warns about codes unfit for file names: the file name must still be valid.
    return re.sub(r"[^A-Za-z0-9_.\-]+", "-", code).strip("-.") or "settore"
