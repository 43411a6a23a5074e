"""Reading llm_chat's responses: the API key redacted from server messages, a result's cost."""

from __future__ import annotations

import pytest

from agent_runtime.builtin_tools.llm_response import MAX_ERROR_CHARS, REDACTED, cost_of, redact

API_KEY = "sk-test-SECRET-4f9a2c71e0"


@pytest.mark.parametrize("offset", range(MAX_ERROR_CHARS - len(API_KEY) - 2, MAX_ERROR_CHARS + 3))
def test_redact_before_truncating_at_every_offset_around_the_cut(offset: int) -> None:
    text = "x" * offset + API_KEY + " was rejected"
    shown = redact(text, API_KEY)
    assert len(shown) <= MAX_ERROR_CHARS
    assert "SECRET" not in shown and "4f9a" not in shown and "sk-" not in shown
    assert shown.startswith("x" * min(offset, MAX_ERROR_CHARS))


def test_redact_catches_a_key_the_server_cut_itself() -> None:
    assert redact("Incorrect API key provided: " + API_KEY[:14], API_KEY) == f"Incorrect API key provided: {REDACTED}"
    assert redact(API_KEY[-12:] + " is not valid", API_KEY) == f"{REDACTED} is not valid"
    assert redact(f"key {API_KEY[:10]}\n\n", API_KEY) == f"key {REDACTED}"
    assert redact("a short sk- mention", API_KEY) == "a short sk- mention"
    assert redact("no key configured", None) == "no key configured"


def test_cost_of_reads_the_results_cost() -> None:
    assert cost_of({"cost_dollars": 0.25}) == 0.25
    assert cost_of({"content": "x"}) == 0.0
    assert cost_of(None) == 0.0
