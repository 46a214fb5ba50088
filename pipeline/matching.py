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
        self._index: dict[int, dict[int, list[Anchor]]] | None = None
        self._gates_by_anchor: dict[Anchor, list[Gate]] | None = None

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
        self._index = self._gates_by_anchor = None

    def index(self) -> dict[int, dict[int, list[Anchor]]]:
        """attribute id -> value hash -> the anchors that value satisfies."""
        if self._index is None:
            index: dict[int, dict[int, list[Anchor]]] = {}
            anchors = {a for gate in self.gates.values() for r in gate.alternatives for a in r}
            for attr, values in anchors:
                by_value = index.setdefault(ANCHOR_ATTRS[attr], {})
                for value in values:
                    by_value.setdefault(self.vocab.strings.add(value), []).append((attr, values))
            self._index = index
        return self._index

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
        sentences = [(s.start, s.end) for s in doc.sents] if len(doc) else []
        gates_of = self.gates_by_anchor()
        opened: dict[Gate, list[tuple[int, int]]] = {}
        for sentence, present in zip(sentences, self.anchors_by_sentence(doc, sentences)):
            candidates = {gate for anchor in present for gate in gates_of[anchor]}
            for gate in candidates:
                if any(r <= present for r in gate.alternatives):
                    opened.setdefault(gate, []).append(sentence)
        return [(gate, opened[gate]) for gate in self.gates.values() if gate in opened]

    def gates_by_anchor(self) -> dict[Anchor, list[Gate]]:
        if self._gates_by_anchor is None:
            self._gates_by_anchor = {}
            for gate in self.gates.values():
                for anchor in {a for r in gate.alternatives for a in r}:
                    self._gates_by_anchor.setdefault(anchor, []).append(gate)
        return self._gates_by_anchor

    def anchors_by_sentence(self, doc: Doc, sentences: list[tuple[int, int]]) -> list[set[Anchor]]:
        """Per sentence, the anchors its tokens satisfy."""
        index = self.index()
        found: list[set[Anchor]] = [set() for _ in sentences]
        if not index or not sentences:
            return found
        attrs = sorted(index)
        values = doc.to_array(attrs).reshape(len(doc), len(attrs))
        starts = numpy.array([s for s, _ in sentences])
        for column, attr in enumerate(attrs):
            by_value = index[attr]
            column_values = values[:, column]
            hits = numpy.nonzero(numpy.isin(column_values, numpy.fromiter(by_value, dtype=numpy.uint64)))[0]
            sentence_of = numpy.searchsorted(starts, hits, side="right") - 1
            for position, sentence in zip(hits.tolist(), sentence_of.tolist()):
                found[sentence].update(by_value[int(column_values[position])])
        return found
