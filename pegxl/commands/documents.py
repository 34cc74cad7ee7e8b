"""`pegxl schede` and `pegxl relazione`: the documents people read (pegxl/documents), thin
click layers over flows.schede and flows.relazione.

Registered by pegxl.cli: main.add_command(schede_cmd), main.add_command(relazione_cmd).
"""
from __future__ import annotations

from pathlib import Path

import click

from .. import flows
from ..errors import EXIT_PROBLEMS
from .common import CONTEXT, echo, guarded
from .common import plan_or_exit as _plan_or_exit

_OUTPUT = click.option("-o", "--output", "outdir", required=True, type=click.Path(file_okay=False, path_type=Path),
                       help="Cartella dove scrivere i documenti.")
_PDF = click.option("--pdf", is_flag=True,
                    help="Scrive anche il PDF di ogni documento, con LibreOffice (senza interfaccia).")
_FORCE = click.option("--force", is_flag=True, help="Sovrascrive i documenti già presenti.")


@click.command("schede", context_settings=CONTEXT)
@click.argument("plan_path", metavar="PIANO", type=click.Path(dir_okay=False, path_type=Path))
@_OUTPUT
@click.option("--settore", "--sector", "sectors", multiple=True, metavar="CODICE",
              help="Scrive anche le schede di questo settore in un documento a sé (ripetibile).")
@click.option("--db", "db_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Archivio dei cicli passati (predefinito: pegxl-archivio.sqlite accanto al piano): "
                   "i valori dei due anni precedenti degli indicatori.")
@_PDF
@_FORCE
@guarded
def schede_cmd(plan_path: Path, outdir: Path, sectors: tuple[str, ...], db_path: Path | None, pdf: bool,
               force: bool) -> None:
    """Scrive le schede obiettivo del piano per l'approvazione della Giunta (.docx).

    Un documento per l'ente (indice dei settori e degli obiettivi, poi una scheda per
    obiettivo con collegamenti, fasi e indicatori) e, con --settore, uno per settore."""
    plan = _plan_or_exit(plan_path, EXIT_PROBLEMS, "Il piano ha errori: nessuna scheda scritta. "
                                                   "Correggerli e rilanciare.")
    db = db_path or flows.BESIDE_PLAN
    previous = flows.previous_years_archive(plan, db)
    if previous is not None:
        echo(f"Valori degli anni precedenti dall'archivio {previous}.")
    for p in flows.schede(plan, outdir, sectors=sectors, db=db, pdf=pdf, force=force):
        echo(f"Scritto {p}")


@click.command("relazione", context_settings=CONTEXT)
@click.option("--plan", "plan_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Il piano (piano.xlsx).")
@click.argument("workbook", metavar="CONSOLIDATO", type=click.Path(dir_okay=False, path_type=Path))
@_OUTPUT
@_PDF
@_FORCE
@guarded
def relazione_cmd(plan_path: Path, workbook: Path, outdir: Path, pdf: bool, force: bool) -> None:
    """Scrive la Relazione sulla performance (.docx) dal consolidato finale di `pegxl oiv`.

    Dal consolidato di `pegxl merge` (prima dell'OIV) la relazione è una bozza: ogni pagina
    dice «non ancora validata dall'OIV». Ogni cifra è quella della cartella."""
    plan = _plan_or_exit(plan_path)
    paths = flows.relazione(plan, workbook, outdir, pdf=pdf, force=force)
    for p in paths:
        echo(f"Scritto {p}")
    if paths and "_non_validata" in paths[0].name:
        echo("Bozza dal consolidato non ancora validato dall'OIV (scritto in ogni pagina): "
             "rigenerarla dal consolidato finale di `pegxl oiv`.")
