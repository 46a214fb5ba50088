"""Stage 4: give every entity mention a canonical name, a type and a stable id.

- Clubs, national teams and outlets: aliases and nicknames resolved through the KB; an
  alias that may name several entities (Azzurri: Italy or Napoli) is settled by which of
  them the article names unambiguously elsewhere, else by the KB's priority.
- Persons: mentions are grouped into one person per article: "Allegri" and
  "Massimiliano Allegri" are one; a surname alone takes the full name found elsewhere
  in the article (or in the KB when only one known person has that surname).
- Descriptions and pronouns ("the Italian", "il tecnico livornese", "he", "the club")
  become mentions of the most recent fitting entity.
- Each person gets a role (COACH, PLAYER, PRESIDENT, JOURNALIST, or PER when unknown)
  from the KB or from role words next to the name.
"""
from __future__ import annotations

import re
from bisect import bisect_left, bisect_right, insort
from collections import Counter, defaultdict
from functools import cached_property, lru_cache
from typing import NamedTuple

import numpy
from spacy.attrs import (
    ENT_ID,
    ENT_IOB,
    ENT_TYPE,
    IS_STOP,
    IS_TITLE,
    LEMMA,
    LOWER,
    ORTH,
    SENT_START,
    SPACY,
)
from spacy.language import Language
from spacy.tokens import Doc, Span

from pipeline.components.lemmas import lemma_table
from pipeline.components.persons import NOT_NAMES
from pipeline.knowledge import Entity, KnowledgeBase, fold, load_kb
from pipeline.matching import GatedMatcher
from pipeline.ruleset import RuleSet, rules_for, with_apostrophe_variants
from pipeline.tokens import as_strings

PERSON_LABELS = {"PER", "COACH", "PLAYER", "PRESIDENT", "JOURNALIST"}
ROLE_FOR_KB_TYPE = {"COACH": "COACH", "PLAYER": "PLAYER", "PRESIDENT": "PRESIDENT",
                    "OFFICIAL": "PRESIDENT", "JOURNALIST": "JOURNALIST"}
OUTPUT_TYPE = {"COACH": "COACH", "PLAYER": "PLAYER", "PRESIDENT": "PERSON", "JOURNALIST": "PERSON",
               "PER": "PERSON", "CLUB": "CLUB", "MEDIA": "MEDIA", "FED": "CLUB", "COMP": "COMPETITION"}
POSSESSIVE = re.compile(r"(’s|'s|’|')$")
DOUBLED = re.compile(r"\b(\w+) \1\b")
RECENT_SENTENCES = 3
I_TAG, B_TAG = 1, 3  # Token.ent_iob of a token inside an entity and of its first token
# English exonyms of cities as openfootball spells them, and demonyms of countries, so that
# "the Turin outfit" or "the Spanish side" finds its club among those the article names.
CITY_NAMES = {"turin": "torino", "milan": "milano", "rome": "roma", "naples": "napoli",
              "florence": "firenze", "genoa": "genova", "munich": "munchen", "lisbon": "lisboa",
              "seville": "sevilla", "cologne": "koln", "venice": "venezia", "capitolino": "roma",
              "capitolina": "roma", "partenopeo": "napoli", "torinese": "torino", "milanese": "milano",
              "bergamasco": "bergamo", "orobico": "bergamo", "orobica": "bergamo", "viola": "firenze",
              "madrileno": "madrid", "madrilena": "madrid", "catalan": "barcelona", "london": "london",
              "north london": "london", "merseyside": "liverpool"}
COUNTRY_ADJECTIVES = {"spanish": "Spain", "italian": "Italy", "english": "England", "german": "Germany",
                      "french": "France", "portuguese": "Portugal", "dutch": "Netherlands",
                      "turkish": "Turkey", "scottish": "Scotland", "saudi": "Saudi Arabia",
                      "spagnolo": "Spain", "spagnola": "Spain", "inglese": "England", "tedesco": "Germany",
                      "tedesca": "Germany", "francese": "France", "portoghese": "Portugal",
                      "olandese": "Netherlands", "turco": "Turkey", "turca": "Turkey", "saudita": "Saudi Arabia"}
PLACE_SUFFIXES = ("born", "based", "nato", "nata")
PLACE_PREPOSITIONS = {"in", "to", "from", "across", "around", "throughout", "dall'", "nel", "dal", "verso"}
COPULAS = {"is", "was", "remains", "became", "becomes", "as", "è", "resta", "diventa"}
POSSESSIVE_TOKENS = ("'s", "’s", "'", "’")
ARTICLES = {"the", "il", "la", "lo", "l'", "l’", "i", "gli", "le"}
NATIONALITY_NOUNS = {"international", "internationals", "star", "striker", "midfielder", "defender",
                     "winger", "forward", "goalkeeper", "keeper", "captain", "youngster", "player", "born"}
NOT_SHORT_FORMS = {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
                   "club", "football", "calcio", "sporting", "athletic", "city", "town", "real",
                   "united", "saint", "olympique", "associazione"} - {"united", "city"}


def plausible_name(text: str) -> bool:
    """"calcioinpillole.com", "Serie B.", "2-0": the NER's slips, never a person."""
    if re.search(r"[\d@/_]|\.\w|www|https?", text) or len(re.findall(r"[^\W\d_]", text)) < 2:
        return False  # "c'" or "✍" is no name
    return not any(word.lower().strip(".") in NOT_NAMES for word in text.split())


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", fold(text)).strip("-")


def clean_name(text: str) -> str:
    """Drop a possessive and a doubled word (a typo such as "Zidane Zidane")."""
    text = POSSESSIVE.sub("", text.strip())
    return DOUBLED.sub(r"\1", " ".join(text.split()))


@lru_cache(maxsize=4096)
def folded(text: str) -> str:
    """fold(), remembered: the same names and words come back in every article."""
    return fold(text)


def sentence_starts(doc: Doc) -> list[int]:
    """Where each of doc.sents starts, without building a Span for each."""
    if "sents" in doc.user_hooks or not len(doc) or not doc.has_annotation("SENT_START"):
        return [s.start for s in doc.sents]  # spaCy's hook, or its error
    flags = doc.to_array(SENT_START)
    return [0, *(numpy.flatnonzero(flags[1:] == 1) + 1).tolist()]


class Found(NamedTuple):
    """An entity of the annotated doc: `ids` are the KB ruler's candidates ("a|b"), "" for the NER's."""
    start: int
    end: int
    label: str
    ids: str
    text: str


class Mention(NamedTuple):
    """A normalised mention. The steps pass these around and build spaCy Spans only for
    doc.ents: a Span's attributes are looked up again on every access."""
    start: int
    end: int
    label: str
    kb_id: str


class Article:
    """One doc as the normaliser reads it: token attributes, sentences and entities, read
    once. Each doc[i] builds a new Token, each doc.ents, span.text or span.sent new objects,
    and the steps ask for the same tokens and sentences many times."""

    def __init__(self, doc: Doc):
        self.doc = doc
        self.size = len(doc)
        attrs = [ORTH, LOWER, LEMMA, ENT_TYPE, IS_TITLE, IS_STOP, SPACY, ENT_ID, ENT_IOB]
        columns = doc.to_array(attrs).reshape(self.size, len(attrs))
        orth, lower, self.lemma_ids, self.ent_types, self.is_title, self.is_stop, self.spaced, ent_ids = \
            columns[:, :-1].T.tolist()
        self.strings = doc.vocab.strings
        self.texts, self.lower = as_strings(doc, orth), as_strings(doc, lower)
        self.sentences = sentence_starts(doc) + [self.size]  # sentence starts, then the end
        self.sent_start: list[int] = []  # per token, where its sentence starts and ends
        self.sent_end: list[int] = []
        for start, end in zip(self.sentences, self.sentences[1:]):
            self.sent_start += [start] * (end - start)
            self.sent_end += [end] * (end - start)
        self.ents = [Found(start, end, self.ent_type(start), self.strings[ent_ids[start]], self.span_text(start, end))
                     for start, end in entity_bounds(iob=columns[:, -1], types=columns[:, attrs.index(ENT_TYPE)])]

    def lemmas(self, start: int, end: int) -> list[str]:
        """The lemmas of doc[start:end] (looked up only where asked for: few tokens are)."""
        return [self.strings[h] for h in self.lemma_ids[start:end]]

    def ent_type(self, i: int) -> str:
        """doc[i].ent_type_ in the annotated doc."""
        return self.strings[self.ent_types[i]]

    def span_text(self, start: int, end: int) -> str:
        """doc[start:end].text"""
        return "".join(self.texts[i] + " " if self.spaced[i] else self.texts[i] for i in range(start, end - 1)) \
            + self.texts[end - 1]

    @cached_property
    def worded_sentences(self) -> list[int]:
        """Starts of the sentences that hold more than whitespace (tokens are separated by
        single spaces, so a sentence is blank when all its tokens are)."""
        return [start for start, end in zip(self.sentences, self.sentences[1:])
                if any(text.strip() for text in self.texts[start:end])]

    def sentences_between(self, first: int, last: int) -> int:
        """How many worded sentences start strictly between token `first` and token `last`."""
        return max(0, bisect_left(self.worded_sentences, last) - bisect_right(self.worded_sentences, first))


def earlier(ordered: list[Mention], start: int) -> list[Mention]:
    """The mentions that end by token `start`, in text order (`ordered` is sorted by start)."""
    return [m for m in ordered[:bisect_left(ordered, start, key=mention_start)] if m.end <= start]


def mention_start(mention: Mention) -> int:
    return mention.start


def entity_bounds(iob: numpy.ndarray, types: numpy.ndarray) -> list[tuple[int, int]]:
    """(start, end) of each of doc.ents, read off the IOB column as its getter does (without
    building Spans): an entity opens at a B token with a label and runs over the I tokens
    after it."""
    starts = numpy.flatnonzero((iob == B_TAG) & (types != 0))
    breaks = numpy.flatnonzero(iob != I_TAG)  # the tokens no entity runs over from before
    ends = numpy.append(breaks, len(iob))[numpy.searchsorted(breaks, starts, side="right")]
    return list(zip(starts.tolist(), ends.tolist()))


def covered(mentions: list[Mention]) -> set[int]:
    """The tokens the mentions cover."""
    return {i for m in mentions for i in range(m.start, m.end)}


class Normaliser:
    def __init__(self, nlp: Language, kb: KnowledgeBase | None = None, rules: RuleSet | None = None):
        """`rules`: the compiled set the stages pass (pipeline.rulebook.load_rules); without
        it, the YAML rule files of the language."""
        self.lang = nlp.lang
        self.kb = kb or load_kb()
        rule_set = rules_for(self.lang, rules)
        self.roles = rule_set.role_words()
        self.phrase_roles = {role: [c for c in cues if " " in c] for role, cues in self.roles.items()}
        self.role_cues = set().union(*self.roles.values())
        phrases = sorted({c for cues in self.phrase_roles.values() for c in cues})
        self.phrase_cue = re.compile("|".join(map(re.escape, phrases))) if phrases else None
        self.opponent_words = rule_set.context_words()["opponent"]
        self.dictionary = lemma_table(self.lang)
        self.ruler_ids: dict[str, list[Entity]] = {}
        self.national_ids: dict[str, bool] = {}
        # asked of every capitalised word of every article; the KB does not change under us
        self.person_by_surname = lru_cache(maxsize=4096)(self.kb.person_by_surname)
        self.lookup = lru_cache(maxsize=4096)(self.kb.lookup)  # its lists are only read
        self.coref = GatedMatcher(nlp.vocab)
        self.coref_rules = {}
        for rule in rule_set["coref"]:
            self.coref.add(rule["id"], [with_apostrophe_variants(rule["pattern"])], greedy="LONGEST")
            self.coref_rules[rule["id"]] = rule

    # -- entry point -------------------------------------------------------------------
    def __call__(self, doc: Doc) -> Doc:
        article = Article(doc)
        names: dict[str, dict] = {}
        found_by = {(e.start, e.end): "kb ruler" if e.ids else "ner" for e in article.ents}
        mentions = self.resolve_named(article, names)
        for step, component in ((self.add_surname_mentions, "surname"), (self.add_club_short_forms, "short form"),
                                (self.add_handles, "handle")):
            mentions = self.noted(step(article, mentions, names), found_by, component)
        self.type_persons(article, mentions, names)
        mentions = self.noted(self.add_coreferences(article, mentions, names), found_by, "coreference")
        # in text order: add_coreferences returns them sorted
        doc.set_ents([Span(doc, m.start, m.end, label=m.label, kb_id=m.kb_id) for m in mentions])
        doc.user_data["entities"] = names
        doc.user_data["found_by"] = {f"{m.start}:{m.end}": found_by.get((m.start, m.end), "ner") for m in mentions}
        return doc

    @staticmethod
    def noted(mentions: list[Mention], found_by: dict[tuple[int, int], str], component: str) -> list[Mention]:
        """Record which component added each new mention (for entities.csv)."""
        for mention in mentions:
            found_by.setdefault((mention.start, mention.end), component)
        return mentions

    # -- named mentions -----------------------------------------------------------------
    def resolve_named(self, article: Article, names: dict) -> list[Mention]:
        """Canonical ids for every NER/ruler entity; persons grouped per article."""
        unambiguous = {e.ids for e in article.ents if e.ids and "|" not in e.ids}
        named_elsewhere = {e.ids for e in article.ents if e.ids and not self.context_word(article, e)}
        mentions, persons = [], []
        for ent in article.ents:
            if ent.label == "PER" and not ent.ids:
                if not self.common_word(article, ent) and plausible_name(ent.text):
                    persons.append(ent)
                continue
            if ent.ids and ent.ids not in named_elsewhere and self.context_word(article, ent):
                continue  # "Reading the table...", "Nice to see": a word, unless the club is in the article
            if self.place_adjective(article, ent):
                continue  # "the Livorno-born manager": a birthplace, not the club
            if self.country_as_place(article, ent) or self.nationality(article, ent):
                continue  # "in Italia", "the Belgium international": a country, not the team
            entity = self.kb_entity(ent, unambiguous)
            if entity is None:
                continue  # an ORG/LOC/MISC the KB does not know plays no part in relations
            label = "PER" if entity.label == "PER" else entity.label
            names[entity.id] = {"name": entity.name, "type": entity.type if label == "PER" else label}
            mentions.append(self.mention(article, ent, entity.id, label))
        mentions += self.group_persons(article, persons, names)
        return mentions

    def context_word(self, article: Article, ent: Found) -> bool:
        """An alias opening a sentence that every entity it may name lists as an everyday word too."""
        return ent.start == article.sent_start[ent.start] and self.kb.is_context_alias(ent.text, ent.ids.split("|"))

    def candidates(self, ids: str) -> list[Entity]:
        """The KB entities a ruler id ("a|b") may name, remembered: the same ids recur in every article."""
        if ids not in self.ruler_ids:
            self.ruler_ids[ids] = [self.kb.entities[i] for i in ids.split("|") if i in self.kb.entities]
        return self.ruler_ids[ids]

    def national(self, ent: Found) -> bool:
        """The ruler's candidates for the entity are all national teams (remembered per ids)."""
        if not ent.ids:
            return False
        if ent.ids not in self.national_ids:
            self.national_ids[ent.ids] = all(e.type == "NATIONAL" for e in self.candidates(ent.ids))
        return self.national_ids[ent.ids]

    def country_as_place(self, article: Article, ent: Found) -> bool:
        if not self.national(ent):
            return False
        before = article.lower[ent.start - 1] if ent.start else ""
        return before in PLACE_PREPOSITIONS and not ent.text.lower().startswith(("nazionale", "national"))

    def nationality(self, article: Article, ent: Found) -> bool:
        """"the Nigeria international", "the Belgium striker": a player's nationality."""
        return self.national(ent) and ent.end < article.size and article.lower[ent.end] in NATIONALITY_NOUNS

    @staticmethod
    def place_adjective(article: Article, ent: Found) -> bool:
        end, texts, lower = ent.end, article.texts, article.lower
        if end + 2 <= article.size and texts[end] == "-" and lower[end + 1] in PLACE_SUFFIXES:
            return True
        return end < article.size and lower[end].lstrip("-") in PLACE_SUFFIXES and texts[end].startswith("-")

    def kb_entity(self, ent: Found, unambiguous: set[str]) -> Entity | None:
        if ent.ids:
            candidates = self.candidates(ent.ids)
        else:
            candidates = [e for e in self.lookup(clean_name(ent.text)) if e.label != "PER"]
            if not candidates and ent.text.lower().startswith("the "):
                candidates = [e for e in self.lookup(ent.text[4:]) if e.label != "PER"]
        if not candidates:
            return None
        preferred = [e for e in candidates if e.id in unambiguous]
        return min(preferred or candidates, key=lambda e: (-e.priority, e.id))

    def group_persons(self, article: Article, persons: list[Found], names: dict) -> list[Mention]:
        """One id per person: full names first, then surnames and first names attach to them."""
        full: dict[str, str] = {}   # folded token -> person id
        mentions = []
        for ent_id in dict.fromkeys(e.ids for e in article.ents if e.ids in self.kb.entities):
            self.register_person(self.kb.entities[ent_id].name, ent_id, names, full)
        for ent in sorted(persons, key=lambda e: e.start - e.end):  # longest first
            name = self.shared_surname(article, ent) or clean_name(ent.text)
            if not name:
                continue
            person_id = self.person_id(name, full, names)
            mentions.append(self.mention(article, ent, person_id, "PER"))
        return mentions

    @staticmethod
    def shared_surname(article: Article, ent: Found) -> str | None:
        """"Dan and Ryan Friedkin": the lone first name takes the surname that follows."""
        if ent.end - ent.start != 1 or ent.end + 2 >= article.size or article.lower[ent.end] not in ("and", "e", "&"):
            return None
        partner = next((e for e in article.ents if e.start == ent.end + 1 and e.label == "PER" and e.end - e.start > 1),
                       None)
        return f"{ent.text} {' '.join(article.texts[partner.start + 1: partner.end])}" if partner is not None else None

    def register_person(self, name: str, person_id: str, names: dict, full: dict) -> None:
        entity = self.kb.entities.get(person_id)
        names.setdefault(person_id, {"name": name, "type": entity.type if entity else "PER"})
        tokens = name.split()
        if len(tokens) > 1 and folded(tokens[-1]):
            full.setdefault(folded(tokens[-1]), person_id)
            full.setdefault(folded(" ".join(tokens[1:])), person_id)
            full.setdefault(folded(name), person_id)

    def person_id(self, name: str, full: dict, names: dict) -> str:
        key = folded(name)
        if key in full:
            return full[key]
        tokens = name.split()
        if len(tokens) == 1:
            for other_key, other_id in full.items():
                if other_key and key == other_key.split()[0] and len(names[other_id]["name"].split()) > 1:
                    return other_id  # a first name alone ("Xabi")
            known = self.person_by_surname(name)
            if known:
                self.register_person(known.name, known.id, names, full)
                return known.id
        known = next((e for e in self.lookup(name) if e.label == "PER"), None) or self.person_by_surname(name)
        person_id = known.id if known else f"person:{slug(name)}"
        self.register_person(known.name if known else name, person_id, names, full)
        return person_id

    def add_surname_mentions(self, article: Article, mentions: list[Mention], names: dict) -> list[Mention]:
        """A known surname the NER missed ("Allegri Juventus return") is still that person."""
        surnames = self.surnames(names)
        taken = covered(mentions)
        extra = self.known_surnames(article, taken, names)
        texts = article.texts
        firsts = {key[0] for key in surnames}
        starts: dict[str, list[int]] = defaultdict(list)
        for i, text in enumerate(texts):
            if text in firsts:
                starts[text].append(i)
        for key, people in sorted(surnames.items(), key=lambda item: -len(item[0])):
            for start in starts.get(key[0], ()):
                end = start + len(key)
                if tuple(texts[start:end]) != key or any(i in taken for i in range(start, end)):
                    continue
                person_id = self.last_named(mentions, people, start)
                extra.append(Mention(start, end, "PER", person_id))
                taken.update(range(start, end))
        return mentions + extra

    def surnames(self, names: dict) -> dict[tuple[str, ...], list[str]]:
        """The surnames (as token tuples) of the people named so far, each with its people."""
        surnames: dict[tuple[str, ...], list[str]] = {}
        for person_id, info in names.items():
            if info["type"] not in ROLE_FOR_KB_TYPE and info["type"] != "PER":
                continue
            entity = self.kb.entities.get(person_id)
            tokens = info["name"].split()
            if entity and entity.surname and entity.surname != entity.name:
                surnames.setdefault(tuple(entity.surname.split()), []).insert(0, person_id)
            if len(tokens) > 1 and person_id not in surnames.get((tokens[-1],), []):
                surnames.setdefault((tokens[-1],), []).append(person_id)
        return surnames

    @staticmethod
    def last_named(mentions: list[Mention], people: list[str], position: int) -> str:
        """Of the people sharing a surname (Simone and Filippo Inzaghi), the one named last
        before this mention; the first of them when none was named before it."""
        before = [m for m in mentions if m.kb_id in people and m.end <= position]
        return max(before, key=lambda m: m.start).kb_id if before else people[0]

    def known_surnames(self, article: Article, taken: set[int], names: dict) -> list[Mention]:
        """A lone capitalised token that is the surname of exactly one KB person ("Solari",
        "Osimhen") names that person, when the NER has not tagged it."""
        found = []
        texts, title = article.texts, article.is_title
        for i, text in enumerate(texts):
            if not title[i] or i in taken or article.is_stop[i] or len(text) < 4:
                continue
            if i + 1 < article.size and title[i + 1] and article.sent_start[i + 1] != i + 1:
                continue  # part of a longer name the NER did not tag
            entity = self.person_by_surname(text)
            if entity is None or folded(entity.surname) != folded(text):
                continue
            names.setdefault(entity.id, {"name": entity.name, "type": entity.type})
            found.append(Mention(i, i + 1, "PER", entity.id))
            taken.add(i)
        return found

    def add_handles(self, article: Article, mentions: list[Mention], names: dict) -> list[Mention]:
        """"@SkySport", "@FabrizioRomano": a social-media handle names the outlet or journalist."""
        handles = [i for i, text in enumerate(article.texts) if text.startswith("@") and len(text) >= 3]
        taken = covered(mentions) if handles else set()
        extra = []
        for i in handles:
            entity = self.kb.handle(article.texts[i]) if i not in taken else None
            if entity is not None:
                names.setdefault(entity.id, {"name": entity.name, "type": entity.type})
                extra.append(Mention(i, i + 1, entity.label, entity.id))
        return mentions + extra

    def add_club_short_forms(self, article: Article, mentions: list[Mention], names: dict) -> list[Mention]:
        """"United", "Madrid", "Forest" alone name the one club of the article whose name
        holds that word ("Manchester United is ... United are tracking")."""
        clubs = {m.kb_id: names[m.kb_id]["name"] for m in mentions if m.label == "CLUB" and m.kb_id in names}
        words: dict[str, set[str]] = {}
        for club_id, name in clubs.items():
            for word in name.split():
                if len(word) >= 4 and word[0].isupper() and word.lower() not in NOT_SHORT_FORMS:
                    words.setdefault(word, set()).add(club_id)
        club_of = {word: next(iter(ids)) for word, ids in words.items() if len(ids) == 1}
        taken = covered(mentions)
        extra = [Mention(i, i + 1, "CLUB", club_of[text]) for i, text in enumerate(article.texts)
                 if text in club_of and i not in taken]
        return mentions + extra

    # -- roles ----------------------------------------------------------------------------
    def type_persons(self, article: Article, mentions: list[Mention], names: dict) -> None:
        votes: dict[str, Counter] = defaultdict(Counter)
        for mention in mentions:
            if mention.label in PERSON_LABELS:
                for role in self.roles_near(article, mention):
                    votes[mention.kb_id][role] += 1
        for person_id, info in names.items():
            if info["type"] in ROLE_FOR_KB_TYPE:
                info["role"] = ROLE_FOR_KB_TYPE[info["type"]]
            elif info["type"] in ("PER",):
                ranked = votes[person_id].most_common()
                info["role"] = ranked[0][0] if ranked else "PER"
        for i, mention in enumerate(mentions):
            if mention.label in PERSON_LABELS:
                mentions[i] = mention._replace(label=names[mention.kb_id]["role"])

    def roles_near(self, article: Article, mention: Mention) -> list[str]:
        """Role words within three tokens before or two after the name, same sentence."""
        first, last = article.sent_start[mention.start], article.sent_end[mention.start]
        found = []
        for start, end in ((max(first, mention.start - 3), mention.start), (mention.end, min(last, mention.end + 2))):
            if start >= end:
                continue
            lower = article.lower[start:end]
            words = {*article.lemmas(start, end), *lower}
            text = " ".join(lower)
            if words.isdisjoint(self.role_cues) and not (self.phrase_cue and self.phrase_cue.search(text)):
                continue  # most windows: no cue of any role
            for role, cues in self.roles.items():
                if not cues.isdisjoint(words) or any(c in text for c in self.phrase_roles[role]):
                    found.append(role)
        return found

    # -- coreference ------------------------------------------------------------------------
    def add_coreferences(self, article: Article, mentions: list[Mention], names: dict) -> list[Mention]:
        """Resolve descriptions and pronouns left to right, so that "His" can refer to
        "The Dutchman" resolved just before."""
        taken = covered(mentions)
        ordered = sorted(mentions, key=mention_start)
        matches = sorted(self.coref(article.doc), key=lambda m: (m[1], -m[2]))
        for match_id, start, end in matches:
            rule = self.coref_rules[article.doc.vocab.strings[match_id]]
            own = range(end - 1, end) if rule.get("span_last") else range(start, end)
            if any(i in taken for i in own) or self.blocked(article, end, rule) or self.predicative(article, start, rule):
                continue
            target = self.resolve(article, earlier(ordered, start), start, end, rule)
            if target is not None:
                insort(ordered, Mention(own.start, end, target.label, target.kb_id), key=mention_start)
                taken.update(own)
        return ordered

    def resolve(self, article: Article, before: list[Mention], start: int, end: int, rule: dict) -> Mention | None:
        """The mention (of those `before` the description, in text order) it refers to."""
        if rule["refers_to"] == "CLUB":
            return (self.club_described(article, before, start, end) or self.same_sentence_club(article, before, start)
                    or self.salient(before, ("CLUB",)))
        if rule["refers_to"] == "PRESIDENT":
            return self.salient(before, ("PRESIDENT",))
        if rule.get("latest"):
            return self.latest_person(before)
        if rule.get("pronoun"):
            return self.pronoun_antecedent(article, before, start, bool(rule.get("outside_sentence")))
        if rule.get("resolve") == "previous_subject":
            return self.pronoun_antecedent(article, before, start, True)
        return self.described_person(article, before, start)

    @staticmethod
    def latest_person(before: list[Mention]) -> Mention | None:
        """"quest'ultimo", "the latter": the person named last."""
        return next((m for m in reversed(before) if m.label in ("COACH", "PER")), None)

    @staticmethod
    def predicative(article: Article, start: int, rule: dict) -> bool:
        """"he is now the Chelsea head coach": a description after a copula says what the
        subject is, it does not refer back (relation rules read it)."""
        if rule.get("pronoun"):
            return False
        return not COPULAS.isdisjoint(article.lower[max(0, start - 2): start])

    @staticmethod
    def blocked(article: Article, end: int, rule: dict) -> bool:
        """Not a description when a listed word or a name follows ("the coach Conte",
        "il tecnico del Napoli"); "di" blocks only before a club ("il tecnico di Grugliasco" is one)."""
        if end >= article.size:
            return False
        following = article.lower[end]
        not_before = rule.get("not_before") or []
        if following == "di" and "di" in not_before:
            return end + 1 < article.size and article.ent_type(end + 1) == "CLUB"
        if rule.get("before_club") and article.ent_type(end) == "CLUB":
            return False  # "l'ex Atalanta", "the former Chelsea boss"
        if following in NOT_NAMES:
            return following in not_before  # "the Livorno-born manager Italian"
        return following in not_before or article.texts[end][:1].isupper()

    def club_described(self, article: Article, before: list[Mention], start: int, end: int) -> Mention | None:
        """"the Turin outfit", "the Spanish side", "il club capitolino": a club the article
        names whose city or country the description gives."""
        cues = article.lower[max(0, start - 1): end + 1]
        cities = {CITY_NAMES.get(c, c) for c in cues}
        countries = {COUNTRY_ADJECTIVES[c] for c in cues if c in COUNTRY_ADJECTIVES}
        for mention in reversed(before):
            entity = self.kb.entities.get(mention.kb_id) if mention.label == "CLUB" else None
            if entity and (folded(entity.city) in cities or entity.country in countries):
                return mention
        return None

    def described_person(self, article: Article, before: list[Mention], start: int) -> Mention | None:
        """"the Portuguese", "the 62-year-old", "the head coach": someone named just before,
        unless the article's main coach is talked about far more."""
        recent = self.salient(self.recent_window(article, before, start))
        main = self.salient(before)
        if recent is None or main is None:
            return recent or main
        count = Counter(m.kb_id for m in before)
        return main if count[main.kb_id] >= 2 * count[recent.kb_id] else recent

    @staticmethod
    def recent_window(article: Article, earlier: list[Mention], start: int) -> list[Mention]:
        """Mentions of people named in this sentence or the two before it that name anyone,
        counted with all their mentions so far: "the 62-year-old" is someone just talked about."""
        sentence_of = article.sent_start
        sentences = []
        for mention in reversed(earlier):
            if sentence_of[mention.start] not in sentences:
                sentences.append(sentence_of[mention.start])
            if len(sentences) > 3:
                break
        keep = set(sentences[:3]) | {sentence_of[start]}
        recent_ids = {m.kb_id for m in earlier if sentence_of[m.start] in keep}
        return [m for m in earlier if m.kb_id in recent_ids]

    def same_sentence_club(self, article: Article, before: list[Mention], start: int) -> Mention | None:
        """"Zidane decided to leave the club" right after naming Real Madrid in that sentence."""
        first = article.sent_start[start]
        clubs = [m for m in before if first <= m.start and m.label == "CLUB" and not self.as_opponent(article, m)]
        return clubs[-1] if clubs else None

    def as_opponent(self, article: Article, club: Mention) -> bool:
        window = article.lower[max(article.sent_start[club.start], club.start - 4): club.start]
        return not self.opponent_words.isdisjoint(window)

    def pronoun_antecedent(self, article: Article, before: list[Mention], start: int,
                           outside_sentence: bool = False) -> Mention | None:
        """"he", "his": a person earlier in the same sentence, else the first person (the
        likely subject) of the previous sentence with one, else the article's main coach."""
        wanted = {"COACH", "PER"}
        first = article.sent_start[start]
        same = [m for m in before if first <= m.start and m.label in wanted
                and not (m.end < article.size and article.texts[m.end] in ("'s", "’s"))]
        if outside_sentence:
            # "Frank is set to replace him": never the subject of its own clause, but "United
            # set their sights on Amorim and ... to bring him in" may name him further back
            others = [m for m in same if start - m.end > 6]
            if others:
                return others[-1]
        elif same:
            return same[0]  # the sentence's subject: "Maresca worked as Guardiola's assistant ... he"
        previous = [m for m in before if m.end <= first and m.label in wanted]
        if previous:
            last_sentence = article.sent_start[previous[-1].start]
            if article.sentences_between(last_sentence, first) <= RECENT_SENTENCES:
                return next(m for m in previous if article.sent_start[m.start] == last_sentence)
        return self.salient(before)

    @staticmethod
    def salient(before: list[Mention], labels: tuple = ("COACH", "PER")) -> Mention | None:
        """The coach (or club) the article has talked about most so far (ties: the latest);
        a coach's mention counts three times.

        Descriptions ("the Portuguese boss", "the 39-year-old", "the club") name the
        article's main person or club far more often than the last one named.
        """
        counts: dict[str, int] = {}
        latest: dict[str, Mention] = {}
        for m in before:
            if m.label in labels:
                counts[m.kb_id] = counts.get(m.kb_id, 0) + (3 if m.label == "COACH" else 1)
                latest[m.kb_id] = m
        if not latest:
            return None
        best = max(latest, key=lambda i: (counts[i], latest[i].start))
        return latest[best]

    @staticmethod
    def mention(article: Article, ent: Found, entity_id: str, label: str) -> Mention:
        """The mention without a possessive or, for clubs, a leading article ("the Old Lady")."""
        start, end = ent.start, ent.end
        if end - start > 1 and article.texts[end - 1] in POSSESSIVE_TOKENS:
            end -= 1
        if label == "CLUB" and end - start > 1 and article.lower[start] in ARTICLES:
            start += 1
        return Mention(start, end, label, entity_id)

    def common_word(self, article: Article, ent: Found) -> bool:
        """A lone capitalised dictionary word opening a sentence ("Momento", "Publicly") that
        the NER took for a name, and that names no known person."""
        if ent.end - ent.start != 1 or ent.start != article.sent_start[ent.start]:
            return False
        word = ent.text.lower()
        return (word in self.dictionary or bool(article.is_stop[ent.start])) \
            and self.person_by_surname(ent.text) is None and not self.lookup(ent.text)


def additions(doc: Doc) -> dict:
    """What normalise adds to an annotated doc: its entities with their KB ids, and their
    names and finders in user_data. The cache keeps these, not a second copy of the doc."""
    return {"ents": [[e.start, e.end, e.label_, e.kb_id_] for e in doc.ents],
            "entities": doc.user_data.get("entities", {}), "found_by": doc.user_data.get("found_by", {})}


def with_additions(doc: Doc, added: dict) -> Doc:
    """The normalised doc again: the annotated doc with what normalise added."""
    doc.set_ents([Span(doc, start, end, label=label, kb_id=kb_id) for start, end, label, kb_id in added["ents"]])
    doc.user_data["entities"] = added["entities"]
    doc.user_data["found_by"] = added["found_by"]
    return doc


def mention_rows(doc: Doc) -> list[dict]:
    """The entity table of one normalised doc: every mention with its canonical name."""
    names = doc.user_data.get("entities", {})
    found_by = doc.user_data.get("found_by", {})
    article_id = doc.user_data.get("article_id", "")
    starts = sentence_starts(doc)
    rows = []
    for ent in doc.ents:
        info = names.get(ent.kb_id_, {})
        mention = ent.text
        rows.append({
            "article_id": article_id, "text": mention,
            "canonical": info.get("name", mention), "type": OUTPUT_TYPE.get(ent.label_, ent.label_),
            "entity_id": ent.kb_id_, "start": ent.start_char, "end": ent.end_char,
            "sentence": bisect_right(starts, ent.start) - 1,
            "component": found_by.get(f"{ent.start}:{ent.end}", ""),
        })
    return rows
