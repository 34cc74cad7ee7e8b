"""A horizontal bar chart as a DrawingML chart part of the .docx.

Why a chart part rather than a picture: Word and Writer show it as a chart the office can
restyle, LibreOffice draws it in the PDF, and no plotting library (matplotlib and its
dependencies) is installed for one figure. The values are cached in the chart part (there
is no embedded workbook: Word's «Modifica dati» is not available, the figures are in the
table beside the chart anyway).
"""
from __future__ import annotations

from typing import Sequence
from xml.sax.saxutils import escape

from docx.document import Document
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.opc.packuri import PackURI
from docx.opc.part import Part
from docx.oxml import parse_xml
from docx.shared import Cm

CHART_CT = "application/vnd.openxmlformats-officedocument.drawingml.chart+xml"
NS = ('xmlns:c="http://schemas.openxmlformats.org/drawingml/2006/chart" '
      'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" '
      'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"')
BAR = "2F5597"
TOTAL = "A5A5A5"
FONT = '<a:latin typeface="Arial"/><a:cs typeface="Arial"/>'


def _text_props(size_hpt: int, bold: bool = False) -> str:
    b = ' b="1"' if bold else ""
    return (f'<c:txPr><a:bodyPr/><a:lstStyle/><a:p><a:pPr><a:defRPr sz="{size_hpt}"{b}>{FONT}</a:defRPr></a:pPr>'
            '<a:endParaRPr lang="it-IT"/></a:p></c:txPr>')


def chart_xml(title: str, labels: Sequence[str], values: Sequence[float | None], *,
              highlight_last: bool = False, axis_max: float = 100) -> str:
    """The chartSpace of one bar per label (top to bottom in the given order)."""
    n = len(labels)
    cats = "".join(f'<c:pt idx="{i}"><c:v>{escape(s)}</c:v></c:pt>' for i, s in enumerate(labels))
    vals = "".join(f'<c:pt idx="{i}"><c:v>{v!r}</c:v></c:pt>' for i, v in enumerate(values) if v is not None)
    points = ""
    if highlight_last and n:
        points = (f'<c:dPt><c:idx val="{n - 1}"/><c:invertIfNegative val="0"/><c:bubble3D val="0"/>'
                  f'<c:spPr><a:solidFill><a:srgbClr val="{TOTAL}"/></a:solidFill></c:spPr></c:dPt>')
    series = (
        '<c:ser><c:idx val="0"/><c:order val="0"/>'
        '<c:tx><c:strRef><c:f>Foglio1!$B$1</c:f><c:strCache><c:ptCount val="1"/>'
        '<c:pt idx="0"><c:v>Percentuale di raggiungimento</c:v></c:pt></c:strCache></c:strRef></c:tx>'
        f'<c:spPr><a:solidFill><a:srgbClr val="{BAR}"/></a:solidFill></c:spPr>'
        f'<c:invertIfNegative val="0"/>{points}'
        '<c:dLbls><c:numFmt formatCode="0.00&quot; %&quot;" sourceLinked="0"/>'
        '<c:spPr><a:noFill/><a:ln><a:noFill/></a:ln></c:spPr>' + _text_props(900) +
        '<c:dLblPos val="outEnd"/><c:showLegendKey val="0"/><c:showVal val="1"/><c:showCatName val="0"/>'
        '<c:showSerName val="0"/><c:showPercent val="0"/><c:showBubbleSize val="0"/></c:dLbls>'
        f'<c:cat><c:strRef><c:f>Foglio1!$A$2:$A${n + 1}</c:f><c:strCache><c:ptCount val="{n}"/>{cats}'
        '</c:strCache></c:strRef></c:cat>'
        f'<c:val><c:numRef><c:f>Foglio1!$B$2:$B${n + 1}</c:f><c:numCache><c:formatCode>0.00</c:formatCode>'
        f'<c:ptCount val="{n}"/>{vals}</c:numCache></c:numRef></c:val>'
        '</c:ser>')
    return (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<c:chartSpace {NS}>'
        '<c:lang val="it-IT"/><c:roundedCorners val="0"/><c:chart>'
        f'<c:title><c:tx><c:rich><a:bodyPr/><a:lstStyle/><a:p><a:pPr><a:defRPr sz="1100" b="1">{FONT}</a:defRPr></a:pPr>'
        f'<a:r><a:rPr lang="it-IT" sz="1100" b="1">{FONT}</a:rPr><a:t>{escape(title)}</a:t></a:r></a:p></c:rich></c:tx>'
        '<c:overlay val="0"/></c:title><c:autoTitleDeleted val="0"/>'
        '<c:plotArea><c:layout/><c:barChart><c:barDir val="bar"/><c:grouping val="clustered"/>'
        f'<c:varyColors val="0"/>{series}<c:gapWidth val="60"/>'
        '<c:axId val="50010001"/><c:axId val="50010002"/></c:barChart>'
        '<c:catAx><c:axId val="50010001"/><c:scaling><c:orientation val="maxMin"/></c:scaling>'
        '<c:delete val="0"/><c:axPos val="l"/><c:numFmt formatCode="General" sourceLinked="0"/>'
        '<c:majorTickMark val="none"/><c:minorTickMark val="none"/><c:tickLblPos val="nextTo"/>'
        + _text_props(900) +
        '<c:crossAx val="50010002"/><c:crosses val="autoZero"/><c:auto val="1"/><c:lblAlgn val="ctr"/>'
        '<c:lblOffset val="100"/><c:noMultiLvlLbl val="0"/></c:catAx>'
        f'<c:valAx><c:axId val="50010002"/><c:scaling><c:orientation val="minMax"/><c:max val="{axis_max:g}"/>'
        '<c:min val="0"/></c:scaling><c:delete val="0"/><c:axPos val="b"/>'
        '<c:majorGridlines><c:spPr><a:ln w="6350"><a:solidFill><a:srgbClr val="D9D9D9"/></a:solidFill></a:ln>'
        '</c:spPr></c:majorGridlines><c:numFmt formatCode="0&quot; %&quot;" sourceLinked="0"/>'
        '<c:majorTickMark val="out"/><c:minorTickMark val="none"/><c:tickLblPos val="nextTo"/>'
        + _text_props(900) +
        '<c:crossAx val="50010001"/><c:crosses val="max"/><c:crossBetween val="between"/>'
        '<c:majorUnit val="20"/></c:valAx></c:plotArea><c:plotVisOnly val="1"/><c:dispBlanksAs val="gap"/>'
        '</c:chart>' + _text_props(900) + '</c:chartSpace>')


def add_bar_chart(doc: Document, title: str, labels: Sequence[str], values: Sequence[float | None], *,
                  highlight_last: bool = False, width_cm: float = 16.5) -> None:
    """A paragraph holding the chart, inline, `width_cm` wide and as tall as its bars need."""
    xml = chart_xml(title, labels, values, highlight_last=highlight_last,
                    axis_max=max(100.0, 10 * -(-max((v for v in values if v is not None), default=0) // 10)))
    package = doc.part.package
    partname = package.next_partname("/word/charts/chart%d.xml")
    part = Part(PackURI(str(partname)), CHART_CT, xml.encode("utf-8"), package)
    rid = doc.part.relate_to(part, RT.CHART)
    cx = int(Cm(width_cm))
    cy = int(Cm(2.8 + 0.85 * len(labels)))
    n = len(doc.inline_shapes) + 1000 + int(str(partname).rsplit("chart", 1)[1].split(".")[0])
    inline = parse_xml(
        '<wp:inline distT="0" distB="0" distL="0" distR="0" '
        'xmlns:wp="http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing" '
        f'{NS}><wp:extent cx="{cx}" cy="{cy}"/><wp:effectExtent l="0" t="0" r="0" b="0"/>'
        f'<wp:docPr id="{n}" name="Grafico {n}" descr="{escape(title, {chr(34): "&quot;"})}"/>'
        '<wp:cNvGraphicFramePr/><a:graphic><a:graphicData '
        'uri="http://schemas.openxmlformats.org/drawingml/2006/chart">'
        f'<c:chart r:id="{rid}"/></a:graphicData></a:graphic></wp:inline>')
    run = doc.add_paragraph().add_run()
    drawing = parse_xml('<w:drawing xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"/>')
    drawing.append(inline)
    run._r.append(drawing)
