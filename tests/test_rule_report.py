import json
from pathlib import Path

import pytest

from pipeline.evaluate import ROOT
from pipeline.rule_report import changes, judge, load_scorer, rule_table

SHARED = ROOT.parent / "shared"
pytestmark = pytest.mark.skipif(not (SHARED / "tools" / "score.py").exists(), reason="needs ../shared")

GOLD = [
    {"article": "a", "subject": ["Thomas Frank"], "relation": "joins", "object": ["Tottenham Hotspur", "Spurs"],
     "value": None, "status": "fact", "source": [], "optional": False},
    {"article": "a", "subject": ["Thomas Frank"], "relation": "coach_of", "object": ["Tottenham Hotspur"],
     "value": None, "status": "fact", "source": [], "optional": True},
]


def row(subject, relation, obj, rule, article="a"):
    return {"article_id": article, "subject": subject, "relation": relation, "object": obj, "value": "", "rule": rule}


@pytest.fixture
def gold(tmp_path) -> Path:
    path = tmp_path / "gold.jsonl"
    path.write_text("".join(json.dumps(g) + "\n" for g in GOLD))
    return path


def test_rows_are_judged_by_the_contract_scorer(gold):
    rows = [row("Thomas Frank", "joins", "Spurs", "r.joins"), row("Thomas Frank", "coach_of", "Tottenham Hotspur", "r.coach"),
            row("Thomas Frank", "sacked_by", "Brentford", "r.sack"), row("X", "joins", "Y", "r.joins", article="b")]
    scorer = load_scorer(SHARED)
    assert judge(rows, [gold], scorer) == ["right", "neutral", "wrong", ""]


def test_rule_table_counts_precision_overlaps_and_conflicts(gold):
    rows = [row("Thomas Frank", "joins", "Tottenham Hotspur", "r.joins"),
            row("Thomas Frank", "coach_of", "Tottenham Hotspur", "r.coach"),
            row("Thomas Frank", "sacked_by", "Brentford", "r.sack")]
    table = rule_table(rows, judge(rows, [gold], load_scorer(SHARED)))
    lines = {line.split()[0]: line.split()[1:] for line in table.splitlines()[1:]}
    assert lines["r.joins"] == ["1", "1", "0", "0", "1.000", "1", "1"]
    assert lines["r.sack"] == ["1", "0", "0", "1", "0.000", "0", "0"]


def test_changes_list_gains_and_losses():
    before = [row("Thomas Frank", "joins", "Brentford", "r")]
    now = [row("Thomas Frank", "joins", "Tottenham Hotspur", "r")]
    report = changes(before, now, ["right"])
    assert "1 gained, 1 lost" in report
    assert "+ [right  ] a: Thomas Frank -joins-> Tottenham Hotspur" in report
    assert "- a: Thomas Frank -joins-> Brentford" in report
