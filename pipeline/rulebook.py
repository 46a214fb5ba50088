"""Check every rule file and compile them into models/rules (`make rules`).

    python -m pipeline.rulebook            check, then compile into models/rules/<lang>/
    python -m pipeline.rulebook --check    check only

The check reads every rule file of every language and collects all problems before
anything is written: YAML syntax, required and unknown fields, field values, spaCy's
own validation of each Matcher pattern, ids (unique per language, starting with the
language), and the examples: each sentence of `examples` (or `example`) must be matched
by its rule and no sentence of `counter_examples` may be, both run through the code the
pipeline uses (annotate with the KB rulers and no statistical NER, then Normaliser and
RelationExtractor built from the rules being checked). Each problem is printed as
`path:line: rule <id>: message`; with any, the exit status is 2 and models/rules is
left as it was.

The compiled set of a language is a spaCy pipeline saved with nlp.to_disk: a blank
tokenizer and the `calcio_rules` component, which holds the checked rule data and the
sha256 of each YAML file it came from. load_rules() gives the stages that set; when a
YAML file has changed since (or the set is missing), it warns and uses the YAML files,
so an edit is never silently ignored.
"""
import argparse
import hashlib
import json
import os
import re
import shutil
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import spacy
from spacy.language import Language
from spacy.matcher import Matcher
from spacy.schemas import validate_token_pattern
from spacy.tokens import Doc
from spacy.vocab import Vocab

from pipeline import ruleset
from pipeline.language import SUPPORTED
from pipeline.nlp import build_nlp
from pipeline.normalise import Normaliser
from pipeline.relations import (
    LABELS_FOR,
    PERSON_LABELS,
    RELATIONS,
    STATUS_RANK,
    RelationExtractor,
)
from pipeline.ruleset import (
    RULE_FILES,
    LineDict,
    LineList,
    RuleFileError,
    RuleSet,
    parse_yaml,
    with_apostrophe_variants,
)

COMPILED_DIR = Path(__file__).resolve().parent.parent / "models" / "rules"
FACTORY = "calcio_rules"
STORE_FILE = "rules.json"

# -- the shape of a rule --------------------------------------------------------------------
Check = Callable[[Any], "str | None"]  # a field's value -> what is wrong with it, or None


def text(value: Any) -> str | None:
    return None if isinstance(value, str) and value.strip() else "must be a non-empty text"


def one_line(value: Any) -> str | None:
    return text(value) or ("must be one line" if "\n" in value.strip() else None)


def words(value: Any) -> str | None:
    ok = isinstance(value, list) and all(isinstance(w, str) and w for w in value)
    return None if ok else "must be a list of words"


def sentences(value: Any) -> str | None:
    ok = isinstance(value, list) and value and all(isinstance(s, str) and s.strip() for s in value)
    return None if ok else "must be a list of sentences"


def flag(value: Any) -> str | None:
    return None if isinstance(value, bool) else f"must be true or false, not {value!r}"


def positive_number(value: Any) -> str | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and value > 0
    return None if ok else f"must be a positive whole number, not {value!r}"


def one_of(*choices: Any) -> Check:
    def check(value: Any) -> str | None:
        if any(type(value) is type(choice) and value == choice for choice in choices):
            return None
        return f"must be one of {', '.join(json.dumps(c) for c in choices)}, not {json.dumps(value, default=str)}"
    return check


def known(what: str, choices: Iterable[str]) -> Check:
    def check(value: Any) -> str | None:
        return None if value in choices else f"unknown {what} {value!r} (known: {', '.join(choices)})"
    return check


def labels(value: Any) -> str | None:
    known = sorted(set().union(*LABELS_FOR.values()) | PERSON_LABELS | {"FED", "MEDIA"})
    ok = isinstance(value, list) and value and all(label in known for label in value)
    return None if ok else f"must be a list of entity labels among {', '.join(known)}, not {value!r}"


ARGUMENT_FIELDS: dict[str, Check] = {
    "side": one_of("any", "left", "right", "prefer_left", "prefer_right"), "window": positive_number,
    "same_clause": flag, "pick": one_of("first"), "labels": labels, "not_after": words,
    "fallback": one_of(True, False, "recent"),
}
COMMON_FIELDS: dict[str, Check | None] = {
    "id": text, "description": one_line, "pattern": None,  # the pattern is checked by spaCy
    "examples": sentences, "example": text, "counter_examples": sentences,
}
FIELDS: dict[str, dict[str, Check | None]] = {
    "relations": COMMON_FIELDS | {
        "relation": known("relation", RELATIONS), "subject": None, "object": None,  # argument specs
        "status": one_of(*STATUS_RANK), "value": one_of("year", "years", "period"),
        "many": one_of("subject", "object"), "not_after": words, "not_before": words, "not_within": words,
        "if_context": None, "unless_context": None, "past_to_former": flag,  # contexts: roles.yml
    },
    "hedge": COMMON_FIELDS,
    "denial": COMMON_FIELDS,
    "attribution": COMMON_FIELDS | {"trailing": flag},
    "coref": COMMON_FIELDS | {
        "refers_to": one_of("COACH", "CLUB", "PRESIDENT"), "resolve": one_of("previous_subject"),
        "not_before": words, "pronoun": flag, "outside_sentence": flag, "span_last": flag,
        "before_club": flag, "latest": flag,
    },
}
REQUIRED = {"relations": ("id", "relation", "description", "pattern", "examples"),
            "coref": ("id", "refers_to", "description", "pattern", "examples")}
REQUIRED_DEFAULT = ("id", "description", "pattern")  # status and attribution: examples optional
PATTERN_ROLES = {"relations": {"subject", "object"}, "attribution": {"source"}}
STATUS_SECTIONS = ("hedge", "denial")
PERSON_ROLES = ("COACH", "PLAYER", "PRESIDENT", "JOURNALIST")
REQUIRED_CONTEXTS = ("OPPONENT_CONTEXT",)


@dataclass(frozen=True)
class Problem:
    path: Path
    line: int | None
    rule: str | None
    message: str

    def __str__(self) -> str:
        where = f"{shown(self.path)}:{self.line}" if self.line else shown(self.path)
        return f"{where}: rule {self.rule}: {self.message}" if self.rule else f"{where}: {self.message}"


class RuleBookError(RuleFileError):
    """Rule files with problems: every one of them, one per line."""

    def __init__(self, problems: list[Problem]):
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def shown(path: Path) -> str:
    """A path as the user wrote it: relative to the working folder when inside it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


# -- reading the files ---------------------------------------------------------------------
@dataclass
class SourceFile:
    path: Path
    sha256: str
    data: Any = None  # LineDict / LineList as read, None when it could not be read


def read_sources(folder: Path, problems: list[Problem]) -> dict[str, SourceFile]:
    """Each rule file of a language folder, hashed and parsed from the same bytes."""
    sources = {}
    for name in RULE_FILES:
        path = folder / f"{name}.yml"
        try:
            raw = path.read_bytes()
        except OSError as error:
            problems.append(Problem(path, None, None, f"rule file cannot be read ({error.strerror or error})"))
            continue
        source = SourceFile(path, hashlib.sha256(raw).hexdigest())
        try:
            source.data = parse_yaml(raw, path, lines=True)
        except RuleFileError as error:
            problems.append(Problem(path, error.line, None, error.reason))
        else:
            if source.data is None:
                problems.append(Problem(path, None, None, "rule file is empty"))
        sources[name] = source
    return sources


def line_of(node: Any, default: int | None = None) -> int | None:
    return getattr(node, "line", None) or default


# -- checking the shape ------------------------------------------------------------------------
class ShapeChecker:
    """Finds what is wrong with the rule files of one language, without running them."""

    def __init__(self, lang: str, sources: dict[str, SourceFile], problems: list[Problem]):
        self.lang, self.sources, self.problems = lang, sources, problems
        self.ids: dict[str, tuple[Path, int | None]] = {}
        self.bad: set[int] = set()  # id() of the entries with a problem (left out when running examples)
        self.vocab = Vocab()

    def check(self) -> None:
        roles = self.sources.get("roles")
        contexts = self.check_roles(roles) if roles and roles.data is not None else None
        for kind, path, entries in self.entry_lists():
            for index, entry in enumerate(entries):
                self.check_entry(kind, path, entry, line_of(entry, entries.item_lines[index]), contexts)

    def problem(self, path: Path, line: int | None, rule: str | None, message: str, entry: Any = None) -> None:
        self.problems.append(Problem(path, line, rule, message))
        if entry is not None:
            self.bad.add(id(entry))

    def entry_lists(self) -> Iterable[tuple[str, Path, LineList]]:
        """(kind, file, entries) of every list of rules: relations, hedge, denial, attribution, coref."""
        for name in ("relations", "attribution", "coref", "status"):
            source = self.sources.get(name)
            if source is None or source.data is None:
                continue
            sections = self.status_sections(source) if name == "status" else [(name, source.data)]
            for kind, entries in sections:
                if isinstance(entries, LineList):
                    yield kind, source.path, entries
                else:
                    self.problem(source.path, line_of(entries), None, f"{kind}: expected a list of rules")

    def status_sections(self, source: SourceFile) -> list[tuple[str, Any]]:
        data = source.data
        if not isinstance(data, LineDict):
            self.problem(source.path, line_of(data), None, "expected the sections hedge: and denial:")
            return []
        for key in data:
            if key not in STATUS_SECTIONS:
                self.problem(source.path, data.key_lines[key], None,
                             f"unknown section {key!r} (known: {', '.join(STATUS_SECTIONS)})")
        for key in STATUS_SECTIONS:
            if key not in data:
                self.problem(source.path, data.line, None, f"missing section {key}:")
        return [(key, data[key]) for key in STATUS_SECTIONS if key in data]

    def check_roles(self, source: SourceFile) -> set[str] | None:
        """roles.yml: person roles and *_CONTEXT word lists; returns the context names."""
        data = source.data
        if not isinstance(data, LineDict):
            self.problem(source.path, line_of(data), None, "expected a mapping of role to words")
            return None
        for key, value in data.items():
            line = data.key_lines[key]
            if not (key in PERSON_ROLES or (isinstance(key, str) and key.endswith("_CONTEXT"))):
                self.problem(source.path, line, None, f"unknown role {key!r} (roles: {', '.join(PERSON_ROLES)}; "
                                                      "or a word list named <NAME>_CONTEXT)")
            if words(value) or not value:
                self.problem(source.path, line, None, f"{key}: must be a non-empty list of words")
        for key in REQUIRED_CONTEXTS:
            if key not in data:
                self.problem(source.path, data.line, None, f"missing {key} (the code reads it)")
        self.repeated_keys(source.path, data, None)
        return {key[: -len("_CONTEXT")].lower() for key in data if str(key).endswith("_CONTEXT")}

    def repeated_keys(self, path: Path, mapping: LineDict, rule: str | None, entry: Any = None) -> None:
        for key, line in mapping.repeated:
            self.problem(path, line, rule, f"{key!r} given twice (first at line {mapping.key_lines[key]})", entry)

    def check_entry(self, kind: str, path: Path, entry: Any, line: int | None, contexts: set[str] | None) -> None:
        if not isinstance(entry, LineDict):
            self.problem(path, line, None, "expected a rule (a mapping with id, description, pattern...)", entry)
            return
        rule_id = entry.get("id") if isinstance(entry.get("id"), str) else None
        self.repeated_keys(path, entry, rule_id, entry)
        self.check_id(path, entry, rule_id)
        fields = FIELDS[kind]
        for key in REQUIRED.get(kind, REQUIRED_DEFAULT):
            if key not in entry and not (key == "examples" and "example" in entry):
                self.problem(path, line, rule_id, f"missing field {key!r}", entry)
        for key, value in entry.items():
            where = entry.key_lines[key]
            if key not in fields:
                self.problem(path, where, rule_id, f"unknown field {key!r} (known: {', '.join(sorted(fields))})", entry)
            elif key in ("subject", "object"):
                self.check_argument(path, entry, key, rule_id)
            elif key in ("if_context", "unless_context"):
                if contexts is not None and value not in contexts:
                    self.problem(path, where, rule_id, f"{key}: unknown context {value!r} "
                                                       f"(roles.yml has {', '.join(sorted(contexts))})", entry)
            elif key == "pattern":
                for token_line, message in pattern_problems(value, PATTERN_ROLES.get(kind, set()), self.vocab):
                    self.problem(path, token_line or where, rule_id, message, entry)
            elif fields[key] is not None and (message := fields[key](value)):
                self.problem(path, where, rule_id, message if message.startswith("unknown") else f"{key}: {message}",
                             entry)

    def check_id(self, path: Path, entry: LineDict, rule_id: str | None) -> None:
        if rule_id is None:
            return
        line = entry.key_lines["id"]
        if not rule_id.startswith(f"{self.lang}."):
            self.problem(path, line, rule_id, f"id must start with {self.lang + '.'!r}, the language of its folder",
                         entry)
        if rule_id in self.ids:
            first_path, first_line = self.ids[rule_id]
            self.problem(path, line, rule_id, f"duplicate id (first defined at {shown(first_path)}:{first_line})",
                         entry)
        else:
            self.ids[rule_id] = (path, line)

    def check_argument(self, path: Path, entry: LineDict, role: str, rule_id: str | None) -> None:
        spec = entry[role]
        if not isinstance(spec, LineDict):
            self.problem(path, entry.key_lines[role], rule_id, f"{role}: expected a search spec such as "
                                                                "{side: left, window: 8}", entry)
            return
        self.repeated_keys(path, spec, rule_id, entry)
        for key, value in spec.items():
            check = ARGUMENT_FIELDS.get(key)
            if check is None:
                self.problem(path, spec.key_lines[key], rule_id, f"{role}: unknown field {key!r} "
                                                                 f"(known: {', '.join(ARGUMENT_FIELDS)})", entry)
            elif message := check(value):
                self.problem(path, spec.key_lines[key], rule_id, f"{role}.{key}: {message}", entry)


SPACY_ERROR = re.compile(r"^\[pattern -> (\d+)(?: -> (.*?))?\] (.*)$")


def pattern_problems(pattern: Any, roles: set[str], vocab: Vocab) -> list[tuple[int | None, str]]:
    """(line, message) of each problem of a Matcher pattern, as spaCy's validation finds
    them; `role` (which token binds an argument) is ours and checked here."""
    if not isinstance(pattern, list) or not pattern:
        return [(line_of(pattern), "pattern: must be a non-empty list of tokens such as {LOWER: word}")]
    found, tokens = [], []
    for number, token in enumerate(pattern, 1):
        if not isinstance(token, dict):
            found.append((line_of(pattern), f"pattern token {number}: must be a mapping such as {{LOWER: word}}"))
            continue
        if "role" in token and token["role"] not in roles:
            allowed = f"one of {', '.join(sorted(roles))}" if roles else "not used in this file"
            found.append((line_of(token), f"pattern token {number}: role {token['role']!r}: {allowed}"))
        tokens.append({key: value for key, value in token.items() if key != "role"})
    if found:
        return found
    tokens = with_apostrophe_variants(tokens)
    errors = [SPACY_ERROR.match(e) for e in validate_token_pattern(tokens)]
    paths = [(int(m[1]), m[2] or "") for m in errors if m]
    for match in errors:
        if match is None:
            continue
        index, path, message = int(match[1]), match[2] or "", match[3]
        if any(i == index and other.startswith(path + " -> ") for i, other in paths if other != path):
            continue  # spaCy also reports the other alternatives of a value; the deeper error says it
        found.append((line_of(pattern[index]), f"pattern token {index + 1}: {spacy_message(pattern[index], path, message)}"))
    if not found:
        try:
            Matcher(vocab, validate=True).add("check", [tokens])
        except Exception as error:  # noqa: BLE001 - whatever spaCy refuses, said as spaCy says it
            found.append((line_of(pattern), f"pattern: spaCy refuses it: {' '.join(str(error).split())}"))
    return found


def spacy_message(token: dict, path: str, message: str) -> str:
    keys = path.split(" -> ") if path else []
    if keys == ["OP"]:
        return f"unknown OP {token.get('OP')!r} (use +, *, ?, ! or {{n}}, {{n,}}, {{,m}}, {{n,m}})"
    if message == "extra fields not permitted" and keys:
        what = "token attribute" if len(keys) == 1 else f"operator of {'.'.join(keys[:-1])}"
        return f"unknown {what} {keys[-1]!r}"
    value: Any = token
    for index, key in enumerate(keys):
        actual = next((k for k in value if str(k).upper() == key.upper()), key) if isinstance(value, dict) else key
        keys[index] = str(actual)
        value = value.get(actual) if isinstance(value, dict) else None
    return f"{'.'.join(keys)}: {message} (got {json.dumps(value, default=str)})"


# -- running the examples ---------------------------------------------------------------------
@lru_cache(maxsize=4)
def annotator(lang: str) -> Language:
    """The annotate pipeline the examples run through: KB rulers and name patterns, no
    statistical NER, so an example matches for its words and the KB, not a model's guess."""
    return build_nlp(lang, model="blank")


class ExampleRunner:
    """Runs sentences through the pipeline's own code with one language's rules and tells
    which rules match them."""

    def __init__(self, rules: RuleSet):
        self.nlp = annotator(rules.lang)
        self.normaliser = Normaliser(self.nlp, rules=rules)
        self.extractor = RelationExtractor(self.nlp, rules=rules)

    def matched(self, kind: str, sentence: str) -> set[str]:
        """Ids of the rules of a kind (relations, hedge, denial, attribution, coref) whose
        pattern matches the sentence where the pipeline runs it: coreference patterns on
        the annotated doc, the others on the normalised one."""
        doc = self.nlp(sentence)
        if kind == "coref":
            return self.ids(doc, self.normaliser.coref)
        if kind == "relations":
            return self.ids(self.normaliser(doc), self.extractor.matcher)
        return {rule_id for rule_id, *_ in self.extractor.cue_matches(self.normaliser(doc))[kind]}

    def extracted(self, sentence: str) -> set[str]:
        """Ids of the relation rules that yield a triple from the sentence."""
        return {t.rule for t in self.extractor(self.normaliser(self.nlp(sentence)))}

    def counter_matched(self, kind: str, sentence: str) -> set[str]:
        """What a counter-example is tested against: a relation rule must yield no triple
        from it (its pattern may match and its vetoes or argument search rule it out)."""
        return self.extracted(sentence) if kind == "relations" else self.matched(kind, sentence)

    @staticmethod
    def ids(doc: Doc, matcher: Matcher) -> set[str]:
        return {doc.vocab.strings[match_id] for match_id, _, _ in matcher(doc)}

    def as_seen(self, sentence: str) -> str:
        """The sentence as the rules see it: tokens, with [entities]LABEL."""
        doc = self.normaliser(self.nlp(sentence))
        parts, i = [], 0
        for ent in doc.ents:
            parts += [t.text for t in doc[i:ent.start]] + [f"[{ent.text}]{ent.label_}"]
            i = ent.end
        return " | ".join(parts + [t.text for t in doc[i:]])


def sentences_of(entry: LineDict, *fields: str) -> list[tuple[str, int]]:
    """(sentence, line) of the given example fields of a rule."""
    found = []
    for field in fields:
        given = entry.get(field)
        if isinstance(given, str):
            found.append((given, entry.key_lines[field]))
        elif isinstance(given, LineList):
            found += zip(given, given.item_lines)
    return found


def example_problems(runner: ExampleRunner, entries: Iterable[tuple[str, Path, LineDict]]) -> list[Problem]:
    """Every example a rule does not match and every counter-example it does."""
    problems = []
    for kind, path, entry in entries:
        rule_id = entry["id"]
        for sentence, line in sentences_of(entry, "examples", "example"):
            if rule_id not in runner.matched(kind, sentence):
                problems.append(Problem(path, line, rule_id, f"does not match its example {sentence!r} "
                                                             f"(seen as: {runner.as_seen(sentence)})"))
        for sentence, line in sentences_of(entry, "counter_examples"):
            if rule_id in runner.counter_matched(kind, sentence):
                what = "yields a triple from" if kind == "relations" else "matches"
                problems.append(Problem(path, line, rule_id, f"{what} its counter-example {sentence!r}"))
    return problems


# -- the whole check ----------------------------------------------------------------------
@dataclass
class Checked:
    """One language's rule files, checked: their data (plain), sha256 and problems."""

    lang: str
    sources: dict[str, SourceFile]
    problems: list[Problem]

    @property
    def sha256(self) -> dict[str, str]:
        return {f"{name}.yml": source.sha256 for name, source in self.sources.items()}

    @property
    def files(self) -> dict[str, Any]:
        return {name: plain(source.data) for name, source in self.sources.items()}


def plain(data: Any) -> Any:
    """The data as JSON stores it (plain dicts and lists, no line numbers)."""
    return json.loads(json.dumps(data, ensure_ascii=False))


def check_language(folder: Path, lang: str, examples: bool = True) -> Checked:
    problems: list[Problem] = []
    sources = read_sources(folder, problems)
    shape = ShapeChecker(lang, sources, problems)
    shape.check()
    for source in sources.values():
        if source.data is not None:
            try:
                json.dumps(source.data, allow_nan=False)
            except (TypeError, ValueError) as error:
                problems.append(Problem(source.path, None, None, f"holds a value that cannot be stored: {error}"))
    readable = len(sources) == len(RULE_FILES) and all(s.data is not None for s in sources.values())
    if examples and readable:
        usable, entries = usable_rules(lang, folder, sources, shape)
        try:
            runner = ExampleRunner(usable)
        except Exception as error:  # noqa: BLE001 - a broken roles.yml or status.yml, already reported
            if not problems:
                problems.append(Problem(folder, None, None, f"the rules cannot be run: {type(error).__name__}: {error}"))
        else:
            problems += example_problems(runner, entries)
    return Checked(lang, sources, sorted(problems, key=lambda p: (str(p.path), p.line or 0)))


def usable_rules(lang: str, folder: Path, sources: dict[str, SourceFile], shape: ShapeChecker):
    """The rule set without the entries that have a problem (so that the examples of all
    the others still run), and (kind, file, entry) of each entry kept."""
    entries = []

    def keep(kind: str, path: Path, items: Any) -> list:
        kept = [e for e in items if isinstance(e, LineDict) and id(e) not in shape.bad] if isinstance(items, list) else []
        entries.extend((kind, path, e) for e in kept)
        return kept

    files = {}
    for name, source in sources.items():
        if name == "status":
            sections = source.data if isinstance(source.data, dict) else {}
            files[name] = {k: keep(k, source.path, sections.get(k)) for k in STATUS_SECTIONS}
        elif name == "roles":
            files[name] = source.data
        else:
            files[name] = keep(name, source.path, source.data)
    return RuleSet(lang, {name: plain(data) for name, data in files.items()}, folder), entries


def check_rules_dir(rules_dir: Path | None = None, languages: Iterable[str] = SUPPORTED,
                    examples: bool = True) -> dict[str, Checked]:
    """Every language's rule files checked; the problems of all of them in .problems."""
    folder = rules_dir or ruleset.RULES_DIR
    return {lang: check_language(folder / lang, lang, examples) for lang in languages}


# -- the compiled set: a spaCy component saved to disk --------------------------------------
class RuleStore:
    """Holds one language's checked rule data and the sha256 of the YAML files it came
    from. A data component: it leaves docs as they are; RelationExtractor and Normaliser
    take their rules from it (load_rules)."""

    def __init__(self, lang: str):
        self.lang = lang
        self.files: dict[str, Any] = {}
        self.sha256: dict[str, str] = {}
        self.source = Path()

    def __call__(self, doc: Doc) -> Doc:
        return doc

    def set_rules(self, files: dict[str, Any], sha256: dict[str, str]) -> None:
        self.files, self.sha256 = files, sha256

    @property
    def rules(self) -> RuleSet:
        return RuleSet(self.lang, self.files, self.source, compiled=True)

    def changed(self, yaml_folder: Path) -> list[str]:
        """The YAML files that differ from those this set was compiled from (or are new)."""
        paths = [yaml_folder / f"{name}.yml" for name in RULE_FILES]
        current = {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in paths if path.exists()}
        return sorted(name for name in current.keys() | self.sha256.keys() if current.get(name) != self.sha256.get(name))

    def to_disk(self, path: Path, exclude: Iterable[str] = ()) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        data = {"lang": self.lang, "sha256": self.sha256, "files": self.files}
        (path / STORE_FILE).write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")

    def from_disk(self, path: Path, exclude: Iterable[str] = ()) -> "RuleStore":
        data = json.loads((Path(path) / STORE_FILE).read_text(encoding="utf-8"))
        if data.get("lang") != self.lang:
            raise ValueError(f"{path}: rules of language {data.get('lang')!r}, not {self.lang!r}")
        self.set_rules(data["files"], data["sha256"])
        self.source = Path(path).parent
        return self


@Language.factory(FACTORY)
def make_rule_store(nlp: Language, name: str) -> RuleStore:
    return RuleStore(nlp.lang)


def rules_pipeline(checked: Checked) -> Language:
    nlp = spacy.blank(checked.lang)
    nlp.meta.update(name=f"calcio_rules_{checked.lang}",
                    description="Checked relation, status, attribution, coreference and role rules "
                                "(pipeline/rules); written by `make rules`")
    store = nlp.add_pipe(FACTORY)
    store.set_rules(checked.files, checked.sha256)
    return nlp


def compile_rules(checked: dict[str, Checked], out: Path) -> list[Path]:
    """Save each language's pipeline into out/<lang>; all are written to a staging folder
    first and then swapped in, so a failure leaves the previous set in place."""
    staging = out / f".staging-{os.getpid()}"
    staging.mkdir(parents=True, exist_ok=True)
    written = []
    try:
        for lang, result in checked.items():
            rules_pipeline(result).to_disk(staging / lang, exclude=["vocab"])
        for lang in checked:
            target, old = out / lang, out / f".old-{lang}-{os.getpid()}"
            if target.exists():
                target.rename(old)
            (staging / lang).rename(target)
            shutil.rmtree(old, ignore_errors=True)
            written.append(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return written


# -- what the stages use ----------------------------------------------------------------------
_warned: set[tuple[str, str]] = set()


def compiled_store(lang: str, rules_dir: Path | None = None) -> tuple[RuleStore | None, str]:
    """The compiled set of a language if it matches the YAML files, else (None, why not)."""
    folder = (rules_dir or COMPILED_DIR) / lang
    if not (folder / FACTORY / STORE_FILE).exists():
        return None, f"no compiled rules in {shown(folder)}"
    try:
        store = spacy.load(folder).get_pipe(FACTORY)
    except Exception as error:  # noqa: BLE001 - a damaged or foreign folder
        return None, f"the compiled rules in {shown(folder)} cannot be read ({type(error).__name__}: {error})"
    yaml_folder = ruleset.RULES_DIR / lang
    changed = store.changed(yaml_folder) if yaml_folder.is_dir() else []
    if changed:
        return None, f"{', '.join(shown(yaml_folder / n) for n in changed)} changed since {shown(folder)} was compiled"
    return store, ""


def load_rules(lang: str, rules_dir: Path | None = None) -> RuleSet:
    """The rules of a language for the stages: the compiled set in rules_dir (default
    models/rules) when it matches the YAML files; otherwise the YAML files, with one
    warning per process telling to run `make rules`."""
    store, why = compiled_store(lang, rules_dir)
    if store is not None:
        return store.rules
    key = (lang, why)
    if key not in _warned:
        _warned.add(key)
        print(f"warning: {why}: using the YAML rule files of {shown(ruleset.RULES_DIR / lang)} "
              "(run `make rules` to check and compile them)", file=sys.stderr)
    return ruleset.yaml_rules(lang)


def check_rules(languages: Iterable[str] = SUPPORTED, rules_dir: Path | None = None) -> None:
    """Before a run: raise RuleBookError listing every problem of the YAML rule files a
    language will be read from (those whose compiled set is missing or out of date). A
    compiled set that matches its YAML was checked in full by `make rules`; the examples
    are not run here (that is `make rules`' job), the rest is."""
    stale = [lang for lang in languages if compiled_store(lang, rules_dir)[0] is None]
    problems = [p for result in check_rules_dir(None, stale, examples=False).values() for p in result.problems]
    if problems:
        raise RuleBookError(problems)


# -- command line --------------------------------------------------------------------------
def summary(checked: dict[str, Checked]) -> str:
    counts = []
    for lang, result in checked.items():
        data = {name: s.data for name, s in result.sources.items()}
        status = data.get("status") or {}
        counts.append(f"{lang}: {len(data.get('relations') or [])} relation, "
                      f"{sum(len(status.get(k) or []) for k in STATUS_SECTIONS)} status, "
                      f"{len(data.get('attribution') or [])} attribution, {len(data.get('coref') or [])} coref rules")
    return "; ".join(counts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.rulebook", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="check the rule files only, write nothing")
    parser.add_argument("--rules", type=Path, default=None, help="rule folder (default: pipeline/rules)")
    parser.add_argument("--out", type=Path, default=COMPILED_DIR, help="compiled set (default: models/rules)")
    parser.add_argument("--lang", action="append", choices=SUPPORTED, help="only this language (repeatable)")
    args = parser.parse_args(argv)
    checked = check_rules_dir(args.rules, args.lang or SUPPORTED)
    problems = [p for result in checked.values() for p in result.problems]
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        untouched = "" if args.check else f"; {shown(args.out)} left as it was"
        print(f"error: {len(problems)} problem{'s' * (len(problems) != 1)} in the rule files{untouched}",
              file=sys.stderr)
        return 2
    if args.check:
        print(f"rule files OK ({summary(checked)})")
        return 0
    written = compile_rules(checked, args.out)
    print(f"rule files OK ({summary(checked)}); compiled into {', '.join(shown(p) for p in written)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
