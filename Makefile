# Thin layer over the CLI (python -m pipeline). `make extract` and `make test` create
# the virtual environment when it is missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
IN ?= corpus
OUT ?= outputs
SHARED ?= ../shared
LANG ?= all

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

clean:
	rm -rf $(OUT)/work $(OUT)/*.csv
