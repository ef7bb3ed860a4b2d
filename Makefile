# The two commands: `make report` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.segkit-installed
PROFILE ?= quick
# Some containers set PYTHONDONTWRITEBYTECODE: then every Python process (a report starts one kernel per
# notebook, the suite about seventy processes) compiles segkit's sources again, 0.5-1 s each. The two
# commands let Python cache the bytecode in this checkout's __pycache__ folders (git ignores them).
BYTECODE := PYTHONDONTWRITEBYTECODE=

.PHONY: setup report test browser clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

# Chromium renders the PDF report and drives the browser tests; pdftoppm/pdftotext (poppler-utils)
# let the tests look at the PDF pages; a CJK font draws the Chinese paragraphs (without one they
# are empty boxes). Installed when we can (root + apt-get), otherwise a note.
BROWSER_PKGS := $(if $(shell command -v chromium),,chromium) $(if $(shell command -v pdftoppm),,poppler-utils) \
                $(if $(shell fc-list :lang=zh family 2>/dev/null | head -n 1),,fonts-noto-cjk)
browser:
	@for pkg in $(BROWSER_PKGS); do \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get install -y -qq $$pkg >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq $$pkg)) || echo "warning: could not install $$pkg"; \
	  else echo "note: $$pkg not found; the PDF export and browser tests need it (see README, Developing)"; fi; \
	done

report: setup browser
	$(BYTECODE) $(VENV)/bin/segkit report --profile $(PROFILE)

test: setup browser
	$(BYTECODE) $(PY) -m pytest -n 2 --dist loadfile --no-loadscope-reorder

clean:
	rm -rf reports runs data
