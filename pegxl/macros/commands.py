"""Click commands of the Excel add-in area; `pegxl.cli` registers them.

- `excel_group`: `pegxl excel addin -o DIR` builds `pegxl.xlam` (needs the `excel` extra).
- `plan_check_write_back(plan_path)`: the body of `pegxl plan check --write-back`, which
  writes the sheet «Esito controllo» into the plan file itself (openpyxl backend, backup
  first, atomic save), exactly as the ribbon's «Controlla piano» does in Excel.

Neither imports xlwings: the add-in is built from the files of the installed xlwings
package, found without importing it.
"""
from __future__ import annotations

from pathlib import Path

import click

from ..commands.common import CONTEXT, echo, guarded
from ..errors import Finding
from .actions import perform
from .addin import build_addin, install_steps, xlwings_version
from .sheets import OpenpyxlBook


@click.group("excel", context_settings=CONTEXT)
def excel_group() -> None:
    """Excel: la scheda «pegxl» nella barra multifunzione (Windows e macOS, con xlwings)."""


@excel_group.command("addin", context_settings=CONTEXT)
@click.option("-o", "--output", "outdir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("."), show_default=True, help="Cartella in cui scrivere pegxl.xlam.")
@click.option("--python", "interpreter", default=None, metavar="PERCORSO",
              help="Interprete Python che Excel deve usare (predefinito: questo, su Windows e macOS).")
@click.option("--force", is_flag=True, help="Sovrascrive un pegxl.xlam esistente.")
@guarded
def addin_cmd(outdir: Path, interpreter: str | None, force: bool) -> None:
    """Crea il componente aggiuntivo pegxl.xlam e spiega come installarlo."""
    path = build_addin(outdir, interpreter=interpreter or "auto", force=force)
    echo(f"Creato {path} (dal modello di xlwings {xlwings_version()}).")
    for line in install_steps(path):
        echo(line)


def plan_check_write_back(plan_path: str | Path) -> list[Finding]:
    """Check the plan and write «Esito controllo» into it; return every finding.

    The user's file is copied to `<name>.bak-N.xlsx` first and saved atomically; the
    caller decides the exit status from the findings (errors -> 1)."""
    outcome = perform("check_plan", OpenpyxlBook(plan_path), plan_path, save=True)
    return outcome.findings
