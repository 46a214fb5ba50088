# Thin layer over the CLI (python -m pipeline). `make extract` and `make test` create
# the virtual environment when it is missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
IN ?= corpus
OUT ?= outputs
SHARED ?= ../shared

.PHONY: extract test evaluate kb train-ner clean help

help:
	@echo "make extract [IN=folder OUT=folder]   run the pipeline (default: corpus -> outputs)"
	@echo "make test                               run the whole test suite"
	@echo "make evaluate                           score corpus/ and ../shared/seeds against their gold"
	@echo "make kb                                 regenerate pipeline/kb/entities.jsonl"
	@echo "make train-ner [LANG=en|it|all]         train the NER models into models/"

$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

extract: $(VENV)/.installed
	$(PY) -m pipeline extract --in "$(IN)" --out "$(OUT)"

test: $(VENV)/.installed
	$(PY) -m pytest -q

evaluate: $(VENV)/.installed
	$(PY) -m pipeline.evaluate --shared "$(SHARED)"

kb: $(VENV)/.installed
	$(PY) -m pipeline.kb.build

# LANG is also the locale variable: only a value given on the command line (or "all")
# selects languages; anything inherited from the environment means both.
NER_LANGS := $(if $(filter command line,$(origin LANG)),$(if $(filter all,$(LANG)),en it,$(LANG)),en it)
NER_ENV := LANG=C.UTF-8 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1

train-ner: $(VENV)/.installed
	@for l in $(NER_LANGS); do \
	  case $$l in en|it) ;; *) echo "LANG must be en, it or all (got $$l)"; exit 2;; esac; \
	  $(NER_ENV) $(PY) -m pipeline.train all --lang $$l --data-dir "$(SHARED)/data/ner" --export models/$$l || exit 1; \
	done

clean:
	rm -rf $(OUT)/work $(OUT)/*.csv
