"""`pegxl spiega`: why a figure of a consolidated workbook is what it is, step by step."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import click

from .. import flows
from ..explain import render_text
from .common import CONTEXT, echo, guarded
from .common import plan_or_exit as _plan_or_exit


@click.command("spiega", context_settings=CONTEXT)
@click.option("--plan", "plan_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Il piano (piano.xlsx).")
@click.argument("workbook", metavar="CONSOLIDATO", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("code", metavar="CODICE")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Formato dell'uscita: text (da leggere) o json (per gli script).")
@guarded
def spiega_cmd(plan_path: Path, workbook: Path, code: str, fmt: str) -> None:
    """Il calcolo di una cifra del consolidato (o del consolidato finale), passo per passo.

    CODICE è un obiettivo (2024_S08_04), SETTORE:OBIETTIVO per un obiettivo trasversale,
    un indicatore (2024_S08_04:3), un settore (S08) o ente. Per ogni passo: la spiegazione
    con i valori e la regola in vigore."""
    plan = _plan_or_exit(plan_path)
    ex = flows.explain(plan, workbook, code)
    if fmt == "json":
        fig = ex.figure
        echo(json.dumps({"code": ex.code, "kind": ex.kind, "ente": ex.ente, "anno": ex.anno,
                         "workbook": str(ex.workbook), "value": fig.number if fig else None,
                         "shown": fig.shown if fig else "", "steps": [s.as_dict() for s in ex.steps]},
                        ensure_ascii=False, indent=2))
        return
    echo(textwrap.fill(f"Calcolo di {ex.code} ({ex.kind}) — {ex.ente} {ex.anno}, dal file {ex.workbook.name}",
                       80, break_on_hyphens=False))
    echo(render_text(ex.steps))
