"""`pegxl status`: who has sent back the template, who is missing, whom to chase first.

One row per settore of the plan, built on `validate_returns` (the same checks as `pegxl
validate`, so "utilizzabile" here means exactly what merge will accept):

- consegnato utilizzabile: one file, no errors (warnings allowed);
- con errori: one file with N errors (the annotated copy tells the settore which);
- mancante: no file for the settore in the folder;
- più file: two or more files claim the settore (I007): the office must keep one.

Files that cannot be attributed to any settore (not a pegxl template, unreadable,
encrypted, ...) are listed apart: one of them may be a missing settore's return.

"Da sollecitare" orders the settori to chase: the missing ones first (plan order), then
those with errors (most errors first), then those with more than one file.

With an archive, each settore also shows the state of its return in the cycle (inviato,
ricevuto, con errori, controllato, consolidato, validato dall'OIV: pegxl.archive.trail)
and since when. The text is a table on a wide terminal and one block per settore below
WIDE columns (an 80-column terminal); the CSV is in the export's dialect (";" and BOM).
"""
from __future__ import annotations

import datetime as dt
import io
import os
import shutil
import sys
import textwrap
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

from rich.console import Console
from rich.table import Table

from . import __version__
from .errors import (
    EXIT_OK,
    EXIT_PROBLEMS,
    EXIT_UNUSABLE,
    ErrorCode,
    Finding,
    PegxlError,
    finding,
)
from .archive.trail import StateEvent
from .export import CSV_BOM, csv_line
from .ingest import expand_paths
from .plan import Plan
from .report import escape_text, json_text
from .validators.returns import validate_returns

STATE_OK = "consegnato utilizzabile"
STATE_ERRORS = "con errori"
STATE_MISSING = "mancante"
STATE_MULTIPLE = "più file"
STATES = (STATE_OK, STATE_ERRORS, STATE_MISSING, STATE_MULTIPLE)

CSV_HEADERS = ["Codice settore", "Settore", "Responsabile", "Email", "File", "Stato", "Errori",
               "Avvisi", "Salvato il", "Priorità sollecito", "Stato nel ciclo", "Dal"]
WIDE = 120      # narrower terminals get one block per settore


@dataclass
class SectorStatus:
    """Where one settore stands. `files` are paths; `saved` is when the file was last saved
    (the workbook's own modified stamp, else the file's mtime), the latest of several."""

    sector: str
    sector_name: str | None
    manager: str | None
    email: str | None
    state: str
    files: list[str] = field(default_factory=list)
    errors: int = 0
    warnings: int = 0
    saved: dt.datetime | None = None
    priority: int | None = None   # 1 = chase first; None = nothing to chase
    cycle_state: str | None = None          # the latest state in the archive (None: no archive or none yet)
    cycle_since: dt.datetime | None = None

    @property
    def file(self) -> str | None:
        return self.files[0] if len(self.files) == 1 else None

    @property
    def file_names(self) -> str:
        return "; ".join(Path(f).name for f in self.files)

    @property
    def state_label(self) -> str:
        if self.state == STATE_ERRORS:
            return f"{STATE_ERRORS} ({self.errors})"
        if self.state == STATE_MULTIPLE:
            return f"{STATE_MULTIPLE} ({len(self.files)})"
        return self.state

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["saved"] = self.saved.isoformat(timespec="seconds") if self.saved else None
        d["cycle_since"] = self.cycle_since.isoformat(timespec="seconds") if self.cycle_since else None
        d["state_label"] = self.state_label
        return d


@dataclass
class Unassigned:
    """A file in the folder that no settore can claim, with the first reason."""

    file: str
    code: str
    message: str


@dataclass
class StatusReport:
    plan: Plan
    directory: str
    rows: list[SectorStatus]
    unassigned: list[Unassigned] = field(default_factory=list)
    validation: Any = field(default=None, repr=False)

    # ------------------------------------------------------------------ views
    def row(self, sector: str) -> SectorStatus:
        for r in self.rows:
            if r.sector == sector:
                return r
        raise KeyError(sector)

    @property
    def chase(self) -> list[SectorStatus]:
        """The settori to chase, in the order to chase them."""
        return sorted((r for r in self.rows if r.priority is not None), key=lambda r: r.priority or 0)

    def sectors_in(self, *states: str) -> list[str]:
        return [r.sector for r in self.rows if r.state in states]

    @property
    def all_in(self) -> bool:
        """Every settore has exactly one usable file."""
        return bool(self.rows) and all(r.state == STATE_OK for r in self.rows)

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.all_in else EXIT_PROBLEMS

    def counts(self) -> dict[str, int]:
        return {s: sum(1 for r in self.rows if r.state == s) for s in STATES}

    # ------------------------------------------------------------- renderers
    def to_json(self) -> str:
        doc = {
            "schema": "pegxl-status",
            "version": "1",
            "pegxl": __version__,
            "generated_at": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            "ente": self.plan.ente,
            "anno": self.plan.anno,
            "fase": self.plan.fase,
            "deadline": self.plan.deadline.isoformat() if self.plan.deadline else None,
            "directory": self.directory,
            "all_in": self.all_in,
            "counts": self.counts(),
            "sectors": [r.to_dict() for r in self.rows],
            "chase": [r.sector for r in self.chase],
            "unassigned": [asdict(u) for u in self.unassigned],
        }
        return json_text(doc)

    def to_csv(self) -> str:
        """One row per settore, Italian headers, in the export's dialect (";", BOM first:
        Italian Excel opens it in columns)."""
        buf = io.StringIO()
        buf.write(CSV_BOM)
        buf.write(csv_line(CSV_HEADERS))
        for r in self.rows:
            buf.write(csv_line([r.sector, r.sector_name, r.manager, r.email, r.file_names,
                                r.state_label, r.errors, r.warnings,
                                _show_time(r.saved), r.priority, r.cycle_state, _show_time(r.cycle_since)]))
        return buf.getvalue()

    def _title(self) -> str:
        scad = self.plan.deadline.strftime("%d/%m/%Y") if self.plan.deadline else "non indicata"
        return (f"{escape_text(self.plan.ente)} — {self.plan.anno}, {self.plan.fase} "
                f"(scadenza consegna: {scad})")

    def _blocks(self, width: int) -> list[str]:
        """One block per settore, every line within `width` columns."""
        e = escape_text
        wrap = textwrap.TextWrapper(width=max(width, 40), subsequent_indent="    ", break_on_hyphens=False)
        out: list[str] = []
        for r in self.rows:
            out.append("")
            out += wrap.wrap(f"{e(r.sector)} — {e(r.sector_name) or '—'}")
            who = e(r.manager) or "—"
            if r.email:
                who += f" <{e(r.email)}>"
            lines = [f"  Responsabile: {who}", f"  File: {e(r.file_names) or '—'}"
                     + (f" (salvato il {_show_time(r.saved)})" if r.saved else ""),
                     f"  Stato: {r.state_label}" + (f"; sollecito n. {r.priority}" if r.priority else "")]
            if r.cycle_state:
                lines.append(f"  Nel ciclo: {r.cycle_state}" + (f" dal {_show_time(r.cycle_since)}"
                                                                 if r.cycle_since else ""))
            for line in lines:
                out += wrap.wrap(line)
        return out

    def to_text(self, width: int | None = None) -> str:
        """A rich table; `width` defaults to the terminal's (COLUMNS), or 240 when not a
        terminal (a file or a pipe), so that the rows do not wrap. Below WIDE columns, one
        block per settore instead of the table."""
        if width is None:
            # COLUMNS set (as a shell exports it, or a user for a pipe) is honoured off a terminal too
            sized = sys.stdout.isatty() or os.environ.get("COLUMNS", "").isdigit()
            width = shutil.get_terminal_size((240, 24)).columns if sized else 240
        buf = io.StringIO()
        # markup off: a file name like "[red]x[/]" is shown as it is, not styled or refused
        console = Console(file=buf, width=width, force_terminal=False, color_system=None,
                          highlight=False, emoji=False, markup=False)
        e = escape_text
        with_states = any(r.cycle_state for r in self.rows)
        if width < WIDE:
            for line in textwrap.wrap(self._title(), width=max(width, 40)) + self._blocks(width) + [""]:
                console.print(line, soft_wrap=True)
        else:
            table = Table(title=self._title(), title_justify="left", show_lines=False)
            for h, kw in (("Codice", {"no_wrap": True}), ("Settore", {"overflow": "fold"}),
                          ("Responsabile", {"overflow": "fold"}), ("E-mail", {"overflow": "fold"}),
                          ("File", {"overflow": "fold"}), ("Stato", {"no_wrap": True}),
                          ("Salvato il", {"no_wrap": True}), ("Sollecito", {"justify": "right"})):
                table.add_column(h, **kw)
            if with_states:
                table.add_column("Nel ciclo", no_wrap=True)
                table.add_column("Dal", no_wrap=True)
            for r in self.rows:
                cells = [e(r.sector), e(r.sector_name), e(r.manager), e(r.email),
                         e(r.file_names) or "—", r.state_label, _show_time(r.saved),
                         str(r.priority) if r.priority else ""]
                if with_states:
                    cells += [r.cycle_state or "", _show_time(r.cycle_since)]
                table.add_row(*cells)
            console.print(table)
        c = self.counts()
        console.print(f"Settori: {len(self.rows)}; utilizzabili {c[STATE_OK]}, con errori "
                      f"{c[STATE_ERRORS]}, mancanti {c[STATE_MISSING]}, più file {c[STATE_MULTIPLE]}.")
        if self.chase:
            console.print("Da sollecitare, nell'ordine: "
                          + "; ".join(f"{e(r.sector)} {r.state_label}" for r in self.chase) + ".")
        else:
            console.print("Tutti i settori hanno consegnato un file utilizzabile.")
        for u in self.unassigned:
            console.print(f"File non attribuito a nessun settore: {e(Path(u.file).name)} — {u.code}: "
                          f"{e(u.message)}")
        return "\n".join(line.rstrip() for line in buf.getvalue().rstrip("\n").splitlines())

    def render(self, fmt: str = "text") -> str:
        if fmt == "json":
            return self.to_json()
        if fmt == "csv":
            return self.to_csv()
        return self.to_text()


def _show_time(t: dt.datetime | None) -> str:
    if t is None:
        return ""
    return t.strftime("%d/%m/%Y %H:%M")


def _latest(times: Iterable[dt.datetime | None]) -> dt.datetime | None:
    got = [t for t in times if t is not None]
    if not got:
        return None
    # mixing aware and naive stamps would raise: compare as naive local time
    return max(got, key=lambda t: t.replace(tzinfo=None) if t.tzinfo else t)


def _claimed(v: Any) -> dict[str, list]:
    """The files each settore is judged on. A file of another ente (I004) claims no
    settore. A file of this cycle (identity checked: `readable`) outranks a stale one that
    names the same settore (last year's template, another phase, an outdated plan): the
    stale one is listed apart, so that a settore that sent both is not "più file" here while
    merge takes its good file."""
    out: dict[str, list] = {}
    for sector, files in v.sector_files().items():
        mine = [rf for rf in files if not any(f.is_(ErrorCode.I004) for f in rf.findings)]
        readable = [rf for rf in mine if rf.readable]
        if readable or mine:
            out[sector] = readable or mine
    return out


def _since(text: str) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None


def status(plan: Plan, directory: str | os.PathLike | Iterable[str | os.PathLike], *,
           progress=None, jobs: int | None = None, states: dict[str, StateEvent] | None = None) -> StatusReport:
    """Where every settore of `plan` stands with the returns in `directory` (a folder, or
    several folders/files); `states`, the latest state of each settore in the archive."""
    items = [directory] if isinstance(directory, (str, os.PathLike)) else list(directory)
    for item in items:
        if not Path(item).exists():
            raise PegxlError(finding(ErrorCode.F001, file=str(item), detail="cartella inesistente"),
                             exit_code=EXIT_UNUSABLE)
    paths = expand_paths(items)
    v = validate_returns(plan, paths, progress=progress, jobs=jobs) if paths else None
    by_sector = _claimed(v) if v is not None else {}
    findings: list[Finding] = v.findings if v is not None else []
    per_file: dict[str, tuple[int, int]] = {}
    for f in findings:
        if f.file:
            e, w = per_file.get(f.file, (0, 0))
            per_file[f.file] = (e + 1, w) if f.is_error else (e, w + 1)

    rows: list[SectorStatus] = []
    s: Any   # a row of cells as typed
    for s in plan.sectors.itertuples():
        files = by_sector.get(s.sector, [])
        errors = sum(per_file.get(rf.path, (0, 0))[0] for rf in files)
        warnings = sum(per_file.get(rf.path, (0, 0))[1] for rf in files)
        if not files:
            state = STATE_MISSING
        elif len(files) > 1:
            state = STATE_MULTIPLE
        elif errors:
            state = STATE_ERRORS
        else:
            state = STATE_OK
        rows.append(SectorStatus(sector=s.sector, sector_name=s.sector_name, manager=s.manager,
                                 email=s.email, state=state, files=[rf.path for rf in files],
                                 errors=errors, warnings=warnings,
                                 saved=_latest(rf.modified for rf in files)))
        event = (states or {}).get(s.sector)
        if event is not None:
            rows[-1].cycle_state, rows[-1].cycle_since = event.state, _since(event.at)
    # the order to chase: missing (plan order), with errors (most first), more than one file
    order = {r.sector: i for i, r in enumerate(rows)}
    rank = {STATE_MISSING: 0, STATE_ERRORS: 1, STATE_MULTIPLE: 2}
    to_chase = sorted((r for r in rows if r.state in rank),
                      key=lambda r: (rank[r.state], -r.errors if r.state == STATE_ERRORS else 0,
                                     order[r.sector]))
    for i, r in enumerate(to_chase, start=1):
        r.priority = i

    unassigned: list[Unassigned] = []
    if v is not None:
        attributed = {rf.path for files in by_sector.values() for rf in files}
        for rf in v.files:
            if rf.path in attributed:
                continue
            first = next((f for f in rf.findings if f.is_error), None) or (rf.findings[0] if rf.findings else None)
            unassigned.append(Unassigned(file=rf.path, code=first.code if first else "",
                                         message=first.message if first else "file non attribuito"))
    label = ", ".join(str(i) for i in items)
    return StatusReport(plan=plan, directory=label, rows=rows, unassigned=unassigned, validation=v)
