"""Saving a large write-only workbook with its sheets compressed by threads.

openpyxl's `save` zips a write-only workbook's sheets one after the other from their
temporary files, at zlib's default level: about 5 s for the 300 MB of sheet text of a
consolidated workbook of 1,000 settori, with every other core idle at the end of a merge.
zlib lets go of the GIL while it compresses, so here every sheet is closed first and its
file compressed by a thread of its own (`threads` at once), while openpyxl writes the
parts in its usual order into `_Archive`, which takes each sheet's deflated bytes as they
are ready. The parts are openpyxl's, byte for byte, at the same level of compression (a
test compares them); only the zip entries' timestamps differ. A workbook whose sheets reach
zip64 sizes (4 GiB) is left to openpyxl's own `save`.
"""
from __future__ import annotations

import datetime as dt
import os
import struct
import time
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, BinaryIO

from openpyxl.workbook.workbook import Workbook
from openpyxl.writer.excel import ExcelWriter

CHUNK = 1 << 20
ZIP32_MAX = 0xFFFFFFFF - (64 << 20)   # the sheets' text, with room for the other parts
LEVEL = zlib.Z_DEFAULT_COMPRESSION     # zipfile's, when no compresslevel is given
# (crc32, size, deflated chunks) of a part
Deflated = tuple[int, int, list[bytes]]


def _deflate(chunks: Any) -> Deflated:
    co = zlib.compressobj(LEVEL, zlib.DEFLATED, -15)   # raw deflate: a zip entry's data
    crc = size = 0
    out = []
    for chunk in chunks:
        crc = zlib.crc32(chunk, crc)
        size += len(chunk)
        out.append(co.compress(chunk))
    out.append(co.flush())
    return crc, size, out


def _deflate_file(path: str) -> Deflated:
    with open(path, "rb") as f:
        return _deflate(iter(lambda: f.read(CHUNK), b""))


def _dos_time(moment: time.struct_time) -> tuple[int, int]:
    y, mo, d, h, mi, s = moment[:6]
    return (h << 11) | (mi << 5) | (s // 2), ((max(y, 1980) - 1980) << 9) | (mo << 5) | d


class _Archive:
    """What openpyxl's ExcelWriter asks of its ZipFile (writestr, write, namelist, close),
    writing deflated entries in order; `ready` holds the sheets' files being deflated."""

    def __init__(self, fp: BinaryIO, ready: dict[str, Future[Deflated]]):
        self.fp, self.ready = fp, ready
        self.entries: list[tuple[bytes, int, int, int, int, int]] = []   # name, flags, crc, sizes, offset
        self.clock = _dos_time(time.localtime())

    def namelist(self) -> list[str]:
        return [e[0].decode("utf-8") for e in self.entries]

    def writestr(self, name: str, data: str | bytes) -> None:
        self._entry(name, *_deflate([data.encode("utf-8") if isinstance(data, str) else data]))

    def write(self, filename: str | os.PathLike[str], arcname: str | None = None) -> None:
        key = os.fspath(filename)
        job = self.ready.pop(key, None)
        self._entry(arcname or key, *(job.result() if job is not None else _deflate_file(key)))

    def _entry(self, name: str, crc: int, size: int, chunks: list[bytes]) -> None:
        raw = name.encode("utf-8")
        packed = sum(map(len, chunks))
        offset = self.fp.tell()
        if max(size, packed, offset + 30 + len(raw) + packed) >= 0xFFFFFFFF or len(self.entries) >= 0xFFFF:
            raise ValueError(f"parte {name}: il file supera i limiti di uno zip senza zip64")
        flags = 0 if raw.isascii() else 0x800
        t, d = self.clock
        self.fp.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, flags, 8, t, d, crc, packed, size,
                                  len(raw), 0) + raw)
        for chunk in chunks:
            self.fp.write(chunk)
        self.entries.append((raw, flags, crc, packed, size, offset))

    def close(self) -> None:
        start = self.fp.tell()
        t, d = self.clock
        for raw, flags, crc, packed, size, offset in self.entries:
            self.fp.write(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, (3 << 8) | 20, 20, flags, 8, t, d,
                                      crc, packed, size, len(raw), 0, 0, 0, 0, 0o100600 << 16, offset) + raw)
        end = self.fp.tell()
        n = len(self.entries)
        if end >= 0xFFFFFFFF:
            raise ValueError("il file supera i limiti di uno zip senza zip64")
        self.fp.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, n, n, end - start, start, 0))


def save_threaded(workbook: Workbook, path: str | os.PathLike[str], threads: int | None = None) -> None:
    """`workbook.save(path)` for a write-only workbook, its sheets compressed by `threads`
    threads (default: the cores, at most 4). Any other workbook: openpyxl's save."""
    book: Any = workbook   # openpyxl's attributes are untyped
    if not book.write_only:
        workbook.save(path)
        return
    if not book.worksheets:   # as Workbook.save does
        workbook.create_sheet()
    for ws in book.worksheets:
        if not ws.closed:
            ws.close()
    files = [ws._writer.out for ws in book.worksheets]
    if any(not isinstance(f, str) for f in files):
        workbook.save(path)   # in memory: not openpyxl's way, left to it
        return
    sizes = {f: os.path.getsize(f) for f in files}
    if sum(sizes.values()) > ZIP32_MAX:
        workbook.save(path)   # zip64: openpyxl's own
        return
    threads = threads or min(4, os.cpu_count() or 1)
    with ThreadPoolExecutor(threads, thread_name_prefix="pegxl-zip") as pool:
        # the largest first: the last to finish is then a small one
        ready = {f: pool.submit(_deflate_file, f) for f in sorted(files, key=sizes.__getitem__, reverse=True)}
        try:
            with open(path, "wb") as fp:
                book.properties.modified = dt.datetime.now(tz=dt.timezone.utc).replace(tzinfo=None)
                archive: Any = _Archive(fp, ready)   # the part of ZipFile ExcelWriter uses
                ExcelWriter(workbook, archive).save()
        finally:
            for job in ready.values():   # an error before every sheet was written: not waited for
                job.cancel()
