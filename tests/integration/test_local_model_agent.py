"""An LLM agent on the real model: llama.cpp's server with Gemma 3 270M picks its tools (json_schema mode).

The model is small and its judgement poor, so these tests assert the
protocol and the runtime's behaviour, not the answer's quality: every turn
is a valid action over the offered tools, each tool call the model asked for
went through the pipeline, token usage matches the server's own counters,
the spans form one trace, the run ends with an answer (Gemma repeats its
tool call until its last step, which may only answer), and a repeated task
is answered from the cache with its cost counted as saved. A handful of
short model calls in all.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from opentelemetry.sdk.trace import ReadableSpan
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from agent_runtime import Runtime, Task
from agent_runtime.bootstrap import build_runtime
from agent_runtime.builtin_tools import BuiltinToolSettings, LlmSettings
from agent_runtime.config.models import ModelPrice
from agent_runtime.ops.local_model import PROVIDER
from agent_runtime.vocabulary import StopReason, TaskOutcome
from tests.support.llama import LlamaServer
from tests.support.tracing import clean_otel_env, record_spans, shutdown_tracing

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

CONFIG = """
agents:
  - name: investigator
    kind: llm
    tool_call_mode: auto
    max_steps: 3
    max_tokens_per_turn: 96
    token_budget: 4000
    tools: [knowledge_search]
    instructions: >-
      You answer questions about an agent runtime. Call knowledge_search once with a few words
      from the question. When you have its result, reply with final_answer: one short sentence.
    tool_schemas:
      knowledge_search:
        type: object
        properties:
          query: {type: string, minLength: 1, maxLength: 40}
        required: [query]
    specialties: [{domain: ops, keywords: [cache, breaker]}]
tools:
  knowledge_search: {timeout_seconds: 5, ttl_seconds: 600}
  llm_chat: {timeout_seconds: 120, ttl_seconds: 600}
# Quiet, a turn takes 1-3 s; beside other test suites 10-20 s, which must not end the run as a deadline.
execution: {task_timeout_seconds: 150}
"""
RUNBOOK = """# Cache hit rate drop

When the tool cache hit rate drops, a deploy flushed the cache or Redis is down.
Check agent_runtime_cache_layer_up and warm the cache with agent-runtime cache warm.
"""
PRICE = ModelPrice(input_per_million=0.5, output_per_million=1.5)


def counters(server: LlamaServer) -> dict[str, float]:
    text = requests.get(server.metrics_url, timeout=10).text
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith("llamacpp:")
    }


@pytest.fixture()
def runtime(llama_server: LlamaServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "cache.md").write_text(RUNBOOK)
    config = tmp_path / "agents.yaml"
    config.write_text(CONFIG)
    clean_otel_env(monkeypatch)
    settings = BuiltinToolSettings(
        corpus_paths=(str(tmp_path / "docs"),),
        index_path=str(tmp_path / "index.sqlite3"),
        llm=LlmSettings(
            base_url=llama_server.base_url,
            model=llama_server.model,
            provider=PROVIDER,
            read_timeout_seconds=110.0,
            prices={llama_server.model: PRICE},
        ),
    )
    built = build_runtime(config, metrics_registry=CollectorRegistry(), builtin_settings=settings)
    yield built
    built.close()
    shutdown_tracing()


def test_the_agent_picks_offered_tools_through_the_pipeline_and_accounts_for_every_token(
    runtime: Runtime, llama_server: LlamaServer
) -> None:
    handle, exporter = record_spans(runtime.metrics)
    before = counters(llama_server)
    result = runtime.handle(Task("why did the cache hit rate drop?", agent="investigator"))
    after = counters(llama_server)
    handle.force_flush(timeout_seconds=5.0)
    spans: list[ReadableSpan] = list(exporter.get_finished_spans())

    assert result.turns, result.error
    assert result.stop_reason in set(StopReason)
    # auto mode asked the server, learnt its template cannot call tools, and used json_schema.
    for turn in result.turns:
        for action in turn.actions:
            if action["type"] == "tool_call":
                assert action["tool"] == "knowledge_search"
            assert action["type"] in ("tool_call", "final", "invalid")
    asked = [a for turn in result.turns for a in turn.actions if a["type"] == "tool_call"]
    # Every call the model asked for ran through the pipeline, but the one the loop detector refused.
    looped = result.stop_reason == StopReason.LOOP or result.turns[-1].actions[0].get("forced_by") == "loop"
    assert len(result.tool_calls) == len(asked) - (1 if looped else 0)
    assert [call.tool for call in result.tool_calls] == [a["tool"] for a in asked][: len(result.tool_calls)]
    assert [call.turn for call in result.tool_calls] == [
        turn.index for turn in result.turns for a in turn.actions if a["type"] == "tool_call"
    ][: len(result.tool_calls)]
    assert all(call.attempts >= 1 or call.cache_layer for call in result.tool_calls)
    # Token usage in the result is what the server counted.
    input_tokens, output_tokens = result.tokens
    assert output_tokens == after["llamacpp:tokens_predicted_total"] - before["llamacpp:tokens_predicted_total"]
    served = after["llamacpp:prompt_tokens_total"] - before["llamacpp:prompt_tokens_total"]
    cached = after.get("llamacpp:prompt_tokens_cached_total", 0.0) - before.get(
        "llamacpp:prompt_tokens_cached_total", 0.0
    )
    assert input_tokens in (served, served + cached)
    # invoke_agent → chat gemma… (and execute_tool, when the model asked for one) in one trace.
    root = next(s for s in spans if s.name == "invoke_agent investigator")
    chats = [s for s in spans if s.name == f"chat {llama_server.model}"]
    assert len(chats) == len(result.turns)
    tools = [s for s in spans if s.name.startswith("execute_tool")]
    assert len(tools) == len(result.tool_calls)
    for span in (*chats, *tools):
        assert span.context.trace_id == root.context.trace_id
        assert span.parent is not None and span.parent.span_id == root.context.span_id


def test_the_agent_ends_with_an_answer_from_its_model_calls_through_the_pipeline(runtime: Runtime) -> None:
    result = runtime.handle(Task("how do I warm the cache after a deploy?", agent="investigator"))

    assert result.stop_reason in (StopReason.FINAL, StopReason.FORCED_FINAL), result.error
    assert isinstance(result.output, str) and result.output.strip()
    assert result.outcome == TaskOutcome.SUCCESS
    final = result.turns[-1].actions
    assert [action["type"] for action in final] == ["final"] and final[0]["answer"] == result.output
    if result.stop_reason == StopReason.FORCED_FINAL:
        assert final[0]["forced_by"] in (StopReason.LOOP, StopReason.MAX_STEPS, StopReason.TOKEN_BUDGET)
    # Each model turn was an llm_chat call through the pipeline (none from the cache in a fresh runtime).
    assert all(turn.cache_layer is None and turn.error is None for turn in result.turns)
    assert runtime.metrics is not None
    calls = runtime.metrics.registry.get_sample_value(
        "agent_runtime_tool_calls_total", {"tool": "llm_chat", "outcome": "success"}
    )
    assert calls == len(result.turns)
    stops = runtime.metrics.registry.get_sample_value(
        "agent_runtime_agent_stops_total", {"agent": "investigator", "reason": result.stop_reason}
    )
    assert stops == 1.0


def test_a_repeated_task_is_answered_from_the_cache_with_its_cost_saved(runtime: Runtime) -> None:
    task = Task("how do I warm the cache?", agent="investigator")
    first = runtime.handle(task)
    second = runtime.handle(task)

    assert first.turns and all(turn.cache_layer is None for turn in first.turns)
    assert [turn.cache_layer for turn in second.turns] == ["l0"] * len(first.turns)
    assert second.output == first.output and second.tokens == (0, 0)
    assert runtime.metrics is not None
    registry = runtime.metrics.registry
    saved = registry.get_sample_value("agent_runtime_cache_saved_dollars_total", {"cache": "llm"})
    spent = sum(
        registry.get_sample_value(
            "agent_runtime_llm_cost_dollars_total",
            {"gen_ai_request_model": runtime.config.agents[0].model or "gemma-3-270m", "gen_ai_token_type": kind},
        )
        or 0.0
        for kind in ("input", "output")
    )
    assert saved is not None and saved > 0
    assert saved == pytest.approx(spent, rel=0.05)
