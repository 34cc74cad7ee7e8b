"""Click commands by area; `pegxl.cli` registers them. Each stays a thin layer over the library.

Importing the package puts click's own texts in Italian (see `italiano`)."""
from . import italiano  # noqa: F401  (installs the Italian catalogue into click)
