"""Running pandera schemas and turning their failure cases into located findings.

Each Check carries the catalogue code in its `error` (e.g. error="P013"); pandera's own
nullability failures become `missing_code`. The frames keep `xlrow` (Excel row) and the
caller passes how to find the column letter and the record code of a row.
"""
from __future__ import annotations

from typing import Any, Callable

import pandas as pd
import pandera.pandas as pa

from ..errors import ErrorCode, Finding, finding
from ..values import is_blank


def run_schema(schema: pa.DataFrameSchema, df: pd.DataFrame, *, file: str | None, sheet: str,
               cell_of: Callable[[int, str], str | None], record_of: Callable[[pd.Series], str | None],
               header_of: Callable[[str], str], missing_code: ErrorCode,
               raw_of: Callable[[pd.Series, str], Any] | None = None,
               extra: Callable[[str, pd.Series], dict[str, Any]] | None = None) -> list[Finding]:
    """Validate `df` lazily (every problem at once) and return one Finding per failing cell."""
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
        if idx is None or (isinstance(idx, float) and idx != idx) or column not in df.columns:
            continue  # dtype / schema-level failures carry no row: not user-facing here
        row = df.loc[idx]
        check = str(case.check)
        if check.startswith("not_nullable") or check == "not_nullable":
            code = missing_code
        else:
            code = getattr(ErrorCode, check.split(":")[0].strip(), None)
            if code is None:
                continue
        key = (code.code, idx, column)
        if key in seen:
            continue
        seen.add(key)
        excel_row = int(row["xlrow"])
        raw = raw_of(row, column) if raw_of else row[column]
        fields = extra(column, row) if extra else {}
        out.append(finding(code, file=file, sheet=sheet, cell=cell_of(excel_row, column),
                           row=excel_row, column=header_of(column), record=record_of(row),
                           value=None if is_blank(raw) else raw, **fields))
    out.sort(key=lambda x: (x.row or 0, x.cell or ""))
    return out
