#!/usr/bin/env python3
"""Timings that the tests used to assert with a wall clock, printed instead.

A test must not fail because the machine is busy, so the tests keep only what is computed;
the seconds are here, measured on what those tests build (the scoring input: the same size):

1. scoring.compute on 40 settori x 20 objectives (5 phases, 3 indicators each)
   - tests/test_scoring.py::test_40_settori_are_scored_whole (was: < 1 s)
2. synth.synthetic_plan(4 settori, 6 objectives, 3 phases, 5 indicators, 3 trasversali)
   - tests/test_templates.py::test_synthetic_plan_is_valid_and_varied (was: < 1 s)
3. `pegxl validate --annotate` over a folder of hostile files (a bomb in a sheet, a
   truncated zip, a far corner, an encrypted file, an empty file, an external link) and
   one good return - tests/test_bad_files.py::test_annotate_over_hostile_files_never_reopens_them
   (was: < 60 s). The hostile files are made by that test module's own makers.

Run:  python bench/bench_guards.py [--repeat 3]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]


def _best(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times), statistics.median(times)


def scoring_40(repeat: int) -> tuple[float, float]:
    from bench_scoring import big_input          # bench/ is the script's own folder
    from pegxl.rules import Rules
    from pegxl.scoring import compute
    inp = big_input(40, 20)
    compute(inp, Rules())                         # warm-up (imports, caches)
    return _best(lambda: compute(inp, Rules()), repeat)


def synthetic(repeat: int) -> tuple[float, float]:
    from pegxl.synth import synthetic_plan
    return _best(lambda: synthetic_plan(n_sectors=4, n_objectives=6, n_phases=3, n_indicators=5,
                                        seed=1, transversal=3), repeat)


def annotate_hostile(repeat: int) -> tuple[float, float]:
    # the makers live with the test that uses them; bench scripts may reach into tests/
    sys.path.insert(0, str(ROOT / "tests"))
    import test_bad_files as B
    from click.testing import CliRunner
    from test_validate import make_env, make_return

    from pegxl.cli import main
    from pegxl.templates import template_name
    with tempfile.TemporaryDirectory(prefix="pegxl-bench-") as tmp:
        tmp = Path(tmp)
        env = make_env(tmp / "piano")
        sample = make_return(env, tmp / "campione" / template_name(env.plan, "S01"))
        d = tmp / "restituiti"
        d.mkdir()
        make_return(env, d / template_name(env.plan, "S02"), sector="S02")
        makers = {"a_bomba.xlsx": B._bomb_in_sheet, "b_troncato.xlsx": B._truncated,
                  "c_righe.xlsx": B._far_corner, "d_cifrato.xlsx": B._encrypted,
                  "e_vuoto.xlsx": B._empty, "f_link.xlsx": B._external_link}
        for name, maker in makers.items():
            maker(sample, d / name)
        runs = iter(range(repeat))

        def once() -> None:
            out = tmp / f"annotati{next(runs)}"
            res = CliRunner().invoke(main, ["validate", "--plan", str(env.plan_path), str(d),
                                            "--annotate", str(out), "--format", "json"])
            assert res.exit_code == 1, res.output
        return _best(once, repeat)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    rows = [("scoring.compute, 40 settori x 20 obiettivi", scoring_40, 1.0),
            ("synthetic_plan, 4 settori x 6 obiettivi", synthetic, 1.0),
            ("validate --annotate, 6 file ostili + 1 buono", annotate_hostile, 60.0)]
    for label, fn, was in rows:
        best, median = fn(args.repeat)
        print(f"{label:<48} migliore {best:8.3f} s   mediana {median:8.3f} s   (il test chiedeva < {was:g} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
