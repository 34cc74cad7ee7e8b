"""Where an xlsx keeps its worksheets: sheet name -> part of the zip, from the workbook's
own list and relationships (never a guess from the part's name)."""
from __future__ import annotations

import posixpath
import zipfile
from xml.etree import ElementTree as ET

NS_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
NS_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"


def sheet_parts(zf: zipfile.ZipFile) -> dict[str, str]:
    """Sheet name -> worksheet part, in the workbook's order; only the parts the zip has.
    Empty for a zip that is not an xlsx."""
    names = set(zf.namelist())
    if "xl/workbook.xml" not in names:
        return {}
    rels: dict[str, str] = {}
    if "xl/_rels/workbook.xml.rels" in names:
        for r in ET.fromstring(zf.read("xl/_rels/workbook.xml.rels")):
            target = r.get("Target", "")
            target = target.lstrip("/") if target.startswith("/") else posixpath.normpath(
                posixpath.join("xl", target))
            rels[r.get("Id", "")] = target
    sheets_el = ET.fromstring(zf.read("xl/workbook.xml")).find(f"{NS_MAIN}sheets")
    out: dict[str, str] = {}
    for s in (sheets_el if sheets_el is not None else []):
        part = rels.get(s.get(f"{NS_REL}id", ""))
        if part and part in names:
            out[s.get("name", "")] = part
    return out
