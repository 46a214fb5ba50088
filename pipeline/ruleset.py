"""Load per-language rule files (YAML) as plain data; nothing in them is evaluated."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

RULES_DIR = Path(__file__).parent / "rules"


class RuleFileError(ValueError):
    """A rule file that cannot be used; the message names file, line and rule."""


def load_yaml(path: Path):
    try:
        with path.open(encoding="utf-8") as handle:
            return yaml.safe_load(handle)
    except FileNotFoundError:
        raise RuleFileError(f"{path}: rule file missing") from None
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
    return {role: {str(w).lower() for w in words} for role, words in data.items()}
