# The agent runtime: gunicorn (via `agent-runtime serve`) with Prometheus
# multiprocess metrics, OTLP traces, and Redis for the shared L2 cache.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# The whole build context (see .dockerignore) so the package metadata,
# including the readme pyproject.toml names, is present at install time.
COPY . /app
RUN pip install "/app[otlp,redis,server]" \
    && useradd --system --uid 10001 --home-dir /app agent

# PROMETHEUS_MULTIPROC_DIR: per-process metric files for prometheus_client's
# multiprocess mode (a tmpfs in compose, so every start begins empty).
# AGENT_RUNTIME_CORPUS_ROOT: runbooks/ and docs/, which the built-in search tool indexes.
# XDG_CACHE_HOME: where that index is written (the app directory is read-only for the user).
# AGENT_RUNTIME_BIND: `serve` listens on loopback by default; a container must listen on all interfaces.
ENV PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus-multiproc \
    AGENT_RUNTIME_CORPUS_ROOT=/app \
    XDG_CACHE_HOME=/tmp/cache \
    AGENT_RUNTIME_BIND=0.0.0.0:8000
# /var/cache/agent-runtime: the L1 cache's mount point (compose's volume takes its owner from here).
RUN mkdir -p "$PROMETHEUS_MULTIPROC_DIR" /var/cache/agent-runtime \
    && chown agent "$PROMETHEUS_MULTIPROC_DIR" /var/cache/agent-runtime

USER agent
EXPOSE 8000

HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]

CMD ["agent-runtime", "serve", "--workers", "2"]
