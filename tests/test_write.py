import csv

import pandas as pd

from pipeline.write import TRIPLE_COLUMNS, csv_lines, excel_safe, json_lines, write_csv, write_csv_bodies

ROW = {"article_id": "en/a", "subject": "=HYPERLINK(\"x\")", "relation": "coach_of", "object": "AC Milan",
       "evidence": "Line one,\n\"quoted\" line two", "start": 0, "end": 35, "confidence": "0.90",
       "value": "-1"}


def test_formula_cells_are_neutralised_but_numbers_kept():
    assert excel_safe("subject", "=1+1") == "'=1+1"
    assert excel_safe("subject", "@handle") == "'@handle"
    assert excel_safe("confidence", "0.75") == "0.75"
    assert excel_safe("value", "-1") == "-1"


def test_csv_round_trips_through_pandas_and_csv_module(tmp_path):
    path = tmp_path / "triples.csv"
    write_csv(path, TRIPLE_COLUMNS, [ROW])
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    frame = pd.read_csv(path, encoding="utf-8-sig", keep_default_na=False, dtype=str)
    assert list(frame.columns) == TRIPLE_COLUMNS
    assert rows[0]["evidence"] == frame.loc[0, "evidence"] == ROW["evidence"]
    assert rows[0]["subject"].startswith("'=")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")


def test_csv_bodies_made_per_article_join_into_the_same_file_as_write_csv(tmp_path):
    spurs = [ROW, {**ROW, "subject": "Thomas Frank", "evidence": "Frank, the new head coach", "start": 40}]
    torino = [{**ROW, "article_id": "it/toro", "subject": "@TorinoFC", "evidence": "Vanoli è stato esonerato"}]
    for bom in (True, False):
        whole, joined = tmp_path / f"whole-{bom}.csv", tmp_path / f"joined-{bom}.csv"
        write_csv(whole, TRIPLE_COLUMNS, spurs + torino, bom=bom)
        write_csv_bodies(joined, TRIPLE_COLUMNS, [csv_lines(TRIPLE_COLUMNS, spurs), b"",
                                                  csv_lines(TRIPLE_COLUMNS, torino)], bom=bom)
        assert joined.read_bytes() == whole.read_bytes()
    assert csv_lines(TRIPLE_COLUMNS, []) == b""


def test_json_lines_are_one_sorted_object_per_line_even_with_newlines_in_text():
    lines = json_lines([ROW, {"b": "città", "a": 1}]).splitlines()
    assert [json.loads(line) for line in lines] == [ROW, {"a": 1, "b": "città"}]
    assert lines[1] == '{"a": 1, "b": "città"}'
    assert json_lines([]) == ""


def test_bom_can_be_turned_off(tmp_path):
    path = tmp_path / "t.csv"
    write_csv(path, TRIPLE_COLUMNS, [], bom=False)
    assert path.read_bytes().startswith(b"article_id,")


# ---------------------------------------------------------------------------------------
# Every file the write stage produces, on a run folder of our own (no NLP involved).

import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402

import pytest  # noqa: E402

from pipeline import stages  # noqa: E402
from pipeline.ingest import Article  # noqa: E402
from pipeline.write import (  # noqa: E402
    FORMULA_START, NUMERIC_COLUMNS, UnsafeArticleId, article_file_name, article_file_names, excel_restore,
    read_csv, write_per_article,
)

SPURS = ("Tottenham Hotspur have sacked Ange Postecoglou.\n"
         "-2 points from safety, the club said.\n"
         "=HYPERLINK(\"http://evil\") was painted on a banner.")
TORINO = "Il Torino ha esonerato Paolo Vanoli.\n@TorinoFC: Cairo punta su Zanetti."


def triple(article_id, date, lang, subject, relation, obj, status, text, start, end, **extra):
    row = {"article_id": article_id, "article_date": date, "language": lang, "subject": subject,
           "subject_type": "COACH", "relation": relation, "object": obj, "object_type": "CLUB", "value": "",
           "status": status, "source": "", "confidence": "0.90", "evidence": text[start:end],
           "start": start, "end": end, "rule": f"{lang}.{relation}.test"}
    row.update(extra)
    return row


def make_run(out, articles, triples, entities=()):
    """The files the write stage reads: work/articles.jsonl, work/triples.jsonl, entities.csv."""
    stages.save_articles(articles, out)
    (out / "work" / "triples.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in triples), encoding="utf-8")
    write_csv(out / "entities.csv", stages.ENTITY_COLUMNS, entities)


@pytest.fixture
def nasty_run(tmp_path):
    out = tmp_path / "out"
    articles = [
        Article("en/spurs", "in/en/spurs.txt", "a" * 64, "2025-06-12", SPURS, "utf-8", "ok", [], "en", 0.99),
        Article("it/toro", "in/it/toro.txt", "b" * 64, "2025-05", TORINO, "utf-8", "ok", [], "it", 0.97),
        Article("it/quiet", "in/it/quiet.txt", "c" * 64, "", "Il Genoa pareggia.", "utf-8", "ok", [], "it", 0.9),
        Article("=cmd|'/C calc'!A0", "in/=cmd.txt", "d" * 64, "", "", "", "skipped: empty file", [], "", 0.0),
        Article("es/madrid", "in/es/madrid.txt", "e" * 64, "", "El Real Madrid...", "utf-8",
                "skipped: unsupported language es", [], "es", 0.99),
    ]
    end1 = SPURS.index(".") + 1
    triples = [
        triple("en/spurs", "2025-06-12", "en", "Ange Postecoglou", "sacked_by", "Tottenham Hotspur", "fact",
               SPURS, 0, len(SPURS)),
        triple("en/spurs", "2025-06-12", "en", "=HYPERLINK(\"http://evil\")", "linked_to", "@spurs", "rumour",
               SPURS, 0, end1, source="+Sky Sports;-Radio", confidence="0.50"),
        triple("en/spurs", "2025-06-12", "en", "Ange Postecoglou", "contract_until", "Tottenham Hotspur", "fact",
               SPURS, 0, end1, value="-1"),
        triple("it/toro", "2025-05", "it", "Paolo Vanoli", "sacked_by", "Torino", "fact", TORINO, 0, 36),
        triple("it/toro", "2025-05", "it", "Paolo Zanetti", "linked_to", "Torino", "rumour", TORINO, 37,
               len(TORINO), source="@TorinoFC"),
    ]
    entities = [{"article_id": "en/spurs", "text": "Tottenham Hotspur", "canonical": "Tottenham Hotspur",
                 "type": "CLUB", "entity_id": "club:tottenham", "start": 0, "end": 17, "sentence": 0,
                 "component": "kb ruler"},
                {"article_id": "it/toro", "text": "@TorinoFC", "canonical": "@TorinoFC", "type": "MEDIA",
                 "entity_id": "media:torino", "start": 37, "end": 46, "sentence": 1, "component": "handle"}]
    make_run(out, articles, triples, entities)
    return out, articles, triples


def both_readers(path):
    """(csv-module rows, pandas rows as str, pandas frame with inferred dtypes) of one CSV."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    as_text = pd.read_csv(path, encoding="utf-8-sig", keep_default_na=False, dtype=str)
    inferred = pd.read_csv(path, encoding="utf-8-sig", keep_default_na=False)
    return rows, as_text.to_dict("records"), inferred


def test_every_output_csv_is_excel_safe_and_reads_back_the_same(nasty_run):
    out, _, triples = nasty_run
    stages.run_write(out, per_article=True)
    files = sorted(out.rglob("*.csv"))
    names = {p.relative_to(out).as_posix() for p in files}
    assert {"triples.csv", "articles.csv", "summary.csv", "entities.csv",
            "articles/en/spurs.csv", "articles/it/toro.csv", "articles/it/quiet.csv"} <= names
    for path in files:
        raw = path.read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf"), path
        unquoted = re.sub(rb'"(?:[^"]|"")*"', b"", raw)  # outside quoted cells every line ends in CRLF
        assert unquoted.count(b"\n") == unquoted.count(b"\r\n") == len(both_readers(path)[0]) + 1, path
        rows, pandas_rows, _ = both_readers(path)
        assert rows == pandas_rows, path
        for row in rows:
            for column, cell in row.items():
                if cell.startswith(FORMULA_START):
                    assert column in NUMERIC_COLUMNS and re.fullmatch(r"-?\d+(\.\d+)?", cell), (path, column, cell)
    written = read_csv(out / "triples.csv")
    assert [{k: str(v) for k, v in r.items()} for r in triples] == [
        {k: r[k] for k in triples[0]} for r in written]


def test_numbers_dates_and_newlines_survive(nasty_run):
    out, _, triples = nasty_run
    stages.run_write(out)
    rows, _, inferred = both_readers(out / "triples.csv")
    assert str(inferred["start"].dtype) == "int64" and str(inferred["confidence"].dtype) == "float64"
    by_relation = {(r["article_id"], r["relation"], r["subject"]): r for r in rows}
    contract = by_relation[("en/spurs", "contract_until", "Ange Postecoglou")]
    assert contract["value"] == "-1"  # a number in a numeric column is left alone
    linked = next(r for r in rows if r["relation"] == "linked_to" and r["article_id"] == "en/spurs")
    assert linked["subject"] == "'=HYPERLINK(\"http://evil\")" and linked["object"] == "'@spurs"
    assert linked["source"] == "'+Sky Sports;-Radio"
    sacked = by_relation[("en/spurs", "sacked_by", "Ange Postecoglou")]
    assert sacked["evidence"] == SPURS and sacked["evidence"].count("\n") == 2
    assert list(inferred["article_date"]) == [r["article_date"] for r in triples]  # ISO text, not dates
    manifest = {r["article_id"]: r for r in both_readers(out / "articles.csv")[0]}
    assert "'=cmd|'/C calc'!A0" in manifest and manifest["it/toro"]["date"] == "2025-05"
    assert manifest["it/toro"]["language_prob"] == "0.97" and manifest["en/spurs"]["n_triples"] == "3"
    assert manifest["it/toro"]["n_entities"] == "1"


def test_no_bom_applies_to_every_file(nasty_run):
    out, _, _ = nasty_run
    stages.run_write(out, bom=False, per_article=True)
    before = read_csv(out / "entities.csv")
    for path in out.rglob("*.csv"):
        assert not path.read_bytes().startswith(b"\xef\xbb\xbf"), path
    assert read_csv(out / "entities.csv") == before  # entities.csv (from normalise) rewritten without its BOM


def test_per_article_csvs_split_triples_csv(nasty_run):
    out, articles, _ = nasty_run
    stages.run_write(out, per_article=True)
    all_rows = read_csv(out / "triples.csv")
    per_article = {p.relative_to(out / "articles").as_posix(): read_csv(p) for p in (out / "articles").rglob("*.csv")}
    ok_ids = sorted(a.article_id for a in articles if a.ok)
    assert sorted(per_article) == [f"{a}.csv" for a in ok_ids]  # skipped articles get no file
    for article_id in ok_ids:
        assert per_article[f"{article_id}.csv"] == [r for r in all_rows if r["article_id"] == article_id]
    with (out / "articles" / "it" / "quiet.csv").open(encoding="utf-8-sig", newline="") as handle:
        assert next(csv.reader(handle)) == TRIPLE_COLUMNS  # header even with no triples


def test_per_article_removes_stale_files_and_only_csvs(nasty_run):
    out, _, _ = nasty_run
    (out / "articles" / "old").mkdir(parents=True)
    (out / "articles" / "old" / "gone.csv").write_text("x", encoding="utf-8")
    (out / "articles" / "notes.txt").write_text("mine", encoding="utf-8")
    stages.run_write(out, per_article=True)
    assert not (out / "articles" / "old" / "gone.csv").exists()
    assert (out / "articles" / "notes.txt").read_text(encoding="utf-8") == "mine"


@pytest.mark.parametrize("article_id", ["../escape", "en/../../escape", "..", "en\\..\\..\\escape", "./.."])
def test_article_ids_that_climb_out_are_rejected(article_id):
    with pytest.raises(UnsafeArticleId):
        article_file_name(article_id)


def test_article_file_names_stay_inside_and_never_collide():
    assert article_file_name("it dir/toro è") == "it dir/toro è.csv"
    odd = {a: article_file_name(a) for a in ["/etc/passwd", "C:/Windows/evil", "a?b", "a_b", "con", "x/./y",
                                             "tab\there", "ends."]}
    for article_id, name in odd.items():
        parts = name.split("/")
        assert not name.startswith("/") and ".." not in parts and "" not in parts and "." not in parts
        assert not re.search(r'[\x00-\x1f<>:"\\|?*]', name), name
    assert len(set(odd.values())) == len(odd)
    folded = article_file_names(["serie a/Roma", "serie a/roma", "../up"])
    assert set(folded) == {"serie a/Roma", "serie a/roma"}
    assert folded["serie a/Roma"].casefold() != folded["serie a/roma"].casefold()


def test_write_per_article_never_writes_outside_its_folder(tmp_path):
    root = tmp_path / "out" / "articles"
    outside = tmp_path / "outside"
    outside.mkdir()
    root.mkdir(parents=True)
    os.symlink(outside, root / "linked", target_is_directory=True)
    rows = [{"article_id": a, "subject": "Thiago Motta", "relation": "sacked_by", "object": "Juventus"}
            for a in ["../../outside/pwned", "/tmp/abs", "linked/x", "en/fine"]]
    written, rejected = write_per_article(root, TRIPLE_COLUMNS, rows, [r["article_id"] for r in rows])
    assert rejected == ["../../outside/pwned", "linked/x"]
    assert list(outside.iterdir()) == []
    for path in written.values():
        assert path.resolve().is_relative_to(root.resolve())
    assert (root / "en" / "fine.csv").exists()


def test_strict_numbers_in_numeric_columns():
    assert excel_safe("value", "-2") == "-2"
    assert excel_safe("value", "-2+3") == "'-2+3"
    assert excel_safe("value", "\t1") == "'\t1"
    assert excel_safe("confidence", "-inf") == "'-inf"
    assert excel_safe("evidence", "-2 points from safety") == "'-2 points from safety"
    for cell in ["=1+1", "@spurs", "-2", "+39 06", "\r\nx", "plain"]:
        assert excel_restore(excel_safe("subject", cell)) == cell


# ---------------------------------------------------------------------------------------
# write_csv builds its cells itself (for speed): the bytes must stay what csv.DictWriter
# writes for the same rows through excel_safe; iter_csv reads like csv.DictReader.

import io  # noqa: E402

from pipeline.write import tally_csv  # noqa: E402

AWKWARD_ROWS = [
    {"article_id": "=cmd|'/C calc'!A0", "start": -3, "end": 12, "value": None, "confidence": 0.5,
     "subject": "-2 points", "evidence": 'He said "no",\r\nthen left.', "ignored": "not a column"},
    {"article_id": "it/toro", "start": 0, "value": "-1", "confidence": float("-inf"), "subject": True,
     "evidence": "@TorinoFC\tsays"},
    {"article_id": "en/empty", "subject": -5},
    {"article_id": "'already quoted", "start": "7", "value": "+39 06", "subject": "'=x", "evidence": ""},
]


def dictwriter_bytes(columns, rows):
    handle = io.StringIO(newline="")
    writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: excel_safe(c, row.get(c, "")) for c in columns})
    return ("\ufeff" + handle.getvalue()).encode("utf-8")


def test_write_csv_writes_what_csv_dictwriter_writes(tmp_path):
    columns = ["article_id", "start", "end", "value", "confidence", "subject", "evidence"]
    path = tmp_path / "awkward.csv"
    assert write_csv(path, columns, AWKWARD_ROWS) == len(AWKWARD_ROWS)
    assert path.read_bytes() == dictwriter_bytes(columns, AWKWARD_ROWS)
    assert read_csv(path)[0]["article_id"] == "=cmd|'/C calc'!A0" and read_csv(path)[0]["start"] == "-3"
    assert read_csv(path)[1]["confidence"] == "-inf" and read_csv(path)[2]["value"] == ""


def test_iter_csv_reads_short_rows_and_blank_lines_like_dictreader(tmp_path):
    path = tmp_path / "hand.csv"
    path.write_text("\ufeffarticle_id,text,start\r\nen/a,\"Juventus, again\",3\r\n\r\nen/b\r\n'=x,'@y,'7\r\n",
                    encoding="utf-8", newline="")
    with path.open(encoding="utf-8-sig", newline="") as handle:
        expected = [{k: excel_restore(v or "") for k, v in row.items()} for row in csv.DictReader(handle)]
    assert read_csv(path) == expected
    assert read_csv(path)[1] == {"article_id": "en/b", "text": "", "start": ""}
    assert read_csv(path)[2] == {"article_id": "=x", "text": "@y", "start": "'7"}
    path.write_text("article_id,text\r\nen/a,Juventus,extra\r\n", encoding="utf-8", newline="")
    with pytest.raises(ValueError, match="row 2 has 3 cells"):
        read_csv(path)


def test_tally_csv_counts_every_row_and_keeps_the_wanted_ones(tmp_path):
    path = tmp_path / "entities.csv"
    entities = [{"article_id": a, "text": t, "canonical": t, "type": "CLUB", "start": 0, "end": len(t)}
                for a, t in [("en/spurs", "Tottenham"), ("=cmd", "=SUM(A1)"), ("en/spurs", "Spurs"),
                             ("it/toro", "Torino"), ("=cmd", "@spurs")]]
    write_csv(path, stages.ENTITY_COLUMNS, entities)
    counts, kept = tally_csv(path, "article_id", {"=cmd", "it/gone"})
    assert counts == {"en/spurs": 2, "=cmd": 2, "it/toro": 1}
    assert kept == [row for row in read_csv(path) if row["article_id"] == "=cmd"]
    assert [row["text"] for row in kept] == ["=SUM(A1)", "@spurs"]
    write_csv(path, stages.ENTITY_COLUMNS, [])
    assert tally_csv(path, "article_id", {"=cmd"}) == ({}, [])
    other = tmp_path / "other.csv"
    write_csv(other, ["id", "text"], [])
    assert tally_csv(other, "article_id", set()) == ({}, [])
    write_csv(other, ["id", "text"], [{"id": "en/a", "text": "Juventus"}])
    with pytest.raises(ValueError, match="no article_id column"):
        tally_csv(other, "article_id", set())
