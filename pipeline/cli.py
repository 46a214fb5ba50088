"""Command line: `python -m pipeline <stage> ...` (or the `calcio-triples` script)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipeline import stages
from pipeline.ingest import DEFAULT_MAX_BYTES
from pipeline.knowledge import KnowledgeBaseError
from pipeline.ruleset import RuleFileError

DEFAULT_IN = Path("corpus")
DEFAULT_OUT = Path("outputs")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="calcio-triples", description=__doc__)
    commands = top.add_subparsers(dest="command", required=True)

    def command(name: str, help_text: str, needs_in: bool = False) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        if needs_in:
            sub.add_argument("--in", dest="in_dir", type=Path, default=DEFAULT_IN,
                             help="folder of .txt articles, searched recursively (default: corpus)")
            sub.add_argument("--max-bytes", type=int, default=DEFAULT_MAX_BYTES,
                             help="skip files larger than this (default: %(default)s)")
        sub.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: outputs)")
        return sub

    extract = command("extract", "run every stage: articles in, triples.csv out", needs_in=True)
    command("ingest", "read and decode the articles, detect their language", needs_in=True)
    annotate = command("annotate", "run the spaCy pipelines (NER + KB ruler) and save the docs")
    command("normalise", "canonical names, coreference and roles; writes entities.csv")
    command("relations", "apply the relation, status and attribution rules")
    write = command("write", "write triples.csv and articles.csv")
    for sub in (extract, annotate):
        sub.add_argument("--model-en", help="spaCy pipeline (path or package) for English NER")
        sub.add_argument("--model-it", help="spaCy pipeline (path or package) for Italian NER")
    for sub in (extract, write):
        sub.add_argument("--no-bom", action="store_true", help="write CSVs without a UTF-8 byte-order mark")
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    models = {"en": getattr(args, "model_en", None), "it": getattr(args, "model_it", None)}
    try:
        if args.command == "extract":
            summary = stages.run_extract(args.in_dir, args.out, models, not args.no_bom, args.max_bytes)
            print_summary(summary, args.out)
            return 1 if any(status.startswith("failed") for _, status in summary["skipped"]) else 0
        if args.command == "ingest":
            stages.run_ingest(args.in_dir, args.out, args.max_bytes)
        elif args.command == "annotate":
            stages.run_annotate(args.out, models)
        elif args.command == "normalise":
            stages.run_normalise(args.out)
        elif args.command == "relations":
            stages.run_relations(args.out)
        elif args.command == "write":
            stages.run_write(args.out, not args.no_bom)
    except (stages.StageError, RuleFileError, KnowledgeBaseError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except PermissionError as error:
        print(f"error: cannot write {error.filename}: permission denied", file=sys.stderr)
        return 2
    return 0


def print_summary(summary: dict, out: Path) -> None:
    per_language = ", ".join(f"{lang} {n}" for lang, n in summary["annotated"].items())
    skipped = summary["skipped"]
    reasons = "; ".join(f"{aid}: {status}" for aid, status in skipped[:5])
    more = f" (+{len(skipped) - 5} more)" if len(skipped) > 5 else ""
    print(f"{summary['articles']} articles read ({per_language}); {len(skipped)} skipped"
          f"{': ' + reasons + more if skipped else ''}; {summary['triples']} triples written to "
          f"{out / 'triples.csv'}")
