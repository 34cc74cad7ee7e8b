"""`pegxl validate`: every returned workbook checked against the plan, every problem located.

Each file is read and its values checked in one pass, in worker processes (identity,
integrity, raw inputs: `pegxl.ingest`; formulas, limits, parsing: `.content`). The
parsed columns come back in input order and are checked a batch of files at a time,
while the workers read the next ones, with pandera schemas over the combined tables and
one scoring per batch (V009, V040-V042), so a thousand files cost a few validation calls
per table, not a thousand; what needs every file (two files of one settore, I007) is
checked at the end.
"""
from __future__ import annotations

import datetime as dt
import gc
import os
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import AbstractSet, Any, Callable, Iterable, Iterator, Mapping

import pandas as pd
import pandera.pandas as pa

from ..errors import ERROR, ErrorCode, Finding, finding, show_value
from ..ingest import PlanIndex, ReturnFile, expand_paths, read_return
from ..plan import Plan
from ..combine import combine
from ..scoring import Scores, compute
from ..tables import score_input
from ..templates.generate import default_jobs
from ..values import is_blank
from ..workbook import contract as C
from ..workbook.memory import gc_frozen, gc_paused
from ..workbook.reader import records
from .content import FileContent, check_file, frames, indicator_targets
from .schema import coded, run_schema
from .scored import pack_group, score_findings, score_group, score_packed
from .spill import KeyedSpill, SpilledScores, TableSpill


class _HeldOrSpilled:
    """A Validation's table: the frame held in `_<name>`, else the spilled one read whole
    (a new frame at each access); setting it holds the frame given (None: read from disk)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name, self.held = name, "_" + name

    def __get__(self, v: Any, owner: type | None = None) -> pd.DataFrame:
        df = getattr(v, self.held)
        if df is not None:
            return df
        if v.spill is None:
            raise AttributeError(self.name)
        return v.spill.whole(self.name)

    def __set__(self, v: Any, df: pd.DataFrame | None) -> None:
        setattr(v, self.held, df)


@dataclass
class Validation:
    """The outcome of validating returned workbooks against a plan.

    `objectives`, `phases`, `indicators` hold one row per record of every readable file,
    with the raw value typed, the parsed value and the cell it came from. A merge's
    validation keeps its tables on disk (`spill`, without the formulas and error values:
    their findings are made): `chunks` reads them a batch of files at a time; `phases` and
    `indicators` read them whole, a new frame at each access, and `objectives` holds only
    the columns the scoring and the checks over every file read (SCORED, OBJECTIVES_HELD) until
    the merge has its scores, then is read whole from disk too."""

    plan: Plan
    files: list[ReturnFile]
    findings: list[Finding]
    _objectives: pd.DataFrame | None
    _phases: pd.DataFrame | None
    _indicators: pd.DataFrame | None
    # the settori scored: those with one readable file (a duplicate is not scored)
    scored_sectors: frozenset[str] = frozenset()
    _scores: Any = field(default=None, repr=False)
    spill: TableSpill | None = field(default=None, repr=False)

    objectives = _HeldOrSpilled()
    phases = _HeldOrSpilled()
    indicators = _HeldOrSpilled()

    def chunks(self, name: str, files: Iterable[str] | None = None,
               columns: Iterable[str] | None = None) -> Iterator[pd.DataFrame]:
        """Table `name` ("objectives", "phases", "indicators") a batch of files at a time
        when spilled, else whole (limited to the rows of `files` when given); no empty one.
        `columns`: those the caller reads (a spilled table reads only them and "file")."""
        if name not in ("objectives", "phases", "indicators"):
            raise ValueError(f"tabella sconosciuta: {name!r}")
        held = self._phases if name == "phases" else self._indicators if name == "indicators" else self._objectives
        # a spilled table is read from disk, the objectives too (what they hold is a part)
        if (held is None or self.spilled) and self.spill is not None and self.spill.has(name):
            yield from self.spill.chunks(name, files, columns)
            return
        if held is None or held.empty:
            return
        if files is not None:
            held = held[held["file"].isin(set(files))]
        if len(held):
            yield held

    def batches(self, files: Iterable[str] | None = None, columns: Mapping[str, Iterable[str]] | None = None,
                ) -> Iterator[tuple[list[str], dict[str, pd.DataFrame]]]:
        """Per batch of files (one when nothing is spilled): its files in input order and
        its rows of each table ("objectives", "phases", "indicators"), limited to `files`
        when given; a table without a row left out. `columns`: as in `chunks`, per table."""
        keep = set(files) if files is not None else None
        order = [rf.path for rf in self.files if keep is None or rf.path in keep]
        if not self.spilled:
            tables = {name: df for name in ("objectives", "phases", "indicators")
                      for df in self.chunks(name, keep)}
            yield order, tables
            return
        assert self.spill is not None
        for held, tables in self.spill.batches(keep, columns):
            yield [p for p in order if p in held], tables

    @property
    def spilled(self) -> bool:
        return self._phases is None and self.spill is not None

    @property
    def scores(self) -> Any:
        """The Scores of `scored_sectors` (None without any), computed when first asked:
        `validate` alone does not need them (its V009, V040-V042 come from the scores of
        each batch of files), a merge or a report does."""
        if self._scores is None and self.scored_sectors and not self.objectives.empty:
            self._scores = compute(score_input(self.plan, self, sectors=self.scored_sectors), self.plan.rules)
        return self._scores

    def scores_of(self, sectors: Iterable[str]) -> Any:
        """`scores` when they cover exactly `sectors`, else None. A merge of the same files
        takes them rather than scoring the same inputs once more (the typed rows of a
        usable file are the consolidated's inputs: tables.inputs_from_validation); with
        validate_returns(keep_scores=True) they are not computed a second time either."""
        if not self.scored_sectors or set(sectors) != self.scored_sectors:
            return None
        return self.scores

    @property
    def usable_files(self) -> list[ReturnFile]:
        bad = {f.file for f in self.findings if f.is_error}
        return [rf for rf in self.files if rf.readable and rf.path not in bad]

    def file_findings(self, path: str) -> list[Finding]:
        return [f for f in self.findings if f.file == path]

    def usable(self, path: str) -> bool:
        return not any(f.is_error for f in self.findings if f.file == path)

    @property
    def all_usable(self) -> bool:
        return bool(self.files) and not any(f.is_error for f in self.findings)

    def sector_files(self) -> dict[str, list[ReturnFile]]:
        out: dict[str, list[ReturnFile]] = {}
        for rf in self.files:
            if rf.sector:
                out.setdefault(rf.sector, []).append(rf)
        return out

    def missing_sectors(self) -> list[str]:
        have = set(self.sector_files())
        return [s for s in self.plan.sector_codes if s not in have]

    def usable_sectors(self) -> list[str]:
        return [rf.sector for rf in self.usable_files if rf.sector]


def return_paths(plan: Plan, items: Iterable[str | os.PathLike]) -> list:
    """The files to read (`expand_paths`), without the plan itself: a plan kept in the
    returns' folder is not a return with errors (I001)."""
    paths = expand_paths(items)
    if plan.path:
        own = os.path.abspath(plan.path)
        paths = [p for p in paths if os.path.abspath(p) != own]
    return paths


# below this many files a pool costs more to start than it saves (unless `jobs` is given)
POOL_MIN_FILES = 16


# runs fn(plan, *args) for each args of a list, in other processes or not: the results in order
Share = Callable[[Callable[..., Any], Iterable[tuple]], Iterable[Any]]


def validate_returns(plan: Plan, items: Iterable[str | os.PathLike], *,
                     progress: Callable[[int, int, str], None] | None = None,
                     jobs: int | None = None, keep_scores: bool = False, spill: bool = False,
                     share: Share | None = None) -> Validation:
    """Validate returned workbooks (files or folders) against a checked plan.

    Each file is read and its values checked once (`read_return`: identity, tamper,
    formula and protection scan, raw inputs; `check_file`: formulas and errors over
    inputs, limits, parsing) in `jobs` worker processes (default: the cores; a pool only
    from POOL_MIN_FILES files); 1 reads them in this process. A worker sends back the
    file's findings and compact parsed columns, not its raw rows. This process checks
    the tables of a batch of files while the workers read the next ones. The files come
    back in input order, so findings and reports are the same whatever `jobs` is.

    `keep_scores`: the settori are scored once, over all files, after the reading (not a
    batch at a time while the workers read), and the Validation keeps those Scores: for
    a caller that needs them anyway (merge: `Validation.scores_of`).

    `spill`: the phases and indicators are kept on disk once checked, a batch of at most
    BATCH_MAX_FILES files at a time (`Validation.chunks`), so that the memory held does not
    grow with the files' rows (merge); with `keep_scores`, their settori are then scored
    SECTORS_SCORED_AT_ONCE at a time, each group by `share` when given (merge: its copy
    workers, idle until then, with this process)."""
    paths = return_paths(plan, items)
    # the cyclic collector off while the plan's index is made and the files' results pile
    # up (none of them in a cycle): each of its rounds walked them all again, a seventh
    # of this process's time
    with gc_paused():
        return _validate(plan, paths, jobs, progress, keep_scores, spill, share)


def _validate(plan: Plan, paths: list, jobs: int | None, progress: Callable[[int, int, str], None] | None,
              keep_scores: bool, spill: bool = False, share: Share | None = None) -> Validation:
    fingerprint = plan.fingerprint() if paths else None
    index = PlanIndex(plan) if paths else None
    workers = _workers(jobs, len(paths))
    checker = _Checker(plan, whole_scores=keep_scores, spill=TableSpill() if spill else None, share=share)
    if workers <= 1:
        targets = indicator_targets(plan) if paths else {}
        files: list[ReturnFile] = []
        contents: list[FileContent] = []
        for i, p in enumerate(paths, start=1):
            rf, content = _checked(_read_one(plan, p, fingerprint, index), targets)
            files.append(rf)
            contents.append(content)
            if progress:
                progress(i, len(paths), str(p))
            if checker.spill is not None and len(contents) >= BATCH_MAX_FILES:
                checker.add(files[len(files) - len(contents):], contents)
                contents = []
        if contents or not files:
            checker.add(files[len(files) - len(contents):], contents)
    else:
        files = _read_in_pool(plan, paths, fingerprint, index, workers, progress, checker)
    return validate_files(plan, files, checker=checker)


def _workers(jobs: int | None, n_files: int) -> int:
    if jobs is None:
        return min(default_jobs(), n_files) if n_files >= POOL_MIN_FILES else 1
    if jobs < 1:
        raise ValueError("jobs must be at least 1")
    return min(jobs, n_files)


def _read_one(plan: Plan, path: str | os.PathLike, fingerprint: str | None,
              index: PlanIndex | None) -> ReturnFile:
    """`read_return`, with an unexpected failure turned into this file's F002."""
    try:
        return read_return(plan, path, fingerprint=fingerprint, index=index)
    except Exception as exc:  # one file we cannot read must not stop the others
        rf = ReturnFile(path=str(path))
        rf.add(ErrorCode.F002, detail=f"errore imprevisto nella lettura: {type(exc).__name__}: {str(exc)[:150]}")
        return rf


def _checked(rf: ReturnFile, targets: dict) -> tuple[ReturnFile, FileContent]:
    """The file and its checked values; its raw rows dropped (the columns hold them now)."""
    content = check_file(rf, targets)
    rf.rows = {}
    return rf, content


# what a worker process keeps from its initializer: the plan, its fingerprint and index,
# sent once per worker rather than with every file
_WORKER: dict[str, Any] = {}


def _init_worker(plan: Plan, fingerprint: str | None, index: PlanIndex | None) -> None:
    warnings.simplefilter("ignore")   # the libraries' warnings: the parent reports findings only
    gc.enable()   # forked while the parent had it paused: a worker's garbage is its own
    _WORKER.update(plan=plan, fingerprint=fingerprint, index=index, targets=indicator_targets(plan))


def _read_in_worker(path: str) -> tuple[ReturnFile, FileContent]:
    rf = _read_one(_WORKER["plan"], path, _WORKER["fingerprint"], _WORKER["index"])
    return _checked(rf, _WORKER["targets"])


# files checked together as they come back from the pool (the last batch is checked after
# the workers are done, the others while they read): a batch costs one scoring and one
# validation per table, whatever its size
BATCH_MIN_FILES = 50
BATCHES = 8
# with a spill (see TableSpill): a batch's results, its frames and its checks are what the
# reading holds at once, so a merge's batches are as small as a validation's smallest
# (1,000 returns in batches of 125 held 21 MB more at the end of the reading than of 50)
BATCH_MAX_FILES = 50
SECTORS_SCORED_AT_ONCE = 50   # settori a merge scores at once (see _Checker._whole)


def _read_in_pool(plan: Plan, paths: list, fingerprint: str | None, index: PlanIndex | None,
                  workers: int, progress: Callable[[int, int, str], None] | None,
                  checker: _Checker) -> list[ReturnFile]:
    """`_read_in_worker` of every path in `workers` processes, in input order, each batch
    given to `checker`. The worker functions are module-level, so the pool works with
    spawn (Windows, macOS) as with fork."""
    # small chunks: the progress moves, and a slow file does not hold a whole share back
    chunk = max(1, min(8, len(paths) // (workers * 8)))
    batch = max(BATCH_MIN_FILES, -(-len(paths) // BATCHES))
    if checker.spill is not None:   # what is held at once is a batch: bounded, whatever the files
        batch = min(batch, BATCH_MAX_FILES)
    files: list[ReturnFile] = []
    pending: list[tuple[ReturnFile, FileContent]] = []
    if index is not None:
        index.pack()   # each worker unpickles the rows of the settore it reads (see PlanIndex.pack)
    # the plan and its index frozen: the workers' collections would copy every page of them
    with gc_frozen(), ProcessPoolExecutor(workers, initializer=_init_worker,
                                          initargs=(plan, fingerprint, index)) as ex:
        results = ex.map(_read_in_worker, [str(p) for p in paths], chunksize=chunk)   # all submitted
        _warm_up()
        for i, (rf, content) in enumerate(results, start=1):
            files.append(rf)
            pending.append((rf, content))
            if progress:
                progress(i, len(paths), str(paths[i - 1]))
            if len(pending) >= batch and i < len(paths):
                checker.add([f for f, _ in pending], [c for _, c in pending])
                pending = []
    if pending:
        checker.add([f for f, _ in pending], [c for _, c in pending])
    return files


def _warm_up() -> None:
    """What the checks of all files pay once, paid while the workers read: pandera's first
    validation (it registers its backends, a fair part of a second)."""
    try:
        schema = pa.DataFrameSchema({"x": pa.Column(float, pa.Check.in_range(0, 100), nullable=True)})
        schema.validate(pd.DataFrame({"x": [1.0]}), lazy=True)
    except Exception:   # only a head start: the real checks say what is wrong
        pass


def validate_files(plan: Plan, files: list[ReturnFile], contents: list[FileContent] | None = None, *,
                   checker: _Checker | None = None) -> Validation:
    """The checks across files of `files`: by `checker`, which has been given them batch by
    batch, or here over the files' `contents` (`check_file` of each, made from their raw
    rows when not given)."""
    if checker is None:
        checker = _Checker(plan)
        if contents is None:
            targets = indicator_targets(plan)
            contents = [check_file(rf, targets) for rf in files]
        checker.add(files, contents)
    return checker.result(files)


# the columns of the phases and indicators that score_input reads
SCORED = {C.SHEET_PHASES: ["sector", "objective", "phase", "progress"],
          C.SHEET_INDICATORS: ["sector", "objective", "indicator", "achieved"]}
# the columns of the objectives that stay in memory when spilled: the scoring's, and those
# deviation_findings and ungraded_findings read over every file (a table of 28 columns is 560,000 objects
# at 1,000 returns)
OBJECTIVES_HELD = ["sector", "file", "xlrow", "record", "objective", "status", "declared", "declared_cell",
                   "deviation_reason", "deviation_reason_cell"]


def _no_formulas(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns=[c for c in df.columns if str(c).endswith(("_formula", "_error"))])


class _Checker:
    """The checks over the tables of many files, given batch by batch in input order (a
    file is never split): pandera schemas, status against progress, and the scores'
    V009, V040-V042 of the settori with one readable file. The findings of each check
    come file by file as they would over all files at once."""

    def __init__(self, plan: Plan, whole_scores: bool = False, spill: TableSpill | None = None,
                 share: Share | None = None):
        self.plan = plan
        self.share = share                   # runs the scoring of the groups (see _whole)
        self.whole_scores = whole_scores     # scored once in `result`, over every batch
        # with a spill, each batch's tables go there once checked; what stays is what the
        # scoring and the checks over every file read (SCORED, OBJECTIVES_HELD)
        self.spill = spill
        # the Scores of the only batch scored so far (None after a second): those of all
        # files when every settore came in it
        self.only_scores: tuple[frozenset[str], Any] | None = None
        self.batches_scored = 0
        self.own: list[Finding] = []          # what each file's values said (check_file)
        self.checks: list[Finding] = []
        self.scored: list[Finding] = []       # kept for the settori with one readable file in the end
        self.tables: list[dict[str, pd.DataFrame]] = []
        self.readable: dict[str, int] = {}    # settore -> readable files so far

    def add(self, files: list[ReturnFile], contents: list[FileContent]) -> None:
        plan, final = self.plan, self.plan.final
        self.own += [f for ct in contents for f in ct.findings]
        tables = frames(contents)
        self.tables.append(tables)
        obj, ph, ind = tables[C.SHEET_OBJECTIVES], tables[C.SHEET_PHASES], tables[C.SHEET_INDICATORS]
        self.checks += _check_objectives(obj, final)
        # a Rinviato / Non valutabile objective has no grade: its phases and indicators may stay blank
        excused = set() if obj.empty else {
            (f, o) for f, o, st in zip(obj["file"], obj["objective"], obj["status"]) if st in C.STATI_ESCLUSI}
        self.checks += _check_phases(ph, plan, final, excused)
        self.checks += _check_indicators(ind, final, excused)
        self.checks += _status_vs_progress(obj, ph)
        mine = []
        for rf in files:
            if rf.sector and rf.readable:
                self.readable[rf.sector] = self.readable.get(rf.sector, 0) + 1
                mine.append(rf.sector)
        # one file per settore: duplicates are reported (I007) and not scored (a settore
        # whose second file comes in a later batch loses its findings in `result`)
        single = [s for s in dict.fromkeys(mine) if self.readable[s] == 1]
        if single and not obj.empty and not self.whole_scores:
            scores = compute(score_input(plan, SimpleNamespace(objectives=obj, phases=ph, indicators=ind),
                                         sectors=single), plan.rules)
            self.scored += score_findings(plan, obj, scores)
            self.batches_scored += 1
            self.only_scores = (frozenset(single), scores) if self.batches_scored == 1 else None
        if self.spill is not None:   # what nothing reads once the findings are made stays out
            self.spill.add({"objectives": _no_formulas(obj), "phases": _no_formulas(ph),
                            "indicators": _no_formulas(ind)}, [rf.path for rf in files])
            tables[C.SHEET_OBJECTIVES] = obj[OBJECTIVES_HELD]
            tables[C.SHEET_PHASES] = ph[SCORED[C.SHEET_PHASES]]
            tables[C.SHEET_INDICATORS] = ind[SCORED[C.SHEET_INDICATORS]]

    def result(self, files: list[ReturnFile]) -> Validation:
        single = frozenset(s for s, n in self.readable.items() if n == 1)
        scored_files = {rf.path for rf in files if rf.sector is not None and rf.sector in single}
        findings: list[Finding] = [f for rf in files for f in rf.findings]
        findings += _duplicates(files)
        # each file's own findings after every file's reading findings, as they always came
        # (the sort keeps the order of equal keys)
        findings += self.own + self.checks
        obj = self._table(C.SHEET_OBJECTIVES)
        spilled = self.spill is not None   # the phases and indicators then a batch at a time from it
        held = None if spilled else (self._table(C.SHEET_PHASES), self._table(C.SHEET_INDICATORS))
        scores = None
        if self.whole_scores:
            if single and not obj.empty:
                ph, ind = held or (self._table(C.SHEET_PHASES), self._table(C.SHEET_INDICATORS))
                scores, found = self._whole(SimpleNamespace(objectives=obj, phases=ph, indicators=ind), single)
                findings += found
        else:
            findings += [f for f in self.scored if f.file is not None and f.file in scored_files]
            if self.only_scores is not None and self.only_scores[0] == single:
                scores = self.only_scores[1]         # one batch scored them all
        held_ph, held_ind = held or (None, None)
        v = Validation(self.plan, files, _sorted(findings, files), obj, held_ph, held_ind,
                       scored_sectors=single if not obj.empty else frozenset(), spill=self.spill)
        v._scores = scores
        return v

    def _table(self, sheet: str) -> pd.DataFrame:
        return _concat([t[sheet] for t in self.tables], sheet)

    def _whole(self, ns: SimpleNamespace, single: frozenset[str]) -> tuple[Scores, list[Finding]]:
        """The Scores of `single` over every batch (`ns`: the objectives, phases and
        indicators of every batch), and their V009, V040-V042. A merge's (its tables
        spilled) are made SECTORS_SCORED_AT_ONCE settori at a time and joined
        (pegxl.combine): what the scoring allocates is bounded by them, and of their exact
        figures and inputs, read only to explain a figure, the merge keeps the place on
        disk (SpilledScores), a group at a time."""
        plan, obj = self.plan, ns.objectives
        if self.spill is None:
            scores = compute(score_input(plan, ns, sectors=single), plan.rules)
            return scores, score_findings(plan, obj, scores)
        # the plan's settori, then those only its assignments name, in compute()'s order
        everyone = list(dict.fromkeys([*plan.sector_codes, *plan.assignments["sector"]]))
        order = [s for s in everyone if s in single] + sorted(single - set(everyone))
        groups = [order[i:i + SECTORS_SCORED_AT_ONCE] for i in range(0, len(order), SECTORS_SCORED_AT_ONCE)]
        kept, found, frames = KeyedSpill(), [], []
        if self.share is not None and len(groups) > 1:   # each group with its settori's rows only
            made = self.share(score_packed, ((pack_group(plan, ns, g),) for g in groups))
        else:
            made = (score_group(plan, ns, group) for group in groups)
        for i, (scores, exact, found_here) in enumerate(made):
            found += found_here
            kept.add_pickled(i, exact)
            frames.append(scores)
        joined = combine(frames, plan.rules, zip(plan.assignments["sector"], plan.assignments["objective"]), order)
        return SpilledScores.of(joined, kept, groups), found

def _concat(parts: list[pd.DataFrame], sheet: str) -> pd.DataFrame:
    """One table of the batches' (the same columns and dtypes; empty batches left out)."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return frames([])[sheet]
    if len(parts) == 1:
        return parts[0]
    return pd.concat(parts, ignore_index=True)


def _sorted(findings: list[Finding], files: list[ReturnFile]) -> list[Finding]:
    order: dict[str | None, int] = {rf.path: i for i, rf in enumerate(files)}
    sheets = {C.SHEET_IDENTITY: 0, C.SHEET_OBJECTIVES: 1, C.SHEET_PHASES: 2, C.SHEET_INDICATORS: 3}
    return sorted(findings, key=lambda f: (order.get(f.file, 1 << 30), f.severity != ERROR,
                                           sheets.get(f.sheet or "", 9), f.row or 0, f.cell or ""))


# -------------------------------------------------------------- across files

def _duplicates(files: list[ReturnFile]) -> list[Finding]:
    by_sector: dict[str, list[ReturnFile]] = {}
    for rf in files:
        if rf.sector and rf.readable:
            by_sector.setdefault(rf.sector, []).append(rf)
    out = []
    for sector, group in by_sector.items():
        if len(group) < 2:
            continue
        detail = "; ".join(f"{rf.name} (salvato il {show_value(rf.modified.replace(tzinfo=None)) if rf.modified else '?'})"
                           for rf in group)
        for rf in group:
            out.append(finding(ErrorCode.I007, file=rf.path, record=sector, detail=detail))
    return out



# ------------------------------------------------------------ pandera checks

def _extra_factory(plan: Plan):
    def extra(column: str, row: pd.Series, code: ErrorCode) -> dict[str, Any]:
        if code is ErrorCode.V005:
            return {"allowed": ", ".join(C.STATI)}
        if code is ErrorCode.V003:
            return {"start": show_value(row.get("actual_start")), "end": show_value(row.get("actual_end"))}
        if code is ErrorCode.V004:
            return {"anno": plan.anno}
        return {}
    return extra


def _required(final: bool) -> ErrorCode:
    return ErrorCode.V010 if final else ErrorCode.V011


def _check_objectives(df: pd.DataFrame, final: bool) -> list[Finding]:
    if df.empty:
        return []
    view = df.copy()
    # an unknown word is checked as typed; a blank stays blank
    view["status"] = pd.Series([s if not is_blank(s) else (None if is_blank(r) else r)
                                for s, r in zip(view["status"], view["status_raw"])],
                               index=view.index, dtype=object)
    schema = pa.DataFrameSchema({
        "status": pa.Column(None, pa.Check.isin(list(C.STATI), error=coded(ErrorCode.V005)), nullable=True),
        "declared": pa.Column(float, pa.Check.in_range(0, 100, error=coded(ErrorCode.V013)), nullable=True),
    }, checks=[
        pa.Check(lambda d: ~(d["status"].isin(C.STATI_ESCLUSI) & d["deviation_reason"].isna()),
                 error=coded(ErrorCode.V008, "deviation_reason")),
    ], strict=False)
    out = _run(schema, view, C.T_OBJECTIVES, _required(final))
    out += _missing(view, "status", C.T_OBJECTIVES, _required(final))
    return out


def _not_excused(view: pd.DataFrame, excused: AbstractSet[tuple[str, str]]) -> pd.DataFrame:
    if not excused or view.empty:
        return view
    keep = [(f, o) not in excused for f, o in zip(view["file"], view["objective"])]
    return view[pd.Series(keep, index=view.index, dtype=bool)]


def _check_phases(df: pd.DataFrame, plan: Plan, final: bool,
                  excused: AbstractSet[tuple[str, str]] = frozenset()) -> list[Finding]:
    live = df[~df["neutralised"].astype(bool)] if not df.empty else df
    if live.empty:
        return []
    lo = pd.Timestamp(dt.date(plan.anno - 1, 1, 1))
    hi = pd.Timestamp(dt.date(plan.anno + 1, 12, 31))
    view = live.copy()
    for fld in ("actual_start", "actual_end"):
        view[fld] = pd.to_datetime(view[fld], errors="coerce")

    def plausible(s: pd.Series) -> pd.Series:
        return s.isna() | ((s >= lo) & (s <= hi))

    schema = pa.DataFrameSchema({
        "progress": pa.Column(float, pa.Check.in_range(0, 100, error=coded(ErrorCode.V001)), nullable=True),
        "actual_start": pa.Column(None, pa.Check(plausible, error=coded(ErrorCode.V004)), nullable=True),
        "actual_end": pa.Column(None, pa.Check(plausible, error=coded(ErrorCode.V004)), nullable=True),
    }, checks=[
        pa.Check(lambda d: d["actual_start"].isna() | d["actual_end"].isna() | (d["actual_end"] >= d["actual_start"]),
                 error=coded(ErrorCode.V003, "actual_end")),
    ], strict=False)
    # a value that was typed but could not be read is reported once (V014), not as missing too
    blank = view["progress"].isna()
    typed_bad = blank.copy()
    typed_bad[blank] = ~view.loc[blank, "progress_raw"].map(is_blank).astype(bool)
    out = _run(schema, view, C.T_PHASES, _required(final), plan)
    out += _missing(_not_excused(view[~typed_bad], excused), "progress", C.T_PHASES, _required(final))
    return out


def _check_indicators(df: pd.DataFrame, final: bool,
                      excused: AbstractSet[tuple[str, str]] = frozenset()) -> list[Finding]:
    live = df[~df["neutralised"].astype(bool)] if not df.empty else df
    if live.empty:
        return []
    # a value that could not be read was reported (V006), not missing too
    view = live[live["achieved_ok"]].copy()
    view["achieved_present"] = pd.Series([None if is_blank(v) else True for v in view["achieved"]],
                                         index=view.index, dtype=object)
    view = view.rename(columns={"achieved_cell": "achieved_present_cell",
                                "achieved_formula": "achieved_present_formula",
                                "achieved_error": "achieved_present_error"})
    view = _not_excused(view, excused)
    # a CONTESTO indicator is never scored: its missing value is worth a warning, not a refusal
    context = (view["kind"] == "CONTESTO") if not view.empty else pd.Series([], dtype=bool)
    return (_missing(view[~context], "achieved_present", _AchievedSpec, _required(final))
            + _missing(view[context], "achieved_present", _AchievedSpec, ErrorCode.V011))


class _AchievedSpecType:
    """Adapter so the 'present' view column reports as Valore raggiunto."""
    sheet = C.SHEET_INDICATORS

    def header(self, fld: str) -> str:
        return C.T_INDICATORS.header("achieved" if fld == "achieved_present" else fld)


_AchievedSpec = _AchievedSpecType()


def _run(schema: pa.DataFrameSchema, view: pd.DataFrame, spec: Any, missing: ErrorCode,
         plan: Plan | None = None) -> list[Finding]:
    """Run one schema over rows from many files: each finding gets its own file and cell."""
    if view.empty:
        return []
    extra = _extra_factory(plan) if plan is not None else _extra_factory_noplan

    def locate(row: pd.Series, column: str) -> tuple[str | None, str | None]:
        return row["file"], row.get(f"{column}_cell")

    return run_schema(schema, view, file=None, sheet=spec.sheet, cell_of=lambda r, c: None,
                      record_of=lambda r: r["record"], header_of=spec.header, missing_code=missing,
                      raw_of=_raw_of, extra=extra, locate=locate)


def _extra_factory_noplan(column: str, row: pd.Series, code: ErrorCode) -> dict[str, Any]:
    if code is ErrorCode.V005:
        return {"allowed": ", ".join(C.STATI)}
    return {}


def _raw_of(row: pd.Series, column: str) -> Any:
    """The value a finding shows: the Stato as typed; for a missing Motivazione (V008)
    the Stato that needs it."""
    if column == "status":
        return row.get("status_raw")
    if column == "deviation_reason":
        return row.get("status")
    if f"{column}_raw" in row.index:
        return row.get(f"{column}_raw")
    return row.get(column)


def _missing(view: pd.DataFrame, fld: str, spec: Any, code: ErrorCode) -> list[Finding]:
    """V010 (final) / V011 (monitoring) for each required input left empty. Not for a cell
    holding a formula (V012 said so), nor for a column that is not in the file (T002)."""
    if view.empty:
        return []
    empty = view[fld].map(is_blank).astype(bool)
    formula = view[f"{fld}_formula"].notna() if f"{fld}_formula" in view else False
    if f"{fld}_error" in view:   # an error value (V020) is not an empty cell
        formula = formula | view[f"{fld}_error"].notna()
    located = view[f"{fld}_cell"].notna()
    out = []
    for r in records(view[empty & ~formula & located]):
        out.append(finding(code, file=r["file"], sheet=spec.sheet, cell=r.get(f"{fld}_cell"),
                           row=r["xlrow"], column=spec.header(fld), record=r["record"]))
    out.sort(key=lambda x: (x.file or "", x.row or 0))
    return out


def _status_vs_progress(obj: pd.DataFrame, ph: pd.DataFrame) -> list[Finding]:
    if obj.empty or ph.empty:
        return []
    # the lowest progress of each objective's live phases (blanks skipped), in one pass
    # over the columns: a groupby of object keys costs more than the loop
    low: dict[tuple[Any, Any], float] = {}
    for f, o, p, n in zip(ph["file"].tolist(), ph["objective"].tolist(), ph["progress"].tolist(),
                          ph["neutralised"].tolist()):
        if n or p != p:
            continue
        m = low.get((f, o))
        if m is None or p < m:
            low[(f, o)] = p
    done = obj[obj["status"] == "Concluso"]
    out = []
    for r in records(done):
        m = low.get((r["file"], r["objective"]))
        if m is not None and m == m and m < 100:
            out.append(finding(ErrorCode.V016, file=r["file"], sheet=C.SHEET_OBJECTIVES, cell=r["status_cell"],
                               row=r["xlrow"], column="Stato", record=r["record"], value=show_value(m)))
    return out
