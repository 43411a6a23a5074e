# Thin aliases; the scripts and modules they call are the source of truth.
.PHONY: demo test bench generate lint

demo:
	scripts/demo

test:
	scripts/test

bench:
	for b in bench/bench_*.py; do python $$b || exit 1; done

generate:
	python -m observability generate
	python -m agent_runtime.telemetry.reference > docs/metrics.md

lint:
	python -m ruff check agent_runtime exporters observability tests bench
	python -m mypy
