"""Tests for pipeline/train.py: reading/converting, a tiny training run, the
committed NER models (skipped when models/<lang> is missing), and retraining on
our own sentences (checks of the JSONL files, a tiny fine-tune on a temp copy)."""

from __future__ import annotations

import functools
import json
import shutil
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


# --------------------------------------------------------------------------- our own sentences (retrain)


def _line(text, *spans):
    """A JSONL line marking each (surface, label) at its first occurrence in text."""
    marked = []
    for surface, label in spans:
        start = text.index(surface)
        marked.append({"start": start, "end": start + len(surface), "label": label})
    return json.dumps({"text": text, "spans": marked}, ensure_ascii=False)


GOOD_EN = [
    _line("Roberto De Zerbi has turned down an approach from Tottenham.", ("Roberto De Zerbi", "PER"), ("Tottenham", "ORG")),
    _line("The Gunners will not sack Mikel Arteta, says Sky Sports.", ("Gunners", "ORG"), ("Mikel Arteta", "PER"), ("Sky Sports", "ORG")),
    _line("Robin van Persie watched the game from the stands in Rotterdam.", ("Robin van Persie", "PER"), ("Rotterdam", "LOC")),
    _line("The Dutch coach wants two new strikers before the Champions League.", ("Dutch", "MISC"), ("Champions League", "MISC")),
    _line("Eusebio Di Francesco met the Lecce president on Monday.", ("Eusebio Di Francesco", "PER"), ("Lecce", "ORG")),
    _line("Nobody at the club would comment on the rumours."),
]
HELDOUT_EN = [
    _line("Daniele De Rossi is close to an agreement with Genoa.", ("Daniele De Rossi", "PER"), ("Genoa", "ORG")),
    _line("Chelsea have sacked their head coach after the defeat at Anfield.", ("Chelsea", "ORG"), ("Anfield", "LOC")),
]


def _write_extra(folder, lang, train_lines, heldout_lines=None):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{lang}.jsonl").write_text("\n".join(train_lines) + "\n", encoding="utf8")
    if heldout_lines is not None:
        (folder / f"{lang}-heldout.jsonl").write_text("\n".join(heldout_lines) + "\n", encoding="utf8")
    return folder


def _problems(folder, lang):
    with pytest.raises(T.OwnSentencesError) as info:
        T.load_own_sentences(lang, folder)
    return info.value.problems


def test_own_sentences_are_read_with_their_entities(tmp_path):
    own = T.load_own_sentences("en", _write_extra(tmp_path, "en", GOOD_EN, HELDOUT_EN))
    assert len(own.train) == 6 and len(own.heldout) == 2
    assert [(e.text, e.label_) for e in own.train[2].ents] == [("Robin van Persie", "PER"), ("Rotterdam", "LOC")]
    assert list(own.train[5].ents) == []
    assert own.heldout_file == tmp_path / "en-heldout.jsonl"


BAD_LINES = [
    ('{"text": "Conte stays at Napoli.", "spans": [}', "not valid JSON"),
    ('["Conte stays at Napoli."]', "expected a JSON object"),
    ('{"text": "Conte stays.", "spans": [], "lang": "en"}', "unknown key(s) 'lang'"),
    ('{"text": "Conte stays at Napoli."}', '"spans" must be a list'),
    ('{"text": "", "spans": []}', '"text" must be a non-empty string'),
    ('{"text": "Conte stays.", "spans": [{"start": 0, "end": 5}]}', 'span 1: expected {"start": int, "end": int, "label": str}'),
    ('{"text": "Conte stays.", "spans": [{"start": "0", "end": 5, "label": "PER"}]}', "start and end must be integers"),
    ('{"text": "Conte stays.", "spans": [{"start": 6, "end": 40, "label": "PER"}]}', "span 1 (6-40) is out of range: the text has 12 characters"),
    ('{"text": "Conte stays.", "spans": [{"start": 5, "end": 5, "label": "PER"}]}', "span 1 (5-5) is out of range"),
    (_line("Roberto De Zerbi signs.", ("Roberto De Zerbi", "PER"), ("De Zerbi", "PER")),
     "spans 'Roberto De Zerbi' (0-16) and 'De Zerbi' (8-16) overlap"),
    (_line("Juventus sack their coach.", ("Juve", "ORG")),
     "span 1 'Juve' (0-4) is not on token boundaries (tokens there: 'Juventus')"),
    (_line("Juventus sack their coach.", ("Juventus", "CLUB")), "span 1 'Juventus': unknown label 'CLUB' (the en model knows PER, ORG, LOC, MISC)"),
]


@pytest.mark.parametrize("bad,message", BAD_LINES)
def test_bad_jsonl_line_is_reported_with_file_and_line(tmp_path, bad, message):
    folder = _write_extra(tmp_path, "en", [GOOD_EN[0], "", bad, GOOD_EN[1]])
    problems = _problems(folder, "en")
    assert len(problems) == 1
    assert problems[0].startswith(f"{folder / 'en.jsonl'}:3: ")
    assert message in problems[0]


def test_italian_model_has_no_misc(tmp_path):
    folder = _write_extra(tmp_path, "it", [_line("Il Milan gioca in Champions League.", ("Milan", "ORG"), ("Champions League", "MISC"))])
    assert _problems(folder, "it") == [
        f"{folder / 'it.jsonl'}:1: span 2 'Champions League': unknown label 'MISC' (the it model knows PER, ORG, LOC)"
    ]


def test_heldout_sentence_must_not_be_trained_on_and_lines_not_repeated(tmp_path):
    folder = _write_extra(tmp_path, "en", [*GOOD_EN, GOOD_EN[0]], [HELDOUT_EN[0], GOOD_EN[3]])
    train, heldout = folder / "en.jsonl", folder / "en-heldout.jsonl"
    assert _problems(folder, "en") == [
        f"{train}:7: the same text as line 1",
        f"{heldout}:2: also in {train}:4; a held-out sentence must not be trained on",
    ]


def test_missing_empty_and_non_utf8_files(tmp_path):
    assert _problems(tmp_path / "nowhere", "en")[0].endswith("en.jsonl: missing (our sentences to train on, one JSON object per line)")
    (tmp_path / "en.jsonl").write_text("\n\n")
    assert _problems(tmp_path, "en") == [f"{tmp_path / 'en.jsonl'}: no sentences"]
    (tmp_path / "en.jsonl").write_bytes(b'{"text": "Caf\xe9 owner", "spans": []}\n')
    assert "not UTF-8 text" in _problems(tmp_path, "en")[0]


def test_cli_rejects_bad_sentences_and_trains_nothing(tmp_path, monkeypatch, capsys):
    _write_extra(tmp_path / "extra", "en", GOOD_EN, HELDOUT_EN)
    _write_extra(tmp_path / "extra", "it", ['{"text": "Il Napoli", "spans": [{"start": 3, "end": 9, "label": "SQUADRA"}]}'])
    called = []
    monkeypatch.setattr(T, "retrain", lambda *a, **k: called.append(a))
    assert T.main(["retrain", "--lang", "all", "--extra", str(tmp_path / "extra")]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'extra' / 'it.jsonl'}:1: span 1 'Napoli': unknown label 'SQUADRA'" in err
    assert "nothing trained: 1 problem(s)" in err
    assert called == []  # English was fine, but nothing is trained while any file is bad


def test_cli_check_only(tmp_path, capsys):
    _write_extra(tmp_path, "en", GOOD_EN, HELDOUT_EN)
    assert T.main(["retrain", "--lang", "en", "--extra", str(tmp_path), "--check-only"]) == 0
    assert "6 sentences ok, 2 held out" in capsys.readouterr().out


def _scores(test_f, heldout_f=None):
    scores = {"test": {"f": test_f}}
    if heldout_f is not None:
        scores["heldout"] = {"f": heldout_f}
    return scores


def test_decide_keeps_the_old_model_when_test_f1_drops_too_much():
    opts = T.RetrainOptions(max_drop=0.01)
    assert T.decide(_scores(0.80, 0.70), _scores(0.795, 0.90), opts)[0] is True
    replaced, reason = T.decide(_scores(0.80, 0.70), _scores(0.78, 0.95), opts)
    assert replaced is False and "a drop of 0.020: not less than --max-drop 0.01" in reason
    assert T.decide(_scores(0.80, 0.70), _scores(0.79, 0.90), T.RetrainOptions(max_drop=0.0101))[0] is True
    assert T.decide(_scores(0.80, 0.70), _scores(0.7899, 0.90), opts)[0] is False  # 0.0101 >= 0.01
    replaced, reason = T.decide(_scores(0.80, 0.70), _scores(0.81, 0.65), opts)
    assert replaced is False and "held-out F1 0.700 -> 0.650 (-0.050): less than --min-heldout-gain 0" in reason
    assert T.decide(_scores(0.80), _scores(0.80), opts) == (True, "test F1 0.800 -> 0.800 (+0.000, a drop must stay under 0.01); no held-out sentences")


def test_replace_model_swaps_whole_directory(tmp_path):
    old, new = tmp_path / "models" / "en", tmp_path / "candidate"
    for folder, text in ((old, "old"), (new, "new")):
        (folder / "ner").mkdir(parents=True)
        (folder / "meta.json").write_text(text)
    (old / "stale.json").write_text("x")
    T.replace_model(new, old)
    assert (old / "meta.json").read_text() == "new" and not (old / "stale.json").exists()
    assert sorted(p.name for p in old.parent.iterdir()) == ["en"]
    assert (new / "meta.json").exists()


def test_readme_row_needs_the_marker(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text("# Models\n")
    T.add_readme_row(readme, {})
    assert readme.read_text() == "# Models\n"
    assert "no row added" in capsys.readouterr().err


# --------------------------------------------------------------------------- tiny end-to-end retrain


@pytest.fixture
def tiny_retrain(tmp_path, monkeypatch):
    """A copy of models/en, our sentences, a data folder made of the fixture sample,
    and a README with the marker: everything in tmp_path."""
    if not (MODELS / "en" / "meta.json").exists():
        pytest.skip("no committed model in models/en")
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.setenv(var, "1")
    data = tmp_path / "data" / "en"
    data.mkdir(parents=True)
    for split in ("train", "val", "test"):
        (data / f"conll2003-{split}.conllu").write_text(EN_SAMPLE.read_text())
    model = tmp_path / "models" / "en"
    shutil.copytree(MODELS / "en", model)
    readme = tmp_path / "README.md"
    readme.write_text(f"| table |\n{T.README_MARKER}\n")
    extra = _write_extra(tmp_path / "extra", "en", GOOD_EN, HELDOUT_EN)

    def run(**options):
        opts = T.RetrainOptions(replay=20, repeat=1, dev_sentences=10, max_steps=3, max_seconds=60, **options)
        return T.retrain("en", extra_dir=extra, base_model=model, data_dir=tmp_path / "data",
                         work_dir=tmp_path / "work", options=opts, readme=readme)

    return run, model, readme, tmp_path / "work"


def _files(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_tiny_retrain_replaces_the_model_when_allowed(tiny_retrain):
    run, model, readme, work = tiny_retrain
    record = run(max_drop=2.0, min_heldout_gain=-2.0)
    assert record["replaced"] is True
    assert record["corpus"]["own_sentences"] == 6 and record["corpus"]["heldout_sentences"] == 2
    assert record["corpus"]["test_sentences"] == 15
    assert set(record["before"]) == set(record["after"]) == {"test", "heldout"}
    meta = json.loads((model / "meta.json").read_text())
    assert meta["name"] == "ner_calcio_en" and meta["pipeline"] == ["tok2vec", "ner"]
    assert T.OWN_SOURCE in meta["sources"] and meta["retraining"]["corpus"]["own_sentences"] == 6
    assert json.loads((model / "retrain-scores.json").read_text())[-1]["after"] == record["after"]
    assert json.loads((model / "test-scores.json").read_text())["ents_f"] == record["after"]["test"]["f"]
    assert sorted(p.name for p in model.parent.iterdir()) == ["en"]  # no staging folders left
    assert json.loads((work / "retrain-scores.json").read_text()) == record
    nlp = spacy.load(model)
    doc = nlp("Chelsea have appointed Enzo Maresca after talks in London.")
    assert {e.label_ for e in doc.ents} <= {"PER", "ORG", "LOC", "MISC"} and doc.ents
    assert "| en | 6 (x1) + " in readme.read_text().splitlines()[1]
    assert readme.read_text().splitlines()[1].endswith("| replaced |")


def test_tiny_retrain_keeps_the_old_model_when_test_f1_would_drop(tiny_retrain):
    run, model, readme, work = tiny_retrain
    before = _files(model)
    record = run(max_drop=-2.0)  # no result can pass: F1 would have to rise by more than 2
    assert record["replaced"] is False and "not less than --max-drop -2" in record["reason"]
    assert _files(model) == before
    assert json.loads((work / "retrain-scores.json").read_text())["reason"] == record["reason"]
    candidate = spacy.load(work / "model")  # the candidate is kept for inspection
    assert candidate("Arsenal sacked their manager.").has_annotation("ENT_IOB")
    assert readme.read_text().splitlines()[1].endswith("| kept old model |")


@pytest.mark.parametrize("lang", ["en", "it"])
def test_committed_model_scores_agree_with_last_retraining(lang):
    path = MODELS / lang
    if not (path / "retrain-scores.json").exists():
        pytest.skip(f"{path} was not retrained")
    last = json.loads((path / "retrain-scores.json").read_text())[-1]
    assert last["replaced"] is True and last["lang"] == lang
    assert json.loads((path / "test-scores.json").read_text())["ents_f"] == last["after"]["test"]["f"]
    assert T.OWN_SOURCE in json.loads((path / "meta.json").read_text())["sources"]


@pytest.mark.parametrize(
    "text,expected",
    [
        ("Il Napoli ha esonerato l'allenatore dopo la sconfitta.", [("Napoli", "ORG")]),
        ("Il Torino ha scelto il nuovo tecnico.", [("Torino", "ORG")]),
        ("La Roma ha battuto il Bologna all'Olimpico.", [("Roma", "ORG"), ("Bologna", "ORG"), ("Olimpico", "LOC")]),
        ("Il tecnico vive a Napoli da tre anni.", [("Napoli", "LOC")]),
        ("La squadra è partita per Torino in pullman.", [("Torino", "LOC")]),
    ],
)
def test_retrained_italian_model_tells_city_named_clubs_from_cities(text, expected):
    if not (MODELS / "it" / "retrain-scores.json").exists():
        pytest.skip("models/it was not fine-tuned on corpus/ner (the from-scratch model tags these clubs LOC)")
    assert [(e.text, e.label_) for e in _load("it")(text).ents] == expected
