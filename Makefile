# One target per check. Every target that needs Python depends on `venv`,
# so a fresh clone needs nothing but `make demo` or `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv test demo bench lint typecheck clean

venv: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.11"; exit 1; }
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c requirements.lock -e '.[spark,test]'
	touch $(STAMP)

test: venv
	$(BIN)/pytest -q -n 2 --dist loadfile

demo: venv
	$(BIN)/churn demo

bench: venv
	$(BIN)/python -m bench

lint: venv
	$(BIN)/ruff check .

typecheck: venv
	$(BIN)/mypy features training serving churn

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache demo_output mlruns
