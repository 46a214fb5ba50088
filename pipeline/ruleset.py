"""Load per-language rule files (YAML) as plain data; nothing in them is evaluated."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import re

import yaml

RULES_DIR = Path(__file__).parent / "rules"


class RuleFileError(ValueError):
    """A rule file that cannot be used; the message names file, line and rule."""


class RuleLoader(yaml.SafeLoader):
    """YAML 1.2 booleans: only true/false. Rule words such as `on`, `off`, `no` stay words."""


RuleLoader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
RuleLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


def load_yaml(path: Path):
    try:
        with path.open(encoding="utf-8") as handle:
            return yaml.load(handle, Loader=RuleLoader)
    except FileNotFoundError:
        raise RuleFileError(f"{path}: rule file missing") from None
    except UnicodeDecodeError as error:
        raise RuleFileError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise RuleFileError(f"{where}: malformed YAML: {getattr(error, 'problem', error)}") from None


@lru_cache(maxsize=32)
def rule_file(lang: str, name: str):
    return load_yaml(RULES_DIR / lang / f"{name}.yml")


def role_words(lang: str) -> dict[str, set[str]]:
    data = rule_file(lang, "roles")
    if not isinstance(data, dict):
        raise RuleFileError(f"{RULES_DIR / lang / 'roles.yml'}: expected a mapping of role to words")
    return {role: {str(w).lower() for w in words} for role, words in data.items()
            if not role.endswith("_CONTEXT")}


def context_words(lang: str) -> dict[str, set[str]]:
    """MARKET_CONTEXT / BENCH_CONTEXT of roles.yml, keyed market / bench."""
    data = rule_file(lang, "roles")
    return {key[: -len("_CONTEXT")].lower(): {str(w).lower() for w in words}
            for key, words in data.items() if key.endswith("_CONTEXT")}


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
