# The two commands of the README: `make quickstart` and `make test`.
# Both create .venv on first use and install paretolab with its test extras (every optional
# part: PostgreSQL, the solver-backed balancers, and the linters).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU build of torch; set TORCH_SPEC to install another (e.g. a CUDA build) first.
TORCH_SPEC ?= torch==2.13.0

.PHONY: install quickstart test test-fast lint clean

# The pip that comes with Python is used as it is (no upgrade), as a user's would be:
# .ci/run checks that a plain `pip install '.[solvers]'` with it brings every balancer.
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[test]"
	touch $@

install: $(VENV)/.installed

quickstart: install
	$(VENV)/bin/paretolab run studies/quickstart.yaml

# the whole suite, with the slow (multi-process) and system (PostgreSQL, browser) tests, on
# TEST_PROCS pytest-xdist processes, each test file on one of them (--dist loadfile): a file's
# module fixtures are built once, and the worker and fault tests (tests/test_workers.py: timed
# heartbeats and signals, one PostgreSQL server) run one after another as they would alone.
# TEST_PROCS=0 runs everything in this one process. The 25 slowest tests are listed at the end.
TEST_PROCS ?= 2
test: install
	$(PY) -m pytest -q -ra --durations=25 -n $(TEST_PROCS) --dist loadfile

# what runs in under a minute on 2 cores: no test marked slow or system
test-fast: install
	$(PY) -m pytest -q -m "not slow and not system"

# ruff and the type check of the public API (configured in pyproject.toml)
lint: install
	$(VENV)/bin/ruff check paretolab tests benchmarks
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) reports/quickstart
