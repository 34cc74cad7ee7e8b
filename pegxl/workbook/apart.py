"""Work done in a process forked for it, so that what it allocates goes when it ends.

A merge's long-lived process kept, after the whole scoring of 1,000 settori, 60 MB more
than after 100: the exact figures it keeps (hundreds of thousands of Fractions and keys)
and the pages its temporaries left half used, which the allocator cannot give back. Done
in a child, the work leaves here only what it sends back, unpickled in one go.

Where there is no fork (Windows), or with `PEGXL_APART=0`, the work runs in this process
and gives the same result.
"""
from __future__ import annotations

import os
import pickle
import traceback
from typing import Any, Callable, TypeVar

T = TypeVar("T")
Emit = Callable[[Any], None]

_ITEM, _DONE, _FAILED = 0, 1, 2


def forks() -> bool:
    """Whether `apart` runs its work in a child process here."""
    return hasattr(os, "fork") and os.environ.get("PEGXL_APART", "1") != "0"


def apart(work: Callable[[Emit], T], *, sink: Emit | None = None,
          shrink: Callable[[T, Emit], Any] | None = None) -> Any:
    """`work(emit)` in a forked child; what it returns comes back here (pickled), after
    every `emit(item)` it made has reached `sink(item)` here, in order, as it was made (a
    stream: the items are never all held at once). `shrink(result, emit)`, in the child
    only, turns the result into what is sent back (what the caller keeps on disk goes by
    `emit` instead). An exception of the work is raised here.

    Without fork (`forks()` False) the work runs here: `work(sink)`, and no `shrink`."""
    give = sink if sink is not None else _drop
    if not forks():
        return work(give)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:   # the child: never returns
        status = 1
        try:
            os.close(r)
            with os.fdopen(w, "wb", buffering=1 << 20) as out:
                def emit(item: Any) -> None:
                    pickle.dump((_ITEM, item), out, protocol=pickle.HIGHEST_PROTOCOL)
                try:
                    result = work(emit)
                    message: tuple[int, Any] = (_DONE, shrink(result, emit) if shrink is not None else result)
                except BaseException as exc:
                    message = (_FAILED, exc)
                try:
                    blob = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
                except Exception:   # an exception that does not pickle: its text does
                    text = "".join(traceback.format_exception(message[1])) if message[0] == _FAILED else ""
                    blob = pickle.dumps((_FAILED, RuntimeError(text or "risultato non trasferibile")))
                out.write(blob)
            status = 0
        finally:
            os._exit(status)
    os.close(w)
    try:
        # closed before waiting: a child still writing then stops (broken pipe) rather than wait
        with os.fdopen(r, "rb") as inp:
            while True:
                try:
                    kind, value = pickle.load(inp)
                except EOFError:
                    raise RuntimeError("il processo di calcolo si è interrotto senza risultato") from None
                if kind == _ITEM:
                    give(value)
                elif kind == _DONE:
                    return value
                else:
                    raise value
    finally:
        os.waitpid(pid, 0)


def _drop(item: Any) -> None:
    pass
