"""Lookup lemmas from spacy-lookups-data, keyed on the lower-cased form.

spaCy's lookup lemmatizer is case-sensitive, so a sentence-initial "Sacked" keeps its
form; rules are written on lower-case lemmas, so this component always lowercases.
"""

from spacy.language import Language
from spacy.lookups import load_lookups
from spacy.tokens import Doc


class LookupLemmatizer:
    def __init__(self, lang: str):
        self.table = load_lookups(lang, ["lemma_lookup"]).get_table("lemma_lookup")

    def __call__(self, doc: Doc) -> Doc:
        for token in doc:
            lower = token.lower_
            token.lemma_ = self.table.get(lower, lower).lower()
        return doc


@Language.factory("lookup_lemmas")
def make_lookup_lemmas(nlp: Language, name: str) -> LookupLemmatizer:
    return LookupLemmatizer(nlp.lang)
