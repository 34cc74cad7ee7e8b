"""A .docx to PDF through a headless LibreOffice (soffice --convert-to pdf).

Each conversion runs its own soffice with a private user profile in a temporary folder:
it never meets the user's open LibreOffice (which would take the job over, or lock the
profile), and the profile sets the Italian locale so that the chart's figures show
decimal commas whatever the machine's language.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable, Sequence

from docx.document import Document

from ..errors import ErrorCode, PegxlError, finding
from ..workbook.io import atomic_path
from .word import save

ENV_SOFFICE = "PEGXL_SOFFICE"
TIMEOUT = 240   # seconds: a cold LibreOffice start on a slow machine takes a minute

_CANDIDATES = (
    "/Applications/LibreOffice.app/Contents/MacOS/soffice",
    r"C:\Program Files\LibreOffice\program\soffice.exe",
    r"C:\Program Files (x86)\LibreOffice\program\soffice.exe",
    "/usr/lib/libreoffice/program/soffice",
    "/opt/libreoffice/program/soffice",
)

_PROFILE = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry" xmlns:xs="http://www.w3.org/2001/XMLSchema"
 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Setup/L10N"><prop oor:name="ooSetupSystemLocale" oor:op="fuse"><value>it-IT</value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Misc"><prop oor:name="FirstRun" oor:op="fuse"><value>false</value></prop></item>
</oor:items>
"""


def find_soffice() -> str | None:
    """The LibreOffice program: $PEGXL_SOFFICE, soffice/libreoffice on PATH, or the usual
    install places; None when there is none."""
    env = os.environ.get(ENV_SOFFICE)
    if env:
        return env if Path(env).is_file() else shutil.which(env)
    for name in ("soffice", "libreoffice"):
        found = shutil.which(name)
        if found:
            return found
    for path in _CANDIDATES:
        if Path(path).is_file():
            return path
    return None


def to_pdf(docx: str | os.PathLike, pdf: str | os.PathLike | None = None, *, force: bool = False,
           timeout: float = TIMEOUT) -> Path:
    """Convert `docx` to `pdf` (default: beside it, .pdf); see `to_pdfs`."""
    source = Path(docx)
    return to_pdfs([(source, Path(pdf) if pdf is not None else source.with_suffix(".pdf"))],
                   force=force, timeout=timeout)[0]


def to_pdfs(pairs: Sequence[tuple[str | os.PathLike, str | os.PathLike]], *, force: bool = False,
            timeout: float = TIMEOUT) -> list[Path]:
    """Convert each (docx, pdf) pair with one LibreOffice run. PegxlError D001 without
    LibreOffice, D002 when the conversion fails or takes longer than `timeout` seconds,
    U002 when a pdf exists and not `force` (then nothing is converted)."""
    jobs = [(Path(d), Path(p)) for d, p in pairs]
    if not force:
        for _, target in jobs:
            if target.exists():
                raise PegxlError(finding(ErrorCode.U002, value=str(target), file=str(target)))
    soffice = require_soffice(jobs[0][1] if jobs else None)
    if not jobs:
        return []
    names = ", ".join(d.name for d, _ in jobs)
    with tempfile.TemporaryDirectory(prefix="pegxl-pdf-") as work:
        profile = Path(work) / "profilo"
        (profile / "user").mkdir(parents=True)
        (profile / "user" / "registrymodifications.xcu").write_text(_PROFILE, encoding="utf-8")
        out = Path(work) / "pdf"
        # plain names: soffice names each PDF after its input, whatever characters the user chose
        staged = []
        for k, (source, _) in enumerate(jobs, start=1):
            copy = Path(work) / f"documento{k}.docx"
            shutil.copyfile(source, copy)
            staged.append(copy)
        cmd = [soffice, f"-env:UserInstallation={profile.as_uri()}", "--headless", "--invisible",
               "--nologo", "--norestore", "--nodefault", "--nolockcheck",
               "--convert-to", "pdf:writer_pdf_Export", "--outdir", str(out), *map(str, staged)]
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
        env.setdefault("SAL_USE_VCLPLUGIN", "svp")     # no display needed
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            raise PegxlError(finding(ErrorCode.D002, file=str(jobs[0][0]), value=names,
                                     detail=f"LibreOffice non ha finito entro {int(timeout)} secondi")) from exc
        except OSError as exc:
            raise PegxlError(finding(ErrorCode.D002, file=str(jobs[0][0]), value=names,
                                     detail=f"{soffice} non si avvia ({exc.strerror or exc})")) from exc
        written = []
        for copy, (source, target) in zip(staged, jobs):
            produced = out / (copy.stem + ".pdf")
            if done.returncode != 0 or not produced.is_file() or produced.stat().st_size == 0:
                why = (done.stderr or done.stdout or "").strip().splitlines()
                raise PegxlError(finding(ErrorCode.D002, file=str(source), value=source.name,
                                         detail=f"LibreOffice è uscito con codice {done.returncode}"
                                                + (f": {why[-1][:200]}" if why else "")))
            with atomic_path(target, suffix=".tmp.pdf") as tmp:
                shutil.copyfile(produced, tmp)
            written.append(target)
    return written


def require_soffice(target: str | os.PathLike | None = None) -> str:
    """The LibreOffice program, else PegxlError D001 with the install hint."""
    soffice = find_soffice()
    if soffice is None:
        raise PegxlError(finding(ErrorCode.D001, file=str(target) if target is not None else None,
                                 value=Path(target).name if target is not None else "documento",
                                 hint_install=install_hint()))
    return soffice


def write_documents(items: Sequence[tuple[Path, Callable[[], Document]]], *, pdf: bool = False,
                    force: bool = False) -> list[Path]:
    """Build and save each (path, build) document and, with `pdf`, its PDF beside it. All or
    nothing up front: LibreOffice is looked for (D001) and every output that exists is
    refused without `force` (U002) before the first file is written."""
    if pdf:
        require_soffice(items[0][0].with_suffix(".pdf") if items else None)
    targets = [p for p, _ in items] + ([p.with_suffix(".pdf") for p, _ in items] if pdf else [])
    if not force:
        for target in targets:
            if target.exists():
                raise PegxlError(finding(ErrorCode.U002, value=str(target), file=str(target)))
    written = [save(build(), path, force=True) for path, build in items]
    if pdf:
        written += to_pdfs([(p, p.with_suffix(".pdf")) for p in written], force=True)
    return written


def install_hint() -> str:
    """How to install LibreOffice here, in Italian."""
    if sys.platform == "darwin":
        return "installare LibreOffice da https://www.libreoffice.org (o `brew install --cask libreoffice`)"
    if sys.platform.startswith("win"):
        return "installare LibreOffice da https://www.libreoffice.org"
    return ("installare LibreOffice Writer (Debian/Ubuntu: `sudo apt-get install libreoffice-writer-nogui`; "
            "altre distribuzioni: il pacchetto libreoffice-writer)")
