"""The memory of pegxl's processes: the cyclic collector paused or frozen around work
that makes millions of objects none of which is in a cycle, and glibc's allocator told to
give back what is freed (release_memory, bound_heap; no-ops elsewhere)."""
from __future__ import annotations

import contextlib
import ctypes
import functools
import gc
from typing import Any, Iterator


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside: reading a large workbook makes millions of
    objects (cells, rows, columns) and none of them in a cycle, while each collection of
    the oldest generation walks them all again (a fifth of a large plan's read)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


@contextlib.contextmanager
def gc_frozen() -> Iterator[None]:
    """What this process holds now out of the collector's sweeps inside: a sweep in a
    forked worker would write to (and so copy) every page it shares, and here it would walk
    them all again for nothing. A freeze made before (merge's, for its copy writers) is
    left to whoever made it."""
    before = gc.get_freeze_count()
    gc.freeze()
    try:
        yield
    finally:
        if not before:
            gc.unfreeze()


def release_memory() -> bool:
    """Give back to the system the memory this process has freed but still holds (glibc's
    malloc_trim): reading a thousand returns frees tens of megabytes that would otherwise
    count as this process's until it ends. False where there is no such call (not glibc)."""
    trim = _libc_call("malloc_trim")
    if trim is None:
        return False
    trim(0)
    return True


# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -3, -8
MMAP_THRESHOLD = 128 * 1024   # glibc's own starting values of both


def bound_heap() -> bool:
    """Make this process's allocator (glibc's) give each large block back to the system as
    soon as it is freed, and keep its threads to two heaps; the processes it forks inherit
    it. By default glibc raises the size it maps apart to that of the largest block freed,
    so the megabytes of text a merge builds a part at a time (rows of a sheet, the workers'
    results) stay in its heap among live objects, and every thread that receives results
    gets a heap of its own: at 1,000 returns 671 MB against 585 at 100 without this, 593-610
    against 546 with it. A process-wide setting, harmless to other code. False where there is no such
    call (not glibc)."""
    mallopt = _libc_call("mallopt")
    if mallopt is None:
        return False
    # the trim threshold too: glibc raised it with the other, and free() keeps that much
    done = [mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD), mallopt(_M_TRIM_THRESHOLD, MMAP_THRESHOLD),
            mallopt(_M_ARENA_MAX, 2)]   # 1: done
    return all(done)


@functools.cache
def _libc_call(name: str) -> Any:
    try:
        return getattr(ctypes.CDLL(None), name)
    except (OSError, AttributeError, TypeError):   # macOS, Windows, musl
        return None
