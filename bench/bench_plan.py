"""Benchmark: read + check a large plan, beside the raw calamine read of its cells.

Builds once (cached in bench/out/) a synthetic plan of --sectors x --objectives, then times
in one run: python-calamine reading every sheet to lists (the floor), and pegxl's
`check_plan` (what `pegxl plan check` and every command do: read, parse, check). Prints,
side by side, the wall seconds and the CPU seconds of this process for each (best of
--repeat; on a shared, loaded machine the CPU seconds are the steadier figure) and the
ratios. Issue 12's goal: ratio within 3x.
Run: python bench/bench_plan.py [--sectors 1000 --objectives 20 --repeat 3 --profile]
"""
from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
from pathlib import Path

from pegxl.synth import synthetic_plan
from pegxl.validators.plan import check_plan
from pegxl.workbook.planfile import write_plan

OUT = Path(__file__).resolve().parent / "out"


def plan_file(sectors: int, objectives: int, phases: int, indicators: int) -> Path:
    """The synthetic plan, written once and reused by later runs."""
    path = OUT / f"piano_{sectors}x{objectives}x{phases}x{indicators}.xlsx"
    if not path.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        data = synthetic_plan(n_sectors=sectors, n_objectives=objectives,
                              n_phases=phases, n_indicators=indicators)
        tmp = path.with_suffix(".tmp.xlsx")
        write_plan(tmp, data)
        tmp.replace(path)
    return path


def calamine_read(path: Path) -> int:
    """Every sheet to lists of values, as calamine gives them: the number of cells."""
    from python_calamine import CalamineWorkbook
    wb = CalamineWorkbook.from_path(str(path))
    cells = 0
    for name in wb.sheet_names:
        rows = wb.get_sheet_by_name(name).to_python(skip_empty_area=False)
        cells += sum(len(r) for r in rows)
    wb.close()
    return cells


def best(fn, repeat: int) -> tuple[float, float, object]:
    """(best wall seconds, best CPU seconds, the result) of `repeat` runs of `fn`."""
    walls, cpus, result = [], [], None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return min(walls), min(cpus), result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sectors", type=int, default=1000)
    ap.add_argument("--objectives", type=int, default=20)
    ap.add_argument("--phases", type=int, default=4)
    ap.add_argument("--indicators", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each; the best is shown")
    ap.add_argument("--profile", action="store_true", help="also print a cProfile of check_plan")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    path = plan_file(args.sectors, args.objectives, args.phases, args.indicators)
    t_build = time.perf_counter() - t0
    t_cal, c_cal, cells = best(lambda: calamine_read(path), args.repeat)
    t_peg, c_peg, (plan, findings) = best(lambda: check_plan(path), args.repeat)  # type: ignore[misc]

    print(f"piano: {path.name} ({path.stat().st_size / 1024 / 1024:.1f} MB, {cells:,} celle; "
          f"preparato in {t_build:.1f} s)")
    if plan is not None:
        print(f"  {len(plan.sectors)} settori, {len(plan.objectives)} obiettivi, {len(plan.phases)} fasi, "
              f"{len(plan.indicators)} indicatori; {len(findings)} segnalazioni")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{'':38} {'s (orologio)':>13} {'s (CPU)':>9}   carico medio {load:.1f} su {os.cpu_count()} core")
    print(f"{'calamine, ogni foglio in liste':38} {t_cal:13.2f} {c_cal:9.2f}")
    print(f"{'pegxl check_plan (lettura+controlli)':38} {t_peg:13.2f} {c_peg:9.2f}")
    print(f"{'rapporto pegxl/calamine':38} {t_peg / t_cal:12.1f}x {c_peg / c_cal:8.1f}x  (obiettivo: 3x)")
    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
        check_plan(path)
        prof.disable()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(45)
    return 0


if __name__ == "__main__":
    sys.exit(main())
