import json

import pytest

from pipeline.evaluate import ROOT, own_corpus, score
from pipeline.write import TRIPLE_COLUMNS, write_csv

SHARED = ROOT.parent / "shared"


def test_own_corpus_holds_only_our_annotated_folders(tmp_path):
    copy = own_corpus(tmp_path)
    assert {p.name for p in copy.iterdir()} <= {"en", "it", "other"}
    assert any(copy.rglob("*.txt"))


@pytest.mark.skipif(not (SHARED / "tools" / "score.py").exists(), reason="needs ../shared/tools/score.py")
def test_scores_come_from_the_shared_scorer(tmp_path):
    gold = tmp_path / "gold.jsonl"
    gold.write_text(json.dumps({"article": "a", "language": "en", "subject": ["Thomas Frank"],
                                "relation": "joins", "object": ["Tottenham Hotspur", "Spurs"],
                                "value": None, "status": "fact", "source": [], "optional": False}) + "\n")
    pred = tmp_path / "triples.csv"
    write_csv(pred, TRIPLE_COLUMNS, [{"article_id": "a", "subject": "Thomas Frank", "relation": "joins",
                                      "object": "Spurs", "status": "fact", "start": 0, "end": 1}])
    table = score(pred, [gold], SHARED, errors=False)
    line = next(line for line in table.splitlines() if line.startswith("all"))
    assert line.split()[-1] == "1.000"


def test_entity_gold_offsets_land_on_the_text_after_the_header(tmp_path):
    from pipeline.evaluate import entity_table, gold_entity_spans

    (tmp_path / "a.txt").write_text(" date 2025-01-02 Milan sacked Fonseca. Milan want Conceição.", encoding="utf-8")
    gold = tmp_path / "entities.jsonl"
    gold.write_text("\n".join(json.dumps(r) for r in (
        {"article": "a", "text": "Milan", "label": "CLUB", "occurrence": 2},
        {"article": "a", "text": "Fonseca", "label": "PER", "occurrence": 1})) + "\n")
    spans = gold_entity_spans(gold, tmp_path)
    body = "Milan sacked Fonseca. Milan want Conceição."
    assert {body[s:e] for _, s, e, _ in spans} == {"Milan", "Fonseca"}
    assert ("a", 22, 27, "CLUB") in spans
    table = entity_table(spans, {("a", 22, 27, "CLUB")})
    assert "CLUB                         1     1    1  1.000  1.000  1.000" in table


def test_entity_scores_skip_articles_in_other_languages(tmp_path):
    from pipeline.evaluate import processed_articles
    from pipeline.write import write_csv

    manifest = tmp_path / "articles.csv"
    write_csv(manifest, ["article_id", "status"], [{"article_id": "en/a", "status": "ok"},
                                                   {"article_id": "other/es", "status": "skipped: unsupported language es"}])
    assert processed_articles(manifest) == {"en/a"}
