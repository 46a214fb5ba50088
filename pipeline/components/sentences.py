"""Sentence boundaries the sentencizer misses.

- At line breaks: headlines, captions and tweets end without a period.
- Before a dash or bracket that follows the final stop: "... con club italiani. — Nicolò
  Schira" leaves the dash, and with it the byline's cue, on the sentence before; the
  byline is a sentence of its own.
"""

import numpy
from spacy.attrs import ORTH
from spacy.language import Language
from spacy.tokens import Doc

FINAL_STOPS = {".", "!", "?", "…"}
OPENERS = {"—", "–", "-", "(", "|"}


@Language.component("line_breaks")
def line_breaks(doc: Doc) -> Doc:
    for i in cue_positions(doc):
        if "\n" in doc[i].text:
            doc[i + 1].is_sent_start = True
        elif i > 0 and doc[i - 1].text in FINAL_STOPS and doc[i + 1].is_sent_start:
            doc[i].is_sent_start = True
            doc[i + 1].is_sent_start = False
    return doc


def cue_positions(doc: Doc) -> list[int]:
    """The tokens, but the last, that hold a line break or are an opener (few of them):
    the others are never looked at token by token."""
    orths = doc.to_array(ORTH)[:-1]
    distinct = numpy.unique(orths)
    cues = [orth for orth in distinct.tolist() if is_cue(doc.vocab.strings[orth])]
    return numpy.flatnonzero(numpy.isin(orths, cues)).tolist()


def is_cue(text: str) -> bool:
    return "\n" in text or text in OPENERS
