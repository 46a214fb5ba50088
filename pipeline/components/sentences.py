"""Sentence boundaries the sentencizer misses.

- At line breaks: headlines, captions and tweets end without a period.
- Before a dash or bracket that follows the final stop: "... con club italiani. — Nicolò
  Schira" leaves the dash, and with it the byline's cue, on the sentence before; the
  byline is a sentence of its own.
"""

from spacy.language import Language
from spacy.tokens import Doc

FINAL_STOPS = {".", "!", "?", "…"}
OPENERS = {"—", "–", "-", "(", "|"}


@Language.component("line_breaks")
def line_breaks(doc: Doc) -> Doc:
    for token in doc[:-1]:
        if "\n" in token.text:
            doc[token.i + 1].is_sent_start = True
        elif token.text in OPENERS and token.i > 0 and doc[token.i - 1].text in FINAL_STOPS \
                and doc[token.i + 1].is_sent_start:
            token.is_sent_start = True
            doc[token.i + 1].is_sent_start = False
    return doc
