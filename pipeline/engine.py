"""Where the per-article work runs: in this process, in a pool of processes, or on Dask.

The unit of work is a Job: a chunk of articles, each with the stages still to run and the
cached result it starts from (its annotated or normalised doc). run_job is a pure
function of the job (no files are read or written), so it runs the same on a local
process pool or on Dask workers on other machines; the caller stores the results. Each
worker process builds its spaCy pipelines once and keeps them for every later job.
"""
from __future__ import annotations

import gc
import json
import time
import zlib
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing import get_context
from typing import Callable, Iterable, Iterator

import numpy
import spacy
import srsly
from spacy.attrs import DEP, ENT_ID, ENT_KB_ID, ENT_TYPE, LEMMA, MORPH, NORM, ORTH, SPACY, TAG
from spacy.language import Language
from spacy.tokens import Doc, DocBin

from pipeline.ingest import Article
from pipeline.language import assign_language
from pipeline.write import ENTITY_COLUMNS, csv_lines, json_lines, sort_rows

STAGES = ("language", "annotate", "normalise", "relations")


@dataclass
class Item:
    """One article of a job: its metadata, what to start from, which stages to run."""

    article: Article            # text kept only when annotate or language must run
    run: tuple[str, ...]        # stages to run, in STAGES order
    start: bytes | None = None  # the cached annotated doc (DocBin bytes) the first stage reads
    added: bytes | None = None  # for relations alone: what normalise added to it (JSON)


@dataclass
class Job:
    items: list[Item]
    models: dict[str, str] = field(default_factory=dict)   # language -> model ("blank": none)
    tokens: dict[str, str] = field(default_factory=dict)   # "<stage>:<lang>" -> its fingerprint


@dataclass
class Outcome:
    """What the stages produced for one article (None: not run here)."""

    article_id: str
    language: str = ""
    language_prob: float = 0.0
    status: str = "ok"
    annotated: bytes | None = None   # the doc (DocBin bytes)
    normalised: bytes | None = None  # what normalise added to it (JSON, see normalise.additions)
    entities: bytes | None = None    # its rows of entities.csv (write.csv_lines)
    triples: bytes | None = None     # its triple rows, sorted (write.json_lines)
    failure: tuple[str, str] | None = None  # (stage, "Error: message")


@dataclass
class JobResult:
    outcomes: list[Outcome]
    seconds: dict[str, float]


# -- the work itself (runs in a worker) ---------------------------------------------------
_PIPELINES: dict[tuple, object] = {}


# Python's cyclic garbage collector runs every 700 new objects by default and each full
# run walks every live object, the pipelines' millions included; the per-article objects
# die young. Fewer, younger collections; the pipelines frozen out of them once built.
GC_THRESHOLDS = (20_000, 10, 10)


def cached_pipeline(kind: str, lang: str, model: str | None, token: str, factory: Callable[[], object]):
    """One pipeline per (kind, language, model, configuration) per process."""
    key = (kind, lang, model, token)
    if key not in _PIPELINES:
        stale = [k for k in _PIPELINES if k[:3] == key[:3]]
        for old in stale:
            del _PIPELINES[old]  # the configuration changed (a rule edit): drop the old one
        if stale:
            gc.unfreeze()  # so that the old pipeline can be collected
        _PIPELINES[key] = factory()
        gc.set_threshold(*GC_THRESHOLDS)
        gc.freeze()
    return _PIPELINES[key]


def annotator(lang: str, model: str | None, token: str) -> Language:
    from pipeline.annotate import load_pipeline  # noqa: PLC0415

    # built into the vocab the later stages read docs into: they take its fresh docs as they are
    from pipeline.nlp import keep_freed_memory, single_blas_thread  # noqa: PLC0415

    def build() -> Language:
        single_blas_thread()
        keep_freed_memory()
        return load_pipeline(lang, model, blank(lang).vocab)

    return cached_pipeline("annotate", lang, model, token, build)


def blank(lang: str) -> Language:
    """The tokenizer-only pipeline whose vocab the saved docs are read into."""
    return cached_pipeline("blank", lang, None, "", lambda: spacy.blank(lang))


def normaliser(lang: str, token: str):
    from pipeline.normalise import Normaliser  # noqa: PLC0415
    from pipeline.rulebook import load_rules  # noqa: PLC0415

    return cached_pipeline("normalise", lang, None, token, lambda: Normaliser(blank(lang), rules=load_rules(lang)))


def extractor(lang: str, token: str):
    from pipeline.relations import RelationExtractor  # noqa: PLC0415
    from pipeline.rulebook import load_rules  # noqa: PLC0415

    return cached_pipeline("relations", lang, None, token,
                           lambda: RelationExtractor(blank(lang), rules=load_rules(lang)))


def freeze_msgpack_plugins() -> None:
    """srsly collects its msgpack plugins on every pack and unpack, four times per doc
    round trip: it copies catalogue's whole registry and scans the installed packages'
    entry points (about 1 ms per doc in all). Collect them once; nothing registers any
    while the pipeline runs."""
    for registry in (srsly.msgpack_encoders, srsly.msgpack_decoders):
        plugins = registry.get_all()
        registry.get_all = lambda plugins=plugins: plugins


freeze_msgpack_plugins()


DOCBIN_ATTRS = DocBin().attrs  # the token columns a DocBin stores (ORTH first)
# The columns whose strings DocBin.add collects (token.text, tag_, lemma_, norm_, dep_,
# ent_type_, ent_kb_id_, ent_id_); MORPH's are collected apart, as str(token.morph).
STRING_COLUMNS = [DOCBIN_ATTRS.index(attr) for attr in (ORTH, NORM, TAG, DEP, ENT_TYPE, ENT_KB_ID, ENT_ID, LEMMA)]
MORPH_COLUMN = DOCBIN_ATTRS.index(MORPH)
COMPRESSION_LEVEL = 3  # zlib's fast mode: half the time of DocBin's default (6), 2% larger


def doc_bytes(doc: Doc) -> bytes:
    """The doc as the bytes of a DocBin holding it with its user_data (DocBin().from_bytes
    reads them): the same message DocBin.to_bytes writes, built without DocBin.add's nine
    property reads per token (its strings come from the distinct values of the token
    columns) and compressed at a faster zlib level."""
    columns = doc.to_array(DOCBIN_ATTRS).reshape(len(doc), len(DOCBIN_ATTRS))
    message = {
        "version": "0.1", "attrs": DOCBIN_ATTRS, "tokens": columns.tobytes("C"),
        "spaces": doc.to_array(SPACY).astype(bool).tobytes("C"),
        "lengths": numpy.asarray([len(doc)], dtype="int32").tobytes("C"),
        "strings": sorted(docbin_strings(doc, columns)), "cats": [doc.cats],
        "flags": [{"has_unknown_spaces": doc.has_unknown_spaces}], "span_groups": [doc.spans.to_bytes()],
        "user_data": [srsly.msgpack_dumps(doc.user_data)],
    }
    return zlib.compress(srsly.msgpack_dumps(message), COMPRESSION_LEVEL)


def docbin_strings(doc: Doc, columns: numpy.ndarray) -> set[str]:
    """The strings DocBin.add would collect for the doc: those of its tokens' attributes
    ("" for an unset one) and of its span groups' labels and ids."""
    strings = doc.vocab.strings
    found = {strings[value] for value in numpy.unique(columns[:, STRING_COLUMNS]).tolist()}
    if columns[:, MORPH_COLUMN].any():
        found.update(str(token.morph) for token in doc)
    elif len(doc):
        found.add("")  # str(token.morph) of a token without one
    for group in doc.spans.values():
        for span in group:
            found.add(span.label_)
            if span.kb_id in strings:
                found.add(span.kb_id_)
            if span.id in strings:
                found.add(span.id_)
    return found


def bytes_doc(data: bytes, nlp_vocab) -> Doc:
    return next(DocBin().from_bytes(data).get_docs(nlp_vocab))


def error_text(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"


def run_job(job: Job) -> JobResult:
    """Run each item's stages; a failing article is reported in its outcome, never raised."""
    seconds = dict.fromkeys(STAGES, 0.0)
    outcomes = {item.article.article_id: Outcome(item.article.article_id, item.article.language,
                                                 item.article.language_prob, item.article.status)
                for item in job.items}
    items = detect_languages(job.items, outcomes, seconds)
    fresh = annotate_items(items, job.models, outcomes, seconds, job.tokens)
    for item in items:
        outcome = outcomes[item.article.article_id]
        if outcome.failure is None and outcome.status == "ok" and {"normalise", "relations"} & set(item.run):
            run_later_stages(item, outcome, seconds, job.tokens, fresh.pop(outcome.article_id, None))
    return JobResult([outcomes[item.article.article_id] for item in job.items], seconds)


def detect_languages(items: list[Item], outcomes: dict[str, Outcome], seconds: dict) -> list[Item]:
    """Items whose article is in a supported language (detecting it where asked)."""
    began = time.perf_counter()
    kept = []
    for item in items:
        outcome = outcomes[item.article.article_id]
        if "language" in item.run:
            article = assign_language(item.article)
            outcome.language, outcome.language_prob, outcome.status = (
                article.language, article.language_prob, article.status)
        if outcome.status == "ok":
            kept.append(item)
    seconds["language"] += time.perf_counter() - began
    return kept


EMPTY_TENSOR = numpy.zeros((0, 0), dtype="float32")


def annotate_items(items: list[Item], models: dict, outcomes: dict[str, Outcome], seconds: dict,
                   tokens: dict) -> dict[str, Doc]:
    """Annotate the items that need it, one nlp.pipe per language (batching is what makes
    the NER fast); each outcome gets its doc as DocBin bytes. Returns the docs by article id."""
    from pipeline.annotate import annotate  # noqa: PLC0415

    began = time.perf_counter()
    fresh = {}
    for lang in sorted({outcomes[i.article.article_id].language for i in items if "annotate" in i.run}):
        chosen = [i.article for i in items if "annotate" in i.run and outcomes[i.article.article_id].language == lang]
        for article in chosen:
            article.language = lang
        nlp = annotator(lang, models.get(lang, "blank"), tokens.get(f"annotate:{lang}", ""))

        def failed(article_id: str, error: Exception) -> None:
            outcomes[article_id].failure = ("annotate", error_text(error))

        for doc in annotate(nlp, chosen, on_error=failed):
            outcomes[doc.user_data["article_id"]].annotated = doc_bytes(doc)
            doc.tensor = EMPTY_TENSOR  # the NER's vectors: no later stage reads them
            fresh[doc.user_data["article_id"]] = doc
    seconds["annotate"] += time.perf_counter() - began
    return fresh


def run_later_stages(item: Item, outcome: Outcome, seconds: dict, tokens: dict, annotated: Doc | None = None) -> None:
    """normalise and relations for one article, from its fresh doc (`annotated`, in the
    vocab of blank(lang)) or its cached one."""
    from pipeline.normalise import additions, mention_rows, with_additions  # noqa: PLC0415
    from pipeline.relations import merge  # noqa: PLC0415

    lang = outcome.language
    stage = ""
    normalised: Doc | None = None
    if "annotate" not in item.run and (item.start is None or ("normalise" not in item.run and item.added is None)):
        outcome.failure = (item.run[0], "its input is missing from OUT/work/cache: run the previous stage again")
        return
    try:
        if "normalise" in item.run:
            stage = "normalise"
            began = time.perf_counter()
            component = normaliser(lang, tokens.get(f"normalise:{lang}", ""))
            doc = component(annotated if annotated is not None else bytes_doc(item.start, blank(lang).vocab))
            outcome.normalised = json.dumps(additions(doc), ensure_ascii=False).encode()
            outcome.entities = csv_lines(ENTITY_COLUMNS, mention_rows(doc))
            normalised = doc
            seconds["normalise"] += time.perf_counter() - began
        if "relations" in item.run:
            stage = "relations"
            began = time.perf_counter()
            component = extractor(lang, tokens.get(f"relations:{lang}", ""))
            doc = normalised if normalised is not None else \
                with_additions(bytes_doc(item.start, blank(lang).vocab), json.loads(item.added))
            text = doc.text  # built anew on every access: once per doc, not per triple
            outcome.triples = json_lines(sort_rows([triple_row(doc, t, text) for t in merge(component(doc))])).encode()
            seconds["relations"] += time.perf_counter() - began
    except Exception as error:  # noqa: BLE001 - one bad article must not stop the others
        outcome.failure = (stage, error_text(error))


def triple_row(doc: Doc, triple, text: str | None = None) -> dict:
    """A triples.csv row (SCHEMA.md columns) for a Triple found in doc (text: doc.text)."""
    from pipeline.relations import RELATIONS  # noqa: PLC0415

    names = doc.user_data.get("entities", {})
    subject_type, object_type, _ = RELATIONS[triple.relation]
    return {
        "article_id": triple.article_id, "article_date": doc.user_data.get("date", ""),
        "language": doc.user_data.get("language", doc.lang),
        "subject": names[triple.subject_id]["name"], "subject_type": subject_type,
        "relation": triple.relation,
        "object": names[triple.object_id]["name"], "object_type": object_type,
        "value": triple.value, "status": triple.status, "source": ";".join(triple.source),
        "confidence": f"{triple.confidence:.2f}", "evidence": (text or doc.text)[triple.start:triple.end],
        "start": triple.start, "end": triple.end, "rule": triple.rule,
    }


# -- executors ----------------------------------------------------------------------------
SCHEDULER_TIMEOUT = "10s"


class EngineError(RuntimeError):
    """The engine cannot run the work: no scheduler, a worker process that died."""


class Engine:
    """Where jobs run; used as a context manager that closes it (workers, cluster)."""

    workers = 1

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        pass


class InProcess(Engine):
    """Runs each job at once in this process (one worker, no pickling)."""

    def submit(self, job: Job) -> Future:
        future: Future = Future()
        future.set_result(run_job(job))
        return future


class ProcessPool(Engine):
    """A pool of worker processes (spawned: they import the package afresh)."""

    def __init__(self, workers: int):
        self.workers = workers
        self.pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"))

    def submit(self, job: Job) -> Future:
        return self.pool.submit(run_job, job)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class DaskEngine(Engine):
    """Jobs as Dask tasks: on a LocalCluster of `workers` processes, or on the cluster
    whose scheduler address is given (its workers need this package and its models)."""

    def __init__(self, workers: int, scheduler: str | None = None):
        try:
            from dask.distributed import Client, LocalCluster  # noqa: PLC0415
        except ImportError:
            raise EngineError("--engine dask needs Dask: pip install 'dask[distributed]'") from None
        self.cluster = None
        if scheduler:
            try:
                self.client = Client(scheduler, timeout=SCHEDULER_TIMEOUT)
            except (OSError, TimeoutError, ValueError) as error:
                raise EngineError(f"cannot reach the Dask scheduler at {scheduler}: {error}") from None
        else:
            self.cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                        dashboard_address=None)
            self.client = Client(self.cluster)
        self.workers = max(1, len(self.client.scheduler_info().get("workers", {})) or workers)

    def submit(self, job: Job):
        return self.client.submit(run_job, job, pure=False)

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def make_engine(engine: str = "local", workers: int = 1, scheduler: str | None = None) -> Engine:
    if engine == "dask":
        return DaskEngine(workers, scheduler)
    if engine != "local":
        raise ValueError(f"unknown engine {engine!r} (local or dask)")
    return InProcess() if workers <= 1 else ProcessPool(workers)


def run_ordered(engine, jobs: Iterable[tuple[object, Job]], window: int | None = None
                ) -> Iterator[tuple[object, Job, JobResult]]:
    """Submit (context, job) pairs keeping at most `window` jobs in flight; yield
    (context, job, result) in the order given.

    The window bounds memory: only the texts and results of those jobs are held at once.
    """
    window = window or 2 * engine.workers
    pending: deque = deque()
    for context, job in jobs:
        pending.append((context, job, engine.submit(job)))
        if len(pending) >= window:
            context, job, future = pending.popleft()
            yield context, job, result_of(future)
    while pending:
        context, job, future = pending.popleft()
        yield context, job, result_of(future)


def result_of(future) -> JobResult:
    """The job's result; a worker process that died is one clear EngineError."""
    try:
        return future.result()
    except BrokenProcessPool as error:
        raise EngineError(f"a worker process died (out of memory, or killed): {error}") from None
