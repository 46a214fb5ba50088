"""`make evaluate`: run the pipeline on our corpus and on the seeds, print the scorer's tables.

The scorer is the project's contract (`../shared/tools/score.py`); this only runs it.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import csv
import json

from pipeline import rule_report, stages
from pipeline.ingest import decode, split_date_header

ROOT = Path(__file__).resolve().parent.parent


CORPUS_PARTS = ("en", "it", "other")


def own_corpus(scratch: Path) -> Path:
    """Our annotated articles only (corpus/en, it, other), not rebuilt real texts beside them."""
    target = scratch / "corpus"
    for part in CORPUS_PARTS:
        if (ROOT / "corpus" / part).is_dir():
            shutil.copytree(ROOT / "corpus" / part, target / part)
    return target


ENTITY_GOLD = {"corpus": ROOT / "corpus" / "gold" / "entities.jsonl",
               "seeds": ROOT / "corpus" / "gold" / "seed-entities.jsonl"}


def evaluations(shared: Path, scratch: Path) -> list[tuple[str, Path, list[Path]]]:
    """(name, input folder, gold files) for every gold-annotated corpus we can see."""
    found = [("corpus", own_corpus(scratch), [ROOT / "corpus" / "gold" / "triples.jsonl"]),
             ("seeds", shared / "seeds", [shared / "gold" / "seeds.jsonl"])]
    real = ROOT / "corpus" / "real"
    if real.is_dir() and (shared / "gold" / "dev.jsonl").exists():
        found.append(("dev", real, [shared / "gold" / "dev.jsonl"]))
    return [(n, i, g) for n, i, g in found if i.is_dir() and all(p.exists() for p in g)]


ENTITY_TYPES = {"COACH": "PER", "PLAYER": "PER", "PERSON": "PER", "CLUB": "CLUB", "MEDIA": "MEDIA"}


def gold_entity_spans(gold: Path, articles: Path) -> set[tuple[str, int, int, str]]:
    """(article, start, end, label) of every gold mention, offsets in the text after the header.

    A gold line gives the surface text and its occurrence among all `str.find` matches of
    that text in the article file (see corpus/README.md).
    """
    spans, bodies = set(), {}
    with gold.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            row = json.loads(line)
            article = row["article"]
            if article not in bodies:
                raw = decode((articles / f"{article}.txt").read_bytes())[0]
                body = split_date_header(raw)[1]
                bodies[article] = (raw, raw.index(body[:40]) if body.strip() else 0)
            raw, offset = bodies[article]
            position = -1
            for _ in range(int(row.get("occurrence", 1))):
                position = raw.find(row["text"], position + 1)
            if position >= 0:
                spans.add((article, position - offset, position - offset + len(row["text"]), row["label"]))
    return spans


def predicted_entity_spans(entities_csv: Path, articles: set[str]) -> set[tuple[str, int, int, str]]:
    """Named mentions the annotate + normalise stages found (descriptions and pronouns aside)."""
    with entities_csv.open(encoding="utf-8-sig", newline="") as handle:
        return {(r["article_id"], int(r["start"]), int(r["end"]), ENTITY_TYPES[r["type"]])
                for r in csv.DictReader(handle)
                if r["article_id"] in articles and r["type"] in ENTITY_TYPES and r["component"] != "coreference"}


def processed_articles(manifest: Path) -> set[str]:
    """Articles the pipeline annotated: other languages are reported, not annotated."""
    with manifest.open(encoding="utf-8-sig", newline="") as handle:
        return {r["article_id"] for r in csv.DictReader(handle) if r["status"] == "ok"}


def entity_table(gold: set, predicted: set) -> str:
    """Precision and recall per entity type, exact spans."""
    lines = [f"{'entities':24} {'gold':>5} {'pred':>5} {'tp':>4} {'P':>6} {'R':>6} {'F1':>6}"]
    for label in ("PER", "CLUB", "MEDIA"):
        g = {s for s in gold if s[3] == label}
        p = {s for s in predicted if s[3] == label}
        tp = len(g & p)
        prec = tp / len(p) if p else 0.0
        rec = tp / len(g) if g else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        lines.append(f"{label:24} {len(g):5} {len(p):5} {tp:4} {prec:6.3f} {rec:6.3f} {f1:6.3f}")
    return "\n".join(lines)


def score(pred: Path, gold: list[Path], shared: Path, errors: bool) -> str:
    command = [sys.executable, str(shared / "tools" / "score.py"), str(pred), *map(str, gold)]
    if errors:
        command.append("--errors")
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "evaluate")
    parser.add_argument("--errors", action="store_true", help="list missed and spurious triples")
    parser.add_argument("--no-rules", action="store_true", help="skip the per-rule report")
    args = parser.parse_args(argv)
    scorer = rule_report.load_scorer(args.shared)
    with tempfile.TemporaryDirectory() as scratch:
        for name, in_dir, gold in evaluations(args.shared, Path(scratch)):
            out = args.out / name
            previous = rule_report.read_rows(out / "triples.csv")
            stages.run_extract(in_dir, out)
            print(f"== {name}: {gold[0].relative_to(gold[0].parents[2]) if len(gold[0].parents) > 2 else gold[0]}")
            print(score(out / "triples.csv", gold, args.shared, args.errors))
            entity_gold = ENTITY_GOLD.get(name)
            if entity_gold and entity_gold.exists():
                annotated = processed_articles(out / "articles.csv")
                expected = {span for span in gold_entity_spans(entity_gold, in_dir) if span[0] in annotated}
                found = predicted_entity_spans(out / "entities.csv", {a for a, *_ in expected})
                print(entity_table(expected, found) + "\n")
            if not args.no_rules:
                rows = rule_report.read_rows(out / "triples.csv")
                verdicts = rule_report.judge(rows, gold, scorer)
                print(rule_report.rule_table(rows, verdicts) + "\n")
                print(rule_report.changes(previous, rows, verdicts) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
