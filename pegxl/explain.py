"""Why every figure is what it is: the calculation of scoring.md step by step, in Italian.

Pure (no I/O). The numbers are the ones pegxl.scoring computed (Scores.exact, the exact
Figures, and scoring.indicator_detail for an indicator's formula): nothing is computed
twice, only shown. A step is one figure of the calculation with the sentence that says
where it comes from and the Regola in force; `pegxl spiega` prints them and the Calcolo
sheet of the consolidated workbooks holds them, one row per figure (calcolo_rows).

Codes (as `pegxl spiega` takes them): an objective `2024_S08_04`, `S08:2024_X_01` for a
trasversale objective in one of its settori, an indicator `2024_S08_04:3` (or
`S08:2024_X_01:3`), a settore `S08`, or `ente`.
"""
from __future__ import annotations

import datetime as dt
import difflib
import textwrap
from dataclasses import dataclass, fields, replace
from functools import lru_cache
from fractions import Fraction
from typing import Any, Iterable, Iterator, Mapping

from .errors import EXIT_UNUSABLE, ErrorCode, PegxlError, finding, show_value
from .rules import NO_BAND
from .scoring import (
    EX_NEUTRALISED,
    EX_NO_DATA,
    EX_NOT_ASSESSABLE,
    EX_OIV_NOT_ASSESSABLE,
    EX_POSTPONED,
    F_DATE_IN_TIME,
    F_DATE_LATE_PENALTY,
    F_DATE_LATE_ZERO,
    F_DEVIATION_DOWN,
    F_EQUAL,
    F_MISSING,
    F_NEGATIVE_DOWN,
    F_NEGATIVE_UP,
    F_NONPOSITIVE_DOWN,
    F_RATIO_DOWN,
    F_RATIO_UP,
    F_TEXT,
    F_WRONG_KIND,
    F_YES_NO,
    F_ZERO_DOWN,
    F_ZERO_UP,
    SRC_DECLARED,
    SRC_OIV,
    ST_CONTEXT,
    ST_MISSING,
    ST_NEUTRALISED,
    IndicatorDetail,
    Figures,
    Scores,
    indicator_detail,
)
from .values import exact, figure_float, format_number, format_percent, is_blank
from .values import forget_figures as values_forget_figures
from .workbook.reader import records

ENTE = "ente"

L_INDICATOR = "indicatore"
L_PHASES = "fasi"
L_OBJECTIVE = "obiettivo"
L_SECTOR = "settore"
L_ENTE = "ente"

# the step that gives each level's figure (Passo)
P_SCORE = "Raggiungimento %"
P_GRADE = "Grado %"
P_SECTOR = "Percentuale di raggiungimento"
P_ENTE = "Percentuale dell'ente"
P_PHASES = "Realizzazione fasi %"
FIGURE_STEP = {L_INDICATOR: P_SCORE, L_OBJECTIVE: P_GRADE, L_SECTOR: P_SECTOR, L_ENTE: P_ENTE}

_Key = tuple[Any, ...]


@dataclass(frozen=True)
class Step:
    """One figure of a calculation: `value` exact (Fraction), a date, a word, or None."""

    sector: str | None     # Codice settore (None for the ente)
    code: str              # the figure's code, as `pegxl spiega` takes it
    level: str             # indicatore, fasi, obiettivo, settore, ente
    step: str              # Passo: what this figure is
    text: str              # Spiegazione: the sentence, numbers shown the Italian way
    value: Any = None
    rule: str | None = None

    @property
    def shown(self) -> str:
        """The value as the text shows it."""
        return _shown(self.value)

    @property
    def number(self) -> float | None:
        """The value as a number (the float standing for the exact figure), if it is one."""
        return figure_float(self.value) if isinstance(self.value, Fraction) else None

    def as_dict(self) -> dict[str, Any]:
        value: Any = self.number
        if value is None and self.value is not None:
            value = self.shown
        return {"sector": self.sector, "code": self.code, "level": self.level, "step": self.step,
                "text": self.text, "value": value, "shown": self.shown, "rule": self.rule}


def _shown(v: Any) -> str:
    """2 decimals for a figure; a date, sì/no or a word as a message shows it."""
    return _two(v) if isinstance(v, Fraction) else show_value(v)


def _two(v: Fraction) -> str:
    return _two_of(v.numerator, v.denominator)


def _percent(v: Fraction) -> str:
    return _percent_of(v.numerator, v.denominator)


# cached: a plan repeats a few figures (100, 50, 25) thousands of times; by numerator and
# denominator, as a Fraction's own hash costs a modular inverse (a third of the Calcolo
# sheet's time went into hashing its figures)
@lru_cache(maxsize=1 << 16)
def _two_of(n: int, d: int) -> str:
    return format_number(figure_float(Fraction(n, d)))


@lru_cache(maxsize=1 << 16)
def _percent_of(n: int, d: int) -> str:
    return format_percent(figure_float(Fraction(n, d)))


def forget_figures() -> None:
    """Empty the caches of the figures written in words and of values.exact/figure_float
    (see values.forget_figures)."""
    _two_of.cache_clear()
    _percent_of.cache_clear()
    values_forget_figures()


def _pct(v: Fraction | None) -> str:
    return _percent(v) if v is not None else "—"


def _n(v: Fraction | None) -> str:
    """A weight or a product, 2 decimals."""
    return _two(v) if v is not None else "—"


def _typed(v: Any) -> str:
    """A value as typed (target, achieved): exact numbers with their own decimals."""
    if isinstance(v, Fraction):
        if v.denominator == 1:
            return f"{v.numerator:,}".replace(",", ".")
        return show_value(float(v))
    return _shown(v)


SECTORS_AT_ONCE = 50   # settori whose rows Explainer.by_sector makes at once


class Explainer:
    """The steps of every figure of `scores`. `reasons`: why a phase or indicator of the
    plan is neutralised, by (L_PHASES or L_INDICATOR, objective, number): see reasons_of."""

    def __init__(self, scores: Scores, reasons: Mapping[tuple[str, Any, Any], str] | None = None,
                 owners: Mapping[Any, list[Any]] | None = None):
        if scores.input is None:
            raise ValueError("Scores senza i dati di partenza (scoring.compute li conserva)")
        self.scores, self.rules, self.fig = scores, scores.rules, scores.exact
        self.reasons = dict(reasons or {})
        inp = scores.input
        # the rows of each table as dicts, made for a few settori at a time (_load): those of
        # a thousand settori at once are hundreds of thousands of dicts
        self._tables = {"plan_ind": (inp.indicators, "objective"), "plan_ph": (inp.phases, "objective"),
                        "given_ind": (inp.indicator_inputs, "sector"),
                        "objectives": (scores.objectives, "sector"), "phases": (scores.phases, "sector"),
                        "indicators": (scores.indicators, "sector")}
        self._positions = {name: ({} if df.empty else df.groupby(col, sort=False).indices)
                           for name, (df, col) in self._tables.items()}
        self._loaded: frozenset[Any] = frozenset()
        self.plan_ind: dict[tuple[Any, Any], dict[Any, Any]] = {}
        self.plan_ph: dict[tuple[Any, Any], dict[Any, Any]] = {}
        self.given_ind: dict[tuple[Any, Any, Any], dict[Any, Any]] = {}
        self.objectives: dict[_Key, dict[Any, Any]] = {}
        self.phases: dict[_Key, list[dict[Any, Any]]] = {}
        self.indicators: dict[_Key, list[dict[Any, Any]]] = {}
        self.sectors = {r["sector"]: r for r in scores.sectors.to_dict("records")}
        self.sectors_of: dict[Any, list[Any]] = {}
        self.objectives_of: dict[Any, list[Any]] = {}      # by settore, in table order
        o = scores.objectives
        for s, obj in dict.fromkeys(zip(o["sector"].tolist(), o["objective"].tolist())):
            self.sectors_of.setdefault(obj, []).append(s)
            self.objectives_of.setdefault(s, []).append(obj)
        # the settori of each objective among all of them, for scores that are a Part's slice
        self.sectors_of.update(owners or {})
        self.rule_values = dict(self.rules.as_rows())
        self.oiv_neutral_ph = inp.neutralised_phases
        self.oiv_neutral_in = inp.neutralised_indicators

    # ---------------------------------------------------------------- rows, by settore
    def _take(self, name: str, keys: Iterable[Any]) -> Any:
        """The rows of table `name` whose settore (or objective) is in `keys`, in table
        order (a DataFrame)."""
        df, _ = self._tables[name]
        groups = self._positions[name]
        return df.take(sorted(int(p) for k in keys for p in groups.get(k, ())))

    def _rows(self, name: str, keys: Iterable[Any]) -> list[dict[Any, Any]]:
        """_take's rows as to_dict("records") gives them."""
        rows = self._take(name, keys)
        return records(rows) if len(rows) else []

    def parts(self, sectors: Iterable[Any] | None = None, size: int = SECTORS_AT_ONCE) -> Iterator[Part]:
        """`sectors` (default all) `size` at a time, each with its slice of the scores: the
        figures of a Part explained elsewhere (part_rows, in another process) are the ones
        by_sector explains here. The ente is not in any (it needs every settore)."""
        keep = list(self.sectors) if sectors is None else [s for s in sectors if s in self.sectors]
        chunks = [keep[i:i + size] for i in range(0, len(keep), size)]
        keys = self._keys_by_chunk({s: i for i, chunk in enumerate(chunks) for s in chunk})
        inp = self.scores.input
        assert inp is not None   # __init__ refuses scores without it
        table = self.scores.sectors
        for i, chunk in enumerate(chunks):
            mine = set(chunk)
            objectives = list(dict.fromkeys(o for s in chunk for o in self.objectives_of.get(s, [])))
            given = replace(inp, sectors=inp.sectors.iloc[:0], assignments=inp.assignments.iloc[:0],
                            objective_inputs=inp.objective_inputs.iloc[:0], phase_inputs=inp.phase_inputs.iloc[:0],
                            phases=self._take("plan_ph", objectives), indicators=self._take("plan_ind", objectives),
                            indicator_inputs=self._take("given_ind", chunk),
                            neutralised_phases=frozenset(k for k in inp.neutralised_phases if k[0] in mine),
                            neutralised_indicators=frozenset(k for k in inp.neutralised_indicators if k[0] in mine))
            scores = replace(self.scores, indicators=self._take("indicators", chunk),
                             phases=self._take("phases", chunk), objectives=self._take("objectives", chunk),
                             sectors=table[table["sector"].isin(mine).to_numpy()],
                             exact=self._figures(keys.pop(i, {})), input=given)
            wanted = set(objectives)
            yield Part(chunk, scores, {k: v for k, v in self.reasons.items() if k[1] in wanted},
                       {o: self.sectors_of[o] for o in objectives if len(self.sectors_of.get(o, ())) > 1})

    def _keys_by_chunk(self, chunk_of: Mapping[Any, int]) -> dict[int, dict[str, list[Any]]]:
        """The keys of the exact figures split by the chunk (of parts) of their settore, in
        one pass: keys only (the figures of a thousand settori split into dicts at once were
        tens of megabytes, held while the parts are made)."""
        out: dict[int, dict[str, list[Any]]] = {}
        for f in fields(Figures):
            figures = getattr(self.fig, f.name)
            if not isinstance(figures, dict):
                continue
            by_sector = f.name in ("sectors", "sector_weights")   # keyed by the settore's code
            for key in figures:
                i = chunk_of.get(key if by_sector else key[0])
                if i is not None:
                    out.setdefault(i, {}).setdefault(f.name, []).append(key)
        return out

    def _figures(self, keys: Mapping[str, list[Any]]) -> Figures:
        """The exact figures of `keys` (field -> keys), with the ente's."""
        got = Figures(ente=self.fig.ente)
        for name, ks in keys.items():
            src, dst = getattr(self.fig, name), getattr(got, name)
            for k in ks:
                dst[k] = src[k]
        return got

    def _load(self, sectors: Iterable[Any]) -> None:
        """The rows of `sectors` (and of their objectives in the plan), in place of the
        settori loaded before."""
        sectors = list(dict.fromkeys(sectors))
        self._loaded = frozenset(sectors)
        objectives = list(dict.fromkeys(o for s in sectors for o in self.objectives_of.get(s, [])))
        self.plan_ind = {(r["objective"], r["indicator"]): r for r in self._rows("plan_ind", objectives)}
        self.plan_ph = {(r["objective"], r["phase"]): r for r in self._rows("plan_ph", objectives)}
        self.given_ind = {(r["sector"], r["objective"], r["indicator"]): r for r in self._rows("given_ind", sectors)}
        self.objectives = {(r["sector"], r["objective"]): r for r in self._rows("objectives", sectors)}
        self.phases = {}
        for r in self._rows("phases", sectors):
            self.phases.setdefault((r["sector"], r["objective"]), []).append(r)
        self.indicators = {}
        for r in self._rows("indicators", sectors):
            self.indicators.setdefault((r["sector"], r["objective"]), []).append(r)

    def _ensure(self, sector: Any) -> None:
        if sector not in self._loaded:
            self._load([sector])

    # ------------------------------------------------------------------------ codes
    def objective_code(self, sector: Any, objective: Any) -> str:
        """`2024_S08_04`, or `S08:2024_X_01` for an objective in more than one settore."""
        return f"{sector}:{objective}" if len(self.sectors_of.get(objective, [])) > 1 else str(objective)

    def _rule(self, *names: str) -> str:
        rows = self.rule_values
        return "; ".join(f"{n} {show_value(rows[n])}" for n in names if n in rows)

    # -------------------------------------------------------------------- indicator
    def indicator(self, sector: Any, objective: Any, n: Any) -> list[Step]:
        self._ensure(sector)
        key = (sector, objective, n)
        row = next(r for r in self.indicators[(sector, objective)] if r["indicator"] == n)
        plan = self.plan_ind.get((objective, n), {})
        given = self.given_ind.get(key, {})
        code = f"{self.objective_code(sector, objective)}:{n}"
        out: list[Step] = []

        def add(step: str, text: str, value: Any = None, rule: str | None = None) -> None:
            out.append(Step(str(sector), code, L_INDICATOR, step, text, value, rule))

        status = row["status"]
        if status == ST_CONTEXT:
            add("Contesto", f"Indicatore {n}: è di tipo CONTESTO, non ha Raggiungimento % e non conta "
                            "nella media degli indicatori.")
            return out
        d = indicator_detail(str(plan.get("value_type") or "testo"), plan.get("direction"), plan.get("target"), given.get("achieved"), self.rules)
        score = self.fig.indicators.get(key)
        add("Valore atteso", f"Indicatore {n} ({d.value_type}): valore atteso A = {_typed(d.target) or '—'}.",
            _value(d.target))
        add("Valore raggiunto", f"Valore raggiunto R = {_typed(d.achieved) or '—'}.", _value(d.achieved))
        if d.direction is not None and d.value_type != "sì/no":
            add("Verso", _direction_text(d), d.direction)
        if d.score is None:
            if score is not None and d.formula == F_TEXT:
                add(P_SCORE, f"Indicatore di tipo testo: non si calcola; vale la valutazione "
                                        f"dichiarata {_pct(score)}.", score, self._rule("Tetto indicatore"))
            else:
                add(P_SCORE, _not_computed(d), None)
        else:
            formula, rule = self._formula_text(d)
            add("Formula", formula, d.raw, rule)
            assert d.raw is not None      # computed: it has a figure before the Tetto
            if d.raw > d.score:
                why = f"supera il Tetto indicatore ({show_value(self.rules.cap)})"
            elif d.raw < d.score:
                why = "è sotto 0, che è il minimo"
            else:
                why = f"è entro il Tetto indicatore ({show_value(self.rules.cap)})"
            add(P_SCORE, f"{_n(d.raw)} {why}: Raggiungimento % = {_pct(score)}.", score,
                self._rule("Tetto indicatore"))
        if status == ST_NEUTRALISED:
            reason = self.reasons.get((L_INDICATOR, objective, n))
            by = "dall'OIV" if key in self.oiv_neutral_in else "nel piano"
            add("Conteggio", f"Neutralizzato {by}" + (f" ({reason})" if reason else "")
                + ": non conta nella media degli indicatori, gli altri pesano 100.")
        elif status == ST_MISSING:
            add("Conteggio", "Manca il valore raggiunto: l'indicatore non conta nella media.")
        elif not row["counted"]:
            add("Conteggio", "Non calcolabile: l'indicatore non conta nella media.")
        else:
            w = self.fig.indicator_weights.get(key)
            add("Peso effettivo", f"Conta nella media degli indicatori dell'obiettivo con peso effettivo "
                                  f"{_n(w)} su 100 (peso del piano: {_weight(plan.get('weight'))}).", w)
        return out

    def _formula_text(self, d: IndicatorDetail) -> tuple[str, str | None]:
        a, r, raw = _typed(d.target), _typed(d.achieved), _n(d.raw)
        f = d.formula
        if f == F_EQUAL:
            return (f"Verso «=»: 100 se R = A, altrimenti 0 → {raw}.", None)
        if f == F_RATIO_UP:
            return (f"100 × R / A = 100 × {r} / {a} = {raw}.", None)
        if f == F_ZERO_UP:
            return (f"Atteso 0 con verso «>=»: 100 se R ≥ 0, altrimenti 0 → {raw}.", None)
        if f == F_NEGATIVE_UP:
            return (f"Atteso negativo: 100 × (2A − R) / A = 100 × (2 × {a} − {r}) / {a} = {raw}.", None)
        if f == F_ZERO_DOWN:
            return (f"Atteso 0 con verso «<=»: 100 se R ≤ 0, altrimenti 0 → {raw}.", None)
        if f == F_NEGATIVE_DOWN:
            return (f"Atteso negativo: 100 × R / A = 100 × {r} / {a} = {raw}.", None)
        if f == F_DEVIATION_DOWN:
            return (f"Formula scostamento: 100 × (2A − R) / A = 100 × (2 × {a} − {r}) / {a} = {raw}.",
                    self._rule("Formula verso <="))
        if f == F_RATIO_DOWN:
            return (f"Formula rapporto: 100 × A / R = 100 × {a} / {r} = {raw}.", self._rule("Formula verso <="))
        if f == F_NONPOSITIVE_DOWN:
            return (f"R ≤ 0 con un valore atteso positivo: meglio di così non si può, vale il Tetto "
                    f"indicatore, {raw}.",
                    self._rule("Formula verso <=", "Tetto indicatore"))
        if f == F_YES_NO:
            return (f"Sì/no: 100 se R coincide con A ({a}), altrimenti 0 → {raw}.", None)
        days = d.days or 0
        late = "giorni di anticipo" if d.direction == ">=" else "giorni di ritardo"
        if f == F_DATE_IN_TIME:
            return (f"Data nei termini ({max(-days, 0)} giorni di margine): 100.", None)
        if f == F_DATE_LATE_ZERO:
            return (f"{days} {late}: con Ritardo azzera sì vale 0.", self._rule("Ritardo azzera"))
        if f == F_DATE_LATE_PENALTY:
            return (f"{days} {late}: 100 − {show_value(self.rules.late_penalty)} × {days} = {raw}.",
                    self._rule("Ritardo azzera", "Penalità giorni ritardo"))
        return (f"{raw}.", None)   # pragma: no cover (every formula is named above)

    # ----------------------------------------------------------------------- phases
    def phases_of(self, sector: Any, objective: Any) -> list[Step]:
        self._ensure(sector)
        rows = self.phases.get((sector, objective), [])
        code = self.objective_code(sector, objective)
        out: list[Step] = []

        def add(step: str, text: str, value: Any = None, rule: str | None = None) -> None:
            out.append(Step(str(sector), code, L_PHASES, step, text, value, rule))

        if not rows:
            return out
        neutral = [r for r in rows if r["neutralised"]]
        weights = [exact(self.plan_ph.get((objective, r["phase"]), {}).get("weight")) for r in rows]
        if neutral:
            names = ", ".join(str(r["phase"]) for r in neutral)
            left = sum((w for w, r in zip(weights, rows) if w is not None and not r["neutralised"]), Fraction(0))
            reasons = [self.reasons.get((L_PHASES, objective, r["phase"])) for r in neutral]
            why = "; ".join(x for x in reasons if x)
            text = (f"Fasi neutralizzate: {names}" + (f" ({why})" if why else "")
                    + ": escluse dal calcolo.")
            if len(neutral) < len(rows):
                text += f" Le altre pesano {_n(left)} e sono riproporzionate a 100."
            add("Fasi neutralizzate", text, left if len(neutral) < len(rows) else None)
        elif any(w is None for w in weights):
            add("Pesi", "Pesi delle fasi non indicati nel piano: pesi uguali.")
        for r, w in zip(rows, weights):
            if r["neutralised"]:
                continue
            key = (sector, objective, r["phase"])
            eff = self.fig.phase_weights.get(key)
            c = self.fig.phase_contributions.get(key)
            prog = exact(r["progress"])
            shown = _pct(prog) if prog is not None else "non indicato (conta 0)"
            wt = f"peso {_weight(w)}" + (f" (effettivo {_n(eff)})" if eff is not None and eff != w else "")
            add(f"Fase {r['phase']}", f"{wt[0].upper()}{wt[1:]} × avanzamento {shown} / 100 = {_n(c)}.", c)
        part = self.fig.phases_part.get((sector, objective))
        if part is None:
            add(P_PHASES, "Tutte le fasi sono neutralizzate: nessuna realizzazione delle fasi.")
        else:
            add(P_PHASES, f"Somma dei contributi delle fasi: Realizzazione fasi % = {_pct(part)}.",
                part)
        return out

    # -------------------------------------------------------------------- objective
    def objective(self, sector: Any, objective: Any, *, deep: bool = True) -> list[Step]:
        self._ensure(sector)
        """The objective's grade; `deep`: with its indicators and phases first."""
        key = (sector, objective)
        r = self.objectives[key]
        code = self.objective_code(sector, objective)
        out: list[Step] = []
        if deep:
            for ind in self.indicators.get(key, []):
                out += self.indicator(sector, objective, ind["indicator"])
            out += self.phases_of(sector, objective)

        def add(step: str, text: str, value: Any = None, rule: str | None = None) -> None:
            out.append(Step(str(sector), code, L_OBJECTIVE, step, text, value, rule))

        fi = self.fig.indicators_part.get(key)
        counted = [i for i in self.indicators.get(key, []) if i["counted"]]
        if counted:
            terms = []
            for i in counted:
                k = (sector, objective, i["indicator"])
                terms.append(f"{_pct(self.fig.indicators.get(k))} × {_n(self.fig.indicator_weights.get(k))}")
            add("Media indicatori %", "Media pesata degli indicatori che contano ("
                + " + ".join(terms) + f", diviso 100) = {_pct(fi)}.", fi)
        fp = self.fig.phases_part.get(key)
        comp = self.fig.computed.get(key)
        if fp is not None and fi is not None:
            add("Grado calcolato %", f"(Peso fasi {show_value(self.rules.phases_weight)} × fasi {_pct(fp)} + "
                f"Peso indicatori {show_value(self.rules.indicators_weight)} × indicatori {_pct(fi)}) / 100 "
                f"= {_pct(comp)}.", comp, self._rule("Peso fasi", "Peso indicatori"))
        elif comp is not None:
            part = "le fasi: valgono da sole" if fp is not None else "gli indicatori: valgono da soli"
            add("Grado calcolato %", f"Si possono calcolare solo {part} il 100 %, "
                f"Grado calcolato % = {_pct(comp)}.", comp, self._rule("Peso fasi", "Peso indicatori"))
        else:
            add("Grado calcolato %", "Nessuna fase né indicatore calcolabile: nessun grado calcolato.")
        reason = r["excluded_reason"]
        declared, oiv = exact(r["declared"]), exact(r["oiv_grade"])
        if reason is not None:
            add("Escluso", _excluded_text(reason, declared))
            return out
        grade = self.fig.grade.get(key)
        src = r["grade_source"]
        if src == SRC_OIV:
            add(P_GRADE, f"La Valutazione OIV % ({_pct(oiv)}) sostituisce il grado del settore"
                + (f" (dichiarato {_pct(declared)})" if declared is not None else
                   f" (calcolato {_pct(comp)})" if comp is not None else "") + f": Grado % = {_pct(grade)}.", grade)
        elif src == SRC_DECLARED:
            text = f"Il settore ha dichiarato {_pct(declared)}, che sostituisce il calcolato"
            text += f" ({_pct(comp)})" if comp is not None else ""
            rule = None
            if r["deviation_flag"]:
                text += f"; lo scarto supera {show_value(self.rules.deviation_threshold)} punti (da motivare)"
                rule = self._rule("Scarto segnalato")
            add(P_GRADE, text + f": Grado % = {_pct(grade)}.", grade, rule)
        else:
            add(P_GRADE, f"Né Valutazione OIV né grado dichiarato: Grado % = Grado calcolato = {_pct(grade)}.",
                grade)
        fm = self.fig.for_mean.get(key)
        if fm is not None and grade is not None and fm != grade:
            text = (f"Il Grado % {_pct(grade)} è sotto la Soglia minima ({show_value(self.rules.minimum)}): "
                    "conta 0 nella media del settore.")
        else:
            text = (f"Raggiunge la Soglia minima ({show_value(self.rules.minimum)}): "
                    f"conta {_pct(fm)} nella media del settore.")
        add("Valore nella media", text, fm, self._rule("Soglia minima"))
        return out

    # ----------------------------------------------------------------------- settore
    def sector(self, sector: Any) -> list[Step]:
        self._ensure(sector)
        s = self.sectors[sector]
        out: list[Step] = []

        def add(step: str, text: str, value: Any = None, rule: str | None = None) -> None:
            out.append(Step(str(sector), str(sector), L_SECTOR, step, text, value, rule))

        objs = [self.objectives[(sector, o)] for o in self.objectives_of.get(sector, [])]
        terms = []
        for r in objs:
            key = (sector, r["objective"])
            code = self.objective_code(sector, r["objective"])
            if r["excluded_reason"] is not None:
                add(f"Obiettivo {code}", f"Escluso dalla media ({_reason_word(r['excluded_reason'])}).")
                continue
            fm, w = self.fig.for_mean.get(key), self.fig.objective_weights.get(key)
            c = fm * w / 100 if fm is not None and w is not None else None
            add(f"Obiettivo {code}", f"Grado nella media {_pct(fm)} × peso effettivo {_n(w)} / 100 = {_n(c)}.", c)
            terms.append(r)
        pct = self.fig.sectors.get(sector)
        if pct is None:
            add(P_SECTOR, "Nessun obiettivo valutato: il settore non ha percentuale "
                "e non conta nella media dell'ente.")
            return out
        equal = any(is_blank(r["weight"]) for r in terms)
        add(P_SECTOR,
            f"Media pesata dei {len(terms)} obiettivi valutati su {len(objs)}"
            + (" (pesi uguali)" if equal else "") + f": {_pct(pct)}.", pct)
        add("Fascia", _band_text(self.rules, s["band"], pct), s["band"], self._band_rule(s["band"]))
        return out

    def _band_rule(self, band: Any) -> str | None:
        return "; ".join(f"Fascia {lbl} {show_value(b)}" for lbl, b in self.rules.bands) if band else None

    # -------------------------------------------------------------------------- ente
    def ente(self) -> list[Step]:
        out: list[Step] = []

        def add(step: str, text: str, value: Any = None, rule: str | None = None) -> None:
            out.append(Step(None, ENTE, L_ENTE, step, text, value, rule))

        for code in self.sectors:
            pct, w = self.fig.sectors.get(code), self.fig.sector_weights.get(code)
            if pct is None or w is None:
                add(f"Settore {code}", "Nessun obiettivo valutato: escluso dalla media dell'ente.")
                continue
            add(f"Settore {code}", f"Percentuale {_pct(pct)} × peso effettivo {_n(w)} / 100 = {_n(pct * w / 100)}.",
                pct * w / 100)
        pct = self.fig.ente
        if pct is None:
            add(P_ENTE, "Nessun settore valutato: l'ente non ha percentuale.")
            return out
        add(P_ENTE, f"Media pesata dei settori valutati (Peso del foglio Settori, "
            f"pesi uguali se non indicati): {_pct(pct)}.", pct)
        band = self.scores.ente.get("band")
        add("Fascia", _band_text(self.rules, band, pct), band, self._band_rule(band))
        return out

    # -------------------------------------------------------------------------- all
    def everything(self, sectors: Iterable[Any] | None = None) -> list[Step]:
        """Every figure: per settore its objectives (indicators, phases, grade) and its
        percentage, then the ente (the Calcolo sheet)."""
        return [st for group in self.by_sector(sectors) for st in group]

    def by_sector(self, sectors: Iterable[Any] | None = None, *, ente: bool = True) -> Iterator[list[Step]]:
        """`everything`, one settore's steps at a time (then the ente's, unless not `ente`):
        a workbook of a thousand settori never holds them all."""
        keep = list(self.sectors) if sectors is None else [s for s in sectors if s in self.sectors]
        for i, sector in enumerate(keep):
            if i % SECTORS_AT_ONCE == 0:
                self._load(keep[i:i + SECTORS_AT_ONCE])
            out: list[Step] = []
            for obj in self.objectives_of.get(sector, []):
                out += self.objective(sector, obj)
            yield out + self.sector(sector)
        if ente:
            yield self.ente()

    # ------------------------------------------------------------------------ lookup
    def explain(self, code: str, *, file: str | None = None,
                excluded: Mapping[str, str] | None = None) -> tuple[str, list[Step]]:
        """(the figure's kind, its steps) for a code; PegxlError (U005-U008) when the code
        names nothing here, with the closest codes."""
        raw = str(code).strip()
        if raw.lower() == ENTE:
            return L_ENTE, self.ente()
        parts = [p.strip() for p in raw.split(":")]
        sectors = {str(s): s for s in self.sectors}
        objectives = {str(o): o for o in self.sectors_of}

        def unknown(err: ErrorCode, **fields: Any) -> PegxlError:
            return PegxlError(finding(err, file=file, record=raw, value=raw, **fields), exit_code=EXIT_UNUSABLE)

        def close(candidates: Iterable[str], word: str) -> str:
            got = difflib.get_close_matches(word, list(candidates), n=3, cutoff=0.5)
            if not got:
                got = [c for c in candidates if c.lower() == word.lower()][:1]
            return " Forse " + " o ".join(f"«{g}»" for g in got) + "?" if got else ""

        sector: Any = None
        if len(parts) >= 2 and parts[0] in sectors and parts[1] in objectives:
            sector, parts = sectors[parts[0]], parts[1:]
        if len(parts) == 1 and sector is None and parts[0] in sectors:
            return L_SECTOR, self.sector(sectors[parts[0]])
        if not parts or len(parts) > 2 or parts[0] not in objectives:
            if len(parts) == 1 and excluded and parts[0] in excluded:
                raise unknown(ErrorCode.U008, detail=excluded[parts[0]])
            every = [*sectors, *objectives, ENTE]
            raise unknown(ErrorCode.U005, suggestion=close(every, parts[-1] if len(parts) <= 2 else raw))
        obj = objectives[parts[0]]
        owners = self.sectors_of[obj]
        if sector is None:
            if len(owners) > 1:
                raise unknown(ErrorCode.U007, detail=", ".join(str(s) for s in owners),
                              example=f"{owners[0]}:{obj}")
            sector = owners[0]
        if len(parts) == 1:
            return L_OBJECTIVE, self.objective(sector, obj)
        self._ensure(sector)
        numbers = {str(i["indicator"]): i["indicator"] for i in self.indicators.get((sector, obj), [])}
        if parts[1] not in numbers:
            raise unknown(ErrorCode.U006, detail=", ".join(numbers) or "nessuno")
        return L_INDICATOR, self.indicator(sector, obj, numbers[parts[1]])


def reasons_of(phases: Any, indicators: Any) -> dict[tuple[str, Any, Any], str]:
    """The Motivo neutralizzazione of the plan's phases and indicators (DataFrames with
    objective, phase / indicator, neutralised_reason), as Explainer takes them."""
    out: dict[tuple[str, Any, Any], str] = {}
    for level, df, col in ((L_PHASES, phases, "phase"), (L_INDICATOR, indicators, "indicator")):
        if df is None or "neutralised_reason" not in df.columns:
            continue
        why = df["neutralised_reason"]
        # the rows with a reason only (few): a loop over every row would make and touch an
        # object for every cell of the plan's tables
        rows = df.loc[why.notna().to_numpy(), ["objective", col, "neutralised_reason"]]
        for o, n, w in rows.itertuples(index=False, name=None):
            if not is_blank(w):
                out[(level, o, n)] = str(w)
    return out


@dataclass(frozen=True)
class Part:
    """Some settori (`sectors`) with their slice of the scores, the reasons of their plan
    rows and the settori of their trasversale objectives among all of them: enough to
    explain their figures in another process (Explainer.parts, part_rows)."""
    sectors: list[Any]
    scores: Scores
    reasons: dict[tuple[str, Any, Any], str]
    owners: dict[Any, list[Any]]


def part_rows(part: Part) -> Iterator[dict[str, Any]]:
    """calcolo_rows of a Part's settori, without the ente's."""
    return calcolo_rows(part.scores, part.sectors, part.reasons, ente=False, owners=part.owners)


def calcolo_rows(scores: Scores, sectors: Iterable[Any] | None = None,
                 reasons: Mapping[tuple[str, Any, Any], str] | None = None, *, ente: bool = True,
                 owners: Mapping[Any, list[Any]] | None = None) -> Iterator[dict[str, Any]]:
    """The rows of the Calcolo sheet (fields of contract.CS_CALCOLO), one per figure of
    `sectors` (default all) and of the ente (unless not `ente`): the figure (FIGURE_STEP,
    Realizzazione fasi % for an objective's phases), its steps one per line, its value
    (None where it has none: a CONTESTO indicator, an objective left out) and every Regola
    its steps used. The steps' own numbers are in the text; `pegxl spiega` gives each one
    apart. Made one settore at a time, as they are read. `owners`: see Explainer."""
    for steps in Explainer(scores, reasons, owners).by_sector(sectors, ente=ente):
        yield from figure_rows(steps)


def figure_rows(steps: Iterable[Step]) -> Iterator[dict[str, Any]]:
    """Steps as Calcolo rows: one per figure (a run of steps of the same level and code)."""
    def row(group: list[Step]) -> dict[str, Any]:
        first = group[0]
        name = FIGURE_STEP.get(first.level, P_PHASES)
        fig = next((st for st in reversed(group) if st.step == name), None)
        rules: list[str] = []
        for st in group:
            for part in (st.rule or "").split("; "):
                if part and part not in rules:
                    rules.append(part)
        return {"sector": first.sector, "code": first.code, "level": first.level, "step": name,
                "text": "\n".join(f"{st.step}: {st.text}" for st in group),
                "value": fig.number if fig is not None else None, "rule": "; ".join(rules) or None}

    group: list[Step] = []
    for st in steps:
        if group and (st.level, st.code) != (group[0].level, group[0].code):
            yield row(group)
            group = []
        group.append(st)
    if group:
        yield row(group)


_HEADINGS = {L_INDICATOR: "Indicatore", L_PHASES: "Fasi dell'obiettivo", L_OBJECTIVE: "Obiettivo",
             L_SECTOR: "Settore", L_ENTE: "Ente"}


def render_text(steps: Iterable[Step], width: int = 80) -> str:
    """The steps as text to read, `width` columns: a heading for each figure, then each
    step with its Regola."""
    lines: list[str] = []
    last: tuple[str, str] | None = None
    for st in steps:
        if (st.level, st.code) != last:
            last = (st.level, st.code)
            shown = st.sector and st.level != L_SECTOR and not st.code.startswith(f"{st.sector}:")
            where = f" (settore {st.sector})" if shown else ""
            lines += [""] if lines else []
            lines.append(_HEADINGS[L_ENTE] if st.level == L_ENTE else
                         f"{_HEADINGS.get(st.level, st.level)} {st.code}{where}")
        lines += textwrap.wrap(f"{st.step}: {st.text}", width, initial_indent="  - ",
                               subsequent_indent="    ", break_on_hyphens=False)
        if st.rule:
            lines += textwrap.wrap(f"Regola: {st.rule}", width, initial_indent="    ",
                                   subsequent_indent="      ", break_on_hyphens=False)
    return "\n".join(lines)


# ---------------------------------------------------------------------- sentences

def _value(v: Any) -> Any:
    return v if isinstance(v, (Fraction, bool, dt.date)) else (None if is_blank(v) else str(v))


def _weight(w: Any) -> str:
    x = exact(w)
    return "non indicato" if x is None else _typed(x)


def _direction_text(d: IndicatorDetail) -> str:
    if d.value_type == "data":
        return {"<=": "Verso «<=»: entro la data attesa.", ">=": "Verso «>=»: non prima della data attesa.",
                "=": "Verso «=»: esattamente alla data attesa."}.get(d.direction or "", "")
    return {">=": "Verso «>=»: più è meglio.", "<=": "Verso «<=»: meno è meglio.",
            "=": "Verso «=»: conta solo il valore esatto."}.get(d.direction or "", "")


def _not_computed(d: IndicatorDetail) -> str:
    if d.formula == F_TEXT:
        return "Indicatore di tipo testo: non si calcola (lo dichiara il settore o lo valuta l'OIV)."
    if d.formula == F_MISSING:
        return "Manca il valore atteso o raggiunto: il Raggiungimento % non si calcola."
    if d.formula == F_WRONG_KIND:
        return f"Il valore non si legge come {d.value_type}: il Raggiungimento % non si calcola."
    return "Il Raggiungimento % non si calcola."    # pragma: no cover


def _reason_word(reason: str) -> str:
    return {EX_POSTPONED: "Stato Rinviato", EX_NOT_ASSESSABLE: "Stato Non valutabile",
            EX_NEUTRALISED: "fasi e indicatori tutti neutralizzati",
            EX_OIV_NOT_ASSESSABLE: "Non valutabile secondo l'OIV",
            EX_NO_DATA: "nessun dato per calcolare il grado"}.get(reason, reason)


def _excluded_text(reason: str, declared: Fraction | None) -> str:
    text = f"Nessun Grado %: {_reason_word(reason)}; l'obiettivo è mostrato ma escluso da ogni media."
    if reason == EX_NEUTRALISED and declared is not None:
        text += f" Il grado dichiarato {_pct(declared)} non conta."
    return text


def _band_text(rules: Any, band: Any, pct: Fraction) -> str:
    if band is None:
        return "Nessuna fascia."
    if band == NO_BAND:
        return f"{_pct(pct)} è sotto il limite di ogni fascia: nessuna fascia."
    bound = dict(rules.bands).get(band)
    return (f"{_pct(pct)} raggiunge il limite della Fascia {band} ({show_value(bound)}), la più alta "
            f"raggiunta: Fascia {band}.")
