"""The runtime's own overhead per model turn and per tool call of an LLM agent.

Both sides run the same conversation against the same loopback OpenAI
wire-format server (a 20 ms model) with the same 5 ms tools:

- baseline: the openai SDK and the tool functions called directly in a loop,
  appending the same messages the runtime sends;
- ours: ``Runtime.handle`` with an ``llm`` agent (routing, the model call and
  every tool call through the pipeline, spans, metrics).

Rounds interleave the two so machine noise hits both; the ratio of medians
is the result (target: ≤ 1.10). Caching is off on both sides (each task is
new to the model), so every turn reaches the server.

    python bench/bench_agents.py [--tasks 40]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import openai
from prometheus_client import CollectorRegistry

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent_runtime import Runtime, Task, ToolRegistry, parse_config
from agent_runtime.builtin_tools import BuiltinToolSettings, LlmSettings, register_builtin_tools
from agent_runtime.tools.services import ToolServices
from tests.support.openai_server import Reply, ScriptedChatServer

MODEL_SECONDS = 0.020
TOOL_SECONDS = 0.005
RESULTS = Path(__file__).resolve().parent / "results" / "agents.json"
CITIES = ("Oslo", "Rome")


def lookup(city: str) -> str:
    """A 5 ms tool."""
    time.sleep(TOOL_SECONDS)
    return f"sunny in {city}"


def script(request: dict[str, Any]) -> Reply:
    """One tool call a turn for two turns, then the answer: 3 model turns, 2 tool calls, nothing in parallel.

    One call a turn keeps the runtime's parallel tool calls from hiding its
    overhead: both sides do exactly the same work one step after another.
    """
    turn = sum(1 for m in request["messages"] if m["role"] == "assistant")
    if turn < len(CITIES):
        return Reply.tool_calls([("lookup", {"city": CITIES[turn]})], delay_seconds=MODEL_SECONDS)
    return Reply.text("Sunny everywhere.", delay_seconds=MODEL_SECONDS)


def direct(client: openai.OpenAI, text: str) -> str:
    """The baseline: the SDK and the tools in a plain loop (parallel tool calls run one after another)."""
    messages: list[Any] = [{"role": "user", "content": text}]
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    while True:
        reply = client.chat.completions.create(model="m", messages=messages, tools=tools)  # type: ignore[arg-type]
        message = reply.choices[0].message
        if not message.tool_calls:
            return message.content or ""
        messages.append(message.model_dump(exclude_none=True))
        for call in message.tool_calls:
            result = lookup(**json.loads(call.function.arguments))  # type: ignore[union-attr]
            messages.append({"role": "tool", "tool_call_id": call.id, "content": result})


def build_runtime(base_url: str) -> Runtime:
    tools = ToolRegistry()
    tools.tool(cacheable=False)(lookup)
    services = ToolServices()
    llm = LlmSettings(base_url=base_url, model="m", api_key="bench")
    register_builtin_tools(tools, BuiltinToolSettings(corpus_paths=(), llm=llm), services)
    config = parse_config(
        {
            "agents": [{"name": "helper", "kind": "llm", "tools": ["lookup"], "tool_call_mode": "native"}],
            "tools": {"llm_chat": {"cacheable": False, "timeout_seconds": 10}},
        }
    )
    runtime = Runtime(config, tools=tools, metrics_registry=CollectorRegistry(), models=("m",))
    services.bind(runtime.listener, runtime.call_tool)
    return runtime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=40)
    args = parser.parse_args()
    ours: list[float] = []
    base: list[float] = []
    with ScriptedChatServer(default=Reply.dynamic(script)) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="bench", max_retries=0)
        runtime = build_runtime(server.base_url)
        try:
            for number in range(args.tasks):
                text = f"weather report {number}"
                started = time.perf_counter()
                direct(client, text)
                base.append(time.perf_counter() - started)
                started = time.perf_counter()
                result = runtime.handle(Task(text, agent="helper"))
                ours.append(time.perf_counter() - started)
                assert result.output == "Sunny everywhere.", result.error
        finally:
            runtime.close()
    turns, calls = len(CITIES) + 1, len(CITIES)
    ratio = statistics.median(ours) / statistics.median(base)
    overhead = statistics.median(ours) - statistics.median(base)
    steps = turns + calls
    report = {
        "tasks": args.tasks,
        "model_seconds": MODEL_SECONDS,
        "tool_seconds": TOOL_SECONDS,
        "turns_per_task": turns,
        "tool_calls_per_task": calls,
        "baseline_median_seconds": round(statistics.median(base), 5),
        "ours_median_seconds": round(statistics.median(ours), 5),
        "ratio": round(ratio, 3),
        "overhead_per_task_seconds": round(overhead, 5),
        "overhead_per_step_seconds": round(overhead / steps, 6),
        "target_ratio": 1.10,
    }
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
