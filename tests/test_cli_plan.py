"""`pegxl --version`, `pegxl init DIR` and `pegxl plan check FILE` end to end.

Through click's CliRunner (fast, in process) and through a real subprocess of
`python -m pegxl.cli` (what a user's shell runs). Exit status: 0 clean (warnings allowed),
1 problems in the plan, 2 unusable input or usage. Never a Python traceback.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

REPO = Path(__file__).resolve().parents[1]

from pegxl import __version__
from pegxl.cli import main
from pegxl.rules import RULE_ROWS
from pegxl.workbook import contract as C
from pegxl.workbook.planfile import write_plan

PLAN = {
    "Ente": [["Ente", "Comune di Prova"], ["Anno", 2024], ["Fase del ciclo", "Monitoraggio intermedio"],
             ["Data di riferimento", "2024-06-30"]],
    "Settori": [
        {"Codice settore": "S01", "Settore": "Affari generali", "Responsabile": "Rossi Anna",
         "Email": "rossi@example.org"},
        {"Codice settore": "S02", "Settore": "Servizi sociali", "Responsabile": "Bianchi Luca"},
    ],
    "Obiettivi": [
        {"Codice obiettivo": "O1", "Codice settore": "S01", "Titolo": "Digitalizzare", "Tipologia": "Strategico"},
        {"Codice obiettivo": "O2", "Codice settore": "S01;S02", "Titolo": "Sportello", "Tipologia": "Gestionale"},
        {"Codice obiettivo": "T1", "Codice settore": "*", "Titolo": "Trasparenza", "Tipologia": "PTPCT"},
    ],
    "Fasi": [
        {"Codice obiettivo": "O1", "N. fase": 1, "Descrizione": "Analisi", "Fine prevista": "2024-03-31", "Peso": 40},
        {"Codice obiettivo": "O1", "N. fase": 2, "Descrizione": "Avvio", "Fine prevista": "2024-12-31", "Peso": 60},
        {"Codice obiettivo": "O2", "N. fase": 1, "Descrizione": "Apertura", "Fine prevista": "2024-12-31", "Peso": 100},
    ],
    "Indicatori": [
        {"Codice obiettivo": "O1", "N. indicatore": 1, "Descrizione": "Servizi online", "Tipo": "EFFICACIA",
         "Tipo valore": "numero", "Valore atteso": 15},
        {"Codice obiettivo": "O2", "N. indicatore": 1, "Descrizione": "Pratiche in tempo", "Tipo": "EFFICIENZA",
         "Tipo valore": "percentuale", "Valore atteso": 80},
        {"Codice obiettivo": "T1", "N. indicatore": 1, "Descrizione": "Pubblicato", "Tipo": "QUALITÀ",
         "Tipo valore": "sì/no", "Valore atteso": "sì"},
    ],
}


def make_plan(tmp_path: Path, name: str = "piano.xlsx", **changes) -> Path:
    """The clean plan, with `changes` applied as {sheet: (row index, field, value)}."""
    import copy
    data = copy.deepcopy(PLAN)
    for sheet, (i, fld, value) in changes.items():
        data[sheet][i][fld] = value
    return write_plan(tmp_path / name, data)


def bad_plan(tmp_path: Path) -> Path:
    """Two errors: phase pesi of O1 sum to 90 (Fasi!F2), Tipologia «Boh» (Obiettivi!E3)."""
    return make_plan(tmp_path, Fasi=(1, "Peso", 50), Obiettivi=(1, "Tipologia", "Boh"))


def run(*args: str):
    """In process, through click; stdout and stderr apart."""
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=True)
    return result


def no_traceback(*texts: str) -> None:
    for t in texts:
        assert "Traceback" not in (t or ""), t
        assert "Errore imprevisto" not in (t or ""), t


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONIOENCODING"] = "utf-8"
    return env


def shell(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """A real process, as a user's shell runs it: `python -m pegxl.cli ...`."""
    return subprocess.run([sys.executable, "-m", "pegxl.cli", *map(str, args)], capture_output=True,
                          text=True, encoding="utf-8", timeout=120, env=_env(), cwd=cwd)


# ------------------------------------------------------------------------------- version

def test_version():
    r = run("--version")
    assert r.exit_code == 0
    assert r.output.strip() == f"pegxl {__version__}"


def test_version_in_a_real_process():
    p = shell("--version")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == f"pegxl {__version__}"
    no_traceback(p.stdout, p.stderr)


def test_console_script_is_declared():
    """`pegxl` on PATH is the same entry point as `python -m pegxl.cli`."""
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    assert 'pegxl = "pegxl.cli:main"' in text


def test_help_lists_the_commands():
    r = run("--help")
    assert r.exit_code == 0
    assert "init" in r.output and "plan" in r.output
    r = run("plan", "--help")
    assert r.exit_code == 0 and "check" in r.output


# ---------------------------------------------------------------------------------- init

def _sheet_list(wb, defined_name: str) -> list[str]:
    """The values a list validation's defined name points at (on the hidden _liste sheet)."""
    dn = wb.defined_names[defined_name]
    ((sheet, ref),) = list(dn.destinations)
    return [c.value for row in wb[sheet][ref.replace("$", "")] for c in row]


def _validation_of(ws, cell: str):
    hits = [dv for dv in ws.data_validations.dataValidation if cell in dv.sqref]
    assert len(hits) == 1, f"{ws.title}!{cell}: {len(hits)} validations"
    return hits[0]


def test_init_creates_a_plan_with_every_sheet_rule_and_dropdown(tmp_path):
    target = tmp_path / "ufficio"
    r = run("init", target)
    assert r.exit_code == 0, r.output
    path = target / "piano.xlsx"
    assert path.is_file()
    assert str(path) in r.output and "pegxl plan check" in r.output
    no_traceback(r.output)

    wb = load_workbook(path)
    for sheet in (C.SHEET_ENTE, C.SHEET_RULES, C.SHEET_SECTORS, C.SHEET_OBJECTIVES, C.SHEET_PHASES,
                  C.SHEET_INDICATORS):
        assert sheet in wb.sheetnames
        assert wb[sheet].sheet_state == "visible"
    # headers exactly as the contract, in order
    for spec in (C.SECTORS, C.OBJECTIVES, C.PHASES, C.INDICATORS, C.RULES):
        assert [c.value for c in wb[spec.sheet][1]][:len(spec.headers)] == spec.headers
    # Ente: Voce / Valore with every voce
    ente = {row[0].value: row[1].value for row in wb["Ente"].iter_rows(min_row=2)}
    assert list(ente) == list(C.ENTE_ITEMS)
    assert ente["Fase del ciclo"] == "Rendicontazione finale"
    assert isinstance(ente["Anno"], int)
    # Regole: every rule with its documented default
    rules = [(row[0].value, row[1].value) for row in wb["Regole"].iter_rows(min_row=2)]
    assert rules == [(name, default) for name, default, _ in RULE_ROWS]
    assert all(row[2].value for row in wb["Regole"].iter_rows(min_row=2))    # a Descrizione each

    # dropdowns: list validations fed by hidden-sheet lists (never inline, 255-char limit)
    assert wb["_liste"].sheet_state == "hidden"
    expected = [
        (C.SHEET_OBJECTIVES, C.OBJECTIVES, "typology", C.TIPOLOGIE),
        (C.SHEET_INDICATORS, C.INDICATORS, "kind", C.TIPI_INDICATORE),
        (C.SHEET_INDICATORS, C.INDICATORS, "value_type", C.TIPI_VALORE),
        (C.SHEET_INDICATORS, C.INDICATORS, "direction", C.VERSI),
    ]
    for sheet, spec, fld, words in expected:
        letter = chr(ord("A") + spec.headers.index(spec.header(fld)))
        ws = wb[sheet]
        for row in (2, 100, 2000):
            dv = _validation_of(ws, f"{letter}{row}")
            assert dv.type == "list" and dv.showErrorMessage
        name = dv.formula1.lstrip("=")
        assert not name.startswith('"'), "inline list"
        assert _sheet_list(wb, name) == list(words), (sheet, fld)
    # the Ente's Fase del ciclo cell
    fase_row = list(C.ENTE_ITEMS).index("Fase del ciclo") + 2
    dv = _validation_of(wb["Ente"], f"B{fase_row}")
    assert dv.type == "list"
    assert _sheet_list(wb, dv.formula1.lstrip("=")) == list(C.FASI_CICLO)


def test_init_in_a_real_process(tmp_path):
    p = shell("init", tmp_path / "nuovo")
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "nuovo" / "piano.xlsx").is_file()
    no_traceback(p.stdout, p.stderr)


def test_init_refuses_to_overwrite_unless_force(tmp_path):
    assert run("init", tmp_path).exit_code == 0
    path = tmp_path / "piano.xlsx"
    # the user fills the plan: it must not be lost by a second init
    make_plan(tmp_path)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    r = run("init", tmp_path)
    assert r.exit_code == 2
    assert "U002" in r.output and "--force" in r.output
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    no_traceback(r.output)
    # a real process says the same on stderr
    p = shell("init", tmp_path)
    assert p.returncode == 2 and "U002" in p.stderr
    no_traceback(p.stdout, p.stderr)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    # --force overwrites with a blank plan
    r = run("init", tmp_path, "--force")
    assert r.exit_code == 0, r.output
    assert hashlib.sha256(path.read_bytes()).hexdigest() != before
    wb = load_workbook(path)
    assert wb["Settori"].max_row == 1
    assert not [f for f in tmp_path.iterdir() if f.name.startswith(".piano")], "temporary file left"


def test_init_on_a_file_is_a_usage_error(tmp_path):
    f = tmp_path / "piano.txt"
    f.write_text("x")
    r = run("init", f)
    assert r.exit_code == 2
    no_traceback(r.output)


def test_fresh_init_plan_check_says_what_to_fill(tmp_path):
    run("init", tmp_path)
    r = run("plan", "check", tmp_path / "piano.xlsx")
    assert r.exit_code == 1
    assert "P017" in r.output and "B2" in r.output          # the Ente name
    assert "P023" in r.output                               # no settori, no obiettivi
    no_traceback(r.output)


# ---------------------------------------------------------------------------- plan check

def test_plan_check_clean_exit_0(tmp_path):
    path = make_plan(tmp_path)
    r = run("plan", "check", path)
    assert r.exit_code == 0, r.output
    assert "nessun problema" in r.output
    assert "2 settori, 3 obiettivi, 3 fasi, 3 indicatori" in r.output
    no_traceback(r.output)


def test_plan_check_warnings_only_exit_0(tmp_path):
    path = make_plan(tmp_path, Fasi=(0, "Fine prevista", "31/03/2024"))      # P015 at Fasi!E2
    r = run("plan", "check", path)
    assert r.exit_code == 0, r.output
    assert "P015" in r.output and "cella E2" in r.output
    assert "1 avviso" in r.output


def test_plan_check_problems_exit_1_with_codes_and_cells(tmp_path):
    path = bad_plan(tmp_path)
    r = run("plan", "check", path)
    assert r.exit_code == 1
    out = r.output
    assert "DA CORREGGERE" in out and "2 errori" in out
    assert "P007" in out and "foglio «Fasi», cella F2" in out and "sommano a 90" in out
    assert "P013" in out and "foglio «Obiettivi», cella E3" in out and "«Boh»" in out
    assert "→" in out                                        # every finding with its hint
    no_traceback(out)


def test_plan_check_duplicate_code_exit_1_not_a_crash(tmp_path):
    """A duplicated Codice obiettivo used to crash the weights check (exit 2, "Errore imprevisto")."""
    path = make_plan(tmp_path, Obiettivi=(2, "Codice obiettivo", "O1"))
    r = run("plan", "check", path)
    assert r.exit_code == 1, r.output
    assert "P004" in r.output and "cella A4" in r.output and "riga 2" in r.output
    no_traceback(r.output)


def test_plan_check_json(tmp_path):
    path = bad_plan(tmp_path)
    r = run("plan", "check", path, "--format", "json")
    assert r.exit_code == 1
    doc = json.loads(r.stdout)
    assert doc["schema"] == "pegxl-report" and doc["version"] == "1"
    assert doc["pegxl"] == __version__ and doc["command"] == "plan check"
    assert doc["summary"]["errors"] == 2 and doc["summary"]["usable"] == 0
    assert doc["files"][0]["file"] == str(path) and doc["files"][0]["usable"] is False
    got = {(f["code"], f["sheet"], f["cell"], f["record"]) for f in doc["findings"]}
    assert got == {("P007", "Fasi", "F2", "O1"), ("P013", "Obiettivi", "E3", "O2")}
    for f in doc["findings"]:
        assert set(f) >= {"code", "severity", "message", "hint", "file", "sheet", "cell", "row", "column",
                          "record", "value"}
        assert f["severity"] == "errore" and f["hint"] and f["file"] == str(path)


def test_plan_check_json_clean(tmp_path):
    path = make_plan(tmp_path)
    r = run("plan", "check", path, "--format", "json")
    assert r.exit_code == 0
    doc = json.loads(r.stdout)
    assert doc["findings"] == [] and doc["summary"]["errors"] == 0
    assert doc["files"] == [{"file": str(path), "usable": True, "errors": 0, "warnings": 0}]


def test_plan_check_json_in_a_real_process(tmp_path):
    path = bad_plan(tmp_path)
    p = shell("plan", "check", path, "--format", "json")
    assert p.returncode == 1, p.stderr
    doc = json.loads(p.stdout)
    assert sorted(f["code"] for f in doc["findings"]) == ["P007", "P013"]
    assert any("«Boh»" in f["message"] for f in doc["findings"])     # UTF-8 intact
    no_traceback(p.stdout, p.stderr)


def test_plan_check_in_a_real_process(tmp_path):
    p = shell("plan", "check", make_plan(tmp_path))
    assert p.returncode == 0, p.stderr
    (tmp_path / "b").mkdir()
    p = shell("plan", "check", bad_plan(tmp_path / "b"))
    assert p.returncode == 1
    assert "P007" in p.stdout and "cella F2" in p.stdout
    no_traceback(p.stdout, p.stderr)


# -------------------------------------------------------------------- unusable input: exit 2

def _pdf(tmp_path: Path) -> tuple[Path, str]:
    f = tmp_path / "piano.xlsx"
    f.write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n%%EOF\n")
    return f, "F002"


def _missing(tmp_path: Path) -> tuple[Path, str]:
    return tmp_path / "non-esiste.xlsx", "F001"


def _text(tmp_path: Path) -> tuple[Path, str]:
    f = tmp_path / "piano.xlsx"
    f.write_text("Codice settore;Settore\nS01;Affari generali\n", encoding="utf-8")
    return f, "F002"   # a text file renamed .xlsx is not a damaged workbook


def _empty(tmp_path: Path) -> tuple[Path, str]:
    f = tmp_path / "piano.xlsx"
    f.write_bytes(b"")
    return f, "F009"


def _zip_not_workbook(tmp_path: Path) -> tuple[Path, str]:
    f = tmp_path / "piano.xlsx"
    with zipfile.ZipFile(f, "w") as z:
        z.writestr("leggimi.txt", "non un foglio di calcolo")
    return f, "F002"


def _truncated(tmp_path: Path) -> tuple[Path, str]:
    good = make_plan(tmp_path, name="buono.xlsx")
    f = tmp_path / "piano.xlsx"
    f.write_bytes(good.read_bytes()[:2000])
    return f, "F003"


def _old_xls(tmp_path: Path) -> tuple[Path, str]:
    f = tmp_path / "piano.xls"
    f.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600)
    return f, "F005"


UNUSABLE = [_pdf, _missing, _text, _empty, _zip_not_workbook, _truncated, _old_xls]


@pytest.mark.parametrize("maker", UNUSABLE, ids=lambda m: m.__name__.strip("_"))
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_plan_check_unusable_file_exit_2(tmp_path, maker, fmt):
    path, code = maker(tmp_path)
    r = run("plan", "check", path, "--format", fmt)
    assert r.exit_code == 2, r.output
    assert code in r.output, r.output
    assert str(path) in r.output
    no_traceback(r.output)


def test_pdf_renamed_xlsx_says_it_is_a_pdf(tmp_path):
    path, _ = _pdf(tmp_path)
    r = run("plan", "check", path)
    assert "è un PDF" in r.output


@pytest.mark.parametrize("maker", [_pdf, _missing, _text], ids=["pdf", "missing", "text"])
def test_plan_check_unusable_file_in_a_real_process(tmp_path, maker):
    path, code = maker(tmp_path)
    p = shell("plan", "check", path)
    assert p.returncode == 2
    assert code in p.stderr
    no_traceback(p.stdout, p.stderr)


def test_plan_check_a_directory_is_a_usage_error(tmp_path):
    r = run("plan", "check", tmp_path)
    assert r.exit_code == 2
    no_traceback(r.output)


def test_plan_check_missing_sheet_exit_1(tmp_path):
    path = make_plan(tmp_path)
    wb = load_workbook(path)
    wb.remove(wb["Fasi"])
    wb.save(path)
    r = run("plan", "check", path, "--format", "json")
    assert r.exit_code == 1
    doc = json.loads(r.stdout)
    assert [(f["code"], f["sheet"]) for f in doc["findings"]] == [("P001", "Fasi")]


def test_unknown_option_is_a_usage_error():
    r = run("plan", "check", "--formato", "json", "x.xlsx")
    assert r.exit_code == 2
    no_traceback(r.output)


def test_console_script_in_a_real_process(tmp_path):
    """The installed `pegxl` script, when there is one beside this interpreter."""
    import shutil
    exe = shutil.which("pegxl", path=str(Path(sys.executable).parent)) or shutil.which("pegxl")
    if exe is None:
        pytest.skip("pegxl console script not installed")
    p = subprocess.run([exe, "--version"], capture_output=True, text=True, encoding="utf-8", timeout=120,
                       env=_env())
    assert p.returncode == 0 and p.stdout.strip() == f"pegxl {__version__}"
    p = subprocess.run([exe, "plan", "check", bad_plan(tmp_path), "--format", "json"], capture_output=True,
                       text=True, encoding="utf-8", timeout=120, env=_env())
    assert p.returncode == 1
    assert {f["code"] for f in json.loads(p.stdout)["findings"]} == {"P007", "P013"}
    no_traceback(p.stdout, p.stderr)


def test_plan_check_json_for_an_unusable_file_is_json(tmp_path):
    path, _ = _pdf(tmp_path)
    r = run("plan", "check", path, "--format", "json")
    assert r.exit_code == 2
    doc = json.loads(r.stdout)
    assert doc["findings"][0]["code"] == "F002"


# --------------------------------------------------------------------- `pegxl errori`

def test_error_catalogue_lists_only_codes_the_tool_can_report():
    """Every entry of `pegxl errori` is raised somewhere in pegxl (no dead entry a user would
    look up in vain), in code order, with a severity, a message and a hint whose fields all
    render."""
    import re
    from pegxl.errors import ERROR, WARNING, ErrorCode, catalogue, finding
    source = "\n".join(p.read_text(encoding="utf-8") for p in (REPO / "pegxl").rglob("*.py")
                       if p.name != "errors.py")
    rows = catalogue()
    codes = [r["code"] for r in rows]
    assert len(codes) == len(set(codes))
    for area in sorted({c[0] for c in codes}):
        mine = [c for c in codes if c[0] == area]
        assert mine == sorted(mine), f"area {area} out of order: {mine}"
    unused = [c for c in codes if not re.search(rf"ErrorCode\.{c}\b|[\"']{c}[\"'@]", source)]
    assert unused == []
    for code in ErrorCode:
        assert code.severity in (ERROR, WARNING) and code.template and code.hint
        fields = set(re.findall(r"{(\w+)}", code.template + code.hint))
        f = finding(code, **{k: "x" for k in fields})
        # a field the finding does not fill renders as "?": none beyond the template's own
        assert "{" not in f.message + f.hint, (code, f.message)
        assert f.message.count("?") == code.template.count("?"), (code, f.message)


def test_errori_json_is_the_catalogue():
    r = CliRunner().invoke(main, ["errori", "--format", "json"])
    assert r.exit_code == 0
    doc = json.loads(r.output)
    from pegxl.errors import catalogue
    assert doc == catalogue() and {"code", "severity", "message", "hint"} <= set(doc[0])


def test_system_errors_are_said_in_italian(tmp_path):
    r = CliRunner().invoke(main, ["plan", "check", str(tmp_path / "manca.xlsx")])
    assert r.exit_code == 2
    assert "F001" in r.output and "non esiste" in r.output and "No such file" not in r.output
    from pegxl.errors import os_detail
    assert os_detail(PermissionError(13, "Permission denied")) == "permesso negato"
    assert os_detail(OSError(28, "No space left on device")) == "spazio su disco esaurito"


def test_json_report_is_strict_json_even_for_a_non_finite_value():
    from pegxl.errors import ErrorCode, finding
    from pegxl.report import render_json

    def refuse(name):
        raise ValueError(f"not JSON: {name}")
    f = finding(ErrorCode.V014, file="x.xlsx", sheet="Obiettivi", cell="K2", column="Grado dichiarato %",
                value=float("inf"))
    doc = json.loads(render_json([f], command="validate"), parse_constant=refuse)
    assert doc["findings"][0]["value"] == "inf"
