"""What calamine does not tell: formulas typed into cells, sheet protection, percent
formats, the 1904 date system, when the file was last saved, and the active content a
return may carry (defined names, merged cells, hyperlinks, DDE links, macros, data
connections). Read straight from the package XML (xlsx) or content.xml (ods), streaming,
without building a workbook model.
"""
from __future__ import annotations

import datetime as dt
import functools
import html
import posixpath
import re
import zipfile
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree as ET

from .reader import sheet_bound

NS_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
NS_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
NS_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
NS_TABLE = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
NS_OFFICE = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
NS_TEXT = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"

_BUILTIN_PERCENT = {9, 10}
_ATTR_R = re.compile(rb'\br="([A-Z]+[0-9]+)"')
_CELL_F_RE = re.compile(rb"<(?:\w+:)?c\b([^>]*?)>\s*<(?:\w+:)?f\b[^>]*?(?:/>|>(.*?)</(?:\w+:)?f>)", re.S)
# the common case, a sheet whose cells carry no namespace prefix, by a pattern that starts
# with a literal (the engine jumps from one <c to the next) and gives the reference and
# the text without a match object per cell: several times quicker on a large sheet
_CELL_F_PLAIN_RE = re.compile(rb'<c\b[^>]*?\br="([A-Z]+[0-9]+)"[^>]*>\s*<f\b[^>]*?(?:/>|>([^<]*)</f>)')
_PREFIXED_F_RE = re.compile(rb":f[\s>/]")   # a regular expression finds it quicker than `in`
_PROT_RE = re.compile(rb"<(?:\w+:)?sheetProtection\b([^>]*)/?>")
# an error value with no formula: #DIV/0! or #N/D pasted as a value (calamine reads it as empty)
_MERGE_RE = re.compile(rb'<(?:\w+:)?mergeCell\b[^>]*?\bref="([A-Z]+[0-9]+):([A-Z]+[0-9]+)"')
_HLINK_RE = re.compile(rb'<(?:\w+:)?hyperlink\b([^>]*)/?>')
_REL_RE = re.compile(rb'<(?:\w+:)?Relationship\b([^>]*)/?>')
_ATTR_ID = re.compile(rb'\b(?:r:)?[iI]d="([^"]*)"')
_A1_RE = re.compile(r"([A-Z]+)([0-9]+)")
_RULE_RE = re.compile(rb'<(?:\w+:)?(conditionalFormatting|dataValidation)\b([^>]*)>(.*?)</(?:\w+:)?\1>', re.S)
_RULE_F_RE = re.compile(rb'<(?:\w+:)?(?:formula|formula1|formula2|f)>([^<]*)<')
_SQREF_RE = re.compile(rb'\bsqref="([A-Z]+[0-9]+)')
# parts of an xlsx that run code or reach outside the file (what to say about each)
_ACTIVE_PARTS = (("xl/vbaProject.bin", "macro VBA"), ("xl/macrosheets/", "fogli macro di Excel 4"),
                 ("xl/dialogsheets/", "finestre di dialogo macro"), ("xl/activeX/", "controlli ActiveX"),
                 ("xl/embeddings/", "oggetti incorporati"), ("customUI/", "barra multifunzione con macro"),
                 ("customUI14", "barra multifunzione con macro"))
_CONNECTION_PARTS = (("xl/connections.xml", "connessioni dati"), ("xl/queryTables/", "query su dati esterni"),
                     ("xl/model/", "modello dati"), ("xl/customData/", "dati personalizzati"))
_CELL_E_RE = re.compile(rb'<(?:\w+:)?c\b([^>]*?\bt="e"[^>]*?)>\s*<(?:\w+:)?v>([^<]*)</(?:\w+:)?v>')


@dataclass
class SheetScan:
    name: str
    protected: bool = False
    formulas: dict[str, str] = field(default_factory=dict)   # A1 -> formula text
    errors: dict[str, str] = field(default_factory=dict)     # A1 -> error value (#DIV/0!) of a cell without formula
    percent_cells: set[str] = field(default_factory=set)      # A1 of cells with a percent format
    merged: list[tuple[int, int, int, int]] = field(default_factory=list)  # (row0, col0, row1, col1)
    password_hash: str | None = None    # the legacy 16-bit hash of the sheet's protection (xlsx)
    hyperlinks: dict[str, str] = field(default_factory=dict)  # A1 -> address outside the workbook
    # formulas of conditional formats and data validations: (first cell of the range, text)
    rule_formulas: list[tuple[str, str]] = field(default_factory=list)
    # xlsx: a bound above (last row, last column), from the same XML (reader.sheet_bound)
    bound: tuple[int, int] | None = None


@dataclass
class BookScan:
    sheets: dict[str, SheetScan] = field(default_factory=dict)
    epoch_1904: bool = False
    modified: dt.datetime | None = None
    application: str | None = None
    external_links: bool = False
    kind: str = "xlsx"
    # (name, text, plain): a defined name, its formula text, whether the file format says
    # it is a plain range (ods named-range) -- for xlsx the text decides
    defined_names: list[tuple[str, str, bool]] = field(default_factory=list)
    dde: list[str] = field(default_factory=list)          # DDE/OLE links to other programs
    active: list[str] = field(default_factory=list)       # macros, ActiveX, embedded objects
    connections: list[str] = field(default_factory=list)  # data connections, queries, linked sheets
    validation_formulas: list[tuple[str, str]] = field(default_factory=list)  # ods: (base cell, condition)


def scan(path: str, *, sheets: set[str] | None = None, verify: bool = False) -> BookScan:
    """Scan an xlsx/xlsm or ods; `sheets` limits the sheets inspected for formulas.
    `verify`: every part of the package is read to its end, so that a part whose
    checksum is wrong raises zipfile.BadZipFile (what `sniff` tests, without reading
    the scanned parts twice)."""
    with _Package(path) as zf:
        names = set(zf.namelist())
        out = _scan_ods(zf, names, sheets) if "content.xml" in names else _scan_xlsx(zf, names, sheets)
        if verify:
            for name in sorted(names - zf.seen):
                with zf.open(name) as fh:
                    while fh.read(1 << 20):
                        pass
        return out


class _Package(zipfile.ZipFile):
    """A zip that remembers the parts read whole (their checksum was checked)."""

    def __init__(self, path: str):
        super().__init__(path)
        self.seen: set[str] = set()

    def read(self, name: Any, pwd: bytes | None = None) -> bytes:
        data = super().read(name, pwd)
        self.seen.add(name if isinstance(name, str) else name.filename)
        return data


def _percent_styles(zf: zipfile.ZipFile, names: set[str]) -> frozenset[int]:
    if "xl/styles.xml" not in names:
        return frozenset()
    return _percent_style_ids(zf.read("xl/styles.xml"))


@functools.lru_cache(maxsize=16)
def _percent_style_ids(data: bytes) -> frozenset[int]:
    """The cell styles with a percent format (the files of one template share their
    styles part: parsed once)."""
    root = ET.fromstring(data)
    custom: dict[int, str] = {}
    nf = root.find(f"{{{NS_MAIN}}}numFmts")
    if nf is not None:
        for n in nf:
            custom[int(n.get("numFmtId", "0"))] = n.get("formatCode", "")
    out: set[int] = set()
    xfs = root.find(f"{{{NS_MAIN}}}cellXfs")
    if xfs is None:
        return frozenset(out)
    for i, xf in enumerate(xfs):
        fid = int(xf.get("numFmtId", "0"))
        if fid in _BUILTIN_PERCENT or (fid in custom and _is_percent_code(custom[fid])):
            out.add(i)
    return frozenset(out)


def _is_percent_code(code: str) -> bool:
    """A real percent format multiplies by 100; a quoted or escaped % is only a label."""
    code = re.sub(r'"[^"]*"', "", code)
    code = re.sub(r"\\.", "", code)
    return "%" in code


def _scan_xlsx(zf: zipfile.ZipFile, names: set[str], only: set[str] | None) -> BookScan:
    out = BookScan(kind="xlsx")
    out.external_links = any(n.startswith("xl/externalLinks/") for n in names)
    for n in sorted(names):
        if n.startswith("xl/externalLinks/") and n.endswith(".xml"):
            data = zf.read(n)
            for tag, what in ((rb"ddeLink", "DDE"), (rb"oleLink", "OLE")):
                m = re.search(rb"<(?:\w+:)?" + tag + rb'\b([^>]*)>', data)
                if m:
                    svc = re.search(rb'(?:ddeService|progId)="([^"]*)"', m.group(1))
                    out.dde.append(what + (f" {svc.group(1).decode('utf-8', 'replace')}" if svc else ""))
    for prefix, what in _ACTIVE_PARTS:
        if any(n.startswith(prefix) for n in names) and what not in out.active:
            out.active.append(what)
    for prefix, what in _CONNECTION_PARTS:
        if any(n.startswith(prefix) for n in names) and what not in out.connections:
            out.connections.append(what)
    wb = ET.fromstring(zf.read("xl/workbook.xml"))
    dn = wb.find(f"{{{NS_MAIN}}}definedNames")
    for d in (dn if dn is not None else []):
        text = d.text or ""
        if d.get("function") in ("1", "true") or d.get("vbProcedure") in ("1", "true") or d.get("xlm") in ("1", "true"):
            text = "MACRO(" + text + ")"     # a name that runs a macro: never a plain range
        out.defined_names.append((d.get("name", ""), text, False))
    pr = wb.find(f"{{{NS_MAIN}}}workbookPr")
    out.epoch_1904 = pr is not None and pr.get("date1904") in ("1", "true")
    percent_re = _percent_re(_percent_styles(zf, names))
    for name, part in _sheet_parts(zf, names, wb):
        sc = SheetScan(name)
        if only is None or name in only:
            data = zf.read(part)
            sc.bound = sheet_bound(data)
            # sheetProtection follows sheetData: found by a plain search, matched there
            at = data.find(b"sheetProtection")
            m = _PROT_RE.search(data, max(0, at - 16)) if at >= 0 else None
            if m:
                attrs = m.group(1)
                sc.protected = b'sheet="1"' in attrs or b'sheet="true"' in attrs
                h = re.search(rb'\bpassword="([0-9A-Fa-f]{4})"', attrs)
                sc.password_hash = h.group(1).decode() if h else None
            # Only the cells that matter are visited (a per-cell loop over every cell
            # of a thousand files was the slowest part of reading them): <f> is the first
            # child of <c> (CT_Cell: f?, v?, is?), and percent cells are found by style.
            sc.formulas = _cell_formulas(data)
            # the rarer elements are looked for only in a sheet that has their name at all
            # (a plain search of the bytes, many times quicker than the patterns)
            # (and matched from their first occurrence on: most follow the cells)
            at = data.find(b't="e"')
            for cm in (_CELL_E_RE.finditer(data, max(0, data.rfind(b"<", 0, at))) if at >= 0 else ()):
                ref = _ATTR_R.search(cm.group(1))
                if ref:
                    sc.errors[ref.group(1).decode()] = _xml_text(cm.group(2))
            at = data.find(b"mergeCell")
            for mm in (_MERGE_RE.finditer(data, max(0, at - 8)) if at >= 0 else ()):
                a, b = _rc(mm.group(1).decode()), _rc(mm.group(2).decode())
                if a and b:
                    sc.merged.append((a[0], a[1], b[0], b[1]))
            if b"hyperlink" in data:
                sc.hyperlinks.update(_xlsx_hyperlinks(zf, names, part, data))
            starts = [i for i in (data.find(b"conditionalFormatting"), data.find(b"dataValidation")) if i >= 0]
            for rm in (_RULE_RE.finditer(data, max(0, min(starts) - 8)) if starts else ()):
                ref = _SQREF_RE.search(rm.group(2))
                for fm in _RULE_F_RE.finditer(rm.group(3)):
                    sc.rule_formulas.append((ref.group(1).decode() if ref else "", _xml_text(fm.group(1))))
            if percent_re is not None:
                sc.percent_cells = _percent_refs(percent_re, data)
        out.sheets[name] = sc
    if "docProps/core.xml" in names:
        out.modified = _core_modified(zf.read("docProps/core.xml"))
    if "docProps/app.xml" in names:
        m = re.search(rb"<(?:\w+:)?Application>([^<]*)<", zf.read("docProps/app.xml"))
        out.application = m.group(1).decode("utf-8", "replace") if m else None
    return out


def _cell_formulas(data: bytes) -> dict[str, str]:
    """A1 -> formula text of the cells of a worksheet's XML that hold a formula."""
    if _PREFIXED_F_RE.search(data):   # a prefixed <x:f>: the general pattern
        out = {}
        for cm in _CELL_F_RE.finditer(data):
            ref = _ATTR_R.search(cm.group(1))
            if ref:
                out[ref.group(1).decode()] = _xml_text(cm.group(2) or b"")
        return out
    # few formulas among many cells (a table sheet) are looked for from their <f>, many
    # (the readings) by the pattern; how many, told by the first 32 KB (counting them
    # all would cost as much as finding them)
    head = min(len(data), 1 << 15)
    sparse = data.count(b"<f", 0, head) * 300 < head
    found = _sparse_formulas(data) if sparse else _CELL_F_PLAIN_RE.findall(data)
    if not found:
        return {}
    # references and texts decoded (and their entities resolved) all at once, not one by
    # one: a NUL cannot occur in XML, so it parts them safely
    refs = b"\0".join([r for r, _ in found]).decode("ascii").split("\0")
    # the template's formulas come back in file after file, row by row the same: their
    # texts are decoded once (a large sheet's entities took longer than finding them)
    known = _FORMULA_TEXTS
    cached = [known.get(t) for _, t in found]
    if None in cached:
        missing = list(dict.fromkeys(raw for (_, raw), text in zip(found, cached) if text is None))
        if len(known) + len(missing) > _FORMULA_TEXTS_MAX:
            known.clear()
        known.update(zip(missing, _xml_text(b"\0".join(missing)).split("\0")))
        return dict(zip(refs, [known[t] for _, t in found]))
    return dict(zip(refs, cached))  # type: ignore[arg-type]   # no None left


def _sparse_formulas(data: bytes) -> list[tuple[bytes, bytes]]:
    """What `_CELL_F_PLAIN_RE.findall` gives, for a sheet with few formulas among many
    cells: the pattern is tried at every cell, here only at each <f>, whose cell is the
    tag just before it (only blanks between, as the pattern wants)."""
    out = []
    for m in _F_RE.finditer(data):
        start = m.start()
        gt = data.rfind(b">", 0, start)
        if gt < 0 or data[gt + 1:start].strip():
            continue
        cell = _C_TAG_RE.fullmatch(data, data.rfind(b"<", 0, gt), gt + 1)
        if cell:
            out.append((cell.group(1), m.group(1) or b""))
    return out


_F_RE = re.compile(rb"<f\b[^>]*?(?:/>|>([^<]*)</f>)")
_C_TAG_RE = re.compile(rb'<c\b[^>]*?\br="([A-Z]+[0-9]+)"[^>]*>')
_FORMULA_TEXTS: dict[bytes, str] = {}   # a formula's text as stored -> as written
_FORMULA_TEXTS_MAX = 1 << 14


def percent_cells(path: str, sheets: set[str]) -> dict[str, set[str]]:
    """Sheet -> A1 of its percent-formatted cells, for `sheets` only (what a plan needs of
    the styles: an «80%» target). An xlsx without a percent format is not read past its
    styles; an ods is scanned."""
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        if "content.xml" in names:
            return {n: s.percent_cells for n, s in _scan_ods(zf, names, sheets).sheets.items()
                    if n in sheets}
        percent_re = _percent_re(_percent_styles(zf, names))
        if percent_re is None or "xl/workbook.xml" not in names:
            return {}
        wb = ET.fromstring(zf.read("xl/workbook.xml"))
        return {name: _percent_refs(percent_re, zf.read(part))
                for name, part in _sheet_parts(zf, names, wb) if name in sheets}


def _sheet_parts(zf: zipfile.ZipFile, names: set[str], wb: ET.Element) -> list[tuple[str, str]]:
    """(sheet name, its part in the package) in workbook order, for the parts present."""
    rels = {}
    if "xl/_rels/workbook.xml.rels" in names:
        for r in ET.fromstring(zf.read("xl/_rels/workbook.xml.rels")):
            target = r.get("Target", "")
            target = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join("xl", target))
            rels[r.get("Id")] = target
    out = []
    sheets_el = wb.find(f"{{{NS_MAIN}}}sheets")
    for s in (sheets_el if sheets_el is not None else []):
        part = rels.get(s.get(f"{{{NS_REL}}}id"))
        if part and part in names:
            out.append((s.get("name", ""), part))
    return out


def _percent_re(percent: frozenset[int]) -> re.Pattern[bytes] | None:
    """A cell of one of the `percent` styles (None when there is none)."""
    if not percent:
        return None
    ids = b"|".join(str(i).encode() for i in sorted(percent))
    return re.compile(rb'<(?:\w+:)?c\b([^>]*?\bs="(?:' + ids + rb')"[^>]*?)/?>')


def _percent_refs(percent_re: re.Pattern[bytes], data: bytes) -> set[str]:
    out = set()
    for cm in percent_re.finditer(data):
        ref = _ATTR_R.search(cm.group(1))
        if ref:
            out.add(ref.group(1).decode())
    return out


def _rc(a1: str) -> tuple[int, int] | None:
    """A1 -> (row0, col0)."""
    m = _A1_RE.fullmatch(a1)
    if not m:
        return None
    col = 0
    for ch in m.group(1):
        col = col * 26 + ord(ch) - 64
    return int(m.group(2)) - 1, col - 1


def _xlsx_hyperlinks(zf: zipfile.ZipFile, names: set[str], part: str, data: bytes) -> dict[str, str]:
    """A1 -> target of the cell hyperlinks of a sheet that lead outside the workbook."""
    rels_part = posixpath.join(posixpath.dirname(part), "_rels", posixpath.basename(part) + ".rels")
    external: dict[str, str] = {}
    if rels_part in names:
        for m in _REL_RE.finditer(zf.read(rels_part)):
            attrs = m.group(1)
            if b"hyperlink" in attrs and b'TargetMode="External"' in attrs:
                rid = _ATTR_ID.search(attrs)
                target = re.search(rb'\bTarget="([^"]*)"', attrs)
                if rid and target:
                    external[rid.group(1).decode()] = _xml_text(target.group(1))
    out: dict[str, str] = {}
    for m in _HLINK_RE.finditer(data):
        attrs = m.group(1)
        ref = re.search(rb'\bref="([A-Z]+[0-9]+)', attrs)
        rid = re.search(rb'\br:id="([^"]*)"', attrs)
        if ref and rid and rid.group(1).decode() in external:
            out[ref.group(1).decode()] = external[rid.group(1).decode()]
    return out


def _xml_text(raw: bytes) -> str:
    """Element text as the user wrote it (XML entities resolved)."""
    if b"&" not in raw:
        return raw.decode("utf-8", "replace")
    if b"&#" in raw:   # character references: the general (slower) resolver
        return html.unescape(raw.decode("utf-8", "replace"))
    # the five XML entities (a formula's "" is &quot;&quot;), &amp; last; each only where
    # it occurs (the texts of a whole sheet come here at once), in the bytes (ASCII:
    # never part of a multi-byte character), quicker than in the text
    for entity, char in _ENTITIES:
        if entity in raw:
            raw = raw.replace(entity, char)
    return raw.decode("utf-8", "replace")


_ENTITIES = ((b"&quot;", b'"'), (b"&apos;", b"'"), (b"&lt;", b"<"), (b"&gt;", b">"), (b"&amp;", b"&"))


def _core_modified(data: bytes) -> dt.datetime | None:
    m = re.search(rb"<dcterms:modified[^>]*>([^<]+)<", data) or re.search(rb"<meta:date>([^<]+)<", data)
    if not m:
        return None
    text = m.group(1).decode().strip().replace("Z", "+00:00")
    try:
        return dt.datetime.fromisoformat(text.split(".")[0] if "+" not in text else text)
    except ValueError:
        return None


def _scan_ods(zf: zipfile.ZipFile, names: set[str], only: set[str] | None) -> BookScan:
    out = BookScan(kind="ods")
    tq = f"{{{NS_TABLE}}}"
    oq = f"{{{NS_OFFICE}}}"
    xlink_href = "{http://www.w3.org/1999/xlink}href"
    text_a = f"{{{NS_TEXT}}}a"
    sheet: SheetScan | None = None
    row = 0
    col = 0
    cell_a1: str | None = None
    if any(n.startswith(("Basic/", "Scripts/")) for n in names):
        out.active.append("macro")
    if any(n.startswith("Object ") or n.startswith("ObjectReplacements/") for n in names):
        out.active.append("oggetti incorporati")
    for event, el in ET.iterparse(zf.open("content.xml"), events=("start", "end")):
        tag = el.tag
        if event == "start":
            if tag == tq + "table":
                name = el.get(tq + "name")
                sheet = SheetScan(name, protected=el.get(tq + "protected") == "true")
                out.sheets[name] = sheet
                row = 0
            elif tag == tq + "table-row" and sheet is not None:
                col = 0
            elif tag in (tq + "table-cell", tq + "covered-table-cell") and sheet is not None:
                rep = int(el.get(tq + "number-columns-repeated", "1"))
                cell_a1 = None
                if only is None or sheet.name in only:
                    formula = el.get(tq + "formula")
                    cell_a1 = _a1(row, col)
                    if formula:
                        sheet.formulas[cell_a1] = formula.split(":", 1)[1] if formula.startswith("of:") else formula
                    if el.get(oq + "value-type") == "percentage":
                        sheet.percent_cells.add(cell_a1)
                    cs = int(el.get(tq + "number-columns-spanned", "1") or 1)
                    rs = int(el.get(tq + "number-rows-spanned", "1") or 1)
                    if cs > 1 or rs > 1:
                        sheet.merged.append((row, col, row + rs - 1, col + cs - 1))
                col += rep
            elif tag == text_a and sheet is not None and cell_a1:
                href = el.get(xlink_href) or ""
                if href and not href.startswith("#"):
                    sheet.hyperlinks.setdefault(cell_a1, href)
            elif tag == "{urn:org:documentfoundation:names:experimental:calc:xmlns:calcext:1.0}condition" \
                    and sheet is not None:
                value = el.get("{urn:org:documentfoundation:names:experimental:calc:xmlns:calcext:1.0}value") or ""
                base = el.get("{urn:org:documentfoundation:names:experimental:calc:xmlns:calcext:1.0}base-cell-address") or ""
                sheet.rule_formulas.append((base.rsplit(".", 1)[-1].replace("$", ""), value))
            elif tag == tq + "content-validation":
                # validations are listed once for the whole document, before the tables
                out.validation_formulas.append((el.get(tq + "base-cell-address") or "", el.get(tq + "condition") or ""))
            elif tag == tq + "named-range":
                out.defined_names.append((el.get(tq + "name", ""), el.get(tq + "cell-range-address", ""), True))
            elif tag == tq + "named-expression":
                out.defined_names.append((el.get(tq + "name", ""), el.get(tq + "expression", ""), False))
            elif tag in (tq + "dde-source", oq + "dde-source", tq + "dde-link"):
                what = "DDE " + (el.get(oq + "dde-application") or "")
                if what.strip() not in out.dde:
                    out.dde.append(what.strip())
            elif tag in (tq + "table-source", tq + "cell-range-source"):
                what = "dati collegati a " + (el.get(xlink_href) or "un altro file")
                if what not in out.connections:
                    out.connections.append(what)
            elif tag in (oq + "event-listeners", "{urn:oasis:names:tc:opendocument:xmlns:script:1.0}event-listener"):
                if "macro" not in out.active:
                    out.active.append("macro")
        else:
            if tag == tq + "table-row" and sheet is not None:
                row += int(el.get(tq + "number-rows-repeated", "1"))
                el.clear()
            elif tag == tq + "table":
                sheet = None
    if "meta.xml" in names:
        out.modified = _core_modified(zf.read("meta.xml"))
        m = re.search(rb"<meta:generator>([^<]*)<", zf.read("meta.xml"))
        out.application = m.group(1).decode("utf-8", "replace") if m else None
    return out


def _a1(row0: int, col0: int) -> str:
    s = ""
    n = col0 + 1
    while n:
        n, r = divmod(n - 1, 26)
        s = chr(65 + r) + s
    return f"{s}{row0 + 1}"
