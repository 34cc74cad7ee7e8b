"""Click commands by area; `pegxl.cli` registers them. Each stays a thin layer over the library."""
