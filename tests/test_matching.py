"""GatedMatcher: spaCy's Matcher run only over the sentences that can hold a match."""
import pytest
import spacy
from spacy.matcher import Matcher
from spacy.tokens import Span

from pipeline.matching import GatedMatcher, allowed_values, requirement


@pytest.fixture()
def nlp():
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    return nlp


def doc_with_clubs(nlp, text: str, clubs: list[str]):
    doc = nlp(text)
    spans = []
    for club in clubs:
        start = next(t.i for t in doc if t.text == club)
        spans.append(Span(doc, start, start + 1, label="CLUB"))
    doc.ents = spans
    return doc


RADAR = [{"LOWER": "on"}, {"LOWER": {"IN": ["radar", "shortlist"]}}, {"LOWER": "of", "OP": "?"},
         {"ENT_TYPE": "CLUB", "OP": "+"}]
SACKED = [{"LOWER": {"REGEX": "^(sacked|dismisse[ds])$"}}]


def test_requirements_are_read_from_the_required_tokens():
    assert requirement(RADAR) == {("LOWER", frozenset({"on"})), ("LOWER", frozenset({"radar", "shortlist"})),
                                  ("ENT_TYPE", frozenset({"CLUB"}))}
    assert allowed_values({"REGEX": "^(sacked|dismisse[ds])$"}) == {"sacked", "dismissed", "dismisses"}
    assert allowed_values({"REGEX": "^sack"}) is None  # any word starting so: no closed list
    assert allowed_values({"REGEX": "^sack|fire$"}) is None  # not one alternation: "^sack" or "fire$"
    assert requirement([{"LOWER": "the", "OP": "?"}, {"IS_TITLE": True}]) == frozenset()


def test_same_matches_as_a_matcher_over_each_sentence(nlp):
    doc = doc_with_clubs(nlp, "Rossi is on the radar of Parma. Bianchi was sacked on Monday. "
                              "He is also on the shortlist of Genoa, while Empoli sacked Verdi.", ["Parma", "Genoa", "Empoli"])
    gated, plain = GatedMatcher(nlp.vocab), Matcher(nlp.vocab)
    for key, pattern in (("radar", [{"LOWER": "on"}, {"LOWER": "the"}] + RADAR[1:]), ("sacked", SACKED)):
        gated.add(key, [pattern], greedy="LONGEST")
        plain.add(key, [pattern], greedy="LONGEST")
    expected = sorted((m for s in doc.sents for m in ((k, a + s.start, b + s.start) for k, a, b in plain(s))),
                      key=lambda m: (m[1], -m[2]))
    found = gated(doc)
    assert found == expected
    assert [(nlp.vocab.strings[k], doc[a:b].text) for k, a, b in found] == [
        ("radar", "on the radar of Parma"), ("sacked", "sacked"),
        ("radar", "on the shortlist of Genoa"), ("sacked", "sacked")]


def test_a_sentence_without_the_anchors_is_not_searched(nlp):
    gated = GatedMatcher(nlp.vocab)
    gated.add("radar", [RADAR], greedy="LONGEST")
    doc = doc_with_clubs(nlp, "He is on the radar. Parma want a coach.", ["Parma"])
    assert gated.opened(doc) == []  # "radar" and the club are in different sentences
    assert gated(doc) == []


def test_alignments_are_given_in_document_offsets(nlp):
    gated = GatedMatcher(nlp.vocab)
    gated.add("radar", [RADAR], greedy="LONGEST")
    doc = doc_with_clubs(nlp, "Nothing new today. Rossi is on radar of Parma.", ["Parma"])
    [(key, start, end, alignment)] = gated(doc, with_alignments=True)
    assert doc[start:end].text == "on radar of Parma"
    assert alignment == [0, 1, 2, 3]


def test_a_pattern_without_anchors_runs_over_the_whole_doc(nlp):
    gated = GatedMatcher(nlp.vocab)
    gated.add("titles", [[{"IS_TITLE": True}, {"IS_TITLE": True}]])
    doc = nlp("We met Carlo Ancelotti. Then Luciano Spalletti.")
    assert "titles" in gated.ungated and not gated.gates
    assert {doc[a:b].text for _, a, b in gated(doc)} >= {"Carlo Ancelotti", "Luciano Spalletti"}


def test_keys_added_unaligned_come_without_alignments(nlp):
    gated = GatedMatcher(nlp.vocab)
    gated.add("radar", [RADAR], greedy="LONGEST")
    gated.add("sacked", [SACKED], aligned=False)
    doc = doc_with_clubs(nlp, "Rossi is on radar of Parma. He was dismissed.", ["Parma"])
    found = {nlp.vocab.strings[k]: alignment for k, _, _, alignment in gated(doc, with_alignments=True)}
    assert found == {"radar": [0, 1, 2, 3], "sacked": None}


def test_entities_added_to_the_same_doc_are_seen_by_the_next_call(nlp):
    gated = GatedMatcher(nlp.vocab)
    gated.add("radar", [RADAR], greedy="LONGEST")
    doc = doc_with_clubs(nlp, "Rossi is on the radar of Parma. Verdi is on radar of Genoa.", ["Parma"])
    assert [doc[a:b].text for _, a, b in gated(doc)] == []  # "the" is not in the pattern; Genoa is no entity yet
    doc.ents = [*doc.ents, Span(doc, doc[-2].i, doc[-1].i, label="CLUB")]  # what normalise does between matchers
    assert [doc[a:b].text for _, a, b in gated(doc)] == ["on radar of Genoa"]


def test_each_doc_gets_its_own_sentences_and_words(nlp):
    gated = GatedMatcher(nlp.vocab)
    gated.add("sacked", [SACKED])
    first = nlp("Bianchi was sacked. Rossi stays.")
    second = nlp("Nothing happened. Then Empoli dismissed Verdi and Parma sacked Neri.")
    assert [first[a:b].text for _, a, b in gated(first)] == ["sacked"]
    assert [(a, second[a:b].text) for _, a, b in gated(second)] == [(5, "dismissed"), (9, "sacked")]
    assert [first[a:b].text for _, a, b in gated(first)] == ["sacked"]
