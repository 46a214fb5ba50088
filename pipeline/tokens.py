"""A doc's token attributes as strings, for the stages that read them token by token.

doc.to_array gives string-store hashes; asking the string store for each of them is the
slow part of turning a column into strings. A dict of the strings seen before answers
most of them; the store is asked only for the new ones.
"""
from __future__ import annotations

from spacy.tokens import Doc

WORDS: dict[int, str] = {}  # string-store hash -> string, shared by every vocab: a hash is of the string alone
MAX_WORDS = 100_000  # then WORDS starts again: memory stays flat however many articles a run reads


def as_strings(doc: Doc, hashes: list[int]) -> list[str]:
    """The strings of string-store hashes read from doc (e.g. a doc.to_array column)."""
    try:
        return list(map(WORDS.__getitem__, hashes))
    except KeyError:
        if len(WORDS) > MAX_WORDS:
            WORDS.clear()
        strings = doc.vocab.strings
        WORDS.update((h, strings[h]) for h in set(hashes).difference(WORDS))
        return list(map(WORDS.__getitem__, hashes))


def strings_of(doc: Doc, attr: int) -> list[str]:
    """Each token's string for a token attribute (LOWER, ORTH, LEMMA, ENT_TYPE...)."""
    return as_strings(doc, doc.to_array(attr).tolist())
