"""The error catalogue: codes are objects, unique, never reused, each with an Italian message
and hint; the source names a code only through its ErrorCode member."""
from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

import pytest

import pegxl
from pegxl.errors import RETIRED, ErrorCode, finding

PKG = Path(pegxl.__file__).resolve().parent
CODE = re.compile(r"[A-Z]\d{3}")
LITERAL = re.compile(r"[A-Z]\d{3}(@\w+)?")          # a string that is a code (or a pandera check tag)
MENTION = re.compile(r"\b[A-Z]\d{3}\b")
NOQA = re.compile(r"#\s*noqa\b.*")                  # ruff/flake8 rule names look like codes
ITALIAN = re.compile(r"\b(il|la|lo|le|gli|di|del|della|non|è|un|una|per|nel|nella|con|da|dal|"
                     r"alla|al|che|si|sono|ogni|il|i)\b", re.IGNORECASE)


def _sources() -> list[Path]:
    return sorted(p for p in PKG.rglob("*.py") if p.name != "errors.py")


def _docstrings(tree: ast.AST) -> set[int]:
    """Line numbers of the module, class and function docstrings (prose may mention codes)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = getattr(node, "body", [])
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                out.add(body[0].value.lineno)
    return out


def _code_literals(path: Path) -> list[tuple[int, str]]:
    """String constants (f-string parts included) that are a code, outside docstrings."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docs = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.lineno not in docs:
            if LITERAL.fullmatch(node.value.strip()):
                found.append((node.lineno, node.value))
    return found


def _mentions(path: Path) -> list[tuple[int, str]]:
    """Every code-shaped word in strings, docstrings and comments of `path`."""
    out = []
    text = path.read_text(encoding="utf-8")
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type in (tokenize.STRING, tokenize.COMMENT):
            body = NOQA.sub("", tok.string) if tok.type == tokenize.COMMENT else tok.string
            out += [(tok.start[0], m) for m in MENTION.findall(body)]
    return out


def test_the_scanner_sees_a_code_literal_and_an_unknown_mention(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text('"""Mentions V001."""\nx = f.code == "I007"\ny = "V003@actual_end"\n'
                   '# Z999 is not a code  # noqa: E501\n', encoding="utf-8")
    assert sorted(v for _, v in _code_literals(bad)) == ["I007", "V003@actual_end"]
    assert [m for _, m in _mentions(bad)] == ["V001", "I007", "V003", "Z999"]


def test_no_code_is_named_by_a_string_outside_the_catalogue():
    """`f.code == "I007"` or error="P013" would fail silently on a typo: use ErrorCode.I007."""
    found = [f"{p.relative_to(PKG.parent)}:{line}: {value!r}" for p in _sources()
             for line, value in _code_literals(p)]
    assert not found, "usare il membro ErrorCode, non la stringa:\n" + "\n".join(found)


def test_every_code_mentioned_in_the_source_exists():
    known = set(ErrorCode.__members__) | set(RETIRED)
    unknown = [f"{p.relative_to(PKG.parent)}:{line}: {code}" for p in _sources()
               for line, code in _mentions(p) if code not in known]
    assert not unknown, "\n".join(unknown)


def test_codes_are_unique_named_by_themselves_and_never_reused():
    codes = [c.code for c in ErrorCode]
    assert len(codes) == len(set(codes))
    # an Enum with equal values would alias silently: every name must be its own member
    assert len(ErrorCode.__members__) == len(list(ErrorCode))
    for name, member in ErrorCode.__members__.items():
        assert member.code == name and CODE.fullmatch(name), name
        assert ErrorCode.of(name) is member
    assert not set(RETIRED) & set(codes), "a retired code is back in the catalogue"
    assert all(CODE.fullmatch(c) and why for c, why in RETIRED.items())
    with pytest.raises(KeyError):
        ErrorCode.of("P025")


def test_codes_are_numbered_in_order_within_each_area():
    """New codes go at the end of their area: a renumbering or a reused gap shows here."""
    by_area: dict[str, list[int]] = {}
    for c in ErrorCode:
        by_area.setdefault(c.code[0], []).append(int(c.code[1:]))
    for area, numbers in by_area.items():
        assert numbers == sorted(numbers), area


@pytest.mark.parametrize("code", list(ErrorCode), ids=lambda c: c.code)
def test_each_code_has_an_italian_message_and_hint(code):
    assert code.severity in ("errore", "avviso")
    assert code.template.strip() and code.hint.strip()
    assert ITALIAN.search(code.template) or ITALIAN.search(code.hint), code.code
    rendered = finding(code)            # every template renders without its fields
    assert rendered.message and "{" not in rendered.message and "{" not in rendered.hint


def test_a_finding_is_compared_against_members():
    f = finding(ErrorCode.I007)
    assert f.is_(ErrorCode.I007) and f.is_(ErrorCode.P001, ErrorCode.I007)
    assert not f.is_(ErrorCode.I004)
    assert f.to_dict()["code"] == "I007"          # JSON keeps the code as text
