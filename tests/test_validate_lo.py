"""Returns typed into a real LibreOffice Calc, saved as .xlsx and as .ods, then validated.

This is what a settore does with the template: open it, type Stato words, Avanzamento
numbers, dates, Valore raggiunto values and notes, save (in Excel's format or in
LibreOffice's own). Both files must validate with no error and give back exactly the
values typed; a defect typed in LibreOffice is reported at its cell in both formats.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from lo_helper import FILTERS, requires_lo, run_job
from test_validate import Env, make_env

from pegxl.errors import ERROR
from pegxl.validators.returns import validate_returns

pytestmark = requires_lo

D = dt.date

# (sheet, cell, kind, value, record, validated column): kind is the driver's edit key
TYPED: list[tuple[str, str, str, Any, str, str]] = [
    ("Obiettivi", "J2", "string", "Concluso", "2024_S01_01", "status_raw"),
    ("Obiettivi", "L2", "string", "Attivati 24 procedimenti online; catalogo pubblicato il 15/10/2024.",
     "2024_S01_01", "report"),
    ("Obiettivi", "J3", "string", "In corso", "2024_S01_02", "status_raw"),
    ("Obiettivi", "K3", "value", 70, "2024_S01_02", "declared_raw"),
    ("Obiettivi", "L3", "string", "Flusso delle fatture rivisto; regolamento approvato a ottobre.",
     "2024_S01_02", "report"),
    ("Obiettivi", "M3", "string", "Il regolamento è slittato per il parere dei revisori.",
     "2024_S01_02", "deviation_reason"),
    ("Obiettivi", "J4", "string", "Concluso", "2024_T_01", "status_raw"),
    ("Fasi", "G2", "value", 100, "2024_S01_01 fase 1", "progress_raw"),
    ("Fasi", "H2", "date", "2024-01-20", "2024_S01_01 fase 1", "actual_start_raw"),
    ("Fasi", "I2", "date", "2024-04-26", "2024_S01_01 fase 1", "actual_end_raw"),
    ("Fasi", "J2", "string", "Completata con l'ufficio sistemi informativi.", "2024_S01_01 fase 1", "notes"),
    ("Fasi", "G3", "value", 100, "2024_S01_01 fase 2", "progress_raw"),
    ("Fasi", "H3", "date", "2024-05-02", "2024_S01_01 fase 2", "actual_start_raw"),
    ("Fasi", "I3", "date", "2024-11-15", "2024_S01_01 fase 2", "actual_end_raw"),
    ("Fasi", "G4", "value", 75.5, "2024_S01_02 fase 1", "progress_raw"),
    ("Fasi", "H4", "date", "2024-02-05", "2024_S01_02 fase 1", "actual_start_raw"),
    ("Fasi", "J4", "string", "-in attesa del nuovo gestionale", "2024_S01_02 fase 1", "notes"),
    ("Fasi", "G5", "value", 100, "2024_T_01 fase 1", "progress_raw"),
    ("Fasi", "H5", "date", "2024-03-01", "2024_T_01 fase 1", "actual_start_raw"),
    ("Fasi", "I5", "date", "2024-10-30", "2024_T_01 fase 1", "actual_end_raw"),
    ("Indicatori", "I2", "value", 24, "2024_S01_01 indicatore 1", "achieved_raw"),
    ("Indicatori", "I3", "string", "sì", "2024_S01_01 indicatore 2", "achieved_raw"),
    ("Indicatori", "J3", "string", "=pubblicato sul sito (testo, non formula)", "2024_S01_01 indicatore 2", "notes"),
    ("Indicatori", "I4", "value", 78622.2, "2024_S01_02 indicatore 1", "achieved_raw"),
    ("Indicatori", "I5", "date", "2024-09-15", "2024_S01_02 indicatore 2", "achieved_raw"),
    ("Indicatori", "I6", "value", 92.5, "2024_T_01 indicatore 1", "achieved_raw"),
]


def _edits(rows) -> list[dict]:
    return [{"sheet": sheet, "cell": cell, kind: value} for sheet, cell, kind, value, _, _ in rows]


def _expected(kind: str, value: Any) -> Any:
    return D.fromisoformat(value) if kind == "date" else value


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Env:
    return make_env(tmp_path_factory.mktemp("plan"))


def _type_and_save(env: Env, out_dir: Path, stem: str, edits: list[dict]) -> tuple[Path, Path, dict]:
    """One LibreOffice session: open the S01 template, type, save as .xlsx and .ods."""
    out_dir.mkdir(parents=True, exist_ok=True)
    xlsx, ods = out_dir / f"{stem}.xlsx", out_dir / f"{stem}.ods"
    res = run_job({"open": str(env.templates["S01"]), "edits": edits, "inspect": [], "inspect_sheets": True,
                   "save": [{"path": str(xlsx), "filter": FILTERS[".xlsx"]},
                            {"path": str(ods), "filter": FILTERS[".ods"]}]}, timeout=240)
    assert xlsx.exists() and ods.exists()
    return xlsx, ods, res


@pytest.fixture(scope="module")
def typed(env, tmp_path_factory) -> tuple[Path, Path, dict]:
    return _type_and_save(env, tmp_path_factory.mktemp("lo"), "2024_S01_affari-generali", _edits(TYPED))


@pytest.mark.parametrize("fmt", ["xlsx", "ods"])
def test_libreoffice_return_validates_with_no_error(env, typed, fmt):
    xlsx, ods, res = typed
    path = xlsx if fmt == "xlsx" else ods
    v = validate_returns(env.plan, [path])
    errors = [str(f) for f in v.findings if f.is_error]
    assert errors == []
    # LibreOffice keeps sheet protection on save: no T007; nothing else to warn about
    assert [str(f) for f in v.findings] == []
    assert v.usable(str(path)) and v.files[0].kind == fmt
    assert "LibreOffice" in (v.files[0].application or "")


@pytest.mark.parametrize("fmt", ["xlsx", "ods"])
def test_libreoffice_values_typed_are_exactly_those_validated(env, typed, fmt):
    xlsx, ods, _ = typed
    path = xlsx if fmt == "xlsx" else ods
    v = validate_returns(env.plan, [path])
    tables = {"Obiettivi": v.objectives, "Fasi": v.phases, "Indicatori": v.indicators}
    for sheet, cell, kind, value, rec, column in TYPED:
        df = tables[sheet]
        rows = df[df["record"] == rec].to_dict("records")
        assert len(rows) == 1, (sheet, rec)
        row = rows[0]
        got, want = row[column], _expected(kind, value)
        assert got == want, (fmt, sheet, cell, got, want)
        assert type(got) is type(want) or {type(got), type(want)} <= {int, float}, (fmt, cell, type(got))
        cell_col = column.removesuffix("_raw") + "_cell"
        assert row[cell_col] == cell, (fmt, sheet, rec, row[cell_col], cell)
    # parsed values
    ph = v.phases.set_index("record")
    assert ph.loc["2024_S01_02 fase 1", "progress"] == 75.5
    assert ph.loc["2024_S01_01 fase 1", "actual_end"] == D(2024, 4, 26)
    ind = v.indicators.set_index("record")
    assert ind.loc["2024_S01_01 indicatore 2", "achieved"] is True
    assert ind.loc["2024_S01_02 indicatore 2", "achieved"] == D(2024, 9, 15)
    assert ind.loc["2024_S01_02 indicatore 1", "achieved"] == pytest.approx(78622.2)


def test_libreoffice_return_with_defects_reports_code_and_cell_in_both_formats(env, tmp_path):
    defects = [e for e in _edits(TYPED) if (e["sheet"], e["cell"]) not in {("Fasi", "G2"), ("Obiettivi", "J2")}]
    defects += [{"sheet": "Fasi", "cell": "G2", "value": 150},
                {"sheet": "Obiettivi", "cell": "J2", "string": "boh"}]
    xlsx, ods, _ = _type_and_save(env, tmp_path, "2024_S01_affari-generali", defects)
    for path in (xlsx, ods):
        v = validate_returns(env.plan, [path])
        got = sorted((f.code, f.severity, f.sheet, f.cell, f.record) for f in v.findings)
        assert got == [("V001", ERROR, "Fasi", "G2", "2024_S01_01 fase 1"),
                       ("V005", ERROR, "Obiettivi", "J2", "2024_S01_01")], (path.suffix, got)
        msgs = {f.code: f.message for f in v.findings}
        assert "150" in msgs["V001"] and "«boh»" in msgs["V005"]
        assert not v.usable(str(path))
