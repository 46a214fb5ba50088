"""A spaCy Matcher that only looks where a rule could match.

spaCy's Matcher tries every pattern at every token, and a pattern with an `IN` list runs a
Python predicate there, so a hundred rules cost a hundred attempts per token. But most
rules cannot match without certain things in the sentence: one of the words "radar" or
"shortlist", a form of "coach", a CLUB entity. GatedMatcher reads those requirements, its
anchors, off each pattern: every token that is not optional and is matched on its word
(ORTH, LOWER, LEMMA, NORM: a string, an `IN` list or a `^(a|b)$` regex) or on its entity
type. A pattern then runs only over the sentences that hold all its anchors; patterns
with the same anchors share one Matcher. A pattern with no anchor runs over the whole doc.

The matches are those one Matcher would find over each sentence: none crosses a sentence
boundary. They come back in document order.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import numpy
from spacy.attrs import ENT_TYPE, LEMMA, LOWER, NORM, ORTH
from spacy.matcher import Matcher
from spacy.tokens import Doc
from spacy.vocab import Vocab

ANCHOR_ATTRS = {"ORTH": ORTH, "TEXT": ORTH, "LOWER": LOWER, "LEMMA": LEMMA, "NORM": NORM, "ENT_TYPE": ENT_TYPE}
OPTIONAL_OPS = {"?", "*", "!"}
WORD = r"(?:[^\W\d_]|['’ -]|\[[^\W\d_]+\])+"  # letters, and classes of letters: "sfumat[aoie]"
LITERAL_ALTERNATIVES = re.compile(rf"^\^(?:({WORD})|\(({WORD}(?:\|{WORD})*)\))\$$")  # "^(esonero|esonerat[oa])$"
MAX_EXPANDED = 500

Anchor = tuple[str, frozenset[str]]      # (token attribute, values one of which must be there)
Requirement = frozenset[Anchor]          # anchors that must all be in the sentence


def allowed_values(value: object) -> frozenset[str] | None:
    """The values a token attribute spec accepts, when it is a closed list of them."""
    if isinstance(value, str):
        return frozenset([value])
    if isinstance(value, dict) and set(value) == {"IN"} and value["IN"]:
        return frozenset(str(v) for v in value["IN"])
    if isinstance(value, dict) and set(value) == {"REGEX"} and isinstance(value["REGEX"], str):
        literal = LITERAL_ALTERNATIVES.match(value["REGEX"])
        if literal:
            words = {w for alternative in (literal.group(1) or literal.group(2)).split("|") for w in expand(alternative)}
            return frozenset(words) if len(words) <= MAX_EXPANDED else None
    return None


def expand(alternative: str) -> list[str]:
    """The words a regex alternative of letters and letter classes stands for."""
    words = [""]
    for letters, single in re.findall(r"\[([^\]]+)\]|(.)", alternative):
        words = [w + c for w in words for c in (letters or single)]
        if len(words) > MAX_EXPANDED:
            break
    return words


def token_anchors(token: dict) -> list[Anchor]:
    """What a pattern token needs to find in the sentence: nothing when it is optional."""
    op = str(token.get("OP", ""))
    if op in OPTIONAL_OPS or op.startswith("{,") or op.startswith("{0"):
        return []
    anchors = []
    for attr in ANCHOR_ATTRS:
        values = allowed_values(token.get(attr))
        if values is not None:
            anchors.append(("ORTH" if attr == "TEXT" else attr, values))
    return anchors


def requirement(pattern: list[dict]) -> Requirement:
    return frozenset(a for token in pattern for a in token_anchors(token))


@dataclass(eq=False)
class Gate:
    """Patterns with the same requirements, and the Matcher holding them. A key with
    several patterns opens where any one pattern's requirement is met."""

    alternatives: tuple[Requirement, ...]
    matcher: Matcher
    aligned: bool = True  # whether its matches need their alignments


class GatedMatcher:
    def __init__(self, vocab: Vocab):
        self.vocab = vocab
        self.gates: dict[tuple[tuple[Requirement, ...], bool], Gate] = {}
        self.ungated = Matcher(vocab)
        self.order: dict[int, int] = {}  # match key -> the order it was added in
        self._hashes: dict[Anchor, frozenset[int]] | None = None

    def add(self, key: str, patterns: list[list[dict]], greedy: str | None = None, aligned: bool = True) -> None:
        """As Matcher.add: the key's patterns go behind the gate of their requirements.
        aligned=False: the caller never reads this key's alignments (they cost a third of
        the matching), so its matches come with None for them."""
        alternatives = tuple(sorted({requirement(p) for p in patterns}, key=sorted))
        if any(not r for r in alternatives):
            self.ungated.add(key, patterns, greedy=greedy)
        else:
            gate = self.gates.get((alternatives, aligned))
            if gate is None:
                gate = self.gates[alternatives, aligned] = Gate(alternatives, Matcher(self.vocab), aligned)
            gate.matcher.add(key, patterns, greedy=greedy)
        self.order[self.vocab.strings.add(key)] = len(self.order)
        self._hashes = None

    def __call__(self, doc: Doc, with_alignments: bool = False) -> list[tuple]:
        matches = list(self.ungated(doc, with_alignments=with_alignments)) if len(self.ungated) else []
        for gate, sentences in self.opened(doc):
            aligned = with_alignments and gate.aligned
            for start, end in sentences:
                for key, m_start, m_end, *rest in gate.matcher(doc[start:end], with_alignments=aligned):
                    matches.append((key, m_start + start, m_end + start, *(rest or [None] * with_alignments)))
        return sorted(matches, key=lambda m: (m[1], -m[2], self.order.get(m[0], 0)))

    def opened(self, doc: Doc) -> list[tuple[Gate, list[tuple[int, int]]]]:
        """Each gate with the sentences (token ranges) that meet its requirements."""
        values = SentenceValues.of(doc)
        hashes = self.anchor_hashes()
        found: dict[Anchor, set[int]] = {}

        def holding(anchor: Anchor) -> set[int]:
            if anchor not in found:
                found[anchor] = values.holding(ANCHOR_ATTRS[anchor[0]], hashes[anchor])
            return found[anchor]

        opened = []
        for gate in self.gates.values():
            numbers = set().union(*(meeting(r, holding) for r in gate.alternatives))
            if numbers:
                opened.append((gate, [values.sentences[i] for i in sorted(numbers)]))
        return opened

    def anchor_hashes(self) -> dict[Anchor, frozenset[int]]:
        """Each anchor's values as string-store hashes (what doc.to_array gives)."""
        if self._hashes is None:
            add = self.vocab.strings.add
            self._hashes = {anchor: frozenset(add(v) for v in anchor[1])
                            for gate in self.gates.values() for r in gate.alternatives for anchor in r}
        return self._hashes


def meeting(requirement: Requirement, holding: Callable[[Anchor], set[int]]) -> set[int]:
    """The numbers of the sentences that hold every anchor of the requirement."""
    common: set[int] | None = None
    for anchor in requirement:
        common = holding(anchor) if common is None else common & holding(anchor)
        if not common:
            return set()
    return common or set()


class SentenceValues:
    """A doc's sentences and, per token attribute, the sentences holding each value.

    Built once per doc and shared by every GatedMatcher run on it. The words (ORTH, LOWER,
    LEMMA, NORM) and sentences are kept for as long as the same Doc object comes back: the
    stages after annotate never change them. Entity types are checked on every call, since
    normalise adds entities to the doc the relation rules then match on.
    """

    _last: SentenceValues | None = None

    def __init__(self, doc: Doc):
        self.doc = doc
        self.length = len(doc)
        self.sentences = [(s.start, s.end) for s in doc.sents] if len(doc) else []
        self.sentence_of = [n for n, (start, end) in enumerate(self.sentences) for _ in range(start, end)]
        self.by_attr: dict[int, dict[int, set[int]]] = {}
        self.entity_types: numpy.ndarray | None = None

    @classmethod
    def of(cls, doc: Doc) -> SentenceValues:
        last = cls._last
        if last is None or last.doc is not doc or last.length != len(doc):
            last = cls._last = SentenceValues(doc)
        entity_types = doc.to_array(ENT_TYPE) if len(doc) else None
        if entity_types is None or not numpy.array_equal(entity_types, last.entity_types):
            last.by_attr.pop(ENT_TYPE, None)  # the entities changed since the last call
            last.entity_types = entity_types
        return last

    def holding(self, attr: int, hashes: frozenset[int]) -> set[int]:
        """The numbers of the sentences with a token whose attr is one of hashes."""
        by_value = self.values(attr)
        present = hashes & by_value.keys() if len(hashes) < len(by_value) else by_value.keys() & hashes
        return set().union(*(by_value[h] for h in present))

    def values(self, attr: int) -> dict[int, set[int]]:
        if attr not in self.by_attr:
            by_value: dict[int, set[int]] = {}
            if self.length:
                for value, sentence in zip(self.doc.to_array(attr).tolist(), self.sentence_of):
                    if value:
                        by_value.setdefault(value, set()).add(sentence)
            self.by_attr[attr] = by_value
        return self.by_attr[attr]
