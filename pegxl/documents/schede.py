"""The schede obiettivo of the plan, for the Giunta's deliberation (documents.md), modelled on
the Cinisello Balsamo 2024 sheets and the DUP/PEG/PTCP sheet: a front page with the index,
then per settore (settore, responsabile) one scheda per objective -- code, title, links,
description, phases, indicators with the values of the two years before."""
from __future__ import annotations

import datetime as dt
import functools
import os
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from docx.document import Document

from ..errors import ErrorCode, PegxlError, finding
from ..plan import Plan, zeros_hint
from ..values import is_blank, safe_code, slugify
from . import word as W
from .bilancio import mission_label, programme_label
from .pdf import write_documents

DIRECTIONS = {">=": "≥", "<=": "≤", "=": "="}


def schede_name(plan: Plan, sector: str | None = None) -> str:
    """`<Anno>_schede_obiettivo.docx`, or `<Anno>_schede_obiettivo_<settore>_<slug>.docx`."""
    if sector is None:
        return f"{plan.anno}_schede_obiettivo.docx"
    name = plan.sector(sector).get("sector_name") or sector
    return f"{plan.anno}_schede_obiettivo_{safe_code(sector)}_{slugify(name)}.docx"


def check_sectors(plan: Plan, sectors: Iterable[str]) -> list[str]:
    """The settori asked for, each in the plan (else D004), without repeats, in plan order."""
    asked = list(dict.fromkeys(str(s).strip() for s in sectors))
    codes = plan.sector_codes
    unknown = [s for s in asked if s not in codes]
    if unknown:
        raise PegxlError([finding(ErrorCode.D004, value=s, file=plan.path,
                                  suggestion=zeros_hint(s, codes, "Settori")) for s in unknown])
    return [c for c in codes if c in set(asked)]


def write_schede(plan: Plan, outdir: str | os.PathLike, *, sectors: Iterable[str] = (), pdf: bool = False,
                 force: bool = False, now: dt.datetime | None = None) -> list[Path]:
    """The ente's schede in `outdir` and, for each of `sectors`, that settore's own (D004
    for a settore not in the plan); with `pdf`, their PDF too. The plan's indicators may
    carry `previous_2` (archive.fill_previous). Nothing is written when an output exists
    and not `force` (U002), or when `pdf` and LibreOffice is missing (D001)."""
    chosen = check_sectors(plan, sectors)
    out = Path(outdir)
    items: list[tuple[Path, Callable[[], Document]]] = [
        (out / schede_name(plan, s), functools.partial(build_schede, plan, s, now=now))
        for s in [None, *chosen]]
    return write_documents(items, pdf=pdf, force=force)


def build_schede(plan: Plan, sector: str | None = None, *, now: dt.datetime | None = None) -> Document:
    """The document (not saved): the ente's, or one settore's."""
    sectors = [sector] if sector is not None else plan.sector_codes
    where = f" — {_sector_title(plan, sector)}" if sector is not None else ""
    title = f"Schede obiettivo {plan.anno}"
    doc = W.document(title=f"{plan.ente}: {title}{where}", header=f"{plan.ente} — {title}{where}",
                     subject="Piano esecutivo di gestione e Piano della performance", now=now)
    groups = _groups(plan, sectors, whole=sector is None)
    _front(doc, plan, groups, sector)
    for label, manager, objectives, shared in groups:
        W.heading(doc, label, 1, new_page=True)
        if manager:
            W.labelled(doc, "Responsabile", manager)
        if not objectives:
            W.para(doc, "Nessun obiettivo assegnato.", italic=True)
        for i, o in enumerate(objectives):
            _scheda(doc, plan, o, shared=shared, first=i == 0, owner=label, manager=manager)
    return doc


def _sector_title(plan: Plan, code: str) -> str:
    name = plan.sector(code).get("sector_name")
    return f"{code} {name}" if name else code


def _groups(plan: Plan, sectors: list[str], *, whole: bool) -> list[tuple[str, str | None, list[dict], bool]]:
    """(heading, responsabile, objectives, shared) per section. In the ente's document an
    objective of several settori has one scheda, in a section of its own after the settori."""
    asg = plan.assignments
    owners: dict[str, list[str]] = {}
    for s, o in zip(asg["sector"], asg["objective"]):
        owners.setdefault(o, []).append(s)
    out = []
    for code in sectors:
        objs = plan.objectives_of(code).to_dict("records")
        if whole:
            objs = [o for o in objs if len(owners.get(o["objective"], [])) <= 1]
        out.append((_sector_title(plan, code), plan.sector(code).get("manager"), objs, False))
    if whole:
        shared = [o for o in plan.objectives.to_dict("records") if len(owners.get(o["objective"], [])) > 1]
        if shared:
            out.append(("Obiettivi comuni a più settori", None, shared, True))
    return out


def _front(doc: Document, plan: Plan, groups: list, sector: str | None) -> None:
    W.para(doc, plan.ente, bold=True, size=16, align="center")
    W.para(doc, "")
    W.heading(doc, f"Schede obiettivo {plan.anno}", 0)
    W.para(doc, "Piano esecutivo di gestione e Piano della performance (PIAO, sottosezione 2.2)",
           size=12, align="center")
    if sector is not None:
        W.para(doc, _sector_title(plan, sector), bold=True, size=13, align="center")
    W.para(doc, "Proposta per l'approvazione della Giunta", italic=True, align="center")
    W.para(doc, "")
    n_obj = sum(len(g[2]) for g in groups)
    W.labelled(doc, "Ente", plan.ente)
    W.labelled(doc, "Anno", plan.anno)
    if plan.reference_date:
        W.labelled(doc, "Data di riferimento", W.date(plan.reference_date))
    W.labelled(doc, "Contenuto", f"{n_obj} {'scheda' if n_obj == 1 else 'schede'} obiettivo, "
                                 f"{len([g for g in groups if not g[3]])} "
                                 f"{'settore' if len([g for g in groups if not g[3]]) == 1 else 'settori'}")
    W.heading(doc, "Indice dei settori e degli obiettivi", 1)
    weighted = any(not is_blank(o["weight"]) for g in groups for o in g[2])   # else a column of blanks
    for label, manager, objectives, _shared in groups:
        W.para(doc, label + (f" — Responsabile: {manager}" if manager else ""), bold=True)
        W.table(doc, ["Codice", "Obiettivo", "Tipologia"] + (["Peso"] if weighted else []),
                [[o["objective"], W.text(o["title"]), W.text(o["typology"])]
                 + ([_weight(o["weight"])] if weighted else []) for o in objectives]
                or [["", "Nessun obiettivo assegnato.", ""]], right=[3])


def _weight(w: Any) -> str:
    return W.num(w) if not is_blank(w) else ""


def _scheda(doc: Document, plan: Plan, o: dict[str, Any], *, shared: bool, first: bool,
            owner: str, manager: str | None) -> None:
    code = o["objective"]
    W.heading(doc, f"{code} — {W.text(o['title'])}", 2, new_page=not first)
    rows = [["Codice obiettivo", code], ["Titolo", W.text(o["title"])],
            ["Tipologia", W.text(o["typology"]) or W.text(o.get("typology_raw"))],
            ["Peso", _weight(o["weight"]) or "non indicato (pesi uguali)"]]
    if not shared:
        rows[1:1] = [["Settore", owner], ["Responsabile", W.text(manager)]]
    else:
        owners = [s for s, x in zip(plan.assignments["sector"], plan.assignments["objective"]) if x == code]
        rows.append(["Settori", "; ".join(_sector_title(plan, s) for s in owners)])
    for label, v in (("Missione", mission_label(o.get("mission"))),
                     ("Programma", programme_label(o.get("mission"), o.get("programme"))),
                     ("Obiettivo DUP", o.get("dup_objective")), ("Valore pubblico", o.get("public_value")),
                     ("Assessore di riferimento", o.get("assessor"))):
        if not is_blank(v):
            rows.append([label, W.text(v)])
    W.table(doc, None, rows, bold_cols=[0])
    W.heading(doc, "Finalità e risultati da raggiungere", 3)
    W.long_text(doc, o.get("description"))
    phases = plan.phases_of([code]).to_dict("records")
    W.heading(doc, "Fasi", 3)
    if phases:
        W.table(doc, ["N.", "Descrizione", "Inizio previsto", "Fine prevista", "Peso", "Responsabile"],
                [[W.text(p["phase"]), _with_neutral(p, "Neutralizzata"), W.date(p["planned_start"]),
                  W.date(p["planned_end"]), _weight(p["weight"]), W.text(p["manager"])] for p in phases], right=[4])
    else:
        W.para(doc, "Nessuna fase.", italic=True)
    indicators = plan.indicators_of([code]).to_dict("records")
    W.heading(doc, "Indicatori", 3)
    if indicators:
        y1, y2 = plan.anno - 1, plan.anno - 2
        W.table(doc, ["N.", "Descrizione", "Tipo", "Formula", "Unità di misura", "Valore atteso", "Verso",
                      f"Valore {y1}", f"Valore {y2}"],
                [[W.text(i["indicator"]), _with_neutral(i, "Neutralizzato"), W.text(i["kind"]),
                  W.text(i["formula"]), W.text(i["unit"]), target(i),
                  DIRECTIONS.get(W.text(i["direction"]), W.text(i["direction"])),
                  W.value(i.get("previous"), i.get("value_type")),
                  W.value(i.get("previous_2"), i.get("value_type"))] for i in indicators], right=[5, 7, 8], size=8.5)
    else:
        W.para(doc, "Nessun indicatore.", italic=True)


def target(i: Mapping[Any, Any]) -> str:
    """The Valore atteso of a plan indicator, as its Tipo valore reads."""
    v = i.get("target_value")
    if i.get("target_ok") and not is_blank(v):
        return W.value(v, i.get("value_type"))
    return W.text(i.get("target"))


def _with_neutral(r: Mapping[Any, Any], word: str) -> str:
    d = W.text(r["description"])
    if r.get("neutralised"):
        reason = W.text(r.get("neutralised_reason"))
        d += f"\n({word}{': ' + reason if reason else ''})"
    return d
