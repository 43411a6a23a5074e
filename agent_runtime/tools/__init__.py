"""The tool pipeline: cache → circuit breaker → retry → timeout → tool (see docs/architecture.md).

- ``pipeline``: ``ToolPipeline.call(tool, args) -> CallReport``, the stages in
  order, fallbacks, breaker health for the router, invalidation and warming.
- ``cache``: ``ToolCache``, L0 → L1 → L2 with canonical keys, per-tool TTL,
  generation-based invalidation by tool and tag, saved-time accounting and
  warming from a bounded table of popular calls.
- ``generations``: ``Generations``, the invalidation counters (whole cache,
  tool, tag) every key embeds, kept in step with the most shared layer
  across processes.
- ``calls``: canonical call keys (``canonical_args``, ``call_hash``, and
  ``args_key`` for the L0) and ``CallFrequency``, the bounded, decaying
  table of popular calls.
- ``layers``: the shared layers (``DiskLayer`` for diskcache, ``RedisLayer``).
- ``layer_health``: ``LayerHealth``, which degrades a failing layer and logs
  it once, and ``ReopeningLayer``, which re-opens it with back-off and probes
  it while it is degraded.
- ``cache_entries``: ``CacheEntry`` and its JSON wire format (never pickles).
- ``lru``: ``LRUCache``, the thread-safe in-process L0 with per-entry expiry.
- ``breaker``: ``CircuitBreaker``, failure-rate and consecutive-failure trips,
  adaptive open time, no lock held during calls.
- ``retry``: ``call_with_retry``, backoff with jitter through tenacity, which
  the first attempt never touches.

Every component reports through a ``RuntimeListener``, never to a metrics
backend directly.
"""
