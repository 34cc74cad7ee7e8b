"""The documents (issue 13, points 2-4 and 6): the schede obiettivo of the plan and the
Relazione sulla performance, read back with python-docx. The figures expected are read
from the workbook with openpyxl and rounded with decimal.Decimal, not by pegxl."""
from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import pytest
from docx.shared import Mm

from doccheck_docx import (
    all_text,
    blocks,
    italian,
    italian_pct,
    open_doc,
    sections,
    sheet_rows,
    tables,
)
from pegxl import flows
from pegxl.demo import run_demo
from pegxl.documents.schede import build_schede


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo's cycle, its documents written as .docx (no PDF: tests/test_documents_lo.py)."""
    d = tmp_path_factory.mktemp("demo") / "demo"
    res = run_demo(d, pdf=False)
    return res


def _doc(demo, name):
    path = demo.directory / "documenti" / name
    assert path.exists(), sorted(p.name for p in path.parent.iterdir())
    return open_doc(path)


def _plan(demo):
    return flows.checked_plan(demo.plan_path)


# ------------------------------------------------------------------------ the schede

def _expected_value(v, value_type):
    if isinstance(v, bool):
        return "sì" if v else "no"
    if isinstance(v, (dt.date, dt.datetime)):
        return v.strftime("%d/%m/%Y")
    if isinstance(v, (int, float)):
        if value_type == "percentuale":
            return italian_pct(v)
        if float(v).is_integer():                      # a count: 190, 1.500
            return f"{int(v):,}".replace(",", ".")
        return italian(v)
    return str(v).strip()


def test_the_schede_have_every_objective_with_its_phases_and_targets(demo):
    plan = _plan(demo)
    doc = _doc(demo, "2024_schede_obiettivo.docx")
    schede = sections(blocks(doc), "Heading 2")
    assert len(schede) == len(plan.objectives)          # one scheda per objective, shared ones once
    for o in plan.objectives.to_dict("records"):
        heading = f"{o['objective']} — {o['title']}"
        assert heading in schede, heading
        body = schede[heading]
        text = all_text(body)
        assert o["typology"] in text
        if o["description"]:
            assert o["description"] in text
        phases = plan.phases[plan.phases["objective"] == o["objective"]].to_dict("records")
        indicators = plan.indicators[plan.indicators["objective"] == o["objective"]].to_dict("records")
        found = tables(body)
        phase_rows = {r[0]: r for t in found if t[0][:2] == ["N.", "Descrizione"] and "Inizio previsto" in t[0]
                      for r in t[1:]}
        ind_rows = {r[0]: r for t in found if "Valore atteso" in t[0] for r in t[1:]}
        assert len(phase_rows) == len(phases) and len(ind_rows) == len(indicators), heading
        for p in phases:
            row = phase_rows[str(p["phase"])]
            assert row[1].startswith(p["description"])
            assert row[2] == (p["planned_start"].strftime("%d/%m/%Y") if p["planned_start"] else "")
            assert row[3] == p["planned_end"].strftime("%d/%m/%Y")
            assert row[4] == italian(p["weight"])
        head = next(t[0] for t in found if "Valore atteso" in t[0])
        for i in indicators:
            row = dict(zip(head, ind_rows[str(i["indicator"])]))
            assert row["Descrizione"].startswith(i["description"])
            assert row["Valore atteso"] == _expected_value(i["target_value"], i["value_type"]), (heading, i)
            assert row["Tipo"] == i["kind"]


def test_the_schede_front_page_indexes_settori_and_objectives(demo):
    plan = _plan(demo)
    items = blocks(_doc(demo, "2024_schede_obiettivo.docx"))
    index = all_text(sections(items, "Heading 1")["Indice dei settori e degli obiettivi"])
    front = all_text(items[:12])
    assert plan.ente in front and "2024" in front
    for s in plan.sectors.to_dict("records"):
        assert f"{s['sector']} {s['sector_name']} — Responsabile: {s['manager']}" in index
    for code in plan.objectives["objective"]:
        assert code in index
    # every settore is a Heading 1 with its responsabile
    h1 = [c for k, st, c in items if k == "p" and st == "Heading 1"]
    for s in plan.sectors.to_dict("records"):
        assert f"{s['sector']} {s['sector_name']}" in h1


def test_the_schede_show_missione_programma_names_and_the_previous_years(demo):
    plan = _plan(demo)
    ind = plan.indicators.copy()
    first = ind.index[0]
    ind["previous"] = ind["previous"].astype(object)
    ind.loc[first, "previous"] = 1234.5
    ind["previous_2"] = None
    ind.loc[first, "previous_2"] = 987
    import dataclasses
    doc = build_schede(dataclasses.replace(plan, indicators=ind), None)
    code = ind.loc[first, "objective"]
    o = plan.objectives[plan.objectives["objective"] == code].iloc[0]
    body = sections(blocks(doc), "Heading 2")[f"{code} — {o['title']}"]
    t = next(t for t in tables(body) if "Valore atteso" in t[0])
    row = dict(zip(t[0], t[1]))
    vt = ind.loc[first, "value_type"]
    assert row["Valore 2023"] == _expected_value(1234.5, vt) and row["Valore 2022"] == _expected_value(987, vt)
    assert row["Valore 2023"].startswith("1.234,50")
    kv = {r[0]: r[1] for r in tables(body)[0]}
    assert kv["Missione"] == "12 Diritti sociali, politiche sociali e famiglia"      # 2024_S08_01: 12/01
    assert kv["Programma"] == "01 Interventi per l'infanzia e i minori e per asili nido"
    assert kv["Assessore di riferimento"] == "Visentin"


def test_a_settore_document_has_only_that_settore(demo, tmp_path):
    plan = _plan(demo)
    paths = flows.schede(plan, tmp_path, sectors=["S05"], db=None)
    assert [p.name for p in paths] == ["2024_schede_obiettivo.docx", "2024_schede_obiettivo_S05_polizia-locale.docx"]
    schede = sections(blocks(open_doc(paths[1])), "Heading 2")
    mine = list(plan.objectives_of("S05")["objective"])
    assert sorted(h.split(" — ")[0] for h in schede) == sorted(mine)
    assert "S05 Polizia locale" in open_doc(paths[1]).sections[0].header.paragraphs[0].text


# --------------------------------------------------------------------- Word structure

@pytest.mark.parametrize("name", ["2024_schede_obiettivo.docx", "2024_relazione_performance.docx"])
def test_the_documents_are_real_word_documents(demo, name):
    doc = _doc(demo, name)
    styles = {p.style.name for p in doc.paragraphs}
    assert {"Title", "Heading 1", "Heading 2", "Heading 3"} <= styles
    for section in doc.sections:
        assert abs(section.page_width - Mm(210)) < Mm(1) and abs(section.page_height - Mm(297)) < Mm(1)
        footer = section.footer._element.xml
        assert "Pagina" in section.footer.paragraphs[0].text and " PAGE " in footer and " NUMPAGES " in footer
    ns = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
    tbls = doc.element.body.findall(f"{ns}tbl")
    assert tbls
    headed = [t for t in tbls if t.find(f"{ns}tr/{ns}trPr/{ns}tblHeader") is not None]
    keyvalue = [t for t in tbls if t not in headed]
    # every table with column headers repeats them on every page; the others are key/value
    for t in keyvalue:
        assert len(t.find(f"{ns}tr").findall(f"{ns}tc")) in (2, 4)
    assert len(headed) > len(keyvalue) / 2
    # sizes: never below 8 pt
    sizes = [int(e.get(f"{ns}val")) for e in doc.element.body.iter(f"{ns}sz")]
    assert sizes and min(sizes) >= 16


# ------------------------------------------------------------------------ the relazione

def _relazione(demo):
    return blocks(_doc(demo, "2024_relazione_performance.docx"))


def test_every_figure_of_the_final_workbook_is_in_the_relazione_to_the_cent(demo):
    final = demo.oiv.path
    items = _relazione(demo)
    sectors = sections(items, "Heading 2")
    summary = tables(sections(items, "Heading 1")["2. Sintesi dei risultati"])[0]
    head, rows = summary[0], {r[0]: dict(zip(summary[0], r)) for r in summary[1:]}
    checked = 0
    for s in sheet_rows(final, "Sintesi"):
        row = rows[s["Codice settore"]]
        assert row["Percentuale di raggiungimento"] == italian_pct(s["Percentuale di raggiungimento"])
        assert row["Senza OIV"] == italian_pct(s["Percentuale senza OIV"])
        assert row["N. obiettivi"] == str(s["N. obiettivi"]) and row["N. valutati"] == str(s["N. valutati"])
        assert row["Fascia"] == s["Fascia"]
        checked += 1
        if s["Codice settore"] != "Ente":
            body = all_text(sectors[f"{s['Codice settore']} — {s['Settore']}"])
            assert (f"PERCENTUALE DI RAGGIUNGIMENTO COMPLESSIVA: {italian_pct(s['Percentuale di raggiungimento'])}"
                    f" — fascia {s['Fascia']}") in body
    assert head[-1] == "Senza OIV"
    objectives = {}
    for o in sheet_rows(final, "Obiettivi"):
        section = sectors[next(k for k in sectors if k.startswith(o["Codice settore"] + " — "))]
        obj = sections(section, "Heading 3")[f"{o['Codice obiettivo']} — {o['Titolo']}"]
        kv = {}
        for r in tables(obj)[0]:
            kv[r[0]], kv[r[2]] = r[1], r[3]
        for header in ("Grado calcolato %", "Grado dichiarato %", "Grado %", "Realizzazione fasi %",
                       "Media indicatori %", "Valutazione OIV %"):
            v = o[header]
            assert kv[header] == (italian_pct(v) if isinstance(v, (int, float)) else (v or "")), (o, header)
            checked += 1
        assert kv["Stato"] == o["Stato"]
        # the settore's table: Grado % and the OIV's columns
        listing = {r[1].split("\n")[0]: r for r in tables(section)[0][1:]}
        assert listing[o["Codice obiettivo"]][3] == (italian_pct(o["Grado %"]) if o["Grado %"] is not None else "")
        assert listing[o["Codice obiettivo"]][6] == (o["Note OIV"] or "")
        assert listing[o["Codice obiettivo"]][4] == (o["Motivazione scostamento"] or "")
        if o["Note"]:
            assert f"Nota sul grado: {o['Note']}" in all_text(obj)
        objectives[(o["Codice settore"], o["Codice obiettivo"])] = obj
    for p in sheet_rows(final, "Fasi"):
        obj = objectives[(p["Codice settore"], p["Codice obiettivo"])]
        t = next(t for t in tables(obj) if "Avanzamento %" in t[0])
        row = dict(zip(t[0], next(r for r in t[1:] if r[0] == str(p["N. fase"]))))
        assert row["Avanzamento %"] == (italian_pct(p["Avanzamento %"]) if p["Avanzamento %"] is not None else "")
        assert row["Peso"] == italian(p["Peso"])
        planned = row["Inizio e fine previsti"].split("\n")
        assert planned[1] == p["Fine prevista"].strftime("%d/%m/%Y")
        if p["Fine effettiva"] is not None:
            assert row["Inizio e fine effettivi"].split("\n")[1] == p["Fine effettiva"].strftime("%d/%m/%Y")
        checked += 1
    for i in sheet_rows(final, "Indicatori"):
        obj = objectives[(i["Codice settore"], i["Codice obiettivo"])]
        t = next(t for t in tables(obj) if "Raggiungimento %" in t[0])
        row = dict(zip(t[0], next(r for r in t[1:] if r[0] == str(i["N. indicatore"]))))
        assert row["Raggiungimento %"] == (italian_pct(i["Raggiungimento %"])
                                           if i["Raggiungimento %"] is not None else "")
        if isinstance(i["Valore atteso"], (int, float)):
            assert row["Valore atteso"] == _expected_value(i["Valore atteso"], i["Tipo valore"])
        if isinstance(i["Valore letto"], (int, float)) and i["Tipo valore"] in ("numero", "percentuale"):
            assert row["Valore raggiunto"] == _expected_value(i["Valore letto"], i["Tipo valore"])
        checked += 1
    assert checked > 400


def test_the_relazione_says_the_rules_and_lists_exclusions_anomalies_and_provenance(demo):
    items = _relazione(demo)
    intro = all_text(sections(items, "Heading 1")["1. Introduzione"])
    assert "per il 50 % la realizzazione delle fasi" in intro and "Fascia A" in intro
    assert "da 90,00 % in su" in intro and "da 75,00 % a meno di 90,00 %" in intro
    s01 = all_text(sections(items, "Heading 2")["S01 — Affari generali"])
    assert "2024_S01_06" in s01 and "Rinviato" in s01        # the demo's rinviato, with its reason
    text = all_text(items)
    annex = all_text(sections(items, "Heading 1")["Allegato B — Provenienza dei dati"])
    from openpyxl import load_workbook
    wb = load_workbook(demo.oiv.path, read_only=True)
    prov = list(wb["Provenienza"].iter_rows(values_only=True))
    anomalies = list(wb["Anomalie"].iter_rows(values_only=True))
    wb.close()
    head = list(prov[0])
    for r in prov[1:]:
        row = dict(zip(head, r))
        assert row["Nome file"] in annex
        assert row["SHA-256"][:32] in annex and row["SHA-256"][32:] in annex
    messages = all_text(sections(items, "Heading 1")["Allegato A — Anomalie ancora aperte"])
    for r in anomalies[1:]:
        assert dict(zip(anomalies[0], r))["Messaggio"] in messages
    assert "non ancora validata" not in text.lower()


def test_the_relazione_chart_holds_the_settori_figures(demo):
    path = demo.directory / "documenti" / "2024_relazione_performance.docx"
    with zipfile.ZipFile(path) as z:
        charts = [n for n in z.namelist() if n.startswith("word/charts/")]
        assert charts == ["word/charts/chart1.xml"]
        xml = z.read(charts[0]).decode("utf-8")
        assert "drawingml.chart+xml" in z.read("[Content_Types].xml").decode("utf-8")
    for s in sheet_rows(demo.oiv.path, "Sintesi"):
        assert f"<c:v>{s['Percentuale di raggiungimento']!r}</c:v>" in xml


def test_a_relazione_from_the_consolidated_is_marked_not_validated_on_every_page(demo, tmp_path):
    plan = _plan(demo)
    paths = flows.relazione(plan, demo.merge.consolidated, tmp_path)
    assert [p.name for p in paths] == ["2024_relazione_performance_non_validata.docx"]
    doc = open_doc(paths[0])
    for section in doc.sections:
        assert "NON ANCORA VALIDATA DALL'OIV" in section.header.paragraphs[0].text
        assert not section.different_first_page_header_footer
    assert "non ancora validata dall'OIV" in all_text(blocks(doc)[:20]).replace("NON ANCORA VALIDATA DALL'OIV",
                                                                              "non ancora validata dall'OIV")
    # the figures are the consolidated's (before the OIV)
    summary = tables(sections(blocks(doc), "Heading 1")["2. Sintesi dei risultati"])[0]
    rows = {r[0]: r for r in summary[1:]}
    for s in sheet_rows(demo.merge.consolidated, "Sintesi"):
        assert rows[s["Codice settore"]][5] == italian_pct(s["Percentuale di raggiungimento"])


# --------------------------------------------------------------------------- the CLI

def test_cli_schede_writes_refuses_to_overwrite_and_forces(demo, run, tmp_path):
    out = tmp_path / "doc"
    res = run("schede", demo.plan_path, "-o", out, "--settore", "S08")
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == ["2024_schede_obiettivo.docx",
                                                     "2024_schede_obiettivo_S08_welfare-e-politiche-abitative.docx"]
    before = (out / "2024_schede_obiettivo.docx").read_bytes()
    res = run("schede", demo.plan_path, "-o", out)
    assert res.exit_code == 2 and "U002" in res.output
    assert (out / "2024_schede_obiettivo.docx").read_bytes() == before
    res = run("schede", demo.plan_path, "-o", out, "--force")
    assert res.exit_code == 0, res.output
    assert [n for n in (p.name for p in out.iterdir()) if n.startswith(".")] == []   # no temporary left


def test_cli_schede_refuses_an_unknown_settore_before_writing(demo, run, tmp_path):
    res = run("schede", demo.plan_path, "-o", tmp_path / "doc", "--settore", "S99")
    assert res.exit_code == 2 and "D004" in res.output and "S99" in res.output
    assert not (tmp_path / "doc").exists()


def test_cli_relazione_final_and_consolidated(demo, run, tmp_path):
    res = run("relazione", "--plan", demo.plan_path, demo.oiv.path, "-o", tmp_path)
    assert res.exit_code == 0, res.output
    assert (tmp_path / "2024_relazione_performance.docx").exists()
    res = run("relazione", "--plan", demo.plan_path, demo.merge.consolidated, "-o", tmp_path)
    assert res.exit_code == 0, res.output
    assert (tmp_path / "2024_relazione_performance_non_validata.docx").exists()
    assert "non ancora validato dall'OIV" in res.output


def test_cli_relazione_refuses_a_file_that_is_not_a_consolidated(demo, run, tmp_path):
    res = run("relazione", "--plan", demo.plan_path, demo.plan_path, "-o", tmp_path)
    assert res.exit_code == 2 and "D003" in res.output and "_pegxl" in res.output
    assert list(tmp_path.iterdir()) == []


def test_cli_pdf_without_libreoffice_stops_before_writing_with_the_install_hint(demo, run, tmp_path, monkeypatch):
    monkeypatch.setenv("PEGXL_SOFFICE", str(tmp_path / "nessun-soffice"))
    res = run("relazione", "--plan", demo.plan_path, demo.oiv.path, "-o", tmp_path / "doc", "--pdf")
    assert res.exit_code == 2 and "D001" in res.output
    assert "LibreOffice" in res.output and "PEGXL_SOFFICE" in res.output
    assert not (tmp_path / "doc").exists()


def test_the_demo_ends_with_both_documents(demo):
    names = [p.name for p in demo.documents]
    assert names[:2] == ["2024_schede_obiettivo.docx", "2024_relazione_performance.docx"]
    assert all(Path(p).exists() for p in demo.documents)


def test_the_readme_shows_a_page_of_each_document_made_by_the_script():
    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text(encoding="utf-8")
    script = (root / "scripts" / "doc-previews.sh").read_text(encoding="utf-8")
    for name in ("schede", "relazione"):
        assert f"(docs/img/{name}.png)" in readme
        assert (root / "docs" / "img" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"docs/img/{name}.png" in script
    assert "pdftoppm" in script and "scripts/doc-previews.sh" in readme


def test_the_demo_keeps_its_docx_when_libreoffice_cannot_convert(tmp_path, monkeypatch):
    # a LibreOffice that fails (no Writer, say): the demo ends with the .docx and says why
    fake = tmp_path / "soffice"
    fake.write_text("#!/bin/sh\necho 'Error: no export filter' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PEGXL_SOFFICE", str(fake))
    lines = []
    res = run_demo(tmp_path / "demo", say=lines.append)
    assert [p.suffix for p in res.documents] == [".docx", ".docx"]
    assert any("PDF non creati" in x and "D002" not in x and "no export filter" in x for x in lines), lines[-3:]


def test_a_typed_number_keeps_its_decimals_and_a_count_has_none():
    from pegxl.documents.word import value
    assert value(190.0, "numero") == "190"
    assert value(1500, "numero") == "1.500"
    assert value(78622.2, "numero") == "78.622,20"
    assert value(3.125, "numero") == "3,125"
    assert value(45.5, "percentuale") == "45,50\u00a0%"
