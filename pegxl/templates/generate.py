"""The locked per-settore templates (workbooks.md section 2): `pegxl templates`.

One workbook per settore: the plan's locked values, shaded input cells with data
validations, live formulas that mirror scoring.md with the plan's Regole baked in, and a
hidden identity sheet. Rows are known at generation time, so every formula is built here
with explicit cell references (no whole-column lookups that break when a row moves).
The formulas are feedback for the person typing: pegxl never reads them, it recomputes.
They read every input through the hidden _letture sheet exactly as pegxl.values reads it
(45% typed is 45, "78.622,20" is 78622.2), or show «da verificare» where they cannot: the
preview never shows a figure different from the one pegxl computes.
"""
from __future__ import annotations

import datetime as dt
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from io import BytesIO
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.formatting.rule import FormulaRule
from openpyxl.utils import get_column_letter
from openpyxl.workbook.protection import WorkbookProtection
from openpyxl.worksheet.datavalidation import DataValidation

from .. import __version__
from ..errors import EXIT_UNUSABLE, ErrorCode, PegxlError, finding
from ..plan import Plan, template_name
from ..values import NO_WORDS, YES_WORDS
from ..workbook import contract as C
from ..workbook import paper
from ..workbook import style as S
from ..workbook.contract import SHEET_READINGS, SUMMARY_HEADERS, TOTAL_LABEL
from ..workbook import fastsave
from ..workbook.io import atomic_write_bytes
from ..workbook.memory import gc_frozen, gc_paused
from .formulas import (
    _EXCLUDED,
    _READ_KIND,
    _STEPS,
    CF_MISSING_FILL,
    FL,
    ITALIC,
    L_NO,
    L_SINO,
    L_STATO,
    L_YES,
    LEFT_WRAP,
    MARK,
    NEUTRAL_FILL,
    OL,
    READ_ACHIEVED,
    READ_DECLARED,
    READ_FIRST,
    SUMMARY_WIDTHS,
    _cell,
    _formulas,
    _num,
    _Obj,
    _plus,
    _put,
    _put_row,
    _restyle,
    _py,
    _runs,
    _serial,
    _sqref,
    _style,
    _txt,
    indicator_formula,
    row_readings,
)
from .cache import FITS_ATTR, TemplateCache, generated_text, layout_of, password_key
from .reference import SnapshotValues, add_reference_column, reference_note

DEFAULT_PASSWORD = "pegxl"
# the line counts of the Istruzioni texts: the same in every template of a run
_INSTRUCTION_LINES: dict[tuple[str, float, float, bool], int] = {}
TEXT_MAX = 4000                 # characters allowed in Relazione, Note, Motivazione, testo
NUMBER_LIMIT = 999_999_999_999  # "any number" still needs bounds in a decimal validation



# ----------------------------------------------------------------------- names

# -------------------------------------------------------------------- the builder

class _Builder:
    def __init__(self, plan: Plan, sector: str, *, generated_at: Any, password: str,
                 fingerprint: str | None, reference: SnapshotValues | None = None):
        self.plan = plan
        self.reference = reference
        self.rules = plan.rules
        self.sector = sector
        self.info = plan.sector(sector)
        self.password = password
        self.fingerprint = fingerprint if fingerprint is not None else plan.fingerprint()
        if generated_at is None:
            generated_at = dt.datetime.now().astimezone().replace(microsecond=0)
        self.generated_at = generated_text(generated_at)
        self.objectives, self.phases, self.indicators = plan.sector_rows(sector)
        self.objs: dict[str, _Obj] = {}
        self.date_lo = dt.date(plan.anno - 1, 1, 1)
        self.date_hi = dt.date(plan.anno + 1, 12, 31)
        self.wb = Workbook()

    # -- orchestration
    def build(self) -> Workbook:
        wb = self.wb
        ws_i = wb.worksheets[0]   # a new workbook's only sheet
        ws_i.title = C.SHEET_INSTRUCTIONS
        ws_o = wb.create_sheet(C.SHEET_OBJECTIVES)
        ws_f = wb.create_sheet(C.SHEET_PHASES)
        ws_n = wb.create_sheet(C.SHEET_INDICATORS)
        ws_r = wb.create_sheet(C.SHEET_SUMMARY)
        ws_p = wb.create_sheet(C.SHEET_IDENTITY)
        self.ws_l = ws_l = wb.create_sheet(SHEET_READINGS)
        self._readings_header(ws_l)
        self._objectives_rows(ws_o)
        self._phases_sheet(ws_f)
        self._indicators_sheet(ws_n)
        self._objectives_formulas(ws_o)
        self._summary_sheet(ws_r)
        self._instructions(ws_i)
        self._identity(ws_p)
        # lists last: add_list creates the hidden _liste sheet at the end of the book
        S.add_list(wb, L_STATO, C.STATI)
        S.add_list(wb, L_SINO, C.SI_NO)
        # accented forms too: the readings match words exactly (parse_bool drops accents)
        S.add_list(wb, L_YES, sorted(YES_WORDS | {"sì", "si", "sí"}))
        S.add_list(wb, L_NO, sorted(NO_WORDS))
        ws_p.sheet_state = "hidden"
        ws_l.sheet_state = "hidden"
        fits: dict[str, dict] = {}   # what sized the rows, for the layout of a copy (cache.layout_of)
        for ws in (ws_o, ws_f, ws_n, ws_r):
            S.fit_rows(ws, record=fits.setdefault(ws.title, {}))
        setattr(wb, FITS_ATTR, fits)
        S.fit_rows(ws_i, first_row=1, memo=_INSTRUCTION_LINES)
        heading = paper.Heading(self.plan.ente, self.plan.anno,
                                f"{self.sector} {self.info.get('sector_name') or ''}".strip())
        for ws in (ws_i, ws_o, ws_f, ws_n, ws_r):   # last: other steps may add columns
            S.print_setup(ws, None if ws is ws_i else "1:1", heading)
        for ws in wb.worksheets:
            self._protect(ws)
        wb.security = WorkbookProtection(workbookPassword=self.password, lockStructure=True)
        wb.active = 0
        return wb

    # -- readings (_letture)
    def _readings_header(self, ws) -> None:
        for block, title in (("objectives", "Obiettivi"), ("phases", "Fasi"), ("indicators", "Indicatori")):
            first = READ_FIRST[block]
            ws.cell(row=1, column=first, value=f"Cella letta ({title})")
            for i in range(1, _STEPS):
                ws.cell(row=1, column=first + i, value=f"passo {i}")
            ws.cell(row=1, column=first + _STEPS, value="Lettura")

    def _reading(self, block: str, sheet: str, letter: str, row: int, kind: str, **kw: Any) -> None:
        """Write on _letture, on `row`, how the input sheet!letter+row is read."""
        ws, first = self.ws_l, READ_FIRST[block]
        _put(ws, row, first, f"{sheet}!{letter}{row}", wrap=False)
        _formulas(ws, row, row_readings(kind, sheet, letter, row, first + 1, **kw))

    # -- table sheets
    def _table_header(self, ws, spec: C.TableSpec, freeze: str) -> None:
        S.write_header(ws, spec.columns)
        ws.freeze_panes = freeze

    def _objectives_rows(self, ws) -> None:
        spec = C.T_OBJECTIVES
        self._table_header(ws, spec, "B2")
        col = {c.field: i for i, c in enumerate(spec.columns, start=1)}
        n = len(self.objectives)
        o: Any   # a row of cells as typed
        for r, o in enumerate(self.objectives, start=2):
            weight = _py(o.weight)
            self.objs[o.objective] = _Obj(o.objective, o.title, None if weight is None else float(weight), row=r)
            _put_row(ws, r, [(col[fld], _py(getattr(o, fld))) for fld in (
                "objective", "title", "typology", "weight", "description", "mission", "programme",
                "dup_objective", "public_value")])
            for fld in C.T_OBJECTIVES_INPUT:
                self._input_cell(ws, r, col[fld], fld)
            _style(_cell(ws, r, col["computed"]), "computed")
            self._reading("objectives", C.SHEET_OBJECTIVES, OL["declared"], r, "percent", lo=0, hi=100)
        if not n:
            return
        rows = list(range(2, n + 2))
        L = {f: get_column_letter(col[f]) for f in col}
        self._validate(ws, self._list_dv(L_STATO, "Stato dell'obiettivo",
                                         "Scegliere dall'elenco: " + ", ".join(C.STATI) + ".",
                                         "Lo Stato va scelto dall'elenco: " + ", ".join(C.STATI) + "."),
                       L["status"], rows)
        self._validate(ws, self._decimal_dv(0, 100, "Grado dichiarato %",
                                            "Facoltativo: il grado che il settore dichiara, da 0 a 100 (85 o 85%). "
                                            "Se diverso dal calcolato, spiegarlo nella Motivazione scostamento.",
                                            "Scrivere un numero da 0 a 100 (es. 85, 85,5 o 85%) o lasciare vuoto."),
                       L["declared"], rows)
        self._validate(ws, self._text_dv("Relazione",
                                         f"Breve relazione sull'attività svolta (al massimo {TEXT_MAX} caratteri)."),
                       L["report"], rows)
        self._validate(ws, self._text_dv("Motivazione scostamento",
                                         "Obbligatoria se lo Stato è Rinviato o Non valutabile, o se il grado "
                                         "dichiarato si discosta dal calcolato di più di "
                                         f"{_txt(self.rules.deviation_threshold)} punti (al massimo {TEXT_MAX} caratteri)."),
                       L["deviation_reason"], rows)
        # missing required inputs
        s, m, k, nn = L["status"], L["deviation_reason"], L["declared"], L["computed"]
        self._missing(ws, s, rows, f"LEN(TRIM({s}{{r}}))=0")
        thr = _num(self.rules.deviation_threshold)
        excluded = f"OR(LOWER(TRIM({s}{{r}}))=\"{_EXCLUDED[0]}\",LOWER(TRIM({s}{{r}}))=\"{_EXCLUDED[1]}\")"
        k = READ_DECLARED   # the declared grade as pegxl reads it (45% is 45)
        deviates = f"AND(ISNUMBER({k}{{r}}),ISNUMBER({nn}{{r}}),ABS({k}{{r}}-{nn}{{r}})>{thr})"
        self._missing(ws, m, rows, f"AND(LEN(TRIM({m}{{r}}))=0,OR({excluded},{deviates}))")

    def _phases_sheet(self, ws) -> None:
        spec = C.T_PHASES
        self._table_header(ws, spec, "C2")
        col = {c.field: i for i, c in enumerate(spec.columns, start=1)}
        active: list[int] = []
        p: Any   # a row of cells as typed
        for r, p in enumerate(self.phases, start=2):
            _put_row(ws, r, [(col[fld], _py(getattr(p, fld))) for fld in (
                "objective", "phase", "description", "planned_start", "planned_end", "weight")])
            neutral = bool(p.neutralised)
            weight = _py(p.weight)
            self.objs[p.objective].phases.append((r, None if weight is None else float(weight), neutral))
            reason = f"Fase neutralizzata: {p.neutralised_reason or 'motivo non indicato'}. Non va compilata."
            for fld in C.T_PHASES_INPUT:
                self._input_cell(ws, r, col[fld], fld, neutral_reason=reason if neutral else None)
            if not neutral:
                active.append(r)
                self._reading("phases", C.SHEET_PHASES, FL["progress"], r, "percent", lo=0, hi=100)
        if not active:
            return
        L = {f: get_column_letter(col[f]) for f in col}
        self._validate(ws, self._decimal_dv(0, 100, "Avanzamento %",
                                            "Percentuale di realizzazione della fase, da 0 a 100 (75 o 75%).",
                                            "Scrivere un numero da 0 a 100 (es. 75 o 75%)."),
                       L["progress"], active)
        for fld, title in (("actual_start", "Inizio effettivo"), ("actual_end", "Fine effettiva")):
            self._validate(ws, self._date_dv(title), L[fld], active)
        self._validate(ws, self._text_dv("Note", f"Note sulla fase (al massimo {TEXT_MAX} caratteri)."),
                       L["notes"], active)
        g = L["progress"]
        self._missing(ws, g, active, f"LEN(TRIM({g}{{r}}))=0")
        if self.reference is not None:
            add_reference_column(ws, spec, self.reference.progress_header,
                                 self.reference.column(self.sector, self.phases, "phase"))

    def _indicators_sheet(self, ws) -> None:
        spec = C.T_INDICATORS
        self._table_header(ws, spec, "C2")
        col = {c.field: i for i, c in enumerate(spec.columns, start=1)}
        L = {f: get_column_letter(col[f]) for f in col}
        by_type: dict[str, list[int]] = {}
        active: list[int] = []
        i: Any   # a row of cells as typed
        for r, i in enumerate(self.indicators, start=2):
            target = i.target_value
            if isinstance(target, bool):
                shown = "sì" if target else "no"
            else:
                shown = _py(target)
                if shown is None:
                    shown = _py(i.target)
            _put_row(ws, r, [(col[fld], _py(value) if fld != "target" else value) for fld, value in (
                ("objective", i.objective), ("indicator", i.indicator), ("description", i.description),
                ("kind", i.kind), ("value_type", i.value_type), ("direction", i.direction),
                ("target", shown), ("previous", i.previous), ("previous_2", getattr(i, "previous_2", None)))])
            neutral = bool(i.neutralised)
            context = i.kind == "CONTESTO"
            formula = None
            if not neutral and not context:
                formula = indicator_formula(i.value_type, i.direction, _py(target) if not isinstance(target, bool) else target,
                                            self.rules, f"{L['target']}{r}", f"{READ_ACHIEVED}{r}")
                if formula is not None:
                    self._reading("indicators", C.SHEET_INDICATORS, L["achieved"], r, _READ_KIND[i.value_type])
            weight = _py(i.weight)
            self.objs[i.objective].indicators.append(
                (r, None if weight is None else float(weight), not context, formula is not None, neutral))
            reason = f"Indicatore neutralizzato: {i.neutralised_reason or 'motivo non indicato'}. Non va compilato."
            for fld in C.T_INDICATORS_INPUT:
                self._input_cell(ws, r, col[fld], fld, neutral_reason=reason if neutral else None,
                                 value_type=i.value_type)
            _style(_put(ws, r, col["score"], formula, wrap=False, formula=True), "computed")
            if not neutral:
                active.append(r)
                by_type.setdefault(i.value_type or "testo", []).append(r)
        if not active:
            return
        if self.reference is not None:
            add_reference_column(ws, spec, self.reference.achieved_header,
                                 self.reference.column(self.sector, self.indicators, "indicator"))
        a = L["achieved"]
        for vt, rows in by_type.items():
            self._validate(ws, self._achieved_dv(vt), a, rows)
        self._validate(ws, self._text_dv("Note", f"Note sull'indicatore (al massimo {TEXT_MAX} caratteri)."),
                       L["notes"], active)
        self._missing(ws, a, active, f"LEN(TRIM({a}{{r}}))=0")

    def _objectives_formulas(self, ws) -> None:
        col = C.T_OBJECTIVES.headers.index("Grado calcolato %") + 1
        pw, iw = float(self.rules.phases_weight), float(self.rules.indicators_weight)
        if pw + iw <= 0:
            pw = iw = 1.0
        for o in self.objs.values():
            ws.cell(row=o.row, column=col, value=self._grade_formula(o, pw, iw))

    @staticmethod
    def _grade_formula(o: _Obj, pw: float, iw: float) -> str | None:
        p, _ = o.phase_expr()
        parts = o.indicator_parts()
        if p is None and parts is None:
            return None
        if parts is None:
            grade = p
        else:
            num, den = parts
            ind = f"({num})/({den})"
            if p is None:
                grade = f"IF(({den})>0,{ind},\"\")"
            else:
                both = f"({_num(pw)}*{p}+{_num(iw)}*{ind})/{_num(pw + iw)}"
                grade = f"IF(({den})>0,{both},{p})"
        flags = [f for f in (o.phase_flag(), o.indicator_flag()) if f]
        if not flags:
            return f"={grade}"
        return f"=IF(OR({','.join(flags)}),\"{MARK}\",{grade})"

    # -- Riepilogo
    def _summary_sheet(self, ws) -> None:
        S.set_widths(ws, paper.header_widths(SUMMARY_HEADERS, SUMMARY_WIDTHS))
        S.write_header(ws, SUMMARY_HEADERS)
        ws.freeze_panes = "B2"
        oc = {c.field: get_column_letter(i) for i, c in enumerate(C.T_OBJECTIVES.columns, start=1)}
        weights = [o.weight for o in self.objs.values()]
        equal = any(w is None for w in weights) or not sum(w or 0 for w in weights) > 0
        minimum = float(self.rules.minimum)
        terms: list[str] = []
        r = 1
        for r, o in enumerate(self.objs.values(), start=2):
            orow = o.row
            st = f"Obiettivi!{oc['status']}{orow}"
            p, total = o.phase_expr()
            parts = o.indicator_parts()
            pf, nf = o.phase_flag(), o.indicator_flag()
            mark = f"\"{MARK}\""
            comp = f"Obiettivi!{oc['computed']}{orow}"
            mean = f"IF(({parts[1]})>0,({parts[0]})/({parts[1]}),\"\")" if parts else None
            values: list[Any] = [
                o.code, o.title, _py(o.weight),
                f"=IF({st}=\"\",\"\",{st})",
                f"={total}" if total else None,
                (f"=IF({pf},{mark},{p})" if pf else f"={p}") if p else None,
                (f"=IF({nf},{mark},{mean})" if nf else f"={mean}") if mean else None,
                f"=IF(ISNUMBER({comp}),{comp},IF({comp}={mark},{mark},\"\"))",
                f"={READ_DECLARED}{orow}",   # the declared grade as pegxl reads it, or "da verificare"
            ]
            excluded = f"OR(LOWER(TRIM(D{r}))=\"{_EXCLUDED[0]}\",LOWER(TRIM(D{r}))=\"{_EXCLUDED[1]}\")"
            if o.all_neutralised:
                # every phase and indicator neutralised: Non valutabile (scoring.md), shown as such
                values[3] = "Non valutabile"
                values += ["", "no"]
            else:
                values += [f"=IF({excluded},\"\",IF(I{r}=\"\",H{r},I{r}))",
                           f"=IF(ISNUMBER(J{r}),\"sì\",IF(J{r}={mark},{mark},\"no\"))"]
            w = 1.0 if equal or o.weight is None else float(o.weight)
            values.append(f"=IF(K{r}=\"sì\",{_num(w)},0)")
            for c, v in enumerate(values, start=1):
                cell = _put(ws, r, c, v, wrap=c == 2, formula=c >= 4)
                if c in (6, 7, 8, 9, 10):
                    _style(cell, "computed")
                elif c >= 4:
                    _style(cell, "computed_text")
                elif c != 2:
                    _style(cell, "top")
            grade = f"N(J{r})"
            if minimum > 0:
                grade = f"IF({grade}<{_num(minimum)},0,{grade})"
            terms.append(f"L{r}*{grade}")
        last = r
        tr = last + 1
        lab = ws.cell(row=tr, column=1, value=TOTAL_LABEL)
        _restyle(lab, font=S.TOTAL_FONT)
        if self.objs:
            rng = f"L2:L{last}"
            # one objective "da verificare" makes the total "da verificare", never a different number
            total = ws.cell(row=tr, column=10, value=f"=IF(COUNTIF(J2:J{last},\"{MARK}\")>0,\"{MARK}\","
                                                     f"IF(SUM({rng})>0,({_plus(terms)})/SUM({rng}),\"\"))")
            ws.cell(row=tr, column=11, value=f"=COUNTIF(K2:K{last},\"sì\")")
            ws.cell(row=tr, column=12, value=f"=SUM({rng})")
        else:
            total = ws.cell(row=tr, column=10, value=None)
        total.number_format = S.PERCENT_VALUE_FORMAT
        for c in range(1, len(SUMMARY_HEADERS) + 1):
            cell = ws.cell(row=tr, column=c)
            if c >= 4:
                _restyle(cell, font=S.TOTAL_FONT, border=S.BORDER, fill=S.COMPUTED_FILL)
            else:
                _restyle(cell, font=S.TOTAL_FONT, border=S.BORDER)
        note = tr + 2
        for i, text in enumerate((
            "Grado % = Grado dichiarato % se compilato, altrimenti Grado calcolato %.",
            "Conta = no per gli obiettivi Rinviati o Non valutabili (esclusi dalla media) o senza grado.",
            f"{TOTAL_LABEL} = media dei Grado % degli obiettivi che contano, pesata con il Peso "
            + ("(pesi uguali: il piano non indica pesi)." if equal else "dell'obiettivo."),
            f"«{MARK}»: un valore scritto negli altri fogli non è stato riconosciuto dall'anteprima "
            "(vedere Istruzioni); il grado e il totale che ne dipendono non si possono mostrare.",
            "Le cifre di questo foglio sono indicative: l'ufficio le ricalcola con le stesse regole.",
        )):
            _restyle(ws.cell(row=note + i, column=1, value=text), font=ITALIC)

    # -- Istruzioni and identity
    def _instructions(self, ws) -> None:
        plan, info, rules = self.plan, self.info, self.rules
        ws.column_dimensions["A"].width = 26
        ws.column_dimensions["B"].width = 72   # with A, one portrait A4 page wide at 100 %
        r = 1
        title = ws.cell(row=r, column=1, value=f"Rendicontazione degli obiettivi {plan.anno} – {plan.ente}")
        title.font = S.TITLE_FONT
        r += 2
        pairs: list[tuple[str, Any]] = [
            ("Ente", plan.ente), ("Anno", plan.anno), ("Fase del ciclo", plan.fase),
        ]
        if plan.reference_date:
            pairs.append(("Data di riferimento", plan.reference_date))
        pairs += [("Settore", f"{self.sector} – {info.get('sector_name') or ''}".strip(" –")),
                  ("Responsabile", info.get("manager") or "")]
        if plan.deadline:
            pairs.append(("Scadenza consegna", plan.deadline))
        if plan.office:
            pairs.append(("Ufficio referente", plan.office))
        if plan.office_email:
            pairs.append(("Email ufficio", plan.office_email))
        pairs.append(("Obiettivi assegnati", len(self.objs)))
        for label, value in pairs:
            _restyle(ws.cell(row=r, column=1, value=label), font=S.TOTAL_FONT)
            _restyle(_put(ws, r, 2, value), alignment=LEFT_WRAP)
            r += 1
        r += 1

        def section(head: str, lines: Iterable[str]) -> None:
            nonlocal r
            _restyle(ws.cell(row=r, column=1, value=head), font=S.TOTAL_FONT)
            r += 1
            for line in lines:
                _put(ws, r, 2, line)
                r += 1
            r += 1

        deadline = plan.deadline.strftime("%d/%m/%Y") if plan.deadline else None
        scarto = _txt(rules.deviation_threshold)
        section("Come si compila", [
            "Si scrive solo nelle celle colorate in giallo chiaro: tutte le altre celle sono bloccate.",
            "Ogni cella da compilare mostra un suggerimento quando la si seleziona e rifiuta i valori non ammessi.",
            "Fogli da compilare, uno alla volta:",
            "• Obiettivi: per ogni obiettivo scegliere lo Stato dall'elenco (" + ", ".join(C.STATI) + "); "
            "scrivere la Relazione sull'attività svolta. Il Grado dichiarato % (0-100) è facoltativo: "
            "serve solo se il grado calcolato non rappresenta il risultato. La Motivazione scostamento è "
            "obbligatoria per gli obiettivi Rinviati o Non valutabili e quando il grado dichiarato si "
            f"discosta dal calcolato di più di {scarto} punti.",
            "• Fasi: per ogni fase l'Avanzamento % (da 0 a 100: 75 oppure 75%), le date di Inizio effettivo e Fine effettiva "
            "(gg/mm/aaaa) e, se serve, le Note.",
            "• Indicatori: il Valore raggiunto, secondo il Tipo valore: numero (es. 15 o 1500,50), percentuale "
            "(75 oppure 75%), sì/no (dall'elenco), data (gg/mm/aaaa), testo. Le Note sono facoltative.",
            "• Riepilogo: non si compila. Mostra per ogni obiettivo il grado calcolato mentre si scrive e il "
            f"{TOTAL_LABEL}.",
            "Le colonne calcolate (Raggiungimento %, Grado calcolato %, Riepilogo) si aggiornano da sole: "
            "sono un'anteprima, l'ufficio ricalcola tutto con le stesse regole.",
            "Gli indicatori di tipo CONTESTO e quelli con Tipo valore testo non hanno un Raggiungimento % calcolato.",
            f"«{MARK}» in una cifra calcolata: un valore scritto non è stato riconosciuto dall'anteprima "
            "(per esempio un numero all'inglese come 1,234.5 o una data come 31 dicembre 2024). Riscriverlo come "
            "numero (75, 75,5 o 75%) o come data gg/mm/aaaa: finché resta così l'ufficio lo legge e lo segnala, "
            "ma l'anteprima non può mostrare la cifra.",
        ] + ([] if self.reference is None else [reference_note(self.reference)]))

        _restyle(ws.cell(row=r, column=1, value="Colori"), font=S.TOTAL_FONT)
        r += 1
        for fill, label, text in (
            (S.INPUT_FILL, "Da compilare", f"{S.COLOR_NAMES['input']}: cella da compilare (l'unica modificabile)."),
            (S.COMPUTED_FILL, "Calcolato", f"{S.COLOR_NAMES['computed']}: valore calcolato automaticamente, non modificabile."),
            (S.MISSING_FILL, "Manca", f"{S.COLOR_NAMES['missing']}: manca un dato obbligatorio (la cella torna gialla quando è compilata)."),
            (NEUTRAL_FILL, "Neutralizzato", "grigio: fase o indicatore neutralizzato, non si compila; il motivo è nel commento della cella."),
        ):
            c = ws.cell(row=r, column=1, value=label)
            _restyle(c, fill=fill, border=S.BORDER)
            _put(ws, r, 2, text)
            r += 1
        r += 1

        # the shares the formulas really apply: Peso fasi and Peso indicatori over their sum
        pw, iw = float(rules.phases_weight), float(rules.indicators_weight)
        if pw + iw <= 0:
            pw = iw = 1.0
        lines = [
            f"Grado calcolato di un obiettivo = {_txt(100 * pw / (pw + iw))}% realizzazione delle fasi + "
            f"{_txt(100 * iw / (pw + iw))}% media degli indicatori (se manca una delle due parti, conta solo l'altra).",
            "Realizzazione delle fasi = somma di Peso × Avanzamento / 100; le fasi neutralizzate sono escluse "
            "e i pesi delle altre riproporzionati a 100.",
            f"Un indicatore non supera {_txt(rules.cap)}%. Indicatori «meno è meglio» oltre il valore atteso: "
            f"formula «{rules.lower_formula}».",
            ("Indicatori a scadenza: una consegna in ritardo vale 0." if rules.late_zero else
             f"Indicatori a scadenza: {_txt(rules.late_penalty)} punti in meno per ogni giorno di ritardo."),
            "Gli obiettivi Rinviati o Non valutabili non entrano nella media del settore.",
        ]
        if rules.minimum > 0:
            lines.append(f"Soglia minima: un obiettivo con Grado % sotto {_txt(rules.minimum)} conta 0 "
                         "nella media del settore.")
        section("Regole di calcolo in vigore", lines)

        where = plan.office or "l'ufficio referente"
        if plan.office_email:
            where += f" ({plan.office_email})"
        section("Come si restituisce", [
            f"Salvare il file in formato .xlsx (Excel) oppure .ods (LibreOffice) e inviarlo a {where}"
            + (f" entro il {deadline}." if deadline else "."),
            "Non rinominare, spostare o cancellare i fogli; non aggiungere né cancellare righe o colonne.",
            "Non copiare i dati in un'altra cartella di lavoro: il file viene riconosciuto e letto automaticamente "
            "dal foglio nascosto di identificazione.",
            "Il nome del file si può lasciare com'è.",
        ])

    def _identity(self, ws) -> None:
        plan = self.plan
        S.write_header(ws, [C.ENTE_VOCE, C.ENTE_VALORE])
        S.set_widths(ws, [28, 70])
        values = {
            "format_version": C.FORMAT_VERSION, "ente": plan.ente, "anno": plan.anno,
            "fase": plan.fase, "sector": self.sector, "fingerprint": self.fingerprint,
            "sector_fingerprint": plan.sector_fingerprint(self.sector),
            "generated_at": self.generated_at, "generator": f"pegxl {__version__}",
        }
        r = 2
        for label, fld in C.IDENTITY_FIELDS:
            ws.cell(row=r, column=1, value=label)
            _put(ws, r, 2, values[fld], wrap=False)
            r += 1
        r += 1
        for c, h in enumerate(("Regola", "Valore"), start=1):
            cell = ws.cell(row=r, column=c, value=h)
            _restyle(cell, font=S.TOTAL_FONT)
        r += 1
        for name, value in self.rules.as_rows():
            ws.cell(row=r, column=1, value=name)
            _put(ws, r, 2, _py(value), wrap=False)
            r += 1

    # -- cells, validations, formats
    def _input_cell(self, ws, row: int, col: int, fld: str, *, neutral_reason: str | None = None,
                    value_type: str | None = None) -> None:
        c = _cell(ws, row, col)
        if neutral_reason:
            _style(c, "neutral")
            cm = Comment(neutral_reason, "pegxl")
            cm.width, cm.height = 260, 80
            c.comment = cm
        elif fld in ("actual_start", "actual_end") or (fld == "achieved" and value_type == "data"):
            _style(c, "input_date")
        elif fld in ("report", "deviation_reason", "notes") or (fld == "achieved" and value_type == "testo"):
            _style(c, "input_wrap")
        else:
            _style(c, "input")

    @staticmethod
    def _validate(ws, dv: DataValidation, letter: str, rows: Sequence[int]) -> None:
        dv.sqref = _sqref(letter, rows)
        ws.add_data_validation(dv)

    def _missing(self, ws, letter: str, rows: Sequence[int], template: str) -> None:
        """Salmon fill on the run's cells while `template` (with {r} for the row) holds.
        One rule per contiguous run, anchored at its first row, so the relative reference
        means the same in Excel and LibreOffice."""
        for a, b in _runs(rows):
            rng = f"{letter}{a}" if a == b else f"{letter}{a}:{letter}{b}"
            ws.conditional_formatting.add(rng, FormulaRule(formula=[template.format(r=a)],
                                                           fill=CF_MISSING_FILL, stopIfTrue=False))

    @staticmethod
    def _messages(dv: DataValidation, title: str, prompt: str, error: str) -> DataValidation:
        dv.showErrorMessage = True
        dv.showInputMessage = True
        dv.errorStyle = "stop"
        dv.promptTitle = title[:32]
        dv.errorTitle = title[:32]
        dv.prompt = prompt[:255]
        dv.error = error[:255]
        return dv

    def _list_dv(self, name: str, title: str, prompt: str, error: str) -> DataValidation:
        # formula1 is stored without "=" (an OOXML formula); the list lives on _liste
        dv = DataValidation(type="list", formula1=name, allow_blank=True, showDropDown=False)
        return self._messages(dv, title, prompt, error)

    def _decimal_dv(self, lo: float, hi: float, title: str, prompt: str, error: str) -> DataValidation:
        dv = DataValidation(type="decimal", operator="between", formula1=_num(lo), formula2=_num(hi),
                            allow_blank=True)
        return self._messages(dv, title, prompt, error)

    def _date_dv(self, title: str) -> DataValidation:
        lo, hi = self.date_lo.strftime("%d/%m/%Y"), self.date_hi.strftime("%d/%m/%Y")
        dv = DataValidation(type="date", operator="between", formula1=str(_serial(self.date_lo)),
                            formula2=str(_serial(self.date_hi)), allow_blank=True)
        return self._messages(dv, title, f"Una data gg/mm/aaaa tra il {lo} e il {hi}.",
                              f"Scrivere una data gg/mm/aaaa tra il {lo} e il {hi}.")

    def _text_dv(self, title: str, prompt: str) -> DataValidation:
        dv = DataValidation(type="textLength", operator="lessThanOrEqual", formula1=str(TEXT_MAX),
                            allow_blank=True)
        return self._messages(dv, title, prompt, f"Il testo supera i {TEXT_MAX} caratteri: accorciarlo.")

    def _achieved_dv(self, value_type: str) -> DataValidation:
        title = "Valore raggiunto"
        if value_type == "numero":
            return self._decimal_dv(-NUMBER_LIMIT, NUMBER_LIMIT, title,
                                    "Il valore raggiunto, come numero (es. 15 o 1500,50).",
                                    "Scrivere un numero (es. 15 o 1500,50), senza unità di misura.")
        if value_type == "percentuale":
            return self._decimal_dv(0, 1000, title,
                                    "Il valore raggiunto in percentuale: 75 oppure 75%.",
                                    "Scrivere un numero da 0 a 1000 (es. 75 o 75%).")
        if value_type == "sì/no":
            return self._list_dv(L_SINO, title, "Scegliere sì o no dall'elenco.",
                                 "Il valore va scelto dall'elenco: sì o no.")
        if value_type == "data":
            return self._date_dv(title)
        return self._text_dv(title, f"Il valore raggiunto, come testo (al massimo {TEXT_MAX} caratteri).")

    def _protect(self, ws) -> None:
        p = ws.protection
        p.sheet = True
        p.password = self.password
        # openpyxl flags: True = the action is protected (forbidden), False = allowed.
        p.selectLockedCells = False
        p.selectUnlockedCells = False
        p.formatColumns = False     # people may widen columns and rows to read
        p.formatRows = False
        p.formatCells = True
        p.insertColumns = True
        p.insertRows = True
        p.deleteColumns = True
        p.deleteRows = True
        p.insertHyperlinks = True
        p.sort = True
        p.autoFilter = True
        p.pivotTables = True


# ----------------------------------------------------------------------- public

def build_template(plan: Plan, sector: str, *, generated_at: Any = None,
                   password: str = DEFAULT_PASSWORD, fingerprint: str | None = None,
                   reference: SnapshotValues | None = None) -> Workbook:
    """The template workbook of one settore (not saved).

    `fingerprint` lets a caller that builds many templates compute plan.fingerprint() once;
    `reference`, the previous snapshot of the year, adds its locked reference columns."""
    if not plan.has_sector(sector):
        raise KeyError(sector)
    return _Builder(plan, sector, generated_at=generated_at, password=password,
                    fingerprint=fingerprint, reference=reference).build()


def generate_templates(plan: Plan, outdir: str | os.PathLike, *, sectors: Iterable[str] | None = None,
                       password: str = DEFAULT_PASSWORD, generated_at: Any = None,
                       jobs: int | None = None,
                       progress: Callable[[int, int, str], None] | None = None,
                       reference: SnapshotValues | None = None, template_cache: bool = True) -> list[Path]:
    """Write one template per settore (all, or `sectors`) into `outdir`, atomically;
    `progress(i, n, path)` after each one, in plan order.

    `jobs` worker processes share the settori (default: the cores; 1: none). Every
    template depends only on the plan, its settore, `generated_at` and the password, fixed
    here before any worker starts, so the files are the same whatever the number of jobs.
    Returns the paths in plan order. An unknown settore code is a usage error (exit 2).
    `reference`: the previous snapshot of the year, shown in locked reference columns.
    `template_cache`: each template also kept for the copies of `pegxl merge`
    (pegxl.templates.cache)."""
    codes = plan.sector_codes
    if sectors is not None:
        wanted = list(dict.fromkeys(sectors))
        known = set(codes)
        unknown = [s for s in wanted if s not in known]
        if unknown:
            raise PegxlError(finding(ErrorCode.U001, detail="settore non presente nel piano: "
                                     + ", ".join(unknown)), exit_code=EXIT_UNUSABLE)
        chosen = set(wanted)
        codes = [c for c in codes if c in chosen]
    if generated_at is None:
        generated_at = dt.datetime.now().astimezone().replace(microsecond=0)
    out = Path(outdir)
    fp = plan.fingerprint()   # hashes every settore: once, not once per template
    cache = TemplateCache.for_plan(plan, reference) if template_cache else None
    names = _unique_names(plan, codes)
    work = [(code, out / names[code]) for code in codes]
    jobs = default_jobs() if jobs is None else max(1, int(jobs))
    jobs = min(jobs, len(work))
    done: list[Path] = []

    def written(path: Path) -> None:
        done.append(path)
        if progress:
            progress(len(done), len(work), str(path))
    with gc_frozen():   # the plan's objects, shared with the forked workers
        if jobs <= 1:
            for code, path in work:
                written(_write_template(plan, code, path, generated_at, password, fp, reference, cache))
            return done
        with ProcessPoolExecutor(max_workers=jobs, mp_context=_mp_context(), initializer=_worker_init,
                                 initargs=(plan, generated_at, password, fp, reference, cache)) as pool:
            # big enough chunks that a worker is not woken per template, small enough to balance
            chunk = max(1, min(32, len(work) // (jobs * 4)))
            for path in pool.map(_worker_write, work, chunksize=chunk):
                written(path)
            return done


def default_jobs() -> int:
    """The cores this process may use: the default number of template workers."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:   # not on Linux
        return max(1, os.cpu_count() or 1)


def _mp_context() -> Any:
    # fork hands the plan to the workers without pickling it; elsewhere the default
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else None)


def _write_template(plan: Plan, code: str, path: Path, generated_at: Any, password: str, fp: str,
                    reference: SnapshotValues | None = None, cache: TemplateCache | None = None) -> Path:
    # a template is some 20,000 objects, the workbook's in cycles (a sheet and its parts refer
    # to each other): none walked by a collection while it is built, and once written the
    # book taken apart, so that they are freed at once rather than collected
    with gc_paused():
        wb = build_template(plan, code, generated_at=generated_at, password=password, fingerprint=fp,
                            reference=reference)
        buf: Any = BytesIO()
        fastsave.save(wb, buf)
        # kept for the copies of `pegxl merge`, which start from the very template sent
        layout = _layout(wb) if cache is not None else None
        fastsave.release(wb)
    data = buf.getvalue()
    atomic_write_bytes(path, data)
    if cache is not None and layout is not None:
        cache.put(code, generated_text(generated_at), password_key(password), data, layout)
    return path


def _layout(wb: Workbook) -> Any:
    """cache.layout_of, or None: a template whose layout cannot be made is only not kept."""
    try:
        return layout_of(wb)
    except Exception:   # noqa: BLE001  the template itself is written all the same
        return None


_WORKER: dict[str, Any] = {}


def _worker_init(plan: Plan, generated_at: Any, password: str, fp: str,
                 reference: SnapshotValues | None = None, cache: TemplateCache | None = None) -> None:
    _WORKER.update(plan=plan, generated_at=generated_at, password=password, fp=fp, reference=reference,
                   cache=cache)


def _worker_write(item: tuple[str, Path]) -> Path:
    code, path = item
    w = _WORKER
    return _write_template(w["plan"], code, path, w["generated_at"], w["password"], w["fp"], w["reference"],
                           w["cache"])


def _unique_names(plan: Plan, codes: list[str]) -> dict[str, str]:
    """File names per settore; two codes that differ only in characters unfit for a file
    name (P024 warns) must not overwrite each other's template."""
    names: dict[str, str] = {}
    taken: set[str] = set()
    for code in codes:
        name = template_name(plan, code)
        stem, n = name[:-5], 2
        while name.casefold() in taken:
            name, n = f"{stem}-{n}.xlsx", n + 1
        taken.add(name.casefold())
        names[code] = name
    return names
