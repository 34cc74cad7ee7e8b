"""Benchmark: read a large plan and generate every settore's template.

40 settori x 20 objectives (4 phases, 3 indicators each) plus 2 trasversali: prints the
seconds for read_plan, for generate_templates (total and per template) and the peak
memory. Run: python bench/bench_templates.py [--sectors 1000 --objectives 20 --jobs 2]
"""
from __future__ import annotations

import argparse
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sectors", type=int, default=40)
    ap.add_argument("--objectives", type=int, default=20)
    ap.add_argument("--phases", type=int, default=4)
    ap.add_argument("--indicators", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=None,
                    help="worker processes for the templates (default: the cores)")
    ap.add_argument("--tracemalloc", action="store_true",
                    help="also trace Python allocations (slower; peak of Python objects only)")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="pegxl-bench-") as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        data = synthetic_plan(n_sectors=args.sectors, n_objectives=args.objectives,
                              n_phases=args.phases, n_indicators=args.indicators)
        write_plan(tmp / "piano.xlsx", data)
        t_write = time.perf_counter() - t0
        if args.tracemalloc:
            tracemalloc.start()
        t1 = time.perf_counter()
        plan = read_plan(tmp / "piano.xlsx")
        t_read = time.perf_counter() - t1
        t2 = time.perf_counter()
        paths = generate_templates(plan, tmp / "modelli", jobs=args.jobs)
        t_gen = time.perf_counter() - t2
        traced = tracemalloc.get_traced_memory()[1] if args.tracemalloc else None
        size = sum(p.stat().st_size for p in paths)

    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KB on Linux
    n = len(paths)
    print(f"piano: {args.sectors} settori x {args.objectives} obiettivi "
          f"({len(plan.objectives)} obiettivi, {len(plan.phases)} fasi, {len(plan.indicators)} indicatori)")
    print(f"scrittura piano (synth + write_plan): {t_write:.2f} s")
    print(f"read_plan:                            {t_read:.2f} s")
    print(f"generate_templates:                   {t_gen:.2f} s  ({n} modelli, {t_gen / n * 1000:.0f} ms per modello, jobs {args.jobs or default_jobs()}, "
          f"{size / n / 1024:.0f} KB per modello)")
    print(f"totale read_plan + generate:          {t_read + t_gen:.2f} s")
    print(f"memoria di picco (RSS):               {rss_kb / 1024:.0f} MB")
    if traced is not None:
        print(f"picco allocazioni Python (tracemalloc): {traced / 1024 / 1024:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
