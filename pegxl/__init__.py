"""pegxl: il ciclo della performance degli enti locali sulle cartelle Excel."""
__version__ = "0.1.0"
