"""Every text the CLI prints is Italian, click's own included (issue 11, point 7).

Click writes its texts through gettext; pegxl.commands.italiano binds click's modules to an
Italian catalogue. These tests walk click's installed source for every message (a click
upgrade that adds one fails here), then run `--help` of every command and a set of wrong
invocations and look for English words in what is printed.
"""
from __future__ import annotations

import ast
import re
import string
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pegxl.cli import main  # noqa: E402
from pegxl.commands import italiano  # noqa: E402

CLICK_DIR = Path(click.__file__).parent

# `_(expr)` calls whose msgid is not a literal: the source of expr -> the msgids it takes
DYNAMIC_MSGIDS = {
    'extra["required"]': ["required"],      # core.Option.get_help_record, "[required]"
    "extra['required']": ["required"],
}

# Words of click's English texts (and of English help texts) that Italian output never has.
# Option names (--write-back, --all-cycles ...) and command names stay English: they are
# removed before looking.
ENGLISH = re.compile(
    r"\b(Usage|Options?|Show|shows?|Error|Missing|Invalid|Commands?|Arguments?|Positional|default|"
    r"required|TEXT|INTEGER|FLOAT|DIRECTORY|PATH|OPTIONS|COMMAND|ARGS|Exit|exit|Try|Aborted|"
    r"the|and|or|is|not|for|with|this|of|to|no|such|mean|value|values|valid|given|"
    r"extra|argument|option|requires|does|exist|Got|unexpected|one)\b")


def english_words(text: str) -> list[str]:
    text = re.sub(r"(?<![\w])--?[\w][\w-]*", " ", text)          # option names
    text = re.sub(r"'[^'\n]*'", " ", text)                        # values echoed back in quotes
    return ENGLISH.findall(text)


def msgids_in(path: Path) -> tuple[set[str], set[tuple[str, str]], list[str]]:
    """The gettext and ngettext msgids of a click module; and the non-literal `_()` calls."""
    singles: set[str] = set()
    plurals: set[tuple[str, str]] = set()
    unknown: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
            continue
        args = node.args
        if node.func.id == "_" and args:
            if isinstance(args[0], ast.Constant) and isinstance(args[0].value, str):
                singles.add(args[0].value)
            else:
                src = ast.unparse(args[0])
                if src in DYNAMIC_MSGIDS:
                    singles.update(DYNAMIC_MSGIDS[src])
                else:
                    unknown.append(f"{path.name}: _({src})")
        elif node.func.id == "ngettext" and len(args) >= 2:
            if all(isinstance(a, ast.Constant) for a in args[:2]):
                plurals.add((args[0].value, args[1].value))
            else:
                unknown.append(f"{path.name}: ngettext({ast.unparse(args[0])}, ...)")
    return singles, plurals, unknown


def click_sources() -> list[Path]:
    return sorted(CLICK_DIR.glob("*.py"))


def test_every_click_message_has_an_italian_translation():
    missing, unknown = [], []
    for path in click_sources():
        singles, plurals, dyn = msgids_in(path)
        unknown += dyn
        missing += [f"{path.name}: {m!r}" for m in sorted(singles) if m not in italiano.MESSAGES]
        missing += [f"{path.name}: ngettext{p!r}" for p in sorted(plurals) if p not in italiano.PLURALS]
    assert not unknown, f"click calls _() with a text built at run time; add it to DYNAMIC_MSGIDS: {unknown}"
    assert not missing, "click messages without an Italian translation in pegxl/commands/italiano.py:\n" + \
        "\n".join(missing)


def test_the_walk_finds_click_messages():
    """The walk above cannot pass by finding nothing."""
    singles, plurals, _ = msgids_in(CLICK_DIR / "exceptions.py")
    assert "Missing option" in singles and len(plurals) >= 1
    assert "Usage:" in msgids_in(CLICK_DIR / "formatting.py")[0]


def test_every_click_module_with_messages_is_bound_to_the_catalogue():
    """A new click module that imports gettext must be in CLICK_MODULES (imported lazily
    otherwise, it would keep the English texts)."""
    binding = {p.stem for p in click_sources()
               if re.search(r"^from gettext import", p.read_text(encoding="utf-8"), re.MULTILINE)}
    assert binding <= set(italiano.CLICK_MODULES), binding - set(italiano.CLICK_MODULES)
    for name in binding:
        module = sys.modules.get(f"click.{name}")
        if module is None:          # _winconsole off Windows
            continue
        if hasattr(module, "_"):
            assert module._ == italiano.ITALIAN.gettext, name
        if hasattr(module, "ngettext"):
            assert module.ngettext == italiano.ITALIAN.ngettext, name


def _fields(text: str) -> set[str]:
    fields = {f for _, f, _, _ in string.Formatter().parse(text) if f}
    return fields | set(re.findall(r"%\((\w+)\)s", text))


def test_translations_keep_the_placeholders():
    """A placeholder the Italian text names but click does not fill would be a KeyError at
    the moment of an error; one dropped would lose the value."""
    dropped_on_purpose = {"{param_type}"}     # "option"/"argument": English words
    for en, it in italiano.MESSAGES.items():
        assert _fields(it) <= _fields(en), (en, it)
        assert {f"{{{f}}}" for f in _fields(en) - _fields(it)} <= dropped_on_purpose, (en, it)
    for (en1, en2), (it1, it2) in italiano.PLURALS.items():
        assert _fields(it1) <= _fields(en1) | _fields(en2) and _fields(it2) <= _fields(en2), (en1, it1, it2)
        assert _fields(it2) == _fields(en2), (en2, it2)


# --------------------------------------------------------------------- what is printed

def command_paths(cmd: click.Command = main, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command of the tree, as the words after `pegxl` (() is pegxl itself)."""
    out = [path]
    if isinstance(cmd, click.Group):
        for name, sub in sorted(cmd.commands.items()):
            out += command_paths(sub, path + (name,))
    return out


def run(*args: str):
    return CliRunner().invoke(main, list(args), prog_name="pegxl")


def test_the_tree_has_every_command():
    paths = {" ".join(p) for p in command_paths()}
    assert {"", "plan", "plan check", "plan next", "excel", "excel addin", "merge", "oiv"} <= paths


@pytest.mark.parametrize("path", command_paths(), ids=lambda p: " ".join(p) or "pegxl")
def test_help_prints_no_english(path):
    r = run(*path, "--help")
    assert r.exit_code == 0, r.output
    assert r.output.startswith("Uso: pegxl"), r.output
    assert "Opzioni:" in r.output and "Mostra questo aiuto ed esce." in r.output
    assert not english_words(r.output), (english_words(r.output), r.output)


def test_the_english_detector_can_fail():
    assert english_words("Usage: pegxl [OPTIONS]\n  Show this message and exit.") == \
        ["Usage", "OPTIONS", "Show", "this", "and", "exit"]
    assert english_words("Errore: Manca l'opzione '--plan'. --no-archive --all-cycles") == []


# the Italian expected, as a regular expression: click versions differ in quoting names
@pytest.mark.parametrize("args, italian", [
    (["validate", "x"], r"Manca l'opzione '--plan'\."),
    (["validate", "--plan", "p"], r"Manca l'argomento 'RESTITUITI\.\.\.'\."),
    (["nope"], r"Il comando 'nope' non esiste\."),
    (["valdate"], r"Il comando 'valdate' non esiste\."),
    (["plan", "chek", "p"], r"Il comando 'chek' non esiste\."),
    (["validate", "--plan"], r"L'opzione '?--plan'? vuole un valore\."),
    (["validate", "--plan", "p", "--format", "xml", "x"],
     r"Valore non valido per '--format': '?xml'? non è tra '?text'?, '?json'?\."),
    (["plan", "next", "p", "--anno", "abc", "-o", "x"],
     r"Valore non valido per '--anno': '?abc'? non è un intero valido\."),
    (["init", "a", "b"], r"Argomento in più non previsto \(b\)\."),
    (["templates", "p", "--bogus"], r"L'opzione '?--bogus'? non esiste\."),
    (["--versio"], r"Forse si intendeva '?--version'?\?"),
    (["history", "--plan", "p", "--indicator", "O1"], r"L'opzione '?--indicator'? vuole 2 valori\."),
    (["status", "--plan", "p"], r"Manca l'argomento 'RESTITUITI'\."),
])
def test_usage_errors_are_italian(args, italian):
    r = run(*args)
    assert r.exit_code == 2, r.output
    assert re.search(italian, r.output), r.output
    if "Errore:" in r.output and "Uso:" in r.output:
        assert "Per l'aiuto: 'pegxl" in r.output
    assert not english_words(r.output), (english_words(r.output), r.output)


def test_usage_error_of_the_installed_program_is_italian(tmp_path):
    """The real process (`python -m pegxl.cli`): the catalogue is in place before click runs."""
    p = subprocess.run([sys.executable, "-m", "pegxl.cli", "merge", "--plan", str(tmp_path / "p.xlsx")],
                       check=False, capture_output=True, text=True, cwd=REPO)
    assert p.returncode == 2
    assert "Uso: " in p.stderr and "Errore: Manca l'argomento 'RESTITUITI...'." in p.stderr, p.stderr
    assert not english_words(p.stderr.replace("pegxl.cli", "")), p.stderr


def test_aborted_is_italian():
    """Ctrl-C or end of input at a prompt of click (the SMTP password of `pegxl send`)
    ends in click.Abort, which click reports itself."""
    @click.command()
    def ask():
        raise click.Abort()
    r = CliRunner().invoke(ask, [])
    assert "Interrotto." in r.output and "Aborted" not in r.output


def test_every_argument_and_option_shows_an_italian_metavar():
    """Arguments are named in Italian (metavar), option values by Italian type names."""
    ctx = click.Context(main)
    for path in command_paths():
        cmd = main
        for name in path:
            cmd = cmd.commands[name]
        assert cmd.options_metavar == "[OPZIONI]", path
        for param in cmd.params:
            if isinstance(param, click.Argument):
                assert param.metavar, f"{' '.join(path)}: argument {param.name} needs an Italian metavar"
            if isinstance(param, click.Option) and param.is_flag:
                continue
            try:
                metavar = param.make_metavar(ctx)
            except TypeError:           # click < 8.2
                metavar = param.make_metavar()
            assert not english_words(metavar.replace("_", " ")), (path, param.name, metavar)


def test_pegxl_asks_no_yes_no_question_of_click():
    """click.confirm writes "[y/N]" and reads y/yes/n/no outside gettext: it cannot be made
    Italian by the catalogue, so pegxl does not use it (nor confirmation_option)."""
    sources = [p for p in (REPO / "pegxl").rglob("*.py")]
    users = [p.relative_to(REPO).as_posix() for p in sources
             if re.search(r"\bconfirm\(|confirmation_option|prompt_required|\bprompt=True",
                          p.read_text(encoding="utf-8"))]
    assert not users, f"a yes/no question of click (English [y/N]): {users}"
