"""Benchmark: `merge` of 1,000 returns of 20 objectives each, with the write-back copies.

A synthetic plan of 1,000 settori x 20 objectives (2 phases and 2 indicators each, no
trasversali unless asked) gives one template per settore, filled with synthetic_inputs:
1,000 returns. Generating them is NOT timed (it runs in parallel, and is reused with
--dir when the folder already holds them). The merge then runs in a fresh Python process,
so that its peak memory (ru_maxrss) is its own, and prints seconds, files per second and
the peak RSS.

Each merge runs twice, in fresh processes: once for the time per phase (validation,
scoring, consolidated workbook, copies, archive) and the CPU seconds, nothing else running
in the process; once for the peak memory of the main process, of the largest worker, and of
all of them together (PSS sampled from /proc, which slows the run it samples: see _TreeRss).
--measure time (or memory) makes one run only. The memory run also says at which step
the peak came (reading, scoring, consolidated, reconciliation) and what each process held
then (PSS and private memory): between runs with more files, that says who grows.

The time run measures, in the same process, the two references of the issue
(bench/readers.py): calamine reading every cell of the same files (before the merge), and
the naive openpyxl + pandas loop over --naive of them (100, scaled to all; after the merge
and its figures). The issue measured that loop on its day: the ratio gives an estimate of
what the merge would take on the machine as it was then.

With --returns 100,300,1000 the plan stays the same (its --sectors settori) and only the
first N returns are merged, one run per N: memory against the number of files alone (the
files are linked, not copied, into DIR/primi-N).

The copies start from the templates' cache (pegxl.templates.cache) when it holds them:
each N is measured twice, with the cache empty (the first merge of a plan on a computer
where `pegxl templates` did not run; the merge fills it) and full (filled first, not timed,
by generate_templates as `pegxl templates` fills it; the same as any later merge), in
DIR/.../cache-modelli, never the user's cache. --cache cold (or warm) for one of them.

Run:  python bench/bench_merge.py                       # 1,000 x 20, in a temporary folder
      python bench/bench_merge.py --sectors 100 --dir /tmp/pegxl-bench   # smaller, kept
      python bench/bench_merge.py --sectors 100,300,1000 --dir /tmp/pegxl-bench   # one after the other
      python bench/bench_merge.py --sectors 100 --dir /tmp/b --code /path/to/other/pegxl   # compare
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from readers import ISSUE_FILES, ISSUE_NAIVE_SECONDS, ISSUE_ROWS, calamine_read, issue_shape, naive_read

_PLAN = None
_DATA = None
NAIVE_SAMPLE = 100   # files of the naive loop's reference (bench_validate reads them all)
GENERATED_AT = dt.datetime(2024, 12, 1, 8, 0)   # «Generato il» of every template
CACHE_ENV = "PEGXL_CACHE_DIR"                   # pegxl.templates.cache.CACHE_ENV
_FP = None


def _init(plan_path: str, data_path: str) -> None:
    global _PLAN, _DATA, _FP
    from pegxl.validators.plan import read_plan
    _PLAN = read_plan(plan_path)
    _FP = _PLAN.fingerprint()     # hashes every settore: once per worker
    _DATA = json.loads(Path(data_path).read_text(encoding="utf-8"))


def _one(args: tuple[str, str, str]) -> str:
    """Template + filled return of one settore (in a worker)."""
    sector, tdir, rdir = args
    from pegxl.synth import synthetic_inputs
    from pegxl.templates import build_template, fill_return, template_name
    from pegxl.workbook.io import atomic_save
    name = template_name(_PLAN, sector)
    tpath = Path(tdir) / name
    wb = build_template(_PLAN, sector, generated_at=GENERATED_AT, fingerprint=_FP)
    atomic_save(wb, tpath)
    fill_return(tpath, Path(rdir) / name, synthetic_inputs(_DATA, sector, seed=1))
    tpath.unlink()
    return name


def generate(root: Path, sectors: int, objectives: int, phases: int, indicators: int,
             transversal: int, workers: int) -> tuple[Path, Path]:
    from pegxl.validators.plan import read_plan
    from pegxl.synth import synthetic_plan
    from pegxl.workbook.planfile import write_plan
    plan_path, rdir = root / "piano.xlsx", root / "ritorni"
    marker = root / "bench.json"
    spec = {"sectors": sectors, "objectives": objectives, "phases": phases, "indicators": indicators,
            "transversal": transversal}
    if marker.exists() and json.loads(marker.read_text()) == spec and rdir.is_dir() \
            and len(list(rdir.glob("*.xlsx"))) == sectors:
        print(f"input già presenti in {root}: riusati")
        return plan_path, rdir
    if rdir.exists():
        shutil.rmtree(rdir)
    rdir.mkdir(parents=True)
    tdir = root / "modelli"
    tdir.mkdir(exist_ok=True)
    t0 = time.perf_counter()
    data = synthetic_plan(n_sectors=sectors, n_objectives=objectives, n_phases=phases,
                          n_indicators=indicators, transversal=transversal, seed=1)
    write_plan(plan_path, data)
    data_path = root / "plan.json"
    data_path.write_text(json.dumps(data, ensure_ascii=False, default=str), encoding="utf-8")
    plan = read_plan(plan_path)
    jobs = [(s, str(tdir), str(rdir)) for s in plan.sector_codes]
    with ProcessPoolExecutor(max_workers=workers, initializer=_init,
                             initargs=(str(plan_path), str(data_path))) as ex:
        for i, _ in enumerate(ex.map(_one, jobs, chunksize=8), start=1):
            if i % 100 == 0:
                print(f"  generati {i}/{len(jobs)} file ({time.perf_counter() - t0:.0f} s)", flush=True)
    marker.write_text(json.dumps(spec))
    print(f"generazione (non cronometrata): {len(jobs)} file in {time.perf_counter() - t0:.0f} s")
    return plan_path, rdir


def _who(sizes: list[tuple[int, int, int]]) -> str:
    """Who holds the memory: this process first, then each child (PSS and private, MB)."""
    (main_pss, _, main_private), *kids = sizes
    return (f"processo principale {main_pss // 1024} MB PSS, di cui {main_private // 1024} MB privati; "
            "processi figli (PSS/privati) " + (", ".join(f"{p // 1024}/{q // 1024}" for p, _, q in kids) or "nessuno"))


class _TreeRss:
    """Peak memory of this process and its workers together, sampled every 0.1 s from /proc:
    the sum of their PSS (proportional set size: a page the forked workers share with this
    process counts once, not once per process) and, for comparison, of their RSS
    (ru_maxrss gives each process's own peak, not their sum).

    The sampling is not free: reading smaps_rollup walks every page of each process, in
    this process's time (about a quarter of a core at 1,000 returns) and holding each
    process's memory map while it does. So the time is measured in a run without it
    (`active` False: nothing sampled) and the memory in a run of its own."""

    def __init__(self, active: bool = True) -> None:
        import threading
        self.active = active
        self.peak_kb = 0
        self.peak_rss_kb = 0
        self.step = "lettura del piano"   # set by the run as the merge goes on
        self.at_peak: list[tuple[int, int, int]] = []   # (PSS, RSS, private) KB, this process first
        self.peak_step = ""
        self.by_step: dict[str, tuple[int, list[tuple[int, int, int]]]] = {}   # step -> its own peak
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _kb(pid: int) -> tuple[int, int, int]:
        """PSS, RSS and private (clean + dirty) KB of `pid`."""
        pss = rss = private = 0
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    pss = int(line.split()[1])
                elif line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith(("Private_Clean:", "Private_Dirty:")):
                    private += int(line.split()[1])
        except OSError:
            pass
        return pss, rss, private

    def _children(self, pid: int) -> list[int]:
        try:
            text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
        except OSError:
            return []
        kids = [int(x) for x in text.split()]
        return kids + [g for k in kids for g in self._children(k)]

    def _run(self) -> None:
        me = os.getpid()
        while not self._stop.wait(0.1):
            sizes = [self._kb(p) for p in [me, *self._children(me)]]
            total = sum(p for p, _, _ in sizes)
            if total > self.peak_kb:
                # who holds the peak, and when: what grows with the files shows here
                self.peak_kb, self.at_peak, self.peak_step = total, sizes, self.step
            if total > self.by_step.get(self.step, (0, []))[0]:
                self.by_step[self.step] = (total, sizes)
            self.peak_rss_kb = max(self.peak_rss_kb, sum(r for _, r, _ in sizes))

    def __enter__(self) -> _TreeRss:
        if self.active:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self.active:
            self._thread.join()


def run_merge(root: Path, jobs: int | None, archive: bool = True, measure: str = "time",
              naive: int = NAIVE_SAMPLE) -> int:
    """The measured part, in its own process. `measure`: "time" (time per phase and CPU,
    nothing sampled) or "memory" (the peak PSS of all the processes, sampled: its times are
    slowed by the sampling and not printed). `archive`: the cycle archived as `pegxl merge`
    does by default (an archive beside the plan). `naive`: the files of the naive loop's
    reference (0: none)."""
    import pegxl.merge as M
    from pegxl.validators.plan import read_plan
    out = root / "out"
    if out.exists():
        shutil.rmtree(out)
    db = root / "pegxl-archivio.sqlite" if archive else None
    for f in root.glob("pegxl-archivio.sqlite*"):
        f.unlink()
    n = len(list((root / "ritorni").glob("*.xlsx")))
    marks: dict[str, float] = {}
    real_consolidated = M.write_consolidated

    def timed_consolidated(*a, **kw):
        marks["cons_start"] = time.perf_counter()
        tree.step = "consolidato (e copie)"
        try:
            return real_consolidated(*a, **kw)
        finally:
            marks["cons_end"] = time.perf_counter()
            tree.step = "dopo il consolidato"
    M.write_consolidated = timed_consolidated
    real_reconcile = M.reconcile

    def marked_reconcile(*a, **kw):
        tree.step = "riconciliazione (e copie)"
        return real_reconcile(*a, **kw)
    M.reconcile = marked_reconcile
    import pegxl.copies as CP
    import pegxl.validators.returns as R
    # the steps between the reading and the consolidated, where the code measured has them
    # (--code: an older copy may not)
    real_whole, real_ahead = getattr(R._Checker, "_whole", None), CP._CalcoloAhead.__init__

    def marked_whole(*a, **kw):
        tree.step = "calcolo dei punteggi"
        return real_whole(*a, **kw)

    def marked_ahead(*a, **kw):
        tree.step = "parti del foglio Calcolo"
        return real_ahead(*a, **kw)
    if real_whole is not None:
        R._Checker._whole = marked_whole
    CP._CalcoloAhead.__init__ = marked_ahead

    def progress(i: int, total: int, name: str) -> None:
        # merge reports i = 1..n while reading, n+1..2n as the copies are written
        now = time.perf_counter()
        if i < n:
            tree.step = "lettura dei file"
        if i >= n and "read" not in marks:
            marks["read"] = now
            tree.step = "dopo la lettura" if real_whole is not None else "calcolo dei punteggi"
        if i > n and "first_copy" not in marks:
            marks["first_copy"] = now
        if i >= 2 * n and "copies" not in marks:
            marks["copies"] = now

    # the machine's speed today, as the issue measured it: calamine reading every cell of the
    # same files, in this process, before the merge (the files are then in the page cache
    # for both)
    ref = calamine_seconds(root / "ritorni") if measure == "time" else None
    tree = _TreeRss(active=measure == "memory")
    kept_before = _kept(root)
    k0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    with tree:
        t_plan = time.perf_counter()
        plan = read_plan(root / "piano.xlsx")
        t0 = time.perf_counter()
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu0, cpu_kids0 = r1.ru_utime + r1.ru_stime, k0.ru_utime + k0.ru_stime
        result = M.merge(plan, [root / "ritorni"], out, now=dt.datetime(2025, 2, 1, 9, 0),
                         progress=progress, jobs=jobs, db=db)
        t_end = time.perf_counter()
    secs = t_end - t0
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    self_mb = _own_peak_mb()
    child_mb = kids.ru_maxrss / 1024
    # and the issue's naive loop, on a sample of the files (all of them take minutes): the
    # reference the issue measured on its day, so the same-run ratio says what the merge
    # would take on the machine of that day. After the merge and its figures: the workbooks
    # it opens in this process would otherwise be in the memory the merge's processes are
    # forked from
    slow = naive_seconds(root / "ritorni", naive) if measure == "time" and naive > 0 else None
    size = result.consolidated.stat().st_size / (1024 * 1024)
    if measure == "memory":
        print(f"memoria di picco (corsa a parte, campionata ogni 0,1 s): tutti i processi insieme "
              f"{tree.peak_kb / 1024:.0f} MB (PSS; somma degli RSS {tree.peak_rss_kb / 1024:.0f} MB); "
              f"processo principale {self_mb:.0f} MB, processo figlio più grande {child_mb:.0f} MB (RSS)")
        if tree.at_peak:
            print(f"  al picco ({tree.peak_step}): " + _who(tree.at_peak))
        for step, (kb, sizes) in tree.by_step.items():   # what grows with the files, and when
            print(f"  picco di {step}: {kb // 1024} MB; " + _who(sizes))
        return 0
    print(f"piano: {len(plan.sectors)} settori, {len(plan.objectives)} obiettivi, {len(plan.phases)} fasi, "
          f"{len(plan.indicators)} indicatori; jobs {jobs or 'predefinito'}; "
          f"{'con archivio (come il comando)' if archive else 'senza archivio (--no-archive)'}; "
          f"carico {os.getloadavg()[0]:.1f}")
    print(f"lettura e controllo del piano: {t0 - t_plan:.1f} s (prima del merge, come nel comando)")
    print(f"merge (validazione + calcolo + consolidato + {len(result.returned)} copie restituite): {secs:.1f} s; "
          f"file al secondo: {n / secs:.1f}")
    read = marks.get("read", t0) - t0
    print(f"  lettura e validazione:          {read:.1f} s")
    if "cons_start" in marks:
        print(f"  calcolo e nomi delle copie:     {marks['cons_start'] - marks.get('read', t0):.1f} s")
        print(f"  consolidato + riconciliazione:  {marks['cons_end'] - marks['cons_start']:.1f} s "
              "(mentre i processi scrivono le copie)")
        start = marks["cons_start"]
        print(f"  copie restituite:               {marks.get('copies', t_end) - start:.1f} s dall'inizio "
              f"della scrittura")
        print(f"  archiviazione e spostamento:    {t_end - max(marks.get('copies', t_end), marks['cons_end']):.1f} s")
    cpu_me, cpu_kids = me.ru_utime + me.ru_stime - cpu0, kids.ru_utime + kids.ru_stime - cpu_kids0
    print(f"tempo di CPU: processo principale {cpu_me:.1f} s, processi figli {cpu_kids:.1f} s "
          f"(su una macchina a 2 core scarica il merge non scende sotto ~{(cpu_me + cpu_kids) / 2:.0f} s)")
    print(f"consolidato: {size:.1f} MB; {result.reconciliation.line()}")
    if ref is not None:
        cal_s, cal_cpu, cells = ref
        print(f"riferimento nella stessa corsa: calamine legge ogni cella degli stessi {n} file "
              f"({cells:,} celle) in {cal_s:.2f} s ({cal_cpu:.2f} s di CPU): il merge {secs / cal_s:.1f} volte "
              "(un rapporto che dipende poco dalla velocità della macchina quel giorno)")
    if slow is not None:
        naive_s, sample, rows = slow
        whole = naive_s * n / sample
        line = (f"riferimento dell'issue nella stessa corsa: il ciclo ingenuo openpyxl + pandas legge {sample} "
                f"degli stessi file in {naive_s:.1f} s, ~{whole:.0f} s per {n}: il merge ne prende "
                f"{secs / whole:.2f} volte il tempo")
        if issue_shape(rows / sample):   # the issue measured the loop on files of this shape
            then = ISSUE_NAIVE_SECONDS * n / ISSUE_FILES
            line += (f"; il giorno dell'issue il ciclo prese {then:.0f} s per {n} file della sua forma "
                     f"({rows / sample:.0f} righe per file qui, {ISSUE_ROWS} là): stima del merge sulla "
                     f"macchina di quel giorno ~{secs * then / whole:.0f} s (una stima, non una misura)")
        print(line)
    try:   # --code: an older copy of pegxl may have no templates' cache
        import pegxl.templates.cache  # noqa: F401
    except ImportError:
        print("modelli delle copie: tutti costruiti (la versione misurata non ha la cache dei modelli)")
    else:
        built = _kept(root) - kept_before
        print(f"modelli delle copie: {len(result.returned) - built} presi dalla cache, {built} costruiti (e tenuti)")
    print(f"ente: {result.scores.ente['percentage']:.4f} %, fascia {result.scores.ente['band']}")
    return 0


def calamine_seconds(folder: Path) -> tuple[float, float, int]:
    """Seconds (wall, CPU) python-calamine takes to read every cell of every sheet of the
    .xlsx files in `folder` (the raw parse bench_validate.py compares with), and the cells."""
    files = sorted(folder.glob("*.xlsx"))
    t, c = time.perf_counter(), time.process_time()
    _, cells = calamine_read(files)
    return time.perf_counter() - t, time.process_time() - c, cells


def naive_seconds(folder: Path, sample: int) -> tuple[float, int, int]:
    """Seconds the naive loop (readers.naive_read) takes over `sample` of the .xlsx files in
    `folder`, spread evenly over them, how many it read and their table rows."""
    files = sorted(folder.glob("*.xlsx"))
    k = min(sample, len(files))
    chosen = [files[i * len(files) // k] for i in range(k)]
    t = time.perf_counter()
    rows = naive_read(chosen)
    return time.perf_counter() - t, len(chosen), rows


def _own_peak_mb() -> float:
    """This process's peak RSS: VmHWM, of its own memory only. ru_maxrss is not: a process
    started by subprocess (vfork, then exec) takes over the peak of the parent it was
    started from, here the bench that generated the files (1,085 MB where this one had 450)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024   # KB on Linux


def _fill_cache(root: Path, cache: Path, env: dict[str, str]) -> None:
    """The templates of root's plan kept in `cache` as `pegxl templates` keeps them (with
    the returns' «Generato il»), in a process of their own; not timed."""
    if cache.exists():
        shutil.rmtree(cache)
    code = ("import sys, tempfile, datetime as dt; from pathlib import Path; "
            "from pegxl.validators.plan import read_plan; from pegxl.templates import generate_templates; "
            "plan = read_plan(Path(sys.argv[1]) / 'piano.xlsx'); "
            "d = tempfile.TemporaryDirectory(); "
            f"generate_templates(plan, Path(d.name), generated_at=dt.datetime{GENERATED_AT.timetuple()[:5]}); "
            "d.cleanup()")
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, str(root)], env={**env, CACHE_ENV: str(cache)}, check=True)
    print(f"cache riempita con generate_templates (non cronometrata): {time.perf_counter() - t0:.0f} s", flush=True)


def _kept(root: Path) -> int:
    cache = os.environ.get(CACHE_ENV)
    return sum(1 for _ in Path(cache).rglob("*.json")) if cache and Path(cache).is_dir() else 0


def _first_returns(root: Path, n: int) -> Path:
    """root/primi-N: the plan and the first `n` returns of root, linked."""
    sub = root / f"primi-{n}"
    if sub.exists():
        shutil.rmtree(sub)
    (sub / "ritorni").mkdir(parents=True)
    (sub / "piano.xlsx").symlink_to((root / "piano.xlsx").resolve())
    for f in sorted((root / "ritorni").glob("*.xlsx"))[:n]:
        (sub / "ritorni" / f.name).symlink_to(f.resolve())
    return sub


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sectors", default="1000",
                    help="settori (ritorni); più valori separati da virgole: 100,300,1000")
    ap.add_argument("--objectives", type=int, default=20)
    # 2 + 2 by default, a lighter plan; the issue's shape (80 phases and 60 indicators a
    # return) is --phases 4 --indicators 3 --transversal 2, the README's command
    ap.add_argument("--phases", type=int, default=2)
    ap.add_argument("--indicators", type=int, default=2)
    ap.add_argument("--transversal", type=int, default=0)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="processi per generare gli input")
    ap.add_argument("--jobs", type=int, default=None, help="merge --jobs (predefinito: i core)")
    ap.add_argument("--dir", type=Path, help="cartella di lavoro (tenuta e riusata); default: temporanea")
    ap.add_argument("--code", type=Path, help="un'altra copia di pegxl da misurare (confronto nella stessa corsa)")
    ap.add_argument("--no-archive", action="store_true", help="merge senza archiviare il ciclo (merge --no-archive)")
    ap.add_argument("--returns", help="con un solo --sectors: consolida solo i primi N file, stesso piano; "
                                      "più valori separati da virgole: 100,300,1000")
    ap.add_argument("--measure", choices=("time", "memory", "both"), default="both",
                    help="tempo (senza campionare la memoria), memoria (una corsa campionata) o "
                         "entrambi (due corse: predefinito)")
    ap.add_argument("--cache", choices=("cold", "warm", "both"), default="both",
                    help="modelli in cache (pegxl.templates.cache): cold = cache vuota (il primo merge del "
                         "piano su questo computer, senza `pegxl templates` qui); warm = cache riempita "
                         "da generate_templates come `pegxl templates` su questo computer; both: le due "
                         "(predefinito)")
    ap.add_argument("--naive", type=int, default=NAIVE_SAMPLE,
                    help="file letti dal ciclo ingenuo openpyxl + pandas, il riferimento dell'issue (0: nessuno)")
    ap.add_argument("--merge-only", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.merge_only:
        return run_merge(args.merge_only, args.jobs, archive=not args.no_archive, measure=args.measure,
                         naive=args.naive)
    tmp = None
    base = args.dir
    if base is None:
        tmp = tempfile.mkdtemp(prefix="pegxl-bench-merge-")
        base = Path(tmp)
    base.mkdir(parents=True, exist_ok=True)
    sizes = [int(x) for x in str(args.sectors).split(",") if x.strip()]
    env = dict(os.environ)
    if args.code:
        env["PYTHONPATH"] = str(args.code.resolve())
    rc = 0
    try:
        for count in sizes:
            root = base / f"s{count}" if len(sizes) > 1 or args.dir is None else base
            root.mkdir(parents=True, exist_ok=True)
            generate(root, count, args.objectives, args.phases, args.indicators, args.transversal,
                     args.workers)
            targets = [(root, count)]
            if args.returns:
                targets = [(_first_returns(root, int(n)), int(n)) for n in str(args.returns).split(",") if n.strip()]
            for where, n in targets:
                cmd = [sys.executable, __file__, "--merge-only", str(where)]
                if args.jobs:
                    cmd += ["--jobs", str(args.jobs)]
                if args.no_archive:
                    cmd.append("--no-archive")
                cmd += ["--naive", str(args.naive)]
                cache = where / "cache-modelli"
                for mode in ("cold", "warm") if args.cache == "both" else (args.cache,):
                    print(f"--- {n} ritorni (piano di {count} settori), cache dei modelli "
                          f"{'vuota' if mode == 'cold' else 'piena'}", flush=True)
                    if mode == "warm":
                        _fill_cache(where, cache, env)
                    for what in ("time", "memory") if args.measure == "both" else (args.measure,):
                        if mode == "cold" and cache.exists():
                            shutil.rmtree(cache)
                        rc = subprocess.call([*cmd, "--measure", what], env={**env, CACHE_ENV: str(cache)}) or rc
        return rc
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
