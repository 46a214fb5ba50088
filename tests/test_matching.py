"""GatedMatcher: spaCy's Matcher run only over the sentences that can hold a match."""
import pytest
import spacy
from spacy.matcher import Matcher
from spacy.tokens import Span

from pipeline.matching import (
    UNBOUNDED,
    GatedMatcher,
    allowed_values,
    most_tokens,
    reaches,
    requirement,
)


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
    [(_key, start, end, alignment)] = gated(doc, with_alignments=True)
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


def plain_matches(nlp, doc, patterns: dict[str, list[dict]], with_alignments: bool = False) -> list[tuple]:
    """What one spaCy Matcher finds over each sentence, in document offsets and order."""
    plain = Matcher(nlp.vocab)
    for key, pattern in patterns.items():
        plain.add(key, [pattern], greedy="LONGEST")
    found = [(k, a + s.start, b + s.start, *rest) for s in doc.sents
             for k, a, b, *rest in plain(s, with_alignments=with_alignments)]
    order = {nlp.vocab.strings[k]: n for n, k in enumerate(patterns)}
    return sorted(found, key=lambda m: (m[1], -m[2], order[m[0]]))


SIGNED_UNTIL = [{"LOWER": "signed"}, {"IS_ALPHA": True, "OP": "{0,2}"}, {"LOWER": "until"}, {"SHAPE": "dddd"}]


def test_how_far_a_pattern_reaches_around_its_anchors():
    assert [most_tokens({"OP": op}) for op in ("?", "!", "{3}", "{1,4}", "{,2}")] == [1, 1, 3, 4, 2]
    assert most_tokens({"OP": "+"}) == most_tokens({"OP": "*"}) == most_tokens({"OP": "{2,}"}) == UNBOUNDED
    assert reaches(SIGNED_UNTIL) == ((("LOWER", frozenset({"signed"})), 0, 4), (("LOWER", frozenset({"until"})), 3, 1))
    assert reaches(RADAR)[-1] == (("ENT_TYPE", frozenset({"CLUB"})), 3, 0)


def test_a_pattern_runs_over_the_window_around_its_anchors(nlp):
    gated = GatedMatcher(nlp.vocab)
    gated.add("until", [SIGNED_UNTIL])
    doc = nlp("After a long summer of talks with the board the coach finally signed a deal until 2027 on Monday.")
    signed = next(t.i for t in doc if t.text == "signed")
    [(_gate, windows)] = gated.opened(doc)
    assert windows == [(signed, signed + 5)]  # "signed" with what may follow it, not the whole sentence
    assert [doc[a:b].text for _, a, b in gated(doc)] == ["signed a deal until 2027"]


def test_anchors_too_far_apart_open_no_window(nlp):
    gated = GatedMatcher(nlp.vocab)
    gated.add("until", [SIGNED_UNTIL])
    doc = nlp("He signed for Parma in the spring and has stayed there until 2026.")
    assert gated.opened(doc) == [] and gated(doc) == []


WINDOW_PATTERNS = {
    "role_of_club": [{"LOWER": {"IN": ["coach", "manager", "boss"]}}, {"LOWER": {"IN": ["of", "at"]}},
                     {"LOWER": "the", "OP": "?"}, {"ENT_TYPE": "CLUB", "OP": "+"}],
    "n_year_deal": [{"LOWER": {"IN": ["two", "three"]}}, {"ORTH": "-", "OP": "?"}, {"LOWER": "year"},
                    {"ORTH": "-", "OP": "?"}, {"LOWER": {"IN": ["deal", "contract"]}}],
    "left_for": [{"LEMMA": "leave"}, {"IS_ALPHA": True, "OP": "*"}, {"LOWER": "for"}, {"ENT_TYPE": "CLUB"}],
    "sacked": [{"LOWER": {"REGEX": "^(sacked|dismisse[ds])$"}}, {"LOWER": "by", "OP": "?"},
               {"ENT_TYPE": "CLUB", "OP": "{0,3}"}],
}


def test_windows_find_what_a_matcher_finds_over_each_sentence(nlp):
    text = ("The coach of Parma, who signed a three-year deal, was sacked by Empoli and then left quietly for Genoa. "
            "Two managers at the club, the boss of the Inter Milan academy and a coach at Genoa, "
            "agreed a two year contract and a three - year deal. Nobody was dismissed. "
            "She left Parma with a two - year - old deal for Empoli in mind.")
    doc = doc_with_clubs(nlp, text, ["Parma", "Empoli", "Genoa", "Inter"])
    milan = next(t.i for t in doc if t.text == "Milan")
    doc.ents = [*doc.ents, Span(doc, milan, milan + 1, label="CLUB")]
    for token in doc:
        token.lemma_ = "leave" if token.lower_ in ("left", "leaves") else token.lower_
    gated = GatedMatcher(nlp.vocab)
    for key, pattern in WINDOW_PATTERNS.items():
        gated.add(key, [pattern], greedy="LONGEST", aligned=key != "sacked")
    expected = plain_matches(nlp, doc, WINDOW_PATTERNS, with_alignments=True)
    found = gated(doc, with_alignments=True)
    assert [m[:3] for m in found] == [m[:3] for m in expected]
    assert [m[3] for m in found] == [None if nlp.vocab.strings[m[0]] == "sacked" else m[3] for m in expected]
    assert {doc[a:b].text for _, a, b, _ in found} >= {"coach of Parma", "three-year deal", "sacked by Empoli",
                                                       "boss of the Inter Milan", "two year contract",
                                                       "left quietly for Genoa"}
    assert sum(b - a for _, windows in gated.opened(doc) for a, b in windows) < len(doc)
