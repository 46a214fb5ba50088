"""Lookup lemmas from spacy-lookups-data, keyed on the lower-cased form.

spaCy's lookup lemmatizer is case-sensitive, so a sentence-initial "Sacked" keeps its
form; rules are written on lower-case lemmas, so this component always lowercases.
"""

from functools import lru_cache

import numpy
from spacy.attrs import LEMMA, LOWER
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
        """Each distinct lower-cased form is looked up once; the lemmas are written as one
        column (a token's lemma_ setter stores the string and its hash the same way)."""
        if not len(doc):
            return doc
        forms, token_form = numpy.unique(doc.to_array(LOWER), return_inverse=True)
        lemmas = numpy.array([self.lemma_of(doc, form) for form in forms.tolist()], dtype=numpy.uint64)
        doc.from_array([LEMMA], lemmas[token_form].reshape(len(doc), 1))
        return doc

    def lemma_of(self, doc: Doc, form: int) -> int:
        """The lemma (as its string's hash) of the lower-cased form with hash `form`; the
        table is keyed on the same hashes."""
        lower = doc.vocab.strings[form]
        return doc.vocab.strings.add(self.table.get(form, lower).lower())


@Language.factory("lookup_lemmas")
def make_lookup_lemmas(nlp: Language, name: str) -> LookupLemmatizer:
    return LookupLemmatizer(nlp.lang)
