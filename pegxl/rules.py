"""The scoring parameters (Regole sheet), with the defaults of scoring.md."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any

from .errors import ErrorCode
from .values import exact, parse_bool, parse_number
from .workbook.contract import RULE_ROWS, norm_word  # noqa: F401 (RULE_ROWS: the Regole sheet, re-exported)

DEFAULT_BANDS: tuple[tuple[str, float], ...] = (("A", 90.0), ("B", 75.0), ("C", 60.0), ("D", 0.0))

# The band of a percentage below every band's lower bound (a band set starting above 0).
NO_BAND = "nessuna fascia"


def _rule_exact(x: float) -> Fraction:
    """exact() of a rule's number: always finite (rules_from_mapping refuses the others)."""
    e = exact(x)
    if e is None:
        raise ValueError(f"regola non numerica: {x!r}")
    return e


@dataclass(frozen=True)
class Rules:
    cap: float = 100.0                       # Tetto indicatore
    lower_formula: str = "rapporto"          # Formula verso <=: rapporto | scostamento
    late_zero: bool = True                   # Ritardo azzera
    late_penalty: float = 0.0                # Penalità giorni ritardo (points per day)
    phases_weight: float = 50.0              # Peso fasi
    indicators_weight: float = 50.0          # Peso indicatori
    deviation_threshold: float = 10.0        # Scarto segnalato
    minimum: float = 0.0                     # Soglia minima
    bands: tuple[tuple[str, float], ...] = field(default=DEFAULT_BANDS)  # highest bound first

    def band(self, percentage: Any) -> str | None:
        """The highest band whose lower bound the percentage reaches, compared exactly
        (89.995 is in B although it shows 90,00); NO_BAND below every band; None for
        None (nothing assessed)."""
        p = exact(percentage)
        if p is None:
            return None
        for label, bound in self.bands:
            if p >= _rule_exact(bound):
                return label
        return NO_BAND

    def as_rows(self) -> list[tuple[str, Any]]:
        """The rules in force, as (name, value) written in outputs."""
        rows: list[tuple[str, Any]] = [
            ("Tetto indicatore", self.cap),
            ("Formula verso <=", self.lower_formula),
            ("Ritardo azzera", "sì" if self.late_zero else "no"),
            ("Penalità giorni ritardo", self.late_penalty),
            ("Peso fasi", self.phases_weight),
            ("Peso indicatori", self.indicators_weight),
            ("Scarto segnalato", self.deviation_threshold),
            ("Soglia minima", self.minimum),
        ]
        rows += [(f"Fascia {label}", bound) for label, bound in self.bands]
        return rows


_FIELDS = {
    "tetto indicatore": ("cap", "number"),
    "formula verso <=": ("lower_formula", "formula"),
    "ritardo azzera": ("late_zero", "bool"),
    "penalita giorni ritardo": ("late_penalty", "number"),
    "peso fasi": ("phases_weight", "number"),
    "peso indicatori": ("indicators_weight", "number"),
    "scarto segnalato": ("deviation_threshold", "number"),
    "soglia minima": ("minimum", "number"),
}


def rules_from_mapping(items: list[tuple[str, Any]]) -> tuple[Rules, list[tuple[int, str | ErrorCode, str, str]]]:
    """Rules from (name, value) pairs in sheet order; every row not given keeps its default.

    Returns the rules and a list of problems (index, kind, name, detail) where kind is
    'invalid', 'unknown', or the ErrorCode member to report (P035 a Peso fasi /
    Peso indicatori pair not summing to 100, P036 a Tetto below 100, P037 bands whose
    lowest bound is above 0); the caller turns them into located findings.
    """
    rules = Rules()
    problems: list[tuple[int, str | ErrorCode, str, str]] = []
    bands: dict[str, tuple[str, float]] = {label.upper(): (label, b) for label, b in DEFAULT_BANDS}
    given: dict[str, int] = {}
    for i, (name, raw) in enumerate(items):
        key = norm_word(name)
        if key.startswith("fascia "):
            label = str(name).split(None, 1)[1].strip()
            p = parse_number(raw)
            if not p.ok or p.value is None or not (0 <= p.value <= 100):
                problems.append((i, "invalid", str(name), "serve un numero tra 0 e 100"))
                continue
            # a default band keeps its label as the plan writes it
            bands[label.upper()] = (label, p.value)
            given[f"fascia {label.upper()}"] = i
            continue
        if key not in _FIELDS:
            problems.append((i, "unknown", str(name), ""))
            continue
        attr, kind = _FIELDS[key]
        if kind == "number":
            p = parse_number(raw)
            if not p.ok or p.value is None or p.value < 0:
                problems.append((i, "invalid", str(name), "serve un numero non negativo"))
                continue
            if attr in ("cap", "minimum", "deviation_threshold") and p.value > 1000:
                problems.append((i, "invalid", str(name), "valore troppo grande"))
                continue
            if attr in ("phases_weight", "indicators_weight") and p.value > 100:
                problems.append((i, "invalid", str(name), "serve un numero tra 0 e 100"))
                continue
            if attr == "cap" and p.value < 100:
                problems.append((i, ErrorCode.P036, str(name), ""))
                continue
            rules = replace(rules, **{attr: p.value})
            given[attr] = i
        elif kind == "bool":
            p = parse_bool(raw)
            if not p.ok or p.value is None:
                problems.append((i, "invalid", str(name), "serve «sì» o «no»"))
                continue
            rules = replace(rules, late_zero=p.value)
        else:
            word = norm_word(raw)
            if word not in ("rapporto", "scostamento"):
                problems.append((i, "invalid", str(name), "serve «rapporto» o «scostamento»"))
                continue
            rules = replace(rules, lower_formula=word)
    ordered = tuple(sorted(bands.values(), key=lambda kv: -kv[1]))
    rules = replace(rules, bands=ordered)
    if ordered[-1][1] > 0:
        rows = [i for k, i in given.items() if k.startswith("fascia ")]
        problems.append((max(rows) if rows else -1, ErrorCode.P037, f"Fascia {ordered[-1][0]}",
                         str(ordered[-1][1])))
    rules, problems = _weights_pair(rules, given, problems)
    return rules, problems


def _weights_pair(rules: Rules, given: dict[str, int],
                  problems: list[tuple[int, str | ErrorCode, str, str]]) -> tuple[Rules, list[tuple[int, str | ErrorCode, str, str]]]:
    """Peso fasi + Peso indicatori = 100: one given takes 100 minus it for the other."""
    pf, pi = given.get("phases_weight"), given.get("indicators_weight")
    if pf is not None and pi is None:
        return replace(rules, indicators_weight=float(100 - _rule_exact(rules.phases_weight))), problems
    if pi is not None and pf is None:
        return replace(rules, phases_weight=float(100 - _rule_exact(rules.indicators_weight))), problems
    if pf is not None and pi is not None:
        if _rule_exact(rules.phases_weight) + _rule_exact(rules.indicators_weight) != 100:
            found = _rule_exact(rules.phases_weight) + _rule_exact(rules.indicators_weight)
            problems.append((max(pf, pi), ErrorCode.P035, "Peso indicatori", str(float(found))))
            rules = replace(rules, phases_weight=50.0, indicators_weight=50.0)
    return rules, problems
