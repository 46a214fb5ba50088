"""summary.csv: one row per (subject, relation, object) across articles, on reports of our own."""
import csv
import json
import random

import pandas as pd

from pipeline import stages
from pipeline.ingest import Article
from pipeline.summary import SUMMARY_COLUMNS, summarise

# A small story told over several articles: Thiago Motta and the Juventus bench.
STORY = [
    ("en/feb-rumour", "2025-02-10", "Juventus are reportedly considering Thiago Motta, according to Sky Sport.",
     "linked_to", "rumour", "Sky Sport"),
    ("it/mar-voci", "2025-03", "Secondo Fabrizio Romano e Sky Sport, la Juventus starebbe pensando a Thiago Motta.",
     "linked_to", "rumour", "Fabrizio Romano;Sky Sport"),
    ("it/mar-smentita", "2025-03-20", "La Juventus smentisce: nessun contatto con Thiago Motta.",
     "linked_to", "denied", ""),
    ("en/undated", "", "Thiago Motta has long been linked with Juventus.", "linked_to", "rumour", ""),
    ("en/apr-appointed", "2025-04-02", "Juventus have appointed Thiago Motta as head coach.", "joins", "fact", ""),
]


def row(article_id, date, text, relation, status, source, subject="Thiago Motta", obj="Juventus", value="",
        start=0):
    return {"article_id": article_id, "article_date": date, "language": article_id[:2], "subject": subject,
            "subject_type": "COACH", "relation": relation, "object": obj, "object_type": "CLUB", "value": value,
            "status": status, "source": source, "confidence": "0.80", "evidence": text, "start": start,
            "end": start + len(text), "rule": "test"}


def story_rows():
    return [row(*item) for item in STORY]


def by_key(summary):
    return {(r["subject"], r["relation"], r["object"]): r for r in summary}


def test_one_row_per_subject_relation_object():
    rows = story_rows()
    summary = summarise(rows)
    assert len(summary) == len({(r["subject"], r["relation"], r["object"]) for r in rows}) == 2
    linked = by_key(summary)[("Thiago Motta", "linked_to", "Juventus")]
    linked_rows = [r for r in rows if r["relation"] == "linked_to"]
    assert linked["n_articles"] == len({r["article_id"] for r in linked_rows}) == 4
    assert set(linked["articles"].split(";")) == {r["article_id"] for r in linked_rows}


def test_dates_span_the_dated_articles_and_keep_their_precision():
    linked = by_key(summarise(story_rows()))[("Thiago Motta", "linked_to", "Juventus")]
    assert linked["first_date"] == "2025-02-10"  # the undated article does not count as a date
    assert linked["last_date"] == "2025-03-20"
    only_month = summarise([row("it/a", "2025-03", "La Juventus pensa a Motta.", "linked_to", "rumour", "")])
    assert only_month[0]["first_date"] == only_month[0]["last_date"] == "2025-03"
    undated = summarise([row("en/u", "", "Motta was linked with Juventus.", "linked_to", "rumour", "")])
    assert undated[0]["first_date"] == undated[0]["last_date"] == ""


def test_latest_status_is_the_latest_article_by_date():
    linked = by_key(summarise(story_rows()))[("Thiago Motta", "linked_to", "Juventus")]
    assert linked["statuses"] == "rumour;denied"  # fixed order: fact, rumour, denied
    assert linked["latest_status"] == "denied" and linked["latest_article"] == "it/mar-smentita"
    # the same story, but the denial comes first and a later report revives the rumour
    revived = story_rows() + [row("en/may-again", "2025-05-01", "Motta is again linked with Juventus.",
                                  "linked_to", "rumour", "The Athletic")]
    linked = by_key(summarise(revived))[("Thiago Motta", "linked_to", "Juventus")]
    assert linked["latest_status"] == "rumour" and linked["latest_article"] == "en/may-again"
    assert linked["last_date"] == "2025-05-01"


def test_latest_status_ties_on_date_are_broken_by_article_id_then_offset():
    same_day = [row("it/b-smentita", "2025-06-01", "Nessun contatto tra Motta e la Juventus.", "linked_to",
                    "denied", ""),
                row("en/a-rumour", "2025-06-01", "Juventus want Motta, say reports.", "linked_to", "rumour", "")]
    assert summarise(same_day)[0]["latest_status"] == "denied"  # "it/b..." sorts after "en/a..."
    one_article = [row("en/x", "2025-06-01", "Later the club denied it.", "linked_to", "denied", "", start=80),
                   row("en/x", "2025-06-01", "Juventus want Motta.", "linked_to", "rumour", "", start=0)]
    assert summarise(one_article)[0]["latest_status"] == "denied"


def test_undated_articles_count_as_older_than_dated_ones():
    rows = [row("en/undated-z", "", "Juventus deny any talks with Motta.", "linked_to", "denied", ""),
            row("en/dated-a", "2025-01-05", "Juventus are keen on Motta.", "linked_to", "rumour", "")]
    assert summarise(rows)[0]["latest_status"] == "rumour"


def test_sources_are_split_deduplicated_and_in_order_of_first_report():
    linked = by_key(summarise(story_rows()))[("Thiago Motta", "linked_to", "Juventus")]
    assert linked["sources"] == "Sky Sport;Fabrizio Romano"


def test_sources_are_trimmed_and_empty_parts_dropped():
    rows = [row("en/a", "2025-01-01", "Motta to Juventus, say Sky Sport and Romano.", "linked_to", "rumour",
                " Sky Sport ; ;Fabrizio Romano;"),
            row("en/b", "2025-01-02", "Motta to Juventus, says Gazzetta.", "linked_to", "rumour", None),
            row("en/c", "2024-12-30", "Romano first: Motta to Juventus.", "linked_to", "rumour", "Fabrizio Romano ")]
    assert summarise(rows)[0]["sources"] == "Fabrizio Romano;Sky Sport"  # Romano reported first (2024-12-30)


def test_values_of_a_contract_are_listed_once_each():
    rows = [row("en/a", "2025-01-01", "Motta's contract runs until 2026.", "contract_until", "fact", "", value="2026"),
            row("en/b", "2025-03-01", "Motta extended his contract until 2027.", "contract_until", "fact", "",
                value="2027"),
            row("it/c", "2025-04-01", "Contratto fino al 2027 per Motta.", "contract_until", "fact", "", value="2027")]
    assert summarise(rows)[0]["values"] == "2026;2027"


def test_order_is_deterministic_whatever_the_input_order():
    rows = story_rows() + [
        row("en/c", "2025-01-01", "Napoli have sacked Antonio Conte.", "sacked_by", "fact", "",
            subject="Antonio Conte", obj="Napoli"),
        row("en/d", "2025-01-02", "Arsenal want Viktor Gyökeres.", "transfer_target", "rumour", "",
            subject="Arsenal", obj="Viktor Gyökeres"),
        row("it/e", "2025-01-03", "l'Inter pensa a Cesc Fàbregas.", "linked_to", "rumour", "",
            subject="Cesc Fàbregas", obj="Inter"),
    ]
    expected = summarise(rows)
    keys = [(r["subject"], r["relation"], r["object"]) for r in expected]
    assert keys == sorted(keys, key=lambda k: (k[0].casefold(), k[0], k[1], k[2].casefold(), k[2]))
    for seed in range(5):
        shuffled = rows[:]
        random.Random(seed).shuffle(shuffled)
        assert summarise(shuffled) == expected


def test_summary_csv_is_written_by_the_write_stage_and_reads_back(tmp_path):
    out = tmp_path / "out"
    rows = story_rows()
    articles = [Article(a, f"in/{a}.txt", "0" * 64, d, text, "utf-8", "ok", [], a[:2], 0.99)
                for a, d, text, *_ in STORY]
    stages.save_articles(articles, out)
    (out / "work" / "triples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    stages.run_write(out)
    path = out / "summary.csv"
    with path.open(encoding="utf-8-sig", newline="") as handle:
        from_csv = list(csv.DictReader(handle))
    frame = pd.read_csv(path, encoding="utf-8-sig", keep_default_na=False, dtype=str)
    assert list(frame.columns) == SUMMARY_COLUMNS
    assert frame.to_dict("records") == from_csv
    expected = [{k: str(v) for k, v in r.items()} for r in summarise(rows)]
    assert from_csv == expected
    numbers = pd.read_csv(path, encoding="utf-8-sig", keep_default_na=False)
    assert str(numbers["n_articles"].dtype) == "int64"
