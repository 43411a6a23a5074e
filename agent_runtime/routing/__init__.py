"""Routing tasks to agents, on the hot path (see docs/architecture.md).

- ``decision_cache``: ``DecisionCache``, exact by fingerprint plus a banded-LSH
  paraphrase index over SimHash sketches; entries are dropped when the config
  version, health version or experience epoch moves (``CacheVersions``).
- ``router``: ``TaskRouter``, the cache, then scoring with the min-confidence
  fallback chain and the planning gate; ``reload`` swaps the configuration.
"""
