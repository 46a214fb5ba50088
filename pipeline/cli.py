"""Command line: `python -m pipeline <stage> ...` (or the `calcio-triples` script)."""
from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from pathlib import Path

from pipeline import stages
from pipeline.annotate import ModelLoadError
from pipeline.engine import EngineError
from pipeline.ingest import DEFAULT_MAX_BYTES, DEFAULT_MAX_CHARS
from pipeline.knowledge import KnowledgeBaseError
from pipeline.ruleset import RuleFileError
from pipeline.write import recover

DEFAULT_IN = Path("corpus")
DEFAULT_OUT = Path("outputs")

EXIT_OK, EXIT_SOME_FAILED, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_CODES = """exit status:
  0    done; every article processed or skipped with its reason (see articles.csv)
  1    done, outputs written, but some article failed (status "failed: ..." in articles.csv)
  2    nothing written: usage error, missing or empty input folder, OUT not writable,
       malformed rule or knowledge-base file (named with its line), missing stage input,
       a Dask scheduler that cannot be reached, a worker process that died
  130  interrupted (Ctrl-C or SIGTERM): the previous outputs in OUT are left as they were"""


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, not {text}")
    return value


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="calcio-triples", description=__doc__, epilog=EXIT_CODES,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = top.add_subparsers(dest="command", required=True)

    def command(name: str, help_text: str, needs_in: bool = False) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text, epilog=EXIT_CODES,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
        if needs_in:
            sub.add_argument("--in", dest="in_dir", type=Path, default=DEFAULT_IN,
                             help="folder of .txt articles, searched recursively (default: corpus)")
            sub.add_argument("--max-bytes", type=positive_int, default=DEFAULT_MAX_BYTES,
                             help="skip files larger than this many bytes, unread (default: %(default)s)")
            sub.add_argument("--max-chars", type=positive_int, default=DEFAULT_MAX_CHARS,
                             help="skip articles whose text is longer than this many characters "
                                  "(default: %(default)s)")
        sub.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: outputs)")
        return sub

    extract = command("extract", "run every stage: articles in, triples.csv out", needs_in=True)
    command("ingest", "read and decode the articles, detect their language", needs_in=True)
    annotate = command("annotate", "run the spaCy pipelines (NER + KB ruler) and save the docs")
    command("normalise", "canonical names, coreference and roles; writes entities.csv")
    command("relations", "apply the relation, status and attribution rules")
    write = command("write", "write triples.csv, articles.csv, summary.csv and report.html")
    extract.add_argument("--workers", type=positive_int, default=1,
                         help="processes (or Dask workers) running the NLP stages (default: 1)")
    extract.add_argument("--engine", choices=("local", "dask"), default="local",
                         help="local: this machine's processes; dask: Dask workers (default: local)")
    extract.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                         help="with --engine dask: an existing Dask scheduler (default: a local cluster)")
    for sub in (extract, annotate):
        sub.add_argument("--model-en", help="spaCy pipeline (path or package) for English NER")
        sub.add_argument("--model-it", help="spaCy pipeline (path or package) for Italian NER")
    for sub in (extract, write):
        sub.add_argument("--no-bom", action="store_true", help="write CSVs without a UTF-8 byte-order mark")
        sub.add_argument("--per-article", action="store_true",
                         help="also write one CSV per article under OUT/articles/ (same columns as triples.csv)")
    return top


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit status (EXIT_CODES)."""
    args = parser().parse_args(argv)
    models = {"en": getattr(args, "model_en", None), "it": getattr(args, "model_it", None)}
    try:
        if args.command == "extract":
            with terminate_as_interrupt(), progress_bar() as progress:
                summary = stages.run_extract(args.in_dir, args.out, models, not args.no_bom, args.max_bytes,
                                             per_article=args.per_article, progress=progress,
                                             max_chars=args.max_chars, workers=args.workers,
                                             engine=args.engine, scheduler=args.scheduler)
            print_summary(summary, args.out, args.per_article)
            failed = any(status.startswith("failed") for _, status in summary["skipped"])
            return EXIT_SOME_FAILED if failed else EXIT_OK
        recover(args.out)  # finish what an interrupted run left half published
        if args.command == "ingest":
            stages.run_ingest(args.in_dir, args.out, args.max_bytes, args.max_chars)
        elif args.command == "annotate":
            stages.run_annotate(args.out, models)
        elif args.command == "normalise":
            stages.run_normalise(args.out)
        elif args.command == "relations":
            stages.run_relations(args.out)
        elif args.command == "write":
            stages.run_write(args.out, not args.no_bom, per_article=args.per_article)
    except (stages.StageError, RuleFileError, KnowledgeBaseError, ModelLoadError, EngineError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as error:  # OUT is a file, read-only, on a full disk...
        print(f"error: {os_error_message(error, args.out)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted: the previous outputs are left as they were", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_OK


def os_error_message(error: OSError, out: Path) -> str:
    reason = error.strerror or str(error)
    if not error.filename:
        return f"cannot write the outputs under {out}: {reason}"
    where = Path(error.filename)
    if where == out or where.is_relative_to(out) or out.is_relative_to(where):
        return f"cannot write the outputs under {out}: {where}: {reason}"
    return f"{where}: {reason}"


@contextlib.contextmanager
def terminate_as_interrupt():
    """SIGTERM (a plain `kill`, a process manager stopping us) cleans up like Ctrl-C."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGTERM"):
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class progress_bar:
    """A bar over the extract stages on stderr, only when stderr is a terminal.

    Used as a context manager yielding the callback run_extract calls as each stage
    starts; the bar is cleared at the end so the summary stays the last, single line.
    """

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.bar = None

    def __enter__(self):
        isatty = getattr(self.stream, "isatty", None)
        if isatty and isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=len(stages.EXTRACT_STAGES), file=self.stream, leave=False, unit="stage",
                            bar_format="{desc:<10} {bar} {n_fmt}/{total_fmt} stages [{elapsed}]")
        return self.step

    def step(self, stage: str) -> None:
        if self.bar is None:
            return
        index = stages.EXTRACT_STAGES.index(stage) if stage in stages.EXTRACT_STAGES else self.bar.n
        self.bar.update(index - self.bar.n)
        self.bar.set_description_str(stage)

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            if exc[0] is None:
                self.bar.update(self.bar.total - self.bar.n)
            self.bar.close()


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def print_summary(summary: dict, out: Path, per_article: bool = False) -> None:
    """One line: articles read, per language, skipped with reasons, triples written, where."""
    per_language = ", ".join(f"{lang} {n}" for lang, n in summary["annotated"].items())
    skipped = sorted(summary["skipped"], key=lambda item: not item[1].startswith("failed"))  # failures first
    reasons = "; ".join(f"{one_line(aid)}: {one_line(status)}" for aid, status in skipped[:5])
    more = f" (+{len(skipped) - 5} more)" if len(skipped) > 5 else ""
    beside = "summary.csv, report.html" + (", articles/" if per_article else "")
    print(f"{summary['articles']} articles read ({per_language}); {len(skipped)} skipped"
          f"{': ' + reasons + more if skipped else ''}; {summary['triples']} triples written to "
          f"{out / 'triples.csv'} ({beside} beside it)")
