"""Stage 3: run the spaCy pipeline of each article's language and save the docs (DocBin).

Stage 4 (normalise) runs here too, as a second pass over the saved docs, so a change
to the KB or the coreference rules re-runs normalise without re-running the NER.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable, Iterator

from spacy.tokens import Doc, DocBin
from spacy.language import Language

from pipeline.ingest import Article
from pipeline.knowledge import KnowledgeBaseError
from pipeline.language import SUPPORTED
from pipeline.nlp import build_nlp
from pipeline.ruleset import RuleFileError

BATCH_SIZE = 32

OnError = Callable[[str, Exception], None]


class ModelLoadError(RuntimeError):
    """A language pipeline that cannot be built (model missing, wrong language...)."""


def annotate(nlp: Language, articles: Iterable[Article], on_error: OnError | None = None) -> Iterator[Doc]:
    """Annotated docs, each carrying its article id and date in user_data.

    Articles go through nlp.pipe in batches; when a batch fails, its articles are run one
    by one and each one that fails is passed to on_error(article_id, error) and left out
    (without on_error the error propagates).
    """
    articles = list(articles)
    for start in range(0, len(articles), BATCH_SIZE):
        batch = articles[start:start + BATCH_SIZE]
        try:
            done = list(nlp.pipe(((a.text, a) for a in batch), as_tuples=True, batch_size=BATCH_SIZE))
        except Exception:  # noqa: BLE001 - find the article that broke the batch
            if on_error is None:
                raise
            done = []
            for article in batch:
                try:
                    done.append((nlp(article.text), article))
                except Exception as error:  # noqa: BLE001 - one bad article must not stop the others
                    on_error(article.article_id, error)
        for doc, article in done:
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


def load_pipeline(lang: str, model: str | None) -> Language:
    """build_nlp, with a load failure turned into one clear ModelLoadError."""
    try:
        return build_nlp(lang, model)
    except (KnowledgeBaseError, RuleFileError):
        raise
    except (OSError, ValueError, ImportError, KeyError) as error:
        raise ModelLoadError(f"cannot build the {lang} pipeline (model {model or 'default'}): {error}") from None


def annotate_all(articles: list[Article], work: Path, models: dict[str, str | None],
                 on_error: OnError | None = None) -> dict[str, int]:
    """Annotate the ok articles of each supported language into work/annotated-<lang>.spacy."""
    counts = {}
    for lang in SUPPORTED:
        chosen = [a for a in articles if a.ok and a.language == lang]
        path = work / f"annotated-{lang}.spacy"
        if not chosen:
            path.unlink(missing_ok=True)
            counts[lang] = 0
            continue
        nlp = load_pipeline(lang, models.get(lang))
        counts[lang] = save_docs(annotate(nlp, chosen, on_error), path)
    return counts
