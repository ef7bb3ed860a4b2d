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

# Chromium renders the PDF report and drives the browser tests; pdftoppm (poppler-utils) lets the
# tests look at the PDF pages. Installed when we can (root + apt-get), otherwise a note.
BROWSER_PKGS := $(if $(shell command -v chromium),,chromium) $(if $(shell command -v pdftoppm),,poppler-utils)
browser:
	@pkgs="$(strip $(BROWSER_PKGS))"; if [ -n "$$pkgs" ]; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get install -y -qq $$pkgs >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq $$pkgs)) || echo "warning: could not install $$pkgs"; \
	  else echo "note: $$pkgs not found; the PDF export and browser tests need them (see README)"; fi; \
	fi

report: setup browser
	$(VENV)/bin/segkit report --profile $(PROFILE)

test: setup browser
	$(PY) -m pytest -n 2 --dist loadgroup

clean:
	rm -rf reports runs data
