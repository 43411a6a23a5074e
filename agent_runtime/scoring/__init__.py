"""Task analysis and agent confidence scoring, on the hot path (see docs/architecture.md).

- ``text``: normalisation, light stemming, tokens, fingerprints and 64-bit
  SimHash similarity sketches.
- ``matrix``: ``CapabilityMatrix``, agents' keywords as an inverted index so
  scoring is one pass over a task's terms.
- ``analysis``: ``TaskAnalysis`` and ``TaskAnalyser`` (tokens, term and domain
  weights, complexity, sketch), memoised by fingerprint.
- ``experience``: ``ExperienceTracker``, decaying and quantised outcome terms
  with an epoch that moves only when a quantised term changes.
- ``scorer``: ``ConfidenceScorer`` and its ``ScoreBoard`` of explained scores.
"""
