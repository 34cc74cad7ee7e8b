"""Every command and every option of the CLI is documented in README.md (issue 11, point 6).

The same check sqlite-utils makes of its docs against its CLI. The rule, strict but
practical for a README written as a walk through the cycle (not one section per command):

- every command, groups included, appears by its full name (`pegxl plan check`) in README.md;
- every long option of a command (`--partial`) appears in a README section (text between two
  headings) that names the command, by its full name or by a code span that starts with its
  name (`merge`, `plan next ...`): where the reader of that command looks. An option with
  a short form may be shown there by it (`-o`, as the examples write it) if its long name
  is somewhere in README.md. Names are matched whole (`--archive` is not found inside
  `--no-archive`);
- the options of `pegxl` itself (`--version`, `--debug`) and `--help`, which every command
  has, need only appear somewhere in README.md.

A new command or option fails here until README.md says what it does.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import click
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pegxl.cli import main  # noqa: E402

README = (REPO / "README.md").read_text(encoding="utf-8")
ANYWHERE = {"--help"}


def commands(cmd: click.Command = main, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    out = [(path, cmd)]
    if isinstance(cmd, click.Group):
        for name, sub in sorted(cmd.commands.items()):
            out += commands(sub, path + (name,))
    return out


def sections(text: str) -> list[str]:
    """README split at its headings (`#` to `####`), outside fenced code blocks."""
    parts, current, fenced = [], [], False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        if not fenced and re.match(r"#{1,4} ", line) and current:
            parts.append("\n".join(current))
            current = []
        current.append(line)
    parts.append("\n".join(current))
    return parts


def names_command(section: str, path: tuple[str, ...]) -> bool:
    name = " ".join(path)
    return names(section, "pegxl " + name) or \
        re.search(rf"`(pegxl )?{re.escape(name)}(?![\w-])[^`]*`", section) is not None


def names(text: str, word: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text) is not None


def long_options(cmd: click.Command) -> dict[str, list[str]]:
    """Each long option name -> every name of its option (`--output` -> `--output`, `-o`)."""
    out = {}
    for p in cmd.params:
        if isinstance(p, click.Option) and not p.hidden:
            for opts in (p.opts, p.secondary_opts):
                out.update({o: list(opts) for o in opts if o.startswith("--")})
    return out


def documented(option: str, aliases: list[str], where: list[str]) -> bool:
    if not names(README, option):
        return False
    return any(names(s, a) for s in where for a in aliases)


ALL = commands()


@pytest.mark.parametrize("path, cmd", ALL, ids=[" ".join(p) or "pegxl" for p, _ in ALL])
def test_command_and_its_options_are_in_the_readme(path, cmd):
    full = " ".join(("pegxl", *path))
    assert names(README, full), f"`{full}` is not in README.md"
    where = [s for s in sections(README) if names_command(s, path)] if path else [README]
    missing = [o for o, aliases in sorted(long_options(cmd).items())
               if not documented(o, aliases, where if o not in ANYWHERE else [README])]
    assert not missing, f"options of `{full}` not in a README section that names it: {missing}"


def test_the_walk_covers_the_tree_and_can_fail():
    full = {" ".join(p) for p, _ in ALL}
    assert {"plan check", "plan next", "excel addin", "merge"} <= full
    assert names("pegxl merge --no-archive", "--no-archive")
    assert not names("pegxl merge --no-archive", "--archive")
    assert not names("pegxl plan checks", "pegxl plan check")
    assert names_command("come `plan next` fa", ("plan", "next"))
    assert not names_command("come `plan nextx` fa", ("plan", "next"))
    assert long_options(main.commands["merge"])["--output"] == ["-o", "--output"]
    assert not documented("--no-such-option", ["--no-such-option"], [README])
    assert len(sections("# a\nx\n## b\n```\n# not a heading\n```\n")) == 2
