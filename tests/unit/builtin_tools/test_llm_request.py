"""Building llm_chat's request from the caller's arguments."""

from __future__ import annotations

from agent_runtime.builtin_tools.llm_request import build_messages


def test_messages_keep_extra_fields_and_system_goes_first() -> None:
    messages = build_messages(None, [{"role": "user", "content": "q", "name": "ann"}], "sys")
    assert messages == [{"role": "system", "content": "sys"}, {"role": "user", "content": "q", "name": "ann"}]
