# The two commands of the README: `make demo` and `make test`.
# Both bootstrap the environment first (scripts/setup.sh is idempotent and fast when done).
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO_OUT ?= runs/demo

.PHONY: setup demo test clean

setup:
	@bash scripts/setup.sh $(VENV)

demo: setup
	@$(VENV)/bin/clsp demo --out $(DEMO_OUT)

test: setup
	@$(PY) -m pytest -q tests

clean:
	rm -rf $(VENV) runs .pytest_cache
