"""The engine's doc serialisation: what the annotate cache holds."""
import zlib

import pytest
import spacy
from spacy.tokens import Doc, DocBin, Span
from spacy.tokens.doc import DOCBIN_ALL_ATTRS

from pipeline.engine import bytes_doc, doc_bytes


def parsed_doc(vocab) -> Doc:
    """A doc with every kind of annotation a DocBin keeps: tags, morphs, a parse, lemmas,
    entities with KB and span ids, a span group, categories and user data."""
    doc = Doc(vocab, words=["Ancelotti", "joins", "Real", "Madrid", "today"], spaces=[True, True, True, True, False],
              tags=["NNP", "VBZ", "NNP", "NNP", "NN"], morphs=["Number=Sing", "", "", "", "Number=Sing"],
              heads=[1, 1, 3, 1, 1], deps=["nsubj", "ROOT", "compound", "dobj", "npadvmod"],
              lemmas=["ancelotti", "join", "real", "madrid", "today"], pos=["PROPN", "VERB", "PROPN", "PROPN", "NOUN"])
    doc.set_ents([Span(doc, 0, 1, label="PER"), Span(doc, 2, 4, label="CLUB", kb_id="club:real", span_id="club:real")])
    doc.spans["cues"] = [Span(doc, 1, 2, label="MOVE", kb_id="joins")]
    doc.cats = {"transfer": 1.0}
    doc.user_data["article_id"] = "en/ancelotti"
    return doc


@pytest.fixture(scope="module")
def nlp(tiny_kb):
    from pipeline.nlp import build_nlp

    return build_nlp("en", model="blank", kb=tiny_kb)


def docs(nlp) -> list[Doc]:
    annotated = nlp("Chelsea sacked Enzo Maresca.\n\nThe Blues want Oliver Glasner, Sky Sport said.")
    annotated.user_data.update(article_id="en/chelsea", date="2025-01-02")
    return [annotated, parsed_doc(nlp.vocab), nlp(""), Doc(nlp.vocab, words=["no", "spaces"], spaces=None)]


def test_doc_bytes_hold_the_message_a_docbin_writes(nlp):
    """Only the compression differs from DocBin.to_bytes: the same tokens, strings and user data."""
    for doc in docs(nlp):
        written_by_docbin = DocBin(store_user_data=True, docs=[doc]).to_bytes()
        assert zlib.decompress(doc_bytes(doc)) == zlib.decompress(written_by_docbin)


def test_a_cached_doc_loads_back_as_it_was(nlp):
    fresh_vocab = spacy.blank("en").vocab
    for doc in docs(nlp):
        loaded = bytes_doc(doc_bytes(doc), fresh_vocab)
        assert loaded.text == doc.text and len(loaded) == len(doc)
        assert (loaded.to_array(list(DOCBIN_ALL_ATTRS)) == doc.to_array(list(DOCBIN_ALL_ATTRS))).all()
        assert [(e.start, e.end, e.label_, e.kb_id_, e.id_) for e in loaded.ents] == \
            [(e.start, e.end, e.label_, e.kb_id_, e.id_) for e in doc.ents]
        assert [str(t.morph) for t in loaded] == [str(t.morph) for t in doc]
        assert {k: [(s.start, s.end, s.label_, s.kb_id_) for s in g] for k, g in loaded.spans.items()} == \
            {k: [(s.start, s.end, s.label_, s.kb_id_) for s in g] for k, g in doc.spans.items()}
        assert loaded.user_data == doc.user_data and loaded.cats == doc.cats
