"""Shared builders for the tests of status, mail, archive and export: a small plan written
with write_plan, its templates, and returns filled the way a settore would (public API only)."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from pegxl.plan import Plan
from pegxl.validators.plan import check_plan, has_errors
from pegxl.workbook.planfile import write_plan

SECTORS = ("S01", "S02", "S03")


def plan_data(anno: int = 2024, fase: str = "Rendicontazione finale") -> dict[str, Any]:
    """Three settori, one objective each (codes carrying the year) and a trasversale one."""
    y = anno
    return {
        "Ente": [["Ente", "Comune di Prova"], ["Anno", y], ["Fase del ciclo", fase],
                 ["Data di riferimento", f"{y}-12-31"], ["Scadenza consegna", f"{y + 1}-02-28"],
                 ["Ufficio referente", "Controllo di gestione"],
                 ["Email ufficio", "controllo@comune.example"]],
        "Settori": [
            {"Codice settore": "S01", "Settore": "Affari generali", "Responsabile": "Anna Rossi",
             "Email": "anna.rossi@comune.example"},
            {"Codice settore": "S02", "Settore": "Finanziario", "Responsabile": "Luca Bianchi",
             "Email": "luca.bianchi@comune.example"},
            {"Codice settore": "S03", "Settore": "Servizi sociali", "Responsabile": "Giulia Verdi",
             "Email": "giulia.verdi@comune.example"},
        ],
        "Obiettivi": [
            {"Codice obiettivo": f"{y}_S01_01", "Codice settore": "S01", "Titolo": "Digitalizzazione atti",
             "Tipologia": "Gestionale"},
            {"Codice obiettivo": f"{y}_S02_01", "Codice settore": "S02", "Titolo": "Riscossione",
             "Tipologia": "Gestionale"},
            {"Codice obiettivo": f"{y}_S03_01", "Codice settore": "S03", "Titolo": "Tutela minori",
             "Tipologia": "Strategico"},
            {"Codice obiettivo": "PTPCT", "Codice settore": "*", "Titolo": "Misure anticorruzione",
             "Tipologia": "Trasversale"},
        ],
        "Fasi": [
            {"Codice obiettivo": f"{y}_S01_01", "N. fase": 1, "Descrizione": "Analisi",
             "Inizio previsto": f"{y}-01-01", "Fine prevista": f"{y}-02-29" if y % 4 == 0 else f"{y}-02-28",
             "Peso": 40},
            {"Codice obiettivo": f"{y}_S01_01", "N. fase": 2, "Descrizione": "Realizzazione",
             "Inizio previsto": f"{y}-03-01", "Fine prevista": f"{y}-12-31", "Peso": 60},
            {"Codice obiettivo": f"{y}_S02_01", "N. fase": 1, "Descrizione": "Solleciti",
             "Fine prevista": f"{y}-06-30", "Peso": 100},
            {"Codice obiettivo": f"{y}_S03_01", "N. fase": 1, "Descrizione": "Presa in carico",
             "Fine prevista": f"{y}-12-31", "Peso": 100},
            {"Codice obiettivo": "PTPCT", "N. fase": 1, "Descrizione": "Pubblicazioni",
             "Fine prevista": f"{y}-12-31", "Peso": 100},
        ],
        "Indicatori": [
            {"Codice obiettivo": f"{y}_S01_01", "N. indicatore": 1, "Descrizione": "N. atti digitali",
             "Tipo": "EFFICACIA", "Tipo valore": "numero", "Verso": ">=", "Valore atteso": 300},
            {"Codice obiettivo": f"{y}_S01_01", "N. indicatore": 2, "Descrizione": "Regolamento approvato entro",
             "Tipo": "TEMPORALE", "Tipo valore": "data", "Verso": "<=", "Valore atteso": f"{y}-10-31"},
            {"Codice obiettivo": f"{y}_S02_01", "N. indicatore": 1, "Descrizione": "% riscossione",
             "Tipo": "EFFICIENZA", "Tipo valore": "percentuale", "Verso": ">=", "Valore atteso": 80},
            {"Codice obiettivo": f"{y}_S03_01", "N. indicatore": 1, "Descrizione": "Progetto avviato",
             "Tipo": "QUALITATIVO", "Tipo valore": "sì/no", "Valore atteso": "sì"},
            {"Codice obiettivo": "PTPCT", "N. indicatore": 1, "Descrizione": "% dati pubblicati",
             "Tipo": "EFFICACIA", "Tipo valore": "percentuale", "Verso": ">=", "Valore atteso": 100},
        ],
    }


ACHIEVED = {2024: {"S01": (366, "2024-09-30", 100), "S02": (85.5, None, 90), "S03": ("sì", None, 100)},
            2025: {"S01": (410, "2025-11-15", 100), "S02": (70, None, 100), "S03": ("no", None, 100)}}


def inputs(anno: int, sector: str, *, bad: bool = False) -> dict[str, list[dict[str, Any]]]:
    """What settore `sector` types in its template for `anno` (bad: a progress of 150)."""
    main, date_value, ptpct = ACHIEVED.get(anno, ACHIEVED[2024])[sector]
    code = f"{anno}_{sector}_01"
    objectives = [{"Codice obiettivo": code, "Stato": "Concluso", "Relazione": f"Relazione {sector}"},
                  {"Codice obiettivo": "PTPCT", "Stato": "Concluso"}]
    phases = [{"Codice obiettivo": code, "N. fase": 1, "Avanzamento %": 150 if bad else 100},
              {"Codice obiettivo": "PTPCT", "N. fase": 1, "Avanzamento %": 100}]
    if sector == "S01":
        phases.append({"Codice obiettivo": code, "N. fase": 2, "Avanzamento %": 80})
    indicators = [{"Codice obiettivo": code, "N. indicatore": 1, "Valore raggiunto": main},
                  {"Codice obiettivo": "PTPCT", "N. indicatore": 1, "Valore raggiunto": ptpct}]
    if date_value:
        indicators.append({"Codice obiettivo": code, "N. indicatore": 2, "Valore raggiunto": date_value})
    return {"Obiettivi": objectives, "Fasi": phases, "Indicatori": indicators}


def load(path: Path) -> Plan:
    plan, findings = check_plan(path)
    assert plan is not None and not has_errors(findings), [str(f) for f in findings if f.is_error]
    return plan


def make_plan(directory: Path, anno: int = 2024, data: dict[str, Any] | None = None,
              name: str = "piano.xlsx") -> tuple[Path, Plan]:
    directory.mkdir(parents=True, exist_ok=True)
    path = write_plan(directory / name, data if data is not None else plan_data(anno))
    return path, load(path)


def make_templates(plan: Plan, directory: Path) -> dict[str, Path]:
    from pegxl.templates import generate_templates, template_name
    generate_templates(plan, directory)
    return {s: directory / template_name(plan, s) for s in plan.sector_codes}


def fill(plan: Plan, templates: dict[str, Path], outdir: Path, sectors=SECTORS, *,
         bad: tuple[str, ...] = ()) -> dict[str, Path]:
    from pegxl.templates import fill_return
    outdir.mkdir(parents=True, exist_ok=True)
    out = {}
    for s in sectors:
        target = outdir / templates[s].name
        fill_return(templates[s], target, inputs(plan.anno, s, bad=s in bad))
        out[s] = target
    return out


def cycle(base: Path, anno: int = 2024, data: dict[str, Any] | None = None):
    """Plan, templates, all returns filled, merged: (plan_path, plan, templates, returns, result)."""
    from pegxl.merge import merge
    plan_path, plan = make_plan(base, anno, copy.deepcopy(data) if data else None)
    templates = make_templates(plan, base / "modelli")
    returns = fill(plan, templates, base / "restituiti")
    result = merge(plan, [base / "restituiti"], base / "consolidato")
    return plan_path, plan, templates, returns, result
