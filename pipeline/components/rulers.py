"""The entity filter of the knowledge-base span rulers (see pipeline.nlp.add_kb_rulers)."""
from __future__ import annotations

from collections.abc import Callable, Iterable

from spacy.tokens import Span
from spacy.util import registry


def prioritize_new_ents(entities: Iterable[Span], spans: Iterable[Span]) -> list[Span]:
    """spaCy's prioritize_new_ents_filter, with the same result: the matches, longest
    (then earliest) first, each kept unless a token of it is already kept; the entities
    that overlap none of the kept matches. spaCy's checks each token of each match and
    rebuilds the entity list after each kept match; this reads each span's bounds once."""
    bounds = sorted(((span.start, span.end, span) for span in spans), key=lambda b: (b[0] - b[1], b[0]))
    taken: set[int] = set()
    kept = []
    for start, end, span in bounds:
        if taken.isdisjoint(range(start, end)):
            kept.append(span)
            taken.update(range(start, end))
    return [e for e in entities if taken.isdisjoint(range(e.start, e.end))] + kept


@registry.misc("calcio.prioritize_new_ents_filter.v1")
def make_prioritize_new_ents() -> Callable[[Iterable[Span], Iterable[Span]], list[Span]]:
    return prioritize_new_ents
