# Two commands do everything on a fresh machine: `make grade` and `make test` (README).
# Both build .venv from requirements.lock on first use, with the system Python so that the
# sandbox's unprivileged user can run it.
PYTHON_SYS ?= $(shell test -x /usr/bin/python3 && echo /usr/bin/python3 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
# Test- and report-only packages live beside the venv (requirements-dev.lock), on the grader's
# PYTHONPATH only: the sandboxed children (which run -I with a whitelisted environment and see the
# venv alone) can never import them.
DEV := .dev-site
WITH_DEV := PYTHONPATH=$(CURDIR)/$(DEV)
SUBMISSION ?= reference/solution.py
JOBS ?= auto
ARGS ?=

.PHONY: venv dev grade check test regen warm validate bench handout gradescope prairielearn platform-test clean

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.lock
	@test -n "$(PYTHON_SYS)" || { echo "error: no python3 found (need Python 3.11+)" >&2; exit 2; }
	$(PYTHON_SYS) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	@touch $@

dev: venv $(DEV)/.installed

$(DEV)/.installed: requirements-dev.lock $(VENV)/.installed
	rm -rf $(DEV)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --target $(DEV) -r requirements-dev.lock
	@touch $@

grade: venv
	$(PY) -m grader grade $(SUBMISSION) $(ARGS)

check: venv
	$(PY) -m grader check $(SUBMISSION)

test: dev
	$(WITH_DEV) $(PY) -m pytest -n $(JOBS) -q $(ARGS)

regen: venv
	$(PY) -m grader regen

warm: venv
	$(PY) -m grader warm

validate: venv
	$(PY) -m grader validate $(ARGS)

bench: venv
	$(PY) tools/bench.py $(ARGS)

handout gradescope prairielearn: venv
	$(PY) tools/build.py $@

# Builds both platform packages and grades examples with them in real Docker (a private dockerd, a
# debootstrapped base; root; docs/platforms.md). Not part of `make test`: .ci/run calls it after.
platform-test: gradescope prairielearn
	$(PY) tools/platform_test

clean:
	rm -rf dist .pytest_cache $(DEV)
