"""Token attributes as strings, through the shared memo."""
import spacy

from pipeline import tokens as module


def test_the_token_string_memo_starts_again_when_full_and_stays_right(monkeypatch):
    monkeypatch.setattr(module, "WORDS", {})
    monkeypatch.setattr(module, "MAX_WORDS", 10)
    nlp = spacy.blank("en")
    texts = ["Ranieri leaves Roma after one season in charge.",
             "Gasperini signs a three-year deal with the Giallorossi tomorrow.",
             "Tudor was sacked by Juventus on Monday morning."]
    for text in texts:
        doc = nlp(text)
        assert module.strings_of(doc, spacy.attrs.LOWER) == [t.lower_ for t in doc]
        assert module.strings_of(doc, spacy.attrs.ORTH) == [t.text for t in doc]
    assert len(module.WORDS) <= 10 + max(len(nlp(t)) for t in texts)
