"""Benchmark: scoring.compute() alone on a synthetic plan (default 300 and 1,000 settori
x 20 objectives, 5 phases and 3 indicators each), CPU seconds of the first call in the
process (cold caches) and the best of --repeat.

Run:  python bench/bench_scoring.py [--sectors 300 1000] [--objectives 20] [--repeat 3]
Before/after in one run (main's pegxl first on the path):
      PYTHONPATH=/work/main python bench/bench_scoring.py; python bench/bench_scoring.py
"""
from __future__ import annotations

import argparse
import datetime as dt
import time

import numpy as np
import pandas as pd


def big_input(n_sectors: int, n_obj: int):
    from pegxl.scoring import ScoreInput
    rng = np.random.default_rng(1)
    sec = [(f"S{i:04d}", f"Settore {i}", "Rossi", float(rng.integers(1, 5))) for i in range(n_sectors)]
    asg, ph, ind, oi, pi, ii = [], [], [], [], [], []
    for s, *_ in sec:
        for j in range(n_obj):
            o = f"{s}_O{j:02d}"
            asg.append((s, o, f"Titolo {o}", float(rng.integers(1, 10))))
            for k in range(1, 6):
                ph.append((o, k, 20.0, False))
                pi.append((s, o, k, float(rng.integers(0, 101)) + 0.5))
            ind += [(o, 1, "EFFICACIA", "numero", ">=", 100.0, 1.0, False),
                    (o, 2, "EFFICIENZA", "numero", "<=", 7.3, 1.0, False),
                    (o, 3, "TEMPORALE", "data", None, dt.date(2024, 12, 31), 1.0, False)]
            ii += [(s, o, 1, float(rng.integers(0, 150)) / 3, np.nan),
                   (s, o, 2, float(rng.integers(1, 20)) + 0.15, np.nan),
                   (s, o, 3, dt.date(2024, 12, int(rng.integers(1, 31))), np.nan)]
            oi.append((s, o, "Concluso", np.nan, np.nan))
    return ScoreInput(
        sectors=pd.DataFrame(sec, columns=["sector", "sector_name", "manager", "weight"]),
        assignments=pd.DataFrame(asg, columns=["sector", "objective", "title", "weight"]),
        phases=pd.DataFrame(ph, columns=["objective", "phase", "weight", "neutralised"]),
        indicators=pd.DataFrame(ind, columns=["objective", "indicator", "kind", "value_type",
                                              "direction", "target", "weight", "neutralised"]),
        objective_inputs=pd.DataFrame(oi, columns=["sector", "objective", "status", "declared", "oiv_grade"]),
        phase_inputs=pd.DataFrame(pi, columns=["sector", "objective", "phase", "progress"]),
        indicator_inputs=pd.DataFrame(ii, columns=["sector", "objective", "indicator", "achieved",
                                                   "declared_score"]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sectors", type=int, nargs="+", default=[300, 1000])
    ap.add_argument("--objectives", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    from pegxl.rules import Rules
    from pegxl.scoring import compute
    import pegxl
    print(f"pegxl from {pegxl.__file__}")
    for n in a.sectors:
        inp = big_input(n, a.objectives)
        times, cpu = [], []
        for _ in range(a.repeat):
            t, c = time.perf_counter(), time.process_time()
            s = compute(inp, Rules())
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
        # CPU time as well: the wall clock of a shared machine depends on its other jobs
        print(f"{n} settori: {len(s.objectives)} objectives, {len(s.phases)} phases, "
              f"{len(s.indicators)} indicators: first {cpu[0]:.2f} s CPU, best {min(cpu):.2f} s CPU, "
              f"{min(times):.2f} s wall")

if __name__ == "__main__":
    main()
