"""Rows of a write-only sheet made as text by a forked process, while this process writes
the other sheets (pegxl.consolidated: the Calcolo sheet of a large ente, a third of the
consolidated workbook's work).

The forked process shares this one's memory (nothing is pickled on the way there) and
writes the rows, as FastWriteOnlyWorksheet.append_plain would, into a temporary file that
the sheet then takes whole (append_text). The style ids in the text are the book's: the
styles the rows use are put in the book before the fork.
"""
from __future__ import annotations

import gc
import multiprocessing
import os
import pickle
import tempfile
from typing import Any, Callable, Iterable

from openpyxl import LXML

from .fastrows import FastWriteOnlyWorkbook, PlainRow
from .fastsave import style_id

# styles -> the rows, each with its height (None: the default)
MakeRows = Callable[[tuple[Any, ...]], Iterable[tuple[PlainRow, float | None]]]


class ForkedRows:
    """`make_rows(styles)` run by a forked process, its rows written as text for rows
    `first` on of a FastWriteOnlyWorksheet of `book`. `result()` gives them; `close()`
    always (it stops the process if still running and removes its files)."""

    def __init__(self, book: Any, styles: tuple[Any, ...], make_rows: MakeRows, first: int):
        ids: dict[bytes, str | None] = {}
        for style in styles:   # in the book before the fork: the child's ids are the book's
            style_id(book, style, ids)
        fd, self.path = tempfile.mkstemp(prefix="pegxl-righe-", suffix=".xml")
        os.close(fd)
        self.outcome = self.path + ".esito"
        ctx = multiprocessing.get_context("fork")
        self.proc: Any = ctx.Process(target=_child, name="pegxl-righe", daemon=True,
                                     args=(book, styles, make_rows, first, self.path, self.outcome))
        self.proc.start()

    @staticmethod
    def possible(book: Any) -> bool:
        """Whether the rows of `book`'s sheets can be made so: a fork start method, and the
        sheets writing their rows as text (FastWriteOnlyWorkbook without lxml)."""
        return ("fork" in multiprocessing.get_all_start_methods() and isinstance(book, FastWriteOnlyWorkbook)
                and not LXML and not book.iso_dates)

    def result(self) -> tuple[str, int]:
        """(file of the rows' text, number of rows), once the process has made them; its
        exception, if it raised one."""
        self.proc.join()
        try:
            with open(self.outcome, "rb") as f:
                kind, value = pickle.load(f)
        except (OSError, EOFError, pickle.UnpicklingError):
            raise RuntimeError("il processo che scrive le righe del foglio si è interrotto "
                               f"(codice di uscita {self.proc.exitcode})") from None
        if kind != "ok":
            raise value
        return self.path, int(value)

    def close(self) -> None:
        if self.proc.is_alive():
            self.proc.terminate()
        self.proc.join()
        for path in (self.path, self.outcome):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass


def _child(book: Any, styles: tuple[Any, ...], make_rows: MakeRows, first: int, path: str,
           outcome: str) -> None:
    # the parent's objects out of the collector's sweeps: a sweep writes to, and so copies,
    # every page it walks
    gc.freeze()
    out: tuple[str, Any]
    try:
        ws = book.create_sheet("_righe")   # a scratch sheet of this copy of the book, for its text
        idx = first
        with open(path, "w", encoding="utf-8") as f:
            for cells, height in make_rows(styles):
                f.write(ws.row_text(cells, idx, height))
                idx += 1
        out = ("ok", idx - first)
    except BaseException as exc:   # raised again by the parent
        out = ("error", exc)
    try:
        data = pickle.dumps(out)
    except Exception:   # an exception that cannot be pickled: its text
        data = pickle.dumps(("error", RuntimeError(f"{type(out[1]).__name__}: {out[1]}")))
    try:
        with open(outcome, "wb") as f:
            f.write(data)
    finally:
        # at once: an exit that flushed the buffers it shares with the parent (the other
        # sheets' files) would write their data a second time
        os._exit(0)
