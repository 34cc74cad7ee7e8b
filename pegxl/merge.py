"""`pegxl merge`: validate the returns, score them, write the consolidated workbook for the
OIV and, per settore, a copy of its return with the computed figures written back.

The originals are never modified. All or nothing (pegxl.staging): the consolidated
workbook (read back and reconciled: every value typed in the returns found again in it),
every copy and the archive transaction are prepared in a staging folder inside OUTDIR and
moved into place only when all of them succeeded; an interrupted run leaves OUTDIR as it was.

    OUTDIR/<Anno>_consolidato_OIV.xlsx
    OUTDIR/restituiti/<name of the return>.xlsx   (rebuilt from the plan: see write_back)

`pegxl.flows.merge_cycle` is the flow the CLI and the Excel ribbon run: `merge` with the archive
beside the plan (or `db`). The archive records, under the run id that the workbook's
`_pegxl` carries, every value written into the consolidated workbook, so that `pegxl oiv`
can check the OIV's copy against it.

Determinism: two merges of the same files give the same cell values. The only clock
reading inside a cell is Provenienza's «Letto il»: `now` when given, else the moment
each file was read (ReturnFile.read_at); pass `now` for byte-for-byte equal cell values
(the run id in `_pegxl` is then derived from `now` and the files instead of drawn at random).
"""
from __future__ import annotations

import datetime as dt
import gc
import os
import pickle
import select
import threading
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from .archive import fill_previous, has_run, store_cycle, stored_run
from .archive.snapshots import previous_snapshot
from .archive.trail import CHECKED, CONSOLIDATED, WITH_ERRORS
from .consolidated.calcolo import calcolo_wrapped
from .consolidated.read import max_rows, table_key
from .consolidated.records import RecordSpill
from .consolidated.typed import BySector
from .consolidated.write import (
    Consolidated,
    consolidated_name,
    finding_row,
    write_consolidated,
)
from .copies import CALCOLO, RECONCILE, CopyWriters, copy_workers, write_copies
from .errors import (
    EXIT_PROBLEMS,
    EXIT_UNUSABLE,
    ErrorCode,
    Finding,
    PegxlError,
    finding,
)
from .explain import reasons_of
from .ingest import expand_paths, require_files
from .plan import Plan
from .scoring import Scores
from .staging import Staging, interrupted, locked, new_run_id, recover
from .tables import LazyInputs, canon, clean_text, same, score, shown
from .templates.cache import TemplateCache
from .validators.progress import add_progress_findings
from .validators.returns import Share, Validation, validate_returns
from .values import is_blank, parse_date, parse_number, safe_code
from .workbook import contract as C
from .workbook.apart import Ended, apart, forks
from .workbook.ownrows import NotOwnXml, iter_own_rows
from .workbook.memory import bound_heap, release_memory
from .workbook.reader import blank_row, iter_records, iter_sheet_rows, xlsx_extents
from .writeback import CopyJob, _Fingerprint, iter_copy_jobs
from .writeback import copy_jobs as copy_jobs  # the tests' and other callers'
from .writeback import template_bytes as template_bytes
from .writeback import write_back as write_back

RETURNED_DIR = "restituiti"
OWN_FILE_MAX_BYTES = 1 << 40   # sniff's limit for the consolidated this merge has just written
Progress = Callable[[int, int, str], None]


@dataclass
class Reconciliation:
    """Every value typed in the usable returns against the same values in the
    consolidated workbook, read back from the file written."""

    typed: int = 0
    reported: int = 0
    by_sheet: dict[str, tuple[int, int]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.typed == self.reported and not self.problems

    def line(self) -> str:
        return f"Riconciliazione: {self.typed} valori inseriti, {self.reported} riportati"

    def to_dict(self) -> dict[str, Any]:
        return {"typed": self.typed, "reported": self.reported, "ok": self.ok,
                "by_sheet": {k: {"typed": a, "reported": b} for k, (a, b) in self.by_sheet.items()},
                "problems": self.problems[:50]}


@dataclass
class MergeResult:
    scores: Scores
    validation: Validation                     # its tables on disk, by chunks: see _values_only
    consolidated: Path
    returned: dict[str, Path]                  # settore -> copy with the figures written back
    sectors: list[str]                         # settori consolidated
    excluded: dict[str, str]                   # settore -> why it was left out
    missing: list[str]                         # settori without a file
    findings: list[Finding]                    # the merge's own (M002, M003)
    reconciliation: Reconciliation
    notes: list[str] = field(default_factory=list)   # e.g. an .ods copied as .xlsx
    partial: bool = False
    run_id: str = ""                           # in the workbook's _pegxl and in the archive
    archived: Any = None                       # archive.StoredCycle, or None without archive

    @property
    def paths(self) -> list[Path]:
        return [self.consolidated, *self.returned.values()]


# --------------------------------------------------------------------------- merge

def merge(plan: Plan, items: Iterable[str | os.PathLike], outdir: str | os.PathLike, *,
          partial: bool = False, now: dt.datetime | None = None,
          progress: Progress | None = None, db: str | os.PathLike | None = None,
          jobs: int | None = None, template_cache: bool = True) -> MergeResult:
    """Validate, score and write (see the module docstring); with `db`, archive the cycle
    (and what the consolidated workbook holds) before anything is moved into place.
    `template_cache`: the copies start from the templates kept on disk by earlier runs
    (pegxl.templates.cache), and keep the ones they build; False: built every time.

    Raises PegxlError: U001 (exit 2) with no file to read or an OUTDIR that would mix
    outputs with the returns; M001 (exit 1) while a file has errors, unless `partial`,
    which leaves out the settori without a usable file (M002; M003 for the missing ones);
    M004 (exit 1) with nothing usable; M005 (exit 1) if the reconciliation fails; A003
    (exit 1) if the archive refuses the cycle; M006 if the system stops the writing (disk
    full, permissions). In every one of these cases OUTDIR is left as it was."""
    outdir = Path(outdir)
    items = list(items)
    paths = require_files(expand_paths(items), items)
    _check_outdir(outdir, items, paths)
    n = len(paths)
    bound_heap()   # before any worker is forked or thread started: they inherit it

    # the previous snapshot of the year: its warnings in Anomalie, its columns in the copies
    try:
        reference = previous_snapshot(db, plan) if db is not None and Path(db).exists() else None
    except PegxlError:   # an unreadable archive: the archiving step refuses the cycle and says why
        reference = None
    # the copies are the templates `pegxl templates` sent (flows.make_templates): made from the
    # plan with Valore anno precedente (and due anni prima) filled from the archive
    try:
        shown = fill_previous(plan, db) if db is not None and Path(db).exists() else plan
    except PegxlError:   # an unreadable archive: as for the snapshot above
        shown = plan
    cache = TemplateCache.for_plan(shown, reference) if template_cache else None
    writers = CopyWriters(shown, copy_workers(jobs, n), _Fingerprint(plan), reference, cache)
    try:
        return _merge(plan, paths, outdir, writers, partial=partial, now=now, progress=progress, db=db,
                      jobs=jobs)
    finally:
        writers.close()


def _merge(plan: Plan, paths: list[Path], outdir: Path, writers: CopyWriters, *, partial: bool,
           now: dt.datetime | None, progress: Progress | None, db: str | os.PathLike | None,
           jobs: int | None) -> MergeResult:
    n = len(paths)
    total = 2 * n
    reference = writers.reference

    def read_progress(i: int, _n: int, name: str) -> None:
        if progress:
            progress(i, total, name)

    # the phases and indicators on disk once checked, read back a batch of files at a time
    v = validate_returns(plan, paths, progress=read_progress if progress else None, jobs=jobs,
                         keep_scores=True, spill=True, share=writers.share)
    for rf in v.files:   # the validation's tables hold them now: raw rows grow with the files
        rf.rows = {}
    add_progress_findings(v, reference)

    by_file: dict[str, list[Finding]] = {}
    for f in v.findings:
        if f.file:
            by_file.setdefault(f.file, []).append(f)
    error_files = {path for path, fs in by_file.items() if any(f.is_error for f in fs)}
    bad = [rf for rf in v.files if not rf.readable or rf.path in error_files]
    if bad and not partial:
        errors = [f for rf in bad for f in by_file.get(rf.path, []) if f.is_error]
        head = finding(ErrorCode.M001, value=len(bad), record=", ".join(rf.name for rf in bad))
        raise PegxlError([head, *errors], exit_code=EXIT_PROBLEMS)

    # one usable file per settore makes it consolidated
    chosen: dict[str, Any] = {}
    excluded: dict[str, str] = {}
    merge_findings: list[Finding] = []
    for sector, group in v.sector_files().items():
        usable = [rf for rf in group if rf.readable and rf.path not in error_files]
        if len(usable) == 1:
            chosen[sector] = usable[0]
            continue
        if any(f.is_(ErrorCode.I007) for rf in group for f in by_file.get(rf.path, [])):
            why = "più file per lo stesso settore (" + ", ".join(rf.name for rf in group) + ")"
        else:
            parts = []
            for rf in group:
                ne = sum(1 for f in by_file.get(rf.path, []) if f.is_error)
                parts.append(f"{ne} {'errore' if ne == 1 else 'errori'} in {rf.name}")
            why = "file con errori: " + "; ".join(parts)
        excluded[sector] = why
    order = {s: i for i, s in enumerate(plan.sector_codes)}
    for sector in sorted(excluded, key=lambda s: order.get(s, 1 << 30)):
        merge_findings.append(finding(ErrorCode.M002, record=sector, detail=excluded[sector]))
    missing = v.missing_sectors()
    for sector in missing:
        excluded[sector] = "file mancante"
        merge_findings.append(finding(ErrorCode.M003, record=sector))
    sectors = [s for s in plan.sector_codes if s in chosen]
    if not sectors:
        raise PegxlError([finding(ErrorCode.M004), *merge_findings], exit_code=EXIT_PROBLEMS)

    used = {chosen[s].path for s in sectors}
    inputs = LazyInputs(v, used)   # each table made when its sheet is written
    scores = v.scores_of(sectors)   # the validation scored these very inputs already
    if scores is None:              # other settori (--partial, a file left out): scored here
        scores = score(plan, inputs, sectors)
    _values_only(v)
    release_memory()   # what the reading freed: 70 MB at 1,000 returns, held to the end otherwise

    # copies to write back: names decided before anything is written
    notes: list[str] = []
    targets: dict[str, Path] = {}
    taken: set[str] = set()
    for s in sectors:
        rf = chosen[s]
        stem = Path(rf.path).stem
        name, k = stem + ".xlsx", 1
        while name.lower() in taken:
            # the settore's code as a file name allows ("S/03" would make a folder)
            name = f"{stem}_{safe_code(s)}" + (f"-{k}" if k > 1 else "") + ".xlsx"
            k += 1
        taken.add(name.lower())
        targets[s] = outdir / RETURNED_DIR / name
        if rf.kind == "ods" or Path(rf.path).suffix.lower() == ".ods":
            notes.append(f"{rf.name}: file .ods, la copia {name} è in formato .xlsx.")

    sector_of = {rf.path: rf.sector for rf in v.files}
    anomalies = [finding_row(f, sector_of) for f in v.findings] + \
                [finding_row(f, sector_of) for f in merge_findings]
    provenance = []
    for rf in v.files:
        is_used = rf.path in used
        note = None
        if is_used and rf.sector in targets:
            # every copy is the template rebuilt from the plan (nothing active from the return)
            note = "copia rigenerata dal modello del piano con i valori controllati del settore"
            if Path(rf.path).suffix.lower() == ".ods":
                note += " (originale .ods)"
        elif not is_used:
            note = excluded.get(rf.sector or "", "file non utilizzabile") if rf.sector else "file non utilizzabile"
        provenance.append({"name": rf.name, "sector": rf.sector, "sha256": rf.sha256,
                           "read_at": now if now is not None else rf.read_at,
                           "template_version": rf.template_version,
                           "used": "sì" if is_used else "no",
                           "copy": targets[rf.sector].name if is_used and rf.sector is not None else None,
                           "note": note,
                           # as the archive records it when the run is archived (archive.trail)
                           "state": CONSOLIDATED if is_used else
                           WITH_ERRORS if not rf.readable or rf.path in error_files else CHECKED})

    # with `now` given, two merges of the same files give the same cell values, run id included
    run_id = new_run_id() if now is None else new_run_id(
        now.isoformat(), plan.fingerprint(), *sorted(str(chosen[s].sha256) for s in sectors))
    data = Consolidated(plan=plan, inputs=inputs, scores=scores, sectors=sectors,
                        excluded={s: excluded[s] for s in plan.sector_codes if s in excluded},
                        anomalies=anomalies, provenance=provenance, created=now, run_id=run_id)
    rec = Reconciliation()

    def verify(tmp: Path) -> None:
        release_memory()   # what making the workbook freed, before the reading back adds its own
        try:   # a sheet at a time, by the workers too
            r = reconcile(v, used, tmp, share=writers.share)
        finally:
            writers.retire(RECONCILE)
        rec.typed, rec.reported, rec.by_sheet, rec.problems = r.typed, r.reported, r.by_sheet, r.problems
        if not r.ok:
            detail = (f"{r.typed} valori inseriti, {r.reported} riportati"
                      + (": " + "; ".join(r.problems[:5]) if r.problems else ""))
            raise PegxlError(finding(ErrorCode.M005, detail=detail), exit_code=EXIT_PROBLEMS)

    target = outdir / consolidated_name(plan)
    result = MergeResult(scores=scores, validation=v, consolidated=target, returned=dict(targets),
                         sectors=sectors, excluded=data.excluded, missing=missing,
                         findings=merge_findings, reconciliation=rec, notes=notes, partial=partial,
                         run_id=run_id)

    jobs_list = iter_copy_jobs(v, scores, chosen, targets)   # made one at a time as the workers take them
    if scores.explained:   # the Calcolo sheet's rows, made by the workers among the copies
        writers.prefetch_calcolo(scores, sectors, reasons_of(plan.phases, plan.indicators), calcolo_wrapped())
    writers.hold(RECONCILE)   # the reconciliation's sheets shared with them
    written = [n]

    def copied(job: CopyJob) -> None:
        written[0] += 1
        if progress:
            progress(written[0], total, job.target.name)

    def write(stage: Staging, records: RecordSpill, archive: Callable[[], None]) -> None:
        staged = (replace(j, target=stage.path(j.target.relative_to(outdir))) for j in jobs_list)

        def built() -> None:
            archive()   # the archive fills its transaction from now on

        # the consolidated workbook is written here while the workers write the copies
        try:
            write_copies(writers, staged, done=copied,
                         meanwhile=lambda: write_consolidated(data, stage.path(target.name, last=True),
                                                              verify=verify, records=records,
                                                              calcolo_text=writers.calcolo_text,
                                                              table_rows=writers.table_rows, built=built))
        finally:
            writers.retire(CALCOLO)   # a workbook without the Calcolo sheet's rows
            writers.retire(RECONCILE)

    result.archived = staged_run(outdir, run_id, "merge", write, plan=plan, result=result, db=db,
                                 owned=(RETURNED_DIR,))
    if progress:
        progress(total, total, "")
    return result


def _values_only(v: Validation) -> None:
    """Once scored, the validation's tables without each value's cell, formula and error
    (and the Excel row): they have given their findings. A merge's validation has its
    tables on disk (validators.spill): the objectives held in memory for the scoring and
    the checks over every file (OBJECTIVES_HELD) are let go too, and every table, typed
    and parsed, is read back from disk (`Validation.chunks`, a batch at a time: the copies,
    the consolidated, the reconciliation and the archive do)."""
    if v.spilled:
        v.objectives = None   # read whole from disk from now on (a new frame at each access)
        return
    for name in ("objectives", "phases", "indicators"):
        df = getattr(v, name)
        drop = [c for c in df.columns if str(c).endswith(("_cell", "_formula", "_error")) or c in ("xlrow", "record")]
        if drop:
            setattr(v, name, df.drop(columns=drop))


def staged_run(outdir: Path, run_id: str, kind: str,
               write: Callable[[Staging, RecordSpill, Callable[[], None]], None], *,
               plan: Plan, result: Any, db: str | os.PathLike | None,
               owned: tuple[str, ...] = ()) -> Any:
    """Run `write(stage, records, archive)` into a staging folder of `outdir`, archive the
    cycle in `db` (with the records written, under `run_id`) and move everything into
    place: all or nothing (pegxl.staging). Returns the archive's StoredCycle, or None
    without `db`. An interrupted run of before is finished or undone first (M007, added
    to result.findings).

    `write` may call `archive()` once `records` is complete: the archive's transaction is
    then filled while the files are finished, and committed only after they are all
    staged and journaled (_Archiving); otherwise the cycle is archived after `write`."""
    stage = Staging(outdir, run_id, kind, owned)
    archiving: _Archiving | None = None
    try:
        stage.open()
        with locked(stage.outdir), RecordSpill() as records:
            result.findings[:0] = recover(stage.outdir, keep=stage.dir.name)
            archiving = _Archiving(db, plan, result, kind, run_id, records) if db is not None else None
            try:
                write(stage, records, archiving.start if archiving is not None else _nothing)
                stage.prepare(db)
                archived = archiving.commit() if archiving is not None else None
            finally:
                if archiving is not None:
                    archiving.abort()   # after a commit: nothing to do
            stage.commit()        # past the archive commit: never undone, finished by recover()
            return archived
    except PegxlError as exc:
        if _settled(stage, archiving):
            raise
        stage.abort()
        if not stage.committing and any(f.is_(ErrorCode.F010) for f in exc.findings):
            raise interrupted(stage.outdir, exc) from exc
        raise
    except OSError as exc:
        if _settled(stage, archiving):
            raise
        stage.abort()
        if stage.committing:
            raise
        raise interrupted(stage.outdir, exc) from exc
    except BaseException:
        if not _settled(stage, archiving):
            stage.abort()
        raise


def _nothing() -> None:
    pass


class _Archiving:
    """store_cycle started (`start`) as soon as the records are complete, in a child
    process forked for it (workbook.apart) where the system forks, else in a thread: the
    archive's rows are made and inserted on another core while this process saves and
    reconciles the workbook and the workers finish the copies (in a thread it took the
    GIL from them: 12 s of CPU at 1,000 files). Its transaction waits, everything
    inserted, for the decision of this process: `commit()` (the cycle stored, or an A003
    raised here) or `abort()` (rolled back); a child whose parent has ended rolls back. A
    child that ends without its answer after committing leaves the run in the archive:
    found there by its run id. An orphaned child keeps OUTDIR's lock (staging.locked: the
    descriptor is inherited) until it has finished: no run meanwhile recovers or replaces
    the output it may be committing for."""

    POLL_MS = 1000   # between a waiting child's looks at whether its parent is still there

    def __init__(self, db: str | os.PathLike, plan: Plan, result: Any, kind: str, run_id: str,
                 records: RecordSpill):
        self.db, self.plan, self.result, self.kind, self.run_id, self.records = db, plan, result, kind, run_id, records
        self._thread: threading.Thread | None = None
        self._decided = threading.Event()   # set once the decision is sent (to the child first)
        self._go = False
        self._pipe: tuple[int, int] | None = None   # the decision, to a forked child
        self._parent = os.getpid()
        self.stored: Any = None
        self.error: BaseException | None = None

    @property
    def sent_commit(self) -> bool:
        """Whether the work was told to commit (it may have, whatever happens here next)."""
        return self._decided.is_set() and self._go

    def start(self) -> None:
        if self._thread is None:
            if forks():
                self._pipe = os.pipe()
            self._thread = threading.Thread(target=self._run, name="pegxl-archivio", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        try:
            self.stored = apart(self._store)
        except BaseException as exc:   # given to the thread that decides (commit raises it)
            self.error = exc

    def _store(self, _emit: Any) -> Any:
        if os.getpid() != self._parent:   # forked (start made the pipe)
            assert self._pipe is not None
            gc.freeze()   # the inherited heap is not walked by the collector: its pages stay shared
            os.close(self._pipe[1])   # the parent's end only: its end is the end of the pipe here
        return store_cycle(self.db, self.plan, self.result, kind=self.kind, run_id=self.run_id,
                           written=self.records if self.kind == "merge" else None, ready=self._ready)

    def _ready(self) -> None:
        if os.getpid() == self._parent:   # a thread of this process (no fork)
            self._decided.wait()
        else:
            assert self._pipe is not None
            self._go = self._answer(self._pipe[0])
        if not self._go:
            raise _Abandoned()

    def _answer(self, fd: int) -> bool:
        """In the child: whether the parent said commit (False if it ended without saying)."""
        poll = select.poll()
        poll.register(fd, select.POLLIN | select.POLLHUP)
        while not poll.poll(self.POLL_MS):
            if os.getppid() != self._parent:   # the parent has gone (killed): nobody will say
                return False
        return os.read(fd, 1) == b"c"

    def _decide(self, go: bool) -> None:
        if self._decided.is_set():
            return
        self._go = go
        if self._pipe is not None:
            try:
                os.write(self._pipe[1], b"c" if go else b"a")
            except OSError:   # the child has ended already
                pass
        self._decided.set()   # after the write: an interruption between the two sends "a" after "c", unread

    def _joined(self) -> None:
        if self._thread is not None:
            self._thread.join()
        if self._pipe is not None:
            for fd in self._pipe:
                os.close(fd)
            self._pipe = None

    def commit(self) -> Any:
        """The StoredCycle, committed (the work started here if it was not)."""
        self.start()
        self._decide(True)
        self._joined()
        if isinstance(self.error, PegxlError):
            exc = self.error
            raise PegxlError([finding(ErrorCode.A003, value=str(self.db),
                                      detail="; ".join(f.message for f in exc.findings[:1])),
                              *exc.findings], exit_code=EXIT_PROBLEMS) from exc
        if self.error is not None:
            # a child that ended without its answer (killed) may have committed before
            stored = stored_run(self.db, self.run_id) if isinstance(self.error, Ended) else None
            if stored is None:
                raise self.error
            self.error, self.stored = None, stored
        return self.stored

    def abort(self) -> None:
        """Nothing stored, unless committed already; returns once the work is done."""
        self._decide(False)
        self._joined()


def _settled(stage: Staging, archiving: _Archiving | None) -> bool:
    """After a failure here once the archive was told to commit (Ctrl-C while it
    commits, say): True when the staged run is left to the archive's word rather than
    dropped, which would leave the archive with a cycle whose files are gone: moved into
    place if the archive holds the run, kept journaled for recover() (the next run) if the
    archive cannot say now. False: nothing was committed, the run is dropped."""
    if stage.committing or archiving is None or not archiving.sent_commit:
        return False
    archiving.abort()   # nothing left to decide: waits for the work to end
    try:
        held = has_run(archiving.db, archiving.run_id)
    except Exception:   # the journal stays: recover() asks the archive at the next run
        return True
    if not held:
        return False
    try:
        stage.commit()
    except Exception:   # the journal says commit: recover() finishes the move
        pass
    return True


class _Abandoned(Exception):
    """The run stopped before its archive transaction was committed: rolled back."""


def _check_outdir(outdir: Path, items: Iterable[Any], paths: list[Path]) -> None:
    """OUTDIR must not be a folder of returns: a later merge would read our outputs."""
    out = outdir.resolve()
    folders = {Path(i).resolve() for i in items if Path(i).is_dir()}
    folders |= {p.resolve().parent for p in paths}
    if out in folders or (out / RETURNED_DIR) in folders:
        raise PegxlError(finding(ErrorCode.U001, detail=f"la cartella di uscita {outdir} contiene i file "
                                 "restituiti: indicarne un'altra (-o)"), exit_code=EXIT_UNUSABLE)


# ------------------------------------------------------------------ reconciliation

# (validation frame, raw column, consolidated field, how the typed value is compared)
_CHECKS = {
    C.SHEET_OBJECTIVES: (("status_raw", "status", "status"), ("declared_raw", "declared", "number"),
                         ("report", "report", "text"), ("deviation_reason", "deviation_reason", "text")),
    C.SHEET_PHASES: (("progress_raw", "progress", "number"), ("actual_start_raw", "actual_start", "date"),
                     ("actual_end_raw", "actual_end", "date"), ("notes", "notes", "text")),
    C.SHEET_INDICATORS: (("achieved_raw", "achieved_raw", "raw"), ("notes", "notes", "text")),
}


def _expected(kind: str, raw: Any, r: dict, fld: str) -> Any:
    """The canonical value the consolidated must show for a typed `raw`."""
    if kind == "status":
        return canon(C.canonical(raw, C.STATI) or raw)
    if kind == "number":
        p = parse_number(raw, percent_format=bool(r.get(f"{fld}_percent")))
        return canon(p.value if p.ok else raw)
    if kind == "date":
        p = parse_date(raw)
        return canon(p.value if p.ok else raw)
    if kind == "text":
        return canon(clean_text(raw))
    return canon(raw)


def reconcile(v: Validation, used: set[str], path: str | os.PathLike, share: Share | None = None) -> Reconciliation:
    """Count the non-blank inputs typed in the returns `used` and find each one again, by
    settore, codes and header, in the consolidated workbook at `path`: a sheet at a time,
    each by `share` when given (merge: its workers, with this process)."""
    rec = Reconciliation()
    limit = max_rows(v.plan)
    bound = xlsx_extents(path, bound=True, max_rows=limit)   # measured once for the three
    names = {C.SHEET_OBJECTIVES: "objectives", C.SHEET_PHASES: "phases", C.SHEET_INDICATORS: "indicators"}
    items = []
    for sheet in _CHECKS:
        # the typed rows a batch of files at a time (a merge's validation has them on disk),
        # the columns compared only, as tuples, each batch's pickled and compressed: neither
        # here nor where they are compared are a sheet's rows held at once
        wanted = _typed_columns(sheet)
        batches = [zlib.compress(pickle.dumps([tuple(r.get(c) for c in wanted) for r in iter_records(df, wanted)],
                                              pickle.HIGHEST_PROTOCOL), 1)
                   for df in v.chunks(names[sheet], used, wanted)]
        items.append((str(path), sheet, batches, limit, bound))
    made = share(_sheet_in_process, items) if share is not None else (reconcile_sheet(*item) for item in items)
    for sheet, (typed, reported, problems) in zip(_CHECKS, made):
        rec.problems += problems
        rec.by_sheet[sheet] = (typed, reported)
        rec.typed += typed
        rec.reported += reported
    return rec


def _typed_columns(sheet: str) -> list[str]:
    """The typed table's columns that reconcile_sheet reads: keys, then what each check needs."""
    keys = ["sector", "objective"] + (["phase"] if sheet == C.SHEET_PHASES else
                                      ["indicator"] if sheet == C.SHEET_INDICATORS else [])
    return list(dict.fromkeys(keys + [c for raw_col, fld, _ in _CHECKS[sheet]
                                      for c in (raw_col, fld.replace("_raw", "") + "_percent")]))


def _sheet_in_process(_plan: Plan, *item: Any) -> tuple[int, int, list[str]]:
    return reconcile_sheet(*item)


def reconcile_sheet(path: str, sheet: str, batches: list[bytes], limit: int,
                    bound: dict[str, tuple[int, int]]) -> tuple[int, int, list[str]]:
    """One sheet of reconcile: the values typed (`batches`: lists of tuples of
    _typed_columns, pickled and compressed), those found again, the problems."""
    specs = C.TABLES   # each sheet's TableSpec
    checks = _CHECKS[sheet]
    problems: list[str] = []
    wanted = _typed_columns(sheet)
    keys = wanted[:3 if sheet != C.SHEET_OBJECTIVES else 2]
    # one table at a time, and only the three compared: the rest of the workbook (its
    # hidden record above all, a JSON per row) would be read into memory for nothing
    # the keys and the compared fields only, streamed a row at a time: a table of 1,000
    # settori whole, as calamine's grid or as dicts of every field, is large
    at = {fld: i for i, fld in enumerate(dict.fromkeys(fld for _, fld, _ in checks))}
    fields = keys + [fld for _, fld, _ in checks]
    index: BySector | None = None
    try:
        index = _index(_table_rows(path, sheet, specs[sheet], fields, limit, bound, own=True), sheet, at)
    except NotOwnXml:   # a cell the streaming reader leaves to calamine: the sheet read again,
        pass            # outside the handler (its traceback would keep the streaming's index)
    if index is None:
        index = _index(_table_rows(path, sheet, specs[sheet], fields, limit, bound, own=False), sheet, at)
    typed = reported = 0
    # per settore, the keys of the workbook no typed row has asked for (yet): a settore's
    # rows come together (a file is never split), so only the current one's are held
    unasked: dict[Any, set[tuple]] = {}
    current: Any = None
    seen: set[tuple] = set()
    for values in (row for batch in batches for row in pickle.loads(zlib.decompress(batch))):
        r = dict(zip(wanted, values))
        key: tuple[Any, ...]
        if sheet == C.SHEET_OBJECTIVES:
            key = (r["sector"], r["objective"])
        elif sheet == C.SHEET_PHASES:
            key = (r["sector"], r["objective"], int(r["phase"]))
        else:
            key = (r["sector"], r["objective"], int(r["indicator"]))
        if key[0] != current:
            _unasked(unasked, index, current, seen)
            current, seen = key[0], set()
        seen.add(key)
        got = index.get(key[0], key)
        for raw_col, fld, kind in checks:
            raw = r.get(raw_col)
            if is_blank(raw) or (kind == "text" and not clean_text(raw)):
                if got is not None and not is_blank(got[at[fld]]):
                    problems.append(f"{sheet} {_label(key)} «{specs[sheet].header(fld)}»: "
                                    f"valore non inserito dal settore ({shown(canon(got[at[fld]]))})")
                continue
            typed += 1
            if got is None:
                problems.append(f"{sheet} {_label(key)}: riga mancante")
                continue
            want, have = _expected(kind, raw, r, fld.replace("_raw", "")), canon(got[at[fld]])
            if same(want, have):
                reported += 1
            else:
                problems.append(f"{sheet} {_label(key)} «{specs[sheet].header(fld)}»: "
                                f"inserito {shown(want)}, riportato {shown(have)}")
    _unasked(unasked, index, current, seen)
    for sector in index.sectors():   # in the workbook's order
        if unasked.get(sector):
            for k, got in index.of(sector).items():
                if k in unasked[sector] and any(not is_blank(got[at[fld]]) for _, fld, _ in checks):
                    problems.append(f"{sheet} {_label(k)}: valori senza un file di origine")
    index.close()
    return typed, reported, problems


def _index(rows: Iterable[dict[str, Any]], sheet: str, at: dict[str, int]) -> BySector:
    """By key, the compared fields' values only, kept on disk a settore at a time: the keys
    of a large sheet (80,000 phases) held at once grow with the files, at the moment the
    merge's memory is at its highest."""
    return BySector((k, tuple(r.get(f) for f in at)) for r in rows
                    if (k := table_key(sheet, r)) is not None)


def _unasked(unasked: dict[Any, set[tuple]], index: BySector, sector: Any, seen: set[tuple]) -> None:
    """The keys of `sector` in the workbook that the typed rows `seen` did not ask for."""
    if sector is None:
        return
    if sector in unasked:   # its rows came in two runs: what the second asked is asked
        unasked[sector] -= seen
    else:
        unasked[sector] = {k for k in index.of(sector) if k not in seen}


def _table_rows(path: str | os.PathLike, sheet: str, spec: Any, fields: list[str], limit: int,
                bound: dict[str, tuple[int, int]], *, own: bool) -> Iterator[dict[str, Any]]:
    """`fields` of each row of a table sheet of the consolidated, one row at a time, as
    read_table gives them (headers on row 1 found by name, rows entirely empty left out),
    without the others. `own`: streamed from the sheet's XML (workbook.ownrows, which may
    raise NotOwnXml), else read by calamine (the whole sheet at once)."""
    at: dict[str, int | None] = {}

    def columns(header: list[Any]) -> list[int]:
        by_norm: dict[str, int] = {}
        for i, h in enumerate(header):
            key = C.norm_header(h)
            if key and key not in by_norm:
                by_norm[key] = i
        at.update({f: by_norm.get(C.norm_header(spec.header(f))) for f in dict.fromkeys(fields)})
        return [col for col in at.values() if col is not None]

    # the consolidated just written, not a file from outside: no limit of a return's size
    # (1,000 settori of 80 fasi and 60 indicatori each inflate past 200 MB)
    if own:
        rows = iter_own_rows(path, sheet, columns, max_rows=limit, bound=bound,
                             max_uncompressed=OWN_FILE_MAX_BYTES)
    else:
        rows = iter_sheet_rows(path, sheet, max_rows=limit, bound=bound, max_uncompressed=OWN_FILE_MAX_BYTES)
    header = next(rows, None)
    if header is None:
        return
    if not own:
        columns(header)
    for row in rows:
        if not blank_row(row):
            yield {f: row[col] if col is not None and col < len(row) else None for f, col in at.items()}


def _label(key: tuple) -> str:
    return " / ".join(str(k) for k in key)
