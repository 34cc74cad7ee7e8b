"""`pegxl merge` and `pegxl oiv`: the consolidated workbook for the OIV and its way back.

Registered by pegxl.cli with `main.add_command(merge_cmd)` / `main.add_command(oiv_cmd)`.
Exit status: 0 done, 1 refused because of errors in the files, 2 bad usage or a plan that
cannot be used.
"""
from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from .. import flows
from ..errors import EXIT_OK, ErrorCode, PegxlError, finding, show_value
from ..report import escape_text as _esc
from ..report import render_json, render_text
from ..values import format_percent
from ..workbook.contract import FORMAT_VERSION
from .common import CONTEXT, JOBS, echo, guarded
from .common import plan_or_exit as _plan_or_exit
from .common import progress as _progress


def _pct(x: Any) -> str:
    try:
        if x is None or x != x:
            return "—"
    except TypeError:
        return "—"
    return format_percent(float(x))


def _table(plan, scores, excluded: dict[str, str], *, before=None) -> str:
    """The summary table (rich), rendered to plain text for click.echo."""
    t = Table(title=f"{plan.ente} {plan.anno} – {plan.fase}", title_justify="left")
    t.add_column("Settore")
    t.add_column("Obiettivi", justify="right")
    t.add_column("Valutati", justify="right")
    if before is not None:
        t.add_column("Senza OIV", justify="right")
    t.add_column("Percentuale", justify="right")
    t.add_column("Fascia", justify="center")
    by = scores.sectors.set_index("sector")
    prev = before.sectors.set_index("sector") if before is not None else None
    for s in plan.sectors.itertuples():
        name = f"{s.sector} {s.sector_name or ''}".strip()
        if s.sector in by.index and s.sector not in excluded:
            r = by.loc[s.sector]
            cells = [name, str(int(r["n_objectives"])), str(int(r["n_assessed"]))]
            if prev is not None:
                cells.append(_pct(prev.loc[s.sector, "percentage"]) if s.sector in prev.index else "—")
            cells += [_pct(r["percentage"]), r["band"] or "—"]
        else:
            cells = [name, "—", "—"] + (["—"] if prev is not None else []) + \
                    ["escluso", "—"]
        t.add_row(*cells)
    t.add_section()
    ente = scores.ente
    inc = by.loc[[c for c in by.index if c not in excluded]]
    cells = ["Ente", str(int(inc["n_objectives"].sum())), str(int(inc["n_assessed"].sum()))]
    if before is not None:
        cells.append(_pct(before.ente.get("percentage")))
    cells += [_pct(ente.get("percentage")), ente.get("band") or "—"]
    t.add_row(*cells, style="bold")
    buf = io.StringIO()
    Console(file=buf, width=100, force_terminal=False, color_system=None).print(t)
    return buf.getvalue().rstrip("\n")


def _rules_doc(plan) -> dict:
    """The Regole in force and the format version, as every output with figures records
    them (scoring.md): a figure can be recomputed later by the same rules."""
    return {"format_version": FORMAT_VERSION,
            "rules": [{"name": name, "value": value} for name, value in plan.rules.as_rows()]}


def _rules_line(plan) -> str:
    return ("Regole in vigore: " + " · ".join(f"{name} {show_value(value)}" for name, value in plan.rules.as_rows())
            + f" (formato {FORMAT_VERSION})")


def _sector_rows(plan, scores, excluded: dict[str, str]) -> list[dict]:
    by = scores.sectors.set_index("sector")
    rows = []
    for code in plan.sector_codes:
        if code in by.index and code not in excluded:
            r = by.loc[code]
            pct = r["percentage"]
            rows.append({"sector": code, "sector_name": r["sector_name"], "n_objectives": int(r["n_objectives"]),
                         "n_assessed": int(r["n_assessed"]),
                         "percentage": None if pct != pct else float(pct), "band": r["band"],
                         "excluded": None})
        else:
            rows.append({"sector": code, "excluded": excluded.get(code, "file mancante")})
    return rows


# -------------------------------------------------------------------------- merge

@click.command("merge", context_settings=CONTEXT)
@click.option("--plan", "plan_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Il piano (piano.xlsx).")
@click.argument("items", nargs=-1, required=True, metavar="RESTITUITI...", type=click.Path(path_type=Path))
@click.option("-o", "--output", "outdir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Cartella dove scrivere il consolidato e le copie restituite.")
@click.option("--partial", is_flag=True,
              help="Consolida comunque, escludendo i settori senza un file utilizzabile.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Formato dell'uscita: text (da leggere) o json (per gli script).")
@click.option("--db", "db_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Archivio dei cicli (predefinito: pegxl-archivio.sqlite accanto al piano).")
@click.option("--no-archive", is_flag=True, help="Non archivia il ciclo.")
@JOBS
@guarded
def merge_cmd(plan_path: Path, items: tuple[Path, ...], outdir: Path, partial: bool, fmt: str,
              db_path: Path | None, no_archive: bool, jobs: int | None) -> None:
    """Consolida i file restituiti dai settori (cartelle o file .xlsx/.ods).

    Scrive CARTELLA/<Anno>_consolidato_OIV.xlsx per l'OIV (CARTELLA è --output) e, in CARTELLA/restituiti, una copia
    di ogni file con le percentuali calcolate. Gli originali non vengono modificati.

    Codice di uscita: 0 fatto, 1 rifiutato per errori nei file (vedi --partial),
    2 uso errato o piano illeggibile."""
    plan = _plan_or_exit(plan_path)
    paths = flows.returns_in(None, items)
    prog, update = _progress("Consolidamento")
    db = None if no_archive else (db_path or "beside the plan")
    try:
        if prog and len(paths) >= 5:
            with prog:
                result = flows.merge_cycle(plan, paths, outdir, partial=partial, progress=update, db=db,
                                           jobs=jobs)
        else:
            result = flows.merge_cycle(plan, paths, outdir, partial=partial, db=db, jobs=jobs)
    except PegxlError as exc:
        if fmt != "json":
            raise
        # a refusal is a report too: the same JSON shape as validate's, with the findings
        echo(render_json(exc.findings, command="merge", files=[str(p) for p in paths]))
        sys.exit(exc.exit_code)
    v = result.validation
    if fmt == "json":
        doc = {
            "archive": _archive_doc(result.archived),
            "schema": "pegxl-merge", "version": "1", "command": "merge", "run_id": result.run_id,
            "ente": plan.ente, "anno": plan.anno, "fase": plan.fase, "partial": partial,
            **_rules_doc(plan),
            "sectors": _sector_rows(plan, result.scores, result.excluded),
            "ente_result": {"percentage": result.scores.ente.get("percentage"),
                            "band": result.scores.ente.get("band")},
            "reconciliation": result.reconciliation.to_dict(),
            "consolidated": str(result.consolidated),
            "returned": {s: str(p) for s, p in result.returned.items()},
            "excluded": result.excluded, "missing": result.missing, "notes": result.notes,
            "findings": [f.to_dict() for f in [*v.findings, *result.findings]],
        }
        echo(json.dumps(doc, ensure_ascii=False, indent=2, default=str))
        sys.exit(EXIT_OK)
    problems = [f for f in v.findings if f.file]
    if problems:
        echo(render_text(problems, hints=False))
        echo()
    for f in result.findings:
        echo(f"{f.code} {f.severity}: {_esc(f.message)}")
    if result.findings:
        echo()
    echo(_table(plan, result.scores, result.excluded))
    echo(_rules_line(plan))
    echo()
    echo(result.reconciliation.line())
    for note in result.notes:
        echo(f"Nota: {_esc(note)}")
    echo(f"Consolidato per l'OIV: {_esc(result.consolidated)}")
    if len(result.returned) > 10:
        folder = next(iter(result.returned.values())).parent
        echo(f"Copie restituite con le percentuali calcolate: {len(result.returned)} file in {_esc(folder)}")
    else:
        for s, p in result.returned.items():
            echo(f"Copia restituita ({_esc(s)}): {_esc(p)}")
    _echo_archive(result.archived)
    sys.exit(EXIT_OK)


# The archive is written by the library in the same all-or-nothing step as the workbooks
# (merge_cycle, oiv_cycle): a refusal of the archive (A003) is a refusal of the whole run.

def _archive_doc(stored) -> dict:
    if stored is None:
        return {"stored": False}
    return {"stored": True, "db": stored.db_path, "cycle": stored.id, "version": stored.version}


def _echo_archive(stored) -> None:
    if stored is not None:
        echo(f"Ciclo archiviato in {stored.db_path} (ciclo {stored.id}, versione {stored.version}).")


# ---------------------------------------------------------------------------- oiv

@click.command("oiv", context_settings=CONTEXT)
@click.option("--plan", "plan_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Il piano (piano.xlsx).")
@click.argument("consolidated", metavar="CONSOLIDATO", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", "outdir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Cartella dove scrivere il consolidato finale.")
@click.option("--returns", "returns_dir", type=click.Path(path_type=Path), default=None,
              help="Facoltativo: rilegge i valori dai file restituiti (devono essere quelli consolidati).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Formato dell'uscita: text (da leggere) o json (per gli script).")
@click.option("--db", "db_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Archivio dei cicli, con cui si controlla il consolidato dell'OIV "
                   "(predefinito: pegxl-archivio.sqlite accanto al piano).")
@click.option("--no-archive", is_flag=True, help="Non archivia il ciclo (il controllo con l'archivio resta).")
@guarded
def oiv_cmd(plan_path: Path, consolidated: Path, outdir: Path, returns_dir: Path | None, fmt: str,
            db_path: Path | None, no_archive: bool) -> None:
    """Legge il consolidato compilato dall'OIV e scrive il consolidato finale.

    Le Valutazioni OIV % sostituiscono il Grado % dove compilate e i totali sono
    ricalcolati; il foglio «Differenze OIV» elenca gli scostamenti.

    Codice di uscita: 0 fatto, 1 file dell'OIV con errori (celle bloccate cambiate, valori
    fuori intervallo, piano diverso), 2 uso errato o piano illeggibile."""
    plan = _plan_or_exit(plan_path)
    if not consolidated.exists():
        raise PegxlError(finding(ErrorCode.F001, file=str(consolidated), detail="file non trovato"), exit_code=2)
    # the OIV's workbook is checked against the archive even with --no-archive (which only
    # leaves this oiv cycle out of it)
    result = flows.oiv_cycle(plan, consolidated, outdir, returns_dir, db=db_path or "beside the plan",
                       store=not no_archive)
    excluded = {s: "" for s in plan.sector_codes if s not in set(result.scores.sectors["sector"])}
    if fmt == "json":
        diffs = result.differences
        doc = {
            "archive": _archive_doc(result.archived),
            "checked_against_archive": _checked_doc(result.checked_against),
            "schema": "pegxl-oiv", "version": "1", "command": "oiv", "run_id": result.run_id,
            "ente": plan.ente, "anno": plan.anno, "fase": plan.fase,
            **_rules_doc(plan),
            "sectors": _sector_rows(plan, result.scores, excluded),
            "ente_result": {"percentage": result.scores.ente.get("percentage"),
                            "band": result.scores.ente.get("band"),
                            "percentage_before": result.scores_before.ente.get("percentage")},
            "differences": [{k: (None if isinstance(v, float) and v != v
                                 else bool(v) if k == "oiv_not_assessable" else v) for k, v in r.items()}
                            for r in diffs.to_dict("records")],
            "final": str(result.path),
            "findings": [f.to_dict() for f in result.findings],
        }
        echo(json.dumps(doc, ensure_ascii=False, indent=2, default=str))
        sys.exit(EXIT_OK)
    if result.findings:
        echo(render_text(result.findings, hints=True))
        echo()
    n = result.n_assessed
    echo(f"Valutazioni OIV in vigore: {n} obiettiv{'o' if n == 1 else 'i'}.")
    na = result.differences
    na = na[na["oiv_not_assessable"]]
    if len(na):
        echo("Non valutabili secondo l'OIV (esclusi dalle medie): "
             + ", ".join(f"{s} / {o}" for s, o in zip(na["sector"], na["objective"])) + ".")
    if result.checked_against is not None:
        echo(f"Controllato con l'archivio: ogni valore è quello scritto dal {result.checked_against.label}.")
    echo(_table(plan, result.scores, excluded, before=result.scores_before))
    echo(_rules_line(plan))
    echo()
    echo(f"Consolidato finale: {_esc(result.path)}")
    _echo_archive(result.archived)
    sys.exit(EXIT_OK)


def _checked_doc(run) -> dict:
    if run is None:
        return {"checked": False}
    return {"checked": True, "cycle": run.cycle_id, "version": run.version, "run_id": run.run_id,
            "values_sha256": run.values_sha256}
