"""Stage 3: run the spaCy pipeline of each article's language.

The docs are saved per article (DocBin bytes) in OUT/work/cache by the stages module, so
a change to the KB, the coreference rules or the relation rules re-runs the later stages
without re-running the NER.
"""
from __future__ import annotations

from typing import Callable, Iterable, Iterator

from spacy.language import Language
from spacy.tokens import Doc
from spacy.vocab import Vocab

from pipeline.ingest import Article
from pipeline.knowledge import KnowledgeBaseError
from pipeline.nlp import build_nlp
from pipeline.ruleset import RuleFileError

# Docs per NER batch. Beyond a few docs a bigger batch is no faster on CPU, but the NER's
# intermediate arrays grow with it: 8 keeps a worker's peak memory about 40 MB lower than 32.
BATCH_SIZE = 8

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


def load_pipeline(lang: str, model: str | None, vocab: Vocab | bool = True) -> Language:
    """build_nlp, with a load failure turned into one clear ModelLoadError."""
    try:
        return build_nlp(lang, model, vocab=vocab)
    except (KnowledgeBaseError, RuleFileError):
        raise
    except (OSError, ValueError, ImportError, KeyError) as error:
        raise ModelLoadError(f"cannot build the {lang} pipeline (model {model or 'default'}): {error}") from None
