"""Reading values the Italian way (values.py): numbers, sì/no, dates, signs, display rounding."""
from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

import pytest

from pegxl.values import (format_number, format_percent, is_blank, parse_bool, parse_date,
                          parse_number, parse_percent, parse_typed, round_half_up, split_direction)

D = dt.date


# ------------------------------------------------------------------------------ numbers

@pytest.mark.parametrize("text,value", [
    ("50,00", 50.0),
    ("78.622,20", 78622.2),
    ("20.000,00 €", 20000.0),
    ("€ 1.000", 1000.0),
    ("64,52%", 64.52),
    ("45 % €", 45.0),             # spaces and € go before the trailing %, as in the templates' formulas
    ("-1.234,5 %", -1234.5),
    ("100 %", 100.0),
    ("1.500", 1500.0),            # an Italian reader's fifteen hundred
    ("1.234.567", 1234567.0),
    ("1.5", 1.5),                 # not a thousands group: one and a half
    ("12.5", 12.5),
    ("0.125", 0.125),             # a group starting with 0 is never thousands
    ("0.500", 0.5),
    ("1,5", 1.5),
    ("-3,5", -3.5),
    ("+1.500", 1500.0),
    ("1,234.56", 1234.56),        # English thousands with a decimal point
    ("  42 ", 42.0),
    ("1\u00a0000,50", 1000.5),    # non-breaking space as thousands separator
])
def test_parse_number_from_text(text, value):
    p = parse_number(text)
    assert p.ok and p.from_text and not p.blank
    assert p.value == pytest.approx(value)


@pytest.mark.parametrize("text", ["abc", "12 mesi", "1,2,3", "0.125,5", "--1", "%", "n.d.",
                                  "1e400", "-1e999"])   # overflows to infinity: not a number
def test_parse_number_rejects_non_numbers(text):
    p = parse_number(text)
    assert not p.ok and p.value is None


@pytest.mark.parametrize("value", [True, False, float("inf"), float("-inf"), object()])
def test_parse_number_rejects_odd_types(value):
    assert not parse_number(value).ok


def test_parse_number_real_numbers_pass_without_warning():
    for v, want in ((50, 50.0), (78622.2, 78622.2), (Decimal("1.25"), 1.25)):
        p = parse_number(v)
        assert p.ok and not p.from_text and p.value == want


@pytest.mark.parametrize("value", [None, "", "   ", float("nan")])
def test_parse_number_blank(value):
    p = parse_number(value)
    assert p.ok and p.blank and p.value is None
    assert is_blank(value)


def test_percent_format_scales_fractions():
    """Excel stores 75 % as 0.75 with a percent format: read as 75."""
    p = parse_percent(0.75, percent_format=True)
    assert p.value == 75 and p.percent_scaled
    assert parse_percent(75).value == 75
    assert parse_typed(1.0, "percentuale", percent_format=True).value == 100
    assert parse_typed(1.0, "numero", percent_format=True).value == 1.0   # only percentuali


# ------------------------------------------------------------------------------- sì/no

@pytest.mark.parametrize("value,expected,from_text", [
    ("SI", True, False), ("si", True, False), ("sì", True, False), ("Sì", True, False),
    ("no", False, False), ("NO", False, False),
    ("fatto", True, True), ("Realizzato", True, True), ("x", True, True), ("X", True, True),
    ("non fatto", False, True), ("Non realizzato", False, True),
    (True, True, False), (False, False, False), (1, True, True), (0, False, True),
    ("si'", True, False), ("SI'", True, False), ("si\u2019", True, False), ("si`", True, False),
])
def test_parse_bool(value, expected, from_text):
    p = parse_bool(value)
    assert p.ok and p.value is expected and p.from_text is from_text


@pytest.mark.parametrize("value", ["forse", "boh", 2, 0.5, "sì e no"])
def test_parse_bool_rejects(value):
    assert not parse_bool(value).ok


def test_parse_bool_blank():
    assert parse_bool("").blank and parse_bool(None).blank


# ------------------------------------------------------------------------------- dates

@pytest.mark.parametrize("value,expected,from_text", [
    ("31/12/2024", D(2024, 12, 31), True),
    ("1/7/2024", D(2024, 7, 1), True),
    ("31.12.2024", D(2024, 12, 31), True),
    ("31-12-24", D(2024, 12, 31), True),
    ("2024-12-31", D(2024, 12, 31), True),
    ("2024-12-31 00:00:00", D(2024, 12, 31), True),
    ("31 dicembre 2024", D(2024, 12, 31), True),
    ("31 DICEMBRE 2024", D(2024, 12, 31), True),
    ("entro il 30 giugno 2024", D(2024, 6, 30), True),
    (D(2024, 12, 31), D(2024, 12, 31), False),
    (dt.datetime(2024, 12, 31, 0, 0), D(2024, 12, 31), False),
    (45657, D(2024, 12, 31), True),          # Excel serial, 1900 date system
    (45657.75, D(2024, 12, 31), True),       # the time of day is dropped
    (45292, D(2024, 1, 1), True),
])
def test_parse_date(value, expected, from_text):
    p = parse_date(value)
    assert p.ok and p.value == expected and p.from_text is from_text


def test_parse_date_1904_epoch():
    """Excel for Mac may count days from 1904-01-01: the same day is 1462 less."""
    assert parse_date(44195, epoch_1904=True).value == D(2024, 12, 31)
    assert parse_date(45657, epoch_1904=False).value == D(2024, 12, 31)
    assert parse_date(44195).value != D(2024, 12, 31)
    assert 45657 - 44195 == 1462


def test_parse_date_pandas_timestamp():
    import pandas as pd
    assert parse_date(pd.Timestamp("2024-12-31")).value == D(2024, 12, 31)
    assert parse_date(pd.NaT).blank


@pytest.mark.parametrize("value", [
    "31/02/2024",     # no such day
    "29/02/2023",     # not a leap year
    "2024-13-01",
    "31/12/1899",     # before 1900: a typo
    "01/01/2101",     # after 2100: a typo
    "1 gennaio 2201",
    "12/31/2024",     # US order: month 31
    "domani", "31 dicembr 2024", "2024", True,
    0, -1, 3.0e7,     # serials outside 1900-2100
])
def test_parse_date_rejects(value):
    p = parse_date(value)
    assert not p.ok and p.value is None


def test_parse_date_limits_are_inclusive():
    assert parse_date("01/01/1900").value == D(1900, 1, 1)
    assert parse_date("31/12/2100").value == D(2100, 12, 31)


# ------------------------------------------------------------------------- signs in targets

@pytest.mark.parametrize("text,expected", [
    (">15", (">=", "15")),
    (">= 15", (">=", "15")),
    ("≥15", (">=", "15")),
    ("=> 3", (">=", "3")),
    ("≤ 0", ("<=", "0")),
    ("< 5,5", ("<=", "5,5")),
    ("=<10", ("<=", "10")),
    ("= 1", ("=", "1")),
    ("15", (None, "15")),
    ("", (None, "")),
])
def test_split_direction(text, expected):
    assert split_direction(text) == expected


def test_split_direction_leaves_non_text_alone():
    assert split_direction(15) == (None, 15)
    d = D(2024, 1, 1)
    assert split_direction(d) == (None, d)


@pytest.mark.parametrize("value,vtype,expected", [
    ("78.622,20", "numero", 78622.2), (80, "percentuale", 80.0), ("sì", "sì/no", True),
    ("31/12/2024", "data", D(2024, 12, 31)), ("Relazione", "testo", "Relazione"), (12, "testo", "12"),
])
def test_parse_typed(value, vtype, expected):
    p = parse_typed(value, vtype)
    assert p.ok and p.value == expected


# ---------------------------------------------------------------------------- rounding

def test_round_half_up():
    assert round_half_up(99.07692307) == 99.08
    assert round_half_up(1288 / 13) == 99.08          # the Bellusco e Mezzago example
    assert round_half_up(0.125) == 0.13               # round() would give 0.12
    assert round_half_up(2.675) == 2.68               # round() would give 2.67 (binary 2.67499...)
    assert round_half_up(-0.125) == -0.13
    assert round_half_up(1.005) == 1.01
    assert round_half_up(100) == 100.0
    assert round_half_up(0.5, 0) == 1.0 and round_half_up(2.5, 0) == 3.0
    assert round_half_up(None) is None
    assert round_half_up(math.nan) is None


def test_round_half_up_of_a_float_is_the_exact_rounding_of_its_decimal_form():
    """A float is rounded (by C's decimal) as the exact rounding of its repr as a Fraction
    gives it: at and near every half, negative, zero, huge and tiny, at any places, in a
    thread whose decimal context would trap or cut the digits."""
    import decimal
    import random
    from fractions import Fraction

    from pegxl.values import _half_up

    def exact(f: float, places: int) -> float:
        return float(_half_up(Fraction(repr(f)), places))
    rng = random.Random(7)
    floats = [66.665, 0.125, 1.005, 2.675, -2.675, -0.005, 0.0, -0.0, 1e30, 1e-30, 123456789.125, 5e-324,
              1.7976931348623157e308, -1e40]
    floats += [rng.randrange(-10 ** 6, 10 ** 6) / 1000 + rng.choice([0, 5e-4, -5e-4]) for _ in range(3000)]
    floats += [rng.uniform(-1, 1) * 10 ** rng.randrange(-20, 45) for _ in range(3000)]
    with decimal.localcontext(decimal.Context(prec=5, traps=[decimal.Inexact, decimal.Rounded])):
        for f in floats:
            for places in (0, 1, 2, 3, 9):
                got = round_half_up(f, places)
                assert repr(got) == repr(exact(f, places)), (f, places)


def test_format_percent():
    assert format_percent(1288 / 13) == "99,08%"
    assert format_percent(100) == "100,00%"
    assert format_percent(0) == "0,00%"
    assert format_percent(0.125) == "0,13%"
    assert format_percent(66.666666, 1) == "66,7%"
    assert format_percent(None) == ""


def test_format_number():
    assert format_number(78622.2) == "78.622,20"
    assert format_number(1234567.891) == "1.234.567,89"
    assert format_number(None) == ""


def test_show_value_never_fails_on_a_non_finite_float():
    from pegxl.errors import show_value
    assert show_value(float("inf")) == "inf" and show_value(float("nan")) == "nan"


# ------------------------------------------ exact display rounding (scoring.md, issue 10)

from decimal import ROUND_HALF_UP
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from pegxl.values import exact, figure_float


def test_half_cents_round_up_although_binary_floats_fall_short():
    assert repr(0.5 * 33.33 + 0.5 * 100) == "66.66499999999999"     # the float the sum gives
    assert round_half_up(Fraction(13333, 200)) == 66.67 and format_percent(66.665) == "66,67%"
    assert format_percent(53.975) == "53,98%" and format_number(Fraction(10795, 200)) == "53,98"
    assert round_half_up(Decimal("89.995")) == 90.0


def test_exact_reads_the_number_as_typed():
    assert exact(66.665) == Fraction(13333, 200)
    assert exact(0.07 * 100) == 7                      # reading noise goes with the 15 digits
    assert exact(78622.2) == Fraction(786222, 10)
    assert exact(None) is None and exact(True) is None and exact(math.nan) is None
    assert exact("12") is not None and exact("dodici") is None


_typed = st.decimals(min_value=-1000, max_value=1000, places=4, allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(_typed)
def test_property_round_half_up_of_a_typed_decimal_is_exact(d):
    """A number typed with up to 15 digits rounds as its decimal does, whatever its float."""
    want = float(d.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
    assert round_half_up(float(d)) == want
    assert round_half_up(exact(float(d))) == want


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=-10 ** 12, max_value=10 ** 12), st.integers(min_value=1, max_value=10 ** 9))
def test_property_figure_float_rounds_like_the_exact_figure(n, d):
    v = Fraction(n, d)
    # reference: exactly on a half-cent rounds away from zero, elsewhere to the nearest cent
    twice = abs(v) * 200
    if twice.denominator == 1 and twice.numerator % 2 == 1:
        want = (abs(v) * 100 + Fraction(1, 2)).__floor__()
    else:
        want = int((abs(v) * 100).__round__())
    want = float(Fraction(want if v >= 0 else -want, 100))
    assert round_half_up(figure_float(v)) == want
    assert abs(Fraction(figure_float(v)) - v) <= abs(v) * Fraction(1, 2 ** 50) + Fraction(1, 10 ** 300)
