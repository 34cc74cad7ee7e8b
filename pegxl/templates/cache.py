"""Templates kept on disk once built (`pegxl templates`, the copies of `pegxl merge`), so
that the copies of later merges start from the bytes already made rather than building
each settore's template again (half of the time of a copy).

An entry is the template's file and what a copy needs to know of it without opening it
(TemplateLayout: where each record's cells are, what makes a row taller). It is found by a
key made of everything the template is made from: pegxl's own code, the whole plan, the
settore, «Generato il», the protection's password hash and the reference snapshot.
Anything else -- another version of pegxl, a plan changed by one cell -- is another key, so
an entry is never stale: at worst it is not found, and the template is built as before.
A damaged entry (its file does not match the checksum kept with it) is not used either.

Where: $PEGXL_CACHE_DIR (empty: no cache), else the user's cache folder (~/.cache/pegxl/
modelli on Linux, ~/Library/Caches/pegxl/modelli on macOS, %LOCALAPPDATA%\\pegxl\\modelli on
Windows), one folder per plan; a plan's folder unused for KEEP_DAYS days is removed."""
from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import os
import pickle
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import openpyxl
from openpyxl.utils.protection import hash_password

from .. import __version__
from ..plan import Plan
from ..values import key_part
from ..workbook import contract as C
from ..workbook import paper
from ..workbook import style as S
from .reference import SnapshotValues

CACHE_ENV = "PEGXL_CACHE_DIR"
FORMAT = 1          # of an entry's files: another format is another key
KEEP_DAYS = 400     # a plan's templates are asked for all the year of its cycle

# sheet -> the fields that make a row's key
KEY_FIELDS = {C.SHEET_OBJECTIVES: ("objective",), C.SHEET_PHASES: ("objective", "phase"),
              C.SHEET_INDICATORS: ("objective", "indicator")}
INPUT_FIELDS = {C.SHEET_OBJECTIVES: C.T_OBJECTIVES_INPUT, C.SHEET_PHASES: C.T_PHASES_INPUT,
                C.SHEET_INDICATORS: C.T_INDICATORS_INPUT}
FITS_ATTR = "_pegxl_fits"   # on a built template: what sized its rows (style.fit_rows' record)
KEY_SPECS = {C.SHEET_OBJECTIVES: C.T_OBJECTIVES, C.SHEET_PHASES: C.T_PHASES, C.SHEET_INDICATORS: C.T_INDICATORS}


def cache_root(environ: Mapping[str, str] | None = None) -> Path | None:
    """The folder of the templates' cache, or None when $PEGXL_CACHE_DIR is set empty."""
    env = os.environ if environ is None else environ
    chosen = env.get(CACHE_ENV)
    if chosen is not None:
        return Path(chosen).expanduser() if chosen.strip() else None
    home = Path.home()
    if sys.platform == "win32":
        base = Path(env.get("LOCALAPPDATA") or home / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = home / "Library" / "Caches"
    else:
        base = Path(env.get("XDG_CACHE_HOME") or home / ".cache")
    return base / "pegxl" / "modelli"


@functools.lru_cache(maxsize=1)
def code_digest() -> str:
    """SHA-256 of pegxl's version and source files and openpyxl's version: what writes a
    template (the version alone, where the sources are not files: a frozen program)."""
    h = hashlib.sha256(f"{FORMAT}|{__version__}|{openpyxl.__version__}|{sys.version_info[:2]}".encode())
    package = Path(__file__).resolve().parent.parent
    for path in sorted(package.rglob("*.py")):
        h.update(path.relative_to(package).as_posix().encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()


def plan_digest(plan: Plan) -> str:
    """SHA-256 of the whole plan as read (its settings and tables): any change to it is
    another key, whatever a template takes of it."""
    head = (plan.ente, plan.anno, plan.fase, plan.reference_date, plan.deadline, plan.office,
            plan.office_email, plan.rules, plan.rules_rows)
    return _digest(head, *(_columns(df) for df in (plan.sectors, plan.objectives, plan.assignments,
                                                   plan.phases, plan.indicators)))


def _columns(df: Any) -> tuple:
    """A table as its columns' names, types and values: a frame pickled whole carries how
    pandas happens to hold it (its blocks, merged by some operations), not only what it holds."""
    return (tuple(map(str, df.columns)), tuple(map(str, df.dtypes)), df.index.to_numpy(),
            tuple(df.iloc[:, i].to_numpy() for i in range(df.shape[1])))


def _digest(*objects: Any) -> str:
    """SHA-256 of the objects pickled without the pickler's memo: the same values give the
    same bytes however their objects are shared (a plan read twice shares its texts
    differently)."""
    buf = io.BytesIO()
    pickler = pickle.Pickler(buf, pickle.HIGHEST_PROTOCOL)
    pickler.fast = True   # no memo: no references to objects already written
    for obj in objects:
        pickler.dump(obj)
    return hashlib.sha256(buf.getvalue()).hexdigest()


def reference_digest(reference: SnapshotValues | None) -> str:
    return "-" if reference is None else _digest(reference)


def generated_text(generated_at: Any) -> str:
    """«Generato il» as a template writes it."""
    return generated_at.isoformat() if hasattr(generated_at, "isoformat") else str(generated_at)


def password_key(password: str) -> str:
    """The hash a template built with `password` carries (the key of its protection)."""
    return str(hash_password(password))


# ------------------------------------------------------------------------ layout

@dataclass
class SheetLayout:
    """One table sheet of a template as a copy needs it: its title, the column of each
    (normalised) header, the rows of each record key, and for sizing rows again with the
    text a settore typed (style.fit_rows): the column widths, the wrapped cells of each row
    (column, letter, look, lines of the template's value), each row's attributes."""
    title: str
    columns: dict[str, int]
    rows: dict[tuple, list[int]]
    widths: dict[str, float]
    cells: dict[int, list[tuple[int, str, S.Look, int]]]
    attrs: dict[int, dict[str, str]]

    def to_json(self) -> dict[str, Any]:
        return {"title": self.title, "columns": self.columns, "rows": [[list(k), v] for k, v in self.rows.items()],
                "widths": self.widths, "cells": [[r, [list(c) for c in v]] for r, v in self.cells.items()],
                "attrs": [[r, a] for r, a in self.attrs.items()]}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> SheetLayout:
        return cls(str(d["title"]), {str(k): int(v) for k, v in d["columns"].items()},
                   {tuple(k): [int(r) for r in v] for k, v in d["rows"]},
                   {str(k): float(v) for k, v in d["widths"].items()},
                   {int(r): [(int(c), str(letter), (bool(look[0]), float(look[1]), bool(look[2])), int(n))
                             for c, letter, look, n in v] for r, v in d["cells"]},
                   {int(r): {str(k): str(x) for k, x in a.items()} for r, a in d["attrs"]})


TemplateLayout = dict[str, SheetLayout]   # by the contract's sheet name


def layout_of(wb: Any) -> TemplateLayout:
    """The layout of a built template's table sheets (see SheetLayout). Of the wrapped
    cells, only those that can change the height of their row are kept: the ones the
    settore types in, and those that need more than one line of the default size (a row
    starts at one such line, and only a taller need wins)."""
    out: TemplateLayout = {}
    fits = getattr(wb, FITS_ATTR, None) or {}
    for sheet, spec in KEY_SPECS.items():
        ws = find_sheet(wb, sheet)
        if ws is None:
            continue
        cols = sheet_columns(ws)
        rows = sheet_rows(ws, cols, tuple(spec.header(f) for f in KEY_FIELDS[sheet]))
        found = fits.get(ws.title)
        if found is None:   # a workbook built otherwise: counted here
            found = S.wrapped_cells(ws, range(2, max((r for r, _c in ws._cells), default=1) + 1))
        widths = S.Lines(ws).widths
        typed = {cols[h] for f in INPUT_FIELDS[sheet] if (h := C.norm_header(spec.header(f))) in cols}
        kept = {}
        for r, entries in found.items():
            mine = [e for e in entries if e[0] in typed or e[3] * e[2][1] > paper.DEFAULT_FONT_PT]
            if r >= 2 and any(e[0] in typed for e in mine):
                kept[r] = mine
        attrs = {r: dict(ws.row_dimensions[r]) for r in kept if r in ws.row_dimensions}
        out[sheet] = SheetLayout(ws.title, cols, rows, widths, kept, {r: a for r, a in attrs.items() if a})
    return out


def find_sheet(wb: Any, name: str) -> Any:
    for ws in wb.worksheets:
        if C.norm_header(ws.title) == C.norm_header(name):
            return ws
    return None


def sheet_columns(ws: Any) -> dict[str, int]:
    out = {}
    for c in next(ws.iter_rows(min_row=1, max_row=1), ()):
        if c.value is not None and C.norm_header(c.value) not in out:
            out[C.norm_header(c.value)] = c.column
    return out


def sheet_rows(ws: Any, cols: dict[str, int], key_headers: tuple[str, ...]) -> dict[tuple, list[int]]:
    """Record key -> the rows that carry it (an all-digit code «101» is 101 there)."""
    idx = [cols.get(C.norm_header(h)) for h in key_headers]
    out: dict[tuple, list[int]] = {}
    if any(i is None for i in idx):
        return out
    cells: Any = ws._cells   # read where they are: iter_rows would make every empty cell
    for r in sorted({r for r, _c in cells if r >= 2}):
        key = tuple(key_part(c.value) if (c := cells.get((r, i))) is not None else None for i in idx)
        if key[0] is not None:
            out.setdefault(key, []).append(r)
    return out


# ------------------------------------------------------------------------ the cache

@dataclass(frozen=True)
class TemplateCache:
    """The entries of one plan (and reference snapshot) in the folder `root`: small and
    picklable, it goes with the copies' jobs to their worker processes."""
    root: Path
    plan_key: str
    reference_key: str = "-"
    code_key: str = ""   # code_digest() of the process that made it: the workers' the same

    @classmethod
    def for_plan(cls, plan: Plan, reference: SnapshotValues | None = None,
                 root: Path | None = None) -> TemplateCache | None:
        """The plan's cache (None: no cache folder, or it cannot be made)."""
        try:
            root = cache_root() if root is None else root
            if root is None:
                return None
            cache = cls(Path(root), plan_digest(plan), reference_digest(reference), code_digest())
            folder = cache.folder
            fresh = not folder.exists()
            folder.mkdir(parents=True, exist_ok=True)
            os.utime(folder)   # in use: kept (see _prune)
            if fresh:
                _prune(Path(root), keep=folder)
        # no home folder, a plan that cannot be pickled: no cache, the templates built as before
        except (OSError, RuntimeError, ValueError, TypeError, pickle.PicklingError, RecursionError):
            return None
        return cache

    @property
    def folder(self) -> Path:
        return self.root / self.plan_key[:24]

    def _key(self, sector: str, generated_at: str, password_hash: str) -> str:
        text = "\0".join((self.code_key or code_digest(), self.plan_key, self.reference_key, sector,
                          generated_at, password_hash))
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()

    def get(self, sector: str, generated_at: str, password_hash: str) -> tuple[bytes, TemplateLayout] | None:
        """The template and its layout, or None (not there, or not sound)."""
        try:
            key = self._key(sector, generated_at, password_hash)
            meta = json.loads((self.folder / f"{key}.json").read_text("utf-8"))
            if meta.get("format") != FORMAT or meta.get("key") != key:
                return None
            data = (self.folder / f"{key}.xlsx").read_bytes()
            if hashlib.sha256(data).hexdigest() != meta.get("sha256"):
                return None
            layout = {str(k): SheetLayout.from_json(v) for k, v in meta["layout"].items()}
        except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError):
            return None
        return data, layout

    def put(self, sector: str, generated_at: str, password_hash: str, data: bytes,
            layout: TemplateLayout) -> None:
        """Keep a template (never fails: a cache that cannot be written is only slower)."""
        try:
            key = self._key(sector, generated_at, password_hash)
            meta = json.dumps({"format": FORMAT, "key": key, "sector": sector,
                               "sha256": hashlib.sha256(data).hexdigest(),
                               "layout": {k: v.to_json() for k, v in layout.items()}}, ensure_ascii=False)
            self.folder.mkdir(parents=True, exist_ok=True)
            # the file first, its description last: one without the other is not found
            _write(self.folder / f"{key}.xlsx", data)
            _write(self.folder / f"{key}.json", meta.encode("utf-8"))
        except (OSError, TypeError, ValueError):
            return


_PLAN_FOLDER = re.compile(r"[0-9a-f]{24}")
_ENTRY_SUFFIXES = {".json", ".xlsx", ".tmp"}


def _write(path: Path, data: bytes) -> None:
    """Write `path` whole or not at all (another process may be reading or writing it)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem[:16]}.", suffix=".tmp", dir=str(path.parent))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _prune(root: Path, keep: Path) -> None:
    """Remove the folders of plans not used for KEEP_DAYS days: only a plan's folder, as
    this module names and fills it ($PEGXL_CACHE_DIR may be a folder with other things)."""
    limit = time.time() - KEEP_DAYS * 86400
    try:
        for folder in root.iterdir():
            if folder == keep or not _PLAN_FOLDER.fullmatch(folder.name) or not folder.is_dir() \
                    or folder.is_symlink() or folder.stat().st_mtime >= limit:
                continue
            if all(f.is_file() and not f.is_symlink() and f.suffix in _ENTRY_SUFFIXES for f in folder.iterdir()):
                shutil.rmtree(folder, ignore_errors=True)
    except OSError:
        return
