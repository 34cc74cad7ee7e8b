"""Benchmark: pegxl as it was on the day of the performance issue beside today's, on this machine.

Issue 12 measured pegxl as it was then (ISSUE_DAY, the last commit before the performance
work) and set its goals on the machine of that day: `merge` of 1,000 returns from 186 s to
60 s, 3.1 times faster; `templates` for 1,000 settori from 124-143 s to 30 s, 4.1-4.8 times.
A shared machine's speed changes from day to day (the same code, the same files: see the
README, «Prestazioni»), so a goal in seconds is measured here as the issue meant it: the code
of that day and today's, on this machine, one right after the other (alternated, with
--repeat), each on files of the same shape made by its own templates (the returns of one
version are not the other's: identity sheet, template version).

Steps: the code of ISSUE_DAY unpacked with `git archive` into DIR/codice-<commit> (needs the
repository's history: a clone, not an installed package); each version's plan and returns
made by that version's own bench_merge (not timed; kept in DIR and reused); then per repeat
the old `merge`, today's `merge` (the templates' cache full, as after `pegxl templates`) and,
with --templates, each version's bench_templates. Prints the seconds of every run, the
ratio (the best old run over the best new one) beside the goal's, and what today's code
would take on the issue's machine: the issue's seconds divided by the ratio.

Run:  python bench/bench_issue_day.py --dir /tmp/pegxl-issue-day --repeat 2 --templates   # the issue's shape
      python bench/bench_issue_day.py --dir /tmp/d --phases 2 --indicators 2   # lighter files: the ratio only
"""
from __future__ import annotations

import argparse
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import bench_merge

ROOT = Path(__file__).resolve().parents[1]
ISSUE_DAY = "73a486a"        # the last commit before the performance work (2026-11-23)
ISSUE_MERGE = (186.0,)       # the issue's «now», quiet machine, 1,000 returns
GOAL_MERGE = 60.0
ISSUE_TEMPLATES = (124.0, 143.0)
GOAL_TEMPLATES = 30.0
MERGE_LINE = re.compile(r"^merge \(.*?\): ([0-9.]+) s", re.M)
# the old bench prints «read_plan:   12.34 s», today's «read_plan   12.34   12.30» (wall, CPU)
TEMPLATES_LINE = re.compile(r"^(read_plan|generate_templates):?\s+([0-9.]+)", re.M)


def resolve(commit: str) -> str:
    """`commit`'s full id (a branch name moves: the folder is named after what it named)."""
    got = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--verify", "--quiet", commit + "^{commit}"],
                         capture_output=True, text=True)
    if got.returncode:
        raise SystemExit(f"{commit}: commit non trovato in {ROOT} (serve la storia del repository: "
                         "un clone, non un pacchetto installato)")
    return got.stdout.strip()


def unpack(commit: str, where: Path) -> Path:
    """The code of `commit` (a full id) in where/codice-<id>, kept once wholly unpacked."""
    target = where / f"codice-{commit[:12]}"
    done = target / ".estratto"
    if done.is_file():
        return target
    got = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", commit], capture_output=True)
    if got.returncode:
        raise SystemExit(f"git archive {commit}: {got.stderr.decode(errors='replace').strip()}")
    if target.exists():   # an extraction cut short
        shutil.rmtree(target)
    target.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(got.stdout)) as tar:
        if hasattr(tarfile, "data_filter"):   # Python 3.12, and 3.10/3.11 since their 2023 fixes
            tar.extractall(target, filter="data")
        else:
            tar.extractall(target)   # our own repository's commit
    done.write_text(commit)
    return target


def old_env(code: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(code)}


def new_env() -> dict[str, str]:
    """Today's pegxl, this checkout's, installed or not."""
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def run(cmd: list[str], **kw: object) -> str:
    """`cmd`'s output, echoed indented; its failure ends the bench."""
    got = subprocess.run(cmd, capture_output=True, text=True, **kw)   # type: ignore[call-overload]
    out = got.stdout + got.stderr
    print("\n".join("    " + line for line in out.strip().splitlines()), flush=True)
    if got.returncode:
        raise SystemExit(f"uscito con {got.returncode}: {' '.join(cmd[:3])} ...")
    return out


def seconds(pattern: re.Pattern[str], out: str) -> float:
    found = pattern.search(out)
    if not found:
        raise SystemExit("nessuna cifra nell'uscita qui sopra")
    return float(found.group(1))


def old_bench_merge(code: Path, call: str, root: Path) -> str:
    """The output of `call` (an expression on B, the old bench_merge module, and R, the Path
    `root`) run by the old code in a process of its own; an int it gives is the exit status."""
    script = ("import sys; sys.path.insert(0, 'bench'); import bench_merge as B; from pathlib import Path; "
              f"R = Path(sys.argv[1]); r = {call}; sys.exit(r if isinstance(r, int) else 0)")
    return run([sys.executable, "-c", script, str(root)], cwd=code, env=old_env(code))


def generate_old(code: Path, root: Path, a: argparse.Namespace) -> None:
    old_bench_merge(code, f"B.generate(R, {a.sectors}, {a.objectives}, {a.phases}, {a.indicators}, "
                          f"{a.transversal}, {a.workers})", root)


def merge_old(code: Path, root: Path) -> float:
    return seconds(MERGE_LINE, old_bench_merge(code, "B.run_merge(R)", root))


def merge_new(root: Path) -> float:
    cmd = [sys.executable, str(Path(bench_merge.__file__)), "--merge-only", str(root), "--measure", "time",
           "--naive", "0"]
    return seconds(MERGE_LINE, run(cmd, env={**new_env(), bench_merge.CACHE_ENV: str(root / "cache-modelli")}))


def templates(bench: Path, a: argparse.Namespace, env: dict[str, str]) -> float:
    cmd = [sys.executable, str(bench / "bench_templates.py"), "--sectors", str(a.sectors),
           "--objectives", str(a.objectives), "--phases", str(a.phases), "--indicators", str(a.indicators)]
    found = dict(TEMPLATES_LINE.findall(run(cmd, env=env)))
    if set(found) != {"read_plan", "generate_templates"}:
        raise SystemExit("lettura del piano o modelli: cifra non trovata nell'uscita qui sopra")
    return sum(float(s) for s in found.values())


def span(figures: tuple[float, ...], fmt: str) -> str:
    """«x» for one figure (or equal ones), «x-y» for a range."""
    lo, hi = min(figures), max(figures)
    return format(lo, fmt) if lo == hi else f"{lo:{fmt}}-{hi:{fmt}}"


def ratio_line(what: str, old: list[float], new: list[float], issue: tuple[float, ...], goal: float,
               commit: str, issue_scale: bool) -> str:
    """The runs, their ratio beside the goal's and, at the issue's scale and shape, the
    seconds today's code would take on the issue's machine (`issue`: the issue's seconds)."""
    r = min(old) / min(new)
    line = (f"{what}: codice {commit} {', '.join(f'{s:.1f}' for s in old)} s; oggi "
            f"{', '.join(f'{s:.1f}' for s in new)} s: {r:.1f} volte più veloce (obiettivo: "
            f"{span(tuple(s / goal for s in issue), '.1f')} volte, da {span(issue, '.0f')} a {goal:.0f} s)")
    then = span(tuple(s / r for s in issue), ".0f")
    return line + (f"; sulla macchina del giorno dell'issue circa {then} s" if issue_scale else "")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", type=Path, required=True, help="cartella di lavoro (tenuta e riusata)")
    ap.add_argument("--commit", default=ISSUE_DAY, help="il codice di confronto (predefinito: quello dell'issue)")
    ap.add_argument("--sectors", type=int, default=1000)
    ap.add_argument("--objectives", type=int, default=20)
    ap.add_argument("--phases", type=int, default=4)
    ap.add_argument("--indicators", type=int, default=3)
    ap.add_argument("--transversal", type=int, default=0)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="processi per generare gli input")
    ap.add_argument("--repeat", type=int, default=1, help="coppie di corse alternate (vale la migliore)")
    ap.add_argument("--templates", action="store_true", help="anche i modelli (bench_templates di ciascuno)")
    a = ap.parse_args(argv)
    if a.repeat < 1:
        ap.error("--repeat: almeno 1")
    a.dir.mkdir(parents=True, exist_ok=True)
    commit = resolve(a.commit)
    short = commit[:12]
    code = unpack(commit, a.dir.resolve())
    shape = f"s{a.sectors}-o{a.objectives}-f{a.phases}-i{a.indicators}-t{a.transversal}"
    old_root, new_root = a.dir.resolve() / f"{short}-{shape}", a.dir.resolve() / f"oggi-{shape}"
    print(f"file: {a.sectors} settori x {a.objectives} obiettivi, {a.phases} fasi e {a.indicators} indicatori "
          f"per obiettivo, {a.transversal} trasversali (i modelli: quelli di bench_templates); codice di "
          f"confronto {short} in {code}", flush=True)
    print(f"--- input del codice {short} (non cronometrati)", flush=True)
    old_root.mkdir(exist_ok=True)
    generate_old(code, old_root, a)
    print("--- input di oggi (non cronometrati)", flush=True)
    new_root.mkdir(exist_ok=True)
    bench_merge.generate(new_root, a.sectors, a.objectives, a.phases, a.indicators, a.transversal, a.workers)
    filled = new_root / "cache-modelli.piena"   # a fill cut short is made again
    if not filled.is_file():
        bench_merge._fill_cache(new_root, new_root / "cache-modelli", new_env())
        filled.write_text("")
    old_m: list[float] = []
    new_m: list[float] = []
    old_t: list[float] = []
    new_t: list[float] = []
    for k in range(1, a.repeat + 1):
        print(f"--- corsa {k}: merge, codice {short}", flush=True)
        old_m.append(merge_old(code, old_root))
        print(f"--- corsa {k}: merge, oggi", flush=True)
        new_m.append(merge_new(new_root))
        if a.templates:
            print(f"--- corsa {k}: modelli, codice {short}", flush=True)
            old_t.append(templates(code / "bench", a, old_env(code)))
            print(f"--- corsa {k}: modelli, oggi", flush=True)
            new_t.append(templates(Path(__file__).resolve().parent, a, new_env()))
    # the issue's figures: its code, 1,000 files of 20 objectives, 4 phases and 3 indicators each
    # (the merge without trasversali, as the old bench_merge made them; the templates with the 2
    # that both bench_templates add)
    at_scale = ((a.sectors, a.objectives, a.phases, a.indicators, a.transversal) == (1000, 20, 4, 3, 0)
                and commit.startswith(ISSUE_DAY))
    print(ratio_line(f"merge di {a.sectors} file", old_m, new_m, ISSUE_MERGE, GOAL_MERGE,
                     short, at_scale))
    if a.templates:
        print(ratio_line(f"modelli per {a.sectors} settori (lettura del piano compresa)", old_t, new_t,
                         ISSUE_TEMPLATES, GOAL_TEMPLATES, short, at_scale))
    if not at_scale:
        print("(le cifre dell'issue sono del suo codice su 1.000 file: qui conta solo il rapporto)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
