"""The documentation stands alone and describes the public workbook contract as the code has it."""
from __future__ import annotations

from pathlib import Path

from pegxl.workbook import contract as K
from pegxl.workbook import contract as C

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "contratto.md").read_text(encoding="utf-8")


def test_readme_and_docs_never_point_outside_the_repository():
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        assert "../shared" not in path.read_text(encoding="utf-8"), path


def _specs():
    yield from C.PLAN_TABLES
    yield from (C.T_OBJECTIVES, C.T_PHASES, C.T_INDICATORS)
    yield from (K.CS_SINTESI, K.CS_OBJECTIVES, K.CS_PHASES, K.CS_INDICATORS,
                K.CS_ANOMALIE, K.CS_PROVENIENZA, K.CS_DIFF)


def test_every_sheet_and_header_of_the_contract_is_documented():
    missing = []
    for spec in _specs():
        if spec.sheet not in DOC:
            missing.append(spec.sheet)
        missing += [f"{spec.sheet}: {col.header}" for col in spec.columns if col.header not in DOC]
    for name, _field in C.IDENTITY_FIELDS:
        if name not in DOC:
            missing.append(f"_pegxl: {name}")
    missing += [s for s in (*C.STATI, *C.TIPOLOGIE, *C.TIPI_VALORE, *C.FASI_CICLO) if s not in DOC]
    assert not missing, missing


def test_every_rule_is_documented():
    from pegxl.rules import RULE_ROWS
    for name, _default, _desc in RULE_ROWS:
        if name.startswith("Fascia "):
            assert "Fascia A, B, C, D" in DOC
        else:
            assert f"| {name} |" in DOC, name
