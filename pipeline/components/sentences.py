"""Sentence boundaries at line breaks: headlines, captions and tweets end without a period."""

from spacy.language import Language
from spacy.tokens import Doc


@Language.component("line_breaks")
def line_breaks(doc: Doc) -> Doc:
    for token in doc[:-1]:
        if "\n" in token.text:
            doc[token.i + 1].is_sent_start = True
    return doc
