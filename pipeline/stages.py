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
from dataclasses import asdict
from pathlib import Path

import spacy

from pipeline.annotate import annotate_all, load_docs, save_docs
from pipeline.ingest import Article, find_articles, ingest, DEFAULT_MAX_BYTES, DEFAULT_MAX_CHARS
from pipeline.knowledge import KB_FILE, KnowledgeBaseError, load_kb
from pipeline.language import SUPPORTED, assign_language
from pipeline.normalise import Normaliser, mention_rows
from pipeline.relations import RelationExtractor, Triple, merge
from pipeline.report import render_report
from pipeline.ruleset import RULES_DIR, RuleFileError, rule_file
from pipeline.summary import SUMMARY_COLUMNS, summarise
from pipeline.write import (
    TRIPLE_COLUMNS, atomic_write, publish, read_csv, sort_rows, start_staging, write_csv, write_per_article,
)

ENTITY_COLUMNS = ["article_id", "text", "canonical", "type", "entity_id", "start", "end", "sentence", "component"]
ARTICLE_COLUMNS = ["article_id", "path", "date", "language", "language_prob", "status",
                   "n_entities", "n_triples", "sha256"]


RULE_FILES = ("relations", "status", "attribution", "coref", "roles")
FAILURE_STAGES = ("annotate", "normalise", "relations")
# What a run owns under OUT/work: files of an earlier run it did not produce again (an
# Italian DocBin when no Italian article is left) are removed when it is published.
WORK_FILES = ("work/articles.jsonl", "work/triples.jsonl", "work/failures*.jsonl",
              "work/annotated-*.spacy", "work/normalised-*.spacy")
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
    for lang in languages:
        for name in RULE_FILES:
            path = RULES_DIR / lang / f"{name}.yml"
            try:
                if rule_file(lang, name) is None:
                    raise StageError(f"{path}: rule file is empty")
            except (RuleFileError, StageError):
                raise
            except (OSError, ValueError) as error:
                raise StageError(f"{path}: rule file cannot be read: {error}") from None
        set_up("relations", lang, lambda: RelationExtractor(spacy.blank(lang)))


def set_up(stage: str, lang: str, factory):
    """factory() for a stage, any configuration error made one clear StageError."""
    try:
        return factory()
    except (RuleFileError, KnowledgeBaseError, StageError):
        raise
    except Exception as error:  # noqa: BLE001 - e.g. a Matcher pattern spaCy rejects
        raise StageError(f"{stage} cannot start for {lang!r}: the rules in {RULES_DIR / lang} "
                         f"are not usable: {type(error).__name__}: {error}") from None


def run_ingest(in_dir: Path, out: Path, max_bytes: int = DEFAULT_MAX_BYTES,
               max_chars: int = DEFAULT_MAX_CHARS) -> list[Article]:
    check_input(in_dir)
    articles = [assign_language(a) for a in ingest(in_dir, max_bytes, max_chars)]
    save_articles(articles, out)
    return articles


def save_articles(articles: list[Article], out: Path) -> None:
    lines = "".join(json.dumps(a.to_json(), ensure_ascii=False, sort_keys=True) + "\n" for a in articles)
    atomic_write(work_dir(out) / "articles.jsonl", lines)


def load_articles(out: Path) -> list[Article]:
    path = work_dir(out) / "articles.jsonl"
    if not path.exists():
        raise StageError(f"{path} missing: run the ingest stage first")
    articles = []
    for number, row in enumerate(read_jsonl(path, "run the ingest stage again"), 1):
        try:
            articles.append(Article(**row))
        except TypeError as error:
            raise StageError(f"{path}: entry {number} damaged ({error}); run the ingest stage again") from None
    return articles


def read_jsonl(path: Path, remedy: str) -> list[dict]:
    """The rows of one of our JSON-lines files; a damaged one is a StageError naming the line."""
    rows, number = [], 0
    try:
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if line.strip():
                    rows.append(json.loads(line))
                    if not isinstance(rows[-1], dict):
                        raise ValueError("not a JSON object")
    except (ValueError, TypeError) as error:
        raise StageError(f"{path}:{number}: damaged ({error}); {remedy}") from None
    return rows


def run_annotate(out: Path, models: dict[str, str | None] | None = None) -> dict[str, int]:
    articles = load_articles(out)
    clear_failures(out, "annotate")
    return annotate_all(articles, work_dir(out), models or {},
                        on_error=lambda article_id, error: record_failure(out, "annotate", article_id, error))


def failures_file(out: Path, stage: str) -> Path:
    return work_dir(out) / f"failures-{stage}.jsonl"


def clear_failures(out: Path, stage: str) -> None:
    failures_file(out, stage).unlink(missing_ok=True)
    if stage == "normalise":  # written by earlier versions for every stage
        (work_dir(out) / "failures.jsonl").unlink(missing_ok=True)


def record_failure(out: Path, stage: str, article_id: str, error: Exception) -> None:
    message = f"{type(error).__name__}: {error}"
    print(f"warning: {article_id}: {stage} failed: {message}", file=sys.stderr)
    path = failures_file(out, stage)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({"article_id": article_id, "stage": stage, "error": message},
                                ensure_ascii=False) + "\n")


def guarded(stage: str, out: Path, step, doc):
    """Run one stage step on one doc; a failure is recorded for the manifest, the run goes on."""
    try:
        return step(doc)
    except Exception as error:  # noqa: BLE001 - one bad article must not stop the others
        record_failure(out, stage, doc.user_data.get("article_id", ""), error)
        return None


def failures(out: Path) -> dict[str, str]:
    """article id -> `failed: <stage>: <error>`, the earliest stage's failure first."""
    found: dict[str, str] = {}
    for stage in FAILURE_STAGES:
        path = failures_file(out, stage)
        if path.exists():
            for row in read_jsonl(path, "run the stages again"):
                found.setdefault(row["article_id"], f"failed: {row['stage']}: {row['error']}")
    return found


def stage_docs(nlp, path: Path, remedy: str) -> list:
    """The docs of one of our DocBin files; a damaged file is a StageError naming it."""
    try:
        return list(load_docs(nlp, path))
    except Exception as error:  # noqa: BLE001 - msgpack or spaCy errors of a truncated file
        raise StageError(f"{path}: damaged ({type(error).__name__}: {error}); {remedy}") from None


def run_normalise(out: Path) -> list[dict]:
    rows = []
    clear_failures(out, "normalise")
    for lang in SUPPORTED:
        source = work_dir(out) / f"annotated-{lang}.spacy"
        target = work_dir(out) / f"normalised-{lang}.spacy"
        if not source.exists():
            target.unlink(missing_ok=True)
            continue
        nlp = spacy.blank(lang)
        normaliser = set_up("normalise", lang, lambda: Normaliser(nlp))

        def normalise(doc):
            doc = normaliser(doc)
            return doc, mention_rows(doc)

        done = [d for d in (guarded("normalise", out, normalise, doc)
                            for doc in stage_docs(nlp, source, "run the annotate stage again"))
                if d]
        save_docs((doc for doc, _ in done), target)
        rows += [row for _, doc_rows in done for row in doc_rows]
    write_csv(out / "entities.csv", ENTITY_COLUMNS, rows)
    return rows


def run_relations(out: Path) -> list[dict]:
    rows = []
    clear_failures(out, "relations")
    for lang in SUPPORTED:
        source = work_dir(out) / f"normalised-{lang}.spacy"
        if not source.exists():
            continue
        nlp = spacy.blank(lang)
        extractor = set_up("relations", lang, lambda: RelationExtractor(nlp))

        def extract(doc):
            return [triple_row(doc, t) for t in merge(extractor(doc))]

        for doc in stage_docs(nlp, source, "run the normalise stage again"):
            rows += guarded("relations", out, extract, doc) or []
    rows = sort_rows(rows)
    atomic_write(work_dir(out) / "triples.jsonl",
                 "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows))
    return rows


def triple_row(doc, triple: Triple) -> dict:
    names = doc.user_data.get("entities", {})
    from pipeline.relations import RELATIONS

    subject_type, object_type, _ = RELATIONS[triple.relation]
    return {
        "article_id": triple.article_id, "article_date": doc.user_data.get("date", ""),
        "language": doc.user_data.get("language", doc.lang),
        "subject": names[triple.subject_id]["name"], "subject_type": subject_type,
        "relation": triple.relation,
        "object": names[triple.object_id]["name"], "object_type": object_type,
        "value": triple.value, "status": triple.status, "source": ";".join(triple.source),
        "confidence": f"{triple.confidence:.2f}", "evidence": doc.text[triple.start:triple.end],
        "start": triple.start, "end": triple.end, "rule": triple.rule,
    }


def load_triples(out: Path) -> list[dict]:
    path = work_dir(out) / "triples.jsonl"
    if not path.exists():
        raise StageError(f"{path} missing: run the relations stage first")
    rows = read_jsonl(path, "run the relations stage again")
    for number, row in enumerate(rows, 1):
        missing = [c for c in TRIPLE_COLUMNS if c not in row]
        if missing:
            raise StageError(f"{path}: entry {number} lacks {', '.join(missing)}; run the relations stage again")
    return rows


def run_write(out: Path, bom: bool = True, per_article: bool = False) -> int:
    """triples.csv, articles.csv, summary.csv, report.html (and OUT/articles/*.csv), from
    OUT/work and OUT/entities.csv; all of them are replaced together (see write.publish)."""
    load_triples(out)  # before touching OUT: a missing or damaged stage output is a clear error
    staging = start_staging(out)
    try:
        count = write_outputs(out, staging, bom, per_article)
        refused = publish(staging, out, [ARTICLE_CSVS] if per_article else [])
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    warn_refused(refused)
    return count


def write_outputs(source: Path, target: Path, bom: bool = True, per_article: bool = False) -> int:
    """Read the run in `source` (work/ and entities.csv) and write its final files into
    `target`: triples.csv, articles.csv, summary.csv, report.html (and articles/*.csv);
    entities.csv too when its BOM must change."""
    rows = load_triples(source)
    articles = load_articles(source)
    count = write_csv(target / "triples.csv", TRIPLE_COLUMNS, rows, bom=bom)
    manifest = write_manifest(source, rows, bom, articles, target=target)
    summary = summarise(rows)
    write_csv(target / "summary.csv", SUMMARY_COLUMNS, summary, bom=bom)
    if per_article:
        write_article_csvs(target, rows, manifest, bom)
    entities_csv = source / "entities.csv"
    entities = read_csv(entities_csv) if entities_csv.exists() else []
    if entities_csv.exists():
        with entities_csv.open("rb") as handle:
            has_bom = handle.read(3) == b"\xef\xbb\xbf"
        if has_bom != bom:  # written by normalise with a BOM: --no-bom holds for every CSV
            write_csv(target / "entities.csv", ENTITY_COLUMNS, entities, bom=bom)
    texts = {a.article_id: a.text for a in articles}
    atomic_write(target / "report.html", render_report(manifest, texts, entities, rows, summary))
    return count


def warn_refused(refused: list[str]) -> None:
    for relative in refused:
        print(f"warning: {relative} not written: its folder leads outside OUT", file=sys.stderr)


def write_article_csvs(out: Path, triples: list[dict], manifest: list[dict], bom: bool) -> dict[str, Path]:
    """OUT/articles/<article id>.csv for every article processed (status ok), same columns
    as triples.csv; an id that cannot be a safe file name is reported and left out."""
    ids = [row["article_id"] for row in manifest if row["status"] == "ok"]
    written, rejected = write_per_article(out / "articles", TRIPLE_COLUMNS, triples, ids, bom=bom)
    for article_id in rejected:
        print(f"warning: {article_id!r}: no per-article CSV (unsafe file name)", file=sys.stderr)
    return written


def write_manifest(out: Path, triples: list[dict], bom: bool,
                   articles: list[Article] | None = None, target: Path | None = None) -> list[dict]:
    """articles.csv (into target, default out) from the run in out."""
    entities_per_article: dict[str, int] = {}
    entities_csv = out / "entities.csv"
    if entities_csv.exists():
        for row in read_csv(entities_csv):
            entities_per_article[row["article_id"]] = entities_per_article.get(row["article_id"], 0) + 1
    triples_per_article: dict[str, int] = {}
    for row in triples:
        triples_per_article[row["article_id"]] = triples_per_article.get(row["article_id"], 0) + 1
    rows = []
    failed = failures(out)
    for article in articles if articles is not None else load_articles(out):
        row = asdict(article)
        del row["text"]
        row["status"] = failed.get(article.article_id, row["status"])
        row["n_entities"] = entities_per_article.get(article.article_id, 0)
        row["n_triples"] = triples_per_article.get(article.article_id, 0)
        rows.append(row)
    write_csv((target or out) / "articles.csv", ARTICLE_COLUMNS, rows, bom=bom)
    return rows


EXTRACT_STAGES = ("ingest", "annotate", "normalise", "relations", "write")


def run_extract(in_dir: Path, out: Path, models: dict[str, str | None] | None = None,
                bom: bool = True, max_bytes: int = DEFAULT_MAX_BYTES, per_article: bool = False,
                progress=None, max_chars: int = DEFAULT_MAX_CHARS) -> dict:
    """Every stage in turn; progress(stage) is called as each of EXTRACT_STAGES starts.

    The input and the configuration (KB, rules) are checked before OUT is touched; the
    stages then run in a staging folder inside OUT, and the new outputs replace the old
    ones only once all are written (write.publish). Any error or interruption before that
    leaves OUT as it was.
    """
    step = progress or (lambda stage: None)
    check_input(in_dir)
    check_config()
    created = not out.exists()
    try:
        staging = start_staging(out)
    except OSError:
        if created:
            remove_if_empty(out)
        raise
    published = False
    try:
        step("ingest")
        articles = run_ingest(in_dir, staging, max_bytes, max_chars)
        step("annotate")
        annotated = run_annotate(staging, models)
        step("normalise")
        run_normalise(staging)
        step("relations")
        triples = run_relations(staging)
        step("write")
        write_outputs(staging, staging, bom, per_article)
        failed = failures(staging)
        refused = publish(staging, out, WORK_FILES + ((ARTICLE_CSVS,) if per_article else ()))
        published = True
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if created and not published:
            remove_if_empty(out)
    warn_refused(refused)
    return {"articles": len(articles), "annotated": annotated, "triples": len(triples),
            "skipped": [(a.article_id, a.status) for a in articles if not a.ok]
            + sorted(failed.items())}


def remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass
