"""The copies of the returns that `pegxl merge` writes back (pegxl.merge): what each one
holds (CopyJob, made one settore at a time by iter_copy_jobs) and how one is written
(write_back: the settore's template with the changed cells patched into its sheet XML)."""
from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
import pandas as pd
from openpyxl.utils import coordinate_to_tuple, get_column_letter
from openpyxl.compat import safe_string

from .plan import Plan
from .scoring import Scores
from .tables import clean_text
from .templates import DEFAULT_PASSWORD, build_template
from .templates.cache import (
    INPUT_FIELDS,
    KEY_FIELDS,
    KEY_SPECS,
    TemplateCache,
    TemplateLayout,
    generated_text,
    layout_of,
    password_key,
)
from .templates.reference import SnapshotValues
from .validators.returns import Validation
from .values import as_float, is_blank, key_part
from .workbook import contract as C
from .workbook import fastsave
from .workbook import style as S
from .workbook.io import atomic_write_bytes
from .workbook.patch import CellChange, patch_cells
from .workbook.memory import gc_paused

# Each copy is the settore's template -- kept by an earlier run (pegxl.templates.cache), or
# built from the plan in memory and written by the templates' own writer -- with the changed
# cells patched into its sheet XML (pegxl.workbook.patch): every other part of the file is
# the template's, byte for byte, but for the moment its properties say it was saved. The
# copies are written in worker processes while the main process writes the consolidated
# workbook.

# sheet -> its table and the fields a settore types in it
_TABLES = {sheet: (spec, INPUT_FIELDS[sheet]) for sheet, spec in KEY_SPECS.items()}
PERCENT_FORMAT = "0.00%"

# sheet -> header -> record key -> the new cell
Changes = dict[str, dict[str, dict[tuple, CellChange]]]


@dataclass(frozen=True)
class CopyJob:
    """One settore's copy: what the worker that writes it needs besides the plan."""
    sector: str
    target: Path
    generated_at: Any
    password_hash: str | None
    changes: Changes


class _Fingerprint:
    """plan.fingerprint(), computed on first use (it hashes every settore)."""

    def __init__(self, plan: Plan):
        self.plan = plan
        self.value: str | None = None

    def __call__(self) -> str:
        if self.value is None:
            self.value = self.plan.fingerprint()
        return self.value


def _fp(fingerprint: Any) -> str | None:
    return fingerprint() if callable(fingerprint) else fingerprint


def _plain(v: Any) -> Any:
    """A frame's value as a Python one (numpy scalars carry their own types)."""
    item = getattr(v, "item", None)
    return item() if item is not None and type(v).__module__ == "numpy" else v


def copy_jobs(v: Validation, scores: Scores, chosen: dict[str, Any],
              targets: dict[str, Path]) -> list[CopyJob]:
    """The copies to write (see iter_copy_jobs for their order)."""
    return list(iter_copy_jobs(v, scores, chosen, targets))


def iter_copy_jobs(v: Validation, scores: Scores, chosen: dict[str, Any],
                   targets: dict[str, Path]) -> Iterator[CopyJob]:
    """The copies to write, one made at a time (a thousand settori's cells held at once
    would grow with the files): every value each settore typed (as validated, text always
    as text, a percentage typed as such shown as one, a date as a date) and the computed
    percentages, as values, in Obiettivi «Grado calcolato %» and Indicatori
    «Raggiungimento %».

    In the order of `targets`, the tables' columns taken as lists here, when called (the
    iterator may then run in another thread while this one reads the tables); for a
    validation spilled to disk (a merge's), in the order of the files, a batch of them read
    at a time as the jobs are made."""
    names = {C.SHEET_OBJECTIVES: "objectives", C.SHEET_PHASES: "phases", C.SHEET_INDICATORS: "indicators"}

    def typed_of(frames: dict[str, pd.DataFrame]) -> list[tuple]:
        typed = []   # per sheet: its fields' columns, its key columns, the rows of each file
        for sheet, (spec, fields) in _TABLES.items():
            df = frames.get(names[sheet])
            if df is None or df.empty:
                continue
            cols = {fld: f"{fld}_raw" if f"{fld}_raw" in df.columns else fld for fld in fields}
            wanted = dict.fromkeys([*KEY_FIELDS[sheet], *cols.values(),
                                    *(f"{fld}_percent" for fld in fields if f"{fld}_percent" in df.columns)])
            lists = {c: df[c].tolist() for c in wanted}   # as to_dict("records") gives them
            typed.append((sheet, spec, cols, lists, df.groupby("file", sort=False).indices))
        return typed

    path_of = {rf.path: s for s, rf in chosen.items() if s in targets}
    # a merge's validation has its tables on disk (Validation.batches), read a batch at a
    # time; one held in memory is taken as lists now, one batch of all files
    columns = {names[sheet]: [*KEY_FIELDS[sheet], *(c for fld in fields for c in (fld, f"{fld}_raw", f"{fld}_percent"))]
               for sheet, (_spec, fields) in _TABLES.items()}
    batches: Iterable[tuple[list[str], list[tuple]]] = (
        ((paths, typed_of(tables)) for paths, tables in v.batches(path_of, columns))
        if getattr(v, "spilled", False) else
        [([chosen[s].path for s in targets],
          typed_of({"objectives": v.objectives, "phases": v.phases, "indicators": v.indicators}))])
    # the scores' own arrays and each settore's positions in them: lists of them (a Python
    # float or int per row of 1,000 settori) were megabytes held while every copy is made
    obj, ind = scores.objectives, scores.indicators
    computed = (obj["objective"].to_numpy(), obj["computed"].to_numpy())
    achieved = (ind["objective"].to_numpy(), ind["indicator"].to_numpy(), ind["score"].to_numpy())
    nothing = np.empty(0, dtype=np.intp)
    of_obj = obj.groupby("sector", sort=False).indices if len(obj) else {}
    of_ind = ind.groupby("sector", sort=False).indices if len(ind) else {}
    by_sector = {s: (of_obj.get(s, nothing), of_ind.get(s, nothing)) for s in targets}

    def changes_of(typed: list[tuple], sector: str, path: str) -> Changes:
        changes: Changes = {}
        for sheet, spec, cols, lists, rows in typed:
            if path not in rows:
                continue
            by_header = changes.setdefault(sheet, {})
            keys = [lists[f] for f in KEY_FIELDS[sheet]]
            for i in rows[path]:
                key = tuple(key_part(_plain(k[i])) for k in keys)
                for fld, raw_col in cols.items():
                    raw = _plain(lists[raw_col][i])
                    if is_blank(raw):
                        continue
                    value = clean_text(raw) if isinstance(raw, str) else raw
                    fmt = None
                    percent = lists.get(f"{fld}_percent")
                    if percent is not None and percent[i]:
                        fmt = PERCENT_FORMAT
                    elif isinstance(value, (dt.date, dt.datetime)):
                        fmt = S.DATE_FORMAT
                    by_header.setdefault(spec.header(fld), {})[key] = CellChange(value, fmt)
        mine_obj, mine_ind = by_sector[sector]
        # this settore's rows as lists: the values as to_dict("records") gives them
        for objective, value in zip(*(col[mine_obj].tolist() for col in computed)):
            changes.setdefault(C.SHEET_OBJECTIVES, {}).setdefault(
                C.T_OBJECTIVES.header("computed"), {})[(key_part(objective),)] = CellChange(as_float(value))
        for objective, n, value in zip(*(col[mine_ind].tolist() for col in achieved)):
            changes.setdefault(C.SHEET_INDICATORS, {}).setdefault(
                C.T_INDICATORS.header("score"), {})[(key_part(objective), int(n))] = CellChange(as_float(value))
        return changes

    def jobs() -> Iterator[CopyJob]:
        for paths, typed in batches:
            for path in paths:
                s = path_of[path]
                rf = chosen[s]
                yield CopyJob(sector=s, target=targets[s], generated_at=_generated_at(rf.identity.get("generated_at")),
                              password_hash=getattr(rf, "password_hash", None) or None,
                              changes=changes_of(typed, s, path))
    return jobs()


def write_back(plan: Plan, job: CopyJob, target: str | os.PathLike | None = None, *,
               fingerprint: Any = None, reference: SnapshotValues | None = None,
               cache: TemplateCache | None = None) -> Path:
    """The copy of a settore's return that the office sends back (see copy_jobs), written
    atomically to `target` (default job.target).

    The return itself is never opened here: nothing it may carry besides the typed values
    -- formulas, defined names, external or DDE links, macros, connections, hyperlinks,
    merged cells, data validations that did not survive -- reaches the copy. Its live
    formulas (Riepilogo) are the template's own. `cache`: the plan's templates already
    built (pegxl.templates.cache), where the template is taken from if there, kept if not."""
    data, layout = _template_parts(plan, job, fingerprint, reference, cache)
    cells: dict[str, dict[str, CellChange]] = {}
    for sheet, by_header in job.changes.items():
        sl = layout.get(sheet)
        if sl is None:
            continue
        out = cells.setdefault(sl.title, {})
        for header, values in by_header.items():
            col = sl.columns.get(C.norm_header(header))
            if col is None:
                continue
            letter = get_column_letter(col)
            for key, change in values.items():
                for r in sl.rows.get(key, ()):
                    out[f"{letter}{r}"] = change
    # created and saved now, as a template built now would say (one kept says when it was)
    now = dt.datetime.now(tz=dt.timezone.utc).replace(tzinfo=None)
    data = patch_cells(data, cells, _heights(layout, cells), saved_at=now)
    return atomic_write_bytes(target if target is not None else job.target, data)


def _template_parts(plan: Plan, job: CopyJob, fingerprint: Any, reference: SnapshotValues | None,
                    cache: TemplateCache | None) -> tuple[bytes, TemplateLayout]:
    """The settore's template file and its layout: from `cache`, or built (and kept there)."""
    ident = None
    if cache is not None and job.generated_at is not None:   # without it, a template of now: never the same
        ident = (job.sector, generated_text(job.generated_at), job.password_hash or password_key(DEFAULT_PASSWORD))
        found = cache.get(*ident)
        if found is not None:
            return found
    with gc_paused():   # a workbook is thousands of objects in cycles: see templates
        wb = _template(plan, job, fingerprint, reference)
        buf: Any = BytesIO()   # fastsave writes a zip: to a path, or to memory
        fastsave.save(wb, buf)
        layout = layout_of(wb)
        fastsave.release(wb)
    data = buf.getvalue()
    if ident is not None and cache is not None:
        cache.put(*ident, data, layout)
    return data, layout


def _heights(layout: TemplateLayout, cells: dict[str, dict[str, CellChange]]) -> dict[str, dict[int, dict[str, str]]]:
    """The rows that grow with the text the settore typed (issue 13: the template's heights
    knew only the plan's texts), as style.fit_rows sizes them with that text in its cells,
    with the row attributes openpyxl would write."""
    out: dict[str, dict[int, dict[str, str]]] = {}
    by_title = {sl.title: sl for sl in layout.values()}
    for title, changes in cells.items():
        sl = by_title.get(title)
        texts: dict[int, dict[int, str]] = {}
        for ref, ch in changes.items():
            if isinstance(ch.value, str):
                col, row = coordinate_to_tuple(ref)[::-1]
                texts.setdefault(row, {})[col] = ch.value
        if sl is None or not texts:
            continue
        lines_of = S.Lines(None, widths=sl.widths)
        grown = {}
        for r, typed in sorted(texts.items()):
            # only the rows a text was typed in can grow: the others keep the template's height
            found = [(look[1], lines_of.count(typed[col], letter, look) if col in typed else n)
                     for col, letter, look, n in sl.cells.get(r, ())]
            height = S.fitted_height(found)
            if height is None:
                continue
            before = sl.attrs.get(r, {})
            # as a RowDimension whose height is set writes them: the others kept, in their order
            after = {**before, "ht": safe_string(height), "customHeight": "1"}
            if after != before:
                grown[r] = after
        if grown:
            out[title] = grown
    return out


def template_bytes(plan: Plan, job: CopyJob, fingerprint: Any = None,
                   reference: SnapshotValues | None = None) -> bytes:
    """The settore's template exactly as write_back builds it (the tests compare)."""
    buf: Any = BytesIO()
    fastsave.save(_template(plan, job, fingerprint, reference), buf)
    return buf.getvalue()


def _template(plan: Plan, job: CopyJob, fingerprint: Any, reference: SnapshotValues | None = None) -> Any:
    """The settore's template regenerated from the plan (its formulas, validations,
    protection), protected with the office's password as the return was."""
    wb = build_template(plan, job.sector, generated_at=job.generated_at, fingerprint=_fp(fingerprint),
                        reference=reference)
    if job.password_hash:
        # the office's own password (pegxl templates --password), kept as the return had it
        for ws in wb.worksheets:
            if ws.protection.sheet:
                ws.protection.set_password(job.password_hash, already_hashed=True)
        wb.security.set_workbook_password(job.password_hash, already_hashed=True)
    return wb


def _generated_at(value: Any) -> Any:
    """The return's «Generato il», kept in the copy when it is a date or a short clean
    text (it is the settore's cell: never more than that)."""
    if isinstance(value, (dt.date, dt.datetime)):
        return value
    text = clean_text(value) if isinstance(value, str) else None
    return text[:40] if text else None


