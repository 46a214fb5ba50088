"""A spaCy Matcher that only looks where a rule could match.

spaCy's Matcher tries every pattern at every token, and a pattern with an `IN` list runs a
Python predicate there, so a hundred rules cost a hundred attempts per token. But most
rules cannot match without certain things in the sentence: one of the words "radar" or
"shortlist", a form of "coach", a CLUB entity. GatedMatcher reads those requirements, its
anchors, off each pattern: every token that is not optional and is matched on its word
(ORTH, LOWER, LEMMA, NORM: a string, an `IN` list or a `^(a|b)$` regex) or on its entity
type. A pattern then runs only over the sentences that hold all its anchors; patterns
with the same anchors share one Matcher. A pattern with no anchor runs over the whole doc.

Within such a sentence it runs over a window only: a match holds a token of each anchor,
and a pattern whose tokens before (after) an anchor token can match at most n tokens
cannot start (end) further than n tokens from it. Each Matcher call costs the creation
of two Token objects per token of the span it is given, so the narrower the better.

The matches are those one Matcher would find over each sentence: none crosses a sentence
boundary. They come back in document order.
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field

import numpy
from spacy.attrs import ENT_TYPE, LEMMA, LOWER, NORM, ORTH
from spacy.matcher import Matcher
from spacy.tokens import Doc, Span
from spacy.vocab import Vocab

ANCHOR_ATTRS = {"ORTH": ORTH, "TEXT": ORTH, "LOWER": LOWER, "LEMMA": LEMMA, "NORM": NORM, "ENT_TYPE": ENT_TYPE}
OPTIONAL_OPS = {"?", "*", "!"}
WORD = r"(?:[^\W\d_]|['’ -]|\[[^\W\d_]+\])+"  # letters, and classes of letters: "sfumat[aoie]"
LITERAL_ALTERNATIVES = re.compile(rf"^\^(?:({WORD})|\(({WORD}(?:\|{WORD})*)\))\$$")  # "^(esonero|esonerat[oa])$"
MAX_EXPANDED = 500
UNBOUNDED = 1 << 40  # more tokens than any doc holds
FAR = 1 << 60  # a position beyond any a pattern can reach, even UNBOUNDED times a few from a token
QUANTIFIER = re.compile(r"^\{(\d*)(,?)(\d*)\}$")  # spaCy's "{n}", "{n,m}", "{n,}", "{,m}"

Anchor = tuple[str, frozenset[str]]      # (token attribute, values one of which must be there)
Requirement = frozenset[Anchor]          # anchors that must all be in the sentence
Reach = tuple[Anchor, int, int]          # an anchor of a pattern token, and how many tokens the
                                         # pattern can match at most before and after that token


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


def most_tokens(token: dict) -> int:
    """How many tokens a pattern token can match at most, by its operator."""
    op = str(token.get("OP", ""))
    if op in ("+", "*"):
        return UNBOUNDED
    quantifier = QUANTIFIER.match(op)
    if quantifier:
        least, comma, most = quantifier.groups()
        return int(most) if most else UNBOUNDED if comma else int(least)
    return 1  # also "!": a token that does not match the rest of the spec


def reaches(pattern: list[dict]) -> tuple[Reach, ...]:
    """Each anchor of the pattern with the reach of the pattern around its token."""
    counts = [most_tokens(token) for token in pattern]
    return tuple((anchor, sum(counts[:i]), sum(counts[i + 1:]))
                 for i, token in enumerate(pattern) for anchor in token_anchors(token))


def token_anchors(token: dict) -> list[Anchor]:
    """What a pattern token needs to find in the sentence: nothing when it is optional."""
    op = str(token.get("OP", ""))
    if op in OPTIONAL_OPS or op.startswith(("{,", "{0")):
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
    """Patterns with the same requirements (the key it is found under in
    GatedMatcher.gates), and the Matcher holding them. A key with several patterns opens
    where any one pattern's window does."""

    matcher: Matcher
    aligned: bool = True  # whether its matches need their alignments
    reaches: list[tuple[Reach, ...]] = field(default_factory=list)  # per pattern


class GatedMatcher:
    def __init__(self, vocab: Vocab):
        self.vocab = vocab
        self.gates: dict[tuple[tuple[Requirement, ...], bool], Gate] = {}
        self.ungated = Matcher(vocab)
        self.order: dict[int, int] = {}  # match key -> the order it was added in
        self._index: GateIndex | None = None

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
                gate = self.gates[alternatives, aligned] = Gate(Matcher(self.vocab), aligned)
            gate.matcher.add(key, patterns, greedy=greedy)
            gate.reaches += [reaches(p) for p in patterns]
        self.order[self.vocab.strings.add(key)] = len(self.order)
        self._index = None

    def __call__(self, doc: Doc, with_alignments: bool = False) -> list[tuple]:
        matches = list(self.ungated(doc, with_alignments=with_alignments)) if len(self.ungated) else []
        for gate, windows in self.opened(doc):
            aligned = with_alignments and gate.aligned
            for start, end in windows:
                for key, m_start, m_end, *rest in gate.matcher(Span(doc, start, end), with_alignments=aligned):
                    matches.append((key, m_start + start, m_end + start, *(rest or [None] * with_alignments)))
        return sorted(matches, key=lambda m: (m[1], -m[2], self.order.get(m[0], 0)))

    def opened(self, doc: Doc) -> list[tuple[Gate, list[tuple[int, int]]]]:
        """Each gate with the windows (token ranges) its patterns can match in: in the
        sentences that meet its requirements, around the tokens of its anchors."""
        if not self.gates:
            return []
        if self._index is None:
            self._index = GateIndex(list(self.gates.values()), self.vocab)
        return self._index.opened(SentenceValues.of(doc))


class GateIndex:
    """The gates' anchors and patterns as arrays, to find the windows of every gate in
    every sentence of a doc in a few numpy operations.

    Reaches are padded to as many per pattern as the longest pattern has, and patterns to
    as many per gate as the largest gate has, with a blank anchor (the last row of the
    per-anchor tables) and a blank pattern that leave the bounds as they are.
    """

    def __init__(self, gates: list[Gate], vocab: Vocab):
        self.gates = gates
        numbers: dict[Anchor, int] = {}  # each anchor's row in the per-anchor tables
        patterns = [[(numbers.setdefault(anchor, len(numbers)), before, after + 1) for anchor, before, after in reach]
                    for gate in gates for reach in gate.reaches]
        self.anchors = len(numbers)
        reach = padded(patterns, (self.anchors, 0, 0))  # per pattern, its reaches: (anchor, before, after + 1)
        self.reach_anchor, self.reach_before, self.reach_end = reach[..., 0], reach[..., 1], reach[..., 2]
        counter = itertools.count()
        self.gate_patterns = padded([[next(counter) for _ in gate.reaches] for gate in gates], len(patterns))
        by_attr: dict[int, dict[int, list[int]]] = {}  # attr -> value hash -> anchor numbers
        for anchor, number in numbers.items():
            for value in anchor[1]:
                by_attr.setdefault(ANCHOR_ATTRS[anchor[0]], {}).setdefault(vocab.strings.add(value), []).append(number)
        self.hashes = {attr: numpy.array(sorted(by_hash), dtype=numpy.uint64) for attr, by_hash in by_attr.items()}
        # the anchors of the k-th hash (of all attrs, in turn) are numbers[offsets[k]:offsets[k + 1]]
        holders = [by_attr[attr][h] for attr in self.hashes for h in self.hashes[attr].tolist()]
        sizes = (len(h) for h in self.hashes.values())
        self.first_hash = dict(zip(self.hashes, itertools.accumulate(sizes, initial=0)))
        self.offsets = numpy.cumsum([0] + [len(anchors) for anchors in holders])
        self.numbers = numpy.array([n for anchors in holders for n in anchors], dtype=numpy.int64)

    def opened(self, values: SentenceValues) -> list[tuple[Gate, list[tuple[int, int]]]]:
        """As GatedMatcher.opened, for the doc of values."""
        sentences = len(values.starts)
        if not sentences:
            return []
        anchors, positions = self.occurrences(values)
        cells = anchors * sentences + values.sentence_of[positions]
        first = numpy.full((self.anchors + 1) * sentences, FAR)
        last = numpy.full((self.anchors + 1) * sentences, -FAR)
        first[-sentences:], last[-sentences:] = -FAR, FAR  # the blank anchor
        numpy.minimum.at(first, cells, positions)
        numpy.maximum.at(last, cells, positions)
        first, last = first.reshape(-1, sentences), last.reshape(-1, sentences)
        # per pattern and sentence: from the last start its anchors allow to the first end they allow
        low = numpy.maximum((first[self.reach_anchor] - self.reach_before[..., None]).max(axis=1), values.starts)
        high = numpy.minimum((last[self.reach_anchor] + self.reach_end[..., None]).min(axis=1), values.ends)
        some = low < high
        low = numpy.vstack([numpy.where(some, low, FAR), numpy.full(sentences, FAR)])  # and the blank pattern
        high = numpy.vstack([numpy.where(some, high, -FAR), numpy.full(sentences, -FAR)])
        low, high = low[self.gate_patterns].min(axis=1), high[self.gate_patterns].max(axis=1)
        gates, sentences_opened = numpy.nonzero(low < high)
        opened: list[tuple[Gate, list[tuple[int, int]]]] = []
        windows = zip(gates.tolist(), low[gates, sentences_opened].tolist(), high[gates, sentences_opened].tolist())
        for gate, start, end in windows:
            if not opened or opened[-1][0] is not self.gates[gate]:
                opened.append((self.gates[gate], []))
            opened[-1][1].append((start, end))
        return opened

    def occurrences(self, values: SentenceValues) -> tuple[numpy.ndarray, numpy.ndarray]:
        """Each (anchor, position) where a token holds one of the anchor's values."""
        found, hashes = [], []
        for attr, sorted_hashes in self.hashes.items():
            column = values.column(attr)
            index = numpy.minimum(numpy.searchsorted(sorted_hashes, column), len(sorted_hashes) - 1)
            positions = numpy.flatnonzero(sorted_hashes[index] == column)  # numpy.isin, several times faster here
            found.append(positions)
            hashes.append(index[positions] + self.first_hash[attr])
        positions, index = numpy.concatenate(found), numpy.concatenate(hashes)
        counts = self.offsets[index + 1] - self.offsets[index]
        ends = numpy.cumsum(counts)
        each_holder = numpy.repeat(self.offsets[index] - ends + counts, counts) + numpy.arange(int(counts.sum()))
        return self.numbers[each_holder], numpy.repeat(positions, counts)


def padded(rows: list[list], blank: object) -> numpy.ndarray:
    """The rows as one array, the shorter ones filled up with blank."""
    width = max(map(len, rows))
    return numpy.array([row + [blank] * (width - len(row)) for row in rows], dtype=numpy.int64)


class SentenceValues:
    """A doc's sentences, and its tokens' values of the attributes anchors use.

    Built once per doc and shared by every GatedMatcher run on it. The words (ORTH, LOWER,
    LEMMA, NORM) and sentences are kept for as long as the same Doc object comes back: the
    stages after annotate never change them. Entity types are read on every call, since
    normalise adds entities to the doc the relation rules then match on.
    """

    _last: SentenceValues | None = None

    def __init__(self, doc: Doc):
        self.doc = doc
        self.length = len(doc)
        sentences = [(s.start, s.end) for s in doc.sents] if len(doc) else []
        self.starts = numpy.array([start for start, _ in sentences], dtype=numpy.int64)
        self.ends = numpy.array([end for _, end in sentences], dtype=numpy.int64)
        self.sentence_of = numpy.repeat(numpy.arange(len(sentences)), self.ends - self.starts)  # per token
        self.columns: dict[int, numpy.ndarray] = {}

    @classmethod
    def of(cls, doc: Doc) -> SentenceValues:
        last = cls._last
        if last is None or last.doc is not doc or last.length != len(doc):
            last = cls._last = SentenceValues(doc)
        last.columns.pop(ENT_TYPE, None)  # the entities may have changed since the last call
        return last

    def column(self, attr: int) -> numpy.ndarray:
        """Each token's value of attr, as a string-store hash."""
        if attr not in self.columns:
            self.columns[attr] = self.doc.to_array(attr) if self.length else numpy.zeros(0, dtype=numpy.uint64)
        return self.columns[attr]
