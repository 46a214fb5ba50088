"""`make rules`: every problem of the rule files named with file, line and rule; the
compiled set in models/rules round-trips and is what the stages get while it is current.

The broken rules below are our own, appended to a copy of the rule files, so these tests
hold whatever the real rules say.
"""
import hashlib
import textwrap
from pathlib import Path

import pytest
import spacy
import yaml

from pipeline import rulebook, ruleset
from pipeline.language import SUPPORTED
from pipeline.relations import RelationExtractor, merge
from pipeline.ruleset import RuleLoader

ARTICLE = """\
date 2025-11-04

Leeds sack Daniel Farke after derby defeat

Leeds United have sacked Daniel Farke after Sunday's defeat to Sheffield Wednesday, the
club confirmed on Monday. According to Sky Sports, the board could turn to Marco Silva,
who has a contract with Fulham until 2027.

Farke, who arrived in 2023, had been under pressure for weeks.
"""


def append(path: Path, text: str) -> int:
    """Append YAML to a rule file; returns the line number the appended text starts at."""
    old = path.read_text(encoding="utf-8")
    if not old.endswith("\n"):
        old += "\n"
    path.write_text(old + textwrap.dedent(text), encoding="utf-8")
    return old.count("\n") + 1


def problems(rules_dir: Path, languages=("en",)) -> list[str]:
    checked = rulebook.check_rules_dir(rules_dir, languages)
    return [str(p) for result in checked.values() for p in result.problems]


def problems_added(rules_dir: Path, edit, languages=("en",)) -> list[str]:
    """The problems an edit adds (the real rules may be mid-edit by someone else: their
    own problems, if any, are not this test's business; appending moves none of them)."""
    before = set(problems(rules_dir, languages))
    edit()
    return [p for p in problems(rules_dir, languages) if p not in before]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


RULE = """\
- id: {id}
  relation: {relation}
  description: a rule written for this test
  pattern:
    - {{LOWER: sacked}}
    - {token}
  {extra}
"""
BROKEN = {
    # case: (rule id, relation, second token, extra line, line of the problem in the rule, message)
    "unknown relation": ("en.test.relation", "sacked", "{ENT_TYPE: COACH}", "examples: [Leeds sacked Daniel Farke.]",
                         1, "unknown relation 'sacked'"),
    "unknown token attribute": ("en.test.attribute", "sacked_by", "{LOWERR: coach}",
                                "examples: [Leeds sacked coach Daniel Farke.]", 5, "unknown token attribute 'LOWERR'"),
    "unknown operator": ("en.test.operator", "sacked_by", "{ENT_TYPE: COACH, OP: '++'}",
                         "examples: [Leeds sacked Daniel Farke.]", 5, "unknown OP '++'"),
    "unknown operator of a value": ("en.test.in", "sacked_by", "{LOWER: {INN: [coach, boss]}}",
                                    "examples: [Leeds sacked coach Daniel Farke.]", 5,
                                    "unknown operator of LOWER 'INN'"),
    "unknown field": ("en.test.field", "sacked_by", "{ENT_TYPE: COACH}",
                      "examples: [Leeds sacked Daniel Farke.]\n  objet: {side: left, window: 5}",
                      7, "unknown field 'objet'"),
    "missing examples": ("en.test.no_example", "sacked_by", "{ENT_TYPE: COACH}", "not_after: [never]",
                         0, "missing field 'examples'"),
    "example not matched": ("en.test.example", "sacked_by", "{ENT_TYPE: COACH}",
                            "examples: [Leeds dismissed Daniel Farke on Monday.]", 6,
                            "does not match its example 'Leeds dismissed Daniel Farke on Monday.'"),
    "counter-example matched": ("en.test.counter", "sacked_by", "{ENT_TYPE: COACH}",
                                ("examples: [Leeds sacked Daniel Farke.]\n  "
                                 "counter_examples: [Leeds sacked Daniel Farke on Monday.]"), 7,
                                "yields a triple from its counter-example 'Leeds sacked Daniel Farke on Monday.'"),
    "bad argument spec": ("en.test.spec", "sacked_by", "{ENT_TYPE: COACH}",
                          "examples: [Leeds sacked Daniel Farke.]\n  object: {side: leftish, window: 5}", 7, 'object.side: must be one of "any", "left", "right", "prefer_left", "prefer_right"'),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_each_kind_of_problem_names_file_line_and_rule(rules_copy, case):
    rule_id, relation, token, extra, line, message = BROKEN[case]
    path = rules_copy / "en" / "relations.yml"
    start = len(path.read_text(encoding="utf-8").splitlines()) + 1
    found = problems_added(rules_copy, lambda: append(
        path, RULE.format(id=rule_id, relation=relation, token=token, extra=extra)))
    assert len(found) == 1 and found[0].startswith(f"{path}:{start + line}: rule {rule_id}: "), found
    assert message in found[0]


def test_a_malformed_yaml_file_is_named_with_its_line(rules_copy):
    path = rules_copy / "en" / "attribution.yml"
    start = append(path, "- id: en.source.broken\n  pattern: [{LOWER: via}, {ENT_TYPE: MEDIA}\n")
    found = next(p for p in problems(rules_copy) if p.startswith(f"{path}:"))
    line = int(found.split(f"{path}:")[1].split(":")[0])
    assert start <= line <= start + 2 and "malformed YAML" in found


def test_a_duplicate_id_names_both_places(rules_copy):
    path = rules_copy / "en" / "relations.yml"
    first = yaml.load(path.read_text(encoding="utf-8"), Loader=RuleLoader)[0]["id"]
    start = len(path.read_text(encoding="utf-8").splitlines()) + 1
    (found,) = problems_added(rules_copy, lambda: append(path, RULE.format(
        id=first, relation="sacked_by", token="{ENT_TYPE: COACH}", extra="examples: [Leeds sacked Daniel Farke.]")))
    assert found.startswith(f"{path}:{start}: rule {first}: duplicate id (first defined at {path}:")


def test_a_key_given_twice_is_a_problem(rules_copy):
    path = rules_copy / "en" / "relations.yml"
    start = len(path.read_text(encoding="utf-8").splitlines()) + 1
    (found,) = problems_added(rules_copy, lambda: append(path, RULE.format(
        id="en.test.twice", relation="sacked_by", token="{ENT_TYPE: COACH}",
        extra="examples: [Leeds sacked Daniel Farke.]\n  relation: joins")))
    assert found.startswith(f"{path}:{start + 7}: rule en.test.twice: 'relation' given twice (first at line {start + 1})")


def test_cue_and_coreference_files_are_checked_the_same_way(rules_copy):
    attribution, coref = rules_copy / "en" / "attribution.yml", rules_copy / "en" / "coref.yml"
    a = len(attribution.read_text(encoding="utf-8").splitlines()) + 1
    c = len(coref.read_text(encoding="utf-8").splitlines()) + 1

    def edit():
        append(attribution, """\
            - id: en.source.test_role
              description: a rule written for this test
              pattern: [{LOWER: via}, {ENT_TYPE: MEDIA, role: subject}]
            - id: en.source.test_counter
              description: a rule written for this test
              pattern: [{LOWER: via}, {ENT_TYPE: MEDIA}]
              examples: ["Leeds have sacked Daniel Farke, via Sky Sports."]
              counter_examples: [The news came via Sky Sports.]
            """)
        append(coref, """\
            - id: en.coref.test_gaffer
              refers_to: COACH
              description: a rule written for this test
              pattern: [{LOWER: the}, {LOWER: gaffer}]
              example: "The boss smiled."
            """)

    found = problems_added(rules_copy, edit)
    assert found == [
        f"{attribution}:{a + 2}: rule en.source.test_role: pattern token 2: role 'subject': one of source",
        f"{attribution}:{a + 7}: rule en.source.test_counter: matches its counter-example 'The news came via Sky Sports.'",
        (f"{coref}:{c + 4}: rule en.coref.test_gaffer: does not match its example 'The boss smiled.' "
         "(seen as: The | boss | smiled | .)"),
    ]


def test_roles_and_status_files_keep_their_shape(rules_copy):
    roles = rules_copy / "en" / "roles.yml"
    start = append(roles, "COACHES: [mister]\nBENCH_WORDS: bench\n")
    status = rules_copy / "it" / "status.yml"
    lines = status.read_text(encoding="utf-8").splitlines()
    first_key = next(i for i, line in enumerate(lines, 1) if line and not line.startswith("#"))
    lines = [("denials:" if line == "denial:" else line) for line in lines]
    status.write_text("\n".join(lines) + "\n", encoding="utf-8")
    found = problems(rules_copy, ("en", "it"))
    assert f"{roles}:{start}: unknown role 'COACHES' (roles: COACH, PLAYER, PRESIDENT, JOURNALIST; " \
           "or a word list named <NAME>_CONTEXT)" in found
    assert f"{roles}:{start + 1}: BENCH_WORDS: must be a non-empty list of words" in found
    assert any(p.startswith(f"{status}:") and "unknown section 'denials'" in p for p in found)
    assert f"{status}:{first_key}: missing section denial:" in found


def test_every_problem_of_every_file_is_reported_at_once(rules_copy):
    relations, attribution = rules_copy / "en" / "relations.yml", rules_copy / "it" / "attribution.yml"
    r = len(relations.read_text(encoding="utf-8").splitlines()) + 1
    a = len(attribution.read_text(encoding="utf-8").splitlines()) + 1

    def edit():
        append(relations, RULE.format(id="en.test.one", relation="sacked", token="{LOWERR: coach}",
                                      extra="examples: [Leeds sacked coach Daniel Farke.]"))
        append(attribution, "- id: it.source.test\n  description: a rule\n  pattern: [{LOWER: secondo}]\n"
                            "  examples: [Il Milan ha esonerato Allegri.]\n")

    found = problems_added(rules_copy, edit, ("en", "it"))
    assert len(found) == 3, found
    assert found[0].startswith(f"{relations}:{r + 1}: rule en.test.one: unknown relation 'sacked' (known: coach_of")
    assert found[1] == f"{relations}:{r + 5}: rule en.test.one: pattern token 2: unknown token attribute 'LOWERR'"
    assert found[2].startswith(f"{attribution}:{a + 3}: rule it.source.test: does not match its example")


MINI_RULES = {
    # a small rule folder of our own, so that the command's output is ours to predict
    "relations.yml": """\
        - id: en.sacked_by.test
          relation: sacked_by
          description: "X sacked Y"
          pattern: [{ENT_TYPE: CLUB, role: object}, {LOWER: sacked}, {ENT_TYPE: COACH, OP: "+", role: subject}]
          examples: [Leeds sacked Daniel Farke.]
        """,
    "status.yml": """\
        hedge:
          - {id: en.hedge.test, description: could, pattern: [{LOWER: could}], examples: [Leeds could sack him.]}
        denial:
          - {id: en.denial.test, description: denied, pattern: [{LOWER: denied}]}
        """,
    "attribution.yml": """\
        - {id: en.source.test, description: via X, pattern: [{LOWER: via}, {ENT_TYPE: MEDIA, role: source}]}
        """,
    "coref.yml": """\
        - {id: en.coref.test, refers_to: COACH, description: the boss, pattern: [{LOWER: the}, {LOWER: boss}],
           example: The boss smiled.}
        """,
    "roles.yml": """\
        COACH: [coach, manager]
        PLAYER: [striker]
        PRESIDENT: [president]
        JOURNALIST: [journalist]
        OPPONENT_CONTEXT: [against]
        """,
}


@pytest.fixture
def mini_rules(tmp_path):
    folder = tmp_path / "mini"
    (folder / "en").mkdir(parents=True)
    for name, content in MINI_RULES.items():
        (folder / "en" / name).write_text(textwrap.dedent(content), encoding="utf-8")
    return folder


def test_the_command_prints_every_problem_and_leaves_the_compiled_set_alone(mini_rules, tmp_path, capsys):
    out = tmp_path / "compiled"
    assert rulebook.main(["--rules", str(mini_rules), "--out", str(out), "--lang", "en"]) == 0
    assert "compiled into" in capsys.readouterr().out
    before = snapshot(out)
    assert set(before) == {"en/config.cfg", "en/meta.json", "en/tokenizer", "en/calcio_rules/rules.json"}
    relations, coref = mini_rules / "en" / "relations.yml", mini_rules / "en" / "coref.yml"
    start = append(relations, RULE.format(id="en.test.cli", relation="sacked_by", token="{LOWERR: coach}",
                                          extra="examples: [Leeds sacked coach Daniel Farke.]"))
    coref.write_text(coref.read_text(encoding="utf-8").replace("The boss smiled.", "The coach smiled."),
                     encoding="utf-8")
    assert rulebook.main(["--rules", str(mini_rules), "--out", str(out), "--lang", "en"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        (f"{coref}:2: rule en.coref.test: does not match its example 'The coach smiled.' "
         "(seen as: The | coach | smiled | .)"),
        f"{relations}:{start + 5}: rule en.test.cli: pattern token 2: unknown token attribute 'LOWERR'",
        f"error: 2 problems in the rule files; {out} left as it was",
    ]
    assert snapshot(out) == before
    assert rulebook.main(["--check", "--rules", str(mini_rules), "--lang", "en"]) == 2
    assert capsys.readouterr().err.endswith("error: 2 problems in the rule files\n")


def test_compiled_rules_round_trip_and_extract_the_same_triples(rules_copy, tmp_path):
    rulebook.compile_rules(rulebook.check_rules_dir(rules_copy, ("en",)), tmp_path / "compiled")
    compiled = rulebook.load_rules("en", tmp_path / "compiled")
    from_yaml = ruleset.yaml_rules("en")
    assert compiled.compiled and not from_yaml.compiled
    assert compiled.files == rulebook.plain(from_yaml.files)

    nlp = rulebook.annotator("en")

    def triples(rules):
        from pipeline.normalise import Normaliser

        doc = nlp(ARTICLE)
        doc.user_data.update(article_id="leeds", date="2025-11-04", language="en")
        doc = Normaliser(nlp, rules=rules)(doc)
        names = doc.user_data["entities"]
        return sorted((names[t.subject_id]["name"], t.relation, names[t.object_id]["name"], t.value, t.status)
                      for t in merge(RelationExtractor(nlp, rules=rules)(doc)))

    found = triples(compiled)
    assert {t[:3] for t in found} >= {("Daniel Farke", "sacked_by", "Leeds United"),
                                      ("Marco Silva", "contract_until", "Fulham")}
    assert found == triples(from_yaml)


def test_the_component_is_saved_and_loaded_with_spacy(tmp_path):
    nlp = spacy.blank("it")
    store = nlp.add_pipe(rulebook.FACTORY)
    store.set_rules({"roles": {"COACH": ["mister"], "OPPONENT_CONTEXT": ["contro"]}}, {"roles.yml": "ab"})
    nlp.to_disk(tmp_path / "it", exclude=["vocab"])
    loaded = spacy.load(tmp_path / "it").get_pipe(rulebook.FACTORY)
    assert loaded.files == store.files and loaded.sha256 == {"roles.yml": "ab"}
    assert loaded.rules.role_words() == {"COACH": {"mister"}} and loaded.rules.lang == "it"
    doc = nlp("Il mister resta.")
    assert [t.text for t in doc] == ["Il", "mister", "resta", "."]


def test_a_yaml_edit_after_compiling_is_used_with_a_warning(rules_copy, tmp_path, capsys):
    out = tmp_path / "compiled"
    rulebook.compile_rules(rulebook.check_rules_dir(rules_copy, ("en",)), out)
    assert rulebook.load_rules("en", out).compiled
    relations = rules_copy / "en" / "relations.yml"
    append(relations, RULE.format(id="en.test.new", relation="sacked_by", token="{ENT_TYPE: COACH, OP: '+'}",
                                  extra="examples: [Leeds sacked Daniel Farke.]"))
    ruleset.rule_file.cache_clear()
    capsys.readouterr()
    rules = rulebook.load_rules("en", out)
    assert not rules.compiled and "en.test.new" in {r["id"] for r in rules["relations"]}
    warning = capsys.readouterr().err
    assert "relations.yml changed since" in warning and "run `make rules`" in warning
    rulebook.load_rules("en", out)
    assert capsys.readouterr().err == ""  # once per process
    with pytest.raises(rulebook.RuleBookError):
        append(relations, RULE.format(id="en.test.bad", relation="sacked_by", token="{LOWERR: x}", extra=""))
        rulebook.check_rules(("en",), out)


def test_a_missing_compiled_set_falls_back_to_the_yaml_with_a_warning(rules_copy, tmp_path, capsys):
    rules = rulebook.load_rules("it", tmp_path / "nothing")
    assert not rules.compiled and rules["relations"] == ruleset.rule_file("it", "relations")
    assert "no compiled rules in" in capsys.readouterr().err


def test_check_rules_passes_a_current_compiled_set(rules_copy, tmp_path):
    out = tmp_path / "compiled"
    rulebook.compile_rules(rulebook.check_rules_dir(rules_copy, ("it",)), out)
    rulebook.check_rules(("it",), out)


def test_committed_compiled_rules_match_the_yaml():
    """models/rules is generated: rerun `make rules` after editing pipeline/rules."""
    for lang in SUPPORTED:
        store = spacy.load(rulebook.COMPILED_DIR / lang).get_pipe(rulebook.FACTORY)
        current = {f"{name}.yml": hashlib.sha256((ruleset.RULES_DIR / lang / f"{name}.yml").read_bytes()).hexdigest()
                   for name in ruleset.RULE_FILES}
        assert store.sha256 == current, f"models/rules/{lang} is out of date: run `make rules`"
        assert store.files == rulebook.plain(ruleset.yaml_rules(lang).files), "run `make rules`"
