"""nnlab's version: one line, read by the build (pyproject.toml, [tool.hatch.version]) and by what records it."""

__version__ = "0.1.0"
