"""Shared fixtures: pipelines built once per session on a tiny KB of our own."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipeline import ruleset

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def tiny_kb(tmp_path_factory):
    from pipeline.knowledge import load_kb

    return load_kb(FIXTURES / "kb.jsonl")


@pytest.fixture(scope="session")
def extract(tiny_kb):
    """extract(lang, text, date) -> list of (subject, relation, object, value, status, source)."""
    from pipeline.nlp import build_nlp
    from pipeline.normalise import Normaliser
    from pipeline.relations import RelationExtractor, merge

    tools = {}

    def run(lang: str, text: str, date: str = "2025-06-01"):
        if lang not in tools:
            nlp = build_nlp(lang, model="blank", kb=tiny_kb)  # rules and KB only: fast, independent of models/
            tools[lang] = (nlp, Normaliser(nlp, tiny_kb), RelationExtractor(nlp))
        nlp, normaliser, extractor = tools[lang]
        doc = nlp(text)
        doc.user_data.update(article_id="t", date=date, language=lang)
        doc = normaliser(doc)
        names = doc.user_data["entities"]
        return {(names[t.subject_id]["name"], t.relation, names[t.object_id]["name"], t.value, t.status,
                 ";".join(t.source)) for t in merge(extractor(doc))}

    return run


@pytest.fixture
def rules_copy(tmp_path, monkeypatch):
    """A copy of pipeline/rules the tests may change or break, used as the rule folder
    (RULES_DIR); the rule-file cache is cleared around it."""
    copy = tmp_path / "rules"
    shutil.copytree(ruleset.RULES_DIR, copy)
    ruleset.rule_file.cache_clear()
    monkeypatch.setattr(ruleset, "RULES_DIR", copy)
    yield copy
    ruleset.rule_file.cache_clear()
