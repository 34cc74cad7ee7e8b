"""A PDF as printed, read from the PDF itself with poppler-utils (pdfinfo, `pdftotext -bbox`):
page sizes, words with their boxes, text height, words drawn over each other.

The same interface as tests/pdfcheck.py of the print-ready workbooks (read_pdf, Pdf.all_a4,
Pdf.small_words, Pdf.overlaps, requires_poppler), so that the two can become one.

A word's box is the font's ascent plus descent, about 1.3 times its size in points for the
fonts LibreOffice draws (DejaVu, Liberation): size = box height / 1.3.
"""
from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

BOX_PER_PT = 1.3
A4_PT = (595.28, 841.89)
POPPLER = bool(shutil.which("pdfinfo") and shutil.which("pdftotext"))
requires_poppler = pytest.mark.skipif(
    not POPPLER and os.environ.get("PEGXL_REQUIRE_LO") != "1",
    reason="pdfinfo/pdftotext not installed (poppler-utils: scripts/install-test-deps.sh)")

_PAGE = re.compile(r'<page width="([\d.]+)" height="([\d.]+)">')
_WORD = re.compile(r'<word xMin="([\d.-]+)" yMin="([\d.-]+)" xMax="([\d.-]+)" yMax="([\d.-]+)">(.*?)</word>')


@dataclass(frozen=True)
class Word:
    page: int
    x0: float
    y0: float
    x1: float
    y1: float
    text: str

    @property
    def size(self) -> float:
        return (self.y1 - self.y0) / BOX_PER_PT

    def __str__(self) -> str:
        return f"p.{self.page} «{self.text}» {self.size:.1f} pt ({self.x0:.0f}, {self.y0:.0f})"


@dataclass
class Pdf:
    path: Path
    pages: int
    page_sizes: list[tuple[float, float]]
    words: list[Word]

    def all_a4(self, tolerance: float = 2.0) -> bool:
        return all(abs(min(w, h) - A4_PT[0]) <= tolerance and abs(max(w, h) - A4_PT[1]) <= tolerance
                   for w, h in self.page_sizes)

    def small_words(self, min_pt: float = 7.5) -> list[Word]:
        return [w for w in self.words if w.size < min_pt]

    def page_text(self, page: int) -> str:
        return " ".join(w.text for w in self.words if w.page == page)

    def overlaps(self) -> list[tuple[Word, Word]]:
        """Words drawn over each other: crossing sideways on one line, or on two lines whose
        boxes cross by more than a fifth of the smaller (wrapped lines touch by a tenth)."""
        found = []
        for page in sorted({w.page for w in self.words}):
            ws = sorted((w for w in self.words if w.page == page), key=lambda w: w.y0)
            for i, a in enumerate(ws):
                for b in ws[i + 1:]:
                    if b.y0 >= a.y1:
                        break
                    if min(a.x1, b.x1) - max(a.x0, b.x0) <= 0.5:
                        continue
                    dy = min(a.y1, b.y1) - max(a.y0, b.y0)
                    same_line = abs(a.y0 - b.y0) < 0.5 and abs(a.y1 - b.y1) < 0.5
                    if same_line or dy > 0.2 * min(a.y1 - a.y0, b.y1 - b.y0):
                        found.append((a, b))
        return found


def read_pdf(path: str | Path) -> Pdf:
    path = Path(path)
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    m = re.search(r"^Pages:\s+(\d+)", info, re.M)
    assert m, info
    out = subprocess.run(["pdftotext", "-bbox", str(path), "-"], capture_output=True, text=True,
                         check=True).stdout
    sizes: list[tuple[float, float]] = []
    words: list[Word] = []
    for line in out.splitlines():
        p = _PAGE.search(line)
        if p:
            sizes.append((float(p.group(1)), float(p.group(2))))
            continue
        w = _WORD.search(line)
        if w:
            x0, y0, x1, y1 = (float(w.group(i)) for i in range(1, 5))
            words.append(Word(len(sizes), x0, y0, x1, y1, html.unescape(w.group(5))))
    return Pdf(path, int(m.group(1)), sizes, words)
