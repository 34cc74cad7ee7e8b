"""The user-facing flows: one function per thing a person does with pegxl.

The CLI (`pegxl/cli.py`, `pegxl/commands/`), the Excel ribbon (`pegxl/macros/actions.py`)
and the demo (`pegxl/demo.py`) call these functions the same way; they only parse their
arguments before and present the result after. A behaviour that must be the same on
every front end (the archive of a merge, the previous years in the templates) lives here.

    plan -> templates -> returns -> tables -> scores -> workbooks and documents

The stages are called through their modules (`returns.validate_returns`, ...), so that a
test replacing a stage function sees every front end use the replacement.

`db` is the archive of the cycles: BESIDE_PLAN (pegxl-archivio.sqlite beside the plan),
a path, or None (no archive).
"""
from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from . import archive, documents, ingest, mail, rollover, templates
from . import diff as diff_stage
from . import export as export_stage
from . import merge as merge_stage
from . import oiv as oiv_stage
from . import status as status_stage
from .annotate import annotate_files
from .archive import BESIDE_PLAN, resolve_db, snapshots
from .archive import audit
from .archive.trail import SENT, StateEvent, stamp
from .errors import ErrorCode, Finding, PegxlError, finding
from .explain import FIGURE_STEP, Explainer, Step, reasons_of
from .plan import Plan
from .templates.reference import SnapshotValues
from .validators import plan as plan_checks
from .validators import returns
from .validators.progress import add_progress_findings

Progress = Callable[[int, int, str], None]

__all__ = ["BESIDE_PLAN", "Checked", "Explanation", "check_plan", "checked_plan", "diff_returns", "diff_snapshots",
           "explain", "export", "make_templates", "merge_cycle", "next_year", "oiv_cycle", "pdf_of",
           "previous_snapshot", "previous_years_archive", "relazione", "returns_in", "schede", "send",
           "states_archive", "status", "validate"]


# ------------------------------------------------------------------------------ the plan

def check_plan(plan_path: str | os.PathLike) -> tuple[Plan | None, list[Finding]]:
    """`pegxl plan check`, «Controlla piano»: the plan (None if unreadable) and every finding."""
    return plan_checks.check_plan(plan_path)


def checked_plan(plan_path: str | os.PathLike) -> Plan:
    """The plan without errors, else PegxlError (exit 1) with its errors."""
    return plan_checks.read_plan(plan_path)


# ------------------------------------------------------------------------- the templates

def previous_years_archive(plan: Plan, db: Any = BESIDE_PLAN) -> Path | None:
    """The archive `make_templates` reads the previous years from: `db` when it exists."""
    source = resolve_db(plan, db)
    return Path(source) if source is not None and Path(source).exists() else None


def make_templates(plan: Plan | str | os.PathLike, outdir: str | os.PathLike, *,
                   sectors: Iterable[str] | None = None, password: str | None = None,
                   db: Any = BESIDE_PLAN, jobs: int | None = None,
                   progress: Progress | None = None) -> list[Path]:
    """`pegxl templates`, «Crea modelli»: one locked template per settore (all, or `sectors`)
    in `outdir`, in plan order, with Valore anno precedente filled from the archive `db`
    where the plan leaves it blank (`previous_years_archive`). A plan path is read and
    checked first: a plan with errors raises PegxlError before any file is written. `jobs`
    worker processes share the settori (default: the cores); `progress(i, n, path)` is
    called as each template is written."""
    if not isinstance(plan, Plan):
        plan = checked_plan(plan)
    source = previous_years_archive(plan, db)
    reference = None
    if source is not None:
        plan = archive.fill_previous(plan, source)
        reference = snapshots.previous_snapshot(source, plan)
    return templates.generate_templates(plan, outdir, sectors=list(sectors) if sectors is not None else None,
                                        password=password or templates.DEFAULT_PASSWORD, jobs=jobs,
                                        progress=progress, reference=reference)


def previous_snapshot(plan: Plan, db: Any = BESIDE_PLAN) -> SnapshotValues | None:
    """The snapshot of the same year before the plan's (Data di riferimento, fase) in the
    archive `db`, or None: its values are the templates' reference columns and what
    `validate` compares with."""
    source = previous_years_archive(plan, db)
    return snapshots.previous_snapshot(source, plan) if source is not None else None


# --------------------------------------------------------------------------- the returns

def returns_in(plan: Plan | None, items: Iterable[str | os.PathLike]) -> list[Path]:
    """The returned files among `items` (files and folders); none is a usage error (U001)."""
    items = list(items)
    paths = returns.return_paths(plan, items) if plan is not None else ingest.expand_paths(items)
    return ingest.require_files(paths, items)


@dataclass
class Checked:
    """What `validate` found: the validation and the annotated copies written."""

    validation: returns.Validation
    annotated: list[Path] = field(default_factory=list)
    previous: SnapshotValues | None = None    # the snapshot the values were compared with


def states_archive(plan: Plan, db: Any) -> Path | None:
    """Where `validate` and `status` find the states: `db` (None: nowhere), the archive
    beside the plan only when it exists (a mere check creates no archive)."""
    if isinstance(db, str) and db == BESIDE_PLAN:
        return previous_years_archive(plan, db)
    return resolve_db(plan, db)


def validate(plan: Plan, items: Iterable[str | os.PathLike], *, annotate: str | os.PathLike | None = None,
             progress: Progress | None = None, jobs: int | None = None, db: Any = None) -> Checked:
    """`pegxl validate`, «Controlla file restituiti»: every returned file checked (in `jobs`
    processes, default the cores; see `returns.validate_returns`); with `annotate`, an
    annotated copy of every file with problems written there. With `db` (see
    `states_archive`), each settore's file moves to ricevuto, then con errori or controllato,
    and, when it holds an earlier snapshot of the year, a progress gone back or a result
    worsened since then is a warning; so is, at a monitoring, a phase past its Fine prevista
    and not at 100 (with or without `db`)."""
    v = returns.validate_returns(plan, list(items), progress=progress, jobs=jobs)
    try:
        previous = previous_snapshot(plan, db) if db is not None else None
    except PegxlError as exc:   # the files were checked: an unreadable archive only loses the comparison
        previous = None
        v.findings.append(finding(ErrorCode.A007, detail=_first(exc)))
    add_progress_findings(v, previous)
    written = annotate_files(v.findings, annotate) if annotate is not None and v.findings else []
    target = states_archive(plan, db)
    if target is not None:
        errors: dict[str, int] = {}
        for f in v.findings:
            if f.is_error and f.file:
                errors[f.file] = errors.get(f.file, 0) + 1
        now = stamp()
        try:
            audit.record_checked(target, plan.ente, int(plan.anno), plan.fase, [
                (rf.sector, rf.path, rf.sha256, stamp(rf.read_at) if rf.read_at else now, errors.get(rf.path, 0))
                for rf in v.files if rf.sector and not any(f.is_(ErrorCode.I004) for f in rf.findings)], now)
        except PegxlError as exc:     # the check itself is done: said, not lost
            v.findings.append(finding(ErrorCode.A011, value=str(target), detail=_first(exc)))
    return Checked(v, written, previous)


def _first(exc: PegxlError) -> str:
    return exc.findings[0].message if exc.findings else str(exc)


# ----------------------------------------------------------------------- merge and OIV

def merge_cycle(plan: Plan, items: Iterable[str | os.PathLike], outdir: str | os.PathLike, *,
                db: Any = BESIDE_PLAN, partial: bool = False, now: dt.datetime | None = None,
                progress: Progress | None = None, jobs: int | None = None) -> merge_stage.MergeResult:
    """`pegxl merge`, «Consolida»: `merge.merge` archived in the same all-or-nothing step,
    in `db` (default beside the plan; None: no archive); the returns read in `jobs` processes."""
    return merge_stage.merge(plan, items, outdir, partial=partial, now=now, progress=progress,
                             db=resolve_db(plan, db), jobs=jobs)


def oiv_cycle(plan: Plan, consolidated_from_oiv: str | os.PathLike, outdir: str | os.PathLike,
              returns_dir: str | os.PathLike | None = None, *, db: Any = BESIDE_PLAN,
              store: bool = True, now: dt.datetime | None = None) -> oiv_stage.OivResult:
    """`pegxl oiv`: the OIV's workbook checked against the archive `db` (default beside the
    plan; None: only against itself, with a warning O009), the final workbook written and,
    with `store`, the oiv cycle archived -- all or nothing."""
    return oiv_stage.oiv_final(plan, consolidated_from_oiv, outdir, returns_dir, now=now,
                               db=resolve_db(plan, db), store=store, unchecked="nessun archivio indicato")


# ---------------------------------------------------------------- around the cycle

def status(plan: Plan, items: str | os.PathLike | Iterable[str | os.PathLike], *,
           progress: Progress | None = None, jobs: int | None = None, db: Any = None) -> status_stage.StatusReport:
    """`pegxl status`, «Stato consegne»: where every settore stands with its returns (read
    in `jobs` processes) and, with an archive (`states_archive`), the state of its return
    and since when."""
    return status_stage.status(plan, items, progress=progress, jobs=jobs,
                               states=audit.current_states(states_archive(plan, db), plan.ente,
                                                           int(plan.anno), plan.fase))


def send(plan: Plan, templates_dir: str | os.PathLike, *, db: Any = None, **options: Any) -> mail.SendReport:
    """`pegxl send`: each settore's template (or reminder) by e-mail; see mail.send_templates
    for the options. With `db` (BESIDE_PLAN: beside the plan, created if missing), every
    template really sent (not a reminder, not a dry run) moves its settore to inviato."""
    report = mail.send_templates(plan, templates_dir, **options)
    target = resolve_db(plan, db)
    sent = [o for o in report.sent if o.kind == mail.KIND_SEND]
    if target is not None and sent and not report.dry_run:
        now = stamp()
        try:
            audit.record_states(target, plan.ente, int(plan.anno), plan.fase,
                                [StateEvent(o.sector, SENT, now, "send", o.attachment, o.sha256) for o in sent])
        except PegxlError as exc:     # the messages are gone: said, not lost
            report.findings.append(finding(ErrorCode.E008, value=str(target), detail=_first(exc)))
    return report


def diff_returns(plan: Plan, old: str | os.PathLike, new: str | os.PathLike) -> diff_stage.DiffReport:
    """`pegxl diff A B`: the cells that differ between two returns of the same settore."""
    return diff_stage.diff_returns(plan, old, new)


def diff_snapshots(plan: Plan, old: str, new: str, *, db: Any = BESIDE_PLAN,
                   sector: str | None = None) -> diff_stage.DiffReport:
    """`pegxl diff --snapshot A --snapshot B`: the cells that differ between two archived
    cycles of the plan's ente (cycle ids, run ids or Fasi del ciclo)."""
    target = resolve_db(plan, db) or archive.default_db(plan)
    return diff_stage.diff_snapshots(plan, target, old, new, sector=sector)


def next_year(plan_path: str | os.PathLike, anno: int, out_path: str | os.PathLike, *,
              db: Any = BESIDE_PLAN, force: bool = False) -> rollover.RolloverReport:
    """`pegxl plan next`: the plan of year `anno`, with the previous years from the archive
    (the default archive only when it exists)."""
    source = archive.default_db(plan_path) if isinstance(db, str) and db == BESIDE_PLAN else db
    if isinstance(db, str) and db == BESIDE_PLAN and not Path(source).exists():
        source = None
    return rollover.plan_next(plan_path, anno, out_path, db=source, force=force)


@dataclass
class Explanation:
    """What `spiega` tells: the figure's code and kind, its steps (explain.Step), and the
    workbook they come from."""

    code: str
    kind: str
    steps: list[Step]
    workbook: Path
    ente: str = ""
    anno: int = 0

    @property
    def figure(self) -> Step | None:
        """The step of the figure explained (Raggiungimento %, Grado %, the percentage of
        the settore or the ente); None where there is none (an objective left out)."""
        want = (self.kind, FIGURE_STEP.get(self.kind))
        return next((s for s in reversed(self.steps) if (s.level, s.step) == want and s.number is not None), None)


def explain(plan: Plan, workbook: str | os.PathLike, code: str) -> Explanation:
    """`pegxl spiega`: the calculation of one figure of a consolidated or final workbook, step
    by step (`code`: objective, SETTORE:OBIETTIVO, objective:indicator, settore or ente);
    an unknown code is a PegxlError (U005-U008) with the closest codes."""
    scores, book = oiv_stage.scores_of_book(plan, workbook)
    excluded = {s: "escluso dal consolidamento" for s in plan.sector_codes if s not in set(book.sectors)}
    explainer = Explainer(scores, reasons_of(plan.phases, plan.indicators))
    kind, steps = explainer.explain(code, file=str(workbook), excluded=excluded)
    return Explanation(str(code).strip(), kind, steps, Path(workbook), plan.ente, plan.anno)


def export(plan: Plan, outdir: str | os.PathLike, *, fmt: str = "csv", db: Any = BESIDE_PLAN) -> list[Path]:
    """`pegxl export`: plan and scores as long tables for BI tools (CSV or Parquet)."""
    return export_stage.export_tables(plan, outdir, fmt=fmt, db=resolve_db(plan, db))


# ------------------------------------------------------------------------- documents

def schede(plan: Plan, outdir: str | os.PathLike, *, sectors: Iterable[str] = (), db: Any = BESIDE_PLAN,
           pdf: bool = False, force: bool = False, now: dt.datetime | None = None) -> list[Path]:
    """`pegxl schede`: the schede obiettivo of the plan for the Giunta (the ente's, and one
    per settore of `sectors`), with the values of the two years before from the archive `db`
    as the templates have them; with `pdf`, their PDF through LibreOffice."""
    source = previous_years_archive(plan, db)
    if source is not None:
        plan = archive.fill_previous(plan, source)
    return documents.write_schede(plan, outdir, sectors=sectors, pdf=pdf, force=force, now=now)


def relazione(plan: Plan, workbook: str | os.PathLike, outdir: str | os.PathLike, *, pdf: bool = False,
              force: bool = False, now: dt.datetime | None = None) -> list[Path]:
    """`pegxl relazione`: the Relazione sulla performance from the final workbook of `pegxl
    oiv` (or the consolidated one of `pegxl merge`, marked «non ancora validata dall'OIV");
    with `pdf`, its PDF through LibreOffice."""
    return documents.write_relazione(plan, workbook, outdir, pdf=pdf, force=force, now=now)


def pdf_of(paths: Iterable[str | os.PathLike], *, force: bool = False) -> list[Path]:
    """The PDF of each .docx of `paths`, beside it, in one LibreOffice run (D001 without it)."""
    return documents.to_pdfs([(p, Path(p).with_suffix(".pdf")) for p in paths], force=force)
