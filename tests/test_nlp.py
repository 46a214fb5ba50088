"""The annotate pipeline: components and model selection."""
import pytest
import spacy

import pipeline.components  # noqa: F401
from pipeline.nlp import build_nlp, model_setting


@pytest.fixture(scope="module")
def nlp_en():
    return build_nlp("en", model="blank")


def test_lemmas_are_lower_case_lookups(nlp_en):
    doc = nlp_en("Sacked on Monday, the coach left.")
    assert doc[0].lemma_ == "sack" and doc[-2].lemma_ == "leave"


def test_line_breaks_end_sentences(nlp_en):
    doc = nlp_en("Allegri to Real Madrid?\n\nThe club want him")
    assert [s.text.strip() for s in doc.sents if s.text.strip()] == ["Allegri to Real Madrid?", "The club want him"]


def test_a_byline_after_the_final_stop_is_a_sentence_with_its_dash(nlp_en):
    doc = nlp_en("No talks with other clubs. — Paolo Rossi (@rossi_calcio)")
    sentences = [s.text for s in doc.sents]
    assert sentences[0] == "No talks with other clubs."
    assert sentences[1].startswith("— Paolo Rossi")


def test_a_dash_inside_a_sentence_opens_nothing(nlp_en):
    doc = nlp_en("The coach - a former striker - signed until 2027.")
    assert len(list(doc.sents)) == 1


def test_knowledge_base_ruler_tags_clubs_and_outlets(nlp_en):
    doc = nlp_en("The Rossoneri beat Juventus, Sky Sport reported.")
    assert {(e.text, e.label_) for e in doc.ents} >= {("Rossoneri", "CLUB"), ("Juventus", "CLUB"), ("Sky Sport", "MEDIA")}


def test_names_are_found_without_a_statistical_model(nlp_en):
    doc = nlp_en("Chelsea have sacked manager Maresca and want Oliver Glasner to replace him.")
    persons = {e.text for e in doc.ents if e.label_ == "PER"}
    assert {"Maresca", "Oliver Glasner"} <= persons


@pytest.mark.parametrize("lang, text", [
    ("en", "He won't stay: Mr. Sarri didn't sign, the U.S. club said (3-1 win)."),
    ("it", "L'allenatore dell'Inter c'è: l'ha detto all'agente, ecc. a fine stagione."),
])
def test_emptying_the_tokenizer_cache_keeps_its_special_cases(lang, text):
    built = build_nlp(lang, model="blank")
    fresh = spacy.blank(lang)
    assert [t.text for t in built.make_doc(text)] == [t.text for t in fresh.make_doc(text)]
    assert built.tokenizer.rules == fresh.tokenizer.rules


def test_other_models_labels_are_mapped():
    nlp = spacy.blank("en")
    nlp.add_pipe("ner_labels")
    doc = nlp.make_doc("Pep Guardiola in Manchester")
    doc.ents = [spacy.tokens.Span(doc, 0, 2, label="PERSON"), spacy.tokens.Span(doc, 3, 4, label="GPE")]
    assert [e.label_ for e in nlp.get_pipe("ner_labels")(doc).ents] == ["PER", "LOC"]


def test_model_setting_prefers_explicit_then_environment(monkeypatch):
    monkeypatch.setenv("CALCIO_MODEL_IT", "it_core_news_lg")
    assert model_setting("it") == "it_core_news_lg"
    assert model_setting("it", "blank") is None
    assert model_setting("it", "/some/path") == "/some/path"


def test_a_model_for_the_wrong_language_is_refused(tmp_path):
    spacy.blank("it").to_disk(tmp_path / "it-model")
    with pytest.raises(ValueError, match="not 'en'"):
        build_nlp("en", model=str(tmp_path / "it-model"))
