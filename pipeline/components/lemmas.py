"""Lookup lemmas from spacy-lookups-data, keyed on the lower-cased form.

spaCy's lookup lemmatizer is case-sensitive, so a sentence-initial "Sacked" keeps its
form; rules are written on lower-case lemmas, so this component always lowercases.
"""

from functools import lru_cache

from spacy.language import Language
from spacy.lookups import Table, load_lookups
from spacy.tokens import Doc


@lru_cache(maxsize=4)
def lemma_table(lang: str) -> Table:
    """spacy-lookups-data's lemma table for a language, loaded once per process."""
    return load_lookups(lang, ["lemma_lookup"]).get_table("lemma_lookup")


class LookupLemmatizer:
    def __init__(self, lang: str):
        self.table = lemma_table(lang)

    def __call__(self, doc: Doc) -> Doc:
        for token in doc:
            lower = token.lower_
            token.lemma_ = self.table.get(lower, lower).lower()
        return doc


@Language.factory("lookup_lemmas")
def make_lookup_lemmas(nlp: Language, name: str) -> LookupLemmatizer:
    return LookupLemmatizer(nlp.lang)
