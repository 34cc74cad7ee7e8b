"""`pegxl demo`: the first thing a new user runs goes through the whole cycle."""
from __future__ import annotations

from click.testing import CliRunner
from openpyxl import load_workbook

from merge_plan import header_row

from pegxl.cli import main
from pegxl.values import format_percent


def _sintesi(path):
    ws = load_workbook(path, data_only=True)["Sintesi"]
    first = header_row(ws)   # below the title block
    head = [c.value for c in ws[first]]
    rows = {}
    for r in ws.iter_rows(min_row=first + 1, values_only=True):
        if r[0] is not None:
            rows[r[0]] = dict(zip(head, r))
    return rows


def test_demo_runs_the_whole_cycle(tmp_path):
    d = tmp_path / "demo"
    res = CliRunner().invoke(main, ["demo", str(d)])
    assert res.exit_code == 0, res.output
    assert "Traceback" not in res.output
    for sub, n in (("modelli", 6), ("restituiti", 6)):
        assert len(list((d / sub).glob("*.xlsx"))) == n
    consolidated = d / "consolidato" / "2024_consolidato_OIV.xlsx"
    final = d / "finale" / "2024_consolidato_OIV_finale.xlsx"
    assert consolidated.exists() and final.exists() and (d / "pegxl-archivio.sqlite").exists()
    # every typed value reached the consolidated workbook
    line = next(x for x in res.output.splitlines() if "Riconciliazione" in x)
    typed, reported = [int(w) for w in line.replace(";", " ").split() if w.isdigit()][:2]
    assert typed == reported > 700
    # the figures printed are the ones written, and the OIV's lower grades lower S01 and S05
    before, after = _sintesi(consolidated), _sintesi(final)
    for code in ("S01", "S05"):
        assert after[code]["Percentuale di raggiungimento"] < before[code]["Percentuale di raggiungimento"]
        assert format_percent(_pct(before[code])) in res.output
    assert after["S08"]["Percentuale di raggiungimento"] == before["S08"]["Percentuale di raggiungimento"]
    # and one figure is explained (pegxl spiega): the OIV's 90 replaces the declared grade
    assert "8. Perché 2024_S01_01 (S01) vale 90,00" in res.output
    assert "La Valutazione OIV % (90,00%) sostituisce il grado del settore" in res.output
    # a Monitoraggio intermedio at 30/06 came first: the final templates show its values and
    # the final check says the one phase reported higher in June went back
    assert (d / "monitoraggio" / "consolidato" / "2024_consolidato_OIV.xlsx").exists()
    assert "confronto con il monitoraggio al 30/06/2024: 1 avviso " in res.output
    fasi = load_workbook(next((d / "modelli").glob("2024_S01_*.xlsx")))["Fasi"]
    assert fasi.cell(row=1, column=fasi.max_column).value == "Avanzamento al 30/06"


def _pct(row):
    v = row["Percentuale di raggiungimento"]
    return v * 100 if v <= 1 else v


def test_demo_refuses_a_used_folder_unless_forced(tmp_path):
    d = tmp_path / "demo"
    d.mkdir()
    (d / "mio.txt").write_text("non toccare")
    res = CliRunner().invoke(main, ["demo", str(d)])
    assert res.exit_code == 2 and "U002" in res.output
    assert (d / "mio.txt").read_text() == "non toccare"


def test_demo_force_never_empties_a_folder_it_did_not_create(tmp_path):
    # a real cycle's folder has the same layout (piano.xlsx, modelli, restituiti): --force
    # must not delete the settori's returns nor rewrite the plan
    d = tmp_path / "ciclo-2024"
    (d / "restituiti").mkdir(parents=True)
    (d / "restituiti" / "2024_S01.xlsx").write_bytes(b"il file di un settore")
    (d / "piano.xlsx").write_bytes(b"il piano vero")
    res = CliRunner().invoke(main, ["demo", str(d), "--force"])
    assert res.exit_code == 2 and "U001" in res.output and "pegxl demo" in res.output
    assert (d / "restituiti" / "2024_S01.xlsx").read_bytes() == b"il file di un settore"
    assert (d / "piano.xlsx").read_bytes() == b"il piano vero"


def test_demo_force_regenerates_its_own_folder(tmp_path):
    d = tmp_path / "demo"
    assert CliRunner().invoke(main, ["demo", str(d)]).exit_code == 0
    (d / "restituiti" / "estraneo.xlsx").write_bytes(b"x")
    res = CliRunner().invoke(main, ["demo", str(d), "--force"])
    assert res.exit_code == 0, res.output
    assert not (d / "restituiti" / "estraneo.xlsx").exists() and (d / "piano.xlsx").exists()
