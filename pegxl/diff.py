"""`pegxl diff`: the cells that differ between two returns of the same settore (a
resubmission), or between two archived cycles (a monitoring snapshot and the final report).

Returns are read through `validate_returns`, so values are compared by meaning, not by
how they were typed: 45% and 45 in a 0-100 column, 30/06/2024 typed as text or as a
date, an .xlsx and the .ods of the same content are the same. A value that cannot be read
is compared as typed. Archived cycles are compared on what the settori typed (the same
fields: pegxl.archive.trail.FIELDS), which is also what merge records for every
resubmission (the audit trail shown by `pegxl history --resubmissions`).
"""
from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from . import __version__
from .archive.audit import cycle_info, records_of
from .archive.trail import Change, Records, canonical, compare
from .errors import EXIT_UNUSABLE, ErrorCode, PegxlError, finding, show_value
from .ingest import ReturnFile
from .plan import Plan
from .report import escape_text, json_text
from .validators.returns import Validation, validate_returns

_OBJ = {"status": "Stato", "declared": "Grado dichiarato %", "report": "Relazione",
        "deviation_reason": "Motivazione scostamento"}
_PH = {"progress": "Avanzamento %", "actual_start": "Inizio effettivo", "actual_end": "Fine effettiva",
       "notes": "Note"}
_IND = {"achieved": "Valore raggiunto", "notes": "Note"}
_KIND = {"declared": "percento", "progress": "percento", "actual_start": "data", "actual_end": "data"}


def shown(text: str | None, kind: str) -> str:
    """A canonical value the Italian way: 30/06/2024, 85,5, 45%, sì; «(vuoto)» for none."""
    if text is None:
        return "(vuoto)"
    if kind == "data":
        try:
            return show_value(dt.date.fromisoformat(text[:10]))
        except ValueError:
            return text
    if kind in ("numero", "percentuale", "percento"):
        try:
            number = show_value(float(text))
        except ValueError:
            return text
        return number + "%" if kind == "percento" else number
    return text


def record_label(c: Change) -> str:
    """2024_S08_04, 2024_S08_04 fase 2, 2024_S08_04 indicatore 1."""
    if c.number is None:
        return c.objective
    return f"{c.objective} {'fase' if c.sheet == 'Fasi' else 'indicatore'} {c.number}"


@dataclass
class DiffReport:
    """The differences between `old` and `new` (two files, or two archived cycles)."""

    old: str
    new: str
    what: str                        # "restituzioni" | "cicli"
    ente: str
    anno: int
    changes: list[Change] = field(default_factory=list)
    sector: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return 0

    def to_dict(self) -> dict[str, Any]:
        return {"schema": "pegxl-diff", "version": "1", "pegxl": __version__, "what": self.what,
                "ente": self.ente, "anno": self.anno, "sector": self.sector, "old": self.old, "new": self.new,
                **self.details,
                "changes": [{"sector": c.sector, "sheet": c.sheet, "objective": c.objective,
                             "number": c.number, "record": record_label(c), "column": c.column,
                             "old": c.old, "new": c.new, "old_shown": shown(c.old, c.kind),
                             "new_shown": shown(c.new, c.kind)} for c in self.changes]}

    def to_json(self) -> str:
        return json_text(self.to_dict())

    def to_text(self) -> str:
        e = escape_text
        head = (f"Differenze tra {e(self.old)} e {e(self.new)} — {e(self.ente)}, {self.anno}"
                + (f", settore {e(self.sector)}" if self.sector else ""))
        if not self.changes:
            return head + ": nessuna differenza."
        lines = [f"{head}: {len(self.changes)} {'cella' if len(self.changes) == 1 else 'celle'}."]
        for c in self.changes:
            where = f"{e(c.sheet)}, {e(record_label(c))}"
            if self.sector is None:
                where = f"{e(c.sector)}: {where}"
            lines.append(f"- {where}, «{e(c.column)}»: {e(shown(c.old, c.kind))} → {e(shown(c.new, c.kind))}")
        return "\n".join(lines)

    def render(self, fmt: str = "text") -> str:
        return self.to_json() if fmt == "json" else self.to_text()


# ------------------------------------------------------------------------ two returns

def _value(parsed: Any, raw: Any) -> str | None:
    """The value read; the value as typed when it could not be read."""
    got = canonical(parsed) if not _missing(parsed) else None
    if got is None and not _missing(raw):
        got = canonical(raw if isinstance(raw, str) else show_value(raw))
    return got


def _missing(v: Any) -> bool:
    if v is None:
        return True
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _rows(df: pd.DataFrame, path: str) -> list[dict[str, Any]]:
    if df is None or df.empty or "file" not in df.columns:
        return []
    return df[df["file"] == path].to_dict("records")


def return_records(v: Validation, rf: ReturnFile) -> Records:
    """What the settore typed in `rf`, as the archive would keep it."""
    out: Records = {}
    sector = str(rf.sector)
    for r in _rows(v.objectives, rf.path):
        out[(sector, "Obiettivi", str(r["objective"]), None)] = {
            h: (_value(r.get(f), r.get(f"{f}_raw")), _KIND.get(f, "testo")) for f, h in _OBJ.items()}
    for r in _rows(v.phases, rf.path):
        out[(sector, "Fasi", str(r["objective"]), int(r["phase"]))] = {
            h: (_value(r.get(f), r.get(f"{f}_raw")), _KIND.get(f, "testo")) for f, h in _PH.items()}
    for r in _rows(v.indicators, rf.path):
        vt = r.get("value_type") or "testo"
        out[(sector, "Indicatori", str(r["objective"]), int(r["indicator"]))] = {
            h: (_value(r.get(f), r.get(f"{f}_raw")), vt if f == "achieved" else "testo") for f, h in _IND.items()}
    return out


def _identity(rf: ReturnFile) -> tuple[str, str, str, str]:
    i = rf.identity
    return (str(i.get("ente") or "").strip(), str(i.get("anno") or "").strip().removesuffix(".0"),
            str(i.get("fase") or "").strip(), str(rf.sector or i.get("sector") or "").strip())


def diff_returns(plan: Plan, old: str | os.PathLike, new: str | os.PathLike) -> DiffReport:
    """The differences between two returns of the same settore, read against `plan`.
    U010 when a file is not a readable pegxl return; U009 when they are not of the same
    ente, anno, fase and settore."""
    paths = [Path(old), Path(new)]
    for p in paths:
        if not p.is_file():
            raise PegxlError(finding(ErrorCode.U010, value=str(p), file=str(p), detail="il file non esiste"),
                             exit_code=EXIT_UNUSABLE)
    v = validate_returns(plan, paths, jobs=1)
    by_path = {Path(rf.path).resolve(): rf for rf in v.files}
    files = [by_path.get(p.resolve()) for p in paths]
    for p, rf in zip(paths, files):
        if rf is None or not rf.readable or not rf.identity or not rf.sector:
            first = next((f for f in (rf.findings if rf else []) if f.is_error), None)
            raise PegxlError(finding(ErrorCode.U010, value=str(p), file=str(p),
                                     detail=first.message if first else "non è una restituzione di un settore"),
                             exit_code=EXIT_UNUSABLE)
    a, b = files[0], files[1]
    assert a is not None and b is not None   # checked above
    ia, ib = _identity(a), _identity(b)
    if ia != ib:
        names = ("ente", "anno", "fase", "settore")
        differ = "; ".join(f"{n} «{x}» e «{y}»" for n, x, y in zip(names, ia, ib) if x != y)
        raise PegxlError(finding(ErrorCode.U009, detail=f"{a.name} e {b.name} non sono dello stesso settore "
                                                        f"({differ})"), exit_code=EXIT_UNUSABLE)
    changes = compare(return_records(v, a), return_records(v, b))
    return DiffReport(old=str(old), new=str(new), what="restituzioni", ente=ia[0], anno=int(plan.anno),
                      sector=ia[3], changes=changes,
                      details={"old_sha256": a.sha256, "new_sha256": b.sha256})


# ------------------------------------------------------------------ two snapshots

def diff_snapshots(plan: Plan, db: str | os.PathLike, old: str, new: str, *,
                   sector: str | None = None) -> DiffReport:
    """The differences between two archived cycles of the plan's ente (cycle ids, run ids
    or Fasi del ciclo: `archive.audit.cycle_info`), for every settore or one."""
    a, b = cycle_info(db, plan.ente, old), cycle_info(db, plan.ente, new)
    if a["anno"] != b["anno"]:
        raise PegxlError(finding(ErrorCode.U009, detail=f"i cicli {a['id']} e {b['id']} sono di anni diversi "
                                                        f"({a['anno']} e {b['anno']})"), exit_code=EXIT_UNUSABLE)
    ra, rb = records_of(db, int(a["id"])), records_of(db, int(b["id"]))
    if sector is not None:
        ra = {k: v for k, v in ra.items() if k[0] == sector}
        rb = {k: v for k, v in rb.items() if k[0] == sector}

    def label(c: dict[str, Any]) -> str:
        when = show_value(dt.datetime.fromisoformat(c["created_at"]).replace(tzinfo=None))
        kind = "valutazione OIV" if c["kind"] == "oiv" else "consolidamento"
        return f"ciclo {c['id']} ({c['fase']}, {kind} del {when})"

    return DiffReport(old=label(a), new=label(b), what="cicli", ente=plan.ente, anno=int(a["anno"]),
                      sector=sector, changes=compare(ra, rb),
                      details={"old_cycle": a["id"], "new_cycle": b["id"]})
