"""Tests for pipeline/train.py: reading/converting, a tiny training run, and
the committed NER models (skipped when models/<lang> is missing)."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest
import spacy
from spacy.tokens import DocBin

from pipeline import train as T

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "ner"
EN_SAMPLE = FIXTURES / "en-sample.conllu"
IT_SAMPLE = FIXTURES / "it-sample.tsv"
MODELS = ROOT / "models"


# --------------------------------------------------------------------------- reading


def test_read_conllu_skips_docstart_and_splits_documents():
    docs = T.read_conllu(EN_SAMPLE)
    assert len(docs) == 2  # two -DOCSTART- sections
    assert sum(len(d) for d in docs) == 15
    first = docs[0][0]
    assert first[0] == ("Chelsea", "B-ORG")
    assert ("Enzo", "B-PER") in first and ("Maresca", "I-PER") in first
    assert all(tok != "-DOCSTART-" for d in docs for s in d for tok, _ in s)


def test_read_tsv_sentences():
    docs = T.read_tsv(IT_SAMPLE)
    assert len(docs) == 1 and len(docs[0]) == 15
    assert docs[0][0][:2] == [("Il", "O"), ("Napoli", "B-ORG")]


def test_clean_tags_repairs_iob_and_drops_labels():
    tags = ["I-PER", "I-PER", "O", "I-ORG", "B-MISC", "I-MISC", "B-LOC", "I-ORG"]
    assert T.clean_tags(tags, ("PER", "ORG", "LOC")) == [
        "B-PER", "I-PER", "O", "B-ORG", "O", "O", "B-LOC", "B-ORG"
    ]


def test_sentences_to_docs_groups_and_keeps_entities():
    nlp = spacy.blank("it")
    documents = T.read_tsv(IT_SAMPLE)
    grouped = list(T.sentences_to_docs(nlp.vocab, documents, ("PER", "ORG", "LOC"), group=10))
    assert len(grouped) == 2
    assert len(list(grouped[0].sents)) == 10
    single = list(T.sentences_to_docs(nlp.vocab, documents, ("PER", "ORG", "LOC"), group=1))
    assert len(single) == 15
    assert [(e.text, e.label_) for e in single[0].ents] == [("Napoli", "ORG"), ("Rudi Garcia", "PER")]


def test_italian_conversion_drops_misc(tmp_path):
    src = tmp_path / "x.conllu"
    src.write_text("0\tLa\tO\n1\tSerie\tB-MISC\n2\tA\tI-MISC\n3\tdi\tO\n4\tTorino\tB-LOC\n\n")
    stats = T.convert_file(src, tmp_path / "x.spacy", "it", T.FORMAT_CONLLU, T.LANGS["it"].labels)
    assert stats["entities"] == 1
    doc = next(DocBin().from_disk(tmp_path / "x.spacy").get_docs(spacy.blank("it").vocab))
    assert [(e.text, e.label_) for e in doc.ents] == [("Torino", "LOC")]


# --------------------------------------------------------------------------- smoke training


@pytest.mark.parametrize("lang,sample", [("en", EN_SAMPLE), ("it", IT_SAMPLE)])
def test_smoke_train_convert_train_export_evaluate(tmp_path, monkeypatch, lang, sample):
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.setenv(var, "1")
    corpus = tmp_path / "corpus"
    files = {"train": sample, "dev": sample, "test": sample}
    stats = T.convert(lang, data_dir=FIXTURES, out_dir=corpus, group=5, files=files)
    assert stats["train"]["sentences"] == 15 and stats["test"]["docs"] == 15

    summary = T.train(
        lang,
        corpus_dir=corpus,
        output_dir=tmp_path / "run",
        max_seconds=60,
        overrides={"training.max_steps": 12, "training.eval_frequency": 6},
    )
    assert Path(summary["model_best"]).is_dir()

    model_dir = T.export_model(lang, Path(summary["model_best"]), tmp_path / "model")
    meta = json.loads((model_dir / "meta.json").read_text())
    assert meta["lang"] == lang
    assert meta["pipeline"] == ["tok2vec", "ner"]
    assert meta["name"] == T.MODEL_META[lang]["name"]

    nlp = spacy.load(model_dir)
    assert nlp.lang == lang
    assert set(nlp.get_pipe("ner").labels) <= set(T.LANGS[lang].labels)
    nlp("Una frase qualsiasi." if lang == "it" else "Any sentence at all.")

    scores = T.evaluate(model_dir, corpus / "test.spacy", lang=lang, out=tmp_path / "scores.json")
    assert scores["sentences"] == 15
    assert json.loads((tmp_path / "scores.json").read_text())["ents_f"] == scores["ents_f"]


def test_cli_parser_accepts_commands():
    parser = T.build_parser()
    args = parser.parse_args(["train", "--lang", "it", "--max-seconds", "10", "--set", "training.max_steps=5"])
    assert args.lang == "it" and args.max_seconds == 10
    args = parser.parse_args(["evaluate", "--lang", "en"])
    assert args.func is T._cmd_evaluate


# --------------------------------------------------------------------------- committed models


@functools.lru_cache(maxsize=2)
def _load(lang):
    path = MODELS / lang
    if not (path / "meta.json").exists():
        pytest.skip(f"no committed model in {path}")
    return spacy.load(path)


@pytest.mark.parametrize(
    "lang,text,person",
    [
        ("en", "Chelsea have sacked Enzo Maresca after the defeat.", "Enzo Maresca"),
        ("en", "Tottenham have appointed Thomas Frank as their new head coach.", "Thomas Frank"),
        ("en", "Real Madrid confirmed that Xabi Alonso will take charge next season.", "Xabi Alonso"),
        ("it", "Il Napoli ha esonerato Rudi Garcia dopo la sconfitta.", "Rudi Garcia"),
        ("it", "La Juventus ha annunciato l'arrivo di Thiago Motta in panchina.", "Thiago Motta"),
        ("it", "Il Milan ha scelto Paulo Fonseca come nuovo allenatore.", "Paulo Fonseca"),
    ],
)
def test_committed_model_finds_person(lang, text, person):
    assert person in [e.text for e in _load(lang)(text).ents if e.label_ == "PER"]


@pytest.mark.parametrize("lang", ["en", "it"])
def test_committed_model_meta_and_size(lang):
    path = MODELS / lang
    if not (path / "meta.json").exists():
        pytest.skip(f"no committed model in {path}")
    meta = json.loads((path / "meta.json").read_text())
    assert meta["lang"] == lang and meta["pipeline"] == ["tok2vec", "ner"]
    assert T.dir_size(path) < 30 * 1024 * 1024
    assert (path / "test-scores.json").exists()
