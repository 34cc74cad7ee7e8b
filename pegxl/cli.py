"""The `pegxl` command: a thin click layer over the library functions.

Every command maps PegxlError to its findings and exit status (0 clean, 1 problems,
2 unusable input or bad usage). No traceback reaches the user unless --debug.
"""
from __future__ import annotations

import contextlib
import json
import json as _json
import sys
from pathlib import Path

import click

from . import __version__, flows
from .commands.audit import diff_cmd
from .commands.around import (
    export_cmd,
    history_cmd,
    plan_next_cmd,
    send_cmd,
    status_cmd,
)
from .commands.common import CONTEXT, JOBS, busy, echo, guarded
from .commands.italiano import localize
from .commands.common import plan_or_exit as _plan_or_exit
from .commands.common import progress as _progress
from .commands.cycle import merge_cmd, oiv_cmd
from .commands.spiega import spiega_cmd
from .commands.documents import relazione_cmd, schede_cmd
from .demo import run_demo
from .errors import (
    EXIT_OK,
    EXIT_PROBLEMS,
    PegxlError,
    catalogue,
)
from .macros.commands import excel_group, plan_check_write_back
from .report import escape_text, json_text, render_json, render_text
from .validators.plan import has_errors
from .workbook.planfile import init_plan


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, "-V", "--version", prog_name="pegxl",
                      message="%(prog)s %(version)s")
@click.option("--debug", is_flag=True, help="Mostra il traceback completo in caso di errore.")
def main(debug: bool) -> None:
    """pegxl: il ciclo della performance (PEG / PIAO 2.2) sulle cartelle Excel.

    Ciclo tipico: init -> plan check -> templates -> validate -> merge -> oiv.
    """


# ------------------------------------------------------------------------ init / plan

@main.command("init", context_settings=CONTEXT)
@click.argument("directory", metavar="CARTELLA", type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Sovrascrive un piano.xlsx esistente.")
@guarded
def init_cmd(directory: Path, force: bool) -> None:
    """Crea CARTELLA/piano.xlsx vuoto, con intestazioni, regole ed elenchi a discesa."""
    path = init_plan(directory, force=force)
    echo(f"Creato {path}")
    echo("Compilare i fogli Ente, Settori, Obiettivi, Fasi e Indicatori, poi:")
    echo(f"  pegxl plan check {path}")


@main.group("plan", context_settings=CONTEXT)
def plan_group() -> None:
    """Il piano (piano.xlsx): controllo e passaggio d'anno."""


@plan_group.command("check", context_settings=CONTEXT)
@click.argument("plan", metavar="PIANO", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Formato dell'uscita: text (da leggere) o json (per gli script).")
@click.option("--write-back", is_flag=True,
              help="Scrive l'esito nel foglio «Esito controllo» del piano (con copia di riserva).")
@guarded
def plan_check_cmd(plan: Path, fmt: str, write_back: bool) -> None:
    """Controlla il piano e riporta ogni problema con foglio, cella e codice."""
    if write_back:
        with busy("Lettura e controllo del piano"):
            findings = plan_check_write_back(plan)
        if fmt == "json":
            echo(render_json(findings, command="plan check", files=[str(plan)]))
        else:
            echo(render_text(findings) if findings else f"{plan}: nessun problema.")
            echo(f"Esito scritto nel foglio «Esito controllo» di {plan} (copia di riserva accanto).")
        sys.exit(EXIT_PROBLEMS if has_errors(findings) else EXIT_OK)
    try:
        with busy("Lettura e controllo del piano"):
            p, findings = flows.check_plan(plan)
    except PegxlError as exc:
        if fmt != "json":
            raise
        echo(render_json(exc.findings, command="plan check", files=[str(plan)]))  # scripts always get JSON
        sys.exit(exc.exit_code)
    if fmt == "json":
        echo(render_json(findings, command="plan check", files=[str(plan)]))
    else:
        if findings:
            echo(render_text(findings))
        else:
            echo(f"{plan}: nessun problema.")
        if p is not None and not has_errors(findings):
            echo(f"Piano {p.ente} {p.anno} ({p.fase}): {len(p.sectors)} settori, {len(p.objectives)} obiettivi, "
                 f"{len(p.phases)} fasi, {len(p.indicators)} indicatori.")
    sys.exit(EXIT_PROBLEMS if has_errors(findings) else EXIT_OK)


# --------------------------------------------------------------------------- templates

@main.command("templates", context_settings=CONTEXT)
@click.argument("plan_path", metavar="PIANO", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", "outdir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Cartella dove scrivere i modelli.")
@click.option("--sector", "sectors", multiple=True, metavar="CODICE",
              help="Solo questo settore (ripetibile).")
@click.option("--password", default=None, help="Password di protezione dei fogli (predefinita: pegxl).")
@click.option("--db", "db_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Archivio dei cicli passati (predefinito: pegxl-archivio.sqlite accanto al piano): "
                   "riempie Valore anno precedente dove il piano lo lascia vuoto.")
@click.option("--jobs", type=click.IntRange(min=1), default=None, metavar="N",
              help="Processi che scrivono i modelli in parallelo (predefinito: i core della macchina; "
                   "1: nessun processo aggiuntivo). I file sono gli stessi con ogni N.")
@guarded
def templates_cmd(plan_path: Path, outdir: Path, sectors: tuple[str, ...], password: str | None,
                  db_path: Path | None, jobs: int | None) -> None:
    """Genera un modello bloccato e validato per ogni settore del piano."""
    plan = _plan_or_exit(plan_path, EXIT_PROBLEMS,
                         "Il piano ha errori: nessun modello generato. Correggerli e rilanciare.")
    db = db_path or flows.BESIDE_PLAN
    previous = flows.previous_years_archive(plan, db)
    if previous is not None:
        echo(f"Valori degli anni precedenti dall'archivio {previous}.")
        snapshot = flows.previous_snapshot(plan, db)
        if snapshot is not None:
            echo(f"Colonne di riferimento con i valori della rilevazione precedente: {snapshot.fase}, "
                 f"{snapshot.date_text}.")
    prog, update = _progress("Modelli")
    with prog or contextlib.nullcontext():
        paths = flows.make_templates(plan, outdir, sectors=sectors or None, password=password, db=db,
                                     jobs=jobs, progress=update)
    for p in paths:
        echo(f"  {p}")
    echo(f"{len(paths)} modelli scritti in {outdir} ({plan.ente}, {plan.anno}, {plan.fase}).")


# ---------------------------------------------------------------------------- validate

@main.command("validate", context_settings=CONTEXT)
@click.option("--plan", "plan_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Il piano (piano.xlsx).")
@click.argument("items", nargs=-1, required=True, metavar="RESTITUITI...", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Formato dell'uscita: text (da leggere) o json (per gli script).")
@click.option("--annotate", "annotate_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Scrive qui una copia annotata di ogni file con problemi (l'originale non è toccato).")
@click.option("--no-hints", is_flag=True, help="Non mostra il rimedio sotto ogni problema.")
@click.option("--db", "db_path", type=click.Path(dir_okay=False, path_type=Path),
              help="L'archivio dei cicli (predefinito: pegxl-archivio.sqlite accanto al piano, solo se "
                   "esiste già): vi si registra lo stato delle consegne e i valori sono confrontati con la "
                   "rilevazione precedente dello stesso anno.")
@click.option("--no-archive", is_flag=True,
              help="Non usa l'archivio: non registra lo stato delle consegne e non confronta i valori con "
                   "la rilevazione precedente.")
@JOBS
@guarded
def validate_cmd(plan_path: Path, items: tuple[Path, ...], fmt: str, annotate_dir: Path | None,
                 no_hints: bool, db_path: Path | None, no_archive: bool, jobs: int | None) -> None:
    """Controlla i file restituiti dai settori (cartelle o file .xlsx/.ods).

    Con un archivio ogni file di un settore passa a «ricevuto», poi a «con errori» o
    «controllato», e i valori sono confrontati con la rilevazione precedente dello stesso anno.

    Codice di uscita: 0 tutti utilizzabili, 1 qualche file con errori, 2 uso errato o piano illeggibile."""
    plan = _plan_or_exit(plan_path)
    paths = flows.returns_in(plan, items)
    prog, update = _progress("Controllo dei file")
    db = None if no_archive else (db_path or flows.BESIDE_PLAN)
    if prog:
        with prog:
            checked = flows.validate(plan, paths, annotate=annotate_dir, progress=update, jobs=jobs, db=db)
    else:
        checked = flows.validate(plan, paths, annotate=annotate_dir, jobs=jobs, db=db)
    v, written = checked.validation, checked.annotated
    files = [rf.path for rf in v.files]
    if fmt == "json":
        extra_files = {rf.path: {"sector": rf.sector, "sha256": rf.sha256,
                                 "template_version": rf.template_version} for rf in v.files}
        doc = _json.loads(render_json(v.findings, command="validate", files=files))
        for row in doc["files"]:
            row.update(extra_files.get(row["file"], {}))
        doc["missing_sectors"] = v.missing_sectors()
        doc["annotated"] = [str(p) for p in written]
        prev = checked.previous
        doc["previous_snapshot"] = None if prev is None else {
            "fase": prev.fase, "reference_date": prev.reference_date.isoformat() if prev.reference_date else None}
        echo(json_text(doc))
    else:
        echo(render_text(v.findings, files=files, hints=not no_hints))
        if checked.previous is not None:
            echo(f"Valori confrontati con la rilevazione precedente: {checked.previous.fase}, "
                 f"{checked.previous.date_text}.")
        missing = v.missing_sectors()
        if missing:
            echo(f"Settori senza file: {', '.join(escape_text(m) for m in missing)}.")
        for p in written:
            echo(f"Copia annotata: {escape_text(p)}")   # named after the return: untrusted
    sys.exit(EXIT_OK if v.all_usable else EXIT_PROBLEMS)


# -------------------------------------------------------------------------------- demo

@main.command("demo", context_settings=CONTEXT)
@click.argument("directory", required=False, default="pegxl-demo", metavar="[CARTELLA]",
                type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Rigenera la demo in una cartella già usata.")
@guarded
def demo_cmd(directory: Path, force: bool) -> None:
    """Esegue l'intero ciclo su un ente dimostrativo tratto da documenti reali.

    Scrive in CARTELLA (predefinita: pegxl-demo) il piano, i modelli, i file compilati,
    il controllo, il consolidato per l'OIV e i documenti (schede obiettivo e Relazione sulla
    performance; anche in PDF se c'è LibreOffice), e dice dove sono."""
    echo(f"Demo pegxl in {directory}/")
    run_demo(directory, force=force, say=echo)
    echo("")
    echo("Aprire i file in Excel o LibreOffice; i comandi usati sono descritti nel README.")


@main.command("errori", context_settings=CONTEXT)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Formato dell'uscita: text (da leggere) o json (per gli script).")
def errors_cmd(fmt: str) -> None:
    """Elenca il catalogo degli errori (codice, gravità, messaggio, rimedio)."""
    rows = catalogue()
    if fmt == "json":
        echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for r in rows:
        echo(f"{r['code']} [{r['severity']}] {r['message']}\n      → {r['hint']}")


def _register() -> None:
    """Commands of the other areas live in their own modules (they import helpers from here)."""
    for cmd in (merge_cmd, oiv_cmd, status_cmd, send_cmd, history_cmd, export_cmd, diff_cmd, spiega_cmd,
                schede_cmd, relazione_cmd, excel_group):
        main.add_command(cmd)
    plan_group.add_command(plan_next_cmd)


_register()
localize(main)

if __name__ == "__main__":  # pragma: no cover
    main()
