"""Stage 3: run the spaCy pipeline of each article's language and save the docs (DocBin).

Stage 4 (normalise) runs here too, as a second pass over the saved docs, so a change
to the KB or the coreference rules re-runs normalise without re-running the NER.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator

from spacy.tokens import Doc, DocBin
from spacy.language import Language

from pipeline.ingest import Article
from pipeline.language import SUPPORTED
from pipeline.nlp import build_nlp

BATCH_SIZE = 32


def annotate(nlp: Language, articles: Iterable[Article]) -> Iterator[Doc]:
    """Annotated docs, each carrying its article id and date in user_data."""
    pairs = ((a.text, a) for a in articles)
    for doc, article in nlp.pipe(pairs, as_tuples=True, batch_size=BATCH_SIZE):
        doc.user_data["article_id"] = article.article_id
        doc.user_data["date"] = article.date
        doc.user_data["language"] = article.language
        yield doc


def save_docs(docs: Iterable[Doc], path: Path) -> int:
    doc_bin = DocBin(store_user_data=True)
    count = 0
    for doc in docs:
        doc_bin.add(doc)
        count += 1
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    doc_bin.to_disk(tmp)
    tmp.replace(path)
    return count


def load_docs(nlp: Language, path: Path) -> Iterator[Doc]:
    if not path.exists():
        return iter(())
    return DocBin().from_disk(path).get_docs(nlp.vocab)


def annotate_all(articles: list[Article], work: Path, models: dict[str, str | None]) -> dict[str, int]:
    """Annotate the ok articles of each supported language into work/annotated-<lang>.spacy."""
    counts = {}
    for lang in SUPPORTED:
        chosen = [a for a in articles if a.ok and a.language == lang]
        path = work / f"annotated-{lang}.spacy"
        if not chosen:
            path.unlink(missing_ok=True)
            counts[lang] = 0
            continue
        nlp = build_nlp(lang, models.get(lang))
        counts[lang] = save_docs(annotate(nlp, chosen), path)
    return counts
