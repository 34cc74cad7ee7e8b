"""What `validate` reads once per file still catches what it caught: a part whose checksum
is wrong (tested by the scan, which reads every part, not by a second pass of sniff), a
sheet whose values are not loaded (the hidden readings) still measured and scanned for
formulas, and a sheet written with a namespace prefix scanned like a plain one.
"""
# ruff: noqa: F811  (the fixtures env and sample come from test_bad_files, by import)
from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_bad_files import env, sample  # noqa: F401  (the plan, templates and a clean S01 return)
from test_validate import make_return

from pegxl.cli import main
from pegxl.errors import ErrorCode
from pegxl.templates import template_name
from pegxl.validators.returns import validate_returns
from pegxl.workbook import contract as C
from pegxl.workbook.scan import _cell_formulas, scan


def _part_of_sheet(path: Path, sheet: str) -> str:
    with zipfile.ZipFile(path) as zf:
        wb = zf.read("xl/workbook.xml").decode()
        rels = zf.read("xl/_rels/workbook.xml.rels").decode()
    rid = re.search(r'<sheet [^>]*name="' + re.escape(sheet) + r'"[^>]*r:id="([^"]+)"', wb).group(1)
    target = re.search(r'Id="' + rid + r'"[^>]*Target="([^"]+)"|Target="([^"]+)"[^>]*Id="' + rid + '"', rels)
    t = target.group(1) or target.group(2)
    return t.lstrip("/") if t.startswith("/") else "xl/" + t


def _rewrite(src: Path, out: Path, change, stored: str | None = None) -> Path:
    """A copy of `src` with each part through change(name, data); `stored`: a part kept
    uncompressed, so that its bytes can be altered in the file afterwards."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = change(info.filename, zin.read(info.filename))
            if info.filename == stored:
                zout.writestr(info.filename, data, compress_type=zipfile.ZIP_STORED)
            else:
                zout.writestr(info, data)
    return out


def _bad_checksum(src: Path, out: Path, part: str, needle: bytes) -> Path:
    """`part` stored, then one byte of its content changed in the file: its CRC is wrong."""
    _rewrite(src, out, lambda n, d: d, stored=part)
    raw = out.read_bytes()
    at = raw.index(needle)
    out.write_bytes(raw[:at] + needle.swapcase() + raw[at + len(needle):])
    with zipfile.ZipFile(out) as zf:
        assert zf.testzip() == part
    return out


@pytest.mark.parametrize("which", ["theme", "readings"])
def test_a_part_with_a_wrong_checksum_is_a_damaged_file(env, sample, tmp_path, which):
    d = tmp_path / "restituiti"
    d.mkdir()
    good = make_return(env, d / template_name(env.plan, "S02"), sector="S02")
    if which == "theme":   # a part neither calamine nor the scan reads for its content
        part, needle = "xl/theme/theme1.xml", b"theme"
    else:                  # the hidden readings: scanned, not loaded
        part, needle = _part_of_sheet(sample, C.SHEET_READINGS), b"sheetData"
    bad = _bad_checksum(sample, d / sample.name, part, needle)
    v = validate_returns(env.plan, [d], jobs=1)
    assert [(f.code, f.file) for f in v.findings] == [(ErrorCode.F003.code, str(bad))]
    assert [rf.sector for rf in v.usable_files] == ["S02"]
    bad_rf = next(rf for rf in v.files if rf.path == str(bad))
    assert bad_rf.sha256 is None and not bad_rf.readable
    res = CliRunner().invoke(main, ["validate", "--plan", str(env.plan_path), str(d)])
    assert res.exit_code == 1 and ErrorCode.F003.code in res.output and f"{good}: utilizzabile" in res.output


def test_the_readings_sheet_is_measured_though_not_loaded(env, sample, tmp_path):
    part = _part_of_sheet(sample, C.SHEET_READINGS)

    def far(name: str, data: bytes) -> bytes:
        if name != part:
            return data
        return data.replace(b"</sheetData>", b'<row r="1048576"><c r="A1048576" t="inlineStr"><is><t>x</t>'
                                              b"</is></c></row></sheetData>")
    bad = _rewrite(sample, tmp_path / sample.name, far)
    v = validate_returns(env.plan, [bad], jobs=1)
    assert [(f.code, f.sheet) for f in v.findings] == [(ErrorCode.F007.code, C.SHEET_READINGS)]


def test_a_forged_formula_on_the_readings_sheet_is_found(env, sample, tmp_path):
    part = _part_of_sheet(sample, C.SHEET_READINGS)

    def forge(name: str, data: bytes) -> bytes:
        if name != part:
            return data
        # a formula far right of the readings' blocks: not one the template writes
        return data.replace(b"</row>", b'<c r="ZZ2"><f>1+1</f><v>2</v></c></row>', 1)
    bad = _rewrite(sample, tmp_path / sample.name, forge)
    v = validate_returns(env.plan, [bad], jobs=1)
    hits = [f for f in v.findings if f.sheet == C.SHEET_READINGS]
    assert [(f.code, f.cell) for f in hits] == [(ErrorCode.T009.code, "ZZ2")]


def test_formulas_of_a_prefixed_sheet_are_found_like_plain_ones(sample):
    part = _part_of_sheet(sample, C.SHEET_OBJECTIVES)
    with zipfile.ZipFile(sample) as zf:
        plain = zf.read(part)
    found = _cell_formulas(plain)
    assert found, "the template's Obiettivi sheet has formulas"
    prefixed = (plain.replace(b"<c ", b"<x:c ").replace(b"</c>", b"</x:c>")
                .replace(b"<f>", b"<x:f>").replace(b"</f>", b"</x:f>").replace(b"<f ", b"<x:f "))
    assert prefixed != plain
    assert _cell_formulas(prefixed) == found
    # entities resolved the same whether a sheet's formulas are decoded one by one or at once
    assert all("&quot;" not in t and "&gt;" not in t for t in found.values())
    assert scan(str(sample)).sheets[C.SHEET_OBJECTIVES].formulas == found


def test_few_formulas_among_many_cells_are_found_as_the_pattern_finds_them(sample):
    """A sheet with few formulas is searched from each <f>, a dense one by the pattern over
    every cell: the same (reference, text) pairs either way, edge cases included."""
    from pegxl.workbook.scan import _CELL_F_PLAIN_RE, _sparse_formulas
    with zipfile.ZipFile(sample) as zf:
        sheets = [zf.read(n) for n in zf.namelist() if n.startswith("xl/worksheets/sheet")]
    assert sum(bool(_CELL_F_PLAIN_RE.findall(d)) for d in sheets) >= 3
    odd = (b'<sheetData><row r="1"><c r="A1" s="2"/><f>1+1</f>'          # after a closed cell
           b'<c r="B1" t="str">\n <f aca="false">SUM(A1:A2)</f><v>3</v></c>'  # blanks, attributes
           b'<c r="C1"><v>1</v><f>2+2</f></c>'                               # not the first child
           b'<c xr="Q9" r="D1"><f t="shared" si="0"/></c>'                   # a shared formula's child
           b'<c r="E1"><f>IF(A1&gt;1,&quot;x&quot;,"")</f></c>'
           b'<conditionalFormatting><cfRule><formula>A1&gt;0</formula></cfRule></conditionalFormatting>'
           b'</row></sheetData>')
    for data in [*sheets, odd]:
        assert _sparse_formulas(data) == _CELL_F_PLAIN_RE.findall(data)
    assert _cell_formulas(odd) == {"A1": "1+1", "B1": "SUM(A1:A2)", "D1": "", "E1": 'IF(A1>1,"x","")'}


@pytest.mark.parametrize("text, checks, names", [
    ("SUM('It''s'!B2:C3)+Fasi!G4", (("It's", "B", 2, 1), ("It's", "C", 3, 0), ("Fasi", "G", 4, 1)), ()),
    ('IF(A1>0,"x!y",B$2)', (("Obiettivi", "A", 1, 1), ("Obiettivi", "B", 2, 1)), ()),   # a ! inside a string
    ("Fasi!1:3+TOTALE", (("Fasi", None, 0, 1),), ("TOTALE",)),                          # whole rows, a name
])
def test_a_formula_is_parsed_into_its_references_and_names(text, checks, names):
    """What the rules check of a formula: sheet, column, row of each reference (a range's
    end checked but not counted), whole rows or columns, the names it uses."""
    from pegxl.workbook.formulas import _parsed
    assert _parsed.__wrapped__(text, "Obiettivi", "xlsx") == (checks, names)


def test_the_formula_caches_keep_what_the_files_share_and_not_what_each_brings(monkeypatch):
    """A reader process checks hundreds of returns whose formulas embed each settore's
    pesi: the texts that pass are remembered for the next file (the template's, in every
    file), those of one file only do not pile up file after file."""
    from pegxl.workbook import formulas as F
    monkeypatch.setattr(F, "_PASSED", {})
    monkeypatch.setattr(F, "_PASSED_MAX", 64)
    area = F.Area({"Obiettivi": (200, 30), "Fasi": (200, 30)})
    shared = {f"Fasi!F{r}*2" for r in range(2, 42)}
    asked: list[str] = []
    real = F.formula_problem

    def counted(text, **kw):
        asked.append(text)
        return real(text, **kw)

    monkeypatch.setattr(F, "formula_problem", counted)
    for i in range(200):
        own = {f"Fasi!F{r}*{i + 3}" for r in range(2, 14)}   # pesi of this file only
        bad = F.failing(shared | own | {"Altro!A1"}, own_sheet="Obiettivi", area=area)
        assert bad == {"Altro!A1"}
        (kept,) = F._PASSED.values()
        assert len(kept) <= 64 + len(own)
        assert shared <= kept
    # the shared texts checked once; each file's own once; the refused one every time
    assert len(asked) == len(shared) + 200 * (12 + 1)


def test_the_formula_caches_stay_bounded_over_settori_of_many_sizes(monkeypatch):
    """Settori of different sizes give areas of different shapes, each remembered apart:
    together they stay within _PASSED_ALL texts (beyond the file being checked)."""
    from pegxl.workbook import formulas as F
    monkeypatch.setattr(F, "_PASSED", {})
    monkeypatch.setattr(F, "_PASSED_ALL", 100)
    for i in range(60):
        area = F.Area({"Obiettivi": (200 + i, 30), "Fasi": (200 + i, 30)})   # a shape per file
        texts = {f"Fasi!F{r}*{i + 3}" for r in range(2, 32)}
        assert F.failing(texts, own_sheet="Obiettivi", area=area) == set()
        assert sum(len(v) for v in F._PASSED.values()) <= 100 + len(texts)
