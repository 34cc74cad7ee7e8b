"""The Relazione sulla performance (art. 10 d.lgs. 150/2009) from the final workbook of
`pegxl oiv` -- or from the consolidated one of `pegxl merge`, then marked «non ancora
validata dall'OIV» on every page -- modelled on the Bellusco e Mezzago 2020 relazione.

Every figure is the workbook's (read by consolidated/read.py, by header names), formatted
the Italian way: nothing is recomputed here."""
from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import pandas as pd
from docx.document import Document

from ..consolidated.read import ConsolidatedBook, plan_mismatch, read_book
from ..errors import ErrorCode, PegxlError, finding
from ..plan import Plan
from ..rules import NO_BAND, Rules, rules_from_mapping
from ..values import is_blank, parse_number, show
from ..workbook import contract as C
from ..workbook.reader import read_table
from . import word as W
from .chart import add_bar_chart
from .pdf import write_documents
from .word import DASH

NOT_VALIDATED = "non ancora validata dall'OIV"


def relazione_name(plan: Plan, validated: bool = True) -> str:
    """`<Anno>_relazione_performance.docx` (`..._non_validata.docx` before the OIV)."""
    return f"{plan.anno}_relazione_performance{'' if validated else '_non_validata'}.docx"


def read_checked(plan: Plan, workbook: str | os.PathLike) -> ConsolidatedBook:
    """The consolidated or final workbook of `plan`, else PegxlError D003 (F codes when the
    file cannot be read at all)."""
    book = read_book(workbook, plan=plan)
    name = Path(workbook).name
    ident = book.identity
    problems = []
    kind = str(ident.get("kind") or "")
    if not ident:
        raise PegxlError(finding(ErrorCode.D003, file=str(workbook), value=name,
                                 detail="manca il foglio nascosto «_pegxl» (non è scritto da pegxl)"))
    mismatch = plan_mismatch(book, plan)
    if mismatch is not None:
        problems.append(mismatch)
    if kind in (C.KIND_CONSOLIDATED, C.KIND_FINAL):
        if str(ident.get("ente") or "").strip() != plan.ente:
            problems.append(f"è dell'ente «{ident.get('ente')}», il piano è dell'ente «{plan.ente}»")
        anno = parse_number(ident.get("anno")).value
        if anno is None or int(anno) != plan.anno:
            problems.append(f"è dell'anno {W.text(ident.get('anno'))}, il piano è dell'anno {plan.anno}")
    for sheet in (C.SHEET_SINTESI, C.SHEET_OBJECTIVES, C.SHEET_PHASES, C.SHEET_INDICATORS):
        if sheet in book.missing:
            what = book.missing[sheet]
            problems.append(f"manca il foglio «{sheet}»" if what == ["(foglio)"]
                            else f"nel foglio «{sheet}» mancano le colonne {', '.join(what)}")
    if problems:
        raise PegxlError([finding(ErrorCode.D003, file=str(workbook), value=name, detail=p) for p in problems])
    return book


def write_relazione(plan: Plan, workbook: str | os.PathLike, outdir: str | os.PathLike, *, pdf: bool = False,
                    force: bool = False, now: dt.datetime | None = None) -> list[Path]:
    """The Relazione of `workbook` (checked against `plan`, D003) in `outdir` and, with
    `pdf`, its PDF. Nothing is written when an output exists and not `force` (U002), or
    when `pdf` and LibreOffice is missing (D001)."""
    book = read_checked(plan, workbook)
    target = Path(outdir) / relazione_name(plan, is_final(book))
    return write_documents([(target, lambda: build_relazione(plan, book, now=now))], pdf=pdf, force=force)


def is_final(book: ConsolidatedBook) -> bool:
    """The final workbook of `pegxl oiv` (else the consolidated one, before the OIV)."""
    return str(book.identity.get("kind")) == C.KIND_FINAL


# ------------------------------------------------------------------------------ the book

class _Data:
    """The workbook's tables, by settore and objective, in the workbook's order."""

    def __init__(self, plan: Plan, book: ConsolidatedBook):
        t = book.tables
        self.sintesi = _records(t.get(C.SHEET_SINTESI))
        if is_final(book):
            before = _by_sector(book, C.SHEET_SINTESI, C.COL_BEFORE_OIV.header)
            for r in self.sintesi:
                r["percentage_before"] = before.get(W.text(r["sector"]))
        self.objectives = _records(t.get(C.SHEET_OBJECTIVES))
        self.phases: dict[tuple, list[dict]] = {}
        self.indicators: dict[tuple, list[dict]] = {}
        for r in _records(t.get(C.SHEET_PHASES)):
            self.phases.setdefault((W.text(r["sector"]), W.text(r["objective"])), []).append(r)
        for r in _records(t.get(C.SHEET_INDICATORS)):
            self.indicators.setdefault((W.text(r["sector"]), W.text(r["objective"])), []).append(r)
        diff = book.raw.sheet(C.SHEET_DIFF) if book.raw is not None else None
        self.differences = _records(read_table(diff, C.CS_DIFF)[0].df) if diff is not None else []
        self.anomalies, self.provenance = book.anomalies, book.provenance
        rules, _problems = rules_from_mapping([(str(n), v) for n, v in book.rules]) if book.rules else (plan.rules, [])
        self.rules: Rules = rules
        self.plan_objectives = {o["objective"]: o for o in plan.objectives.to_dict("records")}
        self.phase_reasons = {(p["objective"], p["phase"]): p.get("neutralised_reason")
                              for p in plan.phases.to_dict("records")}
        self.indicator_reasons = {(i["objective"], i["indicator"]): i.get("neutralised_reason")
                                  for i in plan.indicators.to_dict("records")}

    def sector_rows(self) -> list[dict]:
        return [r for r in self.sintesi if W.text(r["sector"]) != C.ENTE_CODE]

    def ente_row(self) -> dict | None:
        return next((r for r in self.sintesi if W.text(r["sector"]) == C.ENTE_CODE), None)

    def objectives_of(self, sector: str) -> list[dict]:
        return [r for r in self.objectives if W.text(r["sector"]) == sector]


def _by_sector(book: ConsolidatedBook, sheet: str, header: str) -> dict[str, Any]:
    """Codice settore -> the value under `header` of a column outside the contract (the
    final workbook's Percentuale senza OIV), by header names below any title block."""
    raw = book.raw.sheet(sheet) if book.raw is not None else None
    rows = raw.rows if raw is not None else []
    first = C.norm_header(C.CS_SINTESI.header("sector"))
    start = next((i for i, r in enumerate(rows[:20]) if r and C.norm_header(r[0]) == first), None)
    if start is None:
        return {}
    heads = [C.norm_header(h) for h in rows[start]]
    if C.norm_header(header) not in heads:
        return {}
    col = heads.index(C.norm_header(header))
    return {W.text(r[0]): r[col] for r in rows[start + 1:] if r and not is_blank(r[0]) and len(r) > col}


def _records(df: pd.DataFrame | None) -> list[dict]:
    if df is None or df.empty:
        return []
    return [{k: (None if is_blank(v) else v) for k, v in r.items()} for r in df.to_dict("records")]


# -------------------------------------------------------------------------- the document

def build_relazione(plan: Plan, book: ConsolidatedBook, *, now: dt.datetime | None = None) -> Document:
    """The document (not saved) of a checked workbook."""
    validated = is_final(book)
    data = _Data(plan, book)
    title = f"Relazione sulla performance {plan.anno}"
    header = f"{plan.ente} — {title}" + ("" if validated else f" — BOZZA {NOT_VALIDATED.upper()}")
    doc = W.document(title=f"{plan.ente}: {title}", header=header, now=now,
                     subject="art. 10, comma 1, lettera b), d.lgs. 150/2009")
    _front(doc, plan, book, validated)
    _introduction(doc, plan, book, data, validated)
    _summary(doc, data, validated)
    W.heading(doc, "3. Risultati per centro di responsabilità", 1, new_page=True)
    for k, row in enumerate(data.sector_rows()):
        _sector(doc, data, row, first=k == 0)
    _annex(doc, book, data)
    return doc


def _front(doc: Document, plan: Plan, book: ConsolidatedBook, validated: bool) -> None:
    W.para(doc, plan.ente, bold=True, size=16, align="center")
    W.para(doc, "")
    W.heading(doc, f"Relazione sulla performance {plan.anno}", 0)
    W.para(doc, "art. 10, comma 1, lettera b), del d.lgs. 27 ottobre 2009, n. 150", size=11, align="center")
    W.para(doc, "Rendicontazione del Piano esecutivo di gestione e del Piano della performance "
                "(PIAO, sottosezione 2.2)", size=11, align="center")
    W.para(doc, "")
    if validated:
        W.para(doc, "Con le valutazioni dell'Organismo indipendente di valutazione (OIV / Nucleo di valutazione).",
               italic=True, align="center")
    else:
        W.para(doc, f"BOZZA — {NOT_VALIDATED.upper()}", bold=True, size=13, align="center")
        W.para(doc, "Le percentuali sono quelle del consolidato per l'OIV: possono cambiare con le valutazioni "
                    "dell'OIV. Rigenerare la relazione dal consolidato finale (`pegxl oiv`).",
               italic=True, align="center")
    W.para(doc, "")
    W.labelled(doc, "Ente", plan.ente)
    W.labelled(doc, "Anno", plan.anno)
    W.labelled(doc, "Fase del ciclo", book.identity.get("fase") or plan.fase)
    W.labelled(doc, "Dati", Path(book.path).name)
    if book.identity.get("run_id"):
        W.labelled(doc, "Identificativo elaborazione", book.identity.get("run_id"))


def _introduction(doc: Document, plan: Plan, book: ConsolidatedBook, data: _Data, validated: bool) -> None:
    r = data.rules
    W.heading(doc, "1. Introduzione", 1, new_page=True)
    n_sectors = len(data.sector_rows())
    W.para(doc, f"Questa relazione rendiconta i risultati raggiunti nell'anno {plan.anno} da {plan.ente} "
                f"rispetto agli obiettivi del Piano esecutivo di gestione e del Piano della performance: "
                f"{n_sectors} {'centro' if n_sectors == 1 else 'centri'} di responsabilità, "
                f"{len(data.objectives)} obiettivi assegnati ai settori (un obiettivo comune a più settori "
                f"conta in ciascuno). Fase del ciclo: "
                f"{W.text(book.identity.get('fase') or plan.fase)}. "
                + ("Le percentuali tengono conto delle valutazioni dell'OIV."
                   if validated else f"Le percentuali sono {NOT_VALIDATED}."))
    W.heading(doc, "Come si calcolano le percentuali", 2)
    late = ("una scadenza mancata vale 0" if r.late_zero else
            f"ogni giorno di ritardo su una scadenza toglie {show(r.late_penalty)} punti")
    formula = ("il rapporto tra valore atteso e valore raggiunto" if r.lower_formula == "rapporto"
               else "lo scostamento (ogni 1 % oltre il valore atteso costa un punto)")
    for text in (
        f"Indicatori. Il punteggio di un indicatore (Raggiungimento %) confronta il valore raggiunto con il "
        f"valore atteso secondo il verso (≥, ≤, =) e non supera {show(r.cap)}; per gli indicatori «meno è "
        f"meglio» oltre il valore atteso si applica {formula}; {late}; un indicatore sì/no vale 100 o 0.",
        f"Obiettivi. Il grado calcolato è per il {show(r.phases_weight)} % la realizzazione delle fasi "
        f"(somma di peso per avanzamento) e per il {show(r.indicators_weight)} % la media dei punteggi degli "
        f"indicatori. Il grado che conta (Grado %) è la valutazione dell'OIV quando c'è, altrimenti il grado "
        f"dichiarato dal settore, altrimenti il grado calcolato. Un grado dichiarato che si discosta dal "
        f"calcolato di oltre {show(r.deviation_threshold)} punti richiede una motivazione dello scostamento.",
        "Esclusioni. Gli obiettivi rinviati o non valutabili, e quelli con fasi e indicatori tutti "
        "neutralizzati, sono mostrati ma esclusi dalle medie; una fase o un indicatore neutralizzato è "
        "escluso e il peso degli altri è riproporzionato."
        + (f" Un grado sotto la soglia minima di {show(r.minimum)} conta 0 nelle medie." if r.minimum else ""),
        "Settori ed ente. La percentuale di raggiungimento di un settore è la media dei gradi dei suoi "
        "obiettivi conteggiati, pesata con il peso degli obiettivi (pesi uguali dove il piano non li indica); "
        "quella dell'ente è la media delle percentuali dei settori, pesata con il peso dei settori.",
    ):
        W.para(doc, text)
    W.para(doc, "Fasce di valutazione: ogni settore cade nella fascia più alta di cui raggiunge il limite "
                "inferiore.")
    bands = list(r.bands)
    rows = []
    for k, (label, bound) in enumerate(bands):
        upper = bands[k - 1][1] if k else None
        rows.append([f"Fascia {label}", f"da {W.pct(bound)}" + (f" a meno di {W.pct(upper)}" if upper is not None
                                                                 else " in su")])
    W.table(doc, ["Fascia", "Percentuale di raggiungimento"], rows)


def _summary(doc: Document, data: _Data, validated: bool) -> None:
    W.heading(doc, "2. Sintesi dei risultati", 1, new_page=True)
    before = validated and any(not is_blank(r.get("percentage_before")) for r in data.sintesi)
    headers = ["Codice", "Settore", "Responsabile", "N. obiettivi", "N. valutati",
               "Percentuale di raggiungimento", "Fascia"] + (["Senza OIV"] if before else [])
    rows, excluded = [], []
    for r in data.sintesi:
        row = [W.text(r["sector"]), W.text(r["sector_name"]), W.text(r["manager"]), W.text(r["n_objectives"]),
               W.text(r["n_assessed"]), W.pct(r["percentage"]), _band(r.get("band"))]
        if before:
            row.append(W.pct(r.get("percentage_before")))
        rows.append(row)
        state = W.text(r.get("state"))
        if state.startswith("escluso"):
            excluded.append(f"{W.text(r['sector'])} {W.text(r['sector_name'])}: {state}")
    ente = len(rows) - 1 if data.ente_row() is not None else -1
    W.table(doc, headers, rows, right=[3, 4, 5, 7], bold_rows=[ente])
    for line in excluded:
        W.para(doc, line, italic=True)
    labels, values = [], []
    for r in data.sector_rows():
        if is_blank(r.get("percentage")):
            continue
        name = W.text(r["sector_name"])
        labels.append(f"{W.text(r['sector'])} {name[:28] + '…' if len(name) > 29 else name}")
        values.append(float(r["percentage"]))
    ente_row = data.ente_row()
    with_ente = ente_row is not None and not is_blank(ente_row.get("percentage"))
    if ente_row is not None and with_ente:
        labels.append("Ente")
        values.append(float(ente_row["percentage"]))
    if values:
        add_bar_chart(doc, "Percentuale di raggiungimento per settore", labels, values, highlight_last=with_ente)
    if data.differences:
        W.heading(doc, "Valutazioni dell'OIV", 2)
        W.para(doc, "Gli obiettivi sui quali l'OIV ha espresso una valutazione o una nota:")
        W.table(doc, ["Settore", "Obiettivo", "Grado settore %", "Valutazione OIV %", "Differenza", "Note OIV"],
                [[W.text(d["sector"]), f"{W.text(d['objective'])} {W.text(d.get('title'))}",
                  W.pct(d.get("grade_before")), _oiv(d.get("oiv_grade")), _signed(d.get("difference")),
                  W.text(d.get("oiv_notes"))] for d in data.differences], right=[2, 3, 4])


def _band(b: Any) -> str:
    t = W.text(b)
    return t if t != NO_BAND else "nessuna"


def _oiv(v: Any) -> str:
    return W.pct(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else W.text(v)


def _signed(v: Any) -> str:
    s = W.num(v)
    return ("+" + s) if s and not s.startswith("-") and float(v) > 0 else s


def _sector(doc: Document, data: _Data, row: dict, *, first: bool) -> None:
    code = W.text(row["sector"])
    W.heading(doc, f"{code} — {W.text(row['sector_name'])}", 2, new_page=not first)
    W.labelled(doc, "Centro di responsabilità", W.text(row["sector_name"]))
    W.labelled(doc, "Responsabile", row.get("manager"))
    objectives = data.objectives_of(code)
    if not objectives:
        W.para(doc, W.text(row.get("state")) or "Nessun obiettivo consolidato.", italic=True)
        return
    # as the seed: the responsabile's fields (grade, notes: the Motivazione scostamento), then the OIV's
    W.table(doc, ["N.", "Obiettivo", "Stato", "Grado %", "Note del responsabile", "Valutazione OIV %", "Note OIV"],
            [[str(k), f"{W.text(o['objective'])}\n{W.text(o['title'])}", W.text(o["status"]), W.pct(o["grade"]),
              W.text(o.get("deviation_reason")), _oiv(o.get("oiv_grade")), W.text(o.get("oiv_notes"))]
             for k, o in enumerate(objectives, start=1)], right=[3, 5])
    W.para(doc, f"PERCENTUALE DI RAGGIUNGIMENTO COMPLESSIVA: {W.pct(row.get('percentage')) or 'non calcolabile'}"
                + (f" — fascia {_band(row.get('band'))}" if not is_blank(row.get("band")) else "")
                + f" ({W.text(row.get('n_assessed'))} obiettivi valutati su {W.text(row.get('n_objectives'))})",
           bold=True)
    _exclusions(doc, data, code, objectives)
    for o in objectives:
        _objective(doc, data, code, o)


def _exclusions(doc: Document, data: _Data, code: str, objectives: list[dict]) -> None:
    lines = []
    for o in objectives:
        if W.text(o.get("counted")) == "no":
            why = "; ".join(x for x in (W.text(o.get("notes")), W.text(o.get("deviation_reason"))) if x)
            lines.append(f"{W.text(o['objective'])} {W.text(o['title'])} — {W.text(o['status'])}"
                         + (f": {why}" if why else ""))
        key = (code, W.text(o["objective"]))
        for p in data.phases.get(key, []):
            if W.text(p.get("neutralised")) == "sì":
                reason = W.text(data.phase_reasons.get((o["objective"], _int(p["phase"]))))
                lines.append(f"{W.text(o['objective'])} fase {W.text(p['phase'])} ({W.text(p['description'])}) — "
                             f"neutralizzata" + (f": {reason}" if reason else ""))
        for i in data.indicators.get(key, []):
            if W.text(i.get("neutralised")) == "sì":
                reason = W.text(data.indicator_reasons.get((o["objective"], _int(i["indicator"]))))
                lines.append(f"{W.text(o['objective'])} indicatore {W.text(i['indicator'])} "
                             f"({W.text(i['description'])}) — neutralizzato" + (f": {reason}" if reason else ""))
    W.heading(doc, "Obiettivi rinviati, non valutabili ed elementi neutralizzati", 3)
    if not lines:
        W.para(doc, "Nessuno: tutti gli obiettivi del settore sono conteggiati.")
    for line in lines:
        doc.add_paragraph(line, style="List Bullet")


def _int(v: Any) -> Any:
    p = parse_number(v)
    return int(p.value) if p.ok and p.value is not None and float(p.value).is_integer() else v


def _objective(doc: Document, data: _Data, code: str, o: dict) -> None:
    obj = W.text(o["objective"])
    W.heading(doc, f"{obj} — {W.text(o['title'])}", 3)
    planned = data.plan_objectives.get(obj, {})
    if planned.get("typology"):
        W.labelled(doc, "Tipologia", planned.get("typology"))
    if not is_blank(o.get("notes")):
        W.labelled(doc, "Nota sul grado", o.get("notes"))
    W.table(doc, None, [["Stato", W.text(o["status"]), "Grado calcolato %", W.pct(o["computed"])],
                        ["Realizzazione fasi %", W.pct(o.get("phases_pct")), "Grado dichiarato %", W.pct(o["declared"])],
                        ["Media indicatori %", W.pct(o.get("indicators_pct")), "Valutazione OIV %",
                         _oiv(o.get("oiv_grade"))],
                        ["Fonte del grado", W.text(o.get("grade_source")), "Grado %", W.pct(o["grade"])]],
            bold_cols=[0, 2], right=[3])
    phases = data.phases.get((code, obj), [])
    if phases:
        W.para(doc, "Fasi", bold=True)
        W.table(doc, ["N.", "Descrizione", "Inizio e fine previsti", "Inizio e fine effettivi", "Peso",
                      "Avanzamento %"],
                [[W.text(p["phase"]), _described(p, "Neutralizzata"), _period(p, "planned"), _period(p, "actual"),
                  W.num(p.get("weight")), W.pct(p.get("progress"))] for p in phases],
                right=[4, 5], size=8.5)
    indicators = data.indicators.get((code, obj), [])
    if indicators:
        W.para(doc, "Indicatori", bold=True)
        W.table(doc, ["N.", "Descrizione", "Verso", "Valore atteso", "Valore raggiunto", "Raggiungimento %",
                      "Esito"],
                [[W.text(i["indicator"]), _described(i, "Neutralizzato"),
                  {">=": "≥", "<=": "≤"}.get(W.text(i.get("direction")), W.text(i.get("direction"))),
                  W.value(i.get("target"), i.get("value_type")), _achieved(i), W.pct(i.get("score")),
                  W.text(i.get("status"))] for i in indicators], right=[3, 4, 5], size=8.5)
    W.para(doc, "Relazione del settore", bold=True)
    W.long_text(doc, o.get("report"))
    if not is_blank(o.get("deviation_reason")):
        W.para(doc, "Motivazione scostamento", bold=True)
        W.long_text(doc, o.get("deviation_reason"))
    if not is_blank(o.get("oiv_notes")):
        W.para(doc, "Note dell'OIV", bold=True)
        W.long_text(doc, o.get("oiv_notes"))


def _period(p: dict, which: str) -> str:
    start, end = W.date(p.get(f"{which}_start")), W.date(p.get(f"{which}_end"))
    return f"{start or DASH}\n{end or DASH}" if start or end else ""


def _achieved(i: dict) -> str:
    """Valore raggiunto: as pegxl read it (Valore letto), else as typed."""
    vt = W.text(i.get("value_type")) or None
    read = i.get("achieved")
    if not is_blank(read) and vt != "testo":
        return W.value(read, vt)
    return W.value(i.get("achieved_raw"), vt)


def _described(r: dict, word: str) -> str:
    d = W.text(r.get("description"))
    if W.text(r.get("neutralised")) == "sì":
        d += f"\n({word})"
    if not is_blank(r.get("notes")):
        d += f"\nNote: {W.text(r.get('notes'))}"
    return d


def _annex(doc: Document, book: ConsolidatedBook, data: _Data) -> None:
    W.heading(doc, "Allegato A — Anomalie ancora aperte", 1, new_page=True)
    if data.anomalies:
        W.para(doc, "Le segnalazioni del controllo dei file restituiti riportate nel foglio Anomalie del "
                    "consolidato, da verificare prima dell'approvazione.")
        W.table(doc, ["Settore", "Riferimento", "Codice", "Gravità", "Messaggio"],
                [[W.text(a.get("sector")), " ".join(x for x in (W.text(a.get("record")),
                                                                 _where(a)) if x),
                  W.text(a.get("code")), W.text(a.get("severity")), W.text(a.get("message"))]
                 for a in data.anomalies], size=8.5)
    else:
        W.para(doc, "Nessuna anomalia aperta.")
    W.heading(doc, "Allegato B — Provenienza dei dati", 1)
    W.para(doc, f"La relazione è tratta dal file {Path(book.path).name}; questo è stato costruito dai file "
                "restituiti dai settori elencati qui, ciascuno con la sua impronta SHA-256 (chi ha il file "
                "può verificare che sia lo stesso).")
    if data.provenance:
        W.table(doc, ["File", "Settore", "Letto il", "Utilizzato", "SHA-256"],
                [[W.text(p.get("name")), W.text(p.get("sector")), W.date(p.get("read_at")), W.text(p.get("used")),
                  _sha(p.get("sha256"))] for p in data.provenance], mono=[4], size=8.5)
    else:
        W.para(doc, "Nessun file restituito registrato.")


def _where(a: dict) -> str:
    parts = [W.text(a.get("file"))]
    if a.get("sheet"):
        parts.append(f"foglio {W.text(a.get('sheet'))}" + (f" cella {W.text(a.get('cell'))}" if a.get("cell") else ""))
    return "(" + ", ".join(p for p in parts if p) + ")" if any(parts) else ""


def _sha(v: Any) -> str:
    """The 64 hex digits in two lines of 32 (a cell cannot break a word nicely)."""
    s = W.text(v)
    return f"{s[:32]}\n{s[32:]}" if len(s) == 64 else s
