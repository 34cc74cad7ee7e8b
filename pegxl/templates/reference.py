"""The previous snapshot's values shown in a later snapshot's templates.

A Monitoraggio intermedio at 30/06 and the Rendicontazione finale of the same year are
separate snapshots in the archive (pegxl.archive.snapshots). The templates of the later one
show, beside Avanzamento % and Valore raggiunto, what the settore declared at the earlier
one («Avanzamento al 30/06», «Raggiunto al 30/06»): locked reference columns after the
contract columns, never read back as values (merge reads the contract columns only).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from ..workbook import contract as C
from ..workbook import style as S
from .formulas import _put, _py, _style


@dataclass(frozen=True)
class SnapshotValues:
    """What one archived snapshot holds per settore: phases' Avanzamento % and indicators'
    Valore raggiunto (as read: float, date, True/False, text)."""

    fase: str
    reference_date: dt.date | None
    cycle_id: int = 0
    phases: dict[tuple[str, str, int], float | None] = field(default_factory=dict)
    indicators: dict[tuple[str, str, int], Any] = field(default_factory=dict)

    @property
    def when(self) -> str:
        """How a column header names the snapshot: «30/06», or the fase without a date."""
        if self.reference_date is not None:
            return self.reference_date.strftime("%d/%m")
        return "monitoraggio" if self.fase == "Monitoraggio intermedio" else "rendiconto"

    @property
    def date_text(self) -> str:
        """The snapshot's Data di riferimento as a message shows it: «30/06/2024»."""
        if self.reference_date is not None:
            return self.reference_date.strftime("%d/%m/%Y")
        return "senza data di riferimento"

    @property
    def at(self) -> str:
        """«al 30/06/2024», or «nel Monitoraggio intermedio precedente» without a date."""
        return snapshot_at(self.fase, self.reference_date, " precedente")

    def column(self, sector: str, rows: Any, number: str) -> dict[int, Any]:
        """The reference value of each of `rows` (a settore's phases, `number` "phase", or
        indicators, "indicator", as Plan.sector_rows gives them) by the Excel row it is
        written on."""
        values = self.phases if number == "phase" else self.indicators
        return {r: values.get((sector, row.objective, int(getattr(row, number)))) for r, row in
                enumerate(rows, start=2)}

    @property
    def progress_header(self) -> str:
        return C.REF_PROGRESS_HEADER.format(when=self.when)

    @property
    def achieved_header(self) -> str:
        return C.REF_ACHIEVED_HEADER.format(when=self.when)


def snapshot_at(fase: str, reference_date: dt.date | None, qualifier: str = "") -> str:
    """When a snapshot's values were declared, as a message says it: «al 30/06/2024», or
    «nel Monitoraggio intermedio» / «nella Rendicontazione finale» without a date."""
    if reference_date is not None:
        return f"al {reference_date:%d/%m/%Y}"
    return ("nella " if fase == "Rendicontazione finale" else "nel ") + fase + qualifier


def shown(value: Any) -> Any:
    """A snapshot value as a template cell shows it (sì/no as words)."""
    if isinstance(value, bool):
        return "sì" if value else "no"
    return _py(value)


def add_reference_column(ws: Any, spec: C.TableSpec, header: str, values: dict[int, Any]) -> None:
    """Write the locked reference column `header` right after `spec`'s columns of `ws`,
    with `values` by Excel row (cells stay locked: the sheet is protected)."""
    col = len(spec.columns) + 1
    S.write_header(ws, [*spec.columns, C.Column(header, "reference", False, "text", 13)])
    for row, value in values.items():
        cell = _put(ws, row, col, shown(value), wrap=False)
        _style(cell, "reference_date" if isinstance(cell.value, (dt.date, dt.datetime)) else "reference")


def reference_note(ref: SnapshotValues) -> str:
    """The Istruzioni line that explains the reference columns."""
    return (f"«{ref.progress_header}» (Fasi) e «{ref.achieved_header}» (Indicatori), in azzurro: i valori "
            f"dichiarati dal settore alla rilevazione precedente ({ref.fase}, {ref.date_text}). Sono solo "
            "un riferimento, non si compilano; l'ufficio segnala un avanzamento tornato indietro o un "
            "risultato peggiorato rispetto a quei valori.")
