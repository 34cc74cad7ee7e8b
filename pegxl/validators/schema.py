"""Running pandera schemas and turning their failure cases into located findings.

Each Check carries its catalogue code in its `error`, written by `coded` (e.g.
error=coded(ErrorCode.P013); a check across columns names the column its finding points
at: coded(ErrorCode.V003, "actual_end")); pandera's own
nullability failures become `missing_code`. The frames keep `xlrow` (Excel row) and the
caller passes how to find the column letter and the record code of a row.
"""
from __future__ import annotations

from typing import Any, Callable

import pandas as pd
import pandera.pandas as pa

from ..errors import ErrorCode, Finding, finding
from ..values import is_blank


def coded(code: ErrorCode, column: str | None = None) -> str:
    """The `error` text of a pandera Check reporting `code` (at `column` for a frame-wide check)."""
    return code.code if column is None else f"{code.code}@{column}"


def run_schema(schema: pa.DataFrameSchema, df: pd.DataFrame, *, file: str | None, sheet: str,
               cell_of: Callable[[int, str], str | None], record_of: Callable[[pd.Series], str | None],
               header_of: Callable[[str], str], missing_code: ErrorCode,
               raw_of: Callable[[pd.Series, str], Any] | None = None,
               extra: Callable[[str, pd.Series, ErrorCode], dict[str, Any]] | None = None,
               locate: Callable[[pd.Series, str], tuple[str | None, str | None]] | None = None) -> list[Finding]:
    """Validate `df` lazily (every problem at once) and return one Finding per failing cell.

    `locate(row, column) -> (file, A1)` serves frames that combine rows of many files."""
    if df.empty:
        return []
    try:
        schema.validate(df, lazy=True)
        return []
    except pa.errors.SchemaErrors as err:
        cases = err.failure_cases
    out: list[Finding] = []
    seen: set[tuple] = set()
    for case in cases.itertuples():
        idx = case.index
        column = case.column
        check = str(case.check)
        if "@" in check:  # a check across columns names the column its finding points at
            check, column = check.split("@", 1)
        if idx is None or (isinstance(idx, float) and idx != idx) or column not in df.columns:
            continue  # dtype / schema-level failures carry no row: not user-facing here
        row = df.loc[idx]
        code: ErrorCode | None
        if check.startswith("not_nullable") or check == "not_nullable":
            code = missing_code
        else:
            code = ErrorCode.__members__.get(check.split(":")[0].strip())
            if code is None:
                continue
        key = (code.code, idx, column)
        if key in seen:
            continue
        seen.add(key)
        excel_row = int(row["xlrow"])
        raw = raw_of(row, column) if raw_of else row[column]
        fields = extra(column, row, code) if extra else {}
        where_file, where_cell = locate(row, column) if locate else (file, cell_of(excel_row, column))
        out.append(finding(code, file=where_file, sheet=sheet, cell=where_cell,
                           row=excel_row, column=header_of(column), record=record_of(row),
                           value=None if is_blank(raw) else raw, **fields))
    out.sort(key=lambda x: (x.row or 0, x.cell or ""))
    return out
