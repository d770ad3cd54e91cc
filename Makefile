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
# make report: the class report of batch records (docs/class-report.md)
RESULTS ?= results.jsonl
SUBMISSIONS ?=
OUT ?= class-report

.PHONY: venv dev grade check test fuzz slurm-test report regen warm validate bench handout gradescope prairielearn platform-test clean

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

# A real one-node SLURM cluster (root; installs slurm-wlm and munge if missing): `grader slurm` with a
# task cancelled and rerun must give the gradebook of a plain batch. Not part of `make test`.
slurm-test: venv
	tests/slurm/run.sh $(CURDIR)

# matplotlib and copydetect live in .dev-site, so the report runs with it on PYTHONPATH like the tests.
report: dev
	$(WITH_DEV) $(PY) -m grader report $(RESULTS) $(if $(SUBMISSIONS),--submissions $(SUBMISSIONS)) --out $(OUT) $(ARGS)

# The in-process fuzz test with a long budget (make test runs it with FUZZ_EXAMPLES=20).
FUZZ_EXAMPLES ?= 2000
fuzz: dev
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(WITH_DEV) $(PY) -m pytest -n 0 -q tests/test_fuzz.py -k "not end_to_end" $(ARGS)

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
