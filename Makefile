# charlm: `make book` builds the site into _build/html; `make test` runs the tests.
# Both set up .venv from requirements/lock.txt on first use, and again only when the pins change.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
NAMES := data/names.txt
SURNAMES := data/surnames.txt
HTML := _build/html
PORT ?= 8000

.PHONY: help book chapter test bench data lint format serve clean distclean venv lock check-site pdf

help:
	@echo "make book    build the site into $(HTML) (sets up .venv and the data first)"
	@echo "make chapter CH=01_bigram   build one chapter alone into _build/_page/"
	@echo "make test    run the tests (pytest, doctests included)"
	@echo "make pdf     the whole book as one PDF, _build/latex/charlm.pdf, linked from the site"
	@echo "make check-site   open every page of $(HTML) in headless Chromium and check it"
	@echo "make data    fetch and verify $(NAMES) (from \$$CHARLM_NAMES or its URL)"
	@echo "make bench   time the book's builds, the training loop and the manual backward (_build/bench/)"
	@echo "make lint    ruff check and format check"
	@echo "make serve   serve $(HTML) on http://127.0.0.1:$(PORT)"
	@echo "make clean   remove _build (keeps .venv and the data)"

venv: $(INSTALLED)

# the stamp is newer than the pins until they change; then pip installs what differs.
# torch first, the build that fits the machine (tools/install_torch.py: the CPU build on Linux)
$(INSTALLED): requirements/lock.txt pyproject.toml tools/install_torch.py
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python tools/install_torch.py
	$(BIN)/python -m pip install --quiet --disable-pip-version-check \
		-c requirements/lock.txt -e ".[book,test,site]"
	@touch $@

# always re-verified (a sha256 of 228 kB); a verified file is kept, a bad one never written.
# surnames.txt (the command's page) comes from PyPI's `names` archive, through pip.
# charlm.fetch needs only the standard library, so this runs (and fails fast) before any install.
data:
	@$(PYTHON) -m charlm.fetch $(NAMES)
	@$(PYTHON) -m charlm.fetch --surnames $(SURNAMES)

book: data $(INSTALLED)
	@rm -rf $(HTML)/reports
	@bash tools/build.sh $(BIN)/jupyter-book . $(HTML)
	@echo "make book: the site is in $(HTML)/index.html"

# one chapter alone (same settings, its own cache): make chapter CH=01_bigram
chapter: data $(INSTALLED)
	@test -n "$(CH)" -a -f "book/$(CH).md" || { echo "usage: make chapter CH=01_bigram (a file in book/)" >&2; exit 1; }
	@bash tools/build.sh $(BIN)/jupyter-book book/$(CH).md _build/_page/book-$(CH)/html
	@echo "make chapter: book/$(CH).md is in _build/_page/book-$(CH)/html/"

# full-dataset tests run when the data can be fetched, and are skipped (with a reason) when not
test: $(INSTALLED)
	@$(PYTHON) -m charlm.fetch $(NAMES) || echo "make test: no $(NAMES); full-dataset tests will be skipped"
	@$(PYTHON) -m charlm.fetch --surnames $(SURNAMES) || echo "make test: no $(SURNAMES); its test will be skipped"
	$(BIN)/python -m pytest

# the whole book as one PDF (XeLaTeX through sphinx-jupyterbook-latex; TeX from Debian's
# packages, installed once by tools/install-tex.sh). It reuses the execution cache: after
# `make book` no chapter runs again. The site is then re-written to link to the PDF (no
# chapter runs either), and tests/test_pdf.py checks its pages and a few of its numbers.
pdf: data $(INSTALLED)
	bash tools/install-tex.sh
	$(BIN)/jupyter-book build . --builder pdflatex --warningiserror --keep-going
	$(BIN)/jupyter-book build . --warningiserror --keep-going >/dev/null
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/test_pdf.py
	@echo "make pdf: the PDF is _build/latex/charlm.pdf, and $(HTML)/charlm.pdf on the site"

# the built site as a reader sees it: console errors, images and their alt text, math, glue,
# links, code blocks that fit at desktop width, phone width, and an axe-core accessibility audit
# in light and dark mode (axe-core pinned in tools/axe/package-lock.json, installed with
# Chromium by tools/install-browser.sh); serious and critical violations fail the page.
# Screenshots of every chapter go to _build/screenshots, the report to _build/site-check.json
check-site: $(INSTALLED)
	@test -f $(HTML)/index.html || { echo "make check-site: no $(HTML)/index.html: run make book first" >&2; exit 1; }
	bash tools/install-browser.sh
	$(BIN)/python tools/check_site.py $(HTML) --screenshots _build/screenshots

# timings are benchmarks, never tests: run alone on an idle machine. The build benchmark
# (clean, warm, prose-edit and charlm-edit builds; each chapter) comes first: it empties _build.
bench: data $(INSTALLED)
	$(BIN)/python bench/build.py
	$(BIN)/python bench/train_step.py
	$(BIN)/python bench/backprop_step.py
	$(BIN)/python bench/cli_train.py
	$(BIN)/python bench/cli_train.py --model gru --target 1.96 --eval-every 100 \
		--out _build/bench/cli_train_gru.json
	$(BIN)/python bench/cli_train.py --model gru --members 3 --split makemore --target 1.92 \
		--out _build/bench/cli_train_makemore.json

lint: $(INSTALLED)
	$(BIN)/ruff check charlm tests bench book/_ext tools
	$(BIN)/ruff format --check charlm tests bench book/_ext tools

format: $(INSTALLED)
	$(BIN)/ruff check --fix charlm tests bench book/_ext tools
	$(BIN)/ruff format charlm tests bench book/_ext tools

serve:
	@test -f $(HTML)/index.html || { echo "no site yet: run make book" >&2; exit 1; }
	$(PYTHON) -m http.server $(PORT) --bind 127.0.0.1 --directory $(HTML)

clean:
	rm -rf _build

distclean: clean
	rm -rf $(VENV) $(NAMES)

# re-resolve the pins in a throw-away venv (torch stays at the CPU build of 2.13.0)
lock:
	rm -rf _build/lock-venv && $(PYTHON) -m venv _build/lock-venv
	_build/lock-venv/bin/python -m pip install --quiet "torch==2.13.0" ".[book,test,site]"
	{ sed -n '1,3p' requirements/lock.txt; _build/lock-venv/bin/python -m pip freeze --exclude charlm \
		| sed 's/^torch==2.13.0+cpu$$/torch==2.13.0/'; } > requirements/lock.txt.new
	mv requirements/lock.txt.new requirements/lock.txt
	rm -rf _build/lock-venv
