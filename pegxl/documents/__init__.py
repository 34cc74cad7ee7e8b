"""The documents people read on paper (documents.md): the schede obiettivo of the plan for
the Giunta (schede.py) and the Relazione sulla performance from the final workbook
(relazione.py), as .docx written with python-docx, and their PDF through a headless
LibreOffice (pdf.py).

Design decisions, documented once here:

* .docx first: the office edits the text in Word or Writer before the Giunta approves it.
  So the documents use real Word structure -- Heading 1/2/3 styles, tables whose header
  row repeats on every page (w:tblHeader), "Pagina N di M" as PAGE/NUMPAGES fields, A4.
* Every figure of the Relazione is read from the workbook (consolidated/read.py), never
  recomputed: a document equals its workbook to the cent, formatted the Italian way by
  pegxl/values.py (99,08 %, 78.622,20, 31/12/2024).
* The summary chart is a DrawingML chart (chart.py) built from the same figures: editable in
  Word and Writer, drawn by LibreOffice in the PDF, and no plotting library to install.
* Nothing in a document depends on the clock unless the caller gives `now`.
"""
from __future__ import annotations

from .pdf import find_soffice, require_soffice, to_pdf, to_pdfs
from .relazione import relazione_name, write_relazione
from .schede import schede_name, write_schede

__all__ = ["find_soffice", "relazione_name", "require_soffice", "schede_name", "to_pdf", "to_pdfs",
           "write_relazione", "write_schede"]
