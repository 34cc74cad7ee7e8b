"""Benchmark: `merge` of 1,000 returns of 20 objectives each, with the write-back copies.

A synthetic plan of 1,000 settori x 20 objectives (2 phases and 2 indicators each, no
trasversali unless asked) gives one template per settore, filled with synthetic_inputs:
1,000 returns. Generating them is NOT timed (it runs in parallel, and is reused with
--dir when the folder already holds them). The merge then runs in a fresh Python process,
so that its peak memory (ru_maxrss) is its own, and prints seconds, files per second and
the peak RSS.

Run:  python bench/bench_merge.py                       # 1,000 x 20, in a temporary folder
      python bench/bench_merge.py --sectors 100 --dir /tmp/pegxl-bench   # smaller, kept
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

_PLAN = None
_DATA = None
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
    wb = build_template(_PLAN, sector, generated_at=dt.datetime(2024, 12, 1, 8, 0), fingerprint=_FP)
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


def run_merge(root: Path) -> int:
    """The timed part, in its own process."""
    from pegxl.merge import merge
    from pegxl.validators.plan import read_plan
    plan = read_plan(root / "piano.xlsx")
    out = root / "out"
    if out.exists():
        shutil.rmtree(out)
    n = len(list((root / "ritorni").glob("*.xlsx")))
    marks: dict[str, float] = {}

    def progress(i: int, total: int, name: str) -> None:
        # merge reports i = 1..n while reading, n+1..2n while writing the copies back
        now = time.perf_counter()
        if i == n and "read" not in marks:
            marks["read"] = now
        if i == n + 1 and "first_copy" not in marks:
            marks["first_copy"] = now
        marks["end"] = now

    t0 = time.perf_counter()
    result = merge(plan, [root / "ritorni"], out, now=dt.datetime(2025, 2, 1, 9, 0), progress=progress)
    secs = time.perf_counter() - t0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024   # KB on Linux
    size = result.consolidated.stat().st_size / (1024 * 1024)
    print(f"piano: {len(plan.sectors)} settori, {len(plan.objectives)} obiettivi, {len(plan.phases)} fasi, "
          f"{len(plan.indicators)} indicatori")
    print(f"merge (validazione + calcolo + consolidato + {len(result.returned)} copie restituite): {secs:.1f} s")
    print(f"file al secondo: {n / secs:.1f}")
    if {"read", "first_copy"} <= set(marks):
        t_read = marks["read"] - t0
        t_cons = marks["first_copy"] - marks["read"]
        t_back = secs - t_read - t_cons
        print(f"  di cui: lettura e validazione {t_read:.1f} s; calcolo, consolidato e riconciliazione "
              f"~{t_cons:.1f} s; copie restituite ~{t_back:.1f} s")
    print(f"memoria di picco (ru_maxrss): {rss_mb:.0f} MB")
    print(f"consolidato: {size:.1f} MB; {result.reconciliation.line()}")
    print(f"ente: {result.scores.ente['percentage']:.4f} %, fascia {result.scores.ente['band']}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sectors", type=int, default=1000)
    ap.add_argument("--objectives", type=int, default=20)
    # 2 + 2: the plan reader refuses a sheet over 50,000 rows (F007), and 1,000 x 20 x 4
    # phases would be 80,000
    ap.add_argument("--phases", type=int, default=2)
    ap.add_argument("--indicators", type=int, default=2)
    ap.add_argument("--transversal", type=int, default=0)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--dir", type=Path, help="cartella di lavoro (tenuta e riusata); default: temporanea")
    ap.add_argument("--merge-only", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.merge_only:
        return run_merge(args.merge_only)
    tmp = None
    root = args.dir
    if root is None:
        tmp = tempfile.mkdtemp(prefix="pegxl-bench-merge-")
        root = Path(tmp)
    root.mkdir(parents=True, exist_ok=True)
    try:
        generate(root, args.sectors, args.objectives, args.phases, args.indicators, args.transversal,
                 args.workers)
        return subprocess.call([sys.executable, __file__, "--merge-only", str(root)])
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
