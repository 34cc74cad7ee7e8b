"""What every command shares: click settings, output, the error guard, the checked plan.

Kept apart from `pegxl.cli` so that command modules can import it while `pegxl.cli` is
being run as `python -m pegxl.cli` (no circular import).
"""
from __future__ import annotations

import contextlib
import functools
import gc
import os
import sys
import traceback
import warnings
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)

from .. import flows
from ..errors import EXIT_UNUSABLE, PegxlError
from ..report import escape_text, render_json, render_text
from ..validators.plan import has_errors

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def echo(text: str = "", err: bool = False) -> None:
    """Print `text` (a line or a whole report). Every character a terminal would act on
    except the newline (CR, ESC of the ANSI sequences, bidi overrides, ...) is shown escaped:
    the last defence when a name from a return reaches an f-string. Fields that may hold a
    newline are escaped where they are put in the text (`escape_text`)."""
    click.echo(escape_text(text, keep_newlines=True), err=err)


@contextlib.contextmanager
def quiet(debug: bool):
    """Without --debug only pegxl's own messages reach the terminal: the libraries' Python
    warnings (openpyxl, pandas) are dropped, and so are the "Exception ignored in ..."
    tracebacks that a half-written openpyxl workbook prints when it is collected after a
    failed save (a read-only output folder: the F010 says it all)."""
    if debug:
        yield
        return
    old_hook = sys.unraisablehook
    sys.unraisablehook = _ignore_unraisable
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        gc.collect()   # the failed workbook's writers are collected now, under the hook
        sys.unraisablehook = old_hook


def _ignore_unraisable(unraisable: Any) -> None:
    return None


def guarded(fn):
    """Run a command body: findings and exit status from PegxlError, no traceback (only with
    --debug), no library warning."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        ctx = click.get_current_context()
        debug = (ctx.find_root().params or {}).get("debug", False)
        with quiet(debug):
            done, value = _run(ctx, debug, fn, args, kwargs)
        # exit outside the quiet block and after the failed call's objects are gone
        if done:
            return value
        ctx.exit(value)
    return wrapper


def _run(ctx: click.Context, debug: bool, fn, args, kwargs) -> tuple[bool, Any]:
    """(True, the command's result) or (False, the exit status after reporting the error)."""
    try:
        return True, fn(*args, **kwargs)
    except PegxlError as exc:
        if debug:
            traceback.print_exc()
        if kwargs.get("fmt") == "json":
            # a script asked for JSON: it gets JSON on stdout, also when the command stops
            name = ctx.command_path.split(" ", 1)[1] if " " in ctx.command_path else ctx.command_path
            echo(render_json(exc.findings, command=name))
        else:
            echo(render_text(exc.findings), err=True)
        return False, exc.exit_code
    except (click.exceptions.Exit, click.ClickException, click.Abort):
        raise
    except BrokenPipeError:
        # `pegxl validate ... | head`: the reader has gone, which is not an error of ours;
        # stdout is pointed at /dev/null so that the exit flush does not fail again
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return False, 141   # what a shell reports for a writer stopped by SIGPIPE
    except KeyboardInterrupt:
        echo("Interrotto.", err=True)
        return False, 130
    except Exception as exc:  # the last line of defence: a located message, not a traceback
        if debug:
            traceback.print_exc()
        else:
            echo(f"Errore imprevisto: {type(exc).__name__}: {escape_text(exc)}", err=True)
            echo("Rilanciare con `pegxl --debug ...` e segnalare il problema con il dettaglio.", err=True)
        return False, EXIT_UNUSABLE


JOBS = click.option(
    "--jobs", "jobs", type=click.IntRange(min=1), default=None, metavar="N",
    help="Processi che leggono i file in parallelo (predefinito: i core della macchina; "
         "1: nessun processo aggiuntivo). Il risultato è lo stesso con ogni N.")


def plan_or_exit(plan_path: Path, exit_code: int = EXIT_UNUSABLE, what: str | None = None):
    """The checked plan; a plan with errors stops the command (exit 2 unless told)."""
    with busy("Lettura e controllo del piano"):
        plan, findings = flows.check_plan(plan_path)
    if plan is None or has_errors(findings):
        errors = [f for f in findings if f.is_error] or findings
        if what:
            echo(what, err=True)
        raise PegxlError(errors, exit_code=exit_code)
    return plan


def _wants_progress() -> bool:
    """Progress goes to stderr on a terminal only, and never for a command asked for
    `--format json` (a script reads it: nothing but the document)."""
    if not sys.stderr.isatty():
        return False
    ctx = click.get_current_context(silent=True)
    return ctx is None or ctx.params.get("fmt") != "json"


@contextlib.contextmanager
def busy(text: str):
    """A spinner on stderr while a step with no count runs (reading the plan)."""
    if not _wants_progress():
        yield
        return
    with Console(stderr=True).status(text):
        yield


def progress(total_hint: str):
    """A progress callback on stderr for long runs (none when not a terminal, none with
    `--format json`)."""
    if not _wants_progress():
        return None, None
    prog = Progress(TextColumn(total_hint), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    transient=True, console=Console(stderr=True))
    task: dict[str, TaskID] = {}

    def update(i: int, n: int, name: str) -> None:
        if "id" not in task:
            task["id"] = prog.add_task(total_hint, total=n)
        prog.update(task["id"], completed=i)
    return prog, update
