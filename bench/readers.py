"""The two readings the benches measure beside pegxl, in the same run, as the performance
issue did: they tell how fast the machine is that day.

- naive_read: the naive loop the issue compared `validate` with (openpyxl.load_workbook,
  then a pandas DataFrame of each table sheet), pure Python like most of pegxl;
- calamine_read: python-calamine reading every cell of every sheet, the raw parse (Rust).

Imported by bench_validate.py and bench_merge.py (this folder is on sys.path when they
run as scripts); nothing here imports pegxl.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

TABLE_SHEETS = ("Obiettivi", "Fasi", "Indicatori")

# what the issue measured on its day for 1,000 returns of its shape (20 objectives, 80
# phases, 60 indicators: 160 rows of the table sheets), 2 cores: the naive loop 60 s on a
# quiet machine (79 s loaded). A file of another shape takes the loop another time: the
# issue's figure says nothing about it
ISSUE_NAIVE_SECONDS = 60.0
ISSUE_FILES = 1000
ISSUE_ROWS = 160


def issue_shape(rows_per_file: float) -> bool:
    """Files of about the issue's shape (its 160 rows, within a fifth: the benches add 2
    trasversali to its 20 objectives)."""
    return abs(rows_per_file - ISSUE_ROWS) <= ISSUE_ROWS / 5


def naive_read(files: Iterable[Path]) -> int:
    """The naive loop over `files`: the rows of the table sheets read."""
    import openpyxl
    import pandas as pd
    rows = 0
    for p in files:
        wb = openpyxl.load_workbook(p)
        for name in TABLE_SHEETS:
            values = list(wb[name].values)
            rows += len(pd.DataFrame(values[1:], columns=values[0]))
        wb.close()
    return rows


def calamine_read(files: Iterable[Path]) -> tuple[int, int]:
    """Every cell of every sheet of `files` read by python-calamine: (rows of the table
    sheets below their header, cells)."""
    from python_calamine import CalamineWorkbook
    rows = cells = 0
    for p in files:
        wb = CalamineWorkbook.from_path(str(p))
        for name in wb.sheet_names:
            data = wb.get_sheet_by_name(name).to_python()
            cells += sum(len(row) for row in data)
            if name in TABLE_SHEETS:
                rows += max(0, len(data) - 1)
    return rows, cells
