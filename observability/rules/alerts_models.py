"""LLM agent and model alerts: model calls, token spend, how agents stop, the LLM cache, the model server.

Every series these read is absent until a model is configured (the runtime
creates GenAI, cost and LLM-cache series on the first model call, and
registers the ``llm_chat`` tool only with a model), and every ratio is gated
on a minimum rate. So a runtime without an LLM, or an idle one, fires none of
them; the promtool tests show it.

Like the component alerts, most explain *why* the task SLO burns and open
tickets; the model server being down pages, since every LLM agent fails.
"""

from __future__ import annotations

from observability import alert_names, llamacpp
from observability.config import ObservabilityConfig, cache_hits_over_lookups
from observability.promql import number, selector
from observability.rules.model import Alert, AlertRule, PanelRef, Runbook, Step
from observability.rules.recording import (
    agent_invalid_action_ratio,
    agent_model_call_rate,
    agent_stop_rate,
    agent_unanswered_ratio,
    cache_hit_ratio,
    cache_rate,
    model_error_ratio,
    model_quantile,
    model_rate,
    spend_rate,
)
from observability.rules.templates import VALUE, VALUE_DURATION, VALUE_FIXED2, VALUE_PERCENT, label

_CALLS = "gen_ai_client_operation_duration_seconds"
# The llama.cpp server's own address in the compose stack and by default (llama-server --port 8080).
_LLAMA = 'LLAMA_URL="${LLAMA_URL:-http://localhost:8080}"'
_LOGS = "docker compose logs --since 15m runtime"


def _pct(ratio: float) -> str:
    return f"{number(ratio * 100)}%"


def _model_label() -> str:
    return label("gen_ai_request_model")


def model_errors(config: ObservabilityConfig) -> Alert:
    """Too many model calls fail (any non-empty ``error_type``)."""
    model, sel = config.model, config.selector
    return Alert(
        name=alert_names.MODEL_ERRORS_HIGH,
        summary="Too many model calls are failing.",
        rules=(AlertRule(
            severity="warning",
            expr=(f"{model_error_ratio(config)} > {number(model.error_ratio)}\n"
                  f"and on (job, gen_ai_request_model)\n{model_rate(config)} > {number(model.min_rate)}"),
            description=(f"{VALUE_PERCENT} of calls to model {_model_label()} on {label('job')} failed over "
                         f"the last {model.window}."),
            for_=model.errors_for,
        ),),
        runbook=Runbook(
            meaning=(f"More than {_pct(model.error_ratio)} of model calls (`{_CALLS}_count` with a non-empty "
                     f"`error_type`) failed over {model.window} for {model.errors_for}, with at least "
                     f"{number(model.min_rate)} calls/s. The error type says why: `timeout`, "
                     "`connection_error`, `rate_limited`, `server_error`, `bad_request`, `authentication`, "
                     "`invalid_response`."),
            impact=("LLM agents retry or give up: their tasks slow down or fail, and the task error budget "
                    f"burns ({alert_names.TASK_ERROR_BUDGET_BURN}). Failed calls still cost prompt tokens."),
            panels=(PanelRef("agents", "Model errors by type"), PanelRef("agents", "Model error ratio")),
            diagnosis=(
                Step("Failures by model and error type:",
                     promql=(f"sum by (gen_ai_request_model, error_type) (rate({_CALLS}_count{{{sel},"
                             f'error_type!=""}}[5m])) > 0')),
                Step(f"The model call as a pipeline tool (`{model.tool}`): how its calls end (retries, open breaker):",
                     promql=(f'sum by (outcome) (rate(agent_runtime_tool_calls_total{{{sel},tool="{model.tool}"}}'
                             f"[5m]))")),
                Step("Is the model server up and answering?",
                     shell=f'{_LLAMA}; curl -fsS "$LLAMA_URL/health" && agent-runtime breakers'),
                Step("The runtime's log of the failing calls (status codes, server messages):",
                     shell=f"{_LOGS} | grep -i {model.tool}"),
            ),
            mitigation=(
                Step("`connection_error` or `timeout` against the local server: restart it and check it "
                     f"loads the model ({alert_names.MODEL_SERVER_DOWN}):",
                     shell="docker compose restart llama && docker compose logs --since 5m llama"),
                Step("`rate_limited`: lower the load (fewer workers, or `execution.max_in_flight_tasks`) or "
                     "raise the provider's limit; the tool's retries back off by themselves."),
                Step("`authentication` or `bad_request` after a change: fix the model or server the runtime "
                     "is given (compose passes these from the shell) and recreate it:",
                     shell="AGENT_RUNTIME_LLM_MODEL=<model> AGENT_RUNTIME_LLM_BASE_URL=<url> "
                           "docker compose up -d runtime"),
                Step("`invalid_response`: the model or server version changed what it returns; roll it back."),
            ),
        ),
    )


def model_latency(config: ObservabilityConfig) -> Alert:
    """A model's p95 call duration above the threshold."""
    model, sel = config.model, config.selector
    threshold = number(model.latency_threshold_seconds)
    q = _pct(model.quantile).rstrip("%")
    server_steps: tuple[Step, ...] = ()
    if model.server_job is not None:
        server_steps = (Step("On the llama.cpp server: generation speed (tokens/s of decode time) and the queue:",
                             promql=(f"rate({llamacpp.TOKENS_PREDICTED}{{{model.server_selector}}}[5m])\n"
                                     f"/ (rate({llamacpp.TOKENS_PREDICTED_SECONDS}{{{model.server_selector}}}[5m])"
                                     " > 0)")),
                        Step("Requests waiting for a free slot (above 0: the server is the bottleneck):",
                             promql=f"max_over_time({llamacpp.REQUESTS_DEFERRED}{{{model.server_selector}}}[5m])"))
    return Alert(
        name=alert_names.MODEL_LATENCY_HIGH,
        summary="Model calls are slower than their latency threshold.",
        rules=(AlertRule(
            severity="warning",
            expr=(f"{model_quantile(config)} > {threshold}\n"
                  f"and on (job, gen_ai_request_model)\n{model_rate(config)} > {number(model.min_rate)}"),
            description=(f"Calls to model {_model_label()} on {label('job')} have a p{q} of {VALUE_DURATION} "
                         f"over {model.window}, above the {threshold}s threshold."),
            for_=model.latency_for,
            keep_firing_for=model.keep_firing_for,
        ),),
        runbook=Runbook(
            meaning=(f"The p{q} duration of one model call (`{_CALLS}`, failed calls included) has been above "
                     f"{threshold}s over {model.window} for {model.latency_for}, with at least "
                     f"{number(model.min_rate)} calls/s. It keeps firing for {model.keep_firing_for} after the "
                     "condition last held: slow calls end in bursts, and a window that empties between two of "
                     "them is a pause, not a recovery."),
            impact=("Every model turn of an LLM agent waits this long, so its tasks take several times as "
                    f"long: the task latency SLO burns ({alert_names.TASK_LATENCY_BUDGET_BURN}) and tasks hit "
                    "their deadline (stop reason `deadline`)."),
            panels=(PanelRef("agents", "Model call latency"), PanelRef("agents", "Model server queue")),
            diagnosis=(
                Step("p95 per model over 5m:",
                     promql=(f"histogram_quantile(0.95, sum by (gen_ai_request_model, le) "
                             f"(rate({_CALLS}_bucket{{{sel}}}[5m])))")),
                Step("Longer prompts are slower: input and output tokens per call:",
                     promql=(f"sum by (gen_ai_token_type) (rate(gen_ai_client_token_usage_sum{{{sel}}}[5m]))\n"
                             f"/ on () group_left () (sum(rate({_CALLS}_count{{{sel}}}[5m])) > 0)")),
                *server_steps,
                Step("The server's slots (busy or idle, tokens per slot):",
                     shell=f'{_LLAMA}; curl -fsS "$LLAMA_URL/slots" | jq ".[] | {{id, is_processing}}"'),
                Step("On Model call latency, click an exemplar to open a slow `chat` span's trace."),
            ),
            mitigation=(
                Step("Requests deferred: the server has fewer slots than concurrent calls. Start it with more "
                     "(`--parallel N`, each slot gets ctx-size/N) or lower the runtime's concurrency, then "
                     "restart:", shell="docker compose up -d llama runtime"),
                Step("Prompts grew (long tool results fed back): lower the agents' `max_steps` or token "
                     "budget so runs stay short."),
                Step("A bigger model or a CPU-only host: go back to the previous model file or image, or "
                     "offload layers to the GPU (`--n-gpu-layers`)."),
            ),
        ),
    )


def model_server_down(config: ObservabilityConfig) -> Alert:
    """The local model server's target cannot be scraped."""
    model = config.model
    return Alert(
        name=alert_names.MODEL_SERVER_DOWN,
        summary="The local model server cannot be scraped.",
        rules=(AlertRule(
            severity="critical",
            expr=f"up{{{model.server_selector}}} == 0",
            description=(f"Prometheus has failed to scrape model server {label('instance')} of job {label('job')} "
                         f"for more than {model.server_down_for} (up = {VALUE})."),
            for_=model.server_down_for,
        ),),
        runbook=Runbook(
            meaning=(f"Every scrape of the llama.cpp server's `/metrics` (job `{model.server_job}`, started "
                     f"with `--metrics`) failed for {model.server_down_for}: the server is down, still loading "
                     "its model, crash-looping (out of memory), or was started without `--metrics`."),
            impact=("Every LLM agent's model call fails (`connection_error`), so their tasks fail or fall back; "
                    "tasks of plan and python agents are unaffected."),
            panels=(PanelRef("agents", "Model server up"), PanelRef("agents", "Model errors by type")),
            diagnosis=(
                Step("Which model server targets are down:", promql=f"up{{{model.server_selector}}} == 0"),
                Step("What the runtime sees meanwhile (connection errors and timeouts per second):",
                     promql=(f"sum by (error_type) (rate({_CALLS}_count{{{config.selector},"
                             f'error_type=~"connection_error|timeout"}}[5m]))')),
                Step("Is the server alive, ready (200) or still loading (503)?",
                     shell=(f'{_LLAMA}; curl -sS -o /dev/null -w "%{{http_code}}\\n" "$LLAMA_URL/health"; '
                            'curl -fsS "$LLAMA_URL/metrics" | head')),
                Step("Its log (model load errors, out of memory, port in use):",
                     shell="docker compose ps llama && docker compose logs --since 15m llama"),
            ),
            mitigation=(
                Step("Restart it; loading the model takes a while, `/health` answers 503 until it is done:",
                     shell="docker compose restart llama"),
                Step("Out of memory: use a smaller quantisation or context (`--ctx-size`), or fewer slots "
                     "(`--parallel`), then start it again:", shell="docker compose up -d llama"),
                Step("Up but `/metrics` answers 501: the server was started without `--metrics`; add it."),
            ),
        ),
    )


def model_server_missing(config: ObservabilityConfig) -> Alert:
    """No model server target while the runtime has a model configured."""
    model, sel = config.model, config.selector
    configured = f'agent_runtime_circuit_breaker_state{{{sel},breaker="{model.tool}"}}'
    return Alert(
        name=alert_names.MODEL_SERVER_MISSING,
        summary="Prometheus has no model server target while the runtime uses a model.",
        rules=(AlertRule(
            severity="warning",
            expr=f"absent(up{{{model.server_selector}}})\nand on ()\ncount({configured}) > 0",
            description=(f"No target of job {label('job')} has been scraped for more than "
                         f"{model.server_absent_for} although the runtime has a model configured "
                         f"(absent = {VALUE}); the model server is unmonitored."),
            for_=model.server_absent_for,
        ),),
        runbook=Runbook(
            meaning=(f"There has been no `up` series for job `{model.server_job}` for {model.server_absent_for}, "
                     f"while the runtime registers the `{model.tool}` tool (which it does only with a model "
                     "configured). The scrape configuration lost the job, or the server was never added to it. "
                     "Without a model configured this alert stays silent."),
            impact=(f"{alert_names.MODEL_SERVER_DOWN} cannot fire and the server's throughput and queue are "
                    "not recorded; the runtime's own model metrics still show failing calls."),
            panels=(PanelRef("agents", "Model server up"), PanelRef("agents", "Model errors by type")),
            diagnosis=(
                Step("Which jobs Prometheus does scrape:", promql="count by (job) (up)"),
                Step("Is the runtime calling a model at all, and does it succeed?",
                     promql=f"sum by (gen_ai_request_model, error_type) (rate({_CALLS}_count{{{sel}}}[5m]))"),
                Step("Is the job in the loaded configuration?",
                     shell="curl -s http://localhost:9090/api/v1/status/config | jq -r .data.yaml | "
                           f"grep -n -A4 'job_name: {model.server_job}'"),
            ),
            mitigation=(
                Step(f"Add (or restore) the `{model.server_job}` job for the server's `/metrics` in "
                     "`prometheus/prometheus.yml` and reload Prometheus:",
                     shell="curl -fsS -X POST http://localhost:9090/-/reload"),
                Step("The model is hosted, with no local server to scrape: generate the rules with "
                     "`ModelConfig.server_job=None`, which drops this alert and the server panels."),
            ),
        ),
    )


def spend_over_budget(config: ObservabilityConfig) -> Alert:
    """Token spend above the hourly budget over a long and a short window."""
    model, sel = config.model, config.selector
    budget = number(model.hourly_budget_dollars)
    long, short = spend_rate(model.budget_window), spend_rate(model.budget_short_window)
    return Alert(
        name=alert_names.MODEL_SPEND_OVER_BUDGET,
        summary="Model token spend is above the hourly budget.",
        rules=(AlertRule(
            severity="warning",
            expr=f"{long} * 3600 > {budget}\nand on (job)\n{short} * 3600 > {budget}",
            description=(f"Model tokens on {label('job')} cost {VALUE_FIXED2} dollars per hour over the last "
                         f"{model.budget_window} (and at that pace over {model.budget_short_window}), above the "
                         f"{budget} dollar hourly budget."),
            for_=model.budget_for,
            keep_firing_for=model.keep_firing_for,
        ),),
        runbook=Runbook(
            meaning=(f"The token cost (`agent_runtime_llm_cost_dollars_total`, from the configured price table) "
                     f"ran at more than {budget} dollars per hour over {model.budget_window}, and is still "
                     f"doing so over {model.budget_short_window}, for {model.budget_for}. The short window lets "
                     f"the alert resolve soon after the spending stops: {model.keep_firing_for} after, so a "
                     "pause between bursts of calls does not resolve it and page again."),
            impact="Money: at this pace the day's spend is 24 times the hourly figure. Tasks are not affected.",
            panels=(PanelRef("agents", "Model cost per hour"), PanelRef("agents", "Tokens per second")),
            diagnosis=(
                Step("Dollars per hour by model and token type:",
                     promql=(f"sum by (gen_ai_request_model, gen_ai_token_type) "
                             f"(rate(agent_runtime_llm_cost_dollars_total{{{sel}}}[5m])) * 3600")),
                Step("Which agents make the calls (model turns per second):",
                     promql=f"sum by (agent) (rate(agent_runtime_agent_model_calls_sum{{{sel}}}[5m]))"),
                Step("Is the LLM cache answering (a cold or broken cache multiplies spend)?",
                     promql=cache_hits_over_lookups(selector(sel, f'cache="{model.cache}"'), "", "5m")),
                Step("Agents, their kinds and limits; cache statistics:",
                     shell="agent-runtime agents && agent-runtime cache stats"),
            ),
            mitigation=(
                Step("A runaway agent (many turns per task): lower its `max_steps` and token budget in the "
                     "`AGENT_RUNTIME_CONFIG` file and restart:", shell="docker compose restart runtime"),
                Step("A traffic surge: shed load at the runtime (`execution.max_in_flight_tasks`) or route "
                     "to cheaper agents."),
                Step("A cheaper model for the same agents: recreate the runtime with it:",
                     shell="AGENT_RUNTIME_LLM_MODEL=<cheaper model> docker compose up -d runtime"),
            ),
        ),
    )


def stops_without_answer(config: ObservabilityConfig) -> Alert:
    """An agent's runs too often end without a final answer."""
    model, sel = config.model, config.selector
    reasons = ", ".join(f"`{r}`" for r in model.unanswered_reasons)
    return Alert(
        name=alert_names.AGENT_STOPS_WITHOUT_ANSWER,
        summary="An agent often stops without an answer.",
        rules=(AlertRule(
            severity="warning",
            expr=(f"{agent_unanswered_ratio(config)} > {number(model.unanswered_ratio)}\n"
                  f"and on (job, agent)\n{agent_stop_rate(config)} > {number(model.agent_min_rate)}"),
            description=(f"{VALUE_PERCENT} of runs of agent {label('agent')} on {label('job')} stopped without an "
                         f"answer ({' or '.join(model.unanswered_reasons)}) over the last {model.agent_window}."),
            for_=model.unanswered_for,
        ),),
        runbook=Runbook(
            meaning=(f"More than {_pct(model.unanswered_ratio)} of the agent's runs ended with stop reason "
                     f"{reasons} over {model.agent_window} for {model.unanswered_for}, with at least "
                     f"{number(model.agent_min_rate)} runs/s: it ran out of steps, repeated itself, or used up "
                     "its token budget before giving a final answer, and even the last turn, which may only "
                     "answer, gave none (runs it rescued stop as `forced_final`, an answer). `deadline` and "
                     "`error` are counted by the task alerts instead."),
            impact=("Users get no answer (or a partial one) from this agent, while each such run spends the "
                    "most tokens a run can."),
            panels=(PanelRef("agents", "Runs stopped without an answer"), PanelRef("agents", "Agent stop reasons")),
            diagnosis=(
                Step("Stop reasons of each agent:",
                     promql=f"sum by (agent, reason) (rate(agent_runtime_agent_stops_total{{{sel}}}[30m])) > 0"),
                Step("Model turns per task (near `max_steps`: the agent does not converge):",
                     promql=(f"histogram_quantile(0.95, sum by (agent, le) "
                             f"(rate(agent_runtime_agent_model_calls_bucket{{{sel}}}[30m])))")),
                Step("Invalid actions make runs longer:",
                     promql=(f"sum by (agent, kind) (rate(agent_runtime_agent_invalid_actions_total{{{sel}}}"
                             "[30m])) > 0")),
                Step("Run one task on the agent and read its steps (set AGENT to the alert's `agent` label):",
                     shell='agent-runtime run --agent "$AGENT" "summarise the last deployment"'),
            ),
            mitigation=(
                Step("`max_steps`: the task needs more turns than allowed; raise the agent's `max_steps` "
                     "in the `AGENT_RUNTIME_CONFIG` file and restart, or give it a better-suited tool:",
                     shell="agent-runtime agents && docker compose restart runtime"),
                Step(f"`loop`: the model repeats a tool call; check the tool answers usefully "
                     f"({alert_names.TOOL_ERRORS_HIGH}) and that its prompt says when to stop."),
                Step("`token_budget`: tool results too long for the context; shorten them or raise the budget."),
            ),
        ),
    )


def invalid_actions(config: ObservabilityConfig) -> Alert:
    """Too many of an agent's model replies are invalid actions."""
    model, sel = config.model, config.selector
    return Alert(
        name=alert_names.AGENT_INVALID_ACTIONS_HIGH,
        summary="The model often answers an agent with an invalid action.",
        rules=(AlertRule(
            severity="warning",
            expr=(f"{agent_invalid_action_ratio(config)} > {number(model.invalid_action_ratio)}\n"
                  f"and on (job, agent)\n{agent_model_call_rate(config)} > {number(model.agent_min_rate)}"),
            description=(f"Agent {label('agent')} on {label('job')} got {VALUE_PERCENT} invalid actions per model "
                         f"call over the last {model.agent_window}."),
            for_=model.invalid_for,
        ),),
        runbook=Runbook(
            meaning=(f"Invalid actions (`invalid_json`, `unknown_tool`, `bad_arguments`, `empty`) were more than "
                     f"{_pct(model.invalid_action_ratio)} of the agent's model calls over {model.agent_window} "
                     f"for {model.invalid_for}, with at least {number(model.agent_min_rate)} model calls/s. "
                     "Each one is sent back to the model, costing a turn."),
            impact=("Runs take more turns, tokens and time, and more of them stop at `max_steps` "
                    f"({alert_names.AGENT_STOPS_WITHOUT_ANSWER})."),
            panels=(PanelRef("agents", "Invalid actions per model call"),
                    PanelRef("agents", "Invalid actions by kind")),
            diagnosis=(
                Step("Invalid actions by agent and kind:",
                     promql=(f"sum by (agent, kind) (rate(agent_runtime_agent_invalid_actions_total{{{sel}}}"
                             "[30m])) > 0")),
                Step("Which model answers (a model change is the usual cause):",
                     promql=f"sum by (gen_ai_request_model) (rate({_CALLS}_count{{{sel}}}[30m]))"),
                Step("The agent's tools as the model sees them (names and arguments):",
                     shell="agent-runtime agents && agent-runtime tools"),
                Step("Reproduce one run (set AGENT to the alert's `agent` label):",
                     shell='agent-runtime run --agent "$AGENT" "compare the p95 latency of the search tool"'),
            ),
            mitigation=(
                Step("`invalid_json`: the model does not follow the format; use a model with native tool "
                     "calling or switch the agent's tool-call mode to `json_schema` (constrained output), "
                     "then restart:", shell="docker compose restart runtime"),
                Step("`unknown_tool` or `bad_arguments` after a tool change: the model still uses the old "
                     "names or arguments; fix the tool descriptions, or roll the tool change back."),
                Step("Started with a new model: recreate the runtime with the previous one:",
                     shell="AGENT_RUNTIME_LLM_MODEL=<previous model> docker compose up -d runtime"),
            ),
        ),
    )


def llm_cache_hit_rate_drop(config: ObservabilityConfig) -> Alert:
    """The LLM response cache's hit ratio below a floor and well below its own baseline."""
    cache, model, sel = config.cache, config.model, config.selector
    ratio, baseline = cache_hit_ratio(cache.window), cache_hit_ratio(cache.baseline_window)
    rate = cache_rate(cache.window)
    only = f'{{cache="{model.cache}"}}'
    return Alert(
        name=alert_names.LLM_CACHE_HIT_RATE_DROP,
        summary="The LLM cache's hit ratio dropped well below its usual level.",
        rules=(AlertRule(
            severity="warning",
            expr=(f"{ratio}{only} < {number(model.cache_floor)}\n"
                  f"and on (job, cache)\n{ratio} < {number(model.cache_baseline_factor)} * {baseline}\n"
                  f"and on (job, cache)\n{rate} > {number(model.cache_min_rate)}"),
            description=(f"The {label('cache')} cache on {label('job')} hit {VALUE_PERCENT} of look-ups over the "
                         f"last {cache.window}, under the {_pct(model.cache_floor)} floor and under "
                         f"{number(model.cache_baseline_factor)}x its {cache.baseline_window} average."),
            for_=model.cache_for,
        ),),
        runbook=Runbook(
            meaning=(f"Over {cache.window}, the LLM response cache (`cache=\"{model.cache}\"`, hits over look-ups "
                     f"in all layers) hit less than {_pct(model.cache_floor)} and less than "
                     f"{number(model.cache_baseline_factor)}x its {cache.baseline_window} average, with at least "
                     f"{number(model.cache_min_rate)} look-ups/s, for {model.cache_for}. Other caches are covered "
                     f"by {alert_names.CACHE_HIT_RATE_DROP}."),
            impact="Every miss is a real model call: more spend, slower agents, more load on the model server.",
            panels=(PanelRef("agents", "LLM cache hit ratio"),
                    PanelRef("agents", "Cost saved by cache per hour")),
            diagnosis=(
                Step("Hit ratio per layer (`l0` memory, `l1` disk, `l2` Redis):",
                     promql=(f'sum by (layer) (rate(agent_runtime_cache_requests_total{{{sel},cache="{model.cache}",'
                             f'result="hit"}}[5m]))\n/ sum by (layer) (rate(agent_runtime_cache_requests_total'
                             f'{{{sel},cache="{model.cache}"}}[5m]))')),
                Step("Are the shared layers up (0 = degraded)?",
                     promql=f"min by (cache, layer) (agent_runtime_cache_layer_up{{{sel}}})"),
                Step("Dollars per hour the cache saves:",
                     promql=(f'sum(rate(agent_runtime_cache_saved_dollars_total{{{sel},cache="{model.cache}"}}'
                             "[5m])) * 3600")),
                Step("Cache statistics:", shell="agent-runtime cache stats"),
            ),
            mitigation=(
                Step(f"A layer is down: follow {alert_names.CACHE_LAYER_DOWN}."),
                Step("Prompts changed (a new prompt template, tool list or model makes every key new): "
                     "expected after a deploy; the ratio recovers as the cache refills."),
                Step("The runtime restarted and the memory layer is empty: L1 and L2 keep entries across "
                     "restarts; configure them if they are missing:",
                     shell="docker compose up -d redis runtime"),
            ),
        ),
    )


def server_alerts(config: ObservabilityConfig) -> tuple[Alert, ...]:
    """The model server alerts, or none for a hosted model (``server_job=None``)."""
    if config.model.server_job is None:
        return ()
    return (model_server_down(config), model_server_missing(config))
