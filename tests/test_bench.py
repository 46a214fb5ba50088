"""The benchmark's corpus generator, its figures and targets, and one tiny real run.

No timing is asserted here: speed is what `make bench` measures, not what tests check.
"""
from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path

import pytest

from pipeline import bench
from pipeline.ingest import is_valid_date, read_article, split_date_header
from pipeline.language import detect

SOURCE = Path(__file__).resolve().parent.parent / "corpus"


@pytest.fixture(scope="module")
def pools():
    return bench.load_pools(SOURCE)


@pytest.fixture(scope="module")
def articles(pools):
    return list(bench.generate(60, 500, 3, pools))


def source_texts() -> list[str]:
    return [read_article(path, SOURCE).text.strip()
            for lang in bench.LANGUAGES for path in sorted((SOURCE / lang).glob("*.txt"))]


def test_the_same_seed_gives_the_same_articles_and_another_seed_others(pools, articles):
    assert list(bench.generate(60, 500, 3, pools)) == articles
    other = list(bench.generate(60, 500, 4, pools))
    assert sum(a != b for a, b in zip(articles, other)) > 50


def test_a_smaller_corpus_is_the_start_of_a_larger_one(pools, articles):
    assert list(bench.generate(10, 500, 3, pools)) == articles[:10]


def test_half_the_articles_per_language_each_in_its_own_language(articles):
    languages = [lang for lang, _, _ in articles]
    assert languages.count("en") == languages.count("it") == 30
    for lang, relative, text in articles[:12]:
        assert relative.startswith(f"{lang}/")
        assert detect(split_date_header(text)[1])[0] == lang


def test_articles_have_about_the_words_asked_for(pools, articles):
    counts = [len(split_date_header(text)[1].split()) for _, _, text in articles]
    assert all(300 <= n <= 700 for n in counts)
    assert 450 <= sum(counts) / len(counts) <= 550
    short = [len(split_date_header(t)[1].split()) for _, _, t in bench.generate(20, 150, 3, pools)]
    assert 120 <= sum(short) / len(short) <= 190


def test_every_article_has_a_valid_date_header_like_our_corpus(articles):
    for _, _, text in articles:
        date, body, warning = split_date_header(text)
        assert text.startswith(" date ") and warning is None
        assert is_valid_date(date) and "2025-07" <= date[:7] <= "2026-06"
        assert body.strip() and not body.startswith("date")


def test_no_article_of_ours_is_copied_whole_and_neighbouring_parts_come_from_different_articles(pools, articles):
    sources = source_texts()
    origin = {p.text: p.source for pool in pools.values() for p in (*pool.headlines, *pool.paragraphs)}
    for _, _, text in articles:
        body = split_date_header(text)[1]
        assert not any(source in body for source in sources)
        parts = bench.split_paragraphs(body)
        assert len(parts) >= 5
        assert all(origin[a] != origin[b] for a, b in pairwise(parts))


def test_articles_are_all_different(articles):
    assert len({text for _, _, text in articles}) == len(articles)


def write_small_source(root: Path) -> Path:
    """Two short articles per language, three body paragraphs each: few combinations."""
    for lang, words in (("en", ["coach", "club", "deal", "season"]), ("it", ["tecnico", "club", "contratto", "stagione"])):
        (root / lang).mkdir(parents=True)
        for n in (1, 2):
            body = "\n\n".join(f"The {words[k]} story {n}.{k} goes on for a while here." for k in range(3))
            (root / lang / f"{lang}_{n}.txt").write_text(f" date 2025-09-0{n}\nHeadline {n} {words[3]}\n\n{body}\n",
                                                         encoding="utf-8")
    return root


def test_a_text_drawn_twice_is_drawn_again_and_too_few_sources_are_reported(tmp_path):
    pools = bench.load_pools(write_small_source(tmp_path))
    texts = [split_date_header(text)[1] for _, _, text in bench.generate(16, 30, 0, pools)]
    assert len(set(texts)) == 16
    with pytest.raises(bench.BenchError, match="cannot be made from these 2 source articles"):
        list(bench.generate(400, 30, 0, pools))


def test_the_corpus_is_written_once_and_rebuilt_when_a_parameter_changes(tmp_path):
    info = bench.build_corpus(tmp_path, 6, words=200, seed=1, source=SOURCE)
    folder = tmp_path / "corpus-6"
    files = sorted(folder.rglob("*.txt"))
    assert [f.relative_to(folder).as_posix() for f in files][:2] == ["en/en_00001.txt", "en/en_00003.txt"]
    assert info["articles"] == 6 and info["languages"]["it"]["articles"] == 3
    assert info["words"] == sum(len(read_article(f, folder).text.split()) for f in files)
    first = files[0].stat().st_mtime_ns
    assert bench.build_corpus(tmp_path, 6, words=200, seed=1, source=SOURCE) == info
    assert files[0].stat().st_mtime_ns == first
    longer = bench.build_corpus(tmp_path, 6, words=400, seed=1, source=SOURCE)
    assert longer["words"] > info["words"] and longer["params"]["words"] == 400
    assert json.loads((folder / "corpus.json").read_text(encoding="utf-8")) == longer


def test_a_source_folder_with_one_article_per_language_is_refused(tmp_path):
    for lang, text in (("en", "Coach news\n\nThe manager stayed."), ("it", "Notizie\n\nIl tecnico resta.")):
        (tmp_path / lang).mkdir()
        (tmp_path / lang / "one.txt").write_text(text, encoding="utf-8")
    with pytest.raises(bench.BenchError, match="at least two articles"):
        bench.load_pools(tmp_path)


# -- figures and targets from run records ------------------------------------------------------
CORPUS = {"path": "/b/corpus-2000", "articles": 2000, "words": 1_000_000,
          "languages": {"en": {"articles": 1000, "words": 500_000}, "it": {"articles": 1000, "words": 500_000}}}
SMALL = {"path": "/b/corpus-200", "articles": 200, "words": 100_000,
         "languages": {"en": {"articles": 100, "words": 50_000}, "it": {"articles": 100, "words": 50_000}}}
MACHINE = {"cpus": 2, "load_before": "0.10 0.10 0.10", "load_after": "1.00 0.50 0.20"}
CEILINGS = {"tokenizer": {"all": {"words_per_s": 200_000.0}}, "ner": {"all": {"words_per_s": 12_000.0}}}


def record(seconds: float, ran: dict[str, int], workers: int = 1, processed: int = 2000,
           words: int = 1_000_000) -> dict:
    """A run.json as `pipeline extract` writes it; `ran` gives the articles each stage ran on."""
    stages = {stage: {"seconds": seconds / 10 if ran.get(stage, processed) else 0.0,
                      "articles": ran.get(stage, processed), "reused": processed - ran.get(stage, processed)}
              for stage in bench.STAGES}
    return {"engine": "local", "workers": workers, "seconds": seconds, "articles": processed,
            "processed": processed, "words": words, "stages": stages}


def run(name: str, seconds: float, workers: int = 1, peak: float = 900.0, corpus: dict = CORPUS,
        triples: str = "same", ran: dict[str, int] | None = None, rec: bool = True) -> dict:
    processed, words = corpus["articles"], corpus["words"]
    return {"name": name, "workers": workers, "corpus": corpus["path"], "seconds": seconds, "exit": 0,
            "peak_rss_tree_mb": peak, "peak_rss_process_mb": peak / workers,
            "record": record(seconds, ran or {}, workers, processed, words) if rec else None,
            "outputs": {"triples.csv": triples}}


NOTHING_RAN = {"language": 0, "annotate": 0, "normalise": 0, "relations": 0}
RELATIONS_RAN = {"language": 0, "annotate": 0, "normalise": 0}


def good_runs() -> dict[str, dict]:
    return {"cold_1": run("cold_1", 100.0), "warm_1": run("warm_1", 5.0, ran=NOTHING_RAN),
            "rules_1": run("rules_1", 20.0, ran=RELATIONS_RAN), "cold_2": run("cold_2", 55.0, workers=2, peak=1400),
            "small_1": run("small_1", 12.0, peak=860.0, corpus=SMALL)}


def statuses(report: dict) -> dict[str, str]:
    return {t["id"]: t["status"] for t in report["targets"]}


def test_figures_per_run_and_stage_per_process():
    report = bench.build_report(CORPUS, SMALL, good_runs(), CEILINGS, 2, MACHINE)
    cold, parallel = report["runs"]["cold_1"]["figures"], report["runs"]["cold_2"]["figures"]
    assert cold["words_per_s"] == cold["words_per_s_per_process"] == 10_000
    assert cold["articles_per_s"] == 20
    assert parallel["words_per_s"] == pytest.approx(1_000_000 / 55)
    assert parallel["words_per_s_per_process"] == pytest.approx(1_000_000 / 55 / 2)
    annotate = cold["stages"]["annotate"]
    assert annotate["articles_per_s"] == 200 and annotate["words_per_s"] == 100_000
    assert report["runs"]["small_1"]["figures"]["words"] == 100_000
    ratios = report["ratios"]
    assert ratios["speedup"] == pytest.approx(100 / 55)
    assert ratios["warm_over_cold"] == 0.05 and ratios["rules_over_cold"] == 0.2
    assert ratios["e2e_over_ner"] == pytest.approx(10_000 / 12_000)
    assert ratios["rss_growth"] == pytest.approx(900 / 860 - 1)


def test_every_target_passes_on_good_figures():
    report = bench.build_report(CORPUS, SMALL, good_runs(), CEILINGS, 2, MACHINE)
    assert statuses(report) == dict.fromkeys(
        ["e2e_words_per_s", "e2e_share_of_ner", "speedup", "peak_rss", "rss_flat", "warm", "rule_edit",
         "same_output", "runs_ok"], "PASS")


def test_targets_fail_on_bad_figures():
    runs = good_runs()
    runs["cold_1"] = run("cold_1", 125.0, peak=1000.0)  # 8,000 words/s, 67% of the NER
    runs["cold_2"] = run("cold_2", 80.0, workers=2, peak=1600.0, triples="other")
    runs["warm_1"] = run("warm_1", 15.0, ran={**NOTHING_RAN, "relations": 3})
    runs["rules_1"] = run("rules_1", 60.0, ran={"language": 0, "annotate": 0})
    found = statuses(bench.build_report(CORPUS, SMALL, runs, CEILINGS, 2, MACHINE))
    assert found == {"e2e_words_per_s": "FAIL", "e2e_share_of_ner": "FAIL", "speedup": "FAIL",
                     "peak_rss": "FAIL", "rss_flat": "FAIL", "warm": "FAIL", "rule_edit": "FAIL",
                     "same_output": "FAIL", "runs_ok": "PASS"}
    report = bench.build_report(CORPUS, SMALL, runs, CEILINGS, 2, MACHINE)
    rule_edit = next(t for t in report["targets"] if t["id"] == "rule_edit")
    assert rule_edit["value"] == ["normalise", "relations"]


def test_what_could_not_be_measured_is_not_applicable_and_a_failed_run_fails():
    runs = good_runs()
    runs["cold_2"] = {"name": "cold_2", "workers": 2, "skipped": "`pipeline extract` has no --workers option"}
    runs["rules_1"] = run("rules_1", 20.0, rec=False)
    runs["warm_1"] = {**run("warm_1", 2.0), "error": "extract failed (exit 1): IndexError"}
    report = bench.build_report(CORPUS, SMALL, runs, CEILINGS, 2, MACHINE)
    found = statuses(report)
    assert found["speedup"] == found["rule_edit"] == found["warm"] == "n/a"
    assert found["runs_ok"] == "FAIL" and found["e2e_words_per_s"] == "PASS"
    details = {t["id"]: t["detail"] for t in report["targets"]}
    assert "no --workers" in details["speedup"] and details["rule_edit"] == "no run record"
    assert "IndexError" in details["warm"]


def test_the_table_shows_runs_stages_ceilings_and_targets():
    text = bench.format_table(bench.build_report(CORPUS, SMALL, good_runs(), CEILINGS, 2, MACHINE))
    assert "2,000 articles (en 1,000, it 1,000), 1,000,000 words" in text
    for stage in bench.STAGES:
        assert f"\n{stage} " in text
    lines = text.splitlines()
    cold = next(line for line in lines if line.startswith("cold_1 "))
    assert cold.split()[:5] == ["cold_1", "1", "100.0", "20.0", "10,000"]
    assert "speed-up with 2 processes 1.82x" in text and "warm/cold 5.0%" in text
    assert next(line for line in lines if line.startswith("NER model alone")).split()[-1] == "12,000"
    assert next(line for line in lines if line.startswith("end to end >= 10,000")).split()[-1] == "PASS"
    assert "WARNING" not in text
    changed = bench.build_report(CORPUS, SMALL, good_runs(), CEILINGS, 2, {**MACHINE, "checkout_changed": True})
    assert "WARNING: files under pipeline/ or models/ changed" in bench.format_table(changed)


def test_the_cost_beyond_the_ner_is_split_by_part_against_what_the_target_allows():
    ceilings = {**CEILINGS, "ner": {"all": {"words_per_s": 200_000.0}}, "annotate": {"all": {"words_per_s": 125_000.0}}}
    report = bench.build_report(CORPUS, SMALL, good_runs(), ceilings, 2, MACHINE)  # cold_1: 100 s, 10 s per stage
    costs = report["costs"]
    assert costs["ner"] == pytest.approx(5.0) and costs["beyond"] == pytest.approx(95.0)
    assert costs["allowed"] == pytest.approx(5.0 * (1 / 0.7 - 1))
    parts = costs["parts"]
    assert parts["annotate: our components"] == pytest.approx(3.0)
    assert parts["annotate: the stage's own work"] == pytest.approx(2.0)
    assert parts["relations"] == pytest.approx(10.0) and parts["start-up and publishing"] == pytest.approx(40.0)
    assert sum(parts.values()) == pytest.approx(costs["beyond"])
    assert costs["share_without"]["relations"] == pytest.approx(5 / 90)
    assert costs["rule_stages"] == pytest.approx(20.0) and costs["share_without_rule_stages"] == pytest.approx(5 / 80)
    lines = bench.format_table(report).splitlines()
    costs_lines = lines[lines.index(next(line for line in lines if line.startswith("beyond the NER"))):]
    assert next(line for line in costs_lines if line.startswith("relations ")).split()[-2:] == ["10.0", "5.6%"]
    assert next(line for line in lines if line.startswith("what 70% of the NER")).split()[-1] == "2.1"


def test_without_a_run_record_or_ner_ceiling_there_is_no_cost_table():
    runs = good_runs()
    runs["cold_1"] = run("cold_1", 100.0, rec=False)
    for report in (bench.build_report(CORPUS, SMALL, runs, CEILINGS, 2, MACHINE),
                   bench.build_report(CORPUS, SMALL, good_runs(), {"tokenizer": CEILINGS["tokenizer"]}, 2, MACHINE)):
        assert report["costs"] is None and "beyond the NER" not in bench.format_table(report)


def test_an_earlier_bench_json_is_rebuilt_without_running_and_a_foreign_file_is_refused(tmp_path, capsys):
    report = bench.build_report(CORPUS, SMALL, good_runs(), CEILINGS, 2, MACHINE)
    report["targets"], report["costs"] = [], None  # as an older bench wrote it
    earlier = tmp_path / "bench-old.json"
    earlier.write_text(json.dumps(report), encoding="utf-8")
    (tmp_path / "bench.json").write_text("another bench's figures", encoding="utf-8")
    assert bench.main(["--from", str(earlier)]) == 0
    rebuilt = json.loads(earlier.read_text(encoding="utf-8"))
    assert set(statuses(rebuilt).values()) == {"PASS"} and rebuilt["costs"]["ner"] == pytest.approx(1e6 / 12_000)
    assert (tmp_path / "bench-old.txt").read_text(encoding="utf-8").startswith("Benchmark: 2,000 articles")
    assert (tmp_path / "bench.json").read_text(encoding="utf-8") == "another bench's figures"
    earlier.write_text('{"runs": {}}', encoding="utf-8")
    assert bench.main(["--from", str(earlier)]) == 2
    assert "not a bench.json written by this bench" in capsys.readouterr().err


# -- one tiny real run ------------------------------------------------------------------------
def test_a_tiny_real_run_writes_every_figure(tmp_path):
    out = tmp_path / "bench"
    assert bench.main(["--articles", "12", "--workers", "1", "--repeats", "2", "--out", str(out)]) in (0, 1)
    report = json.loads((out / "bench.json").read_text(encoding="utf-8"))
    assert report["corpus"]["articles"] == 12 and report["small_corpus"]["articles"] == 2
    assert report["corpus"]["words"] > 12 * 300
    for name in ("cold_1", "warm_1", "rules_1", "small_1"):
        measured = report["runs"][name]
        assert "error" not in measured, measured["error"]
        assert measured["peak_rss_tree_mb"] >= measured["peak_rss_process_mb"] > 50
        assert measured["figures"]["words_per_s"] > 0
    assert report["runs"]["cold_1"]["outputs"]["triples.csv"] == report["runs"]["warm_1"]["outputs"]["triples.csv"]
    assert report["runs"]["cold_1"]["record"]["processed"] == 12
    assert report["runs"]["cold_1"]["seconds"] == min(report["runs"]["cold_1"]["repeat_seconds"])
    assert len(report["runs"]["cold_1"]["repeat_seconds"]) == 2
    assert "relations" in bench.rerun_stages(report["runs"]["rules_1"])
    for ceiling in ("tokenizer", "ner", "annotate"):
        assert report["ceilings"][ceiling]["all"]["words"] == report["corpus"]["words"]
    assert {t["id"] for t in report["targets"]} >= {"e2e_words_per_s", "e2e_share_of_ner", "peak_rss", "warm"}
    assert (out / "bench.txt").read_text(encoding="utf-8").startswith("Benchmark: 12 articles")


def test_a_repeated_run_reports_the_fastest_unless_one_failed():
    runs = [{"name": "cold_1.1", "seconds": 9.0}, {"name": "cold_1.2", "seconds": 7.5}]
    assert bench.fastest("cold_1", runs) == {"name": "cold_1", "seconds": 7.5, "repeat_seconds": [9.0, 7.5]}
    failed = [runs[0], {"name": "cold_1.2", "seconds": 1.0, "error": "extract failed, exit 2"}]
    assert bench.fastest("cold_1", failed)["error"] == "extract failed, exit 2"
    assert bench.fastest("cold_1", runs[:1]) == runs[0]
