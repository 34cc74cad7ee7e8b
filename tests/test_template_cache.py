"""Templates kept on disk (pegxl.templates.cache): `pegxl templates` and the copies of
`pegxl merge` keep each settore's template; a later merge starts its copies from them and
builds none, and its copies are those built afresh, part for part. Anything the template
is made of changed is another entry; a damaged entry, or a cache that cannot be written,
only costs the time of building the template."""
from __future__ import annotations

import datetime as dt
import io
import os
import re
import time
import zipfile
from pathlib import Path

import openpyxl
import pytest

from merge_plan import NOW, PLAN, build

import pegxl.templates.generate as G
import pegxl.writeback as W
from pegxl.merge import merge
from pegxl.templates.cache import (
    CACHE_ENV,
    KEEP_DAYS,
    SheetLayout,
    TemplateCache,
    cache_root,
    layout_of,
    password_key,
)
from pegxl.templates import DEFAULT_PASSWORD
from pegxl.validators.plan import read_plan
from pegxl.workbook.planfile import write_plan


def _parts(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        # core.xml holds the moment its template was written: the rest is what counts
        return {i.filename: z.read(i) for i in z.infolist() if i.filename != "docProps/core.xml"}


@pytest.fixture
def built(monkeypatch):
    """Counts the templates the copies build (write_back's builder)."""
    calls: list[str] = []
    real = W.build_template

    def counting(plan, sector, **kw):
        calls.append(sector)
        return real(plan, sector, **kw)
    monkeypatch.setattr(W, "build_template", counting)
    return calls


def _entries(root: Path) -> dict[Path, float]:
    return {p: p.stat().st_mtime for p in root.rglob("*.json")}


def test_a_merge_takes_the_templates_pegxl_templates_kept(tmp_path, built):
    root = Path(os.environ[CACHE_ENV])
    plan, rdir, returns = build(tmp_path)              # pegxl templates, then the returns filled
    kept = _entries(root)
    assert len(kept) == len(plan.sector_codes)         # one per settore's template
    warm = merge(plan, [rdir], tmp_path / "warm", now=NOW, jobs=1)
    assert built == []                                 # no template built: every copy from the cache
    assert _entries(root) == kept
    cold = merge(plan, [rdir], tmp_path / "cold", now=NOW, jobs=1, template_cache=False)
    assert sorted(built) == sorted(returns)            # without the cache, one per copy
    assert sorted(warm.returned) == sorted(cold.returned) == sorted(returns)
    for sector, path in warm.returned.items():
        a, b = _parts(path), _parts(cold.returned[sector])
        assert list(a) == list(b), sector
        for name in a:
            assert a[name] == b[name], (sector, name)


def test_a_merge_keeps_the_templates_it_builds_for_the_next(tmp_path, built, monkeypatch):
    plan, rdir, returns = build(tmp_path)
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "nuova-cache"))   # as on another computer
    first = merge(plan, [rdir], tmp_path / "uno", now=NOW, jobs=1)
    assert sorted(built) == sorted(returns)
    assert len(_entries(tmp_path / "nuova-cache")) == len(returns)
    built.clear()
    second = merge(plan, [rdir], tmp_path / "due", now=NOW, jobs=2)   # in worker processes too
    assert second.returned.keys() == first.returned.keys()
    for sector, path in first.returned.items():
        assert _parts(path) == _parts(second.returned[sector]), sector
        # its properties: created and saved now, not when the template was kept
        with zipfile.ZipFile(second.returned[sector]) as z:
            core = z.read("docProps/core.xml").decode()
        stamps = re.findall(r"<dcterms:(?:created|modified)\b[^>]*>([^<]*)<", core)
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        assert len(stamps) == 2 and all(
            abs(dt.datetime.strptime(t, "%Y-%m-%dT%H:%M:%SZ") - now) < dt.timedelta(minutes=5) for t in stamps)
    assert len(_entries(tmp_path / "nuova-cache")) == len(returns)   # found: none added


def test_a_changed_plan_is_not_served_the_old_template(tmp_path, built):
    plan, rdir, returns = build(tmp_path)
    merge(plan, [rdir], tmp_path / "uno", now=NOW, jobs=1)
    assert built == []
    # a cell that no fingerprint locks (the returns stay good) but the Istruzioni show
    data = dict(PLAN, Ente=[*PLAN["Ente"], ["Ufficio referente", "Ufficio pianificazione e controllo"]])
    changed = read_plan(write_plan(tmp_path / "piano2.xlsx", data))
    assert changed.fingerprint() == plan.fingerprint()
    result = merge(changed, [rdir], tmp_path / "due", now=NOW, jobs=1)
    assert sorted(built) == sorted(returns)              # the plan changed: every template built again
    wb = openpyxl.load_workbook(result.returned["S01"])
    text = " ".join(str(c.value) for row in wb["Istruzioni"].iter_rows() for c in row if c.value)
    assert "Ufficio pianificazione e controllo" in text


def test_another_password_is_another_template(tmp_path, built):
    plan, rdir, returns = build(tmp_path)
    cache = TemplateCache.for_plan(plan)
    assert cache is not None
    job = next(iter(W.copy_jobs(*_jobs_args(plan, rdir, tmp_path))))
    when, password = W.generated_text(job.generated_at), job.password_hash or password_key(DEFAULT_PASSWORD)
    assert password == password_key(DEFAULT_PASSWORD)   # the templates' own password
    assert cache.get(job.sector, when, password) is not None
    assert cache.get(job.sector, when, password_key("un'altra password")) is None
    assert cache.get(job.sector, "2030-01-01T00:00:00", password) is None
    assert TemplateCache.for_plan(plan, root=tmp_path / "vuota").get(job.sector, when, password) is None


def _jobs_args(plan, rdir, tmp_path):
    result = merge(plan, [rdir], tmp_path / "per-i-lavori", now=NOW, jobs=1)
    v = result.validation
    chosen = {rf.sector: rf for rf in v.files if rf.sector in result.sectors}
    targets = {s: tmp_path / "di-nuovo" / p.name for s, p in result.returned.items()}
    return v, result.scores, chosen, targets


def test_a_damaged_entry_is_built_again(tmp_path, built):
    root = Path(os.environ[CACHE_ENV])
    plan, rdir, returns = build(tmp_path)
    files = sorted(root.rglob("*.xlsx"))
    files[0].write_bytes(files[0].read_bytes()[:1000])   # cut short
    descriptions = sorted(root.rglob("*.json"))
    descriptions[1].write_text("{non è json", encoding="utf-8")
    result = merge(plan, [rdir], tmp_path / "out", now=NOW, jobs=1)
    assert len(built) == 2                               # those two: built again
    reference = merge(plan, [rdir], tmp_path / "cold", now=NOW, jobs=1, template_cache=False)
    for sector, path in result.returned.items():
        assert _parts(path) == _parts(reference.returned[sector]), sector
    built.clear()
    merge(plan, [rdir], tmp_path / "again", now=NOW, jobs=1)
    assert built == []                                   # and kept sound this time


@pytest.mark.parametrize("where", ["file", "empty"])
def test_no_cache_or_an_unwritable_one_only_builds(tmp_path, built, monkeypatch, where):
    plan, rdir, returns = build(tmp_path)
    if where == "file":
        blocker = tmp_path / "un-file"
        blocker.write_text("non una cartella", encoding="utf-8")
        monkeypatch.setenv(CACHE_ENV, str(blocker / "modelli"))
    else:
        monkeypatch.setenv(CACHE_ENV, "")
        assert cache_root() is None
    result = merge(plan, [rdir], tmp_path / "out", now=NOW, jobs=1)
    assert sorted(built) == sorted(returns) and sorted(result.returned) == sorted(returns)


def test_the_cache_folder_of_each_system(monkeypatch, tmp_path):
    env = {"XDG_CACHE_HOME": str(tmp_path / "xdg")}
    monkeypatch.setattr("sys.platform", "linux")
    assert cache_root(env) == tmp_path / "xdg" / "pegxl" / "modelli"
    monkeypatch.setattr("sys.platform", "win32")
    assert cache_root({"LOCALAPPDATA": str(tmp_path / "local")}) == tmp_path / "local" / "pegxl" / "modelli"
    assert cache_root({CACHE_ENV: str(tmp_path / "mia")}) == tmp_path / "mia"
    assert cache_root({CACHE_ENV: "  "}) is None


def test_folders_of_plans_unused_for_a_long_time_are_removed(tmp_path):
    root = tmp_path / "cache"
    old, recent = root / ("a" * 24), root / ("b" * 24)
    # an old folder that is not a plan's, and one named as a plan's holding something else:
    # $PEGXL_CACHE_DIR may be a folder of the user's, and nothing of theirs is removed
    theirs, mixed = root / "Documenti 2019", root / ("c" * 24)
    for folder in (old, recent, theirs, mixed):
        folder.mkdir(parents=True)
        (folder / "x.json").write_text("{}", encoding="utf-8")
    (mixed / "lettera.docx").write_text("mia", encoding="utf-8")
    past = time.time() - (KEEP_DAYS + 1) * 86400
    for folder in (old, theirs, mixed):
        os.utime(folder, (past, past))
    plan = read_plan(write_plan(tmp_path / "piano.xlsx", PLAN))
    cache = TemplateCache.for_plan(plan, root=root)
    assert cache is not None and cache.folder.is_dir()
    assert not old.exists() and recent.exists()
    assert (theirs / "x.json").exists() and (mixed / "lettera.docx").exists()


def test_a_plan_read_again_has_the_same_key(tmp_path):
    path = write_plan(tmp_path / "piano.xlsx", PLAN)
    first, again = TemplateCache.for_plan(read_plan(path)), TemplateCache.for_plan(read_plan(path))
    assert first is not None and first == again


def test_templates_with_another_password_are_found_by_the_merge(tmp_path, built):
    """pegxl templates --password: the return carries that password's hash, and the merge
    finds the templates kept under it (equal, part for part, to those built afresh)."""
    from merge_plan import INPUTS
    from pegxl.templates import fill_return, generate_templates
    plan = read_plan(write_plan(tmp_path / "piano.xlsx", PLAN))
    paths = generate_templates(plan, tmp_path / "modelli", password="ufficio-2024",
                               generated_at=dt.datetime(2024, 12, 1, 8, 0))
    rdir = tmp_path / "ritorni"
    rdir.mkdir()
    for path in paths:
        sector = path.name.split("_")[1]
        fill_return(path, rdir / path.name, INPUTS[sector])
    warm = merge(plan, [rdir], tmp_path / "warm", now=NOW, jobs=1)
    assert built == []
    cold = merge(plan, [rdir], tmp_path / "cold", now=NOW, jobs=1, template_cache=False)
    for sector, path in warm.returned.items():
        assert _parts(path) == _parts(cold.returned[sector]), sector
    wb = openpyxl.load_workbook(next(iter(warm.returned.values())))
    assert wb["Obiettivi"].protection.password == password_key("ufficio-2024")


def test_the_layout_kept_is_the_layout_built(tmp_path):
    plan = read_plan(write_plan(tmp_path / "piano.xlsx", PLAN))
    for sector in plan.sector_codes:
        wb = G.build_template(plan, sector, generated_at=NOW, fingerprint=plan.fingerprint())
        layout = layout_of(wb)
        assert set(layout) == {"Obiettivi", "Fasi", "Indicatori"}
        for sl in layout.values():
            assert sl.rows and sl.cells
            assert SheetLayout.from_json(sl.to_json()) == sl
        # the layout of a template counted from its cells (as for a workbook built otherwise)
        # is the one kept from the sizing of its rows
        wb2 = G.build_template(plan, sector, generated_at=NOW, fingerprint=plan.fingerprint())
        delattr(wb2, G.FITS_ATTR)
        assert layout_of(wb2) == layout


def test_a_template_from_the_cache_opens_as_a_workbook(tmp_path):
    plan, rdir, returns = build(tmp_path)
    cache = TemplateCache.for_plan(plan)
    assert cache is not None
    for path in cache.folder.glob("*.xlsx"):
        wb = openpyxl.load_workbook(io.BytesIO(path.read_bytes()))
        assert "Obiettivi" in wb.sheetnames


def test_rows_of_a_copy_from_the_cache_are_as_tall_as_fit_rows_makes_them(tmp_path, built):
    """The heights a copy taken from the cache gets for the texts typed (counted from the
    layout kept) are those style.fit_rows gives the copy's own cells, row by row."""
    from merge_plan import INPUTS
    from pegxl.workbook import style as S
    long_text = "Relazione lunga che va a capo più volte nella sua cella " * 6
    typed = {s: {k: [dict(r) for r in v] for k, v in t.items()} for s, t in INPUTS.items()}
    for rows in typed["S01"].values():
        for r in rows:
            for field in ("Relazione", "Note", "Motivazione scostamento"):
                if field in r:
                    r[field] = long_text
    plan, rdir, returns = build(tmp_path, inputs=typed)
    result = merge(plan, [rdir], tmp_path / "out", now=NOW, jobs=1)
    assert built == []                                   # from the cache
    wb = openpyxl.load_workbook(result.returned["S01"])
    template = openpyxl.load_workbook(next((tmp_path / "modelli").glob("*_S01_*.xlsx")))
    grown = 0
    for title in ("Obiettivi", "Fasi", "Indicatori"):
        ws = wb[title]
        have = {r: ws.row_dimensions[r].height for r in range(2, ws.max_row + 1)}
        for r in list(ws.row_dimensions):
            ws.row_dimensions[r].height = None
        S.fit_rows(ws)
        for r, h in have.items():
            want = ws.row_dimensions[r].height
            if want is None:   # one line is enough: the template's height, whatever it was
                assert h == template[title].row_dimensions[r].height, (title, r)
            else:
                assert h == want, (title, r)
                grown += long_text.strip() in str([c.value for c in ws[r]])
    assert grown >= 3


def test_with_an_archive_the_copies_are_the_templates_sent(tmp_path, built):
    """With an archive beside the plan, `pegxl templates` fills «Valore anno precedente» and
    adds «Valore due anni prima» from it: the merge's copies are made from the same plan (the
    same columns as the template the settore received), and so found in the cache."""
    from merge_plan import INPUTS
    from pegxl import flows
    from pegxl.templates import fill_return
    plan, rdir, returns = build(tmp_path)
    db = tmp_path / "pegxl-archivio.sqlite"
    flows.merge_cycle(plan, [rdir], tmp_path / "primo", db=db, jobs=1, now=NOW)   # the archive now exists
    paths = flows.make_templates(plan, tmp_path / "modelli-2", db=db, jobs=1)
    again = tmp_path / "ritorni-2"
    again.mkdir()
    for path in paths:
        fill_return(path, again / path.name, INPUTS[path.name.split("_")[1]])
    built.clear()
    result = flows.merge_cycle(plan, [again], tmp_path / "secondo", db=db, jobs=1, now=NOW)
    assert built == []                                   # the templates sent, from the cache
    for path in paths:
        sector = path.name.split("_")[1]
        sent = openpyxl.load_workbook(path)
        copy = openpyxl.load_workbook(result.returned[sector])
        for title in ("Obiettivi", "Fasi", "Indicatori"):
            assert [c.value for c in copy[title][1]] == [c.value for c in sent[title][1]], (sector, title)
        assert "Valore due anni prima" in [c.value for c in copy["Indicatori"][1]]
