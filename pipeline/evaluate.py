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

from pipeline import stages

ROOT = Path(__file__).resolve().parent.parent


CORPUS_PARTS = ("en", "it", "other")


def own_corpus(scratch: Path) -> Path:
    """Our annotated articles only (corpus/en, it, other), not rebuilt real texts beside them."""
    target = scratch / "corpus"
    for part in CORPUS_PARTS:
        if (ROOT / "corpus" / part).is_dir():
            shutil.copytree(ROOT / "corpus" / part, target / part)
    return target


def evaluations(shared: Path, scratch: Path) -> list[tuple[str, Path, list[Path]]]:
    """(name, input folder, gold files) for every gold-annotated corpus we can see."""
    found = [("corpus", own_corpus(scratch), [ROOT / "corpus" / "gold" / "triples.jsonl"]),
             ("seeds", shared / "seeds", [shared / "gold" / "seeds.jsonl"])]
    real = ROOT / "corpus" / "real"
    if real.is_dir() and (shared / "gold" / "dev.jsonl").exists():
        found.append(("dev", real, [shared / "gold" / "dev.jsonl"]))
    return [(n, i, g) for n, i, g in found if i.is_dir() and all(p.exists() for p in g)]


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
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        for name, in_dir, gold in evaluations(args.shared, Path(scratch)):
            out = args.out / name
            stages.run_extract(in_dir, out)
            print(f"== {name}: {gold[0].relative_to(gold[0].parents[2]) if len(gold[0].parents) > 2 else gold[0]}")
            print(score(out / "triples.csv", gold, args.shared, args.errors))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
