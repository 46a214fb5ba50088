"""The stages wired to their files under OUT/work, so each can be re-run alone.

    ingest + language -> work/articles.jsonl
    annotate          -> work/annotated-<lang>.spacy
    normalise         -> work/normalised-<lang>.spacy, entities.csv
    relations         -> work/triples.jsonl
    write             -> triples.csv, articles.csv, summary.csv, report.html
                         (and articles/<article id>.csv with per_article)
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Iterable, Iterator

import spacy

from pipeline.cache import (
    StageCache, article_key, chained_key, get_json, model_digest, sealed, stage_fingerprint, unsealed,
)
from pipeline.engine import Item, Job, Outcome, bytes_doc, make_engine, run_ordered
from pipeline.ingest import Article, find_articles, ingest, DEFAULT_MAX_BYTES, DEFAULT_MAX_CHARS
from pipeline.knowledge import KB_FILE, KnowledgeBaseError, load_kb
from pipeline.language import SUPPORTED, assign_language
from pipeline.nlp import model_setting
from pipeline.report import render_report
from pipeline.rulebook import check_rules
from pipeline.summary import SUMMARY_COLUMNS, Summary
from pipeline.write import (
    ENTITY_COLUMNS, TRIPLE_COLUMNS, atomic_file, atomic_write, iter_csv, json_lines, publish, start_staging, tally_csv,
    write_csv, write_csv_bodies, write_per_article,
)

ARTICLE_COLUMNS = ["article_id", "path", "date", "language", "language_prob", "status",
                   "n_entities", "n_triples", "sha256"]


FAILURE_STAGES = ("annotate", "normalise", "relations")
# What a run owns under OUT/work: files of an earlier run it did not produce again (an
# Italian DocBin when no Italian article is left) are removed when it is published.
WORK_FILES = ("work/articles.jsonl", "work/triples.jsonl", "work/failures*.jsonl", "work/run.json",
              "work/annotated*", "work/normalised*", "work/related.jsonl")
ARTICLE_CSVS = "articles/**/*.csv"


class StageError(RuntimeError):
    """A stage that cannot run (missing input, unwritable output, unusable configuration)."""


def work_dir(out: Path) -> Path:
    return out / "work"


def check_input(in_dir: Path) -> None:
    """The input folder exists, is a folder and holds at least one .txt file."""
    if not in_dir.is_dir():
        raise StageError(f"input folder {in_dir} does not exist or is not a folder")
    try:
        next(in_dir.iterdir(), None)
    except OSError as error:
        raise StageError(f"input folder {in_dir} cannot be read ({error.strerror or error})") from None
    if not find_articles(in_dir):
        raise StageError(f"input folder {in_dir} holds no .txt files")


def check_config(languages=SUPPORTED) -> None:
    """Load the knowledge base and every rule file before anything is written, so that a
    broken one stops the run at once with its file and line, never half-way through."""
    kb_path = Path(os.environ.get("CALCIO_KB") or KB_FILE)
    try:
        load_kb().ruler_patterns()
    except KnowledgeBaseError:
        raise
    except Exception as error:  # noqa: BLE001 - not UTF-8, a name that is not text...
        raise StageError(f"{kb_path}: knowledge base cannot be used: {type(error).__name__}: {error}") from None
    check_rules(languages)


def run_ingest(in_dir: Path, out: Path, max_bytes: int = DEFAULT_MAX_BYTES,
               max_chars: int = DEFAULT_MAX_CHARS) -> list[Article]:
    check_input(in_dir)
    hints = known_languages(out)
    articles = [with_language(a, hints) for a in ingest(in_dir, max_bytes, max_chars)]
    save_articles(articles, out)
    return articles


def known_languages(out: Path) -> dict[str, tuple[str, float, str]]:
    """sha256 -> (language, probability, status) of the articles of the previous run in
    OUT: the language of unchanged text is not detected again."""
    path = work_dir(out) / "articles.jsonl"
    found: dict[str, tuple[str, float, str]] = {}
    try:
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                row = json.loads(line)
                status = row.get("status", "")
                if row.get("sha256") and row.get("language") is not None and (
                        status == "ok" or status.startswith(LANGUAGE_STATUSES)):
                    found[row["sha256"]] = (row["language"], row.get("language_prob", 0.0), status)
    except (OSError, ValueError, AttributeError, TypeError):  # no previous run, or a damaged file
        return {}
    return found


LANGUAGE_STATUSES = ("skipped: unsupported language", "skipped: language undetermined")


def with_language(article: Article, hints: dict) -> Article:
    """The article with its language: the previous run's answer for the same bytes, or detected."""
    return article if known_language(article, hints) else assign_language(article)


def known_language(article: Article, hints: dict) -> bool:
    """Give the article the language the previous run found for the same bytes, if any."""
    if article.ok and article.sha256 in hints:
        article.language, article.language_prob, article.status = hints[article.sha256]
        return True
    return False


def save_articles(articles: list[Article], out: Path) -> None:
    atomic_write(work_dir(out) / "articles.jsonl", json_lines(a.to_json() for a in articles))


def iter_articles(out: Path) -> Iterator[Article]:
    """The articles of work/articles.jsonl, one at a time (texts are not all held at once)."""
    path = work_dir(out) / "articles.jsonl"
    if not path.exists():
        raise StageError(f"{path} missing: run the ingest stage first")
    for number, row in enumerate(iter_jsonl(path, "run the ingest stage again"), 1):
        try:
            yield Article(**row)
        except TypeError as error:
            raise StageError(f"{path}: entry {number} damaged ({error}); run the ingest stage again") from None


def read_jsonl(path: Path, remedy: str) -> list[dict]:
    """The rows of one of our JSON-lines files; a damaged one is a StageError naming the line."""
    return list(iter_jsonl(path, remedy))


def iter_jsonl(path: Path, remedy: str) -> Iterator[dict]:
    number = 0
    try:
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if line.strip():
                    row = json.loads(line)
                    if not isinstance(row, dict):
                        raise ValueError("not a JSON object")
                    yield row
    except (ValueError, TypeError) as error:
        raise StageError(f"{path}:{number}: damaged ({error}); {remedy}") from None


def failures_file(out: Path, stage: str) -> Path:
    return work_dir(out) / f"failures-{stage}.jsonl"


def clear_failures(out: Path, stage: str) -> None:
    failures_file(out, stage).unlink(missing_ok=True)
    if stage == "normalise":  # written by earlier versions for every stage
        (work_dir(out) / "failures.jsonl").unlink(missing_ok=True)


def record_failure(out: Path, stage: str, article_id: str, message: str) -> None:
    print(f"warning: {article_id}: {stage} failed: {message}", file=sys.stderr)
    path = failures_file(out, stage)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({"article_id": article_id, "stage": stage, "error": message},
                                ensure_ascii=False) + "\n")


def failures(out: Path) -> dict[str, str]:
    """article id -> `failed: <stage>: <error>`, the earliest stage's failure first."""
    found: dict[str, str] = {}
    for stage in FAILURE_STAGES:
        path = failures_file(out, stage)
        if path.exists():
            for row in read_jsonl(path, "run the stages again"):
                found.setdefault(row["article_id"], f"failed: {row['stage']}: {row['error']}")
    return found


# -- the NLP stages, per article, with their results cached under OUT/work/cache -----------
INDEX_FILES = {"annotate": "annotated.jsonl", "normalise": "normalised.jsonl", "relations": "related.jsonl"}
NLP_STAGES = ("annotate", "normalise", "relations")
CHUNK_ARTICLES = 16


@dataclass
class RunSetup:
    """What the keys of a run depend on: the model of each language and the fingerprint
    of each (stage, language)."""

    models: dict[str, str]
    fingerprints: dict[tuple[str, str], str]
    cache_root: Path

    @classmethod
    def create(cls, out: Path, models: dict[str, str | None] | None = None) -> "RunSetup":
        models = models or {}
        resolved = {lang: model_setting(lang, models.get(lang)) or "blank" for lang in SUPPORTED}
        kb = Path(os.environ.get("CALCIO_KB") or KB_FILE)
        fingerprints = {}
        for lang in SUPPORTED:
            model = None if resolved[lang] == "blank" else resolved[lang]
            fingerprints["annotate", lang] = stage_fingerprint("annotate", lang, model_digest(model), kb)
            fingerprints["normalise", lang] = stage_fingerprint("normalise", lang, kb_path=kb)
            fingerprints["relations", lang] = stage_fingerprint("relations", lang)
        return cls(resolved, fingerprints, work_dir(out) / "cache")

    def tokens(self) -> dict[str, str]:
        return {f"{stage}:{lang}": fp for (stage, lang), fp in self.fingerprints.items()}

    def keys(self, article: Article, known: dict[str, str] | None = None) -> dict[str, str]:
        """The cache key of each stage's result for this article (its language is known).

        known: the keys an earlier stage-alone run recorded in its index (the annotate key,
        and the normalise key to start from it); the later stages get keys chained from
        the last of them.
        """
        lang = article.language
        keys = dict(known or {"annotate": article_key(article.article_id, article.date, lang, article.text,
                                                      self.fingerprints["annotate", lang])})
        last = max(keys, key=NLP_STAGES.index)
        key = keys[last]
        for later in NLP_STAGES[NLP_STAGES.index(last) + 1:]:
            key = keys[later] = chained_key(key, self.fingerprints[later, lang])
        return keys


class Caches:
    """What each stage keeps per article: annotate its doc; normalise what it added to
    that doc (see normalise.additions) and its entities.csv rows (CSV lines); relations
    its triple rows (JSON lines, sorted). The rows are kept as the output files hold them,
    so writing those files is copying bytes; each rows entry is sealed with its checksum,
    so that a damaged one is never copied."""

    def __init__(self, root: Path):
        self.docs = {"annotate": StageCache(root, "annotate", ".spacy"),
                     "normalise": StageCache(root, "normalise", ".added.json")}
        self.rows = {"normalise": StageCache(root, "normalise", ".entities"),
                     "relations": StageCache(root, "relations", ".triples")}

    def has(self, stage: str, key: str) -> bool:
        return all(c.has(key) for c in (self.docs.get(stage), self.rows.get(stage)) if c is not None)

    def store(self, outcome: Outcome, keys: dict[str, str]) -> None:
        if outcome.annotated is not None:
            self.docs["annotate"].put(keys["annotate"], outcome.annotated)
        if outcome.normalised is not None:
            self.docs["normalise"].put(keys["normalise"], outcome.normalised)
            self.rows["normalise"].put(keys["normalise"], sealed(outcome.entities or b""))
        if outcome.triples is not None:
            self.rows["relations"].put(keys["relations"], sealed(outcome.triples))

    def prune(self, stage: str, keep: set[str]) -> None:
        for cache in (self.docs.get(stage), self.rows.get(stage)):
            if cache is not None:
                cache.prune(keep)


def plan_item(article: Article, wanted: tuple[str, ...], keys: dict[str, str] | None, caches: Caches) -> Item:
    """The stages of `wanted` this article still needs, starting from the latest cached
    result; keys None means the language is not known yet (everything runs)."""
    if not article.ok:
        return Item(stripped(article), ())
    if keys is None:
        return Item(article, tuple(wanted))
    run = [s for s in wanted if s in NLP_STAGES]
    if all(caches.has(stage, keys[stage]) for stage in run):  # the write stage reads each one's rows
        return Item(stripped(article), ())
    for position in range(len(run) - 1, -1, -1):
        stage = run[position]
        if stage == "annotate":
            break
        before = NLP_STAGES[NLP_STAGES.index(stage) - 1]
        if position == 0 or caches.has(before, keys[before]):  # a stage run alone starts from its input
            added = caches.docs["normalise"].get(keys["normalise"]) if before == "normalise" else None
            return Item(stripped(article), tuple(run[position:]), caches.docs["annotate"].get(keys["annotate"]), added)
    return Item(article, tuple(run))


def stripped(article: Article) -> Article:
    """A copy without the text, for a worker that will not read it."""
    return replace(article, text="")


@dataclass
class RunRecord:
    """What an extract run did, written to OUT/work/run.json (read by `make bench`)."""

    engine: str = "local"
    workers: int = 1
    articles: int = 0
    processed: int = 0
    words: int = 0
    seconds: float = 0.0
    stages: dict = field(default_factory=lambda: {s: {"seconds": 0.0, "articles": 0, "reused": 0}
                                                  for s in ("ingest", "language", *NLP_STAGES, "write")})

    def add(self, stage: str, seconds: float = 0.0, ran: int = 0, reused: int = 0) -> None:
        entry = self.stages[stage]
        entry["seconds"] += seconds
        entry["articles"] += ran
        entry["reused"] += reused


class StageRun:
    """Runs `wanted` stages over a stream of articles on an engine and records, in order,
    the articles, the index of every NLP stage, failures and cache entries."""

    def __init__(self, target: Path, setup: RunSetup, wanted: tuple[str, ...], record: RunRecord):
        self.target, self.setup, self.wanted, self.record = target, setup, wanted, record
        self.caches = Caches(setup.cache_root)
        self.index: dict[str, list[dict]] = {stage: [] for stage in NLP_STAGES if stage in wanted}
        self.articles: list[Article] = []

    def jobs(self, articles: Iterable[Article], bases: dict[str, tuple[str, str]] | None = None
             ) -> Iterator[tuple[list[tuple[Article, dict | None]], Job]]:
        chunk: list[tuple[Article, dict | None]] = []
        items: list[Item] = []
        for article in articles:
            keys = None
            if article.ok and article.language:
                keys = self.setup.keys(article, (bases or {}).get(article.article_id))
            chunk.append((article, keys))
            items.append(plan_item(article, self.wanted, keys, self.caches))
            if len(chunk) >= CHUNK_ARTICLES:
                yield chunk, Job(items, self.setup.models, self.setup.tokens())
                chunk, items = [], []
        if chunk:
            yield chunk, Job(items, self.setup.models, self.setup.tokens())

    def run(self, engine, articles: Iterable[Article], bases: dict[str, tuple[str, str]] | None = None,
            on_article=None) -> None:
        for chunk, job, result in run_ordered(engine, self.jobs(articles, bases)):
            for stage, seconds in result.seconds.items():
                self.record.add(stage, seconds)
            for (article, keys), item, outcome in zip(chunk, job.items, result.outcomes):
                self.take(article, keys, item, outcome)
                if on_article:
                    on_article(article)

    def take(self, article: Article, keys: dict | None, item: Item, outcome: Outcome) -> None:
        if "language" in item.run:
            article.language, article.language_prob, article.status = (
                outcome.language, outcome.language_prob, outcome.status)
            self.record.add("language", ran=1)
        elif article.ok and "language" in self.wanted:
            self.record.add("language", reused=1)
        if article.ok and keys is None:
            keys = self.setup.keys(article)
        if not article.ok:
            return
        self.caches.store(outcome, keys)
        failed_at = outcome.failure[0] if outcome.failure else None
        if outcome.failure:
            record_failure(self.target, outcome.failure[0], article.article_id, outcome.failure[1])
        for stage in self.index:
            if failed_at and NLP_STAGES.index(stage) >= NLP_STAGES.index(failed_at):
                break
            if stage in item.run:
                self.record.add(stage, ran=1)
            else:
                self.record.add(stage, reused=1)
            entry = {"article_id": article.article_id, "language": article.language, "key": keys[stage]}
            if stage != "annotate":
                entry["annotated"] = keys["annotate"]  # the doc its results go with
            self.index[stage].append(entry)

    def write_indexes(self) -> None:
        for stage, entries in self.index.items():
            entries.sort(key=lambda e: e["article_id"])
            atomic_write(work_dir(self.target) / INDEX_FILES[stage],
                         "".join(json.dumps(e, sort_keys=True) + "\n" for e in entries))


def read_index(out: Path, stage: str, remedy: str) -> list[dict]:
    path = work_dir(out) / INDEX_FILES[stage]
    if not path.exists():
        raise StageError(f"{path} missing: {remedy}")
    return read_jsonl(path, remedy)


def prune_caches(out: Path) -> None:
    """Drop cache entries that no index of OUT refers to any more (after a published run)."""
    caches = Caches(work_dir(out) / "cache")
    for stage, name in INDEX_FILES.items():
        path = work_dir(out) / name
        if path.exists():
            try:
                caches.prune(stage, {e["key"] for e in read_jsonl(path, "")})
            except (StageError, KeyError):
                continue


def run_annotate(out: Path, models: dict[str, str | None] | None = None) -> dict[str, int]:
    setup = RunSetup.create(out, models)
    clear_failures(out, "annotate")
    stage_run = StageRun(out, setup, ("annotate",), RunRecord())
    with make_engine() as engine:
        stage_run.run(engine, iter_articles(out))
    stage_run.write_indexes()
    prune_caches(out)
    return per_language(stage_run.index["annotate"])


def per_language(entries: list[dict]) -> dict[str, int]:
    return {lang: sum(e["language"] == lang for e in entries) for lang in SUPPORTED}


def run_normalise(out: Path) -> None:
    run_from_index(out, "normalise", "annotate", "run the annotate stage first")


def run_relations(out: Path) -> int:
    run_from_index(out, "relations", "normalise", "run the normalise stage first")
    return write_triples(out, out, Caches(work_dir(out) / "cache"))


def run_from_index(out: Path, stage: str, previous: str, remedy: str) -> None:
    """Re-run one stage alone over the articles the previous stage's index lists, each
    from the result recorded there."""
    setup = RunSetup.create(out)
    bases = {e["article_id"]: known_keys(e, previous, remedy) for e in read_index(out, previous, remedy)}
    articles = (a for a in iter_articles(out) if a.article_id in bases)
    clear_failures(out, stage)
    stage_run = StageRun(out, setup, (stage,), RunRecord())
    with make_engine() as engine:
        stage_run.run(engine, articles, bases)
    stage_run.write_indexes()
    prune_caches(out)
    if stage == "normalise":
        write_entities(out, out, stage_run.caches)


def known_keys(entry: dict, stage: str, remedy: str) -> dict[str, str]:
    """The keys an index entry of `stage` gives: its own, and the annotated doc's."""
    if stage == "annotate":
        return {"annotate": entry["key"]}
    if "annotated" not in entry:
        raise StageError(f"the {stage} index of this OUT comes from an older version: {remedy}")
    return {"annotate": entry["annotated"], stage: entry["key"]}


def write_entities(source: Path, target: Path, caches: Caches) -> None:
    """entities.csv from the normalise index of the run in source and the cache."""
    entries = read_index(source, "normalise", "run the normalise stage first")
    write_csv_bodies(target / "entities.csv", ENTITY_COLUMNS, cached_rows(caches, "normalise", entries))


def write_triples(source: Path, target: Path, caches: Caches) -> int:
    """work/triples.jsonl (all triple rows, in output order) from the relations index;
    returns the number of rows."""
    entries = read_index(source, "relations", "run the relations stage first")
    count = 0
    with atomic_file(work_dir(target) / "triples.jsonl", binary=True) as handle:
        for lines in cached_rows(caches, "relations", entries):  # by article id, each sorted: all sorted
            handle.write(lines)
            count += lines.count(b"\n")
    return count


def cached_rows(caches: Caches, stage: str, entries: list[dict]) -> Iterator[bytes]:
    """The rows each index entry's cache entry holds. Entries that are missing or damaged
    are removed and reported once all are read, as a StageError (the file being written
    is then left unwritten); the next run makes them anew."""
    lost = []
    for entry in entries:
        rows = unsealed(caches.rows[stage].get(entry["key"]))
        if rows is None:
            lost.append(entry)
        else:
            yield rows
    if lost:
        for entry in lost:
            caches.rows[stage].remove(entry["key"])
        raise StageError(f"the cached {stage} results of {len(lost)} article(s) ({lost[0]['article_id']} first) "
                         f"were missing or damaged and have been removed: run the same command again to redo them")


def normalised_docs(out: Path) -> Iterator:
    """The normalised docs of the run in OUT (both languages), each with its article id,
    date, language and resolved entities in user_data: for tools that read a finished run."""
    from pipeline.normalise import with_additions  # noqa: PLC0415

    caches = Caches(work_dir(out) / "cache")
    vocabs = {lang: spacy.blank(lang).vocab for lang in SUPPORTED}
    for entry in read_index(out, "normalise", "run the normalise stage first"):
        annotated = caches.docs["annotate"].get(entry.get("annotated", ""))
        added = get_json(caches.docs["normalise"], entry["key"])
        if annotated is not None and added is not None:
            yield with_additions(bytes_doc(annotated, vocabs[entry["language"]]), added)


def iter_triples(out: Path) -> Iterator[dict]:
    """The rows of work/triples.jsonl one at a time, each checked for every column."""
    path = work_dir(out) / "triples.jsonl"
    if not path.exists():
        raise StageError(f"{path} missing: run the relations stage first")
    required = frozenset(TRIPLE_COLUMNS)
    for number, row in enumerate(iter_jsonl(path, "run the relations stage again"), 1):
        if not row.keys() >= required:
            missing = [c for c in TRIPLE_COLUMNS if c not in row]
            raise StageError(f"{path}: entry {number} lacks {', '.join(missing)}; run the relations stage again")
        yield row


def run_write(out: Path, bom: bool = True, per_article: bool = False) -> int:
    """triples.csv, articles.csv, summary.csv, report.html (and OUT/articles/*.csv), from
    OUT/work and OUT/entities.csv; all of them are replaced together (see write.publish)."""
    for _ in iter_triples(out):  # before touching OUT: a missing or damaged stage output is a clear error
        pass
    staging = start_staging(out)
    try:
        count = write_outputs(out, staging, bom, per_article)
        refused = publish(staging, out, [ARTICLE_CSVS] if per_article else [])
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    warn_refused(refused)
    return count


# The report shows the most recent articles of a big run in full (text, entities, triples);
# every article and triple of the run stays in the CSVs.
REPORT_ARTICLES = 300


def write_outputs(source: Path, target: Path, bom: bool = True, per_article: bool = False) -> int:
    """Read the run in `source` (work/ and entities.csv) and write its final files into
    `target`: triples.csv, articles.csv, summary.csv, report.html (and articles/*.csv);
    entities.csv too when its BOM must change. The triples are streamed: what is held is
    the summary's groups and the rows of the articles the report shows."""
    manifest = [{c: getattr(a, c) for c in ARTICLE_COLUMNS if hasattr(a, c)} for a in iter_articles(source)]
    shown = report_articles(manifest)
    per_article_count: dict[str, int] = {}
    reported: list[dict] = []
    summary = Summary()

    def counted(rows: Iterable[dict]) -> Iterator[dict]:
        for row in rows:
            article_id = row["article_id"]
            per_article_count[article_id] = per_article_count.get(article_id, 0) + 1
            summary.add(row)
            if article_id in shown:
                reported.append(row)
            yield row

    count = write_csv(target / "triples.csv", TRIPLE_COLUMNS, counted(iter_triples(source)), bom=bom)
    summary_rows = summary.rows()
    write_csv(target / "summary.csv", SUMMARY_COLUMNS, summary_rows, bom=bom)
    entities_csv = source / "entities.csv"
    per_article_entities, entities = (tally_csv(entities_csv, "article_id", shown) if entities_csv.exists()
                                      else ({}, []))
    manifest = write_manifest(source, per_article_count, per_article_entities, bom, manifest, target=target)
    if per_article:
        write_article_csvs(target, iter_triples(source), manifest, bom)
    if entities_csv.exists() and file_has_bom(entities_csv) != bom:  # --no-bom holds for every CSV
        write_csv(target / "entities.csv", ENTITY_COLUMNS, iter_csv(entities_csv), bom=bom)
    texts = {a.article_id: a.text for a in iter_articles(source) if a.article_id in shown}
    note = "" if len(shown) == len(manifest) else (
        f"showing the {len(shown)} most recent of {len(manifest)} articles; every triple is in triples.csv")
    atomic_write(target / "report.html", render_report([m for m in manifest if m["article_id"] in shown],
                                                       texts, entities, reported, summary_rows, note=note))
    return count


def report_articles(manifest: list[dict], limit: int | None = None) -> set[str]:
    """The ids of the articles the report shows: all, or the `limit` (REPORT_ARTICLES)
    most recent ones."""
    limit = REPORT_ARTICLES if limit is None else limit
    if len(manifest) <= limit:
        return {m["article_id"] for m in manifest}
    newest = sorted(manifest, key=lambda m: (m["status"] == "ok", m["date"] or "", m["article_id"]), reverse=True)
    return {m["article_id"] for m in newest[:limit]}


def file_has_bom(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(3) == b"\xef\xbb\xbf"


def warn_refused(refused: list[str]) -> None:
    for relative in refused:
        print(f"warning: {relative} not written: its folder leads outside OUT", file=sys.stderr)


def write_article_csvs(out: Path, triples: Iterable[dict], manifest: list[dict], bom: bool) -> dict[str, Path]:
    """OUT/articles/<article id>.csv for every article processed (status ok), same columns
    as triples.csv; an id that cannot be a safe file name is reported and left out."""
    ids = [row["article_id"] for row in manifest if row["status"] == "ok"]
    written, rejected = write_per_article(out / "articles", TRIPLE_COLUMNS, triples, ids, bom=bom)
    for article_id in rejected:
        print(f"warning: {article_id!r}: no per-article CSV (unsafe file name)", file=sys.stderr)
    return written


def write_manifest(out: Path, triples_per_article: dict[str, int], entities_per_article: dict[str, int],
                   bom: bool, manifest: list[dict], target: Path | None = None) -> list[dict]:
    """articles.csv (into target, default out) from the run in out: every article of
    manifest (articles.jsonl rows) with its final status and its entity and triple counts
    (the rows of entities.csv and triples.csv per article id)."""
    rows = []
    failed = failures(out)
    for article in manifest:
        row = {k: v for k, v in article.items() if k != "text"}
        row["status"] = failed.get(article["article_id"], row["status"])
        row["n_entities"] = entities_per_article.get(article["article_id"], 0)
        row["n_triples"] = triples_per_article.get(article["article_id"], 0)
        rows.append(row)
    write_csv((target or out) / "articles.csv", ARTICLE_COLUMNS, rows, bom=bom)
    return rows


EXTRACT_STAGES = ("ingest", "annotate", "normalise", "relations", "write")


def run_extract(in_dir: Path, out: Path, models: dict[str, str | None] | None = None,
                bom: bool = True, max_bytes: int = DEFAULT_MAX_BYTES, per_article: bool = False,
                progress=None, max_chars: int = DEFAULT_MAX_CHARS, workers: int = 1,
                engine: str = "local", scheduler: str | None = None) -> dict:
    """Every stage, streaming the articles through them; progress(stage) is called as each
    of EXTRACT_STAGES starts.

    The input and the configuration (KB, rules) are checked before OUT is touched. The
    articles are read one at a time and sent in chunks to the engine (this process, a pool
    of `workers` processes, or Dask), which runs language detection, annotation,
    normalisation and relations where OUT/work/cache holds no result for them yet. The
    run's files are written in a staging folder inside OUT and replace the old ones only
    once all are written (write.publish): an error or interruption leaves OUT as it was.
    """
    step = progress or (lambda stage: None)
    began = time.perf_counter()
    check_input(in_dir)
    check_config()
    setup = RunSetup.create(out, models)
    hints = known_languages(out)
    created = not out.exists()
    try:
        staging = start_staging(out)
    except OSError:
        if created:
            remove_if_empty(out)
        raise
    published = False
    record = RunRecord(engine=engine, workers=workers)
    try:
        step("ingest")
        stage_run = StageRun(staging, setup, ("language", *NLP_STAGES), record)
        with make_engine(engine, workers, scheduler) as running:
            skipped = stream_articles(stage_run, ingested(in_dir, max_bytes, max_chars, hints, record),
                                      running, staging, step)
        step("write")
        written = time.perf_counter()
        stage_run.write_indexes()
        write_entities(staging, staging, stage_run.caches)
        triples = write_triples(staging, staging, stage_run.caches)
        write_outputs(staging, staging, bom, per_article)
        failed = failures(staging)
        record.add("write", time.perf_counter() - written, record.processed)
        record.seconds = time.perf_counter() - began
        atomic_write(work_dir(staging) / "run.json", json.dumps(asdict(record), indent=1, sort_keys=True))
        refused = publish(staging, out, WORK_FILES + ((ARTICLE_CSVS,) if per_article else ()))
        published = True
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if created and not published:
            remove_if_empty(out)
    prune_caches(out)
    warn_refused(refused)
    return {"articles": record.articles, "annotated": per_language(stage_run.index["annotate"]),
            "triples": triples, "skipped": skipped + sorted(failed.items())}


def ingested(in_dir: Path, max_bytes: int, max_chars: int, hints: dict, record: RunRecord) -> Iterator[Article]:
    """The articles of in_dir one at a time, timed as the ingest stage, with the language
    the previous run found for the same bytes."""
    articles = ingest(in_dir, max_bytes, max_chars)
    while True:
        began = time.perf_counter()
        article = next(articles, None)
        if article is None:
            return
        known_language(article, hints)
        record.add("ingest", time.perf_counter() - began, 1)
        yield article


def stream_articles(stage_run: "StageRun", articles: Iterable[Article], engine, staging: Path,
                    step) -> list[tuple[str, str]]:
    """Run the stages over the articles, writing work/articles.jsonl as each one is done;
    returns the (article id, status) of those not processed."""
    record, skipped = stage_run.record, []
    path = work_dir(staging) / "articles.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    step("annotate")
    with path.open("w", encoding="utf-8") as handle:
        def done(article: Article) -> None:
            record.articles += 1
            if article.ok:
                record.processed += 1
                record.words += len(article.text.split())
            else:
                skipped.append((article.article_id, article.status))
            handle.write(json_lines([article.to_json()]))

        stage_run.run(engine, articles, on_article=done)
    return skipped


def remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass
