"""The per-article cache: content keys, fingerprints that follow what each stage reads."""
from __future__ import annotations

import shutil
from pathlib import Path

from pipeline import ruleset
from pipeline.cache import StageCache, article_key, chained_key, digest, get_json, sealed, stage_fingerprint, unsealed


def test_digest_separates_its_parts():
    assert digest("ab", "c") != digest("a", "bc")
    assert digest("Allegri") == digest("Allegri")


def test_article_key_changes_with_text_date_language_and_fingerprint():
    base = article_key("it/toro", "2025-05-01", "it", "Il Torino ha esonerato l'allenatore.", "fp")
    assert base == article_key("it/toro", "2025-05-01", "it", "Il Torino ha esonerato l'allenatore.", "fp")
    for changed in (("it/toro", "2025-05-02", "it", "Il Torino ha esonerato l'allenatore.", "fp"),
                    ("it/toro", "2025-05-01", "it", "Il Torino ha confermato l'allenatore.", "fp"),
                    ("it/toro", "2025-05-01", "it", "Il Torino ha esonerato l'allenatore.", "other"),
                    ("it/juve", "2025-05-01", "it", "Il Torino ha esonerato l'allenatore.", "fp")):
        assert article_key(*changed) != base
    assert chained_key(base, "rules v1") != chained_key(base, "rules v2")


def test_entries_are_written_whole_read_back_and_pruned(tmp_path):
    cache = StageCache(tmp_path, "normalise", ".added.json")
    cache.put("ab12", b'[{"subject": "Marco Silva", "relation": "joins", "object": "Fulham"}]')
    cache.put("cd34", b"[]")
    assert get_json(cache, "ab12")[0]["object"] == "Fulham"
    assert get_json(cache, "ee99") is None
    assert not list(tmp_path.rglob("*.tmp"))
    cache.path("ff00").parent.mkdir(parents=True, exist_ok=True)
    cache.path("ff00").write_bytes(b'[{"subject": "Mar')  # a damaged entry is a miss
    assert get_json(cache, "ff00") is None
    assert cache.prune({"ab12"}) == 2
    assert cache.has("ab12") and not cache.has("cd34") and not cache.has("ff00")


def rules_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "rules"
    shutil.copytree(ruleset.RULES_DIR, copy)
    return copy


def test_a_relation_rule_edit_changes_only_the_relations_fingerprint(tmp_path):
    rules = rules_copy(tmp_path)
    before = {stage: stage_fingerprint(stage, "en", "model", rules_dir=rules)
              for stage in ("annotate", "normalise", "relations")}
    with (rules / "en" / "relations.yml").open("a", encoding="utf-8") as handle:
        handle.write("# a new rule will go here\n")
    after = {stage: stage_fingerprint(stage, "en", "model", rules_dir=rules)
             for stage in ("annotate", "normalise", "relations")}
    assert after["relations"] != before["relations"]
    assert after["annotate"] == before["annotate"] and after["normalise"] == before["normalise"]
    assert stage_fingerprint("relations", "it", rules_dir=rules) == stage_fingerprint("relations", "it")


def test_a_coreference_edit_changes_normalise_and_a_kb_edit_changes_annotate(tmp_path):
    rules = rules_copy(tmp_path)
    kb = tmp_path / "kb.jsonl"
    kb.write_text('{"id": "club:fulham", "type": "CLUB", "name": "Fulham"}\n', encoding="utf-8")
    normalise = stage_fingerprint("normalise", "it", kb_path=kb, rules_dir=rules)
    annotate = stage_fingerprint("annotate", "it", "model", kb_path=kb, rules_dir=rules)
    with (rules / "it" / "coref.yml").open("a", encoding="utf-8") as handle:
        handle.write("# il tecnico piacentino\n")
    assert stage_fingerprint("normalise", "it", kb_path=kb, rules_dir=rules) != normalise
    assert stage_fingerprint("annotate", "it", "model", kb_path=kb, rules_dir=rules) == annotate
    kb.write_text('{"id": "club:fulham", "type": "CLUB", "name": "Fulham", "aliases": ["Cottagers"]}\n',
                  encoding="utf-8")
    assert stage_fingerprint("annotate", "it", "model", kb_path=kb, rules_dir=rules) != annotate
    assert stage_fingerprint("annotate", "it", "other model", kb_path=kb, rules_dir=rules) != annotate


def test_a_sealed_entry_gives_back_its_body_and_nothing_once_damaged():
    body = '{"subject": "Marco Silva", "relation": "joins", "object": "Fulham"}\n'.encode("utf-8")
    entry = sealed(body)
    assert unsealed(entry) == body and unsealed(sealed(b"")) == b""
    assert unsealed(entry[:-3]) is None                       # cut short
    assert unsealed(entry.replace(b"Fulham", b"Fulhan")) is None  # one byte changed
    assert unsealed(body) is None and unsealed(None) is None  # never sealed, missing
