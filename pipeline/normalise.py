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

from spacy.language import Language
from spacy.matcher import Matcher
from spacy.tokens import Doc, Span

from pipeline.components.lemmas import lemma_table
from pipeline.components.persons import NOT_NAMES
from pipeline.knowledge import Entity, KnowledgeBase, fold, load_kb
from pipeline.ruleset import RuleSet, rules_for, with_apostrophe_variants

PERSON_LABELS = {"PER", "COACH", "PLAYER", "PRESIDENT", "JOURNALIST"}
ROLE_FOR_KB_TYPE = {"COACH": "COACH", "PLAYER": "PLAYER", "PRESIDENT": "PRESIDENT",
                    "OFFICIAL": "PRESIDENT", "JOURNALIST": "JOURNALIST"}
OUTPUT_TYPE = {"COACH": "COACH", "PLAYER": "PLAYER", "PRESIDENT": "PERSON", "JOURNALIST": "PERSON",
               "PER": "PERSON", "CLUB": "CLUB", "MEDIA": "MEDIA", "FED": "CLUB", "COMP": "COMPETITION"}
POSSESSIVE = re.compile(r"(’s|'s|’|')$")
DOUBLED = re.compile(r"\b(\w+) \1\b")
RECENT_SENTENCES = 3
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


class Normaliser:
    def __init__(self, nlp: Language, kb: KnowledgeBase | None = None, rules: RuleSet | None = None):
        """`rules`: the compiled set the stages pass (pipeline.rulebook.load_rules); without
        it, the YAML rule files of the language."""
        self.lang = nlp.lang
        self.kb = kb or load_kb()
        rule_set = rules_for(self.lang, rules)
        self.roles = rule_set.role_words()
        self.opponent_words = rule_set.context_words()["opponent"]
        self.dictionary = lemma_table(self.lang)
        self.coref = Matcher(nlp.vocab)
        self.coref_rules = {}
        for rule in rule_set["coref"]:
            self.coref.add(rule["id"], [with_apostrophe_variants(rule["pattern"])], greedy="LONGEST")
            self.coref_rules[rule["id"]] = rule

    # -- entry point -------------------------------------------------------------------
    def __call__(self, doc: Doc) -> Doc:
        names: dict[str, dict] = {}
        found_by = {f"{e.start}:{e.end}": "kb ruler" if e.ent_id_ else "ner" for e in doc.ents}
        spans = self.resolve_named(doc, names)
        for step, component in ((self.add_surname_mentions, "surname"), (self.add_club_short_forms, "short form"),
                                (self.add_handles, "handle")):
            spans = self.noted(step(doc, spans, names), found_by, component)
        self.type_persons(doc, spans, names)
        spans = self.noted(self.add_coreferences(doc, spans, names), found_by, "coreference")
        doc.ents = sorted(spans, key=lambda s: s.start)
        doc.user_data["entities"] = names
        doc.user_data["found_by"] = {f"{s.start}:{s.end}": found_by.get(f"{s.start}:{s.end}", "ner") for s in spans}
        return doc

    @staticmethod
    def noted(spans: list[Span], found_by: dict[str, str], component: str) -> list[Span]:
        """Record which component added each new mention (for entities.csv)."""
        for span in spans:
            found_by.setdefault(f"{span.start}:{span.end}", component)
        return spans

    # -- named mentions -----------------------------------------------------------------
    def resolve_named(self, doc: Doc, names: dict) -> list[Span]:
        """Canonical ids for every NER/ruler entity; persons grouped per article."""
        unambiguous = {e.ent_id_ for e in doc.ents if e.ent_id_ and "|" not in e.ent_id_}
        named_elsewhere = {e.ent_id_ for e in doc.ents if e.ent_id_ and not (
            e.start == e.sent.start and self.kb.is_context_alias(e.text, e.ent_id_.split("|")))}
        spans, persons = [], []
        for ent in doc.ents:
            if ent.label_ == "PER" and not ent.ent_id_:
                if not self.common_word(doc, ent) and plausible_name(ent.text):
                    persons.append(ent)
                continue
            if (ent.ent_id_ and ent.start == ent.sent.start and ent.ent_id_ not in named_elsewhere
                    and self.kb.is_context_alias(ent.text, ent.ent_id_.split("|"))):
                continue  # "Reading the table...", "Nice to see": a word, unless the club is in the article
            if self.place_adjective(doc, ent):
                continue  # "the Livorno-born manager": a birthplace, not the club
            if self.country_as_place(doc, ent) or self.nationality(doc, ent):
                continue  # "in Italia", "the Belgium international": a country, not the team
            entity = self.kb_entity(ent, unambiguous)
            if entity is None:
                continue  # an ORG/LOC/MISC the KB does not know plays no part in relations
            label = "PER" if entity.label == "PER" else entity.label
            names[entity.id] = {"name": entity.name, "type": entity.type if label == "PER" else label}
            spans.append(self.span(doc, ent, entity.id, label))
        spans += self.group_persons(doc, persons, names)
        return spans

    def country_as_place(self, doc: Doc, ent: Span) -> bool:
        ids = ent.ent_id_.split("|") if ent.ent_id_ else []
        if not ids or not all(self.kb.entities[i].type == "NATIONAL" for i in ids if i in self.kb.entities):
            return False
        before = doc[ent.start - 1].lower_ if ent.start else ""
        return before in {"in", "to", "from", "across", "around", "throughout", "dall'", "nel", "dal",
                          "verso"} and not ent.text.lower().startswith(("nazionale", "national"))

    def nationality(self, doc: Doc, ent: Span) -> bool:
        """"the Nigeria international", "the Belgium striker": a player's nationality."""
        ids = ent.ent_id_.split("|") if ent.ent_id_ else []
        national = ids and all(self.kb.entities[i].type == "NATIONAL" for i in ids if i in self.kb.entities)
        return bool(national) and ent.end < len(doc) and doc[ent.end].lower_ in NATIONALITY_NOUNS

    @staticmethod
    def place_adjective(doc: Doc, ent: Span) -> bool:
        after = doc[ent.end: ent.end + 2]
        return bool(len(after) == 2 and after[0].text == "-" and after[1].lower_ in PLACE_SUFFIXES) or \
            (ent.end < len(doc) and doc[ent.end].lower_.lstrip("-") in PLACE_SUFFIXES and doc[ent.end].text.startswith("-"))

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
            name = self.shared_surname(doc, ent) or clean_name(ent.text)
            if not name:
                continue
            person_id = self.person_id(name, full, names)
            spans.append(self.span(doc, ent, person_id, "PER"))
        return spans

    @staticmethod
    def shared_surname(doc: Doc, ent: Span) -> str | None:
        """"Dan and Ryan Friedkin": the lone first name takes the surname that follows."""
        if len(ent) != 1 or ent.end + 2 >= len(doc) or doc[ent.end].lower_ not in ("and", "e", "&"):
            return None
        partner = next((e for e in doc.ents if e.start == ent.end + 1 and e.label_ == "PER" and len(e) > 1), None)
        return f"{ent.text} {' '.join(t.text for t in partner[1:])}" if partner is not None else None

    def register_person(self, name: str, person_id: str, names: dict, full: dict) -> None:
        entity = self.kb.entities.get(person_id)
        names.setdefault(person_id, {"name": name, "type": entity.type if entity else "PER"})
        tokens = name.split()
        if len(tokens) > 1 and fold(tokens[-1]):
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
                if other_key and key == other_key.split()[0] and len(names[other_id]["name"].split()) > 1:
                    return other_id  # a first name alone ("Xabi")
            known = self.kb.person_by_surname(name)
            if known:
                self.register_person(known.name, known.id, names, full)
                return known.id
        known = next((e for e in self.kb.lookup(name) if e.label == "PER"), None) or self.kb.person_by_surname(name)
        person_id = known.id if known else f"person:{slug(name)}"
        self.register_person(known.name if known else name, person_id, names, full)
        return person_id

    def add_surname_mentions(self, doc: Doc, spans: list[Span], names: dict) -> list[Span]:
        """A known surname the NER missed ("Allegri Juventus return") is still that person."""
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
        taken = {i for s in spans for i in range(s.start, s.end)}
        extra = self.known_surnames(doc, taken, names)
        texts = [token.text for token in doc]
        starts: dict[str, list[int]] = defaultdict(list)
        for i, text in enumerate(texts):
            starts[text].append(i)
        for key, people in sorted(surnames.items(), key=lambda item: -len(item[0])):
            for start in starts.get(key[0], ()):
                end = start + len(key)
                if tuple(texts[start:end]) != key or any(i in taken for i in range(start, end)):
                    continue
                person_id = self.last_named(spans, people, start)
                extra.append(Span(doc, start, end, label="PER", kb_id=person_id))
                taken.update(range(start, end))
        return spans + extra

    @staticmethod
    def last_named(spans: list[Span], people: list[str], position: int) -> str:
        """Of the people sharing a surname (Simone and Filippo Inzaghi), the one named last
        before this mention; the first of them when none was named before it."""
        before = [s for s in spans if s.kb_id_ in people and s.end <= position]
        return max(before, key=lambda s: s.start).kb_id_ if before else people[0]

    def known_surnames(self, doc: Doc, taken: set[int], names: dict) -> list[Span]:
        """A lone capitalised token that is the surname of exactly one KB person ("Solari",
        "Osimhen") names that person, when the NER has not tagged it."""
        found = []
        for token in doc:
            if token.i in taken or not token.is_title or token.is_stop or len(token.text) < 4:
                continue
            if token.i + 1 < len(doc) and doc[token.i + 1].is_title and not doc[token.i + 1].is_sent_start:
                continue  # part of a longer name the NER did not tag
            entity = self.kb.person_by_surname(token.text)
            if entity is None or fold(entity.surname) != fold(token.text):
                continue
            names.setdefault(entity.id, {"name": entity.name, "type": entity.type})
            found.append(Span(doc, token.i, token.i + 1, label="PER", kb_id=entity.id))
            taken.add(token.i)
        return found

    def add_handles(self, doc: Doc, spans: list[Span], names: dict) -> list[Span]:
        """"@SkySport", "@FabrizioRomano": a social-media handle names the outlet or journalist."""
        taken = {i for s in spans for i in range(s.start, s.end)}
        extra = []
        for token in doc:
            if token.i in taken or not token.text.startswith("@") or len(token.text) < 3:
                continue
            entity = self.kb.handle(token.text)
            if entity is not None:
                names.setdefault(entity.id, {"name": entity.name, "type": entity.type})
                extra.append(Span(doc, token.i, token.i + 1, label=entity.label if entity.label != "PER" else "PER",
                                  kb_id=entity.id))
        return spans + extra

    def add_club_short_forms(self, doc: Doc, spans: list[Span], names: dict) -> list[Span]:
        """"United", "Madrid", "Forest" alone name the one club of the article whose name
        holds that word ("Manchester United is ... United are tracking")."""
        clubs = {s.kb_id_: names[s.kb_id_]["name"] for s in spans if s.label_ == "CLUB" and s.kb_id_ in names}
        words: dict[str, set[str]] = {}
        for club_id, name in clubs.items():
            for word in name.split():
                if len(word) >= 4 and word[0].isupper() and word.lower() not in NOT_SHORT_FORMS:
                    words.setdefault(word, set()).add(club_id)
        taken = {i for s in spans for i in range(s.start, s.end)}
        extra = [Span(doc, t.i, t.i + 1, label="CLUB", kb_id=next(iter(words[t.text])))
                 for t in doc if t.i not in taken and len(words.get(t.text, ())) == 1]
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
        """Resolve descriptions and pronouns left to right, so that "His" can refer to
        "The Dutchman" resolved just before."""
        taken = {i for s in spans for i in range(s.start, s.end)}
        ordered = sorted(spans, key=lambda s: s.start)
        matches = sorted(self.coref(doc), key=lambda m: (m[1], -m[2]))
        for match_id, start, end in matches:
            rule = self.coref_rules[doc.vocab.strings[match_id]]
            own = range(end - 1, end) if rule.get("span_last") else range(start, end)
            if any(i in taken for i in own) or self.blocked(doc, end, rule) or self.predicative(doc, start, rule):
                continue
            target = self.resolve(doc, ordered, start, end, rule)
            if target is not None:
                span = Span(doc, own.start, end, label=target.label_, kb_id=target.kb_id_)
                ordered = sorted(ordered + [span], key=lambda s: s.start)
                taken.update(own)
        return ordered

    def resolve(self, doc: Doc, ordered: list[Span], start: int, end: int, rule: dict) -> Span | None:
        if rule["refers_to"] == "CLUB":
            return (self.club_described(doc, ordered, start, end) or self.same_sentence_club(doc, ordered, start)
                    or self.salient(ordered, start, ("CLUB",)))
        if rule["refers_to"] == "PRESIDENT":
            return self.salient(ordered, start, ("PRESIDENT",))
        if rule.get("latest"):
            return self.latest_person(doc, ordered, start)
        if rule.get("pronoun"):
            return self.pronoun_antecedent(doc, ordered, start, bool(rule.get("outside_sentence")))
        if rule.get("resolve") == "previous_subject":
            return self.pronoun_antecedent(doc, ordered, start, True)
        return self.described_person(doc, ordered, start)

    @staticmethod
    def latest_person(doc: Doc, ordered: list[Span], start: int) -> Span | None:
        """"quest'ultimo", "the latter": the person named last."""
        before = [s for s in ordered if s.end <= start and s.label_ in ("COACH", "PER")]
        return before[-1] if before else None

    @staticmethod
    def predicative(doc: Doc, start: int, rule: dict) -> bool:
        """"he is now the Chelsea head coach": a description after a copula says what the
        subject is, it does not refer back (relation rules read it)."""
        if rule.get("pronoun"):
            return False
        before = {t.lower_ for t in doc[max(0, start - 2): start]}
        return bool(before & {"is", "was", "remains", "became", "becomes", "as", "è", "resta", "diventa"})

    @staticmethod
    def blocked(doc: Doc, end: int, rule: dict) -> bool:
        """Not a description when a listed word or a name follows ("the coach Conte",
        "il tecnico del Napoli"); "di" blocks only before a club ("il tecnico di Grugliasco" is one)."""
        if end >= len(doc):
            return False
        following = doc[end]
        if following.lower_ == "di" and "di" in (rule.get("not_before") or []):
            return end + 1 < len(doc) and doc[end + 1].ent_type_ == "CLUB"
        if rule.get("before_club") and following.ent_type_ == "CLUB":
            return False  # "l'ex Atalanta", "the former Chelsea boss"
        if following.lower_ in NOT_NAMES:
            return following.lower_ in (rule.get("not_before") or [])  # "the Livorno-born manager Italian"
        return following.lower_ in (rule.get("not_before") or []) or following.text[:1].isupper()

    def club_described(self, doc: Doc, ordered: list[Span], start: int, end: int) -> Span | None:
        """"the Turin outfit", "the Spanish side", "il club capitolino": a club the article
        names whose city or country the description gives."""
        cues = [t.lower_ for t in doc[max(0, start - 1): min(len(doc), end + 1)]]
        cities = {CITY_NAMES.get(c, c) for c in cues}
        countries = {COUNTRY_ADJECTIVES[c] for c in cues if c in COUNTRY_ADJECTIVES}
        for span in reversed([s for s in ordered if s.end <= start and s.label_ == "CLUB"]):
            entity = self.kb.entities.get(span.kb_id_)
            if entity and (fold(entity.city) in cities or entity.country in countries):
                return span
        return None

    def described_person(self, doc: Doc, ordered: list[Span], start: int) -> Span | None:
        """"the Portuguese", "the 62-year-old", "the head coach": someone named just before,
        unless the article's main coach is talked about far more."""
        recent = self.salient(self.recent_window(doc, ordered, start), start)
        main = self.salient(ordered, start)
        if recent is None or main is None:
            return recent or main
        count = Counter(s.kb_id_ for s in ordered if s.end <= start)
        return main if count[main.kb_id_] >= 2 * count[recent.kb_id_] else recent

    @staticmethod
    def recent_window(doc: Doc, ordered: list[Span], start: int) -> list[Span]:
        """Mentions of people named in this sentence or the two before it that name anyone,
        counted with all their mentions so far: "the 62-year-old" is someone just talked about."""
        sentence = doc[start].sent
        earlier = [s for s in ordered if s.end <= start]
        sentences = []
        for span in reversed(earlier):
            if span.sent.start not in sentences:
                sentences.append(span.sent.start)
            if len(sentences) > 3:
                break
        keep = set(sentences[:3]) | {sentence.start}
        recent_ids = {s.kb_id_ for s in earlier if s.sent.start in keep}
        return [s for s in earlier if s.kb_id_ in recent_ids]

    def same_sentence_club(self, doc: Doc, ordered: list[Span], start: int) -> Span | None:
        """"Zidane decided to leave the club" right after naming Real Madrid in that sentence."""
        sentence = doc[start].sent
        clubs = [s for s in ordered if sentence.start <= s.start and s.end <= start and s.label_ == "CLUB"
                 and not self.as_opponent(doc, s)]
        return clubs[-1] if clubs else None

    def as_opponent(self, doc: Doc, club: Span) -> bool:
        window = doc[max(club.sent.start, club.start - 4): club.start]
        return any(t.lower_ in self.opponent_words for t in window)

    def pronoun_antecedent(self, doc: Doc, ordered: list[Span], start: int,
                           outside_sentence: bool = False) -> Span | None:
        """"he", "his": a person earlier in the same sentence, else the first person (the
        likely subject) of the previous sentence with one, else the article's main coach."""
        wanted = {"COACH", "PER"}
        sentence = doc[start].sent
        same = [s for s in ordered if sentence.start <= s.start and s.end <= start and s.label_ in wanted
                and not (s.end < len(doc) and doc[s.end].text in ("'s", "’s"))]
        if outside_sentence:
            # "Frank is set to replace him": never the subject of its own clause, but "United
            # set their sights on Amorim and ... to bring him in" may name him further back
            others = [s for s in same if start - s.end > 6]
            if others:
                return others[-1]
        elif same:
            return same[0]  # the sentence's subject: "Maresca worked as Guardiola's assistant ... he"
        previous = [s for s in ordered if s.end <= sentence.start and s.label_ in wanted]
        if previous:
            last_sentence = previous[-1].sent
            gap = sum(1 for s in doc.sents if last_sentence.start < s.start < sentence.start and s.text.strip())
            if gap <= RECENT_SENTENCES:
                return next(s for s in previous if s.sent.start == last_sentence.start)
        return self.salient(ordered, start)

    @staticmethod
    def salient(ordered: list[Span], start: int, labels: tuple = ("COACH", "PER")) -> Span | None:
        """The coach (or club) the article has talked about most so far (ties: the latest).

        Descriptions ("the Portuguese boss", "the 39-year-old", "the club") name the
        article's main person or club far more often than the last one named.
        """
        before = [s for s in ordered if s.end <= start and s.label_ in labels]
        if not before:
            return None
        counts = Counter(s.kb_id_ for s in before)
        for s in before:
            counts[s.kb_id_] += 2 if s.label_ == "COACH" else 0
        latest = {s.kb_id_: s for s in before}
        best = max(latest, key=lambda i: (counts[i], latest[i].start))
        return latest[best]

    @staticmethod
    def span(doc: Doc, ent: Span, entity_id: str, label: str) -> Span:
        """The mention without a possessive or, for clubs, a leading article ("the Old Lady")."""
        start, end = ent.start, ent.end
        if end - start > 1 and doc[end - 1].text in ("'s", "’s", "'", "’"):
            end -= 1
        if label == "CLUB" and end - start > 1 and doc[start].lower_ in ARTICLES:
            start += 1
        return Span(doc, start, end, label=label, kb_id=entity_id)

    def common_word(self, doc: Doc, ent: Span) -> bool:
        """A lone capitalised dictionary word opening a sentence ("Momento", "Publicly") that
        the NER took for a name, and that names no known person."""
        if len(ent) != 1 or ent.start != ent.sent.start:
            return False
        word = ent.text.lower()
        return (word in self.dictionary or doc[ent.start].is_stop) and self.kb.person_by_surname(ent.text) is None \
            and not self.kb.lookup(ent.text)


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
            "sentence": sentence, "component": doc.user_data.get("found_by", {}).get(f"{ent.start}:{ent.end}", ""),
        })
    return rows
