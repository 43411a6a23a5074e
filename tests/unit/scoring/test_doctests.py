"""The usage examples in the scoring and routing docstrings run and stay true."""

from __future__ import annotations

import doctest
from types import ModuleType

import pytest

from agent_runtime.routing import decision_cache, router
from agent_runtime.scoring import analysis, experience, matrix, scorer, text


@pytest.mark.parametrize(
    "module", [text, matrix, analysis, experience, scorer, decision_cache, router], ids=lambda m: m.__name__
)
def test_docstring_examples(module: ModuleType) -> None:
    results = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert results.attempted > 0
    assert results.failed == 0
