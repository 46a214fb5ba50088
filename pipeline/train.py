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
    python -m pipeline.train retrain  --lang en [--extra corpus/ner]

``retrain`` fine-tunes the shipped model on our own annotated sentences
(``corpus/ner/<lang>.jsonl``) mixed with a replay sample of its original
training data, and replaces ``models/<lang>`` only if the test-split F1 holds.

Every step takes ``--help``. Set ``OMP_NUM_THREADS=1`` (and friends) to keep
training on one core; only one training runs at a time (``build/ner/training.lock``).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import random
import shutil
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import spacy
from spacy.language import Language
from spacy.tokens import Doc, DocBin, Span
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
    for key in ("train", "dev", "base_model"):  # base_model: only in a retrained pipeline
        if key in cfg["paths"]:
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


# --------------------------------------------------------------------------- our own sentences

EXTRA_DIR = ROOT / "corpus" / "ner"
RETRAIN_CONFIG = CONFIG_DIR / "ner-retrain.cfg"
RETRAIN_README = MODELS_DIR / "README.md"
README_MARKER = "<!-- retrain-ner: python -m pipeline.train retrain adds a row above this line -->"
LOCK_FILE = BUILD_DIR / "training.lock"
OWN_SOURCE = {
    "name": "calcio-triples: football-news sentences written and annotated for this project (corpus/ner)",
    "license": "ours (same terms as the repository)",
}
DATA_NAMES = {"en": "CoNLL-2003", "it": "KIND Wikinews"}


class OwnSentencesError(ValueError):
    """Problems in our JSONL sentences, each ``file:line: message``; nothing is trained."""

    def __init__(self, problems: Sequence[str]):
        super().__init__("\n".join(problems))
        self.problems = list(problems)


@dataclass
class OwnSentences:
    """Our annotated sentences for one language: to train on, and held out to score."""

    train_file: Path
    train: List[Doc]
    heldout_file: Optional[Path] = None
    heldout: List[Doc] = field(default_factory=list)


def own_files(extra_dir: Path, lang: str) -> Tuple[Path, Path]:
    """``<lang>.jsonl`` (required) and ``<lang>-heldout.jsonl`` (optional) in ``extra_dir``."""
    return Path(extra_dir) / f"{lang}.jsonl", Path(extra_dir) / f"{lang}-heldout.jsonl"


def tokens_over(doc: Doc, start: int, end: int) -> str:
    return " ".join(repr(t.text) for t in doc if t.idx < end and t.idx + len(t) > start)


def check_span(doc: Doc, span: Any, number: int, labels: Sequence[str]) -> Tuple[Optional[Span], Optional[str]]:
    """The entity a ``{"start", "end", "label"}`` object marks in ``doc``, or what is wrong with it."""
    where = f"span {number}"
    if not isinstance(span, dict) or set(span) != {"start", "end", "label"}:
        return None, f'{where}: expected {{"start": int, "end": int, "label": str}}, got {json.dumps(span, ensure_ascii=False)}'
    start, end, label = span["start"], span["end"], span["label"]
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (start, end)):
        return None, f"{where}: start and end must be integers, got {start!r} and {end!r}"
    if not 0 <= start < end <= len(doc.text):
        return None, f"{where} ({start}-{end}) is out of range: the text has {len(doc.text)} characters (0 <= start < end <= {len(doc.text)})"
    surface = doc.text[start:end]
    if label not in labels:
        return None, f"{where} {surface!r}: unknown label {label!r} (the {doc.lang_} model knows {', '.join(labels)})"
    entity = doc.char_span(start, end, label=label)
    if entity is None:
        return None, f"{where} {surface!r} ({start}-{end}) is not on token boundaries (tokens there: {tokens_over(doc, start, end)})"
    return entity, None


def overlaps(entities: List[Span]) -> List[str]:
    ordered = sorted(entities, key=lambda e: (e.start_char, e.end_char))
    return [
        f"spans {a.text!r} ({a.start_char}-{a.end_char}) and {b.text!r} ({b.start_char}-{b.end_char}) overlap"
        for a, b in pairwise(ordered)
        if b.start_char < a.end_char
    ]


def parse_sentence(line: str, nlp: Language, labels: Sequence[str]) -> Tuple[Optional[Doc], List[str]]:
    """One JSONL line as a Doc with its entities, or the problems found in it."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        return None, [f"not valid JSON: {exc.msg} (column {exc.colno})"]
    if not isinstance(obj, dict):
        return None, ['expected a JSON object {"text": ..., "spans": [...]}']
    problems = []
    unknown = sorted(set(obj) - {"text", "spans"})
    if unknown:
        problems.append(f"unknown key(s) {', '.join(map(repr, unknown))}: a line has only \"text\" and \"spans\"")
    text, spans = obj.get("text"), obj.get("spans")
    if not isinstance(text, str) or not text.strip():
        problems.append('"text" must be a non-empty string')
    if not isinstance(spans, list):
        problems.append('"spans" must be a list of {"start": int, "end": int, "label": str} objects')
    if problems:
        return None, problems
    doc = nlp.make_doc(text)
    entities = []
    for number, span in enumerate(spans, 1):
        entity, problem = check_span(doc, span, number, labels)
        if problem:
            problems.append(problem)
        else:
            entities.append(entity)
    problems += overlaps(entities)
    if problems:
        return None, problems
    doc.ents = sorted(entities, key=lambda e: e.start)
    return doc, []


def read_own_sentences(path: Path, nlp: Language, labels: Sequence[str]) -> Tuple[List[Tuple[int, Doc]], List[str]]:
    """The (line number, Doc) of every sentence of a JSONL file, and its problems as ``file:line: message``.

    Blank lines are skipped; a sentence that repeats an earlier line of the file is a problem."""
    try:
        text = Path(path).read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return [], [f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})"]
    except OSError as exc:
        return [], [f"{path}: cannot read ({exc.strerror})"]
    docs: List[Tuple[int, Doc]] = []
    problems: List[str] = []
    first_line: Dict[str, int] = {}
    for number, line in enumerate(text.split("\n"), 1):  # not splitlines(): U+2028 may sit inside a JSON string
        if not line.strip():
            continue
        doc, found = parse_sentence(line.rstrip("\r"), nlp, labels)
        problems += [f"{path}:{number}: {p}" for p in found]
        if doc is None:
            continue
        if doc.text in first_line:
            problems.append(f"{path}:{number}: the same text as line {first_line[doc.text]}")
            continue
        first_line[doc.text] = number
        docs.append((number, doc))
    return docs, problems


def load_own_sentences(lang: str, extra_dir: Path = EXTRA_DIR) -> OwnSentences:
    """Read and check ``<lang>.jsonl`` and ``<lang>-heldout.jsonl``; raise
    :class:`OwnSentencesError` with every problem (a held-out sentence that is also
    a training sentence is one)."""
    train_file, heldout_file = own_files(extra_dir, lang)
    if not train_file.is_file():
        raise OwnSentencesError([f"{train_file}: missing (our sentences to train on, one JSON object per line)"])
    nlp, labels = spacy.blank(lang), LANGS[lang].labels
    train, problems = read_own_sentences(train_file, nlp, labels)
    if not train and not problems:
        problems.append(f"{train_file}: no sentences")
    heldout: List[Tuple[int, Doc]] = []
    if heldout_file.is_file():
        heldout, more = read_own_sentences(heldout_file, nlp, labels)
        problems += more
        trained = {doc.text: number for number, doc in train}
        problems += [
            f"{heldout_file}:{number}: also in {train_file}:{trained[doc.text]}; a held-out sentence must not be trained on"
            for number, doc in heldout
            if doc.text in trained
        ]
    if problems:
        raise OwnSentencesError(problems)
    return OwnSentences(
        train_file=train_file,
        train=[doc for _, doc in train],
        heldout_file=heldout_file if heldout else None,
        heldout=[doc for _, doc in heldout],
    )


@dataclass(frozen=True)
class RetrainOptions:
    """How much to replay, how long to train, and when the new model is kept."""

    max_drop: float = 0.01  # replace only if the test-split F1 drops by less than this
    min_heldout_gain: float = 0.0  # ... and the held-out F1 rises by at least this
    replay: int = 6000  # sentences of the original training split mixed in
    repeat: int = 3  # each of our sentences is seen this many times per epoch
    dev_sentences: int = 500  # sentences of the original dev split, for spaCy's training log
    max_steps: Optional[int] = None  # None: the config's
    max_seconds: Optional[float] = None  # None: the config's
    seed: int = 0


def sample_sentences(path: Path, lang: str, n_sentences: int, seed: int, vocab: Vocab) -> List[Doc]:
    """About ``n_sentences`` sentences of a data file, as random training Docs of
    10 consecutive sentences (as :func:`convert` makes them)."""
    spec = LANGS[lang]
    docs = list(sentences_to_docs(vocab, read_file(path, spec.fmt), spec.labels, group=10))
    random.Random(seed).shuffle(docs)
    sample: List[Doc] = []
    count = 0
    for doc in docs:
        if count >= n_sentences:
            break
        sample.append(doc)
        count += sum(1 for _ in doc.sents)
    return sample


def write_docs(docs: Iterable[Doc], path: Path) -> int:
    db = DocBin(docs=docs, store_user_data=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    db.to_disk(path)
    return len(db)


def build_retrain_corpus(lang: str, own: OwnSentences, data_dir: Path, work_dir: Path, options: RetrainOptions) -> Dict[str, int]:
    """Write train.spacy (our sentences x repeat + replay), dev.spacy, test.spacy
    (one Doc per sentence) and heldout.spacy into ``work_dir``."""
    spec = LANGS[lang]
    vocab = spacy.blank(lang).vocab
    replay = sample_sentences(Path(data_dir) / spec.train, lang, options.replay, options.seed, vocab)
    dev = sample_sentences(Path(data_dir) / spec.dev, lang, options.dev_sentences, options.seed, vocab)
    write_docs(own.train * options.repeat + replay, work_dir / "train.spacy")
    write_docs(dev, work_dir / "dev.spacy")
    test = convert_file(Path(data_dir) / spec.test, work_dir / "test.spacy", lang, spec.fmt, spec.labels, group=1)
    if own.heldout:
        write_docs(own.heldout, work_dir / "heldout.spacy")
    return {
        "own_sentences": len(own.train),
        "own_entities": sum(len(d.ents) for d in own.train),
        "repeat": options.repeat,
        "replay_sentences": sum(1 for d in replay for _ in d.sents),
        "test_sentences": test["sentences"],
        "heldout_sentences": len(own.heldout),
    }


def compact_scores(result: Dict[str, Any]) -> Dict[str, Any]:
    per_type = result["ents_per_type"]
    return {
        "p": result["ents_p"], "r": result["ents_r"], "f": result["ents_f"],
        "per_type_f": {label: round(prf["f"], 4) for label, prf in per_type.items()},
    }


def score_model(model: Path, work_dir: Path, lang: str) -> Dict[str, Dict[str, Any]]:
    """Full test-split evaluation and held-out scores (if there is a held-out file)."""
    scores = {"test": evaluate(model, work_dir / "test.spacy", lang=lang)}
    if (work_dir / "heldout.spacy").exists():
        scores["heldout"] = evaluate(model, work_dir / "heldout.spacy", lang=lang)
    return scores


def decide(before: Dict[str, Any], after: Dict[str, Any], options: RetrainOptions) -> Tuple[bool, str]:
    """Keep the fine-tuned model only if the test-split F1 drops by less than
    ``max_drop`` and the held-out F1 (when scored) gains at least ``min_heldout_gain``."""
    drop = before["test"]["f"] - after["test"]["f"]
    test_part = f"test F1 {before['test']['f']:.3f} -> {after['test']['f']:.3f}"
    if drop >= options.max_drop:
        return False, f"{test_part}, a drop of {drop:.3f}: not less than --max-drop {options.max_drop:g}"
    test_part += f" ({after['test']['f'] - before['test']['f']:+.3f}, a drop must stay under {options.max_drop:g})"
    if "heldout" not in before:
        return True, f"{test_part}; no held-out sentences"
    gain = after["heldout"]["f"] - before["heldout"]["f"]
    held_part = f"held-out F1 {before['heldout']['f']:.3f} -> {after['heldout']['f']:.3f} ({gain:+.3f})"
    if gain < options.min_heldout_gain:
        return False, f"{test_part}, but {held_part}: less than --min-heldout-gain {options.min_heldout_gain:g}"
    return True, f"{test_part}, {held_part}"


def retrained_meta(base_model: Path, record: Dict[str, Any]) -> Dict[str, Any]:
    """Meta for the fine-tuned model: the base model's sources and training plus ours."""
    base = json.loads((Path(base_model) / "meta.json").read_text())
    sources = list(base.get("sources") or MODEL_META[record["lang"]]["sources"])
    if OWN_SOURCE not in sources:
        sources.append(OWN_SOURCE)
    meta = {"sources": sources, "retraining": {k: record[k] for k in ("date", "corpus", "training")}}
    if base.get("training"):
        meta["training"] = base["training"]
    return meta


def replace_model(candidate: Path, dest: Path) -> None:
    """Put ``candidate`` at ``dest``: copied beside it first, then renamed in, so
    ``dest`` is never a half-written model."""
    dest = Path(dest)
    staging = dest.parent / f".{dest.name}.new-{os.getpid()}"
    old = dest.parent / f".{dest.name}.old-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(candidate, staging)
    if dest.exists():
        os.replace(dest, old)
    os.replace(staging, dest)
    shutil.rmtree(old, ignore_errors=True)


def shown(path: Optional[Path]) -> str:
    """A path as recorded: relative to the repository when inside it."""
    if path is None:
        return ""
    path = Path(path).resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def history(model: Path) -> List[Dict[str, Any]]:
    path = Path(model) / "retrain-scores.json"
    return json.loads(path.read_text()) if path.exists() else []


def run_limits(options: RetrainOptions) -> Dict[str, float]:
    """The step and time limits a retraining runs with (the options', else the config's)."""
    cfg = spacy.util.load_config(RETRAIN_CONFIG)["training"]
    return {
        "max_steps": options.max_steps if options.max_steps is not None else cfg["max_steps"],
        "max_seconds": options.max_seconds if options.max_seconds is not None else cfg["before_update"]["max_seconds"],
    }


def retrain(
    lang: str,
    extra_dir: Path = EXTRA_DIR,
    base_model: Optional[Path] = None,
    dest: Optional[Path] = None,
    data_dir: Path = DATA_DIR,
    work_dir: Optional[Path] = None,
    options: RetrainOptions = RetrainOptions(),
    readme: Optional[Path] = RETRAIN_README,
    own: Optional[OwnSentences] = None,
) -> Dict[str, Any]:
    """Fine-tune ``base_model`` (default ``models/<lang>``) on our sentences plus a
    replay sample, score before and after, and put the result at ``dest`` (default:
    the base model) only if :func:`decide` says so. Returns the run's record, also
    written to ``work_dir/retrain-scores.json`` and appended to the new model's own
    ``retrain-scores.json``; the candidate stays in ``work_dir/model``."""
    base_model = Path(base_model or MODELS_DIR / lang)
    dest = Path(dest or base_model)
    work_dir = Path(work_dir or BUILD_DIR / lang / "retrain")
    own = own or load_own_sentences(lang, extra_dir)
    if not (base_model / "meta.json").is_file():
        raise FileNotFoundError(f"{base_model}: no model to fine-tune (make train-ner LANG={lang} trains one)")
    shutil.rmtree(work_dir, ignore_errors=True)
    corpus = build_retrain_corpus(lang, own, data_dir, work_dir, options)
    before = score_model(base_model, work_dir, lang)
    limits = run_limits(options)
    overrides: Dict[str, object] = {
        "nlp.lang": lang,
        "paths.base_model": str(base_model.resolve()),
        "system.seed": options.seed,
        "training.max_steps": limits["max_steps"],
    }
    run = train(lang, config=RETRAIN_CONFIG, corpus_dir=work_dir, output_dir=work_dir / "training",
                max_seconds=limits["max_seconds"], overrides=overrides)
    record: Dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"),
        "lang": lang,
        "base_model": shown(base_model),
        "corpus": {"train_file": shown(own.train_file), "heldout_file": shown(own.heldout_file), **corpus},
        "training": {"config": shown(RETRAIN_CONFIG), **limits, "seconds": run["seconds"], "stopped_by": run["stopped_by"]},
        "gate": {"max_drop": options.max_drop, "min_heldout_gain": options.min_heldout_gain},
        "before": {k: compact_scores(v) for k, v in before.items()},
    }
    candidate = export_model(lang, work_dir / "training" / "model-last", work_dir / "model", retrained_meta(base_model, record))
    after = score_model(candidate, work_dir, lang)
    record["after"] = {k: compact_scores(v) for k, v in after.items()}
    record["replaced"], record["reason"] = decide(record["before"], record["after"], options)
    (candidate / "test-scores.json").write_text(json.dumps(after["test"], indent=2) + "\n")
    (candidate / "retrain-scores.json").write_text(json.dumps(history(base_model) + [record], indent=2) + "\n")
    if record["replaced"]:
        replace_model(candidate, dest)
    (work_dir / "retrain-scores.json").write_text(json.dumps(record, indent=2) + "\n")
    if readme:
        add_readme_row(Path(readme), record)
    return record


def how_stopped(training: Dict[str, Any]) -> str:
    """"600 steps, 45 s" or "time limit of 240s reached at step 512, 241 s"."""
    stop = training["stopped_by"] if training["stopped_by"].startswith("time") else f"{training['max_steps']} steps"
    return f"{stop}, {training['seconds']:.0f} s"


def format_report(record: Dict[str, Any], dest: Path) -> str:
    """The before/after table of one run, for the terminal."""
    c, t = record["corpus"], record["training"]
    lines = [
        (
            f"retrain {record['lang']}: {c['own_sentences']} own sentences ({c['own_entities']} entities) x{c['repeat']}"
            f" + {c['replay_sentences']} replayed {DATA_NAMES[record['lang']]} sentences;"
            f" {how_stopped(t)}"
        ),
        f"{'score':<34}{'before':>8}{'after':>8}{'change':>8}",
    ]
    titles = {"test": f"test split F1 ({c['test_sentences']} sentences)",
              "heldout": f"held-out F1 ({c['heldout_sentences']} sentences)"}
    for part, title in titles.items():
        if part not in record["before"]:
            continue
        b, a = record["before"][part], record["after"][part]
        rows = [(title, b["f"], a["f"])] + [
            (f"  {label}", b["per_type_f"].get(label, 0.0), a["per_type_f"].get(label, 0.0))
            for label in sorted(set(b["per_type_f"]) | set(a["per_type_f"]))
        ]
        lines += [f"{name:<34}{x:>8.3f}{y:>8.3f}{y - x:>+8.3f}" for name, x, y in rows]
    verdict = f"replaced {shown(dest)}" if record["replaced"] else f"kept the old model in {shown(dest)}"
    lines.append(f"{verdict}: {record['reason']}")
    return "\n".join(lines)


def readme_row(record: Dict[str, Any]) -> str:
    c, t = record["corpus"], record["training"]
    b, a = record["before"], record["after"]
    held = f"{b['heldout']['f']:.3f} → {a['heldout']['f']:.3f}" if "heldout" in b else "-"
    decision = "replaced" if record["replaced"] else "kept old model"
    return (
        f"| {record['date']} | {record['lang']} | {c['own_sentences']} (x{c['repeat']}) + {c['replay_sentences']} replayed"
        f" | {how_stopped(t)} | {b['test']['f']:.3f} → {a['test']['f']:.3f}"
        f" | {held} ({c['heldout_sentences']}) | {decision} |"
    )


def add_readme_row(readme: Path, record: Dict[str, Any]) -> None:
    """Add the run's row to the retraining table of ``readme`` (above its marker line)."""
    if not readme.exists() or README_MARKER not in readme.read_text():
        print(f"warning: {readme} has no line {README_MARKER!r}; no row added", file=sys.stderr)
        return
    text = readme.read_text()
    readme.write_text(text.replace(README_MARKER, readme_row(record) + "\n" + README_MARKER, 1))


@contextmanager
def training_lock(path: Path = LOCK_FILE) -> Iterator[None]:
    """One training at a time on this shared machine: fail at once if another holds the lock."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError(f"another training is running (it holds {path}); wait for it to end") from None
        yield



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
    with training_lock():
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


def _cmd_retrain(args: argparse.Namespace) -> int:
    """Check every language's sentences first (nothing is trained if any is bad), then retrain each."""
    langs = sorted(LANGS) if "all" in args.lang else list(dict.fromkeys(args.lang))
    if (args.model or args.work_dir) and len(langs) > 1:
        print("--model and --work-dir need a single --lang", file=sys.stderr)
        return 2
    own: Dict[str, OwnSentences] = {}
    problems: List[str] = []
    for lang in langs:
        try:
            own[lang] = load_own_sentences(lang, args.extra)
        except OwnSentencesError as exc:
            problems += exc.problems
    if problems:
        print("\n".join(problems), file=sys.stderr)
        print(f"nothing trained: {len(problems)} problem(s) in our sentences", file=sys.stderr)
        return 2
    for lang, sentences in own.items():
        heldout = f", {len(sentences.heldout)} held out" if sentences.heldout else ", no held-out file"
        print(f"{shown(sentences.train_file)}: {len(sentences.train)} sentences ok{heldout}")
    if args.check_only:
        return 0
    options = RetrainOptions(max_drop=args.max_drop, min_heldout_gain=args.min_heldout_gain, replay=args.replay,
                             repeat=args.repeat, max_steps=args.max_steps, max_seconds=args.max_seconds)
    reports = []
    with training_lock():
        for lang in langs:
            model = Path(args.model or MODELS_DIR / lang)
            record = retrain(lang, base_model=model, data_dir=args.data_dir, work_dir=args.work_dir,
                             options=options, readme=None if args.no_readme else RETRAIN_README, own=own[lang])
            reports.append(format_report(record, model))
            print(reports[-1])
    if len(reports) > 1:
        print("\n\n".join(["summary:", *reports]))
    return 0


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

    defaults = RetrainOptions()
    p = sub.add_parser(
        "retrain",
        help="fine-tune models/<lang> on our own sentences (corpus/ner) plus a replay sample; "
        "replace it only if the test-split F1 holds",
        description="Checks <extra>/<lang>.jsonl and <extra>/<lang>-heldout.jsonl (nothing is trained if any "
        "line is bad), fine-tunes the model on our sentences mixed with a replay sample of its original "
        "training split (configs/ner-retrain.cfg), scores it before and after on the test split and on "
        "the held-out sentences, and replaces the model only if the test F1 drops by less than --max-drop "
        "and the held-out F1 gains at least --min-heldout-gain. Exit status 2: bad sentences or usage.",
    )
    p.add_argument("--lang", action="append", choices=[*sorted(LANGS), "all"], required=True,
                   help="repeatable; all = en and it")
    p.add_argument("--extra", type=Path, default=EXTRA_DIR, help="folder with <lang>.jsonl and <lang>-heldout.jsonl (default: %(default)s)")
    p.add_argument("--data-dir", type=Path, default=DATA_DIR, help="the original data, for replay and the test split (default: %(default)s)")
    p.add_argument("--model", type=Path, help="model to fine-tune and replace (default: models/<lang>)")
    p.add_argument("--work-dir", type=Path, help="default: build/ner/<lang>/retrain")
    p.add_argument("--max-drop", type=float, default=defaults.max_drop, help="largest test F1 drop still accepted, exclusive (default: %(default)s)")
    p.add_argument("--min-heldout-gain", type=float, default=defaults.min_heldout_gain, help="smallest held-out F1 gain accepted (default: %(default)s)")
    p.add_argument("--replay", type=int, default=defaults.replay, help="original training sentences mixed in (default: %(default)s)")
    p.add_argument("--repeat", type=int, default=defaults.repeat, help="copies of each of our sentences (default: %(default)s)")
    p.add_argument("--max-steps", type=int, help="training steps (default: the config's)")
    p.add_argument("--max-seconds", type=float, help="wall-clock limit (default: the config's)")
    p.add_argument("--no-readme", action="store_true", help="do not add a row to models/README.md")
    p.add_argument("--check-only", action="store_true", help="only check the JSONL files")
    p.set_defaults(func=_cmd_retrain)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "all" and not args.export:
        args.export = MODELS_DIR / args.lang
    try:
        return args.func(args) or 0
    except (RuntimeError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
