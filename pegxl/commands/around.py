"""Around the merge: `pegxl status`, `pegxl send`, `pegxl history`, `pegxl plan next`,
`pegxl export`. Thin click layers over pegxl.status, .mail, .archive, .rollover, .export.

Registered by pegxl.cli: main.add_command(status_cmd), main.add_command(send_cmd),
main.add_command(history_cmd), main.add_command(export_cmd),
plan_group.add_command(plan_next_cmd).
"""
from __future__ import annotations

import io
import json
import math
import os
import shutil
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from .. import flows
from ..archive import (
    DEFAULT_DB_NAME,
    history_indicator,
    history_objective,
    history_sector,
)
from ..errors import (
    EXIT_OK,
    EXIT_PROBLEMS,
    EXIT_UNUSABLE,
    ErrorCode,
    PegxlError,
    finding,
)
from ..export import to_csv_text
from ..mail import ENV_FROM, SmtpSettings, default_template_text
from ..plan import load_plan
from ..report import escape_text, render_text
from ..values import format_percent
from .audit import cycles_view, echo_text, resubmissions_view, states_view
from .common import CONTEXT, JOBS, echo, guarded
from .common import plan_or_exit as _plan_or_exit
from .common import progress as _progress

_PLAN = click.option("--plan", "plan_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
                     help="Il piano (piano.xlsx).")
_DB = click.option("--db", "db_path", type=click.Path(dir_okay=False, path_type=Path),
                   help="L'archivio SQLite (predefinito: pegxl-archivio.sqlite accanto al piano).")


def _db_for(plan_path: Path, db_path: Path | None) -> Path:
    return db_path if db_path is not None else plan_path.parent / DEFAULT_DB_NAME


# ------------------------------------------------------------------------------ status

@click.command("status", context_settings=CONTEXT)
@_PLAN
@click.argument("directory", metavar="RESTITUITI", type=click.Path(file_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json", "csv"]), default="text", show_default=True,
              help="Formato della tabella: text (da leggere), json o csv (separatore «;», per Excel).")
@click.option("--db", "db_path", type=click.Path(dir_okay=False, path_type=Path),
              help="L'archivio da cui leggere lo stato nel ciclo di ogni settore (predefinito: "
                   "pegxl-archivio.sqlite accanto al piano, se esiste).")
@JOBS
@guarded
def status_cmd(plan_path: Path, directory: Path, fmt: str, db_path: Path | None, jobs: int | None) -> None:
    """Chi ha consegnato, chi manca, chi ha file con errori e chi sollecitare per primo.

    Una riga per settore: codice, settore, responsabile, e-mail, file restituito, stato
    (consegnato utilizzabile / con errori (quanti) / mancante / più file), quando è stato
    salvato e, con un archivio, lo stato nel ciclo (inviato, ricevuto, con errori,
    controllato, consolidato, validato dall'OIV) e da quando. Sotto i 120 caratteri di
    larghezza un blocco per settore. Codice di uscita: 0 tutti consegnati e utilizzabili,
    1 altrimenti, 2 uso errato."""
    plan = _plan_or_exit(plan_path)
    prog, update = _progress("Lettura dei file")
    db = db_path or flows.BESIDE_PLAN
    if prog:
        with prog:
            report = flows.status(plan, directory, progress=update, jobs=jobs, db=db)
    else:
        report = flows.status(plan, directory, jobs=jobs, db=db)
    echo_text(report.render(fmt).rstrip("\r\n"))
    sys.exit(report.exit_code)


# -------------------------------------------------------------------------------- send

def _print_body(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if not value or ctx.resilient_parsing:
        return
    click.echo(default_template_text(value).rstrip("\n"))
    ctx.exit(0)


@click.command("send", context_settings=CONTEXT)
@_PLAN
@click.argument("templates_dir", metavar="MODELLI", type=click.Path(file_okay=False, path_type=Path))
@click.option("--dry-run", "dry_run", type=click.Path(file_okay=False, path_type=Path),
              help="Non invia: scrive i messaggi come file .eml in questa cartella.")
@click.option("--reminders", "reminders_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Solleciti: solo ai settori mancanti o con errori nella cartella dei file restituiti.")
@click.option("--annotated", "annotated_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Cartella delle copie annotate (<nome>_errori.xlsx) da allegare ai solleciti.")
@click.option("--smtp-host", help="Server di posta (o PEGXL_SMTP_HOST).")
@click.option("--smtp-port", type=int, help="Porta (o PEGXL_SMTP_PORT; predefinita 587/465/25).")
@click.option("--security", type=click.Choice(["starttls", "ssl", "none"]),
              help="Sicurezza della connessione (o PEGXL_SMTP_SECURITY; predefinita starttls).")
@click.option("--smtp-user", help="Utente (o PEGXL_SMTP_USER). La password solo da PEGXL_SMTP_PASSWORD "
                                  "o chiesta al terminale.")
@click.option("--from", "sender", help="Mittente (o PEGXL_SMTP_FROM; predefinito l'Email ufficio del piano).")
@click.option("--smtp-timeout", "smtp_timeout", metavar="SECONDI",
              help="Tempo massimo per ogni messaggio: connessione, saluto del server, accesso e invio "
                   "(o PEGXL_SMTP_TIMEOUT; predefinito 60).")
@click.option("--body", "body", type=click.Path(dir_okay=False, path_type=Path),
              help="Testo del messaggio: prima riga «Oggetto: ...», poi il corpo, con $ente $anno $fase "
                   "$scadenza $settore $responsabile $ufficio $email_ufficio.")
@click.option("--log", "sent_log", type=click.Path(dir_okay=False, path_type=Path),
              help="Registro degli invii (predefinito <piano>.invii.jsonl accanto al piano).")
@click.option("--sector", "sectors", multiple=True, help="Solo questo settore (ripetibile).")
@click.option("--force", is_flag=True, help="Rinvia anche i messaggi già inviati.")
@_DB
@click.option("--no-archive", is_flag=True, help="Non registra lo stato «inviato» dei settori nell'archivio.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Formato del resoconto degli invii: text (da leggere) o json (per gli script).")
@click.option("--print-body", type=click.Choice(["invio", "sollecito"]), expose_value=False, is_eager=True,
              callback=_print_body, help="Stampa il testo predefinito del messaggio (da salvare, modificare "
                                         "e usare con --body) ed esce.")
@guarded
def send_cmd(plan_path: Path, templates_dir: Path, dry_run: Path | None, reminders_dir: Path | None,
             annotated_dir: Path | None, smtp_host: str | None, smtp_port: int | None,
             security: str | None, smtp_user: str | None, sender: str | None, smtp_timeout: str | None,
             body: Path | None,
             sent_log: Path | None, sectors: tuple[str, ...], force: bool, db_path: Path | None,
             no_archive: bool, fmt: str) -> None:
    """Invia a ogni settore il suo modello per e-mail (o i solleciti con --reminders).

    Un messaggio per settore al responsabile, con il modello del settore allegato. Un
    messaggio già inviato (stesso settore, tipo e allegato) non è ripetuto senza --force.
    Ogni modello inviato porta il settore nello stato «inviato» nell'archivio.
    Codice di uscita: 0 tutto inviato, 1 qualche messaggio non inviato, 2 connessione o uso errato."""
    plan = _plan_or_exit(plan_path)
    smtp = None
    if dry_run is None:
        def ask(text: str) -> str:
            return click.prompt(text, hide_input=True, default="", show_default=False, err=True)
        prompt = ask if sys.stdin.isatty() else None
        smtp = SmtpSettings.from_env(host=smtp_host, port=smtp_port, security=security, user=smtp_user,
                                     sender=sender, deadline=smtp_timeout, prompt=prompt)
    report = flows.send(plan, templates_dir, smtp=smtp, dry_run_dir=dry_run, body_template=body,
                            reminders_dir=reminders_dir, annotated_dir=annotated_dir, sent_log=sent_log,
                            force=force, sectors=list(sectors) or None,
                            sender=sender or os.environ.get(ENV_FROM) or None,
                            db=None if no_archive else (db_path or flows.BESIDE_PLAN))
    echo(report.to_json() if fmt == "json" else report.to_text())
    sys.exit(report.exit_code)


# ----------------------------------------------------------------------------- history

@click.command("history", context_settings=CONTEXT)
@_PLAN
@_DB
@click.option("--objective", "objective", metavar="CODICE", help="Storia di un obiettivo.")
@click.option("--indicator", "indicator", nargs=2, metavar="CODICE N", help="Storia di un indicatore.")
@click.option("--sector", "sector", metavar="CODICE",
              help="Storia di un settore (con --resubmissions o --states: solo quel settore).")
@click.option("--resubmissions", is_flag=True,
              help="Le nuove consegne consolidate (file, SHA-256, quando) con le celle cambiate rispetto alla "
                   "consegna precedente dello stesso settore (ente, anno e fase del piano).")
@click.option("--states", is_flag=True, help="Ogni stato delle consegne dei settori, con data e ora e il comando.")
@click.option("--cycles", "list_cycles", is_flag=True,
              help="I cicli archiviati dell'ente con il loro id (per `pegxl diff --snapshot`).")
@click.option("--all-cycles", is_flag=True, help="Ogni ciclo archiviato, non solo quello che conta per ogni anno.")
@click.option("--format", "fmt", type=click.Choice(["text", "csv", "json"]), default="text", show_default=True,
              help="Formato della storia: text (tabella da leggere), csv o json.")
@guarded
def history_cmd(plan_path: Path, db_path: Path | None, objective: str | None,
                indicator: tuple[str, str] | None, sector: str | None, resubmissions: bool, states: bool,
                list_cycles: bool, all_cycles: bool, fmt: str) -> None:
    """La storia negli anni di un obiettivo, di un indicatore o di un settore, dall'archivio.

    Per ogni anno conta la Rendicontazione finale (altrimenti il monitoraggio), la
    valutazione dell'OIV (altrimenti il consolidato), l'ultima versione archiviata.
    I codici obiettivo con l'anno (2024_S08_01) sono riconosciuti negli altri anni.
    Con --resubmissions, --states o --cycles la traccia del ciclo del piano."""
    views = [x for x in (resubmissions, states, list_cycles) if x]
    chosen = [x for x in (objective, indicator, sector if not views else None) if x]
    if len(chosen) + len(views) != 1 or (list_cycles and sector):
        raise PegxlError(finding(ErrorCode.U001, detail="indicare una sola tra --objective, --indicator, --sector, "
                                                        "--resubmissions, --states e --cycles"),
                         exit_code=EXIT_UNUSABLE)
    plan, _ = load_plan(plan_path)
    ente = plan.ente if plan is not None else None
    db = _db_for(plan_path, db_path)
    if views:
        if plan is None and not list_cycles:
            raise PegxlError(finding(ErrorCode.U001, detail=f"il piano {plan_path} non è leggibile"),
                             exit_code=EXIT_UNUSABLE)
        if list_cycles:
            text, what = cycles_view(db, ente, fmt), "i cicli archiviati"
        elif resubmissions:
            assert plan is not None   # checked above
            text = resubmissions_view(db, plan.ente, int(plan.anno), plan.fase, sector, fmt)
            what = "le nuove consegne" + (f" del settore {sector}" if sector else "")
        else:
            assert plan is not None
            text = states_view(db, plan.ente, int(plan.anno), plan.fase, sector, fmt)
            what = "gli stati delle consegne" + (f" del settore {sector}" if sector else "")
        if text is None:
            echo(render_text([finding(ErrorCode.A002, file=str(db), value=what)]), err=True)
            sys.exit(EXIT_PROBLEMS)
        echo_text(text)
        sys.exit(EXIT_OK)
    if objective:
        df, what = history_objective(db, objective, ente=ente, all_cycles=all_cycles), f"l'obiettivo {objective}"
    elif indicator:
        code, n = indicator
        try:
            n_int = int(n)
        except ValueError:
            raise PegxlError(finding(ErrorCode.U001, detail=f"«{n}» non è un numero di indicatore"),
                             exit_code=EXIT_UNUSABLE) from None
        df, what = history_indicator(db, code, n_int, ente=ente, all_cycles=all_cycles), \
            f"l'indicatore {n_int} dell'obiettivo {code}"
    else:
        assert sector is not None   # exactly one was chosen
        df, what = history_sector(db, sector, ente=ente, all_cycles=all_cycles), f"il settore {sector}"
    if df.empty:
        echo(render_text([finding(ErrorCode.A002, file=str(db), value=what)]), err=True)
        sys.exit(EXIT_PROBLEMS)
    echo_text(render_history(df, fmt, title=f"Storia per {what}" + (f" ({plan.ente})" if plan else "")))
    sys.exit(EXIT_OK)


_HISTORY_HEADERS = {
    "anno": "Anno", "fase": "Fase del ciclo", "kind": "Ciclo", "version": "Versione", "cycle_id": "Id ciclo",
    "sector": "Codice settore", "sector_name": "Settore", "manager": "Responsabile",
    "n_objectives": "N. obiettivi", "n_assessed": "N. valutati", "percentage": "Percentuale", "band": "Fascia",
    "objective": "Codice obiettivo", "title": "Titolo", "typology": "Tipologia", "status": "Stato",
    "phases_pct": "Fasi %", "indicators_pct": "Indicatori %", "computed": "Grado calcolato %",
    "declared": "Grado dichiarato %", "oiv_grade": "Valutazione OIV %", "grade": "Grado %",
    "grade_source": "Fonte grado", "counted": "Conteggiato", "excluded_reason": "Escluso perché",
    "indicator": "N. indicatore", "description": "Descrizione", "value_type": "Tipo valore",
    "direction": "Verso", "target_raw": "Valore atteso", "target_value": "Valore atteso (letto)",
    "achieved_raw": "Valore raggiunto", "achieved_value": "Valore raggiunto (letto)",
    "achieved_num": "Valore raggiunto (numero)", "score": "Raggiungimento %",
}
_PCT = {"percentage", "phases_pct", "indicators_pct", "computed", "declared", "oiv_grade", "grade", "score"}


def render_history(df, fmt: str, title: str = "") -> str:
    """A history DataFrame as a rich table (Italian figures), CSV (export dialect) or JSON."""
    if fmt == "json":
        recs = []
        for r in df.to_dict("records"):
            recs.append({k: (None if isinstance(v, float) and math.isnan(v) else
                             (v.item() if hasattr(v, "item") else v)) for k, v in r.items()})
        return json.dumps({"schema": "pegxl-history", "version": "1", "rows": recs},
                          ensure_ascii=False, indent=2, default=str)
    shown = df.drop(columns=[c for c in ("cycle_id",) if c in df.columns])
    if fmt == "csv":
        return to_csv_text(shown.rename(columns=_HISTORY_HEADERS), bom=True).rstrip("\r\n")
    keep = [c for c in shown.columns if c not in ("version", "achieved_num", "target_value", "value_type",
                                                  "direction", "counted", "manager", "typology",
                                                  "phases_pct", "indicators_pct")]
    table = Table(title=escape_text(title), title_justify="left")
    for c in keep:
        table.add_column(_HISTORY_HEADERS.get(c, c), overflow="fold",
                         justify="right" if c in _PCT or c == "anno" else "left")
    for r in shown[keep].to_dict("records"):
        cells = []
        for c in keep:
            v = r[c]
            if v is None or (isinstance(v, float) and math.isnan(v)):
                cells.append("")
            elif c in _PCT:
                cells.append(format_percent(float(v)))
            else:
                cells.append(escape_text(v))   # texts typed in the returns, from the archive
        table.add_row(*cells)
    width = shutil.get_terminal_size((200, 24)).columns if sys.stdout.isatty() else 200
    buf = io.StringIO()
    Console(file=buf, width=width, force_terminal=False, color_system=None, highlight=False,
            markup=False).print(table)
    return "\n".join(line.rstrip() for line in buf.getvalue().rstrip("\n").splitlines())


# --------------------------------------------------------------------------- plan next

@click.command("next", context_settings=CONTEXT)
@click.argument("plan", metavar="PIANO", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--anno", type=int, required=True, help="L'anno del nuovo piano.")
@click.option("-o", "--output", "output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Il file del nuovo piano (es. piano-2025.xlsx).")
@_DB
@click.option("--force", is_flag=True, help="Sovrascrive il file di uscita se esiste.")
@guarded
def plan_next_cmd(plan: Path, anno: int, output: Path, db_path: Path | None, force: bool) -> None:
    """Prepara il piano dell'anno successivo: stessi codici (l'anno nei codici obiettivo
    diventa il nuovo), date spostate di un anno, Valore anno precedente dall'archivio."""
    rep = flows.next_year(plan, anno, output, db=db_path or flows.BESIDE_PLAN, force=force)
    echo(rep.to_text())


# ------------------------------------------------------------------------------ export

@click.command("export", context_settings=CONTEXT)
@_PLAN
@click.option("--format", "fmt", type=click.Choice(["csv", "parquet"]), default="csv", show_default=True,
              help="Formato delle tabelle: csv o parquet (richiede pyarrow).")
@click.option("-o", "--output", "outdir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="La cartella dove scrivere le tabelle.")
@_DB
@guarded
def export_cmd(plan_path: Path, fmt: str, outdir: Path, db_path: Path | None) -> None:
    """Esporta piano e punteggi come tabelle lunghe per strumenti di BI (CSV UTF-8 con
    separatore «;» e punto decimale, oppure Parquet)."""
    plan = _plan_or_exit(plan_path)
    db = _db_for(plan_path, db_path)
    paths = flows.export(plan, outdir, fmt=fmt, db=db)
    for p in paths:
        echo(f"Scritto {p}")
    if not any(p.stem == "punteggi" for p in paths):
        echo(f"Nessun ciclo archiviato per {plan.ente} {plan.anno} ({plan.fase}) in {db}: "
             "punteggi non esportati.")


ALL_COMMANDS = (status_cmd, send_cmd, history_cmd, export_cmd)
