"""Stage 5: find relation triples in normalised docs with rules kept as data.

A relation rule (``rules/<lang>/relations.yml``) is a spaCy Matcher pattern. Pattern
tokens may carry ``role: subject`` or ``role: object``: the entity under that token is
the argument. Arguments the pattern does not bind are the nearest entity of the right
type in the sentence, on the side the rule names. A coach missing from the sentence
("È stato esonerato ieri") is the coach the text was just talking about.

Status comes from hedge and denial cues in the trigger's clause (``status.yml``),
sources from attribution patterns (``attribution.yml``), which also cover the rest of
the paragraph until another source is named.
"""
from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from typing import Callable

import numpy
from spacy.attrs import LEMMA, LOWER
from spacy.language import Language
from spacy.tokens import Doc, Span

from pipeline.matching import GatedMatcher
from pipeline.ruleset import RuleFileError, RuleSet, rules_for, with_apostrophe_variants

RELATIONS = {
    # relation: (subject type, object type, kind). state: background facts, no source;
    # contract: fact unless hedged in its clause; event: hedged or attributed -> rumour;
    # rumour: rumour by nature (SCHEMA.md) unless denied.
    "coach_of": ("COACH", "CLUB", "state"),
    "former_coach_of": ("COACH", "CLUB", "state"),
    "linked_to": ("COACH", "CLUB", "rumour"),
    "joins": ("COACH", "CLUB", "event"),
    "leaves": ("COACH", "CLUB", "event"),
    "sacked_by": ("COACH", "CLUB", "event"),
    "replaces": ("COACH", "COACH", "event"),
    "contract_until": ("COACH", "CLUB", "contract"),
    "contract_length": ("COACH", "CLUB", "event"),
    "transfer_target": ("CLUB", "PLAYER", "rumour"),
    "president_of": ("PERSON", "CLUB", "state"),
}
LABELS_FOR = {
    "COACH": {"COACH", "PER"},
    "PLAYER": {"PLAYER", "PER"},
    "PERSON": {"PRESIDENT", "PER"},
    "CLUB": {"CLUB"},
}
PERSON_LABELS = {"COACH", "PER", "PLAYER", "PRESIDENT", "JOURNALIST"}
CLAUSE_BREAKS = {",", ";", ":", "—", "–", "(", ")", "but", "while", "whereas", "although",
                 "who", "which", "whose", "where", "because", "ma", "mentre", "però", "tuttavia",
                 "sebbene", "invece", "quale", "cui", "perché"}
NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "uno": 1, "un": 1, "una": 1, "due": 2, "tre": 3, "quattro": 4, "cinque": 5,
    "annuale": 1, "biennale": 2, "triennale": 3, "quadriennale": 4, "quinquennale": 5,
}
YEAR = re.compile(r"^(19[5-9]\d|20[0-4]\d)$")
SHORT_SPAN = re.compile(r"^(19|20)\d\d[-/–](\d\d|(19|20)\d\d)$")
PAST_JOB_CUES = {"after", "spell", "spells", "stint", "stints", "years", "seasons", "former", "ex", "previously",
                 "formerly", "dopo", "esperienza", "esperienze", "stagioni", "anni", "reduce", "ex-"}
JOB_PREPOSITIONS = {"at", "with", "of", "in", "for", "from", "con", "al", "alla", "all'", "all’", "allo", "del",
                    "della", "dell'", "dell’", "dello", "dal", "dalla", "nel", "nella", "a", "in", "left", "leaving",
                    "lasciato", "former", "ex", "coaches", "manages"}
LEFT_CUES = {"left", "leaving", "since", "off", "while", "lasciato", "lasciando", "coaches", "manages", "allena", "guida"}
LINK_CUES = {"orbita", "verso", "direzione", "destinazione", "tentato", "tentata", "corteggiato", "towards",
             "tempted", "linked", "eyeing", "join", "joining", "joined", "approda", "approdare", "sbarcare"}
PERIOD_WORDS = {"from", "to", "between", "until", "dal", "al", "fino", "tra", "in", "nel", "the", "season"}
COORDINATORS = {",", "and", "e", "ed", "&", "or", "o", "as", "well", "plus", "oltre", "a"}
COORDINATED_OBJECTS = {"former_coach_of", "linked_to", "coach_of"}
COORDINATED_SUBJECTS = {"linked_to"}
NOT_HEAD_COACH = {"staff", "assistant", "assistants", "youth", "academy", "primavera", "reserve", "reserves",
                  "under-21", "u21", "u-21", "under-19", "u19", "women", "women's", "vice", "assistente",
                  "collaboratore", "giovanili", "femminile", "settore", "osservatore", "scout", "analyst"}
APPOINTMENT_LEMMAS = {"appoint", "name", "confirm", "announce", "unveil", "hire", "nominare", "nominato",
                      "scelto", "new", "nuovo", "become", "diventare", "diventato"}
PAST_CUES = {"was", "were", "spent", "after", "had", "earlier", "previously", "formerly", "former",
             "before", "spells", "spell", "stint", "years", "seasons", "once", "ex", "era", "allenato",
             "guidato", "dopo", "prima", "precedente", "passato", "già", "aveva", "fu"}
STATUS_RANK = {"fact": 2, "rumour": 1, "denied": 0}
CAREER_RELATIONS = {"former_coach_of", "coach_of", "joins", "leaves"}
PLAYED_VERBS = {"played", "playing", "giocato", "giocava", "giocando", "captaining", "capitano"}
PLAYING_CAREER_NOUNS = {"career", "days", "calciatore", "giocatore"}
PLAYING_WORDS = {"appearances", "presenze", "debut", "esordio"}
RELATIVE_PRONOUNS = {"who", "che"}
SUCCESSION_NOUNS = {"successor", "successors", "replacement", "replacements", "erede", "eredi", "successore",
                    "successori", "sostituto", "sostituti", "posto", "dopo"}
CONFIDENCE = {"bound": 0.9, "nearest": 0.75, "topic": 0.6}



class DocIndex:
    """What the rules ask of a doc thousands of times per article, built once per doc:
    its entities and sentences (spaCy builds doc.ents, doc.sents and span.sent anew on
    every access), each token's lower-case form, and the verdicts of per-entity tests.
    Relations never change a doc's tokens or entities, so the last doc's index stays valid."""

    _doc: Doc | None = None
    _ents: list[Span] = []
    _starts: list[int] = []
    _sentences: list[Span] = []
    _sentence_starts: list[int] = []
    _lowers: list[str] = []
    _memo: dict = {}

    @classmethod
    def load(cls, doc: Doc) -> None:
        if cls._doc is not doc:
            cls._doc, cls._ents = doc, list(doc.ents)
            cls._starts = [e.start for e in cls._ents]
            cls._sentences = list(doc.sents)
            cls._sentence_starts = [s.start for s in cls._sentences]
            strings = doc.vocab.strings
            cls._lowers = [strings[h] for h in doc.to_array(LOWER).tolist()]
            cls._memo = {}

    @classmethod
    def of(cls, doc: Doc) -> list[Span]:
        cls.load(doc)
        return cls._ents

    @classmethod
    def within(cls, span: Span) -> list[Span]:
        """The entities inside span (as span.ents)."""
        ents = cls.of(span.doc)
        found = []
        for ent in ents[bisect.bisect_left(cls._starts, span.start):]:
            if ent.end > span.end:
                break
            found.append(ent)
        return found

    @classmethod
    def sentences(cls, doc: Doc) -> list[Span]:
        cls.load(doc)
        return cls._sentences

    @classmethod
    def sentence_number(cls, doc: Doc, token_index: int) -> int:
        """The index in sentences(doc) of the sentence holding the token."""
        cls.load(doc)
        return max(0, bisect.bisect_right(cls._sentence_starts, token_index) - 1)

    @classmethod
    def sentence_at(cls, doc: Doc, token_index: int) -> Span:
        return cls.sentences(doc)[cls.sentence_number(doc, token_index)]

    @classmethod
    def lowers(cls, doc: Doc) -> list[str]:
        cls.load(doc)
        return cls._lowers

    @classmethod
    def words_before(cls, doc: Doc, index: int, count: int) -> list[str]:
        """The lower-case forms of up to `count` tokens before doc[index], in its sentence."""
        return cls.lowers(doc)[max(cls.sentence_at(doc, index).start, index - count): index]

    @classmethod
    def memo(cls, doc: Doc, key: tuple, compute: Callable[[], object]):
        """compute(), once per doc and key."""
        cls.load(doc)
        if key not in cls._memo:
            cls._memo[key] = compute()
        return cls._memo[key]


@dataclass
class Rule:
    id: str
    relation: str
    pattern: list[dict]
    roles: dict[str, int] = field(default_factory=dict)
    subject: dict = field(default_factory=dict)
    object: dict = field(default_factory=dict)
    status: str | None = None
    value: str | None = None
    many: str = ""
    not_after: frozenset[str] = frozenset()
    not_before: frozenset[str] = frozenset()
    unless_context: str = ""
    if_context: str = ""
    not_within: frozenset[str] = frozenset()
    past_to_former: bool = False


@dataclass
class Triple:
    article_id: str
    subject_id: str
    relation: str
    object_id: str
    value: str
    status: str
    source: list[str]
    confidence: float
    start: int
    end: int
    rule: str
    sentence: int


def compile_rule(raw: dict, path: str) -> Rule:
    """Check one rule entry and split its `role` markers off the Matcher pattern."""
    rule_id = raw.get("id", "?")
    if raw.get("relation") not in RELATIONS:
        raise RuleFileError(f"{path}: rule {rule_id}: unknown relation {raw.get('relation')!r}")
    pattern, roles = [], {}
    for index, token in enumerate(raw.get("pattern") or []):
        token = dict(token)
        role = token.pop("role", None)
        if role:
            roles[role] = index
        pattern.append(token)
    pattern = with_apostrophe_variants(pattern)
    if not pattern:
        raise RuleFileError(f"{path}: rule {rule_id}: empty pattern")
    return Rule(id=rule_id, relation=raw["relation"], pattern=pattern, roles=roles,
                subject=raw.get("subject") or {}, object=raw.get("object") or {},
                status=raw.get("status"), value=raw.get("value"), many=str(raw.get("many") or ""),
                not_after=frozenset(w.lower() for w in raw.get("not_after") or []),
                not_before=frozenset(w.lower() for w in raw.get("not_before") or []),
                unless_context=str(raw.get("unless_context") or ""),
                if_context=str(raw.get("if_context") or ""),
                not_within=frozenset(w.lower() for w in raw.get("not_within") or []),
                past_to_former=bool(raw.get("past_to_former")))


def relation_rules(rule_set: RuleSet) -> list[Rule]:
    path = str(rule_set.source / "relations.yml")
    rules = [compile_rule(raw, path) for raw in rule_set["relations"]]
    ids = [r.id for r in rules]
    duplicates = {i for i in ids if ids.count(i) > 1}
    if duplicates:
        raise RuleFileError(f"{path}: duplicate rule ids {sorted(duplicates)}")
    return rules


def cue_matcher(nlp: Language, entries: list[dict]) -> GatedMatcher:
    matcher = GatedMatcher(nlp.vocab)
    for entry in entries:
        matcher.add(entry["id"], [with_apostrophe_variants(entry["pattern"])])
    return matcher


class RelationExtractor:
    def __init__(self, nlp: Language, rules: RuleSet | None = None):
        """`rules`: the compiled set the stages pass (pipeline.rulebook.load_rules); without
        it, the YAML rule files of the language."""
        self.lang = nlp.lang
        rule_set = rules_for(self.lang, rules)
        self.rules = {r.id: r for r in relation_rules(rule_set)}
        self.contexts = rule_set.context_words()
        self.role_words = set().union(*rule_set.role_words().values())
        self.matcher = GatedMatcher(nlp.vocab)
        for rule in self.rules.values():
            self.matcher.add(rule.id, [rule.pattern], greedy="LONGEST", aligned=bool(rule.roles))
        status = rule_set["status"]
        self.hedges = cue_matcher(nlp, status["hedge"])
        self.denials = cue_matcher(nlp, status["denial"])
        attribution = rule_set["attribution"]
        self.attribution = GatedMatcher(nlp.vocab)
        self.attribution_roles = {}
        self.attribution_trailing = {e["id"]: bool(e.get("trailing")) for e in attribution}
        for entry in attribution:
            pattern = [dict(t) for t in entry["pattern"]]
            self.attribution_roles[entry["id"]] = [i for i, t in enumerate(pattern) if t.pop("role", None)]
            self.attribution.add(entry["id"], [with_apostrophe_variants(pattern)], greedy="LONGEST")

    # -- entry point --------------------------------------------------------------------
    def __call__(self, doc: Doc) -> list[Triple]:
        names = doc.user_data.get("entities", {})
        sources, source_tokens = self.sources_by_sentence(doc, names)
        hedge_tokens = self.cue_tokens(doc, self.hedges)
        denial_tokens = self.cue_tokens(doc, self.denials)
        sentences = DocIndex.sentences(doc)
        triples = []
        for match_id, start, end, alignment in self.matcher(doc, with_alignments=True):
            rule = self.rules[doc.vocab.strings[match_id]]
            if self.excluded_context(doc, rule, start, end):
                continue
            sent_index = DocIndex.sentence_number(doc, start)
            sentence = sentences[sent_index]
            if rule.unless_context and self.vetoed_by_context(doc, sent_index, rule.unless_context, doc[start:end]):
                continue
            if rule.if_context and not self.in_context(doc, sent_index, rule.if_context):
                continue
            for subject, obj, how in self.arguments(doc, rule, start, end, alignment, sentence, source_tokens):
                value = self.value(doc, rule, start, end, sentence)
                if rule.relation in ("contract_until", "contract_length") and not value:
                    continue
                relation, value = self.career_step(doc, rule.relation, value, start, sentence)
                if rule.past_to_former and relation in ("coach_of", "joins") and self.past(doc, start, sentence):
                    relation, value = "former_coach_of", self.period(sentence)
                if relation == "former_coach_of" and self.ongoing(doc, obj, sentence):
                    relation, value = "coach_of", ""
                if relation in CAREER_RELATIONS and self.playing_career(doc, obj, start, sentence):
                    continue
                status = self.status(rule, relation, doc, start, end, sentence, hedge_tokens,
                                     denial_tokens, bool(sources[sent_index][1]))
                if relation == "joins" and status == "denied":
                    relation = "linked_to"  # "was close to taking charge, only to opt against"
                kind = RELATIONS[relation][2]
                triples.append(Triple(
                    article_id=doc.user_data.get("article_id", ""), subject_id=subject.kb_id_,
                    relation=relation, object_id=obj.kb_id_, value=value, status=status,
                    source=[] if kind == "state" else sources[sent_index][0],
                    confidence=CONFIDENCE[how], start=sentence.start_char, end=sentence.end_char,
                    rule=rule.id, sentence=sent_index,
                ))
        return triples

    @staticmethod
    def excluded_context(doc: Doc, rule: Rule, start: int, end: int) -> bool:
        """`not_after` / `not_before`: words that must not stand right before / after the match."""
        i = start - 1
        # look past a coordinated list of clubs: "Former Sheffield Wednesday and Wolves coach X"
        while i > 0 and (doc[i].ent_type_ == "CLUB" or doc[i].lower_ in (",", "and", "e", "&")) and doc[start].ent_type_ == "CLUB":
            i -= 1
        before = doc[i].lower_ if i >= 0 else ""
        after = doc[end].lower_ if end < len(doc) else ""
        nearby = set(DocIndex.words_before(doc, start, 6))
        return before in rule.not_after or after in rule.not_before or bool(nearby & rule.not_within)

    @staticmethod
    def headline(sentence: Span) -> bool:
        """A title or caption line: alone in its paragraph, short, no final full stop."""
        text = sentence.text.strip()
        doc = sentence.doc
        alone = (sentence.start == 0 or "\n" in doc[sentence.start - 1].text) and \
            (sentence.end >= len(doc) or "\n" in doc[sentence.end - 1].text or "\n" in doc[min(sentence.end, len(doc) - 1)].text)
        return alone and len(sentence) <= 20 and not text.endswith((".", "!", "?", '"', "”", "»"))

    def in_context(self, doc: Doc, index: int, context: str) -> bool:
        """Whether this sentence or one of the three before has a cue word of the context
        (market, bench)."""
        cued = self.cued_sentences(doc, context)
        return any(cued[max(0, index - 3): index + 1])

    def vetoed_by_context(self, doc: Doc, index: int, context: str, trigger: Span) -> bool:
        """`unless_context`: a cue of the context in this or the previous sentence vetoes the
        rule; talk of the market does not when the trigger itself is a bench word ("a former
        Liverpool midfielder, ... have been mentioned as possible successors")."""
        if not any(self.cued_sentences(doc, context)[max(0, index - 1): index + 1]):
            return False
        bench = self.contexts.get("bench", set())
        return context != "market" or not any(t.lower_ in bench or t.lemma_ in bench for t in trigger)

    def cued_sentences(self, doc: Doc, context: str) -> list[bool]:
        """Per sentence of the doc: whether it holds a cue word of the context."""
        def compute() -> list[bool]:
            words = self.contexts.get(context, set())
            hashes = numpy.fromiter((doc.vocab.strings[w] for w in words), dtype=numpy.uint64, count=len(words))
            cued = numpy.isin(doc.to_array([LOWER, LEMMA]), hashes).any(axis=1)
            return [bool(cued[s.start:s.end].any()) for s in DocIndex.sentences(doc)]
        return DocIndex.memo(doc, (id(self), "cued", context), compute)

    @property
    def player_words(self) -> set[str]:
        """PLAYING_CONTEXT of roles.yml: "as a midfielder", "come attaccante"."""
        return self.contexts.get("playing", set())

    def playing_career(self, doc: Doc, club: Span, start: int, sentence: Span) -> bool:
        """"As a player, he won the treble at Inter", "a centre-back in his playing days",
        "joining Juventus as a midfielder", "che da calciatore ha giocato con il Verona": a
        club of his playing days, told in the sentence's opening clause or in the clause of
        the club or of the trigger, not a job on the bench."""
        after = [t.lower_ for t in doc[club.end: min(sentence.end, club.end + 3)]]
        if len(after) >= 2 and after[0] in ("as", "come") and (
                after[1] in self.player_words or (after[1] in ("a", "an", "un", "uno") and after[2:3]
                                                  and after[2] in self.player_words)):
            return True
        if any(t.lower_ in PLAYED_VERBS for t in doc[max(sentence.start, club.start - 4): club.start]):
            return True
        opening = self.clause(doc, sentence.start, sentence.start + 1, sentence)
        clauses = [opening]
        for index in (start, club.start):
            if sentence.start <= index < sentence.end:
                clauses.append(self.clause(doc, index, index + 1, sentence))
        for number, clause in enumerate(clauses):
            words = [doc[i].lower_ for i in clause]
            if any(w in PLAYING_WORDS for w in words) or any(
                    a in ("playing", "da") and b in PLAYING_CAREER_NOUNS for a, b in zip(words, words[1:])):
                return True
            if number == 0 and words[:1] in (["as"], ["da"], ["come"]) and any(w in self.player_words for w in words[1:3]):
                return True  # "As a player, ...", "Da calciatore ..."
        return False

    def past(self, doc: Doc, start: int, sentence: Span) -> bool:
        """A job told in the past: "spent three seasons in charge of", "was commissario tecnico
        of ... between 2014 and 2016", "earlier spells in charge of"; an appointment ("was
        appointed head coach of") is not."""
        left = doc[max(sentence.start, start - 5): start]
        if any(t.lemma_ in APPOINTMENT_LEMMAS for t in left):
            return False
        if any(t.lower_ in PAST_CUES for t in left):
            return True
        right = doc[start: min(sentence.end, start + 16)]
        if any(t.lower_ in ("stayed", "remained", "rimasto", "rimase", "restò") for t in right):
            return True  # "... head coach of Cagliari, where he stayed for over two years"
        return len([t for t in right if YEAR.match(t.text)]) >= 2

    @staticmethod
    def ongoing(doc: Doc, club: Span, sentence: Span) -> bool:
        """"has managed Fulham since 2021", "allena il Genoa dal 2023": still in the job."""
        after = doc[club.end: min(sentence.end, club.end + 3)]
        return len(after) >= 2 and after[0].lower_ in ("since", "dal") and bool(YEAR.match(after[1].text)) \
            and not any(t.lower_ in ("to", "al", "until") for t in doc[club.end + 2: min(sentence.end, club.end + 5)])

    def career_step(self, doc: Doc, relation: str, value: str, start: int, sentence: Span):
        """A move dated well before the article ("joined Sassuolo in 2007") is a former job."""
        if relation not in ("joins", "coach_of", "leaves", "sacked_by", "linked_to"):
            return relation, value
        article_year = int((doc.user_data.get("date") or "0")[:4] or 0)
        clause = self.clause(doc, start, start + 1, sentence)
        nearby = doc[start: min(clause.stop, start + 14)]
        years = [int(t.text) for t in nearby
                 if YEAR.match(t.text) and doc[t.i - 1].lower_ in ("in", "nel", "since", "dal")]
        years += [int(t.text[:4]) for t in nearby if SHORT_SPAN.match(t.text) or (  # "the 2014-15 season"
            YEAR.match(t.text) and t.i + 1 < len(doc) and doc[t.i + 1].text in ("-", "–", "/"))]
        if article_year and years and years[0] < article_year - 1:
            return "former_coach_of", str(years[0])
        return relation, value

    # -- arguments ----------------------------------------------------------------------
    def arguments(self, doc, rule, start, end, alignment, sentence, source_tokens):
        subject_type, object_type, _ = RELATIONS[rule.relation]
        bound = {role: self.entity_at(doc, start + alignment.index(index))
                 for role, index in rule.roles.items() if index in alignment}
        subjects, how = self.candidates(doc, rule, "subject", subject_type, bound, start, end,
                                        sentence, source_tokens)
        objects, _ = self.candidates(doc, rule, "object", object_type, bound, start, end,
                                     sentence, source_tokens)
        spec_s, spec_o = rule.subject, rule.object
        subjects = [e for e in subjects if self.fits(e, subject_type, spec_s)]
        objects = [e for e in objects if self.fits(e, object_type, spec_o)]
        if rule.relation in ("transfer_target", "linked_to"):
            subjects, objects = self.by_market_context(doc, rule.relation, subjects, objects, sentence)
        if rule.relation in ("linked_to", "joins"):
            objects = [o for o in objects if not self.attached_to_person(doc, o)
                       and not self.past_job(doc, o, rule.relation)]
            subjects = [s for s in subjects if not self.predecessor(doc, s)]
        if how == "nearest" and rule.relation not in ("contract_until", "contract_length"):
            subjects = [e for e in subjects if not self.possessive(doc, e)]  # "Glasner's contract" is his
        rule_many = rule.many
        if not rule_many and rule.relation in COORDINATED_OBJECTS and objects:
            group = self.coordinated(doc, objects[0], sentence)
            if len(group) > 1:
                objects, rule_many = group, "object"
        if not rule_many and rule.relation in COORDINATED_SUBJECTS and subjects:
            group = self.coordinated(doc, subjects[0], sentence)
            if len(group) > 1:
                subjects, rule_many = group, "subject"
        if rule_many == "subject":
            pairs = [(s, objects[0]) for s in subjects if objects and s.kb_id_ != objects[0].kb_id_]
        elif rule_many == "object":
            pairs = [(subjects[0], o) for o in objects if subjects and o.kb_id_ != subjects[0].kb_id_]
        else:
            pairs = next(([(s, o)] for s in subjects[:2] for o in objects if s.kb_id_ != o.kb_id_), [])
        for subject, obj in pairs:
            if subject_type == "COACH" and object_type == "CLUB" and self.not_head_coach(doc, start, end, obj):
                continue
            yield subject, obj, how

    def coordinated(self, doc: Doc, first: Span, sentence: Span) -> list[Span]:
        """The entity and those coordinated after it: "Napoli, Chelsea and Juventus"."""
        group, current = [first], first
        while True:
            i = current.end
            while i < sentence.end and i - current.end < 8 and (
                    doc[i].lower_ in COORDINATORS or doc[i].lower_ in PERIOD_WORDS
                    or YEAR.match(doc[i].text) or doc[i].is_digit or doc[i].text in ("-", "–", "/")):
                i += 1  # "the Bianconeri from 2011 to 2014, Chelsea, Inter and Tottenham"
            if i == current.end or i >= sentence.end or not any(
                    doc[j].lower_ in COORDINATORS for j in range(current.end, i)):
                return group
            following = next((e for e in DocIndex.within(sentence) if e.start == i and e.label_ == first.label_), None)
            if following is None or (following.label_ == "CLUB" and self.attached_to_person(doc, following)
                                     and not self.shared_role(doc, first, following)):
                return group
            group.append(following)
            current = following

    @staticmethod
    def shared_role(doc: Doc, first: Span, following: Span) -> bool:
        """"former Bayern Munich and Germany manager": the role word after the last club of a
        pair joined by "and" belongs to both, so the pair stays together."""
        between = doc[first.end: following.start]
        return len(between) == 1 and between[0].lower_ in ("and", "e", "&")

    @staticmethod
    def not_head_coach(doc: Doc, start: int, end: int, club: Span) -> bool:
        """"joining the coaching staff at Udinese", "the club's youth team", "vice di": not the bench."""
        low, high = (end, club.start) if club.start >= end else (club.end, start)
        between = doc[low: high] if high - low <= 8 else doc[0:0]
        return any(t.lower_ in NOT_HEAD_COACH for t in between)

    def candidates(self, doc, rule, role, wanted, bound, start, end, sentence, source_tokens):
        """Entities that may fill one argument, best first, and how they were found."""
        if bound.get(role) is not None:
            return [bound[role]], "bound"
        spec = getattr(rule, role)
        named_next = any(t.ent_type_ in PERSON_LABELS for t in doc[end: min(sentence.end, end + 3)])
        if wanted == "COACH" and rule.many != role and spec.get("side", "any") != "right" and not named_next:
            antecedent = self.relative_antecedent(doc, start, sentence)
            if antecedent is not None:
                # "Carlo Ancelotti, who left to become head coach of Brazil": the relative
                # clause is about its antecedent; "chairman Daniel Levy, who stepped down":
                # about someone who is no coach, so about no coach at all
                return ([antecedent], "nearest") if antecedent.label_ in self.labels(wanted, spec) else ([], "nearest")
        found = self.nearest(doc, sentence, start, end, wanted, spec, source_tokens,
                             many=rule.many == role, relation=rule.relation)
        if found:
            return found, "nearest"
        bounds = self.clause(doc, start, end, sentence)
        clause = doc[bounds.start: bounds.stop]
        if wanted == "COACH" and spec.get("fallback", True) and not self.names_someone(clause):
            topic = self.topic(doc, sentence)
            return ([topic], "topic") if topic is not None else ([], "nearest")
        if wanted == "CLUB" and spec.get("fallback"):
            if spec["fallback"] == "recent":
                club = self.recent_club(doc, sentence)
                salient = self.salient_club(doc, sentence)
                if club is None or (salient is not None and self.mentions(doc, club) < 2
                                    and self.mentions(doc, salient) > self.mentions(doc, club)):
                    club = salient
            else:
                club = self.salient_club(doc, sentence)
            return ([club], "topic") if club is not None else ([], "nearest")
        return [], "nearest"

    @staticmethod
    def predecessor(doc: Doc, person: Span) -> bool:
        """"i possibili eredi di Antonio Conte", "a successor to Pochettino": the coach to be
        replaced, not a candidate."""
        if person.start < 2 or doc[person.start - 1].lower_ not in ("di", "of", "to", "for", "a", "del", "dell'", "dell’"):
            return False
        noun = doc[person.start - 2]
        return noun.lower_ in SUCCESSION_NOUNS or noun.lemma_ in SUCCESSION_NOUNS

    @staticmethod
    def relative_antecedent(doc: Doc, start: int, sentence: Span) -> Span | None:
        """The person a relative clause holding the trigger hangs on: "X, who ...", "X, che ..."
        with no other person and no clause break between the pronoun and the trigger."""
        i = start - 1
        while i > sentence.start + 1:
            token = doc[i]
            if token.ent_type_ in PERSON_LABELS or (token.lower_ in CLAUSE_BREAKS and token.lower_ not in RELATIVE_PRONOUNS):
                return None
            if token.lower_ in RELATIVE_PRONOUNS:
                if doc[i - 1].text != "," or doc[i - 2].ent_type_ not in PERSON_LABELS:
                    return None
                return next((e for e in DocIndex.within(sentence) if e.end == i - 1), None)
            i -= 1
        return None

    @staticmethod
    def labels(wanted: str, spec: dict) -> set[str]:
        return set(spec.get("labels") or LABELS_FOR[wanted])

    def fits(self, span: Span, wanted: str, spec: dict) -> bool:
        return span is not None and span.label_ in self.labels(wanted, spec) and bool(span.kb_id_)

    @staticmethod
    def entity_at(doc: Doc, token_index: int) -> Span | None:
        token = doc[token_index]
        if not token.ent_type_:
            return None
        return next((e for e in DocIndex.of(doc) if e.start <= token_index < e.end), None)

    def nearest(self, doc, sentence, start, end, wanted, spec, excluded, many, relation=""):
        """Entities of the wanted type in the sentence, nearest the trigger first.

        Clubs named as a match opponent ("the loss at West Ham") never fill a club slot;
        `not_after` in the spec drops candidates right after given words ("from").
        """
        side = spec.get("side", "any")
        window = int(spec.get("window", 40))
        labels = self.labels(wanted, spec)
        skip_after = set(spec.get("not_after") or [])

        def usable(e: Span) -> bool:
            if e.label_ not in labels or e.start in excluded:
                return False
            if e.start > 0 and doc[e.start - 1].lower_ in skip_after:
                return False
            if wanted == "CLUB" and relation in ("leaves", "sacked_by") and self.link_target(doc, e):
                return False
            if wanted == "CLUB" and relation in CURRENT_JOB | {"joins", "linked_to"} and self.past_job(doc, e, relation) \
                    and not (relation in ("leaves", "sacked_by") and self.same_clause(doc, e, start, end)):
                return False  # a departure from the past job itself: "le dimissioni dalla Fiorentina"
            if wanted == "CLUB" and relation not in ("coach_of", "president_of") and self.attached_to_person(doc, e):
                return False
            return not (wanted == "CLUB" and self.opponent(doc, e))

        left = [e for e in DocIndex.within(sentence) if e.end <= start and usable(e) and start - e.end <= window]
        right = [e for e in DocIndex.within(sentence) if e.end > start and usable(e) and e.start - end <= window]
        left.sort(key=lambda e: start - e.end)
        right.sort(key=lambda e: max(0, e.start - end))
        if spec.get("same_clause"):
            left = [e for e in left if not self.clause_break(doc, e.end, start)]
            right = [e for e in right if not self.clause_break(doc, end, e.start)]
        if spec.get("pick") == "first":
            left = sorted(left, key=lambda e: e.start)
        if many:
            if side in ("right", "left"):
                return right if side == "right" else left
            if side in ("prefer_right", "prefer_left"):
                first, second = (right, left) if side == "prefer_right" else (left, right)
                return first or second
            return left + right
        if side == "left":
            return left
        if side == "right":
            return right
        if side == "prefer_left":
            return left + right
        if side == "prefer_right":
            return right + left
        return sorted(left + right, key=lambda e: start - e.end if e.end <= start else max(0, e.start - end))

    @staticmethod
    def past_job(doc: Doc, club: Span, relation: str = "") -> bool:
        """"after seven years in charge of Brentford", "dopo le esperienze con il Genoa": a job
        the coach has left, so never the club he joins, coaches or signs with now; nor the
        club a candidate is linked with ("since he left PSG", "fresh off of Chelsea")."""
        lowers = DocIndex.lowers(doc)
        window = DocIndex.words_before(doc, club.start, 6)
        cues = PAST_JOB_CUES | LEFT_CUES if relation == "linked_to" else PAST_JOB_CUES
        introduced = club.start > 0 and (lowers[club.start - 1] in JOB_PREPOSITIONS or (
            club.start > 1 and lowers[club.start - 1] in ("the", "il", "la", "lo", "l'", "l’")
            and lowers[club.start - 2] in JOB_PREPOSITIONS))
        told_in_past = any(w in ("charge", "helm") for w in window) and any(
            w in ("was", "were", "had") for w in window)  # "who was in charge of Bayern"
        return introduced and (told_in_past or any(w in cues for w in window))

    def same_clause(self, doc: Doc, club: Span, start: int, end: int) -> bool:
        low, high = (club.end, start) if club.end <= start else (end, club.start)
        return not self.clause_break(doc, low, high)

    def by_market_context(self, doc, relation, subjects, objects, sentence):
        """A person of unknown role is a player in talk of the transfer market and a coach
        in talk of the bench: keep him only in the relation his context fits."""
        index = DocIndex.sentence_number(doc, sentence.start)
        market = self.in_context(doc, index, "market")
        bench = self.in_context(doc, index, "bench")
        if relation == "transfer_target":
            return subjects, [o for o in objects if o.label_ == "PLAYER" or (market and not bench)]
        return [s for s in subjects if s.label_ == "COACH" or not market or bench], objects

    @staticmethod
    def possessive(doc: Doc, span: Span) -> bool:
        """"following Pochettino's departure": a person named as the owner of something else."""
        return span.end < len(doc) and doc[span.end].text in ("'s", "’s") and \
            span.end + 1 < len(doc) and not doc[span.end + 1].ent_type_

    @staticmethod
    def link_target(doc: Doc, club: Span) -> bool:
        """"in orbita Atalanta", "tempted by Milan": the club he may go to, not the one he leaves."""
        return any(w in LINK_CUES for w in DocIndex.words_before(doc, club.start, 3))

    def attached_to_person(self, doc: Doc, club: Span) -> bool:
        """"Brighton's Carlos Baleba", "Fulham boss Marco Silva", "Nico Schlotterbeck del
        Borussia Dortmund": the club is the person's own, said to tell who he is, not the
        other party of the claim."""
        i = club.end
        if i < len(doc) and doc[i].text in ("'s", "’s", "'"):
            i += 1
        while i < len(doc) and i - club.end < 4 and (doc[i].lower_ in self.role_words or doc[i].lower_ in ("head", "-")):
            i += 1
        if i < len(doc) and i > club.end and doc[i].ent_type_ in PERSON_LABELS - {"PRESIDENT"}:
            return True
        i = club.start - 1
        if i < 0 or doc[i].lower_ not in ("del", "della", "dello", "dell'", "dell’", "of", "at"):
            return False
        i -= 1
        while i >= 0 and (doc[i].lower_ in self.role_words or doc[i].text == ","):
            i -= 1  # "Hjulmand, capitano dello Sporting"
        return i >= 0 and doc[i].ent_type_ in PERSON_LABELS

    def opponent(self, doc: Doc, club: Span) -> bool:
        """A club named as a match opponent or venue: "defeat to Lazio", "la sconfitta contro il Lecce"."""
        return any(w in self.contexts["opponent"] for w in DocIndex.words_before(doc, club.start, 4))

    @staticmethod
    def clause_break(doc: Doc, start: int, end: int) -> bool:
        return any(w in CLAUSE_BREAKS for w in DocIndex.lowers(doc)[start:end]) if end > start else False

    @staticmethod
    def mentions(doc: Doc, entity: Span) -> int:
        return sum(1 for e in DocIndex.of(doc) if e.kb_id_ == entity.kb_id_)

    def recent_club(self, doc: Doc, sentence: Span) -> Span | None:
        """The club a sentence without one is about: the first club (its likely subject) of
        the last of the two sentences before that names one, not as an opponent, a
        person's club or a past job."""
        clubs = DocIndex.memo(doc, (id(self), "recent clubs"), lambda: [
            e for e in DocIndex.of(doc) if e.label_ == "CLUB" and not self.opponent(doc, e)
            and not self.attached_to_person(doc, e) and not self.past_job(doc, e)])
        before = [e for e in clubs if e.end <= sentence.start]
        return self.subject_of_last_sentence(doc, before, sentence, max_gap=2)

    @staticmethod
    def salient_club(doc: Doc, sentence: Span) -> Span | None:
        """The club the article names most up to this sentence (ties: the latest)."""
        before = [e for e in DocIndex.of(doc) if e.label_ == "CLUB" and e.end <= sentence.end]
        if not before:  # a headline: the club the whole article is about
            before = [e for e in DocIndex.of(doc) if e.label_ == "CLUB"]
        if not before:
            return None
        counts: dict[str, int] = {}
        for e in before:
            counts[e.kb_id_] = counts.get(e.kb_id_, 0) + 1
        latest = {e.kb_id_: e for e in before}
        return latest[max(latest, key=lambda i: (counts[i], latest[i].start))]

    @staticmethod
    def names_someone(clause: Span) -> bool:
        """A clause naming a player, president or journalist is about him, not the coach in focus."""
        return any(e.label_ in ("PLAYER", "PRESIDENT", "JOURNALIST") for e in DocIndex.within(clause))

    def topic(self, doc: Doc, sentence: Span) -> Span | None:
        """The coach a sentence without one is about: the first coach of the last sentence
        (within three) that named one, its likely subject."""
        before = [e for e in DocIndex.of(doc) if e.end <= sentence.start and e.label_ == "COACH"]
        return self.subject_of_last_sentence(doc, before, sentence, max_gap=3)

    @staticmethod
    def subject_of_last_sentence(doc: Doc, before: list[Span], sentence: Span, max_gap: int) -> Span | None:
        """The first of `before` in the last sentence holding one, if that sentence is at most
        `max_gap` non-blank sentences back: the likely subject the text is still about."""
        if not before:
            return None
        last = DocIndex.sentence_number(doc, before[-1].start)
        current = DocIndex.sentence_number(doc, sentence.start)
        written = DocIndex.memo(doc, ("written sentences",), lambda: [bool(s.text.strip()) for s in DocIndex.sentences(doc)])
        gap = sum(written[last + 1: current + 1])
        return next(e for e in before if DocIndex.sentence_number(doc, e.start) == last) if gap <= max_gap else None

    # -- values -----------------------------------------------------------------------
    def value(self, doc: Doc, rule: Rule, start: int, end: int, sentence: Span) -> str:
        if not rule.value:
            return ""
        span = doc[start:end]
        after = doc[end: min(sentence.end, end + 8)]
        if rule.value == "year":
            # the pattern ends on the year: "deal, signed in 2024, runs until 2027" gives 2027
            years = [t.text for t in span if YEAR.match(t.text)]
            return years[-1] if years else next((t.text for t in after if YEAR.match(t.text)), "")
        if rule.value == "years":
            for token in list(span) + list(after):
                number = NUMBER_WORDS.get(token.lower_.split("-")[0]) or (
                    int(token.text) if token.text.isdigit() and int(token.text) < 10 else None)
                if number:
                    return str(number)
            return ""
        if rule.value == "period":
            after = self.period(doc[start: min(sentence.end, end + 8)])
            return after or self.period(doc[max(sentence.start, start - 8): start])
        raise RuleFileError(f"rule {rule.id}: unknown value kind {rule.value!r}")

    @staticmethod
    def period(span: Span) -> str:
        years = []
        for token in span:
            if YEAR.match(token.text):
                years.append(token.text)
            elif SHORT_SPAN.match(token.text):
                first, second = re.split(r"[-/–]", token.text)
                years += [first, second if len(second) == 4 else first[:2] + second]
        if len(years) >= 2:
            return f"{years[0]}/{years[1]}"
        return years[0] if years else ""

    # -- status -----------------------------------------------------------------------
    @staticmethod
    def cue_tokens(doc: Doc, matcher: GatedMatcher) -> set[int]:
        return {i for _, s, e in matcher(doc) for i in range(s, e)}

    def clause(self, doc: Doc, start: int, end: int, sentence: Span) -> range:
        lowers = DocIndex.lowers(doc)
        left = start
        while left > sentence.start and lowers[left - 1] not in CLAUSE_BREAKS:
            left -= 1
        right = end
        while right < sentence.end and lowers[right] not in CLAUSE_BREAKS:
            right += 1
        return range(left, right)

    def status(self, rule, relation, doc, start, end, sentence, hedges, denials, attributed) -> str:
        kind = RELATIONS[relation][2]
        clause = set(self.clause(doc, start, end, sentence))
        negated = {i for i in clause & denials if self.negated(doc, i)}
        if kind != "state" and clause & denials - negated:
            return "denied"
        if negated and kind != "state":
            return "rumour"  # "have not ruled out": still possible
        if rule.status and relation == rule.relation:
            return rule.status
        if kind == "rumour":
            return "rumour"
        if kind == "event" and (clause & hedges or attributed):
            return "rumour"
        if kind == "contract" and clause & hedges:
            return "rumour"
        if kind != "state" and self.headline(sentence):
            return "rumour"  # a bare headline never makes a claim a fact on its own
        return "fact"

    @staticmethod
    def negated(doc: Doc, index: int) -> bool:
        """A denial cue under a negation: "have not ruled out", "non esclude"."""
        return any(w in ("not", "n't", "never", "non", "nor") for w in DocIndex.lowers(doc)[max(0, index - 2): index])

    # -- attribution -------------------------------------------------------------------
    def sources_by_sentence(self, doc: Doc, names: dict):
        """Per sentence: (sources in force, named here?), and the tokens of source mentions."""
        named: dict[int, list[str]] = {}
        trailing: set[int] = set()
        tokens: set[int] = set()
        sentences = DocIndex.sentences(doc)
        for match_id, start, end, alignment in self.attribution(doc, with_alignments=True):
            slots = self.attribution_roles[doc.vocab.strings[match_id]]
            for offset, index in enumerate(alignment):
                if index not in slots:
                    continue
                entity = self.entity_at(doc, start + offset)
                if entity is None or entity.label_ not in {"MEDIA", "JOURNALIST", "PER", "COACH"}:
                    continue
                if entity.label_ == "COACH":
                    continue
                name = names.get(entity.kb_id_, {}).get("name", entity.text)
                sent = DocIndex.sentence_number(doc, start)
                if self.attribution_trailing.get(doc.vocab.strings[match_id]):
                    trailing.add(sent)
                named.setdefault(sent, [])
                if name not in named[sent]:
                    named[sent].append(name)
                tokens.update(range(entity.start, entity.end))
        result, current, paragraph = [], [], None
        for i, sentence in enumerate(sentences):
            this_paragraph = self.paragraph_of(doc, sentence)
            if this_paragraph != paragraph:
                current, paragraph = [], this_paragraph
            if i in named:
                current = named[i]
            result.append((list(current), i in named))
        for i in sorted(trailing):
            # a post signed "@SkySport" or "— Fabrizio Romano (@FabrizioRomano)": the
            # signature covers what came before it in its paragraph
            paragraph = self.paragraph_of(doc, sentences[i])
            j = i - 1
            while j >= 0 and self.paragraph_of(doc, sentences[j]) == paragraph:
                if not result[j][0]:
                    result[j] = (named[i], True)
                j -= 1
        return result, tokens

    @staticmethod
    def paragraph_of(doc: Doc, sentence: Span) -> int:
        """The paragraph a sentence is in: blank lines before it (computed once per doc)."""
        breaks = doc.user_data.get("_paragraph_breaks")
        if breaks is None:
            text = doc.text
            breaks = [m.start() for m in re.finditer(r"\n[ \t]*\n", text)]
            doc.user_data["_paragraph_breaks"] = breaks
        return bisect.bisect_left(breaks, sentence.start_char)


IMPLIED = {
    # (relation, status) -> relation implied for the same coach and club. SCHEMA.md makes
    # these optional in gold beside the specific one, and they are what an analyst
    # filtering on coach_of / former_coach_of expects to find.
    ("joins", "fact"): "coach_of",
    ("joins", "rumour"): "linked_to",
    ("sacked_by", "rumour"): "coach_of",
    ("leaves", "rumour"): "coach_of",
    ("sacked_by", "fact"): "former_coach_of",
    ("leaves", "fact"): "former_coach_of",
    ("contract_until", "fact"): "coach_of",
}


def with_implied(triples: list[Triple]) -> list[Triple]:
    """Add the state each event implies: an appointment means a current job, a sacking a past one."""
    extra = []
    for t in triples:
        implied = IMPLIED.get((t.relation, t.status))
        if implied:
            status = "rumour" if implied == "linked_to" else "fact"
            extra.append(Triple(**{**t.__dict__, "relation": implied, "status": status, "value": "",
                                   "source": t.source if implied == "linked_to" else [],
                                   "confidence": round(t.confidence * 0.8, 2), "rule": f"implied:{t.rule}"}))
    return triples + extra


CURRENT_JOB = {"coach_of", "sacked_by", "leaves", "contract_until", "contract_length"}


def consistent(triples: list[Triple]) -> list[Triple]:
    """A coach is not "linked" with the club he already coaches: drop such linked_to rows."""
    current = {(t.article_id, t.subject_id, t.object_id) for t in triples if t.relation in CURRENT_JOB}
    return [t for t in triples
            if not (t.relation == "linked_to" and (t.article_id, t.subject_id, t.object_id) in current)]


def merge(triples: list[Triple]) -> list[Triple]:
    """One row per (article, subject, relation, object, value) with the strongest status.

    fact beats rumour; denied only when the article's last word on the triple is a denial.
    former_coach_of rows differing only in their period collapse to the most precise one.
    The states an event implies are added from the merged events, so a departure both
    rumoured and confirmed implies a former job only.
    """
    events = collapse(triples)
    return collapse(consistent(events + [t for t in with_implied(events) if t.rule.startswith("implied:")]))


def collapse(triples: list[Triple]) -> list[Triple]:
    groups: dict[tuple, list[Triple]] = {}
    for triple in sorted(triples, key=lambda t: (t.start, t.rule)):
        value = "" if triple.relation == "former_coach_of" else triple.value
        key = (triple.article_id, triple.subject_id, triple.relation, triple.object_id, value)
        groups.setdefault(key, []).append(triple)
    merged = []
    for group in groups.values():
        last = group[-1]
        if last.status == "denied":
            best = last
        else:
            live = [t for t in group if t.status != "denied"]
            best = max(live, key=lambda t: (STATUS_RANK[t.status], t.confidence, len(t.value), -t.start))
        sources = [s for t in group for s in t.source]
        best.source = list(dict.fromkeys(best.source or sources))
        best.value = max((t.value for t in group), key=len) if best.relation == "former_coach_of" else best.value
        merged.append(best)
    return merged
