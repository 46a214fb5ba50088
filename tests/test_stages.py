"""Incremental runs: unchanged articles come from OUT/work/cache, a rule edit re-runs only
the relation stage, and several processes or Dask workers write the same outputs."""
from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

from pipeline import ruleset
from pipeline.cli import main

FIXTURES = Path(__file__).parent / "fixtures"
FAST = ["--model-en", "blank", "--model-it", "blank"]
OUTPUTS = ("triples.csv", "articles.csv", "entities.csv", "summary.csv", "report.html")
ARTICLES = {
    "en/spurs.txt": (" date 2025-06-12 Tottenham Hotspur have sacked their head coach after a run of defeats. "
                     "According to Sky Sport, Marco Silva is set to replace him on a three-year deal.\n"),
    "en/juve.txt": "Juventus have sacked Massimiliano Allegri after the defeat to Napoli, the club said.\n",
    "it/toro.txt": ("date 2025-05\nIl Torino ha esonerato l'allenatore dopo la sconfitta con il Genoa. Secondo "
                    "la Gazzetta dello Sport, il presidente Urbano Cairo potrebbe puntare su Massimiliano Allegri.\n"),
    "it/milan.txt": ("date 2025-06-01\nIl Milan ha scelto Massimiliano Allegri: l'allenatore firmerà un "
                     "contratto fino al 2027, riporta Sky Sport.\n"),
}


@pytest.fixture(autouse=True)
def tiny_kb(monkeypatch):
    monkeypatch.setenv("CALCIO_KB", str(FIXTURES / "kb.jsonl"))


@pytest.fixture
def folder(tmp_path) -> Path:
    root = tmp_path / "in"
    for name, text in ARTICLES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


def run(*args: str) -> int:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return main([*args])


def extract(in_dir: Path, out: Path, *extra: str) -> dict:
    assert run("extract", "--in", str(in_dir), "--out", str(out), *FAST, *extra) == 0
    return json.loads((out / "work" / "run.json").read_text(encoding="utf-8"))


def ran(record: dict) -> dict[str, int]:
    return {stage: entry["articles"] for stage, entry in record["stages"].items()}


def reused(record: dict) -> dict[str, int]:
    return {stage: entry["reused"] for stage, entry in record["stages"].items()}


def outputs(out: Path) -> dict[str, bytes]:
    return {name: (out / name).read_bytes() for name in OUTPUTS}


def test_run_record_counts_articles_words_and_stages(folder, tmp_path):
    record = extract(folder, tmp_path / "out")
    assert record["articles"] == 4 and record["processed"] == 4
    assert record["words"] == sum(len(t.split()) - t.startswith(("date", " date")) * 2 for t in ARTICLES.values())
    assert ran(record) == {"ingest": 4, "language": 4, "annotate": 4, "normalise": 4, "relations": 4, "write": 4}
    assert record["seconds"] > 0 and all(e["seconds"] >= 0 for e in record["stages"].values())


def test_a_second_run_on_an_unchanged_folder_reuses_every_article(folder, tmp_path):
    out = tmp_path / "out"
    extract(folder, out)
    first = outputs(out)
    record = extract(folder, out)
    assert ran(record)["annotate"] == ran(record)["normalise"] == ran(record)["relations"] == 0
    assert ran(record)["language"] == 0  # the same bytes: the previous run's language
    assert reused(record)["annotate"] == reused(record)["relations"] == 4
    assert outputs(out) == first


def test_only_a_changed_article_is_processed_again(folder, tmp_path):
    out = tmp_path / "out"
    extract(folder, out)
    (folder / "en" / "juve.txt").write_text(
        "Juventus have sacked Massimiliano Allegri after the defeat to Torino, the club said.\n", encoding="utf-8")
    record = extract(folder, out)
    assert ran(record)["annotate"] == 1 and reused(record)["annotate"] == 3
    triples = (out / "triples.csv").read_text(encoding="utf-8-sig")
    assert "Torino" in triples


def test_after_a_rule_edit_only_the_relation_stage_runs_again(folder, tmp_path, rules_copy):
    out = tmp_path / "out"
    extract(folder, out)
    status = rules_copy / "en" / "status.yml"
    status.write_text(status.read_text(encoding="utf-8") + "# reviewed\n", encoding="utf-8")
    ruleset.rule_file.cache_clear()
    record = extract(folder, out)
    assert ran(record)["annotate"] == ran(record)["normalise"] == 0
    assert ran(record)["relations"] == 2 and reused(record)["relations"] == 2  # the English articles


def test_stage_commands_reuse_the_cache_too(folder, tmp_path, rules_copy):
    out = tmp_path / "out"
    extract(folder, out)
    before = outputs(out)
    relations = rules_copy / "it" / "relations.yml"
    relations.write_text(relations.read_text(encoding="utf-8") + "# reviewed\n", encoding="utf-8")
    ruleset.rule_file.cache_clear()
    assert run("relations", "--out", str(out)) == 0
    assert run("write", "--out", str(out)) == 0
    assert outputs(out)["triples.csv"] == before["triples.csv"]  # a comment changes no triple
    assert run("annotate", "--out", str(out), *FAST) == 0  # every article already annotated
    assert run("normalise", "--out", str(out)) == 0


@pytest.mark.parametrize("stage, suffix", [("relations", ".triples"), ("normalise", ".entities")])
def test_a_damaged_cache_entry_is_never_copied_out_and_is_redone_by_the_next_run(folder, tmp_path, stage, suffix):
    out = tmp_path / "out"
    extract(folder, out)
    first = outputs(out)
    entry = next((out / "work" / "cache" / stage).rglob(f"*{suffix}"))
    entry.write_bytes(entry.read_bytes()[:-25])  # cut short
    errors = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(errors):
        assert main(["extract", "--in", str(folder), "--out", str(out), *FAST]) == 2
    assert f"cached {stage} results of 1 article(s)" in errors.getvalue()
    assert outputs(out) == first and not entry.exists()
    record = extract(folder, out)
    assert ran(record)[stage] == 1 and reused(record)["annotate"] == 4
    assert outputs(out) == first


def test_cache_entries_of_articles_gone_from_the_folder_are_pruned(folder, tmp_path):
    out = tmp_path / "out"
    extract(folder, out)
    (folder / "it" / "milan.txt").unlink()
    extract(folder, out)
    for stage in ("annotate", "normalise", "relations"):
        entries = {p.name.split(".")[0] for p in (out / "work" / "cache" / stage).rglob("*") if p.is_file()}
        assert len(entries) == 3, stage


def test_two_processes_write_the_same_bytes_as_one(folder, tmp_path):
    one = tmp_path / "one"
    extract(folder, one)
    record = extract(folder, tmp_path / "two", "--workers", "2")
    assert record["workers"] == 2 and ran(record)["annotate"] == 4
    assert outputs(tmp_path / "two") == outputs(one)


def test_dask_engine_on_a_local_cluster_writes_the_same_outputs(folder, tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    one = tmp_path / "one"
    extract(folder, one)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        record = extract(folder, tmp_path / "dask", "--engine", "dask", "--scheduler", cluster.scheduler_address)
    assert record["engine"] == "dask" and ran(record)["relations"] == 4
    assert outputs(tmp_path / "dask") == outputs(one)


def test_a_big_run_reports_its_most_recent_articles_and_keeps_every_triple(folder, tmp_path, monkeypatch):
    monkeypatch.setattr("pipeline.stages.REPORT_ARTICLES", 2)
    out = tmp_path / "out"
    extract(folder, out)
    report = (out / "report.html").read_text(encoding="utf-8")
    assert "showing the 2 most recent of 4 articles; every triple is in triples.csv" in report
    assert "Marco Silva is set to replace him" in report  # en/spurs, 2025-06-12
    assert "Il Milan ha scelto" in report  # it/milan, 2025-06-01
    assert "Il Torino ha esonerato" not in report  # it/toro, 2025-05: older
    triples = (out / "triples.csv").read_text(encoding="utf-8-sig")
    assert "it/toro" in triples and "en/juve" in triples


def test_an_unreachable_dask_scheduler_is_a_clear_error_and_outputs_stay(folder, tmp_path, capsys):
    pytest.importorskip("dask.distributed")
    out = tmp_path / "out"
    extract(folder, out)
    before = outputs(out)
    code = main(["extract", "--in", str(folder), "--out", str(out), *FAST, "--engine", "dask",
                 "--scheduler", "tcp://127.0.0.1:9"])
    assert code == 2
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in capsys.readouterr().err
    assert outputs(out) == before
