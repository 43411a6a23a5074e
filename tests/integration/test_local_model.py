"""The real local model server (llama.cpp ``llama-server`` + Gemma 3 270M) as the runtime will use it.

Short on purpose (a few seconds of model time): one slot on two CPU threads,
``max_tokens`` small, ``temperature`` 0. What the agents rely on: the
OpenAI-compatible API through the real ``openai`` SDK, ``usage`` on every
answer, ``response_format`` JSON schemas enforced by the server's grammar,
and the ``llamacpp:*`` counters Prometheus scrapes.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import jsonschema
import openai
import pytest
import requests

from agent_runtime.ops.local_model import MODEL_ALIAS
from tests.support.llama import LlamaServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

# One agent step: call one of two tools with a query, or answer. Strings are bounded so that the
# grammar, not max_tokens, ends the object.
ACTION_SCHEMA: dict[str, Any] = {
    "oneOf": [
        {
            "type": "object",
            "properties": {
                "action": {"const": "call_tool"},
                "tool": {"enum": ["promql_query", "knowledge_search"]},
                "arguments": {
                    "type": "object",
                    "properties": {"query": {"type": "string", "minLength": 1, "maxLength": 40}},
                    "required": ["query"],
                    "additionalProperties": False,
                },
            },
            "required": ["action", "tool", "arguments"],
            "additionalProperties": False,
        },
        {
            "type": "object",
            "properties": {"action": {"const": "final"}, "answer": {"type": "string", "maxLength": 40}},
            "required": ["action", "answer"],
            "additionalProperties": False,
        },
    ]
}
# With a compact example the model copies its layout; without, it spends tokens on the indentation
# the grammar allows (docs/local-model.md).
ACTION_PROMPT = (
    'Reply with one compact JSON object on one line, e.g. {"action":"call_tool","tool":"knowledge_search",'
    '"arguments":{"query":"cache hit rate"}} or {"action":"final","answer":"..."}. Tools: promql_query '
    "(PromQL over the runtime's metrics), knowledge_search (runbooks and docs)."
)

# The counters observed on this llama-server build (docs/local-model.md lists every series).
COUNTERS = ("llamacpp:prompt_tokens_total", "llamacpp:tokens_predicted_total", "llamacpp:n_decode_total")


@pytest.fixture()
def client(llama_server: LlamaServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=llama_server.base_url, api_key="unused", timeout=60, max_retries=0)


def _metrics(server: LlamaServer) -> dict[str, float]:
    text = requests.get(server.metrics_url, timeout=5).text
    return {m[1]: float(m[2]) for m in re.finditer(r"^(llamacpp:\w+)(?:\{[^}]*\})? (\S+)$", text, re.M) if m}


def test_health_and_the_model_is_listed_under_its_alias(llama_server: LlamaServer) -> None:
    assert llama_server.model == MODEL_ALIAS
    health = requests.get(llama_server.health_url, timeout=5)
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    models = requests.get(f"{llama_server.base_url}/models", timeout=5).json()
    assert [m["id"] for m in models["data"]] == [MODEL_ALIAS]


def test_chat_completion_through_the_openai_sdk_returns_content_and_usage(
    llama_server: LlamaServer, client: openai.OpenAI
) -> None:
    reply = client.chat.completions.create(
        model=llama_server.model,
        messages=[{"role": "user", "content": "Name one colour."}],
        max_tokens=12,
        temperature=0,
    )
    assert reply.model == MODEL_ALIAS
    assert reply.choices[0].message.content
    assert reply.choices[0].finish_reason in ("stop", "length")
    assert reply.usage is not None
    assert reply.usage.prompt_tokens > 0 and 0 < reply.usage.completion_tokens <= 12
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens


def test_json_schema_response_format_is_enforced(llama_server: LlamaServer, client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model=llama_server.model,
        messages=[
            {"role": "system", "content": ACTION_PROMPT},
            {"role": "user", "content": "What is the error rate of the agent runtime right now?"},
        ],
        max_tokens=160,
        temperature=0,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "action", "strict": True, "schema": ACTION_SCHEMA},
        },
    )
    assert reply.choices[0].finish_reason == "stop", reply.choices[0].message.content
    action = json.loads(reply.choices[0].message.content or "")
    jsonschema.validate(action, ACTION_SCHEMA)


def test_metrics_expose_llamacpp_counters_that_grow_with_requests(
    llama_server: LlamaServer, client: openai.OpenAI
) -> None:
    before = _metrics(llama_server)
    assert set(COUNTERS) <= set(before), sorted(before)
    # A prompt the server has not seen, so its tokens are processed rather than reused from the cache.
    client.chat.completions.create(
        model=llama_server.model,
        messages=[{"role": "user", "content": f"Repeat {uuid.uuid4().hex}"}],
        max_tokens=4,
        temperature=0,
    )
    after = _metrics(llama_server)
    for name in COUNTERS:
        assert after[name] > before[name], name
    assert after["llamacpp:tokens_predicted_total"] - before["llamacpp:tokens_predicted_total"] <= 4
