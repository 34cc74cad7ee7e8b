"""Synthetic plans and returns, for tests, the demo and benchmarks.

`synthetic_plan` gives a dict in `write_plan`'s format (a valid plan: phase pesi sum to
100, objective pesi to 100 per settore, every Tipo valore used); `synthetic_inputs` the
inputs of one settore in `fill_return`'s format. Pure Python with a seeded
random.Random: fast and reproducible.
"""
from __future__ import annotations

import datetime as dt
import random
import re
from typing import Any

from .workbook import contract as C

SECTOR_NAMES = (
    "Affari generali e istituzionali", "Servizi finanziari e tributi", "Lavori pubblici e manutenzioni",
    "Urbanistica ed edilizia privata", "Servizi sociali e politiche per la famiglia", "Polizia locale",
    "Servizi demografici e statistici", "Cultura, sport e tempo libero", "Istruzione e servizi educativi",
    "Ambiente ed ecologia", "Sviluppo economico e SUAP", "Personale e organizzazione",
    "Sistemi informativi e transizione digitale", "Patrimonio ed espropri", "Gare, contratti e appalti",
    "Comunicazione e URP", "Protezione civile", "Biblioteca e archivio storico",
    "Segreteria generale", "Mobilità e trasporti",
)
FIRST = ("Anna", "Luca", "Giulia", "Marco", "Francesca", "Paolo", "Chiara", "Stefano", "Elena",
         "Davide", "Silvia", "Andrea", "Laura", "Matteo", "Valentina", "Roberto")
LAST = ("Rossi", "Bianchi", "Colombo", "Ferrari", "Esposito", "Romano", "Ricci", "Marino", "Greco",
        "Bruno", "Gallo", "Conti", "De Luca", "Mancini", "Costa", "Giordano", "Rizzo", "Lombardi")
VERBS = ("Digitalizzazione", "Riorganizzazione", "Potenziamento", "Semplificazione", "Monitoraggio",
         "Riduzione dei tempi", "Aggiornamento", "Completamento", "Avvio", "Revisione")
OBJECTS = ("dei procedimenti amministrativi", "dello sportello al cittadino", "della riscossione delle entrate",
           "dell'archivio corrente", "della manutenzione del verde pubblico", "dei controlli sul territorio",
           "del regolamento comunale", "del piano delle opere pubbliche", "dei servizi scolastici",
           "della rete dei servizi sociali", "della banca dati anagrafica", "delle procedure di gara")
PHASES = ("Analisi della situazione attuale", "Progettazione dell'intervento", "Affidamento del servizio",
          "Realizzazione delle attività", "Verifica e collaudo", "Rendicontazione finale",
          "Formazione del personale", "Comunicazione ai cittadini")
INDICATORS = {
    "numero": ("N. pratiche evase", "N. interventi eseguiti", "N. utenti serviti", "Giorni medi di attesa"),
    "percentuale": ("% pratiche concluse nei termini", "% soddisfazione utenti", "% riscossione"),
    "sì/no": ("Approvazione del regolamento", "Pubblicazione dei dati in Amministrazione trasparente",
              "Assenza di segnalazioni di illeciti"),
    "data": ("Entro la data: approvazione del progetto", "Entro la data: avvio del servizio"),
    "testo": ("Qualità della relazione finale", "Esito della verifica dell'OIV"),
}
VALUE_TYPES = ("numero", "percentuale", "sì/no", "data", "testo")
KINDS = ("EFFICACIA", "EFFICIENZA", "QUALITÀ", "QUANTITATIVO", "TEMPORALE", "ECONOMICITÀ")
TRANSVERSAL_TITLES = ("Attuazione delle misure del PTPCT", "Trasparenza e pubblicazione dei dati",
                      "Rispetto dei tempi di pagamento", "Transizione digitale dei servizi")
NEUTRAL_REASON = "Attività sospesa per cause esterne al settore (decisione del Nucleo)."


def _split(total: int, n: int, rng: random.Random, jitter: bool = True) -> list[int]:
    """n positive integers summing to `total` (n <= total)."""
    if not jitter:
        base, extra = divmod(total, n)
        return [base + (1 if i < extra else 0) for i in range(n)]
    raw = [rng.randint(2, 6) for _ in range(n)]
    s = sum(raw)
    parts = [max(1, round(total * x / s)) for x in raw]
    parts[-1] = total - sum(parts[:-1])
    if parts[-1] < 1:
        return _split(total, n, rng, jitter=False)
    return parts


def _date(anno: int, day_of_year: int) -> dt.date:
    return dt.date(anno, 1, 1) + dt.timedelta(days=max(0, min(day_of_year, 364)))


def sector_codes(n: int) -> list[str]:
    width = max(2, len(str(n)))
    return [f"S{i:0{width}d}" for i in range(1, n + 1)]


def synthetic_plan(n_sectors: int = 5, n_objectives: int = 8, n_phases: int = 4, n_indicators: int = 3,
                   anno: int = 2024, seed: int = 0, transversal: int = 2, *,
                   neutralised: float = 0.05, fase: str = "Rendicontazione finale") -> dict[str, Any]:
    """A valid plan in write_plan's format: `n_objectives` own objectives per settore plus
    `transversal` shared ones (odd ones `*`, even ones a `;` list of the first settori)."""
    rng = random.Random(seed)
    codes = sector_codes(n_sectors)
    data: dict[str, Any] = {
        C.SHEET_ENTE: [["Ente", "Comune di Borgo Sintetico"], ["Anno", anno], ["Fase del ciclo", fase],
                       ["Data di riferimento", f"{anno}-12-31"], ["Scadenza consegna", f"{anno + 1}-01-31"],
                       ["Ufficio referente", "Controllo di gestione"],
                       ["Email ufficio", "controllo.gestione@example.org"]],
        C.SHEET_SECTORS: [], C.SHEET_OBJECTIVES: [], C.SHEET_PHASES: [], C.SHEET_INDICATORS: [],
    }
    for i, code in enumerate(codes):
        name = SECTOR_NAMES[i % len(SECTOR_NAMES)]
        if i >= len(SECTOR_NAMES):
            name = f"{name} {i // len(SECTOR_NAMES) + 1}"
        data[C.SHEET_SECTORS].append({
            "Codice settore": code, "Settore": name,
            "Responsabile": f"{LAST[(i * 7) % len(LAST)]} {FIRST[(i * 5) % len(FIRST)]}",
            "Email": f"settore{i + 1}@example.org"})

    # Transversal objectives first: their weight is the same in every settore they reach.
    t_weight = 5
    assigned_t = {c: 0 for c in codes}
    objectives: list[tuple[str, str, str, str, int | None]] = []   # code, sectors, title, typology, weight
    for j in range(transversal):
        if j % 2 == 0 or n_sectors < 2:
            target = C.ALL_SECTORS
            reach = codes
        else:
            reach = codes[:max(2, n_sectors // 2)]
            target = ";".join(reach)
        for c in reach:
            assigned_t[c] += t_weight
        objectives.append((f"{anno}_T{j + 1:02d}", target, TRANSVERSAL_TITLES[j % len(TRANSVERSAL_TITLES)],
                           "PTPCT" if j % 2 == 0 else "Trasversale", t_weight))
    weighted = all(100 - assigned_t[c] >= n_objectives for c in codes)
    if not weighted:
        objectives = [(o, s, t, ty, None) for o, s, t, ty, _ in objectives]
    typologies = [t for t in C.TIPOLOGIE if t != "Trasversale"]
    for c in codes:
        weights = _split(100 - assigned_t[c], n_objectives, rng) if weighted else [None] * n_objectives
        for k in range(n_objectives):
            title = f"{VERBS[rng.randrange(len(VERBS))]} {OBJECTS[rng.randrange(len(OBJECTS))]}"
            objectives.append((f"{anno}_{c}_{k + 1:02d}", c, title,
                               typologies[(k + len(c)) % len(typologies)], weights[k]))

    for n_obj, (ocode, target, title, typology, weight) in enumerate(objectives):
        data[C.SHEET_OBJECTIVES].append({
            "Codice obiettivo": ocode, "Codice settore": target, "Titolo": title,
            "Descrizione": f"{title}: obiettivo del piano {anno}.", "Tipologia": typology,
            "Missione": f"{1 + n_obj % 12:02d}", "Programma": f"{1 + n_obj % 8:02d}",
            "Obiettivo DUP": "Un'amministrazione efficiente e vicina ai cittadini",
            "Valore pubblico": "Servizi più rapidi e accessibili", "Assessore": "Sindaco",
            "Peso": weight})
        pw = _split(100, n_phases, rng) if n_phases else []
        start = rng.randint(0, 60)
        for p in range(n_phases):
            end = start + rng.randint(30, 90)
            neutral = p > 0 and rng.random() < neutralised
            data[C.SHEET_PHASES].append({
                "Codice obiettivo": ocode, "N. fase": p + 1, "Descrizione": PHASES[(p + n_obj) % len(PHASES)],
                "Inizio previsto": _date(anno, start).isoformat(), "Fine prevista": _date(anno, end).isoformat(),
                "Peso": pw[p], "Responsabile": f"{LAST[(n_obj + p) % len(LAST)]} {FIRST[p % len(FIRST)]}",
                "Neutralizzata": "sì" if neutral else None,
                "Motivo neutralizzazione": NEUTRAL_REASON if neutral else None})
            start = min(end, 300)
        ind_weights = [rng.randint(1, 5) for _ in range(n_indicators)] if n_obj % 3 == 1 else [None] * n_indicators
        for k in range(n_indicators):
            vt = VALUE_TYPES[(n_obj + k) % len(VALUE_TYPES)]
            kind = "QUALITATIVO" if vt == "testo" else KINDS[(n_obj * 3 + k) % len(KINDS)]
            if vt == "numero" and k == n_indicators - 1 and n_obj % 7 == 3:
                kind = "CONTESTO"
            verso, unit, previous = None, None, None
            expected: int | str
            if vt == "numero":
                verso = rng.choices((">=", "<=", "="), (6, 3, 1))[0]
                expected = rng.randint(5, 500)
                unit, previous = "n.", max(0, expected + rng.randint(-50, 50))
            elif vt == "percentuale":
                verso = rng.choice((">=", ">=", "<="))
                expected = rng.randint(50, 100)
                unit, previous = "%", max(0, expected - rng.randint(0, 20))
            elif vt == "sì/no":
                expected = "sì" if rng.random() < 0.85 else "no"
            elif vt == "data":
                verso = "<="
                expected = _date(anno, rng.randint(120, 350)).isoformat()
                unit = "data"
            else:
                expected = "Relazione approvata dalla Giunta"
            neutral = k > 0 and rng.random() < neutralised
            data[C.SHEET_INDICATORS].append({
                "Codice obiettivo": ocode, "N. indicatore": k + 1,
                "Descrizione": INDICATORS[vt][(n_obj + k) % len(INDICATORS[vt])], "Tipo": kind,
                "Formula": "numeratore / denominatore" if vt == "percentuale" else None,
                "Unità di misura": unit, "Tipo valore": vt, "Verso": verso, "Valore atteso": expected,
                "Valore anno precedente": previous, "Peso": ind_weights[k], "Fonte dati": "Gestionale interno",
                "Neutralizzato": "sì" if neutral else None,
                "Motivo neutralizzazione": NEUTRAL_REASON if neutral else None})
    return data


_LIST = re.compile(r"[;,]")


def _assigned(target: str, sector: str) -> bool:
    t = (target or "").strip()
    if t == C.ALL_SECTORS:
        return True
    return sector in {p.strip() for p in _LIST.split(t)}


def _is_yes(v: Any) -> bool:
    return str(v).strip().lower() in ("sì", "si", "yes", "true", "x")


def synthetic_inputs(plan_data: dict[str, Any], sector: str, seed: int = 0) -> dict[str, list[dict[str, Any]]]:
    """Every required input of a Rendicontazione finale for `sector`, in fill_return's format.

    Neutralised phases and indicators are left alone (their cells are locked)."""
    rng = random.Random(f"{seed}:{sector}")
    anno = next(int(v) for k, v in plan_data[C.SHEET_ENTE] if k == "Anno")
    mine = [o["Codice obiettivo"] for o in plan_data[C.SHEET_OBJECTIVES]
            if _assigned(o["Codice settore"], sector)]
    wanted = set(mine)
    out: dict[str, list[dict[str, Any]]] = {C.SHEET_OBJECTIVES: [], C.SHEET_PHASES: [], C.SHEET_INDICATORS: []}
    status_of: dict[str, str] = {}
    for code in mine:
        x = rng.random()
        status = "Concluso" if x < 0.7 else "In corso" if x < 0.9 else "Rinviato" if x < 0.95 else "Non valutabile"
        status_of[code] = status
        rec: dict[str, Any] = {"Codice obiettivo": code, "Stato": status,
                               "Relazione": f"Attività svolta nel {anno} secondo il programma; "
                                            "risultati documentati negli atti del settore."}
        if status in C.STATI_ESCLUSI:
            rec["Motivazione scostamento"] = "Rinviato all'anno successivo per mancato finanziamento."
        elif rng.random() < 0.2:
            rec["Grado dichiarato %"] = rng.choice((80, 90, 95, 100))
            rec["Motivazione scostamento"] = "Il risultato è stato raggiunto con modalità diverse da quelle previste."
        out[C.SHEET_OBJECTIVES].append(rec)
    for p in plan_data[C.SHEET_PHASES]:
        code = p["Codice obiettivo"]
        if code not in wanted or _is_yes(p.get("Neutralizzata")):
            continue
        done = status_of[code] == "Concluso"
        progress = 100 if done else rng.choice((0, 25, 50, 60, 75, 90, 100))
        start = dt.date.fromisoformat(str(p["Inizio previsto"])) + dt.timedelta(days=rng.randint(-5, 15))
        rec = {"Codice obiettivo": code, "N. fase": p["N. fase"], "Avanzamento %": progress,
               "Inizio effettivo": start.isoformat()}
        if progress == 100:
            end = dt.date.fromisoformat(str(p["Fine prevista"])) + dt.timedelta(days=rng.randint(-10, 20))
            rec["Fine effettiva"] = max(end, start).isoformat()
        if rng.random() < 0.1:
            rec["Note"] = "-nessuna criticità" if rng.random() < 0.3 else "Completata con il supporto dell'ufficio tecnico."
        out[C.SHEET_PHASES].append(rec)
    for i in plan_data[C.SHEET_INDICATORS]:
        code = i["Codice obiettivo"]
        if code not in wanted or _is_yes(i.get("Neutralizzato")):
            continue
        vt, target = i["Tipo valore"], i["Valore atteso"]
        if vt in ("numero", "percentuale"):
            t = float(target)
            value: Any = round(max(0.0, t * rng.uniform(0.6, 1.3)), rng.choice((0, 2)))
            if vt == "percentuale":
                value = min(value, 100.0)
        elif vt == "sì/no":
            hit = rng.random() < 0.85
            value = target if hit else ("no" if _is_yes(target) else "sì")
        elif vt == "data":
            value = (dt.date.fromisoformat(str(target)) + dt.timedelta(days=rng.randint(-30, 10))).isoformat()
        else:
            value = "Relazione approvata con delibera di Giunta."
        rec = {"Codice obiettivo": code, "N. indicatore": i["N. indicatore"], "Valore raggiunto": value}
        if rng.random() < 0.1:
            rec["Note"] = "=dato provvisorio" if rng.random() < 0.3 else "Dato estratto dal gestionale."
        out[C.SHEET_INDICATORS].append(rec)
    return out


# ---------------------------------------------------------------- a monitoring snapshot

def plan_at(plan_data: dict[str, Any], fase: str, reference: dt.date) -> dict[str, Any]:
    """A copy of `plan_data` (write_plan's format) for another snapshot of the same year:
    its Fase del ciclo and Data di riferimento replaced."""
    out = dict(plan_data)
    voci = {"Fase del ciclo": fase, "Data di riferimento": reference.isoformat()}
    out["Ente"] = [[voce, voci.get(voce, value)] for voce, value in plan_data["Ente"]]
    return out


def monitoring_inputs(plan_data: dict[str, Any], inputs: dict[str, Any], reference: dt.date) -> dict[str, Any]:
    """What the settori would have typed at a Monitoraggio intermedio at `reference`, from
    their final inputs ({settore: fill_return's inputs}): every objective In corso, nothing
    declared; phases planned to end by `reference` as at the end, the others at half their
    final Avanzamento % (rounded down) and without Fine effettiva; indicators as at the end.
    So no progress goes back and no result worsens from this snapshot to the final one."""
    ends = {(f["Codice obiettivo"], f["N. fase"]): str(f.get("Fine prevista") or "")[:10]
            for f in plan_data["Fasi"]}
    by = reference.isoformat()
    out: dict[str, Any] = {}
    for sector, sheets in inputs.items():
        objectives = [{**o, "Stato": "In corso", "Grado dichiarato %": None, "Motivazione scostamento": None}
                      for o in sheets.get("Obiettivi", [])]
        phases = []
        for f in sheets.get("Fasi", []):
            end = ends.get((f["Codice obiettivo"], f["N. fase"]), "")
            p = f.get("Avanzamento %")
            if (end and end <= by) or not isinstance(p, (int, float)):
                phases.append(dict(f))
            else:
                phases.append({**f, "Avanzamento %": int(p // 2), "Fine effettiva": None})
        out[sector] = {**sheets, "Obiettivi": objectives, "Fasi": phases,
                       "Indicatori": [dict(i) for i in sheets.get("Indicatori", [])]}
    return out
