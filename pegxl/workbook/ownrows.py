"""A sheet of a workbook pegxl has just written, streamed from its XML a row at a time.

calamine gathers a whole sheet before it gives its first row: for the Fasi sheet of a
consolidated workbook of 1,000 settori, about 100 MB at the moment a merge holds the most.
The workbooks pegxl writes (fastsave: openpyxl's own serialisation, every text an inline
string) have a handful of cell forms, which one regular expression reads a megabyte at a
time. Anything else (a shared string, a formula, a time of day, an escape calamine would
decode its own way) raises NotOwnXml, and the caller reads the sheet with calamine
(`reader.iter_sheet_rows`): the values are always those calamine would give.
"""
from __future__ import annotations

import datetime as dt
import functools
import os
import re
import zipfile
from typing import Any, Callable, Iterable, Iterator
from xml.etree import ElementTree as ET

from openpyxl.styles.numbers import BUILTIN_FORMATS
from openpyxl.utils.datetime import from_excel

from ..errors import PegxlError
from .contract import norm_header
from .parts import NS_MAIN, sheet_parts
from .reader import _EXACT, MAX_ROWS, MAX_UNCOMPRESSED, _check_extents, _col_number, col_letter, sniff


class NotOwnXml(Exception):
    """A sheet this reader does not know how to read exactly: read it with calamine."""


# every cell form fastsave writes in a table sheet: an empty (styled) cell, a number, an
# empty number, a boolean, an inline string; _CELL with the column letters of its own
_FORM = (rb'(?: s="([0-9]{1,5})")?(?: t="(n|inlineStr|b)")?'
         rb'(?: />|><v>([^<]*)</v></c>|><v ?/></c>|><is><t(?: xml:space="preserve")?>([^<]*)</t></is></c>)')
_CELL = re.compile(rb'<c r="([A-Z]{1,3})([0-9]{1,7})"' + _FORM)
_OTHER_CELL = re.compile(rb"<(?:\w+:)?c[\s/>]")   # any cell _CELL leaves, a prefixed one too
_ENTITY = re.compile(rb"&(amp|lt|gt|quot|apos);")   # the only ones openpyxl writes
_NAMED = {b"amp": b"&", b"lt": b"<", b"gt": b">", b"quot": b'"', b"apos": b"'"}
CHUNK = 1 << 20


def iter_own_rows(path: str | os.PathLike[str], sheet: str, columns: Callable[[list[Any]], Iterable[int]], *,
                  max_rows: int = MAX_ROWS, bound: dict[str, tuple[int, int]] | None = None,
                  max_uncompressed: int = MAX_UNCOMPRESSED) -> Iterator[list[Any]]:
    """Row 1 of sheet `sheet` of `path` (the header, every column), then each later row
    holding a value, with only the 0-based `columns(header)` filled (the others None):
    values as reader.iter_sheet_rows gives them. Nothing when the sheet is not there;
    PegxlError as iter_sheet_rows (the same file checks). NotOwnXml, possibly after some
    rows, when the sheet has a cell this reader does not read exactly."""
    problems = sniff(path, max_uncompressed=max_uncompressed)
    if problems:
        raise PegxlError(problems)
    _check_extents(path, str(path), max_rows, [sheet], bound)
    with zipfile.ZipFile(path) as zf:
        part = next((p for name, p in sheet_parts(zf).items() if norm_header(name) == norm_header(sheet)), None)
        if part is None:   # calamine finds sheets its own way: it says whether there is one
            raise NotOwnXml("foglio non trovato")
        try:
            dates, unsure = _styles(zf)
        except (ET.ParseError, ValueError) as exc:
            raise NotOwnXml(f"stili: {exc}") from None
        with zf.open(part) as fh:
            try:
                yield from _rows(fh, dates, unsure, columns)
            except ValueError as exc:   # a number or a text (UnicodeDecodeError) calamine may read its own way
                raise NotOwnXml(str(exc)[:80]) from None


def _rows(fh: Any, dates: frozenset[bytes], unsure: frozenset[bytes],
          columns: Callable[[list[Any]], Iterable[int]]) -> Iterator[list[Any]]:
    cells: re.Pattern[bytes] | None = None   # the kept columns' cells, once the header is read
    at: dict[bytes, int] = {}
    width = 0
    current, last = b"", 0
    row: list[Any] = []
    seen: dict[bytes, Any] = {}
    for data in _blocks(fh):
        # every cell of a form read here (a C pass, no object per cell), or calamine reads it
        if _OTHER_CELL.search(_CELL.sub(b"", data)):
            raise NotOwnXml("cella di un'altra forma")
        start = 0
        if cells is None:   # the header: row 1 whole (empty when the sheet has no row 1)
            end = data.find(b"</row>")
            first = _CELL.findall(data, 0, max(end, 0))
            header: list[Any] = []
            if first and all(c[1] == b"1" for c in first):
                start = end
                for letters, _n, style, kind, v, text in first:
                    i = _col_number(letters) - 1
                    header.extend([None] * (i + 1 - len(header)))
                    header[i] = _value(style, kind, v, text, dates, unsure)
            yield header
            wanted = sorted({c for c in columns(header) if c is not None and c >= 0})
            at = {col_letter(c).encode(): c for c in wanted}
            width = wanted[-1] + 1 if wanted else 0
            cells = _kept_cells(tuple(at))
        for letters, number, style, kind, v, text in cells.findall(data, start):
            if number != current:
                if any(x is not None for x in row):
                    yield row
                r = int(number)
                if r <= last:
                    raise NotOwnXml("righe non in ordine")
                current, last, row = number, r, [None] * width
            # the commonest cells here, the others by _value
            if kind == b"inlineStr" and text and b"&" not in text and b"_x" not in text and b"\r" not in text:
                row[at[letters]] = text.decode("utf-8")
            elif (kind == b"n" and 0 < len(v) < 16 and (v.isdigit() or v[:1] == b"-" and v[1:].isdigit())
                  and style not in dates and style not in unsure):
                row[at[letters]] = int(v)
            elif v and kind != b"b" and style in dates:   # a few hundred days, each converted once
                day = seen.get(v)
                if day is None:
                    day = seen[v] = _number(v, style, dates, unsure)
                row[at[letters]] = day
            elif v or text or kind == b"b":
                row[at[letters]] = _value(style, kind, v, text, dates, unsure)
    if any(x is not None for x in row):
        yield row


def _blocks(fh: Any) -> Iterator[bytes]:
    """The sheet's XML a megabyte or so at a time, each block ending with a whole row."""
    tail = b""
    while True:
        chunk = fh.read(CHUNK)
        if not chunk:
            if tail:
                yield tail
            return
        data = tail + chunk
        cut = data.rfind(b"</row>") + 6
        if cut < 6:   # not one whole row yet
            tail = data
            continue
        yield data[:cut]
        tail = data[cut:]


@functools.lru_cache(maxsize=16)
def _kept_cells(letters: tuple[bytes, ...]) -> re.Pattern[bytes]:
    if not letters:
        return re.compile(rb"(?!)()()()()()()")   # matches nothing
    return re.compile(rb'<c r="(' + b"|".join(letters) + rb')([0-9]{1,7})"' + _FORM)


def _value(style: bytes, kind: bytes, v: bytes, text: bytes, dates: frozenset[bytes],
           unsure: frozenset[bytes]) -> Any:
    if kind == b"inlineStr":
        return _text(text) if text else None
    if kind == b"b":
        if v not in (b"0", b"1"):
            raise NotOwnXml("valore logico")
        return v == b"1"
    if text:
        raise NotOwnXml("testo in una cella numerica")
    return _number(v, style, dates, unsure) if v else None


def _number(v: bytes, style: bytes, dates: frozenset[bytes], unsure: frozenset[bytes]) -> Any:
    try:
        x = float(v)
    except ValueError:
        raise NotOwnXml("numero") from None
    if style in dates:
        if not x.is_integer() or not 0 < x < 2958466:
            raise NotOwnXml("data con ora")   # calamine's own rounding of the time
        value = from_excel(x)
        return value.date() if isinstance(value, dt.datetime) else value
    if style in unsure:
        raise NotOwnXml("formato numerico")
    if x.is_integer() and -_EXACT < x < _EXACT:
        return int(x)
    return x


def _text(raw: bytes) -> str:
    if b"_x" in raw:   # _xHHHH_, an escape calamine decodes
        raise NotOwnXml("sequenza _xHHHH_")
    if b"&" in raw:
        if raw.count(b"&") != len(_ENTITY.findall(raw)):
            raise NotOwnXml("entità")
        raw = _ENTITY.sub(_entity, raw)   # one pass: what it gives is never decoded again
    text = raw.decode("utf-8")
    if "\r" in text:   # as an XML parser (and calamine) reads line ends
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def _entity(m: re.Match[bytes]) -> bytes:
    return _NAMED[m.group(1)]


def _styles(zf: zipfile.ZipFile) -> tuple[frozenset[bytes], frozenset[bytes]]:
    """The style ids (as they appear in s="..") of dates, and those of any format that is
    neither a plain date nor a plain number (times, durations, literal text, sections...):
    calamine and openpyxl tell some of those apart differently, so a number in one of
    them sends the sheet to calamine. NotOwnXml for a workbook counting from 1904."""
    wb = ET.fromstring(zf.read("xl/workbook.xml"))
    pr = wb.find(f"{NS_MAIN}workbookPr")
    if pr is not None and pr.get("date1904") in ("1", "true"):
        raise NotOwnXml("date dal 1904")
    if "xl/styles.xml" not in zf.namelist():
        return frozenset(), frozenset()
    root = ET.fromstring(zf.read("xl/styles.xml"))
    codes: dict[int, str] = {int(k): v for k, v in BUILTIN_FORMATS.items()}
    for nf in root.iterfind(f"{NS_MAIN}numFmts/{NS_MAIN}numFmt"):
        codes[int(nf.get("numFmtId", "0"))] = nf.get("formatCode", "")
    dates, unsure = set(), set()
    for i, xf in enumerate(root.iterfind(f"{NS_MAIN}cellXfs/{NS_MAIN}xf")):
        kind = format_kind(codes.get(int(xf.get("numFmtId", "0"))))
        if kind == "date":
            dates.add(str(i).encode())
        elif kind != "number":
            unsure.add(str(i).encode())
    return frozenset(dates), frozenset(unsure)


_PLAIN_DATE = re.compile(r"(?:\[\$-[0-9A-Fa-f]{1,8}\])?[dmyDMY]+(?:[-/. ][dmyDMY]+)*")
_PLAIN_NUMBER = re.compile(r'(?:[0#?.,%+\- /()]|E[+-]|"[^"]*")*')


def format_kind(code: str | None) -> str:
    """"number" for General and formats of digits, signs and quoted text; "date" for a
    day/month/year format (a locale prefix allowed); "other" for anything else."""
    if code is None:
        return "other"
    if code == "General" or _PLAIN_NUMBER.fullmatch(code):
        return "number"
    if _PLAIN_DATE.fullmatch(code):
        return "date"
    return "other"
