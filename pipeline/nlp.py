"""Build or load the spaCy pipeline for one language.

Order: [trained tok2vec + ner] -> lookup lemmas -> sentences -> label mapping ->
knowledge-base rulers (overwrite the NER where they agree on a name) -> person names
the NER missed. The NER comes from `models/<lang>` (trained by `make train-ner`), or
from an installed spaCy package named in `--model-<lang>` / `CALCIO_MODEL_<LANG>`.
"""
from __future__ import annotations

import ctypes
import os
from pathlib import Path

import spacy
from spacy.language import Language
from spacy.vocab import Vocab
from thinc.api import use_ops
from threadpoolctl import threadpool_limits

import pipeline.components  # noqa: F401  (registers the factories)
from pipeline.knowledge import KnowledgeBase, load_kb

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
KEEP_FROM_MODEL = {"tok2vec", "ner", "transformer", "parser", "senter", "tagger", "morphologizer"}


def model_setting(lang: str, explicit: str | None = None) -> str | None:
    """The NER model to use: explicit name, environment setting, or our trained model.

    "blank" means no statistical NER at all (knowledge base and name patterns only).
    """
    choice = explicit or os.environ.get(f"CALCIO_MODEL_{lang.upper()}")
    if choice:
        return None if choice == "blank" else choice
    default = MODELS_DIR / lang
    return str(default) if (default / "meta.json").exists() else None


def load_model(model: str, vocab: Vocab | bool = True) -> Language:
    """spacy.load, with thinc's numpy ops multiplying matrices through numpy, not blis.

    blis's kernels stop at AVX2; numpy's OpenBLAS picks the CPU's own (AVX-512 where there
    is one), which makes the NER's matrix products up to 1.7x faster, with the same entities.
    """
    with use_ops("numpy", use_blis=False):
        return spacy.load(model, vocab=vocab)


def single_blas_thread() -> None:
    """One BLAS thread in this process. The engine's worker processes are the parallelism;
    OpenBLAS would otherwise start a thread per core in each of them, and they would fight."""
    threadpool_limits(limits=1, user_api="blas")


# glibc's malloc gives every block over 128 KB its own mmap and unmaps it when freed, and
# hands the top of its heap back to the system once 128 KB of it are free. The NER makes and
# drops arrays of a few MB for every batch, so each came back as fresh pages the kernel had
# to zero: a tenth of a run's CPU time went to the system. Freed memory is kept for reuse:
# only blocks over MMAP_THRESHOLD get their own mapping, and the heap is trimmed only when
# more than TRIM_THRESHOLD of it is free.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt's parameter numbers (malloc.h)
MMAP_THRESHOLD = 32 * 1024 * 1024
TRIM_THRESHOLD = 256 * 1024 * 1024


def keep_freed_memory() -> bool:
    """Have glibc's malloc keep the memory this process frees for its next allocations;
    False (nothing changed) where the C library is not glibc."""
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) & bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))


def base_pipeline(lang: str, model: str | None, vocab: Vocab | bool = True) -> Language:
    if model is None:
        return spacy.blank(lang, vocab=vocab)
    nlp = load_model(model, vocab=vocab)
    if nlp.lang != lang:
        raise ValueError(f"model {model} is for language {nlp.lang!r}, not {lang!r}")
    for name in list(nlp.pipe_names):
        if name not in KEEP_FROM_MODEL:
            nlp.remove_pipe(name)
    return nlp


def build_nlp(lang: str, model: str | None = None, kb: KnowledgeBase | None = None,
              vocab: Vocab | bool = True) -> Language:
    """`vocab`: build into this Vocab (shared with the later stages) rather than a new one."""
    nlp = base_pipeline(lang, model_setting(lang, model), vocab)
    nlp.add_pipe("lookup_lemmas")
    if not nlp.has_pipe("parser") and not nlp.has_pipe("senter"):
        nlp.add_pipe("sentencizer")
    nlp.add_pipe("line_breaks")
    nlp.add_pipe("ner_labels")
    add_kb_rulers(nlp, kb or load_kb())
    nlp.add_pipe("person_names")
    empty_tokenizer_cache(nlp)
    return nlp


def empty_tokenizer_cache(nlp: Language) -> None:
    """Empty the tokenizer's cache once the rulers have tokenized their patterns.

    spaCy's tokenizer caches how it split each chunk, up to 10,000 chunks, and stops
    caching when full. The KB rulers tokenize about 20,000 names, which would leave no room
    for an article's words: every word then goes through the affix regexes (the tokenizer
    about 10x slower). Setting the special-case rules again is the public way to empty it.
    """
    tokenizer = nlp.tokenizer
    if hasattr(tokenizer, "rules") and hasattr(tokenizer, "max_cache_size"):
        tokenizer.rules = tokenizer.rules


def add_kb_rulers(nlp: Language, kb: KnowledgeBase) -> None:
    """Two entity rulers from the KB: case-sensitive aliases, and safe lower-case nicknames."""
    patterns = kb.ruler_patterns()
    for attr in ("ORTH", "LOWER"):
        # span_ruler, not entity_ruler: the latter keeps a Doc of every one of the ~20,000
        # patterns (120 MB per language); "prioritize new ents" is entity_ruler's
        # overwrite_ents: a KB match replaces the NER entities it overlaps, others stay.
        ruler = nlp.add_pipe(
            "span_ruler", name=f"kb_ruler_{attr.lower()}",
            config={"phrase_matcher_attr": attr, "spans_key": None, "annotate_ents": True, "overwrite": False,
                    "ents_filter": {"@misc": "calcio.prioritize_new_ents_filter.v1"}},
        )
        with nlp.select_pipes(enable=[]):
            ruler.add_patterns([{k: v for k, v in p.items() if k != "attr"}
                                for p in patterns if p["attr"] == attr])
