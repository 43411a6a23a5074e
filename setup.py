"""Build hook: ship the runbooks and docs as the built-in search corpus (``agent_runtime/corpus``).

Everything else about the package is in pyproject.toml. In a source checkout
the search tools read ``runbooks/`` and ``docs/`` directly; an installed wheel
reads the copies this hook puts into the package.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
CORPUS_DIRS = ("runbooks", "docs")


class BuildWithCorpus(build_py):  # type: ignore[misc]
    """``build_py`` that also copies the Markdown corpus into the built package."""

    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "agent_runtime" / "corpus"
        for name in CORPUS_DIRS:
            source = ROOT / name
            if source.is_dir():
                shutil.copytree(source, target / name, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.json"))


setup(cmdclass={"build_py": BuildWithCorpus})
