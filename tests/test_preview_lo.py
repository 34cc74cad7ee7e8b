"""The template's live preview equals what `pegxl merge` computes, however a value is typed.

Real LibreOffice types every input form (a number, 45% in a General cell, Italian text
numbers, dates as text, sì/no words, TRUE/1/0) into every input kind of the demo's
templates, saves them as .xlsx (one also as .ods) and pegxl merges the saved files: the
cached Grado calcolato % of every objective, Raggiungimento % of every indicator and the
Riepilogo (Grado % per objective, Totale settore) equal merge's figures to the cent.
A value the formulas cannot read the way pegxl does shows «da verificare» instead.
"""
from __future__ import annotations

import datetime as dt
import math
import zipfile
import xml.etree.ElementTree as ET
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import openpyxl
import pytest

from lo_helper import requires_lo, run_job
from pegxl.demo import demo_data
from pegxl.merge import merge
from pegxl.validators.plan import read_plan
from pegxl.templates import generate_templates, template_name
from pegxl.templates.formulas import MARK
from pegxl.workbook.contract import TOTAL_LABEL
from pegxl.validators.returns import validate_returns
from pegxl.values import parse_date, parse_typed
from pegxl.workbook import contract as C
from pegxl.workbook.planfile import write_plan

pytestmark = requires_lo

XLSX, ODS = "Calc MS Excel 2007 XML", "calc8"


# ------------------------------------------------------------------ typing forms

def _en(v: float) -> str:
    """A number as LibreOffice's (en-US) keyboard takes it."""
    return format(float(v), ".10f").rstrip("0").rstrip(".")


def _it(v: float) -> str:
    return _en(v).replace(".", ",")


def _it_thousands(v: float) -> str:
    """78622.2 -> "78.622,20"."""
    neg, v = v < 0, abs(v)
    whole, _, dec = f"{v:.2f}".partition(".")
    groups = []
    while whole:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    return ("-" if neg else "") + ".".join(groups) + "," + dec


def percent_forms(v: float) -> list[dict]:
    """A 0-100 figure typed as: a number, 45% (0.45 in a percent cell), "45,5", "45,5%", " 45,5 % "."""
    pct = {"formula": _en(v) + "%", "number_format": "0%" if float(v).is_integer() else "0.00%"}
    return [{"formula": _en(v)}, pct, {"string": _it(v)}, {"string": _it(v) + "%"},
            {"string": f" {_it(v)} % "}]


def number_forms(v: float) -> list[dict]:
    """A numero typed as: a number, "78.622,20", "1500,5 €", "64,52%", 95% in a percent cell (0.95)."""
    forms = [{"formula": _en(v)}, {"string": _it_thousands(v)}, {"string": _it(v) + " €"},
             {"string": _it(v) + "%"}]
    hundred = round(v * 100, 6)
    if hundred / 100 == v:
        forms.append({"formula": _en(hundred) + "%", "number_format": "0.00%"})
    return forms


def date_forms(d: dt.date) -> list[dict]:
    return [{"date": d.isoformat()}, {"string": d.strftime("%d/%m/%Y")}, {"string": d.strftime("%d.%m.%Y")},
            {"string": f"{d.day}-{d.month}-{d:%y}"}]


YES_FORMS = [{"string": "sì"}, {"string": "SI"}, {"string": "Fatto"}, {"string": "x"}, {"string": "si'"},
             {"value": 1}, {"string": " Realizzato. "}, {"formula": "TRUE"}]
NO_FORMS = [{"string": "no"}, {"string": "NO"}, {"string": "non fatto"}, {"string": "No."}, {"value": 0}]
# the demo has few «no»: the answers alternate, every word form is typed at least once
BOOL_FORMS = [f for pair in zip(YES_FORMS, NO_FORMS + NO_FORMS[:3]) for f in pair]


class Forms:
    """Cycles through the forms of each input kind, so every form reaches every kind."""

    def __init__(self):
        self.n: dict[str, int] = {}

    def pick(self, kind: str, forms: list[dict]) -> dict:
        i = self.n.get(kind, 0)
        self.n[kind] = i + 1
        return dict(forms[i % len(forms)])


# ------------------------------------------------------------------ templates

def _rows(ws, keys: tuple[str, ...]) -> tuple[dict, dict]:
    head = {c.value: c.column_letter for c in ws[1] if c.value}
    cols = [head[k] for k in keys]
    rows = {}
    for r in range(2, ws.max_row + 1):
        key = tuple(ws[f"{c}{r}"].value for c in cols)
        if key[0] is not None:
            rows[key] = r
    return head, rows


def _edits(template: Path, returns: dict, plan, forms: Forms) -> list[dict]:
    """Every input value of a settore's demo return, each typed in the next form of its kind."""
    wb = openpyxl.load_workbook(template)
    vt = {(i.objective, i.indicator): i.value_type for i in plan.indicators.itertuples()}
    edits: list[dict] = []

    def put(sheet, cell, form):
        edits.append({"sheet": sheet, "cell": cell, **form})

    ho, ro = _rows(wb[C.SHEET_OBJECTIVES], ("Codice obiettivo",))
    for k, rec in enumerate(returns.get("Obiettivi", [])):
        r = ro[(rec["Codice obiettivo"],)]
        status = rec.get("Stato")
        if status:
            put(C.SHEET_OBJECTIVES, f"{ho['Stato']}{r}", {"string": status.lower() if k % 2 else status})
        for h in ("Relazione", "Motivazione scostamento"):
            if rec.get(h):
                put(C.SHEET_OBJECTIVES, f"{ho[h]}{r}", {"string": rec[h]})
        declared = rec.get("Grado dichiarato %")
        if declared is None and k % 3 == 0:
            declared = 87.5 if k % 2 else 90   # a declared grade in some objectives, to type it too
        if declared is not None:
            put(C.SHEET_OBJECTIVES, f"{ho['Grado dichiarato %']}{r}",
                forms.pick("declared", percent_forms(float(declared))))
    hf, rf = _rows(wb[C.SHEET_PHASES], ("Codice obiettivo", "N. fase"))
    for rec in returns.get("Fasi", []):
        r = rf[(rec["Codice obiettivo"], rec["N. fase"])]
        if rec.get("Avanzamento %") is not None:
            v = parse_typed(rec["Avanzamento %"], "percentuale").value
            put(C.SHEET_PHASES, f"{hf['Avanzamento %']}{r}", forms.pick("progress", percent_forms(v)))
        for h in ("Inizio effettivo", "Fine effettiva"):
            if rec.get(h):
                put(C.SHEET_PHASES, f"{hf[h]}{r}", forms.pick("phase_date", date_forms(parse_date(rec[h]).value)))
    hi, ri = _rows(wb[C.SHEET_INDICATORS], ("Codice obiettivo", "N. indicatore"))
    for rec in returns.get("Indicatori", []):
        key = (rec["Codice obiettivo"], rec["N. indicatore"])
        raw = rec.get("Valore raggiunto")
        if raw is None:
            continue
        kind = vt[key]
        cell = f"{hi['Valore raggiunto']}{ri[key]}"
        v = parse_typed(raw, kind).value
        if kind == "percentuale":
            form = forms.pick(kind, percent_forms(v))
        elif kind == "numero":
            form = forms.pick(kind, number_forms(v))
        elif kind == "data":
            form = forms.pick(kind, date_forms(v))
        elif kind == "sì/no":
            form = forms.pick(kind, BOOL_FORMS)
        else:
            form = {"string": str(raw)}
        put(C.SHEET_INDICATORS, cell, form)
    return edits


# ------------------------------------------------------------------ reading results

def _cached_xlsx(path: Path) -> dict:
    """The preview as saved: Grado calcolato % per objective, Raggiungimento % per
    indicator, Grado % per objective and Totale settore on Riepilogo."""
    wb = openpyxl.load_workbook(path, data_only=True)
    return _preview({name: [list(r) for r in wb[name].iter_rows(values_only=True)]
                     for name in (C.SHEET_OBJECTIVES, C.SHEET_INDICATORS, C.SHEET_SUMMARY)})


def _cached_ods(path: Path) -> dict:
    """The same from an .ods: office:value of numbers, the text of the rest."""
    ns = {"table": "urn:oasis:names:tc:opendocument:xmlns:table:1.0",
          "office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
          "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0"}
    t, o = "{%s}" % ns["table"], "{%s}" % ns["office"]
    root = ET.fromstring(zipfile.ZipFile(path).read("content.xml"))
    sheets = {}
    for table in root.iter(t + "table"):
        name = table.get(t + "name")
        if name not in (C.SHEET_OBJECTIVES, C.SHEET_INDICATORS, C.SHEET_SUMMARY):
            continue
        rows = []
        for row in table.iter(t + "table-row"):
            cells = []
            for c in row:
                if c.tag not in (t + "table-cell", t + "covered-table-cell"):
                    continue
                rep = min(int(c.get(t + "number-columns-repeated", "1")), 64)
                vtype = c.get(o + "value-type")
                if vtype in ("float", "percentage"):
                    v = float(c.get(o + "value"))
                elif vtype == "string":
                    v = "".join(c.itertext())
                else:
                    v = None
                cells += [v] * rep
            rep = min(int(row.get(t + "number-rows-repeated", "1")), 4)
            rows += [cells] * rep
            if len(rows) > 2000:
                break
        sheets[name] = rows
    return _preview(sheets)


def _preview(sheets: dict[str, list[list]]) -> dict:
    def table(rows):
        head = {h: i for i, h in enumerate(rows[0]) if h}
        return head, [r + [None] * (len(head) + 12 - len(r)) for r in rows[1:] if r and r[0] is not None]

    ho, ro = table(sheets[C.SHEET_OBJECTIVES])
    hi, ri = table(sheets[C.SHEET_INDICATORS])
    summary = sheets[C.SHEET_SUMMARY]
    grade, total = {}, None
    for r in summary[1:]:
        if not r or r[0] is None:
            continue
        if r[0] == TOTAL_LABEL:
            total = r[9]
            break
        grade[r[0]] = r[9]
    return {"computed": {r[0]: r[ho["Grado calcolato %"]] for r in ro},
            "score": {(r[0], int(r[1])): r[hi["Raggiungimento %"]] for r in ri},
            "grade": grade, "total": total}


def cents(x):
    """A figure as Excel and LibreOffice show it with 2 decimals: the double taken to 15
    significant digits (so 66.66499999999999 is 66.665), then rounded half-up; blank/NaN
    is None; text stays text."""
    if x is None or x == "" or (isinstance(x, float) and math.isnan(x)):
        return None
    if isinstance(x, str):
        return x
    return float(Decimal(format(float(x), ".15g")).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _expected(scores, sector: str) -> dict:
    o = scores.objectives[scores.objectives["sector"] == sector]
    i = scores.indicators[scores.indicators["sector"] == sector]
    s = scores.sectors[scores.sectors["sector"] == sector].iloc[0]
    return {"computed": {r.objective: cents(r.computed) for r in o.itertuples()},
            "score": {(r.objective, int(r.indicator)): cents(r.score) if r.status == "calcolato" else None
                      for r in i.itertuples()},
            "grade": {r.objective: cents(r.grade) if r.counted or r.status not in C.STATI_ESCLUSI else None
                      for r in o.itertuples()},
            "total": cents(s["percentage"])}


def _shown(preview: dict) -> dict:
    return {"computed": {k: cents(v) for k, v in preview["computed"].items()},
            "score": {k: cents(v) for k, v in preview["score"].items()},
            "grade": {k: cents(v) for k, v in preview["grade"].items()},
            "total": cents(preview["total"])}


# ------------------------------------------------------------------ the test

@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    base = tmp_path_factory.mktemp("preview")
    plan_data, returns = demo_data()
    write_plan(base / "piano.xlsx", plan_data)
    plan = read_plan(base / "piano.xlsx")
    generate_templates(plan, base / "modelli")
    return base, plan, returns


def _lo_batch(jobs: list[dict]) -> list[dict]:
    """Several documents in one LibreOffice run (driver's "more")."""
    first, rest = jobs[0], jobs[1:]
    res = run_job({**first, "more": rest}, timeout=600)
    return [res] + res.get("more", [])


def test_every_typed_form_previews_what_merge_computes(demo, tmp_path):
    base, plan, returns = demo
    forms = Forms()
    jobs, saved = [], {}
    for sector in plan.sector_codes:
        if sector not in returns:
            continue
        template = base / "modelli" / template_name(plan, sector)
        out = tmp_path / "restituiti" / template_name(plan, sector)
        save = [{"path": str(out), "filter": XLSX}]
        if not saved:   # the first settore also as .ods, into its own folder
            save.append({"path": str(tmp_path / "ods" / out.with_suffix(".ods").name), "filter": ODS})
        jobs.append({"open": str(template), "edits": _edits(template, returns[sector], plan, forms),
                     "save": save})
        saved[sector] = out
    _lo_batch(jobs)
    # every form reached every kind
    assert forms.n["progress"] >= 5 and forms.n["declared"] >= 5 and forms.n["percentuale"] >= 5
    assert forms.n["numero"] >= 5 and forms.n["data"] >= 4 and forms.n["sì/no"] >= len(BOOL_FORMS)

    v = validate_returns(plan, [tmp_path / "restituiti"])
    assert not [f for f in v.findings if f.is_error], [f.message for f in v.findings if f.is_error][:5]
    codes = {f.code for f in v.findings}
    assert {"V007", "V015", "V018"} <= codes          # read as meant, never in silence
    result = merge(plan, [tmp_path / "restituiti"], tmp_path / "consolidato")
    scores = result.scores
    # 45% typed meant 45: what pegxl read is what the demo settore meant
    ph = scores.phases.set_index(["sector", "objective", "phase"])
    for sector in saved:
        for rec in returns[sector]["Fasi"]:
            if rec.get("Avanzamento %") is not None:
                meant = parse_typed(rec["Avanzamento %"], "percentuale").value
                assert ph.loc[(sector, rec["Codice obiettivo"], rec["N. fase"]), "progress"] == pytest.approx(meant)
    compared = 0
    for sector, path in saved.items():
        shown, expected = _shown(_cached_xlsx(path)), _expected(scores, sector)
        for what in ("computed", "score", "grade"):
            for key, exp in expected[what].items():
                assert shown[what].get(key) == exp, (sector, what, key, shown[what].get(key), exp)
                compared += 1
        assert shown["total"] == expected["total"] is not None, (sector, shown["total"], expected["total"])
        compared += 1
    assert compared > 200

    # the .ods of the first settore: same preview, and pegxl merges it to the same figures
    first = next(iter(saved))
    ods = tmp_path / "ods" / saved[first].with_suffix(".ods").name
    assert _shown(_cached_ods(ods)) == _shown(_cached_xlsx(saved[first]))
    from_ods = merge(plan, [ods], tmp_path / "consolidato-ods", partial=True).scores
    assert _expected(from_ods, first) == _expected(scores, first)


def test_a_value_the_formulas_cannot_read_shows_da_verificare(demo, tmp_path):
    """Text pegxl reads but the formulas do not ("1e1", "31 dicembre 2024", "si!!"): the grade,
    the Riepilogo and the Totale settore say «da verificare», never another number.
    A value nobody can read ("tanto") is «da verificare» in the preview and an error in pegxl."""
    base, plan, returns = demo
    sector = "S08"
    template = base / "modelli" / template_name(plan, sector)
    wb = openpyxl.load_workbook(template)
    hf, rf = _rows(wb[C.SHEET_PHASES], ("Codice obiettivo", "N. fase"))
    hi, ri = _rows(wb[C.SHEET_INDICATORS], ("Codice obiettivo", "N. indicatore"))
    edits = _edits(template, returns[sector], plan, Forms())
    ho, ro = _rows(wb[C.SHEET_OBJECTIVES], ("Codice obiettivo",))
    # a declared grade is the objective's Grado % in pegxl and in the preview: use the others
    declared = {o for (o,), r in ro.items()
                if any(e["cell"] == f"{ho['Grado dichiarato %']}{r}" for e in edits)}
    vt = {(i.objective, i.indicator): i.value_type for i in plan.indicators.itertuples()}
    odd = {}
    for (o, _n), r in rf.items():           # one Avanzamento % as "1e1" text (pegxl: 10)
        if o not in declared:
            odd.setdefault("progress", (o, f"{hf['Avanzamento %']}{r}", "1e1"))
    for (o, n), r in ri.items():
        if o in declared:
            continue
        kind = vt[(o, n)]
        cell = f"{hi['Valore raggiunto']}{r}"
        if kind == "data":
            odd.setdefault("data", (o, cell, "31 dicembre 2024"))
        elif kind == "sì/no":
            odd.setdefault("sì/no", (o, cell, "si!!"))
    assert set(odd) == {"progress", "data", "sì/no"}
    readable = tmp_path / "ok" / template.name
    unreadable = tmp_path / "bad" / template.name
    typed = [{"sheet": C.SHEET_PHASES if k == "progress" else C.SHEET_INDICATORS, "cell": cell, "string": text}
             for k, (o, cell, text) in odd.items()]
    marked = {o for o, _, _ in odd.values()}
    first_obj, cell, _ = odd["progress"]
    _lo_batch([{"open": str(template), "edits": edits + typed, "save": [{"path": str(readable), "filter": XLSX}]},
               {"open": str(template), "edits": edits + [{"sheet": C.SHEET_PHASES, "cell": cell, "string": "tanto"}],
                "save": [{"path": str(unreadable), "filter": XLSX}]}])

    shown = _cached_xlsx(readable)
    for o in marked:
        assert shown["computed"][o] == MARK, o
    assert shown["total"] == MARK
    for o in marked:
        assert shown["grade"][o] == MARK, o
    # pegxl reads every one of them (with a warning) and computes a number
    v = validate_returns(plan, [readable.parent])
    assert not [f for f in v.findings if f.is_error]
    scores = merge(plan, [readable.parent], tmp_path / "c").scores
    o = scores.objectives.set_index("objective")
    for obj in marked:
        assert not math.isnan(o.loc[obj, "computed"])
    assert scores.sectors.iloc[0]["percentage"] > 0

    bad = _cached_xlsx(unreadable)
    assert bad["computed"][first_obj] == MARK and bad["total"] == MARK
    v = validate_returns(plan, [unreadable.parent])
    assert [f.code for f in v.findings if f.is_error] == ["V014"]


# ------------------------------------------------------------------ reading, cell by cell

NUMBER_TEXTS = ["45", "45,5", "45,5%", " 45,5 % ", "78.622,20", "1.500", "-1.500", "1.500.000,25",
                "3.000.000.000.000,5", ",5", "-3,5", "+3,5", "007,5", "€ 1.500", "1.500 €", "12 345",
                "45 % €", "64,52%", "12.5", "0.125", ".5", "-12.5%", "01.500", "1.50",
                # readable by pegxl only, or by nobody: «da verificare», never another number
                "12.", "1e3", "1,234.56", "5%%", "12,", "1.2345,6", "01.500", "1.500,",
                "45%€", "abc", "-", "%", "1,2,3", "1..500", ".5", "1.50.000", "--5", "$5", "5$", "1'500"]
DATE_TEXTS = ["31/12/2024", "1/2/2024", "31.12.2024", "31-12-24", "05/03/24", " 31/12/2024 ",
              "2024-12-31", "2024-1-5",
              "2024/12/31", "2024-12/31", "2024-12-31 00:00", "2024-02-30", "31/02/2024", "00/12/2024", "31 dicembre 2024", "1/1/2101", "32/1/2024",
              "12/31/2024", "a/b/c", "31/12/0999", "1/1/1900", "31//2024", "3/4/5/2024"]
BOOL_TEXTS = ["sì", "si", "SÌ", "sí", "Si'", "x", "X", " fatto ", "Fatto.", "non  fatto", "NO!", "si!!",
              "?", "*", "s*", "n?", "vero", "ok", "1", "0", "2", "forse", "Realizzato", "non raggiunto"]
MUST_READ = {"number": NUMBER_TEXTS[:24], "date": DATE_TEXTS[:8], "bool": BOOL_TEXTS[:11]}


def test_formulas_read_every_text_as_pegxl_or_say_da_verificare(tmp_path):
    """reading_steps against values.parse_*: for each text, typed number and percent cell,
    the formulas give pegxl's value or «da verificare», never a different value."""
    from pegxl.templates.formulas import L_NO, L_YES, reading_steps
    from pegxl.workbook.contract import SHEET_READINGS
    from pegxl.values import NO_WORDS, YES_WORDS
    from pegxl.workbook import style as S

    cases: list[tuple[str, dict]] = []
    for kind in ("number", "percent"):
        cases += [(kind, {"string": t}) for t in NUMBER_TEXTS]
        cases += [(kind, {"formula": f}) for f in ("45", "0.45", "1234.5", "-2", "TRUE")]
        cases += [(kind, {"formula": f, "number_format": nf}) for f, nf in
                  (("45%", "0%"), ("45.5%", "0.00%"), ("150%", "0%"), ("0.5%", "0.00%"))]
        cases += [(kind, {"clear": True})]
    cases += [("date", {"string": t}) for t in DATE_TEXTS]
    cases += [("date", {"date": "2024-12-31"}), ("date", {"formula": "45657"}), ("date", {"formula": "45657.75"}),
              ("date", {"formula": "-3"}), ("date", {"clear": True})]
    cases += [("bool", {"string": t}) for t in BOOL_TEXTS]
    cases += [("bool", {"formula": f}) for f in ("1", "0", "2", "TRUE", "FALSE")]
    wb = openpyxl.Workbook()
    ws_in = wb.active
    ws_in.title = "Dati"
    ws_r = wb.create_sheet(SHEET_READINGS)
    for r, (kind, _) in enumerate(cases, start=1):
        for c, f in enumerate(reading_steps(kind, f"Dati!A{r}", r, 2), start=2):
            if f:
                ws_r.cell(row=r, column=c, value=f)
    S.add_list(wb, L_YES, sorted(YES_WORDS | {"sì", "si", "sí"}))
    S.add_list(wb, L_NO, sorted(NO_WORDS))
    src, out = tmp_path / "casi.xlsx", tmp_path / "letti.xlsx"
    wb.save(src)
    _lo_batch([{"open": str(src), "save": [{"path": str(out), "filter": XLSX}],
                "edits": [{"sheet": "Dati", "cell": f"A{r}", **e} for r, (_, e) in enumerate(cases, start=1)]}])

    typed = openpyxl.load_workbook(out)["Dati"]
    read = openpyxl.load_workbook(out, data_only=True)[SHEET_READINGS]
    reading_col = 2 + 9
    counted = {"same": 0, "mark": 0}
    for r, (kind, edit) in enumerate(cases, start=1):
        cell = typed.cell(row=r, column=1)
        raw = cell.value
        got = read.cell(row=r, column=reading_col).value
        pct = "%" in (cell.number_format or "")
        vt = {"number": "numero", "percent": "percentuale", "date": "data", "bool": "sì/no"}[kind]
        p = parse_typed(raw, vt, percent_format=pct)
        label = (kind, edit, raw, got, p)
        if got == MARK:
            counted["mark"] += 1
            assert not (kind in MUST_READ and edit.get("string") in MUST_READ[kind]), label
            continue
        counted["same"] += 1
        assert p.ok, label
        if p.blank:
            assert got in (None, ""), label
        elif kind == "date":
            # LibreOffice gives a DATE() result a date format: openpyxl then reads a datetime
            day = got.date() if isinstance(got, dt.datetime) else dt.date(1899, 12, 30) + dt.timedelta(days=int(got))
            assert day == p.value, label
        elif kind == "bool":
            assert got == (1 if p.value else 0), label
        else:
            assert got == p.value, label   # the same float: the same digits parsed the same way
    assert counted["mark"] >= 30 and counted["same"] >= 60, counted


def test_demo_returns_as_shipped_preview_what_merge_computes(demo, tmp_path):
    """The demo's own returns ("64,52%", "95%", "12.141", "27/06/2024" as text...) filled
    by pegxl and recalculated by LibreOffice: the S01 total showed 87,93 against 88,66."""
    from pegxl.templates.fill import fill_return
    base, plan, returns = demo
    jobs, saved = [], {}
    for sector in plan.sector_codes:
        if sector not in returns:
            continue
        filled = tmp_path / "filled" / template_name(plan, sector)
        fill_return(base / "modelli" / template_name(plan, sector), filled, returns[sector])
        saved[sector] = tmp_path / "restituiti" / filled.name
        jobs.append({"open": str(filled), "convert_only": True, "save": [{"path": str(saved[sector]), "filter": XLSX}]})
    _lo_batch(jobs)
    scores = merge(plan, [tmp_path / "restituiti"], tmp_path / "consolidato").scores
    for sector, path in saved.items():
        assert _shown(_cached_xlsx(path)) == _expected(scores, sector), sector
    assert _shown(_cached_xlsx(saved["S01"]))["total"] == 88.66
