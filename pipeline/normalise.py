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
from collections import Counter, defaultdict
from dataclasses import dataclass

from spacy.language import Language
from spacy.matcher import Matcher
from spacy.tokens import Doc, Span
from spacy.util import filter_spans

from pipeline.knowledge import Entity, KnowledgeBase, fold, load_kb
from pipeline.ruleset import rule_file, role_words

PERSON_LABELS = {"PER", "COACH", "PLAYER", "PRESIDENT", "JOURNALIST"}
ROLE_FOR_KB_TYPE = {"COACH": "COACH", "PLAYER": "PLAYER", "PRESIDENT": "PRESIDENT",
                    "OFFICIAL": "PRESIDENT", "JOURNALIST": "JOURNALIST"}
OUTPUT_TYPE = {"COACH": "COACH", "PLAYER": "PLAYER", "PRESIDENT": "PERSON", "JOURNALIST": "PERSON",
               "PER": "PERSON", "CLUB": "CLUB", "MEDIA": "MEDIA"}
POSSESSIVE = re.compile(r"(’s|'s|’|')$")
RECENT_SENTENCES = 3


@dataclass
class Mention:
    start: int
    end: int
    entity_id: str
    label: str
    source: str  # ner, kb, names, coreference


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", fold(text)).strip("-")


def clean_name(text: str) -> str:
    text = POSSESSIVE.sub("", text.strip())
    return " ".join(text.split())


class Normaliser:
    def __init__(self, nlp: Language, kb: KnowledgeBase | None = None):
        self.lang = nlp.lang
        self.kb = kb or load_kb()
        self.roles = role_words(self.lang)
        self.coref = Matcher(nlp.vocab)
        self.coref_rules = {}
        for rule in rule_file(self.lang, "coref"):
            self.coref.add(rule["id"], [rule["pattern"]], greedy="LONGEST")
            self.coref_rules[rule["id"]] = rule

    # -- entry point -------------------------------------------------------------------
    def __call__(self, doc: Doc) -> Doc:
        names: dict[str, dict] = {}
        spans = self.resolve_named(doc, names)
        spans = self.add_surname_mentions(doc, spans, names)
        self.type_persons(doc, spans, names)
        spans = self.add_coreferences(doc, spans, names)
        doc.ents = sorted(spans, key=lambda s: s.start)
        doc.user_data["entities"] = names
        return doc

    # -- named mentions -----------------------------------------------------------------
    def resolve_named(self, doc: Doc, names: dict) -> list[Span]:
        """Canonical ids for every NER/ruler entity; persons grouped per article."""
        unambiguous = {e.ent_id_ for e in doc.ents if e.ent_id_ and "|" not in e.ent_id_}
        spans, persons = [], []
        for ent in doc.ents:
            if ent.label_ == "PER" and not ent.ent_id_:
                persons.append(ent)
                continue
            entity = self.kb_entity(ent, unambiguous)
            if entity is None:
                continue  # an ORG/LOC/MISC the KB does not know plays no part in relations
            label = "PER" if entity.label == "PER" else entity.label
            names[entity.id] = {"name": entity.name, "type": entity.type if label == "PER" else label}
            spans.append(self.span(doc, ent, entity.id, label, "kb"))
        spans += self.group_persons(doc, persons, names)
        return spans

    def kb_entity(self, ent: Span, unambiguous: set[str]) -> Entity | None:
        if ent.ent_id_:
            candidates = [self.kb.entities[i] for i in ent.ent_id_.split("|") if i in self.kb.entities]
        else:
            candidates = [e for e in self.kb.lookup(clean_name(ent.text)) if e.label != "PER"]
            if not candidates and ent.text.lower().startswith("the "):
                candidates = [e for e in self.kb.lookup(ent.text[4:]) if e.label != "PER"]
        if not candidates:
            return None
        preferred = [e for e in candidates if e.id in unambiguous]
        return min(preferred or candidates, key=lambda e: (-e.priority, e.id))

    def group_persons(self, doc: Doc, persons: list[Span], names: dict) -> list[Span]:
        """One id per person: full names first, then surnames and first names attach to them."""
        full: dict[str, str] = {}   # folded token -> person id
        spans = []
        known = {e.ent_id_: e for e in doc.ents if e.ent_id_ in self.kb.entities}
        for ent_id, ent in known.items():
            self.register_person(self.kb.entities[ent_id].name, ent_id, names, full)
        for ent in sorted(persons, key=lambda e: -len(e)):
            name = clean_name(ent.text)
            if not name:
                continue
            person_id = self.person_id(name, full, names)
            spans.append(self.span(doc, ent, person_id, "PER", "ner"))
        for ent in doc.ents:
            if ent.ent_id_ in self.kb.entities and self.kb.entities[ent.ent_id_].label == "PER":
                pass  # already added in resolve_named as kb spans
        return spans

    def register_person(self, name: str, person_id: str, names: dict, full: dict) -> None:
        entity = self.kb.entities.get(person_id)
        names.setdefault(person_id, {"name": name, "type": entity.type if entity else "PER"})
        tokens = name.split()
        if len(tokens) > 1:
            full.setdefault(fold(tokens[-1]), person_id)
            full.setdefault(fold(" ".join(tokens[1:])), person_id)
            full.setdefault(fold(name), person_id)

    def person_id(self, name: str, full: dict, names: dict) -> str:
        key = fold(name)
        if key in full:
            return full[key]
        tokens = name.split()
        if len(tokens) == 1:
            for other_key, other_id in full.items():
                if key == other_key.split()[0] and len(names[other_id]["name"].split()) > 1:
                    return other_id  # a first name alone ("Xabi")
            known = self.kb.person_by_surname(name)
            if known:
                self.register_person(known.name, known.id, names, full)
                return known.id
        known = next((e for e in self.kb.lookup(name) if e.label == "PER"), None)
        person_id = known.id if known else f"person:{slug(name)}"
        self.register_person(known.name if known else name, person_id, names, full)
        return person_id

    def add_surname_mentions(self, doc: Doc, spans: list[Span], names: dict) -> list[Span]:
        """A known surname the NER missed ("Allegri Juventus return") is still that person."""
        surnames = {}
        for person_id, info in names.items():
            if info["type"] in ROLE_FOR_KB_TYPE or info["type"] == "PER":
                tokens = info["name"].split()
                if len(tokens) > 1:
                    surnames[tokens[-1]] = person_id
        taken = {i for s in spans for i in range(s.start, s.end)}
        extra = [
            Span(doc, t.i, t.i + 1, label="PER", kb_id=surnames[t.text])
            for t in doc if t.text in surnames and t.i not in taken
        ]
        return spans + extra

    # -- roles ----------------------------------------------------------------------------
    def type_persons(self, doc: Doc, spans: list[Span], names: dict) -> None:
        votes: dict[str, Counter] = defaultdict(Counter)
        for span in spans:
            if span.label_ in PERSON_LABELS:
                for role in self.roles_near(doc, span):
                    votes[span.kb_id_][role] += 1
        for person_id, info in names.items():
            if info["type"] in ROLE_FOR_KB_TYPE:
                info["role"] = ROLE_FOR_KB_TYPE[info["type"]]
            elif info["type"] in ("PER",):
                ranked = votes[person_id].most_common()
                info["role"] = ranked[0][0] if ranked else "PER"
        for i, span in enumerate(spans):
            if span.label_ in PERSON_LABELS:
                spans[i] = Span(doc, span.start, span.end, label=names[span.kb_id_]["role"], kb_id=span.kb_id_)

    def roles_near(self, doc: Doc, span: Span) -> list[str]:
        """Role words within three tokens before or two after the name, same sentence."""
        sent = span.sent
        left = doc[max(sent.start, span.start - 3): span.start]
        right = doc[span.end: min(sent.end, span.end + 2)]
        found = []
        for window in (left, right):
            words = [t.lemma_ for t in window] + [t.lower_ for t in window]
            text = " ".join(t.lower_ for t in window)
            for role, cues in self.roles.items():
                if any(w in cues for w in words) or any(" " in c and c in text for c in cues):
                    found.append(role)
        return found

    # -- coreference ------------------------------------------------------------------------
    def add_coreferences(self, doc: Doc, spans: list[Span], names: dict) -> list[Span]:
        taken = {i for s in spans for i in range(s.start, s.end)}
        ordered = sorted(spans, key=lambda s: s.start)
        salience = Counter(s.kb_id_ for s in spans if s.label_ == "COACH")
        extra = []
        for match_id, start, end in self.coref(doc):
            rule = self.coref_rules[doc.vocab.strings[match_id]]
            if any(i in taken for i in range(start, end)) or self.blocked(doc, end, rule):
                continue
            target = self.antecedent(doc, ordered, start, rule["refers_to"], salience)
            if target:
                label = target.label_
                extra.append(Span(doc, start, end, label=label, kb_id=target.kb_id_))
        return filter_spans(spans + extra)

    @staticmethod
    def blocked(doc: Doc, end: int, rule: dict) -> bool:
        following = rule.get("not_before") or []
        return end < len(doc) and (doc[end].lower_ in following or doc[end].text[:1].isupper())

    @staticmethod
    def antecedent(doc: Doc, ordered: list[Span], start: int, refers_to: str,
                   salience: Counter) -> Span | None:
        """The latest fitting mention before `start` within a few sentences, else the main coach."""
        sent_starts = [s.start for s in doc.sents]
        here = sum(1 for s in sent_starts if s <= start)
        wanted = {"COACH", "PER"} if refers_to == "COACH" else {"CLUB"}
        for span in reversed([s for s in ordered if s.end <= start]):
            distance = here - sum(1 for s in sent_starts if s <= span.start)
            if distance > RECENT_SENTENCES:
                break
            if span.label_ in wanted:
                return span
        if refers_to == "COACH" and salience:
            best = salience.most_common(1)[0][0]
            return next((s for s in ordered if s.kb_id_ == best), None)
        return None

    @staticmethod
    def span(doc: Doc, ent: Span, entity_id: str, label: str, source: str) -> Span:
        start, end = ent.start, ent.end
        if end - start > 1 and doc[end - 1].text in ("'s", "’s", "'", "’"):
            end -= 1
        return Span(doc, start, end, label=label, kb_id=entity_id)


def mention_rows(doc: Doc) -> list[dict]:
    """The entity table of one normalised doc: every mention with its canonical name."""
    names = doc.user_data.get("entities", {})
    sent_index = {s.start: i for i, s in enumerate(doc.sents)}
    rows = []
    for ent in doc.ents:
        info = names.get(ent.kb_id_, {})
        sentence = max(i for start, i in sent_index.items() if start <= ent.start)
        rows.append({
            "article_id": doc.user_data.get("article_id", ""), "text": ent.text,
            "canonical": info.get("name", ent.text), "type": OUTPUT_TYPE.get(ent.label_, ent.label_),
            "entity_id": ent.kb_id_, "start": ent.start_char, "end": ent.end_char,
            "sentence": sentence,
        })
    return rows
