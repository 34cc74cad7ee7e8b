#!/usr/bin/env python3
"""Benchmark of `pegxl validate` on a large corpus, against a naive openpyxl baseline.

    python bench/bench_validate.py                       # 1,000 settori x 20 objectives
    python bench/bench_validate.py --n 300               # the first 300 returns only
    python bench/bench_validate.py --workdir /tmp/bv --jobs 4
    python bench/bench_validate.py --validate-jobs 1      # pegxl in one process
    python bench/bench_validate.py --compare-with /tmp/main-checkout   # and another pegxl too
    python bench/bench_validate.py --plan /tmp/pm/b1000/piano.xlsx --returns /tmp/pm/b1000/ritorni \
        --workdir /tmp/bv-ext                                  # a corpus made elsewhere, read only

1. Corpus (not timed, cached in --workdir, default bench/out/validate): a synthetic plan
   (pegxl.synth.synthetic_plan, --sectors x --objectives, 4 phases and 3 indicators per
   objective, plus 2 trasversali), one template per settore (generate_templates) and one
   filled return per settore (fill_return with synthetic_inputs). A second run reuses
   what is there; only missing files are made. Keep --workdir outside the worktree
   (e.g. /tmp/bv1000) to reuse a 1,000-return corpus across checkouts: making it takes
   minutes. With --plan and --returns an existing corpus is measured instead (e.g. the
   one bench_merge.py makes): nothing is made and nothing there is written to; the plan
   is checked once and its pickle, and the run folder of links, go to --workdir.
2. Three measured runs, each in its own subprocess so that the peak RSS (ru_maxrss of the
   child itself) belongs to one method only:
   - pegxl:    validate_returns(plan, [folder], jobs=--validate-jobs): identity, integrity,
               formula and protection scan, raw inputs, pandera checks, scoring of the
               declared/computed deviation; files read in worker processes (peak RSS is
               the parent's: each worker holds the plan too).
   - baseline: for every file openpyxl.load_workbook + a pandas DataFrame of each table
               sheet (Obiettivi, Fasi, Indicatori), nothing else.
   - calamine: for every file python-calamine reads every cell of every sheet (the raw
               parse, one process: the floor of any reader of these files).
   - reference (with --compare-with DIR): the pegxl of the checkout DIR, run like pegxl,
               so that a change is measured against main side by side, in one run.
   The plan is loaded before the clock starts (from a pickle of the checked plan); its
   memory is in pegxl's peak, and reported apart ("RSS before"). Peak RSS is the child's
   own high-water mark (VmHWM; ru_maxrss of the child where /proc is not available).
3. Prints files/second, CPU seconds and peak RSS of each, and the ratios; --json writes
   them too. On a loaded machine it also prints what pegxl's CPU seconds would take on
   free cores (the workers' seconds, and the main process's while they read, divided
   among them; the main process's after the last file came back added in full),
   against the baseline's and calamine's CPU seconds.

A plan of 1,000 settori has 88,000 phases: above read_values' default row limit for a
plan (50,000, meant for one ente), so the bench reads it with a larger limit.
"""
from __future__ import annotations

import argparse
import inspect
import json
import os
import pickle
import resource
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from readers import calamine_read, naive_read   # beside this script

ROOT = Path(__file__).resolve().parents[1]
# the pegxl measured: this checkout's, or another's for --compare-with (set for its child)
sys.path.insert(0, os.environ.get("PEGXL_BENCH_CODE") or str(ROOT))

DEFAULT_WORKDIR = ROOT / "bench" / "out" / "validate"


# ------------------------------------------------------------------------------ corpus

def _params(args) -> dict:
    return {"sectors": args.sectors, "objectives": args.objectives, "phases": 4, "indicators": 3,
            "seed": 0, "format": 1}


def _plan_data(p: dict) -> dict:
    from pegxl.synth import synthetic_plan
    return synthetic_plan(n_sectors=p["sectors"], n_objectives=p["objectives"], n_phases=p["phases"],
                          n_indicators=p["indicators"], seed=p["seed"])


def load_plan(workdir: Path):
    with open(workdir / "plan.pkl", "rb") as fh:
        return pickle.load(fh)


def _make_chunk(workdir: str, sectors: list[str], params: dict) -> list[str]:
    """Worker: templates and returns for `sectors` (missing ones only)."""
    from pegxl.synth import synthetic_inputs
    from pegxl.templates import fill_return, generate_templates, template_name
    wd = Path(workdir)
    plan = load_plan(wd)
    data = _plan_data(params)
    need_t = [s for s in sectors if not (wd / "modelli" / template_name(plan, s)).exists()]
    if need_t:
        generate_templates(plan, wd / "modelli", sectors=need_t)
    done = []
    for s in sectors:
        name = template_name(plan, s)
        out = wd / "restituiti" / name
        if not out.exists():
            fill_return(wd / "modelli" / name, out, synthetic_inputs(data, s))
        done.append(name)
    return done


def build_corpus(workdir: Path, args) -> tuple[list[Path], dict]:
    """The first `args.n` returns of the corpus (made if missing); timings of what was made."""
    from pegxl.templates import template_name
    from pegxl.validators.plan import check_book, has_errors
    from pegxl.workbook.planfile import write_plan
    from pegxl.workbook.reader import read_values

    params = _params(args)
    workdir.mkdir(parents=True, exist_ok=True)
    meta_path = workdir / "corpus.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else None
    timings: dict[str, float] = {}
    if meta != params or not (workdir / "plan.pkl").exists():
        for sub in ("modelli", "restituiti"):
            if (workdir / sub).exists():
                for f in (workdir / sub).iterdir():
                    f.unlink()
        t = time.perf_counter()
        data = _plan_data(params)
        write_plan(workdir / "piano.xlsx", data)
        timings["plan written"] = time.perf_counter() - t
        t = time.perf_counter()
        plan, findings = check_book(read_values(workdir / "piano.xlsx", max_rows=2_000_000))
        if plan is None or has_errors(findings):
            raise SystemExit(f"synthetic plan has errors: {[str(f) for f in findings[:5]]}")
        plan.fingerprint()   # computed once, kept in the pickle when the plan caches it
        timings["plan checked"] = time.perf_counter() - t
        with open(workdir / "plan.pkl", "wb") as fh:
            pickle.dump(plan, fh, protocol=pickle.HIGHEST_PROTOCOL)
        meta_path.write_text(json.dumps(params))
    plan = load_plan(workdir)
    (workdir / "modelli").mkdir(exist_ok=True)
    (workdir / "restituiti").mkdir(exist_ok=True)
    sectors = plan.sector_codes[: args.n]
    missing = [s for s in sectors if not (workdir / "restituiti" / template_name(plan, s)).exists()]
    if missing:
        t = time.perf_counter()
        chunks = [missing[i::args.jobs] for i in range(args.jobs)]
        print(f"generating {len(missing)} templates and returns with {args.jobs} processes...", flush=True)
        if args.jobs == 1:
            _make_chunk(str(workdir), missing, params)
        else:
            with ProcessPoolExecutor(args.jobs) as ex:
                list(ex.map(_make_chunk, [str(workdir)] * len(chunks), chunks, [params] * len(chunks)))
        timings[f"{len(missing)} templates + returns"] = time.perf_counter() - t
    files = [workdir / "restituiti" / template_name(plan, s) for s in sectors]
    return files, timings


def external_corpus(workdir: Path, plan_file: Path, returns: Path, n: int | None) -> tuple[list[Path], dict]:
    """The first `n` returns (all when None) of a corpus made elsewhere, and its plan
    checked and pickled into `workdir` (once: again only when the plan file changes)."""
    from pegxl.validators.plan import check_book, has_errors
    from pegxl.workbook.reader import read_values

    workdir.mkdir(parents=True, exist_ok=True)
    meta = {"plan": str(plan_file.resolve()), "mtime": plan_file.stat().st_mtime, "size": plan_file.stat().st_size}
    meta_path = workdir / "corpus.json"
    timings: dict[str, float] = {}
    if not (workdir / "plan.pkl").exists() or not meta_path.exists() or json.loads(meta_path.read_text()) != meta:
        t = time.perf_counter()
        plan, findings = check_book(read_values(plan_file, max_rows=2_000_000))
        if plan is None or has_errors(findings):
            raise SystemExit(f"the plan has errors: {[str(f) for f in findings[:5]]}")
        plan.fingerprint()
        timings["plan checked"] = time.perf_counter() - t
        with open(workdir / "plan.pkl", "wb") as fh:
            pickle.dump(plan, fh, protocol=pickle.HIGHEST_PROTOCOL)
        meta_path.write_text(json.dumps(meta))
    files = sorted(p for p in returns.iterdir() if p.suffix == ".xlsx" and not p.name.startswith(("~$", ".")))
    return (files if n is None else files[:n]), timings


def run_folder(workdir: Path, files: list[Path], link: bool = True) -> Path:
    """A folder holding exactly `files` (hard links; copies unless `link`), so that every
    method reads a folder: their own folder when they are all of it."""
    if files and {p.name for p in files[0].parent.iterdir() if p.suffix == ".xlsx"} == {f.name for f in files}:
        return files[0].parent
    d = workdir / "runs" / f"n{len(files)}"
    want = {f.name for f in files}
    if d.exists():
        for f in d.iterdir():
            if f.name not in want:
                f.unlink()
    d.mkdir(parents=True, exist_ok=True)
    for f in files:
        target = d / f.name
        if not target.exists():
            try:
                if not link:
                    raise OSError("a copy: another's files are not linked to")
                os.link(f, target)
            except OSError:
                import shutil
                shutil.copy2(f, target)
    return d


# ---------------------------------------------------------------------- measured runs

def _status_kb(key: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _rss_kb() -> int:
    return _status_kb("VmRSS") or 0


def peak_rss_kb() -> int:
    """Peak RSS of this process. VmHWM (Linux) is the high-water mark of this process's
    own memory; ru_maxrss is not used where VmHWM exists because Linux carries the
    parent's RSS at fork into a child's ru_maxrss across exec (every child of a big
    parent would report at least the parent's size)."""
    hwm = _status_kb("VmHWM")
    if hwm is not None:
        return hwm
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r // 1024 if sys.platform == "darwin" else r


def cpu_seconds() -> float:
    """CPU seconds (user + system) of this process and of its children waited for (the
    worker processes of a pool, once it is shut down)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def own_cpu_seconds() -> float:
    """CPU seconds of this process alone (the part of pegxl's work the workers do not share)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def child_pegxl(workdir: Path, folder: Path, jobs: int | None = None) -> dict:
    from pegxl.validators.returns import validate_returns
    plan = load_plan(workdir)
    plan.fingerprint()
    rss_before = _rss_kb()
    t, c, c_own = time.perf_counter(), cpu_seconds(), own_cpu_seconds()
    # a pegxl from before --jobs can be measured with this script too
    kw = {"jobs": jobs} if "jobs" in inspect.signature(validate_returns).parameters else {}
    read = [c_own]   # this process's CPU seconds when the last file was read

    def progress(i: int, n: int, _name: str) -> None:
        if i == n:
            read[0] = own_cpu_seconds()
    v = validate_returns(plan, [folder], progress=progress, **kw)
    seconds = time.perf_counter() - t
    cpu = cpu_seconds() - c
    main_cpu = own_cpu_seconds() - c_own
    tail_cpu = own_cpu_seconds() - read[0]
    errors = sum(1 for f in v.findings if f.is_error)
    codes: dict[str, int] = {}
    for f in v.findings:
        codes[f.code] = codes.get(f.code, 0) + 1
    return {"method": "pegxl", "files": len(v.files), "seconds": seconds, "cpu": cpu, "main_cpu": main_cpu,
            "tail_cpu": tail_cpu,
            "rss_before_kb": rss_before,
            "rows": len(v.objectives) + len(v.phases) + len(v.indicators), "usable": len(v.usable_files),
            "errors": errors, "warnings": len(v.findings) - errors, "codes": codes}


def child_baseline(workdir: Path, folder: Path) -> dict:
    import openpyxl  # noqa: F401   # imported before the clock and "RSS before", as always
    import pandas  # noqa: F401
    files = sorted(p for p in folder.iterdir() if p.suffix == ".xlsx")
    rss_before = _rss_kb()
    t, c = time.perf_counter(), cpu_seconds()
    rows = naive_read(files)
    seconds = time.perf_counter() - t
    return {"method": "baseline", "files": len(files), "seconds": seconds, "cpu": cpu_seconds() - c,
            "rss_before_kb": rss_before,
            "rows": rows}


def child_calamine(workdir: Path, folder: Path) -> dict:
    import python_calamine  # noqa: F401   # imported before the clock, as above
    files = sorted(p for p in folder.iterdir() if p.suffix == ".xlsx")
    rss_before = _rss_kb()
    t, c = time.perf_counter(), cpu_seconds()
    rows, _cells = calamine_read(files)
    seconds = time.perf_counter() - t
    return {"method": "calamine", "files": len(files), "seconds": seconds, "cpu": cpu_seconds() - c,
            "rss_before_kb": rss_before,
            "rows": rows}


def measure(method: str, workdir: Path, folder: Path, jobs: int | None = None, code: Path | None = None) -> dict:
    """One run of `method` in a child process (`code`: the checkout whose pegxl it imports)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", method, "--workdir", str(workdir),
           "--folder", str(folder)]
    if jobs is not None:
        cmd += ["--validate-jobs", str(jobs)]
    env = dict(os.environ, PEGXL_BENCH_CODE=str(code)) if code is not None else None
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"{method} run failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=None, help="number of returns to validate (default: all settori)")
    ap.add_argument("--sectors", type=int, default=1000, help="settori in the synthetic plan")
    ap.add_argument("--objectives", type=int, default=20, help="own objectives per settore")
    ap.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR, help="corpus cache")
    ap.add_argument("--plan", type=Path, default=None, help="with --returns: the plan of an existing corpus")
    ap.add_argument("--returns", type=Path, default=None, help="with --plan: a folder of returns, read only")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="processes for generation")
    ap.add_argument("--validate-jobs", type=int, default=None,
                    help="pegxl's worker processes (validate --jobs; default: the cores)")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each method; the fastest counts")
    ap.add_argument("--json", type=Path, default=None, help="write the figures here too")
    ap.add_argument("--compare-with", type=Path, default=None,
                    help="another checkout of pegxl (e.g. main) measured in the same run")
    ap.add_argument("--child", choices=["pegxl", "baseline", "calamine"], help=argparse.SUPPRESS)
    ap.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    workdir = args.workdir.resolve()

    if args.child:
        if args.child == "pegxl":
            res = child_pegxl(workdir, args.folder, args.validate_jobs)
        else:
            res = (child_baseline if args.child == "baseline" else child_calamine)(workdir, args.folder)
        res["maxrss_kb"] = peak_rss_kb()
        print(json.dumps(res))
        return 0

    if (args.plan is None) != (args.returns is None):
        ap.error("--plan and --returns go together")
    if args.returns is not None and args.returns.resolve() == workdir:
        ap.error("--workdir must not be the --returns folder")
    t0 = time.perf_counter()
    if args.returns is not None:
        files, timings = external_corpus(workdir, args.plan, args.returns, args.n)
        shape = f"plan {args.plan}"
    else:
        args.n = args.n or args.sectors
        if args.n > args.sectors:
            ap.error("--n cannot exceed --sectors")
        files, timings = build_corpus(workdir, args)
        shape = (f"plan {args.sectors} settori x {args.objectives} obiettivi (+2 trasversali), "
                 f"4 fasi and 3 indicatori each")
    gen = time.perf_counter() - t0
    folder = run_folder(workdir, files, link=args.returns is None)
    size_mb = sum(f.stat().st_size for f in files) / 2**20
    print(f"corpus: {len(files)} returns ({size_mb:.1f} MB) in {folder}; {shape}")
    for what, secs in timings.items():
        print(f"  generation: {what}: {secs:.1f} s")
    print(f"  corpus ready in {gen:.1f} s (not timed below)")

    results = {}
    methods = ["pegxl", "baseline", "calamine"] + (["reference"] if args.compare_with else [])
    for method in methods:
        ours = method in ("pegxl", "reference")
        runs = [measure("pegxl" if method == "reference" else method, workdir, folder,
                        args.validate_jobs if ours else None,
                        args.compare_with.resolve() if method == "reference" else None)
                for _ in range(args.repeat)]
        best = min(runs, key=lambda r: r["seconds"])
        best["maxrss_kb"] = max(r["maxrss_kb"] for r in runs)
        best["method"] = method
        results[method] = best
    p, b, c = results["pegxl"], results["baseline"], results["calamine"]
    assert p["files"] == b["files"] == c["files"] == len(files), (p["files"], b["files"], c["files"], len(files))
    jobs = args.validate_jobs or os.cpu_count() or 1
    print()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{'method':<10} {'files':>6} {'seconds':>9} {'CPU s':>8} {'files/s':>9} {'peak RSS MB':>12} "
          f"{'RSS before MB':>14}")
    for r in results.values():
        print(f"{r['method']:<10} {r['files']:>6} {r['seconds']:>9.2f} {r['cpu']:>8.2f} "
              f"{r['files'] / r['seconds']:>9.1f} {r['maxrss_kb'] / 1024:>12.1f} {r['rss_before_kb'] / 1024:>14.1f}")
    speed = (p["files"] / p["seconds"]) / (b["files"] / b["seconds"])
    mem = p["maxrss_kb"] / b["maxrss_kb"]
    over_raw = p["seconds"] / c["seconds"]
    print(f"pegxl with {jobs} worker process(es) on {os.cpu_count()} cores; load average {load:.1f}")
    print(f"ratio pegxl/baseline: speed x{speed:.2f} (files/s; goal >= 5), CPU x{b['cpu'] / p['cpu']:.2f} "
          f"less, peak memory x{mem:.2f}")
    print(f"ratio pegxl/calamine: time x{over_raw:.2f} (goal <= 5), CPU x{p['cpu'] / c['cpu']:.2f}")
    # on a loaded machine the wall clock says little: what the same CPU seconds would take
    # on `jobs` free cores. While the workers read, this process checks what they sent
    # back: their CPU seconds and its own until the last file came back are spread over
    # the cores; what it does after (the last checks) is added in full.
    for r in [p] + ([results["reference"]] if "reference" in results else []):
        main = r.get("main_cpu", 0.0)
        tail = r.get("tail_cpu", main)
        r["free_cores_seconds"] = free = (r["cpu"] - tail) / jobs + tail
        print(f"{r['method']} on {jobs} free cores (CPU s: workers {r['cpu'] - main:.2f} + main process while "
              f"they read {main - tail:.2f}, over {jobs}, + main process after {tail:.2f} = {free:.2f} s): "
              f"x{b['cpu'] / free:.2f} the baseline's CPU s (goal >= 5), x{free / c['cpu']:.2f} calamine's "
              f"(goal <= 5)")
    if "reference" in results:
        ref = results["reference"]
        print(f"pegxl against the reference ({args.compare_with}): time x{ref['seconds'] / p['seconds']:.2f} "
              f"faster, on free cores x{ref['free_cores_seconds'] / p['free_cores_seconds']:.2f}, peak memory "
              f"{p['maxrss_kb'] / 1024:.0f} MB against {ref['maxrss_kb'] / 1024:.0f} MB; the same findings: "
              f"{ref['codes'] == p['codes'] and ref['errors'] == p['errors']}")
    print(f"pegxl findings: {p['errors']} errors, {p['warnings']} warnings {p['codes']}; "
          f"{p['usable']}/{p['files']} usable; {p['rows']} rows validated (baseline read {b['rows']})")
    if args.json:
        args.json.write_text(json.dumps({**results, "speed_ratio": speed,
                                         "memory_ratio": mem, "calamine_time_ratio": over_raw, "jobs": jobs,
                                         "files": len(files), "generation_seconds": gen}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
