# One target per check. Every target that needs Python depends on `venv`,
# so a fresh clone needs nothing but `make demo` or `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv test demo bench lint typecheck clean browser

venv: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.11"; exit 1; }
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c requirements.lock -e '.[spark,test]'
	touch $(STAMP)

# Headless Chromium + chromedriver for the risk-list page's browser test (tests/test_page_browser.py).
# Installed with apt-get when missing and possible; otherwise a message, and that test skips.
browser:
	@if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing chromium and chromium-driver for the browser test"; \
	  { DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 || \
	    { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >/dev/null 2>&1; }; } || \
	  echo "could not install chromium: the browser test will be skipped"; \
	else echo "chromium/chromedriver missing and apt-get not usable as root: the browser test will be skipped"; fi

test: venv browser lint typecheck
	$(BIN)/pytest -q -n 2 --dist loadfile

demo: venv
	$(BIN)/churn demo

# The benchmarks compare with shap, which only they use: the `bench` extra, installed on first use.
bench: venv
	$(BIN)/python -c "import shap" 2>/dev/null || $(BIN)/pip install --quiet -c requirements.lock -e '.[bench]'
	$(BIN)/python -m bench

# ruff's lint rules and its formatter, and mypy; `make test` runs all three, so CI enforces them.
lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy features simulator training serving churn

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache demo_output mlruns
