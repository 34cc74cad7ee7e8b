"""The scoring parameters (Regole sheet), with the defaults of scoring.md."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from .values import parse_bool, parse_number
from .workbook.contract import norm_word

# (name as written in the Regole sheet, default as written, Italian description)
RULE_ROWS: tuple[tuple[str, Any, str], ...] = (
    ("Tetto indicatore", 100, "Punteggio massimo di un indicatore (un risultato oltre il valore atteso non supera questo tetto)."),
    ("Formula verso <=", "rapporto", "Indicatori «meno è meglio» oltre il valore atteso: «rapporto» = 100 × atteso / raggiunto; «scostamento» = 100 × (2 × atteso − raggiunto) / atteso, mai sotto 0."),
    ("Ritardo azzera", "sì", "Indicatori a scadenza: «sì» = una consegna in ritardo vale 0; «no» = si applica la penalità per giorno di ritardo."),
    ("Penalità giorni ritardo", 0, "Punti tolti per ogni giorno di ritardo quando Ritardo azzera è «no» (mai sotto 0)."),
    ("Peso fasi", 50, "Peso della realizzazione delle fasi nel grado calcolato dell'obiettivo."),
    ("Peso indicatori", 50, "Peso della media degli indicatori nel grado calcolato dell'obiettivo."),
    ("Scarto segnalato", 10, "Punti di differenza tra grado dichiarato e calcolato oltre i quali serve una Motivazione scostamento."),
    ("Soglia minima", 0, "Un grado sotto questa soglia conta 0 nelle medie."),
    ("Fascia A", 90, "Limite inferiore della fascia A."),
    ("Fascia B", 75, "Limite inferiore della fascia B."),
    ("Fascia C", 60, "Limite inferiore della fascia C."),
    ("Fascia D", 0, "Limite inferiore della fascia D."),
)

DEFAULT_BANDS: tuple[tuple[str, float], ...] = (("A", 90.0), ("B", 75.0), ("C", 60.0), ("D", 0.0))


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

    def band(self, percentage: float | None) -> str | None:
        if percentage is None:
            return None
        for label, bound in self.bands:
            if percentage >= bound - 1e-9:
                return label
        return None

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


def rules_from_mapping(items: list[tuple[str, Any]]) -> tuple[Rules, list[tuple[int, str, str, str]]]:
    """Rules from (name, value) pairs in sheet order.

    Returns the rules and a list of problems (index, kind, name, detail) where kind is
    'invalid' or 'unknown'; the caller turns them into located findings.
    """
    rules = Rules()
    problems: list[tuple[int, str, str, str]] = []
    bands: dict[str, float] = {}
    for i, (name, raw) in enumerate(items):
        key = norm_word(name)
        if key.startswith("fascia "):
            label = str(name).split(None, 1)[1].strip()
            p = parse_number(raw)
            if not p.ok or p.value is None or not (0 <= p.value <= 100):
                problems.append((i, "invalid", str(name), "serve un numero tra 0 e 100"))
                continue
            bands[label] = p.value
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
            rules = replace(rules, **{attr: p.value})
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
    if bands:
        ordered = tuple(sorted(bands.items(), key=lambda kv: -kv[1]))
        rules = replace(rules, bands=ordered)
    if rules.phases_weight + rules.indicators_weight <= 0:
        problems.append((-1, "invalid", "Peso fasi", "Peso fasi e Peso indicatori non possono essere entrambi 0"))
        rules = replace(rules, phases_weight=50.0, indicators_weight=50.0)
    return rules, problems
