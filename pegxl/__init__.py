"""pegxl: il ciclo della performance degli enti locali sulle cartelle Excel."""
import os as _os

# openpyxl writes through lxml whenever lxml is importable (python-docx brings it): its
# lxml path skips pegxl's own writers of cell text (workbook/fastsave.py, fastrows.py),
# which are byte for byte openpyxl's other path and 1.5x faster (bench/bench_merge.py:
# 18% less CPU for a merge). Set before openpyxl is first imported; OPENPYXL_LXML=True in
# the environment keeps lxml.
_os.environ.setdefault("OPENPYXL_LXML", "False")

__version__ = "0.1.0"
