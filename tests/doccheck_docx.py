"""Reading the documents back for the tests (python-docx), and the figures of a workbook read
independently of pegxl (openpyxl, by header names, rounded with decimal.Decimal).

    from doccheck_docx import blocks, sections, italian_pct
"""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import docx
from docx.document import Document
from docx.table import Table
from docx.text.paragraph import Paragraph
from openpyxl import load_workbook

NBSP = "\u00a0"


def open_doc(path: str | Path) -> Document:
    return docx.Document(str(path))


def blocks(doc: Document) -> list[tuple[str, str, Any]]:
    """The body in order: ("p", style name, text) and ("t", "", rows as lists of cell texts)."""
    out: list[tuple[str, str, Any]] = []
    for child in doc.element.body.iterchildren():
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "p":
            p = Paragraph(child, doc)
            out.append(("p", p.style.name if p.style is not None else "", p.text))
        elif tag == "tbl":
            t = Table(child, doc)
            out.append(("t", "", [[c.text for c in row.cells] for row in t.rows]))
    return out


def sections(items: list[tuple[str, str, Any]], style: str) -> dict[str, list[tuple[str, str, Any]]]:
    """The blocks under each heading of `style`, up to the next heading of that level or above."""
    level = int(style.rsplit(" ", 1)[1])
    stops = {f"Heading {k}" for k in range(1, level + 1)} | {"Title"}
    out: dict[str, list] = {}
    current: str | None = None
    for kind, st, content in items:
        if kind == "p" and st in stops:
            current = content if st == style else None
            if current is not None:
                out[current] = []
            continue
        if current is not None:
            out[current].append((kind, st, content))
    return out


def all_text(items: list[tuple[str, str, Any]]) -> str:
    parts = []
    for kind, _st, content in items:
        if kind == "p":
            parts.append(content)
        else:
            parts += ["\t".join(row) for row in content]
    return "\n".join(parts).replace(NBSP, " ")


def tables(items: list[tuple[str, str, Any]]) -> list[list[list[str]]]:
    return [[[c.replace(NBSP, " ") for c in row] for row in content] for kind, _s, content in items if kind == "t"]


# ------------------------------------------------------------- independent figures

def italian(x: float, places: int = 2) -> str:
    """78622.2 -> '78.622,20', half-up on the value as typed (its shortest repr)."""
    q = Decimal(repr(float(x))).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    whole, _, frac = f"{q:f}".partition(".")
    sign = "-" if whole.startswith("-") else ""
    whole = whole.lstrip("-")
    groups = []
    while len(whole) > 3:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    groups.insert(0, whole)
    return sign + ".".join(groups) + ("," + frac if places else "")


def italian_pct(x: float) -> str:
    return italian(x) + " %"


def sheet_rows(path: str | Path, sheet: str) -> list[dict[str, Any]]:
    """The rows of a workbook's table sheet as {header: value}: the header row is the first
    whose first cell is «Codice settore» (a title block above it is skipped)."""
    wb = load_workbook(path, data_only=True, read_only=True)
    try:
        rows = list(wb[sheet].iter_rows(values_only=True))
    finally:
        wb.close()
    start = next(i for i, r in enumerate(rows) if r and r[0] == "Codice settore")
    head = [str(h) if h is not None else "" for h in rows[start]]
    # a row written without its trailing blanks is read shorter than the header
    return [dict(zip(head, tuple(r) + (None,) * (len(head) - len(r)))) for r in rows[start + 1:]
            if r and r[0] not in (None, "")]
