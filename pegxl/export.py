"""`pegxl export`: the plan and the scores as long tables for BI tools (Power BI, Excel's
Power Query, Tableau, pandas, R).

Files written into the output folder (each atomically):

- settori, obiettivi (one row per settore and objective: a trasversale objective appears
  once for each settore), fasi, indicatori: the plan, with the public headers of the
  workbooks (workbooks.md), each row prefixed by Ente, Anno, Fase del ciclo;
- punteggi: when the archive holds a cycle of the plan's ente, anno and fase (the OIV's
  before the merge, the latest version), every figure in one long table: one row per
  (Livello, Codice settore, Codice obiettivo, N.) with Livello ente | settore | obiettivo |
  fase | indicatore, and Percentuale, Fascia, Stato, Fonte, plus the cycle that made it.

CSV format, the same for every CSV pegxl writes (export, `status --format csv`, `history
--format csv`): UTF-8 with BOM (so Excel opens the accents right), ";" as separator (the
list separator of Italian Excel, which opens a ","-separated file in one column), "," as
decimal point (Italian Excel reads "83.33" as text, or "1.5" as a date), no thousands
separator, dates as ISO yyyy-mm-dd (read as dates in every locale), booleans as sì/no,
numbers at full precision (pandas: `read_csv(sep=";", decimal=",")`; Power Query: locale
Italiano), blank for no value, CRLF line ends (RFC 4180 with ";").

CSV injection (OWASP "CSV Injection"): quotes do not stop Excel or LibreOffice from
reading `=HYPERLINK(...)` as a live formula, so a text cell that starts with = + - @, a
tab or a carriage return is written with an apostrophe in front (`'=HYPERLINK(...)`),
which makes the spreadsheet show it as text. Numbers stay numbers: -5 (a number, or a
text that is only a number such as "-5" or "+3,5") is written as it is, since a plain
number cannot be a formula. Parquet (`pyarrow`, extra `pegxl[parquet]`) keeps the data
as it is, without apostrophes, and keeps the types: text, float, int, bool, date.
"""
from __future__ import annotations

import datetime as dt
import io
import math
import os
import re
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from .archive import cycle_tables, latest_cycle
from .errors import EXIT_UNUSABLE, ErrorCode, PegxlError, finding
from .plan import Plan
from .workbook import contract as C
from .workbook.io import atomic_path, atomic_write_bytes

FORMATS = ("csv", "parquet")
CSV_SEP = ";"
CSV_BOM = "\ufeff"
_RISKY = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][+-]?\d+)?$")

HEAD = ["Ente", "Anno", "Fase del ciclo"]


# ---------------------------------------------------------------------------- CSV

def neutralise(text: str) -> str:
    """`text` as a CSV cell may hold it without a spreadsheet running it: an apostrophe in
    front of text that starts with = + - @, a tab or a carriage return (OWASP), unless the
    text is only a number."""
    if text.startswith(_RISKY) and not _PLAIN_NUMBER.match(text):
        return "'" + text
    return text


def _cell(v: Any) -> str:
    """One CSV field: the value as text, neutralised, quoted when it must be."""
    s = _csv_text(v)
    if _is_scalar_non_text(v):   # numbers, dates, sì/no: never quoted, never a formula
        return s
    s = neutralise(s)
    if any(ch in s for ch in (CSV_SEP, ",", '"', "\n", "\r", "\t")) or s != s.strip(" ") or s.startswith(_RISKY + ("'",)):
        return '"' + s.replace('"', '""') + '"'
    return s


def _is_scalar_non_text(v: Any) -> bool:
    """A number, boolean or date: written by pegxl, never a formula."""
    return isinstance(v, (bool, int, float, dt.date, pd.Timestamp, np.bool_, np.integer, np.floating))


def _text(v: Any) -> str:
    """The value as the export writes it (no quoting, no neutralising: Parquet's text)."""
    if v is None:
        return ""
    if isinstance(v, float) and math.isnan(v):
        return ""
    try:
        if v is pd.NaT or (not isinstance(v, (str, bytes, list, tuple, dict)) and pd.isna(v) is True):
            return ""
    except (TypeError, ValueError):
        pass
    if isinstance(v, bool) or type(v).__name__ == "bool_":
        return "sì" if bool(v) else "no"
    if isinstance(v, pd.Timestamp):
        v = v.to_pydatetime()
    if isinstance(v, dt.datetime):
        return v.date().isoformat() if v.time() == dt.time(0) and v.tzinfo is None else v.isoformat()
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, (int,)) or type(v).__name__.startswith("int"):
        return str(int(v))
    if isinstance(v, float) or type(v).__name__.startswith("float"):
        f = float(v)
        return str(int(f)) if f.is_integer() and abs(f) < 1e15 else repr(f)
    return str(v)


def _csv_text(v: Any) -> str:
    """The value as a CSV cell shows it: `_text`, with the Italian decimal comma."""
    s = _text(v)
    if isinstance(v, (float, np.floating)) and not isinstance(v, bool):
        return s.replace(".", ",")
    return s


def csv_line(values: Iterable[Any]) -> str:
    """One CSV record (CRLF-terminated) in the export's dialect; text that a spreadsheet
    would run as a formula is neutralised (see the module docstring)."""
    return CSV_SEP.join(_cell(v) for v in values) + "\r\n"


def to_csv_text(df: pd.DataFrame, *, bom: bool = False) -> str:
    """`df` as CSV text in the export's dialect; with `bom`, led by the byte-order mark
    (for text printed rather than encoded as utf-8-sig)."""
    buf = io.StringIO()
    if bom:
        buf.write(CSV_BOM)
    buf.write(csv_line(df.columns))
    for rec in df.itertuples(index=False, name=None):
        buf.write(csv_line(rec))
    return buf.getvalue()


# -------------------------------------------------------------------------- tables

def _prefix(plan: Plan, df: pd.DataFrame) -> pd.DataFrame:
    head = pd.DataFrame({"Ente": [plan.ente] * len(df), "Anno": [int(plan.anno)] * len(df),
                         "Fase del ciclo": [plan.fase] * len(df)}, index=df.index)
    return pd.concat([head, df], axis=1)


def _plan_table(plan: Plan, df: pd.DataFrame, spec: C.TableSpec, extra: dict[str, str] | None = None) -> pd.DataFrame:
    cols = {c.field: c.header for c in spec.columns if c.field in df.columns}
    if extra:
        cols.update({k: v for k, v in extra.items() if k in df.columns})
    out = df[list(cols)].rename(columns=cols).reset_index(drop=True).astype(object)
    return _prefix(plan, out)


def plan_tables(plan: Plan) -> dict[str, pd.DataFrame]:
    """settori, obiettivi, fasi, indicatori of the plan, with the public headers."""
    sectors = _plan_table(plan, plan.sectors, C.SECTORS)
    obj = plan.assignments[["sector", "objective", "transversal"]].merge(
        plan.objectives.drop(columns=["weight"]).drop_duplicates("objective"), on="objective", how="left")
    obj = obj.merge(plan.assignments[["sector", "objective", "weight"]], on=["sector", "objective"], how="left")
    obj = obj.rename(columns={"sectors": "_sectors"})
    o_spec = [("sector", "Codice settore"), ("objective", "Codice obiettivo"), ("title", "Titolo"),
              ("description", "Descrizione"), ("typology", "Tipologia"), ("mission", "Missione"),
              ("programme", "Programma"), ("dup_objective", "Obiettivo DUP"),
              ("public_value", "Valore pubblico"), ("assessor", "Assessore"), ("weight", "Peso"),
              ("transversal", "Trasversale")]
    objectives = _prefix(plan, obj[[f for f, _ in o_spec]].rename(columns=dict(o_spec))
                         .reset_index(drop=True).astype(object))
    phases = _plan_table(plan, plan.phases, C.PHASES)
    ind = plan.indicators.copy()
    # the target as read (number, date, sì/no); as typed when it could not be read
    ind["target"] = [tv if tv is not None and not (isinstance(tv, float) and math.isnan(tv)) else t
                     for tv, t in zip(ind["target_value"], ind["target"])]
    extra = {"previous_2": "Valore due anni prima"} if "previous_2" in ind.columns else None
    indicators = _plan_table(plan, ind, C.INDICATORS, extra)
    return {"settori": sectors, "obiettivi": objectives, "fasi": phases, "indicatori": indicators}


SCORE_HEADERS = ["Ente", "Anno", "Fase del ciclo", "Ciclo", "Tipo ciclo", "Versione", "Archiviato il",
                 "Livello", "Codice settore", "Codice obiettivo", "N.", "Percentuale", "Fascia",
                 "Stato", "Fonte", "Conteggiato", "Valore raggiunto"]


def score_table(db: str | os.PathLike, cycle_id: int) -> pd.DataFrame:
    """Every figure of one archived cycle, in one long table (see the module docstring)."""
    t = cycle_tables(db, cycle_id)
    c = t["cycle"].iloc[0]
    base = [c["ente"], int(c["anno"]), c["fase"], int(c["id"]), c["kind"], int(c["version"]), c["created_at"]]
    rows: list[list[Any]] = []

    def counted(v: Any) -> Any:
        return None if v is None or (isinstance(v, float) and math.isnan(v)) else bool(v)

    rows.append(base + ["ente", None, None, None, c["ente_percentage"], c["ente_band"], None, None, None, None])
    for r in t["sectors"].to_dict("records"):
        rows.append(base + ["settore", r["sector"], None, None, r["percentage"], r["band"], None, None,
                            None, None])
    for r in t["objectives"].to_dict("records"):
        rows.append(base + ["obiettivo", r["sector"], r["objective"], None, r["grade"], None,
                            r["status"] or r["excluded_reason"], r["grade_source"], counted(r["counted"]), None])
    for r in t["phases"].to_dict("records"):
        rows.append(base + ["fase", r["sector"], r["objective"], int(r["phase"]), r["progress"], None,
                            "neutralizzata" if r["neutralised"] else None, None, None, None])
    for r in t["indicators"].to_dict("records"):
        rows.append(base + ["indicatore", r["sector"], r["objective"], int(r["indicator"]), r["score"], None,
                            r["status"], None, counted(r["counted"]), r["achieved_value"]])
    return pd.DataFrame(rows, columns=SCORE_HEADERS, dtype=object)


# ------------------------------------------------------------------------- writing

def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NaT


def _typed_for_parquet(df: pd.DataFrame) -> pd.DataFrame:
    """Object columns holding one kind of value keep it (bool, number, date); mixed ones
    become text (as the CSV shows them)."""
    out = df.copy()
    for col in out.columns:
        s = out[col]
        if s.dtype != object and not pd.api.types.is_string_dtype(s):
            continue
        vals = [v for v in s if not _missing(v)]
        if not vals:
            out[col] = pd.Series([None] * len(s), index=s.index, dtype="string")
        elif all(isinstance(v, (bool, np.bool_)) for v in vals):
            out[col] = pd.Series([None if _missing(v) else bool(v) for v in s], index=s.index, dtype="boolean")
        elif all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))
                 for v in vals):
            if all(float(v).is_integer() for v in vals) and all(isinstance(v, (int, np.integer)) for v in vals):
                out[col] = pd.Series([None if _missing(v) else int(v) for v in s], index=s.index, dtype="Int64")
            else:
                out[col] = pd.Series([np.nan if _missing(v) else float(v) for v in s], index=s.index, dtype=float)
        elif all(isinstance(v, (dt.date, pd.Timestamp)) for v in vals):
            out[col] = pd.Series([None if _missing(v) else (v.date() if isinstance(v, (dt.datetime, pd.Timestamp))
                                                            else v) for v in s], index=s.index, dtype=object)
        else:
            out[col] = pd.Series([None if _missing(v) else (v if isinstance(v, str) else _text(v))
                                  for v in s], index=s.index, dtype="string")
    return out


def _write(df: pd.DataFrame, path: Path, fmt: str) -> Path:
    if fmt == "csv":
        return atomic_write_bytes(path, to_csv_text(df).encode("utf-8-sig"))
    import pyarrow as pa
    import pyarrow.parquet as pq
    table = pa.Table.from_pandas(_typed_for_parquet(df), preserve_index=False)
    with atomic_path(path) as tmp:
        pq.write_table(table, str(tmp))
    return path


def export_tables(plan: Plan, outdir: str | os.PathLike, fmt: str = "csv",
                  db: str | os.PathLike | None = None) -> list[Path]:
    """Write settori, obiettivi, fasi, indicatori (and punteggi, when the archive `db` has a
    cycle of the plan's ente, anno and fase) into `outdir` as CSV or Parquet."""
    if fmt not in FORMATS:
        raise PegxlError(finding(ErrorCode.U001, detail=f"formato «{fmt}» non valido (ammessi: csv, parquet)"),
                         exit_code=EXIT_UNUSABLE)
    if fmt == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise PegxlError(finding(ErrorCode.U001, detail="per il formato parquet serve pyarrow: "
                                     "pip install \"pegxl[parquet]\""), exit_code=EXIT_UNUSABLE) from None
    tables = plan_tables(plan)
    if db is not None and Path(db).exists():
        cid = latest_cycle(db, plan)
        if cid is not None:
            tables["punteggi"] = score_table(db, cid)
    out = Path(outdir)
    return [_write(df, out / f"{name}.{fmt}", fmt) for name, df in tables.items()]
