# Two commands do everything on a fresh machine: `make demo` and `make test`.
# Setup is idempotent: a second run with everything in place starts its real work within seconds.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup browser redis demo test lint typecheck check bench clean

setup: $(STAMP) browser redis

# Reinstall only when the project's metadata changes.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev,tokens]'
	@touch $(STAMP)

# A Chromium must exist: OPERATOR_AGENT_CHROMIUM, Playwright's own browser, or Debian's chromium.
# Browser downloads (`playwright install`) are not possible everywhere, so fall back to the distro package.
browser: $(STAMP)
	@if ! $(PY) -m operator_agent.browser >/dev/null 2>&1; then \
		echo "No Chromium found: installing Debian's chromium package"; \
		if [ "$$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi; \
		$$sudo apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
		$(PY) -m operator_agent.browser; \
	fi

# The scale-out tests start their own redis-server on a free loopback port; it must be installed.
redis:
	@if ! command -v redis-server >/dev/null 2>&1; then \
		echo "Installing Debian's redis-server package (for the scale-out tests)"; \
		if [ "$$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi; \
		$$sudo apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends redis-server >/dev/null; \
	fi

# The flagship example (one invoice, with an approval pause), then a small month-end batch.
demo: setup
	$(PY) examples/invoice_demo.py
	$(PY) examples/batch_demo.py

test: setup
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check operator_agent tests examples bench skills
	$(VENV)/bin/ruff format --check operator_agent tests examples bench skills

typecheck: $(STAMP)
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy --strict --explicit-package-bases skills

check: lint typecheck test

bench: setup
	$(PY) bench/observe.py
	$(PY) bench/history.py
	$(PY) bench/skills.py
	$(PY) bench/batch.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist
