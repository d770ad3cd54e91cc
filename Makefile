# Two commands do everything on a fresh machine: `make grade` and `make test` (README).
# Both build .venv from requirements.lock on first use, with the system Python so that the
# sandbox's unprivileged user can run it.
PYTHON_SYS ?= $(shell test -x /usr/bin/python3 && echo /usr/bin/python3 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
SUBMISSION ?= reference/solution.py
JOBS ?= auto
ARGS ?=

.PHONY: venv grade check test regen warm validate bench handout gradescope prairielearn clean

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.lock
	@test -n "$(PYTHON_SYS)" || { echo "error: no python3 found (need Python 3.11+)" >&2; exit 2; }
	$(PYTHON_SYS) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	@touch $@

grade: venv
	$(PY) -m grader grade $(SUBMISSION) $(ARGS)

check: venv
	$(PY) -m grader check $(SUBMISSION)

test: venv
	$(PY) -m pytest -n $(JOBS) -q $(ARGS)

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

clean:
	rm -rf dist .pytest_cache
