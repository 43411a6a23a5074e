"""The package version, in a leaf module: importing it imports nothing else (pyproject.toml reads it too)."""

__version__ = "0.1.0"
