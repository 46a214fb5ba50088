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
import sys
from dataclasses import asdict
from pathlib import Path

import spacy

from pipeline.annotate import annotate_all, load_docs, save_docs
from pipeline.ingest import Article, ingest, DEFAULT_MAX_BYTES
from pipeline.language import SUPPORTED, assign_language
from pipeline.normalise import Normaliser, mention_rows
from pipeline.relations import RelationExtractor, Triple, merge
from pipeline.report import render_report
from pipeline.summary import SUMMARY_COLUMNS, summarise
from pipeline.write import TRIPLE_COLUMNS, atomic_write, read_csv, sort_rows, write_csv, write_per_article

ENTITY_COLUMNS = ["article_id", "text", "canonical", "type", "entity_id", "start", "end", "sentence", "component"]
ARTICLE_COLUMNS = ["article_id", "path", "date", "language", "language_prob", "status",
                   "n_entities", "n_triples", "sha256"]


class StageError(RuntimeError):
    """A stage that cannot run (missing input, unwritable output)."""


def work_dir(out: Path) -> Path:
    return out / "work"


def run_ingest(in_dir: Path, out: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> list[Article]:
    if not in_dir.is_dir():
        raise StageError(f"input folder {in_dir} does not exist or is not a folder")
    articles = [assign_language(a) for a in ingest(in_dir, max_bytes)]
    if not articles:
        raise StageError(f"input folder {in_dir} holds no .txt files")
    save_articles(articles, out)
    return articles


def save_articles(articles: list[Article], out: Path) -> None:
    lines = "".join(json.dumps(a.to_json(), ensure_ascii=False, sort_keys=True) + "\n" for a in articles)
    atomic_write(work_dir(out) / "articles.jsonl", lines)


def load_articles(out: Path) -> list[Article]:
    path = work_dir(out) / "articles.jsonl"
    if not path.exists():
        raise StageError(f"{path} missing: run the ingest stage first")
    with path.open(encoding="utf-8") as handle:
        return [Article(**json.loads(line)) for line in handle if line.strip()]


def run_annotate(out: Path, models: dict[str, str | None] | None = None) -> dict[str, int]:
    return annotate_all(load_articles(out), work_dir(out), models or {})


def guarded(stage: str, out: Path, step, doc):
    """Run one stage step on one doc; a failure is recorded for the manifest, the run goes on."""
    try:
        return step(doc)
    except Exception as error:  # noqa: BLE001 - one bad article must not stop the others
        article_id = doc.user_data.get("article_id", "")
        print(f"warning: {article_id}: {stage} failed: {type(error).__name__}: {error}", file=sys.stderr)
        with (work_dir(out) / "failures.jsonl").open("a", encoding="utf-8") as handle:
            handle.write(json.dumps({"article_id": article_id, "stage": stage,
                                     "error": f"{type(error).__name__}: {error}"}) + "\n")
        return None


def failures(out: Path) -> dict[str, str]:
    path = work_dir(out) / "failures.jsonl"
    if not path.exists():
        return {}
    with path.open(encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    return {r["article_id"]: f"failed: {r['stage']}: {r['error']}" for r in rows}


def run_normalise(out: Path) -> list[dict]:
    rows = []
    (work_dir(out) / "failures.jsonl").unlink(missing_ok=True)
    for lang in SUPPORTED:
        source = work_dir(out) / f"annotated-{lang}.spacy"
        target = work_dir(out) / f"normalised-{lang}.spacy"
        if not source.exists():
            target.unlink(missing_ok=True)
            continue
        nlp = spacy.blank(lang)
        normaliser = Normaliser(nlp)
        docs = [d for d in (guarded("normalise", out, normaliser, doc) for doc in load_docs(nlp, source)) if d]
        save_docs(docs, target)
        rows += [row for doc in docs for row in mention_rows(doc)]
    write_csv(out / "entities.csv", ENTITY_COLUMNS, rows)
    return rows


def run_relations(out: Path) -> list[dict]:
    rows = []
    for lang in SUPPORTED:
        source = work_dir(out) / f"normalised-{lang}.spacy"
        if not source.exists():
            continue
        nlp = spacy.blank(lang)
        extractor = RelationExtractor(nlp)
        for doc in load_docs(nlp, source):
            found = guarded("relations", out, extractor, doc)
            rows += [triple_row(doc, t) for t in merge(found or [])]
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
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def run_write(out: Path, bom: bool = True, per_article: bool = False) -> int:
    """triples.csv, articles.csv, summary.csv, report.html (and OUT/articles/*.csv)."""
    rows = load_triples(out)
    articles = load_articles(out)
    count = write_csv(out / "triples.csv", TRIPLE_COLUMNS, rows, bom=bom)
    manifest = write_manifest(out, rows, bom, articles)
    summary = summarise(rows)
    write_csv(out / "summary.csv", SUMMARY_COLUMNS, summary, bom=bom)
    if per_article:
        write_article_csvs(out, rows, manifest, bom)
    entities_csv = out / "entities.csv"
    entities = read_csv(entities_csv) if entities_csv.exists() else []
    if entities_csv.exists():
        with entities_csv.open("rb") as handle:
            has_bom = handle.read(3) == b"\xef\xbb\xbf"
        if has_bom != bom:  # written by normalise with a BOM: --no-bom holds for every CSV
            write_csv(entities_csv, ENTITY_COLUMNS, entities, bom=bom)
    texts = {a.article_id: a.text for a in articles}
    atomic_write(out / "report.html", render_report(manifest, texts, entities, rows, summary))
    return count


def write_article_csvs(out: Path, triples: list[dict], manifest: list[dict], bom: bool) -> dict[str, Path]:
    """OUT/articles/<article id>.csv for every article processed (status ok), same columns
    as triples.csv; an id that cannot be a safe file name is reported and left out."""
    ids = [row["article_id"] for row in manifest if row["status"] == "ok"]
    written, rejected = write_per_article(out / "articles", TRIPLE_COLUMNS, triples, ids, bom=bom)
    for article_id in rejected:
        print(f"warning: {article_id!r}: no per-article CSV (unsafe file name)", file=sys.stderr)
    return written


def write_manifest(out: Path, triples: list[dict], bom: bool,
                   articles: list[Article] | None = None) -> list[dict]:
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
    write_csv(out / "articles.csv", ARTICLE_COLUMNS, rows, bom=bom)
    return rows


EXTRACT_STAGES = ("ingest", "annotate", "normalise", "relations", "write")


def run_extract(in_dir: Path, out: Path, models: dict[str, str | None] | None = None,
                bom: bool = True, max_bytes: int = DEFAULT_MAX_BYTES, per_article: bool = False,
                progress=None) -> dict:
    """Every stage in turn; progress(stage) is called as each of EXTRACT_STAGES starts."""
    step = progress or (lambda stage: None)
    step("ingest")
    articles = run_ingest(in_dir, out, max_bytes)
    step("annotate")
    annotated = run_annotate(out, models)
    step("normalise")
    run_normalise(out)
    step("relations")
    triples = run_relations(out)
    step("write")
    run_write(out, bom, per_article)
    failed = failures(out)
    return {"articles": len(articles), "annotated": annotated, "triples": len(triples),
            "skipped": [(a.article_id, a.status) for a in articles if not a.ok]
            + sorted(failed.items())}
