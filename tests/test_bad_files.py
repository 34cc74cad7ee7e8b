"""Hostile and broken files among the returns: each gets its own coded finding naming the
file, the other files of the same run are still validated, and no traceback reaches the
user (excel-pitfalls.md, "Hostile or broken files").

Each case puts the bad file in a folder beside a good return (settore S02) and runs
`validate_returns` on the folder (or on the two files, for a name a folder scan skips),
then the CLI on the same folder.
"""
from __future__ import annotations

import shutil
import struct
import zipfile
from pathlib import Path
from typing import Callable

import openpyxl
import pytest
from click.testing import CliRunner

from lo_helper import lo_convert, requires_lo
from test_validate import Env, make_env, make_return

from pegxl.cli import main
from pegxl.errors import ERROR, WARNING, ErrorCode
from pegxl.templates import template_name
from pegxl.validators.returns import validate_returns


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Env:
    return make_env(tmp_path_factory.mktemp("plan"))


@pytest.fixture(scope="module")
def sample(env, tmp_path_factory) -> Path:
    """A clean S01 return, the raw material of most bad files."""
    return make_return(env, tmp_path_factory.mktemp("sample") / template_name(env.plan, "S01"))


# ----------------------------------------------------------------------- bad file makers

ENDOFCHAIN, FREESECT, FATSECT, NOSTREAM = 0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFD, 0xFFFFFFFF


def _dir_entry(name: str, kind: int, start: int, size: int, child: int = NOSTREAM) -> bytes:
    raw = name.encode("utf-16-le") + b"\0\0" if name else b""
    e = raw.ljust(64, b"\0") + struct.pack("<HBB", len(raw), kind, 1 if name else 0)
    e += struct.pack("<III", NOSTREAM, NOSTREAM, child) + b"\0" * 16 + struct.pack("<I", 0) + b"\0" * 16
    e += struct.pack("<IQ", start, size)
    assert len(e) == 128
    return e


def ole_file(stream_name: str, data: bytes) -> bytes:
    """A minimal OLE compound file (CFB v3, 512-byte sectors: header, FAT, directory,
    then one stream of at least 4096 bytes, so no mini stream is needed)."""
    data = data.ljust(max(4096, -(-len(data) // 512) * 512), b"\0")
    n = len(data) // 512
    fat = [FATSECT, ENDOFCHAIN] + [3 + i for i in range(n - 1)] + [ENDOFCHAIN]
    fat += [FREESECT] * (128 - len(fat))
    header = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 16
    header += struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6) + b"\0" * 6
    header += struct.pack("<IIIIIIIII", 0, 1, 1, 0, 4096, ENDOFCHAIN, 0, ENDOFCHAIN, 0)
    header += struct.pack("<109I", 0, *([FREESECT] * 108))
    directory = (_dir_entry("Root Entry", 5, ENDOFCHAIN, 0, child=1) + _dir_entry(stream_name, 2, 2, len(data))
                 + _dir_entry("", 0, 0, 0) + _dir_entry("", 0, 0, 0))
    return header + struct.pack("<128I", *fat) + directory + data


def biff8(*records: bytes) -> bytes:
    """A BIFF8 workbook globals substream: BOF, `records`, EOF."""
    bof = struct.pack("<HH", 0x0809, 16) + struct.pack("<HHHHII", 0x0600, 0x0005, 0x0DBB, 0x07CC, 0, 0x06)
    return bof + b"".join(records) + struct.pack("<HH", 0x000A, 0)


def _text_as_xlsx(sample: Path, out: Path) -> Path:
    out.write_text("Codice obiettivo;Avanzamento %\n2024_S01_01;100\n2024_S01_02;75,5\n", encoding="utf-8")
    return out


def _pdf(sample: Path, out: Path) -> Path:
    out.write_bytes(b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
                    b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n")
    return out


def _truncated(sample: Path, out: Path) -> Path:
    data = sample.read_bytes()
    out.write_bytes(data[: len(data) // 2])
    return out


def _encrypted(sample: Path, out: Path) -> Path:
    try:
        from msoffcrypto.format.ooxml import OOXMLFile
    except ImportError:  # pragma: no cover
        pytest.skip("msoffcrypto-tool without OOXMLFile.encrypt")
    with open(sample, "rb") as fi, open(out, "wb") as fo:
        OOXMLFile(fi).encrypt("Segreta2024", fo)
    return out


def _xls(sample: Path, out: Path) -> Path:
    out.write_bytes(ole_file("Workbook", biff8()))
    return out


def _xls_encrypted(sample: Path, out: Path) -> Path:
    filepass = struct.pack("<HH", 0x002F, 54) + struct.pack("<HHH", 1, 1, 1) + b"\x11" * 48   # RC4
    out.write_bytes(ole_file("Workbook", biff8(filepass)))
    return out


def _ole_garbage(sample: Path, out: Path) -> Path:
    out.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(range(256)) * 8)
    return out


def _zip_bomb(sample: Path, out: Path) -> Path:
    shutil.copy(sample, out)
    with zipfile.ZipFile(out, "a", compression=zipfile.ZIP_DEFLATED) as zf:
        with zf.open("xl/media/image1.bin", "w", force_zip64=True) as fh:
            block = b"\0" * (1 << 20)
            for _ in range(300):
                fh.write(block)
    assert out.stat().st_size < 2 * 1024 * 1024
    return out


def _million_rows(sample: Path, out: Path) -> Path:
    wb = openpyxl.load_workbook(sample)
    wb["Fasi"].cell(row=1_000_000, column=1, value="x")
    wb.save(out)
    return out


def _far_corner(sample: Path, out: Path) -> Path:
    """One cell at XFD1048576: a reader that builds a dense grid asks for ~0.5 TB."""
    wb = openpyxl.load_workbook(sample)
    wb["Fasi"].cell(row=1_048_576, column=16_384, value="x")
    wb.save(out)
    return out


def _wide(sample: Path, out: Path) -> Path:
    """Few rows, but to the last column: 1,000 rows x 16,384 columns = 16 M cells."""
    wb = openpyxl.load_workbook(sample)
    wb["Fasi"].cell(row=1_000, column=16_384, value="x")
    wb.save(out)
    return out


def _rewrite(sample: Path, out: Path, change: Callable[[str, bytes], bytes | None],
             extra: dict[str, bytes] | None = None) -> Path:
    with zipfile.ZipFile(sample) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = change(info.filename, zin.read(info.filename))
            if data is not None:
                zout.writestr(info, data)
        for name, data in (extra or {}).items():
            zout.writestr(name, data)
    return out


def _external_link(sample: Path, out: Path) -> Path:
    link = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            b'<externalLink xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            b'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
            b'<externalBook r:id="rId1"><sheetNames><sheetName val="Dati"/></sheetNames>'
            b'<sheetDataSet><sheetData sheetId="0"><row r="1"><cell r="A1"><v>42</v></cell></row>'
            b'</sheetData></sheetDataSet></externalBook></externalLink>')
    link_rels = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                 b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                 b'<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
                 b'relationships/externalLinkPath" Target="file:///C:/Ragioneria/dati_2024.xlsx" '
                 b'TargetMode="External"/></Relationships>')

    def change(name: str, data: bytes) -> bytes:
        if name == "[Content_Types].xml":
            return data.replace(b"</Types>", b'<Override PartName="/xl/externalLinks/externalLink1.xml" '
                                b'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.'
                                b'externalLink+xml"/></Types>')
        if name == "xl/_rels/workbook.xml.rels":
            return data.replace(b"</Relationships>", b'<Relationship Id="rIdExt1" Type="http://schemas.'
                                b'openxmlformats.org/officeDocument/2006/relationships/externalLink" '
                                b'Target="externalLinks/externalLink1.xml"/></Relationships>')
        if name == "xl/workbook.xml":
            return data.replace(b"</sheets>", b'</sheets><externalReferences><externalReference r:id="rIdExt1"/>'
                                b'</externalReferences>') if b"xmlns:r=" in data else data
        return data
    return _rewrite(sample, out, change, {"xl/externalLinks/externalLink1.xml": link,
                                          "xl/externalLinks/_rels/externalLink1.xml.rels": link_rels})


def _broken_sheet_xml(sample: Path, out: Path) -> Path:
    """A sound zip whose Fasi sheet XML is cut in the middle."""
    with zipfile.ZipFile(sample) as zf:
        wb = zf.read("xl/workbook.xml")
    assert b'name="Fasi"' in wb
    return _rewrite(sample, out, lambda n, d: d[: len(d) // 2] if n == "xl/worksheets/sheet3.xml" else d)


def _not_a_workbook_zip(sample: Path, out: Path) -> Path:
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("word/document.xml", "<w:document/>")
        zf.writestr("[Content_Types].xml", "<Types/>")
    return out


def _xlsb(sample: Path, out: Path) -> Path:
    """Excel's binary workbook: a zip, but of .bin parts."""
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/workbook.bin", b"\x83\x01\x00")
        zf.writestr("xl/worksheets/sheet1.bin", b"\x81\x01\x00")
    return out


def _empty(sample: Path, out: Path) -> Path:
    out.write_bytes(b"")
    return out


# (id, file name, maker, code, severity, detail expected in the message or None)
CASES = [
    ("text-named-xlsx", "2024_S01_affari-generali.xlsx", _text_as_xlsx, "F002", ERROR, "file di testo"),
    ("pdf", "relazione_S01.pdf", _pdf, "F002", ERROR, "PDF"),
    ("pdf-named-xlsx", "2024_S01_affari-generali.xlsx", _pdf, "F002", ERROR, "PDF"),
    ("truncated-zip", "2024_S01_affari-generali.xlsx", _truncated, "F003", ERROR, None),
    ("encrypted", "2024_S01_affari-generali.xlsx", _encrypted, "F004", ERROR, None),
    ("xls", "2024_S01_affari-generali.xls", _xls, "F005", ERROR, None),
    ("xls-encrypted", "2024_S01_affari-generali.xls", _xls_encrypted, "F004", ERROR, None),
    ("ole-garbage-named-xlsx", "2024_S01_affari-generali.xlsx", _ole_garbage, "F005", ERROR, None),
    ("zip-bomb", "2024_S01_affari-generali.xlsx", _zip_bomb, "F006", ERROR, "100 MB"),
    ("million-rows", "2024_S01_affari-generali.xlsx", _million_rows, "F007", ERROR, "1000000"),
    ("far-corner", "2024_S01_affari-generali.xlsx", _far_corner, "F007", ERROR, "1048576"),
    ("wide", "2024_S01_affari-generali.xlsx", _wide, "F006", ERROR, "XFD1000"),
    ("broken-sheet-xml", "2024_S01_affari-generali.xlsx", _broken_sheet_xml, "F002", ERROR, "Fasi"),
    ("zip-not-workbook", "2024_S01_affari-generali.xlsx", _not_a_workbook_zip, "F002", ERROR, "Word"),
    ("xlsb", "2024_S01_affari-generali.xlsb", _xlsb, "F002", ERROR, ".xlsb"),
    ("empty", "2024_S01_affari-generali.xlsx", _empty, "F009", ERROR, None),
]
SHEET_OF = {"million-rows": "Fasi", "far-corner": "Fasi", "wide": "Fasi", "broken-sheet-xml": "Fasi"}


def _corpus(env: Env, sample: Path, d: Path, name: str, maker) -> tuple[Path, Path]:
    d.mkdir(parents=True, exist_ok=True)
    good = make_return(env, d / template_name(env.plan, "S02"), sector="S02")
    bad = maker(sample, d / name)
    return good, bad


def _items(d: Path, good: Path, bad: Path) -> list[Path]:
    # a folder scan takes spreadsheet-like names only: a .pdf is named explicitly
    return [d] if bad.suffix in (".xlsx", ".xls", ".ods") else [good, bad]


@pytest.mark.parametrize("case,name,maker,code,severity,detail", CASES, ids=[c[0] for c in CASES])
def test_bad_file_has_its_code_and_the_others_are_validated(env, sample, tmp_path, case, name, maker, code,
                                                            severity, detail):
    d = tmp_path / "restituiti"
    good, bad = _corpus(env, sample, d, name, maker)
    v = validate_returns(env.plan, _items(d, good, bad))
    assert sorted(rf.path for rf in v.files) == sorted([str(good), str(bad)])
    mine = v.file_findings(str(bad))
    assert [f.code for f in mine] == [code], [str(f) for f in mine]
    f = mine[0]
    assert f.severity == severity == ErrorCode[code].severity
    assert f.file == str(bad)
    assert f.sheet == SHEET_OF.get(case)
    if detail:
        assert detail in f.message, f.message
    assert "{" not in f.message
    assert not v.usable(str(bad))
    # the good file beside it: read, validated, usable, its values in the tables
    assert v.file_findings(str(good)) == []
    assert v.usable(str(good))
    assert set(v.phases["sector"]) == {"S02"} and len(v.phases) == 3
    assert [rf.sector for rf in v.usable_files] == ["S02"]


@pytest.mark.parametrize("case,name,maker,code", [(c[0], c[1], c[2], c[3]) for c in CASES],
                         ids=[c[0] for c in CASES])
def test_cli_names_the_file_and_shows_no_traceback(env, sample, tmp_path, case, name, maker, code):
    d = tmp_path / "restituiti"
    good, bad = _corpus(env, sample, d, name, maker)
    res = CliRunner().invoke(main, ["validate", "--plan", str(env.plan_path), *map(str, _items(d, good, bad))])
    assert res.exit_code == 1, res.output
    assert "Traceback" not in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
    assert code in res.output and bad.name in res.output
    assert f"{good}: utilizzabile" in res.output


def test_external_links_are_a_warning_and_the_file_is_usable(env, sample, tmp_path):
    d = tmp_path / "restituiti"
    good, bad = _corpus(env, sample, d, "2024_S01_affari-generali.xlsx", _external_link)
    v = validate_returns(env.plan, [d])
    mine = v.file_findings(str(bad))
    assert [(f.code, f.severity, f.file) for f in mine] == [("F008", WARNING, str(bad))]
    assert v.usable(str(bad)) and v.usable(str(good))
    assert len(v.phases) == 4 + 3
    # the linked value is never fetched: values are those typed in the file
    assert set(v.phases.loc[v.phases["sector"] == "S01", "progress"]) == {100.0, 75.5}
    res = CliRunner().invoke(main, ["validate", "--plan", str(env.plan_path), str(d)])
    assert res.exit_code == 0 and "F008" in res.output and "Traceback" not in res.output


def test_a_missing_file_named_on_the_command_line(env, sample, tmp_path):
    good = make_return(env, tmp_path / template_name(env.plan, "S02"), sector="S02")
    ghost = tmp_path / "non_esiste.xlsx"
    v = validate_returns(env.plan, [good, ghost])
    assert [f.code for f in v.file_findings(str(ghost))] == ["F001"]
    assert v.usable(str(good))


@requires_lo
def test_real_xls_saved_by_libreoffice_is_refused(env, sample, tmp_path):
    d = tmp_path / "restituiti"
    d.mkdir()
    good = make_return(env, d / template_name(env.plan, "S02"), sector="S02")
    xls = d / "2024_S01_affari-generali.xls"
    lo_convert(sample, xls)
    assert xls.read_bytes()[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    v = validate_returns(env.plan, [d])
    assert [f.code for f in v.file_findings(str(xls))] == ["F005"]
    assert "xlsx" in v.file_findings(str(xls))[0].hint
    assert v.usable(str(good))


# -------------------------------------------------------------------- unexpected errors

def _boom(*args, **kwargs):
    raise RuntimeError("guasto simulato")


def test_unexpected_error_without_debug_shows_no_traceback(env, sample, tmp_path, monkeypatch):
    import pegxl.validators.returns
    monkeypatch.setattr(pegxl.validators.returns, "validate_returns", _boom)
    res = CliRunner().invoke(main, ["validate", "--plan", str(env.plan_path), str(sample)])
    assert res.exit_code == 2
    assert "Traceback" not in res.output
    assert "Errore imprevisto" in res.output and "guasto simulato" in res.output and "--debug" in res.output


def test_unexpected_error_with_debug_shows_the_traceback(env, sample, tmp_path, monkeypatch):
    import pegxl.ingest
    monkeypatch.setattr(pegxl.ingest, "scan", _boom)   # reached only for a sound file
    res = CliRunner().invoke(main, ["validate", "--plan", str(env.plan_path), str(sample)])
    assert "Traceback" not in res.output              # read_return turns it into a finding...
    assert res.exit_code == 1 and "F002" in res.output
    import pegxl.validators.returns
    monkeypatch.setattr(pegxl.validators.returns, "validate_files", _boom)
    res = CliRunner().invoke(main, ["--debug", "validate", "--plan", str(env.plan_path), str(sample)])
    assert res.exit_code == 2
    assert "Traceback" in res.output and "RuntimeError: guasto simulato" in res.output


def _bomb_in_sheet(sample: Path, out: Path) -> Path:
    """The inflating payload inside a worksheet's XML (a reader that parses it drowns)."""
    def change(name: str, data: bytes) -> bytes | None:
        return None if name == "xl/worksheets/sheet3.xml" else data
    _rewrite(sample, out, change)
    with zipfile.ZipFile(sample) as zf:
        original = zf.read("xl/worksheets/sheet3.xml")
    head, _, tail = original.partition(b"<sheetData>")
    with zipfile.ZipFile(out, "a", compression=zipfile.ZIP_DEFLATED) as zf:
        with zf.open("xl/worksheets/sheet3.xml", "w", force_zip64=True) as fh:
            fh.write(head + b"<sheetData>")
            block = b" " * (1 << 20)
            for _ in range(300):
                fh.write(block)
            fh.write(tail)
    return out


def test_annotate_over_hostile_files_never_reopens_them(env, sample, tmp_path):
    """--annotate writes an Errori-only copy for a refused file, without parsing it again."""
    d = tmp_path / "restituiti"
    d.mkdir()
    good = make_return(env, d / template_name(env.plan, "S02"), sector="S02")
    makers = {"a_bomba.xlsx": _bomb_in_sheet, "b_troncato.xlsx": _truncated, "c_righe.xlsx": _far_corner,
              "d_cifrato.xlsx": _encrypted, "e_vuoto.xlsx": _empty, "f_link.xlsx": _external_link}
    for name, maker in makers.items():
        maker(sample, d / name)
    before = {p.name: p.read_bytes() for p in d.iterdir()}
    out = tmp_path / "annotati"
    res = CliRunner().invoke(main, ["validate", "--plan", str(env.plan_path), str(d), "--annotate", str(out),
                                    "--format", "json"])
    assert res.exit_code == 1, res.output
    assert "Traceback" not in res.output
    import json
    doc = json.loads(res.stdout)
    by_file = {Path(f["file"]).name: f["code"] for f in doc["findings"]}
    assert by_file == {"a_bomba.xlsx": "F006", "b_troncato.xlsx": "F003", "c_righe.xlsx": "F007",
                       "d_cifrato.xlsx": "F004", "e_vuoto.xlsx": "F009", "f_link.xlsx": "F008"}
    assert {Path(r["file"]).name: r["usable"] for r in doc["files"]}[good.name] is True
    written = {p.name for p in out.iterdir()}
    assert written == {f"{Path(n).stem}_errori.xlsx" for n in makers}
    for name in makers:
        wb = openpyxl.load_workbook(out / f"{Path(name).stem}_errori.xlsx")
        assert wb.sheetnames[0] == "Errori"
        assert by_file[name] in [r[0].value for r in wb["Errori"].iter_rows(min_row=2)]
        if name == "f_link.xlsx":   # only a warning: the annotated copy is the whole workbook
            assert {"Obiettivi", "Fasi", "Indicatori"} <= set(wb.sheetnames)
        else:
            assert wb.sheetnames == ["Errori"]
    assert {p.name: p.read_bytes() for p in d.iterdir()} == before     # originals untouched


def test_an_unexpected_failure_on_one_file_leaves_the_others_validated(env, sample, tmp_path, monkeypatch):
    """A bug met while reading one file becomes a coded finding for that file only."""
    import pegxl.validators.returns as V
    real = V.read_return
    d = tmp_path / "restituiti"
    good, bad = _corpus(env, sample, d, "zz_rotto.xlsx", lambda s, out: out.write_bytes(s.read_bytes()) and out)

    def flaky(plan_, path, **kw):
        if str(path).endswith("zz_rotto.xlsx"):
            raise RuntimeError("guasto simulato")
        return real(plan_, path, **kw)
    monkeypatch.setattr(V, "read_return", flaky)
    v = V.validate_returns(env.plan, [d])
    assert v.usable(str(good)) and not v.file_findings(str(good))
    mine = v.file_findings(str(bad))
    assert [f.code for f in mine] == ["F002"]
    assert "guasto simulato" in mine[0].message


# ------------------------------------------------------------ .ods that repeat one cell

def _ods_repeating(out: Path, rows: int, cols: int) -> Path:
    """A few KB of .ods whose Fasi sheet repeats one number over rows x cols cells
    (table:number-rows-repeated / number-columns-repeated), after a header row."""
    content = ('<?xml version="1.0" encoding="UTF-8"?><office:document-content '
               'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
               'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
               'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
               '<office:body><office:spreadsheet><table:table table:name="Fasi">'
               '<table:table-row><table:table-cell office:value-type="string"><text:p>Codice obiettivo</text:p>'
               '</table:table-cell></table:table-row>'
               f'<table:table-row table:number-rows-repeated="{rows}">'
               f'<table:table-cell table:number-columns-repeated="{cols}" office:value-type="float" '
               'office:value="1"><text:p>1</text:p></table:table-cell></table:table-row>'
               '<table:table-row table:number-rows-repeated="1048000"><table:table-cell '
               'table:number-columns-repeated="1024"/></table:table-row>'
               '</table:table></office:spreadsheet></office:body></office:document-content>')
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet", compress_type=zipfile.ZIP_STORED)
        z.writestr("content.xml", content, compress_type=zipfile.ZIP_DEFLATED)
    assert out.stat().st_size < 4096
    return out


def test_ods_extents_count_repeated_cells_with_content_only(tmp_path):
    from pegxl.workbook.reader import ods_extents
    p = _ods_repeating(tmp_path / "x.ods", rows=300, cols=40)
    assert ods_extents(p) == {"Fasi": (301, 40)}     # the trailing empty rows do not count


@pytest.mark.parametrize("rows,cols,code,detail", [(60_000, 2, "F007", "60001"),
                                                   (1_500, 4_000, "F006", "EWV1501")])
def test_an_ods_repeating_one_cell_is_refused_before_it_is_built_in_memory(tmp_path, monkeypatch, rows, cols,
                                                                          code, detail):
    # 25 KB of .ods repeating one cell 50,000 x 1,000 times took 3 GB of memory and 12 s
    # to be refused: now the repeats are counted in content.xml before calamine sees it
    import python_calamine
    from pegxl.errors import PegxlError
    from pegxl.workbook.reader import read_values

    def never(*a, **k):
        raise AssertionError("calamine asked to build the repeated cells")
    monkeypatch.setattr(python_calamine.CalamineWorkbook, "from_path", never)
    p = _ods_repeating(tmp_path / "2024_S01.ods", rows=rows, cols=cols)
    with pytest.raises(PegxlError) as exc:
        read_values(p, max_rows=2000)
    (f,) = exc.value.findings
    assert (f.code, f.sheet) == (code, "Fasi") and detail in f.message, str(f)


def test_a_return_with_the_wrong_extension_is_read_by_its_content(env, sample, tmp_path):
    # a mail client or a hurried rename: an Excel file named .ods reads as the Excel file it is
    d = tmp_path / "restituiti"
    d.mkdir()
    renamed = d / "2024_S01_affari-generali.ods"
    shutil.copy(sample, renamed)
    v = validate_returns(env.plan, [renamed])
    assert [str(f) for f in v.findings if f.is_error] == [] and v.usable(str(renamed))
    assert v.files[0].sector == "S01"


def test_an_ods_named_xlsx_is_read_by_its_content(tmp_path):
    from test_validate import _minimal_ods
    from pegxl.workbook.reader import read_values
    p = _minimal_ods(tmp_path / "x.ods", {"Obiettivi": [["Codice obiettivo", "Stato"], ["O1", "Concluso"]]})
    named = p.rename(tmp_path / "x.xlsx")
    book = read_values(named)
    assert book.sheets["Obiettivi"].rows == [["Codice obiettivo", "Stato"], ["O1", "Concluso"]]
