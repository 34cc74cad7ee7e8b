"""The central office's Excel: result sheets, the ribbon actions, the pegxl.xlam add-in.

What runs here (Linux, no Excel):
- the openpyxl backend end to end: a plan with three deliberate mistakes ->
  `plan_check_write_back` -> «Esito controllo» with the right codes and cells, internal
  hyperlinks that point at existing cells, every original cell unchanged, a backup, and
  LibreOffice opens the result;
- every action through `perform` with the openpyxl backend, on a real cycle (templates,
  returns, status, merge);
- the Excel layer through `dispatch`, with a fake workbook put in place of
  `xlwings.Book.caller()` only (the outermost xlwings boundary): the XlwingsBook backend,
  the message boxes, the log with the traceback;
- the add-in built from the ribbon add-in shipped with xlwings: a valid zip, ribbon XML
  naming the pegxl tab and buttons, every onAction a procedure of the add-in's own VBA
  (read with the MS-CFB reader and the MS-OVBA decompressor of pegxl.macros.addin);
- the base install never imports xlwings.

Tests marked `excel` drive a real Excel and are skipped elsewhere.
"""
from __future__ import annotations

import copy
import functools
import io
import random
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import openpyxl
import pytest
from click.testing import CliRunner

from lo_helper import lo_convert, lo_inspect, requires_lo
from pegxl.errors import ERROR, WARNING, PegxlError
from pegxl.macros import actions as A
from pegxl.macros import addin as X
from pegxl.macros.commands import excel_group, plan_check_write_back
from pegxl.macros.sheets import (CHECK_HEADERS, COLOR_ERROR, COLOR_OK, COLOR_WARNING,
                                 NO_PROBLEM, SHEET_CHECK, SHEET_STATUS, OpenpyxlBook, XlwingsBook,
                                 write_check_sheet)
from pegxl.validators.plan import check_plan
from pegxl.workbook.planfile import new_plan_workbook

EXCEL_REASON = "serve Microsoft Excel (Windows/macOS)"

# ---------------------------------------------------------------------------- the plans

PLAN = {
    "Ente": [["Ente", "Comune di Prova"], ["Anno", 2024], ["Fase del ciclo", "Monitoraggio intermedio"],
             ["Data di riferimento", "2024-06-30"], ["Scadenza consegna", "2024-07-31"],
             ["Ufficio referente", "Controllo di gestione"], ["Email ufficio", "cdg@example.org"]],
    "Settori": [
        {"Codice settore": "S01", "Settore": "Affari generali", "Responsabile": "Rossi Anna",
         "Email": "rossi@example.org"},
        {"Codice settore": "S02", "Settore": "Servizi sociali", "Responsabile": "Bianchi Luca",
         "Email": "bianchi@example.org"},
    ],
    "Obiettivi": [
        {"Codice obiettivo": "O1", "Codice settore": "S01", "Titolo": "Digitalizzare i servizi",
         "Tipologia": "Strategico"},
        {"Codice obiettivo": "O2", "Codice settore": "S01;S02", "Titolo": "Sportello unico",
         "Tipologia": "Gestionale"},
        {"Codice obiettivo": "O3", "Codice settore": "S02", "Titolo": "Assistenza domiciliare",
         "Tipologia": "Esecutivo"},
    ],
    "Fasi": [
        {"Codice obiettivo": "O1", "N. fase": 1, "Descrizione": "Analisi", "Fine prevista": "2024-03-31",
         "Peso": 60},
        {"Codice obiettivo": "O1", "N. fase": 2, "Descrizione": "Avvio", "Fine prevista": "2024-12-31",
         "Peso": 40},
        {"Codice obiettivo": "O2", "N. fase": 1, "Descrizione": "Apertura", "Fine prevista": "2024-09-30",
         "Peso": 100},
        {"Codice obiettivo": "O3", "N. fase": 1, "Descrizione": "Gara", "Fine prevista": "2024-05-31",
         "Peso": 100},
    ],
    "Indicatori": [
        {"Codice obiettivo": "O1", "N. indicatore": 1, "Descrizione": "Servizi online", "Tipo": "EFFICACIA",
         "Tipo valore": "numero", "Verso": ">=", "Valore atteso": 15},
        {"Codice obiettivo": "O3", "N. indicatore": 1, "Descrizione": "Utenti seguiti", "Tipo": "QUANTITATIVO",
         "Tipo valore": "numero", "Valore atteso": 40},
    ],
}


def bad_plan_data() -> dict:
    """PLAN with three deliberate mistakes, each at a known cell."""
    d = copy.deepcopy(PLAN)
    d["Obiettivi"][1]["Codice settore"] = "S01;S09"   # Obiettivi!B3: S09 is not a settore (P005)
    d["Fasi"][1]["Peso"] = 30                         # O1 phases weigh 60 + 30 = 90 (P007)
    d["Indicatori"][1]["Tipo"] = "BOH"                # Indicatori!D3: not an indicator type (P013)
    return d


EXPECTED = {("P005", "Obiettivi", "B3"), ("P013", "Indicatori", "D3")}


def write_plan(path: Path, data: dict, extra_ente: list[tuple[str, str]] = ()) -> Path:
    wb = new_plan_workbook(data)
    ws = wb["Ente"]
    for voce, valore in extra_ente:
        ws.append([voce, valore])
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


def all_values(path: Path) -> dict[str, dict[str, Any]]:
    """Every non-empty cell of every sheet: {sheet: {A1: value}} (formulas as text)."""
    wb = openpyxl.load_workbook(path)
    return {ws.title: {c.coordinate: c.value for row in ws.iter_rows() for c in row if c.value is not None}
            for ws in wb.worksheets}


def check_rows(path: Path) -> tuple[list[tuple], Any]:
    wb = openpyxl.load_workbook(path)
    ws = wb[SHEET_CHECK]
    rows = [tuple(c.value for c in row) for row in ws.iter_rows(min_row=3)]
    return rows, ws


@pytest.fixture
def bad_plan(tmp_path) -> Path:
    return write_plan(tmp_path / "ufficio" / "piano.xlsx", bad_plan_data())


@pytest.fixture
def good_plan(tmp_path) -> Path:
    return write_plan(tmp_path / "ente" / "piano.xlsx", copy.deepcopy(PLAN))


# ================================================================ openpyxl write-back

def test_write_back_lists_every_finding_at_its_cell(bad_plan):
    original = all_values(bad_plan)
    original_bytes = bad_plan.read_bytes()
    _, expected_findings = check_plan(bad_plan)

    findings = plan_check_write_back(bad_plan)

    got = {(f.code, f.sheet, f.cell) for f in findings}
    assert EXPECTED <= got, got
    p007 = [f for f in findings if f.code == "P007"]
    assert len(p007) == 1 and p007[0].sheet == "Fasi" and p007[0].cell.startswith("F")
    assert [(f.code, f.cell) for f in findings] == [(f.code, f.cell) for f in expected_findings]

    rows, ws = check_rows(bad_plan)
    assert ws["A1"].value.startswith("Controllo del piano del ")
    assert "3 errori" in ws["A1"].value
    assert [c.value for c in ws[2]] == CHECK_HEADERS
    assert len(rows) == len(findings)
    by_code = {(r[0], r[3], r[4]) for r in rows}
    assert EXPECTED | {("P007", "Fasi", p007[0].cell)} <= by_code
    for r in rows:
        assert r[1] == ERROR and r[2] == "piano.xlsx" and r[6] and r[7]
    # red rows for errors
    for row in ws.iter_rows(min_row=3, max_row=2 + len(rows)):
        assert row[1].fill.fgColor.rgb.endswith(COLOR_ERROR)
        assert row[6].fill.fgColor.rgb.endswith(COLOR_ERROR)

    # every Cella is an internal hyperlink to an existing cell of an existing sheet
    wb = openpyxl.load_workbook(bad_plan)
    for row in ws.iter_rows(min_row=3, max_row=2 + len(rows)):
        link = row[4].hyperlink
        assert link is not None and not link.target, row[4].coordinate
        sheet, cell = link.location.rsplit("!", 1)
        assert link.location == f"'{row[3].value}'!{row[4].value}"
        assert sheet.strip("'") in wb.sheetnames and sheet.strip("'") != SHEET_CHECK
        assert wb[sheet.strip("'")][cell].coordinate == cell
    # the first problem is selected
    assert wb.active.title == SHEET_CHECK
    assert wb[SHEET_CHECK].sheet_view.selection[0].activeCell == "E3"

    # the user's content is untouched: every cell of every original sheet
    after = all_values(bad_plan)
    assert set(after) == set(original) | {SHEET_CHECK}
    for sheet, cells in original.items():
        assert after[sheet] == cells, sheet
    # ... and so are validations, defined names and sheet order
    before_wb = openpyxl.load_workbook(io.BytesIO(original_bytes))
    assert wb.sheetnames[:-1] == before_wb.sheetnames
    assert set(wb.defined_names) == set(before_wb.defined_names)
    for name in before_wb.sheetnames:
        assert (len(wb[name].data_validations.dataValidation)
                == len(before_wb[name].data_validations.dataValidation)), name

    # a backup of the user's file, byte for byte
    backups = sorted(bad_plan.parent.glob("piano.bak-*.xlsx"))
    assert [b.name for b in backups] == ["piano.bak-1.xlsx"]
    assert backups[0].read_bytes() == original_bytes
    # nothing half-written left behind
    assert sorted(p.name for p in bad_plan.parent.iterdir()) == ["piano.bak-1.xlsx", "piano.xlsx"]


def test_write_back_twice_replaces_the_sheet_and_the_plan_reads_the_same(bad_plan):
    first = plan_check_write_back(bad_plan)
    rows1, _ = check_rows(bad_plan)
    second = plan_check_write_back(bad_plan)
    rows2, _ = check_rows(bad_plan)
    assert [(f.code, f.cell) for f in first] == [(f.code, f.cell) for f in second]
    assert rows1 == rows2
    wb = openpyxl.load_workbook(bad_plan)
    assert wb.sheetnames.count(SHEET_CHECK) == 1
    assert sorted(p.name for p in bad_plan.parent.glob("piano.bak-*")) == ["piano.bak-1.xlsx",
                                                                           "piano.bak-2.xlsx"]


def test_write_back_of_a_clean_plan_says_no_problem(good_plan):
    assert plan_check_write_back(good_plan) == []
    rows, ws = check_rows(good_plan)
    assert "nessun problema" in ws["A1"].value
    assert rows == [(None, None, "piano.xlsx", None, None, None, NO_PROBLEM, None)]
    assert ws["G3"].fill.fgColor.rgb.endswith(COLOR_OK)
    assert ws["E3"].hyperlink is None


def test_write_back_keeps_text_that_looks_like_a_formula(tmp_path):
    d = copy.deepcopy(PLAN)
    d["Obiettivi"][0]["Codice settore"] = "=S01"        # a settore that does not exist, typed as "=S01"
    plan = write_plan(tmp_path / "piano.xlsx", d)
    findings = plan_check_write_back(plan)
    assert any(f.code == "P005" for f in findings)
    wb = openpyxl.load_workbook(plan)
    assert wb["Obiettivi"]["B2"].data_type == "s" and wb["Obiettivi"]["B2"].value == "=S01"
    for row in wb[SHEET_CHECK].iter_rows(min_row=3):
        for c in row:
            assert c.data_type != "f", (c.coordinate, c.value)


def test_write_back_refuses_what_it_cannot_rewrite(tmp_path):
    with pytest.raises(PegxlError) as e:
        plan_check_write_back(tmp_path / "manca.xlsx")
    assert e.value.findings[0].code == "F001"
    ods = tmp_path / "piano.ods"
    ods.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(PegxlError) as e:
        OpenpyxlBook(ods)
    # a usage problem (the format), not a folder that cannot be written (F010's hint)
    assert e.value.findings[0].code == "U001" and ".ods" in e.value.findings[0].message
    assert not list(tmp_path.glob("*.bak-*"))


def test_write_back_never_loads_a_hostile_plan_into_openpyxl(tmp_path, monkeypatch):
    """`plan check --write-back` opens the plan with openpyxl, which builds every cell in
    memory: the file checks of every reader (encrypted, zip bomb, too many rows) come first."""
    import openpyxl
    plan = tmp_path / "piano.xlsx"
    wb = openpyxl.Workbook()
    wb.active.cell(row=60_000, column=1, value="x")
    wb.save(plan)

    def never(*a, **k):
        raise AssertionError("openpyxl asked to load a hostile file")
    monkeypatch.setattr(openpyxl, "load_workbook", never)
    with pytest.raises(PegxlError) as e:
        OpenpyxlBook(plan)
    assert e.value.findings[0].code == "F007" and e.value.exit_code == 2
    assert not list(tmp_path.glob("*.bak-*"))


@requires_lo
def test_libreoffice_opens_the_written_plan(bad_plan, tmp_path):
    plan_check_write_back(bad_plan)
    res = lo_inspect(bad_plan, [(SHEET_CHECK, "A3"), (SHEET_CHECK, "E3"), ("Obiettivi", "B3")])
    names = [s["name"] for s in res["sheets"]]
    assert SHEET_CHECK in names and "Obiettivi" in names and "Fasi" in names
    assert res["by_ref"][f"{SHEET_CHECK}!A3"]["string"].startswith("P0")
    assert res["by_ref"]["Obiettivi!B3"]["string"] == "S01;S09"
    ods = tmp_path / "piano.ods"
    lo_convert(bad_plan, ods)
    with zipfile.ZipFile(ods) as z:
        content = z.read("content.xml").decode("utf-8")
    # LibreOffice read the internal links as links to cells of the same document
    assert "xlink:href=\"#&apos;Obiettivi&apos;.B3\"" in content
    assert "xlink:href=\"#&apos;Indicatori&apos;.D3\"" in content


# ====================================================================== settings

def test_settings_default_folders_beside_the_plan(good_plan):
    s = A.read_settings(good_plan)
    base = good_plan.resolve().parent
    assert (s.plan, s.templates, s.returns, s.outputs) == (
        good_plan.resolve(), base / "modelli", base / "restituiti", base / "consolidato")
    assert s.annotated == base / "consolidato" / "annotati"


def test_settings_from_the_ente_sheet(tmp_path):
    elsewhere = tmp_path / "posta" / "ricevuti"
    plan = write_plan(tmp_path / "ufficio" / "piano.xlsx", copy.deepcopy(PLAN),
                      extra_ente=[("Cartella modelli", "2024/modelli"), ("cartella RESTITUITI ", str(elsewhere)),
                                  ("Cartella risultati", "")])
    s = A.read_settings(plan)
    base = plan.resolve().parent
    assert s.templates == base / "2024" / "modelli"
    assert s.returns == elsewhere
    assert s.outputs == base / "consolidato"            # blank: the default
    # the extra rows of the Ente sheet are no problem for the plan check
    assert check_plan(plan)[1] == []


def test_settings_of_an_unreadable_plan_are_the_defaults(tmp_path):
    p = tmp_path / "rotto.xlsx"
    p.write_bytes(b"garbage")
    s = A.read_settings(p)
    assert s.returns == tmp_path.resolve() / "restituiti"


# ==================================================== every action, openpyxl backend

def test_perform_check_plan_messages(bad_plan, good_plan, tmp_path):
    out = A.perform("check_plan", OpenpyxlBook(bad_plan), bad_plan)
    assert not out.ok and out.mode == "critical"
    assert "3 errori" in out.message and "Esito controllo" in out.message
    assert out.select == (SHEET_CHECK, "E3")
    ok = A.perform("check_plan", OpenpyxlBook(good_plan), good_plan)
    assert ok.ok and ok.mode == "info" and "nessun problema" in ok.message
    assert "2 settori, 3 obiettivi, 4 fasi, 2 indicatori" in ok.message
    assert ok.title == "pegxl — Controlla piano"


def test_perform_make_templates_refuses_a_plan_with_errors(bad_plan):
    out = A.perform("make_templates", OpenpyxlBook(bad_plan), bad_plan)
    assert not out.ok and "correggerlo" in out.message
    assert not (bad_plan.parent / "modelli").exists()
    rows, _ = check_rows(bad_plan)
    assert {r[0] for r in rows} >= {"P005", "P007", "P013"}


def _fill(template: Path, out: Path, progress: Any) -> Path:
    from pegxl.templates import fill_return
    wb = openpyxl.load_workbook(template)
    ws = wb["Fasi"]
    heads = [c.value for c in ws[1]]
    recs = []
    for r in range(2, ws.max_row + 1):
        code, n = ws.cell(row=r, column=heads.index("Codice obiettivo") + 1).value, \
            ws.cell(row=r, column=heads.index("N. fase") + 1).value
        if code:
            recs.append({"Codice obiettivo": code, "N. fase": n, "Avanzamento %": progress})
    return fill_return(template, out, {"Fasi": recs})


def test_the_whole_cycle_through_perform(good_plan, tmp_path):
    base = good_plan.resolve().parent
    # Crea modelli
    out = A.perform("make_templates", OpenpyxlBook(good_plan), good_plan)
    assert out.ok, out.message
    names = sorted(p.name for p in (base / "modelli").iterdir())
    assert len(names) == 2 and all(n.startswith("2024_S0") for n in names)
    assert "Creati 2 modelli" in out.message
    templates = {n[5:8]: base / "modelli" / n for n in names}

    # Controlla restituiti: the folder does not exist yet
    out = A.perform("check_returns", OpenpyxlBook(good_plan), good_plan)
    assert not out.ok and "F001" in {f.code for f in out.findings}
    assert "restituiti" in out.message

    # S01 sends back a phase at 150 % (V001), S02 nothing yet
    (base / "restituiti").mkdir()
    sent = _fill(templates["S01"], base / "restituiti" / templates["S01"].name, 150)
    out = A.perform("check_returns", OpenpyxlBook(good_plan), good_plan)
    assert not out.ok
    assert "Settori senza file: S02" in out.message
    v001 = [f for f in out.findings if f.code == "V001"]
    assert v001 and all(f.sheet == "Fasi" for f in v001)
    copy_ = base / "consolidato" / "annotati" / f"{sent.stem}_errori.xlsx"
    assert copy_.is_file() and out.paths == [copy_]
    wb = openpyxl.load_workbook(good_plan)
    ws = wb[SHEET_CHECK]
    assert "Controllo dei file restituiti" in ws["A1"].value
    linked = [row for row in ws.iter_rows(min_row=3) if row[0].value == "V001"]
    link = linked[0][4].hyperlink
    assert link.target == "consolidato/annotati/" + copy_.name           # relative to the plan
    assert link.location == f"'Fasi'!{v001[0].cell}"
    assert (good_plan.parent / link.target).resolve() == copy_.resolve()
    assert openpyxl.load_workbook(copy_)["Fasi"][v001[0].cell].value == 150

    # Stato consegne
    out = A.perform("show_status", OpenpyxlBook(good_plan), good_plan)
    assert not out.ok and "mancanti 1" in out.message and "S02 (mancante)" in out.message
    wb = openpyxl.load_workbook(good_plan)
    ws = wb[SHEET_STATUS]
    from pegxl.status import CSV_HEADERS
    assert [c.value for c in ws[2]] == CSV_HEADERS
    states = {row[0].value: row[5].value for row in ws.iter_rows(min_row=3)}
    assert states == {"S01": f"con errori ({len(v001)})", "S02": "mancante"}
    assert out.select == (SHEET_STATUS, "A4")                  # S02, the first to chase
    s01 = next(row for row in ws.iter_rows(min_row=3) if row[0].value == "S01")
    assert s01[4].hyperlink.target == "restituiti/" + sent.name
    assert (good_plan.parent / s01[4].hyperlink.target).resolve() == sent.resolve()

    # Consolida: refused while S01's file has errors
    out = A.perform("run_merge", OpenpyxlBook(good_plan), good_plan)
    assert not out.ok and out.open_path is None
    assert "Consolidamento non eseguito" in out.message
    assert "M001" in {f.code for f in out.findings}

    # S01 corrects its file, S02 sends an untouched template: merge goes through
    _fill(templates["S01"], sent, 50)
    shutil.copy(templates["S02"], base / "restituiti" / templates["S02"].name)
    out = A.perform("run_merge", OpenpyxlBook(good_plan), good_plan)
    assert out.ok, out.message
    assert out.open_path is not None and out.open_path.is_file()
    assert out.open_path.parent == base / "consolidato"
    assert "Il consolidato si apre ora" in out.message
    assert openpyxl.load_workbook(out.open_path).sheetnames[:2] == ["Sintesi", "Obiettivi"]

    # every action kept the plan intact
    assert check_plan(good_plan)[1] == []


# ===================================================== the Excel layer, fake caller

class FakeFont:
    def __init__(self, rng):
        self.rng = rng

    def __setattr__(self, name, value):
        if name == "rng":
            object.__setattr__(self, name, value)
        else:
            for cell in self.rng.cells():
                self.rng.sheet.fonts.setdefault(cell, {})[name] = value


class FakeRange:
    """The part of xlwings.Range that XlwingsBook uses, over a dict of cells."""

    def __init__(self, sheet, first, last=None):
        self.sheet = sheet
        self.first = self._rc(first)
        self.last = self._rc(last) if last is not None else self.first

    @staticmethod
    def _rc(a):
        if isinstance(a, tuple):
            return a
        from openpyxl.utils.cell import coordinate_from_string, column_index_from_string
        if ":" in a:   # "A:A"
            return (1, column_index_from_string(a.split(":")[0]))
        col, row = coordinate_from_string(a)
        return (row, column_index_from_string(col))

    def cells(self):
        (r1, c1), (r2, c2) = self.first, self.last
        return [(r, c) for r in range(r1, r2 + 1) for c in range(c1, c2 + 1)]

    @property
    def value(self):
        return self.sheet.cells.get(self.first)

    @value.setter
    def value(self, v):
        r0, c0 = self.first
        if isinstance(v, list):
            for i, row in enumerate(v):
                for j, x in enumerate(row):
                    self.sheet.cells[(r0 + i, c0 + j)] = x
        else:
            self.sheet.cells[self.first] = v

    @property
    def formula(self):
        return self.sheet.cells.get(self.first)

    @formula.setter
    def formula(self, f):
        self.sheet.cells[self.first] = f

    @property
    def color(self):
        return self.sheet.colors.get(self.first)

    @color.setter
    def color(self, c):
        for cell in self.cells():
            self.sheet.colors[cell] = c

    @property
    def font(self):
        return FakeFont(self)

    @property
    def column_width(self):
        return None

    @column_width.setter
    def column_width(self, w):
        self.sheet.widths[self.first[1]] = w

    @property
    def wrap_text(self):
        return None

    @wrap_text.setter
    def wrap_text(self, v):
        pass

    def select(self):
        self.sheet.book.selection = (self.sheet.name, self.first)


class FakeSheet:
    def __init__(self, book, name):
        self.book, self.name = book, name
        self.cells: dict = {}
        self.colors: dict = {}
        self.fonts: dict = {}
        self.widths: dict = {}
        self.clears = 0

    def range(self, a, b=None):
        return FakeRange(self, a, b)

    def clear(self):
        self.cells.clear()
        self.colors.clear()
        self.fonts.clear()
        self.clears += 1

    def activate(self):
        self.book.active = self.name

    def grid(self) -> list[list]:
        if not self.cells:
            return []
        nr = max(r for r, _ in self.cells)
        nc = max(c for _, c in self.cells)
        return [[self.cells.get((r, c)) for c in range(1, nc + 1)] for r in range(1, nr + 1)]


class FakeSheets:
    def __init__(self, book, names):
        self.book = book
        self._list = [FakeSheet(book, n) for n in names]

    def __iter__(self):
        return iter(list(self._list))

    def __len__(self):
        return len(self._list)

    def __getitem__(self, key):
        if isinstance(key, int):
            return self._list[key]
        return next(s for s in self._list if s.name.lower() == key.lower())

    def add(self, name=None, before=None, after=None):
        if any(s.name.lower() == name.lower() for s in self._list):
            raise ValueError(f"Sheet named '{name}' already present in workbook")
        s = FakeSheet(self.book, name)
        idx = self._list.index(after) + 1 if after is not None else 0
        self._list.insert(idx, s)
        self.book.active = name
        return s


class FakeBooks:
    def __init__(self):
        self.opened: list[str] = []

    def open(self, path):
        self.opened.append(path)


class FakeApp:
    def __init__(self):
        self.alerts: list[dict] = []
        self.books = FakeBooks()

    def alert(self, prompt, title=None, buttons="ok", mode=None, callback=None):
        self.alerts.append({"prompt": prompt, "title": title, "mode": mode})
        return "ok"


class FakeBook:
    """A workbook open in Excel, as far as pegxl.macros uses xlwings.Book."""

    def __init__(self, path: Path | None, save_error: Exception | None = None):
        self.fullname = str(path) if path else "Cartel1"
        names = openpyxl.load_workbook(path).sheetnames if path and path.is_file() else ["Foglio1"]
        self.app = FakeApp()
        self.sheets = FakeSheets(self, names)
        self.saves = 0
        self.save_error = save_error
        self.selection = None
        self.active = names[0]

    def save(self, path=None):
        if self.save_error:
            raise self.save_error
        self.saves += 1


@pytest.fixture
def caller(monkeypatch, tmp_path):
    """Put a FakeBook where xlwings.Book.caller() would find Excel's calling workbook."""
    xlwings = pytest.importorskip("xlwings")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # the log of an unsaved book goes home
    (tmp_path / "home").mkdir()
    holder: dict[str, FakeBook] = {}

    def install(book: FakeBook) -> FakeBook:
        holder["book"] = book
        monkeypatch.setattr(xlwings.Book, "caller", classmethod(lambda cls: holder["book"]))
        return book
    return install


def test_every_button_dispatches_to_an_existing_action():
    ids = [b.id for b in A.BUTTONS]
    assert len(ids) == len(set(ids)) == 5
    assert set(A.DISPATCH) == set(ids)
    for _control_id, fn in A.DISPATCH.items():
        assert callable(getattr(A, fn)), fn
        assert fn in A._ACTIONS
    assert set(A._ACTIONS) == {"check_plan", "make_templates", "check_returns", "show_status", "run_merge"}


@pytest.mark.parametrize("control_id,action", sorted(A.DISPATCH.items()))
def test_dispatch_runs_the_action_of_each_button(control_id, action, monkeypatch):
    called = []
    monkeypatch.setattr(A, "_run_in_excel", lambda name: called.append(name))
    A.dispatch(control_id)
    assert called == [action]


def test_dispatch_check_plan_in_excel(bad_plan, caller):
    book = caller(FakeBook(bad_plan))
    out = A.dispatch("pegxl_check_plan")
    assert out is not None and not out.ok
    # the sheet, written through XlwingsBook
    sheet = book.sheets[SHEET_CHECK]
    grid = sheet.grid()
    assert grid[0][0].startswith("Controllo del piano del ")
    assert grid[1] == CHECK_HEADERS
    rows = grid[2:]
    got = {(r[0], r[3]) for r in rows}
    assert {("P005", "Obiettivi"), ("P013", "Indicatori"), ("P007", "Fasi")} <= got
    formulas = {r[4] for r in rows}
    assert '=HYPERLINK("#\'Obiettivi\'!B3","B3")' in formulas
    assert '=HYPERLINK("#\'Indicatori\'!D3","D3")' in formulas
    assert sheet.colors[(3, 1)] == "#" + COLOR_ERROR
    # selection, save, message box
    assert book.selection == (SHEET_CHECK, (3, 5)) and book.active == SHEET_CHECK
    assert book.saves == 2                       # before reading the file, after writing the sheet
    (alert,) = book.app.alerts
    assert alert["mode"] == "critical" and alert["title"] == "pegxl — Controlla piano"
    assert "3 errori" in alert["prompt"] and "Traceback" not in alert["prompt"]
    log = bad_plan.parent / "pegxl-excel.log"
    assert "check_plan: problemi (3 errori, 0 avvisi)" in log.read_text(encoding="utf-8")


def test_dispatch_reuses_an_existing_result_sheet(bad_plan, caller):
    book = caller(FakeBook(bad_plan))
    A.dispatch("pegxl_check_plan")
    n = len(book.sheets)
    A.dispatch("pegxl_check_plan")
    assert len(book.sheets) == n
    assert book.sheets[SHEET_CHECK].clears == 1


def test_dispatch_merge_opens_the_consolidated_workbook(good_plan, caller):
    base = good_plan.resolve().parent
    A.perform("make_templates", OpenpyxlBook(good_plan), good_plan)
    shutil.copytree(base / "modelli", base / "restituiti")
    book = caller(FakeBook(good_plan))
    out = A.dispatch("pegxl_run_merge")
    assert out is not None and out.ok, book.app.alerts
    assert book.app.books.opened == [str(out.open_path)]
    assert Path(book.app.books.opened[0]).is_file()
    (alert,) = book.app.alerts
    assert alert["mode"] == "info" and "Consolidato scritto in" in alert["prompt"]


def test_an_unexpected_error_is_a_message_and_a_log_not_a_traceback(good_plan, caller):
    book = caller(FakeBook(good_plan, save_error=RuntimeError("disco pieno")))
    assert A.dispatch("pegxl_check_plan") is None
    (alert,) = book.app.alerts
    assert alert["mode"] == "critical"
    assert "Errore imprevisto durante «Controlla piano»" in alert["prompt"]
    assert "RuntimeError: disco pieno" in alert["prompt"]
    assert "Traceback" not in alert["prompt"]
    log = good_plan.parent / "pegxl-excel.log"
    assert str(log) in alert["prompt"]
    text = log.read_text(encoding="utf-8")
    assert "Traceback (most recent call last)" in text and "RuntimeError: disco pieno" in text


def test_no_caller_no_traceback(monkeypatch, tmp_path):
    xlwings = pytest.importorskip("xlwings")
    monkeypatch.setattr(Path, "home", classmethod(lambda cls: tmp_path))
    alerts = []
    monkeypatch.setattr(A, "_alert", lambda book, msg, title, mode: alerts.append((msg, mode)))

    def boom(cls):
        raise Exception("Book.caller() must not be called directly.")
    monkeypatch.setattr(xlwings.Book, "caller", classmethod(boom))
    assert A.check_returns() is None
    assert alerts and alerts[0][1] == "critical" and "Errore imprevisto" in alerts[0][0]
    assert "Traceback" in (tmp_path / "pegxl-excel.log").read_text(encoding="utf-8")


def test_an_unsaved_workbook_is_asked_to_be_saved(caller):
    book = caller(FakeBook(None))
    assert A.dispatch("pegxl_show_status") is None
    (alert,) = book.app.alerts
    assert "Salvare prima il piano" in alert["prompt"] and book.saves == 0


def test_an_unknown_button_is_a_message(caller, good_plan):
    book = caller(FakeBook(good_plan))
    assert A.dispatch("pegxl_boh") is None
    assert "Pulsante sconosciuto" in book.app.alerts[0]["prompt"]


def test_xlwings_backend_writes_text_not_formulas(good_plan):
    from pegxl.errors import Finding
    book = FakeBook(good_plan)
    f = Finding("V012", ERROR, "=SOMMA(A1:A3)", "+hint", file=str(good_plan), sheet="Fasi", cell="G2",
                record="-O1")
    res = write_check_sheet(XlwingsBook(book), [f])
    row = book.sheets[SHEET_CHECK].grid()[2]
    assert row[6] == "'=SOMMA(A1:A3)" and row[7] == "'+hint" and row[5] == "'-O1"
    assert row[4] == '=HYPERLINK("#\'Fasi\'!G2","G2")'
    assert res.first == "E3" and res.errors == 1


def test_warnings_are_yellow_and_come_after_errors(good_plan):
    from pegxl.errors import Finding
    book = OpenpyxlBook(good_plan)
    res = write_check_sheet(book, [Finding("P012", WARNING, "w", "h", file=str(good_plan), sheet="Fasi",
                                           cell="E2"),
                                   Finding("P007", ERROR, "e", "h", file=str(good_plan), sheet="Fasi",
                                           cell="F2")])
    ws = book.wb[SHEET_CHECK]
    assert [ws["A3"].value, ws["A4"].value] == ["P007", "P012"]
    assert ws["B3"].fill.fgColor.rgb.endswith(COLOR_ERROR)
    assert ws["B4"].fill.fgColor.rgb.endswith(COLOR_WARNING)
    assert (res.errors, res.warnings, res.first) == (1, 1, "E3")


# ========================================================================= the add-in

@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    pytest.importorskip("xlwings")
    return X.build_addin(tmp_path_factory.mktemp("addin"))


def test_the_addin_is_a_valid_xlam(built):
    assert built.name == "pegxl.xlam"
    with zipfile.ZipFile(built) as z:
        assert z.testzip() is None
        names = set(z.namelist())
        template = zipfile.ZipFile(X.template_path())
        assert names == set(template.namelist())
        types = z.read("[Content_Types].xml").decode()
        assert "application/vnd.ms-excel.addin.macroEnabled.main+xml" in types
        assert "ui/extensibility" in z.read("_rels/.rels").decode()
        for name in names:
            if name.endswith((".xml", ".rels")):
                ET.fromstring(z.read(name))        # every XML part parses


def test_the_ribbon_names_the_pegxl_tab_and_its_buttons(built):
    ns = {"c": X.CUSTOMUI_NS}
    with zipfile.ZipFile(built) as z:
        root = ET.fromstring(z.read(X.CUSTOMUI_PART))
    tabs = root.findall("./c:ribbon/c:tabs/c:tab", ns)
    assert [t.get("label") for t in tabs] == ["pegxl"]
    buttons = tabs[0].findall(".//c:button", ns)
    assert {b.get("id") for b in buttons} == set(A.DISPATCH)
    assert [b.get("label") for b in buttons] == ["Controlla piano", "Crea modelli", "Controlla restituiti",
                                                 "Stato consegne", "Consolida"]
    assert {b.get("onAction") for b in buttons} == {"RibbonMyAddin.PegxlAction"}
    assert all(b.get("imageMso") and b.get("supertip") for b in buttons)
    for b in buttons:                     # ids travel into a Python string literal
        assert b.get("id").replace("_", "").isalnum()


def test_every_callback_is_a_procedure_of_the_addin_vba(built):
    vba = X.addin_vba(built)
    procs = vba.procedures()
    with zipfile.ZipFile(built) as z:
        root = ET.fromstring(z.read(X.CUSTOMUI_PART))
    actions = {el.get("onAction") for el in root.iter() if el.get("onAction")}
    assert actions
    for action in actions:
        module, proc = action.split(".")
        assert proc in procs[module], (action, procs)
    src = vba.modules()["RibbonMyAddin"]
    assert "Sub PegxlAction(control As IRibbonControl)" in src
    assert "RunPython \"import pegxl.macros.actions as a; a.dispatch('\" & control.Id & \"')\"" in src
    # RunPython itself comes with xlwings' own module, with the pegxl project name
    assert "RunPython" in procs["xlwings"]
    assert 'Public Const PROJECT_NAME As String = "pegxl"' in vba.modules()["xlwings"]
    assert vba.project_name == "pegxl"
    # the dispatch target named in the VBA exists and takes the id
    import inspect
    assert list(inspect.signature(A.dispatch).parameters) == ["control_id"]


def test_the_vba_is_found_in_the_compressed_ole_stream_bytes(built):
    """Search the vbaProject.bin bytes themselves: the source is compressed, so the names
    are found only after MS-OVBA decompression of the module streams."""
    with zipfile.ZipFile(built) as z:
        raw = z.read(X.VBA_PART)
    assert raw[:8] == bytes.fromhex("D0CF11E0A1B11AE1")
    cf = X.CompoundFile(raw)
    assert {"VBA/dir", "VBA/RibbonMyAddin", "VBA/xlwings", "PROJECT", "VBA/_VBA_PROJECT"} <= set(cf.paths)
    # source-only project: Excel compiles the modules from their source on open
    assert cf.read("VBA/_VBA_PROJECT")[:4] == b"\xcc\x61\xff\xff"
    stream = cf.read("VBA/RibbonMyAddin")
    assert stream[0] == 1 and X.decompress(stream).startswith(b'Attribute VB_Name = "RibbonMyAddin"')
    assert b"PegxlAction" in X.decompress(stream)
    assert b'Name="pegxl"' in cf.read("PROJECT")


def test_the_other_vba_modules_are_xlwings_own(built):
    ours = X.addin_vba(built).modules()
    theirs = X.VbaProject(zipfile.ZipFile(X.template_path()).read(X.VBA_PART)).modules()
    assert set(ours) == set(theirs)
    for name in ("Dictionary", "ThisWorkbook", "Sheet2"):
        assert ours[name] == theirs[name]
    changed = [a for a, b in zip(ours["xlwings"].splitlines(), theirs["xlwings"].splitlines()) if a != b]
    assert changed == ['Public Const PROJECT_NAME As String = "pegxl"']
    assert "Sub RunMain" in theirs["RibbonMyAddin"]          # the template's one fixed callback


def test_an_independent_ole_reader_agrees(built):
    olefile = pytest.importorskip("olefile")
    with zipfile.ZipFile(built) as z:
        raw = z.read(X.VBA_PART)
    ole = olefile.OleFileIO(io.BytesIO(raw))
    cf = X.CompoundFile(raw)
    streams = ["/".join(p) for p in ole.listdir()]
    assert sorted(streams) == sorted(p for p, i in cf.paths.items() if cf.entries[i][66] == 2)
    for p in streams:
        assert ole.openstream(p).read() == cf.read(p), p


def test_the_configuration_sheet(tmp_path):
    pytest.importorskip("xlwings")

    def conf(interpreter):
        data = X.make_addin_bytes(X.template_path().read_bytes(), interpreter=interpreter)
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            return z.read("xl/workbook.xml").decode(), z.read("xl/worksheets/sheet1.xml").decode()

    wb, sheet = conf(None)
    assert 'name="_pegxl.conf"' in wb and "<sheetData></sheetData>" in sheet
    assert "felix" not in wb                                   # the template author's folder is gone
    wb, sheet = conf(r"C:\Users\cdg\pegxl\Scripts\python.exe")
    assert 'name="pegxl.conf"' in wb
    assert "<t>Interpreter_Win</t>" in sheet and r"<t>C:\Users\cdg\pegxl\Scripts\python.exe</t>" in sheet
    wb, sheet = conf("/Users/cdg/venv/bin/python")
    assert "<t>Interpreter_Mac</t>" in sheet and "Interpreter_Win" not in sheet


def test_build_refuses_to_overwrite(built):
    with pytest.raises(PegxlError) as e:
        X.build_addin(built.parent)
    assert e.value.findings[0].code == "U002"
    assert X.build_addin(built.parent, force=True) == built


def test_build_without_xlwings_is_x001(monkeypatch, tmp_path):
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "xlwings" else real(name, *a))
    with pytest.raises(PegxlError) as e:
        X.build_addin(tmp_path)
    f = e.value.findings[0]
    assert f.code == "X001" and 'pip install "pegxl[excel]"' in f.hint
    assert not (tmp_path / "pegxl.xlam").exists()


def test_excel_addin_command(tmp_path):
    pytest.importorskip("xlwings")
    r = CliRunner().invoke(excel_group, ["addin", "-o", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "pegxl.xlam").is_file()
    assert "xlwings addin install --file" in r.output and "pegxl-excel.log" in r.output
    r = CliRunner().invoke(excel_group, ["addin", "-o", str(tmp_path)])
    assert r.exit_code == 2 and "U002" in r.output


# ================================================================= MS-OVBA, MS-CFB

def test_ovba_examples_of_the_specification():
    # [MS-OVBA] 3.2.1: no compression possible
    plain = b"abcdefghijklmnopqrstuv."
    packed = bytes.fromhex("01 19 B0 00 61 62 63 64 65 66 67 68 00 69 6A 6B 6C 6D 6E 6F 70 00 71 72 73 74 75 76 2E")
    assert X.compress(plain) == packed and X.decompress(packed) == plain
    # [MS-OVBA] 3.2.2: normal compression
    text = b"#aaabcdefaaaaghijaaaaaklaaamnopqaaaaaaaaaaaarstuvwxyzaaa"
    spec = bytes.fromhex("01 2F B0 00 23 61 61 61 62 63 64 65 82 66 00 70 61 67 68 69 6A 01 38 08 61 6B 6C"
                         " 00 30 6D 6E 6F 70 06 71 02 70 04 10 72 73 74 75 76 10 77 78 79 7A 00 3C")
    assert X.decompress(spec) == text
    assert X.decompress(X.compress(text)) == text


@pytest.mark.parametrize("seed", range(6))
def test_ovba_round_trip(seed):
    rnd = random.Random(seed)
    words = [b"Sub ", b"End Sub\r\n", b"Dim x As String\r\n", b"RunPython ", b"'", b"\r\n", b"aaaa"]
    n = rnd.choice([0, 1, 3, 4095, 4096, 4097, 9000, 20000])
    data = b"".join(rnd.choice(words) if rnd.random() < 0.7 else bytes([rnd.randrange(256)])
                    for _ in range(n))[:n]
    assert X.decompress(X.compress(data)) == data


def test_cfb_rewrite_keeps_every_stream():
    pytest.importorskip("xlwings")
    raw = zipfile.ZipFile(X.template_path()).read(X.VBA_PART)
    cf = X.CompoundFile(raw)
    before = {p: cf.read(p) for p, i in cf.paths.items() if cf.entries[i][66] == 2}
    cf.write("VBA/RibbonMyAddin", b"\x01" + b"x" * 5000)   # grows past the mini-stream cutoff
    again = X.CompoundFile(cf.to_bytes())
    for p, data in before.items():
        assert again.read(p) == (b"\x01" + b"x" * 5000 if p == "VBA/RibbonMyAddin" else data), p


def _has_xlwings() -> bool:
    import importlib.util
    return importlib.util.find_spec("xlwings") is not None


# ====================================================================== no xlwings

def test_the_excel_extra_is_installed_here():
    assert _has_xlwings()


def test_base_modules_never_import_xlwings(tmp_path, good_plan):
    code = (
        "import sys\n"
        "import pegxl, pegxl.cli, pegxl.macros.sheets, pegxl.macros.actions, pegxl.macros.addin\n"
        "import pegxl.macros.commands\n"
        "from pegxl.macros.commands import plan_check_write_back\n"
        f"plan_check_write_back({str(good_plan)!r})\n"
        f"pegxl.macros.addin.build_addin({str(tmp_path)!r})\n"
        "bad = sorted(m for m in sys.modules if m == 'xlwings' or m.startswith('xlwings.'))\n"
        "assert not bad, bad\n"
        "print('clean')\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       cwd=str(Path(__file__).resolve().parents[1]))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "clean"
    assert (tmp_path / "pegxl.xlam").is_file()


# ============================================================== with a real Excel

@functools.cache
def _excel_available() -> bool:
    """Can xlwings start Excel here? Asked only when an `excel` test is about to run."""
    if not sys.platform.startswith(("win", "darwin")):
        return False
    try:
        import xlwings
        xlwings.App(visible=False, add_book=False).quit()
        return True
    except Exception:
        return False


requires_excel = [pytest.mark.excel,
                  pytest.mark.skipif("not _excel_available()", reason=EXCEL_REASON)]


def _with_excel(fn):
    for m in reversed(requires_excel):
        fn = m(fn)
    return fn


@pytest.fixture
def excel_book():
    import xlwings as xw
    app = xw.App(visible=False, add_book=False)
    app.display_alerts = False
    opened = []

    def open_(path):
        book = app.books.open(str(path))
        opened.append(book)
        return book
    yield open_
    for b in opened:
        try:
            b.close()
        except Exception:
            pass
    app.quit()


@_with_excel
def test_excel_check_plan_writes_the_sheet_in_excel(bad_plan, excel_book, monkeypatch):
    book = excel_book(bad_plan)
    book.set_mock_caller()
    alerts = []
    monkeypatch.setattr(A, "_alert", lambda b, msg, title, mode: alerts.append((msg, mode)))
    out = A.check_plan()
    assert out is not None and not out.ok
    ws = book.sheets[SHEET_CHECK]
    assert ws.range("A2").value == "Codice"
    codes = {ws.range((r, 1)).value for r in range(3, 3 + len(out.findings))}
    assert {"P005", "P007", "P013"} <= codes
    assert ws.range("E3").formula.upper().startswith("=HYPERLINK(")
    assert alerts and alerts[0][1] == "critical"


@_with_excel
def test_excel_xlwings_backend_round_trip(good_plan, excel_book, tmp_path):
    book = excel_book(good_plan)
    res = write_check_sheet(XlwingsBook(book), [])
    assert res.first is None
    assert book.sheets[SHEET_CHECK].range("G3").value == NO_PROBLEM
    XlwingsBook(book).select(SHEET_CHECK, "G3")
    assert book.sheets.active.name == SHEET_CHECK


@_with_excel
def test_excel_the_built_addin_opens(built, excel_book):
    book = excel_book(built)
    assert book.name == "pegxl.xlam"
