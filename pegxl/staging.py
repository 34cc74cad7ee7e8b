"""All-or-nothing outputs (issue 10 point 8): a run writes everything into a staging folder
inside OUTDIR (same filesystem, so a move is a rename) and moves it into place only once the
whole output and the archive transaction have succeeded.

Protocol, for one OUTDIR:

1. `Staging.path(rel)` gives where to write each output; nothing in OUTDIR is touched.
2. `prepare(db)` writes the journal `OUTDIR/.pegxl-journal.json` (state "staged": run id,
   staging folder, files, archive). Then the caller runs its archive transaction, which
   records the run id.
3. `commit()` marks the journal "commit" and renames the files into place, the ones marked
   `last` (the consolidated workbook) after every other, removes the stale copies (the .xlsx
   files of the `owned` folders that this run did not write: a settore left out now), then
   removes journal and folder.

An interruption (exception, kill -9, full disk) before the archive commit leaves OUTDIR as it
was; `recover(outdir)`, called at the start of the next run, finishes the rename window:
journal "commit", or "staged" with the run in the archive -> the staged files are moved into
place (roll forward); otherwise the staging folder is dropped (roll back). A staging folder
without a journal (killed while writing) is dropped.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Callable, Iterator

from .archive import has_run as archive_has_run
from .errors import ErrorCode, Finding, PegxlError, finding, os_detail

JOURNAL = ".pegxl-journal.json"
STAGING_PREFIX = ".pegxl-staging-"
LOCK = ".pegxl-lock"


def new_run_id(*seed: str) -> str:
    """The identifier of one merge or oiv run (written in the workbook and the archive):
    random, or derived from `seed` when given (reproducible outputs)."""
    if seed:
        return hashlib.sha256("\x1f".join(seed).encode("utf-8")).hexdigest()[:32]
    return uuid.uuid4().hex


def _write_journal(outdir: Path, doc: dict) -> None:
    tmp = outdir / (JOURNAL + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, ensure_ascii=False)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, outdir / JOURNAL)


def _read_journal(outdir: Path) -> dict | None:
    try:
        with open(outdir / JOURNAL, encoding="utf-8") as fh:
            doc = json.load(fh)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _move_all(outdir: Path, staging: Path, files: list[str]) -> None:
    """Rename every staged file still there into place (idempotent: a file already moved is
    no longer in the staging folder)."""
    for rel in files:
        src = staging / rel
        if not src.exists():
            continue
        dst = outdir / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dst)


def _remove_stale(outdir: Path, stale: list[str]) -> None:
    """Remove the copies of an earlier run that this run did not write again (a settore left
    out now): beside a new consolidated workbook they would show figures it does not hold."""
    for rel in stale:
        with contextlib.suppress(FileNotFoundError):
            (outdir / rel).unlink()


def _drop(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def locked(outdir: Path) -> Iterator[None]:
    """One run at a time in an OUTDIR (where the platform has flock)."""
    try:
        import fcntl
    except ImportError:          # Windows: Excel runs one action at a time anyway
        yield
        return
    fh = open(outdir / LOCK, "a+")
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise PegxlError(finding(ErrorCode.M006, value=str(outdir),
                                     detail="un'altra elaborazione sta scrivendo nella stessa cartella"),
                             exit_code=1) from None
        yield
    finally:
        fh.close()


def recover(outdir: str | os.PathLike, has_run: Callable[[str, str], bool] | None = None, *,
            keep: str | None = None) -> list[Finding]:
    """Finish or undo an interrupted run in `outdir` (see the module docstring). Returns an
    M007 warning saying what was done, if anything. `has_run(db, run_id)` tells whether the
    archive holds the run (default: pegxl.archive.has_run); `keep` is the staging folder of
    the run calling (not a leftover)."""
    outdir = Path(outdir)
    if not outdir.is_dir():
        return []
    out: list[Finding] = []
    doc = _read_journal(outdir)
    if doc is not None:
        staging = outdir / str(doc.get("staging") or "")
        files = [str(f) for f in doc.get("files") or []]
        state = doc.get("state")
        run_id = str(doc.get("run_id") or "")
        if state == "staged" and doc.get("db") and run_id:
            if has_run is None:
                has_run = archive_has_run
            if has_run(str(doc["db"]), run_id):
                state = "commit"
        if state == "commit" and doc.get("staging") and staging.is_dir():
            _write_journal(outdir, dict(doc, state="commit"))
            _move_all(outdir, staging, files)
            _remove_stale(outdir, [str(f) for f in doc.get("stale") or []])
            out.append(finding(ErrorCode.M007, value=str(outdir),
                               detail=f"completata ({len(files)} file dell'elaborazione {run_id[:12]} messi al loro posto)"))
        elif doc.get("staging"):
            out.append(finding(ErrorCode.M007, value=str(outdir),
                               detail=f"annullata (l'elaborazione {run_id[:12]} non era stata archiviata; "
                                      "restano i file precedenti)"))
        if doc.get("staging"):
            _drop(staging)
        with contextlib.suppress(FileNotFoundError):
            (outdir / JOURNAL).unlink()
    for p in outdir.glob(STAGING_PREFIX + "*"):
        if p.is_dir() and p.name != keep:
            _drop(p)
    with contextlib.suppress(FileNotFoundError):
        (outdir / (JOURNAL + ".tmp")).unlink()
    return out


class Staging:
    """The staging folder of one run in `outdir` (see the module docstring)."""

    def __init__(self, outdir: str | os.PathLike, run_id: str, kind: str,
                 owned: tuple[str, ...] = ()):
        self.outdir = Path(outdir)
        self.owned = owned          # sub-folders whose .xlsx files are all this kind of run's output
        self.stale: list[str] = []
        self.run_id = run_id
        self.kind = kind
        self.dir = self.outdir / f"{STAGING_PREFIX}{uuid.uuid4().hex[:12]}"
        self._files: list[str] = []
        self._last: list[str] = []
        self.created_outdir = False
        self.committing = False

    def open(self) -> Staging:
        try:
            if not self.outdir.exists():
                self.outdir.mkdir(parents=True)
                self.created_outdir = True
            self.dir.mkdir()
        except OSError as exc:
            raise PegxlError(finding(ErrorCode.F010, file=str(self.outdir), detail=os_detail(exc))) from exc
        return self

    def path(self, rel: str | os.PathLike, *, last: bool = False) -> Path:
        """Where to write the output that will be OUTDIR/rel."""
        rel = Path(rel).as_posix()
        (self._last if last else self._files).append(rel)
        p = self.dir / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def final(self, rel: str | os.PathLike) -> Path:
        return self.outdir / Path(rel)

    @property
    def files(self) -> list[str]:
        return self._files + self._last

    def prepare(self, db: str | os.PathLike | None) -> None:
        """Journal the staged run before the archive transaction."""
        missing = [f for f in self.files if not (self.dir / f).is_file()]
        if missing:
            raise PegxlError(finding(ErrorCode.M006, value=str(self.outdir),
                                     detail="file non preparati: " + ", ".join(missing)), exit_code=2)
        new = set(self.files)
        self.stale = sorted(
            rel for folder in self.owned if (self.outdir / folder).is_dir()
            for rel in (p.relative_to(self.outdir).as_posix()
                        for p in (self.outdir / folder).glob("*.xlsx") if p.is_file())
            if rel not in new)
        _write_journal(self.outdir, {"run_id": self.run_id, "kind": self.kind, "state": "staged",
                                     "staging": self.dir.name, "files": self.files,
                                     "stale": self.stale,
                                     "db": str(db) if db is not None else None})

    def commit(self) -> None:
        """Move everything into place (the archive transaction, if any, has committed). A
        failure here (a target open in another program) leaves the journal: the next run
        finishes the move (recover)."""
        self.committing = True
        _write_journal(self.outdir, {"run_id": self.run_id, "kind": self.kind, "state": "commit",
                                     "staging": self.dir.name, "files": self.files,
                                     "stale": self.stale})
        try:
            _move_all(self.outdir, self.dir, self.files)
            _remove_stale(self.outdir, self.stale)
        except OSError as exc:
            raise PegxlError(finding(ErrorCode.F010, file=str(self.outdir),
                                     detail=os_detail(exc) + "; i file saranno messi al loro posto al "
                                            "prossimo avvio di pegxl su questa cartella"),
                             exit_code=2) from exc
        _drop(self.dir)
        with contextlib.suppress(FileNotFoundError):
            (self.outdir / JOURNAL).unlink()

    def abort(self) -> None:
        """Drop the staged output: OUTDIR stays as it was (never once the commit began)."""
        if self.committing:
            return
        _drop(self.dir)
        doc = _read_journal(self.outdir)
        if doc is not None and doc.get("run_id") == self.run_id:
            with contextlib.suppress(FileNotFoundError):
                (self.outdir / JOURNAL).unlink()
        if self.created_outdir:
            for leftover in (LOCK,):
                with contextlib.suppress(OSError):
                    (self.outdir / leftover).unlink()
            with contextlib.suppress(OSError):
                self.outdir.rmdir()


def interrupted(outdir: Path, exc: BaseException) -> PegxlError:
    """The error of a run stopped by the system (disk full, permissions): nothing changed."""
    if isinstance(exc, PegxlError):
        return PegxlError([finding(ErrorCode.M006, value=str(outdir),
                                   detail="; ".join(f.message for f in exc.findings[:2])), *exc.findings],
                          exit_code=exc.exit_code)
    return PegxlError(finding(ErrorCode.M006, value=str(outdir), detail=os_detail(exc)), exit_code=2)
