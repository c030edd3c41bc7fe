# The two commands: `make demo` builds the example project end to end; `make test` runs the tests.
.PHONY: demo demo-people test test-fast setup bench lint

setup:
	./scripts/setup.sh

demo: setup
	.venv/bin/python examples/make_images.py
	.venv/bin/imagineer schema --out imagineer.schema.json
	.venv/bin/imagineer build
	@echo "outputs: $(CURDIR)/out/"

demo-people: setup
	.venv/bin/python examples/people/make_photos.py
	cd examples/people && ../../.venv/bin/imagineer build
	@echo "outputs: $(CURDIR)/examples/people/out/"

test: setup
	.venv/bin/python -m pytest -q

test-fast: setup
	.venv/bin/python -m pytest -q -m "not slow"

lint: setup
	.venv/bin/ruff check imagineer_build tests bench examples

bench: setup
	.venv/bin/python bench/run_all.py
