# Two commands do all the set-up on a fresh machine:
#   make test        everything CI checks
#   make reproduce   the smoke-profile reproduction on the built-in SynthSurg data set
# and two for the tutorials: make outputs (execute the module notebooks in place), make docs (HTML in _docs/)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PIP := $(BIN)/pip install --disable-pip-version-check -c constraints.txt
export HF_HUB_OFFLINE := 1
export PYTHONUNBUFFERED := 1

.PHONY: test reproduce sync-check nbtest pytest venv clean-venv browser-deps outputs docs

venv: $(STAMP)

# torch first, with the build pinned; then the package and its dev extras under the same pins.
$(STAMP): settings.ini setup.py pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q --upgrade pip wheel setuptools
	$(PIP) torch==2.14.1 torchvision==0.29.1
	$(PIP) -e ".[dev]"
	$(BIN)/pip check
	touch $(STAMP)

# notebooks clean and library in sync: nbdev_clean / nbdev_export must change no file
sync-check: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH bash .ci/check_sync.sh

# tests make temporary folders (tempfile.mkdtemp in the notebooks, pytest's tmp_path); each target puts them in one
# folder of its own, removed afterwards, so repeated runs do not fill the disk
nbtest: $(STAMP)
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	TMPDIR=$$tmp OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/nbdev_test --n_workers 2 --timing

pytest: $(STAMP) browser-deps
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	TMPDIR=$$tmp $(BIN)/python -m pytest tests/ -q -ra

browser-deps:
	@bash .ci/browser_deps.sh

test: sync-check nbtest pytest

reproduce: $(STAMP)
	$(BIN)/simgen-nb reproduce --profile smoke

# execute every module notebook (nbs/*.ipynb) in place, keep the outputs, clean them: commit nbs/ afterwards
outputs: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python tools/execute_notebooks.py --jobs $(or $(JOBS),1)
	PATH=$(CURDIR)/$(BIN):$$PATH bash .ci/check_sync.sh

# static HTML of every notebook (module and experiment) with an index page, in _docs/ (nothing is executed)
docs: $(STAMP)
	$(BIN)/python tools/build_docs.py

clean-venv:
	rm -rf $(VENV)
