"""The documents on the small plan of around_helpers: the values of the year before from the
archive in the schede, and a Relazione from a partial merge (a settore excluded)."""
from __future__ import annotations

import around_helpers as H
from doccheck_docx import all_text, blocks, open_doc, sections, tables
from pegxl import flows


def test_the_schede_show_the_values_of_the_year_before_from_the_archive(tmp_path):
    db = tmp_path / "archivio.sqlite"
    base = tmp_path / "2024"
    _, plan = H.make_plan(base, 2024)
    templates = H.make_templates(plan, base / "modelli")
    H.fill(plan, templates, base / "restituiti")
    flows.merge_cycle(plan, [base / "restituiti"], base / "consolidato", db=db)
    _, plan25 = H.make_plan(tmp_path / "2025", 2025)
    paths = flows.schede(plan25, tmp_path / "doc", db=db)
    schede = sections(blocks(open_doc(paths[0])), "Heading 2")
    rows = {}
    for title, body in schede.items():
        t = next(t for t in tables(body) if "Valore atteso" in t[0])
        for r in t[1:]:
            rows[(title.split(" — ")[0], r[0])] = dict(zip(t[0], r))
    # what settori S01 and S02 achieved in 2024 (around_helpers.ACHIEVED), under the codes of 2025
    assert rows[("2025_S01_01", "1")]["Valore 2024"] == "366"
    assert rows[("2025_S02_01", "1")]["Valore 2024"] == "85,50 %"
    assert rows[("2025_S01_01", "1")]["Valore 2023"] == ""
    # without the archive the column is there, empty
    bare = flows.schede(plan25, tmp_path / "senza", db=None)
    body = sections(blocks(open_doc(bare[0])), "Heading 2")
    t = next(t for title, b in body.items() if title.startswith("2025_S01_01") for t in tables(b)
             if "Valore atteso" in t[0])
    assert t[1][t[0].index("Valore 2024")] == ""


def test_a_relazione_from_a_partial_merge_names_the_excluded_settore(tmp_path):
    _, plan = H.make_plan(tmp_path, 2024)
    templates = H.make_templates(plan, tmp_path / "modelli")
    H.fill(plan, templates, tmp_path / "restituiti", sectors=("S01", "S02"))
    result = flows.merge_cycle(plan, [tmp_path / "restituiti"], tmp_path / "consolidato", db=None, partial=True)
    paths = flows.relazione(plan, result.consolidated, tmp_path / "doc")
    items = blocks(open_doc(paths[0]))
    summary = all_text(sections(items, "Heading 1")["2. Sintesi dei risultati"])
    assert "S03 Servizi sociali: escluso" in summary
    s03 = all_text(sections(items, "Heading 2")["S03 — Servizi sociali"])
    assert "escluso" in s03
    # the objectives of S01 and S02 each have their scheda of results
    objectives = sections(items, "Heading 3")
    assert any(k.startswith("2024_S01_01 — ") for k in objectives)
    assert not any(k.startswith("2024_S03_01 — ") for k in objectives)
