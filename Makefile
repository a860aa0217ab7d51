# The two commands of the README: `make quickstart` and `make test`.
# Both create .venv on first use and install paretolab with its test extras.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU build of torch; set TORCH_SPEC to install another (e.g. a CUDA build) first.
TORCH_SPEC ?= torch==2.13.0

.PHONY: install quickstart test test-fast clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[test]"
	touch $@

install: $(VENV)/.installed

quickstart: install
	$(VENV)/bin/paretolab run studies/quickstart.yaml

test: install
	$(PY) -m pytest -q -ra

test-fast: install
	$(PY) -m pytest -q -m "not slow and not system"

clean:
	rm -rf $(VENV) reports/quickstart
