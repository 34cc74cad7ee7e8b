"""The consolidated workbook for the OIV (workbooks.md section 3): writing (write.py) and reading (read.py) it; its sheets are specified in workbook/contract.py.

Sheets, in order: Sintesi, Obiettivi, Fasi, Indicatori, Anomalie, Provenienza (the public
contract, exact headers; columns of our own only after the contract's ones), then the
hidden `_pegxl` (identity and the Regole in force) and the hidden `_pegxl_valori` (the
locked content as written, one JSON record per row -- by record key on the table sheets,
by position plus a row count on Anomalie and Provenienza -- against which the OIV's copy is
checked when it comes back: see `pegxl.oiv`). The final workbook written after the OIV
(`<Anno>_consolidato_OIV_finale.xlsx`) has the same sheets plus «Differenze OIV».

Design decisions, documented once here:

* Percentages are stored as 0-100 numbers at full precision, displayed with the number
  format ``0.00" %"`` (style.PERCENT_VALUE_FORMAT) -- the same scale as every figure a
  person types in the cycle (Grado dichiarato %, Avanzamento %, Valutazione OIV %), so the
  OIV types 85 for 85 %, formulas and pivot tables see 0-100, and no figure is ever text.
  Rounding (half-up, 2 decimals) happens only in text (the Note column).
* The workbook carries everything needed to recompute: the typed inputs of every
  settore are in Obiettivi (Stato, Grado dichiarato %, Relazione, Motivazione
  scostamento), Fasi (Avanzamento %, Inizio/Fine effettiva, Note) and Indicatori (Valore
  raggiunto exactly as typed, plus «Valore letto», the value as pegxl read it). So the
  OIV's copy can be scored again without the returns.
* Nothing inside a cell depends on the clock except Provenienza's «Letto il», which is
  the `now` given by the caller, else the moment the file was read (ReturnFile.read_at):
  two merges of the same files with the same `now` give identical cell values.
* Text typed by people is always written as text (data_type "s"): a Relazione "=SUM(A1)"
  stays a string. Control characters that a .xlsx cannot hold are dropped.
* Every sheet is protected (password: templates.DEFAULT_PASSWORD; it keeps honest people
  from breaking the layout, it is not security). In the consolidated workbook the only
  unlocked cells are Valutazione OIV % (a number 0-100 or the words «Non valutabile»: custom
  validation) and Note OIV.
* The `_pegxl` identity carries the run id of the merge that wrote the workbook
  («Identificativo elaborazione»); the same records as `_pegxl_valori` (plus the identity)
  are archived under that id (`build_workbook(records=...)`), so that `pegxl oiv` checks
  the OIV's copy against what was really written, not only against itself.
"""
from __future__ import annotations
