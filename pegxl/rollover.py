"""`pegxl plan next`: the plan of the next year, from this year's plan (and the archive).

What changes, and what the report says:

- Anno becomes the new year; Fase del ciclo is kept as it is (the office sets it).
- Codes are kept, except objective codes that contain the old year as a number of their
  own, not part of a longer number ("2024_S08_01" becomes "2025_S08_01", "OB-2024-3"
  becomes "OB-2025-3", "S2024X1" becomes "S2025X1"; "S120245" or a code without the year
  is left alone). Fasi and Indicatori follow the renamed codes.
  The archive matches the renamed codes with last year's (see pegxl.archive.year_key).
- Every date moves by the same number of years: Data di riferimento, Scadenza consegna,
  Inizio previsto, Fine prevista, and the Valore atteso of `data` indicators. 29 February
  becomes 28 February in a year that is not a leap year.
- Valore anno precedente takes the value achieved in the old year, from the archive
  (`db`) when given; without the archive it is emptied (the old column held the value of
  two years before). The plan holds no achieved values: the new templates start empty.
- Neutralisations (Neutralizzata / Neutralizzato and their reasons) are cleared: they are
  decisions about one year.
- Sheet columns that are not in the contract are not carried over (said in the report).

The new plan is written atomically with write_plan; an existing file is not overwritten
unless `force`, and the source plan never.
"""
from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .archive import achieved_in
from .errors import EXIT_UNUSABLE, ErrorCode, PegxlError, finding
from .plan import load_plan
from .values import is_blank, parse_date, split_direction
from .workbook import contract as C
from .workbook.planfile import write_plan


@dataclass
class RolloverReport:
    path: Path
    old_anno: int
    new_anno: int
    renamed: dict[str, str] = field(default_factory=dict)
    previous_filled: int = 0
    previous_cleared: int = 0
    dates_moved: int = 0
    feb29: int = 0
    neutralisations_cleared: int = 0
    notes: list[str] = field(default_factory=list)

    def to_text(self) -> str:
        lines = [f"Piano {self.new_anno} scritto in {self.path} (dal piano {self.old_anno})."]
        if self.renamed:
            sample = ", ".join(f"{a} → {b}" for a, b in list(self.renamed.items())[:3])
            lines.append(f"Codici obiettivo rinominati con il nuovo anno: {len(self.renamed)} ({sample}"
                         f"{', ...' if len(self.renamed) > 3 else ''}).")
        else:
            lines.append("Codici obiettivo invariati (non contengono l'anno).")
        lines.append(f"Date spostate di {self.new_anno - self.old_anno} anno/i: {self.dates_moved}"
                     + (f" (di cui {self.feb29} dal 29 febbraio al 28 febbraio)" if self.feb29 else "") + ".")
        lines.append(f"Valore anno precedente: {self.previous_filled} dall'archivio, "
                     f"{self.previous_cleared} lasciati vuoti.")
        if self.neutralisations_cleared:
            lines.append(f"Neutralizzazioni dell'anno precedente tolte: {self.neutralisations_cleared}.")
        lines.extend(self.notes)
        lines.append(f"Controllare il nuovo piano con: pegxl plan check {self.path}")
        return "\n".join(lines)


def shift_date(d: dt.date, years: int) -> tuple[dt.date, bool]:
    """(d moved by `years`, whether 29 February became 28 February)."""
    if isinstance(d, dt.datetime):
        d = d.date()
    try:
        return d.replace(year=d.year + years), False
    except ValueError:      # 29 February into a common year
        return d.replace(year=d.year + years, day=28), True


def rename_code(code: str, old: int, new: int) -> str:
    """The code with the old year (as a number of its own) replaced by the new one."""
    return re.sub(rf"(?<!\d){old}(?!\d)", str(new), code)


def _as_date(v: Any) -> dt.date | None:
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    if is_blank(v):
        return None
    p = parse_date(v)
    return p.value if p.ok and isinstance(p.value, dt.date) else None


def plan_next(plan_path: str | os.PathLike, anno: int, out_path: str | os.PathLike,
              db: str | os.PathLike | None = None, *, force: bool = False) -> RolloverReport:
    """Write the plan of year `anno` to `out_path` from the plan at `plan_path`."""
    src, out = Path(plan_path), Path(out_path)
    plan, findings = load_plan(src)
    if plan is None:
        raise PegxlError([f for f in findings if f.is_error] or findings, exit_code=EXIT_UNUSABLE)
    anno = int(anno)
    if anno <= plan.anno:
        raise PegxlError(finding(ErrorCode.U001, detail=f"l'anno nuovo ({anno}) deve seguire quello del piano "
                                 f"({plan.anno})"), exit_code=EXIT_UNUSABLE)
    if out.resolve() == src.resolve():
        raise PegxlError(finding(ErrorCode.U001, detail="il nuovo piano non può sostituire quello di partenza: "
                                 "indicare un altro file con -o"), exit_code=EXIT_UNUSABLE)
    if out.exists() and not force:
        raise PegxlError(finding(ErrorCode.U002, file=str(out), value=str(out)), exit_code=EXIT_UNUSABLE)
    years = anno - plan.anno
    rep = RolloverReport(path=out, old_anno=plan.anno, new_anno=anno)
    errors = [f for f in findings if f.is_error]
    if errors:
        rep.notes.append(f"Attenzione: il piano di partenza ha {len(errors)} errori, riportati tali e quali.")
    if years > 1:
        rep.notes.append(f"Attenzione: il salto è di {years} anni; i valori dell'archivio sono quelli del "
                         f"{plan.anno}.")

    def moved(v: Any) -> Any:
        d = _as_date(v)
        if d is None:
            return v
        nd, f29 = shift_date(d, years)
        rep.dates_moved += 1
        rep.feb29 += int(f29)
        return nd

    previous: dict[tuple[str, int], Any] = {}
    if db is not None:
        if Path(db).exists():
            previous = achieved_in(db, plan.ente, plan.anno)
        else:
            rep.notes.append(f"Archivio {db} non trovato: Valore anno precedente lasciato vuoto.")
    else:
        rep.notes.append("Archivio non indicato (--db): Valore anno precedente lasciato vuoto.")

    def code(v: Any) -> Any:
        if is_blank(v):
            return v
        s = str(v).strip()
        new = rename_code(s, plan.anno, anno)
        if new != s:
            rep.renamed.setdefault(s, new)
        return new

    data: dict[str, Any] = {}
    data[C.SHEET_ENTE] = [
        ["Ente", plan.ente], ["Anno", anno], ["Fase del ciclo", plan.fase],
        ["Data di riferimento", moved(plan.reference_date) if plan.reference_date else None],
        ["Scadenza consegna", moved(plan.deadline) if plan.deadline else None],
        ["Ufficio referente", plan.office], ["Email ufficio", plan.office_email],
    ]
    data[C.SHEET_RULES] = [{"Regola": n, "Valore": v} for n, v, _ in plan.rules_rows]

    for spec in (C.SECTORS, C.OBJECTIVES, C.PHASES, C.INDICATORS):
        table = plan.tables.get(spec.sheet)
        if table is None:
            continue
        if table.extra:
            rep.notes.append(f"Foglio {spec.sheet}: colonne aggiuntive non riportate: {', '.join(table.extra)}.")
        rows = []
        for rec in table.df.to_dict("records"):
            r = {f: rec.get(f) for f in (c.field for c in spec.columns)}
            if spec in (C.OBJECTIVES, C.PHASES, C.INDICATORS):
                old_code = None if is_blank(r["objective"]) else str(r["objective"]).strip()
                r["objective"] = code(r["objective"])
            for col in spec.columns:
                if col.kind == "date":
                    r[col.field] = moved(r[col.field])
            if spec in (C.PHASES, C.INDICATORS):
                if not is_blank(r.get("neutralised")) or not is_blank(r.get("neutralised_reason")):
                    if not is_blank(r.get("neutralised")) and str(r.get("neutralised")).strip().lower() not in ("no", "n", "false", "0"):
                        rep.neutralisations_cleared += 1
                    r["neutralised"] = None
                    r["neutralised_reason"] = None
            if spec is C.INDICATORS:
                vt = C.canonical(r.get("value_type"), C.TIPI_VALORE)
                if vt == "data" and not is_blank(r.get("target")):
                    implied, rest = split_direction(r["target"]) if isinstance(r["target"], str) else (None, r["target"])
                    d = _as_date(rest)
                    if d is not None:
                        r["target"] = moved(d)
                        if implied and is_blank(r.get("direction")):
                            r["direction"] = implied
                try:
                    n = int(float(r.get("indicator")))  # type: ignore[arg-type]  # None: TypeError below
                except (TypeError, ValueError):
                    n = None
                value = previous.get((old_code, n)) if old_code and n is not None else None
                if value is None:
                    rep.previous_cleared += 1
                else:
                    rep.previous_filled += 1
                    if vt == "sì/no" and isinstance(value, bool):
                        value = "sì" if value else "no"
                r["previous"] = value
            rows.append({col.header: r[col.field] for col in spec.columns})
        data[spec.sheet] = rows
    write_plan(out, data)
    return rep
