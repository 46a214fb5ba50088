"""Find person names the NER missed: capitalised name sequences and names after role words.

This fills gaps only (tokens that are not yet part of an entity), so it works both with
no statistical NER at all and behind a trained one.
"""

from spacy.attrs import ENT_TYPE, LOWER, ORTH
from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.util import filter_spans
from spacy.vocab import Vocab

from pipeline.components.labels import entities_settled
from pipeline.tokens import strings_of

PARTICLES = {"de", "di", "da", "del", "della", "van", "von", "der", "ten", "dos", "das", "la", "le", "mac"}
NOT_NAMES = {
    # calendar and competitions: title-case but never a person
    "january", "february", "march", "april", "may", "june", "july", "august", "september",
    "october", "november", "december", "gennaio", "febbraio", "marzo", "aprile", "maggio",
    "giugno", "luglio", "agosto", "settembre", "ottobre", "novembre", "dicembre",
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
    "serie", "premier", "league", "champions", "europa", "conference", "cup", "coppa",
    "supercoppa", "liga", "laliga", "bundesliga", "ligue", "championship", "uefa", "fifa",
    "world", "euro", "stadium", "stadio", "club", "fc", "the", "il", "la", "lo", "gli",
    "le", "un", "una", "a", "an", "and", "e", "ed", "but", "ma", "if", "se", "when",
    "advertisement", "read", "more", "see", "also", "photo", "getty", "images", "news", "copyright",
    "credit", "credits", "foto", "fonte", "source", "picture", "pictures", "watch", "subscribe",
    "breaking", "exclusive", "official", "ufficiale", "update", "live", "video",
    "mister", "coach", "manager", "allenatore", "tecnico", "president", "presidente",
    # demonyms: "the Livorno-born manager Italian", "il tecnico portoghese"
    "italian", "english", "spanish", "spaniard", "portuguese", "german", "french", "dutch",
    "argentine", "argentinian", "brazilian", "croatian", "serbian", "belgian", "danish", "dane",
    "norwegian", "swedish", "scottish", "welsh", "irish", "american", "italiano", "portoghese",
    "spagnolo", "tedesco", "francese", "olandese", "argentino", "brasiliano", "croato", "serbo",
    "inglese", "belga", "danese", "svedese", "toscano", "livornese", "romano", "napoletano",
}
ROLE_WORDS = {
    "coach", "manager", "boss", "tactician", "allenatore", "tecnico", "mister", "ct",
    "striker", "midfielder", "defender", "winger", "goalkeeper", "forward", "president",
    "chairman", "owner", "attaccante", "centrocampista", "difensore", "portiere", "presidente",
}


def name_like(vocab: Vocab, text: str) -> bool:
    """A word that may be (part of) a name: capitalised letters, not a known non-name,
    role word or stop word."""
    return (
        len(text) >= 2
        and text[0].isupper()
        and text.replace("-", "").replace("'", "").isalpha()
        and not text.isupper()
        and text.lower() not in NOT_NAMES
        and text.lower() not in ROLE_WORDS
        and not (vocab[text].is_stop or vocab[text.lower()].is_stop)
    )


def name_tokens(doc: Doc) -> list[bool]:
    """is_name_token of each token, each distinct word judged once per doc."""
    if not len(doc):
        return []
    orths, ent_types = doc.to_array([ORTH, ENT_TYPE]).T.tolist()
    strings = doc.vocab.strings
    judged = {orth: name_like(doc.vocab, strings[orth]) for orth, ent_type in zip(orths, ent_types) if not ent_type}
    return [not ent_type and judged[orth] for orth, ent_type in zip(orths, ent_types)]


def name_sequences(doc: Doc, names: list[bool], lowers: list[str]) -> list[Span]:
    """Runs of two or three name tokens, particles allowed inside ("Erik ten Hag")."""
    spans, i = [], 0
    while i < len(doc):
        if not names[i]:
            i += 1
            continue
        j = i + 1
        while j < len(doc) and j - i < 4 and (
            names[j] or (lowers[j] in PARTICLES and j + 1 < len(doc) and names[j + 1])
        ):
            j += 1
        if j - i >= 2 and lowers[j - 1] not in PARTICLES:
            spans.append(Span(doc, i, j, label="PER"))
        i = j
    return spans


def names_after_roles(doc: Doc, names: list[bool], lowers: list[str]) -> list[Span]:
    """A single capitalised token right after a role word: "manager Tudor", "il tecnico Sarri"."""
    return [Span(doc, i, i + 1, label="PER") for i in range(1, len(doc))
            if names[i] and lowers[i - 1] in ROLE_WORDS and not doc[i].is_sent_start]


def first_names_in_pairs(doc: Doc, ents: list[Span], found: list[Span], names: list[bool],
                         lowers: list[str]) -> list[Span]:
    """The first name in "Dan and Ryan Friedkin", "Luca e Antonio Percassi"."""
    pairs = [i for i in range(len(doc) - 2) if lowers[i + 1] in ("and", "e", "&") and names[i]]
    if not pairs:
        return []
    full = {s.start for s in ents + found if len(s) > 1 and s.label_ == "PER"}
    return [Span(doc, i, i + 1, label="PER") for i in pairs if i + 2 in full]


@Language.component("person_names")
def person_names(doc: Doc) -> Doc:
    names = name_tokens(doc)
    lowers = strings_of(doc, LOWER)
    found = name_sequences(doc, names, lowers) + names_after_roles(doc, names, lowers)
    ents = list(doc.ents)
    found += first_names_in_pairs(doc, ents, found, names, lowers)
    if found or not entities_settled(doc):
        doc.set_ents(filter_spans(ents + filter_spans(found)))
    return doc
