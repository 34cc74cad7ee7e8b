"""The layout is the architecture (docs/architettura.md): the layers of pyproject.toml hold,
every module is in one of them, no import cycle (counting imports inside functions), and a
function imports only optional heavy dependencies."""
from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: import-linter brings tomli
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "pegxl"

# Imported inside functions on purpose: optional extras (xlwings, pyarrow), an encrypted
# file's reader met rarely (msoffcrypto), the .ods/.xls reader (python_calamine), POSIX only
# (fcntl).
LAZY_ALLOWED = {"xlwings", "pyarrow", "msoffcrypto", "python_calamine", "fcntl"}


def _config() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as fh:
        return tomllib.load(fh)["tool"]["importlinter"]


def _modules() -> dict[str, Path]:
    """pegxl's modules by dotted name (a package by its __init__.py)."""
    out = {}
    for path in PKG.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path, known: set[str]) -> list[tuple[str, str, bool]]:
    """(imported module, top-level name, inside a function) for every import of the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    inside: set[int] = set()
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            inside.update(id(n) for n in ast.walk(fn) if isinstance(n, (ast.Import, ast.ImportFrom)))
    is_pkg = path.name == "__init__.py"
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[:len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            # `from pkg import module` imports the module
            targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in known else mod for a in node.names]
        else:
            continue
        for t in targets:
            while t not in known and "." in t:
                t = t.rsplit(".", 1)[0]
            out.append((t, t.split(".")[0], id(node) in inside))
    return out


def test_the_layers_hold():
    """`lint-imports`: front ends -> flows -> stages -> base, and the stages in the flow's order."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    res = subprocess.run([sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command;"
                          "sys.exit(lint_imports_command())", "--no-cache"],
                         cwd=ROOT, env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "broken" in res.stdout and "0 broken" in res.stdout


def test_every_module_is_in_a_layer():
    """A new module must be placed in the layers (import-linter ignores what is not listed)."""
    listed: set[str] = set()
    for layer in _config()["contracts"][0]["layers"]:
        listed.update(m.strip() for m in layer.replace("|", ":").split(":"))
    tops = {".".join(m.split(".")[:2]) for m in _modules() if m != "pegxl"}
    assert sorted(tops - listed) == []


def test_no_import_cycle_counting_imports_inside_functions():
    mods = _modules()
    known = set(mods)
    graph = {m: {t for t, _, _ in _imports(m, p, known) if t in known and t != m and t != "pegxl"}
             for m, p in mods.items()}
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                cycles.append(stack[stack.index(n):] + [n])
            elif n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    assert cycles == []


def test_imports_inside_functions_are_only_optional_heavy_dependencies():
    mods = _modules()
    known = set(mods)
    lazy = sorted({(m, t) for m, p in mods.items() for t, top, fn in _imports(m, p, known)
                   if fn and top not in LAZY_ALLOWED})
    assert lazy == []


def test_no_module_over_800_lines():
    long = {str(p.relative_to(ROOT)): n for p in PKG.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 800}
    assert long == {}
