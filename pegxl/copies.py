"""The worker processes of `pegxl merge` (pegxl.merge): they write the copies of the
returns (writeback.write_back) and make the rows of the consolidated workbook's Calcolo
sheet (explain.Part) and the text of its Fasi and Indicatori sheets' rows
(consolidated.tablerows), while the merge's own process writes the consolidated workbook.

Forked before the returns are read (see CopyWriters), they share the plan and nothing
that comes after; what each job needs besides the plan is sent with it, pickled, so that
they work with spawn (Windows, macOS) as with fork."""
from __future__ import annotations

import contextlib
import functools
from collections import deque
import pickle
import threading
import zlib
from concurrent.futures import Future, ProcessPoolExecutor, wait
from typing import Any, Callable, Iterable, Iterator, Mapping

from .consolidated.calcolo import calcolo_height, calcolo_table, calcolo_texts, texts_of
from .consolidated.tablerows import RowMaker, TableRow, table_rows_here
from .explain import SECTORS_AT_ONCE, Explainer, Part, Step, figure_rows, forget_figures, part_rows
from .plan import Plan
from .scoring import Scores
from .templates.generate import _mp_context, default_jobs
from .templates.cache import TemplateCache
from .templates.reference import SnapshotValues
from .validators.returns import POOL_MIN_FILES
from .validators.spill import KeyedSpill, SpilledScores
from .workbook.apart import apart, forks
from .workbook.memory import gc_frozen, release_memory
from .writeback import CopyJob, _Fingerprint, write_back

COPIES_AHEAD = 4     # copies made and waiting per worker process (see write_copies)
CALCOLO_AHEAD = 4    # parts of the Calcolo sheet asked of the workers and not yet written
SHARED_AHEAD = 3     # items asked per worker ahead by `shared` (a table sheet's parts, say)
# what keeps CopyWriters' processes (see retire, hold)
COPIES, CALCOLO, RECONCILE = "copie", "calcolo", "riconciliazione"

_WORKER: dict[str, Any] = {}


def _init_worker(plan: Plan, fingerprint: str, reference: SnapshotValues | None,
                 cache: TemplateCache | None = None) -> None:
    _WORKER.update(plan=plan, fingerprint=fingerprint, reference=reference, cache=cache)


def _write_in_worker(job: CopyJob) -> str:
    write_back(_WORKER["plan"], job, fingerprint=_WORKER["fingerprint"], reference=_WORKER["reference"],
               cache=_WORKER["cache"])
    return job.sector


def _calcolo_in_worker(part: Part, wrapped: Mapping[str, float]) -> bytes:
    """The text of the part's rows (calcolo_texts), pickled and compressed: waiting for the
    consolidated workbook to get to its Calcolo sheet, they take a tenth of the memory."""
    rows = calcolo_texts(((row, calcolo_height(row, wrapped)) for row in part_rows(part)), wrapped)
    packed = zlib.compress(pickle.dumps(rows, pickle.HIGHEST_PROTOCOL), 1)
    del rows
    # the part's slice and rows, and the figures cached while making them, freed: not held
    # while the copies go on (the caches would fill with every settore's figures, part
    # after part, up to their bound: a process grows with the settori of the merge)
    forget_figures()
    release_memory()
    return packed


def _with_plan(fn: Callable[..., Any], args: tuple) -> Any:
    try:
        return fn(_WORKER["plan"], *args)
    finally:   # the figures the scoring cached, and what the work freed, let go: a worker's
        forget_figures()   # heap would keep its highest, and the caches fill group after group
        release_memory()


def _table_rows_in_worker(maker: RowMaker, first: int, rows: list[TableRow]) -> tuple[str, int, list]:
    try:
        return maker.text(rows, first)
    finally:
        release_memory()


def _calcolo_packed_in_worker(part: bytes, wrapped: Mapping[str, float]) -> bytes:
    """_calcolo_in_worker of a Part sent pickled (as it waited on disk)."""
    return _calcolo_in_worker(pickle.loads(part), wrapped)


def _room_or_stop(room: threading.Semaphore, stop: threading.Event) -> bool:
    """Wait for a place in `room` (True), or until `stop` is set (False)."""
    while not room.acquire(timeout=0.2):
        if stop.is_set():
            return False
    return not stop.is_set()


def _open_or_stop(gate: threading.Event, stop: threading.Event) -> bool:
    """Wait until `gate` is set (True), or until `stop` is set (False)."""
    while not gate.wait(timeout=0.2):
        if stop.is_set():
            return False
    return not stop.is_set()


def beside(fingerprint: _Fingerprint, work: Callable[[], None]) -> str:
    """`fingerprint()` and `work()` side by side: the fingerprints of every settore made by a
    child process forked for them (workbook.apart; a second core, about 2 s at 1,000
    settori, and the rows they are made of, 28 MB, are never held here), `work` here; one
    after the other where apart does not fork. If the child fails or ends without its
    result (killed for memory, say), the fingerprints are made here after all: an error of
    their own is then raised here, where it would have been."""
    plan = fingerprint.plan
    if fingerprint.value is not None or not forks():
        work()
        return fingerprint()
    made: dict[str, Any] = {}

    def child() -> None:
        try:
            made["fps"] = apart(lambda _emit: plan.fingerprints())
        except BaseException as exc:   # raised below, in the caller's thread
            made["error"] = exc
    # a thread, so that the fork's waiting is not this thread's: the work goes on here
    thread = threading.Thread(target=child, name="pegxl-fingerprints", daemon=True)
    thread.start()
    try:
        work()
    finally:
        thread.join()
    error = made.get("error")
    if error is not None and not isinstance(error, Exception):
        raise error
    if error is None:
        plan.fingerprints(made["fps"])
    return fingerprint()


def copy_workers(jobs: int | None, n: int) -> int:
    """Worker processes for `n` copies: `jobs`, or the cores from POOL_MIN_FILES copies."""
    if jobs is None:
        return min(default_jobs(), n) if n >= POOL_MIN_FILES else 1
    return max(1, min(int(jobs), n))


class CopyWriters:
    """The processes that write the copies (`workers`; 1: this process, one copy after the
    other), started before the returns are read: forked while this process holds little
    more than the plan, they share it and nothing that the reading and the consolidated
    workbook make afterwards (a process forked later copies every page of that heap its
    own allocations land on). `close()` stops them."""

    def __init__(self, plan: Plan, workers: int, fingerprint: _Fingerprint,
                 reference: SnapshotValues | None = None, cache: TemplateCache | None = None):
        self.plan, self.fingerprint, self.reference, self.cache = plan, fingerprint, reference, cache
        self.pool: ProcessPoolExecutor | None = None
        self._frozen = contextlib.ExitStack()
        self._lock = threading.Lock()
        self._users = {COPIES, CALCOLO}   # see retire
        self._ahead: _CalcoloAhead | None = None
        # cleared while the consolidated workbook waits for rows of its sheets: no copy is
        # asked for then, so that the workers take those rows first (see table_rows)
        self.copies_may_go = threading.Event()
        self.copies_may_go.set()
        if workers <= 1:
            return
        # the rows every template is made of (plan.sector_rows), made once here and shared,
        # pickled: made in each worker at its first copy they would be one more plan per
        # worker, read where they are they would be copied into each (see pack_sector_rows);
        # meanwhile the fingerprints, made by a child forked for them
        fp = beside(fingerprint, plan.pack_sector_rows)
        # the plan stays out of the collector's sweeps while the forked workers run (a sweep
        # would write to, and so copy, every page of it they share)
        self._frozen.enter_context(gc_frozen())
        self.pool = ProcessPoolExecutor(workers, mp_context=_mp_context(), initializer=_init_worker,
                                        initargs=(plan, fp, reference, cache))
        try:
            self.pool.submit(int).result()   # a fork start method forks them all at the first job
        except BaseException:
            self.close()
            raise

    def retire(self, user: str = COPIES) -> None:
        """Say that `user` (COPIES: every copy is written; CALCOLO: the Calcolo sheet's
        rows are made; RECONCILE, when held: the consolidated is reconciled) needs the
        worker processes no more (from any thread, once or more): when none does, they
        stop, and the pages of the plan they have touched, their own copies by then, go
        back to the system. `close()` is still needed."""
        with self._lock:
            self._users.discard(user)
            last = not self._users
        if user == CALCOLO and self._ahead is not None:
            self._ahead.cancel()   # once its rows are all given: nothing left to cancel
        if last and self.pool is not None:
            self.pool.shutdown(wait=True)

    def hold(self, user: str) -> None:
        """Keep the workers for `user` too (RECONCILE), until it is retired."""
        with self._lock:
            if self._users:   # not once they have stopped
                self._users.add(user)

    def prefetch_calcolo(self, scores: Scores, sectors: list, reasons: Mapping,
                         wrapped: Mapping[str, float]) -> None:
        """Have the workers make the Calcolo sheet's rows from now on, among the copies, so
        that they are ready when the consolidated workbook gets to that sheet (`calcolo`
        with the same arguments takes them)."""
        if self.pool is not None and CALCOLO in self._users and self._ahead is None:
            self._ahead = _CalcoloAhead(self.pool, scores, sectors, reasons, wrapped)

    def calcolo_text(self, scores: Scores, sectors: list, reasons: Mapping,
                     wrapped: Mapping[str, float]) -> Iterator[list[str]]:
        """calcolo_table's rows as text (calcolo.calcolo_texts), made by the workers a Part
        at a time (see prefetch_calcolo) and given here in order, the ente's made here: the
        most expensive sheet of the consolidated workbook, off the process that writes it."""
        try:
            if self._ahead is not None and not self._ahead.same(scores, sectors, reasons, wrapped):
                self._ahead.cancel()   # asked for other rows: those are made afresh
                self._ahead = None
            self.prefetch_calcolo(scores, sectors, reasons, wrapped)
            ahead = self._ahead
            yield from (ahead.texts() if ahead is not None else
                        texts_of(_calcolo_here(scores, sectors, reasons, wrapped), wrapped))
        finally:
            self.retire(CALCOLO)

    def table_rows(self, maker: RowMaker, parts: Iterable[tuple[int, list[TableRow]]]
                   ) -> Iterator[tuple[str, int, list[tuple[str, str, str]]]]:
        """tablerows.table_rows_here's parts, made by the workers and by this process (see
        shared), in order. No copy is asked for meanwhile: the workers take the parts first."""
        pool = self._alive()
        if pool is None:
            yield from table_rows_here(maker, parts)
            return
        self.copies_may_go.clear()
        try:
            yield from shared(pool, lambda part: pool.submit(_table_rows_in_worker, maker, *part),
                              lambda part: maker.text(part[1], part[0]), parts)
        finally:
            self.copies_may_go.set()

    def share(self, fn: Callable[..., Any], items: Iterable[tuple]) -> Iterator[Any]:
        """fn(plan, *args) for each args of `items`, by the workers and by this process (see
        shared), in order (validators.returns.Share: the scoring of a merge's settori, a
        group at a time, while the workers have no copy to write yet)."""
        pool = self._alive()
        if pool is None:
            return (fn(self.plan, *args) for args in items)
        return shared(pool, lambda args: pool.submit(_with_plan, fn, args), lambda args: fn(self.plan, *args), items)

    def _alive(self) -> ProcessPoolExecutor | None:
        """The pool, while it takes work (see retire)."""
        with self._lock:
            return self.pool if self._users else None

    def close(self) -> None:
        if self._ahead is not None:
            self._ahead.cancel()
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None
        self._frozen.close()


class _CalcoloAhead:
    """The Calcolo sheet's rows asked of the workers a Part at a time by a thread of this
    process, never more than CALCOLO_AHEAD of them being made.

    The parts (each with its settori's slice of the scores, pickled) and the ente's steps
    are made apart (workbook.apart: in a forked child, the Explainer and its look-ups of
    every settore never here), by that thread while this process goes on with the copies and
    the consolidated workbook (in this very thread where there is no fork), and kept on
    disk. The rows each worker makes come back compressed and go to disk too, until
    `texts()` gives them in order."""

    def __init__(self, pool: ProcessPoolExecutor, scores: Scores, sectors: list, reasons: Mapping,
                 wrapped: Mapping[str, float]):
        self.key = (scores, list(sectors), dict(reasons), dict(wrapped))
        self.error: BaseException | None = None
        self._parts = KeyedSpill()   # part i -> the Part pickled
        self._rows = KeyedSpill()    # part i -> its rows, compressed
        self.n = 0
        self.ente: list[Step] = []
        self._parted = False   # the parts and the ente's steps made
        self._done: set[int] = set()
        self._failed: dict[int, BaseException] = {}
        self._futures: dict[int, Future] = {}   # the parts being made
        self._fed = False
        self._room = threading.Semaphore(CALCOLO_AHEAD)
        self._stop = threading.Event()
        self._changed = threading.Condition()
        if not forks():   # made here: a thread would share the scores' lazy loads with this one
            self._make_parts()
        self._thread = threading.Thread(target=self._feed, args=(pool,), name="pegxl-calcolo", daemon=True)
        self._thread.start()

    def _make_parts(self) -> None:
        scores, sectors, reasons = self.key[:3]
        ente = apart(functools.partial(_parts, scores, sectors, reasons), sink=self._part)
        with self._changed:
            self.ente, self._parted = ente, True
            self._changed.notify_all()

    def _part(self, blob: bytes) -> None:
        self._parts.add(self.n, blob)
        self.n += 1

    def same(self, scores: Scores, sectors: list, reasons: Mapping, wrapped: Mapping[str, float]) -> bool:
        mine = self.key
        return scores is mine[0] and list(sectors) == mine[1] and dict(reasons) == mine[2] and dict(wrapped) == mine[3]

    def _feed(self, pool: ProcessPoolExecutor) -> None:
        try:
            if not self._parted:
                self._make_parts()
            for i in range(self.n):
                if not _room_or_stop(self._room, self._stop):
                    return
                (blob,) = self._parts.get(i)
                assert isinstance(blob, bytes)
                future = pool.submit(_calcolo_packed_in_worker, blob, self.key[3])
                with self._changed:
                    self._futures[i] = future
                future.add_done_callback(functools.partial(self._made, i))
        except BaseException as exc:   # raised where the rows are taken
            self.error = exc
        finally:
            with self._changed:
                self._fed = True
                self._changed.notify_all()

    def _made(self, i: int, future: Future) -> None:
        """A part's rows to disk, or its failure kept, and its future let go (it would hold
        the rows until they are written)."""
        failed: BaseException | None = None
        try:
            if future.cancelled():
                failed = RuntimeError("annullato")
            elif future.exception() is not None:
                failed = future.exception()
            else:
                self._rows.add(i, future.result())
        except BaseException as exc:   # the spill's M008, say
            failed = exc
        with self._changed:
            self._futures.pop(i, None)
            if failed is not None:
                self._failed[i] = failed
            self._done.add(i)
            self._changed.notify_all()
        self._room.release()

    def parted(self) -> int:
        """Wait until the parts are made: how many (making them failed: raised)."""
        with self._changed:
            while not (self._parted or self._fed):
                self._changed.wait()
        if not self._parted:
            raise self.error or RuntimeError("parti del foglio Calcolo non fatte")
        return self.n

    def texts(self) -> Iterator[list[str]]:
        for i in range(self.parted()):
            with self._changed:
                # made (or failed), or never to be asked for (the feeder stopped)
                while i not in self._done and not (self._fed and i not in self._futures):
                    self._changed.wait()
                failed = self._failed.pop(i, None)
            if failed is not None:
                raise failed
            if i not in self._rows:
                if self.error is not None:
                    raise self.error
                raise RuntimeError(f"righe del foglio Calcolo non fatte (parte {i})")
            (packed,) = self._rows.get(i)
            assert isinstance(packed, bytes)
            yield pickle.loads(zlib.decompress(packed))
        wrapped = self.key[3]
        yield from texts_of(((row, calcolo_height(row, wrapped)) for row in figure_rows(self.ente)), wrapped)

    def cancel(self) -> None:
        """Ask for no more parts; those not being made are dropped."""
        self._stop.set()
        self._thread.join()
        with self._changed:
            for f in list(self._futures.values()):
                f.cancel()
        self._parts.close()


def _parts(scores: Scores, sectors: list, reasons: Mapping, emit: Callable[[bytes], None]) -> list[Step]:
    """Each Part of the Calcolo sheet, pickled, to `emit`, in order; the ente's steps returned.
    Made apart (workbook.apart): the Explainer's look-ups of every settore, and the exact
    figures it loads, go with the process that made them."""
    parts, whole = _explained(scores, sectors, reasons)
    for part in parts:
        emit(pickle.dumps(part, pickle.HIGHEST_PROTOCOL))
    return whole.ente()


def _explained(scores: Scores, sectors: list, reasons: Mapping) -> tuple[Iterator[Part], Explainer]:
    """Explainer.parts of `sectors`, and the Explainer that gives the ente's steps. Of
    SpilledScores, SECTORS_AT_ONCE settori at a time, each part made from those settori's
    exact figures alone (SpilledScores.piece), never every settore's at once: the same parts."""
    if not isinstance(scores, SpilledScores):
        explainer = Explainer(scores, reasons)
        return explainer.parts(sectors), explainer
    whole = Explainer(scores.summary(), reasons)   # every table: the settori of each objective

    def pieces() -> Iterator[Part]:
        keep = [s for s in sectors if s in whole.sectors]
        for i in range(0, len(keep), SECTORS_AT_ONCE):
            chunk = keep[i:i + SECTORS_AT_ONCE]
            yield from Explainer(scores.piece(chunk), reasons, whole.sectors_of).parts(chunk, size=len(chunk))
    return pieces(), whole


def _calcolo_here(scores: Scores, sectors: list, reasons: Mapping,
                  wrapped: Mapping[str, float]) -> Iterator[tuple[dict, float | None]]:
    """calcolo_table's rows made in this process (no worker): of SpilledScores a piece at a
    time, as the workers would."""
    if not isinstance(scores, SpilledScores):
        yield from calcolo_table(scores, sectors, reasons, wrapped)
        return
    parts, whole = _explained(scores, sectors, reasons)
    for part in parts:
        for row in part_rows(part):
            yield row, calcolo_height(row, wrapped)
    for row in figure_rows(whole.ente()):
        yield row, calcolo_height(row, wrapped)


def shared(pool: ProcessPoolExecutor, submit: Callable[[Any], Future], here: Callable[[Any], Any],
           items: Iterable[Any]) -> Iterator[Any]:
    """The result of each item, in order, made by `pool`'s workers (`submit`) or by this
    process (`here`): a few items per worker are asked of them ahead; this process makes
    any of those no worker has begun (the workers may have other work queued), the first
    one itself, the others, from the last, while it waits for the first."""
    ahead = SHARED_AHEAD * max(1, getattr(pool, "_max_workers", 1))
    window: deque[tuple[Any, Future | None]] = deque()
    made: dict[int, Any] = {}   # id of an item's window entry -> its result, made here out of turn
    todo = iter(items)
    try:
        while True:
            while len(window) < ahead:
                item = next(todo, _END)
                if item is _END:
                    break
                try:
                    future: Future | None = submit(item)
                except RuntimeError:   # the pool is shutting down: made here
                    future = None
                window.append((item, future))
            if not window:
                return
            entry = window.popleft()
            item, future = entry
            if id(entry) in made:
                yield made.pop(id(entry))
            elif future is None or future.cancel():
                yield here(item)
            else:
                while not future.done():   # meanwhile, an item not begun, from the last
                    later = next((w for w in reversed(window) if w[1] is not None and id(w) not in made
                                  and w[1].cancel()), None)
                    if later is None:
                        break
                    made[id(later)] = here(later[0])
                yield future.result()
    finally:
        for _, f in window:
            if f is not None:
                f.cancel()


_END = object()


def write_copies(writers: CopyWriters, jobs: Iterable[CopyJob], *, done: Callable[[CopyJob], None],
                 meanwhile: Callable[[], object]) -> None:
    """Write every copy with `writers` and run `meanwhile` in this process while the
    workers write. `done` is called once per copy written (from another thread when there
    are workers). Any failure is raised here, after the pending copies have been cancelled.

    `jobs` is taken one job at a time, by a thread of this process, and never more than
    COPIES_AHEAD per worker are waiting: the copies' cells are not all held at once."""
    pool = writers.pool
    if pool is None:
        meanwhile()
        for job in jobs:
            write_back(writers.plan, job, fingerprint=writers.fingerprint, reference=writers.reference,
                       cache=writers.cache)
            done(job)
        return
    lock = threading.Lock()
    room = threading.Semaphore(COPIES_AHEAD * max(1, getattr(pool, "_max_workers", 1)))
    stop = threading.Event()
    failures: list[BaseException] = []
    pending: set[Future] = set()

    def finished(job: CopyJob) -> Callable[[Future], None]:
        def callback(future: Future) -> None:
            with lock:
                pending.discard(future)
                if not future.cancelled():
                    exc = future.exception()
                    if exc is None:
                        done(job)
                    else:
                        failures.append(exc)
                        stop.set()
            room.release()
        return callback

    def feed() -> None:
        try:
            for job in jobs:
                if not _room_or_stop(room, stop) or not _open_or_stop(writers.copies_may_go, stop):
                    return
                f = pool.submit(_write_in_worker, job)
                with lock:
                    if not f.done():
                        pending.add(f)
                f.add_done_callback(finished(job))
            while not stop.is_set():   # every copy submitted: the workers go once they are written
                with lock:
                    left = list(pending)
                if not wait(left, timeout=0.2).not_done:
                    break
            if not stop.is_set():
                writers.retire()
        except BaseException as exc:   # a job that cannot be made, a pool that broke
            with lock:
                failures.append(exc)
            stop.set()

    feeder = threading.Thread(target=feed, name="pegxl-copie", daemon=True)
    feeder.start()
    try:
        meanwhile()
    except BaseException:
        stop.set()
        raise
    finally:
        feeder.join()
        if stop.is_set():
            with lock:
                left = list(pending)
            for f in left:
                f.cancel()
    with lock:
        left = list(pending)
    wait(left)
    errors: list[BaseException] = list(failures)
    for f in left:
        exc = None if f.cancelled() else f.exception()
        if exc is not None:
            errors.append(exc)
    if errors:
        raise errors[0]
