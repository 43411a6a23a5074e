# Thin aliases; the scripts and modules they call are the source of truth.
.PHONY: demo test bench generate lint

demo:
	scripts/demo

test:
	scripts/test

# Every benchmark (about 6 minutes on the standard machine), then docs/performance.md from their results.
bench:
	for b in bench/bench_*.py; do PYTHONPATH=. python $$b || exit 1; done
	python bench/report.py

generate:
	python -m observability generate
	python -m agent_runtime.telemetry.reference > docs/metrics.md

lint:
	python -m ruff check agent_runtime exporters observability tests bench
	python -m mypy
