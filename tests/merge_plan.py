"""The merge test plan, its typed returns and the figures computed by hand, shared by the tests
of merge, OIV, OIV trust and the LibreOffice end-to-end run.

Through the public API only: a hand-built plan written with `write_plan` and checked with
`read_plan`, templates from `generate_templates`, returns typed with `fill_return`, then
`merge`. The consolidated workbook is read back with openpyxl and checked figure by figure
against the values computed by hand below (default Regole: Peso fasi 50, Peso indicatori
50, Tetto 100, Ritardo azzera sì).

Plan (Rendicontazione finale 2024), settori S01 (Peso 60) and S02 (Peso 40):

  O1  S01  peso 50  fasi 40 + 60; indicators 1 numero >= 200, 2 sì/no (atteso sì)
  O2  S01  peso 30  fase 100; no indicator
  O3  S02  peso 80  fasi 50 + 30 + 20 (the 20 neutralised); indicators 1 data <= 30/06/2024,
                    2 percentuale >= 80
  T1  *    peso 20  fase 100; indicators 1 testo (not computed), 2 CONTESTO (never counted)

S01 typed: O1 Concluso, fasi 100 and 50, raggiunto 150 and "sì"
             fasi    = 40*100/100 + 60*50/100 = 70
             indic.  = (100*150/200 + 100) / 2 = (75 + 100) / 2 = 87.5
             grado   = (70 + 87.5) / 2 = 78.75
           O2 In corso, fase 60, Grado dichiarato 90 (with Motivazione): calcolato 60, grado 90
           T1 Concluso, fase 100: calcolato 100 (phases only), grado 100
           S01 = (78.75*50 + 90*30 + 100*20) / 100 = 39.375 + 27 + 20 = 86.375  -> B
S02 typed: O3 Concluso, fasi 100 and 50 (the neutralised one left out, pesi 50/30 -> 62.5/37.5)
             fasi    = 62.5*100/100 + 37.5*50/100 = 81.25
             indic.  = (0 [10/07 after 30/06: late = 0] + 100 ["95%" >= 80, capped]) / 2 = 50
             grado   = (81.25 + 50) / 2 = 65.625
           T1 Rinviato (with Motivazione): no Grado, out of the mean
           S02 = 65.625                                                           -> C
Ente = (86.375*60 + 65.625*40) / 100 = 51.825 + 26.25 = 78.075                       -> B
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import openpyxl

from pegxl.validators.plan import read_plan
from pegxl.templates import fill_return, generate_templates
from pegxl.workbook.planfile import write_plan

NOW = dt.datetime(2025, 2, 3, 9, 30, 0)
APPROX = dict(rel=1e-12, abs=1e-12)

PLAN = {
    "Ente": [["Ente", "Comune di Prova"], ["Anno", 2024], ["Fase del ciclo", "Rendicontazione finale"],
             ["Data di riferimento", "2024-12-31"], ["Scadenza consegna", "2025-01-31"]],
    "Settori": [
        {"Codice settore": "S01", "Settore": "Affari generali", "Responsabile": "Rossi Anna", "Peso": 60},
        {"Codice settore": "S02", "Settore": "Servizi sociali", "Responsabile": "Bianchi Luca", "Peso": 40},
    ],
    "Obiettivi": [
        {"Codice obiettivo": "O1", "Codice settore": "S01", "Titolo": "Digitalizzare i servizi",
         "Tipologia": "Strategico", "Peso": 50},
        {"Codice obiettivo": "O2", "Codice settore": "S01", "Titolo": "Sportello unico",
         "Tipologia": "Gestionale", "Peso": 30},
        {"Codice obiettivo": "O3", "Codice settore": "S02", "Titolo": "Assistenza domiciliare",
         "Tipologia": "Esecutivo", "Peso": 80},
        {"Codice obiettivo": "T1", "Codice settore": "*", "Titolo": "Trasparenza",
         "Tipologia": "PTPCT", "Peso": 20},
    ],
    "Fasi": [
        {"Codice obiettivo": "O1", "N. fase": 1, "Descrizione": "Analisi", "Inizio previsto": "2024-01-15",
         "Fine prevista": "2024-03-31", "Peso": 40},
        {"Codice obiettivo": "O1", "N. fase": 2, "Descrizione": "Sviluppo", "Inizio previsto": "2024-04-01",
         "Fine prevista": "2024-12-31", "Peso": 60},
        {"Codice obiettivo": "O2", "N. fase": 1, "Descrizione": "Apertura", "Fine prevista": "2024-12-31",
         "Peso": 100},
        {"Codice obiettivo": "O3", "N. fase": 1, "Descrizione": "Gara", "Fine prevista": "2024-05-31", "Peso": 50},
        {"Codice obiettivo": "O3", "N. fase": 2, "Descrizione": "Servizio", "Fine prevista": "2024-11-30",
         "Peso": 30},
        {"Codice obiettivo": "O3", "N. fase": 3, "Descrizione": "Osservatorio", "Fine prevista": "2024-12-31",
         "Peso": 20, "Neutralizzata": "sì", "Motivo neutralizzazione": "Attività eliminata"},
        {"Codice obiettivo": "T1", "N. fase": 1, "Descrizione": "Pubblicazioni", "Fine prevista": "2024-12-31",
         "Peso": 100},
    ],
    "Indicatori": [
        {"Codice obiettivo": "O1", "N. indicatore": 1, "Descrizione": "Servizi online", "Tipo": "EFFICACIA",
         "Tipo valore": "numero", "Verso": ">=", "Valore atteso": 200},
        {"Codice obiettivo": "O1", "N. indicatore": 2, "Descrizione": "Portale attivo", "Tipo": "QUALITÀ",
         "Tipo valore": "sì/no", "Valore atteso": "sì"},
        {"Codice obiettivo": "O3", "N. indicatore": 1, "Descrizione": "Aggiudicazione", "Tipo": "TEMPORALE",
         "Tipo valore": "data", "Verso": "<=", "Valore atteso": "2024-06-30"},
        {"Codice obiettivo": "O3", "N. indicatore": 2, "Descrizione": "Utenti soddisfatti",
         "Tipo": "EFFICACIA", "Tipo valore": "percentuale", "Valore atteso": 80},
        {"Codice obiettivo": "T1", "N. indicatore": 1, "Descrizione": "Relazione", "Tipo": "QUALITATIVO",
         "Tipo valore": "testo", "Valore atteso": "Relazione pubblicata"},
        {"Codice obiettivo": "T1", "N. indicatore": 2, "Descrizione": "Residenti", "Tipo": "CONTESTO",
         "Tipo valore": "numero", "Valore atteso": 5000},
    ],
}

RELAZIONE = "=SUM(A1)"

INPUTS = {
    "S01": {
        "Obiettivi": [
            {"Codice obiettivo": "O1", "Stato": "Concluso", "Relazione": RELAZIONE},
            {"Codice obiettivo": "O2", "Stato": "In corso", "Grado dichiarato %": 90,
             "Motivazione scostamento": "Ritardo del fornitore, risultato raggiunto in altro modo"},
            {"Codice obiettivo": "T1", "Stato": "Concluso"},
        ],
        "Fasi": [
            {"Codice obiettivo": "O1", "N. fase": 1, "Avanzamento %": 100, "Inizio effettivo": "2024-01-20",
             "Note": "+ fatto in anticipo"},
            {"Codice obiettivo": "O1", "N. fase": 2, "Avanzamento %": 50},
            {"Codice obiettivo": "O2", "N. fase": 1, "Avanzamento %": 60},
            {"Codice obiettivo": "T1", "N. fase": 1, "Avanzamento %": 100},
        ],
        "Indicatori": [
            {"Codice obiettivo": "O1", "N. indicatore": 1, "Valore raggiunto": 150},
            {"Codice obiettivo": "O1", "N. indicatore": 2, "Valore raggiunto": "sì"},
            {"Codice obiettivo": "T1", "N. indicatore": 1, "Valore raggiunto": "Pubblicata a marzo"},
            {"Codice obiettivo": "T1", "N. indicatore": 2, "Valore raggiunto": 5100},
        ],
    },
    "S02": {
        "Obiettivi": [
            {"Codice obiettivo": "O3", "Stato": "Concluso"},
            {"Codice obiettivo": "T1", "Stato": "Rinviato", "Motivazione scostamento": "Rinviato al 2025"},
        ],
        "Fasi": [
            {"Codice obiettivo": "O3", "N. fase": 1, "Avanzamento %": 100},
            {"Codice obiettivo": "O3", "N. fase": 2, "Avanzamento %": 50},
            {"Codice obiettivo": "T1", "N. fase": 1, "Avanzamento %": 0},
        ],
        "Indicatori": [
            {"Codice obiettivo": "O3", "N. indicatore": 1, "Valore raggiunto": "2024-07-10"},
            {"Codice obiettivo": "O3", "N. indicatore": 2, "Valore raggiunto": "95%"},
            {"Codice obiettivo": "T1", "N. indicatore": 1, "Valore raggiunto": "Non svolta"},
            {"Codice obiettivo": "T1", "N. indicatore": 2, "Valore raggiunto": 4800},
        ],
    },
}
TYPED = 26     # non-blank inputs above: S01 6 + 6 + 4, S02 3 + 3 + 4

# hand-computed figures (module docstring)
GRADES = {("S01", "O1"): 78.75, ("S01", "O2"): 90.0, ("S01", "T1"): 100.0,
          ("S02", "O3"): 65.625, ("S02", "T1"): None}
COMPUTED = {("S01", "O1"): 78.75, ("S01", "O2"): 60.0, ("S01", "T1"): 100.0,
            ("S02", "O3"): 65.625, ("S02", "T1"): 0.0}   # a Rinviato still shows its calcolato
S01, S02, ENTE = 86.375, 65.625, 78.075


# ------------------------------------------------------------------------- helpers

def build(tmp: Path, inputs: dict | None = None, plan_data: dict | None = None) -> tuple[Any, Path, dict[str, Path]]:
    """plan -> templates -> returns; returns (plan, returns dir, {settore: return path})."""
    plan_path = write_plan(tmp / "piano.xlsx", plan_data or PLAN)
    plan = read_plan(plan_path)
    templates = generate_templates(plan, tmp / "modelli", generated_at=dt.datetime(2024, 12, 1, 8, 0))
    by_sector = {p.name.split("_")[1]: p for p in templates}
    rdir = tmp / "ritorni"
    rdir.mkdir(exist_ok=True)
    out = {}
    for sector, typed in (inputs or INPUTS).items():
        out[sector] = fill_return(by_sector[sector], rdir / by_sector[sector].name, typed)
    return plan, rdir, out


def header_row(ws) -> int:
    """The row of a table sheet's headers: the first with two cells or more (Sintesi opens
    with a title block of one-cell lines, issue 13)."""
    for r in range(1, min(ws.max_row, 20) + 1):
        if sum(c.value is not None for c in ws[r]) >= 2:
            return r
    return 1


def header_map(ws) -> dict[str, int]:
    return {c.value: c.column for c in ws[header_row(ws)] if c.value is not None}


def rows_by_key(ws, *key_headers: str) -> dict[tuple, dict[str, Any]]:
    """Rows of a table sheet as {key: {header: value}} (the reader's way: by header)."""
    h = header_map(ws)
    out = {}
    for r in range(header_row(ws) + 1, ws.max_row + 1):
        key = tuple(ws.cell(row=r, column=h[k]).value for k in key_headers)
        if key[0] is None:
            continue
        out[key] = {name: ws.cell(row=r, column=c).value for name, c in h.items()}
        out[key]["_row"] = r
    return out


def oiv_copy(src: Path, dst: Path, edits: dict[tuple[str, tuple, str], object]) -> Path:
    """Copy the consolidated workbook, editing cells found by (sheet, key, header)."""
    wb = openpyxl.load_workbook(src)
    for (sheet, key, header), value in edits.items():
        ws = wb[sheet]
        keys = {"Obiettivi": ("Codice settore", "Codice obiettivo"),
                "Fasi": ("Codice settore", "Codice obiettivo", "N. fase"),
                "Indicatori": ("Codice settore", "Codice obiettivo", "N. indicatore"),
                "Sintesi": ("Codice settore",)}[sheet]
        row = rows_by_key(ws, *keys)[key]["_row"]
        ws.cell(row=row, column=header_map(ws)[header]).value = value
    wb.save(dst)
    return dst
