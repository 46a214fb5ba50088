"""The rule files (pipeline/ruleset.py): every one passes `make rules`' check, so every
rule matches the examples it documents; YAML is read as data, with line numbers."""
import textwrap

import pytest
import yaml

from pipeline import rulebook
from pipeline.ruleset import (
    LineLoader,
    RuleFileError,
    load_yaml,
    rule_file,
    with_apostrophe_variants,
    yaml_rules,
)


@pytest.mark.parametrize("lang", ["en", "it"])
def test_every_rule_file_passes_the_rulebook_check(lang):
    """Fields, patterns, ids and every example and counter-example, run through the
    pipeline's own code (pipeline.rulebook); the message lists each problem with its line."""
    problems = rulebook.check_rules_dir(languages=(lang,))[lang].problems
    assert not problems, "\n".join(str(p) for p in problems)


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
    with pytest.raises(RuleFileError, match=r"bad.yml:\d+") as error:
        load_yaml(bad)
    assert error.value.path == bad and error.value.line in (2, 3) and "malformed YAML" in error.value.reason


def test_the_line_loader_gives_lines_and_keeps_yaml_1_2_booleans():
    data = yaml.load(textwrap.dedent("""\
        # a comment
        - id: en.x
          pattern:
            - {LOWER: no}
            - {LOWER: on, OP: "?"}
          past_to_former: true
          id: en.y
        """), Loader=LineLoader)
    rule = data[0]
    assert rule == {"id": "en.y", "pattern": [{"LOWER": "no"}, {"LOWER": "on", "OP": "?"}], "past_to_former": True}
    assert data.item_lines == [2] and rule.line == 2
    assert rule.key_lines == {"id": 2, "pattern": 3, "past_to_former": 6}
    assert rule["pattern"].item_lines == [4, 5] and rule["pattern"][1].line == 5
    assert rule.repeated == [("id", 7)]


def test_rules_written_with_a_straight_apostrophe_match_the_typographic_one():
    pattern = with_apostrophe_variants([{"LOWER": "l'"}, {"LOWER": {"IN": ["dell'", "del"]}}, {"IS_TITLE": True}])
    assert pattern[0] == {"LOWER": {"IN": ["l'", "l’"]}}
    assert set(pattern[1]["LOWER"]["IN"]) == {"dell'", "dell’", "del"}
    assert pattern[2] == {"IS_TITLE": True}


def test_italian_typographic_apostrophes_in_real_text():
    runner = rulebook.ExampleRunner(yaml_rules("it"))
    assert "it.leaves.saluta" in runner.matched("relations", "Gian Piero Gasperini saluta l’Atalanta dopo nove stagioni.")
