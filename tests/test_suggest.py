"""Rule suggestions from missed gold triples, on a tiny corpus of our own wording run through
the real annotate, normalise and relation stages (knowledge base and rules, no statistical NER)."""
import json
import os

import pytest
from spacy.matcher import Matcher

from pipeline.evaluate import ROOT
from pipeline.relations import compile_rule
from pipeline.rule_report import load_scorer
from pipeline.ruleset import load_yaml
from pipeline.suggest import Options, make_corpus, main, suggest, suggestion_ids, up_to_date, write_yaml

SHARED = ROOT.parent / "shared"
pytestmark = pytest.mark.skipif(not (SHARED / "tools" / "score.py").exists(), reason="needs ../shared/tools/score.py")

# "shook hands with X chiefs" is an agreement no rule of ours knows; "shook hands with
# Fulham fans" is not one, so a pattern without "chiefs" also finds a wrong pair.
ARTICLES = {
    "deals/one": "Torino close in on a coach\n\nMassimiliano Allegri shook hands with Torino chiefs on Tuesday, "
                 "ending weeks of talks. Marco Silva shook hands with Fulham fans after the draw.",
    "deals/two": "Busy week on the benches\n\nMarco Silva shook hands with Brentford chiefs after a long meeting. "
                 "Days earlier Massimiliano Allegri shook hands with Napoli officials in Rome.",
}
GOLD = [("deals/one", "Massimiliano Allegri", "Torino"), ("deals/two", "Marco Silva", "Brentford"),
        ("deals/two", "Massimiliano Allegri", "Napoli")]
SENTENCE = "Massimiliano Allegri shook hands with Torino chiefs on Tuesday, ending weeks of talks."


@pytest.fixture(scope="module")
def english(tiny_kb):
    from pipeline.nlp import build_nlp
    from pipeline.normalise import Normaliser
    from pipeline.relations import RelationExtractor

    nlp = build_nlp("en", model="blank", kb=tiny_kb)
    return nlp, Normaliser(nlp, tiny_kb), RelationExtractor(nlp)


def normalised(english, text: str, article_id: str = "t"):
    nlp, normaliser, _ = english
    doc = nlp(text)
    doc.user_data.update(article_id=article_id, date="2025-06-10", language="en")
    return normaliser(doc)


@pytest.fixture(scope="module")
def gold_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("gold") / "gold.jsonl"
    rows = [{"article": a, "language": "en", "subject": [s], "relation": "joins", "object": [o], "value": None,
             "status": "fact", "source": [], "optional": False} for a, s, o in GOLD]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def corpus(english, gold_file):
    from pipeline.relations import merge

    _, _, extractor = english
    docs = [normalised(english, text, article_id) for article_id, text in ARTICLES.items()]
    predicted = []
    for doc in docs:
        names = doc.user_data["entities"]
        predicted += [{"article_id": t.article_id, "subject": names[t.subject_id]["name"], "relation": t.relation,
                       "object": names[t.object_id]["name"], "value": t.value} for t in merge(extractor(doc))]
    return make_corpus("ours", docs, [gold_file], predicted, load_scorer(SHARED))


@pytest.fixture(scope="module")
def suggested(corpus):
    chosen, reasons = suggest([corpus], load_scorer(SHARED), Options())
    return chosen, reasons


def recovers(candidate, subject: str, club: str) -> bool:
    """Whether the candidate finds this gold joins triple (keys: corpus, article, subject, relation, object, value)."""
    return any(k[2:5] == (subject, "joins", club) for k in candidate.right)


def test_the_new_phrasing_is_missed_by_the_rules(corpus):
    assert {(g["subject"][0], g["object"][0]) for g in corpus.missed} == {(s, o) for _, s, o in GOLD}


def test_a_missed_relation_gets_a_pattern_that_matches_its_sentence(english, suggested):
    chosen, reasons = suggested
    for_torino = [c for c in chosen if recovers(c, "Massimiliano Allegri", "Torino")]
    assert for_torino and reasons.get("recovered by a suggestion") == 3
    rule = compile_rule(for_torino[0].raw_rule("en.joins.suggested_1"), "test")
    doc = normalised(english, SENTENCE)
    matcher = Matcher(doc.vocab)
    matcher.add(rule.id, [rule.pattern], greedy="LONGEST")
    (_, start, _, alignment), = matcher(doc, with_alignments=True)
    bound = {role: doc[start + alignment.index(index)] for role, index in rule.roles.items()}
    assert (bound["subject"].text, bound["subject"].ent_type_) == ("Massimiliano", "COACH")
    assert (bound["object"].text, bound["object"].ent_type_) == ("Torino", "CLUB")


def test_a_pattern_that_also_fires_on_a_wrong_pair_ranks_below_a_clean_one(suggested):
    chosen, _ = suggested
    clean = next(i for i, c in enumerate(chosen) if c.precision == 1.0 and recovers(c, "Massimiliano Allegri", "Torino"))
    loose = next(i for i, c in enumerate(chosen)
                 if any(k[2:5] == ("Marco Silva", "joins", "Fulham") for k in chosen[i].wrong))
    assert clean < loose
    # the loose one recovers more missed triples (Napoli too): precision still comes first
    assert len(chosen[loose].recovered) > len(chosen[clean].recovered)
    assert chosen[loose].precision == pytest.approx(3 / 4)


def test_the_yaml_file_holds_rule_entries_ready_to_paste(suggested, tmp_path):
    chosen, _ = suggested
    path = tmp_path / "suggested.yml"
    write_yaml(path, chosen, suggestion_ids(chosen))
    entries = load_yaml(path)
    assert len(entries) == len(chosen) >= 2
    assert len({e["id"] for e in entries}) == len(entries)
    for entry in entries:
        assert entry["id"].startswith("en.joins.suggested_") and entry["relation"] == "joins"
        assert "shook hands with" in entry["examples"][0]
        assert "missed gold triple" in entry["description"]
        rule = compile_rule(entry, str(path))
        assert set(rule.roles) == {"subject", "object"}
    assert "# 1. precision 1.00" in path.read_text(encoding="utf-8")


def test_a_run_older_than_its_articles_or_missing_one_is_not_reused(tmp_path):
    articles, out = tmp_path / "in", tmp_path / "out"
    articles.mkdir()
    out.mkdir()
    (articles / "a.txt").write_text("Milan sacked their coach.", encoding="utf-8")
    (out / "triples.csv").write_text("article_id\n", encoding="utf-8")
    (out / "articles.csv").write_text("article_id,status\na,ok\n", encoding="utf-8")
    os.utime(articles / "a.txt", (1_000_000, 1_000_000))
    assert up_to_date(articles, out, sources=[])
    os.utime(articles / "a.txt")
    assert not up_to_date(articles, out, sources=[])
    os.utime(articles / "a.txt", (1_000_000, 1_000_000))
    (articles / "b.txt").write_text("Inter want a new coach.", encoding="utf-8")
    os.utime(articles / "b.txt", (1_000_000, 1_000_000))
    assert not up_to_date(articles, out, sources=[])


def test_a_missing_shared_folder_is_a_clear_error(tmp_path, capsys):
    assert main(["--shared", str(tmp_path / "nowhere"), "--yaml", str(tmp_path / "s.yml")]) == 2
    assert "score.py not found" in capsys.readouterr().err
    assert not (tmp_path / "s.yml").exists()
