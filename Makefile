# Thin layer over the CLI (python -m pipeline). `make extract` and `make test` create
# the virtual environment when it is missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
IN ?= corpus
OUT ?= outputs
SHARED ?= ../shared
RULE_SOURCES := $(wildcard pipeline/rules/*/*.yml)
COMPILED_RULES := models/rules/en/calcio_rules/rules.json models/rules/it/calcio_rules/rules.json

.PHONY: extract test evaluate kb rules train-ner bench clean help

help:
	@echo "make extract [IN=folder OUT=folder WORKERS=n]  run the pipeline (default: corpus -> outputs)"
	@echo "make test                               run the whole test suite"
	@echo "make evaluate [ERRORS=1]                score corpus/, ../shared/seeds (and dev) against their gold"
	@echo "make kb                                 regenerate pipeline/kb/entities.jsonl"
	@echo "make rules                              check pipeline/rules and compile them into models/rules"
	@echo "make train-ner [LANG=en|it|all]         train the NER models into models/"
	@echo "make bench [ARTICLES=5000 OUT=outputs/bench]  speed and memory on a synthetic corpus"

$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

extract: $(VENV)/.installed $(COMPILED_RULES)
	$(PY) -m pipeline extract --in "$(IN)" --out "$(OUT)" $(if $(WORKERS),--workers $(WORKERS))

test: $(VENV)/.installed
	$(PY) -m pytest -q

# ERRORS=1 also lists the missed and spurious triples of every corpus.
evaluate: $(VENV)/.installed
	$(PY) -m pipeline.evaluate --shared "$(SHARED)" $(if $(ERRORS),--errors)

# Proposes relation rules for the gold triples the pipeline misses (nothing is written to
# pipeline/rules): ranked list on stdout, entries to paste in outputs/suggested-rules.yml.
.PHONY: suggest-rules
suggest-rules: $(VENV)/.installed
	$(PY) -m pipeline.suggest --shared "$(SHARED)"

kb: $(VENV)/.installed
	$(PY) -m pipeline.kb.build

# `make rules` always checks; `make extract` recompiles when a rule file is newer.
rules: $(VENV)/.installed
	$(PY) -m pipeline.rulebook

$(COMPILED_RULES) &: $(RULE_SOURCES) | $(VENV)/.installed
	$(PY) -m pipeline.rulebook

# LANG is also the locale variable: only a value given on the command line (or "all")
# selects languages; anything inherited from the environment means both.
NER_LANGS := $(if $(filter command line,$(origin LANG)),$(if $(filter all,$(LANG)),en it,$(LANG)),en it)
NER_ENV := LANG=C.UTF-8 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1

train-ner: $(VENV)/.installed
	@for l in $(NER_LANGS); do \
	  case $$l in en|it) ;; *) echo "LANG must be en, it or all (got $$l)"; exit 2;; esac; \
	  $(NER_ENV) $(PY) -m pipeline.train all --lang $$l --data-dir "$(SHARED)/data/ner" --export models/$$l || exit 1; \
	done

# Fine-tune models/<lang> on our own sentences (EXTRA/<lang>.jsonl, held out: <lang>-heldout.jsonl);
# the model is replaced only if its test F1 holds (MAX_DROP, see models/README.md).
EXTRA ?= corpus/ner
.PHONY: retrain-ner
retrain-ner: $(VENV)/.installed
	$(NER_ENV) $(PY) -m pipeline.train retrain $(foreach l,$(NER_LANGS),--lang $(l)) --extra "$(EXTRA)" \
	  --data-dir "$(SHARED)/data/ner" $(if $(MAX_DROP),--max-drop $(MAX_DROP))

# OUT only when given on the command line: the bench has its own folder by default.
ARTICLES ?= 5000
BENCH_OUT := $(if $(filter command line,$(origin OUT)),$(OUT),outputs/bench)

bench: $(VENV)/.installed
	$(PY) -m pipeline.bench --articles $(ARTICLES) --out "$(BENCH_OUT)"

clean:
	rm -rf $(OUT)/work $(OUT)/*.csv
