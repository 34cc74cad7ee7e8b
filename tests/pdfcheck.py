"""What a PDF looks like on paper, read from the PDF itself (poppler-utils: pdfinfo and
`pdftotext -bbox`): page sizes, the words with their boxes, text size and overlapping lines.

Used by the LibreOffice print tests of workbooks (tests/test_print_lo.py) and documents.

    from pdfcheck import requires_poppler, read_pdf
    doc = read_pdf(path)
    assert doc.all_a4(), doc.page_sizes
    assert doc.small_words(7.5) == []
    assert doc.overlaps() == []

Text size: a word's box is as tall as the font's ascent plus descent, about 1.3 times the
size in points for the fonts LibreOffice uses (DejaVu, Liberation, Carlito): a word's size
is its box height / 1.3 (`BOX_PER_PT`).
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
# PEGXL_REQUIRE_LO=1 (CI): a missing poppler fails the print tests instead of skipping them
requires_poppler = pytest.mark.skipif(
    not POPPLER and os.environ.get("PEGXL_REQUIRE_LO") != "1", reason="pdfinfo/pdftotext not installed (apt-get install poppler-utils: "
                        "scripts/install-test-deps.sh)")

_PAGE = re.compile(r'<page width="([\d.]+)" height="([\d.]+)">')
_WORD = re.compile(r'<word xMin="([\d.-]+)" yMin="([\d.-]+)" xMax="([\d.-]+)" yMax="([\d.-]+)">(.*?)</word>')


@dataclass(frozen=True)
class Word:
    page: int          # 1-based
    x0: float
    y0: float
    x1: float
    y1: float
    text: str

    @property
    def size(self) -> float:
        """The text size in points, from the box height."""
        return (self.y1 - self.y0) / BOX_PER_PT

    def __str__(self) -> str:
        return f"p.{self.page} «{self.text}» {self.size:.1f} pt at ({self.x0:.0f}, {self.y0:.0f})"


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

    def min_size(self) -> float:
        return min((w.size for w in self.words), default=0.0)

    def page_text(self, page: int) -> str:
        return " ".join(w.text for w in self.words if w.page == page)

    def overlaps(self) -> list[tuple[Word, Word]]:
        """Pairs of words drawn over each other: on different lines whose boxes cross by
        more than the leading allows (a fifth of the smaller box: consecutive lines of a
        wrapped cell touch by about a tenth), or on one line and crossing sideways."""
        found = []
        for page in sorted({w.page for w in self.words}):
            ws = sorted((w for w in self.words if w.page == page), key=lambda w: w.y0)
            for i, a in enumerate(ws):
                for b in ws[i + 1:]:
                    if b.y0 >= a.y1:
                        break
                    dx = min(a.x1, b.x1) - max(a.x0, b.x0)
                    if dx <= 0.5:
                        continue
                    dy = min(a.y1, b.y1) - max(a.y0, b.y0)
                    same_line = abs(a.y0 - b.y0) < 0.5 and abs(a.y1 - b.y1) < 0.5
                    limit = 0.2 * min(a.y1 - a.y0, b.y1 - b.y0)
                    if same_line or dy > limit:
                        found.append((a, b))
        return found

    def overlapping_lines(self) -> int:
        """How many text lines (page, top of the line) have a word drawn over another."""
        return len({(w.page, round(w.y0, 1)) for pair in self.overlaps() for w in pair})


def read_pdf(path: str | Path) -> Pdf:
    path = Path(path)
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    pages = int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))  # type: ignore[union-attr]
    out = subprocess.run(["pdftotext", "-bbox", str(path), "-"], capture_output=True, text=True,
                         check=True).stdout
    sizes: list[tuple[float, float]] = []
    words: list[Word] = []
    for line in out.splitlines():
        m = _PAGE.search(line)
        if m:
            sizes.append((float(m.group(1)), float(m.group(2))))
            continue
        m = _WORD.search(line)
        if m:
            x0, y0, x1, y1 = (float(m.group(i)) for i in range(1, 5))
            words.append(Word(len(sizes), x0, y0, x1, y1, html.unescape(m.group(5))))
    return Pdf(path, pages, sizes, words)


def summary(doc: Pdf, min_pt: float = 7.5) -> str:
    """One line for reports: pages, words, smallest text, small words, overlapping lines."""
    small = doc.small_words(min_pt)
    return (f"{doc.path.name}: {doc.pages} pagine, {len(doc.words)} parole, testo minimo "
            f"{doc.min_size():.1f} pt, {len(small)} parole sotto {min_pt} pt "
            f"({100 * len(small) / max(1, len(doc.words)):.0f} %), "
            f"{doc.overlapping_lines()} righe sovrapposte")


def page_numbers_ok(doc: Pdf) -> list[int]:
    """Pages lacking their "Pagina N di M" (N the page within the sheet's run, M > 0)."""
    bad = []
    for page in range(1, doc.pages + 1):
        if not re.search(r"Pagina \d+ di \d+", doc.page_text(page)):
            bad.append(page)
    return bad
