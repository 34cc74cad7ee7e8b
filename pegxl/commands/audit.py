"""`pegxl diff` and what `pegxl history` shows of the audit trail (resubmissions, states,
archived cycles). Thin click layers over pegxl.flows and pegxl.archive.audit.

Registered by pegxl.cli: main.add_command(diff_cmd).
"""
from __future__ import annotations

import datetime as dt
import json
import math
import sys
from pathlib import Path
from typing import Any

import click
import pandas as pd

from .. import flows
from ..archive import cycles as archived_cycles
from ..archive.audit import resubmissions, state_log
from ..archive.trail import Change
from ..diff import record_label, shown
from ..errors import EXIT_OK, EXIT_UNUSABLE, ErrorCode, PegxlError, finding
from ..export import CSV_BOM, to_csv_text
from ..report import escape_text
from .common import CONTEXT, echo, guarded
from .common import plan_or_exit as _plan_or_exit


@click.command("diff", context_settings=CONTEXT)
@click.option("--plan", "plan_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Il piano (piano.xlsx).")
@click.argument("files", nargs=-1, metavar="[PRIMA DOPO]", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--snapshot", "snapshots", multiple=True, metavar="CICLO",
              help="Un ciclo archiviato (due volte: prima e dopo): id del ciclo (`pegxl history --cycles`), "
                   "identificativo del consolidamento o Fase del ciclo.")
@click.option("--sector", "sector", metavar="CODICE", help="Con --snapshot: solo questo settore.")
@click.option("--db", "db_path", type=click.Path(dir_okay=False, path_type=Path),
              help="L'archivio SQLite (predefinito: pegxl-archivio.sqlite accanto al piano).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Formato delle differenze: text (da leggere) o json (per gli script).")
@guarded
def diff_cmd(plan_path: Path, files: tuple[Path, ...], snapshots: tuple[str, ...], sector: str | None,
             db_path: Path | None, fmt: str) -> None:
    """Le celle cambiate tra due restituzioni dello stesso settore (PRIMA DOPO), o tra due
    cicli archiviati (--snapshot A --snapshot B): foglio, codice, colonna, prima → dopo.

    I valori sono confrontati per quello che significano (45% e 45 in una colonna 0-100
    sono lo stesso valore; un .xlsx e il suo .ods non hanno differenze).
    Codice di uscita: 0 confronto fatto, 2 file o cicli non confrontabili."""
    plan = _plan_or_exit(plan_path)
    if snapshots and files or not snapshots and len(files) != 2 or snapshots and len(snapshots) != 2:
        raise PegxlError(finding(ErrorCode.U001, detail="indicare due file restituiti (PRIMA DOPO) oppure due "
                                                        "--snapshot"), exit_code=EXIT_UNUSABLE)
    if sector and not snapshots:
        raise PegxlError(finding(ErrorCode.U001, detail="--sector vale solo con --snapshot"), exit_code=EXIT_UNUSABLE)
    if snapshots:
        report = flows.diff_snapshots(plan, snapshots[0], snapshots[1], db=db_path or flows.BESIDE_PLAN,
                                      sector=sector)
    else:
        report = flows.diff_returns(plan, files[0], files[1])
    echo(report.render(fmt))
    sys.exit(EXIT_OK)


def echo_text(text: str) -> None:
    """`echo` for a report that may be CSV: its leading byte-order mark (which echo would
    show escaped, as it does every invisible character) is written as it is, so that a
    CSV redirected to a file opens in Italian Excel with the accents right."""
    if text.startswith(CSV_BOM):
        click.echo(CSV_BOM, nl=False)
        text = text[len(CSV_BOM):]
    echo(text)


# ---------------------------------------------------------------- history views

def _when(text: Any) -> str:
    try:
        return dt.datetime.fromisoformat(str(text)).strftime("%d/%m/%Y %H:%M")
    except ValueError:
        return str(text or "")


def _plain(v: Any) -> Any:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    return v.item() if hasattr(v, "item") else v


def _int_or_none(v: Any) -> int | None:
    v = _plain(v)
    return None if v is None else int(v)


def _out(rows: list[dict[str, Any]], fmt: str, schema: str, text_lines: list[str]) -> str:
    if fmt == "json":
        return json.dumps({"schema": schema, "version": "1", "rows": rows}, ensure_ascii=False, indent=2,
                          default=str)
    if fmt == "csv":
        return to_csv_text(pd.DataFrame(rows), bom=True).rstrip("\r\n")
    return "\n".join(text_lines)


def resubmissions_view(db: Path, ente: str, anno: int, fase: str, sector: str | None, fmt: str) -> str | None:
    """The audit trail of merge: every resubmission (file, SHA-256, when) and its cells."""
    df = resubmissions(db, ente, anno, fase, sector)
    if df.empty:
        return None
    rows: list[dict[str, Any]] = []
    lines: list[str] = [f"Nuove consegne archiviate ({escape_text(ente)}, {anno}, {escape_text(fase)})"]
    for _, g in df.groupby("resubmission", sort=False):
        first = g.iloc[0]
        lines.append("")
        lines.append(f"{escape_text(first['sector'])}: {escape_text(Path(str(first['file'])).name)} consolidato il "
                     f"{_when(first['recorded_at'])} (ciclo {int(first['cycle_id'])}), sostituisce "
                     f"{escape_text(Path(str(first['previous_file'])).name)} (ciclo {int(first['previous_cycle_id'])})")
        lines.append(f"  SHA-256 {first['sha256']}, prima {first['previous_sha256']}")
        base = {"Codice settore": first["sector"], "File": first["file"], "SHA-256": first["sha256"],
                "Letto il": first["read_at"], "Consolidato il": first["recorded_at"], "Ciclo": int(first["cycle_id"]),
                "File precedente": first["previous_file"], "SHA-256 precedente": first["previous_sha256"],
                "Ciclo precedente": int(first["previous_cycle_id"])}
        changes = [r for r in g.to_dict("records") if _plain(r["sheet"]) is not None]
        if not changes:
            lines.append("  nessuna differenza nei valori")
            rows.append({**base, "Foglio": None, "Codice": None, "Colonna": None, "Prima": None, "Dopo": None})
        for r in changes:
            c = Change(r["sector"], r["sheet"], r["objective"], _int_or_none(r["number"]), r["column_name"],
                       _plain(r["old"]), _plain(r["new"]), r["kind"] or "testo")
            old, new = shown(c.old, c.kind), shown(c.new, c.kind)
            lines.append(f"  - {escape_text(c.sheet)}, {escape_text(record_label(c))}, «{escape_text(c.column)}»: "
                         f"{escape_text(old)} → {escape_text(new)}")
            rows.append({**base, "Foglio": c.sheet, "Codice": record_label(c), "Colonna": c.column,
                         "Prima": old, "Dopo": new})
    return _out(rows, fmt, "pegxl-resubmissions", lines)


def states_view(db: Path, ente: str, anno: int, fase: str, sector: str | None, fmt: str) -> str | None:
    """Every state of the settori's returns, with its time and the command that caused it."""
    df = state_log(db, ente, anno, fase, sector)
    if df.empty:
        return None
    rows, lines = [], [f"Stati delle consegne ({escape_text(ente)}, {anno}, {escape_text(fase)})"]
    for r in df.to_dict("records"):
        rows.append({"Codice settore": r["sector"], "Stato": r["state"], "Dal": r["at"], "Comando": r["command"],
                     "File": _plain(r["file"]), "SHA-256": _plain(r["sha256"]), "Nota": _plain(r["detail"])})
        extra = f" ({escape_text(r['detail'])})" if _plain(r["detail"]) else ""
        lines.append(f"{escape_text(r['sector'])}: {r['state']}{extra} dal {_when(r['at'])} — pegxl {r['command']}")
    return _out(rows, fmt, "pegxl-states", lines)


def cycles_view(db: Path, ente: str | None, fmt: str) -> str | None:
    """The archived cycles with their ids (what `pegxl diff --snapshot` takes)."""
    df = archived_cycles(db, ente=ente)
    if df.empty:
        return None
    rows, lines = [], ["Cicli archiviati (id per `pegxl diff --snapshot`)"]
    for r in df.sort_values("id").to_dict("records"):
        kind = "valutazione OIV" if r["kind"] == "oiv" else "consolidamento"
        rows.append({"Id ciclo": int(r["id"]), "Ente": r["ente"], "Anno": int(r["anno"]), "Fase del ciclo": r["fase"],
                     "Ciclo": r["kind"], "Versione": int(r["version"]), "Archiviato il": r["created_at"]})
        lines.append(f"{int(r['id'])}: {escape_text(r['ente'])} {int(r['anno'])}, {escape_text(r['fase'])}, {kind} "
                     f"versione {int(r['version'])} del {_when(r['created_at'])}")
    return _out(rows, fmt, "pegxl-cycles", lines)
