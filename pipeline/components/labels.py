"""Map the label sets of other NER models onto ours (PER, ORG, LOC, MISC).

Lets a user plug in an installed pipeline such as en_core_web_sm (PERSON, GPE, ...).
"""

from spacy.language import Language
from spacy.tokens import Doc, Span

LABEL_MAP = {"PERSON": "PER", "GPE": "LOC", "FAC": "LOC", "NORP": "MISC", "EVENT": "MISC"}
KEEP = {"PER", "ORG", "LOC", "MISC"}


@Language.component("ner_labels")
def ner_labels(doc: Doc) -> Doc:
    spans = []
    for ent in doc.ents:
        label = LABEL_MAP.get(ent.label_, ent.label_)
        if label in KEEP:
            spans.append(Span(doc, ent.start, ent.end, label=label, kb_id=ent.kb_id))
    doc.ents = spans
    return doc
