"""The whole pipeline through the CLI on a folder of articles we wrote for the test."""
import csv
import shutil
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.write import TRIPLE_COLUMNS

ENGLISH = (" date 2025-06-12 Tottenham Hotspur have sacked head coach Ange Postecoglou. "
           "According to Sky Sports, Brentford boss Thomas Frank is set to replace him on a three-year deal.\n")
ITALIAN = ("date 2025-05\nIl Torino ha esonerato Paolo Vanoli. Secondo la Gazzetta dello Sport, "
           "il presidente Urbano Cairo potrebbe puntare su Paolo Zanetti.\n")
SPANISH = ("El Real Madrid ha despedido a su entrenador tras la derrota en el clásico y el club "
           "busca ya un sustituto para el banquillo, según informa la prensa deportiva.")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("articles")
    (root / "en").mkdir()
    (root / "en" / "spurs.txt").write_text(ENGLISH, encoding="utf-8")
    (root / "it dir").mkdir()
    (root / "it dir" / "toro è.txt").write_text(ITALIAN, encoding="utf-8")
    (root / "es.txt").write_text(SPANISH, encoding="utf-8")
    (root / "empty.txt").write_text("  \n", encoding="utf-8")
    (root / "photo.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    out = tmp_path_factory.mktemp("out")
    assert main(["extract", "--in", str(root), "--out", str(out)]) == 0
    return root, out


def read(path: Path) -> list[dict]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def test_triples_follow_the_schema(run):
    _, out = run
    with (out / "triples.csv").open(encoding="utf-8-sig", newline="") as handle:
        header = next(csv.reader(handle))
    assert header == TRIPLE_COLUMNS
    rows = read(out / "triples.csv")
    found = {(r["article_id"], r["subject"], r["relation"], r["object"]) for r in rows}
    assert ("en/spurs", "Ange Postecoglou", "sacked_by", "Tottenham Hotspur") in found
    assert ("en/spurs", "Thomas Frank", "replaces", "Ange Postecoglou") in found
    assert ("it dir/toro è", "Paolo Vanoli", "sacked_by", "Torino") in found
    assert ("it dir/toro è", "Urbano Cairo", "president_of", "Torino") in found


def test_evidence_is_the_text_at_its_offsets(run):
    root, out = run
    texts = {"en/spurs": ENGLISH.split(" ", 3)[3], "it dir/toro è": ITALIAN.split("\n", 1)[1]}
    for row in read(out / "triples.csv"):
        assert texts[row["article_id"]][int(row["start"]):int(row["end"])] == row["evidence"]


def test_dates_statuses_and_sources(run):
    _, out = run
    rows = {(r["subject"], r["relation"]): r for r in read(out / "triples.csv")}
    assert rows[("Ange Postecoglou", "sacked_by")]["article_date"] == "2025-06-12"
    assert rows[("Ange Postecoglou", "sacked_by")]["status"] == "fact"
    replaces = rows[("Thomas Frank", "replaces")]
    assert replaces["status"] == "rumour" and replaces["source"] == "Sky Sports"
    assert rows[("Paolo Vanoli", "sacked_by")]["article_date"] == "2025-05"


def test_manifest_lists_every_file_with_its_status(run):
    _, out = run
    statuses = {r["article_id"]: r["status"] for r in read(out / "articles.csv")}
    assert statuses["en/spurs"] == "ok" and statuses["it dir/toro è"] == "ok"
    assert statuses["es"] == "skipped: unsupported language es"
    assert statuses["empty"] == "skipped: empty file"
    assert statuses["photo"].startswith("skipped: binary")
    assert not any(r["article_id"] == "es" for r in read(out / "triples.csv"))


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_input_gives_byte_identical_output(run, tmp_path):
    """Every file of a second run (CSVs, report.html, the work files and cache) equals the
    first, byte for byte; only run.json differs, it records how long the stages took."""
    root, out = run
    again = tmp_path / "again"
    assert main(["extract", "--in", str(root), "--out", str(again)]) == 0
    first, second = tree(out), tree(again)
    assert {"triples.csv", "entities.csv", "articles.csv", "summary.csv", "report.html",
            "work/articles.jsonl", "work/triples.jsonl"} <= set(first)
    assert sorted(first) == sorted(second)
    for name in first:
        if name != "work/run.json":
            assert first[name] == second[name], name


def test_relations_stage_reruns_alone(run, tmp_path):
    _, out = run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    (copy / "triples.csv").unlink()
    assert main(["relations", "--out", str(copy)]) == 0
    assert main(["write", "--out", str(copy)]) == 0
    assert (copy / "triples.csv").read_bytes() == (out / "triples.csv").read_bytes()


def test_missing_input_folder_is_a_clear_error(tmp_path, capsys):
    assert main(["extract", "--in", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_help_documents_the_exit_codes(capsys):
    for argv in (["--help"], ["extract", "--help"]):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 0
        text = capsys.readouterr().out
        assert "exit status" in text and "130" in text
        assert all(f"\n  {code} " in text for code in (0, 1, 2))
