"""Probe: what the local model server (llama.cpp ``llama-server`` + Gemma 3 270M) does, and how fast.

Not a test: it measures and reports what docs/local-model.md records. It
starts its own ``llama-server`` (``agent_runtime.ops.local_model``: the same
command the stack and the tests use) on a free loopback port and asks it,
through the real ``openai`` SDK:

a. a plain chat of 64 max tokens: seconds and tokens/s;
b. a ``response_format`` json_schema request whose schema is one of two
   agent actions (call a tool, or answer): is the JSON valid and does it
   match, and how long does it take;
c. native ``tools=[...]`` requests: accepted? any ``tool_calls``?
d. the ``llamacpp:*`` series on ``/metrics``;
e. the ``usage`` fields (and llama.cpp's ``timings`` extension).

Run from the repository root (needs the local-llm extra)::

    python bench/probe_local_model.py             # prints a report, writes bench/results/local_model.json
    python bench/probe_local_model.py --runs 5    # more repetitions of (a) and (b)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import jsonschema  # type: ignore[import-untyped,unused-ignore]
import openai
import requests
from openai.types.chat import ChatCompletionToolParam

from agent_runtime.ops.local_model import (
    MODEL_ALIAS,
    LocalModelUnavailableError,
    base_url,
    find_model_file,
    find_server_binary,
    server_command,
)
from agent_runtime.ops.stack.ports import free_port

RESULTS = Path(__file__).resolve().parent / "results" / "local_model.json"
STARTUP_TIMEOUT_SECONDS = 120.0

ACTION_SCHEMA: dict[str, Any] = {
    "oneOf": [
        {
            "type": "object",
            "properties": {
                "action": {"const": "call_tool"},
                "tool": {"enum": ["promql_query", "knowledge_search"]},
                "arguments": {
                    "type": "object",
                    "properties": {"query": {"type": "string", "minLength": 1, "maxLength": 80}},
                    "required": ["query"],
                    "additionalProperties": False,
                },
            },
            "required": ["action", "tool", "arguments"],
            "additionalProperties": False,
        },
        {
            "type": "object",
            "properties": {"action": {"const": "final"}, "answer": {"type": "string", "maxLength": 200}},
            "required": ["action", "answer"],
            "additionalProperties": False,
        },
    ]
}
# Two system prompts: a bare instruction, and one with a compact example (the model copies its layout,
# which saves the whitespace tokens the grammar would otherwise allow).
ACTION_PROMPTS = {
    "bare": "Answer with one JSON action. Tools: promql_query (PromQL over the runtime's metrics), "
    "knowledge_search (runbooks and docs).",
    "example": 'Reply with one compact JSON object on one line, e.g. {"action":"call_tool","tool":"knowledge_search",'
    '"arguments":{"query":"cache hit rate"}} or {"action":"final","answer":"..."}. Tools: promql_query '
    "(PromQL over the runtime's metrics), knowledge_search (runbooks and docs).",
}
QUESTIONS = (
    "What is the error rate of the agent runtime right now?",
    "Which runbook covers a circuit breaker that stays open?",
    "Say hello.",
)
TOOLS: list[ChatCompletionToolParam] = [
    {
        "type": "function",
        "function": {
            "name": "promql_query",
            "description": "Run a PromQL query against Prometheus.",
            "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
        },
    },
    {
        "type": "function",
        "function": {
            "name": "knowledge_search",
            "description": "Search the runbooks and docs.",
            "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
        },
    },
]


@contextmanager
def _server(log: Path) -> Iterator[tuple[int, float]]:
    """A started llama-server: (port, seconds from spawn to /health 200)."""
    port = free_port()
    argv = server_command(port, binary=find_server_binary(), model=find_model_file())
    with log.open("wb") as out:
        started = time.monotonic()
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"llama-server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
                if time.monotonic() - started > STARTUP_TIMEOUT_SECONDS:
                    raise RuntimeError(f"llama-server not healthy after {STARTUP_TIMEOUT_SECONDS}s")
                try:
                    if requests.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                        break
                except requests.RequestException:
                    pass
                time.sleep(0.05)
            yield port, time.monotonic() - started
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _timings(reply: Any) -> dict[str, Any]:
    """llama.cpp's non-standard ``timings`` object on a reply (prompt/predicted tokens, ms, tokens/s)."""
    extra = reply.model_extra or {}
    timings = extra.get("timings")
    return dict(timings) if isinstance(timings, dict) else {}


def probe_chat(client: openai.OpenAI, runs: int) -> dict[str, Any]:
    """(a) 64 max tokens of plain chat, ``runs`` times: wall seconds, completion tokens/s."""
    samples: list[dict[str, Any]] = []
    seconds_list: list[float] = []
    rates: list[float] = []
    server_rates: list[float] = []
    for i in range(runs):
        started = time.monotonic()
        reply = client.chat.completions.create(
            model=MODEL_ALIAS,
            messages=[{"role": "user", "content": f"({i}) Explain what a circuit breaker does in a web service."}],
            max_tokens=64,
            temperature=0,
        )
        seconds = time.monotonic() - started
        assert reply.usage is not None
        timings = _timings(reply)
        seconds_list.append(seconds)
        rates.append(reply.usage.completion_tokens / seconds)
        server_rates.append(float(timings.get("predicted_per_second", 0.0)))
        samples.append({
            "seconds": round(seconds, 3),
            "completion_tokens": reply.usage.completion_tokens,
            "tokens_per_second": round(reply.usage.completion_tokens / seconds, 1),
            "server_predicted_per_second": round(float(timings.get("predicted_per_second", 0.0)), 1),
            "server_prompt_per_second": round(float(timings.get("prompt_per_second", 0.0)), 1),
            "finish_reason": reply.choices[0].finish_reason,
            "content": (reply.choices[0].message.content or "")[:120],
        })  # fmt: skip
    return {
        "median_seconds": round(statistics.median(seconds_list), 3),
        "median_tokens_per_second": round(statistics.median(rates), 1),
        "median_server_predicted_per_second": round(statistics.median(server_rates), 1),
        "samples": samples,
    }


def probe_json_schema(client: openai.OpenAI) -> dict[str, Any]:
    """(b) one agent action through ``response_format`` json_schema, per prompt style and question."""
    results: dict[str, Any] = {}
    for style, system in ACTION_PROMPTS.items():
        samples: list[dict[str, Any]] = []
        times: list[float] = []
        for question in QUESTIONS:
            started = time.monotonic()
            reply = client.chat.completions.create(
                model=MODEL_ALIAS,
                messages=[{"role": "system", "content": system}, {"role": "user", "content": question}],
                max_tokens=192,
                temperature=0,
                response_format={
                    "type": "json_schema",
                    "json_schema": {"name": "action", "strict": True, "schema": ACTION_SCHEMA},
                },
            )
            seconds = time.monotonic() - started
            times.append(seconds)
            content = reply.choices[0].message.content or ""
            error = None
            try:
                jsonschema.validate(json.loads(content), ACTION_SCHEMA)
            except (ValueError, jsonschema.ValidationError) as exc:
                error = str(exc).splitlines()[0]
            assert reply.usage is not None
            samples.append({
                "question": question,
                "seconds": round(seconds, 3),
                "completion_tokens": reply.usage.completion_tokens,
                "finish_reason": reply.choices[0].finish_reason,
                "valid": error is None,
                "error": error,
                "content": content,
            })  # fmt: skip
        results[style] = {
            "valid": sum(s["valid"] for s in samples),
            "of": len(samples),
            "median_seconds": round(statistics.median(times), 3),
            "max_seconds": round(max(times), 3),
            "samples": samples,
        }
    return results


def probe_tools(client: openai.OpenAI) -> dict[str, Any]:
    """(c) native ``tools=[...]``: is the request accepted, does a ``tool_calls`` come back?"""
    results: dict[str, Any] = {}
    choices: tuple[Literal["auto", "required"], ...] = ("auto", "required")
    for choice in choices:
        started = time.monotonic()
        try:
            reply = client.chat.completions.create(
                model=MODEL_ALIAS,
                messages=[{"role": "user", "content": "What is the error rate? Use the promql_query tool."}],
                tools=TOOLS,
                tool_choice=choice,
                max_tokens=64,
                temperature=0,
            )
        except openai.APIError as exc:
            results[choice] = {"accepted": False, "error": str(exc)[:300]}
            continue
        message = reply.choices[0].message
        results[choice] = {
            "accepted": True,
            "seconds": round(time.monotonic() - started, 3),
            "finish_reason": reply.choices[0].finish_reason,
            "tool_calls": [c.model_dump() for c in message.tool_calls or []],
            "content": (message.content or "")[:160],
        }
    return results


def probe_metrics(port: int) -> dict[str, str]:
    """(d) ``llamacpp:*`` series on ``/metrics``, with their types."""
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return dict(re.findall(r"^# TYPE (llamacpp:\w+) (\w+)$", text, re.M))


def probe_usage(client: openai.OpenAI) -> dict[str, Any]:
    """(e) the ``usage`` object (and the ``timings`` extension) of a short reply."""
    reply = client.chat.completions.create(
        model=MODEL_ALIAS, messages=[{"role": "user", "content": "Name one colour."}], max_tokens=8, temperature=0
    )
    assert reply.usage is not None
    return {"usage": reply.usage.model_dump(), "timings": _timings(reply), "model": reply.model}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3, help="repetitions of the plain chat (default 3)")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"JSON report (default {RESULTS})")
    args = parser.parse_args(argv)
    try:
        located = time.monotonic()
        binary, model = find_server_binary(), find_model_file()
        locate_seconds = time.monotonic() - located
    except LocalModelUnavailableError as exc:
        print(f"probe_local_model: {exc}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp, _server(Path(tmp) / "llama-server.log") as (port, cold_start):
        client = openai.OpenAI(base_url=base_url(port), api_key="unused", timeout=120, max_retries=0)
        report: dict[str, Any] = {
            "machine": {
                "cpus": len(os.sched_getaffinity(0)),
                "platform": platform.platform(),
                "python": platform.python_version(),
            },
            "binary": str(binary),
            "model": str(model),
            "model_bytes": model.stat().st_size,
            # The chat template (a page of Jinja) is left out of the recorded command.
            "command": server_command(port, binary=binary, model=model, chat_template=None),
            "locate_seconds": round(locate_seconds, 3),
            "cold_start_seconds": round(cold_start, 3),
        }
        report["chat"] = probe_chat(client, args.runs)
        report["json_schema"] = probe_json_schema(client)
        report["tools"] = probe_tools(client)
        report["usage"] = probe_usage(client)
        report["metrics"] = probe_metrics(port)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    _print(report)
    print(f"\nwritten: {args.output}")
    return 0


def _print(report: dict[str, Any]) -> None:
    chat = report["chat"]
    print(f"cold start (spawn -> /health 200): {report['cold_start_seconds']:.2f}s; "
          f"locating binary + model: {report['locate_seconds']:.2f}s")  # fmt: skip
    print(f"(a) chat, 64 max tokens: median {chat['median_seconds']:.2f}s, "
          f"{chat['median_tokens_per_second']:.1f} tokens/s end to end, "
          f"{chat['median_server_predicted_per_second']:.1f} tokens/s generation (server timings)")  # fmt: skip
    for style, result in report["json_schema"].items():
        print(f"(b) json_schema action, {style} prompt: {result['valid']}/{result['of']} valid, "
              f"median {result['median_seconds']:.2f}s, max {result['max_seconds']:.2f}s")  # fmt: skip
        for sample in result["samples"]:
            print(f"      {sample['seconds']:.2f}s {sample['completion_tokens']:>3} tokens "
                  f"{sample['finish_reason']:<6} {json.dumps(sample['content'])[:110]}")  # fmt: skip
    for choice, result in report["tools"].items():
        calls = len(result.get("tool_calls", []))
        print(f"(c) tools=[...], tool_choice={choice}: accepted={result['accepted']}, tool_calls={calls}, "
              f"{json.dumps(result.get('content', result.get('error', '')))[:90]}")  # fmt: skip
    print(f"(d) /metrics: {', '.join(f'{k} ({v})' for k, v in report['metrics'].items())}")
    print(f"(e) usage: {json.dumps(report['usage']['usage'])}; timings keys: {sorted(report['usage']['timings'])}")


if __name__ == "__main__":
    raise SystemExit(main())
