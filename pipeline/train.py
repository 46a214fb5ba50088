"""Train, evaluate and export the project's own spaCy NER models (en, it).

No pretrained spaCy model can be downloaded for this project, so we train a
small CPU pipeline (``tok2vec`` + ``ner``, no vectors) per language:

* English: CoNLL-2003 (train / val / test), labels PER, ORG, LOC, MISC.
* Italian: KIND Wikinews, EVALITA 2023 split (train / dev / test), labels
  PER, ORG, LOC.

The data live outside the repository (``../shared/data/ner``); everything
derived from them during training goes to ``build/`` (git-ignored). Only the
final model (``models/<lang>/``) and its test scores are kept.

Command line::

    python -m pipeline.train convert  --lang en
    python -m pipeline.train train    --lang en [--max-seconds 1500]
    python -m pipeline.train evaluate --lang en
    python -m pipeline.train all      --lang en      # the three above

Every step takes ``--help``. Set ``OMP_NUM_THREADS=1`` (and friends) to keep
training on one core.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import spacy
from spacy.language import Language
from spacy.tokens import Doc, DocBin
from spacy.training import Example
from spacy.vocab import Vocab

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = (ROOT.parent / "shared" / "data" / "ner").resolve()
BUILD_DIR = ROOT / "build" / "ner"
CONFIG_DIR = ROOT / "configs"
MODELS_DIR = ROOT / "models"

# A sentence is a list of (token, IOB tag) pairs.
Sentence = List[Tuple[str, str]]

FORMAT_CONLLU = "conllu"  # index<TAB>token<TAB>IOB, -DOCSTART- lines, blank line between sentences
FORMAT_TSV = "tsv"  # token<TAB>IOB, blank line between sentences (KIND)


@dataclass(frozen=True)
class LangSpec:
    """Where a language's data are and which labels its model keeps."""

    lang: str
    labels: Tuple[str, ...]
    fmt: str
    train: str
    dev: str
    test: str
    # Optional silver data (WikiNEuRal), added to train with ``--extra``.
    extra: Tuple[Tuple[str, str], ...] = field(default_factory=tuple)


LANGS: Dict[str, LangSpec] = {
    "en": LangSpec(
        lang="en",
        labels=("PER", "ORG", "LOC", "MISC"),
        fmt=FORMAT_CONLLU,
        train="en/conll2003-train.conllu",
        dev="en/conll2003-val.conllu",
        test="en/conll2003-test.conllu",
        extra=(("en/wikineural-val.conllu", FORMAT_CONLLU),),
    ),
    "it": LangSpec(
        lang="it",
        labels=("PER", "ORG", "LOC"),
        fmt=FORMAT_TSV,
        train="it/kind-wikinews-train.tsv",
        dev="it/kind-wikinews-dev.tsv",
        test="it/kind-wikinews-test.tsv",
        extra=(("it/wikineural-val.conllu", FORMAT_CONLLU),),
    ),
}

MODEL_META = {
    "en": {
        "name": "ner_calcio_en",
        "description": "tok2vec + ner trained from scratch on CoNLL-2003 (English, Reuters 1996); "
        "labels PER, ORG, LOC, MISC.",
        "license": "research use only (inherits the Reuters corpus terms of CoNLL-2003)",
        "sources": [
            {
                "name": "CoNLL-2003 (as carried in Babelscape/wikineural data/conll/en)",
                "url": "https://www.clips.uantwerpen.be/conll2003/ner/",
                "license": "research use (Reuters corpus terms)",
            }
        ],
    },
    "it": {
        "name": "ner_calcio_it",
        "description": "tok2vec + ner trained from scratch on KIND Wikinews (EVALITA 2023 NERMuD split); "
        "labels PER, ORG, LOC.",
        "license": "CC BY-NC 4.0 (inherits KIND's licence)",
        "sources": [
            {
                "name": "KIND - Kessler Italian Named-entities Dataset, Wikinews part (dhfbk/KIND)",
                "url": "https://github.com/dhfbk/KIND",
                "license": "CC BY-NC 4.0 (texts: Wikinews, CC BY 2.5)",
            }
        ],
    },
}
WIKINEURAL_SOURCE = {
    "name": "WikiNEuRal (Babelscape/wikineural), silver annotation",
    "url": "https://github.com/Babelscape/wikineural",
    "license": "CC BY-NC-SA 4.0",
}


# --------------------------------------------------------------------------- reading


def tab_rows(path: Path, columns: int, shape: str) -> Iterator[List[str] | None]:
    """The tab-separated rows of a file, None for each blank line (a sentence break)."""
    with open(path, encoding="utf8") as fh:
        for raw in fh:
            line = raw.rstrip("\n").rstrip("\r")
            if not line.strip():
                yield None
                continue
            cols = line.split("\t")
            if len(cols) < columns:
                raise ValueError(f"{path}: expected {shape}, got {line!r}")
            yield cols


def read_conllu(path: Path) -> List[List[Sentence]]:
    """Read ``index<TAB>token<TAB>IOB`` data.

    Returns documents (split at ``-DOCSTART-``), each a list of sentences.
    Files without ``-DOCSTART-`` give a single document.
    """
    docs: List[List[Sentence]] = [[]]
    sent: Sentence = []
    for cols in tab_rows(path, 3, "index<TAB>token<TAB>IOB"):
        if cols is None or cols[1] == "-DOCSTART-":
            if sent:
                docs[-1].append(sent)
                sent = []
            if cols is not None and docs[-1]:
                docs.append([])
            continue
        sent.append((cols[1], cols[2].strip()))
    if sent:
        docs[-1].append(sent)
    return [d for d in docs if d]


def read_tsv(path: Path) -> List[List[Sentence]]:
    """Read KIND ``token<TAB>IOB`` data (blank line between sentences), one document."""
    sents: List[Sentence] = []
    sent: Sentence = []
    for cols in tab_rows(path, 2, "token<TAB>IOB"):
        if cols is None:
            if sent:
                sents.append(sent)
                sent = []
            continue
        sent.append((cols[0], cols[-1].strip()))
    if sent:
        sents.append(sent)
    return [sents] if sents else []


def read_file(path: Path, fmt: str) -> List[List[Sentence]]:
    if fmt == FORMAT_CONLLU:
        return read_conllu(path)
    if fmt == FORMAT_TSV:
        return read_tsv(path)
    raise ValueError(f"unknown format {fmt!r}")


def clean_tags(tags: Sequence[str], labels: Iterable[str]) -> List[str]:
    """Normalise to valid IOB2: labels outside ``labels`` become ``O``;
    an ``I-X`` that does not continue an ``X`` entity becomes ``B-X``."""
    keep = set(labels)
    out: List[str] = []
    prev = "O"
    for tag in tags:
        if tag == "O" or "-" not in tag:
            out.append("O")
            prev = "O"
            continue
        prefix, label = tag.split("-", 1)
        if label not in keep or prefix not in ("B", "I", "E", "S", "L", "U"):
            out.append("O")
            prev = "O"
            continue
        if prefix in ("I", "E", "L") and prev[2:] != label:
            prefix = "B"
        elif prefix in ("E", "L"):
            prefix = "I"
        elif prefix in ("S", "U"):
            prefix = "B"
        tag = f"{prefix}-{label}"
        out.append(tag)
        prev = tag
    return out


def sentences_to_docs(
    vocab: Vocab,
    documents: List[List[Sentence]],
    labels: Iterable[str],
    group: int = 1,
) -> Iterator[Doc]:
    """Make one Doc per ``group`` consecutive sentences of the same document
    (``group=1``: one Doc per sentence). Sentence starts are kept on the Doc."""
    labels = tuple(labels)
    for document in documents:
        for i in range(0, len(document), max(group, 1)):
            chunk = document[i : i + max(group, 1)]
            words: List[str] = []
            tags: List[str] = []
            starts: List[bool] = []
            for sent in chunk:
                words.extend(t for t, _ in sent)
                tags.extend(clean_tags([tag for _, tag in sent], labels))
                starts.extend([True] + [False] * (len(sent) - 1))
            yield Doc(vocab, words=words, spaces=[True] * len(words), ents=tags, sent_starts=starts)


def convert_file(
    src: Path,
    dest: Path,
    lang: str,
    fmt: str,
    labels: Iterable[str],
    group: int = 1,
    extra: Sequence[Tuple[Path, str]] = (),
) -> Dict[str, int]:
    """Convert one data file (plus optional extra files) to a spaCy DocBin."""
    nlp = spacy.blank(lang)
    db = DocBin(store_user_data=False)
    n_sents = n_tokens = n_ents = 0
    for path, path_fmt in [(Path(src), fmt), *[(Path(p), f) for p, f in extra]]:
        documents = read_file(path, path_fmt)
        n_sents += sum(len(d) for d in documents)
        for doc in sentences_to_docs(nlp.vocab, documents, labels, group=group):
            n_tokens += len(doc)
            n_ents += len(doc.ents)
            db.add(doc)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    db.to_disk(dest)
    return {"docs": len(db), "sentences": n_sents, "tokens": n_tokens, "entities": n_ents}


def convert(
    lang: str,
    data_dir: Path = DATA_DIR,
    out_dir: Optional[Path] = None,
    group: int = 10,
    use_extra: bool = False,
    files: Optional[Dict[str, Path]] = None,
) -> Dict[str, Dict[str, int]]:
    """Write ``train.spacy``, ``dev.spacy`` (``group`` sentences per Doc) and
    ``test.spacy`` (one Doc per sentence) for ``lang`` into ``out_dir``.

    ``files`` may override the source file of a split (keys train/dev/test).
    """
    spec = LANGS[lang]
    out_dir = Path(out_dir) if out_dir else BUILD_DIR / lang
    data_dir = Path(data_dir)
    files = files or {}
    stats = {}
    for split in ("train", "dev", "test"):
        src = Path(files[split]) if split in files else data_dir / getattr(spec, split)
        extra = [(data_dir / p, f) for p, f in spec.extra] if (split == "train" and use_extra) else []
        stats[split] = convert_file(
            src,
            out_dir / f"{split}.spacy",
            lang,
            spec.fmt,
            spec.labels,
            group=1 if split == "test" else group,
            extra=extra,
        )
    (out_dir / "convert-stats.json").write_text(
        json.dumps({"lang": lang, "group": group, "extra": use_extra, "splits": stats}, indent=2) + "\n"
    )
    return stats


# --------------------------------------------------------------------------- training


class TimeLimitReached(Exception):
    """Raised by the ``calcio.ner_time_limit.v1`` callback to end training."""


@spacy.registry.callbacks("calcio.ner_time_limit.v1")
def make_time_limit(max_seconds: float = 0) -> Callable[[Language, Dict], None]:
    """``[training.before_update]`` callback that ends training after
    ``max_seconds`` of wall-clock time (0 = no limit). spaCy keeps
    ``model-best`` from the last evaluation and writes ``model-last`` when the
    exception passes through its training loop; :func:`train` catches it."""
    start: List[float] = []

    def before_update(nlp: Language, args: Dict) -> None:
        if not start:
            start.append(time.monotonic())
        if max_seconds and time.monotonic() - start[0] > max_seconds:
            raise TimeLimitReached(f"time limit of {max_seconds:.0f}s reached at step {args.get('step')}")

    return before_update


def default_config(lang: str) -> Path:
    return CONFIG_DIR / f"ner-{lang}.cfg"


def train(
    lang: str,
    config: Optional[Path] = None,
    corpus_dir: Optional[Path] = None,
    output_dir: Optional[Path] = None,
    max_seconds: Optional[float] = None,
    overrides: Optional[Dict[str, object]] = None,
) -> Dict[str, object]:
    """Run ``spacy train`` in-process. Returns a summary (time, stopped_by, best dir)."""
    from spacy.cli.train import train as spacy_train

    config = Path(config) if config else default_config(lang)
    corpus_dir = Path(corpus_dir) if corpus_dir else BUILD_DIR / lang
    output_dir = Path(output_dir) if output_dir else corpus_dir / "training"
    ovr: Dict[str, object] = {
        "paths.train": str(corpus_dir / "train.spacy"),
        "paths.dev": str(corpus_dir / "dev.spacy"),
    }
    if max_seconds is not None:
        ovr["training.before_update.max_seconds"] = float(max_seconds)
    ovr.update(overrides or {})
    if output_dir.exists():
        shutil.rmtree(output_dir)
    output_dir.mkdir(parents=True)
    t0 = time.monotonic()
    stopped_by = "max_steps/patience"
    try:
        spacy_train(config, output_dir, use_gpu=-1, overrides=ovr)
    except TimeLimitReached as exc:
        stopped_by = str(exc)
    elapsed = time.monotonic() - t0
    best = output_dir / "model-best"
    if not best.exists():
        raise RuntimeError(f"training wrote no {best}")
    summary = {
        "lang": lang,
        "config": str(config),
        "seconds": round(elapsed, 1),
        "stopped_by": stopped_by,
        "model_best": str(best),
    }
    (output_dir / "train-summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def export_model(lang: str, src: Path, dest: Path, extra_meta: Optional[Dict] = None) -> Path:
    """Copy a trained pipeline to ``dest`` with ``nlp.to_disk``, with meta and
    without training-only settings (corpus paths, time-limit callback)."""
    nlp = spacy.load(src)
    cfg = nlp.config
    cfg["training"]["before_update"] = None
    for key in ("train", "dev"):
        cfg["paths"][key] = None
    meta = dict(nlp.meta)
    meta.update(MODEL_META[lang])
    meta["version"] = "0.1.0"
    meta.update(extra_meta or {})
    nlp.meta.clear()
    nlp.meta.update(meta)
    dest = Path(dest)
    if dest.exists():
        # keep test scores etc. out of the way: the model dir is rebuilt
        shutil.rmtree(dest)
    nlp.to_disk(dest)
    return dest


# --------------------------------------------------------------------------- evaluation


def evaluate(
    model: Path,
    test_path: Path,
    lang: Optional[str] = None,
    out: Optional[Path] = None,
) -> Dict[str, object]:
    """Score ``model`` on a DocBin of gold sentences, each sentence on its own.

    Returns overall and per-label precision / recall / F1 (spaCy's Scorer)."""
    nlp = spacy.load(model)
    gold = list(DocBin().from_disk(test_path).get_docs(nlp.vocab))
    examples = []
    t0 = time.monotonic()
    preds = nlp.pipe((Doc(nlp.vocab, words=[t.text for t in d], spaces=[t.whitespace_ != "" for t in d]) for d in gold), batch_size=256)
    for pred, ref in zip(preds, gold):
        examples.append(Example(pred, ref))
    seconds = time.monotonic() - t0
    from spacy.scorer import Scorer

    scores = Scorer.score_spans(examples, "ents")
    n_tokens = sum(len(d) for d in gold)
    result = {
        "lang": lang or nlp.lang,
        "model": nlp.meta.get("name"),
        "test_file": str(test_path),
        "sentences": len(gold),
        "tokens": n_tokens,
        "words_per_second": round(n_tokens / seconds) if seconds else None,
        "ents_p": round(scores["ents_p"] or 0.0, 4),
        "ents_r": round(scores["ents_r"] or 0.0, 4),
        "ents_f": round(scores["ents_f"] or 0.0, 4),
        "ents_per_type": {
            label: {k: round(v, 4) for k, v in prf.items()}
            for label, prf in sorted((scores["ents_per_type"] or {}).items())
        },
    }
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(result, indent=2) + "\n")
    return result


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


# --------------------------------------------------------------------------- CLI


def _cmd_convert(args: argparse.Namespace) -> None:
    files = {k: getattr(args, k) for k in ("train", "dev", "test") if getattr(args, k)}
    stats = convert(args.lang, args.data_dir, args.out_dir, group=args.group, use_extra=args.extra, files=files)
    print(json.dumps(stats, indent=2))


def _cmd_train(args: argparse.Namespace) -> None:
    overrides = {}
    for item in args.set or []:
        key, _, value = item.partition("=")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value
    corpus_dir = args.corpus_dir or BUILD_DIR / args.lang
    summary = train(
        args.lang,
        config=args.config,
        corpus_dir=corpus_dir,
        output_dir=args.output_dir,
        max_seconds=args.max_seconds,
        overrides=overrides,
    )
    print(json.dumps(summary, indent=2))
    if args.export:
        conv = Path(corpus_dir) / "convert-stats.json"
        extra_meta = {"training": {"seconds": summary["seconds"], "stopped_by": summary["stopped_by"]}}
        if conv.exists() and json.loads(conv.read_text()).get("extra"):
            extra_meta["sources"] = MODEL_META[args.lang]["sources"] + [WIKINEURAL_SOURCE]
        dest = export_model(args.lang, Path(summary["model_best"]), args.export, extra_meta)
        print(f"exported {dest} ({dir_size(dest) / 1e6:.1f} MB)")


def _cmd_evaluate(args: argparse.Namespace) -> None:
    model = args.model or MODELS_DIR / args.lang
    test = args.test or BUILD_DIR / args.lang / "test.spacy"
    out = args.out if args.out else Path(model) / "test-scores.json"
    result = evaluate(model, test, lang=args.lang, out=out)
    print(json.dumps(result, indent=2))


def _cmd_all(args: argparse.Namespace) -> None:
    args.train = args.dev = args.test = None
    args.out_dir = args.corpus_dir
    _cmd_convert(args)
    _cmd_train(args)
    args.model = args.export
    args.test = Path(args.corpus_dir or BUILD_DIR / args.lang) / "test.spacy"
    args.out = None
    _cmd_evaluate(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipeline.train", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def add_lang(p: argparse.ArgumentParser) -> None:
        p.add_argument("--lang", choices=sorted(LANGS), required=True)

    def add_convert(p: argparse.ArgumentParser) -> None:
        p.add_argument("--data-dir", type=Path, default=DATA_DIR, help="default: %(default)s")
        p.add_argument("--group", type=int, default=10, help="sentences per training Doc (test: always 1)")
        p.add_argument("--extra", action="store_true", help="add WikiNEuRal silver sentences to train")

    def add_train(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", type=Path, help="default: configs/ner-<lang>.cfg")
        p.add_argument("--output-dir", type=Path, help="default: build/ner/<lang>/training")
        p.add_argument("--max-seconds", type=float, help="wall-clock training limit (overrides the config)")
        p.add_argument("--set", action="append", metavar="KEY=VALUE", help="config override, e.g. training.max_steps=500")
        p.add_argument("--export", type=Path, help="copy model-best here (e.g. models/en)")

    p = sub.add_parser("convert", help="convert the data to spaCy DocBin files")
    add_lang(p)
    add_convert(p)
    p.add_argument("--out-dir", type=Path, help="default: build/ner/<lang>")
    for split in ("train", "dev", "test"):
        p.add_argument(f"--{split}", type=Path, help=f"source file for {split} (default: the language's own)")
    p.set_defaults(func=_cmd_convert)

    p = sub.add_parser("train", help="train with spacy train")
    add_lang(p)
    p.add_argument("--corpus-dir", type=Path, help="dir with train.spacy/dev.spacy (default: build/ner/<lang>)")
    add_train(p)
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("evaluate", help="score a model on the test split, one sentence at a time")
    add_lang(p)
    p.add_argument("--model", type=Path, help="default: models/<lang>")
    p.add_argument("--test", type=Path, help="default: build/ner/<lang>/test.spacy")
    p.add_argument("--out", type=Path, help="default: <model>/test-scores.json")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("all", help="convert, train (exporting to models/<lang>) and evaluate")
    add_lang(p)
    add_convert(p)
    p.add_argument("--corpus-dir", type=Path, help="default: build/ner/<lang>")
    add_train(p)
    p.set_defaults(func=_cmd_all)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "all" and not args.export:
        args.export = MODELS_DIR / args.lang
    args.func(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
