"""Rendering findings for people (text, grouped by file) and for scripts (versioned JSON)."""
from __future__ import annotations

import datetime as dt
import json
import unicodedata
from collections import OrderedDict
from typing import Any, Iterable

from . import __version__
from .errors import ERROR, Finding, count

JSON_SCHEMA_VERSION = "1"

# Characters a terminal acts on instead of showing: C0/C1 controls (newline, carriage
# return, ESC of the ANSI sequences, ...), formatting characters (bidi overrides and
# isolates, zero-width marks) and the Unicode line and paragraph separators.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _hidden(ch: str) -> bool:
    return unicodedata.category(ch) in _HIDDEN_CATEGORIES


def escape_text(value: Any, *, keep_newlines: bool = False) -> str:
    """`value` as text that prints as what it is: every control or formatting character
    (newline, CR, ESC, other C0/C1, bidi overrides, ...) shown as an escape (`\\n`,
    `\\x1b`, `\\u202e`). Names and texts read from untrusted files go through this before
    they are printed, so that a file name cannot forge a line of the report or drive the
    terminal. Non-ASCII escapes use the \\uXXXX form, which is also a valid JSON escape of
    the same character: `keep_newlines` text (a whole report, a JSON document) stays
    valid and means the same. Backslashes are not doubled (Windows paths stay readable)."""
    text = "" if value is None else str(value)
    if text.isprintable() or not any(_hidden(ch) for ch in text):
        return text
    out = []
    for i, ch in enumerate(text):
        if keep_newlines and (ch == "\n" or (ch == "\r" and text[i + 1:i + 2] == "\n")):
            out.append(ch)   # a line end (CRLF too: the CSV output), not a lone CR
        elif not _hidden(ch):
            out.append(ch)
        elif ch in _NAMED:
            out.append(_NAMED[ch])
        elif ord(ch) < 0x20:   # never raw in JSON: json.dumps escapes them itself
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) <= 0xFFFF:
            out.append(f"\\u{ord(ch):04x}")
        else:   # as JSON writes it: a surrogate pair
            n = ord(ch) - 0x10000
            out.append(f"\\u{0xD800 + (n >> 10):04x}\\u{0xDC00 + (n & 0x3FF):04x}")
    return "".join(out)


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def summary_line(findings: list[Finding]) -> str:
    e, w = count(findings)
    if not e and not w:
        return "nessun problema"
    return f"{_plural(e, 'errore', 'errori')}, {_plural(w, 'avviso', 'avvisi')}"


def render_text(findings: list[Finding], *, files: Iterable[str] | None = None, hints: bool = True,
                title: str | None = None) -> str:
    """Findings grouped by file, each with where, what and how to fix; then a tally."""
    groups: OrderedDict[str, list[Finding]] = OrderedDict()
    for name in files or []:
        groups.setdefault(str(name), [])
    for f in findings:
        groups.setdefault(f.file or "", []).append(f)
    lines: list[str] = []
    if title:
        lines.append(escape_text(title))
    for name, items in groups.items():
        e, _ = count(items)
        status = "utilizzabile" if not e else "DA CORREGGERE"
        # file names, sheet names, codes and cell texts come from the returns: escaped, so
        # that a name with a newline cannot print a forged "utilizzabile" line
        header = f"{escape_text(name) or '(generale)'}: {status} ({summary_line(items)})"
        lines.append(header)
        for f in sorted(items, key=lambda x: (x.severity != ERROR, x.sheet or "", x.row or 0, x.cell or "")):
            where = escape_text(f.where())
            lines.append(f"  {f.code} {f.severity}{' ' + where if where else ''}: {escape_text(f.message)}")
            if hints and f.hint:
                lines.append(f"      → {escape_text(f.hint)}")
    e, w = count(findings)
    n_files = len([g for g in groups if g])
    bad = len([g for g, items in groups.items() if g and any(i.is_error for i in items)])
    if n_files > 1 or files:
        lines.append(f"Totale: {_plural(n_files, 'file', 'file')}, {bad} da correggere; "
                     f"{_plural(e, 'errore', 'errori')}, {_plural(w, 'avviso', 'avvisi')}.")
    return "\n".join(lines)


def render_json(findings: list[Finding], *, command: str, files: Iterable[str] | None = None,
                extra: dict[str, Any] | None = None) -> str:
    """Versioned JSON report. Schema (version 1):

    {"schema": "pegxl-report", "version": "1", "pegxl": "<version>", "command": str,
     "generated_at": iso, "summary": {"files": n, "errors": n, "warnings": n, "usable": n},
     "files": [{"file": str, "usable": bool, "errors": n, "warnings": n, ...extra per file}],
     "findings": [{"code", "severity", "message", "hint", "file", "sheet", "cell", "row",
                   "column", "record", "value"}]}
    """
    by_file: OrderedDict[str, list[Finding]] = OrderedDict()
    for name in files or []:
        by_file.setdefault(str(name), [])
    for f in findings:
        if f.file:
            by_file.setdefault(f.file, []).append(f)
    file_rows = []
    for name, items in by_file.items():
        e, w = count(items)
        file_rows.append({"file": name, "usable": e == 0, "errors": e, "warnings": w})
    e, w = count(findings)
    doc = {
        "schema": "pegxl-report",
        "version": JSON_SCHEMA_VERSION,
        "pegxl": __version__,
        "command": command,
        "generated_at": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "summary": {"files": len(file_rows), "errors": e, "warnings": w,
                    "usable": sum(1 for r in file_rows if r["usable"])},
        "files": file_rows,
        "findings": [f.to_dict() for f in findings],
    }
    if extra:
        doc.update(extra)
    return json_text(doc)


def json_text(doc: Any) -> str:
    """A JSON document for output: like json.dumps(ensure_ascii=False), but the characters
    that json leaves raw and a terminal would act on (C1 controls, bidi overrides, ...) are
    written as \\uXXXX escapes (the same JSON value)."""
    return escape_text(json.dumps(doc, ensure_ascii=False, indent=2, default=str), keep_newlines=True)
