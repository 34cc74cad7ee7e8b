"""`pegxl demo`: the whole cycle on a realistic ente built from real documents.

The demo ente (pegxl/data/demo) takes its objectives, phases, weights, indicators and
results from the seed documents of Cinisello Balsamo 2024, Bellusco e Mezzago 2020 and
Adda Martesana 2020. Every step calls the same library functions as the CLI.
"""
from __future__ import annotations

import datetime as dt
import json
import shutil
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Callable

from openpyxl import load_workbook

from . import flows
from .archive import default_db
from .documents import find_soffice
from .errors import ErrorCode, PegxlError, finding, os_detail
from .explain import L_OBJECTIVE, render_text
from .synth import monitoring_inputs, plan_at
from .templates import template_name
from .templates.fill import fill_return
from .validators.plan import has_errors
from .values import format_percent
from .workbook import contract as C
from .workbook.io import atomic_save
from .workbook.planfile import write_plan

DEMO_DIR = "pegxl-demo"
MARKER = ".pegxl-demo"   # written into a demo folder: --force regenerates only such a folder


def demo_data() -> tuple[dict[str, Any], dict[str, Any]]:
    """(plan data, returns data) of the demo ente, as shipped in the package."""
    base = resources.files("pegxl") / "data" / "demo"
    plan = json.loads((base / "plan.json").read_text(encoding="utf-8"))
    returns = json.loads((base / "returns.json").read_text(encoding="utf-8"))
    return plan, returns


@dataclass
class DemoResult:
    directory: Path
    plan_path: Path
    templates: list[Path] = field(default_factory=list)
    returns: list[Path] = field(default_factory=list)
    validation: Any = None
    merge: Any = None
    oiv: Any = None
    documents: list[Path] = field(default_factory=list)
    monitoring: Any = None        # the merge of the Monitoraggio intermedio at 30/06
    steps: list[tuple[str, str]] = field(default_factory=list)


def run_demo(directory: str | Path = DEMO_DIR, *, force: bool = False,
             say: Callable[[str], None] = lambda s: None, pdf: bool | None = None) -> DemoResult:
    """Plan -> templates -> filled returns -> validation -> merge -> OIV -> documents, in
    `directory`; the documents' PDF with `pdf` (None: when LibreOffice is there)."""

    d = Path(directory)
    if d.exists() and any(d.iterdir()):
        if not force:
            raise PegxlError(finding(ErrorCode.U002, value=str(d), file=str(d)), exit_code=2)
        if not (d / MARKER).is_file():
            # --force deletes modelli, restituiti, ... and rewrites piano.xlsx: never in a real
            # cycle's folder, which uses the same names
            raise PegxlError(finding(ErrorCode.U001, file=str(d),
                                     detail=f"la cartella {d} non è stata creata da `pegxl demo`: --force "
                                            "rigenera solo una cartella della demo (indicarne un'altra, "
                                            "nuova o vuota)"), exit_code=2)
        for sub in ("modelli", "restituiti", "controllo", "consolidato", "oiv", "finale", "documenti",
                    MONITORING_DIR):
            shutil.rmtree(d / sub, ignore_errors=True)
    try:
        d.mkdir(parents=True, exist_ok=True)
        (d / MARKER).write_text("Cartella creata da `pegxl demo`: `pegxl demo --force` la rigenera.\n",
                                encoding="utf-8")
    except OSError as exc:   # read-only, full, or a file in the way: F010, not a traceback
        raise PegxlError(finding(ErrorCode.F010, file=str(d / MARKER), detail=os_detail(exc))) from exc
    plan_data, returns_data = demo_data()

    plan_path = write_plan(d / "piano.xlsx", plan_data)
    plan, findings = flows.check_plan(plan_path)
    if plan is None or has_errors(findings):
        raise PegxlError([f for f in findings if f.is_error] or findings, exit_code=1)
    res = DemoResult(d, plan_path)
    res.steps.append(("Piano", f"{plan_path} ({len(plan.sectors)} settori, {len(plan.objectives)} obiettivi)"))
    say(f"1. Piano dell'ente: {plan_path}")
    say(f"   {plan.ente}, {plan.anno}, {plan.fase}: {len(plan.sectors)} settori, "
        f"{len(plan.objectives)} obiettivi, {len(plan.phases)} fasi, {len(plan.indicators)} indicatori")

    res.monitoring = _monitoring_snapshot(d, plan_data, returns_data, say)

    res.templates = flows.make_templates(plan, d / "modelli")
    say(f"2. Modelli per i settori: {len(res.templates)} file in {d / 'modelli'}")

    (d / "restituiti").mkdir(exist_ok=True)
    for sector in plan.sector_codes:
        inputs = returns_data.get(sector)
        if not inputs:
            continue
        name = template_name(plan, sector)
        out = d / "restituiti" / name
        fill_return(d / "modelli" / name, out, inputs)
        res.returns.append(out)
    say(f"3. Modelli compilati dai settori (simulati): {len(res.returns)} file in {d / 'restituiti'}")

    checked = flows.validate(plan, [d / "restituiti"], annotate=d / "controllo", db=flows.BESIDE_PLAN)
    v = res.validation = checked.validation
    errors = sum(1 for f in v.findings if f.is_error)
    warnings = len(v.findings) - errors
    say(f"4. Controllo dei file restituiti: {len(v.usable_files)}/{len(v.files)} utilizzabili, "
        f"{errors} errori, {warnings} avvisi")
    if v.findings:
        say(f"   copie annotate da rimandare ai settori: {len(checked.annotated)} in {d / 'controllo'}")
    if checked.previous is not None:
        moved = [f for f in v.findings if f.is_(ErrorCode.V043, ErrorCode.V044)]
        say(f"   confronto con il monitoraggio {checked.previous.at}: {len(moved)} "
            f"{'avviso' if len(moved) == 1 else 'avvisi'} (avanzamento tornato indietro o risultato peggiorato)")

    db = default_db(plan)
    # the CLI's flows: archived in the same all-or-nothing step, the OIV's copy checked against it
    result = flows.merge_cycle(plan, [d / "restituiti"], d / "consolidato", db=db)
    res.merge = result
    say(f"5. Consolidato per l'OIV: {result.consolidated}")
    for line in _summary_lines(result.scores):
        say("   " + line)
    say(f"   {result.reconciliation.line()}; ciclo archiviato in {db}")

    returned = d / "oiv" / Path(result.consolidated).name
    changed = _simulate_oiv(result.consolidated, returned)
    say(f"6. Il Nucleo di Valutazione compila le sue colonne (simulato): {len(changed)} valutazioni in {returned}")
    final = flows.oiv_cycle(plan, returned, d / "finale", db=db)
    res.oiv = final
    say(f"7. Consolidato finale con le valutazioni OIV: {final.path}")
    for line in _summary_lines(final.scores):
        say("   " + line)
    sector, objective = OIV_ASSESSMENTS[1][:2]
    why = flows.explain(plan, final.path, objective)
    say(f"8. Perché {objective} ({sector}) vale {why.figure.shown + '%' if why.figure else '-'}: "
        f"pegxl spiega --plan {plan_path.name} finale/{final.path.name} {objective}")
    for line in render_text([s for s in why.steps if s.level == L_OBJECTIVE], width=77).splitlines()[1:]:
        say("   " + line)

    # the PDF only where LibreOffice is: the demo must run on a machine without it
    pdf = find_soffice() is not None if pdf is None else pdf
    docs = d / "documenti"
    res.documents = flows.schede(plan, docs, db=db, force=True)
    res.documents += flows.relazione(plan, final.path, docs, force=True)
    pdf_problem = None
    if pdf:   # one LibreOffice run for both
        try:
            res.documents += flows.pdf_of(res.documents, force=True)
        except PegxlError as exc:   # a LibreOffice without Writer, say: the .docx are there
            pdf_problem = exc.findings[0]
    say(f"9. Documenti: le schede obiettivo per la Giunta e la Relazione sulla performance in {docs}")
    for p in res.documents:
        say(f"   {p.name}")
    if not pdf:
        say("   LibreOffice non trovato: solo i .docx (con LibreOffice, `pegxl schede` e `pegxl relazione` "
            "con --pdf scrivono anche i PDF)")
    elif pdf_problem is not None:
        say(f"   PDF non creati: {pdf_problem.message} {pdf_problem.hint}")
    return res


MONITORING_DIR = "monitoraggio"
MONITORING_DATE = dt.date(2024, 6, 30)


def _monitoring_snapshot(d: Path, plan_data: dict[str, Any], returns_data: dict[str, Any],
                         say: Callable[[str], None]) -> Any:
    """The Monitoraggio intermedio at 30/06 of the same year, merged into the archive before
    the final report: the final templates show its values and validate compares with them.
    Its plan sits beside piano.xlsx, so both use the same archive."""
    m = d / MONITORING_DIR
    plan = flows.checked_plan(write_plan(d / "piano-monitoraggio.xlsx",
                                         plan_at(plan_data, "Monitoraggio intermedio", MONITORING_DATE)))
    inputs = monitoring_inputs(plan_data, returns_data, MONITORING_DATE)
    # a phase that stalled (20% at the end) had been reported at 30% in June: the final
    # check says the progress went back (V043)
    for f in inputs.get("S01", {}).get("Fasi", []):
        if (f["Codice obiettivo"], f["N. fase"]) == ("2024_S01_02", 1):
            f["Avanzamento %"] = 30
    templates = flows.make_templates(plan, m / "modelli")
    (m / "restituiti").mkdir(parents=True, exist_ok=True)
    for path, sector in zip(templates, plan.sector_codes):
        if inputs.get(sector):
            fill_return(path, m / "restituiti" / path.name, inputs[sector])
    result = flows.merge_cycle(plan, [m / "restituiti"], m / "consolidato")
    say(f"   Monitoraggio intermedio al {MONITORING_DATE:%d/%m/%Y} (simulato, piano {plan.path}): "
        f"consolidato {result.consolidated}, archiviato")
    return result


# The Nucleo of the Bellusco e Mezzago seed confirms most grades and lowers one whose
# indicators missed their targets: the demo does the same on two objectives.
OIV_ASSESSMENTS = (
    ("S05", "2024_S05_03", 85, "Due indicatori «≤ 0» non raggiunti: il Nucleo riconosce l'85%."),
    ("S01", "2024_S01_01", 90, "Grado dichiarato non pienamente documentato: il Nucleo riconosce il 90%."),
)


def _simulate_oiv(consolidated: str | Path, target: Path) -> list[tuple[str, str]]:
    """Fill Valutazione OIV % and Note OIV as the Nucleo would, in a copy."""
    wb = load_workbook(consolidated)
    ws = wb[C.SHEET_OBJECTIVES]
    head = {str(c.value): c.column for c in ws[1] if c.value is not None}
    done = []
    for r in range(2, ws.max_row + 1):
        key = (ws.cell(r, head["Codice settore"]).value, ws.cell(r, head["Codice obiettivo"]).value)
        for sector, objective, grade, note in OIV_ASSESSMENTS:
            if key == (sector, objective):
                ws.cell(r, head["Valutazione OIV %"], grade)
                ws.cell(r, head["Note OIV"], note)
                done.append(key)
    atomic_save(wb, target)
    return done


def _summary_lines(scores: Any) -> list[str]:
    lines = []
    for r in scores.sectors.to_dict("records"):
        pct = format_percent(r["percentage"]) if r["percentage"] == r["percentage"] else "n.d."
        lines.append(f"{r['sector']:<6} {str(r['sector_name'])[:44]:<44} {pct:>8}  fascia {r['band'] or '-'}")
    ente = scores.ente
    if ente.get("percentage") is not None:
        lines.append(f"{'Ente':<51} {format_percent(ente['percentage']):>8}  fascia {ente.get('band') or '-'}")
    return lines
