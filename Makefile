# make report   set up .venv, train a default checkpoint if none is given, write build/report.{html,pdf}
# make test     set up .venv and run the tests (make test-fast: the quick ones)
# Variables: CHECKPOINT=path  DATA=folder  MODEL=source  CLASSES="6 7"  PER_CLASS=2  IMAGE_INDEX=n  SECTIONS=all  DEVICE=auto  OUT=build  ARGS="..."

PYTHON      ?= python3.11
VENV        := .venv
PY          := $(VENV)/bin/python
STAMP       := $(VENV)/.installed
OUT         ?= build
export MPLBACKEND := Agg

REPORT_ARGS := --out $(OUT) \
	$(if $(CHECKPOINT),--checkpoint $(CHECKPOINT)) \
	$(if $(DATA),--data $(DATA)) \
	$(if $(MODEL),--model $(MODEL)) \
	$(if $(CLASSES),--classes $(CLASSES)) \
	$(if $(DIGITS),--classes $(DIGITS)) \
	$(if $(PER_CLASS),--per-class $(PER_CLASS)) \
	$(if $(IMAGE_INDEX),--image-index $(IMAGE_INDEX)) \
	$(if $(SECTIONS),--sections $(SECTIONS)) \
	$(if $(DEVICE),--device $(DEVICE)) \
	$(ARGS)

.PHONY: help setup report html pdf test test-fast clean distclean
.DELETE_ON_ERROR:

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "installing pinned dependencies into $(VENV) (about a minute; log in $(VENV)/pip.log)"
	$(PY) -m pip install --disable-pip-version-check -r requirements-dev.txt > $(VENV)/pip.log 2>&1 \
		|| { tail -n 30 $(VENV)/pip.log; exit 1; }
	$(PY) -c "import torch, torchvision, weasyprint, jinja2, mlxtend, pytest, pypdf"
	touch $@

setup: $(STAMP)  ## create .venv and install the pinned dependencies

report: $(STAMP)  ## analyse (training a default checkpoint if none is given) and render HTML + PDF
	$(PY) -m report $(REPORT_ARGS)

html: $(STAMP)  ## re-render build/report.html from the last store (no analysis, no torch)
	$(PY) -m report render --out $(OUT) --format html

pdf: $(STAMP)  ## re-render build/report.pdf from the last store (no analysis, no torch)
	$(PY) -m report render --out $(OUT) --format pdf

# Tests run in TEST_WORKERS processes (pytest-xdist; `auto`: one per core), each test file on one of them (its
# module fixtures built once); the builds several files read are made once per run (tests/conftest.py).
# Bytecode is cached while testing even where the environment sets PYTHONDONTWRITEBYTECODE: otherwise every
# worker rewrites every test module and every command of the suite compiles this tool's modules again (an empty
# value unsets it for Python; __pycache__ folders are ignored by git).
# Each worker's commands run torch on one thread (REPORT_THREADS=1, OMP_NUM_THREADS=1 for the workers' own
# torch): two workers on two cores with two threads each put four threads on two cores, and a thread waiting
# at a barrier for one that is not running spins (the suite took a third more CPU). The tests that are about
# the default number of threads clear the variable.
TEST_WORKERS ?= auto
TEST_THREADS ?= 1
PYTEST_PARALLEL = -n $(TEST_WORKERS) --dist loadfile
PYTEST = PYTHONDONTWRITEBYTECODE= REPORT_THREADS=$(TEST_THREADS) OMP_NUM_THREADS=$(TEST_THREADS) $(PY) -m pytest -q

test: $(STAMP)  ## run the whole test suite (7 to 13 minutes on 2 cores, by the machine)
	$(PYTEST) $(PYTEST_PARALLEL) $(PYTEST_ARGS)

test-fast: $(STAMP)  ## run the tests not marked slow (about 80 seconds): the loop while editing
	$(PYTEST) -m "not slow" $(PYTEST_PARALLEL) $(PYTEST_ARGS)

clean:  ## remove what the tool wrote in the build folder (nothing else; refused for unmarked folders)
	$(if $(wildcard $(PY)),$(PY),$(PYTHON)) -m report clean --out $(OUT)

distclean: clean  ## remove the build folder and .venv
	rm -rf $(VENV)
