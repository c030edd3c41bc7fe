# The two commands: `make demo` builds the example project end to end; `make test` runs the tests.
.PHONY: demo demo-people loop-demo test test-fast setup bench lint lock upgrade-deps ci-demo

# Where pip and uv find the CPU build of torch (this machine keeps it on disk).
TORCH_WHEELS ?= /opt/wheels
LOCK_FLAGS = --all-extras --generate-hashes --python-version 3.11 \
	--python-platform x86_64-manylinux_2_28 --find-links $(TORCH_WHEELS) --quiet

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

# requirements.lock from pyproject.toml, keeping every version that still satisfies it.
lock: .venv/bin/uv
	.venv/bin/uv pip compile pyproject.toml $(LOCK_FLAGS) -o requirements.lock

# Move every dependency to the newest release pyproject.toml allows, then prove it with the tests.
upgrade-deps: .venv/bin/uv
	.venv/bin/uv pip compile pyproject.toml $(LOCK_FLAGS) --upgrade -o requirements.lock
	rm -f .venv/.installed
	$(MAKE) test

.venv/bin/uv:
	test -x .venv/bin/python || python3 -m venv .venv
	.venv/bin/python -m pip install -q "uv>=0.9,<1"

# What CI proves beyond the tests: the committed lock rebuilds the demo, bit for bit.
ci-demo: setup
	.venv/bin/python examples/make_images.py
	.venv/bin/imagineer build --frozen
	git diff --exit-code imagineer.lock
	.venv/bin/imagineer verify shapes-style shapes-deck
