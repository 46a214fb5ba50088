"""Load per-language rule files (YAML) as plain data; nothing in them is evaluated.

A language's rules are one RuleSet: the parsed content of each of its rule files. The
stages take theirs from the compiled set in models/rules (pipeline.rulebook.load_rules);
without one, RelationExtractor and Normaliser read the YAML files here.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

# $CALCIO_RULES_DIR: another copy of the rule files (to try an edit without touching these).
RULES_DIR = Path(os.environ.get("CALCIO_RULES_DIR") or Path(__file__).parent / "rules")
RULE_FILES = ("relations", "status", "attribution", "coref", "roles")


class RuleFileError(ValueError):
    """A rule file that cannot be used; the message names file, line and rule."""

    def __init__(self, message: str, path: Path | None = None, line: int | None = None,
                 reason: str | None = None):
        super().__init__(message)
        self.path, self.line, self.reason = path, line, reason or message


class RuleLoader(yaml.SafeLoader):
    """YAML 1.2 booleans: only true/false. Rule words such as `on`, `off`, `no` stay words."""


RuleLoader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
RuleLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


class LineDict(dict):
    """A YAML mapping that knows its line, each key's line and the keys given twice."""

    line: int = 0
    key_lines: dict
    repeated: list  # (key, line) of each later occurrence of a key


class LineList(list):
    """A YAML sequence that knows its line and each item's line."""

    line: int = 0
    item_lines: list


class LineLoader(RuleLoader):
    """RuleLoader whose mappings and sequences carry their line numbers (1-based), for
    messages naming the line of a problem (pipeline.rulebook)."""


def _line_mapping(loader: LineLoader, node: yaml.MappingNode):
    data = LineDict()
    data.line, data.key_lines, data.repeated = node.start_mark.line + 1, {}, []
    yield data
    data.update(loader.construct_mapping(node))
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in data.key_lines:
            data.repeated.append((key, key_node.start_mark.line + 1))
        else:
            data.key_lines[key] = key_node.start_mark.line + 1


def _line_sequence(loader: LineLoader, node: yaml.SequenceNode):
    data = LineList()
    data.line, data.item_lines = node.start_mark.line + 1, [item.start_mark.line + 1 for item in node.value]
    yield data
    data.extend(loader.construct_sequence(node))


LineLoader.add_constructor("tag:yaml.org,2002:map", _line_mapping)
LineLoader.add_constructor("tag:yaml.org,2002:seq", _line_sequence)


def load_yaml(path: Path):
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise RuleFileError(f"{path}: rule file missing", path, reason="rule file missing") from None
    return parse_yaml(raw, path)


def parse_yaml(raw: bytes, path: Path, lines: bool = False):
    """The data of a rule file's bytes (with `lines`, LineDict / LineList); any problem is a
    RuleFileError naming file and line."""
    try:
        text = raw.decode("utf-8")
        return yaml.load(text, Loader=LineLoader) if lines else yaml.load(text, Loader=RuleLoader)
    except UnicodeDecodeError as error:
        reason = f"not UTF-8 text ({error.reason} at byte {error.start})"
        raise RuleFileError(f"{path}: {reason}", path, reason=reason) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark else None
        reason = f"malformed YAML: {getattr(error, 'problem', None) or error}"
        raise RuleFileError(f"{path}:{line}: {reason}" if line else f"{path}: {reason}", path, line, reason) from None


@lru_cache(maxsize=32)
def rule_file(lang: str, name: str):
    return load_yaml(RULES_DIR / lang / f"{name}.yml")


@dataclass(frozen=True, eq=False)
class RuleSet:
    """One language's rules: the parsed content of each rule file, by name (RULE_FILES).

    `source` is the folder they were read from (YAML or compiled), for messages.
    """

    lang: str
    files: dict[str, Any]
    source: Path
    compiled: bool = False

    def __getitem__(self, name: str):
        return self.files[name]

    def role_words(self) -> dict[str, set[str]]:
        data = self.files["roles"]
        if not isinstance(data, dict):
            raise RuleFileError(f"{self.source / 'roles.yml'}: expected a mapping of role to words")
        return {role: {str(w).lower() for w in words} for role, words in data.items()
                if not role.endswith("_CONTEXT")}

    def context_words(self) -> dict[str, set[str]]:
        """MARKET_CONTEXT / BENCH_CONTEXT... of roles.yml, keyed market / bench..."""
        return {key[: -len("_CONTEXT")].lower(): {str(w).lower() for w in words}
                for key, words in self.files["roles"].items() if key.endswith("_CONTEXT")}


def yaml_rules(lang: str) -> RuleSet:
    """The rules of a language as its YAML files say now (RULES_DIR/<lang>/*.yml)."""
    return RuleSet(lang, {name: rule_file(lang, name) for name in RULE_FILES}, RULES_DIR / lang)


def rules_for(lang: str, rules: RuleSet | None) -> RuleSet:
    """`rules` when given (checked to be of this language), else the YAML rule files."""
    if rules is None:
        return yaml_rules(lang)
    if rules.lang != lang:
        raise ValueError(f"rules of language {rules.lang!r} ({rules.source}) given to a {lang!r} pipeline")
    return rules


APOSTROPHES = ("'", "’")


def with_apostrophe_variants(pattern: list[dict]) -> list[dict]:
    """Let a rule written with ' also match the typographic ’ ("l'Atalanta", "l’Atalanta")."""
    return [{key: _variants(value) if key in ("LOWER", "ORTH", "TEXT", "LEMMA", "NORM") else value
             for key, value in token.items()} for token in pattern]


def _variants(value):
    if isinstance(value, str) and "'" in value:
        return {"IN": [value, value.replace("'", "’")]}
    if isinstance(value, dict):
        return {op: ([w for item in words for w in ((item, item.replace("'", "’")) if isinstance(item, str)
                                                     and "'" in item else (item,))]
                     if op in ("IN", "NOT_IN") and isinstance(words, list) else words)
                for op, words in value.items()}
    return value
