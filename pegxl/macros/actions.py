"""The actions the pegxl ribbon runs in Excel, through xlwings' RunPython.

Every button of the ribbon calls the VBA callback `PegxlAction`, which runs
`import pegxl.macros.actions as a; a.dispatch('<button id>')`; `dispatch` maps the id to
one of the functions below (`BUTTONS`). Each can also be called directly
(`RunPython "import pegxl.macros.actions as a; a.check_plan()"`).

| button              | function          | what it does on the open plan                       |
|---------------------|-------------------|-----------------------------------------------------|
| Controlla piano     | check_plan()      | checks the plan, sheet «Esito controllo»            |
| Crea modelli        | make_templates()  | one template per settore in the templates folder    |
| Controlla restituiti| check_returns()   | checks the returns, annotated copies, «Esito controllo» |
| Stato consegne      | show_status()     | who sent, who is missing, sheet «Stato consegne»    |
| Consolida           | run_merge()       | writes and opens the consolidated workbook          |

The layer that talks to Excel is thin: `_run_in_excel` gets the calling workbook
(`xlwings.Book.caller()`, the only place xlwings is imported, lazily), wraps it in
`XlwingsBook`, and hands it to `perform`, which holds the logic and is tested on any
system with the openpyxl backend. Whatever happens, Excel shows an Italian message box,
never a traceback: an unexpected error is written with its traceback to
`pegxl-excel.log` in the plan's folder.

Folders (relative to the plan's folder, or absolute) come from the plan's Ente sheet rows
«Cartella modelli», «Cartella restituiti», «Cartella risultati» when present, else
`modelli`, `restituiti`, `consolidato` (`read_settings`).
"""
from __future__ import annotations

import datetime as dt
import os
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .. import __version__, flows
from ..annotate import annotated_names
from ..errors import ErrorCode, Finding, PegxlError, count, finding
from ..validators.plan import has_errors
from ..values import is_blank
from ..workbook import contract as C
from ..workbook.reader import read_values
from .sheets import (
    SHEET_CHECK,
    SHEET_STATUS,
    ResultBook,
    XlwingsBook,
    write_check_sheet,
    write_status_sheet,
)

LOG_NAME = "pegxl-excel.log"
TITLE = "pegxl"


# ============================================================================ buttons

@dataclass(frozen=True)
class Button:
    id: str          # the ribbon control id, handed to dispatch()
    function: str    # the function of this module it runs
    label: str
    group: str       # ribbon group id (pegxl.macros.addin.GROUPS)
    image: str       # an Office built-in icon (imageMso)
    tip: str


BUTTONS: tuple[Button, ...] = (
    Button("pegxl_check_plan", "check_plan", "Controlla piano", "pegxlGroupPlan", "AcceptInvitation",
           "Controlla il piano aperto e scrive ogni problema, con il collegamento alla cella, "
           "nel foglio «Esito controllo»."),
    Button("pegxl_make_templates", "make_templates", "Crea modelli", "pegxlGroupPlan",
           "FileSaveAsExcelXlsx",
           "Crea un modello da compilare per ogni settore nella cartella dei modelli "
           "(predefinita: «modelli» accanto al piano)."),
    Button("pegxl_check_returns", "check_returns", "Controlla restituiti", "pegxlGroupReturns",
           "TraceError",
           "Controlla i file restituiti dai settori (cartella «restituiti») e crea le copie "
           "annotate da rimandare; l'elenco dei problemi va nel foglio «Esito controllo»."),
    Button("pegxl_show_status", "show_status", "Stato consegne", "pegxlGroupReturns", "CreateTable",
           "Chi ha consegnato, chi manca, chi sollecitare: foglio «Stato consegne»."),
    Button("pegxl_run_merge", "run_merge", "Consolida", "pegxlGroupMerge", "AutoSum",
           "Consolida i file restituiti nella cartella dei risultati (predefinita: "
           "«consolidato») e apre il consolidato per l'OIV."),
)

DISPATCH: dict[str, str] = {b.id: b.function for b in BUTTONS}
LABELS: dict[str, str] = {b.function: b.label for b in BUTTONS}


# =========================================================================== settings

SETTING_ROWS = {"cartella modelli": "templates", "cartella restituiti": "returns",
                "cartella risultati": "outputs"}
DEFAULT_FOLDERS = {"templates": "modelli", "returns": "restituiti", "outputs": "consolidato"}


@dataclass(frozen=True)
class Settings:
    plan: Path
    templates: Path
    returns: Path
    outputs: Path

    @property
    def annotated(self) -> Path:
        return self.outputs / "annotati"


def read_settings(plan_path: str | os.PathLike) -> Settings:
    """The folders of the cycle for a plan: the Ente sheet rows «Cartella modelli»,
    «Cartella restituiti», «Cartella risultati» when present (relative to the plan's
    folder, or absolute; ~ is the user's home), else modelli, restituiti, consolidato."""
    plan = Path(plan_path).resolve()
    given: dict[str, str] = {}
    try:
        book = read_values(plan, sheets=[C.SHEET_ENTE])
        sheet = book.sheet(C.SHEET_ENTE)
        for row in sheet.rows if sheet is not None else []:
            if len(row) >= 2 and not is_blank(row[0]):
                key = SETTING_ROWS.get(C.norm_header(row[0]))
                if key and not is_blank(row[1]):
                    given[key] = str(row[1]).strip()
    except PegxlError:
        pass   # an unreadable plan: the plan check says why; the defaults still apply
    folders = {}
    for key, default in DEFAULT_FOLDERS.items():
        p = Path(os.path.expanduser(given.get(key, default)))
        folders[key] = p if p.is_absolute() else plan.parent / p
    return Settings(plan=plan, **folders)


# ============================================================================ outcome

@dataclass
class Outcome:
    """What an action did: the message to show, what to select, what to open."""

    action: str
    message: str
    ok: bool = True
    select: tuple[str, str] | None = None
    open_path: Path | None = None
    findings: list[Finding] = field(default_factory=list)
    paths: list[Path] = field(default_factory=list)

    @property
    def mode(self) -> str:
        return "info" if self.ok else "critical"

    @property
    def title(self) -> str:
        return f"{TITLE} — {LABELS.get(self.action, self.action)}"


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _tally(findings: list[Finding]) -> str:
    e, w = count(findings)
    return f"{_plural(e, 'errore', 'errori')} e {_plural(w, 'avviso', 'avvisi')}"


def _first_lines(findings: list[Finding], n: int = 3) -> str:
    lines = []
    for f in [x for x in findings if x.is_error][:n] or findings[:n]:
        where = f.where()
        lines.append(f"• {f.code}: {f.message}" + (f" ({where})" if where else ""))
    more = len(findings) - len(lines)
    if more > 0:
        lines.append(f"… e altri {more}.")
    return "\n".join(lines)


def _sheet_outcome(action: str, book: ResultBook, findings: list[Finding], message: str, *,
                   ok: bool, title: str, annotated: dict[str, Path] | None = None,
                   checked: Path | None = None, now: dt.datetime | None = None) -> Outcome:
    res = write_check_sheet(book, findings, annotated=annotated, title=title, now=now, checked=checked)
    return Outcome(action, message, ok=ok, select=(res.sheet, res.first or "A1"), findings=findings)


def _refused(action: str, book: ResultBook, exc: PegxlError, what: str,
             now: dt.datetime | None = None) -> Outcome:
    """A PegxlError: its findings go to «Esito controllo», the message says what stopped."""
    findings = exc.findings
    msg = (f"{what}: {_tally(findings)}.\n\n{_first_lines(findings)}\n\n"
           f"L'elenco completo è nel foglio «{SHEET_CHECK}».")
    return _sheet_outcome(action, book, findings, msg, ok=False, title=LABELS.get(action, action), now=now)


# ============================================================================ actions

def perform(action: str, book: ResultBook, plan_path: str | os.PathLike, *, save: bool = True,
            now: dt.datetime | None = None) -> Outcome:
    """Run one action on the plan `plan_path`, writing its sheet into `book` (the plan
    workbook, either backend). A PegxlError becomes a refused Outcome with its findings in
    «Esito controllo»; other exceptions propagate (the Excel layer logs them)."""
    if action not in _ACTIONS:
        raise KeyError(action)
    settings = read_settings(plan_path)
    try:
        outcome = _ACTIONS[action](book, settings, now)
    except PegxlError as exc:
        outcome = _refused(action, book, exc, _REFUSED.get(action, "Operazione non eseguita"), now)
    if outcome.select:
        book.select(*outcome.select)
    if save:
        book.save()
    return outcome


def _checked_plan(book: ResultBook, settings: Settings, now, action: str):
    """(plan, findings) or an Outcome that stops the action because the plan has errors."""
    plan, findings = flows.check_plan(settings.plan)
    if plan is None or has_errors(findings):
        msg = (f"Il piano ha {_tally(findings)}: correggerlo prima di "
               f"«{LABELS.get(action, action)}».\n\n{_first_lines(findings)}\n\n"
               f"L'elenco con i collegamenti alle celle è nel foglio «{SHEET_CHECK}».")
        return None, _sheet_outcome(action, book, findings, msg, ok=False,
                                    title="Controllo del piano", now=now)
    return plan, findings


def _do_check_plan(book: ResultBook, settings: Settings, now) -> Outcome:
    plan, findings = flows.check_plan(settings.plan)
    if plan is not None and not findings:
        msg = (f"Il piano è corretto: nessun problema.\n\n{plan.ente} {plan.anno} ({plan.fase}): "
               f"{len(plan.sectors)} settori, {len(plan.objectives)} obiettivi, {len(plan.phases)} fasi, "
               f"{len(plan.indicators)} indicatori.")
        ok = True
    elif plan is not None and not has_errors(findings):
        msg = (f"Il piano è utilizzabile, con {_plural(len(findings), 'avviso', 'avvisi')} da verificare: "
               f"vedere il foglio «{SHEET_CHECK}».")
        ok = True
    else:
        msg = (f"Il piano ha {_tally(findings)}.\n\n{_first_lines(findings)}\n\n"
               f"Nel foglio «{SHEET_CHECK}» il primo problema è selezionato: un clic sulla cella "
               f"della colonna Cella porta al punto da correggere.")
        ok = False
    return _sheet_outcome("check_plan", book, findings, msg, ok=ok, title="Controllo del piano",
                          checked=settings.plan, now=now)


def _do_make_templates(book: ResultBook, settings: Settings, now) -> Outcome:
    plan, stop = _checked_plan(book, settings, now, "make_templates")
    if plan is None:
        return stop
    findings = stop
    previous = flows.previous_years_archive(plan)
    paths = flows.make_templates(plan, settings.templates)   # previous years from the archive, as `pegxl templates`
    names = "\n".join(f"• {p.name}" for p in paths[:8]) + (f"\n… e altri {len(paths) - 8}." if len(paths) > 8 else "")
    msg = (f"Creati {_plural(len(paths), 'modello', 'modelli')} nella cartella\n{settings.templates}\n\n{names}"
           + (f"\n\nValori degli anni precedenti dall'archivio {previous}."
              if previous is not None else "")
           + (f"\n\nIl piano ha {_plural(len(findings), 'avviso', 'avvisi')}: foglio «{SHEET_CHECK}»."
              if findings else ""))
    out = _sheet_outcome("make_templates", book, findings, msg, ok=True, title="Creazione dei modelli",
                         checked=settings.plan, now=now)
    out.paths = list(paths)
    return out


def _annotated_map(findings: list[Finding], written: list[Path]) -> dict[str, Path]:
    """Checked file -> its annotated copy (annotate_files writes one per file, in the order
    the files first appear among the findings)."""
    names = annotated_names(f.file for f in findings if f.file)
    by_name = {p.name: p for p in written}
    return {f: by_name[n] for f, n in names.items() if n in by_name}


def _do_check_returns(book: ResultBook, settings: Settings, now) -> Outcome:
    plan, stop = _checked_plan(book, settings, now, "check_returns")
    if plan is None:
        return stop
    folder = settings.returns
    if not folder.is_dir():
        raise PegxlError(finding(ErrorCode.F001, file=str(folder),
                                 detail=f"la cartella dei file restituiti {folder} non esiste: crearla e "
                                        "copiarvi i file ricevuti, o indicarla nel foglio Ente "
                                        "(voce «Cartella restituiti»)"))
    try:
        paths = flows.returns_in(plan, [folder])
    except PegxlError:   # an empty folder is not an error on the ribbon: it says what to do
        msg = f"Nessun file .xlsx/.ods nella cartella\n{folder}\n\nCopiarvi i file ricevuti dai settori."
        return _sheet_outcome("check_returns", book, [], msg, ok=True, title="Controllo dei file restituiti",
                              checked=folder, now=now)
    checked = flows.validate(plan, paths, annotate=settings.annotated, db=flows.BESIDE_PLAN)   # as the CLI
    v, written = checked.validation, checked.annotated
    annotated = _annotated_map(v.findings, written)
    usable = len([rf for rf in v.files if v.usable(rf.path)])
    bad = len(v.files) - usable
    lines = [f"Controllati {_plural(len(v.files), 'file', 'file')}: {usable} utilizzabili, {bad} con errori."]
    missing = v.missing_sectors()
    if missing:
        lines.append(f"Settori senza file: {', '.join(missing)}.")
    if written:
        lines.append(f"Copie annotate da rimandare ai settori: {settings.annotated}")
    if v.findings:
        lines.append(f"Problemi trovati: {_tally(v.findings)}, elencati nel foglio «{SHEET_CHECK}» "
                     "(il collegamento apre la copia annotata alla cella).")
    out = _sheet_outcome("check_returns", book, v.findings, "\n".join(lines), ok=bad == 0 and not missing,
                         title="Controllo dei file restituiti", annotated=annotated, checked=folder, now=now)
    out.paths = written
    return out


def _do_show_status(book: ResultBook, settings: Settings, now) -> Outcome:
    plan, stop = _checked_plan(book, settings, now, "show_status")
    if plan is None:
        return stop
    report = flows.status(plan, settings.returns, db=flows.BESIDE_PLAN)
    res = write_status_sheet(book, report, now=now)
    c = report.counts()
    lines = [f"Settori: {len(report.rows)}; utilizzabili {c['consegnato utilizzabile']}, con errori "
             f"{c['con errori']}, mancanti {c['mancante']}, più file {c['più file']}."]
    if report.chase:
        lines.append("Da sollecitare, nell'ordine: "
                     + ", ".join(f"{r.sector} ({r.state_label})" for r in report.chase[:10])
                     + ("…" if len(report.chase) > 10 else "") + ".")
    else:
        lines.append("Tutti i settori hanno consegnato un file utilizzabile.")
    if report.unassigned:
        lines.append(f"File non attribuiti a nessun settore: {len(report.unassigned)}.")
    lines.append(f"Dettaglio nel foglio «{SHEET_STATUS}».")
    return Outcome("show_status", "\n".join(lines), ok=report.all_in,
                   select=(res.sheet, res.first or "A3"))


def _do_run_merge(book: ResultBook, settings: Settings, now) -> Outcome:
    plan, stop = _checked_plan(book, settings, now, "run_merge")
    if plan is None:
        return stop
    # the same flow as `pegxl merge`: archived beside the plan, all or nothing
    result = flows.merge_cycle(plan, [settings.returns], settings.outputs)
    findings = list(getattr(result, "findings", []) or [])
    consolidated = Path(result.consolidated)
    lines = [f"Consolidato scritto in\n{consolidated}",
             f"Settori consolidati: {len(result.sectors)}."]
    if result.missing:
        lines.append(f"Settori senza file: {', '.join(result.missing)}.")
    rec = getattr(result, "reconciliation", None)
    if rec is not None:
        lines.append(rec.line() + ".")
    if result.archived is not None:
        lines.append(f"Ciclo archiviato in {result.archived.db_path} (versione {result.archived.version}).")
    lines.append("Il consolidato si apre ora.")
    out = _sheet_outcome("run_merge", book, findings, "\n".join(lines), ok=True, title="Consolidamento",
                         checked=consolidated, now=now)
    out.open_path = consolidated
    out.paths = list(result.paths)
    return out


_ACTIONS: dict[str, Callable[[ResultBook, Settings, Any], Outcome]] = {
    "check_plan": _do_check_plan,
    "make_templates": _do_make_templates,
    "check_returns": _do_check_returns,
    "show_status": _do_show_status,
    "run_merge": _do_run_merge,
}

_REFUSED = {
    "check_plan": "Il piano non si può controllare",
    "make_templates": "Modelli non creati",
    "check_returns": "Controllo dei file restituiti non eseguito",
    "show_status": "Stato delle consegne non disponibile",
    "run_merge": "Consolidamento non eseguito",
}


# ======================================================================= log, messages

def log_path(plan_path: str | os.PathLike | None) -> Path:
    """pegxl-excel.log in the plan's folder (the home folder when the plan is unknown)."""
    # an unsaved book has a bare name ("Cartel1"): its folder is unknown, not the cwd
    if plan_path and Path(plan_path).is_absolute():
        return Path(plan_path).parent / LOG_NAME
    return Path.home() / LOG_NAME


def write_log(plan_path: str | os.PathLike | None, action: str, text: str) -> Path:
    """Append a stamped entry to the log; falls back to the home folder. Never raises."""
    stamp = dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    entry = f"[{stamp}] pegxl {__version__} {action}: {text.rstrip()}\n"
    for target in (log_path(plan_path), Path.home() / LOG_NAME):
        try:
            with open(target, "a", encoding="utf-8") as fh:
                fh.write(entry)
            return target
        except OSError:
            continue
    return log_path(plan_path)


def failure_message(action: str, exc: BaseException, log: Path) -> str:
    """The Italian message for an unexpected error: what, where the details are."""
    label = LABELS.get(action, action)
    return (f"Errore imprevisto durante «{label}»:\n{type(exc).__name__}: {exc}\n\n"
            f"Il dettaglio tecnico è stato scritto in\n{log}\n"
            "Se il problema si ripete, inviare quel file a chi cura pegxl.")


# =================================================================== the Excel layer

def _caller() -> Any:
    """The workbook that pressed the button (xlwings is imported here, and only here)."""
    import xlwings
    return xlwings.Book.caller()


def _alert(book: Any, message: str, title: str, mode: str) -> None:
    try:
        if book is not None:
            book.app.alert(message, title=title, mode=mode)
            return
    except Exception:
        pass
    try:
        import xlwings
        app = xlwings.apps.active
        if app is not None:
            app.alert(message, title=title, mode=mode)
    except Exception:
        pass   # no Excel to talk to: the log has it


def _run_in_excel(action: str) -> Outcome | None:
    """Run `action` on the calling workbook; never lets an exception reach Excel."""
    book = None
    plan_path: Path | None = None
    try:
        book = _caller()
        full = getattr(book, "fullname", "") or ""
        plan_path = Path(full) if full else None
        if plan_path is None or not plan_path.is_file():
            msg = ("Salvare prima il piano in una cartella del computer (o in una cartella "
                   "sincronizzata di OneDrive/SharePoint): pegxl lavora sul file.")
            write_log(plan_path, action, f"workbook without a local file: {full!r}")
            _alert(book, msg, f"{TITLE} — {LABELS.get(action, action)}", "critical")
            return None
        book.save()   # the checks read the file: it must hold what the user sees
        outcome = perform(action, XlwingsBook(book), plan_path, save=True)
        if outcome.open_path is not None:
            book.app.books.open(str(outcome.open_path))
        e, w = count(outcome.findings)
        write_log(plan_path, action, f"{'ok' if outcome.ok else 'problemi'} ({e} errori, {w} avvisi)")
        _alert(book, outcome.message, outcome.title, outcome.mode)
        return outcome
    except BaseException as exc:   # noqa: BLE001 - the last line of defence: no traceback in Excel
        if isinstance(exc, KeyboardInterrupt):
            raise
        log = write_log(plan_path, action, "errore imprevisto\n" + traceback.format_exc())
        _alert(book, failure_message(action, exc, log), f"{TITLE} — errore", "critical")
        return None


def check_plan() -> Outcome | None:
    """Ribbon «Controlla piano»."""
    return _run_in_excel("check_plan")


def make_templates() -> Outcome | None:
    """Ribbon «Crea modelli»."""
    return _run_in_excel("make_templates")


def check_returns() -> Outcome | None:
    """Ribbon «Controlla restituiti»."""
    return _run_in_excel("check_returns")


def show_status() -> Outcome | None:
    """Ribbon «Stato consegne»."""
    return _run_in_excel("show_status")


def run_merge() -> Outcome | None:
    """Ribbon «Consolida»: writes the consolidated workbook and opens it."""
    return _run_in_excel("run_merge")


def dispatch(control_id: str) -> Outcome | None:
    """The entry point of the ribbon callback: run the action of button `control_id`."""
    name = DISPATCH.get(str(control_id))
    if name is None:
        try:
            book = _caller()
        except Exception:
            book = None
        write_log(None if book is None else getattr(book, "fullname", None), "dispatch",
                  f"unknown button id {control_id!r}")
        _alert(book, f"Pulsante sconosciuto: {control_id}. Ricostruire il componente aggiuntivo con "
                     "`pegxl excel addin` e reinstallarlo.", TITLE, "critical")
        return None
    return globals()[name]()
