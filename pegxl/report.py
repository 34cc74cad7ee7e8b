"""Rendering findings for people (text, grouped by file) and for scripts (versioned JSON)."""
from __future__ import annotations

import datetime as dt
import json
from collections import OrderedDict
from typing import Any, Iterable

from . import __version__
from .errors import ERROR, Finding, count

JSON_SCHEMA_VERSION = "1"


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
    groups: "OrderedDict[str, list[Finding]]" = OrderedDict()
    for name in files or []:
        groups.setdefault(str(name), [])
    for f in findings:
        groups.setdefault(f.file or "", []).append(f)
    lines: list[str] = []
    if title:
        lines.append(title)
    for name, items in groups.items():
        e, _ = count(items)
        status = "utilizzabile" if not e else "DA CORREGGERE"
        header = f"{name or '(generale)'}: {status} ({summary_line(items)})"
        lines.append(header)
        for f in sorted(items, key=lambda x: (x.severity != ERROR, x.sheet or "", x.row or 0, x.cell or "")):
            where = f.where()
            lines.append(f"  {f.code} {f.severity}{' ' + where if where else ''}: {f.message}")
            if hints and f.hint:
                lines.append(f"      → {f.hint}")
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
    by_file: "OrderedDict[str, list[Finding]]" = OrderedDict()
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
    return json.dumps(doc, ensure_ascii=False, indent=2, default=str)
