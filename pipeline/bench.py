"""`make bench`: speed and memory of the whole pipeline, measured on a corpus of our own.

1. corpus: N articles (default 5,000, half English, half Italian, about 500 words each)
   recombined from the paragraphs of our articles in corpus/en and corpus/it, with a date
   header like theirs; deterministic for a seed, written once under OUT/corpus-<N>/.
2. runs: each one `python -m pipeline extract` in a fresh process, timed, with the peak
   RSS of its process tree sampled (psutil) and its largest process taken from the kernel
   (wait4): cold with 1 (the fastest of --repeats runs) and with 2 processes, warm (the
   same folder again), after a rule edit (a copy of the rules with one description
   changed, through $CALCIO_RULES_DIR), and cold on N/10 articles for the memory
   comparison. The run record OUT/work/run.json gives each stage's busy seconds and what
   it took from the cache.
3. ceilings, in this process on the same texts: the spaCy tokenizer alone (no spaCy
   pipeline can be faster) and our NER model alone (tok2vec + ner), same batch size; and,
   to tell the annotate stage's own costs from the rest, the whole annotate pipeline
   (the NER and our components) run the same way, without the stage's files.
4. OUT/bench.json holds every figure; OUT/bench.txt the table, also printed, with each
   target PASS or FAIL (n/a when a run could not measure it), and the cold run's time
   beyond the NER model alone split into its parts against what the 70% target allows.
   --from OUT/bench.json rebuilds them from an earlier run's figures.

Exit status: 0 every target measured passed, 1 some target failed, 2 the bench could not run.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import psutil
import spacy
import yaml
from spacy.language import Language

from pipeline.annotate import BATCH_SIZE, load_pipeline
from pipeline.cli import positive_int
from pipeline.ingest import read_article
from pipeline.nlp import keep_freed_memory, load_model, model_setting, single_blas_thread
from pipeline.ruleset import RULES_DIR, load_yaml

REPO = Path(__file__).resolve().parent.parent
SOURCE = REPO / "corpus"
DEFAULT_OUT = REPO / "outputs" / "bench"
LANGUAGES = ("en", "it")
STAGES = ("ingest", "language", "annotate", "normalise", "relations", "write")
CACHED_STAGES = ("language", "annotate", "normalise", "relations")  # ingest reads every file, write writes all
OUTPUT_FILES = ("triples.csv", "entities.csv", "articles.csv")
RULES_ENV = "CALCIO_RULES_DIR"
GENERATOR_VERSION = 1
FIRST_DATE, DATE_SPAN_DAYS = date(2025, 7, 1), 365
MONTH_PRECISION_SHARE = 0.05
MAX_DRAWS = 100  # attempts at an article unlike the ones before
PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n+")
SAMPLE_SECONDS = 0.2
MB = 1_000_000
MICRO = 1_000_000  # microseconds per second
CHECKOUT_PARTS = ("pipeline", "models")  # what a change to during the bench makes runs incomparable

# The targets of the issue "Speed and scale".
MIN_WORDS_PER_S = 10_000
MIN_SHARE_OF_NER = 0.70
SPEEDUP_PER_PROCESS = 0.85  # 2 processes: at least 1.7 times one
MAX_PEAK_RSS_MB = 1_500
MAX_RSS_GROWTH = 0.10
MAX_WARM_SHARE = 0.10


class BenchError(RuntimeError):
    """The bench cannot go on: no source articles, a run that ended in error..."""


# ------------------------------------------------------------------ synthetic corpus
@dataclass(frozen=True)
class Paragraph:
    source: str  # article id it was taken from
    text: str
    words: int


@dataclass
class Pool:
    headlines: list[Paragraph]
    paragraphs: list[Paragraph]


def split_paragraphs(text: str) -> list[str]:
    return [p.strip() for p in PARAGRAPH_BREAK.split(text.strip()) if p.strip()]


def load_pools(source: Path = SOURCE) -> dict[str, Pool]:
    """Headlines (first paragraphs) and body paragraphs of source/<lang>/*.txt, per language."""
    pools = {}
    for lang in LANGUAGES:
        headlines, paragraphs = [], []
        for path in sorted((source / lang).glob("*.txt")):
            article = read_article(path, source)
            parts = split_paragraphs(article.text) if article.ok else []
            if len(parts) < 2:
                continue
            head, *body = (Paragraph(article.article_id, p, len(p.split())) for p in parts)
            headlines.append(head)
            paragraphs += body
        if len(headlines) < 2:
            raise BenchError(f"{source / lang}: need at least two articles with a headline and a body to recombine")
        pools[lang] = Pool(headlines, paragraphs)
    return pools


def compose(pool: Pool, rng: random.Random, words: int) -> str:
    """A headline and body paragraphs drawn from different articles, about `words` words
    (80-120%). Two neighbouring parts never come from the same article, so no article of
    ours is ever copied whole."""
    headline = rng.choice(pool.headlines)
    target = rng.randint(int(words * 0.8), int(words * 1.2))
    body: list[Paragraph] = []
    total, previous = headline.words, headline.source
    while True:
        candidates = [p for p in pool.paragraphs if p.source != previous and p not in body]
        if not candidates:
            break
        paragraph = rng.choice(candidates)
        if body and total + paragraph.words / 2 > target:
            break
        body.append(paragraph)
        total, previous = total + paragraph.words, paragraph.source
    return "\n\n".join([headline.text, *(p.text for p in body)]) + "\n"


def date_header(rng: random.Random, text: str) -> str:
    """' date YYYY-MM-DD' (sometimes month precision) on its own line or before the headline."""
    day = FIRST_DATE + timedelta(days=rng.randrange(DATE_SPAN_DAYS))
    stamp = day.strftime("%Y-%m") if rng.random() < MONTH_PRECISION_SHARE else day.isoformat()
    separator = rng.choice(("\n", " "))
    return f" date {stamp}{separator}{text}"


def generate(articles: int, words: int, seed: int, pools: dict[str, Pool]) -> Iterator[tuple[str, str, str]]:
    """(language, relative path, file text) of each synthetic article, alternating languages.

    Article i depends only on the seed, i and the articles before it (a text drawn twice is
    drawn again), so a smaller corpus is the start of a larger one."""
    seen: set[str] = set()
    for index in range(articles):
        lang = LANGUAGES[index % len(LANGUAGES)]
        rng = random.Random(f"{seed}:{index}")
        text = next((t for t in (compose(pools[lang], rng, words) for _ in range(MAX_DRAWS)) if t not in seen), None)
        if text is None:
            raise BenchError(f"{articles} different {lang} articles of {words} words cannot be made "
                             f"from these {len(pools[lang].headlines)} source articles")
        seen.add(text)
        yield lang, f"{lang}/{lang}_{index + 1:05d}.txt", date_header(rng, text)


def source_fingerprint(source: Path) -> str:
    digest = hashlib.sha256()
    for lang in LANGUAGES:
        for path in sorted((source / lang).glob("*.txt")):
            digest.update(f"{lang}/{path.name}\0".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def build_corpus(out: Path, articles: int, words: int = 500, seed: int = 0, source: Path = SOURCE) -> dict:
    """OUT/corpus-<articles>/<lang>/*.txt and its description corpus.json; kept when a
    corpus of the same parameters and sources is already there."""
    folder = out / f"corpus-{articles}"
    params = {"articles": articles, "words": words, "seed": seed, "version": GENERATOR_VERSION,
              "sources": source_fingerprint(source)}
    manifest = folder / "corpus.json"
    if manifest.exists():
        info = json.loads(manifest.read_text(encoding="utf-8"))
        if info.get("params") == params and len(list(folder.rglob("*.txt"))) == articles:
            return info
    staging = out / f".corpus-{articles}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    per_language = {lang: {"articles": 0, "words": 0} for lang in LANGUAGES}
    for lang, relative, text in generate(articles, words, seed, load_pools(source)):
        path = staging / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        per_language[lang]["articles"] += 1
        per_language[lang]["words"] += len(read_article(path, staging).text.split())
    info = {"path": str(folder), "articles": articles,
            "words": sum(n["words"] for n in per_language.values()),
            "languages": per_language, "params": params}
    (staging / "corpus.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)
    return info


# ------------------------------------------------------------------ measured runs
class TreeSampler(threading.Thread):
    """Every `interval` seconds, the memory of a process and all its descendants: the peak
    of their RSS summed and of the largest one, and the peak of their PSS summed (pages
    shared between processes counted once; the RSS sum counts them in each)."""

    def __init__(self, pid: int, interval: float = SAMPLE_SECONDS):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.stopped = threading.Event()
        self.peak_tree = self.peak_process = self.peak_pss_tree = 0
        self.pids: set[int] = set()

    def run(self) -> None:
        try:
            root = psutil.Process(self.pid)
        except psutil.Error:
            return
        while not self.stopped.is_set():
            try:
                tree = [root, *root.children(recursive=True)]
            except psutil.Error:  # the run has ended
                return
            sizes = [size for size in map(self.memory, tree) if size]
            self.pids.update(p.pid for p in tree)
            self.peak_tree = max(self.peak_tree, sum(rss for rss, _ in sizes))
            self.peak_pss_tree = max(self.peak_pss_tree, sum(pss for _, pss in sizes))
            self.peak_process = max(self.peak_process, *(rss for rss, _ in sizes), 0)
            self.stopped.wait(self.interval)

    @staticmethod
    def memory(process: psutil.Process) -> tuple[int, int] | None:
        """(RSS, PSS) of a process; PSS is RSS where the system does not give it."""
        try:
            info = process.memory_full_info()
        except psutil.Error:  # ended between listing and reading
            return None
        return info.rss, getattr(info, "pss", info.rss)


def run_measured(command: list[str], log: Path, env: dict[str, str] | None = None) -> dict:
    """Run command (output to log); wall seconds, exit status and peak RSS of its tree.

    The largest single process comes from the kernel (wait4's ru_maxrss covers the child
    and every descendant it waited for), so a peak between two samples is not missed."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as handle:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, cwd=REPO, env=env)
        sampler = TreeSampler(process.pid)
        sampler.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        except BaseException:
            process.kill()
            process.wait()
            raise
        finally:
            sampler.stopped.set()
        seconds = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        sampler.join()
    kernel_peak = usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024)
    peak_process = max(sampler.peak_process, kernel_peak)
    return {"seconds": seconds, "exit": process.returncode, "processes": len(sampler.pids),
            "peak_rss_process_mb": peak_process / MB,
            "peak_rss_tree_mb": max(sampler.peak_tree, peak_process) / MB,
            "peak_pss_tree_mb": sampler.peak_pss_tree / MB}


def python_output(code: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                          check=False)
    return done.stdout.strip()


def supports_workers() -> bool:
    done = subprocess.run([sys.executable, "-m", "pipeline", "extract", "--help"], cwd=REPO,
                          capture_output=True, text=True, check=False)
    return "--workers" in done.stdout


def supports_rules_dir(rules: Path) -> bool:
    """Whether the pipeline reads its rules from $CALCIO_RULES_DIR."""
    env = {**os.environ, RULES_ENV: str(rules)}
    found = python_output("from pipeline.ruleset import RULES_DIR; print(RULES_DIR)", env)
    return bool(found) and Path(found).resolve() == rules.resolve()


def edited_rules(target: Path) -> Path:
    """A copy of the pipeline's rules in which each language's first relation rule has a
    new description: a real edit of relations.yml that cannot change any triple."""
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(RULES_DIR, target)
    for lang in LANGUAGES:
        path = target / lang / "relations.yml"
        rules = load_yaml(path)
        rules[0]["description"] = f"{rules[0].get('description', '')} (edited by make bench)"
        path.write_text(yaml.safe_dump(rules, allow_unicode=True, sort_keys=False), encoding="utf-8")
        if load_yaml(path) != rules:
            raise BenchError(f"{path}: the edited rules do not read back the same")
    return target


def file_hashes(out: Path) -> dict[str, str]:
    return {name: hashlib.sha256((out / name).read_bytes()).hexdigest()
            for name in OUTPUT_FILES if (out / name).exists()}


def stamp(path: Path) -> tuple[int, int] | None:
    """Identity of a file's current version: outputs are replaced, never rewritten in place."""
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_ino, info.st_mtime_ns


def run_record(path: Path, before: tuple[int, int] | None) -> dict | None:
    """OUT/work/run.json when this run wrote it (the one of an earlier run is not this run's)."""
    if stamp(path) in (None, before):
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return None


def last_line(log: Path) -> str:
    lines = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    return lines[-1] if lines else "no output"


def extract_run(name: str, corpus: Path, out: Path, workers: int, logs: Path,
                cold: bool = False, with_workers: bool = True, env: dict[str, str] | None = None) -> dict:
    """One measured `python -m pipeline extract`. It counts as done when it exits with 0 or
    1 (some article failed) and has written triples.csv; otherwise the run has an `error`
    (a crash also exits with 1) and the bench goes on with the others."""
    if cold:
        shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, "-m", "pipeline", "extract", "--in", str(corpus), "--out", str(out)]
    if with_workers:
        command += ["--workers", str(workers)]
    print(f"bench: {name}: {workers} process(es) on {corpus.name} ...", file=sys.stderr, flush=True)
    triples, record = out / "triples.csv", out / "work" / "run.json"
    before = {"triples": stamp(triples), "record": stamp(record)}
    log = logs / f"{name}.log"
    run = {"name": name, "workers": workers, "corpus": str(corpus), "out": str(out), "log": str(log),
           **run_measured(command, log, env)}
    if run["exit"] not in (0, 1) or stamp(triples) in (None, before["triples"]):
        run["error"] = f"extract failed, exit {run['exit']}: {last_line(log)[:200]}"
        print(f"bench: {name}: {run['error']} (see {log})", file=sys.stderr)
    return {**run, "record": run_record(record, before["record"]), "outputs": file_hashes(out)}


def fastest(name: str, repeats: list[dict]) -> dict:
    """Of the same run repeated, the fastest (a shared machine only ever slows a run down),
    with every repeat's seconds; the first failed repeat if one failed."""
    failed = [run for run in repeats if "error" in run]
    best = failed[0] if failed else min(repeats, key=lambda run: run["seconds"])
    return {**best, "name": name, "repeat_seconds": [run.get("seconds") for run in repeats]} if len(repeats) > 1 else best


def skipped_run(name: str, workers: int, reason: str) -> dict:
    print(f"bench: {name}: not run: {reason}", file=sys.stderr)
    return {"name": name, "workers": workers, "skipped": reason}


def measure_runs(out: Path, corpus: Path, small: Path, parallel: int, repeats: int = 1) -> dict[str, dict]:
    """cold 1 process (the fastest of `repeats`), warm, rule edit, cold `parallel`
    processes, cold on the small corpus."""
    runs_dir, logs = out / "runs", out / "runs" / "logs"
    with_workers = supports_workers()
    rules = edited_rules(out / "rules-edited")
    runs = {"cold_1": fastest("cold_1", [extract_run("cold_1" if repeats == 1 else f"cold_1.{n + 1}", corpus,
                                                     runs_dir / "one", 1, logs, cold=True, with_workers=with_workers)
                                         for n in range(repeats)])}
    runs["warm_1"] = extract_run("warm_1", corpus, runs_dir / "one", 1, logs, with_workers=with_workers)
    if supports_rules_dir(rules):
        runs["rules_1"] = extract_run("rules_1", corpus, runs_dir / "one", 1, logs, with_workers=with_workers,
                                      env={**os.environ, RULES_ENV: str(rules)})
    else:
        runs["rules_1"] = skipped_run("rules_1", 1, f"the pipeline does not read its rules from ${RULES_ENV}")
    name = f"cold_{parallel}"
    if parallel > 1 and with_workers:
        runs[name] = extract_run(name, corpus, runs_dir / "parallel", parallel, logs, cold=True)
    elif parallel > 1:
        runs[name] = skipped_run(name, parallel, "`pipeline extract` has no --workers option")
    runs["small_1"] = extract_run("small_1", small, runs_dir / "small", 1, logs, cold=True,
                                  with_workers=with_workers)
    return runs


# ------------------------------------------------------------------ ceilings
def corpus_texts(folder: Path) -> dict[str, list[str]]:
    """The article texts (date header removed, as the pipeline reads them) per language folder."""
    return {lang: [read_article(path, folder).text for path in sorted((folder / lang).glob("*.txt"))]
            for lang in LANGUAGES}


def throughput(pipe: Callable[..., Iterable], texts: list[str], batch_size: int) -> dict:
    """Words per second of pipe (a tokenizer's or a pipeline's) over the texts."""
    start = time.perf_counter()
    for _ in pipe(texts, batch_size=batch_size):
        pass
    seconds = time.perf_counter() - start
    words = sum(len(t.split()) for t in texts)
    return {"texts": len(texts), "words": words, "seconds": seconds, "words_per_s": words / seconds if seconds else None}


def combined(per_language: dict[str, dict]) -> dict:
    words = sum(f["words"] for f in per_language.values())
    seconds = sum(f["seconds"] for f in per_language.values())
    return {"texts": sum(f["texts"] for f in per_language.values()), "words": words, "seconds": seconds,
            "words_per_s": words / seconds if seconds else None}


def ner_only(lang: str) -> tuple[Language | None, str | None]:
    """(pipeline, model): our NER model (models/<lang>, or the one the pipeline is set to
    use) with only tok2vec and ner; (None, None) when the pipeline runs without one."""
    model = model_setting(lang)
    if model is None:
        return None, None
    nlp = load_model(model)
    for name in list(nlp.pipe_names):
        if name not in ("tok2vec", "ner"):
            nlp.remove_pipe(name)
    return nlp, model


def measure_ceilings(texts: dict[str, list[str]]) -> dict:
    print("bench: ceilings: spaCy tokenizer and NER model alone ...", file=sys.stderr, flush=True)
    single_blas_thread()  # as in the pipeline's processes
    keep_freed_memory()
    tokenizer, ner, annotate, models = {}, {}, {}, {}
    for lang, lang_texts in texts.items():
        tokenizer[lang] = throughput(spacy.blank(lang).tokenizer.pipe, lang_texts, BATCH_SIZE)
        nlp, models[lang] = ner_only(lang)
        if nlp is not None:
            ner[lang] = throughput(nlp.pipe, lang_texts, BATCH_SIZE)
        del nlp
        annotate[lang] = throughput(load_pipeline(lang, model_setting(lang)).pipe, lang_texts, BATCH_SIZE)
    return {"batch_size": BATCH_SIZE, "models": models,
            "tokenizer": {**tokenizer, "all": combined(tokenizer)},
            "ner": {**ner, "all": combined(ner)} if len(ner) == len(texts) else ner,
            "annotate": {**annotate, "all": combined(annotate)}}


# ------------------------------------------------------------------ figures and targets
def ratio(numerator: float | None, denominator: float | None) -> float | None:
    return numerator / denominator if numerator is not None and denominator else None


def stage_figures(stage: dict, processed: int, words: int) -> dict:
    """A stage's rates per process: its busy seconds are summed over the workers."""
    ran, seconds = stage.get("articles", 0), stage.get("seconds", 0.0)
    share = min(ran, processed) / processed if processed else 0.0
    return {**stage, "articles_per_s": ratio(ran, seconds) if ran else None,
            "words_per_s": ratio(words * share, seconds) if ran else None}


def run_figures(run: dict, corpus: dict) -> dict:
    """End-to-end and per-stage rates of a measured run (rates per process too)."""
    record = run.get("record") or {}
    processed, words = record.get("processed", corpus["articles"]), record.get("words", corpus["words"])
    seconds, workers = run["seconds"], run["workers"]
    return {"articles": processed, "words": words, "from_record": bool(record),
            "articles_per_s": processed / seconds, "words_per_s": words / seconds,
            "articles_per_s_per_process": processed / seconds / workers,
            "words_per_s_per_process": words / seconds / workers,
            "stages": {name: stage_figures(stage, processed, words)
                       for name, stage in (record.get("stages") or {}).items()}}


def rerun_stages(run: dict) -> list[str] | None:
    """The cached stages that ran on at least one article, from the run record."""
    stages = (run.get("record") or {}).get("stages")
    if not stages:
        return None
    return [name for name in CACHED_STAGES if (stages.get(name) or {}).get("articles", 0) > 0]


def target(key: str, label: str, value, passed: bool | None, shown: str, detail: str = "") -> dict:
    return {"id": key, "target": label, "value": value, "shown": shown, "detail": detail,
            "status": "n/a" if passed is None else "PASS" if passed else "FAIL"}


def measured(run: dict | None) -> bool:
    """A run that was made and finished (not skipped, no error)."""
    return bool(run) and "seconds" in run and "error" not in run


def why_not(run: dict | None) -> str:
    """Why a target about this run shows n/a."""
    if not run:
        return "not run"
    if not measured(run):
        return run.get("error") or run.get("skipped", "not run")
    return "" if run.get("record") else "no run record"


def at_least(value: float | None, threshold: float) -> bool | None:
    return None if value is None else value >= threshold


def ceiling(ceilings: dict, key: str) -> float | None:
    return (ceilings.get(key, {}).get("all") or {}).get("words_per_s")


def compare(runs: dict[str, dict], ceilings: dict, parallel: int) -> dict:
    """The ratios the targets are about (None when a run or ceiling is missing)."""
    seconds = {name: run["seconds"] for name, run in runs.items() if measured(run)}
    cold, small = runs.get("cold_1"), runs.get("small_1")
    e2e = cold["figures"]["words_per_s_per_process"] if measured(cold) else None
    growth = ratio(cold["peak_rss_tree_mb"], small["peak_rss_tree_mb"]) if measured(cold) and measured(small) else None
    return {
        "e2e_words_per_s_per_process": e2e,
        "speedup": ratio(seconds.get("cold_1"), seconds.get(f"cold_{parallel}")) if parallel > 1 else None,
        "warm_over_cold": ratio(seconds.get("warm_1"), seconds.get("cold_1")),
        "rules_over_cold": ratio(seconds.get("rules_1"), seconds.get("cold_1")),
        "e2e_over_ner": ratio(e2e, ceiling(ceilings, "ner")),
        "e2e_over_tokenizer": ratio(e2e, ceiling(ceilings, "tokenizer")),
        "rss_growth": None if growth is None else growth - 1,
        "peak_rss_tree_mb": max((r["peak_rss_tree_mb"] for r in runs.values() if measured(r)), default=None),
        "peak_pss_tree_mb": max((r.get("peak_pss_tree_mb", 0) for r in runs.values() if measured(r)), default=None),
    }


RULE_STAGES = ("normalise", "relations")


def costs_beyond_ner(runs: dict[str, dict], ceilings: dict) -> dict | None:
    """Where the cold 1-process run spends its time beyond the NER model alone, in
    microseconds per word, part by part, and how much the target of 70% of the NER's
    throughput leaves for all of them: (1/0.70 - 1) times the NER's own cost. None when the
    run, its record or the NER ceiling is missing.

    The annotate stage is split with the annotate-pipeline ceiling: our components (the
    pipeline alone against the NER alone) and the stage's own work (the stage against the
    pipeline alone); what no stage accounts for is start-up (imports, building the
    pipelines) and publishing the outputs."""
    cold, ner = runs.get("cold_1"), ceiling(ceilings, "ner")
    if not measured(cold) or not ner or not cold.get("record"):
        return None
    words = cold["figures"]["words"]
    stages = {name: stage.get("seconds", 0.0) / words * MICRO for name, stage in cold["record"]["stages"].items()}
    ner_cost, end_to_end = MICRO / ner, cold["seconds"] / words * MICRO
    parts: dict[str, float] = {}
    pipeline_alone = ceiling(ceilings, "annotate")
    if pipeline_alone:
        parts["annotate: our components"] = MICRO / pipeline_alone - ner_cost
        parts["annotate: the stage's own work"] = stages.get("annotate", 0.0) - MICRO / pipeline_alone
    else:
        parts["annotate beyond the NER"] = stages.get("annotate", 0.0) - ner_cost
    parts.update((stage, stages.get(stage, 0.0)) for stage in STAGES if stage != "annotate")
    parts["start-up and publishing"] = end_to_end - sum(stages.values())
    beyond = end_to_end - ner_cost
    without = {name: ratio(ner_cost, end_to_end - cost) for name, cost in parts.items()}
    rule_stages = sum(parts[stage] for stage in RULE_STAGES)
    return {"ner": ner_cost, "parts": parts, "beyond": beyond, "allowed": ner_cost * (1 / MIN_SHARE_OF_NER - 1),
            "share_without": without, "rule_stages": rule_stages,
            "share_without_rule_stages": ratio(ner_cost, end_to_end - rule_stages)}


def speed_targets(runs: dict[str, dict], ratios: dict, parallel: int) -> list[dict]:
    e2e, share, speedup = ratios["e2e_words_per_s_per_process"], ratios["e2e_over_ner"], ratios["speedup"]
    processes = max(parallel, 2)  # with --workers 1 the 2-process target is shown, not measured
    wanted = SPEEDUP_PER_PROCESS * processes
    return [
        target("e2e_words_per_s", f"end to end >= {MIN_WORDS_PER_S:,} words/s per process", e2e,
               at_least(e2e, MIN_WORDS_PER_S), fmt_rate(e2e)),
        target("e2e_share_of_ner", f"end to end >= {MIN_SHARE_OF_NER:.0%} of the NER model alone", share,
               at_least(share, MIN_SHARE_OF_NER), fmt_share(share)),
        target("speedup", f"{processes} processes >= {wanted:.1f}x one process", speedup,
               at_least(speedup, wanted), fmt_times(speedup),
               "" if speedup is not None else why_not(runs.get(f"cold_{parallel}")) if parallel > 1
               else "--workers 1"),
    ]


def memory_targets(runs: dict[str, dict], ratios: dict) -> list[dict]:
    cold, small = runs.get("cold_1"), runs.get("small_1")
    peak, growth = ratios["peak_rss_tree_mb"], ratios["rss_growth"]
    sizes = (f"{cold['figures']['articles']:,} articles vs {small['figures']['articles']:,}"
             if growth is not None else "large vs small corpus")
    return [
        target("peak_rss", f"peak RSS < {MAX_PEAK_RSS_MB:,} MB (whole process tree, every run)", peak,
               None if peak is None else peak < MAX_PEAK_RSS_MB, fmt_mb(peak),
               f"shared pages counted once (PSS): {fmt_mb(ratios['peak_pss_tree_mb'])}" if peak else ""),
        target("rss_flat", f"peak RSS flat: {sizes} within {MAX_RSS_GROWTH:.0%}", growth,
               None if growth is None else abs(growth) <= MAX_RSS_GROWTH, fmt_change(growth)),
    ]


def cache_targets(runs: dict[str, dict], ratios: dict) -> list[dict]:
    cold, warm, rules = runs.get("cold_1"), runs.get("warm_1"), runs.get("rules_1")
    warm_share = ratios["warm_over_cold"]
    rerun = rerun_stages(rules) if measured(rules) else None
    same = {name: run["outputs"].get("triples.csv") == cold["outputs"].get("triples.csv")
            for name, run in runs.items()
            if measured(cold) and name != "cold_1" and measured(run) and run["corpus"] == cold["corpus"]}
    return [
        target("warm", f"unchanged folder again < {MAX_WARM_SHARE:.0%} of the cold run", warm_share,
               None if warm_share is None else warm_share < MAX_WARM_SHARE, fmt_share(warm_share),
               why_not(warm) or f"re-ran: {', '.join(rerun_stages(warm) or []) or 'nothing'}"),
        target("rule_edit", "after a rule edit only the relations stage re-runs", rerun,
               None if rerun is None else rerun == ["relations"],
               "n/a" if rerun is None else ", ".join(rerun) or "nothing", why_not(rules)),
        target("same_output", "same triples.csv as the cold 1-process run", same,
               None if not same else all(same.values()),
               ", ".join(f"{name} {'same' if ok else 'DIFFERENT'}" for name, ok in same.items()) or "n/a"),
    ]


def runs_target(runs: dict[str, dict]) -> dict:
    failed = [name for name, run in runs.items() if "error" in run]
    return target("runs_ok", "every extract run finishes and writes its outputs", failed, not failed,
                  ", ".join(failed) + " failed" if failed else "all finished")


def build_report(corpus: dict, small: dict, runs: dict[str, dict], ceilings: dict, parallel: int,
                 machine: dict) -> dict:
    """Every figure of bench.json from the measured runs (with their run records) and ceilings,
    and each target of the issue with PASS, FAIL or n/a (not measured)."""
    runs = {name: dict(run) for name, run in runs.items()}
    for run in runs.values():
        if measured(run):
            run["figures"] = run_figures(run, small if run.get("corpus") == small["path"] else corpus)
    ratios = compare(runs, ceilings, parallel)
    targets = [*speed_targets(runs, ratios, parallel), *memory_targets(runs, ratios), *cache_targets(runs, ratios),
               runs_target(runs)]
    return {"machine": machine, "corpus": corpus, "small_corpus": small, "parallel": parallel,
            "runs": runs, "ceilings": ceilings, "ratios": ratios, "costs": costs_beyond_ner(runs, ceilings),
            "targets": targets}


# ------------------------------------------------------------------ table
def fmt_rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f}"


def fmt_share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}" if value >= 0.1 else f"{value:.1%}"


def fmt_times(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def fmt_mb(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f} MB"


def fmt_change(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.1%}"


def table(rows: list[list[str]], left: tuple[int, ...] = (0,)) -> list[str]:
    """Columns padded to their widest cell: text on the left, figures on the right."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) if i in left else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
            .rstrip() for row in rows]


def runs_table(report: dict) -> list[str]:
    rows = [["run", "processes", "seconds", "articles/s", "words/s", "words/s/process", "peak RSS tree",
             "peak RSS process", "peak PSS tree", "vs cold"]]
    cold = report["runs"].get("cold_1")
    for name, run in report["runs"].items():
        if not measured(run):
            rows.append([name, str(run["workers"]), *["-"] * (len(rows[0]) - 2)])
            continue
        figures = run["figures"]
        rows.append([name, str(run["workers"]), f"{run['seconds']:.1f}", f"{figures['articles_per_s']:,.1f}",
                     fmt_rate(figures["words_per_s"]), fmt_rate(figures["words_per_s_per_process"]),
                     fmt_mb(run["peak_rss_tree_mb"]), fmt_mb(run["peak_rss_process_mb"]),
                     fmt_mb(run.get("peak_pss_tree_mb")),
                     fmt_share(ratio(run["seconds"], cold["seconds"])) if measured(cold) and run is not cold
                     and run["corpus"] == cold["corpus"] else ""])
    lines = table(rows)
    lines += [f"  {name}: the fastest of {len(run['repeat_seconds'])} runs: "
              + ", ".join("failed" if s is None else f"{s:.1f} s" for s in run["repeat_seconds"])
              for name, run in report["runs"].items() if run.get("repeat_seconds")]
    lines += [f"  {name}: {run['error']} (log: {run['log']})" if "error" in run else
              f"  {name}: not run: {run['skipped']}" for name, run in report["runs"].items() if not measured(run)]
    return lines


def stages_table(report: dict) -> list[str]:
    """Per stage, per process: articles/s and words/s of each cold run."""
    cold_runs = [(name, run) for name, run in report["runs"].items()
                 if name.startswith("cold_") and measured(run)]
    if not cold_runs:
        return []
    header = ["stage (per process)"]
    for name, _ in cold_runs:
        header += [f"{name} s", f"{name} articles/s", f"{name} words/s"]
    rows = [header]
    for stage in STAGES:
        row = [stage]
        for _, run in cold_runs:
            figures = run["figures"]["stages"].get(stage)
            row += (["n/a"] * 3 if figures is None else
                    [f"{figures.get('seconds', 0):.1f}", f"{figures['articles_per_s'] or 0:,.1f}",
                     fmt_rate(figures["words_per_s"])])
        rows.append(row)
    end = ["end to end"]
    for _, run in cold_runs:
        end += [f"{run['seconds']:.1f}", f"{run['figures']['articles_per_s_per_process']:,.1f}",
                fmt_rate(run["figures"]["words_per_s_per_process"])]
    rows.append(end)
    lines = table(rows)
    if not all(run["figures"]["from_record"] for _, run in cold_runs):
        lines.append("  (no run record OUT/work/run.json: stage figures not available)")
    return lines


def ceilings_table(report: dict) -> list[str]:
    ceilings = report["ceilings"]
    rows = [["ceiling (1 process, words/s)", *LANGUAGES, "all"]]
    for key, label in (("tokenizer", "spaCy tokenizer alone"), ("ner", "NER model alone (tok2vec+ner)"),
                       ("annotate", "annotate pipeline alone (no files)")):
        figures = ceilings.get(key, {})
        rows.append([label, *(fmt_rate((figures.get(k) or {}).get("words_per_s")) for k in (*LANGUAGES, "all"))])
    cold = report["runs"].get("cold_1")
    e2e = cold["figures"] if measured(cold) else None
    rows.append(["pipeline end to end (cold_1)", "", "", fmt_rate(e2e and e2e["words_per_s"])])
    return table(rows)


def costs_table(report: dict) -> list[str]:
    costs = report.get("costs")
    if not costs:
        return []
    rows = [["beyond the NER model alone (cold_1)", "us/word", "end to end/NER without it"],
            ["NER model alone (for scale)", f"{costs['ner']:.1f}", ""]]
    rows += [[name, f"{cost:.1f}", fmt_share(costs["share_without"][name])] for name, cost in costs["parts"].items()]
    rows += [[" and ".join(RULE_STAGES) + " together", f"{costs['rule_stages']:.1f}",
              fmt_share(costs["share_without_rule_stages"])],
             ["all of it", f"{costs['beyond']:.1f}", ""],
             [f"what {MIN_SHARE_OF_NER:.0%} of the NER alone allows", f"{costs['allowed']:.1f}", ""]]
    return table(rows)


def format_table(report: dict) -> str:
    corpus, machine = report["corpus"], report["machine"]
    languages = ", ".join(f"{lang} {n['articles']:,}" for lang, n in corpus["languages"].items())
    ratios = report["ratios"]
    heading = (f"Benchmark: {corpus['articles']:,} articles ({languages}), {corpus['words']:,} words; "
               f"{machine['cpus']} CPUs, load {machine['load_before']} before, {machine['load_after']} after")
    summary = (f"speed-up with {max(report['parallel'], 2)} processes {fmt_times(ratios['speedup'])}; "
               f"warm/cold {fmt_share(ratios['warm_over_cold'])}; "
               f"rule edit/cold {fmt_share(ratios['rules_over_cold'])}; "
               f"end to end/NER {fmt_share(ratios['e2e_over_ner'])}; "
               f"end to end/tokenizer {fmt_share(ratios['e2e_over_tokenizer'])}")
    if machine.get("checkout_changed"):
        heading += ("\nWARNING: files under pipeline/ or models/ changed during the bench: "
                    "the runs did not all run the same code, rules and models")
    costs = costs_table(report)
    lines = [heading, "", *runs_table(report), "", *stages_table(report), "", *ceilings_table(report), "",
             *costs, *([""] if costs else []), summary, ""]
    rows = [["target", "measured", "result"]]
    rows += [[t["target"], t["shown"], t["status"] + (f"  ({t['detail']})" if t["detail"] else "")]
             for t in report["targets"]]
    return "\n".join(lines + table(rows, left=(0, 2))) + "\n"


# ------------------------------------------------------------------ command
def machine_info() -> dict:
    return {"cpus": os.cpu_count(), "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
            else os.cpu_count(), "memory_mb": psutil.virtual_memory().total / MB,
            "platform": platform.platform(), "python": platform.python_version(), "spacy": spacy.__version__,
            "load_before": load_average(), "load_after": None,
            "threads_env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
                            if k in os.environ}}


def checkout_stamp() -> str:
    """What the runs depend on in the checkout (code, rules, KB, models): each file's path,
    size and time. Two stamps differ when a file was edited in between."""
    digest = hashlib.sha256()
    for part in CHECKOUT_PARTS:
        for path in sorted((REPO / part).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                info = path.stat()
                digest.update(f"{path.relative_to(REPO)}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m pipeline.bench", description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    top.add_argument("--out", type=Path, default=DEFAULT_OUT, help="bench folder (default: outputs/bench)")
    top.add_argument("--articles", type=positive_int, default=5000, help="synthetic articles (default: 5000)")
    top.add_argument("--small", type=positive_int,
                     help="articles of the corpus for the memory comparison (default: a tenth, at least 2)")
    top.add_argument("--words", type=positive_int, default=500, help="words per article, on average (default: 500)")
    top.add_argument("--seed", type=int, default=0, help="seed of the corpus generator (default: 0)")
    top.add_argument("--workers", type=positive_int, default=2,
                     help="processes of the parallel run (default: 2; 1 leaves it out)")
    top.add_argument("--repeats", type=positive_int, default=2,
                     help="cold 1-process runs; the fastest is reported (default: 2)")
    top.add_argument("--source", type=Path, default=SOURCE,
                     help="folder with en/ and it/ articles to recombine (default: corpus)")
    top.add_argument("--from", dest="earlier", type=Path, metavar="BENCH_JSON",
                     help="run nothing: compute the figures, targets and table of an earlier bench.json "
                          "again (the file is rewritten, its table written beside it with the suffix .txt)")
    return top


def rebuilt_report(path: Path) -> dict:
    """The report of an earlier bench.json, its figures and targets computed anew."""
    try:
        earlier = json.loads(path.read_text(encoding="utf-8"))
        return build_report(earlier["corpus"], earlier["small_corpus"], earlier["runs"], earlier["ceilings"],
                            earlier["parallel"], earlier["machine"])
    except (ValueError, KeyError, TypeError) as error:
        raise BenchError(f"{path} is not a bench.json written by this bench: {type(error).__name__}: {error}") from None


def run_bench(args: argparse.Namespace) -> dict:
    machine, checkout = machine_info(), checkout_stamp()
    out = args.out.resolve()
    small_size = args.small or max(2, args.articles // 10)
    corpus = build_corpus(out, args.articles, args.words, args.seed, args.source)
    small = build_corpus(out, small_size, args.words, args.seed, args.source)
    runs = measure_runs(out, Path(corpus["path"]), Path(small["path"]), args.workers, args.repeats)
    ceilings = measure_ceilings(corpus_texts(Path(corpus["path"])))
    machine["load_after"] = load_average()
    machine["checkout_changed"] = checkout_stamp() != checkout
    return build_report(corpus, small, runs, ceilings, args.workers, machine)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        report = rebuilt_report(args.earlier) if args.earlier else run_bench(args)
    except (BenchError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: no figures written", file=sys.stderr)
        return 130
    text = format_table(report)
    figures = args.earlier or args.out / "bench.json"
    figures.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    figures.with_suffix(".txt").write_text(text, encoding="utf-8")
    print(text, end="")
    print(f"figures in {figures}")
    return 1 if any(t["status"] == "FAIL" for t in report["targets"]) else 0


if __name__ == "__main__":
    raise SystemExit(main())
