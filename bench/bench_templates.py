"""Benchmark: read a large plan and generate every settore's template.

40 settori x 20 objectives (4 phases, 3 indicators each) plus 2 trasversali: prints the
seconds for read_plan, for generate_templates (total and per template) and the peak
memory; beside each wall time the CPU seconds (this process and its worker processes: on a
shared, loaded machine the steadier figure) and the load average. Issue 12's goal: 1,000
settori within 30 s. Run: python bench/bench_templates.py [--sectors 1000 --objectives 20 --jobs 2]
[--plan piano.xlsx] (with --plan, a second run, or another version's, reuses the same plan).
Each template is also kept in the templates' cache (pegxl.templates.cache), as `pegxl
templates` does: here in a temporary folder, emptied first (--no-cache: none kept).
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from pegxl.validators.plan import read_plan
from pegxl.synth import synthetic_plan
from pegxl.templates import generate_templates
from pegxl.templates.generate import default_jobs
from pegxl.workbook.planfile import write_plan


def cpu_seconds() -> float:
    """CPU seconds of this process and of its children waited for (the workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sectors", type=int, default=40)
    ap.add_argument("--objectives", type=int, default=20)
    ap.add_argument("--phases", type=int, default=4)
    ap.add_argument("--indicators", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=None,
                    help="worker processes for the templates (default: the cores)")
    ap.add_argument("--plan", type=Path, default=None,
                    help="the plan file: written there when missing, reused when present (to compare "
                         "two versions on the same plan without writing it twice)")
    ap.add_argument("--no-cache", action="store_true", help="i modelli non tenuti nella cache (PEGXL_CACHE_DIR vuota)")
    ap.add_argument("--tracemalloc", action="store_true",
                    help="also trace Python allocations (slower; peak of Python objects only)")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="pegxl-bench-") as tmp:
        tmp = Path(tmp)
        # the templates kept as by `pegxl templates`, never in the user's own cache
        os.environ["PEGXL_CACHE_DIR"] = "" if args.no_cache else str(tmp / "cache")
        t0 = time.perf_counter()
        plan_path = args.plan or tmp / "piano.xlsx"
        if not plan_path.exists():
            data = synthetic_plan(n_sectors=args.sectors, n_objectives=args.objectives,
                                  n_phases=args.phases, n_indicators=args.indicators)
            write_plan(plan_path, data)
        t_write = time.perf_counter() - t0
        if args.tracemalloc:
            tracemalloc.start()
        t1, c1 = time.perf_counter(), cpu_seconds()
        plan = read_plan(plan_path)
        t_read, c_read = time.perf_counter() - t1, cpu_seconds() - c1
        t2, c2 = time.perf_counter(), cpu_seconds()
        paths = generate_templates(plan, tmp / "modelli", jobs=args.jobs)
        t_gen, c_gen = time.perf_counter() - t2, cpu_seconds() - c2
        traced = tracemalloc.get_traced_memory()[1] if args.tracemalloc else None
        size = sum(p.stat().st_size for p in paths)
        kept = sum(p.stat().st_size for p in (tmp / "cache").rglob("*") if p.is_file()) if not args.no_cache else 0

    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KB on Linux
    n = len(paths)
    print(f"piano: {plan_path if args.plan else f'{args.sectors} settori x {args.objectives} obiettivi'} "
          f"({len(plan.objectives)} obiettivi, {len(plan.phases)} fasi, {len(plan.indicators)} indicatori)")
    print(f"scrittura piano (synth + write_plan): {t_write:.2f} s")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{'':38}{'s (orologio)':>13} {'s (CPU)':>9}   carico medio {load:.1f} su {os.cpu_count()} core")
    print(f"{'read_plan':38}{t_read:13.2f} {c_read:9.2f}")
    print(f"{'generate_templates':38}{t_gen:13.2f} {c_gen:9.2f}  ({n} modelli, {t_gen / n * 1000:.0f} ms "
          f"per modello, {c_gen / n * 1000:.0f} ms CPU, jobs {args.jobs or default_jobs()}, "
          f"{size / n / 1024:.0f} KB per modello)")
    print(f"{'totale read_plan + generate':38}{t_read + t_gen:13.2f} {c_read + c_gen:9.2f}  (obiettivo: 30 s)")
    print(f"cache dei modelli: {'nessuna (--no-cache)' if args.no_cache else f'{kept / n / 1024:.0f} KB per modello'}")
    print(f"memoria di picco (RSS):               {rss_kb / 1024:.0f} MB")
    if traced is not None:
        print(f"picco allocazioni Python (tracemalloc): {traced / 1024 / 1024:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
