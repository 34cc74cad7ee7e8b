"""What a consolidated workbook records as written, kept on disk while it is written."""
from __future__ import annotations

import os
import tempfile
from typing import Any, Iterable, Iterator


class RecordSpill:
    """Records (sheet, key json, record json) kept in a temporary file, not in memory: a
    consolidated workbook of 1,000 settori records 100,000 rows, written into its
    `_pegxl_valori` and archived (`store_cycle(written=...)`) after the whole workbook.
    Iterable any number of times, in the order added; `extend` like a list's. `close()`
    (or the end of a `with`) removes the file."""

    BATCH = 2048   # lines written to the file at once

    def __init__(self) -> None:
        self._file: Any = tempfile.TemporaryFile("w+b")
        self._count = 0
        self._lines: list[str] = []

    def append(self, record: tuple[str, str, str]) -> None:
        sheet, key, rec = record
        # a sheet's name has no tab or line break, JSON text none unescaped: one line each
        self._lines.append(f"{sheet}\t{key}\t{rec}\n")
        self._count += 1
        if len(self._lines) >= self.BATCH:
            self._flush()

    def _flush(self) -> None:
        if self._lines:
            self._file.write("".join(self._lines).encode("utf-8", "surrogatepass"))
            self._lines = []

    def extend(self, records: Iterable[tuple[str, str, str]]) -> None:
        for r in records:
            self.append(r)

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[tuple[str, str, str]]:
        self._flush()
        f = self._file
        f.flush()
        end = f.tell()
        f.seek(0)
        try:
            while f.tell() < end:
                sheet, key, rec = f.readline()[:-1].decode("utf-8", "surrogatepass").split("\t", 2)
                yield sheet, key, rec
        finally:
            f.seek(0, os.SEEK_END)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> RecordSpill:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
