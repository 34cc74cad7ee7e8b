"""The public file contract of workbooks.md: sheet names, headers and vocabularies.

Headers are public (users build macros and pivots on them); code uses the English
field names on the right of each mapping. A header changes only with FORMAT_VERSION.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

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
    if text is None:
        return ""
    return " ".join(str(text).split()).casefold()


def strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", text)
                   if unicodedata.category(c) != "Mn")


def norm_word(text: object) -> str:
    """Vocabulary word as readers compare it: no case, no accents, single spaces."""
    return strip_accents(norm_header(text))


def canonical(value: object, vocabulary: tuple[str, ...]) -> str | None:
    """The vocabulary entry `value` means (any case, with or without accents)."""
    key = norm_word(value)
    if key in ("si/no", "si-no", "sino", "booleano"):
        key = "si/no"
    for word in vocabulary:
        if norm_word(word) == key:
            return word
    return None
