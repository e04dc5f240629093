# Shortcuts for the scripts the README names (make is optional; the scripts need only bash).
.PHONY: setup test demo bench clean

setup:
	./scripts/setup.sh

test:
	./scripts/test.sh

demo:
	./scripts/demo.sh

bench: setup
	.venv/bin/python tests/bench/bench_ledger.py --repeat 3

clean:
	rm -rf demo .venv .pytest_cache .mypy_cache .ruff_cache *.egg-info
