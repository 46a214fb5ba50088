"""Every rule file loads, and every relation rule matches the example sentences it documents."""
import pytest

from pipeline.relations import RELATIONS, load_rules
from pipeline.ruleset import RuleFileError, load_yaml, rule_file


@pytest.fixture(scope="module")
def pipelines():
    from pipeline.nlp import build_nlp
    from pipeline.normalise import Normaliser
    from pipeline.relations import RelationExtractor

    built = {}
    for lang in ("en", "it"):
        nlp = build_nlp(lang, model="blank")
        built[lang] = (nlp, Normaliser(nlp), RelationExtractor(nlp))
    return built


def examples():
    for lang in ("en", "it"):
        for rule in rule_file(lang, "relations"):
            for example in rule.get("examples") or []:
                yield pytest.param(lang, rule["id"], example, id=f"{rule['id']}:{example[:30]}")


@pytest.mark.parametrize("lang,rule_id,sentence", list(examples()))
def test_rule_matches_its_example(pipelines, lang, rule_id, sentence):
    nlp, normaliser, extractor = pipelines[lang]
    doc = normaliser(nlp(sentence))
    fired = {doc.vocab.strings[m] for m, _, _ in extractor.matcher(doc)}
    assert rule_id in fired


def test_every_rule_has_an_id_a_known_relation_and_an_example():
    for lang in ("en", "it"):
        for rule in rule_file(lang, "relations"):
            assert rule["relation"] in RELATIONS, rule["id"]
            assert rule.get("examples") and rule.get("description"), rule["id"]
        assert len({r.id for r in load_rules(lang)}) == len(rule_file(lang, "relations"))


def word_lists(node):
    """Every list of words under a LOWER/LEMMA/ORTH key of a rule file."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("LOWER", "LEMMA", "ORTH") and isinstance(value, dict):
                yield from (value.get("IN", []), value.get("NOT_IN", []))
            else:
                yield from word_lists(value)
    elif isinstance(node, list):
        for item in node:
            yield from word_lists(item)


def test_rule_words_such_as_on_and_no_stay_words():
    words = [w for lang in ("en", "it") for name in ("relations", "status", "attribution", "coref")
             for words in word_lists(rule_file(lang, name)) for w in words]
    assert "on" in words and "no" in words
    assert all(isinstance(w, str) for w in words)


def test_malformed_yaml_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("- id: x\n  pattern: [{LOWER: sack}\n")
    with pytest.raises(RuleFileError, match=r"bad.yml:\d+"):
        load_yaml(bad)


def test_rules_written_with_a_straight_apostrophe_match_the_typographic_one():
    from pipeline.ruleset import with_apostrophe_variants

    pattern = with_apostrophe_variants([{"LOWER": "l'"}, {"LOWER": {"IN": ["dell'", "del"]}}, {"IS_TITLE": True}])
    assert pattern[0] == {"LOWER": {"IN": ["l'", "l’"]}}
    assert set(pattern[1]["LOWER"]["IN"]) == {"dell'", "dell’", "del"}
    assert pattern[2] == {"IS_TITLE": True}


def test_italian_typographic_apostrophes_in_real_text(pipelines):
    nlp, normaliser, extractor = pipelines["it"]
    doc = normaliser(nlp("Gian Piero Gasperini saluta l’Atalanta dopo nove stagioni."))
    fired = {doc.vocab.strings[m] for m, _, _ in extractor.matcher(doc)}
    assert "it.leaves.saluta" in fired
