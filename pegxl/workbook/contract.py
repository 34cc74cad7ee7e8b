"""The public file contract of workbooks.md: sheet names, headers and vocabularies of every
workbook pegxl reads or writes (plan, template, consolidated for the OIV and final, the
sheets written into the plan, the annotated copy), in one place.

Headers are public (users build macros and pivots on them); code uses the English
field names on the right of each mapping. A header changes only with FORMAT_VERSION.
"""
from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass, field
from typing import Any

FORMAT_VERSION = "1.0"

# --------------------------------------------------------------------------- plan

SHEET_ENTE = "Ente"
SHEET_RULES = "Regole"
SHEET_SECTORS = "Settori"
SHEET_OBJECTIVES = "Obiettivi"
SHEET_PHASES = "Fasi"
SHEET_INDICATORS = "Indicatori"
SHEET_INSTRUCTIONS = "Istruzioni"
SHEET_SUMMARY = "Riepilogo"
SHEET_IDENTITY = "_pegxl"
SHEET_LISTS = "_liste"


@dataclass(frozen=True)
class Column:
    header: str          # exact public header
    field: str           # internal English name
    required: bool = False
    kind: str = "text"   # text, number, date, code, int, bool
    width: float = 14    # display width in templates / consolidated output


@dataclass(frozen=True)
class TableSpec:
    sheet: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = field(default=())

    @property
    def headers(self) -> list[str]:
        return [c.header for c in self.columns]

    def by_field(self, name: str) -> Column:
        for c in self.columns:
            if c.field == name:
                return c
        raise KeyError(name)

    def header(self, name: str) -> str:
        return self.by_field(name).header

    @property
    def field_of(self) -> dict[str, str]:
        return {c.header: c.field for c in self.columns}


# Ente sheet: Voce / Valore pairs
ENTE_VOCE = "Voce"
ENTE_VALORE = "Valore"
ENTE_ITEMS: dict[str, tuple[str, bool]] = {
    # voce: (field, required)
    "Ente": ("ente", True),
    "Anno": ("anno", True),
    "Fase del ciclo": ("fase", True),
    "Data di riferimento": ("reference_date", False),
    "Scadenza consegna": ("deadline", False),
    "Ufficio referente": ("office", False),
    "Email ufficio": ("office_email", False),
}

RULES = TableSpec(SHEET_RULES, (
    Column("Regola", "rule", True, "text", 28),
    Column("Valore", "value", True, "text", 14),
    Column("Descrizione", "description", False, "text", 80),
), key=("rule",))

SECTORS = TableSpec(SHEET_SECTORS, (
    Column("Codice settore", "sector", True, "code", 14),
    Column("Settore", "sector_name", True, "text", 40),
    Column("Responsabile", "manager", True, "text", 24),
    Column("Email", "email", False, "text", 28),
    Column("Peso", "weight", False, "number", 8),
), key=("sector",))

OBJECTIVES = TableSpec(SHEET_OBJECTIVES, (
    Column("Codice obiettivo", "objective", True, "code", 16),
    Column("Codice settore", "sectors", True, "text", 14),
    Column("Titolo", "title", True, "text", 40),
    Column("Descrizione", "description", False, "text", 50),
    Column("Tipologia", "typology", True, "text", 14),
    Column("Missione", "mission", False, "text", 10),
    Column("Programma", "programme", False, "text", 10),
    Column("Obiettivo DUP", "dup_objective", False, "text", 30),
    Column("Valore pubblico", "public_value", False, "text", 30),
    Column("Assessore", "assessor", False, "text", 20),
    Column("Peso", "weight", False, "number", 8),
), key=("objective",))

PHASES = TableSpec(SHEET_PHASES, (
    Column("Codice obiettivo", "objective", True, "code", 16),
    Column("N. fase", "phase", True, "int", 7),
    Column("Descrizione", "description", True, "text", 50),
    Column("Inizio previsto", "planned_start", False, "date", 12),
    Column("Fine prevista", "planned_end", True, "date", 12),
    Column("Peso", "weight", True, "number", 8),
    Column("Responsabile", "manager", False, "text", 20),
    Column("Neutralizzata", "neutralised", False, "bool", 12),
    Column("Motivo neutralizzazione", "neutralised_reason", False, "text", 30),
), key=("objective", "phase"))

INDICATORS = TableSpec(SHEET_INDICATORS, (
    Column("Codice obiettivo", "objective", True, "code", 16),
    Column("N. indicatore", "indicator", True, "int", 7),
    Column("Descrizione", "description", True, "text", 50),
    Column("Tipo", "kind", True, "text", 14),
    Column("Formula", "formula", False, "text", 30),
    Column("Unità di misura", "unit", False, "text", 12),
    Column("Tipo valore", "value_type", True, "text", 12),
    Column("Verso", "direction", False, "text", 7),
    Column("Valore atteso", "target", True, "text", 14),
    Column("Valore anno precedente", "previous", False, "text", 14),
    Column("Peso", "weight", False, "number", 8),
    Column("Fonte dati", "data_source", False, "text", 20),
    Column("Neutralizzato", "neutralised", False, "bool", 12),
    Column("Motivo neutralizzazione", "neutralised_reason", False, "text", 30),
), key=("objective", "indicator"))

PLAN_TABLES = (RULES, SECTORS, OBJECTIVES, PHASES, INDICATORS)

# ---------------------------------------------------------------- vocabularies

FASI_CICLO = ("Monitoraggio intermedio", "Rendicontazione finale")
TIPOLOGIE = ("Strategico", "Gestionale", "Trasversale", "Esecutivo", "PTPCT", "Qualità")
TIPI_INDICATORE = ("EFFICACIA", "EFFICIENZA", "QUALITÀ", "QUANTITATIVO", "QUALITATIVO",
                   "ECONOMICITÀ", "TEMPORALE", "CONTESTO")
TIPI_VALORE = ("numero", "percentuale", "sì/no", "data", "testo")
VERSI = (">=", "<=", "=")
STATI = ("Non avviato", "In corso", "Concluso", "Rinviato", "Non valutabile")
STATI_ESCLUSI = ("Rinviato", "Non valutabile")
SI_NO = ("sì", "no")

ALL_SECTORS = "*"

# ------------------------------------------------------------ settore template

T_OBJECTIVES = TableSpec(SHEET_OBJECTIVES, (
    Column("Codice obiettivo", "objective", True, "code", 16),
    Column("Titolo", "title", True, "text", 40),
    Column("Tipologia", "typology", True, "text", 13),
    Column("Peso", "weight", True, "number", 8),
    Column("Descrizione", "description", False, "text", 40),
    Column("Missione", "mission", False, "text", 9),
    Column("Programma", "programme", False, "text", 10),
    Column("Obiettivo DUP", "dup_objective", False, "text", 24),
    Column("Valore pubblico", "public_value", False, "text", 24),
    Column("Stato", "status", True, "text", 15),
    Column("Grado dichiarato %", "declared", False, "number", 12),
    Column("Relazione", "report", False, "text", 50),
    Column("Motivazione scostamento", "deviation_reason", False, "text", 40),
    Column("Grado calcolato %", "computed", False, "number", 12),
), key=("objective",))
T_OBJECTIVES_INPUT = ("status", "declared", "report", "deviation_reason")

T_PHASES = TableSpec(SHEET_PHASES, (
    Column("Codice obiettivo", "objective", True, "code", 16),
    Column("N. fase", "phase", True, "int", 7),
    Column("Descrizione", "description", True, "text", 45),
    Column("Inizio previsto", "planned_start", False, "date", 12),
    Column("Fine prevista", "planned_end", True, "date", 12),
    Column("Peso", "weight", True, "number", 8),
    Column("Avanzamento %", "progress", True, "number", 13),
    Column("Inizio effettivo", "actual_start", False, "date", 13),
    Column("Fine effettiva", "actual_end", False, "date", 13),
    Column("Note", "notes", False, "text", 40),
), key=("objective", "phase"))
T_PHASES_INPUT = ("progress", "actual_start", "actual_end", "notes")

T_INDICATORS = TableSpec(SHEET_INDICATORS, (
    Column("Codice obiettivo", "objective", True, "code", 16),
    Column("N. indicatore", "indicator", True, "int", 7),
    Column("Descrizione", "description", True, "text", 45),
    Column("Tipo", "kind", True, "text", 14),
    Column("Tipo valore", "value_type", True, "text", 11),
    Column("Verso", "direction", False, "text", 7),
    Column("Valore atteso", "target", True, "text", 13),
    Column("Valore anno precedente", "previous", False, "text", 13),
    Column("Valore raggiunto", "achieved", True, "text", 14),
    Column("Note", "notes", False, "text", 40),
    Column("Raggiungimento %", "score", False, "number", 13),
    # after the contract columns (workbooks.md allows additions there): the year before last,
    # as the Cinisello Balsamo sheets show it; filled from the archive when there is one
    Column("Valore due anni prima", "previous_2", False, "text", 13),
), key=("objective", "indicator"))
T_INDICATORS_INPUT = ("achieved", "notes")

# Reference columns of a later snapshot's template (after every column above): what the
# settore declared at the previous snapshot of the same year, locked, never read back.
# {when} is the previous Data di riferimento as dd/mm («Avanzamento al 30/06»).
REF_PROGRESS_HEADER = "Avanzamento al {when}"
REF_ACHIEVED_HEADER = "Raggiunto al {when}"

# Locked values checked against the plan when a return is read.
T_LOCKED = {
    SHEET_OBJECTIVES: ("title", "typology", "weight"),
    SHEET_PHASES: ("description", "planned_start", "planned_end", "weight"),
    SHEET_INDICATORS: ("description", "kind", "value_type", "direction", "target"),
}

# Identity sheet: key/value rows
IDENTITY_FIELDS = (
    ("Versione formato", "format_version"),
    ("Ente", "ente"),
    ("Anno", "anno"),
    ("Fase del ciclo", "fase"),
    ("Codice settore", "sector"),
    ("Impronta piano", "fingerprint"),
    ("Impronta settore", "sector_fingerprint"),
    ("Generato il", "generated_at"),
    ("Generato da", "generator"),
)

# ----------------------------------------------------- consolidated workbook

SHEET_SINTESI = "Sintesi"
SHEET_ANOMALIE = "Anomalie"
SHEET_PROVENIENZA = "Provenienza"

C_SINTESI = TableSpec(SHEET_SINTESI, (
    Column("Codice settore", "sector", True, "code", 14),
    Column("Settore", "sector_name", True, "text", 40),
    Column("Responsabile", "manager", True, "text", 24),
    Column("N. obiettivi", "n_objectives", True, "int", 11),
    Column("N. valutati", "n_assessed", True, "int", 11),
    Column("Percentuale di raggiungimento", "percentage", True, "number", 16),
    Column("Fascia", "band", False, "text", 8),
), key=("sector",))

C_OBJECTIVES = TableSpec(SHEET_OBJECTIVES, (
    Column("Codice settore", "sector", True, "code", 14),
    Column("Codice obiettivo", "objective", True, "code", 16),
    Column("Titolo", "title", True, "text", 40),
    Column("Stato", "status", True, "text", 14),
    Column("Grado calcolato %", "computed", True, "number", 12),
    Column("Grado dichiarato %", "declared", True, "number", 12),
    Column("Grado %", "grade", True, "number", 10),
    Column("Note", "notes", False, "text", 40),
    Column("Valutazione OIV %", "oiv_grade", True, "number", 13),
    Column("Note OIV", "oiv_notes", True, "text", 40),
), key=("sector", "objective"))


# ------------------------------------------------------------------- helpers

def norm_header(text: object) -> str:
    """Header as readers compare it: case-insensitive, trimmed, single spaces."""
    if type(text) is str:
        return _norm_header_str(text)
    if text is None:
        return ""
    return " ".join(str(text).split()).casefold()


@functools.lru_cache(maxsize=4096)
def _norm_header_str(text: str) -> str:
    # the same few sheet and column names, asked for hundreds of times a file
    return " ".join(text.split()).casefold()


def strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", text)
                   if unicodedata.category(c) != "Mn")


def norm_word(text: object) -> str:
    """Vocabulary word as readers compare it: no case, no accents, single spaces."""
    if isinstance(text, str):
        return _norm_word_str(text)
    return strip_accents(norm_header(text))


@functools.lru_cache(maxsize=4096)
def _norm_word_str(text: str) -> str:
    # a plan of 1,000 settori asks for the same few words a million times
    return strip_accents(norm_header(text))


def canonical(value: object, vocabulary: tuple[str, ...]) -> str | None:
    """The vocabulary entry `value` means (any case, with or without accents)."""
    key = norm_word(value)
    if key in ("si/no", "si-no", "sino", "booleano"):
        key = "si/no"
    return _vocabulary_keys(tuple(vocabulary)).get(key)


@functools.lru_cache(maxsize=64)
def _vocabulary_keys(vocabulary: tuple[str, ...]) -> dict[str, str]:
    keys: dict[str, str] = {}
    for word in vocabulary:
        keys.setdefault(norm_word(word), word)   # the first entry wins, as a scan would
    return keys


# (name as written in the Regole sheet, default as written, Italian description)
RULE_ROWS: tuple[tuple[str, Any, str], ...] = (
    ("Tetto indicatore", 100, "Punteggio massimo di un indicatore (un risultato oltre il valore atteso non supera questo tetto)."),
    ("Formula verso <=", "rapporto", "Indicatori «meno è meglio» oltre il valore atteso: «rapporto» = 100 × atteso / raggiunto; «scostamento» = 100 × (2 × atteso − raggiunto) / atteso, mai sotto 0."),
    ("Ritardo azzera", "sì", "Indicatori a scadenza: «sì» = una consegna in ritardo vale 0; «no» = si applica la penalità per giorno di ritardo."),
    ("Penalità giorni ritardo", 0, "Punti tolti per ogni giorno di ritardo quando Ritardo azzera è «no» (mai sotto 0)."),
    ("Peso fasi", 50, "Peso della realizzazione delle fasi nel grado calcolato dell'obiettivo; con Peso indicatori somma a 100."),
    ("Peso indicatori", 50, "Peso della media degli indicatori nel grado calcolato dell'obiettivo; con Peso fasi somma a 100."),
    ("Scarto segnalato", 10, "Punti di differenza tra grado dichiarato e calcolato oltre i quali serve una Motivazione scostamento."),
    ("Soglia minima", 0, "Un grado sotto questa soglia conta 0 nelle medie."),
    ("Fascia A", 90, "Limite inferiore della fascia A."),
    ("Fascia B", 75, "Limite inferiore della fascia B."),
    ("Fascia C", 60, "Limite inferiore della fascia C."),
    ("Fascia D", 0, "Limite inferiore della fascia D."),
)


# ------------------------------------------------- the consolidated workbook (section 3)

KIND_CONSOLIDATED = "consolidato"
KIND_FINAL = "consolidato finale OIV"

SHEET_VALUES = "_pegxl_valori"
# the record of how many rows a sheet without record keys (Anomalie, Provenienza) had
LIST_COUNT_KEY = ("righe",)
LIST_COUNT_FIELD = "righe"
SHEET_DIFF = "Differenze OIV"

ENTE_CODE = "Ente"

# ------------------------------------------------------------------------- the sheets

CS_SINTESI = TableSpec(SHEET_SINTESI, C_SINTESI.columns + (
    Column("Peso", "weight", False, "number", 8),
    Column("Stato consolidamento", "state", False, "text", 44),
), key=("sector",))
# only in the final workbook
COL_BEFORE_OIV = Column("Percentuale senza OIV", "percentage_before", False, "number", 16)

CS_OBJECTIVES = TableSpec(SHEET_OBJECTIVES, C_OBJECTIVES.columns + (
    Column("Relazione", "report", False, "text", 50),
    Column("Motivazione scostamento", "deviation_reason", False, "text", 40),
    Column("Peso", "weight", False, "number", 8),
    Column("Realizzazione fasi %", "phases_pct", False, "number", 12),
    Column("Media indicatori %", "indicators_pct", False, "number", 12),
    Column("Fonte del grado", "grade_source", False, "text", 12),
    Column("Conta", "counted", False, "text", 7),
), key=("sector", "objective"))
OIV_FIELDS = ("oiv_grade", "oiv_notes")
# the words the OIV may write in Valutazione OIV % instead of a number (scoring.md)
OIV_NOT_ASSESSABLE = "Non valutabile"
IDENTITY_RECORD = "_pegxl"            # the archived record of the identity and Regole


def is_not_assessable(v: Any) -> bool:
    """The OIV wrote «Non valutabile» (any case, spacing) in Valutazione OIV %."""
    return isinstance(v, str) and norm_word(v) == norm_word(OIV_NOT_ASSESSABLE)

CS_PHASES = TableSpec(SHEET_PHASES, (
    Column("Codice settore", "sector", True, "code", 14),
    Column("Codice obiettivo", "objective", True, "code", 16),
    Column("N. fase", "phase", True, "int", 7),
    Column("Descrizione", "description", True, "text", 45),
    Column("Inizio previsto", "planned_start", False, "date", 12),
    Column("Fine prevista", "planned_end", False, "date", 12),
    Column("Peso", "weight", False, "number", 8),
    Column("Neutralizzata", "neutralised", False, "text", 12),
    Column("Avanzamento %", "progress", True, "number", 13),
    Column("Inizio effettivo", "actual_start", True, "date", 13),
    Column("Fine effettiva", "actual_end", True, "date", 13),
    Column("Note", "notes", True, "text", 40),
    Column("Peso effettivo", "effective_weight", False, "number", 10),
    Column("Contributo %", "contribution", False, "number", 12),
), key=("sector", "objective", "phase"))

CS_INDICATORS = TableSpec(SHEET_INDICATORS, (
    Column("Codice settore", "sector", True, "code", 14),
    Column("Codice obiettivo", "objective", True, "code", 16),
    Column("N. indicatore", "indicator", True, "int", 7),
    Column("Descrizione", "description", True, "text", 45),
    Column("Tipo", "kind", False, "text", 14),
    Column("Tipo valore", "value_type", False, "text", 11),
    Column("Verso", "direction", False, "text", 7),
    Column("Valore atteso", "target", False, "text", 13),
    Column("Peso", "weight", False, "number", 8),
    Column("Neutralizzato", "neutralised", False, "text", 12),
    Column("Valore raggiunto", "achieved_raw", True, "text", 14),
    Column("Note", "notes", True, "text", 40),
    Column("Raggiungimento %", "score", True, "number", 13),
    Column("Esito", "status", False, "text", 14),
    Column("Peso effettivo", "effective_weight", False, "number", 10),
    Column("Valore letto", "achieved", True, "text", 14),
), key=("sector", "objective", "indicator"))

CS_ANOMALIE = TableSpec(SHEET_ANOMALIE, (
    Column("File", "file", False, "text", 30),
    Column("Codice settore", "sector", False, "code", 12),
    Column("Foglio", "sheet", False, "text", 12),
    Column("Cella", "cell", False, "text", 8),
    Column("Riferimento", "record", False, "text", 22),
    Column("Codice", "code", False, "code", 8),
    Column("Gravità", "severity", False, "text", 9),
    Column("Messaggio", "message", False, "text", 70),
    Column("Come correggere", "hint", False, "text", 50),
))

CS_PROVENIENZA = TableSpec(SHEET_PROVENIENZA, (
    Column("Nome file", "name", False, "text", 34),
    Column("Codice settore", "sector", False, "code", 12),
    Column("SHA-256", "sha256", False, "text", 66),
    Column("Letto il", "read_at", False, "date", 19),
    Column("Versione modello", "template_version", False, "text", 10),
    Column("Utilizzato", "used", False, "text", 10),
    Column("Copia restituita", "copy", False, "text", 34),
    Column("Nota", "note", False, "text", 50),
    Column("Stato della consegna", "state", False, "text", 18),
))

CS_DIFF = TableSpec(SHEET_DIFF, (
    Column("Codice settore", "sector", True, "code", 14),
    Column("Codice obiettivo", "objective", True, "code", 16),
    Column("Titolo", "title", False, "text", 40),
    Column("Grado settore %", "grade_before", False, "number", 12),
    Column("Valutazione OIV %", "oiv_grade", False, "number", 13),
    Column("Differenza", "difference", False, "number", 11),
    Column("Note OIV", "oiv_notes", False, "text", 50),
), key=("sector", "objective"))

# Calcolo: every figure's calculation, one row per figure with its steps one per line
# (pegxl.explain), derived text: never
# read back nor checked (the figures are recomputed from the inputs; see docs/contratto.md).
SHEET_CALCOLO = "Calcolo"
CS_CALCOLO = TableSpec(SHEET_CALCOLO, (
    Column("Codice settore", "sector", False, "code", 12),
    Column("Codice", "code", False, "code", 22),
    Column("Livello", "level", False, "text", 11),
    Column("Cifra", "step", False, "text", 24),
    Column("Spiegazione", "text", False, "text", 90),
    Column("Valore", "value", False, "number", 12),
    Column("Regola", "rule", False, "text", 34),
))

TABLES = {SHEET_SINTESI: CS_SINTESI, SHEET_OBJECTIVES: CS_OBJECTIVES,
          SHEET_PHASES: CS_PHASES, SHEET_INDICATORS: CS_INDICATORS}

# identity rows of _pegxl: (label, field)
IDENTITY = (
    ("Versione formato", "format_version"),
    ("Tipo file", "kind"),
    ("Ente", "ente"),
    ("Anno", "anno"),
    ("Fase del ciclo", "fase"),
    ("Impronta piano", "fingerprint"),
    ("Settori consolidati", "sectors"),
    ("Settori esclusi", "excluded"),
    ("Generato da", "generator"),
    ("Identificativo elaborazione", "run_id"),
)


# ------------------------------------------------ the template: summary and readings sheets
# The hidden sheet where every input the formulas use is read the way pegxl reads it
# (pegxl/values.py): one block of columns per input sheet, on the input's own row.
SHEET_READINGS = "_letture"
SUMMARY_HEADERS = ("Codice obiettivo", "Titolo", "Peso", "Stato", "Somma pesi fasi",
                   "Realizzazione fasi %", "Media indicatori %", "Grado calcolato %",
                   "Grado dichiarato %", "Grado %", "Conta", "Peso nel totale")
TOTAL_LABEL = "Totale settore"


# ------------------------------------- sheets pegxl writes into the plan (Excel ribbon, --write-back)
SHEET_CHECK = "Esito controllo"
SHEET_STATUS = "Stato consegne"
CHECK_HEADERS = ["Codice", "Gravità", "File", "Foglio", "Cella", "Riferimento", "Problema",
                 "Come correggere"]


# ------------------------------------------------ the annotated copy of a return
SHEET_ERRORS = "Errori"
ERRORS_HEADERS = ["Codice", "Gravità", "Foglio", "Cella", "Riferimento", "Problema", "Come correggere"]
