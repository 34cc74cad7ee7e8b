"""Writing files atomically: a temporary file in the same folder, then os.replace.

A half-written .xlsx is a corrupt zip; a reader (or Excel) must never see one.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Iterator

from openpyxl.workbook.workbook import Workbook

from ..errors import ErrorCode, PegxlError, finding, os_detail


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path`, else it is removed."""
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=suffix or target.suffix + ".tmp",
                                   dir=str(target.parent))
        os.close(fd)
    except OSError as exc:
        raise PegxlError(finding(ErrorCode.F010, file=str(target), detail=os_detail(exc))) from exc
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        try:
            os.chmod(tmp_path, 0o644)
        except OSError:
            pass
        os.replace(tmp_path, target)
    except OSError as exc:
        raise PegxlError(finding(ErrorCode.F010, file=str(target), detail=os_detail(exc))) from exc
    finally:
        if tmp_path.exists():
            try:
                tmp_path.unlink()
            except OSError:
                pass


def atomic_save(workbook: Workbook, path: str | os.PathLike[str]) -> Path:
    """Save an openpyxl workbook atomically."""
    with atomic_path(path) as tmp:
        workbook.save(tmp)
    return Path(path)


def atomic_write(path: str | os.PathLike[str], writer: Callable[[Path], object]) -> Path:
    with atomic_path(path) as tmp:
        writer(tmp)
    return Path(path)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    return atomic_write(path, lambda p: p.write_bytes(data))


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    return atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


def backup(path: str | os.PathLike[str]) -> Path:
    """Copy a user's file to `<name>.bak-N<suffix>` before it is modified in place."""
    p = Path(path)
    n = 1
    while True:
        candidate = p.with_name(f"{p.stem}.bak-{n}{p.suffix}")
        if not candidate.exists():
            break
        n += 1
    shutil.copy2(p, candidate)
    return candidate
