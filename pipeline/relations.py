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
import functools
import itertools
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import numpy
from spacy.attrs import ENT_TYPE, IS_SPACE, LEMMA, LOWER, ORTH, SPACY
from spacy.language import Language
from spacy.tokens import Doc, Span

from pipeline.matching import GatedMatcher
from pipeline.ruleset import RuleFileError, RuleSet, rules_for, with_apostrophe_variants
from pipeline.tokens import strings_of

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
NAMED_WITH_CLUB = PERSON_LABELS - {"PRESIDENT"}  # "Fulham boss Marco Silva"
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
YEAR_SEPARATOR = re.compile(r"[-/–]")
PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")
PAST_JOB_CUES = {"after", "spell", "spells", "stint", "stints", "years", "seasons", "former", "ex", "previously",
                 "formerly", "dopo", "esperienza", "esperienze", "stagioni", "anni", "reduce", "ex-"}
JOB_PREPOSITIONS = {"at", "with", "of", "in", "for", "from", "con", "al", "alla", "all'", "all’", "allo", "del",
                    "della", "dell'", "dell’", "dello", "dal", "dalla", "nel", "nella", "a", "left", "leaving",
                    "lasciato", "former", "ex", "coaches", "manages"}
LEFT_CUES = {"left", "leaving", "since", "off", "while", "lasciato", "lasciando", "coaches", "manages", "allena", "guida"}
PAST_OR_LEFT_CUES = PAST_JOB_CUES | LEFT_CUES
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
CURRENT_JOB = {"coach_of", "sacked_by", "leaves", "contract_until", "contract_length"}
CLUB_JOB_RELATIONS = CURRENT_JOB | {"joins", "linked_to"}  # a club slot no past job fills
CAREER_RELATIONS = {"former_coach_of", "coach_of", "joins", "leaves"}
PLAYED_VERBS = {"played", "playing", "giocato", "giocava", "giocando", "captaining", "capitano"}
PLAYING_CAREER_NOUNS = {"career", "days", "calciatore", "giocatore"}
PLAYING_WORDS = {"appearances", "presenze", "debut", "esordio"}
RELATIVE_PRONOUNS = {"who", "che"}
SUCCESSION_NOUNS = {"successor", "successors", "replacement", "replacements", "erede", "eredi", "successore",
                    "successori", "sostituto", "sostituti", "posto", "dopo"}
CONFIDENCE = {"bound": 0.9, "nearest": 0.75, "topic": 0.6}

class DocIndex:
    """What the rules ask of a doc thousands of times per article, built once per doc
    (each part when first asked for): its entities and sentences (spaCy builds doc.ents,
    doc.sents and span.sent anew on every access), each token's strings, and the
    verdicts of per-entity tests. Relations never change a doc's tokens or entities, so
    the index of the last doc stays valid while that doc comes back."""

    _last: DocIndex | None = None

    def __init__(self, doc: Doc):
        self.doc = doc
        self.memo: dict = {}

    @classmethod
    def of(cls, doc: Doc) -> DocIndex:
        last = cls._last
        if last is None or last.doc is not doc:
            last = cls._last = cls(doc)
        return last

    def remember(self, key: tuple, compute: Callable[[], object]):
        """compute(), once per doc and key."""
        if key not in self.memo:
            self.memo[key] = compute()
        return self.memo[key]

    # -- entities ---------------------------------------------------------------------
    @cached_property
    def ents(self) -> list[Span]:
        return list(self.doc.ents)

    @cached_property
    def starts(self) -> list[int]:
        return [e.start for e in self.ents]

    @cached_property
    def owners(self) -> list[Span | None]:
        """Per token: the entity holding it, if any."""
        owners: list[Span | None] = [None] * len(self.doc)
        for ent in self.ents:
            owners[ent.start:ent.end] = [ent] * len(ent)
        return owners

    @cached_property
    def mention_counts(self) -> Counter[str]:
        """How often the doc names each knowledge-base id."""
        return Counter(e.kb_id_ for e in self.ents)

    def between(self, start: int, end: int) -> list[Span]:
        """The entities inside doc[start:end]; the caller must not change the list."""
        key = ("between", start, end)
        found = self.memo.get(key)
        if found is None:
            found = self.memo[key] = []
            for ent in self.ents[bisect.bisect_left(self.starts, start):]:
                if ent.end > end:
                    break
                found.append(ent)
        return found

    def within(self, span: Span) -> list[Span]:
        """The entities inside span (as span.ents); the caller must not change the list."""
        return self.between(span.start, span.end)

    def labelled(self, label: str) -> list[Span]:
        """The entities of one label, in text order; the caller must not change the list."""
        return self.remember(("labelled", label), lambda: [e for e in self.ents if e.label_ == label])

    # -- sentences and paragraphs -------------------------------------------------------
    @cached_property
    def sentences(self) -> list[Span]:
        return list(self.doc.sents)

    @cached_property
    def sentence_starts(self) -> list[int]:
        return [s.start for s in self.sentences]

    def sentence_number(self, token_index: int) -> int:
        """The index in sentences of the sentence holding the token doc[token_index]."""
        return self.sentence_of[token_index]

    @cached_property
    def token_sentences(self) -> numpy.ndarray:
        """Each token's sentence number."""
        return numpy.maximum(0, numpy.searchsorted(self.sentence_starts, numpy.arange(len(self.doc)), side="right") - 1)

    @cached_property
    def sentence_of(self) -> list[int]:
        """Each token's sentence number, as a list: faster to index one by one."""
        return self.token_sentences.tolist()

    @cached_property
    def written_sentences(self) -> list[bool]:
        """Per sentence: whether it holds more than white space."""
        written = set(self.token_sentences[self.doc.to_array(IS_SPACE) == 0].tolist())
        return [n in written for n in range(len(self.sentences))]

    @cached_property
    def paragraphs(self) -> list[int]:
        """Per sentence: the paragraph it is in, counted by the blank lines before it."""
        spaced = self.doc.to_array(SPACY).tolist()
        text = "".join([w + " " if space else w for w, space in zip(self.texts, spaced)])  # doc.text, faster
        breaks = [m.start() for m in PARAGRAPH_BREAK.finditer(text)]
        return [bisect.bisect_left(breaks, s.start_char) for s in self.sentences]

    # -- tokens ---------------------------------------------------------------------------
    @cached_property
    def lowers(self) -> list[str]:
        return strings_of(self.doc, LOWER)

    @cached_property
    def texts(self) -> list[str]:
        return strings_of(self.doc, ORTH)

    @cached_property
    def lemmas(self) -> list[str]:
        return strings_of(self.doc, LEMMA)

    @cached_property
    def ent_types(self) -> list[str]:
        return strings_of(self.doc, ENT_TYPE)

    @cached_property
    def lowers_and_lemmas(self) -> numpy.ndarray:
        """Per token: the string-store hashes of its lower-case form and its lemma."""
        return self.doc.to_array([LOWER, LEMMA])

    @cached_property
    def clause_breaks(self) -> list[int]:
        """The indices of the tokens that end a clause (CLAUSE_BREAKS), in order."""
        return [i for i, w in enumerate(self.lowers) if w in CLAUSE_BREAKS]

    def words_before(self, index: int, count: int) -> list[str]:
        """The lower-case forms of up to `count` tokens before doc[index], in its sentence."""
        return self.lowers[max(self.sentence_starts[self.sentence_number(index)], index - count): index]


def ended_by(entities: list[Span], index: int) -> list[Span]:
    """The entities (in text order, as DocIndex keeps them) that end by token `index`."""
    return entities[:bisect.bisect_right(entities, index, key=lambda e: e.end)]


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


def per_entity(method: Callable[..., bool]) -> Callable[..., bool]:
    """Memoise a test of an entity, once per doc, extractor and further arguments: the rules
    ask it of the same few entities for every match in the doc."""
    name = method.__name__

    @functools.wraps(method)
    def memoised(self, doc: Doc, entity: Span, *args) -> bool:
        memo = DocIndex.of(doc).memo
        key = (id(self), name, entity.start, *args)  # an entity's start tells it from the doc's others
        if key not in memo:
            memo[key] = method(self, doc, entity, *args)
        return memo[key]
    return memoised


@functools.cache
def label_set(wanted: str, listed: tuple[str, ...]) -> frozenset[str]:
    """The entity labels that may fill an argument of the wanted type: those the rule lists, or the type's."""
    return frozenset(listed or LABELS_FOR[wanted])


class RelationExtractor:
    def __init__(self, nlp: Language, rules: RuleSet | None = None):
        """`rules`: the compiled set the stages pass (pipeline.rulebook.load_rules); without
        it, the YAML rule files of the language."""
        self.lang = nlp.lang
        rule_set = rules_for(self.lang, rules)
        self.rules = {r.id: r for r in relation_rules(rule_set)}
        self.contexts = rule_set.context_words()
        self.context_cues: tuple[numpy.ndarray, dict[int, list[str]]] | None = None  # cue_index()
        self.role_words = set().union(*rule_set.role_words().values())
        self.matcher = GatedMatcher(nlp.vocab)
        for rule in self.rules.values():
            self.matcher.add(rule.id, [rule.pattern], greedy="LONGEST", aligned=bool(rule.roles))
        # hedges, denials and attribution cues share one matcher, run once per doc: where a
        # GatedMatcher's gates open costs about as much per call as the matching in them
        self.cues = GatedMatcher(nlp.vocab)
        self.cue_kinds: dict[int, tuple[str, str]] = {}  # match key in cues -> (kind, rule id)
        status = rule_set["status"]
        self.add_cues(nlp, "hedge", status["hedge"])
        self.add_cues(nlp, "denial", status["denial"])
        attribution = rule_set["attribution"]
        self.attribution_roles = {}
        self.attribution_trailing = {e["id"]: bool(e.get("trailing")) for e in attribution}
        entries = []
        for entry in attribution:
            pattern = [dict(t) for t in entry["pattern"]]
            self.attribution_roles[entry["id"]] = [i for i, t in enumerate(pattern) if t.pop("role", None)]
            entries.append({"id": entry["id"], "pattern": pattern})
        self.add_cues(nlp, "attribution", entries, greedy="LONGEST", aligned=True)

    def add_cues(self, nlp: Language, kind: str, entries: list[dict], greedy: str | None = None,
                 aligned: bool = False) -> None:
        """The entries' patterns into self.cues, each under a key naming its kind."""
        for entry in entries:
            key = f"{kind}:{entry['id']}"
            self.cues.add(key, [with_apostrophe_variants(entry["pattern"])], greedy=greedy, aligned=aligned)
            self.cue_kinds[nlp.vocab.strings[key]] = (kind, entry["id"])

    # -- entry point --------------------------------------------------------------------
    def __call__(self, doc: Doc) -> list[Triple]:
        doc_index = DocIndex.of(doc)
        names = doc.user_data.get("entities", {})
        article_id = doc.user_data.get("article_id", "")
        cues = self.cue_matches(doc)
        sources, source_tokens = self.sources_by_sentence(doc, names, cues["attribution"])
        hedge_tokens = self.cue_tokens(cues["hedge"])
        denial_tokens = self.cue_tokens(cues["denial"])
        sentences = doc_index.sentences
        strings = doc.vocab.strings
        triples = []
        for match_id, start, end, alignment in self.matcher(doc, with_alignments=True):
            rule = self.rules[strings[match_id]]
            if self.excluded_context(doc, rule, start, end):
                continue
            sent_index = doc_index.sentence_number(start)
            sentence = sentences[sent_index]
            if rule.unless_context and self.vetoed_by_context(doc, sent_index, rule.unless_context, start, end):
                continue
            if rule.if_context and not self.in_context(doc, sent_index, rule.if_context):
                continue
            for subject, obj, how in self.arguments(doc, rule, start, end, alignment, sentence, source_tokens):
                value = self.value(doc, rule, start, end, sentence)
                if rule.relation in ("contract_until", "contract_length") and not value:
                    continue
                relation, value = self.career_step(doc, rule.relation, value, start, sentence)
                if rule.past_to_former and relation in ("coach_of", "joins") and self.past(doc, start, sentence):
                    relation, value = "former_coach_of", self.period(doc_index.texts[sentence.start:sentence.end])
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
                    article_id=article_id, subject_id=subject.kb_id_,
                    relation=relation, object_id=obj.kb_id_, value=value, status=status,
                    source=[] if kind == "state" else sources[sent_index][0],
                    confidence=CONFIDENCE[how], start=sentence.start_char, end=sentence.end_char,
                    rule=rule.id, sentence=sent_index,
                ))
        return triples

    @staticmethod
    def excluded_context(doc: Doc, rule: Rule, start: int, end: int) -> bool:
        """`not_after` / `not_before`: words that must not stand right before / after the match."""
        doc_index = DocIndex.of(doc)
        lowers = doc_index.lowers
        i = start - 1
        if doc_index.ent_types[start] == "CLUB":
            # look past a coordinated list of clubs: "Former Sheffield Wednesday and Wolves coach X"
            types = doc_index.ent_types
            while i > 0 and (types[i] == "CLUB" or lowers[i] in (",", "and", "e", "&")):
                i -= 1
        before = lowers[i] if i >= 0 else ""
        after = lowers[end] if end < len(lowers) else ""
        return before in rule.not_after or after in rule.not_before or (
            bool(rule.not_within) and not rule.not_within.isdisjoint(doc_index.words_before(start, 6)))

    @staticmethod
    def headline(sentence: Span) -> bool:
        """A title or caption line: alone in its paragraph, short, no final full stop."""
        texts = DocIndex.of(sentence.doc).texts
        alone = (sentence.start == 0 or "\n" in texts[sentence.start - 1]) and \
            (sentence.end >= len(texts) or "\n" in texts[sentence.end - 1] or "\n" in texts[min(sentence.end, len(texts) - 1)])
        return alone and len(sentence) <= 20 and not sentence.text.strip().endswith((".", "!", "?", '"', "”", "»"))

    def in_context(self, doc: Doc, index: int, context: str) -> bool:
        """Whether this sentence or one of the three before has a cue word of the context
        (market, bench)."""
        cued = self.cued_sentences(doc, context)
        return any(cued[max(0, index - 3): index + 1])

    def vetoed_by_context(self, doc: Doc, index: int, context: str, start: int, end: int) -> bool:
        """`unless_context`: a cue of the context in this or the previous sentence vetoes the
        rule (triggered by doc[start:end]); talk of the market does not when the trigger itself
        is a bench word ("a former Liverpool midfielder, ... have been mentioned as possible successors")."""
        if not any(self.cued_sentences(doc, context)[max(0, index - 1): index + 1]):
            return False
        bench = self.contexts.get("bench", set())
        doc_index = DocIndex.of(doc)
        lowers, lemmas = doc_index.lowers, doc_index.lemmas
        return context != "market" or not any(lowers[i] in bench or lemmas[i] in bench for i in range(start, end))

    def cued_sentences(self, doc: Doc, context: str) -> list[bool]:
        """Per sentence of the doc: whether it holds a cue word of the context."""
        doc_index = DocIndex.of(doc)

        def compute() -> list[bool]:
            numbers = self.sentences_by_context(doc).get(context, set())
            return [n in numbers for n in range(len(doc_index.sentences))]
        return doc_index.remember((id(self), "cued", context), compute)

    def sentences_by_context(self, doc: Doc) -> dict[str, set[int]]:
        """Per context: the numbers of the sentences holding one of its cue words, as a
        token's lower-case form or lemma. One pass over the doc serves every context."""
        doc_index = DocIndex.of(doc)

        def compute() -> dict[str, set[int]]:
            hashes, contexts_of = self.cue_index(doc)
            words = doc_index.lowers_and_lemmas
            found: dict[str, set[int]] = {}
            if not len(hashes):
                return found
            nearest_cue = hashes[numpy.minimum(numpy.searchsorted(hashes, words), len(hashes) - 1)]
            tokens, columns = numpy.nonzero(nearest_cue == words)  # numpy.isin, three times faster here
            for token, column in zip(tokens.tolist(), columns.tolist()):
                for context in contexts_of[int(words[token, column])]:
                    found.setdefault(context, set()).add(doc_index.sentence_of[token])
            return found
        return doc_index.remember((id(self), "sentences by context"), compute)

    def cue_index(self, doc: Doc) -> tuple[numpy.ndarray, dict[int, list[str]]]:
        """The string-store hashes of every context's cue words (sorted), and the contexts of each."""
        if self.context_cues is None:
            strings = doc.vocab.strings
            contexts_of: dict[int, list[str]] = {}
            for context, words in self.contexts.items():
                for word in words:
                    contexts_of.setdefault(strings[word], []).append(context)
            hashes = numpy.sort(numpy.fromiter(contexts_of, dtype=numpy.uint64, count=len(contexts_of)))
            self.context_cues = hashes, contexts_of
        return self.context_cues

    @property
    def player_words(self) -> set[str]:
        """PLAYING_CONTEXT of roles.yml: "as a midfielder", "come attaccante"."""
        return self.contexts.get("playing", set())

    def playing_career(self, doc: Doc, club: Span, start: int, sentence: Span) -> bool:
        """"As a player, he won the treble at Inter", "a centre-back in his playing days",
        "joining Juventus as a midfielder", "che da calciatore ha giocato con il Verona": a
        club of his playing days, told in the sentence's opening clause or in the clause of
        the club or of the trigger, not a job on the bench."""
        lowers = DocIndex.of(doc).lowers
        after = lowers[club.end: min(sentence.end, club.end + 3)]
        if len(after) >= 2 and after[0] in ("as", "come") and (
                after[1] in self.player_words or (after[1] in ("a", "an", "un", "uno") and after[2:3]
                                                  and after[2] in self.player_words)):
            return True
        if any(w in PLAYED_VERBS for w in lowers[max(sentence.start, club.start - 4): club.start]):
            return True
        opening = self.clause(doc, sentence.start, sentence.start + 1, sentence)
        clauses = [opening]
        for index in (start, club.start):
            if sentence.start <= index < sentence.end:
                clauses.append(self.clause(doc, index, index + 1, sentence))
        for number, clause in enumerate(clauses):
            words = lowers[clause.start:clause.stop]
            if any(w in PLAYING_WORDS for w in words) or any(
                    a in ("playing", "da") and b in PLAYING_CAREER_NOUNS for a, b in itertools.pairwise(words)):
                return True
            if number == 0 and words[:1] in (["as"], ["da"], ["come"]) and any(w in self.player_words for w in words[1:3]):
                return True  # "As a player, ...", "Da calciatore ..."
        return False

    def past(self, doc: Doc, start: int, sentence: Span) -> bool:
        """A job told in the past: "spent three seasons in charge of", "was commissario tecnico
        of ... between 2014 and 2016", "earlier spells in charge of"; an appointment ("was
        appointed head coach of") is not."""
        doc_index = DocIndex.of(doc)
        left = slice(max(sentence.start, start - 5), start)
        if any(w in APPOINTMENT_LEMMAS for w in doc_index.lemmas[left]):
            return False
        lowers = doc_index.lowers
        if any(w in PAST_CUES for w in lowers[left]):
            return True
        right = slice(start, min(sentence.end, start + 16))
        if any(w in ("stayed", "remained", "rimasto", "rimase", "restò") for w in lowers[right]):
            return True  # "... head coach of Cagliari, where he stayed for over two years"
        return len([w for w in doc_index.texts[right] if YEAR.match(w)]) >= 2

    @staticmethod
    def ongoing(doc: Doc, club: Span, sentence: Span) -> bool:
        """"has managed Fulham since 2021", "allena il Genoa dal 2023": still in the job."""
        doc_index = DocIndex.of(doc)
        lowers = doc_index.lowers
        return min(sentence.end, club.end + 3) - club.end >= 2 and lowers[club.end] in ("since", "dal") \
            and bool(YEAR.match(doc_index.texts[club.end + 1])) \
            and not any(w in ("to", "al", "until") for w in lowers[club.end + 2: min(sentence.end, club.end + 5)])

    def career_step(self, doc: Doc, relation: str, value: str, start: int, sentence: Span):
        """A move dated well before the article ("joined Sassuolo in 2007") is a former job."""
        if relation not in ("joins", "coach_of", "leaves", "sacked_by", "linked_to"):
            return relation, value
        article_year = int((doc.user_data.get("date") or "0")[:4] or 0)
        if not article_year:
            return relation, value
        doc_index = DocIndex.of(doc)
        lowers, texts = doc_index.lowers, doc_index.texts
        nearby = range(start, min(self.clause(doc, start, start + 1, sentence).stop, start + 14))
        dated = (int(texts[i]) for i in nearby if YEAR.match(texts[i]) and lowers[i - 1] in ("in", "nel", "since", "dal"))
        seasons = (int(texts[i][:4]) for i in nearby if SHORT_SPAN.match(texts[i]) or (  # "the 2014-15 season"
            YEAR.match(texts[i]) and i + 1 < len(texts) and texts[i + 1] in ("-", "–", "/")))
        year = next(dated, None) or next(seasons, None)
        if year is not None and year < article_year - 1:
            return "former_coach_of", str(year)
        return relation, value

    # -- arguments ----------------------------------------------------------------------
    def arguments(self, doc, rule, start, end, alignment, sentence, source_tokens):
        subject_type, object_type, _ = RELATIONS[rule.relation]
        bound = {role: DocIndex.of(doc).owners[start + alignment.index(index)]
                 for role, index in rule.roles.items() if index in alignment}
        subjects, how = self.candidates(doc, rule, "subject", subject_type, bound, start, end,
                                        sentence, source_tokens)
        objects, _ = self.candidates(doc, rule, "object", object_type, bound, start, end,
                                     sentence, source_tokens)
        subjects = self.fitting(subjects, subject_type, rule.subject)
        objects = self.fitting(objects, object_type, rule.object)
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
        doc_index = DocIndex.of(doc)
        lowers, texts = doc_index.lowers, doc_index.texts
        group, current = [first], first
        while True:
            i = current.end
            while i < sentence.end and i - current.end < 8 and (
                    lowers[i] in COORDINATORS or lowers[i] in PERIOD_WORDS
                    or YEAR.match(texts[i]) or texts[i].isdigit() or texts[i] in ("-", "–", "/")):
                i += 1  # "the Bianconeri from 2011 to 2014, Chelsea, Inter and Tottenham"
            if i == current.end or i >= sentence.end or not any(w in COORDINATORS for w in lowers[current.end:i]):
                return group
            following = next((e for e in doc_index.within(sentence) if e.start == i and e.label_ == first.label_), None)
            if following is None or (following.label_ == "CLUB" and self.attached_to_person(doc, following)
                                     and not self.shared_role(doc, first, following)):
                return group
            group.append(following)
            current = following

    @staticmethod
    def shared_role(doc: Doc, first: Span, following: Span) -> bool:
        """"former Bayern Munich and Germany manager": the role word after the last club of a
        pair joined by "and" belongs to both, so the pair stays together."""
        return following.start - first.end == 1 and DocIndex.of(doc).lowers[first.end] in ("and", "e", "&")

    @staticmethod
    def not_head_coach(doc: Doc, start: int, end: int, club: Span) -> bool:
        """"joining the coaching staff at Udinese", "the club's youth team", "vice di": not the bench."""
        low, high = (end, club.start) if club.start >= end else (club.end, start)
        return high - low <= 8 and any(w in NOT_HEAD_COACH for w in DocIndex.of(doc).lowers[low:high])

    def candidates(self, doc, rule, role, wanted, bound, start, end, sentence, source_tokens):
        """Entities that may fill one argument, best first, and how they were found."""
        if bound.get(role) is not None:
            return [bound[role]], "bound"
        spec = getattr(rule, role)
        if wanted == "COACH" and rule.many != role and spec.get("side", "any") != "right" \
                and not self.person_after(doc, end, sentence):
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
        if wanted == "COACH" and spec.get("fallback", True):
            clause = self.clause(doc, start, end, sentence)
            if not self.names_someone(doc, clause.start, clause.stop):
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
    def person_after(doc: Doc, end: int, sentence: Span) -> bool:
        """A person named within three tokens after the trigger, in its sentence."""
        return any(t in PERSON_LABELS for t in DocIndex.of(doc).ent_types[end: min(sentence.end, end + 3)])

    @staticmethod
    def predecessor(doc: Doc, person: Span) -> bool:
        """"i possibili eredi di Antonio Conte", "a successor to Pochettino": the coach to be
        replaced, not a candidate."""
        doc_index = DocIndex.of(doc)
        lowers = doc_index.lowers
        if person.start < 2 or lowers[person.start - 1] not in ("di", "of", "to", "for", "a", "del", "dell'", "dell’"):
            return False
        return lowers[person.start - 2] in SUCCESSION_NOUNS or doc_index.lemmas[person.start - 2] in SUCCESSION_NOUNS

    @staticmethod
    def relative_antecedent(doc: Doc, start: int, sentence: Span) -> Span | None:
        """The person a relative clause holding the trigger hangs on: "X, who ...", "X, che ..."
        with no other person and no clause break between the pronoun and the trigger."""
        doc_index = DocIndex.of(doc)
        lowers, types = doc_index.lowers, doc_index.ent_types
        i = start - 1
        while i > sentence.start + 1:
            if types[i] in PERSON_LABELS or (lowers[i] in CLAUSE_BREAKS and lowers[i] not in RELATIVE_PRONOUNS):
                return None
            if lowers[i] in RELATIVE_PRONOUNS:
                if doc_index.texts[i - 1] != "," or types[i - 2] not in PERSON_LABELS:
                    return None
                return next((e for e in doc_index.within(sentence) if e.end == i - 1), None)
            i -= 1
        return None

    @staticmethod
    def labels(wanted: str, spec: dict) -> frozenset[str]:
        return label_set(wanted, tuple(spec.get("labels") or ()))

    def fitting(self, entities: list[Span | None], wanted: str, spec: dict) -> list[Span]:
        """The entities of a label the argument takes that the knowledge base knows."""
        labels = self.labels(wanted, spec)
        return [e for e in entities if e is not None and e.label_ in labels and e.kb_id_]

    def nearest(self, doc, sentence, start, end, wanted, spec, excluded, many, relation=""):
        """Entities of the wanted type in the sentence, nearest the trigger first.

        Clubs named as a match opponent ("the loss at West Ham") never fill a club slot;
        `not_after` in the spec drops candidates right after given words ("from").
        """
        doc_index = DocIndex.of(doc)
        side = spec.get("side", "any")
        window = int(spec.get("window", 40))
        labels = self.labels(wanted, spec)
        skip_after = set(spec.get("not_after") or [])
        lowers = doc_index.lowers

        def usable(e: Span) -> bool:
            if e.label_ not in labels or e.start in excluded:
                return False
            if e.start > 0 and lowers[e.start - 1] in skip_after:
                return False
            if wanted != "CLUB":
                return True
            if relation in ("leaves", "sacked_by") and self.link_target(doc, e):
                return False
            if relation in CLUB_JOB_RELATIONS and self.past_job(doc, e, relation) \
                    and not (relation in ("leaves", "sacked_by") and self.same_clause(doc, e, start, end)):
                return False  # a departure from the past job itself: "le dimissioni dalla Fiorentina"
            if relation not in ("coach_of", "president_of") and self.attached_to_person(doc, e):
                return False
            return not self.opponent(doc, e)

        entities = doc_index.within(sentence)
        left = [e for e in entities if e.end <= start and start - e.end <= window and usable(e)]
        right = [e for e in entities if e.end > start and e.start - end <= window and usable(e)]
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

    @per_entity
    def past_job(self, doc: Doc, club: Span, relation: str = "") -> bool:
        """"after seven years in charge of Brentford", "dopo le esperienze con il Genoa": a job
        the coach has left, so never the club he joins, coaches or signs with now; nor the
        club a candidate is linked with ("since he left PSG", "fresh off of Chelsea")."""
        doc_index = DocIndex.of(doc)
        lowers = doc_index.lowers
        introduced = club.start > 0 and (lowers[club.start - 1] in JOB_PREPOSITIONS or (
            club.start > 1 and lowers[club.start - 1] in ("the", "il", "la", "lo", "l'", "l’")
            and lowers[club.start - 2] in JOB_PREPOSITIONS))
        if not introduced:
            return False
        window = doc_index.words_before(club.start, 6)
        cues = PAST_OR_LEFT_CUES if relation == "linked_to" else PAST_JOB_CUES
        told_in_past = any(w in ("charge", "helm") for w in window) and any(
            w in ("was", "were", "had") for w in window)  # "who was in charge of Bayern"
        return told_in_past or any(w in cues for w in window)

    def same_clause(self, doc: Doc, club: Span, start: int, end: int) -> bool:
        low, high = (club.end, start) if club.end <= start else (end, club.start)
        return not self.clause_break(doc, low, high)

    def by_market_context(self, doc, relation, subjects, objects, sentence):
        """A person of unknown role is a player in talk of the transfer market and a coach
        in talk of the bench: keep him only in the relation his context fits."""
        index = DocIndex.of(doc).sentence_number(sentence.start)
        market = self.in_context(doc, index, "market")
        bench = self.in_context(doc, index, "bench")
        if relation == "transfer_target":
            return subjects, [o for o in objects if o.label_ == "PLAYER" or (market and not bench)]
        return [s for s in subjects if s.label_ == "COACH" or not market or bench], objects

    @staticmethod
    def possessive(doc: Doc, span: Span) -> bool:
        """"following Pochettino's departure": a person named as the owner of something else."""
        doc_index = DocIndex.of(doc)
        texts = doc_index.texts
        return span.end < len(texts) and texts[span.end] in ("'s", "’s") and \
            span.end + 1 < len(texts) and not doc_index.ent_types[span.end + 1]

    @staticmethod
    def link_target(doc: Doc, club: Span) -> bool:
        """"in orbita Atalanta", "tempted by Milan": the club he may go to, not the one he leaves."""
        return any(w in LINK_CUES for w in DocIndex.of(doc).words_before(club.start, 3))

    @per_entity
    def attached_to_person(self, doc: Doc, club: Span) -> bool:
        """"Brighton's Carlos Baleba", "Fulham boss Marco Silva", "Nico Schlotterbeck del
        Borussia Dortmund": the club is the person's own, said to tell who he is, not the
        other party of the claim."""
        doc_index = DocIndex.of(doc)
        lowers, texts, types = doc_index.lowers, doc_index.texts, doc_index.ent_types
        i = club.end
        if i < len(texts) and texts[i] in ("'s", "’s", "'"):
            i += 1
        while i < len(texts) and i - club.end < 4 and (lowers[i] in self.role_words or lowers[i] in ("head", "-")):
            i += 1
        if i < len(texts) and i > club.end and types[i] in NAMED_WITH_CLUB:
            return True
        i = club.start - 1
        if i < 0 or lowers[i] not in ("del", "della", "dello", "dell'", "dell’", "of", "at"):
            return False
        i -= 1
        while i >= 0 and (lowers[i] in self.role_words or texts[i] == ","):
            i -= 1  # "Hjulmand, capitano dello Sporting"
        return i >= 0 and types[i] in PERSON_LABELS

    def opponent(self, doc: Doc, club: Span) -> bool:
        """A club named as a match opponent or venue: "defeat to Lazio", "la sconfitta contro il Lecce"."""
        return any(w in self.contexts["opponent"] for w in DocIndex.of(doc).words_before(club.start, 4))

    @staticmethod
    def clause_break(doc: Doc, start: int, end: int) -> bool:
        """Whether a clause break stands in doc[start:end]."""
        breaks = DocIndex.of(doc).clause_breaks
        first = bisect.bisect_left(breaks, start)
        return first < len(breaks) and breaks[first] < end

    @staticmethod
    def mentions(doc: Doc, entity: Span) -> int:
        return DocIndex.of(doc).mention_counts[entity.kb_id_]

    def recent_club(self, doc: Doc, sentence: Span) -> Span | None:
        """The club a sentence without one is about: the first club (its likely subject) of
        the last of the two sentences before that names one, not as an opponent, a
        person's club or a past job."""
        clubs = ended_by(DocIndex.of(doc).labelled("CLUB"), sentence.start)
        return self.subject_of_last_sentence(doc, clubs, sentence, max_gap=2,
                                             fits=lambda club: self.plain_club(doc, club))

    @per_entity
    def plain_club(self, doc: Doc, club: Span) -> bool:
        """A club named for itself: not as an opponent, a person's club or a past job."""
        return not self.opponent(doc, club) and not self.attached_to_person(doc, club) \
            and not self.past_job(doc, club)

    @staticmethod
    def salient_club(doc: Doc, sentence: Span) -> Span | None:
        """The club the article names most up to this sentence (ties: the latest)."""
        doc_index = DocIndex.of(doc)

        def compute() -> Span | None:
            clubs = doc_index.labelled("CLUB")
            before = ended_by(clubs, sentence.end) or clubs  # a headline: the club the whole article is about
            if not before:
                return None
            ids = doc_index.remember(("club ids",), lambda: [e.kb_id_ for e in clubs])[:len(before)]
            counts = Counter(ids)
            latest = dict(zip(ids, before))
            return latest[max(latest, key=lambda i: (counts[i], latest[i].start))]
        return doc_index.remember(("salient club", sentence.end), compute)

    @staticmethod
    def names_someone(doc: Doc, start: int, end: int) -> bool:
        """A clause naming a player, president or journalist is about him, not the coach in focus."""
        return any(e.label_ in ("PLAYER", "PRESIDENT", "JOURNALIST") for e in DocIndex.of(doc).between(start, end))

    def topic(self, doc: Doc, sentence: Span) -> Span | None:
        """The coach a sentence without one is about: the first coach of the last sentence
        (within three) that named one, its likely subject."""
        before = ended_by(DocIndex.of(doc).labelled("COACH"), sentence.start)
        return self.subject_of_last_sentence(doc, before, sentence, max_gap=3)

    @staticmethod
    def subject_of_last_sentence(doc: Doc, before: list[Span], sentence: Span, max_gap: int,
                                 fits: Callable[[Span], bool] = lambda entity: True) -> Span | None:
        """The first of `before` (in text order) that fits, in the last sentence holding one,
        if that sentence is at most `max_gap` non-blank sentences back: the likely subject
        the text is still about. Only the entities from there on are tested."""
        latest = next((e for e in reversed(before) if fits(e)), None)
        if latest is None:
            return None
        doc_index = DocIndex.of(doc)
        last = doc_index.sentence_number(latest.start)
        current = doc_index.sentence_number(sentence.start)
        if sum(doc_index.written_sentences[last + 1: current + 1]) > max_gap:
            return None
        opening = bisect.bisect_left(before, doc_index.sentences[last].start, key=lambda e: e.start)
        return next(e for e in before[opening:] if fits(e))

    # -- values -----------------------------------------------------------------------
    def value(self, doc: Doc, rule: Rule, start: int, end: int, sentence: Span) -> str:
        if not rule.value:
            return ""
        doc_index = DocIndex.of(doc)
        texts = doc_index.texts
        stop = min(sentence.end, end + 8)
        if rule.value == "year":
            # the pattern ends on the year: "deal, signed in 2024, runs until 2027" gives 2027
            years = [w for w in texts[start:end] if YEAR.match(w)]
            return years[-1] if years else next((w for w in texts[end:stop] if YEAR.match(w)), "")
        if rule.value == "years":
            lowers = doc_index.lowers
            for i in range(start, max(end, stop)):
                number = NUMBER_WORDS.get(lowers[i].split("-")[0]) or (
                    int(texts[i]) if texts[i].isdigit() and int(texts[i]) < 10 else None)
                if number:
                    return str(number)
            return ""
        if rule.value == "period":
            after = self.period(texts[start:stop])
            return after or self.period(texts[max(sentence.start, start - 8): start])
        raise RuleFileError(f"rule {rule.id}: unknown value kind {rule.value!r}")

    @staticmethod
    def period(words: list[str]) -> str:
        """The years the words (token texts) name: "2019/2022", "2014/2015" for "2014-15"."""
        years = []
        for word in words:
            if YEAR.match(word):
                years.append(word)
            elif SHORT_SPAN.match(word):
                first, second = YEAR_SEPARATOR.split(word)
                years += [first, second if len(second) == 4 else first[:2] + second]
        if len(years) >= 2:
            return f"{years[0]}/{years[1]}"
        return years[0] if years else ""

    # -- status -----------------------------------------------------------------------
    def cue_matches(self, doc: Doc) -> dict[str, list[tuple[str, int, int, list[int] | None]]]:
        """Per kind of cue (hedge, denial, attribution): its matches in the doc, in document
        order, as (rule id, start, end, alignment)."""
        found: dict[str, list] = {"hedge": [], "denial": [], "attribution": []}
        for match_id, start, end, alignment in self.cues(doc, with_alignments=True):
            kind, key = self.cue_kinds[match_id]
            found[kind].append((key, start, end, alignment))
        return found

    @staticmethod
    def cue_tokens(matches: list[tuple]) -> set[int]:
        """The tokens the matches cover."""
        return {i for _, s, e, _ in matches for i in range(s, e)}

    @staticmethod
    def clause(doc: Doc, start: int, end: int, sentence: Span) -> range:
        """doc[start:end] widened to the clause breaks before and after it, within the sentence."""
        breaks = DocIndex.of(doc).clause_breaks
        left, right = start, end
        if start > sentence.start:
            before = bisect.bisect_left(breaks, start) - 1  # the last break before start
            left = max(sentence.start, breaks[before] + 1) if before >= 0 else sentence.start
        if end < sentence.end:
            after = bisect.bisect_left(breaks, end)  # the first break from end on
            right = min(sentence.end, breaks[after]) if after < len(breaks) else sentence.end
        return range(left, right)

    def status(self, rule, relation, doc, start, end, sentence, hedges, denials, attributed) -> str:
        kind = RELATIONS[relation][2]
        clause = self.clause(doc, start, end, sentence)
        denied = denials.intersection(clause)
        negated = {i for i in denied if self.negated(doc, i)}
        if kind != "state" and denied - negated:
            return "denied"
        if negated and kind != "state":
            return "rumour"  # "have not ruled out": still possible
        if rule.status and relation == rule.relation:
            return rule.status
        if kind == "rumour":
            return "rumour"
        if kind == "event" and (attributed or not hedges.isdisjoint(clause)):
            return "rumour"
        if kind == "contract" and not hedges.isdisjoint(clause):
            return "rumour"
        if kind != "state" and self.headline(sentence):
            return "rumour"  # a bare headline never makes a claim a fact on its own
        return "fact"

    @staticmethod
    def negated(doc: Doc, index: int) -> bool:
        """A denial cue under a negation: "have not ruled out", "non esclude"."""
        return any(w in ("not", "n't", "never", "non", "nor") for w in DocIndex.of(doc).lowers[max(0, index - 2): index])

    # -- attribution -------------------------------------------------------------------
    def sources_by_sentence(self, doc: Doc, names: dict, matches: list[tuple]):
        """Per sentence: (sources in force, named here?), and the tokens of source mentions.
        matches: those of the attribution patterns, as cue_matches gives them."""
        doc_index = DocIndex.of(doc)
        named: dict[int, list[str]] = {}
        trailing: set[int] = set()
        tokens: set[int] = set()
        for key, start, end, alignment in matches:
            slots = self.attribution_roles[key]
            for offset, index in enumerate(alignment):
                if index not in slots:
                    continue
                entity = doc_index.owners[start + offset]
                if entity is None or entity.label_ not in ("MEDIA", "JOURNALIST", "PER"):
                    continue
                name = names.get(entity.kb_id_, {}).get("name", entity.text)
                sent = doc_index.sentence_number(start)
                if self.attribution_trailing.get(key):
                    trailing.add(sent)
                named.setdefault(sent, [])
                if name not in named[sent]:
                    named[sent].append(name)
                tokens.update(range(entity.start, entity.end))
        paragraphs = doc_index.paragraphs
        result, current, paragraph = [], [], None
        for i, this_paragraph in enumerate(paragraphs):
            if this_paragraph != paragraph:
                current, paragraph = [], this_paragraph
            if i in named:
                current = named[i]
            result.append((list(current), i in named))
        for i in sorted(trailing):
            # a post signed "@SkySport" or "— Fabrizio Romano (@FabrizioRomano)": the
            # signature covers what came before it in its paragraph
            j = i - 1
            while j >= 0 and paragraphs[j] == paragraphs[i]:
                if not result[j][0]:
                    result[j] = (named[i], True)
                j -= 1
        return result, tokens


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
