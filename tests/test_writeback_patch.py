"""Write-back copies patched into the template's bytes (issue 12, goal 5): only the sheet
parts with a changed cell (and the styles, for a new number format) differ from the
template; every other part is the template's, byte for byte; the changed cells hold the
validated values and the computed figures, read back by openpyxl and by LibreOffice.
"""
from __future__ import annotations

import datetime as dt
import io
import os
import re
from pathlib import Path
import zipfile

import openpyxl
import pytest
from click.testing import CliRunner

from lo_helper import lo_inspect, requires_lo
from merge_plan import APPROX, COMPUTED, NOW, RELAZIONE, build, header_map, rows_by_key

from pegxl.cli import main
from pegxl.merge import _Fingerprint, copy_jobs, merge, template_bytes, write_back
from pegxl.workbook.patch import CellChange, PatchError, _sheet_parts, patch_cells

CHANGED_SHEETS = {"Obiettivi", "Fasi", "Indicatori"}


@pytest.fixture(scope="module")
def merged(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("patch")
    plan, rdir, returns = build(tmp)
    result = merge(plan, [rdir], tmp / "out", now=NOW)
    v = result.validation
    chosen = {rf.sector: rf for rf in v.files if rf.sector in result.sectors}
    targets = {s: tmp / "again" / p.name for s, p in result.returned.items()}
    jobs = {j.sector: j for j in copy_jobs(v, result.scores, chosen, targets)}
    return plan, result, jobs, tmp


def _parts(data: bytes) -> dict[str, zipfile.ZipInfo]:
    return {i.filename: i for i in zipfile.ZipFile(io.BytesIO(data)).infolist()}


def _read(data: bytes, name: str) -> bytes:
    return zipfile.ZipFile(io.BytesIO(data)).read(name)


def _sheet_part(data: bytes, title: str) -> str:
    return _sheet_parts(zipfile.ZipFile(io.BytesIO(data)))[title]


_CELL = re.compile(rb'<c r="([A-Z]+[0-9]+)"[^>]*?(?:/>|>.*?</c>)', re.S)


def _without(xml: bytes, refs: set[str]) -> bytes:
    """The sheet XML with the cells `refs` taken out, and the rows' attributes (a row grows
    with the text typed in it)."""
    xml = re.sub(rb'<row r="([0-9]+)"[^>]*>', rb'<row r="\1">', xml)
    return _CELL.sub(lambda m: b"" if m.group(1).decode() in refs else m.group(0), xml)


def _heights(xml: bytes) -> dict[int, float]:
    return {int(r): float(h) for r, h in re.findall(rb'<row r="([0-9]+)"[^>]*?ht="([0-9.]+)"', xml)}


def test_every_unchanged_part_is_the_templates_byte_for_byte(merged, monkeypatch):
    plan, result, jobs, tmp = merged
    job = jobs["S01"]
    fp = _Fingerprint(plan)
    template = template_bytes(plan, job, fp)
    import pegxl.writeback as M
    # the copy starts from these very bytes (the template is built afresh each time: its
    # core.xml carries the moment it was written)
    monkeypatch.setattr(M.fastsave, "save", lambda wb, out: out.write(template))
    copy_path = write_back(plan, job, tmp / "one.xlsx", fingerprint=fp)
    copy = copy_path.read_bytes()
    a, b = _parts(template), _parts(copy)
    assert list(a) == list(b)                     # same parts, same order
    changed = {_sheet_part(template, s) for s in CHANGED_SHEETS} | {"xl/styles.xml", "docProps/core.xml"}
    same = [n for n in a if n not in changed]
    assert len(same) >= 10 and "xl/workbook.xml" in same
    # the copy's properties: created and saved now, nothing else of them changed
    times = re.compile(rb"(<dcterms:(?:created|modified)\b[^>]*>)[^<]*(</dcterms:)")
    core_t, core_c = _read(template, "docProps/core.xml"), _read(copy, "docProps/core.xml")
    assert times.sub(rb"\1\2", core_t) == times.sub(rb"\1\2", core_c)
    stamps = re.findall(rb"<dcterms:(?:created|modified)\b[^>]*>([^<]*)<", core_c)
    assert len(stamps) == 2 and all(
        abs(dt.datetime.strptime(t.decode(), "%Y-%m-%dT%H:%M:%SZ") - dt.datetime.now(dt.timezone.utc).replace(tzinfo=None))
        < dt.timedelta(minutes=5) for t in stamps)
    for name in same:
        # the stored bytes themselves: same CRC, same compressed size, same content
        assert (a[name].CRC, a[name].compress_size) == (b[name].CRC, b[name].compress_size), name
        assert _read(template, name) == _read(copy, name), name
    for name in changed - {"xl/styles.xml", "docProps/core.xml"}:
        assert _read(template, name) != _read(copy, name), name
    # styles: the template's, plus cell formats appended (a date typed in a General cell)
    old, new = _read(template, "xl/styles.xml"), _read(copy, "xl/styles.xml")
    n_old = int(re.search(rb'<cellXfs count="([0-9]+)"', old).group(1))
    n_new = int(re.search(rb'<cellXfs count="([0-9]+)"', new).group(1))
    assert n_new >= n_old and new.split(b"</cellXfs>")[1] == old.split(b"</cellXfs>")[1]
    assert len(re.findall(rb"<xf\b", new.split(b"<cellXfs")[1].split(b"</cellXfs>")[0])) == n_new


def test_cells_found_in_order_are_patched_as_by_matching_every_cell(merged, monkeypatch, tmp_path):
    """patch_cells finds the changed cells one after the other in the sheet's order; the
    parts are those of matching every <c> of the sheet (its way when a cell is not found
    so), dates' formats appended to the styles alike."""
    import pegxl.workbook.patch as P
    import pegxl.writeback as M
    plan, result, jobs, tmp = merged
    fp = _Fingerprint(plan)
    real = P._patch_in_order
    for sector in ("S01", "S02"):
        job = jobs[sector]
        template = template_bytes(plan, job, fp)
        monkeypatch.setattr(M.fastsave, "save", lambda wb, out, t=template: out.write(t))
        found: list = []
        with monkeypatch.context() as mp:
            mp.setattr(P, "_patch_in_order", lambda *a, f=found: f.append(real(*a)) or f[-1])
            quick = write_back(plan, job, tmp_path / f"{sector}a.xlsx", fingerprint=fp).read_bytes()
        assert found and all(f is not None for f in found)   # every sheet patched in order
        with monkeypatch.context() as mp:
            mp.setattr(P, "_patch_in_order", lambda *a: None)
            every = write_back(plan, job, tmp_path / f"{sector}b.xlsx", fingerprint=fp).read_bytes()
        assert list(_parts(quick)) == list(_parts(every))
        assert all(_read(quick, n) == _read(every, n) for n in _parts(quick)), sector
        assert any(_read(quick, n) != _read(template, n) for n in _parts(quick)), sector


def test_outside_the_changed_cells_the_sheets_are_the_templates(merged):
    plan, result, jobs, tmp = merged
    job = jobs["S01"]
    template = template_bytes(plan, job)
    copy = result.returned["S01"].read_bytes()
    wb_t = openpyxl.load_workbook(io.BytesIO(template))
    wb_c = openpyxl.load_workbook(io.BytesIO(copy))
    for title in CHANGED_SHEETS:
        ws_t, ws_c = wb_t[title], wb_c[title]
        changed = {c.coordinate for row in ws_c.iter_rows() for c in row
                   if c.value != ws_t[c.coordinate].value or c.style_id != ws_t[c.coordinate].style_id}
        assert changed, title
        part = _sheet_part(template, title)
        assert _without(_read(template, part), changed) == _without(_read(copy, part), changed), title
        before, after = _heights(_read(template, part)), _heights(_read(copy, part))
        assert all(after.get(r, 0) >= h for r, h in before.items()), title   # rows only grow
    # the parts of the merged copy that no cell changes are those of a template built now,
    # but for the moment in docProps/core.xml
    for name in _parts(template):
        if name in {"docProps/core.xml", "xl/styles.xml"} or name in {_sheet_part(template, s) for s in CHANGED_SHEETS}:
            continue
        assert _read(template, name) == _read(copy, name), name


def test_the_changed_cells_hold_the_validated_and_computed_values(merged):
    plan, result, jobs, tmp = merged
    wb = openpyxl.load_workbook(result.returned["S01"])
    ob = rows_by_key(wb["Obiettivi"], "Codice obiettivo")
    for (sector, code), value in COMPUTED.items():
        if sector == "S01":
            got = ob[(code,)]["Grado calcolato %"]
            assert got == pytest.approx(value, **APPROX), code
    o1 = wb["Obiettivi"].cell(row=ob[("O1",)]["_row"], column=header_map(wb["Obiettivi"])["Relazione"])
    assert o1.value == RELAZIONE and o1.data_type == "s"
    fasi = wb["Fasi"]
    f = rows_by_key(fasi, "Codice obiettivo", "N. fase")
    start = fasi.cell(row=f[("O1", 1)]["_row"], column=header_map(fasi)["Inizio effettivo"])
    assert start.value == dt.datetime(2024, 1, 20) and start.number_format == "DD/MM/YYYY"
    assert f[("O1", 1)]["Avanzamento %"] == 100 and f[("O1", 2)]["Avanzamento %"] == 50
    ind = rows_by_key(wb["Indicatori"], "Codice obiettivo", "N. indicatore")
    assert ind[("O1", 1)]["Raggiungimento %"] == pytest.approx(75, **APPROX)
    assert ind[("T1", 1)]["Raggiungimento %"] is None
    # the inputs the settore left blank stay blank and keep the template's style
    typed = {c.coordinate for row in wb["Fasi"].iter_rows(min_row=2) for c in row if c.value is not None}
    assert typed


@requires_lo
def test_libreoffice_opens_the_copy_and_shows_the_values(merged):
    plan, result, jobs, tmp = merged
    path = result.returned["S01"]
    wb = openpyxl.load_workbook(path)
    ob, ho = rows_by_key(wb["Obiettivi"], "Codice obiettivo"), header_map(wb["Obiettivi"])
    f, hf = rows_by_key(wb["Fasi"], "Codice obiettivo", "N. fase"), header_map(wb["Fasi"])
    ind, hi = rows_by_key(wb["Indicatori"], "Codice obiettivo", "N. indicatore"), header_map(wb["Indicatori"])
    letter = openpyxl.utils.get_column_letter
    grade = f"{letter(ho['Grado calcolato %'])}{ob[('O1',)]['_row']}"
    rel = f"{letter(ho['Relazione'])}{ob[('O1',)]['_row']}"
    start = f"{letter(hf['Inizio effettivo'])}{f[('O1', 1)]['_row']}"
    ach = f"{letter(hi['Raggiungimento %'])}{ind[('O1', 1)]['_row']}"
    res = lo_inspect(path, [("Obiettivi", grade), ("Obiettivi", rel), ("Fasi", start), ("Indicatori", ach)])
    by = res["by_ref"]
    o1 = COMPUTED[("S01", "O1")]
    assert by[f"Obiettivi!{grade}"]["value"] == pytest.approx(o1, **APPROX)
    assert by[f"Obiettivi!{grade}"]["type"] == "VALUE"
    assert by[f"Obiettivi!{rel}"]["string"] == RELAZIONE
    assert by[f"Fasi!{start}"]["is_date_format"] and by[f"Fasi!{start}"]["string"] == "20/01/2024"
    assert by[f"Indicatori!{ach}"]["value"] == pytest.approx(75, **APPROX)
    sheets = {s["name"]: s for s in res["sheets"]}
    assert sheets["Obiettivi"]["is_protected"] and not sheets["_pegxl"]["is_visible"]


def test_merge_with_workers_writes_the_same_copies(tmp_path):
    """--jobs 2 through the CLI: the copies hold the same cells as with one process."""
    plan, rdir, returns = build(tmp_path)
    plan_path = tmp_path / "piano.xlsx"
    outs = {}
    for jobs in ("1", "2"):
        out = tmp_path / f"out{jobs}"
        res = CliRunner().invoke(main, ["merge", "--plan", str(plan_path), str(rdir), "-o", str(out),
                                        "--jobs", jobs, "--no-archive"])
        assert res.exit_code == 0, res.output
        outs[jobs] = out
    # the Calcolo sheet's rows made by the workers are the ones made in one process
    calcolo = [[tuple(r) for r in openpyxl.load_workbook(outs[j] / "2024_consolidato_OIV.xlsx")["Calcolo"]
                .iter_rows(values_only=True)] for j in ("1", "2")]
    assert calcolo[0] == calcolo[1] and len(calcolo[0]) > 10
    for p in sorted((outs["1"] / "restituiti").iterdir()):
        a = openpyxl.load_workbook(p)
        b = openpyxl.load_workbook(outs["2"] / "restituiti" / p.name)
        for ws in a.worksheets:
            assert [tuple(r) for r in ws.iter_rows(values_only=True)] == \
                   [tuple(r) for r in b[ws.title].iter_rows(values_only=True)], (p.name, ws.title)


# ------------------------------------------------------------------ patch_cells


def _book() -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Foglio"
    ws["A1"] = "titolo"
    ws["B2"].fill = openpyxl.styles.PatternFill("solid", fgColor="FFF2CC")   # a styled blank
    ws["C2"] = "=1+1"
    for ref in ("D2", "E2", "F2", "G2", "H2"):
        ws[ref].font = openpyxl.styles.Font(b=True)
    ws2 = wb.create_sheet("Altro")
    ws2["A1"] = 1
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def test_patch_cells_writes_each_kind_of_value():
    data = _book()
    out = patch_cells(data, {"Foglio": {
        "B2": CellChange(" <a> & b "),
        "C2": CellChange(None),                                  # the formula goes
        "D2": CellChange("=HYPERLINK(\"http://x\")"),            # text, never a formula
        "E2": CellChange(dt.date(2024, 3, 5), "DD/MM/YYYY"),
        "F2": CellChange(0.4567, "0.00%"),
        "G2": CellChange(True),
        "H2": CellChange("#N/A"),
    }})
    wb = openpyxl.load_workbook(io.BytesIO(out))
    ws = wb["Foglio"]
    assert ws["B2"].value == " <a> & b " and ws["B2"].fill.fgColor.rgb == "00FFF2CC"
    assert ws["C2"].value is None
    assert ws["D2"].value == '=HYPERLINK("http://x")' and ws["D2"].data_type == "s"
    assert ws["E2"].value == dt.datetime(2024, 3, 5) and ws["E2"].number_format == "DD/MM/YYYY"
    assert ws["E2"].font.b and ws["F2"].font.b                  # the rest of the style kept
    assert ws["F2"].value == 0.4567 and ws["F2"].number_format == "0.00%"
    assert ws["G2"].value is True
    assert ws["H2"].value == "#N/A" and ws["H2"].data_type == "s"
    assert _read(data, "xl/worksheets/sheet2.xml") == _read(out, "xl/worksheets/sheet2.xml")
    # the same format asked twice is one new style
    twice = patch_cells(data, {"Foglio": {"E2": CellChange(1, "DD/MM/YYYY"), "F2": CellChange(2, "DD/MM/YYYY")}})
    ws = openpyxl.load_workbook(io.BytesIO(twice))["Foglio"]
    assert ws["E2"].number_format == ws["F2"].number_format == "DD/MM/YYYY"


def test_patch_cells_refuses_a_cell_or_sheet_the_workbook_lacks():
    with pytest.raises(PatchError, match="Z99"):
        patch_cells(_book(), {"Foglio": {"Z99": CellChange(1)}})
    with pytest.raises(PatchError, match="Nessuno"):
        patch_cells(_book(), {"Nessuno": {"A1": CellChange(1)}})


def test_patch_cells_without_changes_copies_every_part():
    data = _book()
    out = patch_cells(data, {})
    a, b = _parts(data), _parts(out)
    assert list(a) == list(b)
    for name in a:
        assert _read(data, name) == _read(out, name)


# ------------------------------------------------------- the consolidated's rows as text


def _book_parts(data: bytes) -> dict[str, bytes]:
    zf = zipfile.ZipFile(io.BytesIO(data))
    return {n: zf.read(n) for n in zf.namelist()}


def _same_parts(plain: dict[str, bytes], fast: dict[str, bytes]) -> None:
    assert list(plain) == list(fast)
    for name in plain:
        if name != "docProps/core.xml":   # the moment of saving
            assert plain[name] == fast[name], name


def test_fast_write_only_rows_are_openpyxls_bytes():
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.comments import Comment
    from openpyxl.styles import Font

    from pegxl.workbook.fastrows import FastWriteOnlyWorkbook

    def build(wb) -> bytes:
        ws = wb.create_sheet("A")
        ws.row_dimensions[1].height = 30
        c = WriteOnlyCell(ws, value="intestazione")
        c.font = Font(b=True)
        ws.append([c, "x", None, 3, 2.5, True, "=1+1", "#N/A", 10 ** 20])
        d = WriteOnlyCell(ws, value=dt.date(2024, 1, 2))
        d.number_format = "DD/MM/YYYY"
        h = WriteOnlyCell(ws, value="collegamento")
        h.hyperlink = "http://example.com"
        k = WriteOnlyCell(ws, value="commento")
        k.comment = Comment("nota", "pegxl")
        ws.append([d, h, k, " spazi ", "a<b&c", dt.datetime(2024, 5, 6, 7, 8)])
        ws.append([])
        ws.append(range(5))
        wb.create_sheet("Vuoto")
        out = io.BytesIO()
        wb.save(out)
        return out.getvalue()
    plain, fast = _book_parts(build(Workbook(write_only=True))), _book_parts(build(FastWriteOnlyWorkbook()))
    _same_parts(plain, fast)


def test_plain_rows_are_the_bytes_of_openpyxls_cells():
    """append_plain writes, without cell objects, what openpyxl writes for plain_cells."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font

    from pegxl.workbook.fastrows import FastWriteOnlyWorkbook, append_plain, set_height

    def build(wb) -> bytes:
        ws = wb.create_sheet("A")
        styles = []
        for fmt, bold, wrap in (("DD/MM/YYYY", False, False), (None, True, True), ("0.00", False, False)):
            c = WriteOnlyCell(ws)
            if fmt:
                c.number_format = fmt
            if bold:
                c.font = Font(b=True)
            if wrap:
                c.alignment = Alignment(wrap_text=True, vertical="top")
            styles.append(c._style)
        date, wrap, num = styles
        set_height(ws, 1, 45.5)
        append_plain(ws, [("=1+1", None), ("#N/A", wrap), ("", None), ("", num), (None, num), (None, None),
                          (" spazi ", None), ("a<b&c\x01d", wrap), ("x" * 40000, None)])
        append_plain(ws, [(dt.date(2024, 1, 2), date), (dt.datetime(2024, 5, 6, 7, 8), date), (True, None),
                          (False, num), (3, None), (2.5, num), (float("nan"), None), (10 ** 20, None)])
        ws.append(["mescolata", 1])          # an ordinary row between plain ones
        set_height(ws, 4, 30)
        append_plain(ws, [("\x02", wrap), ("ultima", None)])
        # the same short texts and dates again: written from what the first rows kept
        append_plain(ws, [("\x02", wrap), (" spazi ", None), ("a<b&c\x01d", wrap), ("", num),
                          (dt.date(2024, 1, 2), date), (2.5, num), (float("inf"), None)])
        out = io.BytesIO()
        wb.save(out)
        return out.getvalue()
    plain, fast = _book_parts(build(Workbook(write_only=True))), _book_parts(build(FastWriteOnlyWorkbook()))
    _same_parts(plain, fast)
    sheet = fast["xl/worksheets/sheet1.xml"].decode()
    assert '<t>=1+1</t>' in sheet and '<t>#N/A</t>' in sheet      # text, never a formula or an error
    assert 'a&lt;b&amp;cd' in sheet and 'x' * 32767 + '<' in sheet and 'x' * 32768 not in sheet
    assert '<row r="1" ht="45.5" customHeight="1">' in sheet


def test_the_consolidated_is_the_same_bytes_as_with_openpyxls_writer(merged, monkeypatch, tmp_path):
    from openpyxl import Workbook

    import pegxl.consolidated.write as W
    plan, result, jobs, tmp = merged
    rdir = Path(result.validation.files[0].path).parent
    monkeypatch.setattr(W, "FastWriteOnlyWorkbook", lambda: Workbook(write_only=True))
    again = merge(plan, [rdir], tmp_path / "out", now=NOW)
    a, b = _book_parts(result.consolidated.read_bytes()), _book_parts(again.consolidated.read_bytes())
    assert list(a) == list(b) and again.run_id == result.run_id
    for name in a:
        if name != "docProps/core.xml":   # openpyxl writes the moment of saving there
            assert a[name] == b[name], name


def test_progress_counts_every_file_read_and_every_copy_written_with_workers(tmp_path):
    plan, rdir, returns = build(tmp_path)
    seen: list[tuple[int, int]] = []
    result = merge(plan, [rdir], tmp_path / "out", now=NOW, jobs=2,
                   progress=lambda i, total, name: seen.append((i, total)))
    n = len(returns)
    assert all(total == 2 * n for _, total in seen)
    steps = [i for i, _ in seen]
    assert steps == sorted(steps) and steps[-1] == 2 * n
    assert set(range(n + 1, 2 * n + 1)) <= set(steps)      # one step per copy written
    assert len(result.returned) == n


def test_pegxl_keeps_openpyxl_off_lxml_so_its_text_writers_run():
    """lxml is installed (python-docx): openpyxl would write through it and skip fastsave's
    and fastrows' text writers."""
    import subprocess
    import sys
    code = "import pegxl.merge, openpyxl; print(openpyxl.LXML)"
    env = {k: v for k, v in os.environ.items() if k != "OPENPYXL_LXML"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "False"


# ------------------------------------------------------------- the copies' window

class _Writers:
    """CopyWriters' shape around a thread pool: write_copies's scheduling, without processes."""

    def __init__(self, workers: int):
        import threading
        from concurrent.futures import ThreadPoolExecutor
        self.pool = ThreadPoolExecutor(workers)
        self.retired = threading.Event()
        self.copies_may_go = threading.Event()
        self.copies_may_go.set()

    def retire(self) -> None:
        self.pool.shutdown(wait=True)
        self.retired.set()


def test_write_copies_takes_the_jobs_one_at_a_time_never_more_than_a_few_ahead(monkeypatch):
    """The jobs are made as the workers take them: at no moment more than COPIES_AHEAD per
    worker made and not yet written (a thousand settori's cells are never all held), every
    job written once, `done` called once each, `meanwhile` run while they are written."""
    import threading
    import time

    import pegxl.copies as M
    lock = threading.Lock()
    made, written, worst = [0], [], [0]

    def jobs():
        for i in range(60):
            with lock:
                made[0] += 1
                worst[0] = max(worst[0], made[0] - len(written))
            yield i

    def write(job):
        time.sleep(0.002)
        with lock:
            written.append(job)
        return job
    monkeypatch.setattr(M, "_write_in_worker", write)
    writers, done, during = _Writers(2), [], []
    try:
        M.write_copies(writers, jobs(), done=done.append, meanwhile=lambda: during.append(len(written)))
    finally:
        writers.pool.shutdown()
    assert sorted(written) == list(range(60)) and sorted(done) == list(range(60))
    assert during and during[0] < 60
    # the one being made counts too
    assert worst[0] <= M.COPIES_AHEAD * 2 + 1


def test_no_copy_is_asked_for_while_the_consolidated_waits_for_its_rows(monkeypatch):
    """CopyWriters.copies_may_go cleared (table_rows waiting for the workers): the copies
    wait, and go on once it is set again."""
    import time

    import pegxl.copies as M
    written: list[int] = []
    monkeypatch.setattr(M, "_write_in_worker", lambda job: written.append(job) or job)
    writers, done, during = _Writers(2), [], []
    writers.copies_may_go.clear()

    def meanwhile() -> None:
        time.sleep(0.5)
        during.append(len(written))
        writers.copies_may_go.set()
    try:
        M.write_copies(writers, iter(range(10)), done=done.append, meanwhile=meanwhile)
    finally:
        writers.pool.shutdown()
    assert during == [0] and sorted(written) == list(range(10)) and sorted(done) == list(range(10))


def test_write_copies_retires_the_workers_once_the_copies_are_written(monkeypatch):
    """The copies' processes go as soon as the last copy is written, while the consolidated
    workbook (`meanwhile`) is still being made: their memory is not held to the end."""
    import pegxl.copies as M
    monkeypatch.setattr(M, "_write_in_worker", lambda job: job)
    writers, done, seen = _Writers(2), [], []

    def meanwhile():
        seen.append(writers.retired.wait(timeout=30))
        seen.append(len(done))
    try:
        M.write_copies(writers, iter(range(40)), done=done.append, meanwhile=meanwhile)
    finally:
        writers.pool.shutdown()
    assert seen == [True, 40]


def test_the_workers_stay_for_the_calcolo_sheet_then_go(tmp_path):
    """CopyWriters' processes make the Calcolo sheet's rows too (the same rows, in order):
    they stop only once the copies and the Calcolo sheet no longer need them."""
    import pegxl.copies as M
    from pegxl.consolidated.calcolo import calcolo_table, calcolo_texts
    from pegxl.tables import inputs_from_validation, score
    from pegxl.validators.returns import validate_returns
    plan, rdir, _ = build(tmp_path)
    v = validate_returns(plan, [rdir])
    scores = score(plan, inputs_from_validation(v, {rf.path for rf in v.files}), [rf.sector for rf in v.files])
    sectors = list(scores.sectors["sector"])
    wrapped = {"step": 20.0, "text": 56.0, "rule": 24.0}
    reasons = {("fasi", "O1", 1): "sospesa"}
    writers = M.CopyWriters(plan, 2, _Fingerprint(plan))
    try:
        writers.retire(M.COPIES)          # the copies are written: the Calcolo sheet still needs them
        assert writers.pool.submit(int).result() == 0
        old = M.CALCOLO_AHEAD
        M.CALCOLO_AHEAD = 1               # a part waited for before the next is asked
        try:
            got = [t for rows in writers.calcolo_text(scores, sectors, reasons, wrapped) for t in rows]
        finally:
            M.CALCOLO_AHEAD = old
        assert got == calcolo_texts(calcolo_table(scores, sectors, reasons, wrapped), wrapped) and len(got) > 10
        with pytest.raises(RuntimeError):   # neither needs them: gone
            writers.pool.submit(int)
    finally:
        writers.close()


def test_the_calcolo_parts_wait_on_disk_and_a_failed_one_is_raised_in_order(tmp_path, monkeypatch):
    """The Calcolo sheet's parts are made (and the Explainer let go) before the workbook
    is begun, pickled on disk; the rows the workers make go to disk as they come, their
    futures let go; a part that fails is raised when its rows are due, after the rows of
    the parts before it."""
    import pegxl.copies as M
    import pegxl.explain as E
    from pegxl.consolidated.calcolo import calcolo_table, calcolo_texts
    from pegxl.tables import inputs_from_validation, score
    from pegxl.validators.returns import validate_returns
    plan, rdir, _ = build(tmp_path)
    v = validate_returns(plan, [rdir])
    scores = score(plan, inputs_from_validation(v, {rf.path for rf in v.files}), [rf.sector for rf in v.files])
    sectors = list(scores.sectors["sector"])
    wrapped = {"step": 20.0, "text": 56.0, "rule": 24.0}
    monkeypatch.setattr(E.Explainer.parts, "__defaults__", (None, 1))   # a part per settore
    pairs = list(calcolo_table(scores, sectors, {}, wrapped))
    want = calcolo_texts(pairs, wrapped)
    real = M._calcolo_in_worker

    def failing(part, w):
        if part.sectors == [sectors[1]]:
            raise ValueError("parte rotta")
        return real(part, w)
    for fail in (False, True):
        if fail:
            monkeypatch.setattr(M, "_calcolo_in_worker", failing)   # before the workers are forked
        writers = M.CopyWriters(plan, 2, _Fingerprint(plan))
        try:
            writers.retire(M.COPIES)
            writers.prefetch_calcolo(scores, sectors, {}, wrapped)
            ahead = writers._ahead
            assert ahead.parted() == len(sectors) > 1 and all(i in ahead._parts for i in range(ahead.n))
            got = []
            if not fail:
                got = [t for rows in writers.calcolo_text(scores, sectors, {}, wrapped) for t in rows]
                assert got == want and not ahead._futures and sorted(ahead._done) == list(range(ahead.n))
                continue
            texts = writers.calcolo_text(scores, sectors, {}, wrapped)
            with pytest.raises(ValueError, match="parte rotta"):
                for rows in texts:
                    got.extend(rows)
            first = calcolo_texts([r for r in pairs if r[0]["sector"] == str(sectors[0])], wrapped)
            assert got == first and len(first) > 0
        finally:
            writers.close()


def test_write_copies_raises_the_first_failure_and_makes_no_more_jobs(monkeypatch):
    import pegxl.copies as M
    made = []

    def jobs():
        for i in range(200):
            made.append(i)
            yield i

    def write(job):
        if job == 3:
            raise OSError(28, "No space left on device")
        return job
    monkeypatch.setattr(M, "_write_in_worker", write)
    writers = _Writers(2)
    try:
        with pytest.raises(OSError) as exc:
            M.write_copies(writers, jobs(), done=lambda job: None, meanwhile=lambda: None)
    finally:
        writers.pool.shutdown()
    assert exc.value.errno == 28
    assert len(made) < 200      # the feeder stopped at the failure


def test_write_copies_stops_the_feeder_when_meanwhile_fails(monkeypatch):
    import pegxl.copies as M
    monkeypatch.setattr(M, "_write_in_worker", lambda job: job)
    writers = _Writers(2)

    def boom():
        raise RuntimeError("consolidato")
    try:
        with pytest.raises(RuntimeError, match="consolidato"):
            M.write_copies(writers, iter(range(10_000)), done=lambda job: None, meanwhile=boom)
    finally:
        writers.pool.shutdown()


def test_the_consolidated_is_the_same_bytes_whoever_makes_its_table_rows(merged, monkeypatch, tmp_path):
    """The Fasi and Indicatori rows made as text a part at a time, by the merge's worker
    processes and by its own (tablerows.RowMaker): the same workbook as one process makes."""
    from concurrent.futures import Future

    import pegxl.consolidated.tablerows as T
    plan, result, jobs, tmp = merged
    rdir = Path(result.validation.files[0].path).parent
    monkeypatch.setattr(T, "PART_ROWS", 2)
    marks = tmp_path / "parti"
    marks.mkdir()
    real = T.RowMaker.text

    def text(maker, rows, first):   # which process made which part (the workers are forked)
        (marks / f"{os.getpid()}-{maker.kind}-{first}").touch()
        return real(maker, rows, first)
    monkeypatch.setattr(T.RowMaker, "text", text)
    # no part taken back from the workers (which one this process makes is a matter of
    # timing: see the next test): every part made by them
    monkeypatch.setattr(Future, "cancel", lambda self: False)
    again = merge(plan, [rdir], tmp_path / "out", now=NOW, jobs=2)
    made = [p.name.split("-") for p in marks.iterdir()]
    assert {kind for _, kind, _ in made} == {"phases", "indicators"} and all(int(pid) != os.getpid()
                                                                            for pid, _, _ in made), made
    assert len(made) == len({(kind, first) for _, kind, first in made})   # each part made once
    a, b = _book_parts(result.consolidated.read_bytes()), _book_parts(again.consolidated.read_bytes())
    assert list(a) == list(b) and again.run_id == result.run_id
    for name in a:
        if name != "docProps/core.xml":
            assert a[name] == b[name], name
    assert again.reconciliation.to_dict() == result.reconciliation.to_dict()


def test_table_rows_are_given_in_order_whether_a_worker_or_this_process_made_them(merged):
    """CopyWriters.table_rows: the parts a worker has begun are waited for, those none has
    begun are made here (out of turn too, while waiting), and all come in order."""
    import threading
    from concurrent.futures import Future

    from pegxl.consolidated.tablerows import RowMaker, table_rows_here
    from pegxl.copies import CopyWriters

    plan = merged[0]
    maker = RowMaker("phases", "Fasi", (("sector", "Codice settore"), ("phase", "N. fase")), (14.0, 7.0),
                     (13.0, 6.0), {(None, False, False, None): None}, dt.datetime(1899, 12, 30), True)
    parts = [(2 + 3 * i, [(("S01", f"O{i}", k, False, 1.0, 2.0), (None,) * 4, (None,) * 4) for k in range(3)])
             for i in range(7)]
    begun: list[int] = []

    class Pool:   # every third part begun by a "worker" (made after a while), the others never
        _max_workers = 2

        def submit(self, fn, maker, first, rows):
            f: Future = Future()
            if first % 9 == 2:
                f.set_running_or_notify_cancel()
                begun.append(first)
                threading.Timer(0.05, lambda: f.set_result(fn(maker, first, rows))).start()
            return f
    writers = CopyWriters(plan, 1, lambda: "")
    writers.pool = Pool()   # type: ignore[assignment]
    got = list(writers.table_rows(maker, iter(parts)))
    assert got == list(table_rows_here(maker, parts)) and begun == [2, 11, 20]
    assert writers.copies_may_go.is_set()


def test_legal_text_drops_what_openpyxl_drops():
    """fastsave.legal_text: ILLEGAL_CHARACTERS_RE's removal, the scan skipped for a printable text."""
    import random

    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    from pegxl.workbook.fastsave import legal_text
    rng = random.Random(3)
    alphabet = "ab è«»—×≥ \t\n\r\x00\x01\x08\x0b\x0c\x0e\x1f\x7f\u2028\xa0\u200b\U0001F600"
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 30)))
        assert legal_text(text) == ILLEGAL_CHARACTERS_RE.sub("", text), repr(text)
    # a str subclass (numpy's) comes back a str, as from the regex: the cells' fast paths test the type
    import numpy as np
    assert type(legal_text(np.str_("abc"))) is str and type(legal_text(np.str_("a\x01"))) is str
