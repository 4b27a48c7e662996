# The two commands of the README:
#   make book   creates the environment, executes every notebook at PRESET (default smoke) into
#               book/, and builds the HTML book in _build/html
#   make test   creates the environment and runs the test suite (unit tests, nbval, book build)
PYTHON ?= python3
VENV   ?= .venv
PRESET ?= smoke
# PyPI's torch with its matching torchvision (the preinstalled CPU wheel breaks torchvision).
TORCH  ?= torch==2.14.1 torchvision==0.29.1
PY      = $(VENV)/bin/python

.PHONY: install book pages html test bench publish clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python >= 3.11 is needed"'
	@$(PYTHON) -m venv $(VENV) || { echo "could not create a virtual environment: install python3-venv (apt-get install python3-venv)"; exit 1; }
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH) -e ".[test]"
	touch $@

# A page that cannot run never stops the HTML build: it keeps its previous version and book/status.md
# says why (make reports the failed `pages` step as ignored).
book: install
	-@$(MAKE) --no-print-directory pages
	@$(MAKE) --no-print-directory html

pages: install
	$(PY) -m reprolib run all --preset $(PRESET) || { $(PY) -m reprolib status --write book/status.md; exit 1; }
	$(PY) -m reprolib status --write book/status.md

html: install
	$(VENV)/bin/jupyter-book build book --path-output . --warningiserror --quiet

# Publish the built book to the gh-pages branch of this clone's origin (for hosting outside GitHub Actions,
# copy _build/html anywhere). The GitHub Pages workflow (.github/workflows/book.yml) does this on push.
publish: html
	$(PY) -m pip install --quiet ghp-import
	$(VENV)/bin/ghp-import --no-jekyll --push --force _build/html

test: install
	$(PY) -m pytest

# The benchmark suite (bench/): BENCH_SIZE=ci (minutes on a CPU) or full (the issue's shapes, for a GPU);
# writes bench/results/<device>-<size>.json and regenerates book/performance.md.
BENCH_SIZE ?= ci
bench: install
	$(PY) -m bench run --size $(BENCH_SIZE)

clean:
	rm -rf _build $(VENV)
