"""Work done in a process forked for it, so that what it allocates goes when it ends.

A merge's long-lived process kept, after the whole scoring of 1,000 settori, 60 MB more
than after 100: the exact figures it keeps (hundreds of thousands of Fractions and keys)
and the pages its temporaries left half used, which the allocator cannot give back. Work
done in a child leaves here only what it sends back.

Only on Linux (macOS forks badly once system frameworks are loaded; Windows cannot), and
not with `PEGXL_APART=0`: elsewhere, or when the system refuses the fork, the work runs
in this process and gives the same result. The child runs only its work (pickling and
computing: no lock of the parent's other threads, such as a process pool's, is taken)
and ends with os._exit, never returning into the parent's code.
"""
from __future__ import annotations

import os
import pickle
import signal
import sys
import traceback
from typing import Any, Callable, TypeVar

T = TypeVar("T")
Emit = Callable[[Any], None]

_ITEM, _DONE, _FAILED = 0, 1, 2


class Ended(RuntimeError):
    """The child ended (killed, out of memory) without sending its result."""


def forks() -> bool:
    """Whether `apart` runs its work in a child process here."""
    return (sys.platform.startswith("linux") and hasattr(os, "fork")
            and os.environ.get("PEGXL_APART", "1") != "0")


def apart(work: Callable[[Emit], T], *, sink: Emit | None = None) -> T:
    """`work(emit)` in a forked child; what it returns comes back here (pickled), after
    every `emit(item)` it made has reached `sink(item)` here, in order, as it was made (a
    stream: the items are never all held at once). An exception of the work is raised here
    (one that cannot travel, as its traceback's text). Without fork (`forks()` False, or
    the system refuses it) the work runs here: `work(sink)`."""
    give = sink if sink is not None else _drop
    if not forks():
        return work(give)
    try:
        r, w = os.pipe()
    except OSError:   # no descriptor left: the same work, here
        return work(give)
    try:
        pid = os.fork()
    except OSError:   # no memory for a child: the same work, here
        os.close(r)
        os.close(w)
        return work(give)
    if pid == 0:
        _child(work, r, w)   # never returns
    os.close(w)
    finished = False
    try:
        # closed before waiting: a child still writing then stops (broken pipe) rather than wait
        with os.fdopen(r, "rb") as inp:
            while True:
                try:
                    kind, value = pickle.load(inp)
                except EOFError:
                    finished = True   # it has ended: waited for here
                    raise Ended("il processo di calcolo si è interrotto senza risultato"
                                + _how_it_ended(pid)) from None
                if kind == _ITEM:
                    give(value)
                elif kind == _DONE:
                    finished = True
                    result: T = value
                    return result
                else:
                    finished = True
                    raise value
    finally:
        if not finished:   # interrupted here (Ctrl-C, a sink that failed): the child is not waited for
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:   # reaped by _how_it_ended
            pass


def _child(work: Callable[[Emit], Any], r: int, w: int) -> None:
    status = 1
    try:
        os.close(r)
        with os.fdopen(w, "wb", buffering=1 << 20) as out:
            def emit(item: Any) -> None:
                pickle.dump((_ITEM, item), out, protocol=pickle.HIGHEST_PROTOCOL)
            try:
                message: tuple[int, Any] = (_DONE, work(emit))
            except BaseException as exc:
                message = (_FAILED, exc)
            out.write(_packed(message))
        status = 0
    finally:
        os._exit(status)


def _packed(message: tuple[int, Any]) -> bytes:
    """The message pickled; a failure that would not come back whole (it does not pickle,
    or does not unpickle: an exception with arguments of its own) as its traceback's text."""
    try:
        blob = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        if message[0] == _FAILED:
            pickle.loads(blob)
        return blob
    except Exception:
        if message[0] != _FAILED:
            raise
        text = "".join(traceback.format_exception(message[1]))
        return pickle.dumps((_FAILED, RuntimeError(text)), protocol=pickle.HIGHEST_PROTOCOL)


def _how_it_ended(pid: int) -> str:
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        return ""
    if os.WIFSIGNALED(status):
        return f" (fermato dal segnale {os.WTERMSIG(status)}: memoria esaurita?)"
    return f" (uscito con stato {os.WEXITSTATUS(status)})" if os.WIFEXITED(status) else ""


def _drop(item: Any) -> None:
    pass
