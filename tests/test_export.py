"""`pegxl export`: long tables for BI tools, CSV (UTF-8 with BOM, ';' and '.') or Parquet."""
from __future__ import annotations

import csv
import io
import math

import pandas as pd
import pytest
from click.testing import CliRunner

import around_helpers as H

from pegxl import archive as A
from lo_helper import lo_inspect, requires_lo
from pegxl.export import csv_line, export_tables


@pytest.fixture(scope="module")
def archived(tmp_path_factory):
    base = tmp_path_factory.mktemp("export")
    plan_path, plan, templates, returns, result = H.cycle(base)
    db = base / A.DEFAULT_DB_NAME
    stored = A.store_cycle(db, plan, result)
    return base, plan_path, plan, result, db, stored


def read_csv(path) -> list[list[str]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")                        # BOM: Excel reads the accents right
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline=""), delimiter=";"))


def test_plan_tables_without_archive(archived, tmp_path):
    base, plan_path, plan, result, db, stored = archived
    paths = export_tables(plan, tmp_path / "bi")
    assert [p.name for p in paths] == ["settori.csv", "obiettivi.csv", "fasi.csv", "indicatori.csv"]
    settori = read_csv(tmp_path / "bi" / "settori.csv")
    assert settori[0] == ["Ente", "Anno", "Fase del ciclo", "Codice settore", "Settore", "Responsabile",
                          "Email", "Peso"]
    assert settori[1][:6] == ["Comune di Prova", "2024", "Rendicontazione finale", "S01", "Affari generali",
                              "Anna Rossi"]
    obiettivi = pd.read_csv(tmp_path / "bi" / "obiettivi.csv", encoding="utf-8-sig", sep=";", decimal=",")
    assert len(obiettivi) == 6                                      # the trasversale once per settore
    assert set(obiettivi.loc[obiettivi["Codice obiettivo"] == "PTPCT", "Codice settore"]) == {"S01", "S02", "S03"}
    fasi = pd.read_csv(tmp_path / "bi" / "fasi.csv", encoding="utf-8-sig", sep=";", decimal=",")
    assert list(fasi["Fine prevista"])[0] == "2024-02-29"          # ISO dates
    ind = pd.read_csv(tmp_path / "bi" / "indicatori.csv", encoding="utf-8-sig", sep=";", decimal=",")
    assert ind["Valore atteso"].tolist()[0] == "300"


def test_scores_from_the_archive(archived, tmp_path):
    base, plan_path, plan, result, db, stored = archived
    paths = export_tables(plan, tmp_path / "bi", db=db)
    assert paths[-1].name == "punteggi.csv"
    df = pd.read_csv(paths[-1], encoding="utf-8-sig", sep=";", decimal=",")
    assert set(df["Livello"]) == {"ente", "settore", "obiettivo", "fase", "indicatore"}
    ente = df[df["Livello"] == "ente"].iloc[0]
    assert ente["Percentuale"] == pytest.approx(result.scores.ente["percentage"], rel=1e-12)
    assert ente["Ciclo"] == stored.id and ente["Tipo ciclo"] == "merge"
    obj = df[(df["Livello"] == "obiettivo") & (df["Codice settore"] == "S01")
             & (df["Codice obiettivo"] == "2024_S01_01")].iloc[0]
    assert obj["Percentuale"] == pytest.approx(94.0)
    text = paths[-1].read_text(encoding="utf-8-sig")
    assert "98,16666666666667" in text                              # ',' decimal, full precision
    ind = df[df["Livello"] == "indicatore"]
    assert len(ind) == len(result.scores.indicators)
    # another plan year: nothing archived, no punteggi
    other = export_tables(H.load(plan_path), tmp_path / "bi2", db=tmp_path / "manca.sqlite")
    assert "punteggi.csv" not in [p.name for p in other]


def test_formula_like_text_is_neutralised(tmp_path):
    """Issue 10: quotes alone do not stop a spreadsheet from running =HYPERLINK(...): text that
    starts with = + - @ gets an apostrophe in front (OWASP), numbers stay numbers."""
    data = H.plan_data()
    data["Obiettivi"][0]["Titolo"] = '=HYPERLINK("http://x","y")'
    data["Obiettivi"][1]["Titolo"] = "-10% di tempi"
    data["Obiettivi"][2]["Titolo"] = "+ servizi, meno carta"
    data["Settori"][0]["Responsabile"] = "@rossi"
    plan_path, plan = H.make_plan(tmp_path, data=data)
    export_tables(plan, tmp_path / "bi")
    text = (tmp_path / "bi" / "obiettivi.csv").read_text(encoding="utf-8-sig")
    assert '"\'=HYPERLINK(""http://x"",""y"")"' in text
    assert ';"\'-10% di tempi";' in text
    assert ';"\'+ servizi, meno carta";' in text
    assert ';"\'@rossi";' in (tmp_path / "bi" / "settori.csv").read_text(encoding="utf-8-sig")
    rows = read_csv(tmp_path / "bi" / "obiettivi.csv")
    assert rows[1][5] == '\'=HYPERLINK("http://x","y")'      # a CSV reader gets the neutralised text
    # numbers are never quoted nor prefixed, negative ones included
    assert csv_line([-5, -2.5, "-x", None, True, 3.0]) == '-5;-2,5;"\'-x";;sì;3\r\n'


def test_parquet_keeps_types(archived, tmp_path):
    pytest.importorskip("pyarrow")
    base, plan_path, plan, result, db, stored = archived
    paths = export_tables(plan, tmp_path / "pq", fmt="parquet", db=db)
    assert sorted(p.name for p in paths) == ["fasi.parquet", "indicatori.parquet", "obiettivi.parquet",
                                             "punteggi.parquet", "settori.parquet"]
    scores = pd.read_parquet(tmp_path / "pq" / "punteggi.parquet")
    assert scores["Percentuale"].dtype.kind == "f"
    assert scores["Anno"].dtype.kind in "if"
    ente = scores[scores["Livello"] == "ente"].iloc[0]
    assert math.isclose(ente["Percentuale"], result.scores.ente["percentage"])
    fasi = pd.read_parquet(tmp_path / "pq" / "fasi.parquet")
    import datetime as dt
    assert fasi["Fine prevista"].iloc[0] in (dt.date(2024, 2, 29), pd.Timestamp(2024, 2, 29))
    ind = pd.read_parquet(tmp_path / "pq" / "indicatori.parquet")
    assert len(ind) == len(plan.indicators)


def test_export_cli(archived, cli, tmp_path):
    base, plan_path, plan, result, db, stored = archived
    runner = CliRunner()
    res = runner.invoke(cli, ["export", "--plan", str(plan_path), "--format", "csv", "-o", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "o" / "punteggi.csv").exists()               # the archive beside the plan
    res = runner.invoke(cli, ["export", "--plan", str(plan_path), "-o", str(tmp_path / "o2"),
                              "--db", str(tmp_path / "nessuno.sqlite")])
    assert res.exit_code == 0 and "punteggi non esportati" in res.output


@requires_lo
def test_italian_libreoffice_reads_the_scores_as_numbers(archived, tmp_path):
    """The CSV as Italian Excel/LibreOffice opens it: ";" columns, "," decimals, so a
    percentage such as 66,67 is a number to the last digit, not a text or a date."""
    base, plan_path, plan, result, db, stored = archived
    path = export_tables(plan, tmp_path / "bi", db=db)[-1]
    df = pd.read_csv(path, encoding="utf-8-sig", sep=";", decimal=",")
    row = next(i for i, v in enumerate(df["Percentuale"]) if isinstance(v, float) and not float(v).is_integer())
    col = list(df.columns).index("Percentuale")
    ref = f"punteggi!{chr(ord('A') + col)}{row + 2}"
    cells = lo_inspect(path, [ref], sheets=False)["by_ref"]
    assert cells[ref]["type"] == "VALUE", cells[ref]
    assert cells[ref]["value"] == pytest.approx(float(df["Percentuale"][row]), rel=1e-12)
