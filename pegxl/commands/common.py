"""What every command shares: click settings, output, the error guard, the checked plan.

Kept apart from `pegxl.cli` so that command modules can import it while `pegxl.cli` is
being run as `python -m pegxl.cli` (no circular import).
"""
from __future__ import annotations

import functools
import os
import sys
import traceback
from pathlib import Path

import click

from ..errors import EXIT_UNUSABLE, PegxlError
from ..report import render_json, render_text

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def echo(text: str = "", err: bool = False) -> None:
    click.echo(text, err=err)


def guarded(fn):
    """Run a command body: findings and exit status from PegxlError, no traceback."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        ctx = click.get_current_context()
        debug = (ctx.find_root().params or {}).get("debug", False)
        try:
            return fn(*args, **kwargs)
        except PegxlError as exc:
            if debug:
                traceback.print_exc()
            if kwargs.get("fmt") == "json":
                # a script asked for JSON: it gets JSON on stdout, also when the command stops
                name = ctx.command_path.split(" ", 1)[1] if " " in ctx.command_path else ctx.command_path
                echo(render_json(exc.findings, command=name))
            else:
                echo(render_text(exc.findings), err=True)
            ctx.exit(exc.exit_code)
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
            ctx.exit(141)   # what a shell reports for a writer stopped by SIGPIPE
        except KeyboardInterrupt:
            echo("Interrotto.", err=True)
            ctx.exit(130)
        except Exception as exc:  # the last line of defence: a located message, not a traceback
            if debug:
                traceback.print_exc()
            else:
                echo(f"Errore imprevisto: {type(exc).__name__}: {exc}", err=True)
                echo("Rilanciare con `pegxl --debug ...` e segnalare il problema con il dettaglio.", err=True)
            ctx.exit(EXIT_UNUSABLE)
    return wrapper


def plan_or_exit(plan_path: Path, exit_code: int = EXIT_UNUSABLE, what: str | None = None):
    """The checked plan; a plan with errors stops the command (exit 2 unless told)."""
    from ..validators.plan import check_plan, has_errors
    plan, findings = check_plan(plan_path)
    if plan is None or has_errors(findings):
        errors = [f for f in findings if f.is_error] or findings
        if what:
            echo(what, err=True)
        raise PegxlError(errors, exit_code=exit_code)
    return plan


def progress(total_hint: str):
    """A progress callback on stderr for long runs (none when not a terminal)."""
    if not sys.stderr.isatty():
        return None, None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
    prog = Progress(TextColumn(total_hint), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    transient=True)
    task = {"id": None}

    def update(i: int, n: int, name: str) -> None:
        if task["id"] is None:
            task["id"] = prog.add_task(total_hint, total=n)
        prog.update(task["id"], completed=i)
    return prog, update
