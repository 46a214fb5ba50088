import json

import pytest

from pipeline.knowledge import KnowledgeBaseError, load_kb
from pipeline.ruleset import RuleFileError, load_yaml

GOOD = {"id": "club:juventus", "type": "CLUB", "name": "Juventus", "aliases": ["Juve"]}


@pytest.mark.parametrize("bad, message", [
    ({**GOOD, "aliases": "Juve"}, "'aliases' must be a list of strings"),
    ({**GOOD, "name": 7}, "'name' must be a non-empty string"),
    ({"id": "club:x", "type": "CLUB"}, "'name' must be a non-empty string"),
])
def test_malformed_kb_entries_name_file_and_line(tmp_path, bad, message):
    path = tmp_path / "kb.jsonl"
    path.write_text(json.dumps(GOOD) + "\n" + json.dumps(bad) + "\n", encoding="utf-8")
    with pytest.raises(KnowledgeBaseError, match=rf"kb.jsonl:2: bad KB entry: {message}"):
        load_kb(path)


def test_a_good_kb_resolves_aliases(tmp_path):
    path = tmp_path / "kb.jsonl"
    path.write_text(json.dumps(GOOD) + "\n", encoding="utf-8")
    assert [e.name for e in load_kb(path).lookup("juve")] == ["Juventus"]


def test_rule_file_that_is_not_utf8_is_a_clear_error(tmp_path):
    path = tmp_path / "relations.yml"
    path.write_bytes("- id: it.x\n  description: 'città'\n".encode("latin-1"))
    with pytest.raises(RuleFileError, match="relations.yml: not UTF-8 text"):
        load_yaml(path)
