"""Map the label sets of other NER models onto ours (PER, ORG, LOC, MISC).

Lets a user plug in an installed pipeline such as en_core_web_sm (PERSON, GPE, ...).
"""

import numpy
from spacy.attrs import ENT_ID, ENT_IOB, ENT_KB_ID, ENT_TYPE
from spacy.language import Language
from spacy.tokens import Doc, Span

LABEL_MAP = {"PERSON": "PER", "GPE": "LOC", "FAC": "LOC", "NORP": "MISC", "EVENT": "MISC"}
KEEP = {"PER", "ORG", "LOC", "MISC"}
MISSING, INSIDE, OUTSIDE, BEGIN = 0, 1, 2, 3  # Token.ent_iob


@Language.component("ner_labels")
def ner_labels(doc: Doc) -> Doc:
    if entities_settled(doc) and ent_labels(doc) <= KEEP:
        return doc  # our labels already (our own NER): setting them again would change nothing
    spans = []
    for ent in doc.ents:
        label = LABEL_MAP.get(ent.label_, ent.label_)
        if label in KEEP:
            spans.append(Span(doc, ent.start, ent.end, label=label, kb_id=ent.kb_id))
    doc.set_ents(spans)
    return doc


def ent_labels(doc: Doc) -> set[str]:
    return {doc.vocab.strings[label] for label in numpy.unique(doc.to_array(ENT_TYPE)).tolist() if label}


def entities_settled(doc: Doc) -> bool:
    """Whether setting doc.ents to what doc.ents reads would leave every token as it is:
    each token has an IOB tag, no token outside an entity a label, and the tokens of each
    entity its first token's label, KB id and (unless that has none) entity id.
    doc.set_ents leaves the doc so, when its spans have ids or come from doc.ents."""
    if not len(doc):
        return True
    iob, types, kb_ids, ids = doc.to_array([ENT_IOB, ENT_TYPE, ENT_KB_ID, ENT_ID]).T
    inside, begin = iob == INSIDE, iob == BEGIN
    in_entity = inside | begin
    if not iob.all() or (begin & (types == 0)).any() or types[~in_entity].any():
        return False  # a token without a tag, a blocked one, or a label outside any entity
    if inside[0] or (inside[1:] & ~in_entity[:-1]).any():
        return False  # an I tag that no B tag opens: doc.ents refuses it
    first = numpy.maximum.accumulate(numpy.where(begin, numpy.arange(len(doc)), 0))  # of each token's entity
    same = (types == types[first]) & (kb_ids == kb_ids[first]) & ((ids == ids[first]) | (ids[first] == 0))
    return bool(same[inside].all())
