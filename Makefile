# The two commands: `make demo` builds the example project end to end; `make test` runs the tests.
.PHONY: demo loop-demo test test-fast setup bench lint

setup:
	./scripts/setup.sh

demo: setup
	.venv/bin/python examples/make_images.py
	.venv/bin/imagineer schema --out imagineer.schema.json
	.venv/bin/imagineer build
	@echo "outputs: $(CURDIR)/out/"

# The self-improving loop (examples/loop) on the tiny models: generate, score, select, train, compare.
loop-demo: setup
	cd examples/loop && ../../.venv/bin/imagineer build
	cd examples/loop && ../../.venv/bin/imagineer show round-2-q
	@echo "outputs: $(CURDIR)/examples/loop/out/"

test: setup
	.venv/bin/python -m pytest -q

test-fast: setup
	.venv/bin/python -m pytest -q -m "not slow"

lint: setup
	.venv/bin/ruff check imagineer_build tests bench examples

bench: setup
	.venv/bin/python bench/run_all.py
