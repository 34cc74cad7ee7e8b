"""The Word layer shared by the documents: an A4 document with Italian styles, header and
footer ("Pagina N di M"), headings, tables with a repeated header row, Italian figures."""
from __future__ import annotations

import datetime as dt
import math
import os
import re
from pathlib import Path
from typing import Any, Iterable, Sequence
from xml.sax.saxutils import escape

from docx import Document as new_document
from docx.document import Document
from docx.enum.section import WD_ORIENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement, parse_xml
from docx.oxml.ns import nsdecls, qn
from docx.shared import Cm, Mm, Pt, RGBColor

from .. import __version__
from ..errors import ErrorCode, PegxlError, finding
from ..values import format_number, is_blank, parse_number
from ..workbook.io import atomic_path

BODY_PT = 10
TABLE_PT = 9           # never below 8 pt on paper (documents.md)
HEADER_FILL = "D9E2F3"
TOTAL_FILL = "F2F2F2"
DASH = "—"
NBSP = "\u00a0"


# --------------------------------------------------------------------------- figures

def pct(x: Any) -> str:
    """A 0-100 figure as the documents show it: '99,08 %' (half-up to the cent, a no-break
    space before %), '' for none."""
    v = _float(x)
    return "" if v is None else format_number(v) + NBSP + "%"


def num(x: Any, places: int = 2) -> str:
    """'78.622,20'; '' for none."""
    v = _float(x)
    return "" if v is None else format_number(v, places)


def date(x: Any) -> str:
    """'31/12/2024'; '' for none; text stays as it is."""
    if is_blank(x):
        return ""
    if isinstance(x, dt.datetime):
        return x.strftime("%d/%m/%Y") if x.time() == dt.time(0) else x.strftime("%d/%m/%Y %H:%M")
    if isinstance(x, dt.date):
        return x.strftime("%d/%m/%Y")
    return text(x)


def value(x: Any, value_type: str | None = None) -> str:
    """A target or a value achieved as the plan's Tipo valore shows it: numbers the Italian
    way (percentuale with ' %'), dates dd/mm/yyyy, booleans sì/no, text as written."""
    if is_blank(x):
        return ""
    if isinstance(x, bool):
        return "sì" if x else "no"
    if isinstance(x, (dt.date, dt.datetime)):
        return date(x)
    if isinstance(x, (int, float)):
        if value_type == "percentuale":
            return pct(x)
        return num(x, _places(float(x)))
    return text(x)


def _places(v: float) -> int:
    """Decimals a typed number needs: none for a count (190, not 190,00), at least two
    otherwise (78.622,20, as amounts are written), up to six (3,125)."""
    if v.is_integer():
        return 0
    places = len(repr(abs(v)).split(".")[1]) if "e" not in repr(v) else 6
    return min(max(places, 2), 6)


def text(x: Any) -> str:
    if is_blank(x):
        return ""
    if isinstance(x, float) and x.is_integer():
        return str(int(x))
    return str(x).strip()


def _float(x: Any) -> float | None:
    if isinstance(x, bool):
        return None
    p = parse_number(x)
    return float(p.value) if p.ok and p.value is not None and math.isfinite(p.value) else None


# -------------------------------------------------------------------------- document

def document(*, title: str, header: str, subject: str = "", now: dt.datetime | None = None) -> Document:
    """An empty A4 document: margins 2 cm, Italian language, body 10 pt, `header` on every
    page and "Pagina N di M" in the footer."""
    doc = new_document()
    section = doc.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.orientation = WD_ORIENT.PORTRAIT
    for side in ("left_margin", "right_margin"):
        setattr(section, side, Cm(1.8))
    section.top_margin, section.bottom_margin = Cm(2), Cm(1.8)
    section.header_distance, section.footer_distance = Cm(0.9), Cm(0.8)
    _styles(doc)
    head = section.header.paragraphs[0]
    head.text = header
    head.style = doc.styles["Header"]
    for run in head.runs:
        run.font.size = Pt(8.5)
        run.font.color.rgb = RGBColor(0x40, 0x40, 0x40)
    page_numbers(section.footer.paragraphs[0])
    props = doc.core_properties
    props.title = title
    props.subject = subject
    props.author = f"pegxl {__version__}"
    props.last_modified_by = f"pegxl {__version__}"
    props.language = "it-IT"
    props.comments = ""
    props.revision = 1
    when = (now or dt.datetime(2000, 1, 1)).replace(tzinfo=None, microsecond=0)
    props.created = props.modified = when
    props.last_printed = when
    return doc


def _styles(doc: Document) -> None:
    styles = doc.styles
    normal = styles["Normal"]
    normal.font.name = "Arial"
    normal.font.size = Pt(BODY_PT)
    normal.paragraph_format.space_after = Pt(4)
    rpr = normal.element.get_or_add_rPr()
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = OxmlElement("w:rFonts")
        rpr.append(fonts)
    for attr in ("w:ascii", "w:hAnsi", "w:cs", "w:eastAsia"):
        fonts.set(qn(attr), "Arial")
    lang = OxmlElement("w:lang")
    lang.set(qn("w:val"), "it-IT")
    rpr.append(lang)
    for name, size in (("Heading 1", 15), ("Heading 2", 12.5), ("Heading 3", 11), ("Title", 24)):
        st = styles[name]
        st.font.size = Pt(size)
        st.font.name = "Arial"
        # the template's theme fonts would win over the name in Word
        theme = st.element.rPr.find(qn("w:rFonts")) if st.element.rPr is not None else None
        for attr in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
            if theme is not None and theme.get(qn(attr)) is not None:
                del theme.attrib[qn(attr)]
        st.font.color.rgb = RGBColor(0x1F, 0x3A, 0x5F)
        st.paragraph_format.keep_with_next = True
    for name in ("Header", "Footer"):
        styles[name].font.size = Pt(8.5)


def page_numbers(paragraph: Any) -> None:
    """'Pagina N di M' with PAGE and NUMPAGES fields (Word and Writer update them)."""
    paragraph.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    paragraph.add_run("Pagina ")
    _field(paragraph, "PAGE", "1")
    paragraph.add_run(" di ")
    _field(paragraph, "NUMPAGES", "1")
    for run in paragraph.runs:
        run.font.size = Pt(8.5)


def _field(paragraph: Any, instruction: str, shown: str) -> None:
    def char(kind: str) -> Any:
        el = OxmlElement("w:fldChar")
        el.set(qn("w:fldCharType"), kind)
        return el
    run = paragraph.add_run()
    run._r.append(char("begin"))
    run = paragraph.add_run()
    instr = OxmlElement("w:instrText")
    instr.set(qn("xml:space"), "preserve")
    instr.text = f" {instruction} "
    run._r.append(instr)
    run = paragraph.add_run()
    run._r.append(char("separate"))
    paragraph.add_run(shown)
    run = paragraph.add_run()
    run._r.append(char("end"))


def heading(doc: Document, content: str, level: int, *, new_page: bool = False) -> Any:
    """A real Word heading (Heading 1-3, Title for 0); `new_page` starts it on a new page
    (page break before, not an empty paragraph left at the top of the page)."""
    h = doc.add_heading(content, level=level)
    if level == 0:
        h.alignment = WD_ALIGN_PARAGRAPH.CENTER
    if new_page:
        h.paragraph_format.page_break_before = True
    return h


def para(doc: Document, content: str = "", *, bold: bool = False, italic: bool = False,
         size: float | None = None, align: str | None = None, style: str | None = None) -> Any:
    p = doc.add_paragraph(style=style)
    if content:
        run = p.add_run(content)
        run.bold = bold or None
        run.italic = italic or None
        if size is not None:
            run.font.size = Pt(size)
    if align == "center":
        p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    return p


def labelled(doc: Document, label: str, content: Any) -> Any:
    """'Label: content' with the label in bold (a line of a scheda)."""
    p = doc.add_paragraph()
    p.paragraph_format.space_after = Pt(2)
    p.add_run(f"{label}: ").bold = True
    p.add_run(text(content) or DASH)
    return p


def long_text(doc: Document, content: Any) -> None:
    """Text typed by people, paragraph by paragraph as they wrote it."""
    body = text(content)
    if not body:
        para(doc, DASH)
        return
    for part in body.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if part.strip():
            para(doc, part.strip())


def table(doc: Document, headers: Sequence[str] | None, rows: Iterable[Sequence[Any]], *,
          widths: Sequence[float] | None = None, right: Iterable[int] = (),
          bold_rows: Iterable[int] = (), bold_cols: Iterable[int] = (), mono: Iterable[int] = (),
          size: float = TABLE_PT) -> None:
    """A bordered table as wide as the text, whose header row repeats on every page.
    `widths` in cm (default: fitted to the content, never narrower than its longest word,
    so that a header or a date is never broken inside a word); `right` the right-aligned
    columns (figures), `bold_rows` row indices in bold (totals), `bold_cols` and `mono`
    columns in bold or in a fixed-width font. Written as one XML fragment: python-docx's
    cell by cell API is quadratic in the rows."""
    body = [[_clean(v) for v in r] for r in rows]
    head = [_clean(h) for h in headers] if headers is not None else None
    n = len(head) if head is not None else max((len(r) for r in body), default=0)
    right, bold_rows, bold_cols, mono = set(right), set(bold_rows), set(bold_cols), set(mono)
    cm = list(widths) if widths is not None else fit_widths(
        head, body, size, mono=mono, bold={j for j in range(n) if j in bold_cols or bold_rows})
    twips = [int(round(w * 567)) for w in cm]
    hs = int(round(size * 2))
    out = [f'<w:tbl {nsdecls("w")}><w:tblPr><w:tblStyle w:val="TableGrid"/>'
           f'<w:tblW w:w="{sum(twips)}" w:type="dxa"/><w:jc w:val="center"/><w:tblLayout w:type="fixed"/>'
           f'<w:tblCellMar><w:left w:w="{CELL_MARGIN}" w:type="dxa"/><w:right w:w="{CELL_MARGIN}" w:type="dxa"/>'
           '</w:tblCellMar><w:tblLook w:val="04A0" w:firstRow="1" w:lastRow="0" w:firstColumn="0" '
           'w:lastColumn="0" w:noHBand="0" w:noVBand="1"/></w:tblPr><w:tblGrid>']
    out += [f'<w:gridCol w:w="{w}"/>' for w in twips]
    out.append("</w:tblGrid>")

    def row(cells: Sequence[str], *, header: bool, bold: bool) -> None:
        # a row is kept on one page unless it is too long to fit one
        keep = "<w:cantSplit/>" if sum(len(c) for c in cells) < 800 else ""
        out.append("<w:tr><w:trPr>" + ("<w:tblHeader/>" if header else "") + keep + "</w:trPr>")
        for j in range(n):
            content = cells[j] if j < len(cells) else ""
            fill = HEADER_FILL if header else (TOTAL_FILL if bold else None)
            shade = f'<w:shd w:val="clear" w:color="auto" w:fill="{fill}"/>' if fill else ""
            out.append(f'<w:tc><w:tcPr><w:tcW w:w="{twips[j]}" w:type="dxa"/>{shade}</w:tcPr>')
            jc = '<w:jc w:val="right"/>' if j in right and not header else ""
            b = "<w:b/>" if header or bold or j in bold_cols else ""
            font = f'<w:rFonts w:ascii="{MONO}" w:hAnsi="{MONO}" w:cs="{MONO}"/>' if j in mono else ""
            for line in content.split("\n"):
                out.append(f'<w:p><w:pPr><w:spacing w:before="0" w:after="0"/>{jc}</w:pPr>'
                           f'<w:r><w:rPr>{font}{b}<w:sz w:val="{hs}"/><w:szCs w:val="{hs}"/></w:rPr>'
                           f'<w:t xml:space="preserve">{escape(line)}</w:t></w:r></w:p>')
            out.append("</w:tc>")
        out.append("</w:tr>")

    if head is not None:
        row(head, header=True, bold=True)
    for i, cells in enumerate(body):
        row(cells, header=False, bold=i in bold_rows)
    out.append("</w:tbl>")
    after = doc.add_paragraph()
    after.paragraph_format.space_after = Pt(2)
    after._p.addprevious(parse_xml("".join(out)))


CELL_MARGIN = 57            # twips: 0,1 cm each side of a cell's text
MONO = "Courier New"
TEXT_WIDTH_CM = 17.4        # A4 less the margins
WORD_MAX_CM = 4.5
# the width of a character as a share of the font size, rounded up for DejaVu Sans (what
# LibreOffice draws when Arial and Liberation Sans are missing): digits are 0.64 em
_CHAR_EM, _BOLD_EM, _MONO_EM = 0.64, 0.71, 0.61


def fit_widths(headers: Sequence[str] | None, rows: Sequence[Sequence[str]], size: float, *,
               mono: set[int] | frozenset[int] = frozenset(), bold: set[int] | frozenset[int] = frozenset(),
               total: float = TEXT_WIDTH_CM) -> list[float]:
    """Column widths in cm: each at least its longest word (bold in the header and in the
    `bold` columns), the rest of `total` shared in proportion to how much longer each
    column's text is."""
    n = len(headers) if headers is not None else max((len(r) for r in rows), default=0)
    pad = 2 * CELL_MARGIN / 567 + 0.08

    def cm(chars: int, em: float) -> float:
        return chars * em * size / 28.35

    need, want = [0.0] * n, [0.0] * n
    for j in range(n):
        em = _MONO_EM if j in mono else _BOLD_EM if j in bold else _CHAR_EM
        texts = [r[j] for r in rows if j < len(r)]
        head = headers[j] if headers is not None else ""
        # the no-break space of "99,08 %" joins a word (str.split would break there)
        words = [len(w) for t in texts for w in _SPACES.split(t)]
        # a word longer than WORD_MAX_CM (a file name) is left to break where it must; a
        # fixed-width column (the halves of a SHA-256) never breaks
        longest = cm(max(words, default=1), em)
        need[j] = pad + max(cm(max((len(w) for w in _SPACES.split(head)), default=0), _BOLD_EM),
                            longest if j in mono else min(WORD_MAX_CM, longest))
        lines = [len(x) for t in texts for x in t.split("\n")]
        want[j] = max(need[j], pad + cm(max(lines, default=0), em))
    spare = total - sum(need)
    if spare <= 0:      # too many columns: never wider than the page
        return [m * total / sum(need) for m in need]
    extra = [w - m for w, m in zip(want, need)]
    if sum(extra) <= spare:
        return [w + (spare - sum(extra)) * w / sum(want) for w in want] if sum(want) else need
    return [m + spare * e / sum(extra) for m, e in zip(need, extra)]


_SPACES = re.compile(r"[ \t\n]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(v: Any) -> str:
    """A cell's text: what XML can hold, lines split at newlines."""
    t = v if isinstance(v, str) else text(v)
    return _CONTROL.sub("", t.replace("\r\n", "\n").replace("\r", "\n"))


def save(doc: Document, path: str | os.PathLike, *, force: bool = False) -> Path:
    """Save atomically; an existing file is kept unless `force` (U002)."""
    target = Path(path)
    if target.exists() and not force:
        raise PegxlError(finding(ErrorCode.U002, value=str(target), file=str(target)))
    with atomic_path(target, suffix=".tmp.docx") as tmp:
        doc.save(str(tmp))
    return target
