# The two commands: `make report` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.segkit-installed
PROFILE ?= quick

.PHONY: setup report test browser clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

# Chromium renders the PDF report and drives the browser tests; install it when we can.
browser:
	@if ! command -v chromium >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get install -y -qq chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium)) || echo "warning: could not install chromium"; \
	  else echo "note: chromium not found; the PDF export and browser tests need it (see README)"; fi; \
	fi

report: setup browser
	$(VENV)/bin/segkit report --profile $(PROFILE)

test: setup browser
	$(PY) -m pytest -n 2 --dist loadgroup

clean:
	rm -rf reports runs data
